#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The API over HTTPS (api.tls_cert/tls_key, libmicrohttpd with GnuTLS) with
# a certificate this test makes, a token for reads (api.read_token_file)
# and a request rate limit (api.rate_limit):
# - curl --cacert: 200 with the read token or the mutation token, 401 with
#   a challenge without one or with a wrong one; a mutation with the read
#   token is 401; plain HTTP and an unverified certificate get nothing.
# - Over the rate: 429 with Retry-After and error code rate_limited,
#   counted in /status and /metrics; after a pause requests pass again.
# - packetbrokerd -t names a key that is not the certificate's, a key file
#   others can read, and tls_cert without tls_key.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

require_tools curl jq openssl
require_built
pb_setup
T=$PB_TMP
"$PBGEN" --count 10 --size 64 -o "$T/in.pcap"

mkcert() { # NAME: $T/NAME.crt and $T/NAME.key (0600), for 127.0.0.1
	(umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -subj "/CN=packetbroker test" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
	    -days 1 -keyout "$T/$1.key" -out "$T/$1.crt" >"$T/openssl.log" 2>&1) ||
	    fail "openssl: $(cat "$T/openssl.log")"
}
mkcert api
mkcert other
(umask 077 && echo "read-token-0123456789abcdef" >"$T/read.token" &&
    echo "write-token-0123456789abcdef" >"$T/write.token")
PORT=$(pb_free_port)
conf() { # FILE EXTRA-API-KEYS
	cat >"$1" <<CONF
node = { id = 7; name = "tls"; };
captures = ( { name = "in"; file = "$T/in.pcap"; loop = 0; rate = 100; } );
api = { listen = "127.0.0.1:$PORT"; token_file = "$T/write.token";
        read_token_file = "$T/read.token"; $2 };
CONF
}

# Configuration checks first.
conf "$T/mismatch.conf" "tls_cert = \"$T/api.crt\"; tls_key = \"$T/other.key\";"
"$PBD" -t -c "$T/mismatch.conf" >"$T/t.log" 2>&1 && fail "-t accepted a key of another certificate"
grep -q "is not the key of the certificate" "$T/t.log" || fail "-t: $(cat "$T/t.log")"
cp "$T/api.key" "$T/open.key" && chmod 0644 "$T/open.key"
conf "$T/open.conf" "tls_cert = \"$T/api.crt\"; tls_key = \"$T/open.key\";"
"$PBD" -t -c "$T/open.conf" >"$T/t.log" 2>&1 && fail "-t accepted a key file others can read"
grep -q "open.key" "$T/t.log" || fail "-t: $(cat "$T/t.log")"
conf "$T/half.conf" "tls_cert = \"$T/api.crt\";"
"$PBD" -t -c "$T/half.conf" >"$T/t.log" 2>&1 && fail "-t accepted tls_cert without tls_key"
grep -q "tls_cert and tls_key go together" "$T/t.log" || fail "-t: $(cat "$T/t.log")"

conf "$T/tls.conf" "tls_cert = \"$T/api.crt\"; tls_key = \"$T/api.key\"; rate_limit = 5; rate_burst = 20;"
"$PBD" -t -c "$T/tls.conf" >"$T/t.log" 2>&1 || fail "-t: $(cat "$T/t.log")"
pb_daemon tls "$T/tls.conf"
D=$PB_PID
URL=https://127.0.0.1:$PORT
RT="Authorization: Bearer $(cat "$T/read.token")"
WT="Authorization: Bearer $(cat "$T/write.token")"
get() { # EXPECTED PATH [CURL ARGS]
	local want=$1 path=$2 got
	shift 2
	got=$(curl -s --cacert "$T/api.crt" --max-time 5 -o "$T/body" -D "$T/headers" \
	    -w '%{http_code}' "$@" "$URL$path" || true)
	[ "$got" = "$want" ] || fail "GET $path $*: HTTP $got, expected $want: $(head -c 200 "$T/body")"
}
up() { [ "$(curl -s --cacert "$T/api.crt" --max-time 2 -o /dev/null -w '%{http_code}' \
    -H "$RT" "$URL/api/v1/status")" = 200 ]; }
