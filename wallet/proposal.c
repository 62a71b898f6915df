/*
 * Governance proposal files. A change of members, keys, methodology or a
 * clawback needs the approval of several governors, who rarely sit at the
 * same machine: one writes the unsigned govern transaction to a file,
 * each adds an approval signature, and the proposing governor submits it
 * (an approval covers the transaction's sender and nonce, so no one else
 * can). Readers trust only the transaction bytes: the summary shown to a
 * signer is regenerated from them, never taken from the file.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wallet/http_internal.h"

#define PROPOSAL_FORMAT "carbon-wallet-proposal/1"

static void names_of(uint32_t bits, bool modes, char *out, size_t n)
{
	size_t off = 0;
	out[0] = '\0';
	for (uint32_t b = modes ? 1 : 0; b < 32; b++) {
		const char *name = modes ? ledger_mode_name(b) : ledger_role_name(1u << b);
		if (!(bits & (1u << b)) || name == NULL)
			continue;
		int w = snprintf(out + off, n - off, "%s%s", off ? "," : "", name);
		if (w < 0 || (size_t)w >= n - off)
			return;
		off += (size_t)w;
	}
	if (off == 0)
		snprintf(out, n, "none");
}

void wallet_govern_summary(const ledger_tx *tx, char *out, size_t n)
{
	const ledger_govern *g = &tx->u.govern;
	char roles[128], modes[96], a[CK_ADDRESS_STRLEN + 1], b[CK_ADDRESS_STRLEN + 1];
	char amt[WALLET_AMOUNT_STRLEN];
	names_of(g->roles, false, roles, sizeof roles);
	names_of(g->modes, true, modes, sizeof modes);
	switch (g->action) {
	case LEDGER_GOV_ADD_MEMBER: {
		size_t off = (size_t)snprintf(out, n, "add member \"%s\" with roles %s, modes %s, %u key%s:",
					      g->name, roles, modes, g->nkeys, g->nkeys == 1 ? "" : "s");
		for (uint32_t i = 0; i < g->nkeys && off < n; i++) {
			ck_address_encode(a, g->keys[i]);
			off += (size_t)snprintf(out + off, n - off, " %s", a);
		}
		return;
	}
	case LEDGER_GOV_SET_ROLES:
		snprintf(out, n, "set the roles of member %u to %s, modes %s", g->member_id, roles, modes);
		return;
	case LEDGER_GOV_ADD_KEY:
		ck_address_encode(a, g->keys[0]);
		snprintf(out, n, "add key %s to member %u", a, g->member_id);
		return;
	case LEDGER_GOV_REVOKE_KEY:
		ck_address_encode(a, g->keys[0]);
		snprintf(out, n, "revoke key %s of member %u", a, g->member_id);
		return;
	case LEDGER_GOV_REMOVE_MEMBER:
		snprintf(out, n, "remove member %u", g->member_id);
		return;
	case LEDGER_GOV_METHODOLOGY: {
		/* Every number that creates credits: a governor approves these,
		 * not a version label. */
		const ledger_methodology *m = &g->methodology;
		size_t off = (size_t)snprintf(out, n,
					      "methodology version %u from height %llu: daily cap %u g "
					      "per citizen, claim window %u s before and %u s after the "
					      "block time;",
					      m->version, (unsigned long long)m->effective_height,
					      m->daily_cap_g, m->claim_before_s, m->claim_after_s);
		for (unsigned k = 1; k <= LEDGER_MODE_MAX && off < n; k++) {
			const ledger_mode_params *p = &m->mode[k];
			off += (size_t)snprintf(out + off, n - off,
						" %s %s %u mg/km, min %u m, max %u km/h, cap %u g%s",
						ledger_mode_name(k), p->enabled ? "on" : "off",
						p->reduction_mg_per_km, p->min_distance_m,
						p->max_speed_kmh, p->daily_cap_g,
						k < LEDGER_MODE_MAX ? ";" : "");
		}
		return;
	}
	case LEDGER_GOV_CLAWBACK: {
		static const uint8_t zero[CK_HASH_BYTES];
		char trip[2 * CK_HASH_BYTES + 1] = "none";
		ck_address_encode(a, g->account);
		wallet_amount_format(amt, g->amount_g);
		if (memcmp(g->trip_id, zero, CK_HASH_BYTES) != 0)
			cm_hex_encode(trip, g->trip_id, CK_HASH_BYTES);
		snprintf(out, n, "claw back %s kg from %s (trip %s): %s", amt, a, trip, g->reason);
		return;
	}
	case LEDGER_GOV_RECOVER:
		ck_address_encode(a, g->account);
		ck_address_encode(b, g->new_account);
		snprintf(out, n, "move the whole balance of %s to %s and retire the old key: %s", a, b,
			 g->reason);
		return;
	default:
		snprintf(out, n, "unknown govern action %u", g->action);
		return;
	}
}

