/*
 * carbon-wallet import: takes an existing keystore file (for instance a
 * member key made by carbon-genesis) into ~/.config/carbon-wallet under a
 * name, after checking it is a well-formed keystore. The file is copied as
 * it is: still encrypted under its own passphrase.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wallet/cli.h"

static int run(wallet_cli *cli)
{
	const char *src = cli->pos[0];
	ck_pubkey pk;
	int rc = ck_keystore_pubkey(src, pk);
	if (rc != 0)
		return cli_fail(cli, WALLET_EXIT_KEY, "%s: %s%s%s", src, ck_strerror(rc),
				rc == CK_E_IO ? ": " : "", rc == CK_E_IO ? strerror(errno) : "");
	char name[LIM_NAME_BYTES_MAX + 8];
	if (cli->npos == 2) {
		snprintf(name, sizeof name, "%s", cli->pos[1]);
	} else {
		char tmp[WALLET_PATH_BYTES_MAX];
		snprintf(tmp, sizeof tmp, "%s", src);
		snprintf(name, sizeof name, "%s", basename(tmp));
		size_t n = strlen(name);
		if (n > 4 && strcmp(name + n - 4, ".key") == 0)
			name[n - 4] = '\0';
	}
	if (wallet_key_name_check(name) != 0)
		return cli_fail(cli, WALLET_EXIT_USAGE,
				"cannot use \"%s\" as a key name (%s): give NAME", name,
				wallet_strerror(WALLET_E_KEY_NAME));
	wallet_keyref k = {name, NULL, NULL};
	char dst[WALLET_PATH_BYTES_MAX], dir[WALLET_PATH_BYTES_MAX];
	if ((rc = wallet_key_path(&k, dst, sizeof dst)) != 0 ||
	    (rc = wallet_key_dir(dir, sizeof dir)) != 0)
		return cli_fail(cli, WALLET_EXIT_KEY, "%s", wallet_strerror(rc));
	/* The directory, then the file with O_EXCL: never replace a key. */
	char parent[WALLET_PATH_BYTES_MAX];
	snprintf(parent, sizeof parent, "%s", dir);
	char *slash = strrchr(parent, '/');
	if (slash)
		*slash = '\0';
	mkdir(parent, 0700);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return cli_fail(cli, WALLET_EXIT_KEY, "cannot create %s: %s", dir, strerror(errno));
	uint8_t buf[LIM_KEYSTORE_BYTES_MAX + 1];
	int in = open(src, O_RDONLY | O_CLOEXEC);
	ssize_t n = in >= 0 ? read(in, buf, sizeof buf) : -1;
	if (in >= 0)
		close(in);
	if (n <= 0 || (size_t)n > LIM_KEYSTORE_BYTES_MAX)
		return cli_fail(cli, WALLET_EXIT_KEY, "cannot read %s", src);
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		return cli_fail(cli, WALLET_EXIT_KEY, "cannot create %s: %s%s", dst, strerror(errno),
				errno == EEXIST ? " (choose another NAME)" : "");
	bool ok = write(out, buf, (size_t)n) == n && fsync(out) == 0;
	ok = close(out) == 0 && ok;
	ck_pubkey check;
	if (!ok || ck_keystore_pubkey(dst, check) != 0 || memcmp(check, pk, CK_PUBKEY_BYTES) != 0) {
		unlink(dst);
		return cli_fail(cli, WALLET_EXIT_KEY, "writing %s failed", dst);
	}
	char addr[CK_ADDRESS_STRLEN + 1];
	ck_address_encode(addr, pk);
	if (cli->json)
		cli_json(cli, json_pack("{s:s, s:s, s:s}", "name", name, "address", addr,
				   "keystore", dst));
	else
		printf("imported %s\naddress  %s\nkeystore %s\n", name, addr, dst);
	return 0;
}

const wallet_cmd wallet_cmd_import = {
	.name = "import",
	.run = run,
	.args = "FILE [NAME]",
	.summary = "copy an existing keystore file into the wallet under NAME",
	.details = "NAME defaults to the file name without .key, so the member keys written\n"
		   "by carbon-genesis import as their member names. The keystore stays\n"
		   "encrypted under its own passphrase; no passphrase is needed to import.",
	.flags = 0,
	.min_pos = 1,
	.max_pos = 2,
	.opts = {{0}},
};
