/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "tls.h"

#include "config_test.h"
#include "tls_test.h"

/* The TLS identity: loading and checking cert, key and CA (server/tls.c),
 * the node id rule, and the `auth` TLS keys (server/config_auth.c). */

static char dir[PATH_MAX];
static struct fx_id ca, ca2;

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/pbtlsXXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	ca = fx_ca("pb test CA");
	ca2 = fx_ca("another CA");
	struct fx_id n7 = fx_node(&ca, 7, -60, 3600);
	fx_write(dir, "ca", &ca, NULL, 0600);
	fx_write(dir, "n7", &n7, NULL, 0600);
	fx_free(&n7);
	return 0;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int
teardown(void **state)
{
	(void)state;
	fx_free(&ca);
	fx_free(&ca2);
	return nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* pb_tls_new on dir/<cert>.crt, dir/<key>.key, dir/<caf>.crt. */
static struct pb_tls *
load(const char *cert, const char *key, const char *caf, uint32_t self, enum pb_tls_file *bad,
    char *err, size_t errlen)
{
	char c[PATH_MAX], k[PATH_MAX], a[PATH_MAX];
	return pb_tls_new(fx_path(c, sizeof(c), dir, cert, "crt"),
	    fx_path(k, sizeof(k), dir, key, "key"), fx_path(a, sizeof(a), dir, caf, "crt"), self,
	    bad, err, errlen);
}

static void
load_fails(const char *cert, const char *key, const char *caf, uint32_t self,
    enum pb_tls_file want, const char *text)
{
	char err[2 * PATH_MAX];
	enum pb_tls_file bad = 99;
	struct pb_tls *t = load(cert, key, caf, self, &bad, err, sizeof(err));
	if (t != NULL || strstr(err, text) == NULL)
		fail_msg("expected \"%s\", got %s", text, t ? "success" : err);
	assert_int_equal(bad, want);
	if (getenv("PB_TEST_VERBOSE") != NULL)
		print_message("  refused: %s\n", err);
}

static void
test_load(void **state)
{
	char err[2 * PATH_MAX];
	struct pb_tls *t;

	(void)state;
	t = load("n7", "n7", "ca", 7, NULL, err, sizeof(err));
	if (t == NULL)
		fail_msg("%s", err);
	assert_int_equal(pb_tls_node(t), 7);
	assert_non_null(pb_tls_ssl_ctx(t));
	assert_non_null(strstr(pb_tls_describe(t), "CN=node7, node 7, valid until"));
	assert_int_equal(SSL_CTX_get_min_proto_version(pb_tls_ssl_ctx(t)), TLS1_3_VERSION);
	pb_tls_free(t);
	/* self 0: any node id, as long as there is one. */
	t = load("n7", "n7", "ca", 0, NULL, err, sizeof(err));
	assert_non_null(t);
	pb_tls_free(t);
	pb_tls_free(NULL);
}

static void
test_load_errors(void **state)
{
	char path[PATH_MAX];
	FILE *f;

	(void)state;
	load_fails("n7", "n7", "ca", 8, PB_TLS_CERT, "names node 7, but this node is node.id 8");
	load_fails("none", "n7", "ca", 7, PB_TLS_CERT, "none.crt\": No such file");
	load_fails("n7", "n7", "none", 7, PB_TLS_CA, "cannot open \"");
	load_fails("n7", "none", "ca", 7, PB_TLS_KEY, "none.key\": No such file");

	/* A key that belongs to another certificate. */
	struct fx_id other = fx_node(&ca, 7, -60, 3600);
	fx_write(dir, "other", &other, NULL, 0600);
	load_fails("n7", "other", "ca", 7, PB_TLS_KEY, "other.key\" does not match the certificate");

	/* The key is a secret: owner-only, like every key file. */
	chmod(fx_path(path, sizeof(path), dir, "other", "key"), 0640);
	load_fails("other", "other", "ca", 7, PB_TLS_KEY, "has mode 0640: a secret must not be"
	    " accessible by group or others (chmod 600)");
	chmod(path, 0600);

	/* Encrypted keys cannot be used unattended. */
	assert_non_null(f = fopen(fx_path(path, sizeof(path), dir, "enc", "key"), "w"));
	fchmod(fileno(f), 0600);
	assert_int_equal(PEM_write_PrivateKey(f, other.key, EVP_aes_128_cbc(),
	    (unsigned char *)"secret", 6, NULL, NULL), 1);
	fclose(f);
	load_fails("other", "enc", "ca", 7, PB_TLS_KEY, "is encrypted");
	fx_free(&other);

	/* Not a certificate, not a CA file. */
	assert_non_null(f = fopen(fx_path(path, sizeof(path), dir, "junk", "crt"), "w"));
	fputs("not a certificate\n", f);
	fclose(f);
	load_fails("junk", "n7", "ca", 7, PB_TLS_CERT, "junk.crt\": no PEM certificate");
	load_fails("n7", "n7", "junk", 7, PB_TLS_CA, "junk.crt\": no PEM certificate");

	/* Dates. */
	struct fx_id old = fx_node(&ca, 7, -7200, -3600), early = fx_node(&ca, 7, 3600, 7200);
	fx_write(dir, "old", &old, NULL, 0600);
	fx_write(dir, "early", &early, NULL, 0600);
	load_fails("old", "old", "ca", 7, PB_TLS_CERT, "old.crt\" expired on ");
	load_fails("early", "early", "ca", 7, PB_TLS_CERT, "early.crt\" is not valid before ");
	fx_free(&old);
	fx_free(&early);
}

/* The node id rule: one id, in a URN, as a plain decimal. */
static void
test_cert_node(void **state)
{
	static const struct {
		const char *san;
		uint32_t node;
		const char *why;
	} cases[] = {
		{ "URI:urn:packetbroker:node:5", 5, NULL },
		{ "URI:URN:PacketBroker:Node:4294967295", 4294967295u, NULL },
		{ "DNS:node5.example,URI:https://example/,URI:urn:packetbroker:node:5", 5, NULL },
		{ "URI:urn:packetbroker:node:5,URI:urn:packetbroker:node:5", 5, NULL },
		{ "URI:urn:packetbroker:node:5,URI:urn:packetbroker:node:6", 0, "several node ids" },
		{ "URI:urn:packetbroker:node:05", 0, "invalid node URI" },
		{ "URI:urn:packetbroker:node:0", 0, "invalid node URI" },
		{ "URI:urn:packetbroker:node:4294967296", 0, "invalid node URI" },
		{ "URI:urn:packetbroker:node:5x", 0, "invalid node URI" },
		{ "URI:urn:packetbroker:node:", 0, "invalid node URI" },
		{ "DNS:node5.example", 0, "names no node id" },
		{ NULL, 0, "names no node id" },
	};
	char why[160];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		EVP_PKEY *k = fx_key();
		X509 *x = fx_cert(k, "n", cases[i].san, &ca, -60, 3600);
		why[0] = '\0';
		uint32_t got = pb_tls_cert_node(x, why, sizeof(why));
		if (got != cases[i].node || (cases[i].why && !strstr(why, cases[i].why)))
			fail_msg("%s: node %u (%s)", cases[i].san ? cases[i].san : "(none)", got, why);
		X509_free(x);
		EVP_PKEY_free(k);
	}
	/* And at load time, with the file's name. */
	struct fx_id anon = fx_node(&ca, 0, -60, 3600);
	fx_write(dir, "anon", &anon, NULL, 0600);
	load_fails("anon", "anon", "ca", 0, PB_TLS_CERT, "anon.crt\" names no node id");
	fx_free(&anon);
}

