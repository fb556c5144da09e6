/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "api.h"
#include "api_internal.h"
#include "clock.h"
#include "http_client.h"

/*
 * The REST API against a fake view, over real sockets on loopback with a
 * tiny HTTP/1.0 client: MHD closes after each response, so a response is
 * everything read until EOF.
 */

static struct pb_source_stats src_stats[2];
static struct pb_sink_stats sink_stats[2];
static struct pb_view_source view_sources[2] = {
	{ .name = "eth0-in", .kind = "live", .target = "eth0", .filter = "tcp port 80",
	  .stats = &src_stats[0] },
	{ .name = "replay", .kind = "file", .target = "/data/in.pcap",
	  .stats = &src_stats[1] },
};
static struct pb_view_sink view_sinks[2] = {
	{ .name = "dump", .kind = "file", .target = "/var/x-%H.pcapng", .format = "pcapng",
	  .stats = &sink_stats[0] },
	{ .name = "out", .kind = "iface", .target = "veth1", .stats = &sink_stats[1] },
};
/* 2023-11-14T22:13:20.123456789Z */
#define STARTED_NS 1700000000123456789ULL
static struct pb_view view = {
	.node_id = 7,
	.node_name = "node-a",
	/* quotes, a backslash and UTF-8: must come back intact */
	.node_description = "edge \"A\" \\ caf\xc3\xa9",
	.version = "0.1.0-test",
	.epoch = 1234567890123ULL,
	.started_real_ns = STARTED_NS,
	.nsources = 2,
	.sources = view_sources,
	.nsinks = 2,
	.sinks = view_sinks,
};
static struct pb_api *api; /* shared server, 127.0.0.1, kernel-chosen port */
static uint16_t api_port;
#define TOKEN "unit-test-token-0123456789"

static void
fill_source_stats(struct pb_source_stats *st, uint64_t base, int state)
{
	/* Distinct values per field so that any mix-up shows. */
	pb_counter_set(&st->packets, base + 1);
	pb_counter_set(&st->bytes, base + 2);
	pb_counter_set(&st->pcap_received, base + 3);
	pb_counter_set(&st->pcap_drops, base + 4);
	pb_counter_set(&st->pcap_ifdrops, base + 5);
	pb_counter_set(&st->oversize, base + 6);
	pb_counter_set(&st->truncated, base + 7);
	pb_counter_set(&st->trailers_ok, base + 8);
	pb_counter_set(&st->trailer_errors, base + 9);
	pb_counter_set(&st->loops_done, base + 10);
	pb_counter_set(&st->read_errors, base + 11);
	pb_counter_set(&st->foreign, base + 12);
	atomic_store(&st->state, state);
}

static void
fill_sink_stats(struct pb_sink_stats *st, uint64_t base, int state)
{
	pb_counter_set(&st->packets, base + 1);
	pb_counter_set(&st->bytes, base + 2);
	pb_counter_set(&st->bytes_written, base + 3);
	pb_counter_set(&st->write_errors, base + 4);
	pb_counter_set(&st->files_opened, base + 5);
	pb_counter_set(&st->files_removed, base + 6);
	pb_counter_set(&st->inject_errors, base + 7);
	pb_counter_set(&st->backlog_events, base + 8);
	atomic_store(&st->state, state);
}

static void
build_view(void)
{
	view.started_mono_ns = pb_mono_ns() - 2500 * PB_NSEC_PER_MSEC;
	fill_source_stats(&src_stats[0], 1000, PB_SOURCE_RUNNING);
	fill_source_stats(&src_stats[1], 2000, PB_SOURCE_FINISHED);
	fill_sink_stats(&sink_stats[0], 3000, PB_SINK_OK);
	fill_sink_stats(&sink_stats[1], 4000, PB_SINK_BACKLOG);
}

static void
api_cfg(struct pb_api_cfg *cfg, const char *address, uint16_t port)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->enabled = true;
	snprintf(cfg->address, sizeof(cfg->address), "%s", address);
	cfg->port = port;
	cfg->max_connections = 64;
	cfg->timeout_s = 5;
	memcpy(cfg->token, TOKEN, sizeof(TOKEN) - 1);
	cfg->token_len = sizeof(TOKEN) - 1;
}

static void
http_raw(int family, uint16_t port, const char *req, size_t reqlen, struct http_resp *r)
{
	if (http_exchange(family, port, req, reqlen, r) < 0)
		fail_msg("HTTP exchange with port %u failed", (unsigned int)port);
}

