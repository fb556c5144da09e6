/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include "capture.h"
#include "capture_int.h"
#include "clock.h"
#include "linktype.h"
#include "log.h"
#include "trailer.h"

/*
 * Live capture: a non-blocking pcap handle whose selectable fd sits in the
 * engine's epoll (level-triggered). Each wakeup dispatches at most
 * PB_CAPTURE_BUDGET packets; what is left keeps the fd readable, so the
 * loop comes back after serving the others.
 *
 * This file also holds the entry points of capture.h and the per-record
 * path shared with the file source (capture_int.h).
 */

struct live_capture {
	struct pb_capture base; /* first: the public handle */
	pcap_t *p;
	int fd;
	bool registered;        /* fd is in the loop */
	bool in_dispatch;       /* pcap_breakloop only makes sense in there */
	bool nano;              /* pcap gives nanoseconds in ts.tv_usec */
	char interface[PB_NAME_MAX];
};

static struct live_capture *
live_of(struct pb_capture *cap)
{
	return (struct live_capture *)(void *)((char *)cap - offsetof(struct live_capture, base));
}

/* ---- shared per-record path ------------------------------------------- */

void
pb_capture_init(struct pb_capture *cap, const struct pb_capture_ops *ops,
    const struct pb_capture_cfg *cfg, const struct pb_capture_env *env)
{
	cap->ops = ops;
	cap->env = *env;
	snprintf(cap->name, sizeof(cap->name), "%s", cfg->name);
	cap->ntrailers = cfg->ntrailers < PB_MAX_TRAILERS ? cfg->ntrailers : PB_MAX_TRAILERS;
	memcpy(cap->trailers, cfg->trailers, cap->ntrailers * sizeof(cap->trailers[0]));
	cap->fcs = cfg->fcs;
	cap->max_frame = cfg->max_frame ? cfg->max_frame
					: pb_record_default_max_frame((unsigned)cap->ntrailers);
	if (cap->max_frame > PB_FRAME_CAP)
		cap->max_frame = PB_FRAME_CAP;
	pb_capture_set_state(cap, PB_SOURCE_STARTING);
}

void
pb_capture_set_state(struct pb_capture *cap, int state)
{
	cap->state = state;
	atomic_store_explicit(&cap->env.stats->state, state, memory_order_relaxed);
}

void
pb_capture_oversize(struct pb_capture *cap, uint32_t origlen)
{
	pb_counter_add(&cap->env.stats->oversize, 1);
	if (!cap->oversize_logged) {
		cap->oversize_logged = true;
		log_warnx("capture", "capture '%s': dropping a %" PRIu32 "-byte frame above max_frame %"
		    PRIu32 " (counted as oversize; raise max_frame to forward such frames)",
		    cap->name, origlen, cap->max_frame);
	} else {
		log_debug("capture", "capture '%s': oversize frame of %" PRIu32 " bytes", cap->name,
		    origlen);
	}
}

int
pb_capture_add_if(struct pb_capture *cap, uint32_t ifindex, uint16_t linktype,
    const char *ifname, char *err, size_t errlen)
{
	if (ifindex == 0 || ifindex > UINT16_MAX) {
		snprintf(err, errlen, "capture '%s': interface %" PRIu32 " out of range", cap->name,
		    ifindex);
		return -1;
	}
	if (ifindex >= cap->nifs) {
		struct pb_capture_if *n = realloc(cap->ifs, (ifindex + 1) * sizeof(*n));
		if (!n) {
			snprintf(err, errlen, "capture '%s': out of memory", cap->name);
			return -1;
		}
		memset(n + cap->nifs, 0, (ifindex + 1 - cap->nifs) * sizeof(*n));
		cap->ifs = n;
		cap->nifs = ifindex + 1;
	}
	int id = cap->env.on_interface ?
	    cap->env.on_interface(cap->env.ctx, cap, ifindex, linktype, ifname) : -1;
	if (id < 0) {
		snprintf(err, errlen, "capture '%s': no source id left for interface %" PRIu32
		    " of the file (limits.max_sources)", cap->name, ifindex);
		return -1;
	}
	cap->ifs[ifindex].source_id = (uint16_t)id;
	cap->ifs[ifindex].linktype = linktype;
	const char *lt = pb_linktype_name(linktype);
	log_info("capture", "capture '%s': interface %" PRIu32 "%s%s%s, linktype %u (%s), "
	    "source %d", cap->name, ifindex, ifname[0] ? " (" : "", ifname, ifname[0] ? ")" : "",
	    linktype, lt ? lt : "?", id);
	return 0;
}

