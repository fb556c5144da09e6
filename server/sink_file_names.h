/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_SINK_FILE_NAMES_H
#define PB_SINK_FILE_NAMES_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

/*
 * File names of a file dump, shared by the file sink (naming, retention)
 * and the custody recovery (which files to scan).
 *
 * A dump's `file` is a strftime pattern (local time). Its files are those
 * matching the pattern's glob (each conversion becomes '*'), also with a
 * "-N" collision suffix before the extension ("x.pcapng", "x-1.pcapng",
 * "x-2.pcapng"...: the sink never overwrites a file). They are ordered by
 * mtime, then by name without the suffix, then by suffix, so "x" < "x-1"
 * < "x-2" < "x-10" when mtimes are equal.
 */

/* mkdir -p; 0 or -1 (errno set). */
int pb_fnames_mkdir_p(const char *path);

/* Where "-N" goes: the offset of the extension's dot in the last path
 * component, or strlen(path) when it has none. */
size_t pb_fnames_ext_pos(const char *path);

/* strftime of the pattern at real_ns (local time); 0 or -1 (errno set). */
int pb_fnames_expand(const char *pattern, uint64_t real_ns, char *out, size_t outlen);

/* Fails early on a bad pattern or an uncreatable directory: expands the
 * pattern now, creates its directory, checks it is writable. 0, or -1
 * with a message for dump `name` in err. */
int pb_fnames_check(const char *pattern, const char *name, char *err, size_t errlen);

/* What the last pb_fnames_create() used, to skip known-taken names. */
struct pb_fnames_last {
	char base[PATH_MAX];
	unsigned suffix;
};

/*
 * Creates the file the pattern names at real_ns (O_WRONLY, mode 0644,
 * directories created). Never overwrites: O_EXCL, then "-1", "-2"...
 * before the extension. Returns the fd, or -1 (errno set). path gets the
 * name (the expanded pattern when it fails, for messages).
 */
int pb_fnames_create(const char *pattern, uint64_t real_ns, struct pb_fnames_last *last,
    char *path, size_t pathlen);

/* The pattern's glob: each conversion becomes '*', glob characters are
 * escaped. 0, or -1 when out is too small. */
int pb_fnames_glob(const char *pattern, char *out, size_t outlen);

struct pb_fnames_file {
	char *path;
	char *key;       /* path without a "-N" collision suffix */
	unsigned suffix; /* N, 0 for none */
	struct timespec mtime;
	off_t size;
	dev_t dev;
	ino_t ino;
};

struct pb_fnames_list {
	size_t n;
	struct pb_fnames_file *files; /* oldest first */
};

/* The regular files of the pattern, oldest first. 0, or -1 on a glob or
 * allocation error (list empty). No match is 0 with n == 0. */
int pb_fnames_list(const char *pattern, struct pb_fnames_list *out);
void pb_fnames_list_free(struct pb_fnames_list *l);

/* Oldest-first order of two files (qsort comparator). */
int pb_fnames_cmp(const void *a, const void *b);

/*
 * Retention: removes the oldest files of the pattern while there are more
 * than max_files, or more than max_total_bytes - reserve bytes (0 = no
 * limit). The file `keep` (dev/ino; NULL = none) is never removed. `name`
 * is for messages. Returns the number of files removed.
 */
unsigned pb_fnames_retention(const char *pattern, uint32_t max_files, uint64_t max_total_bytes,
    uint64_t reserve, const struct stat *keep, const char *name);

#endif
