/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdlimit.h"
#include "keyring.h"
#include "log.h"
#include "tunnel_link.h"
#include "tunnel_recv.h"
#include "tunnel_replay.h"
#include "tunnel_send.h"
#include "tunnel_status.h"

static struct tunnel_receiver *
find_up_by_node(struct pb_tunnel *t, uint32_t node, bool configured)
{
	for (size_t i = 0; i < t->nups; i++)
		if (t->ups[i]->node_id == node && t->ups[i]->configured == configured)
			return t->ups[i];
	return NULL;
}

static struct tunnel_sender *
find_peer_by_node(struct pb_tunnel *t, uint32_t node, bool configured)
{
	for (size_t i = 0; i < t->npeers; i++)
		if (t->peers[i]->node_id == node && t->peers[i]->configured == configured)
			return t->peers[i];
	return NULL;
}

static void
node_label(struct pb_tunnel *t, uint32_t node, char *buf, size_t len)
{
	const struct pb_node_info *n = pb_srcdir_node(t->dir, node);
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
	struct tunnel_conn *c = arg;
	struct pb_tunnel *t = c->t;
	if (c->expect_node && h->node_id != c->expect_node) {
		t->refused.unknown_node++;
		log_warnx_rl("tunnel", "%s (%s) is node %u, configured as node %u: refused",
		    pb_link_name(link), pb_link_peer_addr(link), h->node_id, c->expect_node);
		return PB_WIRE_E_NODE_ID;
	}
	if (t->tc->auth.keyring.n == 0)
		return 0; /* shared PSK or none: the link's default */
	const struct pb_key *k = pb_keyring_find(&t->tc->auth.keyring, h->node_id);
	if (!k) {
		t->refused.unknown_node++;
		log_warnx_rl("tunnel", "%s (%s) claims node %u, which has no key in %s: refused",
		    pb_link_name(link), pb_link_peer_addr(link), h->node_id,
		    t->tc->auth.keyring_file);
		return PB_WIRE_E_NODE_ID;
	}
	*key = k->key;
	*len = k->len;
	return 0;
}

static bool
consumer_declared(const struct pb_tunnel *t, uint32_t node)
{
	for (size_t i = 0; i < t->tc->nconsumers; i++)
		if (t->tc->consumers[i].node_id == node)
			return true;
	return false;
}

