/*
 * The in-memory index of credited trips (ledger/tripset.h) against a plain
 * model: random adds and deletes across table growth, blocks committed or
 * rolled back at random, and after each step every trip found at its
 * location, every overlap answer equal to the model's, and the count equal.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger.h"
#include "ledger/tripset.h"

#define NCITIZENS 1200u
#define MAXTRIPS 6000u

typedef struct mtrip {
	ck_hash id;
	ts_loc loc;
	uint32_t citizen;
	uint64_t start, end;
} mtrip;

typedef struct model {
	mtrip t[MAXTRIPS];
	uint32_t n;
} model;

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}

static ck_pubkey citizens[NCITIZENS];

static bool model_overlaps(const model *m, uint32_t c, uint64_t s, uint64_t e)
{
	for (uint32_t i = 0; i < m->n; i++)
		if (m->t[i].citizen == c && m->t[i].start < e && s < m->t[i].end)
			return true;
	return false;
}

static bool found_at(const tripset *ts, const mtrip *t)
{
	size_t it = 0;
	ts_loc loc;
	while (ts_find(ts, t->id, &it, &loc))
		if (loc.height == t->loc.height && loc.endday == t->loc.endday)
			return true;
	return false;
}

static void check(const tripset *ts, const model *m)
{
	cr_assert_eq(ts_count(ts), m->n);
	for (uint32_t i = 0; i < m->n; i++)
		cr_assert(found_at(ts, &m->t[i]), "trip %u not found", i);
	for (int q = 0; q < 50; q++) {
		uint32_t c = (uint32_t)(rnd() % NCITIZENS);
		uint64_t s = rnd() % 100000, e = s + 1 + rnd() % 400;
		cr_assert_eq(ts_overlaps(ts, citizens[c], s, e), model_overlaps(m, c, s, e));
	}
	ck_hash none;
	memset(none, 0xee, sizeof none);
	size_t it = 0;
	ts_loc loc;
	cr_assert(!ts_find(ts, none, &it, &loc));
}

/* Adds a random trip that overlaps nothing of its citizen; false if the
 * random interval did. */
static bool add_one(tripset *ts, model *m, uint64_t height)
{
	mtrip t;
	for (unsigned i = 0; i < CK_HASH_BYTES; i += 8) {
		uint64_t r = rnd();
		memcpy(t.id + i, &r, 8);
	}
	t.citizen = (uint32_t)(rnd() % NCITIZENS);
	t.start = rnd() % 100000;
	t.end = t.start + 1 + rnd() % 300;
	t.loc.height = height;
	t.loc.endday = (int64_t)(t.end / 1000) - 20;
	if (model_overlaps(m, t.citizen, t.start, t.end) || m->n == MAXTRIPS)
		return false;
	cr_assert_eq(ts_add(ts, t.id, &t.loc, citizens[t.citizen], t.start, t.end), 0);
	m->t[m->n++] = t;
	return true;
}

static void del_one(tripset *ts, model *m)
{
	if (m->n == 0)
		return;
	uint32_t i = (uint32_t)(rnd() % m->n);
	mtrip *t = &m->t[i];
	cr_assert_eq(ts_del(ts, t->id, &t->loc, citizens[t->citizen], t->start), 0);
	m->t[i] = m->t[--m->n];
}

Test(ledger_tripset, matches_a_model_through_commits_and_rollbacks)
{
	static model m, saved;
	tripset *ts;
	for (uint32_t c = 0; c < NCITIZENS; c++) {
		memset(citizens[c], 0, CK_PUBKEY_BYTES);
		memcpy(citizens[c], &c, sizeof c);
	}
	cr_assert_eq(ts_new(&ts), 0);
	/* Outside a block, as the ledger fills it at open; more citizens
	 * than the first citizen table holds. */
	for (int i = 0; i < 1000; i++)
		add_one(ts, &m, 1);
	check(ts, &m);
	for (uint64_t h = 2; h < 80; h++) {
		saved = m;
		cr_assert_eq(ts_begin(ts), 0);
		/* Growing blocks early, then mostly deleting: tables grow and
		 * citizens empty out, both inside blocks that roll back. */
		unsigned adds = h < 40 ? 150 : 20, dels = h < 40 ? 40 : 120;
		for (unsigned i = 0; i < adds + dels; i++) {
			if (rnd() % (adds + dels) < adds)
				add_one(ts, &m, h);
			else
				del_one(ts, &m);
		}
		check(ts, &m);
		if (rnd() % 3 == 0) {
			ts_rollback(ts);
			m = saved;
		} else {
			ts_commit(ts);
		}
		check(ts, &m);
	}
	/* Emptied to the last trip, in and out of a block. */
	while (m.n > 10)
		del_one(ts, &m);
	cr_assert_eq(ts_begin(ts), 0);
	saved = m;
	while (m.n > 0)
		del_one(ts, &m);
	check(ts, &m);
	ts_rollback(ts);
	m = saved;
	check(ts, &m);
	while (m.n > 0)
		del_one(ts, &m);
	check(ts, &m);
	ts_free(ts);
}

Test(ledger_tripset, one_start_per_citizen)
{
	tripset *ts;
	ck_hash a, b;
	ck_pubkey c;
	ts_loc loc = { 19675, 3 };
	memset(a, 1, sizeof a);
	memset(b, 2, sizeof b);
	memset(c, 3, sizeof c);
	cr_assert_eq(ts_new(&ts), 0);
	cr_assert_eq(ts_add(ts, a, &loc, c, 100, 200), 0);
	/* The same start again can only come from a corrupt store. */
	cr_assert_eq(ts_add(ts, b, &loc, c, 100, 150), LEDGER_E_DB);
	cr_assert_eq(ts_count(ts), 1);
	cr_assert(ts_overlaps(ts, c, 199, 300));
	cr_assert(!ts_overlaps(ts, c, 200, 300));
	cr_assert(ts_overlaps(ts, c, 0, 101));
	cr_assert(!ts_overlaps(ts, c, 0, 100));
	cr_assert(ts_overlaps(ts, c, 120, 130));
	ts_free(ts);
	ts_free(NULL);
}
