/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "fdlimit.h"
#include "log.h"
#include "tls.h"
#include "tunnel.h"
#include "tunnel_custody.h"
#include "tunnel_dir.h"
#include "tunnel_link.h"
#include "tunnel_listen.h"
#include "tunnel_recv.h"
#include "tunnel_replay.h"
#include "tunnel_send.h"
#include "tunnel_status.h"

/*
 * The tunnel's face (tunnel.h): start and stop of the whole tunnel, its
 * timers, and what the engine asks of it each record and each iteration.
 */

static int
mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

static bool
is_loopback(const char *addr)
{
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, addr, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, addr, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

/* Path nodes in gaps snapshots take their names from the node directory
 * (NODE announcements, ours included), read at each publish. */
static const char *
gaps_node_name(void *arg, uint32_t node)
{
	const struct pb_tunnel *t = arg;
	const struct pb_node_info *n = pb_srcdir_node(t->dir, node);
	return n ? n->name : NULL;
}

static int64_t
ack_tick(struct pb_loop *loop, void *arg)
{
	struct pb_tunnel *t = arg;
	custody_update(t, false);
	senders_sweep(t);
	return (int64_t)t->tc->ack.ms * (int64_t)PB_NSEC_PER_MSEC;
}

static int64_t
publish_tick(struct pb_loop *loop, void *arg)
{
	struct pb_tunnel *t = arg;
	status_publish(t);
	log_rl_flush(false); /* say how many lines a flood that stopped cost */
	if (t->gaps) {
		pb_gaps_publish(t->gaps, 256);
		pb_pubstate_publish_gaps(t->pubstate, pb_gaps_snapshot_get(t->gaps));
		custody_gaps_save(t, false);
	}
	replay_sync(t);
	return (int64_t)(250 * PB_NSEC_PER_MSEC);
}

int
pb_tunnel_start(struct pb_tunnel *t, char *err, size_t errlen)
{
	const struct pb_tunnel_cfg *tc = t->tc;
	struct pb_link_cfg *lc = &t->linkcfg;
	char why[512];

	lc->node_id = t->cfg->node.id;
	lc->epoch = t->epoch;
	lc->psk = tc->auth.psk_len ? tc->auth.psk : NULL;
	lc->psk_len = tc->auth.psk_len;
	lc->tls = tc->auth.tls;
	lc->heartbeat_ms = (uint32_t)(tc->heartbeat_s * 1000.0);
	lc->dead_after_ms = (uint32_t)(tc->dead_after_s * 1000.0);
	lc->backoff_max_ms = 5000;
	lc->handshake_timeout_ms = (uint32_t)(tc->handshake_timeout_s * 1000.0);

	struct pb_gaps_cfg gc = { .max_streams = tc->limits.max_streams,
		.node_name = gaps_node_name, .node_name_arg = t };
	if (!(t->gaps = pb_gaps_new(&gc))) {
		snprintf(err, errlen, "tunnel: out of memory");
		return -1;
	}
	if (tc->dlq.path[0]) {
		struct pb_dlq_cfg dc = { .path = tc->dlq.path, .max_bytes = tc->dlq.max_bytes,
			.queue_bytes = TUNNEL_DLQ_QUEUE_BYTES };
		if (!(t->dlq = pb_dlq_open(&dc, t->loop, replay_on_dlq, t, why, sizeof(why)))) {
			snprintf(err, errlen, "dlq: %s", why);
			return -1;
		}
		pb_pubstate_publish_dlq(t->pubstate, t->dlq);
		snprintf(t->pubstate->dlq_path, sizeof(t->pubstate->dlq_path), "%s", tc->dlq.path);
	}
	bool exposed = tc->listen.enabled && !is_loopback(tc->listen.address);
	bool links = tc->listen.enabled || tc->npeers || tc->nupstreams;
	if (links && tc->auth.tls)
		log_info("tunnel", "links use TLS 1.3, certificate %s (%s)%s", tc->auth.tls_cert,
		    pb_tls_describe(tc->auth.tls), tc->auth.keyring.n ? ", and per-node keys" : "");
	else if (links && tc->auth.keyring.n)
		log_info("tunnel", "links authenticated with per-node keys (%zu in %s)",
		    tc->auth.keyring.n, tc->auth.keyring_file);
	else if (links && tc->auth.psk_len)
		log_warnx("tunnel", "auth.shared_psk: every node holding %s can claim any node id;"
		    " use auth.keyring for per-node identity", tc->auth.psk_file);
	else if (links)
		log_warnx("tunnel", "no auth.keyring: links are not authenticated%s",
		    exposed ? " (listening on a non-loopback address: auth.allow_unauthenticated is set)" : "");
	if (tc->listen.enabled || tc->nupstreams) {
		if (mkdir_p(tc->state_dir) < 0) {
			snprintf(err, errlen, "state_dir %s: %s", tc->state_dir, strerror(errno));
			return -1;
		}
		custody_state_init(t);
		custody_recover(t);
	}

	t->ndialed = tc->npeers + tc->nupstreams;
	t->dialed = calloc(t->ndialed ? t->ndialed : 1, sizeof(*t->dialed));
	if (!t->dialed) {
		snprintf(err, errlen, "tunnel: out of memory");
		return -1;
	}
	for (size_t i = 0; i < t->ndialed; i++) {
		bool is_peer = i < tc->npeers;
		const struct pb_endpoint_cfg *ep = is_peer ? &tc->peers[i] : &tc->upstreams[i - tc->npeers];
		struct tunnel_conn *c = &t->dialed[i];
		char addr[192];
		snprintf(addr, sizeof(addr), "%s:%u", ep->address, ep->port);
		c->t = t;
		c->expect_node = ep->node_id;
		if (is_peer) {
			struct tunnel_sender *p = sender_new(t, ep->name, addr, true);
			if (!p || add_ptr((void ***)&t->peers, &t->npeers, &t->cpeers, p) < 0) {
				sender_free(p);
				snprintf(err, errlen, "tunnel: out of memory");
				return -1;
			}
			p->declared = true;
			sender_attach(p, c);
		} else {
			struct tunnel_receiver *u = receiver_new(t, ep->name, addr, true);
			if (!u || add_ptr((void ***)&t->ups, &t->nups, &t->cups, u) < 0) {
				receiver_free(u);
				snprintf(err, errlen, "tunnel: out of memory");
				return -1;
			}
			receiver_attach(u, c);
		}
		c->link = pb_link_dial(t->loop, lc, is_peer ? PB_LINK_SENDER : PB_LINK_RECEIVER,
		    ep->name, ep->address, ep->port, &tunnel_link_ops, c, why, sizeof(why));
		bool ok = c->link != NULL;
		for (size_t a = 1; ok && a < ep->naddrs; a++)
			ok = pb_link_add_address(c->link, ep->addrs[a].host, ep->addrs[a].port, why,
			    sizeof(why)) == 0;
		if (!ok) {
			snprintf(err, errlen, "%s '%s': %s", is_peer ? "peer" : "upstream", ep->name, why);
			return -1;
		}
	}
	for (size_t i = 0; i < tc->nconsumers; i++) {
		/* Known before it first connects, so nothing is missed meanwhile. */
		struct tunnel_sender *p = sender_new(t, tc->consumers[i].name, "", false);
		if (!p || add_ptr((void ***)&t->peers, &t->npeers, &t->cpeers, p) < 0) {
			sender_free(p);
			snprintf(err, errlen, "tunnel: out of memory");
			return -1;
		}
		p->node_id = tc->consumers[i].node_id;
		p->declared = true;
	}
	if (tc->listen.enabled) {
		t->listener = pb_listener_open(t->loop, tc->listen.address, tc->listen.port,
		    listen_on_accept, t, why, sizeof(why));
		if (!t->listener) {
			snprintf(err, errlen, "listen %s:%u: %s", tc->listen.address, tc->listen.port, why);
			return -1;
		}
		log_info("tunnel", "listening on %s:%u", tc->listen.address,
		    pb_listener_port(t->listener));
	}
	t->ack_timer = pb_loop_add_timer(t->loop, (uint64_t)tc->ack.ms * PB_NSEC_PER_MSEC,
	    ack_tick, t);
	t->publish_timer = pb_loop_add_timer(t->loop, 250 * PB_NSEC_PER_MSEC, publish_tick, t);
	t->replay_timer = pb_loop_add_timer(t->loop, 20 * PB_NSEC_PER_MSEC, replay_tick, t);
	return 0;
}

/*
 * Shutdown after the sources stopped and the sinks were closed (flushed):
 * acknowledge what is now in custody, move every unacknowledged record to
 * the DLQ (reason shutdown), commit it, and close the links.
 */
void
pb_tunnel_stop(struct pb_tunnel *t)
{
	pb_listener_close(t->listener);
	t->listener = NULL;
	for (size_t i = 0; i < t->npeers; i++)
		sender_spill_all(t->peers[i], PB_DLQ_SHUTDOWN);
	if (t->dlq) {
		pb_pubstate_publish_dlq(t->pubstate, t->dlq);
		pb_dlq_close(t->dlq); /* blocks until every put is committed */
		t->dlq = NULL;
		for (size_t i = 0; i < t->npeers; i++)
			fifo2_clear(&t->peers[i]->spills);
	}
	custody_update(t, true);
	custody_state_save(t, true);
	custody_gaps_save(t, true);
	pb_state_writer_flush(t->statew); /* both files on disk before we exit */
	for (size_t i = 0; i < t->ndialed; i++) {
		pb_link_close(t->dialed[i].link, "shutting down");
		t->dialed[i].link = NULL;
	}
	while (t->accepted) {
		struct tunnel_conn *c = t->accepted;
		t->accepted = c->next;
		pb_link_close(c->link, "shutting down");
		conn_preauth_end(c);
		pb_fd_give();
		free(c);
	}
	for (size_t i = 0; i < t->npeers; i++)
		sender_free(t->peers[i]);
	for (size_t i = 0; i < t->nups; i++)
		receiver_free(t->ups[i]);
	free(t->peers);
	free(t->ups);
	free(t->dialed);
	free(t->known_nodes);
	free(t->known_sources);
	t->peers = NULL;
	t->ups = NULL;
	t->dialed = NULL;
	t->known_nodes = NULL;
	t->known_sources = NULL;
	t->npeers = t->nups = t->ndialed = 0;
	t->cpeers = t->cups = 0;
	t->nknown_nodes = t->cknown_nodes = t->nknown_sources = t->cknown_sources = 0;
	custody_seeds_free(t);
}

struct pb_tunnel *
pb_tunnel_new(const struct pb_tunnel_env *env, char *err, size_t errlen)
{
	struct pb_tunnel *t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "tunnel: out of memory");
		return NULL;
	}
	t->env = *env;
	t->cfg = env->cfg;
	t->tc = &env->cfg->tunnel;
	t->loop = env->loop;
	t->dir = env->dir;
	t->pubstate = env->pubstate;
	t->epoch = env->epoch;
	t->statew = pb_state_writer_new(t->loop, err, errlen);
	if (!t->statew) {
		free(t);
		return NULL;
	}
	/* The sender tells the replay, which sits above it, through these. */
	t->hooks.replay_acked = replay_row_acked;
	t->hooks.replay_requeued = replay_row_requeued;
	t->hooks.replay_flush = replay_flush_deletes;
	return t;
}

