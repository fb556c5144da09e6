/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "clock.h"
#include "gaps.h"

/*
 * GET /metrics: every counter and gauge of the node in the Prometheus text
 * exposition format 0.0.4, from the same snapshots as the JSON endpoints:
 * packetbroker_<subject>_<what>[_total]{<subject>="name"}. Counters end in
 * _total; times are seconds; sizes bytes. Gap counters are per origin
 * source (origin="<node>/<source>") summed over its runs: the run epoch is
 * a secret (README, Security) and would also make series come and go.
 */

#define PB_MET_INITIAL (16 * 1024)

struct pb_met {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void pb_met_printf(struct pb_met *m, const char *fmt, ...) PB_PRINTF(2, 3);

static void
pb_met_printf(struct pb_met *m, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (m->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(m->buf + m->len, m->cap - m->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			m->failed = true;
			return;
		}
		if ((size_t)n < m->cap - m->len) {
			m->len += (size_t)n;
			return;
		}
		char *nb = realloc(m->buf, m->cap * 2 + (size_t)n);
		if (nb == NULL) {
			m->failed = true;
			return;
		}
		m->buf = nb;
		m->cap = m->cap * 2 + (size_t)n;
	}
}

/* A label value: \, " and newline escaped; control and non-ASCII bytes '?'
 * (names may come from peers and need not be UTF-8). */
static void
pb_met_label(struct pb_met *m, const char *v, char *out, size_t outlen)
{
	size_t o = 0;

	(void)m;
	for (; *v != '\0' && o + 3 < outlen; v++) {
		unsigned char c = (unsigned char)*v;

		if (c == '\\' || c == '"') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
		}
	}
	out[o] = '\0';
}

static void
pb_met_family(struct pb_met *m, const char *name, const char *type, const char *help)
{
	pb_met_printf(m, "# HELP packetbroker_%s %s\n# TYPE packetbroker_%s %s\n", name, help,
	    name, type);
}

/* One field of a stats struct: its metric name, type, help and offset. */
struct pb_met_field {
	const char *name;
	bool counter;
	const char *help;
	size_t off;
	double scale;    /* 0 = integer as is */
	int direction;   /* peers: 0 both, 1 downstream only, 2 upstream only */
};

#define PB_MET_C(n, h, type, f) { n "_total", true, h, offsetof(type, f), 0, 0 }
#define PB_MET_G(n, h, type, f) { n, false, h, offsetof(type, f), 0, 0 }

/* ---- sources and sinks (atomics of the view) ---- */

static const struct pb_met_field pb_met_source_fields[] = {
	PB_MET_C("source_packets", "Records accepted from the source.", struct pb_source_stats, packets),
	PB_MET_C("source_bytes", "Captured bytes of those records.", struct pb_source_stats, bytes),
	PB_MET_C("source_pcap_received", "Packets the kernel passed to the capture (live).", struct pb_source_stats, pcap_received),
	PB_MET_C("source_pcap_drops", "Packets dropped because the capture ring was full (live).", struct pb_source_stats, pcap_drops),
	PB_MET_C("source_pcap_ifdrops", "Packets dropped by the interface (live).", struct pb_source_stats, pcap_ifdrops),
	PB_MET_C("source_oversize", "Frames above max_frame, rejected.", struct pb_source_stats, oversize),
	PB_MET_C("source_truncated", "Frames cut by the snap length.", struct pb_source_stats, truncated),
	PB_MET_C("source_trailers_ok", "Timestamp trailers that validated.", struct pb_source_stats, trailers_ok),
	PB_MET_C("source_trailer_errors", "Timestamp trailers that did not validate.", struct pb_source_stats, trailer_errors),
	PB_MET_C("source_loops_done", "Completed passes over a file source.", struct pb_source_stats, loops_done),
	PB_MET_C("source_read_errors", "Read errors of the source.", struct pb_source_stats, read_errors),
	PB_MET_C("source_foreign", "Messages a jetstream source skipped (not packetbroker's).", struct pb_source_stats, foreign),
};

