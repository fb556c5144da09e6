/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_SINK_JETSTREAM_BATCH_H
#define PB_SINK_JETSTREAM_BATCH_H

/*
 * The jetstream sink's state (sink_jetstream.c), its table of origin
 * streams (sink_jetstream_streams.c) and its batches
 * (sink_jetstream_batch.c): building a batch's payload and message, and
 * trimming it by what the subject holds.
 */

#include <nats/nats.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jetstream.h"
#include "js_holes.h"
#include "loop.h"
#include "record.h"
#include "sink.h"
#include "sink_jetstream_int.h"
#include "srcdir.h"

#define JS_HASH 1024u            /* origin streams: hash buckets */
/* Room a batch keeps for its NODE/SOURCE prelude beyond batch_bytes. */
#define JS_HEADROOM 4096u
/* Payload buffers of freed batches kept for the next ones: a new buffer
 * costs page faults and zeroing per page, and growing one copies it. As
 * many as can be in flight and filling when a subject is pipelined. */
#define JS_SPARE 12u
/* Messages of one subject in flight at once when it publishes alone
 * (pipelined, each fenced by the id of the one before it). */
#define JS_PIPE_DEPTH 8u
/* Fences the stream's last message by its Nats-Msg-Id (schema/jetstream.md §5). */
#define JS_HDR_EXPECT_ID "Nats-Expected-Last-Msg-Id"
#define JS_ID_MAX 160

enum js_batch_state { JS_B_FILLING = 0, JS_B_CUT, JS_B_INFLIGHT };
enum js_stream_state { JS_S_LOOKUP = 0, JS_S_LOOKUP_WAIT, JS_S_READY };

struct js_stream;

struct js_batch {
	struct js_stream *st;
	enum js_batch_state state;
	uint8_t *buf;
	size_t len, cap;
	uint32_t count;
	uint64_t first_seq, last_seq;
	uint64_t idhash;         /* of its origin seqs, for Nats-Msg-Id */
	uint32_t nlate;          /* records below the high when taken */
	struct pb_js_holes snap; /* cut: the subject's taken set once it is stored */
	uint64_t first_tok;      /* custody waits on it until the PubAck */
	uint64_t opened_ns;
	natsMsg *msg;            /* in flight */
	char id[JS_ID_MAX];      /* its Nats-Msg-Id, once built */
	bool chained;            /* in flight: sent from the PubAck before it */
	bool grows;              /* filling past batch_kb: it had to wait for a PubAck */
	uint32_t named[8];       /* hop nodes already named in this batch */
	size_t nnamed;
	struct js_batch *next;
};

struct js_stream {
	uint32_t node;
	uint16_t source;
	uint64_t epoch;
	char subject[PB_JS_PREFIX_MAX + 64];
	enum js_stream_state state;
	uint64_t retry_ns;       /* JS_S_LOOKUP_WAIT: next lookup */
	bool lookup_pending;     /* asked, result not yet in */
	struct pb_js_holes stored; /* what the subject holds, as we last learnt */
	struct pb_js_holes taken;  /* stored or batched */
	uint64_t subj_seq;       /* stream seq of the subject's last message, 0 none */
	uint64_t pipe_retry_ns;  /* no pipelining before (a pipelined publish failed) */
	struct js_batch *head, *tail;
	uint64_t used_ns;        /* when a record last came (loop time) */
	struct js_stream *hnext;
	struct js_stream *next, *prev; /* s->streams: most recently used first */
};

struct js_sink {
	struct pb_sink base;
	const struct pb_jetstream_cfg *cfg;
	struct pb_loop *loop;
	const struct pb_srcdir *srcdir;
	struct pb_js_stats *js;
	struct pb_js_queue results;
	struct js_pub *pub;
	bool connected;
	size_t batch_bytes;       /* cut a batch that can be sent at once here */
	size_t grow_bytes;        /* one waiting behind an unacknowledged one grows to this */
	struct js_stream *hash[JS_HASH];
	struct js_stream *streams, *streams_last; /* most and least recently used */
	size_t nstreams;
	size_t nbatches;          /* filling, cut or in flight: the window */
	size_t nbytes;            /* their payload bytes, at most window * batch_kb */
	uint64_t last_token;      /* of the last record written */
	uint64_t custody_reported;
	pb_timer_id cut_timer, maint_timer;
	bool was_writable;
	bool error_logged;
	uint64_t forgot_logged_ns;
	uint64_t evict_logged_ns;
	uint64_t writer_id;       /* random, in every Nats-Msg-Id: ours alone */
	const struct js_stream *last_pub; /* the stream that published last */
	uint64_t mixed_ns;        /* when a publish last came from another stream than the one before */
	struct { uint8_t *buf; size_t cap; } spare[JS_SPARE];
	size_t nspare;
};

#define JS_HASH_INIT 14695981039346656037ull

/* FNV-1a step over an origin seq: a message's id names its records. */
static inline uint64_t
js_seq_hash(uint64_t h, uint64_t seq)
{
	for (int i = 0; i < 8; i++)
		h = (h ^ ((seq >> (8 * i)) & 0xff)) * 1099511628211ull;
	return h;
}

/*
 * The table of origin streams. js_stream_get finds rec's stream (most
 * recently used from then on), or adds it: state JS_S_LOOKUP, its resume
 * point not asked yet (the caller does). At max_streams it first forgets
 * the least recently used stream without batches or a lookup in flight;
 * NULL when out of memory. js_stream_expire forgets those idle for
 * stream_idle_s. Forgetting loses nothing: without batches, what the
 * sink knows of a subject is what the subject holds, read again on return.
 */
struct js_stream *js_stream_get(struct js_sink *s, const struct pb_record *rec, bool *added);
void js_stream_expire(struct js_sink *s);
/* Frees every stream and its batches (sink close). */
void js_stream_free_all(struct js_sink *s);

/* Unlinked from its stream already (or never linked); frees its message
 * and keeps its buffer as a spare when there is room. */
void js_batch_free(struct js_sink *s, struct js_batch *b);
/* Frees the spare buffers (sink close). */
void js_batch_free_spares(struct js_sink *s);
/* Grows the payload buffer by `more`; -1 when out of memory. */
int js_batch_reserve(struct js_batch *b, size_t more);
/* NODE messages for rec's hop nodes not named in b yet. */
int js_batch_name_hops(struct js_sink *s, struct js_batch *b, const struct pb_record *rec);
/* A new filling batch at st's tail, named (origin, source, rec's hops). */
struct js_batch *js_batch_new(struct js_sink *s, struct js_stream *st, const struct pb_record *rec);
/* The message of a cut batch, with its headers: fenced by the subject's
 * last stream seq, or with after_id by the stream's last message id. */
natsMsg *js_batch_msg(struct js_sink *s, struct js_batch *b, const char *after_id);
/* Drops what st->stored holds, takes the rest into st->taken; returns the
 * batch after b (b may be freed; *prev is the last one kept). */
struct js_batch *js_batch_trim(struct js_sink *s, struct js_batch *b, struct js_batch **prev);

#endif
