/*
 * The carbon-node driver: wires the consensus core, the ledger, the peer
 * transport, the mempool, the HTTP API and the worker threads together.
 *
 * Everything here runs on the core loop thread except the run() halves of
 * worker jobs. The core's actions are carried out in order; a PERSIST is
 * handed to the safety writer and every later action waits in the outbox
 * until the state is durable (the barrier of consensus/cons.h). Events
 * that arise while actions are being carried out (a block built, a
 * message, a completion) are queued and fed to the core afterwards, so
 * the core is never re-entered and the action pointers it lends stay
 * valid while used.
 *
 * Peer channels (the first byte of every transport message):
 *   1  a consensus message (consensus/ wire format)
 *   2  a batch of transactions: canonical msgpack array of bin
 * Transactions submitted to this node are gossiped once to every peer;
 * validators form a full mesh, so one hop reaches them all.
 */
#include <assert.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "consensus/cons.h"
#include "ledger/ledger.h"
#include "node/http.h"
#include "node/log.h"
#include "node/mempool.h"
#include "node/net.h"
#include "node/node.h"
#include "node/safety.h"
#include "node/work.h"

#define CHAN_CONS 1u
#define CHAN_TXS 2u
#define TX_GOSSIP_FLUSH_BYTES (256u * 1024u)
#define VERIFY_THREADS 2u
/* Signature checks go to the verify pool in chunks: one job, one wake-up
 * and one hand-back per chunk instead of per transaction. Small enough
 * that both threads get work from a batch of a few hundred. */
#define VERIFY_CHUNK 32u
/* Transactions waiting for or in a signature check, whatever the chunks
 * they travel in (a flush after a small request sends a short one). */
#define VERIFY_QUEUED_TXS_MAX 65536u
/* Niceness of the verify threads: admission is throughput work, while
 * the loop, the proposal check, the safety writer and the storage thread
 * are on the path of every commit, so they win the cores when both
 * want them (the pool still gets about a third of a contended core). */
#define VERIFY_NICE 5
#define NODE_VERSION "0.1.0"
/* Actions waiting behind an unfinished persist. A safety store that falls
 * this far behind is broken (a synced write takes milliseconds): stop. */
#define NODE_OUTQ_MAX 100000u
/* Ready transactions sent to a peer when it connects. */
#define NODE_REGOSSIP_TXS_MAX LIM_BLOCK_TXS_MAX

const char *node_strerror(int rc)
{
	switch (rc) {
#define NODE_CASE(name, val, msg) case name: return msg;
		NODE_ERRORS(NODE_CASE)
#undef NODE_CASE
	default: return ledger_strerror(rc);
	}
}

/* ---- owned copies of events and actions -------------------------------- */

/* An event waiting to be fed to the core, with its bytes owned. */
typedef struct qevent {
	cons_event ev;
	uint8_t *bytes;               /* message / block bytes, owned */
	cons_valset valset;           /* START_HEIGHT */
	cons_safety safety;           /* RESTART */
	cons_cert cert;               /* RESTART: validValue's proof of lock */
	struct qevent *next;
} qevent;

/* An action waiting behind a persist barrier, with its bytes owned. */
typedef struct qaction {
	cons_action a;
	uint8_t *bytes;
	cons_cert cert;
	struct qaction *next;
} qaction;

typedef struct node node;

/* One HTTP submission of n transactions: answered once, when the last of
 * them has its outcome. */
typedef struct sub_group {
	node_http *http;
	void *cookie;
	size_t n, remaining;
	node_http_submit_result *res;
} sub_group;

/* One transaction on its way through admission (from a client or a peer). */
typedef struct submit_job {
	node *n;
	uint8_t *tx;
	size_t len;
	int rc;
	ck_hash hash;
	ledger_tx *dec;               /* precheck's decoding of tx */
	sub_group *group;             /* NULL for a peer's gossip */
	size_t idx;
	bool local;                   /* from a client: gossip when admitted */
} submit_job;

/* Admissions whose signatures one verify job checks. */
typedef struct verify_chunk {
	node *n;
	uint32_t n_jobs;
	uint32_t verified;            /* checks actually run (the rest were cached) */
	submit_job *jobs[VERIFY_CHUNK];
} verify_chunk;

struct node {
	struct event_base *base;
	node_config cfg;
	ledger_genesis *genesis;
	ledger *led;
	uint8_t *sk;                  /* sodium_malloc'd CK_SECKEY_BYTES */
	ck_pubkey pk;
	cons *core;
	node_safety *safety;
	node_net *net;
	node_mempool *mp;
	node_mempool_view view;
	node_mempool_view view_next; /* reap's: nonces after the executed block */
	node_http *http;
	node_work *w_safety, *w_store, *w_verify;
	/* Proposal checks have their own lane: a burst of admissions in the
	 * verify pool must never delay a vote. */
	node_work *w_check;
	struct timer_job *timers;     /* armed consensus timers (freed at exit) */
	size_t outq_len;
	cons_actions acts;
	/* The mempool belongs to the loop; the HTTP thread's two read-only
	 * questions (pending? next nonce?) take this lock, as does every
	 * mempool call on the loop. */
	pthread_mutex_t mp_mu;

	qevent *evq_head, *evq_tail;
	bool pumping;
	qaction *outq_head, *outq_tail;
	bool persist_inflight;

	/* proposer */
	bool build_wanted;
	uint64_t build_height;
	uint32_t build_round;
	struct event *build_timer;
	uint64_t last_commit_ms;

	verify_chunk *vchunk;         /* admissions waiting for a verify job */
	uint32_t verify_queued;       /* transactions in submitted verify jobs */
	/* tx gossip batch */
	cm_wr gossip;
	uint32_t gossip_n;
	struct event *gossip_timer;

	/* submissions from the HTTP thread */
	pthread_mutex_t sub_mu;
	submit_job **subq;
	size_t subq_n, subq_cap;
	struct event *sub_wake;

	uint64_t applied_height;
	/* The last block executed (>= applied_height): its commit may still
	 * be syncing, and the next height already runs (ledger/executed.c). */
	uint64_t exec_height;
	uint64_t exec_pending_txs;    /* in executed blocks not yet committed */
	struct commit_job *storing;   /* the job commit_run applies (storage thread) */
	/* The last two decided blocks with their certificates (slot height %
	 * 2), as in the safety store's decided records: served to a lagging
	 * peer while the ledger's commit of the block still syncs. Loop. */
	struct recent_decided {
		uint64_t height;
		uint8_t *block;
		size_t len;
		cons_cert cert;
	} recent[2];
	/* Test-only failpoint (CARBON_FAILPOINT_COMMIT_DELAY_MS): the storage
	 * thread sleeps this long between a block's execution and its synced
	 * commit, so that tests/integration/34-crash-commit-window.sh can kill
	 * the node inside that window. 0 in production. */
	uint32_t fp_commit_delay_ms;
	cons_valset valset;           /* validators of the height being decided */
	int lock_fd;                  /* flock on home/LOCK: one process per home */
	bool stopping;
	int fatal;
	struct event *sig_int, *sig_term;
	uint64_t blocks_committed, txs_committed;
	/* Transaction signature checks this node ran (admission and proposal
	 * checks): compared with txs_committed, it says whether each
	 * transaction is verified once per node. Loop thread. */
	uint64_t sig_verifies;
	uint64_t commit_latency_ms_sum, commit_latency_ms_last;
	uint64_t apply_us_sum, apply_cpu_us_sum; /* storage thread, all blocks */
	char data_path[4096];
	char cache_path[4096]; /* the state root's leaf cache (ledger/state.c) */
};

static void pump(node *n);