uint16_t
pb_capture_linktype_of_dlt(const char *capname, int dlt)
{
	int lt = pb_linktype_from_dlt(dlt);
	if (lt >= 0)
		return (uint16_t)lt;
	log_warnx("capture", "capture '%s': libpcap's link type DLT %d has no LINKTYPE number; "
	    "carrying it as %d", capname, dlt, dlt);
	return (uint16_t)dlt;
}

void
pb_capture_process(struct pb_capture *cap, uint32_t ifindex, const uint8_t *data,
    uint32_t caplen, uint32_t origlen, uint64_t ts_ns)
{
	struct pb_source_stats *st = cap->env.stats;
	struct pb_record *rec = &cap->rec;

	/* Live: the snaplen is max_frame + 1, so an origlen above max_frame is
	 * a frame we did not get whole. A file's snaplen is the file's own. */
	if (caplen > cap->max_frame || (!cap->keep_snapped && origlen > cap->max_frame)) {
		pb_capture_oversize(cap, origlen > caplen && !cap->keep_snapped ? origlen : caplen);
		return;
	}
	pb_record_reset(rec);
	rec->data = data;
	rec->caplen = caplen;
	rec->origlen = origlen;
	rec->ts_ns = ts_ns;
	if (ifindex) {
		rec->linktype = cap->ifs[ifindex].linktype;
		rec->origin_source = cap->ifs[ifindex].source_id;
	} else {
		rec->linktype = cap->linktype;
		rec->origin_source = cap->env.source_id;
	}
	rec->flags = cap->fcs ? PB_REC_FCS : 0;
	if (caplen < origlen) {
		/* Trailers sit at the end of the wire frame, which is not here. */
		pb_counter_add(&st->truncated, 1);
	} else if (cap->ntrailers > 0) {
		int bad = pb_trailers_parse(cap->trailers, cap->ntrailers, cap->fcs, data, caplen, rec);
		if (bad < 0)
			bad = (int)cap->ntrailers;
		if ((size_t)bad > cap->ntrailers)
			bad = (int)cap->ntrailers;
		pb_counter_add(&st->trailers_ok, cap->ntrailers - (size_t)bad);
		if (bad)
			pb_counter_add(&st->trailer_errors, (uint64_t)bad);
	}
	pb_counter_add(&st->packets, 1);
	pb_counter_add(&st->bytes, caplen);
	cap->env.deliver(cap->env.ctx, rec);
}

/* ---- live source --------------------------------------------------------- */

static void
live_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
	struct live_capture *lc = (struct live_capture *)(void *)user;
	uint64_t frac = (uint64_t)h->ts.tv_usec;
	uint64_t ts = h->ts.tv_sec > 0 ? (uint64_t)h->ts.tv_sec * PB_NSEC_PER_SEC : 0;

	ts += lc->nano ? frac : frac * 1000u;
	pb_capture_process(&lc->base, 0, bytes, h->caplen, h->len, ts);
}

static void
live_unregister(struct live_capture *lc)
{
	if (!lc->registered)
		return;
	if (pb_loop_del_fd(lc->base.env.loop, lc->fd) < 0)
		log_warn("capture", "capture '%s': epoll del", lc->base.name);
	lc->registered = false;
}

static void live_readable(struct pb_loop *loop, int fd, uint32_t events, void *arg);

