/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_AUTH_H
#define PB_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/*
 * Pre-shared-key authentication of the node-to-node link (OpenSSL
 * libcrypto). A node proves it knows the PSK by sending
 * AUTH = HMAC-SHA256(psk, pb_wire_auth_input(signer = itself, its nonce,
 * verifier = the peer, the peer's nonce)). Both nonces are fresh per
 * connection, so an AUTH can neither be replayed nor reflected.
 */

/* Shortest PSK accepted (bytes); the config layer should refuse less. */
#define PB_AUTH_MIN_PSK 16u
/* Longest PSK accepted (bytes). */
#define PB_AUTH_MAX_PSK 1024u

/* Fills a nonce from the CSPRNG. 0, or -1 when the CSPRNG failed. */
int pb_auth_nonce(uint8_t nonce[PB_WIRE_NONCE_LEN]);

/* Computes the MAC the signer sends. 0, or -1 (psk_len 0 or above
 * PB_AUTH_MAX_PSK, or a libcrypto failure). */
int pb_auth_mac(const uint8_t *psk, size_t psk_len, uint32_t signer_node,
    const uint8_t signer_nonce[PB_WIRE_NONCE_LEN], uint32_t verifier_node,
    const uint8_t verifier_nonce[PB_WIRE_NONCE_LEN], uint8_t mac[PB_WIRE_MAC_LEN]);

/* Checks a MAC received from signer_node in constant time. */
bool pb_auth_verify(const uint8_t *psk, size_t psk_len, uint32_t signer_node,
    const uint8_t signer_nonce[PB_WIRE_NONCE_LEN], uint32_t verifier_node,
    const uint8_t verifier_nonce[PB_WIRE_NONCE_LEN], const uint8_t mac[PB_WIRE_MAC_LEN]);

/* Overwrites key material so the compiler cannot elide it. */
void pb_auth_cleanse(void *p, size_t len);

#endif