static const struct pb_met_field pb_met_sink_fields[] = {
	PB_MET_C("sink_packets", "Records accepted by the sink.", struct pb_sink_stats, packets),
	PB_MET_C("sink_bytes", "Frame bytes of those records.", struct pb_sink_stats, bytes),
	PB_MET_C("sink_written_bytes", "File bytes written, headers included.", struct pb_sink_stats, bytes_written),
	PB_MET_C("sink_write_errors", "Failed writes.", struct pb_sink_stats, write_errors),
	PB_MET_C("sink_files_opened", "Files opened (rotations).", struct pb_sink_stats, files_opened),
	PB_MET_C("sink_files_removed", "Files removed by retention.", struct pb_sink_stats, files_removed),
	PB_MET_C("sink_inject_errors", "Failed injections.", struct pb_sink_stats, inject_errors),
	PB_MET_C("sink_backlog_events", "Times the sink paused the sources.", struct pb_sink_stats, backlog_events),
};

/* Jetstream sinks (struct pb_js_stats); gauges are levels, not totals. */
static const struct pb_met_field pb_met_js_fields[] = {
	PB_MET_G("sink_jetstream_pending_acks", "Messages published, PubAck not yet in.", struct pb_js_stats, pending_acks),
	PB_MET_G("sink_jetstream_buffered_batches", "Batches filling or waiting to be published.", struct pb_js_stats, buffered),
	PB_MET_G("sink_jetstream_last_stream_seq", "Stream sequence of the last PubAck.", struct pb_js_stats, last_stream_seq),
	PB_MET_C("sink_jetstream_messages", "Messages stored (PubAcks).", struct pb_js_stats, messages),
	PB_MET_C("sink_jetstream_records", "Records in those messages.", struct pb_js_stats, records),
	PB_MET_C("sink_jetstream_duplicates", "Records the stream already had, dropped.", struct pb_js_stats, duplicates),
	PB_MET_C("sink_jetstream_errors", "Failed publishes and lookups (each retried).", struct pb_js_stats, errors),
	PB_MET_C("sink_jetstream_lookups", "Resume points read from the stream.", struct pb_js_stats, lookups),
	PB_MET_C("sink_jetstream_late", "Records stored below their subject's high (holes filled).", struct pb_js_stats, late),
	PB_MET_C("sink_jetstream_holes_forgotten", "Holes past the bound; fills below them count as duplicates.", struct pb_js_stats, holes_forgotten),
	PB_MET_G("sink_jetstream_streams", "Origin streams whose state the sink keeps.", struct pb_js_stats, streams),
	PB_MET_C("sink_jetstream_streams_evicted", "Idle origin streams forgotten (max_streams, idle time).", struct pb_js_stats, streams_evicted),
};

#define PB_MET_N(a) (sizeof(a) / sizeof((a)[0]))

/* Sources and sinks alike: a name, counters at offsets, and a state. */
struct pb_met_items {
	const char *label;         /* "source", "sink" */
	const struct pb_met_field *fields;
	size_t nfields;
	size_t n;
	const char *(*name)(const struct pb_view *v, size_t i);
	const void *(*stats)(const struct pb_view *v, size_t i);
	const char *(*state)(const void *stats);
};

