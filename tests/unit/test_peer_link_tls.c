/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "clock.h"
#include "loop.h"
#include "peer_link.h"
#include "tls.h"
#include "wire.h"

#include "tls_test.h"

/*
 * Links over TLS (server/peer_link_tls.c), both ends in one loop over
 * 127.0.0.1, with certificates made at start: records flow; a wrong CA, an
 * expired certificate, no client certificate, a certificate naming another
 * node than the HELLO, and a plain peer are refused and counted. Also
 * measures records/s and MB/s over loopback, TLS against plain TCP
 * (PB_LINK_BENCH_MB=n for a longer run).
 */

#define NODE_A 1u /* dialer */
#define NODE_B 2u /* listener */

static char dir[PATH_MAX];
static struct fx_id ca, ca2, id_a, id_b, id_a_ca2, id_b_ca2, id_5, id_a_old, id_a_anon;
/* pb_tls contexts: a, b; a from the other CA; b from the other CA; node 5. */
static struct pb_tls *tls_a, *tls_b, *tls_a_ca2, *tls_b_ca2, *tls_5;

struct pump {
	uint8_t *buf;
	size_t len, pos, *off, nmsg, cur;
};

struct side {
	struct pb_link *link;
	int ups, downs, recs, nodes, acks, pause_every, node_every, nodes_queued;
	bool last_was_up, paused, full_check;
	uint64_t next_seq, ack_every, caplen;
	char reason[256];
	struct pump *pump;
};

struct env {
	struct pb_loop *loop;
	struct pb_listener *lst;
	uint16_t port;
	struct pb_link_cfg ca, cb;
	struct side a, b;
};

static uint8_t
rec_byte(uint64_t seq, uint32_t i)
{
	return (uint8_t)(seq * 31 + i * 7);
}

static void
side_up(struct pb_link *l, const struct pb_wire_hello *peer, void *arg)
{
	((struct side *)arg)->ups++;
}

static void
side_msg(struct pb_link *l, struct pb_wire_msg *m, void *arg)
{
	struct side *s = arg;

	if (m->type == PB_WIRE_T_NODE) {
		s->nodes++;
		return;
	}
	if (m->type == PB_WIRE_T_ACK) {
		s->acks++;
		return;
	}
	assert_int_equal(m->type, PB_WIRE_T_RECORD);
	assert_int_equal(m->link_seq, s->next_seq);
	assert_int_equal(m->record.caplen, s->caplen);
	uint32_t n = m->record.caplen;
	for (uint32_t i = 0; i < n; i = s->full_check || i + 1 == n ? i + 1 : n - 1)
		if (m->record.data[i] != rec_byte(m->link_seq, i))
			fail_msg("record %llu byte %u", (unsigned long long)m->link_seq, i);
	s->next_seq++;
	s->recs++;
	if (s->ack_every && m->link_seq % s->ack_every == 0) {
		struct pb_wire_msg a = { .type = PB_WIRE_T_ACK };
		a.ack.link_seq = m->link_seq;
		assert_int_equal(pb_link_send_msg(l, &a), 0);
	}
	/* Stop mid-buffer: the rest waits in our buffer and in libssl's. */
	if (s->pause_every && s->recs % s->pause_every == 0) {
		pb_link_pause_rx(l, true);
		s->paused = true;
	}
}

static void
side_down(struct pb_link *l, bool was_up, const char *reason, void *arg)
{
	struct side *s = arg;
	s->downs++;
	s->last_was_up = was_up;
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
}

