/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cmdq.h"
#include "log.h"
#include "tunnel_replay.h"
#include "tunnel_send.h"
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
job_sync(struct pb_tunnel *t, int i)
{
	struct pb_replay_job *j = &t->pubstate->jobs[i];
	const struct tunnel_job *r = &t->replays[i];
	pthread_mutex_lock(&t->pubstate->lock);
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
	pthread_mutex_unlock(&t->pubstate->lock);
}

static void
job_finish(struct pb_tunnel *t, int i, int state, const char *error)
{
	struct tunnel_job *r = &t->replays[i];
	t->replays[i].state = state;
	t->replays[i].finished_ns = pb_real_ns();
	if (error)
		snprintf(t->replays[i].error, sizeof(t->replays[i].error), "%s", error);
	r->active = false;
	job_sync(t, i);
	log_info("dlq", "replay %llu %s: %llu fetched, %llu acknowledged and deleted, %llu left in the DLQ%s%s",
	    (unsigned long long)r->id, state == PB_REPLAY_DONE ? "done" : "failed",
	    (unsigned long long)t->replays[i].fetched, (unsigned long long)t->replays[i].deleted,
	    (unsigned long long)t->replays[i].skipped, error ? ": " : "", error ? error : "");
}

/* A free slot, else the oldest finished job's; -1 when every job is active. */
static int
job_slot(struct pb_tunnel *t)
{
	int oldest = -1;
	for (int i = 0; i < TUNNEL_MAX_JOBS; i++) {
		if (!t->pubstate->jobs[i].id)
			return i;
		if (!t->replays[i].active &&
		    (oldest < 0 || t->pubstate->jobs[i].id < t->pubstate->jobs[oldest].id))
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
job_dest(const struct tunnel_job *r)
{
	return r->target[0] ? r->target : r->filter.peer;
}

/* Returns an enum pb_replay_verdict; *existing is set for a duplicate. */
static int
job_start(struct pb_tunnel *t, uint64_t id, const struct pb_dlq_filter *f, const char *target,
    double rate, uint32_t wait_s, bool is_auto, uint64_t *existing)
{
	for (int k = 0; k < TUNNEL_MAX_JOBS; k++) {
		const struct tunnel_job *o = &t->replays[k];
		/* The same rows to the same peer twice only doubles the traffic. */
		if (o->active && strncmp(o->target, target, sizeof(o->target)) == 0 &&
		    filter_equal(&o->filter, f)) {
			*existing = o->id;
			log_info("dlq", "replay %llu refused: replay %llu has the same target and filter",
			    (unsigned long long)id, (unsigned long long)o->id);
			return PB_REPLAY_DUPLICATE;
		}
	}
	int i = job_slot(t);
	if (i < 0) {
		log_warnx("dlq", "replay %llu refused: %d replays already active",
		    (unsigned long long)id, TUNNEL_MAX_JOBS);
		return PB_REPLAY_TABLE_FULL;
	}
	struct tunnel_job *r = &t->replays[i];
	memset(r, 0, sizeof(*r));
	r->active = true;
	r->id = id;
	r->filter = *f;
	snprintf(r->target, sizeof(r->target), "%s", target);
	r->rate = rate > 0 ? rate : t->tc->dlq.replay_rate;
	r->wait_s = wait_s ? wait_s : PB_REPLAY_WAIT_DEFAULT_S;
	r->is_auto = is_auto;
	r->slot = i;
	r->state = PB_REPLAY_RUNNING;
	/* One row may go at once; then the rate refills the bucket. */
	r->tokens = 1.0;
	r->last_fetch_ns = pb_mono_ns();

	pthread_mutex_lock(&t->pubstate->lock);
	struct pb_replay_job *j = &t->pubstate->jobs[i];
	memset(j, 0, sizeof(*j));
	j->id = id;
	j->state = PB_REPLAY_RUNNING;
	j->filter = *f;
	snprintf(j->target, sizeof(j->target), "%s", target);
	j->rate = r->rate;
	j->wait_s = r->wait_s;
	j->created_ns = pb_real_ns();
	pthread_mutex_unlock(&t->pubstate->lock);

	if (!t->dlq) {
		job_finish(t, i, PB_REPLAY_FAILED, "no DLQ configured (dlq.path)");
		return PB_REPLAY_ACCEPTED;
	}
	if (target[0] && !sender_find(t, target)) {
		char msg[128];
		snprintf(msg, sizeof(msg), "unknown target peer '%s'", target);
		job_finish(t, i, PB_REPLAY_FAILED, msg);
		return PB_REPLAY_ACCEPTED;
	}
	log_info("dlq", "replay %llu started%s%s%s at %g records/s", (unsigned long long)id,
	    f->peer[0] ? " for peer " : "", f->peer, target[0] ? " (to another peer)" : "", r->rate);
	return PB_REPLAY_ACCEPTED;
}

void
replay_auto(struct pb_tunnel *t, struct tunnel_sender *p)
{
	if (!t->dlq)
		return;
	struct pb_dlq_stats_snapshot ds;
	pb_dlq_get_stats(t->dlq, &ds);
	if (!ds.rows && !ds.queued)
		return; /* nothing stored: no job to show */
	for (int i = 0; i < TUNNEL_MAX_JOBS; i++)
		if (t->replays[i].active && t->replays[i].is_auto &&
		    strcmp(t->replays[i].filter.peer, p->name) == 0)
			return;
	struct pb_dlq_filter f = { 0 };
	snprintf(f.peer, sizeof(f.peer), "%s", p->name);
	uint64_t id = atomic_fetch_add(&t->pubstate->next_request, 1) + 1, existing = 0;
	job_start(t, id, &f, "", 0, 0, true, &existing);
}

static void job_pump(struct pb_tunnel *t, int i, uint64_t now);

/* Every job's next page if it can go now: acks made room in its peer's
 * window, or its last deletes committed. Else a job waits for the next
 * tick (20 ms): at 200 k rows/s a 16 k-row page takes 80 ms, so waiting
 * a tick per page cost up to a quarter of the replay rate. */
static void
jobs_pump(struct pb_tunnel *t)
{
	uint64_t now = pb_mono_ns();
	for (int i = 0; i < TUNNEL_MAX_JOBS; i++)
		job_pump(t, i, now);
}

void
replay_flush_deletes(struct pb_tunnel *t)
{
	if (!t->ndel)
		return;
	if (t->dlq && pb_dlq_delete(t->dlq, t->del_ids, t->ndel) == 0)
		t->dlq_del_out++;
	t->ndel = 0;
	jobs_pump(t);
}

void
replay_row_acked(struct pb_tunnel *t, int job, uint64_t row_id)
{
	if (t->ndel == sizeof(t->del_ids) / sizeof(t->del_ids[0]))
		replay_flush_deletes(t);
	t->del_ids[t->ndel++] = row_id;
	if (job < 0 || job >= TUNNEL_MAX_JOBS)
		return;
	t->replays[job].acked++;
	t->replays[job].deleted++;
	if (t->replays[job].pending)
		t->replays[job].pending--;
}

void
replay_row_requeued(struct pb_tunnel *t, int job)
{
	if (job < 0 || job >= TUNNEL_MAX_JOBS)
		return;
	t->replays[job].skipped++;
	if (t->replays[job].pending)
		t->replays[job].pending--;
}

/* The job's peer is connected and resumed (any peer, for a job without one). */
static bool
job_peer_up(struct pb_tunnel *t, const struct tunnel_job *r)
{
	const char *name = job_dest(r);
	if (name[0]) {
		struct tunnel_sender *p = sender_find(t, name);
		return p && p->up && p->resumed;
	}
	for (size_t i = 0; i < t->npeers; i++)
		if (t->peers[i]->up)
			return true;
	return false;
}

static bool
job_peer_room(struct pb_tunnel *t, const struct tunnel_job *r)
{
	const char *name = job_dest(r);
	if (name[0]) {
		struct tunnel_sender *p = sender_find(t, name);
		return p && sender_room(p);
	}
	for (size_t i = 0; i < t->npeers; i++)
		if (t->peers[i]->up && sender_room(t->peers[i]))
			return true;
	return false;
}

/*
 * Jobs for the same peer take turns, oldest first: each would otherwise
 * fetch (and send) the same rows. A job for every peer overlaps them all.
 */
static bool
job_blocked(struct pb_tunnel *t, const struct tunnel_job *r)
{
	const char *d = job_dest(r);
	for (int k = 0; k < TUNNEL_MAX_JOBS; k++) {
		const struct tunnel_job *o = &t->replays[k];
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
job_waited_too_long(struct pb_tunnel *t, int i, uint64_t now)
{
	struct tunnel_job *r = &t->replays[i];
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
	else if (!sender_find(t, name))
		snprintf(msg, sizeof(msg), "peer %s is not configured (waited %u s)", name, r->wait_s);
	else
		snprintf(msg, sizeof(msg), "peer %s down for more than %u s", name, r->wait_s);
	job_finish(t, i, PB_REPLAY_FAILED, msg);
	return true;
}

/* Fetches job i's next page when its rate, its peer and the other jobs
 * let it; finishes it once it is done. */
static void
job_pump(struct pb_tunnel *t, int i, uint64_t now)
{
	struct tunnel_job *r = &t->replays[i];

	if (!r->active || r->fetching)
		return;
	if (r->exhausted) {
		/* Done once every acked row's delete is committed. */
		if (!r->pending && !t->ndel && !t->dlq_del_out)
			job_finish(t, i, PB_REPLAY_DONE, NULL);
		return;
	}
	if (!t->dlq)
		return;
	if (!job_peer_up(t, r)) {
		/* No refill while waiting: the rate starts over once it is back. */
		r->last_fetch_ns = now;
		job_waited_too_long(t, i, now);
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
	if (r->tokens < 1 || !job_peer_room(t, r) || job_blocked(t, r))
		return;
	uint32_t rows = r->tokens > PB_DLQ_FETCH_MAX ? PB_DLQ_FETCH_MAX : (uint32_t)r->tokens;
	if (pb_dlq_fetch(t->dlq, &r->filter, r->after_id, rows, r->id) == 0) {
		r->fetching = true;
		r->asked = rows;
		r->tokens -= rows;
	}
}

int64_t
replay_tick(struct pb_loop *loop, void *arg)
{
	(void)loop;
	jobs_pump(arg);
	return (int64_t)REPLAY_TICK_NS;
}

static void
replay_rows(struct pb_tunnel *t, const struct pb_dlq_result *res)
{
	int i;
	for (i = 0; i < TUNNEL_MAX_JOBS; i++)
		if (t->replays[i].active && t->replays[i].id == res->request_id)
			break;
	if (i == TUNNEL_MAX_JOBS)
		return;
	struct tunnel_job *r = &t->replays[i];
	r->fetching = false;
	/* Rows asked for but not there are not spent. */
	if (res->status == 0 && res->count < r->asked)
		r->tokens += (double)(r->asked - res->count);
	r->asked = 0;
	if (res->status < 0) {
		t->replays[i].errors++;
		job_finish(t, i, PB_REPLAY_FAILED, "DLQ fetch failed");
		return;
	}
	for (uint64_t k = 0; k < res->count; k++) {
		const struct pb_dlq_row *row = &res->rows[k];
		r->after_id = row->id;
		t->replays[i].fetched++;
		const char *dest = r->target[0] ? r->target : row->meta.peer;
		struct tunnel_sender *p = sender_find(t, dest);
		struct pb_wire_msg m;
		size_t used;
		char err[128];
		if (!p) {
			t->replays[i].skipped++;
			snprintf(t->replays[i].error, sizeof(t->replays[i].error), "peer '%s' is not configured", dest);
			continue;
		}
		if (pb_wire_decode(row->blob, row->len, &m, &used, err, sizeof(err)) != PB_WIRE_OK ||
		    m.type != PB_WIRE_T_RECORD) {
			t->replays[i].errors++;
			snprintf(t->replays[i].error, sizeof(t->replays[i].error), "row %llu: %s",
			    (unsigned long long)row->id, err);
			continue;
		}
		struct pb_record rec;
		memcpy(&rec, &m.record, offsetof(struct pb_record, trailers));
		memcpy(rec.trailers, m.record.trailers, m.record.ntrailers * sizeof(rec.trailers[0]));
		memcpy(rec.hops, m.record.hops, m.record.nhops * sizeof(rec.hops[0]));
		r->pending++;
		t->replays[i].sent++;
		sender_enqueue(p, &rec, t->env.next_token(t->env.ctx), row->id, i);
	}
	if (!res->more)
		r->exhausted = true;
	else
		/* The next page now, not at the next tick: a fast replay would
		 * otherwise wait up to a tick per page. */
		job_pump(t, i, pb_mono_ns());
	job_sync(t, i);
}

void
replay_on_dlq(void *arg, const struct pb_dlq_result *res)
{
	struct pb_tunnel *t = arg;

	/* After each commit: what the API shows is as fresh as the file. */
	pb_pubstate_publish_dlq(t->pubstate, t->dlq);
	switch (res->type) {
	case PB_DLQ_PUT_COMMITTED:
		for (size_t i = 0; i < t->npeers; i++)
			sender_dlq_committed(t->peers[i], res->token, res->status);
		break;
	case PB_DLQ_FETCHED:
		replay_rows(t, res);
		break;
	case PB_DLQ_DELETED:
		if (!res->purge) {
			if (t->dlq_del_out && --t->dlq_del_out == 0)
				jobs_pump(t); /* an exhausted job is done now */
			break;
		}
		for (int i = 0; i < TUNNEL_MAX_PURGES; i++) {
			struct pb_purge_request *q = t->purges[i].req;
			if (!q || t->purges[i].request_id != res->request_id)
				continue;
			pb_purge_request_answer(q, res->status, res->count);
			t->purges[i].req = NULL;
			log_info("dlq", "purged %llu row(s)", (unsigned long long)res->count);
		}
		break;
	}
}

void
replay_on_cmd(struct pb_tunnel *t, struct pb_cmd *cmd)
{
	if (cmd->type == PB_CMD_REPLAY) {
		struct pb_replay_request *rq = cmd->ptr;
		if (rq) {
			uint64_t existing = 0;
			rq->filter.peer[sizeof(rq->filter.peer) - 1] = '\0';
			rq->target[sizeof(rq->target) - 1] = '\0';
			int v = t->env.stopping(t->env.ctx) ? PB_REPLAY_REFUSED : job_start(t, rq->id,
			    &rq->filter, rq->target, rq->rate, rq->wait_s, false, &existing);
			pb_replay_request_answer(rq, v, existing);
		}
	} else if (cmd->type == PB_CMD_PURGE) {
		struct pb_purge_request *q = cmd->ptr;
		int slot = -1;
		for (int i = 0; i < TUNNEL_MAX_PURGES && slot < 0; i++)
			if (!t->purges[i].req)
				slot = i;
		uint64_t id = atomic_fetch_add(&t->pubstate->next_request, 1) + 1;
		/* Stopping: the DLQ's answer would come after the loop ended. */
		if (!t->dlq || t->env.stopping(t->env.ctx) || slot < 0 ||
		    pb_dlq_purge(t->dlq, &q->filter, id) < 0) {
			pb_purge_request_answer(q, -1, 0);
		} else {
			t->purges[slot].request_id = id;
			t->purges[slot].req = q;
		}
	}
	free(cmd);
}

void
replay_sync(struct pb_tunnel *t)
{
	for (int i = 0; i < TUNNEL_MAX_JOBS; i++)
		if (t->replays[i].active)
			job_sync(t, i);
}
