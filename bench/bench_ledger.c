/*
 * bench_ledger: how fast the ledger applies blocks, the figures issue 2
 * asks for. Three runs, each in a fresh data directory under $TMPDIR (or
 * /var/tmp, a real disk, so synced commits cost what they cost):
 *
 *   1. transfers, durable: blocks of 1,000 transfers among 100,000 funded
 *      accounts, applied with ledger_apply_block() exactly as the node
 *      does: state, state root, block store, results, query indexes, and a
 *      synced LMDB commit per block.
 *   2. transfers, state-only: blocks of 5,000 transfers with the commit not
 *      synced (opt.nosync), so the figure is the cost of executing and
 *      committing to the state (rules, LMDB writes, state root) and its
 *      indexes, without the disk flush.
 *   3. trip credits, durable: issue batches of 1,000 trips (10 per block)
 *      with 2,000,000 trips already credited inside the claim window, so
 *      de-duplication, overlap and cap lookups run against a full window.
 *
 * Signatures are not part of the figures: ledger_apply_block() does not
 * verify them (a block is checked, with signatures, before it is voted on;
 * the mempool caches verified ones), so the transactions carry zero
 * signatures here. Only ledger_apply_block() is timed; building and
 * encoding the transactions is not.
 *
 * It also times a 4 KiB write + fdatasync() in the same directory: LMDB's
 * synced commit costs two of those, which on a shared virtual disk can be
 * most of a block's time.
 *
 * Each figure is given on the wall clock and on the process's CPU time
 * (user + system) spent inside ledger_apply_block(): on a shared machine
 * the CPU figure is the steadier one, the wall figure includes waiting for
 * the disk and for the core. The bytes a block's commit writes (Linux
 * /proc/self/io) explain most of the difference.
 *
 *   build/bench/bench_ledger [--quick] [--blocks N] [--no-audit] [transfers|trips]
 *   build/bench/bench_ledger heap [N]
 *
 * heap measures the ledger's heap (RssAnon) with N citizens (default
 * 1,000,000) each funded by one credited trip: the state of issue 6's
 * memory target. It loads the state, then execs itself to open it in a
 * fresh process and apply a few blocks (see run_heap_load); last, it
 * reopens the directory without the state root's leaves (smt/) and times
 * their rebuild.
 *
 * --blocks sets the number of measured blocks of every run; --no-audit
 * skips the audit after the trip run. To profile only the measured blocks,
 * set BENCH_PERF_CTL to the control FIFO of a perf started disabled:
 *
 *   mkfifo /tmp/ctl && BENCH_PERF_CTL=/tmp/ctl perf record -e cpu-clock -g \
 *       -D -1 --control fifo:/tmp/ctl build/bench/bench_ledger trips
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <ftw.h>
#include <lmdb.h>
#include <sys/stat.h>

#include "ledger/ledger.h"

#define CHAIN "bench-city"
#define GENESIS_MS 1700000000000ull
#define TZ (8 * 3600)
/* Funded accounts: 100,000, or what the heap mode asks for. */
static uint32_t accounts = 100000u;
#define TRIPS_PER_TX 1000u

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

/* Bytes this process has written so far (Linux /proc/self/io "wchar"; 0
 * where it is not available): what a commit writes to the data file. */
static uint64_t written_bytes(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];
	unsigned long long w = 0;
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "wchar: %llu", &w) == 1)
			break;
	fclose(f);
	return w;
}

/* Time spent in ledger_apply_block(), wall and CPU, and bytes written. */
typedef struct cost {
	uint64_t wall_ns, cpu_ns, written;
} cost;

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_ledger: %s: %s\n", what, ledger_strerror(rc));
	exit(1);
}

static int rm_cb(const char *p, const struct stat *s, int flag, struct FTW *ftw)
{
	(void)s;
	(void)flag;
	(void)ftw;
	return remove(p);
}

typedef struct bench {
	char dir[256];
	ledger_genesis g;
	ledger_member members[2];
	ledger *l;
	ck_pubkey *acct;        /* `accounts` pseudo keys */
	uint64_t *nonce;
	ck_pubkey issuer;
	uint64_t issuer_nonce;
	uint64_t time_ms;
	uint32_t trip_seq;
} bench;

static void acct_key(ck_pubkey out, uint32_t i)
{
	ck_hash_tagged(out, "bench-account", &i, sizeof i);
}

