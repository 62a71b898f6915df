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
 *
 * Memory. A credited trip costs one 16-byte slot of the trip table (its
 * location packed in 64 bits) at a load of 3/8 to 3/4; a citizen with
 * credited trips costs a 12-byte slot of the citizen table and a 56-byte
 * record from a pool of chunks (no malloc per citizen), which holds its
 * first interval inline; only a citizen with two or more intervals in the
 * window has a malloc'd array of them. At a million trips of a million
 * citizens that is about 115 MB (docs/ARCHITECTURE.md, "In memory").
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "ledger/ledger.h"
#include "ledger/tripset.h"

#define TS_BITS_MIN 10u

/* A location packed in 64 bits: height in the high 40 bits (35,000 years of
 * one-second blocks), the end day offset by 2^23 in the low 24 (23,000
 * years either side of 1970). */
#define TS_DAY_BITS 24u
#define TS_DAY_BIAS ((int64_t)1 << (TS_DAY_BITS - 1))

typedef struct ts_slot {
	uint64_t h;                 /* 0: empty */
	uint64_t loc;               /* packed */
} ts_slot;

typedef struct ts_iv {
	uint64_t start, end;
} ts_iv;

/* A citizen's intervals: n sorted by start, disjoint; with cap 1 the one
 * there may be is inline, else they are in a malloc'd array of cap. */
typedef struct ts_citizen {
	ck_pubkey key;
	uint32_t n, cap;
	union {
		ts_iv one;
		ts_iv *v;
	} u;
} ts_citizen;
_Static_assert(sizeof(ts_citizen) == 56, "citizen record layout");

/* Citizen records live in chunks that never move, addressed by index. */
#define TS_NONE        UINT32_MAX
#define TS_CHUNK_SHIFT 12u
#define TS_CHUNK_RECS  (1u << TS_CHUNK_SHIFT)

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
	uint64_t *cit_h;                 /* citizen table: key hashes ... */
	uint32_t *cit_rec;               /* ... and record indexes (TS_NONE: empty) */
	unsigned cits_bits;
	size_t ncits;
	ts_citizen **chunks;             /* the record pool */
	uint32_t nchunks, capchunks;
	uint32_t recs_used;              /* records handed out from chunk space */
	uint32_t free_rec;               /* chain of released records, TS_NONE at the end */
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

/* ---- locations -------------------------------------------------------------- */

static bool loc_packs(const ts_loc *l)
{
	return l->height < (1ull << (64u - TS_DAY_BITS)) && l->endday >= -TS_DAY_BIAS &&
	       l->endday < TS_DAY_BIAS;
}

static uint64_t loc_pack(const ts_loc *l)
{
	assert(loc_packs(l));
	return l->height << TS_DAY_BITS | (uint64_t)(l->endday + TS_DAY_BIAS);
}

