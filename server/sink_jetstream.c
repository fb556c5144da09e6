/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "jetstream.h"
#include "log.h"
#include "sink_jetstream_batch.h"
#include "sink_jetstream_int.h"
#include "wire.h"

/*
 * The jetstream sink, engine side. Records are batched per origin stream
 * (origin node, source, epoch) into one subject each; a batch is cut by
 * size or age and published with the subject's last stream sequence as
 * Nats-Expected-Last-Subject-Sequence; the next one is chained to its
 * PubAck (js_pub.c), or, while the sink writes to that subject alone,
 * pipelined with Nats-Expected-Last-Msg-Id naming the one before, so each
 * message is fenced by the one before.
 * Per origin stream the sink keeps which origin seqs are taken (js_holes:
 * a high and the holes below it), so a late record (a DLQ replay) fills
 * its hole while a resent one is a duplicate. Every message carries that
 * set as it is once the message is stored (Pb-High, Pb-Holes), so the
 * resume point of a subject is read from the stream itself (its last
 * message) when the subject is first seen and after any failed publish:
 * records the stream already holds are dropped, never stored twice,
 * whichever collector sent them before (schema/jetstream.md).
 * Custody is the PubAck: the custody token is just below the oldest record
 * not yet acknowledged.
 */

#define JS_MAINT_NS (100 * PB_NSEC_PER_MSEC)
#define JS_LOOKUP_RETRY_NS (500 * PB_NSEC_PER_MSEC)
#define JS_CLOSE_WAIT_NS (10 * PB_NSEC_PER_SEC)
#define JS_FORGOT_LOG_NS (10 * PB_NSEC_PER_SEC)
/* Pipelining waits this long after another subject published, and after
 * a pipelined publish of the subject failed. */
#define JS_PIPE_QUIET_NS (100 * PB_NSEC_PER_MSEC)
#define JS_PIPE_BACKOFF_NS (1 * PB_NSEC_PER_SEC)

/* Holes past the bound: their later fills will count as duplicates. */
static void
note_forgotten(struct js_sink *s, const struct js_stream *st, uint64_t n)
{
	if (!n)
		return;
	pb_counter_add(&s->js->holes_forgotten, n);
	uint64_t now = pb_loop_now(s->loop);
	if (s->forgot_logged_ns && now - s->forgot_logged_ns < JS_FORGOT_LOG_NS)
		return;
	s->forgot_logged_ns = now;
	log_warnx("jetstream", "%s: more than %u holes below origin seq %" PRIu64 "; the lowest "
	    "is forgotten, records that fill it later count as duplicates (holes_forgotten)",
	    st->subject, PB_JS_HOLES_MAX, st->taken.high);
}

/* The resume point is (again) unknown: ask the stream, once at a time. */
static void
stream_lookup(struct js_sink *s, struct js_stream *st)
{
	st->state = JS_S_LOOKUP;
	if (!s->connected || st->lookup_pending)
		return;
	st->lookup_pending = true;
	js_pub_lookup(s->pub, st, st->subject);
}

/* rec's origin stream; a new one asks the stream for its resume point. */
static struct js_stream *
stream_get(struct js_sink *s, const struct pb_record *rec)
{
	bool added;
	size_t before = s->nstreams;
	struct js_stream *st = js_stream_get(s, rec, &added);
	if (!st || !added)
		return st;
	if (before >= s->cfg->max_streams) {
		uint64_t now = pb_loop_now(s->loop);
		if (!s->evict_logged_ns || now - s->evict_logged_ns >= JS_FORGOT_LOG_NS) {
			s->evict_logged_ns = now;
			/* The count is the same when one was forgotten for it. */
			log_warnx("jetstream", "sink '%s': new origin stream %s at max_streams (%" PRIu32
			    "): %s", s->base.name, st->subject, s->cfg->max_streams,
			    s->nstreams == before ? "the least recently used idle one is forgotten "
			    "(streams_evicted)" : "none is idle, kept above the bound until its "
			    "batches are acknowledged");
		}
	}
	stream_lookup(s, st);
	return st;
}

/* Several messages of st may be in flight (pipelined) only while it is
 * the one subject this sink publishes to: a message of another subject
 * between two of them would fail the second one's fence. */
