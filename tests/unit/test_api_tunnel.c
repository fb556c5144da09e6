/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "api_tunnel_fx.h"

/*
 * Tunnel endpoints (peers, gaps, DLQ) against a fake engine: a real gap
 * tracker with a published snapshot, a real DLQ file, and a real loop +
 * command queue whose handler runs on a helper thread like the engine's:
 * it tables replay jobs and answers purges through the real DLQ writer.
 */

/* ---- peers ---- */

static void
test_peers(void **state)
{
	static const char *const down[] = {
		"records_sent", "bytes_sent", "records_acked", "bytes_acked", "in_flight",
		"in_flight_bytes", "resent", "to_dlq", "dlq_refused", "replayed",
	};
	static const char *const up[] = {
		"records_received", "bytes_received", "link_duplicates", "link_lost",
		"origin_duplicates", "loops", "hop_limit", "dlq_announced", "acked_elsewhere",
		"custody_seq",
		"epoch",
	};
	struct http_resp r;
	json_t *arr, *d, *u, *x, *t;
	char name[80], path[128];

	arr = json_object_get(get_ok("/api/v1/peers", &r), "peers");
	assert_int_equal(json_array_size(arr), 3);
	d = json_array_get(arr, 0);
	u = json_array_get(arr, 1);
	x = json_array_get(arr, 2);
	assert_string_equal(jstr(d, "name"), "campus-hk");
	assert_string_equal(jstr(d, "state"), "up");
	assert_string_equal(jstr(d, "direction"), "downstream");
	assert_string_equal(jstr(d, "origin"), "dial");
	assert_string_equal(jstr(d, "address"), "10.0.0.2:7152");
	assert_true(json_is_true(json_object_get(d, "tls")));
	assert_int_equal(jint(json_object_get(d, "node"), "id"), 2);
	assert_string_equal(jstr(json_object_get(d, "node"), "name"), "hk-node");
	assert_string_equal(jstr(d, "connected_since"), "2023-11-14T22:13:20.123Z");
	assert_true(json_is_null(json_object_get(d, "last_error")));
	assert_true(json_real_value(json_object_get(d, "rtt_ms")) == 1.5);
	assert_int_equal(jint(d, "reconnects"), 3);
	assert_int_equal(jint(d, "failovers"), 6);
	assert_int_equal(jint(d, "auth_failures"), 4);
	assert_int_equal(jint(d, "protocol_errors"), 5);
	for (size_t i = 0; i < sizeof(down) / sizeof(down[0]); i++)
		assert_int_equal(jint(d, down[i]), 101 + (json_int_t)i);
	assert_int_equal(jint(json_object_get(d, "buffer"), "used"), 111);
	assert_int_equal(jint(json_object_get(d, "buffer"), "capacity"), 112);
	assert_int_equal(jint(d, "oldest_unacked_age_ms"), 113);
	assert_int_equal(jint(d, "next_seq"), 114);
	assert_int_equal(jint(d, "acked_seq"), 115);
	/* 14 common keys + 14 downstream ones, no upstream key */
	assert_int_equal(json_object_size(d), 28);
	assert_null(json_object_get(d, "records_received"));

	assert_string_equal(jstr(u, "state"), "connecting");
	assert_true(json_is_null(json_object_get(json_object_get(u, "node"), "id")));
	assert_true(json_is_null(json_object_get(json_object_get(u, "node"), "name")));
	assert_true(json_is_null(json_object_get(u, "connected_since")));
	assert_true(json_is_null(json_object_get(u, "rtt_ms")));
	assert_true(json_is_null(json_object_get(u, "tls")));
	assert_string_equal(jstr(u, "last_error"), "connection refused");
	for (size_t i = 0; i < sizeof(up) / sizeof(up[0]); i++)
		assert_int_equal(jint(u, up[i]), 201 + (json_int_t)i);
	assert_int_equal(json_object_size(u), 25);
	assert_null(json_object_get(u, "records_sent"));
	/* unterminated engine strings are cut at their array size */
	assert_int_equal(strlen(jstr(x, "name")), 63);
	assert_int_equal(strlen(jstr(x, "last_error")), 255);

	assert_true(jint(r.json, "generated_age_ms") >= 1500);
	assert_true(json_is_string(json_object_get(r.json, "generated")));
	t = json_object_get(r.json, "tunnel");
	assert_int_equal(jint(t, "loops_dropped"), 11);
	assert_int_equal(jint(t, "link_records"), 14);
	http_resp_free(&r);

	d = get_ok("/api/v1/peers/lab-sg", &r);
	assert_string_equal(jstr(d, "name"), "lab-sg");
	assert_int_equal(jint(d, "custody_seq"), 210);
	http_resp_free(&r);

	expect_error("GET", "/api/v1/peers/nope", NULL, 404, "unknown peer 'nope'");
	memset(name, 'a', 64);
	name[64] = '\0';
	snprintf(path, sizeof(path), "/api/v1/peers/%s", name);
	expect_error("GET", path, NULL, 400, "too long");
	name[63] = '\0'; /* 63 bytes: a valid name, just unknown */
	snprintf(path, sizeof(path), "/api/v1/peers/%s", name);
	expect_error("GET", path, NULL, 404, "unknown peer");
	expect_error("POST", "/api/v1/peers", "{}", 405, "method");
}

