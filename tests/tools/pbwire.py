#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""pbwire: a packetbroker wire-protocol client (schema/wire-protocol.md),
for tests that play a misbehaving or hostile peer against a real daemon.

Standard library only. Everything is big-endian; every message is an
8-byte header (magic 0x5042, version, type, body length) and a body.

    import sys; sys.path.insert(0, "tests/tools"); import pbwire
    l = pbwire.Link.connect("127.0.0.1", 7000)
    info = l.handshake(node_id=5004, epoch=1, role="send", key=b"...")
    l.send_node(5004, "attacker")
    l.send_record(info.resume_seq + 1, 5004, 0, 1, 1, 1, ts_ns, frame)
    msg = l.recv_msg(timeout=2)        # a Msg; HEARTBEATs answered

Fake collector (the daemon dials us):

    lst = pbwire.Listener("127.0.0.1", port)
    l = lst.accept(timeout=10)
    l.handshake(node_id=100, epoch=1, role="recv", key=k, resume_seq=0)

`python3 pbwire.py selftest` checks the codec against the spec's AUTH test
vector (section 6.2) and worked example (section 9).
"""

import hashlib
import hmac
import os
import select
import socket
import struct
import sys
import time

MAGIC = 0x5042
VERSION = 1
HDR = struct.Struct(">HBBI")
HDR_LEN = 8
MAX_BODY = 131072

# Message types (section 4).
HELLO, AUTH, WELCOME, NODE, SOURCE, RECORD, ACK, HEARTBEAT, DLQ_NOTICE, ERROR = range(1, 11)
TYPE_NAMES = {
    HELLO: "HELLO", AUTH: "AUTH", WELCOME: "WELCOME", NODE: "NODE", SOURCE: "SOURCE",
    RECORD: "RECORD", ACK: "ACK", HEARTBEAT: "HEARTBEAT", DLQ_NOTICE: "DLQ_NOTICE",
    ERROR: "ERROR",
}

# HELLO flags.
F_SEND = 0x0001
F_RECV = 0x0002

# Error codes (section 8).
E_MALFORMED, E_MAGIC, E_VERSION, E_TYPE, E_OVERSIZE, E_AUTH, E_NODE_ID, \
    E_UNEXPECTED, E_SHUTDOWN, E_TIMEOUT, E_INTERNAL = range(1, 12)
ERR_NAMES = {
    E_MALFORMED: "malformed", E_MAGIC: "magic", E_VERSION: "version", E_TYPE: "type",
    E_OVERSIZE: "oversize", E_AUTH: "auth", E_NODE_ID: "node-id",
    E_UNEXPECTED: "unexpected", E_SHUTDOWN: "shutdown", E_TIMEOUT: "timeout",
    E_INTERNAL: "internal",
}
ERR_CODES = {v: k for k, v in ERR_NAMES.items()}

AUTH_LABEL = b"packetbroker auth v1"
NONCE_LEN = 32
MAC_LEN = 32
U64_MAX = (1 << 64) - 1

_HELLO = struct.Struct(">BBHIQ")          # + 32-byte nonce
_WELCOME = struct.Struct(">QII")
_REC = struct.Struct(">QIHHQQQIIHBB")     # 52-byte fixed part of RECORD
_TRAILER = struct.Struct(">BBBBHHHHQ")    # 20 bytes
_HOP = struct.Struct(">IIQQ")             # 24 bytes
_ACK = struct.Struct(">Q")
_HB = struct.Struct(">QQ")
_DLQ = struct.Struct(">QQI")
assert _REC.size == 52 and _TRAILER.size == 20 and _HOP.size == 24


class WireError(Exception):
    """The peer's bytes do not decode (our side of a protocol error)."""


class PeerError(Exception):
    """The peer sent ERROR (code, text), or closed the connection
    (code None) while we waited for something."""

    def __init__(self, code, text):
        self.code = code
        self.text = text
        name = ERR_NAMES.get(code, str(code)) if code is not None else "closed"
        super().__init__("peer %s: %s" % (name, text))

    @property
    def name(self):
        return ERR_NAMES.get(self.code, str(self.code)) if self.code is not None else "closed"