int wallet_proposal_write(const char *path, const ledger_tx *tx, uint32_t threshold,
			  bool overwrite, char *msg, size_t msglen)
{
	cm_wr w;
	cm_wr_init(&w);
	ledger_tx_encode(tx, &w);
	if (cm_wr_error(&w)) {
		cm_wr_free(&w);
		return WALLET_E_NOMEM;
	}
	char *hex = malloc(2 * cm_wr_len(&w) + 1);
	char *summary = malloc(4096);
	json_t *appr = json_array();
	json_t *j = NULL;
	int rc = WALLET_E_NOMEM;
	if (hex == NULL || summary == NULL || appr == NULL)
		goto done;
	cm_hex_encode(hex, cm_wr_data(&w), cm_wr_len(&w));
	wallet_govern_summary(tx, summary, 4096);
	for (uint32_t i = 0; i < tx->napprovals; i++) {
		char a[CK_ADDRESS_STRLEN + 1];
		ck_address_encode(a, tx->approvals[i].key);
		json_array_append_new(appr, json_string(a));
	}
	j = json_pack("{s:s, s:s, s:I, s:s, s:s, s:O}", "format", PROPOSAL_FORMAT, "chain_id",
		      tx->chain_id, "threshold", (json_int_t)threshold, "summary", summary, "tx", hex,
		      "approvals", appr);
	if (j == NULL)
		goto done;
	char *text = json_dumps(j, JSON_INDENT(2));
	if (text == NULL)
		goto done;
	/* Write next to the target and move it into place: a reader never
	 * sees half a file, and without overwrite an existing proposal is
	 * never replaced (link fails if the name exists). */
	char tmp[WALLET_PATH_BYTES_MAX];
	rc = WALLET_E_IO;
	if (snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid()) < (int)sizeof tmp) {
		int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0) {
			size_t len = strlen(text);
			bool ok = write(fd, text, len) == (ssize_t)len && write(fd, "\n", 1) == 1 &&
				  fsync(fd) == 0;
			ok = close(fd) == 0 && ok;
			if (ok && overwrite)
				ok = rename(tmp, path) == 0;
			else if (ok)
				ok = link(tmp, path) == 0;
			int err = errno;
			unlink(tmp);
			if (ok)
				rc = 0;
			else
				wallet_msgf(msg, msglen, "%s: %s", path, strerror(err));
		} else {
			wallet_msgf(msg, msglen, "%s: %s", tmp, strerror(errno));
		}
	}
	free(text);
done:
	json_decref(j);
	json_decref(appr);
	free(summary);
	free(hex);
	cm_wr_free(&w);
	return rc;
}

int wallet_proposal_read(const char *path, ledger_tx **out, uint32_t *threshold, char *msg,
			 size_t msglen)
{
	*out = NULL;
	json_error_t je;
	json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL) {
		wallet_msgf(msg, msglen, "%s: %s", path, je.text);
		return access(path, R_OK) == 0 ? WALLET_E_PROPOSAL : WALLET_E_IO;
	}
	uint8_t *bytes = NULL;
	size_t len;
	ledger_tx *tx = NULL;
	uint64_t thr;
	int rc = WALLET_E_PROPOSAL;
	const char *fmt = wallet_json_str(j, "format");
	const char *chain = wallet_json_str(j, "chain_id");
	if (fmt == NULL || strcmp(fmt, PROPOSAL_FORMAT) != 0) {
		wallet_msgf(msg, msglen, "%s: not a carbon-wallet proposal (format)", path);
		goto done;
	}
	if (chain == NULL || wallet_json_u64(j, "threshold", &thr) != 0 || thr > LIM_TX_SIGS_MAX) {
		wallet_msgf(msg, msglen, "%s: chain_id or threshold missing or invalid", path);
		goto done;
	}
	if (wallet_json_bytes(j, "tx", &bytes, &len, LIM_TX_BYTES_MAX) != 0) {
		wallet_msgf(msg, msglen, "%s: tx is missing or not hex", path);
		goto done;
	}
	int drc = ledger_tx_decode(bytes, len, chain, &tx);
	if (drc != 0) {
		wallet_msgf(msg, msglen, "%s: transaction does not decode: %s", path,
			    ledger_strerror(drc));
		goto done;
	}
	if (tx->kind != LEDGER_TX_GOVERN) {
		wallet_msgf(msg, msglen, "%s: not a govern transaction", path);
		goto done;
	}
	cm_wr w;
	cm_wr_init(&w);
	ledger_govern_signing_bytes(tx, &w);
	if (cm_wr_error(&w)) {
		cm_wr_free(&w);
		rc = WALLET_E_NOMEM;
		goto done;
	}
	for (uint32_t i = 0; i < tx->napprovals; i++) {
		if (ck_verify(tx->approvals[i].sig, tx->approvals[i].key, CK_DOM_GOVERN, tx->chain_id,
			      cm_wr_data(&w), cm_wr_len(&w)) != 0) {
			char a[CK_ADDRESS_STRLEN + 1];
			ck_address_encode(a, tx->approvals[i].key);
			wallet_msgf(msg, msglen,
				    "%s: the approval of %s does not verify (the proposal was "
				    "changed after it was signed)",
				    path, a);
			cm_wr_free(&w);
			goto done;
		}
	}
	cm_wr_free(&w);
	*threshold = (uint32_t)thr;
	*out = tx;
	tx = NULL;
	rc = 0;
