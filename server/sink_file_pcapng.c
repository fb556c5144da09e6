/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pcap_format.h"
#include "sink_file_pcapng.h"

#define NG_IF_CAP0 16u
#define NG_HEADS 64u /* direct-mapped: a collision only costs a format */

/* (node, source, linktype) -> interface id in the open file. */
struct ng_ifslot {
	uint64_t key;
	uint32_t id; /* PB_NGIF_NONE = empty */
};

struct ng_head {
	bool valid;
	uint16_t source;
	uint32_t node;
	uint64_t epoch;
	uint64_t generation; /* of the directory when formatted */
	size_t len;
	char text[PB_PCAPNG_COMMENT_HEAD_MAX];
};

struct pb_ngorigins {
	const struct pb_srcdir *srcdir;
	struct ng_ifslot *ifs;
	size_t ifcap, nifs;
	struct ng_head heads[NG_HEADS];
	struct pb_pcapng_memo tail;
};

static uint64_t
if_key(const struct pb_record *rec)
{
	return (uint64_t)rec->origin_node << 32 | (uint64_t)rec->origin_source << 16 |
	    rec->linktype;
}

static void
if_clear(struct ng_ifslot *t, size_t cap)
{
	for (size_t i = 0; i < cap; i++)
		t[i].id = PB_NGIF_NONE;
}

static size_t
if_slot(const struct pb_ngorigins *o, uint64_t key)
{
	size_t mask = o->ifcap - 1;
	size_t i = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & mask;
	while (o->ifs[i].id != PB_NGIF_NONE && o->ifs[i].key != key)
		i = (i + 1) & mask;
	return i;
}

struct pb_ngorigins *
pb_ngorigins_new(const struct pb_srcdir *srcdir)
{
	struct pb_ngorigins *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->srcdir = srcdir;
	o->ifcap = NG_IF_CAP0;
	if (!(o->ifs = malloc(o->ifcap * sizeof(*o->ifs)))) {
		free(o);
		return NULL;
	}
	if_clear(o->ifs, o->ifcap);
	return o;
}

void
pb_ngorigins_free(struct pb_ngorigins *o)
{
	if (!o)
		return;
	free(o->ifs);
	free(o);
}

void
pb_ngorigins_new_file(struct pb_ngorigins *o)
{
	if_clear(o->ifs, o->ifcap);
	o->nifs = 0;
}

uint32_t
pb_ngorigins_if(const struct pb_ngorigins *o, const struct pb_record *rec)
{
	return o->ifs[if_slot(o, if_key(rec))].id;
}

int
pb_ngorigins_add_if(struct pb_ngorigins *o, const struct pb_record *rec, uint32_t *id)
{
	uint64_t key = if_key(rec);

	if ((o->nifs + 1) * 2 > o->ifcap) {
		struct ng_ifslot *old = o->ifs;
		size_t oldcap = o->ifcap;
		struct ng_ifslot *n = malloc(2 * oldcap * sizeof(*n));
		if (!n)
			return -1;
		o->ifs = n;
		o->ifcap = 2 * oldcap;
		if_clear(o->ifs, o->ifcap);
		for (size_t i = 0; i < oldcap; i++)
			if (old[i].id != PB_NGIF_NONE)
				o->ifs[if_slot(o, old[i].key)] = old[i];
		free(old);
	}
	size_t i = if_slot(o, key);
	o->ifs[i].key = key;
	o->ifs[i].id = *id = (uint32_t)o->nifs++;
	return 0;
}

size_t
pb_ngorigins_comment(struct pb_ngorigins *o, char *buf, size_t len,
    const struct pb_record *rec)
{
	uint64_t gen = o->srcdir ? pb_srcdir_generation(o->srcdir) : 0;
	size_t hi = (size_t)(((uint64_t)rec->origin_node * 0x9e3779b97f4a7c15ull ^
	    rec->origin_source) >> 32) % NG_HEADS;
	struct ng_head *h = &o->heads[hi];

	/* A head that might not fit: the plain path truncates it alike. */
	if (len <= PB_PCAPNG_COMMENT_HEAD_MAX)
		return pb_pcapng_comment(buf, len, rec, o->srcdir);
	if (!h->valid || h->node != rec->origin_node || h->source != rec->origin_source ||
	    h->epoch != rec->origin_epoch || h->generation != gen) {
		h->len = pb_pcapng_comment_head(h->text, sizeof(h->text), rec, o->srcdir);
		h->node = rec->origin_node;
		h->source = rec->origin_source;
		h->epoch = rec->origin_epoch;
		h->generation = gen;
		h->valid = true;
	}
	memcpy(buf, h->text, h->len);
	return h->len +
	    pb_pcapng_comment_tail_memo(buf + h->len, len - h->len, rec, o->srcdir, &o->tail);
}
