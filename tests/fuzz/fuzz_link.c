/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine_int.h"
#include "tunnel_int.h"
#include "log.h"
#include "wire.h"

/*
 * libFuzzer target for the tunnel's link state machine (schema/wire-protocol.md
 * §6.1-6.6): sequences of decoded messages are fed to a receiver and to a
 * sender engine, and invariants are checked after every message.
 *
 *   CC=clang configure --enable-fuzzer && make tests/fuzz/fuzz_link
 *   ./tests/fuzz/fuzz_link -max_total_time=60 tests/fuzz/corpus_link
 *
 * Two engines live in this process for the whole run (both single threaded:
 * no capture, no dump, no DLQ), driven with pb_engine_run_once() and fed
 * through socketpair()s given to pb_engine_adopt():
 *
 *   R  collector, node 100: `listen` on loopback (no keys, AUTH carries a
 *      zero MAC). The fuzzer dials it as upstream node 1..4 on up to three
 *      connections ("slots") at once and sends it records. R has no sink
 *      and no peer, so a record is in its custody as soon as it is routed
 *      and R acknowledges at once: after each message its ACK is exact.
 *   S  edge/relay, node 1, with consumers = ({ name = "c"; node = 9; }) and
 *      a 1 MiB resend buffer. The fuzzer feeds it records as upstream node 5
 *      (the "feed", always well-behaved) and consumes them as node 9 on up
 *      to two slots, answering WELCOME with a fuzzed resume_seq and sending
 *      fuzzed ACKs.
 *
 * The engines keep their state across inputs (upstream custody points, the
 * consumer's link numbering, the directory), and so do the fuzzer's
 * connections (connecting costs more than anything else); the checks are
 * relative to that state, read through engine_int.h. An operation on a
 * slot that is not connected connects it first with a default identity,
 * so an input does much the same whatever ran before it. S's resend buffer
 * is emptied through the protocol whenever it is half full. Heartbeats are
 * configured so that idle connections never time out. For reproducing a
 * crash from a fresh start, run with PB_FUZZ_FRESH=1 (both engines are
 * recreated for every input; slow).
 * PB_FUZZ_LOG=1 prints the engines' log, PB_FUZZ_STATS=1 prints counters
 * of what the inputs did at exit, PB_FUZZ_AVOID_FIXED=1 keeps the names
 * away from the first of the two engine bugs fuzz_link found (both fixed;
 * their reproducers are the regress-* seeds in tests/fuzz/corpus_link).
 *
 * Input format: a sequence of operations, at most MAX_OPS (64). Each one is an
 * opcode byte (taken modulo 16) followed by its argument bytes; missing
 * bytes at the end of the input read as 0. u8 = 1 byte, u64 = 8 bytes
 * big-endian. "sel" bytes pick from small tables (modulo their size), and
 * "mode" + u64 arg build sequence numbers relative to the engine's current
 * state (see seq_value()), so that boundaries are one mutation away.
 *
 * Operations on R (on S's consumer slots) connect the slot first if it is
 * not connected: as node slot + 1, epoch A (as node 9 resuming at
 * acked_seq).
 *
 *   0  R_RECORD   slot:u8 seqmode:u8 seqarg:u64 origin:u8 hops:u8 oseq:u8
 *                 misc:u8 caplen:u8
 *                 link_seq relative to R's expected seq; origin the link's
 *                 node or another; 0-3 hops (or 15/16/17/32), last hop the
 *                 link's node or not, R itself on the path or not; origin_seq
 *                 next/0/2^63/.../repeated; source 0/1, origin epoch A/B
 *   1  R_NOTICE   slot:u8 firstmode:u8 firstarg:u64 lenmode:u8 lenarg:u64 reason:u8
 *                 DLQ_NOTICE first..last around R's expected seq, lengths up
 *                 to and beyond 2^32, last_seq up to and beyond 2^63
 *   2  R_NODE     slot:u8 node:u8 name:u8 descr:u8
 *   3  R_OPEN     slot:u8 node:u8 epoch:u8 variant:u8 epoch_raw:u64
 *                 connect slot to R: node {1,2,3,4,100}, epoch {A,B,C,raw};
 *                 variant 0-8: a normal SEND handshake (nothing to do if the
 *                 slot is up with that node and epoch), 9: the same but
 *                 always reconnecting, 10: RECV (an undeclared consumer),
 *                 11/12: flags 0 or SEND|RECV, 13: no common version,
 *                 14: R's own nonce reflected, 15: node id 0
 *   4  R_SOURCE   slot:u8 node:u8 source:u8 name:u8 descr:u8 linktype:u8
 *                 NODE/SOURCE announcements: own node, other nodes (renames
 *                 of nodes another link named), R's own id; names from a
 *                 table (UTF-8, empty, longer than the directory keeps)
 *   5  R_MISC     slot:u8 kind:u8 arg:u64
 *                 HEARTBEAT (with or without echo), an optional type, ACK /
 *                 HELLO / AUTH / WELCOME to a receiver, ERROR, a wrong magic,
 *                 an unknown mandatory type, an oversize length, a message
 *                 cut by the close
 *   6  R_CLOSE    slot:u8
 *   7  R_BATCH    slot:u8 count:u8
 *                 count (1..64) valid records in one write
 *   8  R_JUMP     slot:u8 arg:u64
 *                 state injection: moves the slot's upstream (expected,
 *                 custody, last ACK) to a seq up to 2^63 - 1, as about 2^31
 *                 maximal DLQ_NOTICEs would; then fuzzes near the limit
 *   9  S_OPEN     slot:u8 node:u8 resmode:u8 resarg:u64 variant:u8
 *                 (re)connect a consumer slot to S: node {9, 8 undeclared,
 *                 1 = S's own id, 5}; WELCOME resume_seq relative to S's
 *                 next_seq/acked_seq; variant 7: flags SEND|RECV
 *  10  S_FEEDCLOSE
 *  11  S_FEED     count:u8 caplen:u8
 *                 the feed sends count (1..16) records to S
 *  12  S_NAME     kind:u8 node:u8 name:u8 descr:u8
 *                 the feed sends NODE or SOURCE (nodes 5, 6, 7, 1, 9, 8)
 *  13  S_MISC     slot:u8 kind:u8
 *                 the consumer sends HEARTBEAT, its own NODE, RECORD or
 *                 DLQ_NOTICE (not allowed to a sender), an optional type,
 *                 WELCOME again, ERROR, a wrong magic
 *  14  S_CLOSE    slot:u8
 *  15  S_ACK      slot:u8 mode:u8 arg:u64
 *                 ACK relative to the highest link seq the slot received
 *
 * (Opcodes 0 and 15 are the cheap operations: the mutator likes 0x00 and
 * 0xff bytes, and connecting is what costs most.)
 *
 * Invariants (abort() on a violation). After every operation, once both
 * engines are idle:
 *  - the engines see exactly the connections the fuzzer holds (an
 *    upstream or the consumer is up iff a fuzzer connection is);
 *  - every upstream of either engine: acked_sent <= custody_seq <
 *    expected; for R also custody_seq = expected - 1 with nothing pending
 *    (no sink: custody is immediate);
 *  - S's consumer peer: acked_seq < next_seq; acked_seq is at most the
 *    highest link seq S ever sent or announced (DLQ_NOTICE) to a consumer
 *    or accepted as a resume point; sent_seq, noticed_seq < next_seq; one
 *    custody token per buffered record, oldest first; while a consumer
 *    is up and idle, the highest link seq it received (RECORD, DLQ_NOTICE,
 *    resume) is max(sent_seq, noticed_seq), and every node and source of
 *    S's directory was announced to it;
 *  - directory names and descriptions stay valid UTF-8 (spec §1);
 *  - refusal counters never decrease.
 * On every message the fuzzer receives:
 *  - from R or S as receivers: ACKs never go backwards, never exceed the
 *    highest link_seq / DLQ_NOTICE last_seq / resume point of that
 *    connection, nor the upstream's custody_seq; a HEARTBEAT echo is the
 *    fuzzer's own timestamp; no RECORD, DLQ_NOTICE or WELCOME after UP;
 *  - from S as sender: RECORDs numbered resume+1, resume+2, ... without
 *    gaps except ranges a DLQ_NOTICE covered first, a DLQ_NOTICE never
 *    skips a link seq, records carry the feed's origin with S as last hop
 *    and origin_seqs in order, a link seq always carries the same record
 *    (resent after a reconnect or not); no ACK or WELCOME;
 *  - every byte an engine sends decodes.
 * Per operation (predicted from the engine state before it, checked after):
 *  - a refused message gets ERROR with the right code, the connection
 *    closes, the matching e->tunnel->refused counter moves by one (R: no other
 *    one), and the link's state does not move: R's expected, custody_seq
 *    and epoch; S's acked_seq and buffered records (none released; the
 *    buffer may still grow, see s_check_refused()). The refusals: RECORD
 *    link_seq >= 2^63 (seq_wrap) or ahead of expected
 *    (seq_jump); origin_seq 0 or >= 2^63 (seq_wrap); origin neither the
 *    link's node nor relayed by it (origin_unbound); a stream owned by
 *    another connected link (stream_owned); DLQ_NOTICE last_seq >= 2^63
 *    (seq_wrap), skipping records or longer than 2^32 (notice_invalid);
 *    an undeclared consumer (undeclared_consumer); an ACK above what the
 *    consumer received (ack_ahead); WELCOME resume_seq >= next_seq
 *    (resume_ahead); a second connection of a connected node, our own node
 *    id, a role mismatch, no common version, a reflected nonce, messages
 *    not allowed in the state, undecodable input;
 *  - an accepted RECORD/DLQ_NOTICE moves expected and custody exactly and
 *    is acknowledged at once; a duplicate moves nothing;
 *  - NODE/SOURCE follow the naming rules of §6.1 (5): renames of a node
 *    named by another link are refused and counted, accepted names are
 *    stored with the announcing link as namer;
 *  - an accepted ACK or resume releases exactly the records up to it.
 */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OPS 64
#define NR 3          /* fuzzer connections to R */
#define NS 2          /* consumer connections to S */
#define R_NODE_ID 100u
#define S_NODE_ID 1u
#define CONSUMER 9u
#define FEED_NODE 5u
#define FEED_EPOCH 0x5eed5eed5eedull
#define FEED_OEPOCH 0x0e0e0e0eull
#define OEPOCH_A 0x1000ull
#define OEPOCH_B 0x2000ull
#define SEQ_LIMIT (1ull << 63)
#define NOTICE_MAX (1ull << 32)
#define RXCAP (512u << 10)
#define PUMP_MAX 400

/*
 * ---- the engines' log: silent unless PB_FUZZ_LOG is set ----
 * Every function of log.h is defined here, so the archive's log.o is never
 * linked in: a function added to log.h needs its stub here too.
 */

static bool log_verbose;

