/*
 * bench_node_load: the load generator of `make bench` (bench/run.sh starts
 * the devnet and calls it). It talks to real carbon-node processes only
 * through the documented HTTP API, as a client would, so what it measures
 * is the whole pipeline: HTTP admission, signature checks, gossip,
 * consensus, execution and the synced LMDB commit on every node.
 *
 * Every transaction of a workload is built, signed and encoded before that
 * workload's clock starts (on all cores), so the generator spends the timed
 * part copying bytes into sockets. Citizens are deterministic keys
 * (seed = H("bench-account", chain id || i)); operators and the merchant
 * sign with their genesis keystores, read with $CARBON_PASSPHRASE. The
 * chain must be fresh (bench/run.sh makes one per run): citizens' nonces
 * are taken to start at 0 and the funding trips to be new. After each
 * workload the nonces of what was never sent go back to their senders, so
 * the next one starts without gaps.
 *
 * `limits` measures what does not need a node: synced LMDB commits of one
 * small record, and Ed25519 verifications per second of CPU time.
 *
 * Trips stay inside the methodology's rules so that every credit is real:
 * each citizen gets one 40 km metro trip (1,868 g) as funding at the start
 * of the claim window; issuance gives it one short trip per later
 * half-hour slot, from a day after the funding trip (1 km by metro or bus,
 * 500 m by bike: at most 48 x 46 g a day by metro, 48 x 20 g by bike, so
 * under every daily cap), so no two of its trips overlap and none is
 * rejected. The window is taken from the node's latest block time, with an
 * hour of margin at the old end.
 *
 * Closed-loop workloads keep at most --window transactions submitted but
 * not yet committed (admitted minus carbon_txs_committed_total of node 0);
 * the open loop releases transactions at a fixed rate whatever happens.
 * Batches go to POST /v1/txs (msgpack), round robin over the nodes; one
 * transaction in --sample-every goes alone to POST /v1/tx?wait_ms=, whose
 * answer arrives when it commits: that is the commit latency sample.
 *
 *   bench_node_load run --net DIR --api H:P[,H:P...] [options]
 *   bench_node_load limits [--seconds S] [--dir DIR]
 */
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <lmdb.h>
#include <sodium.h>

#include "common/cm.h"
#include "crypto/ck.h"
#include "ledger/ledger.h"

#define NODES_MAX         8u
#define CONNS_PER_NODE    4u      /* batch connections per node */
#define BATCH_TXS_MAX     500u    /* transactions per POST /v1/txs */
#define BATCH_BYTES_MAX   (LIM_HTTP_BODY_BYTES_MAX / 2u)  /* ... and bytes */
#define SAMPLE_WAIT_MS    30000u  /* ?wait_ms of a latency sample */
#define POLL_MS           100u    /* /metrics of node 0 */
#define SLOW_POLL_MS      500u    /* /v1/supply and /proc */
#define OPEN_TICK_MS      5u      /* open loop release granularity */
#define DRAIN_S_MAX       60u     /* wait for the mempool to empty */
#define SETUP_S_MAX       900u    /* funding a million citizens takes minutes */
#define FUND_TRIP_M       40000u  /* 1,868 g by metro */
#define ISSUE_TRIP_M      1000u   /* minimum metro/bus distance */
#define BIKE_TRIP_M       500u    /* minimum cycling distance */
#define SLOT_S            1800u   /* one trip per citizen per half hour */
#define SLOTS_FIRST_ISSUE 48u     /* a day after the funding trip */
#define SLOTS_MAX         320u    /* 7 days minus the margins (1 h old end, 7 h new) */
#define OFFER_ID          1u
#define OFFER_PRICE_G     50u
#define THREADS_MAX       16u
#define SERIES_SPAN_S     5u      /* series rates: trailing window, seconds */
#define REASONS_MAX       16u

/* ---- small helpers ------------------------------------------------------------ */

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "bench_node_load: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		die("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Runs fn(ctx, i) for i in [0, n) on up to nthreads threads, each taking a
 * contiguous range (so per-range outputs keep their order). */
typedef void (*range_fn)(void *ctx, unsigned part, size_t lo, size_t hi);
typedef struct range_job {
	range_fn fn;
	void *ctx;
	unsigned part;
	size_t lo, hi;
} range_job;

static void *range_thread(void *arg)
{
	range_job *j = arg;
	j->fn(j->ctx, j->part, j->lo, j->hi);
	return NULL;
}

static unsigned g_threads = 1;

static void parallel_ranges(size_t n, range_fn fn, void *ctx)
{
	pthread_t th[THREADS_MAX];
	range_job jobs[THREADS_MAX];
	unsigned k = g_threads;
	for (unsigned i = 0; i < k; i++) {
		jobs[i] = (range_job){fn, ctx, i, n * i / k, n * (i + 1) / k};
		if (pthread_create(&th[i], NULL, range_thread, &jobs[i]) != 0)
			die("pthread_create failed");
	}
	for (unsigned i = 0; i < k; i++)
		pthread_join(th[i], NULL);
}

/* ---- keys ---------------------------------------------------------------------- */

typedef struct keypair {
	ck_pubkey pk;
	ck_seckey sk;
	uint64_t nonce;              /* next nonce this generator will use */
} keypair;

typedef struct operator_key {
	keypair kp;
	uint32_t member_id;
	uint8_t mode;                /* the mode this operator reports */
	char name[LIM_NAME_BYTES_MAX + 1];
} operator_key;

/* ---- the load: specs, then encoded items ---------------------------------------- */

enum spec_kind { SK_TRANSFER, SK_REDEEM, SK_ISSUE, SK_FUND, SK_OFFER };

/* What one transaction will be; signing and encoding happen later, in
 * parallel, from this alone. */
typedef struct spec {
	uint8_t kind;                /* enum spec_kind */
	bool sample;
	uint32_t from;               /* account, or operator index for issue/fund/offer */
	uint32_t to;                 /* transfer receiver */
	uint64_t nonce;
	uint64_t trip0;              /* issue: first trip number; fund: first citizen */
	uint32_t ntrips;
} spec;

typedef struct item {
	const uint8_t *p;            /* encoded bytes (in a chunk of the load) */
	uint32_t len;
	uint32_t units;              /* credits it carries (trips), 1 otherwise */
	bool sample;
	bool failed;                 /* rejected for good: its nonce is free again */
} item;

typedef struct load {
	spec *specs;
	item *items;
	size_t n;
	uint8_t *chunks[THREADS_MAX];
} load;

static void load_free(load *l)
{
	free(l->specs);
	free(l->items);
	for (unsigned i = 0; i < THREADS_MAX; i++)
		free(l->chunks[i]);
	memset(l, 0, sizeof *l);
}

/* ---- cluster and run state ------------------------------------------------------ */

typedef struct node_ep {
	char host[80];
	uint16_t port;
	char hostport[96];
	pid_t pid;                   /* 0 when unknown (no /proc sampling) */
	char home[512];
	struct evhttp_connection *bconn[CONNS_PER_NODE];
	bool busy[CONNS_PER_NODE];
	struct evhttp_connection **idle;  /* latency-sample connections not in use */
	size_t nidle, idle_cap;
	/* /proc figures */
	uint64_t rss_kb_max, anon_kb_max, hwm_kb;
	double cpu_s;
} node_ep;

typedef struct reason_count {
	char name[32];
	uint64_t n;
} reason_count;

typedef struct poll_snap {
	uint64_t t_ns;
	uint64_t committed, blocks, height, mempool, verifies;
} poll_snap;

typedef struct credit_snap {
	uint64_t t_ns;
	uint64_t trips;
} credit_snap;

typedef struct bench {
	struct event_base *base;
	unsigned nnodes;
	node_ep node[NODES_MAX];
	char chain_id[LIM_CHAIN_ID_BYTES_MAX + 1];

	keypair *acct;
	uint32_t nacct;
	operator_key op[3];          /* metro, bus, bikeshare */
	unsigned nops;
	operator_key merchant;
	uint64_t lo_s;               /* start of slot 0 (claim window, with margin) */
	uint64_t trip_next;          /* next issuance trip number */
	uint32_t sender_next;        /* round robin over citizens */
	uint64_t rng;

	/* options */
	unsigned warmup_s, seconds;
	double rate_max, credits_max;
	double transfers_max_given; /* --transfers-max: open50/80 without transfers */
	uint32_t window_transfers, window_issue, window_mixed;
	uint32_t sample_every;
	FILE *series;
	FILE *mark;                  /* "<workload> window" lines, for profilers */

	/* pollers */
	struct evhttp_connection *pconn, *sconn;
	bool ppending, spending;
	poll_snap last;
	credit_snap last_credit;
	bool have_credit;

	/* the workload in progress */
	const char *wname;
	load *ld;
	size_t next;                 /* next item to send */
	size_t *retry;
	size_t nretry, retry_cap;
	bool open_loop;
	double open_rate;
	bool closed;                 /* sending stopped (window over) */
	uint32_t window;
	uint64_t t0_ns;              /* sending started */
	uint64_t accepted, rejected, retried, http_errors, inflight_txs;
	uint64_t committed_base;     /* node 0's counter when the workload began */
	unsigned inflight_reqs, inflight_samples;
	reason_count reasons[REASONS_MAX];
	unsigned nreasons;
	/* latency samples of the measured window, in microseconds */
	uint32_t *lat_us;
	size_t nlat, lat_cap;
	uint64_t sample_timeouts, sample_failed;
	bool in_window;
	/* per-second series */
	/* The last SERIES_SPAN_S per-second snapshots: blocks commit
	 * thousands of transactions at once, so a rate over one second is
	 * all or nothing. */
	poll_snap hist[SERIES_SPAN_S];
	credit_snap chist[SERIES_SPAN_S];
	unsigned nhist;
	uint32_t *sec_lat;
	size_t nsec_lat, sec_lat_cap;
	struct event *tick, *open_tick;
	unsigned ticks;
	uint64_t run_t0_ns;          /* series time axis: since start-up */
} bench;