void
pb_tunnel_free(struct pb_tunnel *t)
{
	if (!t)
		return;
	pb_state_writer_free(t->statew);
	pb_gaps_free(t->gaps);
	free(t);
}

/* Never back to a node the record already passed (spec 5.6). */
void
pb_tunnel_route(struct pb_tunnel *t, const struct pb_record *rec, bool remote)
{
	struct pb_record hopped;

	if (!t->npeers || !(remote ? t->tc->forward.remote_capture : t->tc->forward.local_capture))
		return;
	/* Read back from a JetStream stream (no link), of another origin: it
	 * leaves with this node's hop, as a relayed record does, for the
	 * receiver binds an origin to the link's node or its last hop
	 * (tunnel_recv.c). The sinks here wrote it as stored, without. */
	if (remote && !rec->link_node && rec->origin_node != t->cfg->node.id &&
	    (rec->nhops == 0 || rec->hops[rec->nhops - 1].node_id != t->cfg->node.id)) {
		if (rec->nhops >= t->tc->max_hops) {
			t->hop_limit_dropped++;
			return;
		}
		hopped = *rec; /* only on this path: a record is ~1 KiB */
		pb_record_add_hop(&hopped, t->cfg->node.id, ++t->hop_seq, t->env.now_real(t->env.ctx));
		rec = &hopped;
	}
	for (size_t i = 0; i < t->npeers; i++) {
		struct tunnel_sender *p = t->peers[i];
		if (p->node_id && remote && pb_record_has_node(rec, p->node_id)) {
			p->loops_avoided++;
			t->loops_dropped++;
			if (!t->loop_logged) {
				t->loop_logged = true;
				log_warnx("engine", "forwarding loop: peer '%s' (node %u) is already on "
				    "the path of records from node %u; not sending them back (counted "
				    "as loops)", p->name, p->node_id, rec->origin_node);
			}
			continue;
		}
		sender_enqueue(p, rec, rec->token, 0, -1);
	}
	if ((rec->token & 255) == 0)
		senders_check_window(t);
}

