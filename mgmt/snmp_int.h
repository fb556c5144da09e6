/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_SNMP_INT_H
#define PB_SNMP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pubstate.h"
#include "gaps.h"
#include "mgmt_snap.h"
#include "view.h"

/*
 * Internal to the SNMP agent, and free of net-snmp so that unit tests can
 * drive it: snmp_model.c copies what the engine published into a
 * pb_snmp_data and lays it out as the sorted list of PACKETBROKER-MIB
 * instances (pb_snmp_model); snmp_track.c numbers peers and decides, by
 * comparing consecutive data, which notifications to send. snmp_agent.c
 * is the net-snmp side.
 */

/* packetbrokerMIB: 1.3.6.1.4.1.32473.7152 (RFC 5612 documentation PEN until
 * packetbroker has its own; see mibs/PACKETBROKER-MIB.txt). */
#define PB_SNMP_ROOT 1, 3, 6, 1, 4, 1, 32473, 7152
#define PB_SNMP_ROOT_LEN 8

/* Sub-identifiers below the root: notifications and objects. */
#define PB_SNMP_NOTIFS 0
#define PB_SNMP_OBJECTS 1
enum { PB_SNMP_N_PEER_DOWN = 1, PB_SNMP_N_PEER_UP, PB_SNMP_N_GAP, PB_SNMP_N_DLQ };
enum { PB_SNMP_NODE = 1, PB_SNMP_TOTALS, PB_SNMP_SOURCES, PB_SNMP_PEERS, PB_SNMP_GAPS };
enum {
	PB_SNMP_NODE_ID = 1, PB_SNMP_NODE_NAME, PB_SNMP_NODE_DESCR, PB_SNMP_VERSION,
	PB_SNMP_UPTIME, PB_SNMP_EPOCH, PB_SNMP_NODE_LAST = PB_SNMP_EPOCH
};
enum {
	PB_SNMP_T_CAPTURED = 1, PB_SNMP_T_FORWARDED, PB_SNMP_T_DELIVERED, PB_SNMP_T_DROPS,
	PB_SNMP_T_DLQ_DEPTH, PB_SNMP_T_DLQ_BYTES, PB_SNMP_T_DLQ_REFUSALS,
	PB_SNMP_T_DLQ_THRESHOLD, PB_SNMP_T_LAST = PB_SNMP_T_DLQ_THRESHOLD
};
enum {
	PB_SNMP_S_NAME = 2, PB_SNMP_S_KIND, PB_SNMP_S_STATE, PB_SNMP_S_RECORDS,
	PB_SNMP_S_BYTES, PB_SNMP_S_DROPS, PB_SNMP_S_IFDROPS, PB_SNMP_S_OVERSIZE,
	PB_SNMP_S_TRAILER_ERRORS, PB_SNMP_S_LAST = PB_SNMP_S_TRAILER_ERRORS
};
enum {
	PB_SNMP_P_NAME = 2, PB_SNMP_P_DIRECTION, PB_SNMP_P_ADDRESS, PB_SNMP_P_STATE,
	PB_SNMP_P_NODE_ID, PB_SNMP_P_NODE_NAME, PB_SNMP_P_RECORDS_SENT,
	PB_SNMP_P_BYTES_SENT, PB_SNMP_P_RECORDS_ACKED, PB_SNMP_P_RECORDS_RECEIVED,
	PB_SNMP_P_BYTES_RECEIVED, PB_SNMP_P_IN_FLIGHT, PB_SNMP_P_RESENT,
	PB_SNMP_P_TO_DLQ, PB_SNMP_P_RTT, PB_SNMP_P_RECONNECTS, PB_SNMP_P_LAST_CHANGE,
	PB_SNMP_P_LAST_ERROR, PB_SNMP_P_LAST = PB_SNMP_P_LAST_ERROR
};
enum {
	PB_SNMP_G_NAME = 4, PB_SNMP_G_MISSING, PB_SNMP_G_RANGES, PB_SNMP_G_DUPLICATES,
	PB_SNMP_G_RECEIVED, PB_SNMP_G_FILLED, PB_SNMP_G_EVENTS, PB_SNMP_G_LAST = PB_SNMP_G_EVENTS
};

/* The longest instance suffix: objects.gaps.entry.column.node.source.epoch[8]. */
#define PB_SNMP_SUFFIX_MAX 16
/* The gap table index: node, source, then the epoch's 8 bytes, big endian. */
#define PB_SNMP_GAP_INDEX_LEN 10

/* Value types, mapped to ASN.1 types by snmp_agent.c. */
enum pb_snmp_type {
	PB_SNMP_INTEGER = 1, /* enumerations */
	PB_SNMP_UNSIGNED,    /* Unsigned32 */
	PB_SNMP_GAUGE,       /* Gauge32 */
	PB_SNMP_TIMETICKS,
	PB_SNMP_COUNTER64,   /* Counter64 and CounterBasedGauge64 */
	PB_SNMP_STRING,      /* str, slen bytes */
	PB_SNMP_RUN_EPOCH,   /* PbRunEpoch: num as 8 bytes, big endian */
};

struct pb_snmp_var {
	uint32_t oid[PB_SNMP_SUFFIX_MAX]; /* below the root */
	uint8_t len;
	uint8_t type;                     /* enum pb_snmp_type */
	uint64_t num;
	const char *str;                  /* points into the pb_snmp_data it came from */
	size_t slen;
};