static int
side_fill(struct pb_link *l, struct iovec *iov, int max, void *arg)
{
	struct pump *p = ((struct side *)arg)->pump;
	int n = 0;

	if (p == NULL)
		return 0;
	/* Each message as a short header part and the rest, like the
	 * resend buffer serves a RECORD and its frame. */
	for (size_t pos = p->pos, mi = p->cur; n < max && mi < p->nmsg;) {
		size_t cut = p->off[mi] + 20, end = p->off[mi + 1];
		size_t stop = pos < cut ? cut : end;
		iov[n].iov_base = p->buf + pos;
		iov[n++].iov_len = stop - pos;
		pos = stop;
		mi += pos == end;
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
	if (s->node_every && p->cur / (size_t)s->node_every != before / (size_t)s->node_every) {
		static const char name[] = "relay";
		struct pb_wire_msg m = { .type = PB_WIRE_T_NODE };
		m.node.node_id = 1000;
		m.node.name.ptr = name;
		m.node.name.len = sizeof(name) - 1;
		assert_int_equal(pb_link_send_msg(l, &m), 0);
		s->nodes_queued++;
	}
}

static const struct pb_link_ops ops = {
	.on_up = side_up, .on_message = side_msg, .on_down = side_down,
	.fill_iov = side_fill, .sent = side_sent,
};

static struct pump *
pump_new(size_t nmsg, uint32_t caplen)
{
	struct pump *p = calloc(1, sizeof(*p));
	uint8_t *frame = malloc(caplen);
	struct pb_record r;

	assert_true(p != NULL && frame != NULL);
	p->off = calloc(nmsg + 1, sizeof(*p->off));
	p->buf = malloc(nmsg * (PB_WIRE_HDR_LEN + PB_WIRE_REC_FIXED_LEN + caplen));
	assert_true(p->off && p->buf);
	for (size_t i = 0; i < nmsg; i++) {
		uint64_t seq = i + 1;
		pb_record_reset(&r);
		r.caplen = r.origlen = caplen;
		for (uint32_t k = 0; k < caplen; k++)
			frame[k] = rec_byte(seq, k);
		r.data = frame;
		r.origin_node = NODE_A;
		r.origin_seq = seq;
		p->off[i] = p->len;
		p->len += pb_wire_encode_record(p->buf + p->len, SIZE_MAX, &r, seq);
	}
	p->off[nmsg] = p->len;
	p->nmsg = nmsg;
	free(frame);
	return p;
}

static void
pump_free(struct pump *p)
{
	if (p != NULL) {
		free(p->buf);
		free(p->off);
		free(p);
	}
}

/* ---- harness ---- */

static void
env_accept(struct pb_listener *lst, int fd, const char *addr, void *arg)
{
	struct env *e = arg;
	char err[128];

	pb_link_close(e->b.link, "next");
	e->b.link = pb_link_accept(e->loop, &e->cb, fd, addr, &ops, &e->b, err, sizeof(err));
	assert_non_null(e->b.link);
}

static int
setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char err[128];

	assert_non_null(e);
	e->loop = pb_loop_new(err, sizeof(err));
	assert_non_null(e->loop);
	/* Long backoff: one attempt per test; valgrind-proof timeouts. */
	e->ca = (struct pb_link_cfg){ .node_id = NODE_A, .epoch = 11, .heartbeat_ms = 50,
		.dead_after_ms = 10000, .backoff_min_ms = 10000, .backoff_max_ms = 10000,
		.handshake_timeout_ms = 5000, .tls = tls_a };
	e->cb = e->ca;
	e->cb.node_id = NODE_B;
	e->cb.epoch = 22;
	e->cb.tls = tls_b;
	e->a.next_seq = e->b.next_seq = 1;
	e->lst = pb_listener_open(e->loop, "127.0.0.1", 0, env_accept, e, err, sizeof(err));
	assert_non_null(e->lst);
	e->port = pb_listener_port(e->lst);
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
	pump_free(e->a.pump);
	free(e);
	return 0;
}

static void
dial(struct env *e)
{
	char err[128];
	e->a.link = pb_link_dial(e->loop, &e->ca, PB_LINK_SENDER, "peer-b", "127.0.0.1", e->port,
	    &ops, &e->a, err, sizeof(err));
	if (e->a.link == NULL)
		fail_msg("%s", err);
}

/* Runs the loop until cond holds, resuming a paused receiver after each
 * round; false on timeout. */
static bool
run_until(struct env *e, int ms, bool (*cond)(struct env *))
{
	uint64_t end = pb_mono_ns() + (uint64_t)ms * PB_NSEC_PER_MSEC;
	while (!cond(e)) {
		if (pb_mono_ns() > end)
			return false;
		pb_loop_run_once(e->loop, 5);
		if (e->b.paused) {
			e->b.paused = false;
			pb_link_pause_rx(e->b.link, false);
		}
	}
	return true;
}