/* ---- gaps ---- */

static json_t *
find_stream(json_t *arr, json_int_t node, json_int_t source)
{
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *o = json_object_get(json_array_get(arr, i), "origin");

		if (jint(o, "node") == node && jint(o, "source") == source)
			return json_array_get(arr, i);
	}
	fail_msg("stream %lld/%lld missing", (long long)node, (long long)source);
	return NULL;
}

static void
assert_ranges(json_t *s, const uint64_t *lohi, size_t n)
{
	json_t *m = json_object_get(s, "missing");

	assert_int_equal(json_array_size(m), n);
	for (size_t i = 0; i < n; i++) {
		json_t *pair = json_array_get(m, i);

		assert_int_equal(json_integer_value(json_array_get(pair, 0)), lohi[2 * i]);
		assert_int_equal(json_integer_value(json_array_get(pair, 1)), lohi[2 * i + 1]);
	}
}

static void
test_gaps(void **state)
{
	static const uint64_t r1[] = { 4, 4, 7, 9 };
	static const uint64_t r3[] = { 2, 3, 5, 7, 9, 11 };
	static const char *const bad[][2] = {
		{ "node=-1", "node" }, { "node=abc", "node" }, { "node=4294967296", "node" },
		{ "source=65536", "source" }, { "limit=1e3", "limit" }, { "node=", "node" },
		{ "epoch=18446744073709551616", "epoch" }, { "foo=1", "foo" },
		{ "node=1&node=2", "node" }, { "node", "node" }, { "limit=%2B1", "limit" },
	};
	struct http_resp r;
	json_t *arr, *s, *o;
	char path[128];

	arr = json_object_get(get_ok("/api/v1/gaps", &r), "streams");
	assert_int_equal(json_array_size(arr), 3);
	s = find_stream(arr, 1, 0);
	o = json_object_get(s, "origin");
	assert_int_equal(jint(o, "epoch"), 77);
	assert_int_equal(jint(s, "expected_next"), 11);
	assert_int_equal(jint(s, "received"), 6);
	assert_int_equal(jint(s, "duplicates"), 1);
	assert_int_equal(jint(s, "filled"), 1);
	assert_int_equal(jint(s, "missing_total"), 4);
	assert_int_equal(jint(s, "ranges_total"), 2);
	assert_ranges(s, r1, 2);
	assert_true(json_is_false(json_object_get(s, "ranges_truncated")));
	assert_int_equal(jint(s, "ranges_coalesced"), 0);
	assert_string_equal(jstr(s, "first_seen"), "2023-11-14T22:13:20.123Z");
	assert_string_equal(jstr(s, "last_seen"), "2023-11-14T22:13:20.123Z");
	/* The path by id and name, origin to this node; null for an unnamed relay. */
	o = json_object_get(s, "path");
	assert_int_equal(json_array_size(o), 3);
	assert_int_equal(jint(json_array_get(o, 0), "node"), 1);
	assert_string_equal(jstr(json_array_get(o, 0), "name"), "edge");
	assert_int_equal(jint(json_array_get(o, 1), "node"), 4);
	assert_true(json_is_null(json_object_get(json_array_get(o, 1), "name")));
	assert_string_equal(jstr(json_array_get(o, 2), "name"), "col");
	s = find_stream(arr, 2, 0);
	assert_int_equal(json_array_size(json_object_get(s, "path")), 0); /* no path noted */
	assert_int_equal(jint(s, "ranges_total"), 4);
	assert_ranges(s, r3, 3); /* the snapshot lists 3 */
	assert_true(json_is_true(json_object_get(s, "ranges_truncated")));
	assert_int_equal(jint(json_object_get(r.json, "totals"), "streams"), 3);
	assert_int_equal(jint(json_object_get(r.json, "totals"), "duplicates"), 1);
	http_resp_free(&r);

	arr = json_object_get(get_ok("/api/v1/gaps?node=1", &r), "streams");
	assert_int_equal(json_array_size(arr), 2);
	http_resp_free(&r);
	arr = json_object_get(get_ok("/api/v1/gaps?node=1&source=1", &r), "streams");
	assert_int_equal(json_array_size(arr), 1);
	s = json_array_get(arr, 0);
	assert_int_equal(json_array_size(json_object_get(s, "missing")), 0);
	assert_true(json_is_false(json_object_get(s, "ranges_truncated")));
	http_resp_free(&r);
	arr = json_object_get(get_ok("/api/v1/gaps?node=2&limit=1", &r), "streams");
	assert_ranges(json_array_get(arr, 0), r3, 1);
	http_resp_free(&r);
	arr = json_object_get(get_ok("/api/v1/gaps?node=2&epoch=5&limit=1000000", &r),
	    "streams");
	assert_ranges(json_array_get(arr, 0), r3, 3);
	http_resp_free(&r);
	arr = json_object_get(get_ok("/api/v1/gaps?node=3", &r), "streams");
	assert_int_equal(json_array_size(arr), 0);
	http_resp_free(&r);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(path, sizeof(path), "/api/v1/gaps?%s", bad[i][0]);
		expect_error("GET", path, NULL, 400, bad[i][1]);
	}
}

