#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the seed inputs of tests/fuzz/corpus_link (format: fuzz_link.c),
or with --crashes the reproducers of the two bugs it found (now the
regress-* seeds of tests/fuzz/corpus_link).

    python3 tests/fuzz/gen_corpus_link.py tests/fuzz/corpus_link
    python3 tests/fuzz/gen_corpus_link.py --crashes DIR
"""
import os
import struct
import sys


def u64(v):
    return struct.pack(">Q", v & (2**64 - 1))


# Operations (see the comment at the top of fuzz_link.c).
def r_open(slot=0, node=0, epoch=0, variant=0, raw=0):
    return bytes([3, slot, node, epoch, variant]) + u64(raw)


def r_record(slot=0, seqmode=0, seqarg=0, origin=0, hops=0, oseq=0, misc=0, caplen=60):
    return bytes([0, slot, seqmode]) + u64(seqarg) + bytes([origin, hops, oseq, misc, caplen])


def r_notice(slot=0, fmode=0, farg=0, lmode=0, larg=0, reason=1):
    return bytes([1, slot, fmode]) + u64(farg) + bytes([lmode]) + u64(larg) + bytes([reason])


def r_node(slot=0, node=0, name=0, descr=0):
    return bytes([2, slot, node, name, descr])


def r_source(slot=0, node=0, source=0, name=0, descr=0, linktype=1):
    return bytes([4, slot, node, source, name, descr, linktype])


def r_misc(slot=0, kind=0, arg=0):
    return bytes([5, slot, kind]) + u64(arg)


def r_close(slot=0):
    return bytes([6, slot])


def r_batch(slot=0, count=10):
    return bytes([7, slot, count])


def r_jump(slot=0, arg=0):
    return bytes([8, slot]) + u64(arg)


def s_open(slot=0, node=0, rmode=0, rarg=0, variant=0):
    return bytes([9, slot, node, rmode]) + u64(rarg) + bytes([variant])


def s_ack(slot=0, mode=0, arg=0):
    return bytes([15, slot, mode]) + u64(arg)


def s_feed(count=4, caplen=8):
    return bytes([11, count, caplen])


def s_name(kind=0, node=0, name=0, descr=0):
    return bytes([12, kind, node, name, descr])


def s_misc(slot=0, kind=0):
    return bytes([13, slot, kind])


def s_close(slot=0):
    return bytes([14, slot])


def s_feedclose():
    return bytes([10])


SEEDS = {
    # An upstream delivering records, notices and names, then closing.
    "r_session": r_open() + r_record() + r_record() + r_record(caplen=200) +
    r_notice(lmode=2, larg=9) + r_batch(count=20) + r_node(node=0, name=1) +
    r_source(node=0, source=1, name=2) + r_misc(kind=0) + r_misc(kind=2, arg=17) +
    r_record(seqmode=4) + r_close(),
    # Every refusal of a record sender, one per connection.
    "r_refusals": r_open() + r_record(seqmode=5) +
    r_open() + r_record(seqmode=7, seqarg=8) +
    r_open() + r_record(oseq=5) +
    r_open() + r_record(origin=5, hops=0) +
    r_open() + r_notice(fmode=5) +
    r_open() + r_notice(lmode=4) +
    r_open() + r_notice(lmode=5, larg=8) +
    r_open() + r_misc(kind=3, arg=1) +
    r_open() + r_misc(kind=8) +
    r_open(variant=10) + r_open(variant=11) + r_open(variant=13) + r_open(variant=14) +
    r_open(variant=15) + r_open(node=7),
    # Two links: node 2 relays node 1's stream while node 1 is connected.
    "r_relay": r_open(0, 0) + r_record(0, misc=0) + r_open(1, 1) +
    r_record(1, origin=0x05, hops=0x09) +
    r_open(1, 1) + r_open(2, 0) + r_close(0) + r_record(1, origin=0x05, hops=0x09) +
    r_node(1, node=0, name=3) + r_node(0, node=1, name=1),
    # Same node, new epoch, then the old one again.
    "r_epochs": r_open(epoch=0) + r_batch(count=5) + r_close() + r_open(epoch=1) +
    r_record() + r_close() + r_open(epoch=0) + r_record() + r_open(1, epoch=3, raw=2**64 - 1),
    # Near the 2^63 limit (state injected as if by 2^31 notices).
    "r_limit": r_open() + r_jump(arg=4) + r_record(seqmode=6, seqarg=0xff) +
    r_notice(lmode=1) + r_jump(arg=1) + r_notice(lmode=3),
    # The consumer: resume, records, ACKs, reconnect.
    "s_session": s_feed(8) + s_open() + s_ack() + s_feed(4, 100) + s_ack(mode=4, arg=2) +
    s_name(0, 0, 1) + s_name(1, 1, 2, 1) + s_misc(kind=0) + s_misc(kind=1) + s_close() +
    s_feed(3) + s_open(rmode=9) + s_ack() + s_feedclose(),
    # Every refusal of a record receiver.
    "s_refusals": s_feed(5) + s_open() + s_ack(mode=5) + s_open(rmode=4) +
    s_open(rmode=7, rarg=11) + s_open(node=5) + s_open(node=6) + s_open(variant=7) +
    s_open() + s_open(1) + s_misc(kind=2) + s_open() + s_misc(kind=3) + s_open() +
    s_misc(kind=7) + s_open() + s_ack(mode=10),
    # Overflow of the 1 MiB resend buffer while the consumer is away.
    "s_overflow": s_feed(16, 255) * 40 + s_open(rmode=9) + s_ack() + s_feed(16, 255) * 10,
}


# The two bugs fuzz_link found (fixed); kept as regression seeds.
CRASHES = {
    # 1: a relay stores a name cut inside a UTF-8 character, then cannot
    # announce it (nor anything after it) to its consumer.
    "bug1-relay-announce": s_open() + s_name(kind=0, node=1, name=6),
    # 1: the collector's directory keeps the cut, invalid UTF-8 name.
    "bug1-collector-name": r_node(node=0, name=6),
    # 2: at expected == 2^63 a RECORD with link_seq 2^63 is accepted: the
    # link moved by state injection to 2^63 - 2^32, then one valid
    # DLQ_NOTICE up to 2^63 - 1.
    "bug2-link-seq-2-63": r_jump(arg=1) + r_notice(lmode=5, larg=7) + r_record(),
}


def main():
    args = sys.argv[1:]
    seeds = SEEDS
    if args and args[0] == "--crashes":
        seeds = CRASHES
        args = args[1:]
    out = args[0] if args else "corpus_link"
    os.makedirs(out, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
