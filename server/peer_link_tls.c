/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "log.h"
#include "peer_link_int.h"
#include "tls.h"

/*
 * TLS under the link protocol (see tls.h for the identity rules): TCP
 * connect -> TLS handshake, driven by the loop's readiness events -> the
 * usual HELLO/AUTH/WELCOME and the data stream, all as TLS application
 * data.
 *
 * Reads: SSL_read until libssl wants more bytes; with read-ahead libssl
 * may hold whole records the socket no longer signals, so the reader
 * keeps going past its budget while libssl has bytes pending, and a
 * resumed receiver reads at once (peer_link.c).
 *
 * Writes: the iovecs of a flush are copied into a 64 KiB staging buffer
 * and handed to SSL_write from there. libssl requires a write that would
 * block to be retried with the same bytes; the data pump cannot promise
 * that (control messages may be put between two data messages in the
 * meantime), the staging buffer can: its bytes are counted as written
 * (sent(), tx_track) once staged, and nothing is staged until it is empty.
 * Plain TCP links never come here: their writev path is unchanged.
 *
 * The socket BIO is our own so that writes use MSG_NOSIGNAL: libssl's
 * socket BIO uses write(), which raises SIGPIPE on a closed connection.
 */

#define LINK_TLS_STAGE (64u << 10)

enum tls_fail_kind { TLS_CLOSED, TLS_AUTH, TLS_PROTO };

static BIO_METHOD *sock_meth;
static pthread_once_t sock_once = PTHREAD_ONCE_INIT;

static int
sock_write(BIO *b, const char *buf, int len)
{
	ssize_t r = send((int)(intptr_t)BIO_get_data(b), buf, (size_t)len,
	    MSG_NOSIGNAL | MSG_DONTWAIT);

	BIO_clear_retry_flags(b);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		BIO_set_retry_write(b);
	return r < 0 ? -1 : (int)r;
}

static int
sock_read(BIO *b, char *buf, int len)
{
	ssize_t r = recv((int)(intptr_t)BIO_get_data(b), buf, (size_t)len, MSG_DONTWAIT);

	BIO_clear_retry_flags(b);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		BIO_set_retry_read(b);
	return r < 0 ? -1 : (int)r;
}

static long
sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b, (void)num, (void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0; /* unbuffered: nothing to flush */
}

static void
sock_meth_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
	    "packetbroker link socket");

	if (m != NULL && (BIO_meth_set_write(m, sock_write) != 1 ||
	    BIO_meth_set_read(m, sock_read) != 1 || BIO_meth_set_ctrl(m, sock_ctrl) != 1)) {
		BIO_meth_free(m);
		m = NULL;
	}
	sock_meth = m;
}

static bool
alert_is_auth(int alert)
{
	switch (alert) {
	case SSL_AD_BAD_CERTIFICATE:
	case SSL_AD_UNSUPPORTED_CERTIFICATE:
	case SSL_AD_CERTIFICATE_REVOKED:
	case SSL_AD_CERTIFICATE_EXPIRED:
	case SSL_AD_CERTIFICATE_UNKNOWN:
	case SSL_AD_UNKNOWN_CA:
	case SSL_AD_ACCESS_DENIED:
	case SSL_AD_DECRYPT_ERROR:
#ifdef TLS13_AD_CERTIFICATE_REQUIRED
	case TLS13_AD_CERTIFICATE_REQUIRED:
#endif
		return true;
	default:
		return false;
	}
}

/* After these libssl allows no further call on the session. */
static bool
tls_fatal(int err)
{
	return err == SSL_ERROR_SSL || err == SSL_ERROR_SYSCALL;
}

/* Why a libssl call failed: the reason into l->tls_err, its kind into
 * l->tls_kind. Certificate problems, ours or the peer's, are
 * authentication failures; other TLS errors are protocol errors. */
