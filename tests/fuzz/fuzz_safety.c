/*
 * libFuzzer target for cons_safety_decode, the reader of the safety state
 * a validator persists before every vote (node/safety.c stores the bytes,
 * checksummed, in its own LMDB environment). A file damaged and then
 * re-checksummed, or written by another version, reaches this decoder:
 * whatever it accepts must re-encode to exactly the input, pass
 * cons_safety_check, and satisfy the invariants the core relies on (step
 * in range, rounds bounded, the proposal slot names a block, votes carry
 * no pol_round, pol_round below round). Restarting a core from such a state is fuzzed by
 * fuzz_cons_core (top bit of its first byte). The node's second record,
 * validValue's block and proof of lock, is decoded by a static function of
 * node/node.c from a bin and a certificate (fuzz_cert covers the latter).
 * Seeds: tests/fuzz/corpus/safety (gen_corpus).
 */
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cons_safety s;
	if (cons_safety_decode(&s, data, size) != 0)
		return 0;
	cm_wr w;
	cm_wr_init(&w);
	cons_safety_encode(&s, &w);
	fuzz_same_bytes(&w, data, size);
	cm_wr_free(&w);

	FUZZ_CHECK(cons_safety_check(&s) == 0);
	FUZZ_CHECK(s.height >= 1);
	FUZZ_CHECK(s.round <= LIM_CONS_ROUND_MAX);
	FUZZ_CHECK(s.step <= CONS_STEP_PRECOMMIT);
	FUZZ_CHECK(s.locked_round >= -1 && s.locked_round <= (int32_t)LIM_CONS_ROUND_MAX);
	FUZZ_CHECK(s.valid_round >= -1 && s.valid_round <= (int32_t)LIM_CONS_ROUND_MAX);
	for (int i = 0; i < 3; i++) {
		const cons_signed *m = &s.last[i];
		if (m->height == 0)
			continue;
		FUZZ_CHECK(m->round <= LIM_CONS_ROUND_MAX);
		FUZZ_CHECK(m->pol_round >= -1 && m->pol_round < (int32_t)m->round);
		FUZZ_CHECK(i == CONS_STEP_PROPOSE ? m->has_id : m->pol_round == -1);
		uint8_t sb[CONS_SIGN_BYTES_MAX];
		size_t n = i == CONS_STEP_PROPOSE
				   ? cons_proposal_sign_bytes(sb, m->height, m->round, m->pol_round, m->id)
				   : cons_vote_sign_bytes(sb, m->height, m->round, m->has_id, m->id);
		FUZZ_CHECK(n <= CONS_SIGN_BYTES_MAX);
	}
	return 0;
}
