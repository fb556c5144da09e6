/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_RESEND_H
#define PB_RESEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/*
 * Per-peer resend buffer: encoded wire messages kept until the peer
 * acknowledges them (cumulative ACK of the link sequence number).
 *
 * Messages sit back to back in one contiguous byte ring; a message is never
 * split across the end (when it does not fit there, the tail is skipped and
 * it goes to the start). So the unsent bytes form at most two regions and
 * one writev() sends many messages. Per-message metadata lives in a separate
 * ring of max_entries slots.
 *
 * A send cursor marks how far the current connection got, as a byte
 * position: partial writes are fine. After a reconnect the peer reports what
 * it has in custody: pb_resend_ack(r, custody) then pb_resend_rewind(r).
 *
 * Memory follows what is held: the rings start small, double when a
 * message finds no room (up to capacity_bytes and max_entries), and go back
 * to their first sizes when the buffer has been empty and idle for a while
 * (pb_resend_trim, from a timer). Growing moves the bytes: iovecs and
 * oldest() pointers are valid until the next reserve or push.
 *
 * Engine thread only; no locking.
 */

struct pb_resend;

struct pb_resend_stats {
	size_t capacity;            /* ring bytes at most */
	size_t max_entries;
	size_t alloc_bytes;         /* ring bytes allocated now */
	size_t alloc_entries;       /* entry slots allocated now */
	size_t used_bytes;          /* message bytes held, sent or not */
	size_t entries;
	size_t unsent_entries;      /* counting a partially sent one */
	size_t unsent_bytes;
	uint64_t oldest_seq;        /* 0 if empty */
	uint64_t newest_seq;        /* last link seq pushed, kept when empty */
	uint64_t oldest_enqueue_ns; /* 0 if empty */
};

/* First sizes of pb_resend_new (or the maxima, when smaller). */
#define PB_RESEND_INIT_BYTES ((size_t)256 << 10)
#define PB_RESEND_INIT_ENTRIES ((size_t)4096)

/* NULL on bad sizes (0) or allocation failure. */
struct pb_resend *pb_resend_new(size_t capacity_bytes, size_t max_entries);
/* The same with the first sizes given (clamped to 1..the maxima). */
struct pb_resend *pb_resend_new_sized(size_t capacity_bytes, size_t max_entries,
    size_t init_bytes, size_t init_entries);
void pb_resend_free(struct pb_resend *r);

/*
 * Appends a copy of msg. link_seq must be greater than every seq pushed
 * before. Returns 0, or -1 with errno:
 *   ENOBUFS  no room now (bytes or entries): drop the oldest and retry;
 *   EMSGSIZE len is 0 or larger than the capacity: it will never fit;
 *   EINVAL   link_seq not increasing.
 */
int pb_resend_push(struct pb_resend *r, uint64_t link_seq, uint64_t enqueue_ns,
    const void *msg, size_t len);

/*
 * Zero-copy push: room for up to max_len bytes in the ring (NULL and errno
 * as pb_resend_push when there is none). The caller encodes into it, then
 * commits the actual length (1..max_len). The reservation is dropped by the
 * next reserve or push; ack and drop keep it valid.
 */
void *pb_resend_reserve(struct pb_resend *r, size_t max_len);
int pb_resend_commit(struct pb_resend *r, uint64_t link_seq, uint64_t enqueue_ns,
    size_t len);

/*
 * Unsent bytes from the cursor, in message order: at most two iovecs (one
 * per contiguous region), capped at max_iov and max_bytes. Returns the
 * number filled, 0 when nothing is unsent. The bytes stay unchanged until
 * those messages are freed (ack/drop) or the buffer grows (reserve/push).
 */
int pb_resend_iov(const struct pb_resend *r, struct iovec *iov, int max_iov,
    size_t max_bytes);
/* Advances the cursor by what writev() wrote (clamped to the unsent bytes). */
void pb_resend_sent(struct pb_resend *r, size_t bytes);
/* The same, adding the messages it completed to *done; returns the bytes
 * of the message the cursor is now in that are still unsent (0 when the
 * cursor is at a message's start, or nothing is unsent). */
size_t pb_resend_sent_msgs(struct pb_resend *r, size_t bytes, uint64_t *done);
bool pb_resend_has_unsent(const struct pb_resend *r);
/* Highest seq fully sent on this connection, else the highest freed one, else 0. */
uint64_t pb_resend_last_sent_seq(const struct pb_resend *r);

/*
 * Frees every message with seq <= link_seq; returns how many. The cursor
 * moves past freed messages: an ack beyond it (after a resume) skips them.
 * On a live connection an ack above pb_resend_last_sent_seq() is a peer
 * protocol error (the rest of a partly written message would be skipped):
 * check before calling, and reset the connection.
 */
size_t pb_resend_ack(struct pb_resend *r, uint64_t link_seq);
/* Cursor back to the oldest message: call after (re)connecting. */
void pb_resend_rewind(struct pb_resend *r);

/* The oldest message (for expiry and overflow). Returns 0, -1 if empty. */
int pb_resend_oldest(const struct pb_resend *r, uint64_t *link_seq, uint64_t *enqueue_ns,
    const void **msg, size_t *len);
/*
 * True when the oldest message is partially written on the current
 * connection: dropping it would corrupt the stream, so the caller must
 * reset the connection (then rewind) or wait.
 */
bool pb_resend_oldest_in_flight(const struct pb_resend *r);
/*
 * Drops the oldest message (the caller spilled it to the DLQ first).
 * Returns 0, or -1 if empty or in flight (errno EBUSY).
 */
int pb_resend_drop_oldest(struct pb_resend *r);

void pb_resend_get_stats(const struct pb_resend *r, struct pb_resend_stats *st);

/* Back to the first sizes when empty and the newest message was pushed
 * PB_RESEND_TRIM_IDLE_NS or more before now_ns (the clock of enqueue_ns);
 * a busy buffer that empties between bursts keeps its memory. Not under
 * a reservation. */
#define PB_RESEND_TRIM_IDLE_NS ((uint64_t)1000000000)
void pb_resend_trim(struct pb_resend *r, uint64_t now_ns);

#endif