static void PB_PRINTF(3, 0)
flog(const char *lvl, const char *token, const char *fmt, va_list ap)
{
	fprintf(stderr, "%s [%s] ", lvl, token);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void
log_init(const char *progname, bool use_syslog, int verbose)
{
	(void)progname;
	(void)use_syslog;
	(void)verbose;
}

int
log_debug_enable(const char *tokens)
{
	(void)tokens;
	return 0;
}

bool
log_debug_enabled(const char *token)
{
	(void)token;
	return false;
}

#define LOG_STUB(fn, lvl, err)                                              \
	void fn(const char *token, const char *fmt, ...)                    \
	{                                                                   \
		int saved = errno;                                          \
		if (log_verbose) {                                          \
			va_list ap;                                         \
			va_start(ap, fmt);                                  \
			flog(lvl, token, fmt, ap);                          \
			va_end(ap);                                         \
			if (err)                                            \
				fprintf(stderr, "  (%s)\n", strerror(saved)); \
		}                                                           \
		errno = saved;                                              \
	}
LOG_STUB(log_warn, "WARN", true)
LOG_STUB(log_warnx, "WARN", false)
LOG_STUB(log_info, "INFO", false)
LOG_STUB(log_debug, "DEBUG", false)

#define LOG_RL_STUB(fn, lvl, err)                                           \
	void fn(struct log_rl *rl, const char *token, const char *fmt, ...) \
	{                                                                   \
		int saved = errno;                                          \
		(void)rl;                                                   \
		if (log_verbose) {                                          \
			va_list ap;                                         \
			va_start(ap, fmt);                                  \
			flog(lvl, token, fmt, ap);                          \
			va_end(ap);                                         \
			if (err)                                            \
				fprintf(stderr, "  (%s)\n", strerror(saved)); \
		}                                                           \
		errno = saved;                                              \
	}
LOG_RL_STUB(log_rl_warn, "WARN", true)
LOG_RL_STUB(log_rl_warnx, "WARN", false)
LOG_RL_STUB(log_rl_info, "INFO", false)

unsigned
log_rl_flush(bool all)
{
	(void)all;
	return 0;
}

void
log_rl_set_clock(uint64_t (*now_ns)(void))
{
	(void)now_ns;
}

/* A fatal error in the engine is a finding: crash so libFuzzer keeps it. */
void
fatal(const char *token, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	flog("FATAL", token, fmt, ap);
	va_end(ap);
	abort();
}

void
fatalx(const char *token, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	flog("FATAL", token, fmt, ap);
	va_end(ap);
	abort();
}

/* ---- failures ---- */

static unsigned op_index;
static const char *op_name = "init";
static const char *const op_names[16] = { "R_RECORD", "R_NOTICE", "R_NODE", "R_OPEN",
	"R_SOURCE", "R_MISC", "R_CLOSE", "R_BATCH", "R_JUMP", "S_OPEN", "S_FEEDCLOSE", "S_FEED",
	"S_NAME", "S_MISC", "S_CLOSE", "S_ACK" };

static void remove_tmpdir(void);

static void __attribute__((noreturn)) PB_PRINTF(1, 2)
fail(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "\nfuzz_link: INVARIANT VIOLATED at op %u (%s): ", op_index, op_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	remove_tmpdir();
	abort();
}

#define CHECK(cond, ...) do { if (!(cond)) fail(__VA_ARGS__); } while (0)

/* ---- input ---- */

struct input {
	const uint8_t *p;
	size_t n;
};

static uint8_t
in_u8(struct input *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

static uint64_t
in_u64(struct input *in)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | in_u8(in);
	return v;
}

/* Sequence numbers: `mode` picks how `arg` is used around `base`. */
static const uint64_t specials[] = {
	0, 1, 2, (1ull << 32) - 1, 1ull << 32, (1ull << 32) + 1, SEQ_LIMIT - 2, SEQ_LIMIT - 1,
	SEQ_LIMIT, SEQ_LIMIT + 1, UINT64_MAX - 1, UINT64_MAX,
};
#define NSPECIAL (sizeof(specials) / sizeof(specials[0]))

static uint64_t
seq_value(uint8_t mode, uint64_t arg, uint64_t base)
{
	switch (mode % 12) {
	case 0: case 1: case 2: case 3:
		return base;
	case 4:
		return base - 1 - arg % 4;
	case 5:
		return base + 1 + arg % 4;
	case 6:
		return base + (uint64_t)(int64_t)(int8_t)arg;
	case 7:
		return specials[arg % NSPECIAL];
	case 8:
		return arg;
	case 9:
		return base + NOTICE_MAX + (uint64_t)(int64_t)(int8_t)arg;
	case 10:
		return base - NOTICE_MAX + (uint64_t)(int64_t)(int8_t)arg;
	default:
		return SEQ_LIMIT - 1 - arg % 4;
	}
}

/*
 * Names: from a table, including ones the directory cannot keep whole
 * (struct pb_node_info keeps 63 bytes of a name, 255 of a description).
 *
 * Bug 1 found here (fixed: pb_srcdir_copy_name): the engine cut announced
 * names byte-wise, so a cut inside a UTF-8 sequence stored invalid UTF-8,
 * which a relay then could not announce downstream. The multi-byte names
 * put the byte cut inside a character (PB_FUZZ_AVOID_FIXED=1 shifts them).
 */
static char name_tab[8][300];
static char descr_tab[4][1100];
static bool known_bugs;

static void
names_init(void)
{
	static const char *const fixed[] = { "a", "edge-1", "relay", "\xc3\x84pfel \xe2\x82\xac" };
	size_t k = known_bugs ? 0 : 1;
	for (int i = 0; i < 4; i++)
		snprintf(name_tab[i], sizeof(name_tab[i]), "%s", fixed[i]);
	name_tab[4][0] = '\0';
	memset(name_tab[5], 'x', 64);                  /* 64 ASCII bytes */
	name_tab[5][64] = '\0';
	name_tab[6][0] = 'n';                          /* 40 x U+00E9 */
	for (int i = 0; i < 40; i++)
		memcpy(name_tab[6] + k + 2 * i, "\xc3\xa9", 2);
	name_tab[6][k + 80] = '\0';
	memset(name_tab[7], 'y', 255);
	name_tab[7][255] = '\0';
	snprintf(descr_tab[0], sizeof(descr_tab[0]), "%s", "");
	snprintf(descr_tab[1], sizeof(descr_tab[1]), "%s", "a description");
	descr_tab[2][0] = 'd';                         /* 150 x U+00E9 */
	for (int i = 0; i < 150; i++)
		memcpy(descr_tab[2] + k + 2 * i, "\xc3\xa9", 2);
	descr_tab[2][k + 300] = '\0';
	memset(descr_tab[3], 'd', 1024);
	descr_tab[3][1024] = '\0';
}

/* ---- engines ---- */

static struct pb_config rcfg, scfg;
static struct pb_engine *R, *S;
static char tmpdir[128];
static bool fresh;

static unsigned
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		perror("fuzz_link: free port");
		abort();
	}
	close(fd);
	return ntohs(a.sin_port);
}

static struct pb_engine *
engine_make(struct pb_config *cfg, const char *text)
{
	char err[2048];
	if (pb_config_load_string(text, cfg, NULL, NULL) != 0) {
		fprintf(stderr, "fuzz_link: bad config:\n%s\n", text);
		abort();
	}
	struct pb_engine *e = pb_engine_new(cfg, err, sizeof(err));
	if (!e) {
		fprintf(stderr, "fuzz_link: engine: %s\n", err);
		abort();
	}
	/* The engine routes these to its signalfd; give them back to libFuzzer. */
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGINT);
	sigaddset(&s, SIGTERM);
	sigaddset(&s, SIGHUP);
	pthread_sigmask(SIG_UNBLOCK, &s, NULL);
	return e;
}

/* Heartbeats and handshakes time out far beyond any run: a stalled
 * machine must not end a link the harness expects open. */
