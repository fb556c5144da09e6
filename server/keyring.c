/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "keyring.h"

/* A keyring of PB_KEYRING_MAX entries with the longest keys and comments. */
#define KEYRING_FILE_MAX (64u << 20)

/* Opens a secret file and checks who may read it; fd or -1 with err. */
static int
secret_open(const char *path, struct stat *st, char *err, size_t errlen)
{
	/* O_NONBLOCK: a FIFO must not hang the loader (refused below). */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open \"%s\": %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, st) != 0) {
		snprintf(err, errlen, "cannot stat \"%s\": %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "\"%s\" is not a regular file", path);
		goto fail;
	}
	/* Group bits too: a shared group is how secrets leak on real hosts. */
	if (st->st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errlen, "\"%s\" has mode %04o: a secret must not be accessible"
		    " by group or others (chmod 600)", path, (unsigned)(st->st_mode & 07777));
		goto fail;
	}
	if (st->st_uid != geteuid()) {
		snprintf(err, errlen, "\"%s\" is owned by uid %u, not by this daemon's user"
		    " (uid %u)", path, (unsigned)st->st_uid, (unsigned)geteuid());
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/* Reads up to cap bytes; *len = bytes read, -1 with err on a read error or
 * when the file holds more than cap bytes. */
static int
read_all(int fd, const char *path, uint8_t *buf, size_t cap, size_t *len, char *err,
    size_t errlen)
{
	size_t n = 0;
	for (;;) {
		uint8_t probe;
		ssize_t r = n < cap ? read(fd, buf + n, cap - n) : read(fd, &probe, 1);
		if (r == 0)
			break;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "cannot read \"%s\": %s", path, strerror(errno));
			return -1;
		}
		if (n >= cap) {
			snprintf(err, errlen, "\"%s\" is too long: at most %zu bytes", path, cap);
			return -1;
		}
		n += (size_t)r;
	}
	*len = n;
	return 0;
}

static bool
is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int
pb_secret_read(const char *path, uint8_t *buf, size_t cap, size_t *len, char *err,
    size_t errlen)
{
	struct stat st;
	int fd = secret_open(path, &st, err, errlen);
	if (fd < 0)
		return -1;
	int rc = read_all(fd, path, buf, cap, len, err, errlen);
	close(fd);
	if (rc < 0) {
		pb_auth_cleanse(buf, cap);
		return -1;
	}
	while (*len > 0 && is_space(buf[*len - 1]))
		(*len)--;
	return 0;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
key_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct pb_key *)a)->node_id, y = ((const struct pb_key *)b)->node_id;
	return x < y ? -1 : x > y;
}

/* One line without its newline: "" / comment → 0 (nothing), entry → 1. */
static int
parse_line(const char *s, size_t len, struct pb_key *k, char *why, size_t whylen)
{
	size_t i = 0;
	while (i < len && is_space((uint8_t)s[i]))
		i++;
	if (i == len || s[i] == '#')
		return 0;
	uint64_t id = 0;
	size_t d0 = i;
	while (i < len && s[i] >= '0' && s[i] <= '9' && i - d0 < 11)
		id = id * 10 + (uint64_t)(s[i++] - '0');
	if (i == d0 || id == 0 || id > UINT32_MAX || (i < len && !is_space((uint8_t)s[i]))) {
		snprintf(why, whylen, "expected a node id 1..4294967295, then the key in hex");
		return -1;
	}
	k->node_id = (uint32_t)id;
	while (i < len && is_space((uint8_t)s[i]))
		i++;
	size_t h0 = i;
	while (i < len && !is_space((uint8_t)s[i]) && s[i] != '#')
		i++;
	size_t hex = i - h0;
	while (i < len && is_space((uint8_t)s[i]))
		i++;
	if (i < len && s[i] != '#') {
		snprintf(why, whylen, "unexpected text after the key");
		return -1;
	}
	if (hex % 2 || hex < 2 * PB_KEY_MIN || hex > 2 * PB_KEY_MAX) {
		snprintf(why, whylen, "key of node %u: %zu hex digits, expected an even number"
		    " from %u to %u (16..256 bytes)", k->node_id, hex, 2 * PB_KEY_MIN,
		    2 * PB_KEY_MAX);
		return -1;
	}
	for (size_t j = 0; j < hex; j += 2) {
		int hi = hexval(s[h0 + j]), lo = hexval(s[h0 + j + 1]);
		if (hi < 0 || lo < 0) {
			snprintf(why, whylen, "key of node %u: not a hex digit", k->node_id);
			return -1;
		}
		k->key[j / 2] = (uint8_t)(hi << 4 | lo);
	}
	k->len = (uint16_t)(hex / 2);
	return 1;
}

