/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "mgmt_snap.h"

bool
pb_link_state_is_up(enum pb_link_state_code s)
{
	return s == PB_LINK_STATE_UP || s == PB_LINK_STATE_SLOW;
}

/* The engine fills fixed arrays; never trust them to be terminated. */
#define PB_MGMT_TERMINATE(a) ((a)[sizeof(a) - 1] = '\0')

int
pb_mgmt_peers_copy(struct pb_pubstate *b, struct pb_peer_snap **out, size_t *n,
    uint64_t *generated_ns)
{
	struct pb_peer_snap *copy = NULL;
	size_t count = 0;
	uint64_t gen = 0;

	if (b != NULL) {
		pthread_mutex_lock(&b->lock);
		count = b->peers != NULL ? b->npeers : 0;
		if (count > 0 && (copy = calloc(count, sizeof(*copy))) != NULL)
			memcpy(copy, b->peers, count * sizeof(*copy));
		gen = b->peers_generated_ns;
		pthread_mutex_unlock(&b->lock);
		if (count > 0 && copy == NULL)
			return -1;
	}
	for (size_t i = 0; i < count; i++) {
		struct pb_peer_snap *p = &copy[i];

		PB_MGMT_TERMINATE(p->name);
		PB_MGMT_TERMINATE(p->direction);
		PB_MGMT_TERMINATE(p->origin);
		PB_MGMT_TERMINATE(p->state);
		PB_MGMT_TERMINATE(p->address);
		PB_MGMT_TERMINATE(p->node_name);
		PB_MGMT_TERMINATE(p->last_error);
	}
	*out = copy;
	*n = count;
	if (generated_ns != NULL)
		*generated_ns = gen;
	return 0;
}

void
pb_mgmt_totals(const struct pb_view *v, const struct pb_peer_snap *peers, size_t npeers,
    const struct pb_dlq_stats_snapshot *dlq, struct pb_mgmt_totals *t)
{
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < v->nsources; i++) {
		const struct pb_source_stats *st = v->sources[i].stats;

		if (st == NULL)
			continue;
		t->records_captured += pb_counter_get(&st->packets);
		t->capture_drops += pb_counter_get(&st->pcap_drops) +
		    pb_counter_get(&st->pcap_ifdrops);
	}
	for (size_t i = 0; i < v->nsinks; i++)
		if (v->sinks[i].stats != NULL)
			t->records_delivered += pb_counter_get(&v->sinks[i].stats->packets);
	for (size_t i = 0; i < npeers; i++)
		if (strcmp(peers[i].direction, "downstream") == 0)
			t->records_forwarded += peers[i].records_acked;
	if (dlq != NULL) {
		t->dlq_rows = dlq->rows;
		t->dlq_bytes = dlq->bytes;
		t->dlq_refusals = dlq->refused_full + dlq->refused_queue;
	}
}
