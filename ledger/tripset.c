/*
 * The in-memory window of credited trips (ledger/tripset.h): an open
 * addressing table from trip-id hashes to record locations, and a table of
 * citizens, each with its credited intervals sorted by start. Separate from
 * the rules because it knows nothing of LMDB or methodology: it answers
 * "credited?" and "overlapping?" and undoes a failed block.
 *
 * Both tables use linear probing with deletion by backward shift, so there
 * are no tombstones and a probe ends at the first empty slot; they grow
 * (double) at three quarters full and never shrink. Slots are addressed by
 * the top bits of a 64-bit hash: the high half of sum(a_i * w_i) + b mod
 * 2^128 over the four 64-bit words w_i of the 32-byte id or key, with a_i
 * and b random 128-bit numbers (Dietzfelbinger's multiply-shift for
 * vectors), which no caller can steer without knowing them.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "ledger/ledger.h"
#include "ledger/tripset.h"

#define TS_BITS_MIN 10u

typedef struct ts_slot {
	uint64_t h;                 /* 0: empty */
	uint64_t height;
	int64_t endday;
} ts_slot;

typedef struct ts_iv {
	uint64_t start, end;
} ts_iv;

typedef struct ts_citizen {
	ck_pubkey key;
	uint32_t n, cap;
	ts_iv *v;                   /* n intervals sorted by start, disjoint */
} ts_citizen;

typedef struct ts_cslot {
	uint64_t h;
	ts_citizen *c;              /* NULL: empty */
} ts_cslot;

enum { TS_UNDO_ADD = 1, TS_UNDO_DEL = 2 };

typedef struct ts_undo {
	uint8_t op;
	ck_hash id;
	ts_loc loc;
	ck_pubkey citizen;
	uint64_t start, end;
} ts_undo;

struct tripset {
	unsigned __int128 mul[4], add;   /* the hashing secret */
	ts_slot *trips;
	unsigned trips_bits;
	size_t ntrips;
	ts_cslot *cits;
	unsigned cits_bits;
	size_t ncits;
	bool recording;
	ts_undo *undo;
	size_t nundo, capundo;
	ck_pubkey *emptied;              /* citizens left without intervals */
	size_t nemptied, capemptied;
};

/* ---- hashing and probing ------------------------------------------------- */

static uint64_t hash32(const tripset *t, const uint8_t *p)
{
	unsigned __int128 acc = t->add;
	for (unsigned i = 0; i < 4; i++) {
		uint64_t w;
		memcpy(&w, p + 8 * i, sizeof w);
		acc += t->mul[i] * w;
	}
	uint64_t h = (uint64_t)(acc >> 64);
	return h != 0 ? h : 1;   /* 0 marks an empty trip slot */
}

static size_t home(uint64_t h, unsigned bits) { return (size_t)(h >> (64u - bits)); }

/* Whether an entry whose probe starts at k may sit at j with slot i empty,
 * i.e. k lies cyclically in (i, j]. */
static bool stays(size_t k, size_t i, size_t j)
{
	return i <= j ? (k > i && k <= j) : (k > i || k <= j);
}

/* ---- trip table ---------------------------------------------------------- */

static void trips_put(ts_slot *tab, unsigned bits, const ts_slot *s)
{
	size_t mask = ((size_t)1 << bits) - 1;
	size_t i = home(s->h, bits);
	while (tab[i].h != 0)
		i = (i + 1) & mask;
	tab[i] = *s;
}

/* Makes room for one more trip. */
static int trips_reserve(tripset *t)
{
	size_t cap = (size_t)1 << t->trips_bits;
	if (t->trips != NULL && (t->ntrips + 1) * 4 <= cap * 3)
		return 0;
	unsigned bits = t->trips != NULL ? t->trips_bits + 1 : TS_BITS_MIN;
	ts_slot *tab = calloc((size_t)1 << bits, sizeof *tab);
	if (tab == NULL)
		return LEDGER_E_NOMEM;
	for (size_t i = 0; t->trips != NULL && i < cap; i++)
		if (t->trips[i].h != 0)
			trips_put(tab, bits, &t->trips[i]);
	free(t->trips);
	t->trips = tab;
	t->trips_bits = bits;
	return 0;
}