static bench B;

/* ---- synchronous HTTP (set-up only) ------------------------------------------------- */

typedef struct sync_req {
	bool done;
	int code;
	char *body;
	size_t len;
} sync_req;

static void sync_cb(struct evhttp_request *req, void *arg)
{
	sync_req *s = arg;
	s->done = true;
	if (req == NULL)
		return;
	s->code = evhttp_request_get_response_code(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	s->len = evbuffer_get_length(in);
	s->body = xcalloc(s->len + 1, 1);
	evbuffer_remove(in, s->body, s->len);
}

static void add_headers(struct evhttp_request *req, const node_ep *ep, const char *ctype,
			size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Host", ep->hostport);
	if (ctype != NULL) {
		char cl[24];
		snprintf(cl, sizeof cl, "%zu", len);
		evhttp_add_header(h, "Content-Type", ctype);
		evhttp_add_header(h, "Content-Length", cl);
	}
}

static struct evhttp_connection *new_conn(node_ep *ep)
{
	struct evhttp_connection *c = evhttp_connection_base_new(B.base, NULL, ep->host, ep->port);
	if (c == NULL)
		die("cannot create a connection to %s", ep->hostport);
	evhttp_connection_set_timeout(c, 90);
	return c;
}

/* One request, waiting for its answer; returns the parsed JSON body (NULL
 * if not JSON) and the status in *code (0: no answer). */
static json_t *http_sync(unsigned node, enum evhttp_cmd_type cmd, const char *path,
			 const char *ctype, const void *body, size_t len, int *code)
{
	node_ep *ep = &B.node[node];
	struct evhttp_connection *c = new_conn(ep);
	sync_req s = {0};
	struct evhttp_request *req = evhttp_request_new(sync_cb, &s);
	add_headers(req, ep, ctype, len);
	if (body != NULL)
		evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
	if (evhttp_make_request(c, req, cmd, path) != 0)
		die("request %s failed", path);
	while (!s.done)
		event_base_loop(B.base, EVLOOP_ONCE);
	evhttp_connection_free(c);
	*code = s.code;
	json_t *j = s.body ? json_loadb(s.body, s.len, 0, NULL) : NULL;
	free(s.body);
	return j;
}

static json_t *get_json(unsigned node, const char *path)
{
	int code;
	json_t *j = http_sync(node, EVHTTP_REQ_GET, path, NULL, NULL, 0, &code);
	if (code != 200 || j == NULL)
		die("GET %s on %s: status %d", path, B.node[node].hostport, code);
	return j;
}

static uint64_t json_u64(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (json_is_integer(v))
		return (uint64_t)json_integer_value(v);
	if (json_is_string(v))
		return strtoull(json_string_value(v), NULL, 10);
	die("JSON answer lacks %s", key);
	return 0;
}

/* ---- /proc and disk ------------------------------------------------------------------ */

static uint64_t status_kb(const char *text, const char *key)
{
	const char *p = strstr(text, key);
	return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

static void proc_sample(void)
{
	for (unsigned i = 0; i < B.nnodes; i++) {
		node_ep *ep = &B.node[i];
		if (ep->pid == 0)
			continue;
		char path[64], buf[4096];
		snprintf(path, sizeof path, "/proc/%d/status", (int)ep->pid);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			continue;
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[n] = 0;
		uint64_t rss = status_kb(buf, "VmRSS:"), anon = status_kb(buf, "RssAnon:");
		ep->hwm_kb = status_kb(buf, "VmHWM:");
		if (rss > ep->rss_kb_max)
			ep->rss_kb_max = rss;
		if (anon > ep->anon_kb_max)
			ep->anon_kb_max = anon;
	}
}

/* utime + stime of a process in seconds (0 when unknown). */
static double proc_cpu_s(pid_t pid)
{
	if (pid == 0)
		return 0;
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	/* Fields after the command name, which ends at the last ')'. */
	char *p = strrchr(buf, ')');
	if (p == NULL)
		return 0;
	unsigned long long ut = 0, st = 0;
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Bytes written to the block device that holds node 0's home since boot,
 * from /proc/diskstats (sectors of 512 bytes); 0 when unknown. The disk's
 * own count: a process's write_bytes in /proc/PID/io counts a page each
 * time it is dirtied, several times what reaches the disk for LMDB's
 * pages, and the file's growth hides that LMDB rewrites every page a block
 * touches. Machine-wide: the nodes are the only heavy writers in a run. */
static uint64_t dev_written_bytes(void)
{
	struct stat st;
	if (B.nnodes == 0 || stat(B.node[0].home, &st) != 0)
		return 0;
	FILE *f = fopen("/proc/diskstats", "r");
	if (f == NULL)
		return 0;
	char line[512];
	uint64_t bytes = 0;
	while (fgets(line, sizeof line, f) != NULL) {
		unsigned ma, mi;
		unsigned long long sectors;
		if (sscanf(line, "%u %u %*s %*u %*u %*u %*u %*u %*u %llu", &ma, &mi, &sectors) == 3 &&
		    ma == major(st.st_dev) && mi == minor(st.st_dev)) {
			bytes = (uint64_t)sectors * 512u;
			break;
		}
	}
	fclose(f);
	return bytes;
}

/* Jiffies of the whole machine since boot: busy (everything but idle and
 * iowait) and total, from /proc/stat's first line. */
static void machine_jiffies(uint64_t *busy, uint64_t *total)
{
	unsigned long long v[10] = {0};
	*busy = *total = 0;
	FILE *f = fopen("/proc/stat", "r");
	if (f == NULL)
		return;
	int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
		       &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
	fclose(f);
	if (n < 8)
		return;
	/* user nice system idle iowait irq softirq steal (guest is in user). */
	for (int i = 0; i < 8; i++)
		*total += v[i];
	*busy = *total - v[3] - v[4];
}

static uint64_t du_total;

static int du_visit(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (flag == FTW_F)
		du_total += (uint64_t)st->st_blocks * 512u;
	return 0;
}

/* Bytes on disk under a node's home (ledger data and safety state). */
static uint64_t home_bytes(const node_ep *ep)
{
	if (ep->home[0] == 0)
		return 0;
	du_total = 0;
	char path[600];
	snprintf(path, sizeof path, "%s/data", ep->home);
	nftw(path, du_visit, 16, FTW_PHYS);
	snprintf(path, sizeof path, "%s/safety", ep->home);
	nftw(path, du_visit, 16, FTW_PHYS);
	return du_total;
}

/* ---- transaction construction ------------------------------------------------------- */

static void trip_times(uint64_t slot, uint32_t dur_s, uint64_t *start, uint64_t *end)
{
	*start = B.lo_s + slot * SLOT_S;
	*end = *start + dur_s;
}

/* Per-thread scratch: one transaction of each shape, reused. */
typedef struct scratch {
	ledger_tx *small, *issue;
	cm_wr w;
} scratch;

static void encode_spec(const spec *s, scratch *sc, uint32_t *units)
{
	ledger_tx *tx;
	const keypair *kp;
	*units = 1;
	switch (s->kind) {
	case SK_TRANSFER:
	case SK_REDEEM:
		tx = sc->small;
		kp = &B.acct[s->from];
		tx->kind = s->kind == SK_TRANSFER ? LEDGER_TX_TRANSFER : LEDGER_TX_REDEEM;
		if (s->kind == SK_TRANSFER) {
			memcpy(tx->u.transfer.to, B.acct[s->to].pk, CK_PUBKEY_BYTES);
			tx->u.transfer.amount_g = 1;
		} else {
			tx->u.redeem.offer_id = OFFER_ID;
			tx->u.redeem.max_price_g = OFFER_PRICE_G;
		}
		break;
	case SK_OFFER:
		tx = sc->small;
		kp = &B.merchant.kp;
		tx->kind = LEDGER_TX_OFFER;
		memset(&tx->u.offer, 0, sizeof tx->u.offer);
		tx->u.offer.action = LEDGER_OFFER_PUBLISH;
		tx->u.offer.offer_id = OFFER_ID;
		tx->u.offer.price_g = OFFER_PRICE_G;
		tx->u.offer.stock = UINT32_MAX;
		snprintf(tx->u.offer.name, sizeof tx->u.offer.name, "metro day ticket");
		snprintf(tx->u.offer.description, sizeof tx->u.offer.description,
			 "one day of unlimited metro rides, published by the benchmark");
		break;
	case SK_ISSUE:
	case SK_FUND: {
		const operator_key *op = &B.op[s->from];
		tx = sc->issue;
		kp = &op->kp;
		tx->kind = LEDGER_TX_ISSUE;
		tx->u.issue.ntrips = s->ntrips;
		for (uint32_t k = 0; k < s->ntrips; k++) {
			ledger_trip *t = &tx->u.issue.trips[k];
			uint64_t n = s->trip0 + k;
			char ref[40];
			int rl;
			if (s->kind == SK_FUND) {
				t->mode = LEDGER_MODE_METRO;
				memcpy(t->citizen, B.acct[n].pk, CK_PUBKEY_BYTES);
				t->distance_m = FUND_TRIP_M;
				trip_times(0, 2400, &t->start_s, &t->end_s);
				rl = snprintf(ref, sizeof ref, "fund-%llu", (unsigned long long)n);
			} else {
				t->mode = op->mode;
				memcpy(t->citizen, B.acct[n % B.nacct].pk, CK_PUBKEY_BYTES);
				t->distance_m = op->mode == LEDGER_MODE_CYCLE ? BIKE_TRIP_M : ISSUE_TRIP_M;
				trip_times(SLOTS_FIRST_ISSUE + n / B.nacct, 300, &t->start_s,
					   &t->end_s);
				rl = snprintf(ref, sizeof ref, "ride-%llu", (unsigned long long)n);
			}
			ledger_trip_id(t->trip_id, op->member_id, ref, (size_t)rl);
		}
		*units = s->ntrips;
		break;
	}
	default:
		abort();
	}
	tx->version = LEDGER_TX_VERSION;
	snprintf(tx->chain_id, sizeof tx->chain_id, "%s", B.chain_id);
	memcpy(tx->sender, kp->pk, CK_PUBKEY_BYTES);
	tx->nonce = s->nonce;
	ledger_tx_sign(tx, kp->sk);
	cm_wr_reset(&sc->w);
	ledger_tx_encode(tx, &sc->w);
	if (cm_wr_error(&sc->w))
		die("encoding: out of memory");
}

/* Encodes specs[lo, hi) into one chunk owned by the load. */
static void encode_range(void *ctx, unsigned part, size_t lo, size_t hi)
{
	load *l = ctx;
	scratch sc;
	if (ledger_tx_new(&sc.small, LEDGER_TX_TRANSFER, 0) != 0 ||
	    ledger_tx_new(&sc.issue, LEDGER_TX_ISSUE, LIM_TRIPS_PER_TX_MAX) != 0)
		die("ledger_tx_new: out of memory");
	cm_wr_init(&sc.w);
	size_t cap = 1u << 20, used = 0;
	uint8_t *chunk = malloc(cap);
	size_t *offs = xcalloc(hi - lo, sizeof *offs);
	if (chunk == NULL)
		die("out of memory");
	for (size_t i = lo; i < hi; i++) {
		uint32_t units;
		encode_spec(&l->specs[i], &sc, &units);
		size_t len = cm_wr_len(&sc.w);
		while (used + len > cap) {
			cap *= 2;
			chunk = realloc(chunk, cap);
			if (chunk == NULL)
				die("out of memory");
		}
		memcpy(chunk + used, cm_wr_data(&sc.w), len);
		offs[i - lo] = used;
		l->items[i] = (item){NULL, (uint32_t)len, units, l->specs[i].sample, false};
		used += len;
	}
	/* Pointers only now: the chunk may have moved while growing. */
	for (size_t i = lo; i < hi; i++)
		l->items[i].p = chunk + offs[i - lo];
	l->chunks[part] = chunk;
	free(offs);
	cm_wr_free(&sc.w);
	ledger_tx_free(sc.small);
	ledger_tx_free(sc.issue);
}

static void load_encode(load *l)
{
	l->items = xcalloc(l->n, sizeof *l->items);
	uint64_t t = now_ns();
	parallel_ranges(l->n, encode_range, l);
	size_t bytes = 0;
	for (size_t i = 0; i < l->n; i++)
		bytes += l->items[i].len;
	say("  pre-signed %zu transactions (%.1f MB) in %.1f s\n", l->n, (double)bytes / 1e6,
	    (double)(now_ns() - t) / 1e9);
}

static void keys_range(void *ctx, unsigned part, size_t lo, size_t hi)
{
	(void)ctx;
	(void)part;
	for (size_t i = lo; i < hi; i++) {
		uint8_t seed[CK_SEED_BYTES];
		ck_hasher h;
		uint64_t le = i;
		ck_hasher_init(&h, "bench-account");
		ck_hasher_update(&h, B.chain_id, strlen(B.chain_id));
		ck_hasher_update(&h, &le, sizeof le);
		ck_hasher_final(&h, seed);
		ck_keypair_from_seed(B.acct[i].pk, B.acct[i].sk, seed);
		B.acct[i].nonce = 0;
	}
}

/* ---- spec generators ------------------------------------------------------------------ */

static spec *spec_push(load *l, size_t *cap)
{
	if (l->n == *cap) {
		*cap = *cap ? *cap * 2 : 1024;
		l->specs = realloc(l->specs, *cap * sizeof *l->specs);
		if (l->specs == NULL)
			die("out of memory");
	}
	spec *s = &l->specs[l->n++];
	memset(s, 0, sizeof *s);
	return s;
}

static uint32_t next_sender(void)
{
	uint32_t s = B.sender_next;
	B.sender_next = (B.sender_next + 1) % B.nacct;
	return s;
}

static void gen_transfer(load *l, size_t *cap)
{
	spec *s = spec_push(l, cap);
	s->kind = SK_TRANSFER;
	s->from = next_sender();
	s->to = (uint32_t)((s->from + 1 + splitmix(&B.rng) % (B.nacct - 1)) % B.nacct);
	s->nonce = B.acct[s->from].nonce++;
}

static void gen_redeem(load *l, size_t *cap)
{
	spec *s = spec_push(l, cap);
	s->kind = SK_REDEEM;
	s->from = next_sender();
	s->nonce = B.acct[s->from].nonce++;
}

static void gen_issue(load *l, size_t *cap, unsigned opi)
{
	uint64_t slot_last = SLOTS_FIRST_ISSUE + (B.trip_next + LIM_TRIPS_PER_TX_MAX) / B.nacct;
	if (slot_last >= SLOTS_MAX)
		die("out of trip slots: raise --accounts (%u citizens x %u slots used up)", B.nacct,
		    SLOTS_MAX - SLOTS_FIRST_ISSUE);
	spec *s = spec_push(l, cap);
	s->kind = SK_ISSUE;
	s->from = opi;
	s->nonce = B.op[opi].kp.nonce++;
	s->trip0 = B.trip_next;
	s->ntrips = LIM_TRIPS_PER_TX_MAX;
	B.trip_next += LIM_TRIPS_PER_TX_MAX;
}

static void mark_samples(load *l, uint32_t every)
{
	for (size_t i = 0; every > 0 && i < l->n; i++)
		l->specs[i].sample = (i % every) == every / 2;
}

/* ---- the driver ----------------------------------------------------------------------- */

static void dispatch(void);

static void count_reason(const char *name)
{
	for (unsigned i = 0; i < B.nreasons; i++)
		if (strcmp(B.reasons[i].name, name) == 0) {
			B.reasons[i].n++;
			return;
		}
	if (B.nreasons < REASONS_MAX) {
		snprintf(B.reasons[B.nreasons].name, sizeof B.reasons[0].name, "%s", name);
		B.reasons[B.nreasons++].n = 1;
	}
}

static void retry_push(size_t idx)
{
	if (B.nretry == B.retry_cap) {
		B.retry_cap = B.retry_cap ? B.retry_cap * 2 : 1024;
		B.retry = realloc(B.retry, B.retry_cap * sizeof *B.retry);
		if (B.retry == NULL)
			die("out of memory");
	}
	B.retry[B.nretry++] = idx;
	B.retried++;
}

static bool retryable(const char *reason)
{
	return strcmp(reason, "mempool_full") == 0 || strcmp(reason, "sender_full") == 0 ||
	       strcmp(reason, "nomem") == 0;
}

/* What the server already has counts as admitted (a retry after a lost
 * answer). */
static bool already_there(const char *reason)
{
	return strcmp(reason, "duplicate") == 0 || strcmp(reason, "nonce_used") == 0;
}

typedef struct batch_req {
	unsigned node, conn;
	size_t n;
	size_t idx[BATCH_TXS_MAX];
} batch_req;

static void batch_cb(struct evhttp_request *req, void *arg)
{
	batch_req *br = arg;
	B.node[br->node].busy[br->conn] = false;
	B.inflight_reqs--;
	B.inflight_txs -= br->n;
	int code = req ? evhttp_request_get_response_code(req) : 0;
	json_t *j = NULL;
	if (code == 200) {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t len = evbuffer_get_length(in);
		j = json_loadb((const char *)evbuffer_pullup(in, (ev_ssize_t)len), len, 0, NULL);
	}
	json_t *res = j ? json_object_get(j, "results") : NULL;
	if (!json_is_array(res) || json_array_size(res) != br->n) {
		B.http_errors++;
		for (size_t i = 0; i < br->n; i++)
			retry_push(br->idx[i]);
	} else {
		for (size_t i = 0; i < br->n; i++) {
			json_t *e = json_object_get(json_array_get(res, i), "error");
			const char *why = json_is_string(e) ? json_string_value(e) : NULL;
			if (why == NULL || already_there(why)) {
				B.accepted++;
			} else if (retryable(why) && !B.closed) {
				retry_push(br->idx[i]);
			} else {
				B.rejected++;
				B.ld->items[br->idx[i]].failed = true;
				count_reason(why);
			}
		}
	}
	json_decref(j);
	free(br);
	dispatch();
}

typedef struct sample_req {
	unsigned node;
	struct evhttp_connection *c;
	size_t idx;
	uint64_t t_ns;
	bool in_window;
} sample_req;

static void lat_push(uint32_t **arr, size_t *n, size_t *cap, uint32_t v)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 1024;
		*arr = realloc(*arr, *cap * sizeof **arr);
		if (*arr == NULL)
			die("out of memory");
	}
	(*arr)[(*n)++] = v;
}

static void sample_cb(struct evhttp_request *req, void *arg)
{
	sample_req *sr = arg;
	uint64_t t = now_ns();
	node_ep *ep = &B.node[sr->node];
	B.inflight_samples--;
	int code = req ? evhttp_request_get_response_code(req) : 0;
	if (code == 200) {
		uint32_t us = (uint32_t)((t - sr->t_ns) / 1000u);
		if (sr->in_window)
			lat_push(&B.lat_us, &B.nlat, &B.lat_cap, us);
		lat_push(&B.sec_lat, &B.nsec_lat, &B.sec_lat_cap, us);
	} else if (code == 202) {
		/* Admitted but not committed within wait_ms. */
		B.sample_timeouts++;
	} else if (code == 0) {
		/* No answer: whether the node took it is unknown, so it goes
		 * again as an ordinary transaction ("duplicate" or "nonce_used"
		 * then says it was there). */
		B.sample_failed++;
		B.accepted--;
		B.ld->items[sr->idx].sample = false;
		retry_push(sr->idx);
	} else {
		B.sample_failed++;
		B.accepted--;
		char why[32] = "http_error";
		if (req != NULL) {
			struct evbuffer *in = evhttp_request_get_input_buffer(req);
			size_t len = evbuffer_get_length(in);
			json_t *j = json_loadb((const char *)evbuffer_pullup(in, (ev_ssize_t)len), len,
					       0, NULL);
			json_t *e = j ? json_object_get(j, "error") : NULL;
			if (json_is_string(e))
				snprintf(why, sizeof why, "%s", json_string_value(e));
			json_decref(j);
		}
		if (already_there(why)) {
			B.accepted++;
		} else if (retryable(why) && !B.closed) {
			retry_push(sr->idx);
			B.ld->items[sr->idx].sample = false;
		} else {
			B.rejected++;
			B.ld->items[sr->idx].failed = true;
			count_reason(why);
		}
	}
	/* Back to the pool: evhttp reconnects by itself if the server closed
	 * it meanwhile. */
	if (ep->nidle == ep->idle_cap) {
		ep->idle_cap = ep->idle_cap ? ep->idle_cap * 2 : 64;
		ep->idle = realloc(ep->idle, ep->idle_cap * sizeof *ep->idle);
		if (ep->idle == NULL)
			die("out of memory");
	}
	ep->idle[ep->nidle++] = sr->c;
	free(sr);
}

static void send_sample(size_t idx, unsigned node)
{
	node_ep *ep = &B.node[node];
	const item *it = &B.ld->items[idx];
	sample_req *sr = xcalloc(1, sizeof *sr);
	sr->node = node;
	sr->idx = idx;
	sr->c = ep->nidle ? ep->idle[--ep->nidle] : new_conn(ep);
	struct evhttp_request *req = evhttp_request_new(sample_cb, sr);
	add_headers(req, ep, "application/octet-stream", it->len);
	evbuffer_add(evhttp_request_get_output_buffer(req), it->p, it->len);
	char path[64];
	snprintf(path, sizeof path, "/v1/tx?wait_ms=%u", SAMPLE_WAIT_MS);
	sr->t_ns = now_ns();
	sr->in_window = B.in_window;
	if (evhttp_make_request(sr->c, req, EVHTTP_REQ_POST, path) != 0)
		die("cannot send a sample");
	B.inflight_samples++;
	B.accepted++;
}

/* How many more transactions may go out now. */
static size_t budget(void)
{
	if (B.closed)
		return 0;
	if (B.open_loop) {
		double due = B.open_rate * (double)(now_ns() - B.t0_ns) / 1e9;
		size_t released = due >= (double)B.ld->n ? B.ld->n : (size_t)due;
		return B.nretry + (released > B.next ? released - B.next : 0);
	}
	uint64_t committed = B.last.committed - B.committed_base;
	uint64_t out = B.accepted + B.inflight_txs;
	out = out > committed ? out - committed : 0;
	return out >= B.window ? 0 : B.window - out;
}

static bool take(size_t *idx)
{
	if (B.nretry > 0) {
		*idx = B.retry[0];
		memmove(B.retry, B.retry + 1, --B.nretry * sizeof *B.retry);
		return true;
	}
	if (B.next >= B.ld->n)
		return false;
	*idx = B.next++;
	return true;
}

static unsigned rr_node;

static void dispatch(void)
{
	if (B.ld == NULL)
		return;
	static cm_wr w;
	static bool winit;
	if (!winit) {
		cm_wr_init(&w);
		winit = true;
	}
	for (unsigned tries = 0; tries < B.nnodes * CONNS_PER_NODE; tries++) {
		size_t room = budget();
		if (room == 0)
			return;
		unsigned node = rr_node++ % B.nnodes;
		node_ep *ep = &B.node[node];
		unsigned c;
		for (c = 0; c < CONNS_PER_NODE && ep->busy[c]; c++)
			;
		if (c == CONNS_PER_NODE)
			continue;
		batch_req *br = xcalloc(1, sizeof *br);
		br->node = node;
		br->conn = c;
		size_t idx, bytes = 0;
		while (br->n < BATCH_TXS_MAX && room > 0 && bytes < BATCH_BYTES_MAX && take(&idx)) {
			room--;
			if (B.ld->items[idx].sample) {
				send_sample(idx, node);
			} else {
				br->idx[br->n++] = idx;
				bytes += B.ld->items[idx].len + 5u;
			}
		}
		if (br->n == 0) {
			free(br);
			continue;
		}
		cm_wr_reset(&w);
		cm_wr_array(&w, (uint32_t)br->n);
		for (size_t i = 0; i < br->n; i++)
			cm_wr_bin(&w, B.ld->items[br->idx[i]].p, B.ld->items[br->idx[i]].len);
		if (cm_wr_error(&w))
			die("out of memory");
		struct evhttp_request *req = evhttp_request_new(batch_cb, br);
		add_headers(req, ep, "application/msgpack", cm_wr_len(&w));
		evbuffer_add(evhttp_request_get_output_buffer(req), cm_wr_data(&w), cm_wr_len(&w));
		if (evhttp_make_request(ep->bconn[c], req, EVHTTP_REQ_POST, "/v1/txs") != 0)
			die("cannot send a batch");
		ep->busy[c] = true;
		B.inflight_reqs++;
		B.inflight_txs += br->n;
	}
}

/* ---- pollers and the clock ------------------------------------------------------------ */

static uint64_t metric(const char *text, const char *name)
{
	size_t nl = strlen(name);
	for (const char *p = text; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, name, nl) == 0 && p[nl] == ' ')
			return strtoull(p + nl + 1, NULL, 10);
	return 0;
}

