/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <string.h>

#include "record.h"

void
pb_record_reset(struct pb_record *rec)
{
	memset(rec, 0, offsetof(struct pb_record, trailers));
}

int
pb_record_add_hop(struct pb_record *rec, uint32_t node_id, uint64_t seq, uint64_t ts_ns)
{
	if (rec->nhops >= PB_MAX_HOPS)
		return -1;
	struct pb_hop *h = &rec->hops[rec->nhops++];
	h->node_id = node_id;
	h->flags = 0;
	h->seq = seq;
	h->ts_ns = ts_ns;
	return 0;
}

int
pb_record_has_node(const struct pb_record *rec, uint32_t node_id)
{
	if (rec->origin_node == node_id)
		return 1;
	for (unsigned i = 0; i < rec->nhops; i++)
		if (rec->hops[i].node_id == node_id)
			return 1;
	return 0;
}

uint32_t
pb_record_default_max_frame(unsigned ntrailers)
{
	unsigned n = ntrailers > PB_MIN_TRAILERS_RESERVED ? ntrailers : PB_MIN_TRAILERS_RESERVED;
	return PB_JUMBO_FRAME + PB_QINQ_TAGS + n * PB_TRAILER_RESERVE;
}
