/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_TUNNEL_DIR_H
#define PB_TUNNEL_DIR_H

#include "tunnel_int.h"

/*
 * The node and source directory as the tunnel sees it: names learned (ours,
 * from upstreams, from stored records) are announced to every peer, in
 * the order learned.
 */

/* Adds or updates a directory entry and announces it downstream; -1 when
 * the directory is full (limits.max_nodes / max_sources). */
int directory_learn_node(struct pb_tunnel *t, const struct pb_node_info *n);
int directory_learn_source(struct pb_tunnel *t, const struct pb_source_info *s);

#endif
