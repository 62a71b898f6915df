/*
 * carbon-sim: the deterministic simulator of the consensus core.
 *
 *   carbon-sim --seeds N [--first-seed S]   run N seeds, stop at the first failure
 *   carbon-sim --seed S [--verbose]         replay one seed (the same run, step for step)
 *
 * Exit status: 0 if every invariant held, 1 on a violation (the seed and
 * the replay command are printed), 2 on a usage error.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim.h"

static int usage(void)
{
	fprintf(stderr, "usage: carbon-sim --seeds N [--first-seed S]\n"
			"       carbon-sim --seed S [--verbose]\n");
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
	bool have_one = false, verbose = false;
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
		} else if (!strcmp(argv[i], "--verbose")) {
			verbose = true;
		} else if (!strcmp(argv[i], "--help")) {
			usage();
			return 0;
		} else {
			return usage();
		}
	}
	if (have_one == (seeds > 0))
		return usage();
	if (have_one) {
		sim_opts o = {.seed = one, .verbose = verbose};
		int rc = sim_run(&o);
		printf("carbon-sim: seed %" PRIu64 ": %s\n", one, rc ? "FAILED" : "ok");
		return rc;
	}
	for (uint64_t s = first; s < first + seeds; s++) {
		sim_opts o = {.seed = s, .quiet = true};
		if (sim_run(&o) != 0)
			return 1;
	}
	printf("carbon-sim: %" PRIu64 " seeds (%" PRIu64 "..%" PRIu64 ") passed\n", seeds, first,
	       first + seeds - 1);
	return 0;
}
