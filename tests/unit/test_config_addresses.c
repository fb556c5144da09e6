/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

#include "config_test.h"

/* `addresses` of peers and upstreams: a tier of receivers behind one entry
 * (server/config_tunnel.c). Lines 1-2 are HEAD. */
#define HEAD "node = { id = 1; };\nlisten = { address = \"::1\"; };\n"

static void
test_list(void **state)
{
	struct pb_config cfg;
	const struct pb_endpoint_cfg *p;

	(void)state;
	load_ok(HEAD "peers = { name = \"tier\"; node = 9; addresses = [ \"10.0.0.1:7152\",\n"
	    "  \"collector-b.example:7200\", \"[2001:db8::1]:7153\", \"10.0.0.4\", \"[::1]\" ]; };\n"
	    "upstreams = { name = \"u\"; addresses = ( \"10.9.0.1:1\" ); };\n", &cfg);
	p = &cfg.tunnel.peers[0];
	assert_int_equal(p->naddrs, 5);
	assert_string_equal(p->addrs[0].host, "10.0.0.1");
	assert_int_equal(p->addrs[0].port, 7152);
	assert_string_equal(p->addrs[1].host, "collector-b.example");
	assert_int_equal(p->addrs[1].port, 7200);
	assert_string_equal(p->addrs[2].host, "2001:db8::1");
	assert_int_equal(p->addrs[2].port, 7153);
	assert_string_equal(p->addrs[3].host, "10.0.0.4");
	assert_int_equal(p->addrs[3].port, 7152);   /* the default port */
	assert_string_equal(p->addrs[4].host, "::1");
	/* address/port stay the first entry: the single-address view. */
	assert_string_equal(p->address, "10.0.0.1");
	assert_int_equal(p->port, 7152);
	assert_int_equal(p->node_id, 9);
	assert_int_equal(cfg.tunnel.upstreams[0].naddrs, 1);
	assert_int_equal(cfg.tunnel.upstreams[0].port, 1);
	pb_config_free(&cfg);

	/* The single form fills the list with its one address. */
	load_ok(HEAD "peers = { name = \"p\"; address = \"2001:db8::2\"; port = 99; };\n", &cfg);
	assert_int_equal(cfg.tunnel.peers[0].naddrs, 1);
	assert_string_equal(cfg.tunnel.peers[0].addrs[0].host, "2001:db8::2");
	assert_int_equal(cfg.tunnel.peers[0].addrs[0].port, 99);
	pb_config_free(&cfg);
}

static void
test_bad(void **state)
{
	static const struct {
		const char *value, *err;
	} bad[] = {
		{ "[]", "peers.addresses: 0 addresses: give 1 to 8" },
		{ "[ \"a:1\", \"a:2\", \"a:3\", \"a:4\", \"a:5\", \"a:6\", \"a:7\", \"a:8\", \"a:9\" ]",
		  "peers.addresses: 9 addresses: give 1 to 8" },
		{ "\"10.0.0.1:7152\"", "expected a list of \"host:port\" strings, got a string" },
		{ "[ 7152 ]", "peers.addresses[0]: expected a \"host:port\" string" },
		{ "[ \"10.0.0.1:0\" ]", "\"0\": the port is a number 1..65535" },
		{ "[ \"10.0.0.1:65536\" ]", "\"65536\": the port is a number 1..65535" },
		{ "[ \"10.0.0.1:\" ]", "\"\": the port is a number 1..65535" },
		{ "[ \"10.0.0.1:x\" ]", "\"x\": the port is a number" },
		{ "[ \"2001:db8::1\" ]", "write an IPv6 address in brackets" },
		{ "[ \"[2001:db8::1\" ]", "expected \"[IPv6]\" or \"[IPv6]:port\"" },
		{ "[ \"[2001:db8::1]7152\" ]", "expected \"[IPv6]\" or \"[IPv6]:port\"" },
		{ "[ \"[10.0.0.1]:7152\" ]", "\"10.0.0.1\": only IPv6 addresses go in brackets" },
		{ "[ \"[::g]:7152\" ]", "\"::g\" is not a valid IPv6 address" },
		{ "[ \":7152\" ]", "must not be empty" },
		{ "[ \"bad_name:1\" ]", "neither an IP address nor a host name" },
		{ "[ \"10.1.0.256:1\" ]", "is not a valid IPv4 address" },
		{ "[ \"10.0.0.1:7152\", \"10.0.0.2\", \"10.0.0.1:7152\" ]",
		  "peers.addresses[2]: \"10.0.0.1:7152\" is listed twice" },
		{ "[ \"A.example:1\", \"a.example:1\" ]", "is listed twice" },
	};
	char text[1024];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fmt(text, sizeof(text), HEAD "peers = { name = \"p\";\n addresses = %s; };\n",
		    bad[i].value);
		load_bad(text, 4, bad[i].err);
	}
	load_bad(HEAD "peers = { name = \"p\"; address = \"10.0.0.1\";\n"
	    " addresses = [ \"10.0.0.2\" ]; };\n", 4, "peers.addresses: give either 'address'"
	    " (and 'port') or 'addresses' (\"host:port\" each), not both");
	load_bad(HEAD "peers = { name = \"p\"; port = 1;\n addresses = [ \"10.0.0.2\" ]; };\n", 4,
	    "not both");
	/* One receiver in two entries would get every record twice. */
	load_bad(HEAD "peers = ( { name = \"a\"; addresses = [ \"10.0.0.1\", \"10.0.0.2:9\" ]; },\n"
	    "  { name = \"b\"; addresses = [ \"10.0.0.3\", \"10.0.0.2:9\" ]; } );\n", 4,
	    "peers[1]: 10.0.0.2:9 is already \"a\" (line 3)");
	load_bad(HEAD "peers = ( { name = \"a\"; address = \"10.0.0.2\"; },\n"
	    "  { name = \"b\"; addresses = [ \"10.0.0.2:7152\" ]; } );\n", 4,
	    "peers[1]: 10.0.0.2:7152 is already \"a\" (line 3)");
	load_bad(HEAD "peers = { name = \"p\"; };\n", 3, "peers: missing required key 'address'");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
