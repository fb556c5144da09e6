/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_PEER_LINK_H
#define PB_PEER_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "loop.h"
#include "wire.h"

/*
 * One TCP connection to another node, knowing nothing of records or
 * custody: dialing (with reconnect) or accepting, the HELLO/AUTH/WELCOME
 * handshake, framing, heartbeats and flow control. Everything runs on the
 * loop's thread; no function may be called from another thread.
 *
 * Handshake (both sides, right after connect/accept):
 *   1. send HELLO {versions MIN..MAX, flags, node id, epoch, fresh nonce}.
 *      A dialer sends SEND (role SENDER) or RECV (role RECEIVER); an
 *      accepted link sends the flags of the roles it may take
 *      (cfg.accept_roles) and takes the complement of the dialer's flag.
 *   2. on the peer's HELLO: pick the highest common version (none:
 *      ERROR version), refuse the peer's node id if it is ours (ERROR
 *      node-id), our own nonce reflected back (ERROR auth), and
 *      non-complementary roles (ERROR unexpected, "role mismatch"); pick
 *      the key (ops->peer_key, else cfg.psk), then send AUTH = HMAC-SHA256(psk, pb_wire_auth_input(
 *      signer = us, our nonce, verifier = peer, peer nonce)). Without a
 *      PSK the AUTH is sent with an all-zero MAC.
 *   3. on the peer's AUTH: with a PSK the MAC must verify (constant time),
 *      else ERROR auth, auth_failures++. Without a PSK any AUTH is
 *      accepted: a node with a PSK therefore only talks to nodes that
 *      prove it, and a node without one talks to anybody (the config layer
 *      requires an explicit allow_unauthenticated for exposed listeners).
 *      ops->check_peer may then refuse the (now authenticated) peer.
 *   4. the RECEIVER sends WELCOME {resume_seq = ops->resume_seq(), our
 *      heartbeat_ms} and is UP; the SENDER waits for WELCOME, calls
 *      ops->on_welcome and is UP. on_up follows on both sides.
 *      (The RECEIVER cannot know whether the SENDER accepted its AUTH: a
 *      RECEIVER without a PSK facing a SENDER with one gets on_up, then
 *      on_down "peer sent ERROR auth" before any data.)
 * Anything else during the handshake, optional types included, is ERROR
 * unexpected; the whole
 * handshake (connect and name resolution included) must finish within
 * handshake_timeout_ms.
 *
 * TLS (cfg.tls, see tls.h): right after the TCP connect, before HELLO,
 * a TLS 1.3 handshake in which both sides present a certificate and
 * verify the peer's against the CA; everything above then runs inside
 * TLS, within the same handshake_timeout_ms. The peer's HELLO must claim
 * the node id its certificate names, else ERROR node-id and
 * auth_failures++. A refused or missing certificate on either side, and a
 * plain (non-TLS) packetbroker peer, count as auth_failures, other TLS
 * failures as protocol_errors. TLS proves the node id, so the AUTH MAC is
 * then only checked when there is a key (keyring) as well: both must pass.
 * Byte counters count the protocol's bytes, not TLS records.
 *
 * Heartbeats: every heartbeat_ms each side sends HEARTBEAT {ts_ns = its
 * monotonic clock, echo_ns = 0}; a HEARTBEAT with echo_ns 0 is answered
 * at once with {ts_ns, echo_ns = the received ts_ns}, and such an answer
 * gives rtt = now - echo_ns (so the RTT does not include the peer's
 * heartbeat period). Any received byte proves liveness; nothing for
 * dead_after_ms drops the connection ("heartbeat timeout"). A SENDER uses
 * max(dead_after_ms, 3 x the heartbeat_ms of the peer's WELCOME).
 *
 * Messages after UP: RECORD and DLQ_NOTICE are accepted only by a
 * RECEIVER, ACK only by a SENDER, NODE/SOURCE both ways; other mandatory
 * types are ERROR unexpected; unknown optional types are skipped. A
 * received ERROR always ends the connection (reason: its code and text)
 * and is not passed to on_message.
 *
 * Lifetime: a dialing link lives until pb_link_close(); after each
 * connection ends it waits (exponential backoff from backoff_min_ms,
 * doubling per failed attempt up to backoff_max_ms, +-20% jitter; reset
 * after a connection stayed UP for backoff_max_ms) and reconnects. An
 * accepted link goes to PB_LINK_CLOSED when its connection ends and stays
 * allocated (stats readable) until pb_link_close(), which may be called
 * from on_down.
 *
 * Callbacks are never called from inside pb_link_dial()/pb_link_accept().
 * Any pb_link_* function may be called from a callback, including
 * pb_link_close()/pb_link_drop() of the link being dispatched: the link
 * stops dispatching (no further on_message for the rest of the read),
 * and deferred work (on_down, freeing) runs when the outermost callback
 * returns.
 */

