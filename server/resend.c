/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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
 *
 * Both rings have an allocated size (acap bytes, eacap slots) that doubles
 * up to the maximum (cap, emax) when a message finds no room, and drops
 * back to the first size (init_cap, init_e) when the buffer has been empty
 * and idle for PB_RESEND_TRIM_IDLE_NS (pb_resend_trim). A ring cycles
 * through all its memory however little it holds, so without this every
 * page of a large buffer is touched and stays resident; dropping it at
 * every empty moment instead cost a busy edge a fresh allocation, and a
 * page fault per 4 KiB, each time acks caught up (10 k to 48 k extra
 * faults per 2 M records, at random).
 *
 * Each ring is one reservation of its maximum size (PROT_NONE: address
 * space only, no memory, no commit charge) made usable as it grows, so
 * growing keeps every page already touched and moves at most the part of
 * a wrapped ring that must change place. A page fault costs ~10 us on the
 * virtual machines this runs on, and copying into a fresh allocation at
 * each doubling faulted in every held byte again.
 */

struct rs_entry {
	uint64_t seq;
	uint64_t enqueue_ns;
	size_t off;
	size_t len;
};

/* An address range reserved for size bytes; [0, usable) is read-write. */
struct rs_region {
	void *base;
	size_t size;   /* reserved, whole pages */
	size_t usable; /* whole pages */
};

struct pb_resend {
	uint8_t *buf;
	size_t cap, acap, init_cap;
	struct rs_entry *e;
	size_t emax, eacap, init_e;
	struct rs_region rbuf, rent;
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
	uint64_t last_push_ns; /* enqueue time of the newest message */
	size_t res_off, res_len;
};

static inline struct rs_entry *
rs_ent(const struct pb_resend *r, size_t i)
{
	size_t k = r->first + i;

	if (k >= r->eacap)
		k -= r->eacap;
	return &r->e[k];
}

struct pb_resend *
pb_resend_new(size_t capacity_bytes, size_t max_entries)
{
	return pb_resend_new_sized(capacity_bytes, max_entries, PB_RESEND_INIT_BYTES,
	    PB_RESEND_INIT_ENTRIES);
}

static size_t
clamp_init(size_t v, size_t max)
{
	return v == 0 ? 1 : v > max ? max : v;
}

static size_t
page_up(size_t v)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	return (v + pg - 1) & ~(pg - 1);
}

static int
rs_reserve(struct rs_region *g, size_t size)
{
	g->size = page_up(size);
	g->usable = 0;
	g->base = mmap(NULL, g->size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
	    -1, 0);
	if (g->base == MAP_FAILED) {
		g->base = NULL;
		return -1;
	}
	return 0;
}

/* [0, len) usable: grows the read-write part, or gives back the pages
 * above it (their contents are gone). */
static int
rs_use(struct rs_region *g, size_t len)
{
	size_t want = page_up(len);

	if (want > g->usable) {
		if (mprotect((uint8_t *)g->base + g->usable, want - g->usable,
		    PROT_READ | PROT_WRITE) < 0)
			return -1;
	} else if (want < g->usable) {
		uint8_t *p = (uint8_t *)g->base + want;
		madvise(p, g->usable - want, MADV_DONTNEED);
		mprotect(p, g->usable - want, PROT_NONE);
	}
	g->usable = want;
	return 0;
}

static void
rs_release(struct rs_region *g)
{
	if (g->base)
		munmap(g->base, g->size);
	g->base = NULL;
}

struct pb_resend *
pb_resend_new_sized(size_t capacity_bytes, size_t max_entries, size_t init_bytes,
    size_t init_entries)
{
	if (!capacity_bytes || !max_entries || max_entries > SIZE_MAX / 2 / sizeof(struct rs_entry)) {
		errno = EINVAL;
		return NULL;
	}
	struct pb_resend *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->cap = capacity_bytes;
	r->emax = max_entries;
	r->init_cap = r->acap = clamp_init(init_bytes, capacity_bytes);
	r->init_e = r->eacap = clamp_init(init_entries, max_entries);
	if (rs_reserve(&r->rbuf, r->cap) < 0 || rs_reserve(&r->rent, r->emax * sizeof(*r->e)) < 0 ||
	    rs_use(&r->rbuf, r->acap) < 0 || rs_use(&r->rent, r->eacap * sizeof(*r->e)) < 0) {
		pb_resend_free(r);
		errno = ENOMEM;
		return NULL;
	}
	r->buf = r->rbuf.base;
	r->e = r->rent.base;
	return r;
}

void
pb_resend_free(struct pb_resend *r)
{
	if (!r)
		return;
	rs_release(&r->rbuf);
	rs_release(&r->rent);
	free(r);
}

/* Where len contiguous bytes fit in the allocated ring, never across the end. */
static bool
rs_fit(const struct pb_resend *r, size_t len, size_t *off)
{
	if (len > r->acap)
		return false;
	if (r->n == 0) {
		*off = 0;
		return true;
	}
	size_t head = rs_ent(r, 0)->off;
	if (!r->wrapped) {
		if (r->acap - r->wpos >= len) {
			*off = r->wpos;
			return true;
		}
		if (head >= len) {
			*off = 0;
			return true;
		}
	} else if (head - r->wpos >= len) {
		*off = r->wpos;
		return true;
	}
	return false;
}

