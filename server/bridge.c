/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <pthread.h>
#include <stdlib.h>

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
