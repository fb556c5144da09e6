/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_STATE_WRITER_H
#define PB_STATE_WRITER_H

#include <stddef.h>
#include <stdio.h>

#include "loop.h"

/*
 * Small state files written off the engine thread. One worker thread
 * replaces each file durably: path.tmp, fsync, rename over path, fsync of
 * the directory. A reader (or a crash) sees the old or the new content,
 * never a mix. Completions come back to the loop thread through a cmdq.
 *
 * Coalescing: a submit for a path that already has a write queued (not yet
 * taken by the worker) replaces that write; the replaced one's done() gets
 * PB_STATE_SUPERSEDED. Per path at most one write is queued and one in
 * progress, so a slow disk never builds a backlog.
 *
 * submit/submit_fill/flush/free run on the loop thread.
 */

struct pb_state_writer;

/* done()'s err when a newer submit for the same path replaced this one
 * before it was written: the newer one's done() reports the outcome.
 * Negative, so never an errno. */
#define PB_STATE_SUPERSEDED (-1)

/* Runs on the loop thread: err is 0 (on disk), an errno, or
 * PB_STATE_SUPERSEDED. */
typedef void pb_state_done_fn(void *arg, int err);

struct pb_state_writer *pb_state_writer_new(struct pb_loop *loop, char *err, size_t errlen);

/* Copies buf. done (may be NULL) runs later on the loop thread, never from
 * inside submit. Returns 0, or -1 with errno (ENOMEM, ENAMETOOLONG); then
 * done is never called. */
int pb_state_writer_submit(struct pb_state_writer *w, const char *path, const void *buf,
    size_t len, pb_state_done_fn *done, void *arg);

/* Same, with the content produced by fill() into a memory FILE*. fill
 * returns < 0 on error; then nothing is queued, done is never called and
 * submit_fill returns -1. */
int pb_state_writer_submit_fill(struct pb_state_writer *w, const char *path,
    int (*fill)(void *ctx, FILE *f), void *ctx, pb_state_done_fn *done, void *arg);

/* Blocks until every submitted write is on disk (or failed) and runs the
 * pending done() callbacks, including those of writes they submit.
 * Shutdown only: it waits on the disk. */
void pb_state_writer_flush(struct pb_state_writer *w);

/* Flushes, then stops the worker. The loop must still exist. NULL is a no-op. */
void pb_state_writer_free(struct pb_state_writer *w);

#endif
