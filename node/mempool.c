/*
 * The mempool's data structures and rules (node/mempool.h). Entries are
 * found by hash through open-addressing tables keyed with SipHash under a
 * per-process random key, because transaction hashes, trip ids and above
 * all public keys are chosen by clients, who could otherwise grind keys
 * into one probe chain. No output ever depends on table order: reap walks
 * the senders' arrival list and each sender's nonce-sorted array, and
 * eviction takes senders from lists kept by held count (below).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "node/mempool.h"

/* ---- hash table of 32-byte keys -------------------------------------- */

/* Keys are not copied: each slot points at key bytes inside its value
 * (an entry's hash, a sender's key, a trip id, a cache ring slot). The
 * slot keeps the key's SipHash too: growing and backward-shift deletion
 * then never hash again, and a probe compares 8 bytes in the slot before
 * it follows the key pointer to another cache line. */
typedef struct mp_slot {
	uint64_t h;
	const uint8_t *key;
	void *val;
} mp_slot;

typedef struct mp_map {
	size_t cap; /* power of two, or 0 before first use */
	size_t n;
	mp_slot *slot;
	const uint8_t *sipkey; /* crypto_shorthash_KEYBYTES, the pool's */
} mp_map;

#define MP_MAP_CAP_MIN 64u

static uint64_t map_hash(const mp_map *m, const uint8_t *key)
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v;
	crypto_shorthash(h, key, 32, m->sipkey);
	memcpy(&v, h, sizeof v);
	return v;
}

static void *map_get(const mp_map *m, const uint8_t *key)
{
	if (m->n == 0)
		return NULL;
	uint64_t h = map_hash(m, key);
	for (size_t i = (size_t)h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (m->slot[i].key == NULL)
			return NULL;
		if (m->slot[i].h == h && memcmp(m->slot[i].key, key, 32) == 0)
			return m->slot[i].val;
	}
}

static void map_place(mp_map *m, uint64_t h, const uint8_t *key, void *val)
{
	size_t i = (size_t)h & (m->cap - 1);
	while (m->slot[i].key != NULL)
		i = (i + 1) & (m->cap - 1);
	m->slot[i].h = h;
	m->slot[i].key = key;
	m->slot[i].val = val;
	m->n++;
}

/* Inserts a key that is not present. Load stays below 3/4. */
static int map_put(mp_map *m, const uint8_t *key, void *val)
{
	assert(map_get(m, key) == NULL);
	if ((m->n + 1) * 4 > m->cap * 3) {
		size_t ncap = m->cap ? m->cap * 2 : MP_MAP_CAP_MIN;
		mp_slot *ns = calloc(ncap, sizeof *ns);
		if (ns == NULL)
			return NODE_E_MP_NOMEM;
		mp_slot *old = m->slot;
		size_t ocap = m->cap;
		m->slot = ns;
		m->cap = ncap;
		m->n = 0;
		for (size_t i = 0; i < ocap; i++)
			if (old[i].key != NULL)
				map_place(m, old[i].h, old[i].key, old[i].val);
		free(old);
	}
	map_place(m, map_hash(m, key), key, val);
	return 0;
}

/* Removes a present key with backward-shift deletion (no tombstones, so
 * probe chains never grow from churn). */
static void map_del(mp_map *m, const uint8_t *key)
{
	size_t mask = m->cap - 1;
	uint64_t h = map_hash(m, key);
	size_t i = (size_t)h & mask;
	while (m->slot[i].h != h || memcmp(m->slot[i].key, key, 32) != 0) {
		i = (i + 1) & mask;
		assert(m->slot[i].key != NULL);
	}
	for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
		if (m->slot[j].key == NULL)
			break;
		size_t home = (size_t)m->slot[j].h & mask;
		/* Move j into the hole at i unless its home lies in (i, j]. */
		bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
		if (stays)
			continue;
		m->slot[i] = m->slot[j];
		i = j;
	}
	m->slot[i] = (mp_slot){0};
	m->n--;
}

/* ---- pool ------------------------------------------------------------- */

typedef struct mp_sender mp_sender;

typedef struct mp_entry {
	ck_hash hash;
	mp_sender *sender;
	uint64_t nonce;
	/* Held: not in the sender's ready run (mempool.h). held_since is the
	 * height at which it was admitted held or stopped being ready, what
	 * expiry counts from. */
	bool held;
	uint64_t held_since;
	uint8_t kind;
	uint32_t ntrips;
	ck_hash *trips; /* issue: trip ids, inside this allocation */
	size_t len;
	uint8_t *tx; /* canonical bytes, inside this allocation */
} mp_entry;

struct mp_sender {
	ck_pubkey key;
	/* The committed next nonce as last read from the view: the ready run
	 * is the entries with nonces base, base + 1, ... Entries below base
	 * (stale, not yet dropped) count as held. */
	uint64_t base;
	uint32_t n, cap;
	mp_entry **e;           /* sorted by nonce, no two equal */
	mp_sender *prev, *next; /* arrival order of the senders */
	uint32_t nheld;
	uint64_t held_bytes;
	mp_sender *hprev, *hnext; /* list held_by[nheld], if nheld > 0 */
};