static uint64_t ts_diff_us(const struct timespec *a, const struct timespec *b)
{
	int64_t us = (int64_t)(b->tv_sec - a->tv_sec) * 1000000 + (b->tv_nsec - a->tv_nsec) / 1000;
	return us > 0 ? (uint64_t)us : 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void fatal(node *n, const char *why)
{
	NLOG_ERROR("fatal", "reason=\"%s\" action=stop", why);
	n->fatal = NODE_E_FATAL;
	n->stopping = true;
	event_base_loopexit(n->base, NULL);
}

/* ---- the core's injected pieces ---------------------------------------- */

/* Block id = header hash. The header is parsed alone; a block whose header
 * does not decode gets an id no honest proposer can have signed. */
static void block_id_fn(void *ctx, const uint8_t *block, size_t len, cons_id out)
{
	node *n = ctx;
	ledger_header h;
	uint32_t cnt;
	cm_rd r;
	cm_rd_init(&r, block, len);
	if (cm_rd_array(&r, &cnt, 2) == 0 && cnt == 2 &&
	    ledger_header_decode(&r, n->genesis->chain_id, &h) == 0) {
		ledger_header_hash(out, &h);
		return;
	}
	ck_hash_tagged(out, "badblock", block, len);
}

static void valset_of(const ledger_valset *in, cons_valset *out)
{
	out->n = in->n;
	memcpy(out->keys, in->keys, (size_t)in->n * CK_PUBKEY_BYTES);
}

/* ---- feeding the core ---------------------------------------------------- */

static void carry_out(node *n, const cons_action *a, const cons_cert *cert_copy);

static void outq_push(node *n, const cons_action *a)
{
	qaction *q = calloc(1, sizeof *q);
	if (!q) {
		fatal(n, "out of memory queueing an action");
		return;
	}
	q->a = *a;
	switch (a->kind) {
	case CONS_ACT_BROADCAST:
	case CONS_ACT_SEND:
		q->bytes = malloc(a->u.msg.len);
		if (q->bytes)
			memcpy(q->bytes, a->u.msg.bytes, a->u.msg.len);
		q->a.u.msg.bytes = q->bytes;
		break;
	case CONS_ACT_CHECK_BLOCK:
		q->bytes = malloc(a->u.check.len ? a->u.check.len : 1);
		if (q->bytes)
			memcpy(q->bytes, a->u.check.block, a->u.check.len);
		q->a.u.check.block = q->bytes;
		break;
	case CONS_ACT_PERSIST:
		if (a->u.persist.valid_block) {
			q->bytes = malloc(a->u.persist.valid_len ? a->u.persist.valid_len : 1);
			if (!q->bytes)
				break;
			memcpy(q->bytes, a->u.persist.valid_block, a->u.persist.valid_len);
			q->a.u.persist.valid_block = q->bytes;
		}
		if (a->u.persist.valid_pol) {
			q->cert = *a->u.persist.valid_pol;
			q->a.u.persist.valid_pol = &q->cert;
		}
		break;
	case CONS_ACT_COMMIT:
		q->bytes = malloc(a->u.commit.len ? a->u.commit.len : 1);
		if (q->bytes)
			memcpy(q->bytes, a->u.commit.block, a->u.commit.len);
		q->a.u.commit.block = q->bytes;
		q->cert = *a->u.commit.cert;
		q->a.u.commit.cert = &q->cert;
		break;
	default:
		break;
	}
	if (!q->bytes && (a->kind == CONS_ACT_BROADCAST || a->kind == CONS_ACT_SEND ||
			  a->kind == CONS_ACT_CHECK_BLOCK || a->kind == CONS_ACT_COMMIT ||
			  (a->kind == CONS_ACT_PERSIST && a->u.persist.valid_block))) {
		free(q);
		fatal(n, "out of memory queueing an action");
		return;
	}
	if (n->outq_tail)
		n->outq_tail->next = q;
	else
		n->outq_head = q;
	n->outq_tail = q;
	if (++n->outq_len > NODE_OUTQ_MAX)
		fatal(n, "safety store too slow: outbox over its bound");
}

/* Carries out queued actions until the next persist goes in flight. */
static void outq_drain(node *n)
{
	while (n->outq_head && !n->persist_inflight && !n->stopping) {
		qaction *q = n->outq_head;
		n->outq_head = q->next;
		if (!n->outq_head)
			n->outq_tail = NULL;
		n->outq_len--;
		carry_out(n, &q->a, q->a.kind == CONS_ACT_COMMIT ? &q->cert : NULL);
		free(q->bytes);
		free(q);
	}
}

static void handle_actions(node *n, const cons_actions *acts)
{
	for (uint32_t i = 0; i < acts->n; i++) {
		if (n->persist_inflight || n->outq_head)
			outq_push(n, &acts->a[i]);
		else
			carry_out(n, &acts->a[i], NULL);
	}
}

static void feed(node *n, const cons_event *ev)
{
	int rc = cons_step(n->core, ev, &n->acts);
	if (rc && rc != CONS_E_STALE && rc != CONS_E_DUPLICATE && rc != CONS_E_HEIGHT)
		NLOG_DEBUG("cons_drop", "kind=%d err=\"%s\"", (int)ev->kind, cons_strerror(rc));
	handle_actions(n, &n->acts);
}

static void post(node *n, qevent *q)
{
	q->next = NULL;
	if (n->evq_tail)
		n->evq_tail->next = q;
	else
		n->evq_head = q;
	n->evq_tail = q;
	pump(n);
}

static void pump(node *n)
{
	if (n->pumping)
		return;
	n->pumping = true;
	while (n->evq_head && !n->stopping) {
		qevent *q = n->evq_head;
		n->evq_head = q->next;
		if (!n->evq_head)
			n->evq_tail = NULL;
		feed(n, &q->ev);
		free(q->bytes);
		free(q);
	}
	n->pumping = false;
}

static qevent *qevent_new(enum cons_event_kind kind, const uint8_t *bytes, size_t len)
{
	qevent *q = calloc(1, sizeof *q);
	if (!q)
		return NULL;
	q->ev.kind = kind;
	if (bytes) {
		q->bytes = malloc(len ? len : 1);
		if (!q->bytes) {
			free(q);
			return NULL;
		}
		memcpy(q->bytes, bytes, len);
	}
	return q;
}

/* ---- persist (safety writer) --------------------------------------------- */

typedef struct persist_job {
	node *n;
	cm_wr w;
	cm_wr valid;
	bool has_valid;
	uint64_t start_ms;
	int rc;
} persist_job;

static void persist_run(void *arg)
{
	persist_job *j = arg;
	j->rc = node_safety_store(j->n->safety, cm_wr_data(&j->w), cm_wr_len(&j->w),
				  j->has_valid ? cm_wr_data(&j->valid) : NULL, cm_wr_len(&j->valid));
}

static void persist_done(void *arg)
{
	persist_job *j = arg;
	node *n = j->n;
	int rc = j->rc;
	NLOG_DEBUG("persisted", "bytes=%zu ms=%llu", cm_wr_len(&j->w) + cm_wr_len(&j->valid),
		   (unsigned long long)(now_ms() - j->start_ms));
	cm_wr_free(&j->w);
	cm_wr_free(&j->valid);
	free(j);
	if (rc) {
		/* Sending what this state implies could contradict what a
		 * restart loads: stop instead (docs/OPERATIONS.md). */
		fatal(n, "safety state could not be stored");
		return;
	}
	n->persist_inflight = false;
	outq_drain(n);
	pump(n);
}

/* The valid record, [valid_id, block, proof of lock or nil], is written
 * only when validValue or its proof of lock changes: it can be a large
 * block, the state record is written on every vote. */
static void do_persist(node *n, const cons_action *a)
{
	const cons_safety *s = &a->u.persist.safety;
	persist_job *j = calloc(1, sizeof *j);
	if (!j) {
		fatal(n, "out of memory persisting safety state");
		return;
	}
	j->n = n;
	j->start_ms = now_ms();
	cm_wr_init(&j->w);
	cm_wr_init(&j->valid);
	cons_safety_encode(s, &j->w);
	/* The core hands out validValue (block and proof of lock) whenever
	 * either changed since its last PERSIST: the same value with a newer
	 * polka must be stored too, or a restart would find a stale proof. */
	if (s->valid_round >= 0 && a->u.persist.valid_block) {
		cm_wr_array(&j->valid, 3);
		cm_wr_bin(&j->valid, s->valid_id, CONS_ID_BYTES);
		cm_wr_bin(&j->valid, a->u.persist.valid_block, a->u.persist.valid_len);
		if (a->u.persist.valid_pol) {
			cm_wr pol;
			cm_wr_init(&pol);
			cons_cert_encode(a->u.persist.valid_pol, &pol);
			cm_wr_bin(&j->valid, cm_wr_data(&pol), cm_wr_len(&pol));
			if (cm_wr_error(&pol))
				j->valid.err = CM_E_NOMEM;
			cm_wr_free(&pol);
		} else {
			cm_wr_nil(&j->valid);
		}
		j->has_valid = true;
	}
	if (cm_wr_error(&j->w) || cm_wr_error(&j->valid) ||
	    node_work_submit(n->w_safety, persist_run, persist_done, j)) {
		cm_wr_free(&j->w);
		cm_wr_free(&j->valid);
		free(j);
		fatal(n, "cannot queue safety state write");
		return;
	}
	n->persist_inflight = true;
}

/* ---- sending ------------------------------------------------------------- */

static void send_chan(node *n, int64_t peer, uint8_t chan, const uint8_t *msg, size_t len)
{
	uint8_t stackbuf[512];
	uint8_t *buf = len + 1 <= sizeof stackbuf ? stackbuf : malloc(len + 1);
	if (!buf)
		return;
	buf[0] = chan;
	memcpy(buf + 1, msg, len);
	if (peer < 0)
		(void)node_net_broadcast(n->net, buf, len + 1);
	else
		(void)node_net_send(n->net, (size_t)peer, buf, len + 1);
	if (buf != stackbuf)
		free(buf);
}

/* ---- timers ---------------------------------------------------------------- */

typedef struct timer_job {
	node *n;
	struct timer_job *prev, *next;
	struct event *ev;
	enum cons_timer timer;
	uint64_t height;
	uint32_t round;
} timer_job;

static void timer_fire(evutil_socket_t fd, short what, void *arg)
{
	timer_job *t = arg;
	node *n = t->n;
	qevent *q;
	(void)fd;
	(void)what;
	q = qevent_new(CONS_EV_TIMEOUT, NULL, 0);
	if (q) {
		q->ev.u.timeout.timer = t->timer;
		q->ev.u.timeout.height = t->height;
		q->ev.u.timeout.round = t->round;
	}
	if (t->prev)
		t->prev->next = t->next;
	else
		n->timers = t->next;
	if (t->next)
		t->next->prev = t->prev;
	event_free(t->ev);
	free(t);
	if (q)
		post(n, q);
}

static void set_timer(node *n, const cons_action *a)
{
	timer_job *t = calloc(1, sizeof *t);
	struct timeval tv;
	if (!t)
		return;
	t->n = n;
	t->timer = a->u.timer.timer;
	t->height = a->u.timer.height;
	t->round = a->u.timer.round;
	t->ev = evtimer_new(n->base, timer_fire, t);
	if (!t->ev) {
		free(t);
		return;
	}
	tv.tv_sec = a->u.timer.delay_ms / 1000;
	tv.tv_usec = (a->u.timer.delay_ms % 1000) * 1000;
	evtimer_add(t->ev, &tv);
	t->next = n->timers;
	if (n->timers)
		n->timers->prev = t;
	n->timers = t;
}

/* ---- building a block (proposer) ----------------------------------------- */

static void build_now(node *n)
{
	node_mempool_txref *refs = NULL;
	ledger_block b;
	uint32_t cnt = 0;
	cm_wr w;
	qevent *q;
	int rc;

	n->build_wanted = false;
	memset(&b, 0, sizeof b);
	refs = calloc(n->cfg.block_txs_max, sizeof *refs);
	if (!refs)
		return;
	/* The refs stay valid after the lock is released: only the loop
	 * changes the pool, and it is here. */
	pthread_mutex_lock(&n->mp_mu);
	rc = node_mempool_reap(n->mp, &n->view_next, n->cfg.block_txs_max,
			       LIM_BLOCK_BYTES_MAX - 64u * 1024u, n->cfg.block_trips_max, refs, &cnt);
	pthread_mutex_unlock(&n->mp_mu);
	if (rc)
		cnt = 0;
	if ((rc = ledger_next_header(n->led, &b.header)) != 0) {
		NLOG_ERROR("build_block", "err=\"%s\"", ledger_strerror(rc));
		free(refs);
		return;
	}
	if (b.header.height != n->build_height) {
		/* The request went stale: the height was decided meanwhile (a
		 * certificate arrived) and the core has moved on. */
		NLOG_DEBUG("build_stale", "asked=%llu next=%llu",
			   (unsigned long long)n->build_height,
			   (unsigned long long)b.header.height);
		free(refs);
		return;
	}
	b.header.time_ms = now_ms();
	{
		ledger_info info;
		if (ledger_get_info_next(n->led, &info) == 0 && b.header.time_ms <= info.time_ms)
			b.header.time_ms = info.time_ms + 1;
	}
	memcpy(b.header.proposer, n->pk, CK_PUBKEY_BYTES);
	b.ntxs = cnt;
	b.txs = calloc(cnt ? cnt : 1, sizeof *b.txs);
	b.tx_lens = calloc(cnt ? cnt : 1, sizeof *b.tx_lens);
	if (!b.txs || !b.tx_lens)
		goto out;
	for (uint32_t i = 0; i < cnt; i++) {
		b.txs[i] = (uint8_t *)refs[i].tx;
		b.tx_lens[i] = (uint32_t)refs[i].len;
	}
	ledger_block_txs_root(&b, b.header.txs_root);
	cm_wr_init(&w);
	ledger_block_encode(&b, &w);
	if (!cm_wr_error(&w)) {
		q = qevent_new(CONS_EV_BLOCK_BUILT, cm_wr_data(&w), cm_wr_len(&w));
		if (q) {
			q->ev.u.built.height = n->build_height;
			q->ev.u.built.round = n->build_round;
			q->ev.u.built.block = q->bytes;
			q->ev.u.built.len = cm_wr_len(&w);
			NLOG_DEBUG("propose", "height=%llu round=%u txs=%u",
				   (unsigned long long)n->build_height, n->build_round, cnt);
			post(n, q);
		}
	}
	cm_wr_free(&w);
out:
	free(b.txs);
	free(b.tx_lens);
	free(refs);
}

static void build_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	node *n = arg;
	(void)fd;
	(void)what;
	if (n->build_wanted && n->build_height == n->exec_height + 1)
		build_now(n);
}

