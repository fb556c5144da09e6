/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <cmocka.h>

#include "resend.h"

/*
 * Resend buffer tests. Random inputs come from a fixed-seed xorshift so a
 * failure is reproducible; the seed is printed.
 */

#define TEST_RNG_SEED 0x853c49e6748fea9bull
#include "rng_test.h"

/* Message bytes derived from (seq, index): any mix-up shows. */
static uint8_t
pat(uint64_t seq, size_t i)
{
	return (uint8_t)(seq * 131 + i * 7 + (i >> 8));
}

static void
fill(uint8_t *p, uint64_t seq, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pat(seq, i);
}

static int
push(struct pb_resend *r, uint64_t seq, size_t len)
{
	uint8_t buf[4096];
	assert_true(len <= sizeof(buf));
	fill(buf, seq, len);
	return pb_resend_push(r, seq, seq * 1000, buf, len);
}

/* Gathers the iovecs into out; returns the byte count. */
static size_t
gather(const struct iovec *iov, int n, uint8_t *out)
{
	size_t k = 0;
	for (int i = 0; i < n; i++) {
		memcpy(out + k, iov[i].iov_base, iov[i].iov_len);
		k += iov[i].iov_len;
	}
	return k;
}

/* Checks that b holds messages [first, last] (lengths from lens[seq]) from byte skip. */
static void
check_stream(const uint8_t *b, size_t n, uint64_t first, uint64_t last, const size_t *lens,
    size_t skip)
{
	size_t k = 0;
	for (uint64_t s = first; s <= last; s++) {
		for (size_t i = s == first ? skip : 0; i < lens[s]; i++, k++) {
			assert_true(k < n);
			if (b[k] != pat(s, i))
				fail_msg("byte %zu: seq %llu offset %zu", k, (unsigned long long)s, i);
		}
	}
	assert_int_equal(k, n);
}

static struct pb_resend_stats
stats(const struct pb_resend *r)
{
	struct pb_resend_stats st;
	pb_resend_get_stats(r, &st);
	return st;
}

static void
test_basic(void **state)
{
	(void)state;
	struct pb_resend *r = pb_resend_new(1000, 16);
	struct iovec iov[4];
	uint8_t out[1000];
	size_t lens[8] = { 0, 10, 20, 30 };

	assert_non_null(r);
	assert_int_equal(pb_resend_iov(r, iov, 4, SIZE_MAX), 0);
	assert_false(pb_resend_has_unsent(r));
	assert_int_equal(pb_resend_last_sent_seq(r), 0);
	for (uint64_t s = 1; s <= 3; s++)
		assert_int_equal(push(r, s, lens[s]), 0);
	struct pb_resend_stats st = stats(r);
	assert_int_equal(st.capacity, 1000);
	assert_int_equal(st.max_entries, 16);
	assert_int_equal(st.used_bytes, 60);
	assert_int_equal(st.entries, 3);
	assert_int_equal(st.unsent_entries, 3);
	assert_int_equal(st.unsent_bytes, 60);
	assert_int_equal(st.oldest_seq, 1);
	assert_int_equal(st.newest_seq, 3);
	assert_int_equal(st.oldest_enqueue_ns, 1000);

	/* One region covering all three messages. */
	int n = pb_resend_iov(r, iov, 4, SIZE_MAX);
	assert_int_equal(n, 1);
	check_stream(out, gather(iov, n, out), 1, 3, lens, 0);
	/* Partial write: 15 bytes = message 1 and half of 2. */
	pb_resend_sent(r, 15);
	assert_int_equal(pb_resend_last_sent_seq(r), 1);
	n = pb_resend_iov(r, iov, 4, SIZE_MAX);
	check_stream(out, gather(iov, n, out), 2, 3, lens, 5);
	st = stats(r);
	assert_int_equal(st.unsent_entries, 2);
	assert_int_equal(st.unsent_bytes, 45);
	/* max_bytes caps the iovecs. */
	n = pb_resend_iov(r, iov, 4, 7);
	assert_int_equal(n, 1);
	assert_int_equal(iov[0].iov_len, 7);
	pb_resend_sent(r, 45);
	assert_int_equal(pb_resend_last_sent_seq(r), 3);
	assert_false(pb_resend_has_unsent(r));
	assert_int_equal(pb_resend_iov(r, iov, 4, SIZE_MAX), 0);

	assert_int_equal(pb_resend_ack(r, 0), 0);
	assert_int_equal(pb_resend_ack(r, 2), 2);
	assert_int_equal(pb_resend_ack(r, 2), 0);
	st = stats(r);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.used_bytes, 30);
	assert_int_equal(st.oldest_seq, 3);
	assert_int_equal(pb_resend_ack(r, 100), 1);
	st = stats(r);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.used_bytes, 0);
	assert_int_equal(st.oldest_seq, 0);
	assert_int_equal(st.oldest_enqueue_ns, 0);
	assert_int_equal(st.newest_seq, 3);
	assert_int_equal(pb_resend_last_sent_seq(r), 3);
	assert_int_equal(pb_resend_oldest(r, NULL, NULL, NULL, NULL), -1);
	pb_resend_free(r);
	pb_resend_free(NULL);
}

