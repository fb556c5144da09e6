/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "engine_int.h"
#include "log.h"
#include "wire.h"

/*
 * DLQ replay jobs and the management side of the tunnel. A job fetches
 * DLQ rows in id order at its rate, sends them through the normal reliable
 * path of their peer (or another one) and deletes each row only once that
 * peer acknowledged it. A row that cannot be delivered stays. Replaying
 * twice never duplicates at the collector: receivers drop records whose
 * origin sequence number they have already seen.
 */

#define REPLAY_TICK_NS (20 * PB_NSEC_PER_MSEC)
/* Token bucket depth: a job catches up at most this much after a stall. */
#define REPLAY_BURST_S 0.1

static void
job_sync(struct pb_engine *e, int i)
{
	struct pb_replay_job *j = &e->pubstate.jobs[i];
	const struct fwd_replay *r = &e->replays[i];
	pthread_mutex_lock(&e->pubstate.lock);
	j->state = r->state;
	j->fetched = r->fetched;
	j->sent = r->sent;
	j->acked = r->acked;
	j->deleted = r->deleted;
	j->skipped = r->skipped;
	j->errors = r->errors;
	j->finished_ns = r->finished_ns;
	_Static_assert(sizeof(j->error) == sizeof(r->error), "same size");
	memcpy(j->error, r->error, sizeof(j->error));
	j->error[sizeof(j->error) - 1] = '\0';
	pthread_mutex_unlock(&e->pubstate.lock);
}

static void
job_finish(struct pb_engine *e, int i, int state, const char *error)
{
	struct fwd_replay *r = &e->replays[i];
	e->replays[i].state = state;
	e->replays[i].finished_ns = pb_real_ns();
	if (error)
		snprintf(e->replays[i].error, sizeof(e->replays[i].error), "%s", error);
	r->active = false;
	job_sync(e, i);
	log_info("dlq", "replay %llu %s: %llu fetched, %llu acknowledged and deleted, %llu left in the DLQ%s%s",
	    (unsigned long long)r->id, state == PB_REPLAY_DONE ? "done" : "failed",
	    (unsigned long long)e->replays[i].fetched, (unsigned long long)e->replays[i].deleted,
	    (unsigned long long)e->replays[i].skipped, error ? ": " : "", error ? error : "");
}

/* A free slot, else the oldest finished job's; -1 when every job is active. */
static int
job_slot(struct pb_engine *e)
{
	int oldest = -1;
	for (int i = 0; i < FWD_MAX_REPLAYS; i++) {
		if (!e->pubstate.jobs[i].id)
			return i;
		if (!e->replays[i].active &&
		    (oldest < 0 || e->pubstate.jobs[i].id < e->pubstate.jobs[oldest].id))
			oldest = i;
	}
	return oldest;
}

static bool
filter_equal(const struct pb_dlq_filter *a, const struct pb_dlq_filter *b)
{
	return strncmp(a->peer, b->peer, sizeof(a->peer)) == 0 &&
	    a->by_node == b->by_node && (!a->by_node || a->origin_node == b->origin_node) &&
	    a->by_reason == b->by_reason && (!a->by_reason || a->reason == b->reason) &&
	    a->capture_min_ns == b->capture_min_ns && a->capture_max_ns == b->capture_max_ns &&
	    a->id_min == b->id_min && a->id_max == b->id_max;
}

/* The peer a job sends to: its target, else the filter's peer ("" = each row's own). */
static const char *
job_dest(const struct fwd_replay *r)
{
	return r->target[0] ? r->target : r->filter.peer;
}

