/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "config_int.h"
#include "record.h"

/*
 * Configuration of the node-to-node tunnel: the top-level keys listen,
 * peers, upstreams, consumers, auth, resend, dlq, forward, ack, heartbeat,
 * max_hops and state_dir. Same rules as config.c: every problem is reported
 * with its file:line and parsing goes on.
 */

/* Makefile.am passes $(localstatedir); a bare compile still builds. */
#ifndef PB_LOCALSTATEDIR
#define PB_LOCALSTATEDIR "/var"
#endif

#define CFG_TUNNEL_PORT 7152

/* An integer or a float: `timeout = 30;` is as good as `timeout = 30.0;`. */
int
pb_cfg_number(struct pb_cfg_ctx *c, const config_setting_t *g, const char *key, double min,
    double max, double *out)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	int type;
	double v;

	if (s == NULL)
		return 0;
	type = config_setting_type(s);
	if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64) {
		v = (double)config_setting_get_int64(s);
	} else if (type == CONFIG_TYPE_FLOAT) {
		v = config_setting_get_float(s);
	} else {
		pb_cfg_error(c, s, "expected a number, got %s", pb_cfg_type_name(s));
		return -1;
	}
	if (!isfinite(v) || v < min || v > max) {
		pb_cfg_error(c, s, "%.15g is out of range %.15g..%.15g", v, min, max);
		return -1;
	}
	*out = v;
	return 1;
}

