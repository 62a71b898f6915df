/*
 * carbon-genesis: creates a network (one key per founding member in a
 * passphrase-encrypted keystore, and genesis.json) from a short
 * description, checks a genesis file and prints a readable summary, or
 * prints its hash. Every rule about what a valid genesis is lives in
 * ledger/genesis.c; this tool only composes the file, generates keys and
 * talks to the operator. Subcommands are a table; usage and exit codes in
 * genesis/README.md.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "ledger/ledger.h"

enum genesis_exit {
	GENESIS_EXIT_OK = 0,
	GENESIS_EXIT_INVALID = 1,   /* the genesis or the description is invalid */
	GENESIS_EXIT_USAGE = 2,     /* bad command line */
	GENESIS_EXIT_FAILURE = 3,   /* I/O, keystore, refusal to overwrite, memory */
};

#define GENESIS_ERR_BYTES 512u
#define GENESIS_PASS_BYTES_MAX 1024u
#define GENESIS_PATH_BYTES 4096u

static const char *prog = "carbon-genesis";

static void die_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void die_msg(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Reads a whole file of at most max bytes into a NUL-terminated buffer the
 * caller frees. Prints its own error. */
static int read_file(const char *path, size_t max, char **out, size_t *outlen)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		die_msg("%s: %s", path, strerror(errno));
		return -1;
	}
	char *buf = malloc(max + 2);
	size_t len = 0;
	int rc = -1;
	if (buf == NULL) {
		die_msg("out of memory");
		goto done;
	}
	while (len < max + 1) {
		ssize_t n = read(fd, buf + len, max + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			die_msg("%s: %s", path, strerror(errno));
			goto done;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		die_msg("%s: larger than %zu bytes", path, max);
		goto done;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;
	rc = 0;
done:
	free(buf);
	close(fd);
	return rc;
}

/* ---- passphrase --------------------------------------------------------- */

/* Reads one line from the terminal without echo into pass (sodium memory). */
static int prompt_line(FILE *tty, const char *prompt, char *pass, size_t cap)
{
	struct termios old, noecho;
	int fd = fileno(tty);
	if (tcgetattr(fd, &old) != 0)
		return -1;
	noecho = old;
	noecho.c_lflag &= ~(tcflag_t)ECHO;
	noecho.c_lflag |= ECHONL;
	fputs(prompt, tty);
	fflush(tty);
	if (tcsetattr(fd, TCSAFLUSH, &noecho) != 0)
		return -1;
	char *got = fgets(pass, (int)cap, tty);
	tcsetattr(fd, TCSAFLUSH, &old);
	if (got == NULL)
		return -1;
	pass[strcspn(pass, "\r\n")] = '\0';
	return 0;
}

/* The passphrase never comes from the command line (it would show in ps
 * and in shell history): a file, the CARBON_PASSPHRASE variable, or a
 * prompt without echo. *pass is sodium_malloc'd; sodium_free zeroes it. */
static int get_passphrase(const char *file, char **pass)
{
	*pass = sodium_malloc(GENESIS_PASS_BYTES_MAX + 1);
	if (*pass == NULL) {
		die_msg("out of memory");
		return GENESIS_EXIT_FAILURE;
	}
	char *p = *pass;
	p[0] = '\0';
	if (file != NULL) {
		char *buf;
		size_t len;
		if (read_file(file, GENESIS_PASS_BYTES_MAX, &buf, &len) != 0)
			return GENESIS_EXIT_FAILURE;
		/* The first line is the passphrase, as `echo pw > file` writes it. */
		size_t n = strcspn(buf, "\r\n");
		memcpy(p, buf, n);
		p[n] = '\0';
		sodium_memzero(buf, len);
		free(buf);
	} else if (getenv("CARBON_PASSPHRASE") != NULL) {
		const char *env = getenv("CARBON_PASSPHRASE");
		if (strlen(env) > GENESIS_PASS_BYTES_MAX) {
			die_msg("CARBON_PASSPHRASE: longer than %u bytes", GENESIS_PASS_BYTES_MAX);
			return GENESIS_EXIT_USAGE;
		}
		strcpy(p, env);
	} else {
		FILE *tty = isatty(STDIN_FILENO) ? fopen("/dev/tty", "r+") : NULL;
		if (tty == NULL) {
			die_msg("no passphrase: use --passphrase-file F, set CARBON_PASSPHRASE, "
				"or run on a terminal");
			return GENESIS_EXIT_USAGE;
		}
		char *again = sodium_malloc(GENESIS_PASS_BYTES_MAX + 2);
		int rc = again == NULL ||
			 prompt_line(tty, "Passphrase for the new keystores: ", p,
				     GENESIS_PASS_BYTES_MAX + 1) != 0 ||
			 prompt_line(tty, "Same passphrase again: ", again,
				     GENESIS_PASS_BYTES_MAX + 2) != 0;
		bool same = rc == 0 && strcmp(p, again) == 0;
		sodium_free(again);
		fclose(tty);
		if (rc) {
			die_msg("cannot read the passphrase from the terminal");
			return GENESIS_EXIT_FAILURE;
		}
		if (!same) {
			die_msg("the two passphrases differ");
			return GENESIS_EXIT_USAGE;
		}
	}
	if (p[0] == '\0') {
		die_msg("the passphrase is empty");
		return GENESIS_EXIT_USAGE;
	}
	return GENESIS_EXIT_OK;
}

/* ---- composing genesis.json from a description ------------------------- */

/* Fails with "desc: path: msg" for what only a description can get wrong;
 * everything else is found by ledger_genesis_parse on the composed file. */
static int desc_keys(const json_t *obj, const char *path, const char *const *allowed,
		     size_t nallowed, const char *const *required, size_t nrequired)
{
	if (!json_is_object(obj)) {
		die_msg("description: %s: must be an object", path);
		return -1;
	}
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key, v) {
		(void)v;
		bool known = false;
		for (size_t i = 0; i < nallowed && !known; i++)
			known = strcmp(key, allowed[i]) == 0;
		if (!known) {
			die_msg("description: %s%s%s: unknown key", path, *path ? "." : "", key);
			return -1;
		}
	}
	for (size_t i = 0; i < nrequired; i++)
		if (json_object_get(obj, required[i]) == NULL) {
			die_msg("description: %s%s%s: missing", path, *path ? "." : "",
				required[i]);
			return -1;
		}
	return 0;
}