/* ---- DLQ listing ---- */

/* Expected total for a predicate over the rows still present. */
static json_int_t
count_rows(bool (*match)(const struct pb_dlq_meta *, int), int *first)
{
	json_int_t n = 0;

	*first = -1;
	for (int i = 0; i < NROWS; i++) {
		struct pb_dlq_meta m;

		row_meta(i, &m);
		if (!row_gone[i] && match(&m, i)) {
			if (*first < 0)
				*first = i;
			n++;
		}
	}
	return n;
}

/* Row predicates, mirroring the filters under test. */
static bool
m_all(const struct pb_dlq_meta *m, int i)
{
	return true;
}

static bool
m_labsg(const struct pb_dlq_meta *m, int i)
{
	return strcmp(m->peer, "lab-sg") == 0;
}

static bool
m_node2(const struct pb_dlq_meta *m, int i)
{
	return m->origin_node == 2;
}

static bool
m_overflow(const struct pb_dlq_meta *m, int i)
{
	return m->reason == PB_DLQ_OVERFLOW;
}

static bool
m_t10_19(const struct pb_dlq_meta *m, int i)
{
	return i >= 10 && i <= 19;
}

static bool
m_id5_7(const struct pb_dlq_meta *m, int i)
{
	return i >= 4 && i <= 6;
}

static bool
m_hk_n1(const struct pb_dlq_meta *m, int i)
{
	return strcmp(m->peer, "campus-hk") == 0 && m->origin_node == 1;
}

static bool
m_edge(const struct pb_dlq_meta *m, int i)
{
	return strcmp(m->peer, "edge-x") == 0;
}

static bool
m_n1_timeout(const struct pb_dlq_meta *m, int i)
{
	return m->origin_node == 1 && m->reason == PB_DLQ_TIMEOUT;
}

/* GET with a filter: total, every row matches, the first row is the right one. */
static void
check_list(const char *query, bool (*match)(const struct pb_dlq_meta *, int))
{
	struct http_resp r;
	char path[256];
	json_t *rows;
	json_int_t want;
	int first;

	want = count_rows(match, &first);
	snprintf(path, sizeof(path), "/api/v1/dlq%s%s", query[0] ? "?" : "", query);
	rows = json_object_get(get_ok(path, &r), "rows");
	if (jint(r.json, "total") != want)
		fail_msg("%s: total %lld, wanted %lld", path, (long long)jint(r.json, "total"),
		    (long long)want);
	assert_int_equal(json_array_size(rows), want > 100 ? 100 : want);
	for (size_t k = 0; k < json_array_size(rows); k++) {
		json_int_t id = jint(json_array_get(rows, k), "id");
		struct pb_dlq_meta m;

		assert_true(id >= 1 && id <= NROWS);
		row_meta((int)id - 1, &m);
		assert_true(match(&m, (int)id - 1));
	}
	if (want > 0)
		assert_int_equal(jint(json_array_get(rows, 0), "id"), first + 1);
	http_resp_free(&r);
}

