/*
 * The consensus core's own cost, apart from signatures and storage: four
 * cores in one process over an ideal network (every message delivered at
 * once, in order), fake keyed-hash signatures (SipHash, ~50 ns), blocks of
 * 256 bytes, persists and timers dropped. Only the time spent inside
 * cons_step is counted.
 *
 *   build/bench/bench_consensus [heights]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "consensus/cons.h"

#define N 4
#define CHAIN "carbon-bench"

struct item {
	int to, from;
	cons_event ev;
	uint8_t *bytes;
	size_t len;
};

static struct item *q;
static size_t qhead, qlen, qcap;
static ck_pubkey pks[N];
static cons_valset vs;
static uint64_t commits[N];

static void qpush(struct item it)
{
	if (qhead + qlen == qcap) {
		if (qhead > 0) {
			memmove(q, q + qhead, qlen * sizeof *q);
			qhead = 0;
		} else {
			qcap = qcap ? 2 * qcap : 1024;
			q = realloc(q, qcap * sizeof *q);
			if (!q)
				abort();
		}
	}
	q[qhead + qlen++] = it;
}

static uint8_t *dup(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n);
	if (!c)
		abort();
	memcpy(c, p, n);
	return c;
}

static void fsign(void *ctx, enum ck_domain dom, const char *chain, const uint8_t *msg, size_t len,
		  ck_sig sig)
{
	(void)chain;
	uint8_t buf[1 + CONS_SIGN_BYTES_MAX];
	buf[0] = (uint8_t)dom;
	memcpy(buf + 1, msg, len);
	memset(sig, 0, CK_SIG_BYTES);
	crypto_shorthash(sig, buf, len + 1, ctx);
}

static int fverify(void *ctx, const ck_pubkey pk, enum ck_domain dom, const char *chain,
		   const uint8_t *msg, size_t len, const ck_sig sig)
{
	ck_sig s;
	(void)ctx;
	fsign((void *)pk, dom, chain, msg, len, s);
	return memcmp(s, sig, 8) != 0;
}

static void bid(void *ctx, const uint8_t *b, size_t len, cons_id out)
{
	(void)ctx;
	crypto_generichash(out, CONS_ID_BYTES, b, len, NULL, 0);
}

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static cons_actions acts;
static double t_msg[6], t_other;
static uint64_t n_msg[6];

static void act(int i, uint64_t *next_height)
{
	for (uint32_t k = 0; k < acts.n; k++) {
		const cons_action *a = &acts.a[k];
		struct item it = {.to = i, .from = i};
		switch (a->kind) {
		case CONS_ACT_BROADCAST:
			for (int j = 0; j < N; j++) {
				if (j == i)
					continue;
				it.to = j;
				it.ev.kind = CONS_EV_MESSAGE;
				it.ev.u.message.peer = (uint32_t)i;
				it.bytes = dup(a->u.msg.bytes, a->u.msg.len);
				it.len = a->u.msg.len;
				qpush(it);
			}
			break;
		case CONS_ACT_SEND:
			it.to = (int)a->u.msg.peer;
			it.ev.kind = CONS_EV_MESSAGE;
			it.ev.u.message.peer = (uint32_t)i;
			it.bytes = dup(a->u.msg.bytes, a->u.msg.len);
			it.len = a->u.msg.len;
			qpush(it);
			break;
		case CONS_ACT_BUILD_BLOCK: {
			uint8_t blk[256];
			memset(blk, 0, sizeof blk);
			memcpy(blk, &a->u.build.height, 8);
			it.ev.kind = CONS_EV_BLOCK_BUILT;
			it.ev.u.built.height = a->u.build.height;
			it.ev.u.built.round = a->u.build.round;
			it.bytes = dup(blk, sizeof blk);
			it.len = sizeof blk;
			qpush(it);
			break;
		}
		case CONS_ACT_CHECK_BLOCK:
			it.ev.kind = CONS_EV_BLOCK_CHECKED;
			it.ev.u.checked.height = a->u.check.height;
			memcpy(it.ev.u.checked.id, a->u.check.id, CONS_ID_BYTES);
			it.ev.u.checked.valid = true;
			qpush(it);
			break;
		case CONS_ACT_COMMIT:
			commits[i]++;
			it.ev.kind = CONS_EV_START_HEIGHT;
			it.ev.u.start.height = a->u.commit.height + 1;
			it.ev.u.start.valset = &vs;
			if (a->u.commit.height + 1 <= *next_height)
				qpush(it);
			break;
		default:
			break; /* persists are free here; no timers on an ideal network */
		}
	}
}

