/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capture_int.h"
#include "clock.h"
#include "jetstream.h"
#include "js_int.h"
#include "linktype.h"
#include "log.h"
#include "wire.h"

/*
 * The jetstream source: a durable pull consumer reads the stream back. A
 * fetcher thread pulls messages into a bounded queue; the engine thread
 * decodes them and delivers their records as they were stored (origin,
 * hops, trailers untouched). A message is acknowledged once the engine's
 * custody passed its last record, so a restart re-reads only what no sink
 * had taken. Messages that are not ours are skipped, counted, and
 * acknowledged (re-reading them cannot help).
 */

#define JSC_TICK_NS (5 * PB_NSEC_PER_MSEC)
#define JSC_FETCH_WAIT_MS 500
#define JSC_ACK_WAIT_S 60
#define JSC_FETCH_BYTES (16u << 20) /* per pull; also bounds the fetched queue */
#define JSC_FLUSH_WAIT_MS 1000
#define JSC_HIST 4096u

struct jsc_pending {
	natsMsg *msg;
	uint64_t token;          /* last record's custody token, 0 = none */
};

struct jsc {
	struct pb_capture cap;   /* first: the generic capture */
	const struct pb_jetstream_cfg *cfg;
	struct pb_capture_js_env jenv;
	char prefix[PB_JS_PREFIX_MAX + 2];
	struct pb_js_queue in;   /* fetched messages, to the engine */
	struct pb_js_queue acks; /* in custody, to the fetcher */
	struct jsc_pending *pend;/* delivered, waiting for custody (engine only) */
	size_t pcap, phead, pn;
	pthread_t thread;
	bool started;
	_Atomic bool stop;
	pb_timer_id tick;
	uint64_t foreign_logged;
	uint64_t hist[JSC_HIST];  /* stream seqs delivered lately, to spot redeliveries */
	size_t hist_i;
	uint64_t redelivered;
};

static void
jsc_count_foreign(struct jsc *c, natsMsg *m, const char *why)
{
	pb_counter_add(&c->cap.env.stats->foreign, 1);
	if (c->foreign_logged++ < 5)
		log_warnx("jetstream", "capture '%s': skipping a message on '%s': %s (counted as "
		    "foreign)", c->cap.name, natsMsg_GetSubject(m), why);
}

static int
jsc_pend_push(struct jsc *c, natsMsg *m, uint64_t token)
{
	if (c->pn == c->pcap) {
		size_t cap = c->pcap ? c->pcap * 2 : 256;
		struct jsc_pending *v = malloc(cap * sizeof(*v));
		if (!v)
			return -1;
		for (size_t i = 0; i < c->pn; i++)
			v[i] = c->pend[(c->phead + i) % c->pcap];
		free(c->pend);
		c->pend = v;
		c->pcap = cap;
		c->phead = 0;
	}
	c->pend[(c->phead + c->pn++) % c->pcap] = (struct jsc_pending){ m, token };
	return 0;
}

/* Checks the whole message before delivering any of it: a bad one is
 * skipped whole. Returns the RECORD count, or -1 with *why set. */
static long
jsc_check(struct jsc *c, natsMsg *m, const char **why)
{
	const char *fmt = NULL, *cnt = NULL;
	const char *subj = natsMsg_GetSubject(m);
	if (!subj || strncmp(subj, c->prefix, strlen(c->prefix)) != 0)
		return *why = "subject outside the prefix", -1;
	if (natsMsgHeader_Get(m, PB_JS_HDR_FORMAT, &fmt) != NATS_OK || !fmt ||
	    strcmp(fmt, PB_JS_FORMAT) != 0)
		return *why = "no " PB_JS_HDR_FORMAT ": " PB_JS_FORMAT " header", -1;
	char *end;
	if (natsMsgHeader_Get(m, PB_JS_HDR_COUNT, &cnt) != NATS_OK || !cnt)
		return *why = "no " PB_JS_HDR_COUNT " header", -1;
	errno = 0;
	unsigned long want = strtoul(cnt, &end, 10);
	if (errno || *end || !*cnt)
		return *why = "bad " PB_JS_HDR_COUNT " header", -1;
	const uint8_t *p = (const uint8_t *)natsMsg_GetData(m);
	size_t len = (size_t)natsMsg_GetDataLength(m), off = 0;
	unsigned long n = 0;
	while (off < len) {
		struct pb_wire_msg w;
		size_t used = 0;
		if (pb_wire_decode(p + off, len - off, &w, &used, NULL, 0) != PB_WIRE_OK)
			return *why = "payload is not a sequence of wire messages", -1;
		if (w.type == PB_WIRE_T_RECORD)
			n++;
		else if (w.type != PB_WIRE_T_NODE && w.type != PB_WIRE_T_SOURCE)
			return *why = "unexpected wire message type in the payload", -1;
		off += used;
	}
	if (n != want)
		return *why = "record count differs from " PB_JS_HDR_COUNT, -1;
	return (long)n;
}

