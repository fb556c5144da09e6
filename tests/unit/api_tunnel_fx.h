/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_TEST_API_TUNNEL_FX_H
#define PB_TEST_API_TUNNEL_FX_H

/*
 * Fixture of test_api_tunnel: the fake engine, the DLQ rows, peers and
 * gaps it serves, group setup/teardown and HTTP helpers. Included by that
 * one test only (static definitions), after <cmocka.h>.
 */

#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api.h"
#include "api_internal.h"
#include "pubstate.h"
#include "clock.h"
#include "cmdq.h"
#include "dlq_store.h"
#include "gaps.h"
#include "http_client.h"
#include "loop.h"
#include "record.h"

#define NROWS 30
/* 64 bytes: one more than a peer name holds */
#define LONG64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define CAPTURE_BASE 1700000000123456789ULL /* 2023-11-14T22:13:20.123456789Z */
static const char *const row_peers[3] = { "campus-hk", "lab-sg", "edge-x" };

static char tmpdir[64], dlq_path[PATH_MAX];
static struct pb_loop *loop;
static struct pb_dlq *dlq;
static struct pb_cmdq *cmdq;
static struct pb_gaps *gaps;
static struct pb_pubstate pubstate = { .lock = PTHREAD_MUTEX_INITIALIZER };
static struct pb_peer_snap peers[3];
static struct pb_view view = { .node_id = 9, .node_name = "collector" };
static struct pb_api *api;
static uint16_t api_port;
static pthread_t loop_thread;
static bool row_gone[NROWS];

/* ---- the fake engine (loop thread), observed under fe_lock ---- */

#define TOKEN "tunnel-test-token-0123456789"
/* Requests carry the bearer token unless a test turns it off. */
static bool send_token = true;

enum { FE_PURGE_REAL, FE_PURGE_HOLD, FE_PURGE_FAIL };
/* fe_replay_mode: what the fake engine answers a replay request. */
enum { FE_REPLAY_ACCEPT, FE_REPLAY_DUP, FE_REPLAY_FULL, FE_REPLAY_HOLD };
static pthread_mutex_t fe_lock = PTHREAD_MUTEX_INITIALIZER;
/* What the engine was asked (copies: only the request fields are read). */
struct fe_replay {
	uint64_t id;
	struct pb_dlq_filter filter;
	char target[64];
	double rate;
	uint32_t wait_s;
};
static struct fe_replay fe_replays[64];
static size_t fe_nreplays;
static int fe_replay_mode;
static struct pb_replay_request *fe_replay_held;
static int fe_purge_mode;
static struct pb_dlq_filter fe_purge_filter;
static size_t fe_npurges;
static struct pb_purge_request *fe_held;
/* loop thread only */
static struct pb_purge_request *fe_pending;
static uint64_t fe_purge_id, fe_committed;

/* As the engine does: answer, then drop its reference. */
static void
fe_answer(struct pb_purge_request *q, int status, uint64_t deleted)
{
	pb_purge_request_answer(q, status, deleted);
}

static void
fe_on_dlq(void *arg, const struct pb_dlq_result *res)
{
	pb_pubstate_publish_dlq(&pubstate, dlq);
	if (res->type == PB_DLQ_PUT_COMMITTED && res->status == 0)
		fe_committed = res->token;
	if (res->type == PB_DLQ_DELETED && res->purge && fe_pending != NULL &&
	    res->request_id == fe_purge_id) {
		fe_answer(fe_pending, res->status, res->count);
		fe_pending = NULL;
	}
}

