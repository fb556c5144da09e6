/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <sqlite3.h>

#include "clock.h"
#include "dlq_internal.h"
#include "dlq_store.h"

#define DLQ_TOUCH_NS (200 * PB_NSEC_PER_MSEC)  /* a fetch's attempts wait this long */
#define DLQ_TOUCH_AGE_NS (1 * PB_NSEC_PER_SEC) /* at most, over merged fetches */

/*
 * A fetch's attempts increment is written later, in one UPDATE per id
 * range: by then a replay has deleted most of the rows, which it would
 * otherwise rewrite just before deleting them (a third of a replay's
 * cost). A fetch that could read a waiting range writes it first, so the
 * engine always sees exact attempts; readers of the file see them within
 * DLQ_TOUCH_AGE_NS + DLQ_TOUCH_NS, and a crash loses the increments of
 * that last moment.
 */

/* Writes one range's attempts in the open transaction. */
static int
touch_run(struct pb_dlq *d, const struct dlq_touch *k)
{
	unsigned m = dlq_filter_mask(&k->f);
	sqlite3_stmt *u = dlq_w_stmt(d, Q_TOUCH, m);
	if (u == NULL || dlq_filter_bind(u, &k->f, m) < 0)
		return -1;
	sqlite3_bind_int64(u, 1, (sqlite3_int64)k->first);
	sqlite3_bind_int64(u, 9, (sqlite3_int64)k->last);
	return dlq_w_run(d, u, "fetch attempts", NULL, NULL);
}

/* Before a fetch of ids > after: every waiting range is written when one
 * of them reaches past it. */
int
dlq_touch_overlap(struct pb_dlq *d, struct dlq_touch_txn *t, uint64_t after)
{
	bool hit = false;
	for (unsigned i = t->done; i < d->ntouch; i++)
		hit |= d->touch[i].last > after;
	for (unsigned i = 0; i < t->n; i++)
		hit |= t->r[i].last > after;
	if (!hit)
		return 0;
	for (; t->done < d->ntouch; t->done++)
		if (touch_run(d, &d->touch[t->done]) < 0)
			return -1;
	for (unsigned i = 0; i < t->n; i++)
		if (touch_run(d, &t->r[i]) < 0)
			return -1;
	t->n = 0;
	return 0;
}

/* Rows first..last were fetched: their attempts wait, or are written now
 * when d->touch could not take them at commit. */
int
dlq_touch_defer(struct pb_dlq *d, struct dlq_touch_txn *t, const struct pb_dlq_filter *f,
    uint64_t after, uint64_t first, uint64_t last)
{
	uint64_t now = pb_mono_ns();
	struct dlq_touch k = { .after = after, .first = first, .last = last,
		.born_ns = now, .since_ns = now, .f = *f };
	if (d->ntouch - t->done + t->n >= DLQ_TOUCH_MAX)
		return touch_run(d, &k);
	t->r[t->n++] = k;
	return 0;
}

/* After the commit: drops the ranges written, adds the new ones. The next
 * page of the same fetch extends the last range: no matching row lies
 * between the two (the fetch skipped none, and ids only grow). */
void
dlq_touch_commit(struct pb_dlq *d, struct dlq_touch_txn *t)
{
	d->ntouch -= t->done;
	memmove(d->touch, d->touch + t->done, d->ntouch * sizeof(d->touch[0]));
	for (unsigned i = 0; i < t->n; i++) {
		const struct dlq_touch *k = &t->r[i];
		struct dlq_touch *p = d->ntouch ? &d->touch[d->ntouch - 1] : NULL;
		if (p && k->after == p->last && k->since_ns - p->born_ns < DLQ_TOUCH_AGE_NS &&
		    memcmp(&p->f, &k->f, sizeof(p->f)) == 0) {
			p->last = k->last;
			p->since_ns = k->since_ns;
		} else {
			d->touch[d->ntouch++] = *k;
		}
	}
}

/* Nanoseconds until the first waiting range is due (0: now, UINT64_MAX:
 * none waits). */
uint64_t
dlq_touch_wait(const struct pb_dlq *d, uint64_t now)
{
	uint64_t w = UINT64_MAX;
	for (unsigned i = 0; i < d->ntouch; i++) {
		const struct dlq_touch *k = &d->touch[i];
		uint64_t due = k->since_ns + DLQ_TOUCH_NS, cap = k->born_ns + DLQ_TOUCH_AGE_NS;
		if (cap < due)
			due = cap;
		if (due <= now)
			return 0;
		if (due - now < w)
			w = due - now;
	}
	return w;
}

/* Writes the waiting ranges (when one is due, or `all`) in a transaction
 * of their own; they stay for a retry when it fails. */
void
dlq_touch_flush(struct pb_dlq *d, bool all)
{
	int rc = 0;

	if (!d->ntouch || (!all && dlq_touch_wait(d, pb_mono_ns()) > 0) ||
	    dlq_w_exec(d, "BEGIN IMMEDIATE") < 0)
		return;
	for (unsigned i = 0; i < d->ntouch && rc == 0; i++)
		rc = touch_run(d, &d->touch[i]);
	if (rc == 0 && dlq_w_exec(d, "COMMIT") == 0) {
		d->ntouch = 0;
		d->dirty = true;
	}
	if (!sqlite3_get_autocommit(d->db))
		sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
}