static void
test_dlq_list(void **state)
{
	static const char *const bad[][2] = {
		{ "node=abc", "node" }, { "node=99999999999", "node" },
		{ "reason=bogus", "reason" }, { "since=yesterday", "since" },
		{ "since=2023-02-29T00:00:00Z", "since" }, { "until=0", "until" },
		{ "since=1969-12-31T23:59:59Z", "since" },
		{ "until=2262-05-01T00:00:00Z", "until" },
		{ "since=2023-11-14T22:13:20.Z", "since" },
		{ "since=2023-11-14T25:00:00Z", "since" },
		{ "id_max=0", "id_max" }, { "id_min=9223372036854775808", "id_min" },
		{ "id_min=-1", "id_min" }, { "peer=", "peer" },
		{ "peer=" LONG64, "peer" },
		{ "since=20&until=10", "since" }, { "id_min=9&id_max=2", "id_min" },
		{ "limit=1001", "limit" }, { "limit=-1", "limit" }, { "offset=x", "offset" },
		{ "all=true", "all" }, { "peer=a&peer=b", "peer" }, { "node", "node" },
	};
	struct http_resp r;
	json_t *row, *o, *st, *rows;
	char path[160];

	check_list("", m_all);
	row = json_array_get(json_object_get(get_ok("/api/v1/dlq", &r), "rows"), 0);
	assert_int_equal(jint(r.json, "offset"), 0);
	assert_int_equal(jint(r.json, "limit"), 100);
	assert_int_equal(jint(row, "id"), 1);
	assert_string_equal(jstr(row, "peer"), "campus-hk");
	o = json_object_get(row, "origin");
	assert_int_equal(jint(o, "node"), 1);
	assert_int_equal(jint(o, "source"), 0);
	assert_int_equal(jint(o, "epoch"), 77);
	assert_int_equal(jint(o, "seq"), 100);
	assert_string_equal(jstr(row, "captured"), "2023-11-14T22:13:20.123456789Z");
	assert_string_equal(jstr(row, "enqueued"), "2023-11-14T22:13:20.623456789Z");
	assert_string_equal(jstr(row, "reason"), "timeout");
	assert_int_equal(jint(row, "attempts"), 0);
	assert_int_equal(jint(row, "bytes"), 10 + PB_DLQ_ROW_OVERHEAD + strlen("campus-hk"));
	st = json_object_get(r.json, "stats");
	assert_int_equal(jint(st, "rows"), NROWS);
	assert_int_equal(jint(st, "inserted"), NROWS);
	assert_true(json_is_null(json_object_get(st, "last_error")));
	http_resp_free(&r);

	check_list("peer=lab-sg", m_labsg);
	check_list("node=2", m_node2);
	check_list("reason=overflow", m_overflow);
	check_list("since=2023-11-14T22:13:30.123456789Z&until=2023-11-14T22:13:39.123456789Z",
	    m_t10_19);
	check_list("since=1700000010123456789&until=1700000019123456789", m_t10_19);
	/* offsets: %2B is '+', and a raw '+' (decoded to ' ') is taken as one too */
	check_list("since=2023-11-14T23:13:30.123456789%2B01:00"
	    "&until=2023-11-14T23:13:39.123456789+01:00", m_t10_19);
	check_list("since=2023-11-14T22:13:30.1234567Z&until=2023-11-14T21:13:39.1234568-01:00",
	    m_t10_19);
	check_list("id_min=5&id_max=7", m_id5_7);
	check_list("peer=campus-hk&node=1", m_hk_n1);

	/* pagination */
	rows = json_object_get(get_ok("/api/v1/dlq?limit=7&offset=3", &r), "rows");
	assert_int_equal(jint(r.json, "total"), NROWS);
	assert_int_equal(json_array_size(rows), 7);
	assert_int_equal(jint(json_array_get(rows, 0), "id"), 4);
	assert_int_equal(jint(json_array_get(rows, 6), "id"), 10);
	http_resp_free(&r);
	rows = json_object_get(get_ok("/api/v1/dlq?offset=28&limit=1000", &r), "rows");
	assert_int_equal(json_array_size(rows), 2);
	http_resp_free(&r);
	rows = json_object_get(get_ok("/api/v1/dlq?offset=9223372036854775807", &r), "rows");
	assert_int_equal(json_array_size(rows), 0);
	http_resp_free(&r);
	rows = json_object_get(get_ok("/api/v1/dlq?limit=0", &r), "rows");
	assert_int_equal(json_array_size(rows), 0);
	assert_int_equal(jint(r.json, "total"), NROWS);
	http_resp_free(&r);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(path, sizeof(path), "/api/v1/dlq?%s", bad[i][0]);
		expect_error("GET", path, NULL, 400, bad[i][1]);
	}
	expect_error("PUT", "/api/v1/dlq", "{}", 405, "method");
}

/* ---- replay ---- */

static size_t
replays_seen(void)
{
	size_t n;

	pthread_mutex_lock(&fe_lock);
	n = fe_nreplays;
	pthread_mutex_unlock(&fe_lock);
	return n;
}

static void
wait_replays(size_t n)
{
	uint64_t end = pb_mono_ns() + 10 * PB_NSEC_PER_SEC;

	while (replays_seen() < n) {
		if (pb_mono_ns() > end)
			fail_msg("the engine never got replay request %zu", n);
		usleep(2000);
	}
}

/* POST, 202 with Location; returns the id. */
static uint64_t
post_replay(const char *body)
{
	struct http_resp r;
	char loc[128], want[128];
	uint64_t id;

	http("POST", "/api/v1/dlq/replay", body, &r);
	if (r.status != 202)
		fail_msg("POST replay %s: %d %s", body ? body : "(none)", r.status, r.body);
	id = (uint64_t)jint(r.json, "id");
	snprintf(want, sizeof(want), "/api/v1/dlq/replays/%llu", (unsigned long long)id);
	assert_string_equal(jstr(r.json, "status"), want);
	assert_true(http_header(&r, "Location", loc, sizeof(loc)));
	assert_string_equal(loc, want);
	http_resp_free(&r);
	return id;
}

