/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "clock.h"
#include "engine_int.h"
#include "jetstream.h"
#include "log.h"
#include "wire.h"

/*
 * capture → record → route → sinks, on one thread. Sources are paused as a
 * group when any sink cannot take one more record (back-pressure instead of
 * loss) and resumed when every sink has room again.
 */

#define STATS_INTERVAL_NS (1 * PB_NSEC_PER_SEC)
#define DRAIN_TICK_NS (1 * PB_NSEC_PER_MSEC)
#define SHUTDOWN_GRACE_NS (2 * PB_NSEC_PER_SEC)

static void
engine_apply_pause(struct pb_engine *e)
{
	for (size_t i = 0; i < e->nsources; i++) {
		struct engine_source *s = &e->sources[i];
		if (!s->cap)
			continue;
		int st = pb_capture_state(s->cap);
		if (st == PB_SOURCE_FINISHED || st == PB_SOURCE_FAILED)
			continue;
		/* A slow peer never stalls a live capture (its records go to the
		 * DLQ when the buffer overflows), but a file can simply wait. */
		bool want = e->paused || (e->peer_paused && (s->cfg->is_file || s->cfg->js));
		if (want == s->paused)
			continue;
		s->paused = want;
		pb_capture_pause(s->cap, want);
		atomic_store(&s->stats.state, want ? PB_SOURCE_PAUSED : PB_SOURCE_RUNNING);
	}
	if (e->tunnel)
		pb_tunnel_pause_rx(e->tunnel, e->paused || e->peer_paused);
}

static uint64_t
engine_now_real(void *ctx)
{
	struct pb_engine *e = ctx;
	uint64_t mono = pb_loop_now(e->loop);
	/* Follow wall-clock steps within a second. */
	if (!e->real_offset_at || mono - e->real_offset_at > PB_NSEC_PER_SEC) {
		e->real_offset = pb_real_ns() - pb_mono_ns();
		e->real_offset_at = mono;
	}
	return mono + e->real_offset;
}

static bool
engine_rx_paused(void *ctx)
{
	const struct pb_engine *e = ctx;
	return e->paused || e->peer_paused;
}

static void
engine_set_paused(struct pb_engine *e, bool paused)
{
	if (e->paused == paused)
		return;
	e->paused = paused;
	if (paused)
		e->pauses++;
	log_debug("engine", "%s sources: sink back-pressure", paused ? "pausing" : "resuming");
	engine_apply_pause(e);
}

/* The tunnel's verdict on what the connected peers hold unacknowledged
 * and on the DLQ's write queue (see tunnel_env.h). File captures wait
 * instead of filling the buffer with the whole file or overrunning the
 * DLQ; live captures never pause for a peer (engine_apply_pause). */
static void
engine_peers_full(void *ctx, bool want)
{
	struct pb_engine *e = ctx;
	if (want == e->peer_paused)
		return;
	e->peer_paused = want;
	if (want)
		e->pauses++;
	log_debug("engine", "%s: peer back-pressure", want ? "pausing" : "resuming");
	engine_apply_pause(e);
}

static bool
engine_sinks_writable(struct pb_engine *e)
{
	for (size_t i = 0; i < e->nsinks; i++)
		if (!e->sinks[i].sink->ops->writable(e->sinks[i].sink))
			return false;
	return true;
}

/* Every record, local or received, goes to every sink and, as configured,
 * to every downstream peer. Its token lets custody be tracked per record. */
static void
engine_route(struct pb_engine *e, struct pb_record *rec, bool remote)
{
	rec->token = ++e->token;
	for (size_t i = 0; i < e->nsinks; i++) {
		struct pb_sink *k = e->sinks[i].sink;
		k->ops->write(k, rec);
	}
	pb_tunnel_route(e->tunnel, rec, remote);
	if (!engine_sinks_writable(e))
		engine_set_paused(e, true);
}

static void
engine_route_remote(void *ctx, struct pb_record *rec, bool remote)
{
	engine_route(ctx, rec, remote);
}

static uint64_t
engine_last_token(void *ctx)
{
	const struct pb_engine *e = ctx;
	return e->token;
}

