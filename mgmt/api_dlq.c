/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_internal.h"
#include "pubstate.h"
#include "clock.h"
#include "cmdq.h"
#include "dlq_store.h"

/*
 * Dead letter queue: listing reads the SQLite file through pb_dlq_list's
 * own read-only connection (WAL: the writer is not blocked); replay and
 * purge are commands to the engine, which owns the writer. Filters come
 * from the query string (GET, DELETE) or a JSON body (POST), through the
 * same validation.
 */

#define PB_API_DLQ_LIMIT_DEFAULT 100u
#define PB_API_DLQ_LIMIT_MAX 1000u

/* Indexed by enum pb_api_fkey. */
const char *const pb_api_fkey_names[PB_FK_COUNT + 1] = {
	"peer", "node", "reason", "since", "until", "id_min", "id_max", NULL
};

static const char *const pb_api_dlq_get_params[] = {
	"peer", "node", "reason", "since", "until", "id_min", "id_max",
	"offset", "limit", "cursor", NULL
};

static const char *const pb_api_dlq_delete_params[] = {
	"peer", "node", "reason", "since", "until", "id_min", "id_max", "all", NULL
};

/* ---- filters ---- */

int
pb_api_filter_set(struct pb_dlq_filter *f, enum pb_api_fkey key, const char *v,
    char *why, size_t whylen)
{
	uint64_t n;
	int r;

	switch (key) {
	case PB_FK_PEER:
		if (v[0] == '\0' || strlen(v) >= sizeof(f->peer)) {
			snprintf(why, whylen, "expected a peer name of 1..%zu bytes",
			    sizeof(f->peer) - 1);
			return -1;
		}
		memcpy(f->peer, v, strlen(v) + 1);
		return 0;
	case PB_FK_NODE:
		if (pb_fmt_parse_u64(v, UINT32_MAX, &n) < 0) {
			snprintf(why, whylen, "expected an integer 0..%u", UINT32_MAX);
			return -1;
		}
		f->by_node = true;
		f->origin_node = (uint32_t)n;
		return 0;
	case PB_FK_REASON:
		if ((r = pb_dlq_reason_from_name(v)) < 0) {
			snprintf(why, whylen, "expected timeout, overflow, shutdown or "
			    "peer_removed");
			return -1;
		}
		f->by_reason = true;
		f->reason = (uint8_t)r;
		return 0;
	case PB_FK_SINCE:
	case PB_FK_UNTIL:
		/* until=0 would read as "no upper bound" in the store. */
		if (pb_fmt_parse_time(v, &n) < 0 || (key == PB_FK_UNTIL && n == 0)) {
			snprintf(why, whylen, "expected an RFC 3339 time or integer "
			    "nanoseconds after 1970 and before 2262");
			return -1;
		}
		*(key == PB_FK_SINCE ? &f->capture_min_ns : &f->capture_max_ns) = n;
		return 0;
	case PB_FK_ID_MIN:
	case PB_FK_ID_MAX:
		if (pb_fmt_parse_u64(v, INT64_MAX, &n) < 0 || (key == PB_FK_ID_MAX && n == 0)) {
			snprintf(why, whylen, "expected an integer %d..%lld",
			    key == PB_FK_ID_MAX ? 1 : 0, (long long)INT64_MAX);
			return -1;
		}
		*(key == PB_FK_ID_MIN ? &f->id_min : &f->id_max) = n;
		return 0;
	case PB_FK_COUNT:
		break;
	}
	snprintf(why, whylen, "unknown filter");
	return -1;
}

json_t *
pb_api_filter_check(const struct pb_dlq_filter *f)
{
	if (f->capture_max_ns != 0 && f->capture_min_ns > f->capture_max_ns)
		return pb_api_error("bad since/until: since is after until");
	if (f->id_max != 0 && f->id_min > f->id_max)
		return pb_api_error("bad id_min/id_max: id_min is above id_max");
	return NULL;
}

int
pb_api_filter_from_query(const struct pb_api_req *req, struct pb_dlq_filter *f,
    json_t **body)
{
	char why[128];

	memset(f, 0, sizeof(*f));
	for (int k = 0; k < PB_FK_COUNT; k++) {
		const char *v = pb_api_query(req, pb_api_fkey_names[k]);

		if (v != NULL && pb_api_filter_set(f, (enum pb_api_fkey)k, v, why,
		    sizeof(why)) < 0) {
			*body = pb_api_error("bad %s '%.64s': %s", pb_api_fkey_names[k], v,
			    why);
			return -1;
		}
	}
	if ((*body = pb_api_filter_check(f)) != NULL)
		return -1;
	return 0;
}

