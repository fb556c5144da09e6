/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_CAPTURE_INT_H
#define PB_CAPTURE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "capture.h"
#include "config.h"
#include "record.h"

/*
 * Shared between capture_live.c (public entry points, per-record
 * processing) and capture_file.c. Not for other modules.
 */

#define PB_CAPTURE_BUDGET 4096u /* records per wakeup, so one source cannot starve the loop */

struct pb_capture_ops {
	/* Called after cap->paused changed. */
	void (*pause)(struct pb_capture *cap, bool paused);
	void (*poll_stats)(struct pb_capture *cap);
	void (*close)(struct pb_capture *cap, bool drain);
};

/* A file interface beyond the first: its own source id and link type. */
struct pb_capture_if {
	uint16_t source_id;
	uint16_t linktype;
};

struct pb_capture {
	const struct pb_capture_ops *ops;
	struct pb_capture_env env;
	char name[PB_NAME_MAX];
	struct pb_trailer_cfg trailers[PB_MAX_TRAILERS];
	size_t ntrailers;
	bool fcs;
	bool paused;
	bool oversize_logged;
	bool keep_snapped;      /* file: only caplen counts against max_frame */
	int state;              /* enum pb_source_state */
	uint16_t linktype;      /* LINKTYPE_* of interface 0 (env.source_id) */
	struct pb_capture_if *ifs; /* index = file interface; [0] unused */
	uint32_t nifs;
	uint32_t max_frame;     /* effective limit, <= PB_FRAME_CAP */
	struct pb_record rec;   /* reused for every record: no malloc per packet */
};

/* Copies what the per-record path needs from cfg; sets STARTING. */
void pb_capture_init(struct pb_capture *cap, const struct pb_capture_ops *ops,
    const struct pb_capture_cfg *cfg, const struct pb_capture_env *env);
void pb_capture_set_state(struct pb_capture *cap, int state);
/* Oversize check, trailers, stats, deliver, for interface ifindex (0 for
 * a live capture; one that pb_capture_add_if took in). data is valid
 * during the call. Oversize: caplen above max_frame, or origlen too
 * unless keep_snapped (a file's frames cut by its snaplen are carried as
 * they are). */
void pb_capture_process(struct pb_capture *cap, uint32_t ifindex, const uint8_t *data,
    uint32_t caplen, uint32_t origlen, uint64_t ts_ns);
/* Interface ifindex (> 0) of a file: asks the engine for its source id.
 * -1 with a message in err when there is none. */
int pb_capture_add_if(struct pb_capture *cap, uint32_t ifindex, uint16_t linktype,
    const char *ifname, char *err, size_t errlen);
/* The LINKTYPE_* of what libpcap calls dlt, warning once when the
 * registry has no number for it (the DLT value is carried then). */
uint16_t pb_capture_linktype_of_dlt(const char *capname, int dlt);
/* A frame above max_frame: counted, never delivered. */
void pb_capture_oversize(struct pb_capture *cap, uint32_t origlen);

struct pb_capture *pb_capture_file_open(const struct pb_capture_cfg *cfg,
    const struct pb_capture_env *env, char *err, size_t errlen);

#endif
