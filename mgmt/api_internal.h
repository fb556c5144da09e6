/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_API_INTERNAL_H
#define PB_API_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api.h"
#include "log.h"

/*
 * Shared between api_server.c (daemon, routing, responses) and the handler
 * files (api_status.c, api_sources.c, later api_peers.c, api_dlq.c, ...).
 * To add an endpoint: write the handler in its file, declare it below and
 * add a row to the route table in api_server.c.
 */

#define PB_API_ARG_MAX 256         /* longest {name} path segment routed */
#define PB_API_URL_MAX 4096        /* longer paths get 414 */
#define PB_API_BODY_MAX (64 * 1024) /* request bodies kept for handlers (else 413) */

struct pb_api {
	struct MHD_Daemon *daemon;
	const struct pb_view *view;
	char listen[192];          /* "ADDR:PORT" / "[ADDR]:PORT", for messages */
	uint16_t port;             /* bound port (cfg->port, or the kernel's if 0) */
	_Atomic uint64_t requests; /* requests dispatched */
	_Atomic uint64_t errors;   /* responses with status >= 400 */
	/* MHD messages logged by the thread calling pb_api_start, for err. */
	pthread_t start_thread;
	_Atomic bool starting;
	char start_err[256];
	/* DELETE /dlq wait for the engine; 0 = PB_API_PURGE_TIMEOUT_MS (tests shorten it). */
	_Atomic uint32_t purge_timeout_ms;
};

/* One request as a handler sees it; everything is valid during the call only. */
struct pb_api_req {
	struct pb_api *api;
	const struct pb_view *view;
	struct MHD_Connection *conn;
	const char *method;  /* as sent ("HEAD" is routed as "GET") */
	const char *path;    /* percent-decoded, without the query string */
	const char *arg;     /* the "{}" segment of the route, or NULL */
	const char *body;    /* request body (methods other than GET/HEAD), or NULL */
	size_t body_len;
	/* A handler may write a Location header value here ("" = none). */
	char *location;
	size_t location_size;
};

/*
 * A handler stores a new JSON reference in *body and returns the HTTP
 * status. *body NULL (allocation failure) makes a 500.
 */
typedef unsigned int (*pb_api_handler)(const struct pb_api_req *req, json_t **body);

/* api_status.c */
unsigned int pb_api_get_status(const struct pb_api_req *req, json_t **body);

/* api_sources.c */
unsigned int pb_api_get_sources(const struct pb_api_req *req, json_t **body);
unsigned int pb_api_get_source(const struct pb_api_req *req, json_t **body);
unsigned int pb_api_get_sinks(const struct pb_api_req *req, json_t **body);
unsigned int pb_api_get_sink(const struct pb_api_req *req, json_t **body);

/* api_server.c: JSON helpers for handlers. All return a new reference or NULL. */

/* {"error": "<formatted message>"} */
json_t *pb_api_error(const char *fmt, ...) PB_PRINTF(1, 2);
/* A JSON string from any bytes: invalid UTF-8 bytes become '?'. */
json_t *pb_api_json_string(const char *s);
/* Counters are unsigned; jansson integers are signed: clamp at INT64_MAX. */
json_t *pb_api_json_u64(uint64_t v);
/*
 * obj[key] = val, stealing val. Returns -1 if val is NULL or on allocation
 * failure, so handlers can chain sets and test once.
 */
int pb_api_set(json_t *obj, const char *key, json_t *val);

/* For tests: the port actually bound (useful with cfg->port 0). */
uint16_t pb_api_port(const struct pb_api *api);

/* ==== tunnel milestone additions (peers, gaps, DLQ) ==== */

#define PB_API_PURGE_TIMEOUT_MS 10000u

/* api_server.c: query string helpers. */

/* The percent-decoded value of ?name=..., or NULL when absent. */
const char *pb_api_query(const struct pb_api_req *req, const char *name);
/*
 * 0 when every query parameter is in `known` (NULL-terminated), appears
 * once and has a value; else -1 with a 400 body in *body.
 */
int pb_api_query_check(const struct pb_api_req *req, const char *const *known,
    json_t **body);
/* Strict unsigned decimal (digits only: no sign, space or 0x) <= max. 0 or -1. */
int pb_api_parse_u64(const char *s, uint64_t max, uint64_t *out);

/* api_peers.c */
unsigned int pb_api_get_peers(const struct pb_api_req *req, json_t **body);
unsigned int pb_api_get_peer(const struct pb_api_req *req, json_t **body);
/* RFC 3339 UTC with 3 or 9 fraction digits; JSON null for 0 (unset). */
json_t *pb_api_json_time(uint64_t real_ns, unsigned int digits);
/*
 * RFC 3339 time or integer nanoseconds since the epoch -> ns (1970..2262).
 * 0, or -1 when malformed or out of range.
 */
int pb_api_parse_time(const char *s, uint64_t *out);

/* api_gaps.c */
unsigned int pb_api_get_gaps(const struct pb_api_req *req, json_t **body);

/* api_dlq.c */
unsigned int pb_api_get_dlq(const struct pb_api_req *req, json_t **body);
unsigned int pb_api_delete_dlq(const struct pb_api_req *req, json_t **body);
unsigned int pb_api_post_dlq_replay(const struct pb_api_req *req, json_t **body);
unsigned int pb_api_get_dlq_replays(const struct pb_api_req *req, json_t **body);
unsigned int pb_api_get_dlq_replay(const struct pb_api_req *req, json_t **body);

#endif