bool
pb_cfg_is_loopback(const char *addr)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (inet_pton(AF_INET, addr, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, addr, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		    (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return false;
}

/* RFC 1123 host name syntax; NULL when fine, else what is wrong. Only the
 * syntax: names are resolved when the tunnel dials, not at load time. */
static const char *
cfg_hostname_error(const char *h)
{
	size_t n = strlen(h), i, label = 0;

	if (n > 0 && h[n - 1] == '.')
		n--;                 /* fully qualified: "example.com." */
	if (n > 253)
		return "a host name has at most 253 characters";
	for (i = 0; i <= n; i++) {
		char ch = i < n ? h[i] : '.';

		if (ch == '.') {
			if (label == 0)
				return "empty label in host name";
			if (h[i - 1] == '-')
				return "a host name label must not end with '-'";
			label = 0;
			continue;
		}
		if (label == 0 && ch == '-')
			return "a host name label must not start with '-'";
		if (++label > 63)
			return "a host name label has at most 63 characters";
		if (!(ch >= 'a' && ch <= 'z') && !(ch >= 'A' && ch <= 'Z') &&
		    !(ch >= '0' && ch <= '9') && ch != '-')
			return "a host name has only letters, digits, '-' and '.'";
	}
	return NULL;
}

/* Checks host as an address: host names allowed unless ip_only. s is
 * where errors go; listed: it is an `addresses` entry (port written in). */
static int
cfg_host_check(struct pb_cfg_ctx *c, const config_setting_t *s, const char *tmp,
    bool ip_only, bool listed)
{
	unsigned char bin[sizeof(struct in6_addr)];
	const char *why, *last;
	size_t n;

	if (inet_pton(AF_INET, tmp, bin) == 1 || inet_pton(AF_INET6, tmp, bin) == 1)
		return 1;
	if (tmp[0] == '\0') {
		pb_cfg_error(c, s, "must not be empty");
		return -1;
	}
	if (tmp[0] == '[' && !listed) {
		pb_cfg_error(c, s, "\"%s\": write IPv6 addresses without brackets (the port"
		    " is the separate key 'port')", tmp);
		return -1;
	}
	if (strchr(tmp, ':') != NULL) {
		pb_cfg_error(c, s, "\"%s\" is not a valid IPv6 address%s", tmp, listed ? "" :
		    " (the port is the separate key 'port')");
		return -1;
	}
	if (ip_only) {
		pb_cfg_error(c, s, "\"%s\" is not a numeric IPv4 or IPv6 address", tmp);
		return -1;
	}
	if (tmp[strspn(tmp, "0123456789.")] == '\0') {
		pb_cfg_error(c, s, "\"%s\" is not a valid IPv4 address", tmp);
		return -1;
	}
	if ((why = cfg_hostname_error(tmp)) != NULL) {
		pb_cfg_error(c, s, "\"%s\" is neither an IP address nor a host name: %s", tmp,
		    why);
		return -1;
	}
	/* RFC 1123 2.1: so that a name never looks like an IPv4 address. */
	n = strlen(tmp) - (tmp[strlen(tmp) - 1] == '.');
	for (last = tmp + n; last > tmp && last[-1] != '.'; last--)
		;
	if (strspn(last, "0123456789") >= (size_t)(tmp + n - last)) {
		pb_cfg_error(c, s, "\"%s\" is neither an IP address nor a host name: the last"
		    " label of a host name is not all digits", tmp);
		return -1;
	}
	return 1;
}

/* Checks the `address` member of g; host names allowed unless ip_only.
 * Returns like the getters, buf is written only when valid. */
static int
cfg_address(struct pb_cfg_ctx *c, const config_setting_t *g, bool ip_only, char *buf,
    size_t len)
{
	char tmp[128];
	int r = pb_cfg_string(c, g, "address", tmp, sizeof(tmp) < len ? sizeof(tmp) : len);

	if (r != 1)
		return r;
	if (cfg_host_check(c, config_setting_get_member(g, "address"), tmp, ip_only,
	    false) != 1)
		return -1;
	memcpy(buf, tmp, strlen(tmp) + 1);
	return 1;
}

/* One `addresses` entry: "host", "host:port", "[v6]" or "[v6]:port". */
static int
cfg_hostport(struct pb_cfg_ctx *c, const config_setting_t *s, const char *v,
    struct pb_hostport *out)
{
	const char *colon, *end;
	char host[sizeof(out->host)];
	unsigned long port = CFG_TUNNEL_PORT;
	bool bracketed = v[0] == '[';
	size_t hl;

	if (bracketed) {
		end = strchr(v, ']');
		if (end == NULL || (end[1] != '\0' && end[1] != ':')) {
			pb_cfg_error(c, s, "\"%s\": expected \"[IPv6]\" or \"[IPv6]:port\"", v);
			return -1;
		}
		hl = (size_t)(end - v - 1);
		colon = end[1] == ':' ? end + 1 : NULL;
		v++;
	} else {
		colon = strchr(v, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			pb_cfg_error(c, s, "\"%s\": write an IPv6 address in brackets, as in"
			    " \"[2001:db8::1]:7152\"", v);
			return -1;
		}
		hl = colon != NULL ? (size_t)(colon - v) : strlen(v);
	}
	if (hl >= sizeof(host)) {
		pb_cfg_error(c, s, "host too long (%zu bytes, at most %zu)", hl, sizeof(host) - 1);
		return -1;
	}
	memcpy(host, v, hl);
	host[hl] = '\0';
	if (colon != NULL) {
		char *e;

		errno = 0;
		port = strtoul(colon + 1, &e, 10);
		if (colon[1] < '0' || colon[1] > '9' || *e != '\0' || errno != 0 || port < 1 ||
		    port > 65535) {
			pb_cfg_error(c, s, "\"%s\": the port is a number 1..65535", colon + 1);
			return -1;
		}
	}
	if (bracketed && strchr(host, ':') == NULL) {
		pb_cfg_error(c, s, "\"%s\": only IPv6 addresses go in brackets", host);
		return -1;
	}
	if (cfg_host_check(c, s, host, false, true) != 1)
		return -1;
	memcpy(out->host, host, hl + 1);
	out->port = (uint16_t)port;
	return 1;
}

/* `addresses = [ "a:port", ... ]`: the tier one peer entry dials in order. */
static void
cfg_addresses(struct pb_cfg_ctx *c, const config_setting_t *s, struct pb_endpoint_cfg *ep)
{
	int n = config_setting_is_aggregate(s) ? config_setting_length(s) : -1;

	if (n < 0 || config_setting_is_group(s)) {
		pb_cfg_error(c, s, "expected a list of \"host:port\" strings, got %s",
		    pb_cfg_type_name(s));
		return;
	}
	if (n == 0 || n > PB_MAX_ADDRESSES) {
		pb_cfg_error(c, s, "%d addresses: give 1 to %d", n, PB_MAX_ADDRESSES);
		return;
	}
	for (int k = 0; k < n; k++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)k);
		struct pb_hostport *hp = &ep->addrs[ep->naddrs];
		const char *v;

		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			pb_cfg_error(c, e, "expected a \"host:port\" string, got %s",
			    pb_cfg_type_name(e));
			continue;
		}
		v = config_setting_get_string(e);
		if (cfg_hostport(c, e, v, hp) != 1)
			continue;
		for (size_t i = 0; i < ep->naddrs; i++)
			if (strcasecmp(ep->addrs[i].host, hp->host) == 0 &&
			    ep->addrs[i].port == hp->port) {
				pb_cfg_error(c, e, "\"%s\" is listed twice", v);
				hp = NULL;
				break;
			}
		if (hp != NULL)
			ep->naddrs++;
	}
}

