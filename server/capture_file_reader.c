/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "capture_file_int.h"
#include "clock.h"
#include "linktype.h"
#include "log.h"

/* File replay, the reader thread's side: reading, pacing, the ring. */

static void
ns_to_timespec(uint64_t ns, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ns / PB_NSEC_PER_SEC);
	ts->tv_nsec = (long)(ns % PB_NSEC_PER_SEC);
}

/* libpcap (formats our reader does not know): opens with nanosecond
 * timestamps and applies the compiled filter. */
pcap_t *
pb_file_open_pcap(struct file_capture *fc, char *err, size_t errlen)
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

/* Ring space: at least `total` bytes free. */
static bool
ring_has_space(struct file_capture *fc, uint64_t total)
{
	uint64_t tail = atomic_load_explicit(&fc->tail, memory_order_acquire);
	return RING_SIZE - (fc->rhead - tail) >= total;
}

/* Referenced frames up to map_end: at most MAP_WINDOW bytes ahead of what
 * the engine consumed, or nothing is left to consume (after a long run of
 * frames the filter dropped, map_done stays behind). */
static bool
map_has_room(struct file_capture *fc, uint64_t map_end)
{
	fc->rdone = atomic_load_explicit(&fc->map_done, memory_order_acquire);
	/* Half the window free before going on: one wakeup per many frames. */
	return map_end - fc->rdone <= MAP_WINDOW / 2 ||
	    atomic_load_explicit(&fc->tail, memory_order_acquire) == fc->rhead;
}

/* Waits until ready(fc, arg) holds; the engine signals after each drain.
 * False when asked to stop. */
static bool
reader_wait(struct file_capture *fc, bool (*ready)(struct file_capture *, uint64_t), uint64_t arg)
{
	reader_signal(fc);
	pthread_mutex_lock(&fc->mu);
	atomic_store(&fc->reader_blocked, 1);
	atomic_thread_fence(memory_order_seq_cst);
	while (!atomic_load(&fc->stop) && !ready(fc, arg))
		reader_timedwait(fc, pb_mono_ns() + WAIT_SLICE_NS);
	atomic_store(&fc->reader_blocked, 0);
	pthread_mutex_unlock(&fc->mu);
	return !atomic_load(&fc->stop);
}

/* Waits until `total` bytes are free. False when asked to stop. */
static bool
reader_wait_space(struct file_capture *fc, uint64_t total)
{
	return reader_wait(fc, ring_has_space, total);
}

size_t
pb_file_held_from(void *arg)
{
	struct file_capture *fc = arg;

	/* Everything handed over was consumed: nothing is held. map_done is
	 * stored before tail, so it is at least as new as this tail. */
	if (atomic_load_explicit(&fc->tail, memory_order_acquire) == fc->rhead)
		return SIZE_MAX;
	uint64_t done = atomic_load_explicit(&fc->map_done, memory_order_acquire);
	/* Every reference consumed: the entries left are copies. */
	return done >= fc->last_ref_end ? SIZE_MAX : (size_t)done;
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
	/* A copy from a map the file shrank under may hold zeros. */
	if (kind == ENT_PACKET && fc->use_fast && !pb_pcap_reader_ok(&fc->fast, data, datalen)) {
		fc->rshrunk = true;
		return false;
	}
	fc->rhead += need;
	atomic_store_explicit(&fc->head, fc->rhead, memory_order_release);
	if (++fc->pending >= SIGNAL_BATCH || kind != ENT_PACKET)
		reader_signal(fc);
	return true;
}

/* Bytes of the map about to be handed over by reference: within the
 * window, and their pages touched here, on the reader, so that the engine
 * does not fault them in from the disk. False when asked to stop. */
static bool
reader_map_ready(struct file_capture *fc, const uint8_t *data, size_t len, uint64_t map_end)
{
	if (map_end - fc->rdone > MAP_WINDOW) {
		fc->rdone = atomic_load_explicit(&fc->map_done, memory_order_acquire);
		if (map_end - fc->rdone > MAP_WINDOW && !reader_wait(fc, map_has_room, map_end))
			return false;
	}
	for (uintptr_t pg = ((uintptr_t)data | 4095u) + 1; pg < (uintptr_t)data + len; pg += 4096)
		(void)*(const volatile uint8_t *)pg;
	if (len)
		(void)*(const volatile uint8_t *)(data + len - 1);
	return true;
}

