/* The canonical writer and the strict reader of common/mp.c. */
#include <criterion/criterion.h>
#include <string.h>

#include "common/cm.h"

static int read_one_uint(const uint8_t *b, size_t n, uint64_t *v)
{
	cm_rd r;
	cm_rd_init(&r, b, n);
	int rc = cm_rd_uint(&r, v);
	return rc ? rc : cm_rd_end(&r);
}

Test(mp, uint_round_trip_minimal)
{
	static const uint64_t vals[] = {0, 1, 127, 128, 255, 256, 65535, 65536,
					0xffffffffull, 0x100000000ull, UINT64_MAX};
	static const size_t widths[] = {1, 1, 1, 2, 2, 3, 3, 5, 5, 9, 9};
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		cm_wr w;
		uint64_t v;
		cm_wr_init(&w);
		cm_wr_uint(&w, vals[i]);
		cr_assert_eq(cm_wr_len(&w), widths[i], "width of %llu", (unsigned long long)vals[i]);
		cr_assert_eq(read_one_uint(cm_wr_data(&w), cm_wr_len(&w), &v), 0);
		cr_assert_eq(v, vals[i]);
		cm_wr_free(&w);
	}
}

Test(mp, rejects_nonminimal_uint)
{
	uint64_t v;
	const uint8_t u8_small[] = {0xcc, 0x05};
	const uint8_t u16_small[] = {0xcd, 0x00, 0xff};
	const uint8_t u32_small[] = {0xce, 0x00, 0x00, 0xff, 0xff};
	const uint8_t u64_small[] = {0xcf, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
	cr_assert_eq(read_one_uint(u8_small, 2, &v), CM_E_NONCANONICAL);
	cr_assert_eq(read_one_uint(u16_small, 3, &v), CM_E_NONCANONICAL);
	cr_assert_eq(read_one_uint(u32_small, 5, &v), CM_E_NONCANONICAL);
	cr_assert_eq(read_one_uint(u64_small, 9, &v), CM_E_NONCANONICAL);
}

Test(mp, rejects_signed_float_map_ext)
{
	uint64_t v;
	const uint8_t negfix[] = {0xff};
	const uint8_t int8[] = {0xd0, 0x01};
	const uint8_t f32[] = {0xca, 0, 0, 0, 0};
	const uint8_t map[] = {0x80};
	cr_assert_eq(read_one_uint(negfix, 1, &v), CM_E_TYPE);
	cr_assert_eq(read_one_uint(int8, 2, &v), CM_E_TYPE);
	cr_assert_eq(read_one_uint(f32, 5, &v), CM_E_TYPE);
	cr_assert_eq(read_one_uint(map, 1, &v), CM_E_TYPE);
}

Test(mp, huge_array_length_rejected_before_allocation)
{
	/* The msgpack-c unpacker would reserve ~hundreds of MB for this. */
	const uint8_t b[] = {0xdd, 0x01, 0x00, 0x00, 0x00};
	cm_rd r;
	uint32_t n;
	cm_rd_init(&r, b, sizeof b);
	cr_assert_eq(cm_rd_array(&r, &n, 1000), CM_E_LIMIT);
	cr_assert_eq(r.off, 0);
}

Test(mp, truncated_and_trailing)
{
	cm_wr w;
	cm_rd r;
	const uint8_t *p;
	uint32_t len;
	uint8_t buf[300];
	memset(buf, 7, sizeof buf);
	cm_wr_init(&w);
	cm_wr_bin(&w, buf, sizeof buf);
	cr_assert_eq(cm_wr_data(&w)[0], 0xc5);
	for (size_t cut = 0; cut < cm_wr_len(&w); cut++) {
		cm_rd_init(&r, cm_wr_data(&w), cut);
		cr_assert_eq(cm_rd_bin(&r, &p, &len, 1000), CM_E_TRUNCATED, "cut %zu", cut);
	}
	cm_wr_uint(&w, 1);
	cm_rd_init(&r, cm_wr_data(&w), cm_wr_len(&w));
	cr_assert_eq(cm_rd_bin(&r, &p, &len, 1000), 0);
	cr_assert_eq(len, 300);
	cr_assert_eq(cm_rd_end(&r), CM_E_TRAILING);
	cm_wr_free(&w);
}

Test(mp, bin_and_str_minimal_headers)
{
	const uint8_t bin8_ok[] = {0xc4, 0x01, 0xaa};
	const uint8_t bin16_short[] = {0xc5, 0x00, 0x01, 0xaa};
	const uint8_t str8_short[] = {0xd9, 0x01, 'a'};
	const uint8_t fixstr[] = {0xa1, 'a'};
	const uint8_t bad_utf8[] = {0xa2, 0xc0, 0x80};
	const uint8_t nul[] = {0xa1, 0x00};
	cm_rd r;
	const uint8_t *p;
	const char *s;
	uint32_t len;
	cm_rd_init(&r, bin8_ok, sizeof bin8_ok);
	cr_assert_eq(cm_rd_bin(&r, &p, &len, 10), 0);
	cm_rd_init(&r, bin16_short, sizeof bin16_short);
	cr_assert_eq(cm_rd_bin(&r, &p, &len, 10), CM_E_NONCANONICAL);
	cm_rd_init(&r, str8_short, sizeof str8_short);
	cr_assert_eq(cm_rd_str(&r, &s, &len, 10), CM_E_NONCANONICAL);
	cm_rd_init(&r, fixstr, sizeof fixstr);
	cr_assert_eq(cm_rd_str(&r, &s, &len, 10), 0);
	cm_rd_init(&r, bad_utf8, sizeof bad_utf8);
	cr_assert_eq(cm_rd_str(&r, &s, &len, 10), CM_E_UTF8);
	cm_rd_init(&r, nul, sizeof nul);
	cr_assert_eq(cm_rd_str(&r, &s, &len, 10), CM_E_UTF8);
}

Test(mp, writer_matches_reader_for_every_length_class)
{
	static const size_t lens[] = {0, 31, 32, 255, 256, 65535, 65536};
	static char buf[70000];
	memset(buf, 'x', sizeof buf);
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		cm_wr w;
		cm_rd r;
		const char *s;
		const uint8_t *p;
		uint32_t len, n;
		cm_wr_init(&w);
		cm_wr_array(&w, (uint32_t)lens[i] % 70000);
		cm_wr_str(&w, buf, lens[i]);
		cm_wr_bin(&w, buf, lens[i]);
		cm_rd_init(&r, cm_wr_data(&w), cm_wr_len(&w));
		cr_assert_eq(cm_rd_array(&r, &n, 70000), 0);
		cr_assert_eq(n, lens[i]);
		cr_assert_eq(cm_rd_str(&r, &s, &len, 70000), 0, "str len %zu", lens[i]);
		cr_assert_eq(len, lens[i]);
		cr_assert_eq(cm_rd_bin(&r, &p, &len, 70000), 0, "bin len %zu", lens[i]);
		cr_assert_eq(cm_rd_end(&r), 0);
		cm_wr_free(&w);
	}
}

Test(mp, span_of_nested_value)
{
	cm_wr w;
	cm_rd r;
	const uint8_t *p;
	size_t len;
	cm_wr_init(&w);
	cm_wr_array(&w, 2);
	cm_wr_array(&w, 1);
	cm_wr_str(&w, "ok", 2);
	cm_wr_uint(&w, 300);
	cm_wr_uint(&w, 9);
	cm_rd_init(&r, cm_wr_data(&w), cm_wr_len(&w));
	cr_assert_eq(cm_rd_span(&r, &p, &len), 0);
	cr_assert_eq(len, cm_wr_len(&w) - 1);
	cr_assert_eq(cm_rd_end(&r), CM_E_TRAILING);
	cm_wr_free(&w);
}