/* Returns an enum pb_replay_verdict; *existing is set for a duplicate. */
static int
job_start(struct pb_engine *e, uint64_t id, const struct pb_dlq_filter *f, const char *target,
    double rate, uint32_t wait_s, bool is_auto, uint64_t *existing)
{
	for (int k = 0; k < FWD_MAX_REPLAYS; k++) {
		const struct fwd_replay *o = &e->replays[k];
		/* The same rows to the same peer twice only doubles the traffic. */
		if (o->active && strncmp(o->target, target, sizeof(o->target)) == 0 &&
		    filter_equal(&o->filter, f)) {
			*existing = o->id;
			log_info("dlq", "replay %llu refused: replay %llu has the same target and filter",
			    (unsigned long long)id, (unsigned long long)o->id);
			return PB_REPLAY_DUPLICATE;
		}
	}
	int i = job_slot(e);
	if (i < 0) {
		log_warnx("dlq", "replay %llu refused: %d replays already active",
		    (unsigned long long)id, FWD_MAX_REPLAYS);
		return PB_REPLAY_TABLE_FULL;
	}
	struct fwd_replay *r = &e->replays[i];
	memset(r, 0, sizeof(*r));
	r->active = true;
	r->id = id;
	r->filter = *f;
	snprintf(r->target, sizeof(r->target), "%s", target);
	r->rate = rate > 0 ? rate : e->tc->dlq.replay_rate;
	r->wait_s = wait_s ? wait_s : PB_REPLAY_WAIT_DEFAULT_S;
	r->is_auto = is_auto;
	r->slot = i;
	r->state = PB_REPLAY_RUNNING;
	/* One row may go at once; then the rate refills the bucket. */
	r->tokens = 1.0;
	r->last_fetch_ns = pb_mono_ns();

	pthread_mutex_lock(&e->pubstate.lock);
	struct pb_replay_job *j = &e->pubstate.jobs[i];
	memset(j, 0, sizeof(*j));
	j->id = id;
	j->state = PB_REPLAY_RUNNING;
	j->filter = *f;
	snprintf(j->target, sizeof(j->target), "%s", target);
	j->rate = r->rate;
	j->wait_s = r->wait_s;
	j->created_ns = pb_real_ns();
	pthread_mutex_unlock(&e->pubstate.lock);

	if (!e->dlq) {
		job_finish(e, i, PB_REPLAY_FAILED, "no DLQ configured (dlq.path)");
		return PB_REPLAY_ACCEPTED;
	}
	if (target[0] && !fwd_peer_find(e, target)) {
		char msg[128];
		snprintf(msg, sizeof(msg), "unknown target peer '%s'", target);
		job_finish(e, i, PB_REPLAY_FAILED, msg);
		return PB_REPLAY_ACCEPTED;
	}
	log_info("dlq", "replay %llu started%s%s%s at %g records/s", (unsigned long long)id,
	    f->peer[0] ? " for peer " : "", f->peer, target[0] ? " (to another peer)" : "", r->rate);
	return PB_REPLAY_ACCEPTED;
}

void
fwd_replay_auto(struct pb_engine *e, struct fwd_peer *p)
{
	if (!e->dlq)
		return;
	struct pb_dlq_stats_snapshot ds;
	pb_dlq_get_stats(e->dlq, &ds);
	if (!ds.rows && !ds.queued)
		return; /* nothing stored: no job to show */
	for (int i = 0; i < FWD_MAX_REPLAYS; i++)
		if (e->replays[i].active && e->replays[i].is_auto &&
		    strcmp(e->replays[i].filter.peer, p->name) == 0)
			return;
	struct pb_dlq_filter f = { 0 };
	snprintf(f.peer, sizeof(f.peer), "%s", p->name);
	uint64_t id = atomic_fetch_add(&e->pubstate.next_request, 1) + 1, existing = 0;
	job_start(e, id, &f, "", 0, 0, true, &existing);
}

void
fwd_replay_flush_deletes(struct pb_engine *e)
{
	if (!e->ndel)
		return;
	if (e->dlq && pb_dlq_delete(e->dlq, e->del_ids, e->ndel) == 0)
		e->dlq_del_out++;
	e->ndel = 0;
}

void
fwd_replay_acked(struct pb_engine *e, int job, uint64_t row_id)
{
	if (e->ndel == sizeof(e->del_ids) / sizeof(e->del_ids[0]))
		fwd_replay_flush_deletes(e);
	e->del_ids[e->ndel++] = row_id;
	if (job < 0 || job >= FWD_MAX_REPLAYS)
		return;
	e->replays[job].acked++;
	e->replays[job].deleted++;
	if (e->replays[job].pending)
		e->replays[job].pending--;
}

void
fwd_replay_requeued(struct pb_engine *e, int job)
{
	if (job < 0 || job >= FWD_MAX_REPLAYS)
		return;
	e->replays[job].skipped++;
	if (e->replays[job].pending)
		e->replays[job].pending--;
}

