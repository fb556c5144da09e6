/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "snmp_int.h"
#include "stats.h"

/*
 * PACKETBROKER-MIB as data: a copy of what the engine published (sources'
 * atomics, the peer table, a reference on the gaps snapshot, the DLQ's
 * stats), then every instance of the MIB in OID order, so that GET is a
 * binary search and GETNEXT the next element. Built on the SNMP thread;
 * no net-snmp here.
 */

static int
pb_snmp_source_kind(const char *kind)
{
	return strcmp(kind, "file") == 0 ? 2 : 1;
}

int
pb_snmp_data_load(const struct pb_view *v, struct pb_snmp_data *d)
{
	struct pb_dlq_stats_snapshot dlq;
	struct pb_pubstate *b = v->pubstate;
	bool has_dlq;

	memset(d, 0, sizeof(*d));
	d->mono_ns = pb_mono_ns();
	if (d->mono_ns > v->started_mono_ns) {
		uint64_t cs = (d->mono_ns - v->started_mono_ns) / (PB_NSEC_PER_MSEC * 10);

		d->uptime_cs = cs > UINT32_MAX ? UINT32_MAX : (uint32_t)cs;
	}
	if (v->nsources > 0 && (d->sources = calloc(v->nsources, sizeof(*d->sources))) == NULL)
		goto fail;
	d->nsources = v->nsources;
	for (size_t i = 0; i < v->nsources; i++) {
		const struct pb_source_stats *st = v->sources[i].stats;
		struct pb_snmp_source *s = &d->sources[i];

		s->name = v->sources[i].name;
		s->kind = pb_snmp_source_kind(v->sources[i].kind);
		s->state = PB_SOURCE_STARTING + 1;
		if (st == NULL)
			continue;
		s->state = atomic_load_explicit(&st->state, memory_order_relaxed) + 1;
		s->records = pb_counter_get(&st->packets);
		s->bytes = pb_counter_get(&st->bytes);
		s->drops = pb_counter_get(&st->pcap_drops);
		s->ifdrops = pb_counter_get(&st->pcap_ifdrops);
		s->oversize = pb_counter_get(&st->oversize);
		s->trailer_errors = pb_counter_get(&st->trailer_errors);
	}
	if (pb_mgmt_peers_copy(b, &d->peers, &d->npeers, NULL) < 0)
		goto fail;
	if (d->npeers > 0 && (d->peer_state = calloc(d->npeers, sizeof(int))) == NULL)
		goto fail;
	for (size_t i = 0; i < d->npeers; i++)
		d->peer_state[i] = pb_fmt_link_state(d->peers[i].state);
	/* Both published by the engine (pb_pubstate_publish_*): nothing here
	 * reads the engine's DLQ handle or gap tracker. */
	if (b != NULL)
		d->gaps = pb_pubstate_gaps(b);
	has_dlq = b != NULL && pb_pubstate_dlq_stats(b, &dlq);
	pb_mgmt_totals(v, d->peers, d->npeers, has_dlq ? &dlq : NULL, &d->totals);
	return 0;
fail:
	pb_snmp_data_free(d);
	return -1;
}

void
pb_snmp_data_free(struct pb_snmp_data *d)
{
	free(d->sources);
	free(d->peers);
	free(d->peer_state);
	if (d->gaps != NULL)
		pb_gaps_snapshot_put(d->gaps);
	memset(d, 0, sizeof(*d));
}

