/*
 * carbon-node: the command line of the daemon.
 *
 *   carbon-node init --genesis FILE --key FILE --home DIR [--p2p ADDR] [--api ADDR]
 *   carbon-node start --home DIR [--p2p ADDR] [--api ADDR] [--log-level L]
 *                     [--replica] [--passphrase-file FILE] [--fresh-safety]
 *   carbon-node audit --home DIR
 *
 * The keystore passphrase comes from --passphrase-file, the environment
 * variable CARBON_PASSPHRASE, or a prompt without echo; never from the
 * command line, where every user of the machine could read it.
 *
 * Exit codes: 0 success or clean stop, 1 runtime failure (see the log),
 * 2 usage error, 3 home or key problem.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <malloc.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "node/log.h"
#include "node/node.h"

#define PASS_MAX 1024

static void usage_init(FILE *f)
{
	fprintf(f,
		"usage: carbon-node init --genesis FILE --key FILE --home DIR [options]\n"
		"Prepares a home directory: copies the genesis and the member keystore in\n"
		"and writes config.json (peers from the genesis members' p2p addresses).\n"
		"  --genesis FILE   genesis.json made by carbon-genesis\n"
		"  --key FILE       this member's keystore file\n"
		"  --home DIR       home directory to create\n"
		"  --p2p HOST:PORT  peer listen address (default: the member's p2p_addr)\n"
		"  --api HOST:PORT  HTTP API listen address (default 127.0.0.1:8600)\n"
		"  --help           this text\n");
}

static void usage_start(FILE *f)
{
	fprintf(f,
		"usage: carbon-node start --home DIR [options]\n"
		"Runs the node until SIGINT or SIGTERM.\n"
		"  --home DIR              home directory made by 'carbon-node init'\n"
		"  --p2p HOST:PORT         override the peer listen address\n"
		"  --api HOST:PORT         override the HTTP API listen address\n"
		"  --log-level LEVEL       debug, info, warn or error\n"
		"  --replica               follow the chain without voting\n"
		"  --passphrase-file FILE  read the keystore passphrase from FILE\n"
		"                          (else $CARBON_PASSPHRASE, else a prompt)\n"
		"  --fresh-safety          allow a validator with no stored safety state to\n"
		"                          start on a ledger past genesis (a new key, or one\n"
		"                          that has not signed at these heights)\n"
		"  --help                  this text\n");
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: carbon-node COMMAND [options]\n"
		"  init    prepare a home directory from a genesis file and a member key\n"
		"  start   run the node\n"
		"  audit   check every invariant of a stopped node's ledger\n"
		"Run 'carbon-node COMMAND --help' for the options of a command.\n"
		"Exit codes: 0 ok, 1 runtime failure, 2 usage, 3 home or key problem.\n");
}

/* Reads the passphrase into buf (NUL-terminated); returns its length or -1. */
static int read_passphrase(const char *file, char *buf, size_t cap)
{
	const char *env = getenv("CARBON_PASSPHRASE");
	size_t n = 0;
	if (file) {
		FILE *f = fopen(file, "r");
		if (!f) {
			fprintf(stderr, "carbon-node: %s: %s\n", file, strerror(errno));
			return -1;
		}
		n = fread(buf, 1, cap - 1, f);
		fclose(f);
	} else if (env) {
		n = strlen(env);
		if (n >= cap)
			return -1;
		memcpy(buf, env, n);
	} else if (isatty(STDIN_FILENO)) {
		struct termios old, quiet;
		fprintf(stderr, "keystore passphrase: ");
		tcgetattr(STDIN_FILENO, &old);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
		if (!fgets(buf, (int)cap, stdin))
			buf[0] = '\0';
		tcsetattr(STDIN_FILENO, TCSANOW, &old);
		fprintf(stderr, "\n");
		n = strlen(buf);
	} else {
		fprintf(stderr, "carbon-node: no passphrase: use --passphrase-file or CARBON_PASSPHRASE\n");
		return -1;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	return (int)n;
}

static int cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{"genesis", required_argument, NULL, 'g'}, {"key", required_argument, NULL, 'k'},
		{"home", required_argument, NULL, 'H'},    {"p2p", required_argument, NULL, 'p'},
		{"api", required_argument, NULL, 'a'},     {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	const char *genesis = NULL, *key = NULL, *home = NULL, *p2p = NULL, *api = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'g': genesis = optarg; break;
		case 'k': key = optarg; break;
		case 'H': home = optarg; break;
		case 'p': p2p = optarg; break;
		case 'a': api = optarg; break;
		case 'h': usage_init(stdout); return 0;
		default: usage_init(stderr); return 2;
		}
	}
	if (!genesis || !key || !home || optind != argc) {
		usage_init(stderr);
		return 2;
	}
	if (sodium_init() < 0)
		return 1;
	if (node_init_home(home, genesis, key, p2p, api) != 0)
		return 3;
	printf("initialised %s\n", home);
	return 0;
}