static uint64_t
engine_next_token(void *ctx)
{
	struct pb_engine *e = ctx;
	return ++e->token;
}

/* What the sinks hold: at most the last token assigned. */
static uint64_t
engine_local_custody(void *ctx)
{
	const struct pb_engine *e = ctx;
	uint64_t c = e->token;
	for (size_t i = 0; i < e->nsinks; i++) {
		struct pb_sink *k = e->sinks[i].sink;
		if (k && k->ops->custody) {
			uint64_t s = k->ops->custody(k);
			if (s < c)
				c = s;
		}
	}
	return c;
}

static bool
engine_stopping(void *ctx)
{
	const struct pb_engine *e = ctx;
	return e->stopping;
}

static void
engine_deliver(void *ctx, struct pb_record *rec)
{
	struct engine_source *s = ctx;
	struct pb_engine *e = s->engine;

	rec->origin_node = e->cfg->node.id;
	rec->origin_epoch = e->epoch;
	/* The capture set origin_source: its own id or one of its file's
	 * interfaces (engine_capture_if), all below nsrc_ids. */
	rec->origin_seq = ++e->src_seq[rec->origin_source];
	rec->link_node = 0;
	engine_route(e, rec, false);
}

#ifdef HAVE_LIBNATS
/* A record read back from a JetStream stream: it keeps its origin, hops
 * and trailers, like one received from an upstream. */
static void
engine_deliver_stored(void *ctx, struct pb_record *rec)
{
	struct engine_source *s = ctx;
	rec->link_node = 0;
	engine_route(s->engine, rec, true);
}

static uint64_t
engine_source_custody(void *ctx)
{
	struct engine_source *s = ctx;
	return pb_tunnel_custody(s->engine->tunnel);
}

/* NODE and SOURCE messages stored with the records: the names they had. */
static void
engine_source_learn(void *ctx, const void *wire_msg)
{
	struct engine_source *s = ctx;
	struct pb_engine *e = s->engine;
	const struct pb_wire_msg *m = wire_msg;
	if (m->type == PB_WIRE_T_NODE && m->node.node_id != e->cfg->node.id) {
		struct pb_node_info n = { .node_id = m->node.node_id, .named_by = e->cfg->node.id };
		pb_srcdir_copy_name(n.name, sizeof(n.name), m->node.name.ptr, m->node.name.len);
		pb_srcdir_copy_name(n.description, sizeof(n.description), m->node.descr.ptr,
		    m->node.descr.len);
		pb_tunnel_learn_node(e->tunnel, &n);
	} else if (m->type == PB_WIRE_T_SOURCE && m->source.node_id != e->cfg->node.id) {
		struct pb_source_info i = { .node_id = m->source.node_id,
			.named_by = e->cfg->node.id, .source_id = m->source.source_id,
			.linktype = m->source.linktype };
		pb_srcdir_copy_name(i.name, sizeof(i.name), m->source.name.ptr, m->source.name.len);
		pb_srcdir_copy_name(i.description, sizeof(i.description), m->source.descr.ptr,
		    m->source.descr.len);
		pb_tunnel_learn_source(e->tunnel, &i);
	}
}
#endif

static void
engine_sink_writable(struct pb_sink *sink, void *arg)
{
	struct pb_engine *e = arg;
	if (e->paused && !e->stopping && engine_sinks_writable(e))
		engine_set_paused(e, false);
}

static void
engine_sink_progress(struct pb_sink *sink, void *arg)
{
	struct pb_engine *e = arg;
	pb_tunnel_progress(e->tunnel);
}

static bool
engine_all_finished(const struct pb_engine *e)
{
	if (!e->nsources)
		return false;
	for (size_t i = 0; i < e->nsources; i++) {
		int st = pb_capture_state(e->sources[i].cap);
		if (st != PB_SOURCE_FINISHED && st != PB_SOURCE_FAILED)
			return false;
	}
	return true;
}

/* --exit-on-finish: once the sources are done, wait until every downstream
 * peer acknowledged (or the records moved to the DLQ), then stop. */