static bool
pb_api_filter_empty(const struct pb_dlq_filter *f)
{
	return f->peer[0] == '\0' && !f->by_node && !f->by_reason &&
	    f->capture_min_ns == 0 && f->capture_max_ns == 0 &&
	    f->id_min == 0 && f->id_max == 0;
}

json_t *
pb_api_filter_json(const struct pb_dlq_filter *f)
{
	json_t *obj = json_object();
	const char *reason = f->by_reason ? pb_dlq_reason_name(f->reason) : NULL;

	if (obj == NULL)
		return NULL;
	if ((f->peer[0] != '\0' &&
	     pb_api_set(obj, "peer", pb_api_json_string(f->peer)) < 0) ||
	    (f->by_node && pb_api_set(obj, "node", json_integer(f->origin_node)) < 0) ||
	    (reason != NULL && pb_api_set(obj, "reason", json_string(reason)) < 0) ||
	    (f->capture_min_ns != 0 &&
	     pb_api_set(obj, "since", pb_api_json_time(f->capture_min_ns, 9)) < 0) ||
	    (f->capture_max_ns != 0 &&
	     pb_api_set(obj, "until", pb_api_json_time(f->capture_max_ns, 9)) < 0) ||
	    (f->id_min != 0 && pb_api_set(obj, "id_min", pb_api_json_u64(f->id_min)) < 0) ||
	    (f->id_max != 0 && pb_api_set(obj, "id_max", pb_api_json_u64(f->id_max)) < 0)) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

struct pb_pubstate *
pb_api_dlq_pubstate(const struct pb_api_req *req, json_t **body)
{
	struct pb_pubstate *b = req->view->pubstate;

	if (b == NULL || memchr(b->dlq_path, '\0', sizeof(b->dlq_path)) == NULL ||
	    b->dlq_path[0] == '\0') {
		*body = pb_api_error("no DLQ configured");
		return NULL;
	}
	return b;
}

/* ---- GET /dlq ---- */

struct pb_api_dlq_rows {
	json_t *arr;
	bool failed;
	bool authed;
};

/* Origin epochs double as link epochs: only with the bearer token. */
json_t *
pb_api_dlq_row_json(const struct pb_dlq_row *row, bool authed)
{
	json_t *obj = json_object(), *origin = json_object();
	const char *reason = pb_dlq_reason_name(row->meta.reason);

	if (obj == NULL || origin == NULL)
		goto fail;
	if (pb_api_set(origin, "node", json_integer(row->meta.origin_node)) < 0 ||
	    pb_api_set(origin, "source", json_integer(row->meta.origin_source)) < 0 ||
	    (authed && pb_api_set(origin, "epoch",
		pb_api_json_u64(row->meta.origin_epoch)) < 0) ||
	    pb_api_set(origin, "seq", pb_api_json_u64(row->meta.origin_seq)) < 0)
		goto fail;
	if (pb_api_set(obj, "id", pb_api_json_u64(row->id)) < 0 ||
	    pb_api_set(obj, "peer", pb_api_json_string(row->meta.peer)) < 0)
		goto fail;
	if (pb_api_set(obj, "origin", origin) < 0) {
		origin = NULL;
		goto fail;
	}
	origin = NULL;
	if (pb_api_set(obj, "captured", pb_api_json_time(row->meta.capture_ns, 9)) < 0 ||
	    pb_api_set(obj, "enqueued", pb_api_json_time(row->meta.enqueue_ns, 9)) < 0 ||
	    pb_api_set(obj, "reason", reason != NULL ? json_string(reason) : json_null()) < 0 ||
	    pb_api_set(obj, "attempts", json_integer(row->attempts)) < 0 ||
	    pb_api_set(obj, "bytes", pb_api_json_u64(row->bytes)) < 0 ||
	    pb_api_set(obj, "length", pb_api_json_u64(row->len)) < 0)
		goto fail;
	return obj;
fail:
	json_decref(origin);
	json_decref(obj);
	return NULL;
}

static int
pb_api_dlq_row_cb(void *arg, const struct pb_dlq_row *row)
{
	struct pb_api_dlq_rows *r = arg;

	if (json_array_append_new(r->arr, pb_api_dlq_row_json(row, r->authed)) < 0) {
		r->failed = true;
		return 1;
	}
	return 0;
}


/* The figures the engine last published: never the DLQ handle itself. */
static json_t *
pb_api_dlq_stats_json(struct pb_pubstate *b)
{
	struct pb_dlq_stats_snapshot *st;
	json_t *obj;

	/* ~400 bytes: off the MHD thread's stack. */
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return NULL;
	if (!pb_pubstate_dlq_stats(b, st)) {
		free(st);
		return json_null();
	}
	if ((obj = json_object()) == NULL) {
		free(st);
		return NULL;
	}
	if (PB_API_U64(obj, st, rows) < 0 ||
	    PB_API_U64(obj, st, bytes) < 0 ||
	    PB_API_U64(obj, st, max_bytes) < 0 ||
	    PB_API_U64(obj, st, queued) < 0 ||
	    PB_API_U64(obj, st, queued_bytes) < 0 ||
	    PB_API_U64(obj, st, inserted) < 0 ||
	    PB_API_U64(obj, st, duplicates) < 0 ||
	    PB_API_U64(obj, st, refused_full) < 0 ||
	    PB_API_U64(obj, st, refused_queue) < 0 ||
	    PB_API_U64(obj, st, lifetime_refused_full) < 0 ||
	    PB_API_U64(obj, st, lifetime_refused_queue) < 0 ||
	    PB_API_U64(obj, st, fetched) < 0 ||
	    PB_API_U64(obj, st, deleted) < 0 ||
	    PB_API_U64(obj, st, commits) < 0 ||
	    PB_API_U64(obj, st, errors) < 0 ||
	    pb_api_set(obj, "last_error", st->last_error[0] != '\0' ?
		pb_api_json_string(st->last_error) : json_null()) < 0) {
		json_decref(obj);
		obj = NULL;
	}
	free(st);
	return obj;
}

/*
 * GET /api/v1/dlq?filters&limit=&(offset=|cursor=). Cursor pages are
 * stable while rows come and go (rows after the cursor's id); offsets
 * shift when rows before them are deleted.
 */
unsigned int
pb_api_get_dlq(const struct pb_api_req *req, json_t **body)
{
	struct pb_api_dlq_rows rows = { 0 };
	struct pb_dlq_filter f, fpage;
	struct pb_pubstate *b;
	uint64_t offset = 0, limit = PB_API_DLQ_LIMIT_DEFAULT, total = 0, remaining = 0;
	uint64_t cursor = 0;
	const char *s, *cs;
	char err[512], next[24] = "";
	json_t *obj = NULL;

	if ((b = pb_api_dlq_pubstate(req, body)) == NULL)
		return MHD_HTTP_NOT_FOUND;
	if (pb_api_query_check(req, pb_api_dlq_get_params, body) < 0 ||
	    pb_api_filter_from_query(req, &f, body) < 0)
		return MHD_HTTP_BAD_REQUEST;
	if ((s = pb_api_query(req, "offset")) != NULL &&
	    pb_fmt_parse_u64(s, INT64_MAX, &offset) < 0) {
		*body = pb_api_error("bad offset '%.64s': expected an integer 0..%lld", s,
		    (long long)INT64_MAX);
		return MHD_HTTP_BAD_REQUEST;
	}
	if ((s = pb_api_query(req, "limit")) != NULL &&
	    pb_fmt_parse_u64(s, PB_API_DLQ_LIMIT_MAX, &limit) < 0) {
		*body = pb_api_error("bad limit '%.64s': expected an integer 0..%u", s,
		    PB_API_DLQ_LIMIT_MAX);
		return MHD_HTTP_BAD_REQUEST;
	}
	if ((cs = pb_api_query(req, "cursor")) != NULL) {
		if (pb_fmt_parse_u64(cs, INT64_MAX - 1, &cursor) < 0) {
			*body = pb_api_error("bad cursor '%.64s': pass the next_cursor of "
			    "the previous page", cs);
			return MHD_HTTP_BAD_REQUEST;
		}
		if (pb_api_query(req, "offset") != NULL) {
			*body = pb_api_error("offset and cursor do not go together");
			return MHD_HTTP_BAD_REQUEST;
		}
	}
	/* The page: rows after the cursor within the filter. */
	fpage = f;
	if (cs != NULL && fpage.id_min < cursor + 1)
		fpage.id_min = cursor + 1;
	rows.authed = req->authed;
	if ((rows.arr = json_array()) == NULL)
		goto fail;
	/* limit 0: count only (the store reads 0 as "no limit"). */
	if ((cs != NULL && pb_dlq_list(b->dlq_path, &f, 0, 0, NULL, NULL, &total, err,
	    sizeof(err)) < 0) ||
	    pb_dlq_list(b->dlq_path, &fpage, offset, (uint32_t)limit,
	    limit > 0 ? pb_api_dlq_row_cb : NULL, &rows, &remaining, err, sizeof(err)) < 0) {
		json_decref(rows.arr);
		log_warnx("api", "GET /dlq: %s", err);
		*body = pb_api_error("%s", err);
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	if (cs == NULL)
		total = remaining;
	/* More rows after this page: the cursor is the last id shown. */
	if (rows.failed || (obj = json_object()) == NULL)
		goto fail;
	if (limit > 0 && json_array_size(rows.arr) == limit && remaining > offset + limit)
		snprintf(next, sizeof(next), "%lld", (long long)json_integer_value(
		    json_object_get(json_array_get(rows.arr, limit - 1), "id")));
	if (pb_api_set(obj, "total", pb_api_json_u64(total)) < 0 ||
	    pb_api_set(obj, "offset", pb_api_json_u64(offset)) < 0 ||
	    pb_api_set(obj, "limit", pb_api_json_u64(limit)) < 0 ||
	    pb_api_set(obj, "next_cursor", next[0] != '\0' ? json_string(next) :
		json_null()) < 0 ||
	    pb_api_set(obj, "filter", pb_api_filter_json(&f)) < 0)
		goto fail;
	if (pb_api_set(obj, "rows", rows.arr) < 0) {
		rows.arr = NULL;
		goto fail;
	}
	rows.arr = NULL;
	if (pb_api_set(obj, "stats", pb_api_dlq_stats_json(b)) < 0)
		goto fail;
	*body = obj;
	return MHD_HTTP_OK;
fail:
	json_decref(rows.arr);
	json_decref(obj);
	*body = NULL;
	return MHD_HTTP_INTERNAL_SERVER_ERROR;
}

/* ---- DELETE /dlq ---- */

uint32_t
pb_api_engine_wait_ms(struct pb_api *api)
{
	uint32_t ms = atomic_load_explicit(&api->purge_timeout_ms, memory_order_relaxed);

	return ms != 0 ? ms : PB_API_PURGE_TIMEOUT_MS;
}

/* DELETE /api/v1/dlq?filters[&all=true] */
unsigned int
pb_api_delete_dlq(const struct pb_api_req *req, json_t **body)
{
	struct pb_purge_request *r;
	struct pb_dlq_filter f;
	struct pb_pubstate *b;
	struct pb_cmd *cmd;
	uint32_t wait_ms;
	uint64_t deleted;
	const char *all;
	bool done;
	int status;

	if ((b = pb_api_dlq_pubstate(req, body)) == NULL)
		return MHD_HTTP_NOT_FOUND;
	if (pb_api_query_check(req, pb_api_dlq_delete_params, body) < 0 ||
	    pb_api_filter_from_query(req, &f, body) < 0)
		return MHD_HTTP_BAD_REQUEST;
	all = pb_api_query(req, "all");
	if (all != NULL && strcmp(all, "true") != 0 && strcmp(all, "false") != 0) {
		*body = pb_api_error("bad all '%.64s': expected true or false", all);
		return MHD_HTTP_BAD_REQUEST;
	}
	if (pb_api_filter_empty(&f) && (all == NULL || strcmp(all, "true") != 0)) {
		*body = pb_api_error("refusing to purge the whole DLQ without all=true");
		return MHD_HTTP_BAD_REQUEST;
	}
	if (b->cmdq == NULL) {
		*body = pb_api_error("engine not accepting commands");
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	}
	if ((r = pb_purge_request_new(&f)) == NULL || (cmd = calloc(1, sizeof(*cmd))) == NULL) {
		if (r != NULL) {
			pb_purge_request_put(r);
			pb_purge_request_put(r);
		}
		*body = NULL;
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	cmd->type = PB_CMD_PURGE;
	cmd->ptr = r;
	if (pb_cmdq_push(b->cmdq, cmd) < 0) {
		/* The queue freed cmd; the engine will never hold its reference. */
		pb_purge_request_put(r);
		pb_purge_request_put(r);
		*body = pb_api_error("engine not accepting commands");
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	}

	wait_ms = pb_api_engine_wait_ms(req->api);
	/* Once done, the engine no longer writes the answer. */
	done = pb_request_sync_wait(&r->sync, wait_ms);
	status = done ? r->status : -1;
	deleted = done ? r->deleted : 0;
	pb_purge_request_put(r);

	if (!done) {
		log_warnx("api", "DLQ purge not finished after %u ms", wait_ms);
		*body = pb_api_error("purge not finished after %u ms; it may still complete",
		    wait_ms);
		return MHD_HTTP_GATEWAY_TIMEOUT;
	}
	if (status != 0) {
		*body = pb_api_error("purge failed (see the DLQ stats last_error)");
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	if ((*body = json_object()) == NULL ||
	    pb_api_set(*body, "deleted", pb_api_json_u64(deleted)) < 0) {
		json_decref(*body);
		*body = NULL;
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	return MHD_HTTP_OK;
}

