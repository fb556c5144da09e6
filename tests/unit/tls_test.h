/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_TLS_TEST_H
#define PB_TLS_TEST_H

/*
 * Certificates made at test time with the libcrypto API (no openssl
 * binary needed): CAs and node certificates with P-256 keys, written as
 * PEM into a temporary directory. Include once per test program.
 */

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

struct fx_id {
	EVP_PKEY *key;
	X509 *cert;
};

static inline EVP_PKEY *
fx_key(void)
{
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
	EVP_PKEY *k = NULL;

	if (pc == NULL || EVP_PKEY_keygen_init(pc) != 1 ||
	    EVP_PKEY_CTX_set_ec_paramgen_curve_nid(pc, NID_X9_62_prime256v1) != 1 ||
	    EVP_PKEY_keygen(pc, &k) != 1)
		abort();
	EVP_PKEY_CTX_free(pc);
	return k;
}

static inline void
fx_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v;
	X509_EXTENSION *e;

	X509V3_set_ctx(&v, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	if ((e = X509V3_EXT_nconf_nid(NULL, &v, nid, value)) == NULL || X509_add_ext(x, e, -1) != 1)
		abort();
	X509_EXTENSION_free(e);
}

/*
 * A certificate for key, signed by ca (NULL: self-signed CA). san: the
 * subjectAltName value ("URI:urn:packetbroker:node:5"), NULL for none.
 * Valid from now + from_s to now + to_s seconds.
 */
static inline X509 *
fx_cert(EVP_PKEY *key, const char *cn, const char *san, const struct fx_id *ca, long from_s,
    long to_s)
{
	X509 *x = X509_new();
	uint64_t serial;

	if (x == NULL || RAND_bytes((unsigned char *)&serial, sizeof(serial)) != 1)
		abort();
	X509_set_version(x, 2);
	ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial >> 1);
	X509_gmtime_adj(X509_getm_notBefore(x), from_s);
	X509_gmtime_adj(X509_getm_notAfter(x), to_s);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, ca != NULL ? X509_get_subject_name(ca->cert) :
	    X509_get_subject_name(x));
	X509_set_pubkey(x, key);
	if (ca == NULL) {
		fx_ext(x, NULL, NID_basic_constraints, "critical,CA:TRUE");
		fx_ext(x, NULL, NID_key_usage, "critical,keyCertSign,cRLSign");
		fx_ext(x, NULL, NID_subject_key_identifier, "hash");
	} else {
		fx_ext(x, ca->cert, NID_basic_constraints, "critical,CA:FALSE");
		fx_ext(x, ca->cert, NID_authority_key_identifier, "keyid:always");
	}
	if (san != NULL)
		fx_ext(x, ca != NULL ? ca->cert : NULL, NID_subject_alt_name, san);
	if (X509_sign(x, ca != NULL ? ca->key : key, EVP_sha256()) == 0)
		abort();
	return x;
}

static inline struct fx_id
fx_ca(const char *cn)
{
	struct fx_id id = { fx_key(), NULL };
	id.cert = fx_cert(id.key, cn, NULL, NULL, -60, 86400);
	return id;
}

/* A node certificate naming node (0: no node URI) with a new key. */
static inline struct fx_id
fx_node(const struct fx_id *ca, uint32_t node, long from_s, long to_s)
{
	struct fx_id id = { fx_key(), NULL };
	char cn[64], san[96];
	snprintf(cn, sizeof(cn), "node%u", node);
	snprintf(san, sizeof(san), "URI:urn:packetbroker:node:%u", node);
	id.cert = fx_cert(id.key, cn, node != 0 ? san : NULL, ca, from_s, to_s);
	return id;
}

static inline void
fx_free(struct fx_id *id)
{
	EVP_PKEY_free(id->key);
	X509_free(id->cert);
	id->key = NULL;
	id->cert = NULL;
}

/* "dir/name.ext" into buf; too long for buf is a test bug. */
static inline const char *
fx_path(char *buf, size_t len, const char *dir, const char *name, const char *ext)
{
	int n = snprintf(buf, len, "%s/%s.%s", dir, name, ext);
	if (n < 0 || (size_t)n >= len)
		abort();
	return buf;
}

/* dir/name.crt (cert, then chain when given) and dir/name.key (mode). */
static inline void
fx_write(const char *dir, const char *name, const struct fx_id *id, X509 *chain,
    mode_t key_mode)
{
	char path[PATH_MAX];
	FILE *f;

	if ((f = fopen(fx_path(path, sizeof(path), dir, name, "crt"), "w")) == NULL ||
	    PEM_write_X509(f, id->cert) != 1 || (chain != NULL && PEM_write_X509(f, chain) != 1))
		abort();
	fclose(f);
	unlink(fx_path(path, sizeof(path), dir, name, "key"));
	if ((f = fopen(path, "w")) == NULL || fchmod(fileno(f), key_mode) != 0 ||
	    PEM_write_PrivateKey(f, id->key, NULL, NULL, 0, NULL, NULL) != 1)
		abort();
	fclose(f);
}

#endif
