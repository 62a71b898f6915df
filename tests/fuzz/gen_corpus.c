/*
 * Writes the seed corpus of every fuzz target: small valid inputs made
 * with the project's own encoders (and a few near misses), so each fuzzer
 * starts inside the format instead of discovering msgpack or JSON from
 * nothing. Run by `make fuzz-corpus` into tests/fuzz/corpus/<target>/;
 * deterministic (fixed keys and times), so re-running it gives the same
 * files. Not a fuzz target itself: it has a main().
 *
 *   gen_corpus DIR
 */
#include <errno.h>
#include <ftw.h>
#include <sys/stat.h>

#include "ledger/ledger.h"
#include "node/config.h"
#include "node/net.h"
#include "tests/fuzz/fuzz.h"
#include "wallet/wallet.h"

static const char *root;

static void die(const char *what)
{
	fprintf(stderr, "gen_corpus: %s\n", what);
	exit(1);
}

static void put(const char *target, const char *name, const void *p, size_t len)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", root, target);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		die(path);
	snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL || (len > 0 && fwrite(p, 1, len, f) != len) || fclose(f) != 0)
		die(path);
}

static void put_wr(const char *target, const char *name, cm_wr *w)
{
	if (cm_wr_error(w))
		die("out of memory");
	put(target, name, cm_wr_data(w), cm_wr_len(w));
	cm_wr_reset(w);
}

static void put_str(const char *target, const char *name, const char *s)
{
	put(target, name, s, strlen(s));
}

/* flag byte, then bytes */
static void put_flagged(const char *target, const char *name, uint8_t flag, const void *p,
			size_t len)
{
	uint8_t *b = malloc(len + 1);
	if (b == NULL)
		die("out of memory");
	b[0] = flag;
	memcpy(b + 1, p, len);
	put(target, name, b, len + 1);
	free(b);
}

/* Key pair number i: Ed25519 from 32 bytes all equal to i. */
static void key(uint8_t i, ck_pubkey pk, ck_seckey sk)
{
	uint8_t seed[CK_SEED_BYTES];
	ck_seckey unused;
	memset(seed, i, sizeof seed);
	ck_keypair_from_seed(pk, sk ? sk : unused, seed);
}

static char *hex_of(const uint8_t *p, size_t n)
{
	char *h = malloc(2 * n + 1);
	if (h == NULL)
		die("out of memory");
	cm_hex_encode(h, p, n);
	return h;
}

/* ---- transactions and blocks -------------------------------------------- */

/* The key number of the last transaction's sender, to sign it with. */
static uint8_t sender_key;

static ledger_tx *tx_new(uint8_t kind, uint32_t ntrips, uint8_t sender, uint64_t nonce)
{
	ledger_tx *tx;
	sender_key = sender;
	if (ledger_tx_new(&tx, kind, ntrips) != 0)
		die("ledger_tx_new");
	strcpy(tx->chain_id, FUZZ_CHAIN);
	key(sender, tx->sender, NULL);
	tx->nonce = nonce;
	return tx;
}

static void sign(ledger_tx *tx, uint8_t who)
{
	ck_pubkey pk;
	ck_seckey sk;
	key(who, pk, sk);
	ledger_tx_sign(tx, sk);
}

static void approve(ledger_tx *tx, uint8_t who)
{
	ck_pubkey pk;
	ck_seckey sk;
	key(who, pk, sk);
	if (ledger_tx_approve(tx, sk) != 0)
		die("ledger_tx_approve");
}

static ledger_tx *make_govern(uint8_t a, bool approved)
{
	ledger_tx *tx = tx_new(LEDGER_TX_GOVERN, 0, 2, 5);
	ledger_govern *g = &tx->u.govern;
	g->action = a;
	switch (a) {
	case LEDGER_GOV_ADD_MEMBER:
		strcpy(g->name, "Riverside Bike Share");
		g->roles = LEDGER_ROLE_ISSUER | LEDGER_ROLE_VALIDATOR;
		g->modes = 1u << LEDGER_MODE_CYCLE;
		g->nkeys = 2;
		key(20, g->keys[0], NULL);
		key(21, g->keys[1], NULL);
		break;
	case LEDGER_GOV_SET_ROLES:
		g->member_id = 4;
		g->roles = LEDGER_ROLE_MERCHANT;
		break;
	case LEDGER_GOV_ADD_KEY:
	case LEDGER_GOV_REVOKE_KEY:
		g->member_id = 4;
		g->nkeys = 1;
		key(22, g->keys[0], NULL);
		break;
	case LEDGER_GOV_REMOVE_MEMBER:
		g->member_id = 9;
		break;
	case LEDGER_GOV_METHODOLOGY:
		ledger_methodology_default(&g->methodology);
		g->methodology.version = 2;
		g->methodology.effective_height = 100000;
		break;
	case LEDGER_GOV_CLAWBACK:
		key(10, g->account, NULL);
		g->amount_g = 1234;
		memset(g->trip_id, 0x5c, CK_HASH_BYTES);
		strcpy(g->reason, "step counter spoofing confirmed by audit");
		break;
	case LEDGER_GOV_RECOVER:
		key(10, g->account, NULL);
		key(12, g->new_account, NULL);
		strcpy(g->reason, "lost phone; identity verified at the service desk");
		break;
	default:
		die("govern action");
	}
	if (approved) {
		approve(tx, 3);
		approve(tx, 2);
	}
	return tx;
}

