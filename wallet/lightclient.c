/*
 * The light client: what lets a bank believe a balance without believing
 * the node that served it. It starts from the genesis file the bank holds
 * (its validators) and walks the chain header by header: each header must
 * link to the previous one by hash, carry the validator set the previous
 * header announced, and be certified by a quorum of that set (2f+1
 * precommit signatures, cons_cert_verify). A validator-set change is
 * accepted only as a set whose hash the last certified header announced
 * in next_valset_hash, so a node can at worst withhold a set (the proof
 * then cannot be checked, which is reported as such, not as a forgery)
 * but never substitute one. A balance proof is then a Merkle path
 * to the state root that the certified header of proof height + 1 carries
 * (execution is deferred: header h holds the state after block h-1).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wallet/http_internal.h"

static void hex32(char out[2 * CK_HASH_BYTES + 1], const uint8_t *h)
{
	cm_hex_encode(out, h, CK_HASH_BYTES);
}

int wallet_genesis_valset(const ledger_genesis *g, cons_valset *vs)
{
	memset(vs, 0, sizeof *vs);
	for (uint32_t i = 0; i < g->nmembers; i++) {
		const ledger_member *m = &g->members[i];
		if (!(m->roles & LEDGER_ROLE_VALIDATOR) || m->nkeys == 0)
			continue;
		if (vs->n == LIM_VALIDATORS_MAX)
			return WALLET_E_VERIFY;
		memcpy(vs->keys[vs->n++], m->keys[0], CK_PUBKEY_BYTES);
	}
	return cons_valset_sort(vs) == 0 ? 0 : WALLET_E_VERIFY;
}

int wallet_lc_init(wallet_lc *lc, const ledger_genesis *g)
{
	memset(lc, 0, sizeof *lc);
	snprintf(lc->chain_id, sizeof lc->chain_id, "%s", g->chain_id);
	memcpy(lc->genesis_hash, g->hash, CK_HASH_BYTES);
	lc->time_ms = g->genesis_time_ms;
	return wallet_genesis_valset(g, &lc->next);
}

int wallet_lc_step(wallet_lc *lc, const ledger_header *h, const cons_cert *cert,
		   const wallet_lc_source *src, char *why, size_t whylen)
{
	uint64_t want = lc->height + 1;
	ck_hash id, x;
	char a[2 * CK_HASH_BYTES + 1], b[2 * CK_HASH_BYTES + 1];
	if (h->height != want) {
		wallet_msgf(why, whylen, "expected header %llu, got %llu", (unsigned long long)want,
			    (unsigned long long)h->height);
		return WALLET_E_VERIFY;
	}
	if (strcmp(h->chain_id, lc->chain_id) != 0) {
		wallet_msgf(why, whylen, "header %llu is for chain \"%s\", the genesis says \"%s\"",
			    (unsigned long long)want, h->chain_id, lc->chain_id);
		return WALLET_E_VERIFY;
	}
	if (memcmp(h->parent_hash, lc->last_hash, CK_HASH_BYTES) != 0) {
		hex32(a, h->parent_hash);
		hex32(b, lc->last_hash);
		wallet_msgf(why, whylen, "header %llu: parent hash %.16s... is not the verified "
				   "header %llu (%.16s...)",
			    (unsigned long long)want, a, (unsigned long long)lc->height, b);
		return WALLET_E_VERIFY;
	}
	if (h->time_ms <= lc->time_ms) {
		wallet_msgf(why, whylen, "header %llu: time does not advance", (unsigned long long)want);
		return WALLET_E_VERIFY;
	}
	cons_valset_hash(&lc->next, x);
	if (memcmp(h->valset_hash, x, CK_HASH_BYTES) != 0) {
		wallet_msgf(why, whylen,
			    "header %llu names a validator set other than the one its parent announced",
			    (unsigned long long)want);
		return WALLET_E_VERIFY;
	}
	if (cert->height != want) {
		wallet_msgf(why, whylen, "certificate is for height %llu, not %llu",
			    (unsigned long long)cert->height, (unsigned long long)want);
		return WALLET_E_VERIFY;
	}
	ledger_header_hash(id, h);
	int rc = cons_cert_verify(cert, &lc->next, lc->chain_id, id);
	if (rc != 0) {
		wallet_msgf(why, whylen, "header %llu: commit certificate: %s", (unsigned long long)want,
			    cons_strerror(rc));
		return WALLET_E_VERIFY;
	}

	/* The set of the next height: the same, or the one announced by
	 * hash, whoever supplies it. A source that cannot supply it leaves
	 * the proof unchecked, which is not evidence against it. */
	cons_valset next = lc->next;
	bool changed = memcmp(h->next_valset_hash, x, CK_HASH_BYTES) != 0;
	if (changed) {
		char asked[256] = "no source";
		rc = src && src->valset ? src->valset(src->ctx, want + 1, h->next_valset_hash, &next,
						      asked, sizeof asked)
					: WALLET_E_VALSET_GAP;
		if (rc == 0 && cons_valset_check(&next) != 0)
			rc = WALLET_E_VALSET_GAP;
		if (rc == 0) {
			cons_valset_hash(&next, x);
			if (memcmp(x, h->next_valset_hash, CK_HASH_BYTES) != 0)
				rc = WALLET_E_VALSET_GAP;
		}
		if (rc != 0) {
			hex32(a, h->next_valset_hash);
			if (rc == WALLET_E_VALSET_GAP)
				wallet_msgf(why, whylen,
					    "the validator set of height %llu is not available from "
					    "any node (header %llu announces it by hash %.16s...; %s)",
					    (unsigned long long)want + 1, (unsigned long long)want, a,
					    asked);
			else
				wallet_msgf(why, whylen, "the validator set of height %llu: %s",
					    (unsigned long long)want + 1, asked);
			return rc;
		}
	}
	lc->height = want;
	lc->time_ms = h->time_ms;
	memcpy(lc->last_hash, id, CK_HASH_BYTES);
	lc->next = next;
	lc->changes += changed;
	return 0;
}