static void bench_open(bench *b, bool nosync)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(b->dir, sizeof b->dir, "%s/bench-ledger-XXXXXX", tmp != NULL ? tmp : "/var/tmp");
	if (mkdtemp(b->dir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	ledger_options opt = { .map_bytes = (size_t)16 << 30, .nosync = nosync };
	int rc = ledger_open(&b->l, b->dir, &b->g, &opt);
	if (rc != 0)
		die("open", rc);
	ledger_info info;
	if ((rc = ledger_get_info(b->l, &info)) != 0)
		die("info", rc);
	b->time_ms = info.time_ms;
	b->issuer_nonce = 0;
	memset(b->nonce, 0, accounts * sizeof *b->nonce);
}

/* The run's last state root: every build must print the same one for the
 * same run (the storage may change, the state it commits to may not). */
static void print_root(bench *b)
{
	ledger_info info;
	char hex[2 * CK_HASH_BYTES + 1];
	int rc = ledger_get_info(b->l, &info);
	if (rc != 0)
		die("info", rc);
	cm_hex_encode(hex, info.state_root, CK_HASH_BYTES);
	printf("  state root at height %llu: %s\n", (unsigned long long)info.height, hex);
}

static void bench_close(bench *b)
{
	ledger_close(b->l);
	b->l = NULL;
	nftw(b->dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

static void bench_init(bench *b)
{
	memset(b, 0, sizeof *b);
	b->acct = malloc(accounts * sizeof *b->acct);
	b->nonce = calloc(accounts, sizeof *b->nonce);
	if (b->acct == NULL || b->nonce == NULL)
		die("alloc", LEDGER_E_NOMEM);
	for (uint32_t i = 0; i < accounts; i++)
		acct_key(b->acct[i], i);
	snprintf(b->g.chain_id, sizeof b->g.chain_id, CHAIN);
	b->g.genesis_time_ms = GENESIS_MS;
	b->g.tz_offset_s = TZ;
	b->g.governor_threshold = 1;
	b->g.nmembers = 2;
	b->g.members = b->members;
	ledger_member *m = &b->members[0];
	m->id = 1;
	snprintf(m->name, sizeof m->name, "city");
	m->roles = LEDGER_ROLE_GOVERNOR | LEDGER_ROLE_VALIDATOR;
	m->nkeys = 1;
	ck_hash_tagged(m->keys[0], "bench-city", "", 0);
	m = &b->members[1];
	m->id = 2;
	snprintf(m->name, sizeof m->name, "metro");
	m->roles = LEDGER_ROLE_ISSUER;
	m->modes = 1u << LEDGER_MODE_METRO;
	m->nkeys = 1;
	ck_hash_tagged(m->keys[0], "bench-metro", "", 0);
	memcpy(b->issuer, m->keys[0], CK_PUBKEY_BYTES);
	ledger_methodology_default(&b->g.methodology);
	ledger_genesis_hash(b->g.hash, &b->g);
}

/* Median of 21 x (4 KiB pwrite + fdatasync) in dir, in microseconds. */
static uint64_t fsync_probe_us(const char *dir)
{
	char path[300];
	uint8_t buf[4096];
	uint64_t t[21];
	snprintf(path, sizeof path, "%s/probe", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		perror("probe");
		exit(1);
	}
	memset(buf, 0xa5, sizeof buf);
	for (unsigned i = 0; i < 21; i++) {
		uint64_t t0 = now_ns();
		if (pwrite(fd, buf, sizeof buf, (off_t)(i % 4) * 4096) != (ssize_t)sizeof buf ||
		    fdatasync(fd) != 0) {
			perror("probe");
			exit(1);
		}
		t[i] = (now_ns() - t0) / 1000;
	}
	close(fd);
	unlink(path);
	for (unsigned i = 1; i < 21; i++)
		for (unsigned j = i; j > 0 && t[j - 1] > t[j]; j--) {
			uint64_t x = t[j];
			t[j] = t[j - 1];
			t[j - 1] = x;
		}
	return t[10];
}

/* ---- bytes on disk ------------------------------------------------------------ */

static void mdb_die(const char *what, int rc)
{
	fprintf(stderr, "bench_ledger: %s: %s\n", what, mdb_strerror(rc));
	exit(1);
}

/* What the data directory holds, read with LMDB itself while the ledger is
 * closed (an environment must not be open twice in one process): the file
 * size, the pages below LMDB's high-water mark and how many of those are on
 * the freelist, and the pages (branch, leaf, overflow) and entries of each
 * named database. The difference of two readings, divided by the
 * transactions committed in between, is what a transaction costs on disk
 * and which database it goes to.
 *
 * Also the numbers of each database's leaf pages (the page a key lies on:
 * keys are always inline). LMDB copies every page a write transaction
 * changes to a new page number, so the leaf pages of the second reading
 * that the first lacks are the ones the blocks in between rewrote: the
 * random pages a commit writes and syncs. Over several blocks a page
 * rewritten twice counts once and a freed page number taken again by the
 * same database is missed (the figure is not additive), so it is printed
 * for the whole run: --blocks 1 gives one block's, exactly. */
#define STATS_DBS_MAX 24
typedef struct disk_stats {
	uint64_t file_bytes, psize, last_pgno, free_pages;
	uint32_t ndbs;
	char name[STATS_DBS_MAX][16];
	uint64_t pages[STATS_DBS_MAX], entries[STATS_DBS_MAX];
	uint64_t *leaf[STATS_DBS_MAX];   /* sorted leaf page numbers (malloc'd) */
	size_t nleaf[STATS_DBS_MAX];
} disk_stats;

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The sorted, distinct leaf page numbers of dbi into s's slot i. */
static void leaf_pages_read(disk_stats *s, uint32_t i, MDB_txn *txn, MDB_dbi dbi,
			    const MDB_envinfo *info, uint64_t entries)
{
	MDB_cursor *c;
	MDB_val k, v;
	size_t n = 0, cap = entries ? entries : 1;
	uint64_t *p = malloc(cap * sizeof *p);
	int rc;
	if (p == NULL)
		die("alloc", LEDGER_E_NOMEM);
	if ((rc = mdb_cursor_open(txn, dbi, &c)) != 0)
		mdb_die(s->name[i], rc);
	while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0 && n < cap) {
		uint64_t pg = (uint64_t)((const char *)k.mv_data - (const char *)info->me_mapaddr) /
			      s->psize;
		if (n == 0 || p[n - 1] != pg)
			p[n++] = pg;
	}
	mdb_cursor_close(c);
	qsort(p, n, sizeof *p, cmp_u64);
	s->leaf[i] = p;
	s->nleaf[i] = n;
}

/* How many of z's leaf pages of database i are not among a's. */
static size_t leaf_pages_new(const disk_stats *a, const disk_stats *z, uint32_t i)
{
	const uint64_t *pa = NULL;
	size_t na = 0, j = 0, out = 0;
	for (uint32_t x = 0; x < a->ndbs; x++)
		if (strcmp(a->name[x], z->name[i]) == 0) {
			pa = a->leaf[x];
			na = a->nleaf[x];
		}
	for (size_t m = 0; m < z->nleaf[i]; m++) {
		while (j < na && pa[j] < z->leaf[i][m])
			j++;
		if (j == na || pa[j] != z->leaf[i][m])
			out++;
	}
	return out;
}

static void disk_stats_free(disk_stats *s)
{
	for (uint32_t i = 0; i < s->ndbs; i++)
		free(s->leaf[i]);
	s->ndbs = 0;
}

static void disk_stats_read(const char *dir, disk_stats *s)
{
	char path[300];
	struct stat st;
	MDB_env *env;
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_dbi main_dbi;
	MDB_val k, v;
	MDB_envinfo info;
	MDB_stat ms;
	int rc;

	memset(s, 0, sizeof *s);
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	if (stat(path, &st) != 0) {
		perror(path);
		exit(1);
	}
	s->file_bytes = (uint64_t)st.st_size;
	if ((rc = mdb_env_create(&env)) != 0 || (rc = mdb_env_set_maxdbs(env, STATS_DBS_MAX)) != 0 ||
	    (rc = mdb_env_open(env, dir, MDB_RDONLY, 0600)) != 0 ||
	    (rc = mdb_env_info(env, &info)) != 0 || (rc = mdb_env_stat(env, &ms)) != 0 ||
	    (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0)
		mdb_die("open data directory", rc);
	s->psize = ms.ms_psize;
	s->last_pgno = info.me_last_pgno;
	/* The freelist (database 0): each value is a list of page numbers
	 * whose first word is its length. */
	if ((rc = mdb_cursor_open(txn, 0, &c)) != 0)
		mdb_die("freelist", rc);
	while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
		size_t n;
		memcpy(&n, v.mv_data, sizeof n);
		s->free_pages += n;
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		mdb_die("freelist", rc);
	/* The named databases are the keys of the main one. */
	if ((rc = mdb_dbi_open(txn, NULL, 0, &main_dbi)) != 0 ||
	    (rc = mdb_cursor_open(txn, main_dbi, &c)) != 0)
		mdb_die("main database", rc);
	while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0 && s->ndbs < STATS_DBS_MAX) {
		MDB_dbi dbi;
		char *name = s->name[s->ndbs];
		if (k.mv_size >= sizeof s->name[0])
			continue;
		memcpy(name, k.mv_data, k.mv_size);
		name[k.mv_size] = 0;
		int drc = mdb_dbi_open(txn, name, 0, &dbi);
		if (drc != 0 || (drc = mdb_stat(txn, dbi, &ms)) != 0)
			mdb_die(name, drc);
		s->pages[s->ndbs] = ms.ms_branch_pages + ms.ms_leaf_pages + ms.ms_overflow_pages;
		s->entries[s->ndbs] = ms.ms_entries;
		leaf_pages_read(s, s->ndbs, txn, dbi, &info, ms.ms_entries);
		s->ndbs++;
	}
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	mdb_env_close(env);
}

/* Bytes per transaction between two readings: file growth, growth of the
 * pages in use (high-water mark minus freelist), and the used pages of
 * each database that changed (with its entries per transaction). */
static void disk_stats_report(const disk_stats *a, const disk_stats *z, uint64_t ntx,
			      const char *unit, uint32_t blocks)
{
	double per = (double)ntx, psize = (double)z->psize;
	double used_a = (double)(a->last_pgno + 1 - a->free_pages);
	double used_z = (double)(z->last_pgno + 1 - z->free_pages);
	printf("  bytes per %s: file %+.0f, used pages %+.0f (freelist %+.0f)\n", unit,
	       ((double)z->file_bytes - (double)a->file_bytes) / per, (used_z - used_a) * psize / per,
	       ((double)z->free_pages - (double)a->free_pages) * psize / per);
	printf("  used pages per %s by database:", unit);
	for (uint32_t i = 0; i < z->ndbs; i++) {
		uint64_t pa = 0, ea = 0;
		for (uint32_t j = 0; j < a->ndbs; j++)
			if (strcmp(a->name[j], z->name[i]) == 0) {
				pa = a->pages[j];
				ea = a->entries[j];
			}
		/* "state" always: its rows are rewritten in place, so its
		 * count rarely changes while its pages are what a block
		 * mostly writes. */
		if (z->pages[i] == pa && z->entries[i] == ea && strcmp(z->name[i], "state") != 0)
			continue;
		printf(" %s %+.1f B (%+.2f entries)", z->name[i],
		       ((double)z->pages[i] - (double)pa) * psize / per,
		       ((double)z->entries[i] - (double)ea) / per);
	}
	printf("\n");
	printf("  leaf pages rewritten by the %u block%s, by database:", blocks, blocks == 1 ? "" : "s");
	for (uint32_t i = 0; i < z->ndbs; i++) {
		size_t n = leaf_pages_new(a, z, i);
		if (n > 0)
			printf(" %s %zu", z->name[i], n);
	}
	printf("\n");
}

/* Closes the ledger, reads its directory's figures and opens it again. */
static void disk_stats_take(bench *b, bool nosync, disk_stats *s)
{
	ledger_close(b->l);
	b->l = NULL;
	disk_stats_read(b->dir, s);
	ledger_options opt = { .map_bytes = (size_t)16 << 30, .nosync = nosync };
	int rc = ledger_open(&b->l, b->dir, &b->g, &opt);
	if (rc != 0)
		die("reopen", rc);
}

/* ---- block building (untimed) ---------------------------------------------- */

static ledger_block *block_new(uint32_t cap)
{
	ledger_block *blk = calloc(1, sizeof *blk);
	if (blk == NULL || (blk->txs = calloc(cap, sizeof *blk->txs)) == NULL ||
	    (blk->tx_lens = calloc(cap, sizeof *blk->tx_lens)) == NULL)
		die("alloc", LEDGER_E_NOMEM);
	return blk;
}

static void block_add(ledger_block *blk, ledger_tx *tx, cm_wr *w)
{
	cm_wr_reset(w);
	ledger_tx_encode(tx, w);
	if (cm_wr_error(w))
		die("encode", LEDGER_E_NOMEM);
	uint8_t *p = malloc(cm_wr_len(w));
	if (p == NULL)
		die("alloc", LEDGER_E_NOMEM);
	memcpy(p, cm_wr_data(w), cm_wr_len(w));
	blk->txs[blk->ntxs] = p;
	blk->tx_lens[blk->ntxs] = (uint32_t)cm_wr_len(w);
	blk->ntxs++;
}

static ledger_tx *tx_new(uint8_t kind, const ck_pubkey sender, uint64_t nonce, uint32_t ntrips)
{
	ledger_tx *tx;
	int rc = ledger_tx_new(&tx, kind, ntrips);
	if (rc != 0)
		die("tx_new", rc);
	snprintf(tx->chain_id, sizeof tx->chain_id, CHAIN);
	memcpy(tx->sender, sender, CK_PUBKEY_BYTES);
	tx->nonce = nonce;
	return tx;
}

/* Trip k of account i: a 1 km metro ride (46 g) on day k % 7 of the window,
 * hour k / 7 of the day; no two rides of one account overlap and the daily
 * caps are never reached. */
static void fill_trip(bench *b, ledger_trip *t, uint32_t i, uint32_t k, uint64_t base_s)
{
	uint32_t seq = b->trip_seq++;
	ledger_trip_id(t->trip_id, 2, (const char *)&seq, sizeof seq);
	memcpy(t->citizen, b->acct[i], CK_PUBKEY_BYTES);
	t->mode = LEDGER_MODE_METRO;
	t->distance_m = 1000;
	t->start_s = base_s + (uint64_t)(k % 7) * 86400 + (uint64_t)(k / 7) * 1800 + i % 600;
	t->end_s = t->start_s + 600;
}

/* Issue blocks: ntx transactions of TRIPS_PER_TX trips each, for trips
 * number k of consecutive accounts starting at *next. */
static ledger_block *issue_block(bench *b, uint32_t ntx, uint32_t k, uint32_t *next,
				 uint64_t base_s, cm_wr *w)
{
	ledger_block *blk = block_new(ntx);
	for (uint32_t x = 0; x < ntx; x++) {
		ledger_tx *tx = tx_new(LEDGER_TX_ISSUE, b->issuer, b->issuer_nonce++, TRIPS_PER_TX);
		for (uint32_t j = 0; j < TRIPS_PER_TX; j++) {
			fill_trip(b, &tx->u.issue.trips[j], *next, k, base_s);
			*next = (*next + 1) % accounts;
		}
		block_add(blk, tx, w);
		ledger_tx_free(tx);
	}
	return blk;
}

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint32_t rnd_acct(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)((rng * 2685821657736338717ull) >> 33) % accounts;
}

static ledger_block *transfer_block(bench *b, uint32_t n, cm_wr *w)
{
	ledger_block *blk = block_new(n);
	for (uint32_t x = 0; x < n; x++) {
		uint32_t from = rnd_acct(), to = rnd_acct();
		if (to == from)
			to = (to + 1) % accounts;
		ledger_tx *tx = tx_new(LEDGER_TX_TRANSFER, b->acct[from], b->nonce[from]++, 0);
		memcpy(tx->u.transfer.to, b->acct[to], CK_PUBKEY_BYTES);
		tx->u.transfer.amount_g = 1 + x % 3;
		block_add(blk, tx, w);
		ledger_tx_free(tx);
	}
	return blk;
}

/* ---- applying (timed) ----------------------------------------------------------- */

/* perf's control FIFO (BENCH_PERF_CTL), or -1. */
static int perf_ctl = -1;

static void perf_say(const char *cmd)
{
	if (perf_ctl >= 0 && write(perf_ctl, cmd, strlen(cmd)) != (ssize_t)strlen(cmd))
		perror("BENCH_PERF_CTL");
}

/* Completes the header against the current state and applies; adds the
 * time ledger_apply_block() took to *c (if not NULL). */
static void apply(bench *b, ledger_block *blk, cost *c)
{
	int rc = ledger_next_header(b->l, &blk->header);
	if (rc != 0)
		die("next_header", rc);
	b->time_ms += 1000;
	blk->header.time_ms = b->time_ms;
	memcpy(blk->header.proposer, b->members[0].keys[0], CK_PUBKEY_BYTES);
	ledger_block_txs_root(blk, blk->header.txs_root);
	ledger_results res;
	uint64_t w0 = written_bytes(), t0 = now_ns(), c0 = cpu_ns();
	rc = ledger_apply_block(b->l, blk, NULL, 0, &res);
	if (c != NULL) {
		c->cpu_ns += cpu_ns() - c0;
		c->wall_ns += now_ns() - t0;
		c->written += written_bytes() - w0;
	}
	if (rc != 0)
		die("apply", rc);
	for (uint32_t i = 0; i < res.ntxs; i++)
		if (res.r[i].code != LEDGER_R_OK) {
			fprintf(stderr, "bench_ledger: tx %u failed with %s\n", i,
				ledger_result_str(res.r[i].code));
			exit(1);
		}
	ledger_results_free(&res);
	ledger_block_free(blk);
}

/* The measured blocks' figures after what, on one line (bench/run.sh reads
 * "synced commit: N transfers/s" and "... N trip credits/s"). */
static void report(const char *what, const cost *c, uint64_t n, const char *unit, uint32_t blocks)
{
	double wall = (double)c->wall_ns / 1e9, cpu = (double)c->cpu_ns / 1e9;
	printf("%s: %.0f %s/s (%.1f ms per block); CPU time: %.0f per second (%.1f ms per block); "
	       "%.1f MB written per block\n",
	       what, (double)n / wall, unit, wall * 1000 / blocks, (double)n / cpu,
	       cpu * 1000 / blocks, (double)c->written / 1e6 / blocks);
}

/* Credits one 1 km trip to every account so transfers have funds. */
static void fund_all(bench *b, cm_wr *w)
{
	uint64_t base_s = b->time_ms / 1000 - 3 * 86400;
	uint32_t next = 0;
	for (uint32_t done = 0; done < accounts; done += 10 * TRIPS_PER_TX)
		apply(b, issue_block(b, 10, 0, &next, base_s, w), NULL);
}

/* CPU time of what the query indexes answer, after the run: ledger_find_tx
 * of each transaction of the last block (ids) and the history (pages of
 * up to 100 entries, followed to the end) of the first n accounts. */
static void time_queries(bench *b, const ck_hash *ids, uint32_t n)
{
	ledger_history_entry *e = malloc(100 * sizeof *e);
	uint64_t entries = 0;
	if (e == NULL)
		die("alloc", LEDGER_E_NOMEM);
	uint64_t c0 = cpu_ns();
	for (uint32_t i = 0; i < n; i++) {
		ledger_tx_location loc;
		int rc = ledger_find_tx(b->l, ids[i], &loc);
		if (rc != 0)
			die("find_tx", rc);
	}
	uint64_t c1 = cpu_ns();
	for (uint32_t i = 0; i < n; i++) {
		uint64_t cursor = 0;
		do {
			uint32_t k;
			int rc = ledger_history(b->l, b->acct[i], cursor, e, 100, &k, &cursor);
			if (rc != 0)
				die("history", rc);
			entries += k;
		} while (cursor != 0);
	}
	uint64_t c2 = cpu_ns();
	printf("  queries (CPU): ledger_find_tx %.1f us each (%u); ledger_history %.2f us per entry "
	       "(%llu entries of %u accounts)\n",
	       (double)(c1 - c0) / 1e3 / n, n, entries ? (double)(c2 - c1) / 1e3 / (double)entries : 0,
	       (unsigned long long)entries, n);
	free(e);
}

static void run_transfers(bench *b, bool nosync, uint32_t per_block, uint32_t blocks, cm_wr *w)
{
	ck_hash *ids = malloc(per_block * sizeof *ids);
	if (ids == NULL)
		die("alloc", LEDGER_E_NOMEM);
	bench_open(b, nosync);
	b->trip_seq = 0;
	b->time_ms += 7ull * 86400 * 1000;
	fund_all(b, w);
	disk_stats d0, d1;
	disk_stats_take(b, nosync, &d0);
	cost c = { 0, 0, 0 };
	perf_say("enable\n");
	for (uint32_t i = 0; i < blocks; i++) {
		ledger_block *blk = transfer_block(b, per_block, w);
		for (uint32_t x = 0; i + 1 == blocks && x < blk->ntxs; x++)
			ledger_tx_hash(ids[x], blk->txs[x], blk->tx_lens[x]);
		apply(b, blk, &c);
	}
	perf_say("disable\n");
	char what[160];
	snprintf(what, sizeof what, "  %u blocks x %u transfers, %u accounts, %s", blocks, per_block,
		 accounts, nosync ? "commit not synced" : "synced commit");
	report(what, &c, (uint64_t)blocks * per_block, "transfers", blocks);
	print_root(b);
	disk_stats_take(b, nosync, &d1);
	disk_stats_report(&d0, &d1, (uint64_t)blocks * per_block, "transfer", blocks);
	disk_stats_free(&d0);
	disk_stats_free(&d1);
	time_queries(b, ids, per_block);
	free(ids);
	bench_close(b);
}

static void run_trips(bench *b, uint32_t preload, uint32_t blocks, bool audit, cm_wr *w)
{
	bench_open(b, false);
	b->trip_seq = 0;
	/* The window is the 7 days before the measured blocks. */
	b->time_ms += 8ull * 86400 * 1000;
	uint64_t base_s = b->time_ms / 1000 - 7 * 86400 + 3600;
	uint32_t next = 0, k = 0, loaded = 0;
	uint64_t t0 = now_ns();
	while (loaded < preload) {
		uint32_t ntx = 100;
		if ((preload - loaded) / TRIPS_PER_TX < ntx)
			ntx = (preload - loaded) / TRIPS_PER_TX;
		apply(b, issue_block(b, ntx, k, &next, base_s, w), NULL);
		loaded += ntx * TRIPS_PER_TX;
		if (next == 0)
			k++;
	}
	double load_s = (double)(now_ns() - t0) / 1e9;
	ledger_supply sup;
	int rc = ledger_get_supply(b->l, &sup);
	if (rc != 0)
		die("supply", rc);
	printf("  preloaded %llu trips in the window (%.1f s, blocks of 100,000 trips)\n",
	       (unsigned long long)sup.trips_credited, load_s);
	disk_stats d0, d1;
	disk_stats_take(b, false, &d0);
	cost c = { 0, 0, 0 };
	perf_say("enable\n");
	for (uint32_t i = 0; i < blocks; i++) {
		apply(b, issue_block(b, 10, k, &next, base_s, w), &c);
		if (next == 0)
			k++;
	}
	perf_say("disable\n");
	char what[160];
	snprintf(what, sizeof what, "  %u blocks x 10 issue txs x %u trips, synced commit", blocks,
		 TRIPS_PER_TX);
	report(what, &c, (uint64_t)blocks * 10 * TRIPS_PER_TX, "trip credits", blocks);
	print_root(b);
	disk_stats_take(b, false, &d1);
	disk_stats_report(&d0, &d1, (uint64_t)blocks * 10 * TRIPS_PER_TX, "trip credit", blocks);
	disk_stats_free(&d0);
	disk_stats_free(&d1);
	if (!audit) {
		bench_close(b);
		return;
	}
	rc = ledger_get_supply(b->l, &sup);
	if (rc != 0)
		die("supply", rc);
	char msg[256];
	t0 = now_ns();
	rc = ledger_audit(b->l, msg, sizeof msg);
	if (rc != 0) {
		fprintf(stderr, "bench_ledger: audit: %s\n", msg);
		exit(1);
	}
	printf("  ledger_audit over %llu trips: ok (%.1f s)\n", (unsigned long long)sup.trips_credited,
	       (double)(now_ns() - t0) / 1e9);
	bench_close(b);
}

/* kB of this process's RssAnon (/proc/self/status): its heap and other
 * private memory, without LMDB's mapped file pages. */
static uint64_t rss_anon_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long kb = 0;
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "RssAnon: %llu", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* Heap mode, first process: `accounts` citizens each funded by one
 * credited trip (blocks of 10,000 trips, commits not synced: the state is
 * what matters here), then the ledger is closed and the program execs
 * itself on the directory, so that the second process measures a ledger
 * opened on that state in a heap that never held the loading. */
static void run_heap_load(bench *b, cm_wr *w)
{
	bench_open(b, true);
	b->trip_seq = 0;
	b->time_ms += 7ull * 86400 * 1000;
	uint64_t c0 = cpu_ns();
	fund_all(b, w);
	printf("  loaded %u accounts with one credited trip each: %.1f s CPU, RssAnon %llu kB "
	       "(loading process)\n",
	       accounts, (double)(cpu_ns() - c0) / 1e9, (unsigned long long)rss_anon_kb());
	print_root(b);
	ledger_close(b->l);
	b->l = NULL;
	char n[16], nonce[24], seq[16];
	snprintf(n, sizeof n, "%u", accounts);
	snprintf(nonce, sizeof nonce, "%llu", (unsigned long long)b->issuer_nonce);
	snprintf(seq, sizeof seq, "%u", b->trip_seq);
	execl("/proc/self/exe", "bench_ledger", "--heap-open", b->dir, n, nonce, seq, (char *)NULL);
	perror("exec /proc/self/exe");
	exit(1);
}

/* A block of the size the node proposes under load: n transfers and one
 * issue transaction of ntrips trips, trip number k of consecutive accounts
 * from *next. */
static ledger_block *mixed_block(bench *b, uint32_t n, uint32_t ntrips, uint32_t k,
				 uint32_t *next, uint64_t base_s, cm_wr *w)
{
	ledger_block *blk = transfer_block(b, n, w);
	ledger_block *big = block_new(n + 1);
	memcpy(big->txs, blk->txs, n * sizeof *blk->txs);
	memcpy(big->tx_lens, blk->tx_lens, n * sizeof *blk->tx_lens);
	big->ntxs = n;
	blk->ntxs = 0;
	ledger_block_free(blk);
	ledger_tx *tx = tx_new(LEDGER_TX_ISSUE, b->issuer, b->issuer_nonce++, ntrips);
	for (uint32_t j = 0; j < ntrips; j++) {
		fill_trip(b, &tx->u.issue.trips[j], *next, k, base_s);
		*next = (*next + 1) % accounts;
	}
	block_add(big, tx, w);
	ledger_tx_free(tx);
	return big;
}

/* Heap mode, second process: opens the loaded directory, then applies 20
 * synced blocks of 300 transfers and 100 trip credits (what a node applies
 * under load), then 5 of 1,000 transfers and one of 10,000 trip credits;
 * prints RssAnon before the open, after it and after each group. LMDB
 * keeps the pages a transaction dirtied, so the small blocks come first. */
static void run_heap_open(bench *b, const char *dir, uint64_t issuer_nonce, uint32_t trip_seq,
			  cm_wr *w)
{
	uint64_t before = rss_anon_kb();
	snprintf(b->dir, sizeof b->dir, "%s", dir);
	ledger_options opt = { .map_bytes = (size_t)16 << 30, .nosync = false };
	uint64_t c0 = cpu_ns();
	int rc = ledger_open(&b->l, b->dir, &b->g, &opt);
	if (rc != 0)
		die("open", rc);
	uint64_t open_ns = cpu_ns() - c0;
	uint64_t opened = rss_anon_kb();
	ledger_info info;
	if ((rc = ledger_get_info(b->l, &info)) != 0)
		die("info", rc);
	b->time_ms = info.time_ms;
	b->issuer_nonce = issuer_nonce;
	b->trip_seq = trip_seq;
	cost mc = { 0, 0, 0 }, tc = { 0, 0, 0 }, ic = { 0, 0, 0 };
	uint64_t base_s = b->time_ms / 1000 - 3 * 86400;
	/* Trip number 2 of the first 2,000 citizens, then number 1 of the
	 * first 10,000: days after their first, inside the window. */
	uint32_t next = 0;
	for (unsigned i = 0; i < 20; i++)
		apply(b, mixed_block(b, 300, 100, 2, &next, base_s, w), &mc);
	uint64_t small = rss_anon_kb();
	for (unsigned i = 0; i < 5; i++)
		apply(b, transfer_block(b, 1000, w), &tc);
	next = 0;
	apply(b, issue_block(b, 10, 1, &next, base_s, w), &ic);
	uint64_t after = rss_anon_kb();
	printf("  reopened: ledger_open %.2f s CPU; RssAnon %llu kB before the open, %llu kB after "
	       "it (+%llu kB), %llu kB after 20 blocks of 300 transfers + 100 trips (+%llu kB), "
	       "%llu kB after 5 blocks of 1,000 transfers and 1 of 10,000 trips (+%llu kB for the "
	       "ledger)\n",
	       (double)open_ns / 1e9, (unsigned long long)before, (unsigned long long)opened,
	       (unsigned long long)(opened - before), (unsigned long long)small,
	       (unsigned long long)(small - before), (unsigned long long)after,
	       (unsigned long long)(after - before));
	report("  20 blocks x (300 transfers + 100 trips), synced commit", &mc, 20 * 400,
	       "transactions and trips", 20);
	report("  5 blocks x 1000 transfers, synced commit", &tc, 5000, "transfers", 5);
	report("  1 block x 10 issue txs x 1000 trips, synced commit", &ic, 10000, "trip credits", 1);
	print_root(b);
	/* What an open after an unclean stop costs: the state root's leaves
	 * (a cache in the subdirectory smt/) rebuilt from the state. */
	ledger_close(b->l);
	b->l = NULL;
	char cache[sizeof b->dir + 8];
	snprintf(cache, sizeof cache, "%s/smt", b->dir);
	nftw(cache, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
	uint64_t t0 = now_ns();
	c0 = cpu_ns();
	if ((rc = ledger_open(&b->l, b->dir, &b->g, &opt)) != 0)
		die("open without the leaves", rc);
	printf("  reopened without smt/: ledger_open rebuilt the leaves in %.2f s CPU, %.2f s wall; "
	       "RssAnon %llu kB\n",
	       (double)(cpu_ns() - c0) / 1e9, (double)(now_ns() - t0) / 1e9,
	       (unsigned long long)rss_anon_kb());
	print_root(b);
	bench_close(b);
}

int main(int argc, char **argv)
{
	bool quick = false, transfers = true, trips = true, audit = true, heap = false;
	uint32_t blocks = 0;
	const char *heap_dir = NULL;
	uint64_t heap_nonce = 0;
	uint32_t heap_seq = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "heap") == 0) {
			heap = true;
			if (i + 1 < argc && atoi(argv[i + 1]) > 0)
				accounts = (uint32_t)atoi(argv[++i]);
			else
				accounts = 1000000u;
		} else if (strcmp(argv[i], "--heap-open") == 0 && i + 4 < argc) {
			heap_dir = argv[i + 1];
			accounts = (uint32_t)strtoul(argv[i + 2], NULL, 10);
			heap_nonce = strtoull(argv[i + 3], NULL, 10);
			heap_seq = (uint32_t)strtoul(argv[i + 4], NULL, 10);
			i += 4;
		} else if (strcmp(argv[i], "--quick") == 0) {
			quick = true;
		} else if (strcmp(argv[i], "--no-audit") == 0) {
			audit = false;
		} else if (strcmp(argv[i], "--blocks") == 0 && i + 1 < argc && atoi(argv[i + 1]) > 0) {
			blocks = (uint32_t)atoi(argv[++i]);
		} else if (strcmp(argv[i], "transfers") == 0) {
			trips = false;
		} else if (strcmp(argv[i], "trips") == 0) {
			transfers = false;
		} else {
			fprintf(stderr, "usage: bench_ledger [--quick] [--blocks N] [--no-audit] "
					"[transfers|trips|heap [N]]\n");
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *ctl = getenv("BENCH_PERF_CTL");
	if (ctl != NULL && (perf_ctl = open(ctl, O_WRONLY)) < 0) {
		perror(ctl);
		return 1;
	}
	if (ck_init() != 0)
		die("ck_init", LEDGER_E_NOMEM);
	static bench b;
	bench_init(&b);
	cm_wr w;
	cm_wr_init(&w);
	if (heap_dir != NULL) {
		run_heap_open(&b, heap_dir, heap_nonce, heap_seq, &w);
		return 0;
	}
	if (heap) {
		printf("heap with %u accounts and %u credited trips:\n", accounts, accounts);
		run_heap_load(&b, &w);
	}
	printf("bench_ledger: one core, signatures not verified by apply (see the file's comment)\n");
	bench_open(&b, true);
	printf("disk: 4 KiB write + fdatasync, median %llu us (a synced LMDB commit does two)\n",
	       (unsigned long long)fsync_probe_us(b.dir));
	bench_close(&b);
	if (transfers) {
		printf("transfers, durable (state + root + block store + indexes + synced commit):\n");
		run_transfers(&b, false, 1000, blocks ? blocks : quick ? 5 : 30, &w);
		printf("transfers, state-only (the same without the disk flush):\n");
		run_transfers(&b, true, 5000, blocks ? blocks : quick ? 2 : 10, &w);
	}
	if (trips) {
		printf("trip credits, durable:\n");
		run_trips(&b, quick ? 200000 : 2000000, blocks ? blocks : quick ? 2 : 5, audit, &w);
	}
	if (perf_ctl >= 0)
		close(perf_ctl);
	cm_wr_free(&w);
	free(b.acct);
	free(b.nonce);
	return 0;
}
