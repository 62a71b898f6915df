/*
 * Genesis: the JSON description of a network's starting point (chain id,
 * time, time zone, founding members and their keys, governors, methodology
 * version 1, the consensus-critical limits) parsed into a ledger_genesis,
 * validated strictly, and hashed through a canonical msgpack form. Also the
 * methodology's default parameters and bounds, because genesis is where
 * version 1 is born and governance changes must pass the same bounds.
 * Separate from the transaction codec because it reads JSON written by
 * people, where every mistake must be reported with the field that holds it.
 * The schema is in genesis/README.md, the canonical form in docs/GENESIS.md.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ledger/ledger.h"

#define GEN_PATH_BYTES 96u
/* Version of the canonical msgpack form; a new field means a new version. */
#define GEN_FORMAT_VERSION 1u
/* Canonical msgpack has no signed integers: the time zone offset is written
 * biased by one day. */
#define GEN_TZ_BIAS_S 86400
#define GEN_TZ_OFFSET_S_MAX (14 * 3600)   /* UTC+14 is the furthest zone */

/* Methodology bounds (docs/METHODOLOGY.md, "Bounds"). Generous next to
 * any published factor; they exist so that a typo (a factor in grams where
 * milligrams are meant times a thousand, a speed in m/s) cannot pass. */
#define METH_REDUCTION_MG_PER_KM_MAX 1000000u   /* 1 kg per km */
#define METH_MIN_DISTANCE_M_MAX 100000u         /* 100 km */
#define METH_MAX_SPEED_KMH_MAX 1000u

/* Role bits are 1u << 0 .. 1u << (NROLES - 1); ledger_role_name names them. */
#define NROLES 5u
_Static_assert((1u << NROLES) - 1u == LEDGER_ROLES_ALL, "NROLES covers every role bit");

/* The consensus-critical limits a genesis file repeats so that operators see
 * them; parse insists they equal the compiled values, and the hash covers
 * them, so nodes built with different limits cannot share a chain. The
 * order here is the order in the canonical form: append only. */
static const struct {
	const char *name;
	uint64_t value;
} gen_limits[] = {
	{"chain_id_bytes_max", LIM_CHAIN_ID_BYTES_MAX},
	{"tx_bytes_max", LIM_TX_BYTES_MAX},
	{"trips_per_tx_max", LIM_TRIPS_PER_TX_MAX},
	{"tx_sigs_max", LIM_TX_SIGS_MAX},
	{"block_txs_max", LIM_BLOCK_TXS_MAX},
	{"block_bytes_max", LIM_BLOCK_BYTES_MAX},
	{"validators_max", LIM_VALIDATORS_MAX},
	{"members_max", LIM_MEMBERS_MAX},
	{"member_keys_max", LIM_MEMBER_KEYS_MAX},
	{"name_bytes_max", LIM_NAME_BYTES_MAX},
	{"text_bytes_max", LIM_TEXT_BYTES_MAX},
	{"modes_max", LIM_MODES_MAX},
	{"nonce_window", LIM_NONCE_WINDOW},
	{"claim_before_s_max", LIM_CLAIM_BEFORE_S_MAX},
	{"claim_after_s_max", LIM_CLAIM_AFTER_S_MAX},
};
#define NLIMITS (sizeof gen_limits / sizeof gen_limits[0])

/* ---- methodology defaults and bounds ----------------------------------- */

void ledger_methodology_default(ledger_methodology *m)
{
	assert(m != NULL);
	memset(m, 0, sizeof *m);
	m->version = 1;
	m->effective_height = 0;
	/* Per citizen per day, all modes: 3 kg, about 64 km by metro. */
	m->daily_cap_g = 3000;
	/* Beijing settles metro and bus trips two days later and lets them be
	 * claimed within 7 days; 10 minutes after covers operators' clocks. */
	m->claim_before_s = 7u * 86400u;
	m->claim_after_s = 600u;

	/* Every factor is a reduction (baseline minus the mode's emissions) in
	 * mg CO2e per passenger-km; docs/METHODOLOGY.md derives each one. */
	m->mode[LEDGER_MODE_WALK] = (ledger_mode_params){
		.enabled = true,
		.reduction_mg_per_km = 25000,    /* 0.02 g/step, 1,250 steps/km */
		.min_distance_m = 500,
		.max_speed_kmh = 8,
		.daily_cap_g = 296,              /* Ant Forest's walking cap */
	};
	m->mode[LEDGER_MODE_CYCLE] = (ledger_mode_params){
		.enabled = true,
		.reduction_mg_per_km = 40000,    /* Wuhan shared bike, 40 g/km */
		.min_distance_m = 500,
		.max_speed_kmh = 30,
		.daily_cap_g = 1200,             /* 30 km */
	};
	m->mode[LEDGER_MODE_BUS] = (ledger_mode_params){
		.enabled = true,
		.reduction_mg_per_km = 26900,    /* Shenzhen battery-electric bus */
		.min_distance_m = 1000,
		.max_speed_kmh = 80,
		.daily_cap_g = 1600,             /* about 60 km */
	};
	m->mode[LEDGER_MODE_METRO] = (ledger_mode_params){
		.enabled = true,
		.reduction_mg_per_km = 46700,    /* Shenzhen metro, lowest published */
		.min_distance_m = 1000,
		.max_speed_kmh = 120,
		.daily_cap_g = 2800,             /* 60 km */
	};
	m->mode[LEDGER_MODE_RAIL] = (ledger_mode_params){
		.enabled = true,
		.reduction_mg_per_km = 46700,    /* no own source: the metro factor */
		.min_distance_m = 1000,
		.max_speed_kmh = 200,
		.daily_cap_g = 3000,
	};
	/* Car-pooling stays off, with no factor, until the city adopts a
	 * sourced one by governance (docs/METHODOLOGY.md, "Car-pooling"). */
	m->mode[LEDGER_MODE_CARPOOL] = (ledger_mode_params){.enabled = false};
}

