/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_API_H
#define PB_API_H

#include <stddef.h>

#include "config.h"
#include "view.h"

/*
 * REST API (libmicrohttpd, internal epoll thread, JSON by jansson).
 * Handlers only read the view; they never call into the engine.
 */

struct pb_api;

/* Binds cfg->address:cfg->port. NULL with a message in err on failure. */
struct pb_api *pb_api_start(const struct pb_api_cfg *cfg, const struct pb_view *view,
    char *err, size_t errlen);
void pb_api_stop(struct pb_api *api);

#endif