static void
cfg_port(struct pb_cfg_ctx *c, const config_setting_t *g, uint16_t *port)
{
	uint32_t p = CFG_TUNNEL_PORT;

	pb_cfg_u32(c, g, "port", 1, 65535, &p);
	*port = (uint16_t)p;
}

static void
cfg_listen(struct pb_cfg_ctx *c, const config_setting_t *root, struct pb_tunnel_cfg *t)
{
	static const char *const keys[] = { "address", "port", "accept_undeclared_consumers",
		"max_handshakes", "max_handshakes_per_ip", NULL };
	const config_setting_t *g = pb_cfg_section(c, root, "listen", keys);

	snprintf(t->listen.address, sizeof(t->listen.address), "0.0.0.0");
	t->listen.port = CFG_TUNNEL_PORT;
	t->listen.max_handshakes = 64;
	t->listen.max_handshakes_per_ip = 8;
	if (g == NULL)
		return;
	t->listen.enabled = true;
	t->listen.line = config_setting_source_line(g);
	cfg_address(c, g, true, t->listen.address, sizeof(t->listen.address));
	cfg_port(c, g, &t->listen.port);
	pb_cfg_bool(c, g, "accept_undeclared_consumers", &t->listen.accept_undeclared_consumers);
	pb_cfg_u32(c, g, "max_handshakes", 1, 65536, &t->listen.max_handshakes);
	pb_cfg_u32(c, g, "max_handshakes_per_ip", 1, 65536, &t->listen.max_handshakes_per_ip);
	if (t->listen.max_handshakes_per_ip > t->listen.max_handshakes)
		pb_cfg_error(c, config_setting_get_member(g, "max_handshakes_per_ip"),
		    "%u is above max_handshakes (%u)", t->listen.max_handshakes_per_ip,
		    t->listen.max_handshakes);
}

static void
cfg_endpoint(struct pb_cfg_ctx *c, const config_setting_t *g, struct pb_endpoint_cfg *ep)
{
	static const char *const keys[] = { "name", "address", "port", "addresses", "node",
		NULL };
	const config_setting_t *list = config_setting_get_member(g, "addresses");

	ep->line = config_setting_source_line(g);
	pb_cfg_check_keys(c, g, keys);
	pb_cfg_u32(c, g, "node", 1, UINT32_MAX, &ep->node_id);
	if (pb_cfg_name(c, g, "name", ep->name, sizeof(ep->name)) == 0)
		pb_cfg_error(c, g, "missing required key 'name'");
	if (list != NULL) {
		if (config_setting_get_member(g, "address") != NULL ||
		    config_setting_get_member(g, "port") != NULL) {
			pb_cfg_error(c, list, "give either 'address' (and 'port') or 'addresses'"
			    " (\"host:port\" each), not both");
			return;
		}
		cfg_addresses(c, list, ep);
		if (ep->naddrs > 0) {
			memcpy(ep->address, ep->addrs[0].host, sizeof(ep->address));
			ep->port = ep->addrs[0].port;
		}
		return;
	}
	if (cfg_address(c, g, false, ep->address, sizeof(ep->address)) == 0)
		pb_cfg_error(c, g, "missing required key 'address'");
	cfg_port(c, g, &ep->port);
	if (ep->address[0] != '\0') {
		memcpy(ep->addrs[0].host, ep->address, sizeof(ep->addrs[0].host));
		ep->addrs[0].port = ep->port;
		ep->naddrs = 1;
	}
}

/* The line of the entry before ep in list that dials one of ep's
 * addresses (a, which), or 0. */
static int
cfg_addr_taken(const struct pb_endpoint_cfg *list, size_t count,
    const struct pb_endpoint_cfg *ep, size_t *which, size_t *a)
{
	for (size_t i = 0; i < count; i++)
		for (size_t j = 0; j < list[i].naddrs; j++)
			for (size_t k = 0; k < ep->naddrs; k++)
				if (strcasecmp(list[i].addrs[j].host, ep->addrs[k].host) == 0 &&
				    list[i].addrs[j].port == ep->addrs[k].port) {
					*which = i;
					*a = k;
					return list[i].line;
				}
	return 0;
}

