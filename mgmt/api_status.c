/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <stdio.h>
#include <time.h>

#include "api_internal.h"
#include "clock.h"

/* RFC 3339 UTC with milliseconds: "2024-05-01T12:00:00.123Z". */
static void
pb_api_rfc3339(uint64_t real_ns, char *buf, size_t len)
{
	time_t sec = (time_t)(real_ns / PB_NSEC_PER_SEC);
	unsigned int ms = (unsigned int)(real_ns % PB_NSEC_PER_SEC / PB_NSEC_PER_MSEC);
	struct tm tm;
	char day[32];

	if (gmtime_r(&sec, &tm) == NULL ||
	    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(buf, len, "1970-01-01T00:00:00.000Z");
		return;
	}
	snprintf(buf, len, "%s.%03uZ", day, ms);
}

#define PB_API_COUNTER(obj, a, field) pb_api_set((obj), #field, \
    pb_api_json_u64(atomic_load_explicit(&(a)->field, memory_order_relaxed)))

/* GET /api/v1/status */
unsigned int
pb_api_get_status(const struct pb_api_req *req, json_t **body)
{
	const struct pb_view *v = req->view;
	uint64_t now = pb_mono_ns();
	double uptime = 0;
	char started[48];
	json_t *obj, *node, *api;

	if (now > v->started_mono_ns)
		uptime = (double)((now - v->started_mono_ns) / PB_NSEC_PER_MSEC) / 1e3;
	pb_api_rfc3339(v->started_real_ns, started, sizeof(started));

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
	    PB_API_COUNTER(api, req->api, too_many) < 0)
		goto fail;
	if (pb_api_set(obj, "node", node) < 0) {
		node = NULL;
		goto fail;
	}
	node = NULL;
	if (pb_api_set(obj, "version", pb_api_json_string(
		v->version != NULL ? v->version : PACKAGE_VERSION)) < 0 ||
	    pb_api_set(obj, "uptime_s", json_real(uptime)) < 0 ||
	    pb_api_set(obj, "started", pb_api_json_string(started)) < 0 ||
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