/* Every kind of transaction and every govern action, signed. */
static ledger_tx *make_tx(unsigned i)
{
	ledger_tx *tx;
	switch (i) {
	case 0: {
		static const char *refs[] = {"METRO-2026-000001", "METRO-2026-000002"};
		tx = tx_new(LEDGER_TX_ISSUE, 2, 1, 0);
		for (uint32_t k = 0; k < 2; k++) {
			ledger_trip *t = &tx->u.issue.trips[k];
			ledger_trip_id(t->trip_id, 3, refs[k], strlen(refs[k]));
			key((uint8_t)(10 + k), t->citizen, NULL);
			t->mode = k ? LEDGER_MODE_BUS : LEDGER_MODE_METRO;
			t->distance_m = k ? 850 : 12400;
			t->start_s = 1767252600 + 3600 * k;
			t->end_s = t->start_s + (k ? 420 : 1680);
		}
		break;
	}
	case 1:
		tx = tx_new(LEDGER_TX_TRANSFER, 0, 10, 7);
		key(11, tx->u.transfer.to, NULL);
		tx->u.transfer.amount_g = 1500;
		break;
	case 2:
		tx = tx_new(LEDGER_TX_REDEEM, 0, 10, 8);
		tx->u.redeem.offer_id = 42;
		tx->u.redeem.max_price_g = 2000;
		break;
	case 3:
		tx = tx_new(LEDGER_TX_REFUND, 0, 7, 1);
		memset(tx->u.refund.receipt_id, 0xab, CK_HASH_BYTES);
		break;
	case 4:
	case 5:
	case 6:
		tx = tx_new(LEDGER_TX_OFFER, 0, 7, 2);
		tx->u.offer.action = (uint8_t)(i - 3);
		tx->u.offer.offer_id = 42;
		if (tx->u.offer.action != LEDGER_OFFER_WITHDRAW) {
			tx->u.offer.price_g = 2000;
			tx->u.offer.stock = 500;
			strcpy(tx->u.offer.name, "Metro day pass");
			strcpy(tx->u.offer.description, "One day of unlimited metro rides");
		}
		break;
	default:
		tx = make_govern((uint8_t)(i - 6), true);
		break;
	}
	sign(tx, sender_key);
	return tx;
}

#define NTXS 15u

static void encode_tx(const ledger_tx *tx, cm_wr *w)
{
	ledger_tx_encode(tx, w);
	if (cm_wr_error(w))
		die("out of memory");
}

static void gen_tx(void)
{
	static const char *const names[NTXS] = {
		"issue", "transfer", "redeem", "refund", "offer-publish", "offer-update",
		"offer-withdraw", "govern-add-member", "govern-set-roles", "govern-add-key",
		"govern-revoke-key", "govern-remove-member", "govern-methodology",
		"govern-clawback", "govern-recover"};
	cm_wr w;
	cm_wr_init(&w);
	for (unsigned i = 0; i < NTXS; i++) {
		ledger_tx *tx = make_tx(i);
		encode_tx(tx, &w);
		put_wr("tx", names[i], &w);
		ledger_tx_free(tx);
	}
	cm_wr_free(&w);
}

static ledger_block *make_block(unsigned ntxs)
{
	ledger_block *b = calloc(1, sizeof *b);
	if (b == NULL)
		die("out of memory");
	b->ntxs = ntxs;
	b->txs = calloc(ntxs ? ntxs : 1, sizeof *b->txs);
	b->tx_lens = calloc(ntxs ? ntxs : 1, sizeof *b->tx_lens);
	if (b->txs == NULL || b->tx_lens == NULL)
		die("out of memory");
	cm_wr w;
	cm_wr_init(&w);
	for (unsigned i = 0; i < ntxs; i++) {
		ledger_tx *tx = make_tx(i % NTXS);
		encode_tx(tx, &w);
		b->txs[i] = malloc(cm_wr_len(&w));
		if (b->txs[i] == NULL)
			die("out of memory");
		memcpy(b->txs[i], cm_wr_data(&w), cm_wr_len(&w));
		b->tx_lens[i] = (uint32_t)cm_wr_len(&w);
		cm_wr_reset(&w);
		ledger_tx_free(tx);
	}
	cm_wr_free(&w);
	ledger_header *h = &b->header;
	h->version = LEDGER_HEADER_VERSION;
	strcpy(h->chain_id, FUZZ_CHAIN);
	h->height = 5;
	h->time_ms = 1767254400123ull;
	memset(h->parent_hash, 0x11, CK_HASH_BYTES);
	memset(h->state_root, 0x33, CK_HASH_BYTES);
	memset(h->results_root, 0x44, CK_HASH_BYTES);
	memset(h->valset_hash, 0x55, CK_HASH_BYTES);
	memset(h->next_valset_hash, 0x66, CK_HASH_BYTES);
	key(5, h->proposer, NULL);
	ledger_block_txs_root(b, h->txs_root);
	return b;
}

static void gen_block(void)
{
	cm_wr w;
	cm_wr_init(&w);
	unsigned sizes[] = {0, 1, 3, NTXS};
	const char *names[] = {"block-empty", "block-1", "block-3", "block-all-kinds"};
	for (unsigned i = 0; i < 4; i++) {
		ledger_block *b = make_block(sizes[i]);
		ledger_block_encode(b, &w);
		put_wr("block", names[i], &w);
		ledger_block_free(b);
	}
	static uint8_t codes[3] = {LEDGER_R_OK, LEDGER_R_OVERLAP, LEDGER_R_CAP};
	ledger_tx_result r[3] = {{LEDGER_R_PARTIAL, 744, 3, codes},
				 {LEDGER_R_INSUFFICIENT, 0, 0, NULL},
				 {LEDGER_R_OK, 0, 0, NULL}};
	ledger_results res = {3, r};
	ledger_results_encode(&res, &w);
	put_wr("block", "results-3", &w);
	res.ntxs = 0;
	ledger_results_encode(&res, &w);
	put_wr("block", "results-empty", &w);
	cm_wr_free(&w);
}

/* ---- consensus ------------------------------------------------------------ */

static void block_id(const uint8_t *b, size_t len, cons_id id)
{
	fuzz_block_id(NULL, b, len, id);
}

/* A certificate of height 3, round 1 for id, signed (test crypto) by the
 * validators of vs named in mask. */
static void make_cert(cons_cert *c, const cons_valset *vs, const cons_id id, uint64_t mask)
{
	memset(c, 0, sizeof *c);
	c->height = 3;
	c->round = 1;
	memcpy(c->id, id, CONS_ID_BYTES);
	uint8_t sb[CONS_SIGN_BYTES_MAX];
	size_t n = cons_vote_sign_bytes(sb, c->height, c->round, true, id);
	for (uint32_t i = 0; i < vs->n; i++) {
		if (i < 64 && !(mask & (1ull << i)))
			continue;
		c->idx[c->n] = i;
		fuzz_sign_raw(vs->keys[i], CK_DOM_PRECOMMIT, FUZZ_CHAIN, sb, n, c->sig[c->n]);
		c->n++;
	}
}

