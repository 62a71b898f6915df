/*
 * libFuzzer target for cons_msg_decode, the decoder of every consensus
 * message a peer sends (proposal, prevote, precommit, decided, status).
 * Whatever it accepts must re-encode with cons_msg_encode to exactly the
 * input, and must be usable as the core uses it without tripping one of
 * its assertions: sign bytes of proposals and votes (pol_round below
 * round), the certificate of a decided message re-encoded through
 * cons_decided_encode. The core's handling of such messages is
 * fuzz_cons_core's job. Seeds: tests/fuzz/corpus/cons_msg (gen_corpus).
 */
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cons_msg m;
	if (cons_msg_decode(&m, data, size) != 0)
		return 0;

	cm_wr w;
	cm_wr_init(&w);
	cons_msg_encode(&m, &w);
	fuzz_same_bytes(&w, data, size);
	cm_wr_reset(&w);

	uint8_t sb[CONS_SIGN_BYTES_MAX];
	size_t n = 0;
	switch (m.kind) {
	case CONS_MSG_PROPOSAL:
		FUZZ_CHECK(m.u.proposal.height >= 1);
		FUZZ_CHECK(m.u.proposal.round <= LIM_CONS_ROUND_MAX);
		FUZZ_CHECK(m.u.proposal.proposer < LIM_VALIDATORS_MAX);
		FUZZ_CHECK(m.u.proposal.block_len >= 1);
		FUZZ_CHECK(m.u.proposal.block >= data &&
			   m.u.proposal.block + m.u.proposal.block_len <= data + size);
		n = cons_proposal_sign_bytes(sb, m.u.proposal.height, m.u.proposal.round,
					     m.u.proposal.pol_round, m.u.proposal.id);
		break;
	case CONS_MSG_PREVOTE:
	case CONS_MSG_PRECOMMIT:
		FUZZ_CHECK(m.u.vote.step == (m.kind == CONS_MSG_PREVOTE ? CONS_STEP_PREVOTE
									 : CONS_STEP_PRECOMMIT));
		FUZZ_CHECK(m.u.vote.validator < LIM_VALIDATORS_MAX);
		n = cons_vote_sign_bytes(sb, m.u.vote.height, m.u.vote.round, m.u.vote.has_id,
					 m.u.vote.id);
		break;
	case CONS_MSG_DECIDED:
		FUZZ_CHECK(m.u.decided.cert.n >= 1 && m.u.decided.cert.n <= LIM_VALIDATORS_MAX);
		cons_decided_encode(&m.u.decided.cert, m.u.decided.block, m.u.decided.block_len,
				    &w);
		fuzz_same_bytes(&w, data, size);
		break;
	case CONS_MSG_STATUS:
		FUZZ_CHECK(m.u.status.height >= 1);
		break;
	default:
		FUZZ_CHECK(!"decoded an unknown kind");
	}
	FUZZ_CHECK(n <= CONS_SIGN_BYTES_MAX);
	cm_wr_free(&w);
	return 0;
}
