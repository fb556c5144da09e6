/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <libconfig.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "config.h"
#include "config_int.h"
#include "keyring.h"
#include "tls.h"

/*
 * `auth`: how links prove who they are. Keys are read now, so that
 * `packetbrokerd -t` finds a missing, unsafe or malformed secret before the
 * daemon runs.
 *
 *   keyring = "FILE";        per-node keys: a node id is proven, not claimed
 *   tls_cert = "FILE"; tls_key = "FILE"; tls_ca = "FILE";
 *                            TLS with certificates that name the node id;
 *                            with keyring too, both are checked
 *   psk_file = "FILE"; shared_psk = true;
 *                            one key for every node: any node that has it
 *                            can claim any node id, hence the explicit opt-in
 *   allow_unauthenticated = true;   no keys at all, on a non-loopback listen
 */

static bool
cfg_set(const config_setting_t *s)
{
	/* A bad value was reported by its getter; "" means absent. */
	return s != NULL && (config_setting_type(s) != CONFIG_TYPE_STRING ||
	    config_setting_get_string(s)[0] != '\0');
}

static void
cfg_psk(struct pb_cfg_ctx *c, const config_setting_t *s, struct pb_tunnel_cfg *t)
{
	/* Room for trailing whitespace, which does not count. */
	uint8_t buf[4096];
	char err[PATH_MAX + 160];
	size_t n = 0;

	if (pb_secret_read(t->auth.psk_file, buf, sizeof(buf), &n, err, sizeof(err)) < 0) {
		pb_cfg_error(c, s, "%s", err);
		return;
	}
	if (n > sizeof(t->auth.psk))
		pb_cfg_error(c, s, "\"%s\" is too long: at most %zu bytes of key (after"
		    " stripping trailing whitespace)", t->auth.psk_file, sizeof(t->auth.psk));
	else if (n < PB_AUTH_MIN_PSK)
		pb_cfg_error(c, s, "\"%s\" is too short: %zu bytes after stripping trailing"
		    " whitespace, at least %u", t->auth.psk_file, n, PB_AUTH_MIN_PSK);
	else {
		memcpy(t->auth.psk, buf, n);
		t->auth.psk_len = n;
	}
	explicit_bzero(buf, sizeof(buf));
}

static void
cfg_keyring(struct pb_cfg_ctx *c, const config_setting_t *s, uint32_t self,
    struct pb_tunnel_cfg *t)
{
	char err[PATH_MAX + 256];

	if (pb_keyring_load(&t->auth.keyring, t->auth.keyring_file, err, sizeof(err)) < 0) {
		pb_cfg_error(c, s, "%s", err);
		return;
	}
	/* This node's own id may be listed (one file for a pair of nodes):
	 * a link never accepts its own id anyway. */
	(void)self;
	if (t->auth.keyring.n == 0)
		pb_cfg_error(c, s, "\"%s\" lists no key: add `<node id> <hex key>` lines",
		    t->auth.keyring_file);
}

/* All three TLS files or none; loaded now so that -t checks them. true
 * when TLS is configured (even if a file was refused). */
static bool
cfg_tls(struct pb_cfg_ctx *c, const config_setting_t *g, uint32_t self,
    struct pb_tunnel_cfg *t)
{
	static const char *const keys[] = { "tls_cert", "tls_key", "tls_ca" };
	char *paths[] = { t->auth.tls_cert, t->auth.tls_key, t->auth.tls_ca };
	int got[3], n = 0;
	bool ok = true;

	for (int i = 0; i < 3; i++) {
		got[i] = pb_cfg_file(c, g, keys[i], paths[i], PATH_MAX, true);
		n += got[i] != 0;
		ok = ok && got[i] == 1;
	}
	if (n == 0)
		return false;
	for (int i = 0; i < 3; i++)
		if (got[i] == 0)
			pb_cfg_error(c, g, "TLS needs tls_cert, tls_key and tls_ca: %s is missing",
			    keys[i]);
	if (!ok)
		return true;
	char err[3 * PATH_MAX + 200];
	enum pb_tls_file bad = PB_TLS_CERT;
	t->auth.tls = pb_tls_new(paths[0], paths[1], paths[2], self, &bad, err, sizeof(err));
	if (t->auth.tls == NULL)
		pb_cfg_error(c, config_setting_get_member(g, keys[bad]), "%s", err);
	return true;
}

