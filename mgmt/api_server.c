/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api_internal.h"

/*
 * REST API daemon: libmicrohttpd with its own epoll thread. We bind the
 * listening socket ourselves and hand it over with MHD_OPTION_LISTEN_SOCKET:
 * bind errors then carry their errno, and there is no window between a
 * pre-check and MHD's own bind.
 */

#define PB_API_MEMORY_LIMIT (64 * 1024)
#define PB_API_ECHO_MAX 256 /* bytes of the path echoed back in a 404 */
#define PB_API_DRAIN_MAX (1024 * 1024) /* chunked body bytes dropped before closing */

struct pb_api_route {
	const char *method;
	const char *pattern; /* literal path; "{}" matches one non-empty segment */
	pb_api_handler handler;
};

/*
 * A path that matches a literal pattern is routed among literal patterns
 * only (GET /dlq/replay is a 405, not DLQ entry "replay"). Order matters
 * only for the Allow header.
 */
static const struct pb_api_route pb_api_routes[] = {
	{ "GET", "/metrics", pb_api_get_metrics },
	{ "GET", "/api/v1/status", pb_api_get_status },
	{ "GET", "/api/v1/config", pb_api_get_config },
	{ "GET", "/api/v1/sources", pb_api_get_sources },
	{ "GET", "/api/v1/sources/{}", pb_api_get_source },
	{ "GET", "/api/v1/sinks", pb_api_get_sinks },
	{ "GET", "/api/v1/sinks/{}", pb_api_get_sink },
	{ "GET", "/api/v1/peers", pb_api_get_peers },
	{ "GET", "/api/v1/peers/{}", pb_api_get_peer },
	{ "GET", "/api/v1/gaps", pb_api_get_gaps },
	{ "GET", "/api/v1/dlq", pb_api_get_dlq },
	{ "DELETE", "/api/v1/dlq", pb_api_delete_dlq },
	{ "POST", "/api/v1/dlq/replay", pb_api_post_dlq_replay },
	{ "GET", "/api/v1/dlq/replays", pb_api_get_dlq_replays },
	{ "GET", "/api/v1/dlq/replays/{}", pb_api_get_dlq_replay },
	{ "GET", "/api/v1/dlq/export", pb_api_get_dlq_export },
	{ "GET", "/api/v1/dlq/{}", pb_api_get_dlq_entry },
	/* The dashboard (api_web.c): its files by name, nothing else. */
	{ "GET", "/", pb_api_get_web },
	{ "GET", "/index.html", pb_api_get_web },
	{ "GET", "/app.js", pb_api_get_web },
	{ "GET", "/chart.js", pb_api_get_web },
	{ "GET", "/style.css", pb_api_get_web },
	{ "GET", "/favicon.svg", pb_api_get_web },
};

#define PB_API_NROUTES (sizeof(pb_api_routes) / sizeof(pb_api_routes[0]))

/* Per request, in MHD's *con_cls; freed by pb_api_completed. */
struct pb_api_conn {
	bool keep_body;  /* the method may carry a body a handler reads */
	bool answered;   /* response queued early (refused, 404, 413...) */
	bool too_large;  /* body past PB_API_BODY_MAX, drained: 413 at its end */
	bool authed;     /* valid bearer token */
	const struct pb_api_route *route;
	char arg[PB_API_ARG_MAX];
	size_t seen;     /* body bytes received, kept or not */
	char *body;
	size_t body_len;
};

uint16_t
pb_api_port(const struct pb_api *api)
{
	return api->port;
}

/* ---- routing ---- */

/* Segment-wise match; one trailing '/' is tolerated. */
static bool
pb_api_match(const char *pattern, const char *path, char *arg, size_t argsz)
{
	const char *p = pattern, *u = path;

	while (*p != '\0') {
		if (p[0] == '{' && p[1] == '}') {
			size_t n = strcspn(u, "/");

			if (n == 0 || n >= argsz)
				return false;
			memcpy(arg, u, n);
			arg[n] = '\0';
			u += n;
			p += 2;
			continue;
		}
		if (*p != *u)
			return false;
		p++;
		u++;
	}
	return u[0] == '\0' || (u[0] == '/' && u[1] == '\0');
}