/* Names are unique across peers, upstreams and consumers: the API and the
 * logs name a link by it alone. Returns the line of the first use, or 0. */
static int
cfg_name_line(const struct pb_tunnel_cfg *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->npeers; i++)
		if (strcmp(t->peers[i].name, name) == 0)
			return t->peers[i].line;
	for (i = 0; i < t->nupstreams; i++)
		if (strcmp(t->upstreams[i].name, name) == 0)
			return t->upstreams[i].line;
	for (i = 0; i < t->nconsumers; i++)
		if (strcmp(t->consumers[i].name, name) == 0)
			return t->consumers[i].line;
	return 0;
}

static void
cfg_name_unique(struct pb_cfg_ctx *c, const config_setting_t *g,
    const struct pb_tunnel_cfg *t, const char *name)
{
	int first;

	if (name[0] != '\0' && (first = cfg_name_line(t, name)) != 0)
		pb_cfg_error(c, config_setting_get_member(g, "name"), "duplicate name \"%s\""
		    " (first at line %d; names are unique across peers, upstreams and"
		    " consumers)", name, first);
}

/* `peers` or `upstreams`: one group or a list of groups. */
static void
cfg_endpoints(struct pb_cfg_ctx *c, const config_setting_t *root, const char *key,
    struct pb_tunnel_cfg *t, struct pb_endpoint_cfg **list, size_t *count)
{
	const config_setting_t *s = config_setting_get_member(root, key);
	size_t i, a;
	int n, k;

	if (s == NULL || (n = pb_cfg_group_list(c, s, PB_MAX_PEERS, key)) <= 0)
		return;
	*list = calloc((size_t)n, sizeof(**list));
	if (*list == NULL) {
		pb_cfg_error(c, s, "out of memory");
		return;
	}
	for (k = 0; k < n; k++) {
		const config_setting_t *e = pb_cfg_elem(c, s, k);
		struct pb_endpoint_cfg *ep = &(*list)[*count];

		if (e == NULL)
			continue;
		cfg_endpoint(c, e, ep);
		cfg_name_unique(c, e, t, ep->name);
		/* Two links to one node would carry every record twice. */
		if (cfg_addr_taken(*list, *count, ep, &i, &a) != 0)
			pb_cfg_error(c, e, "%s:%u is already \"%s\" (line %d)", ep->addrs[a].host,
			    (unsigned)ep->addrs[a].port, (*list)[i].name, (*list)[i].line);
		(*count)++;
	}
}

/* `consumers`: nodes that dial our `listen` to receive records. Declared so
 * that their records are kept (resend buffer, then DLQ) before they first
 * connect; the node id is how a connection is matched to its entry. */
static void
cfg_consumers(struct pb_cfg_ctx *c, const config_setting_t *root, uint32_t self,
    struct pb_tunnel_cfg *t)
{
	static const char *const keys[] = { "name", "node", NULL };
	const config_setting_t *s = config_setting_get_member(root, "consumers");
	size_t i;
	int n, k;

	if (s == NULL || (n = pb_cfg_group_list(c, s, PB_MAX_PEERS, "consumers")) <= 0)
		return;
	/* A listen group that is there but broken was reported already. */
	if (config_setting_get_member(root, "listen") == NULL)
		pb_cfg_error(c, s, "consumers dial this node: configure 'listen' too");
	t->consumers = calloc((size_t)n, sizeof(*t->consumers));
	if (t->consumers == NULL) {
		pb_cfg_error(c, s, "out of memory");
		return;
	}
	for (k = 0; k < n; k++) {
		const config_setting_t *e = pb_cfg_elem(c, s, k);
		struct pb_consumer_cfg *cc = &t->consumers[t->nconsumers];
		int r;

		if (e == NULL)
			continue;
		cc->line = config_setting_source_line(e);
		pb_cfg_check_keys(c, e, keys);
		if (pb_cfg_name(c, e, "name", cc->name, sizeof(cc->name)) == 0)
			pb_cfg_error(c, e, "missing required key 'name'");
		cfg_name_unique(c, e, t, cc->name);
		r = pb_cfg_u32(c, e, "node", 1, UINT32_MAX, &cc->node_id);
		if (r == 0)
			pb_cfg_error(c, e, "missing required key 'node'");
		if (r != 1) {
			cc->node_id = 0;
		} else if (cc->node_id == self) {
			pb_cfg_error(c, config_setting_get_member(e, "node"), "%u is this"
			    " node's own node.id", cc->node_id);
		} else {
			/* One entry per node: a connection is matched by its id. */
			for (i = 0; i < t->nconsumers; i++)
				if (t->consumers[i].node_id == cc->node_id)
					pb_cfg_error(c, config_setting_get_member(e, "node"),
					    "node %u is already consumer \"%s\" (line %d)",
					    cc->node_id, t->consumers[i].name, t->consumers[i].line);
		}
		t->nconsumers++;
	}
}

