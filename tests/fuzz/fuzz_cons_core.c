/*
 * libFuzzer target for the consensus core under hostile peers: a real
 * core (cons_new with the test crypto of fuzz.h) started at height 1 with
 * a small validator set, then driven by a script of events the input
 * spells: raw peer bytes, proposals, votes, decided messages and status
 * messages built from a few input bytes (so the fuzzer reaches the rules
 * instead of fighting the codec), timer firings, validity answers and
 * built blocks. Every validator but the node under test can be played by
 * the input, Byzantine ones included, so more than f of them may lie.
 *
 * Beyond crashes, sanitizer reports and the core's own assertions, the
 * harness checks on every action, as tests/sim does:
 *   - every message the core sends decodes;
 *   - a message the node signed leaves only after a PERSIST that covers
 *     it (the persist barrier), and the node never signs two different
 *     messages for one (height, round, step), across heights too;
 *   - the persisted signing watermark never moves back;
 *   - a commit is for the running height, once, its block hashes to its
 *     id and its certificate checks against the height's set;
 *   - a CHECK_BLOCK's block hashes to its id;
 *   - every persisted safety state passes cons_safety_check (it decodes);
 *   - cons_step returns 0 or a consensus code.
 *
 * Input: byte 0 picks the set size (1..7) and the node's index in it (or
 * none: a replica); if its top bit is set, [len lo][len hi][bytes] follow: a
 * safety state (cons_safety_encode) the core restarts from, as after a
 * crash, then [len][block][signer mask]: validValue's bytes and its proof
 * of lock (see restart()); the height the state names is resumed. Then ops [op][arguments],
 * see run_op(). A COMMIT starts the next height with the same set at once.
 * Seeds: gen_corpus.
 */
#include "tests/fuzz/fuzz.h"

#define TIMERS_MAX   32u
#define CHECKS_MAX   16u
#define KNOWN_MAX    8u
#define BLOCK_MAX    64u
#define SIGNED_MAX   1024u
#define STEPS_MAX    2000u
#define ROUNDS       6u   /* built messages use rounds 0..ROUNDS-1 */

struct known {
	cons_id id;
	uint32_t len;
	uint8_t block[BLOCK_MAX];
};

struct signed_rec {
	uint64_t height;
	uint32_t round;
	uint8_t step;
	uint8_t len;
	uint8_t sb[CONS_SIGN_BYTES_MAX];
};

static struct {
	const uint8_t *p;
	size_t left;

	cons *c;
	cons_valset vs;
	int32_t me;
	ck_pubkey self;
	uint64_t height;
	bool committed;          /* COMMIT seen for height */
	cons_actions out;

	struct { enum cons_timer t; uint64_t h; uint32_t r; } timers[TIMERS_MAX];
	uint32_t ntimers;
	struct { uint64_t h; cons_id id; } checks[CHECKS_MAX];
	uint32_t nchecks;
	bool build_pending;
	uint64_t build_h;
	uint32_t build_r;
	struct known known[KNOWN_MAX];
	uint32_t nknown, known_next;

	bool durable_set;
	cons_safety durable;
	struct signed_rec sigs[SIGNED_MAX];
	uint32_t nsigs;
} S;

static uint8_t next(void)
{
	if (S.left == 0)
		return 0;
	S.left--;
	return *S.p++;
}

static void remember(const cons_id id, const uint8_t *block, size_t len)
{
	if (len > BLOCK_MAX)
		return;
	for (uint32_t i = 0; i < S.nknown; i++)
		if (memcmp(S.known[i].id, id, CONS_ID_BYTES) == 0)
			return;
	struct known *k = &S.known[S.known_next];
	S.known_next = (S.known_next + 1) % KNOWN_MAX;
	if (S.nknown < KNOWN_MAX)
		S.nknown++;
	memcpy(k->id, id, CONS_ID_BYTES);
	memcpy(k->block, block, len);
	k->len = (uint32_t)len;
}

/* FUZZ_TRACE=1 in the environment prints every event and action (for
 * reading a crash input; off while fuzzing). */
static bool trace;

/* ---- checks on the actions ---------------------------------------------- */

static int pos_cmp(const cons_signed *a, const cons_signed *b)
{
	if (a->height != b->height)
		return a->height < b->height ? -1 : 1;
	if (a->round != b->round)
		return a->round < b->round ? -1 : 1;
	return 0;
}

