/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_CAPTURE_FILE_INT_H
#define PB_CAPTURE_FILE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <limits.h>

#include <pcap/pcap.h>

#include "capture_int.h"
#include "map_guard.h"
#include "pcap_reader.h"

/*
 * File replay. A reader thread reads the pcap/pcapng file, paces it and
 * hands each frame over through a bounded single-producer/single-consumer
 * ring; the engine thread drains the ring and runs the same per-record
 * path as a live capture, which encodes the frame straight into the
 * resend buffer. The reader never drops: when the ring is full it waits
 * for the engine (back-pressure).
 *
 * Frames of a pcap/pcapng file read by our reader go by reference
 * (ENT_PACKET_REF: where the frame is in the reader's read ring for
 * classic pcap, or in the file's mmap for pcapng), not copied:
 * one copy less per frame, and the ring holds small entries only (frames
 * under REF_MIN bytes are copied: measured, a reference costs the engine
 * more than the copy it saves, at 64 bytes). The
 * reader touches every page of a frame before handing it over, so the
 * engine reads from memory, never waits on the disk. The map (or the read
 * ring: pcap_reader.h) stays valid
 * while the engine may read it: the reader keeps at most MAP_WINDOW bytes
 * of referenced frames ahead of the engine (map_done), gives pages back
 * only below what the engine consumed, and waits for an empty ring
 * before it closes the file for the next pass; at close the engine
 * drains the ring before the map goes. Frames libpcap reads, and frames
 * whose pseudo-header is byte-swapped, are copied into the ring.
 *
 * Runs: replaying a classic pcap file in this host's byte order at rate
 * max without a filter, the reader hands over whole runs of records (up
 * to RUN_BYTES, RUN_PACKETS) as one entry (ENT_RUN, where the run is in
 * the map), checked record by record as pb_pcap_reader_next would, and
 * the engine walks the records itself. Per frame, the reader then only
 * reads the record's length: no entry, no copy. The engine may stop
 * inside a run (budget, pause) and goes on there (run_pos). Measured,
 * edge -> collector on one machine: 1500-byte frames 10 % and 9018-byte
 * frames 18 % less wall time; 64-byte frames about the same (the reader
 * then mostly waits for memory: its CPU time went from ~70 to ~57 ms per
 * 2 M frames).
 *
 * The ring is 1 MiB, small enough to stay in the L2 cache between the
 * reader writing an entry and the engine reading it (64-byte frames:
 * 8 MiB cost 8 % more CPU and 10 % more wall time per replay, measured).
 *
 * A file that shrinks while mapped (truncated, rewritten in place) reads
 * as zeros past its new end (map_guard.h) instead of killing the daemon:
 * the reader checks after reading or copying from the map, the engine
 * before delivering a frame it reads from the map (having touched its
 * last byte); frames before the cut still go. The pass ends with a
 * warning and the next pass opens the file as it is now. The rest of the
 * file's last page reads as zeros without a fault: the reader runs an
 * fstat per run, and on a record of length 0 or one it cannot parse, to
 * catch that too; a single frame read one by one (paced, filtered,
 * pcapng) whose bytes end in that page can still come with zeros there.
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

#define RING_SIZE (1u << 20)            /* power of two; fits L2: see above */
#define RING_ALIGN 32u                  /* >= entry header: a wrap marker always fits */
#define SIGNAL_BATCH 64u
#define WAIT_SLICE_NS (100 * PB_NSEC_PER_MSEC)
#define FILE_READ_BUFFER (1u << 20)
#define MAP_WINDOW (1u << 20)           /* referenced bytes ahead of the engine: in cache */
#define REF_MIN 512u                    /* smaller frames are copied: as cheap as a reference */
#define RUN_BYTES (64u << 10)           /* a run: at most this much of the map ... */
#define RUN_PACKETS 1024u               /* ... and this many records */

enum file_entry_kind {
	ENT_PACKET = 1,
	ENT_OVERSIZE,   /* caplen above max_frame: header only, origlen = caplen */
	ENT_LOOP_END,   /* a pass completed */
	ENT_WARN,       /* read error that ended a pass; data = message */
	ENT_ERROR,      /* fatal; data = message */
	ENT_EOF,        /* last pass done */
	ENT_WRAP,       /* skip to the start of the ring */
	ENT_INTERFACE,  /* new file interface ifidx; origlen = linktype, data = if_name */
	ENT_PACKET_REF, /* data = struct file_ref: a frame in the reader's map */
	ENT_RUN,        /* data = struct file_run: classic pcap records in the map */
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

/* What follows an ENT_PACKET_REF header. */
struct file_ref {
	const uint8_t *data;
	uint64_t map_end;       /* map offset past the frame's record */
	const struct pb_map_guard *guard; /* of the map: the file may shrink */
	uint32_t caplen;
	uint32_t pad;
};

/* What follows an ENT_RUN header. */
struct file_run {
	const uint8_t *data;    /* the first record's header */
	uint64_t map_end;       /* map offset past the last record */
	const struct pb_map_guard *guard;
	uint32_t bytes;
	uint32_t nsec;          /* the file's timestamps are in ns (else us) */
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
	struct pb_pcap_reader fast; /* pcap (read ring), pcapng (mmap); else libpcap */
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
	const uint8_t *run_pos; /* engine: next record of a run it stopped in, or NULL */
	bool skip_reported;     /* engine: this pass's map shrank, and we said so */
	unsigned pending;       /* reader: pushed since the last wakeup check */
	uint64_t rdone;         /* reader's last look at map_done */
	uint64_t last_ref_end;  /* reader: map_end of the last reference pushed */
	bool rshrunk;           /* reader: the file shrank under this pass's map */
	char pad0[64];
	_Atomic uint64_t head;  /* published by the reader */
	char pad1[64];
	_Atomic uint64_t tail;  /* published by the engine */
	_Atomic uint64_t map_done; /* engine: map_end of the last reference consumed */
	char pad2[64];
	_Atomic int engine_idle;    /* engine found the ring empty */
	_Atomic int reader_blocked; /* reader waits for space */
	_Atomic bool stop;

	pthread_t thread;
	bool thread_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;      /* CLOCK_MONOTONIC: pacing, space, stop */
};


/* Reader thread (capture_file_reader.c): pthread entry point. */
void *pb_file_reader(void *arg);
/* pb_pcap_reader's held_from for fc (set after each open of fc->fast). */
size_t pb_file_held_from(void *arg);
/* libpcap (formats our reader does not know): opens fc->path with
 * nanosecond timestamps and applies the compiled filter. */
pcap_t *pb_file_open_pcap(struct file_capture *fc, char *err, size_t errlen);
/* The program for link type lt, compiled now if it is new: its index in
 * fc->progs, or -1 with a message in err. */
int pb_file_prog_for(struct file_capture *fc, uint32_t lt, char *err, size_t errlen);

#endif
