/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "clock.h"
#include "linktype.h"
#include "log.h"
#include "sink.h"

/*
 * Interface sink: injects each record's bytes exactly as captured (FCS and
 * trailer bytes included: to the kernel they are payload) on a
 * non-blocking packet socket. When the socket or the device queue is full
 * the frame is copied into a bounded FIFO that drains on EPOLLOUT
 * (EAGAIN) or on a short timer (ENOBUFS: the qdisc dropped it, and the
 * socket itself stays writable, so EPOLLOUT would spin).
 */

#define IFQ_SIZE (4u << 20)             /* power of two */
#define IFQ_ALIGN 16u                   /* == entry header: a wrap marker always fits */
#define IFQ_WRAP UINT32_MAX
#define IFQ_ENTRY_MAX ((sizeof(struct ifq_entry) + PB_FRAME_CAP + IFQ_ALIGN - 1) & ~(size_t)(IFQ_ALIGN - 1))
/* Room for one more maximum frame, even when it has to wrap. */
#define IFQ_ROOM (2 * IFQ_ENTRY_MAX)
#define RETRY_NS (500 * 1000)           /* ENOBUFS retry */
#define CLOSE_WAIT_NS (2 * PB_NSEC_PER_SEC)
#define RX_BUFFER (256 * 1024)          /* the receive side is unused */

struct ifq_entry {
	uint32_t len;           /* frame bytes, IFQ_WRAP = skip to the start */
	uint32_t size;          /* whole entry, IFQ_ALIGN multiple */
	uint64_t token;         /* custody token of the frame */
};

struct iface_sink {
	struct pb_sink base;    /* first: the public handle */
	struct pb_loop *loop;
	pcap_t *p;
	int fd;
	int linktype;
	char interface[PB_NAME_MAX];
	uint8_t *q;
	uint64_t qhead, qtail;  /* byte positions, single thread */
	uint64_t qcount;
	/* Custody: queued frames are not in custody until injected. */
	uint64_t seen_token;    /* highest token given to write() */
	uint64_t inj_token;     /* highest token injected (or rejected) from the queue */
	uint64_t reported_token; /* last custody passed to on_progress */
	bool registered;        /* fd in the loop for EPOLLOUT */
	pb_timer_id timer;      /* ENOBUFS retry */
	bool blocked;           /* writable() said no: call on_writable later */
	bool emsgsize_logged;
	bool linktype_logged;
	bool truncated_logged;
	int last_errno;         /* last logged inject error, to log changes only */
};

static struct iface_sink *
iface_of(struct pb_sink *sink)
{
	return (struct iface_sink *)(void *)((char *)sink - offsetof(struct iface_sink, base));
}

/* ---- FIFO ---------------------------------------------------------------- */

static uint64_t
ifq_free(const struct iface_sink *s)
{
	return IFQ_SIZE - (s->qhead - s->qtail);
}

static int
ifq_push(struct iface_sink *s, const uint8_t *data, uint32_t len, uint64_t token)
{
	uint64_t need = (sizeof(struct ifq_entry) + len + IFQ_ALIGN - 1) & ~(uint64_t)(IFQ_ALIGN - 1);
	uint64_t off = s->qhead & (IFQ_SIZE - 1);
	uint64_t to_end = IFQ_SIZE - off;

	if (ifq_free(s) < (to_end < need ? to_end + need : need))
		return -1;
	if (to_end < need) {
		struct ifq_entry *w = (struct ifq_entry *)(void *)(s->q + off);
		w->len = IFQ_WRAP;
		w->size = (uint32_t)to_end;
		s->qhead += to_end;
		off = 0;
	}
	struct ifq_entry *e = (struct ifq_entry *)(void *)(s->q + off);
	e->len = len;
	e->size = (uint32_t)need;
	e->token = token;
	memcpy(e + 1, data, len);
	s->qhead += need;
	s->qcount++;
	return 0;
}

