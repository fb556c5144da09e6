#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Tunnel over TLS on 127.0.0.1 (auth.tls_cert/tls_key/tls_ca), with a CA
# and node certificates made here with the openssl CLI. A good edge sends
# every record to the collector over TLS (pcap comparison). The port speaks
# TLS 1.3 (openssl s_client, and tshark on a capture in which no record
# appears in the clear). Refused, logged and counted by the collector: an
# edge whose certificate comes from another CA, a plain edge, and a client
# whose certificate is node 105's but whose HELLO claims node 103. The
# configuration check refuses a key file with mode 0640, a key that does
# not match its certificate, a certificate naming another node id, and TLS
# together with a shared PSK.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_root
require_tools curl jq openssl tshark tcpdump
require_built
pb_setup
T=$PB_TMP
N=20000
"$PBGEN" --count $N --size 100 --seed 25 -o "$T/good.pcap"
"$PBGEN" --count 1000 --size 100 --seed 26 -o "$T/bad.pcap"

# ---- PKI: a CA, a rogue CA, node certificates naming urn:packetbroker:node:<id> ----
P=$T/pki
mkdir -p "$P"
umask 077
mkca() { # NAME
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	    -keyout "$P/$1.key" -out "$P/$1.crt" -subj "/CN=$1" \
	    -addext "basicConstraints=critical,CA:TRUE" \
	    -addext "keyUsage=critical,keyCertSign,cRLSign" >"$P/openssl.log" 2>&1 ||
	    fail "openssl: cannot make CA $1: $(cat "$P/openssl.log")"
}
mkcert() { # NAME NODE CA
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$P/$1.key" -out "$P/$1.csr" -subj "/CN=$1" >"$P/openssl.log" 2>&1 &&
	printf 'basicConstraints=critical,CA:FALSE\nsubjectAltName=URI:urn:packetbroker:node:%s\n' \
	    "$2" >"$P/$1.ext" &&
	openssl x509 -req -in "$P/$1.csr" -CA "$P/$3.crt" -CAkey "$P/$3.key" -CAcreateserial \
	    -days 1 -extfile "$P/$1.ext" -out "$P/$1.crt" >>"$P/openssl.log" 2>&1 ||
	    fail "openssl: cannot make certificate $1: $(cat "$P/openssl.log")"
}
mkca ca
mkca rogue
mkcert col 102 ca
mkcert good 101 ca
mkcert bad 103 rogue    # a node 103 certificate the collector's CA never signed
mkcert n105 105 ca      # a real certificate, for another node than the one claimed
umask 022
pb_log "certificate of the good edge: $(openssl x509 -in "$P/good.crt" -noout -subject -ext subjectAltName | tr '\n' ' ')"

pb_ports 5
TP=${PB_PORTS[0]}
tls() { # NAME
	echo "auth = { tls_cert = \"$P/$1.crt\"; tls_key = \"$P/$1.key\"; tls_ca = \"$P/ca.crt\"; };"
}
pb_node_conf col 102 "${PB_PORTS[1]}" <<CONF
listen = { address = "127.0.0.1"; port = $TP; };
$(tls col)
dump = { file = "out/c-%Y%m%d-%H%M%S.pcapng"; };
CONF
pb_node_conf good 101 "${PB_PORTS[2]}" <<CONF
captures = ( { name = "in"; file = "$T/good.pcap"; rate = 20000; } );
peers = ( { name = "col"; address = "127.0.0.1"; port = $TP; node = 102; } );
$(tls good)
CONF
pb_node_conf bad 103 "${PB_PORTS[3]}" <<CONF
captures = ( { name = "in"; file = "$T/bad.pcap"; } );
peers = ( { name = "col"; address = "127.0.0.1"; port = $TP; } );
$(tls bad)
CONF
pb_node_conf plain 104 "${PB_PORTS[4]}" <<CONF
captures = ( { name = "in"; file = "$T/bad.pcap"; } );
peers = ( { name = "col"; address = "127.0.0.1"; port = $TP; } );
CONF

