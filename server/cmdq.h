/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_CMDQ_H
#define PB_CMDQ_H

#include <stddef.h>
#include <stdint.h>

#include "loop.h"

/*
 * Commands from other threads (management, writer threads) to the engine:
 * a mutex-protected FIFO plus an eventfd in the engine's epoll. Producers
 * never wait on the engine; the engine drains the whole queue per wakeup.
 */

struct pb_cmd {
	uint32_t type;
	uint32_t flags;
	uint64_t arg;
	void *ptr;
	struct pb_cmd *next; /* queue link, owned by the queue */
};

typedef void pb_cmd_fn(struct pb_cmd *cmd, void *arg);

struct pb_cmdq;

/* fn runs on the loop thread for each command; it owns (frees) the command. */
struct pb_cmdq *pb_cmdq_new(struct pb_loop *loop, pb_cmd_fn *fn, void *arg, char *err,
    size_t errlen);
/* Refuses new commands (push returns -1); queued ones stay for flush. */
void pb_cmdq_close(struct pb_cmdq *q);
/* Runs every queued command now (shutdown: answer waiting requesters). */
void pb_cmdq_flush(struct pb_cmdq *q);
void pb_cmdq_free(struct pb_cmdq *q);
/* Any thread. Takes ownership of a malloc'ed cmd. Returns -1 if closed. */
int pb_cmdq_push(struct pb_cmdq *q, struct pb_cmd *cmd);

#endif
