/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
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
#include "record.h"
#include "trailer.h"

#include "config_test.h"
#include "tls_test.h"

/* Since the tunnel keys, a node needs a source of records. Tests about
 * other sections load their text with this one appended (own line, so the
 * text's line numbers stay). */
#define SOURCE "\nlisten = { address = \"127.0.0.1\"; };\n"

static int
load_src(const char *text, struct pb_config *cfg)
{
	size_t len = strlen(text);
	char *buf = malloc(len + sizeof(SOURCE));
	int n;

	assert_non_null(buf);
	memcpy(buf, text, len);
	memcpy(buf + len, SOURCE, sizeof(SOURCE));
	n = load_str(buf, cfg);
	free(buf);
	return n;
}

static void
write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

static void
assert_in_dir(const char *path, const char *dir, const char *base)
{
	char d[PATH_MAX], rd[PATH_MAX], rdir[PATH_MAX];
	const char *slash = strrchr(path, '/');

	assert_non_null(slash);
	assert_int_equal(path[0], '/');
	assert_string_equal(slash + 1, base);
	snprintf(d, sizeof(d), "%.*s", (int)(slash - path), path);
	assert_non_null(realpath(d, rd));
	assert_non_null(realpath(dir, rdir));
	assert_string_equal(rd, rdir);
}

static void
test_issue_example(void **state)
{
	struct pb_config cfg;
	char path[PATH_MAX], dir[PATH_MAX];
	const struct pb_capture_cfg *c;
	const struct pb_dump_cfg *d;

	(void)state;
	srcdir_path(path, sizeof(path), "tests/unit/conf/good.conf");
	srcdir_path(dir, sizeof(dir), "tests/unit/conf");
	if (load_file(path, &cfg) != 0)
		dump_reports();
	assert_int_equal(nreports, 0);
	assert_in_dir(cfg.path, dir, "good.conf");

	assert_int_equal(cfg.node.id, 1);
	assert_string_equal(cfg.node.name, "edge-ny4");
	assert_string_equal(cfg.node.description, "NY4 edge, rack 12");

	assert_int_equal(cfg.ncaptures, 2);
	c = &cfg.captures[0];
	assert_string_equal(c->name, "tap1");
	assert_string_equal(c->description, "");
	assert_false(c->is_file);
	assert_string_equal(c->interface, "eth1");
	assert_string_equal(c->file, "");
	assert_string_equal(c->filter, "not port 22");
	assert_int_equal(c->buffer_mb, 64);
	assert_int_equal(c->timeout_ms, 0);
	assert_true(c->promisc);
	assert_true(c->fcs);
	assert_int_equal(c->ntrailers, 1);
	assert_int_equal(c->trailers[0].type, PB_TRAILER_METAMAKO);
	assert_int_equal(c->trailers[0].length, 0);
	assert_int_equal(c->max_frame, pb_record_default_max_frame(1));
	assert_int_equal(c->rate, PB_RATE_MAX);
	assert_int_equal(c->loop, 1);
	assert_int_equal(c->line, 4);

	c = &cfg.captures[1];
	assert_string_equal(c->name, "replay");
	assert_true(c->is_file);
	assert_string_equal(c->interface, "");
	assert_in_dir(c->file, dir, "sample.pcap");
	assert_string_equal(c->filter, "");
	assert_false(c->fcs);
	assert_int_equal(c->ntrailers, 0);
	assert_int_equal(c->max_frame, pb_record_default_max_frame(0));
	assert_int_equal(c->rate, PB_RATE_MAX);
	assert_int_equal(c->loop, 1);
	assert_int_equal(c->line, 6);

	assert_int_equal(cfg.ndumps, 1);
	d = &cfg.dumps[0];
	assert_string_equal(d->name, "dump");
	assert_int_equal(d->kind, PB_DUMP_FILE);
	/* out/ need not exist: compare the text after the config dir. */
	assert_non_null(strstr(d->file, "/out/capture-%Y%m%d-%H%M%S.pcapng"));
	assert_int_equal(d->file[0], '/');
	assert_int_equal(d->format, PB_FORMAT_PCAPNG);
	assert_int_equal(d->rotate_bytes, 1024ull * 1024 * 1024);
	assert_int_equal(d->rotate_seconds, 3600);
	assert_int_equal(d->max_files, 0);
	assert_int_equal(d->max_total_bytes, 0);
	assert_int_equal(d->buffer_mb, 64);
	assert_true(d->fsync);
	assert_string_equal(d->interface, "");
	assert_int_equal(d->line, 8);

	assert_true(cfg.api.enabled);
	assert_string_equal(cfg.api.address, "127.0.0.1");
	assert_int_equal(cfg.api.port, 8080);
	assert_int_equal(cfg.api.max_connections, 64);
	assert_int_equal(cfg.api.timeout_s, 15);
	assert_string_equal(cfg.api.web_root, PB_WEB_DIR);
	assert_int_equal(cfg.api.line, 10);
	assert_string_equal(cfg.log.debug, "");
	assert_false(cfg.log.syslog);

	pb_config_free(&cfg);
	assert_true(is_zero(&cfg, sizeof(cfg)));
}