static void trips_remove(tripset *t, uint64_t h, const ts_loc *loc)
{
	size_t mask = ((size_t)1 << t->trips_bits) - 1;
	size_t i = home(h, t->trips_bits);
	while (t->trips[i].h != h || t->trips[i].height != loc->height ||
	       t->trips[i].endday != loc->endday) {
		assert(t->trips[i].h != 0);   /* the trip must be present */
		i = (i + 1) & mask;
	}
	for (size_t j = (i + 1) & mask; t->trips[j].h != 0; j = (j + 1) & mask) {
		if (stays(home(t->trips[j].h, t->trips_bits), i, j))
			continue;
		t->trips[i] = t->trips[j];
		i = j;
	}
	t->trips[i].h = 0;
	t->ntrips--;
}

/* ---- citizen table ------------------------------------------------------- */

static ts_citizen *cit_find(const tripset *t, const uint8_t *key, uint64_t h)
{
	if (t->cits == NULL)
		return NULL;
	size_t mask = ((size_t)1 << t->cits_bits) - 1;
	for (size_t i = home(h, t->cits_bits); t->cits[i].c != NULL; i = (i + 1) & mask)
		if (t->cits[i].h == h && memcmp(t->cits[i].c->key, key, CK_PUBKEY_BYTES) == 0)
			return t->cits[i].c;
	return NULL;
}

static void cits_put(ts_cslot *tab, unsigned bits, const ts_cslot *s)
{
	size_t mask = ((size_t)1 << bits) - 1;
	size_t i = home(s->h, bits);
	while (tab[i].c != NULL)
		i = (i + 1) & mask;
	tab[i] = *s;
}

static int cits_reserve(tripset *t)
{
	size_t cap = (size_t)1 << t->cits_bits;
	if (t->cits != NULL && (t->ncits + 1) * 4 <= cap * 3)
		return 0;
	unsigned bits = t->cits != NULL ? t->cits_bits + 1 : TS_BITS_MIN;
	ts_cslot *tab = calloc((size_t)1 << bits, sizeof *tab);
	if (tab == NULL)
		return LEDGER_E_NOMEM;
	for (size_t i = 0; t->cits != NULL && i < cap; i++)
		if (t->cits[i].c != NULL)
			cits_put(tab, bits, &t->cits[i]);
	free(t->cits);
	t->cits = tab;
	t->cits_bits = bits;
	return 0;
}

/* Removes and frees the citizen of key if it has no interval left. */
static void cit_drop_if_empty(tripset *t, const uint8_t *key)
{
	uint64_t h = hash32(t, key);
	size_t mask = ((size_t)1 << t->cits_bits) - 1;
	size_t i = home(h, t->cits_bits);
	for (;; i = (i + 1) & mask) {
		if (t->cits[i].c == NULL)
			return;
		if (t->cits[i].h == h && memcmp(t->cits[i].c->key, key, CK_PUBKEY_BYTES) == 0)
			break;
	}
	ts_citizen *c = t->cits[i].c;
	if (c->n != 0)
		return;
	free(c->v);
	free(c);
	for (size_t j = (i + 1) & mask; t->cits[j].c != NULL; j = (j + 1) & mask) {
		if (stays(home(t->cits[j].h, t->cits_bits), i, j))
			continue;
		t->cits[i] = t->cits[j];
		i = j;
	}
	t->cits[i].c = NULL;
	t->cits[i].h = 0;
	t->ncits--;
}

