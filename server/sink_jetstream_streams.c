/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <inttypes.h>
#include <stdlib.h>

#include "clock.h"
#include "log.h"
#include "sink_jetstream_batch.h"

/*
 * The jetstream sink's origin streams: a hash for lookups, a list in
 * order of use for forgetting. Any upstream can make new origin streams
 * (every edge restart is a new epoch), so the table is bounded by
 * max_streams; what it forgets is only a cache of the stream's own state.
 */

static uint32_t
bucket(uint32_t node, uint16_t source, uint64_t epoch)
{
	uint64_t h = ((uint64_t)node << 16 | source) * 0x9e3779b97f4a7c15ull ^
	    epoch * 0xc2b2ae3d27d4eb4full;
	return (uint32_t)(h >> 40) % JS_HASH;
}

static void
list_unlink(struct js_sink *s, struct js_stream *st)
{
	if (st->prev)
		st->prev->next = st->next;
	else
		s->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	else
		s->streams_last = st->prev;
	st->next = st->prev = NULL;
}

static void
list_push_front(struct js_sink *s, struct js_stream *st)
{
	st->prev = NULL;
	st->next = s->streams;
	if (s->streams)
		s->streams->prev = st;
	else
		s->streams_last = st;
	s->streams = st;
}

static bool
stream_is(const struct js_stream *st, const struct pb_record *rec)
{
	return st->node == rec->origin_node && st->source == rec->origin_source &&
	    st->epoch == rec->origin_epoch;
}

/* Nothing of it waits on the stream: no batch, no lookup result due (the
 * publisher thread holds a pointer to it until then). */
static bool
forgettable(const struct js_stream *st)
{
	return st->head == NULL && !st->lookup_pending;
}

static void
forget(struct js_sink *s, struct js_stream *st)
{
	struct js_stream **pp = &s->hash[bucket(st->node, st->source, st->epoch)];
	while (*pp != st)
		pp = &(*pp)->hnext;
	*pp = st->hnext;
	list_unlink(s, st);
	/* Another stream may get this address: pipelining must not take it
	 * for the one that published last. */
	if (s->last_pub == st) {
		s->last_pub = NULL;
		s->mixed_ns = pb_loop_now(s->loop);
	}
	log_debug("jetstream", "%s: forgotten (idle; resume after origin seq %" PRIu64 ")",
	    st->subject, st->stored.high);
	free(st);
	s->nstreams--;
	pb_counter_set(&s->js->streams, s->nstreams);
	pb_counter_add(&s->js->streams_evicted, 1);
}

/* The least recently used stream that can be forgotten, if any. */
static struct js_stream *
oldest_forgettable(struct js_sink *s)
{
	for (struct js_stream *st = s->streams_last; st; st = st->prev)
		if (forgettable(st))
			return st;
	return NULL;
}

struct js_stream *
js_stream_get(struct js_sink *s, const struct pb_record *rec, bool *added)
{
	uint64_t now = pb_loop_now(s->loop);
	struct js_stream *st = s->streams;

	*added = false;
	/* Records come in runs: the most recently used one first. */
	if (st && stream_is(st, rec)) {
		st->used_ns = now;
		return st;
	}
	uint32_t h = bucket(rec->origin_node, rec->origin_source, rec->origin_epoch);
	for (st = s->hash[h]; st; st = st->hnext) {
		if (stream_is(st, rec)) {
			list_unlink(s, st);
			list_push_front(s, st);
			st->used_ns = now;
			return st;
		}
	}
	if (s->nstreams >= s->cfg->max_streams) {
		struct js_stream *old = oldest_forgettable(s);
		if (old)
			forget(s, old);
	}
	if (!(st = calloc(1, sizeof(*st))))
		return NULL;
	st->node = rec->origin_node;
	st->source = rec->origin_source;
	st->epoch = rec->origin_epoch;
	st->used_ns = now;
	pb_js_holes_init(&st->stored);
	pb_js_holes_init(&st->taken);
	pb_js_subject(st->subject, sizeof(st->subject), s->cfg->subject_prefix, st->node,
	    st->source, st->epoch);
	st->hnext = s->hash[h];
	s->hash[h] = st;
	list_push_front(s, st);
	s->nstreams++;
	pb_counter_set(&s->js->streams, s->nstreams);
	*added = true;
	return st;
}

void
js_stream_expire(struct js_sink *s)
{
	uint64_t now = pb_loop_now(s->loop), idle = s->cfg->stream_idle_s * PB_NSEC_PER_SEC;
	struct js_stream *st = s->streams_last;

	/* From the least recently used on, up to the first one in use. */
	while (st && now - st->used_ns >= idle) {
		struct js_stream *newer = st->prev;
		if (forgettable(st))
			forget(s, st);
		st = newer;
	}
}

void
js_stream_free_all(struct js_sink *s)
{
	while (s->streams) {
		struct js_stream *st = s->streams;
		s->streams = st->next;
		while (st->head) {
			struct js_batch *b = st->head;
			st->head = b->next;
			js_batch_free(s, b);
		}
		free(st);
	}
	s->streams_last = NULL;
	s->nstreams = 0;
	pb_counter_set(&s->js->streams, 0);
}
