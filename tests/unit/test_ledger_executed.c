/*
 * The next height while a commit syncs (ledger/executed.c): between a
 * block's execution and the end of its commit, the next block's header,
 * its check and the mempool's nonces read the state after the block; the
 * committed queries do not.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "ledger_fixture.h"

static fx F;
static void setup(void) { fx_init(&F); }
static void teardown(void) { fx_fini(&F); }

/* Block h+1: one transfer of 1 g from citizen 0 with the given nonce. */
static ledger_block *next_block(uint64_t nonce, uint64_t time_ms)
{
	ledger_block *b = calloc(1, sizeof *b);
	ledger_tx *tx;
	ledger_info info;
	cm_wr w;
	cr_assert(b != NULL);
	cr_assert_eq(ledger_tx_new(&tx, LEDGER_TX_TRANSFER, 0), 0);
	snprintf(tx->chain_id, sizeof tx->chain_id, "%s", FX_CHAIN);
	memcpy(tx->sender, F.citizen[0].pk, CK_PUBKEY_BYTES);
	tx->nonce = nonce;
	memcpy(tx->u.transfer.to, F.citizen[1].pk, CK_PUBKEY_BYTES);
	tx->u.transfer.amount_g = 1;
	ledger_tx_sign(tx, F.citizen[0].sk);
	cm_wr_init(&w);
	ledger_tx_encode(tx, &w);
	cr_assert_eq(cm_wr_error(&w), 0);
	b->ntxs = 1;
	b->txs = calloc(1, sizeof *b->txs);
	b->tx_lens = calloc(1, sizeof *b->tx_lens);
	cr_assert(b->txs != NULL && b->tx_lens != NULL);
	b->txs[0] = malloc(cm_wr_len(&w));
	cr_assert(b->txs[0] != NULL);
	memcpy(b->txs[0], cm_wr_data(&w), cm_wr_len(&w));
	b->tx_lens[0] = (uint32_t)cm_wr_len(&w);
	cm_wr_free(&w);
	ledger_tx_free(tx);
	cr_assert_eq(ledger_next_header(F.l, &b->header), 0);
	cr_assert_eq(ledger_get_info_next(F.l, &info), 0);
	b->header.time_ms = time_ms;
	memcpy(b->header.proposer, info.valset.keys[0], CK_PUBKEY_BYTES);
	ledger_block_txs_root(b, b->header.txs_root);
	return b;
}

typedef struct seen {
	int calls;
	ledger_info after;
	uint64_t committed_height, committed_nonce, next_nonce;
	int check_next, check_stale;
	ledger_block *b_next;
} seen;
static seen S;

/* Runs inside ledger_apply_block, after the block executed and before its
 * commit: what a node's next height would do. */
static void on_executed(void *ctx, const ledger_info *after)
{
	seen *s = ctx;
	ledger_info committed;
	ledger_account a;
	s->calls++;
	s->after = *after;
	cr_assert_eq(ledger_get_info(F.l, &committed), 0);
	s->committed_height = committed.height;
	cr_assert_eq(ledger_get_account(F.l, F.citizen[0].pk, &a), 0);
	s->committed_nonce = a.nonce;
	cr_assert_eq(ledger_get_account_next(F.l, F.citizen[0].pk, &a), 0);
	s->next_nonce = a.nonce;
	ledger_block *stale = next_block(s->committed_nonce, after->time_ms + 1000);
	s->check_stale = ledger_check_block(F.l, stale, NULL);
	ledger_block_free(stale);
	s->b_next = next_block(s->next_nonce, after->time_ms + 1000);
	s->check_next = ledger_check_block(F.l, s->b_next, NULL);
}