/*
 * The route for method + path (arg filled), or NULL. Then *allow lists the
 * methods the path does accept ("" if the path is unknown).
 */
static const struct pb_api_route *
pb_api_route_find(const char *method, const char *path, char *arg, size_t argsz,
    char *allow, size_t allowsz)
{
	bool seen[PB_API_NROUTES] = { false };
	bool get = false, literal = false;
	size_t off = 0;

	allow[0] = '\0';
	for (size_t i = 0; i < PB_API_NROUTES && !literal; i++)
		literal = strstr(pb_api_routes[i].pattern, "{}") == NULL &&
		    pb_api_match(pb_api_routes[i].pattern, path, arg, argsz);
	for (size_t i = 0; i < PB_API_NROUTES; i++) {
		const struct pb_api_route *r = &pb_api_routes[i];
		bool dup = false;

		if ((literal && strstr(r->pattern, "{}") != NULL) ||
		    !pb_api_match(r->pattern, path, arg, argsz))
			continue;
		if (strcmp(r->method, method) == 0)
			return r;
		seen[i] = true;
		for (size_t j = 0; j < i; j++)
			if (seen[j] && strcmp(pb_api_routes[j].method, r->method) == 0)
				dup = true;
		if (dup)
			continue;
		if (strcmp(r->method, "GET") == 0)
			get = true;
		off += (size_t)snprintf(allow + off, allowsz - off, "%s%s",
		    off > 0 ? ", " : "", r->method);
		if (off >= allowsz)
			off = allowsz - 1;
	}
	if (get)
		snprintf(allow + off, allowsz - off, ", HEAD");
	return NULL;
}

/* ---- responses ---- */

/* Sends body (reference stolen) as JSON; a NULL body becomes a 500. */
static enum MHD_Result
pb_api_send(struct pb_api *api, struct MHD_Connection *conn, unsigned int status,
    json_t *body, const char *allow, const char *location, const char *challenge)
{
	static const char oom[] =
	    "{\"error\":{\"code\":\"internal_error\",\"message\":\"out of memory\"}}";
	struct MHD_Response *resp = NULL;
	enum MHD_Result ret;
	char *text = NULL;

	if (body != NULL) {
		pb_api_error_finish(body, status);
		/* 15 digits: uptime prints as 12.345, not 12.345000000000001 */
		text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15));
		json_decref(body);
	}
	if (text != NULL) {
		/* MUST_FREE frees with free(); jansson allocates with malloc. */
		resp = MHD_create_response_from_buffer(strlen(text), text,
		    MHD_RESPMEM_MUST_FREE);
		if (resp == NULL)
			free(text);
	}
	if (resp == NULL) {
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		allow = NULL;
		resp = MHD_create_response_from_buffer(sizeof(oom) - 1, (void *)oom,
		    MHD_RESPMEM_PERSISTENT);
		if (resp == NULL)
			goto fail;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		"application/json") != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
		"no-store") != MHD_YES ||
	    MHD_add_response_header(resp, "X-Content-Type-Options",
		"nosniff") != MHD_YES ||
	    (allow != NULL && MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
		allow) != MHD_YES) ||
	    (location != NULL && location[0] != '\0' && status < 500 &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION,
		location) != MHD_YES) ||
	    (challenge != NULL && status == MHD_HTTP_UNAUTHORIZED &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		challenge) != MHD_YES)) {
		MHD_destroy_response(resp);
		goto fail;
	}
	if (status == MHD_HTTP_TOO_MANY_REQUESTS && MHD_add_response_header(resp,
	    MHD_HTTP_HEADER_RETRY_AFTER, "1") != MHD_YES) {
		MHD_destroy_response(resp);
		goto fail;
	}
	pb_api_count_status(api, status);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
fail:
	pb_api_count_status(api, MHD_HTTP_INTERNAL_SERVER_ERROR);
	return MHD_NO;
}

