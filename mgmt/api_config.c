/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "api_internal.h"
#include "config.h"
#include "trailer.h"

/*
 * GET /api/v1/config: the configuration the node runs with, as JSON keyed
 * like the configuration file (docs/configuration.md). Rendered once at
 * start: the configuration never changes while the daemon runs. Secrets
 * (tokens, keys, the PSK) are never shown: a key file's path is, and the
 * secret itself reads "<redacted>" when one is loaded.
 */

#define PB_API_REDACTED "<redacted>"

/* A failed set poisons the whole render: checked once at the end. */
struct pb_api_cfgjs {
	bool failed;
};

static void
cj_set(struct pb_api_cfgjs *st, json_t *obj, const char *key, json_t *val)
{
	if (obj == NULL) {
		json_decref(val);
		st->failed = true;
	} else if (pb_api_set(obj, key, val) < 0) {
		st->failed = true;
	}
}

static void
cj_str(struct pb_api_cfgjs *st, json_t *obj, const char *key, const char *v)
{
	cj_set(st, obj, key, v != NULL && v[0] != '\0' ? pb_api_json_string(v) : json_null());
}

/* A secret: "<redacted>" when set, null when not. */
static void
cj_secret(struct pb_api_cfgjs *st, json_t *obj, const char *key, bool set)
{
	cj_set(st, obj, key, set ? json_string(PB_API_REDACTED) : json_null());
}

static json_t *
cj_capture(struct pb_api_cfgjs *st, const struct pb_capture_cfg *c)
{
	static const char *const rates[] = { "max", "original", "pps" };
	json_t *o = json_object(), *tr = json_array();

	for (size_t i = 0; tr != NULL && i < c->ntrailers; i++) {
		json_t *t = json_object();

		cj_str(st, t, "type", pb_trailer_type_name(c->trailers[i].type));
		if (c->trailers[i].length != 0)
			cj_set(st, t, "length", json_integer(c->trailers[i].length));
		if (t == NULL || json_array_append_new(tr, t) < 0)
			st->failed = true;
	}
	cj_str(st, o, "name", c->name);
	cj_str(st, o, "description", c->description);
	if (c->is_file) {
		cj_str(st, o, "file", c->file);
		cj_str(st, o, "rate", c->rate < 3 ? rates[c->rate] : "max");
		if (c->rate == PB_RATE_PPS)
			cj_set(st, o, "pps", json_real(c->pps));
		cj_set(st, o, "loop", json_integer(c->loop));
	} else {
		cj_str(st, o, "interface", c->interface);
		cj_set(st, o, "buffer_mb", json_integer(c->buffer_mb));
		cj_set(st, o, "timeout_ms", json_integer(c->timeout_ms));
		cj_set(st, o, "promisc", json_boolean(c->promisc));
	}
	cj_str(st, o, "filter", c->filter);
	cj_set(st, o, "fcs", json_boolean(c->fcs));
	cj_set(st, o, "max_frame", json_integer(c->max_frame));
	cj_set(st, o, "trailers", tr);
	return o;
}

static json_t *
cj_dump(struct pb_api_cfgjs *st, const struct pb_dump_cfg *d)
{
	json_t *o = json_object();

	cj_str(st, o, "name", d->name);
	if (d->kind == PB_DUMP_IFACE) {
		cj_str(st, o, "interface", d->interface);
		return o;
	}
	cj_str(st, o, "file", d->file);
	cj_str(st, o, "format", d->format == PB_FORMAT_PCAP ? "pcap" : "pcapng");
	cj_set(st, o, "rotate_bytes", pb_api_json_u64(d->rotate_bytes));
	cj_set(st, o, "rotate_seconds", json_integer(d->rotate_seconds));
	cj_set(st, o, "max_files", json_integer(d->max_files));
	cj_set(st, o, "max_total_bytes", pb_api_json_u64(d->max_total_bytes));
	cj_set(st, o, "buffer_mb", json_integer(d->buffer_mb));
	cj_set(st, o, "fsync", json_boolean(d->fsync));
	return o;
}

