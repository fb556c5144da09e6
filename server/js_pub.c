/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jetstream.h"
#include "log.h"
#include "sink_jetstream_int.h"

/*
 * The jetstream sink's publisher thread: connects, checks the stream,
 * publishes asynchronously (PubAcks arrive on a libnats thread) and runs
 * the synchronous lookups of resume points. A slow server or a lookup
 * waiting for a leader election stalls this thread, never the engine.
 */

enum js_cmd_type { JS_C_PUBLISH = 1, JS_C_LOOKUP = 2, JS_C_CHAIN = 3, JS_C_PIPE = 4 };

/*
 * Per subject: the messages in flight and the one chained behind them. A
 * chained message gets its Nats-Expected-Last-Subject-Sequence from the
 * PubAck of the last one in flight, and is published from the ack handler
 * right away: a subject's round trip does not wait for the engine.
 */
#define JS_CHAIN_HASH 256u
struct js_chain {
	char subject[PB_JS_PREFIX_MAX + 64];
	unsigned inflight;       /* messages of the subject awaiting their PubAck */
	bool failed;             /* one failed: nothing chains until a fenced publish */
	uint64_t last_seq;       /* stream seq of its last PubAck */
	natsMsg *next;           /* chained, published with the PubAck */
	struct js_chain *hnext;
};

struct js_cmd {
	enum js_cmd_type type;
	natsMsg *msg;
	void *ref;
	char subject[PB_JS_PREFIX_MAX + 64];
};

struct js_pub {
	const struct pb_jetstream_cfg *cfg;
	struct pb_js_queue *results;
	struct pb_js_stats *st;
	struct pb_js_queue cmds;
	pthread_t thread;
	bool started;
	_Atomic bool stop;
	_Atomic bool closed;     /* libnats delivered its last connection callback */
	natsConnection *nc;
	jsCtx *js;
	pthread_mutex_t chain_lock;
	struct js_chain *chains[JS_CHAIN_HASH];
};

/* Caller holds chain_lock. NULL only when out of memory. */
static struct js_chain *
chain_get(struct js_pub *p, const char *subject)
{
	uint32_t h = 2166136261u;
	for (const char *c = subject; *c; c++)
		h = (h ^ (uint8_t)*c) * 16777619u;
	h %= JS_CHAIN_HASH;
	for (struct js_chain *e = p->chains[h]; e; e = e->hnext)
		if (strcmp(e->subject, subject) == 0)
			return e;
	struct js_chain *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	snprintf(e->subject, sizeof(e->subject), "%s", subject);
	e->hnext = p->chains[h];
	p->chains[h] = e;
	return e;
}

static void push_result(struct js_pub *p, struct js_result *r);

/* A publish that failed or never happened, back to the engine. */
static void
push_failed(struct js_pub *p, natsMsg *m, const char *text)
{
	struct js_result *r = calloc(1, sizeof(*r));
	if (!r) {
		natsMsg_Destroy(m);
		return;
	}
	r->type = JS_R_ACK;
	r->msg = m;
	snprintf(r->text, sizeof(r->text), "%s", text);
	push_result(p, r);
}

/* Publishes m, expected to follow stream seq `expect` on its subject. */
static void
chain_send(struct js_pub *p, natsMsg *m, uint64_t expect)
{
	char v[32];
	jsPubOptions po;
	snprintf(v, sizeof(v), "%" PRIu64, expect);
	jsPubOptions_Init(&po);
	po.MaxWait = PB_JS_WAIT_MS;
	natsStatus s = natsMsgHeader_Set(m, PB_JS_HDR_EXPECT, v);
	if (s == NATS_OK)
		s = js_PublishMsgAsync(p->js, &m, &po);
	if (s == NATS_OK)
		return;
	char text[200];
	pb_js_errtext(text, sizeof(text), s, 0, "publish");
	pthread_mutex_lock(&p->chain_lock);
	struct js_chain *e = chain_get(p, natsMsg_GetSubject(m));
	natsMsg *next = NULL;
	if (e) {
		e->inflight -= e->inflight > 0;
		e->failed = true;
		next = e->next;
		e->next = NULL;
	}
	pthread_mutex_unlock(&p->chain_lock);
	push_failed(p, m, text);
	if (next)
		push_failed(p, next, "not sent: the message before it failed");
}