/* A handler's own response (metrics text, a pcapng stream). */
static enum MHD_Result
pb_api_send_raw(struct pb_api *api, struct MHD_Connection *conn, unsigned int status,
    struct MHD_Response *resp)
{
	enum MHD_Result ret;

	/* Dashboard files may be kept, but are checked again on every load. */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    MHD_get_response_header(resp, "Content-Security-Policy") != NULL ?
	    "no-cache" : "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	pb_api_count_status(api, status);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* "." and ".." segments: clients normalise them; sent raw, they are probes. */
static bool
pb_api_dot_segment(const char *path)
{
	for (const char *p = path; (p = strchr(p, '/')) != NULL; p++) {
		size_t n = strcspn(p + 1, "/");

		if ((n == 1 && p[1] == '.') || (n == 2 && p[1] == '.' && p[2] == '.'))
			return true;
	}
	return false;
}

/*
 * The headers are in: route, then Host/Origin, token and content type.
 * Anything refused is answered now, before a body is read (MHD then drops
 * the upload and closes). MHD_YES with c->answered false: go on.
 */
static enum MHD_Result
pb_api_begin(struct pb_api *api, struct pb_api_conn *c, struct MHD_Connection *conn,
    const char *url, const char *method)
{
	const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;
	const char *cl, *challenge = NULL;
	size_t urllen = strlen(url);
	char allow[64];
	json_t *body = NULL;
	unsigned int status;
	bool mutating = strcmp(m, "GET") != 0;

	atomic_fetch_add_explicit(&api->requests, 1, memory_order_relaxed);
	c->keep_body = mutating;
	/* Headers are complete: the rest of the exchange gets the longer idle timeout. */
	MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, api->timeout_s);
	c->answered = true;
	/* Host and Origin first: a foreign name learns nothing, not even a 404. */
	if ((status = pb_api_check_access(api, conn, PB_API_ANY, &body, &challenge)) != 0)
		return pb_api_send(api, conn, status, body, NULL, NULL, NULL);
	if (!pb_api_rate_ok(api, conn)) {
		atomic_fetch_add_explicit(&api->rate_limited, 1, memory_order_relaxed);
		return pb_api_send(api, conn, MHD_HTTP_TOO_MANY_REQUESTS,
		    pb_api_error_code("rate_limited", "more than %g requests per second "
		    "from this address (api.rate_limit): retry later", api->rate), NULL,
		    NULL, NULL);
	}
	if (urllen > PB_API_URL_MAX)
		return pb_api_send(api, conn, MHD_HTTP_URI_TOO_LONG,
		    pb_api_error("path too long: %zu bytes, at most %d", urllen,
		    PB_API_URL_MAX), NULL, NULL, NULL);
	if (pb_api_dot_segment(url))
		return pb_api_send(api, conn, MHD_HTTP_BAD_REQUEST,
		    pb_api_error_code("bad_path", "'.' and '..' path segments are not "
		    "allowed"), NULL, NULL, NULL);
	c->route = pb_api_route_find(m, url, c->arg, sizeof(c->arg), allow, sizeof(allow));
	if (c->route == NULL && allow[0] != '\0') {
		body = pb_api_error_add(pb_api_error_add(pb_api_error("method not allowed: "
		    "use %s", allow), "allow", json_string(allow)), "method",
		    pb_api_json_string(method));
		return pb_api_send(api, conn, MHD_HTTP_METHOD_NOT_ALLOWED, body, allow,
		    NULL, NULL);
	}
	if (c->route == NULL) {
		body = pb_api_error_add(pb_api_error("not found"), "path",
		    pb_api_json_stringn(url, urllen < PB_API_ECHO_MAX ? urllen :
		    PB_API_ECHO_MAX));
		return pb_api_send(api, conn, MHD_HTTP_NOT_FOUND, body, NULL, NULL, NULL);
	}
	/*
	 * Mutations: the token and JSON; reads: the read token when configured.
	 * The dashboard's files hold no data (a browser cannot send a token
	 * for a page load): Host and Origin only, checked above.
	 */
	if (c->route->handler != pb_api_get_web &&
	    (status = pb_api_check_access(api, conn, mutating ? PB_API_MUTATE : PB_API_READ,
	    &body, &challenge)) != 0)
		return pb_api_send(api, conn, status, body, NULL, NULL, challenge);
	cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	unsigned long long declared = cl != NULL ? strtoull(cl, NULL, 10) : 0;
	/*
	 * Too large: answered now when the client waits for the answer before
	 * sending (Expect: 100-continue) or the body is past what we drain.
	 * Else the body is read and dropped first: closing on unread data
	 * sends a reset, which can destroy the 413 before the client reads it.
	 */
	if (declared > PB_API_BODY_MAX) {
		if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_EXPECT) != NULL || declared > PB_API_DRAIN_MAX)
			return pb_api_send(api, conn, MHD_HTTP_CONTENT_TOO_LARGE,
			    pb_api_error("request body too large: %.20s bytes, at most %d", cl,
			    PB_API_BODY_MAX), NULL, NULL, NULL);
		c->too_large = true;
		c->keep_body = false;
	}
	c->authed = pb_api_token_ok(api, conn);
	c->answered = false;
	return MHD_YES;
}

