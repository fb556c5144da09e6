/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "engine_int.h"
#include "fdlimit.h"
#include "keyring.h"
#include "log.h"
#include "sink_file_recover.h"
#include "tls.h"

/*
 * Tunnel set-up: the link callbacks that attach a connection to its
 * downstream peer or upstream once its role is known, the listener, and
 * start/stop of the whole tunnel.
 */

static struct fwd_upstream *
find_up_by_node(struct pb_engine *e, uint32_t node, bool configured)
{
	for (size_t i = 0; i < e->nups; i++)
		if (e->ups[i]->node_id == node && e->ups[i]->configured == configured)
			return e->ups[i];
	return NULL;
}

static struct fwd_peer *
find_peer_by_node(struct pb_engine *e, uint32_t node, bool configured)
{
	for (size_t i = 0; i < e->npeers; i++)
		if (e->peers[i]->node_id == node && e->peers[i]->configured == configured)
			return e->peers[i];
	return NULL;
}

static int
add_ptr(void ***arr, size_t *n, size_t *cap, void *p)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		void **a = realloc(*arr, nc * sizeof(*a));
		if (!a)
			return -1;
		*arr = a;
		*cap = nc;
	}
	(*arr)[(*n)++] = p;
	return 0;
}

static void
node_label(struct pb_engine *e, uint32_t node, char *buf, size_t len)
{
	const struct pb_node_info *n = pb_srcdir_node(e->dir, node);
	if (n && n->name[0])
		snprintf(buf, len, "%s", n->name);
	else
		snprintf(buf, len, "node%u", node);
}

/* Per-node keys: the key this node shares with the claimed node id. A
 * dialed peer with a configured node id must be that node. */
static uint16_t
op_peer_key(struct pb_link *link, const struct pb_wire_hello *h, const uint8_t **key,
    size_t *len, void *arg)
{
	struct fwd_conn *c = arg;
	struct pb_engine *e = c->e;
	if (c->expect_node && h->node_id != c->expect_node) {
		e->refused.unknown_node++;
		log_warnx_rl("tunnel", "%s (%s) is node %u, configured as node %u: refused",
		    pb_link_name(link), pb_link_peer_addr(link), h->node_id, c->expect_node);
		return PB_WIRE_E_NODE_ID;
	}
	if (e->tc->auth.keyring.n == 0)
		return 0; /* shared PSK or none: the link's default */
	const struct pb_key *k = pb_keyring_find(&e->tc->auth.keyring, h->node_id);
	if (!k) {
		e->refused.unknown_node++;
		log_warnx_rl("tunnel", "%s (%s) claims node %u, which has no key in %s: refused",
		    pb_link_name(link), pb_link_peer_addr(link), h->node_id,
		    e->tc->auth.keyring_file);
		return PB_WIRE_E_NODE_ID;
	}
	*key = k->key;
	*len = k->len;
	return 0;
}

static bool
consumer_declared(const struct pb_engine *e, uint32_t node)
{
	for (size_t i = 0; i < e->tc->nconsumers; i++)
		if (e->tc->consumers[i].node_id == node)
			return true;
	return false;
}

