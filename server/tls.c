/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "auth.h"
#include "keyring.h"
#include "tls.h"

struct pb_tls {
	SSL_CTX *ctx;
	uint32_t node;
	char describe[256];
};

/* The most useful OpenSSL reason of the error queue, and empties it. */
static const char *
ossl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	if (r != NULL)
		snprintf(buf, len, "%s", r);
	else if (e != 0)
		snprintf(buf, len, "OpenSSL error %#lx", e);
	else
		snprintf(buf, len, "unknown error");
	ERR_clear_error();
	return buf;
}

static void
asn1_time_str(const ASN1_TIME *t, char *buf, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n = 0;

	if (b != NULL && ASN1_TIME_print(b, t) == 1)
		n = BIO_read(b, buf, (int)len - 1);
	buf[n > 0 ? n : 0] = '\0';
	BIO_free(b);
}

/* "urn:packetbroker:node:" + digits, else 0. */
static uint32_t
urn_node(const unsigned char *s, size_t len, bool *is_urn)
{
	const size_t plen = sizeof(PB_TLS_URN) - 1;
	uint64_t v = 0;

	*is_urn = len >= plen && strncasecmp((const char *)s, PB_TLS_URN, plen) == 0;
	if (!*is_urn || len == plen || len - plen > 10 || s[plen] == '0')
		return 0;
	for (size_t i = plen; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	return v <= UINT32_MAX ? (uint32_t)v : 0;
}

uint32_t
pb_tls_cert_node(X509 *cert, char *why, size_t whylen)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	uint32_t node = 0;
	bool bad = false;

	for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		bool is_urn;
		if (g->type != GEN_URI)
			continue;
		const unsigned char *s = ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
		int len = ASN1_STRING_length(g->d.uniformResourceIdentifier);
		uint32_t v = urn_node(s, len > 0 ? (size_t)len : 0, &is_urn);
		if (!is_urn)
			continue;
		if (v == 0) {
			snprintf(why, whylen, "has an invalid node URI \"%.*s\" (expected "
			    PB_TLS_URN "<1..4294967295>)", len > 80 ? 80 : len, (const char *)s);
			bad = true;
			break;
		}
		if (node != 0 && v != node) {
			/* Two identities in one certificate: neither can be trusted. */
			snprintf(why, whylen, "names several node ids (%u and %u)", node, v);
			bad = true;
			break;
		}
		node = v;
	}
	GENERAL_NAMES_free(names);
	if (bad)
		return 0;
	if (node == 0)
		snprintf(why, whylen, "names no node id (needs subjectAltName URI:" PB_TLS_URN
		    "<id>)");
	return node;
}

/* Leaf first, then the chain; checks dates and the node id. */
static int
load_cert(struct pb_tls *t, const char *path, uint32_t self, char *err, size_t errlen)
{
	char r[160], why[160], when[64], cn[96] = "";
	BIO *b = BIO_new_file(path, "r");
	X509 *leaf = NULL, *x;
	int rc = -1;

	if (b == NULL) {
		snprintf(err, errlen, "cannot open \"%s\": %s", path, strerror(errno));
		ERR_clear_error();
		return -1;
	}
	if ((leaf = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL) {
		snprintf(err, errlen, "\"%s\": no PEM certificate (%s)", path, ossl_reason(r, sizeof(r)));
		goto out;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(leaf)) != 1) {
		asn1_time_str(X509_get0_notAfter(leaf), when, sizeof(when));
		snprintf(err, errlen, "\"%s\" expired on %s", path, when);
		goto out;
	}
	if (X509_cmp_current_time(X509_get0_notBefore(leaf)) != -1) {
		asn1_time_str(X509_get0_notBefore(leaf), when, sizeof(when));
		snprintf(err, errlen, "\"%s\" is not valid before %s", path, when);
		goto out;
	}
	if ((t->node = pb_tls_cert_node(leaf, why, sizeof(why))) == 0) {
		snprintf(err, errlen, "\"%s\" %s", path, why);
		goto out;
	}
	if (self != 0 && t->node != self) {
		snprintf(err, errlen, "\"%s\" names node %u, but this node is node.id %u", path,
		    t->node, self);
		goto out;
	}
	if (SSL_CTX_use_certificate(t->ctx, leaf) != 1) {
		snprintf(err, errlen, "\"%s\": unusable certificate (%s)", path,
		    ossl_reason(r, sizeof(r)));
		goto out;
	}
	/* After the leaf: libssl keeps a chain per certificate slot. */
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (SSL_CTX_add0_chain_cert(t->ctx, x) != 1) {
			X509_free(x);
			snprintf(err, errlen, "\"%s\": bad chain certificate (%s)", path,
			    ossl_reason(r, sizeof(r)));
			goto out;
		}
	}
	ERR_clear_error(); /* the end of the file */
	X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn, sizeof(cn));
	asn1_time_str(X509_get0_notAfter(leaf), when, sizeof(when));
	snprintf(t->describe, sizeof(t->describe), "CN=%s, node %u, valid until %s", cn,
	    t->node, when);
	rc = 0;
