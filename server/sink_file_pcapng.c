/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <stdbool.h>
#include <stdio.h>
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

/*
 * The last comment whole, for a stream that only counts on: the next
 * record from the same origin over the same link, with one hop (the same
 * node, the same time: one receive batch) and no trailers, whose origin,
 * link and hop sequence numbers are each one more. Its comment is then
 * this one with three numbers counted up in place: a copy and three
 * increments instead of formatting the tail.
 */
#define NG_LAST_MAX 512u

struct ng_last {
	bool valid;
	uint32_t node, link_node, hop_node;
	uint16_t source;
	uint64_t epoch, link_epoch, hop_ts, generation;
	uint64_t seq, link_seq, hop_seq;
	size_t len;
	size_t at[3], nd[3]; /* origin, link, hop seq: offset and digits */
	char text[NG_LAST_MAX];
};

struct pb_ngorigins {
	const struct pb_srcdir *srcdir;
	struct ng_ifslot *ifs;
	size_t ifcap, nifs;
	struct ng_head heads[NG_HEADS];
	struct pb_pcapng_memo tail;
	struct ng_last last;
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

static bool
last_fits(const struct ng_last *l, const struct pb_record *rec, uint64_t gen)
{
	return rec->nhops == 1 && rec->ntrailers == 0 && rec->link_node != 0 &&
	    rec->origin_node == l->node && rec->origin_source == l->source &&
	    rec->origin_epoch == l->epoch && rec->link_node == l->link_node &&
	    rec->link_epoch == l->link_epoch && rec->hops[0].node_id == l->hop_node &&
	    rec->hops[0].ts_ns == l->hop_ts && gen == l->generation;
}

/* The n digits at p are all nines: one more has one digit more. */
static bool
all_nines(const char *p, size_t n)
{
	while (n > 0 && p[n - 1] == '9')
		n--;
	return n == 0;
}

/* Counts the digits at p (not all nines) up by one. */
static void
digits_inc(char *p, size_t n)
{
	size_t i = n;
	while (p[i - 1] == '9')
		p[--i] = '0';
	p[i - 1]++;
}

static size_t
ndigits(uint64_t v)
{
	size_t n = 1;
	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

/* buf holds rec's whole comment (n bytes): the template for the records
 * that count on from it, if it is one (see struct ng_last). */
static void
last_learn(struct ng_last *l, const char *buf, size_t n, const struct pb_record *rec,
    uint64_t gen, size_t headlen)
{
	l->valid = false;
	if (rec->nhops != 1 || rec->ntrailers != 0 || rec->link_node == 0 || n >= sizeof(l->text))
		return;
	memcpy(l->text, buf, n + 1);
	/* "<head> seq=S link=N:E:L hops=1 <node>(<name>):seq=H:ts=T trailers=[]": the
	 * head (names) comes before S, only digits and ':' between S and L,
	 * and after the last ":ts=" only the time and the empty trailers. */
	const char *hops = headlen + 5 <= n ? strstr(l->text + headlen, " hops=") : NULL;
	const char *ts = NULL;
	for (const char *q = l->text + n; q > l->text + 4; q--)
		if (memcmp(q - 4, ":ts=", 4) == 0) {
			ts = q - 4;
			break;
		}
	if (!hops || !ts || memcmp(l->text + headlen, " seq=", 5) != 0)
		return;
	uint64_t v[3] = { rec->origin_seq, rec->link_seq, rec->hops[0].seq };
	size_t end[3];
	end[0] = headlen + 5 + ndigits(v[0]);
	end[1] = (size_t)(hops - l->text);
	end[2] = (size_t)(ts - l->text);
	for (int k = 0; k < 3; k++) {
		char num[24];
		int w = snprintf(num, sizeof(num), "%llu", (unsigned long long)v[k]);
		l->nd[k] = (size_t)w;
		if (end[k] < l->nd[k] || end[k] > n)
			return;
		l->at[k] = end[k] - l->nd[k];
		if (memcmp(l->text + l->at[k], num, l->nd[k]) != 0)
			return; /* not where we think: no template */
	}
	l->node = rec->origin_node;
	l->source = rec->origin_source;
	l->epoch = rec->origin_epoch;
	l->link_node = rec->link_node;
	l->link_epoch = rec->link_epoch;
	l->hop_node = rec->hops[0].node_id;
	l->hop_ts = rec->hops[0].ts_ns;
	l->generation = gen;
	l->seq = v[0];
	l->link_seq = v[1];
	l->hop_seq = v[2];
	l->len = n;
	l->valid = true;
}

/* rec's comment from the template, when it counts on from it; 0 if not. */
static size_t
last_next(struct ng_last *l, char *buf, size_t len, const struct pb_record *rec, uint64_t gen)
{
	/* (A wrap to 0 is one more too, but not in the text.) */
	if (!l->valid || len <= l->len || !last_fits(l, rec, gen) ||
	    l->seq == UINT64_MAX || l->link_seq == UINT64_MAX || l->hop_seq == UINT64_MAX ||
	    rec->origin_seq != l->seq + 1 || rec->link_seq != l->link_seq + 1 ||
	    rec->hops[0].seq != l->hop_seq + 1)
		return 0;
	char *t = l->text;
	for (int k = 0; k < 3; k++)
		if (all_nines(t + l->at[k], l->nd[k]))
			return 0; /* one digit more: formatted anew */
	for (int k = 0; k < 3; k++)
		digits_inc(t + l->at[k], l->nd[k]);
	l->seq++;
	l->link_seq++;
	l->hop_seq++;
	memcpy(buf, t, l->len + 1);
	return l->len;
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
	size_t n = last_next(&o->last, buf, len, rec, gen);
	if (n)
		return n;
	/* Learn a template only where the last one would have fitted but for
	 * the numbers or the hop's time (a new batch): interleaved streams
	 * do not pay for one per record. */
	bool learn = !o->last.valid || (rec->origin_node == o->last.node &&
	    rec->origin_source == o->last.source && rec->origin_epoch == o->last.epoch);
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
	n = h->len +
	    pb_pcapng_comment_tail_memo(buf + h->len, len - h->len, rec, o->srcdir, &o->tail);
	if (learn && n + 1 < len)
		last_learn(&o->last, buf, n, rec, gen, h->len);
	else if (learn)
		o->last.valid = false;
	return n;
}