static int msg_fail(int rc, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int msg_fail(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	if (err != NULL && errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

int ledger_methodology_check(const ledger_methodology *m, char *err, size_t errlen)
{
	assert(m != NULL);
	if (m->version < 1)
		return msg_fail(LEDGER_E_FIELD, err, errlen, "version: must be at least 1");
	if (m->daily_cap_g < 1)
		return msg_fail(LEDGER_E_FIELD, err, errlen,
				"daily_cap_g: must be at least 1 (every citizen is capped)");
	if (m->claim_before_s < 1 || m->claim_before_s > LIM_CLAIM_BEFORE_S_MAX)
		return msg_fail(LEDGER_E_FIELD, err, errlen, "claim_before_s: must be 1..%u",
				LIM_CLAIM_BEFORE_S_MAX);
	if (m->claim_after_s > LIM_CLAIM_AFTER_S_MAX)
		return msg_fail(LEDGER_E_FIELD, err, errlen, "claim_after_s: must be 0..%u",
				LIM_CLAIM_AFTER_S_MAX);
	for (unsigned i = 1; i <= LEDGER_MODE_MAX; i++) {
		const ledger_mode_params *p = &m->mode[i];
		const char *mn = ledger_mode_name(i);
		assert(mn != NULL);
		/* A disabled mode may keep zeros: enabling it later is a
		 * governance change that must then pass the lower bounds. */
		uint32_t lo = p->enabled ? 1 : 0;
		if (p->reduction_mg_per_km < lo || p->reduction_mg_per_km > METH_REDUCTION_MG_PER_KM_MAX)
			return msg_fail(LEDGER_E_FIELD, err, errlen,
					"modes.%s.reduction_mg_per_km: must be %u..%u", mn, lo,
					METH_REDUCTION_MG_PER_KM_MAX);
		if (p->min_distance_m > METH_MIN_DISTANCE_M_MAX)
			return msg_fail(LEDGER_E_FIELD, err, errlen,
					"modes.%s.min_distance_m: must be 0..%u", mn,
					METH_MIN_DISTANCE_M_MAX);
		if (p->max_speed_kmh < lo || p->max_speed_kmh > METH_MAX_SPEED_KMH_MAX)
			return msg_fail(LEDGER_E_FIELD, err, errlen,
					"modes.%s.max_speed_kmh: must be %u..%u", mn, lo,
					METH_MAX_SPEED_KMH_MAX);
	}
	return 0;
}

/* ---- canonical form and hash ------------------------------------------- */

/*
 * The canonical form (docs/GENESIS.md) is one positional array:
 *
 *   genesis     = [format(1), chain_id str, genesis_time_ms uint,
 *                  tz_offset_s + 86400 uint, governor_threshold uint,
 *                  [member...], methodology, [limit uint...]]
 *   member      = [id uint, name str, roles uint, modes uint,
 *                  [key bin(32)...], p2p_addr str]
 *   methodology = [version uint, effective_height uint, daily_cap_g uint,
 *                  claim_before_s uint, claim_after_s uint,
 *                  [mode_params for modes 1..LEDGER_MODE_MAX in order]]
 *   mode_params = [enabled bool, reduction_mg_per_km uint, min_distance_m
 *                  uint, max_speed_kmh uint, daily_cap_g uint]
 *
 * roles and modes are the bit masks of ledger.h; limits follow gen_limits.
 * The hash is ck_hash_tagged("genesis", these bytes).
 */
static void encode_methodology(const ledger_methodology *m, cm_wr *w)
{
	cm_wr_array(w, 6);
	cm_wr_uint(w, m->version);
	cm_wr_uint(w, m->effective_height);
	cm_wr_uint(w, m->daily_cap_g);
	cm_wr_uint(w, m->claim_before_s);
	cm_wr_uint(w, m->claim_after_s);
	cm_wr_array(w, LEDGER_MODE_MAX);
	for (unsigned i = 1; i <= LEDGER_MODE_MAX; i++) {
		const ledger_mode_params *p = &m->mode[i];
		cm_wr_array(w, 5);
		cm_wr_bool(w, p->enabled);
		cm_wr_uint(w, p->reduction_mg_per_km);
		cm_wr_uint(w, p->min_distance_m);
		cm_wr_uint(w, p->max_speed_kmh);
		cm_wr_uint(w, p->daily_cap_g);
	}
}

void ledger_genesis_encode(const ledger_genesis *g, cm_wr *w)
{
	assert(g != NULL);
	assert(g->tz_offset_s >= -GEN_TZ_BIAS_S);
	assert(g->tz_offset_s <= GEN_TZ_BIAS_S);
	cm_wr_array(w, 8);
	cm_wr_uint(w, GEN_FORMAT_VERSION);
	cm_wr_str(w, g->chain_id, strlen(g->chain_id));
	cm_wr_uint(w, g->genesis_time_ms);
	cm_wr_uint(w, (uint64_t)((int64_t)g->tz_offset_s + GEN_TZ_BIAS_S));
	cm_wr_uint(w, g->governor_threshold);
	cm_wr_array(w, g->nmembers);
	for (uint32_t i = 0; i < g->nmembers; i++) {
		const ledger_member *mb = &g->members[i];
		assert(mb->nkeys <= LIM_MEMBER_KEYS_MAX);
		cm_wr_array(w, 6);
		cm_wr_uint(w, mb->id);
		cm_wr_str(w, mb->name, strlen(mb->name));
		cm_wr_uint(w, mb->roles);
		cm_wr_uint(w, mb->modes);
		cm_wr_array(w, mb->nkeys);
		for (uint32_t k = 0; k < mb->nkeys; k++)
			cm_wr_bin(w, mb->keys[k], CK_PUBKEY_BYTES);
		cm_wr_str(w, mb->p2p_addr, strlen(mb->p2p_addr));
	}
	encode_methodology(&g->methodology, w);
	cm_wr_array(w, (uint32_t)NLIMITS);
	for (unsigned i = 0; i < NLIMITS; i++)
		cm_wr_uint(w, gen_limits[i].value);
}

void ledger_genesis_hash(ck_hash out, const ledger_genesis *g)
{
	cm_wr w;
	cm_wr_init(&w);
	ledger_genesis_encode(g, &w);
	/* Out of memory for a few kilobytes: nothing sensible to return. */
	assert(cm_wr_error(&w) == 0);
	ck_hash_tagged(out, "genesis", cm_wr_data(&w), cm_wr_len(&w));
	cm_wr_free(&w);
}

/* ---- strict JSON reading ----------------------------------------------- */

/* Field paths ("members[2].keys[0]") for messages. A path longer than the
 * buffer is cut, which only shortens a message. */
static void pathf(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void pathf(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out, cap, fmt, ap);
	va_end(ap);
}

/* Every failure below reports "path: what is wrong" and returns
 * LEDGER_E_GENESIS. */
#define GFAIL(...) msg_fail(LEDGER_E_GENESIS, err, errlen, __VA_ARGS__)

/* Rejects any key of obj not in allowed (a typo must not be ignored) and
 * any allowed key that is missing (a genesis spells everything out). */
static int check_keys(const json_t *obj, const char *path, const char *const *allowed,
		      size_t nallowed, char *err, size_t errlen)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key, v) {
		(void)v;
		bool known = false;
		for (size_t i = 0; i < nallowed && !known; i++)
			known = strcmp(key, allowed[i]) == 0;
		if (!known)
			return GFAIL("%s%s%s: unknown key", path, *path ? "." : "", key);
	}
	for (size_t i = 0; i < nallowed; i++)
		if (json_object_get(obj, allowed[i]) == NULL)
			return GFAIL("%s%s%s: missing", path, *path ? "." : "", allowed[i]);
	return 0;
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a real number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "a value";
}

/* An integer in [lo, hi]; reals are refused even when whole (1.0), since
 * nothing in the ledger is fractional. */
static int get_int(const json_t *v, const char *path, int64_t lo, int64_t hi, int64_t *out,
		   char *err, size_t errlen)
{
	if (!json_is_integer(v))
		return GFAIL("%s: must be an integer, not %s", path, type_name(v));
	json_int_t x = json_integer_value(v);
	if (x < lo || x > hi)
		return GFAIL("%s: %lld is out of range %lld..%lld", path, (long long)x,
			     (long long)lo, (long long)hi);
	*out = (int64_t)x;
	return 0;
}

static int get_u32(const json_t *obj, const char *key, const char *path, uint32_t lo,
		   uint32_t hi, uint32_t *out, char *err, size_t errlen)
{
	char p[GEN_PATH_BYTES];
	pathf(p, sizeof p, "%s%s%s", path, *path ? "." : "", key);
	int64_t x;
	int rc = get_int(json_object_get(obj, key), p, lo, hi, &x, err, errlen);
	if (rc == 0)
		*out = (uint32_t)x;
	return rc;
}

static int get_bool(const json_t *obj, const char *key, const char *path, bool *out,
		    char *err, size_t errlen)
{
	const json_t *v = json_object_get(obj, key);
	if (!json_is_boolean(v))
		return GFAIL("%s.%s: must be true or false, not %s", path, key, type_name(v));
	*out = json_is_true(v);
	return 0;
}

/* A string of at most max bytes into out[max + 1]; jansson has already
 * checked UTF-8 and refuses \u0000. */
static int get_str(const json_t *v, const char *path, size_t max, char *out, char *err,
		   size_t errlen)
{
	if (!json_is_string(v))
		return GFAIL("%s: must be a string, not %s", path, type_name(v));
	size_t n = json_string_length(v);
	if (n > max)
		return GFAIL("%s: %zu bytes, longer than the limit of %zu", path, n, max);
	memcpy(out, json_string_value(v), n);
	out[n] = '\0';
	return 0;
}

static int get_array(const json_t *v, const char *path, size_t min, size_t max, char *err,
		     size_t errlen)
{
	if (!json_is_array(v))
		return GFAIL("%s: must be an array, not %s", path, type_name(v));
	size_t n = json_array_size(v);
	if (n < min || n > max)
		return GFAIL("%s: has %zu entries, must have %zu..%zu", path, n, min, max);
	return 0;
}

static int get_object(const json_t *v, const char *path, char *err, size_t errlen)
{
	if (!json_is_object(v))
		return GFAIL("%s: must be an object, not %s", path, type_name(v));
	return 0;
}

/* ---- validation of single fields --------------------------------------- */

static bool valid_chain_id(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > LIM_CHAIN_ID_BYTES_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* Member names name keystore files (keys/<name>.key), so they stay within
 * a portable file-name alphabet and cannot start a hidden file or an
 * option. */
static bool valid_member_name(const char *s)
{
	size_t n = strlen(s);
	if (n < 1)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '-' && c != '_')))
			return false;
	}
	return true;
}