/* Index of the first interval starting at or after start. */
static uint32_t lower_bound(const ts_citizen *c, uint64_t start)
{
	uint32_t lo = 0, hi = c->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (c->v[mid].start < start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- lifecycle ------------------------------------------------------------ */

int ts_new(tripset **out)
{
	tripset *t = calloc(1, sizeof *t);
	uint8_t seed[5 * 16];
	*out = NULL;
	if (t == NULL)
		return LEDGER_E_NOMEM;
	if (getrandom(seed, sizeof seed, 0) != (ssize_t)sizeof seed) {
		free(t);
		return LEDGER_E_DB;
	}
	for (unsigned i = 0; i < 4; i++)
		memcpy(&t->mul[i], seed + 16 * i, 16);
	memcpy(&t->add, seed + 64, 16);
	*out = t;
	return 0;
}

void ts_free(tripset *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; t->cits != NULL && i < (size_t)1 << t->cits_bits; i++)
		if (t->cits[i].c != NULL) {
			free(t->cits[i].c->v);
			free(t->cits[i].c);
		}
	free(t->cits);
	free(t->trips);
	free(t->undo);
	free(t->emptied);
	free(t);
}

size_t ts_count(const tripset *t) { return t->ntrips; }

/* ---- changes --------------------------------------------------------------- */

static int undo_reserve(tripset *t)
{
	if (!t->recording || t->nundo < t->capundo)
		return 0;
	size_t cap = t->capundo ? 2 * t->capundo : 1024;
	ts_undo *u = realloc(t->undo, cap * sizeof *u);
	if (u == NULL)
		return LEDGER_E_NOMEM;
	t->undo = u;
	t->capundo = cap;
	return 0;
}

static void undo_push(tripset *t, uint8_t op, const ck_hash id, const ts_loc *loc,
		      const ck_pubkey citizen, uint64_t start, uint64_t end)
{
	if (!t->recording)
		return;
	assert(t->nundo < t->capundo);
	ts_undo *u = &t->undo[t->nundo++];
	u->op = op;
	memcpy(u->id, id, CK_HASH_BYTES);
	u->loc = *loc;
	memcpy(u->citizen, citizen, CK_PUBKEY_BYTES);
	u->start = start;
	u->end = end;
}

/* Adds without logging; when may_alloc is false (rollback) the room must be
 * there already. */
static int add(tripset *t, const ck_hash id, const ts_loc *loc, const ck_pubkey citizen,
	       uint64_t start, uint64_t end, bool may_alloc)
{
	int rc;
	assert(start < end);
	if (may_alloc && ((rc = trips_reserve(t)) != 0 || (rc = cits_reserve(t)) != 0))
		return rc;
	uint64_t ch = hash32(t, citizen);
	ts_citizen *c = cit_find(t, citizen, ch);
	uint32_t at = 0;
	if (c != NULL) {
		at = lower_bound(c, start);
		if (at < c->n && c->v[at].start == start)
			return LEDGER_E_DB;
		if (c->n == c->cap) {
			assert(may_alloc);
			ts_iv *v = realloc(c->v, 2 * (size_t)c->cap * sizeof *v);
			if (v == NULL)
				return LEDGER_E_NOMEM;
			c->v = v;
			c->cap *= 2;
		}
	} else {
		assert(may_alloc);
		c = malloc(sizeof *c);
		ts_iv *v = malloc(2 * sizeof *v);
		if (c == NULL || v == NULL) {
			free(c);
			free(v);
			return LEDGER_E_NOMEM;
		}
		memcpy(c->key, citizen, CK_PUBKEY_BYTES);
		c->n = 0;
		c->cap = 2;
		c->v = v;
		cits_put(t->cits, t->cits_bits, &(ts_cslot){ ch, c });
		t->ncits++;
	}
	/* Nothing below can fail. */
	memmove(&c->v[at + 1], &c->v[at], (size_t)(c->n - at) * sizeof *c->v);
	c->v[at] = (ts_iv){ start, end };
	c->n++;
	assert((t->ntrips + 1) * 4 <= ((size_t)1 << t->trips_bits) * 3);
	trips_put(t->trips, t->trips_bits, &(ts_slot){ hash32(t, id), loc->height, loc->endday });
	t->ntrips++;
	return 0;
}

/* Removes without logging; leaves an emptied citizen in place. */
static uint64_t del(tripset *t, const ck_hash id, const ts_loc *loc, const ck_pubkey citizen,
		    uint64_t start, uint32_t *left)
{
	ts_citizen *c = cit_find(t, citizen, hash32(t, citizen));
	assert(c != NULL);
	uint32_t at = lower_bound(c, start);
	assert(at < c->n && c->v[at].start == start);
	uint64_t end = c->v[at].end;
	memmove(&c->v[at], &c->v[at + 1], (size_t)(c->n - at - 1) * sizeof *c->v);
	c->n--;
	*left = c->n;
	trips_remove(t, hash32(t, id), loc);
	return end;
}

int ts_add(tripset *t, const ck_hash id, const ts_loc *loc, const ck_pubkey citizen,
	   uint64_t start, uint64_t end)
{
	int rc = undo_reserve(t);
	if (rc == 0)
		rc = add(t, id, loc, citizen, start, end, true);
	if (rc == 0)
		undo_push(t, TS_UNDO_ADD, id, loc, citizen, start, end);
	return rc;
}

int ts_del(tripset *t, const ck_hash id, const ts_loc *loc, const ck_pubkey citizen,
	   uint64_t start)
{
	int rc = undo_reserve(t);
	if (rc != 0)
		return rc;
	if (t->recording && t->nemptied == t->capemptied) {
		size_t cap = t->capemptied ? 2 * t->capemptied : 256;
		ck_pubkey *e = realloc(t->emptied, cap * sizeof *e);
		if (e == NULL)
			return LEDGER_E_NOMEM;
		t->emptied = e;
		t->capemptied = cap;
	}
	uint32_t left;
	uint64_t end = del(t, id, loc, citizen, start, &left);
	undo_push(t, TS_UNDO_DEL, id, loc, citizen, start, end);
	if (left == 0 && t->recording)
		memcpy(t->emptied[t->nemptied++], citizen, CK_PUBKEY_BYTES);
	else if (left == 0)
		cit_drop_if_empty(t, citizen);
	return 0;
}

/* ---- lookups ----------------------------------------------------------------- */

bool ts_find(const tripset *t, const ck_hash id, size_t *it, ts_loc *loc)
{
	if (t->trips == NULL)
		return false;
	uint64_t h = hash32(t, id);
	size_t mask = ((size_t)1 << t->trips_bits) - 1;
	for (size_t i = (home(h, t->trips_bits) + *it) & mask; t->trips[i].h != 0;
	     i = (i + 1) & mask) {
		(*it)++;
		if (t->trips[i].h == h) {
			loc->height = t->trips[i].height;
			loc->endday = t->trips[i].endday;
			return true;
		}
	}
	return false;
}

bool ts_overlaps(const tripset *t, const ck_pubkey citizen, uint64_t start, uint64_t end)
{
	assert(start < end);
	const ts_citizen *c = cit_find(t, citizen, hash32(t, citizen));
	if (c == NULL)
		return false;
	/* A citizen's intervals are disjoint and sorted, so only the first one
	 * starting at or after start and the one before it can overlap. */
	uint32_t at = lower_bound(c, start);
	if (at < c->n && c->v[at].start < end)
		return true;
	return at > 0 && c->v[at - 1].end > start;
}

/* ---- blocks -------------------------------------------------------------------- */

int ts_begin(tripset *t)
{
	assert(!t->recording);
	assert(t->nundo == 0 && t->nemptied == 0);
	t->recording = true;
	int rc = undo_reserve(t);
	if (rc != 0)
		t->recording = false;
	return rc;
}

void ts_rollback(tripset *t)
{
	assert(t->recording);
	t->recording = false;
	for (size_t i = t->nundo; i-- > 0;) {
		const ts_undo *u = &t->undo[i];
		if (u->op == TS_UNDO_ADD) {
			uint32_t left;
			(void)del(t, u->id, &u->loc, u->citizen, u->start, &left);
		} else {
			int rc = add(t, u->id, &u->loc, u->citizen, u->start, u->end, false);
			assert(rc == 0);
			(void)rc;
		}
	}
	/* Citizens the block created are empty again; free them now that no
	 * undo step can need their room. */
	for (size_t i = 0; i < t->nundo; i++)
		cit_drop_if_empty(t, t->undo[i].citizen);
	t->nundo = 0;
	t->nemptied = 0;
}

void ts_commit(tripset *t)
{
	assert(t->recording);
	t->recording = false;
	for (size_t i = 0; i < t->nemptied; i++)
		cit_drop_if_empty(t, t->emptied[i]);
	t->nundo = 0;
	t->nemptied = 0;
}