done:
	ledger_tx_free(tx);
	free(bytes);
	json_decref(j);
	return rc;
}

/* ---- methodology in the genesis schema ---------------------------------- */

static int field_u32(const json_t *o, const char *key, uint32_t *v, const char *where, char *msg,
		     size_t msglen)
{
	const json_t *x = json_object_get(o, key);
	if (!json_is_integer(x) || json_integer_value(x) < 0 ||
	    json_integer_value(x) > (json_int_t)UINT32_MAX) {
		wallet_msgf(msg, msglen, "%s%s: must be an integer 0..4294967295", where, key);
		return WALLET_E_METHODOLOGY;
	}
	*v = (uint32_t)json_integer_value(x);
	return 0;
}

static int only_keys(const json_t *o, const char *const *keys, size_t n, const char *where,
		     char *msg, size_t msglen)
{
	const char *k;
	const json_t *v;
	json_object_foreach((json_t *)o, k, v)
	{
		size_t i = 0;
		while (i < n && strcmp(k, keys[i]) != 0)
			i++;
		if (i == n) {
			wallet_msgf(msg, msglen, "%s%.64s: unknown key", where, k);
			return WALLET_E_METHODOLOGY;
		}
	}
	return 0;
}

int wallet_methodology_parse(const json_t *j, ledger_methodology *m, char *msg, size_t msglen)
{
	static const char *const top[] = {"version",        "effective_height", "daily_cap_g",
					  "claim_before_s", "claim_after_s",    "modes"};
	static const char *const per[] = {"enabled", "reduction_mg_per_km", "min_distance_m",
					  "max_speed_kmh", "daily_cap_g"};
	memset(m, 0, sizeof *m);
	if (!json_is_object(j)) {
		wallet_msgf(msg, msglen, "methodology must be a JSON object");
		return WALLET_E_METHODOLOGY;
	}
	int rc = only_keys(j, top, 6, "methodology.", msg, msglen);
	uint64_t eh = 0;
	if (rc == 0)
		rc = field_u32(j, "version", &m->version, "methodology.", msg, msglen);
	if (rc == 0 && wallet_json_u64(j, "effective_height", &eh) != 0) {
		wallet_msgf(msg, msglen, "methodology.effective_height: must be a non-negative integer");
		rc = WALLET_E_METHODOLOGY;
	}
	m->effective_height = eh;
	if (rc == 0)
		rc = field_u32(j, "daily_cap_g", &m->daily_cap_g, "methodology.", msg, msglen);
	if (rc == 0)
		rc = field_u32(j, "claim_before_s", &m->claim_before_s, "methodology.", msg, msglen);
	if (rc == 0)
		rc = field_u32(j, "claim_after_s", &m->claim_after_s, "methodology.", msg, msglen);
	if (rc != 0)
		return rc;
	const json_t *modes = json_object_get(j, "modes");
	if (!json_is_object(modes)) {
		wallet_msgf(msg, msglen, "methodology.modes: must be an object");
		return WALLET_E_METHODOLOGY;
	}
	const char *name;
	const json_t *v;
	json_object_foreach((json_t *)modes, name, v)
	{
		unsigned mode;
		if (ledger_mode_parse(name, &mode) != 0) {
			wallet_msgf(msg, msglen, "methodology.modes.%.32s: unknown mode", name);
			return WALLET_E_METHODOLOGY;
		}
	}
	for (unsigned mode = 1; mode <= LEDGER_MODE_MAX; mode++) {
		char where[64];
		const char *mn = ledger_mode_name(mode);
		snprintf(where, sizeof where, "methodology.modes.%s.", mn);
		const json_t *p = json_object_get(modes, mn);
		if (!json_is_object(p)) {
			wallet_msgf(msg, msglen, "methodology.modes.%s: missing", mn);
			return WALLET_E_METHODOLOGY;
		}
		ledger_mode_params *mp = &m->mode[mode];
		const json_t *en = json_object_get(p, "enabled");
		if (!json_is_boolean(en)) {
			wallet_msgf(msg, msglen, "%senabled: must be true or false", where);
			return WALLET_E_METHODOLOGY;
		}
		mp->enabled = json_is_true(en);
		if ((rc = only_keys(p, per, 5, where, msg, msglen)) != 0 ||
		    (rc = field_u32(p, "reduction_mg_per_km", &mp->reduction_mg_per_km, where, msg,
				    msglen)) != 0 ||
		    (rc = field_u32(p, "min_distance_m", &mp->min_distance_m, where, msg, msglen)) != 0 ||
		    (rc = field_u32(p, "max_speed_kmh", &mp->max_speed_kmh, where, msg, msglen)) != 0 ||
		    (rc = field_u32(p, "daily_cap_g", &mp->daily_cap_g, where, msg, msglen)) != 0)
			return rc;
	}
	if (ledger_methodology_check(m, msg, msglen) != 0)
		return WALLET_E_METHODOLOGY;
	return 0;
}