static const struct ifq_entry *
ifq_front(struct iface_sink *s)
{
	while (s->qtail != s->qhead) {
		const struct ifq_entry *e =
		    (const struct ifq_entry *)(const void *)(s->q + (s->qtail & (IFQ_SIZE - 1)));
		if (e->len != IFQ_WRAP)
			return e;
		s->qtail += e->size;
	}
	return NULL;
}

static void
ifq_pop(struct iface_sink *s, const struct ifq_entry *e)
{
	s->qtail += e->size;
	s->qcount--;
}

/* ---- injection ----------------------------------------------------------- */

enum { SEND_OK = 0, SEND_REJECTED = 1 }; /* else EAGAIN / ENOBUFS: retry later */

static int
iface_send(struct iface_sink *s, const uint8_t *data, uint32_t len)
{
	struct pb_sink_stats *st = s->base.stats;
	int rc = pcap_inject(s->p, data, len);
	int e = errno;

	if (rc == (int)len) {
		if (s->last_errno) {
			s->last_errno = 0;
			atomic_store_explicit(&st->state, PB_SINK_OK, memory_order_relaxed);
		}
		return SEND_OK;
	}
	if (rc >= 0)
		e = EIO; /* short write: a packet socket never does that */
	if (e == EAGAIN || e == EWOULDBLOCK)
		return EAGAIN;
	if (e == ENOBUFS)
		return ENOBUFS;
	pb_counter_add(&st->inject_errors, 1);
	if (e == EMSGSIZE) {
		if (!s->emsgsize_logged) {
			s->emsgsize_logged = true;
			log_warnx("iface", "dump '%s': interface %s: a %" PRIu32 "-byte frame does not fit "
			    "the MTU; raise the MTU of %s (e.g. ip link set %s mtu %" PRIu32
			    "); such frames are counted as inject errors", s->base.name, s->interface, len,
			    s->interface, s->interface, len > 14 ? len - 14 : len);
		}
	} else if (e != s->last_errno) {
		log_warnx("iface", "dump '%s': interface %s: inject: %s", s->base.name, s->interface,
		    pcap_geterr(s->p));
	}
	s->last_errno = e;
	atomic_store_explicit(&st->state, PB_SINK_ERROR, memory_order_relaxed);
	return SEND_REJECTED;
}

/* Sends queued frames in order; 0 when the queue is empty. */
static int
iface_drain(struct iface_sink *s)
{
	const struct ifq_entry *e;

	while ((e = ifq_front(s)) != NULL) {
		int r = iface_send(s, (const uint8_t *)(e + 1), e->len);
		if (r == EAGAIN || r == ENOBUFS)
			return r;
		/* Injected, or rejected for good: custody passes it. */
		if (e->token > s->inj_token)
			s->inj_token = e->token;
		ifq_pop(s, e);
	}
	return 0;
}

static void iface_fd_cb(struct pb_loop *loop, int fd, uint32_t events, void *arg);
static int64_t iface_retry_cb(struct pb_loop *loop, void *arg);

static void
iface_unregister(struct iface_sink *s)
{
	if (!s->registered)
		return;
	if (pb_loop_del_fd(s->loop, s->fd) < 0)
		log_warn("iface", "dump '%s': epoll del", s->base.name);
	s->registered = false;
}

/* Waits for the right event after a send result r: EPOLLOUT for a full
 * socket, a timer for a full device queue, nothing once the queue is empty. */
static int
iface_arm(struct iface_sink *s, int r, bool in_timer)
{
	if (r == EAGAIN) {
		if (!s->registered) {
			if (pb_loop_add_fd(s->loop, s->fd, EPOLLOUT, iface_fd_cb, s) == 0)
				s->registered = true;
			else
				r = ENOBUFS; /* fall back to polling by timer */
		}
	} else {
		iface_unregister(s);
	}
	if (r == ENOBUFS && !s->timer && !in_timer)
		s->timer = pb_loop_add_timer(s->loop, RETRY_NS, iface_retry_cb, s);
	return r;
}