/* The job's peer is connected and resumed (any peer, for a job without one). */
static bool
job_peer_up(struct pb_engine *e, const struct fwd_replay *r)
{
	const char *name = job_dest(r);
	if (name[0]) {
		struct fwd_peer *p = fwd_peer_find(e, name);
		return p && p->up && p->resumed;
	}
	for (size_t i = 0; i < e->npeers; i++)
		if (e->peers[i]->up)
			return true;
	return false;
}

static bool
job_peer_room(struct pb_engine *e, const struct fwd_replay *r)
{
	const char *name = job_dest(r);
	if (name[0]) {
		struct fwd_peer *p = fwd_peer_find(e, name);
		return p && fwd_peer_room(p);
	}
	for (size_t i = 0; i < e->npeers; i++)
		if (e->peers[i]->up && fwd_peer_room(e->peers[i]))
			return true;
	return false;
}

/*
 * Jobs for the same peer take turns, oldest first: each would otherwise
 * fetch (and send) the same rows. A job for every peer overlaps them all.
 */
static bool
job_blocked(struct pb_engine *e, const struct fwd_replay *r)
{
	const char *d = job_dest(r);
	for (int k = 0; k < FWD_MAX_REPLAYS; k++) {
		const struct fwd_replay *o = &e->replays[k];
		if (o == r || !o->active || o->id > r->id)
			continue;
		const char *od = job_dest(o);
		if (!d[0] || !od[0] || strcmp(d, od) == 0)
			return true;
	}
	return false;
}

/* Fails the job once its peer was down for longer than its wait_s. */
static bool
job_waited_too_long(struct pb_engine *e, int i, uint64_t now)
{
	struct fwd_replay *r = &e->replays[i];
	char msg[192];

	if (!r->down_since_ns) {
		r->down_since_ns = now;
		return false;
	}
	if (now - r->down_since_ns <= (uint64_t)r->wait_s * PB_NSEC_PER_SEC)
		return false;
	const char *name = job_dest(r);
	if (!name[0])
		snprintf(msg, sizeof(msg), "no peer up for more than %u s", r->wait_s);
	else if (!fwd_peer_find(e, name))
		snprintf(msg, sizeof(msg), "peer %s is not configured (waited %u s)", name, r->wait_s);
	else
		snprintf(msg, sizeof(msg), "peer %s down for more than %u s", name, r->wait_s);
	job_finish(e, i, PB_REPLAY_FAILED, msg);
	return true;
}

/* Fetches job i's next page when its rate, its peer and the other jobs
 * let it; finishes it once it is done. */
static void
job_pump(struct pb_engine *e, int i, uint64_t now)
{
	struct fwd_replay *r = &e->replays[i];

	if (!r->active || r->fetching)
		return;
	if (r->exhausted) {
		/* Done once every acked row's delete is committed. */
		if (!r->pending && !e->ndel && !e->dlq_del_out)
			job_finish(e, i, PB_REPLAY_DONE, NULL);
		return;
	}
	if (!e->dlq)
		return;
	if (!job_peer_up(e, r)) {
		/* No refill while waiting: the rate starts over once it is back. */
		r->last_fetch_ns = now;
		job_waited_too_long(e, i, now);
		return;
	}
	r->down_since_ns = 0;
	/* Token bucket: exact at any rate, even far below one row per tick. */
	double cap = r->rate * REPLAY_BURST_S;
	if (cap < 1)
		cap = 1;
	r->tokens += r->rate * (double)(now - r->last_fetch_ns) / 1e9;
	if (r->tokens > cap)
		r->tokens = cap;
	r->last_fetch_ns = now;
	if (r->tokens < 1 || !job_peer_room(e, r) || job_blocked(e, r))
		return;
	uint32_t rows = r->tokens > PB_DLQ_FETCH_MAX ? PB_DLQ_FETCH_MAX : (uint32_t)r->tokens;
	if (pb_dlq_fetch(e->dlq, &r->filter, r->after_id, rows, r->id) == 0) {
		r->fetching = true;
		r->asked = rows;
		r->tokens -= rows;
	}
}