static int
live_register(struct live_capture *lc)
{
	if (lc->registered)
		return 0;
	if (pb_loop_add_fd(lc->base.env.loop, lc->fd, EPOLLIN, live_readable, lc) < 0)
		return -1;
	lc->registered = true;
	return 0;
}

/* Dispatches up to `budget` packets; returns -1 after a read error. */
static int
live_dispatch(struct live_capture *lc, unsigned budget)
{
	while (budget > 0 && !lc->base.paused) {
		int cnt = (int)budget;
		lc->in_dispatch = true;
		int n = pcap_dispatch(lc->p, cnt, live_packet, (u_char *)lc);
		lc->in_dispatch = false;
		if (n == PCAP_ERROR_BREAK)
			break;
		if (n < 0)
			return -1;
		/* Fewer than asked: the ring was empty, no need for one more poll(). */
		if (n < cnt)
			break;
		budget -= (unsigned)n;
	}
	return 0;
}

static void
live_readable(struct pb_loop *loop, int fd, uint32_t events, void *arg)
{
	struct live_capture *lc = arg;

	if (lc->base.paused)
		return;
	if (live_dispatch(lc, PB_CAPTURE_BUDGET) == 0)
		return;
	log_warnx("capture", "capture '%s': interface %s: read error: %s", lc->base.name,
	    lc->interface, pcap_geterr(lc->p));
	pb_counter_add(&lc->base.env.stats->read_errors, 1);
	live_unregister(lc);
	pb_capture_set_state(&lc->base, PB_SOURCE_FAILED);
	/* Last: the engine may close the source from its callback. */
	lc->base.env.on_state(lc->base.env.ctx, &lc->base, PB_SOURCE_FAILED);
}

static void
live_pause(struct pb_capture *cap, bool paused)
{
	struct live_capture *lc = live_of(cap);

	if (cap->state == PB_SOURCE_FAILED)
		return;
	if (paused) {
		if (lc->in_dispatch)
			pcap_breakloop(lc->p);
		/* Removed rather than 0 events: a pending socket error (interface
		 * down) would otherwise keep reporting EPOLLERR while paused. */
		live_unregister(lc);
	} else if (live_register(lc) < 0) {
		log_warn("capture", "capture '%s': cannot resume: epoll add", cap->name);
	}
}

static void
live_poll_stats(struct pb_capture *cap)
{
	struct live_capture *lc = live_of(cap);
	struct pcap_stat ps;

	if (pcap_stats(lc->p, &ps) < 0) {
		log_debug("capture", "capture '%s': pcap_stats: %s", cap->name, pcap_geterr(lc->p));
		return;
	}
	pb_counter_set(&cap->env.stats->pcap_received, ps.ps_recv);
	pb_counter_set(&cap->env.stats->pcap_drops, ps.ps_drop);
	pb_counter_set(&cap->env.stats->pcap_ifdrops, ps.ps_ifdrop);
}

static void
live_close(struct pb_capture *cap, bool drain)
{
	struct live_capture *lc = live_of(cap);

	/* Whatever the kernel already holds; bounded, and stops when paused. */
	if (drain && cap->state != PB_SOURCE_FAILED && !cap->paused)
		(void)live_dispatch(lc, 16 * PB_CAPTURE_BUDGET);
	live_unregister(lc);
	pcap_close(lc->p);
	free(lc);
}

static const struct pb_capture_ops live_ops = {
	.pause = live_pause,
	.poll_stats = live_poll_stats,
	.close = live_close,
};

/* Error text of a failed or warning pcap_activate(). */
static void
live_status_text(pcap_t *p, int rc, char *buf, size_t len)
{
	const char *detail = pcap_geterr(p);

	if ((rc == PCAP_ERROR || rc == PCAP_WARNING) && detail[0]) {
		snprintf(buf, len, "%s", detail);
		return;
	}
	const char *hint = "";
	if (rc == PCAP_ERROR_PERM_DENIED || rc == PCAP_ERROR_PROMISC_PERM_DENIED)
		hint = " (needs root or CAP_NET_RAW)";
	if (detail[0] && strcmp(detail, pcap_statustostr(rc)) != 0)
		snprintf(buf, len, "%s%s (%s)", pcap_statustostr(rc), hint, detail);
	else
		snprintf(buf, len, "%s%s", pcap_statustostr(rc), hint);
}