/* Applies the description's methodology overrides to the defaults: every
 * key must exist in the defaults (so a typo is an error, not a silently
 * ignored setting); objects merge, other values replace. */
static int merge_overrides(json_t *base, const json_t *over, const char *path)
{
	if (!json_is_object(over)) {
		die_msg("description: %s: must be an object", path);
		return -1;
	}
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)over, key, v) {
		char p[256];
		snprintf(p, sizeof p, "%s.%s", path, key);
		json_t *b = json_object_get(base, key);
		if (b == NULL) {
			die_msg("description: %s: unknown key", p);
			return -1;
		}
		if (json_is_object(b)) {
			if (merge_overrides(b, v, p) != 0)
				return -1;
		} else if (json_object_set(base, key, v) != 0) {
			die_msg("out of memory");
			return -1;
		}
	}
	return 0;
}

/* The default methodology and the limits, as JSON: taken from the genesis
 * writer itself, so the tool never repeats a number ledger/ owns. */
static json_t *defaults_json(void)
{
	ledger_genesis g;
	memset(&g, 0, sizeof g);
	ledger_methodology_default(&g.methodology);
	char *s = NULL;
	if (ledger_genesis_to_json(&g, &s) != 0)
		return NULL;
	json_t *j = json_loads(s, 0, NULL);
	free(s);
	return j;
}

/* Builds the genesis JSON text: description fields, one generated public
 * key per member, time, default methodology with overrides, limits. */