/* A message delivered again (its ack was late or lost) whose records
 * this node already has; a first delivery is remembered. Redeliveries
 * can come out of order (one the client dropped comes back later), so
 * this looks the sequence up instead of comparing with the highest, and
 * whatever NumDelivered says: under load a stream seq came twice with
 * NumDelivered 1 (2-3 messages a run, their records written twice). */
static bool
jsc_redelivery(struct jsc *c, natsMsg *m)
{
	jsMsgMetaData *meta = NULL;
	if (natsMsg_GetMetaData(&meta, m) != NATS_OK || !meta)
		return false;
	uint64_t seq = meta->Sequence.Stream, n = meta->NumDelivered;
	jsMsgMetaData_Destroy(meta);
	bool seen = false;
	size_t filled = c->hist_i < JSC_HIST ? c->hist_i : JSC_HIST;
	for (size_t i = 0; i < filled && !seen; i++)
		seen = c->hist[i] == seq;
	if (!seen) {
		c->hist[c->hist_i++ % JSC_HIST] = seq;
		return false;
	}
	if (c->redelivered++ < 5)
		log_info("jetstream", "capture '%s': stream seq %" PRIu64 " delivered again (%"
		    PRIu64 " times); its records are here already", c->cap.name, seq, n);
	return true;
}

static void
jsc_handle(struct jsc *c, natsMsg *m)
{
	const char *why = NULL;
	uint64_t token = 0;
	if (jsc_redelivery(c, m)) {
		/* Acknowledged again once custody passes what came before. */
		token = c->pn ? c->pend[(c->phead + c->pn - 1) % c->pcap].token : 0;
	} else if (jsc_check(c, m, &why) < 0) {
		jsc_count_foreign(c, m, why);
	} else {
		const uint8_t *p = (const uint8_t *)natsMsg_GetData(m);
		size_t len = (size_t)natsMsg_GetDataLength(m), off = 0;
		struct pb_wire_msg w;
		while (off < len) {
			size_t used = 0;
			pb_wire_decode(p + off, len - off, &w, &used, NULL, 0);
			off += used;
			if (w.type != PB_WIRE_T_RECORD) {
				if (c->jenv.learn)
					c->jenv.learn(c->cap.env.ctx, &w);
				continue;
			}
			w.record.token = 0;
			pb_counter_add(&c->cap.env.stats->packets, 1);
			pb_counter_add(&c->cap.env.stats->bytes, w.record.caplen);
			c->cap.env.deliver(c->cap.env.ctx, &w.record);
			token = w.record.token;
		}
	}
	if (jsc_pend_push(c, m, token) < 0) {
		/* Never acknowledged: redelivered after AckWait. */
		natsMsg_Destroy(m);
		pb_counter_add(&c->cap.env.stats->read_errors, 1);
	}
}

/* Engine thread: delivers what was fetched, unless paused, a bounded
 * number per call so one source cannot starve the loop. */
static void
jsc_drain(struct jsc *c)
{
	for (unsigned i = 0; i < PB_CAPTURE_BUDGET / 64 && !c->cap.paused; i++) {
		pthread_mutex_lock(&c->in.lock);
		natsMsg *m = pb_js_queue_pop_locked(&c->in);
		if (m)
			pthread_cond_broadcast(&c->in.cond);
		pthread_mutex_unlock(&c->in.lock);
		if (!m)
			return;
		jsc_handle(c, m);
	}
}

static void
jsc_ready(struct pb_loop *loop, int fd, uint32_t events, void *arg)
{
	struct jsc *c = arg;
	pb_js_queue_ack_wakeup(&c->in);
	jsc_drain(c);
}

/* Hands what is in custody to the fetcher thread for acknowledgement. */
static void
jsc_ack_custody(struct jsc *c)
{
	uint64_t custody = c->jenv.custody(c->cap.env.ctx);
	while (c->pn && c->pend[c->phead].token <= custody) {
		natsMsg *m = c->pend[c->phead].msg;
		c->phead = (c->phead + 1) % c->pcap;
		c->pn--;
		if (pb_js_queue_push(&c->acks, m) < 0)
			natsMsg_Destroy(m);
	}
}

/* Acknowledges what is in custody; delivers what a budget or a pause left. */
static int64_t
jsc_tick(struct pb_loop *loop, void *arg)
{
	struct jsc *c = arg;
	jsc_ack_custody(c);
	jsc_drain(c);
	return (int64_t)JSC_TICK_NS;
}

