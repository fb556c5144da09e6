/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "log.h"
#include "sink_file_sync.h"

struct fsb_item {
	int fd;
	char path[PATH_MAX];
};

struct pb_fsyncb {
	char owner[64];
	unsigned depth;
	pthread_mutex_t mu;
	pthread_cond_t cv_work, cv_room;
	/* Under mu: a ring of depth items; n counts those taken by the helper
	 * and not done yet, so that "room" means fsynced and closed. */
	unsigned head, n;
	bool stop, started, no_thread;
	pthread_t thread;
	_Atomic uint64_t failures;
	struct fsb_item items[];
};

static void
fsb_sync_close(struct pb_fsyncb *b, int fd, const char *path)
{
	bool failed = false;

	if (fsync(fd) < 0) {
		log_warn("dump", "%s: fsync %s", b->owner, path);
		failed = true;
	}
	if (close(fd) < 0) {
		log_warn("dump", "%s: close %s", b->owner, path);
		failed = true;
	}
	if (failed)
		atomic_fetch_add(&b->failures, 1);
}

static void *
fsb_main(void *arg)
{
	struct pb_fsyncb *b = arg;
	pthread_setname_np(pthread_self(), "pb-fsync");

	pthread_mutex_lock(&b->mu);
	for (;;) {
		while (!b->n && !b->stop)
			pthread_cond_wait(&b->cv_work, &b->mu);
		if (!b->n)
			break;
		struct fsb_item *it = &b->items[b->head];
		pthread_mutex_unlock(&b->mu);
		/* The item stays ours until n drops: the writer only fills
		 * free slots. */
		fsb_sync_close(b, it->fd, it->path);
		pthread_mutex_lock(&b->mu);
		b->head = (b->head + 1) % b->depth;
		b->n--;
		pthread_cond_broadcast(&b->cv_room);
	}
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

struct pb_fsyncb *
pb_fsyncb_new(const char *owner, unsigned depth)
{
	if (depth == 0)
		depth = 1;
	struct pb_fsyncb *b = calloc(1, sizeof(*b) + depth * sizeof(b->items[0]));
	if (!b)
		return NULL;
	snprintf(b->owner, sizeof(b->owner), "%s", owner);
	b->depth = depth;
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv_work, NULL);
	pthread_cond_init(&b->cv_room, NULL);
	return b;
}

void
pb_fsyncb_close(struct pb_fsyncb *b, int fd, const char *path)
{
	pthread_mutex_lock(&b->mu);
	if (!b->started && !b->no_thread) {
		int rc = pthread_create(&b->thread, NULL, fsb_main, b);
		if (rc == 0) {
			b->started = true;
		} else {
			errno = rc;
			log_warn("dump", "%s: no fsync thread, files are fsynced inline", b->owner);
			b->no_thread = true;
		}
	}
	if (b->no_thread) {
		pthread_mutex_unlock(&b->mu);
		fsb_sync_close(b, fd, path);
		return;
	}
	while (b->n == b->depth)
		pthread_cond_wait(&b->cv_room, &b->mu);
	struct fsb_item *it = &b->items[(b->head + b->n) % b->depth];
	it->fd = fd;
	snprintf(it->path, sizeof(it->path), "%s", path);
	b->n++;
	pthread_cond_signal(&b->cv_work);
	pthread_mutex_unlock(&b->mu);
}

uint64_t
pb_fsyncb_failures(const struct pb_fsyncb *b)
{
	return atomic_load(&b->failures);
}

void
pb_fsyncb_free(struct pb_fsyncb *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->mu);
	b->stop = true;
	pthread_cond_signal(&b->cv_work);
	pthread_mutex_unlock(&b->mu);
	/* The helper drains the ring before it sees stop. */
	if (b->started)
		pthread_join(b->thread, NULL);
	pthread_cond_destroy(&b->cv_room);
	pthread_cond_destroy(&b->cv_work);
	pthread_mutex_destroy(&b->mu);
	free(b);
}