static enum MHD_Result
pb_api_dispatch(struct pb_api *api, struct pb_api_conn *c,
    struct MHD_Connection *conn, const char *url, const char *method)
{
	char location[256] = "";
	struct MHD_Response *raw = NULL;
	struct pb_api_req req;
	json_t *body = NULL;
	unsigned int status;

	if (c->too_large)
		return pb_api_send(api, conn, MHD_HTTP_CONTENT_TOO_LARGE,
		    pb_api_error("request body too large: more than %d bytes",
		    PB_API_BODY_MAX), NULL, NULL, NULL);
	req = (struct pb_api_req){
		.api = api,
		.view = api->view,
		.conn = conn,
		.method = method,
		.path = url,
		.arg = strstr(c->route->pattern, "{}") != NULL ? c->arg : NULL,
		.body = c->keep_body ? c->body : NULL,
		.body_len = c->keep_body ? c->body_len : 0,
		.authed = c->authed,
		.location = location,
		.location_size = sizeof(location),
		.raw = &raw,
	};
	status = c->route->handler(&req, &body);
	if (raw != NULL) {
		json_decref(body);
		return pb_api_send_raw(api, conn, status, raw);
	}
	return pb_api_send(api, conn, status, body, NULL, location,
	    status == MHD_HTTP_UNAUTHORIZED ? PB_API_CHALLENGE : NULL);
}

static enum MHD_Result
pb_api_access(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct pb_api *api = cls;
	struct pb_api_conn *c = *con_cls;

	if (c == NULL) {
		/* Headers only: check them; the request is answered on the last call. */
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			atomic_fetch_add_explicit(&api->errors, 1, memory_order_relaxed);
			return MHD_NO;
		}
		*con_cls = c;
		return pb_api_begin(api, c, conn, url, method);
	}
	if (c->answered) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		c->seen += n;
		/*
		 * Chunked uploads have no Content-Length: MHD takes a response
		 * only once the body is in, so the rest is read and dropped (413
		 * then), up to a bound past which the connection is closed. A
		 * declared one up to that bound is drained the same way.
		 */
		if (c->seen > PB_API_BODY_MAX) {
			c->too_large = true;
			free(c->body);
			c->body = NULL;
			c->body_len = 0;
			if (c->seen > PB_API_DRAIN_MAX) {
				pb_api_count_status(api, MHD_HTTP_CONTENT_TOO_LARGE);
				return MHD_NO;
			}
			return MHD_YES;
		}
		if (c->keep_body) {
			char *nb = realloc(c->body, c->body_len + n + 1);

			if (nb == NULL) {
				atomic_fetch_add_explicit(&api->errors, 1,
				    memory_order_relaxed);
				return MHD_NO;
			}
			memcpy(nb + c->body_len, upload_data, n);
			c->body_len += n;
			nb[c->body_len] = '\0';
			c->body = nb;
		}
		return MHD_YES;
	}
	return pb_api_dispatch(api, c, conn, url, method);
}