static void metrics_cb(struct evhttp_request *req, void *arg)
{
	(void)arg;
	B.ppending = false;
	if (req == NULL || evhttp_request_get_response_code(req) != 200)
		return;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	char *text = xcalloc(len + 1, 1);
	evbuffer_remove(in, text, len);
	B.last.t_ns = now_ns();
	B.last.committed = metric(text, "carbon_txs_committed_total");
	B.last.blocks = metric(text, "carbon_blocks_committed_total");
	B.last.height = metric(text, "carbon_consensus_height");
	B.last.mempool = metric(text, "carbon_mempool_txs");
	B.last.verifies = metric(text, "carbon_sig_verifies_total");
	free(text);
	dispatch();
}

static void supply_cb(struct evhttp_request *req, void *arg)
{
	(void)arg;
	B.spending = false;
	if (req == NULL || evhttp_request_get_response_code(req) != 200)
		return;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	json_t *j = json_loadb((const char *)evbuffer_pullup(in, (ev_ssize_t)len), len, 0, NULL);
	if (j != NULL) {
		B.last_credit.t_ns = now_ns();
		B.last_credit.trips = json_u64(j, "trips_credited");
		B.have_credit = true;
	}
	json_decref(j);
}

static void poll_get(struct evhttp_connection *c, const char *path,
		     void (*cb)(struct evhttp_request *, void *))
{
	struct evhttp_request *req = evhttp_request_new(cb, NULL);
	add_headers(req, &B.node[0], NULL, 0);
	if (evhttp_make_request(c, req, EVHTTP_REQ_GET, path) != 0)
		die("cannot poll %s", path);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array, in milliseconds. */
static double pct_ms(const uint32_t *v, size_t n, double q)
{
	if (n == 0)
		return NAN;
	size_t r = (size_t)ceil(q * (double)n);
	if (r < 1)
		r = 1;
	return (double)v[r - 1] / 1000.0;
}

static void series_row(void)
{
	if (B.series == NULL || B.wname == NULL)
		return;
	unsigned k = B.nhist % SERIES_SPAN_S;
	const poll_snap *old = &B.hist[B.nhist >= SERIES_SPAN_S ? k : 0];
	const credit_snap *cold = &B.chist[B.nhist >= SERIES_SPAN_S ? k : 0];
	double dt = B.nhist ? (double)(B.last.t_ns - old->t_ns) / 1e9 : 0;
	double dtc = B.nhist ? (double)(B.last_credit.t_ns - cold->t_ns) / 1e9 : 0;
	double txs = dt > 0 ? (double)(B.last.committed - old->committed) / dt : 0;
	double cr = dtc > 0 ? (double)(B.last_credit.trips - cold->trips) / dtc : 0;
	B.hist[k] = B.last;
	B.chist[k] = B.last_credit;
	B.nhist++;
	qsort(B.sec_lat, B.nsec_lat, sizeof *B.sec_lat, cmp_u32);
	double p50 = pct_ms(B.sec_lat, B.nsec_lat, 0.5), p99 = pct_ms(B.sec_lat, B.nsec_lat, 0.99);
	/* gnuplot skips NaN: seconds without a sample leave a gap. */
	fprintf(B.series, "%s\t%.2f\t%.0f\t%.0f\t%.1f\t%.1f\t%llu\n", B.wname,
		(double)(now_ns() - B.run_t0_ns) / 1e9, txs, cr, p50, p99,
		(unsigned long long)B.last.mempool);
	fflush(B.series);
	B.nsec_lat = 0;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	B.ticks++;
	if (!B.ppending) {
		B.ppending = true;
		poll_get(B.pconn, "/metrics", metrics_cb);
	}
	if (B.ticks % (SLOW_POLL_MS / POLL_MS) == 0) {
		if (!B.spending) {
			B.spending = true;
			poll_get(B.sconn, "/v1/supply", supply_cb);
		}
		proc_sample();
	}
	if (B.ticks % (1000u / POLL_MS) == 0)
		series_row();
	dispatch();
}

static void open_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	dispatch();
}