/* Reap's per-sender cursor. */
typedef struct mp_cursor {
	mp_sender *s;
	uint32_t i, end;
} mp_cursor;

struct node_mempool {
	node_mempool_config cfg;
	uint8_t sipkey[crypto_shorthash_KEYBYTES];
	mp_map txs;     /* hash -> entry */
	mp_map senders; /* key -> sender */
	mp_map trips;   /* trip id -> entry */
	mp_sender *first, *last;
	uint64_t bytes;
	/* Verified-signature cache: a ring of hashes, oldest evicted first. */
	mp_map sig;
	ck_hash *ring;
	uint32_t ring_head, ring_n;
	mp_cursor *scratch;
	size_t scratch_cap;
	/* Senders by held count: held_by[k] lists the senders holding k
	 * (1 <= k <= per_sender_max), the one that reached k last first.
	 * No list above held_top is non-empty. */
	mp_sender **held_by;
	uint32_t held_top;
	uint64_t held_txs, held_bytes;
	uint64_t height; /* committed, from node_mempool_set_height */
	node_mempool_stats st;
};

static const struct {
	int rc;
	const char *id;
	const char *msg;
} mp_codes[] = {
#define NODE_MEMPOOL_ROW(name, val, id, msg) {val, id, msg},
    NODE_MEMPOOL_ERRORS(NODE_MEMPOOL_ROW)
#undef NODE_MEMPOOL_ROW
};

const char *node_mempool_strerror(int rc)
{
	for (size_t i = 0; i < sizeof mp_codes / sizeof mp_codes[0]; i++)
		if (mp_codes[i].rc == rc)
			return mp_codes[i].msg;
	return ledger_strerror(rc);
}

const char *node_mempool_reason(int rc)
{
	for (size_t i = 0; i < sizeof mp_codes / sizeof mp_codes[0]; i++)
		if (mp_codes[i].rc == rc)
			return mp_codes[i].id;
	switch (rc) {
	case LEDGER_E_BADSIG:
	case CK_E_BADSIG: return "bad_signature";
	case LEDGER_E_CHAIN_ID: return "wrong_chain";
	case LEDGER_E_VERSION: return "unsupported_version";
	case LEDGER_E_KIND: return "unknown_kind";
	case LEDGER_E_FIELD: return "bad_field";
	default: break;
	}
	if (rc <= -1 && rc >= -99 && rc != CM_E_NOMEM && rc != CM_E_IO)
		return "malformed";
	return "internal";
}

static bool is_decode_error(int rc)
{
	return (rc <= -1 && rc >= -99) || rc == LEDGER_E_CHAIN_ID || rc == LEDGER_E_VERSION ||
	       rc == LEDGER_E_KIND || rc == LEDGER_E_FIELD;
}

void node_mempool_note_reject(node_mempool *mp, int rc)
{
	assert(rc < 0);
	if (rc <= NODE_MEMPOOL_E_FIRST && rc > NODE_MEMPOOL_E_FIRST - NODE_MEMPOOL_E_COUNT)
		mp->st.rejected[NODE_MEMPOOL_E_FIRST - rc]++;
	else if (rc == LEDGER_E_BADSIG || rc == CK_E_BADSIG)
		mp->st.rejected_badsig++;
	else if (is_decode_error(rc))
		mp->st.rejected_malformed++;
	else
		mp->st.rejected_other++;
}

static int view_get_account(void *ctx, const ck_pubkey key, ledger_account *out)
{
	return ledger_get_account((ledger *)ctx, key, out);
}

static int view_trip_credited(void *ctx, const ck_hash trip_id, bool *credited)
{
	ledger_trip_record rec;
	int rc = ledger_get_trip((ledger *)ctx, trip_id, &rec);
	if (rc == LEDGER_E_NOTFOUND) {
		*credited = false;
		return 0;
	}
	if (rc != 0)
		return rc;
	*credited = true;
	return 0;
}

void node_mempool_view_ledger(node_mempool_view *v, ledger *l)
{
	v->ctx = l;
	v->get_account = view_get_account;
	v->trip_credited = view_trip_credited;
}

static int view_get_account_next(void *ctx, const ck_pubkey key, ledger_account *out)
{
	return ledger_get_account_next((ledger *)ctx, key, out);
}

void node_mempool_view_ledger_next(node_mempool_view *v, ledger *l)
{
	v->ctx = l;
	v->get_account = view_get_account_next;
	v->trip_credited = view_trip_credited;
}