static bool
pipe_ok(const struct js_sink *s, const struct js_stream *st)
{
	uint64_t now = pb_loop_now(s->loop);
	return s->cfg->window > 2 && (!s->last_pub || s->last_pub == st) &&
	    now >= st->pipe_retry_ns && (!s->mixed_ns || now - s->mixed_ns >= JS_PIPE_QUIET_NS);
}

static unsigned
pipe_depth(const struct js_sink *s)
{
	return s->cfg->window / 2 < JS_PIPE_DEPTH ? s->cfg->window / 2 : JS_PIPE_DEPTH;
}

/* Where a batch can leave as soon as it is cut: first, right behind the
 * one in flight (chained to its PubAck), or pipelined behind those in
 * flight. */
static bool
batch_sendable(const struct js_sink *s, const struct js_stream *st, const struct js_batch *b)
{
	if (b == st->head || (b == st->head->next && st->head->state == JS_B_INFLIGHT))
		return true;
	if (!pipe_ok(s, st))
		return false;
	unsigned n = 0, max = pipe_depth(s);
	for (const struct js_batch *x = st->head; x != b; x = x->next)
		if (x->state != JS_B_INFLIGHT || x->chained || ++n >= max)
			return false;
	return true;
}

enum js_send { JS_SEND_FENCED, JS_SEND_CHAINED, JS_SEND_PIPELINED };

/* prev: the batch before b, in flight (JS_SEND_PIPELINED). */
static bool
batch_send(struct js_sink *s, struct js_batch *b, enum js_send how, const struct js_batch *prev)
{
	natsMsg *m = js_batch_msg(s, b, how == JS_SEND_PIPELINED ? prev->id : NULL);
	if (!m) {
		pb_counter_add(&s->js->errors, 1);
		return false; /* retried by the maintenance timer */
	}
	b->msg = m;
	b->state = JS_B_INFLIGHT;
	b->chained = how == JS_SEND_CHAINED;
	if (s->last_pub && s->last_pub != b->st)
		s->mixed_ns = pb_loop_now(s->loop);
	s->last_pub = b->st;
	if (how == JS_SEND_CHAINED)
		log_debug("jetstream", "%s: chain %" PRIu64 "..%" PRIu64 " (%" PRIu32 " records)",
		    b->st->subject, b->first_seq, b->last_seq, b->count);
	else if (how == JS_SEND_PIPELINED)
		log_debug("jetstream", "%s: pipeline %" PRIu64 "..%" PRIu64 " (%" PRIu32 " records)",
		    b->st->subject, b->first_seq, b->last_seq, b->count);
	else
		log_debug("jetstream", "%s: publish %" PRIu64 "..%" PRIu64 " (%" PRIu32
		    " records) after subject seq %" PRIu64, b->st->subject, b->first_seq,
		    b->last_seq, b->count, b->st->subj_seq);
	pb_counter_add(&s->js->pending_acks, 1);
	if (how == JS_SEND_CHAINED)
		js_pub_chain(s->pub, m);
	else
		js_pub_publish(s->pub, m, how == JS_SEND_PIPELINED);
	return true;
}

/* Once the resume point is known, cut batches leave in order: the oldest
 * fenced by the subject's last stream seq; behind it, pipelined (fenced by
 * the id of the one before) while the subject publishes alone, else one
 * chained to the PubAck of the one in flight. */
static void
stream_kick(struct js_sink *s, struct js_stream *st)
{
	if (!s->connected || st->state != JS_S_READY)
		return;
	unsigned n = 0;
	for (struct js_batch *b = st->head, *prev = NULL; b; prev = b, b = b->next) {
		if (b->state == JS_B_INFLIGHT) {
			n++;
			continue;
		}
		if (b->state != JS_B_CUT)
			return;
		if (!prev) {
			if (!batch_send(s, b, JS_SEND_FENCED, NULL))
				return;
		} else if (prev->state == JS_B_INFLIGHT && !prev->chained && pipe_ok(s, st) &&
		    n < pipe_depth(s)) {
			/* Not behind a chained one: it leaves only with a PubAck. */
			if (!batch_send(s, b, JS_SEND_PIPELINED, prev))
				return;
		} else {
			/* Chained only behind a lone message: the PubAck that
			 * sends it must be that of the one just before. */
			if (n == 1 && prev == st->head && prev->state == JS_B_INFLIGHT)
				batch_send(s, b, JS_SEND_CHAINED, NULL);
			return;
		}
		n++;
	}
}

