/* Genesis parsing, validation, canonical hash and JSON round trip
 * (ledger/genesis.c), and the methodology defaults. Run from the repository
 * root: the golden vector is tests/vectors/genesis_example.{json,hash}. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger/ledger.h"

#define EXAMPLE_JSON "tests/vectors/genesis_example.json"
#define EXAMPLE_HASH "tests/vectors/genesis_example.hash"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "open %s (tests run from the repository root)", path);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	long n = ftell(f);
	cr_assert_geq(n, 0);
	rewind(f);
	char *buf = malloc((size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

static ledger_genesis *parse_ok(const char *text)
{
	ledger_genesis *g = NULL;
	char err[256];
	int rc = ledger_genesis_parse(text, strlen(text), &g, err, sizeof err);
	cr_assert_eq(rc, 0, "parse failed: %s", err);
	cr_assert_not_null(g);
	return g;
}

static void pk_of_seed(ck_pubkey pk, uint8_t b)
{
	uint8_t seed[CK_SEED_BYTES];
	ck_seckey sk;
	memset(seed, b, sizeof seed);
	ck_keypair_from_seed(pk, sk, seed);
}

static void assert_methodology_eq(const ledger_methodology *a, const ledger_methodology *b)
{
	cr_assert_eq(a->version, b->version);
	cr_assert_eq(a->effective_height, b->effective_height);
	cr_assert_eq(a->daily_cap_g, b->daily_cap_g);
	cr_assert_eq(a->claim_before_s, b->claim_before_s);
	cr_assert_eq(a->claim_after_s, b->claim_after_s);
	for (unsigned i = 1; i <= LEDGER_MODE_MAX; i++) {
		const ledger_mode_params *x = &a->mode[i], *y = &b->mode[i];
		cr_assert_eq(x->enabled, y->enabled, "mode %u", i);
		cr_assert_eq(x->reduction_mg_per_km, y->reduction_mg_per_km, "mode %u", i);
		cr_assert_eq(x->min_distance_m, y->min_distance_m, "mode %u", i);
		cr_assert_eq(x->max_speed_kmh, y->max_speed_kmh, "mode %u", i);
		cr_assert_eq(x->daily_cap_g, y->daily_cap_g, "mode %u", i);
	}
}

static void assert_genesis_eq(const ledger_genesis *a, const ledger_genesis *b)
{
	cr_assert_str_eq(a->chain_id, b->chain_id);
	cr_assert_eq(a->genesis_time_ms, b->genesis_time_ms);
	cr_assert_eq(a->tz_offset_s, b->tz_offset_s);
	cr_assert_eq(a->governor_threshold, b->governor_threshold);
	cr_assert_eq(a->nmembers, b->nmembers);
	for (uint32_t i = 0; i < a->nmembers; i++) {
		const ledger_member *x = &a->members[i], *y = &b->members[i];
		cr_assert_eq(x->id, y->id);
		cr_assert_str_eq(x->name, y->name);
		cr_assert_eq(x->roles, y->roles);
		cr_assert_eq(x->modes, y->modes);
		cr_assert_eq(x->nkeys, y->nkeys);
		cr_assert_eq(memcmp(x->keys, y->keys, x->nkeys * sizeof x->keys[0]), 0);
		cr_assert_str_eq(x->p2p_addr, y->p2p_addr);
	}
	assert_methodology_eq(&a->methodology, &b->methodology);
	cr_assert_eq(memcmp(a->hash, b->hash, CK_HASH_BYTES), 0);
}

Test(genesis, parses_the_example)
{
	char *text = slurp(EXAMPLE_JSON, NULL);
	ledger_genesis *g = parse_ok(text);
	cr_assert_str_eq(g->chain_id, "nanjing-green-1");
	cr_assert_eq(g->genesis_time_ms, 1767196800000ull);
	cr_assert_eq(g->tz_offset_s, 28800);
	cr_assert_eq(g->governor_threshold, 2);
	cr_assert_eq(g->nmembers, 6);
	for (uint32_t i = 0; i < g->nmembers; i++)
		cr_assert_eq(g->members[i].id, i + 1, "ids are 1-based in listed order");
	cr_assert_str_eq(g->members[0].name, "city");
	cr_assert_eq(g->members[0].roles, LEDGER_ROLE_VALIDATOR | LEDGER_ROLE_GOVERNOR);
	cr_assert_eq(g->members[1].modes, (1u << LEDGER_MODE_METRO) | (1u << LEDGER_MODE_RAIL));
	cr_assert_eq(g->members[3].roles, LEDGER_ROLE_ISSUER);
	cr_assert_eq(g->members[3].modes, (1u << LEDGER_MODE_CYCLE) | (1u << LEDGER_MODE_WALK));
	cr_assert_str_eq(g->members[3].p2p_addr, "");
	cr_assert_eq(g->members[4].nkeys, 2);
	cr_assert_eq(g->members[4].roles,
		     LEDGER_ROLE_VALIDATOR | LEDGER_ROLE_BANK | LEDGER_ROLE_GOVERNOR);
	/* Keys come from seeds 1..7 (bytes all equal to the seed number). */
	static const uint8_t seeds[6][2] = {{1, 0}, {2, 0}, {3, 0}, {4, 0}, {5, 7}, {6, 0}};
	for (uint32_t i = 0; i < 6; i++)
		for (uint32_t k = 0; k < g->members[i].nkeys; k++) {
			ck_pubkey pk;
			pk_of_seed(pk, seeds[i][k]);
			cr_assert_eq(memcmp(pk, g->members[i].keys[k], CK_PUBKEY_BYTES), 0,
				     "member %u key %u", i, k);
		}
	ledger_methodology def;
	ledger_methodology_default(&def);
	assert_methodology_eq(&g->methodology, &def);
	ledger_genesis_free(g);
	free(text);
}