static void
tls_why(struct pb_link *l, int err, int sys_errno, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	int reason = ERR_GET_LIB(e) == ERR_LIB_SSL ? ERR_GET_REASON(e) : 0;
	long vr = SSL_get_verify_result(l->ssl);
	const char *rs = e != 0 ? ERR_reason_error_string(e) : NULL;
	const char *stage = l->tls_up ? "TLS" : "TLS handshake";
	char *out = l->tls_err;
	size_t len = sizeof(l->tls_err);

	l->tls_kind = TLS_PROTO;
	if (tls_fatal(err))
		l->tls_dead = true; /* not even a shutdown */
	if (err == SSL_ERROR_SSL && vr != X509_V_OK) {
		l->tls_kind = TLS_AUTH;
		snprintf(out, len, "%s: peer certificate refused: %s", stage,
		    X509_verify_cert_error_string(vr));
	} else if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
		l->tls_kind = TLS_AUTH;
		snprintf(out, len, "%s: peer sent no certificate", stage);
	} else if (reason > SSL_AD_REASON_OFFSET && alert_is_auth(reason - SSL_AD_REASON_OFFSET)) {
		l->tls_kind = TLS_AUTH;
		snprintf(out, len, "%s: peer refused our certificate (%s)", stage,
		    rs != NULL ? rs : "alert");
	} else if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && sys_errno == 0)
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
	    || reason == SSL_R_UNEXPECTED_EOF_WHILE_READING
#endif
	    ) {
		l->tls_kind = TLS_CLOSED;
		snprintf(out, len, "%sconnection closed by peer", l->tls_up ? "" : "TLS handshake: ");
	} else if (err == SSL_ERROR_SYSCALL) {
		l->tls_kind = TLS_CLOSED;
		snprintf(out, len, "%s: %s", what, strerror(sys_errno));
	} else {
		snprintf(out, len, "%s: %s", stage, rs != NULL ? rs : "error");
	}
	ERR_clear_error();
}

/* Ends the connection with the failure tls_why() recorded. */
static void
tls_end(struct pb_link *l)
{
	char why[sizeof(l->tls_err)];

	memcpy(why, l->tls_err, sizeof(why));
	if (l->tls_kind == TLS_AUTH) {
		l->st.auth_failures++;
		l->auth_counted = true;
	} else if (l->tls_kind == TLS_PROTO) {
		l->st.protocol_errors++;
	}
	link_conn_end(l, 0, "%s", why);
}

int
link_tls_start(struct pb_link *l)
{
	BIO *b = NULL;

	l->tls_up = l->tls_peeked = l->tls_dead = false;
	l->tls_rd_want_out = l->tls_wr_want_in = false;
	l->tls_node = 0;
	l->tls_out_len = l->tls_out_off = 0;
	l->tls_err[0] = '\0';
	pthread_once(&sock_once, sock_meth_init);
	if (sock_meth == NULL || (l->ssl = SSL_new(l->tls_ctx)) == NULL ||
	    (b = BIO_new(sock_meth)) == NULL) {
		SSL_free(l->ssl);
		l->ssl = NULL;
		ERR_clear_error();
		link_conn_end(l, 0, "TLS: cannot create a session (out of memory)");
		return -1;
	}
	BIO_set_data(b, (void *)(intptr_t)l->fd);
	BIO_set_init(b, 1);
	SSL_set_bio(l->ssl, b, b);
	if (l->st.dialer)
		SSL_set_connect_state(l->ssl);
	else
		SSL_set_accept_state(l->ssl);
	return 0;
}

/* Before libssl reads: a peer that starts with "PB" speaks the protocol in
 * the clear. 0 go on, 1 wait for (more) bytes, -1 connection ended. */
