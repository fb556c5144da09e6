/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "srcdir.h"

/*
 * Entries are allocated individually so pointers stay valid; an
 * open-addressing index (linear probing, load <= 1/2) over them makes
 * lookups O(1): peers announce nodes and sources, so a hostile one must not
 * be able to make every announcement a scan. Both tables are capped.
 */

struct dir_index {
	uint64_t *keys;  /* key + 1; 0 = empty slot */
	uint32_t *pos;   /* index into the entry array */
	size_t mask;     /* slots - 1 */
};

struct pb_srcdir {
	size_t max_nodes, max_sources;
	size_t nnodes, cnodes;
	struct pb_node_info **nodes;
	struct dir_index inodes;
	size_t nsources, csources;
	struct pb_source_info **sources;
	struct dir_index isources;
	uint64_t generation; /* bumped by every set: caches of names compare it */
};

static uint64_t
mix(uint64_t k)
{
	/* splitmix64 finaliser: node ids are often small and sequential. */
	k ^= k >> 30;
	k *= 0xbf58476d1ce4e5b9ull;
	k ^= k >> 27;
	k *= 0x94d049bb133111ebull;
	return k ^ (k >> 31);
}

static long
idx_find(const struct dir_index *ix, uint64_t key)
{
	if (!ix->keys)
		return -1;
	for (size_t i = mix(key) & ix->mask;; i = (i + 1) & ix->mask) {
		if (ix->keys[i] == 0)
			return -1;
		if (ix->keys[i] == key + 1)
			return (long)ix->pos[i];
	}
}

static void
idx_put_slot(struct dir_index *ix, uint64_t key, uint32_t pos)
{
	size_t i = mix(key) & ix->mask;
	while (ix->keys[i] != 0)
		i = (i + 1) & ix->mask;
	ix->keys[i] = key + 1;
	ix->pos[i] = pos;
}

/* Makes room for n + 1 entries at load <= 1/2. */
static int
idx_reserve(struct dir_index *ix, size_t n)
{
	size_t slots = ix->keys ? ix->mask + 1 : 0;
	if ((n + 1) * 2 <= slots)
		return 0;
	size_t ns = slots ? slots * 2 : 64;
	struct dir_index nx = { calloc(ns, sizeof(uint64_t)), calloc(ns, sizeof(uint32_t)),
		ns - 1 };
	if (!nx.keys || !nx.pos) {
		free(nx.keys);
		free(nx.pos);
		return -1;
	}
	for (size_t i = 0; i < slots; i++)
		if (ix->keys[i])
			idx_put_slot(&nx, ix->keys[i] - 1, ix->pos[i]);
	free(ix->keys);
	free(ix->pos);
	*ix = nx;
	return 0;
}

static uint64_t
source_key(uint32_t node_id, uint16_t source_id)
{
	return (uint64_t)node_id << 16 | source_id;
}

void
pb_srcdir_copy_name(char *dst, size_t dstlen, const char *src, size_t len)
{
	if (dstlen == 0)
		return;
	if (len >= dstlen) {
		len = dstlen - 1;
		/* Back over continuation bytes (10xxxxxx) to the start of the
		 * character that does not fit, and drop it. */
		while (len > 0 && ((unsigned char)src[len] & 0xc0) == 0x80)
			len--;
	}
	memcpy(dst, src, len);
	dst[len] = '\0';
}

struct pb_srcdir *
pb_srcdir_new_limited(size_t max_nodes, size_t max_sources)
{
	struct pb_srcdir *d = calloc(1, sizeof(struct pb_srcdir));
	if (!d)
		return NULL;
	d->max_nodes = max_nodes ? max_nodes : PB_SRCDIR_DEF_MAX_NODES;
	d->max_sources = max_sources ? max_sources : PB_SRCDIR_DEF_MAX_SOURCES;
	return d;
}

struct pb_srcdir *
pb_srcdir_new(void)
{
	return pb_srcdir_new_limited(0, 0);
}

void
pb_srcdir_free(struct pb_srcdir *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nnodes; i++)
		free(d->nodes[i]);
	for (size_t i = 0; i < d->nsources; i++)
		free(d->sources[i]);
	free(d->nodes);
	free(d->sources);
	free(d->inodes.keys);
	free(d->inodes.pos);
	free(d->isources.keys);
	free(d->isources.pos);
	free(d);
}

static int
grow(void ***arr, size_t *cap, size_t n)
{
	if (n < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 8;
	void **p = realloc(*arr, ncap * sizeof(*p));
	if (!p)
		return -1;
	*arr = p;
	*cap = ncap;
	return 0;
}

int
pb_srcdir_set_node(struct pb_srcdir *d, const struct pb_node_info *n)
{
	struct pb_node_info *cur = (struct pb_node_info *)pb_srcdir_node(d, n->node_id);
	d->generation++;
	if (cur) {
		*cur = *n;
		return 0;
	}
	if (d->nnodes >= d->max_nodes) {
		errno = ENOSPC;
		return -1;
	}
	if (grow((void ***)&d->nodes, &d->cnodes, d->nnodes) < 0 ||
	    idx_reserve(&d->inodes, d->nnodes) < 0)
		return -1;
	if (!(cur = malloc(sizeof(*cur))))
		return -1;
	*cur = *n;
	idx_put_slot(&d->inodes, n->node_id, (uint32_t)d->nnodes);
	d->nodes[d->nnodes++] = cur;
	return 0;
}

int
pb_srcdir_set_source(struct pb_srcdir *d, const struct pb_source_info *s)
{
	struct pb_source_info *cur =
	    (struct pb_source_info *)pb_srcdir_source(d, s->node_id, s->source_id);
	d->generation++;
	if (cur) {
		*cur = *s;
		return 0;
	}
	if (d->nsources >= d->max_sources) {
		errno = ENOSPC;
		return -1;
	}
	if (grow((void ***)&d->sources, &d->csources, d->nsources) < 0 ||
	    idx_reserve(&d->isources, d->nsources) < 0)
		return -1;
	if (!(cur = malloc(sizeof(*cur))))
		return -1;
	*cur = *s;
	idx_put_slot(&d->isources, source_key(s->node_id, s->source_id), (uint32_t)d->nsources);
	d->sources[d->nsources++] = cur;
	return 0;
}

const struct pb_node_info *
pb_srcdir_node(const struct pb_srcdir *d, uint32_t node_id)
{
	long i = idx_find(&d->inodes, node_id);
	return i < 0 ? NULL : d->nodes[i];
}

const struct pb_source_info *
pb_srcdir_source(const struct pb_srcdir *d, uint32_t node_id, uint16_t source_id)
{
	long i = idx_find(&d->isources, source_key(node_id, source_id));
	return i < 0 ? NULL : d->sources[i];
}

uint64_t
pb_srcdir_generation(const struct pb_srcdir *d)
{
	return d->generation;
}

size_t
pb_srcdir_node_count(const struct pb_srcdir *d)
{
	return d->nnodes;
}

size_t
pb_srcdir_source_count(const struct pb_srcdir *d)
{
	return d->nsources;
}

const struct pb_node_info *
pb_srcdir_node_at(const struct pb_srcdir *d, size_t i)
{
	return i < d->nnodes ? d->nodes[i] : NULL;
}