static void
engines_start(void)
{
	char text[2048];
	snprintf(text, sizeof(text),
	    "node = { id = %u; name = \"collector\"; };\n"
	    "listen = { address = \"127.0.0.1\"; port = %u; };\n"
	    "heartbeat = { interval = 60; dead_after = 3600; };\n"
	    "handshake_timeout_s = 300;\n"
	    "state_dir = \"%s/r\";\n", R_NODE_ID, free_port(), tmpdir);
	R = engine_make(&rcfg, text);
	snprintf(text, sizeof(text),
	    "node = { id = %u; name = \"edge\"; };\n"
	    "listen = { address = \"127.0.0.1\"; port = %u; };\n"
	    "consumers = ({ name = \"c\"; node = %u; });\n"
	    "resend = { timeout = 86400; buffer_mb = 1; };\n"
	    "heartbeat = { interval = 60; dead_after = 3600; };\n"
	    "handshake_timeout_s = 300;\n"
	    "state_dir = \"%s/s\";\n", S_NODE_ID, free_port(), CONSUMER, tmpdir);
	S = engine_make(&scfg, text);
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
remove_tmpdir(void)
{
	if (tmpdir[0])
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
engines_stop(void)
{
	pb_engine_free(R);
	pb_engine_free(S);
	R = S = NULL;
	pb_config_free(&rcfg);
	pb_config_free(&scfg);
	remove_tmpdir();
}

/* ---- the fuzzer's side of a connection ---- */

enum crole { C_UP, C_CONS, C_FEED };

struct fconn {
	int fd;                   /* -1: none */
	enum crole role;
	struct pb_engine *e;
	unsigned id;
	uint32_t node;            /* ours */
	uint64_t epoch;
	bool hello, welcome, up, eof, error;
	uint16_t errcode;
	uint8_t nonce[PB_WIRE_NONCE_LEN]; /* the engine's */
	uint64_t resume;          /* C_UP/C_FEED: from WELCOME; C_CONS: ours */
	uint64_t top;             /* C_UP/C_FEED: highest seq sent (or resume);
	                             C_CONS: highest received (or resume) */
	uint64_t last_ack;        /* C_UP/C_FEED */
	uint64_t next_rx;         /* C_CONS: next link seq due */
	uint64_t last_oseq;       /* C_CONS: origin_seq of the last record */
	uint64_t hb_ts;           /* HEARTBEAT we sent with echo 0, 0 none */
	bool hb_answered;
	unsigned acks, records;
	size_t rxlen;
	uint8_t *rx;
};

static struct fconn rc[NR], sc[NS], feed;
static struct fconn *all_conns[NR + NS + 1];

static struct {
	uint64_t ops[16], refusals, accepted, acks_rx, records_rx, notices_rx, inputs;
	uint64_t nonquiet, stalls;
} stats;

#define SEQ_MAP 16384
static uint64_t seq_map[SEQ_MAP][3]; /* S's link seq -> origin_seq, caplen */
static uint64_t s_max_legit;  /* highest link seq S sent/noticed/accepted as resume */
static uint64_t s_last_top;   /* highest a consumer slot received last time */
static uint64_t feed_oseq;    /* feed's origin_seq */
static uint64_t feed_next;    /* feed's next link seq */
static uint64_t r_oseq;       /* origin_seq for R's records */
static uint64_t hb_clock = 1000;
static bool nonquiet;         /* the last pump did not settle */

/* Stream ownership as R should see it (spec 6.6). */
struct owner {
	uint32_t node;
	uint16_t source;
	uint64_t epoch;
	uint32_t via;
};
static struct owner owners[256];
static size_t nowners;

static void
models_reset(void)
{
	s_max_legit = s_last_top = 0;
	memset(seq_map, 0, sizeof(seq_map));
	feed_next = 0;
	nowners = 0;
}

static struct tunnel_receiver *
up_of(struct pb_engine *e, uint32_t node)
{
	for (size_t i = 0; i < e->tunnel->nups; i++)
		if (e->tunnel->ups[i]->node_id == node && !e->tunnel->ups[i]->configured)
			return e->tunnel->ups[i];
	return NULL;
}

static struct tunnel_sender *
cons_peer(void)
{
	for (size_t i = 0; i < S->tunnel->npeers; i++)
		if (S->tunnel->peers[i]->node_id == CONSUMER)
			return S->tunnel->peers[i];
	fail("S has no consumer peer");
}

static void
conn_msg_up(struct fconn *c, const struct pb_wire_msg *m)
{
	uint32_t engine_node = c->e == R ? R_NODE_ID : S_NODE_ID;
	switch (m->type) {
	case PB_WIRE_T_HELLO:
		CHECK(!c->hello, "second HELLO from the engine");
		CHECK(m->hello.node_id == engine_node, "HELLO from node %u", m->hello.node_id);
		c->hello = true;
		memcpy(c->nonce, m->hello.nonce, sizeof(c->nonce));
		break;
	case PB_WIRE_T_AUTH: {
		static const uint8_t zero[PB_WIRE_MAC_LEN];
		CHECK(c->hello && !c->welcome, "AUTH out of order");
		CHECK(memcmp(m->auth.mac, zero, sizeof(zero)) == 0, "no key, yet a MAC");
		break;
	}
	case PB_WIRE_T_WELCOME: {
		CHECK(c->hello && !c->welcome, "WELCOME out of order");
		c->welcome = true;
		c->resume = c->top = c->last_ack = m->welcome.resume_seq;
		struct tunnel_receiver *u = up_of(c->e, c->node);
		CHECK(u && u->custody_seq == m->welcome.resume_seq,
		    "WELCOME resume %" PRIu64 " is not the custody point %" PRIu64,
		    m->welcome.resume_seq, u ? u->custody_seq : 0);
		break;
	}
	case PB_WIRE_T_NODE:
		CHECK(c->welcome, "NODE before WELCOME");
		CHECK(m->node.node_id == engine_node, "receiver announced node %u", m->node.node_id);
		break;
	case PB_WIRE_T_ACK: {
		uint64_t v = m->ack.link_seq;
		struct tunnel_receiver *u = up_of(c->e, c->node);
		CHECK(c->welcome, "ACK before WELCOME");
		CHECK(v >= c->last_ack, "ACK %" PRIu64 " below the previous one %" PRIu64, v,
		    c->last_ack);
		CHECK(v <= c->top, "ACK %" PRIu64 " above the highest link seq sent on this"
		    " connection (%" PRIu64 ")", v, c->top);
		CHECK(u && v <= u->custody_seq, "ACK %" PRIu64 " above the custody point %" PRIu64,
		    v, u ? u->custody_seq : 0);
		c->last_ack = v;
		c->acks++;
		stats.acks_rx++;
		break;
	}
	case PB_WIRE_T_HEARTBEAT:
		if (m->heartbeat.echo_ns) {
			CHECK(c->hb_ts && m->heartbeat.echo_ns == c->hb_ts,
			    "HEARTBEAT echo %" PRIu64 ", we sent %" PRIu64, m->heartbeat.echo_ns,
			    c->hb_ts);
			c->hb_answered = true;
		}
		break;
	case PB_WIRE_T_ERROR:
		c->error = true;
		c->errcode = m->error.code;
		break;
	default:
		fail("the receiver sent %s to its sender", pb_wire_type_name(m->type));
	}
}

static void
conn_msg_cons(struct fconn *c, const struct pb_wire_msg *m)
{
	switch (m->type) {
	case PB_WIRE_T_HELLO:
		CHECK(!c->hello, "second HELLO from S");
		CHECK(m->hello.node_id == S_NODE_ID, "HELLO from node %u", m->hello.node_id);
		c->hello = true;
		memcpy(c->nonce, m->hello.nonce, sizeof(c->nonce));
		break;
	case PB_WIRE_T_AUTH:
		CHECK(c->hello, "AUTH before HELLO");
		break;
	case PB_WIRE_T_NODE:
	case PB_WIRE_T_SOURCE:
		CHECK(c->up, "NODE/SOURCE before the resume");
		break;
	case PB_WIRE_T_RECORD: {
		const struct pb_record *r = &m->record;
		CHECK(c->up, "RECORD before the resume");
		CHECK(m->link_seq == c->next_rx, "RECORD link seq %" PRIu64 ", due %" PRIu64
		    " (resumed at %" PRIu64 ")", m->link_seq, c->next_rx, c->resume);
		CHECK(r->origin_node == FEED_NODE && r->origin_epoch == FEED_OEPOCH && r->nhops == 1 &&
		    r->hops[0].node_id == S_NODE_ID, "record of origin %u with %u hops", r->origin_node,
		    r->nhops);
		CHECK(r->origin_seq > c->last_oseq, "origin seq %" PRIu64 " after %" PRIu64,
		    r->origin_seq, c->last_oseq);
		/* A link seq always carries the same record, resent or not. */
		uint64_t *seen = seq_map[m->link_seq % SEQ_MAP];
		if (seen[0] == m->link_seq)
			CHECK(seen[1] == r->origin_seq && seen[2] == r->caplen, "link seq %" PRIu64
			    " carried origin seq %" PRIu64 " (%" PRIu64 " bytes), now %" PRIu64 " (%u)",
			    m->link_seq, seen[1], seen[2], r->origin_seq, r->caplen);
		seen[0] = m->link_seq;
		seen[1] = r->origin_seq;
		seen[2] = r->caplen;
		c->last_oseq = r->origin_seq;
		c->next_rx++;
		if (m->link_seq > c->top)
			c->top = m->link_seq;
		c->records++;
		stats.records_rx++;
		if (c->top > s_max_legit)
			s_max_legit = c->top;
		break;
	}
	case PB_WIRE_T_DLQ_NOTICE:
		CHECK(c->up, "DLQ_NOTICE before the resume");
		CHECK(m->dlq.first_seq <= c->next_rx, "DLQ_NOTICE %" PRIu64 "..%" PRIu64
		    " skips link seq %" PRIu64, m->dlq.first_seq, m->dlq.last_seq, c->next_rx);
		CHECK(m->dlq.last_seq - m->dlq.first_seq < NOTICE_MAX, "DLQ_NOTICE longer than 2^32");
		if (m->dlq.last_seq >= c->next_rx)
			c->next_rx = m->dlq.last_seq + 1;
		if (m->dlq.last_seq > c->top)
			c->top = m->dlq.last_seq;
		stats.notices_rx++;
		if (c->top > s_max_legit)
			s_max_legit = c->top;
		break;
	case PB_WIRE_T_HEARTBEAT:
		if (m->heartbeat.echo_ns) {
			CHECK(c->hb_ts && m->heartbeat.echo_ns == c->hb_ts, "bad HEARTBEAT echo");
			c->hb_answered = true;
		}
		break;
	case PB_WIRE_T_ERROR:
		c->error = true;
		c->errcode = m->error.code;
		break;
	default:
		fail("S sent %s to a consumer", pb_wire_type_name(m->type));
	}
}

static void
conn_close(struct fconn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->up = false;
}

/* Reads and handles what the engine sent; returns the bytes read. */
static size_t
conn_read(struct fconn *c)
{
	size_t total = 0;
	while (c->fd >= 0 && !c->eof) {
		ssize_t r = read(c->fd, c->rx + c->rxlen, RXCAP - c->rxlen);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (r <= 0) {
			c->eof = true;
			break;
		}
		total += (size_t)r;
		c->rxlen += (size_t)r;
		bool drained = (size_t)r < RXCAP - (c->rxlen - (size_t)r);
		size_t off = 0;
		while (off < c->rxlen) {
			struct pb_wire_msg m;
			size_t used = 0;
			char why[160] = "";
			enum pb_wire_status st = pb_wire_decode(c->rx + off, c->rxlen - off, &m, &used,
			    why, sizeof(why));
			if (st == PB_WIRE_NEED_MORE)
				break;
			CHECK(st == PB_WIRE_OK, "the engine sent bytes that do not decode: %s (%s)",
			    why, pb_wire_status_name(st));
			off += used;
			if (c->role == C_CONS)
				conn_msg_cons(c, &m);
			else
				conn_msg_up(c, &m);
		}
		memmove(c->rx, c->rx + off, c->rxlen - off);
		c->rxlen -= off;
		if (drained)
			break; /* a stream socket: the next read would say EAGAIN */
	}
	if (c->eof) {
		c->rxlen = 0; /* a message cut by the close is not one */
		conn_close(c);
	}
	return total;
}

/*
 * Runs e until it has nothing left to do and everything it sent was read:
 * an iteration in which the engine had no event and nothing arrived. One
 * poll() per round finds what to read (syscalls dominate the cost here).
 */
static void
pump(struct pb_engine *e)
{
	struct pollfd pfd[NR + NS + 1];
	struct fconn *pc[NR + NS + 1];
	nonquiet = false;
	for (unsigned i = 0; i < PUMP_MAX; i++) {
		int n = pb_engine_run_once(e, 0);
		size_t got = 0;
		nfds_t np = 0;
		for (size_t k = 0; k < NR + NS + 1; k++) {
			if (all_conns[k]->e == e && all_conns[k]->fd >= 0) {
				pc[np] = all_conns[k];
				pfd[np].fd = all_conns[k]->fd;
				pfd[np].events = POLLIN;
				pfd[np++].revents = 0;
			}
		}
		if (np && poll(pfd, np, 0) > 0)
			for (nfds_t k = 0; k < np; k++)
				if (pfd[k].revents)
					got += conn_read(pc[k]) + 1;
		if (n <= 0 && got == 0)
			return;
	}
	nonquiet = true;
	stats.nonquiet++;
}

/*
 * Writes all of buf, running the engine while the socket is full. An
 * engine that stops reading (S pauses its upstreams while its consumer's
 * buffer is over 3/4 full) would block forever: after a few rounds the
 * connection is given up (closed: the engine sees a cut message, then EOF).
 */
static void
conn_send(struct fconn *c, const uint8_t *buf, size_t len)
{
	unsigned stalls = 0;
	while (len > 0 && c->fd >= 0) {
		ssize_t w = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (++stalls > 8) {
				stats.stalls++;
				conn_close(c);
				pump(c->e);
				return;
			}
			pump(c->e);
			continue;
		}
		if (w < 0) {
			/* The engine closed: its ERROR is still to be read. */
			conn_read(c);
			if (c->fd >= 0)
				c->eof = true;
			conn_close(c);
			return;
		}
		buf += w;
		len -= (size_t)w;
	}
}

static uint8_t obuf[PB_WIRE_MAX_MSG * 4];

static size_t
enc(uint8_t *buf, const struct pb_wire_msg *m)
{
	size_t n = pb_wire_encode(buf, PB_WIRE_MAX_MSG, m);
	CHECK(n > 0, "cannot encode a %s", pb_wire_type_name(m->type));
	return n;
}

static void
send_msg(struct fconn *c, const struct pb_wire_msg *m)
{
	size_t n = enc(obuf, m);
	conn_send(c, obuf, n);
}

/* Handshake messages are staged and written at once: fewer syscalls. */
static uint8_t hsbuf[1024];
static size_t hslen;

static void
stage_msg(const struct pb_wire_msg *m)
{
	size_t n = pb_wire_encode(hsbuf + hslen, sizeof(hsbuf) - hslen, m);
	CHECK(n > 0 && hslen + n <= sizeof(hsbuf), "cannot stage a %s", pb_wire_type_name(m->type));
	hslen += n;
}

static void
stage_flush(struct fconn *c)
{
	conn_send(c, hsbuf, hslen);
	hslen = 0;
}

static void
conn_start(struct fconn *c, struct pb_engine *e, enum crole role, uint32_t node, uint64_t epoch)
{
	int sv[2];
	char addr[32];
	conn_close(c);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("fuzz_link: socketpair");
		abort();
	}
	uint8_t *rx = c->rx;
	unsigned id = c->id;
	memset(c, 0, sizeof(*c));
	c->rx = rx;
	c->id = id;
	c->fd = sv[0];
	c->e = e;
	c->role = role;
	c->node = node;
	c->epoch = epoch;
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", 40000 + id);
	CHECK(pb_engine_adopt(e, sv[1], addr) == 0, "pb_engine_adopt failed");
	pump(e);
	CHECK(c->hello && c->fd >= 0, "no HELLO from the engine");
}