int node_mempool_new(node_mempool **out, const node_mempool_config *cfg)
{
	*out = NULL;
	node_mempool_config c = *cfg;
	if (c.chain_id[0] == '\0' || memchr(c.chain_id, 0, sizeof c.chain_id) == NULL)
		return NODE_E_MP_CONFIG;
#define MP_DEFAULT(field, lim)                   \
	do {                                     \
		if (c.field == 0)                \
			c.field = (lim);         \
		else if (c.field > (lim))        \
			return NODE_E_MP_CONFIG; \
	} while (0)
	MP_DEFAULT(txs_max, LIM_MEMPOOL_TXS_MAX);
	MP_DEFAULT(bytes_max, LIM_MEMPOOL_BYTES_MAX);
	MP_DEFAULT(per_sender_max, LIM_MEMPOOL_PER_SENDER_MAX);
	MP_DEFAULT(nonce_window, LIM_NONCE_WINDOW);
	MP_DEFAULT(sigcache_max, LIM_SIGCACHE_ENTRIES_MAX);
	MP_DEFAULT(held_max, LIM_MEMPOOL_HELD_MAX);
	MP_DEFAULT(held_bytes_max, LIM_MEMPOOL_HELD_BYTES_MAX);
	MP_DEFAULT(held_per_sender_max, LIM_MEMPOOL_HELD_PER_SENDER_MAX);
	MP_DEFAULT(held_blocks, LIM_MEMPOOL_HELD_BLOCKS);
#undef MP_DEFAULT
	node_mempool *mp = calloc(1, sizeof *mp);
	if (mp == NULL)
		return NODE_E_MP_NOMEM;
	mp->cfg = c;
	randombytes_buf(mp->sipkey, sizeof mp->sipkey);
	mp->txs.sipkey = mp->senders.sipkey = mp->trips.sipkey = mp->sig.sipkey = mp->sipkey;
	/* The ring is the one large allocation; made once, up front. */
	mp->ring = malloc((size_t)c.sigcache_max * sizeof *mp->ring);
	/* A sender never holds more than it has pending. */
	mp->held_by = calloc((size_t)c.per_sender_max + 1, sizeof *mp->held_by);
	if (mp->ring == NULL || mp->held_by == NULL) {
		free(mp->ring);
		free(mp->held_by);
		free(mp);
		return NODE_E_MP_NOMEM;
	}
	*out = mp;
	return 0;
}

static void sender_free(mp_sender *s)
{
	free(s->e);
	free(s);
}

void node_mempool_free(node_mempool *mp)
{
	if (mp == NULL)
		return;
	for (mp_sender *s = mp->first, *next; s != NULL; s = next) {
		next = s->next;
		for (uint32_t i = 0; i < s->n; i++)
			free(s->e[i]);
		sender_free(s);
	}
	free(mp->txs.slot);
	free(mp->senders.slot);
	free(mp->trips.slot);
	free(mp->sig.slot);
	free(mp->ring);
	free(mp->held_by);
	free(mp->scratch);
	free(mp);
}

/* ---- verified-signature cache ------------------------------------------ */

bool node_mempool_sig_known(node_mempool *mp, const ck_hash txhash)
{
	return map_get(&mp->sig, txhash) != NULL;
}

void node_mempool_sig_remember(node_mempool *mp, const ck_hash txhash)
{
	if (map_get(&mp->sig, txhash) != NULL)
		return;
	uint32_t cap = mp->cfg.sigcache_max;
	uint32_t slot = (mp->ring_head + mp->ring_n) % cap;
	if (mp->ring_n == cap) {
		/* Full: the oldest slot is the one to overwrite. */
		map_del(&mp->sig, mp->ring[mp->ring_head]);
		mp->ring_head = (mp->ring_head + 1) % cap;
		mp->ring_n--;
	}
	memcpy(mp->ring[slot], txhash, sizeof(ck_hash));
	/* Out of memory only costs a later re-verification. */
	if (map_put(&mp->sig, mp->ring[slot], mp->ring[slot]) == 0)
		mp->ring_n++;
}

