/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmdq.h"
#include "log.h"
#include "state_writer.h"

/*
 * One queue of pending writes (at most one per path) and one worker.
 * A job goes pending -> in progress -> completion (cmdq to the loop
 * thread). The buffer is freed before the completion is queued, so only
 * pending and in-progress jobs hold file content.
 */
struct sw_job {
	struct pb_cmd cmd; /* first: cmdq frees a leftover job through it */
	struct sw_job *next;
	char *buf;
	size_t len;
	int err;
	pb_state_done_fn *done;
	void *arg;
	char path[]; /* NUL-terminated */
};

struct pb_state_writer {
	struct pb_cmdq *cq;
	pthread_t th;
	pthread_mutex_t mtx;
	pthread_cond_t wake; /* worker: a job was queued, or stop */
	pthread_cond_t idle; /* flush: the worker finished a job */
	struct sw_job *head, *tail;
	bool busy; /* the worker holds a job */
	bool stop;
};

/* Loop thread (cmdq): the job is complete. */
static void
sw_complete(struct pb_cmd *cmd, void *arg)
{
	struct sw_job *j = (struct sw_job *)cmd;
	if (j->done)
		j->done(j->arg, j->err);
	free(j->buf);
	free(j);
}

/* Logs with errno = err, rate-limited: a failing disk repeats every write. */
static int
sw_fail(const char *path, const char *what, int err)
{
	errno = err;
	log_warn_rl("state", "%s: %s", path, what);
	return err;
}

static int
sw_write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		if (n == 0)
			return ENOSPC;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The rename is only durable once the directory entry is on disk. */
static int
sw_sync_dir(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return sw_fail(dir, "cannot open directory for fsync", errno);
	int err = 0;
	/* Some filesystems cannot sync a directory; the rename stands. */
	if (fsync(fd) < 0 && errno != EINVAL && errno != ENOTSUP)
		err = sw_fail(dir, "directory fsync", errno);
	close(fd);
	return err;
}

/* Worker: replaces j->path atomically and durably. Returns 0 or an errno. */
static int
sw_write(const struct sw_job *j)
{
	char tmp[PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s.tmp", j->path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0)
		return sw_fail(tmp, "cannot create", errno);
	int err = sw_write_all(fd, j->buf, j->len);
	if (err)
		sw_fail(tmp, "write", err);
	else if (fsync(fd) < 0)
		err = sw_fail(tmp, "fsync", errno);
	if (close(fd) < 0 && !err)
		err = sw_fail(tmp, "close", errno);
	if (!err && rename(tmp, j->path) < 0)
		err = sw_fail(j->path, "cannot rename the .tmp over it", errno);
	if (err) {
		unlink(tmp);
		return err;
	}
	return sw_sync_dir(j->path);
}

static void *
sw_main(void *arg)
{
	struct pb_state_writer *w = arg;
	pthread_setname_np(pthread_self(), "pb-state");
	pthread_mutex_lock(&w->mtx);
	for (;;) {
		while (!w->head && !w->stop)
			pthread_cond_wait(&w->wake, &w->mtx);
		struct sw_job *j = w->head;
		if (!j)
			break;
		w->head = j->next;
		if (!w->head)
			w->tail = NULL;
		w->busy = true;
		pthread_mutex_unlock(&w->mtx);

		j->err = sw_write(j);
		free(j->buf);
		j->buf = NULL;
		/* Queued before busy drops, so flush finds it in the cmdq. */
		pb_cmdq_push(w->cq, &j->cmd);

		pthread_mutex_lock(&w->mtx);
		w->busy = false;
		pthread_cond_broadcast(&w->idle);
	}
	pthread_mutex_unlock(&w->mtx);
	return NULL;
}

struct pb_state_writer *
pb_state_writer_new(struct pb_loop *loop, char *err, size_t errlen)
{
	struct pb_state_writer *w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(err, errlen, "state writer: out of memory");
		return NULL;
	}
	if (!(w->cq = pb_cmdq_new(loop, sw_complete, w, err, errlen))) {
		free(w);
		return NULL;
	}
	pthread_mutex_init(&w->mtx, NULL);
	pthread_cond_init(&w->wake, NULL);
	pthread_cond_init(&w->idle, NULL);
	int rc = pthread_create(&w->th, NULL, sw_main, w);
	if (rc != 0) {
		snprintf(err, errlen, "state writer: thread: %s", strerror(rc));
		pthread_cond_destroy(&w->idle);
		pthread_cond_destroy(&w->wake);
		pthread_mutex_destroy(&w->mtx);
		pb_cmdq_free(w->cq);
		free(w);
		return NULL;
	}
	return w;
}

