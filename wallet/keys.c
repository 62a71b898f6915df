/*
 * Where keys live and how their passphrase arrives. A key is a keystore
 * file (crypto/ck.h): by default $HOME/.config/carbon-wallet/<name>.key,
 * or any path given with --keystore. The passphrase comes from a file, the
 * CARBON_PASSPHRASE environment variable, or a prompt without echo, never
 * from the command line where ps and shell history would show it; it and
 * the secret key live in sodium_malloc'd memory that is zeroed on free.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "wallet/http_internal.h"

int wallet_key_dir(char *out, size_t n)
{
	const char *home = getenv("HOME");
	if (home == NULL || home[0] == '\0')
		return WALLET_E_NO_HOME;
	int w = snprintf(out, n, "%s/.config/carbon-wallet", home);
	return w < 0 || (size_t)w >= n ? WALLET_E_IO : 0;
}

int wallet_key_name_check(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > LIM_NAME_BYTES_MAX || name[0] == '-' || name[0] == '_')
		return WALLET_E_KEY_NAME;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return WALLET_E_KEY_NAME;
	}
	return 0;
}

int wallet_key_path(const wallet_keyref *k, char *out, size_t n)
{
	if (k->keystore != NULL) {
		int w = snprintf(out, n, "%s", k->keystore);
		return w < 0 || (size_t)w >= n ? WALLET_E_IO : 0;
	}
	const char *name = k->name ? k->name : "default";
	int rc = wallet_key_name_check(name);
	if (rc != 0)
		return rc;
	char dir[WALLET_PATH_BYTES_MAX];
	if ((rc = wallet_key_dir(dir, sizeof dir)) != 0)
		return rc;
	int w = snprintf(out, n, "%s/%s.key", dir, name);
	return w < 0 || (size_t)w >= n ? WALLET_E_IO : 0;
}

/* One line from the terminal without echo into buf (cap bytes). */
static int prompt_line(const char *prompt, char *buf, size_t cap)
{
	FILE *tty = fopen("/dev/tty", "r+");
	if (tty == NULL)
		return WALLET_E_NO_PASSPHRASE;
	int fd = fileno(tty);
	struct termios old, quiet;
	bool restore = tcgetattr(fd, &old) == 0;
	if (restore) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		quiet.c_lflag |= ECHONL;
		tcsetattr(fd, TCSAFLUSH, &quiet);
	}
	fprintf(tty, "%s", prompt);
	fflush(tty);
	bool ok = fgets(buf, (int)cap, tty) != NULL;
	if (restore)
		tcsetattr(fd, TCSAFLUSH, &old);
	fclose(tty);
	return ok ? 0 : WALLET_E_NO_PASSPHRASE;
}

static size_t chomp(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return n;
}

int wallet_passphrase(const char *passfile, bool confirm, const char *prompt, char **pass,
		      size_t *len)
{
	*pass = NULL;
	*len = 0;
	char *buf = sodium_malloc(WALLET_PASS_BYTES_MAX + 2);
	if (buf == NULL)
		return WALLET_E_NOMEM;
	memset(buf, 0, WALLET_PASS_BYTES_MAX + 2);
	int rc = 0;
	const char *env = getenv("CARBON_PASSPHRASE");
	if (passfile != NULL) {
		FILE *f = fopen(passfile, "r");
		if (f == NULL) {
			rc = WALLET_E_IO;
			goto fail;
		}
		if (fgets(buf, WALLET_PASS_BYTES_MAX + 2, f) == NULL)
			buf[0] = '\0';
		fclose(f);
	} else if (env != NULL) {
		if (strlen(env) > WALLET_PASS_BYTES_MAX) {
			rc = WALLET_E_NO_PASSPHRASE;
			goto fail;
		}
		strcpy(buf, env);
	} else {
		if (!isatty(STDIN_FILENO) && !isatty(STDERR_FILENO)) {
			rc = WALLET_E_NO_PASSPHRASE;
			goto fail;
		}
		if ((rc = prompt_line(prompt, buf, WALLET_PASS_BYTES_MAX + 2)) != 0)
			goto fail;
		if (confirm) {
			char *again = sodium_malloc(WALLET_PASS_BYTES_MAX + 2);
			if (again == NULL) {
				rc = WALLET_E_NOMEM;
				goto fail;
			}
			rc = prompt_line("repeat the passphrase: ", again, WALLET_PASS_BYTES_MAX + 2);
			bool same = rc == 0 && strcmp(buf, again) == 0;
			sodium_free(again);
			if (rc != 0)
				goto fail;
			if (!same) {
				rc = WALLET_E_PASS_MISMATCH;
				goto fail;
			}
		}
	}
	size_t n = chomp(buf);
	if (n > WALLET_PASS_BYTES_MAX) {
		rc = WALLET_E_NO_PASSPHRASE;
		goto fail;
	}
	*pass = buf;
	*len = n;
	return 0;
fail:
	sodium_free(buf);
	return rc;
}

int wallet_key_load(const wallet_keyref *k, ck_pubkey pk, uint8_t **sk)
{
	char path[WALLET_PATH_BYTES_MAX];
	*sk = NULL;
	int rc = wallet_key_path(k, path, sizeof path);
	if (rc != 0)
		return rc;
	/* Check the file before asking for a passphrase. */
	if ((rc = ck_keystore_pubkey(path, pk)) != 0)
		return rc;
	char *pass;
	size_t plen;
	if ((rc = wallet_passphrase(k->passfile, false, "keystore passphrase: ", &pass, &plen)) != 0)
		return rc;
	uint8_t *s = sodium_malloc(CK_SECKEY_BYTES);
	if (s == NULL) {
		sodium_free(pass);
		return WALLET_E_NOMEM;
	}
	rc = ck_keystore_read(path, pass, plen, s);
	sodium_free(pass);
	if (rc != 0) {
		sodium_free(s);
		return rc;
	}
	ck_seckey_pubkey(pk, s);
	*sk = s;
	return 0;
}

int wallet_key_pubkey(const wallet_keyref *k, ck_pubkey pk)
{
	char path[WALLET_PATH_BYTES_MAX];
	int rc = wallet_key_path(k, path, sizeof path);
	if (rc != 0)
		return rc;
	return ck_keystore_pubkey(path, pk);
}
