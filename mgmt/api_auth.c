/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "api_internal.h"
#include "keyring.h"

/*
 * Who may do what. Every request must name this API in Host (a page of
 * another site that rebinds its name to 127.0.0.1 still sends its own
 * name) and, when a browser sends Origin, come from an allowed origin.
 * Every mutating request needs the bearer token of api.token_file and a
 * JSON body type, which a cross-site form or a no-cors fetch cannot send.
 */

#define PB_API_CHALLENGE_BAD "Bearer realm=\"packetbroker\", error=\"invalid_token\""
#define PB_API_ECHO_HDR 96 /* bytes of a refused header echoed back */

static bool
pb_api_is_loopback(const char *addr)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (inet_pton(AF_INET, addr, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, addr, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

static void
pb_api_host_add(struct pb_api *api, const char *host, uint16_t port)
{
	struct pb_api_host *h;

	if (api->nhosts >= sizeof(api->hosts) / sizeof(api->hosts[0]))
		return;
	h = &api->hosts[api->nhosts];
	if (pb_api_hostport_parse(host, strlen(host), h) < 0) {
		/* IPv6 literals come without brackets from the config. */
		char br[PB_API_HOST_MAX + 2];

		snprintf(br, sizeof(br), "[%s]", host);
		if (pb_api_hostport_parse(br, strlen(br), h) < 0)
			return;
	}
	h->port = port;
	api->nhosts++;
}

void
pb_api_access_init(struct pb_api *api, const struct pb_api_cfg *cfg)
{
	char addr[sizeof(cfg->address)];
	size_t n;

	_Static_assert(sizeof(api->token) == sizeof(cfg->token), "same token size");
	if (cfg->token_len > 0 && cfg->token_len <= sizeof(api->token)) {
		memcpy(api->token, cfg->token, cfg->token_len);
		api->token_len = cfg->token_len;
	}
	if (cfg->read_token_len > 0 && cfg->read_token_len <= sizeof(api->read_token)) {
		memcpy(api->read_token, cfg->read_token, cfg->read_token_len);
		api->read_token_len = cfg->read_token_len;
	}
	snprintf(addr, sizeof(addr), "%s", cfg->address);
	n = strlen(addr);
	if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']') {
		memmove(addr, addr + 1, n - 2);
		addr[n - 2] = '\0';
	}
	pb_api_host_add(api, addr, api->port);
	api->loopback = pb_api_is_loopback(addr);
	if (api->loopback) {
		/* What local tools and browsers call a loopback listener. */
		pb_api_host_add(api, "localhost", api->port);
		pb_api_host_add(api, "127.0.0.1", api->port);
		pb_api_host_add(api, "::1", api->port);
	}
	for (size_t i = 0; i < cfg->nallowed_hosts && i < PB_API_MAX_ALLOWED; i++)
		api->hosts[api->nhosts++] = cfg->allowed_hosts[i];
	for (size_t i = 0; i < cfg->nallowed_origins && i < PB_API_MAX_ALLOWED; i++)
		api->origins[api->norigins++] = cfg->allowed_origins[i];
}

/* `at` names one of our hosts; port 0 in an allowed entry is any port. */
static bool
pb_api_host_allowed(const struct pb_api *api, const struct pb_api_host *at)
{
	for (size_t i = 0; i < api->nhosts; i++) {
		const struct pb_api_host *h = &api->hosts[i];

		if (strcmp(h->host, at->host) == 0 && (h->port == 0 || h->port == at->port))
			return true;
	}
	return false;
}

static bool
pb_api_origin_allowed(const struct pb_api *api, const char *value)
{
	struct pb_api_origin o;

	if (pb_api_origin_parse(value, &o) < 0)
		return false;
	if (pb_api_host_allowed(api, &o.at))
		return true;
	for (size_t i = 0; i < api->norigins; i++) {
		const struct pb_api_origin *a = &api->origins[i];

		if (a->https == o.https && a->at.port == o.at.port &&
		    strcmp(a->at.host, o.at.host) == 0)
			return true;
	}
	return false;
}

bool
pb_api_listen_is_loopback(const struct pb_api *api)
{
	return api->loopback;
}

/* "Authorization: Bearer <token>" with this token (of len > 0). */
static bool
pb_api_bearer_is(struct MHD_Connection *conn, const uint8_t *token, size_t token_len)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	size_t len;

	if (token_len == 0 || v == NULL || strncasecmp(v, "Bearer ", 7) != 0)
		return false;
	for (v += 7; *v == ' '; v++)
		;
	len = strlen(v);
	while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	/* Lengths first: CRYPTO_memcmp compares equal sizes in constant time. */
	return len == token_len && CRYPTO_memcmp(v, token, len) == 0;
}

bool
pb_api_token_ok(const struct pb_api *api, struct MHD_Connection *conn)
{
	return pb_api_bearer_is(conn, api->token, api->token_len);
}

/* ---- TLS ---- */

static char *
pb_api_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);

	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

