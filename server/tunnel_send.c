/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "tunnel_send.h"
#include "wire.h"

/*
 * Downstream peers: records wait in a per-peer resend buffer (encoded
 * RECORD messages, link seq in order) until the peer acknowledges custody.
 * What the buffer cannot keep - too old (resend.timeout), pushed out when
 * full, or still there at shutdown - moves to the SQLite DLQ with a
 * reason, and the peer is told with DLQ_NOTICE so it never waits for it.
 */

#define EXPIRY_TICK_NS (100 * PB_NSEC_PER_MSEC)
/* Average record size assumed to size the entry index of a buffer. */
#define AVG_ENTRY_BYTES 96u

static int64_t peer_expiry_tick(struct pb_loop *loop, void *arg);
static void peer_release(struct tunnel_sender *p, uint64_t seq);

struct tunnel_sender *
sender_new(struct pb_tunnel *t, const char *name, const char *address, bool configured)
{
	struct tunnel_sender *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->t = t;
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->address, sizeof(p->address), "%s", address ? address : "");
	p->configured = configured;
	p->next_seq = 1;
	size_t cap = (size_t)t->tc->resend.buffer_bytes;
	p->rs = pb_resend_new(cap, cap / AVG_ENTRY_BYTES + 1024);
	if (!p->rs) {
		free(p);
		return NULL;
	}
	p->expiry_timer = pb_loop_add_timer(t->loop, EXPIRY_TICK_NS, peer_expiry_tick, p);
	return p;
}

void
sender_free(struct tunnel_sender *p)
{
	if (!p)
		return;
	pb_loop_del_timer(p->t->loop, p->expiry_timer);
	pb_resend_free(p->rs);
	fifo2_free(&p->toks);
	fifo2_free(&p->spills);
	fifo2_free(&p->replays);
	fifo2_free(&p->replay_job);
	free(p);
}

struct tunnel_sender *
sender_find(struct pb_tunnel *t, const char *name)
{
	for (size_t i = 0; i < t->npeers; i++)
		if (strcmp(t->peers[i]->name, name) == 0)
			return t->peers[i];
	return NULL;
}

const char *
sender_state(const struct tunnel_sender *p)
{
	if (!p->conn || !p->conn->link)
		return "down";
	switch (pb_link_state(p->conn->link)) {
	case PB_LINK_UP:
		break;
	case PB_LINK_IDLE:
	case PB_LINK_CONNECTING:
	case PB_LINK_HANDSHAKE:
		return "connecting";
	default:
		return "down";
	}
	struct pb_resend_stats st;
	pb_resend_get_stats(p->rs, &st);
	uint64_t slow_ns = (uint64_t)(p->t->tc->slow_after_s * 1e9);
	if (st.entries && pb_mono_ns() - p->acked_change_ns > slow_ns)
		return "slow";
	return "up";
}

uint64_t
sender_window(const struct pb_tunnel *t)
{
	uint64_t w = t->tc->resend.window_bytes, cap = t->tc->resend.buffer_bytes / 4 * 3;
	return w && w < cap ? w : cap;
}

/* Below the resume mark of senders_check_window. */
bool
sender_room(const struct tunnel_sender *p)
{
	struct pb_resend_stats st;
	pb_resend_get_stats(p->rs, &st);
	return st.used_bytes < sender_window(p->t) / 3 * 2;
}

uint64_t
sender_custody(const struct tunnel_sender *p)
{
	uint64_t c = UINT64_MAX;
	const uint64_t *t;
	if ((t = fifo2_front((struct fifo2 *)&p->toks)) && t[1] && t[1] - 1 < c)
		c = t[1] - 1;
	if ((t = fifo2_front((struct fifo2 *)&p->spills)) && t[1] && t[1] - 1 < c)
		c = t[1] - 1;
	return c;
}