static void
send_hello(struct fconn *c, uint16_t flags, uint32_t node, const uint8_t *nonce, uint8_t minv,
    uint8_t maxv)
{
	struct pb_wire_msg m = { .type = PB_WIRE_T_HELLO };
	m.hello.min_version = 1;
	m.hello.max_version = 1;
	m.hello.flags = flags;
	m.hello.node_id = node ? node : 1;
	m.hello.epoch = c->epoch;
	if (nonce)
		memcpy(m.hello.nonce, nonce, PB_WIRE_NONCE_LEN);
	else
		for (unsigned i = 0; i < PB_WIRE_NONCE_LEN; i++)
			m.hello.nonce[i] = (uint8_t)(0xa5 ^ i ^ c->id);
	uint8_t *b = hsbuf + hslen;
	stage_msg(&m);
	/* What the encoder refuses, written by hand. */
	b[8] = minv;
	b[9] = maxv;
	if (!node)
		memset(b + 12, 0, 4);
	(void)c;
}

static void
send_auth(struct fconn *c)
{
	struct pb_wire_msg m = { .type = PB_WIRE_T_AUTH };
	(void)c;
	stage_msg(&m);
}

/* After a refusal: ERROR with code (0: any), then the close. */
static void
expect_refused(struct fconn *c, uint16_t code, const char *what)
{
	stats.refusals++;
	if (nonquiet)
		return;
	CHECK(c->error, "%s: no ERROR", what);
	CHECK(code == 0 || c->errcode == code, "%s: ERROR %s, expected %s", what,
	    pb_wire_errcode_name(c->errcode), pb_wire_errcode_name(code));
	CHECK(c->eof && c->fd < 0, "%s: the connection stays open", what);
}

static void
expect_open(struct fconn *c, const char *what)
{
	stats.accepted++;
	if (nonquiet)
		return;
	CHECK(!c->error && !c->eof && c->fd >= 0, "%s: connection closed (ERROR %s)", what,
	    c->error ? pb_wire_errcode_name(c->errcode) : "none");
}

static bool
r_usable(struct fconn *c)
{
	return c->fd >= 0 && c->up && !c->eof;
}

/* ---- directory checks ---- */

static bool
utf8_ok(const char *s)
{
	struct pb_wire_msg m = { .type = PB_WIRE_T_NODE, .node.node_id = 1 };
	m.node.name.ptr = s;
	m.node.name.len = (uint16_t)strlen(s);
	return pb_wire_encode(NULL, 0, &m) != 0;
}

static void
check_node_entry(struct pb_engine *e, uint32_t node)
{
	const struct pb_node_info *n = pb_srcdir_node(e->dir, node);
	if (!n)
		return;
	CHECK(utf8_ok(n->name), "node %u's name in the directory is not UTF-8", node);
	CHECK(utf8_ok(n->description), "node %u's description in the directory is not UTF-8",
	    node);
}

static void
check_source_entry(struct pb_engine *e, uint32_t node, uint16_t source)
{
	const struct pb_source_info *s = pb_srcdir_source(e->dir, node, source);
	if (!s)
		return;
	CHECK(utf8_ok(s->name), "source %u/%u's name in the directory is not UTF-8", node, source);
	CHECK(utf8_ok(s->description), "source %u/%u's description is not UTF-8", node, source);
}

/* What the naming rules (spec 6.1 (5)) predict for an announcement. */
enum naming { NAME_SAME, NAME_SET, NAME_RENAME_REFUSED, NAME_CAP, NAME_OWN };

static enum naming
naming_predict(struct pb_engine *e, struct tunnel_receiver *u, bool exists, uint32_t node,
    uint32_t named_by, bool same, uint32_t made, uint32_t cap)
{
	if (node == e->cfg->node.id)
		return NAME_OWN;
	if (same)
		return NAME_SAME;
	if (exists && node != u->node_id && named_by != u->node_id)
		return NAME_RENAME_REFUSED;
	if (!exists && made >= cap)
		return NAME_CAP;
	return NAME_SET;
}

/* The name as the directory keeps it (cut to its buffer). */
static void
dir_copy(char *dst, size_t len, const char *src)
{
	/* What the directory must keep: the longest prefix of whole UTF-8
	 * characters that fits (spec 1: names are valid UTF-8). */
	size_t n = strlen(src), i = 0, keep = 0;
	while (i < n) {
		unsigned char b = (unsigned char)src[i];
		size_t w = b < 0x80 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
		if (i + w > len - 1)
			break;
		i += w;
		keep = i;
	}
	memcpy(dst, src, keep);
	dst[keep] = '\0';
}

/* ---- global invariants ---- */

static struct pb_refusals rref, sref;

static void
check_refusals(const struct pb_refusals *now, struct pb_refusals *last)
{
	const uint64_t *a = (const uint64_t *)now, *b = (const uint64_t *)last;
	for (size_t i = 0; i < sizeof(*now) / sizeof(uint64_t); i++)
		CHECK(a[i] >= b[i], "refusal counter %zu went down", i);
	*last = *now;
}

static void
check_upstreams(struct pb_engine *e, bool immediate)
{
	for (size_t i = 0; i < e->tunnel->nups; i++) {
		struct tunnel_receiver *u = e->tunnel->ups[i];
		CHECK(u->custody_seq < u->expected, "%s upstream node %u: custody_seq %" PRIu64
		    " not below expected %" PRIu64, e == R ? "R" : "S", u->node_id, u->custody_seq,
		    u->expected);
		CHECK(u->acked_sent <= u->custody_seq, "upstream node %u acked %" PRIu64
		    " beyond custody %" PRIu64, u->node_id, u->acked_sent, u->custody_seq);
		if (immediate && !nonquiet)
			CHECK(u->pending.n == 0 && u->custody_seq == u->expected - 1,
			    "R upstream node %u: custody %" PRIu64 ", expected %" PRIu64 ", %zu pending"
			    " (custody is immediate without sinks)", u->node_id, u->custody_seq,
			    u->expected, u->pending.n);
	}
}

/* The engines see exactly the connections the fuzzer holds. */
static void
check_links(void)
{
	if (nonquiet)
		return;
	for (size_t i = 0; i < R->tunnel->nups; i++) {
		struct tunnel_receiver *u = R->tunnel->ups[i];
		bool held = false;
		for (size_t k = 0; k < NR; k++)
			held |= r_usable(&rc[k]) && rc[k].node == u->node_id;
		CHECK(held == u->up, "R upstream node %u is %s, the fuzzer %s a connection",
		    u->node_id, u->up ? "up" : "down", held ? "holds" : "holds no");
	}
	bool held = false;
	for (size_t k = 0; k < NS; k++)
		held |= r_usable(&sc[k]);
	CHECK(held == cons_peer()->up, "S's consumer is %s, the fuzzer %s a connection",
	    cons_peer()->up ? "up" : "down", held ? "holds" : "holds no");
	struct tunnel_receiver *f = up_of(S, FEED_NODE);
	CHECK(!f || f->up == r_usable(&feed), "S's feed upstream is %s", f->up ? "up" : "down");
}

static void
check_all(void)
{
	check_links();
	check_upstreams(R, true);
	check_upstreams(S, false);
	check_refusals(&R->tunnel->refused, &rref);
	check_refusals(&S->tunnel->refused, &sref);

	struct tunnel_sender *p = cons_peer();
	struct pb_resend_stats st;
	pb_resend_get_stats(p->rs, &st);
	CHECK(p->acked_seq < p->next_seq, "acked_seq %" PRIu64 " >= next_seq %" PRIu64,
	    p->acked_seq, p->next_seq);
	CHECK(p->acked_seq <= s_max_legit, "acked_seq %" PRIu64 " above anything sent, noticed"
	    " or resumed (%" PRIu64 ")", p->acked_seq, s_max_legit);
	CHECK(p->sent_seq < p->next_seq && p->noticed_seq < p->next_seq,
	    "sent %" PRIu64 "/noticed %" PRIu64 " beyond next_seq %" PRIu64, p->sent_seq,
	    p->noticed_seq, p->next_seq);
	CHECK(p->toks.n == st.entries, "%zu tokens for %zu buffered records", p->toks.n,
	    st.entries);
	if (p->toks.n) {
		uint64_t *t = fifo2_front(&p->toks);
		CHECK(t[0] == st.oldest_seq && t[0] > p->acked_seq, "oldest token seq %" PRIu64
		    ", oldest record %" PRIu64 ", acked %" PRIu64, t[0], st.oldest_seq, p->acked_seq);
	}
	for (size_t k = 0; k < NS; k++) {
		struct fconn *c = &sc[k];
		if (!r_usable(c) || nonquiet || !p->up || p->conn == NULL)
			continue;
		uint64_t top = p->sent_seq > p->noticed_seq ? p->sent_seq : p->noticed_seq;
		CHECK(c->top == top, "consumer received up to %" PRIu64 ", S counts %" PRIu64
		    " (sent %" PRIu64 ", noticed %" PRIu64 ")", c->top, top, p->sent_seq,
		    p->noticed_seq);
		CHECK(p->announced_nodes == S->tunnel->nknown_nodes && p->announced_sources == S->tunnel->nknown_sources,
		    "S announced %zu of %zu nodes and %zu of %zu sources to its consumer",
		    p->announced_nodes, S->tunnel->nknown_nodes, p->announced_sources, S->tunnel->nknown_sources);
	}
}

/* ---- R: the fuzzer as upstream ---- */

static const uint32_t r_nodes[] = { 1, 2, 3, 1, 2, 3, 4, R_NODE_ID };
static const uint32_t other_nodes[] = { 1, 2, 3, 4, 5, R_NODE_ID, 0xffffffffu, 7 };

