/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_int.h"

/*
 * The `jetstream` group of a dump (the sink) or of a capture (the
 * source). Everything a connection needs is checked here, so that a typo
 * is an error at load time, not a sink that never connects.
 */

#define JS_TOKEN_MIN 1

/* nats://HOST:PORT or tls://HOST:PORT (the port is required: a cluster's
 * client port is rarely the default on a shared machine). */
static bool
cfg_js_url_ok(const char *u)
{
	const char *hp;
	if (strncmp(u, "nats://", 7) == 0)
		hp = u + 7;
	else if (strncmp(u, "tls://", 6) == 0)
		hp = u + 6;
	else
		return false;
	/* Credentials belong in token_file/creds_file, not in a URL that is logged. */
	if (strchr(hp, '@') || strchr(hp, '/'))
		return false;
	struct pb_api_host h;
	return pb_api_hostport_parse(hp, strlen(hp), &h) == 0 && h.port != 0 && h.host[0];
}

static void
cfg_js_servers(struct pb_cfg_ctx *c, const config_setting_t *g, struct pb_jetstream_cfg *js)
{
	const config_setting_t *s = config_setting_get_member(g, "servers");
	if (s == NULL) {
		pb_cfg_error(c, g, "missing required key 'servers' (a list of nats://HOST:PORT)");
		return;
	}
	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		pb_cfg_error(c, s, "expected a list of URLs, e.g. [\"nats://127.0.0.1:4222\"]");
		return;
	}
	if (!config_setting_is_aggregate(s) || config_setting_length(s) == 0) {
		pb_cfg_error(c, s, "expected a non-empty list of nats://HOST:PORT URLs");
		return;
	}
	int n = config_setting_length(s);
	if (n > PB_JS_MAX_SERVERS) {
		pb_cfg_error(c, s, "%d servers, at most %d", n, PB_JS_MAX_SERVERS);
		n = PB_JS_MAX_SERVERS;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_type(e) == CONFIG_TYPE_STRING ?
		    config_setting_get_string(e) : NULL;
		if (v == NULL || strlen(v) >= PB_JS_URL_MAX || !cfg_js_url_ok(v)) {
			pb_cfg_error(c, e, "expected nats://HOST:PORT or tls://HOST:PORT (no user or"
			    " path; credentials go in token_file or creds_file)");
			continue;
		}
		snprintf(js->servers[js->nservers++], PB_JS_URL_MAX, "%s", v);
	}
}

/* A subject token: printable, no space, no wildcard, no dot inside. */
static bool
cfg_js_prefix_ok(const char *p)
{
	if (!p[0] || p[0] == '.' || p[strlen(p) - 1] == '.' || strstr(p, ".."))
		return false;
	for (; *p; p++)
		if (*p <= ' ' || *p >= 127 || *p == '*' || *p == '>')
			return false;
	return true;
}

static void
cfg_js_token(struct pb_cfg_ctx *c, const config_setting_t *g, struct pb_jetstream_cfg *js)
{
	if (pb_cfg_file(c, g, "token_file", js->token_file, sizeof(js->token_file), true) != 1)
		return;
	const config_setting_t *s = config_setting_get_member(g, "token_file");
	uint8_t buf[sizeof(js->token) + 64];
	char err[PATH_MAX + 160];
	size_t n = 0;
	if (pb_secret_read(js->token_file, buf, sizeof(buf), &n, err, sizeof(err)) < 0)
		pb_cfg_error(c, s, "%s", err);
	else if (n < JS_TOKEN_MIN || n >= sizeof(js->token))
		pb_cfg_error(c, s, "\"%s\": the token must be 1..%zu bytes", js->token_file,
		    sizeof(js->token) - 1);
	else if (memchr(buf, '\n', n) || memchr(buf, '\r', n) || memchr(buf, '\0', n))
		pb_cfg_error(c, s, "\"%s\": the token must be one line", js->token_file);
	else
		memcpy(js->token, buf, n);
	explicit_bzero(buf, sizeof(buf));
}

static void
cfg_js_readable(struct pb_cfg_ctx *c, const config_setting_t *g, const char *key, char *buf,
    size_t len)
{
	if (pb_cfg_file(c, g, key, buf, len, true) == 1 && access(buf, R_OK) != 0)
		pb_cfg_error(c, config_setting_get_member(g, key), "\"%s\" is not readable", buf);
}

