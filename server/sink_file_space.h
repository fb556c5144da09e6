/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_SINK_FILE_SPACE_H
#define PB_SINK_FILE_SPACE_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Disk space for the file a sink's writer thread appends to, reserved
 * ahead of the writes in PB_FSPACE_STEP steps (fallocate, KEEP_SIZE: the
 * file's size and content do not change, readers see only what was
 * written). On ext4 a write into reserved blocks skips the delayed
 * allocation bookkeeping of every page: measured here, 1 MiB writes of
 * 546 MiB took 97-111 ms of CPU without and 57-64 ms with. Only on ext4,
 * where it was measured: tmpfs got slower (201-212 -> 234-306 ms: it
 * zeroes the pages first), and copy-on-write filesystems gain nothing.
 *
 * At close the unused reservation is given back (ftruncate to the size
 * written). After a crash at most one step stays reserved past the end of
 * the last file, until the file is removed or recovery truncates it.
 * A failed reservation (ENOSPC, quota) only turns reserving off for the
 * file: the writes then fail or not on their own. Writer thread only.
 */

#define PB_FSPACE_STEP ((uint64_t)4 << 20)

struct pb_fspace {
	uint64_t size;     /* bytes written to the file */
	uint64_t reserved; /* end of the reservation */
	bool on;           /* the filesystem gains from it and it works */
};

/* A new file fd (empty, appended to). */
void pb_fspace_open(struct pb_fspace *fs, int fd);
/* Before writing n more bytes: reserves up to the next step, not past
 * limit (0 = none; the file's rotate size) unless the write itself goes
 * beyond it. */
void pb_fspace_reserve(struct pb_fspace *fs, int fd, uint64_t n, uint64_t limit);
/* n bytes were written. */
void pb_fspace_wrote(struct pb_fspace *fs, uint64_t n);
/* Before close: gives back what was reserved and not written. 0, or -1
 * with errno when ftruncate failed. */
int pb_fspace_close(struct pb_fspace *fs, int fd);

#endif
