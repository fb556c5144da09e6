#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The dashboard (web/, served by packetbrokerd at /) in headless Chromium,
# driven by playwright-core (tests/tools/dashboard.mjs) against an edge
# that forwards a looping capture to a collector: the peer table shows the
# collector up with its throughput, then down within 5 s of the collector
# being killed; records time out into the DLQ and the Replay button (with
# the token) drains it once the collector is back; the collector's page
# lists the edge's stream and its path by name (edge → col) in the gaps
# table, an unnamed hop by id; screenshots at 1280 and 390 px wide; no console errors; a banner once the API is gone. Also the
# static files' headers, 404/400/405 and the Host check over curl.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

PLAYWRIGHT_VERSION=1.65.2
CHROMIUM=${PB_CHROMIUM:-/usr/bin/chromium}
require_root
require_tools curl jq
require_built
[ -x "$CHROMIUM" ] || skip "chromium needed ($CHROMIUM)"
command -v node >/dev/null 2>&1 || skip "node needed for playwright-core"
pb_setup
T=$PB_TMP

# playwright-core: PB_PLAYWRIGHT, else a copy cached in /var/tmp (npm).
PW=${PB_PLAYWRIGHT:-}
if [ -z "$PW" ]; then
	cache=${PB_PLAYWRIGHT_CACHE:-/var/tmp/packetbroker-playwright-$PLAYWRIGHT_VERSION}
	PW=$cache/node_modules/playwright-core
	if [ ! -f "$PW/package.json" ]; then
		command -v npm >/dev/null 2>&1 || skip "npm needed to install playwright-core"
		mkdir -p "$cache"
		timeout 300 npm install --silent --no-audit --no-fund --prefix "$cache" \
		    "playwright-core@$PLAYWRIGHT_VERSION" >"$T/npm.log" 2>&1 ||
		    skip "cannot install playwright-core: $(tail -n 3 "$T/npm.log")"
	fi
fi
[ -f "$PW/package.json" ] || fail "playwright-core missing in $PW"

"$PBGEN" --count 500 --sizes 64,512,1500 --seed 9 -o "$T/loop.pcap"
pb_ports 3
TP=${PB_PORTS[0]}
PB_API_EXTRA="web_root = \"$top_srcdir/web\";" pb_node_conf col 92 "${PB_PORTS[1]}" <<CONF
listen = { address = "127.0.0.1"; port = $TP; };
dump = { file = "out/c-%Y%m%d-%H%M%S.pcapng"; };
CONF
PB_API_EXTRA="web_root = \"$top_srcdir/web\";" pb_node_conf edge 91 "${PB_PORTS[2]}" <<CONF
captures = ( { name = "loop"; file = "$T/loop.pcap"; loop = 0; rate = 300; } );
peers = ( { name = "col"; address = "127.0.0.1"; port = $TP; } );
resend = { timeout = 1.0; buffer_mb = 16; };
dlq = { path = "dlq.db"; max_mb = 16; auto_replay = false; };
CONF
BASE=http://127.0.0.1:${PB_NODE_API[edge]}
pb_node col
pb_node edge

# ---- the static files over curl ----
hdr() { curl -s --path-as-is --max-time 5 -o "$T/body" -D "$T/hdr" -w '%{http_code}' "$@"; }
for f in / /index.html /app.js /chart.js /style.css /favicon.svg; do
	[ "$(hdr "$BASE$f")" = 200 ] || fail "GET $f: $(head -c 200 "$T/body")"
	case $f in
	/ | /index.html) ct='text/html; charset=utf-8'; cmp -s "$T/body" "$top_srcdir/web/index.html" ;;
	*.js) ct='text/javascript; charset=utf-8'; cmp -s "$T/body" "$top_srcdir/web$f" ;;
	*.css) ct='text/css; charset=utf-8'; cmp -s "$T/body" "$top_srcdir/web$f" ;;
	*) ct='image/svg+xml'; cmp -s "$T/body" "$top_srcdir/web$f" ;;
	esac || fail "GET $f: not the file's content"
	grep -qi "^content-type: $ct" "$T/hdr" || fail "GET $f: $(grep -i content-type "$T/hdr")"
	grep -qi "^cache-control: no-cache" "$T/hdr" || fail "GET $f: no Cache-Control: no-cache"
	grep -qi "^content-security-policy: default-src 'self';" "$T/hdr" || fail "GET $f: no strict CSP"
done
[ "$(hdr -I "$BASE/app.js")" = 200 ] && grep -qi '^content-type: text/javascript' "$T/hdr" ||
    fail "HEAD /app.js: $(cat "$T/hdr")"
[ "$(hdr "$BASE/secret.txt")" = 404 ] && [ "$(jq -r .error.code "$T/body")" = not_found ] ||
    fail "unknown file: $(cat "$T/body")"
for p in /../etc/passwd /%2e%2e/node.conf /./app.js; do
	[ "$(hdr "$BASE$p")" = 400 ] && [ "$(jq -r .error.code "$T/body")" = bad_path ] ||
	    fail "GET $p: $(cat "$T/body")"
done
[ "$(hdr -X POST "$BASE/app.js")" = 405 ] || fail "POST /app.js: $(cat "$T/body")"
[ "$(hdr -H 'Host: evil.example' "$BASE/")" = 421 ] || fail "foreign Host got the page"
[ "$(hdr -H 'Origin: http://evil.example' "$BASE/app.js")" = 403 ] || fail "foreign Origin got a file"
pb_log "static files: types, no-cache, CSP, 404/400/405/421/403 as expected"

# ---- the browser ----
pb_wait_until 10 "records at the collector" pb_node_true col /api/v1/sinks '.sinks[0].packets > 0'
mkdir -p "$T/sync"
ART=${PB_ARTIFACTS:-$top_builddir/tests/integration/artifacts}
PB_URL=$BASE/ PB_COLLECTOR_URL=http://127.0.0.1:${PB_NODE_API[col]}/ PB_PEER=col PB_COLLECTOR_PID=${PB_NODE_PID[col]} \
    PB_TOKEN=$(cat "$T/edge/api.token") PB_SYNC=$T/sync PB_ARTIFACTS=$ART \
    PB_PLAYWRIGHT=$PW PB_CHROMIUM=$CHROMIUM \
    timeout 90 node "$top_srcdir/tests/tools/dashboard.mjs" >"$T/browser.log" 2>&1 &
bpid=$!
PB_PIDS+=("$bpid")
browser_step() { [ -e "$T/sync/$1" ] || ! pb_alive "$bpid"; }
pb_wait_until 60 "the browser to ask for the collector" browser_step want-restart
if pb_alive "$bpid"; then
	pb_node col
	touch "$T/sync/restarted"
	pb_wait_until 60 "the browser to ask for the edge to stop" browser_step want-edge-stop
	if pb_alive "$bpid"; then
		# What the page showed, from the API: the replay emptied the DLQ.
		pb_node_true edge /api/v1/dlq '.total == 0' ||
		    fail "the edge's DLQ holds $(pb_dlq edge .total) entries after the replay"
		pb_stop "${PB_NODE_PID[edge]}"
	fi
fi
rc=0
wait "$bpid" || rc=$?
sed 's/^/  /' "$T/browser.log"
[ "$rc" = 0 ] || fail "the dashboard test failed (status $rc)"
for w in 1280 390; do
	[ -s "$ART/dashboard-$w.png" ] || fail "no screenshot $ART/dashboard-$w.png"
	pb_log "artefact: $ART/dashboard-$w.png"
done
pass "dashboard: peer up then down, DLQ replayed from the page, screenshots at 1280 and 390 px"
