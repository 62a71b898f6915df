/* Worker pools with completion on the loop thread (see work.h). */
#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "node/log.h"
#include "node/work.h"

typedef struct job {
	node_work_fn run, done;
	void *arg;
	struct job *next;
} job;

typedef struct jobq {
	job *head, *tail;
	size_t n;
} jobq;

struct node_work {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	jobq todo, done;
	size_t queue_max, running;
	bool stopping;
	unsigned nthreads;
	int nice;
	pthread_t *threads;
	struct event *wake;
	const char *name;
};

static void q_push(jobq *q, job *j)
{
	j->next = NULL;
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
	q->n++;
}

static job *q_pop(jobq *q)
{
	job *j = q->head;
	if (j) {
		q->head = j->next;
		if (!q->head)
			q->tail = NULL;
		q->n--;
	}
	return j;
}

static void *worker_main(void *arg)
{
	node_work *w = arg;
	/* Linux schedules each thread on its own: the niceness of this one
	 * only. Failing to lower our own priority is harmless: log and go on. */
	if (w->nice != 0) {
		id_t tid = (id_t)syscall(SYS_gettid);
		errno = 0;
		int cur = getpriority(PRIO_PROCESS, tid);
		if ((cur == -1 && errno != 0) || setpriority(PRIO_PROCESS, tid, cur + w->nice) != 0)
			NLOG_WARN("work_nice", "pool=%s nice=+%d err=\"setpriority failed\"", w->name,
				  w->nice);
	}
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->todo.head && !w->stopping)
			pthread_cond_wait(&w->cv, &w->mu);
		job *j = q_pop(&w->todo);
		if (!j)
			break; /* stopping and nothing left */
		w->running++;
		pthread_mutex_unlock(&w->mu);
		j->run(j->arg);
		pthread_mutex_lock(&w->mu);
		w->running--;
		q_push(&w->done, j);
		event_active(w->wake, EV_READ, 0);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void deliver(evutil_socket_t fd, short what, void *arg)
{
	node_work *w = arg;
	jobq batch;
	(void)fd;
	(void)what;
	pthread_mutex_lock(&w->mu);
	batch = w->done;
	w->done.head = w->done.tail = NULL;
	w->done.n = 0;
	pthread_mutex_unlock(&w->mu);
	for (job *j = q_pop(&batch); j; j = q_pop(&batch)) {
		if (j->done)
			j->done(j->arg);
		free(j);
	}
}

int node_work_new(node_work **out, struct event_base *loop, const char *name,
		  unsigned nthreads, size_t queue_max, int nice)
{
	node_work *w = calloc(1, sizeof *w);
	if (!w)
		return -1;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->queue_max = queue_max;
	w->nice = nice;
	w->name = name;
	w->wake = event_new(loop, -1, 0, deliver, w);
	w->threads = calloc(nthreads, sizeof *w->threads);
	if (!w->wake || !w->threads)
		goto fail;
	for (; w->nthreads < nthreads; w->nthreads++) {
		if (pthread_create(&w->threads[w->nthreads], NULL, worker_main, w) != 0) {
			NLOG_ERROR("work_start", "pool=%s err=\"pthread_create failed\"", name);
			goto fail;
		}
	}
	*out = w;
	return 0;
fail:
	node_work_free(w);
	return -1;
}

void node_work_free(node_work *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (unsigned i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	if (w->wake) {
		deliver(-1, 0, w);
		event_free(w->wake);
	}
	free(w->threads);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

int node_work_submit(node_work *w, node_work_fn run, node_work_fn done, void *arg)
{
	job *j = malloc(sizeof *j);
	if (!j)
		return -1;
	j->run = run;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&w->mu);
	if (w->stopping || w->todo.n + w->running >= w->queue_max) {
		pthread_mutex_unlock(&w->mu);
		free(j);
		return -1;
	}
	q_push(&w->todo, j);
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

size_t node_work_pending(node_work *w)
{
	size_t n;
	pthread_mutex_lock(&w->mu);
	n = w->todo.n + w->running;
	pthread_mutex_unlock(&w->mu);
	return n;
}
