/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "sink_file_space.h"

#define EXT4_MAGIC 0xEF53 /* EXT4_SUPER_MAGIC (also ext2/ext3) */

void
pb_fspace_open(struct pb_fspace *fs, int fd)
{
	struct statfs sf;

	fs->size = fs->reserved = 0;
	fs->on = fstatfs(fd, &sf) == 0 && sf.f_type == EXT4_MAGIC;
}

void
pb_fspace_reserve(struct pb_fspace *fs, int fd, uint64_t n, uint64_t limit)
{
	uint64_t need = fs->size + n;

	if (!fs->on || need <= fs->reserved)
		return;
	uint64_t end = (need + PB_FSPACE_STEP - 1) / PB_FSPACE_STEP * PB_FSPACE_STEP;
	if (limit && end > limit)
		end = need > limit ? need : limit;
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)fs->reserved,
	    (off_t)(end - fs->reserved)) < 0) {
		fs->on = false;
		return;
	}
	fs->reserved = end;
}

void
pb_fspace_wrote(struct pb_fspace *fs, uint64_t n)
{
	fs->size += n;
}

int
pb_fspace_close(struct pb_fspace *fs, int fd)
{
	int rc = 0;

	/* Also after reserving was turned off: what it reserved before. */
	if (fs->reserved > fs->size && ftruncate(fd, (off_t)fs->size) < 0)
		rc = -1;
	fs->size = fs->reserved = 0;
	fs->on = false;
	return rc;
}