static void
pb_met_items(struct pb_met *m, const struct pb_view *v, const struct pb_met_items *it)
{
	char lab[256], fam[64];

	for (size_t f = 0; f < it->nfields; f++) {
		const struct pb_met_field *d = &it->fields[f];

		pb_met_family(m, d->name, "counter", d->help);
		for (size_t i = 0; i < it->n; i++) {
			pb_met_label(m, it->name(v, i), lab, sizeof(lab));
			pb_met_printf(m, "packetbroker_%s{%s=\"%s\"} %llu\n", d->name, it->label,
			    lab, (unsigned long long)pb_counter_get((const pb_counter_t *)
			    (const void *)((const char *)it->stats(v, i) + d->off)));
		}
	}
	snprintf(fam, sizeof(fam), "%s_state", it->label);
	pb_met_family(m, fam, "gauge", "1 for the current state.");
	for (size_t i = 0; i < it->n; i++) {
		pb_met_label(m, it->name(v, i), lab, sizeof(lab));
		pb_met_printf(m, "packetbroker_%s{%s=\"%s\",state=\"%s\"} 1\n", fam, it->label,
		    lab, it->state(it->stats(v, i)));
	}
}

/* Views built before the stats exist read as zero. */
static const struct pb_source_stats pb_met_no_src;
static const struct pb_sink_stats pb_met_no_sink;

static const char *
pb_met_src_name(const struct pb_view *v, size_t i)
{
	return v->sources[i].name;
}

static const void *
pb_met_src_stats(const struct pb_view *v, size_t i)
{
	return v->sources[i].stats != NULL ? (const void *)v->sources[i].stats :
	    (const void *)&pb_met_no_src;
}

static const char *
pb_met_src_state(const void *st)
{
	return pb_source_state_name(atomic_load_explicit(
	    &((const struct pb_source_stats *)st)->state, memory_order_relaxed));
}

static const char *
pb_met_sink_name(const struct pb_view *v, size_t i)
{
	return v->sinks[i].name;
}

static const void *
pb_met_sink_stats(const struct pb_view *v, size_t i)
{
	return v->sinks[i].stats != NULL ? (const void *)v->sinks[i].stats :
	    (const void *)&pb_met_no_sink;
}

static const char *
pb_met_sink_state(const void *st)
{
	return pb_sink_state_name(atomic_load_explicit(
	    &((const struct pb_sink_stats *)st)->state, memory_order_relaxed));
}

/* The jetstream sinks' connections and PubAck counters ({sink="name"});
 * families are written only when the node has such a sink. */
static void
pb_met_js(struct pb_met *m, const struct pb_view *v)
{
	char lab[256];
	size_t njs = 0;

	for (size_t i = 0; i < v->nsinks; i++)
		njs += v->sinks[i].js != NULL;
	if (njs == 0)
		return;
	for (size_t f = 0; f < PB_MET_N(pb_met_js_fields); f++) {
		const struct pb_met_field *d = &pb_met_js_fields[f];

		pb_met_family(m, d->name, d->counter ? "counter" : "gauge", d->help);
		for (size_t i = 0; i < v->nsinks; i++) {
			if (v->sinks[i].js == NULL)
				continue;
			pb_met_label(m, v->sinks[i].name, lab, sizeof(lab));
			pb_met_printf(m, "packetbroker_%s{sink=\"%s\"} %llu\n", d->name, lab,
			    (unsigned long long)pb_counter_get((const pb_counter_t *)(const void *)
			    ((const char *)v->sinks[i].js + d->off)));
		}
	}
	pb_met_family(m, "sink_jetstream_connection_state", "gauge",
	    "1 for the connection's current state.");
	for (size_t i = 0; i < v->nsinks; i++) {
		if (v->sinks[i].js == NULL)
			continue;
		pb_met_label(m, v->sinks[i].name, lab, sizeof(lab));
		pb_met_printf(m, "packetbroker_sink_jetstream_connection_state{sink=\"%s\",state=\"%s\"} 1\n",
		    lab, pb_js_state_name(atomic_load_explicit(&v->sinks[i].js->state,
		    memory_order_relaxed)));
	}
}

