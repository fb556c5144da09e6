/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "tunnel_dir.h"
#include "tunnel_recv.h"
#include "wire.h"

/*
 * Upstream links: records arrive with a link seq; each gets a custody
 * token and is routed to the sinks and, for a relay, to the downstream
 * peers. A record is in our custody once every destination reached its
 * token (written to a sink's fd, acknowledged downstream or committed to
 * the DLQ); only then is its link seq acknowledged upstream, so a relay's
 * ACKs follow its downstream's and a crash loses nothing that was acked.
 */

struct tunnel_receiver *
receiver_new(struct pb_tunnel *t, const char *name, const char *address, bool configured)
{
	struct tunnel_receiver *u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->t = t;
	snprintf(u->name, sizeof(u->name), "%s", name);
	snprintf(u->address, sizeof(u->address), "%s", address ? address : "");
	u->configured = configured;
	u->expected = 1;
	return u;
}

void
receiver_free(struct tunnel_receiver *u)
{
	if (!u)
		return;
	fifo2_free(&u->pending);
	free(u);
}

uint64_t
receiver_resume(struct tunnel_receiver *u, const struct pb_wire_hello *h)
{
	u->node_id = h->node_id;
	if (h->epoch != u->epoch) {
		uint64_t seq = 0;
		for (size_t i = 0; i < u->t->nseeds; i++)
			if (u->t->seeds[i].node == h->node_id && u->t->seeds[i].epoch == h->epoch)
				seq = u->t->seeds[i].seq;
		if (u->epoch)
			log_info("upstream", "upstream '%s' (node %u) restarted its link numbering (epoch %" PRIu64 " → %" PRIu64 ")",
			    u->name, h->node_id, u->epoch, h->epoch);
		u->epoch = h->epoch;
		u->custody_seq = u->acked_sent = seq;
		u->expected = seq + 1;
		fifo2_clear(&u->pending);
	}
	return u->custody_seq;
}

void
receiver_attach(struct tunnel_receiver *u, struct tunnel_conn *c)
{
	u->conn = c;
	c->up = u;
}

void
receiver_detach(struct tunnel_receiver *u, const char *reason)
{
	if (u->up)
		log_warnx("upstream", "upstream '%s' (node %u) down: %s", u->name, u->node_id, reason);
	u->up = false;
	if (u->conn && u->conn->accepted) {
		u->conn->up = NULL;
		u->conn = NULL;
	}
}

/*
 * Who may name a node (and its sources): the node itself on its own
 * authenticated link, always; a relay only for a node nobody named yet
 * (the node behind it), after which only that relay or the node may change
 * it. A peer therefore cannot rename another node in /peers or in the
 * pcapng metadata. Each link may create at most limits.*_per_link entries.
 */
static bool
upstream_may_name(struct tunnel_receiver *u, uint32_t node, bool exists, uint32_t named_by,
    uint32_t made, uint32_t cap, uint64_t *cap_count, const char *what)
{
	struct pb_tunnel *t = u->t;
	if (exists && node != u->node_id && named_by != u->node_id) {
		t->refused.rename++;
		log_warnx_rl("upstream", "upstream '%s' (node %u) may not rename %s of node %u"
		    " (named by node %u): ignored", u->name, u->node_id, what, node, named_by);
		return false;
	}
	if (!exists && made >= cap) {
		(*cap_count)++;
		log_warnx_rl("upstream", "upstream '%s' (node %u) announced more than %u %ss:"
		    " ignored (limits.max_%ss_per_link)", u->name, u->node_id, cap, what, what);
		return false;
	}
	return true;
}