/* Index of the first entry of s with nonce >= nonce. */
static uint32_t sender_lower(const mp_sender *s, uint64_t nonce)
{
	uint32_t lo = 0, hi = s->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (s->e[mid]->nonce < nonce)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- held bookkeeping ---------------------------------------------------- */

static void held_unlist(node_mempool *mp, mp_sender *s)
{
	if (s->nheld == 0)
		return;
	if (s->hprev != NULL)
		s->hprev->hnext = s->hnext;
	else
		mp->held_by[s->nheld] = s->hnext;
	if (s->hnext != NULL)
		s->hnext->hprev = s->hprev;
	s->hprev = s->hnext = NULL;
}

static void held_list(node_mempool *mp, mp_sender *s)
{
	if (s->nheld == 0)
		return;
	assert(s->nheld <= mp->cfg.per_sender_max);
	s->hprev = NULL;
	s->hnext = mp->held_by[s->nheld];
	if (s->hnext != NULL)
		s->hnext->hprev = s;
	mp->held_by[s->nheld] = s;
	if (s->nheld > mp->held_top)
		mp->held_top = s->nheld;
}

/* Marks each of s's entries ready (the run of nonces from s->base) or
 * held, stamping the ones that just became held, and updates the counts
 * and s's place in the held_by lists. O(s->n); called after every change
 * to s's entries or base. */
static void sender_sync(node_mempool *mp, mp_sender *s)
{
	uint32_t nheld = 0;
	uint64_t hbytes = 0, want = s->base;
	for (uint32_t i = 0; i < s->n; i++) {
		mp_entry *e = s->e[i];
		if (e->nonce == want) {
			want++;
			e->held = false;
			continue;
		}
		if (!e->held) {
			e->held = true;
			e->held_since = mp->height;
		}
		nheld++;
		hbytes += e->len;
	}
	assert(mp->held_txs >= s->nheld);
	assert(mp->held_bytes >= s->held_bytes);
	mp->held_txs = mp->held_txs - s->nheld + nheld;
	mp->held_bytes = mp->held_bytes - s->held_bytes + hbytes;
	s->held_bytes = hbytes;
	if (nheld != s->nheld) {
		held_unlist(mp, s);
		s->nheld = nheld;
		held_list(mp, s);
	}
}

/* The sender holding the most (the first of its list), or NULL if nothing
 * is held. */
static mp_sender *heaviest(node_mempool *mp)
{
	while (mp->held_top > 0 && mp->held_by[mp->held_top] == NULL)
		mp->held_top--;
	return mp->held_top > 0 ? mp->held_by[mp->held_top] : NULL;
}

/* s's held entry with the highest nonce: the furthest from being ready. */
static mp_entry *top_held(const mp_sender *s)
{
	assert(s->nheld > 0);
	uint32_t i = s->n;
	do {
		assert(i > 0);
		i--;
	} while (!s->e[i]->held);
	return s->e[i];
}

/* ---- entries ----------------------------------------------------------- */

static void sender_unlink(node_mempool *mp, mp_sender *s)
{
	assert(s->n == 0);
	assert(s->nheld == 0);
	map_del(&mp->senders, s->key);
	if (s->prev)
		s->prev->next = s->next;
	else
		mp->first = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		mp->last = s->prev;
	sender_free(s);
	mp->st.senders--;
}

static void entry_remove(node_mempool *mp, mp_entry *e)
{
	mp_sender *s = e->sender;
	uint32_t i = sender_lower(s, e->nonce);
	assert(i < s->n);
	assert(s->e[i] == e);
	memmove(&s->e[i], &s->e[i + 1], (size_t)(s->n - i - 1) * sizeof *s->e);
	s->n--;
	map_del(&mp->txs, e->hash);
	for (uint32_t t = 0; t < e->ntrips; t++)
		map_del(&mp->trips, e->trips[t]);
	assert(mp->bytes >= e->len);
	mp->bytes -= e->len;
	mp->st.txs--;
	free(e);
	sender_sync(mp, s);
	if (s->n == 0)
		sender_unlink(mp, s);
}

static void evict(node_mempool *mp, mp_entry *e)
{
	assert(e->held);
	entry_remove(mp, e);
	mp->st.evicted_held++;
}

/* Moves s's base to the committed next nonce and drops the entries below
 * it. True if that emptied (and freed) s. */
static bool sender_rebase(node_mempool *mp, mp_sender *s, uint64_t next_nonce)
{
	s->base = next_nonce;
	while (s->n > 0 && s->e[0]->nonce < next_nonce) {
		bool last = s->n == 1;
		entry_remove(mp, s->e[0]);
		mp->st.dropped_stale++;
		if (last)
			return true;
	}
	sender_sync(mp, s);
	return false;
}

/* Restores the held bounds: evicts while the heaviest sender holds more
 * than its share or the totals are over theirs. Needed after a commit
 * dropped a transaction from the middle of a run. */
static void held_trim(node_mempool *mp)
{
	const node_mempool_config *c = &mp->cfg;
	mp_sender *h;
	while ((h = heaviest(mp)) != NULL &&
	       (h->nheld > c->held_per_sender_max || mp->held_txs > c->held_max ||
	        mp->held_bytes > c->held_bytes_max))
		evict(mp, top_held(h));
}

/* Room for a newcomer of len bytes from sender, ready or held, under the
 * rules of mempool.h ("Held transactions"): 0 if it fits, counting the
 * evictions allowed, else the code to reject it with. With apply, carries
 * out those evictions (the caller checked without apply first, on the
 * same state, so it returns 0). */
static int make_room(node_mempool *mp, const ck_pubkey sender, bool ready, size_t len, bool apply)
{
	const node_mempool_config *c = &mp->cfg;
	assert(mp->held_txs <= mp->st.txs);
	assert(mp->held_bytes <= mp->bytes);
	if (ready) {
		/* Every held transaction may go; ready ones never. Checked
		 * first, so nothing is evicted for a newcomer that would not
		 * fit anyway. */
		if (mp->st.txs - mp->held_txs >= c->txs_max ||
		    mp->bytes - mp->held_bytes + len > c->bytes_max)
			return NODE_E_MEMPOOL_FULL;
		while (apply && (mp->st.txs >= c->txs_max || mp->bytes + len > c->bytes_max)) {
			mp_sender *h = heaviest(mp);
			assert(h != NULL);
			evict(mp, top_held(h));
		}
		return 0;
	}
	const mp_sender *s = map_get(&mp->senders, sender);
	uint32_t mine = s != NULL ? s->nheld : 0;
	if (mine >= c->held_per_sender_max)
		return NODE_E_SENDER_HELD_FULL;
	bool pool_ok = mp->st.txs < c->txs_max && mp->bytes + len <= c->bytes_max;
	bool held_ok = mp->held_txs < c->held_max && mp->held_bytes + len <= c->held_bytes_max;
	if (pool_ok && held_ok)
		return 0;
	/* At most one eviction, from a sender holding more than ours. */
	int full = pool_ok ? NODE_E_HELD_FULL : NODE_E_MEMPOOL_FULL;
	mp_sender *h = heaviest(mp);
	if (h == NULL || h->nheld <= mine)
		return full;
	mp_entry *v = top_held(h);
	if (mp->bytes - v->len + len > c->bytes_max ||
	    mp->held_bytes - v->len + len > c->held_bytes_max)
		return full;
	if (apply)
		evict(mp, v);
	return 0;
}

static int hash_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(ck_hash));
}

