/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

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

#include "config_test.h"

/* The `jetstream` groups of dumps and captures (server/config_jetstream.c). */

/* Line 1: the node, which receives records; a dump or capture follows on line 2. */
#define HEAD "node = { id = 1; }; listen = { address = \"127.0.0.1\"; };\n"
#define SRV "servers = [\"nats://127.0.0.1:4222\"];"

static char tmpdir[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pbjscfgXXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char path[PATH_MAX + 32];
	(void)state;
	static const char *const names[] = { "token", "empty", "creds", "ca.pem" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
		unlink(path);
	}
	return rmdir(tmpdir);
}

/* One line 2 of configuration; returns the error count. */
static int
load_line(const char *line2, struct pb_config *cfg)
{
	char text[4096];
	snprintf(text, sizeof(text), HEAD "%s\n", line2);
	return load_str(text, cfg);
}

#ifdef HAVE_LIBNATS

static void
write_file(const char *name, const char *text, mode_t mode)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void
test_sink_defaults(void **state)
{
	struct pb_config cfg;
	(void)state;
	if (load_line("dump = { jetstream = { " SRV " }; };", &cfg) != 0) {
		dump_reports();
		fail();
	}
	assert_int_equal(cfg.ndumps, 1);
	const struct pb_dump_cfg *d = &cfg.dumps[0];
	assert_int_equal(d->kind, PB_DUMP_JETSTREAM);
	assert_non_null(d->js);
	assert_int_equal(d->js->nservers, 1);
	assert_string_equal(d->js->servers[0], "nats://127.0.0.1:4222");
	assert_string_equal(d->js->stream, "PB");
	assert_string_equal(d->js->subject_prefix, "pb");
	assert_int_equal(d->js->replicas, 1);
	assert_true(d->js->create);
	assert_int_equal(d->js->batch_bytes, 256u << 10);
	assert_int_equal(d->js->batch_ms, 5);
	assert_int_equal(d->js->window, 64);
	assert_int_equal(d->js->max_streams, 4096);
	assert_int_equal(d->js->stream_idle_s, 300);
	assert_string_equal(d->js->token, "");
	pb_config_free(&cfg);
}

static void
test_sink_full(void **state)
{
	struct pb_config cfg;
	char line[2048];
	(void)state;
	write_file("token", "s3cret-token\n", 0600);
	write_file("ca.pem", "not checked here\n", 0644);
	snprintf(line, sizeof(line), "dump = { name = \"store\"; jetstream = { servers = ["
	    "\"nats://10.0.0.1:4222\", \"tls://nats.example:4443\", \"nats://[::1]:4222\"];"
	    " token_file = \"%s/token\"; tls_ca = \"%s/ca.pem\"; stream = \"CAPTURE_1\";"
	    " subject_prefix = \"site.a\"; replicas = 3; create = false; batch_kb = 512;"
	    " batch_ms = 20; window = 8; max_streams = 100;"
	    " stream_idle_s = 60; }; };", tmpdir, tmpdir);
	if (load_line(line, &cfg) != 0) {
		dump_reports();
		fail();
	}
	const struct pb_jetstream_cfg *js = cfg.dumps[0].js;
	assert_string_equal(cfg.dumps[0].name, "store");
	assert_int_equal(js->nservers, 3);
	assert_string_equal(js->servers[2], "nats://[::1]:4222");
	assert_string_equal(js->token, "s3cret-token");
	assert_string_equal(js->stream, "CAPTURE_1");
	assert_string_equal(js->subject_prefix, "site.a");
	assert_int_equal(js->replicas, 3);
	assert_false(js->create);
	assert_int_equal(js->batch_bytes, 512u << 10);
	assert_int_equal(js->batch_ms, 20);
	assert_int_equal(js->window, 8);
	assert_int_equal(js->max_streams, 100);
	assert_int_equal(js->stream_idle_s, 60);
	pb_config_free(&cfg);
}

static void
test_source(void **state)
{
	struct pb_config cfg;
	(void)state;
	if (load_line("captures = ( { name = \"back\"; jetstream = { " SRV " fetch = 16; }; } );"
	    " dump = { file = \"/tmp/x.pcapng\"; };", &cfg) != 0) {
		dump_reports();
		fail();
	}
	assert_int_equal(cfg.ncaptures, 1);
	assert_non_null(cfg.captures[0].js);
	assert_false(cfg.captures[0].is_file);
	assert_string_equal(cfg.captures[0].js->durable, "back");
	assert_int_equal(cfg.captures[0].js->fetch, 16);
	pb_config_free(&cfg);

	/* A dot cannot be in a consumer name: the default needs replacing. */
	assert_int_not_equal(load_line("captures = ( { name = \"a.b\"; jetstream = { " SRV
	    " }; } );", &cfg), 0);
	expect_report(2, "set 'durable'");
	assert_int_equal(load_line("captures = ( { name = \"a.b\"; jetstream = { " SRV
	    " durable = \"ab\"; }; } );", &cfg), 0);
	pb_config_free(&cfg);
}

