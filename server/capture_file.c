/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "capture.h"
#include "capture_int.h"
#include "pcap_reader.h"
#include "clock.h"
#include "linktype.h"
#include "log.h"

/*
 * File replay. A reader thread reads the pcap/pcapng file, paces it and
 * copies each frame into a bounded single-producer/single-consumer ring;
 * the engine thread drains the ring and runs the same per-record path as
 * a live capture. The engine never touches the disk and the reader never
 * drops: when the ring is full it waits for the engine (back-pressure).
 *
 * Wakeups: the engine sleeps in epoll on an eventfd. It announces that it
 * found the ring empty (engine_idle) and the reader writes the eventfd only
 * then, and only every SIGNAL_BATCH records or before it waits (pacing,
 * full ring, end of file), so a fast replay costs one wakeup per batch.
 * Both sides use a store / full fence / load of the other's variable, so
 * at least one of them sees the other and no wakeup is lost.
 *
 * Classic pcap and pcapng are read by our own reader (pcap_reader.h),
 * other formats by libpcap. Link types are LINKTYPE_* values: our reader
 * gives the file's own, libpcap's DLT is mapped (linktype.h). A pcapng
 * file with several interfaces gives each interface beyond the first its
 * own source id and link type: the reader announces it (ENT_INTERFACE)
 * before its first packet, the engine names it, and a BPF filter is
 * compiled once per link type.
 */

#define RING_SIZE (8u << 20)            /* power of two */
#define RING_ALIGN 32u                  /* >= entry header: a wrap marker always fits */
#define SIGNAL_BATCH 64u
#define WAIT_SLICE_NS (100 * PB_NSEC_PER_MSEC)
#define FILE_READ_BUFFER (1u << 20)

enum file_entry_kind {
	ENT_PACKET = 1,
	ENT_OVERSIZE,   /* caplen above max_frame: header only, origlen = caplen */
	ENT_LOOP_END,   /* a pass completed */
	ENT_WARN,       /* read error that ended a pass; data = message */
	ENT_ERROR,      /* fatal; data = message */
	ENT_EOF,        /* last pass done */
	ENT_WRAP,       /* skip to the start of the ring */
	ENT_INTERFACE,  /* new file interface ifidx; origlen = linktype, data = if_name */
};

struct file_entry {
	uint32_t kind;
	uint32_t size;          /* whole entry, RING_ALIGN multiple */
	uint32_t caplen;        /* bytes following the header */
	uint32_t origlen;
	uint32_t ifidx;         /* file interface (0 = the source's own) */
	uint32_t pad;
	uint64_t ts_ns;
};

/* A BPF program for one link type (a file may have several). */
struct file_prog {
	uint32_t linktype;
	struct bpf_program prog;
};

struct file_capture {
	struct pb_capture base; /* first: the public handle */
	char path[PATH_MAX];
	pcap_t *p;              /* the reader's once the thread runs */
	struct pb_pcap_reader fast; /* pcap/pcapng over mmap (else libpcap reads) */
	bool use_fast;
	char filter[PB_FILTER_MAX];
	struct file_prog *progs; /* [0]: interface 0's link type, compiled at open */
	uint32_t nprogs;
	bool have_prog;
	/* Reader thread: link type and program of each file interface seen
	 * (announced to the engine once, checked on later passes). */
	uint32_t *if_lt;
	uint32_t *if_prog;
	uint32_t nif, cif;
	uint32_t if_checked;    /* of this pass's interfaces */
	enum pb_rate_mode rate;
	double pps;
	uint32_t loops;         /* 0 = forever */
	uint64_t started_ns;
	int efd;
	bool registered;

	char *iobuf;            /* stdio buffer of the open file */
	uint8_t *ring;
	uint64_t rhead;         /* reader's private copy of head */
	uint64_t rtail;         /* reader's last look at tail (reloaded only when short) */
	uint64_t ehead;         /* engine's last look at head (reloaded only when empty) */
	unsigned pending;       /* reader: pushed since the last wakeup check */
	char pad0[64];
	_Atomic uint64_t head;  /* published by the reader */
	char pad1[64];
	_Atomic uint64_t tail;  /* published by the engine */
	char pad2[64];
	_Atomic int engine_idle;    /* engine found the ring empty */
	_Atomic int reader_blocked; /* reader waits for space */
	_Atomic bool stop;