static void
test_replay(void **state)
{
	static const char *const bad[][2] = {
		{ "{", "line 1" }, { "[1]", "object" }, { "{\"bogus\":1}", "bogus" },
		{ "{\"node\":-1}", "node" }, { "{\"node\":\"1\"}", "node" },
		{ "{\"node\":4294967296}", "node" }, { "{\"node\":1.5}", "node" },
		{ "{\"rate\":-5}", "rate" }, { "{\"rate\":\"fast\"}", "rate" },
		{ "{\"rate\":1e300}", "rate" }, { "{\"peer\":\"\"}", "peer" },
		{ "{\"peer\":\"a\\u0000b\"}", "line 1" }, { "{\"reason\":\"late\"}", "reason" },
		{ "{\"target\":\"" LONG64 "\"}", "target" },
		{ "{\"since\":\"2023-13-01T00:00:00Z\"}", "since" },
		{ "{\"until\":true}", "until" },
		{ "{\"node\":1,\"node\":2}", "duplicate" },
		{ "{\"id_min\":9,\"id_max\":2}", "id_min" },
		{ "{\"id_max\":99999999999999999999}", "line 1" },
		{ "{\"since\":-3}", "since" },
	};
	struct fe_replay got;
	struct http_resp r;
	json_t *j, *f;
	uint64_t id, id2, id3, next;
	size_t before;
	char path[96], *big;

	before = replays_seen();
	id = post_replay("{\"peer\":\"campus-hk\",\"node\":1,\"reason\":\"timeout\","
	    "\"since\":\"2023-11-14T22:13:20.5Z\",\"until\":1700000100000000000,"
	    "\"id_min\":2,\"id_max\":9,\"target\":\"other-peer\",\"rate\":50000}");
	wait_replays(before + 1);
	pthread_mutex_lock(&fe_lock);
	got = fe_replays[before];
	pthread_mutex_unlock(&fe_lock);
	assert_int_equal(got.id, id);
	assert_string_equal(got.filter.peer, "campus-hk");
	assert_true(got.filter.by_node);
	assert_int_equal(got.filter.origin_node, 1);
	assert_true(got.filter.by_reason);
	assert_int_equal(got.filter.reason, PB_DLQ_TIMEOUT);
	assert_int_equal(got.filter.capture_min_ns, 1700000000500000000ULL);
	assert_int_equal(got.filter.capture_max_ns, 1700000100000000000ULL);
	assert_int_equal(got.filter.id_min, 2);
	assert_int_equal(got.filter.id_max, 9);
	assert_string_equal(got.target, "other-peer");
	assert_true(got.rate == 50000);

	/* the job as the engine tabled it */
	snprintf(path, sizeof(path), "/api/v1/dlq/replays/%llu", (unsigned long long)id);
	j = get_ok(path, &r);
	assert_int_equal(jint(j, "id"), id);
	assert_string_equal(jstr(j, "state"), "running");
	assert_string_equal(jstr(j, "target"), "other-peer");
	assert_true(json_real_value(json_object_get(j, "progress")) == 0.4);
	assert_int_equal(jint(j, "fetched"), 10);
	assert_true(json_is_null(json_object_get(j, "finished")));
	f = json_object_get(j, "filter");
	assert_string_equal(jstr(f, "peer"), "campus-hk");
	assert_string_equal(jstr(f, "reason"), "timeout");
	assert_string_equal(jstr(f, "since"), "2023-11-14T22:13:20.500000000Z");
	assert_int_equal(jint(f, "id_max"), 9);
	http_resp_free(&r);

	/* no body, or whitespace: everything, at the configured rate */
	id2 = post_replay(NULL);
	id3 = post_replay(" \r\n");
	assert_int_equal(id3, id2 + 1);
	wait_replays(before + 3);
	pthread_mutex_lock(&fe_lock);
	got = fe_replays[before + 1];
	pthread_mutex_unlock(&fe_lock);
	assert_int_equal(got.id, id2);
	assert_int_equal(got.filter.peer[0], '\0');
	assert_false(got.filter.by_node);
	assert_true(got.rate == 0);

	/* bad bodies push nothing: the engine takes commands in order */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error("POST", "/api/v1/dlq/replay", bad[i][0], 400, bad[i][1]);
	big = malloc(PB_API_BODY_MAX + 2);
	assert_non_null(big);
	memset(big, ' ', PB_API_BODY_MAX + 1);
	big[0] = '{';
	big[PB_API_BODY_MAX] = '}';
	big[PB_API_BODY_MAX + 1] = '\0';
	expect_error("POST", "/api/v1/dlq/replay", big, 413, "too large");
	free(big);
	post_replay("{\"target\":\"\",\"peer\":null}");
	wait_replays(before + 4);
	usleep(50000);
	assert_int_equal(replays_seen(), before + 4);

	j = get_ok("/api/v1/dlq/replays", &r);
	assert_int_equal(json_array_size(json_object_get(j, "jobs")), 4);
	assert_int_equal(jint(json_array_get(json_object_get(j, "jobs"), 0), "id"), id);
	http_resp_free(&r);

	/* accepted, not yet taken by the engine */
	next = atomic_fetch_add(&pubstate.next_request, 1) + 1;
	snprintf(path, sizeof(path), "/api/v1/dlq/replays/%llu", (unsigned long long)next);
	j = get_ok(path, &r);
	assert_string_equal(jstr(j, "state"), "queued");
	assert_int_equal(json_object_size(j), 2);
	http_resp_free(&r);
	snprintf(path, sizeof(path), "/api/v1/dlq/replays/%llu", (unsigned long long)next + 1);
	expect_error("GET", path, NULL, 404, "unknown replay job");
	/* a full table that moved past an id: recycled */
	pthread_mutex_lock(&pubstate.lock);
	for (int i = 0; i < PB_REPLAY_JOBS; i++)
		pubstate.jobs[i].id = 1000 + (uint64_t)i;
	pthread_mutex_unlock(&pubstate.lock);
	atomic_store(&pubstate.next_request, 2000);
	snprintf(path, sizeof(path), "/api/v1/dlq/replays/%llu", (unsigned long long)id);
	expect_error("GET", path, NULL, 404, "no longer tracked");
	pthread_mutex_lock(&pubstate.lock);
	memset(pubstate.jobs, 0, sizeof(pubstate.jobs));
	pthread_mutex_unlock(&pubstate.lock);

	expect_error("GET", "/api/v1/dlq/replays/abc", NULL, 400, "replay id");
	expect_error("GET", "/api/v1/dlq/replays/0", NULL, 400, "replay id");
	expect_error("GET", "/api/v1/dlq/replays/-1", NULL, 400, "replay id");
	expect_error("GET", "/api/v1/dlq/replays/99999999999999999999", NULL, 400, "replay id");
	expect_error("GET", "/api/v1/dlq/replay", NULL, 405, "method");
}

