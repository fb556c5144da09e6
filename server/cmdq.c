/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cmdq.h"
#include "log.h"

struct pb_cmdq {
	struct pb_loop *loop;
	int efd;
	pthread_mutex_t lock;
	struct pb_cmd *head, *tail;
	bool closed;
	pb_cmd_fn *fn;
	void *arg;
};

static void
cmdq_run(struct pb_cmdq *q)
{
	pthread_mutex_lock(&q->lock);
	struct pb_cmd *list = q->head;
	q->head = q->tail = NULL;
	pthread_mutex_unlock(&q->lock);

	while (list) {
		struct pb_cmd *next = list->next;
		list->next = NULL;
		q->fn(list, q->arg);
		list = next;
	}
}

static void
cmdq_drain(struct pb_loop *loop, int fd, uint32_t events, void *arg)
{
	uint64_t v;
	ssize_t r = read(fd, &v, sizeof(v));
	(void)r;
	cmdq_run(arg);
}

void
pb_cmdq_flush(struct pb_cmdq *q)
{
	if (q)
		cmdq_run(q);
}

struct pb_cmdq *
pb_cmdq_new(struct pb_loop *loop, pb_cmd_fn *fn, void *arg, char *err, size_t errlen)
{
	struct pb_cmdq *q = calloc(1, sizeof(*q));
	if (!q) {
		snprintf(err, errlen, "cmdq: out of memory");
		return NULL;
	}
	q->loop = loop;
	q->fn = fn;
	q->arg = arg;
	pthread_mutex_init(&q->lock, NULL);
	if ((q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
	    pb_loop_add_fd(loop, q->efd, EPOLLIN, cmdq_drain, q) < 0) {
		snprintf(err, errlen, "cmdq: %s", strerror(errno));
		if (q->efd >= 0)
			close(q->efd);
		pthread_mutex_destroy(&q->lock);
		free(q);
		return NULL;
	}
	return q;
}

void
pb_cmdq_close(struct pb_cmdq *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->closed = true;
	pthread_mutex_unlock(&q->lock);
}

void
pb_cmdq_free(struct pb_cmdq *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->closed = true;
	struct pb_cmd *list = q->head;
	q->head = q->tail = NULL;
	pthread_mutex_unlock(&q->lock);
	while (list) {
		struct pb_cmd *next = list->next;
		free(list);
		list = next;
	}
	pb_loop_del_fd(q->loop, q->efd);
	close(q->efd);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

int
pb_cmdq_push(struct pb_cmdq *q, struct pb_cmd *cmd)
{
	pthread_mutex_lock(&q->lock);
	if (q->closed) {
		pthread_mutex_unlock(&q->lock);
		free(cmd);
		return -1;
	}
	cmd->next = NULL;
	bool was_empty = q->head == NULL;
	if (q->tail)
		q->tail->next = cmd;
	else
		q->head = cmd;
	q->tail = cmd;
	pthread_mutex_unlock(&q->lock);
	/* One wakeup per burst: the engine drains the whole list. */
	if (was_empty) {
		uint64_t one = 1;
		ssize_t r = write(q->efd, &one, sizeof(one));
		(void)r;
	}
	return 0;
}