void
pb_cfg_auth_free(struct pb_tunnel_cfg *t)
{
	pb_keyring_free(&t->auth.keyring);
	pb_tls_free(t->auth.tls);
	t->auth.tls = NULL;
}

void
pb_cfg_auth(struct pb_cfg_ctx *c, const config_setting_t *root, uint32_t self,
    struct pb_tunnel_cfg *t)
{
	static const char *const keys[] = { "keyring", "psk_file", "shared_psk",
		"allow_unauthenticated", "tls_cert", "tls_key", "tls_ca", NULL };
	const config_setting_t *g = pb_cfg_section(c, root, "auth", keys);
	const config_setting_t *psk = g ? config_setting_get_member(g, "psk_file") : NULL;
	const config_setting_t *kr = g ? config_setting_get_member(g, "keyring") : NULL;
	const config_setting_t *where, *addr;
	bool tls = false;

	if (g != NULL) {
		pb_cfg_bool(c, g, "allow_unauthenticated", &t->auth.allow_unauthenticated);
		pb_cfg_bool(c, g, "shared_psk", &t->auth.shared_psk);
		if (pb_cfg_file(c, g, "keyring", t->auth.keyring_file,
		    sizeof(t->auth.keyring_file), true) == 1)
			cfg_keyring(c, kr, self, t);
		if (pb_cfg_file(c, g, "psk_file", t->auth.psk_file, sizeof(t->auth.psk_file),
		    true) == 1)
			cfg_psk(c, psk, t);
		tls = cfg_tls(c, g, self, t);
	}
	/* Certificates bind each node id; a shared key would undo that. */
	if (tls && cfg_set(psk))
		pb_cfg_error(c, psk, "contradicts auth.tls_cert: with TLS, use no key (the"
		    " certificates identify the nodes) or auth.keyring (both are checked)");
	if (cfg_set(kr) && cfg_set(psk))
		pb_cfg_error(c, psk, "contradicts auth.keyring: use per-node keys or one shared"
		    " key, not both");
	if (t->auth.psk_file[0] != '\0' && !t->auth.shared_psk)
		pb_cfg_error(c, psk, "a shared PSK lets any node that has it claim any node id:"
		    " use auth.keyring (per-node keys), or set auth.shared_psk = true to accept"
		    " that");
	if (t->auth.shared_psk && !cfg_set(psk))
		pb_cfg_error(c, config_setting_get_member(g, "shared_psk"), "needs auth.psk_file");
	if (cfg_set(kr) || cfg_set(psk) || tls) {
		if (t->auth.allow_unauthenticated)
			pb_cfg_error(c, config_setting_get_member(g, "allow_unauthenticated"),
			    "contradicts %s: remove one of them", cfg_set(kr) ? "keyring" :
			    cfg_set(psk) ? "psk_file" : "tls_cert");
		return;
	}
	if (!t->listen.enabled || t->auth.allow_unauthenticated ||
	    pb_cfg_is_loopback(t->listen.address))
		return;
	where = config_setting_get_member(root, "listen");
	if ((addr = config_setting_get_member(where, "address")) != NULL) {
		/* A bad address was reported and left the default in place. */
		if (config_setting_type(addr) != CONFIG_TYPE_STRING ||
		    strcmp(config_setting_get_string(addr), t->listen.address) != 0)
			return;
		where = addr;
	}
	/* Anyone who reaches the port could inject records: opt in explicitly. */
	pb_cfg_error(c, where, "listen on %s without auth.keyring: set"
	    " auth.allow_unauthenticated = true to allow it explicitly", t->listen.address);
}
