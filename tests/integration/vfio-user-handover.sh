#!/bin/bash
# A vfio-user device whose connection a VMM hands over (issue 18, SPEC §8):
# on each host a "VMM" (contrib/handover-client.py --vfio-user-socket)
# connects to the test server, negotiates VERSION as a VMM would and hands
# the connected socket to the daemon, which sends no VERSION of its own and
# drives the migration on it. The device migrates byte-identical, ends in
# the final state the destination's VMM asked for, and is detached; neither
# strict server met a short read or refused anything. A server that stalls
# at attach does not hold the daemon's API, and is refused
# vfio-user-timeout.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-vfio-user.sh"

CLIENT="$SRCDIR/contrib/handover-client.py"

vu_start srv-a --size 16M --workload 2M --initial 4M --dump-on-stop "$T/a-stop.dump"
vu_start srv-b --size 16M --seed 2 --dump-on-resume "$T/b-resume.dump"

certs
EXTRA_DAEMON="handover = $T/a.handover" write_config a host-a
EXTRA_DAEMON="handover = $T/b.handover" write_config b host-b
start_daemon a
start_daemon b

# The owner watched is this script (the client's parent), which outlives
# the migration.
python3 "$CLIENT" --socket "$T/a.handover" attach vu0 --backend vfio-user \
	--vfio-user-socket "$T/srv-a.vu" >"$T/attach-a" 2>&1 || fail "attach on a: $(cat "$T/attach-a")"
python3 "$CLIENT" --socket "$T/b.handover" attach vu0 --backend vfio-user \
	--vfio-user-socket "$T/srv-b.vu" --final-state running >"$T/attach-b" 2>&1 ||
	fail "attach on b: $(cat "$T/attach-b")"
dev=$(api a GET /v1/devices/vu0)
echo "$dev"
[ "$(echo "$dev" | json_get backend)" = vfio-user ] || fail "backend: $dev"
[ "$(echo "$dev" | json_get origin)" = handover ] || fail "origin: $dev"
[ "$(grep -c "version .* proposed" "$T/srv-a-vu.log")" = 1 ] ||
	fail "VERSION was not negotiated exactly once on the handed-over connection"
grep -q "client connected" "$T/srv-a-vu.log" || fail "the VMM never connected"
pass "each VMM's negotiated connection handed over, one VERSION on it"

sleep 0.3 # the workload runs a little before the migration
out=$(ctl b --json incoming vu0) || fail "incoming: $out"
token=$(echo "$out" | json_get token)
final=$(ctl a --json migrate vu0 --to "127.0.0.1:$PB" --token "$token" --wait | tail -n 1)
echo "$final"
[ "$(echo "$final" | json_get phase)" = completed ] || fail "migration: $final"
cmp "$T/a-stop.dump" "$T/b-resume.dump" || fail "the destination loaded another state"
[ "$(device_state a vu0)" = stopped ] || fail "source is $(device_state a vu0)"
[ "$(device_state b vu0)" = running ] || fail "destination is $(device_state b vu0), not its final_state"
vu_no_short_reads srv-a srv-b
vu_no_refusals srv-a srv-b
pass "migrated over the handed-over connections, byte-identical, destination running as asked"

python3 "$CLIENT" --socket "$T/a.handover" detach vu0 >/dev/null 2>&1 || fail "detach on a"
python3 "$CLIENT" --socket "$T/b.handover" detach vu0 >/dev/null 2>&1 || fail "detach on b"
[ "$(api a GET /v1/devices/vu0 | json_get code)" = not-found ] || fail "vu0 still on a"
i=0
until grep -q "client closed the connection" "$T/srv-b-vu.log"; do
	i=$((i + 1))
	[ $i -lt 300 ] || fail "the destination's server still has a client after detach"
	sleep 0.1
done
pass "detached: the daemons let go of the connections"

# A server that stalls at the attach's DEVICE_GET_INFO: the daemon asks it
# on the device's thread, so the API answers while the attach waits; the
# attach fails vfio-user-timeout once the request's 5 s are out.
vu_start srv-stall --fault stall@get-info
python3 "$CLIENT" --socket "$T/a.handover" attach vu1 --backend vfio-user \
	--vfio-user-socket "$T/srv-stall.vu" --vfio-user-timeout-ms 5000 >"$T/attach-stall" 2>&1 &
attach_pid=$!
i=0
until grep -q "stalling" "$T/srv-stall-vu.log"; do
	i=$((i + 1))
	[ $i -lt 300 ] || fail "the attach never reached the stalled server"
	sleep 0.1
done
t0=$(date +%s%N)
[ "$(api a GET /v1/health | json_get status)" = ok ] || fail "health while attaching"
[ "$(api a GET /v1/devices/vu1 | json_get code)" = not-found ] || fail "vu1 listed while attaching"
t1=$(date +%s%N)
kill -0 "$attach_pid" 2>/dev/null || fail "the attach was answered before the API was asked"
echo "# the API answered in $(((t1 - t0) / 1000000)) ms while the attach waited on its server"
wait "$attach_pid" && fail "a stalled server was attached: $(cat "$T/attach-stall")"
grep -q "vfio-user-timeout" "$T/attach-stall" || fail "attach: $(cat "$T/attach-stall")"
[ "$(api a GET /v1/devices/vu1 | json_get code)" = not-found ] || fail "vu1 after the refusal"
pass "a server stalled at attach: the API served meanwhile, then vfio-user-timeout"
exit 0