static void
pb_met_view(struct pb_met *m, const struct pb_view *v)
{
	const struct pb_met_items src = {
		"source", pb_met_source_fields, PB_MET_N(pb_met_source_fields), v->nsources,
		pb_met_src_name, pb_met_src_stats, pb_met_src_state,
	};
	const struct pb_met_items sink = {
		"sink", pb_met_sink_fields, PB_MET_N(pb_met_sink_fields), v->nsinks,
		pb_met_sink_name, pb_met_sink_stats, pb_met_sink_state,
	};

	pb_met_items(m, v, &src);
	pb_met_items(m, v, &sink);
	pb_met_js(m, v);
}

/* ---- peers (the engine's snapshot) ---- */

#define PB_MET_PC(n, h, f, dir) { "peer_" n "_total", true, h, offsetof(struct pb_peer_snap, f), 0, dir }
#define PB_MET_PG(n, h, f, dir, sc) { "peer_" n, false, h, offsetof(struct pb_peer_snap, f), sc, dir }

static const struct pb_met_field pb_met_peer_fields[] = {
	PB_MET_PC("reconnects", "Connections lost and re-established.", reconnects, 0),
	PB_MET_PC("auth_failures", "Failed authentications on the link.", auth_failures, 0),
	PB_MET_PC("protocol_errors", "Protocol errors on the link.", protocol_errors, 0),
	PB_MET_PG("rtt_seconds", "Round-trip time of the link (0: not measured).", rtt_ns, 0, 1e-9),
	PB_MET_PC("records_sent", "Records sent to the peer.", records_sent, 1),
	PB_MET_PC("sent_bytes", "Bytes of records sent to the peer.", bytes_sent, 1),
	PB_MET_PC("records_acked", "Records the peer acknowledged.", records_acked, 1),
	PB_MET_PC("acked_bytes", "Bytes the peer acknowledged.", bytes_acked, 1),
	PB_MET_PG("in_flight_records", "Records sent, not yet acknowledged.", in_flight, 1, 0),
	PB_MET_PG("in_flight_bytes", "Bytes sent, not yet acknowledged.", in_flight_bytes, 1, 0),
	PB_MET_PC("records_resent", "Records sent again after a reconnect.", resent, 1),
	PB_MET_PC("records_to_dlq", "Records moved to the dead-letter queue.", to_dlq, 1),
	PB_MET_PC("records_dlq_refused", "Records the dead-letter queue refused (lost).", dlq_refused, 1),
	PB_MET_PC("records_replayed", "Records replayed from the dead-letter queue.", replayed, 1),
	PB_MET_PG("buffer_used_bytes", "Resend buffer in use.", buffer_used, 1, 0),
	PB_MET_PG("buffer_capacity_bytes", "Resend buffer size.", buffer_capacity, 1, 0),
	PB_MET_PG("oldest_unacked_age_seconds", "Age of the oldest unacknowledged record.", oldest_unacked_age_ms, 1, 1e-3),
	PB_MET_PC("records_received", "Records received from the peer.", records_received, 2),
	PB_MET_PC("received_bytes", "Bytes of records received from the peer.", bytes_received, 2),
	PB_MET_PC("link_duplicates", "Records received twice on the link.", link_duplicates, 2),
	PB_MET_PC("link_lost", "Link sequence numbers announced lost.", link_lost, 2),
	PB_MET_PC("origin_duplicates", "Records already received from their origin.", origin_duplicates, 2),
	PB_MET_PC("loops", "Records dropped because they looped.", loops, 2),
	PB_MET_PC("hop_limit", "Records dropped at the hop limit.", hop_limit, 2),
	PB_MET_PC("dlq_announced", "Records the peer announced it moved to its DLQ.", dlq_announced, 2),
};