static void
peer_notice(struct tunnel_sender *p, uint64_t first, uint64_t last, uint32_t reason)
{
	if (!p->up || first > last)
		return;
	/* Receivers refuse ranges longer than TUNNEL_NOTICE_MAX: split. */
	while (first <= last) {
		struct pb_wire_msg m = { .type = PB_WIRE_T_DLQ_NOTICE };
		m.dlq.first_seq = first;
		m.dlq.last_seq = last - first >= TUNNEL_NOTICE_MAX ? first + TUNNEL_NOTICE_MAX - 1 :
		    last;
		m.dlq.reason = reason;
		if (pb_link_send_msg(p->conn->link, &m) != 0)
			return;
		p->notices++;
		if (m.dlq.last_seq > p->noticed_seq)
			p->noticed_seq = m.dlq.last_seq;
		if (m.dlq.last_seq == last)
			break;
		first = m.dlq.last_seq + 1;
	}
}

/* Moves one encoded RECORD to the DLQ. Returns 0 when accepted. */
static int
peer_to_dlq(struct tunnel_sender *p, const uint8_t *msg, size_t len, int reason, uint64_t token)
{
	struct pb_tunnel *t = p->t;
	struct pb_wire_msg m;
	size_t used;
	char err[128];

	if (pb_wire_decode(msg, len, &m, &used, err, sizeof(err)) != PB_WIRE_OK ||
	    m.type != PB_WIRE_T_RECORD) {
		log_warnx("dlq", "peer '%s': cannot decode a buffered record: %s", p->name, err);
		p->dlq_refused++;
		return -1;
	}
	if (!t->dlq) {
		p->dlq_refused++;
		return -1;
	}
	struct pb_dlq_meta meta = {
		.origin_node = m.record.origin_node,
		.origin_source = m.record.origin_source,
		.reason = (uint8_t)reason,
		.origin_epoch = m.record.origin_epoch,
		.origin_seq = m.record.origin_seq,
		.capture_ns = m.record.ts_ns,
		.enqueue_ns = pb_real_ns(),
	};
	snprintf(meta.peer, sizeof(meta.peer), "%s", p->name);
	uint64_t dtok = 0;
	if (pb_dlq_put(t->dlq, &meta, msg, len, &dtok) < 0) {
		p->dlq_refused++;
		return -1;
	}
	p->to_dlq++;
	if (token)
		fifo2_push(&p->spills, dtok, token);
	return 0;
}

static void
peer_log_refused(struct tunnel_sender *p, const char *why)
{
	static uint64_t last_ns;
	uint64_t now = pb_mono_ns();
	if (now - last_ns < 10 * PB_NSEC_PER_SEC)
		return;
	last_ns = now;
	log_warnx("dlq", "peer '%s': %s and the DLQ refused it (%s): %llu record(s) lost so far; "
	    "see /api/v1/dlq", p->name, why, p->t->dlq ? "DLQ full or queue full" : "no dlq.path configured",
	    (unsigned long long)p->dlq_refused);
}

/* Drops the oldest buffered record to the DLQ. -1 when it is in flight. */
static int
peer_spill_oldest(struct tunnel_sender *p, int reason)
{
	uint64_t seq, ns;
	const void *msg;
	size_t len;

	if (pb_resend_oldest(p->rs, &seq, &ns, &msg, &len) < 0)
		return -1;
	if (pb_resend_oldest_in_flight(p->rs))
		return -1;
	uint64_t *t = fifo2_front(&p->toks);
	uint64_t token = t && t[0] == seq ? t[1] : 0;
	uint64_t *r = fifo2_front(&p->replays);
	if (r && r[0] == seq) {
		/* A replayed record: its row is deleted only once acknowledged,
		 * so it is still in the DLQ. Writing it again would be a wasted
		 * insert (ignored by the unique key) counted in to_dlq twice. */
		uint64_t *j = fifo2_front(&p->replay_job);
		p->t->hooks.replay_requeued(p->t, (int)j[1]);
		fifo2_pop(&p->replays);
		fifo2_pop(&p->replay_job);
		p->replay_kept++;
	} else {
		p->bytes_spilled += len;
		if (peer_to_dlq(p, msg, len, reason, token) < 0)
			peer_log_refused(p, reason == PB_DLQ_TIMEOUT ? "a record expired" :
			    "the buffer overflowed");
	}
	pb_resend_drop_oldest(p->rs);
	if (t && t[0] == seq)
		fifo2_pop(&p->toks);
	peer_notice(p, seq, seq, reason == PB_DLQ_TIMEOUT ? PB_WIRE_DLQ_EXPIRED : PB_WIRE_DLQ_QUEUE_FULL);
	return 0;
}