static uint16_t
op_check_peer(struct pb_link *link, const struct pb_wire_hello *h, void *arg)
{
	struct fwd_conn *c = arg;
	struct pb_engine *e = c->e;
	if (!c->accepted)
		return 0;
	if (pb_link_role(link) == PB_LINK_RECEIVER) {
		struct fwd_upstream *u = find_up_by_node(e, h->node_id, false);
		if (u && u->up) {
			log_warnx_rl("upstream", "refusing a second connection from node %u (%s)",
			    h->node_id, pb_link_peer_addr(link));
			return PB_WIRE_E_NODE_ID;
		}
		if (!u && e->nups >= e->tc->limits.max_nodes) {
			e->refused.node_cap++;
			log_warnx_rl("upstream", "node %u (%s): already %zu upstreams"
			    " (limits.max_nodes): refused", h->node_id, pb_link_peer_addr(link),
			    e->nups);
			return PB_WIRE_E_NODE_ID;
		}
	} else {
		/* A consumer makes custody wait for it and fills the DLQ with
		 * copies for it: only declared ones, unless the operator opts in. */
		if (!consumer_declared(e, h->node_id) && !e->tc->listen.accept_undeclared_consumers) {
			e->refused.undeclared_consumer++;
			log_warnx_rl("peer", "node %u (%s) wants records but is not in `consumers`"
			    " (listen.accept_undeclared_consumers is false): refused", h->node_id,
			    pb_link_peer_addr(link));
			return PB_WIRE_E_NODE_ID;
		}
		struct fwd_peer *p = find_peer_by_node(e, h->node_id, false);
		if (p && p->up) {
			log_warnx_rl("peer", "refusing a second consumer connection from node %u (%s)",
			    h->node_id, pb_link_peer_addr(link));
			return PB_WIRE_E_NODE_ID;
		}
		if (!p && e->npeers >= PB_MAX_PEERS + e->tc->nconsumers + e->tc->npeers) {
			e->refused.node_cap++;
			log_warnx_rl("peer", "node %u (%s): too many consumers: refused", h->node_id,
			    pb_link_peer_addr(link));
			return PB_WIRE_E_NODE_ID;
		}
	}
	return 0;
}

static uint64_t
op_resume_seq(struct pb_link *link, const struct pb_wire_hello *h, void *arg)
{
	struct fwd_conn *c = arg;
	struct pb_engine *e = c->e;
	struct fwd_upstream *u = c->up;
	if (!u) {
		u = find_up_by_node(e, h->node_id, false);
		if (!u) {
			char name[64];
			node_label(e, h->node_id, name, sizeof(name));
			u = fwd_upstream_new(e, name, pb_link_peer_addr(link), false);
			if (!u || add_ptr((void ***)&e->ups, &e->nups, &e->cups, u) < 0) {
				fwd_upstream_free(u);
				pb_link_drop(link, PB_WIRE_E_INTERNAL, "out of memory");
				return 0;
			}
		}
		fwd_upstream_attach(u, c);
	}
	snprintf(u->address, sizeof(u->address), "%s", pb_link_peer_addr(link));
	return fwd_upstream_resume(u, h);
}

static void
op_on_welcome(struct pb_link *link, const struct pb_wire_welcome *w, void *arg)
{
	struct fwd_conn *c = arg;
	struct pb_engine *e = c->e;
	struct fwd_peer *p = c->peer;
	uint32_t node = pb_link_peer_node(link);
	if (!p) {
		p = find_peer_by_node(e, node, false);
		if (!p) {
			char name[64];
			node_label(e, node, name, sizeof(name));
			p = fwd_peer_new(e, name, pb_link_peer_addr(link), false);
			if (!p || add_ptr((void ***)&e->peers, &e->npeers, &e->cpeers, p) < 0) {
				fwd_peer_free(p);
				pb_link_drop(link, PB_WIRE_E_INTERNAL, "out of memory");
				return;
			}
			p->node_id = node;
			fwd_peer_resume_numbering(p);
			log_info("peer", "consumer node %u (%s) connected: forwarding to it as '%s'", node,
			    pb_link_peer_addr(link), p->name);
		}
		fwd_peer_attach(p, c);
	}
	/* A peer entry may list a tier: show the member in use. */
	snprintf(p->address, sizeof(p->address), "%s", pb_link_peer_addr(link));
	p->node_id = node;
	p->down_since_ns = 0;
	fwd_peer_on_welcome(p, w);
}

static void
conn_preauth_end(struct fwd_conn *c)
{
	if (c->preauth) {
		c->preauth = false;
		c->e->npreauth--;
	}
}