static struct js_result *
result_new(enum js_result_type type)
{
	struct js_result *r = calloc(1, sizeof(*r));
	if (r)
		r->type = type;
	return r;
}

static void
push_result(struct js_pub *p, struct js_result *r)
{
	if (!r || pb_js_queue_push(p->results, r) < 0) {
		/* Nothing better to do: the batch stays in flight until close. */
		log_warnx("jetstream", "out of memory: a publish result is lost");
		if (r && r->msg)
			natsMsg_Destroy(r->msg);
		free(r);
	}
}

static void
push_state(struct js_pub *p, int state, const char *text)
{
	struct js_result *r = result_new(JS_R_STATE);
	if (!r)
		return;
	r->state = state;
	if (state == PB_JS_CONNECTED && p->nc) {
		char url[256] = "";
		r->max_payload = natsConnection_GetMaxPayload(p->nc);
		if (natsConnection_GetConnectedUrl(p->nc, url, sizeof(url)) != NATS_OK)
			url[0] = '\0';
		pb_js_stats_set_server(p->st, url);
	} else if (state == PB_JS_RECONNECTING) {
		pb_js_stats_set_server(p->st, "");
	}
	if (text)
		snprintf(r->text, sizeof(r->text), "%s", text);
	push_result(p, r);
}

/* libnats thread: a PubAck, an error reply, or a timeout. */
static void
on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *arg)
{
	struct js_pub *p = arg;
	struct js_result *r = result_new(JS_R_ACK);
	if (!r) {
		natsMsg_Destroy(msg);
		return;
	}
	r->msg = msg;
	if (pae) {
		r->errcode = (int)pae->ErrCode;
		snprintf(r->text, sizeof(r->text), "%s", pae->ErrText && *pae->ErrText ?
		    pae->ErrText : natsStatus_GetText(pae->Err));
	} else if (pa) {
		r->ok = true;
		r->duplicate = pa->Duplicate;
		r->stream_seq = pa->Sequence;
	} else {
		snprintf(r->text, sizeof(r->text), "no PubAck");
	}
	pthread_mutex_lock(&p->chain_lock);
	struct js_chain *e = chain_get(p, natsMsg_GetSubject(msg));
	natsMsg *next = NULL;
	/* A duplicate PubAck names an older message, not necessarily the
	 * subject's last: nothing chains to it (the engine reads the resume
	 * point again). A chained message waits for the last PubAck. */
	bool ok = r->ok && !r->duplicate;
	if (e) {
		e->inflight -= e->inflight > 0;
		e->failed = e->failed || !ok;
		if (ok && r->stream_seq > e->last_seq)
			e->last_seq = r->stream_seq;
		if (!e->inflight || e->failed) {
			next = e->next;
			e->next = NULL;
		}
		ok = !e->failed;
		e->inflight += next && ok;
	}
	uint64_t expect = e ? e->last_seq : r->stream_seq;
	pthread_mutex_unlock(&p->chain_lock);
	/* This result first: the engine sees a subject's results in order. */
	push_result(p, r);
	if (next && ok)
		chain_send(p, next, expect);
	else if (next)
		push_failed(p, next, "not sent: the message before it failed");
}

static void
on_disconnected(natsConnection *nc, void *arg)
{
	struct js_pub *p = arg;
	if (!atomic_load(&p->stop))
		push_state(p, PB_JS_RECONNECTING, "disconnected");
}

/* libnats calls the connection handlers on its own thread, after the fact:
 * the closed handler is the last one, so js_pub_stop frees p only after it. */
static void
on_closed(natsConnection *nc, void *arg)
{
	struct js_pub *p = arg;
	atomic_store(&p->closed, true);
}

static void
on_reconnected(natsConnection *nc, void *arg)
{
	struct js_pub *p = arg;
	push_state(p, PB_JS_CONNECTED, NULL);
}