static void
tls_conf(char *text, size_t len, const char *cert, const char *key, const char *caf,
    const char *extra)
{
	fmt(text, len, "node = { id = 7; };\nlisten = { address = \"0.0.0.0\"; };\n"
	    "auth = {\n tls_cert = \"%s\"; tls_key = \"%s\"; tls_ca = \"%s\";%s\n};\n", cert, key,
	    caf, extra);
}

static void
test_config(void **state)
{
	char text[4 * PATH_MAX], c[PATH_MAX], k[PATH_MAX], a[PATH_MAX], ring[PATH_MAX];
	char conf[PATH_MAX], msg[2 * PATH_MAX];
	struct pb_config cfg;
	FILE *f;

	(void)state;
	fx_path(c, sizeof(c), dir, "n7", "crt");
	fx_path(k, sizeof(k), dir, "n7", "key");
	fx_path(a, sizeof(a), dir, "ca", "crt");
	/* TLS alone is enough to listen on every address. */
	tls_conf(text, sizeof(text), c, k, a, "");
	load_ok(text, &cfg);
	assert_non_null(cfg.tunnel.auth.tls);
	assert_int_equal(pb_tls_node(cfg.tunnel.auth.tls), 7);
	assert_string_equal(cfg.tunnel.auth.tls_key, k);
	pb_config_free(&cfg);
	assert_null(cfg.tunnel.auth.tls);

	/* Paths relative to the configuration file. */
	fmt(conf, sizeof(conf), "%s/node.conf", dir);
	assert_non_null(f = fopen(conf, "w"));
	tls_conf(text, sizeof(text), "n7.crt", "n7.key", "ca.crt", "");
	fputs(text, f);
	fclose(f);
	assert_int_equal(load_file(conf, &cfg), 0);
	assert_string_equal(cfg.tunnel.auth.tls_cert, c);
	pb_config_free(&cfg);

	/* Each problem on the line of the file it is about. */
	tls_conf(text, sizeof(text), c, "", a, "");
	load_bad(text, 3, "auth: TLS needs tls_cert, tls_key and tls_ca: tls_key is missing");
	tls_conf(text, sizeof(text), c, c, a, "");
	fmt(msg, sizeof(msg), "auth.tls_key: \"%s\": no PEM private key", c);
	chmod(c, 0600);
	load_bad(text, 4, msg);
	tls_conf(text, sizeof(text), c, k, k, "");
	load_bad(text, 4, "auth.tls_ca: \"");
	tls_conf(text, sizeof(text), c, k, a, "");
	text[strlen("node = { id = ")] = '8';
	load_bad(text, 4, "auth.tls_cert: \"");
	expect_report(4, "names node 7, but this node is node.id 8");

	/* A shared key would let any holder claim any id: not with TLS. */
	fmt(ring, sizeof(ring), "%s/psk", dir);
	assert_non_null(f = fopen(ring, "w"));
	fchmod(fileno(f), 0600);
	fputs("0123456789abcdef0123\n", f);
	fclose(f);
	fmt(msg, sizeof(msg), " psk_file = \"%s\"; shared_psk = true;", ring);
	tls_conf(text, sizeof(text), c, k, a, msg);
	load_bad(text, 4, "auth.psk_file: contradicts auth.tls_cert");
	tls_conf(text, sizeof(text), c, k, a, " allow_unauthenticated = true;");
	load_bad(text, 4, "auth.allow_unauthenticated: contradicts tls_cert");

	/* With per-node keys both are checked. */
	fmt(ring, sizeof(ring), "%s/ring", dir);
	assert_non_null(f = fopen(ring, "w"));
	fchmod(fileno(f), 0600);
	fputs("5 00112233445566778899aabbccddeeff\n", f);
	fclose(f);
	fmt(msg, sizeof(msg), " keyring = \"%s\";", ring);
	tls_conf(text, sizeof(text), c, k, a, msg);
	load_ok(text, &cfg);
	assert_non_null(cfg.tunnel.auth.tls);
	assert_int_equal(cfg.tunnel.auth.keyring.n, 1);
	pb_config_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_cert_node),
		cmocka_unit_test(test_config),
	};
	return cmocka_run_group_tests_name("tls", tests, setup, teardown);
}