/* A batch that cannot leave before a PubAck takes what arrives meanwhile,
 * up to the largest message, so that one round trip carries more when the
 * store is slow. Asked once the batch reaches batch_kb; a PubAck or the
 * cut timer cuts it later if it can leave (on_ack, cut_tick). */
static bool
batch_grows(const struct js_sink *s, const struct js_stream *st, struct js_batch *b)
{
	if (!b->grows)
		b->grows = s->grow_bytes > s->batch_bytes && !batch_sendable(s, st, b);
	return b->grows;
}

static void
batch_cut(struct js_sink *s, struct js_batch *b)
{
	if (b->state != JS_B_FILLING || !b->count)
		return;
	/* Only the tail fills: the taken set is this batch's and those
	 * before it, exactly what the subject holds once it is stored. */
	b->state = JS_B_CUT;
	b->snap = b->st->taken;
	if (batch_sendable(s, b->st, b))
		stream_kick(s, b->st);
}

static int64_t
cut_tick(struct pb_loop *loop, void *arg)
{
	struct js_sink *s = arg;
	uint64_t now = pb_loop_now(loop), age = (uint64_t)s->cfg->batch_ms * PB_NSEC_PER_MSEC;
	bool filling = false;
	for (struct js_stream *st = s->streams; st; st = st->next) {
		struct js_batch *b = st->tail;
		if (!b || b->state != JS_B_FILLING)
			continue;
		/* One further back leaves once a PubAck moves it up. */
		if (batch_sendable(s, st, b) && now - b->opened_ns >= age)
			batch_cut(s, b);
		else
			filling = true;
	}
	if (filling)
		return (int64_t)(age / 2 ? age / 2 : 1);
	s->cut_timer = 0;
	return PB_TIMER_STOP;
}

/* One more record may need a new batch: both bounds of the window. */
static bool
js_room(const struct js_sink *s)
{
	return s->nbatches < s->cfg->window && (s->nbytes == 0 ||
	    s->nbytes + PB_WIRE_MAX_MSG <= (size_t)s->cfg->window * s->cfg->batch_bytes);
}

static bool
js_writable(struct pb_sink *sink)
{
	struct js_sink *s = (struct js_sink *)sink;
	bool w = js_room(s);
	/* The engine pauses on false: on_writable is owed once room is back. */
	if (!w && s->was_writable) {
		s->was_writable = false;
		atomic_store(&s->base.stats->state, PB_SINK_BACKLOG);
		pb_counter_add(&s->base.stats->backlog_events, 1);
	}
	return w;
}