/* method path with a Host naming the server, and extra header lines. */
static void
http_hdr(const char *method, const char *path, const char *extra, struct http_resp *r)
{
	size_t len = strlen(method) + strlen(path) + strlen(extra) + 64;
	char *req = malloc(len);
	int n;

	assert_non_null(req);
	n = snprintf(req, len, "%s %s HTTP/1.0\r\nHost: 127.0.0.1:%u\r\n%s\r\n", method,
	    path, (unsigned int)api_port, extra);
	http_raw(AF_INET, api_port, req, (size_t)n, r);
	free(req);
}

static void
http(const char *method, const char *path, struct http_resp *r)
{
	http_hdr(method, path, "", r);
}

static void
assert_header(const struct http_resp *r, const char *name, const char *value)
{
	char v[256];

	if (!http_header(r, name, v, sizeof(v)))
		fail_msg("header %s missing in:\n%s", name, r->raw);
	assert_string_equal(v, value);
}

/* Every answer of ours is JSON and never cached. */
static void
assert_json_headers(const struct http_resp *r)
{
	assert_header(r, "Content-Type", "application/json");
	assert_header(r, "Cache-Control", "no-store");
}

static const char *
jstr(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_string(v))
		fail_msg("key '%s' is not a string", key);
	return json_string_value(v);
}

static json_int_t
jint(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v))
		fail_msg("key '%s' is not an integer", key);
	return json_integer_value(v);
}

static json_t *
jerr(json_t *body)
{
	json_t *e = json_object_get(body, "error");

	assert_true(json_is_object(e));
	return e;
}

static void
assert_error(const struct http_resp *r, int status, const char *msg)
{
	assert_int_equal(r->status, status);
	assert_json_headers(r);
	assert_non_null(r->json);
	/* {"error": {"code": "...", "message": "<msg>..."}} */
	assert_non_null(jstr(jerr(r->json), "code"));
	if (strncmp(jstr(jerr(r->json), "message"), msg, strlen(msg)) != 0)
		fail_msg("error message '%s', wanted '%s...'", jstr(jerr(r->json), "message"),
		    msg);
}

/*
 * Descriptors other than sockets (MHD's epoll and eventfd, ...): the shared
 * server closes its finished connections at its own pace, so sockets are
 * checked by rebinding instead.
 */
static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char target[64];
		ssize_t len;

		if (e->d_name[0] == '.')
			continue;
		len = readlinkat(dirfd(d), e->d_name, target, sizeof(target) - 1);
		if (len < 0)
			continue; /* the DIR's own descriptor, gone by now */
		target[len] = '\0';
		if (strncmp(target, "socket:", 7) != 0)
			n++;
	}
	closedir(d);
	return n;
}

/* True if nothing listens on 127.0.0.1:port any more. */
static bool
port_free(uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	bool ok;

	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* REUSEADDR: TIME_WAIT leftovers do not count, a listener does */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ok = bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 && listen(fd, 1) == 0;
	close(fd);
	return ok;
}

/* ---- group ---- */

static int
group_setup(void **state)
{
	struct pb_api_cfg cfg;
	char err[256] = "";

	build_view();
	api_cfg(&cfg, "127.0.0.1", 0);
	api = pb_api_start(&cfg, &view, err, sizeof(err));
	if (api == NULL) {
		fprintf(stderr, "pb_api_start: %s\n", err);
		return -1;
	}
	api_port = pb_api_port(api);
	return api_port != 0 ? 0 : -1;
}

static int
group_teardown(void **state)
{
	pb_api_stop(api);
	api = NULL;
	return 0;
}

/* ---- tests ---- */