struct pb_link;
struct pb_listener;
struct pb_tls;

enum pb_link_role {
	PB_LINK_SENDER = 0,   /* we send RECORDs and DLQ_NOTICEs, receive ACKs */
	PB_LINK_RECEIVER = 1, /* we receive RECORDs and DLQ_NOTICEs, send ACKs */
};
#define PB_LINK_ROLE_BIT(role) (1u << (role))

enum pb_link_state {
	PB_LINK_IDLE,       /* dialer before its first attempt */
	PB_LINK_CONNECTING, /* resolving or TCP connect in progress */
	PB_LINK_HANDSHAKE,
	PB_LINK_UP,
	PB_LINK_DOWN,       /* dialer waiting for its reconnect */
	PB_LINK_CLOSED,     /* accepted link whose connection ended */
};

/* Defaults used for 0 fields of struct pb_link_cfg. */
#define PB_LINK_DEF_HEARTBEAT_MS 1000u
#define PB_LINK_DEF_HANDSHAKE_MS 5000u
#define PB_LINK_DEF_BACKOFF_MIN_MS 100u
#define PB_LINK_DEF_BACKOFF_MAX_MS 10000u
#define PB_LINK_DEF_RX_BUFFER (4u << 20)
#define PB_LINK_MIN_RX_BUFFER (256u << 10) /* > PB_WIRE_MAX_MSG */
#define PB_LINK_CTRL_MAX (1u << 20)        /* control queue limit */

struct pb_link_cfg {
	uint32_t node_id;              /* ours, not 0 */
	uint64_t epoch;                /* ours, sent in HELLO */
	const uint8_t *psk;            /* copied; NULL/0 = unauthenticated */
	size_t psk_len;
	uint32_t heartbeat_ms;         /* 0 = PB_LINK_DEF_HEARTBEAT_MS */
	uint32_t dead_after_ms;        /* 0 = 3 x heartbeat_ms */
	uint32_t handshake_timeout_ms; /* 0 = PB_LINK_DEF_HANDSHAKE_MS */
	uint32_t backoff_min_ms;       /* 0 = PB_LINK_DEF_BACKOFF_MIN_MS */
	uint32_t backoff_max_ms;       /* 0 = PB_LINK_DEF_BACKOFF_MAX_MS */
	size_t rx_buffer;              /* rx buffer limit (grows from 256 KiB); 0 = 4 MiB */
	unsigned accept_roles;         /* accepted links: PB_LINK_ROLE_BIT()s we
	                                * may take; 0 = both */
	const struct pb_tls *tls;      /* NULL = plain TCP; else TLS with
	                                * certificates (tls.h); the link keeps
	                                * its own reference to the context */
};