Test(ledger_executed, next_height_reads_the_executed_block_before_its_commit, .init = setup,
     .fini = teardown)
{
	/* Block 1: citizen 0 sends twice, so its nonce moves by two. */
	fx_transfer(&F, &F.citizen[0], F.citizen[2].pk, 1);
	fx_transfer(&F, &F.citizen[0], F.citizen[2].pk, 1);
	memset(&S, 0, sizeof S);
	ledger_set_executed_hook(F.l, on_executed, &S);
	fx_commit(&F, NULL);

	cr_assert_eq(S.calls, 1);
	cr_assert_eq(S.after.height, 1);
	cr_assert_eq(S.committed_height, 0, "the commit had not landed in the hook");
	cr_assert_eq(S.committed_nonce, 0);
	cr_assert_eq(S.next_nonce, 2, "the mempool's view has the executed nonces");
	cr_assert_eq(S.check_next, 0, "block 2 checks against the state after block 1: %s",
		     ledger_strerror(S.check_next));
	cr_assert_eq(S.check_stale, LEDGER_E_NONCE, "a nonce block 1 used is refused: %s",
		     ledger_strerror(S.check_stale));

	/* What the hook saw is what committed, and block 2, built and checked
	 * before that, applies on it. */
	ledger_info info;
	cr_assert_eq(ledger_get_info(F.l, &info), 0);
	cr_assert_eq(info.height, 1);
	cr_assert_eq(memcmp(info.state_root, S.after.state_root, CK_HASH_BYTES), 0);
	cr_assert_eq(memcmp(info.last_block_hash, S.after.last_block_hash, CK_HASH_BYTES), 0);
	cr_assert_eq(memcmp(info.results_root, S.after.results_root, CK_HASH_BYTES), 0);
	cr_assert_eq(S.b_next->header.height, 2);
	cr_assert_eq(memcmp(S.b_next->header.parent_hash, info.last_block_hash, CK_HASH_BYTES), 0);
	cr_assert_eq(memcmp(S.b_next->header.state_root, info.state_root, CK_HASH_BYTES), 0);
	ledger_set_executed_hook(F.l, NULL, NULL);
	cr_assert_eq(ledger_check_block(F.l, S.b_next, NULL), 0);
	cr_assert_eq(ledger_apply_block(F.l, S.b_next, NULL, 0, NULL), 0);
	ledger_block_free(S.b_next);
	ledger_account a;
	cr_assert_eq(ledger_get_account(F.l, F.citizen[0].pk, &a), 0);
	cr_assert_eq(a.nonce, 3);
	fx_audit(&F);
}

Test(ledger_executed, nothing_is_read_through_once_the_commit_landed, .init = setup,
     .fini = teardown)
{
	fx_transfer(&F, &F.citizen[0], F.citizen[2].pk, 1);
	memset(&S, 0, sizeof S);
	ledger_set_executed_hook(F.l, on_executed, &S);
	fx_commit(&F, NULL);
	ledger_block_free(S.b_next);
	cr_assert_eq(S.calls, 1);
	/* After the commit the next-height queries are the committed ones. */
	ledger_info a, b;
	cr_assert_eq(ledger_get_info(F.l, &a), 0);
	cr_assert_eq(ledger_get_info_next(F.l, &b), 0);
	cr_assert_eq(memcmp(&a, &b, sizeof a), 0);
	ledger_account x, y;
	cr_assert_eq(ledger_get_account(F.l, F.citizen[0].pk, &x), 0);
	cr_assert_eq(ledger_get_account_next(F.l, F.citizen[0].pk, &y), 0);
	cr_assert_eq(x.nonce, 1);
	cr_assert_eq(y.nonce, 1);
	/* A block that is not next is refused as before (not read as next). */
	ledger_block *b2 = next_block(1, F.time_ms);
	b2->header.height = 3;
	cr_assert_eq(ledger_check_block(F.l, b2, NULL), LEDGER_E_HEIGHT);
	ledger_block_free(b2);
}