static void
test_status(void **state)
{
	struct http_resp r;
	json_t *node, *a;
	double up;

	http("GET", "/api/v1/status", &r);
	assert_int_equal(r.status, 200);
	assert_json_headers(&r);
	assert_non_null(r.json);
	node = json_object_get(r.json, "node");
	assert_true(json_is_object(node));
	assert_int_equal(jint(node, "id"), 7);
	assert_string_equal(jstr(node, "name"), "node-a");
	assert_string_equal(jstr(node, "description"), "edge \"A\" \\ caf\xc3\xa9");
	assert_string_equal(jstr(r.json, "version"), "0.1.0-test");
	assert_true(json_is_real(json_object_get(r.json, "uptime_s")));
	up = json_real_value(json_object_get(r.json, "uptime_s"));
	assert_true(up >= 2.5 && up < 600);
	assert_string_equal(jstr(r.json, "started"), "2023-11-14T22:13:20.123Z");
	/* the run epoch numbers links: not for callers without the token */
	assert_null(json_object_get(r.json, "epoch"));
	assert_int_equal(jint(r.json, "sources"), 2);
	assert_int_equal(jint(r.json, "sinks"), 2);
	a = json_object_get(r.json, "api");
	assert_true(json_is_object(a));
	assert_true(jint(a, "requests") >= 1);
	assert_true(jint(a, "errors") >= 0);
	for (size_t i = 0; i < 6; i++) {
		static const char *const keys[] = { "unauthorized", "forbidden",
			"unsupported_media_type", "over_limit", "conflicts", "too_many" };
		assert_true(jint(a, keys[i]) >= 0);
	}
	/* compact output */
	assert_null(memchr(r.body, '\n', r.body_len));
	http_resp_free(&r);

	http_hdr("GET", "/api/v1/status", "Authorization: Bearer " TOKEN "\r\n", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(jint(r.json, "epoch"), 1234567890123LL);
	http_resp_free(&r);
	/* a wrong token is no token */
	http_hdr("GET", "/api/v1/status", "Authorization: Bearer " TOKEN "x\r\n", &r);
	assert_int_equal(r.status, 200);
	assert_null(json_object_get(r.json, "epoch"));
	http_resp_free(&r);
}

static void
check_source(json_t *s, const char *name, const char *kind, const char *target,
    const char *filter, const char *st, json_int_t base)
{
	static const char *const keys[] = {
		"packets", "bytes", "pcap_received", "pcap_drops", "pcap_ifdrops",
		"oversize", "truncated", "trailers_ok", "trailer_errors", "loops_done",
		"read_errors", "foreign",
	};

	assert_true(json_is_object(s));
	assert_int_equal(json_object_size(s), 5 + sizeof(keys) / sizeof(keys[0]));
	assert_string_equal(jstr(s, "name"), name);
	assert_string_equal(jstr(s, "kind"), kind);
	assert_string_equal(jstr(s, "target"), target);
	assert_string_equal(jstr(s, "filter"), filter);
	assert_string_equal(jstr(s, "state"), st);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_int_equal(jint(s, keys[i]), base + 1 + (json_int_t)i);
}

static void
check_sink(json_t *s, const char *name, const char *kind, const char *target,
    const char *format, const char *st, json_int_t base)
{
	static const char *const keys[] = {
		"packets", "bytes", "bytes_written", "write_errors", "files_opened",
		"files_removed", "inject_errors", "backlog_events",
	};

	assert_true(json_is_object(s));
	assert_int_equal(json_object_size(s), 5 + sizeof(keys) / sizeof(keys[0]));
	assert_string_equal(jstr(s, "name"), name);
	assert_string_equal(jstr(s, "kind"), kind);
	assert_string_equal(jstr(s, "target"), target);
	assert_string_equal(jstr(s, "format"), format);
	assert_string_equal(jstr(s, "state"), st);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_int_equal(jint(s, keys[i]), base + 1 + (json_int_t)i);
}

static void
test_sources(void **state)
{
	struct http_resp r;
	json_t *arr;

	http("GET", "/api/v1/sources", &r);
	assert_int_equal(r.status, 200);
	assert_json_headers(&r);
	arr = json_object_get(r.json, "sources");
	assert_true(json_is_array(arr));
	assert_int_equal(json_array_size(arr), 2);
	check_source(json_array_get(arr, 0), "eth0-in", "live", "eth0", "tcp port 80",
	    "running", 1000);
	check_source(json_array_get(arr, 1), "replay", "file", "/data/in.pcap", "",
	    "finished", 2000);
	http_resp_free(&r);

	/* counters are read live, not copied at start */
	pb_counter_add(&src_stats[1].packets, 5);
	http("GET", "/api/v1/sources/replay", &r);
	assert_int_equal(r.status, 200);
	assert_json_headers(&r);
	assert_int_equal(jint(r.json, "packets"), 2006);
	pb_counter_set(&src_stats[1].packets, 2001);
	http_resp_free(&r);

	http("GET", "/api/v1/sources/eth0-in/", &r);
	assert_int_equal(r.status, 200);
	check_source(r.json, "eth0-in", "live", "eth0", "tcp port 80", "running", 1000);
	http_resp_free(&r);

	http("GET", "/api/v1/sources/nope", &r);
	assert_error(&r, 404, "unknown source 'nope'");
	http_resp_free(&r);
}

static void
test_sinks(void **state)
{
	struct http_resp r;
	json_t *arr;

	http("GET", "/api/v1/sinks/", &r);
	assert_int_equal(r.status, 200);
	assert_json_headers(&r);
	arr = json_object_get(r.json, "sinks");
	assert_true(json_is_array(arr));
	assert_int_equal(json_array_size(arr), 2);
	check_sink(json_array_get(arr, 0), "dump", "file", "/var/x-%H.pcapng", "pcapng",
	    "ok", 3000);
	check_sink(json_array_get(arr, 1), "out", "iface", "veth1", "", "backlog", 4000);
	http_resp_free(&r);

	http("GET", "/api/v1/sinks/out", &r);
	assert_int_equal(r.status, 200);
	check_sink(r.json, "out", "iface", "veth1", "", "backlog", 4000);
	http_resp_free(&r);

	http("GET", "/api/v1/sinks/dump2", &r);
	assert_error(&r, 404, "unknown sink 'dump2'");
	http_resp_free(&r);
}

/* A jetstream sink adds its connection object, values from its stats. */
static void
test_sink_jetstream(void **state)
{
	static struct pb_js_stats js = { .lock = PTHREAD_MUTEX_INITIALIZER,
		.server = "nats://127.0.0.1:4222", .last_error = "Timeout" };
	struct http_resp r;
	json_t *o;

	atomic_store(&js.state, PB_JS_RECONNECTING);
	pb_counter_set(&js.pending_acks, 3);
	pb_counter_set(&js.buffered, 5);
	pb_counter_set(&js.last_stream_seq, 77);
	pb_counter_set(&js.messages, 70);
	pb_counter_set(&js.records, 7000);
	pb_counter_set(&js.duplicates, 12);
	pb_counter_set(&js.errors, 2);
	pb_counter_set(&js.lookups, 4);
	pb_counter_set(&js.late, 6);
	pb_counter_set(&js.holes_forgotten, 1);
	pb_counter_set(&js.streams, 9);
	pb_counter_set(&js.streams_evicted, 8);
	view_sinks[1].js = &js;
	http("GET", "/api/v1/sinks/out", &r);
	view_sinks[1].js = NULL;
	assert_int_equal(r.status, 200);
	o = json_object_get(r.json, "jetstream");
	assert_true(json_is_object(o));
	assert_int_equal(json_object_size(o), 15);
	assert_string_equal(jstr(o, "state"), "reconnecting");
	assert_string_equal(jstr(o, "server"), "nats://127.0.0.1:4222");
	assert_string_equal(jstr(o, "last_error"), "Timeout");
	assert_int_equal(jint(o, "pending_acks"), 3);
	assert_int_equal(jint(o, "buffered"), 5);
	assert_int_equal(jint(o, "last_stream_seq"), 77);
	assert_int_equal(jint(o, "messages"), 70);
	assert_int_equal(jint(o, "records"), 7000);
	assert_int_equal(jint(o, "duplicates"), 12);
	assert_int_equal(jint(o, "errors"), 2);
	assert_int_equal(jint(o, "lookups"), 4);
	assert_int_equal(jint(o, "late"), 6);
	assert_int_equal(jint(o, "holes_forgotten"), 1);
	assert_int_equal(jint(o, "streams"), 9);
	assert_int_equal(jint(o, "streams_evicted"), 8);
	http_resp_free(&r);
}

static void
test_not_found(void **state)
{
	static const char *const paths[] = {
		"/", "/nope", "/api", "/api/v1", "/api/v1/", "/api/v1/statusx",
		"/api/v2/status", "/API/V1/STATUS", "/api/v1//status", "//api/v1/status",
		"/api/v1/sources//", "/api/v1/sources/eth0-in/extra",
	};
	struct http_resp r;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		http("GET", paths[i], &r);
		assert_error(&r, 404, "not found");
		assert_string_equal(jstr(jerr(r.json), "path"), paths[i]);
		http_resp_free(&r);
	}
	/* unknown path beats unknown method */
	http("POST", "/nope", &r);
	assert_error(&r, 404, "not found");
	http_resp_free(&r);
}