json_t *wallet_methodology_json(const ledger_methodology *m)
{
	json_t *modes = json_object();
	for (unsigned k = 1; modes != NULL && k <= LEDGER_MODE_MAX; k++) {
		const ledger_mode_params *p = &m->mode[k];
		json_t *o = json_pack("{s:b, s:I, s:I, s:I, s:I}", "enabled", p->enabled,
				      "reduction_mg_per_km", (json_int_t)p->reduction_mg_per_km,
				      "min_distance_m", (json_int_t)p->min_distance_m, "max_speed_kmh",
				      (json_int_t)p->max_speed_kmh, "daily_cap_g",
				      (json_int_t)p->daily_cap_g);
		if (o == NULL || json_object_set_new(modes, ledger_mode_name(k), o) != 0) {
			json_decref(modes);
			modes = NULL;
		}
	}
	if (modes == NULL)
		return NULL;
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:o}", "version", (json_int_t)m->version,
			 "effective_height", (json_int_t)m->effective_height, "daily_cap_g",
			 (json_int_t)m->daily_cap_g, "claim_before_s", (json_int_t)m->claim_before_s,
			 "claim_after_s", (json_int_t)m->claim_after_s, "modes", modes);
}

static void change(wallet_meth_change *out, uint32_t *n, const char *mode, const char *field,
		   uint64_t from, uint64_t to)
{
	if (from == to)
		return;
	assert(*n < WALLET_METH_FIELDS_MAX);
	wallet_meth_change *c = &out[(*n)++];
	if (mode != NULL)
		snprintf(c->field, sizeof c->field, "modes.%s.%s", mode, field);
	else
		snprintf(c->field, sizeof c->field, "%s", field);
	c->from = from;
	c->to = to;
}

uint32_t wallet_methodology_diff(const ledger_methodology *a, const ledger_methodology *b,
				 wallet_meth_change out[WALLET_METH_FIELDS_MAX])
{
	uint32_t n = 0;
	change(out, &n, NULL, "daily_cap_g", a->daily_cap_g, b->daily_cap_g);
	change(out, &n, NULL, "claim_before_s", a->claim_before_s, b->claim_before_s);
	change(out, &n, NULL, "claim_after_s", a->claim_after_s, b->claim_after_s);
	for (unsigned k = 1; k <= LEDGER_MODE_MAX; k++) {
		const ledger_mode_params *x = &a->mode[k], *y = &b->mode[k];
		const char *mn = ledger_mode_name(k);
		change(out, &n, mn, "enabled", x->enabled, y->enabled);
		change(out, &n, mn, "reduction_mg_per_km", x->reduction_mg_per_km,
		       y->reduction_mg_per_km);
		change(out, &n, mn, "min_distance_m", x->min_distance_m, y->min_distance_m);
		change(out, &n, mn, "max_speed_kmh", x->max_speed_kmh, y->max_speed_kmh);
		change(out, &n, mn, "daily_cap_g", x->daily_cap_g, y->daily_cap_g);
	}
	return n;
}
