/*
 * carbon-wallet list: the keys in ~/.config/carbon-wallet with their
 * addresses, read from the clear part of each keystore (no passphrase).
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "wallet/cli.h"

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run(wallet_cli *cli)
{
	char dir[WALLET_PATH_BYTES_MAX];
	int rc = wallet_key_dir(dir, sizeof dir);
	if (rc != 0)
		return cli_fail(cli, WALLET_EXIT_KEY, "%s", wallet_strerror(rc));
	DIR *d = opendir(dir);
	json_t *arr = json_array();
	char *names[1024];
	size_t n = 0;
	if (d != NULL) {
		struct dirent *e;
		while ((e = readdir(d)) != NULL && n < 1024) {
			size_t l = strlen(e->d_name);
			if (l > 4 && strcmp(e->d_name + l - 4, ".key") == 0)
				names[n++] = strndup(e->d_name, l - 4);
		}
		closedir(d);
	}
	qsort(names, n, sizeof names[0], cmp);
	if (n == 0 && !cli->json)
		printf("no keys in %s (create one with 'carbon-wallet new')\n", dir);
	for (size_t i = 0; i < n; i++) {
		if (names[i] == NULL)
			continue;
		wallet_keyref k = {names[i], NULL, NULL};
		ck_pubkey pk;
		int krc = wallet_key_pubkey(&k, pk);
		char addr[CK_ADDRESS_STRLEN + 1] = "";
		if (krc == 0)
			ck_address_encode(addr, pk);
		if (cli->json)
			json_array_append_new(arr, krc == 0 ? json_pack("{s:s, s:s}", "name", names[i],
									 "address", addr)
							    : json_pack("{s:s, s:s}", "name", names[i],
									 "error", ck_strerror(krc)));
		else
			printf("%-20s %s\n", names[i], krc == 0 ? addr : ck_strerror(krc));
		free(names[i]);
	}
	if (cli->json)
		cli_json(cli, json_pack("{s:s, s:o}", "dir", dir, "keys", arr));
	else
		json_decref(arr);
	return 0;
}

const wallet_cmd wallet_cmd_list = {
	.name = "list",
	.run = run,
	.args = "",
	.summary = "list the keys in ~/.config/carbon-wallet with their addresses",
	.details = NULL,
	.flags = 0,
	.min_pos = 0,
	.max_pos = 0,
	.opts = {{0}},
};