static void gen_cert(void)
{
	cons_valset small, full;
	fuzz_valset(&small, 4);
	fuzz_valset(&full, LIM_VALIDATORS_MAX);
	cons_id id;
	block_id((const uint8_t *)"block", 5, id);
	cons_cert c;
	cm_wr w;
	cm_wr_init(&w);
	make_cert(&c, &small, id, 0x7);
	cons_cert_encode(&c, &w);
	put_wr("cert", "cert-3-of-4", &w);
	make_cert(&c, &small, id, 0xf);
	cons_cert_encode(&c, &w);
	put_wr("cert", "cert-4-of-4", &w);
	make_cert(&c, &small, id, 0x3);
	cons_cert_encode(&c, &w);
	put_wr("cert", "cert-2-of-4", &w);
	make_cert(&c, &full, id, ~0ull);
	cons_cert_encode(&c, &w);
	put_wr("cert", "cert-128", &w);

	/* Evidence: a validator's two prevotes, and two proposals. */
	cons_evidence e;
	memset(&e, 0, sizeof e);
	e.step = CONS_STEP_PREVOTE;
	e.height = 3;
	e.round = 2;
	e.validator = 1;
	e.a.pol_round = e.b.pol_round = -1;
	e.a.has_id = false;
	e.b.has_id = true;
	memcpy(e.b.id, id, CONS_ID_BYTES);
	uint8_t sa[CONS_SIGN_BYTES_MAX], sb[CONS_SIGN_BYTES_MAX];
	size_t la = cons_vote_sign_bytes(sa, 3, 2, false, e.a.id);
	size_t lb = cons_vote_sign_bytes(sb, 3, 2, true, e.b.id);
	fuzz_sign_raw(small.keys[1], CK_DOM_PREVOTE, FUZZ_CHAIN, sa, la, e.a.sig);
	fuzz_sign_raw(small.keys[1], CK_DOM_PREVOTE, FUZZ_CHAIN, sb, lb, e.b.sig);
	/* a's sign bytes must sort first */
	if (la > lb || memcmp(sa, sb, la < lb ? la : lb) > 0) {
		cons_evidence_side t = e.a;
		e.a = e.b;
		e.b = t;
	}
	cons_evidence_encode(&e, &w);
	put_wr("cert", "evidence-prevote", &w);

	memset(&e, 0, sizeof e);
	e.step = CONS_STEP_PROPOSE;
	e.height = 3;
	e.round = 2;
	e.validator = 2;
	e.a.pol_round = -1;
	e.b.pol_round = 1;
	e.a.has_id = e.b.has_id = true;
	memcpy(e.a.id, id, CONS_ID_BYTES);
	memcpy(e.b.id, id, CONS_ID_BYTES);
	la = cons_proposal_sign_bytes(sa, 3, 2, -1, id);
	lb = cons_proposal_sign_bytes(sb, 3, 2, 1, id);
	fuzz_sign_raw(small.keys[2], CK_DOM_PROPOSAL, FUZZ_CHAIN, sa, la, e.a.sig);
	fuzz_sign_raw(small.keys[2], CK_DOM_PROPOSAL, FUZZ_CHAIN, sb, lb, e.b.sig);
	if (memcmp(sa, sb, la < lb ? la : lb) > 0 || (memcmp(sa, sb, la < lb ? la : lb) == 0 && la > lb)) {
		cons_evidence_side t = e.a;
		e.a = e.b;
		e.b = t;
	}
	cons_evidence_encode(&e, &w);
	put_wr("cert", "evidence-proposal", &w);
	cm_wr_free(&w);
}

static void gen_cons_msg(void)
{
	cons_valset vs;
	fuzz_valset(&vs, 4);
	static const uint8_t block[] = "a block of height 3";
	cons_id id;
	block_id(block, sizeof block, id);
	cm_wr w;
	cm_wr_init(&w);
	uint8_t sb[CONS_SIGN_BYTES_MAX];
	size_t n;

	cons_msg m = {.kind = CONS_MSG_PROPOSAL};
	m.u.proposal.height = 3;
	m.u.proposal.round = 2;
	m.u.proposal.pol_round = 1;
	memcpy(m.u.proposal.id, id, CONS_ID_BYTES);
	m.u.proposal.proposer = 1;
	n = cons_proposal_sign_bytes(sb, 3, 2, 1, id);
	fuzz_sign_raw(vs.keys[1], CK_DOM_PROPOSAL, FUZZ_CHAIN, sb, n, m.u.proposal.sig);
	m.u.proposal.block = block;
	m.u.proposal.block_len = sizeof block;
	cons_msg_encode(&m, &w);
	put_wr("cons_msg", "proposal", &w);

	for (int k = 0; k < 3; k++) {
		cons_msg v = {.kind = k == 2 ? CONS_MSG_PRECOMMIT : CONS_MSG_PREVOTE};
		v.u.vote.step = k == 2 ? CONS_STEP_PRECOMMIT : CONS_STEP_PREVOTE;
		v.u.vote.height = 3;
		v.u.vote.round = 2;
		v.u.vote.has_id = k != 1;
		if (v.u.vote.has_id)
			memcpy(v.u.vote.id, id, CONS_ID_BYTES);
		v.u.vote.validator = 2;
		n = cons_vote_sign_bytes(sb, 3, 2, v.u.vote.has_id, v.u.vote.id);
		fuzz_sign_raw(vs.keys[2], cons_step_domain((enum cons_step)v.u.vote.step), FUZZ_CHAIN,
			      sb, n, v.u.vote.sig);
		cons_msg_encode(&v, &w);
		put_wr("cons_msg", k == 0 ? "prevote" : k == 1 ? "prevote-nil" : "precommit", &w);
	}

	cons_msg d = {.kind = CONS_MSG_DECIDED};
	make_cert(&d.u.decided.cert, &vs, id, 0x7);
	d.u.decided.block = block;
	d.u.decided.block_len = sizeof block;
	cons_msg_encode(&d, &w);
	put_wr("cons_msg", "decided", &w);

	cons_msg st = {.kind = CONS_MSG_STATUS};
	st.u.status.height = 3;
	st.u.status.round = 2;
	cons_msg_encode(&st, &w);
	put_wr("cons_msg", "status", &w);
	cm_wr_free(&w);
}