static int
js_write(struct pb_sink *sink, const struct pb_record *rec)
{
	struct js_sink *s = (struct js_sink *)sink;
	struct js_stream *st = stream_get(s, rec);

	s->last_token = rec->token;
	if (!st)
		goto fail;
	/* Already in the stream or batched (a resend after a collector
	 * restart or a failover): custody without storing it twice. A late
	 * record in a hole is new. Before the first lookup the set only has
	 * what was batched; the lookup drops what the stream holds. */
	if (pb_js_holes_has(&st->taken, rec->origin_seq)) {
		pb_counter_add(&s->js->duplicates, 1);
		return 0;
	}
	size_t n = pb_wire_record_size(rec);
	struct js_batch *b = st->tail;
	if (b && b->state == JS_B_FILLING && b->count && b->len + n > s->batch_bytes &&
	    (b->len + n > s->grow_bytes || !batch_grows(s, st, b)))
		batch_cut(s, b);
	if (!b || b->state != JS_B_FILLING) {
		if (!(b = js_batch_new(s, st, rec)))
			goto fail;
		if (!s->cut_timer)
			s->cut_timer = pb_loop_add_timer(s->loop, (uint64_t)s->cfg->batch_ms *
			    PB_NSEC_PER_MSEC, cut_tick, s);
	} else if (js_batch_name_hops(s, b, rec) < 0) {
		goto fail;
	}
	if (js_batch_reserve(b, n) < 0)
		goto fail;
	/* In the stream the RECORD's link_seq field repeats the origin seq. */
	if (pb_wire_encode_record(b->buf + b->len, b->cap - b->len, rec,
	    rec->origin_seq ? rec->origin_seq : 1) != n)
		goto fail;
	b->len += n;
	s->nbytes += n;
	if (!b->count++) {
		b->first_seq = rec->origin_seq;
		b->first_tok = rec->token;
	}
	b->last_seq = rec->origin_seq;
	b->idhash = js_seq_hash(b->idhash, rec->origin_seq);
	b->nlate += rec->origin_seq < st->taken.high;
	uint64_t forgot = 0;
	pb_js_holes_take(&st->taken, rec->origin_seq, &forgot);
	note_forgotten(s, st, forgot);
	pb_counter_add(&s->base.stats->packets, 1);
	pb_counter_add(&s->base.stats->bytes, rec->caplen);
	if (b->len >= s->batch_bytes && (b->len >= s->grow_bytes || !batch_grows(s, st, b)))
		batch_cut(s, b);
	return 0;
fail:
	/* Rejected and counted, like the other sinks: it cannot be stored
	 * (out of memory, or a record the wire cannot encode). */
	pb_counter_add(&s->base.stats->write_errors, 1);
	if (!s->error_logged) {
		s->error_logged = true;
		log_warnx("jetstream", "sink '%s': cannot batch a record (out of memory or "
		    "invalid); counted as write errors", s->base.name);
	}
	return -1;
}

static void
js_flush(struct pb_sink *sink)
{
	/* Batches are cut by size and age, not per loop iteration. */
}

static void
js_reopen(struct pb_sink *sink)
{
}

static uint64_t
js_custody(struct pb_sink *sink)
{
	struct js_sink *s = (struct js_sink *)sink;
	uint64_t c = s->last_token;
	for (struct js_stream *st = s->streams; st; st = st->next)
		for (struct js_batch *b = st->head; b; b = b->next)
			if (b->count && b->first_tok - 1 < c)
				c = b->first_tok - 1;
	return c;
}

static void
progress(struct js_sink *s)
{
	uint64_t c = js_custody(&s->base);
	if (c != s->custody_reported) {
		s->custody_reported = c;
		if (s->base.on_progress)
			s->base.on_progress(&s->base, s->base.on_progress_arg);
	}
	if (!s->was_writable && js_room(s)) {
		s->was_writable = true;
		atomic_store(&s->base.stats->state, PB_SINK_OK);
		if (s->base.on_writable)
			s->base.on_writable(&s->base, s->base.on_writable_arg);
	}
}

static void
on_lookup(struct js_sink *s, struct js_result *r)
{
	struct js_stream *st = r->ref;
	st->lookup_pending = false;
	if (st->state == JS_S_READY)
		return; /* asked before the stream became ready: stale */
	if (!r->ok) {
		pb_counter_add(&s->js->errors, 1);
		pb_js_stats_set_error(s->js, r->text);
		log_debug("jetstream", "%s: %s; retrying", st->subject, r->text);
		st->state = JS_S_LOOKUP_WAIT;
		st->retry_ns = pb_loop_now(s->loop) + JS_LOOKUP_RETRY_NS;
		return;
	}
	for (struct js_batch *b = st->head; b; b = b->next) {
		if (b->state == JS_B_INFLIGHT) {
			/* Its result is still due: read the resume point after it. */
			st->state = JS_S_LOOKUP_WAIT;
			st->retry_ns = pb_loop_now(s->loop) + JS_MAINT_NS;
			return;
		}
	}
	if (r->text[0])
		log_warnx("jetstream", "%s", r->text);
	pb_counter_add(&s->js->lookups, 1);
	if (r->found)
		st->stored = r->stored;
	else
		pb_js_holes_init(&st->stored);
	note_forgotten(s, st, r->forgotten);
	st->subj_seq = r->found ? r->subject_seq : 0;
	st->taken = st->stored;
	struct js_batch *prev = NULL;
	for (struct js_batch *b = st->head; b;)
		b = js_batch_trim(s, b, &prev);
	st->state = JS_S_READY;
	log_debug("jetstream", "%s: resume after origin seq %" PRIu64 " with %" PRIu32 " holes "
	    "(subject seq %" PRIu64 ")", st->subject, st->stored.high, st->stored.n, st->subj_seq);
	stream_kick(s, st);
}