static void
op_on_up(struct pb_link *link, const struct pb_wire_hello *h, void *arg)
{
	struct fwd_conn *c = arg;
	conn_preauth_end(c);
	if (c->up) {
		c->up->up = true;
		if (engine_rx_paused(c->e))
			pb_link_pause_rx(link, true);
		/* Name ourselves to the sender (its /peers shows who we are). */
		const struct pb_node_info *self = pb_srcdir_node(c->e->dir, c->e->cfg->node.id);
		if (self && fwd_send_node(link, self) < 0)
			log_warn("upstream", "upstream '%s': cannot send our node name", c->up->name);
		log_info("upstream", "upstream '%s' up (node %u, %s): resuming after link seq %llu",
		    c->up->name, h->node_id, pb_link_peer_addr(link),
		    (unsigned long long)c->up->custody_seq);
	} else if (c->peer) {
		fwd_peer_on_up(c->peer);
		if (c->e->tc->dlq.auto_replay)
			fwd_replay_auto(c->e, c->peer);
	}
	fwd_publish(c->e);
}

static void
op_on_message(struct pb_link *link, const struct pb_wire_msg *m, void *arg)
{
	struct fwd_conn *c = arg;
	if (c->up) {
		fwd_upstream_on_message(c->up, m);
		return;
	}
	if (!c->peer)
		return;
	if (m->type == PB_WIRE_T_ACK) {
		fwd_peer_on_ack(c->peer, m->ack.link_seq);
	} else if (m->type == PB_WIRE_T_NODE && m->node.node_id == c->peer->node_id &&
	    !pb_srcdir_node(c->e->dir, m->node.node_id)) {
		/* The consumer's own name, for /peers; not announced onwards. */
		struct pb_node_info n = { .node_id = m->node.node_id, .named_by = m->node.node_id };
		pb_srcdir_copy_name(n.name, sizeof(n.name), m->node.name.ptr, m->node.name.len);
		pb_srcdir_copy_name(n.description, sizeof(n.description), m->node.descr.ptr,
		    m->node.descr.len);
		if (pb_srcdir_set_node(c->e->dir, &n) < 0)
			c->e->refused.node_cap++;
	}
}

static void conn_free(struct fwd_conn *c);
static void on_accept(struct pb_listener *lst, int fd, const char *addr, void *arg);

static void
op_on_down(struct pb_link *link, bool was_up, const char *reason, void *arg)
{
	struct fwd_conn *c = arg;
	struct pb_engine *e = c->e;
	conn_preauth_end(c);
	if (c->up)
		fwd_upstream_detach(c->up, reason);
	if (c->peer)
		fwd_peer_detach(c->peer, reason);
	if (c->accepted) {
		struct pb_link_stats st;
		pb_link_get_stats(link, &st);
		e->refused_auth += st.auth_failures;
		e->refused_protocol += st.protocol_errors;
		e->refused.unexpected += st.unexpected;
		pb_link_close(link, reason);
		conn_free(c);
	}
	fwd_publish(e);
}

static int
op_fill_iov(struct pb_link *link, struct iovec *iov, int max, void *arg)
{
	struct fwd_conn *c = arg;
	return c->peer ? fwd_peer_fill_iov(c->peer, iov, max) : 0;
}

static void
op_sent(struct pb_link *link, size_t bytes, void *arg)
{
	struct fwd_conn *c = arg;
	if (c->peer)
		fwd_peer_sent(c->peer, bytes);
}

static const struct pb_link_ops link_ops = {
	.peer_key = op_peer_key,
	.check_peer = op_check_peer,
	.resume_seq = op_resume_seq,
	.on_welcome = op_on_welcome,
	.on_up = op_on_up,
	.on_message = op_on_message,
	.on_down = op_on_down,
	.fill_iov = op_fill_iov,
	.sent = op_sent,
};