static ts_loc loc_unpack(uint64_t p)
{
	ts_loc l = { (int64_t)(p & (((uint64_t)1 << TS_DAY_BITS) - 1)) - TS_DAY_BIAS,
		     p >> TS_DAY_BITS };
	return l;
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
	uint64_t p = loc_pack(loc);
	while (t->trips[i].h != h || t->trips[i].loc != p) {
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

/* ---- citizen records and table ---------------------------------------------- */

static ts_citizen *rec_at(const tripset *t, uint32_t r)
{
	assert(r < t->nchunks * TS_CHUNK_RECS);
	return &t->chunks[r >> TS_CHUNK_SHIFT][r & (TS_CHUNK_RECS - 1)];
}

static ts_iv *ivs(ts_citizen *c) { return c->cap == 1 ? &c->u.one : c->u.v; }
static const ts_iv *civs(const ts_citizen *c) { return c->cap == 1 ? &c->u.one : c->u.v; }

/* A fresh record index, or TS_NONE when memory is out. */
static uint32_t rec_alloc(tripset *t)
{
	if (t->free_rec != TS_NONE) {
		uint32_t r = t->free_rec;
		memcpy(&t->free_rec, rec_at(t, r)->key, sizeof t->free_rec);
		return r;
	}
	if (t->recs_used == t->nchunks * TS_CHUNK_RECS) {
		if (t->nchunks == (TS_NONE >> TS_CHUNK_SHIFT))
			return TS_NONE;
		if (t->nchunks == t->capchunks) {
			uint32_t cap = t->capchunks ? 2 * t->capchunks : 16;
			ts_citizen **c = realloc(t->chunks, cap * sizeof *c);
			if (c == NULL)
				return TS_NONE;
			t->chunks = c;
			t->capchunks = cap;
		}
		ts_citizen *chunk = malloc(TS_CHUNK_RECS * sizeof *chunk);
		if (chunk == NULL)
			return TS_NONE;
		t->chunks[t->nchunks++] = chunk;
	}
	return t->recs_used++;
}

static void rec_release(tripset *t, uint32_t r)
{
	ts_citizen *c = rec_at(t, r);
	if (c->cap > 1)
		free(c->u.v);
	memcpy(c->key, &t->free_rec, sizeof t->free_rec);
	t->free_rec = r;
}

static ts_citizen *cit_find(const tripset *t, const uint8_t *key, uint64_t h)
{
	if (t->cit_rec == NULL)
		return NULL;
	size_t mask = ((size_t)1 << t->cits_bits) - 1;
	for (size_t i = home(h, t->cits_bits); t->cit_rec[i] != TS_NONE; i = (i + 1) & mask) {
		if (t->cit_h[i] != h)
			continue;
		ts_citizen *c = rec_at(t, t->cit_rec[i]);
		if (memcmp(c->key, key, CK_PUBKEY_BYTES) == 0)
			return c;
	}
	return NULL;
}

static void cits_put(uint64_t *th, uint32_t *tr, unsigned bits, uint64_t h, uint32_t r)
{
	size_t mask = ((size_t)1 << bits) - 1;
	size_t i = home(h, bits);
	while (tr[i] != TS_NONE)
		i = (i + 1) & mask;
	th[i] = h;
	tr[i] = r;
}

static int cits_reserve(tripset *t)
{
	size_t cap = (size_t)1 << t->cits_bits;
	if (t->cit_rec != NULL && (t->ncits + 1) * 4 <= cap * 3)
		return 0;
	unsigned bits = t->cit_rec != NULL ? t->cits_bits + 1 : TS_BITS_MIN;
	uint64_t *th = malloc(((size_t)1 << bits) * sizeof *th);
	uint32_t *tr = malloc(((size_t)1 << bits) * sizeof *tr);
	if (th == NULL || tr == NULL) {
		free(th);
		free(tr);
		return LEDGER_E_NOMEM;
	}
	memset(tr, 0xff, ((size_t)1 << bits) * sizeof *tr); /* TS_NONE */
	for (size_t i = 0; t->cit_rec != NULL && i < cap; i++)
		if (t->cit_rec[i] != TS_NONE)
			cits_put(th, tr, bits, t->cit_h[i], t->cit_rec[i]);
	free(t->cit_h);
	free(t->cit_rec);
	t->cit_h = th;
	t->cit_rec = tr;
	t->cits_bits = bits;
	return 0;
}

/* Removes and releases the citizen of key if it has no interval left. */
static void cit_drop_if_empty(tripset *t, const uint8_t *key)
{
	uint64_t h = hash32(t, key);
	size_t mask = ((size_t)1 << t->cits_bits) - 1;
	size_t i = home(h, t->cits_bits);
	for (;; i = (i + 1) & mask) {
		if (t->cit_rec[i] == TS_NONE)
			return;
		if (t->cit_h[i] == h &&
		    memcmp(rec_at(t, t->cit_rec[i])->key, key, CK_PUBKEY_BYTES) == 0)
			break;
	}
	if (rec_at(t, t->cit_rec[i])->n != 0)
		return;
	rec_release(t, t->cit_rec[i]);
	for (size_t j = (i + 1) & mask; t->cit_rec[j] != TS_NONE; j = (j + 1) & mask) {
		if (stays(home(t->cit_h[j], t->cits_bits), i, j))
			continue;
		t->cit_h[i] = t->cit_h[j];
		t->cit_rec[i] = t->cit_rec[j];
		i = j;
	}
	t->cit_rec[i] = TS_NONE;
	t->cit_h[i] = 0;
	t->ncits--;
}

/* Index of the first interval starting at or after start. */
static uint32_t lower_bound(const ts_citizen *c, uint64_t start)
{
	const ts_iv *v = civs(c);
	uint32_t lo = 0, hi = c->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (v[mid].start < start)
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
	t->free_rec = TS_NONE;
	*out = t;
	return 0;
}

void ts_free(tripset *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; t->cit_rec != NULL && i < (size_t)1 << t->cits_bits; i++)
		if (t->cit_rec[i] != TS_NONE && rec_at(t, t->cit_rec[i])->cap > 1)
			free(rec_at(t, t->cit_rec[i])->u.v);
	for (uint32_t c = 0; c < t->nchunks; c++)
		free(t->chunks[c]);
	free(t->chunks);
	free(t->cit_h);
	free(t->cit_rec);
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
	if (!loc_packs(loc))
		return LEDGER_E_DB; /* only a corrupt store has such a trip */
	if (may_alloc && ((rc = trips_reserve(t)) != 0 || (rc = cits_reserve(t)) != 0))
		return rc;
	uint64_t ch = hash32(t, citizen);
	ts_citizen *c = cit_find(t, citizen, ch);
	uint32_t at = 0;
	if (c != NULL) {
		at = lower_bound(c, start);
		if (at < c->n && ivs(c)[at].start == start)
			return LEDGER_E_DB;
		if (c->n == c->cap) {
			assert(may_alloc);
			ts_iv *v = malloc(2 * (size_t)c->cap * sizeof *v);
			if (v == NULL)
				return LEDGER_E_NOMEM;
			memcpy(v, ivs(c), (size_t)c->n * sizeof *v);
			if (c->cap > 1)
				free(c->u.v);
			c->u.v = v;
			c->cap *= 2;
		}
	} else {
		assert(may_alloc);
		uint32_t r = rec_alloc(t);
		if (r == TS_NONE)
			return LEDGER_E_NOMEM;
		c = rec_at(t, r);
		memcpy(c->key, citizen, CK_PUBKEY_BYTES);
		c->n = 0;
		c->cap = 1;
		cits_put(t->cit_h, t->cit_rec, t->cits_bits, ch, r);
		t->ncits++;
	}
	/* Nothing below can fail. */
	ts_iv *v = ivs(c);
	memmove(&v[at + 1], &v[at], (size_t)(c->n - at) * sizeof *v);
	v[at] = (ts_iv){ start, end };
	c->n++;
	assert((t->ntrips + 1) * 4 <= ((size_t)1 << t->trips_bits) * 3);
	trips_put(t->trips, t->trips_bits, &(ts_slot){ hash32(t, id), loc_pack(loc) });
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
	ts_iv *v = ivs(c);
	assert(at < c->n && v[at].start == start);
	uint64_t end = v[at].end;
	memmove(&v[at], &v[at + 1], (size_t)(c->n - at - 1) * sizeof *v);
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
			*loc = loc_unpack(t->trips[i].loc);
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
	const ts_iv *v = civs(c);
	if (at < c->n && v[at].start < end)
		return true;
	return at > 0 && v[at - 1].end > start;
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