/* The batch a published message belongs to (in flight). */
static struct js_batch *
batch_of(struct js_sink *s, const natsMsg *m)
{
	for (struct js_stream *st = s->streams; st; st = st->next)
		for (struct js_batch *b = st->head; b && b->state != JS_B_FILLING; b = b->next)
			if (b->msg == m)
				return b;
	return NULL;
}

static void
on_ack(struct js_sink *s, struct js_result *r)
{
	struct js_batch *b = batch_of(s, r->msg);
	if (!b) {
		natsMsg_Destroy(r->msg);
		return;
	}
	struct js_stream *st = b->st;
	pb_counter_add(&s->js->pending_acks, (uint64_t)-1);
	log_debug("jetstream", "%s: %" PRIu64 "..%" PRIu64 " %s%s seq %" PRIu64 " %s%s%s",
	    st->subject, b->first_seq, b->last_seq, r->ok ? "stored" : "failed",
	    r->duplicate ? " (dup)" : "", r->stream_seq, b == st->head ? "head" : "behind",
	    r->ok ? "" : ": ", r->ok ? "" : r->text);
	if (r->ok && r->duplicate && b == st->head) {
		/* Nats-Msg-Id seen before (the same batch, stored by a publish
		 * of ours whose PubAck was lost): not stored twice. That
		 * message need not be the subject's last: read the resume point
		 * again before going on. */
		pb_counter_add(&s->js->duplicates, b->count);
		st->head = b->next;
		if (!st->head)
			st->tail = NULL;
		js_batch_free(s, b);
		stream_lookup(s, st);
		return;
	}
	if (r->ok && b == st->head) {
		st->stored = b->snap;
		st->subj_seq = r->stream_seq;
		pb_counter_set(&s->js->last_stream_seq, r->stream_seq);
		pb_counter_add(&s->js->messages, 1);
		pb_counter_add(&s->js->records, b->count);
		pb_counter_add(&s->js->late, b->nlate);
		st->head = b->next;
		if (!st->head)
			st->tail = NULL;
		js_batch_free(s, b);
		/* What waited a round trip goes now, full or not; one
		 * further back if it has waited long enough. */
		struct js_batch *t = st->tail;
		if (t && t->state == JS_B_FILLING && t->count && batch_sendable(s, st, t) &&
		    (t == st->head || t->len >= s->batch_bytes || pb_loop_now(s->loop) -
		    t->opened_ns >= (uint64_t)s->cfg->batch_ms * PB_NSEC_PER_MSEC))
			batch_cut(s, t);
		stream_kick(s, st);
		return;
	}
	/* Whatever failed (another writer, a timeout, a lost server), the
	 * stream says what it holds: read it again, trim, publish the rest.
	 * A chained batch comes back unsent when the one before it failed. */
	natsMsg_Destroy(b->msg);
	b->msg = NULL;
	b->state = JS_B_CUT;
	/* Those pipelined behind it fail as well; publish one at a time for
	 * a while (another writer or subject is in the way). */
	st->pipe_retry_ns = pb_loop_now(s->loop) + JS_PIPE_BACKOFF_NS;
	pb_counter_add(&s->js->errors, 1);
	pb_js_stats_set_error(s->js, r->text);
	if (st->state != JS_S_READY)
		return;
	log_info("jetstream", "%s: publish of origin seqs %" PRIu64 "..%" PRIu64 " failed: %s "
	    "(error %d); reading the resume point again", st->subject, b->first_seq, b->last_seq,
	    r->text, r->errcode);
	stream_lookup(s, st);
}

/* libnats copies every message into an allocation of its own
 * (natsMsg_Create). Above glibc's mmap threshold each one is mapped,
 * faulted in page by page and unmapped when freed: 72 k page faults and
 * 0.3 s of system time for 2 M 64-byte records in 1 MB messages. Keep
 * messages up to max_payload on the heap, and the memory of those in
 * flight (at most 64 MiB) around for the next ones (process-wide, once per
 * larger size). */