# ---- the configuration check ----
refused() { # NAME PATTERN: $T/NAME.conf must be refused with PATTERN
	if "$PBD" -t -c "$T/$1.conf" >"$T/$1.log" 2>&1; then
		fail "$1: configuration accepted"
	fi
	grep -q -- "$2" "$T/$1.log" || fail "$1: expected '$2', got: $(cat "$T/$1.log")"
	pb_log "refused ($1): $(head -1 "$T/$1.log")"
}
cp "$P/good.key" "$P/open.key"
chmod 640 "$P/open.key"
sed "s|$P/good.key|$P/open.key|" "$T/good/node.conf" >"$T/keymode.conf"
refused keymode "open.key\" has mode 0640: a secret must not be accessible"
sed "s|$P/good.key|$P/col.key|" "$T/good/node.conf" >"$T/mismatch.conf"
refused mismatch "col.key\" does not match the certificate \"$P/good.crt\""
sed "s|$P/good.crt|$P/n105.crt|; s|$P/good.key|$P/n105.key|" "$T/good/node.conf" >"$T/othernode.conf"
refused othernode "n105.crt\" names node 105, but this node is node.id 101"
sed "s|$P/ca.crt|$P/none.crt|" "$T/good/node.conf" >"$T/noca.conf"
refused noca "cannot open \"$P/none.crt\""
printf '0123456789abcdef0123456789\n' >"$P/psk"
chmod 600 "$P/psk"
sed "s|tls_ca = \"$P/ca.crt\";|tls_ca = \"$P/ca.crt\"; psk_file = \"$P/psk\"; shared_psk = true;|" \
    "$T/good/node.conf" >"$T/psk.conf"
refused psk "contradicts auth.tls_cert"

# ---- the tunnel ----
pb_tcpdump tcpdump "" lo "$T/tls.pcap" tcp port "$TP"
pb_node col
pb_node good -x
pb_node bad
pb_node plain

# Node 105's certificate, a HELLO that claims node 103.
{
	printf 'PB\001\001\000\000\000\060'        # header: HELLO, 48 bytes
	printf '\001\001\000\001\000\000\000\147'  # versions 1..1, SEND, node 103
	printf '\000\000\000\000\000\000\000\001'  # epoch
	head -c 32 /dev/urandom                    # nonce
} >"$T/hello103.bin"
(cat "$T/hello103.bin"; sleep 1) | timeout 10 openssl s_client -connect "127.0.0.1:$TP" \
    -CAfile "$P/ca.crt" -cert "$P/n105.crt" -key "$P/n105.key" -brief -ign_eof \
    >"$T/sclient.out" 2>"$T/sclient.err" || true
pb_log "openssl s_client: $(grep -E 'Protocol version|Verification|Peer certificate' "$T/sclient.err" | tr '\n' ';')"
grep -q 'Protocol version: TLSv1.3' "$T/sclient.err" || fail "s_client: no TLS 1.3: $(cat "$T/sclient.err")"
grep -q 'Verification: OK' "$T/sclient.err" || fail "s_client: the collector's certificate did not verify"
grep -aq 'certificate names node 105, HELLO claims node 103' "$T/sclient.out" ||
    fail "s_client: no ERROR node-id from the collector: $(head -c 300 "$T/sclient.out" | tr -c '[:print:]' .)"

pb_node_wait_exit good 30
pb_node_exit_ok good "good edge (--exit-on-finish)"
pb_wait_until 10 "the collector to write the good edge's $N frames" \
    pb_node_true col /api/v1/sinks ".sinks[0].packets >= $N"
pb_wait_until 10 "the bad edge to count a refused certificate" \
    pb_node_true bad /api/v1/peers/col '.auth_failures > 0'
pb_wait_until 10 "the plain edge to be refused" \
    pb_node_true plain /api/v1/peers/col '.auth_failures > 0'
pb_settle col
pb_log "bad edge /peers/col: $(pb_node_json bad /api/v1/peers/col -c '{state, auth_failures, protocol_errors, last_error}')"
pb_log "plain edge /peers/col: $(pb_node_json plain /api/v1/peers/col -c '{state, auth_failures, last_error}')"
[ "$(pb_peer bad col records_acked)" = 0 ] || fail "bad edge: records acknowledged"
[ "$(pb_peer plain col records_acked)" = 0 ] || fail "plain edge: records acknowledged"
pb_peer bad col last_error | grep -q 'peer refused our certificate' ||
    fail "bad edge: last_error $(pb_peer bad col last_error)"