static int compose(const json_t *desc, const char *chain_id, uint64_t time_ms,
		   const ck_pubkey *pks, size_t n, char **out)
{
	static const char *const member_keys[] = {"name", "roles", "modes", "p2p_addr"};
	static const char *const member_req[] = {"name", "roles"};
	int rc = -1;
	json_t *defaults = defaults_json();
	json_t *g = json_object(), *members = json_array();
	if (defaults == NULL || g == NULL || members == NULL) {
		die_msg("out of memory");
		goto done;
	}
	bool ok = true;
	ok &= json_object_set_new(g, "chain_id", chain_id ? json_string(chain_id)
		: json_incref(json_object_get(desc, "chain_id"))) == 0;
	ok &= json_object_set_new(g, "genesis_time_ms", json_integer((json_int_t)time_ms)) == 0;
	ok &= json_object_set(g, "tz_offset_s", json_object_get(desc, "tz_offset_s")) == 0;
	ok &= json_object_set(g, "governor_threshold",
			      json_object_get(desc, "governor_threshold")) == 0;
	const json_t *dm = json_object_get(desc, "members");
	for (size_t i = 0; i < n; i++) {
		const json_t *d = json_array_get(dm, i);
		char path[32];
		snprintf(path, sizeof path, "members[%zu]", i);
		if (desc_keys(d, path, member_keys, 4, member_req, 2) != 0)
			goto done;
		json_t *m = json_object(), *keys = json_array();
		char addr[CK_ADDRESS_STRLEN + 1];
		ck_address_encode(addr, pks[i]);
		const json_t *modes = json_object_get(d, "modes");
		const json_t *p2p = json_object_get(d, "p2p_addr");
		ok &= m != NULL && keys != NULL;
		ok &= json_array_append_new(keys, json_string(addr)) == 0;
		ok &= json_object_set(m, "name", json_object_get(d, "name")) == 0;
		ok &= json_object_set(m, "roles", json_object_get(d, "roles")) == 0;
		ok &= json_object_set_new(m, "modes", modes ? json_incref((json_t *)modes)
							    : json_array()) == 0;
		ok &= json_object_set_new(m, "keys", keys) == 0;
		ok &= json_object_set_new(m, "p2p_addr", p2p ? json_incref((json_t *)p2p)
							       : json_string("")) == 0;
		ok &= json_array_append_new(members, m) == 0;
	}
	ok &= json_object_set(g, "members", members) == 0;
	json_t *meth = json_object_get(defaults, "methodology");
	const json_t *over = json_object_get(desc, "methodology");
	if (over != NULL && merge_overrides(meth, over, "methodology") != 0)
		goto done;
	ok &= json_object_set(g, "methodology", meth) == 0;
	ok &= json_object_set(g, "limits", json_object_get(defaults, "limits")) == 0;
	if (!ok || (*out = json_dumps(g, JSON_INDENT(2))) == NULL) {
		die_msg("out of memory");
		goto done;
	}
	rc = 0;
done:
	json_decref(members);
	json_decref(g);
	json_decref(defaults);
	return rc;
}

/* Writes text to dir/genesis.json with mode 0644 without ever replacing an
 * existing file: a temporary file, fsync, link() (which fails if the name
 * exists, unlike rename), then fsync of the directory. */
static int write_genesis_file(const char *dir, const char *text)
{
	char tmp[GENESIS_PATH_BYTES], final[GENESIS_PATH_BYTES];
	snprintf(final, sizeof final, "%s/genesis.json", dir);
	snprintf(tmp, sizeof tmp, "%s/.genesis.json.XXXXXX", dir);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		die_msg("%s: %s", tmp, strerror(errno));
		return -1;
	}
	size_t len = strlen(text), off = 0;
	int rc = -1;
	if (fchmod(fd, 0644) != 0)
		goto io;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto io;
		off += (size_t)n;
	}
	if (fsync(fd) != 0)
		goto io;
	if (link(tmp, final) != 0) {
		die_msg("%s: %s", final, strerror(errno));
		goto done;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	rc = 0;
	goto done;
io:
	die_msg("%s: %s", tmp, strerror(errno));
done:
	close(fd);
	unlink(tmp);
	return rc;
}

static int make_dir(const char *path, mode_t mode)
{
	if (mkdir(path, mode) == 0 || errno == EEXIST)
		return 0;
	die_msg("%s: %s", path, strerror(errno));
	return -1;
}

static void hash_hex(char out[2 * CK_HASH_BYTES + 1], const ck_hash h)
{
	cm_hex_encode(out, h, CK_HASH_BYTES);
}

