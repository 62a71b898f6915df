/*
 * Sample trip files: a plausible city day for demos and tests, and the
 * bad rows a real export contains (repeats, overlaps across operators,
 * impossible speeds). Everything is integer arithmetic over a splitmix64
 * stream, so a seed names a file exactly.
 *
 * The shape follows ../shared/DOMAIN.md: metro and bus carry most trips in
 * Nanjing (3.2 and 2.5 million rides a day), bikes and walking the rest.
 * Distances and speeds are ranges a trip of each mode plausibly has, drawn
 * as the mean of two uniforms so that middle values are commoner.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wallet/wallet.h"

typedef struct mode_shape {
	uint8_t mode;
	uint32_t share;                       /* of 100 */
	uint32_t min_m, max_m;                /* distance */
	uint32_t min_kmh, max_kmh;            /* average speed */
} mode_shape;

static const mode_shape shapes[] = {
	{LEDGER_MODE_METRO, 35, 3000, 25000, 25, 40},
	{LEDGER_MODE_BUS, 30, 2000, 12000, 12, 22},
	{LEDGER_MODE_CYCLE, 20, 1000, 7000, 10, 18},
	{LEDGER_MODE_WALK, 15, 600, 2500, 4, 6},
};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

static uint64_t next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static uint32_t between(uint64_t *s, uint32_t lo, uint32_t hi)
{
	return lo + (uint32_t)(next(s) % ((uint64_t)hi - lo + 1));
}

/* Mean of two uniforms in [lo, hi]: triangular. */
static uint32_t around(uint64_t *s, uint32_t lo, uint32_t hi)
{
	return (uint32_t)(((uint64_t)between(s, lo, hi) + between(s, lo, hi)) / 2);
}

typedef struct made {
	uint32_t citizen;
	uint32_t op;
	uint64_t start, end;
	uint32_t ref;                         /* sequence number within the operator */
	uint32_t dist;
	uint8_t mode;
} made;

static int op_for(const wallet_sample_op *ops, uint32_t nops, uint8_t mode, uint32_t not_op)
{
	for (uint32_t i = 0; i < nops; i++)
		if (i != not_op && (ops[i].modes & (1u << mode)))
			return (int)i;
	return -1;
}

/* Refs name the seed, so files made with other seeds never share a trip
 * id (it is derived from the ref). */
static int row(wallet_sample_op *op, uint64_t seed, uint32_t ref, const char *addr, uint8_t mode,
	       uint32_t dist, uint64_t start, uint64_t end)
{
	op->rows++;
	op->by_mode[mode]++;
	return fprintf(op->out, "%.40s-s%llu-%06u,%s,%s,%u,%llu,%llu\n", op->name,
		       (unsigned long long)seed, ref, addr, ledger_mode_name(mode), dist,
		       (unsigned long long)start, (unsigned long long)end) < 0
		       ? WALLET_E_IO
		       : 0;
}