static void on_persist(const cons_action *a)
{
	const cons_safety *s = &a->u.persist.safety;
	if (S.durable_set)
		for (int st = 0; st < 3; st++)
			FUZZ_CHECK(pos_cmp(&s->last[st], &S.durable.last[st]) >= 0);
	if (a->u.persist.valid_block != NULL) {
		cons_id id;
		FUZZ_CHECK(s->valid_round >= 0);
		fuzz_block_id(NULL, a->u.persist.valid_block, a->u.persist.valid_len, id);
		FUZZ_CHECK(memcmp(id, s->valid_id, CONS_ID_BYTES) == 0);
	}
	if (a->u.persist.valid_pol != NULL && a->u.persist.valid_block != NULL) {
		const cons_cert *pol = a->u.persist.valid_pol;
		FUZZ_CHECK(memcmp(pol->id, s->valid_id, CONS_ID_BYTES) == 0);
		FUZZ_CHECK(pol->round == (uint32_t)s->valid_round);
	}
	/* What is persisted must come back from the safety store. */
	cm_wr w;
	cm_wr_init(&w);
	cons_safety_encode(s, &w);
	cons_safety back;
	FUZZ_CHECK(cons_safety_decode(&back, cm_wr_data(&w), cm_wr_len(&w)) == 0);
	cm_wr_free(&w);
	S.durable = *s;
	S.durable_set = true;
}

static void no_equivocation(uint64_t height, uint32_t round, uint8_t step, const uint8_t *sb,
			    size_t len)
{
	for (uint32_t i = 0; i < S.nsigs; i++) {
		const struct signed_rec *r = &S.sigs[i];
		if (r->height == height && r->round == round && r->step == step) {
			FUZZ_CHECK(r->len == len && memcmp(r->sb, sb, len) == 0);
			return;
		}
	}
	if (S.nsigs == SIGNED_MAX)
		return;
	struct signed_rec *r = &S.sigs[S.nsigs++];
	r->height = height;
	r->round = round;
	r->step = step;
	r->len = (uint8_t)len;
	memcpy(r->sb, sb, len);
}

static void on_sent(const uint8_t *b, size_t len)
{
	cons_msg m;
	FUZZ_CHECK(cons_msg_decode(&m, b, len) == 0);
	uint8_t sb[CONS_SIGN_BYTES_MAX];
	size_t sblen;
	uint8_t step;
	uint64_t height;
	uint32_t round, signer;
	int32_t pol = -1;
	bool has_id = true;
	const uint8_t *id;
	if (m.kind == CONS_MSG_PROPOSAL) {
		remember(m.u.proposal.id, m.u.proposal.block, m.u.proposal.block_len);
		step = CONS_STEP_PROPOSE;
		height = m.u.proposal.height;
		round = m.u.proposal.round;
		signer = m.u.proposal.proposer;
		pol = m.u.proposal.pol_round;
		id = m.u.proposal.id;
		sblen = cons_proposal_sign_bytes(sb, height, round, pol, id);
	} else if (m.kind == CONS_MSG_PREVOTE || m.kind == CONS_MSG_PRECOMMIT) {
		step = m.u.vote.step;
		height = m.u.vote.height;
		round = m.u.vote.round;
		signer = m.u.vote.validator;
		has_id = m.u.vote.has_id;
		id = m.u.vote.id;
		sblen = cons_vote_sign_bytes(sb, height, round, has_id, id);
	} else {
		return;
	}
	if (trace)
		fprintf(stderr, "  sent step %u h=%llu r=%u pol=%d by %u %s%02x%02x\n", step,
			(unsigned long long)height, round, pol, signer, has_id ? "id " : "nil ",
			has_id ? id[0] : 0, has_id ? id[1] : 0);
	if (S.me < 0 || signer != (uint32_t)S.me)
		return; /* somebody else's vote, forwarded */
	FUZZ_CHECK(height == S.height);
	/* The persist barrier: the durable state holds this message or a
	 * later one of the same step. */
	FUZZ_CHECK(S.durable_set);
	const cons_signed *d = &S.durable.last[step];
	bool later = d->height > height || (d->height == height && d->round > round);
	bool same = d->height == height && d->round == round && d->pol_round == pol &&
		    d->has_id == has_id && (!has_id || memcmp(d->id, id, CONS_ID_BYTES) == 0);
	FUZZ_CHECK(later || same);
	no_equivocation(height, round, step, sb, sblen);
}