static json_t *
cj_api(struct pb_api_cfgjs *st, const struct pb_api_cfg *a)
{
	json_t *o = json_object(), *hosts = json_array(), *origins = json_array();
	char buf[PB_API_HOST_MAX + 32];

	for (size_t i = 0; hosts != NULL && i < a->nallowed_hosts; i++) {
		const struct pb_api_host *h = &a->allowed_hosts[i];

		snprintf(buf, sizeof(buf), strchr(h->host, ':') != NULL ? "[%s]" : "%s", h->host);
		if (h->port != 0)
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), ":%u", h->port);
		if (json_array_append_new(hosts, pb_api_json_string(buf)) < 0)
			st->failed = true;
	}
	for (size_t i = 0; origins != NULL && i < a->nallowed_origins; i++) {
		const struct pb_api_origin *og = &a->allowed_origins[i];

		snprintf(buf, sizeof(buf), strchr(og->at.host, ':') != NULL ?
		    "%s://[%s]:%u" : "%s://%s:%u", og->https ? "https" : "http", og->at.host,
		    og->at.port);
		if (json_array_append_new(origins, pb_api_json_string(buf)) < 0)
			st->failed = true;
	}
	snprintf(buf, sizeof(buf), strchr(a->address, ':') != NULL ? "[%s]:%u" : "%s:%u",
	    a->address, a->port);
	cj_set(st, o, "enabled", json_boolean(a->enabled));
	cj_str(st, o, "listen", buf);
	cj_set(st, o, "max_connections", json_integer(a->max_connections));
	cj_set(st, o, "max_connections_per_ip", json_integer(a->max_connections_per_ip));
	cj_set(st, o, "timeout", json_integer(a->timeout_s));
	cj_set(st, o, "header_timeout", json_integer(a->header_timeout_s));
	cj_str(st, o, "token_file", a->token_file);
	cj_secret(st, o, "token", a->token_len > 0);
	cj_str(st, o, "read_token_file", a->read_token_file);
	cj_secret(st, o, "read_token", a->read_token_len > 0);
	cj_str(st, o, "tls_cert", a->tls_cert);
	cj_str(st, o, "tls_key", a->tls_key);
	cj_set(st, o, "rate_limit", json_real(a->rate_limit));
	cj_set(st, o, "rate_burst", a->rate_limit > 0 ? json_integer(a->rate_burst) :
	    json_null());
	cj_set(st, o, "allowed_hosts", hosts);
	cj_set(st, o, "allowed_origins", origins);
	return o;
}

static json_t *
cj_endpoints(struct pb_api_cfgjs *st, const struct pb_endpoint_cfg *e, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr != NULL && i < n; i++) {
		json_t *o = json_object();

		cj_str(st, o, "name", e[i].name);
		cj_str(st, o, "address", e[i].address);
		cj_set(st, o, "port", json_integer(e[i].port));
		cj_set(st, o, "node", e[i].node_id != 0 ? json_integer(e[i].node_id) :
		    json_null());
		if (o == NULL || json_array_append_new(arr, o) < 0)
			st->failed = true;
	}
	return arr;
}

static json_t *
cj_tunnel_auth(struct pb_api_cfgjs *st, const struct pb_tunnel_cfg *t)
{
	json_t *o = json_object();

	cj_str(st, o, "keyring", t->auth.keyring_file);
	cj_set(st, o, "keyring_keys", json_integer((json_int_t)t->auth.keyring.n));
	cj_str(st, o, "psk_file", t->auth.psk_file);
	cj_secret(st, o, "psk", t->auth.psk_len > 0);
	cj_set(st, o, "shared_psk", json_boolean(t->auth.shared_psk));
	cj_set(st, o, "allow_unauthenticated", json_boolean(t->auth.allow_unauthenticated));
	cj_str(st, o, "tls_cert", t->auth.tls_cert);
	cj_str(st, o, "tls_key", t->auth.tls_key);
	cj_str(st, o, "tls_ca", t->auth.tls_ca);
	return o;
}