static int64_t
engine_drain_tick(struct pb_loop *loop, void *arg)
{
	struct pb_engine *e = arg;
	if (pb_tunnel_unacked(e->tunnel, false))
		return (int64_t)DRAIN_TICK_NS;
	/* A jetstream sink holds records until their PubAck (its close only
	 * waits a few seconds); files and interfaces are flushed by close. */
	for (size_t i = 0; i < e->nsinks; i++) {
		struct pb_sink *k = e->sinks[i].sink;
		if (e->cfg->dumps[i].kind == PB_DUMP_JETSTREAM && k->ops->custody(k) < e->token)
			return (int64_t)DRAIN_TICK_NS;
	}
	if (e->failed_sources) {
		char names[1024] = "";
		size_t used = 0;
		for (size_t i = 0; i < e->nsources; i++) {
			if (pb_capture_state(e->sources[i].cap) != PB_SOURCE_FAILED)
				continue;
			int n = snprintf(names + used, sizeof(names) - used, "%s'%s'", used ? ", " : "",
			    e->sources[i].cfg->name);
			if (n < 0 || (size_t)n >= sizeof(names) - used)
				break;
			used += (size_t)n;
		}
		log_warnx("engine", "all sources done%s, but capture %s failed: shutting down with "
		    "an error (--exit-on-finish)", pb_tunnel_has_peers(e->tunnel) ? " and every peer acknowledged" : "",
		    names);
	} else {
		log_info("engine", "all sources finished%s, shutting down (--exit-on-finish)",
		    pb_tunnel_has_peers(e->tunnel) ? " and every peer acknowledged" : "");
	}
	pb_loop_stop(loop);
	return PB_TIMER_STOP;
}

static void
engine_capture_state(void *ctx, struct pb_capture *cap, int state)
{
	struct engine_source *s = ctx;
	struct pb_engine *e = s->engine;

	atomic_store(&s->stats.state, state);
	if (state == PB_SOURCE_FAILED) {
		e->failed_sources++;
		log_warnx("engine", "capture '%s' failed; other sources keep running", s->cfg->name);
	}
	if (e->exit_on_finish && engine_all_finished(e))
		pb_loop_add_timer(e->loop, 0, engine_drain_tick, e);
}

static void
engine_before_sleep(struct pb_loop *loop, void *arg)
{
	struct pb_engine *e = arg;
	for (size_t i = 0; i < e->nsinks; i++)
		e->sinks[i].sink->ops->flush(e->sinks[i].sink);
	pb_tunnel_before_sleep(e->tunnel);
}

static int64_t
engine_stats_timer(struct pb_loop *loop, void *arg)
{
	struct pb_engine *e = arg;
	for (size_t i = 0; i < e->nsources; i++)
		if (e->sources[i].cap)
			pb_capture_poll_stats(e->sources[i].cap);
	return (int64_t)STATS_INTERVAL_NS;
}

static bool
engine_unacked(const struct pb_engine *e)
{
	return pb_tunnel_unacked(e->tunnel, true);
}

static int64_t
engine_shutdown_tick(struct pb_loop *loop, void *arg)
{
	struct pb_engine *e = arg;
	if (engine_unacked(e) && pb_mono_ns() < e->shutdown_deadline)
		return (int64_t)DRAIN_TICK_NS;
	pb_loop_stop(loop);
	return PB_TIMER_STOP;
}

static void
engine_on_signal(struct pb_loop *loop, int signo, void *arg)
{
	struct pb_engine *e = arg;

	switch (signo) {
	case SIGHUP:
		log_info("engine", "SIGHUP: reopening output files");
		for (size_t i = 0; i < e->nsinks; i++)
			e->sinks[i].sink->ops->reopen(e->sinks[i].sink);
		break;
	case SIGINT:
	case SIGTERM:
		if (e->stopping || !engine_unacked(e)) {
			log_info("engine", "%s: shutting down", strsignal(signo));
			pb_loop_stop(loop);
			break;
		}
		/* Give connected peers a moment to acknowledge what they already
		 * have, instead of moving it to the DLQ (a second signal ends it). */
		log_info("engine", "%s: shutting down after pending acknowledgements (at most %.1f s)",
		    strsignal(signo), SHUTDOWN_GRACE_NS / 1e9);
		e->stopping = true;
		e->shutdown_deadline = pb_mono_ns() + SHUTDOWN_GRACE_NS;
		engine_set_paused(e, true);
		pb_loop_add_timer(loop, DRAIN_TICK_NS, engine_shutdown_tick, e);
		break;
	}
}