pb_wait_until 10 "the API over HTTPS" up

get 200 /api/v1/status -H "$RT"
jq -e '.api.tls and .api.read_token' "$T/body" >/dev/null || fail "status: $(cat "$T/body")"
get 200 /api/v1/sources -H "$WT"
get 200 /metrics -H "$RT"
grep -q '^packetbroker_source_packets_total{source="in"} ' "$T/body" || fail "metrics over TLS"
get 401 /api/v1/status
grep -qi '^WWW-Authenticate: Bearer' "$T/headers" || fail "401 without a challenge"
[ "$(jq -r .error.code "$T/body")" = unauthorized ] || fail "401: $(cat "$T/body")"
get 401 /metrics -H "Authorization: Bearer wrong-token-0123456789"
code=$(curl -s --cacert "$T/api.crt" --max-time 5 -o "$T/body" -w '%{http_code}' -X POST \
    -H "$RT" -H 'Content-Type: application/json' -d '{}' "$URL/api/v1/dlq/replay" || true)
[ "$code" = 401 ] || fail "a mutation with the read token: HTTP $code"
# No TLS, or no trust in the certificate: no answer at all.
code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' -H "$RT" "http://127.0.0.1:$PORT/api/v1/status" || true)
[ "$code" = 000 ] || fail "plain HTTP to the HTTPS port: HTTP $code"
rc=0
curl -s --max-time 5 -o /dev/null -H "$RT" "$URL/api/v1/status" || rc=$?
[ "$rc" = 60 ] || fail "curl without the CA: exit $rc, expected 60 (certificate not trusted)"
rc=0
curl -s --cacert "$T/other.crt" --max-time 5 -o /dev/null -H "$RT" "$URL/api/v1/status" || rc=$?
[ "$rc" = 60 ] || fail "curl with another CA: exit $rc, expected 60"

# Over the rate: 40 requests on one connection within well under a second
# (rate 5/s, burst 20): the bucket refilled, 20 or a few more pass, the rest
# are refused with Retry-After; then it recovers.
sleep 4.2
# Each answer's body is kept: the first refused one must be a 429 with
# Retry-After and a JSON error (which one it is depends on the machine's
# speed: a slow TLS round trip lets the bucket refill in between).
urls=()
for i in $(seq 40); do urls+=(-o "$T/body.$i" "$URL/api/v1/status"); done
curl -s --cacert "$T/api.crt" --max-time 20 -H "$RT" -w '%{http_code} %header{retry-after}\n' \
    "${urls[@]}" >"$T/codes" || true
n429=$(grep -c '^429 ' "$T/codes" || true)
n200=$(grep -c '^200 ' "$T/codes" || true)
[ $((n429 + n200)) = 40 ] || fail "40 quick requests: $(cut -d' ' -f1 "$T/codes" | sort | uniq -c | tr '\n' ' ')"
[ "$n200" -ge 20 ] && [ "$n429" -ge 12 ] || fail "40 quick requests at 5/s: $n200 passed, $n429 refused"
k=$(grep -n -m1 '^429' "$T/codes" | cut -d: -f1)
first=$(sed -n "${k}p" "$T/codes")
[ -n "${first#429 }" ] || fail "429 without Retry-After"
[ "$(jq -r .error.code "$T/body.$k")" = rate_limited ] || fail "429: $(cat "$T/body.$k")"
sleep 1.5
get 200 /api/v1/status -H "$RT"
limited=$(jq -r .api.rate_limited "$T/body")
[ "$limited" = "$n429" ] || fail "status: rate_limited $limited, $n429 seen"
get 200 /metrics -H "$RT"
grep -q "^packetbroker_api_refused_total{reason=\"rate_limited\"} $n429\$" "$T/body" ||
    fail "metrics: $(grep rate_limited "$T/body")"
grep -q "^packetbroker_api_responses_total{code=\"429\"} $n429\$" "$T/body" || fail "metrics: 429 count"
pb_alive "$D" || fail "daemon died"
pb_stop "$D" 20
[ "$PB_RC" = 0 ] || fail "exit status $PB_RC"
pass "HTTPS with a read token; $n429 requests rate-limited"