static bool both_up(struct env *e) { return e->a.ups > 0 && e->b.ups > 0; }
static bool both_down(struct env *e) { return e->a.downs > 0 && e->b.downs > 0; }
static bool a_down(struct env *e) { return e->a.downs > 0; }
static bool b_down(struct env *e) { return e->b.downs > 0; }

static struct pb_link_stats
stats(struct pb_link *l)
{
	struct pb_link_stats st;
	pb_link_get_stats(l, &st);
	return st;
}

static bool
pumped(struct env *e)
{
	return e->b.recs == (int)e->a.pump->nmsg && e->b.nodes == e->a.nodes_queued &&
	    pb_link_ctrl_pending(e->a.link) == 0;
}

static double
cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sends n records of caplen bytes a -> b; returns the seconds it took
 * (and the CPU seconds in *cpu). */
static double
pump_run(struct env *e, size_t n, uint32_t caplen, double *cpu)
{
	e->a.pump = pump_new(n, caplen);
	e->b.caplen = caplen;
	dial(e);
	assert_true(run_until(e, 10000, both_up));
	uint64_t t0 = pb_mono_ns();
	double c0 = cpu_s();
	pb_link_kick(e->a.link);
	assert_true(run_until(e, 120000, pumped));
	double s = (double)(pb_mono_ns() - t0) / 1e9;
	if (cpu != NULL)
		*cpu = cpu_s() - c0;
	assert_int_equal(e->b.next_seq, n + 1);
	assert_int_equal(e->a.downs + e->b.downs, 0);
	return s;
}

/* ---- tests ---- */

static void
test_up_and_pump(void **state)
{
	struct env *e = *state;
	enum { N = 20000 };

	e->b.full_check = true;
	e->b.pause_every = 997;
	e->b.ack_every = 500;
	e->a.node_every = 1000;
	pump_run(e, N, 150, NULL);
	struct pb_link_stats sa = stats(e->a.link), sb = stats(e->b.link);
	assert_true(sa.tls && sb.tls);
	assert_int_equal(sa.connects, 1);
	assert_int_equal(sb.peer_node, NODE_A);
	assert_int_equal(sa.peer_node, NODE_B);
	assert_true(sa.bytes_out >= e->a.pump->len);
	assert_int_equal(sa.auth_failures + sb.auth_failures, 0);
	assert_int_equal(sa.protocol_errors + sb.protocol_errors, 0);
	/* ACKs and heartbeats flow back through TLS. */
	uint64_t end = pb_mono_ns() + 200 * PB_NSEC_PER_MSEC;
	while (pb_mono_ns() < end)
		pb_loop_run_once(e->loop, 5);
	assert_int_equal(e->a.acks, N / 500);
	assert_true(stats(e->a.link).rtt_ns > 0);
	/* A close is an ERROR shutdown inside TLS, then close_notify. */
	pb_link_close(e->b.link, "bye");
	e->b.link = NULL;
	assert_true(run_until(e, 5000, a_down));
	assert_true(e->a.last_was_up);
	assert_non_null(strstr(e->a.reason, "peer sent ERROR shutdown: bye"));
}

static void
expect_refused(struct pb_link *l, const char *reason, const char *text, bool auth)
{
	struct pb_link_stats st = stats(l);
	if (strstr(reason, text) == NULL)
		fail_msg("expected \"%s\", got \"%s\"", text, reason);
	assert_int_equal(st.auth_failures, auth ? 1 : 0);
	assert_int_equal(st.state == PB_LINK_UP, false);
}

static void
test_client_other_ca(void **state)
{
	struct env *e = *state;

	e->ca.tls = tls_a_ca2; /* trusts our CA, shows a certificate of another */
	dial(e);
	assert_true(run_until(e, 10000, both_down));
	assert_int_equal(e->a.ups + e->b.ups, 0);
	expect_refused(e->b.link, e->b.reason, "TLS handshake: peer certificate refused:"
	    " unable to get local issuer certificate", true);
	/* TLS 1.3: the client hears of it after its side of the handshake. */
	expect_refused(e->a.link, e->a.reason, "peer refused our certificate (tlsv1 alert"
	    " unknown ca)", true);
}