/* "host:port" with a non-empty host of printable characters (an IPv6
 * literal in brackets passes) and a port 1..65535 without leading zeros. */
static bool valid_p2p_addr(const char *s)
{
	const char *colon = strrchr(s, ':');
	if (colon == NULL || colon == s)
		return false;
	for (const char *c = s; c < colon; c++)
		if (*c <= ' ' || *c > '~')
			return false;
	const char *port = colon + 1;
	size_t n = strlen(port);
	if (n < 1 || n > 5 || port[0] == '0')
		return false;
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (port[i] < '0' || port[i] > '9')
			return false;
		v = v * 10 + (unsigned)(port[i] - '0');
	}
	return v <= 65535;
}

/* ---- the parts of a genesis -------------------------------------------- */

static int parse_name_list(const json_t *arr, const char *path, bool modes, uint32_t *mask,
			   char *err, size_t errlen)
{
	int rc = get_array(arr, path, 0, modes ? LEDGER_MODE_MAX : NROLES, err, errlen);
	if (rc)
		return rc;
	*mask = 0;
	for (size_t i = 0; i < json_array_size(arr); i++) {
		char p[GEN_PATH_BYTES];
		char name[LIM_NAME_BYTES_MAX + 1];
		pathf(p, sizeof p, "%s[%zu]", path, i);
		rc = get_str(json_array_get(arr, i), p, LIM_NAME_BYTES_MAX, name, err, errlen);
		if (rc)
			return rc;
		uint32_t bit = 0;
		if (modes) {
			unsigned mode;
			if (ledger_mode_parse(name, &mode) == 0)
				bit = 1u << mode;
		} else {
			for (unsigned r = 0; r < NROLES; r++)
				if (strcmp(name, ledger_role_name(1u << r)) == 0)
					bit = 1u << r;
		}
		if (bit == 0)
			return GFAIL("%s: unknown %s \"%s\"", p, modes ? "mode" : "role", name);
		if (*mask & bit)
			return GFAIL("%s: \"%s\" listed twice", p, name);
		*mask |= bit;
	}
	return 0;
}