int wallet_lc_advance(wallet_lc *lc, const wallet_lc_source *src, uint64_t to,
		      void (*progress)(void *arg, uint64_t h, uint64_t to), void *arg, char *why,
		      size_t whylen)
{
	cons_cert *cert = malloc(sizeof *cert);
	if (cert == NULL)
		return WALLET_E_NOMEM;
	int rc = 0;
	while (lc->height < to) {
		ledger_header h;
		rc = src->header(src->ctx, lc->chain_id, lc->height + 1, &h, cert, why, whylen);
		if (rc != 0)
			break;
		if ((rc = wallet_lc_step(lc, &h, cert, src, why, whylen)) != 0)
			break;
		if (progress)
			progress(arg, lc->height, to);
	}
	free(cert);
	return rc;
}

/* ---- balance proofs --------------------------------------------------- */

/* Decodes a header from its canonical bytes (no trailing bytes). */
static int header_from_bytes(const uint8_t *p, size_t n, const char *chain_id, ledger_header *h)
{
	cm_rd r;
	cm_rd_init(&r, p, n);
	int rc = ledger_header_decode(&r, chain_id, h);
	if (rc == 0)
		rc = cm_rd_end(&r);
	return rc;
}

int wallet_balance_proof_from_json(const json_t *j, const char *chain_id,
				   wallet_balance_proof *out, char *why, size_t whylen)
{
	uint8_t *p = NULL;
	size_t n;
	int rc;
	memset(out, 0, sizeof *out);
	const json_t *cert = json_object_get(j, "certified");
	if (!json_is_true(cert)) {
		wallet_msgf(why, whylen, "the node has no certified header for this proof yet "
				   "(fetch it again in a few seconds)");
		return WALLET_E_UNCERTIFIED;
	}
	if (wallet_json_bytes(j, "proof", &p, &n, 64u * 1024u) != 0) {
		wallet_msgf(why, whylen, "proof is missing or not hex");
		return WALLET_E_VERIFY;
	}
	rc = ledger_account_proof_decode(p, n, &out->proof);
	free(p);
	if (rc != 0) {
		wallet_msgf(why, whylen, "proof does not decode: %s", ledger_strerror(rc));
		return WALLET_E_VERIFY;
	}
	const json_t *hd = json_object_get(j, "header");
	if (!json_is_object(hd) || wallet_json_bytes(hd, "hex", &p, &n, 4096) != 0) {
		wallet_msgf(why, whylen, "header is missing or not hex");
		return WALLET_E_VERIFY;
	}
	rc = header_from_bytes(p, n, chain_id, &out->header);
	free(p);
	if (rc != 0) {
		wallet_msgf(why, whylen, "header does not decode: %s", ledger_strerror(rc));
		return WALLET_E_VERIFY;
	}
	if (wallet_json_bytes(j, "cert", &p, &n, 64u * 1024u) != 0) {
		wallet_msgf(why, whylen, "certificate is missing or not hex");
		return WALLET_E_VERIFY;
	}
	rc = cons_cert_decode(&out->cert, p, n);
	free(p);
	if (rc != 0) {
		wallet_msgf(why, whylen, "certificate does not decode: %s", cons_strerror(rc));
		return WALLET_E_VERIFY;
	}
	return 0;
}

