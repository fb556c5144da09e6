/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_SINK_FILE_INT_H
#define PB_SINK_FILE_INT_H

/*
 * The file sink's state, shared by its engine side (sink_file.c) and its
 * writer thread (sink_file_writer.c). Not for other modules.
 */

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "clock.h"
#include "loop.h"
#include "pcap_format.h"
#include "sink.h"
#include "sink_file_names.h"
#include "sink_file_pcapng.h"
#include "sink_file_space.h"
#include "sink_file_sync.h"

#define FS_CHUNK_SIZE (1u << 20)
#define FS_MARKS 16u
#define FS_FLUSH_BYTES (64u << 10)
#define FS_FLUSH_AGE_NS (100 * PB_NSEC_PER_MSEC)
#define FS_TICK_NS (100 * PB_NSEC_PER_MSEC)
#define FS_CUSTODY_AGE_NS (2 * PB_NSEC_PER_MSEC)
#define FS_CLOSE_RETRIES 3     /* at shutdown, retries of a failing write before dropping */

enum { FS_MARK_OPEN = 1, FS_MARK_CLOSE = 2 };

struct fs_mark {
	size_t off;
	int kind;
	uint64_t real_ns; /* OPEN: wall clock for the file name */
};

struct fs_chunk {
	struct fs_chunk *next;
	size_t used;
	uint64_t first_ns; /* loop time when it got its first byte or mark */
	unsigned nmarks;
	struct fs_mark marks[FS_MARKS];
	uint64_t token;    /* custody token reached once the chunk is written */
	size_t wpos;       /* writer progress, kept across retries */
	unsigned wmark;
	uint8_t data[FS_CHUNK_SIZE];
};

struct fs_sink {
	struct pb_sink sink; /* first: the sink ops cast back */
	struct pb_dump_cfg cfg;
	struct pb_loop *loop;
	const struct pb_srcdir *srcdir;
	struct pb_sink_stats own_stats;
	size_t maxrec;

	/* Engine thread only. */
	struct fs_chunk *cur, *spare;
	unsigned nalloc, nmax;
	bool file_open, close_wanted, backlog, lt_warned;
	uint64_t file_bytes, file_records, file_opened_ns;
	uint16_t file_linktype;
	uint64_t npackets;
	struct pb_ngorigins *ng; /* pcapng: interfaces, comment heads */
	int efd;
	pb_timer_id timer, ctimer;
	uint64_t seen_token;     /* highest token given to write() */
	uint64_t handed_token;   /* token of the last chunk handed over */
	bool cur_tokens;         /* cur holds records with tokens ... */
	uint64_t cur_token_ns;   /* ... since then */
	uint64_t reported_token; /* last custody passed to on_progress */
	char comment[PB_PCAPNG_COMMENT_MAX];
	uint8_t idb[PB_PCAPNG_IDB_MAX];

	/* Shared, under mu. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct fs_chunk *qhead, **qtail, *free;
	bool want_wake, stopping;
	atomic_uint queued;  /* handed to the writer and not done yet */
	atomic_bool werror;  /* the writer is retrying */
	_Atomic uint64_t written_token; /* custody: set by the writer */

	/* Writer thread only. */
	pthread_t thread;
	int fd;
	char path[PATH_MAX];
	struct stat st;   /* of the open file: retention keeps it */
	struct pb_fspace space; /* disk space reserved ahead of the writes */
	struct pb_fsyncb *syncb; /* fsync = true: rotated files, fsynced behind */
	struct pb_fnames_last last;
	bool in_error, give_up;
	uint64_t published; /* last written_token stored */
	uint64_t dropped, nfiles, nbytes; /* for the summary line */
};

/* The writer thread: writes the chunks queued to it (opening, rotating
 * and closing files at their marks) until stopping and the queue is
 * empty, then closes the file. */
void *fs_writer(void *arg);

#endif
