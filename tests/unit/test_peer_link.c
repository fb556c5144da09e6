/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "clock.h"
#include "loop.h"
#include "peer_link.h"
#include "wire.h"

/* Two ends of a link in one loop over 127.0.0.1, plus raw sockets that
 * speak (or garble) the protocol by hand. */

#define NODE_A 1u /* dialer */
#define NODE_B 2u /* listener */
#define NODE_RAW 9u
static const uint8_t psk_a[] = "0123456789abcdef-shared";
static const uint8_t psk_b[] = "fedcba9876543210-other!";

/* A SENDER data pump over a buffer of encoded RECORDs. Each message is
 * served as two iovecs (header part, rest) like a real resend buffer. */
struct pump {
	uint8_t *buf;
	size_t len, pos;
	size_t *off; /* message start offsets, nmsg + 1 entries */
	size_t nmsg, cur;
};

struct side {
	struct pb_link *link;
	int ups, downs, downs_up, welcomes, nodes, acks, recs, dropped_at, closed_at;
	bool last_was_up, in_msg, close_on_down, nested_down;
	uint64_t resume_ret, resume_got, next_seq, ack_every;
	char reason[256];
	struct pb_wire_hello peer;
	struct pump *pump;
	int node_every, nodes_queued, nodes_mid;
	uint64_t msgs_told;  /* by side_sent_msgs */
	bool own_boundaries; /* the dialer uses ops_msgs */
};

static void
side_up(struct pb_link *l, const struct pb_wire_hello *peer, void *arg)
{
	struct side *s = arg;
	s->ups++;
	s->peer = *peer;
	assert_int_equal(pb_link_state(l), PB_LINK_UP);
}

static uint64_t
side_resume(struct pb_link *l, const struct pb_wire_hello *peer, void *arg)
{
	struct side *s = arg;
	assert_int_equal(pb_link_role(l), PB_LINK_RECEIVER);
	return s->resume_ret;
}

static void
side_welcome(struct pb_link *l, const struct pb_wire_welcome *w, void *arg)
{
	struct side *s = arg;
	s->welcomes++;
	s->resume_got = w->resume_seq;
}

static uint8_t
rec_byte(uint64_t seq, uint32_t i)
{
	return (uint8_t)(seq * 31 + i * 7);
}

static void
side_msg(struct pb_link *l, struct pb_wire_msg *m, void *arg)
{
	struct side *s = arg;

	s->in_msg = true;
	if (m->type == PB_WIRE_T_RECORD) {
		s->recs++;
		assert_int_equal(m->link_seq, s->next_seq);
		assert_int_equal(m->record.caplen, 1 + m->link_seq % 200);
		for (uint32_t i = 0; i < m->record.caplen; i++)
			if (m->record.data[i] != rec_byte(m->link_seq, i))
				fail_msg("record %llu byte %u differs",
				    (unsigned long long)m->link_seq, i);
		s->next_seq++;
		if (s->ack_every && m->link_seq % s->ack_every == 0) {
			struct pb_wire_msg a = { .type = PB_WIRE_T_ACK };
			a.ack.link_seq = m->link_seq;
			assert_int_equal(pb_link_send_msg(l, &a), 0);
		}
		if (s->recs == s->dropped_at)
			pb_link_drop(l, PB_WIRE_E_UNEXPECTED, "test drop");
		if (s->recs == s->closed_at) {
			pb_link_close(l, "test close");
			s->link = NULL;
		}
	} else if (m->type == PB_WIRE_T_NODE) {
		s->nodes++;
		assert_int_equal(m->node.node_id, 1000u + (unsigned)s->nodes);
	} else if (m->type == PB_WIRE_T_ACK) {
		s->acks++;
	}
	s->in_msg = false;
}

static void
side_down(struct pb_link *l, bool was_up, const char *reason, void *arg)
{
	struct side *s = arg;
	if (s->in_msg)
		s->nested_down = true;
	s->downs++;
	s->last_was_up = was_up;
	s->downs_up += was_up;
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
	if (s->close_on_down) {
		pb_link_close(l, "test");
		s->link = NULL;
	}
}

static int
queue_node(struct side *s)
{
	static const char name[] = "relay";
	struct pb_wire_msg m = { .type = PB_WIRE_T_NODE };
	m.node.node_id = 1000u + (unsigned)s->nodes_queued + 1;
	m.node.name.ptr = name;
	m.node.name.len = sizeof(name) - 1;
	if (pb_link_send_msg(s->link, &m) != 0)
		return -1;
	s->nodes_queued++;
	return 0;
}

static int
side_fill(struct pb_link *l, struct iovec *iov, int max, void *arg)
{
	struct pump *p = ((struct side *)arg)->pump;
	int n = 0;

	if (p == NULL)
		return 0;
	size_t pos = p->pos, mi = p->cur;
	while (n < max && mi < p->nmsg) {
		size_t start = p->off[mi], end = p->off[mi + 1], cut = start + 20;
		size_t stop = pos < cut ? cut : end;
		iov[n].iov_base = p->buf + pos;
		iov[n].iov_len = stop - pos;
		n++;
		pos = stop;
		if (pos == end)
			mi++;
	}
	return n;
}

static void
side_sent(struct pb_link *l, size_t bytes, void *arg)
{
	struct side *s = arg;
	struct pump *p = s->pump;
	size_t before = p->cur;

	p->pos += bytes;
	assert_true(p->pos <= p->len);
	while (p->cur < p->nmsg && p->off[p->cur + 1] <= p->pos)
		p->cur++;
	/* Queue control messages mid-stream from inside a callback: every
	 * node_every records, and whenever a partial write left the stream
	 * inside a message (the NODE must then wait for its end). */
	if (!s->node_every)
		return;
	if (p->cur < p->nmsg && p->pos != p->off[p->cur]) {
		assert_int_equal(queue_node(s), 0);
		s->nodes_mid++;
	} else if (p->cur / (size_t)s->node_every != before / (size_t)s->node_every) {
		assert_int_equal(queue_node(s), 0);
	}
}