/* The configured link type, when the interface offers it; else an error
 * that lists what it offers. */
static int
live_set_linktype(struct live_capture *lc, const struct pb_capture_cfg *cfg, char *err,
    size_t errlen)
{
	int dlt = pb_linktype_to_dlt(cfg->linktype);
	if (pcap_set_datalink(lc->p, dlt) == 0)
		return 0;
	char offered[512] = "";
	size_t used = 0;
	int *dlts = NULL;
	int n = pcap_list_datalinks(lc->p, &dlts);
	for (int i = 0; i < n; i++) {
		int lt = pb_linktype_from_dlt(dlts[i]);
		const char *nm = pcap_datalink_val_to_name(dlts[i]);
		int w = snprintf(offered + used, sizeof(offered) - used, "%s%s (%d)", used ? ", " : "",
		    nm ? nm : "?", lt < 0 ? dlts[i] : lt);
		if (w < 0 || (size_t)w >= sizeof(offered) - used)
			break;
		used += (size_t)w;
	}
	if (n >= 0)
		pcap_free_datalinks(dlts);
	const char *want = pb_linktype_name(cfg->linktype);
	snprintf(err, errlen, "capture '%s': interface %s: link type %u (%s) not offered; it "
	    "offers %s", cfg->name, cfg->interface, cfg->linktype, want ? want : "?",
	    offered[0] ? offered : "none");
	return -1;
}

