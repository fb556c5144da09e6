/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * The codec is compiled into this file rather than taken from
 * libpacketbroker.a: the library is not built with
 * -fsanitize=fuzzer-no-link, so libFuzzer would get no coverage feedback
 * from wire.c. Defining every pb_wire_* symbol here also keeps the linker
 * from pulling the archive's uninstrumented wire.o.
 */
#include "wire.c"

/*
 * libFuzzer target for the wire decoder. The input is a TCP byte stream:
 * it is decoded message by message until an error or the end. Every
 * decoded message must re-encode to exactly the bytes it was decoded
 * from (the codec is a bijection on valid messages), every proper prefix
 * of it must ask for more, and skips and errors must be consistent.
 *
 *   CC=clang configure --enable-fuzzer --enable-sanitizers && make tests/fuzz/fuzz_wire
 *   ./tests/fuzz/fuzz_wire -max_total_time=60 -max_len=70000 tests/fuzz/corpus_wire
 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[PB_WIRE_MAX_MSG];

static void
check_ok(const uint8_t *m, size_t used, const struct pb_wire_msg *msg)
{
	struct pb_wire_msg tmp;
	size_t n, u;

	if (used != msg->size || used != PB_WIRE_HDR_LEN + (size_t)msg->length)
		abort();
	n = pb_wire_encode(out, sizeof(out), msg);
	if (msg->type == PB_WIRE_T_HELLO && used > PB_WIRE_HDR_LEN + PB_WIRE_HELLO_LEN) {
		/* A later version's HELLO: the v1 part must match. */
		if (n != PB_WIRE_HDR_LEN + PB_WIRE_HELLO_LEN || memcmp(out, m, 4) != 0 ||
		    memcmp(out + PB_WIRE_HDR_LEN, m + PB_WIRE_HDR_LEN, PB_WIRE_HELLO_LEN) != 0)
			abort();
	} else if (n != used || memcmp(out, m, used) != 0) {
		abort();
	}
	if (msg->type == PB_WIRE_T_RECORD) {
		const struct pb_record *r = &msg->record;
		/* Zero copy: the frame is the tail of the message. */
		if (r->caplen > 0 && r->data != m + used - r->caplen)
			abort();
		size_t h = pb_wire_encode_record_hdr(out, sizeof(out), r, msg->link_seq);
		if (h + r->caplen != used || memcmp(out, m, h) != 0)
			abort();
		if (pb_wire_record_size(r) != used)
			abort();
	}
	/* Any shorter input is merely incomplete. */
	if (pb_wire_decode(m, used - 1, &tmp, &u, NULL, 0) != PB_WIRE_NEED_MORE || u != 0 ||
	    tmp.size != (used - 1 < PB_WIRE_HDR_LEN ? PB_WIRE_HDR_LEN : used))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pb_wire_msg msg;
	char err[160];
	size_t off = 0, used;

	while (off < size) {
		const uint8_t *m = data + off;
		size_t left = size - off;
		err[0] = '\0';
		switch (pb_wire_decode(m, left, &msg, &used, err, sizeof(err))) {
		case PB_WIRE_OK:
			check_ok(m, used, &msg);
			break;
		case PB_WIRE_SKIP:
			if (msg.type < PB_WIRE_T_OPTIONAL || used != msg.size || used > left)
				abort();
			break;
		case PB_WIRE_NEED_MORE:
			if (used != 0 || msg.size <= left || msg.size > PB_WIRE_MAX_MSG)
				abort();
			return 0;
		case PB_WIRE_ERROR:
			if (used != 0 || msg.errcode == PB_WIRE_E_NONE || err[0] == '\0')
				abort();
			return 0;
		default:
			abort();
		}
		off += used;
	}
	return 0;
}
