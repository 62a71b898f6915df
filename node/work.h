/*
 * Worker threads of carbon-node that hand results back to the core loop:
 * the storage thread, the safety writer and the verify pool are each a
 * node_work with their own threads. A job's run() executes on a worker;
 * its done() executes later on the loop thread, in completion order (for a
 * one-thread pool that is submission order). The loop never waits for a
 * worker. Queues are bounded: submit fails rather than grow.
 *
 * Requires evthread_use_pthreads() before the loop's event_base is made.
 */
#ifndef CARBON_NODE_WORK_H
#define CARBON_NODE_WORK_H

#include <stddef.h>

struct event_base;
typedef struct node_work node_work;
typedef void (*node_work_fn)(void *arg);

/* -1 on failure (logged). nice (0: unchanged) is added to the niceness of
 * each worker thread, for pools whose work may wait behind the others'. */
int node_work_new(node_work **out, struct event_base *loop, const char *name,
		  unsigned nthreads, size_t queue_max, int nice);
/* Stops accepting jobs, finishes queued ones, joins the threads. Done
 * callbacks of jobs that finished but were not yet delivered are run. */
void node_work_free(node_work *w);
/* Queues a job; -1 if the queue is full (the caller counts and drops). done
 * may be NULL. */
int node_work_submit(node_work *w, node_work_fn run, node_work_fn done, void *arg);
/* Jobs queued or running. */
size_t node_work_pending(node_work *w);

#endif