static int parse_member(const json_t *obj, const char *path, ledger_member *mb, char *err,
			size_t errlen)
{
	static const char *const keys[] = {"name", "roles", "modes", "keys", "p2p_addr"};
	char p[GEN_PATH_BYTES];
	int rc = get_object(obj, path, err, errlen);
	if (rc == 0)
		rc = check_keys(obj, path, keys, sizeof keys / sizeof keys[0], err, errlen);
	if (rc)
		return rc;

	pathf(p, sizeof p, "%s.name", path);
	rc = get_str(json_object_get(obj, "name"), p, LIM_NAME_BYTES_MAX, mb->name, err, errlen);
	if (rc)
		return rc;
	if (!valid_member_name(mb->name))
		return GFAIL("%s: \"%s\" must be 1..%u characters of a-z, 0-9, '-', '_', "
			     "starting with a letter or digit", p, mb->name, LIM_NAME_BYTES_MAX);

	pathf(p, sizeof p, "%s.roles", path);
	rc = parse_name_list(json_object_get(obj, "roles"), p, false, &mb->roles, err, errlen);
	if (rc)
		return rc;
	if (mb->roles == 0)
		return GFAIL("%s: a member needs at least one role", p);

	pathf(p, sizeof p, "%s.modes", path);
	rc = parse_name_list(json_object_get(obj, "modes"), p, true, &mb->modes, err, errlen);
	if (rc)
		return rc;
	if ((mb->roles & LEDGER_ROLE_ISSUER) && mb->modes == 0)
		return GFAIL("%s: an issuer needs at least one mode", p);
	if (!(mb->roles & LEDGER_ROLE_ISSUER) && mb->modes != 0)
		return GFAIL("%s: only an issuer has modes", p);

	pathf(p, sizeof p, "%s.keys", path);
	const json_t *karr = json_object_get(obj, "keys");
	rc = get_array(karr, p, 1, LIM_MEMBER_KEYS_MAX, err, errlen);
	if (rc)
		return rc;
	mb->nkeys = (uint32_t)json_array_size(karr);
	for (uint32_t k = 0; k < mb->nkeys; k++) {
		/* Room for a few characters too many, so that the decoder's
		 * clearer "wrong length" message reports the usual typo. */
		char addr[2 * CK_ADDRESS_STRLEN + 1];
		pathf(p, sizeof p, "%s.keys[%u]", path, k);
		rc = get_str(json_array_get(karr, k), p, 2 * CK_ADDRESS_STRLEN, addr, err, errlen);
		if (rc)
			return rc;
		int arc = ck_address_decode(mb->keys[k], addr);
		if (arc)
			return GFAIL("%s: %s", p, ck_strerror(arc));
	}

	pathf(p, sizeof p, "%s.p2p_addr", path);
	rc = get_str(json_object_get(obj, "p2p_addr"), p, LIM_NAME_BYTES_MAX, mb->p2p_addr, err,
		     errlen);
	if (rc)
		return rc;
	if (mb->p2p_addr[0] != '\0' && !valid_p2p_addr(mb->p2p_addr))
		return GFAIL("%s: \"%s\" must be empty or host:port with port 1..65535", p,
			     mb->p2p_addr);
	return 0;
}