/* A block closes when the mempool holds a full block or the block interval
 * since the last commit has passed, whichever comes first: the proposer
 * never idles while transactions wait. With an empty mempool it waits up
 * to the empty-block interval for one to arrive (kept below the propose
 * timeout, so the others do not give up on us), which keeps an idle chain
 * from writing ten empty blocks a second. */
static void arm_build(node *n)
{
	node_mempool_stats st;
	uint64_t now = now_ms(), due, ready;
	struct timeval tv;

	if (n->build_height != n->exec_height + 1) {
		n->build_wanted = false; /* stale: that height is decided */
		return;
	}
	node_mempool_get_stats(n->mp, &st);
	/* Only ready transactions count: ones held behind a nonce gap cannot
	 * go into the block, and counting them would build empty blocks as
	 * fast as they commit. */
	ready = st.txs - st.held;
	/* Less the executed block's, which stay in the pool until its
	 * commit lands (reap skips them). */
	ready = ready > n->exec_pending_txs ? ready - n->exec_pending_txs : 0;
	due = n->last_commit_ms + (ready ? n->cfg.block_interval_ms : n->cfg.empty_block_ms);
	if (n->build_round > 0 || ready >= n->cfg.block_txs_max || now >= due) {
		build_now(n);
		return;
	}
	tv.tv_sec = (long)((due - now) / 1000);
	tv.tv_usec = (long)((due - now) % 1000) * 1000;
	evtimer_add(n->build_timer, &tv);
}

static void want_block(node *n, uint64_t height, uint32_t round)
{
	n->build_wanted = true;
	n->build_height = height;
	n->build_round = round;
	arm_build(n);
}

/* ---- checking a proposed block (verify pool) ------------------------------ */

typedef struct check_job {
	node *n;
	uint64_t height;
	cons_id id;
	uint8_t *bytes;
	size_t len;
	ledger_block *block;
	bool *verified;
	ck_hash *hashes;
	uint64_t start_ms;
	int rc;
} check_job;

static void check_run(void *arg)
{
	check_job *j = arg;
	j->rc = ledger_check_block(j->n->led, j->block, j->verified);
}

static void check_done(void *arg)
{
	check_job *j = arg;
	node *n = j->n;
	qevent *q;
	NLOG_DEBUG("checked", "height=%llu txs=%u valid=%d ms=%llu",
		   (unsigned long long)j->height, j->block->ntxs, j->rc == 0,
		   (unsigned long long)(now_ms() - j->start_ms));
	if (j->rc == 0) {
		pthread_mutex_lock(&n->mp_mu);
		for (uint32_t i = 0; i < j->block->ntxs; i++)
			if (!j->verified[i]) {
				node_mempool_sig_remember(n->mp, j->hashes[i]);
				n->sig_verifies++;
			}
		pthread_mutex_unlock(&n->mp_mu);
	} else {
		NLOG_WARN("block_invalid", "height=%llu err=\"%s\"",
			  (unsigned long long)j->height, ledger_strerror(j->rc));
	}
	q = qevent_new(CONS_EV_BLOCK_CHECKED, NULL, 0);
	if (q) {
		q->ev.u.checked.height = j->height;
		memcpy(q->ev.u.checked.id, j->id, CONS_ID_BYTES);
		q->ev.u.checked.valid = (j->rc == 0);
	}
	ledger_block_free(j->block);
	free(j->verified);
	free(j->hashes);
	free(j->bytes);
	free(j);
	if (q && !n->stopping)
		post(n, q);
	else
		free(q);
}

static void check_block(node *n, const cons_action *a)
{
	check_job *j = calloc(1, sizeof *j);
	qevent *q;
	int rc;
	if (!j)
		return;
	j->n = n;
	j->start_ms = now_ms();
	j->height = a->u.check.height;
	memcpy(j->id, a->u.check.id, CONS_ID_BYTES);
	rc = ledger_block_decode(a->u.check.block, a->u.check.len, n->genesis->chain_id, &j->block);
	if (rc == 0) {
		j->verified = calloc(j->block->ntxs ? j->block->ntxs : 1, sizeof *j->verified);
		j->hashes = calloc(j->block->ntxs ? j->block->ntxs : 1, sizeof *j->hashes);
		if (!j->verified || !j->hashes)
			rc = LEDGER_E_NOMEM;
	}
	if (rc == 0) {
		/* Signatures this node already verified (mempool admission, an
		 * earlier proposal) are not verified again. */
		for (uint32_t i = 0; i < j->block->ntxs; i++)
			ledger_tx_hash(j->hashes[i], j->block->txs[i], j->block->tx_lens[i]);
		pthread_mutex_lock(&n->mp_mu);
		for (uint32_t i = 0; i < j->block->ntxs; i++)
			j->verified[i] = node_mempool_sig_known(n->mp, j->hashes[i]);
		pthread_mutex_unlock(&n->mp_mu);
		if (node_work_submit(n->w_check, check_run, check_done, j) == 0)
			return;
		rc = LEDGER_E_NOMEM;
	}
	/* Undecodable (or no memory to check): answer invalid at once. */
	NLOG_WARN("block_invalid", "height=%llu err=\"%s\"", (unsigned long long)j->height,
		  ledger_strerror(rc));
	q = qevent_new(CONS_EV_BLOCK_CHECKED, NULL, 0);
	if (q) {
		q->ev.u.checked.height = j->height;
		memcpy(q->ev.u.checked.id, j->id, CONS_ID_BYTES);
		q->ev.u.checked.valid = false;
		post(n, q);
	}
	ledger_block_free(j->block);
	free(j->verified);
	free(j->hashes);
	free(j);
}

/* ---- committing (storage thread) ----------------------------------------- */

typedef struct commit_job {
	node *n;
	uint64_t height;
	uint8_t *bytes;
	size_t len;
	cm_wr cert;
	ledger_block *block;
	ledger_info info;
	/* Set by the ledger's hook once the block executed, before its
	 * commit syncs; ev_exec then starts the next height on the loop. */
	ledger_info exec_info;
	uint32_t exec_ntxs;           /* the block's, set with exec_info */
	struct event *ev_exec;
	bool next_started;            /* START_HEIGHT height+1 posted (loop) */
	bool counted;                 /* its txs are in exec_pending_txs */
	uint64_t decided_ms;
	uint64_t apply_us, apply_cpu_us; /* wall and thread CPU time of the apply */
	int rc;
} commit_job;

static void commit_run(void *arg)
{
	commit_job *j = arg;
	struct timespec w0, w1, c0, c1;
	clock_gettime(CLOCK_MONOTONIC, &w0);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	j->rc = ledger_block_decode(j->bytes, j->len, j->n->genesis->chain_id, &j->block);
	j->n->storing = j;
	if (j->rc == 0)
		j->rc = ledger_apply_block(j->n->led, j->block, cm_wr_data(&j->cert),
					   cm_wr_len(&j->cert), NULL);
	j->n->storing = NULL;
	if (j->rc == 0)
		j->rc = ledger_get_info(j->n->led, &j->info);
	clock_gettime(CLOCK_MONOTONIC, &w1);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
	j->apply_us = ts_diff_us(&w0, &w1);
	j->apply_cpu_us = ts_diff_us(&c0, &c1);
}

/* The ledger's hook, on the storage thread inside ledger_apply_block:
 * the block executed and its commit is about to sync. */
static void on_executed(void *ctx, const ledger_info *after)
{
	node *n = ctx;
	commit_job *j = n->storing;
	assert(j != NULL);
	assert(after->height == j->height);
	j->exec_info = *after;
	j->exec_ntxs = j->block->ntxs;
	event_active(j->ev_exec, 0, 0);
	if (n->fp_commit_delay_ms > 0) {
		struct timespec ts = { (time_t)(n->fp_commit_delay_ms / 1000),
				       (long)(n->fp_commit_delay_ms % 1000) * 1000000L };
		NLOG_WARN("failpoint", "commit_delay_ms=%u height=%llu", n->fp_commit_delay_ms,
			  (unsigned long long)after->height);
		nanosleep(&ts, NULL);
	}
}

/* Height info->height + 1 starts: the core gets its validators, and the
 * proposer may build on the executed block. Once per job, from the
 * executed hook's event (counting the block's transactions as executed
 * but not committed: pending_txs) or, if that never came, from the
 * commit (pending_txs 0). */
static void start_next(node *n, commit_job *j, const ledger_info *info, uint32_t pending_txs)
{
	qevent *q;
	if (j->next_started || n->stopping)
		return;
	j->next_started = true;
	if (info->height > n->exec_height)
		n->exec_height = info->height;
	if (pending_txs > 0) {
		n->exec_pending_txs += pending_txs;
		j->counted = true;
	}
	/* The block interval counts from here: the block is final, and the
	 * next one can be proposed on it. */
	n->last_commit_ms = now_ms();
	q = qevent_new(CONS_EV_START_HEIGHT, NULL, 0);
	if (!q) {
		fatal(n, "out of memory starting the next height");
		return;
	}
	valset_of(&info->valset, &q->valset);
	n->valset = q->valset;
	q->ev.u.start.height = info->height + 1;
	q->ev.u.start.valset = &q->valset;
	post(n, q);
}

static void exec_cb(evutil_socket_t fd, short what, void *arg)
{
	commit_job *j = arg;
	(void)fd;
	(void)what;
	start_next(j->n, j, &j->exec_info, j->exec_ntxs);
}

static void commit_done(void *arg)
{
	commit_job *j = arg;
	node *n = j->n;
	if (j->rc) {
		char why[160];
		snprintf(why, sizeof why, "applying block %llu failed: %s",
			 (unsigned long long)j->height, ledger_strerror(j->rc));
		fatal(n, why);
		goto out;
	}
	n->applied_height = j->info.height;
	if (j->counted) {
		n->exec_pending_txs -= j->exec_ntxs;
		j->counted = false;
	}
	n->blocks_committed++;
	n->txs_committed += j->block->ntxs;
	{
		/* From the proposer's clock to our commit: includes clock skew
		 * between members, so it is an operator's signal, not a
		 * precise measure (bench/ measures client-side latency). */
		uint64_t now = now_ms(), t = j->block->header.time_ms;
		n->commit_latency_ms_last = now > t ? now - t : 0;
		n->commit_latency_ms_sum += n->commit_latency_ms_last;
	}
	n->apply_us_sum += j->apply_us;
	n->apply_cpu_us_sum += j->apply_cpu_us;
	NLOG_INFO("commit", "height=%llu txs=%u decided_ms_ago=%llu apply_us=%llu apply_cpu_us=%llu",
		  (unsigned long long)j->info.height, j->block->ntxs,
		  (unsigned long long)(now_ms() - j->decided_ms),
		  (unsigned long long)j->apply_us, (unsigned long long)j->apply_cpu_us);
	{
		const uint8_t **txs = (const uint8_t **)j->block->txs;
		size_t *lens = calloc(j->block->ntxs ? j->block->ntxs : 1, sizeof *lens);
		if (lens) {
			for (uint32_t i = 0; i < j->block->ntxs; i++)
				lens[i] = j->block->tx_lens[i];
			pthread_mutex_lock(&n->mp_mu);
			int urc = node_mempool_update(n->mp, &n->view, txs, lens, j->block->ntxs);
			node_mempool_set_height(n->mp, j->info.height);
			if (urc)
				NLOG_WARN("mempool_update", "err=\"%s\"", node_mempool_strerror(urc));
			pthread_mutex_unlock(&n->mp_mu);
			free(lens);
		}
	}
	if (n->http)
		node_http_notify_commit(n->http, j->info.height);
	/* Usually started already, by the executed hook's event. */
	start_next(n, j, &j->info, 0);
out:
	event_free(j->ev_exec);
	ledger_block_free(j->block);
	cm_wr_free(&j->cert);
	free(j->bytes);
	free(j);
}