static void
test_example_conf(void **state)
{
	struct pb_config cfg;
	char path[PATH_MAX];

	(void)state;
	srcdir_path(path, sizeof(path), "server/packetbrokerd.conf");
	if (load_file(path, &cfg) != 0)
		dump_reports();
	assert_int_equal(nreports, 0);
	assert_true(cfg.node.id > 0);
	assert_true(cfg.ncaptures >= 2);
	assert_true(cfg.ndumps >= 1);
	pb_config_free(&cfg);
}

/* The examples in docs/configuration.md must stay valid. */
static void
test_doc_examples(void **state)
{
	struct pb_config cfg;
	char path[PATH_MAX], *text, *p, *end;
	char tmpl[] = "/tmp/pbcfgXXXXXX", cwd[PATH_MAX], psk[PATH_MAX];
	int nexamples = 0;
	long len;
	FILE *fp;

	(void)state;
	srcdir_path(path, sizeof(path), "docs/configuration.md");
	assert_non_null(fp = fopen(path, "r"));
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	assert_true((len = ftell(fp)) > 0);
	rewind(fp);
	assert_non_null(text = calloc(1, (size_t)len + 1));
	assert_int_equal(fread(text, 1, (size_t)len, fp), (size_t)len);
	fclose(fp);
	/* The tunnel examples use psk_file = "psk": next to them, in the cwd. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_non_null(mkdtemp(tmpl));
	assert_int_equal(chdir(tmpl), 0);
	fmt(psk, sizeof(psk), "%s/psk", tmpl);
	write_file(psk, "doc-example-key-0123456789abcdef\n");
	assert_int_equal(chmod(psk, 0600), 0);
	/* The keyring examples: one file with every neighbour of the examples. */
	fmt(psk, sizeof(psk), "%s/keyring", tmpl);
	write_file(psk, "101 000102030405060708090a0b0c0d0e0f\n"
	    "201 101112131415161718191a1b1c1d1e1f\n900 202122232425262728292a2b2c2d2e2f\n");
	assert_int_equal(chmod(psk, 0600), 0);
	/* The TLS example: tls/ca.crt and tls/node900.crt, .key. */
	char tlsdir[PATH_MAX];
	fmt(tlsdir, sizeof(tlsdir), "%s/tls", tmpl);
	assert_int_equal(mkdir(tlsdir, 0700), 0);
	struct fx_id ca = fx_ca("doc CA"), n900 = fx_node(&ca, 900, -60, 3600);
	fx_write(tlsdir, "ca", &ca, NULL, 0600);
	fx_write(tlsdir, "node900", &n900, NULL, 0600);
	fx_free(&ca);
	fx_free(&n900);
	for (p = text; (p = strstr(p, "```\nnode =")) != NULL; p = end + 3) {
		p += 4;
		assert_non_null(end = strstr(p, "```"));
		*end = '\0';
		if (load_str(p, &cfg) != 0) {
			dump_reports();
			fail_msg("example %d in %s does not load", nexamples + 1, path);
		}
		assert_true(cfg.ncaptures > 0 || cfg.tunnel.listen.enabled ||
		    cfg.tunnel.nupstreams > 0);
		pb_config_free(&cfg);
		nexamples++;
	}
	assert_int_equal(chdir(cwd), 0);
	unlink(psk);
	fmt(psk, sizeof(psk), "%s/psk", tmpl);
	unlink(psk);
	static const char *const tls_files[] = { "ca.crt", "ca.key", "node900.crt", "node900.key" };
	for (size_t i = 0; i < sizeof(tls_files) / sizeof(tls_files[0]); i++) {
		fmt(psk, sizeof(psk), "%s/%s", tlsdir, tls_files[i]);
		unlink(psk);
	}
	rmdir(tlsdir);
	rmdir(tmpl);
	assert_int_equal(nexamples, 7);
	free(text);
}

