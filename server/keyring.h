/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_KEYRING_H
#define PB_KEYRING_H

#include <stddef.h>
#include <stdint.h>

/*
 * Per-node link keys. The keyring of a node maps each peer node id to the
 * key that this node and that peer share (pairwise keys): a link between A
 * and B is authenticated with the key that A lists under B and B lists
 * under A, so a node holding its own key cannot claim another node's id.
 *
 * File format (auth.keyring): one `<node id> <key in hex>` per line,
 * 32..512 hex digits (16..256 bytes); blank lines and `#` comments. The
 * file must be a regular file owned by the daemon's user with no group or
 * other permission bits. Secret files (PSK, API token) share the checks
 * through pb_secret_read().
 */

#define PB_KEY_MIN 16u
#define PB_KEY_MAX 256u
#define PB_KEYRING_MAX 65536u /* entries */

struct pb_key {
	uint32_t node_id;
	uint16_t len;
	uint8_t key[PB_KEY_MAX];
};

struct pb_keyring {
	size_t n;
	struct pb_key *keys; /* sorted by node_id, unique */
};

/*
 * Reads a secret file into buf (at most cap bytes, trailing whitespace
 * stripped into *len). Refuses, with a message naming the file and the
 * fix, anything but a regular file owned by the effective uid without
 * group/other permission bits, and content longer than cap. 0 or -1.
 */
int pb_secret_read(const char *path, uint8_t *buf, size_t cap, size_t *len, char *err,
    size_t errlen);

/* Wipes a NUL-terminated secret (a PEM key) and frees it; NULL is fine. */
void pb_secret_free(char *s);

/* Loads path into kr (emptied first). 0, or -1 with err naming the file
 * and line. kr is left empty on error. */
int pb_keyring_load(struct pb_keyring *kr, const char *path, char *err, size_t errlen);
/* Parses keyring text (already read); name is used in messages. */
int pb_keyring_parse(struct pb_keyring *kr, const char *name, const char *text, size_t len,
    char *err, size_t errlen);
/* O(log n); NULL when node_id has no key. */
const struct pb_key *pb_keyring_find(const struct pb_keyring *kr, uint32_t node_id);
/* Wipes and frees the keys. */
void pb_keyring_free(struct pb_keyring *kr);

#endif