static int
tls_peek_plain(struct pb_link *l)
{
	uint8_t b[2];
	ssize_t r = recv(l->fd, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);

	/* Nothing yet: an acceptor waits for the first bytes, since libssl
	 * reading them would take a plain "PB" for a bad record and end the
	 * connection without the ERROR that says why (test_tunnel_tls saw a
	 * plain edge get only "connection closed by peer"). A dialer must
	 * send its ClientHello first. An end of file is libssl's to report. */
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !l->st.dialer)
		return 1;
	if (r <= 0)
		return 0;
	if (b[0] != (PB_WIRE_MAGIC >> 8) || (r == 2 && b[1] != (PB_WIRE_MAGIC & 0xff))) {
		l->tls_peeked = true;
		return 0;
	}
	if (r < 2)
		return 1;
	if (!l->st.dialer) {
		/* Refused in its own protocol, so that it logs why. */
		static const char text[] = "this node requires TLS (auth.tls_cert, tls_key, tls_ca)";
		struct pb_wire_msg m = { .type = PB_WIRE_T_ERROR };
		uint8_t buf[128];
		m.error.code = PB_WIRE_E_AUTH;
		m.error.text.ptr = text;
		m.error.text.len = sizeof(text) - 1;
		size_t n = pb_wire_encode(buf, sizeof(buf), &m);
		if (n > 0 && n <= sizeof(buf)) {
			ssize_t w = send(l->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
			(void)w;
		}
	}
	l->tls_dead = true;
	l->st.auth_failures++;
	l->auth_counted = true;
	link_conn_end(l, 0, "peer speaks packetbroker without TLS (it needs auth.tls_cert,"
	    " tls_key and tls_ca too)");
	return -1;
}

static X509 *
peer_cert(SSL *ssl)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	return SSL_get1_peer_certificate(ssl);
#else
	return SSL_get_peer_certificate(ssl);
#endif
}

/* Handshake done: the verified peer certificate must name a node id. */
static int
tls_established(struct pb_link *l)
{
	X509 *cert = peer_cert(l->ssl);
	char why[160] = "was not verified";

	l->tls_up = true;
	if (cert != NULL && SSL_get_verify_result(l->ssl) == X509_V_OK)
		l->tls_node = pb_tls_cert_node(cert, why, sizeof(why));
	X509_free(cert);
	if (l->tls_node == 0) {
		l->st.auth_failures++;
		l->auth_counted = true;
		link_conn_end(l, PB_WIRE_E_NODE_ID, "TLS: peer certificate %s", why);
		return -1;
	}
	log_debug("link", "peer %s (%s): %s %s, certificate of node %u", l->st.name,
	    l->st.peer_addr, SSL_get_version(l->ssl), SSL_get_cipher_name(l->ssl), l->tls_node);
	return 1;
}

int
link_tls_handshake(struct pb_link *l)
{
	if (!l->tls_peeked) {
		int p = tls_peek_plain(l);
		if (p < 0)
			return -1;
		if (p > 0) {
			link_set_events(l, false);
			return 0;
		}
	}
	ERR_clear_error();
	errno = 0;
	int r = SSL_do_handshake(l->ssl);
	if (r == 1)
		return tls_established(l);
	int se = errno, err = SSL_get_error(l->ssl, r);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
		link_set_events(l, err == SSL_ERROR_WANT_WRITE);
		return 0;
	}
	tls_why(l, err, se, "handshake");
	tls_end(l);
	return -1;
}

ssize_t
link_tls_read(struct pb_link *l, uint8_t *buf, size_t len, bool *drained)
{
	size_t got = 0;

	*drained = false;
	l->tls_rd_want_out = false;
	if (l->tls_err[0] != '\0') {
		tls_end(l); /* the failure that followed the last bytes handed over */
		return -1;
	}
	while (got < len) {
		size_t want = len - got < INT_MAX ? len - got : INT_MAX;
		ERR_clear_error();
		errno = 0;
		int n = SSL_read(l->ssl, buf + got, (int)want);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		int se = errno, err = SSL_get_error(l->ssl, n);
		if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
			if (err == SSL_ERROR_WANT_WRITE) {
				l->tls_rd_want_out = true;
				link_set_events(l, true);
			}
			*drained = true;
			break;
		}
		tls_why(l, err, se, "read");
		/* Bytes before the failure (an ERROR, say) are handled first. */
		if (got > 0)
			break;
		tls_end(l);
		return -1;
	}
	return (ssize_t)got;
}

bool
link_tls_pending(const struct pb_link *l)
{
	/* A held-back failure counts: nothing on the socket may report it. */
	return l->ssl != NULL && l->tls_up && (l->tls_err[0] != '\0' ||
	    (!l->tls_dead && SSL_has_pending(l->ssl)));
}

