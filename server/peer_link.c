/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "auth.h"
#include "clock.h"
#include "log.h"
#include "peer_link_int.h"
#include "tls.h"

/*
 * Connection state machine of the node-to-node tunnel (see peer_link.h
 * for the protocol rules and peer_link_int.h for the re-entrancy scheme):
 * handshake, heartbeats, message handling, reconnects and lifetime.
 */

static int64_t on_conn_timer(struct pb_loop *loop, void *arg);
static int64_t on_hb_timer(struct pb_loop *loop, void *arg);

static void
link_free(struct pb_link *l)
{
	if (l->t_conn)
		pb_loop_del_timer(l->loop, l->t_conn);
	free(l->rx);
	free(l->cq);
	for (unsigned i = 0; i < l->ntg; i++)
		free(l->tg[i].host);    /* l->host is one of them */
	link_tls_release(l);
	if (l->psk != NULL) {
		pb_auth_cleanse(l->psk, l->psk_len);
		free(l->psk);
	}
	free(l);
}

void
link_enter(struct pb_link *l)
{
	l->depth++;
}

/* Runs deferred work when the outermost entry ends. false: l was freed. */
bool
link_leave(struct pb_link *l)
{
	if (l->depth > 1) {
		l->depth--;
		return true;
	}
	while (!l->free_pending) {
		if (l->down_pending) {
			char reason[sizeof(l->st.last_error)];
			l->down_pending = false;
			memcpy(reason, l->st.last_error, sizeof(reason));
			if (l->ops.on_down != NULL && !l->closing)
				l->ops.on_down(l, l->down_was_up, reason, l->arg);
		} else if (l->flush_pending) {
			/* With EPOLLOUT armed the socket is full: wait for it. */
			l->flush_pending = false;
			if (!l->want_out)
				link_tx_flush(l);
		} else {
			break;
		}
	}
	l->depth = 0;
	if (l->free_pending) {
		link_free(l);
		return false;
	}
	return true;
}

static uint64_t
rng_next(struct pb_link *l)
{
	/* xorshift64*: jitter only, no security needed. */
	l->rng ^= l->rng >> 12;
	l->rng ^= l->rng << 25;
	l->rng ^= l->rng >> 27;
	return l->rng * 2685821657736338717ull;
}

/* Makes address i of a dialer's list the one the next attempt uses. */
static void
link_select(struct pb_link *l, unsigned i)
{
	const struct link_target *t = &l->tg[i];

	l->cur = i;
	l->host = t->host;
	l->port = t->port;
	l->literal = t->literal;
	l->lit = t->lit;
	l->litlen = t->litlen;
	l->st.addr_index = i;
	snprintf(l->st.peer_addr, sizeof(l->st.peer_addr), "%s%s%s:%u",
	    strchr(t->host, ':') ? "[" : "", t->host, strchr(t->host, ':') ? "]" : "", t->port);
}

static uint64_t
backoff_ns(struct pb_link *l)
{
	uint64_t ms = l->bo_min;
	for (unsigned i = 0; i < l->fails && ms < l->bo_max; i++)
		ms *= 2;
	if (ms > l->bo_max)
		ms = l->bo_max;
	/* +-20% so that many nodes do not reconnect in lockstep. */
	uint64_t ns = ms * PB_NSEC_PER_MSEC;
	uint64_t span = ns * 2 / 5;
	return ns - ns / 5 + (span ? rng_next(l) % (span + 1) : 0);
}

