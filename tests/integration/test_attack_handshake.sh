#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Handshake abuse and key hygiene, while a real edge streams to the
# collector (keyring mode):
#   1. a HELLO that reflects the collector's own nonce (node 5004, right
#      key): ERROR auth;
#   2. an optional message type (200) as the first message, and 3. right
#      after HELLO, before AUTH: ERROR unexpected (spec 6.1: nothing but
#      the handshake before it is done);
#   4. 200 failed pre-authentication connections (100 wrong MACs, 100 that
#      speak another protocol) from one address: at most 20 WARN lines in
#      the collector's log (rate-limited logging), and it keeps serving;
#   5. key files: a keyring or a shared PSK file with mode 0640, 0660 or
#      0620, or owned by another user, makes `packetbrokerd -t` fail and
#      name the file and its mode; psk_file without shared_psk is refused;
#      a keyring with a 30-hex-digit key is refused; mode 0600 passes.
# The edge's records all arrive (output = input, multiset and order).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/attack_lib.sh"

atk_init
N=40000
"$PBGEN" --count $N --sizes 64,128 --seed 108 -o "$T/in.pcap"
atk_col_conf </dev/null
atk_edge_conf "$T/in.pcap" 4000 </dev/null
pb_node col
pb_node edge -x
pb_wait_until 15 "the collector to write 2000 frames" \
    pb_node_true col /api/v1/sinks '.sinks[0].packets >= 2000'

# ---- 1..3 ----
u0=$(atk_refused col unexpected)
out=$(atk_py <<'EOF' | tr '\n' ' '
import os, pbwire
key = bytes.fromhex(os.environ["ATK_KEY_ATK"])
port = int(os.environ["ATK_TP"])

def attempt(name, fn):
    l = pbwire.Link.connect("127.0.0.1", port, source="127.0.2.1")
    try:
        fn(l)
        closed, err, seen = l.wait_close(3)
        print("%s=%s" % (name, err.code_name if err else ("closed" if closed else "open")))
    except pbwire.PeerError as e:
        print("%s=%s" % (name, e.name))
    finally:
        l.close()

def reflect(l):
    l.handshake(5004, 3, "send", key, nonce="reflect")

def optional_first(l):
    l.send_raw(pbwire.message(200, b"hello?"))

def optional_after_hello(l):
    l.send_hello(5004, 3, pbwire.F_SEND)
    l.expect(pbwire.HELLO)
    l.send_raw(pbwire.message(200, b"stats"))

attempt("reflected_nonce", reflect)
attempt("optional_first", optional_first)
attempt("optional_after_hello", optional_after_hello)
EOF
) || fail "attacker script failed: $out"
pb_log "1-3: $out"
[ "$(atk_field "$out" reflected_nonce)" = auth ] || atk_fail "1: a reflected HELLO nonce was not refused with ERROR auth: $out"
[ "$(atk_field "$out" optional_first)" = unexpected ] ||
    atk_fail "2: an optional message type before HELLO was not refused with ERROR unexpected: $out"
[ "$(atk_field "$out" optional_after_hello)" = unexpected ] ||
    atk_fail "3: an optional message type before AUTH was not refused with ERROR unexpected: $out"
pb_wait_until 5 "refused.unexpected to count 2 and 3" \
    eval '[ "$(atk_refused col unexpected)" -ge $((u0 + 2)) ]'