static void on_commit(const cons_action *a)
{
	FUZZ_CHECK(a->u.commit.height == S.height);
	FUZZ_CHECK(!S.committed);
	S.committed = true;
	cons_id id;
	fuzz_block_id(NULL, a->u.commit.block, a->u.commit.len, id);
	FUZZ_CHECK(memcmp(id, a->u.commit.id, CONS_ID_BYTES) == 0);
	const cons_cert *cert = a->u.commit.cert;
	FUZZ_CHECK(cert->height == S.height);
	cons_verifier v = {S.self, fuzz_verifier_verify};
	FUZZ_CHECK(cons_cert_check(cert, &S.vs, FUZZ_CHAIN, id, &v) == 0);
	/* The stored certificate goes through the codec. */
	cm_wr w;
	cm_wr_init(&w);
	cons_cert_encode(cert, &w);
	cons_cert back;
	FUZZ_CHECK(cons_cert_decode(&back, cm_wr_data(&w), cm_wr_len(&w)) == 0);
	cm_wr_free(&w);
}

static void add_timer(const cons_action *a)
{
	if (S.ntimers == TIMERS_MAX) {
		memmove(&S.timers[0], &S.timers[1], (TIMERS_MAX - 1) * sizeof S.timers[0]);
		S.ntimers--;
	}
	S.timers[S.ntimers].t = a->u.timer.timer;
	S.timers[S.ntimers].h = a->u.timer.height;
	S.timers[S.ntimers].r = a->u.timer.round;
	S.ntimers++;
}

static void add_check(const cons_action *a)
{
	cons_id id;
	fuzz_block_id(NULL, a->u.check.block, a->u.check.len, id);
	FUZZ_CHECK(memcmp(id, a->u.check.id, CONS_ID_BYTES) == 0);
	FUZZ_CHECK(a->u.check.height == S.height);
	if (S.nchecks == CHECKS_MAX) {
		memmove(&S.checks[0], &S.checks[1], (CHECKS_MAX - 1) * sizeof S.checks[0]);
		S.nchecks--;
	}
	S.checks[S.nchecks].h = a->u.check.height;
	memcpy(S.checks[S.nchecks].id, a->u.check.id, CONS_ID_BYTES);
	S.nchecks++;
}


static void step(const cons_event *ev)
{
	int rc = cons_step(S.c, ev, &S.out);
	if (trace) {
		fprintf(stderr, "h=%llu r=%u event %d -> rc %d:", (unsigned long long)S.height,
			cons_round(S.c), (int)ev->kind, rc);
		for (uint32_t i = 0; i < S.out.n; i++)
			fprintf(stderr, " %d", (int)S.out.a[i].kind);
		fprintf(stderr, "\n");
	}
	FUZZ_CHECK(rc == 0 || (rc <= -300 && rc > -400)); /* consensus/'s range */
	FUZZ_CHECK(S.out.n <= LIM_CONS_ACTIONS_MAX);
	for (uint32_t i = 0; i < S.out.n; i++) {
		const cons_action *a = &S.out.a[i];
		switch (a->kind) {
		case CONS_ACT_PERSIST:
			on_persist(a);
			break;
		case CONS_ACT_BROADCAST:
		case CONS_ACT_SEND:
			on_sent(a->u.msg.bytes, a->u.msg.len);
			break;
		case CONS_ACT_SET_TIMER:
			FUZZ_CHECK(a->u.timer.delay_ms <= LIM_CONS_TIMEOUT_MS_MAX);
			add_timer(a);
			break;
		case CONS_ACT_BUILD_BLOCK:
			FUZZ_CHECK(a->u.build.height == S.height);
			S.build_pending = true;
			S.build_h = a->u.build.height;
			S.build_r = a->u.build.round;
			break;
		case CONS_ACT_CHECK_BLOCK:
			add_check(a);
			break;
		case CONS_ACT_COMMIT:
			on_commit(a);
			break;
		case CONS_ACT_SEND_DECIDED:
			FUZZ_CHECK(a->u.decided.height <= S.height);
			break;
		default:
			FUZZ_CHECK(!"unknown action");
		}
	}
	if (S.committed) {
		/* The driver applies the block and starts the next height. */
		S.committed = false;
		S.height++;
		cons_event st = {.kind = CONS_EV_START_HEIGHT};
		st.u.start.height = S.height;
		st.u.start.valset = &S.vs;
		step(&st);
	}
}

/* ---- building peer messages ---------------------------------------------- */