pb_peer plain col last_error | grep -q 'this node requires TLS' ||
    fail "plain edge: last_error $(pb_peer plain col last_error)"
# /peers says which links run over TLS, for dialers that never got up too.
[ "$(pb_peer bad col tls)" = true ] || fail "bad edge: /peers/col tls is $(pb_peer bad col tls), expected true"
[ "$(pb_peer plain col tls)" = false ] || fail "plain edge: /peers/col tls is $(pb_peer plain col tls), expected false"

# One log line per refusal, naming the peer address and the reason.
for pat in 'TLS handshake: peer certificate refused: unable to get local issuer certificate' \
    'peer speaks packetbroker without TLS' 'TLS: certificate names node 105, HELLO claims node 103'; do
	line=$(grep -h -- "$pat" "$(pb_node_log col)" | head -1)
	[ -n "$line" ] || fail "collector: no log line '$pat'"
	echo "$line" | grep -Eq '\(127\.0\.0\.1:[0-9]+\)' || fail "collector: no peer address in: $line"
	pb_log "collector: $line"
done
pb_node_grep col 'up, node 101, receiver, protocol v1, TLS' || fail "collector: the good edge did not come up over TLS"
pb_node_grep col 'links use TLS 1.3, certificate' || fail "collector: no TLS start line"
auth=$(pb_node_json col /api/v1/peers '.tunnel.auth_failures')
pb_log "collector tunnel counters: $(pb_node_json col /api/v1/peers -c '.tunnel | {auth_failures, protocol_errors}')"
[ "$auth" -ge 3 ] || fail "collector: tunnel.auth_failures $auth, expected at least 3"

# Only the good edge's records, each once, in order.
good_rx=$(pb_node_json col /api/v1/peers '[.peers[] | select(.node.id == 101) | .records_received] | add // 0')
bad_rx=$(pb_node_json col /api/v1/peers '[.peers[] | select(.node.id != 101) | .records_received] | add // 0')
[ "$good_rx" = $N ] || fail "collector received $good_rx records from the good edge, expected $N"
[ "$bad_rx" = 0 ] || fail "collector received $bad_rx records from other nodes"
for n in bad plain col; do
	pb_node_stop "$n" 20
	pb_node_exit_ok "$n" "SIGTERM"
done
pb_tcpdump_stop "$PB_TCPDUMP"
mapfile -t outs < <(pb_outputs_ng "$T/col/out")
pb_log "output: $(pb_count "${outs[@]}") frames"
pb_cmp --ts "$T/good.pcap" "${outs[@]}"

# On the wire: TLS 1.3 records, and no frame in the clear (every pbgen
# frame carries the tag "PBGN").
hellos=$(tshark -r "$T/tls.pcap" -d "tcp.port==$TP,tls" -Y 'tls.handshake.type == 1' 2>/dev/null | wc -l)
appdata=$(tshark -r "$T/tls.pcap" -d "tcp.port==$TP,tls" -Y 'tls.record.opaque_type == 23 || tls.record.content_type == 23' 2>/dev/null | wc -l)
v13=$(tshark -r "$T/tls.pcap" -d "tcp.port==$TP,tls" -Y 'tls.handshake.extensions.supported_version == 0x0304' 2>/dev/null | wc -l)
pb_log "capture: $hellos ClientHello, $v13 with TLS 1.3, $appdata frames of application data"
[ "$hellos" -ge 3 ] && [ "$v13" -ge 3 ] && [ "$appdata" -ge 100 ] || fail "the capture does not show TLS 1.3"
intag=$(grep -ac PBGN "$T/good.pcap" || true)
clear=$(grep -ac PBGN "$T/tls.pcap" || true)
pb_log "tag PBGN: in $intag lines of the input, $clear of the capture"
[ "$clear" = 0 ] || fail "records in the clear on the tunnel port"
# The keys never appear in a log.
for n in col good bad plain; do
	! pb_node_grep "$n" "PRIVATE KEY" || fail "$n: a private key appears in its log"
done
pb_no_crash col good bad plain
pass