static void usage_create(FILE *f)
{
	fprintf(f,
		"usage: %s create --desc FILE --out DIR [--passphrase-file F]\n"
		"                      [--chain-id ID] [--time-ms T]\n"
		"\n"
		"Generates one key per member of the description into DIR/keys/<name>.key\n"
		"(passphrase-encrypted keystores, mode 0600), writes DIR/genesis.json and\n"
		"prints its hash. Refuses to overwrite an existing DIR/genesis.json.\n"
		"\n"
		"  --desc FILE            network description (genesis/README.md)\n"
		"  --out DIR              output directory (created if missing)\n"
		"  --passphrase-file F    first line of F is the keystore passphrase;\n"
		"                         else $CARBON_PASSPHRASE, else a terminal prompt\n"
		"  --chain-id ID          overrides the description's chain_id\n"
		"  --time-ms T            genesis time in Unix milliseconds (default: now)\n"
		"  -h, --help             this text\n",
		prog);
}

static int parse_u64(const char *s, uint64_t *out)
{
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > INT64_MAX)
		return -1;
	*out = v;
	return 0;
}

static int cmd_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{"desc", required_argument, NULL, 'd'},
		{"out", required_argument, NULL, 'o'},
		{"passphrase-file", required_argument, NULL, 'p'},
		{"chain-id", required_argument, NULL, 'c'},
		{"time-ms", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *desc_path = NULL, *out = NULL, *pass_file = NULL, *chain_id = NULL;
	uint64_t time_ms = 0;
	bool have_time = false;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': desc_path = optarg; break;
		case 'o': out = optarg; break;
		case 'p': pass_file = optarg; break;
		case 'c': chain_id = optarg; break;
		case 't':
			if (parse_u64(optarg, &time_ms) != 0) {
				die_msg("--time-ms: \"%s\" is not a non-negative integer", optarg);
				return GENESIS_EXIT_USAGE;
			}
			have_time = true;
			break;
		case 'h': usage_create(stdout); return GENESIS_EXIT_OK;
		default: usage_create(stderr); return GENESIS_EXIT_USAGE;
		}
	}
	if (optind != argc || desc_path == NULL || out == NULL) {
		usage_create(stderr);
		return GENESIS_EXIT_USAGE;
	}
	if (strlen(out) > GENESIS_PATH_BYTES - 128) {
		die_msg("--out: path too long");
		return GENESIS_EXIT_USAGE;
	}
	if (!have_time) {
		/* A tool, not consensus: the operator's clock is the natural
		 * default, and --time-ms makes the file reproducible. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		time_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	}

	char path[GENESIS_PATH_BYTES];
	snprintf(path, sizeof path, "%s/genesis.json", out);
	struct stat st;
	if (lstat(path, &st) == 0) {
		die_msg("%s exists: refusing to overwrite a genesis", path);
		return GENESIS_EXIT_FAILURE;
	}

	int rc = GENESIS_EXIT_FAILURE;
	char *text = NULL, *gtext = NULL, *final = NULL, *pass = NULL;
	size_t len = 0, n = 0;
	json_t *desc = NULL;
	ck_pubkey *pks = NULL;
	uint8_t *sks = NULL;
	ledger_genesis *g = NULL;
	char err[GENESIS_ERR_BYTES];

	if (read_file(desc_path, LIM_GENESIS_BYTES_MAX, &text, &len) != 0)
		goto done;
	json_error_t je;
	desc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (desc == NULL) {
		die_msg("%s: JSON syntax, line %d column %d: %s", desc_path, je.line, je.column,
			je.text);
		rc = GENESIS_EXIT_INVALID;
		goto done;
	}
	static const char *const top_keys[] = {"chain_id", "tz_offset_s", "governor_threshold",
					       "members", "methodology"};
	static const char *const top_req[] = {"tz_offset_s", "governor_threshold", "members",
					      "chain_id"};
	/* --chain-id makes the description's chain_id optional. */
	rc = GENESIS_EXIT_INVALID;
	if (desc_keys(desc, "", top_keys, 5, top_req, chain_id ? 3 : 4) != 0)
		goto done;
	const json_t *dm = json_object_get(desc, "members");
	if (!json_is_array(dm) || json_array_size(dm) < 1 ||
	    json_array_size(dm) > LIM_MEMBERS_MAX) {
		die_msg("description: members: must be an array of 1..%u members",
			LIM_MEMBERS_MAX);
		goto done;
	}
	n = json_array_size(dm);

	rc = GENESIS_EXIT_FAILURE;
	pks = calloc(n, sizeof *pks);
	sks = sodium_malloc(n * CK_SECKEY_BYTES);
	if (pks == NULL || sks == NULL) {
		die_msg("out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++)
		ck_keypair(pks[i], sks + i * CK_SECKEY_BYTES);

	/* Validate the composed file before asking for a passphrase or
	 * writing anything: a bad description leaves no trace. */
	rc = GENESIS_EXIT_INVALID;
	if (compose(desc, chain_id, time_ms, (const ck_pubkey *)pks, n, &gtext) != 0)
		goto done;
	if (ledger_genesis_parse(gtext, strlen(gtext), &g, err, sizeof err) != 0) {
		die_msg("%s: %s", desc_path, err);
		goto done;
	}
	rc = get_passphrase(pass_file, &pass);
	if (rc != GENESIS_EXIT_OK)
		goto done;

	rc = GENESIS_EXIT_FAILURE;
	snprintf(path, sizeof path, "%s/keys", out);
	if (make_dir(out, 0755) != 0 || make_dir(path, 0700) != 0)
		goto done;
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/keys/%s.key", out, g->members[i].name);
		if (lstat(path, &st) == 0) {
			die_msg("%s exists: refusing to overwrite a key", path);
			goto done;
		}
		int krc = ck_keystore_write(path, sks + i * CK_SECKEY_BYTES, pass, strlen(pass),
					    CK_KDF_INTERACTIVE);
		if (krc != 0) {
			die_msg("%s: %s", path, ck_strerror(krc));
			goto done;
		}
	}
	if (ledger_genesis_to_json(g, &final) != 0) {
		die_msg("out of memory");
		goto done;
	}
	size_t flen = strlen(final);
	char *withnl = realloc(final, flen + 2);
	if (withnl == NULL) {
		die_msg("out of memory");
		goto done;
	}
	final = withnl;
	memcpy(final + flen, "\n", 2);
	if (write_genesis_file(out, final) != 0)
		goto done;

	char hex[2 * CK_HASH_BYTES + 1];
	hash_hex(hex, g->hash);
	printf("genesis %s/genesis.json\n", out);
	printf("chain id %s, %u members\n", g->chain_id, g->nmembers);
	for (uint32_t i = 0; i < g->nmembers; i++) {
		char addr[CK_ADDRESS_STRLEN + 1];
		ck_address_encode(addr, g->members[i].keys[0]);
		printf("  #%u %-16s %s  %s/keys/%s.key\n", g->members[i].id, g->members[i].name,
		       addr, out, g->members[i].name);
	}
	printf("hash %s\n", hex);
	rc = GENESIS_EXIT_OK;
done:
	if (sks != NULL)
		sodium_free(sks);
	if (pass != NULL)
		sodium_free(pass);
	ledger_genesis_free(g);
	free(final);
	free(gtext);
	free(pks);
	json_decref(desc);
	free(text);
	return rc;
}

/* ---- verify and hash ---------------------------------------------------- */

static void roles_str(char *out, size_t cap, uint32_t roles, uint32_t modes)
{
	size_t o = 0;
	out[0] = '\0';
	for (uint32_t bit = 1; bit <= LEDGER_ROLES_ALL; bit <<= 1) {
		if (!(roles & bit))
			continue;
		o += (size_t)snprintf(out + o, o < cap ? cap - o : 0, "%s%s", o ? ", " : "",
				      ledger_role_name(bit));
		if (bit == LEDGER_ROLE_ISSUER) {
			const char *sep = " (";
			for (unsigned m = 1; m <= LEDGER_MODE_MAX; m++)
				if (modes & (1u << m)) {
					o += (size_t)snprintf(out + o, o < cap ? cap - o : 0, "%s%s",
							      sep, ledger_mode_name(m));
					sep = ", ";
				}
			o += (size_t)snprintf(out + o, o < cap ? cap - o : 0, ")");
		}
	}
}

/* Local time of the genesis in the city's zone, for display only. */
static void time_str(char *out, size_t cap, uint64_t ms, int32_t tz)
{
	time_t t = (time_t)(ms / 1000u) + tz;
	struct tm tm;
	char when[32] = "?";
	if (gmtime_r(&t, &tm) != NULL)
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
	unsigned atz = (unsigned)(tz < 0 ? -tz : tz);
	snprintf(out, cap, "%s.%03u %c%02u:%02u", when, (unsigned)(ms % 1000u),
		 tz < 0 ? '-' : '+', atz / 3600u, atz % 3600u / 60u);
}

static void print_summary(const char *file, const ledger_genesis *g)
{
	char buf[256];
	printf("genesis      %s\n", file);
	printf("chain id     %s\n", g->chain_id);
	time_str(buf, sizeof buf, g->genesis_time_ms, g->tz_offset_s);
	printf("time         %llu ms = %s\n", (unsigned long long)g->genesis_time_ms, buf);
	unsigned atz = (unsigned)(g->tz_offset_s < 0 ? -g->tz_offset_s : g->tz_offset_s);
	printf("time zone    UTC%c%02u:%02u (%d s): caps reset at local midnight\n",
	       g->tz_offset_s < 0 ? '-' : '+', atz / 3600u, atz % 3600u / 60u, g->tz_offset_s);
	printf("members      %u\n", g->nmembers);
	for (uint32_t i = 0; i < g->nmembers; i++) {
		const ledger_member *m = &g->members[i];
		roles_str(buf, sizeof buf, m->roles, m->modes);
		printf("  #%-3u %-16s %s\n", m->id, m->name, buf);
		for (uint32_t k = 0; k < m->nkeys; k++) {
			char addr[CK_ADDRESS_STRLEN + 1];
			ck_address_encode(addr, m->keys[k]);
			printf("       key %s\n", addr);
		}
		if (m->p2p_addr[0])
			printf("       p2p %s\n", m->p2p_addr);
	}
	for (uint32_t role = LEDGER_ROLE_VALIDATOR; role; role = role == LEDGER_ROLE_VALIDATOR
			? LEDGER_ROLE_GOVERNOR : 0) {
		uint32_t cnt = 0;
		for (uint32_t i = 0; i < g->nmembers; i++)
			cnt += (g->members[i].roles & role) != 0;
		printf("%-12s %u:", role == LEDGER_ROLE_VALIDATOR ? "validators" : "governors",
		       cnt);
		for (uint32_t i = 0; i < g->nmembers; i++)
			if (g->members[i].roles & role)
				printf(" %s", g->members[i].name);
		printf("\n");
	}
	printf("threshold    %u governor(s) must sign a governance transaction\n",
	       g->governor_threshold);
	const ledger_methodology *mt = &g->methodology;
	printf("methodology  version %u, effective from height %llu\n", mt->version,
	       (unsigned long long)mt->effective_height);
	printf("  claim window %u s (%u d %u h) before the block time, %u s after\n",
	       mt->claim_before_s, mt->claim_before_s / 86400u, mt->claim_before_s % 86400u / 3600u,
	       mt->claim_after_s);
	printf("  daily cap    %u g per citizen, all modes\n", mt->daily_cap_g);
	printf("  %-8s %-8s %12s %10s %10s %10s\n", "mode", "enabled", "factor g/km",
	       "min dist", "max speed", "daily cap");
	for (unsigned i = 1; i <= LEDGER_MODE_MAX; i++) {
		const ledger_mode_params *p = &mt->mode[i];
		char cap[24];
		if (p->daily_cap_g)
			snprintf(cap, sizeof cap, "%u g", p->daily_cap_g);
		else
			snprintf(cap, sizeof cap, "none");
		/* Milligrams per km shown as grams with three decimals, by
		 * integer division: no rounding ever touches a factor. */
		printf("  %-8s %-8s %8u.%03u %8u m %5u km/h %10s\n", ledger_mode_name(i),
		       p->enabled ? "yes" : "no", p->reduction_mg_per_km / 1000u,
		       p->reduction_mg_per_km % 1000u, p->min_distance_m, p->max_speed_kmh, cap);
	}
	printf("limits       equal to this build's consensus-critical limits\n");
	hash_hex(buf, g->hash);
	printf("hash         %s\n", buf);
}

static void usage_verify(FILE *f)
{
	fprintf(f,
		"usage: %s verify FILE\n"
		"\n"
		"Parses and validates a genesis file and prints a readable summary and its\n"
		"hash. Exit 0 if valid, 1 if invalid (with the field at fault).\n",
		prog);
}

static void usage_hash(FILE *f)
{
	fprintf(f,
		"usage: %s hash FILE\n"
		"\n"
		"Validates a genesis file and prints only its hash (64 hex digits).\n",
		prog);
}

/* The FILE argument of verify and hash, with --help. */
static int one_file_arg(int argc, char **argv, void (*usage)(FILE *), const char **file)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return GENESIS_EXIT_OK;
		}
		usage(stderr);
		return GENESIS_EXIT_USAGE;
	}
	if (optind != argc - 1) {
		usage(stderr);
		return GENESIS_EXIT_USAGE;
	}
	*file = argv[optind];
	return -1;
}