static void
peer_direct_to_dlq(struct tunnel_sender *p, const struct pb_record *rec, uint64_t token)
{
	/* Encode with a placeholder seq: the record never entered the link. */
	uint8_t stackbuf[PB_WIRE_MAX_MSG];
	size_t n = pb_wire_encode_record(stackbuf, sizeof(stackbuf), rec, 1);
	if (!n || peer_to_dlq(p, stackbuf, n, PB_DLQ_OVERFLOW, token) < 0)
		peer_log_refused(p, "the buffer overflowed");
}

void
sender_enqueue(struct tunnel_sender *p, const struct pb_record *rec, uint64_t token,
    uint64_t replay_row, int replay_job)
{
	size_t need = pb_wire_record_size(rec);
	void *dst;

	while (!(dst = pb_resend_reserve(p->rs, need))) {
		if (errno == EMSGSIZE || peer_spill_oldest(p, PB_DLQ_OVERFLOW) < 0) {
			if (replay_row) {
				p->t->hooks.replay_requeued(p->t, replay_job);
				return;
			}
			peer_direct_to_dlq(p, rec, token);
			return;
		}
	}
	uint64_t seq = p->next_seq;
	size_t n = pb_wire_encode_record(dst, need, rec, seq);
	if (!n || pb_resend_commit(p->rs, seq, pb_loop_now(p->t->loop), n) < 0) {
		log_warnx("peer", "peer '%s': cannot encode record %u/%u seq %llu", p->name,
		    rec->origin_node, rec->origin_source, (unsigned long long)rec->origin_seq);
		return;
	}
	p->next_seq++;
	p->bytes_enqueued += n;
	fifo2_push(&p->toks, seq, token);
	if (replay_row) {
		fifo2_push(&p->replays, seq, replay_row);
		fifo2_push(&p->replay_job, seq, (uint64_t)replay_job);
		p->replayed++;
	}
	p->kick = true;
}

static int64_t
peer_expiry_tick(struct pb_loop *loop, void *arg)
{
	struct tunnel_sender *p = arg;
	sender_announce(p); /* what a full control queue held back */
	uint64_t timeout = (uint64_t)(p->t->tc->resend.timeout_s * 1e9);
	uint64_t now = pb_mono_ns();
	pb_resend_trim(p->rs, now); /* empty and idle: back to the first sizes */
	uint64_t seq, ns;
	const void *msg;
	size_t len;

	unsigned n = 0;
	while (pb_resend_oldest(p->rs, &seq, &ns, &msg, &len) == 0 && now - ns > timeout) {
		/* A burst of expiries must not overrun the DLQ's write queue: the
		 * records are safe here until the writer catches up. */
		if ((++n & 1023) == 0 && p->t->dlq &&
		    pb_dlq_queued_bytes(p->t->dlq) > TUNNEL_DLQ_QUEUE_BYTES / 2)
			break;
		if (pb_resend_oldest_in_flight(p->rs)) {
			/* Stuck mid-message for longer than the timeout: reset the
			 * connection so the record can leave the buffer. */
			if (p->up)
				pb_link_drop(p->conn->link, PB_WIRE_E_TIMEOUT, "record stuck in flight");
			break;
		}
		peer_spill_oldest(p, PB_DLQ_TIMEOUT);
	}
	return (int64_t)EXPIRY_TICK_NS;
}

void
sender_spill_all(struct tunnel_sender *p, int reason)
{
	uint64_t n = 0, before = p->to_dlq, kept = p->replay_kept;
	pb_resend_rewind(p->rs); /* nothing is in flight any more */
	while (peer_spill_oldest(p, reason) == 0)
		n++;
	n -= p->replay_kept - kept; /* still in the DLQ: neither moved nor lost */
	if (p->to_dlq > before)
		log_info("peer", "peer '%s': %llu unacknowledged record(s) moved to the DLQ (%s)",
		    p->name, (unsigned long long)(p->to_dlq - before), pb_dlq_reason_name(reason));
	if (n > p->to_dlq - before)
		log_warnx("peer", "peer '%s': %llu unacknowledged record(s) lost at %s: %s",
		    p->name, (unsigned long long)(n - (p->to_dlq - before)), pb_dlq_reason_name(reason),
		    p->t->dlq ? "the DLQ refused them" : "no dlq.path configured");
}