	pthread_t thread;
	bool thread_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;      /* CLOCK_MONOTONIC: pacing, space, stop */
};

static struct file_capture *
file_of(struct pb_capture *cap)
{
	return (struct file_capture *)(void *)((char *)cap - offsetof(struct file_capture, base));
}

static void
ns_to_timespec(uint64_t ns, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ns / PB_NSEC_PER_SEC);
	ts->tv_nsec = (long)(ns % PB_NSEC_PER_SEC);
}

/* libpcap (formats our reader does not know): opens with nanosecond
 * timestamps and applies the compiled filter. */
static pcap_t *
file_open_pcap(struct file_capture *fc, char *err, size_t errlen)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	FILE *f = fopen(fc->path, "rbe");

	if (!f) {
		snprintf(err, errlen, "capture '%s': file %s: %s", fc->base.name, fc->path,
		    strerror(errno));
		return NULL;
	}
	/* libpcap reads with fread(): a large buffer means few read(2) calls.
	 * glibc ignores the size without a caller buffer; ours outlives f
	 * (one file open at a time, freed after the last pcap_close). */
	if (fc->iobuf)
		setvbuf(f, fc->iobuf, _IOFBF, FILE_READ_BUFFER);
	pcap_t *p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, ebuf);
	if (!p) {
		fclose(f);
		snprintf(err, errlen, "capture '%s': file %s: %s", fc->base.name, fc->path, ebuf);
		return NULL;
	}
	if (fc->have_prog && pcap_setfilter(p, &fc->progs[0].prog) < 0) {
		snprintf(err, errlen, "capture '%s': file %s: filter: %s", fc->base.name, fc->path,
		    pcap_geterr(p));
		pcap_close(p);
		return NULL;
	}
	return p;
}

/* ---- reader thread ------------------------------------------------------- */

