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
#include "cmdq.h"
#include "dlq_store.h"

/*
 * DLQ replay jobs: POST /dlq/replay asks the engine for a job and waits
 * (bounded) for its verdict, so that a duplicate (409) or a full job table
 * (429) is never answered 202; GET /dlq/replays[/{id}] reads the job table
 * the engine publishes in the pubstate.
 */

#define PB_API_REPLAY_RATE_MAX 1e9 /* records/s */

/* ---- POST /dlq/replay ---- */

/* One body key into the request; -1 with *body = a 400. */
static int
pb_api_replay_key(struct pb_replay_request *rq, const char *key, json_t *val, json_t **body)
{
	enum pb_api_fkey k;
	char text[32], why[128];
	const char *v;

	if (json_is_null(val))
		return 0; /* same as absent */
	if (strcmp(key, "target") == 0) {
		if (!json_is_string(val) || json_string_length(val) >= sizeof(rq->target) ||
		    strlen(json_string_value(val)) != json_string_length(val)) {
			*body = pb_api_error("bad target: expected a peer name of 0..%zu bytes",
			    sizeof(rq->target) - 1);
			return -1;
		}
		memcpy(rq->target, json_string_value(val), json_string_length(val) + 1);
		return 0;
	}
	if (strcmp(key, "wait_s") == 0) {
		if (!json_is_integer(val) || json_integer_value(val) < 1 ||
		    json_integer_value(val) > PB_REPLAY_WAIT_MAX_S) {
			*body = pb_api_error("bad wait_s: expected seconds 1..%u a job waits "
			    "for a down peer (default %u)", PB_REPLAY_WAIT_MAX_S,
			    PB_REPLAY_WAIT_DEFAULT_S);
			return -1;
		}
		rq->wait_s = (uint32_t)json_integer_value(val);
		return 0;
	}
	if (strcmp(key, "rate") == 0) {
		double rate = json_number_value(val);

		if (!json_is_number(val) || !isfinite(rate) || rate < 0 ||
		    rate > PB_API_REPLAY_RATE_MAX) {
			*body = pb_api_error("bad rate: expected records/s 0..%.0f "
			    "(0 = the configured rate)", PB_API_REPLAY_RATE_MAX);
			return -1;
		}
		rq->rate = rate;
		return 0;
	}
	for (k = 0; k < PB_FK_COUNT; k++)
		if (strcmp(key, pb_api_fkey_names[k]) == 0)
			break;
	if (k == PB_FK_COUNT) {
		*body = pb_api_error("unknown key '%.64s'", key);
		return -1;
	}
	/* Strict types, then the query-string validation on the text form. */
	if (json_is_integer(val) && k != PB_FK_PEER && k != PB_FK_REASON) {
		if (json_integer_value(val) < 0) {
			v = "";
		} else {
			snprintf(text, sizeof(text), "%lld",
			    (long long)json_integer_value(val));
			v = text;
		}
	} else if (json_is_string(val) && (k == PB_FK_PEER || k == PB_FK_REASON ||
	    k == PB_FK_SINCE || k == PB_FK_UNTIL) &&
	    strlen(json_string_value(val)) == json_string_length(val)) {
		v = json_string_value(val);
	} else {
		v = NULL;
	}
	if (v == NULL || pb_api_filter_set(&rq->filter, k, v, why, sizeof(why)) < 0) {
		if (v == NULL)
			snprintf(why, sizeof(why), "wrong JSON type");
		*body = pb_api_error("bad %s: %s", key, why);
		return -1;
	}
	return 0;
}

