/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "dlq_internal.h"
#include "dlq_store.h"

/*
 * Row filters in SQL and row decoding, shared by the writer thread and
 * pb_dlq_list's read-only connections.
 */

unsigned
dlq_filter_mask(const struct pb_dlq_filter *f)
{
	return (f->peer[0] ? M_PEER : 0) | (f->by_node ? M_NODE : 0) |
	    (f->by_reason ? M_REASON : 0) |
	    (f->capture_min_ns || f->capture_max_ns ? M_CAP : 0) |
	    (f->id_min || f->id_max ? M_ID : 0);
}

/* `fmt` has one %s where the conditions go; parameters are numbered: ?1
 * after_id, ?2..?8 filter, ?9 limit, ?10 offset. */
int
dlq_filter_prepare(sqlite3 *db, const char *fmt, unsigned m, unsigned flags, sqlite3_stmt **out)
{
	char where[256], sql[768];
	snprintf(where, sizeof(where), "%s%s%s%s%s", m & M_PEER ? " AND peer = ?2" : "",
	    m & M_NODE ? " AND origin_node = ?3" : "", m & M_REASON ? " AND reason = ?4" : "",
	    m & M_CAP ? " AND capture_ns BETWEEN ?5 AND ?6" : "",
	    m & M_ID ? " AND id BETWEEN ?7 AND ?8" : "");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(sql, sizeof(sql), fmt, where);
#pragma GCC diagnostic pop
	return sqlite3_prepare_v3(db, sql, -1, flags, out, NULL);
}

int
dlq_filter_bind(sqlite3_stmt *s, const struct pb_dlq_filter *f, unsigned m)
{
	int bad = 0;
	if (m & M_PEER)
		bad |= sqlite3_bind_text(s, 2, f->peer, -1, SQLITE_STATIC);
	if (m & M_NODE)
		bad |= sqlite3_bind_int64(s, 3, f->origin_node);
	if (m & M_REASON)
		bad |= sqlite3_bind_text(s, 4, dlq_reason_names[f->reason], -1, SQLITE_STATIC);
	if (m & M_CAP) {
		bad |= sqlite3_bind_int64(s, 5, (sqlite3_int64)f->capture_min_ns);
		bad |= sqlite3_bind_int64(s, 6, f->capture_max_ns ? (sqlite3_int64)f->capture_max_ns
								: INT64_MAX);
	}
	if (m & M_ID) {
		bad |= sqlite3_bind_int64(s, 7, (sqlite3_int64)f->id_min);
		bad |= sqlite3_bind_int64(s, 8, f->id_max ? (sqlite3_int64)f->id_max : INT64_MAX);
	}
	return bad ? -1 : 0;
}

void
dlq_row_decode(sqlite3_stmt *s, struct pb_dlq_row *r)
{
	const unsigned char *peer = sqlite3_column_text(s, 1);
	int reason = pb_dlq_reason_from_name((const char *)sqlite3_column_text(s, 8));

	memset(r, 0, sizeof(*r));
	r->id = (uint64_t)sqlite3_column_int64(s, 0);
	snprintf(r->meta.peer, sizeof(r->meta.peer), "%s", peer ? (const char *)peer : "");
	r->meta.origin_node = (uint32_t)sqlite3_column_int64(s, 2);
	r->meta.origin_source = (uint16_t)sqlite3_column_int64(s, 3);
	r->meta.origin_epoch = (uint64_t)sqlite3_column_int64(s, 4);
	r->meta.origin_seq = (uint64_t)sqlite3_column_int64(s, 5);
	r->meta.capture_ns = (uint64_t)sqlite3_column_int64(s, 6);
	r->meta.enqueue_ns = (uint64_t)sqlite3_column_int64(s, 7);
	r->meta.reason = (uint8_t)(reason < 0 ? 0 : reason);
	r->attempts = (uint32_t)sqlite3_column_int64(s, 9);
	r->bytes = (uint64_t)sqlite3_column_int64(s, 10);
}
