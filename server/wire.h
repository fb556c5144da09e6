/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_WIRE_H
#define PB_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

/*
 * The packetbroker wire codec: framing of the node-to-node TCP tunnel.
 * schema/wire-protocol.md is the specification; this is its C binding.
 *
 * Every message is an 8-byte header {u16 magic, u8 version, u8 type,
 * u32 body length} followed by the body. All integers are big-endian.
 * Encoders write into a caller buffer (no allocation) and return the
 * message size like snprintf: the message is written only when it fits,
 * and 0 means the input cannot be encoded. The decoder is zero copy:
 * string and frame pointers in a decoded message point into the input.
 */

#define PB_WIRE_MAGIC 0x5042u   /* "PB" */
#define PB_WIRE_VERSION 1u      /* highest version this code speaks */
#define PB_WIRE_MIN_VERSION 1u  /* lowest version this code speaks */

#define PB_WIRE_HDR_LEN 8u
#define PB_WIRE_MAX_BODY 131072u /* larger is a protocol error */
#define PB_WIRE_MAX_MSG (PB_WIRE_HDR_LEN + PB_WIRE_MAX_BODY)

/* Body sizes of the fixed-layout messages (HELLO: at least this much). */
#define PB_WIRE_NONCE_LEN 32u
#define PB_WIRE_MAC_LEN 32u     /* HMAC-SHA256 */
#define PB_WIRE_HELLO_LEN 48u
#define PB_WIRE_AUTH_LEN PB_WIRE_MAC_LEN
#define PB_WIRE_WELCOME_LEN 16u
#define PB_WIRE_ACK_LEN 8u
#define PB_WIRE_HEARTBEAT_LEN 16u
#define PB_WIRE_DLQ_NOTICE_LEN 20u

/* RECORD body: fixed part, then ntrailers and nhops entries, then the frame. */
#define PB_WIRE_REC_FIXED_LEN 52u
#define PB_WIRE_REC_TRAILER_LEN 20u
#define PB_WIRE_REC_HOP_LEN 24u
#define PB_WIRE_REC_MAX_BODY (PB_WIRE_REC_FIXED_LEN + \
	PB_MAX_TRAILERS * PB_WIRE_REC_TRAILER_LEN + \
	PB_MAX_HOPS * PB_WIRE_REC_HOP_LEN + PB_FRAME_CAP)

/* Text limits in bytes (UTF-8, no NUL). */
#define PB_WIRE_MAX_NAME 255u
#define PB_WIRE_MAX_DESCR 1024u
#define PB_WIRE_MAX_TEXT 1024u

/* Message types. 1..127 are mandatory: an unknown one is a protocol
 * error. 128..255 are optional: an unknown one is skipped. */
enum pb_wire_type {
	PB_WIRE_T_HELLO = 1,
	PB_WIRE_T_AUTH = 2,
	PB_WIRE_T_WELCOME = 3,
	PB_WIRE_T_NODE = 4,
	PB_WIRE_T_SOURCE = 5,
	PB_WIRE_T_RECORD = 6,
	PB_WIRE_T_ACK = 7,
	PB_WIRE_T_HEARTBEAT = 8,
	PB_WIRE_T_DLQ_NOTICE = 9,
	PB_WIRE_T_ERROR = 10,
	PB_WIRE_T_OPTIONAL = 128, /* first optional type */
};

/* HELLO flags: what the sender will do on this connection. */
#define PB_WIRE_HELLO_SEND 0x0001u /* sends RECORDs */
#define PB_WIRE_HELLO_RECV 0x0002u /* accepts RECORDs */

/* DLQ_NOTICE reasons. */
enum pb_wire_dlq_reason {
	PB_WIRE_DLQ_QUEUE_FULL = 1,
	PB_WIRE_DLQ_EXPIRED = 2,
	PB_WIRE_DLQ_REJECTED = 3,
	/* Acknowledged by another receiver of a tier on an earlier connection
	 * (failover): in custody there, never sent here. */
	PB_WIRE_DLQ_RELEASED = 4,
};