static void
test_server_other_ca(void **state)
{
	struct env *e = *state;

	e->cb.tls = tls_b_ca2;
	dial(e);
	assert_true(run_until(e, 10000, both_down));
	expect_refused(e->a.link, e->a.reason, "TLS handshake: peer certificate refused:"
	    " unable to get local issuer certificate", true);
	expect_refused(e->b.link, e->b.reason, "peer refused our certificate", true);
}

/* The certificate says node 5, the HELLO says node 1. */
static void
test_node_mismatch(void **state)
{
	struct env *e = *state;

	e->ca.tls = tls_5;
	dial(e);
	assert_true(run_until(e, 10000, both_down));
	assert_int_equal(e->a.ups + e->b.ups, 0);
	expect_refused(e->b.link, e->b.reason, "TLS: certificate names node 5, HELLO claims"
	    " node 1", true);
	assert_non_null(strstr(e->a.reason, "peer sent ERROR node-id"));
}

/* A hand-driven TLS client: cert NULL for none. Returns the SSL after its
 * side of the handshake (fd in *fd), or NULL when it failed. */
static SSL *
raw_tls(struct env *e, const struct fx_id *id, int *fd, SSL_CTX **pctx)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(e->port) };
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;

	assert_non_null(ctx);
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca.cert);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (id != NULL) {
		assert_int_equal(SSL_CTX_use_certificate(ctx, id->cert), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey(ctx, id->key), 1);
	}
	*fd = socket(AF_INET, SOCK_STREAM, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(*fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	fcntl(*fd, F_SETFL, O_NONBLOCK);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, *fd);
	uint64_t end = pb_mono_ns() + 10 * PB_NSEC_PER_SEC;
	int r;
	while ((r = SSL_connect(ssl)) != 1) {
		int err = SSL_get_error(ssl, r);
		if ((err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) ||
		    pb_mono_ns() > end) {
			ERR_clear_error();
			SSL_free(ssl);
			ssl = NULL;
			break;
		}
		pb_loop_run_once(e->loop, 5);
	}
	*pctx = ctx;
	return ssl;
}

static void
raw_refused(struct env *e, const struct fx_id *id, const char *text)
{
	SSL_CTX *ctx;
	int fd;
	SSL *ssl = raw_tls(e, id, &fd, &ctx);

	assert_true(run_until(e, 10000, b_down));
	expect_refused(e->b.link, e->b.reason, text, true);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
}

static void
test_no_client_cert(void **state)
{
	raw_refused(*state, NULL, "TLS handshake: peer sent no certificate");
}

static void
test_expired_client_cert(void **state)
{
	raw_refused(*state, &id_a_old, "TLS handshake: peer certificate refused: certificate"
	    " has expired");
}

static void
test_cert_without_node(void **state)
{
	raw_refused(*state, &id_a_anon, "TLS: peer certificate names no node id");
}

/* A node without TLS meets one with it, both ways round: refused with a
 * clear reason on both sides. */
static void
test_plain_peer(void **state)
{
	struct env *e = *state;

	e->ca.tls = NULL;
	dial(e);
	assert_true(run_until(e, 10000, both_down));
	expect_refused(e->b.link, e->b.reason, "peer speaks packetbroker without TLS", true);
	expect_refused(e->a.link, e->a.reason, "peer sent ERROR auth: this node requires TLS",
	    true);

	pb_link_close(e->a.link, "next");
	e->a.link = NULL;
	e->a.downs = e->b.downs = 0;
	e->ca.tls = tls_a;
	e->cb.tls = NULL;
	dial(e);
	assert_true(run_until(e, 10000, a_down));
	expect_refused(e->a.link, e->a.reason, "peer speaks packetbroker without TLS", true);
	assert_true(run_until(e, 10000, b_down));
	assert_int_equal(e->a.ups + e->b.ups, 0);
}