static uint64_t
header_u64(natsMsg *m, const char *key, bool *ok)
{
	const char *v = NULL;
	char *end;
	if (natsMsgHeader_Get(m, key, &v) != NATS_OK || !v || !*v) {
		*ok = false;
		return 0;
	}
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (errno || *end)
		*ok = false;
	return (uint64_t)x;
}

/* What the subject holds, from its last message: Pb-High and Pb-Holes;
 * a message written before they existed has Pb-Last-Seq and no holes
 * (its records only grew). */
static void
lookup_parse(struct js_result *r, natsMsg *m, const char *subject)
{
	bool ok = true;
	const char *holes = NULL;
	uint64_t high = header_u64(m, PB_JS_HDR_HIGH, &ok);
	if (ok) {
		if (natsMsgHeader_Get(m, PB_JS_HDR_HOLES, &holes) != NATS_OK)
			holes = NULL;
		if (pb_js_holes_parse(&r->stored, high, holes, &r->forgotten) == 0)
			return;
		/* Unreadable holes: taking none would drop their fills, taking
		 * them all open would store twice; the high alone is the old
		 * rule (late records are duplicates), said aloud. */
		snprintf(r->text, sizeof(r->text), "the last message on %.100s has an invalid "
		    PB_JS_HDR_HOLES " header; records below origin seq %" PRIu64 " count as stored",
		    subject, high);
		r->stored.high = high;
		return;
	}
	ok = true;
	r->stored.high = header_u64(m, PB_JS_HDR_LAST, &ok);
	if (!ok) {
		/* Not ours: appending after it is all we can do. */
		r->stored.high = 0;
		snprintf(r->text, sizeof(r->text), "the last message on %.100s has no valid "
		    PB_JS_HDR_LAST " header (a foreign message?)", subject);
	}
}

static void
do_lookup(struct js_pub *p, struct js_cmd *c)
{
	struct js_result *r = result_new(JS_R_LOOKUP);
	natsMsg *m = NULL;
	jsErrCode je = 0;
	jsOptions jo;
	if (!r)
		return;
	r->ref = c->ref;
	jsOptions_Init(&jo);
	jo.Wait = PB_JS_WAIT_MS;
	natsStatus s = js_GetLastMsg(&m, p->js, p->cfg->stream, c->subject, &jo, &je);
	if (s == NATS_OK) {
		r->ok = true;
		r->found = true;
		r->subject_seq = natsMsg_GetSequence(m);
		lookup_parse(r, m, c->subject);
		natsMsg_Destroy(m);
	} else if (s == NATS_NOT_FOUND || je == JSNoMessageFoundErr) {
		r->ok = true; /* a new subject */
	} else {
		r->errcode = (int)je;
		pb_js_errtext(r->text, sizeof(r->text), s, je, "reading the resume point");
	}
	push_result(p, r);
}

/* A fenced publish: its expectation comes from the engine (the resume
 * point, or the PubAck the engine saw last); or a pipelined one, fenced by
 * the id of the one before it. */
static void
do_publish(struct js_pub *p, struct js_cmd *c)
{
	pthread_mutex_lock(&p->chain_lock);
	struct js_chain *e = chain_get(p, natsMsg_GetSubject(c->msg));
	if (e) {
		e->inflight++;
		if (c->type == JS_C_PUBLISH)
			e->failed = false;
	}
	pthread_mutex_unlock(&p->chain_lock);
	if (!e) {
		push_failed(p, c->msg, "out of memory");
		return;
	}
	jsPubOptions po;
	jsPubOptions_Init(&po);
	po.MaxWait = PB_JS_WAIT_MS;
	natsStatus s = js_PublishMsgAsync(p->js, &c->msg, &po);
	if (s == NATS_OK)
		return;
	/* Not taken: the message comes back as a failed publish. */
	char text[200];
	pb_js_errtext(text, sizeof(text), s, 0, "publish");
	pthread_mutex_lock(&p->chain_lock);
	e->inflight--;
	e->failed = true;
	pthread_mutex_unlock(&p->chain_lock);
	push_failed(p, c->msg, text);
}

/* The message after the one in flight: sent with its PubAck, now if that
 * came already, never if it failed. */