/* Connects slot c to R as node/epoch with a handshake variant (R_OPEN). */
static void
r_connect(struct fconn *c, uint32_t node, uint64_t epoch, uint8_t variant)
{
	conn_close(c);
	pump(R);
	conn_start(c, R, C_UP, node, epoch);
	struct tunnel_receiver *u = up_of(R, node);
	uint64_t undeclared = R->tunnel->refused.undeclared_consumer;
	bool was_up = u && u->up;
	uint64_t resume = u && u->epoch == epoch ? u->custody_seq : 0;
	uint64_t old_epoch = u ? u->epoch : 0, old_exp = u ? u->expected : 0;

	switch (variant) {
	case 10: /* wants records from a collector that has no consumers */
		send_hello(c, PB_WIRE_HELLO_RECV, node, NULL, 1, 1);
		send_auth(c);
		stage_flush(c);
		pump(R);
		expect_refused(c, PB_WIRE_E_NODE_ID, "consumer");
		if (node != R_NODE_ID && !nonquiet)
			CHECK(R->tunnel->refused.undeclared_consumer == undeclared + 1, "undeclared consumer not counted");
		return;
	case 11:
	case 12:
		send_hello(c, variant == 11 ? 0 : PB_WIRE_HELLO_SEND | PB_WIRE_HELLO_RECV, node, NULL,
		    1, 1);
		stage_flush(c);
		pump(R);
		expect_refused(c, node == R_NODE_ID ? 0 : PB_WIRE_E_UNEXPECTED, "role mismatch");
		return;
	case 13:
		send_hello(c, PB_WIRE_HELLO_SEND, node, NULL, 2, 3);
		stage_flush(c);
		pump(R);
		expect_refused(c, PB_WIRE_E_VERSION, "no common version");
		return;
	case 14:
		send_hello(c, PB_WIRE_HELLO_SEND, node, c->nonce, 1, 1);
		stage_flush(c);
		pump(R);
		expect_refused(c, node == R_NODE_ID ? PB_WIRE_E_NODE_ID : PB_WIRE_E_AUTH,
		    "reflected nonce");
		return;
	case 15:
		send_hello(c, PB_WIRE_HELLO_SEND, 0, NULL, 1, 1);
		stage_flush(c);
		pump(R);
		expect_refused(c, PB_WIRE_E_NODE_ID, "node id 0");
		return;
	default:
		break;
	}
	send_hello(c, PB_WIRE_HELLO_SEND, node, NULL, 1, 1);
	send_auth(c);
	stage_flush(c);
	pump(R);
	if (node == R_NODE_ID) {
		expect_refused(c, PB_WIRE_E_NODE_ID, "our own node id");
		return;
	}
	if (was_up) {
		expect_refused(c, PB_WIRE_E_NODE_ID, "second connection of a connected node");
		CHECK(u->epoch == old_epoch && u->expected == old_exp && u->up,
		    "a refused second connection changed the connected upstream");
		return;
	}
	expect_open(c, "upstream handshake");
	if (nonquiet)
		return;
	u = up_of(R, node);
	CHECK(c->welcome && u && u->up && u->conn, "upstream node %u not up", node);
	CHECK(c->resume == resume, "resume %" PRIu64 ", predicted %" PRIu64, c->resume, resume);
	c->up = true;
}

static void
r_open(struct input *in)
{
	unsigned slot = in_u8(in) % NR;
	uint32_t node = r_nodes[in_u8(in) % 8];
	uint8_t esel = in_u8(in), variant = in_u8(in) % 16;
	uint64_t eraw = in_u64(in);
	static const uint64_t epochs[] = { 0xa, 0xb, 0xc };
	uint64_t epoch = esel % 4 < 3 ? epochs[esel % 4] : eraw;
	struct fconn *c = &rc[slot];

	if (variant < 9 && r_usable(c) && c->node == node && c->epoch == epoch)
		return;
	r_connect(c, node, epoch, variant);
}

/* The slot for an operation on R: connected as node slot + 1, epoch A, if
 * it is not connected (so that inputs do not depend on earlier ones);
 * NULL when that is refused (the node is connected on another slot). */
static struct fconn *
r_get(uint8_t sel)
{
	struct fconn *c = &rc[sel % NR];
	if (!r_usable(c)) {
		struct tunnel_receiver *u = up_of(R, sel % NR + 1);
		if (u && u->up)
			return NULL;
		r_connect(c, sel % NR + 1, 0xa, 0);
	}
	return r_usable(c) ? c : NULL;
}

/* Owner of an origin stream in the model; 0 none. */
static struct owner *
owner_find(uint32_t node, uint16_t source, uint64_t epoch)
{
	for (size_t i = 0; i < nowners; i++)
		if (owners[i].node == node && owners[i].source == source && owners[i].epoch == epoch)
			return &owners[i];
	return NULL;
}

struct r_snap {
	uint64_t expected, custody, epoch;
	struct pb_refusals ref;
};

static void
r_snap(struct fconn *c, struct r_snap *sn)
{
	struct tunnel_receiver *u = up_of(R, c->node);
	CHECK(u, "no upstream for node %u", c->node);
	sn->expected = u->expected;
	sn->custody = u->custody_seq;
	sn->epoch = u->epoch;
	sn->ref = R->tunnel->refused;
}

/* After a refusal nothing of the link's state moved, one counter did. */
static void
r_check_refused(struct fconn *c, const struct r_snap *sn, uint16_t code, size_t counter,
    const char *what)
{
	expect_refused(c, code, what);
	struct tunnel_receiver *u = up_of(R, c->node);
	CHECK(u->expected == sn->expected && u->custody_seq == sn->custody && u->epoch == sn->epoch,
	    "%s moved the link state: expected %" PRIu64 " -> %" PRIu64 ", custody %" PRIu64
	    " -> %" PRIu64, what, sn->expected, u->expected, sn->custody, u->custody_seq);
	if (nonquiet)
		return;
	const uint64_t *a = (const uint64_t *)&R->tunnel->refused, *b = (const uint64_t *)&sn->ref;
	for (size_t i = 0; i < sizeof(R->tunnel->refused) / sizeof(uint64_t); i++) {
		uint64_t want = b[i] + (i == counter ? 1 : 0);
		CHECK(a[i] == want, "%s: refusal counter %zu is %" PRIu64 ", expected %" PRIu64,
		    what, i, a[i], want);
	}
}

#define REF(field) (offsetof(struct pb_refusals, field) / sizeof(uint64_t))
#define REF_NONE ((size_t)-1)

/* An accepted RECORD or DLQ_NOTICE that covers up to `last`. */
static void
r_check_moved(struct fconn *c, const struct r_snap *sn, uint64_t last, const char *what)
{
	expect_open(c, what);
	if (nonquiet)
		return;
	struct tunnel_receiver *u = up_of(R, c->node);
	uint64_t want = last >= sn->expected ? last + 1 : sn->expected;
	CHECK(u->expected == want, "%s: expected %" PRIu64 ", predicted %" PRIu64, what,
	    u->expected, want);
	CHECK(u->custody_seq == want - 1, "%s: custody %" PRIu64 ", predicted %" PRIu64, what,
	    u->custody_seq, want - 1);
	CHECK(c->last_ack == want - 1, "%s: last ACK %" PRIu64 ", custody %" PRIu64, what,
	    c->last_ack, want - 1);
	CHECK(memcmp(&R->tunnel->refused, &sn->ref, sizeof(sn->ref)) == 0, "%s: a refusal was counted",
	    what);
}

static uint8_t frame[PB_FRAME_CAP];

static void
r_record(struct input *in)
{
	uint8_t slot = in_u8(in);
	uint8_t seqmode = in_u8(in);
	uint64_t seqarg = in_u64(in);
	uint8_t osel = in_u8(in), hsel = in_u8(in), qsel = in_u8(in), misc = in_u8(in);
	uint8_t caplen = in_u8(in);
	struct fconn *c = r_get(slot);
	if (!c)
		return;
	struct r_snap sn;
	r_snap(c, &sn);
	uint64_t s = seq_value(seqmode, seqarg, sn.expected);

	struct pb_record rec;
	memset(&rec, 0, sizeof(rec));
	rec.origin_node = osel % 8 < 5 ? c->node : other_nodes[(osel >> 3) % 8];
	rec.origin_source = misc & 1;
	rec.origin_epoch = misc & 2 ? OEPOCH_B : OEPOCH_A;
	rec.linktype = 1;
	rec.ts_ns = 1700000000000000000ull;
	rec.caplen = rec.origlen = caplen;
	rec.data = frame;
	static const uint8_t many[] = { 15, 16, 32, 17 };
	rec.nhops = hsel & 4 ? many[(hsel >> 6) & 3] : hsel & 3;
	for (unsigned i = 0; i < rec.nhops; i++) {
		rec.hops[i].node_id = other_nodes[(hsel + i) % 8];
		rec.hops[i].seq = i + 1;
	}
	if (rec.nhops && (hsel & 8))
		rec.hops[rec.nhops - 1].node_id = c->node;
	if (rec.nhops > 1 && (hsel & 16))
		rec.hops[0].node_id = R_NODE_ID;
	switch (qsel % 8) {
	case 5:
		rec.origin_seq = 0;
		break;
	case 6:
		rec.origin_seq = specials[(qsel >> 3) % NSPECIAL];
		break;
	case 7:
		rec.origin_seq = r_oseq ? r_oseq : 1; /* an origin duplicate */
		break;
	default:
		rec.origin_seq = ++r_oseq;
	}

	size_t n = pb_wire_encode_record(obuf, sizeof(obuf), &rec, s ? s : 1);
	CHECK(n > 0, "cannot encode a record");
	if (s == 0)
		memset(obuf + 8, 0, 8);
	if (s > c->top && s != 0)
		c->top = s; /* ACKs may cover it if it is accepted */
	conn_send(c, obuf, n);
	pump(R);

	uint32_t last = rec.nhops ? rec.hops[rec.nhops - 1].node_id : 0;
	if (s == 0) {
		r_check_refused(c, &sn, PB_WIRE_E_MALFORMED, REF_NONE, "RECORD link seq 0");
		return;
	}
	if (s < sn.expected) {
		r_check_moved(c, &sn, s, "duplicate RECORD");
		return;
	}
	if (s > sn.expected) {
		r_check_refused(c, &sn, PB_WIRE_E_MALFORMED, s >= SEQ_LIMIT ? REF(seq_wrap) :
		    REF(seq_jump), "RECORD ahead of the expected seq");
		return;
	}
	/* Bug 2 found here (fixed): at expected == 2^63 (after a DLQ_NOTICE up
	 * to 2^63 - 1) the engine took the record; the spec (6.4) says refuse. */
	if (s >= SEQ_LIMIT) {
		r_check_refused(c, &sn, PB_WIRE_E_MALFORMED, REF(seq_wrap), "RECORD link seq >= 2^63");
		return;
	}
	/* A record that passed through R already, or reached max_hops (16),
	 * is dropped and acknowledged whatever its origin (a loop in a mesh). */
	bool looped = false;
	for (unsigned i = 0; i < rec.nhops; i++)
		looped |= rec.hops[i].node_id == R_NODE_ID;
	if (looped || rec.origin_node == R_NODE_ID || rec.nhops >= 16) {
		r_check_moved(c, &sn, s, "looped RECORD");
		return;
	}
	if (rec.origin_seq == 0 || rec.origin_seq >= SEQ_LIMIT) {
		r_check_refused(c, &sn, PB_WIRE_E_MALFORMED, REF(seq_wrap), "origin_seq out of range");
		return;
	}
	if (rec.origin_node != c->node && last != c->node) {
		r_check_refused(c, &sn, PB_WIRE_E_UNEXPECTED, REF(origin_unbound),
		    "RECORD of an unbound origin");
		return;
	}
	struct owner *o = owner_find(rec.origin_node, rec.origin_source, rec.origin_epoch);
	if (o && o->via != c->node) {
		struct tunnel_receiver *ou = up_of(R, o->via);
		if (ou && ou->up) {
			r_check_refused(c, &sn, PB_WIRE_E_UNEXPECTED, REF(stream_owned),
			    "RECORD of a stream owned by another link");
			return;
		}
		o->via = c->node; /* failover */
	} else if (!o && nowners < sizeof(owners) / sizeof(owners[0])) {
		owners[nowners++] = (struct owner){ rec.origin_node, rec.origin_source,
			rec.origin_epoch, c->node };
	}
	r_check_moved(c, &sn, s, "RECORD");
}

