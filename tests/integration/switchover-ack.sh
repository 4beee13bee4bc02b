#!/bin/bash
# The switchover acknowledgement (issue 14 item 3, PROTOCOL.md §2.7): a
# destination holds the switchover until it has loaded the device's
# initial data. tests/peer_tool plays a destination that agrees to
# acknowledge, sees the source mark the end of the initial data
# (INITIAL_DONE), and answers only when the test signals it.
#
# Checked: a sim-v2 device of the mlx5 model (its initial data grows
# while an asynchronous save runs) with an automatic switchover and a
# generous downtime limit, which converges at once, stays in pre-copy for
# as long as the acknowledgement does not come; once it comes, the source
# switches over and sends END. (peer_tool then hangs up without COMMIT:
# the source rolls its device back to running.) Against our own daemon,
# sim-models.sh migrates the same model to the end.
. "$(dirname "$0")/lib.sh"

PT="$BUILD/tests/peer_tool"
[ -x "$PT" ] || fail "build tests/peer_tool first (make check does)"
DEVICES="[device nic0]
backend = sim-v2
driver_model = mlx5
size = 4M
dirty_rate = 256K
image = @DIR@/nic0.img
seed = 1"
DOWNTIME_MS=5000
certs
write_config a host-a
start_daemon a

"$PT" --listen 0 --cert "$T/certs/host-b-cert.pem" --key "$T/certs/host-b-key.pem" \
	--ca "$T/certs/ca-cert.pem" --action ack-on-signal --timeout-ms 60000 \
	>"$T/pt.out" 2>"$T/pt.log" &
PT_PID=$!
PIDS="$PIDS $PT_PID"
PF=$(wait_listening "$T/pt.log" peer_tool) || fail "no peer_tool"

out=$(ctl a --json migrate nic0 --to "127.0.0.1:$PF" --token 0123456789abcdef) || fail "migrate: $out"
mid=$(echo "$out" | json_get id)
[ -n "$mid" ] || fail "no migration id in $out"

i=0
until grep -q "INITIAL_DONE on DATA" "$T/pt.log"; do
	i=$((i + 1))
	[ $i -lt 300 ] || fail "the source never marked the end of the initial data: $(cat "$T/pt.log")"
	sleep 0.1
done
# Held: converged long ago (5 s limit, 4 MiB), and still in pre-copy.
sleep 2
out=$(api a GET "/v1/migrations/$mid")
[ "$(echo "$out" | json_get phase)" = precopy ] || fail "switched over without the acknowledgement: $out"
[ "$(echo "$out" | json_get engine_state)" = streaming ] || fail "not streaming: $out"
! grep -q "END after" "$T/pt.log" || fail "END before the acknowledgement: $(cat "$T/pt.log")"

# The acknowledgement comes: the source switches over.
kill -USR1 "$PT_PID"
wait "$PT_PID"
grep -q "SWITCHOVER_ACK sent" "$T/pt.log" || fail "peer_tool sent no SWITCHOVER_ACK: $(cat "$T/pt.log")"
grep -q "END after" "$T/pt.log" || fail "no END after the acknowledgement: $(cat "$T/pt.log")"
grep -q "migration $mid: the destination has loaded the device's initial data" "$T/a.log" ||
	fail "the source does not log the acknowledgement"
wait_phase a "$mid" failed
[ "$(device_state a nic0)" = running ] || fail "device is $(device_state a nic0) after a lost COMMIT"
pass "the switchover waited for SWITCHOVER_ACK (held 2 s while converged), then went; device running after the lost COMMIT"

# A destination that agrees to a capability the source did not offer
# (dirty bitmaps, for a device without guest memory) is refused before the
# device is touched.
"$PT" --listen 0 --cert "$T/certs/host-b-cert.pem" --key "$T/certs/host-b-key.pem" \
	--ca "$T/certs/ca-cert.pem" --action silent --caps 1 --timeout-ms 20000 \
	>"$T/pt2.out" 2>"$T/pt2.log" &
PT_PID=$!
PIDS="$PIDS $PT_PID"
PF=$(wait_listening "$T/pt2.log" peer_tool) || fail "no peer_tool"
saves=$(grep -c "device nic0: state running -> pre-copy" "$T/a.log")
[ "$saves" -ge 1 ] || fail "the first migration's save is not in the log: the check below would prove nothing"
out=$(ctl a --json migrate nic0 --to "127.0.0.1:$PF" --token 0123456789abcdef) || fail "migrate: $out"
mid=$(echo "$out" | json_get id)
wait_phase a "$mid" failed
out=$(api a GET "/v1/migrations/$mid")
[ "$(echo "$out" | json_get code)" = malformed-frame ] || fail "not refused as malformed: $out"
echo "$out" | grep -q "agreed to capabilities we did not offer" || fail "message: $out"
[ "$(device_state a nic0)" = running ] || fail "device is $(device_state a nic0) after the refusal"
[ "$(grep -c "device nic0: state running -> pre-copy" "$T/a.log")" = "$saves" ] ||
	fail "the device was asked to save: $(grep "device nic0: state" "$T/a.log")"
pass "a destination agreeing to a capability not offered (bitmaps) is refused, device untouched"
