/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_jetstream_batch.h"
#include "wire.h"

/*
 * A jetstream sink's batch: a payload of wire messages (NODE/SOURCE names,
 * then RECORDs) for one subject, its headers, and its trimming after a
 * resume-point lookup (schema/jetstream.md).
 */

void
js_batch_free(struct js_sink *s, struct js_batch *b)
{
	if (b->msg)
		natsMsg_Destroy(b->msg);
	s->nbytes -= b->len;
	if (b->buf && s->nspare < JS_SPARE && b->cap >= s->batch_bytes + JS_HEADROOM) {
		s->spare[s->nspare].buf = b->buf;
		s->spare[s->nspare++].cap = b->cap;
	} else {
		free(b->buf);
	}
	free(b);
	s->nbatches--;
	pb_counter_set(&s->js->buffered, s->nbatches);
}

void
js_batch_free_spares(struct js_sink *s)
{
	while (s->nspare)
		free(s->spare[--s->nspare].buf);
}

int
js_batch_reserve(struct js_batch *b, size_t more)
{
	if (b->len + more <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more)
		cap *= 2;
	uint8_t *n = realloc(b->buf, cap);
	if (!n)
		return -1;
	b->buf = n;
	b->cap = cap;
	return 0;
}

/* A NODE message naming node_id, when the directory knows it. */
static int
batch_name_node(struct js_sink *s, struct js_batch *b, uint32_t node_id)
{
	const struct pb_node_info *ni = s->srcdir ? pb_srcdir_node(s->srcdir, node_id) : NULL;
	if (!ni)
		return 0;
	struct pb_wire_node m = { .node_id = node_id,
		.name = { ni->name, (uint16_t)strlen(ni->name) },
		.descr = { ni->description, (uint16_t)strlen(ni->description) } };
	size_t n = pb_wire_encode_node(NULL, 0, &m);
	if (n == 0 || js_batch_reserve(b, n) < 0)
		return n == 0 ? 0 : -1;
	size_t add = pb_wire_encode_node(b->buf + b->len, b->cap - b->len, &m);
	b->len += add;
	s->nbytes += add;
	return 0;
}

/* Names (origin node, its source and the hop nodes) go with every batch,
 * so a reader needs nothing but the message to label the records. */
int
js_batch_name_hops(struct js_sink *s, struct js_batch *b, const struct pb_record *rec)
{
	for (unsigned i = 0; i < rec->nhops; i++) {
		uint32_t n = rec->hops[i].node_id;
		bool seen = n == b->st->node;
		for (size_t j = 0; j < b->nnamed && !seen; j++)
			seen = b->named[j] == n;
		if (seen || b->nnamed == sizeof(b->named) / sizeof(b->named[0]))
			continue;
		b->named[b->nnamed++] = n;
		if (batch_name_node(s, b, n) < 0)
			return -1;
	}
	return 0;
}

struct js_batch *
js_batch_new(struct js_sink *s, struct js_stream *st, const struct pb_record *rec)
{
	struct js_batch *b = calloc(1, sizeof(*b));
	if (b && s->nspare) {
		/* The most recently freed: likeliest to be grown and in cache. */
		b->buf = s->spare[--s->nspare].buf;
		b->cap = s->spare[s->nspare].cap;
	}
	if (!b || js_batch_reserve(b, s->batch_bytes + JS_HEADROOM) < 0) {
		if (b)
			free(b->buf);
		free(b);
		return NULL;
	}
	b->st = st;
	b->idhash = JS_HASH_INIT;
	b->opened_ns = pb_loop_now(s->loop);
	s->nbatches++;
	pb_counter_set(&s->js->buffered, s->nbatches);
	const struct pb_source_info *si = s->srcdir ?
	    pb_srcdir_source(s->srcdir, st->node, st->source) : NULL;
	if (batch_name_node(s, b, st->node) < 0)
		goto fail;
	if (si) {
		struct pb_wire_source m = { .node_id = st->node, .source_id = st->source,
			.linktype = si->linktype,
			.name = { si->name, (uint16_t)strlen(si->name) },
			.descr = { si->description, (uint16_t)strlen(si->description) } };
		size_t n = pb_wire_encode_source(NULL, 0, &m);
		if (n && js_batch_reserve(b, n) < 0)
			goto fail;
		if (n) {
			n = pb_wire_encode_source(b->buf + b->len, b->cap - b->len, &m);
			b->len += n;
			s->nbytes += n;
		}
	}
	if (js_batch_name_hops(s, b, rec) < 0)
		goto fail;
	if (st->tail)
		st->tail->next = b;
	else
		st->head = b;
	st->tail = b;
	return b;
fail:
	b->st = NULL;
	js_batch_free(s, b);
	return NULL;
}