typedef struct key_ref {
	const uint8_t *key;
	uint32_t member;
	uint32_t index;
} key_ref;

static int key_ref_cmp(const void *a, const void *b)
{
	const key_ref *x = a, *y = b;
	int c = memcmp(x->key, y->key, CK_PUBKEY_BYTES);
	if (c)
		return c;
	/* Ties in listed order, so the error names the later use. */
	if (x->member != y->member)
		return x->member < y->member ? -1 : 1;
	return x->index < y->index ? -1 : (x->index > y->index);
}

/* No public key may belong to two members or appear twice in one: an
 * account must map to exactly one member. Sorting keeps this O(n log n)
 * for the largest genesis (1,024 members of 16 keys). */
static int check_unique_keys(const ledger_genesis *g, char *err, size_t errlen)
{
	size_t n = 0;
	for (uint32_t i = 0; i < g->nmembers; i++)
		n += g->members[i].nkeys;
	key_ref *refs = calloc(n ? n : 1, sizeof *refs);
	if (refs == NULL)
		return LEDGER_E_NOMEM;
	size_t j = 0;
	for (uint32_t i = 0; i < g->nmembers; i++)
		for (uint32_t k = 0; k < g->members[i].nkeys; k++)
			refs[j++] = (key_ref){g->members[i].keys[k], i, k};
	assert(j == n);
	qsort(refs, n, sizeof *refs, key_ref_cmp);
	int rc = 0;
	for (j = 1; j < n && rc == 0; j++)
		if (memcmp(refs[j - 1].key, refs[j].key, CK_PUBKEY_BYTES) == 0)
			rc = GFAIL("members[%u].keys[%u]: key already used by members[%u].keys[%u]",
				   refs[j].member, refs[j].index, refs[j - 1].member,
				   refs[j - 1].index);
	free(refs);
	return rc;
}

static int parse_members(const json_t *root, ledger_genesis *g, char *err, size_t errlen)
{
	const json_t *arr = json_object_get(root, "members");
	int rc = get_array(arr, "members", 1, LIM_MEMBERS_MAX, err, errlen);
	if (rc)
		return rc;
	uint32_t n = (uint32_t)json_array_size(arr);
	g->members = calloc(n, sizeof *g->members);
	if (g->members == NULL)
		return LEDGER_E_NOMEM;
	g->nmembers = n;
	uint32_t nvalidators = 0;
	for (uint32_t i = 0; i < n; i++) {
		char p[GEN_PATH_BYTES];
		pathf(p, sizeof p, "members[%u]", i);
		ledger_member *mb = &g->members[i];
		mb->id = i + 1;
		rc = parse_member(json_array_get(arr, i), p, mb, err, errlen);
		if (rc)
			return rc;
		for (uint32_t j = 0; j < i; j++)
			if (strcmp(g->members[j].name, mb->name) == 0)
				return GFAIL("%s.name: \"%s\" is already the name of members[%u]", p,
					     mb->name, j);
		if (mb->roles & LEDGER_ROLE_VALIDATOR)
			nvalidators++;
	}
	if (nvalidators < 1)
		return GFAIL("members: no member has the validator role");
	if (nvalidators > LIM_VALIDATORS_MAX)
		return GFAIL("members: %u validators, more than the limit of %u", nvalidators,
			     LIM_VALIDATORS_MAX);
	return check_unique_keys(g, err, errlen);
}

