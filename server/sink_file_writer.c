/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sink_file_int.h"

/*
 * The file sink's writer thread: every blocking call of the sink (open,
 * write, close, unlink through retention; fsync of rotated files behind,
 * on sink_file_sync.c's helper). See sink_file.c for the protocol.
 */

/* behind: a rotation, whose fsync need not hold up the next file. */
static void
fs_close_file(struct fs_sink *s, bool behind)
{
	if (s->fd < 0)
		return;
	if (pb_fspace_close(&s->space, s->fd) < 0)
		log_warn("dump", "%s: giving back reserved space of %s", s->sink.name, s->path);
	/* syncb exists exactly when fsync is on. */
	if (behind && s->syncb) {
		pb_fsyncb_close(s->syncb, s->fd, s->path);
	} else {
		if (s->cfg.fsync && fsync(s->fd) < 0)
			log_warn("dump", "%s: fsync %s", s->sink.name, s->path);
		if (close(s->fd) < 0)
			log_warn("dump", "%s: close %s", s->sink.name, s->path);
	}
	s->fd = -1;
}

static int
fs_open_next(struct fs_sink *s, uint64_t real_ns)
{
	int fd = pb_fnames_create(s->cfg.file, real_ns, &s->last, s->path, sizeof(s->path));

	if (fd < 0)
		return -1;
	if (fstat(fd, &s->st) < 0)
		memset(&s->st, 0, sizeof(s->st));
	s->fd = fd;
	pb_fspace_open(&s->space, fd);
	s->nfiles++;
	pb_counter_add(&s->sink.stats->files_opened, 1);
	log_info("dump", "%s: writing %s", s->sink.name, s->path);
	/* Make room for the new file's future size up to rotate_bytes, so
	 * max_total_bytes holds at all times. */
	unsigned removed = pb_fnames_retention(s->cfg.file, s->cfg.max_files,
	    s->cfg.max_total_bytes, s->cfg.rotate_bytes, &s->st, s->sink.name);
	if (removed)
		pb_counter_add(&s->sink.stats->files_removed, removed);
	return 0;
}

/* Writes chunk c from where it stopped; -1 with errno on failure. */
static int
fs_process(struct fs_sink *s, struct fs_chunk *c)
{
	while (c->wmark < c->nmarks || c->wpos < c->used) {
		if (c->wmark < c->nmarks && c->marks[c->wmark].off <= c->wpos) {
			const struct fs_mark *m = &c->marks[c->wmark];
			fs_close_file(s, true);
			if (m->kind == FS_MARK_OPEN && fs_open_next(s, m->real_ns) < 0)
				return -1;
			c->wmark++;
			continue;
		}
		size_t end = c->wmark < c->nmarks ? c->marks[c->wmark].off : c->used;
		if (s->fd < 0) {
			/* Data without a file cannot happen: marks come first. */
			s->dropped += end - c->wpos;
			c->wpos = end;
			continue;
		}
		pb_fspace_reserve(&s->space, s->fd, end - c->wpos, s->cfg.rotate_bytes);
		while (c->wpos < end) {
			ssize_t w = write(s->fd, c->data + c->wpos, end - c->wpos);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				return -1;
			}
			c->wpos += (size_t)w;
			pb_fspace_wrote(&s->space, (uint64_t)w);
			s->nbytes += (uint64_t)w;
			pb_counter_add(&s->sink.stats->bytes_written, (uint64_t)w);
		}
	}
	return 0;
}

/* Writes c completely (retrying); false when it was given up. */
static bool
fs_write_chunk(struct fs_sink *s, struct fs_chunk *c)
{
	unsigned fails = 0;

	while (fs_process(s, c) < 0) {
		pb_counter_add(&s->sink.stats->write_errors, 1);
		if (!s->in_error) {
			log_warn("dump", "%s: cannot write %s (retrying every second)",
			    s->sink.name, s->path);
			s->in_error = true;
			atomic_store(&s->werror, true);
		}
		pthread_mutex_lock(&s->mu);
		bool stopping = s->stopping;
		pthread_mutex_unlock(&s->mu);
		if (s->give_up || (stopping && ++fails > FS_CLOSE_RETRIES)) {
			/* Shutdown with a persistent error: say loudly what is lost. */
			s->give_up = true;
			s->dropped += c->used - c->wpos;
			return false;
		}
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += 1;
		pthread_mutex_lock(&s->mu);
		/* Enqueues also signal cv: sleep the full second anyway. */
		while (pthread_cond_timedwait(&s->cv, &s->mu, &ts) == 0)
			;
		pthread_mutex_unlock(&s->mu);
	}
	if (s->in_error) {
		log_info("dump", "%s: writing %s again", s->sink.name, s->path);
		s->in_error = false;
		atomic_store(&s->werror, false);
	}
	return true;
}

void *
fs_writer(void *arg)
{
	struct fs_sink *s = arg;
	pthread_setname_np(pthread_self(), "pb-dump");
	struct fs_chunk *c;
	uint64_t one = 1;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->qhead && !s->stopping)
			pthread_cond_wait(&s->cv, &s->mu);
		if (!(c = s->qhead))
			break;
		pthread_mutex_unlock(&s->mu);
		bool wake = false;
		/* Custody: write() returned for every byte up to c's end. */
		if (fs_write_chunk(s, c) && c->token > s->published) {
			s->published = c->token;
			atomic_store_explicit(&s->written_token, c->token, memory_order_release);
			wake = true;
		}
		pthread_mutex_lock(&s->mu);
		if (!(s->qhead = c->next))
			s->qtail = &s->qhead;
		c->next = s->free;
		s->free = c;
		/* After written_token: queued 0 means every token is written. */
		atomic_fetch_sub(&s->queued, 1);
		if (s->want_wake || wake) {
			s->want_wake = false;
			if (write(s->efd, &one, sizeof(one)) < 0)
				log_warn("dump", "%s: eventfd write", s->sink.name);
		}
	}
	pthread_mutex_unlock(&s->mu);
	fs_close_file(s, false);
	/* Shutdown: every rotated file fsynced before the sink says closed. */
	pb_fsyncb_free(s->syncb);
	s->syncb = NULL;
	return NULL;
}