static void
test_defaults(void **state)
{
	struct pb_config cfg;
	char host[256];

	(void)state;
	assert_int_equal(load_src("node = { id = 42; };", &cfg), 0);
	assert_int_equal(cfg.node.id, 42);
	assert_int_equal(gethostname(host, sizeof(host)), 0);
	host[strcspn(host, ".")] = '\0';
	assert_int_equal(strncmp(cfg.node.name, host, sizeof(cfg.node.name) - 1), 0);
	assert_string_equal(cfg.node.description, "");
	assert_int_equal(cfg.ncaptures, 0);
	assert_null(cfg.captures);
	assert_int_equal(cfg.ndumps, 0);
	assert_true(cfg.api.enabled);
	assert_string_equal(cfg.api.address, "127.0.0.1");
	assert_int_equal(cfg.api.port, 8080);
	assert_string_equal(cfg.path, "");
	pb_config_free(&cfg);
}

static void
test_int64_node_id(void **state)
{
	struct pb_config cfg;

	(void)state;
	assert_int_equal(load_src("node = { id = 4000000000L; };", &cfg), 0);
	assert_int_equal(cfg.node.id, 4000000000u);
	pb_config_free(&cfg);
	assert_int_equal(load_src("node = { id = 4294967295L; };", &cfg), 0);
	assert_int_equal(cfg.node.id, UINT32_MAX);
	pb_config_free(&cfg);

	assert_int_equal(load_src("node = { id = 4294967296L; };", &cfg), 1);
	expect_report(1, "node.id: 4294967296 is out of range 1..4294967295");
	assert_true(is_zero(&cfg, sizeof(cfg)));
	/* libconfig 1.5 wraps an unsuffixed literal: say how to fix it. */
	assert_int_equal(load_src("node = { id = 4000000000; };", &cfg), 1);
	expect_report(1, "need an L suffix");
	assert_int_equal(load_src("node = { id = -1; };", &cfg), 1);
	expect_report(1, "out of range");
	assert_int_equal(load_src("node = { id = \"1\"; };", &cfg), 1);
	expect_report(1, "node.id: expected an integer, got a string");
}

static const char *
rate_conf(char *buf, size_t len, const char *rate)
{
	snprintf(buf, len, "node = { id = 1; };\ncaptures = ( { name = \"f\"; file = \"/x.pcap\";"
	    " rate = %s; } );", rate);
	return buf;
}

static void
test_rate(void **state)
{
	static const struct {
		const char *value;
		enum pb_rate_mode mode;
		double pps;
	} good[] = {
		{ "\"max\"", PB_RATE_MAX, 0 },
		{ "\"original\"", PB_RATE_ORIGINAL, 0 },
		{ "1000", PB_RATE_PPS, 1000 },
		{ "1000000000", PB_RATE_PPS, 1e9 },
		{ "2.5", PB_RATE_PPS, 2.5 },
		{ "\"10000pps\"", PB_RATE_PPS, 10000 },
		{ "\"10000 pps\"", PB_RATE_PPS, 10000 },
		{ "\"250.5\"", PB_RATE_PPS, 250.5 },
	};
	static const char *const bad[] = { "\"fast\"", "0", "-5", "\"0pps\"", "\"10kpps\"",
		"\"\"", "\"nan\"", "true", "\"inf\"", "2e10", "5000000000L" };
	struct pb_config cfg;
	char buf[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int n = load_str(rate_conf(buf, sizeof(buf), good[i].value), &cfg);

		if (n != 0)
			dump_reports();
		assert_int_equal(n, 0);
		assert_int_equal(cfg.captures[0].rate, good[i].mode);
		if (good[i].mode == PB_RATE_PPS)
			assert_true(cfg.captures[0].pps == good[i].pps);
		pb_config_free(&cfg);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (load_str(rate_conf(buf, sizeof(buf), bad[i]), &cfg) != 1) {
			dump_reports();
			fail_msg("rate = %s accepted", bad[i]);
		}
		expect_report(2, "captures[0].rate");
	}
}