static void
conn_free(struct fwd_conn *c)
{
	struct pb_engine *e = c->e;
	conn_preauth_end(c);
	pb_fd_give(); /* every accepted conn took one; its link closed the fd */
	for (struct fwd_conn **pp = &e->accepted; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	free(c);
}

/* "192.0.2.1:5555" / "[2001:db8::1]:5555" → the address alone. */
static void
addr_ip(const char *addr, char *ip, size_t len)
{
	const char *colon = strrchr(addr, ':');
	size_t n = colon ? (size_t)(colon - addr) : strlen(addr);
	if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']') {
		addr++;
		n -= 2;
	}
	snprintf(ip, len, "%.*s", (int)n, addr);
}

/* Connections that have not proven who they are cost a descriptor and a
 * buffer each: bounded in total and per address, so a flood of plain
 * connects can neither exhaust descriptors nor crowd out real peers. */
static bool
preauth_room(struct pb_engine *e, const char *ip)
{
	const struct pb_listen_cfg *lc = &e->tc->listen;
	if (e->npreauth >= lc->max_handshakes)
		return false;
	uint32_t same = 0;
	for (const struct fwd_conn *c = e->accepted; c; c = c->next)
		if (c->preauth && strcmp(c->ip, ip) == 0 && ++same >= lc->max_handshakes_per_ip)
			return false;
	return true;
}

int
fwd_adopt(struct pb_engine *e, int fd, const char *addr)
{
	int fl = fcntl(fd, F_GETFL);
	if (!e->tc->listen.enabled || fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		close(fd);
		return -1;
	}
	on_accept(e->listener, fd, addr, e);
	return 0;
}

static void
on_accept(struct pb_listener *lst, int fd, const char *addr, void *arg)
{
	struct pb_engine *e = arg;
	char ip[64];
	addr_ip(addr, ip, sizeof(ip));
	if (!pb_fd_take()) {
		/* The descriptors left are the sinks', the DLQ's, state files'. */
		e->refused.preauth_limit++;
		log_warnx_rl("tunnel", "refusing %s: the descriptor budget for connections is"
		    " spent (RLIMIT_NOFILE)", addr);
		close(fd);
		return;
	}
	if (!preauth_room(e, ip)) {
		pb_fd_give();
		e->refused.preauth_limit++;
		log_warnx_rl("tunnel", "refusing %s: %u connection(s) already in the handshake"
		    " (listen.max_handshakes %u, max_handshakes_per_ip %u)", addr, e->npreauth,
		    e->tc->listen.max_handshakes, e->tc->listen.max_handshakes_per_ip);
		close(fd);
		return;
	}
	struct fwd_conn *c = calloc(1, sizeof(*c));
	char err[256];
	if (!c) {
		close(fd);
		pb_fd_give();
		return;
	}
	c->e = e;
	c->accepted = true;
	snprintf(c->ip, sizeof(c->ip), "%s", ip);
	c->link = pb_link_accept(e->loop, &e->linkcfg, fd, addr, &link_ops, c, err, sizeof(err));
	if (!c->link) {
		log_warnx_rl("tunnel", "cannot accept %s: %s", addr, err);
		free(c);
		pb_fd_give(); /* pb_link_accept closed it */
		return;
	}
	c->preauth = true;
	e->npreauth++;
	c->next = e->accepted;
	e->accepted = c;
	log_debug("tunnel", "accepted %s", addr);
}

int
fwd_learn_node(struct pb_engine *e, const struct pb_node_info *n)
{
	const struct pb_node_info *cur = pb_srcdir_node(e->dir, n->node_id);
	bool known = cur != NULL;
	if (cur && strcmp(cur->name, n->name) == 0 && strcmp(cur->description, n->description) == 0)
		return 0;
	if (pb_srcdir_set_node(e->dir, n) < 0)
		return -1;
	if (!known) {
		if (add_ptr((void ***)&e->known_nodes, &e->nknown_nodes, &e->cknown_nodes,
		    (void *)(uintptr_t)n->node_id) < 0)
			return -1;
	}
	for (size_t i = 0; i < e->npeers; i++)
		fwd_peer_announce(e->peers[i]);
	return 0;
}

