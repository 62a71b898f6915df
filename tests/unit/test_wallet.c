/*
 * The wallet's pure parts: exact amounts, times and dates, green tiers,
 * the trip CSV reader (quoting, line numbers, every kind of bad row), node
 * URLs, the node's JSON number forms, governance proposal files and
 * methodology files.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wallet/wallet.h"

static void init(void) { cr_assert_eq(ck_init(), 0); }
TestSuite(wallet, .init = init);

/* ---- amounts ------------------------------------------------------------ */

static uint64_t grams(const char *s)
{
	uint64_t g = 12345;
	int rc = wallet_amount_parse(s, &g);
	cr_assert_eq(rc, 0, "\"%s\": %s", s, wallet_strerror(rc));
	return g;
}

static int amount_rc(const char *s)
{
	uint64_t g = 777;
	int rc = wallet_amount_parse(s, &g);
	if (rc != 0)
		cr_assert_eq(g, 777, "output written on failure for \"%s\"", s);
	return rc;
}

Test(wallet, amount_parse_exact)
{
	cr_assert_eq(grams("1.5"), 1500);
	cr_assert_eq(grams("0.001"), 1);
	cr_assert_eq(grams("0.01"), 10);
	cr_assert_eq(grams("0.1"), 100);
	cr_assert_eq(grams("12"), 12000);
	cr_assert_eq(grams("0"), 0);
	cr_assert_eq(grams("0.000"), 0);
	cr_assert_eq(grams("007.250"), 7250);
	/* 0.1 + 0.2 in floating point is not 0.3; here it is 100 + 200 g. */
	cr_assert_eq(grams("0.1") + grams("0.2"), grams("0.3"));
	cr_assert_eq(grams("9223372036854775.807"), (uint64_t)INT64_MAX);
}

