/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "sink_file_recover.h"
#include "state_writer.h"
#include "tunnel_custody.h"
#include "tunnel_send.h"
#include "wire.h"

/*
 * A record is in our custody once every destination reached its token
 * (written to a sink's fd, acknowledged downstream or committed to the
 * DLQ); only then is its link seq acknowledged upstream, and only then may
 * the state files say so.
 */

uint64_t
custody_token(struct pb_tunnel *t)
{
	/* The sinks' custody is at most the last token assigned. */
	uint64_t c = t->env.local_custody(t->env.ctx);
	for (size_t i = 0; i < t->npeers; i++) {
		uint64_t p = sender_custody(t->peers[i]);
		if (p < c)
			c = p;
	}
	return c;
}

void
custody_update(struct pb_tunnel *t, bool force_ack)
{
	if (!t->nups)
		return;
	uint64_t c = custody_token(t);
	uint64_t now = pb_mono_ns();
	uint64_t ack_ns = (uint64_t)t->tc->ack.ms * PB_NSEC_PER_MSEC;

	for (size_t i = 0; i < t->nups; i++) {
		struct tunnel_receiver *u = t->ups[i];
		uint64_t *p;
		while ((p = fifo2_front(&u->pending)) && p[1] <= c) {
			if (p[0] > u->custody_seq) {
				u->custody_seq = p[0];
				t->state_dirty = true;
			}
			fifo2_pop(&u->pending);
		}
		if (!u->up || u->custody_seq <= u->acked_sent)
			continue;
		/* Batch ACKs under load; once caught up (nothing pending) answer at
		 * once, since the sender may be waiting for exactly this. */
		if (!force_ack && u->custody_seq - u->acked_sent < t->tc->ack.every &&
		    now - u->last_ack_ns < ack_ns && u->pending.n)
			continue;
		struct pb_wire_msg m = { .type = PB_WIRE_T_ACK };
		m.ack.link_seq = u->custody_seq;
		if (pb_link_send_msg(u->conn->link, &m) == 0) {
			u->acked_sent = u->custody_seq;
			u->last_ack_ns = now;
		}
	}
	custody_state_save(t, false);
}

static void
state_path(const struct pb_tunnel *t, char *buf, size_t len)
{
	snprintf(buf, len, "%s/custody-%u.state", t->tc->state_dir, t->cfg->node.id);
}

/* A failed write is retried at the next save: the state is still dirty. */
static void
custody_written(void *arg, int err)
{
	struct pb_tunnel *t = arg;
	if (err > 0)
		t->state_dirty = true;
}

static int
custody_fill(void *ctx, FILE *f)
{
	struct pb_tunnel *t = ctx;
	fprintf(f, "# packetbroker custody state: upstream node, link epoch, last link seq in custody\n");
	for (size_t i = 0; i < t->nups; i++)
		if (t->ups[i]->node_id && t->ups[i]->epoch)
			fprintf(f, "%u %" PRIu64 " %" PRIu64 "\n", t->ups[i]->node_id, t->ups[i]->epoch,
			    t->ups[i]->custody_seq);
	/* Keep seeds of senders that have not reconnected yet. */
	for (size_t i = 0; i < t->nseeds; i++) {
		const struct tunnel_seed *sd = &t->seeds[i];
		bool live = false;
		for (size_t j = 0; j < t->nups; j++)
			live |= t->ups[j]->node_id == sd->node && t->ups[j]->epoch;
		if (!live)
			fprintf(f, "%u %" PRIu64 " %" PRIu64 "\n", sd->node, sd->epoch, sd->seq);
	}
	return ferror(f) ? -1 : 0;
}

void
custody_state_save(struct pb_tunnel *t, bool force)
{
	uint64_t now = pb_mono_ns();
	if (!t->state_dirty || (!force && now - t->state_written_ns < 100 * PB_NSEC_PER_MSEC))
		return;
	char path[PATH_MAX + 32];
	state_path(t, path, sizeof(path));
	/* Written by the state writer's thread: the engine never waits on the disk. */
	if (pb_state_writer_submit_fill(t->statew, path, custody_fill, t, custody_written, t) == 0)
		t->state_dirty = false;
	t->state_written_ns = now;
}

/* Seeds from the state file / the pcapng recovery: node → (epoch, seq). */
static void
seed_set(struct pb_tunnel *t, uint32_t node, uint64_t epoch, uint64_t seq)
{
	struct tunnel_seed *seeds = t->seeds;
	size_t nseeds = t->nseeds;

	for (size_t i = 0; i < nseeds; i++) {
		if (seeds[i].node == node) {
			if (seeds[i].epoch != epoch || seq > seeds[i].seq) {
				seeds[i].epoch = epoch;
				seeds[i].seq = seq;
			}
			return;
		}
	}
	struct tunnel_seed *n = realloc(seeds, (nseeds + 1) * sizeof(*n));
	if (!n)
		return;
	n[nseeds] = (struct tunnel_seed){ node, epoch, seq };
	t->seeds = n;
	t->nseeds = nseeds + 1;
}

