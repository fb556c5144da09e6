/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "sink_file_names.h"

#define FN_MAX_SUFFIX 100000u /* name collisions tried: "-1" ... */

int
pb_fnames_mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	size_t n = strnlen(path, sizeof(tmp));
	struct stat st;

	if (n >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char save = *p;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0) {
			if (errno != EEXIST || stat(tmp, &st) < 0)
				return -1;
			if (!S_ISDIR(st.st_mode)) {
				errno = ENOTDIR;
				return -1;
			}
		}
		*p = save;
		if (!save)
			return 0;
	}
}

size_t
pb_fnames_ext_pos(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	const char *dot = strrchr(base, '.');
	return dot && dot != base ? (size_t)(dot - path) : strlen(path);
}

int
pb_fnames_expand(const char *pattern, uint64_t real_ns, char *out, size_t outlen)
{
	time_t t = (time_t)(real_ns / PB_NSEC_PER_SEC);
	struct tm tm;

	if (!localtime_r(&t, &tm))
		return -1;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	size_t n = strftime(out, outlen, pattern, &tm);
#pragma GCC diagnostic pop
	if (n == 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int
pb_fnames_check(const char *pattern, const char *name, char *err, size_t errlen)
{
	char path[PATH_MAX];

	if (pb_fnames_expand(pattern, pb_real_ns(), path, sizeof(path)) < 0) {
		snprintf(err, errlen, "dump %s: file pattern \"%s\" expands to nothing or too long",
		    name, pattern);
		return -1;
	}
	char *slash = strrchr(path, '/');
	if (slash && slash != path) {
		*slash = '\0';
		if (pb_fnames_mkdir_p(path) < 0 || access(path, W_OK | X_OK) < 0) {
			snprintf(err, errlen, "dump %s: directory %s: %s", name, path,
			    strerror(errno));
			return -1;
		}
	}
	return 0;
}

int
pb_fnames_create(const char *pattern, uint64_t real_ns, struct pb_fnames_last *last,
    char *path, size_t pathlen)
{
	char base[PATH_MAX];
	unsigned i = 0;
	int fd;

	if (pb_fnames_expand(pattern, real_ns, base, sizeof(base)) < 0)
		return -1;
	snprintf(path, pathlen, "%s", base); /* for messages */
	char *slash = strrchr(base, '/');
	if (slash && slash != base) {
		*slash = '\0';
		int rc = pb_fnames_mkdir_p(base);
		*slash = '/';
		if (rc < 0)
			return -1;
	}
	/* Same name as last time (fast rotation): skip suffixes known taken. */
	if (strcmp(base, last->base) == 0)
		i = last->suffix + 1;
	size_t e = pb_fnames_ext_pos(base);
	for (;; i++) {
		if (i > FN_MAX_SUFFIX) {
			errno = EEXIST;
			return -1;
		}
		int n = i ? snprintf(path, pathlen, "%.*s-%u%s", (int)e, base, i, base + e) :
		    snprintf(path, pathlen, "%s", base);
		if (n < 0 || (size_t)n >= pathlen) {
			errno = ENAMETOOLONG;
			return -1;
		}
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0)
			break;
		if (errno != EEXIST)
			return -1;
	}
	memcpy(last->base, base, sizeof(base));
	last->suffix = i;
	return fd;
}

int
pb_fnames_glob(const char *pattern, char *out, size_t outlen)
{
	size_t o = 0;

	for (const char *p = pattern; *p; p++) {
		if (o + 3 > outlen)
			return -1;
		if (*p == '%') {
			if (p[1] == '%') {
				out[o++] = '%';
				p++;
				continue;
			}
			/* Flags, width, E/O modifier, then the conversion. */
			while (p[1] && strchr("_-0^#", p[1]))
				p++;
			while (p[1] >= '0' && p[1] <= '9')
				p++;
			if (p[1] == 'E' || p[1] == 'O')
				p++;
			if (p[1])
				p++;
			if (!o || out[o - 1] != '*')
				out[o++] = '*';
			continue;
		}
		if (strchr("*?[]\\", *p))
			out[o++] = '\\';
		out[o++] = *p;
	}
	if (o >= outlen)
		return -1;
	out[o] = '\0';
	return 0;
}

int
pb_fnames_cmp(const void *a, const void *b)
{
	const struct pb_fnames_file *x = a, *y = b;
	int c;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
	if ((c = strcmp(x->key, y->key)) != 0)
		return c;
	return x->suffix < y->suffix ? -1 : x->suffix > y->suffix;
}

/*
 * Fills f->key/suffix and tells whether path is one of ours: it matches
 * the pattern's glob after dropping a "-N" collision suffix, or as is.
 * Stripping first keeps "x" < "x-1" < "x-2" even when '*' would also
 * swallow the suffix.
 */
static bool
fn_is_ours(const char *gpat, const char *path, struct pb_fnames_file *f)
{
	size_t e = pb_fnames_ext_pos(path), d, n = strlen(path);

	f->suffix = 0;
	if (!(f->key = strdup(path)))
		return false;
	for (d = e; d > 0 && path[d - 1] >= '0' && path[d - 1] <= '9'; d--)
		;
	if (d < e && d >= 2 && path[d - 1] == '-' && e - d <= 9) {
		memmove(f->key + d - 1, path + e, n - e + 1);
		if (fnmatch(gpat, f->key, FNM_PATHNAME | FNM_PERIOD) == 0) {
			f->suffix = (unsigned)strtoul(path + d, NULL, 10);
			return true;
		}
		memcpy(f->key, path, n + 1);
	}
	return fnmatch(gpat, path, FNM_PATHNAME | FNM_PERIOD) == 0;
}

void
pb_fnames_list_free(struct pb_fnames_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->files[i].path);
		free(l->files[i].key);
	}
	free(l->files);
	l->files = NULL;
	l->n = 0;
}