static void
test_trailers(void **state)
{
	struct pb_config cfg;
	char buf[1024];
	int n, i;

	(void)state;
	n = load_str("node = { id = 1; };\n"
	    "captures = ( { name = \"t\"; interface = \"eth0\"; fcs = true;\n"
	    "  trailers = ( { type = \"fixed\"; length = 12; }, { type = \"exablaze\"; },\n"
	    "    { type = \"ixia\"; }, { type = \"metamako\"; } ); } );\n", &cfg);
	if (n != 0)
		dump_reports();
	assert_int_equal(n, 0);
	assert_int_equal(cfg.captures[0].ntrailers, 4);
	assert_int_equal(cfg.captures[0].trailers[0].type, PB_TRAILER_FIXED);
	assert_int_equal(cfg.captures[0].trailers[0].length, 12);
	assert_int_equal(cfg.captures[0].trailers[1].type, PB_TRAILER_EXABLAZE);
	assert_int_equal(cfg.captures[0].trailers[2].type, PB_TRAILER_IXIA);
	assert_int_equal(cfg.captures[0].trailers[3].type, PB_TRAILER_METAMAKO);
	assert_int_equal(cfg.captures[0].max_frame, pb_record_default_max_frame(4));
	pb_config_free(&cfg);

	/* Eight is the limit, and max_frame follows the count unless set. */
	n = snprintf(buf, sizeof(buf), "node = { id = 1; };\ncaptures = ( { name = \"t\";"
	    " interface = \"eth0\"; trailers = (");
	for (i = 0; i < 8; i++)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%s{ type = \"metamako\"; }",
		    i ? ", " : "");
	snprintf(buf + n, sizeof(buf) - (size_t)n, "); } );");
	assert_int_equal(load_str(buf, &cfg), 0);
	assert_int_equal(cfg.captures[0].ntrailers, 8);
	assert_int_equal(cfg.captures[0].max_frame, pb_record_default_max_frame(8));
	pb_config_free(&cfg);
	memcpy(strstr(buf, "); } );"), ", { type = \"ixia\"; }); } );",
	    sizeof(", { type = \"ixia\"; }); } );"));
	assert_int_equal(load_str(buf, &cfg), 1);
	expect_report(2, "9 trailers given, at most 8");

	assert_int_equal(load_str("node = { id = 1; };\ncaptures = ( { name = \"t\";"
	    " interface = \"eth0\"; max_frame = 65535;\n"
	    " trailers = ( { type = \"fixed\"; length = 0; },\n"
	    " { type = \"fixed\"; length = 257; },\n"
	    " { length = 4; },\n"
	    " \"metamako\" ); } );", &cfg), 4);
	expect_report(3, "captures[0].trailers[0].length: 0 is out of range 1..256");
	expect_report(4, "trailers[1].length: 257 is out of range");
	expect_report(5, "trailers[2]: missing required key 'type'");
	expect_report(6, "trailers[3]: expected a group");
}

static void
test_dump_group_and_list(void **state)
{
	struct pb_config cfg;
	int n;

	(void)state;
	n = load_src("node = { id = 1; };\n"
	    "dump = ( { file = \"/d/a.pcap\"; max_files = 5; rotate_seconds = 60; },\n"
	    "  { file = \"/d/b\"; fsync = false; buffer_mb = 8; rotate_mb = 10;"
	    " max_total_mb = 100; },\n"
	    "  { name = \"wire\"; interface = \"eth2\"; },\n"
	    "  { file = \"/d/c.pcap\"; format = \"pcapng\"; } );\n", &cfg);
	if (n != 0)
		dump_reports();
	assert_int_equal(n, 0);
	assert_int_equal(cfg.ndumps, 4);
	assert_string_equal(cfg.dumps[0].name, "dump");
	assert_string_equal(cfg.dumps[0].file, "/d/a.pcap");
	assert_int_equal(cfg.dumps[0].format, PB_FORMAT_PCAP);
	assert_int_equal(cfg.dumps[0].max_files, 5);
	assert_int_equal(cfg.dumps[0].rotate_seconds, 60);
	assert_int_equal(cfg.dumps[0].line, 2);
	assert_string_equal(cfg.dumps[1].name, "dump2");
	assert_int_equal(cfg.dumps[1].format, PB_FORMAT_PCAPNG);
	assert_false(cfg.dumps[1].fsync);
	assert_int_equal(cfg.dumps[1].buffer_mb, 8);
	assert_int_equal(cfg.dumps[1].rotate_bytes, 10ull << 20);
	assert_int_equal(cfg.dumps[1].max_total_bytes, 100ull << 20);
	assert_string_equal(cfg.dumps[2].name, "wire");
	assert_int_equal(cfg.dumps[2].kind, PB_DUMP_IFACE);
	assert_string_equal(cfg.dumps[2].interface, "eth2");
	assert_string_equal(cfg.dumps[2].file, "");
	assert_string_equal(cfg.dumps[3].name, "dump4");
	assert_int_equal(cfg.dumps[3].format, PB_FORMAT_PCAPNG);
	pb_config_free(&cfg);

	assert_int_equal(load_src("node = { id = 1; };\ndump = { interface = \"eth2\"; };", &cfg), 0);
	assert_int_equal(cfg.ndumps, 1);
	assert_string_equal(cfg.dumps[0].name, "dump");
	assert_int_equal(cfg.dumps[0].kind, PB_DUMP_IFACE);
	assert_int_equal(cfg.dumps[0].buffer_mb, 64);
	pb_config_free(&cfg);

	assert_int_equal(load_src("node = { id = 1; };\ndump = ( { interface = \"eth2\"; },"
	    " { interface = \"eth3\"; name = \"dump\"; } );", &cfg), 1);
	expect_report(2, "duplicate dump name \"dump\"");
	assert_int_equal(load_src("node = { id = 1; };\ndump = \"x.pcap\";", &cfg), 1);
	expect_report(2, "dump: expected a list of groups");
	assert_int_equal(load_src("node = { id = 1; };\ndump = ( { interface ="
	    " \"this-is-too-long0\"; } );", &cfg), 1);
	expect_report(2, "not a valid interface name");
}

