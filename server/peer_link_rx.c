/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "peer_link_int.h"

/*
 * Receive side of the node-to-node link: readiness events of the
 * connection's socket (the TLS handshake first, when there is TLS),
 * reading from the socket or through libssl, decoding and dispatching
 * messages (peer_link.c handles each), and the receiver's back-pressure.
 */

/* Decodes and handles every complete message in the rx buffer. */
static void
rx_dispatch(struct pb_link *l)
{
	uint64_t gen = l->conn_gen;
	size_t off = 0;

	while (off < l->rx_len) {
		struct pb_wire_msg msg;
		size_t used = 0;
		char why[160]; /* per message: not zeroed, only read on an error */

		why[0] = '\0';
		enum pb_wire_status st = pb_wire_decode(l->rx + off, l->rx_len - off, &msg, &used,
		    why, sizeof(why));
		if (st == PB_WIRE_NEED_MORE)
			break;
		if (st == PB_WIRE_ERROR) {
			link_proto_fail(l, msg.errcode, "%s", why);
			return;
		}
		off += used;
		if (st == PB_WIRE_OK) {
			link_handle_msg(l, &msg);
		} else if (l->st.state == PB_LINK_HANDSHAKE) {
			/* Spec 6.1: nothing but the handshake before it is done. */
			link_proto_fail(l, PB_WIRE_E_UNEXPECTED, "optional message type %u during the"
			    " handshake", (unsigned)msg.type);
			return;
		}
		if (l->conn_gen != gen || l->closing)
			return;
		if (l->rx_paused)
			break; /* the rest waits in the buffer until resumed */
	}
	if (off > 0) {
		memmove(l->rx, l->rx + off, l->rx_len - off);
		l->rx_len -= off;
	}
}

static void
rx_read(struct pb_link *l)
{
	uint64_t gen = l->conn_gen;
	size_t budget = LINK_READ_BUDGET;

	if (l->rx == NULL) {
		l->rx_cap = PB_LINK_MIN_RX_BUFFER;
		if ((l->rx = malloc(l->rx_cap)) == NULL) {
			link_conn_end(l, PB_WIRE_E_INTERNAL, "out of memory");
			return;
		}
	}
	/* Past the budget only for what libssl holds: the socket will not
	 * wake us for it. */
	while ((budget > 0 || link_tls_pending(l)) && !l->rx_paused) {
		size_t room = l->rx_cap - l->rx_len;
		bool drained;
		ssize_t r;
		if (room == 0)
			return; /* a paused dispatch left a full buffer */
		if (l->ssl != NULL) {
			if ((r = link_tls_read(l, l->rx + l->rx_len, room, &drained)) <= 0)
				return; /* nothing now, or ended (by link_tls_read) */
		} else {
			r = read(l->fd, l->rx + l->rx_len, room);
			if (r == 0) {
				link_conn_end(l, 0, "connection closed by peer");
				return;
			}
			if (r < 0) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN && errno != EWOULDBLOCK)
					link_conn_end(l, 0, "read: %s", strerror(errno));
				return;
			}
			drained = (size_t)r < room; /* the next read would say EAGAIN */
		}
		l->rx_len += (size_t)r;
		l->st.bytes_in += (uint64_t)r;
		l->last_rx = pb_loop_now(l->loop);
		budget -= (size_t)r < budget ? (size_t)r : budget;
		rx_dispatch(l);
		if (l->conn_gen != gen || l->closing)
			return;
		if (drained)
			return;
		/* A full read means a fast peer: read bigger chunks. */
		if (l->rx_cap < l->rx_max) {
			size_t cap = l->rx_cap * 2 < l->rx_max ? l->rx_cap * 2 : l->rx_max;
			uint8_t *p = realloc(l->rx, cap);
			if (p != NULL) {
				l->rx = p;
				l->rx_cap = cap;
			}
		}
	}
}

void
pb_link_pause_rx(struct pb_link *l, bool paused)
{
	if (l == NULL || l->rx_paused == paused)
		return;
	l->rx_paused = paused;
	if (l->fd >= 0 && l->st.state != PB_LINK_CONNECTING &&
	    pb_loop_mod_fd(l->loop, l->fd, (paused ? 0 : EPOLLIN) | (l->want_out ? EPOLLOUT : 0)) < 0)
		log_warn("link", "peer %s: epoll_ctl", l->st.name);
	if (!paused && (l->rx_len > 0 || link_tls_pending(l)) && !l->closing) {
		/* Messages that arrived while paused are handled now; the socket
		 * is level-triggered, so unread bytes wake us again, but bytes
		 * libssl already holds do not. */
		uint64_t gen = l->conn_gen;
		link_enter(l);
		if (l->rx_len > 0)
			rx_dispatch(l);
		if (l->conn_gen == gen && !l->closing && link_tls_pending(l))
			rx_read(l);
		link_leave(l);
	}
}

void
link_on_fd(struct pb_loop *loop, int fd, uint32_t events, void *arg)
{
	struct pb_link *l = arg;
	uint64_t gen = l->conn_gen;

	link_enter(l);
	if (l->st.state == PB_LINK_CONNECTING) {
		int e = 0;
		socklen_t elen = sizeof(e);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
			e = errno;
		if (e != 0) {
			link_conn_end(l, 0, "connect: %s", strerror(e));
		} else {
			link_set_events(l, false); /* EPOLLIN only */
			link_hs_start(l);
			if (l->ssl != NULL && l->conn_gen == gen)
				link_tls_handshake(l); /* ClientHello */
		}
	} else if (l->ssl != NULL && !l->tls_up) {
		if (link_tls_handshake(l) == 1 && l->conn_gen == gen) {
			link_tx_flush(l); /* HELLO */
			/* The peer's HELLO may have come with its last flight. */
			if (l->conn_gen == gen && !l->closing)
				rx_read(l);
		}
	} else {
		bool rd = events & (EPOLLIN | EPOLLERR | EPOLLHUP), wr = events & EPOLLOUT;
		if (l->ssl != NULL) {
			/* libssl may need the other direction to go on. */
			rd = rd || (wr && l->tls_rd_want_out);
			wr = wr || ((events & EPOLLIN) && l->tls_wr_want_in);
		}
		if (l->rx_paused && (events & (EPOLLERR | EPOLLHUP)))
			link_conn_end(l, 0, "connection lost while paused");
		else if (rd)
			rx_read(l);
		if (wr && l->conn_gen == gen && !l->closing)
			link_tx_flush(l);
	}
	link_leave(l);
}
