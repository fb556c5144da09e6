/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_JS_INT_H
#define PB_JS_INT_H

/*
 * Shared by the jetstream sink (sink_jetstream.c, js_pub.c) and source
 * (capture_jetstream.c): connection options from the configuration, the
 * stream check, and a mutex-protected queue whose producer wakes the
 * engine loop through an eventfd. Not for other modules.
 */

#include <nats/nats.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "stats.h"

/* PubAck and lookup timeouts (ms): long enough for an R3 leader election. */
#define PB_JS_WAIT_MS 5000
#define PB_JS_CONNECT_TIMEOUT_MS 2000
#define PB_JS_RECONNECT_WAIT_MS 250

/* libnats callbacks for connection state changes, with their closure. */
struct pb_js_conn_cbs {
	natsConnectionHandler disconnected, reconnected, closed;
	void *arg;
};

/* natsOptions for cfg (servers, token or credentials, TLS, endless
 * reconnects, the first connect retried in the background). NULL with a
 * message on error. */
natsOptions *pb_js_options(const struct pb_jetstream_cfg *cfg, const struct pb_js_conn_cbs *cbs,
    char *err, size_t errlen);

/* Checks that the stream exists, creating it when cfg->create. 0, or -1
 * with a message (the caller retries). */
int pb_js_ensure_stream(jsCtx *js, const struct pb_jetstream_cfg *cfg, char *err, size_t errlen);

/* "text (status)" of a libnats error, for messages. */
void pb_js_errtext(char *buf, size_t len, natsStatus s, jsErrCode je, const char *what);

/* A FIFO of pointers filled by any thread, drained by the engine thread,
 * which the eventfd wakes. */
struct pb_js_queue {
	pthread_mutex_t lock;
	pthread_cond_t cond;   /* signalled on push and when the consumer makes room */
	void **v;
	size_t cap, head, n;
	int efd;
};
int pb_js_queue_init(struct pb_js_queue *q);
void pb_js_queue_free(struct pb_js_queue *q);
/* Push and wake the eventfd; -1 on allocation failure. */
int pb_js_queue_push(struct pb_js_queue *q, void *item);
/* Caller holds q->lock. */
void *pb_js_queue_pop_locked(struct pb_js_queue *q);
/* Drains the eventfd counter (engine thread, in its fd callback). */
void pb_js_queue_ack_wakeup(struct pb_js_queue *q);

/* Stats strings under their lock. */
void pb_js_stats_set_server(struct pb_js_stats *st, const char *url);
void pb_js_stats_set_error(struct pb_js_stats *st, const char *text);

#endif