int
pb_snmp_oid_cmp(const uint32_t *a, size_t alen, const uint32_t *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;

	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

size_t
pb_snmp_gap_index(uint32_t node, uint16_t source, uint64_t epoch, uint32_t *out)
{
	out[0] = node;
	out[1] = source;
	for (int i = 0; i < 8; i++)
		out[2 + i] = (uint32_t)(epoch >> (56 - 8 * i)) & 0xff;
	return PB_SNMP_GAP_INDEX_LEN;
}

int
pb_snmp_gap_index_parse(const uint32_t *in, size_t len, uint32_t *node, uint16_t *source,
    uint64_t *epoch)
{
	uint64_t e = 0;

	if (len != PB_SNMP_GAP_INDEX_LEN || in[0] == 0 || in[1] > UINT16_MAX)
		return -1;
	for (int i = 0; i < 8; i++) {
		if (in[2 + i] > 0xff)
			return -1;
		e = e << 8 | in[2 + i];
	}
	*node = in[0];
	*source = (uint16_t)in[1];
	*epoch = e;
	return 0;
}

/* ---- building ---- */

static struct pb_snmp_var *
pb_snmp_add(struct pb_snmp_model *m)
{
	if (m->n == m->cap) {
		size_t cap = m->cap != 0 ? m->cap * 2 : 256;
		struct pb_snmp_var *nv = realloc(m->vars, cap * sizeof(*nv));

		if (nv == NULL)
			return NULL;
		m->vars = nv;
		m->cap = cap;
	}
	memset(&m->vars[m->n], 0, sizeof(m->vars[0]));
	return &m->vars[m->n++];
}

static void
pb_snmp_set_num(struct pb_snmp_var *x, int type, uint64_t num)
{
	x->type = (uint8_t)type;
	x->num = num;
}

static void
pb_snmp_set_str(struct pb_snmp_var *x, const char *s, size_t max)
{
	x->type = PB_SNMP_STRING;
	x->str = s;
	x->slen = strnlen(s, max);
}

void
pb_snmp_scalar_var(int group, int id, uint64_t value, struct pb_snmp_var *out)
{
	memset(out, 0, sizeof(*out));
	out->oid[0] = PB_SNMP_OBJECTS;
	out->oid[1] = (uint32_t)group;
	out->oid[2] = (uint32_t)id;
	out->oid[3] = 0;
	out->len = 4;
	pb_snmp_set_num(out, PB_SNMP_COUNTER64, value);
}

/* objects.table.1.column: the first four sub-identifiers of a cell. */
static void
pb_snmp_cell(struct pb_snmp_var *x, int table, int column)
{
	x->oid[0] = PB_SNMP_OBJECTS;
	x->oid[1] = (uint32_t)table;
	x->oid[2] = 1;
	x->oid[3] = (uint32_t)column;
	x->len = 4;
}

void
pb_snmp_peer_var(const struct pb_snmp_peer *p, int column, struct pb_snmp_var *out)
{
	memset(out, 0, sizeof(*out));
	pb_snmp_cell(out, PB_SNMP_PEERS, column);
	out->oid[out->len++] = p->index;
	switch (column) {
	case PB_SNMP_P_NAME:
		pb_snmp_set_str(out, p->name, 63);
		break;
	case PB_SNMP_P_ADDRESS:
		pb_snmp_set_str(out, p->address, 191);
		break;
	case PB_SNMP_P_STATE:
		pb_snmp_set_num(out, PB_SNMP_INTEGER, (uint64_t)p->state);
		break;
	case PB_SNMP_P_LAST_CHANGE:
		pb_snmp_set_num(out, PB_SNMP_TIMETICKS, p->last_change_cs);
		break;
	default:
		pb_snmp_set_str(out, p->last_error, 255);
		break;
	}
}

static uint64_t
pb_snmp_gap_num(const struct pb_gaps_stream_info *s, int column)
{
	switch (column) {
	case PB_SNMP_G_MISSING: return s->missing_total;
	case PB_SNMP_G_RANGES: return s->nranges_total;
	case PB_SNMP_G_DUPLICATES: return s->duplicates;
	case PB_SNMP_G_RECEIVED: return s->received;
	case PB_SNMP_G_FILLED: return s->filled;
	default: return s->gap_events;
	}
}

void
pb_snmp_gap_var(const struct pb_gaps_stream_info *s, const char *name, int column,
    struct pb_snmp_var *out)
{
	memset(out, 0, sizeof(*out));
	pb_snmp_cell(out, PB_SNMP_GAPS, column);
	out->len = (uint8_t)(out->len + pb_snmp_gap_index(s->node, s->source, s->epoch,
	    &out->oid[out->len]));
	if (column == PB_SNMP_G_NAME)
		pb_snmp_set_str(out, name, 63);
	else
		pb_snmp_set_num(out, column == PB_SNMP_G_RANGES ? PB_SNMP_GAUGE :
		    PB_SNMP_COUNTER64, pb_snmp_gap_num(s, column));
}

static int
pb_snmp_build_node(struct pb_snmp_model *m, const struct pb_view *v,
    const struct pb_snmp_data *d, const struct pb_snmp_tracker *t)
{
	const char *version = v->version != NULL ? v->version : PACKAGE_VERSION;
	const uint64_t totals[] = {
		[PB_SNMP_T_CAPTURED] = d->totals.records_captured,
		[PB_SNMP_T_FORWARDED] = d->totals.records_forwarded,
		[PB_SNMP_T_DELIVERED] = d->totals.records_delivered,
		[PB_SNMP_T_DROPS] = d->totals.capture_drops,
		[PB_SNMP_T_DLQ_DEPTH] = d->totals.dlq_rows,
		[PB_SNMP_T_DLQ_BYTES] = d->totals.dlq_bytes,
		[PB_SNMP_T_DLQ_REFUSALS] = d->totals.dlq_refusals,
		[PB_SNMP_T_DLQ_THRESHOLD] = t->dlq_threshold,
	};
	struct pb_snmp_var *x;

	for (int id = 1; id <= PB_SNMP_NODE_LAST; id++) {
		if ((x = pb_snmp_add(m)) == NULL)
			return -1;
		pb_snmp_scalar_var(PB_SNMP_NODE, id, 0, x);
		switch (id) {
		case PB_SNMP_NODE_ID: pb_snmp_set_num(x, PB_SNMP_UNSIGNED, v->node_id); break;
		case PB_SNMP_NODE_NAME: pb_snmp_set_str(x, v->node_name, 63); break;
		case PB_SNMP_NODE_DESCR: pb_snmp_set_str(x, v->node_description, 255); break;
		case PB_SNMP_VERSION: pb_snmp_set_str(x, version, 63); break;
		case PB_SNMP_UPTIME: pb_snmp_set_num(x, PB_SNMP_TIMETICKS, d->uptime_cs); break;
		default: pb_snmp_set_num(x, PB_SNMP_RUN_EPOCH, v->epoch); break;
		}
	}
	for (int id = 1; id <= PB_SNMP_T_LAST; id++) {
		if ((x = pb_snmp_add(m)) == NULL)
			return -1;
		pb_snmp_scalar_var(PB_SNMP_TOTALS, id, totals[id], x);
	}
	return 0;
}

static int
pb_snmp_build_sources(struct pb_snmp_model *m, const struct pb_snmp_data *d)
{
	for (int col = PB_SNMP_S_NAME; col <= PB_SNMP_S_LAST; col++) {
		for (size_t i = 0; i < d->nsources; i++) {
			const struct pb_snmp_source *s = &d->sources[i];
			const uint64_t num[] = {
				[PB_SNMP_S_KIND] = (uint64_t)s->kind,
				[PB_SNMP_S_STATE] = (uint64_t)s->state,
				[PB_SNMP_S_RECORDS] = s->records, [PB_SNMP_S_BYTES] = s->bytes,
				[PB_SNMP_S_DROPS] = s->drops, [PB_SNMP_S_IFDROPS] = s->ifdrops,
				[PB_SNMP_S_OVERSIZE] = s->oversize,
				[PB_SNMP_S_TRAILER_ERRORS] = s->trailer_errors,
			};
			struct pb_snmp_var *x = pb_snmp_add(m);

			if (x == NULL)
				return -1;
			pb_snmp_cell(x, PB_SNMP_SOURCES, col);
			x->oid[x->len++] = (uint32_t)(i + 1);
			if (col == PB_SNMP_S_NAME)
				pb_snmp_set_str(x, s->name, 63);
			else
				pb_snmp_set_num(x, col <= PB_SNMP_S_STATE ? PB_SNMP_INTEGER :
				    PB_SNMP_COUNTER64, num[col]);
		}
	}
	return 0;
}

struct pb_snmp_row {
	uint32_t index;
	size_t peer;               /* into d->peers */
	const struct pb_snmp_peer *tp;
};

static int
pb_snmp_row_cmp(const void *a, const void *b)
{
	const struct pb_snmp_row *x = a, *y = b;

	if (x->index != y->index)
		return x->index < y->index ? -1 : 1;
	return x->peer < y->peer ? -1 : x->peer > y->peer;
}

static void
pb_snmp_peer_cell(struct pb_snmp_var *x, const struct pb_snmp_row *r,
    const struct pb_peer_snap *p, int col)
{
	const uint64_t num[] = {
		[PB_SNMP_P_DIRECTION] = strcmp(p->direction, "upstream") == 0 ? 2 : 1,
		[PB_SNMP_P_NODE_ID] = p->node_id,
		[PB_SNMP_P_RECORDS_SENT] = p->records_sent,
		[PB_SNMP_P_BYTES_SENT] = p->bytes_sent,
		[PB_SNMP_P_RECORDS_ACKED] = p->records_acked,
		[PB_SNMP_P_RECORDS_RECEIVED] = p->records_received,
		[PB_SNMP_P_BYTES_RECEIVED] = p->bytes_received,
		[PB_SNMP_P_IN_FLIGHT] = p->in_flight,
		[PB_SNMP_P_RESENT] = p->resent,
		[PB_SNMP_P_TO_DLQ] = p->to_dlq,
		[PB_SNMP_P_RTT] = p->rtt_ns / 1000 > UINT32_MAX ? UINT32_MAX : p->rtt_ns / 1000,
		[PB_SNMP_P_RECONNECTS] = p->reconnects,
	};

	switch (col) {
	case PB_SNMP_P_NAME:
	case PB_SNMP_P_ADDRESS:
	case PB_SNMP_P_STATE:
	case PB_SNMP_P_LAST_CHANGE:
	case PB_SNMP_P_LAST_ERROR:
		/* The tracker holds them as of this data. */
		pb_snmp_peer_var(r->tp, col, x);
		if (col == PB_SNMP_P_ADDRESS)
			pb_snmp_set_str(x, p->address, sizeof(p->address));
		else if (col == PB_SNMP_P_LAST_ERROR)
			pb_snmp_set_str(x, p->last_error, sizeof(p->last_error));
		return;
	case PB_SNMP_P_NODE_NAME:
		pb_snmp_set_str(x, p->node_name, sizeof(p->node_name));
		break;
	case PB_SNMP_P_DIRECTION:
		pb_snmp_set_num(x, PB_SNMP_INTEGER, num[col]);
		break;
	case PB_SNMP_P_NODE_ID:
		pb_snmp_set_num(x, PB_SNMP_UNSIGNED, num[col]);
		break;
	case PB_SNMP_P_RTT:
		pb_snmp_set_num(x, PB_SNMP_GAUGE, num[col]);
		break;
	default:
		pb_snmp_set_num(x, PB_SNMP_COUNTER64, num[col]);
		break;
	}
	pb_snmp_cell(x, PB_SNMP_PEERS, col);
	x->oid[x->len++] = r->index;
}

static int
pb_snmp_build_peers(struct pb_snmp_model *m, const struct pb_snmp_data *d,
    const struct pb_snmp_tracker *t)
{
	struct pb_snmp_row *rows = NULL;
	size_t n = 0, k = 0;

	if (d->npeers > 0 && (rows = calloc(d->npeers, sizeof(*rows))) == NULL)
		return -1;
	for (size_t i = 0; i < d->npeers; i++) {
		const struct pb_snmp_peer *tp = pb_snmp_tracker_find(t, d->peers[i].name);

		if (tp != NULL)
			rows[n++] = (struct pb_snmp_row){ .index = tp->index, .peer = i, .tp = tp };
	}
	if (n > 1)
		qsort(rows, n, sizeof(*rows), pb_snmp_row_cmp);
	/* A name twice in the table: the first one is shown. */
	for (size_t i = 0; i < n; i++)
		if (k == 0 || rows[i].index != rows[k - 1].index)
			rows[k++] = rows[i];
	n = k;
	for (int col = PB_SNMP_P_NAME; col <= PB_SNMP_P_LAST; col++) {
		for (size_t i = 0; i < n; i++) {
			struct pb_snmp_var *x = pb_snmp_add(m);

			if (x == NULL) {
				free(rows);
				return -1;
			}
			pb_snmp_peer_cell(x, &rows[i], &d->peers[rows[i].peer], col);
		}
	}
	free(rows);
	return 0;
}

/* The origin's name when this node knows it: itself or a peer's node. */
static void
pb_snmp_origin_name(const struct pb_view *v, const struct pb_snmp_data *d, uint32_t node,
    char *out, size_t len)
{
	out[0] = '\0';
	if (node == v->node_id) {
		memcpy(out, v->node_name, strnlen(v->node_name, len - 1));
		out[strnlen(v->node_name, len - 1)] = '\0';
		return;
	}
	for (size_t i = 0; i < d->npeers; i++) {
		if (d->peers[i].node_id == node && d->peers[i].node_name[0] != '\0') {
			size_t n = strnlen(d->peers[i].node_name, len - 1);

			memcpy(out, d->peers[i].node_name, n);
			out[n] = '\0';
			return;
		}
	}
}

static int
pb_snmp_build_gaps(struct pb_snmp_model *m, const struct pb_view *v,
    const struct pb_snmp_data *d)
{
	uint32_t n = d->gaps != NULL ? d->gaps->nstreams : 0;

	if (n == 0)
		return 0;
	if ((m->origin_names = calloc(n, sizeof(m->origin_names[0]))) == NULL)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		/* Streams of one node are adjacent: look each node up once. */
		if (i > 0 && d->gaps->streams[i - 1].node == d->gaps->streams[i].node)
			memcpy(m->origin_names[i], m->origin_names[i - 1], sizeof(m->origin_names[i]));
		else
			pb_snmp_origin_name(v, d, d->gaps->streams[i].node, m->origin_names[i],
			    sizeof(m->origin_names[i]));
	}
	for (int col = PB_SNMP_G_NAME; col <= PB_SNMP_G_LAST; col++) {
		for (uint32_t i = 0; i < n; i++) {
			struct pb_snmp_var *x = pb_snmp_add(m);

			if (x == NULL)
				return -1;
			pb_snmp_gap_var(&d->gaps->streams[i], m->origin_names[i], col, x);
		}
	}
	return 0;
}