/* Runs the loop until done() holds or deadline_ns passes (0: none). */
static void loop_until(bool (*done)(void), uint64_t deadline_ns)
{
	while (!done() && (deadline_ns == 0 || now_ns() < deadline_ns))
		event_base_loop(B.base, EVLOOP_ONCE);
}

static uint64_t g_deadline;
static bool past_deadline(void) { return now_ns() >= g_deadline; }

static void sleep_loop(uint64_t ms)
{
	g_deadline = now_ns() + ms * 1000000u;
	loop_until(past_deadline, 0);
}

static bool drained(void)
{
	if (B.inflight_reqs != 0 || B.inflight_samples != 0 || B.last.t_ns <= g_deadline)
		return false;
	/* Everything admitted has committed on node 0; or, should some never
	 * commit (a retried sample whose first copy did), node 0's mempool is
	 * empty 3 s into the drain. */
	uint64_t committed = B.last.committed - B.committed_base;
	return committed >= B.accepted ||
	       (B.last.mempool == 0 && B.last.t_ns > g_deadline + 3000000000u);
}

/* Waits up to max_s until every answer is in and what was admitted has
 * committed (as seen by a poll newer than this call). */
static void drain(unsigned max_s)
{
	g_deadline = now_ns();
	loop_until(drained, now_ns() + (uint64_t)max_s * 1000000000u);
	if (!drained())
		say("  warning: not drained after %u s (mempool %llu, %u requests in flight)\n",
		    max_s, (unsigned long long)B.last.mempool, B.inflight_reqs + B.inflight_samples);
}

