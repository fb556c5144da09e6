/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_JETSTREAM_H
#define PB_JETSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "capture.h"
#include "config.h"
#include "sink.h"

/*
 * NATS JetStream as a store: the `jetstream` sink publishes batches of
 * wire-encoded RECORDs, the `jetstream` source reads them back. The
 * message format, subjects and headers are specified in
 * schema/jetstream.md; the names below are that specification's.
 * Built only with libnats (HAVE_LIBNATS); without it the open functions
 * fail with a message saying so.
 */

/* Headers of every message the sink publishes. */
#define PB_JS_HDR_MSG_ID "Nats-Msg-Id"       /* node/source/epoch/first-last */
#define PB_JS_HDR_EXPECT "Nats-Expected-Last-Subject-Sequence"
#define PB_JS_HDR_FORMAT "Pb-Format"         /* PB_JS_FORMAT */
#define PB_JS_HDR_ORIGIN "Pb-Origin"         /* node/source */
#define PB_JS_HDR_EPOCH "Pb-Epoch"
#define PB_JS_HDR_COUNT "Pb-Count"           /* RECORDs in the payload */
#define PB_JS_HDR_FIRST "Pb-First-Seq"       /* origin seq of the first */
#define PB_JS_HDR_LAST "Pb-Last-Seq"         /* origin seq of the last */
#define PB_JS_HDR_HIGH "Pb-High"             /* highest origin seq in the subject so far */
#define PB_JS_HDR_HOLES "Pb-Holes"           /* ranges below it not in the subject */
#define PB_JS_FORMAT "pb-wire-1"

/* "<prefix>.<node>.<source>.<epoch>": one subject per origin stream.
 * Returns the length, or 0 when it does not fit. */
size_t pb_js_subject(char *buf, size_t len, const char *prefix, uint32_t node,
    uint16_t source, uint64_t epoch);

/* The sink: a dump with a `jetstream` group. */
struct pb_sink *pb_sink_jetstream_open(const struct pb_dump_cfg *cfg,
    const struct pb_sink_env *env, char *err, size_t errlen);

/* The source: a capture with a `jetstream` group. Records keep their
 * origin, hops and trailers; env->deliver gets them with origin_node set.
 * custody(ctx) must return the engine's custody token: a message is
 * acknowledged to JetStream once every record of it is in custody. */
typedef uint64_t pb_capture_custody_fn(void *ctx);
typedef void pb_capture_name_fn(void *ctx, const void *wire_msg);
struct pb_capture_js_env {
	pb_capture_custody_fn *custody;
	/* A NODE or SOURCE message (struct pb_wire_msg) from a batch. */
	pb_capture_name_fn *learn;
};
struct pb_capture *pb_capture_jetstream_open(const struct pb_capture_cfg *cfg,
    const struct pb_capture_env *env, const struct pb_capture_js_env *jenv, char *err,
    size_t errlen);

#endif
