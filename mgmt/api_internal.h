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

#include <limits.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api.h"
#include "api_format.h"
#include "pubstate.h"
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
#define PB_API_NSTATUS 17          /* statuses counted one by one, "other" last */
#define PB_API_RATE_SLOTS 256      /* client addresses tracked by the rate limiter */

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
	_Atomic uint64_t rate_limited;   /* 429 from api.rate_limit */
	/* Responses by status (pb_api_counted_status; the last one: any other). */
	_Atomic uint64_t responses[PB_API_NSTATUS];
	/* Access control (api_auth.c), copied from the config at start. */
	uint8_t token[PB_API_TOKEN_MAX];
	size_t token_len;          /* 0 = every mutation is refused */
	uint8_t read_token[PB_API_TOKEN_MAX];
	size_t read_token_len;     /* 0 = reads are open */
	bool tls;                  /* HTTPS (api.tls_cert/tls_key) */
	char *tls_cert_pem, *tls_key_pem;
	bool loopback;             /* listening on a loopback address */
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
	/* Per client address token buckets (api_conn.c); rate 0 = no limit. */
	double rate, burst;
	pthread_mutex_t rate_lock;
	bool rate_lock_ok;
	struct pb_api_bucket {
		unsigned char addr[16];
		uint8_t family;        /* 0 = free slot */
		double tokens;
		uint64_t last_ns;
	} *buckets;
	/* GET /config: rendered once at start (the configuration never changes). */
	json_t *config_json;
	char web_root[PATH_MAX];   /* api.web_root: the dashboard's files, "" = none */
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
	/* A handler answering other than JSON (metrics text, a pcapng stream)
	 * stores its response here and returns its status; *body is ignored. */
	struct MHD_Response **raw;
};

/*
 * A handler stores a new JSON reference in *body and returns the HTTP
 * status. *body NULL (allocation failure) makes a 500.
 */
typedef unsigned int (*pb_api_handler)(const struct pb_api_req *req, json_t **body);

/* api_status.c */
unsigned int pb_api_get_status(const struct pb_api_req *req, json_t **body);

/* api_web.c: GET / and the dashboard's files from api.web_root (no-cache, CSP). */
unsigned int pb_api_get_web(const struct pb_api_req *req, json_t **body);

/* api_sources.c */
unsigned int pb_api_get_sources(const struct pb_api_req *req, json_t **body);
unsigned int pb_api_get_source(const struct pb_api_req *req, json_t **body);
unsigned int pb_api_get_sinks(const struct pb_api_req *req, json_t **body);
unsigned int pb_api_get_sink(const struct pb_api_req *req, json_t **body);

/* api_util.c: JSON helpers for handlers. All return a new reference or NULL. */

/*
 * {"error": {"message": "<formatted message>"}}; the response gets its
 * "code" from the status (pb_api_status_code) unless one is given.
 */
json_t *pb_api_error_code(const char *code, const char *fmt, ...) PB_PRINTF(2, 3);
#define pb_api_error(...) pb_api_error_code(NULL, __VA_ARGS__)
/* body.error[key] = val (stolen); body back, or NULL (body freed) on failure. */
json_t *pb_api_error_add(json_t *body, const char *key, json_t *val);
/* "not_found" for 404 and so on. */
const char *pb_api_status_code(unsigned int status);
/* Adds the status's code to an error body that has none (pb_api_send). */
void pb_api_error_finish(json_t *body, unsigned int status);
/* A JSON string from any bytes: invalid UTF-8 bytes become '?'. */
json_t *pb_api_json_string(const char *s);
json_t *pb_api_json_stringn(const char *s, size_t len);
/* Counters are unsigned; jansson integers are signed: clamp at INT64_MAX. */
json_t *pb_api_json_u64(uint64_t v);
/* RFC 3339 UTC with 3 or 9 fraction digits; JSON null for 0 (unset). */
json_t *pb_api_json_time(uint64_t real_ns, unsigned int digits);
/*
 * obj[key] = val, stealing val. Returns -1 if val is NULL or on allocation
 * failure, so handlers can chain sets and test once.
 */
int pb_api_set(json_t *obj, const char *key, json_t *val);
#define PB_API_U64(obj, p, field) pb_api_set((obj), #field, pb_api_json_u64((p)->field))
/*
 * The request body as a JSON object, or NULL with a 400 body: invalid
 * JSON (code invalid_json, with error.position {line, column, offset}),
 * or not an object.
 */
json_t *pb_api_body_json(const struct pb_api_req *req, json_t **body);

/* Statuses counted one by one in api->responses (0 = any other). */
extern const unsigned int pb_api_counted_status[PB_API_NSTATUS];
/* Counts a response (and, from 400 on, an error). */
void pb_api_count_status(struct pb_api *api, unsigned int status);

/* For tests: the port actually bound (useful with cfg->port 0). */
uint16_t pb_api_port(const struct pb_api *api);

/* ==== tunnel milestone additions (peers, gaps, DLQ) ==== */

#define PB_API_PURGE_TIMEOUT_MS 10000u

/* api_util.c: query string helpers. */

/* The percent-decoded value of ?name=..., or NULL when absent. */
const char *pb_api_query(const struct pb_api_req *req, const char *name);
/*
 * 0 when every query parameter is in `known` (NULL-terminated), appears
 * once and has a value; else -1 with a 400 body in *body.
 */
