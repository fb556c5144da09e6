/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "peer_link_int.h"

/*
 * I/O side of the node-to-node link: control queue and send path (control
 * messages only at data message boundaries), connecting and name
 * resolution, accessors, and the listener.
 */

#define LINK_MAX_ADDRS 8

/* A getaddrinfo() run in a detached thread; the link and the thread each
 * hold a reference, so either may finish first. */
struct resolve_job {
	atomic_int refs;
	int efd;
	int gai_err;
	int naddr;
	struct sockaddr_storage addr[LINK_MAX_ADDRS];
	socklen_t alen[LINK_MAX_ADDRS];
	char host[LINK_HOST_MAX];
	char port[8];
};

struct pb_listener {
	struct pb_loop *loop;
	int fd;
	uint16_t port;
	pb_accept_fn *cb;
	void *arg;
	pb_timer_id t_pause;
	unsigned depth;
	bool dead;
};

void
link_fmt_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		port = ntohs(s4->sin_port);
		snprintf(buf, len, "%s:%u", host, port);
		return;
	}
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
	port = ntohs(s6->sin6_port);
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, port);
	} else {
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, port);
	}
}

/* IP literal ("192.0.2.1", "2001:db8::1", "[2001:db8::1]") to sockaddr. */
int
link_parse_literal(const char *s, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	char tmp[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(s);

	memset(ss, 0, sizeof(*ss));
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']' && n - 2 < sizeof(tmp)) {
		memcpy(tmp, s + 1, n - 2);
		tmp[n - 2] = '\0';
		s = tmp;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, s, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		*len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		*len = sizeof(*s6);
		return 0;
	}
	return -1;
}

void
link_set_events(struct pb_link *l, bool out)
{
	if (l->fd < 0 || l->want_out == out)
		return;
	if (pb_loop_mod_fd(l->loop, l->fd, (l->rx_paused ? 0 : EPOLLIN) | (out ? EPOLLOUT : 0)) < 0)
		log_warn("link", "peer %s: epoll_ctl", l->st.name);
	else
		l->want_out = out;
}

static int
cq_reserve(struct pb_link *l, size_t n, bool force)
{
	if (l->clen + n <= l->ccap)
		return 0;
	/* Drop written bytes. Safe: while control bytes are partly written
	 * the data stream is at a boundary, so link_tx_flush puts them first. */
	if (l->coff > 0) {
		memmove(l->cq, l->cq + l->coff, l->clen - l->coff);
		l->clen -= l->coff;
		l->coff = 0;
		if (l->clen + n <= l->ccap)
			return 0;
	}
	if (!force && l->clen + n > PB_LINK_CTRL_MAX) {
		errno = ENOBUFS;
		return -1;
	}
	size_t cap = l->ccap ? l->ccap : LINK_CTRL_INIT;
	while (cap < l->clen + n)
		cap *= 2;
	uint8_t *p = realloc(l->cq, cap);
	if (p == NULL)
		return -1;
	l->cq = p;
	l->ccap = cap;
	return 0;
}

/* Encodes msg at the end of the control queue. */
int
link_cq_put(struct pb_link *l, const struct pb_wire_msg *msg, bool force)
{
	size_t n = pb_wire_encode(NULL, 0, msg);

	if (n == 0) {
		errno = EINVAL;
		return -1;
	}
	if (cq_reserve(l, n, force) != 0)
		return -1;
	pb_wire_encode(l->cq + l->clen, l->ccap - l->clen, msg);
	l->clen += n;
	l->st.msgs_out++;
	if (l->depth > 0)
		l->flush_pending = true;
	return 0;
}

static void
job_unref(struct resolve_job *j)
{
	if (atomic_fetch_sub(&j->refs, 1) == 1) {
		close(j->efd);
		free(j);
	}
}

void
link_job_cancel(struct pb_link *l)
{
	if (l->job == NULL)
		return;
	pb_loop_del_fd(l->loop, l->job->efd);
	job_unref(l->job);
	l->job = NULL;
}

/*
 * Walks up to limit data bytes from *t. With stop, returns the offset of
 * the first message boundary (0 when already at one), SIZE_MAX if none
 * in the bytes; else the bytes walked (counting completed headers as
 * messages in *nmsg). *bad is set on a header without the magic.
 */