/* ---- the decided record (node/safety.h) ----------------------------------- */

typedef struct decided_job {
	node *n;
	enum node_safety_record slot;
	cm_wr rec;
	int rc;
} decided_job;

static void decided_run(void *arg)
{
	decided_job *j = arg;
	j->rc = node_safety_store_one(j->n->safety, j->slot, cm_wr_data(&j->rec), cm_wr_len(&j->rec));
}

static void decided_done(void *arg)
{
	decided_job *j = arg;
	node *n = j->n;
	int rc = j->rc;
	cm_wr_free(&j->rec);
	free(j);
	if (rc)
		fatal(n, "decided block could not be stored in the safety store");
}

/* Makes the decided block durable in the safety store, [height, block,
 * certificate] in slot height % 2, before the next height can sign
 * anything: the safety writer is one thread, so every later persist (each
 * vote of the next height waits for its own) lands after this one. The
 * ledger's own commit of the block may still be syncing when the next
 * height votes (ledger/executed.c); after a crash node_run applies the
 * block from here. The block is also kept in memory for send_decided. */
static void store_decided(node *n, uint64_t height, const uint8_t *block, size_t len,
			  const cons_cert *cert, const cm_wr *certb)
{
	struct recent_decided *r = &n->recent[height % 2];
	uint8_t *copy = malloc(len ? len : 1);
	if (copy) {
		memcpy(copy, block, len);
		free(r->block);
		r->block = copy;
		r->len = len;
		r->height = height;
		r->cert = *cert;
	}
	/* A replica signs nothing, so it needs no record: after a crash it
	 * catches up from its peers. */
	if (!n->cfg.validator)
		return;
	decided_job *j = calloc(1, sizeof *j);
	if (!j) {
		fatal(n, "out of memory storing the decided block");
		return;
	}
	j->n = n;
	j->slot = height % 2 ? NODE_SAFETY_DECIDED1 : NODE_SAFETY_DECIDED0;
	cm_wr_init(&j->rec);
	cm_wr_array(&j->rec, 3);
	cm_wr_uint(&j->rec, height);
	cm_wr_bin(&j->rec, block, len);
	cm_wr_bin(&j->rec, cm_wr_data(certb), cm_wr_len(certb));
	if (cm_wr_error(&j->rec) || node_work_submit(n->w_safety, decided_run, decided_done, j)) {
		cm_wr_free(&j->rec);
		free(j);
		fatal(n, "cannot queue the decided block's write");
		return;
	}
}

static void commit_block(node *n, const cons_action *a)
{
	commit_job *j = calloc(1, sizeof *j);
	if (!j) {
		fatal(n, "out of memory committing");
		return;
	}
	j->n = n;
	j->decided_ms = now_ms();
	j->height = a->u.commit.height;
	j->len = a->u.commit.len;
	j->bytes = malloc(j->len ? j->len : 1);
	cm_wr_init(&j->cert);
	cons_cert_encode(a->u.commit.cert, &j->cert);
	if (!j->bytes || cm_wr_error(&j->cert)) {
		fatal(n, "out of memory committing");
		cm_wr_free(&j->cert);
		free(j->bytes);
		free(j);
		return;
	}
	memcpy(j->bytes, a->u.commit.block, j->len);
	store_decided(n, j->height, j->bytes, j->len, a->u.commit.cert, &j->cert);
	j->ev_exec = event_new(n->base, -1, 0, exec_cb, j);
	if (j->ev_exec == NULL || node_work_submit(n->w_store, commit_run, commit_done, j) != 0) {
		fatal(n, "cannot queue block application");
		if (j->ev_exec)
			event_free(j->ev_exec);
		cm_wr_free(&j->cert);
		free(j->bytes);
		free(j);
	}
}

/* A lagging peer asked about a height we decided: send the stored block
 * with its certificate. */
static void send_decided(node *n, uint32_t peer, uint64_t height)
{
	uint8_t *block = NULL, *certb = NULL;
	size_t blen, clen;
	cons_cert cert;
	cm_wr w;
	const struct recent_decided *r = &n->recent[height % 2];
	if (r->block != NULL && r->height == height) {
		/* Decided, and its ledger commit perhaps still syncing. */
		cm_wr_init(&w);
		cons_decided_encode(&r->cert, r->block, r->len, &w);
		if (!cm_wr_error(&w))
			send_chan(n, peer, CHAN_CONS, cm_wr_data(&w), cm_wr_len(&w));
		cm_wr_free(&w);
		return;
	}
	if (ledger_get_block(n->led, height, &block, &blen, &certb, &clen) != 0)
		return;
	if (cons_cert_decode(&cert, certb, clen) == 0) {
		cm_wr_init(&w);
		cons_decided_encode(&cert, block, blen, &w);
		if (!cm_wr_error(&w))
			send_chan(n, peer, CHAN_CONS, cm_wr_data(&w), cm_wr_len(&w));
		cm_wr_free(&w);
	}
	free(block);
	free(certb);
}

static void carry_out(node *n, const cons_action *a, const cons_cert *cert_copy)
{
	(void)cert_copy;
	/* After a fatal error (a persist that could not be queued, say)
	 * nothing more leaves: what follows may depend on that state. */
	if (n->stopping)
		return;
	switch (a->kind) {
	case CONS_ACT_PERSIST:
		do_persist(n, a);
		break;
	case CONS_ACT_BROADCAST:
		send_chan(n, -1, CHAN_CONS, a->u.msg.bytes, a->u.msg.len);
		break;
	case CONS_ACT_SEND:
		send_chan(n, a->u.msg.peer, CHAN_CONS, a->u.msg.bytes, a->u.msg.len);
		break;
	case CONS_ACT_SET_TIMER:
		set_timer(n, a);
		break;
	case CONS_ACT_BUILD_BLOCK:
		want_block(n, a->u.build.height, a->u.build.round);
		break;
	case CONS_ACT_CHECK_BLOCK:
		check_block(n, a);
		break;
	case CONS_ACT_COMMIT:
		commit_block(n, a);
		break;
	case CONS_ACT_SEND_DECIDED:
		send_decided(n, a->u.decided.peer, a->u.decided.height);
		break;
	}
}

/* ---- transactions: admission and gossip ----------------------------------- */

static void gossip_flush(node *n)
{
	if (n->gossip_n == 0)
		return;
	cm_wr w;
	cm_wr_init(&w);
	cm_wr_array(&w, n->gossip_n);
	cm_wr_raw(&w, cm_wr_data(&n->gossip), cm_wr_len(&n->gossip));
	if (!cm_wr_error(&w))
		send_chan(n, -1, CHAN_TXS, cm_wr_data(&w), cm_wr_len(&w));
	cm_wr_free(&w);
	cm_wr_reset(&n->gossip);
	n->gossip_n = 0;
}

static void gossip_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	gossip_flush(arg);
}

static void gossip_add(node *n, const uint8_t *tx, size_t len)
{
	cm_wr_bin(&n->gossip, tx, len);
	n->gossip_n++;
	if (cm_wr_len(&n->gossip) >= TX_GOSSIP_FLUSH_BYTES || n->gossip_n >= LIM_BLOCK_TXS_MAX) {
		gossip_flush(n);
	} else if (n->gossip_n == 1) {
		struct timeval tv = {0, 2000};
		evtimer_add(n->gossip_timer, &tv);
	}
}

static void job_answer(submit_job *j)
{
	sub_group *g = j->group;
	if (g) {
		g->res[j->idx].rc = j->rc;
		memcpy(g->res[j->idx].hash, j->hash, CK_HASH_BYTES);
		if (--g->remaining == 0) {
			node_http_submit_done(g->http, g->cookie, g->res, g->n);
			free(g->res);
			free(g);
		}
	}
	ledger_tx_free(j->dec);
	free(j->tx);
	free(j);
}

static void admit_finish(submit_job *j)
{
	node *n = j->n;
	pthread_mutex_lock(&n->mp_mu);
	if (j->rc == 0)
		j->rc = node_mempool_add_decoded(n->mp, j->tx, j->len, j->dec, j->hash, &n->view);
	else
		node_mempool_note_reject(n->mp, j->rc);
	pthread_mutex_unlock(&n->mp_mu);
	if (j->rc == 0 && j->local)
		gossip_add(n, j->tx, j->len);
	if (j->rc == 0 && n->build_wanted)
		arm_build(n);
	job_answer(j);
}

/* Under load the pool has a backlog, and a proposal holding a queued
 * transaction is checked (its signature verified, and remembered) before
 * the chunk's turn comes, or the other way round: the cache is asked
 * again here, so each transaction is verified once per node either way. */
static void verify_run(void *arg)
{
	verify_chunk *c = arg;
	bool known[VERIFY_CHUNK];
	pthread_mutex_lock(&c->n->mp_mu);
	for (uint32_t i = 0; i < c->n_jobs; i++)
		known[i] = node_mempool_sig_known(c->n->mp, c->jobs[i]->hash);
	pthread_mutex_unlock(&c->n->mp_mu);
	for (uint32_t i = 0; i < c->n_jobs; i++) {
		if (known[i])
			continue;
		c->jobs[i]->rc = ledger_tx_verify_sigs(c->jobs[i]->dec);
		c->verified++;
	}
}

static void verify_done(void *arg)
{
	verify_chunk *c = arg;
	c->n->sig_verifies += c->verified;
	c->n->verify_queued -= c->n_jobs;
	for (uint32_t i = 0; i < c->n_jobs; i++)
		admit_finish(c->jobs[i]);
	free(c);
}

/* Hands the waiting chunk to the verify pool; if the pool is full (or the
 * node stops), its admissions fail with mempool_full. */
static void admit_flush(node *n)
{
	verify_chunk *c = n->vchunk;
	if (c == NULL)
		return;
	n->vchunk = NULL;
	if (!n->stopping && n->verify_queued + c->n_jobs <= VERIFY_QUEUED_TXS_MAX &&
	    node_work_submit(n->w_verify, verify_run, verify_done, c) == 0) {
		n->verify_queued += c->n_jobs;
		return;
	}
	for (uint32_t i = 0; i < c->n_jobs; i++) {
		c->jobs[i]->rc = NODE_E_MEMPOOL_FULL;
		job_answer(c->jobs[i]);
	}
	free(c);
}