int64_t
fwd_replay_tick(struct pb_loop *loop, void *arg)
{
	struct pb_engine *e = arg;
	uint64_t now = pb_mono_ns();

	for (int i = 0; i < FWD_MAX_REPLAYS; i++)
		job_pump(e, i, now);
	return (int64_t)REPLAY_TICK_NS;
}

static void
replay_rows(struct pb_engine *e, const struct pb_dlq_result *res)
{
	int i;
	for (i = 0; i < FWD_MAX_REPLAYS; i++)
		if (e->replays[i].active && e->replays[i].id == res->request_id)
			break;
	if (i == FWD_MAX_REPLAYS)
		return;
	struct fwd_replay *r = &e->replays[i];
	r->fetching = false;
	/* Rows asked for but not there are not spent. */
	if (res->status == 0 && res->count < r->asked)
		r->tokens += (double)(r->asked - res->count);
	r->asked = 0;
	if (res->status < 0) {
		e->replays[i].errors++;
		job_finish(e, i, PB_REPLAY_FAILED, "DLQ fetch failed");
		return;
	}
	for (uint64_t k = 0; k < res->count; k++) {
		const struct pb_dlq_row *row = &res->rows[k];
		r->after_id = row->id;
		e->replays[i].fetched++;
		const char *dest = r->target[0] ? r->target : row->meta.peer;
		struct fwd_peer *p = fwd_peer_find(e, dest);
		struct pb_wire_msg m;
		size_t used;
		char err[128];
		if (!p) {
			e->replays[i].skipped++;
			snprintf(e->replays[i].error, sizeof(e->replays[i].error), "peer '%s' is not configured", dest);
			continue;
		}
		if (pb_wire_decode(row->blob, row->len, &m, &used, err, sizeof(err)) != PB_WIRE_OK ||
		    m.type != PB_WIRE_T_RECORD) {
			e->replays[i].errors++;
			snprintf(e->replays[i].error, sizeof(e->replays[i].error), "row %llu: %s",
			    (unsigned long long)row->id, err);
			continue;
		}
		struct pb_record rec;
		memcpy(&rec, &m.record, offsetof(struct pb_record, trailers));
		memcpy(rec.trailers, m.record.trailers, m.record.ntrailers * sizeof(rec.trailers[0]));
		memcpy(rec.hops, m.record.hops, m.record.nhops * sizeof(rec.hops[0]));
		r->pending++;
		e->replays[i].sent++;
		fwd_peer_enqueue(p, &rec, ++e->token, row->id, i);
	}
	if (!res->more)
		r->exhausted = true;
	else
		/* The next page now, not at the next tick: a fast replay would
		 * otherwise wait up to a tick per page. */
		job_pump(e, i, pb_mono_ns());
	job_sync(e, i);
}

void
fwd_on_dlq(void *arg, const struct pb_dlq_result *res)
{
	struct pb_engine *e = arg;

	/* After each commit: what the API shows is as fresh as the file. */
	pb_pubstate_publish_dlq(&e->pubstate, e->dlq);
	switch (res->type) {
	case PB_DLQ_PUT_COMMITTED:
		for (size_t i = 0; i < e->npeers; i++)
			fwd_peer_dlq_committed(e->peers[i], res->token, res->status);
		break;
	case PB_DLQ_FETCHED:
		replay_rows(e, res);
		break;
	case PB_DLQ_DELETED:
		if (!res->purge) {
			if (e->dlq_del_out)
				e->dlq_del_out--;
			break;
		}
		for (int i = 0; i < FWD_MAX_PURGES; i++) {
			struct pb_purge_request *q = e->purges[i].req;
			if (!q || e->purges[i].request_id != res->request_id)
				continue;
			pb_purge_request_answer(q, res->status, res->count);
			e->purges[i].req = NULL;
			log_info("dlq", "purged %llu row(s)", (unsigned long long)res->count);
		}
		break;
	}
}


