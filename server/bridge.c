/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "bridge.h"

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

/*
 * Requester and engine each hold a reference: whichever lets go last frees,
 * so a requester that timed out never races with a late engine answer.
 */
void
pb_purge_request_put(struct pb_purge_request *r)
{
	int left;

	if (r == NULL)
		return;
	pthread_mutex_lock(&r->lock);
	left = --r->refs;
	pthread_mutex_unlock(&r->lock);
	if (left > 0)
		return;
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

struct pb_replay_request *
pb_replay_request_new(void)
{
	struct pb_replay_request *r = calloc(1, sizeof(*r));
	pthread_condattr_t ca;

	if (r == NULL)
		return NULL;
	if (pthread_condattr_init(&ca) != 0) {
		free(r);
		return NULL;
	}
	/* A wall clock step must not stretch or cut the bounded wait. */
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (pthread_cond_init(&r->cond, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		free(r);
		return NULL;
	}
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&r->lock, NULL);
	r->refs = 2; /* requester + engine */
	return r;
}

void
pb_replay_request_put(struct pb_replay_request *r)
{
	int left;

	if (r == NULL)
		return;
	pthread_mutex_lock(&r->lock);
	left = --r->refs;
	pthread_mutex_unlock(&r->lock);
	if (left > 0)
		return;
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

void
pb_replay_request_answer(struct pb_replay_request *r, int verdict, uint64_t existing)
{
	pthread_mutex_lock(&r->lock);
	r->verdict = verdict;
	r->existing = existing;
	r->done = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	pb_replay_request_put(r);
}