static int parse_mode_params(const json_t *modes, unsigned mode, ledger_mode_params *p,
			     char *err, size_t errlen)
{
	static const char *const keys[] = {"enabled", "reduction_mg_per_km", "min_distance_m",
					   "max_speed_kmh", "daily_cap_g"};
	char path[GEN_PATH_BYTES];
	pathf(path, sizeof path, "methodology.modes.%s", ledger_mode_name(mode));
	const json_t *obj = json_object_get(modes, ledger_mode_name(mode));
	int rc = get_object(obj, path, err, errlen);
	if (rc == 0)
		rc = check_keys(obj, path, keys, sizeof keys / sizeof keys[0], err, errlen);
	if (rc == 0)
		rc = get_bool(obj, "enabled", path, &p->enabled, err, errlen);
	/* Ranges proper are ledger_methodology_check's; here only what fits
	 * the field. */
	if (rc == 0)
		rc = get_u32(obj, "reduction_mg_per_km", path, 0, UINT32_MAX,
			     &p->reduction_mg_per_km, err, errlen);
	if (rc == 0)
		rc = get_u32(obj, "min_distance_m", path, 0, UINT32_MAX, &p->min_distance_m, err,
			     errlen);
	if (rc == 0)
		rc = get_u32(obj, "max_speed_kmh", path, 0, UINT32_MAX, &p->max_speed_kmh, err,
			     errlen);
	if (rc == 0)
		rc = get_u32(obj, "daily_cap_g", path, 0, UINT32_MAX, &p->daily_cap_g, err,
			     errlen);
	return rc;
}

static int parse_methodology(const json_t *root, ledger_methodology *m, char *err,
			     size_t errlen)
{
	static const char *const keys[] = {"version", "effective_height", "daily_cap_g",
					   "claim_before_s", "claim_after_s", "modes"};
	const char *path = "methodology";
	const json_t *obj = json_object_get(root, path);
	int rc = get_object(obj, path, err, errlen);
	if (rc == 0)
		rc = check_keys(obj, path, keys, sizeof keys / sizeof keys[0], err, errlen);
	if (rc)
		return rc;
	memset(m, 0, sizeof *m);
	/* Version 1 is born here; version 2 and later come by governance. */
	rc = get_u32(obj, "version", path, 1, 1, &m->version, err, errlen);
	if (rc)
		return rc;
	/* The genesis state is height 0 and block 1 the first block: either
	 * value puts version 1 in force for every block. */
	uint32_t eh;
	rc = get_u32(obj, "effective_height", path, 0, 1, &eh, err, errlen);
	if (rc)
		return rc;
	m->effective_height = eh;
	rc = get_u32(obj, "daily_cap_g", path, 0, UINT32_MAX, &m->daily_cap_g, err, errlen);
	if (rc == 0)
		rc = get_u32(obj, "claim_before_s", path, 0, UINT32_MAX, &m->claim_before_s, err,
			     errlen);
	if (rc == 0)
		rc = get_u32(obj, "claim_after_s", path, 0, UINT32_MAX, &m->claim_after_s, err,
			     errlen);
	if (rc)
		return rc;

	const json_t *modes = json_object_get(obj, "modes");
	rc = get_object(modes, "methodology.modes", err, errlen);
	if (rc)
		return rc;
	const char *mode_keys[LEDGER_MODE_MAX];
	for (unsigned i = 1; i <= LEDGER_MODE_MAX; i++)
		mode_keys[i - 1] = ledger_mode_name(i);
	rc = check_keys(modes, "methodology.modes", mode_keys, LEDGER_MODE_MAX, err, errlen);
	for (unsigned i = 1; i <= LEDGER_MODE_MAX && rc == 0; i++)
		rc = parse_mode_params(modes, i, &m->mode[i], err, errlen);
	if (rc)
		return rc;

	char msg[160];
	if (ledger_methodology_check(m, msg, sizeof msg) != 0)
		return GFAIL("methodology.%s", msg);
	return 0;
}

static int parse_limits(const json_t *root, char *err, size_t errlen)
{
	const json_t *obj = json_object_get(root, "limits");
	int rc = get_object(obj, "limits", err, errlen);
	if (rc)
		return rc;
	const char *names[NLIMITS];
	for (unsigned i = 0; i < NLIMITS; i++)
		names[i] = gen_limits[i].name;
	rc = check_keys(obj, "limits", names, NLIMITS, err, errlen);
	if (rc)
		return rc;
	for (unsigned i = 0; i < NLIMITS; i++) {
		const json_t *v = json_object_get(obj, names[i]);
		if (!json_is_integer(v))
			return GFAIL("limits.%s: must be an integer, not %s", names[i],
				     type_name(v));
		if (json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) != gen_limits[i].value)
			return GFAIL("limits.%s: %lld, but this build has %llu (a consensus-critical "
				     "limit: every node must be built with the same value)",
				     names[i], (long long)json_integer_value(v),
				     (unsigned long long)gen_limits[i].value);
	}
	return 0;
}