/* Error codes: in ERROR messages and in pb_wire_msg.errcode. */
enum pb_wire_errcode {
	PB_WIRE_E_NONE = 0,
	PB_WIRE_E_MALFORMED = 1,  /* body does not follow its layout */
	PB_WIRE_E_MAGIC = 2,      /* not a packetbroker stream */
	PB_WIRE_E_VERSION = 3,    /* unsupported / no common version */
	PB_WIRE_E_TYPE = 4,       /* unknown mandatory type */
	PB_WIRE_E_OVERSIZE = 5,   /* body length above the limit */
	PB_WIRE_E_AUTH = 6,       /* MAC did not verify */
	PB_WIRE_E_NODE_ID = 7,    /* node id 0, own id, or already connected */
	PB_WIRE_E_UNEXPECTED = 8, /* message not allowed in this state */
	PB_WIRE_E_SHUTDOWN = 9,   /* peer is going away */
	PB_WIRE_E_TIMEOUT = 10,   /* handshake or heartbeat timeout */
	PB_WIRE_E_INTERNAL = 11,
};

/* A length-prefixed string: not NUL-terminated. */
struct pb_wire_str {
	const char *ptr;
	uint16_t len;
};

struct pb_wire_hello {
	uint8_t min_version;
	uint8_t max_version;
	uint16_t flags;    /* PB_WIRE_HELLO_*; unknown bits ignored */
	uint32_t node_id;  /* never 0 */
	uint64_t epoch;    /* changes when the sender's link seqs restart */
	uint8_t nonce[PB_WIRE_NONCE_LEN];
};

struct pb_wire_auth {
	uint8_t mac[PB_WIRE_MAC_LEN];
};

struct pb_wire_welcome {
	uint64_t resume_seq;   /* last link seq in custody from the peer, 0 none */
	uint32_t heartbeat_ms; /* this side's heartbeat interval, 0 none */
	uint32_t flags;        /* none defined; unknown bits ignored */
};

struct pb_wire_node {
	uint32_t node_id;
	struct pb_wire_str name;
	struct pb_wire_str descr;
};

struct pb_wire_source {
	uint32_t node_id;
	uint16_t source_id;
	uint16_t linktype;
	struct pb_wire_str name;
	struct pb_wire_str descr;
};

struct pb_wire_ack {
	uint64_t link_seq; /* everything up to and including it is in custody */
};

struct pb_wire_heartbeat {
	uint64_t ts_ns;   /* sender's clock */
	uint64_t echo_ns; /* ts_ns of the last HEARTBEAT received, 0 none */
};

struct pb_wire_dlq_notice {
	uint64_t first_seq; /* inclusive, >= 1 */
	uint64_t last_seq;  /* inclusive, >= first_seq */
	uint32_t reason;    /* enum pb_wire_dlq_reason */
};

struct pb_wire_error {
	uint16_t code;      /* enum pb_wire_errcode */
	struct pb_wire_str text;
};

/* A decoded message (or, for pb_wire_encode, one to encode). */
struct pb_wire_msg {
	uint8_t type;     /* enum pb_wire_type */
	uint8_t version;
	uint16_t errcode; /* enum pb_wire_errcode after PB_WIRE_ERROR */
	uint32_t length;  /* body length from the header */
	size_t size;      /* whole message; after NEED_MORE: bytes needed */
	union {
		struct pb_wire_hello hello;
		struct pb_wire_auth auth;
		struct pb_wire_welcome welcome;
		struct pb_wire_node node;
		struct pb_wire_source source;
		struct pb_wire_ack ack;
		struct pb_wire_heartbeat heartbeat;
		struct pb_wire_dlq_notice dlq;
		struct pb_wire_error error;
		struct {
			uint64_t link_seq;
			struct pb_record record; /* record.data points into the input */
		};
	};
};

enum pb_wire_status {
	PB_WIRE_OK = 0,        /* one message decoded, *consumed bytes */
	PB_WIRE_NEED_MORE = 1, /* incomplete: *consumed = 0, need msg->size bytes */
	PB_WIRE_SKIP = 2,      /* unknown optional type skipped, *consumed bytes */
	PB_WIRE_ERROR = 3,     /* protocol error: close the connection */
};

/*
 * Decodes the first message of buf[0..len). On PB_WIRE_OK and PB_WIRE_SKIP
 * *consumed is the message size; on PB_WIRE_NEED_MORE it is 0 and
 * msg->size says how many bytes the message needs in total (at least
 * PB_WIRE_HDR_LEN while the header is incomplete); on PB_WIRE_ERROR it is
 * 0, msg->errcode is set and err (if not NULL) names the problem. Header
 * errors are reported as soon as the header bytes are there, before the
 * body arrived. Pointers in msg stay valid as long as buf does.
 */
