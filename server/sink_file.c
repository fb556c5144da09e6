/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sink_file_int.h"

/*
 * File sink. The engine thread formats records into 1 MiB chunks; full
 * chunks go through a FIFO to a writer thread that does every blocking
 * call (open, write, fsync, close, unlink; the fsync and close of a
 * rotated file on a helper, sink_file_sync.h). Rotation is decided on the
 * engine thread at record boundaries and travels in the chunks as marks:
 *   OPEN at offset x  = close the current file, open a new one, the bytes
 *                       from x on belong to it (they start with SHB/header);
 *   CLOSE at offset x = close the current file (time rotation of an idle
 *                       sink, reopen()).
 * Files are opened lazily by the first record after a CLOSE, so an idle
 * sink does not leave header-only files behind and a pcap file knows its
 * linktype. Partially filled chunks are handed over by flush() only when
 * the writer is idle and the chunk holds >= 64 KiB or is >= 100 ms old
 * (a 100 ms timer covers an idle loop): a busy writer gains nothing from
 * small chunks and the pool would hold far less than buffer_mb.
 *
 * Custody: each chunk carries the highest rec->token written before its
 * handoff (rejected records included: nothing will ever be written for
 * them, they must not hold custody back). Once write() returned for all
 * of a chunk's bytes, the writer publishes that token in written_token
 * and, when it advanced, wakes the engine through the eventfd, which
 * calls on_progress: one wakeup per written chunk, none without tokens.
 * Acknowledgements wait for custody, so a chunk holding tokens is also
 * handed over once its first token is 2 ms old and the writer is idle
 * (a timer covers an idle loop): still few small writes, as the writer
 * is idle then, and under load the chunks fill up anyway.
 *
 * Files: the strftime pattern (local time) is expanded when the file is
 * opened, directories are created, existing files are never overwritten
 * (O_EXCL, then "-1", "-2"... before the extension). Classic pcap has one
 * linktype per file, the first record's; other linktypes are rejected
 * (write() returns -1) until the next rotation. Retention runs on the
 * writer after each file open: the files matching the pattern (each
 * conversion as '*', plus "-N" names), oldest first by mtime then name,
 * are removed while there are more than max_files (the new file counts)
 * or more than max_total_bytes once the new file reaches rotate_bytes (so
 * the limit holds at all times; with time rotation only, it holds at each
 * rotation); the open file is never removed.
 */

static struct fs_sink *
fs_of(struct pb_sink *sink)
{
	return (struct fs_sink *)sink;
}

/* ---- engine side ---------------------------------------------------- */

static void
fs_update_state(struct fs_sink *s)
{
	int st = atomic_load(&s->werror) ? PB_SINK_ERROR :
	    s->backlog ? PB_SINK_BACKLOG : PB_SINK_OK;
	atomic_store_explicit(&s->sink.stats->state, st, memory_order_relaxed);
}

/* A free chunk for the engine, or NULL (then the writer wakes us). */
static struct fs_chunk *
fs_get_chunk(struct fs_sink *s)
{
	struct fs_chunk *c = s->spare;

	s->spare = NULL;
	if (!c) {
		pthread_mutex_lock(&s->mu);
		if ((c = s->free) != NULL)
			s->free = c->next;
		else if (s->nalloc >= s->nmax)
			s->want_wake = true;
		pthread_mutex_unlock(&s->mu);
	}
	/* One allocation per MiB chunk, lazily up to buffer_mb. */
	if (!c && s->nalloc < s->nmax) {
		if (!(c = malloc(sizeof(*c)))) {
			/* Live with what we have: the first chunk exists since
			 * open and comes back through the writer. */
			log_warnx("dump", "%s: out of memory for buffers, keeping %u MiB",
			    s->sink.name, s->nalloc);
			s->nmax = s->nalloc;
			pthread_mutex_lock(&s->mu);
			s->want_wake = true;
			pthread_mutex_unlock(&s->mu);
			return NULL;
		}
		s->nalloc++;
	}
	if (c)
		memset(c, 0, offsetof(struct fs_chunk, data));
	return c;
}

