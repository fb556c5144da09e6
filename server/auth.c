/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "auth.h"

int
pb_auth_nonce(uint8_t nonce[PB_WIRE_NONCE_LEN])
{
	return RAND_bytes(nonce, (int)PB_WIRE_NONCE_LEN) == 1 ? 0 : -1;
}

int
pb_auth_mac(const uint8_t *psk, size_t psk_len, uint32_t signer_node,
    const uint8_t signer_nonce[PB_WIRE_NONCE_LEN], uint32_t verifier_node,
    const uint8_t verifier_nonce[PB_WIRE_NONCE_LEN], uint8_t mac[PB_WIRE_MAC_LEN])
{
	uint8_t in[PB_WIRE_AUTH_INPUT_LEN];
	unsigned int maclen = 0;

	if (psk == NULL || psk_len == 0 || psk_len > PB_AUTH_MAX_PSK)
		return -1;
	pb_wire_auth_input(in, signer_node, signer_nonce, verifier_node, verifier_nonce);
	/* One-shot HMAC(): not deprecated in OpenSSL 3 and no context to leak. */
	if (HMAC(EVP_sha256(), psk, (int)psk_len, in, sizeof(in), mac, &maclen) == NULL ||
	    maclen != PB_WIRE_MAC_LEN)
		return -1;
	return 0;
}

bool
pb_auth_verify(const uint8_t *psk, size_t psk_len, uint32_t signer_node,
    const uint8_t signer_nonce[PB_WIRE_NONCE_LEN], uint32_t verifier_node,
    const uint8_t verifier_nonce[PB_WIRE_NONCE_LEN], const uint8_t mac[PB_WIRE_MAC_LEN])
{
	uint8_t want[PB_WIRE_MAC_LEN];
	bool ok;

	if (pb_auth_mac(psk, psk_len, signer_node, signer_nonce, verifier_node,
	    verifier_nonce, want) != 0)
		return false;
	ok = CRYPTO_memcmp(want, mac, sizeof(want)) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	return ok;
}

void
pb_auth_cleanse(void *p, size_t len)
{
	if (p != NULL && len > 0)
		OPENSSL_cleanse(p, len);
}