static void deliver(uint32_t peer, const uint8_t *b, size_t len)
{
	cons_event ev = {.kind = CONS_EV_MESSAGE};
	ev.u.message.peer = peer;
	ev.u.message.bytes = b;
	ev.u.message.len = len;
	step(&ev);
}

static void deliver_msg(const cons_msg *m)
{
	cm_wr w;
	cm_wr_init(&w);
	cons_msg_encode(m, &w);
	FUZZ_CHECK(cm_wr_error(&w) == 0);
	deliver(next() % 4, cm_wr_data(&w), cm_wr_len(&w));
	cm_wr_free(&w);
}

/* A round: mostly a small one, so messages meet; with bit 6 of the
 * op's flags any of 0..255, beyond the LIM_CONS_ROUND_SLOTS the core
 * keeps (eviction, round skips). */
static uint32_t pick_round(uint8_t flags)
{
	uint8_t b = next();
	return (flags & 64) ? b : b % ROUNDS;
}

/* A height near the running one: mostly it, sometimes one off. */
static uint64_t pick_height(uint8_t b)
{
	if (b % 8 == 6 && S.height > 1)
		return S.height - 1;
	if (b % 8 == 7)
		return S.height + 1;
	return S.height;
}

static void sign_as(uint32_t idx, enum ck_domain dom, const uint8_t *sb, size_t n, ck_sig sig)
{
	/* The input may play anyone but us: our key signs only in the core. */
	if ((int32_t)idx == S.me)
		memset(sig, FUZZ_SIG_MAGIC, CK_SIG_BYTES);
	else
		fuzz_sign_raw(S.vs.keys[idx], dom, FUZZ_CHAIN, sb, n, sig);
}

/* [flags][round][pol][len][len bytes of block]: flags bits 0-2 the
 * height (pick_height), 3 any proposer, 4 a known block, 5 a wrong id, 6
 * any round. */
static void op_proposal(void)
{
	uint8_t flags = next();
	cons_msg m = {.kind = CONS_MSG_PROPOSAL};
	cons_proposal *p = &m.u.proposal;
	p->height = pick_height(flags);
	p->round = pick_round(flags);
	p->pol_round = (int32_t)(next() % (p->round + 1)) - 1;
	p->proposer = (flags & 8) ? next() % S.vs.n : cons_proposer(&S.vs, p->height, p->round);
	uint8_t block[BLOCK_MAX];
	uint32_t len = next() % BLOCK_MAX + 1;
	if ((flags & 16) && S.nknown > 0) {
		/* Re-propose a known block (validValue, a lock). */
		const struct known *k = &S.known[next() % S.nknown];
		len = k->len;
		memcpy(block, k->block, len);
	} else {
		for (uint32_t i = 0; i < len; i++)
			block[i] = next();
	}
	fuzz_block_id(NULL, block, len, p->id);
	if (flags & 32)
		p->id[0] ^= 1; /* an id the block does not hash to */
	remember(p->id, block, len);
	p->block = block;
	p->block_len = len;
	uint8_t sb[CONS_SIGN_BYTES_MAX];
	size_t n = cons_proposal_sign_bytes(sb, p->height, p->round, p->pol_round, p->id);
	sign_as(p->proposer, CK_DOM_PROPOSAL, sb, n, p->sig);
	deliver_msg(&m);
}

/* [flags][round][validator][id choice]: flags bit 0 precommit, else
 * prevote, bits 1-3 the height, 6 any round; id choice 255 = nil, else a
 * known id. */
static void op_vote(void)
{
	uint8_t flags = next();
	cons_msg m;
	cons_vote *v = &m.u.vote;
	m.kind = (flags & 1) ? CONS_MSG_PRECOMMIT : CONS_MSG_PREVOTE;
	v->step = (flags & 1) ? CONS_STEP_PRECOMMIT : CONS_STEP_PREVOTE;
	v->height = pick_height(flags >> 1);
	v->round = pick_round(flags);
	v->validator = next() % S.vs.n;
	uint8_t choice = next();
	v->has_id = choice != 255 && S.nknown > 0;
	memset(v->id, 0, CONS_ID_BYTES);
	if (v->has_id)
		memcpy(v->id, S.known[choice % S.nknown].id, CONS_ID_BYTES);
	uint8_t sb[CONS_SIGN_BYTES_MAX];
	size_t n = cons_vote_sign_bytes(sb, v->height, v->round, v->has_id, v->id);
	sign_as(v->validator, cons_step_domain((enum cons_step)v->step), sb, n, v->sig);
	deliver_msg(&m);
}