static void
pb_met_peers(struct pb_met *m, struct pb_pubstate *b)
{
	struct pb_api_tunnel_counters tc = { 0 };
	struct pb_peer_snap *p = NULL;
	uint64_t generated = 0;
	size_t n = 0;
	char lab[256];

	if (b != NULL && pb_api_peers_copy(b, &p, &n, &generated, &tc) < 0) {
		m->failed = true;
		return;
	}
	pb_met_family(m, "peer_up", "gauge", "1 when the link to the peer is up (or slow).");
	for (size_t i = 0; i < n; i++) {
		int st = pb_fmt_link_state(p[i].state);

		pb_met_label(m, p[i].name, lab, sizeof(lab));
		pb_met_printf(m, "packetbroker_peer_up{peer=\"%s\",direction=\"%s\"} %d\n", lab,
		    p[i].direction, st == PB_LINK_STATE_UP || st == PB_LINK_STATE_SLOW);
	}
	pb_met_family(m, "peer_state", "gauge", "1 for the link's current state.");
	for (size_t i = 0; i < n; i++) {
		pb_met_label(m, p[i].name, lab, sizeof(lab));
		pb_met_printf(m, "packetbroker_peer_state{peer=\"%s\",state=\"%s\"} 1\n", lab,
		    pb_fmt_link_state_name(pb_fmt_link_state(p[i].state)));
	}
	for (size_t f = 0; f < PB_MET_N(pb_met_peer_fields); f++) {
		const struct pb_met_field *d = &pb_met_peer_fields[f];

		pb_met_family(m, d->name, d->counter ? "counter" : "gauge", d->help);
		for (size_t i = 0; i < n; i++) {
			bool down = strcmp(p[i].direction, "downstream") == 0;
			uint64_t v;

			if ((d->direction == 1 && !down) || (d->direction == 2 && down))
				continue;
			memcpy(&v, (const char *)&p[i] + d->off, sizeof(v));
			pb_met_label(m, p[i].name, lab, sizeof(lab));
			if (d->scale != 0)
				pb_met_printf(m, "packetbroker_%s{peer=\"%s\"} %.9g\n", d->name, lab,
				    (double)v * d->scale);
			else
				pb_met_printf(m, "packetbroker_%s{peer=\"%s\"} %llu\n", d->name, lab,
				    (unsigned long long)v);
		}
	}
	free(p);
	if (b == NULL)
		return;
	pb_met_family(m, "tunnel_loops_dropped_total", "counter", "Records dropped as loops.");
	pb_met_printf(m, "packetbroker_tunnel_loops_dropped_total %llu\n",
	    (unsigned long long)tc.loops_dropped);
	pb_met_family(m, "tunnel_hop_limit_dropped_total", "counter",
	    "Records dropped at the hop limit.");
	pb_met_printf(m, "packetbroker_tunnel_hop_limit_dropped_total %llu\n",
	    (unsigned long long)tc.hop_limit_dropped);
	pb_met_family(m, "tunnel_origin_duplicates_total", "counter",
	    "Records dropped as duplicates of their origin stream.");
	pb_met_printf(m, "packetbroker_tunnel_origin_duplicates_total %llu\n",
	    (unsigned long long)tc.origin_duplicates);
	pb_met_family(m, "tunnel_link_records_total", "counter", "Records received on links.");
	pb_met_printf(m, "packetbroker_tunnel_link_records_total %llu\n",
	    (unsigned long long)tc.link_records);
	pb_met_family(m, "tunnel_auth_failures_total", "counter",
	    "Failed authentications of accepted connections.");
	pb_met_printf(m, "packetbroker_tunnel_auth_failures_total %llu\n",
	    (unsigned long long)tc.auth_failures);
	pb_met_family(m, "tunnel_protocol_errors_total", "counter",
	    "Protocol errors of accepted connections.");
	pb_met_printf(m, "packetbroker_tunnel_protocol_errors_total %llu\n",
	    (unsigned long long)tc.protocol_errors);
	pb_met_family(m, "tunnel_refused_total", "counter",
	    "Messages or connections refused, by the rule they broke.");
#define PB_MET_REF(f) pb_met_printf(m, "packetbroker_tunnel_refused_total{reason=\"" #f \
	"\"} %llu\n", (unsigned long long)tc.refused.f)
	PB_MET_REF(ack_ahead);
	PB_MET_REF(resume_ahead);
	PB_MET_REF(notice_invalid);
	PB_MET_REF(seq_wrap);
	PB_MET_REF(seq_jump);
	PB_MET_REF(origin_unbound);
	PB_MET_REF(stream_owned);
	PB_MET_REF(unknown_node);
	PB_MET_REF(undeclared_consumer);
	PB_MET_REF(preauth_limit);
	PB_MET_REF(node_cap);
	PB_MET_REF(source_cap);
	PB_MET_REF(rename);
	PB_MET_REF(unexpected);