static void
upstream_learn_node(struct tunnel_receiver *u, const struct pb_wire_node *m)
{
	struct pb_tunnel *t = u->t;
	struct pb_node_info n = { .node_id = m->node_id, .named_by = u->node_id };
	pb_srcdir_copy_name(n.name, sizeof(n.name), m->name.ptr, m->name.len);
	pb_srcdir_copy_name(n.description, sizeof(n.description), m->descr.ptr, m->descr.len);
	if (n.node_id == t->cfg->node.id)
		return; /* our own announcement coming back through a loop */
	const struct pb_node_info *cur = pb_srcdir_node(t->dir, n.node_id);
	if (cur && strcmp(cur->name, n.name) == 0 && strcmp(cur->description, n.description) == 0)
		return;
	if (!upstream_may_name(u, n.node_id, cur != NULL, cur ? cur->named_by : 0,
	    u->nodes_named, t->tc->limits.max_nodes_per_link, &t->refused.node_cap, "node"))
		return;
	if (directory_learn_node(t, &n) < 0) {
		t->refused.node_cap++;
		log_warnx_rl("upstream", "node directory full (limits.max_nodes = %u): node %u"
		    " from upstream '%s' stays a number", t->tc->limits.max_nodes, n.node_id, u->name);
		return;
	}
	if (!cur)
		u->nodes_named++;
	if (n.node_id == u->node_id && !u->configured && strncmp(u->name, "node", 4) == 0)
		snprintf(u->name, sizeof(u->name), "%s", n.name);
}

static void
upstream_learn_source(struct tunnel_receiver *u, const struct pb_wire_source *m)
{
	struct pb_tunnel *t = u->t;
	struct pb_source_info s = {
		.node_id = m->node_id,
		.named_by = u->node_id,
		.source_id = m->source_id,
		.linktype = m->linktype,
	};
	pb_srcdir_copy_name(s.name, sizeof(s.name), m->name.ptr, m->name.len);
	pb_srcdir_copy_name(s.description, sizeof(s.description), m->descr.ptr, m->descr.len);
	if (s.node_id == t->cfg->node.id)
		return;
	const struct pb_source_info *cur = pb_srcdir_source(t->dir, s.node_id, s.source_id);
	if (cur && strcmp(cur->name, s.name) == 0 && strcmp(cur->description, s.description) == 0 &&
	    cur->linktype == s.linktype)
		return;
	if (!upstream_may_name(u, s.node_id, cur != NULL, cur ? cur->named_by : 0,
	    u->sources_named, t->tc->limits.max_sources_per_link, &t->refused.source_cap,
	    "source"))
		return;
	if (directory_learn_source(t, &s) < 0) {
		t->refused.source_cap++;
		log_warnx_rl("upstream", "source directory full (limits.max_sources = %u): source"
		    " %u/%u from upstream '%s' stays a number", t->tc->limits.max_sources, s.node_id,
		    s.source_id, u->name);
		return;
	}
	if (!cur)
		u->sources_named++;
}

/* A peer broke the protocol: ERROR, close, count; no state moved. */
static void
upstream_refuse(struct tunnel_receiver *u, uint64_t *counter, uint16_t code, const char *why)
{
	(*counter)++;
	log_warnx_rl("upstream", "upstream '%s' (node %u, %s): %s: connection refused", u->name,
	    u->node_id, u->address, why);
	if (u->conn && u->conn->link)
		pb_link_drop(u->conn->link, code, why);
}

/* True when the upstream whose node id is `node` is connected now. */
static bool
upstream_node_up(const struct pb_tunnel *t, uint32_t node)
{
	for (size_t i = 0; i < t->nups; i++)
		if (t->ups[i]->node_id == node && t->ups[i]->up)
			return true;
	return false;
}

/*
 * Origin binding: a record comes from the link's node itself, or was
 * relayed by it (then the link's node is its last hop). An origin stream
 * (node, source, epoch) belongs to the link it first arrived on; another
 * link may take it over only while that one is down (a failover), so a
 * peer cannot inject records into a stream that is being delivered.
 */