/* Each bad setting: an error on line 2 naming the problem. */
static void
test_errors(void **state)
{
	static const struct {
		const char *conf, *text;
	} bad[] = {
		{ "dump = { jetstream = { stream = \"X\"; }; };", "missing required key 'servers'" },
		{ "dump = { jetstream = { servers = \"nats://a:1\"; }; };", "expected a list of URLs" },
		{ "dump = { jetstream = { servers = []; }; };", "non-empty list" },
		{ "dump = { jetstream = { servers = [\"http://a:1\"]; }; };", "nats://HOST:PORT" },
		{ "dump = { jetstream = { servers = [\"nats://a\"]; }; };", "nats://HOST:PORT" },
		{ "dump = { jetstream = { servers = [\"nats://u:p@a:1\"]; }; };", "no user" },
		{ "dump = { jetstream = { servers = [\"nats://a:1\",\"nats://a:2\",\"nats://a:3\","
		  "\"nats://a:4\",\"nats://a:5\",\"nats://a:6\",\"nats://a:7\",\"nats://a:8\","
		  "\"nats://a:9\"]; }; };", "at most 8" },
		{ "dump = { jetstream = { " SRV " stream = \"A.B\"; }; };", "cannot contain '.'" },
		{ "dump = { jetstream = { " SRV " stream = \"A B\"; }; };", "letters" },
		{ "dump = { jetstream = { " SRV " subject_prefix = \"a..b\"; }; };", "subject tokens" },
		{ "dump = { jetstream = { " SRV " subject_prefix = \"a.*\"; }; };", "subject tokens" },
		{ "dump = { jetstream = { " SRV " replicas = 6; }; };", "replicas" },
		{ "dump = { jetstream = { " SRV " batch_kb = 0; }; };", "batch_kb" },
		{ "dump = { jetstream = { " SRV " window = 0; }; };", "window" },
		{ "dump = { jetstream = { " SRV " max_streams = 0; }; };", "max_streams" },
		{ "dump = { jetstream = { " SRV " max_streams = 1048577; }; };", "max_streams" },
		{ "dump = { jetstream = { " SRV " stream_idle_s = 0; }; };", "stream_idle_s" },
		{ "captures = ( { name = \"c\"; jetstream = { " SRV " max_streams = 3; }; } );",
		  "only applies to a jetstream dump" },
		{ "dump = { jetstream = { " SRV " durable = \"x\"; }; };", "only applies to a jetstream capture" },
		{ "dump = { jetstream = { " SRV " colour = 1; }; };", "colour" },
		{ "dump = { file = \"/tmp/x.pcapng\"; jetstream = { " SRV " }; };", "only applies to file" },
		{ "dump = { jetstream = { " SRV " tls_ca = \"/nonexistent/ca.pem\"; }; };", "not readable" },
		{ "dump = { jetstream = { " SRV " token_file = \"/nonexistent/t\"; }; };", "/nonexistent/t" },
		{ "dump = { jetstream = 5; };", "expected a group" },
		{ "captures = ( { name = \"c\"; jetstream = { " SRV " batch_ms = 3; }; } );",
		  "only applies to a jetstream dump" },
		{ "captures = ( { name = \"c\"; interface = \"eth0\"; jetstream = { " SRV " }; } );",
		  "only applies to live and file captures" },
	};
	struct pb_config cfg;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (load_line(bad[i].conf, &cfg) == 0) {
			pb_config_free(&cfg);
			fail_msg("accepted: %s", bad[i].conf);
		}
		expect_report(2, bad[i].text);
	}
}

static void
test_credentials(void **state)
{
	struct pb_config cfg;
	char line[2048];
	(void)state;
	write_file("token", "tok\n", 0600);
	write_file("creds", "-----BEGIN NATS USER JWT-----\n", 0600);
	write_file("empty", "", 0600);
	snprintf(line, sizeof(line), "dump = { jetstream = { " SRV " token_file = \"%s/token\";"
	    " creds_file = \"%s/creds\"; }; };", tmpdir, tmpdir);
	assert_int_not_equal(load_line(line, &cfg), 0);
	expect_report(2, "both creds_file and token_file");
	snprintf(line, sizeof(line), "dump = { jetstream = { " SRV " token_file = \"%s/empty\";"
	    " }; };", tmpdir);
	assert_int_not_equal(load_line(line, &cfg), 0);
	expect_report(2, "1..255 bytes");
	snprintf(line, sizeof(line), "dump = { jetstream = { " SRV " creds_file = \"%s/creds\";"
	    " }; };", tmpdir);
	assert_int_equal(load_line(line, &cfg), 0);
	assert_string_equal(cfg.dumps[0].js->token, "");
	pb_config_free(&cfg);
}

#else

static void
test_not_built(void **state)
{
	struct pb_config cfg;
	(void)state;
	assert_int_not_equal(load_line("dump = { jetstream = { " SRV " }; };", &cfg), 0);
	expect_report(2, "built without libnats");
}

#endif

int
main(void)
{
	const struct CMUnitTest tests[] = {
#ifdef HAVE_LIBNATS
		cmocka_unit_test(test_sink_defaults),
		cmocka_unit_test(test_sink_full),
		cmocka_unit_test(test_source),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_credentials),
#else
		cmocka_unit_test(test_not_built),
#endif
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