#undef PB_MET_REF
}

/* ---- gaps per origin source ---- */

static const struct pb_met_field pb_met_origin_fields[] = {
	PB_MET_C("origin_records_received", "Distinct records received from the origin source.", struct pb_gaps_stream_info, received),
	PB_MET_C("origin_records_duplicate", "Duplicate records from the origin source.", struct pb_gaps_stream_info, duplicates),
	PB_MET_C("origin_records_filled", "Records that arrived late and filled a gap.", struct pb_gaps_stream_info, filled),
	PB_MET_C("origin_gap_events", "Gaps opened (a record ahead of the expected one).", struct pb_gaps_stream_info, gap_events),
	PB_MET_C("origin_gap_records", "Sequence numbers ever declared missing.", struct pb_gaps_stream_info, gap_seqs),
	PB_MET_G("origin_missing_records", "Sequence numbers missing now.", struct pb_gaps_stream_info, missing_total),
	PB_MET_G("origin_missing_ranges", "Ranges of missing sequence numbers now.", struct pb_gaps_stream_info, nranges_total),
};

static uint64_t
pb_met_stream_value(const struct pb_gaps_stream_info *s, const struct pb_met_field *d)
{
	if (d->off == offsetof(struct pb_gaps_stream_info, nranges_total))
		return s->nranges_total;
	uint64_t v;

	memcpy(&v, (const char *)s + d->off, sizeof(v));
	return v;
}

static void
pb_met_gaps(struct pb_met *m, struct pb_pubstate *b)
{
	struct pb_gaps_snapshot *snap = b != NULL ? pb_pubstate_gaps(b) : NULL;

	for (size_t f = 0; f < PB_MET_N(pb_met_origin_fields); f++) {
		const struct pb_met_field *d = &pb_met_origin_fields[f];

		pb_met_family(m, d->name, d->counter ? "counter" : "gauge", d->help);
		/* Streams are sorted by (node, source, epoch): sum each run. */
		for (uint32_t i = 0; snap != NULL && i < snap->nstreams;) {
			const struct pb_gaps_stream_info *s = &snap->streams[i];
			uint64_t sum = 0;

			for (; i < snap->nstreams && snap->streams[i].node == s->node &&
			    snap->streams[i].source == s->source; i++)
				sum += pb_met_stream_value(&snap->streams[i], d);
			pb_met_printf(m, "packetbroker_%s{origin=\"%u/%u\"} %llu\n", d->name,
			    s->node, (unsigned int)s->source, (unsigned long long)sum);
		}
	}
	if (snap == NULL)
		return;
	pb_met_family(m, "gaps_streams", "gauge", "Origin streams tracked.");
	pb_met_printf(m, "packetbroker_gaps_streams %llu\n",
	    (unsigned long long)snap->totals.streams);
	pb_met_family(m, "gaps_invalid_total", "counter", "Records with an invalid sequence number.");
	pb_met_printf(m, "packetbroker_gaps_invalid_total %llu\n",
	    (unsigned long long)snap->totals.invalid);
	pb_met_family(m, "gaps_streams_rejected_total", "counter",
	    "Records of streams not tracked (stream table full).");
	pb_met_printf(m, "packetbroker_gaps_streams_rejected_total %llu\n",
	    (unsigned long long)snap->totals.streams_rejected);
	pb_gaps_snapshot_put(snap);
}