static void make_safety(cons_safety *s, bool locked)
{
	memset(s, 0, sizeof *s);
	s->height = 1;
	s->round = 1;
	s->step = CONS_STEP_PRECOMMIT;
	s->locked_round = s->valid_round = -1;
	for (int i = 0; i < 3; i++)
		s->last[i].pol_round = -1;
	cons_id id;
	block_id((const uint8_t *)"locked", 6, id);
	if (locked) {
		s->locked_round = s->valid_round = 1;
		memcpy(s->locked_id, id, CONS_ID_BYTES);
		memcpy(s->valid_id, id, CONS_ID_BYTES);
	}
	ck_pubkey me;
	memset(me, 1, sizeof me);
	for (int st = CONS_STEP_PREVOTE; st <= CONS_STEP_PRECOMMIT; st++) {
		cons_signed *l = &s->last[st];
		l->height = 1;
		l->round = 1;
		l->has_id = locked;
		if (locked)
			memcpy(l->id, id, CONS_ID_BYTES);
		uint8_t sb[CONS_SIGN_BYTES_MAX];
		size_t n = cons_vote_sign_bytes(sb, 1, 1, l->has_id, l->id);
		fuzz_sign_raw(me, cons_step_domain((enum cons_step)st), FUZZ_CHAIN, sb, n, l->sig);
	}
	if (locked) {
		cons_signed *l = &s->last[CONS_STEP_PROPOSE];
		l->height = 1;
		l->round = 0;
		l->has_id = true;
		memcpy(l->id, id, CONS_ID_BYTES);
		uint8_t sb[CONS_SIGN_BYTES_MAX];
		size_t n = cons_proposal_sign_bytes(sb, 1, 0, -1, id);
		fuzz_sign_raw(me, CK_DOM_PROPOSAL, FUZZ_CHAIN, sb, n, l->sig);
	}
}

static void gen_safety(void)
{
	cm_wr w;
	cm_wr_init(&w);
	cons_safety s;
	memset(&s, 0, sizeof s);
	s.height = 1;
	s.locked_round = s.valid_round = -1;
	for (int i = 0; i < 3; i++)
		s.last[i].pol_round = -1;
	cons_safety_encode(&s, &w);
	put_wr("safety", "fresh", &w);
	make_safety(&s, false);
	cons_safety_encode(&s, &w);
	put_wr("safety", "voted-nil", &w);
	make_safety(&s, true);
	cons_safety_encode(&s, &w);
	put_wr("safety", "locked", &w);
	cm_wr_free(&w);
}

/* Scripts for fuzz_cons_core (its header comment and run_op() say the
 * format). */
static void gen_cons_core(void)
{
	/* 4 validators, we are 0; height 1's proposer (1) proposes, all
	 * prevote and precommit its block: commit. Then height 2. */
	static const uint8_t follow[] = {
		0x03,
		4, 0, 0, 0, 7, 'b', 'l', 'o', 'c', 'k', '-', '1', '!', 1,
		2, 0, 0,
		5, 0, 0, 1, 0, 1, 5, 0, 0, 2, 0, 2, 5, 0, 0, 3, 0, 3,
		5, 1, 0, 1, 0, 1, 5, 1, 0, 2, 0, 2, 5, 1, 0, 3, 0, 3,
		4, 0, 0, 0, 7, 'b', 'l', 'o', 'c', 'k', '-', '2', '!', 2,
		2, 0, 0,
		5, 0, 0, 1, 1, 1, 5, 0, 0, 2, 1, 2, 5, 0, 0, 3, 1, 3,
		5, 1, 0, 1, 1, 1, 5, 1, 0, 2, 1, 2, 5, 1, 0, 3, 1, 3,
	};
	put("cons_core", "follow-two-heights", follow, sizeof follow);
	/* We are 1, the proposer of height 1: build, then the others vote. */
	static const uint8_t propose[] = {
		0x0b,
		3, 7, 'm', 'y', '-', 'b', 'l', 'o', 'c', 'k',
		5, 0, 0, 0, 0, 0, 5, 0, 0, 2, 0, 2, 5, 0, 0, 3, 0, 3,
		5, 1, 0, 0, 0, 0, 5, 1, 0, 2, 0, 2, 5, 1, 0, 3, 0, 3,
	};
	put("cons_core", "propose", propose, sizeof propose);
	/* Timeouts only: rounds go by with nil votes. */
	static const uint8_t timeouts[] = {0x03, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0,
					   1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0};
	put("cons_core", "timeouts", timeouts, sizeof timeouts);
	/* Catch-up: a proposal we learn a block from, then its certificate. */
	static const uint8_t decided[] = {
		0x03,
		4, 0, 0, 0, 7, 'b', 'l', 'o', 'c', 'k', '-', '1', '!', 1,
		7, 0, 0, 0, 0x0e, 1,
		8, 6, 0, 1,
	};
	put("cons_core", "decided", decided, sizeof decided);
	/* Equivocation: validator 2 prevotes two ways, a second proposal. */
	static const uint8_t equivocate[] = {
		0x03,
		4, 0, 0, 0, 3, 'a', 'a', 'a', 'a', 1,
		4, 0, 0, 0, 3, 'b', 'b', 'b', 'b', 1,
		5, 0, 0, 2, 0, 2, 5, 0, 0, 2, 1, 2, 5, 0, 0, 2, 255, 2,
		8, 0, 0, 3,
	};
	put("cons_core", "equivocate", equivocate, sizeof equivocate);
	/* A replica (not in the set) follows a height. */
	static const uint8_t replica[] = {
		0x3b,
		4, 0, 0, 0, 7, 'b', 'l', 'o', 'c', 'k', '-', '1', '!', 1,
		2, 0, 0,
		5, 1, 0, 0, 0, 0, 5, 1, 0, 1, 0, 1, 5, 1, 0, 2, 0, 2,
	};
	put("cons_core", "replica", replica, sizeof replica);

	/* Restart from a locked safety state, then time out. */
	cons_safety s;
	make_safety(&s, true);
	cm_wr w;
	cm_wr_init(&w);
	cons_safety_encode(&s, &w);
	size_t n = cm_wr_len(&w);
	uint8_t buf[512];
	if (n > 400)
		die("safety state too long for a script");
	buf[0] = 0x83;
	buf[1] = (uint8_t)n;
	buf[2] = (uint8_t)(n >> 8);
	memcpy(buf + 3, cm_wr_data(&w), n);
	size_t k = 3 + n;
	/* validValue: 6 bytes, proof of lock by validators 1, 2, 3 */
	buf[k++] = 5;
	memcpy(buf + k, "locked", 6);
	k += 6;
	buf[k++] = 0x0e;
	for (int i = 0; i < 8; i++) {
		buf[k++] = 1;
		buf[k++] = 0;
	}
	put("cons_core", "restart-locked", buf, k);
	cm_wr_free(&w);
}