static size_t
track_walk(struct tx_track *t, const struct iovec *iov, int niov, size_t limit, bool stop,
    uint64_t *nmsg, bool *bad)
{
	size_t pos = 0;

	for (int i = 0; i < niov && pos < limit; i++) {
		const uint8_t *b = iov[i].iov_base;
		size_t o = 0, len = iov[i].iov_len;
		while (o < len && pos < limit) {
			if (stop && link_track_at_boundary(t))
				return pos;
			if (t->left > 0) {
				size_t k = t->left;
				if (k > len - o)
					k = len - o;
				if (k > limit - pos)
					k = limit - pos;
				t->left -= (uint32_t)k;
				o += k;
				pos += k;
				continue;
			}
			if (t->have == 0 && len - o >= PB_WIRE_HDR_LEN && limit - pos >= PB_WIRE_HDR_LEN &&
			    !stop) {
				/* Whole header in this iovec: no byte-by-byte copy. */
				memcpy(t->hdr, b + o, PB_WIRE_HDR_LEN);
				t->have = PB_WIRE_HDR_LEN;
				o += PB_WIRE_HDR_LEN;
				pos += PB_WIRE_HDR_LEN;
			} else {
				t->hdr[t->have++] = b[o++];
				pos++;
				if (t->have < PB_WIRE_HDR_LEN)
					continue;
			}
			if (t->hdr[0] != (PB_WIRE_MAGIC >> 8) ||
			    t->hdr[1] != (PB_WIRE_MAGIC & 0xff))
				*bad = true;
			t->left = (uint32_t)t->hdr[4] << 24 | (uint32_t)t->hdr[5] << 16 |
			    (uint32_t)t->hdr[6] << 8 | t->hdr[7];
			t->have = 0;
			if (nmsg != NULL)
				(*nmsg)++;
		}
	}
	if (stop)
		return link_track_at_boundary(t) ? pos : SIZE_MAX;
	return pos;
}

/* Appends data[from, to) (byte offsets) to out. */
static int
iov_slice(const struct iovec *data, int nd, size_t from, size_t to, struct iovec *out, int n)
{
	size_t pos = 0;

	for (int i = 0; i < nd && pos < to; i++) {
		size_t a = pos, b = pos + data[i].iov_len;
		pos = b;
		if (b <= from)
			continue;
		size_t s = a < from ? from : a, e = b < to ? b : to;
		if (e > s) {
			out[n].iov_base = (uint8_t *)data[i].iov_base + (s - a);
			out[n].iov_len = e - s;
			n++;
		}
	}
	return n;
}

void
link_tx_flush(struct pb_link *l)
{
	uint64_t gen = l->conn_gen;
	size_t budget = LINK_WRITE_BUDGET;

	if (l->depth == 0) {
		link_enter(l);
		link_tx_flush(l);
		link_leave(l);
		return;
	}
	if (l->ssl != NULL && !l->tls_up)
		return; /* the TLS handshake flushes when it is done */
	while (l->fd >= 0 && (l->st.state == PB_LINK_HANDSHAKE || l->st.state == PB_LINK_UP)) {
		struct iovec data[LINK_IOV], iov[LINK_IOV + 2];
		int nd = 0, n = 0;
		size_t dtotal = 0, split = SIZE_MAX, crest = l->clen - l->coff;
		bool bad = false;

		if (budget == 0) {
			link_set_events(l, true); /* more may be pending: continue next wakeup */
			return;
		}
		/* Staged TLS bytes go before anything new (and before idling). */
		if (l->ssl != NULL && l->tls_out_len > 0 && link_tls_flush(l) < 0) {
			if (errno == EAGAIN)
				link_set_events(l, !l->tls_wr_want_in);
			return;
		}
		if (l->st.state == PB_LINK_UP && l->st.role == PB_LINK_SENDER &&
		    l->ops.fill_iov != NULL) {
			nd = l->ops.fill_iov(l, data, LINK_IOV, l->arg);
			if (l->conn_gen != gen || l->closing)
				return;
			nd = nd < 0 ? 0 : nd > LINK_IOV ? LINK_IOV : nd;
			for (int i = 0; i < nd; i++)
				dtotal += data[i].iov_len;
		}
		if (crest > 0) {
			struct tx_track t = l->track;
			split = l->coff > 0 ? 0 :
			    track_walk(&t, data, nd, SIZE_MAX, true, NULL, &bad);
		}
		/* Control bytes go between two data messages, never inside one. */
		if (split != SIZE_MAX) {
			n = iov_slice(data, nd, 0, split, iov, 0);
			iov[n].iov_base = l->cq + l->coff;
			iov[n].iov_len = crest;
			n++;
			n = iov_slice(data, nd, split, dtotal, iov, n);
		} else {
			crest = 0;
			n = iov_slice(data, nd, 0, dtotal, iov, 0);
		}
		size_t total = dtotal + crest;
		if (total == 0) {
			link_set_events(l, false);
			return;
		}
		ssize_t w;
		if (l->ssl != NULL) {
			w = link_tls_writev(l, iov, n);
		} else {
			struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
			w = sendmsg(l->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		}
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				link_set_events(l, l->ssl == NULL || !l->tls_wr_want_in);
			else if (l->conn_gen == gen) /* TLS failures end it themselves */
				link_conn_end(l, 0, "write: %s", strerror(errno));
			return;
		}
		/* Split the written bytes into data before the ctrl block, ctrl, after. */
		size_t uw = (size_t)w, dw, cw = 0;
		if (split == SIZE_MAX || uw <= split) {
			dw = uw;
		} else {
			cw = uw - split < crest ? uw - split : crest;
			dw = uw - cw;
		}
		l->st.bytes_out += uw;
		budget -= uw < budget ? uw : budget;
		if (cw > 0) {
			l->coff += cw;
			if (l->coff == l->clen)
				l->coff = l->clen = 0;
		}
		if (dw > 0 && l->ops.sent_msgs != NULL) {
			l->track.have = 0;
			l->track.left = (uint32_t)l->ops.sent_msgs(l, dw, &l->st.msgs_out, l->arg);
			if (l->conn_gen != gen || l->closing)
				return;
		} else if (dw > 0) {
			track_walk(&l->track, data, nd, dw, false, &l->st.msgs_out, &bad);
			if (bad) {
				log_warnx("link", "peer %s: data pump wrote a non-message",
				    l->st.name);
				link_conn_end(l, PB_WIRE_E_INTERNAL,
				    "internal error: bad outgoing data");
				return;
			}
			if (l->ops.sent != NULL) {
				l->ops.sent(l, dw, l->arg);
				if (l->conn_gen != gen || l->closing)
					return;
			}
		}
		if (uw < total) {
			link_set_events(l, l->ssl == NULL || !l->tls_wr_want_in);
			return;
		}
	}
}