static int
iface_service(struct iface_sink *s, bool in_timer)
{
	int r = iface_arm(s, iface_drain(s), in_timer);

	if (s->blocked && ifq_free(s) >= IFQ_ROOM) {
		s->blocked = false;
		atomic_store_explicit(&s->base.stats->state, s->last_errno ? PB_SINK_ERROR : PB_SINK_OK,
		    memory_order_relaxed);
		/* Last: the engine resumes its sources from here. */
		if (s->base.on_writable)
			s->base.on_writable(&s->base, s->base.on_writable_arg);
	}
	return r;
}

static void
iface_fd_cb(struct pb_loop *loop, int fd, uint32_t events, void *arg)
{
	struct iface_sink *s = arg;

	if (events & EPOLLERR) {
		/* Reading SO_ERROR clears it (e.g. ENETDOWN); it would fire again. */
		int soerr = 0;
		socklen_t len = sizeof(soerr);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr)
			log_debug("iface", "dump '%s': interface %s: %s", s->base.name, s->interface,
			    strerror(soerr));
	}
	iface_service(s, false);
}

static int64_t
iface_retry_cb(struct pb_loop *loop, void *arg)
{
	struct iface_sink *s = arg;

	if (iface_service(s, true) == ENOBUFS)
		return RETRY_NS;
	s->timer = 0;
	return PB_TIMER_STOP;
}

/* ---- sink ops ------------------------------------------------------------ */

static int
iface_put(struct pb_sink *sink, const struct pb_record *rec)
{
	struct iface_sink *s = iface_of(sink);
	struct pb_sink_stats *st = sink->stats;

	if (rec->linktype != s->linktype) {
		pb_counter_add(&st->inject_errors, 1);
		if (!s->linktype_logged) {
			s->linktype_logged = true;
			const char *have = pb_linktype_name(s->linktype);
			const char *got = pb_linktype_name(rec->linktype);
			log_warnx("iface", "dump '%s': interface %s has link type %d (%s), not "
			    "injecting frames of link type %u (%s)", sink->name, s->interface,
			    s->linktype, have ? have : "?", rec->linktype, got ? got : "?");
		}
		return -1;
	}
	if (rec->caplen < rec->origlen || rec->caplen == 0) {
		/* Half a frame on the wire would be garbage to the receiver. */
		pb_counter_add(&st->inject_errors, 1);
		if (!s->truncated_logged) {
			s->truncated_logged = true;
			log_warnx("iface", "dump '%s': interface %s: not injecting truncated frames "
			    "(%" PRIu32 " of %" PRIu32 " bytes captured)", sink->name, s->interface,
			    rec->caplen, rec->origlen);
		}
		return -1;
	}
	bool backlog = s->qhead != s->qtail;
	int r = EAGAIN;
	if (!backlog) {
		r = iface_send(s, rec->data, rec->caplen);
		if (r == SEND_REJECTED)
			return -1;
	}
	if (r != SEND_OK) {
		/* Behind a backlog (already armed), or the socket is full: queue,
		 * keeping the order. */
		if (ifq_push(s, rec->data, rec->caplen, rec->token) < 0) {
			pb_counter_add(&st->inject_errors, 1);
			log_debug("iface", "dump '%s': queue full, frame dropped", sink->name);
			return -1;
		}
		if (!backlog)
			iface_arm(s, r, false);
	}
	pb_counter_add(&st->packets, 1);
	pb_counter_add(&st->bytes, rec->caplen);
	return 0;
}

/* Custody bookkeeping around iface_put(); a rejected record (-1) will
 * never be injected and must not hold custody back. */