int
pb_keyring_parse(struct pb_keyring *kr, const char *name, const char *text, size_t len,
    char *err, size_t errlen)
{
	size_t cap = 0, lineno = 0, off = 0;
	struct pb_keyring out = { 0, NULL };
	char why[160];

	pb_keyring_free(kr);
	while (off < len) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t ll = nl ? (size_t)(nl - (text + off)) : len - off;
		lineno++;
		if (out.n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct pb_key *p = nc > PB_KEYRING_MAX ? NULL : realloc(out.keys, nc * sizeof(*p));
			if (!p) {
				snprintf(err, errlen, "%s: more than %u keys, or out of memory", name,
				    PB_KEYRING_MAX);
				goto fail;
			}
			out.keys = p;
			cap = nc;
		}
		int r = parse_line(text + off, ll, &out.keys[out.n], why, sizeof(why));
		if (r < 0) {
			snprintf(err, errlen, "%s line %zu: %s", name, lineno, why);
			goto fail;
		}
		out.n += (size_t)r;
		off += ll + (nl ? 1 : 0);
	}
	if (out.n)
		qsort(out.keys, out.n, sizeof(*out.keys), key_cmp);
	for (size_t i = 1; i < out.n; i++) {
		if (out.keys[i].node_id == out.keys[i - 1].node_id) {
			snprintf(err, errlen, "%s: node %u is listed twice", name, out.keys[i].node_id);
			goto fail;
		}
	}
	*kr = out;
	return 0;
fail:
	if (out.keys)
		pb_auth_cleanse(out.keys, cap * sizeof(*out.keys));
	free(out.keys);
	return -1;
}

int
pb_keyring_load(struct pb_keyring *kr, const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd = secret_open(path, &st, err, errlen);
	if (fd < 0) {
		pb_keyring_free(kr);
		return -1;
	}
	size_t cap = st.st_size > 0 && (uint64_t)st.st_size < KEYRING_FILE_MAX ?
	    (size_t)st.st_size + 1 : KEYRING_FILE_MAX;
	uint8_t *buf = malloc(cap);
	size_t n = 0;
	int rc = -1;
	if (!buf)
		snprintf(err, errlen, "\"%s\": out of memory", path);
	else if (read_all(fd, path, buf, cap, &n, err, errlen) == 0)
		rc = pb_keyring_parse(kr, path, (const char *)buf, n, err, errlen);
	close(fd);
	if (buf) {
		pb_auth_cleanse(buf, cap);
		free(buf);
	}
	return rc;
}

const struct pb_key *
pb_keyring_find(const struct pb_keyring *kr, uint32_t node_id)
{
	size_t lo = 0, hi = kr ? kr->n : 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t v = kr->keys[mid].node_id;
		if (v == node_id)
			return &kr->keys[mid];
		if (v < node_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void
pb_keyring_free(struct pb_keyring *kr)
{
	if (!kr)
		return;
	if (kr->keys)
		pb_auth_cleanse(kr->keys, kr->n * sizeof(*kr->keys));
	free(kr->keys);
	kr->keys = NULL;
	kr->n = 0;
}

void
pb_secret_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}