static int load_or_report(const char *file, ledger_genesis **g)
{
	char err[GENESIS_ERR_BYTES];
	int rc = ledger_genesis_load(file, g, err, sizeof err);
	if (rc == 0)
		return GENESIS_EXIT_OK;
	die_msg("%s: invalid: %s", file, err);
	return rc == LEDGER_E_GENESIS ? GENESIS_EXIT_INVALID : GENESIS_EXIT_FAILURE;
}

static int cmd_verify(int argc, char **argv)
{
	const char *file;
	int rc = one_file_arg(argc, argv, usage_verify, &file);
	if (rc >= 0)
		return rc;
	ledger_genesis *g;
	rc = load_or_report(file, &g);
	if (rc != GENESIS_EXIT_OK)
		return rc;
	print_summary(file, g);
	ledger_genesis_free(g);
	return GENESIS_EXIT_OK;
}

static int cmd_hash(int argc, char **argv)
{
	const char *file;
	int rc = one_file_arg(argc, argv, usage_hash, &file);
	if (rc >= 0)
		return rc;
	ledger_genesis *g;
	rc = load_or_report(file, &g);
	if (rc != GENESIS_EXIT_OK)
		return rc;
	char hex[2 * CK_HASH_BYTES + 1];
	hash_hex(hex, g->hash);
	printf("%s\n", hex);
	ledger_genesis_free(g);
	return GENESIS_EXIT_OK;
}