/* ---- workloads ----------------------------------------------------------------------- */

typedef struct window_figs {
	double seconds;
	double tx_per_s, credits_per_s, blocks_per_s, txs_per_block;
	double cpu_s[NODES_MAX];
	uint64_t written;            /* bytes the nodes' disk wrote */
	double machine_busy;         /* fraction of all cores busy, any process */
	uint64_t disk_delta, committed;
	uint64_t verifies;           /* signature checks node 0 ran in the window */
	bool exhausted;
} window_figs;

static bool all_sent(void)
{
	return B.next >= B.ld->n && B.nretry == 0;
}

static keypair *spec_signer(const spec *s)
{
	switch (s->kind) {
	case SK_TRANSFER:
	case SK_REDEEM:
		return &B.acct[s->from];
	case SK_ISSUE:
	case SK_FUND:
		return &B.op[s->from].kp;
	default:
		return &B.merchant.kp;
	}
}

/* After a workload: transactions never sent (the window closed first, or
 * still waiting for a retry) and those rejected for good left their nonces
 * unused; the next workload must start each sender at its lowest unused
 * nonce, or all its transactions would wait behind a gap. Pre-signed
 * transactions are in nonce order per sender, so the unsent ones are each
 * sender's last. */
static void release_nonces(const load *l)
{
	bool *unused = xcalloc(l->n, sizeof *unused);
	for (size_t i = B.next; i < l->n; i++)
		unused[i] = true;
	for (size_t i = 0; i < B.nretry; i++)
		unused[B.retry[i]] = true;
	for (size_t i = 0; i < l->n; i++)
		if (unused[i] || l->items[i].failed) {
			keypair *kp = spec_signer(&l->specs[i]);
			if (l->specs[i].nonce < kp->nonce)
				kp->nonce = l->specs[i].nonce;
		}
	free(unused);
	B.nretry = 0;
}

/* Drives the current load: warm-up, then the measured window (or until
 * the load runs out), then stops sending and drains. */
static void start_load(load *l)
{
	B.ld = l;
	B.next = 0;
	B.nretry = 0;
	B.accepted = B.rejected = B.retried = B.http_errors = 0;
	B.sample_timeouts = B.sample_failed = 0;
	B.nreasons = 0;
	B.nlat = 0;
	B.nsec_lat = 0;
	B.closed = false;
	B.in_window = false;
	B.committed_base = B.last.committed;
	B.t0_ns = now_ns();
	B.nhist = 0;
}

static void drive(window_figs *f, bool measure_disk)
{
	memset(f, 0, sizeof *f);
	start_load(B.ld);
	uint64_t disk0 = measure_disk ? home_bytes(&B.node[0]) : 0;
	struct timeval otv = {0, OPEN_TICK_MS * 1000};
	if (B.open_loop)
		evtimer_add(B.open_tick, &otv);
	dispatch();

	g_deadline = B.t0_ns + (uint64_t)B.warmup_s * 1000000000u;
	loop_until(past_deadline, 0);
	poll_snap p0 = B.last;
	credit_snap c0 = B.last_credit;
	double cpu0[NODES_MAX];
	for (unsigned i = 0; i < B.nnodes; i++)
		cpu0[i] = proc_cpu_s(B.node[i].pid);
	uint64_t written0 = dev_written_bytes();
	uint64_t busy0, total0, busy1, total1;
	machine_jiffies(&busy0, &total0);
	B.in_window = true;
	uint64_t win_start = now_ns();
	if (B.mark != NULL && B.wname != NULL) {
		fprintf(B.mark, "%s window %u s\n", B.wname, B.seconds);
		fflush(B.mark);
	}
	g_deadline = win_start + (uint64_t)B.seconds * 1000000000u;
	while (!past_deadline()) {
		event_base_loop(B.base, EVLOOP_ONCE);
		if (all_sent() && !B.open_loop) {
			f->exhausted = true;
			break;
		}
		if (B.open_loop && all_sent() && B.next >= B.ld->n) {
			f->exhausted = now_ns() + 500000000u < g_deadline;
			break;
		}
	}
	/* The closing figures come from a poll taken after the window. */
	uint64_t t_end = now_ns();
	B.in_window = false;
	while (B.last.t_ns < t_end || (B.have_credit && B.last_credit.t_ns < t_end))
		event_base_loop(B.base, EVLOOP_ONCE);
	poll_snap p1 = B.last;
	credit_snap c1 = B.last_credit;
	for (unsigned i = 0; i < B.nnodes; i++)
		f->cpu_s[i] = proc_cpu_s(B.node[i].pid) - cpu0[i];
	uint64_t written1 = dev_written_bytes();
	f->written = written1 > written0 ? written1 - written0 : 0;
	machine_jiffies(&busy1, &total1);
	f->machine_busy = total1 > total0 ? (double)(busy1 - busy0) / (double)(total1 - total0) : 0;
	B.closed = true;
	if (B.open_loop)
		evtimer_del(B.open_tick);

	f->seconds = (double)(p1.t_ns - p0.t_ns) / 1e9;
	f->committed = p1.committed - p0.committed;
	f->verifies = p1.verifies - p0.verifies;
	f->tx_per_s = (double)f->committed / f->seconds;
	double dtc = (double)(c1.t_ns - c0.t_ns) / 1e9;
	f->credits_per_s = dtc > 0 ? (double)(c1.trips - c0.trips) / dtc : 0;
	f->blocks_per_s = (double)(p1.blocks - p0.blocks) / f->seconds;
	f->txs_per_block = p1.blocks > p0.blocks
				   ? (double)f->committed / (double)(p1.blocks - p0.blocks)
				   : 0;
	drain(DRAIN_S_MAX);
	release_nonces(B.ld);
	qsort(B.lat_us, B.nlat, sizeof *B.lat_us, cmp_u32);
	if (measure_disk) {
		uint64_t disk1 = home_bytes(&B.node[0]);
		f->disk_delta = disk1 > disk0 ? disk1 - disk0 : 0;
	}
}

/* Bytes the disk wrote per transaction committed in the window, per node
 * (the disk's count divided among the nodes): LMDB's rewritten pages, the
 * syncs of the safety state, the leaf cache's write-back. */
static double written_per_tx(const window_figs *f)
{
	return f->committed && B.nnodes ? (double)f->written / (double)f->committed / B.nnodes
					: 0;
}

