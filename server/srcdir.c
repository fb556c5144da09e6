/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "srcdir.h"

/*
 * Small open lists: a node directory holds tens of nodes and hundreds of
 * sources at most, looked up once per new (node, source) per output file,
 * not per packet. Entries are allocated individually so pointers stay valid.
 */
struct pb_srcdir {
	size_t nnodes, cnodes;
	struct pb_node_info **nodes;
	size_t nsources, csources;
	struct pb_source_info **sources;
};

struct pb_srcdir *
pb_srcdir_new(void)
{
	return calloc(1, sizeof(struct pb_srcdir));
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
	if (cur) {
		*cur = *n;
		return 0;
	}
	if (grow((void ***)&d->nodes, &d->cnodes, d->nnodes) < 0)
		return -1;
	if (!(cur = malloc(sizeof(*cur))))
		return -1;
	*cur = *n;
	d->nodes[d->nnodes++] = cur;
	return 0;
}

int
pb_srcdir_set_source(struct pb_srcdir *d, const struct pb_source_info *s)
{
	struct pb_source_info *cur =
	    (struct pb_source_info *)pb_srcdir_source(d, s->node_id, s->source_id);
	if (cur) {
		*cur = *s;
		return 0;
	}
	if (grow((void ***)&d->sources, &d->csources, d->nsources) < 0)
		return -1;
	if (!(cur = malloc(sizeof(*cur))))
		return -1;
	*cur = *s;
	d->sources[d->nsources++] = cur;
	return 0;
}

const struct pb_node_info *
pb_srcdir_node(const struct pb_srcdir *d, uint32_t node_id)
{
	for (size_t i = 0; i < d->nnodes; i++)
		if (d->nodes[i]->node_id == node_id)
			return d->nodes[i];
	return NULL;
}

const struct pb_source_info *
pb_srcdir_source(const struct pb_srcdir *d, uint32_t node_id, uint16_t source_id)
{
	for (size_t i = 0; i < d->nsources; i++)
		if (d->sources[i]->node_id == node_id && d->sources[i]->source_id == source_id)
			return d->sources[i];
	return NULL;
}

size_t
pb_srcdir_node_count(const struct pb_srcdir *d)
{
	return d->nnodes;
}

const struct pb_node_info *
pb_srcdir_node_at(const struct pb_srcdir *d, size_t i)
{
	return i < d->nnodes ? d->nodes[i] : NULL;
}