static uint32_t role_for_kind(uint8_t kind)
{
	switch (kind) {
	case LEDGER_TX_ISSUE: return LEDGER_ROLE_ISSUER;
	case LEDGER_TX_OFFER:
	case LEDGER_TX_REFUND: return LEDGER_ROLE_MERCHANT;
	case LEDGER_TX_GOVERN: return LEDGER_ROLE_GOVERNOR;
	default: return 0;
	}
}

enum mp_mode { MP_PRECHECK, MP_INLINE, MP_VERIFIED };

/* Trip checks of an issue transaction: repeats inside it, then pending in
 * the pool, then credited (the one that reads the state, last). */
static int check_trips(node_mempool *mp, const ledger_tx *tx, const node_mempool_view *view)
{
	uint32_t n = tx->u.issue.ntrips;
	if (n == 0)
		return 0;
	ck_hash *ids = malloc((size_t)n * sizeof *ids);
	if (ids == NULL)
		return NODE_E_MP_NOMEM;
	for (uint32_t i = 0; i < n; i++)
		memcpy(ids[i], tx->u.issue.trips[i].trip_id, sizeof(ck_hash));
	qsort(ids, n, sizeof *ids, hash_cmp);
	int rc = 0;
	for (uint32_t i = 1; i < n && rc == 0; i++)
		if (memcmp(ids[i - 1], ids[i], sizeof(ck_hash)) == 0)
			rc = NODE_E_TRIP_REPEATED;
	for (uint32_t i = 0; i < n && rc == 0; i++)
		if (map_get(&mp->trips, ids[i]) != NULL)
			rc = NODE_E_TRIP_PENDING;
	for (uint32_t i = 0; i < n && rc == 0; i++) {
		bool credited = false;
		rc = view->trip_credited(view->ctx, ids[i], &credited);
		if (rc == 0 && credited)
			rc = NODE_E_TRIP_CREDITED;
	}
	free(ids);
	return rc;
}

/* Adds the entry; base is the sender's committed next nonce (the caller
 * rebased an existing sender to it). */
static int insert(node_mempool *mp, const ck_hash hash, const ledger_tx *tx, const uint8_t *buf,
                  size_t len, uint64_t base)
{
	uint32_t ntrips = tx->kind == LEDGER_TX_ISSUE ? tx->u.issue.ntrips : 0;
	mp_entry *e = malloc(sizeof *e + (size_t)ntrips * sizeof(ck_hash) + len);
	if (e == NULL)
		return NODE_E_MP_NOMEM;
	memcpy(e->hash, hash, sizeof(ck_hash));
	e->nonce = tx->nonce;
	e->held = false;
	e->held_since = mp->height;
	e->kind = tx->kind;
	e->ntrips = ntrips;
	e->trips = (ck_hash *)(void *)(e + 1);
	for (uint32_t i = 0; i < ntrips; i++)
		memcpy(e->trips[i], tx->u.issue.trips[i].trip_id, sizeof(ck_hash));
	e->tx = (uint8_t *)(e->trips + ntrips);
	e->len = len;
	memcpy(e->tx, buf, len);

	mp_sender *s = map_get(&mp->senders, tx->sender);
	bool new_sender = s == NULL;
	if (new_sender) {
		s = calloc(1, sizeof *s);
		if (s == NULL)
			goto fail_entry;
		memcpy(s->key, tx->sender, sizeof(ck_pubkey));
		s->base = base;
	}
	assert(s->base == base);
	if (s->n == s->cap) {
		uint32_t ncap = s->cap ? s->cap * 2 : 4;
		mp_entry **ne = realloc(s->e, (size_t)ncap * sizeof *ne);
		if (ne == NULL)
			goto fail_sender;
		s->e = ne;
		s->cap = ncap;
	}
	/* Reserve room in every table before touching any, so a failure
	 * leaves the pool exactly as it was. */
	if (map_put(&mp->txs, e->hash, e) != 0)
		goto fail_sender;
	if (new_sender && map_put(&mp->senders, s->key, s) != 0)
		goto fail_txs;
	uint32_t t = 0;
	for (; t < ntrips; t++)
		if (map_put(&mp->trips, e->trips[t], e) != 0)
			goto fail_trips;

	e->sender = s;
	uint32_t i = sender_lower(s, e->nonce);
	assert(i == s->n || s->e[i]->nonce != e->nonce);
	memmove(&s->e[i + 1], &s->e[i], (size_t)(s->n - i) * sizeof *s->e);
	s->e[i] = e;
	s->n++;
	if (new_sender) {
		s->prev = mp->last;
		if (mp->last)
			mp->last->next = s;
		else
			mp->first = s;
		mp->last = s;
		mp->st.senders++;
	}
	mp->bytes += len;
	mp->st.txs++;
	mp->st.admitted++;
	sender_sync(mp, s);
	return 0;

fail_trips:
	while (t-- > 0)
		map_del(&mp->trips, e->trips[t]);
	if (new_sender)
		map_del(&mp->senders, s->key);
fail_txs:
	map_del(&mp->txs, e->hash);
fail_sender:
	if (new_sender)
		sender_free(s);
fail_entry:
	free(e);
	return NODE_E_MP_NOMEM;
}