static int parse_root(const json_t *root, ledger_genesis *g, char *err, size_t errlen)
{
	static const char *const keys[] = {"chain_id", "genesis_time_ms", "tz_offset_s",
					   "governor_threshold", "members", "methodology",
					   "limits"};
	int rc = get_object(root, "genesis", err, errlen);
	if (rc == 0)
		rc = check_keys(root, "", keys, sizeof keys / sizeof keys[0], err, errlen);
	if (rc)
		return rc;

	rc = get_str(json_object_get(root, "chain_id"), "chain_id", LIM_CHAIN_ID_BYTES_MAX,
		     g->chain_id, err, errlen);
	if (rc)
		return rc;
	if (!valid_chain_id(g->chain_id))
		return GFAIL("chain_id: \"%s\" must be 1..%u characters of a-z, 0-9 and '-'",
			     g->chain_id, LIM_CHAIN_ID_BYTES_MAX);

	int64_t x;
	rc = get_int(json_object_get(root, "genesis_time_ms"), "genesis_time_ms", 0, INT64_MAX,
		     &x, err, errlen);
	if (rc)
		return rc;
	g->genesis_time_ms = (uint64_t)x;
	rc = get_int(json_object_get(root, "tz_offset_s"), "tz_offset_s", -GEN_TZ_OFFSET_S_MAX,
		     GEN_TZ_OFFSET_S_MAX, &x, err, errlen);
	if (rc)
		return rc;
	g->tz_offset_s = (int32_t)x;

	rc = parse_members(root, g, err, errlen);
	if (rc == 0)
		rc = parse_methodology(root, &g->methodology, err, errlen);
	if (rc == 0)
		rc = parse_limits(root, err, errlen);
	if (rc)
		return rc;

	/* The threshold is checked after the members so that the message can
	 * say how many governors there are. A govern transaction carries at
	 * most LIM_TX_SIGS_MAX signatures, so a higher threshold would lock
	 * governance forever. */
	uint32_t ngov = 0;
	for (uint32_t i = 0; i < g->nmembers; i++)
		if (g->members[i].roles & LEDGER_ROLE_GOVERNOR)
			ngov++;
	if (ngov == 0)
		return GFAIL("members: no member has the governor role");
	uint32_t hi = ngov < LIM_TX_SIGS_MAX ? ngov : LIM_TX_SIGS_MAX;
	rc = get_int(json_object_get(root, "governor_threshold"), "governor_threshold", 1, hi, &x,
		     err, errlen);
	if (rc)
		return rc;
	g->governor_threshold = (uint32_t)x;
	return 0;
}

int ledger_genesis_parse(const char *json, size_t len, ledger_genesis **out, char *err,
			 size_t errlen)
{
	assert(out != NULL);
	*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (len > LIM_GENESIS_BYTES_MAX)
		return GFAIL("genesis: %zu bytes, larger than the limit of %u", len,
			     LIM_GENESIS_BYTES_MAX);

	json_error_t je;
	/* Duplicate keys would make "which value counts" a matter of parser
	 * behaviour; trailing data after the object is refused by default. */
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL)
		return GFAIL("JSON syntax, line %d column %d: %s", je.line, je.column, je.text);

	int rc = LEDGER_E_NOMEM;
	ledger_genesis *g = calloc(1, sizeof *g);
	if (g == NULL)
		goto fail;
	rc = parse_root(root, g, err, errlen);
	if (rc)
		goto fail;
	ledger_genesis_hash(g->hash, g);
	json_decref(root);
	*out = g;
	return 0;
fail:
	if (rc == LEDGER_E_NOMEM)
		msg_fail(rc, err, errlen, "out of memory");
	ledger_genesis_free(g);
	json_decref(root);
	return rc;
}

int ledger_genesis_load(const char *path, ledger_genesis **out, char *err, size_t errlen)
{
	assert(out != NULL);
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return GFAIL("%s: %s", path, strerror(errno));
	/* One byte more than the limit tells "too large" from "exactly at". */
	size_t cap = (size_t)LIM_GENESIS_BYTES_MAX + 1, len = 0;
	char *buf = malloc(cap);
	if (buf == NULL) {
		close(fd);
		return msg_fail(LEDGER_E_NOMEM, err, errlen, "out of memory");
	}
	int rc = 0;
	while (len < cap) {
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = GFAIL("%s: %s", path, strerror(errno));
			goto done;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > LIM_GENESIS_BYTES_MAX)
		rc = GFAIL("%s: larger than the limit of %u bytes", path, LIM_GENESIS_BYTES_MAX);
	else
		rc = ledger_genesis_parse(buf, len, out, err, errlen);
done:
	free(buf);
	close(fd);
	return rc;
}