void
pb_cfg_jetstream(struct pb_cfg_ctx *c, const config_setting_t *g, const char *owner,
    bool sink, struct pb_jetstream_cfg **out)
{
	static const char *const keys[] = { "servers", "creds_file", "token_file", "tls_ca",
		"stream", "subject_prefix", "replicas", "create", "batch_kb", "batch_ms",
		"window", "max_streams", "stream_idle_s", "durable", "fetch", NULL };
	static const char *const sink_keys[] = { "batch_kb", "batch_ms", "window", "max_streams",
		"stream_idle_s", NULL };
	static const char *const source_keys[] = { "durable", "fetch", NULL };
	struct pb_jetstream_cfg *js = calloc(1, sizeof(*js));

	*out = js;
	if (js == NULL) {
		pb_cfg_error(c, g, "out of memory");
		return;
	}
	if (!config_setting_is_group(g)) {
		pb_cfg_error(c, g, "expected a group { servers = [...]; stream = ...; }");
		return;
	}
	js->line = config_setting_source_line(g);
	snprintf(js->stream, sizeof(js->stream), "PB");
	snprintf(js->subject_prefix, sizeof(js->subject_prefix), "pb");
	snprintf(js->durable, sizeof(js->durable), "%s", owner);
	js->replicas = 1;
	js->create = true;
	js->batch_bytes = 256u << 10;
	js->batch_ms = 5;
	js->window = 64;
	js->max_streams = 4096;
	js->stream_idle_s = 300;
	js->fetch = 64;
	pb_cfg_check_keys(c, g, keys);
	for (const char *const *k = sink ? source_keys : sink_keys; *k; k++) {
		const config_setting_t *s = config_setting_get_member(g, *k);
		if (s)
			pb_cfg_error(c, s, "only applies to a jetstream %s", sink ? "capture" :
			    "dump");
	}
	cfg_js_servers(c, g, js);
	cfg_js_readable(c, g, "creds_file", js->creds_file, sizeof(js->creds_file));
	cfg_js_token(c, g, js);
	if (js->creds_file[0] && js->token_file[0])
		pb_cfg_error(c, g, "both creds_file and token_file given: choose one");
	cfg_js_readable(c, g, "tls_ca", js->tls_ca, sizeof(js->tls_ca));
	/* Stream and consumer names become subjects of the JetStream API. */
	if (pb_cfg_name(c, g, "stream", js->stream, sizeof(js->stream)) == 1 &&
	    strchr(js->stream, '.'))
		pb_cfg_error(c, config_setting_get_member(g, "stream"),
		    "\"%s\": a stream name cannot contain '.'", js->stream);
	if (pb_cfg_string(c, g, "subject_prefix", js->subject_prefix,
	    sizeof(js->subject_prefix)) == 1 && !cfg_js_prefix_ok(js->subject_prefix))
		pb_cfg_error(c, config_setting_get_member(g, "subject_prefix"),
		    "\"%s\": subject tokens separated by '.', no space, '*' or '>'",
		    js->subject_prefix);
	pb_cfg_u32(c, g, "replicas", 1, 5, &js->replicas);
	pb_cfg_bool(c, g, "create", &js->create);
	uint32_t kb;
	/* The server's max_payload (1 MiB by default, 64 MiB at most) is
	 * checked once connected. */
	if (pb_cfg_u32(c, g, "batch_kb", 1, 65536, &kb) == 1)
		js->batch_bytes = kb << 10;
	pb_cfg_u32(c, g, "batch_ms", 1, 10000, &js->batch_ms);
	pb_cfg_u32(c, g, "window", 1, 4096, &js->window);
	pb_cfg_u32(c, g, "max_streams", 1, 1048576, &js->max_streams);
	pb_cfg_u32(c, g, "stream_idle_s", 1, 86400, &js->stream_idle_s);
	if (pb_cfg_name(c, g, "durable", js->durable, sizeof(js->durable)) == 1 &&
	    strchr(js->durable, '.'))
		pb_cfg_error(c, config_setting_get_member(g, "durable"),
		    "\"%s\": a consumer name cannot contain '.'", js->durable);
	if (!sink && strchr(js->durable, '.') && !config_setting_get_member(g, "durable"))
		pb_cfg_error(c, g, "the capture name \"%s\" contains '.', which a consumer name "
		    "cannot: set 'durable'", owner);
	pb_cfg_u32(c, g, "fetch", 1, 4096, &js->fetch);
#ifndef HAVE_LIBNATS
	pb_cfg_error(c, g, "this packetbrokerd was built without libnats: no jetstream %s "
	    "(install libnats-dev and rebuild)", sink ? "dump" : "capture");
#endif
}

void
pb_cfg_jetstream_free(struct pb_jetstream_cfg *js)
{
	if (js)
		explicit_bzero(js->token, sizeof(js->token));
	free(js);
}