/* decoded, when given, is buf already decoded and hashed into txhash_out
 * (a precheck's output): admission then neither decodes nor hashes again.
 * keep, in MP_PRECHECK mode, receives the decoded transaction on success. */
static int admit(node_mempool *mp, const uint8_t *buf, size_t len, const node_mempool_view *view,
                 ck_hash txhash_out, enum mp_mode mode, bool *need_verify,
                 const ledger_tx *decoded, ledger_tx **keep)
{
	ck_hash hash;
	ledger_tx *owned = NULL;
	const ledger_tx *tx = decoded;
	int rc;
	if (len == 0 || len > LIM_TX_BYTES_MAX) {
		rc = NODE_E_TX_SIZE;
		goto fail;
	}
	if (decoded != NULL)
		memcpy(hash, txhash_out, sizeof hash);
	else
		ledger_tx_hash(hash, buf, len);
	if (txhash_out != NULL)
		memcpy(txhash_out, hash, sizeof hash);
	if (map_get(&mp->txs, hash) != NULL) {
		rc = NODE_E_DUPLICATE;
		goto fail;
	}
	if (decoded == NULL) {
		rc = ledger_tx_decode(buf, len, mp->cfg.chain_id, &owned);
		if (rc != 0)
			goto fail;
		tx = owned;
	}
	if (mode == MP_VERIFIED)
		node_mempool_sig_remember(mp, hash);

	ledger_account acct;
	rc = view->get_account(view->ctx, tx->sender, &acct);
	if (rc != 0)
		goto fail;
	if (tx->nonce < acct.nonce) {
		rc = NODE_E_NONCE_LOW;
		goto fail;
	}
	if (tx->nonce - acct.nonce >= mp->cfg.nonce_window) {
		rc = NODE_E_NONCE_HIGH;
		goto fail;
	}
	mp_sender *s = map_get(&mp->senders, tx->sender);
	/* The freshest committed nonce decides what is ready. A precheck
	 * changes nothing, so it reads the bookkeeping as it is. */
	if (s != NULL && mode != MP_PRECHECK && s->base != acct.nonce &&
	    sender_rebase(mp, s, acct.nonce))
		s = NULL;
	if (s != NULL) {
		uint32_t i = sender_lower(s, tx->nonce);
		if (i < s->n && s->e[i]->nonce == tx->nonce) {
			rc = NODE_E_NONCE_PENDING;
			goto fail;
		}
	}
	uint32_t role = role_for_kind(tx->kind);
	if (role != 0 && (acct.roles & role) == 0) {
		rc = NODE_E_ROLE;
		goto fail;
	}
	if (s != NULL && s->n >= mp->cfg.per_sender_max) {
		rc = NODE_E_SENDER_FULL;
		goto fail;
	}
	bool ready = node_mempool_pending_nonce(mp, tx->sender, acct.nonce) == tx->nonce;
	rc = make_room(mp, tx->sender, ready, len, false);
	if (rc != 0)
		goto fail;
	if (tx->kind == LEDGER_TX_ISSUE) {
		rc = check_trips(mp, tx, view);
		if (rc != 0)
			goto fail;
	}

	bool cached = node_mempool_sig_known(mp, hash);
	if (mode == MP_PRECHECK) {
		*need_verify = !cached;
		if (keep != NULL)
			*keep = owned;
		else
			ledger_tx_free(owned);
		return 0;
	}
	if (mode == MP_INLINE) {
		if (cached) {
			mp->st.sig_cache_hits++;
		} else {
			mp->st.sig_verifies++;
			rc = ledger_tx_verify_sigs(tx);
			if (rc != 0)
				goto fail;
			node_mempool_sig_remember(mp, hash);
		}
	}
	/* Evictions only now: a transaction that fails a check, its
	 * signature above all, never pushes another out. */
	rc = make_room(mp, tx->sender, ready, len, true);
	assert(rc == 0);
	rc = insert(mp, hash, tx, buf, len, acct.nonce);
	if (rc != 0)
		goto fail;
	ledger_tx_free(owned);
	return 0;

fail:
	ledger_tx_free(owned);
	node_mempool_note_reject(mp, rc);
	return rc;
}

