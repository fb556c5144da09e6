/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_CAPTURE_H
#define PB_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "loop.h"
#include "record.h"
#include "stats.h"

/*
 * Capture sources. A live source is a non-blocking pcap handle in the
 * engine's epoll. A file source reads (and paces) on its own thread into
 * a bounded ring that the engine drains, so the engine never waits on disk.
 *
 * The source fills data, caplen, origlen, ts_ns, linktype (a LINKTYPE_*
 * value, see linktype.h), flags, origin_source and the trailers; the
 * engine fills origin node, epoch and sequence number (per origin_source)
 * in the deliver callback.
 */

struct pb_capture;

typedef void pb_deliver_fn(void *ctx, struct pb_record *rec);
/* State changes (finished, failed) for the engine. */
typedef void pb_capture_event_fn(void *ctx, struct pb_capture *cap, int state);
/*
 * A file source met interface `ifindex` (> 0; file order, 0 is the
 * source's own env.source_id) of a pcapng file with several interfaces:
 * returns the source id its records carry, or -1 (no id left). ifname is
 * the file's if_name or "".
 */
typedef int pb_capture_if_fn(void *ctx, struct pb_capture *cap, uint32_t ifindex,
    uint16_t linktype, const char *ifname);

struct pb_capture_env {
	struct pb_loop *loop;
	uint16_t source_id;
	struct pb_source_stats *stats; /* owned by the caller */
	pb_deliver_fn *deliver;
	pb_capture_event_fn *on_state;
	pb_capture_if_fn *on_interface;
	void *ctx;
};

/* Opens and starts; on failure returns NULL with a message naming the
 * capture and the reason in err (e.g. "capture 'tap1': interface eth9: No
 * such device"). */
struct pb_capture *pb_capture_open(const struct pb_capture_cfg *cfg,
    const struct pb_capture_env *env, char *err, size_t errlen);
/* Back-pressure: a paused source delivers nothing until resumed. */
void pb_capture_pause(struct pb_capture *cap, bool paused);
/* Live: refreshes pcap_stats counters. Called from a periodic timer. */
void pb_capture_poll_stats(struct pb_capture *cap);
int pb_capture_state(const struct pb_capture *cap);
/* LINKTYPE_* of the source's frames (of its interface 0 for a file with
 * several). */
uint16_t pb_capture_linktype(const struct pb_capture *cap);
/* Stops reading; what is already in the ring is delivered first when
 * drain is true. */
void pb_capture_close(struct pb_capture *cap, bool drain);

#endif