static void
cfg_resend(struct pb_cfg_ctx *c, const config_setting_t *root, struct pb_tunnel_cfg *t)
{
	static const char *const keys[] = { "timeout", "buffer_mb", "window_mb", NULL };
	const config_setting_t *g = pb_cfg_section(c, root, "resend", keys);
	uint64_t mb = 256, win = 8;

	t->resend.timeout_s = 30.0;
	if (g != NULL) {
		pb_cfg_number(c, g, "timeout", 0.1, 86400, &t->resend.timeout_s);
		pb_cfg_uint(c, g, "buffer_mb", 1, 65536, &mb);
		pb_cfg_uint(c, g, "window_mb", 1, 65536, &win);
	}
	t->resend.buffer_bytes = mb * PB_CFG_MB;
	/* Larger than 3/4 of the buffer is not an error: the buffer caps it
	 * (sender_window), so raising buffer_mb alone keeps working. */
	t->resend.window_bytes = win * PB_CFG_MB;
}

static void
cfg_dlq(struct pb_cfg_ctx *c, const config_setting_t *root, struct pb_tunnel_cfg *t)
{
	static const char *const keys[] = { "path", "max_mb", "auto_replay", "replay_rate",
		NULL };
	const config_setting_t *g = pb_cfg_section(c, root, "dlq", keys);
	uint64_t mb = 4096;
	int r;

	t->dlq.replay_rate = 100000;
	if (g != NULL) {
		r = pb_cfg_file(c, g, "path", t->dlq.path, sizeof(t->dlq.path), true);
		if (r == 1 && t->dlq.path[strlen(t->dlq.path) - 1] == '/')
			pb_cfg_error(c, config_setting_get_member(g, "path"),
			    "names a directory, expected a database file name");
		pb_cfg_uint(c, g, "max_mb", 1, 1048576, &mb);
		pb_cfg_bool(c, g, "auto_replay", &t->dlq.auto_replay);
		pb_cfg_number(c, g, "replay_rate", 1, 1e8, &t->dlq.replay_rate);
		if (t->dlq.auto_replay && r == 0)
			pb_cfg_error(c, config_setting_get_member(g, "auto_replay"),
			    "needs dlq.path: without a DLQ there is nothing to replay");
	}
	t->dlq.max_bytes = mb * PB_CFG_MB;
}

static void
cfg_forward_ack(struct pb_cfg_ctx *c, const config_setting_t *root,
    struct pb_tunnel_cfg *t)
{
	static const char *const fkeys[] = { "local_capture", "remote_capture", NULL };
	static const char *const akeys[] = { "every", "ms", NULL };
	const config_setting_t *g = pb_cfg_section(c, root, "forward", fkeys);

	t->forward.local_capture = true;
	t->forward.remote_capture = true;
	if (g != NULL) {
		pb_cfg_bool(c, g, "local_capture", &t->forward.local_capture);
		pb_cfg_bool(c, g, "remote_capture", &t->forward.remote_capture);
	}
	g = pb_cfg_section(c, root, "ack", akeys);
	t->ack.every = 256;
	t->ack.ms = 5;
	if (g != NULL) {
		pb_cfg_u32(c, g, "every", 1, 65536, &t->ack.every);
		pb_cfg_u32(c, g, "ms", 1, 10000, &t->ack.ms);
	}
}