/* Takes ownership of buf (also on failure). */
static int
sw_submit_owned(struct pb_state_writer *w, const char *path, char *buf, size_t len,
    pb_state_done_fn *done, void *arg)
{
	size_t plen = strlen(path);
	if (plen + sizeof(".tmp") > PATH_MAX) {
		free(buf);
		errno = ENAMETOOLONG;
		return -1;
	}
	struct sw_job *j = calloc(1, sizeof(*j) + plen + 1);
	if (!j) {
		free(buf);
		errno = ENOMEM;
		return -1;
	}
	memcpy(j->path, path, plen + 1);
	j->buf = buf;
	j->len = len;
	j->done = done;
	j->arg = arg;

	struct sw_job *old = NULL, *prev = NULL;
	pthread_mutex_lock(&w->mtx);
	for (struct sw_job *p = w->head; p; prev = p, p = p->next)
		if (strcmp(p->path, path) == 0) {
			old = p;
			break;
		}
	if (old) {
		/* Takes the older one's place: it would have been written first. */
		j->next = old->next;
		if (prev)
			prev->next = j;
		else
			w->head = j;
		if (w->tail == old)
			w->tail = j;
	} else {
		if (w->tail)
			w->tail->next = j;
		else
			w->head = j;
		w->tail = j;
		pthread_cond_signal(&w->wake);
	}
	pthread_mutex_unlock(&w->mtx);

	if (old) {
		free(old->buf);
		old->buf = NULL;
		old->next = NULL;
		old->err = PB_STATE_SUPERSEDED;
		pb_cmdq_push(w->cq, &old->cmd);
	}
	return 0;
}

int
pb_state_writer_submit(struct pb_state_writer *w, const char *path, const void *buf,
    size_t len, pb_state_done_fn *done, void *arg)
{
	char *copy = malloc(len ? len : 1);
	if (!copy) {
		errno = ENOMEM;
		return -1;
	}
	if (len)
		memcpy(copy, buf, len);
	return sw_submit_owned(w, path, copy, len, done, arg);
}

int
pb_state_writer_submit_fill(struct pb_state_writer *w, const char *path,
    int (*fill)(void *ctx, FILE *f), void *ctx, pb_state_done_fn *done, void *arg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return -1;
	int rc = fill(ctx, f);
	if (fclose(f) != 0 || rc < 0) {
		free(buf);
		log_warnx_rl("state", "%s: cannot build the content", path);
		errno = EIO;
		return -1;
	}
	return sw_submit_owned(w, path, buf, len, done, arg);
}

void
pb_state_writer_flush(struct pb_state_writer *w)
{
	if (!w)
		return;
	bool again;
	do {
		pthread_mutex_lock(&w->mtx);
		while (w->head || w->busy)
			pthread_cond_wait(&w->idle, &w->mtx);
		pthread_mutex_unlock(&w->mtx);
		pb_cmdq_flush(w->cq);
		/* A done() may have submitted again. */
		pthread_mutex_lock(&w->mtx);
		again = w->head || w->busy;
		pthread_mutex_unlock(&w->mtx);
	} while (again);
}

void
pb_state_writer_free(struct pb_state_writer *w)
{
	if (!w)
		return;
	pb_state_writer_flush(w);
	pthread_mutex_lock(&w->mtx);
	w->stop = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->mtx);
	pthread_join(w->th, NULL);
	pb_cmdq_free(w->cq);
	pthread_cond_destroy(&w->idle);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->mtx);
	free(w);
}