static void
test_api_listen(void **state)
{
	static const struct {
		const char *listen, *addr;
		int port;
	} good[] = {
		{ "127.0.0.1:8080", "127.0.0.1", 8080 },
		{ "0.0.0.0:1", "0.0.0.0", 1 },
		{ "[::1]:65535", "::1", 65535 },
		{ "[fe80::1:2]:443", "fe80::1:2", 443 },
	};
	static const char *const bad[] = { "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
		"127.0.0.1:0", "localhost:80", "::1:80", "[::1]80", "[::1:80", "1.2.3:80",
		"127.0.0.1:80x", "127.0.0.1:-1", "[1.2.3.4]:80" };
	struct pb_config cfg;
	char buf[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(buf, sizeof(buf), "node = { id = 1; };\napi = { listen = \"%s\";"
		    " max_connections = 5; timeout = 30; web_root = \"/srv/www\"; };",
		    good[i].listen);
		assert_int_equal(load_src(buf, &cfg), 0);
		assert_string_equal(cfg.api.address, good[i].addr);
		assert_int_equal(cfg.api.port, good[i].port);
		assert_int_equal(cfg.api.max_connections, 5);
		assert_int_equal(cfg.api.timeout_s, 30);
		assert_string_equal(cfg.api.web_root, "/srv/www");
		pb_config_free(&cfg);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), "node = { id = 1; };\napi = {\n listen = \"%s\"; };",
		    bad[i]);
		if (load_src(buf, &cfg) != 1) {
			dump_reports();
			fail_msg("listen = %s accepted", bad[i]);
		}
		expect_report(3, "api.listen");
	}
	assert_int_equal(load_src("node = { id = 1; };\napi = { enabled = false; };", &cfg), 0);
	assert_false(cfg.api.enabled);
	assert_true(cfg.api.rate_limit == 0);
	pb_config_free(&cfg);
	/* request rate per client address */
	assert_int_equal(load_src("node = { id = 1; };\napi = { rate_limit = 2.5; };", &cfg), 0);
	assert_true(cfg.api.rate_limit == 2.5);
	assert_int_equal(cfg.api.rate_burst, 5);
	pb_config_free(&cfg);
	assert_int_equal(load_src("node = { id = 1; };\napi = { rate_limit = 0.1; };", &cfg), 0);
	assert_int_equal(cfg.api.rate_burst, 1);
	pb_config_free(&cfg);
	assert_int_equal(load_src("node = { id = 1; };\napi = { rate_limit = 50;"
	    " rate_burst = 7; };", &cfg), 0);
	assert_int_equal(cfg.api.rate_burst, 7);
	pb_config_free(&cfg);
	assert_int_equal(load_src("node = { id = 1; };\napi = {\n rate_burst = 7; };", &cfg), 1);
	expect_report(3, "api.rate_burst: needs rate_limit");
	assert_int_equal(load_src("node = { id = 1; };\napi = {\n rate_limit = -1; };", &cfg), 1);
	expect_report(3, "api.rate_limit");
	/* TLS needs both files; a read token file must exist */
	assert_int_equal(load_src("node = { id = 1; };\napi = {\n tls_key = \"/nonexistent/k\"; };",
	    &cfg), 1);
	expect_report(3, "tls_cert and tls_key go together");
	assert_int_equal(load_src("node = { id = 1; };\napi = {\n read_token_file ="
	    " \"/nonexistent/t\"; };", &cfg), 1);
	expect_report(3, "api.read_token_file");
	assert_int_equal(load_src("node = { id = 1; };\nlog = { debug = \"engine,capture\";"
	    " syslog = true; };", &cfg), 0);
	assert_string_equal(cfg.log.debug, "engine,capture");
	assert_true(cfg.log.syslog);
	pb_config_free(&cfg);
	assert_int_equal(load_src("node = { id = 1; };\nlog = { debug = \"engine capture\"; };",
	    &cfg), 1);
	expect_report(2, "log.debug");
}