static void
malloc_tune(int64_t max_payload)
{
	static int64_t tuned;
	const int64_t big = max_payload + 65536, keep = big * 32 < (64 << 20) ? big * 32 : 64 << 20;
	if (max_payload <= tuned || big > (32 << 20))
		return; /* glibc's largest mmap threshold */
	tuned = max_payload;
	mallopt(M_MMAP_THRESHOLD, (int)big);
	mallopt(M_TRIM_THRESHOLD, (int)keep);
}

static void
on_state(struct js_sink *s, struct js_result *r)
{
	atomic_store(&s->js->state, r->state);
	if (r->state == PB_JS_STREAM_ERROR)
		pb_js_stats_set_error(s->js, r->text);
	bool was = s->connected;
	s->connected = r->state == PB_JS_CONNECTED;
	if (!s->connected || was)
		return;
	log_info("jetstream", "sink '%s': stream '%s' ready", s->base.name, s->cfg->stream);
	if (r->max_payload > 0)
		malloc_tune(r->max_payload);
	/* A batch plus headers must fit the server's max_payload. */
	if (r->max_payload > 0 && s->batch_bytes + JS_HEADROOM * 2 > (uint64_t)r->max_payload) {
		size_t want = (size_t)r->max_payload > JS_HEADROOM * 2 + 65536 + PB_WIRE_MAX_MSG ?
		    (size_t)r->max_payload - JS_HEADROOM * 2 - PB_WIRE_MAX_MSG : 65536;
		log_warnx("jetstream", "sink '%s': batch size %zu above the server's max_payload "
		    "%" PRId64 "; using %zu", s->base.name, s->batch_bytes, r->max_payload, want);
		s->batch_bytes = want;
	}
	/* A growing batch is cut before a record that would pass grow_bytes
	 * (js_write checks len + n), so beyond it a message only needs room
	 * for the hop names added after that check (at most 8 NODE messages,
	 * 2.7 KB) and its headers (3.1 KB with 64 holes): JS_HEADROOM * 2.
	 * Reserving a largest record too cost 12 % of every round trip. */
	if (r->max_payload > (int64_t)(JS_HEADROOM * 2 + PB_WIRE_MAX_MSG))
		s->grow_bytes = (size_t)r->max_payload - JS_HEADROOM * 2;
	for (struct js_stream *st = s->streams; st; st = st->next) {
		if (st->state != JS_S_READY)
			stream_lookup(s, st);
	}
}

static void
drain_results(struct js_sink *s)
{
	for (;;) {
		pthread_mutex_lock(&s->results.lock);
		struct js_result *r = pb_js_queue_pop_locked(&s->results);
		pthread_mutex_unlock(&s->results.lock);
		if (!r)
			break;
		if (r->type == JS_R_ACK)
			on_ack(s, r);
		else if (r->type == JS_R_LOOKUP)
			on_lookup(s, r);
		else
			on_state(s, r);
		free(r);
	}
	progress(s);
}

static void
results_ready(struct pb_loop *loop, int fd, uint32_t events, void *arg)
{
	struct js_sink *s = arg;
	pb_js_queue_ack_wakeup(&s->results);
	drain_results(s);
}

/* Retries what is waiting: lookups after an error, messages that could
 * not be built. */
static int64_t
maint_tick(struct pb_loop *loop, void *arg)
{
	struct js_sink *s = arg;
	uint64_t now = pb_loop_now(loop);
	for (struct js_stream *st = s->streams; st && s->connected; st = st->next) {
		if (st->state == JS_S_LOOKUP_WAIT && now >= st->retry_ns)
			stream_lookup(s, st);
		stream_kick(s, st);
	}
	js_stream_expire(s);
	return (int64_t)JS_MAINT_NS;
}