static void
fe_on_cmd(struct pb_cmd *cmd, void *arg)
{
	if (cmd->type == PB_CMD_REPLAY) {
		struct pb_replay_request *rq = cmd->ptr;
		struct pb_replay_job *j = &pubstate.jobs[rq->id % PB_REPLAY_JOBS];
		int mode;

		pthread_mutex_lock(&fe_lock);
		if (fe_nreplays < sizeof(fe_replays) / sizeof(fe_replays[0]))
			fe_replays[fe_nreplays] = (struct fe_replay){ .id = rq->id,
				.filter = rq->filter, .rate = rq->rate, .wait_s = rq->wait_s };
		if (fe_nreplays < sizeof(fe_replays) / sizeof(fe_replays[0]))
			memcpy(fe_replays[fe_nreplays].target, rq->target, sizeof(rq->target));
		fe_nreplays++;
		mode = fe_replay_mode;
		if (mode == FE_REPLAY_HOLD)
			fe_replay_held = rq;
		pthread_mutex_unlock(&fe_lock);
		if (mode == FE_REPLAY_DUP || mode == FE_REPLAY_FULL) {
			/* 42: the id of the job the duplicate collides with */
			pb_replay_request_answer(rq, mode == FE_REPLAY_DUP ?
			    PB_REPLAY_DUPLICATE : PB_REPLAY_TABLE_FULL, 42);
			free(cmd);
			return;
		}
		pthread_mutex_lock(&pubstate.lock);
		memset(j, 0, sizeof(*j));
		j->id = rq->id;
		j->state = PB_REPLAY_RUNNING;
		j->filter = rq->filter;
		memcpy(j->target, rq->target, sizeof(j->target));
		j->rate = rq->rate > 0 ? rq->rate : 100000;
		j->created_ns = CAPTURE_BASE;
		j->fetched = 10;
		j->sent = 8;
		j->acked = 4;
		j->deleted = 4;
		j->wait_s = rq->wait_s ? rq->wait_s : PB_REPLAY_WAIT_DEFAULT_S;
		pthread_mutex_unlock(&pubstate.lock);
		if (mode != FE_REPLAY_HOLD)
			pb_replay_request_answer(rq, PB_REPLAY_ACCEPTED, 0);
	} else if (cmd->type == PB_CMD_PURGE) {
		struct pb_purge_request *q = cmd->ptr;
		int mode;

		pthread_mutex_lock(&fe_lock);
		mode = fe_purge_mode;
		fe_purge_filter = q->filter;
		fe_npurges++;
		if (mode == FE_PURGE_HOLD)
			fe_held = q;
		pthread_mutex_unlock(&fe_lock);
		if (mode == FE_PURGE_FAIL)
			fe_answer(q, -1, 0);
		else if (mode == FE_PURGE_REAL && (fe_pending != NULL ||
		    pb_dlq_purge(dlq, &q->filter, ++fe_purge_id) < 0))
			fe_answer(q, -1, 0);
		else if (mode == FE_PURGE_REAL)
			fe_pending = q;
	}
	free(cmd);
}

static void *
fe_thread(void *arg)
{
	pb_loop_run(loop);
	return NULL;
}

/* ---- fixtures ---- */

static void
row_meta(int i, struct pb_dlq_meta *m)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->peer, sizeof(m->peer), "%s", row_peers[i % 3]);
	m->origin_node = 1 + (uint32_t)(i % 2);
	m->origin_source = (uint16_t)(i % 4);
	m->reason = (uint8_t)(i % PB_DLQ_REASON_COUNT);
	m->origin_epoch = 77;
	m->origin_seq = 100 + (uint64_t)i;
	m->capture_ns = CAPTURE_BASE + (uint64_t)i * PB_NSEC_PER_SEC;
	m->enqueue_ns = m->capture_ns + 500 * PB_NSEC_PER_MSEC;
}