static void
fs_handoff(struct fs_sink *s)
{
	struct fs_chunk *c = s->cur;

	if (!c || (!c->used && !c->nmarks))
		return;
	s->cur = NULL;
	c->token = s->handed_token = s->seen_token;
	s->cur_tokens = false;
	atomic_fetch_add(&s->queued, 1);
	pthread_mutex_lock(&s->mu);
	*s->qtail = c;
	s->qtail = &c->next;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Makes cur able to take `need` bytes (and one mark if `mark`). */
static int
fs_room(struct fs_sink *s, size_t need, bool mark)
{
	struct fs_chunk *c = s->cur;

	if (c && FS_CHUNK_SIZE - c->used >= need && (!mark || c->nmarks < FS_MARKS))
		return 0;
	fs_handoff(s);
	if (!s->cur && !(s->cur = fs_get_chunk(s)))
		return -1;
	return 0;
}

static void
fs_touch(struct fs_sink *s)
{
	if (!s->cur->used && !s->cur->nmarks)
		s->cur->first_ns = pb_loop_now(s->loop);
}

static void
fs_add_mark(struct fs_sink *s, int kind)
{
	struct fs_chunk *c = s->cur;
	fs_touch(s);
	struct fs_mark *m = &c->marks[c->nmarks++];
	m->off = c->used;
	m->kind = kind;
	m->real_ns = kind == FS_MARK_OPEN ? pb_real_ns() : 0;
}

static void
fs_try_close(struct fs_sink *s)
{
	if (!s->close_wanted || fs_room(s, 0, true) < 0)
		return;
	fs_add_mark(s, FS_MARK_CLOSE);
	s->close_wanted = false;
}

/* Starts a new file in cur (room already made); writes the SHB/header. */
static void
fs_open_file(struct fs_sink *s, const struct pb_record *rec)
{
	struct fs_chunk *c = s->cur;
	size_t n;

	fs_add_mark(s, FS_MARK_OPEN);
	if (s->cfg.format == PB_FORMAT_PCAP)
		n = pb_pcap_file_header(c->data + c->used, FS_CHUNK_SIZE - c->used,
		    rec->linktype, PB_FRAME_CAP);
	else {
		/* Hop nodes are not interfaces: their names and descriptions go
		 * into the section header, once per file. */
		char nodes[PB_PCAPNG_SHB_COMMENT_MAX];
		pb_pcapng_nodes_comment(nodes, sizeof(nodes), s->srcdir);
		n = pb_pcapng_shb_comment(c->data + c->used, FS_CHUNK_SIZE - c->used, nodes);
	}
	c->used += n;
	s->file_open = true;
	s->close_wanted = false;
	s->lt_warned = false;
	s->file_bytes = n;
	s->file_records = 0;
	s->file_linktype = rec->linktype;
	s->file_opened_ns = pb_loop_now(s->loop);
	if (s->ng)
		pb_ngorigins_new_file(s->ng);
}

static bool
fs_rotate_due(const struct fs_sink *s, uint64_t add)
{
	if (!s->file_open)
		return false;
	if (s->cfg.rotate_seconds && pb_loop_now(s->loop) - s->file_opened_ns >=
	    (uint64_t)s->cfg.rotate_seconds * PB_NSEC_PER_SEC)
		return true;
	/* Never rotate an empty file: a record above the limit gets its own. */
	return s->cfg.rotate_bytes && s->file_records &&
	    s->file_bytes + add > s->cfg.rotate_bytes;
}

static int
fs_write_pcap(struct fs_sink *s, const struct pb_record *rec)
{
	size_t recl = PB_PCAP_REC_HDR_LEN + rec->caplen;

	if (fs_rotate_due(s, recl))
		s->file_open = false;
	if (s->file_open && rec->linktype != s->file_linktype) {
		/* One linktype per pcap file: the first record's. */
		if (!s->lt_warned)
			log_warnx("dump", "%s: pcap file has linktype %u, rejecting records "
			    "of linktype %u (use pcapng)", s->sink.name, s->file_linktype,
			    rec->linktype);
		s->lt_warned = true;
		return -1;
	}
	if (fs_room(s, (s->file_open ? 0 : PB_PCAP_FILE_HDR_LEN) + recl, !s->file_open) < 0)
		return -1;
	if (!s->file_open)
		fs_open_file(s, rec);
	fs_touch(s);
	struct fs_chunk *c = s->cur;
	size_t n = pb_pcap_record(c->data + c->used, FS_CHUNK_SIZE - c->used, rec);
	c->used += n;
	s->file_bytes += n;
	return n ? 0 : -1;
}

static int
fs_write_pcapng(struct fs_sink *s, const struct pb_record *rec)
{
	struct fs_chunk *c = s->cur;
	uint32_t if_id;

	/* The usual case, an open file that has rec's interface and a chunk
	 * with room for the longest block: the comment is formatted where it
	 * goes. Copying it there cost a copy and stalls (wide loads of bytes
	 * just stored one by one). A rotation that is due takes the long way. */
	if (s->file_open && c && rec->caplen <= PB_FRAME_CAP &&
	    FS_CHUNK_SIZE - c->used >= PB_PCAPNG_EPB_LEN((size_t)rec->caplen, sizeof(s->comment)) &&
	    (if_id = pb_ngorigins_if(s->ng, rec)) != PB_NGIF_NONE) {
		uint8_t *dst = c->data + c->used;
		size_t clen = pb_ngorigins_comment(s->ng,
		    (char *)dst + PB_PCAPNG_EPB_COMMENT_OFF(rec->caplen), sizeof(s->comment), rec);
		if (!fs_rotate_due(s, PB_PCAPNG_EPB_LEN((size_t)rec->caplen, clen))) {
			fs_touch(s);
			size_t n = pb_pcapng_epb_around(dst, FS_CHUNK_SIZE - c->used, rec, if_id, clen);
			c->used += n;
			s->file_bytes += n;
			return n ? 0 : -1;
		}
	}
	size_t clen = pb_ngorigins_comment(s->ng, s->comment, sizeof(s->comment), rec);
	size_t recl = PB_PCAPNG_EPB_LEN((size_t)rec->caplen, clen), idbl = 0;

	if_id = PB_NGIF_NONE;
	if (s->file_open)
		if_id = pb_ngorigins_if(s->ng, rec);
	if (if_id == PB_NGIF_NONE || fs_rotate_due(s, recl)) {
		idbl = pb_pcapng_idb(s->idb, sizeof(s->idb), rec->origin_node, rec->origin_source,
		    rec->linktype, pb_pcapng_rec_fcslen(rec), s->srcdir);
		if (fs_rotate_due(s, recl + idbl))
			s->file_open = false;
		if (!idbl)
			return -1;
	}
	if (fs_room(s, (s->file_open ? 0 : PB_PCAPNG_SHB_MAX) + idbl + recl, !s->file_open) < 0)
		return -1;
	if (!s->file_open)
		fs_open_file(s, rec);
	fs_touch(s);
	c = s->cur;
	if (idbl) {
		if (pb_ngorigins_add_if(s->ng, rec, &if_id) < 0)
			return -1;
		memcpy(c->data + c->used, s->idb, idbl);
		c->used += idbl;
		s->file_bytes += idbl;
	}
	size_t n = pb_pcapng_epb_raw(c->data + c->used, FS_CHUNK_SIZE - c->used, rec, if_id,
	    s->comment, clen);
	c->used += n;
	s->file_bytes += n;
	return n ? 0 : -1;
}

static int
fs_write(struct pb_sink *sink, const struct pb_record *rec)
{
	struct fs_sink *s = fs_of(sink);
	int rc;

	if (rec->caplen > PB_FRAME_CAP)
		rc = -1;
	else if (s->cfg.format == PB_FORMAT_PCAP)
		rc = fs_write_pcap(s, rec);
	else
		rc = fs_write_pcapng(s, rec);
	/* After the record is placed: a handoff inside fs_write_*() must not
	 * claim it for the previous chunk. */
	if (rec->token > s->seen_token) {
		s->seen_token = rec->token;
		if (rc == 0 && !s->cur_tokens) {
			s->cur_tokens = true;
			s->cur_token_ns = pb_loop_now(s->loop);
		}
	}
	if (rc < 0)
		return -1;
	s->file_records++;
	s->npackets++;
	pb_counter_add(&sink->stats->packets, 1);
	pb_counter_add(&sink->stats->bytes, rec->caplen);
	return 0;
}

static bool
fs_writable(struct pb_sink *sink)
{
	struct fs_sink *s = fs_of(sink);
	struct fs_chunk *c = s->cur;

	if (c && FS_CHUNK_SIZE - c->used >= s->maxrec && c->nmarks < FS_MARKS)
		return true;
	if (s->spare || (s->spare = fs_get_chunk(s)) != NULL)
		return true;
	if (!s->backlog) {
		s->backlog = true;
		pb_counter_add(&sink->stats->backlog_events, 1);
		fs_update_state(s);
	}
	return false;
}

static uint64_t
fs_custody(struct pb_sink *sink)
{
	struct fs_sink *s = fs_of(sink);

	/* Nothing accepted waits for the writer: whatever came since the
	 * last handoff was rejected, custody passes it. */
	if (!s->cur_tokens && !atomic_load(&s->queued))
		return s->seen_token;
	return atomic_load_explicit(&s->written_token, memory_order_acquire);
}

static void
fs_progress(struct fs_sink *s)
{
	uint64_t t = fs_custody(&s->sink);

	if (t <= s->reported_token)
		return;
	s->reported_token = t;
	if (s->sink.on_progress)
		s->sink.on_progress(&s->sink, s->sink.on_progress_arg);
}

/* When to look again at cur's tokens, or PB_TIMER_STOP when the writer
 * will wake us anyway (a chunk with new tokens is in flight) or cur holds
 * none. */
static int64_t
fs_custody_wait(struct fs_sink *s)
{
	if (!s->cur_tokens || (atomic_load(&s->queued) &&
	    s->handed_token > atomic_load_explicit(&s->written_token, memory_order_acquire)))
		return PB_TIMER_STOP;
	uint64_t age = pb_loop_now(s->loop) - s->cur_token_ns;
	return (int64_t)(age < FS_CUSTODY_AGE_NS ? FS_CUSTODY_AGE_NS - age : FS_CUSTODY_AGE_NS);
}

static int64_t fs_on_ctimer(struct pb_loop *loop, void *arg);

static void
fs_flush(struct pb_sink *sink)
{
	struct fs_sink *s = fs_of(sink);
	struct fs_chunk *c;
	uint64_t now = pb_loop_now(s->loop);

	fs_try_close(s);
	c = s->cur;
	if (c && (c->used || c->nmarks) && !atomic_load(&s->queued) &&
	    (c->used >= FS_FLUSH_BYTES || now - c->first_ns >= FS_FLUSH_AGE_NS ||
	    (s->cur_tokens && now - s->cur_token_ns >= FS_CUSTODY_AGE_NS)))
		fs_handoff(s);
	if (!s->ctimer) {
		int64_t wait = fs_custody_wait(s);
		if (wait > 0)
			s->ctimer = pb_loop_add_timer(s->loop, (uint64_t)wait, fs_on_ctimer, s);
	}
	fs_progress(s);
}

/* Custody: a partial chunk with tokens goes to an idle writer in time. */
static int64_t
fs_on_ctimer(struct pb_loop *loop, void *arg)
{
	struct fs_sink *s = arg;

	fs_flush(&s->sink);
	int64_t wait = fs_custody_wait(s);
	if (wait < 0)
		s->ctimer = 0;
	return wait;
}

static void
fs_reopen(struct pb_sink *sink)
{
	struct fs_sink *s = fs_of(sink);

	if (!s->file_open)
		return;
	s->file_open = false;
	s->close_wanted = true;
	fs_try_close(s);
}

static int64_t
fs_on_tick(struct pb_loop *loop, void *arg)
{
	struct fs_sink *s = arg;

	/* An idle sink still closes its file on time. */
	if (s->file_open && s->cfg.rotate_seconds && pb_loop_now(loop) - s->file_opened_ns >=
	    (uint64_t)s->cfg.rotate_seconds * PB_NSEC_PER_SEC) {
		s->file_open = false;
		s->close_wanted = true;
	}
	fs_flush(&s->sink);
	fs_update_state(s);
	return (int64_t)FS_TICK_NS;
}

/* The writer freed a chunk while we were out of room, or wrote tokens. */
static void
fs_on_event(struct pb_loop *loop, int fd, uint32_t events, void *arg)
{
	struct fs_sink *s = arg;
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("dump", "%s: eventfd read", s->sink.name);
	/* Hands over what waited for the writer, reports custody. */
	fs_flush(&s->sink);
	if (!s->backlog || !fs_writable(&s->sink))
		return;
	s->backlog = false;
	fs_update_state(s);
	if (s->sink.on_writable)
		s->sink.on_writable(&s->sink, s->sink.on_writable_arg);
}

/* ---- lifecycle ------------------------------------------------------ */

static void
fs_free(struct fs_sink *s)
{
	struct fs_chunk *c, *next;

	for (int l = 0; l < 2; l++)
		for (c = l ? s->qhead : s->free; c; c = next) {
			next = c->next;
			free(c);
		}
	free(s->cur);
	free(s->spare);
	pb_ngorigins_free(s->ng);
	pb_fsyncb_free(s->syncb);
	if (s->efd >= 0)
		close(s->efd);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static void
fs_close(struct pb_sink *sink)
{
	struct fs_sink *s = fs_of(sink);

	pb_loop_del_timer(s->loop, s->timer);
	if (s->ctimer)
		pb_loop_del_timer(s->loop, s->ctimer);
	pb_loop_del_fd(s->loop, s->efd);
	fs_handoff(s);
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	if (s->dropped)
		log_warnx("dump", "%s: %llu bytes could not be written and were dropped",
		    sink->name, (unsigned long long)s->dropped);
	log_info("dump", "%s: closed: %llu files, %llu packets, %llu bytes written",
	    sink->name, (unsigned long long)s->nfiles, (unsigned long long)s->npackets,
	    (unsigned long long)s->nbytes);
	atomic_store(&sink->stats->state, PB_SINK_CLOSED);
	fs_free(s);
}

static const struct pb_sink_ops fs_ops = {
	.write = fs_write,
	.writable = fs_writable,
	.flush = fs_flush,
	.reopen = fs_reopen,
	.close = fs_close,
	.custody = fs_custody,
};

struct pb_sink *
pb_sink_file_open(const struct pb_dump_cfg *cfg, const struct pb_sink_env *env,
    char *err, size_t errlen)
{
	struct fs_sink *s;
	pthread_condattr_t ca;

	if (cfg->kind != PB_DUMP_FILE || !cfg->file[0]) {
		snprintf(err, errlen, "dump %s: no file pattern", cfg->name);
		return NULL;
	}
	if (pb_fnames_check(cfg->file, cfg->name, err, errlen) < 0)
		return NULL;
	if (!(s = calloc(1, sizeof(*s)))) {
		snprintf(err, errlen, "dump %s: out of memory", cfg->name);
		return NULL;
	}
	s->cfg = *cfg;
	s->loop = env->loop;
	s->srcdir = env->srcdir;
	s->sink.ops = &fs_ops;
	snprintf(s->sink.name, sizeof(s->sink.name), "%s", cfg->name);
	s->sink.stats = env->stats ? env->stats : &s->own_stats;
	s->sink.on_writable = env->on_writable;
	s->sink.on_writable_arg = env->on_writable_arg;
	s->sink.on_progress = env->on_progress;
	s->sink.on_progress_arg = env->on_progress_arg;
	s->nmax = cfg->buffer_mb ? cfg->buffer_mb : 64;
	if (s->nmax < 2)
		s->nmax = 2;
	s->maxrec = cfg->format == PB_FORMAT_PCAP ?
	    PB_PCAP_FILE_HDR_LEN + PB_PCAP_REC_MAX :
	    PB_PCAPNG_SHB_MAX + PB_PCAPNG_IDB_MAX + PB_PCAPNG_EPB_MAX;
	s->qtail = &s->qhead;
	s->fd = -1;
	s->efd = -1;
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	/* Two files may wait for their fsync while the writer fills a third. */
	if ((cfg->format != PB_FORMAT_PCAP && !(s->ng = pb_ngorigins_new(s->srcdir))) ||
	    (cfg->fsync && !(s->syncb = pb_fsyncb_new(cfg->name, 2))) ||
	    !(s->cur = fs_get_chunk(s))) {
		snprintf(err, errlen, "dump %s: out of memory", cfg->name);
		goto fail;
	}
	if ((s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
	    pb_loop_add_fd(s->loop, s->efd, EPOLLIN, fs_on_event, s) < 0) {
		snprintf(err, errlen, "dump %s: eventfd: %s", cfg->name, strerror(errno));
		goto fail;
	}
	if (!(s->timer = pb_loop_add_timer(s->loop, FS_TICK_NS, fs_on_tick, s))) {
		snprintf(err, errlen, "dump %s: cannot add timer", cfg->name);
		goto fail;
	}
	/* The writer takes no signals: they belong to the loop's signalfd. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&s->thread, NULL, fs_writer, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "dump %s: writer thread: %s", cfg->name, strerror(rc));
		goto fail;
	}
	atomic_store(&s->sink.stats->state, PB_SINK_OK);
	return &s->sink;

fail:
	if (s->timer)
		pb_loop_del_timer(s->loop, s->timer);
	if (s->efd >= 0)
		pb_loop_del_fd(s->loop, s->efd);
	fs_free(s);
	return NULL;
}