int wallet_verify_balance(wallet_lc *lc, const wallet_lc_source *src, const ck_pubkey account,
			  const wallet_balance_proof *bp, char *why, size_t whylen)
{
	const ledger_account_proof *p = &bp->proof;
	if (memcmp(p->account, account, CK_PUBKEY_BYTES) != 0) {
		wallet_msgf(why, whylen, "the proof is for another account");
		return WALLET_E_VERIFY;
	}
	if (ledger_verify_account_proof(p) != 0) {
		wallet_msgf(why, whylen,
			    "the Merkle proof does not lead from this balance and nonce to its state "
			    "root");
		return WALLET_E_VERIFY;
	}
	if (bp->header.height != p->height + 1) {
		wallet_msgf(why, whylen,
			    "the header is for height %llu; a proof of the state after block %llu "
			    "needs header %llu",
			    (unsigned long long)bp->header.height, (unsigned long long)p->height,
			    (unsigned long long)p->height + 1);
		return WALLET_E_VERIFY;
	}
	if (memcmp(bp->header.state_root, p->state_root, CK_HASH_BYTES) != 0) {
		wallet_msgf(why, whylen, "the header does not carry the proof's state root");
		return WALLET_E_VERIFY;
	}
	/* Even the header lc verified last is checked again with the
	 * proof's certificate, which needs the set of its height: start
	 * from the genesis for it. */
	if (lc->height >= bp->header.height) {
		wallet_msgf(why, whylen,
			    "the light client is already at height %llu, at or past this header: start "
			    "again from the genesis",
			    (unsigned long long)lc->height);
		return WALLET_E_VERIFY;
	}
	int rc = wallet_lc_advance(lc, src, p->height, NULL, NULL, why, whylen);
	if (rc != 0)
		return rc;
	return wallet_lc_step(lc, &bp->header, &bp->cert, src, why, whylen);
}

/* ---- headers and sets from a node ---------------------------------------- */

static int node_header(void *ctx, const char *chain_id, uint64_t height, ledger_header *h,
		       cons_cert *cert, char *msg, size_t msglen)
{
	wallet_node *nd = ctx;
	char path[64];
	json_t *j;
	int status;
	/* The header and its certificate alone; a node without that
	 * endpoint answers 404, and the whole block carries the same. */
	snprintf(path, sizeof path, "/v1/header/%llu", (unsigned long long)height);
	int rc = wallet_node_get_json(nd, path, &status, &j, msg, msglen);
	if (rc == 0 && status == 404) {
		json_decref(j);
		snprintf(path, sizeof path, "/v1/block/%llu", (unsigned long long)height);
		rc = wallet_node_get_json(nd, path, &status, &j, msg, msglen);
	}
	if (rc != 0)
		return rc;
	uint8_t *p = NULL;
	size_t n;
	const json_t *hd = json_object_get(j, "header");
	rc = WALLET_E_JSON;
	if (status != 200 || !json_is_object(hd) || wallet_json_bytes(hd, "hex", &p, &n, 4096) != 0) {
		wallet_msgf(msg, msglen, "%s: no header for height %llu (status %d)",
			    wallet_node_url(nd), (unsigned long long)height, status);
		goto done;
	}
	if (header_from_bytes(p, n, chain_id, h) != 0) {
		wallet_msgf(msg, msglen, "header %llu from %s does not decode for chain %s",
			    (unsigned long long)height, wallet_node_url(nd), chain_id);
		rc = WALLET_E_VERIFY;
		goto done;
	}
	free(p);
	p = NULL;
	if (wallet_json_bytes(j, "cert", &p, &n, 64u * 1024u) != 0 ||
	    cons_cert_decode(cert, p, n) != 0) {
		wallet_msgf(msg, msglen, "certificate of header %llu from %s does not decode",
			    (unsigned long long)height, wallet_node_url(nd));
		rc = WALLET_E_VERIFY;
		goto done;
	}
	rc = 0;
done:
	free(p);
	json_decref(j);
	return rc;
}