static void
test_method_not_allowed(void **state)
{
	static const char *const methods[] = { "POST", "PUT", "DELETE", "PATCH", "OPTIONS" };
	struct http_resp r;

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		http(methods[i], "/api/v1/status", &r);
		assert_error(&r, 405, "method not allowed");
		assert_string_equal(jstr(jerr(r.json), "method"), methods[i]);
		assert_header(&r, "Allow", "GET, HEAD");
		http_resp_free(&r);
	}
	http("DELETE", "/api/v1/sources/eth0-in", &r);
	assert_error(&r, 405, "method not allowed");
	assert_header(&r, "Allow", "GET, HEAD");
	http_resp_free(&r);
	/* known path, unknown name: still a method problem first */
	http("DELETE", "/api/v1/sinks/whatever", &r);
	assert_int_equal(r.status, 405);
	http_resp_free(&r);
}

static void
test_head(void **state)
{
	struct http_resp r;
	char v[64];

	http("HEAD", "/api/v1/status", &r);
	assert_int_equal(r.status, 200);
	assert_json_headers(&r);
	assert_int_equal(r.body_len, 0);
	/* the length GET would send */
	assert_true(http_header(&r, "Content-Length", v, sizeof(v)));
	assert_true(atoi(v) > 20);
	http_resp_free(&r);

	http("HEAD", "/api/v1/sources/nope", &r);
	assert_int_equal(r.status, 404);
	assert_int_equal(r.body_len, 0);
	http_resp_free(&r);
}