/* ---- dispatch ----------------------------------------------------------- */

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	void (*usage)(FILE *f);
	const char *help;
} commands[] = {
	{"create", cmd_create, usage_create, "generate member keys and genesis.json from a description"},
	{"verify", cmd_verify, usage_verify, "check a genesis file and print a readable summary"},
	{"hash", cmd_hash, usage_hash, "print the hash of a genesis file"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage_main(FILE *f)
{
	fprintf(f, "usage: %s <command> [options]   (%s <command> --help for details)\n\n"
		   "commands:\n", prog, prog);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\nexit codes: 0 success; 1 invalid genesis or description; 2 usage error;\n"
		   "            3 I/O or keystore failure, or refusal to overwrite\n");
}

int main(int argc, char **argv)
{
	if (ck_init() != 0) {
		die_msg("%s", ck_strerror(CK_E_INIT));
		return GENESIS_EXIT_FAILURE;
	}
	if (argc < 2) {
		usage_main(stderr);
		return GENESIS_EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
		usage_main(stdout);
		return GENESIS_EXIT_OK;
	}
	if (strcmp(cmd, "help") == 0) {
		for (size_t i = 0; argc > 2 && i < NCOMMANDS; i++)
			if (strcmp(argv[2], commands[i].name) == 0) {
				commands[i].usage(stdout);
				return GENESIS_EXIT_OK;
			}
		usage_main(argc > 2 ? stderr : stdout);
		return argc > 2 ? GENESIS_EXIT_USAGE : GENESIS_EXIT_OK;
	}
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(cmd, commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	die_msg("unknown command \"%s\"", cmd);
	usage_main(stderr);
	return GENESIS_EXIT_USAGE;
}