static json_t *figs_json(const window_figs *f)
{
	json_t *lat = json_pack("{s:I, s:I, s:I}", "samples", (json_int_t)B.nlat, "timeouts",
				(json_int_t)B.sample_timeouts, "failed", (json_int_t)B.sample_failed);
	const struct {
		const char *k;
		double q;
	} qs[] = {{"p50_ms", 0.5}, {"p95_ms", 0.95}, {"p99_ms", 0.99}, {"max_ms", 1.0}};
	for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
		double v = pct_ms(B.lat_us, B.nlat, qs[i].q);
		json_object_set_new(lat, qs[i].k, isnan(v) ? json_null() : json_real(v));
	}
	json_t *cpu = json_array();
	for (unsigned i = 0; i < B.nnodes; i++)
		json_array_append_new(cpu, json_real(f->cpu_s[i]));
	json_t *why = json_object();
	for (unsigned i = 0; i < B.nreasons; i++)
		json_object_set_new(why, B.reasons[i].name, json_integer((json_int_t)B.reasons[i].n));
	/* CPU per committed transaction on an average node: what the figures
	 * would be on an idle machine depends on it, not on the neighbours. */
	double cpu_all = 0;
	for (unsigned i = 0; i < B.nnodes; i++)
		cpu_all += f->cpu_s[i];
	double us_per_tx = f->committed ? cpu_all / B.nnodes / (double)f->committed * 1e6 : 0;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	json_t *o = json_pack("{s:f, s:f, s:f, s:f, s:f, s:I, s:b, s:o, s:o, s:I, s:I, s:I, s:I, s:o}",
			 "window_s", f->seconds, "committed_tx_per_s", f->tx_per_s, "credits_per_s",
			 f->credits_per_s, "blocks_per_s", f->blocks_per_s, "txs_per_block",
			 f->txs_per_block, "committed_in_window", (json_int_t)f->committed,
			 "load_exhausted", f->exhausted, "latency", lat, "cpu_s_per_node", cpu,
			 "accepted", (json_int_t)B.accepted, "rejected", (json_int_t)B.rejected,
			 "retried", (json_int_t)B.retried, "http_errors", (json_int_t)B.http_errors,
			 "rejected_by_reason", why);
	json_object_set_new(o, "node_cpu_us_per_tx", json_real(us_per_tx));
	json_object_set_new(o, "cpu_bound_tx_per_s",
			    json_real(us_per_tx > 0 ? (double)ncpu * 1e6 / (us_per_tx * B.nnodes) : 0));
	json_object_set_new(o, "machine_busy", json_real(f->machine_busy));
	json_object_set_new(o, "disk_write_bytes_per_tx_per_node", json_real(written_per_tx(f)));
	json_object_set_new(o, "disk_write_mb_per_s",
			    json_real(f->seconds > 0 ? (double)f->written / f->seconds / 1e6 : 0));
	/* Node 0's signature checks per transaction committed in the same
	 * window: 1.0 when every transaction is verified exactly once per node
	 * (the window's edges shift it by a block's worth either way). */
	json_object_set_new(o, "sig_verifies_per_committed_tx",
			    json_real(f->committed ? (double)f->verifies / (double)f->committed : 0));
	return o;
}

static void print_figs(const char *name, const window_figs *f)
{
	say("  %s: %.0f tx/s committed, %.0f credits/s, %.2f blocks/s, %.0f tx/block; "
	    "latency p50 %.0f p99 %.0f max %.0f ms (%zu samples, %llu timeouts)%s\n",
	    name, f->tx_per_s, f->credits_per_s, f->blocks_per_s, f->txs_per_block,
	    pct_ms(B.lat_us, B.nlat, 0.5), pct_ms(B.lat_us, B.nlat, 0.99),
	    pct_ms(B.lat_us, B.nlat, 1.0), B.nlat, (unsigned long long)B.sample_timeouts,
	    f->exhausted ? " [load ran out before the window ended]" : "");
	double cpu_all = 0;
	for (unsigned i = 0; i < B.nnodes; i++)
		cpu_all += f->cpu_s[i];
	say("  %s: nodes used %.2f of %ld cores (%.0f us CPU per tx per node); the machine was "
	    "%.0f%% busy; node 0 ran %.2f signature checks per committed tx\n",
	    name, cpu_all / f->seconds, sysconf(_SC_NPROCESSORS_ONLN),
	    f->committed ? cpu_all / B.nnodes / (double)f->committed * 1e6 : 0,
	    f->machine_busy * 100,
	    f->committed ? (double)f->verifies / (double)f->committed : 0);
	say("  %s: the disk wrote %.1f MB/s, %.0f bytes per committed tx per node\n", name,
	    f->seconds > 0 ? (double)f->written / f->seconds / 1e6 : 0, written_per_tx(f));
	if (B.rejected)
		say("  %s: %llu transactions rejected (see rejected_by_reason)\n", name,
		    (unsigned long long)B.rejected);
}

/* Submits a load to node 0 with wait_ms on its last transaction, batch by
 * batch, and waits until everything committed (set-up, not timed). */
static bool setup_sent(void)
{
	return all_sent() && B.inflight_reqs == 0;
}

/* Submits a set-up load (funding, the offer) and waits until all of it has
 * committed; not timed. The funding is a few operators' long runs of
 * nonces spread over every node: a node holds at most
 * LIM_MEMPOOL_HELD_PER_SENDER_MAX of a sender's transactions ahead of a gap
 * (the earlier nonces are still on their way from another node), so the
 * window keeps each operator's run in flight below that. */
#define SETUP_WINDOW (LIM_MEMPOOL_HELD_PER_SENDER_MAX / 2u)
static void submit_and_wait(load *l, const char *what)
{
	uint64_t t = now_ns();
	B.open_loop = false;
	B.window = SETUP_WINDOW;
	B.wname = NULL;
	start_load(l);
	dispatch();
	loop_until(setup_sent, t + (uint64_t)SETUP_S_MAX * 1000000000u);
	if (!setup_sent())
		die("%s: not admitted after %u s", what, SETUP_S_MAX);
	B.closed = true;
	drain(SETUP_S_MAX);
	if (B.rejected)
		die("%s: %llu transactions rejected (first reason: %s)", what,
		    (unsigned long long)B.rejected, B.nreasons ? B.reasons[0].name : "?");
	if (B.last.committed - B.committed_base < l->n)
		die("%s: %llu of %zu transactions committed", what,
		    (unsigned long long)(B.last.committed - B.committed_base), l->n);
	B.ld = NULL;
	say("  %s: %zu transactions committed in %.1f s\n", what, l->n,
	    (double)(now_ns() - t) / 1e9);
}

static void setup_window(void)
{
	json_t *st = get_json(0, "/v1/status");
	uint64_t t_ms = json_u64(st, "latest_block_time_ms");
	json_decref(st);
	/* Claim window [block time - 7 d, + 600 s]; an hour of margin at the old
	 * end keeps every trip valid for the whole run. */
	B.lo_s = t_ms / 1000u - 7u * 86400u + 3600u;
}

static void fund_accounts(void)
{
	load l = {0};
	size_t cap = 0;
	for (uint64_t c = 0; c < B.nacct; c += LIM_TRIPS_PER_TX_MAX) {
		spec *s = spec_push(&l, &cap);
		s->kind = SK_FUND;
		s->from = 0;  /* metro */
		s->nonce = B.op[0].kp.nonce++;
		s->trip0 = c;
		s->ntrips = (uint32_t)(B.nacct - c < LIM_TRIPS_PER_TX_MAX ? B.nacct - c
									 : LIM_TRIPS_PER_TX_MAX);
	}
	load_encode(&l);
	submit_and_wait(&l, "funding (one 40 km metro trip per citizen)");
	load_free(&l);
}

static void publish_offer(void)
{
	load l = {0};
	size_t cap = 0;
	spec *s = spec_push(&l, &cap);
	s->kind = SK_OFFER;
	s->nonce = B.merchant.kp.nonce++;
	load_encode(&l);
	submit_and_wait(&l, "merchant offer");
	load_free(&l);
}

static size_t count_for(double rate)
{
	return (size_t)(rate * (double)(B.warmup_s + B.seconds) * 1.1) + 10u;
}

static json_t *run_closed(const char *name, load *l, uint32_t window, bool disk)
{
	say("%s: window %u transactions in flight, %u s warm-up + %u s measured\n", name, window,
	    B.warmup_s, B.seconds);
	B.ld = l;
	B.wname = name;
	B.open_loop = false;
	B.window = window;
	window_figs f;
	drive(&f, disk);
	print_figs(name, &f);
	json_t *o = figs_json(&f);
	if (disk && f.committed > 0) {
		/* Everything the workload committed, warm-up and drain included. */
		uint64_t all = B.accepted;
		json_object_set_new(o, "disk_bytes_per_tx",
				    json_real(all ? (double)f.disk_delta / (double)all : 0));
		say("  %s: %.0f bytes on disk per committed transaction (node 0)\n", name,
		    all ? (double)f.disk_delta / (double)all : 0);
	}
	B.ld = NULL;
	B.wname = NULL;
	return o;
}

static json_t *wl_transfers(void)
{
	load l = {0};
	size_t cap = 0, n = count_for(B.rate_max);
	for (size_t i = 0; i < n; i++)
		gen_transfer(&l, &cap);
	mark_samples(&l, B.sample_every);
	load_encode(&l);
	json_t *o = run_closed("transfers", &l, B.window_transfers, true);
	load_free(&l);
	return o;
}

static json_t *wl_issue(void)
{
	load l = {0};
	size_t cap = 0, n = count_for(B.credits_max / LIM_TRIPS_PER_TX_MAX);
	for (size_t i = 0; i < n; i++)
		gen_issue(&l, &cap, (unsigned)(i % B.nops));
	mark_samples(&l, 4);
	load_encode(&l);
	json_t *o = run_closed("issue", &l, B.window_issue, false);
	load_free(&l);
	return o;
}

/* A city day in transactions: per citizen and day about 2 credited trips
 * (reported in batches of 1,000), a redemption every ten days or so and a
 * transfer to family or friends every twenty: per 100 transactions, 1
 * issue batch, 66 redemptions and 33 transfers. */
static json_t *wl_mixed(double rate_hint)
{
	load l = {0};
	size_t cap = 0, n = count_for(rate_hint);
	for (size_t i = 0; i < n; i++) {
		unsigned k = (unsigned)(i % 100);
		if (k == 0)
			gen_issue(&l, &cap, (unsigned)((i / 100) % B.nops));
		else if (k % 3 == 1)
			gen_transfer(&l, &cap);
		else
			gen_redeem(&l, &cap);
	}
	mark_samples(&l, B.sample_every);
	load_encode(&l);
	json_t *o = run_closed("mixed", &l, B.window_mixed, false);
	load_free(&l);
	return o;
}