static void
r_batch(struct input *in)
{
	uint8_t slot = in_u8(in);
	unsigned count = in_u8(in) % 64 + 1;
	struct fconn *c = r_get(slot);
	if (!c)
		return;
	struct r_snap sn;
	r_snap(c, &sn);
	/* Only valid records: none at or beyond 2^63 (refused, spec 6.4). */
	if (sn.expected >= SEQ_LIMIT)
		return;
	if (sn.expected + count - 1 >= SEQ_LIMIT)
		count = (unsigned)(SEQ_LIMIT - sn.expected);
	/* Records of the link's own origin, stream (node, 1, OEPOCH_B): always
	 * its own unless another link relayed it first. */
	struct owner *o = owner_find(c->node, 1, OEPOCH_B);
	if (o && o->via != c->node) {
		struct tunnel_receiver *ou = up_of(R, o->via);
		if (ou && ou->up)
			return;
		o->via = c->node;
	} else if (!o && nowners < sizeof(owners) / sizeof(owners[0])) {
		owners[nowners++] = (struct owner){ c->node, 1, OEPOCH_B, c->node };
	}
	size_t off = 0;
	for (unsigned i = 0; i < count; i++) {
		struct pb_record rec;
		memset(&rec, 0, sizeof(rec));
		rec.origin_node = c->node;
		rec.origin_source = 1;
		rec.origin_epoch = OEPOCH_B;
		rec.origin_seq = ++r_oseq;
		rec.caplen = rec.origlen = 16;
		rec.data = frame;
		size_t n = pb_wire_encode_record(obuf + off, sizeof(obuf) - off, &rec,
		    sn.expected + i);
		CHECK(n > 0, "cannot encode a record");
		off += n;
	}
	c->top = sn.expected + count - 1;
	conn_send(c, obuf, off);
	pump(R);
	r_check_moved(c, &sn, sn.expected + count - 1, "batch of RECORDs");
}

static void
r_notice(struct input *in)
{
	uint8_t slot = in_u8(in);
	uint8_t fmode = in_u8(in);
	uint64_t farg = in_u64(in);
	uint8_t lmode = in_u8(in);
	uint64_t larg = in_u64(in);
	uint8_t reason = in_u8(in);
	struct fconn *c = r_get(slot);
	if (!c)
		return;
	struct r_snap sn;
	r_snap(c, &sn);
	uint64_t first = seq_value(fmode, farg, sn.expected), last;
	switch (lmode % 8) {
	case 0: case 1:
		last = first;
		break;
	case 2:
		last = first + larg % 256;
		break;
	case 3:
		last = first + NOTICE_MAX - 1;
		break;
	case 4:
		last = first + NOTICE_MAX;
		break;
	case 5:
		last = specials[larg % NSPECIAL];
		break;
	case 6:
		last = larg;
		break;
	default:
		last = first + (larg & 0xffffffffu);
	}
	struct pb_wire_msg m = { .type = PB_WIRE_T_DLQ_NOTICE };
	m.dlq.first_seq = first ? first : 1;
	m.dlq.last_seq = last >= m.dlq.first_seq ? last : m.dlq.first_seq;
	m.dlq.reason = reason % 5;
	size_t n = enc(obuf, &m);
	if (first == 0)
		memset(obuf + 8, 0, 8);
	if (last < first) { /* decoder must refuse: write it by hand */
		for (int i = 0; i < 8; i++)
			obuf[16 + i] = (uint8_t)(last >> (56 - 8 * i));
	}
	if (last > c->top && first != 0 && last >= first)
		c->top = last;
	conn_send(c, obuf, n);
	pump(R);
	if (first == 0 || last < first) {
		r_check_refused(c, &sn, PB_WIRE_E_MALFORMED, REF_NONE, "undecodable DLQ_NOTICE");
		return;
	}
	if (last >= SEQ_LIMIT) {
		r_check_refused(c, &sn, PB_WIRE_E_MALFORMED, REF(seq_wrap), "DLQ_NOTICE beyond 2^63");
		return;
	}
	if (first > sn.expected || last - first >= NOTICE_MAX) {
		r_check_refused(c, &sn, PB_WIRE_E_MALFORMED, REF(notice_invalid), first > sn.expected ?
		    "DLQ_NOTICE skipping records" : "DLQ_NOTICE longer than 2^32");
		return;
	}
	r_check_moved(c, &sn, last, "DLQ_NOTICE");
}

static void
r_name(struct input *in, bool source)
{
	uint8_t slot = in_u8(in);
	uint32_t node = other_nodes[in_u8(in) % 8];
	uint16_t src = source ? in_u8(in) % 3 : 0;
	const char *name = name_tab[in_u8(in) % 8];
	const char *descr = descr_tab[in_u8(in) % 4];
	uint16_t linktype = source ? in_u8(in) % 3 : 0;
	struct fconn *c = r_get(slot);
	if (!c)
		return;
	struct tunnel_receiver *u = up_of(R, c->node);
	struct pb_refusals ref = R->tunnel->refused;
	char kname[64], kdescr[256];
	dir_copy(kname, sizeof(kname), name);
	dir_copy(kdescr, sizeof(kdescr), descr);
	enum naming pred;
	struct pb_wire_msg m;
	memset(&m, 0, sizeof(m));
	if (source) {
		const struct pb_source_info *cur = pb_srcdir_source(R->dir, node, src);
		pred = naming_predict(R, u, cur != NULL, node, cur ? cur->named_by : 0,
		    cur && !strcmp(cur->name, kname) && !strcmp(cur->description, kdescr) &&
		    cur->linktype == linktype, u->sources_named, R->tc->limits.max_sources_per_link);
		m.type = PB_WIRE_T_SOURCE;
		m.source.node_id = node;
		m.source.source_id = src;
		m.source.linktype = linktype;
		m.source.name.ptr = name;
		m.source.name.len = (uint16_t)strlen(name);
		m.source.descr.ptr = descr;
		m.source.descr.len = (uint16_t)strlen(descr);
	} else {
		const struct pb_node_info *cur = pb_srcdir_node(R->dir, node);
		pred = naming_predict(R, u, cur != NULL, node, cur ? cur->named_by : 0,
		    cur && !strcmp(cur->name, kname) && !strcmp(cur->description, kdescr),
		    u->nodes_named, R->tc->limits.max_nodes_per_link);
		m.type = PB_WIRE_T_NODE;
		m.node.node_id = node;
		m.node.name.ptr = name;
		m.node.name.len = (uint16_t)strlen(name);
		m.node.descr.ptr = descr;
		m.node.descr.len = (uint16_t)strlen(descr);
	}
	send_msg(c, &m);
	pump(R);
	expect_open(c, source ? "SOURCE" : "NODE");
	if (nonquiet)
		return;
	if (source)
		check_source_entry(R, node, src);
	else
		check_node_entry(R, node);
	const char *got_name, *got_descr;
	uint32_t named_by;
	if (source) {
		const struct pb_source_info *cur = pb_srcdir_source(R->dir, node, src);
		got_name = cur ? cur->name : NULL;
		got_descr = cur ? cur->description : NULL;
		named_by = cur ? cur->named_by : 0;
	} else {
		const struct pb_node_info *cur = pb_srcdir_node(R->dir, node);
		got_name = cur ? cur->name : NULL;
		got_descr = cur ? cur->description : NULL;
		named_by = cur ? cur->named_by : 0;
	}
	switch (pred) {
	case NAME_SET:
		CHECK(got_name && !strcmp(got_name, kname) && !strcmp(got_descr, kdescr) &&
		    named_by == c->node, "announcement of %u by node %u not stored", node, c->node);
		CHECK(!memcmp(&ref, &R->tunnel->refused, sizeof(ref)), "accepted announcement counted as refused");
		break;
	case NAME_RENAME_REFUSED:
		CHECK(R->tunnel->refused.rename == ref.rename + 1, "rename of %u by node %u not counted", node,
		    c->node);
		CHECK(!got_name || named_by != c->node, "node %u renamed %u", c->node, node);
		break;
	case NAME_CAP:
		CHECK((source ? R->tunnel->refused.source_cap == ref.source_cap + 1 :
		    R->tunnel->refused.node_cap == ref.node_cap + 1), "cap not counted");
		CHECK(!got_name, "entry created over the per-link cap");
		break;
	case NAME_SAME:
	case NAME_OWN:
		CHECK(!memcmp(&ref, &R->tunnel->refused, sizeof(ref)), "unchanged announcement refused");
		break;
	}
}

static void
r_misc(struct input *in)
{
	uint8_t slot = in_u8(in);
	uint8_t kind = in_u8(in) % 12;
	uint64_t arg = in_u64(in);
	struct fconn *c = r_get(slot);
	if (!c)
		return;
	struct r_snap sn;
	r_snap(c, &sn);
	struct pb_wire_msg m;
	memset(&m, 0, sizeof(m));
	switch (kind) {
	case 0:
	case 1:
		m.type = PB_WIRE_T_HEARTBEAT;
		m.heartbeat.ts_ns = c->hb_ts = ++hb_clock;
		m.heartbeat.echo_ns = kind == 1 ? arg | 1 : 0;
		c->hb_answered = false;
		send_msg(c, &m);
		pump(R);
		expect_open(c, "HEARTBEAT");
		if (kind == 0 && !nonquiet)
			CHECK(c->hb_answered, "HEARTBEAT not answered");
		return;
	case 2: { /* optional type: skipped */
		size_t len = arg % 200;
		obuf[0] = 0x50;
		obuf[1] = 0x42;
		obuf[2] = 1;
		obuf[3] = (uint8_t)(128 + arg % 128);
		obuf[4] = obuf[5] = obuf[6] = 0;
		obuf[7] = (uint8_t)len;
		memset(obuf + 8, 0xee, len);
		conn_send(c, obuf, 8 + len);
		pump(R);
		expect_open(c, "optional message");
		CHECK(up_of(R, c->node)->expected == sn.expected, "optional message moved the state");
		return;
	}
	case 3:
		m.type = PB_WIRE_T_ACK;
		m.ack.link_seq = arg;
		break;
	case 4:
		m.type = PB_WIRE_T_HELLO;
		m.hello.min_version = m.hello.max_version = 1;
		m.hello.flags = PB_WIRE_HELLO_SEND;
		m.hello.node_id = c->node;
		break;
	case 5:
		m.type = PB_WIRE_T_AUTH;
		break;
	case 6:
		m.type = PB_WIRE_T_WELCOME;
		m.welcome.resume_seq = arg;
		break;
	case 7: { /* we close with ERROR: no answer */
		m.type = PB_WIRE_T_ERROR;
		m.error.code = PB_WIRE_E_SHUTDOWN;
		m.error.text.ptr = "bye";
		m.error.text.len = 3;
		send_msg(c, &m);
		pump(R);
		CHECK(nonquiet || (!c->error && c->fd < 0), "no close after our ERROR");
		CHECK(nonquiet || !up_of(R, c->node)->up, "upstream still up after ERROR");
		return;
	}
	case 8: /* wrong magic: an odd first byte is never 0x50 */
		obuf[0] = (uint8_t)(arg | 1);
		conn_send(c, obuf, 1);
		pump(R);
		r_check_refused(c, &sn, PB_WIRE_E_MAGIC, REF_NONE, "wrong magic");
		return;
	case 9: /* unknown mandatory type */
		memcpy(obuf, "\x50\x42\x01\x0b\x00\x00\x00\x00", 8);
		conn_send(c, obuf, 8);
		pump(R);
		r_check_refused(c, &sn, PB_WIRE_E_TYPE, REF_NONE, "unknown mandatory type");
		return;
	case 10: /* oversize */
		memcpy(obuf, "\x50\x42\x01\x06\x00\x02\x00\x01", 8);
		conn_send(c, obuf, 8);
		pump(R);
		r_check_refused(c, &sn, PB_WIRE_E_OVERSIZE, REF_NONE, "oversize");
		return;
	default: /* header only, then close: a message cut short */
		memcpy(obuf, "\x50\x42\x01\x08\x00\x00\x00\x10", 8);
		conn_send(c, obuf, 8 + arg % 8);
		conn_close(c);
		pump(R);
		CHECK(nonquiet || !up_of(R, c->node)->up, "upstream still up after the close");
		struct tunnel_receiver *u = up_of(R, c->node);
		CHECK(u->expected == sn.expected && u->custody_seq == sn.custody,
		    "a truncated message moved the state");
		return;
	}
	send_msg(c, &m);
	pump(R);
	r_check_refused(c, &sn, PB_WIRE_E_UNEXPECTED, REF(unexpected), "message not allowed to a receiver");
}