/* One validator key as a node may write it: an address, 64 hex digits,
 * or an object with either under "address" or "pubkey". */
static int key_from_json(const json_t *v, ck_pubkey out)
{
	if (json_is_object(v)) {
		const json_t *a = json_object_get(v, "address");
		v = a ? a : json_object_get(v, "pubkey");
	}
	if (!json_is_string(v))
		return WALLET_E_JSON;
	const char *s = json_string_value(v);
	size_t n = strlen(s);
	if (n == 2 * CK_PUBKEY_BYTES)
		return cm_hex_decode(out, CK_PUBKEY_BYTES, s, n) == 0 ? 0 : WALLET_E_JSON;
	return ck_address_decode(out, s) == 0 ? 0 : WALLET_E_JSON;
}

static int set_from_json(const json_t *arr, cons_valset *vs)
{
	memset(vs, 0, sizeof *vs);
	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > LIM_VALIDATORS_MAX)
		return WALLET_E_JSON;
	size_t i;
	const json_t *v;
	json_array_foreach(arr, i, v)
	{
		if (key_from_json(v, vs->keys[i]) != 0)
			return WALLET_E_JSON;
	}
	vs->n = (uint32_t)json_array_size(arr);
	return cons_valset_sort(vs) == 0 ? 0 : WALLET_E_JSON;
}

/* True if arr is a well-formed set whose hash is want (then in *vs). */
static bool set_matches(const json_t *arr, const ck_hash want, cons_valset *vs)
{
	ck_hash x;
	if (set_from_json(arr, vs) != 0 || cons_valset_check(vs) != 0)
		return false;
	cons_valset_hash(vs, x);
	return memcmp(x, want, CK_HASH_BYTES) == 0;
}

/* Asks the current node for the set: its set of that height, else its
 * current sets. *answered is true if the node answered at all. */
static bool ask_node(wallet_node *nd, uint64_t height, const ck_hash want, cons_valset *out,
		     bool *answered)
{
	char path[64];
	json_t *j;
	int status;
	bool found = false;
	snprintf(path, sizeof path, "/v1/valset/%llu", (unsigned long long)height);
	if (wallet_node_get_json(nd, path, &status, &j, NULL, 0) == 0) {
		*answered = true;
		found = status == 200 && set_matches(json_object_get(j, "validators"), want, out);
		json_decref(j);
	}
	if (!found && wallet_node_get_json(nd, "/v1/status", &status, &j, NULL, 0) == 0) {
		*answered = true;
		found = status == 200 && (set_matches(json_object_get(j, "validators"), want, out) ||
					  set_matches(json_object_get(j, "next_validators"), want, out));
		json_decref(j);
	}
	return found;
}

static int node_valset(void *ctx, uint64_t height, const ck_hash want, cons_valset *out, char *msg,
		       size_t msglen)
{
	wallet_node *nd = ctx;
	size_t n = wallet_node_count(nd), first = wallet_node_current(nd), off = 0;
	bool answered = false;
	msg[0] = '\0';
	for (size_t k = 0; k < n; k++) {
		size_t i = (first + k) % n;
		wallet_node_use(nd, i);
		/* Fail-over may have moved to another node: name the one asked. */
		bool found = ask_node(nd, height, want, out, &answered);
		int w = snprintf(msg + off, msglen - off, "%s%s", k ? ", " : "asked ",
				 wallet_node_url(nd));
		if (w > 0 && (size_t)w < msglen - off)
			off += (size_t)w;
		if (found)
			return 0;
	}
	wallet_node_use(nd, first);
	if (!answered) {
		wallet_msgf(msg, msglen, "no node answered");
		return WALLET_E_CONNECT;
	}
	return WALLET_E_VALSET_GAP;
}