static void
test_get_with_body(void **state)
{
	struct http_resp r;

	http_hdr("GET", "/api/v1/sources/eth0-in", "Content-Type: application/json\r\n"
	    "Content-Length: 17\r\n\r\n{\"ignored\": true}", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "name"), "eth0-in");
	http_resp_free(&r);
}

static void
test_hostile_paths(void **state)
{
	struct http_resp r;
	char *path;
	size_t len;

	/* dot segments, raw or escaped: refused, never resolved */
	http("GET", "/api/v1/sources/../status", &r);
	assert_error(&r, 400, "'.' and '..' path segments are not allowed");
	assert_string_equal(jstr(jerr(r.json), "code"), "bad_path");
	http_resp_free(&r);
	http("GET", "/api/v1/sources/%2e%2e/status", &r);
	assert_error(&r, 400, "'.' and '..'");
	http_resp_free(&r);
	http("GET", "/api/v1/./status", &r);
	assert_error(&r, 400, "'.' and '..'");
	http_resp_free(&r);
	http("GET", "/api/v1/sources/..x", &r);
	assert_error(&r, 404, "unknown source '..x'");
	http_resp_free(&r);

	/* %00 stays literal: it must not cut the path to /api/v1/status */
	http("GET", "/api/v1/status%00", &r);
	assert_error(&r, 404, "not found");
	assert_string_equal(jstr(jerr(r.json), "path"), "/api/v1/status%00");
	http_resp_free(&r);
	http("GET", "/api/v1/sources/eth0-in%00x", &r);
	assert_error(&r, 404, "unknown source 'eth0-in%00x'");
	http_resp_free(&r);

	/* escapes are decoded, as HTTP says */
	http("GET", "/api/v1/sources/eth0%2din", &r);
	assert_int_equal(r.status, 200);
	http_resp_free(&r);
	http("GET", "/api/v1/sources/a%2Fb", &r);
	assert_error(&r, 404, "not found");
	http_resp_free(&r);
	http("GET", "/api/v1/status%", &r);
	assert_error(&r, 404, "not found");
	http_resp_free(&r);

	/* not UTF-8: still a valid JSON answer */
	http("GET", "/api/v1/sources/%ff%fe%22x", &r);
	assert_error(&r, 404, "unknown source '??\"x'");
	http_resp_free(&r);
	http("GET", "/\xc3\x28%0a%01", &r);
	assert_error(&r, 404, "not found");
	assert_string_equal(jstr(jerr(r.json), "path"), "/?(\n\x01");
	http_resp_free(&r);

	/* query strings do not take part in routing */
	http("GET", "/api/v1/status?x=%00&y", &r);
	assert_int_equal(r.status, 200);
	http_resp_free(&r);

	/* 8 KB path: too long for us */
	len = 8192;
	path = malloc(len + 1);
	assert_non_null(path);
	memset(path, 'a', len);
	memcpy(path, "/api/v1/sources/", 16);
	path[len] = '\0';
	http("GET", path, &r);
	assert_error(&r, 414, "path too long");
	http_resp_free(&r);
	free(path);

	/* a long name segment: 404, with the echoed path cut short */
	len = 2000;
	path = malloc(len + 1);
	assert_non_null(path);
	memset(path, 'b', len);
	memcpy(path, "/api/v1/nothing/", 16);
	path[len] = '\0';
	http("GET", path, &r);
	assert_error(&r, 404, "not found");
	assert_true(strlen(jstr(jerr(r.json), "path")) <= 256);
	http_resp_free(&r);
	free(path);

	/* beyond MHD's connection memory: whatever MHD answers, it lives on */
	len = 100 * 1024;
	path = malloc(len + 1);
	assert_non_null(path);
	memset(path, 'c', len);
	path[0] = '/';
	path[len] = '\0';
	http("GET", path, &r);
	assert_true(r.status == -1 || r.status == 414 || r.status == 431 || r.status == 400);
	http_resp_free(&r);
	free(path);

	/* not HTTP at all */
	http_raw(AF_INET, api_port, "GARBAGE\r\n\r\n", 11, &r);
	assert_true(r.status == -1 || r.status == 400);
	http_resp_free(&r);

	http("GET", "/api/v1/status", &r);
	assert_int_equal(r.status, 200);
	http_resp_free(&r);
}