/* The message of a cut batch, with its headers. */
natsMsg *
js_batch_msg(struct js_sink *s, struct js_batch *b, const char *after_id)
{
	struct js_stream *st = b->st;
	natsMsg *m = NULL;
	char v[160], holes[PB_JS_HOLES_STRMAX];
	if (natsMsg_Create(&m, st->subject, NULL, (const char *)b->buf, (int)b->len) != NATS_OK)
		return NULL;
	natsStatus r = NATS_OK;
#define JS_HDR(k, ...) do { \
		snprintf(v, sizeof(v), __VA_ARGS__); \
		if (r == NATS_OK) \
			r = natsMsgHeader_Set(m, k, v); \
	} while (0)
	/* With late records two batches may share first and last: the count
	 * and hash of the seqs keep their ids apart; the writer's id keeps
	 * them apart from another writer's (an id fences what follows). */
	snprintf(b->id, sizeof(b->id), "%" PRIu32 "/%u/%" PRIu64 "/%" PRIu64 "-%" PRIu64 "/%" PRIu32
	    "/%016" PRIx64 "/%016" PRIx64, st->node, st->source, st->epoch, b->first_seq,
	    b->last_seq, b->count, b->idhash, s->writer_id);
	r = natsMsgHeader_Set(m, PB_JS_HDR_MSG_ID, b->id);
	if (after_id && r == NATS_OK)
		r = natsMsgHeader_Set(m, JS_HDR_EXPECT_ID, after_id);
	else
		JS_HDR(PB_JS_HDR_EXPECT, "%" PRIu64, st->subj_seq);
	JS_HDR(PB_JS_HDR_FORMAT, "%s", PB_JS_FORMAT);
	JS_HDR(PB_JS_HDR_ORIGIN, "%" PRIu32 "/%u", st->node, st->source);
	JS_HDR(PB_JS_HDR_EPOCH, "%" PRIu64, st->epoch);
	JS_HDR(PB_JS_HDR_COUNT, "%" PRIu32, b->count);
	JS_HDR(PB_JS_HDR_FIRST, "%" PRIu64, b->first_seq);
	JS_HDR(PB_JS_HDR_LAST, "%" PRIu64, b->last_seq);
	JS_HDR(PB_JS_HDR_HIGH, "%" PRIu64, b->snap.high);
#undef JS_HDR
	if (r == NATS_OK && pb_js_holes_format(&b->snap, holes, sizeof(holes)) > 0)
		r = natsMsgHeader_Set(m, PB_JS_HDR_HOLES, holes);
	if (r != NATS_OK) {
		natsMsg_Destroy(m);
		return NULL;
	}
	return m;
}

/* Drops from b the records the subject holds (st->stored), takes the rest
 * into st->taken (rebuilt batch by batch from the stored set) and
 * snapshots it for a cut batch; frees b when none is left. Returns the
 * batch that follows. */
struct js_batch *
js_batch_trim(struct js_sink *s, struct js_batch *b, struct js_batch **prev)
{
	struct js_stream *st = b->st;
	size_t in = 0, out = 0;
	uint32_t kept = 0, dropped = 0;
	while (in < b->len) {
		struct pb_wire_msg m;
		size_t used = 0;
		if (pb_wire_decode(b->buf + in, b->len - in, &m, &used, NULL, 0) != PB_WIRE_OK)
			break; /* cannot happen: we encoded it */
		uint64_t seq = m.type == PB_WIRE_T_RECORD ? m.record.origin_seq : 0;
		if (seq && pb_js_holes_has(&st->stored, seq)) {
			dropped++;
		} else {
			if (seq) {
				if (!kept++) {
					b->first_seq = seq;
					b->idhash = JS_HASH_INIT;
					b->nlate = 0;
				}
				b->last_seq = seq;
				b->idhash = js_seq_hash(b->idhash, seq);
				b->nlate += seq < st->taken.high;
				/* Forgotten already when first taken: not counted again. */
				uint64_t forgot = 0;
				pb_js_holes_take(&st->taken, seq, &forgot);
			}
			memmove(b->buf + out, b->buf + in, used);
			out += used;
		}
		in += used;
	}
	pb_counter_add(&s->js->duplicates, dropped);
	s->nbytes -= b->len - out;
	b->len = out;
	b->count = kept;
	if (b->state != JS_B_FILLING)
		b->snap = st->taken;
	struct js_batch *next = b->next;
	/* An emptied batch goes, filling or not: one without records must
	 * never be published (its headers would claim a range). */
	if (kept)
		return *prev = b, next;
	if (*prev)
		(*prev)->next = next;
	else
		st->head = next;
	if (st->tail == b)
		st->tail = *prev;
	js_batch_free(s, b);
	return next;
}