static int
engine_open_sinks(struct pb_engine *e, char *err, size_t errlen)
{
	const struct pb_config *cfg = e->cfg;

	e->sinks = calloc(cfg->ndumps ? cfg->ndumps : 1, sizeof(*e->sinks));
	if (!e->sinks) {
		snprintf(err, errlen, "engine: out of memory");
		return -1;
	}
	for (size_t i = 0; i < cfg->ndumps; i++) {
		const struct pb_dump_cfg *d = &cfg->dumps[i];
		struct engine_sink *k = &e->sinks[i];
		struct pb_sink_env env = {
			.loop = e->loop,
			.srcdir = e->dir,
			.stats = &k->stats,
			.on_writable = engine_sink_writable,
			.on_writable_arg = e,
			.on_progress = engine_sink_progress,
			.on_progress_arg = e,
			.js_stats = &k->js,
		};
		char why[512] = "";
		pthread_mutex_init(&k->js.lock, NULL);
		if (d->kind == PB_DUMP_JETSTREAM)
#ifdef HAVE_LIBNATS
			k->sink = pb_sink_jetstream_open(d, &env, why, sizeof(why));
#else
			snprintf(why, sizeof(why), "built without libnats");
#endif
		else
			k->sink = d->kind == PB_DUMP_FILE ? pb_sink_file_open(d, &env, why, sizeof(why))
							  : pb_sink_iface_open(d, &env, why, sizeof(why));
		if (!k->sink) {
			snprintf(err, errlen, "dump '%s': %s", d->name, why);
			return -1;
		}
		e->nsinks++;
	}
	return 0;
}

/* Names a local source in the directory (and so to the peers). */
static int
engine_learn_source(struct pb_engine *e, const struct engine_source *s, uint16_t id,
    uint16_t linktype, uint32_t ifindex, const char *ifname)
{
	const struct pb_capture_cfg *c = s->cfg;
	struct pb_source_info info = {
		.node_id = e->cfg->node.id,
		.source_id = id,
		.linktype = linktype,
	};
	if (ifindex == 0)
		snprintf(info.name, sizeof(info.name), "%s", c->name);
	else if (ifname[0])
		snprintf(info.name, sizeof(info.name), "%.40s/%.20s", c->name, ifname);
	else
		snprintf(info.name, sizeof(info.name), "%.40s/if%" PRIu32, c->name, ifindex);
	if (c->description[0])
		snprintf(info.description, sizeof(info.description), "%s", c->description);
	else
		snprintf(info.description, sizeof(info.description), "%s %.200s",
		    c->is_file ? "file" : "interface", c->is_file ? c->file : c->interface);
	if (ifindex) {
		size_t l = strlen(info.description);
		snprintf(info.description + l, sizeof(info.description) - l,
		    ", interface %" PRIu32, ifindex);
	}
	return pb_tunnel_learn_source(e->tunnel, &info);
}

/* A further interface of a capture's pcapng file: a new source id. */
static int
engine_capture_if(void *ctx, struct pb_capture *cap, uint32_t ifindex, uint16_t linktype,
    const char *ifname)
{
	struct engine_source *s = ctx;
	struct pb_engine *e = s->engine;

	if (e->nsrc_ids > UINT16_MAX)
		return -1;
	uint64_t *n = realloc(e->src_seq, (e->nsrc_ids + 1) * sizeof(*n));
	if (!n)
		return -1;
	e->src_seq = n;
	uint16_t id = (uint16_t)e->nsrc_ids;
	if (engine_learn_source(e, s, id, linktype, ifindex, ifname) < 0)
		return -1;
	e->src_seq[e->nsrc_ids++] = 0;
	return id;
}