static void
test_large_body(void **state)
{
	char big[512], chunk_head[512];
	char *req;
	size_t len, off;
	struct http_resp r;
	int n;

	/* declared too large, the client waiting for the answer (Expect) or
	 * past what is drained: refused before the upload (a route that
	 * takes a body) */
	n = snprintf(big, sizeof(big), "POST /api/v1/dlq/replay HTTP/1.1\r\n"
	    "Host: 127.0.0.1:%u\r\nAuthorization: Bearer " TOKEN "\r\nConnection: close\r\n"
	    "Content-Type: application/json\r\nContent-Length: 1000000\r\n"
	    "Expect: 100-continue\r\n\r\n", (unsigned int)api_port);
	http_raw(AF_INET, api_port, big, (size_t)n, &r);
	assert_error(&r, 413, "request body too large");
	http_resp_free(&r);
	n = snprintf(big, sizeof(big), "POST /api/v1/dlq/replay HTTP/1.0\r\n"
	    "Host: 127.0.0.1:%u\r\nAuthorization: Bearer " TOKEN "\r\n"
	    "Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n0123456789",
	    (unsigned int)api_port);
	http_raw(AF_INET, api_port, big, (size_t)n, &r);
	assert_error(&r, 413, "request body too large");
	http_resp_free(&r);

	/* declared too large, no Expect: read and dropped, then refused. An
	 * answer before the body is read can be lost to the reset that closing
	 * on unread data sends, so nothing may come back while it is sent. */
	n = snprintf(big, sizeof(big), "POST /api/v1/dlq/replay HTTP/1.0\r\n"
	    "Host: 127.0.0.1:%u\r\nAuthorization: Bearer " TOKEN "\r\n"
	    "Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n",
	    (unsigned int)api_port);
	int fd = http_connect(AF_INET, api_port);
	assert_true(fd >= 0);
	assert_int_equal(send(fd, big, (size_t)n, MSG_NOSIGNAL), n);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 300), 0); /* no answer before the body */
	req = malloc(1000000);
	assert_non_null(req);
	memset(req, '[', 1000000);
	for (off = 0; off < 1000000;) {
		ssize_t w = send(fd, req + off, 1000000 - off, MSG_NOSIGNAL);
		assert_true(w > 0);
		off += (size_t)w;
	}
	free(req);
	assert_int_equal(http_read_response(fd, &r), 0);
	assert_error(&r, 413, "request body too large");
	http_resp_free(&r);

	/* chunked, no length: cut off once it passes the cap */
	n = snprintf(chunk_head, sizeof(chunk_head), "POST /api/v1/dlq/replay HTTP/1.1\r\n"
	    "Host: 127.0.0.1:%u\r\nAuthorization: Bearer " TOKEN "\r\n"
	    "Content-Type: application/json\r\nConnection: close\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", (unsigned int)api_port);
	len = (size_t)n + 20 * (6 + 8192 + 2) + 5;
	req = malloc(len + 1);
	assert_non_null(req);
	memcpy(req, chunk_head, (size_t)n);
	off = (size_t)n;
	for (int i = 0; i < 20; i++) {
		memcpy(req + off, "2000\r\n", 6);
		memset(req + off + 6, 'x', 8192);
		memcpy(req + off + 6 + 8192, "\r\n", 2);
		off += 6 + 8192 + 2;
	}
	memcpy(req + off, "0\r\n\r\n", 5);
	off += 5;
	http_raw(AF_INET, api_port, req, off, &r);
	assert_int_not_equal(r.status, 200);
	http_resp_free(&r);
	free(req);

	http("GET", "/api/v1/status", &r);
	assert_int_equal(r.status, 200);
	http_resp_free(&r);
}

