/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <string.h>

#include "tunnel_dir.h"
#include "tunnel_send.h"

int
directory_learn_node(struct pb_tunnel *t, const struct pb_node_info *n)
{
	const struct pb_node_info *cur = pb_srcdir_node(t->dir, n->node_id);
	bool known = cur != NULL;
	if (cur && strcmp(cur->name, n->name) == 0 && strcmp(cur->description, n->description) == 0)
		return 0;
	if (pb_srcdir_set_node(t->dir, n) < 0)
		return -1;
	if (!known) {
		if (add_ptr((void ***)&t->known_nodes, &t->nknown_nodes, &t->cknown_nodes,
		    (void *)(uintptr_t)n->node_id) < 0)
			return -1;
	}
	for (size_t i = 0; i < t->npeers; i++)
		sender_announce(t->peers[i]);
	return 0;
}

int
directory_learn_source(struct pb_tunnel *t, const struct pb_source_info *s)
{
	const struct pb_source_info *cur = pb_srcdir_source(t->dir, s->node_id, s->source_id);
	bool known = cur != NULL;
	if (cur && strcmp(cur->name, s->name) == 0 && strcmp(cur->description, s->description) == 0 &&
	    cur->linktype == s->linktype)
		return 0;
	if (pb_srcdir_set_source(t->dir, s) < 0)
		return -1;
	if (!known) {
		uint64_t k = (uint64_t)s->node_id << 16 | s->source_id;
		if (add_ptr((void ***)&t->known_sources, &t->nknown_sources, &t->cknown_sources,
		    (void *)(uintptr_t)k) < 0)
			return -1;
	}
	for (size_t i = 0; i < t->npeers; i++)
		sender_announce(t->peers[i]);
	return 0;
}