/* ---- purge ---- */

static void
delete_ok(const char *query, bool (*match)(const struct pb_dlq_meta *, int))
{
	struct http_resp r;
	char path[128];
	json_int_t want;
	int first;

	want = count_rows(match, &first);
	snprintf(path, sizeof(path), "/api/v1/dlq?%s", query);
	http("DELETE", path, NULL, &r);
	if (r.status != 200)
		fail_msg("DELETE %s: %d %s", path, r.status, r.body);
	assert_int_equal(jint(r.json, "deleted"), want);
	http_resp_free(&r);
	for (int i = 0; i < NROWS; i++) {
		struct pb_dlq_meta m;

		row_meta(i, &m);
		if (match(&m, i))
			row_gone[i] = true;
	}
	/* the rows are really gone from the file */
	check_list("", m_all);
	check_list(query[0] == 'a' ? "" : query, match);
}

static void
test_purge(void **state)
{
	struct pb_purge_request *held;
	struct pb_dlq_filter seen;
	uint64_t end;

	expect_error("DELETE", "/api/v1/dlq", NULL, 400,
	    "refusing to purge the whole DLQ without all=true");
	expect_error("DELETE", "/api/v1/dlq?all=false", NULL, 400, "all=true");
	expect_error("DELETE", "/api/v1/dlq?since=0", NULL, 400, "all=true");
	expect_error("DELETE", "/api/v1/dlq?all=maybe", NULL, 400, "all");
	expect_error("DELETE", "/api/v1/dlq?bogus=1", NULL, 400, "bogus");
	expect_error("DELETE", "/api/v1/dlq?node=x", NULL, 400, "node");
	expect_error("DELETE", "/api/v1/dlq?limit=5", NULL, 400, "limit");
	pthread_mutex_lock(&fe_lock);
	assert_int_equal(fe_npurges, 0);
	pthread_mutex_unlock(&fe_lock);

	delete_ok("peer=edge-x", m_edge);
	pthread_mutex_lock(&fe_lock);
	seen = fe_purge_filter;
	pthread_mutex_unlock(&fe_lock);
	assert_string_equal(seen.peer, "edge-x");
	assert_false(seen.by_node);
	delete_ok("node=1&reason=timeout", m_n1_timeout);

	/* the engine fails: 500 */
	pthread_mutex_lock(&fe_lock);
	fe_purge_mode = FE_PURGE_FAIL;
	pthread_mutex_unlock(&fe_lock);
	expect_error("DELETE", "/api/v1/dlq?node=2", NULL, 500, "purge failed");

	/* the engine is slow: 504, then its late answer frees the request */
	atomic_store(&api->purge_timeout_ms, 200);
	pthread_mutex_lock(&fe_lock);
	fe_purge_mode = FE_PURGE_HOLD;
	pthread_mutex_unlock(&fe_lock);
	expect_error("DELETE", "/api/v1/dlq?node=2", NULL, 504, "not finished");
	end = pb_mono_ns() + 10 * PB_NSEC_PER_SEC;
	do {
		pthread_mutex_lock(&fe_lock);
		held = fe_held;
		fe_held = NULL;
		pthread_mutex_unlock(&fe_lock);
		if (held == NULL)
			usleep(1000);
	} while (held == NULL && pb_mono_ns() < end);
	assert_non_null(held);
	assert_true(held->filter.by_node);
	fe_answer(held, 0, 7);

	pthread_mutex_lock(&fe_lock);
	fe_purge_mode = FE_PURGE_REAL;
	pthread_mutex_unlock(&fe_lock);
	atomic_store(&api->purge_timeout_ms, 0);
	delete_ok("all=true", m_all);
}

/* ---- the engine's verdict: 409, 429, 504 ---- */

static void
set_replay_mode(int mode)
{
	pthread_mutex_lock(&fe_lock);
	fe_replay_mode = mode;
	pthread_mutex_unlock(&fe_lock);
}

static json_int_t
api_counter(const char *key)
{
	struct http_resp r;
	json_int_t v;

	v = jint(json_object_get(get_ok("/api/v1/status", &r), "api"), key);
	http_resp_free(&r);
	return v;
}