Test(genesis, golden_hash)
{
	char *text = slurp(EXAMPLE_JSON, NULL);
	char *want = slurp(EXAMPLE_HASH, NULL);
	want[strcspn(want, "\n")] = '\0';
	ledger_genesis *g = parse_ok(text);
	char hex[2 * CK_HASH_BYTES + 1];
	cm_hex_encode(hex, g->hash, CK_HASH_BYTES);
	cr_assert_str_eq(hex, want, "the canonical form changed: docs/GENESIS.md must say how");
	ck_hash again;
	ledger_genesis_hash(again, g);
	cr_assert_eq(memcmp(again, g->hash, CK_HASH_BYTES), 0);
	ledger_genesis_free(g);
	free(want);
	free(text);
}

Test(genesis, json_round_trip_keeps_the_hash)
{
	char *text = slurp(EXAMPLE_JSON, NULL);
	ledger_genesis *g = parse_ok(text);
	char *out = NULL;
	cr_assert_eq(ledger_genesis_to_json(g, &out), 0);
	ledger_genesis *g2 = parse_ok(out);
	assert_genesis_eq(g, g2);
	char *out2 = NULL;
	cr_assert_eq(ledger_genesis_to_json(g2, &out2), 0);
	cr_assert_str_eq(out, out2, "writing is a fixed point");
	free(out2);
	free(out);
	ledger_genesis_free(g2);
	ledger_genesis_free(g);
	free(text);
}

/* A genesis built in memory (as the simulator and state tests do) hashes
 * like the same genesis written out and parsed. */
