#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Descriptor exhaustion. The collector runs with 1024 file descriptors
# (soft and hard limit: the daemon raises its soft limit to the hard one),
# and receives 3000 plain TCP connections to its tunnel port from 250
# source addresses (127.0.1.x), held open without a byte sent. Unbounded,
# each one takes a descriptor until the handshake timeout: the daemon runs
# out, its API stops answering and its dump cannot open the next file.
#
# Fixed behaviour: connections beyond listen.max_handshakes (64) and
# max_handshakes_per_ip (8) are closed at once and counted
# (refused.preauth_limit); GET /api/v1/status keeps answering 200, the
# dump keeps rotating (rotate_seconds = 1) and the edge, connected before
# the flood, delivers every record: output = input (multiset and order).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/attack_lib.sh"

atk_init
require_tools prlimit
N=60000
"$PBGEN" --count $N --sizes 64,128 --seed 107 -o "$T/in.pcap"
atk_col_conf "" "rotate_seconds = 1;" </dev/null
atk_edge_conf "$T/in.pcap" 4000 </dev/null

atk_node_wrapped col prlimit --nofile=1024:1024 --
lim=$(awk '/Max open files/ { print $4 " " $5 }' "/proc/${PB_NODE_PID[col]}/limits")
pb_log "collector: open files limit (soft hard) $lim"
[ "$lim" = "1024 1024" ] || fail "collector runs with open files limit '$lim', expected 1024 1024"
pb_node edge -x
pb_wait_until 15 "the collector to write 2000 frames" \
    pb_node_true col /api/v1/sinks '.sinks[0].packets >= 2000'
pl0=$(atk_refused col preauth_limit)

atk_py_bg flood <<'EOF'
import errno, os, resource, select, socket, time
resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))
port = int(os.environ["ATK_TP"])
socks, failed = [], 0
for i in range(3000):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.bind(("127.0.1.%d" % (1 + i % 250), 0))
    r = s.connect_ex(("127.0.0.1", port))
    if r not in (0, errno.EINPROGRESS):
        failed += 1
        s.close()
        continue
    socks.append(s)
print("connecting=%d failed=%d" % (len(socks), failed), flush=True)
# Hold them open for 8 s; count those the collector closed (EOF / reset).
poll = select.poll()
byfd = {s.fileno(): s for s in socks}
for fd in byfd:
    poll.register(fd, select.POLLIN)
deadline, closed = time.monotonic() + 8, set()
while time.monotonic() < deadline:
    for fd, ev in poll.poll(200):
        try:
            data = byfd[fd].recv(65536)
        except BlockingIOError:
            continue
        except OSError:
            data = b""
        if not data:
            closed.add(fd)
            poll.unregister(fd)
print("held=%d closed_by_collector=%d" % (len(socks), len(closed)), flush=True)
for s in socks:
    s.close()
print("done", flush=True)
EOF
FLOOD=$PB_PID
pb_wait_until 20 "the flood's connections" grep -q '^connecting=' "$T/flood.log"
probes=0 bad=0 ex=
while pb_alive "$FLOOD" && [ "$probes" -lt 60 ]; do
	c=$(pb_node_http col /api/v1/status --max-time 2)
	probes=$((probes + 1))
	[ "$c" = 200 ] || { bad=$((bad + 1)); ex="HTTP $c"; }
	sleep 0.3
done
pb_wait_exit "$FLOOD" 20
pb_log "3000 connections: $(tr '\n' ' ' <"$T/flood.log")"
pb_log "GET /api/v1/status during the flood: $probes probe(s), $bad failed${ex:+ ($ex)}"
[ "$probes" -ge 5 ] || atk_fail "only $probes status probe(s) during the flood"
[ "$bad" = 0 ] || atk_fail "the collector's API failed $bad of $probes time(s) during the flood ($ex)"
atk_counter_moved col preauth_limit "$pl0" "3000 connections held open before authentication"
[ "$(pb_node_http col /api/v1/status)" = 200 ] || atk_fail "the collector's API does not answer after the flood"

atk_edge_done 45
pb_settle col
pb_log "collector: $(atk_refused_all col)"
pb_log "collector sinks: $(pb_node_json col /api/v1/sinks -c '[.sinks[] | {name, state, packets, write_errors, files_opened}]')"
werr=$(pb_node_json col /api/v1/sinks '[.sinks[].write_errors] | add')
[ "$werr" = 0 ] || atk_fail "the collector's dump had $werr write error(s) during the flood"
nerr=$(grep -c 'Too many open files\|EMFILE' "$(pb_node_log col)" || true)
[ "$nerr" = 0 ] || atk_fail "the collector ran out of descriptors: $nerr log line(s), e.g. $(grep -m1 'Too many open files\|EMFILE' "$(pb_node_log col)")"
atk_col_stop
atk_no_loss "$T/in.pcap" $N
pb_no_crash col edge
atk_pass
