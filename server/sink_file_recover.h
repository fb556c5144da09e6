/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_SINK_FILE_RECOVER_H
#define PB_SINK_FILE_RECOVER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/*
 * Custody recovery of a pcapng file dump, at start before the dump's sink
 * is opened. The file sink acknowledges a record to its upstream node only
 * once its bytes were written to the file, and every EPB comment carries
 * "link=<node>:<epoch>:<seq>" (pcap_format.h), so the file itself is the durable
 * custody point: it survives a kill -9 of the daemon (written data is in
 * the kernel), and what was lost cannot have been acknowledged.
 *
 * pb_sink_file_recover() finds the dump's files like retention does
 * (sink_file_names.h) and scans them newest first:
 *  - A partial block at the end of a file (a write cut by the crash) is
 *    truncated away, so the file is valid again; the tail must be smaller
 *    than the largest block the sink writes, or all zero bytes (a power
 *    loss), otherwise the file is left alone (corruption somewhere in the
 *    middle: warned, the records after it are not counted, which at worst
 *    makes upstream nodes resend records: duplicates, never loss).
 *  - Every EPB comment is parsed for "origin=N(..) source=S(..) epoch=E
 *    seq=Q" and "link=L:LE:K".
 * Per upstream node L the result is its latest link epoch LE (that of its
 * last record in file order: an upstream restart starts a new epoch) and
 * the highest K of that epoch; per origin stream (N, S, E) the highest Q.
 * Scanning stops after the newest file holding at least one link= record,
 * or after PB_RECOVER_MAX_FILES files. That is enough for every link with
 * a record in that file: one link's records reach the sink in link
 * sequence order and the file sink keeps that order (rotation happens at
 * record boundaries), so a link's custody point is in the newest file
 * holding any of its records. A link whose last record is in an older
 * file is not reported: its upstream then resends what it has
 * unacknowledged (possible duplicates, never loss). Stream maxima cover
 * the scanned files only.
 *
 * Classic pcap dumps carry no metadata: nothing is scanned, the result is
 * empty and err says that custody recovery needs pcapng.
 */

#define PB_RECOVER_MAX_FILES 4

struct pb_recovery_link {
	uint32_t node;   /* upstream node (link_node) */
	uint64_t epoch;  /* its latest link epoch in the files (link_epoch) */
	uint64_t seq;    /* highest link seq of that epoch written */
};

struct pb_recovery_stream {
	uint32_t node;   /* origin node */
	uint16_t source; /* origin source */
	uint64_t epoch;  /* origin epoch */
	uint64_t seq;    /* highest origin seq written */
};

struct pb_recovery {
	size_t nlinks;
	struct pb_recovery_link *links;       /* sorted by node */
	size_t nstreams;
	struct pb_recovery_stream *streams;   /* sorted by node, source, epoch */
	/* What the scan did, for logs and tests: */
	unsigned files_scanned;
	uint64_t records;                     /* EPBs with a parsed comment */
	uint64_t bytes_truncated;
};

/*
 * Fills out (zeroed first; free it with pb_recovery_free() in any case).
 * Returns 0 — err is then "" or a note (classic pcap) — or -1 with the
 * reason in err (a file cannot be read or truncated, out of memory).
 */
int pb_sink_file_recover(const struct pb_dump_cfg *cfg, struct pb_recovery *out, char *err,
    size_t errlen);
void pb_recovery_free(struct pb_recovery *r);

/* Same, and calls each() for every record found (scan order: newest file
 * first), e.g. to rebuild which origin sequence numbers were written. */
typedef void pb_recover_record_fn(void *arg, uint32_t node, uint16_t source, uint64_t epoch,
    uint64_t seq);
int pb_sink_file_recover_each(const struct pb_dump_cfg *cfg, struct pb_recovery *out,
    pb_recover_record_fn *each, void *arg, char *err, size_t errlen);

#endif