static json_t *wl_open(const char *name, double rate)
{
	load l = {0};
	size_t cap = 0, n = (size_t)(rate * (double)(B.warmup_s + B.seconds)) + 1;
	for (size_t i = 0; i < n; i++)
		gen_transfer(&l, &cap);
	mark_samples(&l, B.sample_every);
	load_encode(&l);
	say("%s: open loop at %.0f transfers/s, %u s warm-up + %u s measured\n", name, rate,
	    B.warmup_s, B.seconds);
	B.ld = &l;
	B.wname = name;
	B.open_loop = true;
	B.open_rate = rate;
	window_figs f;
	drive(&f, false);
	print_figs(name, &f);
	json_t *o = figs_json(&f);
	json_object_set_new(o, "offered_tx_per_s", json_real(rate));
	B.ld = NULL;
	B.wname = NULL;
	B.open_loop = false;
	load_free(&l);
	return o;
}

/* Admission alone: a burst of pre-signed transfers, all of them in the
 * mempool's bound, through POST /v1/txs with every connection busy;
 * admitted transactions per second from the first request to the last
 * answer. Blocks keep being built meanwhile, as they would. */
static json_t *wl_admit(size_t n)
{
	load l = {0};
	size_t cap = 0;
	for (size_t i = 0; i < n; i++)
		gen_transfer(&l, &cap);
	load_encode(&l);
	say("admit: %zu transfers through POST /v1/txs as fast as answered\n", n);
	B.wname = "admit";
	B.open_loop = false;
	B.window = UINT32_MAX;
	start_load(&l);
	uint64_t t0 = B.t0_ns;
	dispatch();
	uint64_t deadline = t0 + (uint64_t)DRAIN_S_MAX * 1000000000u;
	while (!(all_sent() && B.inflight_reqs == 0) && now_ns() < deadline)
		event_base_loop(B.base, EVLOOP_ONCE);
	double s = (double)(now_ns() - t0) / 1e9;
	double rate = (double)B.accepted / s;
	say("  admit: %llu admitted in %.2f s: %.0f tx/s (%llu retried after mempool_full)\n",
	    (unsigned long long)B.accepted, s, rate, (unsigned long long)B.retried);
	B.closed = true;
	drain(DRAIN_S_MAX);
	release_nonces(&l);
	json_t *o = json_pack("{s:I, s:f, s:f, s:I, s:I}", "admitted", (json_int_t)B.accepted,
			      "seconds", s, "admission_per_s", rate, "retried",
			      (json_int_t)B.retried, "rejected", (json_int_t)B.rejected);
	B.ld = NULL;
	B.wname = NULL;
	load_free(&l);
	return o;
}

/* ---- set-up ---------------------------------------------------------------------------- */

static void read_operator(const char *net, const ledger_genesis *g, const char *name,
			  operator_key *op, uint8_t mode)
{
	char path[600];
	snprintf(path, sizeof path, "%s/keys/%s.key", net, name);
	const char *pass = getenv("CARBON_PASSPHRASE");
	if (pass == NULL)
		die("CARBON_PASSPHRASE is not set (the genesis keystores' passphrase)");
	int rc = ck_keystore_read(path, pass, strlen(pass), op->kp.sk);
	if (rc != 0)
		die("%s: %s", path, ck_strerror(rc));
	ck_seckey_pubkey(op->kp.pk, op->kp.sk);
	snprintf(op->name, sizeof op->name, "%s", name);
	op->mode = mode;
	op->member_id = 0;
	for (uint32_t i = 0; i < g->nmembers; i++)
		if (strcmp(g->members[i].name, name) == 0)
			op->member_id = g->members[i].id;
	if (op->member_id == 0)
		die("genesis has no member %s", name);
	/* The next nonce, counting pending transactions. */
	char addr[CK_ADDRESS_STRLEN + 1], p[128];
	ck_address_encode(addr, op->kp.pk);
	snprintf(p, sizeof p, "/v1/account/%s", addr);
	json_t *a = get_json(0, p);
	op->kp.nonce = json_u64(a, "nonce");
	json_decref(a);
}

static void parse_api(const char *list)
{
	const char *p = list;
	while (*p) {
		if (B.nnodes == NODES_MAX)
			die("at most %u nodes", NODES_MAX);
		node_ep *ep = &B.node[B.nnodes++];
		size_t n = strcspn(p, ",");
		char one[80];
		if (n >= sizeof one)
			die("bad --api entry");
		memcpy(one, p, n);
		one[n] = 0;
		char *colon = strrchr(one, ':');
		if (colon == NULL)
			die("--api wants HOST:PORT, got %s", one);
		*colon = 0;
		ep->port = (uint16_t)atoi(colon + 1);
		snprintf(ep->hostport, sizeof ep->hostport, "%s:%u", one, ep->port);
		snprintf(ep->host, sizeof ep->host, "%s", one);
		p += n;
		if (*p == ',')
			p++;
	}
}

static void parse_list(const char *list, void (*set)(unsigned i, const char *v))
{
	unsigned i = 0;
	const char *p = list;
	while (*p && i < NODES_MAX) {
		size_t n = strcspn(p, ",");
		char one[512];
		if (n >= sizeof one)
			die("list entry too long");
		memcpy(one, p, n);
		one[n] = 0;
		set(i++, one);
		p += n;
		if (*p == ',')
			p++;
	}
}

static void set_pid(unsigned i, const char *v) { B.node[i].pid = (pid_t)atoi(v); }
static void set_home(unsigned i, const char *v)
{
	snprintf(B.node[i].home, sizeof B.node[i].home, "%s", v);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_node_load run --net DIR --api H:P[,H:P...] [options]\n"
		"       bench_node_load limits [--seconds S] [--dir DIR]\n"
		"run options:\n"
		"  --pids P,...        node pids, in --api order (CPU, RSS, heap from /proc)\n"
		"  --homes D,...       node homes, in --api order (bytes on disk)\n"
		"  --accounts N        citizen accounts (default 100000)\n"
		"  --workloads LIST    of transfers, issue, mixed, open50, open80, admit\n"
		"                      (default transfers,issue,mixed,open50,open80)\n"
		"  --seconds S         measured window of each workload (default 30)\n"
		"  --warmup S          before each window (default 5)\n"
		"  --rate-max R        transfers/s to pre-sign for (default 10000)\n"
		"  --transfers-max R   the maximum open50/open80 take half and 80%% of, when\n"
		"                      the transfers workload does not run first\n"
		"  --credits-max R     trip credits/s to pre-sign for (default 40000)\n"
		"  --window N          transfers in flight, closed loop (default 10000, two\n"
		"                      full blocks; issuance keeps 80 batches, mixed 4000)\n"
		"  --admit N           transfers of the admission burst (default 60000)\n"
		"  --sample-every K    one latency sample per K transactions (default 100)\n"
		"  --threads T         signing threads (default: online CPUs)\n"
		"  --out FILE          JSON results (default stdout)\n"
		"  --series FILE       per-second series (TSV) for plots\n"
		"  --mark FILE         appends \"<workload> window <S> s\" when a window starts\n"
		"CARBON_PASSPHRASE must hold the passphrase of the genesis keystores.\n");
}

/* ---- limits: synced LMDB commits on this disk ----------------------------------------- */

static int cmd_limits(int argc, char **argv)
{
	unsigned seconds = 2;
	const char *dir = NULL;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = (unsigned)atoi(argv[++i]);
		else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else {
			usage(stderr);
			return 2;
		}
	}
	char tmpl[512];
	snprintf(tmpl, sizeof tmpl, "%s/bench-lmdb-XXXXXX", dir ? dir : "/var/tmp");
	if (mkdtemp(tmpl) == NULL)
		die("mkdtemp %s: %s", tmpl, strerror(errno));
	MDB_env *env;
	MDB_dbi dbi;
	MDB_txn *txn;
	if (mdb_env_create(&env) || mdb_env_set_mapsize(env, 64u << 20) ||
	    mdb_env_open(env, tmpl, 0, 0600))
		die("mdb_env_open %s failed", tmpl);
	if (mdb_txn_begin(env, NULL, 0, &txn) || mdb_dbi_open(txn, NULL, 0, &dbi) ||
	    mdb_txn_commit(txn))
		die("mdb_dbi_open failed");
	/* The default flags: every commit is synced (fdatasync), as the
	 * ledger's and the safety store's are. One small record per commit. */
	uint8_t val[128];
	randombytes_buf(val, sizeof val);
	uint64_t n = 0, t0 = now_ns(), end = t0 + (uint64_t)seconds * 1000000000u, t;
	do {
		uint64_t key = n;
		MDB_val k = {sizeof key, &key}, v = {sizeof val, val};
		if (mdb_txn_begin(env, NULL, 0, &txn) || mdb_put(txn, dbi, &k, &v, 0) ||
		    mdb_txn_commit(txn))
			die("LMDB write failed");
		n++;
		t = now_ns();
	} while (t < end);
	mdb_env_close(env);
	char path[600];
	snprintf(path, sizeof path, "%s/data.mdb", tmpl);
	unlink(path);
	snprintf(path, sizeof path, "%s/lock.mdb", tmpl);
	unlink(path);
	rmdir(tmpl);
	double rate = (double)n / ((double)(t - t0) / 1e9);

	/* Ed25519 verifications per second of CPU time on this thread: unlike
	 * a wall-clock rate it does not drop when other processes share the
	 * cores, so times the core count it estimates the idle machine's
	 * all-core rate. Same message size and function as bench_crypto. */
	enum { VSAMPLES = 64, VMSG_BYTES = 256 };
	static uint8_t msg[VSAMPLES][VMSG_BYTES];
	static ck_sig sig[VSAMPLES];
	static ck_pubkey pk[VSAMPLES];
	for (unsigned i = 0; i < VSAMPLES; i++) {
		ck_seckey sk;
		ck_keypair(pk[i], sk);
		randombytes_buf(msg[i], VMSG_BYTES);
		ck_sign(sig[i], sk, CK_DOM_TX, "bench", msg[i], VMSG_BYTES);
		sodium_memzero(sk, sizeof sk);
	}
	struct timespec c0, c1;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	uint64_t nv = 0;
	double cpu_s;
	do {
		for (unsigned i = 0; i < VSAMPLES; i++)
			if (ck_verify(sig[i], pk[i], CK_DOM_TX, "bench", msg[i], VMSG_BYTES) != 0)
				die("a valid signature failed to verify");
		nv += VSAMPLES;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
		cpu_s = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
	} while (cpu_s < (double)seconds);
	printf("{\"lmdb_synced_commits_per_s\": %.1f, \"verify_per_cpu_s\": %.0f}\n", rate,
	       (double)nv / cpu_s);
	return 0;
}