struct pb_link_ops {
	/* Optional, on the peer's HELLO: the key this link is authenticated
	 * with (*len 0: none), chosen by the peer's claimed node id; the
	 * pointer must stay valid for the link's lifetime. 0, or the enum
	 * pb_wire_errcode sent in ERROR (e.g. PB_WIRE_E_NODE_ID for a node
	 * without a key). Without it the link uses cfg.psk. */
	uint16_t (*peer_key)(struct pb_link *link, const struct pb_wire_hello *peer,
	    const uint8_t **key, size_t *len, void *arg);
	/* Optional, after the peer's AUTH verified: 0 accepts, anything else
	 * is the enum pb_wire_errcode sent in ERROR (e.g. PB_WIRE_E_NODE_ID
	 * for a node that is already connected or not configured). */
	uint16_t (*check_peer)(struct pb_link *link, const struct pb_wire_hello *peer, void *arg);
	/* RECEIVER: last link seq in custody from this peer (0 none), sent
	 * in WELCOME. Called before on_up. */
	uint64_t (*resume_seq)(struct pb_link *link, const struct pb_wire_hello *peer, void *arg);
	/* SENDER: the peer's WELCOME (resume point). Called before on_up. */
	void (*on_welcome)(struct pb_link *link, const struct pb_wire_welcome *w, void *arg);
	/* Handshake complete; pb_link_role() is final. */
	void (*on_up)(struct pb_link *link, const struct pb_wire_hello *peer, void *arg);
	/* NODE, SOURCE, RECORD, ACK, DLQ_NOTICE after UP. Pointers in msg
	 * (RECORD data, strings) point into the rx buffer: valid only during
	 * the call. msg itself is the callee's to change (decoded afresh for
	 * each message): a receiver adds its hop to the record in place. */
	void (*on_message)(struct pb_link *link, struct pb_wire_msg *msg, void *arg);
	/* Once for every connection (or attempt) that ends, unless it was
	 * ended by pb_link_close(). was_up: on_up had been called for it.
	 * A dialer then reconnects by itself; an accepted link is CLOSED. */
	void (*on_down)(struct pb_link *link, bool was_up, const char *reason, void *arg);
	/*
	 * SENDER data pump. fill_iov fills at most max iovecs with the bytes
	 * to send next, starting at the current stream position (which may be
	 * in the middle of a message after a partial write), and returns how
	 * many it filled (0 = nothing to send). The bytes must be whole wire
	 * messages back to back (RECORD header + frame as separate iovecs is
	 * fine); the link parses their headers to find message boundaries, so
	 * control messages are only put between two messages. sent() then
	 * says how many of these bytes were written; the iovecs are not used
	 * after it. Call pb_link_kick() when new data becomes available.
	 */
	int (*fill_iov)(struct pb_link *link, struct iovec *iov, int max, void *arg);
	void (*sent)(struct pb_link *link, size_t bytes, void *arg);
	/*
	 * Optional, instead of sent(), for a pump that knows its message
	 * boundaries: the bytes written, the number of messages they
	 * completed added to *msgs, and the bytes of the message they ended
	 * in that are still unwritten returned (0: at a boundary). The link
	 * then does not read back the headers of what it wrote.
	 */
	size_t (*sent_msgs)(struct pb_link *link, size_t bytes, uint64_t *msgs, void *arg);
};

struct pb_link_stats {
	enum pb_link_state state;
	enum pb_link_role role;        /* final once UP */
	bool dialer;
	bool tls;                      /* connections run over TLS */
	uint8_t version;               /* negotiated, 0 before HELLO */
	uint32_t peer_node;            /* 0 before the peer's HELLO */
	uint64_t peer_epoch;
	uint64_t connected_since_ns;   /* CLOCK_REALTIME when UP, 0 otherwise */
	uint64_t rtt_ns;               /* last HEARTBEAT round trip, 0 none */
	uint64_t bytes_in, bytes_out;
	uint64_t msgs_in, msgs_out;    /* msgs_out: data written + control queued */
	uint64_t connects;             /* handshakes completed */
	uint64_t reconnects;           /* dialer attempts after the first */
	uint64_t failovers;            /* dialer UP at another address than the last UP */
	unsigned addr_index;           /* dialer: which of its addresses (0 = first) */
	uint64_t auth_failures;        /* peer's MAC or certificate wrong, or peer refused ours */
	uint64_t protocol_errors;      /* undecodable input, handshake refusals, drops */
	uint64_t unexpected;           /* of those: a message not allowed in the link's state */
	char name[128];
	char peer_addr[64];            /* "192.0.2.1:5555", "[2001:db8::1]:5555" */
	char last_error[256];
};

/*
 * Creates a dialing link to address:port with role `role`; the first
 * attempt starts on the next loop iteration. An IP literal is used
 * directly; a host name is resolved before every attempt by getaddrinfo()
 * in a short-lived detached thread (getaddrinfo blocks), and successive
 * failed attempts rotate through its addresses. name labels the link in
 * logs and stats. NULL with err set on invalid arguments (node id 0, PSK
 * longer than PB_AUTH_MAX_PSK, fill_iov without sent or sent_msgs...) or no memory.
 */
struct pb_link *pb_link_dial(struct pb_loop *loop, const struct pb_link_cfg *cfg,
    enum pb_link_role role, const char *name, const char *address, uint16_t port,
    const struct pb_link_ops *ops, void *arg, char *err, size_t errlen);