int wallet_sample_write(const wallet_sample_opts *o, wallet_sample_op *ops, uint32_t nops)
{
	uint32_t total_share = 0;
	for (size_t k = 0; k < NSHAPES; k++)
		if (op_for(ops, nops, shapes[k].mode, UINT32_MAX) >= 0)
			total_share += shapes[k].share;
	if (total_share == 0 || o->hours == 0 || o->hours > 168)
		return WALLET_E_CSV;
	uint32_t ncit = o->ncitizens + o->nextra;
	if (ncit == 0)
		return WALLET_E_CSV;
	char (*addr)[CK_ADDRESS_STRLEN + 1] = malloc((size_t)ncit * sizeof *addr);
	uint64_t *cursor = malloc((size_t)ncit * sizeof *cursor);
	made *log = malloc((size_t)(o->ntrips ? o->ntrips : 1) * sizeof *log);
	uint32_t *seq = calloc(nops ? nops : 1, sizeof *seq);
	int rc = WALLET_E_NOMEM;
	if (addr == NULL || cursor == NULL || log == NULL || seq == NULL)
		goto done;
	uint64_t s = o->seed;
	for (uint32_t c = 0; c < ncit; c++) {
		if (c < o->nextra) {
			ck_address_encode(addr[c], o->extra[c]);
		} else {
			uint8_t seed[CK_SEED_BYTES];
			ck_pubkey pk;
			ck_seckey sk;
			for (size_t i = 0; i < sizeof seed; i += 8) {
				uint64_t v = next(&s);
				memcpy(seed + i, &v, 8);
			}
			ck_keypair_from_seed(pk, sk, seed);
			ck_address_encode(addr[c], pk);
		}
		/* Each citizen's day starts somewhere in the first half. */
		cursor[c] = o->now_s - (uint64_t)o->hours * 3600u +
			    between(&s, 0, o->hours * 1800u);
	}
	for (uint32_t i = 0; i < nops; i++)
		if (fprintf(ops[i].out, "ref,citizen,mode,distance_m,start,end\n") < 0) {
			rc = WALLET_E_IO;
			goto done;
		}

	uint32_t nlog = 0;
	rc = 0;
	for (uint32_t t = 0; t < o->ntrips && rc == 0; t++) {
		/* The mode, among those some operator may issue. */
		uint32_t pick = between(&s, 1, total_share), acc = 0;
		const mode_shape *m = NULL;
		for (size_t k = 0; k < NSHAPES && m == NULL; k++) {
			if (op_for(ops, nops, shapes[k].mode, UINT32_MAX) < 0)
				continue;
			acc += shapes[k].share;
			if (pick <= acc)
				m = &shapes[k];
		}
		/* The citizens named on purpose (a demo's) travel a lot: one
		 * trip in ten is theirs. */
		uint32_t c = o->nextra > 0 && between(&s, 0, 9) == 0 ? between(&s, 0, o->nextra - 1)
								      : between(&s, 0, ncit - 1);
		uint32_t dist = around(&s, m->min_m, m->max_m);
		uint32_t kmh = around(&s, m->min_kmh, m->max_kmh);
		uint64_t dur = (uint64_t)dist * 36u / (kmh * 10u) + 60u;
		uint64_t start = cursor[c] + between(&s, 300, 5400);
		if (start + dur >= o->now_s)
			continue;                     /* this citizen's day is over */
		cursor[c] = start + dur;
		uint32_t op = (uint32_t)op_for(ops, nops, m->mode, UINT32_MAX);
		uint32_t ref = seq[op]++;
		rc = row(&ops[op], o->seed, ref, addr[c], m->mode, dist, start, start + dur);
		log[nlog++] = (made){c, op, start, start + dur, ref, dist, m->mode};

		/* Bad rows a real export has. */
		uint32_t roll = between(&s, 0, 999);
		if (rc == 0 && roll < o->dup_permille && nlog > 1) {
			/* The same record sent twice. */
			made *d = &log[between(&s, 0, nlog - 1)];
			ops[d->op].dups++;
			rc = row(&ops[d->op], o->seed, d->ref, addr[d->citizen], d->mode, d->dist, d->start,
				 d->end);
		} else if (rc == 0 && roll < o->dup_permille + o->overlap_permille) {
			/* Another operator claims a walk or ride during this trip. */
			size_t k0 = between(&s, 0, NSHAPES - 1);
			for (size_t kk = 0; kk < NSHAPES; kk++) {
				size_t k = (k0 + kk) % NSHAPES;
				int other = op_for(ops, nops, shapes[k].mode, op);
				if (other < 0 || shapes[k].mode == m->mode)
					continue;
				uint64_t d = dur / 2 + 60;
				uint32_t od = (uint32_t)(d * shapes[k].min_kmh * 10u / 36u);
				ops[other].overlaps++;
				rc = row(&ops[other], o->seed, seq[other]++, addr[c], shapes[k].mode, od,
					 start + dur / 4, start + dur / 4 + d);
				break;
			}
		} else if (rc == 0 && roll < o->dup_permille + o->overlap_permille + o->fast_permille) {
			/* A trip far too fast for its mode (a faked record), if
			 * it still ends before now; counted only when written. */
			uint64_t fs = cursor[c] + 600;
			if (fs + 300 < o->now_s) {
				ops[op].fast++;
				rc = row(&ops[op], o->seed, seq[op]++, addr[c], m->mode, m->max_m * 4, fs, fs + 300);
				cursor[c] = fs + 300;
			}
		}
	}
done:
	free(addr);
	free(cursor);
	free(log);
	free(seq);
	return rc;
}