uint64_t
pb_tunnel_custody(struct pb_tunnel *t)
{
	return custody_token(t);
}

void
pb_tunnel_progress(struct pb_tunnel *t)
{
	custody_update(t, false);
}

void
pb_tunnel_before_sleep(struct pb_tunnel *t)
{
	/* One writev per peer per iteration, however many records came in. */
	for (size_t i = 0; i < t->npeers; i++) {
		struct tunnel_sender *p = t->peers[i];
		if (p->kick && p->up && p->conn && p->conn->link) {
			p->kick = false;
			pb_link_kick(p->conn->link);
		}
	}
	if (t->gaps)
		pb_gaps_set_now(t->gaps, t->env.now_real(t->env.ctx));
	if (t->npeers)
		senders_check_window(t);
	custody_update(t, false);
}

/* Received records wait in the sender's buffer: TCP pushes back. */
void
pb_tunnel_pause_rx(struct pb_tunnel *t, bool paused)
{
	for (size_t i = 0; i < t->nups; i++) {
		struct tunnel_receiver *u = t->ups[i];
		if (u->conn && u->conn->link)
			pb_link_pause_rx(u->conn->link, paused);
	}
}

bool
pb_tunnel_unacked(const struct pb_tunnel *t, bool only_up)
{
	for (size_t i = 0; i < t->npeers; i++)
		if ((t->peers[i]->up || !only_up) && t->peers[i]->toks.n)
			return true;
	return false;
}

bool
pb_tunnel_has_peers(const struct pb_tunnel *t)
{
	return t->npeers != 0;
}

uint64_t
pb_tunnel_records_received(const struct pb_tunnel *t)
{
	uint64_t n = 0;
	for (size_t i = 0; i < t->nups; i++)
		n += t->ups[i]->records_received;
	return n;
}

int
pb_tunnel_learn_node(struct pb_tunnel *t, const struct pb_node_info *n)
{
	return directory_learn_node(t, n);
}

int
pb_tunnel_learn_source(struct pb_tunnel *t, const struct pb_source_info *s)
{
	return directory_learn_source(t, s);
}

void
pb_tunnel_on_cmd(struct pb_tunnel *t, struct pb_cmd *cmd)
{
	replay_on_cmd(t, cmd);
}

int
pb_tunnel_adopt(struct pb_tunnel *t, int fd, const char *addr)
{
	return listen_adopt(t, fd, addr);
}

uint16_t
pb_tunnel_listen_port(const struct pb_tunnel *t)
{
	return t->listener ? pb_listener_port(t->listener) : 0;
}