static void
pb_api_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct pb_api_conn *c = *con_cls;

	if (c != NULL) {
		free(c->body);
		free(c);
		*con_cls = NULL;
	}
}

static int
pb_api_hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/*
 * Like MHD's default %HH decoding, except %00 stays as it is: a NUL would
 * cut the path short and "/api/v1/status%00junk" would be routed.
 */
static size_t
pb_api_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	char *r = s, *w = s;

	while (*r != '\0') {
		int hi, lo;

		if (r[0] == '%' && (hi = pb_api_hexval(r[1])) >= 0 &&
		    (lo = pb_api_hexval(r[2])) >= 0 && (hi | lo) != 0) {
			*w++ = (char)(hi << 4 | lo);
			r += 3;
			continue;
		}
		*w++ = *r++;
	}
	*w = '\0';
	return (size_t)(w - s);
}

static void pb_api_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
pb_api_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct pb_api *api = cls;
	char msg[512];
	size_t len;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	len = strlen(msg);
	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
		msg[--len] = '\0';
	/* Only the starting thread writes start_err: the MHD thread may log too. */
	if (atomic_load(&api->starting) && pthread_equal(pthread_self(), api->start_thread))
		snprintf(api->start_err, sizeof(api->start_err), "%s", msg);
	/* Accept failures come in floods: counted and throttled there. */
	if (!pb_api_conn_mhd_message(api, msg))
		log_warnx("api", "%s", msg);
}

/* ---- listening socket ---- */

static int
pb_api_listen(struct pb_api *api, const struct pb_api_cfg *cfg, char *err, size_t errlen)
{
	struct addrinfo hints = { 0 }, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	struct in_addr in4;
	char host[sizeof(cfg->address)], port[8];
	size_t hlen;
	int fd, one = 1, saved;

	/* Accept "[::1]" as well as "::1". */
	snprintf(host, sizeof(host), "%s", cfg->address);
	hlen = strlen(host);
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
		memmove(host, host + 1, hlen - 2);
		host[hlen - 2] = '\0';
	}
	snprintf(port, sizeof(port), "%u", (unsigned int)cfg->port);
	snprintf(api->listen, sizeof(api->listen), strchr(host, ':') != NULL ?
	    "[%s]:%s" : "%s:%s", host, port);

	/*
	 * getaddrinfo also takes inet_aton shorthands ("10.1" = 10.0.0.1): a
	 * typo must not bind elsewhere, so IPv4 must be a dotted quad.
	 */
	hints.ai_family = strchr(host, ':') != NULL ? AF_INET6 : AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if ((hints.ai_family == AF_INET && inet_pton(AF_INET, host, &in4) != 1) ||
	    getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL) {
		snprintf(err, errlen, "api: cannot listen on %s: "
		    "not a numeric IPv4 or IPv6 address", api->listen);
		if (ai != NULL)
			freeaddrinfo(ai);
		return -1;
	}
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    ai->ai_protocol);
	if (fd < 0)
		goto fail;
	/* As MHD does for its own sockets: restart despite TIME_WAIT. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	/* "::" means IPv6 only here; use 0.0.0.0 for IPv4. */
	if (ai->ai_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0)
		goto fail;
	freeaddrinfo(ai);
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0) {
		if (ss.ss_family == AF_INET)
			api->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			api->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	if (cfg->port == 0) {
		snprintf(port, sizeof(port), "%u", (unsigned int)api->port);
		snprintf(api->listen, sizeof(api->listen), strchr(host, ':') != NULL ?
		    "[%s]:%s" : "%s:%s", host, port);
	}
	return fd;
fail:
	saved = errno;
	snprintf(err, errlen, "api: cannot listen on %s: %s", api->listen, strerror(saved));
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return -1;
}

/* ---- public ---- */

static void pb_api_free(struct pb_api *api);