/* ---- writing JSON ------------------------------------------------------ */

/* jansson's setters take ownership of the value even on failure, so one
 * sticky flag per object tree is enough. */
static void jset(json_t *obj, const char *key, json_t *v, bool *ok)
{
	if (v == NULL || json_object_set_new(obj, key, v) != 0)
		*ok = false;
}

static void jpush(json_t *arr, json_t *v, bool *ok)
{
	if (v == NULL || json_array_append_new(arr, v) != 0)
		*ok = false;
}

static json_t *jint(uint64_t v)
{
	assert(v <= INT64_MAX);
	return json_integer((json_int_t)v);
}

static json_t *member_json(const ledger_member *mb, bool *ok)
{
	json_t *o = json_object(), *roles = json_array(), *modes = json_array(),
	       *keys = json_array();
	if (o == NULL) {
		json_decref(roles);
		json_decref(modes);
		json_decref(keys);
		*ok = false;
		return NULL;
	}
	jset(o, "name", json_string(mb->name), ok);
	for (unsigned r = 0; r < NROLES && roles; r++)
		if (mb->roles & (1u << r))
			jpush(roles, json_string(ledger_role_name(1u << r)), ok);
	jset(o, "roles", roles, ok);
	for (unsigned m = 1; m <= LEDGER_MODE_MAX && modes; m++)
		if (mb->modes & (1u << m))
			jpush(modes, json_string(ledger_mode_name(m)), ok);
	jset(o, "modes", modes, ok);
	for (uint32_t k = 0; k < mb->nkeys && keys; k++) {
		char addr[CK_ADDRESS_STRLEN + 1];
		ck_address_encode(addr, mb->keys[k]);
		jpush(keys, json_string(addr), ok);
	}
	jset(o, "keys", keys, ok);
	jset(o, "p2p_addr", json_string(mb->p2p_addr), ok);
	return o;
}

static json_t *methodology_json(const ledger_methodology *m, bool *ok)
{
	json_t *o = json_object(), *modes = json_object();
	if (o == NULL) {
		json_decref(modes);
		*ok = false;
		return NULL;
	}
	jset(o, "version", jint(m->version), ok);
	jset(o, "effective_height", jint(m->effective_height), ok);
	jset(o, "daily_cap_g", jint(m->daily_cap_g), ok);
	jset(o, "claim_before_s", jint(m->claim_before_s), ok);
	jset(o, "claim_after_s", jint(m->claim_after_s), ok);
	for (unsigned i = 1; i <= LEDGER_MODE_MAX && modes; i++) {
		const ledger_mode_params *p = &m->mode[i];
		json_t *mo = json_object();
		if (mo != NULL) {
			jset(mo, "enabled", json_boolean(p->enabled), ok);
			jset(mo, "reduction_mg_per_km", jint(p->reduction_mg_per_km), ok);
			jset(mo, "min_distance_m", jint(p->min_distance_m), ok);
			jset(mo, "max_speed_kmh", jint(p->max_speed_kmh), ok);
			jset(mo, "daily_cap_g", jint(p->daily_cap_g), ok);
		}
		jset(modes, ledger_mode_name(i), mo, ok);
	}
	jset(o, "modes", modes, ok);
	return o;
}

int ledger_genesis_to_json(const ledger_genesis *g, char **json)
{
	assert(g != NULL);
	assert(json != NULL);
	*json = NULL;
	bool ok = true;
	json_t *root = json_object(), *members = json_array(), *limits = json_object();
	if (root == NULL) {
		json_decref(members);
		json_decref(limits);
		return LEDGER_E_NOMEM;
	}
	jset(root, "chain_id", json_string(g->chain_id), &ok);
	jset(root, "genesis_time_ms", jint(g->genesis_time_ms), &ok);
	jset(root, "tz_offset_s", json_integer(g->tz_offset_s), &ok);
	jset(root, "governor_threshold", jint(g->governor_threshold), &ok);
	for (uint32_t i = 0; i < g->nmembers && members; i++) {
		assert(g->members[i].id == i + 1);
		jpush(members, member_json(&g->members[i], &ok), &ok);
	}
	jset(root, "members", members, &ok);
	jset(root, "methodology", methodology_json(&g->methodology, &ok), &ok);
	for (unsigned i = 0; i < NLIMITS && limits; i++)
		jset(limits, gen_limits[i].name, jint(gen_limits[i].value), &ok);
	jset(root, "limits", limits, &ok);

	int rc = LEDGER_E_NOMEM;
	if (ok) {
		/* jansson keeps keys in insertion order, so the file reads in
		 * the order above. */
		*json = json_dumps(root, JSON_INDENT(2));
		if (*json != NULL)
			rc = 0;
	}
	json_decref(root);
	return rc;
}

void ledger_genesis_free(ledger_genesis *g)
{
	if (g == NULL)
		return;
	free(g->members);
	free(g);
}
