/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <stdio.h>

#include "api_internal.h"
#include "clock.h"

#define PB_API_COUNTER(obj, a, field) pb_api_set((obj), #field, \
    pb_api_json_u64(atomic_load_explicit(&(a)->field, memory_order_relaxed)))

/* {"200": n, "404": n, ..., "other": n}: every response by its status. */
static json_t *
pb_api_status_responses(struct pb_api *a)
{
	json_t *obj = json_object();
	char key[16];

	if (obj == NULL)
		return NULL;
	for (size_t i = 0; i < PB_API_NSTATUS; i++) {
		if (pb_api_counted_status[i] != 0)
			snprintf(key, sizeof(key), "%u", pb_api_counted_status[i]);
		else
			snprintf(key, sizeof(key), "other");
		if (pb_api_set(obj, key, pb_api_json_u64(atomic_load_explicit(
		    &a->responses[i], memory_order_relaxed))) < 0) {
			json_decref(obj);
			return NULL;
		}
	}
	return obj;
}

/* GET /api/v1/status */
unsigned int
pb_api_get_status(const struct pb_api_req *req, json_t **body)
{
	const struct pb_view *v = req->view;
	uint64_t now = pb_mono_ns();
	double uptime = 0;
	json_t *obj, *node, *api;

	if (now > v->started_mono_ns)
		uptime = (double)((now - v->started_mono_ns) / PB_NSEC_PER_MSEC) / 1e3;

	obj = json_object();
	node = json_object();
	api = json_object();
	if (obj == NULL || node == NULL || api == NULL)
		goto fail;
	if (pb_api_set(node, "id", json_integer(v->node_id)) < 0 ||
	    pb_api_set(node, "name", pb_api_json_string(v->node_name)) < 0 ||
	    pb_api_set(node, "description", pb_api_json_string(v->node_description)) < 0)
		goto fail;
	if (pb_api_set(api, "requests", pb_api_json_u64(atomic_load_explicit(
		&req->api->requests, memory_order_relaxed))) < 0 ||
	    pb_api_set(api, "errors", pb_api_json_u64(atomic_load_explicit(
		&req->api->errors, memory_order_relaxed))) < 0 ||
	    PB_API_COUNTER(api, req->api, unauthorized) < 0 ||
	    PB_API_COUNTER(api, req->api, forbidden) < 0 ||
	    PB_API_COUNTER(api, req->api, unsupported_media_type) < 0 ||
	    PB_API_COUNTER(api, req->api, over_limit) < 0 ||
	    PB_API_COUNTER(api, req->api, conflicts) < 0 ||
	    PB_API_COUNTER(api, req->api, too_many) < 0 ||
	    PB_API_COUNTER(api, req->api, rate_limited) < 0 ||
	    pb_api_set(api, "responses", pb_api_status_responses(req->api)) < 0 ||
	    pb_api_set(api, "tls", json_boolean(req->api->tls)) < 0 ||
	    pb_api_set(api, "read_token", json_boolean(req->api->read_token_len > 0)) < 0)
		goto fail;
	if (pb_api_set(obj, "node", node) < 0) {
		node = NULL;
		goto fail;
	}
	node = NULL;
	if (pb_api_set(obj, "version", pb_api_json_string(
		v->version != NULL ? v->version : PACKAGE_VERSION)) < 0 ||
	    pb_api_set(obj, "uptime_s", json_real(uptime)) < 0 ||
	    pb_api_set(obj, "started", pb_api_json_time(v->started_real_ns, 3)) < 0 ||
	    /* The run epoch numbers this node's links: only with the token. */
	    (req->authed && pb_api_set(obj, "epoch", pb_api_json_u64(v->epoch)) < 0) ||
	    pb_api_set(obj, "sources", pb_api_json_u64(v->nsources)) < 0 ||
	    pb_api_set(obj, "sinks", pb_api_json_u64(v->nsinks)) < 0)
		goto fail;
	if (pb_api_set(obj, "api", api) < 0) {
		api = NULL;
		goto fail;
	}
	*body = obj;
	return MHD_HTTP_OK;
fail:
	json_decref(api);
	json_decref(node);
	json_decref(obj);
	*body = NULL;
	return MHD_HTTP_INTERNAL_SERVER_ERROR;
}
