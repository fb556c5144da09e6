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
#include "capture_file_int.h"
#include "clock.h"
#include "linktype.h"
#include "log.h"

/* File replay, the engine's side: draining the ring, opening, closing
 * (capture_file_int.h explains both sides). */

static struct file_capture *
file_of(struct pb_capture *cap)
{
	return (struct file_capture *)(void *)((char *)cap - offsetof(struct file_capture, base));
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

/* Frame bytes in a map: fault them in now (the last byte: the file
 * shrinks from its end) rather than inside the copy, then trust them only
 * if the file did not shrink under the map. */
static bool
file_map_ok(struct file_capture *fc, const struct pb_map_guard *g, const uint8_t *data,
    size_t len)
{
	if (len)
		(void)*(const volatile uint8_t *)(data + len - 1);
	return pb_map_guard_ok(g, data, len);
}

/* Frames of the map that are not delivered: counted and logged once per
 * pass when the file shrank (every frame after that is skipped). */
static void
file_skip(struct file_capture *fc, size_t bytes, const char *what, bool shrank)
{
	if (shrank && fc->skip_reported)
		return;
	fc->skip_reported = shrank;
	pb_counter_add(&fc->base.env.stats->read_errors, 1);
	log_warnx_rl("capture", "capture '%s': file %s %s while being replayed; %zu bytes of "
	    "frames not delivered", fc->base.name, fc->path, what, bytes);
}

/*
 * The records of a run from where the engine stopped in it (n counts
 * them against budget). False when it stops inside the run again (budget
 * or pause): run_pos says where.
 */
static bool
file_run(struct file_capture *fc, const struct file_run *r, unsigned budget, unsigned *n)
{
	const uint8_t *p = fc->run_pos ? fc->run_pos : r->data, *end = r->data + r->bytes;

	while (p < end) {
		struct pb_pcap_packet pk;
		if (*n >= budget || fc->base.paused) {
			fc->run_pos = p;
			return false;
		}
		uint32_t caplen = 0;
		if (end - p >= 16)
			memcpy(&caplen, p + 8, sizeof(caplen));
		if (end - p < 16 || caplen > (size_t)(end - p) - 16) {
			/* The reader checked every record: the file changed since. */
			file_skip(fc, (size_t)(end - p), "changed", false);
			break;
		}
		if (!file_map_ok(fc, r->guard, p, 16 + (size_t)caplen)) {
			file_skip(fc, (size_t)(end - p), "shrank", true);
			break;
		}
		p = pb_pcap_run_record(p, (int)r->nsec, &pk);
		pb_capture_process(&fc->base, 0, pk.data, pk.caplen, pk.origlen, pk.ts_ns);
		(*n)++;
	}
	fc->run_pos = NULL;
	return true;
}

/*
 * Processes up to `budget` records. Returns a terminal state to announce
 * (FINISHED/FAILED) or 0; *more says the budget ran out with records left.
 */
static int
file_drain(struct file_capture *fc, unsigned budget, bool *more)
{
	uint64_t tail = atomic_load_explicit(&fc->tail, memory_order_relaxed);
	uint64_t done = 0;      /* map_end of the last reference consumed, */
	bool moved = false;     /* if any: only then is map_done ours to store */
	struct pb_source_stats *st = fc->base.env.stats;
	unsigned n = 0;
	int announce = 0;
	bool stopped = false;

	*more = false;
	while (!fc->base.paused && !announce) {
		if (fc->ehead == tail)
			fc->ehead = atomic_load_explicit(&fc->head, memory_order_acquire);
		if (fc->ehead == tail) {
			/* Free the space before sleeping: the reader may wait for it. */
			if (moved)
				atomic_store_explicit(&fc->map_done, done, memory_order_relaxed);
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
		case ENT_PACKET_REF: {
			const struct file_ref *r = (const struct file_ref *)(const void *)(e + 1);
			if (file_map_ok(fc, r->guard, r->data, r->caplen))
				pb_capture_process(&fc->base, e->ifidx, r->data, r->caplen, e->origlen,
				    e->ts_ns);
			else
				file_skip(fc, r->caplen, "shrank", true);
			done = r->map_end;
			moved = true;
			n++;
			break;
		}
		case ENT_RUN: {
			const struct file_run *r = (const struct file_run *)(const void *)(e + 1);
			if (!file_run(fc, r, budget, &n)) {
				*more = n >= budget;
				stopped = true;
				break;
			}
			done = r->map_end;
			moved = true;
			break;
		}
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
			fc->skip_reported = false; /* the next pass has a new map */
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
		if (stopped)
			break; /* inside a run: its entry stays */
		/* Only now: the delivered record pointed into this entry. Space
		 * is handed back in batches to spare the reader's cache line. */
		tail += e->size;
		if ((n & 63) == 0) {
			/* map_done before tail: the reader reads them the other way. */
			if (moved)
				atomic_store_explicit(&fc->map_done, done, memory_order_relaxed);
			atomic_store_explicit(&fc->tail, tail, memory_order_release);
		}
	}
	if (moved)
		atomic_store_explicit(&fc->map_done, done, memory_order_relaxed);
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

	/* pcap and pcapng are ours (pcap_reader.h); libpcap keeps the rest. */
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
		if (!(fc->p = pb_file_open_pcap(fc, err, errlen)))
			return -1;
		fc->have_prog = filter;
		fc->base.linktype = pb_capture_linktype_of_dlt(name, pcap_datalink(fc->p));
	} else {
		fc->base.linktype = (uint16_t)fc->fast.linktype;
		fc->fast.held_from = pb_file_held_from;
		fc->fast.held_arg = fc;
	}
	/* Interface 0's program now, so that a bad filter stops the start. */
	if (fc->have_prog && pb_file_prog_for(fc, fc->base.linktype, err, errlen) < 0)
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

	/* Signals belong to the engine's signalfd, never to the reader; but
	 * SIGBUS is the map guard's (a blocked one would kill us). */
	sigset_t all, old;
	sigfillset(&all);
	sigdelset(&all, SIGBUS);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&fc->thread, NULL, pb_file_reader, fc);
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