static bool
upstream_origin_ok(struct tunnel_receiver *u, const struct pb_record *in)
{
	struct pb_tunnel *t = u->t;
	char why[160];
	if (in->origin_seq == 0 || in->origin_seq >= TUNNEL_SEQ_LIMIT) {
		snprintf(why, sizeof(why), "origin seq %" PRIu64 " of %u/%u out of range",
		    in->origin_seq, in->origin_node, in->origin_source);
		upstream_refuse(u, &t->refused.seq_wrap, PB_WIRE_E_MALFORMED, why);
		return false;
	}
	if (in->origin_node != u->node_id &&
	    (in->nhops == 0 || in->hops[in->nhops - 1].node_id != u->node_id)) {
		snprintf(why, sizeof(why), "record of origin node %u neither from node %u nor"
		    " relayed by it (last hop %u)", in->origin_node, u->node_id,
		    in->nhops ? in->hops[in->nhops - 1].node_id : 0);
		upstream_refuse(u, &t->refused.origin_unbound, PB_WIRE_E_UNEXPECTED, why);
		return false;
	}
	uint32_t owner = pb_gaps_claim(t->gaps, in->origin_node, in->origin_source,
	    in->origin_epoch, u->node_id);
	if (owner && owner != u->node_id) {
		if (upstream_node_up(t, owner)) {
			snprintf(why, sizeof(why), "origin stream %u/%u epoch %" PRIu64 " arrives"
			    " through node %u", in->origin_node, in->origin_source, in->origin_epoch,
			    owner);
			upstream_refuse(u, &t->refused.stream_owned, PB_WIRE_E_UNEXPECTED, why);
			return false;
		}
		log_info("upstream", "origin stream %u/%u epoch %" PRIu64 " now arrives through"
		    " '%s' (node %u was its path)", in->origin_node, in->origin_source,
		    in->origin_epoch, u->name, owner);
		pb_gaps_set_owner(t->gaps, in->origin_node, in->origin_source, in->origin_epoch,
		    u->node_id);
	}
	return true;
}

static void
upstream_record(struct tunnel_receiver *u, struct pb_wire_msg *m)
{
	struct pb_tunnel *t = u->t;
	uint64_t seq = m->link_seq;
	struct pb_record *in = &m->record;

	u->records_received++;
	u->bytes_received += in->caplen;
	if (seq >= TUNNEL_SEQ_LIMIT) {
		/* Even when it is the expected one (a notice reached 2^63 - 1). */
		char why[96];
		snprintf(why, sizeof(why), "link seq %" PRIu64 " out of range", seq);
		upstream_refuse(u, &t->refused.seq_wrap, PB_WIRE_E_MALFORMED, why);
		return;
	}
	if (seq < u->expected) {
		u->link_duplicates++; /* resent after a resume: we have it */
		return;
	}
	if (seq > u->expected) {
		/* Records vanished on a TCP stream, or a peer moves our custody
		 * point: refuse before anything moves. The sender resumes at
		 * our custody point after reconnecting. */
		char why[160];
		snprintf(why, sizeof(why), "link seq %" PRIu64 " ahead of the expected %" PRIu64
		    " without DLQ_NOTICE", seq, u->expected);
		upstream_refuse(u, &t->refused.seq_jump, PB_WIRE_E_MALFORMED, why);
		return;
	}
	/* A record that passed through this node already, or went too far, is
	 * dropped whatever its origin: loops are a topology fact, not a
	 * forgery, and a looped stream arrives through a second link. */
	bool looped = pb_record_has_node(in, t->cfg->node.id);
	if (!looped && in->nhops < t->tc->max_hops && !upstream_origin_ok(u, in))
		return;
	u->expected = seq + 1;

	if (looped) {
		u->loops++;
		t->loops_dropped++;
		if (!t->loop_logged) {
			t->loop_logged = true;
			log_warnx("upstream", "forwarding loop: record from node %u via '%s' already passed "
			    "this node (%u); dropping such records (counted as loops)", in->origin_node,
			    u->name, t->cfg->node.id);
		}
		/* Dropped records need nothing from our destinations: waiting on
		 * a token here would deadlock a loop (each side waiting for the
		 * other's ACK). */
		fifo2_push(&u->pending, seq, 0);
		return;
	}
	if (in->nhops >= t->tc->max_hops) {
		u->hop_limit++;
		t->hop_limit_dropped++;
		fifo2_push(&u->pending, seq, 0);
		return;
	}
	enum pb_gap_result g = pb_gaps_observe(t->gaps, in->origin_node, in->origin_source,
	    in->origin_epoch, in->origin_seq);
	if (g == PB_GAP_DUPLICATE) {
		/* Seen before, so already routed: its first copy's custody covers
		 * it only if that copy is done, hence wait on the current token. */
		u->origin_duplicates++;
		t->origin_duplicates++;
		fifo2_push(&u->pending, seq, t->env.last_token(t->env.ctx));
		return;
	}

	/* The decoded record is ours to change: this node's hop and the link
	 * go in place. (A copy of it cost a store-forwarding stall per record:
	 * wide loads of fields the decoder had just stored one by one.) */
	struct pb_record *rec = in;
	/* The receive time of the read that brought it: one clock per wakeup. */
	pb_record_add_hop(rec, t->cfg->node.id, ++t->hop_seq, t->env.now_real(t->env.ctx));
	/* The route it came by, this node last, for /gaps (a new stream or failover). */
	if (g == PB_GAP_IN_ORDER || g == PB_GAP_AHEAD || g == PB_GAP_FILLED)
		pb_gaps_note_path(t->gaps, rec->origin_node, rec->origin_source, rec->origin_epoch,
		    rec->hops, rec->nhops);
	rec->link_node = u->node_id;
	rec->link_epoch = u->epoch;
	rec->link_seq = seq;
	t->env.route(t->env.ctx, rec, true);
	fifo2_push(&u->pending, seq, rec->token);
}

