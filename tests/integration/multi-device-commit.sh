#!/bin/bash
# One COMMIT covers every device of a migration (SPEC §9, PROTOCOL.md
# §2.8): the connection of one of three devices is cut after END, with the
# destination's COMMIT to it lost on the way (a proxy holds the way back
# for 1.5 s, then resets that one connection). The COMMIT on the other two
# devices' connections covers it: the source completes all three and stops
# them for good, the destination runs all three, byte-identical, and its
# cut device completes on the source's acknowledgement on the other two
# (no "check the source" alarm). (Rolling that one device back would leave
# it running on both hosts.)
. "$(dirname "$0")/lib.sh"

FP="$BUILD/tests/faultproxy"
[ -x "$FP" ] || fail "build tests/faultproxy first (make check does)"
DEVICES=""
for d in gpu0 gpu1 nic0; do
	DEVICES="$DEVICES
[device $d]
backend = sim-v2
size = 8M
dirty_rate = 1M
image = @DIR@/$d.img
seed = ${#d}$RANDOM
"
done
start_pair

FIFO="$T/fp.fifo"
"$FP" -l 0 -t "127.0.0.1:$PB" -c "$FIFO" 2>"$T/faultproxy.log" &
PIDS="$PIDS $!"
PP=$(wait_listening "$T/faultproxy.log" faultproxy) || fail "no faultproxy"
fp() { # COMMAND: tell the proxy, and wait until it has said it did
	local before i=0
	before=$(wc -l <"$T/faultproxy.log")
	echo "$*" >"$FIFO"
	while [ "$(wc -l <"$T/faultproxy.log")" -le "$before" ]; do
		i=$((i + 1))
		[ $i -lt 500 ] || fail "faultproxy did not take \"$*\""
		sleep 0.01
	done
}

out=$(api b POST /v1/incoming -d '{"devices":["gpu0","gpu1","nic0"]}')
token=$(echo "$out" | jq -r .token)
did=$(echo "$out" | jq -r .migration_id)
out=$(api a POST /v1/migrations -d "{\"devices\":[\"gpu0\",\"gpu1\",\"nic0\"],\"destination\":\"127.0.0.1:$PP\",\"token\":\"$token\",\"switchover\":\"manual\"}")
mid=$(echo "$out" | jq -r .id)
wait_phase a "$mid" switchover-pending
fp delay up 1500
ctl a switchover "$mid" >/dev/null || fail "switchover refused"
# Every device of b has sent its COMMIT (held by the proxy).
i=0
until [ "$(api b GET "/v1/migrations/$did" | jq '[.devices[].engine_state == "committed"] | all')" = true ]; do
	i=$((i + 1))
	[ $i -lt 600 ] || fail "the destination did not commit: $(api b GET "/v1/migrations/$did" | jq -c '[.devices[] | {device, phase, engine_state}]')"
	sleep 0.01
done
fp cut-one
wait_phase a "$mid" completed failed cancelled
m=$(api a GET "/v1/migrations/$mid")
[ "$(echo "$m" | jq -r .phase)" = completed ] || fail "the source's migration ended $(echo "$m" | jq -c .error)"
grep -q "waiting for the COMMIT on the migration's other devices' connections" "$T/a.log" ||
	fail "no device lost its connection after END (the cut came too late?)"
grep -q "the COMMIT on another device's connection covers it" "$T/a.log" ||
	fail "the source did not say the COMMIT covered the cut device"
# The destination: the source's ACK on the other connections tells it
# that the source had COMMIT, so the cut device completes too, without
# the "check the source" alarm of a device alone.
wait_phase b "$did" completed failed cancelled
n=$(api b GET "/v1/migrations/$did")
[ "$(echo "$n" | jq -c '[.phase, [.devices[].phase]]')" = '["completed",["completed","completed","completed"]]' ] ||
	fail "the destination's migration: $(echo "$n" | jq -c '[.phase, .error, [.devices[] | {device, phase, error}]]')"
grep -q "after COMMIT was sent; waiting for the source's acknowledgement" "$T/b.log" ||
	fail "the destination did not see the cut after its COMMIT"
grep -q "the source's acknowledgement on another device's connection covers it; completed" "$T/b.log" ||
	fail "the destination did not say the acknowledgement covered the cut device"
! grep -q "check the source" "$T/b.log" || fail "false alarm on the destination: $(grep 'check the source' "$T/b.log")"
for d in gpu0 gpu1 nic0; do
	[ "$(device_state a $d)" = stopped ] || fail "source $d is $(device_state a $d): it runs on both hosts"
	[ "$(device_state b $d)" = running ] || fail "destination $d is $(device_state b $d)"
	[ "$(sha "$T/a/$d.img")" = "$(sha "$T/b/$d.img")" ] || fail "image of $d differs"
done
pass "a device cut off after END is covered by the COMMIT on the others: all three completed, none runs twice"