/* ---- proofs: real ones, from a small ledger ------------------------------ */

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void gen_proof(void)
{
	ledger_genesis *g = calloc(1, sizeof *g);
	if (g == NULL)
		die("out of memory");
	strcpy(g->chain_id, FUZZ_CHAIN);
	g->genesis_time_ms = 1767225600000ull; /* 2026-01-01T00:00:00Z */
	g->governor_threshold = 1;
	g->nmembers = 2;
	g->members = calloc(2, sizeof *g->members);
	if (g->members == NULL)
		die("out of memory");
	g->members[0] = (ledger_member){.id = 1, .name = "city",
					.roles = LEDGER_ROLE_GOVERNOR | LEDGER_ROLE_VALIDATOR,
					.nkeys = 1};
	key(1, g->members[0].keys[0], NULL);
	g->members[1] = (ledger_member){.id = 2, .name = "metro", .roles = LEDGER_ROLE_ISSUER,
					.modes = 1u << LEDGER_MODE_METRO, .nkeys = 1};
	key(2, g->members[1].keys[0], NULL);
	ledger_methodology_default(&g->methodology);
	ledger_genesis_hash(g->hash, g);

	char dir[] = "/tmp/carbon-gen-corpus-XXXXXX";
	if (mkdtemp(dir) == NULL)
		die("mkdtemp");
	ledger *l;
	ledger_options opt = {.map_bytes = (size_t)64 << 20, .nosync = true};
	if (ledger_open(&l, dir, g, &opt) != 0)
		die("ledger_open");

	/* One block: the metro credits a trip to each of 24 citizens. */
	enum { NCIT = 24 };
	ledger_block *b = calloc(1, sizeof *b);
	b->ntxs = 1;
	b->txs = calloc(1, sizeof *b->txs);
	b->tx_lens = calloc(1, sizeof *b->tx_lens);
	if (b == NULL || b->txs == NULL || b->tx_lens == NULL)
		die("out of memory");
	if (ledger_next_header(l, &b->header) != 0)
		die("ledger_next_header");
	b->header.time_ms = g->genesis_time_ms + 10000;
	key(1, b->header.proposer, NULL);
	uint64_t now_s = b->header.time_ms / 1000;
	ledger_tx *tx = tx_new(LEDGER_TX_ISSUE, NCIT, 2, 0);
	for (uint32_t i = 0; i < NCIT; i++) {
		ledger_trip *t = &tx->u.issue.trips[i];
		char ref[32];
		snprintf(ref, sizeof ref, "M-%u", i);
		ledger_trip_id(t->trip_id, 2, ref, strlen(ref));
		key((uint8_t)(100 + i), t->citizen, NULL);
		t->mode = LEDGER_MODE_METRO;
		t->distance_m = 5000 + 100 * i;
		t->end_s = now_s - 600;
		t->start_s = t->end_s - 1200;
	}
	sign(tx, 2);
	cm_wr w;
	cm_wr_init(&w);
	encode_tx(tx, &w);
	ledger_tx_free(tx);
	b->txs[0] = malloc(cm_wr_len(&w));
	memcpy(b->txs[0], cm_wr_data(&w), cm_wr_len(&w));
	b->tx_lens[0] = (uint32_t)cm_wr_len(&w);
	cm_wr_reset(&w);
	ledger_block_txs_root(b, b->header.txs_root);
	int rc = ledger_check_block(l, b, NULL);
	if (rc != 0 || ledger_apply_block(l, b, NULL, 0, NULL) != 0) {
		fprintf(stderr, "block: %s\n", ledger_strerror(rc));
		die("cannot apply the proof block");
	}
	ledger_block_free(b);

	const struct { uint8_t key; const char *name; } who[] = {
		{2, "issuer"}, {100, "citizen-0"}, {107, "citizen-7"}, {123, "citizen-23"}};
	for (size_t i = 0; i < sizeof who / sizeof who[0]; i++) {
		ck_pubkey pk;
		ledger_account_proof p;
		key(who[i].key, pk, NULL);
		if (ledger_prove_account(l, pk, &p) != 0 || ledger_verify_account_proof(&p) != 0)
			die("cannot prove an account");
		ledger_account_proof_encode(&p, &w);
		put_wr("proof", who[i].name, &w);
	}
	cm_wr_free(&w);
	ledger_close(l);
	nftw(dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);

	/* The same genesis is a seed for the genesis target. */
	char *json;
	if (ledger_genesis_to_json(g, &json) != 0)
		die("ledger_genesis_to_json");
	put_str("genesis", "two-members.json", json);
	free(json);
	ledger_genesis_free(g);
}

/* ---- files and text ------------------------------------------------------- */

static void gen_genesis(const char *example)
{
	FILE *f = fopen(example, "rb");
	if (f == NULL)
		die(example);
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	put("genesis", "example.json", buf, n);
}

static void gen_config(void)
{
	node_config c;
	node_config_defaults(&c);
	char dir[] = "/tmp/carbon-gen-config-XXXXXX", path[64];
	if (mkdtemp(dir) == NULL)
		die("mkdtemp");
	snprintf(path, sizeof path, "%s/config.json", dir);
	for (int k = 0; k < 2; k++) {
		if (k == 1) {
			c.npeers = 3;
			for (uint32_t i = 0; i < 3; i++) {
				key((uint8_t)(1 + i), c.peers[i].key, NULL);
				snprintf(c.peers[i].addr, sizeof c.peers[i].addr, "10.0.0.%u:26600", i + 1);
			}
			c.peers[2].addr[0] = '\0';
			c.validator = false;
			c.log_level = 0;
		}
		unlink(path);
		if (node_config_save(path, &c) != 0)
			die("node_config_save");
		FILE *f = fopen(path, "rb");
		char buf[16384];
		size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
		if (f)
			fclose(f);
		put("config", k ? "peers.json" : "defaults.json", buf, n);
	}
	unlink(path);
	rmdir(dir);
	put_str("config", "empty-object.json", "{}");
}