void
sender_dlq_committed(struct tunnel_sender *p, uint64_t token, int status)
{
	uint64_t *s;
	while ((s = fifo2_front(&p->spills)) && s[0] <= token)
		fifo2_pop(&p->spills);
	if (status < 0)
		log_warnx("dlq", "peer '%s': a DLQ batch failed to commit (puts up to %llu lost)",
		    p->name, (unsigned long long)token);
}

void
sender_attach(struct tunnel_sender *p, struct tunnel_conn *c)
{
	p->conn = c;
	c->peer = p;
	p->resumed = false;
}

void
sender_detach(struct tunnel_sender *p, const char *reason)
{
	if (p->up)
		log_warnx("peer", "peer '%s' down: %s (%llu record(s) unacknowledged, kept for %.1f s)",
		    p->name, reason, (unsigned long long)p->toks.n, p->t->tc->resend.timeout_s);
	p->up = false;
	p->resumed = false;
	p->announced_nodes = p->announced_sources = 0;
	/* Everything not acknowledged goes again on the next connection. */
	pb_resend_rewind(p->rs);
	if (p->conn && p->conn->accepted) {
		p->conn->peer = NULL;
		p->conn = NULL;
	}
}

void
sender_on_welcome(struct tunnel_sender *p, const struct pb_wire_welcome *w)
{
	uint64_t resume = w->resume_seq;
	uint64_t before = p->sent_seq;

	if (resume >= p->next_seq) {
		/* The receiver claims more than we ever numbered (our epoch
		 * changes at every start): taking it as an ACK would release
		 * records nobody holds. */
		char why[160];
		p->t->refused.resume_ahead++;
		snprintf(why, sizeof(why), "WELCOME resumes at link seq %llu, beyond the last we"
		    " numbered (%llu)", (unsigned long long)resume,
		    (unsigned long long)(p->next_seq - 1));
		log_warnx_rl("peer", "peer '%s' (%s): %s: connection refused", p->name, p->address, why);
		pb_link_drop(p->conn->link, PB_WIRE_E_MALFORMED, why);
		return;
	}
	peer_release(p, resume);
	pb_resend_rewind(p->rs);
	p->sent_seq = resume;
	p->noticed_seq = 0;
	/* Not what another receiver of a tier acknowledged (announced, below). */
	if (before > p->acked_seq)
		p->resent += before - p->acked_seq;
	/* Records after `resume` that we no longer hold went to the DLQ. */
	uint64_t seq, ns;
	const void *msg;
	size_t len;
	uint64_t first_held = pb_resend_oldest(p->rs, &seq, &ns, &msg, &len) == 0 ? seq : p->next_seq;
	/* Sent from sender_on_up: control messages need the link UP. */
	p->notice_first = first_held > resume + 1 ? resume + 1 : 0;
	p->notice_last = first_held - 1;
	p->resumed = true;
	p->acked_change_ns = pb_mono_ns();
	log_info("peer", "peer '%s' up (node %u): resuming after link seq %llu, %zu record(s) to resend",
	    p->name, p->node_id, (unsigned long long)resume, p->toks.n);
}

void
sender_on_ack(struct tunnel_sender *p, uint64_t seq)
{
	/* Spec 6.3: an ACK can only cover what this connection carried
	 * (records written, ranges noticed) or what the WELCOME said. */
	uint64_t top = p->sent_seq > p->noticed_seq ? p->sent_seq : p->noticed_seq;
	if (seq > top) {
		char why[160];
		p->t->refused.ack_ahead++;
		snprintf(why, sizeof(why), "ACK %llu above the highest link seq sent (%llu)",
		    (unsigned long long)seq, (unsigned long long)top);
		log_warnx_rl("peer", "peer '%s' (%s): %s: connection refused", p->name, p->address, why);
		if (p->conn && p->conn->link)
			pb_link_drop(p->conn->link, PB_WIRE_E_MALFORMED, why);
		return;
	}
	peer_release(p, seq);
}