int
fwd_learn_source(struct pb_engine *e, const struct pb_source_info *s)
{
	const struct pb_source_info *cur = pb_srcdir_source(e->dir, s->node_id, s->source_id);
	bool known = cur != NULL;
	if (cur && strcmp(cur->name, s->name) == 0 && strcmp(cur->description, s->description) == 0 &&
	    cur->linktype == s->linktype)
		return 0;
	if (pb_srcdir_set_source(e->dir, s) < 0)
		return -1;
	if (!known) {
		uint64_t k = (uint64_t)s->node_id << 16 | s->source_id;
		if (add_ptr((void ***)&e->known_sources, &e->nknown_sources, &e->cknown_sources,
		    (void *)(uintptr_t)k) < 0)
			return -1;
	}
	for (size_t i = 0; i < e->npeers; i++)
		fwd_peer_announce(e->peers[i]);
	return 0;
}

static int
mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

/*
 * A collector's custody point lives in its pcapng files (link=node:epoch:seq
 * in each EPB comment, written in order with the data), so a collector
 * killed with -9 resumes exactly where its files end.
 */
static void
recover_record(void *arg, uint32_t node, uint16_t source, uint64_t epoch, uint64_t seq)
{
	pb_gaps_observe(arg, node, source, epoch, seq);
}

static void
recover_dumps(struct pb_engine *e)
{
	/* The missing ranges as of the last save, then every record the files
	 * hold (the newest ones may postdate the save): a record that never
	 * arrived stays missing, so a later DLQ replay of it is accepted. */
	fwd_gaps_load(e);
	for (size_t i = 0; i < e->cfg->ndumps; i++) {
		const struct pb_dump_cfg *d = &e->cfg->dumps[i];
		if (d->kind != PB_DUMP_FILE)
			continue;
		struct pb_recovery r;
		char why[512] = "";
		if (pb_sink_file_recover_each(d, &r, recover_record, e->gaps, why, sizeof(why)) < 0) {
			log_warnx("tunnel", "dump '%s': custody recovery failed: %s", d->name, why);
			continue;
		}
		if (why[0])
			log_info("tunnel", "dump '%s': %s", d->name, why);
		for (size_t k = 0; k < r.nlinks; k++)
			fwd_seed_custody(e, r.links[k].node, r.links[k].epoch, r.links[k].seq);
		if (r.nlinks || r.nstreams)
			log_info("tunnel", "dump '%s': recovered custody of %zu upstream link(s) and %zu origin stream(s) from %u file(s)",
			    d->name, r.nlinks, r.nstreams, r.files_scanned);
		pb_recovery_free(&r);
	}
	pb_gaps_reset_counters(e->gaps);
}