static uint16_t
op_check_peer(struct pb_link *link, const struct pb_wire_hello *h, void *arg)
{
	struct tunnel_conn *c = arg;
	struct pb_tunnel *t = c->t;
	if (!c->accepted)
		return 0;
	if (pb_link_role(link) == PB_LINK_RECEIVER) {
		struct tunnel_receiver *u = find_up_by_node(t, h->node_id, false);
		if (u && u->up) {
			log_warnx_rl("upstream", "refusing a second connection from node %u (%s)",
			    h->node_id, pb_link_peer_addr(link));
			return PB_WIRE_E_NODE_ID;
		}
		if (!u && t->nups >= t->tc->limits.max_nodes) {
			t->refused.node_cap++;
			log_warnx_rl("upstream", "node %u (%s): already %zu upstreams"
			    " (limits.max_nodes): refused", h->node_id, pb_link_peer_addr(link),
			    t->nups);
			return PB_WIRE_E_NODE_ID;
		}
	} else {
		/* A consumer makes custody wait for it and fills the DLQ with
		 * copies for it: only declared ones, unless the operator opts in. */
		if (!consumer_declared(t, h->node_id) && !t->tc->listen.accept_undeclared_consumers) {
			t->refused.undeclared_consumer++;
			log_warnx_rl("peer", "node %u (%s) wants records but is not in `consumers`"
			    " (listen.accept_undeclared_consumers is false): refused", h->node_id,
			    pb_link_peer_addr(link));
			return PB_WIRE_E_NODE_ID;
		}
		struct tunnel_sender *p = find_peer_by_node(t, h->node_id, false);
		if (p && p->up) {
			log_warnx_rl("peer", "refusing a second consumer connection from node %u (%s)",
			    h->node_id, pb_link_peer_addr(link));
			return PB_WIRE_E_NODE_ID;
		}
		if (!p && t->npeers >= PB_MAX_PEERS + t->tc->nconsumers + t->tc->npeers) {
			t->refused.node_cap++;
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
	struct tunnel_conn *c = arg;
	struct pb_tunnel *t = c->t;
	struct tunnel_receiver *u = c->up;
	if (!u) {
		u = find_up_by_node(t, h->node_id, false);
		if (!u) {
			char name[64];
			node_label(t, h->node_id, name, sizeof(name));
			u = receiver_new(t, name, pb_link_peer_addr(link), false);
			if (!u || add_ptr((void ***)&t->ups, &t->nups, &t->cups, u) < 0) {
				receiver_free(u);
				pb_link_drop(link, PB_WIRE_E_INTERNAL, "out of memory");
				return 0;
			}
		}
		receiver_attach(u, c);
	}
	snprintf(u->address, sizeof(u->address), "%s", pb_link_peer_addr(link));
	return receiver_resume(u, h);
}

static void
op_on_welcome(struct pb_link *link, const struct pb_wire_welcome *w, void *arg)
{
	struct tunnel_conn *c = arg;
	struct pb_tunnel *t = c->t;
	struct tunnel_sender *p = c->peer;
	uint32_t node = pb_link_peer_node(link);
	if (!p) {
		p = find_peer_by_node(t, node, false);
		if (!p) {
			char name[64];
			node_label(t, node, name, sizeof(name));
			p = sender_new(t, name, pb_link_peer_addr(link), false);
			if (!p || add_ptr((void ***)&t->peers, &t->npeers, &t->cpeers, p) < 0) {
				sender_free(p);
				pb_link_drop(link, PB_WIRE_E_INTERNAL, "out of memory");
				return;
			}
			p->node_id = node;
			sender_resume_numbering(p);
			log_info("peer", "consumer node %u (%s) connected: forwarding to it as '%s'", node,
			    pb_link_peer_addr(link), p->name);
		}
		sender_attach(p, c);
	}
	/* A peer entry may list a tier: show the member in use. */
	snprintf(p->address, sizeof(p->address), "%s", pb_link_peer_addr(link));
	p->node_id = node;
	p->down_since_ns = 0;
	sender_on_welcome(p, w);
}

void
conn_preauth_end(struct tunnel_conn *c)
{
	if (c->preauth) {
		c->preauth = false;
		c->t->npreauth--;
	}
}

static void
op_on_up(struct pb_link *link, const struct pb_wire_hello *h, void *arg)
{
	struct tunnel_conn *c = arg;
	conn_preauth_end(c);
	if (c->up) {
		c->up->up = true;
		if (c->t->env.rx_paused(c->t->env.ctx))
			pb_link_pause_rx(link, true);
		/* Name ourselves to the sender (its /peers shows who we are). */
		const struct pb_node_info *self = pb_srcdir_node(c->t->dir, c->t->cfg->node.id);
		if (self && sender_send_node(link, self) < 0)
			log_warn("upstream", "upstream '%s': cannot send our node name", c->up->name);
		log_info("upstream", "upstream '%s' up (node %u, %s): resuming after link seq %llu",
		    c->up->name, h->node_id, pb_link_peer_addr(link),
		    (unsigned long long)c->up->custody_seq);
	} else if (c->peer) {
		sender_on_up(c->peer);
		if (c->t->tc->dlq.auto_replay)
			replay_auto(c->t, c->peer);
	}
	status_publish(c->t);
}

static void
op_on_message(struct pb_link *link, struct pb_wire_msg *m, void *arg)
{
	struct tunnel_conn *c = arg;
	if (c->up) {
		receiver_on_message(c->up, m);
		return;
	}
	if (!c->peer)
		return;
	if (m->type == PB_WIRE_T_ACK) {
		sender_on_ack(c->peer, m->ack.link_seq);
	} else if (m->type == PB_WIRE_T_NODE && m->node.node_id == c->peer->node_id &&
	    !pb_srcdir_node(c->t->dir, m->node.node_id)) {
		/* The consumer's own name, for /peers; not announced onwards. */
		struct pb_node_info n = { .node_id = m->node.node_id, .named_by = m->node.node_id };
		pb_srcdir_copy_name(n.name, sizeof(n.name), m->node.name.ptr, m->node.name.len);
		pb_srcdir_copy_name(n.description, sizeof(n.description), m->node.descr.ptr,
		    m->node.descr.len);
		if (pb_srcdir_set_node(c->t->dir, &n) < 0)
			c->t->refused.node_cap++;
	}
}

static void
op_on_down(struct pb_link *link, bool was_up, const char *reason, void *arg)
{
	struct tunnel_conn *c = arg;
	struct pb_tunnel *t = c->t;
	conn_preauth_end(c);
	if (c->up)
		receiver_detach(c->up, reason);
	if (c->peer)
		sender_detach(c->peer, reason);
	if (c->accepted) {
		struct pb_link_stats st;
		pb_link_get_stats(link, &st);
		t->refused_auth += st.auth_failures;
		t->refused_protocol += st.protocol_errors;
		t->refused.unexpected += st.unexpected;
		pb_link_close(link, reason);
		conn_free(c);
	}
	status_publish(t);
}

static int
op_fill_iov(struct pb_link *link, struct iovec *iov, int max, void *arg)
{
	struct tunnel_conn *c = arg;
	return c->peer ? sender_fill_iov(c->peer, iov, max) : 0;
}

/* The resend buffer knows where its messages end: the link need not
 * read their headers back. */
static size_t
op_sent_msgs(struct pb_link *link, size_t bytes, uint64_t *msgs, void *arg)
{
	struct tunnel_conn *c = arg;
	return c->peer ? sender_sent(c->peer, bytes, msgs) : 0;
}

const struct pb_link_ops tunnel_link_ops = {
	.peer_key = op_peer_key,
	.check_peer = op_check_peer,
	.resume_seq = op_resume_seq,
	.on_welcome = op_on_welcome,
	.on_up = op_on_up,
	.on_message = op_on_message,
	.on_down = op_on_down,
	.fill_iov = op_fill_iov,
	.sent_msgs = op_sent_msgs,
};

void
conn_free(struct tunnel_conn *c)
{
	struct pb_tunnel *t = c->t;
	conn_preauth_end(c);
	pb_fd_give(); /* every accepted conn took one; its link closed the fd */
	for (struct tunnel_conn **pp = &t->accepted; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	free(c);
}
