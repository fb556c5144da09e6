/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_SRCDIR_H
#define PB_SRCDIR_H

#include <stddef.h>
#include <stdint.h>

/*
 * Directory of known nodes and sources: names and descriptions are announced
 * once (locally at start, by peers per connection) instead of travelling in
 * every packet. Engine thread only.
 */

struct pb_node_info {
	uint32_t node_id;
	char name[64];
	char description[256];
};

struct pb_source_info {
	uint32_t node_id;
	uint16_t source_id;
	uint16_t linktype;
	char name[64];
	char description[256];
};

struct pb_srcdir;

struct pb_srcdir *pb_srcdir_new(void);
void pb_srcdir_free(struct pb_srcdir *d);

/* Adds or updates; returns 0, or -1 on allocation failure. */
int pb_srcdir_set_node(struct pb_srcdir *d, const struct pb_node_info *n);
int pb_srcdir_set_source(struct pb_srcdir *d, const struct pb_source_info *s);

/* NULL when unknown. Pointers stay valid until pb_srcdir_free(). */
const struct pb_node_info *pb_srcdir_node(const struct pb_srcdir *d, uint32_t node_id);
const struct pb_source_info *pb_srcdir_source(const struct pb_srcdir *d, uint32_t node_id,
    uint16_t source_id);

/* Iteration in the order nodes were first set. */
size_t pb_srcdir_node_count(const struct pb_srcdir *d);
const struct pb_node_info *pb_srcdir_node_at(const struct pb_srcdir *d, size_t i);

#endif