Test(genesis, in_memory_genesis_hashes_like_parsed)
{
	ledger_member members[2];
	memset(members, 0, sizeof members);
	ledger_genesis g;
	memset(&g, 0, sizeof g);
	strcpy(g.chain_id, "test-chain");
	g.genesis_time_ms = 1000;
	g.tz_offset_s = -18000;
	g.governor_threshold = 1;
	g.nmembers = 2;
	g.members = members;
	ledger_methodology_default(&g.methodology);
	for (uint32_t i = 0; i < 2; i++) {
		members[i].id = i + 1;
		snprintf(members[i].name, sizeof members[i].name, "m%u", i + 1);
		members[i].nkeys = 1;
		pk_of_seed(members[i].keys[0], (uint8_t)(10 + i));
	}
	members[0].roles = LEDGER_ROLE_VALIDATOR | LEDGER_ROLE_GOVERNOR;
	members[1].roles = LEDGER_ROLE_ISSUER;
	members[1].modes = 1u << LEDGER_MODE_BUS;
	ledger_genesis_hash(g.hash, &g);

	char *text = NULL;
	cr_assert_eq(ledger_genesis_to_json(&g, &text), 0);
	ledger_genesis *p = parse_ok(text);
	assert_genesis_eq(&g, p);
	ledger_genesis_free(p);
	free(text);
}