enum pb_wire_status pb_wire_decode(const uint8_t *buf, size_t len, struct pb_wire_msg *msg,
    size_t *consumed, char *err, size_t errlen);

/* Size of the RECORD message for rec (header included); rec must be valid. */
size_t pb_wire_record_size(const struct pb_record *rec);

/*
 * Encodes rec as a RECORD with link_seq (>= 1). Returns the message size
 * and writes it when it is <= buflen; returns 0 (writes nothing) when
 * the record is invalid: caplen > PB_FRAME_CAP, ntrailers > PB_MAX_TRAILERS,
 * nhops > PB_MAX_HOPS, a trailer with valid > 1, a valid trailer
 * outside the frame, or link_seq 0.
 */
size_t pb_wire_encode_record(uint8_t *buf, size_t buflen, const struct pb_record *rec,
    uint64_t link_seq);

/* Same, without the frame bytes: returns the size of everything before
 * them (the message size minus caplen) so a sender can writev() the header
 * and rec->data without copying the frame. */
size_t pb_wire_encode_record_hdr(uint8_t *buf, size_t buflen, const struct pb_record *rec,
    uint64_t link_seq);

/* Encoders of the other types, same return convention. 0 = invalid input
 * (string too long or not UTF-8 / contains NUL, node id 0, bad version
 * range, DLQ range empty...). */
size_t pb_wire_encode_hello(uint8_t *buf, size_t buflen, const struct pb_wire_hello *m);
size_t pb_wire_encode_auth(uint8_t *buf, size_t buflen, const struct pb_wire_auth *m);
size_t pb_wire_encode_welcome(uint8_t *buf, size_t buflen, const struct pb_wire_welcome *m);
size_t pb_wire_encode_node(uint8_t *buf, size_t buflen, const struct pb_wire_node *m);
size_t pb_wire_encode_source(uint8_t *buf, size_t buflen, const struct pb_wire_source *m);
size_t pb_wire_encode_ack(uint8_t *buf, size_t buflen, const struct pb_wire_ack *m);
size_t pb_wire_encode_heartbeat(uint8_t *buf, size_t buflen, const struct pb_wire_heartbeat *m);
size_t pb_wire_encode_dlq_notice(uint8_t *buf, size_t buflen, const struct pb_wire_dlq_notice *m);
size_t pb_wire_encode_error(uint8_t *buf, size_t buflen, const struct pb_wire_error *m);

/* Dispatches on msg->type (RECORD uses msg->link_seq and msg->record).
 * Returns 0 for an unknown type. */
size_t pb_wire_encode(uint8_t *buf, size_t buflen, const struct pb_wire_msg *msg);

/*
 * The bytes an AUTH MAC is computed over (HMAC-SHA256 keyed with the
 * pre-shared key): "packetbroker auth v1" || signer node id || verifier
 * node id || verifier nonce || signer nonce. The signer sends AUTH, the
 * verifier checks it. Writes PB_WIRE_AUTH_INPUT_LEN bytes.
 */
#define PB_WIRE_AUTH_LABEL "packetbroker auth v1"
#define PB_WIRE_AUTH_INPUT_LEN (sizeof(PB_WIRE_AUTH_LABEL) - 1 + 4 + 4 + \
	2 * PB_WIRE_NONCE_LEN)
void pb_wire_auth_input(uint8_t out[PB_WIRE_AUTH_INPUT_LEN], uint32_t signer_node,
    const uint8_t signer_nonce[PB_WIRE_NONCE_LEN], uint32_t verifier_node,
    const uint8_t verifier_nonce[PB_WIRE_NONCE_LEN]);

/* "RECORD", ...; "OPTIONAL" for an unknown type >= 128, "UNKNOWN" otherwise. */
const char *pb_wire_type_name(unsigned type);
/* "malformed", "auth", ...; "unknown" otherwise. */
const char *pb_wire_errcode_name(unsigned code);
/* "ok", "need-more", "skip", "error". */
const char *pb_wire_status_name(enum pb_wire_status st);

#endif