static void usage_audit(FILE *f)
{
	fprintf(f,
		"usage: carbon-node audit --home DIR\n"
		"Checks every invariant of the stopped node's ledger: the sum of balances\n"
		"equals issued - redeemed + refunded - clawed back; no balance is negative;\n"
		"no trip is credited twice; no two credited trips of a citizen overlap; the\n"
		"state root recomputed from scratch equals the stored one.\n"
		"Exit codes: 0 every invariant holds, 1 a violation or an error, 2 usage,\n"
		"3 home problem (or the node is running).\n"
		"  --home DIR   home directory of the node\n"
		"  --help       this text\n");
}

static int cmd_audit(int argc, char **argv)
{
	static const struct option opts[] = {
		{"home", required_argument, NULL, 'H'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	const char *home = NULL;
	int c, rc;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'H': home = optarg; break;
		case 'h': usage_audit(stdout); return 0;
		default: usage_audit(stderr); return 2;
		}
	}
	if (!home || optind != argc) {
		usage_audit(stderr);
		return 2;
	}
	if (sodium_init() < 0)
		return 1;
	rc = node_audit_home(home);
	if (rc == NODE_E_HOME)
		return 3;
	return rc ? 1 : 0;
}

/* The ledger's pages are written through a shared memory map: when the
 * file system cannot back a page (disk full, I/O error), the write faults
 * with SIGBUS instead of returning an error. Nothing committed is lost (the
 * block being applied was not committed; a restart resumes from the last
 * commit), but the operator must learn why the node stopped. Only
 * async-signal-safe calls here. */
static void on_sigbus(int sig)
{
	static const char msg[] =
		"level=error event=fatal err=\"SIGBUS: a page of the ledger's memory map could not be "
		"read or written (disk full, I/O error, or a data file truncated under the node); nothing committed is "
		"lost, free space and restart\"\n";
	ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
	(void)w;
	signal(sig, SIG_DFL);
	raise(sig);
}

static int cmd_start(int argc, char **argv)
{
	static const struct option opts[] = {
		{"home", required_argument, NULL, 'H'},
		{"p2p", required_argument, NULL, 'p'},
		{"api", required_argument, NULL, 'a'},
		{"log-level", required_argument, NULL, 'l'},
		{"replica", no_argument, NULL, 'r'},
		{"passphrase-file", required_argument, NULL, 'f'},
		{"fresh-safety", no_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	node_overrides ov = {NULL, NULL, -1, -1, false};
	const char *home = NULL, *passfile = NULL;
	char *pass;
	int c, plen, rc;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'H': home = optarg; break;
		case 'p': ov.p2p_listen = optarg; break;
		case 'a': ov.api_listen = optarg; break;
		case 'l':
			ov.log_level = node_log_parse_level(optarg);
			if (ov.log_level < 0) {
				fprintf(stderr, "carbon-node: --log-level: debug, info, warn or error\n");
				return 2;
			}
			break;
		case 'r': ov.validator = 0; break;
		case 'f': passfile = optarg; break;
		case 'F': ov.fresh_safety = true; break;
		case 'h': usage_start(stdout); return 0;
		default: usage_start(stderr); return 2;
		}
	}
	if (!home || optind != argc) {
		usage_start(stderr);
		return 2;
	}
	signal(SIGBUS, on_sigbus);
	if (sodium_init() < 0)
		return 1;
	pass = sodium_malloc(PASS_MAX);
	if (!pass)
		return 1;
	plen = read_passphrase(passfile, pass, PASS_MAX);
	if (plen < 0) {
		sodium_free(pass);
		return 3;
	}
	rc = node_run(home, &ov, pass, (size_t)plen);
	sodium_free(pass); /* zeroes */
	if (rc == NODE_E_HOME || rc == NODE_E_KEY) {
		fprintf(stderr, "carbon-node: %s\n", node_strerror(rc));
		return 3;
	}
	return rc ? 1 : 0;
}

/* The node's heap is a handful of long-lived threads handing buffers to one
 * another (HTTP thread, verify workers, storage thread, loop). glibc would
 * give each its own arena and keep what it frees there, and it raises its
 * mmap threshold to the largest block freed, after which every block-sized
 * buffer (a proposal, a commit's copy) is carved from an arena and
 * fragments it. Two arenas and a fixed threshold keep the resident heap
 * near what is live (measured in docs/PERFORMANCE.md). */
static void tune_malloc(void)
{
#ifdef __GLIBC__
	(void)mallopt(M_ARENA_MAX, 2);
	(void)mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
}

int main(int argc, char **argv)
{
	tune_malloc();
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "init") == 0)
		return cmd_init(argc - 1, argv + 1);
	if (strcmp(argv[1], "start") == 0)
		return cmd_start(argc - 1, argv + 1);
	if (strcmp(argv[1], "audit") == 0)
		return cmd_audit(argc - 1, argv + 1);
	fprintf(stderr, "carbon-node: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