/* Own server: exact request and error counts. */
static void
test_counters(void **state)
{
	struct pb_api_cfg cfg;
	struct pb_api *a;
	char err[256] = "";
	uint16_t saved = api_port;
	struct http_resp r;
	json_t *c;

	api_cfg(&cfg, "127.0.0.1", 0);
	a = pb_api_start(&cfg, &view, err, sizeof(err));
	assert_non_null(a);
	api_port = pb_api_port(a);

	http("GET", "/api/v1/sources", &r);      /* ok */
	http_resp_free(&r);
	http("GET", "/api/v1/sinks/dump", &r);   /* ok */
	http_resp_free(&r);
	http("GET", "/x", &r);                   /* 404 */
	http_resp_free(&r);
	http("PUT", "/api/v1/status", &r);       /* 405 */
	http_resp_free(&r);
	http("GET", "/api/v1/sources/zz", &r);   /* 404 */
	http_resp_free(&r);
	http("GET", "/api/v1/status", &r);       /* counts itself */
	assert_int_equal(r.status, 200);
	c = json_object_get(r.json, "api");
	assert_int_equal(jint(c, "requests"), 6);
	assert_int_equal(jint(c, "errors"), 3);
	http_resp_free(&r);

	pb_api_stop(a);
	api_port = saved;
}

struct hammer {
	int ok;
};

static void *
hammer_thread(void *arg)
{
	struct hammer *h = arg;

	char req[128];
	int n = snprintf(req, sizeof(req), "GET /api/v1/sources HTTP/1.0\r\n"
	    "Host: localhost:%u\r\n\r\n", (unsigned int)api_port);

	for (int i = 0; i < 25; i++) {
		struct http_resp r;

		if (http_exchange(AF_INET, api_port, req, (size_t)n, &r) == 0 &&
		    r.status == 200 &&
		    json_array_size(json_object_get(r.json, "sources")) == 2)
			h->ok++;
		http_resp_free(&r);
	}
	return NULL;
}

static void
test_concurrent(void **state)
{
	pthread_t th[4];
	struct hammer h[4] = { { 0 } };

	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, hammer_thread, &h[i]), 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(h[i].ok, 25);
	}
}

/* A fixed port, and no descriptor left behind by start + stop. */
static void
test_fixed_port_no_leak(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t slen = sizeof(sin);
	struct pb_api_cfg cfg;
	struct pb_api *a;
	char err[256] = "";
	uint16_t port, saved = api_port;
	struct http_resp r;
	int fd, before;

	/* a free port: bind to 0, read it, close */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
	port = ntohs(sin.sin_port);
	close(fd);

	before = count_fds();
	api_cfg(&cfg, "127.0.0.1", port);
	a = pb_api_start(&cfg, &view, err, sizeof(err));
	if (a == NULL)
		fail_msg("pb_api_start: %s", err);
	assert_int_equal(pb_api_port(a), port);
	api_port = port;
	http("GET", "/api/v1/status", &r);
	assert_int_equal(r.status, 200);
	http_resp_free(&r);
	assert_false(port_free(port));
	pb_api_stop(a);
	api_port = saved;
	assert_int_equal(count_fds(), before);
	assert_true(port_free(port));
}

static void
test_bind_conflict(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t slen = sizeof(sin);
	struct pb_api_cfg cfg;
	char err[256] = "", want[128];
	int fd, before;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);

	before = count_fds();
	api_cfg(&cfg, "127.0.0.1", ntohs(sin.sin_port));
	assert_null(pb_api_start(&cfg, &view, err, sizeof(err)));
	snprintf(want, sizeof(want), "api: cannot listen on 127.0.0.1:%u: %s",
	    (unsigned int)ntohs(sin.sin_port), strerror(EADDRINUSE));
	assert_string_equal(err, want);
	assert_int_equal(count_fds(), before);
	close(fd);
}