static void
cj_tunnel(struct pb_api_cfgjs *st, json_t *root, const struct pb_tunnel_cfg *t)
{
	json_t *listen = NULL, *cons = json_array(), *o;

	if (t->listen.enabled) {
		char buf[160];

		listen = json_object();
		snprintf(buf, sizeof(buf), strchr(t->listen.address, ':') != NULL ?
		    "[%s]:%u" : "%s:%u", t->listen.address, t->listen.port);
		cj_str(st, listen, "address", buf);
		cj_set(st, listen, "accept_undeclared_consumers",
		    json_boolean(t->listen.accept_undeclared_consumers));
		cj_set(st, listen, "max_handshakes", json_integer(t->listen.max_handshakes));
		cj_set(st, listen, "max_handshakes_per_ip",
		    json_integer(t->listen.max_handshakes_per_ip));
	}
	cj_set(st, root, "listen", listen != NULL ? listen : json_null());
	cj_set(st, root, "peers", cj_endpoints(st, t->peers, t->npeers));
	cj_set(st, root, "upstreams", cj_endpoints(st, t->upstreams, t->nupstreams));
	for (size_t i = 0; cons != NULL && i < t->nconsumers; i++) {
		json_t *c = json_object();

		cj_str(st, c, "name", t->consumers[i].name);
		cj_set(st, c, "node", json_integer(t->consumers[i].node_id));
		if (c == NULL || json_array_append_new(cons, c) < 0)
			st->failed = true;
	}
	cj_set(st, root, "consumers", cons);
	cj_set(st, root, "auth", cj_tunnel_auth(st, t));
	o = json_object();
	cj_set(st, o, "timeout", json_real(t->resend.timeout_s));
	cj_set(st, o, "buffer_bytes", pb_api_json_u64(t->resend.buffer_bytes));
	cj_set(st, root, "resend", o);
	o = json_object();
	cj_str(st, o, "path", t->dlq.path);
	cj_set(st, o, "max_bytes", pb_api_json_u64(t->dlq.max_bytes));
	cj_set(st, o, "auto_replay", json_boolean(t->dlq.auto_replay));
	cj_set(st, o, "replay_rate", json_real(t->dlq.replay_rate));
	cj_set(st, root, "dlq", o);
	o = json_object();
	cj_set(st, o, "local_capture", json_boolean(t->forward.local_capture));
	cj_set(st, o, "remote_capture", json_boolean(t->forward.remote_capture));
	cj_set(st, root, "forward", o);
	o = json_object();
	cj_set(st, o, "every", json_integer(t->ack.every));
	cj_set(st, o, "ms", json_integer(t->ack.ms));
	cj_set(st, root, "ack", o);
	o = json_object();
	cj_set(st, o, "max_nodes", json_integer(t->limits.max_nodes));
	cj_set(st, o, "max_sources", json_integer(t->limits.max_sources));
	cj_set(st, o, "max_nodes_per_link", json_integer(t->limits.max_nodes_per_link));
	cj_set(st, o, "max_sources_per_link", json_integer(t->limits.max_sources_per_link));
	cj_set(st, o, "max_streams", json_integer(t->limits.max_streams));
	cj_set(st, root, "limits", o);
	cj_set(st, root, "handshake_timeout", json_real(t->handshake_timeout_s));
	cj_set(st, root, "heartbeat", json_real(t->heartbeat_s));
	cj_set(st, root, "dead_after", json_real(t->dead_after_s));
	cj_set(st, root, "slow_after", json_real(t->slow_after_s));
	cj_set(st, root, "max_hops", json_integer(t->max_hops));
	cj_str(st, root, "state_dir", t->state_dir);
}

json_t *
pb_api_config_render(const struct pb_config *cfg)
{
	struct pb_api_cfgjs st = { false };
	json_t *root = json_object(), *node = json_object(), *caps = json_array();
	json_t *dumps = json_array(), *log = json_object();

	cj_str(&st, root, "file", cfg->path);
	cj_set(&st, node, "id", json_integer(cfg->node.id));
	cj_str(&st, node, "name", cfg->node.name);
	cj_str(&st, node, "description", cfg->node.description);
	cj_set(&st, root, "node", node);
	for (size_t i = 0; caps != NULL && i < cfg->ncaptures; i++)
		if (json_array_append_new(caps, cj_capture(&st, &cfg->captures[i])) < 0)
			st.failed = true;
	cj_set(&st, root, "captures", caps);
	for (size_t i = 0; dumps != NULL && i < cfg->ndumps; i++)
		if (json_array_append_new(dumps, cj_dump(&st, &cfg->dumps[i])) < 0)
			st.failed = true;
	cj_set(&st, root, "dump", dumps);
	cj_set(&st, root, "api", cj_api(&st, &cfg->api));
	cj_tunnel(&st, root, &cfg->tunnel);
	cj_str(&st, log, "debug", cfg->log.debug);
	cj_set(&st, log, "syslog", json_boolean(cfg->log.syslog));
	cj_set(&st, root, "log", log);
	if (st.failed) {
		json_decref(root);
		return NULL;
	}
	return root;
}

/* GET /api/v1/config */
unsigned int
pb_api_get_config(const struct pb_api_req *req, json_t **body)
{
	if (req->api->config_json == NULL) {
		*body = pb_api_error("no configuration file: the API was started without one");
		return MHD_HTTP_NOT_FOUND;
	}
	/* A copy: handlers never share a value another thread may be dumping. */
	*body = json_deep_copy(req->api->config_json);
	return *body != NULL ? MHD_HTTP_OK : MHD_HTTP_INTERNAL_SERVER_ERROR;
}