static void
test_strings_never_truncated(void **state)
{
	struct pb_config cfg;
	char buf[2048], name[PB_NAME_MAX + 1];

	(void)state;
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	snprintf(buf, sizeof(buf), "node = { id = 1; name = \"%s\"; };", name);
	assert_int_equal(load_src(buf, &cfg), 1);
	expect_report(1, "node.name: too long (64 bytes, at most 63)");
	name[sizeof(name) - 2] = '\0';
	snprintf(buf, sizeof(buf), "node = { id = 1; name = \"%s\"; };", name);
	assert_int_equal(load_src(buf, &cfg), 0);
	assert_int_equal(strlen(cfg.node.name), PB_NAME_MAX - 1);
	pb_config_free(&cfg);

	snprintf(buf, sizeof(buf), "node = { id = 1; };\ncaptures = ( { name = \"%s\";"
	    " interface = \"eth0\"; } );", name);
	assert_int_equal(load_str(buf, &cfg), 0);
	pb_config_free(&cfg);
	name[0] = 'x';
	snprintf(buf, sizeof(buf), "node = { id = 1; };\ncaptures = ( { name = \"%sX\";"
	    " interface = \"eth0\"; } );", name);
	assert_int_equal(load_str(buf, &cfg), 1);
	expect_report(2, "captures[0].name: too long");
}

#define CHECK_BAD(name, ...) do { \
		static const struct expect e_[] = { __VA_ARGS__ }; \
		check_bad_file(name, e_, (int)(sizeof(e_) / sizeof(e_[0]))); \
	} while (0)

static void
test_bad_files(void **state)
{
	(void)state;
	CHECK_BAD("tests/unit/conf/bad_syntax.conf", { 4, "syntax error" });
	CHECK_BAD("tests/unit/conf/bad_keys.conf",
	    { 2, "node.nmae: unknown key 'nmae' (valid keys: id, name, description)" },
	    { 4, "captures[0].bufer_mb: unknown key 'bufer_mb' (valid keys: name, description," },
	    { 5, "captures[0].trailers[0].colour: unknown key 'colour' (valid keys: type, length)" },
	    { 7, "dump.rotate: unknown key 'rotate'" },
	    { 8, "api.port: unknown key 'port'" },
	    { 9, "log.verbose: unknown key" },
	    { 10, "nodes: unknown key 'nodes' (valid keys: node, captures, dump, api, log,"
	    " listen, peers, upstreams, consumers, auth, resend, dlq, forward, ack, heartbeat, max_hops,"
	    " state_dir, limits, handshake_timeout_s, snmp)" });
	CHECK_BAD("tests/unit/conf/bad_values.conf",
	    { 3, "node.id: 0 is out of range 1..4294967295" },
	    { 4, "node.name: too long (66 bytes, at most 63)" },
	    { 8, "captures[0].buffer_mb: 5000 is out of range 1..4096" },
	    { 9, "captures[0].max_frame: 63 is out of range 64..65535" },
	    { 10, "captures[0].promisc: expected a boolean" },
	    { 12, "captures[1].loop: expected an integer, got a string" },
	    { 13, "captures[1].rate: \"fast\"" },
	    { 15, "dump.rotate_mb: 2000000 is out of range" },
	    { 15, "dump.max_files: -1 is out of range" },
	    { 16, "api.listen: port \"0\" is out of range 1..65535" },
	    { 16, "api.timeout: 0 is out of range 1..3600" });
	CHECK_BAD("tests/unit/conf/bad_captures.conf",
	    { 4, "captures[0]: needs either 'interface'" },
	    { 5, "captures[1]: both 'interface' and 'file'" },
	    { 6, "captures[2]: missing required key 'name'" },
	    { 7, "captures[3].name: duplicate capture name \"a\" (first at line 4)" },
	    { 8, "captures[4].rate: only applies to file captures" },
	    { 9, "captures[5].promisc: only applies to interface captures" },
	    { 10, "captures[6].trailers[0].type: unknown trailer type \"nosuch\" (known: " },
	    { 11, "captures[7].trailers[0]: missing required key 'length'" },
	    { 12, "captures[8].trailers[0].length: only applies to type \"fixed\"" },
	    { 13, "captures[9].name: \"bad name\": 1..63 letters, digits" },
	    { 14, "captures[10]: expected a group { ... }, got a string" });
	CHECK_BAD("tests/unit/conf/bad_dump.conf",
	    { 4, "dump[0]: needs either 'file'" },
	    { 5, "dump[1]: both 'interface' and 'file'" },
	    { 6, "dump[2].format: \"erf\": expected \"pcapng\" or \"pcap\"" },
	    { 7, "dump[3].rotate_mb: only applies to file dumps" },
	    { 8, "dump[4]: max_files/max_total_mb need rotation" },
	    { 9, "dump[5].max_total_mb: smaller than rotate_mb" },
	    { 10, "dump[6].name: duplicate dump name \"x\" (first at line 4)" },
	    { 12, "api.listen: IPv6 addresses need brackets" },
	    { 0, "no source of records" });
}