static int
engine_open_sources(struct pb_engine *e, char *err, size_t errlen)
{
	const struct pb_config *cfg = e->cfg;

	e->sources = calloc(cfg->ncaptures ? cfg->ncaptures : 1, sizeof(*e->sources));
	e->src_seq = calloc(cfg->ncaptures ? cfg->ncaptures : 1, sizeof(*e->src_seq));
	e->nsrc_ids = (uint32_t)cfg->ncaptures;
	if (!e->sources || !e->src_seq) {
		snprintf(err, errlen, "engine: out of memory");
		return -1;
	}
	/* Open all first and report every failure, not just the first. */
	size_t used = 0;
	int failures = 0;
	for (size_t i = 0; i < cfg->ncaptures; i++) {
		struct engine_source *s = &e->sources[i];
		s->engine = e;
		s->cfg = &cfg->captures[i];
		s->id = (uint16_t)i;
		e->nsources++;
		struct pb_capture_env env = {
			.loop = e->loop,
			.source_id = s->id,
			.stats = &s->stats,
			.deliver = engine_deliver,
			.on_state = engine_capture_state,
			.on_interface = engine_capture_if,
			.ctx = s,
		};
		char why[512] = "";
		if (s->cfg->js) {
#ifdef HAVE_LIBNATS
			struct pb_capture_js_env jenv = { .custody = engine_source_custody,
				.learn = engine_source_learn };
			env.deliver = engine_deliver_stored;
			s->cap = pb_capture_jetstream_open(s->cfg, &env, &jenv, why, sizeof(why));
#else
			snprintf(why, sizeof(why), "capture '%s': built without libnats", s->cfg->name);
#endif
		} else {
			s->cap = pb_capture_open(s->cfg, &env, why, sizeof(why));
		}
		if (!s->cap) {
			failures++;
			int n = snprintf(err + used, errlen - used, "%s%s", used ? "\n" : "", why);
			if (n > 0 && (size_t)n < errlen - used)
				used += (size_t)n;
			continue;
		}
		engine_learn_source(e, s, s->id, pb_capture_linktype(s->cap), 0, "");
	}
	return failures ? -1 : 0;
}

static int
engine_build_view(struct pb_engine *e)
{
	struct pb_view *v = &e->view;
	const struct pb_config *cfg = e->cfg;

	v->node_id = cfg->node.id;
	snprintf(v->node_name, sizeof(v->node_name), "%s", cfg->node.name);
	snprintf(v->node_description, sizeof(v->node_description), "%s", cfg->node.description);
	v->version = PACKAGE_VERSION;
	v->epoch = e->epoch;
	v->started_real_ns = pb_real_ns();
	v->started_mono_ns = pb_mono_ns();
	v->sources = calloc(e->nsources ? e->nsources : 1, sizeof(*v->sources));
	v->sinks = calloc(e->nsinks ? e->nsinks : 1, sizeof(*v->sinks));
	if (!v->sources || !v->sinks)
		return -1;
	for (size_t i = 0; i < e->nsources; i++) {
		const struct pb_capture_cfg *c = e->sources[i].cfg;
		struct pb_view_source *vs = &v->sources[i];
		snprintf(vs->name, sizeof(vs->name), "%s", c->name);
		snprintf(vs->kind, sizeof(vs->kind), "%s", c->js ? "jetstream" : c->is_file ? "file" :
		    "live");
		snprintf(vs->target, sizeof(vs->target), "%s", c->js ? c->js->stream : c->is_file ?
		    c->file : c->interface);
		snprintf(vs->filter, sizeof(vs->filter), "%s", c->filter);
		vs->stats = &e->sources[i].stats;
	}
	v->nsources = e->nsources;
	for (size_t i = 0; i < e->nsinks; i++) {
		const struct pb_dump_cfg *d = &cfg->dumps[i];
		struct pb_view_sink *vk = &v->sinks[i];
		snprintf(vk->name, sizeof(vk->name), "%s", d->name);
		static const char *const kinds[] = { "file", "iface", "jetstream" };
		snprintf(vk->kind, sizeof(vk->kind), "%s", kinds[d->kind]);
		snprintf(vk->target, sizeof(vk->target), "%s", d->kind == PB_DUMP_FILE ? d->file :
		    d->kind == PB_DUMP_IFACE ? d->interface : d->js->stream);
		snprintf(vk->format, sizeof(vk->format), "%s", d->kind == PB_DUMP_JETSTREAM ?
		    PB_JS_FORMAT : d->kind != PB_DUMP_FILE ? "" : d->format == PB_FORMAT_PCAP ? "pcap" :
		    "pcapng");
		vk->stats = &e->sinks[i].stats;
		vk->js = d->kind == PB_DUMP_JETSTREAM ? &e->sinks[i].js : NULL;
	}
	v->nsinks = e->nsinks;
	v->pubstate = &e->pubstate;
	v->config = cfg;
	return 0;
}