static void
peer_release(struct tunnel_sender *p, uint64_t seq)
{
	uint64_t *t;
	size_t freed = 0;
	while ((t = fifo2_front(&p->toks)) && t[0] <= seq) {
		fifo2_pop(&p->toks);
		freed++;
	}
	pb_resend_ack(p->rs, seq);
	uint64_t *r;
	while ((r = fifo2_front(&p->replays)) && r[0] <= seq) {
		uint64_t *j = fifo2_front(&p->replay_job);
		p->t->hooks.replay_acked(p->t, (int)j[1], r[1]);
		fifo2_pop(&p->replays);
		fifo2_pop(&p->replay_job);
	}
	p->t->hooks.replay_flush(p->t);
	if (seq > p->acked_seq) {
		p->acked_seq = seq;
		p->acked_change_ns = pb_mono_ns();
	}
	p->records_acked += freed;
}

int
sender_fill_iov(struct tunnel_sender *p, struct iovec *iov, int max)
{
	if (!p->resumed)
		return 0;
	return pb_resend_iov(p->rs, iov, max, 4u << 20);
}

size_t
sender_sent(struct tunnel_sender *p, size_t bytes, uint64_t *msgs)
{
	size_t left = pb_resend_sent_msgs(p->rs, bytes, msgs);
	p->bytes_sent += bytes;
	uint64_t s = pb_resend_last_sent_seq(p->rs);
	if (s > p->sent_seq) {
		p->records_sent += s - p->sent_seq;
		p->sent_seq = s;
	}
	return left;
}

void
sender_on_up(struct tunnel_sender *p)
{
	p->up = true;
	if (p->notice_first) {
		/* Up to acked_seq another receiver (a tier's other member, or
		 * this one before a restart) took custody; past it they expired. */
		uint64_t first = p->notice_first;
		if (first <= p->acked_seq) {
			uint64_t last = p->acked_seq < p->notice_last ? p->acked_seq : p->notice_last;
			peer_notice(p, first, last, PB_WIRE_DLQ_RELEASED);
			first = last + 1;
		}
		if (first <= p->notice_last)
			peer_notice(p, first, p->notice_last, PB_WIRE_DLQ_EXPIRED);
		p->notice_first = 0;
	}
	sender_announce(p);
	if (p->conn && p->conn->link)
		pb_link_kick(p->conn->link);
}

int
sender_send_node(struct pb_link *link, const struct pb_node_info *n)
{
	struct pb_wire_msg m = { .type = PB_WIRE_T_NODE };
	m.node.node_id = n->node_id;
	m.node.name.ptr = n->name;
	m.node.name.len = (uint16_t)strlen(n->name);
	m.node.descr.ptr = n->description;
	m.node.descr.len = (uint16_t)strlen(n->description);
	return pb_link_send_msg(link, &m);
}

/* Sends NODE/SOURCE announcements the peer has not had on this connection. */
void
sender_announce(struct tunnel_sender *p)
{
	struct pb_tunnel *t = p->t;
	if (!p->up)
		return;
	/* A full control queue (ENOBUFS) is not an error: the rest goes out
	 * from the expiry tick once the queue drained. */
	for (; p->announced_nodes < t->nknown_nodes; p->announced_nodes++) {
		const struct pb_node_info *n = pb_srcdir_node(t->dir, (uint32_t)t->known_nodes[p->announced_nodes]);
		if (!n)
			continue;
		if (pb_link_ctrl_pending(p->conn->link) > PB_LINK_CTRL_MAX / 2)
			return;
		if (sender_send_node(p->conn->link, n) < 0) {
			log_warnx_rl("peer", "peer '%s': cannot announce node %u: %s", p->name,
			    n->node_id, strerror(errno));
			return;
		}
	}
	for (; p->announced_sources < t->nknown_sources; p->announced_sources++) {
		uint64_t k = t->known_sources[p->announced_sources];
		const struct pb_source_info *s =
		    pb_srcdir_source(t->dir, (uint32_t)(k >> 16), (uint16_t)(k & 0xffff));
		if (!s)
			continue;
		if (pb_link_ctrl_pending(p->conn->link) > PB_LINK_CTRL_MAX / 2)
			return;
		struct pb_wire_msg m = { .type = PB_WIRE_T_SOURCE };
		m.source.node_id = s->node_id;
		m.source.source_id = s->source_id;
		m.source.linktype = s->linktype;
		m.source.name.ptr = s->name;
		m.source.name.len = (uint16_t)strlen(s->name);
		m.source.descr.ptr = s->description;
		m.source.descr.len = (uint16_t)strlen(s->description);
		if (pb_link_send_msg(p->conn->link, &m) < 0) {
			log_warnx_rl("peer", "peer '%s': cannot announce source %u/%u: %s", p->name,
			    s->node_id, s->source_id, strerror(errno));
			return;
		}
	}
}