/* 0, or -1 with a 400 body. */
static int
pb_api_replay_parse(const struct pb_api_req *req, struct pb_replay_request *rq,
    json_t **body)
{
	const char *key;
	json_t *root, *val;

	if (req->body == NULL || strspn(req->body, " \t\r\n") == req->body_len)
		return 0; /* no body: replay everything at the configured rate */
	if ((root = pb_api_body_json(req, body)) == NULL)
		return -1;
	json_object_foreach(root, key, val) {
		if (pb_api_replay_key(rq, key, val, body) < 0) {
			json_decref(root);
			return -1;
		}
	}
	json_decref(root);
	if ((*body = pb_api_filter_check(&rq->filter)) != NULL)
		return -1;
	return 0;
}

/* 202 with the job's id and where to watch it. */
static unsigned int
pb_api_replay_accepted(const struct pb_api_req *req, uint64_t id, json_t **body)
{
	char where[64];

	snprintf(where, sizeof(where), "/api/v1/dlq/replays/%llu", (unsigned long long)id);
	snprintf(req->location, req->location_size, "%s", where);
	if ((*body = json_object()) == NULL ||
	    pb_api_set(*body, "id", pb_api_json_u64(id)) < 0 ||
	    pb_api_set(*body, "status", json_string(where)) < 0) {
		json_decref(*body);
		*body = NULL;
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	return MHD_HTTP_ACCEPTED;
}

/* 409: the active job that already covers the request. */
static unsigned int
pb_api_replay_conflict(const struct pb_api_req *req, uint64_t existing, json_t **body)
{
	char where[64];

	atomic_fetch_add_explicit(&req->api->conflicts, 1, memory_order_relaxed);
	snprintf(where, sizeof(where), "/api/v1/dlq/replays/%llu",
	    (unsigned long long)existing);
	*body = pb_api_error_add(pb_api_error_add(pb_api_error("replay job %llu with the "
	    "same target and filter is still active", (unsigned long long)existing),
	    "id", pb_api_json_u64(existing)), "status", json_string(where));
	return MHD_HTTP_CONFLICT;
}

/* POST /api/v1/dlq/replay */
unsigned int
pb_api_post_dlq_replay(const struct pb_api_req *req, json_t **body)
{
	struct pb_replay_request *rq;
	struct pb_pubstate *b;
	struct pb_cmd *cmd;
	uint64_t id, existing;
	uint32_t wait_ms;
	int verdict;
	bool done;

	if ((b = pb_api_dlq_pubstate(req, body)) == NULL)
		return MHD_HTTP_NOT_FOUND;
	if ((rq = pb_replay_request_new()) == NULL) {
		*body = NULL;
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	if (pb_api_replay_parse(req, rq, body) < 0) {
		pb_replay_request_put(rq);
		pb_replay_request_put(rq);
		return MHD_HTTP_BAD_REQUEST;
	}
	if (b->cmdq == NULL || (cmd = calloc(1, sizeof(*cmd))) == NULL) {
		pb_replay_request_put(rq);
		pb_replay_request_put(rq);
		*body = b->cmdq == NULL ? pb_api_error("engine not accepting commands") : NULL;
		return b->cmdq == NULL ? MHD_HTTP_SERVICE_UNAVAILABLE :
		    MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	id = atomic_fetch_add(&b->next_request, 1) + 1;
	rq->id = id;
	cmd->type = PB_CMD_REPLAY;
	cmd->arg = id;
	cmd->ptr = rq;
	if (pb_cmdq_push(b->cmdq, cmd) < 0) {
		/* The queue freed cmd; the engine will never hold its reference. */
		pb_replay_request_put(rq);
		pb_replay_request_put(rq);
		*body = pb_api_error("engine not accepting commands");
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	}

	wait_ms = pb_api_engine_wait_ms(req->api);
	/* Once done, the engine no longer writes the answer. */
	done = pb_request_sync_wait(&rq->sync, wait_ms);
	verdict = done ? rq->verdict : PB_REPLAY_REFUSED;
	existing = done ? rq->existing : 0;
	pb_replay_request_put(rq);

	if (!done) {
		log_warnx("api", "replay %llu: no answer from the engine after %u ms",
		    (unsigned long long)id, wait_ms);
		*body = pb_api_error("the engine did not answer within %u ms; replay %llu "
		    "may still start", wait_ms, (unsigned long long)id);
		return MHD_HTTP_GATEWAY_TIMEOUT;
	}
	switch (verdict) {
	case PB_REPLAY_ACCEPTED:
		return pb_api_replay_accepted(req, id, body);
	case PB_REPLAY_DUPLICATE:
		return pb_api_replay_conflict(req, existing, body);
	case PB_REPLAY_TABLE_FULL:
		atomic_fetch_add_explicit(&req->api->too_many, 1, memory_order_relaxed);
		*body = pb_api_error_code("replay_table_full", "%d replay jobs are active, "
		    "the most there can be: retry once one has finished", PB_REPLAY_JOBS);
		return MHD_HTTP_TOO_MANY_REQUESTS;
	default:
		*body = pb_api_error("the engine refused the replay");
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	}
}

/* ---- GET /dlq/replays[/{id}] ---- */

static json_t *
pb_api_job_json(struct pb_replay_job *j)
{
	json_t *obj = json_object();
	double progress;

	if (obj == NULL)
		return NULL;
	j->target[sizeof(j->target) - 1] = '\0';
	j->error[sizeof(j->error) - 1] = '\0';
	j->filter.peer[sizeof(j->filter.peer) - 1] = '\0';
	/* Share of the fetched rows acknowledged and deleted; nothing to do = done. */
	if (j->fetched > 0)
		progress = (double)j->deleted / (double)j->fetched;
	else
		progress = j->state == PB_REPLAY_DONE ? 1.0 : 0.0;
	if (pb_api_set(obj, "id", pb_api_json_u64(j->id)) < 0 ||
	    pb_api_set(obj, "state", json_string(pb_replay_state_name(j->state))) < 0 ||
	    pb_api_set(obj, "filter", pb_api_filter_json(&j->filter)) < 0 ||
	    pb_api_set(obj, "target", j->target[0] != '\0' ?
		pb_api_json_string(j->target) : json_null()) < 0 ||
	    pb_api_set(obj, "rate", json_real(j->rate)) < 0 ||
	    pb_api_set(obj, "wait_s", json_integer(j->wait_s)) < 0 ||
	    pb_api_set(obj, "created", pb_api_json_time(j->created_ns, 3)) < 0 ||
	    pb_api_set(obj, "finished", pb_api_json_time(j->finished_ns, 3)) < 0 ||
	    PB_API_U64(obj, j, fetched) < 0 ||
	    PB_API_U64(obj, j, sent) < 0 ||
	    PB_API_U64(obj, j, acked) < 0 ||
	    PB_API_U64(obj, j, deleted) < 0 ||
	    PB_API_U64(obj, j, skipped) < 0 ||
	    PB_API_U64(obj, j, errors) < 0 ||
	    pb_api_set(obj, "error", j->error[0] != '\0' ?
		pb_api_json_string(j->error) : json_null()) < 0 ||
	    pb_api_set(obj, "progress", json_real(progress > 1.0 ? 1.0 : progress)) < 0) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/* Accepted, but the engine has not taken the command yet. */
static json_t *
pb_api_job_queued_json(uint64_t id)
{
	json_t *obj = json_object();

	if (obj == NULL)
		return NULL;
	if (pb_api_set(obj, "id", pb_api_json_u64(id)) < 0 ||
	    pb_api_set(obj, "state", json_string(pb_replay_state_name(PB_REPLAY_QUEUED))) < 0) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/* Copies the job table out under the lock; NULL on allocation failure. */
static struct pb_replay_job *
pb_api_jobs_copy(struct pb_pubstate *b, uint64_t *next)
{
	struct pb_replay_job *jobs = calloc(PB_REPLAY_JOBS, sizeof(*jobs));

	if (jobs == NULL)
		return NULL;
	pthread_mutex_lock(&b->lock);
	memcpy(jobs, b->jobs, sizeof(b->jobs));
	/* Read under the lock: an id the engine tabled is never above it. */
	*next = atomic_load(&b->next_request);
	pthread_mutex_unlock(&b->lock);
	return jobs;
}

static int
pb_api_job_cmp(const void *a, const void *b)
{
	const struct pb_replay_job *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* GET /api/v1/dlq/replays */
unsigned int
pb_api_get_dlq_replays(const struct pb_api_req *req, json_t **body)
{
	struct pb_pubstate *b = req->view->pubstate;
	struct pb_replay_job *jobs = NULL;
	uint64_t next = 0;
	json_t *obj = NULL, *arr = NULL;

	/* Only jobs the engine took: ids also go to purges and automatic replays. */
	if (b != NULL && (jobs = pb_api_jobs_copy(b, &next)) == NULL)
		goto fail;
	if ((obj = json_object()) == NULL || (arr = json_array()) == NULL)
		goto fail;
	if (jobs != NULL) {
		qsort(jobs, PB_REPLAY_JOBS, sizeof(*jobs), pb_api_job_cmp);
		for (size_t i = 0; i < PB_REPLAY_JOBS; i++) {
			if (jobs[i].id == 0)
				continue;
			if (json_array_append_new(arr, pb_api_job_json(&jobs[i])) < 0)
				goto fail;
		}
	}
	if (pb_api_set(obj, "jobs", arr) < 0) {
		arr = NULL;
		goto fail;
	}
	free(jobs);
	*body = obj;
	return MHD_HTTP_OK;
fail:
	free(jobs);
	json_decref(arr);
	json_decref(obj);
	*body = NULL;
	return MHD_HTTP_INTERNAL_SERVER_ERROR;
}

/* GET /api/v1/dlq/replays/{id} */
unsigned int
pb_api_get_dlq_replay(const struct pb_api_req *req, json_t **body)
{
	struct pb_pubstate *b = req->view->pubstate;
	struct pb_replay_job *jobs;
	uint64_t id, next, low = UINT64_MAX;
	size_t used = 0;

	if (pb_fmt_parse_u64(req->arg, INT64_MAX, &id) < 0 || id == 0) {
		*body = pb_api_error("bad replay id '%.64s': expected an integer 1..%lld",
		    req->arg, (long long)INT64_MAX);
		return MHD_HTTP_BAD_REQUEST;
	}
	if (b == NULL) {
		*body = pb_api_error("unknown replay job %llu", (unsigned long long)id);
		return MHD_HTTP_NOT_FOUND;
	}
	if ((jobs = pb_api_jobs_copy(b, &next)) == NULL) {
		*body = NULL;
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	for (size_t i = 0; i < PB_REPLAY_JOBS; i++) {
		if (jobs[i].id == id) {
			*body = pb_api_job_json(&jobs[i]);
			free(jobs);
			return *body != NULL ? MHD_HTTP_OK : MHD_HTTP_INTERNAL_SERVER_ERROR;
		}
		if (jobs[i].id != 0) {
			used++;
			if (jobs[i].id < low)
				low = jobs[i].id;
		}
	}
	free(jobs);
	if (id > next) {
		*body = pb_api_error("unknown replay job %llu", (unsigned long long)id);
		return MHD_HTTP_NOT_FOUND;
	}
	/*
	 * Jobs leave the table only when it is full and a newer one needs the
	 * slot; older than everything in a full table means recycled. Anything
	 * else not in the table is a command the engine has not taken yet.
	 */
	if (used == PB_REPLAY_JOBS && id < low) {
		*body = pb_api_error("replay job %llu is no longer tracked",
		    (unsigned long long)id);
		return MHD_HTTP_NOT_FOUND;
	}
	*body = pb_api_job_queued_json(id);
	return *body != NULL ? MHD_HTTP_OK : MHD_HTTP_INTERNAL_SERVER_ERROR;
}