static void
test_replay_verdicts(void **state)
{
	struct pb_replay_request *held;
	struct http_resp r;
	json_int_t conflicts = api_counter("conflicts"), too_many = api_counter("too_many");
	size_t before = replays_seen();
	struct fe_replay got;
	uint64_t end;

	/* wait_s reaches the engine; out of range is a 400 */
	post_replay("{\"peer\":\"lab-sg\",\"wait_s\":5}");
	wait_replays(before + 1);
	pthread_mutex_lock(&fe_lock);
	got = fe_replays[before];
	pthread_mutex_unlock(&fe_lock);
	assert_int_equal(got.wait_s, 5);
	expect_error("POST", "/api/v1/dlq/replay", "{\"wait_s\":0}", 400, "wait_s");
	expect_error("POST", "/api/v1/dlq/replay", "{\"wait_s\":86401}", 400, "wait_s");
	expect_error("POST", "/api/v1/dlq/replay", "{\"wait_s\":\"1\"}", 400, "wait_s");

	/* the same target and filter as an active job: 409 naming it */
	set_replay_mode(FE_REPLAY_DUP);
	http("POST", "/api/v1/dlq/replay", "{\"peer\":\"lab-sg\"}", &r);
	assert_int_equal(r.status, 409);
	assert_int_equal(jint(json_object_get(r.json, "error"), "id"), 42);
	assert_string_equal(jstr(json_object_get(r.json, "error"), "code"), "conflict");
	assert_string_equal(jstr(json_object_get(r.json, "error"), "status"),
	    "/api/v1/dlq/replays/42");
	assert_non_null(strstr(jstr(json_object_get(r.json, "error"), "message"), "job 42"));
	assert_false(http_header(&r, "Location", (char[8]){ 0 }, 8));
	http_resp_free(&r);
	/* a full job table: 429, never 202 */
	set_replay_mode(FE_REPLAY_FULL);
	expect_error("POST", "/api/v1/dlq/replay", "{}", 429, "64 replay jobs are active");
	assert_int_equal(api_counter("conflicts"), conflicts + 1);
	assert_int_equal(api_counter("too_many"), too_many + 1);

	/* a silent engine: 504, then its late answer frees the request */
	atomic_store(&api->purge_timeout_ms, 200);
	set_replay_mode(FE_REPLAY_HOLD);
	expect_error("POST", "/api/v1/dlq/replay", "{}", 504, "did not answer within 200 ms");
	end = pb_mono_ns() + 10 * PB_NSEC_PER_SEC;
	do {
		pthread_mutex_lock(&fe_lock);
		held = fe_replay_held;
		fe_replay_held = NULL;
		pthread_mutex_unlock(&fe_lock);
		if (held == NULL)
			usleep(1000);
	} while (held == NULL && pb_mono_ns() < end);
	assert_non_null(held);
	pb_replay_request_answer(held, PB_REPLAY_ACCEPTED, 0);
	atomic_store(&api->purge_timeout_ms, 0);
	set_replay_mode(FE_REPLAY_ACCEPT);
	pthread_mutex_lock(&pubstate.lock);
	memset(pubstate.jobs, 0, sizeof(pubstate.jobs));
	pthread_mutex_unlock(&pubstate.lock);
}

/* ---- link epochs and custody points need the token ---- */

static void
test_epochs_need_token(void **state)
{
	struct http_resp r;
	json_t *arr, *o;
	char hdr[128];

	send_token = false;
	arr = json_object_get(get_ok("/api/v1/peers", &r), "peers");
	o = json_array_get(arr, 0); /* downstream */
	assert_int_equal(jint(o, "records_sent"), 101);
	assert_null(json_object_get(o, "next_seq"));
	assert_null(json_object_get(o, "acked_seq"));
	o = json_array_get(arr, 1); /* upstream */
	assert_int_equal(jint(o, "records_received"), 201);
	assert_null(json_object_get(o, "epoch"));
	assert_null(json_object_get(o, "custody_seq"));
	http_resp_free(&r);
	o = get_ok("/api/v1/peers/lab-sg", &r);
	assert_null(json_object_get(o, "epoch"));
	assert_null(json_object_get(o, "custody_seq"));
	http_resp_free(&r);
	arr = json_object_get(get_ok("/api/v1/gaps", &r), "streams");
	o = json_object_get(json_array_get(arr, 0), "origin");
	assert_true(json_is_integer(json_object_get(o, "node")));
	assert_null(json_object_get(o, "epoch"));
	http_resp_free(&r);
	arr = json_object_get(get_ok("/api/v1/dlq?limit=1", &r), "rows");
	o = json_object_get(json_array_get(arr, 0), "origin");
	assert_true(json_is_integer(json_object_get(o, "seq")));
	assert_null(json_object_get(o, "epoch"));
	http_resp_free(&r);
	assert_null(json_object_get(get_ok("/api/v1/status", &r), "epoch"));
	http_resp_free(&r);
	/* guessing through the filter: refused */
	http("GET", "/api/v1/gaps?epoch=77", NULL, &r);
	assert_int_equal(r.status, 401);
	assert_true(http_header(&r, "WWW-Authenticate", hdr, sizeof(hdr)));
	http_resp_free(&r);
	/* and no change without it */
	expect_error("POST", "/api/v1/dlq/replay", "{}", 401, "bearer token");
	expect_error("DELETE", "/api/v1/dlq?all=true", NULL, 401, "bearer token");
	send_token = true;

	o = json_object_get(json_array_get(json_object_get(get_ok("/api/v1/peers", &r),
	    "peers"), 1), "epoch");
	assert_int_equal(json_integer_value(o), 211);
	http_resp_free(&r);
}

/* ---- a node without a tunnel, or without a DLQ / engine ---- */

