/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pubstate.h"
#include "gaps.h"

static const char *const pb_replay_state_names[] = {
	[PB_REPLAY_QUEUED] = "queued",
	[PB_REPLAY_RUNNING] = "running",
	[PB_REPLAY_DONE] = "done",
	[PB_REPLAY_FAILED] = "failed",
};

const char *
pb_replay_state_name(int state)
{
	if (state < 0 || (size_t)state >= sizeof(pb_replay_state_names) /
	    sizeof(pb_replay_state_names[0]))
		return "unknown";
	return pb_replay_state_names[state];
}

/* ---- synchronous requests ---- */

int
pb_request_sync_init(struct pb_request_sync *s)
{
	pthread_condattr_t ca;

	if (pthread_condattr_init(&ca) != 0)
		return -1;
	/* A wall clock step must not stretch or cut the bounded wait. */
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (pthread_cond_init(&s->cond, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		return -1;
	}
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&s->lock, NULL);
	s->refs = 2; /* requester + engine */
	s->done = false;
	return 0;
}

bool
pb_request_sync_put(struct pb_request_sync *s)
{
	int left;

	pthread_mutex_lock(&s->lock);
	left = --s->refs;
	pthread_mutex_unlock(&s->lock);
	if (left > 0)
		return false;
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	return true;
}

void
pb_request_sync_done(struct pb_request_sync *s)
{
	s->done = true;
	pthread_cond_broadcast(&s->cond);
}

bool
pb_request_sync_wait(struct pb_request_sync *s, uint32_t ms)
{
	struct timespec ts;
	bool done;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->lock);
	while (!s->done)
		if (pthread_cond_timedwait(&s->cond, &s->lock, &ts) == ETIMEDOUT)
			break;
	done = s->done;
	pthread_mutex_unlock(&s->lock);
	return done;
}

struct pb_replay_request *
pb_replay_request_new(void)
{
	struct pb_replay_request *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	if (pb_request_sync_init(&r->sync) < 0) {
		free(r);
		return NULL;
	}
	return r;
}

void
pb_replay_request_put(struct pb_replay_request *r)
{
	if (r != NULL && pb_request_sync_put(&r->sync))
		free(r);
}

void
pb_replay_request_answer(struct pb_replay_request *r, int verdict, uint64_t existing)
{
	pthread_mutex_lock(&r->sync.lock);
	r->verdict = verdict;
	r->existing = existing;
	pb_request_sync_done(&r->sync);
	pthread_mutex_unlock(&r->sync.lock);
	pb_replay_request_put(r);
}

struct pb_purge_request *
pb_purge_request_new(const struct pb_dlq_filter *f)
{
	struct pb_purge_request *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	if (pb_request_sync_init(&r->sync) < 0) {
		free(r);
		return NULL;
	}
	r->filter = *f;
	return r;
}

void
pb_purge_request_put(struct pb_purge_request *r)
{
	if (r != NULL && pb_request_sync_put(&r->sync))
		free(r);
}

void
pb_purge_request_answer(struct pb_purge_request *r, int status, uint64_t deleted)
{
	pthread_mutex_lock(&r->sync.lock);
	r->status = status;
	r->deleted = deleted;
	pb_request_sync_done(&r->sync);
	pthread_mutex_unlock(&r->sync.lock);
	pb_purge_request_put(r);
}

/* ---- DLQ statistics ---- */

void
pb_pubstate_publish_dlq(struct pb_pubstate *b, struct pb_dlq *d)
{
	struct pb_dlq_stats_snapshot st;

	if (d == NULL)
		return;
	/* Taken outside the pubstate lock: readers never wait on the DLQ's own lock. */
	pb_dlq_get_stats(d, &st);
	pthread_mutex_lock(&b->lock);
	b->dlq_stats = st;
	b->dlq_published = true;
	pthread_mutex_unlock(&b->lock);
}

bool
pb_pubstate_dlq_stats(struct pb_pubstate *b, struct pb_dlq_stats_snapshot *out)
{
	bool ok;

	pthread_mutex_lock(&b->lock);
	ok = b->dlq_published;
	if (ok)
		*out = b->dlq_stats;
	else
		memset(out, 0, sizeof(*out));
	pthread_mutex_unlock(&b->lock);
	out->last_error[sizeof(out->last_error) - 1] = '\0';
	return ok;
}

/* ---- gaps snapshot ---- */

void
pb_pubstate_publish_gaps(struct pb_pubstate *b, struct pb_gaps_snapshot *snap)
{
	struct pb_gaps_snapshot *old;

	if (snap == NULL)
		return;
	pthread_mutex_lock(&b->lock);
	old = b->gaps;
	b->gaps = snap;
	pthread_mutex_unlock(&b->lock);
	pb_gaps_snapshot_put(old);
}

struct pb_gaps_snapshot *
pb_pubstate_gaps(struct pb_pubstate *b)
{
	struct pb_gaps_snapshot *snap;

	/* Under the lock: a publish cannot drop the pubstate's reference in between. */
	pthread_mutex_lock(&b->lock);
	snap = b->gaps;
	pb_gaps_snapshot_hold(snap);
	pthread_mutex_unlock(&b->lock);
	return snap;
}

void
pb_pubstate_release(struct pb_pubstate *b)
{
	pb_gaps_snapshot_put(b->gaps);
	b->gaps = NULL;
}
