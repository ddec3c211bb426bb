#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# sim_http.sh - the simulator's HTTP layer over the wire (`poolpatch sim`, time scale 60):
#  - XML-RPC on any POST path that is not a known handler (/, /RPC2, /xmlrpc, /a/b), JSON-RPC
#    (v1 and v2) on /jsonrpc, as xapi's longest-prefix dispatch does;
#  - event.from's timeout is real seconds over HTTP, in both protocols (at time scale 60 a 2 s
#    long-poll used to return after 33 ms), and a change answers a waiting long-poll early;
#  - an upload (PUT /import_raw_vdi) whose connection drops mid-body fails its task as xapi does
#    (INTERNAL_ERROR), where it used to stay pending forever;
#  - many hosts (640, over select()'s old limit of 509) served by one process with a bounded
#    number of threads, every address answering.
. "$(dirname "$0")/lib.sh"

start_sim "$SRCDIR/scenarios/small.json" --time-scale 60
url=$(sim_master_url small-pool)
hostport=${url#http://}
hostport=${hostport%/}
xml_login='<?xml version="1.0"?><methodCall><methodName>session.login_with_password</methodName><params><param><value>root</value></param><param><value>xenroot</value></param></params></methodCall>'

# ---- XML-RPC on any POST path ----
for path in "" RPC2 xmlrpc some/other/path; do
    out=$(curl -sS --max-time 30 -H 'Content-Type: text/xml' --data "$xml_login" "$url$path")
    assert_contains "$out" "<value>Success</value>" "XML-RPC login on /$path"
    assert_contains "$out" "OpaqueRef:" "XML-RPC session on /$path"
done
out=$(curl -sS --max-time 30 --data '{"method":"session.login_with_password","params":["root","xenroot"],"id":7}' "${url}jsonrpc")
assert_contains "$out" '"result":"OpaqueRef:' "JSON-RPC v1 on /jsonrpc"
sess=$(xapi_login "$url")
code=$(curl -sS --max-time 30 -o /dev/null -w '%{http_code}' "${url}xmlrpc")
assert_eq 404 "$code" "GET on an XML-RPC path is not a call"
pass "XML-RPC is served on any POST path, JSON-RPC on /jsonrpc"

# ---- event.from timeout in real seconds, both protocols ----
now_ms() { date +%s%3N; }
tok=$(xapi_json "$url" event.from "[\"$sess\",[\"vm\"],\"\",0]" | jq -er .result.token)
t0=$(now_ms)
out=$(xapi_json "$url" event.from "[\"$sess\",[\"vm\"],\"$tok\",2.0]")
t1=$(now_ms)
assert_eq 0 "$(jq '.result.events | length' <<<"$out")" "JSON-RPC long-poll with nothing new"
[ $((t1 - t0)) -ge 1800 ] || fail "JSON-RPC event.from timeout 2 s returned after $((t1 - t0)) ms"
xml_ev="<?xml version=\"1.0\"?><methodCall><methodName>event.from</methodName><params><param><value>$sess</value></param><param><value><array><data><value>vm</value></data></array></value></param><param><value>$tok</value></param><param><value><double>2.0</double></value></param></params></methodCall>"
t0=$(now_ms)
out=$(curl -sS --max-time 30 --data "$xml_ev" "${url}RPC2")
t1=$(now_ms)
assert_contains "$out" "<value>Success</value>" "XML-RPC event.from"
[ $((t1 - t0)) -ge 1800 ] || fail "XML-RPC event.from timeout 2 s returned after $((t1 - t0)) ms"
# A change answers a waiting long-poll at once (here: a VM started meanwhile).
vm=$(xapi_json "$url" VM.get_by_name_label "[\"$sess\",\"build-1\"]" | jq -er '.result[0]')
(sleep 0.5 && xapi_json "$url" Async.VM.start "[\"$sess\",\"$vm\",false,false]" >/dev/null) &
starter=$!
out=$(xapi_json "$url" event.from "[\"$sess\",[\"vm\"],\"$tok\",30.0]")
wait "$starter"
assert_contains "$(jq -c '[.result.events[].ref]' <<<"$out")" "$vm" "long-poll answered by the change"
pass "event.from waits its timeout in real seconds (time scale 60), both protocols"

# ---- an upload cut mid-body fails its task ----
sr=$(xapi_json "$url" SR.get_by_name_label "[\"$sess\",\"nfs-shared\"]" | jq -er '.result[0]')
nvdi0=$(xapi_json "$url" SR.get_VDIs "[\"$sess\",\"$sr\"]" | jq '.result | length')
task=$(xapi_json "$url" task.create "[\"$sess\",\"upload\",\"cut test\"]" | jq -er .result)
python3 - "$hostport" "$sess" "$sr" "$task" <<'PY'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=10)
q = "session_id=%s&sr_id=%s&task_id=%s" % (sys.argv[2], sys.argv[3], sys.argv[4])
s.sendall(("PUT /import_raw_vdi?%s HTTP/1.1\r\nHost: %s\r\nContent-Length: 10485760\r\n\r\n"
           % (q, host)).encode())
s.sendall(b"\0" * 300000)
s.close()  # 300 kB of 10 MiB, then the connection drops
PY
status=""
for _ in $(seq 1 100); do
    status=$(xapi_json "$url" task.get_status "[\"$sess\",\"$task\"]" | jq -r .result)
    [ "$status" = pending ] || break
    sleep 0.1
done
assert_eq failure "$status" "status of the task of a cut upload"
err=$(xapi_json "$url" task.get_error_info "[\"$sess\",\"$task\"]" | jq -r '.result[0]')
assert_eq INTERNAL_ERROR "$err" "error_info of the task of a cut upload"
nvdi=$(xapi_json "$url" SR.get_VDIs "[\"$sess\",\"$sr\"]" | jq '.result | length')
assert_eq "$nvdi0" "$nvdi" "VDIs on the SR after a cut upload"
pass "an upload whose connection drops mid-body fails its task"
kill "$SIM_PID"
wait "$SIM_PID" 2>/dev/null || true

# ---- many hosts in one process ----
pools=${SIM_HTTP_POOLS:-40}
jq --argjson np "$pools" '
  .base_address = "127.0.1.1" |
  .pools = [range($np) as $p | .pools[0] | .name = "p\($p)" | .default_sr = "nfs-shared" |
    .hosts = [range(16) as $h | {name: "p\($p)-h\($h)", memory_gib: 64}
              + (if $h == 0 then {master: true} else {} end)] |
    .srs = [.srs[0]] | .vms = [] | .updates = []]' \
    "$SRCDIR/scenarios/small.json" >"$E2E_TMP/fleet.json"
start_sim "$E2E_TMP/fleet.json" --time-scale 60
total=$(sim_state | jq '[.pools[].hosts[]] | length')
assert_eq $((pools * 16)) "$total" "hosts served"
for p in 0 $((pools / 2)) $((pools - 1)); do
    u=$(sim_master_url "p$p")
    xapi_login "$u" >/dev/null || fail "login on pool p$p's master $u"
done
last=$(sim_state | jq -r '.pools[-1].hosts[-1].address')
port=$(sim_master_url p0 | sed 's|.*:\([0-9]*\)/$|\1|')
out=$(xapi_json "http://$last:$port/" session.login_with_password '["root","xenroot"]')
assert_contains "$out" "HOST_IS_SLAVE" "the last supporter ($last) answers"
threads=$(awk '/^Threads:/ { print $2 }' "/proc/$SIM_PID/status")
[ "$threads" -le 16 ] || fail "$threads threads for $total hosts (want a bounded pool)"
pass "$total hosts served by one process with $threads threads"
