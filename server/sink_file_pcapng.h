/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_SINK_FILE_PCAPNG_H
#define PB_SINK_FILE_PCAPNG_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"
#include "srcdir.h"

/*
 * Per-origin pcapng state of a file sink (engine thread only):
 *  - the interface id each origin (node, source, linktype) has in the open
 *    file, which gets one IDB per origin;
 *  - each origin's comment head (pb_pcapng_comment_head), formatted once
 *    per origin, epoch and directory generation instead of per packet: the
 *    names and the 19-digit epoch are most of a small packet's cost.
 */

#define PB_NGIF_NONE UINT32_MAX

struct pb_ngorigins;

/* srcdir (may be NULL) names the origins in every comment. */
struct pb_ngorigins *pb_ngorigins_new(const struct pb_srcdir *srcdir);
void pb_ngorigins_free(struct pb_ngorigins *o);

/* A new file: no origin has an interface yet. */
void pb_ngorigins_new_file(struct pb_ngorigins *o);
/* The interface id of rec's origin in the file, or PB_NGIF_NONE. */
uint32_t pb_ngorigins_if(const struct pb_ngorigins *o, const struct pb_record *rec);
/* Gives rec's origin the file's next interface id, in *id; -1 when out
 * of memory. Once per new origin per file, never per packet. */
int pb_ngorigins_add_if(struct pb_ngorigins *o, const struct pb_record *rec, uint32_t *id);

/* pb_pcapng_comment(buf, len, rec, srcdir): the same bytes, the head from
 * the cache. */
size_t pb_ngorigins_comment(struct pb_ngorigins *o, char *buf, size_t len,
    const struct pb_record *rec);

#endif
