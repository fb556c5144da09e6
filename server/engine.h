/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_ENGINE_H
#define PB_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "view.h"

/*
 * The forwarding engine: owns the loop, sources, sinks and the directory of
 * nodes and sources. Runs on the thread that calls pb_engine_run().
 */

struct pb_engine;

/* Opens every capture and sink. NULL with every reason in err on failure. */
struct pb_engine *pb_engine_new(const struct pb_config *cfg, char *err, size_t errlen);
/* Immutable view for management threads (valid until pb_engine_free). */
const struct pb_view *pb_engine_view(const struct pb_engine *e);
/* Runs until SIGINT/SIGTERM (graceful: sources stop, sinks flush) or
 * pb_engine_stop(). Returns 0 on a clean shutdown; non-zero with
 * exit-on-finish when a capture failed (the log names it). */
int pb_engine_run(struct pb_engine *e);
void pb_engine_stop(struct pb_engine *e);
void pb_engine_free(struct pb_engine *e);

#include <stdbool.h>
/* Stop once every source has finished or failed (file sources) and sinks
 * are flushed. */
void pb_engine_set_exit_on_finish(struct pb_engine *e, bool on);
/*
 * fn(arg) runs on the engine thread once its loop has ended, after new
 * commands are refused and queued ones answered, before anything is
 * closed or freed: management threads that read the view stop there.
 */
void pb_engine_set_stop_hook(struct pb_engine *e, void (*fn)(void *arg), void *arg);

/*
 * For tests and fuzzers that drive an engine themselves, in one process:
 * one loop iteration (waits at most timeout_ms), and a connected stream
 * socket taken as if the tunnel listener had accepted it (the engine owns
 * fd from then on; -1 when the node has no `listen`).
 */
int pb_engine_run_once(struct pb_engine *e, int timeout_ms);
int pb_engine_adopt(struct pb_engine *e, int fd, const char *peer_addr);
/* The port the tunnel listener is bound to (0 without `listen`): tests
 * listen on port 0 and dial what the kernel picked. */
uint16_t pb_engine_listen_port(const struct pb_engine *e);
#endif