static int
iface_write(struct pb_sink *sink, const struct pb_record *rec)
{
	struct iface_sink *s = iface_of(sink);
	bool was_empty = !s->qcount;
	uint64_t before = s->seen_token;
	int rc = iface_put(sink, rec);

	/* Everything before this record went out (or was rejected). */
	if (was_empty && s->qcount)
		s->inj_token = before;
	if (rec->token > s->seen_token)
		s->seen_token = rec->token;
	return rc;
}

static uint64_t
iface_custody(struct pb_sink *sink)
{
	struct iface_sink *s = iface_of(sink);

	return s->qcount ? s->inj_token : s->seen_token;
}

static bool
iface_writable(struct pb_sink *sink)
{
	struct iface_sink *s = iface_of(sink);

	if (ifq_free(s) >= IFQ_ROOM)
		return true;
	if (!s->blocked) {
		s->blocked = true;
		pb_counter_add(&sink->stats->backlog_events, 1);
		atomic_store_explicit(&sink->stats->state, PB_SINK_BACKLOG, memory_order_relaxed);
	}
	return false;
}

static void
iface_flush(struct pb_sink *sink)
{
	struct iface_sink *s = iface_of(sink);
	uint64_t t = iface_custody(sink);

	/* Nothing buffered on purpose: frames go out as they come. Once per
	 * engine iteration, report the frames injected since the last one. */
	if (t <= s->reported_token)
		return;
	s->reported_token = t;
	if (sink->on_progress)
		sink->on_progress(sink, sink->on_progress_arg);
}

static void
iface_reopen(struct pb_sink *sink)
{
	struct iface_sink *s = iface_of(sink);
	log_info("iface", "dump '%s': interface %s: nothing to reopen", sink->name, s->interface);
}

static void
iface_close(struct pb_sink *sink)
{
	struct iface_sink *s = iface_of(sink);
	uint64_t deadline = pb_mono_ns() + CLOSE_WAIT_NS;

	for (;;) {
		int r = iface_drain(s);
		if (r == 0)
			break;
		uint64_t now = pb_mono_ns();
		if (now >= deadline) {
			log_warnx("iface", "dump '%s': interface %s: %" PRIu64 " queued frame(s) not sent "
			    "within %llu s, dropped", sink->name, s->interface, s->qcount,
			    (unsigned long long)(CLOSE_WAIT_NS / PB_NSEC_PER_SEC));
			pb_counter_add(&sink->stats->inject_errors, s->qcount);
			break;
		}
		if (r == EAGAIN) {
			struct pollfd pfd = { .fd = s->fd, .events = POLLOUT };
			uint64_t ms = (deadline - now) / PB_NSEC_PER_MSEC + 1;
			(void)poll(&pfd, 1, ms > 100 ? 100 : (int)ms);
		} else {
			struct timespec ts = { .tv_sec = 0, .tv_nsec = RETRY_NS };
			nanosleep(&ts, NULL);
		}
	}
	iface_unregister(s);
	if (s->timer)
		pb_loop_del_timer(s->loop, s->timer);
	atomic_store_explicit(&sink->stats->state, PB_SINK_CLOSED, memory_order_relaxed);
	pcap_close(s->p);
	free(s->q);
	free(s);
}

static const struct pb_sink_ops iface_ops = {
	.write = iface_write,
	.writable = iface_writable,
	.flush = iface_flush,
	.reopen = iface_reopen,
	.close = iface_close,
	.custody = iface_custody,
};