static void
cfg_heartbeat(struct pb_cfg_ctx *c, const config_setting_t *root, struct pb_tunnel_cfg *t)
{
	static const char *const keys[] = { "interval", "dead_after", "slow_after", NULL };
	const config_setting_t *g = pb_cfg_section(c, root, "heartbeat", keys);
	const config_setting_t *where;
	int ri, rd;

	t->heartbeat_s = 1.0;
	t->dead_after_s = 5.0;
	t->slow_after_s = 3.0;
	if (g == NULL)
		return;
	ri = pb_cfg_number(c, g, "interval", 0.05, 60, &t->heartbeat_s);
	rd = pb_cfg_number(c, g, "dead_after", 0.05, 3600, &t->dead_after_s);
	pb_cfg_number(c, g, "slow_after", 0.1, 3600, &t->slow_after_s);
	/* At least one heartbeat must be able to arrive before "dead". */
	if (ri >= 0 && rd >= 0 && t->dead_after_s <= t->heartbeat_s) {
		where = config_setting_get_member(g, rd == 1 ? "dead_after" : "interval");
		pb_cfg_error(c, where, "dead_after (%.15g s%s) must be greater than interval"
		    " (%.15g s)", t->dead_after_s, rd == 1 ? "" : ", the default", t->heartbeat_s);
	}
}

static void
cfg_limits(struct pb_cfg_ctx *c, const config_setting_t *root, struct pb_tunnel_cfg *t)
{
	static const char *const keys[] = { "max_nodes", "max_sources", "max_nodes_per_link",
		"max_sources_per_link", "max_streams", NULL };
	const config_setting_t *g = pb_cfg_section(c, root, "limits", keys);

	t->limits.max_nodes = 1024;
	t->limits.max_sources = 16384;
	t->limits.max_nodes_per_link = 256;
	t->limits.max_sources_per_link = 4096;
	t->limits.max_streams = 4096;
	t->handshake_timeout_s = 5.0;
	pb_cfg_number(c, root, "handshake_timeout_s", 0.1, 300, &t->handshake_timeout_s);
	if (g == NULL)
		return;
	pb_cfg_u32(c, g, "max_nodes", 2, 1u << 20, &t->limits.max_nodes);
	pb_cfg_u32(c, g, "max_sources", 1, 1u << 24, &t->limits.max_sources);
	pb_cfg_u32(c, g, "max_nodes_per_link", 1, 1u << 20, &t->limits.max_nodes_per_link);
	pb_cfg_u32(c, g, "max_sources_per_link", 1, 1u << 24, &t->limits.max_sources_per_link);
	pb_cfg_u32(c, g, "max_streams", 1, 1u << 20, &t->limits.max_streams);
}

/* `captures = ();` is no source; a broken value was reported already. */
static bool
cfg_present(const config_setting_t *root, const char *key)
{
	const config_setting_t *s = config_setting_get_member(root, key);

	return s != NULL && !(config_setting_is_list(s) && config_setting_length(s) == 0);
}

void
pb_cfg_tunnel(struct pb_cfg_ctx *c, const config_setting_t *root, struct pb_config *cfg)
{
	struct pb_tunnel_cfg *t = &cfg->tunnel;

	cfg_listen(c, root, t);
	cfg_endpoints(c, root, "peers", t, &t->peers, &t->npeers);
	cfg_endpoints(c, root, "upstreams", t, &t->upstreams, &t->nupstreams);
	cfg_consumers(c, root, cfg->node.id, t);
	pb_cfg_auth(c, root, cfg->node.id, t);
	cfg_limits(c, root, t);
	cfg_resend(c, root, t);
	cfg_dlq(c, root, t);
	cfg_forward_ack(c, root, t);
	cfg_heartbeat(c, root, t);
	t->max_hops = 16;
	pb_cfg_u32(c, root, "max_hops", 1, PB_MAX_HOPS, &t->max_hops);
	snprintf(t->state_dir, sizeof(t->state_dir), "%s",
	    PB_LOCALSTATEDIR "/lib/packetbroker");
	pb_cfg_file(c, root, "state_dir", t->state_dir, sizeof(t->state_dir), false);

	/* A relay or collector has no captures (and needs no dump), but a node
	 * with nothing to read from is a mistake. */
	if (!cfg_present(root, "captures") && !cfg_present(root, "listen") &&
	    !cfg_present(root, "upstreams"))
		pb_cfg_error_at(c, c->file, 0, "no source of records: configure 'captures',"
		    " 'listen' (records from nodes that dial in) or 'upstreams' (nodes we"
		    " dial)");
}