void
fwd_on_cmd(struct pb_cmd *cmd, void *arg)
{
	struct pb_engine *e = arg;

	if (cmd->type == PB_CMD_REPLAY) {
		struct pb_replay_request *rq = cmd->ptr;
		if (rq) {
			uint64_t existing = 0;
			rq->filter.peer[sizeof(rq->filter.peer) - 1] = '\0';
			rq->target[sizeof(rq->target) - 1] = '\0';
			int v = e->stopping ? PB_REPLAY_REFUSED : job_start(e, rq->id,
			    &rq->filter, rq->target, rq->rate, rq->wait_s, false, &existing);
			pb_replay_request_answer(rq, v, existing);
		}
	} else if (cmd->type == PB_CMD_PURGE) {
		struct pb_purge_request *q = cmd->ptr;
		int slot = -1;
		for (int i = 0; i < FWD_MAX_PURGES && slot < 0; i++)
			if (!e->purges[i].req)
				slot = i;
		uint64_t id = atomic_fetch_add(&e->pubstate.next_request, 1) + 1;
		/* Stopping: the DLQ's answer would come after the loop ended. */
		if (!e->dlq || e->stopping || slot < 0 ||
		    pb_dlq_purge(e->dlq, &q->filter, id) < 0) {
			pb_purge_request_answer(q, -1, 0);
		} else {
			e->purges[slot].request_id = id;
			e->purges[slot].req = q;
		}
	}
	free(cmd);
}

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
snap_node(struct pb_engine *e, struct pb_peer_snap *s, uint32_t node)
{
	s->node_id = node;
	const struct pb_node_info *n = node ? pb_srcdir_node(e->dir, node) : NULL;
	if (n)
		snprintf(s->node_name, sizeof(s->node_name), "%s", n->name);
}

void
fwd_publish(struct pb_engine *e)
{
	size_t n = e->npeers + e->nups;
	struct pb_peer_snap *snap = calloc(n ? n : 1, sizeof(*snap));
	if (!snap)
		return;
	uint64_t now = pb_mono_ns();
	size_t k = 0;
	for (size_t i = 0; i < e->npeers; i++, k++) {
		struct fwd_peer *p = e->peers[i];
		struct pb_peer_snap *s = &snap[k];
		struct pb_resend_stats rs;
		pb_resend_get_stats(p->rs, &rs);
		snprintf(s->name, sizeof(s->name), "%s", p->name);
		snprintf(s->direction, sizeof(s->direction), "downstream");
		snprintf(s->origin, sizeof(s->origin), "%s", p->configured ? "dial" : "accept");
		snprintf(s->state, sizeof(s->state), "%s", fwd_peer_state(p));
		snprintf(s->address, sizeof(s->address), "%s", p->address);
		snap_node(e, s, p->node_id);
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
	for (size_t i = 0; i < e->nups; i++, k++) {
		struct fwd_upstream *u = e->ups[i];
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
		snap_node(e, s, u->node_id);
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
	pthread_mutex_lock(&e->pubstate.lock);
	struct pb_peer_snap *old = e->pubstate.peers;
	e->pubstate.peers = snap;
	e->pubstate.npeers = n;
	e->pubstate.peers_generated_ns = pb_real_ns();
	e->pubstate.loops_dropped = e->loops_dropped;
	e->pubstate.hop_limit_dropped = e->hop_limit_dropped;
	e->pubstate.origin_duplicates = e->origin_duplicates;
	uint64_t recs = 0;
	for (size_t i = 0; i < e->nups; i++)
		recs += e->ups[i]->records_received;
	e->pubstate.link_records = recs;
	e->pubstate.auth_failures = e->refused_auth;
	e->pubstate.protocol_errors = e->refused_protocol;
	e->pubstate.refused = e->refused;
	pthread_mutex_unlock(&e->pubstate.lock);
	free(old);
	pb_pubstate_publish_dlq(&e->pubstate, e->dlq);
}

int64_t
fwd_publish_tick(struct pb_loop *loop, void *arg)
{
	struct pb_engine *e = arg;
	fwd_publish(e);
	log_rl_flush(false); /* say how many lines a flood that stopped cost */
	if (e->gaps) {
		pb_gaps_publish(e->gaps, 256);
		pb_pubstate_publish_gaps(&e->pubstate, pb_gaps_snapshot_get(e->gaps));
		fwd_gaps_save(e, false);
	}
	for (int i = 0; i < FWD_MAX_REPLAYS; i++)
		if (e->replays[i].active)
			job_sync(e, i);
	return (int64_t)(250 * PB_NSEC_PER_MSEC);
}