static void
js_close(struct pb_sink *sink)
{
	struct js_sink *s = (struct js_sink *)sink;
	/* Publish what was accepted and wait (bounded) for its PubAcks; an
	 * empty batch (a record that could not be added) just goes. */
	for (struct js_stream *st = s->streams; st; st = st->next) {
		struct js_batch *b = st->tail, *prev = NULL;
		if (b && b->state == JS_B_FILLING && !b->count) {
			for (struct js_batch *x = st->head; x != b; x = x->next)
				prev = x;
			if (prev)
				prev->next = NULL;
			else
				st->head = NULL;
			st->tail = prev;
			js_batch_free(s, b);
		}
		if (st->tail)
			batch_cut(s, st->tail);
	}
	uint64_t deadline = pb_mono_ns() + JS_CLOSE_WAIT_NS;
	while (s->nbatches && pb_mono_ns() < deadline) {
		struct pollfd p = { .fd = s->results.efd, .events = POLLIN };
		if (poll(&p, 1, 100) > 0)
			pb_js_queue_ack_wakeup(&s->results);
		drain_results(s);
	}
	if (s->nbatches)
		log_warnx("jetstream", "sink '%s': %zu batch(es) not acknowledged at shutdown; "
		    "their records are not in custody (the upstream resends them)", s->base.name,
		    s->nbatches);
	if (s->cut_timer)
		pb_loop_del_timer(s->loop, s->cut_timer);
	if (s->maint_timer)
		pb_loop_del_timer(s->loop, s->maint_timer);
	pb_loop_del_fd(s->loop, s->results.efd);
	js_pub_stop(s->pub);
	struct js_result *r;
	while ((r = pb_js_queue_pop_locked(&s->results))) {
		if (r->msg && r->type == JS_R_ACK && !batch_of(s, r->msg))
			natsMsg_Destroy(r->msg);
		free(r);
	}
	pb_js_queue_free(&s->results);
	js_stream_free_all(s);
	js_batch_free_spares(s);
	atomic_store(&s->js->state, PB_JS_CLOSED);
	free(s);
}

static const struct pb_sink_ops js_ops = {
	.write = js_write,
	.writable = js_writable,
	.flush = js_flush,
	.reopen = js_reopen,
	.close = js_close,
	.custody = js_custody,
};

struct pb_sink *
pb_sink_jetstream_open(const struct pb_dump_cfg *cfg, const struct pb_sink_env *env,
    char *err, size_t errlen)
{
	if (!cfg->js || !env->js_stats) {
		snprintf(err, errlen, "not a jetstream dump");
		return NULL;
	}
	struct js_sink *s = calloc(1, sizeof(*s));
	if (!s || pb_js_queue_init(&s->results) < 0) {
		snprintf(err, errlen, "out of memory");
		free(s);
		return NULL;
	}
	s->base.ops = &js_ops;
	snprintf(s->base.name, sizeof(s->base.name), "%s", cfg->name);
	s->base.stats = env->stats;
	s->base.on_writable = env->on_writable;
	s->base.on_writable_arg = env->on_writable_arg;
	s->base.on_progress = env->on_progress;
	s->base.on_progress_arg = env->on_progress_arg;
	s->cfg = cfg->js;
	s->loop = env->loop;
	s->srcdir = env->srcdir;
	s->js = env->js_stats;
	s->batch_bytes = cfg->js->batch_bytes;
	s->was_writable = true;
	/* Unique among the writers of a stream; a clock is enough without
	 * entropy (two sinks would need the same nanosecond and pid). */
	if (getrandom(&s->writer_id, sizeof(s->writer_id), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(s->writer_id))
		s->writer_id = pb_mono_ns() ^ ((uint64_t)getpid() << 40) ^ (uint64_t)time(NULL);
	atomic_store(&s->js->state, PB_JS_CONNECTING);
	if (pb_loop_add_fd(s->loop, s->results.efd, EPOLLIN, results_ready, s) < 0) {
		snprintf(err, errlen, "cannot watch the results eventfd");
		pb_js_queue_free(&s->results);
		free(s);
		return NULL;
	}
	s->maint_timer = pb_loop_add_timer(s->loop, JS_MAINT_NS, maint_tick, s);
	if (!(s->pub = js_pub_start(cfg->js, &s->results, s->js, err, errlen))) {
		js_close(&s->base);
		return NULL;
	}
	log_info("jetstream", "sink '%s': stream '%s' on %s%s, subjects %s.<node>.<source>."
	    "<epoch>", cfg->name, cfg->js->stream, cfg->js->servers[0],
	    cfg->js->nservers > 1 ? " (and more)" : "", cfg->js->subject_prefix);
	return &s->base;
}
