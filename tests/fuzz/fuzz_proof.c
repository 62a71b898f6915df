/*
 * libFuzzer target for balance proofs (ledger_account_proof_decode), the
 * bytes a wallet or a bank receives from a node it does not trust and
 * checks offline. Whatever decodes must re-encode to exactly the input;
 * ledger_verify_account_proof must answer 0 or LEDGER_E_PROOF without
 * crashing; and a proof that verifies must stop verifying when the
 * balance, the nonce or the account is changed (one proof, one claim).
 * Seeds: proofs of real accounts made by ledger_prove_account on a ledger
 * opened from tests/vectors/genesis_example.json (gen_corpus).
 */
#include "ledger/ledger.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static ledger_account_proof p;
	if (ledger_account_proof_decode(data, size, &p) != 0)
		return 0;
	FUZZ_CHECK(p.nsiblings <= 256);
	cm_wr w;
	cm_wr_init(&w);
	ledger_account_proof_encode(&p, &w);
	fuzz_same_bytes(&w, data, size);
	cm_wr_free(&w);

	int rc = ledger_verify_account_proof(&p);
	FUZZ_CHECK(rc == 0 || rc == LEDGER_E_PROOF);
	if (rc != 0)
		return 0;
	p.balance_g ^= 1;
	FUZZ_CHECK(ledger_verify_account_proof(&p) == LEDGER_E_PROOF);
	p.balance_g ^= 1;
	p.nonce ^= 1;
	FUZZ_CHECK(ledger_verify_account_proof(&p) == LEDGER_E_PROOF);
	p.nonce ^= 1;
	p.account[31] ^= 1;
	FUZZ_CHECK(ledger_verify_account_proof(&p) == LEDGER_E_PROOF);
	return 0;
}