/* Admission: the cheap checks here, the signatures on the verify pool in
 * chunks. Callers admitting a batch call admit_flush() after it. */
static void admit(node *n, submit_job *j)
{
	bool need_verify = false;
	pthread_mutex_lock(&n->mp_mu);
	j->rc = node_mempool_precheck(n->mp, j->tx, j->len, &n->view, j->hash, &need_verify,
				      &j->dec);
	pthread_mutex_unlock(&n->mp_mu);
	if (j->rc == 0 && need_verify) {
		if (n->vchunk == NULL && (n->vchunk = calloc(1, sizeof *n->vchunk)) == NULL) {
			j->rc = NODE_E_MEMPOOL_FULL;
			job_answer(j);
			return;
		}
		n->vchunk->n = n;
		n->vchunk->jobs[n->vchunk->n_jobs++] = j;
		if (n->vchunk->n_jobs == VERIFY_CHUNK)
			admit_flush(n);
		return;
	}
	if (j->rc) {
		job_answer(j);
		return;
	}
	admit_finish(j);
}

/* True if the transport's peer index names a member key in the current
 * validator set. Transactions from other peers (replicas, members that do
 * not vote) are relayed on, since such a peer may reach only some of the
 * validators. */
static bool peer_is_validator(node *n, size_t peer)
{
	ck_pubkey k;
	if (node_net_peer_key(n->net, peer, k) != 0)
		return false;
	return cons_valset_index(&n->valset, k) >= 0;
}

/* The transport asks about a key that is neither in config.json's peers
 * nor listed as a replica: members and keys added by governance after the
 * genesis may connect while the ledger says they are current members. */
static bool allow_member_key(void *ctx, const ck_pubkey key)
{
	node *n = ctx;
	ledger_account acc;
	return ledger_get_account(n->led, key, &acc) == 0 && acc.member_id != 0;
}

static void on_tx_batch(node *n, size_t peer, const uint8_t *p, size_t len)
{
	bool relay = !peer_is_validator(n, peer);
	uint32_t cnt;
	cm_rd r;
	cm_rd_init(&r, p, len);
	if (cm_rd_array(&r, &cnt, LIM_BLOCK_TXS_MAX) != 0)
		return;
	for (uint32_t i = 0; i < cnt; i++) {
		const uint8_t *tx;
		uint32_t txlen;
		if (cm_rd_bin(&r, &tx, &txlen, LIM_TX_BYTES_MAX) != 0)
			break;
		submit_job *j = calloc(1, sizeof *j);
		if (!j)
			break;
		j->n = n;
		j->tx = malloc(txlen ? txlen : 1);
		if (!j->tx) {
			free(j);
			break;
		}
		memcpy(j->tx, tx, txlen);
		j->len = txlen;
		j->local = relay;
		admit(n, j);
	}
	admit_flush(n);
}

/* Called on the HTTP thread: queue for the loop. */
static void http_submit(void *ctx, node_http *http, const node_http_tx *txs, size_t cnt,
			void *cookie)
{
	node *n = ctx;
	sub_group *g = calloc(1, sizeof *g);
	submit_job **jobs = calloc(cnt ? cnt : 1, sizeof *jobs);
	node_http_submit_result *res = calloc(cnt ? cnt : 1, sizeof *res);
	size_t made = 0;
	bool ok = g && jobs && res;

	for (size_t i = 0; ok && i < cnt; i++, made++) {
		submit_job *j = calloc(1, sizeof *j);
		if (!j || !(j->tx = malloc(txs[i].len ? txs[i].len : 1))) {
			free(j);
			ok = false;
			break;
		}
		memcpy(j->tx, txs[i].tx, txs[i].len);
		j->len = txs[i].len;
		j->n = n;
		j->group = g;
		j->idx = i;
		j->local = true;
		jobs[i] = j;
	}
	pthread_mutex_lock(&n->sub_mu);
	if (ok && n->subq_n + cnt > LIM_MEMPOOL_TXS_MAX)
		ok = false;
	if (ok && n->subq_n + cnt > n->subq_cap) {
		size_t cap = n->subq_cap ? n->subq_cap : 256;
		while (cap < n->subq_n + cnt)
			cap *= 2;
		submit_job **nq = realloc(n->subq, cap * sizeof *nq);
		if (nq) {
			n->subq = nq;
			n->subq_cap = cap;
		} else {
			ok = false;
		}
	}
	if (ok) {
		g->http = http;
		g->cookie = cookie;
		g->n = g->remaining = cnt;
		g->res = res;
		memcpy(n->subq + n->subq_n, jobs, cnt * sizeof *jobs);
		n->subq_n += cnt;
		event_active(n->sub_wake, EV_READ, 0);
	}
	pthread_mutex_unlock(&n->sub_mu);
	if (ok && cnt > 0) {
		free(jobs);
		return;
	}
	/* Refused as a whole (no memory, queue full) or empty. */
	for (size_t i = 0; i < made; i++) {
		free(jobs[i]->tx);
		free(jobs[i]);
	}
	for (size_t i = 0; res && i < cnt; i++)
		res[i].rc = NODE_E_MEMPOOL_FULL;
	node_http_submit_done(http, cookie, res, res ? cnt : 0);
	free(res);
	free(jobs);
	free(g);
}

static void sub_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	node *n = arg;
	submit_job **batch;
	size_t cnt;
	(void)fd;
	(void)what;
	pthread_mutex_lock(&n->sub_mu);
	batch = n->subq;
	cnt = n->subq_n;
	n->subq = NULL;
	n->subq_n = n->subq_cap = 0;
	pthread_mutex_unlock(&n->sub_mu);
	for (size_t i = 0; i < cnt; i++)
		admit(n, batch[i]);
	admit_flush(n);
	free(batch);
}

/* ---- peer messages -------------------------------------------------------- */

static void on_msg(void *ctx, size_t peer, const uint8_t *msg, size_t len)
{
	node *n = ctx;
	if (len < 1 || n->stopping)
		return;
	if (msg[0] == CHAN_CONS) {
		qevent *q = qevent_new(CONS_EV_MESSAGE, msg + 1, len - 1);
		if (!q)
			return;
		q->ev.u.message.peer = (uint32_t)peer;
		q->ev.u.message.bytes = q->bytes;
		q->ev.u.message.len = len - 1;
		post(n, q);
	} else if (msg[0] == CHAN_TXS) {
		on_tx_batch(n, peer, msg + 1, len - 1);
	}
}

/* A peer that was away missed the gossip of what we hold: send it the
 * transactions ready for a block (bounded), so a transaction submitted
 * while a link was down still reaches every validator. */
static void gossip_pending_to(node *n, size_t peer)
{
	node_mempool_txref *refs = calloc(NODE_REGOSSIP_TXS_MAX, sizeof *refs);
	uint32_t cnt = 0, i = 0;
	if (!refs)
		return;
	pthread_mutex_lock(&n->mp_mu);
	if (node_mempool_reap(n->mp, &n->view, NODE_REGOSSIP_TXS_MAX, LIM_MEMPOOL_BYTES_MAX,
			      UINT64_MAX, refs,
			      &cnt) != 0)
		cnt = 0;
	while (i < cnt) {
		cm_wr body, w;
		uint32_t k = 0;
		cm_wr_init(&body);
		while (i < cnt && cm_wr_len(&body) < TX_GOSSIP_FLUSH_BYTES) {
			cm_wr_bin(&body, refs[i].tx, refs[i].len);
			i++;
			k++;
		}
		cm_wr_init(&w);
		cm_wr_array(&w, k);
		cm_wr_raw(&w, cm_wr_data(&body), cm_wr_len(&body));
		if (!cm_wr_error(&w) && !cm_wr_error(&body))
			send_chan(n, (int64_t)peer, CHAN_TXS, cm_wr_data(&w), cm_wr_len(&w));
		cm_wr_free(&w);
		cm_wr_free(&body);
	}
	pthread_mutex_unlock(&n->mp_mu);
	free(refs);
}

static void on_peer_up(void *ctx, size_t peer)
{
	node *n = ctx;
	NLOG_INFO("peer_up", "peer=%zu peers=%zu", peer, node_net_peer_count(n->net));
	gossip_pending_to(n, peer);
	/* Tell the newcomer where we are, so whichever of us lags catches up
	 * at once instead of at the next gossip tick. */
	if (cons_height(n->core) > 0) {
		cons_msg st;
		cm_wr w;
		memset(&st, 0, sizeof st);
		st.kind = CONS_MSG_STATUS;
		st.u.status.height = cons_height(n->core);
		st.u.status.round = cons_round(n->core);
		cm_wr_init(&w);
		cons_msg_encode(&st, &w);
		if (!cm_wr_error(&w))
			send_chan(n, (int64_t)peer, CHAN_CONS, cm_wr_data(&w), cm_wr_len(&w));
		cm_wr_free(&w);
	}
}

static void on_peer_down(void *ctx, size_t peer)
{
	node *n = ctx;
	NLOG_INFO("peer_down", "peer=%zu peers=%zu", peer, node_net_peer_count(n->net));
}

/* ---- HTTP backend (called on the HTTP thread) ----------------------------- */

/* Read-mostly status the HTTP thread may read without the loop: updated
 * under a lock by the loop. */
static pthread_mutex_t status_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uint64_t height;
	uint32_t round;
	size_t peers;
	uint64_t mempool_txs;
	uint32_t evidence;
	cons_evidence ev[LIM_CONS_EVIDENCE_MAX];
	uint64_t blocks, txs, sig_verifies;
	uint64_t latency_sum, latency_last, applied, db_bytes, cache_bytes;
	uint64_t apply_us, apply_cpu_us;
	node_mempool_stats mp;
	node_net_stats net;
} status_snap;

static void snapshot_status(node *n)
{
	pthread_mutex_lock(&status_mu);
	status_snap.height = cons_height(n->core);
	status_snap.round = cons_round(n->core);
	status_snap.peers = node_net_peer_count(n->net);
	node_mempool_get_stats(n->mp, &status_snap.mp);
	status_snap.mempool_txs = status_snap.mp.txs;
	status_snap.evidence = cons_evidence_count(n->core);
	for (uint32_t i = 0; i < status_snap.evidence && i < LIM_CONS_EVIDENCE_MAX; i++)
		if (cons_evidence_get(n->core, i, &status_snap.ev[i]) != 0)
			break;
	status_snap.blocks = n->blocks_committed;
	status_snap.txs = n->txs_committed;
	status_snap.sig_verifies = n->sig_verifies;
	status_snap.latency_sum = n->commit_latency_ms_sum;
	status_snap.latency_last = n->commit_latency_ms_last;
	status_snap.applied = n->applied_height;
	status_snap.apply_us = n->apply_us_sum;
	status_snap.apply_cpu_us = n->apply_cpu_us_sum;
	node_net_stats_get(n->net, &status_snap.net);
	{
		struct stat st;
		status_snap.db_bytes = stat(n->data_path, &st) == 0 ? (uint64_t)st.st_blocks * 512u : 0;
		status_snap.cache_bytes =
			stat(n->cache_path, &st) == 0 ? (uint64_t)st.st_blocks * 512u : 0;
	}
	pthread_mutex_unlock(&status_mu);
}