/* [flags][round][known block][signer mask]: a certificate of precommits
 * by the masked validators (never us: we did not sign it). */
static void op_decided(void)
{
	uint8_t flags = next();
	uint32_t round = pick_round(flags);
	uint8_t choice = next();
	uint8_t mask = next();
	if (S.nknown == 0)
		return;
	const struct known *k = &S.known[choice % S.nknown];
	cons_msg m = {.kind = CONS_MSG_DECIDED};
	cons_cert *c = &m.u.decided.cert;
	c->height = pick_height(flags);
	c->round = round;
	memcpy(c->id, k->id, CONS_ID_BYTES);
	c->n = 0;
	uint8_t sb[CONS_SIGN_BYTES_MAX];
	size_t n = cons_vote_sign_bytes(sb, c->height, round, true, c->id);
	for (uint32_t i = 0; i < S.vs.n; i++) {
		if (!(mask & (1u << i)) || (int32_t)i == S.me)
			continue;
		c->idx[c->n] = i;
		sign_as(i, CK_DOM_PRECOMMIT, sb, n, c->sig[c->n]);
		c->n++;
	}
	if (c->n == 0)
		return;
	m.u.decided.block = k->block;
	m.u.decided.block_len = k->len;
	deliver_msg(&m);
}

static void run_op(uint8_t op)
{
	switch (op % 9) {
	case 0: { /* raw bytes: [peer][len lo][len hi][bytes] */
		uint32_t peer = next();
		size_t len = next();
		len |= (size_t)next() << 8;
		if (len > S.left)
			len = S.left;
		const uint8_t *b = S.p;
		S.p += len;
		S.left -= len;
		deliver(peer, b, len);
		break;
	}
	case 1: { /* a timer fires: [which] */
		uint8_t i = next();
		if (S.ntimers == 0)
			break;
		i %= S.ntimers;
		cons_event ev = {.kind = CONS_EV_TIMEOUT};
		ev.u.timeout.timer = S.timers[i].t;
		ev.u.timeout.height = S.timers[i].h;
		ev.u.timeout.round = S.timers[i].r;
		memmove(&S.timers[i], &S.timers[i + 1], (S.ntimers - i - 1) * sizeof S.timers[0]);
		S.ntimers--;
		step(&ev);
		break;
	}
	case 2: { /* a validity answer: [which][valid] */
		uint8_t i = next(), valid = next();
		if (S.nchecks == 0)
			break;
		i %= S.nchecks;
		cons_event ev = {.kind = CONS_EV_BLOCK_CHECKED};
		ev.u.checked.height = S.checks[i].h;
		memcpy(ev.u.checked.id, S.checks[i].id, CONS_ID_BYTES);
		ev.u.checked.valid = (valid & 1) == 0;
		memmove(&S.checks[i], &S.checks[i + 1], (S.nchecks - i - 1) * sizeof S.checks[0]);
		S.nchecks--;
		step(&ev);
		break;
	}
	case 3: { /* the built block: [len][bytes] */
		uint8_t block[BLOCK_MAX];
		uint32_t len = next() % BLOCK_MAX + 1;
		for (uint32_t i = 0; i < len; i++)
			block[i] = next();
		if (!S.build_pending)
			break;
		S.build_pending = false;
		cons_event ev = {.kind = CONS_EV_BLOCK_BUILT};
		ev.u.built.height = S.build_h;
		ev.u.built.round = S.build_r;
		ev.u.built.block = block;
		ev.u.built.len = len;
		step(&ev);
		break;
	}
	case 4:
		op_proposal();
		break;
	case 5:
	case 6:
		op_vote();
		break;
	case 7:
		op_decided();
		break;
	case 8: { /* status: [height choice][round] */
		uint8_t hb = next();
		cons_msg m = {.kind = CONS_MSG_STATUS};
		m.u.status.height = pick_height(hb);
		m.u.status.round = next() % ROUNDS;
		deliver_msg(&m);
		break;
	}
	}
}

/* A restart from the safety state in the input: it counts as durable, and
 * what it says we signed as signed. */
