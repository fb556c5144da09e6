/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "resend.h"

/*
 * Byte ring layout. Not wrapped: messages fill [head, wpos). Wrapped: the
 * older ones fill [head, wrap_end), the newer ones [0, wpos) with
 * wpos <= head; [wrap_end, cap) is skipped padding. head is the oldest
 * message's offset. The explicit wrapped flag removes the full/empty
 * ambiguity of wpos == head.
 *
 * Send cursor: the first sent_n messages are fully written on this
 * connection, plus sent_off bytes of the next one.
 */

struct rs_entry {
	uint64_t seq;
	uint64_t enqueue_ns;
	size_t off;
	size_t len;
};

struct pb_resend {
	uint8_t *buf;
	size_t cap;
	struct rs_entry *e;
	size_t emax;
	size_t first;     /* slot of the oldest entry */
	size_t n;         /* entries held */
	size_t wpos;
	size_t wrap_end;
	bool wrapped;
	size_t bytes;     /* sum of held lengths */
	size_t sent_n;
	size_t sent_off;
	size_t unsent_bytes;
	uint64_t last_seq;  /* newest pushed */
	uint64_t freed_seq; /* newest freed */
	bool have_res;
	size_t res_off, res_len;
};

static inline struct rs_entry *
rs_ent(const struct pb_resend *r, size_t i)
{
	size_t k = r->first + i;

	if (k >= r->emax)
		k -= r->emax;
	return &r->e[k];
}

struct pb_resend *
pb_resend_new(size_t capacity_bytes, size_t max_entries)
{
	if (!capacity_bytes || !max_entries || max_entries > SIZE_MAX / 2 / sizeof(struct rs_entry)) {
		errno = EINVAL;
		return NULL;
	}
	struct pb_resend *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->buf = malloc(capacity_bytes);
	r->e = calloc(max_entries, sizeof(*r->e));
	if (!r->buf || !r->e) {
		pb_resend_free(r);
		errno = ENOMEM;
		return NULL;
	}
	r->cap = capacity_bytes;
	r->emax = max_entries;
	return r;
}

void
pb_resend_free(struct pb_resend *r)
{
	if (!r)
		return;
	free(r->buf);
	free(r->e);
	free(r);
}

/* Where len contiguous bytes fit, never across the end. */
static int
rs_place(const struct pb_resend *r, size_t len, size_t *off)
{
	if (len == 0 || len > r->cap) {
		errno = EMSGSIZE;
		return -1;
	}
	if (r->n == r->emax) {
		errno = ENOBUFS;
		return -1;
	}
	if (r->n == 0) {
		*off = 0;
		return 0;
	}
	size_t head = rs_ent(r, 0)->off;
	if (!r->wrapped) {
		if (r->cap - r->wpos >= len) {
			*off = r->wpos;
			return 0;
		}
		if (head >= len) {
			*off = 0;
			return 0;
		}
	} else if (head - r->wpos >= len) {
		*off = r->wpos;
		return 0;
	}
	errno = ENOBUFS;
	return -1;
}

void *
pb_resend_reserve(struct pb_resend *r, size_t max_len)
{
	size_t off;

	r->have_res = false;
	if (rs_place(r, max_len, &off) < 0)
		return NULL;
	r->have_res = true;
	r->res_off = off;
	r->res_len = max_len;
	return r->buf + off;
}

int
pb_resend_commit(struct pb_resend *r, uint64_t link_seq, uint64_t enqueue_ns, size_t len)
{
	if (!r->have_res || len == 0 || len > r->res_len || link_seq <= r->last_seq) {
		errno = EINVAL;
		return -1;
	}
	size_t off = r->res_off;
	/* Frees since the reserve only added room around it. */
	if (r->n == 0) {
		r->wrapped = false;
	} else if (off != r->wpos) {
		r->wrapped = true; /* off == 0: skipped the tail */
		r->wrap_end = r->wpos;
	}
	r->wpos = off + len;
	*rs_ent(r, r->n) = (struct rs_entry){ link_seq, enqueue_ns, off, len };
	r->n++;
	r->bytes += len;
	r->unsent_bytes += len;
	r->last_seq = link_seq;
	r->have_res = false;
	return 0;
}

int
pb_resend_push(struct pb_resend *r, uint64_t link_seq, uint64_t enqueue_ns,
    const void *msg, size_t len)
{
	if (link_seq <= r->last_seq) {
		errno = EINVAL;
		return -1;
	}
	void *p = pb_resend_reserve(r, len);
	if (!p)
		return -1;
	memcpy(p, msg, len);
	return pb_resend_commit(r, link_seq, enqueue_ns, len);
}