void
sender_resume_numbering(struct tunnel_sender *p)
{
	struct pb_tunnel *t = p->t;
	for (size_t i = 0; i < t->nremoved; i++) {
		if (t->removed[i].node != p->node_id)
			continue;
		/* Same name too: its DLQ rows are filed under it. */
		p->next_seq = t->removed[i].next_seq;
		p->sent_seq = p->acked_seq = p->next_seq - 1;
		snprintf(p->name, sizeof(p->name), "%s", t->removed[i].name);
		t->removed[i] = t->removed[--t->nremoved];
		return;
	}
}

void
senders_sweep(struct pb_tunnel *t)
{
	uint64_t now = pb_mono_ns();
	uint64_t timeout = (uint64_t)(t->tc->resend.timeout_s * 1e9);
	for (size_t i = 0; i < t->npeers; i++) {
		struct tunnel_sender *p = t->peers[i];
		if (p->declared)
			continue;
		if (p->up || p->conn) {
			p->down_since_ns = 0;
			p->removing = false;
			continue;
		}
		if (!p->down_since_ns) {
			p->down_since_ns = now;
			continue;
		}
		if (!p->removing && now - p->down_since_ns > timeout) {
			log_info("peer", "consumer '%s' (node %u, undeclared) down for more than %.1f s:"
			    " removed", p->name, p->node_id, t->tc->resend.timeout_s);
			sender_spill_all(p, PB_DLQ_PEER_REMOVED);
			p->removing = true;
		}
		/* Custody waits on the spilled records' DLQ commit: free after. */
		if (p->removing && !p->spills.n && !p->replays.n) {
			size_t k = t->nremoved < sizeof(t->removed) / sizeof(t->removed[0]) ?
			    t->nremoved++ : (size_t)(now % t->nremoved);
			t->removed[k].node = p->node_id;
			t->removed[k].next_seq = p->next_seq;
			snprintf(t->removed[k].name, sizeof(t->removed[k].name), "%s", p->name);
			sender_free(p);
			t->peers[i] = t->peers[--t->npeers];
			i--;
		}
	}
}

/* Hysteresis on what the connected peers hold unacknowledged: full above
 * the window (sender_window), no longer below 2/3 of it. Peers that are
 * down do not count: their records expire into the DLQ. The DLQ's write
 * queue counts too (full above half, no longer below a quarter): a
 * record that overflows a buffer while it is full would be refused and
 * lost, where a paused file or upstream loses nothing. */
void
senders_check_window(struct pb_tunnel *t)
{
	uint64_t win = sender_window(t);
	bool high = false, low = true;
	if (t->dlq) {
		uint64_t q = pb_dlq_queued_bytes(t->dlq);
		high = q > TUNNEL_DLQ_QUEUE_BYTES / 2;
		low = q <= TUNNEL_DLQ_QUEUE_BYTES / 4;
	}
	for (size_t i = 0; i < t->npeers; i++) {
		struct tunnel_sender *p = t->peers[i];
		if (!p->up)
			continue;
		struct pb_resend_stats st;
		pb_resend_get_stats(p->rs, &st);
		if (st.used_bytes > win)
			high = true;
		if (st.used_bytes > win / 3 * 2)
			low = false;
	}
	bool want = t->peers_full ? !low : high;
	if (want == t->peers_full)
		return;
	t->peers_full = want;
	t->env.peers_full(t->env.ctx, want);
}