static void
fill_peers(void)
{
	struct pb_peer_snap *d = &peers[0], *u = &peers[1], *x = &peers[2];

	memset(peers, 0, sizeof(peers));
	snprintf(d->name, sizeof(d->name), "campus-hk");
	snprintf(d->direction, sizeof(d->direction), "downstream");
	snprintf(d->origin, sizeof(d->origin), "dial");
	snprintf(d->state, sizeof(d->state), "up");
	snprintf(d->address, sizeof(d->address), "10.0.0.2:7152");
	d->node_id = 2;
	snprintf(d->node_name, sizeof(d->node_name), "hk-node");
	d->connected_since_ns = CAPTURE_BASE;
	d->tls = 1;
	d->rtt_ns = 1500000;
	d->reconnects = 3, d->auth_failures = 4, d->protocol_errors = 5, d->failovers = 6;
	/* records_sent..acked_seq: distinct values 101.. in struct order */
	for (uint64_t *p = &d->records_sent, v = 101; p <= &d->acked_seq; p++, v++)
		*p = v;
	snprintf(u->name, sizeof(u->name), "lab-sg");
	snprintf(u->direction, sizeof(u->direction), "upstream");
	snprintf(u->origin, sizeof(u->origin), "accept");
	snprintf(u->state, sizeof(u->state), "connecting");
	snprintf(u->last_error, sizeof(u->last_error), "connection refused");
	u->tls = -1; /* no link */
	for (uint64_t *p = &u->records_received, v = 201; p <= &u->epoch; p++, v++)
		*p = v;
	/* hostile engine data: no terminating NUL anywhere */
	memset(x, 'x', sizeof(*x));
	memcpy(x->direction, "upstream", 8);
	pthread_mutex_lock(&pubstate.lock);
	pubstate.peers = peers;
	pubstate.npeers = 3;
	pubstate.peers_generated_ns = pb_real_ns() - 1500 * PB_NSEC_PER_MSEC;
	pubstate.loops_dropped = 11, pubstate.hop_limit_dropped = 12;
	pubstate.origin_duplicates = 13, pubstate.link_records = 14;
	pthread_mutex_unlock(&pubstate.lock);
}

/* The node directory of the fake engine: 1 is "edge", 9 (this node) "col". */
static const char *
fx_node_name(void *arg, uint32_t node)
{
	return node == 1 ? "edge" : node == 9 ? "col" : NULL;
}

static void
fill_gaps(void)
{
	static const uint64_t s1[] = { 1, 2, 5, 6, 10, 2, 3 }; /* dup 2, fill 3 */
	static const uint64_t s3[] = { 1, 4, 8, 12, 20 };
	/* Stream 1/0 came through relay 4 (never announced) to this node. */
	static const struct pb_hop hops[] = { { .node_id = 4 }, { .node_id = 9 } };
	const struct pb_gaps_cfg gc = { .node_name = fx_node_name };

	assert_non_null(gaps = pb_gaps_new(&gc));
	pb_gaps_set_now(gaps, CAPTURE_BASE);
	for (size_t i = 0; i < sizeof(s1) / sizeof(s1[0]); i++)
		pb_gaps_observe(gaps, 1, 0, 77, s1[i]);
	pb_gaps_note_path(gaps, 1, 0, 77, hops, 2);
	for (uint64_t s = 1; s <= 3; s++)
		pb_gaps_observe(gaps, 1, 1, 77, s);
	for (size_t i = 0; i < sizeof(s3) / sizeof(s3[0]); i++)
		pb_gaps_observe(gaps, 2, 0, 5, s3[i]);
	assert_int_equal(pb_gaps_publish(gaps, 3), 0);
}

static int
rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(p);
}

