#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""pblinktypes: a capture corpus of many link types, and a checker that the
frames came out of packetbroker byte for byte with their LINKTYPE numbers.

    pblinktypes.py gen DIR
        Writes DIR/*.pcap and DIR/*.pcapng and DIR/manifest.json: one file
        per link type (classic pcap in both byte orders and both time
        resolutions, some as pcapng), each with a frame cut short (caplen <
        origlen), and multi.pcapng: two sections (little- then big-endian)
        with interfaces of 5 link types, EPBs, SPBs and an obsolete packet
        block. The manifest holds, per source (file, interface), the link
        type and the frames as they must come out: timestamp in ns, caplen,
        origlen, SHA-256 of the bytes. Fields that the link type keeps in
        the writer's byte order (Linux USB headers, NFLOG TLV headers) are
        expected in this host's order, as libpcap and Wireshark read them.
    pblinktypes.py check MANIFEST NODE FILE...
        Reads pcapng outputs (own reader below) and checks that every
        source of the manifest is there under the interface name
        "NODE/<capture>" (interface 0; captures are named after the input
        file) or "NODE/<capture>/<if_name>", with its LINKTYPE and exactly
        its frames in order; nothing else.
    pblinktypes.py check-pcap MANIFEST CAPTURE=FILE...
        The same for classic pcap outputs holding one source each.
    pblinktypes.py tun-send DEV COUNT SENT.pcap
        Attaches to tun device DEV (which must exist) and writes COUNT
        IPv4/UDP packets (10.77.0.2 -> 10.77.0.1 port 5555) into it: the
        kernel receives them on DEV. SENT.pcap (LINKTYPE_RAW) holds them.
    pblinktypes.py check-live SENT.pcap NODE IFINDEX FILE...
        Live captures "tun" (on DEV) and "any" (LINUX_SLL2) of NODE in
        pcapng outputs: "NODE/tun" holds exactly the sent packets with link
        type 101, "NODE/any" the same behind a Linux cooked v2 header (link
        type 276, protocol IPv4, interface IFINDEX, to this host).
    pblinktypes.py tshark MANIFEST NODE OUTPUT[,OUTPUT...] INPUT...
        Compares what tshark sees: per interface, the encapsulation, frame
        and captured lengths and MD5 of each frame, each input (capture
        named after the file) against each pcapng output of NODE's frames.

Standard library only. Exit 0 = all good, 1 = a difference (printed).
"""

import fcntl
import hashlib
import json
import os
import random
import struct
import subprocess
import sys
import time

HOST = "<" if sys.byteorder == "little" else ">"

# ---- frames ---------------------------------------------------------------


def ipv4(rng, n):
    """An IPv4/UDP packet of n bytes (n >= 28)."""
    body = bytes(rng.getrandbits(8) for _ in range(n - 28))
    udp = struct.pack(">HHHH", 4000 + n % 100, 5000, 8 + len(body), 0) + body
    hdr = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n, 0, 64, 17, 0,
                      bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return hdr + udp


def ipv6(rng, n):
    body = bytes(rng.getrandbits(8) for _ in range(n - 48))
    udp = struct.pack(">HHHH", 4000, 5000, 8 + len(body), 0) + body
    return struct.pack(">IHBB16s16s", 0x60000000, len(udp), 17, 64,
                       b"\xfd" + b"\0" * 14 + b"\1", b"\xfd" + b"\0" * 14 + b"\2") + udp


def usb(rng, i, order, mmapped):
    """Linux USB header (48 or 64 bytes, fields in `order`) + data."""
    data = bytes(rng.getrandbits(8) for _ in range(24 + i % 8))
    h = struct.pack(order + "QBBBBHBBqiiII8s", 0x1122334455660000 + i, ord("C"), 3,
                    0x81, 2, 1, 0, 0, 1700000000 + i, 123456 + i, 0, len(data), len(data),
                    b"\0" * 8)
    if mmapped:
        h += struct.pack(order + "iiII", 8, 0, 0x200, 0)
    return h + data


def nflog(rng, i, order):
    """NFLOG: big-endian header, TLVs with length and type in `order`."""
    pkt = ipv4(rng, 60 + 4 * (i % 5))
    hdr = struct.pack(">BBH", 2, 0, 7)
    phdr = struct.pack(order + "HH", 8, 1) + struct.pack(">HBB", 0x0800, 3, 0)
    pay = struct.pack(order + "HH", 4 + len(pkt), 9) + pkt
    pay += b"\0" * (-len(pay) % 4)
    return hdr + phdr + pay


def sll(rng, i):
    return struct.pack(">HHH8sH", 0, 1, 6, b"\x02\0\0\0\0\1\0\0", 0x0800) + ipv4(rng, 80 + i)


def sll2(rng, i):
    return struct.pack(">HHIHBB8s", 0x0800, 0, 3, 1, 0, 6, b"\x02\0\0\0\0\1\0\0") + \
        ipv4(rng, 80 + i)


def generic(rng, lt, i):
    """Bytes that stand for a frame of a link type we do not build."""
    return bytes([lt & 0xff, i & 0xff]) + bytes(rng.getrandbits(8)
                                                 for _ in range(40 + (lt * 7 + i * 13) % 200))


def frame(lt, i, order):
    """Frame i of link type lt with writer byte order `order`; the same
    random bytes whatever the order."""
    rng = random.Random(lt * 1000 + i)
    if lt == 0:     # NULL: AF_INET in the writer's order, never swapped by readers
        return struct.pack("<I", 2) + ipv4(rng, 60 + i)
    if lt == 1:
        return b"\x02\0\0\0\0\2\x02\0\0\0\0\1\x08\0" + ipv4(rng, 46 + 20 * i)
    if lt in (101, 228, 12):
        return ipv4(rng, 40 + 30 * i)
    if lt == 229:
        return ipv6(rng, 60 + 30 * i)
    if lt == 113:
        return sll(rng, i)
    if lt == 276:
        return sll2(rng, i)
    if lt == 189:
        return usb(rng, i, order, False)
    if lt == 220:
        return usb(rng, i, order, True)
    if lt == 239:
        return nflog(rng, i, order)
    return generic(rng, lt, i)


# Where a cut frame may end: fields that a reader swaps are swapped only
# when captured whole, so cut on a field boundary.
CUT = {189: 32, 220: 40, 239: 16, 113: 30, 276: 30, 0: 24}

LINKTYPES = [0, 1, 8, 9, 10, 50, 100, 101, 104, 105, 106, 107, 108, 113, 117, 119,
             127, 129, 138, 143, 147, 189, 192, 195, 197, 201, 220, 227, 228, 229,
             239, 249, 251, 276]

NFRAMES = 5


def frames_of(lt, order, first_ts, nsec):
    """[(ts_ns, data_in_file, expected, origlen)]: frame 2 is cut short."""
    out = []
    for i in range(NFRAMES):
        raw, want = frame(lt, i, order), frame(lt, i, HOST)
        origlen = len(raw)
        if i == 2:
            cut = CUT.get(lt, 20)
            raw, want = raw[:cut], want[:cut]
        ts = first_ts + i * 1000003 * 1000 + (i * 7919 if nsec else 0) * 1
        if not nsec:
            ts -= ts % 1000
        out.append((ts, raw, want, origlen))
    return out


# ---- writers --------------------------------------------------------------


def write_pcap(path, lt, order, nsec, frames):
    with open(path, "wb") as f:
        f.write(struct.pack(order + "IHHiIII", 0xa1b23c4d if nsec else 0xa1b2c3d4, 2, 4,
                            0, 0, 65535, lt))
        for ts, raw, _, origlen in frames:
            sec, frac = divmod(ts, 10 ** 9)
            f.write(struct.pack(order + "IIII", sec, frac if nsec else frac // 1000,
                                len(raw), origlen) + raw)


def block(order, btype, body):
    body += b"\0" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack(order + "II", btype, n) + body + struct.pack(order + "I", n)


def opt(order, code, val):
    return struct.pack(order + "HH", code, len(val)) + val + b"\0" * (-len(val) % 4)


def shb(order):
    return block(order, 0x0a0d0d0a, struct.pack(order + "IHHq", 0x1a2b3c4d, 1, 0, -1) +
                 opt(order, 4, b"pblinktypes") + opt(order, 0, b""))


def idb(order, lt, snaplen, name, tsresol):
    o = opt(order, 2, name.encode())
    if tsresol is not None:
        o += opt(order, 9, bytes([tsresol]))
    return block(order, 1, struct.pack(order + "HHI", lt, 0, snaplen) + o + opt(order, 0, b""))


def epb(order, ifid, units, raw, origlen, obsolete=False):
    hi, lo = units >> 32, units & 0xffffffff
    if obsolete:
        head = struct.pack(order + "HHIIII", ifid, 0, hi, lo, len(raw), origlen)
        return block(order, 2, head + raw)
    return block(order, 6, struct.pack(order + "IIIII", ifid, hi, lo, len(raw), origlen) + raw)


def spb(order, raw, origlen):
    return block(order, 3, struct.pack(order + "I", origlen) + raw)


def write_pcapng_single(path, lt, order, frames):
    with open(path, "wb") as f:
        f.write(shb(order) + idb(order, lt, 0, "cap0", 9))
        for ts, raw, _, origlen in frames:
            f.write(epb(order, 0, ts, raw, origlen))


def source(name, ifname, lt, frames):
    return {"capture": name, "ifname": ifname, "linktype": lt,
            "frames": [[ts, len(want), origlen, hashlib.sha256(want).hexdigest()]
                       for ts, _, want, origlen in frames]}


def gen_multi(path):
    """Section 1 (little-endian): Ethernet (snaplen 96, SPBs: no
    timestamp), raw IP (ns), Linux cooked; section 2 (big-endian): NFLOG,
    Linux cooked v2. Packets interleaved; one per interface is cut."""
    base = 1700001000 * 10 ** 9
    secs = [("<", [(1, 96, "eth", None, "spb"), (101, 0, "raw", 9, "epb"),
                   (113, 0, "cooked", 6, "opb")]),
            (">", [(239, 0, "nflog", 9, "epb"), (276, 0, "cooked2", 9, "epb")])]
    srcs = []
    with open(path, "wb") as f:
        for order, ifs in secs:
            f.write(shb(order))
            for lt, snap, name, res, _ in ifs:
                f.write(idb(order, lt, snap, name, res))
            per = []
            for lt, snap, name, res, kind in ifs:
                fr = []
                for i, (ts, raw, want, origlen) in enumerate(
                        frames_of(lt, order, base + lt * 10 ** 6, res == 9)):
                    if kind == "spb":
                        # An SPB holds min(origlen, snaplen) bytes and no
                        # time: frames are cut by the snaplen only.
                        raw, want = frame(lt, i, order)[:snap], frame(lt, i, HOST)[:snap]
                        ts = 0
                    fr.append((ts, raw, want, origlen))
                per.append(fr)
                srcs.append(source("multi", name, lt, fr))
            for i in range(NFRAMES):
                for k, (lt, snap, name, res, kind) in enumerate(ifs):
                    ts, raw, _, origlen = per[k][i]
                    if kind == "spb":
                        f.write(spb(order, raw, origlen))
                    else:
                        units = ts // 1000 if res == 6 else ts
                        f.write(epb(order, k, units, raw, origlen, kind == "opb"))
    return srcs


def gen(outdir):
    os.makedirs(outdir, exist_ok=True)
    files, srcs = [], []
    for n, lt in enumerate(LINKTYPES):
        # Both byte orders, both resolutions; the types with host-order
        # fields all get a big-endian file; some are pcapng.
        order = ">" if (n % 2 or lt in (189, 220, 239)) else "<"
        nsec = n % 4 >= 2
        ng = n % 5 == 4
        name = "lt%d" % lt
        fr = frames_of(lt, order, 1700000000 * 10 ** 9 + n * 10 ** 9, nsec or ng)
        path = os.path.join(outdir, name + (".pcapng" if ng else ".pcap"))
        if ng:
            write_pcapng_single(path, lt, order, fr)
        else:
            write_pcap(path, lt, order, nsec, fr)
        files.append({"capture": name, "path": path, "format": "pcapng" if ng else "pcap",
                      "order": "big" if order == ">" else "little", "nsec": nsec})
        s = source(name, "cap0" if ng else "", lt, fr)
        srcs.append(s)
    path = os.path.join(outdir, "multi.pcapng")
    files.append({"capture": "multi", "path": path, "format": "pcapng", "order": "both"})
    srcs += gen_multi(path)
    with open(os.path.join(outdir, "manifest.json"), "w") as f:
        json.dump({"files": files, "sources": srcs}, f, indent=1)
    print("%d files, %d sources, %d link types, %d frames" % (
        len(files), len(srcs), len({s["linktype"] for s in srcs}),
        sum(len(s["frames"]) for s in srcs)))


# ---- readers --------------------------------------------------------------


def read_capture(path):
    """[(ifname, linktype, ts_ns, caplen, origlen, data)] of a pcap or
    pcapng file, as stored (no pseudo-header swapping)."""
    with open(path, "rb") as f:
        buf = f.read()
    magic = struct.unpack_from("<I", buf)[0]
    out = []
    if magic == 0x0a0d0d0a:
        off, ifs, order = 0, [], "<"
        while off < len(buf):
            if struct.unpack_from("<I", buf, off)[0] == 0x0a0d0d0a:
                order = "<" if struct.unpack_from("<I", buf, off + 8)[0] == 0x1a2b3c4d else ">"
                ifs = []
            btype, blen = struct.unpack_from(order + "II", buf, off)
            if blen < 12 or off + blen > len(buf):
                raise ValueError("%s: bad block at %d" % (path, off))
            b = buf[off:off + blen]
            if btype == 1:
                lt, _, snap = struct.unpack_from(order + "HHI", b, 8)
                name, res, p = "", 6, 16
                while p + 4 <= blen - 4:
                    code, ln = struct.unpack_from(order + "HH", b, p)
                    if code == 0:
                        break
                    val = b[p + 4:p + 4 + ln]
                    if code == 2:
                        name = val.decode()
                    elif code == 9:
                        res = val[0]
                    p += 4 + ln + (-ln % 4)
                ifs.append((name, lt, 10 ** res, snap))
            elif btype == 6:
                ifid, hi, lo, cap, orig = struct.unpack_from(order + "IIIII", b, 8)
                name, lt, units, _ = ifs[ifid]
                ts = ((hi << 32) | lo) * 10 ** 9 // units
                out.append((name, lt, ts, cap, orig, b[28:28 + cap]))
            elif btype == 3:
                orig = struct.unpack_from(order + "I", b, 8)[0]
                name, lt, _, snap = ifs[0]
                cap = min(orig, blen - 16, snap or orig)
                out.append((name, lt, 0, cap, orig, b[12:12 + cap]))
            off += blen
        return out
    order = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    magic, _, _, _, _, _, lt = struct.unpack_from(order + "IHHiIII", buf)
    nsec = magic == 0xa1b23c4d
    off = 24
    while off < len(buf):
        sec, frac, cap, orig = struct.unpack_from(order + "IIII", buf, off)
        out.append(("", lt & 0x3ffffff, sec * 10 ** 9 + (frac if nsec else frac * 1000),
                    cap, orig, buf[off + 16:off + 16 + cap]))
        off += 16 + cap
    return out


def out_name(node, s):
    return "%s/%s%s" % (node, s["capture"], "/" + s["ifname"]
                        if s["capture"] == "multi" and s["ifname"] != "eth" else "")


def compare(want, got, what, errors):
    """want: manifest frames; got: read_capture tuples of one source."""
    if len(want) != len(got):
        errors.append("%s: %d frames, expected %d" % (what, len(got), len(want)))
    for i, (w, g) in enumerate(zip(want, got)):
        ts, cap, orig, sha = w
        _, lt, gts, gcap, gorig, data = g
        gsha = hashlib.sha256(data).hexdigest()
        if (gts, gcap, gorig, gsha) != (ts, cap, orig, sha):
            errors.append("%s: frame %d: ts %d caplen %d origlen %d sha %s, expected "
                          "ts %d caplen %d origlen %d sha %s" % (
                              what, i, gts, gcap, gorig, gsha[:12], ts, cap, orig, sha[:12]))
            break


def check(manifest, node, files):
    with open(manifest) as f:
        m = json.load(f)
    got = {}
    for path in files:
        for fr in read_capture(path):
            got.setdefault(fr[0], []).append(fr)
    errors = []
    for s in m["sources"]:
        name = out_name(node, s)
        frames = got.pop(name, [])
        lts = {fr[1] for fr in frames}
        if lts != {s["linktype"]}:
            errors.append("%s: link types %s, expected %d" % (name, sorted(lts), s["linktype"]))
        compare(s["frames"], frames, name, errors)
    for name, frames in got.items():
        errors.append("unexpected interface %r with %d frames" % (name, len(frames)))
    report(errors, "%d sources, %d frames, every one byte for byte with its link type" % (
        len(m["sources"]), sum(len(s["frames"]) for s in m["sources"])))


def check_pcap(manifest, pairs):
    """pairs: CAPTURE=FILE, a classic pcap output holding that source."""
    with open(manifest) as f:
        m = json.load(f)
    errors, n = [], 0
    for pair in pairs:
        capture, path = pair.split("=", 1)
        s = [x for x in m["sources"] if x["capture"] == capture]
        if len(s) != 1:
            errors.append("%s: %d sources in the manifest" % (capture, len(s)))
            continue
        s = s[0]
        with open(path, "rb") as f:
            hdr_lt = struct.unpack_from("<I", f.read(24), 20)[0]
        if hdr_lt != s["linktype"]:
            errors.append("%s: header link type %d, expected %d" % (path, hdr_lt,
                                                                    s["linktype"]))
        frames = read_capture(path)
        n += len(frames)
        compare(s["frames"], frames, path, errors)
    report(errors, "%d pcap files, %d frames, byte for byte with their link types" % (
        len(pairs), n))


def tshark_views(paths, key):
    """{path: {key: [(encap, len, caplen, md5)]}} as tshark reads the files
    (a few tshark processes at a time); key is the interface name, id or
    the encapsulation."""
    views, running, todo = {}, [], list(paths)
    while todo or running:
        while todo and len(running) < 4:
            path = todo.pop(0)
            running.append((path, subprocess.Popen(
                ["tshark", "-r", path, "-o", "frame.generate_md5_hash:TRUE", "-T", "fields",
                 "-E", "separator=|", "-e", "frame.interface_" + ("id" if key == "id" else "name"),
                 "-e", "frame.encap_type",
                 "-e", "frame.len", "-e", "frame.cap_len", "-e", "frame.md5_hash"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)))
        path, p = running.pop(0)
        out, _ = p.communicate()
        if p.returncode:
            raise RuntimeError("tshark -r %s: exit %d" % (path, p.returncode))
        v = {}
        for line in out.splitlines():
            name, *rest = line.split("|")
            v.setdefault(rest[0] if key == "encap" else name, []).append(tuple(rest))
        views[path] = v
    return views


def tshark_cmp(manifest, node, outputs, inputs):
    """Each input's interfaces against each output's. The single-interface
    inputs are concatenated by mergecap first (one tshark run instead of
    dozens; interface k is input k). tshark 4.0 names the interfaces of a
    second section after the first section's, so a multi-interface input
    is split by encapsulation (each of its interfaces has its own), in
    order of appearance, which is interface order."""
    with open(manifest) as f:
        m = json.load(f)

    def srcs(inp):
        capture = os.path.splitext(os.path.basename(inp))[0]
        return [x for x in m["sources"] if x["capture"] == capture]

    singles = [i for i in inputs if len(srcs(i)) == 1]
    multis = [i for i in inputs if len(srcs(i)) != 1]
    merged = os.path.join(os.path.dirname(os.path.abspath(outputs[0])), "tshark-inputs.pcapng")
    subprocess.run(["mergecap", "-a", "-I", "none", "-w", merged] + singles, check=True)
    views = tshark_views([merged], "id")
    views.update(tshark_views(multis, "encap"))
    outs = tshark_views(outputs, "name")
    os.unlink(merged)
    pairs, errors = [], []
    for k, inp in enumerate(singles):
        pairs.append((inp, srcs(inp)[0], views[merged].get(str(k), [])))
    for inp in multis:
        if len(views[inp]) != len(srcs(inp)):
            errors.append("tshark: %s: %d encapsulations for %d interfaces" % (
                inp, len(views[inp]), len(srcs(inp))))
            continue
        pairs += [(inp, s, fr) for s, fr in zip(srcs(inp), views[inp].values())]
    for inp, s, frames in pairs:
        oname = out_name(node, s)
        if len(frames) != len(s["frames"]):
            errors.append("tshark: %s interface %r: %d frames, the manifest has %d" % (
                inp, s["ifname"], len(frames), len(s["frames"])))
        for outp, b in outs.items():
            if b.get(oname) != frames:
                errors.append("tshark: %s interface %r -> %s %r: %s differs from %s" % (
                    inp, s["ifname"], outp, oname, b.get(oname, [])[:2], frames[:2]))
    report(errors, "tshark: %d inputs and %s agree (%d frames: encapsulation, lengths, "
           "MD5)" % (len(inputs), " and ".join(os.path.basename(o) for o in outputs),
                     sum(len(p[2]) for p in pairs)))


def ip_checksum(b):
    s = sum(struct.unpack(">%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def udp_to_tun(i):
    rng = random.Random(i)
    n = 28 + (i * 97) % 1472
    body = bytes(rng.getrandbits(8) for _ in range(n - 28))
    udp = struct.pack(">HHHH", 40000 + i % 1000, 5555, 8 + len(body), 0) + body
    hdr = struct.pack(">BBHHHBBH4s4s", 0x45, 0, n, i & 0xffff, 0, 64, 17, 0,
                      bytes([10, 77, 0, 2]), bytes([10, 77, 0, 1]))
    hdr = hdr[:10] + struct.pack(">H", ip_checksum(hdr)) + hdr[12:]
    return hdr + udp


def tun_send(dev, count, sent):
    tunsetiff, iff_tun, iff_no_pi = 0x400454ca, 0x0001, 0x1000
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, tunsetiff, struct.pack("16sH", dev.encode(), iff_tun | iff_no_pi))
    frames = []
    for i in range(count):
        pkt = udp_to_tun(i)
        os.write(fd, pkt)
        frames.append((1700000000 * 10 ** 9 + i * 1000, pkt, pkt, len(pkt)))
        if i % 50 == 49:
            time.sleep(0.01)
    os.close(fd)
    write_pcap(sent, 101, "<", True, frames)
    print("%d packets written into %s" % (count, dev))


def check_live(sent, node, ifindex, files):
    want = [fr[5] for fr in read_capture(sent)]
    got = {}
    for path in files:
        for fr in read_capture(path):
            got.setdefault(fr[0], []).append(fr)
    errors = []
    tun, anyf = got.pop(node + "/tun", []), got.pop(node + "/any", [])
    for name, frames, lt, hdr in (("tun", tun, 101, 0), ("any", anyf, 276, 20)):
        if len(frames) != len(want):
            errors.append("%s: %d frames, sent %d" % (name, len(frames), len(want)))
        for i, (fr, w) in enumerate(zip(frames, want)):
            _, flt, _, cap, orig, data = fr
            sll = struct.unpack_from(">HHIHBB", data) if hdr else None
            if flt != lt or cap != orig or orig != len(w) + hdr or data[hdr:] != w or (
                    hdr and (sll[0] != 0x0800 or sll[2] != int(ifindex) or sll[4] != 0)):
                errors.append("%s: frame %d: link type %d, %d/%d bytes%s differ from the "
                              "packet sent" % (name, i, flt, cap, orig,
                                               " (SLL2 %s)" % (sll,) if hdr else ""))
                break
    for name, frames in got.items():
        errors.append("unexpected interface %r with %d frames" % (name, len(frames)))
    report(errors, "%d packets sent into the tun device: in %s/tun with link type 101 "
           "and in %s/any behind a LINUX_SLL2 header (276), byte for byte" % (
               len(want), node, node))


def report(errors, ok):
    if errors:
        for e in errors[:20]:
            print(e)
        sys.exit(1)
    print(ok)


def main(argv):
    if len(argv) >= 2 and argv[0] == "gen":
        gen(argv[1])
    elif len(argv) >= 4 and argv[0] == "check":
        check(argv[1], argv[2], argv[3:])
    elif len(argv) >= 3 and argv[0] == "check-pcap":
        check_pcap(argv[1], argv[2:])
    elif len(argv) == 4 and argv[0] == "tun-send":
        tun_send(argv[1], int(argv[2]), argv[3])
    elif len(argv) >= 5 and argv[0] == "check-live":
        check_live(argv[1], argv[2], argv[3], argv[4:])
    elif len(argv) >= 5 and argv[0] == "tshark":
        tshark_cmp(argv[1], argv[2], argv[3].split(","), argv[4:])
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