static void
r_close(struct input *in)
{
	struct fconn *c = &rc[in_u8(in) % NR];
	if (c->fd < 0)
		return;
	bool was = r_usable(c);
	conn_close(c);
	pump(R);
	if (was && !nonquiet) {
		struct tunnel_receiver *u = up_of(R, c->node);
		CHECK(u && !u->up && !u->conn, "upstream node %u still up after the close", c->node);
	}
}

/* State injection: as if ~2^31 maximal DLQ_NOTICEs had moved the link. */
static void
r_jump(struct input *in)
{
	uint8_t slot = in_u8(in);
	uint64_t arg = in_u64(in), v;
	struct fconn *c = r_get(slot);
	if (!c)
		return;
	struct tunnel_receiver *u = up_of(R, c->node);
	if (u->pending.n)
		return;
	switch (arg % 4) {
	case 0:
		v = SEQ_LIMIT - 1 - (arg >> 8) % 8;
		break;
	case 1:
		v = SEQ_LIMIT - NOTICE_MAX + (arg >> 8) % 4;
		break;
	case 2:
		v = NOTICE_MAX - 2 + (arg >> 8) % 4;
		break;
	default:
		v = (arg >> 2) % SEQ_LIMIT;
	}
	if (v <= u->custody_seq)
		return;
	u->custody_seq = u->acked_sent = v;
	u->expected = v + 1;
	R->tunnel->state_dirty = true;
	c->top = c->last_ack = v;
}

/* ---- S: the feed (upstream node 5) and the consumers (node 9) ---- */

static bool
feed_up(void)
{
	struct fconn *c = &feed;
	if (r_usable(c))
		return true;
	conn_close(c);
	pump(S);
	conn_start(c, S, C_FEED, FEED_NODE, FEED_EPOCH);
	send_hello(c, PB_WIRE_HELLO_SEND, FEED_NODE, NULL, 1, 1);
	send_auth(c);
	stage_flush(c);
	pump(S);
	if (nonquiet || c->fd < 0)
		return false;
	expect_open(c, "feed handshake");
	CHECK(c->welcome, "feed: no WELCOME");
	struct tunnel_receiver *u = up_of(S, FEED_NODE);
	CHECK(u && u->up, "feed upstream not up");
	c->up = true;
	feed_next = u->expected;
	c->top = feed_next - 1 > c->resume ? feed_next - 1 : c->resume;
	return true;
}

static void
s_feed(struct input *in)
{
	unsigned count = in_u8(in) % 16 + 1;
	unsigned caplen = in_u8(in) * 8u;
	if (!feed_up())
		return;
	size_t off = 0;
	for (unsigned i = 0; i < count; i++) {
		struct pb_record rec;
		memset(&rec, 0, sizeof(rec));
		rec.origin_node = FEED_NODE;
		rec.origin_epoch = FEED_OEPOCH;
		rec.origin_seq = ++feed_oseq;
		rec.linktype = 1;
		rec.caplen = rec.origlen = caplen;
		rec.data = frame;
		size_t n = pb_wire_encode_record(obuf + off, sizeof(obuf) - off, &rec, feed_next++);
		CHECK(n > 0, "cannot encode a feed record");
		off += n;
	}
	feed.top = feed_next - 1;
	conn_send(&feed, obuf, off);
	pump(S);
}

static const uint32_t s_name_nodes[] = { FEED_NODE, 6, 7, S_NODE_ID, CONSUMER, FEED_NODE, 6, 8 };

static void
s_name(struct input *in)
{
	uint8_t kind = in_u8(in);
	uint32_t node = s_name_nodes[in_u8(in) % 8];
	const char *name = name_tab[in_u8(in) % 8];
	const char *descr = descr_tab[in_u8(in) % 4];
	if (!feed_up())
		return;
	struct pb_wire_msg m;
	memset(&m, 0, sizeof(m));
	if (kind & 1) {
		m.type = PB_WIRE_T_SOURCE;
		m.source.node_id = node;
		m.source.source_id = (kind >> 1) % 2;
		m.source.linktype = 1;
		m.source.name.ptr = name;
		m.source.name.len = (uint16_t)strlen(name);
		m.source.descr.ptr = descr;
		m.source.descr.len = (uint16_t)strlen(descr);
	} else {
		m.type = PB_WIRE_T_NODE;
		m.node.node_id = node;
		m.node.name.ptr = name;
		m.node.name.len = (uint16_t)strlen(name);
		m.node.descr.ptr = descr;
		m.node.descr.len = (uint16_t)strlen(descr);
	}
	uint64_t stalls = stats.stalls;
	send_msg(&feed, &m);
	pump(S);
	if (S->peer_paused || stats.stalls != stalls)
		return; /* S holds its upstreams back: the message may wait unread */
	expect_open(&feed, "feed announcement");
	struct tunnel_sender *p = cons_peer();
	if (p->up && !nonquiet)
		CHECK(p->announced_nodes == S->tunnel->nknown_nodes && p->announced_sources == S->tunnel->nknown_sources,
		    "S announced %zu of %zu nodes and %zu of %zu sources to its consumer",
		    p->announced_nodes, S->tunnel->nknown_nodes, p->announced_sources, S->tunnel->nknown_sources);
	if (kind & 1)
		check_source_entry(S, node, (kind >> 1) % 2);
	else
		check_node_entry(S, node);
}

static const uint32_t s_nodes[] = { CONSUMER, CONSUMER, CONSUMER, CONSUMER, CONSUMER, 8,
	S_NODE_ID, FEED_NODE };

struct s_snap {
	uint64_t acked, next, entries, oldest, spilled;
	size_t toks;
	struct pb_refusals ref;
};

static void
s_snap(struct s_snap *sn)
{
	struct tunnel_sender *p = cons_peer();
	struct pb_resend_stats st;
	pb_resend_get_stats(p->rs, &st);
	sn->acked = p->acked_seq;
	sn->next = p->next_seq;
	sn->entries = st.entries;
	sn->oldest = st.oldest_seq;
	sn->spilled = p->to_dlq + p->dlq_refused;
	sn->toks = p->toks.n;
	sn->ref = S->tunnel->refused;
}

/*
 * A refused ACK/WELCOME releases nothing: acked_seq stays, and every
 * buffered record is still there. (The buffer may grow meanwhile: a
 * consumer that goes down no longer holds S's upstreams back, so records
 * waiting in the feed's socket come in; and when it overflows the oldest
 * records spill, which is counted apart.)
 */
static void
s_check_refused(struct fconn *c, const struct s_snap *sn, uint16_t code, size_t counter,
    const char *what)
{
	expect_refused(c, code, what);
	struct tunnel_sender *p = cons_peer();
	struct pb_resend_stats st;
	pb_resend_get_stats(p->rs, &st);
	CHECK(p->acked_seq == sn->acked, "%s moved acked_seq %" PRIu64 " -> %" PRIu64, what,
	    sn->acked, p->acked_seq);
	if (p->to_dlq + p->dlq_refused == sn->spilled)
		CHECK(p->toks.n >= sn->toks && st.entries >= sn->entries &&
		    (!sn->entries || st.oldest_seq == sn->oldest), "%s released records: buffered"
		    " %zu -> %zu, oldest %" PRIu64 " -> %" PRIu64, what, sn->toks, p->toks.n,
		    sn->oldest, st.oldest_seq);
	if (nonquiet || counter == REF_NONE)
		return;
	const uint64_t *a = (const uint64_t *)&S->tunnel->refused, *b = (const uint64_t *)&sn->ref;
	CHECK(a[counter] == b[counter] + 1, "%s: refusal counter %zu not counted", what, counter);
}

/* After an accepted release up to v: nothing at or below it is kept. */
static void
s_check_released(const struct s_snap *sn, uint64_t v, const char *what)
{
	struct tunnel_sender *p = cons_peer();
	uint64_t want = v > sn->acked ? v : sn->acked;
	CHECK(p->acked_seq == want, "%s %" PRIu64 ": acked_seq %" PRIu64 ", predicted %" PRIu64,
	    what, v, p->acked_seq, want);
	uint64_t *t = fifo2_front(&p->toks);
	CHECK(!t || t[0] > v, "%s %" PRIu64 ": record %" PRIu64 " still buffered", what, v,
	    t ? t[0] : 0);
	/* Only the consumer's counters: the release may let S take in what its
	 * feed sent while held back, and count that. */
	CHECK(S->tunnel->refused.ack_ahead == sn->ref.ack_ahead &&
	    S->tunnel->refused.resume_ahead == sn->ref.resume_ahead &&
	    S->tunnel->refused.undeclared_consumer == sn->ref.undeclared_consumer,
	    "%s %" PRIu64 " counted as refused", what, v);
}

/* Connects consumer slot c to S as node with WELCOME resume_seq r. */
static void
s_connect(struct fconn *c, uint32_t node, uint64_t r, uint8_t variant)
{
	conn_close(c);
	pump(S);
	conn_start(c, S, C_CONS, node, 0x9e9e + c->id);
	struct tunnel_sender *p = cons_peer();
	struct s_snap sn;
	s_snap(&sn);
	bool was_up = p->up;
	uint64_t undeclared = S->tunnel->refused.undeclared_consumer;
	send_hello(c, variant == 7 ? PB_WIRE_HELLO_SEND | PB_WIRE_HELLO_RECV : PB_WIRE_HELLO_RECV,
	    node, NULL, 1, 1);
	send_auth(c);
	struct pb_wire_msg m = { .type = PB_WIRE_T_WELCOME };
	m.welcome.resume_seq = r;
	m.welcome.heartbeat_ms = 1000;
	c->resume = c->top = r;
	c->next_rx = r + 1;
	c->up = r < p->next_seq; /* the reader checks what arrives from the resume on */
	if (node == CONSUMER && variant != 7 && !was_up && r < p->next_seq &&
	    r > s_max_legit)
		s_max_legit = r;
	stage_msg(&m);
	stage_flush(c);
	pump(S);

	if (variant == 7) {
		expect_refused(c, node == S_NODE_ID ? PB_WIRE_E_NODE_ID : PB_WIRE_E_UNEXPECTED,
		    "role mismatch");
		c->up = false;
		return;
	}
	if (node == S_NODE_ID) {
		expect_refused(c, PB_WIRE_E_NODE_ID, "our own node id");
		c->up = false;
		return;
	}
	if (node != CONSUMER) {
		expect_refused(c, PB_WIRE_E_NODE_ID, "undeclared consumer");
		CHECK(nonquiet || S->tunnel->refused.undeclared_consumer == undeclared + 1,
		    "undeclared consumer not counted");
		c->up = false;
		return;
	}
	if (was_up) {
		s_check_refused(c, &sn, PB_WIRE_E_NODE_ID, REF_NONE, "second consumer connection");
		c->up = false;
		CHECK(p->up, "the connected consumer went down");
		return;
	}
	if (r >= sn.next) {
		s_check_refused(c, &sn, PB_WIRE_E_MALFORMED, REF(resume_ahead),
		    "WELCOME resume beyond next_seq");
		c->up = false;
		return;
	}
	expect_open(c, "consumer handshake");
	if (nonquiet)
		return;
	CHECK(p->up && p->conn && p->resumed, "consumer not up");
	s_check_released(&sn, r, "resume");
}