/* Every field enters the hash: changing any one changes it. */
Test(genesis, hash_covers_every_field)
{
	char *text = slurp(EXAMPLE_JSON, NULL);
	ledger_genesis *g = parse_ok(text);
	ck_hash base, h;
	memcpy(base, g->hash, CK_HASH_BYTES);
#define CHANGED(stmt)                                                              \
	do {                                                                       \
		ledger_genesis *c = parse_ok(text);                                \
		stmt;                                                              \
		ledger_genesis_hash(h, c);                                         \
		cr_assert_neq(memcmp(h, base, CK_HASH_BYTES), 0, "%s", #stmt);     \
		ledger_genesis_free(c);                                            \
	} while (0)
	CHANGED(c->chain_id[0] = 'm');
	CHANGED(c->genesis_time_ms++);
	CHANGED(c->tz_offset_s = -c->tz_offset_s);
	CHANGED(c->governor_threshold = 1);
	CHANGED(c->nmembers--);
	CHANGED(c->members[2].id = 9);
	CHANGED(c->members[2].name[0] = 'x');
	CHANGED(c->members[2].roles ^= LEDGER_ROLE_BANK);
	CHANGED(c->members[2].modes ^= 1u << LEDGER_MODE_WALK);
	CHANGED(c->members[4].nkeys = 1);
	CHANGED(c->members[2].keys[0][31] ^= 1);
	CHANGED(c->members[2].p2p_addr[0] = '\0');
	CHANGED(c->methodology.version = 2);
	CHANGED(c->methodology.effective_height = 1);
	CHANGED(c->methodology.daily_cap_g--);
	CHANGED(c->methodology.claim_before_s--);
	CHANGED(c->methodology.claim_after_s--);
	CHANGED(c->methodology.mode[LEDGER_MODE_CARPOOL].enabled = true);
	CHANGED(c->methodology.mode[LEDGER_MODE_BUS].reduction_mg_per_km--);
	CHANGED(c->methodology.mode[LEDGER_MODE_BUS].min_distance_m--);
	CHANGED(c->methodology.mode[LEDGER_MODE_BUS].max_speed_kmh--);
	CHANGED(c->methodology.mode[LEDGER_MODE_BUS].daily_cap_g--);
#undef CHANGED
	ledger_genesis_free(g);
	free(text);
}

/* ---- rejection: one mutation of the example per case ------------------- */

enum op { SET, DEL };

typedef struct bad_case {
	const char *path;     /* "/"-separated keys and array indexes */
	enum op op;
	const char *value;    /* JSON text for SET */
	const char *expect;   /* substring of the error message */
} bad_case;

/* Walks all but the last component of path; returns the parent and sets
 * *last to the last component. */
static json_t *walk(json_t *root, const char *path, char *last, size_t lastcap)
{
	char buf[256];
	cr_assert_lt(strlen(path), sizeof buf);
	strcpy(buf, path);
	char *slash = strrchr(buf, '/');
	const char *tail = slash ? slash + 1 : buf;
	cr_assert_lt(strlen(tail), lastcap);
	strcpy(last, tail);
	if (slash == NULL)
		return root;
	*slash = '\0';
	json_t *node = root;
	for (char *tok = strtok(buf, "/"); tok; tok = strtok(NULL, "/")) {
		node = json_is_array(node) ? json_array_get(node, (size_t)atoi(tok))
					   : json_object_get(node, tok);
		cr_assert_not_null(node, "test path %s", path);
	}
	return node;
}

static char *mutate(const char *text, const bad_case *c)
{
	json_t *root = json_loads(text, 0, NULL);
	cr_assert_not_null(root);
	char last[64];
	json_t *parent = walk(root, c->path, last, sizeof last);
	if (c->op == SET) {
		json_t *v = json_loads(c->value, JSON_DECODE_ANY, NULL);
		cr_assert_not_null(v, "test value %s", c->value);
		if (json_is_array(parent))
			cr_assert_eq(json_array_set_new(parent, (size_t)atoi(last), v), 0);
		else
			cr_assert_eq(json_object_set_new(parent, last, v), 0);
	} else if (json_is_array(parent)) {
		cr_assert_eq(json_array_remove(parent, (size_t)atoi(last)), 0);
	} else {
		cr_assert_eq(json_object_del(parent, last), 0, "test path %s", c->path);
	}
	char *out = json_dumps(root, 0);
	cr_assert_not_null(out);
	json_decref(root);
	return out;
}

static void expect_rejected(const char *text, size_t len, const char *what, const char *expect)
{
	ledger_genesis *g = (ledger_genesis *)1;
	char err[256] = "";
	int rc = ledger_genesis_parse(text, len, &g, err, sizeof err);
	cr_expect_eq(rc, LEDGER_E_GENESIS, "%s: rc %d (%s)", what, rc, err);
	cr_expect_null(g, "%s: *out is NULL on failure", what);
	cr_expect_not_null(strstr(err, expect), "%s: message \"%s\" lacks \"%s\"", what, err,
			   expect);
	if (rc == 0)
		ledger_genesis_free(g);
}

/* The valid example with one change each; the message must name the field. */
static const bad_case bad_cases[] = {
	/* unknown and missing keys */
	{"chain_idd", SET, "\"x\"", "chain_idd: unknown key"},
	{"members/1/nmae", SET, "\"x\"", "members[1].nmae: unknown key"},
	{"methodology/modes/walk/speed", SET, "1", "methodology.modes.walk.speed: unknown key"},
	{"methodology/modes/tram", SET, "{}", "methodology.modes.tram: unknown key"},
	{"methodology/cap", SET, "1", "methodology.cap: unknown key"},
	{"limits/foo_max", SET, "1", "limits.foo_max: unknown key"},
	{"tz_offset_s", DEL, NULL, "tz_offset_s: missing"},
	{"members/0/p2p_addr", DEL, NULL, "members[0].p2p_addr: missing"},
	{"methodology/modes/rail", DEL, NULL, "methodology.modes.rail: missing"},
	{"limits/nonce_window", DEL, NULL, "limits.nonce_window: missing"},
	/* integers only */
	{"genesis_time_ms", SET, "1767196800000.0", "genesis_time_ms: must be an integer, not a real"},
	{"governor_threshold", SET, "1.5", "governor_threshold: must be an integer, not a real"},
	{"methodology/modes/bus/reduction_mg_per_km", SET, "26900.5",
	 "methodology.modes.bus.reduction_mg_per_km: must be an integer, not a real"},
	{"methodology/daily_cap_g", SET, "\"3000\"", "methodology.daily_cap_g: must be an integer, not a string"},
	{"methodology/modes/walk/min_distance_m", SET, "-1", "methodology.modes.walk.min_distance_m: -1 is out of range"},
	{"methodology/modes/walk/daily_cap_g", SET, "4294967296", "methodology.modes.walk.daily_cap_g: 4294967296 is out of range"},
	{"genesis_time_ms", SET, "-1", "genesis_time_ms: -1 is out of range"},
	{"tz_offset_s", SET, "50401", "tz_offset_s: 50401 is out of range"},
	{"methodology/modes/walk/enabled", SET, "1", "methodology.modes.walk.enabled: must be true or false"},
	/* addresses */
	{"members/2/keys/0", SET, "\"cb15vesrrri2hbmn2xjam4jawmvmeuvsjz2lrr7snrwyfdbjlehg7iuoklt5b\"",
	 "members[2].keys[0]: address checksum mismatch"},
	{"members/2/keys/0", SET, "\"cb25vesrrri2hbmn2xjam4jawmvmeuvsjz2lrr7snrwyfdbjlehg7iuoklt5a\"",
	 "members[2].keys[0]: address does not start"},
	{"members/2/keys/0", SET, "\"cb15vesrrri2hbmn2xjam4jawmvmeuvsjz2lrr7snrwyfdbjlehg7iuoklt5\"",
	 "members[2].keys[0]: address has the wrong length"},
	{"members/2/keys/0", SET, "\"cb15vesrrri2hbmn2xjam4jawmvmeuvsjz2lrr7snrwyfdbjlehg7iuoklt51\"",
	 "members[2].keys[0]: address has a character outside"},
	{"members/2/keys", SET, "[]", "members[2].keys: has 0 entries"},
	/* keys used twice */
	{"members/5/keys/0", SET, "\"cb1rkeohxlubhyzl7ks3mwtzos5olfgocn7dwkbeg7toseadnapn5ohwj6mym\"",
	 "members[5].keys[0]: key already used by members[0].keys[0]"},
	{"members/4/keys/1", SET, "\"cb1nz5bzxjjwc3y7uj26tcvtd7p6txsvfywny6kn4xe7p6m3acqlpyssc5pza\"",
	 "members[4].keys[1]: key already used by members[4].keys[0]"},
	/* threshold, validators, governors */
	{"governor_threshold", SET, "0", "governor_threshold: 0 is out of range 1..2"},
	{"governor_threshold", SET, "3", "governor_threshold: 3 is out of range 1..2"},
	{"members/0/roles", SET, "[\"validator\"]", "governor_threshold: 2 is out of range 1..1"},
	{"members/4/roles", SET, "[\"bank\"]", "governor_threshold: 2 is out of range 1..1"},
	/* members */
	{"members", SET, "[]", "members: has 0 entries"},
	{"members/3/name", SET, "\"city\"", "members[3].name: \"city\" is already the name of members[0]"},
	{"members/3/name", SET, "\"Bike Share\"", "members[3].name: \"Bike Share\" must be"},
	{"members/3/name", SET, "\"-bike\"", "members[3].name"},
	{"members/3/name", SET, "\"\"", "members[3].name"},
	{"members/3/roles", SET, "[]", "members[3].roles: a member needs at least one role"},
	{"members/3/roles/0", SET, "\"operator\"", "members[3].roles[0]: unknown role \"operator\""},
	{"members/3/roles", SET, "[\"issuer\", \"issuer\"]", "members[3].roles[1]: \"issuer\" listed twice"},
	{"members/3/modes/0", SET, "\"scooter\"", "members[3].modes[0]: unknown mode \"scooter\""},
	{"members/3/modes", SET, "[]", "members[3].modes: an issuer needs at least one mode"},
	{"members/0/modes", SET, "[\"bus\"]", "members[0].modes: only an issuer has modes"},
	{"members/0/p2p_addr", SET, "\"localhost\"", "members[0].p2p_addr: \"localhost\" must be"},
	{"members/0/p2p_addr", SET, "\"h:0\"", "members[0].p2p_addr"},
	{"members/0/p2p_addr", SET, "\"h:65536\"", "members[0].p2p_addr"},
	{"members/0/p2p_addr", SET, "\":26601\"", "members[0].p2p_addr"},
	{"members/0", SET, "[]", "members[0]: must be an object"},
	/* chain id */
	{"chain_id", SET, "\"Nanjing-1\"", "chain_id: \"Nanjing-1\" must be"},
	{"chain_id", SET, "\"nanjing_1\"", "chain_id: \"nanjing_1\" must be"},
	{"chain_id", SET, "\"\"", "chain_id"},
	{"chain_id", SET, "\"abcdefghijklmnopqrstuvwxyz0123456\"", "chain_id: 33 bytes, longer than the limit"},
	/* methodology */
	{"methodology/version", SET, "2", "methodology.version: 2 is out of range 1..1"},
	{"methodology/effective_height", SET, "2", "methodology.effective_height: 2 is out of range"},
	{"methodology/daily_cap_g", SET, "0", "methodology.daily_cap_g: must be at least 1"},
	{"methodology/claim_before_s", SET, "2592001", "methodology.claim_before_s: must be 1..2592000"},
	{"methodology/claim_before_s", SET, "0", "methodology.claim_before_s"},
	{"methodology/claim_after_s", SET, "3601", "methodology.claim_after_s: must be 0..3600"},
	{"methodology/modes/walk/max_speed_kmh", SET, "0", "methodology.modes.walk.max_speed_kmh: must be 1..1000"},
	{"methodology/modes/metro/reduction_mg_per_km", SET, "0", "methodology.modes.metro.reduction_mg_per_km: must be 1..1000000"},
	{"methodology/modes/metro/reduction_mg_per_km", SET, "1000001", "methodology.modes.metro.reduction_mg_per_km"},
	{"methodology/modes/metro/min_distance_m", SET, "100001", "methodology.modes.metro.min_distance_m: must be 0..100000"},
	{"methodology/modes/carpool/enabled", SET, "true", "methodology.modes.carpool.reduction_mg_per_km: must be 1.."},
	/* limits must equal the build */
	{"limits/tx_bytes_max", SET, "262145", "limits.tx_bytes_max: 262145, but this build has 262144"},
	{"limits/validators_max", SET, "128.0", "limits.validators_max: must be an integer"},
};

Test(genesis, rejects_each_bad_field)
{
	char *text = slurp(EXAMPLE_JSON, NULL);
	for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		const bad_case *c = &bad_cases[i];
		char *bad = mutate(text, c);
		char what[128];
		snprintf(what, sizeof what, "case %zu (%s)", i, c->path);
		expect_rejected(bad, strlen(bad), what, c->expect);
		free(bad);
	}
	free(text);
}