/* One capture source, copied from the view's atomics. */
struct pb_snmp_source {
	const char *name;                 /* the view's (immutable) */
	int kind;                         /* 1 live, 2 file */
	int state;                        /* enum pb_source_state + 1 */
	uint64_t records, bytes, drops, ifdrops, oversize, trailer_errors;
};

/* Everything one answer or one comparison needs, copied at one moment. */
struct pb_snmp_data {
	uint64_t mono_ns;                 /* when it was read */
	uint32_t uptime_cs;               /* pbUptime */
	struct pb_mgmt_totals totals;
	size_t nsources;
	struct pb_snmp_source *sources;
	size_t npeers;
	struct pb_peer_snap *peers;       /* copy, malloc'ed */
	int *peer_state;                  /* enum pb_link_state_code per peer */
	struct pb_gaps_snapshot *gaps;    /* a reference, or NULL */
};

/* snmp_model.c. 0, or -1 on allocation failure (d then empty). */
int pb_snmp_data_load(const struct pb_view *v, struct pb_snmp_data *d);
void pb_snmp_data_free(struct pb_snmp_data *d);

/* A peer as the agent knows it, by name, for the index and notifications. */
struct pb_snmp_peer {
	char name[64];
	uint32_t index;                   /* pbPeerIndex, never reused */
	int state;                        /* enum pb_link_state_code last seen */
	uint32_t last_change_cs;          /* pbPeerLastChange */
	bool present;                     /* in the latest data */
	bool fresh;                       /* inserted by this comparison */
	char address[192];                /* as last seen, for a vanished peer's trap */
	char last_error[256];
};

#define PB_SNMP_PEERS_MAX 4096 /* names remembered; absent ones are forgotten beyond */
#define PB_SNMP_GAP_EVENTS_MAX 8 /* pbGapDetected per comparison */

enum pb_snmp_event_type {
	PB_SNMP_EV_PEER_DOWN = 1,
	PB_SNMP_EV_PEER_UP,
	PB_SNMP_EV_GAP,                   /* stream: index into data->gaps->streams */
	PB_SNMP_EV_DLQ,
};

struct pb_snmp_event {
	int type;
	size_t peer;                      /* index into pb_snmp_tracker.peers */
	size_t stream;
};

struct pb_snmp_tracker {
	struct pb_snmp_peer *peers;       /* sorted by name */
	size_t npeers, cap;
	uint32_t next_index;
	bool started;                     /* a first data was seen */
	uint64_t dlq_threshold;           /* 0 = off */
	bool dlq_armed;                   /* depth fell below 90% since the last one */
	uint64_t gap_suppressed;          /* pbGapDetected left out (cap), since start */
	struct pb_snmp_event *events;     /* of the last pb_snmp_track() */
	size_t nevents, events_cap;
};

/* snmp_track.c */
void pb_snmp_tracker_init(struct pb_snmp_tracker *t, uint64_t dlq_threshold);
void pb_snmp_tracker_free(struct pb_snmp_tracker *t);
/*
 * Brings the peer table up to date with cur and lists in t->events what
 * changed since prev (NULL: the first data, which sets the baseline and
 * sends nothing but a DLQ already above its threshold). 0, or -1 on
 * allocation failure (events may be incomplete).
 */
int pb_snmp_track(struct pb_snmp_tracker *t, const struct pb_snmp_data *prev,
    const struct pb_snmp_data *cur);
/* The tracked peer of that name, or NULL. */
const struct pb_snmp_peer *pb_snmp_tracker_find(const struct pb_snmp_tracker *t,
    const char *name);

/* snmp_model.c: the MIB's instances in OID order. */
struct pb_snmp_model {
	struct pb_snmp_var *vars;
	size_t n, cap;
	char (*origin_names)[64];         /* per gap stream */
};

/* 0, or -1 on allocation failure. The model points into d, v and t. */
int pb_snmp_model_build(struct pb_snmp_model *m, const struct pb_view *v,
    const struct pb_snmp_data *d, const struct pb_snmp_tracker *t);
void pb_snmp_model_free(struct pb_snmp_model *m);
/* -1, 0, 1 like memcmp, a prefix before what it prefixes. */
int pb_snmp_oid_cmp(const uint32_t *a, size_t alen, const uint32_t *b, size_t blen);
/* The instance at exactly this suffix, or NULL. */
const struct pb_snmp_var *pb_snmp_model_get(const struct pb_snmp_model *m,
    const uint32_t *oid, size_t len);
/* The first instance after this suffix (GETNEXT), or NULL. */
const struct pb_snmp_var *pb_snmp_model_next(const struct pb_snmp_model *m,
    const uint32_t *oid, size_t len);

/* The gap table index of a stream; returns PB_SNMP_GAP_INDEX_LEN. */
size_t pb_snmp_gap_index(uint32_t node, uint16_t source, uint64_t epoch, uint32_t *out);
/* Back again; 0, or -1 when it is not a valid index. */
int pb_snmp_gap_index_parse(const uint32_t *in, size_t len, uint32_t *node,
    uint16_t *source, uint64_t *epoch);

/* One notification object's instance, for snmp_agent.c's varbinds. */
void pb_snmp_peer_var(const struct pb_snmp_peer *p, int column, struct pb_snmp_var *out);
void pb_snmp_gap_var(const struct pb_gaps_stream_info *s, const char *name, int column,
    struct pb_snmp_var *out);
void pb_snmp_scalar_var(int group, int id, uint64_t value, struct pb_snmp_var *out);

#endif