/*
 * Adds another address to a dialing link, before its first attempt (a
 * tier of receivers behind one peer entry). The link tries its addresses
 * in order: a failed connect, a refused or timed-out handshake, or an UP
 * connection that ends (dead peer, reset, ERROR) moves it to the next one
 * after backoff_min_ms; after the last it starts over at the first with
 * its usual exponential backoff. At most PB_LINK_MAX_ADDRS in all.
 * 0, or -1 with err set.
 */
#define PB_LINK_MAX_ADDRS 8
int pb_link_add_address(struct pb_link *link, const char *address, uint16_t port, char *err,
    size_t errlen);

/*
 * Creates a link on an accepted connection and starts the handshake. The
 * link takes fd in every case (closed on failure). Its role is decided
 * by the dialer's HELLO (dialer SEND -> we RECEIVER, RECV -> SENDER).
 */
struct pb_link *pb_link_accept(struct pb_loop *loop, const struct pb_link_cfg *cfg, int fd,
    const char *peer_addr, const struct pb_link_ops *ops, void *arg, char *err, size_t errlen);

/*
 * Queues one encoded control message (NODE, SOURCE, an optional type, and
 * for a RECEIVER ACK, for a SENDER DLQ_NOTICE); it is written at the next message boundary of the data
 * stream, at once when called outside this link's callbacks, else when
 * they return. -1 with errno: ENOTCONN not UP, EINVAL not exactly one
 * valid message of those types, ENOBUFS queue above PB_LINK_CTRL_MAX.
 */
int pb_link_send_ctrl(struct pb_link *link, const void *msg, size_t len);
/* Same, encoding msg (pb_wire_encode) straight into the queue. */
int pb_link_send_msg(struct pb_link *link, const struct pb_wire_msg *msg);
/* Control bytes queued and not yet written (e.g. to coalesce ACKs). */
size_t pb_link_ctrl_pending(const struct pb_link *link);

/* SENDER: new data for fill_iov. Writes now (one sendmsg per up to 256
 * iovecs) unless the socket is known full; call once per batch. */
void pb_link_kick(struct pb_link *link);

/* Sends ERROR(shutdown) best effort, closes and frees (deferred when
 * called from a callback of this link). No callback follows. NULL ok. */
void pb_link_close(struct pb_link *link, const char *reason);

/* Protocol problem found by the caller: sends ERROR(errcode, reason)
 * best effort, closes this connection, counts a protocol error (unless
 * errcode is PB_WIRE_E_SHUTDOWN) and calls on_down (before returning, or
 * when the current callback returns). A dialer reconnects after backoff.
 * No-op when not connected. */
void pb_link_drop(struct pb_link *link, uint16_t errcode, const char *reason);

/* Receiver back-pressure: while paused the link neither reads the socket
 * nor dispatches buffered messages (TCP flow control then slows the
 * sender); a pause from inside on_message stops after that message.
 * Liveness is not judged while paused. */
void pb_link_pause_rx(struct pb_link *link, bool paused);
/* Relabels the link (e.g. with the configured peer name after on_up). */
void pb_link_set_name(struct pb_link *link, const char *name);

enum pb_link_state pb_link_state(const struct pb_link *link);
enum pb_link_role pb_link_role(const struct pb_link *link);
uint32_t pb_link_peer_node(const struct pb_link *link);
const char *pb_link_name(const struct pb_link *link);
const char *pb_link_peer_addr(const struct pb_link *link);
void pb_link_get_stats(const struct pb_link *link, struct pb_link_stats *st);
const char *pb_link_state_name(enum pb_link_state state);
const char *pb_link_role_name(enum pb_link_role role);

/*
 * Listener. cb gets every accepted connection (non-blocking, CLOEXEC) and
 * owns fd: pass it to pb_link_accept() or close it. address must be an IP
 * literal; NULL, "" or "*" listen on all addresses (IPv6 dual stack, or
 * IPv4 when IPv6 is unavailable). Port 0 picks a free port
 * (pb_listener_port). SO_REUSEADDR is set. On EMFILE and the like
 * accepting pauses for 100 ms instead of spinning.
 */
typedef void pb_accept_fn(struct pb_listener *lst, int fd, const char *peer_addr, void *arg);

struct pb_listener *pb_listener_open(struct pb_loop *loop, const char *address, uint16_t port,
    pb_accept_fn *cb, void *arg, char *err, size_t errlen);
uint16_t pb_listener_port(const struct pb_listener *lst);
/* May be called from the accept callback. NULL ok. */
void pb_listener_close(struct pb_listener *lst);

#endif