static void
do_chain(struct js_pub *p, struct js_cmd *c)
{
	pthread_mutex_lock(&p->chain_lock);
	struct js_chain *e = chain_get(p, natsMsg_GetSubject(c->msg));
	if (e && e->inflight && !e->next && !e->failed) {
		e->next = c->msg;
		pthread_mutex_unlock(&p->chain_lock);
		return;
	}
	bool go = e && !e->inflight && !e->failed;
	uint64_t expect = e ? e->last_seq : 0;
	if (go)
		e->inflight = 1;
	pthread_mutex_unlock(&p->chain_lock);
	if (go)
		chain_send(p, c->msg, expect);
	else
		push_failed(p, c->msg, "not sent: the message before it failed");
}

/* Waits up to ms for a command; NULL on timeout or stop. */
static struct js_cmd *
next_cmd(struct js_pub *p, int ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&p->cmds.lock);
	while (!p->cmds.n && !atomic_load(&p->stop))
		if (pthread_cond_timedwait(&p->cmds.cond, &p->cmds.lock, &ts) == ETIMEDOUT)
			break;
	struct js_cmd *c = pb_js_queue_pop_locked(&p->cmds);
	pthread_mutex_unlock(&p->cmds.lock);
	return c;
}

static void
sleep_ms(struct js_pub *p, int ms)
{
	for (int i = 0; i < ms / 50 && !atomic_load(&p->stop); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000000L }, NULL);
}

static void *
pub_main(void *arg)
{
	struct js_pub *p = arg;
	pthread_setname_np(pthread_self(), "pb-js-pub");
	char err[256] = "", last_err[256] = "";
	bool stream_ok = false;

	while (!atomic_load(&p->stop)) {
		if (!stream_ok) {
			if (natsConnection_Status(p->nc) != NATS_CONN_STATUS_CONNECTED) {
				sleep_ms(p, 100);
				continue;
			}
			if (pb_js_ensure_stream(p->js, p->cfg, err, sizeof(err)) < 0) {
				if (strcmp(err, last_err) != 0) {
					log_warnx("jetstream", "stream '%s': %s; retrying", p->cfg->stream, err);
					snprintf(last_err, sizeof(last_err), "%s", err);
				}
				push_state(p, PB_JS_STREAM_ERROR, err);
				sleep_ms(p, 1000);
				continue;
			}
			stream_ok = true;
			push_state(p, PB_JS_CONNECTED, NULL);
		}
		struct js_cmd *c = next_cmd(p, 200);
		if (!c)
			continue;
		if (c->type == JS_C_PUBLISH || c->type == JS_C_PIPE)
			do_publish(p, c);
		else if (c->type == JS_C_CHAIN)
			do_chain(p, c);
		else
			do_lookup(p, c);
		free(c);
	}
	return NULL;
}

struct js_pub *
js_pub_start(const struct pb_jetstream_cfg *cfg, struct pb_js_queue *results,
    struct pb_js_stats *st, char *err, size_t errlen)
{
	struct js_pub *p = calloc(1, sizeof(*p));
	if (!p || pb_js_queue_init(&p->cmds) < 0) {
		snprintf(err, errlen, "out of memory");
		free(p);
		return NULL;
	}
	pthread_mutex_init(&p->chain_lock, NULL);
	p->cfg = cfg;
	p->results = results;
	p->st = st;
	struct pb_js_conn_cbs cbs = { .disconnected = on_disconnected,
		.reconnected = on_reconnected, .closed = on_closed, .arg = p };
	natsOptions *o = pb_js_options(cfg, &cbs, err, errlen);
	if (!o)
		goto fail;
	/* With RetryOnFailedConnect an unreachable cluster is not an error:
	 * libnats keeps trying in the background. */
	natsStatus s = natsConnection_Connect(&p->nc, o);
	natsOptions_Destroy(o);
	if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
		pb_js_errtext(err, errlen, s, 0, "connect");
		goto fail;
	}
	jsOptions jo;
	jsOptions_Init(&jo);
	jo.Wait = PB_JS_WAIT_MS;
	/* Above our own window: libnats never stalls the publisher thread. */
	jo.PublishAsync.MaxPending = (int64_t)cfg->window * 2 + 64;
	jo.PublishAsync.AckHandler = on_ack;
	jo.PublishAsync.AckHandlerClosure = p;
	if ((s = natsConnection_JetStream(&p->js, p->nc, &jo)) != NATS_OK) {
		pb_js_errtext(err, errlen, s, 0, "JetStream context");
		goto fail;
	}
	if (pthread_create(&p->thread, NULL, pub_main, p) != 0) {
		snprintf(err, errlen, "cannot start the publisher thread");
		goto fail;
	}
	p->started = true;
	return p;