static void
test_errors(void **state)
{
	(void)state;
	struct pb_resend *r = pb_resend_new(100, 3);

	assert_null(pb_resend_new(0, 3));
	assert_null(pb_resend_new(100, 0));
	errno = 0;
	assert_int_equal(push(r, 1, 0), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(push(r, 1, 101), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(push(r, 0, 10), -1); /* seqs start at 1 */
	assert_int_equal(errno, EINVAL);
	assert_int_equal(push(r, 5, 100), 0); /* exactly the capacity */
	assert_int_equal(push(r, 6, 1), -1);
	assert_int_equal(errno, ENOBUFS);
	assert_int_equal(pb_resend_ack(r, 5), 1);
	assert_int_equal(push(r, 5, 10), -1); /* not increasing, even when empty */
	assert_int_equal(errno, EINVAL);
	assert_int_equal(push(r, 4, 10), -1);
	assert_int_equal(errno, EINVAL);
	/* Entry limit. */
	assert_int_equal(push(r, 6, 10), 0);
	assert_int_equal(push(r, 7, 10), 0);
	assert_int_equal(push(r, 9, 10), 0); /* gaps in seqs are fine */
	assert_int_equal(push(r, 10, 10), -1);
	assert_int_equal(errno, ENOBUFS);
	assert_int_equal(stats(r).entries, 3);
	assert_int_equal(pb_resend_ack(r, 8), 2);
	assert_int_equal(push(r, 10, 10), 0);
	pb_resend_free(r);
}

static void
test_wrap(void **state)
{
	(void)state;
	struct pb_resend *r = pb_resend_new(100, 16);
	struct iovec iov[4];
	uint8_t out[200];
	size_t lens[16] = { 0, 30, 30, 30, 30, 25, 20 };

	for (uint64_t s = 1; s <= 3; s++)
		assert_int_equal(push(r, s, 30), 0); /* [0,90) */
	assert_int_equal(push(r, 4, 30), -1);        /* 10 at the end, 0 at the start */
	pb_resend_sent(r, 30);
	assert_int_equal(pb_resend_ack(r, 1), 1);   /* [30,90) held */
	assert_int_equal(push(r, 4, 30), 0);         /* skips [90,100), goes to [0,30) */
	assert_int_equal(push(r, 5, 1), -1);         /* full: wpos == head */
	assert_int_equal(errno, ENOBUFS);
	/* Unsent 2, 3 | 4: two regions, in order. */
	int n = pb_resend_iov(r, iov, 4, SIZE_MAX);
	assert_int_equal(n, 2);
	assert_int_equal(iov[0].iov_len, 60);
	assert_int_equal(iov[1].iov_len, 30);
	check_stream(out, gather(iov, n, out), 2, 4, lens, 0);
	/* max_iov 1: only the first region. */
	assert_int_equal(pb_resend_iov(r, iov, 1, SIZE_MAX), 1);
	assert_int_equal(iov[0].iov_len, 60);
	/* max_bytes inside the second region. */
	n = pb_resend_iov(r, iov, 4, 70);
	assert_int_equal(n, 2);
	assert_int_equal(iov[1].iov_len, 10);
	/* Partial send through the wrap point. */
	pb_resend_sent(r, 65);
	assert_int_equal(pb_resend_last_sent_seq(r), 3);
	n = pb_resend_iov(r, iov, 4, SIZE_MAX);
	assert_int_equal(n, 1);
	check_stream(out, gather(iov, n, out), 4, 4, lens, 5);
	/* Acking the older segment unwraps; space frees behind. */
	assert_int_equal(pb_resend_ack(r, 3), 2);
	assert_int_equal(push(r, 5, 25), 0); /* [30,55) */
	assert_int_equal(push(r, 6, 20), 0); /* [55,75) */
	n = pb_resend_iov(r, iov, 4, SIZE_MAX);
	assert_int_equal(n, 1);
	check_stream(out, gather(iov, n, out), 4, 6, lens, 5);
	assert_int_equal(stats(r).unsent_bytes, 25 + 25 + 20);
	/* Rewind: all held messages again, from the oldest. */
	pb_resend_rewind(r);
	assert_int_equal(pb_resend_last_sent_seq(r), 3);
	n = pb_resend_iov(r, iov, 4, SIZE_MAX);
	check_stream(out, gather(iov, n, out), 4, 6, lens, 0);
	assert_int_equal(stats(r).unsent_bytes, 75);
	assert_int_equal(stats(r).unsent_entries, 3);
	pb_resend_free(r);
}

static void
test_ack_beyond_cursor(void **state)
{
	(void)state;
	struct pb_resend *r = pb_resend_new(1000, 16);
	struct iovec iov[2];
	uint8_t out[1000];
	size_t lens[16];

	for (uint64_t s = 1; s <= 10; s++) {
		lens[s] = 10 + s;
		assert_int_equal(push(r, s, lens[s]), 0);
	}
	pb_resend_sent(r, 11 + 12 + 5); /* 1, 2 and part of 3 */
	/* Connection lost; the peer says it holds up to 6. */
	assert_int_equal(pb_resend_ack(r, 6), 6);
	pb_resend_rewind(r);
	assert_int_equal(pb_resend_last_sent_seq(r), 6);
	struct pb_resend_stats st = stats(r);
	assert_int_equal(st.entries, 4);
	assert_int_equal(st.unsent_entries, 4);
	assert_int_equal(st.unsent_bytes, 17 + 18 + 19 + 20);
	int n = pb_resend_iov(r, iov, 2, SIZE_MAX);
	check_stream(out, gather(iov, n, out), 7, 10, lens, 0);
	/* Ack past an untouched cursor (no rewind needed): cursor follows. */
	assert_int_equal(pb_resend_ack(r, 8), 2);
	st = stats(r);
	assert_int_equal(st.unsent_entries, 2);
	assert_int_equal(st.unsent_bytes, 19 + 20);
	n = pb_resend_iov(r, iov, 2, SIZE_MAX);
	check_stream(out, gather(iov, n, out), 9, 10, lens, 0);
	/* Ack past a partly sent message: accounting stays exact. */
	pb_resend_sent(r, 4);
	assert_int_equal(pb_resend_ack(r, 9), 1);
	st = stats(r);
	assert_int_equal(st.unsent_bytes, 20);
	assert_int_equal(st.unsent_entries, 1);
	n = pb_resend_iov(r, iov, 2, SIZE_MAX);
	check_stream(out, gather(iov, n, out), 10, 10, lens, 0);
	pb_resend_sent(r, 1000); /* clamped */
	assert_int_equal(stats(r).unsent_bytes, 0);
	assert_int_equal(pb_resend_last_sent_seq(r), 10);
	pb_resend_free(r);
}

static void
test_oldest_drop(void **state)
{
	(void)state;
	struct pb_resend *r = pb_resend_new(100, 8);
	uint64_t seq, ns;
	const void *msg;
	size_t len;

	assert_int_equal(pb_resend_drop_oldest(r), -1);
	assert_int_equal(errno, ENOENT);
	assert_false(pb_resend_oldest_in_flight(r));
	for (uint64_t s = 1; s <= 4; s++)
		assert_int_equal(push(r, s, 20), 0);
	assert_int_equal(pb_resend_oldest(r, &seq, &ns, &msg, &len), 0);
	assert_int_equal(seq, 1);
	assert_int_equal(ns, 1000);
	assert_int_equal(len, 20);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(((const uint8_t *)msg)[i], pat(1, i));
	/* Unsent oldest: dropping is fine and the cursor stays at the new oldest. */
	assert_int_equal(pb_resend_drop_oldest(r), 0);
	assert_int_equal(stats(r).unsent_bytes, 60);
	/* Partly sent oldest: refused. */
	pb_resend_sent(r, 3);
	assert_true(pb_resend_oldest_in_flight(r));
	assert_int_equal(pb_resend_drop_oldest(r), -1);
	assert_int_equal(errno, EBUSY);
	/* Fully sent but unacked: fine. */
	pb_resend_sent(r, 17);
	assert_false(pb_resend_oldest_in_flight(r));
	assert_int_equal(pb_resend_drop_oldest(r), 0);
	assert_int_equal(pb_resend_last_sent_seq(r), 2);
	struct pb_resend_stats st = stats(r);
	assert_int_equal(st.entries, 2);
	assert_int_equal(st.unsent_entries, 2);
	assert_int_equal(st.oldest_seq, 3);
	assert_int_equal(st.oldest_enqueue_ns, 3000);
	/* After a rewind a partial message is no longer in flight. */
	pb_resend_sent(r, 5);
	assert_true(pb_resend_oldest_in_flight(r));
	pb_resend_rewind(r);
	assert_false(pb_resend_oldest_in_flight(r));
	assert_int_equal(pb_resend_drop_oldest(r), 0);
	assert_int_equal(pb_resend_drop_oldest(r), 0);
	assert_int_equal(stats(r).entries, 0);
	assert_int_equal(pb_resend_last_sent_seq(r), 4);
	pb_resend_free(r);
}

static void
test_reserve_commit(void **state)
{
	(void)state;
	struct pb_resend *r = pb_resend_new(100, 8);
	struct iovec iov[2];
	uint8_t out[100];
	size_t lens[8] = { 0, 40, 30, 50, 10 };

	assert_int_equal(pb_resend_commit(r, 1, 0, 10), -1); /* nothing reserved */
	assert_int_equal(errno, EINVAL);
	uint8_t *p = pb_resend_reserve(r, 60);
	assert_non_null(p);
	fill(p, 1, 40);
	assert_int_equal(pb_resend_commit(r, 1, 1000, 61), -1); /* more than reserved */
	assert_int_equal(pb_resend_commit(r, 1, 1000, 0), -1);
	assert_int_equal(pb_resend_commit(r, 1, 1000, 40), 0);
	assert_int_equal(pb_resend_commit(r, 2, 1000, 10), -1); /* used up */
	assert_null(pb_resend_reserve(r, 61));
	assert_int_equal(errno, ENOBUFS);
	assert_null(pb_resend_reserve(r, 101));
	assert_int_equal(errno, EMSGSIZE);
	p = pb_resend_reserve(r, 60);
	fill(p, 2, 30);
	assert_int_equal(pb_resend_commit(r, 2, 2000, 30), 0); /* [40,70) */
	/* A push drops a pending reservation. */
	assert_non_null(pb_resend_reserve(r, 10));
	assert_int_equal(push(r, 3, 31), -1); /* 30 at the end, none at the start */
	assert_int_equal(errno, ENOBUFS);
	assert_int_equal(pb_resend_commit(r, 3, 0, 5), -1);
	/* Frees between reserve and commit keep the reservation valid. */
	pb_resend_sent(r, 40);
	p = pb_resend_reserve(r, 30); /* [70,100) */
	assert_non_null(p);
	assert_int_equal(pb_resend_ack(r, 1), 1);
	fill(p, 3, 30);
	assert_int_equal(pb_resend_commit(r, 3, 3000, 30), 0);
	p = pb_resend_reserve(r, 40); /* wraps to [0,40) */
	assert_non_null(p);
	assert_int_equal(p, (uint8_t *)pb_resend_reserve(r, 40));
	fill(p, 4, 10);
	assert_int_equal(pb_resend_commit(r, 4, 4000, 10), 0);
	lens[3] = 30;
	int n = pb_resend_iov(r, iov, 2, SIZE_MAX);
	assert_int_equal(n, 2);
	check_stream(out, gather(iov, n, out), 2, 4, lens, 0);
	/* The ring empties between reserve and commit. */
	pb_resend_sent(r, 70);
	p = pb_resend_reserve(r, 20); /* [10,30) */
	assert_non_null(p);
	assert_int_equal(pb_resend_ack(r, 4), 3);
	fill(p, 5, 20);
	assert_int_equal(pb_resend_commit(r, 5, 5000, 20), 0);
	lens[5] = 20;
	assert_int_equal(push(r, 6, 70), 0); /* [30,100) */
	lens[6] = 70;
	n = pb_resend_iov(r, iov, 2, SIZE_MAX);
	assert_int_equal(n, 1);
	check_stream(out, gather(iov, n, out), 5, 6, lens, 0);
	pb_resend_free(r);
}

/*
 * Stream test: many messages pushed through a small ring, written with
 * random partial writes and acked with delay; the bytes the "socket" got
 * must be exactly the concatenation of the messages.
 */
static void
test_stream(void **state)
{
	(void)state;
	enum { NMSG = 20000 };
	struct pb_resend *r = pb_resend_new(4096, 64);
	size_t *lens = calloc(NMSG + 1, sizeof(*lens));
	size_t total = 0, got = 0;
	uint64_t next = 1, acked = 0, done = 0, whole = 0;
	size_t mstart = 0; /* where message whole + 1 starts in the stream */
	unsigned two_iov = 0, mid = 0;

	for (uint64_t s = 1; s <= NMSG; s++) {
		lens[s] = 1 + rnd_below(rnd_below(4) ? 200 : 1500);
		total += lens[s];
	}
	uint8_t *sock = malloc(total);
	assert_non_null(sock);
	while (acked < NMSG) {
		while (next <= NMSG && push(r, next, lens[next]) == 0)
			next++;
		struct iovec iov[2];
		int n = pb_resend_iov(r, iov, 2, 1 + rnd_below(3000));
		two_iov += n == 2;
		size_t w = 0;
		for (int i = 0; i < n; i++)
			w += iov[i].iov_len;
		w = rnd_below(4) ? w : rnd_below((uint32_t)w + 1); /* short write */
		for (int i = 0, left = (int)w; i < n && left > 0; i++) {
			size_t c = iov[i].iov_len < (size_t)left ? iov[i].iov_len : (size_t)left;
			memcpy(sock + got, iov[i].iov_base, c);
			got += c;
			left -= (int)c;
		}
		/* What it says of message boundaries is what the bytes say. */
		size_t left = pb_resend_sent_msgs(r, w, &done);
		while (whole < NMSG && mstart + lens[whole + 1] <= got)
			mstart += lens[++whole];
		assert_int_equal(done, whole);
		assert_int_equal(left, whole < NMSG && got > mstart ?
		    mstart + lens[whole + 1] - got : 0);
		mid += left != 0;
		uint64_t ls = pb_resend_last_sent_seq(r);
		if (ls > acked && rnd_below(3) == 0) {
			uint64_t a = acked + 1 + rnd_below((uint32_t)(ls - acked));
			assert_int_equal(pb_resend_ack(r, a), a - acked);
			acked = a;
		}
	}
	assert_int_equal(got, total);
	check_stream(sock, got, 1, NMSG, lens, 0);
	assert_true(two_iov > 10);
	assert_true(mid > 10);
	printf("# stream: %d messages, %zu bytes, %u two-region writes, %u ending mid-message\n",
	    NMSG, total, two_iov, mid);
	free(sock);
	free(lens);
	pb_resend_free(r);
}

/* ---- randomized model test against a plain queue ---- */

struct ref_msg {
	uint64_t seq, ns;
	size_t len;
	uint8_t *data;
};

struct ref {
	struct ref_msg *q; /* held messages are q[head .. head+n) */
	size_t head, n;
	size_t sent_n, sent_off;
	size_t bytes;
	size_t maxreq; /* longest push or reservation: a skipped tail is shorter */
	uint64_t last_seq, freed_seq;
};

static void
ref_free_oldest(struct ref *m)
{
	struct ref_msg *x = &m->q[m->head];
	if (m->sent_n)
		m->sent_n--;
	else
		m->sent_off = 0;
	m->bytes -= x->len;
	m->freed_seq = x->seq;
	free(x->data);
	x->data = NULL;
	m->head++;
	m->n--;
}

static size_t
ref_unsent(const struct ref *m)
{
	size_t u = 0;
	for (size_t i = m->sent_n; i < m->n; i++)
		u += m->q[m->head + i].len;
	return u - (m->sent_n < m->n ? m->sent_off : 0);
}

static void
ref_check(const struct pb_resend *r, const struct ref *m)
{
	struct pb_resend_stats st = stats(r);
	assert_int_equal(st.entries, m->n);
	assert_int_equal(st.used_bytes, m->bytes);
	assert_int_equal(st.unsent_entries, m->n - m->sent_n);
	assert_int_equal(st.unsent_bytes, ref_unsent(m));
	assert_int_equal(st.newest_seq, m->last_seq);
	assert_int_equal(st.oldest_seq, m->n ? m->q[m->head].seq : 0);
	assert_int_equal(st.oldest_enqueue_ns, m->n ? m->q[m->head].ns : 0);
	assert_int_equal(pb_resend_last_sent_seq(r),
	    m->sent_n ? m->q[m->head + m->sent_n - 1].seq : m->freed_seq);
	assert_int_equal(pb_resend_has_unsent(r), m->sent_n < m->n);
	assert_int_equal(pb_resend_oldest_in_flight(r), m->n && !m->sent_n && m->sent_off);
}

/* A refusal must be real: no entry slot, or not enough free bytes. */
static void
ref_check_full(const struct ref *m, size_t cap, size_t emax, size_t len)
{
	assert_int_equal(errno, ENOBUFS);
	/* Free space is two pieces (< len each), or one plus the skipped tail. */
	assert_true(m->n == emax || cap - m->bytes < 2 * len + m->maxreq);
}

static void
ref_add(struct ref *m, uint64_t seq, uint64_t ns, size_t len)
{
	struct ref_msg *x = &m->q[m->head + m->n++];
	x->seq = seq;
	x->ns = ns;
	x->len = len;
	x->data = malloc(len);
	assert_non_null(x->data);
	fill(x->data, seq, len);
	m->bytes += len;
	m->last_seq = seq;
}

/* The iovecs must be exactly the unsent bytes from the cursor, capped. */
static size_t
ref_check_iov(const struct ref *m, const struct iovec *iov, int n, int max_iov,
    size_t max_bytes)
{
	size_t total = 0, i = m->sent_n, off = m->sent_off;
	for (int k = 0; k < n; k++) {
		const uint8_t *p = iov[k].iov_base;
		assert_true(iov[k].iov_len > 0);
		for (size_t b = 0; b < iov[k].iov_len; b++) {
			assert_true(i < m->n);
			const struct ref_msg *x = &m->q[m->head + i];
			assert_int_equal(p[b], x->data[off]);
			if (++off == x->len) {
				i++;
				off = 0;
			}
		}
		total += iov[k].iov_len;
	}
	size_t unsent = ref_unsent(m), want = unsent < max_bytes ? unsent : max_bytes;
	/* Short only when out of iovecs, and then a region ends on a message end. */
	if (total != want) {
		assert_true(total < want && n == max_iov);
		assert_int_equal(off, 0);
	}
	return total;
}

/*
 * Allocated sizes against what the model held since it was last empty:
 * within the maxima, back to the first sizes when empty and trimmed, and never more
 * than about twice the high-water mark (a ring that just failed to place
 * len had less than 2 * len + maxlen free, see ref_check_full).
 */
struct growth {
	size_t init_bytes, init_e;
	size_t hw_bytes, hw_n, maxlen; /* since the model was last empty */
	unsigned grows, shrinks;
	size_t last_alloc, peak_alloc;
};

static void
growth_check(struct pb_resend *r, const struct ref *m, struct growth *g, bool reserved)
{
	/* Every empty moment is an idle one here (pushes are stamped seq * 1000
	 * ns): the timer's trim gives the memory back. */
	if (m->n == 0 && !reserved)
		pb_resend_trim(r, UINT64_MAX);
	struct pb_resend_stats st = stats(r);
	if (m->bytes > g->hw_bytes)
		g->hw_bytes = m->bytes;
	if (m->n > g->hw_n)
		g->hw_n = m->n;
	assert_true(st.alloc_bytes >= g->init_bytes && st.alloc_bytes <= st.capacity);
	assert_true(st.alloc_entries >= g->init_e && st.alloc_entries <= st.max_entries);
	size_t bound = 2 * (g->hw_bytes + 3 * g->maxlen);
	if (st.alloc_bytes > g->init_bytes && st.alloc_bytes > bound)
		fail_msg("%zu bytes allocated, high water %zu, longest %zu", st.alloc_bytes,
		    g->hw_bytes, g->maxlen);
	assert_true(st.alloc_entries <= g->init_e || st.alloc_entries <= 2 * g->hw_n);
	g->grows += st.alloc_bytes > g->last_alloc;
	g->shrinks += st.alloc_bytes < g->last_alloc;
	g->last_alloc = st.alloc_bytes;
	if (st.alloc_bytes > g->peak_alloc)
		g->peak_alloc = st.alloc_bytes;
	if (m->n == 0 && !reserved) {
		assert_int_equal(st.alloc_bytes, g->init_bytes);
		assert_int_equal(st.alloc_entries, g->init_e);
		g->hw_bytes = g->hw_n = g->maxlen = 0;
	}
}

/*
 * Random pushes (copied and zero-copy), partial writes, acks, rewinds,
 * drops and peeks, each checked against a plain queue. init_bytes and
 * init_e below the maxima make the rings grow and shrink on the way.
 */
static void
model_run(size_t cap, size_t emax, size_t init_bytes, size_t init_e, int ops,
    struct growth *g)
{
	struct pb_resend *r = pb_resend_new_sized(cap, emax, init_bytes, init_e);
	struct ref m = { .q = calloc((size_t)ops + 1, sizeof(struct ref_msg)) };
	unsigned full = 0, twoiov = 0, inflight = 0, beyond = 0;

	assert_non_null(r);
	assert_non_null(m.q);
	*g = (struct growth){ .init_bytes = init_bytes, .init_e = init_e,
		.last_alloc = init_bytes };
	for (int op = 0; op < ops; op++) {
		bool reserved = false;
		uint32_t what = rnd_below(100);
		if (what < 45) {
			size_t len = 1 + rnd_below(rnd_below(10) ? (uint32_t)cap / 5 : (uint32_t)cap);
			uint64_t seq = m.last_seq + 1 + rnd_below(3);
			if (len > g->maxlen)
				g->maxlen = len;
			if (len > m.maxreq)
				m.maxreq = len;
			bool zero_copy = what >= 35;
			if (rnd_below(50) == 0) {
				seq = m.last_seq - rnd_below(2); /* not increasing */
				assert_int_equal(push(r, seq, len), -1);
				assert_int_equal(errno, EINVAL);
			} else if (!zero_copy) {
				if (push(r, seq, len) == 0)
					ref_add(&m, seq, seq * 1000, len);
				else
					ref_check_full(&m, cap, emax, len), full++;
			} else {
				uint8_t *p = pb_resend_reserve(r, len);
				if (!p) {
					ref_check_full(&m, cap, emax, len), full++;
				} else if (rnd_below(4) == 0 && m.n && !m.sent_n && !m.sent_off) {
					/* Everything acked under the reservation: it stays valid. */
					reserved = true;
					pb_resend_sent(r, SIZE_MAX);
					assert_int_equal(pb_resend_ack(r, m.last_seq), m.n);
					while (m.n)
						ref_free_oldest(&m);
					size_t used = 1 + rnd_below((uint32_t)len);
					fill(p, seq, used);
					growth_check(r, &m, g, true);
					assert_int_equal(pb_resend_commit(r, seq, seq * 1000, used), 0);
					ref_add(&m, seq, seq * 1000, used);
				} else {
					size_t used = 1 + rnd_below((uint32_t)len);
					fill(p, seq, used);
					assert_int_equal(pb_resend_commit(r, seq, seq * 1000, used), 0);
					ref_add(&m, seq, seq * 1000, used);
				}
			}
		} else if (what < 75) {
			struct iovec iov[3];
			int max_iov = 1 + (int)rnd_below(3);
			size_t max_bytes = rnd_below(4) ? SIZE_MAX : 1 + rnd_below((uint32_t)cap);
			int n = pb_resend_iov(r, iov, max_iov, max_bytes);
			assert_true(n >= 0 && n <= 2 && n <= max_iov);
			twoiov += n == 2;
			size_t total = n ? ref_check_iov(&m, iov, n, max_iov, max_bytes) : 0;
			if (!n && max_iov >= 2)
				assert_int_equal(ref_unsent(&m), 0);
			size_t w = rnd_below(3) ? total : rnd_below((uint32_t)total + 1);
			pb_resend_sent(r, w);
			while (w) {
				size_t rem = m.q[m.head + m.sent_n].len - m.sent_off;
				size_t c = w < rem ? w : rem;
				m.sent_off += c;
				w -= c;
				if (m.sent_off == m.q[m.head + m.sent_n].len) {
					m.sent_n++;
					m.sent_off = 0;
				}
			}
		} else if (what < 88) {
			uint64_t base = m.n ? m.q[m.head].seq : m.last_seq;
			uint64_t a = base + rnd_below(6) - 2;
			if (m.n && a >= m.q[m.head].seq && (!m.sent_n || a > m.q[m.head + m.sent_n - 1].seq))
				beyond++;
			size_t k = 0;
			while (m.n && m.q[m.head].seq <= a) {
				ref_free_oldest(&m);
				k++;
			}
			assert_int_equal(pb_resend_ack(r, a), k);
		} else if (what < 92) {
			pb_resend_rewind(r);
			m.sent_n = 0;
			m.sent_off = 0;
		} else if (what < 97) {
			bool busy = m.n && !m.sent_n && m.sent_off;
			inflight += busy;
			if (!m.n || busy) {
				assert_int_equal(pb_resend_drop_oldest(r), -1);
				assert_int_equal(errno, m.n ? EBUSY : ENOENT);
			} else {
				assert_int_equal(pb_resend_drop_oldest(r), 0);
				ref_free_oldest(&m);
			}
		} else {
			uint64_t seq, ns;
			const void *msg;
			size_t len;
			int rc = pb_resend_oldest(r, &seq, &ns, &msg, &len);
			assert_int_equal(rc, m.n ? 0 : -1);
			if (m.n) {
				assert_int_equal(seq, m.q[m.head].seq);
				assert_int_equal(ns, m.q[m.head].ns);
				assert_int_equal(len, m.q[m.head].len);
				assert_memory_equal(msg, m.q[m.head].data, len);
			}
		}
		ref_check(r, &m);
		growth_check(r, &m, g, reserved);
	}
	printf("# model: cap %zu (first %zu), %d ops, %u refused pushes, %u two-region iovs, "
	       "%u acks past the cursor, %u drops refused in flight, %u grows, %u shrinks, "
	       "peak %zu bytes\n",
	    cap, init_bytes, ops, full, twoiov, beyond, inflight, g->grows, g->shrinks,
	    g->peak_alloc);
	assert_true(full > 100 && twoiov > 100 && beyond > 100 && inflight > 10);
	while (m.n)
		ref_free_oldest(&m);
	free(m.q);
	pb_resend_free(r);
}

static void
test_model(void **state)
{
	(void)state;
	struct growth g;
	size_t cap = 1500 + rnd_below(1000);
	model_run(cap, 32, cap, 32, 100000, &g);
	assert_int_equal(g.grows, 0);
}

/* The same with rings that start at 1/16 of the maxima. */
static void
test_model_grow(void **state)
{
	(void)state;
	struct growth g;
	size_t cap = 1500 + rnd_below(1000);
	model_run(cap, 32, cap / 16, 2, 100000, &g);
	assert_true(g.grows > 100 && g.shrinks > 100 && g.peak_alloc == cap);
}

/* Growth on a quiet ring: only what is held is allocated. */
static void
test_grow_shrink(void **state)
{
	(void)state;
	struct pb_resend *r = pb_resend_new_sized(1 << 20, 1 << 14, 1024, 4);
	struct iovec iov[2];
	uint8_t out[8192];
	size_t lens[64];

	assert_int_equal(stats(r).alloc_bytes, 1024);
	assert_int_equal(stats(r).alloc_entries, 4);
	for (uint64_t s = 1; s <= 40; s++) {
		lens[s] = 100;
		assert_int_equal(push(r, s, 100), 0);
	}
	/* 4000 bytes: 1024 -> 4096; 40 entries: 4 -> 64. */
	assert_int_equal(stats(r).alloc_bytes, 4096);
	assert_int_equal(stats(r).alloc_entries, 64);
	/* Wrapped, part sent, then grown: the stream continues where it was. */
	pb_resend_sent(r, 1050);
	assert_int_equal(pb_resend_ack(r, 10), 10);
	for (uint64_t s = 41; s <= 45; s++) {
		lens[s] = 100;
		assert_int_equal(push(r, s, 100), 0); /* [4000,4096) skipped: wraps */
	}
	assert_int_equal(stats(r).alloc_bytes, 4096);
	lens[46] = 2000;
	assert_int_equal(push(r, 46, 2000), 0); /* does not fit: 8192 */
	assert_int_equal(stats(r).alloc_bytes, 8192);
	int n = pb_resend_iov(r, iov, 2, SIZE_MAX);
	assert_int_equal(n, 1);
	check_stream(out, gather(iov, n, out), 11, 46, lens, 50);
	pb_resend_rewind(r);
	n = pb_resend_iov(r, iov, 2, SIZE_MAX);
	check_stream(out, gather(iov, n, out), 11, 46, lens, 0);
	/* Emptied: the memory stays while pushes are recent (no fresh pages
	 * for the next burst), first sizes once idle, and usable. */
	assert_int_equal(pb_resend_ack(r, 46), 36);
	assert_int_equal(stats(r).alloc_bytes, 8192);
	pb_resend_trim(r, 46 * 1000 + PB_RESEND_TRIM_IDLE_NS - 1);
	assert_int_equal(stats(r).alloc_bytes, 8192);
	assert_int_equal(stats(r).alloc_entries, 64);
	pb_resend_trim(r, 46 * 1000 + PB_RESEND_TRIM_IDLE_NS);
	assert_int_equal(stats(r).alloc_bytes, 1024);
	assert_int_equal(stats(r).alloc_entries, 4);
	assert_int_equal(push(r, 47, 1024), 0);
	assert_int_equal(stats(r).alloc_bytes, 1024);
	/* Dropping the last one, then idle: shrinks too; not while held. */
	assert_int_equal(push(r, 48, 10), 0);
	assert_int_equal(stats(r).alloc_bytes, 2048);
	pb_resend_trim(r, UINT64_MAX);
	assert_int_equal(stats(r).alloc_bytes, 2048);
	assert_int_equal(pb_resend_drop_oldest(r), 0);
	assert_int_equal(pb_resend_drop_oldest(r), 0);
	pb_resend_trim(r, UINT64_MAX);
	assert_int_equal(stats(r).alloc_bytes, 1024);
	pb_resend_free(r);

	/* Growth stops at the maximum, which is not a power of two here. */
	r = pb_resend_new_sized(300, 8, 100, 2);
	for (uint64_t s = 1; s <= 3; s++)
		assert_int_equal(push(r, s, 100), 0);
	assert_int_equal(stats(r).alloc_bytes, 300);
	assert_int_equal(push(r, 4, 1), -1);
	assert_int_equal(errno, ENOBUFS);
	assert_int_equal(stats(r).alloc_bytes, 300);
	assert_int_equal(stats(r).alloc_entries, 4);
	pb_resend_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_wrap),
		cmocka_unit_test(test_ack_beyond_cursor),
		cmocka_unit_test(test_oldest_drop),
		cmocka_unit_test(test_reserve_commit),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_model_grow),
		cmocka_unit_test(test_grow_shrink),
	};
	printf("# seed 0x%016llx\n", (unsigned long long)rng_state);
	return cmocka_run_group_tests_name("resend", tests, NULL, NULL);
}
