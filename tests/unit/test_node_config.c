/* node/config.c: loading home/config.json. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/limits.h"
#include "node/config.h"

static char path[64];

static void write_file(const char *text, size_t pad)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	for (size_t i = 0; i < pad; i++)
		fputc(' ', f);
	fputs(text, f);
	fclose(f);
}

static void setup(void)
{
	strcpy(path, "/tmp/carbon-config-XXXXXX");
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
}

static void teardown(void) { unlink(path); }

TestSuite(config, .init = setup, .fini = teardown);

Test(config, loads_values_and_keeps_defaults)
{
	node_config c;
	char err[256];
	write_file("{\"block_interval_ms\": 25, \"api_listen\": \"127.0.0.1:9000\"}", 0);
	cr_assert_eq(node_config_load(path, &c, err, sizeof err), 0, "%s", err);
	cr_assert_eq(c.block_interval_ms, 25);
	cr_assert_str_eq(c.api_listen, "127.0.0.1:9000");
	node_config d;
	node_config_defaults(&d);
	cr_assert_eq(c.block_txs_max, d.block_txs_max);
}

Test(config, refuses_a_file_over_the_limit_before_parsing)
{
	node_config c;
	char err[256];
	const char *obj = "{\"block_interval_ms\": 25}";
	/* Exactly at the limit: whitespace then the object still loads. */
	write_file(obj, LIM_CONFIG_BYTES_MAX - strlen(obj));
	cr_assert_eq(node_config_load(path, &c, err, sizeof err), 0, "%s", err);
	write_file(obj, LIM_CONFIG_BYTES_MAX - strlen(obj) + 1);
	cr_assert_eq(node_config_load(path, &c, err, sizeof err), -1);
	cr_assert(strstr(err, "larger than the limit") != NULL, "%s", err);
}

Test(config, refuses_duplicates_out_of_range_and_trailing_data)
{
	node_config c;
	char err[256];
	write_file("{\"block_interval_ms\": 25, \"block_interval_ms\": 30}", 0);
	cr_assert_eq(node_config_load(path, &c, err, sizeof err), -1);
	write_file("{\"block_interval_ms\": 0}", 0);
	cr_assert_eq(node_config_load(path, &c, err, sizeof err), -1);
	cr_assert(strstr(err, "block_interval_ms") != NULL, "%s", err);
	write_file("{\"block_interval_ms\": 25} {}", 0);
	cr_assert_eq(node_config_load(path, &c, err, sizeof err), -1);
	strcpy(err, "");
	unlink(path);
	cr_assert_eq(node_config_load(path, &c, err, sizeof err), -1);
	cr_assert(strlen(err) > 0);
}

Test(config, trip_budget_holds_at_least_one_full_batch)
{
	node_config c;
	char err[256];
	write_file("{\"block_trips_max\": 999}", 0);
	cr_assert_eq(node_config_load(path, &c, err, sizeof err), -1);
	cr_assert(strstr(err, "block_trips_max") != NULL, "%s", err);
	write_file("{\"block_trips_max\": 1000}", 0);
	cr_assert_eq(node_config_load(path, &c, err, sizeof err), 0, "%s", err);
	cr_assert_eq(c.block_trips_max, LIM_TRIPS_PER_TX_MAX);
	node_config d;
	node_config_defaults(&d);
	cr_assert_eq(d.block_trips_max, 20000);
}