static void
test_errors_in_strings(void **state)
{
	struct pb_config cfg;

	(void)state;
	/* All errors are reported, in order, not only the first. */
	assert_int_equal(load_str("node = { };\n"
	    "captures = ( { name = \"a\"; interface = \"eth0\"; loop = 2; } );\n"
	    "api = { max_connections = 0; };\n"
	    "dump = { file = \"x.pcap\"; buffer_mb = 0; };\n"
	    "log = \"all\";\n", &cfg), 5);
	assert_int_equal(nreports, 5);
	expect_report(1, "node: missing required key 'id'");
	expect_report(2, "captures[0].loop: only applies to file captures");
	expect_report(3, "api.max_connections: 0 is out of range 1..10000");
	expect_report(4, "dump.buffer_mb: 0 is out of range 1..4096");
	expect_report(5, "log: expected a group, got a string");
	assert_string_equal(reports[0].file, "<string>");
	assert_true(is_zero(&cfg, sizeof(cfg)));

	assert_int_equal(load_str("captures = ();\n", &cfg), 2);
	expect_report(0, "missing required group 'node'");
	expect_report(0, "no source of records: configure 'captures', 'listen'");
	assert_int_equal(load_str("node = { id = 1; };\nnode2 = 3;\nnode = 4;\n", &cfg), 1);
	expect_report(3, "duplicate setting");
	assert_int_equal(load_str("node = { id = 1; };\n\n\ncaptures = (\n", &cfg), 1);
	assert_int_equal(reports[0].line, 5);
	assert_int_equal(load_src("node = { id = 1; name = \"\"; };", &cfg), 1);
	expect_report(1, "node.name: must not be empty");
}