# ---- 4. 200 failed pre-auth connections ----
log=$(pb_node_log col)
w0=$(grep -c ' WARN ' "$log" || true)
out=$(atk_py <<'EOF' | tr '\n' ' '
import os, pbwire
port = int(os.environ["ATK_TP"])
wrong = os.urandom(32)
codes = {}
for i in range(200):
    try:
        l = pbwire.Link.connect("127.0.0.1", port, source="127.0.2.2")
    except OSError as e:
        codes["connect-" + type(e).__name__] = codes.get("connect-" + type(e).__name__, 0) + 1
        continue
    try:
        if i % 2:
            l.handshake(5004, 3, "send", wrong, verify=False)
            c = "up"
        else:
            l.send_raw(b"GET / HTTP/1.0\r\n\r\n")
            closed, err, _ = l.wait_close(3)
            c = err.code_name if err else ("closed" if closed else "open")
    except pbwire.PeerError as e:
        c = e.name
    l.close()
    codes[c] = codes.get(c, 0) + 1
print(" ".join("%s=%d" % kv for kv in sorted(codes.items())))
EOF
) || fail "attacker script failed: $out"
sleep 1
w1=$(grep -c ' WARN ' "$log" || true)
pb_log "4. 200 failed pre-auth connections: $out"
pb_log "4: $((w1 - w0)) WARN line(s) in the collector's log for them:"
grep ' WARN ' "$log" | tail -n +$((w0 + 1)) | head -5 | while read -r l; do pb_log "   $l"; done
[ "$(atk_field "$out" up)" = "" ] || atk_fail "4: $(atk_field "$out" up) connection(s) with a wrong key got through"
[ $((w1 - w0)) -le 20 ] || atk_fail "4: 200 failed pre-auth connections produced $((w1 - w0)) WARN lines (at most 20 expected: rate-limited)"
pb_node_up col || atk_fail "4: the collector's API does not answer after the failed connections"

# ---- 5. key files ----
conf_check() { # FILE: packetbrokerd -t; output in $T/check.log, status 0/1
	"$PBD" -t -c "$1" >"$T/check.log" 2>&1
}
mk_conf() { # NAME AUTHLINE
	sed "s|^auth = .*|$2|" "$T/col/node.conf" >"$T/col/$1.conf"
	echo "$T/col/$1.conf"
}
umask 077
cp "$T/col.keyring" "$T/k.keyring"
cp "$T/psk" "$T/k.psk"
umask 022
kconf=$(mk_conf kr "auth = { keyring = \"$T/k.keyring\"; };")
pconf=$(mk_conf ps "auth = { psk_file = \"$T/k.psk\"; shared_psk = true; };")
files="k.keyring k.psk"
if [ "$ATK_LEGACY" = 1 ]; then
	# An older daemon knows neither keyring nor shared_psk: its PSK file.
	pconf=$(mk_conf ps "auth = { psk_file = \"$T/k.psk\"; };")
	files=k.psk
fi
for f in $files; do
	c=$kconf
	[ "$f" = k.keyring ] || c=$pconf
	conf_check "$c" || atk_fail "5: $f with mode 0600 refused: $(cat "$T/check.log")"
	for mode in 0640 0660 0620; do
		chmod "$mode" "$T/$f"
		if conf_check "$c"; then
			atk_fail "5: $f with mode $mode accepted by packetbrokerd -t"
		elif ! grep -q "$T/$f" "$T/check.log" || ! grep -Eq "(^|[^0-7])0?${mode#0}([^0-7]|$)" "$T/check.log"; then
			atk_fail "5: $f with mode $mode refused, but the message does not name the file and its mode: $(cat "$T/check.log")"
		else
			pb_log "5: $f mode $mode: $(head -1 "$T/check.log")"
		fi
		chmod 0600 "$T/$f"
	done
done
if [ "$ATK_LEGACY" != 1 ]; then
	chown 65534 "$T/k.keyring"
	if conf_check "$kconf"; then
		atk_fail "5: a keyring owned by another user (uid 65534) accepted"
	else
		pb_log "5: keyring owned by uid 65534: $(head -1 "$T/check.log")"
	fi
	chown 0 "$T/k.keyring"
	c=$(mk_conf psonly "auth = { psk_file = \"$T/k.psk\"; };")
	if conf_check "$c"; then
		atk_fail "5: psk_file without shared_psk = true accepted"
	else
		pb_log "5: psk_file without shared_psk: $(head -1 "$T/check.log")"
	fi
	printf '1 %s\n' "$(printf %s "$K_EDGE" | head -c 30)" >"$T/k.keyring"
	if conf_check "$kconf"; then
		atk_fail "5: a keyring with a 30-hex-digit (15-byte) key accepted"
	else
		pb_log "5: 30-hex-digit key: $(head -1 "$T/check.log")"
	fi
fi

atk_edge_done 45
pb_settle col
pb_log "collector: $(atk_refused_all col)"
atk_col_stop
atk_no_loss "$T/in.pcap" $N
pb_no_crash col edge
atk_pass