static void
state_load(struct pb_tunnel *t)
{
	char path[PATH_MAX + 32];
	state_path(t, path, sizeof(path));
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	char line[256];
	size_t n = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned node;
		uint64_t epoch, seq;
		if (line[0] == '#')
			continue;
		if (sscanf(line, "%u %" SCNu64 " %" SCNu64, &node, &epoch, &seq) == 3) {
			seed_set(t, node, epoch, seq);
			n++;
		}
	}
	fclose(f);
	if (n)
		log_info("upstream", "custody state %s: %zu upstream(s) restored", path, n);
}

static void
custody_seed(struct pb_tunnel *t, uint32_t node, uint64_t epoch, uint64_t seq)
{
	seed_set(t, node, epoch, seq);
}

void
custody_seeds_free(struct pb_tunnel *t)
{
	free(t->seeds);
	t->seeds = NULL;
	t->nseeds = 0;
}

void
custody_state_init(struct pb_tunnel *t)
{
	state_load(t);
}

static void
gaps_path(const struct pb_tunnel *t, char *buf, size_t len)
{
	snprintf(buf, len, "%s/gaps-%u.state", t->tc->state_dir, t->cfg->node.id);
}

static void
custody_gaps_load(struct pb_tunnel *t)
{
	char path[PATH_MAX + 32];
	gaps_path(t, path, sizeof(path));
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	int n = pb_gaps_load(t->gaps, f);
	fclose(f);
	if (n > 0)
		log_info("upstream", "gap state %s: %d origin stream(s) restored", path, n);
}

/* A failed write forces a fresh capture (and custody wait) next time. */
static void
gaps_written(void *arg, int err)
{
	struct pb_tunnel *t = arg;
	if (err > 0)
		t->gaps_saved_sig = UINT64_MAX;
}

static void
gaps_write_snap(struct pb_tunnel *t)
{
	char path[PATH_MAX + 32];
	gaps_path(t, path, sizeof(path));
	/* The writer copies the bytes and writes them on its own thread. */
	if (pb_state_writer_submit(t->statew, path, t->gaps_snap, t->gaps_snap_len, gaps_written, t) < 0)
		t->gaps_saved_sig = UINT64_MAX;
	free(t->gaps_snap);
	t->gaps_snap = NULL;
}

/*
 * Called from the publish timer. The file must never say a record was seen
 * that is not in custody: after a crash such a record, resent by its
 * sender, would be dropped as a duplicate and lost. So the state is
 * captured in memory with the last custody token assigned, and written
 * only once custody has passed that token; the next capture follows.
 * force (shutdown): everything routed is in custody or in the DLQ.
 */
void
custody_gaps_save(struct pb_tunnel *t, bool force)
{
	struct pb_gaps_totals tot;
	if (!t->gaps || !t->nups)
		return;
	if (force) {
		free(t->gaps_snap);
		t->gaps_snap = NULL;
	}
	if (t->gaps_snap) {
		if (custody_token(t) < t->gaps_snap_token)
			return;
		gaps_write_snap(t);
	}
	pb_gaps_totals(t->gaps, &tot);
	uint64_t sig = tot.received + tot.duplicates + tot.filled + tot.streams;
	if (sig == t->gaps_saved_sig && !force)
		return;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return;
	int rc = pb_gaps_save(t->gaps, f);
	if (fclose(f) != 0 || rc < 0) {
		free(buf);
		return;
	}
	t->gaps_snap = buf;
	t->gaps_snap_len = len;
	t->gaps_snap_token = t->env.last_token(t->env.ctx);
	t->gaps_saved_sig = sig;
	if (force)
		gaps_write_snap(t);
}

/*
 * A collector's custody point lives in its pcapng files (link=node:epoch:seq
 * in each EPB comment, written in order with the data), so a collector
 * killed with -9 resumes exactly where its files end.
 */
static void
recover_record(void *arg, uint32_t node, uint16_t source, uint64_t epoch, uint64_t seq)
{
	pb_gaps_observe(arg, node, source, epoch, seq);
}

void
custody_recover(struct pb_tunnel *t)
{
	/* The missing ranges as of the last save, then every record the files
	 * hold (the newest ones may postdate the save): a record that never
	 * arrived stays missing, so a later DLQ replay of it is accepted. */
	custody_gaps_load(t);
	for (size_t i = 0; i < t->cfg->ndumps; i++) {
		const struct pb_dump_cfg *d = &t->cfg->dumps[i];
		if (d->kind != PB_DUMP_FILE)
			continue;
		struct pb_recovery r;
		char why[512] = "";
		if (pb_sink_file_recover_each(d, &r, recover_record, t->gaps, why, sizeof(why)) < 0) {
			log_warnx("tunnel", "dump '%s': custody recovery failed: %s", d->name, why);
			continue;
		}
		if (why[0])
			log_info("tunnel", "dump '%s': %s", d->name, why);
		for (size_t k = 0; k < r.nlinks; k++)
			custody_seed(t, r.links[k].node, r.links[k].epoch, r.links[k].seq);
		if (r.nlinks || r.nstreams)
			log_info("tunnel", "dump '%s': recovered custody of %zu upstream link(s) and %zu origin stream(s) from %u file(s)",
			    d->name, r.nlinks, r.nstreams, r.files_scanned);
		pb_recovery_free(&r);
	}
	pb_gaps_reset_counters(t->gaps);
}