int node_mempool_add(node_mempool *mp, const uint8_t *tx, size_t len, const node_mempool_view *view,
                     ck_hash txhash_out)
{
	return admit(mp, tx, len, view, txhash_out, MP_INLINE, NULL, NULL, NULL);
}

int node_mempool_precheck(node_mempool *mp, const uint8_t *tx, size_t len,
                          const node_mempool_view *view, ck_hash txhash_out, bool *need_verify,
                          ledger_tx **decoded)
{
	ck_hash hash = {0}; /* stays zero when the size check refuses the bytes */
	*need_verify = true;
	*decoded = NULL;
	int rc = admit(mp, tx, len, view, hash, MP_PRECHECK, need_verify, NULL, decoded);
	if (txhash_out != NULL)
		memcpy(txhash_out, hash, sizeof hash);
	return rc;
}

int node_mempool_add_decoded(node_mempool *mp, const uint8_t *tx, size_t len,
                             const ledger_tx *decoded, const ck_hash txhash,
                             const node_mempool_view *view)
{
	ck_hash hash;
	memcpy(hash, txhash, sizeof hash);
	return admit(mp, tx, len, view, hash, MP_VERIFIED, NULL, decoded, NULL);
}

bool node_mempool_contains(const node_mempool *mp, const ck_hash txhash)
{
	return map_get(&mp->txs, txhash) != NULL;
}

uint64_t node_mempool_pending_nonce(const node_mempool *mp, const ck_pubkey key,
                                    uint64_t committed_nonce)
{
	const mp_sender *s = map_get(&mp->senders, key);
	uint64_t next = committed_nonce;
	if (s == NULL)
		return next;
	for (uint32_t i = sender_lower(s, committed_nonce); i < s->n && s->e[i]->nonce == next; i++)
		next++;
	return next;
}

/* ---- reap -------------------------------------------------------------- */

int node_mempool_reap(node_mempool *mp, const node_mempool_view *view, uint32_t max_txs,
                      uint64_t max_bytes, uint64_t max_trips, node_mempool_txref *out,
                      uint32_t *n)
{
	*n = 0;
	if (mp->scratch_cap < mp->st.senders) {
		mp_cursor *ns = realloc(mp->scratch, (size_t)mp->st.senders * sizeof *ns);
		if (ns == NULL)
			return NODE_E_MP_NOMEM;
		mp->scratch = ns;
		mp->scratch_cap = mp->st.senders;
	}
	/* Each sender's ready run: consecutive nonces from its committed
	 * next nonce. Entries below it are stale (update drops them). */
	size_t nc = 0;
	for (mp_sender *s = mp->first; s != NULL; s = s->next) {
		if (s->nheld == s->n)
			continue;
		ledger_account acct;
		int rc = view->get_account(view->ctx, s->key, &acct);
		if (rc != 0)
			return rc;
		uint32_t i = sender_lower(s, acct.nonce), end = i;
		while (end < s->n && s->e[end]->nonce == acct.nonce + (end - i))
			end++;
		if (end > i)
			mp->scratch[nc++] = (mp_cursor){s, i, end};
	}
	/* Round robin: one transaction per sender per pass, in arrival
	 * order; exhausted senders are compacted out so the cost stays
	 * linear in senders plus output. */
	uint64_t bytes = 0, trips = 0;
	while (nc > 0 && *n < max_txs) {
		size_t keep = 0;
		for (size_t c = 0; c < nc; c++) {
			mp_cursor cur = mp->scratch[c];
			if (*n == max_txs)
				break;
			const mp_entry *e = cur.s->e[cur.i];
			if (e->len > max_bytes - bytes || e->ntrips > max_trips - trips)
				continue; /* cannot take it, so none after it */
			out[*n] = (node_mempool_txref){e->tx, e->len, e->hash};
			(*n)++;
			bytes += e->len;
			trips += e->ntrips;
			cur.i++;
			if (cur.i < cur.end)
				mp->scratch[keep++] = cur;
		}
		nc = keep;
	}
	assert(bytes <= max_bytes && trips <= max_trips);
	return 0;
}

/* ---- after a commit ------------------------------------------------------ */

/* Rebases s on the account's next nonce, dropping the entries below it.
 * s may be freed (when it empties). */
static int drop_stale(node_mempool *mp, mp_sender *s, const node_mempool_view *view)
{
	ledger_account acct;
	int rc = view->get_account(view->ctx, s->key, &acct);
	if (rc != 0)
		return rc;
	(void)sender_rebase(mp, s, acct.nonce);
	return 0;
}

/* Drops the pending transaction holding trip id, if the trip is now
 * credited. */