/* Wakes the engine if it announced it is idle. */
static void
reader_signal(struct file_capture *fc)
{
	fc->pending = 0;
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_exchange(&fc->engine_idle, 0)) {
		uint64_t one = 1;
		if (write(fc->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_warn_rl("capture", "capture '%s': eventfd write", fc->base.name);
	}
}

static void
reader_timedwait(struct file_capture *fc, uint64_t deadline_ns)
{
	struct timespec ts;
	ns_to_timespec(deadline_ns, &ts);
	pthread_cond_timedwait(&fc->cv, &fc->mu, &ts);
}

/* Waits until `total` bytes are free. False when asked to stop. */
static bool
reader_wait_space(struct file_capture *fc, uint64_t total)
{
	reader_signal(fc);
	pthread_mutex_lock(&fc->mu);
	atomic_store(&fc->reader_blocked, 1);
	atomic_thread_fence(memory_order_seq_cst);
	while (!atomic_load(&fc->stop)) {
		uint64_t tail = atomic_load_explicit(&fc->tail, memory_order_acquire);
		if (RING_SIZE - (fc->rhead - tail) >= total)
			break;
		reader_timedwait(fc, pb_mono_ns() + WAIT_SLICE_NS);
	}
	atomic_store(&fc->reader_blocked, 0);
	pthread_mutex_unlock(&fc->mu);
	return !atomic_load(&fc->stop);
}

/* Sleeps until the monotonic deadline. False when asked to stop. */
static bool
reader_sleep_until(struct file_capture *fc, uint64_t deadline_ns)
{
	if (pb_mono_ns() >= deadline_ns)
		return !atomic_load(&fc->stop);
	reader_signal(fc);
	pthread_mutex_lock(&fc->mu);
	while (!atomic_load(&fc->stop) && pb_mono_ns() < deadline_ns)
		reader_timedwait(fc, deadline_ns);
	pthread_mutex_unlock(&fc->mu);
	return !atomic_load(&fc->stop);
}

/* Appends an entry; swap_lt >= 0 swaps that link type's pseudo-header
 * fields in the copy (a frame written in the other byte order). */
static bool
reader_push_if(struct file_capture *fc, uint32_t kind, uint32_t ifidx, uint32_t origlen,
    uint64_t ts_ns, const void *data, uint32_t datalen, int swap_lt)
{
	uint64_t need = (sizeof(struct file_entry) + datalen + RING_ALIGN - 1) & ~(uint64_t)(RING_ALIGN - 1);
	uint64_t off, to_end;

	for (;;) {
		off = fc->rhead & (RING_SIZE - 1);
		to_end = RING_SIZE - off;
		uint64_t total = to_end < need ? to_end + need : need;
		/* Touch the engine's cache line only when the cached view is short. */
		if (RING_SIZE - (fc->rhead - fc->rtail) >= total)
			break;
		fc->rtail = atomic_load_explicit(&fc->tail, memory_order_acquire);
		if (RING_SIZE - (fc->rhead - fc->rtail) >= total)
			break;
		if (!reader_wait_space(fc, total))
			return false;
	}
	if (to_end < need) {
		struct file_entry *w = (struct file_entry *)(void *)(fc->ring + off);
		w->kind = ENT_WRAP;
		w->size = (uint32_t)to_end;
		fc->rhead += to_end;
		off = 0;
	}
	struct file_entry *e = (struct file_entry *)(void *)(fc->ring + off);
	e->kind = kind;
	e->size = (uint32_t)need;
	e->caplen = datalen;
	e->origlen = origlen;
	e->ifidx = ifidx;
	e->pad = 0;
	e->ts_ns = ts_ns;
	if (datalen)
		memcpy(e + 1, data, datalen);
	if (swap_lt >= 0)
		pb_linktype_swap_pseudo(swap_lt, (uint8_t *)(e + 1), datalen, origlen);
	fc->rhead += need;
	atomic_store_explicit(&fc->head, fc->rhead, memory_order_release);
	if (++fc->pending >= SIGNAL_BATCH || kind != ENT_PACKET)
		reader_signal(fc);
	return true;
}

static bool
reader_push(struct file_capture *fc, uint32_t kind)
{
	return reader_push_if(fc, kind, 0, 0, 0, NULL, 0, -1);
}

static bool
reader_push_msg(struct file_capture *fc, uint32_t kind, const char *msg)
{
	size_t len = strlen(msg) + 1; /* a few KiB at most: fits the ring */
	return reader_push_if(fc, kind, 0, 0, 0, msg, (uint32_t)len, -1);
}

struct pacer {
	bool started;
	uint64_t start_ns;      /* monotonic time of the first packet */
	uint64_t offset_ns;     /* original rate: timeline position of this pass */
	uint64_t count;         /* pps: packets scheduled so far */
	double interval_ns;
};

static bool
reader_pace(struct file_capture *fc, struct pacer *pc, uint64_t ts, uint64_t pass_first_ts)
{
	uint64_t deadline;

	if (fc->rate == PB_RATE_MAX)
		return true;
	if (!pc->started) {
		pc->started = true;
		pc->start_ns = pb_mono_ns();
	}
	if (fc->rate == PB_RATE_PPS) {
		/* Absolute schedule: no drift from sleep overshoot. */
		deadline = pc->start_ns + (uint64_t)((double)pc->count * pc->interval_ns);
		pc->count++;
	} else {
		uint64_t delta = ts > pass_first_ts ? ts - pass_first_ts : 0;
		deadline = pc->start_ns + pc->offset_ns + delta;
	}
	return reader_sleep_until(fc, deadline);
}

/* The program for link type lt, compiled now if it is new: its index in
 * fc->progs, or -1 with a message in err. */
static int
file_prog_for(struct file_capture *fc, uint32_t lt, char *err, size_t errlen)
{
	for (uint32_t i = 0; i < fc->nprogs; i++)
		if (fc->progs[i].linktype == lt)
			return (int)i;
	struct file_prog *n = realloc(fc->progs, (fc->nprogs + 1) * sizeof(*n));
	if (!n) {
		snprintf(err, errlen, "capture '%s': out of memory", fc->base.name);
		return -1;
	}
	fc->progs = n;
	pcap_t *dead = pcap_open_dead(pb_linktype_to_dlt((int)lt), PB_FRAME_CAP);
	if (!dead) {
		snprintf(err, errlen, "capture '%s': out of memory", fc->base.name);
		return -1;
	}
	int rc = pcap_compile(dead, &n[fc->nprogs].prog, fc->filter, 1, PCAP_NETMASK_UNKNOWN);
	if (rc < 0) {
		const char *name = pb_linktype_name((int)lt);
		snprintf(err, errlen, "capture '%s': filter '%s' for link type %" PRIu32 " (%s): %s",
		    fc->base.name, fc->filter, lt, name ? name : "?", pcap_geterr(dead));
	}
	pcap_close(dead);
	if (rc < 0)
		return -1;
	n[fc->nprogs].linktype = lt;
	return (int)fc->nprogs++;
}

/*
 * Reader thread: the interfaces our reader found since the last call. New
 * ones are announced to the engine; on later passes the file must still
 * have the same link types. False when the pass must end (msg set, or the
 * ring refused: stop).
 */
static bool
reader_interfaces(struct file_capture *fc, char *msg, size_t msglen, bool *failed)
{
	const struct pb_pcap_reader *r = &fc->fast;

	for (uint32_t k = fc->if_checked; k < r->nifs && k < fc->nif; k++) {
		if (fc->if_lt[k] == r->ifs[k].linktype)
			continue;
		snprintf(msg, msglen, "capture '%s': file %s: interface %" PRIu32 " changed its "
		    "link type from %" PRIu32 " to %" PRIu32 " while replaying", fc->base.name,
		    fc->path, k, fc->if_lt[k], r->ifs[k].linktype);
		*failed = true;
		return false;
	}
	while (fc->nif < r->nifs) {
		uint32_t k = fc->nif, lt = r->ifs[k].linktype;
		if (k == fc->cif) {
			uint32_t cap = fc->cif ? fc->cif * 2 : 4;
			uint32_t *a = realloc(fc->if_lt, cap * sizeof(*a));
			if (a)
				fc->if_lt = a;
			uint32_t *b = a ? realloc(fc->if_prog, cap * sizeof(*b)) : NULL;
			if (b)
				fc->if_prog = b;
			if (!a || !b) {
				snprintf(msg, msglen, "capture '%s': out of memory", fc->base.name);
				*failed = true;
				return false;
			}
			fc->cif = cap;
		}
		fc->if_prog[k] = 0;
		if (fc->have_prog) {
			int pi = file_prog_for(fc, lt, msg, msglen);
			if (pi < 0) {
				*failed = true;
				return false;
			}
			fc->if_prog[k] = (uint32_t)pi;
		}
		fc->if_lt[k] = lt;
		fc->nif++;
		/* Interface 0 is the source itself, named at open. */
		if (k > 0 && !reader_push_if(fc, ENT_INTERFACE, k, lt, 0, r->ifs[k].name,
		    (uint32_t)strnlen(r->ifs[k].name, sizeof(r->ifs[k].name) - 1) + 1, -1))
			return false;
	}
	fc->if_checked = r->nifs;
	return true;
}

/* Next pass: the file is opened again (it may have been replaced). */
static bool
reader_reopen(struct file_capture *fc, char *msg, size_t msglen)
{
	if (fc->use_fast) {
		char why[256];
		pb_pcap_reader_close(&fc->fast);
		if (pb_pcap_reader_open(&fc->fast, fc->path, why, sizeof(why)) != 1) {
			snprintf(msg, msglen, "capture '%s': file %s: %s", fc->base.name, fc->path,
			    why[0] ? why : "no longer a pcap or pcapng file");
			return false;
		}
		fc->if_checked = 0;
		return true;
	}
	pcap_close(fc->p);
	if (!(fc->p = file_open_pcap(fc, msg, msglen)))
		return false;
	int dlt = pcap_datalink(fc->p), lt = pb_linktype_from_dlt(dlt);
	if ((lt < 0 ? dlt : lt) != fc->base.linktype) {
		snprintf(msg, msglen, "capture '%s': file %s: link type changed while replaying",
		    fc->base.name, fc->path);
		return false;
	}
	return true;
}

static void *
file_reader(void *arg)
{
	struct file_capture *fc = arg;
	struct pacer pc = { .interval_ns = fc->pps > 0 ? 1e9 / fc->pps : 0 };
	char msg[PCAP_ERRBUF_SIZE + PATH_MAX + 128];
	uint32_t pass = 0;

	for (;;) {
		uint64_t n = 0, first_ts = 0, max_ts = 0;
		int rc = 0;
		char fastmsg[256] = "";
		bool failed = false;

		while (!atomic_load_explicit(&fc->stop, memory_order_relaxed)) {
			const u_char *data;
			uint64_t ts;
			uint32_t ifidx = 0;
			int swap_lt = -1;
			struct pcap_pkthdr hdr, *h = &hdr;
			if (fc->use_fast) {
				struct pb_pcap_packet pk;
				int fr = pb_pcap_reader_next(&fc->fast, &pk, fastmsg, sizeof(fastmsg));
				if (fr != PB_PCAP_READER_OK) {
					rc = fr == PB_PCAP_READER_EOF ? PCAP_ERROR_BREAK : PCAP_ERROR;
					break;
				}
				if (fc->fast.nifs > fc->if_checked && !reader_interfaces(fc, msg, sizeof(msg),
				    &failed))
					break;
				ifidx = pk.ifindex;
				hdr.caplen = pk.caplen;
				hdr.len = pk.origlen;
				data = pk.data;
				ts = pk.ts_ns;
				if (fc->have_prog && !pcap_offline_filter(&fc->progs[fc->if_prog[ifidx]].prog,
				    &hdr, data))
					continue;
				/* libpcap does the same on its side. */
				if (pk.swapped && pb_linktype_has_host_order_fields((int)fc->if_lt[ifidx]))
					swap_lt = (int)fc->if_lt[ifidx];
			} else {
				if ((rc = pcap_next_ex(fc->p, &h, &data)) != 1)
					break;
				/* Opened with nanosecond precision: tv_usec holds ns. */
				ts = (h->ts.tv_sec > 0 ? (uint64_t)h->ts.tv_sec * PB_NSEC_PER_SEC : 0) +
				    (uint64_t)h->ts.tv_usec;
			}
			if (n == 0)
				first_ts = max_ts = ts;
			if (ts > max_ts)
				max_ts = ts;
			n++;
			if (!reader_pace(fc, &pc, ts, first_ts))
				goto out;
			/* Only what is in the file counts: a frame its capture cut
			 * short (snaplen) is carried with its caplen and origlen. */
			bool ok;
			if (h->caplen > fc->base.max_frame)
				ok = reader_push_if(fc, ENT_OVERSIZE, ifidx, h->caplen, ts, NULL, 0, -1);
			else
				ok = reader_push_if(fc, ENT_PACKET, ifidx, h->len, ts, data, h->caplen,
				    swap_lt);
			if (!ok)
				goto out;
		}
		if (atomic_load(&fc->stop))
			goto out;
		if (failed) {
			reader_push_msg(fc, ENT_ERROR, msg);
			goto out;
		}
		if (rc == PCAP_ERROR) {
			snprintf(msg, sizeof(msg), "capture '%s': file %s: %s", fc->base.name, fc->path,
			    fc->use_fast ? fastmsg : pcap_geterr(fc->p));
			if (n == 0) {
				reader_push_msg(fc, ENT_ERROR, msg);
				goto out;
			}
			/* A truncated last record is common (capture killed). */
			if (!reader_push_msg(fc, ENT_WARN, msg))
				goto out;
		}
		pass++;
		if (!reader_push(fc, ENT_LOOP_END))
			goto out;
		/* An empty pass (or a filter that matches nothing) would spin forever. */
		if (n == 0 && (fc->loops == 0 || pass < fc->loops))
			log_warnx("capture", "capture '%s': file %s: no packets%s in a pass, not looping",
			    fc->base.name, fc->path, fc->have_prog ? " matching the filter" : "");
		if (n == 0 || (fc->loops && pass >= fc->loops)) {
			reader_push(fc, ENT_EOF);
			goto out;
		}
		/* Next pass continues the timeline, one mean gap after the last packet. */
		uint64_t span = max_ts - first_ts;
		pc.offset_ns += span + (n > 1 ? span / (n - 1) : 0);
		if (!reader_reopen(fc, msg, sizeof(msg))) {
			reader_push_msg(fc, ENT_ERROR, msg);
			goto out;
		}
	}
out:
	reader_signal(fc);
	return NULL;
}

/* ---- engine side ------------------------------------------------------- */

static void
file_kick(struct file_capture *fc)
{
	uint64_t one = 1;
	if (write(fc->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn_rl("capture", "capture '%s': eventfd write", fc->base.name);
}

static void
file_unregister(struct file_capture *fc)
{
	if (!fc->registered)
		return;
	if (pb_loop_del_fd(fc->base.env.loop, fc->efd) < 0)
		log_warn("capture", "capture '%s': epoll del", fc->base.name);
	fc->registered = false;
}

/*
 * Processes up to `budget` records. Returns a terminal state to announce
 * (FINISHED/FAILED) or 0; *more says the budget ran out with records left.
 */
static int
file_drain(struct file_capture *fc, unsigned budget, bool *more)
{
	uint64_t tail = atomic_load_explicit(&fc->tail, memory_order_relaxed);
	struct pb_source_stats *st = fc->base.env.stats;
	unsigned n = 0;
	int announce = 0;

	*more = false;
	while (!fc->base.paused && !announce) {
		if (fc->ehead == tail)
			fc->ehead = atomic_load_explicit(&fc->head, memory_order_acquire);
		if (fc->ehead == tail) {
			/* Free the space before sleeping: the reader may wait for it. */
			atomic_store_explicit(&fc->tail, tail, memory_order_release);
			atomic_store(&fc->engine_idle, 1);
			atomic_thread_fence(memory_order_seq_cst);
			if (atomic_load(&fc->head) == tail)
				break;
			/* The reader already took the flag: its eventfd write is coming. */
			if (!atomic_exchange(&fc->engine_idle, 0))
				break;
			continue;
		}
		if (n >= budget) {
			*more = true;
			break;
		}
		const struct file_entry *e =
		    (const struct file_entry *)(const void *)(fc->ring + (tail & (RING_SIZE - 1)));
		switch (e->kind) {
		case ENT_PACKET:
			pb_capture_process(&fc->base, e->ifidx, (const uint8_t *)(e + 1), e->caplen,
			    e->origlen, e->ts_ns);
			n++;
			break;
		case ENT_INTERFACE: {
			char why[256];
			if (pb_capture_add_if(&fc->base, e->ifidx, (uint16_t)e->origlen,
			    (const char *)(e + 1), why, sizeof(why)) < 0) {
				pb_counter_add(&st->read_errors, 1);
				log_warnx("capture", "%s", why);
				announce = PB_SOURCE_FAILED;
			}
			break;
		}
		case ENT_OVERSIZE:
			pb_capture_oversize(&fc->base, e->origlen);
			n++;
			break;
		case ENT_LOOP_END:
			pb_counter_add(&st->loops_done, 1);
			break;
		case ENT_WARN:
			/* Once per pass of a file looping forever: rate limited. */
			pb_counter_add(&st->read_errors, 1);
			log_warnx_rl("capture", "%s (ending this pass)", (const char *)(e + 1));
			break;
		case ENT_ERROR:
			pb_counter_add(&st->read_errors, 1);
			log_warnx("capture", "%s", (const char *)(e + 1));
			announce = PB_SOURCE_FAILED;
			break;
		case ENT_EOF:
			announce = PB_SOURCE_FINISHED;
			break;
		default: /* ENT_WRAP */
			break;
		}
		/* Only now: the delivered record pointed into this entry. Space
		 * is handed back in batches to spare the reader's cache line. */
		tail += e->size;
		if ((n & 63) == 0)
			atomic_store_explicit(&fc->tail, tail, memory_order_release);
	}
	atomic_store_explicit(&fc->tail, tail, memory_order_release);
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load(&fc->reader_blocked)) {
		pthread_mutex_lock(&fc->mu);
		pthread_cond_signal(&fc->cv);
		pthread_mutex_unlock(&fc->mu);
	}
	return announce;
}

static void
file_terminal(struct file_capture *fc, int state)
{
	pb_capture_set_state(&fc->base, state);
	if (state == PB_SOURCE_FINISHED) {
		double secs = (double)(pb_mono_ns() - fc->started_ns) / 1e9;
		log_info("capture", "capture '%s' finished: %" PRIu64 " packets in %.3f s",
		    fc->base.name, pb_counter_get(&fc->base.env.stats->packets), secs);
	}
}

static void
file_readable(struct pb_loop *loop, int fd, uint32_t events, void *arg)
{
	struct file_capture *fc = arg;
	uint64_t v;
	bool more;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn_rl("capture", "capture '%s': eventfd read", fc->base.name);
	if (fc->base.state == PB_SOURCE_FINISHED || fc->base.state == PB_SOURCE_FAILED)
		return;
	int announce = file_drain(fc, PB_CAPTURE_BUDGET, &more);
	if (announce) {
		file_unregister(fc);
		file_terminal(fc, announce);
		/* Last: the engine may close the source from its callback. */
		fc->base.env.on_state(fc->base.env.ctx, &fc->base, announce);
		return;
	}
	if (more)
		file_kick(fc);
}

static void
file_pause(struct pb_capture *cap, bool paused)
{
	struct file_capture *fc = file_of(cap);

	/* Paused: file_drain stops at the next record and the reader blocks
	 * once the ring is full. Resumed: come back through the loop. */
	if (!paused && fc->registered)
		file_kick(fc);
}

static void
file_stop_reader(struct file_capture *fc)
{
	if (!fc->thread_started)
		return;
	atomic_store(&fc->stop, true);
	pthread_mutex_lock(&fc->mu);
	pthread_cond_broadcast(&fc->cv);
	pthread_mutex_unlock(&fc->mu);
	pthread_join(fc->thread, NULL);
	fc->thread_started = false;
}

static void
file_free(struct file_capture *fc)
{
	file_unregister(fc);
	if (fc->efd >= 0)
		close(fc->efd);
	if (fc->p)
		pcap_close(fc->p);
	pb_pcap_reader_close(&fc->fast);
	for (uint32_t i = 0; i < fc->nprogs; i++)
		pcap_freecode(&fc->progs[i].prog);
	free(fc->progs);
	free(fc->if_lt);
	free(fc->if_prog);
	free(fc->base.ifs);
	pthread_cond_destroy(&fc->cv);
	pthread_mutex_destroy(&fc->mu);
	free(fc->iobuf);
	free(fc->ring);
	free(fc);
}

static void
file_close(struct pb_capture *cap, bool drain)
{
	struct file_capture *fc = file_of(cap);
	bool more;

	file_stop_reader(fc);
	if (drain && cap->state != PB_SOURCE_FINISHED && cap->state != PB_SOURCE_FAILED) {
		/* Everything already read, unless the engine pauses us meanwhile. */
		int announce = file_drain(fc, UINT_MAX, &more);
		if (announce)
			file_terminal(fc, announce);
	}
	file_free(fc);
}

static const struct pb_capture_ops file_ops = {
	.pause = file_pause,
	.poll_stats = NULL,
	.close = file_close,
};

static int
file_setup(struct file_capture *fc, const struct pb_capture_cfg *cfg, char *err, size_t errlen)
{
	const char *name = cfg->name;

	/* pcap and pcapng are read from an mmap; libpcap keeps the rest. */
	char why[256] = "";
	int fr = pb_pcap_reader_open(&fc->fast, fc->path, why, sizeof(why));
	if (fr < 0) {
		snprintf(err, errlen, "capture '%s': file %s: %s", name, fc->path, why);
		return -1;
	}
	fc->use_fast = fr == 1;
	snprintf(fc->filter, sizeof(fc->filter), "%s", cfg->filter);
	fc->have_prog = cfg->filter[0] != '\0';
	if (!fc->use_fast) {
		pb_pcap_reader_close(&fc->fast);
		fc->iobuf = malloc(FILE_READ_BUFFER); /* optional: stdio's own buffer otherwise */
		bool filter = fc->have_prog;
		fc->have_prog = false; /* compiled below */
		if (!(fc->p = file_open_pcap(fc, err, errlen)))
			return -1;
		fc->have_prog = filter;
		fc->base.linktype = pb_capture_linktype_of_dlt(name, pcap_datalink(fc->p));
	} else {
		fc->base.linktype = (uint16_t)fc->fast.linktype;
	}
	/* Interface 0's program now, so that a bad filter stops the start. */
	if (fc->have_prog && file_prog_for(fc, fc->base.linktype, err, errlen) < 0)
		return -1;
	if (fc->have_prog && fc->p && pcap_setfilter(fc->p, &fc->progs[0].prog) < 0) {
		snprintf(err, errlen, "capture '%s': filter '%s': %s", name, cfg->filter,
		    pcap_geterr(fc->p));
		return -1;
	}
	if (!(fc->ring = malloc(RING_SIZE))) {
		snprintf(err, errlen, "capture '%s': out of memory", name);
		return -1;
	}
	fc->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fc->efd < 0) {
		snprintf(err, errlen, "capture '%s': eventfd: %s", name, strerror(errno));
		return -1;
	}
	if (pb_loop_add_fd(fc->base.env.loop, fc->efd, EPOLLIN, file_readable, fc) < 0) {
		snprintf(err, errlen, "capture '%s': epoll: %s", name, strerror(errno));
		return -1;
	}
	fc->registered = true;

	atomic_store(&fc->engine_idle, 1);
	fc->started_ns = pb_mono_ns();
	pb_capture_set_state(&fc->base, PB_SOURCE_RUNNING);

	/* Signals belong to the engine's signalfd, never to the reader. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&fc->thread, NULL, file_reader, fc);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "capture '%s': reader thread: %s", name, strerror(rc));
		return -1;
	}
	fc->thread_started = true;
	return 0;
}

struct pb_capture *
pb_capture_file_open(const struct pb_capture_cfg *cfg, const struct pb_capture_env *env,
    char *err, size_t errlen)
{
	struct file_capture *fc = calloc(1, sizeof(*fc));

	if (!fc) {
		snprintf(err, errlen, "capture '%s': out of memory", cfg->name);
		return NULL;
	}
	pthread_condattr_t ca;
	fc->efd = -1;
	pthread_mutex_init(&fc->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&fc->cv, &ca);
	pthread_condattr_destroy(&ca);
	snprintf(fc->path, sizeof(fc->path), "%s", cfg->file);
	pb_capture_init(&fc->base, &file_ops, cfg, env);
	fc->base.keep_snapped = true;
	fc->rate = cfg->rate;
	fc->pps = cfg->pps;
	fc->loops = cfg->loop;
	if (fc->rate == PB_RATE_PPS && !(fc->pps > 0)) {
		log_warnx("capture", "capture '%s': rate pps without a positive pps, replaying at "
		    "full speed", cfg->name);
		fc->rate = PB_RATE_MAX;
	}
	if (file_setup(fc, cfg, err, errlen) < 0) {
		pb_capture_set_state(&fc->base, PB_SOURCE_FAILED);
		file_free(fc);
		return NULL;
	}
	static const char *const rates[] = { "max", "original", "pps" };
	const char *lt = pb_linktype_name(fc->base.linktype);
	char passes[32];
	if (fc->loops)
		snprintf(passes, sizeof(passes), "%" PRIu32 " pass(es)", fc->loops);
	else
		snprintf(passes, sizeof(passes), "looping forever");
	log_info("capture", "capture '%s': file %s (%s), linktype %u (%s), rate %s, %s", cfg->name,
	    cfg->file, !fc->use_fast ? "libpcap" : fc->fast.ng ? "pcapng" : "pcap",
	    fc->base.linktype, lt ? lt : "?", (unsigned)fc->rate < 3 ? rates[fc->rate] : "?", passes);
	return &fc->base;
}