int
pb_fnames_list(const char *pattern, struct pb_fnames_list *out)
{
	char gpat[PATH_MAX], wide[PATH_MAX + 2];
	glob_t g;
	int rc;

	out->n = 0;
	out->files = NULL;
	if (pb_fnames_glob(pattern, gpat, sizeof(gpat)) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* Also catch the "-N" collision names. */
	size_t e = pb_fnames_ext_pos(gpat);
	snprintf(wide, sizeof(wide), "%.*s*%s", (int)e, gpat, gpat + e);
	if ((rc = glob(wide, GLOB_NOSORT, NULL, &g)) != 0) {
		if (rc == GLOB_NOMATCH)
			return 0;
		errno = rc == GLOB_NOSPACE ? ENOMEM : EIO;
		return -1;
	}
	if (g.gl_pathc && !(out->files = calloc(g.gl_pathc, sizeof(*out->files)))) {
		globfree(&g);
		errno = ENOMEM;
		return -1;
	}
	for (size_t i = 0; i < g.gl_pathc; i++) {
		struct pb_fnames_file *f = &out->files[out->n];
		struct stat st;
		bool ours = fn_is_ours(gpat, g.gl_pathv[i], f);
		if (!ours || lstat(g.gl_pathv[i], &st) < 0 || !S_ISREG(st.st_mode) ||
		    !(f->path = strdup(g.gl_pathv[i]))) {
			free(f->key);
			f->key = NULL;
			continue;
		}
		f->mtime = st.st_mtim;
		f->size = st.st_size;
		f->dev = st.st_dev;
		f->ino = st.st_ino;
		out->n++;
	}
	globfree(&g);
	qsort(out->files, out->n, sizeof(*out->files), pb_fnames_cmp);
	return 0;
}

unsigned
pb_fnames_retention(const char *pattern, uint32_t max_files, uint64_t max_total_bytes,
    uint64_t reserve, const struct stat *keep, const char *name)
{
	struct pb_fnames_list l;
	uint64_t total = 0;
	unsigned removed = 0;

	if (!max_files && !max_total_bytes)
		return 0;
	if (pb_fnames_list(pattern, &l) < 0) {
		log_warn("dump", "%s: retention: cannot list files", name);
		return 0;
	}
	for (size_t i = 0; i < l.n; i++)
		total += (uint64_t)l.files[i].size;
	size_t count = l.n;
	/* The new file will grow up to `reserve`: make room for it now so
	 * the total stays under the limit at all times. */
	for (size_t i = 0; i < l.n; i++) {
		const struct pb_fnames_file *f = &l.files[i];
		if (!((max_files && count > max_files) ||
		    (max_total_bytes && total + reserve > max_total_bytes)))
			break;
		if (keep && f->dev == keep->st_dev && f->ino == keep->st_ino)
			continue;
		if (unlink(f->path) < 0) {
			log_warn("dump", "%s: retention: cannot remove %s", name, f->path);
			continue;
		}
		log_debug("dump", "%s: retention: removed %s", name, f->path);
		count--;
		total -= (uint64_t)f->size;
		removed++;
	}
	pb_fnames_list_free(&l);
	return removed;
}