# ---- encoding ----

def header(mtype, length, version=VERSION, magic=MAGIC):
    return HDR.pack(magic, version, mtype, length)


def message(mtype, body, version=VERSION):
    return header(mtype, len(body), version) + body


def enc_str(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack(">H", len(b)) + b


def enc_hello(node_id, epoch, nonce, flags=F_SEND, min_version=1, max_version=1, extra=b""):
    assert len(nonce) == NONCE_LEN
    return message(HELLO, _HELLO.pack(min_version, max_version, flags, node_id, epoch)
                   + nonce + extra)


def enc_auth(mac):
    assert len(mac) == MAC_LEN
    return message(AUTH, bytes(mac))


def enc_welcome(resume_seq, heartbeat_ms=1000, flags=0):
    return message(WELCOME, _WELCOME.pack(resume_seq, heartbeat_ms, flags))


def enc_node(node_id, name, descr=""):
    return message(NODE, struct.pack(">I", node_id) + enc_str(name) + enc_str(descr))


def enc_source(node_id, source_id, linktype, name, descr=""):
    return message(SOURCE, struct.pack(">IHH", node_id, source_id, linktype)
                   + enc_str(name) + enc_str(descr))


def enc_record(link_seq, origin_node, origin_source, linktype, origin_epoch, origin_seq,
               ts_ns, frame, hops=(), trailers=(), origlen=None, flags=0):
    """hops: (node, flags, seq, ts_ns) tuples, oldest first. trailers:
    (type, valid, flags, device, port, len, offset, ts_ns) tuples."""
    frame = bytes(frame)
    body = _REC.pack(link_seq, origin_node, origin_source, linktype, origin_epoch,
                     origin_seq, ts_ns, len(frame),
                     len(frame) if origlen is None else origlen, flags,
                     len(trailers), len(hops))
    for (ttype, valid, tflags, dev, port, tlen, toff, tts) in trailers:
        body += _TRAILER.pack(ttype, valid, tflags, 0, dev, port, tlen, toff, tts)
    for (node, hflags, hseq, hts) in hops:
        body += _HOP.pack(node, hflags, hseq, hts)
    return message(RECORD, body + frame)


def enc_ack(link_seq):
    return message(ACK, _ACK.pack(link_seq))


def enc_heartbeat(ts_ns, echo_ns=0):
    return message(HEARTBEAT, _HB.pack(ts_ns, echo_ns))


def enc_dlq_notice(first_seq, last_seq, reason=1):
    return message(DLQ_NOTICE, _DLQ.pack(first_seq, last_seq, reason))


def enc_error(code, text=""):
    return message(ERROR, struct.pack(">H", code) + enc_str(text))


def auth_input(signer, verifier, verifier_nonce, signer_nonce):
    """The 92 bytes of section 6.2."""
    return (AUTH_LABEL + struct.pack(">II", signer, verifier)
            + bytes(verifier_nonce) + bytes(signer_nonce))


def auth_mac(key, signer, verifier, verifier_nonce, signer_nonce):
    return hmac.new(key, auth_input(signer, verifier, verifier_nonce, signer_nonce),
                    hashlib.sha256).digest()


# ---- decoding ----

class Msg:
    """A decoded message: .type, .name, .raw (whole message), fields as
    attributes (see decode())."""

    def __init__(self, mtype, raw, **fields):
        self.type = mtype
        self.name = TYPE_NAMES.get(mtype, "type%d" % mtype)
        self.raw = raw
        self.__dict__.update(fields)

    def __repr__(self):
        f = {k: v for k, v in self.__dict__.items() if k not in ("type", "name", "raw")}
        if "frame" in f:
            f["frame"] = "<%d bytes>" % len(f["frame"])
        if "nonce" in f:
            f["nonce"] = f["nonce"].hex()
        if "mac" in f:
            f["mac"] = f["mac"].hex()
        return "%s%r" % (self.name, f)


def _dec_str(body, off):
    if off + 2 > len(body):
        raise WireError("string length past the body")
    n = struct.unpack_from(">H", body, off)[0]
    if off + 2 + n > len(body):
        raise WireError("string past the body")
    return body[off + 2:off + 2 + n].decode("utf-8", "replace"), off + 2 + n


def decode_body(mtype, body, raw=b""):
    if mtype == HELLO:
        if len(body) < 48:
            raise WireError("short HELLO")
        mn, mx, flags, node, epoch = _HELLO.unpack_from(body)
        return Msg(mtype, raw, min_version=mn, max_version=mx, flags=flags, node_id=node,
                   epoch=epoch, nonce=bytes(body[16:48]))
    if mtype == AUTH:
        if len(body) != 32:
            raise WireError("AUTH of %d bytes" % len(body))
        return Msg(mtype, raw, mac=bytes(body))
    if mtype == WELCOME:
        if len(body) != 16:
            raise WireError("WELCOME of %d bytes" % len(body))
        rs, hb, fl = _WELCOME.unpack(body)
        return Msg(mtype, raw, resume_seq=rs, heartbeat_ms=hb, flags=fl)
    if mtype == NODE:
        node = struct.unpack_from(">I", body)[0]
        name, off = _dec_str(body, 4)
        descr, off = _dec_str(body, off)
        return Msg(mtype, raw, node_id=node, node_name=name, descr=descr)
    if mtype == SOURCE:
        node, src, lt = struct.unpack_from(">IHH", body)
        name, off = _dec_str(body, 8)
        descr, off = _dec_str(body, off)
        return Msg(mtype, raw, node_id=node, source_id=src, linktype=lt, source_name=name,
                   descr=descr)
    if mtype == RECORD:
        if len(body) < 52:
            raise WireError("short RECORD")
        (ls, on, osrc, lt, oe, oseq, ts, caplen, origlen, flags, nt, nh) = _REC.unpack_from(body)
        off = 52
        trailers, hops = [], []
        for _ in range(nt):
            t = _TRAILER.unpack_from(body, off)
            trailers.append((t[0], t[1], t[2], t[4], t[5], t[6], t[7], t[8]))
            off += 20
        for _ in range(nh):
            hops.append(_HOP.unpack_from(body, off))
            off += 24
        if off + caplen != len(body):
            raise WireError("RECORD length mismatch")
        return Msg(mtype, raw, link_seq=ls, origin_node=on, origin_source=osrc, linktype=lt,
                   origin_epoch=oe, origin_seq=oseq, ts_ns=ts, caplen=caplen,
                   origlen=origlen, flags=flags, trailers=trailers, hops=hops,
                   frame=bytes(body[off:]))
    if mtype == ACK:
        return Msg(mtype, raw, link_seq=_ACK.unpack(body)[0])
    if mtype == HEARTBEAT:
        ts, echo = _HB.unpack(body)
        return Msg(mtype, raw, ts_ns=ts, echo_ns=echo)
    if mtype == DLQ_NOTICE:
        f, l, r = _DLQ.unpack(body)
        return Msg(mtype, raw, first_seq=f, last_seq=l, reason=r)
    if mtype == ERROR:
        code = struct.unpack_from(">H", body)[0]
        text, _ = _dec_str(body, 2)
        return Msg(mtype, raw, code=code, text=text,
                   code_name=ERR_NAMES.get(code, str(code)))
    return Msg(mtype, raw, body=bytes(body))


def decode(buf):
    """(Msg, consumed) for the first complete message of buf, or
    (None, 0) when more bytes are needed."""
    if len(buf) < HDR_LEN:
        return None, 0
    magic, ver, mtype, length = HDR.unpack_from(buf)
    if magic != MAGIC:
        raise WireError("bad magic 0x%04x" % magic)
    if length > MAX_BODY:
        raise WireError("oversize body %d" % length)
    if len(buf) < HDR_LEN + length:
        return None, 0
    raw = bytes(buf[:HDR_LEN + length])
    m = decode_body(mtype, raw[HDR_LEN:], raw)
    m.version = ver
    return m, HDR_LEN + length


# ---- the connection ----

class HandshakeInfo:
    def __init__(self):
        self.peer = None        # the peer's HELLO (Msg)
        self.peer_auth = None   # its AUTH (Msg)
        self.resume_seq = None  # sender: the receiver's WELCOME resume_seq
        self.welcome = None     # sender: the WELCOME (Msg)
        self.nonce = None       # our nonce

    def __repr__(self):
        return "HandshakeInfo(peer=%r, resume_seq=%r)" % (self.peer, self.resume_seq)


def _now_ns():
    return time.time_ns()


def _wait(sock, read=True, write=False, timeout=None):
    """(readable, writable) of sock within timeout seconds; poll(), so that
    descriptors above FD_SETSIZE work (tests that hold thousands)."""
    p = select.poll()
    p.register(sock, (select.POLLIN if read else 0) | (select.POLLOUT if write else 0))
    ev = p.poll(None if timeout is None else max(0, int(timeout * 1000)))
    m = ev[0][1] if ev else 0
    bad = select.POLLERR | select.POLLHUP
    return bool(m & (select.POLLIN | bad)) and read, bool(m & (select.POLLOUT | bad)) and write


class Link:
    """One TCP connection speaking the wire protocol."""

    def __init__(self, sock, peer_addr=None):
        self.sock = sock
        self.peer_addr = peer_addr
        self.rbuf = bytearray()
        self.closed = False          # the peer closed (EOF seen)
        self.auto_heartbeat = True   # answer HEARTBEAT(echo 0) in recv_msg
        self.hb_interval = 0.2       # our own HEARTBEAT when idle in recv_msg
        self.last_tx = time.monotonic()
        self.received = []           # every message recv_msg returned or consumed
        self.pending = []            # decoded while sending, not yet returned
        self.established = False     # handshake done: heartbeats allowed
        self.node_id = None
        self.info = None

    # -- set-up --

    @classmethod
    def connect(cls, host, port, source=None, timeout=5.0):
        """TCP connect, optionally from source = "addr" or (addr, port)."""
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if source is not None:
            if isinstance(source, str):
                source = (source, 0)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(source)
        s.settimeout(timeout)
        s.connect((host, port))
        s.settimeout(None)
        return cls(s, (host, port))

    def fileno(self):
        return self.sock.fileno()

    def close(self, error=None, text=""):
        """Closes, after an ERROR(error, text) when error is given."""
        if self.sock is None:
            return
        if error is not None:
            try:
                self.send_raw(enc_error(error, text))
            except OSError:
                pass
        try:
            self.sock.close()
        finally:
            self.sock = None

    # -- sending --

    def send_raw(self, data):
        self.sock.sendall(bytes(data))
        self.last_tx = time.monotonic()

    def send_hello(self, node_id, epoch, flags=F_SEND, nonce=None, **kw):
        nonce = os.urandom(NONCE_LEN) if nonce is None else bytes(nonce)
        self.send_raw(enc_hello(node_id, epoch, nonce, flags, **kw))
        return nonce

    def send_auth(self, mac):
        self.send_raw(enc_auth(mac))

    def send_welcome(self, resume_seq, heartbeat_ms=1000, flags=0):
        self.send_raw(enc_welcome(resume_seq, heartbeat_ms, flags))

    def send_node(self, node_id, name, descr=""):
        self.send_raw(enc_node(node_id, name, descr))

    def send_source(self, node_id, source_id, linktype, name, descr=""):
        self.send_raw(enc_source(node_id, source_id, linktype, name, descr))

    def send_record(self, link_seq, origin_node, origin_source, linktype, origin_epoch,
                    origin_seq, ts_ns, frame, hops=(), **kw):
        self.send_raw(enc_record(link_seq, origin_node, origin_source, linktype,
                                 origin_epoch, origin_seq, ts_ns, frame, hops, **kw))

    def send_ack(self, link_seq):
        self.send_raw(enc_ack(link_seq))

    def send_heartbeat(self, ts_ns=None, echo_ns=0):
        self.send_raw(enc_heartbeat(_now_ns() if ts_ns is None else ts_ns, echo_ns))

    def send_dlq_notice(self, first_seq, last_seq, reason=1):
        self.send_raw(enc_dlq_notice(first_seq, last_seq, reason))

    def send_error(self, code, text=""):
        self.send_raw(enc_error(code, text))

    def send_many(self, chunks, batch=256 << 10):
        """Sends encoded messages in large writes; while the peer's window
        is full, reads (and answers heartbeats) so that neither side
        blocks the other."""
        buf = bytearray()
        for c in chunks:
            buf += c
            if len(buf) >= batch:
                self._send_pumping(buf)
                buf = bytearray()
        if buf:
            self._send_pumping(buf)

    def _send_pumping(self, data):
        view = memoryview(bytes(data))
        self.sock.setblocking(False)
        try:
            while len(view):
                r, w = _wait(self.sock, True, True, 5.0)
                if r:
                    self._fill(0)
                    self._drain_control()
                if w:
                    try:
                        n = self.sock.send(view)
                    except BlockingIOError:
                        continue
                    view = view[n:]
                    self.last_tx = time.monotonic()
                if not r and not w:
                    raise TimeoutError("peer stopped reading for 5 s")
        finally:
            if self.sock is not None:
                self.sock.setblocking(True)

    def _drain_control(self):
        """Decodes what is buffered: answers heartbeats, keeps the rest in
        self.pending for recv_msg; raises PeerError on ERROR."""
        while True:
            m, n = decode(self.rbuf)
            if m is None:
                return
            del self.rbuf[:n]
            self._note(m)
            if m.type == HEARTBEAT:
                continue
            self.pending.append(m)
            if m.type == ERROR:
                raise PeerError(m.code, m.text)

    def _note(self, m):
        self.received.append(m)
        if len(self.received) > 100000:
            del self.received[:50000]
        if m.type == HEARTBEAT and self.auto_heartbeat and m.echo_ns == 0 and self.sock \
                and self.established:
            try:
                self.send_heartbeat(echo_ns=m.ts_ns)
            except OSError:
                pass

    # -- receiving --

    def _fill(self, timeout):
        """One read (waiting up to timeout s). False on timeout; sets
        self.closed on EOF (or a reset)."""
        if self.closed:
            return False
        r, _ = _wait(self.sock, True, False, max(timeout, 0))
        if not r:
            return False
        try:
            data = self.sock.recv(1 << 20)
        except BlockingIOError:
            return False
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
            return False
        self.rbuf += data
        return True

    def recv_msg(self, timeout=5.0, skip_heartbeats=True, raise_error=False):
        """The next message (a Msg), or None when nothing came within
        timeout seconds or the peer closed (then self.closed). HEARTBEATs
        are answered (auto_heartbeat) and skipped; we also send our own
        HEARTBEAT every hb_interval while waiting (once established: not
        during the handshake, where it is unexpected). raise_error: an ERROR
        raises PeerError instead of being returned."""
        deadline = time.monotonic() + timeout
        while True:
            if self.pending:
                m = self.pending.pop(0)
            else:
                m, n = decode(self.rbuf)
                if m is not None:
                    del self.rbuf[:n]
                    self._note(m)
            if m is not None:
                if m.type == HEARTBEAT and skip_heartbeats:
                    continue
                if m.type == ERROR and raise_error:
                    raise PeerError(m.code, m.text)
                return m
            now = time.monotonic()
            if now >= deadline or self.closed:
                return None
            if self.hb_interval and self.established and self.sock and \
                    now - self.last_tx >= self.hb_interval:
                try:
                    self.send_heartbeat()
                except OSError:
                    self.closed = True
                    return None
            self._fill(min(deadline - now, self.hb_interval or 1.0))

    def expect(self, mtype, timeout=5.0):
        """The next message, which must be of mtype: PeerError on ERROR
        or close, WireError on another type."""
        m = self.recv_msg(timeout)
        if m is None:
            raise PeerError(None, "closed" if self.closed else
                            "nothing within %.1f s (waiting for %s)" % (timeout, TYPE_NAMES[mtype]))
        if m.type == ERROR:
            raise PeerError(m.code, m.text)
        if m.type != mtype:
            raise WireError("got %s, expected %s" % (m.name, TYPE_NAMES[mtype]))
        return m

    def wait_close(self, timeout=5.0):
        """Reads until the peer closes: (closed?, ERROR Msg or None, other
        messages seen)."""
        err, seen = None, []
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            m = self.recv_msg(deadline - time.monotonic())
            if m is None:
                continue
            if m.type == ERROR:
                err = m
            else:
                seen.append(m)
        return self.closed, err, seen

    def pump(self, seconds):
        """Keeps the link alive for seconds; returns the messages seen."""
        out = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.closed:
            m = self.recv_msg(deadline - time.monotonic())
            if m is not None:
                out.append(m)
        return out

    # -- handshake --

    def handshake(self, node_id, epoch, role="send", key=None, nonce=None, resume_seq=0,
                  heartbeat_ms=1000, flags=None, timeout=5.0, verify=True, hello_sent=None):
        """Runs HELLO/AUTH/WELCOME. role "send": we send records (HELLO
        SEND), read the receiver's WELCOME; "recv": we receive (HELLO
        RECV) and send WELCOME{resume_seq}. key: the HMAC key (bytes), or
        None for an all-zero MAC. nonce: ours (default fresh), or
        "reflect" to echo the peer's (the peer's HELLO is read first).
        Returns HandshakeInfo; raises PeerError on the peer's ERROR or
        close, WireError when the peer's AUTH does not verify."""
        if flags is None:
            flags = F_SEND if role == "send" else F_RECV
        info = HandshakeInfo()
        self.node_id = node_id
        if nonce == "reflect":
            info.peer = self.expect(HELLO, timeout)
            info.nonce = self.send_hello(node_id, epoch, flags, info.peer.nonce)
        else:
            if hello_sent is None:
                info.nonce = self.send_hello(node_id, epoch, flags, nonce)
            else:
                info.nonce = hello_sent
            info.peer = self.expect(HELLO, timeout)
        p = info.peer
        if key is not None:
            mac = auth_mac(key, node_id, p.node_id, p.nonce, info.nonce)
        else:
            mac = bytes(MAC_LEN)
        self.send_auth(mac)
        info.peer_auth = self.expect(AUTH, timeout)
        if key is not None and verify:
            want = auth_mac(key, p.node_id, node_id, info.nonce, p.nonce)
            if not hmac.compare_digest(want, info.peer_auth.mac):
                self.close(E_AUTH, "authentication failed")
                raise WireError("the peer's AUTH does not verify")
        if role == "send":
            info.welcome = self.expect(WELCOME, timeout)
            info.resume_seq = info.welcome.resume_seq
        else:
            self.send_welcome(resume_seq, heartbeat_ms)
        self.info = info
        self.established = True
        return info


class Listener:
    """A listening socket: accept() gives a Link (the peer dialed us)."""

    def __init__(self, host="127.0.0.1", port=0, backlog=16):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]

    def accept(self, timeout=10.0):
        r, _ = _wait(self.sock, True, False, timeout)
        if not r:
            raise TimeoutError("no connection within %.1f s" % timeout)
        s, addr = self.sock.accept()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return Link(s, addr)

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