static void
test_bad_address(void **state)
{
	static const char *const bad[] = { "localhost", "", "1.2.3", "::1::2", "[::1" };
	struct pb_api_cfg cfg;
	char err[256], want[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		api_cfg(&cfg, bad[i], 8080);
		assert_null(pb_api_start(&cfg, &view, err, sizeof(err)));
		assert_true(strncmp(err, "api: cannot listen on ", 22) == 0);
		assert_non_null(strstr(err, "not a numeric IPv4 or IPv6 address"));
	}
	/* an address this host does not have */
	api_cfg(&cfg, "192.0.2.1", 8080);
	assert_null(pb_api_start(&cfg, &view, err, sizeof(err)));
	snprintf(want, sizeof(want), "api: cannot listen on 192.0.2.1:8080: %s",
	    strerror(EADDRNOTAVAIL));
	assert_string_equal(err, want);
}

static void
test_ipv6(void **state)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	char req[128];
	struct pb_api_cfg cfg;
	struct pb_api *a;
	char err[256] = "";
	struct http_resp r;
	int fd;

	/* Only where the host has ::1 (not a skip: cmocka skips confuse automake). */
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	sin6.sin6_addr = in6addr_loopback;
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) < 0) {
		print_message("no IPv6 loopback here, IPv6 case not run\n");
		if (fd >= 0)
			close(fd);
		return;
	}
	close(fd);

	for (int i = 0; i < 2; i++) {
		api_cfg(&cfg, i == 0 ? "::1" : "[::1]", 0);
		a = pb_api_start(&cfg, &view, err, sizeof(err));
		if (a == NULL)
			fail_msg("pb_api_start: %s", err);
		snprintf(req, sizeof(req), "GET /api/v1/status HTTP/1.0\r\n"
		    "Host: [::1]:%u\r\n\r\n", (unsigned int)pb_api_port(a));
		http_raw(AF_INET6, pb_api_port(a), req, strlen(req), &r);
		assert_int_equal(r.status, 200);
		assert_int_equal(jint(r.json, "sinks"), 2);
		http_resp_free(&r);
		/* IPv6 only: not on 127.0.0.1 */
		assert_true(http_connect(AF_INET, pb_api_port(a)) < 0);
		pb_api_stop(a);
	}
}

static void
test_empty_view(void **state)
{
	struct pb_view_source src = { .name = "nostats", .kind = "live" };
	struct pb_view empty = { .node_id = 1, .nsources = 1, .sources = &src };
	struct pb_api_cfg cfg;
	struct pb_api *a;
	char err[256] = "";
	uint16_t saved = api_port;
	struct http_resp r;

	api_cfg(&cfg, "127.0.0.1", 0);
	cfg.max_connections = 0; /* defaults, not "none" */
	cfg.timeout_s = 0;
	a = pb_api_start(&cfg, &empty, err, sizeof(err));
	if (a == NULL)
		fail_msg("pb_api_start: %s", err);
	api_port = pb_api_port(a);

	http("GET", "/api/v1/status", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "version"), PACKAGE_VERSION);
	assert_true(json_is_null(json_object_get(r.json, "started"))); /* unset */
	assert_int_equal(jint(r.json, "sources"), 1);
	http_resp_free(&r);
	http("GET", "/api/v1/sinks", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "sinks")), 0);
	http_resp_free(&r);

	/* a source whose stats are not wired yet reads as zeros */
	http("GET", "/api/v1/sources/nostats", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(jint(r.json, "packets"), 0);
	assert_string_equal(jstr(r.json, "state"), "starting");
	http_resp_free(&r);

	pb_api_stop(a);
	pb_api_stop(NULL);
	api_port = saved;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_sources),
		cmocka_unit_test(test_sinks),
		cmocka_unit_test(test_sink_jetstream),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_method_not_allowed),
		cmocka_unit_test(test_head),
		cmocka_unit_test(test_get_with_body),
		cmocka_unit_test(test_hostile_paths),
		cmocka_unit_test(test_large_body),
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_fixed_port_no_leak),
		cmocka_unit_test(test_bind_conflict),
		cmocka_unit_test(test_bad_address),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_empty_view),
	};

	return cmocka_run_group_tests_name("api", tests, group_setup, group_teardown);
}