Test(wallet, amount_parse_rejects)
{
	cr_assert_eq(amount_rc("1.2345"), WALLET_E_AMOUNT_DECIMALS);
	cr_assert_eq(amount_rc("0.0001"), WALLET_E_AMOUNT_DECIMALS);
	cr_assert_eq(amount_rc("-1"), WALLET_E_AMOUNT_NEGATIVE);
	cr_assert_eq(amount_rc("-0.001"), WALLET_E_AMOUNT_NEGATIVE);
	cr_assert_eq(amount_rc("9223372036854775.808"), WALLET_E_AMOUNT_RANGE);
	cr_assert_eq(amount_rc("99999999999999999999"), WALLET_E_AMOUNT_RANGE);
	cr_assert_eq(amount_rc("184467440737095516160"), WALLET_E_AMOUNT_RANGE);
	const char *bad[] = {"", ".", ".5", "5.", "+1", "1e3", "1,5", " 1", "1 ", "0x10", "1.2.3",
			     "kg", "1.5kg", "١"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(amount_rc(bad[i]), WALLET_E_AMOUNT, "\"%s\" accepted", bad[i]);
}

Test(wallet, amount_format)
{
	char s[WALLET_AMOUNT_STRLEN];
	wallet_amount_format(s, 0);
	cr_assert_str_eq(s, "0.000");
	wallet_amount_format(s, 1);
	cr_assert_str_eq(s, "0.001");
	wallet_amount_format(s, 1500);
	cr_assert_str_eq(s, "1.500");
	wallet_amount_format(s, UINT64_MAX);
	cr_assert_str_eq(s, "18446744073709551.615");
	wallet_delta_format(s, -1);
	cr_assert_str_eq(s, "-0.001");
	wallet_delta_format(s, 2500);
	cr_assert_str_eq(s, "+2.500");
	wallet_delta_format(s, INT64_MIN);
	cr_assert_str_eq(s, "-9223372036854775.808");
	/* Round trip. */
	for (uint64_t g = 0; g < 3000; g += 7) {
		wallet_amount_format(s, g);
		cr_assert_eq(grams(s), g);
	}
}

/* ---- times ---------------------------------------------------------------- */

Test(wallet, times)
{
	uint64_t t = 0;
	cr_assert_eq(wallet_time_parse("0", &t), 0);
	cr_assert_eq(t, 0);
	cr_assert_eq(wallet_time_parse("1767225600", &t), 0);
	cr_assert_eq(t, 1767225600);
	cr_assert_eq(wallet_time_parse("2026-01-01T00:00:00Z", &t), 0);
	cr_assert_eq(t, 1767225600);
	cr_assert_eq(wallet_time_parse("2026-01-01 00:00:00+00:00", &t), 0);
	cr_assert_eq(t, 1767225600);
	cr_assert_eq(wallet_time_parse("2024-02-29T12:34:56Z", &t), 0);
	cr_assert_eq(t, 1709210096);
	cr_assert_eq(wallet_time_parse("1970-01-01T00:00:00z", &t), 0);
	cr_assert_eq(t, 0);
	cr_assert_eq(wallet_time_parse("2026-01-01T08:00:00+08:00", &t), WALLET_E_TIME_ZONE);
	cr_assert_eq(wallet_time_parse("2026-01-01T08:00:00", &t), WALLET_E_TIME_ZONE);
	const char *bad[] = {"", "-1", "2023-02-29T00:00:00Z", "2026-13-01T00:00:00Z",
			     "2026-00-10T00:00:00Z", "2026-04-31T00:00:00Z", "2026-01-01T24:00:00Z",
			     "2026-01-01T00:60:00Z", "2026-01-01T00:00:60Z", "1969-12-31T23:59:59Z",
			     "2026-1-01T00:00:00Z", "2026-01-01T00:00:00ZZ", "253402300800",
			     "1.5", "yesterday"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(wallet_time_parse(bad[i], &t), WALLET_E_TIME, "\"%s\" accepted", bad[i]);

	char s[WALLET_TIME_STRLEN + 1];
	wallet_time_format(s, 1709210096);
	cr_assert_str_eq(s, "2024-02-29T12:34:56Z");
	wallet_time_format(s, WALLET_TIME_MAX_S);
	cr_assert_str_eq(s, "9999-12-31T23:59:59Z");
	wallet_time_format(s, UINT64_MAX);
	cr_assert_str_eq(s, "18446744073709551615s");
	/* Every day boundary over four centuries round-trips. */
	for (uint64_t d = 0; d < 146097 * 2; d += 13) {
		wallet_time_format(s, d * 86400 + 3661);
		cr_assert_eq(wallet_time_parse(s, &t), 0, "%s", s);
		cr_assert_eq(t, d * 86400 + 3661);
	}
}

Test(wallet, dates)
{
	int64_t d = -5;
	cr_assert_eq(wallet_date_parse("1970-01-01", &d), 0);
	cr_assert_eq(d, 0);
	cr_assert_eq(wallet_date_parse("2000-03-01", &d), 0);
	cr_assert_eq(d, 11017);
	cr_assert_eq(wallet_days_from_civil(2026, 1, 1), 20454);
	cr_assert_eq(wallet_date_parse("2026-02-29", &d), WALLET_E_DATE);
	cr_assert_eq(wallet_date_parse("2026-01-01T", &d), WALLET_E_DATE);
	cr_assert_eq(wallet_date_parse("26-01-01", &d), WALLET_E_DATE);
}

/* ---- tiers ---------------------------------------------------------------- */

Test(wallet, tiers)
{
	cr_assert_eq(wallet_tier_of(0), WALLET_TIER_LIGHT);
	cr_assert_eq(wallet_tier_of(50000), WALLET_TIER_LIGHT);
	cr_assert_eq(wallet_tier_of(50001), WALLET_TIER_MEDIUM);
	cr_assert_eq(wallet_tier_of(100000), WALLET_TIER_MEDIUM);
	cr_assert_eq(wallet_tier_of(100001), WALLET_TIER_DEEP);
	cr_assert_eq(wallet_tier_of(UINT64_MAX), WALLET_TIER_DEEP);
	cr_assert_str_eq(wallet_tier_name(WALLET_TIER_LIGHT), "light green");
	cr_assert_str_eq(wallet_tier_name(WALLET_TIER_MEDIUM), "medium green");
	cr_assert_str_eq(wallet_tier_name(WALLET_TIER_DEEP), "deep green");
}

/* ---- trip CSV -------------------------------------------------------------- */

static ck_pubkey A, B;
static char addr_a[CK_ADDRESS_STRLEN + 1], addr_b[CK_ADDRESS_STRLEN + 1];

static void keys(void)
{
	uint8_t seed[CK_SEED_BYTES] = {1};
	ck_seckey sk;
	ck_keypair_from_seed(A, sk, seed);
	seed[0] = 2;
	ck_keypair_from_seed(B, sk, seed);
	ck_address_encode(addr_a, A);
	ck_address_encode(addr_b, B);
}

static void parse_ok(const char *text, wallet_trip_file *tf)
{
	char msg[256] = "";
	int rc = wallet_trips_parse(text, strlen(text), tf, msg, sizeof msg);
	cr_assert_eq(rc, 0, "parse: %s", msg);
}

Test(wallet, csv_rows_and_quoting)
{
	keys();
	char text[2048];
	snprintf(text, sizeof text,
		 "\xef\xbb\xbfRef,citizen,MODE,distance_m,start,end\r\n"
		 "r1,%s,metro,12000,1767225600,1767226800\r\n"
		 "\r\n"
		 "\"r,2\",\"%s\",Bus, 800 ,2026-01-01T08:00:00Z,2026-01-01T08:20:00Z\n"
		 "\"say \"\"hi\"\"\",%s,walk,1500,1767225600,1767226200\n"
		 "\"multi\nline\",%s,cycle,3000,1767225600,1767226200\n"
		 "last,%s,rail,40000,1767225600,1767228000",
		 addr_a, addr_b, addr_a, addr_b, addr_a);
	wallet_trip_file tf;
	parse_ok(text, &tf);
	/* A ref may not hold a line break, but the record spanning two lines
	 * is reported at the line it starts on. */
	cr_assert_eq(tf.nerrs, 1);
	cr_assert_eq(tf.errs[0].line, 6);
	cr_assert(strstr(tf.errs[0].msg, "control character") != NULL, "%s", tf.errs[0].msg);
	cr_assert_eq(tf.nrows, 4);
	cr_assert_str_eq(tf.rows[0].ref, "r1");
	cr_assert_eq(tf.rows[0].line, 2);
	cr_assert_eq(memcmp(tf.rows[0].citizen, A, CK_PUBKEY_BYTES), 0);
	cr_assert_eq(tf.rows[0].mode, LEDGER_MODE_METRO);
	cr_assert_eq(tf.rows[0].distance_m, 12000);
	cr_assert_eq(tf.rows[0].end_s, 1767226800);
	cr_assert_str_eq(tf.rows[1].ref, "r,2");
	cr_assert_eq(tf.rows[1].line, 4);
	cr_assert_eq(tf.rows[1].mode, LEDGER_MODE_BUS);
	cr_assert_eq(tf.rows[1].distance_m, 800);
	cr_assert_eq(tf.rows[1].start_s, 1767254400);
	cr_assert_str_eq(tf.rows[2].ref, "say \"hi\"");
	cr_assert_eq(tf.rows[2].line, 5);
	/* The quoted line break moved the next record to line 8. */
	cr_assert_eq(tf.rows[3].line, 8);
	cr_assert_eq(tf.rows[3].mode, LEDGER_MODE_RAIL);
	wallet_trip_file_free(&tf);
	wallet_trip_file_free(&tf); /* idempotent */
}

Test(wallet, csv_columns_in_any_order)
{
	keys();
	char text[512];
	snprintf(text, sizeof text, "end,start,mode,citizen,ref,distance_m\n1000,900,metro,%s,x,5000\n",
		 addr_a);
	wallet_trip_file tf;
	parse_ok(text, &tf);
	cr_assert_eq(tf.nrows, 1);
	cr_assert_eq(tf.rows[0].start_s, 900);
	cr_assert_eq(tf.rows[0].end_s, 1000);
	cr_assert_eq(tf.rows[0].distance_m, 5000);
	wallet_trip_file_free(&tf);
}

Test(wallet, csv_bad_rows_have_line_numbers)
{
	keys();
	char text[4096];
	snprintf(text, sizeof text,
		 "ref,citizen,mode,distance_m,start,end\n"
		 "ok1,%s,metro,1000,100,200\n"                  /* 2 */
		 "m,%s,plane,1000,100,200\n"                    /* 3 unknown mode */
		 "n,%s,bus,-5,100,200\n"                        /* 4 negative */
		 "d,%s,bus,12.5,100,200\n"                      /* 5 not whole */
		 "big,%s,bus,4294967296,100,200\n"              /* 6 above 2^32 */
		 "a,cb1notanaddress,bus,5,100,200\n"            /* 7 bad address */
		 ",%s,bus,5,100,200\n"                          /* 8 empty ref */
		 "t,%s,bus,5,2026-01-01T08:00:00+08:00,200\n"   /* 9 not UTC */
		 "t2,%s,bus,5,100,tomorrow\n"                   /* 10 bad time */
		 "few,%s,bus,5,100\n"                           /* 11 field count */
		 "q\"x,%s,bus,5,100,200\n"                      /* 12 stray quote */
		 "\"ok2\",%s,bus,5,100,200\n"                   /* 13 */
		 "\"open,%s,bus,5,100,200\n",                   /* 14 never closed */
		 addr_a, addr_a, addr_a, addr_a, addr_a, addr_a, addr_a, addr_a, addr_a, addr_a, addr_a,
		 addr_a);
	/* A mistyped address: last character changed. */
	char *p = strstr(text, "\na,cb1notanaddress");
	cr_assert(p != NULL);
	wallet_trip_file tf;
	parse_ok(text, &tf);
	cr_assert_eq(tf.nrows, 2);
	cr_assert_eq(tf.rows[0].line, 2);
	cr_assert_eq(tf.rows[1].line, 13);
	static const struct {
		uint32_t line;
		const char *needle;
	} want[] = {{3, "unknown mode \"plane\""}, {4, "negative"},     {5, "whole number"},
		    {6, "above 4294967295"},       {7, "citizen"},      {8, "ref is empty"},
		    {9, "UTC"},                    {10, "end \"tomorrow\""}, {11, "expected 6 fields, found 5"},
		    {12, "misplaced quote"},       {14, "never closed"}};
	cr_assert_eq(tf.nerrs, sizeof want / sizeof want[0]);
	for (size_t i = 0; i < tf.nerrs; i++) {
		cr_assert_eq(tf.errs[i].line, want[i].line, "error %zu at line %u", i, tf.errs[i].line);
		cr_assert(strstr(tf.errs[i].msg, want[i].needle) != NULL, "line %u: \"%s\" lacks \"%s\"",
			  tf.errs[i].line, tf.errs[i].msg, want[i].needle);
	}
	wallet_trip_file_free(&tf);
}

/* The file is read a record at a time: a record above the record limit
 * is one bad row (at the line it starts on, its quoted line breaks
 * counted), and the rows after it keep their line numbers; CR, LF and CRLF
 * line breaks all count one line. */
Test(wallet, csv_streaming_limits)
{
	keys();
	size_t cap = 2 * WALLET_CSV_RECORD_BYTES_MAX + 4096;
	char *text = malloc(cap);
	cr_assert(text != NULL);
	size_t n = (size_t)snprintf(text, cap,
				    "ref,citizen,mode,distance_m,start,end\r"
				    "a,%s,metro,1000,100,200\r\n"        /* 2 */
				    "\"long\nref ",                      /* 3-4, too long */
				    addr_a);
	memset(text + n, 'x', WALLET_CSV_RECORD_BYTES_MAX);
	n += WALLET_CSV_RECORD_BYTES_MAX;
	n += (size_t)snprintf(text + n, cap - n,
			      "\",%s,bus,5,100,200\n"                /* ends line 4 */
			      "b,%s,bus,1000,100,200\r"               /* 5 */
			      "c,%s,walk,plane,100,200\n"             /* 6 bad */
			      "d,%s,walk,1000,100,200",                /* 7, no line break */
			      addr_a, addr_b, addr_a, addr_b);
	wallet_trip_file tf;
	char msg[256] = "";
	cr_assert_eq(wallet_trips_parse(text, n, &tf, msg, sizeof msg), 0, "%s", msg);
	cr_assert_eq(tf.nrows, 3);
	cr_assert_eq(tf.rows[0].line, 2);
	cr_assert_eq(tf.rows[1].line, 5);
	cr_assert_str_eq(tf.rows[1].ref, "b");
	cr_assert_eq(tf.rows[2].line, 7);
	cr_assert_eq(tf.nerrs, 2);
	cr_assert_eq(tf.errs[0].line, 3);
	cr_assert(strstr(tf.errs[0].msg, "longer than 16384 bytes") != NULL, "%s", tf.errs[0].msg);
	cr_assert_eq(tf.errs[1].line, 6);
	wallet_trip_file_free(&tf);

	/* A header above the limit is no trip file. */
	memset(text, 'h', WALLET_CSV_RECORD_BYTES_MAX + 10);
	cr_assert_eq(wallet_trips_parse(text, WALLET_CSV_RECORD_BYTES_MAX + 10, &tf, msg, sizeof msg),
		     WALLET_E_CSV);
	cr_assert(strstr(msg, "line 1 (header)") != NULL, "%s", msg);
	cr_assert_eq(wallet_trips_parse("", 0, &tf, msg, sizeof msg), WALLET_E_CSV);
	cr_assert(strstr(msg, "empty") != NULL, "%s", msg);
	free(text);

	/* From a file: read as a stream; one above the byte limit is refused
	 * by its size, before a byte is read (a sparse file: no disk used). */
	char dir[] = "/tmp/wallet-csv-XXXXXX", path[64];
	cr_assert(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/trips.csv", dir);
	FILE *f = fopen(path, "w");
	cr_assert(f != NULL);
	fprintf(f, "ref,citizen,mode,distance_m,start,end\nz,%s,bus,1000,100,200\n", addr_a);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(wallet_trips_load(path, &tf, msg, sizeof msg), 0, "%s", msg);
	cr_assert_eq(tf.nrows, 1);
	wallet_trip_file_free(&tf);
	cr_assert_eq(truncate(path, (off_t)WALLET_CSV_BYTES_MAX + 1), 0);
	cr_assert_eq(wallet_trips_load(path, &tf, msg, sizeof msg), WALLET_E_CSV);
	cr_assert(strstr(msg, "larger than 512 MiB") != NULL, "%s", msg);
	cr_assert_eq(tf.nrows, 0);
	unlink(path);
	cr_assert_eq(wallet_trips_load(path, &tf, msg, sizeof msg), WALLET_E_IO);
	cr_assert(strstr(msg, "cannot open") != NULL, "%s", msg);
	rmdir(dir);
}

Test(wallet, csv_mistyped_address_is_reported)
{
	keys();
	char bad[CK_ADDRESS_STRLEN + 1];
	memcpy(bad, addr_a, sizeof bad);
	bad[20] = bad[20] == 'a' ? 'b' : 'a';
	char text[512];
	snprintf(text, sizeof text, "ref,citizen,mode,distance_m,start,end\nx,%s,bus,5,1,2\n", bad);
	wallet_trip_file tf;
	parse_ok(text, &tf);
	cr_assert_eq(tf.nrows, 0);
	cr_assert_eq(tf.nerrs, 1);
	cr_assert(strstr(tf.errs[0].msg, "checksum") != NULL, "%s", tf.errs[0].msg);
	wallet_trip_file_free(&tf);
}

Test(wallet, csv_bad_headers)
{
	static const struct {
		const char *text, *needle;
	} cases[] = {
		{"", "empty"},
		{"\n\n", "empty"},
		{"ref,citizen,mode,distance_m,start\nx,y,z,1,2\n", "\"end\" is missing"},
		{"ref,citizen,mode,distance,start,end\n", "unknown column \"distance\""},
		{"ref,ref,citizen,mode,distance_m,start,end\n", "appears twice"},
		{"\"ref,citizen\n", "never closed"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		wallet_trip_file tf;
		char msg[256] = "";
		int rc = wallet_trips_parse(cases[i].text, strlen(cases[i].text), &tf, msg, sizeof msg);
		cr_assert_eq(rc, WALLET_E_CSV, "case %zu accepted", i);
		cr_assert(strstr(msg, cases[i].needle) != NULL, "case %zu: \"%s\"", i, msg);
		cr_assert_eq(tf.rows, NULL);
	}
}

Test(wallet, csv_long_field_and_ref)
{
	keys();
	char text[1024], ref[80];
	memset(ref, 'r', 65);
	ref[65] = '\0';
	snprintf(text, sizeof text, "ref,citizen,mode,distance_m,start,end\n%s,%s,bus,5,1,2\n", ref,
		 addr_a);
	wallet_trip_file tf;
	parse_ok(text, &tf);
	cr_assert_eq(tf.nerrs, 1);
	cr_assert(strstr(tf.errs[0].msg, "longer than 64") != NULL, "%s", tf.errs[0].msg);
	wallet_trip_file_free(&tf);
	char *huge = malloc(4096);
	cr_assert(huge != NULL);
	int n = snprintf(huge, 4096, "ref,citizen,mode,distance_m,start,end\nx,");
	memset(huge + n, 'z', 1000);
	snprintf(huge + n + 1000, 4096 - (size_t)n - 1000, ",bus,5,1,2\n");
	parse_ok(huge, &tf);
	cr_assert_eq(tf.nerrs, 1);
	cr_assert(strstr(tf.errs[0].msg, "longer than 256") != NULL, "%s", tf.errs[0].msg);
	wallet_trip_file_free(&tf);
	free(huge);
}

Test(wallet, trip_parse_one)
{
	keys();
	char spec[256], msg[192];
	wallet_trip_row row;
	snprintf(spec, sizeof spec, "T-9,%s,metro,8000,2026-01-01T08:00:00Z,1767255600", addr_b);
	cr_assert_eq(wallet_trip_parse_one(spec, &row, msg, sizeof msg), 0, "%s", msg);
	cr_assert_str_eq(row.ref, "T-9");
	cr_assert_eq(memcmp(row.citizen, B, CK_PUBKEY_BYTES), 0);
	cr_assert_eq(row.start_s, 1767254400);
	cr_assert_eq(wallet_trip_parse_one("a,b", &row, msg, sizeof msg), WALLET_E_CSV);
	cr_assert(strstr(msg, "expected 6 fields") != NULL, "%s", msg);
	cr_assert_eq(wallet_trip_parse_one("", &row, msg, sizeof msg), WALLET_E_CSV);
}

/* ---- URLs and JSON --------------------------------------------------------- */

Test(wallet, urls)
{
	wallet_url u;
	cr_assert_eq(wallet_url_parse("http://127.0.0.1:8600", &u), 0);
	cr_assert_str_eq(u.host, "127.0.0.1");
	cr_assert_eq(u.port, 8600);
	cr_assert_str_eq(u.prefix, "");
	cr_assert_eq(wallet_url_parse("localhost:9", &u), 0);
	cr_assert_eq(u.port, 9);
	cr_assert_eq(wallet_url_parse("http://node.example/api/", &u), 0);
	cr_assert_eq(u.port, 80);
	cr_assert_str_eq(u.prefix, "/api");
	cr_assert_eq(wallet_url_parse("http://[::1]:8600", &u), 0);
	cr_assert_str_eq(u.host, "::1");
	const char *bad[] = {"https://x:1", "http://:80", "http://x:", "http://x:0", "http://x:65536",
			     "http://x:12a", "http://[::1", "http://a b:1", "http://x/p?q=1",
			     "http://user@x:1"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(wallet_url_parse(bad[i], &u), WALLET_E_URL, "\"%s\" accepted", bad[i]);
}

Test(wallet, json_numbers)
{
	json_t *j = json_loads("{\"a\": 5, \"b\": \"18446744073709551615\", \"c\": -1, \"d\": \"1x\","
			       " \"e\": \"18446744073709551616\", \"f\": 1.5, \"h\": \"00ff\"}",
			       0, NULL);
	cr_assert(j != NULL);
	uint64_t v;
	cr_assert_eq(wallet_json_u64(j, "a", &v), 0);
	cr_assert_eq(v, 5);
	cr_assert_eq(wallet_json_u64(j, "b", &v), 0);
	cr_assert_eq(v, UINT64_MAX);
	cr_assert_eq(wallet_json_u64(j, "c", &v), WALLET_E_JSON);
	cr_assert_eq(wallet_json_u64(j, "d", &v), WALLET_E_JSON);
	cr_assert_eq(wallet_json_u64(j, "e", &v), WALLET_E_JSON);
	cr_assert_eq(wallet_json_u64(j, "f", &v), WALLET_E_JSON);
	cr_assert_eq(wallet_json_u64(j, "missing", &v), WALLET_E_JSON);
	uint8_t *b;
	size_t n;
	cr_assert_eq(wallet_json_bytes(j, "h", &b, &n, 2), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(b[1], 0xff);
	free(b);
	cr_assert_eq(wallet_json_bytes(j, "h", &b, &n, 1), WALLET_E_JSON);
	json_decref(j);
}

/* ---- proposals -------------------------------------------------------------- */

Test(wallet, proposal_round_trip_and_tamper)
{
	char dir[] = "/tmp/wallet-test-XXXXXX";
	cr_assert(mkdtemp(dir) != NULL);
	char path[128];
	snprintf(path, sizeof path, "%s/p.json", dir);

	uint8_t seed[CK_SEED_BYTES] = {9};
	ck_pubkey pk1, pk2;
	ck_seckey sk1, sk2;
	ck_keypair_from_seed(pk1, sk1, seed);
	seed[0] = 10;
	ck_keypair_from_seed(pk2, sk2, seed);

	ledger_tx *tx;
	cr_assert_eq(ledger_tx_new(&tx, LEDGER_TX_GOVERN, 0), 0);
	snprintf(tx->chain_id, sizeof tx->chain_id, "test-city-1");
	memcpy(tx->sender, pk1, CK_PUBKEY_BYTES);
	tx->nonce = 7;
	tx->u.govern.action = LEDGER_GOV_CLAWBACK;
	memcpy(tx->u.govern.account, pk2, CK_PUBKEY_BYTES);
	tx->u.govern.amount_g = 1500;
	snprintf(tx->u.govern.reason, sizeof tx->u.govern.reason, "step faker");
	char msg[256];
	cr_assert_eq(wallet_proposal_write(path, tx, 2, false, msg, sizeof msg), 0, "%s", msg);
	/* Never over an existing proposal unless asked. */
	cr_assert_eq(wallet_proposal_write(path, tx, 2, false, msg, sizeof msg), WALLET_E_IO);

	ledger_tx *back;
	uint32_t thr;
	cr_assert_eq(wallet_proposal_read(path, &back, &thr, msg, sizeof msg), 0, "%s", msg);
	cr_assert_eq(thr, 2);
	cr_assert_eq(back->nonce, 7);
	cr_assert_eq(back->u.govern.amount_g, 1500);
	cr_assert_eq(ledger_tx_approve(back, sk2), 0);
	cr_assert_eq(ledger_tx_approve(back, sk1), 0);
	cr_assert_eq(wallet_proposal_write(path, back, thr, true, msg, sizeof msg), 0, "%s", msg);
	ledger_tx_free(back);
	cr_assert_eq(wallet_proposal_read(path, &back, &thr, msg, sizeof msg), 0, "%s", msg);
	cr_assert_eq(back->napprovals, 2);
	char summary[512];
	wallet_govern_summary(back, summary, sizeof summary);
	cr_assert(strstr(summary, "claw back 1.500 kg") != NULL, "%s", summary);
	cr_assert(strstr(summary, "step faker") != NULL, "%s", summary);
	ledger_tx_free(back);

	/* Changing the amount after signing breaks the approvals. */
	tx->u.govern.amount_g = 150000;
	cm_wr w;
	cm_wr_init(&w);
	ledger_tx_encode(tx, &w);
	char *hex = malloc(2 * cm_wr_len(&w) + 1);
	cm_hex_encode(hex, cm_wr_data(&w), cm_wr_len(&w));
	cm_wr_free(&w);
	json_t *j = json_load_file(path, 0, NULL);
	cr_assert(j != NULL);
	/* Keep the approvals of the original, swap the body. */
	ledger_tx *orig;
	cr_assert_eq(wallet_proposal_read(path, &orig, &thr, msg, sizeof msg), 0);
	orig->u.govern.amount_g = 150000;
	cm_wr_init(&w);
	ledger_tx_encode(orig, &w);
	char *hex2 = malloc(2 * cm_wr_len(&w) + 1);
	cm_hex_encode(hex2, cm_wr_data(&w), cm_wr_len(&w));
	cm_wr_free(&w);
	json_object_set_new(j, "tx", json_string(hex2));
	cr_assert_eq(json_dump_file(j, path, 0), 0);
	cr_assert_eq(wallet_proposal_read(path, &back, &thr, msg, sizeof msg), WALLET_E_PROPOSAL);
	cr_assert(strstr(msg, "does not verify") != NULL, "%s", msg);
	/* Not a govern transaction, or garbage. */
	json_object_set_new(j, "tx", json_string("00"));
	cr_assert_eq(json_dump_file(j, path, 0), 0);
	cr_assert_eq(wallet_proposal_read(path, &back, &thr, msg, sizeof msg), WALLET_E_PROPOSAL);
	json_object_set_new(j, "format", json_string("something-else"));
	cr_assert_eq(json_dump_file(j, path, 0), 0);
	cr_assert_eq(wallet_proposal_read(path, &back, &thr, msg, sizeof msg), WALLET_E_PROPOSAL);
	json_decref(j);
	free(hex);
	free(hex2);
	ledger_tx_free(orig);
	ledger_tx_free(tx);
	unlink(path);
	rmdir(dir);
}

/* ---- methodology files --------------------------------------------------- */

Test(wallet, methodology_from_genesis_json)
{
	ledger_genesis g;
	memset(&g, 0, sizeof g);
	snprintf(g.chain_id, sizeof g.chain_id, "test-city-1");
	g.governor_threshold = 1;
	g.nmembers = 1;
	ledger_member m;
	memset(&m, 0, sizeof m);
	m.id = 1;
	snprintf(m.name, sizeof m.name, "city");
	m.roles = LEDGER_ROLE_VALIDATOR | LEDGER_ROLE_GOVERNOR;
	m.nkeys = 1;
	memset(m.keys[0], 7, CK_PUBKEY_BYTES);
	ck_seckey sk;
	uint8_t seed[CK_SEED_BYTES] = {3};
	ck_keypair_from_seed(m.keys[0], sk, seed);
	g.members = &m;
	ledger_methodology_default(&g.methodology);
	char *text;
	cr_assert_eq(ledger_genesis_to_json(&g, &text), 0);
	json_t *j = json_loads(text, 0, NULL);
	free(text);
	cr_assert(j != NULL);
	json_t *mj = json_object_get(j, "methodology");
	ledger_methodology got;
	char msg[256] = "";
	cr_assert_eq(wallet_methodology_parse(mj, &got, msg, sizeof msg), 0, "%s", msg);
	cr_assert_eq(memcmp(&got, &g.methodology, sizeof got), 0);

	/* A new version from a later height, with one factor changed. */
	json_object_set_new(mj, "version", json_integer(2));
	json_object_set_new(mj, "effective_height", json_integer(1000));
	json_t *walk = json_object_get(json_object_get(mj, "modes"), "walk");
	json_object_set_new(walk, "daily_cap_g", json_integer(250));
	cr_assert_eq(wallet_methodology_parse(mj, &got, msg, sizeof msg), 0, "%s", msg);
	cr_assert_eq(got.version, 2);
	cr_assert_eq(got.effective_height, 1000);
	cr_assert_eq(got.mode[LEDGER_MODE_WALK].daily_cap_g, 250);

	json_object_set_new(walk, "speed", json_integer(5));
	cr_assert_eq(wallet_methodology_parse(mj, &got, msg, sizeof msg), WALLET_E_METHODOLOGY);
	cr_assert(strstr(msg, "walk.speed: unknown key") != NULL, "%s", msg);
	json_object_del(walk, "speed");
	json_object_del(json_object_get(mj, "modes"), "rail");
	cr_assert_eq(wallet_methodology_parse(mj, &got, msg, sizeof msg), WALLET_E_METHODOLOGY);
	cr_assert(strstr(msg, "rail: missing") != NULL, "%s", msg);
	json_decref(j);
}

/* What a governor is shown: the proposed methodology in the genesis schema
 * (read back to the same struct), every changed parameter, and a summary
 * that names every mode's factor. */
Test(wallet, methodology_json_diff_and_summary)
{
	ledger_methodology a, b, back;
	ledger_methodology_default(&a);
	b = a;
	b.version = 2;
	b.effective_height = 500;
	b.mode[LEDGER_MODE_METRO].reduction_mg_per_km = 40000;
	b.mode[LEDGER_MODE_CARPOOL].enabled = true;
	b.claim_after_s = 300;
	json_t *j = wallet_methodology_json(&b);
	cr_assert(j != NULL);
	char msg[256] = "";
	cr_assert_eq(wallet_methodology_parse(j, &back, msg, sizeof msg), WALLET_E_METHODOLOGY,
		     "an enabled carpool without a factor must be refused");
	b.mode[LEDGER_MODE_CARPOOL].enabled = false;
	json_decref(j);
	j = wallet_methodology_json(&b);
	cr_assert_eq(wallet_methodology_parse(j, &back, msg, sizeof msg), 0, "%s", msg);
	cr_assert_eq(memcmp(&back, &b, sizeof b), 0);
	json_decref(j);

	wallet_meth_change c[WALLET_METH_FIELDS_MAX];
	cr_assert_eq(wallet_methodology_diff(&a, &a, c), 0);
	cr_assert_eq(wallet_methodology_diff(&a, &b, c), 2);
	cr_assert_str_eq(c[0].field, "claim_after_s");
	cr_assert_eq(c[0].from, 600);
	cr_assert_eq(c[0].to, 300);
	cr_assert_str_eq(c[1].field, "modes.metro.reduction_mg_per_km");
	cr_assert_eq(c[1].from, 46700);
	cr_assert_eq(c[1].to, 40000);
	/* Everything differs: the bound holds. */
	ledger_methodology z;
	memset(&z, 0, sizeof z);
	for (unsigned k = 1; k <= LEDGER_MODE_MAX; k++)
		z.mode[k].enabled = !a.mode[k].enabled;
	z.mode[LEDGER_MODE_CARPOOL].enabled = true;
	z.mode[LEDGER_MODE_CARPOOL].reduction_mg_per_km = 1;
	z.mode[LEDGER_MODE_CARPOOL].min_distance_m = 1;
	z.mode[LEDGER_MODE_CARPOOL].max_speed_kmh = 1;
	z.mode[LEDGER_MODE_CARPOOL].daily_cap_g = 1;
	cr_assert_eq(wallet_methodology_diff(&a, &z, c), WALLET_METH_FIELDS_MAX);

	ledger_tx *tx;
	cr_assert_eq(ledger_tx_new(&tx, LEDGER_TX_GOVERN, 0), 0);
	tx->u.govern.action = LEDGER_GOV_METHODOLOGY;
	tx->u.govern.methodology = b;
	char sum[2048];
	wallet_govern_summary(tx, sum, sizeof sum);
	ledger_tx_free(tx);
	cr_assert(strstr(sum, "methodology version 2 from height 500") != NULL, "%s", sum);
	cr_assert(strstr(sum, "metro on 40000 mg/km, min 1000 m, max 120 km/h, cap 2800 g") != NULL,
		  "%s", sum);
	for (unsigned k = 1; k <= LEDGER_MODE_MAX; k++) {
		char want[32];
		snprintf(want, sizeof want, " %s o", ledger_mode_name(k));
		cr_assert(strstr(sum, want) != NULL, "%s missing from %s", want, sum);
	}
}

/* ---- sample trip files --------------------------------------------------- */

static char *sample_hours(uint64_t seed, uint32_t hours, uint32_t fast_permille,
			  wallet_sample_op *ops, char **buf, size_t *len)
{
	for (int i = 0; i < 2; i++) {
		buf[i] = NULL;
		ops[i].out = open_memstream(&buf[i], &len[i]);
		cr_assert(ops[i].out != NULL);
	}
	ck_pubkey extra;
	memset(extra, 0x42, sizeof extra);
	wallet_sample_opts o = {seed, 1800000000, hours, 50, 800, 20, 20, fast_permille, &extra, 1};
	cr_assert_eq(wallet_sample_write(&o, ops, 2), 0);
	fclose(ops[0].out);
	fclose(ops[1].out);
	return buf[0];
}

static char *sample(uint64_t seed, wallet_sample_op *ops, char **buf, size_t *len)
{
	return sample_hours(seed, 20, 10, ops, buf, len);
}

/* Rows of f faster than the default methodology allows for their mode. */
static uint32_t too_fast(const wallet_trip_file *f)
{
	ledger_methodology m;
	ledger_methodology_default(&m);
	uint32_t n = 0;
	for (uint32_t r = 0; r < f->nrows; r++) {
		const wallet_trip_row *t = &f->rows[r];
		n += (uint64_t)t->distance_m * 3600u >
		     (uint64_t)m.mode[t->mode].max_speed_kmh * 1000u * (t->end_s - t->start_s);
	}
	return n;
}

Test(wallet, sample_trips_are_deterministic_and_readable)
{
	wallet_sample_op a[2] = {
		{.name = "metro", .modes = 1u << LEDGER_MODE_METRO | 1u << LEDGER_MODE_BUS},
		{.name = "bike", .modes = 1u << LEDGER_MODE_CYCLE | 1u << LEDGER_MODE_WALK}};
	wallet_sample_op b[2] = {{.name = "metro", .modes = a[0].modes},
				 {.name = "bike", .modes = a[1].modes}};
	char *ba[2], *bb[2];
	size_t la[2], lb[2];
	sample(7, a, ba, la);
	sample(7, b, bb, lb);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(la[i], lb[i]);
		cr_assert_eq(memcmp(ba[i], bb[i], la[i]), 0, "same seed, other file");
		wallet_trip_file tf;
		char msg[256] = "";
		cr_assert_eq(wallet_trips_parse(ba[i], la[i], &tf, msg, sizeof msg), 0, "%s", msg);
		cr_assert_eq(tf.nerrs, 0, "%s", tf.nerrs ? tf.errs[0].msg : "");
		cr_assert_eq(tf.nrows, a[i].rows);
		cr_assert(tf.nrows > 100);
		for (uint32_t r = 0; r < tf.nrows; r++) {
			cr_assert(a[i].modes & (1u << tf.rows[r].mode), "mode of another operator");
			cr_assert(tf.rows[r].end_s <= 1800000000);
			cr_assert(tf.rows[r].start_s >= 1800000000 - 20 * 3600);
		}
		/* Exactly the planted too-fast rows break the speed limits. */
		cr_assert_eq(too_fast(&tf), a[i].fast);
		wallet_trip_file_free(&tf);
		free(bb[i]);
	}
	cr_assert(a[0].dups + a[1].dups > 0);
	cr_assert(a[0].overlaps + a[1].overlaps > 0);
	cr_assert(a[0].fast + a[1].fast > 0);
	/* A crowded hour: many citizens' days reach now, where a planted
	 * too-fast trip no longer fits; what the summary counts is exactly
	 * what is in the file. */
	wallet_sample_op d[2] = {{.name = "metro", .modes = a[0].modes},
				 {.name = "bike", .modes = a[1].modes}};
	char *bd[2];
	size_t ld[2];
	sample_hours(9, 1, 300, d, bd, ld);
	for (int i = 0; i < 2; i++) {
		wallet_trip_file tf;
		char msg[256] = "";
		cr_assert_eq(wallet_trips_parse(bd[i], ld[i], &tf, msg, sizeof msg), 0, "%s", msg);
		cr_assert_eq(too_fast(&tf), d[i].fast, "%u too fast in the file, %u counted",
			     too_fast(&tf), d[i].fast);
		wallet_trip_file_free(&tf);
		free(bd[i]);
	}
	/* Another seed, another day. */
	wallet_sample_op c[2] = {{.name = "metro", .modes = a[0].modes},
				 {.name = "bike", .modes = a[1].modes}};
	sample(8, c, bb, lb);
	cr_assert(lb[0] != la[0] || memcmp(bb[0], ba[0], la[0]) != 0);
	for (int i = 0; i < 2; i++) {
		free(ba[i]);
		free(bb[i]);
	}
}