int
pb_api_tls_init(struct pb_api *api, const struct pb_api_cfg *cfg, char *err, size_t errlen)
{
	if (cfg->tls_cert_pem == NULL || cfg->tls_key_pem == NULL)
		return 0;
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		snprintf(err, errlen, "api: tls_cert is set but libmicrohttpd was built "
		    "without TLS");
		return -1;
	}
	/* Our own copies: MHD keeps the pointers while it runs. */
	if ((api->tls_cert_pem = pb_api_strdup(cfg->tls_cert_pem)) == NULL ||
	    (api->tls_key_pem = pb_api_strdup(cfg->tls_key_pem)) == NULL) {
		snprintf(err, errlen, "api: out of memory");
		return -1;
	}
	api->tls = true;
	return 0;
}

void
pb_api_tls_fini(struct pb_api *api)
{
	pb_secret_free(api->tls_key_pem);
	free(api->tls_cert_pem);
	api->tls_key_pem = api->tls_cert_pem = NULL;
}

/* application/json, with parameters (charset) allowed. */
static bool
pb_api_is_json(const char *ct)
{
	static const char json[] = "application/json";
	size_t n = sizeof(json) - 1;

	if (ct == NULL)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, json, n) != 0)
		return false;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/* A header value as JSON-safe text for messages: cut, control bytes masked. */
static void
pb_api_echo(const char *v, char *out, size_t outlen)
{
	size_t i;

	for (i = 0; v[i] != '\0' && i + 1 < outlen; i++)
		out[i] = ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) ? '?' : v[i];
	out[i] = '\0';
}

static unsigned int
pb_api_refuse(_Atomic uint64_t *counter, unsigned int status, json_t *msg, json_t **body)
{
	atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
	*body = msg;
	return status;
}

unsigned int
pb_api_check_access(struct pb_api *api, struct MHD_Connection *conn,
    enum pb_api_access_kind kind, json_t **body, const char **challenge)
{
	const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_HOST);
	const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_ORIGIN);
	const char *ct;
	struct pb_api_host at;
	char echo[PB_API_ECHO_HDR];

	*challenge = NULL;
	if (host == NULL)
		return pb_api_refuse(&api->forbidden, MHD_HTTP_MISDIRECTED_REQUEST,
		    pb_api_error("missing Host header: it must name this API (%s)",
		    api->listen), body);
	bool parsed = pb_api_hostport_parse(host, strlen(host), &at) == 0;

	if (parsed && at.port == 0)
		at.port = 80; /* without a port, Host means port 80 */
	if (!parsed || !pb_api_host_allowed(api, &at)) {
		pb_api_echo(host, echo, sizeof(echo));
		return pb_api_refuse(&api->forbidden, MHD_HTTP_MISDIRECTED_REQUEST,
		    pb_api_error("Host '%s' is not this API (%s): add it to "
		    "api.allowed_hosts to serve it", echo, api->listen), body);
	}
	if (origin != NULL && !pb_api_origin_allowed(api, origin)) {
		pb_api_echo(origin, echo, sizeof(echo));
		return pb_api_refuse(&api->forbidden, MHD_HTTP_FORBIDDEN,
		    pb_api_error("Origin '%s' is not allowed: add it to "
		    "api.allowed_origins to allow it", echo), body);
	}
	if (kind == PB_API_ANY)
		return 0;
	if (kind == PB_API_READ) {
		bool sent;

		if (api->read_token_len == 0 ||
		    pb_api_bearer_is(conn, api->read_token, api->read_token_len) ||
		    pb_api_token_ok(api, conn))
			return 0;
		sent = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_AUTHORIZATION) != NULL;
		*challenge = sent ? PB_API_CHALLENGE_BAD : PB_API_CHALLENGE;
		return pb_api_refuse(&api->unauthorized, MHD_HTTP_UNAUTHORIZED,
		    pb_api_error(sent ? "invalid bearer token" : "missing bearer token: "
		    "send 'Authorization: Bearer <the token in api.read_token_file>'"), body);
	}
	if (api->token_len == 0)
		return pb_api_refuse(&api->unauthorized, MHD_HTTP_FORBIDDEN,
		    pb_api_error("changes through the API are disabled: set "
		    "api.token_file to allow them with a bearer token"), body);
	if (!pb_api_token_ok(api, conn)) {
		bool sent = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_AUTHORIZATION) != NULL;

		*challenge = sent ? PB_API_CHALLENGE_BAD : PB_API_CHALLENGE;
		return pb_api_refuse(&api->unauthorized, MHD_HTTP_UNAUTHORIZED,
		    pb_api_error(sent ? "invalid bearer token" : "missing bearer token: "
		    "send 'Authorization: Bearer <the token in api.token_file>'"), body);
	}
	ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_TYPE);
	if (!pb_api_is_json(ct)) {
		pb_api_echo(ct != NULL ? ct : "", echo, sizeof(echo));
		return pb_api_refuse(&api->unsupported_media_type,
		    MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, pb_api_error("Content-Type must be "
		    "application/json, got '%s'", echo), body);
	}
	return 0;
}