Test(ledger_executed, failed_block_publishes_nothing, .init = setup, .fini = teardown)
{
	memset(&S, 0, sizeof S);
	ledger_set_executed_hook(F.l, on_executed, &S);
	fx_transfer(&F, &F.citizen[0], F.citizen[2].pk, 1);
	fx_header(&F);
	F.b->header.state_root[0] ^= 1; /* invalid: refused before execution */
	cr_assert_neq(ledger_apply_block(F.l, F.b, NULL, 0, NULL), 0);
	cr_assert_eq(S.calls, 0);
	ledger_info a, b;
	cr_assert_eq(ledger_get_info(F.l, &a), 0);
	cr_assert_eq(ledger_get_info_next(F.l, &b), 0);
	cr_assert_eq(a.height, 0);
	cr_assert_eq(b.height, 0);
}

typedef struct seen_all {
	int calls;
	ledger_header next_hdr;
	uint64_t next_nonce[FX_CITIZENS + FX_NMEMBERS + 1];
} seen_all;
static seen_all SA;

static void on_exec_all(void *ctx, const ledger_info *after)
{
	(void)after;
	seen_all *s = ctx;
	s->calls++;
	cr_assert_eq(ledger_next_header(F.l, &s->next_hdr), 0);
	for (int i = 0; i < FX_CITIZENS; i++) {
		ledger_account a;
		cr_assert_eq(ledger_get_account_next(F.l, F.citizen[i].pk, &a), 0);
		s->next_nonce[i] = a.nonce;
	}
	for (int i = 1; i <= FX_NMEMBERS; i++) {
		ledger_account a;
		cr_assert_eq(ledger_get_account_next(F.l, F.member[i].pk, &a), 0);
		s->next_nonce[FX_CITIZENS + i] = a.nonce;
	}
}

static void same_after_commit(void)
{
	ledger_header h;
	cr_assert_eq(ledger_next_header(F.l, &h), 0);
	cr_assert_eq(memcmp(&h, &SA.next_hdr, sizeof h), 0, "header differs");
	for (int i = 0; i < FX_CITIZENS; i++)
		cr_assert_eq(fx_nonce(&F, F.citizen[i].pk), SA.next_nonce[i], "citizen %d", i);
	for (int i = 1; i <= FX_NMEMBERS; i++)
		cr_assert_eq(fx_nonce(&F, F.member[i].pk), SA.next_nonce[FX_CITIZENS + i], "member %d", i);
}

static ledger_tx *govern_tx(const fx_key *sender, uint8_t action)
{
	ledger_tx *tx = fx_tx(&F, LEDGER_TX_GOVERN, sender, 0);
	tx->u.govern.action = action;
	return tx;
}

/* What the hook reads through the executed block (the next header, every
 * key's next nonce) is what the committed state says once the commit
 * lands: after an empty block, after failing transfers and a change of
 * the validator set, and at the height the new set takes effect. */
Test(ledger_executed, next_height_reads_equal_the_committed_state_after, .init = setup, .fini = teardown)
{
	memset(&SA, 0, sizeof SA);
	ledger_set_executed_hook(F.l, on_exec_all, &SA);
	/* 1: empty block (no account touched) */
	fx_commit(&F, NULL);
	same_after_commit();
	/* 2: failing transfers (more than the balance) and a valset change */
	fx_transfer(&F, &F.citizen[5], F.citizen[6].pk, 1000000000000ull);
	fx_transfer(&F, &F.citizen[5], F.citizen[6].pk, 1000000000000ull);
	ledger_tx *tx = govern_tx(&F.member[FX_CITY], LEDGER_GOV_SET_ROLES);
	tx->u.govern.member_id = FX_BANK;
	tx->u.govern.roles = LEDGER_ROLE_BANK | LEDGER_ROLE_GOVERNOR | LEDGER_ROLE_VALIDATOR;
	cr_assert_eq(ledger_tx_approve(tx, F.member[FX_AUTH].sk), 0);
	fx_add(&F, tx, &F.member[FX_CITY]);
	ledger_results r;
	fx_commit(&F, &r);
	cr_assert_neq(r.r[0].code, LEDGER_R_OK);
	cr_assert_eq(r.r[2].code, LEDGER_R_OK);
	ledger_results_free(&r);
	same_after_commit();
	/* 3: the set moves */
	fx_commit(&F, NULL);
	same_after_commit();
	cr_assert_eq(SA.calls, 3);
}