/* The pump's own message boundaries, instead of the link reading the
 * headers back (what the tunnel's resend buffer does). */
static size_t
side_sent_msgs(struct pb_link *l, size_t bytes, uint64_t *msgs, void *arg)
{
	struct side *s = arg;
	size_t before = s->pump->cur;
	side_sent(l, bytes, arg);
	struct pump *p = s->pump;
	s->msgs_told += p->cur - before;
	*msgs += p->cur - before;
	return p->cur < p->nmsg && p->pos != p->off[p->cur] ? p->off[p->cur + 1] - p->pos : 0;
}

static const struct pb_link_ops ops = {
	.resume_seq = side_resume, .on_welcome = side_welcome, .on_up = side_up,
	.on_message = side_msg, .on_down = side_down, .fill_iov = side_fill, .sent = side_sent,
};

static const struct pb_link_ops ops_msgs = {
	.resume_seq = side_resume, .on_welcome = side_welcome, .on_up = side_up,
	.on_message = side_msg, .on_down = side_down, .fill_iov = side_fill,
	.sent_msgs = side_sent_msgs,
};

static struct pump *
pump_new(size_t nmsg)
{
	struct pump *p = calloc(1, sizeof(*p));
	struct pb_record r;
	uint8_t frame[256];

	assert_non_null(p);
	p->off = calloc(nmsg + 1, sizeof(*p->off));
	p->buf = malloc(nmsg * (PB_WIRE_HDR_LEN + PB_WIRE_REC_FIXED_LEN + 200));
	assert_true(p->off && p->buf);
	for (size_t i = 0; i < nmsg; i++) {
		uint64_t seq = i + 1;
		pb_record_reset(&r);
		r.caplen = r.origlen = 1 + (uint32_t)(seq % 200);
		for (uint32_t k = 0; k < r.caplen; k++)
			frame[k] = rec_byte(seq, k);
		r.data = frame;
		r.origin_node = NODE_A;
		r.origin_seq = seq;
		p->off[i] = p->len;
		p->len += pb_wire_encode_record(p->buf + p->len, SIZE_MAX, &r, seq);
	}
	p->off[nmsg] = p->len;
	p->nmsg = nmsg;
	return p;
}

/* ---- harness ---- */

struct env {
	struct pb_loop *loop;
	struct pb_listener *lst;
	uint16_t port;
	struct pb_link_cfg ca, cb; /* dialer, listener */
	struct side a, b;
	int accepts;
	bool close_lst_on_accept;
};

static void
env_accept(struct pb_listener *lst, int fd, const char *addr, void *arg)
{
	struct env *e = arg;
	char err[128];

	e->accepts++;
	assert_null(e->b.link);
	e->b.link = pb_link_accept(e->loop, &e->cb, fd, addr, &ops, &e->b, err, sizeof(err));
	assert_non_null(e->b.link);
	assert_string_equal(pb_link_peer_addr(e->b.link), addr);
	if (e->close_lst_on_accept) {
		pb_listener_close(lst);
		e->lst = NULL;
	}
}

static void
env_listen(struct env *e, uint16_t port)
{
	char err[128];
	e->lst = pb_listener_open(e->loop, "127.0.0.1", port, env_accept, e, err, sizeof(err));
	if (e->lst == NULL)
		fail_msg("%s", err);
	e->port = pb_listener_port(e->lst);
	assert_true(e->port != 0);
}

static int
setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char err[128];

	assert_non_null(e);
	e->loop = pb_loop_new(err, sizeof(err));
	assert_non_null(e->loop);
	/* Long backoff: only the tests about reconnecting see a second attempt. */
	e->ca = (struct pb_link_cfg){ .node_id = NODE_A, .epoch = 11, .heartbeat_ms = 50,
		.backoff_min_ms = 5000, .backoff_max_ms = 5000, .handshake_timeout_ms = 2000 };
	e->cb = e->ca;
	e->cb.node_id = NODE_B;
	e->cb.epoch = 22;
	e->a.next_seq = e->b.next_seq = 1;
	env_listen(e, 0);
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	struct env *e = *state;
	pb_link_close(e->a.link, "end");
	pb_link_close(e->b.link, "end");
	pb_listener_close(e->lst);
	pb_loop_free(e->loop);
	if (e->a.pump) {
		free(e->a.pump->buf);
		free(e->a.pump->off);
		free(e->a.pump);
	}
	free(e);
	return 0;
}

static void
dial(struct env *e, enum pb_link_role role, const char *addr)
{
	char err[128];
	e->a.link = pb_link_dial(e->loop, &e->ca, role, "peer-b", addr, e->port,
	    e->a.own_boundaries ? &ops_msgs : &ops, &e->a, err, sizeof(err));
	if (e->a.link == NULL)
		fail_msg("%s", err);
	assert_int_equal(pb_link_state(e->a.link), PB_LINK_IDLE);
}

/* Runs the loop until cond holds; false on timeout. */
static bool
run_for_cond(struct pb_loop *loop, int ms, bool (*cond)(struct env *), struct env *e)
{
	uint64_t end = pb_mono_ns() + (uint64_t)ms * PB_NSEC_PER_MSEC;
	while (!cond(e)) {
		if (pb_mono_ns() > end)
			return false;
		pb_loop_run_once(loop, 5);
	}
	return true;
}

static void
run_ms(struct pb_loop *loop, int ms)
{
	uint64_t end = pb_mono_ns() + (uint64_t)ms * PB_NSEC_PER_MSEC;
	while (pb_mono_ns() < end)
		pb_loop_run_once(loop, 5);
}