static int drop_trip_holder(node_mempool *mp, const ck_hash trip_id, const node_mempool_view *view)
{
	mp_entry *holder = map_get(&mp->trips, trip_id);
	if (holder == NULL)
		return 0;
	bool credited = false;
	int rc = view->trip_credited(view->ctx, trip_id, &credited);
	if (rc != 0)
		return rc;
	if (credited) {
		entry_remove(mp, holder);
		mp->st.dropped_stale++;
	}
	return 0;
}

int node_mempool_update(node_mempool *mp, const node_mempool_view *view, const uint8_t *const *txs,
                        const size_t *lens, uint32_t n)
{
	int rc = 0;
	/* Senders touched by the block: only their nonces moved. Kept as
	 * keys because removing entries may free a sender. */
	ck_pubkey *touched = n ? malloc((size_t)n * sizeof *touched) : NULL;
	if (n && touched == NULL)
		return NODE_E_MP_NOMEM;
	uint32_t nt = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (lens[i] == 0 || lens[i] > LIM_TX_BYTES_MAX)
			continue;
		ck_hash h;
		ledger_tx_hash(h, txs[i], lens[i]);
		mp_entry *e = map_get(&mp->txs, h);
		if (e != NULL) {
			memcpy(touched[nt++], e->sender->key, sizeof(ck_pubkey));
			/* Its commit moved the sender's next nonce past it: the
			 * rest of the run stays ready until drop_stale reads the
			 * exact value. */
			if (e->sender->base <= e->nonce)
				e->sender->base = e->nonce + 1;
			entry_remove(mp, e);
			mp->st.removed_committed++;
			continue;
		}
		/* Not ours: someone else's transaction may have taken a nonce
		 * or credited a trip that one of ours also holds. */
		ledger_tx *tx = NULL;
		if (ledger_tx_decode(txs[i], lens[i], mp->cfg.chain_id, &tx) != 0)
			continue;
		memcpy(touched[nt++], tx->sender, sizeof(ck_pubkey));
		if (tx->kind == LEDGER_TX_ISSUE)
			for (uint32_t t = 0; t < tx->u.issue.ntrips && rc == 0; t++)
				rc = drop_trip_holder(mp, tx->u.issue.trips[t].trip_id, view);
		ledger_tx_free(tx);
		if (rc != 0)
			goto done;
	}
	for (uint32_t i = 0; i < nt; i++) {
		mp_sender *s = map_get(&mp->senders, touched[i]);
		if (s == NULL)
			continue;
		rc = drop_stale(mp, s, view);
		if (rc != 0)
			goto done;
	}
done:
	free(touched);
	/* After a view error some senders keep a stale base, and their
	 * counts with it: trim only on counts that are right. */
	if (rc == 0)
		held_trim(mp);
	return rc;
}

int node_mempool_recheck(node_mempool *mp, const node_mempool_view *view)
{
	for (mp_sender *s = mp->first, *next; s != NULL; s = next) {
		next = s->next;
		int rc = drop_stale(mp, s, view);
		if (rc != 0)
			return rc;
	}
	for (mp_sender *s = mp->first, *next; s != NULL; s = next) {
		next = s->next;
		/* Walk down from the end: a removal only shifts later slots, and
		 * the last removal may free s, after which nothing is read. */
		for (uint32_t i = s->n; i-- > 0;) {
			mp_entry *e = s->e[i];
			bool last = s->n == 1;
			bool drop = false;
			for (uint32_t t = 0; t < e->ntrips && !drop; t++) {
				int rc = view->trip_credited(view->ctx, e->trips[t], &drop);
				if (rc != 0)
					return rc;
			}
			if (drop) {
				entry_remove(mp, e);
				mp->st.dropped_stale++;
				if (last)
					break;
			}
		}
	}
	held_trim(mp);
	return 0;
}

/* Drops s's entries held for held_blocks or more. s may be freed. */
static void expire_sender(node_mempool *mp, mp_sender *s)
{
	/* Downwards: a removal shifts only later slots. */
	for (uint32_t i = s->n; i-- > 0;) {
		mp_entry *e = s->e[i];
		if (!e->held || mp->height < e->held_since ||
		    mp->height - e->held_since < mp->cfg.held_blocks)
			continue;
		bool last = s->n == 1;
		entry_remove(mp, e);
		mp->st.expired_held++;
		if (last)
			return;
	}
}

void node_mempool_set_height(node_mempool *mp, uint64_t height)
{
	mp->height = height;
	/* Only senders holding something are visited. One that loses
	 * entries moves to a shorter list, where it may be visited again,
	 * to no effect. */
	for (uint32_t k = mp->held_top; k > 0; k--)
		for (mp_sender *s = mp->held_by[k], *next; s != NULL; s = next) {
			next = s->hnext;
			expire_sender(mp, s);
		}
}

void node_mempool_get_stats(const node_mempool *mp, node_mempool_stats *out)
{
	*out = mp->st;
	out->bytes = mp->bytes;
	out->sigcache_entries = mp->ring_n;
	out->held = mp->held_txs;
	out->held_bytes = mp->held_bytes;
}
