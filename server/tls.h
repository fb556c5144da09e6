/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_TLS_H
#define PB_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

/*
 * TLS identity of a node (OpenSSL libssl): its certificate, its private
 * key and the CA that signs the certificates of the nodes it talks to,
 * loaded and checked once, at configuration time, into one context that
 * every link shares (the link layer is server/peer_link_tls.c).
 *
 * Identity rule (schema/wire-protocol.md 6.2): a node certificate names
 * its node id in a subjectAltName URI "urn:packetbroker:node:<id>", <id>
 * in decimal, 1..4294967295, without leading zeros ("urn:" and the
 * namespace are compared without case). Every such URI in a certificate
 * must name the same id. A link verifies the peer's chain against the CA
 * in both directions (the listener requires a client certificate), then
 * requires that id to be the one the peer claims in HELLO. There is no
 * host name check: a node is its node id, not the address it was dialled
 * at, and the certificate binds the id.
 *
 * The context allows TLS 1.3 only (no renegotiation exists there),
 * without session tickets or a session cache: every connection verifies
 * the full chain again, and links are long-lived, so resumption would
 * save little.
 */

#define PB_TLS_URN "urn:packetbroker:node:"
/* Longest private key file read (PEM; an RSA 8192 key is about 6.5 KiB). */
#define PB_TLS_KEY_MAX (16u << 10)

/* Which file pb_tls_new() failed on, for the caller's error location. */
enum pb_tls_file { PB_TLS_CERT, PB_TLS_KEY, PB_TLS_CA };

struct pb_tls;

/*
 * Loads and checks:
 *  - cert: PEM, the node certificate first, then any intermediate CAs;
 *    it must be valid now and name exactly one node id, which must be
 *    self (unless self is 0);
 *  - key: PEM, not encrypted (the daemon has no one to ask for a
 *    passphrase); a secret file, read with pb_secret_read() (regular
 *    file, owned by the daemon's user, no group/other bits); it must
 *    match the certificate;
 *  - ca: PEM, one or more CA certificates that peers' chains must end in.
 * NULL with err naming the file and the problem, *bad set to the file.
 */
struct pb_tls *pb_tls_new(const char *cert, const char *key, const char *ca, uint32_t self,
    enum pb_tls_file *bad, char *err, size_t errlen);
/* NULL ok. Links hold their own reference to the SSL_CTX. */
void pb_tls_free(struct pb_tls *t);

/* The node id of the own certificate. */
uint32_t pb_tls_node(const struct pb_tls *t);
/* The context links create their SSL objects from (libssl). */
SSL_CTX *pb_tls_ssl_ctx(const struct pb_tls *t);
/* "CN=edge-1, node 101, valid until Jan  1 00:00:00 2027 GMT" for logs. */
const char *pb_tls_describe(const struct pb_tls *t);

/* The node id a certificate names (rule above); 0 with why ("names no
 * node id", "names nodes 5 and 6"...) when it names none or several. */
uint32_t pb_tls_cert_node(X509 *cert, char *why, size_t whylen);

#endif