/* ---- run ------------------------------------------------------------------------------- */

static int cmd_run(int argc, char **argv)
{
	const char *net = NULL, *api = NULL, *out = NULL, *series = NULL, *mark = NULL;
	const char *workloads = "transfers,issue,mixed,open50,open80";
	size_t admit_n = 60000;
	B.nacct = 100000;
	B.seconds = 30;
	B.warmup_s = 5;
	B.rate_max = 10000;
	B.credits_max = 40000;
	B.window_transfers = 10000;
	B.window_issue = 80;
	B.window_mixed = 4000;
	B.sample_every = 100;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	g_threads = ncpu < 1 ? 1 : ncpu > (long)THREADS_MAX ? THREADS_MAX : (unsigned)ncpu;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (v == NULL) {
			usage(stderr);
			return 2;
		}
		i++;
		if (strcmp(a, "--net") == 0) net = v;
		else if (strcmp(a, "--api") == 0) api = v;
		else if (strcmp(a, "--pids") == 0) parse_list(v, set_pid);
		else if (strcmp(a, "--homes") == 0) parse_list(v, set_home);
		else if (strcmp(a, "--accounts") == 0) B.nacct = (uint32_t)atoi(v);
		else if (strcmp(a, "--workloads") == 0) workloads = v;
		else if (strcmp(a, "--seconds") == 0) B.seconds = (unsigned)atoi(v);
		else if (strcmp(a, "--warmup") == 0) B.warmup_s = (unsigned)atoi(v);
		else if (strcmp(a, "--rate-max") == 0) B.rate_max = atof(v);
		else if (strcmp(a, "--transfers-max") == 0) B.transfers_max_given = atof(v);
		else if (strcmp(a, "--credits-max") == 0) B.credits_max = atof(v);
		else if (strcmp(a, "--window") == 0) B.window_transfers = (uint32_t)atoi(v);
		else if (strcmp(a, "--admit") == 0) admit_n = (size_t)atol(v);
		else if (strcmp(a, "--sample-every") == 0) B.sample_every = (uint32_t)atoi(v);
		else if (strcmp(a, "--threads") == 0) g_threads = (unsigned)atoi(v);
		else if (strcmp(a, "--out") == 0) out = v;
		else if (strcmp(a, "--series") == 0) series = v;
		else if (strcmp(a, "--mark") == 0) mark = v;
		else {
			usage(stderr);
			return 2;
		}
	}
	if (net == NULL || api == NULL || B.nacct < 2 || B.seconds == 0 || g_threads == 0 ||
	    g_threads > THREADS_MAX) {
		usage(stderr);
		return 2;
	}
	char path[600], err[256];
	snprintf(path, sizeof path, "%s/genesis.json", net);
	ledger_genesis *g;
	if (ledger_genesis_load(path, &g, err, sizeof err) != 0)
		die("%s: %s", path, err);
	snprintf(B.chain_id, sizeof B.chain_id, "%s", g->chain_id);
	B.run_t0_ns = now_ns();
	B.base = event_base_new();
	if (B.base == NULL)
		die("event_base_new failed");
	parse_api(api);
	if (series != NULL && (B.series = fopen(series, "a")) == NULL)
		die("%s: %s", series, strerror(errno));
	if (mark != NULL && (B.mark = fopen(mark, "a")) == NULL)
		die("%s: %s", mark, strerror(errno));

	read_operator(net, g, "metro", &B.op[0], LEDGER_MODE_METRO);
	read_operator(net, g, "bus", &B.op[1], LEDGER_MODE_BUS);
	read_operator(net, g, "bikeshare", &B.op[2], LEDGER_MODE_CYCLE);
	B.nops = 3;
	read_operator(net, g, "green-store", &B.merchant, 0);
	ledger_genesis_free(g);

	for (unsigned i = 0; i < B.nnodes; i++)
		for (unsigned c = 0; c < CONNS_PER_NODE; c++)
			B.node[i].bconn[c] = new_conn(&B.node[i]);
	B.pconn = new_conn(&B.node[0]);
	B.sconn = new_conn(&B.node[0]);
	B.tick = event_new(B.base, -1, EV_PERSIST, tick_cb, NULL);
	B.open_tick = event_new(B.base, -1, EV_PERSIST, open_tick_cb, NULL);
	struct timeval tv = {0, POLL_MS * 1000};
	evtimer_add(B.tick, &tv);
	B.rng = 42;

	say("bench_node_load: %u nodes, chain %s, %u citizens\n", B.nnodes, B.chain_id, B.nacct);
	uint64_t t = now_ns();
	B.acct = xcalloc(B.nacct, sizeof *B.acct);
	parallel_ranges(B.nacct, keys_range, NULL);
	say("  derived %u citizen keys in %.1f s\n", B.nacct, (double)(now_ns() - t) / 1e9);
	sleep_loop(300);  /* first polls */
	setup_window();
	t = now_ns();
	fund_accounts();
	double fund_s = (double)(now_ns() - t) / 1e9;
	publish_offer();

	json_t *res = json_object();
	json_t *wl = json_object();
	double transfers_max = B.transfers_max_given, credits_found = 0;
	const char *p = workloads;
	while (*p) {
		size_t n = strcspn(p, ",");
		char name[32];
		snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name ? n : sizeof name - 1), p);
		p += n + (p[n] == ',');
		json_t *o;
		if (strcmp(name, "transfers") == 0) {
			o = wl_transfers();
			transfers_max = json_real_value(json_object_get(o, "committed_tx_per_s"));
		} else if (strcmp(name, "issue") == 0) {
			o = wl_issue();
			credits_found = json_real_value(json_object_get(o, "credits_per_s"));
		} else if (strcmp(name, "mixed") == 0) {
			/* Time per 100 mixed transactions from the rates found so
			 * far (99 small ones, 1,000 credits), with room to spare. */
			double tr = transfers_max > 0 ? transfers_max : B.rate_max;
			double cr = credits_found > 0 ? credits_found : B.credits_max;
			o = wl_mixed(1.5 * 100.0 / (99.0 / tr + 1000.0 / cr));
		} else if (strcmp(name, "open50") == 0 || strcmp(name, "open80") == 0) {
			if (transfers_max <= 0)
				die("%s needs the transfers workload first (or --transfers-max)", name);
			o = wl_open(name, transfers_max * (name[4] == '5' ? 0.5 : 0.8));
		} else if (strcmp(name, "admit") == 0) {
			o = wl_admit(admit_n);
		} else {
			die("unknown workload %s", name);
		}
		json_object_set_new(wl, name, o);
	}

	json_t *nodes = json_array();
	proc_sample();
	for (unsigned i = 0; i < B.nnodes; i++) {
		node_ep *ep = &B.node[i];
		json_array_append_new(
			nodes, json_pack("{s:s, s:i, s:f, s:f, s:f, s:f, s:I}", "api", ep->hostport,
					 "pid", (int)ep->pid, "cpu_s_total", proc_cpu_s(ep->pid),
					 "rss_mb_max", (double)ep->hwm_kb / 1024.0, "rss_mb_max_sampled",
					 (double)ep->rss_kb_max / 1024.0, "heap_mb_max",
					 (double)ep->anon_kb_max / 1024.0, "disk_bytes",
					 (json_int_t)home_bytes(ep)));
	}
	json_object_set_new(res, "nodes", json_integer(B.nnodes));
	json_object_set_new(res, "accounts", json_integer(B.nacct));
	json_object_set_new(res, "funding_s", json_real(fund_s));
	json_object_set_new(res, "seconds", json_integer(B.seconds));
	json_object_set_new(res, "warmup_s", json_integer(B.warmup_s));
	json_object_set_new(res, "committed_total", json_integer((json_int_t)B.last.committed));
	json_object_set_new(res, "height", json_integer((json_int_t)B.last.height));
	json_object_set_new(res, "workloads", wl);
	json_object_set_new(res, "per_node", nodes);
	if (json_dump_file(res, out ? out : "/dev/stdout", JSON_INDENT(2)) != 0)
		die("cannot write %s", out ? out : "stdout");
	json_decref(res);
	if (B.series)
		fclose(B.series);
	if (B.mark)
		fclose(B.mark);
	return 0;
}

int main(int argc, char **argv)
{
	/* A node closes connections that sat idle past its deadline (key
	 * derivation and signing take longer than that): writing to one must
	 * be an error evhttp reports, not a signal that kills us. */
	signal(SIGPIPE, SIG_IGN);
	if (ck_init() != 0)
		die("%s", ck_strerror(CK_E_INIT));
	if (argc >= 2 && strcmp(argv[1], "run") == 0)
		return cmd_run(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "limits") == 0)
		return cmd_limits(argc, argv);
	usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
	return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
}