static bool both_up(struct env *e) { return e->a.ups > 0 && e->b.ups > 0; }
static bool both_down(struct env *e) { return e->a.downs > 0 && e->b.downs > 0; }
static bool b_down(struct env *e) { return e->b.downs > 0; }
static bool a_down(struct env *e) { return e->a.downs > 0; }
static bool b_ups(struct env *e) { return e->b.ups > 0; }

static struct pb_link_stats
stats(struct pb_link *l)
{
	struct pb_link_stats st;
	pb_link_get_stats(l, &st);
	return st;
}

/* ---- raw peer ---- */

static int
raw_connect(uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

static void
raw_send(int fd, const struct pb_wire_msg *m)
{
	uint8_t buf[512];
	size_t n = pb_wire_encode(buf, sizeof(buf), m);
	assert_true(n > 0 && n <= sizeof(buf));
	assert_int_equal(send(fd, buf, n, MSG_NOSIGNAL), (ssize_t)n);
}

struct raw_rx {
	uint8_t buf[4096];
	size_t len;
};

/* Runs the loop until a whole message from the link is on fd. */
static void
raw_recv(struct env *e, int fd, struct raw_rx *rx, struct pb_wire_msg *m)
{
	uint64_t end = pb_mono_ns() + 2 * PB_NSEC_PER_SEC;

	for (;;) {
		size_t used;
		enum pb_wire_status st = pb_wire_decode(rx->buf, rx->len, m, &used, NULL, 0);
		if (st == PB_WIRE_OK) {
			memmove(rx->buf, rx->buf + used, rx->len - used);
			rx->len -= used;
			return;
		}
		assert_int_equal(st, PB_WIRE_NEED_MORE);
		assert_true(pb_mono_ns() < end);
		pb_loop_run_once(e->loop, 5);
		ssize_t r = recv(fd, rx->buf + rx->len, sizeof(rx->buf) - rx->len, MSG_DONTWAIT);
		if (r > 0)
			rx->len += (size_t)r;
		else
			assert_true(r < 0 && errno == EAGAIN);
	}
}

static void
raw_hello(int fd, uint8_t minv, uint8_t maxv, uint16_t flags, uint8_t nonce[PB_WIRE_NONCE_LEN])
{
	struct pb_wire_msg m = { .type = PB_WIRE_T_HELLO };
	m.hello = (struct pb_wire_hello){ .min_version = minv, .max_version = maxv,
		.flags = flags, .node_id = NODE_RAW, .epoch = 5 };
	assert_int_equal(pb_auth_nonce(m.hello.nonce), 0);
	memcpy(nonce, m.hello.nonce, PB_WIRE_NONCE_LEN);
	raw_send(fd, &m);
}

/* ---- tests ---- */

static void
test_auth_vector(void **state)
{
	static const uint8_t want[PB_WIRE_MAC_LEN] = {
		0x71, 0xa2, 0x4c, 0xc9, 0x17, 0x6d, 0xe1, 0x9d, 0x44, 0x28, 0x92, 0xb3,
		0x07, 0xc0, 0x70, 0xd8, 0x86, 0x5f, 0x1c, 0x7c, 0xa9, 0x3d, 0x5c, 0x0c,
		0x3a, 0x3e, 0xb7, 0xff, 0xbc, 0x3c, 0x97, 0x4f,
	};
	uint8_t sn[PB_WIRE_NONCE_LEN], vn[PB_WIRE_NONCE_LEN], mac[PB_WIRE_MAC_LEN];
	uint8_t n1[PB_WIRE_NONCE_LEN], n2[PB_WIRE_NONCE_LEN];
	const uint8_t *key = (const uint8_t *)"0123456789abcdef";

	(void)state;
	for (unsigned i = 0; i < PB_WIRE_NONCE_LEN; i++) {
		sn[i] = (uint8_t)i;
		vn[i] = (uint8_t)(0x20 + i);
	}
	/* Python: hmac.new(key, pb_wire_auth_input(1, sn, 2, vn), sha256). */
	assert_int_equal(pb_auth_mac(key, 16, 1, sn, 2, vn, mac), 0);
	assert_memory_equal(mac, want, sizeof(want));
	assert_true(pb_auth_verify(key, 16, 1, sn, 2, vn, mac));
	assert_false(pb_auth_verify(key, 15, 1, sn, 2, vn, mac));
	assert_false(pb_auth_verify(key, 16, 2, vn, 1, sn, mac)); /* reflected */
	mac[31] ^= 1;
	assert_false(pb_auth_verify(key, 16, 1, sn, 2, vn, mac));
	assert_int_equal(pb_auth_mac(key, 0, 1, sn, 2, vn, mac), -1);
	assert_int_equal(pb_auth_nonce(n1), 0);
	assert_int_equal(pb_auth_nonce(n2), 0);
	assert_memory_not_equal(n1, n2, sizeof(n1));
}

static void
test_up_psk(void **state)
{
	struct env *e = *state;

	e->ca.psk = e->cb.psk = psk_a;
	e->ca.psk_len = e->cb.psk_len = sizeof(psk_a) - 1;
	e->ca.heartbeat_ms = e->cb.heartbeat_ms = 20;
	/* Heartbeats every 20 ms, but valgrind may stall the loop for more
	 * than the default 3 x 20 ms: liveness is not what is tested here. */
	e->ca.dead_after_ms = e->cb.dead_after_ms = 5000;
	e->b.resume_ret = 4242;
	dial(e, PB_LINK_SENDER, "127.0.0.1");
	assert_true(run_for_cond(e->loop, 2000, both_up, e));
	assert_int_equal(e->a.welcomes, 1);
	assert_int_equal(e->a.resume_got, 4242);
	assert_int_equal(e->a.peer.node_id, NODE_B);
	assert_int_equal(e->a.peer.epoch, 22);
	assert_int_equal(e->b.peer.node_id, NODE_A);
	assert_int_equal(e->b.peer.epoch, 11);
	assert_int_equal(pb_link_role(e->a.link), PB_LINK_SENDER);
	assert_int_equal(pb_link_role(e->b.link), PB_LINK_RECEIVER);
	assert_int_equal(pb_link_peer_node(e->b.link), NODE_A);
	/* Heartbeats flow both ways and give an RTT; nobody drops. */
	run_ms(e->loop, 150);
	struct pb_link_stats sa = stats(e->a.link), sb = stats(e->b.link);
	assert_int_equal(sa.state, PB_LINK_UP);
	assert_int_equal(sb.state, PB_LINK_UP);
	assert_true(sa.dialer && !sb.dialer);
	assert_int_equal(sa.version, 1);
	assert_int_equal(sa.connects, 1);
	assert_int_equal(sb.connects, 1);
	assert_true(sa.rtt_ns > 0 && sa.rtt_ns < PB_NSEC_PER_SEC);
	assert_true(sb.rtt_ns > 0 && sb.rtt_ns < PB_NSEC_PER_SEC);
	assert_true(sa.msgs_in >= 5 && sb.msgs_in >= 5);
	assert_true(sa.bytes_out == sb.bytes_in || sa.bytes_out > sb.bytes_in);
	assert_true(sa.connected_since_ns > 0);
	assert_int_equal(strncmp(sa.peer_addr, "127.0.0.1:", 10), 0);
	assert_int_equal(sa.auth_failures + sb.auth_failures, 0);
	assert_int_equal(sa.protocol_errors + sb.protocol_errors, 0);
	assert_int_equal(e->a.downs + e->b.downs, 0);
	/* Control messages are refused before UP and when malformed. */
	uint8_t junk[16] = { 0x50, 0x42, 1, PB_WIRE_T_ACK, 0, 0, 0, 9 };
	assert_int_equal(pb_link_send_ctrl(e->b.link, junk, 16), -1);
	assert_int_equal(errno, EINVAL);
	struct pb_wire_msg hb = { .type = PB_WIRE_T_HEARTBEAT }, ack = { .type = PB_WIRE_T_ACK };
	assert_int_equal(pb_link_send_msg(e->b.link, &hb), -1);
	ack.ack.link_seq = 1;
	assert_int_equal(pb_link_send_msg(e->a.link, &ack), -1); /* a SENDER does not ACK */
	assert_int_equal(pb_link_send_msg(e->b.link, &ack), 0);
	/* A graceful close reaches the peer as ERROR shutdown. */
	pb_link_close(e->b.link, "bye");
	e->b.link = NULL;
	assert_true(run_for_cond(e->loop, 2000, a_down, e));
	assert_true(e->a.last_was_up);
	assert_non_null(strstr(e->a.reason, "shutdown"));
	assert_int_equal(e->b.downs, 0);
}

static void
test_wrong_psk(void **state)
{
	struct env *e = *state;

	e->ca.psk = psk_a;
	e->ca.psk_len = sizeof(psk_a) - 1;
	e->cb.psk = psk_b;
	e->cb.psk_len = sizeof(psk_b) - 1;
	dial(e, PB_LINK_SENDER, "127.0.0.1");
	assert_true(run_for_cond(e->loop, 2000, both_down, e));
	assert_int_equal(e->a.ups + e->b.ups, 0);
	assert_false(e->a.last_was_up || e->b.last_was_up);
	assert_string_equal(e->b.reason, "authentication failed");
	assert_string_equal(e->a.reason, "authentication failed");
	assert_int_equal(stats(e->a.link).auth_failures, 1);
	assert_int_equal(stats(e->b.link).auth_failures, 1);
	assert_int_equal(stats(e->b.link).protocol_errors, 0);
	assert_int_equal(pb_link_state(e->b.link), PB_LINK_CLOSED);
	assert_int_equal(pb_link_state(e->a.link), PB_LINK_DOWN); /* backoff 5 s */
}

static void
test_psk_one_side(void **state)
{
	struct env *e = *state;

	/* The listener has a PSK, the dialer none: refused by the listener,
	 * the dialer learns it from ERROR auth. (A RECEIVER without a PSK
	 * would be UP, having sent WELCOME, before it hears of the refusal.) */
	e->cb.psk = psk_b;
	e->cb.psk_len = sizeof(psk_b) - 1;
	dial(e, PB_LINK_SENDER, "127.0.0.1");
	assert_true(run_for_cond(e->loop, 2000, both_down, e));
	assert_int_equal(e->a.ups + e->b.ups, 0);
	assert_int_equal(stats(e->b.link).auth_failures, 1);
	assert_int_equal(stats(e->a.link).auth_failures, 1);
	assert_non_null(strstr(e->a.reason, "ERROR auth"));
}

static void
test_unauthenticated(void **state)
{
	struct env *e = *state;
	struct pb_link_cfg bad = e->ca;
	char err[128] = "";

	bad.node_id = 0;
	assert_null(pb_link_dial(e->loop, &bad, PB_LINK_SENDER, "x", "127.0.0.1", 1, &ops, NULL,
	    err, sizeof(err)));
	assert_true(err[0] != '\0');
	/* A pump says what was written one way: sent or sent_msgs. */
	struct pb_link_ops two = ops_msgs, none = ops;
	two.sent = side_sent;
	none.sent = NULL;
	err[0] = '\0';
	assert_null(pb_link_dial(e->loop, &e->ca, PB_LINK_SENDER, "x", "127.0.0.1", 1, &two, NULL,
	    err, sizeof(err)));
	assert_non_null(strstr(err, "sent_msgs"));
	assert_null(pb_link_dial(e->loop, &e->ca, PB_LINK_SENDER, "x", "127.0.0.1", 1, &none,
	    NULL, err, sizeof(err)));
	assert_null(pb_listener_open(e->loop, "localhost", 0, env_accept, e, err, sizeof(err)));
	assert_non_null(strstr(err, "not an IP address"));
	dial(e, PB_LINK_RECEIVER, "127.0.0.1");
	e->a.resume_ret = 7;
	assert_true(run_for_cond(e->loop, 2000, both_up, e));
	assert_int_equal(pb_link_role(e->a.link), PB_LINK_RECEIVER);
	assert_int_equal(pb_link_role(e->b.link), PB_LINK_SENDER);
	assert_int_equal(e->b.resume_got, 7);
}

static void
test_role_mismatch(void **state)
{
	struct env *e = *state;

	e->cb.accept_roles = PB_LINK_ROLE_BIT(PB_LINK_SENDER);
	dial(e, PB_LINK_SENDER, "127.0.0.1");
	assert_true(run_for_cond(e->loop, 2000, both_down, e));
	assert_int_equal(e->a.ups + e->b.ups, 0);
	assert_non_null(strstr(e->a.reason, "role mismatch"));
	assert_non_null(strstr(e->b.reason, "role mismatch"));
	assert_int_equal(stats(e->a.link).protocol_errors, 1);
	assert_int_equal(stats(e->b.link).protocol_errors, 1);
}

static void
test_version_mismatch(void **state)
{
	struct env *e = *state;
	uint8_t nonce[PB_WIRE_NONCE_LEN];
	struct raw_rx rx = { .len = 0 };
	struct pb_wire_msg m;
	int fd = raw_connect(e->port);

	raw_hello(fd, 2, 3, PB_WIRE_HELLO_SEND, nonce);
	raw_recv(e, fd, &rx, &m);
	assert_int_equal(m.type, PB_WIRE_T_HELLO);
	assert_int_equal(m.hello.node_id, NODE_B);
	assert_int_equal(m.hello.max_version, PB_WIRE_VERSION);
	raw_recv(e, fd, &rx, &m);
	assert_int_equal(m.type, PB_WIRE_T_ERROR);
	assert_int_equal(m.error.code, PB_WIRE_E_VERSION);
	assert_true(run_for_cond(e->loop, 2000, b_down, e));
	assert_non_null(strstr(e->b.reason, "no common version"));
	assert_int_equal(stats(e->b.link).protocol_errors, 1);
	assert_int_equal(stats(e->b.link).peer_node, NODE_RAW);
	close(fd);
}

static void
test_garbage_then_good(void **state)
{
	struct env *e = *state;
	static const char get[] = "GET / HTTP/1.0\r\n\r\n";
	uint8_t bad[PB_WIRE_HDR_LEN] = { 0x50, 0x42, 1, 77, 0, 0, 0, 0 }; /* unknown type */
	int fd = raw_connect(e->port);

	assert_int_equal(send(fd, bad, sizeof(bad), 0), (ssize_t)sizeof(bad));
	assert_true(run_for_cond(e->loop, 2000, b_down, e));
	assert_int_equal(stats(e->b.link).protocol_errors, 1);
	assert_int_equal(pb_link_state(e->b.link), PB_LINK_CLOSED);
	assert_non_null(strstr(e->b.reason, "type 77"));
	pb_link_close(e->b.link, "done");
	e->b.link = NULL;
	close(fd);
	e->b.downs = 0;
	e->b.close_on_down = true;
	fd = raw_connect(e->port);
	assert_int_equal(send(fd, get, sizeof(get) - 1, 0), (ssize_t)sizeof(get) - 1);
	assert_true(run_for_cond(e->loop, 2000, b_down, e));
	assert_null(e->b.link);
	assert_non_null(strstr(e->b.reason, "magic"));
	close(fd);
	/* The listener still serves a good peer. */
	e->b.close_on_down = false;
	dial(e, PB_LINK_SENDER, "127.0.0.1");
	assert_true(run_for_cond(e->loop, 2000, both_up, e));
	assert_int_equal(e->accepts, 3);
}

/* Our own HELLO nonce sent back: refused with ERROR auth (spec 6.1). */
static void
test_reflected_nonce(void **state)
{
	struct env *e = *state;
	struct raw_rx rx = { .len = 0 };
	struct pb_wire_msg m;
	int fd = raw_connect(e->port);

	raw_recv(e, fd, &rx, &m); /* the listener's HELLO */
	assert_int_equal(m.type, PB_WIRE_T_HELLO);
	struct pb_wire_msg h = { .type = PB_WIRE_T_HELLO };
	h.hello = (struct pb_wire_hello){ .min_version = 1, .max_version = 1,
		.flags = PB_WIRE_HELLO_SEND, .node_id = NODE_RAW, .epoch = 5 };
	memcpy(h.hello.nonce, m.hello.nonce, PB_WIRE_NONCE_LEN);
	raw_send(fd, &h);
	raw_recv(e, fd, &rx, &m);
	assert_int_equal(m.type, PB_WIRE_T_ERROR);
	assert_int_equal(m.error.code, PB_WIRE_E_AUTH);
	assert_true(run_for_cond(e->loop, 2000, b_down, e));
	assert_non_null(strstr(e->b.reason, "reflected"));
	assert_int_equal(e->b.ups, 0);
	close(fd);
}

/* An optional (skippable) type before the handshake is done: ERROR
 * unexpected, not skipped. */
static void
test_optional_before_auth(void **state)
{
	struct env *e = *state;
	struct raw_rx rx = { .len = 0 };
	struct pb_wire_msg m;
	uint8_t opt[PB_WIRE_HDR_LEN + 4] = { 0x50, 0x42, 1, 200, 0, 0, 0, 4, 1, 2, 3, 4 };
	int fd = raw_connect(e->port);

	raw_recv(e, fd, &rx, &m);
	assert_int_equal(m.type, PB_WIRE_T_HELLO);
	assert_int_equal(send(fd, opt, sizeof(opt), 0), (ssize_t)sizeof(opt));
	raw_recv(e, fd, &rx, &m);
	assert_int_equal(m.type, PB_WIRE_T_ERROR);
	assert_int_equal(m.error.code, PB_WIRE_E_UNEXPECTED);
	assert_true(run_for_cond(e->loop, 2000, b_down, e));
	assert_int_equal(stats(e->b.link).protocol_errors, 1);
	close(fd);
}

/* Per-node keys: the listener picks the key by the claimed node id. */
static const uint8_t key_a[] = "key-of-the-pair-a-b-0123456789";
static int peer_key_calls;

static uint16_t
side_key(struct pb_link *l, const struct pb_wire_hello *peer, const uint8_t **key,
    size_t *len, void *arg)
{
	(void)l, (void)arg;
	peer_key_calls++;
	if (peer->node_id != NODE_A && peer->node_id != NODE_B)
		return PB_WIRE_E_NODE_ID;
	*key = key_a;
	*len = sizeof(key_a) - 1;
	return 0;
}

static const struct pb_link_ops keyed_ops = {
	.peer_key = side_key,
	.resume_seq = side_resume, .on_welcome = side_welcome, .on_up = side_up,
	.on_message = side_msg, .on_down = side_down, .fill_iov = side_fill, .sent = side_sent,
};

static void
keyed_accept(struct pb_listener *lst, int fd, const char *addr, void *arg)
{
	struct env *e = arg;
	char err[128];
	(void)lst;
	e->accepts++;
	e->b.link = pb_link_accept(e->loop, &e->cb, fd, addr, &keyed_ops, &e->b, err, sizeof(err));
	assert_non_null(e->b.link);
}

static void
test_peer_key(void **state)
{
	struct env *e = *state;
	char err[128];

	pb_listener_close(e->lst);
	e->lst = pb_listener_open(e->loop, "127.0.0.1", 0, keyed_accept, e, err, sizeof(err));
	assert_non_null(e->lst);
	e->port = pb_listener_port(e->lst);
	/* The dialer knows the pair key as its PSK: both MACs verify. */
	e->ca.psk = key_a;
	e->ca.psk_len = sizeof(key_a) - 1;
	peer_key_calls = 0;
	dial(e, PB_LINK_SENDER, "127.0.0.1");
	assert_true(run_for_cond(e->loop, 2000, both_up, e));
	assert_int_equal(peer_key_calls, 1);
	pb_link_close(e->a.link, "next");
	e->a.link = NULL;
	assert_true(run_for_cond(e->loop, 2000, b_down, e));
	pb_link_close(e->b.link, "next");
	e->b.link = NULL;

	/* A node the callback has no key for: ERROR node-id, never up. */
	e->b.downs = e->a.downs = 0;
	e->a.ups = e->b.ups = 0;
	e->ca.node_id = 7;
	dial(e, PB_LINK_SENDER, "127.0.0.1");
	assert_true(run_for_cond(e->loop, 2000, both_down, e));
	assert_int_equal(e->a.ups + e->b.ups, 0);
	assert_non_null(strstr(e->a.reason, "node-id"));
	pb_link_close(e->b.link, "next");
	e->b.link = NULL;
	pb_link_close(e->a.link, "next");
	e->a.link = NULL;

	/* Right id, wrong key: ERROR auth. */
	e->b.downs = e->a.downs = 0;
	e->ca.node_id = NODE_A;
	e->ca.psk = psk_b;
	e->ca.psk_len = sizeof(psk_b) - 1;
	dial(e, PB_LINK_SENDER, "127.0.0.1");
	assert_true(run_for_cond(e->loop, 2000, b_down, e));
	assert_int_equal(e->a.ups + e->b.ups, 0);
	assert_int_equal(stats(e->b.link).auth_failures, 1);
}

static bool
a_got_all(struct env *e)
{
	return e->b.recs == (int)e->a.pump->nmsg && e->b.nodes == e->a.nodes_queued &&
	    e->a.acks == e->b.recs / (int)e->b.ack_every;
}

/*
 * Listens on 127.0.0.1 with a small receive buffer, set before listen() so
 * that the window is small from the handshake on: the sender's socket then
 * fills and partial writes happen even when the receiver keeps up (as it
 * does under valgrind). The loop never sees this socket: small_accept polls it.
 */
static int
small_listener(uint16_t *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int rcv = 16384, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)), 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* Runs the loop until the dialer's connection is in lfd's queue, then hands
 * it to env_accept as the listener would. */