static void gen_keystore(void)
{
	static const char hex[] =
		"434c4b530101000000000000000200000000040000004c22c050de295dfc2c0cddd6"
		"86cd64102c3c8650d74cc4556cc9162f3b49798a1e4d9780eb57374e03a107bff3ce"
		"10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b85b84d115925100b0"
		"ec3087b9cd28df2c9bbf55c59483119430b966c76d8f036865dea62334bb70b2f100"
		"84c30b73082fd23635bfeff70733c2733ab7e4ad39d05df0f1b10181670f55aa0536"
		"da12f330";
	uint8_t file[CK_KEYSTORE_BYTES];
	if (cm_hex_decode(file, sizeof file, hex, strlen(hex)) != 0)
		die("keystore vector");
	put_flagged("keystore", "vector-right-pass", 0x02, file, sizeof file);
	put_flagged("keystore", "vector-wrong-pass", 0x00, file, sizeof file);
	file[4] = 2; /* another version; checksum recomputed by flag bit 0 */
	put_flagged("keystore", "version-2-fixed-sum", 0x01, file, sizeof file);
	file[4] = 1;
	file[13] = 9; /* opslimit 9: out of range */
	put_flagged("keystore", "ops-9-fixed-sum", 0x03, file, sizeof file);
	file[13] = 2;
	put_flagged("keystore", "truncated", 0x01, file, 100);
}

static void gen_http(void)
{
	ck_pubkey pk;
	char addr[CK_ADDRESS_STRLEN + 1], t[256];
	key(10, pk, NULL);
	ck_address_encode(addr, pk);
	const char *h64 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
	const char *targets[][2] = {
		{"tx-post", "/v1/tx?wait_ms=5000"},
		{"txs-post", "/v1/txs"},
		{"tx", "/v1/tx/%H"},
		{"account", "/v1/account/%A"},
		{"history", "/v1/account/%A/history?cursor=17&limit=10"},
		{"proof", "/v1/account/%A/proof"},
		{"block", "/v1/block/12"},
		{"block-latest", "/v1/block/latest"},
		{"header", "/v1/header/12"},
		{"header-latest", "/v1/header/latest"},
		{"valset", "/v1/valset/3"},
		{"trip", "/v1/trip/%H"},
		{"operator-trips", "/v1/operator/%A/trips?day=2026-03-01&limit=5"},
		{"operator-trips-num", "/v1/operator/%A/trips?day=-3&cursor=9"},
		{"offers", "/v1/offers?after=3&limit=2"},
		{"receipts", "/v1/receipts?merchant=%A&cursor=1&limit=1000"},
		{"supply", "/v1/supply"},
		{"evidence", "/v1/evidence"},
		{"status", "/v1/status"},
		{"metrics", "/metrics"},
		{"percent", "/v1/account/%A/history?limit=1%30"},
	};
	for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
		const char *s = targets[i][1];
		size_t k = 0;
		for (; *s && k + 70 < sizeof t; s++) {
			if (s[0] == '%' && s[1] == 'H') {
				k += (size_t)sprintf(t + k, "%s", h64);
				s++;
			} else if (s[0] == '%' && s[1] == 'A') {
				k += (size_t)sprintf(t + k, "%s", addr);
				s++;
			} else {
				t[k++] = *s;
			}
		}
		put("http_path", targets[i][0], t, k);
	}

	/* Bodies: byte 0 = content type index << 1 | batch (fuzz_http_body.c). */
	ledger_tx *tx = make_tx(1);
	cm_wr w;
	cm_wr_init(&w);
	encode_tx(tx, &w);
	ledger_tx_free(tx);
	char *hex = hex_of(cm_wr_data(&w), cm_wr_len(&w));
	put_flagged("http_body", "raw", 1 << 1, cm_wr_data(&w), cm_wr_len(&w));
	char body[4096];
	snprintf(body, sizeof body, "  %s\r\n", hex);
	put_flagged("http_body", "hex", 0, body, strlen(body));
	put_flagged("http_body", "hex-text-plain", 6 << 1, body, strlen(body));
	snprintf(body, sizeof body, "{\"tx\": \"%s\"}", hex);
	put_flagged("http_body", "json", 2 << 1, body, strlen(body));
	snprintf(body, sizeof body, "{\"txs\": [\"%s\", \"abc\", \"\", 7, \"%s\"]}", hex, hex);
	put_flagged("http_body", "json-batch", 2 << 1 | 1, body, strlen(body));
	cm_wr batch;
	cm_wr_init(&batch);
	cm_wr_array(&batch, 3);
	cm_wr_bin(&batch, cm_wr_data(&w), cm_wr_len(&w));
	cm_wr_bin(&batch, "", 0);
	cm_wr_bin(&batch, cm_wr_data(&w), cm_wr_len(&w));
	put_flagged("http_body", "msgpack-batch", 3 << 1 | 1, cm_wr_data(&batch),
		    cm_wr_len(&batch));
	put_flagged("http_body", "unsupported", 12 << 1, "hello", 5);
	cm_wr_free(&batch);
	cm_wr_free(&w);
	free(hex);
}

/* ---- transport ------------------------------------------------------------ */

static void gen_net(void)
{
	node_net_hello h = {.version = NODE_NET_VERSION};
	strcpy(h.chain_id, "carbon-fuzz");
	memset(h.static_pk, 2, sizeof h.static_pk);
	memset(h.eph_pk, 0x55, sizeof h.eph_pk);
	cm_wr w;
	cm_wr_init(&w);
	node_net_hello_encode(&w, &h);
	size_t n = cm_wr_len(&w);
	uint8_t buf[512];
	/* The hello payload alone (the decoders see the whole input). */
	put("handshake", "hello-payload", cm_wr_data(&w), n);
	/* Byte 0 even: the input is the stream, a framed hello first. */
	buf[0] = 0;
	buf[1] = buf[2] = buf[3] = 0;
	buf[4] = (uint8_t)n;
	memcpy(buf + 5, cm_wr_data(&w), n);
	put("handshake", "framed-hello", buf, 5 + n);
	/* Byte 0 odd: a valid hello goes first; then an auth frame. */
	buf[0] = 1;
	buf[1] = buf[2] = buf[3] = 0;
	buf[4] = 66;
	buf[5] = 0xc4;
	buf[6] = 64;
	memset(buf + 7, 0x77, 64);
	put("handshake", "after-hello-auth", buf, 7 + 64);
	cm_wr_free(&w);

	/* fuzz_frame: [op][len][bytes]; even op sends, odd op injects. */
	static const uint8_t send[] = {0, 5, 'h', 'e', 'l', 'l', 'o', 2, 3, 'a', 'b', 'c',
				       4, 1, 'x'};
	put("frame", "send-three", send, sizeof send);
	static const uint8_t inject[] = {0, 2, 'o', 'k', 1, 4, 0, 0, 0, 9, 0, 3, 'l', 'o', 't'};
	put("frame", "inject", inject, sizeof inject);
}

