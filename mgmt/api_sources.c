/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <string.h>

#include "api_internal.h"

/*
 * Sources and sinks: names and targets from the view, counters from the
 * atomics it points to. JSON keys are the stats field names.
 */

/* Views built before the stats exist read as zero, not as a crash. */
static const struct pb_source_stats pb_api_no_source_stats;
static const struct pb_sink_stats pb_api_no_sink_stats;

#define PB_API_COUNTER(obj, st, field) \
	pb_api_set((obj), #field, pb_api_json_u64(pb_counter_get(&(st)->field)))

static json_t *
pb_api_source_json(const struct pb_view_source *src)
{
	const struct pb_source_stats *st = src->stats != NULL ? src->stats :
	    &pb_api_no_source_stats;
	json_t *obj = json_object();

	if (obj == NULL)
		return NULL;
	if (pb_api_set(obj, "name", pb_api_json_string(src->name)) < 0 ||
	    pb_api_set(obj, "kind", pb_api_json_string(src->kind)) < 0 ||
	    pb_api_set(obj, "target", pb_api_json_string(src->target)) < 0 ||
	    pb_api_set(obj, "filter", pb_api_json_string(src->filter)) < 0 ||
	    pb_api_set(obj, "state", pb_api_json_string(pb_source_state_name(
		atomic_load_explicit(&st->state, memory_order_relaxed)))) < 0 ||
	    PB_API_COUNTER(obj, st, packets) < 0 ||
	    PB_API_COUNTER(obj, st, bytes) < 0 ||
	    PB_API_COUNTER(obj, st, pcap_received) < 0 ||
	    PB_API_COUNTER(obj, st, pcap_drops) < 0 ||
	    PB_API_COUNTER(obj, st, pcap_ifdrops) < 0 ||
	    PB_API_COUNTER(obj, st, oversize) < 0 ||
	    PB_API_COUNTER(obj, st, truncated) < 0 ||
	    PB_API_COUNTER(obj, st, trailers_ok) < 0 ||
	    PB_API_COUNTER(obj, st, trailer_errors) < 0 ||
	    PB_API_COUNTER(obj, st, loops_done) < 0 ||
	    PB_API_COUNTER(obj, st, read_errors) < 0 ||
	    PB_API_COUNTER(obj, st, foreign) < 0) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/* A jetstream sink's connection: {"state", "server", "pending_acks", ...}. */
static json_t *
pb_api_js_json(const struct pb_js_stats *js)
{
	json_t *obj = json_object();
	char server[sizeof(js->server)], last_error[sizeof(js->last_error)];

	if (obj == NULL)
		return NULL;
	pthread_mutex_lock((pthread_mutex_t *)&js->lock);
	memcpy(server, js->server, sizeof(server));
	memcpy(last_error, js->last_error, sizeof(last_error));
	pthread_mutex_unlock((pthread_mutex_t *)&js->lock);
	if (pb_api_set(obj, "state", pb_api_json_string(pb_js_state_name(
		atomic_load_explicit(&js->state, memory_order_relaxed)))) < 0 ||
	    pb_api_set(obj, "server", pb_api_json_string(server)) < 0 ||
	    PB_API_COUNTER(obj, js, pending_acks) < 0 ||
	    PB_API_COUNTER(obj, js, buffered) < 0 ||
	    PB_API_COUNTER(obj, js, last_stream_seq) < 0 ||
	    PB_API_COUNTER(obj, js, messages) < 0 ||
	    PB_API_COUNTER(obj, js, records) < 0 ||
	    PB_API_COUNTER(obj, js, duplicates) < 0 ||
	    PB_API_COUNTER(obj, js, errors) < 0 ||
	    PB_API_COUNTER(obj, js, lookups) < 0 ||
	    PB_API_COUNTER(obj, js, late) < 0 ||
	    PB_API_COUNTER(obj, js, holes_forgotten) < 0 ||
	    PB_API_COUNTER(obj, js, streams) < 0 ||
	    PB_API_COUNTER(obj, js, streams_evicted) < 0 ||
	    pb_api_set(obj, "last_error", pb_api_json_string(last_error)) < 0) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

static json_t *
pb_api_sink_json(const struct pb_view_sink *sink)
{
	const struct pb_sink_stats *st = sink->stats != NULL ? sink->stats :
	    &pb_api_no_sink_stats;
	json_t *obj = json_object();

	if (obj == NULL)
		return NULL;
	if (pb_api_set(obj, "name", pb_api_json_string(sink->name)) < 0 ||
	    pb_api_set(obj, "kind", pb_api_json_string(sink->kind)) < 0 ||
	    pb_api_set(obj, "target", pb_api_json_string(sink->target)) < 0 ||
	    pb_api_set(obj, "format", pb_api_json_string(sink->format)) < 0 ||
	    pb_api_set(obj, "state", pb_api_json_string(pb_sink_state_name(
		atomic_load_explicit(&st->state, memory_order_relaxed)))) < 0 ||
	    PB_API_COUNTER(obj, st, packets) < 0 ||
	    PB_API_COUNTER(obj, st, bytes) < 0 ||
	    PB_API_COUNTER(obj, st, bytes_written) < 0 ||
	    PB_API_COUNTER(obj, st, write_errors) < 0 ||
	    PB_API_COUNTER(obj, st, files_opened) < 0 ||
	    PB_API_COUNTER(obj, st, files_removed) < 0 ||
	    PB_API_COUNTER(obj, st, inject_errors) < 0 ||
	    PB_API_COUNTER(obj, st, backlog_events) < 0 ||
	    (sink->js != NULL && pb_api_set(obj, "jetstream", pb_api_js_json(sink->js)) < 0)) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/* {"<key>": [items...]} */
static unsigned int
pb_api_list(const char *key, size_t n, json_t *(*item)(const void *, size_t),
    const void *items, json_t **body)
{
	json_t *obj = json_object(), *arr = json_array();

	if (obj == NULL || arr == NULL)
		goto fail;
	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(arr, item(items, i)) < 0)
			goto fail;
	if (pb_api_set(obj, key, arr) < 0) {
		arr = NULL;
		goto fail;
	}
	*body = obj;
	return MHD_HTTP_OK;
fail:
	json_decref(arr);
	json_decref(obj);
	*body = NULL;
	return MHD_HTTP_INTERNAL_SERVER_ERROR;
}

static json_t *
pb_api_source_item(const void *items, size_t i)
{
	return pb_api_source_json(&((const struct pb_view_source *)items)[i]);
}

static json_t *
pb_api_sink_item(const void *items, size_t i)
{
	return pb_api_sink_json(&((const struct pb_view_sink *)items)[i]);
}

/* One object, or *body NULL. */
static unsigned int
pb_api_one(json_t *obj, json_t **body)
{
	*body = obj;
	return obj != NULL ? MHD_HTTP_OK : MHD_HTTP_INTERNAL_SERVER_ERROR;
}

/* GET /api/v1/sources */
unsigned int
pb_api_get_sources(const struct pb_api_req *req, json_t **body)
{
	return pb_api_list("sources", req->view->nsources, pb_api_source_item,
	    req->view->sources, body);
}

/* GET /api/v1/sources/{name} */
unsigned int
pb_api_get_source(const struct pb_api_req *req, json_t **body)
{
	const struct pb_view *v = req->view;

	for (size_t i = 0; i < v->nsources; i++)
		if (strcmp(v->sources[i].name, req->arg) == 0)
			return pb_api_one(pb_api_source_json(&v->sources[i]), body);
	*body = pb_api_error("unknown source '%s'", req->arg);
	return MHD_HTTP_NOT_FOUND;
}

/* GET /api/v1/sinks */
unsigned int
pb_api_get_sinks(const struct pb_api_req *req, json_t **body)
{
	return pb_api_list("sinks", req->view->nsinks, pb_api_sink_item,
	    req->view->sinks, body);
}

/* GET /api/v1/sinks/{name} */
unsigned int
pb_api_get_sink(const struct pb_api_req *req, json_t **body)
{
	const struct pb_view *v = req->view;

	for (size_t i = 0; i < v->nsinks; i++)
		if (strcmp(v->sinks[i].name, req->arg) == 0)
			return pb_api_one(pb_api_sink_json(&v->sinks[i]), body);
	*body = pb_api_error("unknown sink '%s'", req->arg);
	return MHD_HTTP_NOT_FOUND;
}
