/*
 * carbon-wallet new: a fresh Ed25519 key in a passphrase-encrypted
 * keystore, under ~/.config/carbon-wallet/<name>.key or --keystore PATH.
 */
#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>

#include "wallet/cli.h"

/* mkdir -p of dir with mode 0700 for the directories it creates. */
static int mkdirs(const char *dir)
{
	char tmp[WALLET_PATH_BYTES_MAX];
	if (snprintf(tmp, sizeof tmp, "%s", dir) >= (int)sizeof tmp)
		return -1;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

static int run(wallet_cli *cli)
{
	if (cli->npos == 1) {
		if (cli->key.keystore || cli->key.name)
			return cli_fail(cli, WALLET_EXIT_USAGE, "give the name once (NAME, --key or --keystore)");
		cli->key.name = cli->pos[0];
	}
	if (cli->key.name && wallet_key_name_check(cli->key.name) != 0)
		return cli_fail(cli, WALLET_EXIT_USAGE, "key name \"%.70s\": %s", cli->key.name,
				wallet_strerror(WALLET_E_KEY_NAME));
	ck_kdf_strength kdf = CK_KDF_MODERATE;
	const char *k = cli_opt(cli, "kdf");
	if (k && strcmp(k, "interactive") == 0)
		kdf = CK_KDF_INTERACTIVE;
	else if (k && strcmp(k, "sensitive") == 0)
		kdf = CK_KDF_SENSITIVE;
	else if (k && strcmp(k, "moderate") != 0)
		return cli_fail(cli, WALLET_EXIT_USAGE, "--kdf: interactive, moderate or sensitive");

	char path[WALLET_PATH_BYTES_MAX];
	int rc = wallet_key_path(&cli->key, path, sizeof path);
	if (rc != 0)
		return cli_fail(cli, cli_exit_of(rc), "%s", wallet_strerror(rc));
	if (cli->key.keystore == NULL) {
		char dir[WALLET_PATH_BYTES_MAX];
		if (wallet_key_dir(dir, sizeof dir) != 0 || mkdirs(dir) != 0)
			return cli_fail(cli, WALLET_EXIT_KEY, "cannot create %s: %s", dir, strerror(errno));
	}
	struct stat sb;
	if (stat(path, &sb) == 0)
		return cli_fail(cli, WALLET_EXIT_KEY,
				"%s already exists: keys are never overwritten; choose another name", path);

	char *pass;
	size_t plen;
	rc = wallet_passphrase(cli->key.passfile, true, "passphrase for the new key: ", &pass, &plen);
	if (rc == WALLET_E_PASS_MISMATCH)
		return cli_fail(cli, WALLET_EXIT_KEY, "the two passphrases differ; nothing was written");
	if (rc != 0)
		return cli_fail(cli, WALLET_EXIT_KEY,
				"%s", rc == WALLET_E_IO ? "cannot read the passphrase file"
							: wallet_strerror(rc));
	if (plen == 0 && !cli_flag(cli, "empty-passphrase")) {
		sodium_free(pass);
		return cli_fail(cli, WALLET_EXIT_KEY,
				"refusing an empty passphrase (give --empty-passphrase if you mean it)");
	}
	ck_pubkey pk;
	uint8_t *sk = sodium_malloc(CK_SECKEY_BYTES);
	if (sk == NULL) {
		sodium_free(pass);
		return cli_fail(cli, WALLET_EXIT_KEY, "out of memory");
	}
	ck_keypair(pk, sk);
	rc = ck_keystore_write(path, sk, pass, plen, kdf);
	int err = errno;
	sodium_free(sk);
	sodium_free(pass);
	if (rc != 0)
		return cli_fail(cli, WALLET_EXIT_KEY, "cannot write %s: %s%s%s", path, ck_strerror(rc),
				rc == CK_E_IO ? ": " : "", rc == CK_E_IO ? strerror(err) : "");
	char addr[CK_ADDRESS_STRLEN + 1];
	ck_address_encode(addr, pk);
	if (cli->json)
		cli_json(cli, json_pack("{s:s, s:s}", "address", addr, "keystore", path));
	else
		printf("address  %s\nkeystore %s\n", addr, path);
	return 0;
}

const wallet_cmd wallet_cmd_new = {
	.name = "new",
	.run = run,
	.args = "[NAME]",
	.summary = "create a new key in a passphrase-encrypted keystore",
	.details = "The key is written to ~/.config/carbon-wallet/NAME.key (NAME defaults to\n"
		   "\"default\") or to --keystore PATH, mode 0600, never over an existing file.\n"
		   "The passphrase is asked twice without echo, or read from --passphrase-file\n"
		   "or CARBON_PASSPHRASE; it is never taken from the command line.",
	.flags = CLI_KEY,
	.min_pos = 0,
	.max_pos = 1,
	.opts = {{"kdf", "STRENGTH", "interactive, moderate (default) or sensitive Argon2id cost", false},
		 {"empty-passphrase", NULL, "allow an empty passphrase", false}},
};