Test(genesis, rejects_bad_json_text)
{
	char *text = slurp(EXAMPLE_JSON, NULL);
	size_t len = strlen(text);

	/* A key given twice: which value counts must not depend on the parser. */
	const char *dup = "{\"chain_id\": \"a\", \"chain_id\": \"b\"}";
	expect_rejected(dup, strlen(dup), "duplicate key", "duplicate object key");

	char *trailing = malloc(len + 4);
	cr_assert_not_null(trailing);
	memcpy(trailing, text, len);
	memcpy(trailing + len, " {}", 4);
	expect_rejected(trailing, len + 3, "trailing data", "JSON syntax");
	free(trailing);

	expect_rejected("[]", 2, "top-level array", "genesis: must be an object");
	expect_rejected("{", 1, "truncated", "JSON syntax, line 1");
	expect_rejected(text, len - 2, "cut short", "JSON syntax");
	free(text);
}

Test(genesis, rejects_oversize_input)
{
	char *text = slurp(EXAMPLE_JSON, NULL);
	size_t len = strlen(text);
	/* Valid JSON padded with white space to one byte over the limit: the
	 * size check comes before any parsing. */
	size_t big = (size_t)LIM_GENESIS_BYTES_MAX + 1;
	char *buf = malloc(big);
	cr_assert_not_null(buf);
	memcpy(buf, text, len);
	memset(buf + len, ' ', big - len);
	expect_rejected(buf, big, "oversize", "larger than the limit of 1048576");
	/* At exactly the limit it is accepted. */
	ledger_genesis *g = NULL;
	char err[256];
	cr_assert_eq(ledger_genesis_parse(buf, big - 1, &g, err, sizeof err), 0, "%s", err);
	ledger_genesis_free(g);
	free(buf);
	free(text);
}

