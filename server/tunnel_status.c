/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "tunnel_send.h"
#include "tunnel_status.h"

static void
snap_link(struct pb_peer_snap *s, struct pb_link *link)
{
	s->tls = -1;
	if (!link)
		return;
	struct pb_link_stats st;
	pb_link_get_stats(link, &st);
	s->tls = st.tls ? 1 : 0;
	s->connected_since_ns = st.state == PB_LINK_UP ? st.connected_since_ns : 0;
	snprintf(s->last_error, sizeof(s->last_error), "%s", st.last_error);
	s->rtt_ns = st.rtt_ns;
	s->reconnects = st.reconnects;
	s->failovers = st.failovers;
	s->auth_failures = st.auth_failures;
	s->protocol_errors = st.protocol_errors;
	if (!s->address[0])
		snprintf(s->address, sizeof(s->address), "%s", st.peer_addr);
}

static void
snap_node(struct pb_tunnel *t, struct pb_peer_snap *s, uint32_t node)
{
	s->node_id = node;
	const struct pb_node_info *n = node ? pb_srcdir_node(t->dir, node) : NULL;
	if (n)
		snprintf(s->node_name, sizeof(s->node_name), "%s", n->name);
}

void
status_publish(struct pb_tunnel *t)
{
	size_t n = t->npeers + t->nups;
	struct pb_peer_snap *snap = calloc(n ? n : 1, sizeof(*snap));
	if (!snap)
		return;
	uint64_t now = pb_mono_ns();
	size_t k = 0;
	for (size_t i = 0; i < t->npeers; i++, k++) {
		struct tunnel_sender *p = t->peers[i];
		struct pb_peer_snap *s = &snap[k];
		struct pb_resend_stats rs;
		pb_resend_get_stats(p->rs, &rs);
		snprintf(s->name, sizeof(s->name), "%s", p->name);
		snprintf(s->direction, sizeof(s->direction), "downstream");
		snprintf(s->origin, sizeof(s->origin), "%s", p->configured ? "dial" : "accept");
		snprintf(s->state, sizeof(s->state), "%s", sender_state(p));
		snprintf(s->address, sizeof(s->address), "%s", p->address);
		snap_node(t, s, p->node_id);
		snap_link(s, p->conn ? p->conn->link : NULL);
		s->records_sent = p->records_sent;
		s->bytes_sent = p->bytes_sent;
		s->records_acked = p->records_acked;
		s->bytes_acked = p->bytes_enqueued - p->bytes_spilled - rs.used_bytes;
		s->in_flight = rs.entries;
		s->in_flight_bytes = rs.used_bytes;
		s->resent = p->resent;
		s->to_dlq = p->to_dlq;
		s->dlq_refused = p->dlq_refused;
		s->replayed = p->replayed;
		s->buffer_used = rs.used_bytes;
		s->buffer_capacity = rs.capacity;
		s->oldest_unacked_age_ms = rs.oldest_enqueue_ns ? (now - rs.oldest_enqueue_ns) / PB_NSEC_PER_MSEC : 0;
		s->next_seq = p->next_seq;
		s->acked_seq = p->acked_seq;
	}
	for (size_t i = 0; i < t->nups; i++, k++) {
		struct tunnel_receiver *u = t->ups[i];
		struct pb_peer_snap *s = &snap[k];
		snprintf(s->name, sizeof(s->name), "%s", u->name);
		snprintf(s->direction, sizeof(s->direction), "upstream");
		snprintf(s->origin, sizeof(s->origin), "%s", u->configured ? "dial" : "accept");
		const char *st = "down";
		if (u->conn && u->conn->link) {
			enum pb_link_state ls = pb_link_state(u->conn->link);
			st = ls == PB_LINK_UP ? "up" : ls == PB_LINK_DOWN || ls == PB_LINK_CLOSED ? "down" : "connecting";
		}
		snprintf(s->state, sizeof(s->state), "%s", st);
		snprintf(s->address, sizeof(s->address), "%s", u->address);
		snap_node(t, s, u->node_id);
		snap_link(s, u->conn ? u->conn->link : NULL);
		s->records_received = u->records_received;
		s->bytes_received = u->bytes_received;
		s->link_duplicates = u->link_duplicates;
		s->link_lost = u->link_lost;
		s->origin_duplicates = u->origin_duplicates;
		s->loops = u->loops;
		s->hop_limit = u->hop_limit;
		s->dlq_announced = u->dlq_announced;
		s->acked_elsewhere = u->acked_elsewhere;
		s->custody_seq = u->custody_seq;
		s->epoch = u->epoch;
	}
	pthread_mutex_lock(&t->pubstate->lock);
	struct pb_peer_snap *old = t->pubstate->peers;
	t->pubstate->peers = snap;
	t->pubstate->npeers = n;
	t->pubstate->peers_generated_ns = pb_real_ns();
	t->pubstate->loops_dropped = t->loops_dropped;
	t->pubstate->hop_limit_dropped = t->hop_limit_dropped;
	t->pubstate->origin_duplicates = t->origin_duplicates;
	uint64_t recs = 0;
	for (size_t i = 0; i < t->nups; i++)
		recs += t->ups[i]->records_received;
	t->pubstate->link_records = recs;
	t->pubstate->auth_failures = t->refused_auth;
	t->pubstate->protocol_errors = t->refused_protocol;
	t->pubstate->refused = t->refused;
	pthread_mutex_unlock(&t->pubstate->lock);
	free(old);
	pb_pubstate_publish_dlq(t->pubstate, t->dlq);
}