static void
engine_on_cmd(struct pb_cmd *cmd, void *arg)
{
	struct pb_engine *e = arg;
	pb_tunnel_on_cmd(e->tunnel, cmd);
}

struct pb_engine *
pb_engine_new(const struct pb_config *cfg, char *err, size_t errlen)
{
	struct pb_engine *e = calloc(1, sizeof(*e));
	if (!e) {
		snprintf(err, errlen, "engine: out of memory");
		return NULL;
	}
	e->cfg = cfg;
	e->tc = &cfg->tunnel;
	pthread_mutex_init(&e->pubstate.lock, NULL);
	/* Real time in ns: unique per start, so a restart never looks like a gap. */
	e->epoch = pb_real_ns();
	if (!(e->loop = pb_loop_new(err, errlen)) || !(e->dir = pb_srcdir_new_limited(cfg->tunnel.limits.max_nodes,
	    cfg->tunnel.limits.max_sources))) {
		if (e->loop && !e->dir)
			snprintf(err, errlen, "engine: out of memory");
		goto fail;
	}
	/* Signals first: threads started below inherit the blocked mask. */
	int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		if (pb_loop_add_signal(e->loop, sigs[i], engine_on_signal, e) < 0) {
			snprintf(err, errlen, "engine: signalfd: %s", strerror(errno));
			goto fail;
		}
	}
	signal(SIGPIPE, SIG_IGN);

	struct pb_tunnel_env tenv = {
		.loop = e->loop,
		.cfg = cfg,
		.dir = e->dir,
		.pubstate = &e->pubstate,
		.epoch = e->epoch,
		.ctx = e,
		.route = engine_route_remote,
		.last_token = engine_last_token,
		.next_token = engine_next_token,
		.local_custody = engine_local_custody,
		.rx_paused = engine_rx_paused,
		.stopping = engine_stopping,
		.peers_full = engine_peers_full,
		.now_real = engine_now_real,
	};
	if (!(e->tunnel = pb_tunnel_new(&tenv, err, errlen)))
		goto fail;
	if (!(e->cmdq = pb_cmdq_new(e->loop, engine_on_cmd, e, err, errlen)))
		goto fail;
	e->pubstate.cmdq = e->cmdq;

	struct pb_node_info self = { .node_id = cfg->node.id };
	snprintf(self.name, sizeof(self.name), "%s", cfg->node.name);
	snprintf(self.description, sizeof(self.description), "%s", cfg->node.description);
	pb_tunnel_learn_node(e->tunnel, &self);

	if (engine_open_sinks(e, err, errlen) < 0 || pb_tunnel_start(e->tunnel, err, errlen) < 0 ||
	    engine_open_sources(e, err, errlen) < 0)
		goto fail;
	if (engine_build_view(e) < 0) {
		snprintf(err, errlen, "engine: out of memory");
		goto fail;
	}
	pb_loop_set_before_sleep(e->loop, engine_before_sleep, e);
	pb_loop_add_timer(e->loop, STATS_INTERVAL_NS, engine_stats_timer, e);
	if (!engine_sinks_writable(e))
		engine_set_paused(e, true);
	e->built = true;
	return e;
fail:
	pb_engine_free(e);
	return NULL;
}

const struct pb_view *
pb_engine_view(const struct pb_engine *e)
{
	return &e->view;
}

void
pb_engine_set_exit_on_finish(struct pb_engine *e, bool on)
{
	e->exit_on_finish = on;
	if (on && e->nsources && engine_all_finished(e))
		pb_loop_stop(e->loop);
}

void
pb_engine_set_stop_hook(struct pb_engine *e, void (*fn)(void *arg), void *arg)
{
	e->stop_hook = fn;
	e->stop_hook_arg = arg;
}