Test(genesis, load_from_file)
{
	ledger_genesis *g = NULL;
	char err[256];
	cr_assert_eq(ledger_genesis_load(EXAMPLE_JSON, &g, err, sizeof err), 0, "%s", err);
	cr_assert_eq(g->nmembers, 6);
	ledger_genesis_free(g);

	g = (ledger_genesis *)1;
	cr_assert_eq(ledger_genesis_load("tests/vectors/no-such-genesis.json", &g, err, sizeof err),
		     LEDGER_E_GENESIS);
	cr_assert_null(g);
	cr_assert_not_null(strstr(err, "no-such-genesis.json"), "%s", err);

	/* A file over the limit is refused without being parsed. */
	char path[] = "/tmp/test_genesis_big_XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	char block[4096];
	memset(block, ' ', sizeof block);
	for (size_t n = 0; n <= LIM_GENESIS_BYTES_MAX; n += sizeof block)
		cr_assert_eq(write(fd, block, sizeof block), (ssize_t)sizeof block);
	close(fd);
	cr_assert_eq(ledger_genesis_load(path, &g, err, sizeof err), LEDGER_E_GENESIS);
	cr_assert_not_null(strstr(err, "larger than the limit"), "%s", err);
	unlink(path);
}

Test(genesis, free_null_is_a_no_op)
{
	ledger_genesis_free(NULL);
}