static void restart(void)
{
	size_t len = next();
	len |= (size_t)next() << 8;
	if (len > S.left)
		len = S.left;
	cons_safety s;
	int rc = cons_safety_decode(&s, S.p, len);
	S.p += len;
	S.left -= len;
	if (rc != 0)
		return;
	/* validValue's bytes and proof of lock, as the node's second safety
	 * record holds them: [len][block] and a signer mask; the id the
	 * state names becomes the block's, which is what a consistent store
	 * has. */
	uint8_t block[BLOCK_MAX];
	uint32_t blen = next() % BLOCK_MAX + 1;
	for (uint32_t i = 0; i < blen; i++)
		block[i] = next();
	uint8_t mask = next();
	cons_cert pol;
	memset(&pol, 0, sizeof pol);
	cons_event ev = {.kind = CONS_EV_RESTART};
	ev.u.restart.safety = &s;
	if (s.valid_round >= 0) {
		fuzz_block_id(NULL, block, blen, s.valid_id);
		if (s.locked_round == s.valid_round)
			memcpy(s.locked_id, s.valid_id, CONS_ID_BYTES);
		pol.height = s.height;
		pol.round = (uint32_t)s.valid_round;
		memcpy(pol.id, s.valid_id, CONS_ID_BYTES);
		uint8_t sb[CONS_SIGN_BYTES_MAX];
		size_t n = cons_vote_sign_bytes(sb, pol.height, pol.round, true, pol.id);
		/* The core collects a proof of lock from the prevotes it
		 * holds, its own first prevote of the round included: ours is
		 * in it only if we prevoted valid_id in valid_round. */
		const cons_signed *mine = &s.last[CONS_STEP_PREVOTE];
		bool ours = mine->height == s.height && mine->round == pol.round && mine->has_id &&
			    memcmp(mine->id, s.valid_id, CONS_ID_BYTES) == 0;
		for (uint32_t i = 0; i < S.vs.n; i++) {
			if (!(mask & (1u << i)) || ((int32_t)i == S.me && !ours))
				continue;
			pol.idx[pol.n] = i;
			fuzz_sign_raw(S.vs.keys[i], CK_DOM_PREVOTE, FUZZ_CHAIN, sb, n, pol.sig[pol.n]);
			pol.n++;
		}
		ev.u.restart.valid_block = block;
		ev.u.restart.valid_len = blen;
		ev.u.restart.valid_pol = pol.n > 0 ? &pol : NULL;
	}
	step(&ev);
	S.durable = s;
	S.durable_set = true;
	S.height = s.height;
	for (int st = 0; st < 3 && S.me >= 0; st++) {
		const cons_signed *l = &s.last[st];
		if (l->height == 0)
			continue;
		uint8_t sb[CONS_SIGN_BYTES_MAX];
		size_t n = st == CONS_STEP_PROPOSE
				   ? cons_proposal_sign_bytes(sb, l->height, l->round, l->pol_round, l->id)
				   : cons_vote_sign_bytes(sb, l->height, l->round, l->has_id, l->id);
		no_equivocation(l->height, l->round, (uint8_t)st, sb, n);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	trace = getenv("FUZZ_TRACE") != NULL;
	memset(&S, 0, sizeof S);
	S.p = data + 1;
	S.left = size - 1;
	fuzz_valset(&S.vs, 1 + (data[0] & 7) % 7);
	uint32_t me = (data[0] >> 3) & 7;
	S.me = me < S.vs.n ? (int32_t)me : -1;
	if (S.me >= 0)
		memcpy(S.self, S.vs.keys[S.me], CK_PUBKEY_BYTES);
	else
		memset(S.self, 0xee, CK_PUBKEY_BYTES);

	cons_config cfg = {.chain_id = FUZZ_CHAIN};
	memcpy(cfg.self, S.self, CK_PUBKEY_BYTES);
	cfg.signer = (cons_signer){S.self, fuzz_signer_sign};
	cfg.verifier = (cons_verifier){S.self, fuzz_verifier_verify};
	cfg.block_id = (cons_block_id_fn){NULL, fuzz_block_id};
	cons_timeouts_default(&cfg.timeouts);
	if (cons_new(&S.c, &cfg) != 0)
		abort();

	S.height = 1;
	if (data[0] & 0x80)
		restart();
	cons_event st = {.kind = CONS_EV_START_HEIGHT};
	st.u.start.height = S.height;
	st.u.start.valset = &S.vs;
	step(&st);
	for (uint32_t i = 0; i < STEPS_MAX && S.left > 0; i++)
		run_op(next());
	cons_free(S.c);
	return 0;
}
