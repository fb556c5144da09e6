/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_API_INTERNAL_H
#define PB_API_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

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
#define PB_API_THREADS 2           /* MHD thread pool */

struct pb_api {
	struct MHD_Daemon *daemon;
	const struct pb_view *view;
	char listen[192];          /* "ADDR:PORT" / "[ADDR]:PORT", for messages */
	uint16_t port;             /* bound port (cfg->port, or the kernel's if 0) */
	_Atomic uint64_t requests; /* requests received */
	_Atomic uint64_t errors;   /* responses with status >= 400 */
	/* Refused requests and connections, by reason (GET /status "api"). */
	_Atomic uint64_t unauthorized;   /* 401, and 403 without api.token_file */
	_Atomic uint64_t forbidden;      /* Host (421) or Origin (403) not allowed */
	_Atomic uint64_t unsupported_media_type; /* 415 */
	_Atomic uint64_t over_limit;     /* connections closed at a connection limit */
	_Atomic uint64_t conflicts;      /* 409 */
	_Atomic uint64_t too_many;       /* 429 */
	/* Access control (api_auth.c), copied from the config at start. */
	uint8_t token[PB_API_TOKEN_MAX];
	size_t token_len;          /* 0 = every mutation is refused */
	size_t nhosts;             /* listen address (+ loopback names), allowed_hosts */
	struct pb_api_host hosts[PB_API_MAX_ALLOWED + 4];
	size_t norigins;
	struct pb_api_origin origins[PB_API_MAX_ALLOWED];
	/* Connection bounds (api_conn.c). */
	uint32_t timeout_s;        /* idle, once a request's headers are in */
	uint32_t header_timeout_s; /* idle, before that */
	uint32_t max_conns, max_per_ip;
	pthread_mutex_t conn_lock;
	bool conn_lock_ok;
	uint32_t open_conns;       /* under conn_lock */
	_Atomic uint64_t log_next_ns;    /* throttled MHD/limit messages */
	_Atomic uint64_t log_suppressed;
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
	bool authed;         /* carries the valid bearer token of api.token_file */
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

struct pb_dlq_filter;
struct pb_bridge;
enum pb_api_fkey {
	PB_FK_PEER, PB_FK_NODE, PB_FK_REASON, PB_FK_SINCE, PB_FK_UNTIL,
	PB_FK_ID_MIN, PB_FK_ID_MAX, PB_FK_COUNT
};
/* Filter keys as in query strings and JSON bodies, indexed by enum pb_api_fkey. */
extern const char *const pb_api_fkey_names[PB_FK_COUNT + 1];
/* Sets one filter field from its text form; -1 with why filled. */
int pb_api_filter_set(struct pb_dlq_filter *f, enum pb_api_fkey key, const char *v,
    char *why, size_t whylen);
/* Ranges that can match nothing are a client mistake: a 400 body, else NULL. */
json_t *pb_api_filter_check(const struct pb_dlq_filter *f);
/* The filter as the client would write it; unset fields are left out. */
json_t *pb_api_filter_json(const struct pb_dlq_filter *f);
/* The bridge when the engine gave us its DLQ file, else NULL with a 404 body. */
struct pb_bridge *pb_api_dlq_bridge(const struct pb_api_req *req, json_t **body);
/* How long a handler waits for the engine (purge_timeout_ms or the default). */
uint32_t pb_api_engine_wait_ms(struct pb_api *api);
/* CLOCK_MONOTONIC now + ms, for pthread_cond_timedwait. */
void pb_api_deadline(uint32_t ms, struct timespec *ts);

/* api_replay.c */
unsigned int pb_api_post_dlq_replay(const struct pb_api_req *req, json_t **body);
unsigned int pb_api_get_dlq_replays(const struct pb_api_req *req, json_t **body);
unsigned int pb_api_get_dlq_replay(const struct pb_api_req *req, json_t **body);

/* ==== access control and connection bounds ==== */

/* api_auth.c */
#define PB_API_CHALLENGE "Bearer realm=\"packetbroker\"" /* WWW-Authenticate of a 401 */
/* Token, allowed Hosts (listen address first) and Origins from the config. */
void pb_api_access_init(struct pb_api *api, const struct pb_api_cfg *cfg);
/* The request carries "Authorization: Bearer <token>" with the configured token. */
bool pb_api_token_ok(const struct pb_api *api, struct MHD_Connection *conn);
/*
 * Host and Origin (every request), then for a mutating one the bearer token
 * and the JSON content type. 0 = accepted; else the status to answer, with
 * its body in *body and, for 401, the WWW-Authenticate value in *challenge.
 */
unsigned int pb_api_check_access(struct pb_api *api, struct MHD_Connection *conn,
    bool mutating, json_t **body, const char **challenge);

/* api_conn.c: MHD callbacks and options for the connection bounds. */
int pb_api_conn_init(struct pb_api *api, const struct pb_api_cfg *cfg);
void pb_api_conn_fini(struct pb_api *api);
enum MHD_Result pb_api_accept_policy(void *cls, const struct sockaddr *addr,
    socklen_t addrlen);
void pb_api_notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode toe);
/* A warning at most every few seconds, with the count of those left out. */
void pb_api_log_throttled(struct pb_api *api, const char *msg);
/* The MHD logger's view of a message: true when it was about a refused or
 * failed accept (counted, throttled, and slowed down when MHD would spin). */
bool pb_api_conn_mhd_message(struct pb_api *api, const char *msg);

#endif