static void snapshot_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	snapshot_status(arg);
}

static int http_status(void *ctx, json_t *out)
{
	node *n = ctx;
	pthread_mutex_lock(&status_mu);
	json_object_set_new(out, "consensus_height", json_integer((json_int_t)status_snap.height));
	json_object_set_new(out, "consensus_round", json_integer(status_snap.round));
	json_object_set_new(out, "peers", json_integer((json_int_t)status_snap.peers));
	json_object_set_new(out, "mempool_txs", json_integer((json_int_t)status_snap.mempool_txs));
	json_object_set_new(out, "evidence", json_integer(status_snap.evidence));
	pthread_mutex_unlock(&status_mu);
	json_object_set_new(out, "version", json_string(NODE_VERSION));
	json_object_set_new(out, "validator", json_boolean(n->cfg.validator));
	return 0;
}

static int http_tx_status(void *ctx, const ck_hash hash, bool *pending)
{
	node *n = ctx;
	pthread_mutex_lock(&n->mp_mu);
	*pending = node_mempool_contains(n->mp, hash);
	pthread_mutex_unlock(&n->mp_mu);
	return 0;
}

static int http_pending_nonce(void *ctx, const ck_pubkey key, uint64_t committed, uint64_t *next)
{
	node *n = ctx;
	pthread_mutex_lock(&n->mp_mu);
	*next = node_mempool_pending_nonce(n->mp, key, committed);
	pthread_mutex_unlock(&n->mp_mu);
	return 0;
}

static int http_evidence(void *ctx, json_t **outp)
{
	char hex[2 * 1024 + 1];
	json_t *out = json_array();
	(void)ctx;
	if (!out)
		return NODE_E_MEMPOOL_FULL;
	pthread_mutex_lock(&status_mu);
	for (uint32_t i = 0; i < status_snap.evidence && i < LIM_CONS_EVIDENCE_MAX; i++) {
		cm_wr w;
		cm_wr_init(&w);
		cons_evidence_encode(&status_snap.ev[i], &w);
		if (!cm_wr_error(&w) && cm_wr_len(&w) <= 1024) {
			cm_hex_encode(hex, cm_wr_data(&w), cm_wr_len(&w));
			json_array_append_new(out, json_pack("{s:I,s:i,s:i,s:i,s:s}",
				"height", (json_int_t)status_snap.ev[i].height,
				"round", (int)status_snap.ev[i].round,
				"step", (int)status_snap.ev[i].step,
				"validator", (int)status_snap.ev[i].validator, "bytes", hex));
		}
		cm_wr_free(&w);
	}
	pthread_mutex_unlock(&status_mu);
	*outp = out;
	return 0;
}

static int http_metrics(void *ctx, struct evbuffer *out)
{
	(void)ctx;
	pthread_mutex_lock(&status_mu);
	evbuffer_add_printf(out,
		"# TYPE carbon_consensus_height gauge\ncarbon_consensus_height %llu\n"
		"# TYPE carbon_consensus_round gauge\ncarbon_consensus_round %u\n"
		"# TYPE carbon_peers gauge\ncarbon_peers %zu\n"
		"# TYPE carbon_mempool_txs gauge\ncarbon_mempool_txs %llu\n"
		"# TYPE carbon_mempool_admitted_total counter\ncarbon_mempool_admitted_total %llu\n"
		"# TYPE carbon_blocks_committed_total counter\ncarbon_blocks_committed_total %llu\n"
		"# TYPE carbon_txs_committed_total counter\ncarbon_txs_committed_total %llu\n"
		"# TYPE carbon_sig_verifies_total counter\ncarbon_sig_verifies_total %llu\n"
		"# TYPE carbon_evidence gauge\ncarbon_evidence %u\n"
		"# TYPE carbon_ledger_height gauge\ncarbon_ledger_height %llu\n"
		"# TYPE carbon_commit_latency_ms_last gauge\ncarbon_commit_latency_ms_last %llu\n"
		"# TYPE carbon_commit_latency_ms_sum counter\ncarbon_commit_latency_ms_sum %llu\n"
		"# TYPE carbon_ledger_db_bytes gauge\ncarbon_ledger_db_bytes %llu\n"
		"# TYPE carbon_ledger_cache_bytes gauge\ncarbon_ledger_cache_bytes %llu\n"
		"# TYPE carbon_block_apply_us_total counter\ncarbon_block_apply_us_total %llu\n"
		"# TYPE carbon_block_apply_cpu_us_total counter\ncarbon_block_apply_cpu_us_total %llu\n"
		"# TYPE carbon_mempool_bytes gauge\ncarbon_mempool_bytes %llu\n"
		"# TYPE carbon_mempool_rejected_badsig_total counter\ncarbon_mempool_rejected_badsig_total %llu\n"
		"# TYPE carbon_mempool_rejected_malformed_total counter\ncarbon_mempool_rejected_malformed_total %llu\n"
		"# TYPE carbon_mempool_held gauge\ncarbon_mempool_held %llu\n"
		"# TYPE carbon_mempool_held_evicted_total counter\ncarbon_mempool_held_evicted_total %llu\n"
		"# TYPE carbon_mempool_held_expired_total counter\ncarbon_mempool_held_expired_total %llu\n",
		(unsigned long long)status_snap.height, status_snap.round, status_snap.peers,
		(unsigned long long)status_snap.mempool_txs,
		(unsigned long long)status_snap.mp.admitted,
		(unsigned long long)status_snap.blocks, (unsigned long long)status_snap.txs,
		(unsigned long long)status_snap.sig_verifies, status_snap.evidence, (unsigned long long)status_snap.applied,
		(unsigned long long)status_snap.latency_last,
		(unsigned long long)status_snap.latency_sum,
		(unsigned long long)status_snap.db_bytes,
		(unsigned long long)status_snap.cache_bytes,
		(unsigned long long)status_snap.apply_us,
		(unsigned long long)status_snap.apply_cpu_us,
		(unsigned long long)status_snap.mp.bytes,
		(unsigned long long)status_snap.mp.rejected_badsig,
		(unsigned long long)status_snap.mp.rejected_malformed,
		(unsigned long long)status_snap.mp.held,
		(unsigned long long)status_snap.mp.evicted_held,
		(unsigned long long)status_snap.mp.expired_held);
	{
		const node_net_stats *ns = &status_snap.net;
		evbuffer_add_printf(out,
			"# TYPE carbon_peer_refused_total counter\n"
			"carbon_peer_refused_total{reason=\"malformed\"} %llu\n"
			"carbon_peer_refused_total{reason=\"version\"} %llu\n"
			"carbon_peer_refused_total{reason=\"chain\"} %llu\n"
			"carbon_peer_refused_total{reason=\"unknown_key\"} %llu\n"
			"carbon_peer_refused_total{reason=\"badsig\"} %llu\n"
			"# TYPE carbon_peer_disconnects_total counter\n"
			"carbon_peer_disconnects_total{reason=\"slow\"} %llu\n"
			"carbon_peer_disconnects_total{reason=\"decrypt\"} %llu\n"
			"carbon_peer_disconnects_total{reason=\"frame\"} %llu\n"
			"carbon_peer_disconnects_total{reason=\"idle\"} %llu\n"
			"# TYPE carbon_peer_bytes_total counter\n"
			"carbon_peer_bytes_total{dir=\"in\"} %llu\ncarbon_peer_bytes_total{dir=\"out\"} %llu\n",
			(unsigned long long)ns->refused_malformed, (unsigned long long)ns->refused_version,
			(unsigned long long)ns->refused_chain, (unsigned long long)ns->refused_unknown_key,
			(unsigned long long)ns->refused_badsig, (unsigned long long)ns->disconnects_slow,
			(unsigned long long)ns->disconnects_decrypt,
			(unsigned long long)ns->disconnects_frame, (unsigned long long)ns->timeouts_idle,
			(unsigned long long)ns->bytes_in, (unsigned long long)ns->bytes_out);
	}
	pthread_mutex_unlock(&status_mu);
	return 0;
}

/* ---- start-up and shut-down ------------------------------------------------ */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	node *n = arg;
	(void)what;
	NLOG_INFO("shutdown", "signal=%d", (int)sig);
	n->stopping = true;
	event_base_loopexit(n->base, NULL);
}

static int path_join(char *out, size_t cap, const char *a, const char *b)
{
	int k = snprintf(out, cap, "%s/%s", a, b);
	return (k < 0 || (size_t)k >= cap) ? -1 : 0;
}

static int copy_file(const char *from, const char *to, mode_t mode)
{
	uint8_t buf[65536];
	int in = open(from, O_RDONLY), out = -1, rc = -1;
	ssize_t k;
	if (in < 0)
		return -1;
	out = open(to, O_WRONLY | O_CREAT | O_EXCL, mode);
	if (out < 0)
		goto done;
	while ((k = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t)k) != k)
			goto done;
	if (k == 0 && fsync(out) == 0)
		rc = 0;
done:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc;
}

int node_init_home(const char *home, const char *genesis_path, const char *key_path,
		   const char *p2p_listen, const char *api_listen)
{
	char path[4096], err[256];
	ledger_genesis *g = NULL;
	node_config cfg;
	ck_pubkey pk;
	int rc;

	if ((rc = ledger_genesis_load(genesis_path, &g, err, sizeof err)) != 0) {
		fprintf(stderr, "carbon-node: %s: %s\n", genesis_path, err);
		return rc;
	}
	if ((rc = ck_keystore_pubkey(key_path, pk)) != 0) {
		fprintf(stderr, "carbon-node: %s: %s\n", key_path, ck_strerror(rc));
		ledger_genesis_free(g);
		return NODE_E_KEY;
	}
	if (mkdir(home, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "carbon-node: cannot create %s: %s\n", home, strerror(errno));
		goto fail;
	}
	if (path_join(path, sizeof path, home, "config.json") || access(path, F_OK) == 0) {
		fprintf(stderr, "carbon-node: %s already exists; refusing to overwrite\n", path);
		goto fail;
	}
	node_config_defaults(&cfg);
	for (uint32_t i = 0; i < g->nmembers; i++) {
		const ledger_member *m = &g->members[i];
		bool mine = false;
		for (uint32_t k = 0; k < m->nkeys; k++)
			if (memcmp(m->keys[k], pk, CK_PUBKEY_BYTES) == 0)
				mine = true;
		if (mine) {
			if (m->p2p_addr[0])
				snprintf(cfg.p2p_listen, sizeof cfg.p2p_listen, "%s", m->p2p_addr);
			cfg.validator = (m->roles & LEDGER_ROLE_VALIDATOR) != 0;
			continue;
		}
		if (cfg.npeers < LIM_PEERS_MAX && m->nkeys > 0) {
			memcpy(cfg.peers[cfg.npeers].key, m->keys[0], CK_PUBKEY_BYTES);
			snprintf(cfg.peers[cfg.npeers].addr, NODE_ADDR_MAX, "%s", m->p2p_addr);
			cfg.npeers++;
		}
	}
	if (p2p_listen)
		snprintf(cfg.p2p_listen, sizeof cfg.p2p_listen, "%s", p2p_listen);
	if (api_listen)
		snprintf(cfg.api_listen, sizeof cfg.api_listen, "%s", api_listen);
	if (path_join(path, sizeof path, home, "genesis.json") || copy_file(genesis_path, path, 0644)) {
		fprintf(stderr, "carbon-node: cannot copy genesis into %s\n", path);
		goto fail;
	}
	if (path_join(path, sizeof path, home, "member.key") || copy_file(key_path, path, 0600)) {
		fprintf(stderr, "carbon-node: cannot copy key into %s\n", path);
		goto fail;
	}
	if (path_join(path, sizeof path, home, "config.json") || node_config_save(path, &cfg))
		goto fail;
	ledger_genesis_free(g);
	return 0;
fail:
	ledger_genesis_free(g);
	return NODE_E_HOME;
}