static void
small_accept(struct env *e, int lfd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char addr[64];
	int fd = -1;

	for (uint64_t end = pb_mono_ns() + 5 * PB_NSEC_PER_SEC; fd < 0 && pb_mono_ns() < end;) {
		pb_loop_run_once(e->loop, 5);
		fd = accept4(lfd, (struct sockaddr *)&sin, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	}
	assert_true(fd >= 0);
	assert_non_null(inet_ntop(AF_INET, &sin.sin_addr, addr, sizeof(addr)));
	snprintf(addr + strlen(addr), sizeof(addr) - strlen(addr), ":%u", ntohs(sin.sin_port));
	env_accept(NULL, fd, addr, e);
}

static bool
counts_agree(struct env *e)
{
	return stats(e->a.link).msgs_out == stats(e->b.link).msgs_in;
}

static void
pump_run(struct env *e, bool own_boundaries)
{
	enum { N = 100000 };

	e->a.own_boundaries = own_boundaries;
	e->a.pump = pump_new(N);
	e->a.node_every = 997;
	e->b.ack_every = 5000;
	e->ca.dead_after_ms = e->cb.dead_after_ms = 10000; /* valgrind is slow */
	int lfd = small_listener(&e->port);
	dial(e, PB_LINK_SENDER, "127.0.0.1");
	small_accept(e, lfd);
	close(lfd);
	assert_true(run_for_cond(e->loop, 2000, both_up, e));
	pb_link_kick(e->a.link);
	/* Also queue control messages from outside any callback. */
	uint64_t end = pb_mono_ns() + 60 * PB_NSEC_PER_SEC;
	size_t queued_at = SIZE_MAX;
	while (!a_got_all(e) && pb_mono_ns() < end) {
		/* Once per position: a slow run (valgrind) must not pile up
		 * control messages while the data stands still. */
		if (e->a.pump->cur < N && e->a.pump->cur % 3 == 0 && e->a.pump->cur != queued_at) {
			assert_int_equal(queue_node(&e->a), 0);
			queued_at = e->a.pump->cur;
		}
		pb_loop_run_once(e->loop, 5);
	}
	assert_true(a_got_all(e));
	assert_int_equal(e->b.next_seq, N + 1);
	assert_true(e->a.nodes_queued >= N / 997);
	print_message("pump: %d NODE messages queued, %d of them inside a partly written message\n",
	    e->a.nodes_queued, e->a.nodes_mid);
	assert_true(e->a.nodes_mid > 0);
	assert_int_equal(e->a.downs + e->b.downs, 0);
	struct pb_link_stats sa = stats(e->a.link), sb = stats(e->b.link);
	assert_true(sa.bytes_out >= e->a.pump->len);
	assert_int_equal(sb.protocol_errors, 0);
	assert_true(sb.msgs_in >= (uint64_t)N + (uint64_t)e->a.nodes_queued);
	assert_int_equal(pb_link_ctrl_pending(e->a.link), 0);
	/* Every message counted once, whoever finds the boundaries, once the
	 * receiver has read what is in flight (heartbeats go on). */
	assert_true(run_for_cond(e->loop, 5000, counts_agree, e));
	assert_int_equal(e->a.msgs_told, own_boundaries ? (uint64_t)N : 0);
}

static void
test_pump(void **state)
{
	pump_run(*state, false);
}

/* The same with the pump telling the link where its messages end. */
static void
test_pump_own_boundaries(void **state)
{
	pump_run(*state, true);
}

static void
test_heartbeat_timeout(void **state)
{
	struct env *e = *state;
	uint8_t nonce[PB_WIRE_NONCE_LEN];
	struct raw_rx rx = { .len = 0 };
	struct pb_wire_msg m, hello, auth = { .type = PB_WIRE_T_AUTH };
	int fd = raw_connect(e->port);

	e->cb.psk = psk_b;
	e->cb.psk_len = sizeof(psk_b) - 1;
	e->cb.heartbeat_ms = 20;
	e->cb.dead_after_ms = 150;
	e->b.resume_ret = 99;
	raw_hello(fd, 1, 1, PB_WIRE_HELLO_SEND, nonce);
	raw_recv(e, fd, &rx, &hello);
	assert_int_equal(hello.type, PB_WIRE_T_HELLO);
	assert_true(hello.hello.flags & PB_WIRE_HELLO_RECV);
	assert_int_equal(pb_auth_mac(psk_b, sizeof(psk_b) - 1, NODE_RAW, nonce, NODE_B,
	    hello.hello.nonce, auth.auth.mac), 0);
	raw_send(fd, &auth);
	raw_recv(e, fd, &rx, &m);
	assert_int_equal(m.type, PB_WIRE_T_AUTH);
	assert_true(pb_auth_verify(psk_b, sizeof(psk_b) - 1, NODE_B, hello.hello.nonce,
	    NODE_RAW, nonce, m.auth.mac));
	raw_recv(e, fd, &rx, &m);
	assert_int_equal(m.type, PB_WIRE_T_WELCOME);
	assert_int_equal(m.welcome.resume_seq, 99);
	assert_int_equal(m.welcome.heartbeat_ms, 20);
	assert_true(run_for_cond(e->loop, 1000, b_ups, e));
	/* The raw peer now goes silent (its socket still accepts bytes). */
	uint64_t t0 = pb_mono_ns();
	assert_true(run_for_cond(e->loop, 3000, b_down, e));
	uint64_t took = pb_mono_ns() - t0;
	assert_true(took >= 100 * PB_NSEC_PER_MSEC);
	assert_true(e->b.last_was_up);
	assert_non_null(strstr(e->b.reason, "heartbeat timeout"));
	/* It got heartbeats meanwhile, then ERROR timeout. */
	int hbs = 0;
	for (;;) {
		raw_recv(e, fd, &rx, &m);
		if (m.type != PB_WIRE_T_HEARTBEAT)
			break;
		hbs++;
	}
	assert_true(hbs >= 3);
	assert_int_equal(m.type, PB_WIRE_T_ERROR);
	assert_int_equal(m.error.code, PB_WIRE_E_TIMEOUT);
	close(fd);
}

static void
test_handshake_timeout(void **state)
{
	struct env *e = *state;
	int fd = raw_connect(e->port);

	e->cb.handshake_timeout_ms = 100;
	assert_true(run_for_cond(e->loop, 2000, b_down, e));
	assert_non_null(strstr(e->b.reason, "handshake timeout"));
	assert_false(e->b.last_was_up);
	close(fd);
}

static bool a_ups2(struct env *e) { return e->a.ups >= 2; }
static bool a_reconnects3(struct env *e)
{
	return stats(e->a.link).reconnects >= 3;
}

static void
test_reconnect(void **state)
{
	struct env *e = *state;
	uint16_t port = e->port;

	e->ca.backoff_min_ms = 20;
	e->ca.backoff_max_ms = 100;
	dial(e, PB_LINK_SENDER, "127.0.0.1");
	assert_true(run_for_cond(e->loop, 2000, both_up, e));
	/* The listening node goes away. */
	pb_listener_close(e->lst);
	e->lst = NULL;
	pb_link_close(e->b.link, "node stops");
	e->b.link = NULL;
	assert_true(run_for_cond(e->loop, 2000, a_down, e));
	assert_true(e->a.last_was_up);
	uint64_t t0 = pb_mono_ns();
	assert_true(run_for_cond(e->loop, 3000, a_reconnects3, e));
	/* Backoff: 20, 40, 80 ms +-20% at least between the attempts. */
	assert_true(pb_mono_ns() - t0 >= 100 * PB_NSEC_PER_MSEC);
	assert_non_null(strstr(e->a.reason, "refused"));
	assert_false(e->a.last_was_up);
	assert_true(e->a.downs >= 3);
	/* It comes back on the same port. */
	env_listen(e, port);
	assert_true(run_for_cond(e->loop, 2000, a_ups2, e));
	assert_int_equal(stats(e->a.link).connects, 2);
	assert_int_equal(pb_link_state(e->a.link), PB_LINK_UP);
}

static bool a_ups2_b(struct env *e) { return e->a.ups >= 2 && e->b.link != NULL && e->b.ups > 0; }

/* A tier behind one dialer: a dead first address is skipped, and when the
 * receiver in use goes away the link moves on (wrapping) to the next. */
static void
test_failover(void **state)
{
	struct env *e = *state;
	struct pb_listener *first;
	uint16_t port_b = e->port, port_a;
	char err[128], want[64];

	e->ca.backoff_min_ms = 20;
	e->ca.backoff_max_ms = 100;
	/* A port with nobody on it: the listener's, closed again. */
	first = e->lst;
	env_listen(e, 0);
	port_a = e->port;
	pb_listener_close(e->lst);
	e->lst = first;
	dial(e, PB_LINK_SENDER, "127.0.0.1");
	assert_int_equal(pb_link_add_address(e->a.link, "127.0.0.1", port_b, err, sizeof(err)), 0);
	assert_true(run_for_cond(e->loop, 3000, both_up, e));
	assert_int_equal(stats(e->a.link).addr_index, 1);
	assert_int_equal(stats(e->a.link).failovers, 0);   /* a first connection */
	snprintf(want, sizeof(want), "127.0.0.1:%u", port_b);
	assert_string_equal(pb_link_peer_addr(e->a.link), want);
	/* Only before the first attempt. */
	assert_int_equal(pb_link_add_address(e->a.link, "127.0.0.1", 1, err, sizeof(err)), -1);

	/* The receiver in use dies; the first address comes alive. */
	env_listen(e, port_a);
	pb_listener_close(first);
	pb_link_close(e->b.link, "node dies");
	e->b.link = NULL;
	e->b.ups = 0;
	assert_true(run_for_cond(e->loop, 3000, a_ups2_b, e));
	assert_int_equal(stats(e->a.link).addr_index, 0);
	assert_int_equal(stats(e->a.link).failovers, 1);
	snprintf(want, sizeof(want), "127.0.0.1:%u", port_a);
	assert_string_equal(pb_link_peer_addr(e->a.link), want);
}

static void
test_resolve_name(void **state)
{
	struct env *e = *state;

	/* localhost may resolve to ::1 first: failed attempts rotate. */
	e->ca.backoff_min_ms = 20;
	dial(e, PB_LINK_SENDER, "localhost");
	assert_true(run_for_cond(e->loop, 3000, both_up, e));
	assert_int_equal(strncmp(stats(e->a.link).peer_addr, "127.0.0.1:", 10), 0);
	pb_link_close(e->a.link, "end");
	e->a.link = NULL;
	/* An unresolvable name fails the attempt, the link retries. */
	dial(e, PB_LINK_SENDER, "no-such-host.invalid");
	assert_true(run_for_cond(e->loop, 5000, a_down, e));
	/* (A resolver that never answers ends in the connect timeout.) */
	assert_true(strstr(e->a.reason, "cannot resolve") != NULL ||
	    strstr(e->a.reason, "connect timeout") != NULL);
	assert_int_equal(e->a.ups, 1);
}

static void
test_reentrant_drop(void **state)
{
	struct env *e = *state;

	e->a.pump = pump_new(1000);
	e->b.dropped_at = 10;
	e->close_lst_on_accept = true;
	dial(e, PB_LINK_SENDER, "127.0.0.1");
	assert_true(run_for_cond(e->loop, 2000, both_up, e));
	pb_link_kick(e->a.link);
	assert_true(run_for_cond(e->loop, 2000, b_down, e));
	run_ms(e->loop, 50);
	assert_int_equal(e->b.recs, 10);
	assert_int_equal(e->b.downs, 1);
	assert_false(e->b.nested_down);
	assert_true(e->b.last_was_up);
	assert_string_equal(e->b.reason, "test drop");
	assert_int_equal(stats(e->b.link).protocol_errors, 1);
	assert_int_equal(pb_link_state(e->b.link), PB_LINK_CLOSED);
	/* The sender saw the ERROR (or the close) and is reconnecting. */
	assert_true(run_for_cond(e->loop, 2000, a_down, e));
	assert_int_equal(e->a.downs_up, 1);
	pb_link_drop(e->b.link, PB_WIRE_E_UNEXPECTED, "again"); /* no-op when closed */
	assert_int_equal(e->b.downs, 1);
}

static void
test_reentrant_close(void **state)
{
	struct env *e = *state;

	e->a.pump = pump_new(1000);
	e->b.closed_at = 3;
	e->close_lst_on_accept = true;
	dial(e, PB_LINK_SENDER, "127.0.0.1");
	assert_true(run_for_cond(e->loop, 2000, both_up, e));
	pb_link_kick(e->a.link);
	assert_true(run_for_cond(e->loop, 2000, a_down, e));
	assert_null(e->b.link);
	assert_int_equal(e->b.recs, 3);
	assert_int_equal(e->b.downs, 0);
	assert_non_null(strstr(e->a.reason, "shutdown"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auth_vector),
		cmocka_unit_test_setup_teardown(test_up_psk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_psk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_psk_one_side, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unauthenticated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_role_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_then_good, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reflected_nonce, setup, teardown),
		cmocka_unit_test_setup_teardown(test_optional_before_auth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pump, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pump_own_boundaries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heartbeat_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handshake_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reentrant_drop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reentrant_close, setup, teardown),
	};
	return cmocka_run_group_tests_name("peer_link", tests, NULL, NULL);
}