/* Silence after the TCP connect: the handshake timer covers TLS. */
static void
test_handshake_timeout(void **state)
{
	struct env *e = *state;
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(e->port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	e->cb.handshake_timeout_ms = 100;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_true(run_until(e, 5000, b_down));
	assert_non_null(strstr(e->b.reason, "handshake timeout"));
	close(fd);
}

static double
bench_one(bool tls, size_t n, uint32_t caplen, double *mbps, double *cpu_per_gb)
{
	struct env *e;
	void *st;

	setup(&st);
	e = st;
	if (!tls)
		e->ca.tls = e->cb.tls = NULL;
	e->b.ack_every = 256;
	double cpu, s = pump_run(e, n, caplen, &cpu);
	*mbps = (double)e->a.pump->len / s / 1e6;
	*cpu_per_gb = cpu / ((double)e->a.pump->len / 1e9);
	double rps = (double)n / s;
	teardown(&st);
	return rps;
}

/* One loop runs both ends, so a figure is one core encrypting and
 * decrypting (or copying) the same bytes. */
static void
test_throughput(void **state)
{
	const char *env = getenv("PB_LINK_BENCH_MB");
	uint32_t caplen = 1400;
	size_t mb = env != NULL ? strtoul(env, NULL, 10) : 16;
	size_t n = mb * 1000000 / (caplen + 60);
	double mp, mt, cp, ct;

	(void)state;
	double rp = bench_one(false, n, caplen, &mp, &cp);
	double rt = bench_one(true, n, caplen, &mt, &ct);
	print_message("  %zu records of %u bytes, both ends on one core: plain TCP %.0f"
	    " records/s %.0f MB/s (%.2f CPU s/GB), TLS %.0f records/s %.0f MB/s (%.2f CPU s/GB)\n",
	    n, caplen, rp, mp, cp, rt, mt, ct);
}

static int
group_setup(void **state)
{
	char c[PATH_MAX], k[PATH_MAX], a[PATH_MAX], err[2 * PATH_MAX];
	(void)state;

	snprintf(dir, sizeof(dir), "/tmp/pblinktlsXXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	ca = fx_ca("pb test CA");
	ca2 = fx_ca("another CA");
	id_a = fx_node(&ca, NODE_A, -60, 3600);
	id_b = fx_node(&ca, NODE_B, -60, 3600);
	id_a_ca2 = fx_node(&ca2, NODE_A, -60, 3600);
	id_b_ca2 = fx_node(&ca2, NODE_B, -60, 3600);
	id_5 = fx_node(&ca, 5, -60, 3600);
	id_a_old = fx_node(&ca, NODE_A, -7200, -3600);
	id_a_anon = fx_node(&ca, 0, -60, 3600);
	fx_write(dir, "ca", &ca, NULL, 0600);
	fx_path(a, sizeof(a), dir, "ca", "crt");
	static const struct {
		const char *name;
		struct fx_id *id;
		struct pb_tls **tls;
	} ids[] = {
		{ "a", &id_a, &tls_a }, { "b", &id_b, &tls_b }, { "a_ca2", &id_a_ca2, &tls_a_ca2 },
		{ "b_ca2", &id_b_ca2, &tls_b_ca2 }, { "n5", &id_5, &tls_5 },
	};
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		fx_write(dir, ids[i].name, ids[i].id, NULL, 0600);
		*ids[i].tls = pb_tls_new(fx_path(c, sizeof(c), dir, ids[i].name, "crt"),
		    fx_path(k, sizeof(k), dir, ids[i].name, "key"), a, 0, NULL, err, sizeof(err));
		if (*ids[i].tls == NULL) {
			print_error("%s\n", err);
			return -1;
		}
	}
	return 0;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int
group_teardown(void **state)
{
	struct fx_id *all[] = { &ca, &ca2, &id_a, &id_b, &id_a_ca2, &id_b_ca2, &id_5, &id_a_old,
		&id_a_anon };
	(void)state;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		fx_free(all[i]);
	pb_tls_free(tls_a);
	pb_tls_free(tls_b);
	pb_tls_free(tls_a_ca2);
	pb_tls_free(tls_b_ca2);
	pb_tls_free(tls_5);
	return nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_up_and_pump, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_other_ca, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_other_ca, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_client_cert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired_client_cert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cert_without_node, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_peer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handshake_timeout, setup, teardown),
		cmocka_unit_test(test_throughput),
	};
	return cmocka_run_group_tests_name("peer_link_tls", tests, group_setup, group_teardown);
}
