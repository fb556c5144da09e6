/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_SRCDIR_H
#define PB_SRCDIR_H

#include <stddef.h>
#include <stdint.h>

/*
 * Directory of known nodes and sources: names and descriptions are announced
 * once (locally at start, by peers per connection) instead of travelling in
 * every packet. Lookups are O(1); both tables are capped, since peers fill
 * them. Engine thread only.
 */

#define PB_SRCDIR_DEF_MAX_NODES 1024u
#define PB_SRCDIR_DEF_MAX_SOURCES 16384u

struct pb_node_info {
	uint32_t node_id;
	uint32_t named_by;     /* node of the link that named it; 0 = this node */
	char name[64];
	char description[256];
};

struct pb_source_info {
	uint32_t node_id;
	uint32_t named_by;     /* node of the link that named it; 0 = this node */
	uint16_t source_id;
	uint16_t linktype;
	char name[64];
	char description[256];
};

struct pb_srcdir;

/* Copies a UTF-8 name announced on the wire into dst (NUL-terminated),
 * cut at a character boundary when longer than dst: a cut inside a
 * character would leave invalid UTF-8, which the wire refuses to carry. */
void pb_srcdir_copy_name(char *dst, size_t dstlen, const char *src, size_t len);

/* Caps of 0 take the defaults above. */
struct pb_srcdir *pb_srcdir_new_limited(size_t max_nodes, size_t max_sources);
struct pb_srcdir *pb_srcdir_new(void);
void pb_srcdir_free(struct pb_srcdir *d);

/* Adds or updates; returns 0, or -1 with errno ENOSPC when a new entry
 * would exceed the cap, ENOMEM on allocation failure. */
int pb_srcdir_set_node(struct pb_srcdir *d, const struct pb_node_info *n);
int pb_srcdir_set_source(struct pb_srcdir *d, const struct pb_source_info *s);

/* NULL when unknown. Pointers stay valid until pb_srcdir_free(). */
const struct pb_node_info *pb_srcdir_node(const struct pb_srcdir *d, uint32_t node_id);
const struct pb_source_info *pb_srcdir_source(const struct pb_srcdir *d, uint32_t node_id,
    uint16_t source_id);

/* Changes with every set (even one that fails): what was derived from
 * names and descriptions under an older value may be stale. */
uint64_t pb_srcdir_generation(const struct pb_srcdir *d);

/* Iteration in the order nodes were first set. */
size_t pb_srcdir_node_count(const struct pb_srcdir *d);
size_t pb_srcdir_source_count(const struct pb_srcdir *d);
const struct pb_node_info *pb_srcdir_node_at(const struct pb_srcdir *d, size_t i);

#endif
