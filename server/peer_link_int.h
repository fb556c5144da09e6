/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_PEER_LINK_INT_H
#define PB_PEER_LINK_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <openssl/ssl.h>

#include "log.h"
#include "peer_link.h"

/*
 * Internals shared by peer_link.c (state machine: handshake, heartbeats,
 * lifetime), peer_link_rx.c (readiness events, receive path),
 * peer_link_io.c (send path, control queue, connecting and name
 * resolution, listener, accessors) and peer_link_tls.c (TLS handshake,
 * reads and writes through libssl).
 *
 * Re-entrancy: every entry from the loop or the API runs between
 * link_enter() and link_leave(); callbacks run at depth >= 1, so API calls
 * from them only set flags (flush, down, free) that the outermost
 * link_leave() acts on. conn_gen changes whenever a connection ends,
 * which is how loops notice that a callback ended it.
 */

#define LINK_IOV 254                /* data iovecs per sendmsg (+2: ctrl, split) */
#define LINK_READ_BUDGET (1u << 20) /* bytes read per wakeup: fairness */
#define LINK_WRITE_BUDGET (4u << 20)
#define LINK_HOST_MAX 256u
#define LINK_CTRL_INIT 4096u

enum link_hs_step { HS_HELLO, HS_AUTH, HS_WELCOME };

/* Where the outgoing data stream is: inside a header (have bytes of it)
 * or inside a body (left bytes to go). Both 0: at a message boundary. */
struct tx_track {
	uint8_t hdr[PB_WIRE_HDR_LEN];
	uint8_t have;
	uint32_t left;
};

struct resolve_job;

struct pb_link {
	struct pb_loop *loop;
	struct pb_link_ops ops;
	void *arg;
	uint32_t node_id;
	uint64_t epoch;
	uint8_t *psk;
	size_t psk_len;
	const uint8_t *key;  /* this connection's key: psk or ops.peer_key's */
	size_t key_len;
	uint32_t hb_ms, dead_ms, dead_eff, hs_ms, bo_min, bo_max;
	size_t rx_max;
	unsigned accept_roles;
	/* dialer target: tg[cur], copied into host..litlen */
	char *host;
	uint16_t port;
	bool literal;
	struct sockaddr_storage lit;
	socklen_t litlen;
	struct link_target {
		char *host;
		uint16_t port;
		bool literal;
		struct sockaddr_storage lit;
		socklen_t litlen;
	} tg[PB_LINK_MAX_ADDRS];
	unsigned ntg, cur;
	int up_tg;           /* target of the last UP connection, -1 none */
	struct resolve_job *job;
	/* connection */
	int fd;
	uint64_t conn_gen;
	enum link_hs_step hs;
	uint16_t hello_flags;
	bool want_out, auth_counted, named, quiet_end;
	bool rx_paused;      /* receiver back-pressure: not reading, not dispatching */
	pb_timer_id t_conn, t_hs, t_hb;
	unsigned fails;
	uint64_t up_mono, last_rx;
	uint8_t nonce[PB_WIRE_NONCE_LEN];
	struct pb_wire_hello peer;
	/* re-entrancy */
	unsigned depth;
	bool closing, free_pending, down_pending, down_was_up, flush_pending;
	/* buffers */
	uint8_t *rx;
	size_t rx_len, rx_cap;
	uint8_t *cq;
	size_t clen, coff, ccap;
	struct tx_track track;
	uint64_t rng;
	/* TLS (peer_link_tls.c); tls_ctx NULL: plain TCP */
	SSL_CTX *tls_ctx;    /* a reference of the link's own */
	SSL *ssl;            /* this connection's session */
	bool tls_up;         /* handshake done: HELLO and the rest may flow */
	bool tls_peeked;     /* the peer's first bytes were checked for plain "PB" */
	bool tls_dead;       /* libssl failed: no more calls on ssl */
	bool tls_rd_want_out;/* SSL_read needs the socket writable */
	bool tls_wr_want_in; /* SSL_write needs the socket readable */
	int tls_kind;        /* what tls_err is: closed, auth or protocol */
	uint32_t tls_node;   /* node id of the peer's verified certificate */
	uint8_t *tls_out;    /* plaintext staged for SSL_write */
	size_t tls_out_len, tls_out_off;
	char tls_err[200];   /* a read failure held back behind the bytes before it */
	struct pb_link_stats st;
};