/*
 * The sender moved [first, last] to its DLQ: never wait for them. It takes
 * the place of those records in sequence order (spec 6.5), so it starts at
 * or before the next expected seq (earlier: records sent, then expired
 * before our ACK arrived); one that starts later would skip records, one
 * longer than TUNNEL_NOTICE_MAX or reaching TUNNEL_SEQ_LIMIT moves custody
 * further than any sender can have numbered.
 */
static void
upstream_notice(struct tunnel_receiver *u, const struct pb_wire_dlq_notice *n)
{
	struct pb_tunnel *t = u->t;
	char why[160];
	if (n->last_seq >= TUNNEL_SEQ_LIMIT) {
		snprintf(why, sizeof(why), "DLQ_NOTICE %" PRIu64 "..%" PRIu64 " out of range",
		    n->first_seq, n->last_seq);
		upstream_refuse(u, &t->refused.seq_wrap, PB_WIRE_E_MALFORMED, why);
		return;
	}
	if (n->first_seq > u->expected || n->last_seq - n->first_seq >= TUNNEL_NOTICE_MAX) {
		snprintf(why, sizeof(why), "DLQ_NOTICE %" PRIu64 "..%" PRIu64 " %s (expected"
		    " link seq %" PRIu64 ")", n->first_seq, n->last_seq,
		    n->first_seq > u->expected ? "skips records" : "longer than 2^32 records",
		    u->expected);
		upstream_refuse(u, &t->refused.notice_invalid, PB_WIRE_E_MALFORMED, why);
		return;
	}
	/* Released: the sender failed over from another receiver of a tier,
	 * which holds those in custody; not a DLQ of the sender's. */
	if (n->reason == PB_WIRE_DLQ_RELEASED)
		u->acked_elsewhere += n->last_seq - n->first_seq + 1;
	else
		u->dlq_announced += n->last_seq - n->first_seq + 1;
	if (n->last_seq >= u->expected) {
		u->expected = n->last_seq + 1;
		fifo2_push(&u->pending, n->last_seq, 0);
	}
}

void
receiver_on_message(struct tunnel_receiver *u, struct pb_wire_msg *m)
{
	switch (m->type) {
	case PB_WIRE_T_RECORD:
		upstream_record(u, m);
		break;
	case PB_WIRE_T_DLQ_NOTICE:
		upstream_notice(u, &m->dlq);
		break;
	case PB_WIRE_T_NODE:
		upstream_learn_node(u, &m->node);
		break;
	case PB_WIRE_T_SOURCE:
		upstream_learn_source(u, &m->source);
		break;
	default:
		break;
	}
}