static int
iface_setup(struct iface_sink *s, const struct pb_dump_cfg *cfg, char *err, size_t errlen)
{
	const char *name = cfg->name;
	const char *ifname = cfg->interface;
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	struct bpf_program prog;
	int rc;

	s->p = pcap_create(ifname, ebuf);
	if (!s->p) {
		snprintf(err, errlen, "dump '%s': interface %s: %s", name, ifname, ebuf);
		return -1;
	}
	/* Small receive ring: this handle only sends. */
	pcap_set_snaplen(s->p, 128);
	pcap_set_buffer_size(s->p, RX_BUFFER);
	rc = pcap_activate(s->p);
	if (rc != 0) {
		const char *detail = pcap_geterr(s->p);
		char text[PCAP_ERRBUF_SIZE + 128];
		if ((rc == PCAP_ERROR || rc == PCAP_WARNING) && detail[0])
			snprintf(text, sizeof(text), "%s", detail);
		else if (detail[0] && strcmp(detail, pcap_statustostr(rc)) != 0)
			snprintf(text, sizeof(text), "%s (%s)", pcap_statustostr(rc), detail);
		else
			snprintf(text, sizeof(text), "%s%s", pcap_statustostr(rc),
			    rc == PCAP_ERROR_PERM_DENIED ? " (needs root or CAP_NET_RAW)" : "");
		if (rc < 0) {
			snprintf(err, errlen, "dump '%s': interface %s: %s", name, ifname, text);
			return -1;
		}
		log_warnx("iface", "dump '%s': interface %s: %s", name, ifname, text);
	}
	/* Accept nothing: the kernel then never copies received traffic into
	 * a ring nobody reads. Not fatal if it fails. */
	if (pcap_compile(s->p, &prog, "less 0", 1, PCAP_NETMASK_UNKNOWN) == 0) {
		if (pcap_setfilter(s->p, &prog) < 0)
			log_debug("iface", "dump '%s': drop-all filter: %s", name, pcap_geterr(s->p));
		pcap_freecode(&prog);
	}
	/* Records carry LINKTYPE_* values, libpcap the platform's DLT_*. */
	s->linktype = pb_linktype_from_dlt(pcap_datalink(s->p));
	if (s->linktype < 0)
		s->linktype = pcap_datalink(s->p);
	s->fd = pcap_get_selectable_fd(s->p);
	if (s->fd < 0) {
		snprintf(err, errlen, "dump '%s': interface %s: no selectable descriptor", name, ifname);
		return -1;
	}
	/* pcap_setnonblock() only changes libpcap's read path; sends need the flag. */
	int fl = fcntl(s->fd, F_GETFL);
	if (fl < 0 || fcntl(s->fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		snprintf(err, errlen, "dump '%s': interface %s: O_NONBLOCK: %s", name, ifname,
		    strerror(errno));
		return -1;
	}
	if (!(s->q = malloc(IFQ_SIZE))) {
		snprintf(err, errlen, "dump '%s': out of memory", name);
		return -1;
	}
	return 0;
}

struct pb_sink *
pb_sink_iface_open(const struct pb_dump_cfg *cfg, const struct pb_sink_env *env, char *err,
    size_t errlen)
{
	struct iface_sink *s = calloc(1, sizeof(*s));

	if (!s) {
		snprintf(err, errlen, "dump '%s': out of memory", cfg->name);
		return NULL;
	}
	s->base.ops = &iface_ops;
	snprintf(s->base.name, sizeof(s->base.name), "%s", cfg->name);
	s->base.stats = env->stats;
	s->base.on_writable = env->on_writable;
	s->base.on_writable_arg = env->on_writable_arg;
	s->base.on_progress = env->on_progress;
	s->base.on_progress_arg = env->on_progress_arg;
	s->loop = env->loop;
	s->fd = -1;
	snprintf(s->interface, sizeof(s->interface), "%s", cfg->interface);
	if (iface_setup(s, cfg, err, errlen) < 0) {
		if (s->p)
			pcap_close(s->p);
		free(s->q);
		free(s);
		return NULL;
	}
	atomic_store_explicit(&env->stats->state, PB_SINK_OK, memory_order_relaxed);
	const char *lt = pb_linktype_name(s->linktype);
	log_info("iface", "dump '%s': injecting on interface %s (link type %d, %s)", cfg->name,
	    cfg->interface, s->linktype, lt ? lt : "?");
	return &s->base;
}
