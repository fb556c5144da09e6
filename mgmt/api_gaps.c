/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "api_internal.h"
#include "pubstate.h"
#include "clock.h"
#include "gaps.h"

/*
 * Sequence gaps per origin stream, from the latest published snapshot of
 * the tracker: a reference keeps it alive while we read it, whatever the
 * engine publishes meanwhile.
 */

static const char *const pb_api_gaps_params[] = {
	"node", "source", "epoch", "limit", NULL
};

struct pb_api_gaps_query {
	bool by_node, by_source, by_epoch;
	uint32_t node;
	uint16_t source;
	uint64_t epoch;
	uint32_t limit; /* ranges per stream */
};


static json_t *
pb_api_gaps_ranges(const struct pb_gaps_stream_info *s, uint32_t limit)
{
	uint32_t n = s->nranges_listed < limit ? s->nranges_listed : limit;
	json_t *arr = json_array();

	if (arr == NULL)
		return NULL;
	for (uint32_t i = 0; i < n; i++) {
		json_t *pair = json_array();

		if (pair == NULL ||
		    json_array_append_new(pair, pb_api_json_u64(s->ranges[i].lo)) < 0 ||
		    json_array_append_new(pair, pb_api_json_u64(s->ranges[i].hi)) < 0 ||
		    json_array_append_new(arr, pair) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

/* The route of the stream's latest record, origin first, this node last:
 * [{node, name}], name null when the node was never announced. */
static json_t *
pb_api_gaps_path(const struct pb_gaps_snapshot *snap, const struct pb_gaps_stream_info *s)
{
	json_t *arr = json_array();

	if (arr == NULL)
		return NULL;
	for (uint32_t i = 0; i < s->npath; i++) {
		const char *name = pb_gaps_snapshot_name(snap, s->path[i]);
		json_t *hop = json_object();

		if (hop == NULL || json_array_append_new(arr, hop) < 0 ||
		    pb_api_set(hop, "node", json_integer(s->path[i])) < 0 ||
		    pb_api_set(hop, "name", name != NULL ? json_string(name) : json_null()) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

/* Origin epochs are link epochs too (a node numbers its links by its run
 * epoch): only for callers with the bearer token. */
static json_t *
pb_api_gaps_stream(const struct pb_gaps_snapshot *snap, const struct pb_gaps_stream_info *s,
    uint32_t limit, bool authed)
{
	uint32_t listed = s->nranges_listed < limit ? s->nranges_listed : limit;
	json_t *obj = json_object(), *origin = json_object();

	if (obj == NULL || origin == NULL)
		goto fail;
	if (pb_api_set(origin, "node", json_integer(s->node)) < 0 ||
	    pb_api_set(origin, "source", json_integer(s->source)) < 0 ||
	    (authed && pb_api_set(origin, "epoch", pb_api_json_u64(s->epoch)) < 0))
		goto fail;
	if (pb_api_set(obj, "origin", origin) < 0) {
		origin = NULL;
		goto fail;
	}
	origin = NULL;
	/* first/last_seen: the engine feeds pb_gaps_set_now() with pb_real_ns(). */
	if (PB_API_U64(obj, s, expected_next) < 0 ||
	    PB_API_U64(obj, s, received) < 0 ||
	    PB_API_U64(obj, s, duplicates) < 0 ||
	    PB_API_U64(obj, s, filled) < 0 ||
	    PB_API_U64(obj, s, missing_total) < 0 ||
	    PB_API_U64(obj, s, gap_events) < 0 ||
	    PB_API_U64(obj, s, gap_seqs) < 0 ||
	    pb_api_set(obj, "ranges_total", json_integer(s->nranges_total)) < 0 ||
	    pb_api_set(obj, "missing", pb_api_gaps_ranges(s, limit)) < 0 ||
	    pb_api_set(obj, "ranges_truncated",
		json_boolean(listed < s->nranges_total)) < 0 ||
	    PB_API_U64(obj, s, ranges_coalesced) < 0 ||
	    pb_api_set(obj, "path", pb_api_gaps_path(snap, s)) < 0 ||
	    pb_api_set(obj, "first_seen", pb_api_json_time(s->first_seen_ns, 3)) < 0 ||
	    pb_api_set(obj, "last_seen", pb_api_json_time(s->last_seen_ns, 3)) < 0)
		goto fail;
	return obj;
fail:
	json_decref(origin);
	json_decref(obj);
	return NULL;
}

static json_t *
pb_api_gaps_totals(const struct pb_gaps_totals *t)
{
	json_t *obj = json_object();

	if (obj == NULL)
		return NULL;
	if (PB_API_U64(obj, t, streams) < 0 ||
	    PB_API_U64(obj, t, received) < 0 ||
	    PB_API_U64(obj, t, duplicates) < 0 ||
	    PB_API_U64(obj, t, filled) < 0 ||
	    PB_API_U64(obj, t, missing_total) < 0 ||
	    PB_API_U64(obj, t, gap_events) < 0 ||
	    PB_API_U64(obj, t, gap_seqs) < 0 ||
	    PB_API_U64(obj, t, ranges_coalesced) < 0 ||
	    PB_API_U64(obj, t, invalid) < 0 ||
	    PB_API_U64(obj, t, streams_rejected) < 0) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/* 0, or -1 with a 400 body naming the parameter. */
static int
pb_api_gaps_parse(const struct pb_api_req *req, struct pb_api_gaps_query *q, json_t **body)
{
	static const struct {
		const char *name;
		uint64_t max;
	} nums[] = {
		{ "node", UINT32_MAX }, { "source", UINT16_MAX },
		{ "epoch", UINT64_MAX }, { "limit", UINT32_MAX },
	};
	uint64_t v[4];
	bool set[4];

	if (pb_api_query_check(req, pb_api_gaps_params, body) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		const char *s = pb_api_query(req, nums[i].name);

		set[i] = s != NULL;
		if (s != NULL && pb_fmt_parse_u64(s, nums[i].max, &v[i]) < 0) {
			*body = pb_api_error("bad %s '%.64s': expected an integer 0..%llu",
			    nums[i].name, s, (unsigned long long)nums[i].max);
			return -1;
		}
	}
	*q = (struct pb_api_gaps_query){
		.by_node = set[0], .node = set[0] ? (uint32_t)v[0] : 0,
		.by_source = set[1], .source = set[1] ? (uint16_t)v[1] : 0,
		.by_epoch = set[2], .epoch = set[2] ? v[2] : 0,
		.limit = set[3] ? (uint32_t)v[3] : UINT32_MAX,
	};
	return 0;
}

static bool
pb_api_gaps_match(const struct pb_api_gaps_query *q, const struct pb_gaps_stream_info *s)
{
	return (!q->by_node || s->node == q->node) &&
	    (!q->by_source || s->source == q->source) &&
	    (!q->by_epoch || s->epoch == q->epoch);
}

/* GET /api/v1/gaps[?node=N&source=S&epoch=E&limit=K] */
unsigned int
pb_api_get_gaps(const struct pb_api_req *req, json_t **body)
{
	struct pb_pubstate *b = req->view->pubstate;
	struct pb_gaps_snapshot *snap = NULL;
	struct pb_api_gaps_query q;
	json_t *obj = NULL, *arr = NULL;
	uint64_t now;

	if (pb_api_gaps_parse(req, &q, body) < 0)
		return MHD_HTTP_BAD_REQUEST;
	/* A filter would confirm guesses of an epoch that is not shown. */
	if (q.by_epoch && !req->authed) {
		atomic_fetch_add_explicit(&req->api->unauthorized, 1, memory_order_relaxed);
		*body = pb_api_error("the epoch filter needs the bearer token of "
		    "api.token_file");
		return MHD_HTTP_UNAUTHORIZED;
	}
	if (b != NULL)
		snap = pb_pubstate_gaps(b);
	if ((obj = json_object()) == NULL || (arr = json_array()) == NULL)
		goto fail;
	for (uint32_t i = 0; snap != NULL && i < snap->nstreams; i++) {
		if (!pb_api_gaps_match(&q, &snap->streams[i]))
			continue;
		if (json_array_append_new(arr, pb_api_gaps_stream(snap, &snap->streams[i],
		    q.limit, req->authed)) < 0)
			goto fail;
	}
	if (pb_api_set(obj, "streams", arr) < 0) {
		arr = NULL;
		goto fail;
	}
	arr = NULL;
	if (snap != NULL) {
		now = pb_mono_ns();
		/* Totals cover every stream, whatever the filter. */
		if (pb_api_set(obj, "totals", pb_api_gaps_totals(&snap->totals)) < 0 ||
		    pb_api_set(obj, "generated_age_ms", pb_api_json_u64(
			now > snap->generated_ns ?
			(now - snap->generated_ns) / PB_NSEC_PER_MSEC : 0)) < 0)
			goto fail;
		pb_gaps_snapshot_put(snap);
	}
	*body = obj;
	return MHD_HTTP_OK;
fail:
	if (snap != NULL)
		pb_gaps_snapshot_put(snap);
	json_decref(arr);
	json_decref(obj);
	*body = NULL;
	return MHD_HTTP_INTERNAL_SERVER_ERROR;
}
