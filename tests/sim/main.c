/*
 * carbon-sim: the deterministic simulator of the consensus core.
 *
 *   carbon-sim --seeds N [--first-seed S] [--scenario random|lock] [--keep-going]
 *       run N seeds; stop at the first failure, or with --keep-going run
 *       them all and report how many failed (the mutation check's rate)
 *   carbon-sim --seed S [--scenario random|lock] [--verbose]
 *       replay one seed (the same run, step for step)
 *
 * Every run ends with a trace hash: a hash of every event of every seed, so
 * that two builds (gcc and clang, say) can be shown to run the same
 * simulation. Exit status: 0 if every invariant held, 1 on a violation
 * (the seed and the replay command are printed), 2 on a usage error.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim.h"

static int usage(void)
{
	fprintf(stderr, "usage: carbon-sim --seeds N [--first-seed S] [--scenario random|lock] "
			"[--keep-going]\n"
			"       carbon-sim --seed S [--scenario random|lock] [--verbose]\n");
	return 2;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;
	if (!s || !*s)
		return -1;
	*v = strtoull(s, &end, 10);
	return *end ? -1 : 0;
}

int main(int argc, char **argv)
{
	uint64_t seeds = 0, first = 1, one = 0;
	bool have_one = false, verbose = false, keep_going = false;
	enum sim_scenario scenario = SIM_RANDOM;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seeds") && i + 1 < argc) {
			if (parse_u64(argv[++i], &seeds))
				return usage();
		} else if (!strcmp(argv[i], "--first-seed") && i + 1 < argc) {
			if (parse_u64(argv[++i], &first))
				return usage();
		} else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			if (parse_u64(argv[++i], &one))
				return usage();
			have_one = true;
		} else if (!strcmp(argv[i], "--scenario") && i + 1 < argc) {
			i++;
			if (!strcmp(argv[i], "random"))
				scenario = SIM_RANDOM;
			else if (!strcmp(argv[i], "lock"))
				scenario = SIM_LOCK;
			else
				return usage();
		} else if (!strcmp(argv[i], "--verbose")) {
			verbose = true;
		} else if (!strcmp(argv[i], "--keep-going")) {
			keep_going = true;
		} else if (!strcmp(argv[i], "--help")) {
			usage();
			return 0;
		} else {
			return usage();
		}
	}
	if (have_one == (seeds > 0))
		return usage();
	const char *name = scenario == SIM_LOCK ? "lock" : "random";
	if (have_one) {
		sim_opts o = {.seed = one, .scenario = scenario, .verbose = verbose};
		uint64_t trace;
		int rc = sim_run(&o, &trace);
		printf("carbon-sim: seed %" PRIu64 " (%s): %s, trace %016" PRIx64 "\n", one, name,
		       rc ? "FAILED" : "ok", trace);
		return rc;
	}
	uint64_t all = 0xcbf29ce484222325ull, failed = 0;
	for (uint64_t s = first; s < first + seeds; s++) {
		sim_opts o = {.seed = s, .scenario = scenario};
		uint64_t trace;
		if (sim_run(&o, &trace) != 0) {
			failed++;
			if (!keep_going)
				return 1;
		}
		all = (all ^ trace) * 0x100000001b3ull;
	}
	if (failed) {
		printf("carbon-sim: %" PRIu64 " of %" PRIu64 " seeds (%" PRIu64 "..%" PRIu64
		       ", %s) failed\n",
		       failed, seeds, first, first + seeds - 1, name);
		return 1;
	}
	printf("carbon-sim: %" PRIu64 " seeds (%" PRIu64 "..%" PRIu64 ", %s) passed, trace %016" PRIx64
	       "\n",
	       seeds, first, first + seeds - 1, name, all);
	return 0;
}