static void
jsc_send_acks(struct jsc *c)
{
	for (;;) {
		pthread_mutex_lock(&c->acks.lock);
		natsMsg *m = pb_js_queue_pop_locked(&c->acks);
		pthread_mutex_unlock(&c->acks.lock);
		if (!m)
			return;
		natsMsg_Ack(m, NULL);
		natsMsg_Destroy(m);
	}
}

static void
jsc_sleep(struct jsc *c, int ms)
{
	for (int i = 0; i < ms / 50 && !atomic_load(&c->stop); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000000L }, NULL);
}

/*
 * A pull that ended at its deadline may still have messages on the way: on
 * a slow link or a starved host the server keeps sending what it took from
 * the stream before the pull expired. Pulling again at once piles pull on
 * pull in the server's buffer for us until it passes max_pending (64 MB by
 * default) and the server cuts us off as a slow consumer; what was in
 * flight then comes back only after the ack wait, out of order. A PING
 * answered means everything the server sent before it is here, so at most
 * two pulls are ever in flight (one may not have expired yet on the server).
 */
static void
jsc_drain_in_flight(struct jsc *c, natsConnection *nc)
{
	while (!atomic_load(&c->stop) &&
	    natsConnection_FlushTimeout(nc, JSC_FLUSH_WAIT_MS) == NATS_TIMEOUT)
		;
}

static void *
jsc_main(void *arg)
{
	struct jsc *c = arg;
	pthread_setname_np(pthread_self(), "pb-js-fetch");
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	natsSubscription *sub = NULL;
	char err[256] = "", last[256] = "";
	natsOptions *o = pb_js_options(c->cfg, NULL, err, sizeof(err));

	if (!o || natsConnection_Connect(&nc, o) == NATS_ERR ||
	    natsConnection_JetStream(&js, nc, NULL) != NATS_OK) {
		log_warnx("jetstream", "capture '%s': %s", c->cap.name, err[0] ? err : "connect failed");
		natsOptions_Destroy(o);
		goto out;
	}
	natsOptions_Destroy(o);
	while (!atomic_load(&c->stop) && !sub) {
		jsErrCode je = 0;
		natsStatus s = NATS_NOT_YET_CONNECTED;
		if (natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED &&
		    pb_js_ensure_stream(js, c->cfg, err, sizeof(err)) == 0) {
			jsSubOptions so;
			jsSubOptions_Init(&so);
			so.Stream = c->cfg->stream;
			so.Config.AckPolicy = js_AckExplicit;
			so.Config.AckWait = (int64_t)JSC_ACK_WAIT_S * 1000000000LL;
			so.Config.MaxAckPending = 65536;
			/* The filter is the stream's whole subject space: foreign
			 * messages on other subjects are seen and counted too. */
			s = js_PullSubscribe(&sub, js, ">", c->cfg->durable, NULL, &so, &je);
			if (s != NATS_OK)
				pb_js_errtext(err, sizeof(err), s, je, "pull consumer");
		}
		if (!sub) {
			if (err[0] && strcmp(err, last) != 0) {
				log_warnx("jetstream", "capture '%s': %s; retrying", c->cap.name, err);
				snprintf(last, sizeof(last), "%s", err);
			}
			jsc_sleep(c, 500);
		}
	}
	/* Bounded by our own fetch size and queue: libnats must never drop
	 * (a dropped message comes back only after the ack wait). */
	if (sub && natsSubscription_SetPendingLimits(sub, -1, -1) != NATS_OK)
		log_warnx("jetstream", "capture '%s': cannot lift the pending limits", c->cap.name);
	if (sub)
		log_info("jetstream", "capture '%s': reading stream '%s' as consumer '%s'",
		    c->cap.name, c->cfg->stream, c->cfg->durable);
	while (!atomic_load(&c->stop)) {
		jsc_send_acks(c);
		/* Back-pressure: the engine paused us or is behind. */
		pthread_mutex_lock(&c->in.lock);
		/* 32 messages of at most max_payload (1 MiB by default). */
		bool full = c->in.n >= (size_t)c->cfg->fetch * 2 || c->in.n >= 32;
		if (full) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 50 * 1000000L;
			ts.tv_sec += ts.tv_nsec / 1000000000L;
			ts.tv_nsec %= 1000000000L;
			pthread_cond_timedwait(&c->in.cond, &c->in.lock, &ts);
		}
		pthread_mutex_unlock(&c->in.lock);
		if (full)
			continue;
		natsMsgList list = { 0 };
		jsFetchRequest fr;
		jsFetchRequest_Init(&fr);
		fr.Batch = (int)c->cfg->fetch;
		fr.MaxBytes = JSC_FETCH_BYTES;
		fr.Expires = (int64_t)JSC_FETCH_WAIT_MS * 1000000LL;
		natsStatus s = natsSubscription_FetchRequest(&list, sub, &fr);
		if (s != NATS_OK && s != NATS_TIMEOUT) {
			pb_counter_add(&c->cap.env.stats->read_errors, 1);
			jsc_sleep(c, 100);
		}
		int got = list.Count;
		for (int i = 0; i < list.Count; i++) {
			if (pb_js_queue_push(&c->in, list.Msgs[i]) < 0)
				natsMsg_Destroy(list.Msgs[i]);
			list.Msgs[i] = NULL;
		}
		natsMsgList_Destroy(&list);
		/* Not the whole batch: the pull may have ended at its deadline. */
		if ((s == NATS_OK || s == NATS_TIMEOUT) && got < (int)c->cfg->fetch)
			jsc_drain_in_flight(c, nc);
	}
	jsc_send_acks(c);