void
link_conn_end(struct pb_link *l, uint16_t code, const char *fmt, ...)
{
	bool was_up = l->st.state == PB_LINK_UP;
	char reason[sizeof(l->st.last_error)];
	const uint8_t *last = NULL;
	size_t last_len = 0;
	va_list ap;

	if (l->st.state != PB_LINK_CONNECTING && l->st.state != PB_LINK_HANDSHAKE && !was_up)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	l->rx_paused = false; /* a new connection starts reading */
	/* Peer text ends up in logs: no control characters. */
	for (char *c = reason; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	if (l->fd >= 0 && code != 0 && l->st.state != PB_LINK_CONNECTING &&
	    link_track_at_boundary(&l->track)) {
		struct pb_wire_msg m = { .type = PB_WIRE_T_ERROR };
		m.error.code = code;
		m.error.text.ptr = reason;
		m.error.text.len = (uint16_t)strlen(reason);
		if (link_cq_put(l, &m, true) == 0) {
			if (l->tls_ctx != NULL) {
				last = l->cq + l->coff; /* through TLS, below */
				last_len = l->clen - l->coff;
			} else {
				ssize_t r = send(l->fd, l->cq + l->coff, l->clen - l->coff,
				    MSG_NOSIGNAL | MSG_DONTWAIT);
				(void)r;
			}
		}
	}
	link_tls_close(l, last, last_len);
	if (l->fd >= 0) {
		pb_loop_del_fd(l->loop, l->fd);
		close(l->fd);
		l->fd = -1;
	}
	link_job_cancel(l);
	if (l->t_hs)
		pb_loop_del_timer(l->loop, l->t_hs);
	if (l->t_hb)
		pb_loop_del_timer(l->loop, l->t_hb);
	l->t_hs = l->t_hb = 0;
	l->want_out = false;
	l->conn_gen++;
	l->clen = l->coff = 0;
	l->flush_pending = false;

	const char *who = l->st.name, *addr = l->st.peer_addr;
	if (l->closing || l->quiet_end)
		log_debug("link", "peer %s (%s): closed: %s", who, addr, reason);
	else if (was_up)
		log_warnx("link", "peer %s (%s): down: %s", who, addr, reason);
	else if (!l->st.dialer)
		/* Anyone who reaches the port can fail a handshake at will. */
		log_warnx_rl("link", "peer %s (%s): %s", who, addr, reason);
	else if (strcmp(reason, l->st.last_error) != 0)
		log_warnx("link", "peer %s (%s): %s", who, addr, reason);
	else
		log_debug("link", "peer %s (%s): %s (again)", who, addr, reason);
	link_set_str(l->st.last_error, sizeof(l->st.last_error), reason);
	l->st.connected_since_ns = 0;
	l->quiet_end = false;

	if (l->closing || !l->st.dialer) {
		l->st.state = PB_LINK_CLOSED;
	} else {
		if (was_up && pb_mono_ns() - l->up_mono >= l->bo_max * PB_NSEC_PER_MSEC)
			l->fails = 0;
		uint64_t delay;
		if (l->ntg > 1 && l->cur + 1 < l->ntg) {
			/* Next address of the tier: it is a different machine,
			 * so it need not wait for this one's backoff. */
			link_select(l, l->cur + 1);
			delay = l->bo_min * PB_NSEC_PER_MSEC;
		} else {
			if (l->ntg > 1)
				link_select(l, 0);
			delay = backoff_ns(l);
			if (l->fails < 64)
				l->fails++;
		}
		l->st.state = PB_LINK_DOWN;
		l->t_conn = pb_loop_add_timer(l->loop, delay, on_conn_timer, l);
	}
	if (!l->closing) {
		l->down_pending = true;
		l->down_was_up = was_up;
	}
}

void
link_proto_fail(struct pb_link *l, uint16_t code, const char *fmt, ...)
{
	char why[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	l->st.protocol_errors++;
	if (code == PB_WIRE_E_UNEXPECTED)
		l->st.unexpected++;
	link_conn_end(l, code, "protocol error: %s", why);
}

static int64_t
on_hs_timer(struct pb_loop *loop, void *arg)
{
	struct pb_link *l = arg;

	l->t_hs = 0;
	link_enter(l);
	link_conn_end(l, PB_WIRE_E_TIMEOUT, "%s timeout",
	    l->st.state == PB_LINK_CONNECTING ? "connect" : "handshake");
	link_leave(l);
	return PB_TIMER_STOP;
}

/* Connected: reset per-connection state and queue HELLO. */
void
link_hs_start(struct pb_link *l)
{
	struct pb_wire_msg m = { .type = PB_WIRE_T_HELLO };

	l->st.state = PB_LINK_HANDSHAKE;
	l->hs = HS_HELLO;
	l->rx_len = 0;
	l->clen = l->coff = 0;
	memset(&l->track, 0, sizeof(l->track));
	l->auth_counted = false;
	l->st.version = 0;
	l->last_rx = pb_loop_now(l->loop);
	/* HELLO waits in the control queue until TLS is up. */
	if (l->tls_ctx != NULL && link_tls_start(l) != 0)
		return;
	if (pb_auth_nonce(l->nonce) != 0) {
		link_conn_end(l, 0, "no random nonce (CSPRNG failure)");
		return;
	}
	m.hello.min_version = PB_WIRE_MIN_VERSION;
	m.hello.max_version = PB_WIRE_VERSION;
	if (l->st.dialer) {
		m.hello.flags = l->st.role == PB_LINK_SENDER ? PB_WIRE_HELLO_SEND :
		    PB_WIRE_HELLO_RECV;
	} else {
		if (l->accept_roles & PB_LINK_ROLE_BIT(PB_LINK_SENDER))
			m.hello.flags |= PB_WIRE_HELLO_SEND;
		if (l->accept_roles & PB_LINK_ROLE_BIT(PB_LINK_RECEIVER))
			m.hello.flags |= PB_WIRE_HELLO_RECV;
	}
	l->hello_flags = m.hello.flags;
	m.hello.node_id = l->node_id;
	m.hello.epoch = l->epoch;
	memcpy(m.hello.nonce, l->nonce, sizeof(m.hello.nonce));
	if (link_cq_put(l, &m, true) != 0)
		link_conn_end(l, 0, "cannot queue HELLO: %s", strerror(errno));
}

static void
on_hello(struct pb_link *l, const struct pb_wire_hello *h)
{
	struct pb_wire_msg m = { .type = PB_WIRE_T_AUTH };
	unsigned lo = h->min_version > PB_WIRE_MIN_VERSION ? h->min_version : PB_WIRE_MIN_VERSION;
	unsigned hi = h->max_version < PB_WIRE_VERSION ? h->max_version : PB_WIRE_VERSION;

	l->peer = *h;
	l->st.peer_node = h->node_id;
	l->st.peer_epoch = h->epoch;
	if (!l->named)
		snprintf(l->st.name, sizeof(l->st.name), "node %u", h->node_id);
	if (lo > hi) {
		link_proto_fail(l, PB_WIRE_E_VERSION, "no common version (ours %u..%u, peer %u..%u)",
		    PB_WIRE_MIN_VERSION, PB_WIRE_VERSION, h->min_version, h->max_version);
		return;
	}
	l->st.version = (uint8_t)hi;
	/* TLS proved which node is there: the claim must be that node. */
	if (l->ssl != NULL && h->node_id != l->tls_node) {
		l->st.auth_failures++;
		l->auth_counted = true;
		link_conn_end(l, PB_WIRE_E_NODE_ID, "TLS: certificate names node %u, HELLO claims"
		    " node %u", l->tls_node, h->node_id);
		return;
	}
	if (h->node_id == l->node_id) {
		link_proto_fail(l, PB_WIRE_E_NODE_ID, "peer uses our node id %u", h->node_id);
		return;
	}
	unsigned f = h->flags & (PB_WIRE_HELLO_SEND | PB_WIRE_HELLO_RECV);
	bool ok;
	if (l->st.dialer) {
		ok = f & (l->st.role == PB_LINK_SENDER ? PB_WIRE_HELLO_RECV : PB_WIRE_HELLO_SEND);
	} else {
		l->st.role = f == PB_WIRE_HELLO_SEND ? PB_LINK_RECEIVER : PB_LINK_SENDER;
		ok = (f == PB_WIRE_HELLO_SEND || f == PB_WIRE_HELLO_RECV) &&
		    (l->accept_roles & PB_LINK_ROLE_BIT(l->st.role));
	}
	if (!ok) {
		link_proto_fail(l, PB_WIRE_E_UNEXPECTED, "role mismatch (our flags 0x%x, peer's 0x%x)",
		    l->hello_flags, h->flags);
		return;
	}
	/* Our own challenge sent back: the peer wants us to MAC for it. */
	if (CRYPTO_memcmp(h->nonce, l->nonce, sizeof(l->nonce)) == 0) {
		link_proto_fail(l, PB_WIRE_E_AUTH, "peer reflected our HELLO nonce");
		return;
	}
	l->key = l->psk;
	l->key_len = l->psk_len;
	if (l->ops.peer_key != NULL) {
		uint64_t gen = l->conn_gen;
		uint16_t code = l->ops.peer_key(l, h, &l->key, &l->key_len, l->arg);
		if (l->conn_gen != gen)
			return;
		if (code != 0) {
			l->quiet_end = true;
			link_proto_fail(l, code, "node %u refused (%s)", h->node_id,
			    pb_wire_errcode_name(code));
			return;
		}
	}
	if (l->key_len > 0 && pb_auth_mac(l->key, l->key_len, l->node_id, l->nonce,
	    h->node_id, h->nonce, m.auth.mac) != 0) {
		link_conn_end(l, PB_WIRE_E_INTERNAL, "cannot compute the AUTH MAC");
		return;
	}
	if (link_cq_put(l, &m, true) != 0) {
		link_conn_end(l, 0, "cannot queue AUTH: %s", strerror(errno));
		return;
	}
	l->hs = HS_AUTH;
}

static void
go_up(struct pb_link *l)
{
	uint64_t gen = l->conn_gen;

	if (l->t_hs)
		pb_loop_del_timer(l->loop, l->t_hs);
	l->t_hs = 0;
	l->st.state = PB_LINK_UP;
	l->st.connected_since_ns = pb_real_ns();
	l->st.connects++;
	l->up_mono = pb_mono_ns();
	if (l->st.dialer) {
		if (l->up_tg >= 0 && (unsigned)l->up_tg != l->cur) {
			l->st.failovers++;
			log_warnx("link", "peer %s: failed over to %s (address %u of %u)",
			    l->st.name, l->st.peer_addr, l->cur + 1, l->ntg);
		}
		l->up_tg = (int)l->cur;
	}
	l->t_hb = pb_loop_add_timer(l->loop, l->hb_ms * PB_NSEC_PER_MSEC, on_hb_timer, l);
	log_info("link", "peer %s (%s): up, node %u, %s, protocol v%u%s%s", l->st.name,
	    l->st.peer_addr, l->peer.node_id, pb_link_role_name(l->st.role), l->st.version,
	    l->ssl != NULL ? ", TLS" : "", l->key_len > 0 ? ", authenticated" : "");
	if (l->ops.on_up != NULL)
		l->ops.on_up(l, &l->peer, l->arg);
	if (l->conn_gen == gen && l->st.role == PB_LINK_SENDER)
		l->flush_pending = true;
}

static void
on_auth(struct pb_link *l, const struct pb_wire_auth *a)
{
	uint64_t gen = l->conn_gen;

	if (l->key_len > 0 && !pb_auth_verify(l->key, l->key_len, l->peer.node_id,
	    l->peer.nonce, l->node_id, l->nonce, a->mac)) {
		l->st.auth_failures++;
		l->auth_counted = true;
		/* A warning even when repeated (it may be an attack), at most
		 * once a second with the count of the others. */
		log_warnx_rl("link", "peer %s (%s): authentication failed", l->st.name,
		    l->st.peer_addr);
		l->quiet_end = true;
		link_conn_end(l, PB_WIRE_E_AUTH, "authentication failed");
		return;
	}
	if (l->ops.check_peer != NULL) {
		uint16_t code = l->ops.check_peer(l, &l->peer, l->arg);
		if (l->conn_gen != gen)
			return;
		if (code != 0) {
			link_proto_fail(l, code, "node %u refused (%s)", l->peer.node_id,
			    pb_wire_errcode_name(code));
			return;
		}
	}
	if (l->st.role == PB_LINK_SENDER) {
		l->hs = HS_WELCOME;
		return;
	}
	struct pb_wire_msg m = { .type = PB_WIRE_T_WELCOME };
	m.welcome.heartbeat_ms = l->hb_ms;
	if (l->ops.resume_seq != NULL) {
		m.welcome.resume_seq = l->ops.resume_seq(l, &l->peer, l->arg);
		if (l->conn_gen != gen)
			return;
	}
	if (link_cq_put(l, &m, true) != 0) {
		link_conn_end(l, 0, "cannot queue WELCOME: %s", strerror(errno));
		return;
	}
	go_up(l);
}

static void
on_welcome(struct pb_link *l, const struct pb_wire_welcome *w)
{
	uint64_t gen = l->conn_gen;

	uint64_t peer_dead = (uint64_t)w->heartbeat_ms * 3;

	if (peer_dead > l->dead_ms)
		l->dead_eff = peer_dead > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)peer_dead;
	if (l->ops.on_welcome != NULL) {
		l->ops.on_welcome(l, w, l->arg);
		if (l->conn_gen != gen)
			return;
	}
	go_up(l);
}

static int64_t
on_hb_timer(struct pb_loop *loop, void *arg)
{
	struct pb_link *l = arg;
	uint64_t now = pb_mono_ns();
	uint64_t gen = l->conn_gen;

	link_enter(l);
	/* While we hold back reading, silence is ours, not the peer's. */
	if (l->rx_paused)
		l->last_rx = now;
	if (now - l->last_rx > (uint64_t)l->dead_eff * PB_NSEC_PER_MSEC) {
		l->t_hb = 0;
		link_conn_end(l, PB_WIRE_E_TIMEOUT,
		    "heartbeat timeout (nothing received for %u ms)", l->dead_eff);
	} else {
		struct pb_wire_msg m = { .type = PB_WIRE_T_HEARTBEAT };
		m.heartbeat.ts_ns = now;
		link_cq_put(l, &m, true);
	}
	bool alive = link_leave(l);
	if (!alive || l->conn_gen != gen)
		return PB_TIMER_STOP;
	return (int64_t)(l->hb_ms * PB_NSEC_PER_MSEC);
}

static void
on_heartbeat(struct pb_link *l, const struct pb_wire_heartbeat *h)
{
	uint64_t now = pb_mono_ns();

	if (h->echo_ns != 0) {
		if (h->echo_ns <= now)
			l->st.rtt_ns = now - h->echo_ns;
		return;
	}
	struct pb_wire_msg m = { .type = PB_WIRE_T_HEARTBEAT };
	m.heartbeat.ts_ns = now;
	m.heartbeat.echo_ns = h->ts_ns;
	link_cq_put(l, &m, true);
}

void
link_handle_msg(struct pb_link *l, struct pb_wire_msg *msg)
{
	l->st.msgs_in++;
	if (msg->type == PB_WIRE_T_ERROR) {
		if (msg->error.code == PB_WIRE_E_AUTH && !l->auth_counted)
			l->st.auth_failures++;
		link_conn_end(l, 0, "peer sent ERROR %s: %.*s",
		    pb_wire_errcode_name(msg->error.code), (int)msg->error.text.len,
		    msg->error.text.ptr);
		return;
	}
	if (l->st.state == PB_LINK_HANDSHAKE) {
		static const uint8_t want[] = {
			[HS_HELLO] = PB_WIRE_T_HELLO, [HS_AUTH] = PB_WIRE_T_AUTH,
			[HS_WELCOME] = PB_WIRE_T_WELCOME,
		};
		if (msg->type != want[l->hs]) {
			link_proto_fail(l, PB_WIRE_E_UNEXPECTED, "%s during the handshake, expected %s",
			    pb_wire_type_name(msg->type), pb_wire_type_name(want[l->hs]));
			return;
		}
		if (l->hs == HS_HELLO)
			on_hello(l, &msg->hello);
		else if (l->hs == HS_AUTH)
			on_auth(l, &msg->auth);
		else
			on_welcome(l, &msg->welcome);
		return;
	}
	bool ok;
	switch (msg->type) {
	case PB_WIRE_T_HEARTBEAT:
		on_heartbeat(l, &msg->heartbeat);
		return;
	case PB_WIRE_T_RECORD:
	case PB_WIRE_T_DLQ_NOTICE: /* sent by the record sender (spec 6.5) */
		ok = l->st.role == PB_LINK_RECEIVER;
		break;
	case PB_WIRE_T_ACK:
		ok = l->st.role == PB_LINK_SENDER;
		break;
	case PB_WIRE_T_NODE:
	case PB_WIRE_T_SOURCE:
		ok = true;
		break;
	default:
		ok = false;
		break;
	}
	if (!ok) {
		link_proto_fail(l, PB_WIRE_E_UNEXPECTED, "%s not allowed to a %s",
		    pb_wire_type_name(msg->type),
		    pb_link_role_name(l->st.role));
		return;
	}
	if (l->ops.on_message != NULL)
		l->ops.on_message(l, msg, l->arg);
}

static int64_t
on_conn_timer(struct pb_loop *loop, void *arg)
{
	struct pb_link *l = arg;

	l->t_conn = 0;
	link_enter(l);
	if (l->st.state == PB_LINK_DOWN)
		l->st.reconnects++;
	l->st.state = PB_LINK_CONNECTING;
	l->dead_eff = l->dead_ms;
	l->t_hs = pb_loop_add_timer(loop, l->hs_ms * PB_NSEC_PER_MSEC, on_hs_timer, l);
	if (l->literal)
		link_connect(l, (const struct sockaddr *)&l->lit, l->litlen);
	else
		link_resolve_start(l);
	link_leave(l);
	return PB_TIMER_STOP;
}

static struct pb_link *
link_new(struct pb_loop *loop, const struct pb_link_cfg *cfg, const struct pb_link_ops *ops,
    void *arg, char *err, size_t errlen)
{
	struct pb_link *l;

	if (cfg->node_id == 0 || ops == NULL || cfg->psk_len > PB_AUTH_MAX_PSK ||
	    (cfg->psk_len > 0 && cfg->psk == NULL) ||
	    (ops->fill_iov != NULL) != (ops->sent != NULL || ops->sent_msgs != NULL) ||
	    (ops->sent != NULL && ops->sent_msgs != NULL)) {
		snprintf(err, errlen, "link: invalid node id, psk, or fill_iov without one of "
		    "sent, sent_msgs");
		return NULL;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		snprintf(err, errlen, "link: out of memory");
		return NULL;
	}
	l->loop = loop;
	l->ops = *ops;
	l->arg = arg;
	l->fd = -1;
	l->node_id = cfg->node_id;
	l->epoch = cfg->epoch;
	if (cfg->psk_len > 0) {
		if ((l->psk = malloc(cfg->psk_len)) == NULL) {
			free(l);
			snprintf(err, errlen, "link: out of memory");
			return NULL;
		}
		memcpy(l->psk, cfg->psk, cfg->psk_len);
		l->psk_len = cfg->psk_len;
	}
	l->hb_ms = cfg->heartbeat_ms ? cfg->heartbeat_ms : PB_LINK_DEF_HEARTBEAT_MS;
	l->dead_ms = cfg->dead_after_ms ? cfg->dead_after_ms : 3 * l->hb_ms;
	l->dead_eff = l->dead_ms;
	l->hs_ms = cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms : PB_LINK_DEF_HANDSHAKE_MS;
	l->bo_min = cfg->backoff_min_ms ? cfg->backoff_min_ms : PB_LINK_DEF_BACKOFF_MIN_MS;
	l->bo_max = cfg->backoff_max_ms ? cfg->backoff_max_ms : PB_LINK_DEF_BACKOFF_MAX_MS;
	if (l->bo_max < l->bo_min)
		l->bo_max = l->bo_min;
	l->rx_max = cfg->rx_buffer ? cfg->rx_buffer : PB_LINK_DEF_RX_BUFFER;
	if (l->rx_max < PB_LINK_MIN_RX_BUFFER)
		l->rx_max = PB_LINK_MIN_RX_BUFFER;
	l->accept_roles = (cfg->accept_roles & 3u) != 0 ? (cfg->accept_roles & 3u) : 3u;
	if (cfg->tls != NULL) {
		l->tls_ctx = pb_tls_ssl_ctx(cfg->tls);
		SSL_CTX_up_ref(l->tls_ctx);
		l->st.tls = true;
	}
	l->rng = pb_mono_ns() ^ (uint64_t)(uintptr_t)l ^ 0x9e3779b97f4a7c15ull;
	return l;
}

struct pb_link *
pb_link_dial(struct pb_loop *loop, const struct pb_link_cfg *cfg, enum pb_link_role role,
    const char *name, const char *address, uint16_t port, const struct pb_link_ops *ops,
    void *arg, char *err, size_t errlen)
{
	if (address == NULL || address[0] == '\0' || port == 0 ||
	    (role != PB_LINK_SENDER && role != PB_LINK_RECEIVER)) {
		snprintf(err, errlen, "link: address, port and role are required");
		return NULL;
	}
	if (strlen(address) >= LINK_HOST_MAX) {
		snprintf(err, errlen, "link: address too long");
		return NULL;
	}
	struct pb_link *l = link_new(loop, cfg, ops, arg, err, errlen);
	if (l == NULL)
		return NULL;
	l->st.dialer = true;
	l->st.role = role;
	l->st.state = PB_LINK_IDLE;
	l->up_tg = -1;
	link_set_str(l->st.name, sizeof(l->st.name), name != NULL ? name : address);
	if (pb_link_add_address(l, address, port, err, errlen) < 0) {
		link_free(l);
		return NULL;
	}
	l->t_conn = pb_loop_add_timer(loop, 0, on_conn_timer, l);
	if (l->t_conn == 0) {
		link_free(l);
		snprintf(err, errlen, "link: cannot add a timer");
		return NULL;
	}
	return l;
}

int
pb_link_add_address(struct pb_link *l, const char *address, uint16_t port, char *err,
    size_t errlen)
{
	struct link_target *t;

	if (!l->st.dialer || l->st.state != PB_LINK_IDLE || l->ntg >= PB_LINK_MAX_ADDRS) {
		snprintf(err, errlen, "link: addresses are added to an idle dialer, at most %u",
		    PB_LINK_MAX_ADDRS);
		return -1;
	}
	if (address == NULL || address[0] == '\0' || port == 0 ||
	    strlen(address) >= LINK_HOST_MAX) {
		snprintf(err, errlen, "link: a non-empty address (< %u bytes) and a port are"
		    " required", LINK_HOST_MAX);
		return -1;
	}
	t = &l->tg[l->ntg];
	if ((t->host = strdup(address)) == NULL) {
		snprintf(err, errlen, "link: out of memory");
		return -1;
	}
	t->port = port;
	t->literal = link_parse_literal(address, port, &t->lit, &t->litlen) == 0;
	if (l->ntg++ == 0)
		link_select(l, 0);
	return 0;
}

struct pb_link *
pb_link_accept(struct pb_loop *loop, const struct pb_link_cfg *cfg, int fd,
    const char *peer_addr, const struct pb_link_ops *ops, void *arg, char *err, size_t errlen)
{
	struct pb_link *l = link_new(loop, cfg, ops, arg, err, errlen);
	int one = 1, fl;

	if (l == NULL) {
		close(fd);
		return NULL;
	}
	l->fd = fd;
	link_set_str(l->st.name, sizeof(l->st.name), "incoming");
	l->st.state = PB_LINK_HANDSHAKE;
	link_set_str(l->st.peer_addr, sizeof(l->st.peer_addr), peer_addr);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    pb_loop_add_fd(loop, fd, EPOLLIN, link_on_fd, l) < 0) {
		snprintf(err, errlen, "link: %s", strerror(errno));
		close(fd);
		l->fd = -1;
		link_free(l);
		return NULL;
	}
	l->t_hs = pb_loop_add_timer(loop, l->hs_ms * PB_NSEC_PER_MSEC, on_hs_timer, l);
	/* HELLO is written on the first EPOLLOUT: no callback from in here. */
	link_hs_start(l);
	link_set_events(l, true);
	if (l->st.state != PB_LINK_HANDSHAKE) {
		snprintf(err, errlen, "link: %s", l->st.last_error);
		link_free(l);
		return NULL;
	}
	return l;
}

void
pb_link_close(struct pb_link *l, const char *reason)
{
	if (l == NULL || l->closing)
		return;
	l->closing = true;
	if (l->t_conn)
		pb_loop_del_timer(l->loop, l->t_conn);
	l->t_conn = 0;
	link_conn_end(l, PB_WIRE_E_SHUTDOWN, "%s", reason != NULL ? reason : "closed");
	l->st.state = PB_LINK_CLOSED;
	if (l->depth > 0)
		l->free_pending = true;
	else
		link_free(l);
}

void
pb_link_drop(struct pb_link *l, uint16_t errcode, const char *reason)
{
	if (l == NULL || l->closing || l->fd < 0)
		return;
	if (errcode != PB_WIRE_E_SHUTDOWN)
		l->st.protocol_errors++;
	link_enter(l);
	link_conn_end(l, errcode, "%s", reason != NULL ? reason : "dropped");
	link_leave(l);
}