static int
group_setup(void **state)
{
	struct pb_dlq_cfg dcfg = { 0 };
	struct pb_api_cfg cfg = { .enabled = true, .port = 0, .max_connections = 64,
		.timeout_s = 5 };
	char err[256] = "";
	uint8_t blob[64] = { 0 };
	uint64_t end;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pb-api-tunnel-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(dlq_path, sizeof(dlq_path), "%s/dlq.db", tmpdir);
	assert_non_null(loop = pb_loop_new(err, sizeof(err)));
	dcfg.path = dlq_path;
	dlq = pb_dlq_open(&dcfg, loop, fe_on_dlq, NULL, err, sizeof(err));
	if (dlq == NULL)
		fail_msg("pb_dlq_open: %s", err);
	for (int i = 0; i < NROWS; i++) {
		struct pb_dlq_meta m;

		row_meta(i, &m);
		assert_int_equal(pb_dlq_put(dlq, &m, blob, 10 + (size_t)i, NULL), 0);
	}
	end = pb_mono_ns() + 30 * PB_NSEC_PER_SEC;
	while (fe_committed < NROWS && pb_mono_ns() < end)
		pb_loop_run_once(loop, 20);
	assert_int_equal(fe_committed, NROWS);
	assert_non_null(cmdq = pb_cmdq_new(loop, fe_on_cmd, NULL, err, sizeof(err)));

	fill_peers();
	fill_gaps();
	pb_pubstate_publish_gaps(&pubstate, pb_gaps_snapshot_get(gaps));
	pb_pubstate_publish_dlq(&pubstate, dlq);
	pubstate.cmdq = cmdq;
	snprintf(pubstate.dlq_path, sizeof(pubstate.dlq_path), "%s", dlq_path);
	view.pubstate = &pubstate;

	snprintf(cfg.address, sizeof(cfg.address), "127.0.0.1");
	memcpy(cfg.token, TOKEN, sizeof(TOKEN) - 1);
	cfg.token_len = sizeof(TOKEN) - 1;
	if ((api = pb_api_start(&cfg, &view, err, sizeof(err))) == NULL)
		fail_msg("pb_api_start: %s", err);
	api_port = pb_api_port(api);
	assert_int_equal(pthread_create(&loop_thread, NULL, fe_thread, NULL), 0);
	return 0;
}

static int
group_teardown(void **state)
{
	pb_api_stop(api);
	pb_loop_stop(loop);
	pthread_join(loop_thread, NULL);
	pb_cmdq_free(cmdq);
	pb_dlq_close(dlq);
	pb_loop_free(loop);
	pb_pubstate_release(&pubstate);
	pb_gaps_free(gaps);
	nftw(tmpdir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* ---- HTTP helpers ---- */

static void
http_on(uint16_t port, const char *method, const char *path, const char *body,
    struct http_resp *r)
{
	size_t blen = body != NULL ? strlen(body) : 0;
	size_t len = strlen(method) + strlen(path) + blen + 256;
	char *req = malloc(len);
	int n;

	assert_non_null(req);
	n = snprintf(req, len, "%s %s HTTP/1.0\r\nHost: 127.0.0.1:%u\r\n", method, path,
	    (unsigned int)port);
	if (send_token)
		n += snprintf(req + n, len - (size_t)n, "Authorization: Bearer " TOKEN "\r\n");
	if (body != NULL || strcmp(method, "GET") != 0)
		n += snprintf(req + n, len - (size_t)n, "Content-Type: application/json\r\n");
	if (body != NULL)
		n += snprintf(req + n, len - (size_t)n, "Content-Length: %zu\r\n", blen);
	n += snprintf(req + n, len - (size_t)n, "\r\n%s", body != NULL ? body : "");
	if (http_exchange(AF_INET, port, req, (size_t)n, r) < 0)
		fail_msg("HTTP %s %s failed", method, path);
	free(req);
}

static void
http(const char *method, const char *path, const char *body, struct http_resp *r)
{
	http_on(api_port, method, path, body, r);
}

static json_int_t
jint(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v))
		fail_msg("key '%s' is not an integer", key);
	return json_integer_value(v);
}

static const char *
jstr(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_string(v))
		fail_msg("key '%s' is not a string", key);
	return json_string_value(v);
}

/* status + JSON body; the message must name `needle` (the parameter). */
static void
expect_error(const char *method, const char *path, const char *body, int status,
    const char *needle)
{
	struct http_resp r;
	const char *msg;

	http(method, path, body, &r);
	if (r.status != status)
		fail_msg("%s %s %s: status %d, wanted %d: %s", method, path,
		    body != NULL ? body : "", r.status, status, r.body);
	assert_non_null(r.json);
	msg = jstr(json_object_get(r.json, "error"), "message");
	if (needle != NULL && strstr(msg, needle) == NULL)
		fail_msg("%s %s: '%s' does not mention '%s'", method, path, msg, needle);
	http_resp_free(&r);
}

static json_t *
get_ok(const char *path, struct http_resp *r)
{
	http("GET", path, NULL, r);
	if (r->status != 200)
		fail_msg("GET %s: %d %s", path, r->status, r->body);
	assert_non_null(r->json);
	return r->json;
}


#endif