void
link_connect(struct pb_link *l, const struct sockaddr *sa, socklen_t salen)
{
	int one = 1;

	link_fmt_addr(sa, l->st.peer_addr, sizeof(l->st.peer_addr));
	l->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0) {
		link_conn_end(l, 0, "socket: %s", strerror(errno));
		return;
	}
	setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(l->fd, sa, salen) < 0 && errno != EINPROGRESS) {
		link_conn_end(l, 0, "connect: %s", strerror(errno));
		return;
	}
	/* Completion (or refusal) is reported as writability. */
	l->want_out = true;
	if (pb_loop_add_fd(l->loop, l->fd, EPOLLOUT, link_on_fd, l) < 0)
		link_conn_end(l, 0, "epoll: %s", strerror(errno));
}

static void
on_resolved(struct pb_loop *loop, int fd, uint32_t events, void *arg)
{
	struct pb_link *l = arg;
	struct resolve_job *j = l->job;
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno == EAGAIN)
		return;
	link_enter(l);
	pb_loop_del_fd(loop, fd);
	l->job = NULL;
	if (j->gai_err != 0 || j->naddr == 0) {
		snprintf(l->st.peer_addr, sizeof(l->st.peer_addr), "%s:%u", l->host, l->port);
		link_conn_end(l, 0, "cannot resolve %s: %s", l->host,
		    j->gai_err ? gai_strerror(j->gai_err) : "no address");
	} else {
		int i = (int)(l->fails % (unsigned)j->naddr);
		link_connect(l, (const struct sockaddr *)&j->addr[i], j->alen[i]);
	}
	job_unref(j);
	link_leave(l);
}

static void *
resolve_thread(void *arg)
{
	struct resolve_job *j = arg;
	pthread_setname_np(pthread_self(), "pb-resolve");
	/* No AI_ADDRCONFIG: it hides loopback-only setups. */
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	uint64_t one = 1;

	j->gai_err = getaddrinfo(j->host, j->port, &hints, &res);
	for (struct addrinfo *ai = res; ai != NULL && j->naddr < LINK_MAX_ADDRS; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(j->addr[0]))
			continue;
		memcpy(&j->addr[j->naddr], ai->ai_addr, ai->ai_addrlen);
		j->alen[j->naddr++] = ai->ai_addrlen;
	}
	if (res != NULL)
		freeaddrinfo(res);
	ssize_t r = write(j->efd, &one, sizeof(one));
	(void)r;
	job_unref(j);
	return NULL;
}