static void
s_open(struct input *in)
{
	unsigned slot = in_u8(in) % NS;
	uint32_t node = s_nodes[in_u8(in) % 8];
	uint8_t rmode = in_u8(in);
	uint64_t rarg = in_u64(in);
	uint8_t variant = in_u8(in) % 8;
	struct tunnel_sender *p = cons_peer();
	uint64_t r;
	switch (rmode % 12) {
	case 0: case 1:
		r = p->acked_seq;
		break;
	case 2: case 3:
		r = p->next_seq - 1;
		break;
	case 4:
		r = p->next_seq;
		break;
	case 5:
		r = p->next_seq - 1 - rarg % 8;
		break;
	case 6:
		r = p->next_seq + rarg % 8;
		break;
	case 7:
		r = specials[rarg % NSPECIAL];
		break;
	case 8:
		r = rarg;
		break;
	case 9:
		r = 0;
		break;
	case 10:
		r = s_last_top;
		break;
	default:
		r = p->acked_seq + (uint64_t)(int64_t)(int8_t)rarg;
	}
	s_connect(&sc[slot], node, r, variant);
}

/* A consumer slot for an operation: connected (resuming at acked_seq) if
 * it is not; NULL when S refuses (the consumer is up on the other slot). */
static struct fconn *
s_get(uint8_t sel)
{
	struct fconn *c = &sc[sel % NS];
	if (!r_usable(c)) {
		if (cons_peer()->up)
			return NULL;
		s_connect(c, CONSUMER, cons_peer()->acked_seq, 0);
	}
	return r_usable(c) ? c : NULL;
}

static void
s_ack(struct input *in)
{
	uint8_t slot = in_u8(in);
	uint8_t mode = in_u8(in);
	uint64_t arg = in_u64(in), v;
	struct fconn *c = s_get(slot);
	if (!c)
		return;
	struct tunnel_sender *p = cons_peer();
	uint64_t t = c->top;
	switch (mode % 12) {
	case 0: case 1: case 2: case 3:
		v = t;
		break;
	case 4:
		v = t - arg % 4;
		break;
	case 5:
		v = t + 1 + arg % 4;
		break;
	case 6:
		v = p->acked_seq;
		break;
	case 7:
		v = specials[arg % NSPECIAL];
		break;
	case 8:
		v = arg;
		break;
	case 9:
		v = p->next_seq - 1;
		break;
	case 10:
		v = p->next_seq;
		break;
	default:
		v = t + (uint64_t)(int64_t)(int8_t)arg;
	}
	struct s_snap sn;
	s_snap(&sn);
	struct pb_wire_msg m = { .type = PB_WIRE_T_ACK };
	m.ack.link_seq = v;
	send_msg(c, &m);
	pump(S);
	if (v > t) {
		s_check_refused(c, &sn, PB_WIRE_E_MALFORMED, REF(ack_ahead), "ACK above what was sent");
		return;
	}
	expect_open(c, "ACK");
	if (!nonquiet)
		s_check_released(&sn, v, "ACK");
}

static void
s_misc(struct input *in)
{
	uint8_t slot = in_u8(in);
	uint8_t kind = in_u8(in) % 8;
	struct fconn *c = s_get(slot);
	if (!c)
		return;
	struct s_snap sn;
	s_snap(&sn);
	struct pb_wire_msg m;
	memset(&m, 0, sizeof(m));
	switch (kind) {
	case 0:
		m.type = PB_WIRE_T_HEARTBEAT;
		m.heartbeat.ts_ns = c->hb_ts = ++hb_clock;
		c->hb_answered = false;
		send_msg(c, &m);
		pump(S);
		expect_open(c, "HEARTBEAT");
		CHECK(nonquiet || c->hb_answered, "HEARTBEAT not answered");
		return;
	case 1:
		m.type = PB_WIRE_T_NODE;
		m.node.node_id = CONSUMER;
		m.node.name.ptr = "consumer";
		m.node.name.len = 8;
		send_msg(c, &m);
		pump(S);
		expect_open(c, "consumer NODE");
		return;
	case 2: {
		struct pb_record rec;
		memset(&rec, 0, sizeof(rec));
		rec.origin_node = CONSUMER;
		rec.origin_seq = 1;
		rec.data = frame;
		size_t n = pb_wire_encode_record(obuf, sizeof(obuf), &rec, 1);
		conn_send(c, obuf, n);
		pump(S);
		s_check_refused(c, &sn, PB_WIRE_E_UNEXPECTED, REF(unexpected), "RECORD to a sender");
		return;
	}
	case 3:
		m.type = PB_WIRE_T_DLQ_NOTICE;
		m.dlq.first_seq = m.dlq.last_seq = 1;
		send_msg(c, &m);
		pump(S);
		s_check_refused(c, &sn, PB_WIRE_E_UNEXPECTED, REF(unexpected), "DLQ_NOTICE to a sender");
		return;
	case 4:
		memcpy(obuf, "\x50\x42\x01\xc8\x00\x00\x00\x04xxxx", 12);
		conn_send(c, obuf, 12);
		pump(S);
		expect_open(c, "optional message");
		return;
	case 5:
		m.type = PB_WIRE_T_WELCOME;
		m.welcome.resume_seq = c->top;
		send_msg(c, &m);
		pump(S);
		s_check_refused(c, &sn, PB_WIRE_E_UNEXPECTED, REF(unexpected), "WELCOME after the handshake");
		return;
	case 6:
		m.type = PB_WIRE_T_ERROR;
		m.error.code = PB_WIRE_E_SHUTDOWN;
		send_msg(c, &m);
		pump(S);
		CHECK(nonquiet || (c->fd < 0 && !c->error), "no close after our ERROR");
		CHECK(nonquiet || !cons_peer()->up, "consumer still up after its ERROR");
		return;
	default:
		obuf[0] = 0x00;
		conn_send(c, obuf, 1);
		pump(S);
		s_check_refused(c, &sn, PB_WIRE_E_MAGIC, REF_NONE, "wrong magic");
		return;
	}
}

static void
s_close(struct input *in)
{
	struct fconn *c = &sc[in_u8(in) % NS];
	if (c->fd < 0)
		return;
	bool was = r_usable(c);
	if (was)
		s_last_top = c->top;
	conn_close(c);
	pump(S);
	CHECK(nonquiet || !was || !cons_peer()->up, "consumer still up after the close");
}

/*
 * End of an input. Connections stay open for the next one (connecting is
 * what costs most); S's resend buffer is emptied through the protocol once
 * it is half full (an ACK of everything received, or a resume at
 * next_seq - 1), so that inputs do not inherit a full buffer.
 */
static void
wind_down(void)
{
	op_name = "wind down";
	struct tunnel_sender *p = cons_peer();
	struct pb_resend_stats st;
	pb_resend_get_stats(p->rs, &st);
	if (st.used_bytes > st.capacity / 2) {
		struct fconn *c = NULL;
		for (size_t k = 0; k < NS; k++)
			if (r_usable(&sc[k]))
				c = &sc[k];
		if (c) {
			struct pb_wire_msg m = { .type = PB_WIRE_T_ACK };
			m.ack.link_seq = c->top;
			send_msg(c, &m);
			pump(S);
		} else {
			s_connect(&sc[0], CONSUMER, p->next_seq - 1, 0);
		}
	}
	check_all();
}

static void
setup_conns(void)
{
	for (unsigned i = 0; i < NR; i++)
		all_conns[i] = &rc[i];
	for (unsigned i = 0; i < NS; i++)
		all_conns[NR + i] = &sc[i];
	all_conns[NR + NS] = &feed;
	for (unsigned i = 0; i < NR + NS + 1; i++) {
		struct fconn *c = all_conns[i];
		c->fd = -1;
		c->id = i;
		c->rx = malloc(RXCAP);
		if (!c->rx)
			abort();
	}
}

static void
cleanup(void)
{
	if (getenv("PB_FUZZ_STATS")) {
		fprintf(stderr, "fuzz_link: %" PRIu64 " inputs, %" PRIu64 " refusals, %" PRIu64
		    " accepted, %" PRIu64 " ACKs, %" PRIu64 " records and %" PRIu64 " notices to"
		    " consumers, %" PRIu64 " pumps not settled, %" PRIu64 " writes given up\n", stats.inputs,
		    stats.refusals, stats.accepted, stats.acks_rx, stats.records_rx, stats.notices_rx,
		    stats.nonquiet, stats.stalls);
		for (int i = 0; i < 16; i++)
			fprintf(stderr, "  %-12s %" PRIu64 "\n", op_names[i], stats.ops[i]);
		fprintf(stderr, "  R refused: wrap %" PRIu64 " jump %" PRIu64 " unbound %" PRIu64
		    " owned %" PRIu64 " notice %" PRIu64 " rename %" PRIu64 "; S: ack_ahead %" PRIu64
		    " resume_ahead %" PRIu64 " undeclared %" PRIu64 "\n", R->tunnel->refused.seq_wrap,
		    R->tunnel->refused.seq_jump, R->tunnel->refused.origin_unbound, R->tunnel->refused.stream_owned,
		    R->tunnel->refused.notice_invalid, R->tunnel->refused.rename, S->tunnel->refused.ack_ahead,
		    S->tunnel->refused.resume_ahead, S->tunnel->refused.undeclared_consumer);
	}
	for (size_t k = 0; k < NR + NS + 1; k++)
		conn_close(all_conns[k]);
	engines_stop();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_verbose = getenv("PB_FUZZ_LOG") != NULL;
	fresh = getenv("PB_FUZZ_FRESH") != NULL;
	/* Both bugs it found are fixed: inputs reach them and the fixed
	 * behaviour is checked (their reproducers are seeds in corpus_link). */
	known_bugs = getenv("PB_FUZZ_AVOID_FIXED") == NULL;
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(tmpdir, sizeof(tmpdir), "%s/pb-fuzz-link.XXXXXX", base);
	if (!mkdtemp(tmpdir)) {
		perror("fuzz_link: mkdtemp");
		abort();
	}
	names_init();
	for (size_t i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)(i * 7 + 3);
	setup_conns();
	engines_start();
	atexit(cleanup);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };

	if (fresh) {
		for (size_t k = 0; k < NR + NS + 1; k++)
			conn_close(all_conns[k]);
		engines_stop();
		if (mkdir(tmpdir, 0700) < 0 && errno != EEXIST)
			abort();
		engines_start();
		models_reset();
		memset(&rref, 0, sizeof(rref));
		memset(&sref, 0, sizeof(sref));
	}
	stats.inputs++;
	for (op_index = 0; in.n > 0 && op_index < MAX_OPS; op_index++) {
		uint8_t op = in_u8(&in) % 16;
		op_name = op_names[op];
		stats.ops[op]++;
		switch (op) {
		case 0: r_record(&in); break;
		case 1: r_notice(&in); break;
		case 2: r_name(&in, false); break;
		case 3: r_open(&in); break;
		case 4: r_name(&in, true); break;
		case 5: r_misc(&in); break;
		case 6: r_close(&in); break;
		case 7: r_batch(&in); break;
		case 8: r_jump(&in); break;
		case 9: s_open(&in); break;
		case 10:
			conn_close(&feed);
			pump(S);
			break;
		case 11: s_feed(&in); break;
		case 12: s_name(&in); break;
		case 13: s_misc(&in); break;
		case 14: s_close(&in); break;
		default: s_ack(&in); break;
		}
		check_all();
	}
	wind_down();
	return 0;
}