int main(int argc, char **argv)
{
	uint64_t heights = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000;
	if (sodium_init() < 0)
		return 1;
	cons *c[N];
	vs.n = N;
	for (int i = 0; i < N; i++) {
		memset(vs.keys[i], 0, CK_PUBKEY_BYTES);
		vs.keys[i][0] = (uint8_t)(i + 1);
		vs.keys[i][5] = 0x5a;
	}
	for (int i = 0; i < N; i++) {
		memcpy(pks[i], vs.keys[i], CK_PUBKEY_BYTES);
		cons_config cfg;
		memset(&cfg, 0, sizeof cfg);
		cfg.chain_id = CHAIN;
		memcpy(cfg.self, pks[i], CK_PUBKEY_BYTES);
		cfg.signer.ctx = pks[i];
		cfg.signer.sign = fsign;
		cfg.verifier.verify = fverify;
		cfg.block_id.id = bid;
		cons_timeouts_default(&cfg.timeouts);
		if (cons_new(&c[i], &cfg) != 0)
			return 1;
	}
	for (int i = 0; i < N; i++) {
		struct item it = {.to = i, .from = i};
		it.ev.kind = CONS_EV_START_HEIGHT;
		it.ev.u.start.height = 1;
		it.ev.u.start.valset = &vs;
		qpush(it);
	}
	uint64_t events = 0;
	double wall0 = now_us();
	while (qlen > 0) {
		struct item it = q[qhead++];
		qlen--;
		if (it.ev.kind == CONS_EV_MESSAGE) {
			it.ev.u.message.bytes = it.bytes;
			it.ev.u.message.len = it.len;
		} else if (it.ev.kind == CONS_EV_BLOCK_BUILT) {
			it.ev.u.built.block = it.bytes;
			it.ev.u.built.len = it.len;
		}
		double t0 = now_us();
		(void)cons_step(c[it.to], &it.ev, &acts);
		double dt = now_us() - t0;
		events++;
		if (it.ev.kind == CONS_EV_MESSAGE && it.len > 0 && (it.bytes[1] & 0x7f) <= 5) {
			t_msg[it.bytes[1]] += dt;
			n_msg[it.bytes[1]]++;
		} else {
			t_other += dt;
		}
		act(it.to, &heights);
		free(it.bytes);
	}
	double wall = now_us() - wall0;
	double core = t_other;
	for (int k = 0; k < 6; k++)
		core += t_msg[k];
	uint64_t votes = n_msg[CONS_MSG_PREVOTE] + n_msg[CONS_MSG_PRECOMMIT];
	double t_votes = t_msg[CONS_MSG_PREVOTE] + t_msg[CONS_MSG_PRECOMMIT];
	printf("bench_consensus: model ledger (256-byte blocks, always valid), no storage, "
	       "SipHash stand-in vote signatures: the core's own cost\n");
	printf("bench_consensus: n=%d validators, %" PRIu64 " heights, %" PRIu64 " core events\n",
	       N, commits[0], events);
	printf("  core time per block, all %d cores:   %8.2f us\n", N, core / (double)commits[0]);
	printf("  core time per block, one core:       %8.2f us\n",
	       core / (double)commits[0] / N);
	printf("  per received vote (decode+stand-in verify+rules): %6.3f us  (%" PRIu64 " votes)\n",
	       t_votes / (double)votes, votes);
	printf("  per received proposal (256 B block):  %6.3f us\n",
	       t_msg[CONS_MSG_PROPOSAL] / (double)n_msg[CONS_MSG_PROPOSAL]);
	printf("  blocks/s if only the core counted (one core): %.0f\n",
	       1e6 / (core / (double)commits[0] / N));
	printf("  wall time %.0f ms (includes this harness)\n", wall / 1000);
	for (int i = 0; i < N; i++)
		cons_free(c[i]);
	free(q);
	return 0;
}
