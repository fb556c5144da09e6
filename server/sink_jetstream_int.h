/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_SINK_JETSTREAM_INT_H
#define PB_SINK_JETSTREAM_INT_H

/*
 * The jetstream sink's publisher thread (js_pub.c) and what it reports to
 * the engine side (sink_jetstream.c). Every libnats call of the sink
 * happens on that thread or in libnats's own threads: the engine thread
 * only builds messages (memory) and reads results from a queue that
 * wakes its loop through an eventfd.
 */

#include <nats/nats.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "js_holes.h"
#include "js_int.h"
#include "stats.h"

enum js_result_type {
	JS_R_STATE = 1,  /* connection or stream state changed */
	JS_R_ACK = 2,    /* a publish completed (PubAck or error) */
	JS_R_LOOKUP = 3, /* the last message of a subject was read */
};

struct js_result {
	enum js_result_type type;
	/* JS_R_STATE */
	int state;               /* enum pb_js_state */
	int64_t max_payload;     /* with PB_JS_CONNECTED */
	/* JS_R_ACK */
	natsMsg *msg;            /* the published message, back to its owner */
	bool ok, duplicate;
	uint64_t stream_seq;
	/* JS_R_LOOKUP */
	void *ref;
	bool found;              /* the subject has a message */
	struct pb_js_holes stored; /* its Pb-High and Pb-Holes: what the subject holds */
	uint64_t forgotten;      /* holes of it past our bound */
	uint64_t subject_seq;    /* its stream sequence */
	/* errors of any type */
	int errcode;             /* jsErrCode, 0 = none */
	char text[200];
};

struct js_pub;

/* Starts the thread; it connects (retrying forever) and checks the stream,
 * then reports JS_R_STATE. Results go to `results`. */
struct js_pub *js_pub_start(const struct pb_jetstream_cfg *cfg, struct pb_js_queue *results,
    struct pb_js_stats *st, char *err, size_t errlen);
/* Takes ownership of m; its JS_R_ACK result hands it back. Its fence
 * (Nats-Expected-Last-Subject-Sequence, or with `pipelined`
 * Nats-Expected-Last-Msg-Id naming the subject's message before it, still
 * in flight) is in m already. */
void js_pub_publish(struct js_pub *p, natsMsg *m, bool pipelined);
/* Takes ownership of m, the message behind the subject's ones in flight:
 * published as soon as their PubAcks arrived (with the last stream seq as
 * the expectation), or handed back failed when one failed. */
void js_pub_chain(struct js_pub *p, natsMsg *m);
/* Reads the last message on subject; answers JS_R_LOOKUP with ref. */
void js_pub_lookup(struct js_pub *p, void *ref, const char *subject);
/* Stops the thread and closes the connection. Results still queued stay
 * in `results` for the caller to free (natsMsg_Destroy their msg). */
void js_pub_stop(struct js_pub *p);

#endif