void
link_resolve_start(struct pb_link *l)
{
	struct resolve_job *j = calloc(1, sizeof(*j));
	pthread_attr_t attr;
	pthread_t tid;
	int rc;

	if (j == NULL) {
		link_conn_end(l, 0, "resolve: out of memory");
		return;
	}
	link_set_str(j->host, sizeof(j->host), l->host);
	snprintf(j->port, sizeof(j->port), "%u", l->port);
	atomic_init(&j->refs, 2);
	if ((j->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		free(j);
		link_conn_end(l, 0, "eventfd: %s", strerror(errno));
		return;
	}
	if (pb_loop_add_fd(l->loop, j->efd, EPOLLIN, on_resolved, l) < 0) {
		close(j->efd);
		free(j);
		link_conn_end(l, 0, "epoll: %s", strerror(errno));
		return;
	}
	l->job = j;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&tid, &attr, resolve_thread, j);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		atomic_fetch_sub(&j->refs, 1); /* the thread's reference */
		link_conn_end(l, 0, "resolver thread: %s", strerror(rc));
	}
}

static int
ctrl_check(struct pb_link *l, const uint8_t *p, size_t len)
{
	struct pb_wire_msg m;
	size_t used = 0;
	enum pb_wire_status st;

	if (l->st.state != PB_LINK_UP || l->closing) {
		errno = ENOTCONN;
		return -1;
	}
	st = pb_wire_decode(p, len, &m, &used, NULL, 0);
	if ((st != PB_WIRE_OK && st != PB_WIRE_SKIP) || used != len)
		goto inval;
	switch (m.type) {
	case PB_WIRE_T_HELLO:
	case PB_WIRE_T_AUTH:
	case PB_WIRE_T_WELCOME:
	case PB_WIRE_T_RECORD:
	case PB_WIRE_T_HEARTBEAT:
	case PB_WIRE_T_ERROR:
		goto inval;
	case PB_WIRE_T_ACK:
		/* The peer would refuse it from a SENDER. */
		if (l->st.role != PB_LINK_RECEIVER)
			goto inval;
		return 0;
	case PB_WIRE_T_DLQ_NOTICE:
		/* Record sender only (spec 6.5). */
		if (l->st.role != PB_LINK_SENDER)
			goto inval;
		return 0;
	default:
		return 0;
	}
inval:
	errno = EINVAL;
	return -1;
}

static void
ctrl_queued(struct pb_link *l)
{
	l->st.msgs_out++;
	if (l->depth > 0)
		l->flush_pending = true;
	else if (!l->want_out)
		link_tx_flush(l);
}

int
pb_link_send_ctrl(struct pb_link *l, const void *msg, size_t len)
{
	if (ctrl_check(l, msg, len) != 0 || cq_reserve(l, len, false) != 0)
		return -1;
	memcpy(l->cq + l->clen, msg, len);
	l->clen += len;
	ctrl_queued(l);
	return 0;
}

int
pb_link_send_msg(struct pb_link *l, const struct pb_wire_msg *msg)
{
	size_t n = pb_wire_encode(NULL, 0, msg);

	if (n == 0) {
		errno = EINVAL;
		return -1;
	}
	if (cq_reserve(l, n, false) != 0)
		return -1;
	pb_wire_encode(l->cq + l->clen, l->ccap - l->clen, msg);
	if (ctrl_check(l, l->cq + l->clen, n) != 0)
		return -1;
	l->clen += n;
	ctrl_queued(l);
	return 0;
}

size_t
pb_link_ctrl_pending(const struct pb_link *l)
{
	return l->clen - l->coff;
}

void
pb_link_kick(struct pb_link *l)
{
	if (l == NULL || l->st.state != PB_LINK_UP || l->st.role != PB_LINK_SENDER || l->closing)
		return;
	if (l->depth > 0)
		l->flush_pending = true;
	else if (!l->want_out)
		link_tx_flush(l);
}

void
pb_link_set_name(struct pb_link *l, const char *name)
{
	l->named = true;
	link_set_str(l->st.name, sizeof(l->st.name), name);
}

enum pb_link_state
pb_link_state(const struct pb_link *l)
{
	return l->st.state;
}

enum pb_link_role
pb_link_role(const struct pb_link *l)
{
	return l->st.role;
}

uint32_t
pb_link_peer_node(const struct pb_link *l)
{
	return l->st.peer_node;
}