void wallet_lc_node_source(wallet_lc_source *src, wallet_node *nd)
{
	src->ctx = nd;
	src->header = node_header;
	src->valset = node_valset;
}

/* ---- checkpoint file -------------------------------------------------------- */

#define TRUST_FORMAT "carbon-wallet-trust/1"

int wallet_lc_trust_path(const wallet_lc *lc, char *out, size_t n)
{
	char dir[WALLET_PATH_BYTES_MAX], hex[2 * CK_HASH_BYTES + 1];
	int rc = wallet_key_dir(dir, sizeof dir);
	if (rc != 0)
		return rc;
	hex32(hex, lc->genesis_hash);
	int w = snprintf(out, n, "%s/trust/%s.json", dir, hex);
	return w < 0 || (size_t)w >= n ? WALLET_E_IO : 0;
}

int wallet_lc_load(wallet_lc *lc, const char *path)
{
	json_error_t je;
	json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL)
		return access(path, F_OK) == 0 ? WALLET_E_VERIFY : WALLET_E_IO;
	wallet_lc t = *lc;
	ck_hash g;
	const char *fmt = wallet_json_str(j, "format");
	const char *chain = wallet_json_str(j, "chain_id");
	uint64_t changes;
	int rc = WALLET_E_VERIFY;
	if (fmt == NULL || strcmp(fmt, TRUST_FORMAT) != 0 || chain == NULL ||
	    strcmp(chain, lc->chain_id) != 0 || wallet_json_hash(j, "genesis_hash", g) != 0 ||
	    memcmp(g, lc->genesis_hash, CK_HASH_BYTES) != 0 ||
	    wallet_json_u64(j, "height", &t.height) != 0 ||
	    wallet_json_u64(j, "time_ms", &t.time_ms) != 0 ||
	    wallet_json_hash(j, "last_hash", t.last_hash) != 0 ||
	    wallet_json_u64(j, "changes", &changes) != 0 || changes > UINT32_MAX ||
	    set_from_json(json_object_get(j, "next_validators"), &t.next) != 0)
		goto done;
	t.changes = (uint32_t)changes;
	*lc = t;
	rc = 0;
done:
	json_decref(j);
	return rc;
}

/* mkdir -p for the directory part of path, mode 0700. */
static int make_parent(const char *path)
{
	char tmp[WALLET_PATH_BYTES_MAX];
	if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
		return WALLET_E_IO;
	char *slash = strrchr(tmp, '/');
	if (slash == NULL)
		return 0;
	*slash = '\0';
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
			return WALLET_E_IO;
		*p = '/';
	}
	return mkdir(tmp, 0700) != 0 && errno != EEXIST ? WALLET_E_IO : 0;
}

int wallet_lc_save(const wallet_lc *lc, const char *path)
{
	char tmp[WALLET_PATH_BYTES_MAX];
	int rc = make_parent(path);
	if (rc != 0)
		return rc;
	if (snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid()) >= (int)sizeof tmp)
		return WALLET_E_IO;
	json_t *keys = json_array();
	for (uint32_t i = 0; i < lc->next.n; i++) {
		char addr[CK_ADDRESS_STRLEN + 1];
		ck_address_encode(addr, lc->next.keys[i]);
		json_array_append_new(keys, json_string(addr));
	}
	char g[2 * CK_HASH_BYTES + 1], last[2 * CK_HASH_BYTES + 1];
	hex32(g, lc->genesis_hash);
	hex32(last, lc->last_hash);
	json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:I, s:o}", "format", TRUST_FORMAT,
			      "chain_id", lc->chain_id, "genesis_hash", g, "height",
			      (json_int_t)lc->height, "time_ms", (json_int_t)lc->time_ms, "last_hash",
			      last, "changes", (json_int_t)lc->changes, "next_validators", keys);
	if (j == NULL)
		return WALLET_E_NOMEM;
	rc = json_dump_file(j, tmp, JSON_INDENT(2)) == 0 && rename(tmp, path) == 0 ? 0 : WALLET_E_IO;
	if (rc != 0)
		unlink(tmp);
	json_decref(j);
	return rc;
}
