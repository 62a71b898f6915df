/* Loading and saving of home/config.json (see config.h). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node/config.h"
#include "node/log.h"

void node_config_defaults(node_config *c)
{
	memset(c, 0, sizeof *c);
	strcpy(c->p2p_listen, "127.0.0.1:26600");
	strcpy(c->api_listen, "127.0.0.1:8600");
	c->log_level = NODE_LOG_INFO;
	c->block_interval_ms = 100;
	c->block_txs_max = 5000;
	c->block_trips_max = 20000;
	c->empty_block_ms = 1000;
	c->timeout_propose_ms = 3000;
	c->timeout_vote_ms = 500;
	c->timeout_delta_ms = 500;
	c->timeout_max_ms = 10000;
	c->validator = true;
	c->map_mb = 8192;
}

static int get_str(json_t *v, const char *name, char *out, size_t max, char *err, size_t errlen)
{
	if (!json_is_string(v) || json_string_length(v) >= max) {
		snprintf(err, errlen, "%s: expected a string of at most %zu bytes", name, max - 1);
		return -1;
	}
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int get_u32(json_t *v, const char *name, uint32_t min, uint32_t max, uint32_t *out,
		   char *err, size_t errlen)
{
	if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)min ||
	    json_integer_value(v) > (json_int_t)max) {
		snprintf(err, errlen, "%s: expected an integer in [%u, %u]", name, min, max);
		return -1;
	}
	*out = (uint32_t)json_integer_value(v);
	return 0;
}

/* Reads the whole file into *out (the caller frees), refusing one larger
 * than LIM_CONFIG_BYTES_MAX before it is parsed: a config is a few hundred
 * bytes, and a huge or endless file (a device, a mistake) is an error. */
static int read_bounded(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
	/* One byte more than the limit tells "too large" from "exactly at". */
	size_t cap = (size_t)LIM_CONFIG_BYTES_MAX + 1, n = 0;
	char *buf;
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!(buf = malloc(cap))) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	n = fread(buf, 1, cap, f);
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		goto fail;
	}
	if (n > LIM_CONFIG_BYTES_MAX) {
		snprintf(err, errlen, "%s: larger than the limit of %u bytes", path,
			 LIM_CONFIG_BYTES_MAX);
		goto fail;
	}
	fclose(f);
	*out = buf;
	*len = n;
	return 0;
fail:
	fclose(f);
	free(buf);
	return -1;
}