out:
	X509_free(leaf);
	BIO_free(b);
	return rc;
}

/* No terminal to ask: an encrypted key is refused, never prompted for. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

static int
load_key(struct pb_tls *t, const char *path, const char *cert, char *err, size_t errlen)
{
	uint8_t *buf = malloc(PB_TLS_KEY_MAX);
	EVP_PKEY *pk = NULL;
	BIO *b;
	size_t n = 0;
	char r[160];
	int rc = -1;

	if (buf == NULL) {
		snprintf(err, errlen, "\"%s\": out of memory", path);
		return -1;
	}
	/* The same rules as every other secret (mode 0600, owner). */
	if (pb_secret_read(path, buf, PB_TLS_KEY_MAX, &n, err, errlen) < 0)
		goto out;
	if ((b = BIO_new_mem_buf(buf, (int)n)) != NULL)
		pk = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL);
	BIO_free(b);
	if (pk == NULL) {
		if (memmem(buf, n, "ENCRYPTED", 9) != NULL)
			snprintf(err, errlen, "\"%s\" is encrypted: the daemon cannot ask for a"
			    " passphrase (openssl pkey -in KEY -out KEY.plain)", path);
		else
			snprintf(err, errlen, "\"%s\": no PEM private key (%s)", path,
			    ossl_reason(r, sizeof(r)));
		ERR_clear_error();
		goto out;
	}
	if (SSL_CTX_use_PrivateKey(t->ctx, pk) != 1 || SSL_CTX_check_private_key(t->ctx) != 1) {
		snprintf(err, errlen, "\"%s\" does not match the certificate \"%s\" (%s)", path, cert,
		    ossl_reason(r, sizeof(r)));
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_free(pk);
	pb_auth_cleanse(buf, PB_TLS_KEY_MAX);
	free(buf);
	return rc;
}

static int
load_ca(struct pb_tls *t, const char *path, char *err, size_t errlen)
{
	X509_STORE *st = SSL_CTX_get_cert_store(t->ctx);
	BIO *b = BIO_new_file(path, "r");
	unsigned n = 0;
	X509 *x;
	char r[160];

	if (b == NULL) {
		snprintf(err, errlen, "cannot open \"%s\": %s", path, strerror(errno));
		ERR_clear_error();
		return -1;
	}
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		int ok = X509_STORE_add_cert(st, x);
		X509_free(x);
		if (ok != 1) {
			snprintf(err, errlen, "\"%s\": certificate %u: %s", path, n + 1,
			    ossl_reason(r, sizeof(r)));
			BIO_free(b);
			return -1;
		}
		n++;
	}
	BIO_free(b);
	if (n == 0) {
		snprintf(err, errlen, "\"%s\": no PEM certificate (%s)", path, ossl_reason(r, sizeof(r)));
		return -1;
	}
	ERR_clear_error();
	return 0;
}

struct pb_tls *
pb_tls_new(const char *cert, const char *key, const char *ca, uint32_t self,
    enum pb_tls_file *bad, char *err, size_t errlen)
{
	struct pb_tls *t = calloc(1, sizeof(*t));
	enum pb_tls_file which = PB_TLS_CERT;

	if (t == NULL || (t->ctx = SSL_CTX_new(TLS_method())) == NULL) {
		snprintf(err, errlen, "TLS: cannot create a context");
		goto fail;
	}
	/* TLS 1.3: no renegotiation, encrypted certificates, forward secrecy. */
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_3_VERSION);
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_num_tickets(t->ctx, 0);
	SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_OFF);
	/* Both roles prove themselves: a listener without a client
	 * certificate to check would let anybody in. */
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_verify_depth(t->ctx, 8);
	/* The write path hands libssl a staging buffer that stays put. */
	SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
	/* Whole socket reads instead of two per record. */
	SSL_CTX_set_read_ahead(t->ctx, 1);
	if (load_cert(t, cert, self, err, errlen) < 0)
		goto fail;
	which = PB_TLS_KEY;
	if (load_key(t, key, cert, err, errlen) < 0)
		goto fail;
	which = PB_TLS_CA;
	if (load_ca(t, ca, err, errlen) < 0)
		goto fail;
	return t;
fail:
	if (bad != NULL)
		*bad = which;
	ERR_clear_error();
	pb_tls_free(t);
	return NULL;
}

void
pb_tls_free(struct pb_tls *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

uint32_t
pb_tls_node(const struct pb_tls *t)
{
	return t->node;
}

SSL_CTX *
pb_tls_ssl_ctx(const struct pb_tls *t)
{
	return t->ctx;
}

const char *
pb_tls_describe(const struct pb_tls *t)
{
	return t->describe;
}