static bool
is_loopback(const char *addr)
{
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, addr, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, addr, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

/* Path nodes in gaps snapshots take their names from the node directory
 * (NODE announcements, ours included), read at each publish. */
static const char *
gaps_node_name(void *arg, uint32_t node)
{
	const struct pb_engine *e = arg;
	const struct pb_node_info *n = pb_srcdir_node(e->dir, node);
	return n ? n->name : NULL;
}

int
fwd_start(struct pb_engine *e, char *err, size_t errlen)
{
	const struct pb_tunnel_cfg *tc = e->tc;
	struct pb_link_cfg *lc = &e->linkcfg;
	char why[512];

	lc->node_id = e->cfg->node.id;
	lc->epoch = e->epoch;
	lc->psk = tc->auth.psk_len ? tc->auth.psk : NULL;
	lc->psk_len = tc->auth.psk_len;
	lc->tls = tc->auth.tls;
	lc->heartbeat_ms = (uint32_t)(tc->heartbeat_s * 1000.0);
	lc->dead_after_ms = (uint32_t)(tc->dead_after_s * 1000.0);
	lc->backoff_max_ms = 5000;
	lc->handshake_timeout_ms = (uint32_t)(tc->handshake_timeout_s * 1000.0);

	struct pb_gaps_cfg gc = { .max_streams = tc->limits.max_streams,
		.node_name = gaps_node_name, .node_name_arg = e };
	if (!(e->gaps = pb_gaps_new(&gc))) {
		snprintf(err, errlen, "tunnel: out of memory");
		return -1;
	}
	if (tc->dlq.path[0]) {
		struct pb_dlq_cfg dc = { .path = tc->dlq.path, .max_bytes = tc->dlq.max_bytes,
			.queue_bytes = FWD_DLQ_QUEUE_BYTES };
		if (!(e->dlq = pb_dlq_open(&dc, e->loop, fwd_on_dlq, e, why, sizeof(why)))) {
			snprintf(err, errlen, "dlq: %s", why);
			return -1;
		}
		pb_pubstate_publish_dlq(&e->pubstate, e->dlq);
		snprintf(e->pubstate.dlq_path, sizeof(e->pubstate.dlq_path), "%s", tc->dlq.path);
	}
	bool exposed = tc->listen.enabled && !is_loopback(tc->listen.address);
	bool links = tc->listen.enabled || tc->npeers || tc->nupstreams;
	if (links && tc->auth.tls)
		log_info("tunnel", "links use TLS 1.3, certificate %s (%s)%s", tc->auth.tls_cert,
		    pb_tls_describe(tc->auth.tls), tc->auth.keyring.n ? ", and per-node keys" : "");
	else if (links && tc->auth.keyring.n)
		log_info("tunnel", "links authenticated with per-node keys (%zu in %s)",
		    tc->auth.keyring.n, tc->auth.keyring_file);
	else if (links && tc->auth.psk_len)
		log_warnx("tunnel", "auth.shared_psk: every node holding %s can claim any node id;"
		    " use auth.keyring for per-node identity", tc->auth.psk_file);
	else if (links)
		log_warnx("tunnel", "no auth.keyring: links are not authenticated%s",
		    exposed ? " (listening on a non-loopback address: auth.allow_unauthenticated is set)" : "");
	if (tc->listen.enabled || tc->nupstreams) {
		if (mkdir_p(tc->state_dir) < 0) {
			snprintf(err, errlen, "state_dir %s: %s", tc->state_dir, strerror(errno));
			return -1;
		}
		fwd_state_init(e);
		recover_dumps(e);
	}

	e->ndialed = tc->npeers + tc->nupstreams;
	e->dialed = calloc(e->ndialed ? e->ndialed : 1, sizeof(*e->dialed));
	if (!e->dialed) {
		snprintf(err, errlen, "tunnel: out of memory");
		return -1;
	}
	for (size_t i = 0; i < e->ndialed; i++) {
		bool is_peer = i < tc->npeers;
		const struct pb_endpoint_cfg *ep = is_peer ? &tc->peers[i] : &tc->upstreams[i - tc->npeers];
		struct fwd_conn *c = &e->dialed[i];
		char addr[192];
		snprintf(addr, sizeof(addr), "%s:%u", ep->address, ep->port);
		c->e = e;
		c->expect_node = ep->node_id;
		if (is_peer) {
			struct fwd_peer *p = fwd_peer_new(e, ep->name, addr, true);
			if (!p || add_ptr((void ***)&e->peers, &e->npeers, &e->cpeers, p) < 0) {
				fwd_peer_free(p);
				snprintf(err, errlen, "tunnel: out of memory");
				return -1;
			}
			p->declared = true;
			fwd_peer_attach(p, c);
		} else {
			struct fwd_upstream *u = fwd_upstream_new(e, ep->name, addr, true);
			if (!u || add_ptr((void ***)&e->ups, &e->nups, &e->cups, u) < 0) {
				fwd_upstream_free(u);
				snprintf(err, errlen, "tunnel: out of memory");
				return -1;
			}
			fwd_upstream_attach(u, c);
		}
		c->link = pb_link_dial(e->loop, lc, is_peer ? PB_LINK_SENDER : PB_LINK_RECEIVER,
		    ep->name, ep->address, ep->port, &link_ops, c, why, sizeof(why));
		bool ok = c->link != NULL;
		for (size_t a = 1; ok && a < ep->naddrs; a++)
			ok = pb_link_add_address(c->link, ep->addrs[a].host, ep->addrs[a].port, why,
			    sizeof(why)) == 0;
		if (!ok) {
			snprintf(err, errlen, "%s '%s': %s", is_peer ? "peer" : "upstream", ep->name, why);
			return -1;
		}
	}
	for (size_t i = 0; i < tc->nconsumers; i++) {
		/* Known before it first connects, so nothing is missed meanwhile. */
		struct fwd_peer *p = fwd_peer_new(e, tc->consumers[i].name, "", false);
		if (!p || add_ptr((void ***)&e->peers, &e->npeers, &e->cpeers, p) < 0) {
			fwd_peer_free(p);
			snprintf(err, errlen, "tunnel: out of memory");
			return -1;
		}
		p->node_id = tc->consumers[i].node_id;
		p->declared = true;
	}
	if (tc->listen.enabled) {
		e->listener = pb_listener_open(e->loop, tc->listen.address, tc->listen.port, on_accept,
		    e, why, sizeof(why));
		if (!e->listener) {
			snprintf(err, errlen, "listen %s:%u: %s", tc->listen.address, tc->listen.port, why);
			return -1;
		}
		log_info("tunnel", "listening on %s:%u", tc->listen.address,
		    pb_listener_port(e->listener));
	}
	e->ack_timer = pb_loop_add_timer(e->loop, (uint64_t)tc->ack.ms * PB_NSEC_PER_MSEC,
	    fwd_ack_tick, e);
	e->publish_timer = pb_loop_add_timer(e->loop, 250 * PB_NSEC_PER_MSEC, fwd_publish_tick, e);
	e->replay_timer = pb_loop_add_timer(e->loop, 20 * PB_NSEC_PER_MSEC, fwd_replay_tick, e);
	return 0;
}

/*
 * Shutdown after the sources stopped and the sinks were closed (flushed):
 * acknowledge what is now in custody, move every unacknowledged record to
 * the DLQ (reason shutdown), commit it, and close the links.
 */
void
fwd_stop(struct pb_engine *e)
{
	pb_listener_close(e->listener);
	e->listener = NULL;
	for (size_t i = 0; i < e->npeers; i++)
		fwd_peer_spill_all(e->peers[i], PB_DLQ_SHUTDOWN);
	if (e->dlq) {
		pb_pubstate_publish_dlq(&e->pubstate, e->dlq);
		pb_dlq_close(e->dlq); /* blocks until every put is committed */
		e->dlq = NULL;
		for (size_t i = 0; i < e->npeers; i++)
			fifo2_clear(&e->peers[i]->spills);
	}
	fwd_custody_update(e, true);
	fwd_state_save(e, true);
	fwd_gaps_save(e, true);
	for (size_t i = 0; i < e->ndialed; i++) {
		pb_link_close(e->dialed[i].link, "shutting down");
		e->dialed[i].link = NULL;
	}
	while (e->accepted) {
		struct fwd_conn *c = e->accepted;
		e->accepted = c->next;
		pb_link_close(c->link, "shutting down");
		conn_preauth_end(c);
		pb_fd_give();
		free(c);
	}
	for (size_t i = 0; i < e->npeers; i++)
		fwd_peer_free(e->peers[i]);
	for (size_t i = 0; i < e->nups; i++)
		fwd_upstream_free(e->ups[i]);
	free(e->peers);
	free(e->ups);
	free(e->dialed);
	free(e->known_nodes);
	free(e->known_sources);
	e->peers = NULL;
	e->ups = NULL;
	e->dialed = NULL;
	e->known_nodes = NULL;
	e->known_sources = NULL;
	e->npeers = e->nups = e->ndialed = 0;
	e->cpeers = e->cups = 0;
	e->nknown_nodes = e->cknown_nodes = e->nknown_sources = e->cknown_sources = 0;
	fwd_seeds_free(e);
}