fail:
	js_pub_stop(p);
	return NULL;
}

static void
queue_cmd(struct js_pub *p, struct js_cmd *c)
{
	if (pb_js_queue_push(&p->cmds, c) < 0) {
		log_warnx("jetstream", "out of memory: a command is lost");
		if (c->msg)
			natsMsg_Destroy(c->msg);
		free(c);
	}
}

/* A command, or NULL after answering it with an out-of-memory result. */
static struct js_cmd *
cmd_new(struct js_pub *p, enum js_cmd_type type, natsMsg *m, void *ref)
{
	struct js_cmd *c = calloc(1, sizeof(*c));
	if (c) {
		c->type = type;
		c->msg = m;
		c->ref = ref;
		return c;
	}
	struct js_result *r = result_new(type == JS_C_LOOKUP ? JS_R_LOOKUP : JS_R_ACK);
	if (r) {
		r->msg = m;
		r->ref = ref;
		snprintf(r->text, sizeof(r->text), "out of memory");
	} else if (m) {
		natsMsg_Destroy(m);
	}
	push_result(p, r);
	return NULL;
}

void
js_pub_publish(struct js_pub *p, natsMsg *m, bool pipelined)
{
	struct js_cmd *c = cmd_new(p, pipelined ? JS_C_PIPE : JS_C_PUBLISH, m, NULL);
	if (c)
		queue_cmd(p, c);
}

void
js_pub_chain(struct js_pub *p, natsMsg *m)
{
	struct js_cmd *c = cmd_new(p, JS_C_CHAIN, m, NULL);
	if (c)
		queue_cmd(p, c);
}

void
js_pub_lookup(struct js_pub *p, void *ref, const char *subject)
{
	struct js_cmd *c = cmd_new(p, JS_C_LOOKUP, NULL, ref);
	if (!c)
		return;
	snprintf(c->subject, sizeof(c->subject), "%s", subject);
	queue_cmd(p, c);
}

void
js_pub_stop(struct js_pub *p)
{
	if (!p)
		return;
	atomic_store(&p->stop, true);
	if (p->started) {
		pthread_mutex_lock(&p->cmds.lock);
		pthread_cond_broadcast(&p->cmds.cond);
		pthread_mutex_unlock(&p->cmds.lock);
		pthread_join(p->thread, NULL);
	}
	struct js_cmd *c;
	while ((c = pb_js_queue_pop_locked(&p->cmds))) {
		if (c->msg)
			natsMsg_Destroy(c->msg);
		free(c);
	}
	/* Destroying the context fails what is still in flight, through on_ack
	 * into the results queue, which the caller drains. */
	bool closed = true;
	if (p->nc) {
		natsConnection_Close(p->nc);
		struct timespec ms = { 0, 1000000 };
		for (int i = 0; i < 5000 && !atomic_load(&p->closed); i++)
			nanosleep(&ms, NULL);
		closed = atomic_load(&p->closed);
	}
	jsCtx_Destroy(p->js);
	natsConnection_Destroy(p->nc);
	pb_js_queue_free(&p->cmds);
	for (size_t i = 0; i < JS_CHAIN_HASH; i++) {
		while (p->chains[i]) {
			struct js_chain *e = p->chains[i];
			p->chains[i] = e->hnext;
			if (e->next)
				push_failed(p, e->next, "not sent: shutting down");
			free(e);
		}
	}
	pthread_mutex_destroy(&p->chain_lock);
	/* A handler may still be due: keep p rather than let it run on freed
	 * memory (a few hundred bytes, once, at shutdown). */
	if (!closed) {
		log_warnx("jetstream", "the NATS client did not confirm the close within 5 s");
		return;
	}
	free(p);
}