out:
	natsSubscription_Destroy(sub);
	jsCtx_Destroy(js);
	if (nc)
		natsConnection_Close(nc);
	natsConnection_Destroy(nc);
	return NULL;
}

static void
jsc_pause(struct pb_capture *cap, bool paused)
{
	struct jsc *c = (struct jsc *)cap;
	if (!paused)
		jsc_drain(c);
}

static void
jsc_poll_stats(struct pb_capture *cap)
{
}

static void
jsc_close(struct pb_capture *cap, bool drain)
{
	struct jsc *c = (struct jsc *)cap;
	/* Acknowledge what the sinks have (they closed after us: only what
	 * custody already passed), then stop. */
	if (c->tick) {
		pb_loop_del_timer(cap->env.loop, c->tick);
		jsc_ack_custody(c);
	}
	if (c->in.efd >= 0)
		pb_loop_del_fd(cap->env.loop, c->in.efd);
	atomic_store(&c->stop, true);
	if (c->started)
		pthread_join(c->thread, NULL);
	natsMsg *m;
	while ((m = pb_js_queue_pop_locked(&c->in)))
		natsMsg_Destroy(m);
	while ((m = pb_js_queue_pop_locked(&c->acks)))
		natsMsg_Destroy(m);
	for (; c->pn; c->pn--, c->phead = (c->phead + 1) % c->pcap)
		natsMsg_Destroy(c->pend[c->phead].msg);
	free(c->pend);
	pb_js_queue_free(&c->in);
	pb_js_queue_free(&c->acks);
	if (pb_counter_get(&cap->env.stats->foreign))
		log_info("jetstream", "capture '%s': %" PRIu64 " foreign message(s) skipped",
		    cap->name, pb_counter_get(&cap->env.stats->foreign));
	free(c);
}

static const struct pb_capture_ops jsc_ops = {
	.pause = jsc_pause,
	.poll_stats = jsc_poll_stats,
	.close = jsc_close,
};

struct pb_capture *
pb_capture_jetstream_open(const struct pb_capture_cfg *cfg, const struct pb_capture_env *env,
    const struct pb_capture_js_env *jenv, char *err, size_t errlen)
{
	struct jsc *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "capture '%s': out of memory", cfg->name);
		return NULL;
	}
	c->in.efd = c->acks.efd = -1;
	if (pb_js_queue_init(&c->in) < 0 || pb_js_queue_init(&c->acks) < 0) {
		snprintf(err, errlen, "capture '%s': eventfd: %s", cfg->name, strerror(errno));
		goto fail;
	}
	pb_capture_init(&c->cap, &jsc_ops, cfg, env);
	c->cap.linktype = PB_LINKTYPE_ETHERNET;
	c->cfg = cfg->js;
	c->jenv = *jenv;
	snprintf(c->prefix, sizeof(c->prefix), "%s.", cfg->js->subject_prefix);
	if (pb_loop_add_fd(env->loop, c->in.efd, EPOLLIN, jsc_ready, c) < 0) {
		snprintf(err, errlen, "capture '%s': cannot watch the eventfd", cfg->name);
		goto fail;
	}
	c->tick = pb_loop_add_timer(env->loop, JSC_TICK_NS, jsc_tick, c);
	if (pthread_create(&c->thread, NULL, jsc_main, c) != 0) {
		snprintf(err, errlen, "capture '%s': cannot start the fetcher thread", cfg->name);
		goto fail;
	}
	c->started = true;
	pb_capture_set_state(&c->cap, PB_SOURCE_RUNNING);
	return &c->cap;
fail:
	c->cap.env = *env;
	c->cap.name[0] = 0;
	jsc_close(&c->cap, false);
	return NULL;
}