/* Entry slots doubled (up to emax). Only called when full: a wrapped
 * ring's older part [first, eacap) moves to the top of the new size. */
static int
rs_grow_entries(struct pb_resend *r)
{
	size_t ncap = r->eacap > r->emax / 2 ? r->emax : r->eacap * 2;
	if (rs_use(&r->rent, ncap * sizeof(*r->e)) < 0)
		return -1;
	if (r->first) {
		size_t older = r->eacap - r->first;
		memmove(r->e + ncap - older, r->e + r->first, older * sizeof(*r->e));
		r->first = ncap - older;
	}
	r->eacap = ncap;
	return 0;
}

/* Byte ring doubled (up to cap) until len fits after what is held. A
 * wrapped ring's newer segment [0, wpos) moves behind the older one when
 * it fits there, else the older one moves to the top of the new size. */
static int
rs_grow_bytes(struct pb_resend *r, size_t len)
{
	size_t head = r->n ? rs_ent(r, 0)->off : 0;
	size_t need = head + r->bytes + len, ncap = r->acap;
	do
		ncap = ncap > r->cap / 2 ? r->cap : ncap * 2;
	while (ncap < r->cap && ncap < need);
	if (rs_use(&r->rbuf, ncap) < 0)
		return -1;
	if (r->n && r->wrapped) {
		/* Entries before the first one below head are the older ones. */
		size_t k = 0, delta;
		while (k < r->n && rs_ent(r, k)->off >= head)
			k++;
		if (r->wrap_end + r->wpos <= ncap) {
			memcpy(r->buf + r->wrap_end, r->buf, r->wpos);
			for (size_t i = k; i < r->n; i++)
				rs_ent(r, i)->off += r->wrap_end;
			r->wpos += r->wrap_end;
			r->wrapped = false;
		} else {
			delta = ncap - r->wrap_end;
			memmove(r->buf + head + delta, r->buf + head, r->wrap_end - head);
			for (size_t i = 0; i < k; i++)
				rs_ent(r, i)->off += delta;
			r->wrap_end = ncap;
		}
	}
	r->acap = ncap;
	return 0;
}

/* Back to the first sizes once empty (not under a reservation, which
 * points into the ring): the pages above them are given back. */
static void
rs_shrink(struct pb_resend *r)
{
	if (r->n || r->have_res || (r->acap == r->init_cap && r->eacap == r->init_e))
		return;
	rs_use(&r->rbuf, r->init_cap);
	rs_use(&r->rent, r->init_e * sizeof(*r->e));
	r->acap = r->init_cap;
	r->eacap = r->init_e;
	r->first = 0;
}

/* Where len contiguous bytes go, growing the rings when they are full. */
static int
rs_place(struct pb_resend *r, size_t len, size_t *off)
{
	if (len == 0 || len > r->cap) {
		errno = EMSGSIZE;
		return -1;
	}
	if (r->n == r->emax || (r->n == r->eacap && rs_grow_entries(r) < 0)) {
		errno = ENOBUFS;
		return -1;
	}
	if (rs_fit(r, len, off))
		return 0;
	if (r->acap < r->cap && rs_grow_bytes(r, len) == 0 && rs_fit(r, len, off))
		return 0;
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
	r->last_push_ns = enqueue_ns;
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

size_t
pb_resend_sent_msgs(struct pb_resend *r, size_t bytes, uint64_t *done)
{
	size_t n0 = r->sent_n;

	if (bytes > r->unsent_bytes)
		bytes = r->unsent_bytes;
	r->unsent_bytes -= bytes;
	while (bytes) {
		const struct rs_entry *e = rs_ent(r, r->sent_n);
		size_t rem = e->len - r->sent_off;
		if (bytes < rem) {
			r->sent_off += bytes;
			break;
		}
		bytes -= rem;
		r->sent_n++;
		r->sent_off = 0;
	}
	*done += r->sent_n - n0;
	return r->sent_off ? rs_ent(r, r->sent_n)->len - r->sent_off : 0;
}

void
pb_resend_sent(struct pb_resend *r, size_t bytes)
{
	uint64_t done = 0;
	pb_resend_sent_msgs(r, bytes, &done);
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
	r->first = r->first + 1 == r->eacap ? 0 : r->first + 1;
	r->n--;
	if (r->n == 0) {
		r->wrapped = false;
		r->wpos = 0;
	} else if (r->wrapped && rs_ent(r, 0)->off < off) {
		r->wrapped = false; /* the older segment is gone */
	}
}

void
pb_resend_trim(struct pb_resend *r, uint64_t now_ns)
{
	if (r->n == 0 && now_ns - r->last_push_ns >= PB_RESEND_TRIM_IDLE_NS)
		rs_shrink(r);
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
		.alloc_bytes = r->acap,
		.alloc_entries = r->eacap,
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