/*
 * The one shutdown order, after the loop ended (pb_engine_run) or instead
 * of it (pb_engine_free of an engine stepped with pb_engine_run_once):
 * management first, so nobody waits on a command the loop will not run
 * and no reader outlives what it reads; then intake; then the sinks,
 * flushed, so what they wrote is in custody; then the tunnel
 * (pb_tunnel_stop), which acknowledges that custody and spills the rest
 * to the DLQ. What is closed is cleared at once: the tunnel's custody walk
 * must not find it. pb_engine_free then drops the published state's
 * references before the tunnel frees what they point to (tunnel.h).
 */
static void
engine_shutdown(struct pb_engine *e)
{
	if (e->shut_down)
		return;
	e->shut_down = true;
	e->stopping = true;
	pb_cmdq_close(e->cmdq);
	pb_cmdq_flush(e->cmdq);
	if (e->stop_hook) {
		e->stop_hook(e->stop_hook_arg);
		e->stop_hook = NULL;
	}

	/* Records a file reader had queued but the engine had not yet taken
	 * were never accepted, so nothing accepted is lost. */
	uint64_t packets = 0;
	for (size_t i = 0; i < e->nsources; i++) {
		struct engine_source *s = &e->sources[i];
		if (s->cap) {
			pb_capture_poll_stats(s->cap);
			pb_capture_close(s->cap, false);
			s->cap = NULL;
		}
		packets += pb_counter_get(&s->stats.packets);
	}
	for (size_t i = 0; i < e->nsinks; i++) {
		if (e->sinks[i].sink) {
			e->sinks[i].sink->ops->close(e->sinks[i].sink);
			e->sinks[i].sink = NULL;
			atomic_store(&e->sinks[i].stats.state, PB_SINK_CLOSED);
		}
	}
	uint64_t received = 0;
	if (e->tunnel) {
		received = pb_tunnel_records_received(e->tunnel);
		pb_tunnel_stop(e->tunnel);
	}
	if (!e->built)
		return; /* pb_engine_new failed: nothing ran, nothing to report */
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	log_info("engine", "stopped: %llu packets captured, %llu records received, all flushed; "
	    "back-pressure pauses %llu; peak RSS %ld KiB", (unsigned long long)packets,
	    (unsigned long long)received, (unsigned long long)e->pauses, ru.ru_maxrss);
}

int
pb_engine_run(struct pb_engine *e)
{
	log_info("engine", "node %u (%s) running: %zu source(s), %zu sink(s), epoch %llu",
	    e->cfg->node.id, e->cfg->node.name, e->nsources, e->nsinks,
	    (unsigned long long)e->epoch);
	int rc = pb_loop_run(e->loop);
	/* --exit-on-finish means "replay these files": one that failed is an
	 * error of the run. */
	if (rc == 0 && e->exit_on_finish && e->failed_sources)
		rc = -1;
	engine_shutdown(e);
	return rc;
}

int
pb_engine_run_once(struct pb_engine *e, int timeout_ms)
{
	return pb_loop_run_once(e->loop, timeout_ms);
}

int
pb_engine_adopt(struct pb_engine *e, int fd, const char *peer_addr)
{
	return pb_tunnel_adopt(e->tunnel, fd, peer_addr);
}

uint16_t
pb_engine_listen_port(const struct pb_engine *e)
{
	return pb_tunnel_listen_port(e->tunnel);
}

void
pb_engine_stop(struct pb_engine *e)
{
	pb_loop_stop(e->loop);
}

void
pb_engine_free(struct pb_engine *e)
{
	if (!e)
		return;
	engine_shutdown(e);
	pb_cmdq_free(e->cmdq);
	/* The published state lets go of the gap table and the DLQ before the
	 * tunnel frees them (management stopped in engine_shutdown). */
	pb_pubstate_release(&e->pubstate);
	pb_tunnel_free(e->tunnel);
	free(e->pubstate.peers);
	pthread_mutex_destroy(&e->pubstate.lock);
	free(e->sources);
	free(e->src_seq);
	free(e->sinks);
	free(e->view.sources);
	free(e->view.sinks);
	pb_srcdir_free(e->dir);
	pb_loop_free(e->loop);
	free(e);
}