static void
test_no_tunnel(void **state)
{
	struct pb_pubstate b2 = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct pb_view v2 = { .node_id = 3 };
	struct pb_api_cfg cfg = { .enabled = true, .address = "127.0.0.1",
		.max_connections = 8, .timeout_s = 5, .token = TOKEN,
		.token_len = sizeof(TOKEN) - 1 };
	struct pb_gaps *g2;
	struct pb_api *a2;
	struct http_resp r;
	char err[256];
	uint16_t port;

	assert_non_null(a2 = pb_api_start(&cfg, &v2, err, sizeof(err)));
	port = pb_api_port(a2);
	http_on(port, "GET", "/api/v1/peers", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "peers")), 0);
	http_resp_free(&r);
	http_on(port, "GET", "/api/v1/peers/x", NULL, &r);
	assert_int_equal(r.status, 404);
	http_resp_free(&r);
	http_on(port, "GET", "/api/v1/gaps", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "streams")), 0);
	http_resp_free(&r);
	http_on(port, "GET", "/api/v1/dlq/replays", NULL, &r);
	assert_int_equal(json_array_size(json_object_get(r.json, "jobs")), 0);
	http_resp_free(&r);
	http_on(port, "GET", "/api/v1/dlq/replays/1", NULL, &r);
	assert_int_equal(r.status, 404);
	http_resp_free(&r);
	http_on(port, "GET", "/api/v1/dlq", NULL, &r);
	assert_int_equal(r.status, 404);
	assert_string_equal(jstr(json_object_get(r.json, "error"), "message"),
	    "no DLQ configured");
	http_resp_free(&r);
	http_on(port, "DELETE", "/api/v1/dlq?all=true", NULL, &r);
	assert_int_equal(r.status, 404);
	http_resp_free(&r);
	http_on(port, "POST", "/api/v1/dlq/replay", "{}", &r);
	assert_int_equal(r.status, 404);
	http_resp_free(&r);

	/* a tunnel, no snapshot yet, a DLQ file but no writer or engine queue */
	assert_non_null(g2 = pb_gaps_new(NULL));
	pb_pubstate_publish_gaps(&b2, pb_gaps_snapshot_get(g2)); /* NULL: nothing published */
	snprintf(b2.dlq_path, sizeof(b2.dlq_path), "%s", dlq_path);
	v2.pubstate = &b2;
	http_on(port, "GET", "/api/v1/gaps", NULL, &r);
	assert_int_equal(json_array_size(json_object_get(r.json, "streams")), 0);
	assert_null(json_object_get(r.json, "totals"));
	http_resp_free(&r);
	http_on(port, "GET", "/api/v1/dlq", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_null(json_object_get(r.json, "stats")));
	http_resp_free(&r);
	http_on(port, "POST", "/api/v1/dlq/replay", "{}", &r);
	assert_int_equal(r.status, 503);
	http_resp_free(&r);
	http_on(port, "DELETE", "/api/v1/dlq?all=true", NULL, &r);
	assert_int_equal(r.status, 503);
	http_resp_free(&r);
	pb_api_stop(a2);
	pb_gaps_free(g2);
}

/* ---- pubstate.c ---- */

static void
test_pubstate(void **state)
{
	struct pb_dlq_filter pf = { .id_min = 3 };
	struct pb_purge_request *q = pb_purge_request_new(&pf);

	assert_string_equal(pb_replay_state_name(PB_REPLAY_QUEUED), "queued");
	assert_string_equal(pb_replay_state_name(PB_REPLAY_RUNNING), "running");
	assert_string_equal(pb_replay_state_name(PB_REPLAY_DONE), "done");
	assert_string_equal(pb_replay_state_name(PB_REPLAY_FAILED), "failed");
	assert_string_equal(pb_replay_state_name(-1), "unknown");
	assert_string_equal(pb_replay_state_name(4), "unknown");
	/* two owners: the first put keeps it (ASan/valgrind see use-after-free or leaks) */
	assert_non_null(q);
	assert_int_equal(q->sync.refs, 2);
	assert_int_equal(q->filter.id_min, 3);
	/* nobody answered: the wait gives up, and done stays false */
	assert_false(pb_request_sync_wait(&q->sync, 20));
	pb_purge_request_put(q);
	assert_int_equal(q->sync.refs, 1);
	pb_purge_request_answer(q, 0, 5); /* the engine's put frees it */
	pb_purge_request_put(NULL);

	/* replay requests: the same two owners, and the verdict */
	struct pb_replay_request *rq = pb_replay_request_new();

	assert_non_null(rq);
	assert_int_equal(rq->sync.refs, 2);
	pb_replay_request_answer(rq, PB_REPLAY_DUPLICATE, 9);
	assert_int_equal(rq->sync.refs, 1);
	assert_true(pb_request_sync_wait(&rq->sync, 0));
	assert_int_equal(rq->verdict, PB_REPLAY_DUPLICATE);
	assert_int_equal(rq->existing, 9);
	pb_replay_request_put(rq);
	pb_replay_request_put(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pubstate),
		cmocka_unit_test(test_peers),
		cmocka_unit_test(test_gaps),
		cmocka_unit_test(test_dlq_list),
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_replay_verdicts),
		cmocka_unit_test(test_epochs_need_token),
		cmocka_unit_test(test_no_tunnel),
		cmocka_unit_test(test_purge),
	};

	return cmocka_run_group_tests_name("api_tunnel", tests, group_setup, group_teardown);
}