/* A frame in the map, by reference. */
static bool
reader_push_ref(struct file_capture *fc, uint32_t ifidx, uint32_t origlen, uint64_t ts_ns,
    const uint8_t *data, uint32_t caplen, uint64_t map_end)
{
	if (!reader_map_ready(fc, data, caplen, map_end))
		return false;
	if (!pb_pcap_reader_ok(&fc->fast, data, caplen)) {
		fc->rshrunk = true;
		return false;
	}
	struct file_ref ref = { .data = data, .map_end = map_end, .guard = fc->fast.guard,
		.caplen = caplen };
	fc->last_ref_end = map_end;
	return reader_push_if(fc, ENT_PACKET_REF, ifidx, origlen, ts_ns, &ref, sizeof(ref), -1);
}

/* A run of records in the map (the reader took it, map_end is past it). */
static bool
reader_push_run(struct file_capture *fc, const uint8_t *data, size_t bytes, uint64_t map_end)
{
	struct stat st;

	if (!reader_map_ready(fc, data, bytes, map_end))
		return false;
	/* One fstat per run also catches the rest of the file's last page,
	 * which reads as zeros without a fault (map_guard.h). A ring holds
	 * only what was read: nothing to check. */
	size_t off = fc->fast.map ? (size_t)(data - fc->fast.map) : 0;
	size_t size = !fc->fast.map ? SIZE_MAX :
	    fstat(fc->fast.fd, &st) == 0 ? (size_t)st.st_size : SIZE_MAX;
	if (size < off + bytes || !pb_pcap_reader_ok(&fc->fast, data, bytes)) {
		/* The file shrank: its records before that still go. */
		size_t keep = 0;
		for (;;) {
			uint32_t caplen;
			if (keep + 16 > bytes || off + keep + 16 > size)
				break;
			memcpy(&caplen, data + keep + 8, sizeof(caplen));
			size_t next = keep + 16 + (size_t)caplen;
			if (next > bytes || off + next > size || !pb_pcap_reader_ok(&fc->fast, data, next))
				break;
			keep = next;
		}
		fc->rshrunk = true;
		if (keep == 0)
			return false;
		map_end -= bytes - keep;
		bytes = keep;
	}
	struct file_run run = { .data = data, .map_end = map_end, .guard = fc->fast.guard,
		.bytes = (uint32_t)bytes, .nsec = (uint32_t)fc->fast.nsec };
	fc->last_ref_end = map_end;
	return reader_push_if(fc, ENT_RUN, 0, 0, 0, &run, sizeof(run), -1) && !fc->rshrunk;
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
int
pb_file_prog_for(struct file_capture *fc, uint32_t lt, char *err, size_t errlen)
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
			int pi = pb_file_prog_for(fc, lt, msg, msglen);
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
		fc->fast.held_from = pb_file_held_from;
		fc->fast.held_arg = fc;
		/* Offsets start again: nothing of the new map is consumed yet. */
		atomic_store_explicit(&fc->map_done, 0, memory_order_relaxed);
		fc->rdone = fc->last_ref_end = 0;
		return true;
	}
	pcap_close(fc->p);
	if (!(fc->p = pb_file_open_pcap(fc, msg, msglen)))
		return false;
	int dlt = pcap_datalink(fc->p), lt = pb_linktype_from_dlt(dlt);
	if ((lt < 0 ? dlt : lt) != fc->base.linktype) {
		snprintf(msg, msglen, "capture '%s': file %s: link type changed while replaying",
		    fc->base.name, fc->path);
		return false;
	}
	return true;
}

/* A record of no bytes at map offset at (caplen and origlen 0, as in the
 * zeros a file leaves after its new end in its last page, without a
 * fault), or a record we could not parse: is the file that short now?
 * Genuine files rarely have either, so the fstat is rare. */
static bool
reader_cut_here(struct file_capture *fc, size_t at, bool parse_error)
{
	static const uint8_t zero[8];
	struct stat st;

	if (!parse_error && (fc->fast.ng || !fc->fast.map || fc->fast.len - at < 16 ||
	    memcmp(fc->fast.map + at + 8, zero, sizeof(zero)) != 0))
		return false;
	return fstat(fc->fast.fd, &st) == 0 && (size_t)st.st_size < fc->fast.len &&
	    (size_t)st.st_size < at + 16;
}

