/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <stdlib.h>
#include <inttypes.h>
#include <string.h>

#include "log.h"
#include "snmp_int.h"

/*
 * Notifications without touching the engine: the SNMP thread compares
 * each copy of the published state with the previous one. It also numbers
 * the peers (pbPeerIndex) by name, so that a row keeps its index while
 * other peers come and go, and remembers when each changed state.
 */

void
pb_snmp_tracker_init(struct pb_snmp_tracker *t, uint64_t dlq_threshold)
{
	memset(t, 0, sizeof(*t));
	t->next_index = 1;
	t->dlq_threshold = dlq_threshold;
	t->dlq_armed = true;
}

void
pb_snmp_tracker_free(struct pb_snmp_tracker *t)
{
	free(t->peers);
	free(t->events);
	memset(t, 0, sizeof(*t));
}

/* Where name is, or would be inserted. */
static size_t
pb_snmp_peer_pos(const struct pb_snmp_tracker *t, const char *name, bool *found)
{
	size_t lo = 0, hi = t->npeers;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(t->peers[mid].name, name);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct pb_snmp_peer *
pb_snmp_tracker_find(const struct pb_snmp_tracker *t, const char *name)
{
	bool found;
	size_t i = pb_snmp_peer_pos(t, name, &found);

	return found ? &t->peers[i] : NULL;
}

static int
pb_snmp_event(struct pb_snmp_tracker *t, int type, size_t peer, size_t stream)
{
	if (t->nevents == t->events_cap) {
		size_t cap = t->events_cap != 0 ? t->events_cap * 2 : 16;
		struct pb_snmp_event *ne = realloc(t->events, cap * sizeof(*ne));

		if (ne == NULL)
			return -1;
		t->events = ne;
		t->events_cap = cap;
	}
	t->events[t->nevents++] = (struct pb_snmp_event){
		.type = type, .peer = peer, .stream = stream,
	};
	return 0;
}

/* Drops names that are gone once more than PB_SNMP_PEERS_MAX are known. */
static void
pb_snmp_forget(struct pb_snmp_tracker *t)
{
	size_t k = 0;

	if (t->npeers < PB_SNMP_PEERS_MAX)
		return;
	for (size_t i = 0; i < t->npeers; i++)
		if (t->peers[i].present)
			t->peers[k++] = t->peers[i];
	t->npeers = k;
}

/* The tracked entry of peer p (inserted when new); NULL on allocation failure
 * or when every index is used. *is_new when inserted. */
static struct pb_snmp_peer *
pb_snmp_peer_get(struct pb_snmp_tracker *t, const struct pb_peer_snap *p, bool *is_new)
{
	bool found;
	size_t i = pb_snmp_peer_pos(t, p->name, &found);

	*is_new = !found;
	if (found)
		return &t->peers[i];
	if (t->next_index == 0)
		return NULL; /* 2^32 - 1 names in one run */
	if (t->npeers == t->cap) {
		size_t cap = t->cap != 0 ? t->cap * 2 : 16;
		struct pb_snmp_peer *np = realloc(t->peers, cap * sizeof(*np));

		if (np == NULL)
			return NULL;
		t->peers = np;
		t->cap = cap;
	}
	memmove(&t->peers[i + 1], &t->peers[i], (t->npeers - i) * sizeof(t->peers[0]));
	t->npeers++;
	memset(&t->peers[i], 0, sizeof(t->peers[i]));
	memcpy(t->peers[i].name, p->name, strnlen(p->name, sizeof(p->name) - 1));
	t->peers[i].index = t->next_index++;
	t->peers[i].state = PB_LINK_STATE_UNKNOWN;
	return &t->peers[i];
}

static void
pb_snmp_copy(char *dst, size_t dstlen, const char *src)
{
	size_t n = strnlen(src, dstlen - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Whether cur lists a peer of this name. */
static bool
pb_snmp_cur_has(const struct pb_snmp_data *cur, const char *name)
{
	for (size_t i = 0; i < cur->npeers; i++)
		if (strcmp(cur->peers[i].name, name) == 0)
			return true;
	return false;
}

/*
 * An accepted upstream is named "node<id>" until its node announces its
 * name, then by that name: the same peer (same row, pbPeerIndex and state,
 * no pbPeerDown/pbPeerUp pair), renamed. The entry moves to the new
 * name's place in the sorted array.
 */
static void
pb_snmp_track_renames(struct pb_snmp_tracker *t, const struct pb_snmp_data *cur)
{
	for (size_t i = 0; i < cur->npeers; i++) {
		const struct pb_peer_snap *p = &cur->peers[i];
		char old[sizeof(t->peers[0].name)];
		bool found;
		size_t from, to;

		if (p->node_id == 0 || strcmp(p->direction, "upstream") != 0 ||
		    pb_snmp_tracker_find(t, p->name) != NULL)
			continue;
		snprintf(old, sizeof(old), "node%" PRIu32, p->node_id);
		from = pb_snmp_peer_pos(t, old, &found);
		if (!found || strcmp(old, p->name) == 0 || pb_snmp_cur_has(cur, old) ||
		    strcmp(t->peers[from].address, p->address) != 0)
			continue;
		struct pb_snmp_peer e = t->peers[from];
		memmove(&t->peers[from], &t->peers[from + 1],
		    (t->npeers - from - 1) * sizeof(t->peers[0]));
		t->npeers--;
		to = pb_snmp_peer_pos(t, p->name, &found);
		memmove(&t->peers[to + 1], &t->peers[to], (t->npeers - to) * sizeof(t->peers[0]));
		pb_snmp_copy(e.name, sizeof(e.name), p->name);
		t->peers[to] = e;
		t->npeers++;
	}
}

static int
pb_snmp_track_peers(struct pb_snmp_tracker *t, const struct pb_snmp_data *cur)
{
	int rc = 0;

	pb_snmp_forget(t);
	for (size_t i = 0; i < t->npeers; i++)
		t->peers[i].present = false;
	pb_snmp_track_renames(t, cur);
	/* Insert first: events then name entries that no longer move. */
	for (size_t i = 0; i < cur->npeers; i++) {
		bool is_new;
		struct pb_snmp_peer *e = pb_snmp_peer_get(t, &cur->peers[i], &is_new);

		if (e == NULL)
			rc = -1;
		else if (is_new)
			e->fresh = true;
	}
	for (size_t i = 0; i < cur->npeers; i++) {
		const struct pb_peer_snap *p = &cur->peers[i];
		int state = cur->peer_state[i];
		struct pb_snmp_peer *e = (struct pb_snmp_peer *)pb_snmp_tracker_find(t, p->name);
		bool is_new;

		if (e == NULL || e->present)
			continue; /* the same name twice: the first one counts */
		is_new = e->fresh;
		e->fresh = false;
		e->present = true;
		pb_snmp_copy(e->address, sizeof(e->address), p->address);
		pb_snmp_copy(e->last_error, sizeof(e->last_error), p->last_error);
		if (!is_new && e->state == state)
			continue;
		if (!is_new)
			e->last_change_cs = cur->uptime_cs;
		/* A peer seen first in the baseline is no event; one accepted
		 * later and already up is a peer coming up. */
		if (t->started && pb_link_state_is_up(state) != pb_link_state_is_up(e->state) &&
		    (!is_new || pb_link_state_is_up(state)))
			rc |= pb_snmp_event(t, pb_link_state_is_up(state) ? PB_SNMP_EV_PEER_UP :
			    PB_SNMP_EV_PEER_DOWN, (size_t)(e - t->peers), 0);
		e->state = state;
	}
	/* Gone from the table (an accepted connection closed) while up. */
	for (size_t i = 0; i < t->npeers; i++) {
		struct pb_snmp_peer *e = &t->peers[i];

		if (e->present || e->state == PB_LINK_STATE_DOWN)
			continue;
		if (t->started && pb_link_state_is_up(e->state))
			rc |= pb_snmp_event(t, PB_SNMP_EV_PEER_DOWN, i, 0);
		e->state = PB_LINK_STATE_DOWN;
		e->last_change_cs = cur->uptime_cs;
	}
	return rc;
}

static int
pb_snmp_stream_cmp(const struct pb_gaps_stream_info *a, const struct pb_gaps_stream_info *b)
{
	if (a->node != b->node)
		return a->node < b->node ? -1 : 1;
	if (a->source != b->source)
		return a->source < b->source ? -1 : 1;
	if (a->epoch != b->epoch)
		return a->epoch < b->epoch ? -1 : 1;
	return 0;
}

/* Both snapshots are sorted by (node, source, epoch): one merge walk. */
static int
pb_snmp_track_gaps(struct pb_snmp_tracker *t, const struct pb_snmp_data *prev,
    const struct pb_snmp_data *cur)
{
	const struct pb_gaps_snapshot *a = prev->gaps, *b = cur->gaps;
	uint32_t na = a != NULL ? a->nstreams : 0, nb = b != NULL ? b->nstreams : 0;
	size_t sent = 0;
	uint64_t left_out = 0;
	int rc = 0;

	for (uint32_t i = 0, j = 0; j < nb; j++) {
		const struct pb_gaps_stream_info *s = &b->streams[j];
		uint64_t before = 0;

		while (i < na && pb_snmp_stream_cmp(&a->streams[i], s) < 0)
			i++;
		if (i < na && pb_snmp_stream_cmp(&a->streams[i], s) == 0)
			before = a->streams[i].gap_events;
		if (s->gap_events <= before)
			continue;
		if (sent == PB_SNMP_GAP_EVENTS_MAX) {
			left_out++;
			continue;
		}
		rc |= pb_snmp_event(t, PB_SNMP_EV_GAP, 0, j);
		sent++;
	}
	if (left_out > 0) {
		t->gap_suppressed += left_out;
		log_warnx_rl("snmp", "pbGapDetected: %llu stream(s) with new gaps not "
		    "notified (at most %d per poll; %llu since start)",
		    (unsigned long long)left_out, PB_SNMP_GAP_EVENTS_MAX,
		    (unsigned long long)t->gap_suppressed);
	}
	return rc;
}

/* Once at the threshold; again only after falling below 90% of it. */
static int
pb_snmp_track_dlq(struct pb_snmp_tracker *t, const struct pb_snmp_data *cur)
{
	uint64_t depth = cur->totals.dlq_rows, th = t->dlq_threshold;

	if (th == 0)
		return 0;
	if (depth >= th && t->dlq_armed) {
		t->dlq_armed = false;
		return pb_snmp_event(t, PB_SNMP_EV_DLQ, 0, 0);
	}
	if (!t->dlq_armed && depth < th - th / 10)
		t->dlq_armed = true;
	return 0;
}

int
pb_snmp_track(struct pb_snmp_tracker *t, const struct pb_snmp_data *prev,
    const struct pb_snmp_data *cur)
{
	int rc = 0;

	t->nevents = 0;
	t->started = prev != NULL;
	rc |= pb_snmp_track_peers(t, cur);
	if (prev != NULL)
		rc |= pb_snmp_track_gaps(t, prev, cur);
	rc |= pb_snmp_track_dlq(t, cur);
	return rc < 0 ? -1 : 0;
}
