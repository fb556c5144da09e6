/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
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
#include "keyring.h"
#include "record.h"

#include "config_test.h"

/* The tunnel keys of the configuration (server/config_tunnel.c). */

#ifndef PB_LOCALSTATEDIR
#define PB_LOCALSTATEDIR "/var"
#endif
#define MIB (1024ull * 1024ull)
/* Lines 1-2: a node with a source of records. */
#define HEAD "node = { id = 1; };\nlisten = { address = \"::1\"; };\n"

static char tmpdir[PATH_MAX];

/* Writes tmpdir/name with that mode (chmod: the umask must not matter). */
static void
write_tmp(const char *name, const char *text, size_t len, mode_t mode, char *path,
    size_t plen)
{
	FILE *fp;

	fmt(path, plen, "%s/%s", tmpdir, name);
	assert_non_null(fp = fopen(path, "w"));
	assert_int_equal(fwrite(text, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pbtunXXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
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
	return nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void
test_defaults(void **state)
{
	struct pb_config cfg;
	const struct pb_tunnel_cfg *t = &cfg.tunnel;

	(void)state;
	load_ok("node = { id = 1; };\nlisten = { address = \"127.0.0.1\"; };", &cfg);
	assert_true(t->listen.enabled);
	assert_string_equal(t->listen.address, "127.0.0.1");
	assert_int_equal(t->listen.port, 7152);
	assert_int_equal(t->listen.line, 2);
	assert_int_equal(t->npeers, 0);
	assert_null(t->peers);
	assert_int_equal(t->nupstreams, 0);
	assert_null(t->upstreams);
	assert_int_equal(t->nconsumers, 0);
	assert_null(t->consumers);
	assert_string_equal(t->auth.psk_file, "");
	assert_false(t->auth.allow_unauthenticated);
	assert_false(t->auth.shared_psk);
	assert_int_equal(t->auth.psk_len, 0);
	assert_string_equal(t->auth.keyring_file, "");
	assert_int_equal(t->auth.keyring.n, 0);
	assert_false(t->listen.accept_undeclared_consumers);
	assert_int_equal(t->listen.max_handshakes, 64);
	assert_int_equal(t->listen.max_handshakes_per_ip, 8);
	assert_int_equal(t->limits.max_nodes, 1024);
	assert_int_equal(t->limits.max_sources, 16384);
	assert_int_equal(t->limits.max_nodes_per_link, 256);
	assert_int_equal(t->limits.max_sources_per_link, 4096);
	assert_int_equal(t->limits.max_streams, 4096);
	assert_true(t->handshake_timeout_s == 5.0);
	assert_true(t->resend.timeout_s == 30.0);
	assert_int_equal(t->resend.buffer_bytes, 256 * MIB);
	assert_int_equal(t->resend.window_bytes, 8 * MIB);
	assert_string_equal(t->dlq.path, "");
	assert_int_equal(t->dlq.max_bytes, 4096 * MIB);
	assert_false(t->dlq.auto_replay);
	assert_true(t->dlq.replay_rate == 100000.0);
	assert_true(t->forward.local_capture);
	assert_true(t->forward.remote_capture);
	assert_int_equal(t->ack.every, 256);
	assert_int_equal(t->ack.ms, 5);
	assert_true(t->heartbeat_s == 1.0);
	assert_true(t->dead_after_s == 5.0);
	assert_true(t->slow_after_s == 3.0);
	assert_int_equal(t->max_hops, 16);
	assert_string_equal(t->state_dir, PB_LOCALSTATEDIR "/lib/packetbroker");
	pb_config_free(&cfg);
	assert_true(is_zero(&cfg, sizeof(cfg)));

	/* A capture node: no listen, but the default address is filled in. */
	load_ok("node = { id = 1; };\ncaptures = { name = \"a\"; interface = \"eth0\"; };",
	    &cfg);
	assert_false(t->listen.enabled);
	assert_string_equal(t->listen.address, "0.0.0.0");
	assert_int_equal(t->listen.port, 7152);
	assert_int_equal(t->max_hops, 16);
	pb_config_free(&cfg);
}

/* Every key set to something other than its default, from a file, so that
 * relative paths resolve next to it. */
static void
test_every_key(void **state)
{
	static const char key[] = "0123456789abcdef-secret";
	struct pb_config cfg;
	const struct pb_tunnel_cfg *t = &cfg.tunnel;
	char psk[PATH_MAX], conf[PATH_MAX], exp[PATH_MAX], cwd[PATH_MAX], text[2048];

	(void)state;
	write_tmp("psk", "0123456789abcdef-secret \t\r\n\n", sizeof(key) - 1 + 5, 0600, psk,
	    sizeof(psk));
	fmt(text, sizeof(text), "node = { id = 5; };\n"
	    "listen = { address = \"::\"; port = 7000; accept_undeclared_consumers = true;"
	    " max_handshakes = 10; max_handshakes_per_ip = 2; };\n"
	    "peers = (\n"
	    "  { name = \"campus-hk\"; address = \"10.1.0.2\"; node = 77; },\n"
	    "  { name = \"campus-ld\"; address = \"ld4.example.net\"; port = 7200; },\n"
	    "  { name = \"v6\"; address = \"2001:db8::7\"; port = 1; } );\n"
	    "upstreams = { name = \"edge-a\"; address = \"10.2.0.1\"; port = 65535; };\n"
	    "consumers = ( { name = \"central\"; node = 100; },\n"
	    "  { name = \"backup\"; node = 4294967295L; } );\n"
	    "auth = { psk_file = \"psk\"; shared_psk = true; allow_unauthenticated = false; };\n"
	    "resend = { timeout = 45; buffer_mb = 65536; window_mb = 64; };\n"
	    "dlq = { path = \"spool/dlq.db\"; max_mb = 1048576; auto_replay = true;"
	    " replay_rate = 2.5; };\n"
	    "forward = { local_capture = false; remote_capture = false; };\n"
	    "ack = { every = 65536; ms = 10000; };\n"
	    "heartbeat = { interval = 0.05; dead_after = 3600; slow_after = 0.1; };\n"
	    "max_hops = %u;\n"
	    "state_dir = \"state\";\n"
	    "limits = { max_nodes = 20; max_sources = 30; max_nodes_per_link = 4;"
	    " max_sources_per_link = 5; max_streams = 6; };\n"
	    "handshake_timeout_s = 0.5;\n", PB_MAX_HOPS);
	write_tmp("pb.conf", text, strlen(text), 0644, conf, sizeof(conf));
	/* Relative to the file, whatever the cwd. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir("/"), 0);
	if (load_file(conf, &cfg) != 0)
		dump_reports();
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(nreports, 0);

	assert_true(t->listen.enabled);
	assert_string_equal(t->listen.address, "::");
	assert_int_equal(t->listen.port, 7000);
	assert_int_equal(t->npeers, 3);
	assert_string_equal(t->peers[0].name, "campus-hk");
	assert_string_equal(t->peers[0].address, "10.1.0.2");
	assert_int_equal(t->peers[0].port, 7152);
	assert_int_equal(t->peers[0].node_id, 77);
	assert_int_equal(t->peers[1].node_id, 0);
	assert_true(t->listen.accept_undeclared_consumers);
	assert_int_equal(t->listen.max_handshakes, 10);
	assert_int_equal(t->listen.max_handshakes_per_ip, 2);
	assert_int_equal(t->limits.max_nodes, 20);
	assert_int_equal(t->limits.max_sources, 30);
	assert_int_equal(t->limits.max_nodes_per_link, 4);
	assert_int_equal(t->limits.max_sources_per_link, 5);
	assert_int_equal(t->limits.max_streams, 6);
	assert_true(t->handshake_timeout_s == 0.5);
	assert_int_equal(t->peers[0].line, 4);
	assert_string_equal(t->peers[1].name, "campus-ld");
	assert_string_equal(t->peers[1].address, "ld4.example.net");
	assert_int_equal(t->peers[1].port, 7200);
	assert_int_equal(t->peers[1].line, 5);
	assert_string_equal(t->peers[2].address, "2001:db8::7");
	assert_int_equal(t->peers[2].port, 1);
	assert_int_equal(t->nupstreams, 1);
	assert_string_equal(t->upstreams[0].name, "edge-a");
	assert_string_equal(t->upstreams[0].address, "10.2.0.1");
	assert_int_equal(t->upstreams[0].port, 65535);
	assert_int_equal(t->upstreams[0].line, 7);
	assert_int_equal(t->nconsumers, 2);
	assert_string_equal(t->consumers[0].name, "central");
	assert_int_equal(t->consumers[0].node_id, 100);
	assert_int_equal(t->consumers[0].line, 8);
	assert_string_equal(t->consumers[1].name, "backup");
	assert_int_equal(t->consumers[1].node_id, UINT32_MAX);
	assert_int_equal(t->consumers[1].line, 9);

	assert_string_equal(t->auth.psk_file, psk);
	assert_true(t->auth.shared_psk);
	assert_false(t->auth.allow_unauthenticated);
	assert_int_equal(t->auth.psk_len, sizeof(key) - 1);
	assert_memory_equal(t->auth.psk, key, sizeof(key) - 1);
	assert_true(t->resend.timeout_s == 45.0);
	assert_int_equal(t->resend.buffer_bytes, 65536 * MIB);
	assert_int_equal(t->resend.window_bytes, 64 * MIB);
	fmt(exp, sizeof(exp), "%s/spool/dlq.db", tmpdir);
	assert_string_equal(t->dlq.path, exp);
	assert_int_equal(t->dlq.max_bytes, 1048576 * MIB);
	assert_true(t->dlq.auto_replay);
	assert_true(t->dlq.replay_rate == 2.5);
	assert_false(t->forward.local_capture);
	assert_false(t->forward.remote_capture);
	assert_int_equal(t->ack.every, 65536);
	assert_int_equal(t->ack.ms, 10000);
	assert_true(t->heartbeat_s == 0.05);
	assert_true(t->dead_after_s == 3600.0);
	assert_true(t->slow_after_s == 0.1);
	assert_int_equal(t->max_hops, PB_MAX_HOPS);
	fmt(exp, sizeof(exp), "%s/state", tmpdir);
	assert_string_equal(t->state_dir, exp);
	pb_config_free(&cfg);
	assert_true(is_zero(&cfg, sizeof(cfg)));
}

enum kind { U32, U64, DBL };

/* One key per row, on line 2 of the text; good values are read back. */
static void
test_ranges(void **state)
{
	static const struct {
		const char *text;
		const char *err;         /* NULL = valid */
		enum kind kind;
		size_t off;              /* into struct pb_tunnel_cfg */
		double want;
	} cases[] = {
#define GOOD(text, kind, f, want) { text, NULL, kind, offsetof(struct pb_tunnel_cfg, f), want }
#define BAD(text, err) { text, err, U32, 0, 0 }
		GOOD("resend = { timeout = 30; };", DBL, resend.timeout_s, 30),
		GOOD("resend = { timeout = 0.1; };", DBL, resend.timeout_s, 0.1),
		GOOD("resend = { timeout = 86400; };", DBL, resend.timeout_s, 86400),
		BAD("resend = { timeout = 0.09; };", "resend.timeout: 0.09 is out of range 0.1..86400"),
		BAD("resend = { timeout = 86401; };", "resend.timeout: 86401 is out of range"),
		BAD("resend = { timeout = \"30\"; };", "timeout: expected a number, got a string"),
		GOOD("resend = { buffer_mb = 1; };", U64, resend.buffer_bytes, MIB),
		BAD("resend = { buffer_mb = 0; };", "resend.buffer_mb: 0 is out of range 1..65536"),
		BAD("resend = { buffer_mb = 65537; };", "resend.buffer_mb: 65537 is out of range"),
		BAD("resend = { buffer_mb = 2.0; };", "buffer_mb: expected an integer, got a float"),
		GOOD("resend = { window_mb = 1; };", U64, resend.window_bytes, MIB),
		GOOD("resend = { window_mb = 65536; };", U64, resend.window_bytes, 65536 * MIB),
		/* More than 3/4 of the buffer is accepted; the engine caps it. */
		GOOD("resend = { buffer_mb = 4; window_mb = 1024; };", U64, resend.window_bytes,
		    1024 * MIB),
		BAD("resend = { window_mb = 0; };", "resend.window_mb: 0 is out of range 1..65536"),
		BAD("resend = { window_mb = 65537; };", "resend.window_mb: 65537 is out of range"),
		BAD("resend = { window_mb = 8.5; };", "window_mb: expected an integer, got a float"),
		GOOD("dlq = { max_mb = 1; };", U64, dlq.max_bytes, MIB),
		BAD("dlq = { max_mb = 0; };", "dlq.max_mb: 0 is out of range 1..1048576"),
		BAD("dlq = { max_mb = 1048577; };", "dlq.max_mb: 1048577 is out of range"),
		GOOD("dlq = { replay_rate = 1; };", DBL, dlq.replay_rate, 1),
		GOOD("dlq = { replay_rate = 1e8; };", DBL, dlq.replay_rate, 1e8),
		GOOD("dlq = { replay_rate = 100000000; };", DBL, dlq.replay_rate, 1e8),
		BAD("dlq = { replay_rate = 0.5; };", "dlq.replay_rate: 0.5 is out of range"),
		BAD("dlq = { replay_rate = 100000001; };", "replay_rate: 100000001 is out of range"),
		/* libconfig 1.5 wraps this to a negative 32-bit value. */
		BAD("dlq = { replay_rate = 3000000000; };", "dlq.replay_rate: "),
		GOOD("ack = { every = 1; };", U32, ack.every, 1),
		BAD("ack = { every = 0; };", "ack.every: 0 is out of range 1..65536"),
		BAD("ack = { every = 65537; };", "ack.every: 65537 is out of range"),
		GOOD("ack = { ms = 1; };", U32, ack.ms, 1),
		BAD("ack = { ms = 0; };", "ack.ms: 0 is out of range 1..10000"),
		BAD("ack = { ms = 10001; };", "ack.ms: 10001 is out of range"),
		GOOD("heartbeat = { interval = 2; };", DBL, heartbeat_s, 2),
		GOOD("heartbeat = { interval = 60; dead_after = 61; };", DBL, heartbeat_s, 60),
		BAD("heartbeat = { interval = 0.04; };", "interval: 0.04 is out of range 0.05..60"),
		BAD("heartbeat = { interval = 61; dead_after = 99; };", "interval: 61 is out of range"),
		GOOD("heartbeat = { dead_after = 1.5; };", DBL, dead_after_s, 1.5),
		BAD("heartbeat = { dead_after = 3601; };", "dead_after: 3601 is out of range"),
		BAD("heartbeat = { dead_after = 1; };", "heartbeat.dead_after: dead_after (1 s)"
		    " must be greater than interval (1 s)"),
		BAD("heartbeat = { interval = 5; };", "heartbeat.interval: dead_after (5 s, the"
		    " default) must be greater than interval (5 s)"),
		GOOD("heartbeat = { slow_after = 0.1; };", DBL, slow_after_s, 0.1),
		GOOD("heartbeat = { slow_after = 3600; };", DBL, slow_after_s, 3600),
		BAD("heartbeat = { slow_after = 0.09; };", "slow_after: 0.09 is out of range 0.1..3600"),
		BAD("heartbeat = { slow_after = true; };", "slow_after: expected a number, got a bool"),
		GOOD("max_hops = 1;", U32, max_hops, 1),
		BAD("max_hops = 0;", "max_hops: 0 is out of range 1..32"),
		BAD("max_hops = 33;", "max_hops: 33 is out of range 1..32"),
		BAD("max_hops = \"16\";", "max_hops: expected an integer, got a string"),
		BAD("forward = { local_capture = 1; };", "forward.local_capture: expected a boolean"),
		BAD("forward = { remote_capture = \"no\"; };", "remote_capture: expected a boolean"),
		BAD("listen = { address = \"::1\"; port = 0; };", "listen.port: 0 is out of range"),
		BAD("resend = 30;", "resend: expected a group, got an integer"),
		BAD("dlq = ( { path = \"x\"; } );", "dlq: expected a group, got a list"),
		BAD("state_dir = 5;", "state_dir: expected a string, got an integer"),
		BAD("state_dir = \"\";", "state_dir: must not be empty"),
#undef GOOD
#undef BAD
	};
	struct pb_config cfg;
	char text[512];
	size_t i;

	(void)state;
	/* The capture is the source; line 2 holds the key under test. */
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const unsigned char *base = (const unsigned char *)&cfg.tunnel;
		double got = 0;

		fmt(text, sizeof(text), "node = { id = 1; };\n%s\ncaptures = { name = \"c\";"
		    " interface = \"eth0\"; };\n", cases[i].text);
		if (cases[i].err != NULL) {
			load_bad(text, 2, cases[i].err);
			continue;
		}
		load_ok(text, &cfg);
		if (cases[i].kind == U32)
			got = *(const uint32_t *)(const void *)(base + cases[i].off);
		else if (cases[i].kind == U64)
			got = (double)*(const uint64_t *)(const void *)(base + cases[i].off);
		else
			got = *(const double *)(const void *)(base + cases[i].off);
		if (got != cases[i].want)
			fail_msg("%s: got %g, want %g", cases[i].text, got, cases[i].want);
		pb_config_free(&cfg);
	}
}

static void
test_addresses(void **state)
{
	static const char *const good[] = { "10.1.0.2", "::1", "fe80::1", "::ffff:10.0.0.1",
		"campus-hk.example.com", "host", "example.com.", "a-b.c0", "123abc.example",
		"ip6-localhost", "x1.y2", "ABC.Example.ORG", "1.2.3.example" };
	static const struct {
		const char *addr, *err;
	} bad[] = {
		{ "", "must not be empty" },
		{ "[::1]", "without brackets" },
		{ "10.1.0.256", "\"10.1.0.256\" is not a valid IPv4 address" },
		{ "1.2.3", "is not a valid IPv4 address" },
		{ "12", "is not a valid IPv4 address" },
		{ "x1.2", "\"x1.2\" is neither an IP address nor a host name: the last label" },
		{ "example.123.", "the last label of a host name is not all digits" },
		{ "10.1.0.2:7152", "not a valid IPv6 address (the port is the separate key" },
		{ "::g", "not a valid IPv6 address" },
		{ "bad_name.com", "neither an IP address nor a host name: a host name has only" },
		{ "host name", "only letters, digits" },
		{ "-a.com", "must not start with '-'" },
		{ "a-.com", "must not end with '-'" },
		{ "a..b", "empty label" },
		{ ".a", "empty label" },
		{ "a.b..", "empty label" },
		{ "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.com",
		  "at most 63 characters" },
	};
	struct pb_config cfg;
	char text[1024], name[300];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		fmt(text, sizeof(text), "node = { id = 1; };\nupstreams = { name = \"u\";"
		    " address = \"%s\"; };", good[i]);
		load_ok(text, &cfg);
		assert_string_equal(cfg.tunnel.upstreams[0].address, good[i]);
		pb_config_free(&cfg);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fmt(text, sizeof(text), "node = { id = 1; };\nupstreams = { name = \"u\";\n"
		    " address = \"%s\"; };", bad[i].addr);
		load_bad(text, 3, bad[i].err);
		expect_report(3, "upstreams.address: ");
	}
	/* 127 characters fit the field ("a...a.a...a", labels of 63). */
	memset(name, 'a', sizeof(name));
	name[63] = '.';
	for (i = 127; i <= 128; i++) {
		name[i] = '\0';
		fmt(text, sizeof(text), "node = { id = 1; };\nupstreams = { name = \"u\";"
		    " address = \"%s\"; };", name);
		if (i == 128)
			load_bad(text, 2, "upstreams.address: too long (128 bytes, at most 127)");
		else
			load_ok(text, &cfg);
		pb_config_free(&cfg);
		name[i] = 'a';
	}
}

static void
test_endpoints(void **state)
{
	struct pb_config cfg;
	char *text;
	size_t n, len = 64 * 1024;
	int i;

	(void)state;
	/* One group or a list; the same host may be both peer and upstream. */
	load_ok("node = { id = 1; };\n"
	    "peers = { name = \"p\"; address = \"10.0.0.1\"; };\n"
	    "upstreams = ( { name = \"u1\"; address = \"10.0.0.1\"; },\n"
	    "  { name = \"u2\"; address = \"10.0.0.1\"; port = 7153; } );\n", &cfg);
	assert_int_equal(cfg.tunnel.npeers, 1);
	assert_int_equal(cfg.tunnel.nupstreams, 2);
	assert_int_equal(cfg.tunnel.upstreams[1].port, 7153);
	assert_int_equal(cfg.tunnel.upstreams[1].line, 4);
	pb_config_free(&cfg);

	load_bad(HEAD "peers = ( { name = \"x\"; address = \"10.0.0.1\"; },\n"
	    "  { name = \"y\"; address = \"10.0.0.2\"; } );\n"
	    "upstreams = { name = \"x\"; address = \"10.0.0.3\"; };\n", 5,
	    "upstreams.name: duplicate name \"x\" (first at line 3; names are unique across"
	    " peers, upstreams and consumers)");
	load_bad(HEAD "peers = ( { name = \"x\"; address = \"a.example\"; },\n"
	    "  { name = \"y\"; address = \"A.example\"; port = 7152; } );\n", 4,
	    "peers[1]: A.example:7152 is already \"x\" (line 3)");
	load_bad(HEAD "peers = ( { address = \"10.0.0.1\"; } );\n", 3,
	    "peers[0]: missing required key 'name'");
	load_bad(HEAD "peers = ( { name = \"x\"; } );\n", 3, "peers[0]: missing required key 'address'");
	load_bad(HEAD "peers = ( { name = \"a/b\"; address = \"h\"; } );\n", 3,
	    "peers[0].name: \"a/b\": 1..63 letters, digits, '-', '_' or '.'");
	load_bad(HEAD "peers = ( { name = \"x\"; address = \"h\"; port = 65536; } );\n", 3,
	    "peers[0].port: 65536 is out of range 1..65535");
	load_bad(HEAD "peers = ( { name = \"x\"; address = \"h\"; },\n \"y\" );\n", 4,
	    "peers[1]: expected a group { ... }, got a string");
	load_bad(HEAD "peers = \"10.0.0.1\";\n", 3, "peers: expected a list of groups");

	/* At most PB_MAX_PEERS of each. */
	assert_non_null(text = malloc(len));
	n = (size_t)snprintf(text, len, "node = { id = 1; };\nupstreams = (");
	for (i = 0; i < PB_MAX_PEERS; i++)
		n += (size_t)snprintf(text + n, len - n, "%s{ name = \"u%d\"; address ="
		    " \"10.0.%d.%d\"; }", i ? ", " : "", i, i / 256, i % 256);
	snprintf(text + n, len - n, ");\n");
	load_ok(text, &cfg);
	assert_int_equal(cfg.tunnel.nupstreams, PB_MAX_PEERS);
	pb_config_free(&cfg);
	snprintf(text + n, len - n, ", { name = \"last\"; address = \"h\"; });\n");
	load_bad(text, 2, "65 upstreams given, at most 64 are supported");
	free(text);
}

/* Nodes that dial our listen to receive: the reverse direction. */
static void
test_consumers(void **state)
{
	static const struct {
		const char *text;        /* line 3 onwards, after HEAD */
		int line;
		const char *err;
	} bad[] = {
		{ "consumers = { node = 100; };", 3, "consumers: missing required key 'name'" },
		{ "consumers = { name = \"c\"; };", 3, "consumers: missing required key 'node'" },
		{ "consumers = ( { name = \"c\";\n node = 0; } );", 4,
		  "consumers[0].node: 0 is out of range 1..4294967295" },
		{ "consumers = ( { name = \"c\"; node = 4294967296L; } );", 3,
		  "consumers[0].node: 4294967296 is out of range 1..4294967295" },
		/* libconfig 1.5 wraps an unsuffixed literal: the message says so. */
		{ "consumers = ( { name = \"c\"; node = 4294967295; } );", 3,
		  "values above 2147483647 need an L suffix" },
		{ "consumers = ( { name = \"c\"; node = -1; } );", 3,
		  "consumers[0].node: -1 is out of range" },
		{ "consumers = ( { name = \"c\"; node = \"100\"; } );", 3,
		  "consumers[0].node: expected an integer, got a string" },
		{ "consumers = ( { name = \"c\"; node = 1; } );", 3,
		  "consumers[0].node: 1 is this node's own node.id" },
		{ "consumers = ( { name = \"a/b\"; node = 100; } );", 3,
		  "consumers[0].name: \"a/b\": 1..63 letters, digits, '-', '_' or '.'" },
		{ "consumers = ( { name = \"\"; node = 100; } );", 3, "consumers[0].name: " },
		{ "consumers = ( { name = \"c\"; node = 100; address = \"h\"; } );", 3,
		  "consumers[0].address: unknown key 'address' (valid keys: name, node)" },
		{ "consumers = ( { name = \"a\"; node = 100; },\n"
		  "  { name = \"b\"; node = 100; } );", 4,
		  "consumers[1].node: node 100 is already consumer \"a\" (line 3)" },
		{ "consumers = ( { name = \"a\"; node = 100; },\n"
		  "  { name = \"a\"; node = 101; } );", 4,
		  "consumers[1].name: duplicate name \"a\" (first at line 3; names are unique"
		  " across peers, upstreams and consumers)" },
		{ "peers = { name = \"p\"; address = \"h\"; };\n"
		  "consumers = { name = \"p\"; node = 100; };", 4,
		  "consumers.name: duplicate name \"p\" (first at line 3;" },
		{ "upstreams = ( { name = \"u\"; address = \"h\"; } );\n\n"
		  "consumers = { name = \"u\"; node = 100; };", 5,
		  "consumers.name: duplicate name \"u\" (first at line 3;" },
		{ "consumers = ( { name = \"c\"; node = 100; },\n \"d\" );", 4,
		  "consumers[1]: expected a group { ... }, got a string" },
		{ "consumers = 100;", 3, "consumers: expected a list of groups" },
	};
	struct pb_config cfg;
	char text[1024], *big;
	size_t i, n, len = 64 * 1024;

	(void)state;
	/* A single group; a consumer may share its node id with a peer. */
	load_ok(HEAD "peers = { name = \"p\"; address = \"10.0.0.1\"; };\n"
	    "consumers = { name = \"central\"; node = 100; };\n", &cfg);
	assert_int_equal(cfg.tunnel.nconsumers, 1);
	assert_string_equal(cfg.tunnel.consumers[0].name, "central");
	assert_int_equal(cfg.tunnel.consumers[0].node_id, 100);
	assert_int_equal(cfg.tunnel.consumers[0].line, 4);
	pb_config_free(&cfg);
	assert_true(is_zero(&cfg, sizeof(cfg)));
	/* An empty list is none; the lowest id is fine for another node. */
	load_ok(HEAD "consumers = ();\n", &cfg);
	assert_int_equal(cfg.tunnel.nconsumers, 0);
	assert_null(cfg.tunnel.consumers);
	pb_config_free(&cfg);
	load_ok("node = { id = 2; };\nlisten = { address = \"127.0.0.1\"; };\n"
	    "consumers = ( { name = \"one\"; node = 1; },\n"
	    "  { name = \"Two_2.x-y\"; node = 3; } );\n", &cfg);
	assert_int_equal(cfg.tunnel.nconsumers, 2);
	assert_int_equal(cfg.tunnel.consumers[0].node_id, 1);
	assert_string_equal(cfg.tunnel.consumers[1].name, "Two_2.x-y");
	assert_int_equal(cfg.tunnel.consumers[1].line, 4);
	pb_config_free(&cfg);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fmt(text, sizeof(text), HEAD "%s\n", bad[i].text);
		load_bad(text, bad[i].line, bad[i].err);
	}

	/* They dial us: without listen nobody could. */
	load_bad("node = { id = 1; };\ncaptures = { name = \"c\"; interface = \"eth0\"; };\n"
	    "\nconsumers = ( { name = \"central\"; node = 100; } );\n", 4,
	    "consumers: consumers dial this node: configure 'listen' too");
	load_bad("node = { id = 1; };\nupstreams = { name = \"u\"; address = \"h\"; };\n"
	    "consumers = { name = \"central\"; node = 100; };\n", 3,
	    "consumers: consumers dial this node: configure 'listen' too");
	/* A broken listen is one error, not two. */
	load_bad("node = { id = 1; };\ncaptures = { name = \"c\"; interface = \"eth0\"; };\n"
	    "listen = 7152;\nconsumers = { name = \"central\"; node = 100; };\n", 3,
	    "listen: expected a group, got an integer");

	/* At most PB_MAX_PEERS of them. */
	assert_non_null(big = malloc(len));
	n = (size_t)snprintf(big, len, HEAD "consumers = (");
	for (i = 0; i < PB_MAX_PEERS; i++)
		n += (size_t)snprintf(big + n, len - n, "%s{ name = \"c%zu\"; node = %zu; }",
		    i ? ", " : "", i, 1000 + i);
	snprintf(big + n, len - n, ");\n");
	load_ok(big, &cfg);
	assert_int_equal(cfg.tunnel.nconsumers, PB_MAX_PEERS);
	assert_int_equal(cfg.tunnel.consumers[PB_MAX_PEERS - 1].node_id,
	    1000 + PB_MAX_PEERS - 1);
	pb_config_free(&cfg);
	snprintf(big + n, len - n, ", { name = \"last\"; node = 7; });\n");
	load_bad(big, 3, "65 consumers given, at most 64 are supported");
	free(big);
}

static void
test_listen_and_auth(void **state)
{
	static const char *const loopback[] = { "127.0.0.1", "127.9.8.7", "::1",
		"::ffff:127.0.0.1" };
	static const char *const open[] = { "0.0.0.0", "::", "192.0.2.1", "2001:db8::1",
		"::ffff:10.0.0.1", "128.0.0.1" };
	struct pb_config cfg;
	char text[512], msg[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++) {
		fmt(text, sizeof(text), "node = { id = 1; };\nlisten = { address = \"%s\"; };",
		    loopback[i]);
		load_ok(text, &cfg);
		assert_string_equal(cfg.tunnel.listen.address, loopback[i]);
		pb_config_free(&cfg);
	}
	for (i = 0; i < sizeof(open) / sizeof(open[0]); i++) {
		fmt(text, sizeof(text), "node = { id = 1; };\nlisten = {\n address = \"%s\"; };",
		    open[i]);
		fmt(msg, sizeof(msg), "listen.address: listen on %s without auth.keyring: set"
		    " auth.allow_unauthenticated = true to allow it explicitly", open[i]);
		load_bad(text, 3, msg);
		fmt(text, sizeof(text), "node = { id = 1; };\nlisten = { address = \"%s\"; };\n"
		    "auth = { allow_unauthenticated = true; };", open[i]);
		load_ok(text, &cfg);
		assert_true(cfg.tunnel.auth.allow_unauthenticated);
		pb_config_free(&cfg);
	}
	/* The default address is 0.0.0.0: reported on the group. */
	load_bad("node = { id = 1; };\nlisten = { };\n", 2,
	    "listen: listen on 0.0.0.0 without auth.keyring");
	load_bad("node = { id = 1; };\nlisten = { port = 7153; };\nauth = { psk_file = \"\"; };",
	    2, "listen on 0.0.0.0 without auth.keyring");
	/* Only IP literals; a bad address is one error, not two. */
	load_bad("node = { id = 1; };\nlisten = { address = \"localhost\"; };\n", 2,
	    "listen.address: \"localhost\" is not a numeric IPv4 or IPv6 address");
	load_bad("node = { id = 1; };\nlisten = { address = \"0.0.0.0:7152\"; };\n", 2,
	    "listen.address: \"0.0.0.0:7152\" is not a valid IPv6 address");
	load_bad("node = { id = 1; };\nlisten = { address = 7152; };\n", 2,
	    "listen.address: expected a string, got an integer");
	load_bad("node = { id = 1; };\nlisten = \"0.0.0.0:7152\";\n", 2,
	    "listen: expected a group, got a string");
	load_bad(HEAD "auth = { allow_unauthenticated = \"yes\"; };", 3,
	    "auth.allow_unauthenticated: expected a boolean");
}

static void
psk_conf(char *text, size_t len, const char *file, const char *extra)
{
	fmt(text, len, "node = { id = 1; };\nlisten = { address = \"0.0.0.0\"; };\n"
	    "auth = {\n psk_file = \"%s/%s\"; shared_psk = true;%s };\n", tmpdir, file, extra);
}

static void
test_psk_file(void **state)
{
	char k256[258], path[PATH_MAX], text[1024], msg[PATH_MAX + 128];
	static const mode_t unsafe[] = { 0640, 0660, 0620, 0604, 0602, 0610 };
	struct pb_config cfg;

	(void)state;
	memset(k256, 'k', sizeof(k256));
	write_tmp("psk16", "0123456789abcdef", 16, 0600, path, sizeof(path));
	psk_conf(text, sizeof(text), "psk16", "");
	load_ok(text, &cfg);
	assert_string_equal(cfg.tunnel.auth.psk_file, path);
	assert_int_equal(cfg.tunnel.auth.psk_len, 16);
	assert_true(cfg.tunnel.auth.shared_psk);
	assert_memory_equal(cfg.tunnel.auth.psk, "0123456789abcdef", 16);
	pb_config_free(&cfg);

	/* A shared key lets any node claim any id: only with the opt-in. */
	fmt(text, sizeof(text), "node = { id = 1; };\nlisten = { address = \"0.0.0.0\"; };\n"
	    "auth = {\n psk_file = \"%s/psk16\"; };\n", tmpdir);
	load_bad(text, 4, "auth.psk_file: a shared PSK lets any node that has it claim any"
	    " node id: use auth.keyring (per-node keys), or set auth.shared_psk = true");
	load_bad(HEAD "auth = { shared_psk = true; };", 3, "auth.shared_psk: needs auth.psk_file");

	/* 256 bytes plus a newline, owner-only. */
	k256[256] = '\n';
	write_tmp("psk256", k256, 257, 0400, path, sizeof(path));
	psk_conf(text, sizeof(text), "psk256", "");
	load_ok(text, &cfg);
	assert_int_equal(cfg.tunnel.auth.psk_len, 256);
	assert_memory_equal(cfg.tunnel.auth.psk, k256, 256);
	pb_config_free(&cfg);

	k256[256] = 'k';
	write_tmp("psk257", k256, 257, 0600, path, sizeof(path));
	psk_conf(text, sizeof(text), "psk257", "");
	load_bad(text, 4, "is too long: at most 256 bytes of key");
	/* Only trailing whitespace is stripped, inner bytes count. */
	write_tmp("psk15", "0123456 789abcd \n\r\n\t ", 21, 0600, path, sizeof(path));
	psk_conf(text, sizeof(text), "psk15", "");
	load_bad(text, 4, "is too short: 15 bytes after stripping trailing whitespace,"
	    " at least 16");
	write_tmp("empty", "", 0, 0600, path, sizeof(path));
	psk_conf(text, sizeof(text), "empty", "");
	load_bad(text, 4, "too short: 0 bytes");

	/* Any group or other bit: a shared group is how keys leak. */
	for (size_t i = 0; i < sizeof(unsafe) / sizeof(unsafe[0]); i++) {
		char name[32];
		fmt(name, sizeof(name), "open%zu", i);
		write_tmp(name, "0123456789abcdef", 16, unsafe[i], path, sizeof(path));
		psk_conf(text, sizeof(text), name, "");
		fmt(msg, sizeof(msg), "auth.psk_file: \"%s\" has mode %04o: a secret must not be"
		    " accessible by group or others (chmod 600)", path, (unsigned)unsafe[i]);
		load_bad(text, 4, msg);
	}

	psk_conf(text, sizeof(text), "missing", "");
	fmt(msg, sizeof(msg), "auth.psk_file: cannot open \"%s/missing\": No such file or"
	    " directory", tmpdir);
	load_bad(text, 4, msg);
	fmt(path, sizeof(path), "%s/dir", tmpdir);
	assert_int_equal(mkdir(path, 0700), 0);
	psk_conf(text, sizeof(text), "dir", "");
	load_bad(text, 4, "dir\" is not a regular file");
	fmt(path, sizeof(path), "%s/fifo", tmpdir);
	assert_int_equal(mkfifo(path, 0600), 0);
	psk_conf(text, sizeof(text), "fifo", "");
	load_bad(text, 4, "fifo\" is not a regular file");

	/* A PSK and allow_unauthenticated = true contradict each other. */
	psk_conf(text, sizeof(text), "psk16", " allow_unauthenticated = true;");
	load_bad(text, 4, "auth.allow_unauthenticated: contradicts psk_file");
	psk_conf(text, sizeof(text), "psk16", " allow_unauthenticated = false;");
	load_ok(text, &cfg);
	pb_config_free(&cfg);
	load_bad("node = { id = 1; };\nlisten = { address = \"0.0.0.0\"; };\n"
	    "auth = { psk_file = 5; };", 3, "auth.psk_file: expected a string, got an integer");
}

static void
ring_conf(char *text, size_t len, const char *file, const char *extra)
{
	fmt(text, len, "node = { id = 1; };\nlisten = { address = \"0.0.0.0\"; };\n"
	    "auth = {\n keyring = \"%s/%s\";%s };\n", tmpdir, file, extra);
}

static void
test_keyring(void **state)
{
	static const char ring[] =
	    "# node id, key shared with it\n"
	    "\n"
	    "100 000102030405060708090a0b0c0d0e0f\n"
	    "  7\tFFEEDDCCBBAA99887766554433221100ffeeddccbbaa99887766554433221100  # relay\n"
	    "4294967295 00112233445566778899aabbccddeeff\n";
	char path[PATH_MAX], text[1024], msg[PATH_MAX + 160];
	struct pb_config cfg;
	const struct pb_key *k;

	(void)state;
	write_tmp("ring", ring, sizeof(ring) - 1, 0600, path, sizeof(path));
	ring_conf(text, sizeof(text), "ring", "");
	load_ok(text, &cfg);
	assert_string_equal(cfg.tunnel.auth.keyring_file, path);
	assert_int_equal(cfg.tunnel.auth.keyring.n, 3);
	assert_non_null(k = pb_keyring_find(&cfg.tunnel.auth.keyring, 100));
	assert_int_equal(k->len, 16);
	assert_int_equal(k->key[0], 0);
	assert_int_equal(k->key[15], 15);
	assert_non_null(k = pb_keyring_find(&cfg.tunnel.auth.keyring, 7));
	assert_int_equal(k->len, 32);
	assert_int_equal(k->key[0], 0xff);
	assert_non_null(pb_keyring_find(&cfg.tunnel.auth.keyring, UINT32_MAX));
	assert_null(pb_keyring_find(&cfg.tunnel.auth.keyring, 1));
	assert_null(pb_keyring_find(&cfg.tunnel.auth.keyring, 8));
	pb_config_free(&cfg);
	assert_true(is_zero(&cfg, sizeof(cfg)));

	/* Mode, ownership of a secret. */
	write_tmp("ring640", ring, sizeof(ring) - 1, 0640, path, sizeof(path));
	ring_conf(text, sizeof(text), "ring640", "");
	fmt(msg, sizeof(msg), "auth.keyring: \"%s\" has mode 0640", path);
	load_bad(text, 4, msg);
	if (geteuid() == 0) {
		write_tmp("ringuid", ring, sizeof(ring) - 1, 0600, path, sizeof(path));
		assert_int_equal(chown(path, 12345, 0), 0);
		ring_conf(text, sizeof(text), "ringuid", "");
		load_bad(text, 4, "is owned by uid 12345, not by this daemon's user (uid 0)");
	}

	/* Malformed lines name the file and line. */
	static const struct { const char *text, *msg; } bad[] = {
		{ "100 0001\n", "line 1: key of node 100: 4 hex digits, expected an even number from 32 to 512" },
		{ "\n0 000102030405060708090a0b0c0d0e0f\n", "line 2: expected a node id 1..4294967295" },
		{ "4294967296 000102030405060708090a0b0c0d0e0f\n", "line 1: expected a node id" },
		{ "x1 000102030405060708090a0b0c0d0e0f\n", "line 1: expected a node id" },
		{ "5 000102030405060708090a0b0c0d0e0g\n", "line 1: key of node 5: not a hex digit" },
		{ "5 000102030405060708090a0b0c0d0e0f0\n", "33 hex digits" },
		{ "5 000102030405060708090a0b0c0d0e0f extra\n", "line 1: unexpected text after the key" },
		{ "5 000102030405060708090a0b0c0d0e0f\n5 000102030405060708090a0b0c0d0e0f\n",
		  ": node 5 is listed twice" },
		{ "# nothing\n", "lists no key" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_tmp("bad", bad[i].text, strlen(bad[i].text), 0600, path, sizeof(path));
		ring_conf(text, sizeof(text), "bad", "");
		load_bad(text, 4, bad[i].msg);
	}
	/* One identity mode at a time. */
	write_tmp("psk16", "0123456789abcdef", 16, 0600, path, sizeof(path));
	write_tmp("ring", ring, sizeof(ring) - 1, 0600, path, sizeof(path));
	fmt(text, sizeof(text), "node = { id = 1; };\nlisten = { address = \"0.0.0.0\"; };\n"
	    "auth = {\n keyring = \"%s/ring\";\n psk_file = \"%s/psk16\"; shared_psk = true; };\n",
	    tmpdir, tmpdir);
	load_bad(text, 5, "auth.psk_file: contradicts auth.keyring");
	ring_conf(text, sizeof(text), "ring", " allow_unauthenticated = true;");
	load_bad(text, 4, "auth.allow_unauthenticated: contradicts keyring");
}

static void
test_limits(void **state)
{
	(void)state;
	load_bad(HEAD "limits = { max_nodes = 1; };", 3, "limits.max_nodes: 1 is out of range");
	load_bad(HEAD "limits = { max_sources = 0; };", 3, "limits.max_sources: 0 is out of range");
	load_bad(HEAD "limits = { max_node = 5; };", 3, "limits.max_node: unknown key 'max_node' (valid keys: max_nodes, max_sources,"
	    " max_nodes_per_link, max_sources_per_link, max_streams)");
	load_bad(HEAD "handshake_timeout_s = 0;", 3, "handshake_timeout_s: 0 is out of range");
	load_bad("node = { id = 1; };\nlisten = { address = \"::1\"; max_handshakes = 4;\n"
	    " max_handshakes_per_ip = 5; };", 3,
	    "listen.max_handshakes_per_ip: 5 is above max_handshakes (4)");
	load_bad("node = { id = 1; };\nlisten = { address = \"::1\"; max_handshakes = 0; };", 2,
	    "listen.max_handshakes: 0 is out of range");
	load_bad(HEAD "peers = { name = \"p\"; address = \"::1\"; node = 0; };", 3,
	    "peers.node: 0 is out of range");
}

static void
test_dlq(void **state)
{
	struct pb_config cfg;
	char cwd[PATH_MAX], exp[PATH_MAX];

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	load_ok(HEAD "dlq = { path = \"q.db\"; auto_replay = false; };\n", &cfg);
	fmt(exp, sizeof(exp), "%s/q.db", strcmp(cwd, "/") == 0 ? "" : cwd);
	assert_string_equal(cfg.tunnel.dlq.path, exp);
	pb_config_free(&cfg);
	load_ok(HEAD "dlq = { path = \"\"; max_mb = 10; };\n", &cfg);
	assert_string_equal(cfg.tunnel.dlq.path, "");
	assert_int_equal(cfg.tunnel.dlq.max_bytes, 10 * MIB);
	pb_config_free(&cfg);
	load_bad(HEAD "dlq = { path = \"/var/spool/\"; };\n", 3, "dlq.path: names a directory");
	load_bad(HEAD "dlq = { auto_replay = true; };\n", 3,
	    "dlq.auto_replay: needs dlq.path: without a DLQ there is nothing to replay");
	load_bad(HEAD "dlq = { path = \"\"; auto_replay = true; };\n", 3, "dlq.auto_replay: needs");
}

/* Relays and collectors have no captures and need no dump; but something
 * must feed the node. */
static void
test_sources(void **state)
{
	struct pb_config cfg;

	(void)state;
	load_ok("node = { id = 1; };\nlisten = { address = \"127.0.0.1\"; };\n"
	    "peers = { name = \"next\"; address = \"127.0.0.1\"; port = 7153; };\n", &cfg);
	assert_int_equal(cfg.ncaptures, 0);
	assert_int_equal(cfg.ndumps, 0);
	pb_config_free(&cfg);
	load_ok("node = { id = 1; };\nupstreams = { name = \"e\"; address = \"h\"; };\n"
	    "dump = { file = \"/x.pcapng\"; };\n", &cfg);
	assert_int_equal(cfg.ncaptures, 0);
	assert_int_equal(cfg.ndumps, 1);
	pb_config_free(&cfg);

	load_bad("node = { id = 1; };\ndump = { file = \"/x.pcapng\"; };\n", 0,
	    "no source of records: configure 'captures', 'listen' (records from nodes that"
	    " dial in) or 'upstreams' (nodes we dial)");
	assert_string_equal(reports[0].file, "<string>");
	/* Peers are where records go, not where they come from. */
	load_bad("node = { id = 1; };\npeers = { name = \"p\"; address = \"h\"; };\n", 0,
	    "no source of records");
	load_bad("node = { id = 1; };\ncaptures = ();\nupstreams = ();\n", 0,
	    "no source of records");
}

static void
test_bad_files(void **state)
{
	static const struct expect keys[] = {
		{ 3, "listen.adress: unknown key 'adress' (valid keys: address, port,"
		    " accept_undeclared_consumers, max_handshakes, max_handshakes_per_ip)" },
		{ 4, "peers[0].host: unknown key 'host' (valid keys: name, address, port, addresses, node)" },
		{ 5, "upstreams.nmae: unknown key 'nmae' (valid keys: name, address, port, addresses, node)" },
		{ 6, "auth.psk: unknown key 'psk' (valid keys: keyring, psk_file, shared_psk,"
		    " allow_unauthenticated, tls_cert, tls_key, tls_ca)" },
		{ 7, "resend.timeout_s: unknown key 'timeout_s' (valid keys: timeout, buffer_mb,"
		    " window_mb)" },
		{ 8, "dlq.size_mb: unknown key 'size_mb' (valid keys: path, max_mb, auto_replay,"
		    " replay_rate)" },
		{ 9, "forward.local: unknown key 'local' (valid keys: local_capture, remote_capture)" },
		{ 10, "ack.count: unknown key 'count' (valid keys: every, ms)" },
		{ 11, "heartbeat.timeout: unknown key 'timeout' (valid keys: interval, dead_after,"
		    " slow_after)" },
		{ 12, "tunnel: unknown key 'tunnel' (valid keys: node, captures, dump, api, log,"
		    " listen, peers, upstreams, consumers, auth, resend, dlq, forward, ack,"
		    " heartbeat, max_hops, state_dir, limits, handshake_timeout_s, snmp)" },
	};
	static const struct expect values[] = {
		{ 4, "listen.address: \"localhost\" is not a numeric IPv4 or IPv6 address" },
		{ 5, "listen.port: 0 is out of range 1..65535" },
		{ 7, "peers[0].address: \"10.1.0.256\" is not a valid IPv4 address" },
		{ 8, "peers[1].port: 65536 is out of range 1..65535" },
		{ 9, "peers[2].name: duplicate name \"a\" (first at line 7;" },
		{ 10, "peers[3]: missing required key 'name'" },
		{ 11, "peers[4]: missing required key 'address'" },
		{ 13, "upstreams.name: \"b b\": 1..63 letters" },
		{ 13, "upstreams.address: \"[::1]\": write IPv6 addresses without brackets" },
		{ 14, "auth.allow_unauthenticated: expected a boolean" },
		{ 15, "resend.timeout: 0.05 is out of range 0.1..86400" },
		{ 15, "resend.buffer_mb: 0 is out of range 1..65536" },
		{ 16, "dlq.path: names a directory" },
		{ 16, "dlq.max_mb: 0 is out of range 1..1048576" },
		{ 16, "dlq.replay_rate: 0 is out of range 1..100000000" },
		{ 16, "dlq.auto_replay: expected a boolean" },
		{ 17, "forward.local_capture: expected a boolean" },
		{ 18, "ack.every: 0 is out of range 1..65536" },
		{ 18, "ack.ms: 10001 is out of range 1..10000" },
		{ 19, "heartbeat.dead_after: dead_after (1 s) must be greater than interval (2 s)" },
		{ 19, "heartbeat.slow_after: expected a number, got a string" },
		{ 20, "max_hops: 33 is out of range 1..32" },
		{ 21, "state_dir: must not be empty" },
	};

	(void)state;
	check_bad_file("tests/unit/conf/bad_tunnel_keys.conf", keys,
	    (int)(sizeof(keys) / sizeof(keys[0])));
	check_bad_file("tests/unit/conf/bad_tunnel_values.conf", values,
	    (int)(sizeof(values) / sizeof(values[0])));
}

/* The three-node example for integration tests (edge -> relay -> collector). */
static void
test_example_nodes(void **state)
{
	static const struct {
		const char *name;
		size_t ncaptures, ndumps, npeers;
		int listen_port;         /* 0 = no listen */
		int peer_port;
	} nodes[] = {
		{ "edge", 1, 0, 1, 0, 7153 },
		{ "relay", 0, 0, 1, 7153, 7154 },
		{ "collector", 0, 1, 0, 7154, 0 },
	};
	const struct pb_tunnel_cfg *t;
	struct pb_config cfg;
	char path[PATH_MAX], dir[PATH_MAX], exp[PATH_MAX * 2];
	size_t i;

	(void)state;
	srcdir_path(path, sizeof(path), "tests/unit/conf");
	assert_non_null(realpath(path, dir));
	for (i = 0, t = &cfg.tunnel; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		fmt(path, sizeof(path), "%s/%s.conf", dir, nodes[i].name);
		if (load_file(path, &cfg) != 0)
			dump_reports();
		assert_int_equal(nreports, 0);
		assert_int_equal(cfg.ncaptures, nodes[i].ncaptures);
		assert_int_equal(cfg.ndumps, nodes[i].ndumps);
		assert_int_equal(t->listen.enabled, nodes[i].listen_port != 0);
		if (nodes[i].listen_port != 0) {
			assert_string_equal(t->listen.address, "127.0.0.1");
			assert_int_equal(t->listen.port, nodes[i].listen_port);
		}
		assert_int_equal(t->npeers, nodes[i].npeers);
		if (nodes[i].npeers > 0) {
			assert_string_equal(t->peers[0].address, "127.0.0.1");
			assert_int_equal(t->peers[0].port, nodes[i].peer_port);
		}
		assert_int_equal(t->auth.psk_len, 0);
		fmt(exp, sizeof(exp), "%s/%s-state", dir, nodes[i].name);
		assert_string_equal(t->state_dir, exp);
		pb_config_free(&cfg);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_endpoints),
		cmocka_unit_test(test_consumers),
		cmocka_unit_test(test_listen_and_auth),
		cmocka_unit_test(test_psk_file),
		cmocka_unit_test(test_keyring),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_dlq),
		cmocka_unit_test(test_sources),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_example_nodes),
	};

	return cmocka_run_group_tests_name("config_tunnel", tests, setup, teardown);
}