static void
test_missing_file_and_stderr(void **state)
{
	struct pb_config cfg;
	char tmpl[] = "/tmp/pbcfgXXXXXX", path[PATH_MAX], out[1024];
	int fd, saved, n;
	FILE *fp;
	ssize_t r;

	(void)state;
	assert_int_equal(load_file("/nonexistent/pb.conf", &cfg), 1);
	expect_report(0, "cannot open: No such file or directory");
	assert_string_equal(reports[0].file, "/nonexistent/pb.conf");

	/* report == NULL prints "file:line: error: msg" on stderr. */
	assert_non_null(mkdtemp(tmpl));
	snprintf(path, sizeof(path), "%s/x.conf", tmpl);
	assert_non_null(fp = fopen(path, "w"));
	fputs("node = { id = 1; };\nlisten = { address = \"::1\"; };\nbogus = 1;\n", fp);
	fclose(fp);
	snprintf(out, sizeof(out), "%s/stderr", tmpl);
	fd = open(out, O_CREAT | O_RDWR | O_TRUNC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	n = pb_config_load(path, &cfg, NULL, NULL);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	assert_int_equal(n, 1);
	r = pread(fd, out, sizeof(out) - 1, 0);
	close(fd);
	assert_true(r > 0);
	out[r] = '\0';
	snprintf(path, sizeof(path), "%s/x.conf:3: error: bogus: unknown key", tmpl);
	assert_non_null(strstr(out, path));
	snprintf(path, sizeof(path), "%s/x.conf", tmpl);
	unlink(path);
	snprintf(path, sizeof(path), "%s/stderr", tmpl);
	unlink(path);
	rmdir(tmpl);
}

static void
test_relative_paths(void **state)
{
	struct pb_config cfg;
	char tmpl[] = "/tmp/pbcfgXXXXXX", sub[PATH_MAX], path[PATH_MAX], exp[PATH_MAX];
	char cwd[PATH_MAX], inc[PATH_MAX];
	int n;

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_non_null(mkdtemp(tmpl));
	fmt(sub, sizeof(sub), "%s/sub", tmpl);
	assert_int_equal(mkdir(sub, 0700), 0);
	fmt(path, sizeof(path), "%s/pb.conf", sub);
	fmt(inc, sizeof(inc), "%s/dump.inc", sub);
	write_file(path, "node = { id = 1; };\n"
	    "captures = ( { name = \"a\"; file = \"a.pcap\"; },\n"
	    "  { name = \"b\"; file = \"./b/c.pcap\"; },\n"
	    "  { name = \"c\"; file = \"/abs/d.pcap\"; },\n"
	    "  { name = \"d\"; file = \"../up.pcap\"; } );\n"
	    "api = { web_root = \"www\"; };\n"
	    "@include \"dump.inc\"\n");
	write_file(inc, "dump = { file = \"out/%F.pcapng\"; };\n\nbad = 1;\n");

	/* Absolute config path; the include's error names the include. */
	n = load_file(path, &cfg);
	assert_int_equal(n, 1);
	expect_report(3, "bad: unknown key");
	assert_string_equal(reports[0].file, inc);
	write_file(inc, "dump = { file = \"out/%F.pcapng\"; };\n");
	n = load_file(path, &cfg);
	if (n != 0)
		dump_reports();
	assert_int_equal(n, 0);
	assert_string_equal(cfg.path, path);
	fmt(exp, sizeof(exp), "%s/a.pcap", sub);
	assert_string_equal(cfg.captures[0].file, exp);
	fmt(exp, sizeof(exp), "%s/b/c.pcap", sub);
	assert_string_equal(cfg.captures[1].file, exp);
	assert_string_equal(cfg.captures[2].file, "/abs/d.pcap");
	fmt(exp, sizeof(exp), "%s/../up.pcap", sub);
	assert_string_equal(cfg.captures[3].file, exp);
	fmt(exp, sizeof(exp), "%s/www", sub);
	assert_string_equal(cfg.api.web_root, exp);
	fmt(exp, sizeof(exp), "%s/out/%%F.pcapng", sub);
	assert_string_equal(cfg.dumps[0].file, exp);
	pb_config_free(&cfg);

	/* Relative config path: still resolved against its directory. */
	assert_int_equal(chdir(tmpl), 0);
	n = load_file("sub/pb.conf", &cfg);
	assert_int_equal(n, 0);
	assert_string_equal(cfg.path, path);
	fmt(exp, sizeof(exp), "%s/a.pcap", sub);
	assert_string_equal(cfg.captures[0].file, exp);
	pb_config_free(&cfg);
	assert_int_equal(chdir(sub), 0);
	n = load_file("pb.conf", &cfg);
	assert_int_equal(n, 0);
	assert_string_equal(cfg.path, path);
	assert_string_equal(cfg.captures[0].file, exp);
	pb_config_free(&cfg);

	/* Strings: relative to the cwd. */
	assert_int_equal(chdir(tmpl), 0);
	assert_int_equal(load_str("node = { id = 1; };\ncaptures = ( { name = \"a\";"
	    " file = \"x.pcap\"; } );", &cfg), 0);
	fmt(exp, sizeof(exp), "%s/x.pcap", tmpl);
	assert_string_equal(cfg.captures[0].file, exp);
	pb_config_free(&cfg);
	assert_int_equal(chdir(cwd), 0);

	unlink(inc);
	unlink(path);
	rmdir(sub);
	rmdir(tmpl);
}

static char *
many_conf(int ncaptures, int ndumps)
{
	size_t len = 64 * 1024, n;
	char *buf = malloc(len);
	int i;

	assert_non_null(buf);
	n = (size_t)snprintf(buf, len, "node = { id = 1; };\ncaptures = (");
	for (i = 0; i < ncaptures; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s{ name = \"c%d\"; interface ="
		    " \"eth0\"; }", i ? ", " : "", i);
	n += (size_t)snprintf(buf + n, len - n, ");\ndump = (");
	for (i = 0; i < ndumps; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s{ file = \"/d%d.pcap\"; }",
		    i ? ", " : "", i);
	snprintf(buf + n, len - n, ");\n");
	return buf;
}

static void
test_limits(void **state)
{
	struct pb_config cfg;
	char *buf;

	(void)state;
	buf = many_conf(PB_MAX_CAPTURES + 1, PB_MAX_DUMPS + 1);
	assert_int_equal(load_str(buf, &cfg), 2);
	expect_report(2, "65 captures given, at most 64");
	expect_report(3, "17 dumps given, at most 16");
	free(buf);
	/* Exactly at the limits is fine. */
	buf = many_conf(PB_MAX_CAPTURES, PB_MAX_DUMPS);
	assert_int_equal(load_str(buf, &cfg), 0);
	assert_int_equal(cfg.ncaptures, PB_MAX_CAPTURES);
	assert_int_equal(cfg.ndumps, PB_MAX_DUMPS);
	assert_string_equal(cfg.captures[63].name, "c63");
	assert_string_equal(cfg.dumps[15].name, "dump16");
	pb_config_free(&cfg);
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_issue_example),
		cmocka_unit_test(test_example_conf),
		cmocka_unit_test(test_doc_examples),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_int64_node_id),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_trailers),
		cmocka_unit_test(test_dump_group_and_list),
		cmocka_unit_test(test_api_listen),
		cmocka_unit_test(test_strings_never_truncated),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_errors_in_strings),
		cmocka_unit_test(test_missing_file_and_stderr),
		cmocka_unit_test(test_relative_paths),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