/* ---- DLQ and replay jobs ---- */

static const struct pb_met_field pb_met_dlq_fields[] = {
	PB_MET_G("dlq_records", "Records in the dead-letter queue.", struct pb_dlq_stats_snapshot, rows),
	PB_MET_G("dlq_bytes", "Accounted bytes in the dead-letter queue.", struct pb_dlq_stats_snapshot, bytes),
	PB_MET_G("dlq_max_bytes", "Accounted bytes cap (dlq.max_mb; 0: none).", struct pb_dlq_stats_snapshot, max_bytes),
	PB_MET_G("dlq_queued_records", "Records accepted, not committed yet.", struct pb_dlq_stats_snapshot, queued),
	PB_MET_G("dlq_queued_bytes", "Bytes accepted, not committed yet.", struct pb_dlq_stats_snapshot, queued_bytes),
	PB_MET_C("dlq_inserted", "Records committed to the DLQ.", struct pb_dlq_stats_snapshot, inserted),
	PB_MET_C("dlq_duplicates", "Records already in the DLQ.", struct pb_dlq_stats_snapshot, duplicates),
	PB_MET_C("dlq_fetched", "Records read back for replays.", struct pb_dlq_stats_snapshot, fetched),
	PB_MET_C("dlq_deleted", "Records deleted (replayed or purged).", struct pb_dlq_stats_snapshot, deleted),
	PB_MET_C("dlq_commits", "Transactions committed.", struct pb_dlq_stats_snapshot, commits),
	PB_MET_C("dlq_errors", "Failed DLQ operations.", struct pb_dlq_stats_snapshot, errors),
};

static void
pb_met_dlq(struct pb_met *m, struct pb_pubstate *b)
{
	struct pb_dlq_stats_snapshot st;
	struct pb_replay_job *jobs;
	uint64_t count[4] = { 0 };

	if (b == NULL || !pb_pubstate_dlq_stats(b, &st))
		return;
	for (size_t f = 0; f < PB_MET_N(pb_met_dlq_fields); f++) {
		const struct pb_met_field *d = &pb_met_dlq_fields[f];
		uint64_t v;

		memcpy(&v, (const char *)&st + d->off, sizeof(v));
		pb_met_family(m, d->name, d->counter ? "counter" : "gauge", d->help);
		pb_met_printf(m, "packetbroker_%s %llu\n", d->name, (unsigned long long)v);
	}
	pb_met_family(m, "dlq_refused_total", "counter",
	    "Records the DLQ refused since start, by reason.");
	pb_met_printf(m, "packetbroker_dlq_refused_total{reason=\"full\"} %llu\n"
	    "packetbroker_dlq_refused_total{reason=\"queue\"} %llu\n",
	    (unsigned long long)st.refused_full, (unsigned long long)st.refused_queue);
	if ((jobs = malloc(sizeof(b->jobs))) == NULL) {
		m->failed = true;
		return;
	}
	pthread_mutex_lock(&b->lock);
	memcpy(jobs, b->jobs, sizeof(b->jobs));
	pthread_mutex_unlock(&b->lock);
	for (size_t i = 0; i < PB_REPLAY_JOBS; i++)
		if (jobs[i].id != 0 && jobs[i].state >= 0 && jobs[i].state < 4)
			count[jobs[i].state]++;
	free(jobs);
	pb_met_family(m, "dlq_replay_jobs", "gauge", "Replay jobs in the table, by state.");
	for (int s = 0; s < 4; s++)
		pb_met_printf(m, "packetbroker_dlq_replay_jobs{state=\"%s\"} %llu\n",
		    pb_replay_state_name(s), (unsigned long long)count[s]);
}

/* ---- the API itself ---- */