int pb_api_query_check(const struct pb_api_req *req, const char *const *known,
    json_t **body);

/* api_peers.c */
unsigned int pb_api_get_peers(const struct pb_api_req *req, json_t **body);
unsigned int pb_api_get_peer(const struct pb_api_req *req, json_t **body);
/* The peer table and tunnel counters, copied out under the pubstate lock. */
struct pb_peer_snap;
struct pb_api_tunnel_counters {
	uint64_t loops_dropped, hop_limit_dropped, origin_duplicates, link_records;
	uint64_t auth_failures, protocol_errors;
	struct pb_refusals refused;
};
/* 0 with *peers (free it; NULL when n is 0), or -1 on allocation failure. */
int pb_api_peers_copy(struct pb_pubstate *b, struct pb_peer_snap **peers, size_t *n,
    uint64_t *generated, struct pb_api_tunnel_counters *tc);

/* api_gaps.c */
unsigned int pb_api_get_gaps(const struct pb_api_req *req, json_t **body);

/* api_dlq.c */
unsigned int pb_api_get_dlq(const struct pb_api_req *req, json_t **body);
unsigned int pb_api_delete_dlq(const struct pb_api_req *req, json_t **body);

struct pb_dlq_filter;
struct pb_pubstate;
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
/* The pubstate when the engine gave us its DLQ file, else NULL with a 404 body. */
struct pb_pubstate *pb_api_dlq_pubstate(const struct pb_api_req *req, json_t **body);
/* How long a handler waits for the engine (purge_timeout_ms or the default). */
uint32_t pb_api_engine_wait_ms(struct pb_api *api);

/* api_replay.c */
unsigned int pb_api_post_dlq_replay(const struct pb_api_req *req, json_t **body);
unsigned int pb_api_get_dlq_replays(const struct pb_api_req *req, json_t **body);
unsigned int pb_api_get_dlq_replay(const struct pb_api_req *req, json_t **body);

/* api_dlq_export.c: one DLQ entry with its record, and the pcapng export. */
unsigned int pb_api_get_dlq_entry(const struct pb_api_req *req, json_t **body);
unsigned int pb_api_get_dlq_export(const struct pb_api_req *req, json_t **body);
/* Filter from the query string (api_dlq.c); 0, or -1 with a 400 body. */
int pb_api_filter_from_query(const struct pb_api_req *req, struct pb_dlq_filter *f,
    json_t **body);
/* The DLQ row's metadata as in GET /dlq (epoch only when authed). */
json_t *pb_api_dlq_row_json(const struct pb_dlq_row *row, bool authed);

/* api_config.c */
unsigned int pb_api_get_config(const struct pb_api_req *req, json_t **body);
/* The configuration as JSON, secrets left out; NULL on allocation failure. */
struct pb_config;
json_t *pb_api_config_render(const struct pb_config *cfg);

/* api_metrics.c: GET /metrics, Prometheus text format 0.0.4. */
unsigned int pb_api_get_metrics(const struct pb_api_req *req, json_t **body);

/* ==== access control and connection bounds ==== */

/* api_auth.c */
#define PB_API_CHALLENGE "Bearer realm=\"packetbroker\"" /* WWW-Authenticate of a 401 */
/* Token, allowed Hosts (listen address first) and Origins from the config. */
void pb_api_access_init(struct pb_api *api, const struct pb_api_cfg *cfg);
/* The request carries "Authorization: Bearer <token>" with the configured token. */
bool pb_api_token_ok(const struct pb_api *api, struct MHD_Connection *conn);
/* The listen address is a loopback one. */
bool pb_api_listen_is_loopback(const struct pb_api *api);
enum pb_api_access_kind {
	PB_API_ANY,    /* Host and Origin only (before routing) */
	PB_API_READ,   /* + the read token (or the mutation token) when configured */
	PB_API_MUTATE, /* + the mutation token and a JSON body type */
};
/*
 * Host and Origin (every request), then what `kind` needs. 0 = accepted;
 * else the status to answer, with its body in *body and, for 401, the
 * WWW-Authenticate value in *challenge.
 */
unsigned int pb_api_check_access(struct pb_api *api, struct MHD_Connection *conn,
    enum pb_api_access_kind kind, json_t **body, const char **challenge);
/* HTTPS from api.tls_cert/tls_key (PEM copies kept for MHD); 0 without. 0 or -1. */
int pb_api_tls_init(struct pb_api *api, const struct pb_api_cfg *cfg, char *err,
    size_t errlen);
void pb_api_tls_fini(struct pb_api *api);

/* api_conn.c: MHD callbacks and options for the connection bounds. */
int pb_api_conn_init(struct pb_api *api, const struct pb_api_cfg *cfg);
void pb_api_conn_fini(struct pb_api *api);
enum MHD_Result pb_api_accept_policy(void *cls, const struct sockaddr *addr,
    socklen_t addrlen);
void pb_api_notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode toe);
/* False when the client's address is over api.rate_limit (counts the request). */
bool pb_api_rate_ok(struct pb_api *api, struct MHD_Connection *conn);
/* A warning at most every few seconds, with the count of those left out. */
void pb_api_log_throttled(struct pb_api *api, const char *msg);
/* The MHD logger's view of a message: true when it was about a refused or
 * failed accept (counted, throttled, and slowed down when MHD would spin). */
bool pb_api_conn_mhd_message(struct pb_api *api, const char *msg);

#endif