/* ---- wallet --------------------------------------------------------------- */

static void gen_wallet(void)
{
	ck_pubkey pk;
	char a[CK_ADDRESS_STRLEN + 1], b[CK_ADDRESS_STRLEN + 1], csv[2048];
	key(10, pk, NULL);
	ck_address_encode(a, pk);
	key(11, pk, NULL);
	ck_address_encode(b, pk);
	snprintf(csv, sizeof csv,
		 "ref,citizen,mode,distance_m,start,end\n"
		 "M-1,%s,metro,12400,2026-03-01T08:15:00Z,2026-03-01T08:43:00Z\n"
		 "M-2,%s,bus,850,1772353200,1772353620\r\n"
		 "\"M,3\",%s,walk,1200,2026-03-01 09:00:00+00:00,2026-03-01T09:20:00Z\n"
		 "M-4,%s,teleport,1,2026-03-01T09:00:00Z,2026-03-01T09:20:00Z\n",
		 a, b, a, b);
	put_str("trips", "four-rows.csv", csv);
	snprintf(csv, sizeof csv,
		 "\xef\xbb\xbf" "END,Start,distance_m,MODE,citizen,ref\n"
		 "2026-03-01T08:43:00Z,2026-03-01T08:15:00Z,3000,cycle,%s,\"quoted \"\"ref\"\"\"\n",
		 a);
	put_str("trips", "bom-reordered.csv", csv);
	snprintf(csv, sizeof csv, "M-9,%s,rail,20000,2026-03-01T08:00:00Z,2026-03-01T08:20:00Z", a);
	put_str("trips", "one-trip.csv", csv);

	char dir[] = "/tmp/carbon-gen-wallet-XXXXXX", path[64], msg[256];
	if (mkdtemp(dir) == NULL)
		die("mkdtemp");
	snprintf(path, sizeof path, "%s/p.json", dir);
	const uint8_t actions[] = {LEDGER_GOV_ADD_MEMBER, LEDGER_GOV_METHODOLOGY,
				   LEDGER_GOV_CLAWBACK, LEDGER_GOV_RECOVER, LEDGER_GOV_SET_ROLES};
	for (size_t i = 0; i < sizeof actions; i++) {
		ledger_tx *tx = make_govern(actions[i], true);
		if (wallet_proposal_write(path, tx, 2, true, msg, sizeof msg) != 0) {
			fprintf(stderr, "%s\n", msg);
			die("wallet_proposal_write");
		}
		ledger_tx_free(tx);
		FILE *f = fopen(path, "rb");
		char buf[16384];
		size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
		if (f)
			fclose(f);
		char name[32];
		snprintf(name, sizeof name, "proposal-%u.json", actions[i]);
		put("proposal", name, buf, n);
	}
	unlink(path);
	rmdir(dir);

	/* A methodology file in the genesis schema: the example's. */
	ledger_genesis *g;
	char err[256];
	FILE *f = fopen("tests/vectors/genesis_example.json", "rb");
	static char buf[1 << 20];
	size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
	if (f)
		fclose(f);
	if (ledger_genesis_parse(buf, n, &g, err, sizeof err) != 0)
		die(err);
	json_error_t je;
	json_t *j = json_loadb(buf, n, 0, &je);
	json_t *m = j ? json_object_get(j, "methodology") : NULL;
	char *text = m ? json_dumps(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	if (text == NULL)
		die("no methodology in the example genesis");
	put_str("proposal", "methodology.json", text);
	free(text);
	json_decref(j);
	ledger_genesis_free(g);
}

/* ---- ledger rules (fuzz_ledger_apply: its header says the format) ------ */

struct script {
	uint8_t b[65536];
	size_t n;
	uint64_t time_ms;
};

static void script_block(struct script *sc, uint8_t step, uint8_t ntxs)
{
	sc->b[sc->n++] = step;
	sc->b[sc->n++] = ntxs;
	sc->time_ms += step < 200 ? (uint64_t)(step + 1) * 1000 : (uint64_t)(step - 199) * 86400000;
}

/* Appends tx (unsigned: the target takes signatures as checked). */
static void script_tx(struct script *sc, ledger_tx *tx, ck_hash hash)
{
	cm_wr w;
	cm_wr_init(&w);
	encode_tx(tx, &w);
	size_t n = cm_wr_len(&w);
	if (sc->n + 2 + n > sizeof sc->b)
		die("ledger script too long");
	sc->b[sc->n++] = (uint8_t)n;
	sc->b[sc->n++] = (uint8_t)(n >> 8);
	memcpy(sc->b + sc->n, cm_wr_data(&w), n);
	sc->n += n;
	if (hash != NULL)
		ledger_tx_hash(hash, cm_wr_data(&w), n);
	cm_wr_free(&w);
	ledger_tx_free(tx);
}

static ledger_tx *ltx(uint8_t kind, uint32_t ntrips, uint8_t sender, uint64_t nonce)
{
	ledger_tx *tx;
	if (ledger_tx_new(&tx, kind, ntrips) != 0)
		die("ledger_tx_new");
	strcpy(tx->chain_id, FUZZ_CHAIN);
	memset(tx->sender, sender, CK_PUBKEY_BYTES);
	tx->nonce = nonce;
	return tx;
}

static void trip(ledger_tx *tx, uint32_t i, uint32_t issuer, const char *ref, uint8_t citizen,
		 uint8_t mode, uint32_t dist_m, uint64_t end_s, uint64_t dur_s)
{
	ledger_trip *t = &tx->u.issue.trips[i];
	ledger_trip_id(t->trip_id, issuer, ref, strlen(ref));
	memset(t->citizen, citizen, CK_PUBKEY_BYTES);
	t->mode = mode;
	t->distance_m = dist_m;
	t->end_s = end_s;
	t->start_s = end_s - dur_s;
}

static void approvals(ledger_tx *tx)
{
	tx->napprovals = 2;
	memset(tx->approvals[0].key, 1, CK_PUBKEY_BYTES);
	memset(tx->approvals[1].key, 5, CK_PUBKEY_BYTES);
}

static void gen_ledger_apply(void)
{
	static struct script sc;
	sc.n = 0;
	sc.time_ms = 1767225600000ull;
	ledger_tx *tx;
	ck_hash redeem_hash;

	/* Block 1: two issuers credit trips, the store publishes an offer. */
	script_block(&sc, 9, 3);
	uint64_t t = sc.time_ms / 1000;
	tx = ltx(LEDGER_TX_ISSUE, 4, 2, 0);
	trip(tx, 0, 2, "M-1", 0x64, LEDGER_MODE_METRO, 12000, t - 60, 1500);
	trip(tx, 1, 2, "M-2", 0x65, LEDGER_MODE_METRO, 9000, t - 60, 1200);
	trip(tx, 2, 2, "M-3", 0x66, LEDGER_MODE_BUS, 3000, t - 60, 600);
	trip(tx, 3, 2, "M-3", 0x66, LEDGER_MODE_BUS, 3000, t - 60, 600); /* duplicate */
	script_tx(&sc, tx, NULL);
	tx = ltx(LEDGER_TX_ISSUE, 2, 3, 0);
	trip(tx, 0, 3, "B-1", 0x64, LEDGER_MODE_CYCLE, 4000, t - 2000, 1200);
	trip(tx, 1, 3, "B-2", 0x65, LEDGER_MODE_WALK, 1000, t - 2000, 900);
	script_tx(&sc, tx, NULL);
	tx = ltx(LEDGER_TX_OFFER, 0, 4, 0);
	tx->u.offer.action = LEDGER_OFFER_PUBLISH;
	tx->u.offer.offer_id = 1;
	tx->u.offer.price_g = 300;
	tx->u.offer.stock = 3;
	strcpy(tx->u.offer.name, "bus day pass");
	script_tx(&sc, tx, NULL);

	/* Block 2: a transfer and a redemption. */
	script_block(&sc, 9, 2);
	tx = ltx(LEDGER_TX_TRANSFER, 0, 0x64, 0);
	memset(tx->u.transfer.to, 0x67, CK_PUBKEY_BYTES);
	tx->u.transfer.amount_g = 200;
	script_tx(&sc, tx, NULL);
	tx = ltx(LEDGER_TX_REDEEM, 0, 0x65, 0);
	tx->u.redeem.offer_id = 1;
	tx->u.redeem.max_price_g = 400;
	script_tx(&sc, tx, redeem_hash);

	/* Block 3: refund, clawback, offer update, key recovery. */
	script_block(&sc, 9, 4);
	tx = ltx(LEDGER_TX_REFUND, 0, 4, 1);
	memcpy(tx->u.refund.receipt_id, redeem_hash, CK_HASH_BYTES);
	script_tx(&sc, tx, NULL);
	tx = ltx(LEDGER_TX_GOVERN, 0, 1, 0);
	tx->u.govern.action = LEDGER_GOV_CLAWBACK;
	memset(tx->u.govern.account, 0x64, CK_PUBKEY_BYTES);
	tx->u.govern.amount_g = 100;
	strcpy(tx->u.govern.reason, "audit");
	approvals(tx);
	script_tx(&sc, tx, NULL);
	tx = ltx(LEDGER_TX_OFFER, 0, 4, 2);
	tx->u.offer.action = LEDGER_OFFER_UPDATE;
	tx->u.offer.offer_id = 1;
	tx->u.offer.price_g = 250;
	tx->u.offer.stock = 10;
	strcpy(tx->u.offer.name, "bus day pass");
	script_tx(&sc, tx, NULL);
	tx = ltx(LEDGER_TX_GOVERN, 0, 5, 0);
	tx->u.govern.action = LEDGER_GOV_RECOVER;
	memset(tx->u.govern.account, 0x66, CK_PUBKEY_BYTES);
	memset(tx->u.govern.new_account, 0x68, CK_PUBKEY_BYTES);
	strcpy(tx->u.govern.reason, "lost phone");
	approvals(tx);
	script_tx(&sc, tx, NULL);

	/* Block 4, two days later: members and methodology change, more trips. */
	script_block(&sc, 201, 3);
	t = sc.time_ms / 1000;
	tx = ltx(LEDGER_TX_GOVERN, 0, 1, 1);
	tx->u.govern.action = LEDGER_GOV_ADD_MEMBER;
	strcpy(tx->u.govern.name, "rail");
	tx->u.govern.roles = LEDGER_ROLE_ISSUER | LEDGER_ROLE_VALIDATOR;
	tx->u.govern.modes = 1u << LEDGER_MODE_RAIL;
	tx->u.govern.nkeys = 1;
	memset(tx->u.govern.keys[0], 6, CK_PUBKEY_BYTES);
	approvals(tx);
	script_tx(&sc, tx, NULL);
	tx = ltx(LEDGER_TX_GOVERN, 0, 1, 2);
	tx->u.govern.action = LEDGER_GOV_METHODOLOGY;
	ledger_methodology_default(&tx->u.govern.methodology);
	tx->u.govern.methodology.version = 2;
	tx->u.govern.methodology.effective_height = 6;
	tx->u.govern.methodology.daily_cap_g = 2000;
	approvals(tx);
	script_tx(&sc, tx, NULL);
	tx = ltx(LEDGER_TX_ISSUE, 1, 2, 1);
	trip(tx, 0, 2, "M-4", 0x64, LEDGER_MODE_RAIL, 30000, t - 60, 1800);
	script_tx(&sc, tx, NULL);
	put("ledger_apply", "city-four-blocks", sc.b, sc.n);

	/* An empty block, then one with a transfer of everything. */
	sc.n = 0;
	sc.time_ms = 1767225600000ull;
	script_block(&sc, 0, 0);
	script_block(&sc, 255, 1);
	tx = ltx(LEDGER_TX_TRANSFER, 0, 0x70, 0);
	memset(tx->u.transfer.to, 0x71, CK_PUBKEY_BYTES);
	tx->u.transfer.amount_g = UINT64_MAX;
	script_tx(&sc, tx, NULL);
	put("ledger_apply", "empty-then-overdraw", sc.b, sc.n);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen_corpus DIR (run from the repository root)\n");
		return 2;
	}
	root = argv[1];
	if (mkdir(root, 0755) != 0 && errno != EEXIST)
		die(root);
	if (ck_init() != 0)
		die("ck_init");
	gen_tx();
	gen_block();
	gen_cert();
	gen_cons_msg();
	gen_safety();
	gen_cons_core();
	gen_proof();
	gen_genesis("tests/vectors/genesis_example.json");
	gen_config();
	gen_keystore();
	gen_http();
	gen_net();
	gen_wallet();
	gen_ledger_apply();
	return 0;
}