static int
pb_snmp_var_cmp(const void *a, const void *b)
{
	const struct pb_snmp_var *x = a, *y = b;

	return pb_snmp_oid_cmp(x->oid, x->len, y->oid, y->len);
}

int
pb_snmp_model_build(struct pb_snmp_model *m, const struct pb_view *v,
    const struct pb_snmp_data *d, const struct pb_snmp_tracker *t)
{
	memset(m, 0, sizeof(*m));
	if (pb_snmp_build_node(m, v, d, t) < 0 || pb_snmp_build_sources(m, d) < 0 ||
	    pb_snmp_build_peers(m, d, t) < 0 || pb_snmp_build_gaps(m, v, d) < 0) {
		pb_snmp_model_free(m);
		return -1;
	}
	/* Built in order; GETNEXT depends on it, so make sure (a gaps snapshot
	 * is sorted by its producer, not by us). */
	for (size_t i = 1; i < m->n; i++) {
		if (pb_snmp_var_cmp(&m->vars[i - 1], &m->vars[i]) >= 0) {
			qsort(m->vars, m->n, sizeof(m->vars[0]), pb_snmp_var_cmp);
			break;
		}
	}
	return 0;
}

void
pb_snmp_model_free(struct pb_snmp_model *m)
{
	free(m->vars);
	free(m->origin_names);
	memset(m, 0, sizeof(*m));
}

/* The first element whose OID is above (strict) or at least (!strict) oid. */
static size_t
pb_snmp_bound(const struct pb_snmp_model *m, const uint32_t *oid, size_t len, bool strict)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = pb_snmp_oid_cmp(m->vars[mid].oid, m->vars[mid].len, oid, len);

		if (c < 0 || (strict && c == 0))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct pb_snmp_var *
pb_snmp_model_get(const struct pb_snmp_model *m, const uint32_t *oid, size_t len)
{
	size_t i = pb_snmp_bound(m, oid, len, false);

	if (i < m->n && pb_snmp_oid_cmp(m->vars[i].oid, m->vars[i].len, oid, len) == 0)
		return &m->vars[i];
	return NULL;
}

const struct pb_snmp_var *
pb_snmp_model_next(const struct pb_snmp_model *m, const uint32_t *oid, size_t len)
{
	size_t i = pb_snmp_bound(m, oid, len, true);

	return i < m->n ? &m->vars[i] : NULL;
}