int node_config_load(const char *path, node_config *c, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root, *v;
	const char *key;
	int rc = -1;
	uint32_t u;
	char *text;
	size_t len;

	node_config_defaults(c);
	if (read_bounded(path, &text, &len, err, errlen) != 0)
		return -1;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (!root) {
		snprintf(err, errlen, "%s:%d: %s", path, jerr.line, jerr.text);
		return -1;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "%s: not a JSON object", path);
		goto out;
	}
	json_object_foreach(root, key, v) {
		if (strcmp(key, "p2p_listen") == 0) {
			if (get_str(v, key, c->p2p_listen, NODE_ADDR_MAX, err, errlen)) goto out;
		} else if (strcmp(key, "api_listen") == 0) {
			if (get_str(v, key, c->api_listen, NODE_ADDR_MAX, err, errlen)) goto out;
		} else if (strcmp(key, "log_level") == 0) {
			if (!json_is_string(v) || node_log_parse_level(json_string_value(v)) < 0) {
				snprintf(err, errlen, "log_level: one of debug, info, warn, error");
				goto out;
			}
			c->log_level = node_log_parse_level(json_string_value(v));
		} else if (strcmp(key, "block_interval_ms") == 0) {
			if (get_u32(v, key, 1, 60000, &c->block_interval_ms, err, errlen)) goto out;
		} else if (strcmp(key, "empty_block_ms") == 0) {
			if (get_u32(v, key, 1, 600000, &c->empty_block_ms, err, errlen)) goto out;
		} else if (strcmp(key, "block_txs_max") == 0) {
			if (get_u32(v, key, 1, LIM_BLOCK_TXS_MAX, &c->block_txs_max, err, errlen)) goto out;
		} else if (strcmp(key, "block_trips_max") == 0) {
			if (get_u32(v, key, LIM_TRIPS_PER_TX_MAX, LIM_BLOCK_TXS_MAX * LIM_TRIPS_PER_TX_MAX,
				    &c->block_trips_max, err, errlen)) goto out;
		} else if (strcmp(key, "timeout_propose_ms") == 0) {
			if (get_u32(v, key, 10, 600000, &c->timeout_propose_ms, err, errlen)) goto out;
		} else if (strcmp(key, "timeout_vote_ms") == 0) {
			if (get_u32(v, key, 10, 600000, &c->timeout_vote_ms, err, errlen)) goto out;
		} else if (strcmp(key, "timeout_delta_ms") == 0) {
			if (get_u32(v, key, 0, 600000, &c->timeout_delta_ms, err, errlen)) goto out;
		} else if (strcmp(key, "timeout_max_ms") == 0) {
			if (get_u32(v, key, 10, 3600000, &c->timeout_max_ms, err, errlen)) goto out;
		} else if (strcmp(key, "map_mb") == 0) {
			if (get_u32(v, key, 16, 1u << 22, &u, err, errlen)) goto out;
			c->map_mb = u;
		} else if (strcmp(key, "validator") == 0) {
			if (!json_is_boolean(v)) {
				snprintf(err, errlen, "validator: expected true or false");
				goto out;
			}
			c->validator = json_is_true(v);
		} else if (strcmp(key, "peers") == 0) {
			size_t i;
			json_t *p;
			if (!json_is_array(v) || json_array_size(v) > LIM_PEERS_MAX) {
				snprintf(err, errlen, "peers: expected an array of at most %u", LIM_PEERS_MAX);
				goto out;
			}
			json_array_foreach(v, i, p) {
				json_t *k = json_object_get(p, "key"), *a = json_object_get(p, "addr");
				int arc;
				if (!json_is_object(p) || !json_is_string(k) || json_object_size(p) > 2 ||
				    (a && !json_is_string(a))) {
					snprintf(err, errlen, "peers[%zu]: expected {\"key\": address, \"addr\": \"host:port\"}", i);
					goto out;
				}
				if ((arc = ck_address_decode(c->peers[i].key, json_string_value(k))) != 0) {
					snprintf(err, errlen, "peers[%zu].key: %s", i, ck_strerror(arc));
					goto out;
				}
				if (a && get_str(a, "peers[].addr", c->peers[i].addr, NODE_ADDR_MAX, err, errlen))
					goto out;
			}
			c->npeers = (uint32_t)json_array_size(v);
		} else {
			snprintf(err, errlen, "unknown configuration key \"%s\"", key);
			goto out;
		}
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

int node_config_save(const char *path, const node_config *c)
{
	static const char *const levels[] = {"debug", "info", "warn", "error"};
	char tmp[4096], addr[CK_ADDRESS_STRLEN + 1];
	json_t *root = json_object(), *peers = json_array();
	int fd = -1, rc = -1;
	char *text = NULL;

	json_object_set_new(root, "p2p_listen", json_string(c->p2p_listen));
	json_object_set_new(root, "api_listen", json_string(c->api_listen));
	json_object_set_new(root, "log_level", json_string(levels[c->log_level]));
	json_object_set_new(root, "validator", json_boolean(c->validator));
	json_object_set_new(root, "block_interval_ms", json_integer(c->block_interval_ms));
	json_object_set_new(root, "block_txs_max", json_integer(c->block_txs_max));
	json_object_set_new(root, "block_trips_max", json_integer(c->block_trips_max));
	json_object_set_new(root, "empty_block_ms", json_integer(c->empty_block_ms));
	json_object_set_new(root, "timeout_propose_ms", json_integer(c->timeout_propose_ms));
	json_object_set_new(root, "timeout_vote_ms", json_integer(c->timeout_vote_ms));
	json_object_set_new(root, "timeout_delta_ms", json_integer(c->timeout_delta_ms));
	json_object_set_new(root, "timeout_max_ms", json_integer(c->timeout_max_ms));
	json_object_set_new(root, "map_mb", json_integer((json_int_t)c->map_mb));
	for (uint32_t i = 0; i < c->npeers; i++) {
		ck_address_encode(addr, c->peers[i].key);
		json_array_append_new(peers, json_pack("{s:s,s:s}", "key", addr, "addr", c->peers[i].addr));
	}
	json_object_set_new(root, "peers", peers);
	text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (!text)
		goto out;
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		goto out;
	size_t len = strlen(text);
	if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) != 0)
		goto out;
	if (rename(tmp, path) != 0)
		goto out;
	rc = 0;
out:
	if (rc)
		NLOG_ERROR("config_save", "path=%s err=\"%s\"", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	free(text);
	json_decref(root);
	return rc;
}