/* Writes the staged bytes: 0 all written, 1 libssl would block, -1 failed
 * (*err, *se: SSL_get_error() and errno). No other side effect. */
static int
stage_write(struct pb_link *l, int *err, int *se)
{
	l->tls_wr_want_in = false;
	while (l->tls_out_off < l->tls_out_len) {
		ERR_clear_error();
		errno = 0;
		/* The same pointer and length as a write that would block. */
		int n = SSL_write(l->ssl, l->tls_out + l->tls_out_off,
		    (int)(l->tls_out_len - l->tls_out_off));
		if (n > 0) {
			l->tls_out_off += (size_t)n;
			continue;
		}
		*se = errno;
		*err = SSL_get_error(l->ssl, n);
		if (*err == SSL_ERROR_WANT_WRITE || *err == SSL_ERROR_WANT_READ) {
			l->tls_wr_want_in = *err == SSL_ERROR_WANT_READ;
			return 1;
		}
		return -1;
	}
	l->tls_out_off = l->tls_out_len = 0;
	return 0;
}

int
link_tls_flush(struct pb_link *l)
{
	int err = 0, se = 0, r = stage_write(l, &err, &se);

	if (r == 0)
		return 0;
	if (r > 0) {
		errno = EAGAIN;
		return -1;
	}
	tls_why(l, err, se, "write");
	tls_end(l);
	errno = ENOTCONN;
	return -1;
}

ssize_t
link_tls_writev(struct pb_link *l, const struct iovec *iov, int n)
{
	size_t taken = 0, o = 0;
	int i = 0;

	if (l->tls_out == NULL && (l->tls_out = malloc(LINK_TLS_STAGE)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	for (;;) {
		if (l->tls_out_len > 0 && link_tls_flush(l) < 0)
			return taken > 0 && errno == EAGAIN ? (ssize_t)taken : -1;
		while (i < n && o == iov[i].iov_len) {
			i++;
			o = 0;
		}
		if (i == n)
			return (ssize_t)taken;
		/* Stage up to 64 KiB (four full records) per SSL_write, not
		 * one small iovec (a RECORD header) per record. */
		while (i < n && l->tls_out_len < LINK_TLS_STAGE) {
			size_t k = iov[i].iov_len - o;
			if (k > LINK_TLS_STAGE - l->tls_out_len)
				k = LINK_TLS_STAGE - l->tls_out_len;
			memcpy(l->tls_out + l->tls_out_len, (const uint8_t *)iov[i].iov_base + o, k);
			l->tls_out_len += k;
			o += k;
			taken += k;
			if (o == iov[i].iov_len) {
				i++;
				o = 0;
			}
		}
	}
}

void
link_tls_close(struct pb_link *l, const uint8_t *last, size_t len)
{
	int err = 0, se = 0;

	if (l->ssl == NULL)
		return;
	/* Best effort and without waiting: the socket is closed next. */
	if (l->tls_up && !l->tls_dead) {
		bool ok = stage_write(l, &err, &se) >= 0 || !tls_fatal(err);
		/* last only after every staged byte, or the stream is garbled. */
		if (ok && l->tls_out_len == 0 && len > 0) {
			ERR_clear_error();
			int n = SSL_write(l->ssl, last, len < INT_MAX ? (int)len : INT_MAX);
			ok = n > 0 || !tls_fatal(SSL_get_error(l->ssl, n));
		}
		if (ok)
			(void)SSL_shutdown(l->ssl); /* close_notify: not a truncation */
	}
	ERR_clear_error();
	SSL_free(l->ssl);
	l->ssl = NULL;
	l->tls_up = false;
	l->tls_out_len = l->tls_out_off = 0;
	l->tls_err[0] = '\0';
}

void
link_tls_release(struct pb_link *l)
{
	SSL_free(l->ssl);
	l->ssl = NULL;
	SSL_CTX_free(l->tls_ctx);
	l->tls_ctx = NULL;
	free(l->tls_out);
	l->tls_out = NULL;
}