/* ---- methodology -------------------------------------------------------- */

Test(methodology, defaults_pass_the_bounds)
{
	ledger_methodology m;
	char err[128];
	ledger_methodology_default(&m);
	cr_assert_eq(ledger_methodology_check(&m, err, sizeof err), 0, "%s", err);
	cr_assert_eq(m.version, 1);
	cr_assert(!m.mode[LEDGER_MODE_CARPOOL].enabled, "car-pooling is off by default");
	m.mode[LEDGER_MODE_WALK].max_speed_kmh = 0;
	cr_assert_eq(ledger_methodology_check(&m, err, sizeof err), LEDGER_E_FIELD);
	cr_assert_str_eq(err, "modes.walk.max_speed_kmh: must be 1..1000");
	cr_assert_eq(ledger_methodology_check(&m, NULL, 0), LEDGER_E_FIELD);
}

/* credit_g = floor(distance_m * reduction_mg_per_km / 1,000,000): the
 * worked examples of docs/METHODOLOGY.md, so the document and the defaults
 * cannot drift apart. */
static uint64_t credit_g(const ledger_methodology *m, unsigned mode, uint32_t distance_m)
{
	return (uint64_t)distance_m * m->mode[mode].reduction_mg_per_km / 1000000u;
}

Test(methodology, worked_examples_of_the_document)
{
	ledger_methodology m;
	ledger_methodology_default(&m);
	cr_assert_eq(credit_g(&m, LEDGER_MODE_METRO, 34900), 1629);
	cr_assert_eq(credit_g(&m, LEDGER_MODE_BUS, 8300), 223);
	cr_assert_eq(credit_g(&m, LEDGER_MODE_CYCLE, 3750), 150);
	cr_assert_eq(credit_g(&m, LEDGER_MODE_WALK, 1200), 30);
	cr_assert_eq(credit_g(&m, LEDGER_MODE_WALK, 14000), 350);
	cr_assert_eq(m.mode[LEDGER_MODE_WALK].daily_cap_g, 296);
	cr_assert_eq(credit_g(&m, LEDGER_MODE_RAIL, 52000), 2428);
	cr_assert_lt(450u, m.mode[LEDGER_MODE_WALK].min_distance_m);
	/* 3 km walked in 10 minutes is 18 km/h: implausible. */
	cr_assert_gt(3000ull * 3600u, (uint64_t)m.mode[LEDGER_MODE_WALK].max_speed_kmh * 1000u * 600u);
	cr_assert_eq(m.daily_cap_g, 3000);
	cr_assert_eq(m.mode[LEDGER_MODE_METRO].daily_cap_g, 2800);
}