/* The file shrank under this pass's map (noticed by the reader or the
 * engine): the pass ends here, saying so in msg. */
static bool
reader_shrunk(struct file_capture *fc, char *msg, size_t msglen)
{
	struct stat st;

	if (!fc->use_fast || (!fc->rshrunk && !pb_map_guard_shrunk(fc->fast.guard)))
		return false;
	fc->rshrunk = true;
	long long now = fstat(fc->fast.fd, &st) == 0 ? (long long)st.st_size : -1;
	snprintf(msg, msglen, "it shrank from %zu to %lld bytes while being replayed",
	    fc->fast.len, now);
	return true;
}

void *
pb_file_reader(void *arg)
{
	struct file_capture *fc = arg;
	pthread_setname_np(pthread_self(), "pb-file-read");
	struct pacer pc = { .interval_ns = fc->pps > 0 ? 1e9 / fc->pps : 0 };
	char msg[PCAP_ERRBUF_SIZE + PATH_MAX + 128];
	uint32_t pass = 0;

	for (;;) {
		uint64_t n = 0, first_ts = 0, max_ts = 0;
		int rc = 0;
		char fastmsg[256] = "";
		bool failed = false;
		/* Unpaced and unfiltered: whole runs where the file allows (this
		 * pass's file: a new one may be another format). */
		bool runs = fc->use_fast && fc->rate == PB_RATE_MAX && !fc->have_prog &&
		    pb_pcap_reader_can_run(&fc->fast);
		fc->rshrunk = false;

		while (!atomic_load_explicit(&fc->stop, memory_order_relaxed)) {
			const u_char *data;
			uint64_t ts;
			uint32_t ifidx = 0;
			int swap_lt = -1;
			struct pcap_pkthdr hdr, *h = &hdr;
			if (runs) {
				const uint8_t *start;
				size_t bytes;
				if (fc->fast.nifs > fc->if_checked && !reader_interfaces(fc, msg, sizeof(msg),
				    &failed))
					break;
				uint32_t k = pb_pcap_reader_run(&fc->fast, RUN_BYTES, RUN_PACKETS,
				    fc->base.max_frame, &start, &bytes);
				if (k > 0) {
					n += k;
					if (reader_push_run(fc, start, bytes, fc->fast.off))
						continue;
					if (reader_shrunk(fc, fastmsg, sizeof(fastmsg))) {
						rc = PCAP_ERROR;
						break;
					}
					goto out;
				}
				/* End of file, or a record for the path below (too large,
				 * truncated): read it one by one, with its message. */
			}
			if (fc->use_fast) {
				struct pb_pcap_packet pk;
				size_t at = fc->fast.off;
				int fr = pb_pcap_reader_next(&fc->fast, &pk, fastmsg, sizeof(fastmsg));
				/* What it read (a header at least, unless at the end). */
				size_t got = fc->fast.off > at ? fc->fast.off - at :
				    fc->fast.len - at < 16 ? fc->fast.len - at : 16;
				if (!pb_pcap_reader_ok(&fc->fast, pb_pcap_reader_at(&fc->fast, at), got) ||
				    (fr != PB_PCAP_READER_EOF &&
				    reader_cut_here(fc, at, fr == PB_PCAP_READER_ERROR)))
					fc->rshrunk = true;
				if (reader_shrunk(fc, fastmsg, sizeof(fastmsg))) {
					rc = PCAP_ERROR;
					break;
				}
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
			else if (fc->use_fast && swap_lt < 0 && h->caplen >= REF_MIN)
				ok = reader_push_ref(fc, ifidx, h->len, ts, data, h->caplen, fc->fast.off);
			else
				ok = reader_push_if(fc, ENT_PACKET, ifidx, h->len, ts, data, h->caplen,
				    swap_lt);
			if (!ok) {
				if (reader_shrunk(fc, fastmsg, sizeof(fastmsg))) {
					rc = PCAP_ERROR;
					break;
				}
				goto out;
			}
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
		/* The engine may still read frames of this map: all of them
		 * consumed (an empty ring) before the file is closed. */
		if (fc->use_fast && !reader_wait_space(fc, RING_SIZE))
			goto out;
		if (!reader_reopen(fc, msg, sizeof(msg))) {
			reader_push_msg(fc, ENT_ERROR, msg);
			goto out;
		}
	}
out:
	reader_signal(fc);
	return NULL;
}