static inline void
link_set_str(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src != NULL ? src : "");
}

static inline bool
link_track_at_boundary(const struct tx_track *t)
{
	return t->have == 0 && t->left == 0;
}

/* peer_link.c */
void link_enter(struct pb_link *l);
/* Runs deferred work when the outermost entry ends. false: l was freed. */
bool link_leave(struct pb_link *l);
/*
 * Ends the current connection (or attempt): best-effort ERROR(code) when
 * code != 0 and the stream is at a message boundary, close, stop timers,
 * schedule the reconnect or go CLOSED, and leave on_down pending.
 */
void link_conn_end(struct pb_link *l, uint16_t code, const char *fmt, ...) PB_PRINTF(3, 4);
/* A refusal by us during the handshake or a decoding error: counts a
 * protocol error and ends the connection with ERROR(code). */
void link_proto_fail(struct pb_link *l, uint16_t code, const char *fmt, ...) PB_PRINTF(3, 4);
/* Connected: resets the per-connection state and queues HELLO. */
void link_hs_start(struct pb_link *l);
/* One decoded message: a handshake step, a heartbeat, or ops.on_message. */
void link_handle_msg(struct pb_link *l, struct pb_wire_msg *msg);

/* peer_link_rx.c */
void link_on_fd(struct pb_loop *loop, int fd, uint32_t events, void *arg);

/* peer_link_io.c */
void link_fmt_addr(const struct sockaddr *sa, char *buf, size_t len);
int link_parse_literal(const char *s, uint16_t port, struct sockaddr_storage *ss,
    socklen_t *len);
void link_set_events(struct pb_link *l, bool out);
/* Encodes msg at the end of the control queue (force: ignore the limit). */
int link_cq_put(struct pb_link *l, const struct pb_wire_msg *msg, bool force);
void link_tx_flush(struct pb_link *l);
void link_connect(struct pb_link *l, const struct sockaddr *sa, socklen_t salen);
void link_resolve_start(struct pb_link *l);
void link_job_cancel(struct pb_link *l);

/* peer_link_tls.c; every function that can end the connection says so.
 * Creates this connection's session on l->fd. 0, or -1: ended. */
int link_tls_start(struct pb_link *l);
/* Drives the handshake: 1 done just now (l->tls_node set), 0 in
 * progress (events set), -1 failed (ended, logged, counted). */
int link_tls_handshake(struct pb_link *l);
/* Like read(): > 0 bytes, 0 none now, -1 ended (end of file included).
 * *drained: libssl wants more bytes from the socket. */
ssize_t link_tls_read(struct pb_link *l, uint8_t *buf, size_t len, bool *drained);
/* Like sendmsg(): bytes taken (staged or written), -1 with errno EAGAIN
 * (l->tls_wr_want_in: waiting for readable), else ended. */
ssize_t link_tls_writev(struct pb_link *l, const struct iovec *iov, int n);
/* Writes the staged bytes: 0, or -1 as link_tls_writev. */
int link_tls_flush(struct pb_link *l);
/* libssl holds bytes, or a failure, that the socket will not signal. */
bool link_tls_pending(const struct pb_link *l);
/* For link_conn_end: best effort, never blocking, staged bytes, then last
 * (ERROR), then close_notify; frees the session. No-op without one. */
void link_tls_close(struct pb_link *l, const uint8_t *last, size_t len);
/* For link_free: the session, the context reference, the buffer. */
void link_tls_release(struct pb_link *l);

#endif
