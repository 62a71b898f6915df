/*
 * libFuzzer target for node_config_load, the reader of a node's
 * config.json. It takes a path, so the input is served from an in-memory
 * file (fuzz_file). Any input either fails with -1 and a NUL-terminated
 * message, or gives a configuration inside its documented ranges that
 * node_config_save writes and node_config_load reads back identically
 * (the file `carbon-node init` writes is the file `start` reads).
 * Seeds: configurations written by node_config_save (gen_corpus).
 */
#include <errno.h>

#include "node/config.h"
#include "node/log.h"
#include "tests/fuzz/fuzz.h"

static char dir[64];
static char saved[96];

static void init(void)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(dir, sizeof dir, "%s/carbon-fuzz-config.XXXXXX", base);
	FUZZ_CHECK(mkdtemp(dir) != NULL);
	snprintf(saved, sizeof saved, "%s/config.json", dir);
	/* Only this process uses the directory; remove it at exit. */
	node_log_set_level(NODE_LOG_ERROR);
}

static void cleanup(void)
{
	unlink(saved);
	rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (dir[0] == '\0') {
		init();
		atexit(cleanup);
	}
	const char *path = fuzz_file(data, size);
	node_config c, back;
	char err[256];
	memset(err, 'x', sizeof err);
	if (node_config_load(path, &c, err, sizeof err) != 0) {
		FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL);
		return 0;
	}
	FUZZ_CHECK(memchr(c.p2p_listen, '\0', sizeof c.p2p_listen) != NULL);
	FUZZ_CHECK(memchr(c.api_listen, '\0', sizeof c.api_listen) != NULL);
	FUZZ_CHECK(c.npeers <= LIM_PEERS_MAX);
	FUZZ_CHECK(c.log_level >= NODE_LOG_DEBUG && c.log_level <= NODE_LOG_ERROR);
	FUZZ_CHECK(c.block_txs_max >= 1 && c.block_txs_max <= LIM_BLOCK_TXS_MAX);
	FUZZ_CHECK(c.timeout_propose_ms >= 10 && c.timeout_vote_ms >= 10);
	for (uint32_t i = 0; i < c.npeers; i++)
		FUZZ_CHECK(memchr(c.peers[i].addr, '\0', sizeof c.peers[i].addr) != NULL);

	FUZZ_CHECK(node_config_save(saved, &c) == 0);
	if (node_config_load(saved, &back, err, sizeof err) != 0)
		fprintf(stderr, "reading back what node_config_save wrote: %s\n", err);
	FUZZ_CHECK(node_config_load(saved, &back, err, sizeof err) == 0);
	/* Field by field: the structs' padding is not part of the value. */
	FUZZ_CHECK(strcmp(c.p2p_listen, back.p2p_listen) == 0);
	FUZZ_CHECK(strcmp(c.api_listen, back.api_listen) == 0);
	FUZZ_CHECK(c.npeers == back.npeers);
	for (uint32_t i = 0; i < c.npeers; i++) {
		FUZZ_CHECK(memcmp(c.peers[i].key, back.peers[i].key, CK_PUBKEY_BYTES) == 0);
		FUZZ_CHECK(strcmp(c.peers[i].addr, back.peers[i].addr) == 0);
	}
	FUZZ_CHECK(c.log_level == back.log_level);
	FUZZ_CHECK(c.block_interval_ms == back.block_interval_ms);
	FUZZ_CHECK(c.block_txs_max == back.block_txs_max);
	FUZZ_CHECK(c.empty_block_ms == back.empty_block_ms);
	FUZZ_CHECK(c.timeout_propose_ms == back.timeout_propose_ms);
	FUZZ_CHECK(c.timeout_vote_ms == back.timeout_vote_ms);
	FUZZ_CHECK(c.timeout_delta_ms == back.timeout_delta_ms);
	FUZZ_CHECK(c.timeout_max_ms == back.timeout_max_ms);
	FUZZ_CHECK(c.validator == back.validator);
	FUZZ_CHECK(c.map_mb == back.map_mb);
	return 0;
}