static void
pb_met_api(struct pb_met *m, struct pb_api *api)
{
	static const struct {
		const char *reason;
		size_t off;
	} refused[] = {
		{ "unauthorized", offsetof(struct pb_api, unauthorized) },
		{ "forbidden", offsetof(struct pb_api, forbidden) },
		{ "unsupported_media_type", offsetof(struct pb_api, unsupported_media_type) },
		{ "conflict", offsetof(struct pb_api, conflicts) },
		{ "too_many", offsetof(struct pb_api, too_many) },
		{ "rate_limited", offsetof(struct pb_api, rate_limited) },
	};

	pb_met_family(m, "api_requests_total", "counter", "Requests the REST API received.");
	pb_met_printf(m, "packetbroker_api_requests_total %llu\n", (unsigned long long)
	    atomic_load_explicit(&api->requests, memory_order_relaxed));
	pb_met_family(m, "api_responses_total", "counter", "Responses by HTTP status.");
	for (size_t i = 0; i < PB_API_NSTATUS; i++) {
		uint64_t v = atomic_load_explicit(&api->responses[i], memory_order_relaxed);

		if (pb_api_counted_status[i] != 0)
			pb_met_printf(m, "packetbroker_api_responses_total{code=\"%u\"} %llu\n",
			    pb_api_counted_status[i], (unsigned long long)v);
		else
			pb_met_printf(m, "packetbroker_api_responses_total{code=\"other\"} %llu\n",
			    (unsigned long long)v);
	}
	pb_met_family(m, "api_refused_total", "counter", "Requests refused, by reason.");
	for (size_t i = 0; i < PB_MET_N(refused); i++)
		pb_met_printf(m, "packetbroker_api_refused_total{reason=\"%s\"} %llu\n",
		    refused[i].reason, (unsigned long long)atomic_load_explicit(
		    (_Atomic uint64_t *)(void *)((char *)api + refused[i].off),
		    memory_order_relaxed));
	pb_met_family(m, "api_connections_refused_total", "counter",
	    "Connections closed at api.max_connections or max_connections_per_ip.");
	pb_met_printf(m, "packetbroker_api_connections_refused_total %llu\n",
	    (unsigned long long)atomic_load_explicit(&api->over_limit, memory_order_relaxed));
}

/* GET /metrics */
unsigned int
pb_api_get_metrics(const struct pb_api_req *req, json_t **body)
{
	const struct pb_view *v = req->view;
	struct pb_met m = { .cap = PB_MET_INITIAL };
	struct MHD_Response *resp;
	char lab[256], ver[64];

	if ((m.buf = malloc(m.cap)) == NULL) {
		*body = NULL;
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	pb_met_label(&m, v->node_name, lab, sizeof(lab));
	pb_met_label(&m, v->version != NULL ? v->version : PACKAGE_VERSION, ver, sizeof(ver));
	pb_met_family(&m, "info", "gauge", "The node: always 1, its identity in the labels.");
	pb_met_printf(&m, "packetbroker_info{node_id=\"%u\",node=\"%s\",version=\"%s\"} 1\n",
	    v->node_id, lab, ver);
	pb_met_family(&m, "start_time_seconds", "gauge", "When the daemon started, Unix time.");
	pb_met_printf(&m, "packetbroker_start_time_seconds %.3f\n",
	    (double)v->started_real_ns / 1e9);
	pb_met_view(&m, v);
	pb_met_peers(&m, v->pubstate);
	pb_met_gaps(&m, v->pubstate);
	pb_met_dlq(&m, v->pubstate);
	pb_met_api(&m, req->api);
	if (m.failed || (resp = MHD_create_response_from_buffer(m.len, m.buf,
	    MHD_RESPMEM_MUST_FREE)) == NULL) {
		free(m.buf);
		*body = NULL;
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "text/plain; version=0.0.4; charset=utf-8");
	*req->raw = resp;
	return MHD_HTTP_OK;
}