const char *
pb_link_name(const struct pb_link *l)
{
	return l->st.name;
}

const char *
pb_link_peer_addr(const struct pb_link *l)
{
	return l->st.peer_addr;
}

void
pb_link_get_stats(const struct pb_link *l, struct pb_link_stats *st)
{
	*st = l->st;
}

const char *
pb_link_state_name(enum pb_link_state s)
{
	static const char *const names[] = {
		[PB_LINK_IDLE] = "idle", [PB_LINK_CONNECTING] = "connecting",
		[PB_LINK_HANDSHAKE] = "handshake", [PB_LINK_UP] = "up",
		[PB_LINK_DOWN] = "down", [PB_LINK_CLOSED] = "closed",
	};
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

const char *
pb_link_role_name(enum pb_link_role r)
{
	return r == PB_LINK_SENDER ? "sender" : r == PB_LINK_RECEIVER ? "receiver" : "unknown";
}

static void
lst_free(struct pb_listener *s)
{
	if (s->t_pause)
		pb_loop_del_timer(s->loop, s->t_pause);
	if (s->fd >= 0) {
		pb_loop_del_fd(s->loop, s->fd);
		close(s->fd);
	}
	free(s);
}

static int64_t
on_lst_resume(struct pb_loop *loop, void *arg)
{
	struct pb_listener *s = arg;

	s->t_pause = 0;
	pb_loop_mod_fd(loop, s->fd, EPOLLIN);
	return PB_TIMER_STOP;
}

static void
on_accept(struct pb_loop *loop, int fd, uint32_t events, void *arg)
{
	struct pb_listener *s = arg;

	s->depth++;
	for (int i = 0; i < 64 && !s->dead; i++) {
		struct sockaddr_storage ss;
		socklen_t slen = sizeof(ss);
		char addr[64];
		int c = accept4(fd, (struct sockaddr *)&ss, &slen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			/* EMFILE & co: level-triggered epoll would spin; pause. */
			log_warn("link", "listener port %u: accept", s->port);
			if (s->t_pause == 0 && pb_loop_mod_fd(loop, fd, 0) == 0)
				s->t_pause = pb_loop_add_timer(loop, 100 * PB_NSEC_PER_MSEC,
				    on_lst_resume, s);
			break;
		}
		link_fmt_addr((struct sockaddr *)&ss, addr, sizeof(addr));
		s->cb(s, c, addr, s->arg);
	}
	if (--s->depth == 0 && s->dead)
		lst_free(s);
}

struct pb_listener *
pb_listener_open(struct pb_loop *loop, const char *address, uint16_t port, pb_accept_fn *cb,
    void *arg, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t slen;
	int one = 1, zero = 0;
	bool any = address == NULL || address[0] == '\0' || strcmp(address, "*") == 0;
	struct pb_listener *s;

	if (cb == NULL) {
		snprintf(err, errlen, "listener: no callback");
		return NULL;
	}
	if (link_parse_literal(any ? "::" : address, port, &ss, &slen) != 0) {
		snprintf(err, errlen, "listener: %s is not an IP address", address);
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "listener: out of memory");
		return NULL;
	}
	s->loop = loop;
	s->cb = cb;
	s->arg = arg;
	s->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0 && any && errno == EAFNOSUPPORT) {
		link_parse_literal("0.0.0.0", port, &ss, &slen);
		s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (s->fd < 0)
		goto fail;
	setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (any && ss.ss_family == AF_INET6)
		setsockopt(s->fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(s->fd, (struct sockaddr *)&ss, slen) < 0 || listen(s->fd, 128) < 0)
		goto fail;
	slen = sizeof(ss);
	if (getsockname(s->fd, (struct sockaddr *)&ss, &slen) < 0)
		goto fail;
	s->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port :
	    ((struct sockaddr_in6 *)&ss)->sin6_port);
	if (pb_loop_add_fd(loop, s->fd, EPOLLIN, on_accept, s) < 0)
		goto fail;
	return s;
fail:
	snprintf(err, errlen, "listener %s port %u: %s", any ? "*" : address, port,
	    strerror(errno));
	if (s->fd >= 0)
		close(s->fd);
	free(s);
	return NULL;
}

uint16_t
pb_listener_port(const struct pb_listener *s)
{
	return s->port;
}

void
pb_listener_close(struct pb_listener *s)
{
	if (s == NULL || s->dead)
		return;
	s->dead = true;
	if (s->depth == 0)
		lst_free(s);
}