/* Loads validValue's block and proof of lock for a RESTART event, if the
 * valid record is for the restored valid_id. The bytes are kept in the
 * event (q->bytes: block; q->cert: proof). -1 if the record is corrupt. */
static int restore_valid(node *n, qevent *q)
{
	uint8_t *vbuf = NULL;
	size_t vlen = 0;
	const uint8_t *blk, *pol;
	uint32_t blen, plen;
	cons_id id;
	cm_rd r;
	int rc = -1;

	if (node_safety_load(n->safety, NODE_SAFETY_VALID, &vbuf, &vlen) != 0)
		return -1;
	if (vlen == 0)
		return 0;
	cm_rd_init(&r, vbuf, vlen);
	if (cm_rd_array_exact(&r, 3) || cm_rd_bin_fixed(&r, id, CONS_ID_BYTES) ||
	    cm_rd_bin(&r, &blk, &blen, LIM_BLOCK_BYTES_MAX)) {
		NLOG_ERROR("safety_load", "err=\"valid record does not decode\"");
		goto out;
	}
	if (cm_rd_peek_nil(&r)) {
		if (cm_rd_nil(&r))
			goto out;
		pol = NULL;
	} else if (cm_rd_bin(&r, &pol, &plen, LIM_FRAME_BYTES_MAX) ||
		   cons_cert_decode(&q->cert, pol, plen)) {
		NLOG_ERROR("safety_load", "err=\"valid record proof does not decode\"");
		goto out;
	}
	if (cm_rd_end(&r))
		goto out;
	rc = 0;
	if (memcmp(id, q->safety.valid_id, CONS_ID_BYTES) != 0)
		goto out; /* an older validValue: the state record moved on */
	q->bytes = malloc(blen ? blen : 1);
	if (!q->bytes) {
		rc = -1;
		goto out;
	}
	memcpy(q->bytes, blk, blen);
	q->ev.u.restart.valid_block = q->bytes;
	q->ev.u.restart.valid_len = blen;
	q->ev.u.restart.valid_pol = pol ? &q->cert : NULL;
out:
	free(vbuf);
	return rc;
}