# ---- keys ----

def read_key(path):
    """A PSK file as the daemon reads it: its bytes, trailing whitespace
    stripped."""
    with open(path, "rb") as f:
        return f.read().rstrip(b" \t\r\n")


def read_keyring(path):
    """{node id: key bytes} from a keyring file (`<node> <hex>` lines)."""
    ring = {}
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            node, hexkey = line.split()
            ring[int(node)] = bytes.fromhex(hexkey)
    return ring


def read_pcap(path):
    """[(ts_ns, frame bytes)] of a classic pcap file (micro- or
    nanosecond, either byte order), e.g. one pbgen wrote."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    table = {b"\xd4\xc3\xb2\xa1": ("<", 1000), b"\xa1\xb2\xc3\xd4": (">", 1000),
             b"\x4d\x3c\xb2\xa1": ("<", 1), b"\xa1\xb2\x3c\x4d": (">", 1)}
    if magic not in table:
        raise ValueError("%s: not a classic pcap file" % path)
    end, mult = table[magic]
    rec = struct.Struct(end + "IIII")
    off, out = 24, []
    while off + 16 <= len(data):
        sec, frac, incl, _orig = rec.unpack_from(data, off)
        off += 16
        out.append((sec * 1000000000 + frac * mult, data[off:off + incl]))
        off += incl
    return out


def read_pcapng(path):
    """[(ts_ns, frame bytes, EPB comment or "")] of a pcapng file (the
    collector's output), in file order."""
    with open(path, "rb") as f:
        data = f.read()
    out, off, end, ifs = [], 0, "<", []
    while off + 12 <= len(data):
        btype = struct.unpack_from(end + "I", data, off)[0]
        if btype == 0x0A0D0D0A:
            bom = data[off + 8:off + 12]
            end = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            ifs = []
        blen = struct.unpack_from(end + "I", data, off + 4)[0]
        if blen < 12 or off + blen > len(data):
            break
        body = data[off + 8:off + blen - 4]
        if btype == 1:                      # IDB: find if_tsresol
            res = (10 ** 9, 10 ** 6)        # ns = units * 10^9 / per_s
            o = 8
            while o + 4 <= len(body):
                code, olen = struct.unpack_from(end + "HH", body, o)
                if code == 0:
                    break
                if code == 9 and olen >= 1:
                    v = body[o + 4]
                    res = (10 ** 9, 2 ** (v & 0x7f) if v & 0x80 else 10 ** v)
                o += 4 + (olen + 3) // 4 * 4
            ifs.append(res)
        elif btype == 6:                    # EPB
            ifid, hi, lo, caplen, _orig = struct.unpack_from(end + "IIIII", body, 0)
            frame = body[20:20 + caplen]
            o = 20 + (caplen + 3) // 4 * 4
            comment = ""
            while o + 4 <= len(body):
                code, olen = struct.unpack_from(end + "HH", body, o)
                if code == 0:
                    break
                if code == 1:
                    comment = body[o + 4:o + 4 + olen].decode("utf-8", "replace")
                o += 4 + (olen + 3) // 4 * 4
            num, den = ifs[ifid] if ifid < len(ifs) else (10 ** 9, 10 ** 6)
            out.append((((hi << 32) | lo) * num // den, bytes(frame), comment))
        off += blen
    return out


def diff_captures(inputs, outputs, origin=None):
    """(missing, extra): how many input frames (timestamp and bytes) the
    outputs lack, and how many output frames are in no input; a
    multiset comparison. origin: only output frames whose EPB comment
    starts with "pb origin=<origin>(" count."""
    from collections import Counter
    want = Counter()
    for p in inputs:
        want.update((t, f) for t, f in read_pcap(p))
    got = Counter()
    pfx = None if origin is None else "pb origin=%d(" % origin
    for p in outputs:
        got.update((t, f) for t, f, c in read_pcapng(p) if pfx is None or c.startswith(pfx))
    missing = sum((want - got).values())
    extra = sum((got - want).values())
    return missing, extra


def simple_frame(i, size=64):
    """A deterministic Ethernet frame (for forged records)."""
    hdr = bytes.fromhex("020000000002" "020000000001" "88b5")
    payload = struct.pack(">Q", i) * ((size - len(hdr)) // 8 + 1)
    return (hdr + payload)[:size]


# ---- self test: the spec's vectors ----

def selftest():
    vin = auth_input(1, 2, bytes(range(0x20, 0x40)), bytes(range(0x00, 0x20)))
    want_in = bytes.fromhex(
        "7061636b657462726f6b657220617574682076310000000100000002"
        "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
    assert len(vin) == 92 and vin == want_in, "auth input differs from spec 6.2"
    mac = auth_mac(b"correct horse battery staple", 1, 2, bytes(range(0x20, 0x40)),
                   bytes(range(0x00, 0x20)))
    assert mac.hex() == "b018fc1828e5b2e1da66d439895b0feb97c72efb17c76e1ddc4bc812ad5975e2", \
        "MAC differs from spec 6.2"
    example = bytes.fromhex("""
        50 42 01 06 00 00 00 9c 00 00 00 00 00 00 00 07
        00 00 00 01 00 03 00 01 00 00 00 00 65 53 c9 f0
        00 00 00 00 00 00 00 2a 17 97 9c fe 3d 85 cd 15
        00 00 00 3c 00 00 00 3c 00 01 01 01 01 01 01 00
        00 07 00 03 00 14 00 28 17 97 9c fe 3d 85 ca 00
        00 00 00 02 00 00 00 00 00 00 00 00 00 00 03 e9
        17 97 9c fe 3d 86 75 e0 02 00 00 00 00 02 02 00
        00 00 00 01 08 00 45 00 00 1a 00 00 40 00 40 fd
        b5 e3 c0 00 02 01 c0 00 02 02 50 42 77 69 72 65
        77 9c 88 9e 65 53 f1 00 07 5b ca 00 01 00 07 03
        51 25 08 b7""")
    m, n = decode(example)
    assert n == 164 and m.type == RECORD and m.link_seq == 7 and m.origin_seq == 42
    assert m.hops == [(2, 0, 1001, 1700000000123500000)]
    again = enc_record(m.link_seq, m.origin_node, m.origin_source, m.linktype,
                       m.origin_epoch, m.origin_seq, m.ts_ns, m.frame, m.hops,
                       trailers=m.trailers, origlen=m.origlen, flags=m.flags)
    assert again == example, "RECORD re-encoding differs from spec 9"
    assert enc_ack(7).hex() == "50420107000000080000000000000007", "ACK differs from spec 9"
    # Round trips of the other types.
    for raw in (enc_hello(9, 5, bytes(32), F_RECV), enc_auth(bytes(range(32))),
                enc_welcome(3, 200), enc_node(1, "edge", "d"), enc_source(1, 2, 1, "in", ""),
                enc_heartbeat(1, 2), enc_dlq_notice(4, 9, 2), enc_error(E_AUTH, "x")):
        m, n = decode(raw)
        assert n == len(raw) and m.raw == raw
    return True


# ---- CLI ----

def _cli(argv):
    import argparse
    ap = argparse.ArgumentParser(prog="pbwire", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("selftest", help="check the codec against the spec's vectors")
    df = sub.add_parser("diff", help="missing=M extra=E: input pcap(s) vs output pcapng(s)")
    df.add_argument("--na", type=int, default=1, help="the first NA files are inputs")
    df.add_argument("--origin", type=int, help="only output frames of this origin node")
    df.add_argument("files", nargs="+")
    hs = sub.add_parser("hello", help="connect, handshake, print the outcome as one line")
    hs.add_argument("host")
    hs.add_argument("port", type=int)
    hs.add_argument("--node", type=int, required=True)
    hs.add_argument("--epoch", type=int, default=1)
    hs.add_argument("--role", choices=("send", "recv"), default="send")
    hs.add_argument("--key-hex")
    hs.add_argument("--key-file")
    hs.add_argument("--reflect", action="store_true", help="echo the peer's nonce")
    a = ap.parse_args(argv)
    if a.cmd == "selftest":
        selftest()
        print("pbwire selftest: ok")
        return 0
    if a.cmd == "diff":
        m, e = diff_captures(a.files[:a.na], a.files[a.na:], a.origin)
        print("missing=%d extra=%d" % (m, e))
        return 0
    key = None
    if a.key_hex:
        key = bytes.fromhex(a.key_hex)
    elif a.key_file:
        key = read_key(a.key_file)
    link = Link.connect(a.host, a.port)
    try:
        info = link.handshake(a.node, a.epoch, a.role, key,
                              nonce="reflect" if a.reflect else None)
        print("up peer=%d resume_seq=%s" % (info.peer.node_id, info.resume_seq))
        return 0
    except PeerError as e:
        print("refused %s %s" % (e.name, e.text))
        return 1
    except WireError as e:
        print("wire-error %s" % e)
        return 1
    finally:
        link.close()


if __name__ == "__main__":
    sys.exit(_cli(sys.argv[1:]))