int
pb_resend_iov(const struct pb_resend *r, struct iovec *iov, int max_iov, size_t max_bytes)
{
	if (r->sent_n == r->n || max_iov <= 0 || max_bytes == 0)
		return 0;
	const struct rs_entry *e = rs_ent(r, r->sent_n);
	size_t p = e->off + r->sent_off;
	size_t end[2], start[2] = { p, 0 };
	int k;

	if (r->wrapped && e->off >= rs_ent(r, 0)->off) {
		end[0] = r->wrap_end; /* cursor in the older segment */
		end[1] = r->wpos;
		k = 2;
	} else {
		end[0] = r->wpos;
		k = 1;
	}
	if (k > max_iov)
		k = max_iov;
	for (int i = 0; i < k; i++) {
		size_t len = end[i] - start[i];
		if (len > max_bytes)
			len = max_bytes;
		iov[i].iov_base = r->buf + start[i];
		iov[i].iov_len = len;
		max_bytes -= len;
		if (max_bytes == 0)
			return i + 1;
	}
	return k;
}

void
pb_resend_sent(struct pb_resend *r, size_t bytes)
{
	if (bytes > r->unsent_bytes)
		bytes = r->unsent_bytes;
	r->unsent_bytes -= bytes;
	while (bytes) {
		const struct rs_entry *e = rs_ent(r, r->sent_n);
		size_t rem = e->len - r->sent_off;
		if (bytes < rem) {
			r->sent_off += bytes;
			return;
		}
		bytes -= rem;
		r->sent_n++;
		r->sent_off = 0;
	}
}

bool
pb_resend_has_unsent(const struct pb_resend *r)
{
	return r->sent_n < r->n;
}

uint64_t
pb_resend_last_sent_seq(const struct pb_resend *r)
{
	return r->sent_n ? rs_ent(r, r->sent_n - 1)->seq : r->freed_seq;
}

static void
rs_free_oldest(struct pb_resend *r)
{
	const struct rs_entry *e = rs_ent(r, 0);
	size_t off = e->off;

	r->bytes -= e->len;
	r->freed_seq = e->seq;
	if (r->sent_n > 0) {
		r->sent_n--;
	} else {
		r->unsent_bytes -= e->len - r->sent_off;
		r->sent_off = 0;
	}
	r->first = r->first + 1 == r->emax ? 0 : r->first + 1;
	r->n--;
	if (r->n == 0) {
		r->wrapped = false;
		r->wpos = 0;
	} else if (r->wrapped && rs_ent(r, 0)->off < off) {
		r->wrapped = false; /* the older segment is gone */
	}
}

size_t
pb_resend_ack(struct pb_resend *r, uint64_t link_seq)
{
	size_t k = 0;

	while (r->n && rs_ent(r, 0)->seq <= link_seq) {
		rs_free_oldest(r);
		k++;
	}
	return k;
}

void
pb_resend_rewind(struct pb_resend *r)
{
	r->sent_n = 0;
	r->sent_off = 0;
	r->unsent_bytes = r->bytes;
}

int
pb_resend_oldest(const struct pb_resend *r, uint64_t *link_seq, uint64_t *enqueue_ns,
    const void **msg, size_t *len)
{
	if (!r->n)
		return -1;
	const struct rs_entry *e = rs_ent(r, 0);
	if (link_seq)
		*link_seq = e->seq;
	if (enqueue_ns)
		*enqueue_ns = e->enqueue_ns;
	if (msg)
		*msg = r->buf + e->off;
	if (len)
		*len = e->len;
	return 0;
}

bool
pb_resend_oldest_in_flight(const struct pb_resend *r)
{
	return r->n && r->sent_n == 0 && r->sent_off > 0;
}

int
pb_resend_drop_oldest(struct pb_resend *r)
{
	if (!r->n) {
		errno = ENOENT;
		return -1;
	}
	if (pb_resend_oldest_in_flight(r)) {
		errno = EBUSY;
		return -1;
	}
	rs_free_oldest(r);
	return 0;
}

void
pb_resend_get_stats(const struct pb_resend *r, struct pb_resend_stats *st)
{
	*st = (struct pb_resend_stats){
		.capacity = r->cap,
		.max_entries = r->emax,
		.used_bytes = r->bytes,
		.entries = r->n,
		.unsent_entries = r->n - r->sent_n,
		.unsent_bytes = r->unsent_bytes,
		.newest_seq = r->last_seq,
	};
	if (r->n) {
		st->oldest_seq = rs_ent(r, 0)->seq;
		st->oldest_enqueue_ns = rs_ent(r, 0)->enqueue_ns;
	}
}