int node_audit_home(const char *home)
{
	char path[4096], err[256], msg[512];
	ledger_genesis *g = NULL;
	ledger *l = NULL;
	ledger_options lopt;
	ledger_info info;
	int fd = -1, rc;

	if (path_join(path, sizeof path, home, "LOCK") ||
	    (fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0 ||
	    flock(fd, LOCK_EX | LOCK_NB) != 0) {
		fprintf(stderr, "carbon-node audit: %s: the node must be stopped (%s)\n", path,
			strerror(errno));
		rc = NODE_E_HOME;
		goto out;
	}
	if (path_join(path, sizeof path, home, "genesis.json") ||
	    (rc = ledger_genesis_load(path, &g, err, sizeof err)) != 0) {
		fprintf(stderr, "carbon-node audit: %s: %s\n", path, err);
		rc = NODE_E_HOME;
		goto out;
	}
	memset(&lopt, 0, sizeof lopt);
	if (path_join(path, sizeof path, home, "data") ||
	    (rc = ledger_open(&l, path, g, &lopt)) != 0 ||
	    (rc = ledger_get_info(l, &info)) != 0) {
		fprintf(stderr, "carbon-node audit: %s: %s\n", path, ledger_strerror(rc));
		goto out;
	}
	rc = ledger_audit(l, msg, sizeof msg);
	if (rc == 0)
		printf("audit ok: height %llu, every invariant holds\n",
		       (unsigned long long)info.height);
	else
		printf("audit FAILED at height %llu: %s\n", (unsigned long long)info.height,
		       rc == LEDGER_E_AUDIT ? msg : ledger_strerror(rc));
out:
	ledger_close(l);
	ledger_genesis_free(g);
	if (fd >= 0)
		close(fd);
	return rc;
}

static void node_teardown(node *n)
{
	/* Workers first: their completions may touch everything below. */
	n->stopping = true;
	node_http_stop(n->http);
	n->http = NULL;
	node_work_free(n->w_check);
	node_work_free(n->w_verify);
	node_work_free(n->w_store);
	node_work_free(n->w_safety);
	free(n->recent[0].block);
	free(n->recent[1].block);
	while (n->evq_head) {
		qevent *q = n->evq_head;
		n->evq_head = q->next;
		free(q->bytes);
		free(q);
	}
	while (n->outq_head) {
		qaction *q = n->outq_head;
		n->outq_head = q->next;
		free(q->bytes);
		free(q);
	}
	while (n->timers) {
		struct timer_job *t = n->timers;
		n->timers = t->next;
		event_free(t->ev);
		free(t);
	}
	node_net_free(n->net);
	node_mempool_free(n->mp);
	cons_free(n->core);
	node_safety_close(n->safety);
	if (n->led)
		ledger_set_executed_hook(n->led, NULL, NULL);
	ledger_close(n->led);
	ledger_genesis_free(n->genesis);
	if (n->sk)
		sodium_free(n->sk);
	cm_wr_free(&n->gossip);
	if (n->build_timer)
		event_free(n->build_timer);
	if (n->gossip_timer)
		event_free(n->gossip_timer);
	if (n->sub_wake)
		event_free(n->sub_wake);
	if (n->sig_int)
		event_free(n->sig_int);
	if (n->sig_term)
		event_free(n->sig_term);
	for (size_t i = 0; i < n->subq_n; i++)
		job_answer(n->subq[i]);
	free(n->subq);
	pthread_mutex_destroy(&n->sub_mu);
	pthread_mutex_destroy(&n->mp_mu);
	if (n->base)
		event_base_free(n->base);
	if (n->lock_fd >= 0)
		close(n->lock_fd); /* releases the flock */
}

/* Applies the decided blocks the safety store holds beyond the ledger's
 * tip (store_decided): a crash between a block's decision and the end of
 * its ledger commit leaves the ledger one or two blocks behind what this
 * validator has already voted on top of. Both slots are tried, lowest
 * height first; records at or below the tip are old. -1 (logged) if a
 * record is corrupt or its block does not apply: starting without it
 * could lose the lock of the height voted on. */
static int replay_decided(node *n, ledger_info *info)
{
	for (int pass = 0; pass < 2; pass++) {
		bool applied = false;
		for (int slot = 0; slot < 2 && !applied; slot++) {
			enum node_safety_record rec = slot ? NODE_SAFETY_DECIDED1 : NODE_SAFETY_DECIDED0;
			uint8_t *buf = NULL;
			size_t len = 0;
			const uint8_t *blk, *cert;
			uint32_t blen, clen;
			uint64_t height;
			ledger_block *b = NULL;
			cm_rd r;
			int lrc;
			if (node_safety_load(n->safety, rec, &buf, &len) != 0)
				return -1;
			if (len == 0)
				continue;
			cm_rd_init(&r, buf, len);
			if (cm_rd_array_exact(&r, 3) || cm_rd_uint(&r, &height) ||
			    cm_rd_bin(&r, &blk, &blen, LIM_BLOCK_BYTES_MAX) ||
			    cm_rd_bin(&r, &cert, &clen, LIM_FRAME_BYTES_MAX) || cm_rd_end(&r) ||
			    height % 2 != (uint64_t)slot) {
				NLOG_ERROR("safety_load", "err=\"decided record %d does not decode\"", slot);
				free(buf);
				return -1;
			}
			if (height != info->height + 1) {
				free(buf);
				continue;
			}
			lrc = ledger_block_decode(blk, blen, n->genesis->chain_id, &b);
			if (lrc == 0)
				lrc = ledger_apply_block(n->led, b, cert, clen, NULL);
			if (lrc == 0)
				lrc = ledger_get_info(n->led, info);
			ledger_block_free(b);
			free(buf);
			if (lrc != 0) {
				NLOG_ERROR("decided_replay", "height=%llu err=\"%s\"",
					   (unsigned long long)height, ledger_strerror(lrc));
				return -1;
			}
			NLOG_INFO("decided_replayed", "height=%llu", (unsigned long long)height);
			applied = true;
		}
		if (!applied)
			break;
	}
	return 0;
}

int node_run(const char *home, const node_overrides *ov, const char *passphrase, size_t passlen)
{
	char path[4096], err[256];
	node_net_peer_cfg peers[LIM_PEERS_MAX];
	struct event *snap = NULL;
	node *n = calloc(1, sizeof *n);
	ledger_options lopt;
	ledger_info info;
	cons_config cc;
	int rc = NODE_E_SETUP;

	if (!n)
		return NODE_E_SETUP;
	n->lock_fd = -1;
	pthread_mutex_init(&n->sub_mu, NULL);
	pthread_mutex_init(&n->mp_mu, NULL);
	cm_wr_init(&n->gossip);
	if (ck_init() != 0 || evthread_use_pthreads() != 0)
		goto out;
	n->base = event_base_new();
	if (!n->base)
		goto out;

	if (path_join(path, sizeof path, home, "config.json") ||
	    node_config_load(path, &n->cfg, err, sizeof err) != 0) {
		NLOG_ERROR("config", "path=%s err=\"%s\"", path, err);
		rc = NODE_E_HOME;
		goto out;
	}
	if (ov) {
		if (ov->p2p_listen)
			snprintf(n->cfg.p2p_listen, NODE_ADDR_MAX, "%s", ov->p2p_listen);
		if (ov->api_listen)
			snprintf(n->cfg.api_listen, NODE_ADDR_MAX, "%s", ov->api_listen);
		if (ov->log_level >= 0)
			n->cfg.log_level = ov->log_level;
		if (ov->validator >= 0)
			n->cfg.validator = ov->validator != 0;
	}
	node_log_set_level((enum node_log_level)n->cfg.log_level);

	/* Two processes on one home would share the safety state and sign
	 * conflicting votes: the second one must not start. */
	if (path_join(path, sizeof path, home, "LOCK") ||
	    (n->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0 ||
	    flock(n->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		NLOG_ERROR("home_locked", "path=%s err=\"another carbon-node runs on this home (%s)\"",
			   path, strerror(errno));
		rc = NODE_E_HOME;
		goto out;
	}
	if (path_join(path, sizeof path, home, "genesis.json") ||
	    ledger_genesis_load(path, &n->genesis, err, sizeof err) != 0) {
		NLOG_ERROR("genesis", "path=%s err=\"%s\"", path, err);
		rc = NODE_E_HOME;
		goto out;
	}
	n->sk = sodium_malloc(CK_SECKEY_BYTES);
	if (!n->sk)
		goto out;
	if (path_join(path, sizeof path, home, "member.key") ||
	    (rc = ck_keystore_read(path, passphrase, passlen, n->sk)) != 0) {
		NLOG_ERROR("key", "path=%s err=\"%s\"", path, ck_strerror(rc));
		rc = NODE_E_KEY;
		goto out;
	}
	rc = NODE_E_SETUP;
	sodium_mprotect_readonly(n->sk);
	ck_seckey_pubkey(n->pk, n->sk);

	memset(&lopt, 0, sizeof lopt);
	lopt.map_bytes = (size_t)n->cfg.map_mb * 1024u * 1024u;
	snprintf(n->data_path, sizeof n->data_path, "%s/data/data.mdb", home);
	snprintf(n->cache_path, sizeof n->cache_path, "%s/data/smt/data.mdb", home);
	if (path_join(path, sizeof path, home, "data") ||
	    (rc = ledger_open(&n->led, path, n->genesis, &lopt)) != 0) {
		NLOG_ERROR("ledger_open", "path=%s err=\"%s\"", path, ledger_strerror(rc));
		rc = NODE_E_SETUP;
		goto out;
	}
	if (ledger_get_info(n->led, &info) != 0)
		goto out;
	if (path_join(path, sizeof path, home, "safety") || node_safety_open(&n->safety, path))
		goto out;
	if (replay_decided(n, &info) != 0) {
		rc = NODE_E_FATAL;
		goto out;
	}
	n->applied_height = info.height;
	n->exec_height = info.height;
	n->last_commit_ms = now_ms();
	/* The next height starts once a block executed, while its commit
	 * syncs (on_executed; ledger/executed.c). */
	ledger_set_executed_hook(n->led, on_executed, n);
	{
		const char *fp = getenv("CARBON_FAILPOINT_COMMIT_DELAY_MS");
		if (fp != NULL) {
			n->fp_commit_delay_ms = (uint32_t)strtoul(fp, NULL, 10);
			if (n->fp_commit_delay_ms > 60000)
				n->fp_commit_delay_ms = 60000;
			NLOG_WARN("failpoint", "commit_delay_ms=%u (test only)",
				  n->fp_commit_delay_ms);
		}
	}

	memset(&cc, 0, sizeof cc);
	cc.chain_id = n->genesis->chain_id;
	if (n->cfg.validator)
		memcpy(cc.self, n->pk, CK_PUBKEY_BYTES);
	else
		ck_hash_tagged(cc.self, "replica", n->pk, CK_PUBKEY_BYTES); /* in no set */
	cons_ck_signer(&cc.signer, (const ck_seckey *)n->sk);
	cons_ck_verifier(&cc.verifier);
	cc.block_id.ctx = n;
	cc.block_id.id = block_id_fn;
	cons_timeouts_default(&cc.timeouts);
	cc.timeouts.propose_ms = n->cfg.timeout_propose_ms;
	cc.timeouts.propose_delta_ms = n->cfg.timeout_delta_ms;
	cc.timeouts.prevote_ms = n->cfg.timeout_vote_ms;
	cc.timeouts.prevote_delta_ms = n->cfg.timeout_delta_ms;
	cc.timeouts.precommit_ms = n->cfg.timeout_vote_ms;
	cc.timeouts.precommit_delta_ms = n->cfg.timeout_delta_ms;
	cc.timeouts.cap_ms = n->cfg.timeout_max_ms;
	if ((rc = cons_new(&n->core, &cc)) != 0) {
		NLOG_ERROR("cons_new", "err=\"%s\"", cons_strerror(rc));
		rc = NODE_E_SETUP;
		goto out;
	}

	{
		node_mempool_config mc;
		memset(&mc, 0, sizeof mc);
		snprintf(mc.chain_id, sizeof mc.chain_id, "%s", n->genesis->chain_id);
		if (node_mempool_new(&n->mp, &mc) != 0)
			goto out;
		node_mempool_view_ledger(&n->view, n->led);
		node_mempool_view_ledger_next(&n->view_next, n->led);
		node_mempool_set_height(n->mp, info.height);
	}

	/* One safety writer: its jobs complete in submission order, which
	 * store_decided relies on (a decided record before the next height's
	 * persists). */
	if (node_work_new(&n->w_safety, n->base, "safety", 1, 1u << 20, 0) ||
	    node_work_new(&n->w_store, n->base, "storage", 1, 1024, 0) ||
	    node_work_new(&n->w_verify, n->base, "verify", VERIFY_THREADS, VERIFY_QUEUED_TXS_MAX,
			  VERIFY_NICE) ||
	    node_work_new(&n->w_check, n->base, "check", 1, LIM_CONS_ROUND_SLOTS, 0))
		goto out;

	n->build_timer = evtimer_new(n->base, build_timer_cb, n);
	n->gossip_timer = evtimer_new(n->base, gossip_timer_cb, n);
	n->sub_wake = event_new(n->base, -1, 0, sub_wake_cb, n);
	n->sig_int = evsignal_new(n->base, SIGINT, on_signal, n);
	n->sig_term = evsignal_new(n->base, SIGTERM, on_signal, n);
	snap = event_new(n->base, -1, EV_PERSIST, snapshot_cb, n);
	if (!n->build_timer || !n->gossip_timer || !n->sub_wake || !n->sig_int || !n->sig_term ||
	    !snap)
		goto out;
	evsignal_add(n->sig_int, NULL);
	evsignal_add(n->sig_term, NULL);
	signal(SIGPIPE, SIG_IGN);
	{
		struct timeval tv = {0, 100000};
		evtimer_add(snap, &tv);
	}

	{
		node_net_config nc;
		memset(&nc, 0, sizeof nc);
		for (uint32_t i = 0; i < n->cfg.npeers; i++) {
			memcpy(peers[i].pubkey, n->cfg.peers[i].key, CK_PUBKEY_BYTES);
			peers[i].addr = n->cfg.peers[i].addr;
		}
		nc.chain_id = n->genesis->chain_id;
		nc.seckey = n->sk;
		memcpy(nc.pubkey, n->pk, CK_PUBKEY_BYTES);
		nc.listen_addr = n->cfg.p2p_listen;
		nc.peers = peers;
		nc.n_peers = n->cfg.npeers;
		nc.cb.on_msg = on_msg;
		nc.cb.on_peer_up = on_peer_up;
		nc.cb.on_peer_down = on_peer_down;
		nc.allow_key = allow_member_key;
		nc.ctx = n;
		if ((rc = node_net_new(&n->net, n->base, &nc)) != 0) {
			NLOG_ERROR("net", "listen=%s err=\"%s\"", n->cfg.p2p_listen,
				   node_net_strerror(rc));
			rc = NODE_E_SETUP;
			goto out;
		}
	}

	{
		node_http_config hc;
		memset(&hc, 0, sizeof hc);
		snprintf(hc.listen, sizeof hc.listen, "%s", n->cfg.api_listen);
		hc.ledger = n->led;
		snprintf(hc.chain_id, sizeof hc.chain_id, "%s", n->genesis->chain_id);
		hc.backend.ctx = n;
		hc.backend.submit = http_submit;
		hc.backend.status = http_status;
		hc.backend.tx_status = http_tx_status;
		hc.backend.pending_nonce = http_pending_nonce;
		hc.backend.evidence = http_evidence;
		hc.backend.metrics = http_metrics;
		if (node_http_start(&n->http, &hc) != 0) {
			NLOG_ERROR("http", "listen=%s err=\"cannot start the API server\"",
				   n->cfg.api_listen);
			goto out;
		}
	}

	/* Resume: the persisted safety state first, then the height after the
	 * last applied block with the validator set the ledger has for it. */
	{
		uint8_t *sbuf = NULL;
		size_t slen = 0;
		if (node_safety_load(n->safety, NODE_SAFETY_STATE, &sbuf, &slen) != 0) {
			rc = NODE_E_FATAL;
			goto out;
		}
		if (slen > 0) {
			qevent *q = qevent_new(CONS_EV_RESTART, NULL, 0);
			int drc = q ? cons_safety_decode(&q->safety, sbuf, slen) : CONS_E_NOMEM;
			if (drc != 0) {
				NLOG_ERROR("safety_load", "err=\"stored safety state refused: %s\"",
					   cons_strerror(drc));
				free(q);
				free(sbuf);
				rc = NODE_E_FATAL;
				goto out;
			}
			q->ev.u.restart.safety = &q->safety;
			if (q->safety.height > info.height + 1)
				/* data/ older than safety/ (restored from a
				 * backup): the core runs the heights below fresh,
				 * signing nothing, and resumes its restored state,
				 * lock included, at its height. */
				NLOG_WARN("safety_ahead",
					  "safety_height=%llu ledger_height=%llu msg=\"the ledger is "
					  "behind what this validator signed: catching up from the "
					  "peers, nothing is signed until then\"",
					  (unsigned long long)q->safety.height,
					  (unsigned long long)info.height);
			if (q->safety.valid_round >= 0 && restore_valid(n, q) != 0) {
				free(q);
				free(sbuf);
				rc = NODE_E_FATAL;
				goto out;
			}
			NLOG_INFO("safety_restored", "height=%llu round=%u step=%u locked_round=%d valid=%s",
				  (unsigned long long)q->safety.height, q->safety.round,
				  q->safety.step, q->safety.locked_round,
				  q->ev.u.restart.valid_block ? "yes" : "no");
			post(n, q);
		}
		free(sbuf);
		if (slen == 0 && info.height > 0 && n->cfg.validator && !(ov && ov->fresh_safety)) {
			NLOG_ERROR("safety_missing",
				   "height=%llu err=\"no safety state but the ledger is past genesis; "
				   "if this key never signed at these heights, start with --fresh-safety "
				   "(docs/OPERATIONS.md, replacing a validator)\"",
				   (unsigned long long)info.height);
			rc = NODE_E_FATAL;
			goto out;
		}
		qevent *q = qevent_new(CONS_EV_START_HEIGHT, NULL, 0);
		if (!q)
			goto out;
		valset_of(&info.valset, &q->valset);
		n->valset = q->valset;
		q->ev.u.start.height = info.height + 1;
		q->ev.u.start.valset = &q->valset;
		post(n, q);
	}

	{
		char addr[CK_ADDRESS_STRLEN + 1];
		ck_address_encode(addr, n->pk);
		NLOG_INFO("start", "chain=%s height=%llu key=%s p2p=%s api=%s validator=%s",
			  n->genesis->chain_id, (unsigned long long)info.height, addr,
			  n->cfg.p2p_listen, n->cfg.api_listen, n->cfg.validator ? "yes" : "no");
	}
	event_base_dispatch(n->base);
	rc = n->fatal ? n->fatal : 0;
	NLOG_INFO("stopped", "height=%llu clean=%s", (unsigned long long)n->applied_height,
		  rc ? "no" : "yes");
out:
	if (snap)
		event_free(snap);
	node_teardown(n);
	free(n);
	return rc;
}