static int
live_setup(struct live_capture *lc, const struct pb_capture_cfg *cfg, char *err, size_t errlen)
{
	const char *name = cfg->name;
	const char *ifname = cfg->interface;
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	char text[PCAP_ERRBUF_SIZE + 128];
	pcap_t *p;
	int rc;

	p = lc->p = pcap_create(ifname, ebuf);
	if (!p) {
		snprintf(err, errlen, "capture '%s': interface %s: %s", name, ifname, ebuf);
		return -1;
	}
	/* One byte above the limit, so an oversize frame shows as origlen >
	 * max_frame and is rejected instead of silently truncated. */
	pcap_set_snaplen(p, (int)lc->base.max_frame + 1);
	pcap_set_promisc(p, cfg->promisc ? 1 : 0);
	if (cfg->buffer_mb > 0) {
		uint64_t bytes = (uint64_t)cfg->buffer_mb << 20;
		pcap_set_buffer_size(p, bytes > INT_MAX ? INT_MAX : (int)bytes);
	}
	/* The default timeout lets packets sit in a half-filled TPACKET_V3
	 * block indefinitely; a broker wants them now. */
	if (cfg->timeout_ms == 0)
		pcap_set_immediate_mode(p, 1);
	else
		pcap_set_timeout(p, cfg->timeout_ms > INT_MAX ? INT_MAX : (int)cfg->timeout_ms);
	rc = pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO);
	if (rc != 0)
		log_warnx("capture", "capture '%s': interface %s: nanosecond timestamps unavailable (%s), "
		    "using microseconds", name, ifname, pcap_statustostr(rc));

	rc = pcap_activate(p);
	if (rc < 0) {
		live_status_text(p, rc, text, sizeof(text));
		snprintf(err, errlen, "capture '%s': interface %s: %s", name, ifname, text);
		return -1;
	}
	if (rc > 0) {
		live_status_text(p, rc, text, sizeof(text));
		log_warnx("capture", "capture '%s': interface %s: %s", name, ifname, text);
	}
	lc->nano = pcap_get_tstamp_precision(p) == PCAP_TSTAMP_PRECISION_NANO;
	if (cfg->has_linktype && live_set_linktype(lc, cfg, err, errlen) < 0)
		return -1;
	lc->base.linktype = pb_capture_linktype_of_dlt(name, pcap_datalink(p));

	/* Inbound only: frames an interface sink injects here are not
	 * captured again (no forwarding loop). */
	if (pcap_setdirection(p, PCAP_D_IN) < 0)
		log_warnx("capture", "capture '%s': interface %s: cannot capture inbound only (%s); "
		    "frames sent on this interface will be captured too", name, ifname,
		    pcap_geterr(p));

	if (cfg->filter[0]) {
		struct bpf_program prog;
		if (pcap_compile(p, &prog, cfg->filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
			snprintf(err, errlen, "capture '%s': filter '%s': %s", name, cfg->filter,
			    pcap_geterr(p));
			return -1;
		}
		rc = pcap_setfilter(p, &prog);
		pcap_freecode(&prog);
		if (rc < 0) {
			snprintf(err, errlen, "capture '%s': filter '%s': %s", name, cfg->filter,
			    pcap_geterr(p));
			return -1;
		}
	}
	if (pcap_setnonblock(p, 1, ebuf) < 0) {
		snprintf(err, errlen, "capture '%s': interface %s: %s", name, ifname, ebuf);
		return -1;
	}
	lc->fd = pcap_get_selectable_fd(p);
	if (lc->fd < 0) {
		snprintf(err, errlen, "capture '%s': interface %s: no selectable descriptor", name,
		    ifname);
		return -1;
	}
	if (live_register(lc) < 0) {
		snprintf(err, errlen, "capture '%s': interface %s: epoll: %s", name, ifname,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static struct pb_capture *
live_open(const struct pb_capture_cfg *cfg, const struct pb_capture_env *env, char *err,
    size_t errlen)
{
	struct live_capture *lc = calloc(1, sizeof(*lc));

	if (!lc) {
		snprintf(err, errlen, "capture '%s': out of memory", cfg->name);
		return NULL;
	}
	lc->fd = -1;
	snprintf(lc->interface, sizeof(lc->interface), "%s", cfg->interface);
	pb_capture_init(&lc->base, &live_ops, cfg, env);
	if (live_setup(lc, cfg, err, errlen) < 0) {
		pb_capture_set_state(&lc->base, PB_SOURCE_FAILED);
		if (lc->p)
			pcap_close(lc->p);
		free(lc);
		return NULL;
	}
	pb_capture_set_state(&lc->base, PB_SOURCE_RUNNING);
	const char *lt = pb_linktype_name(lc->base.linktype);
	log_info("capture", "capture '%s': interface %s, linktype %u (%s), snaplen %" PRIu32 "%s%s",
	    cfg->name, cfg->interface, lc->base.linktype, lt ? lt : "?", lc->base.max_frame + 1,
	    cfg->filter[0] ? ", filter " : "", cfg->filter);
	return &lc->base;
}

/* ---- capture.h entry points ---------------------------------------------- */

struct pb_capture *
pb_capture_open(const struct pb_capture_cfg *cfg, const struct pb_capture_env *env, char *err,
    size_t errlen)
{
	if (cfg->is_file)
		return pb_capture_file_open(cfg, env, err, errlen);
	return live_open(cfg, env, err, errlen);
}

void
pb_capture_pause(struct pb_capture *cap, bool paused)
{
	if (cap->paused == paused)
		return;
	cap->paused = paused;
	if (paused && cap->state == PB_SOURCE_RUNNING)
		pb_capture_set_state(cap, PB_SOURCE_PAUSED);
	else if (!paused && cap->state == PB_SOURCE_PAUSED)
		pb_capture_set_state(cap, PB_SOURCE_RUNNING);
	cap->ops->pause(cap, paused);
}

void
pb_capture_poll_stats(struct pb_capture *cap)
{
	if (cap->ops->poll_stats)
		cap->ops->poll_stats(cap);
}

int
pb_capture_state(const struct pb_capture *cap)
{
	return cap->state;
}

uint16_t
pb_capture_linktype(const struct pb_capture *cap)
{
	return cap->linktype;
}

void
pb_capture_close(struct pb_capture *cap, bool drain)
{
	if (cap)
		cap->ops->close(cap, drain);
}