struct pb_api *
pb_api_start(const struct pb_api_cfg *cfg, const struct pb_view *view,
    char *err, size_t errlen)
{
	struct pb_api *api;
	int fd;

	if ((api = calloc(1, sizeof(*api))) == NULL) {
		snprintf(err, errlen, "api: out of memory");
		return NULL;
	}
	api->view = view;
	snprintf(api->web_root, sizeof(api->web_root), "%s", cfg->web_root);
	if (pb_api_conn_init(api, cfg) < 0) {
		snprintf(err, errlen, "api: out of memory");
		free(api);
		return NULL;
	}
	if ((fd = pb_api_listen(api, cfg, err, errlen)) < 0) {
		pb_api_conn_fini(api);
		free(api);
		return NULL;
	}
	pb_api_access_init(api, cfg);

	/* Hash seed before any thread builds JSON objects (jansson threadsafety). */
	json_object_seed(0);
	if (pb_api_tls_init(api, cfg, err, errlen) < 0 ||
	    (view->config != NULL &&
	     (api->config_json = pb_api_config_render(view->config)) == NULL)) {
		if (err[0] == '\0')
			snprintf(err, errlen, "api: out of memory");
		close(fd);
		pb_api_free(api);
		return NULL;
	}
	struct MHD_OptionItem tls_opts[] = {
		{ api->tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, api->tls_key_pem },
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, api->tls_cert_pem },
		{ MHD_OPTION_END, 0, NULL },
	};
	api->start_thread = pthread_self();
	atomic_store(&api->starting, true);
	api->daemon = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
	    (api->tls ? MHD_USE_TLS : 0),
	    0, pb_api_accept_policy, api, pb_api_access, api,
	    /* first, so that no message goes to stderr */
	    MHD_OPTION_EXTERNAL_LOGGER, pb_api_mhd_log, api,
	    MHD_OPTION_LISTEN_SOCKET, fd,
	    /* Until a request's headers are in; then api->timeout_s (pb_api_begin). */
	    MHD_OPTION_CONNECTION_TIMEOUT, api->header_timeout_s,
	    /* A purge waits for the DLQ writer: keep other requests flowing. */
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)PB_API_THREADS,
	    /*
	     * A backstop only: our accept policy closes connections over
	     * api.max_connections. At its own limit MHD stops accepting and
	     * clients hang, so it must never get there (it splits this one
	     * across its threads).
	     */
	    MHD_OPTION_CONNECTION_LIMIT, (api->max_conns + 1) * PB_API_THREADS,
	    /* exact, and closes at once: see api_conn.c */
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, api->max_per_ip,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)PB_API_MEMORY_LIMIT,
	    MHD_OPTION_NOTIFY_COMPLETED, pb_api_completed, api,
	    MHD_OPTION_NOTIFY_CONNECTION, pb_api_notify_connection, api,
	    MHD_OPTION_UNESCAPE_CALLBACK, pb_api_unescape, api,
	    MHD_OPTION_ARRAY, tls_opts,
	    MHD_OPTION_END);
	atomic_store(&api->starting, false);
	if (api->daemon == NULL) {
		snprintf(err, errlen, "api: cannot start HTTP server on %s: %s", api->listen,
		    api->start_err[0] != '\0' ? api->start_err : "libmicrohttpd failed");
		/* MHD leaves a socket it was given open when it fails. */
		close(fd);
		pb_api_free(api);
		return NULL;
	}
	if (api->read_token_len == 0 && !pb_api_listen_is_loopback(api))
		log_warnx("api", "reads are open to anyone who can reach %s: set "
		    "api.read_token_file to require a token", api->listen);
	return api;
}

/* Everything pb_api_start allocated besides the daemon; secrets wiped. */
static void
pb_api_free(struct pb_api *api)
{
	pb_api_conn_fini(api);
	pb_api_tls_fini(api);
	json_decref(api->config_json);
	explicit_bzero(api->token, sizeof(api->token));
	explicit_bzero(api->read_token, sizeof(api->read_token));
	free(api);
}

void
pb_api_stop(struct pb_api *api)
{
	if (api == NULL)
		return;
	/* Joins the MHD threads (a running handler finishes first) and
	 * closes the listening socket. */
	MHD_stop_daemon(api->daemon);
	pb_api_free(api);
}
