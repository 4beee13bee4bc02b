#!/bin/bash
# Killing the destination daemon in the middle of a transfer leaves the
# source device running and the migration failed with a reason; a retry to
# a restarted destination succeeds with byte-identical images.
. "$(dirname "$0")/lib.sh"

DEVICES="[device sim0]
backend = sim
size = 64M
dirty_rate = 4M
image = @DIR@/sim0.img
seed = 1"
# A slow pipe so the kill lands mid-transfer.
EXTRA_MIGRATION_A="max_bandwidth = 16M"
start_pair

token=$(ctl b --json incoming sim0 | json_get token)
id=$(ctl a --json migrate sim0 --to "127.0.0.1:$PB" --token "$token" | json_get id)
[ -n "$id" ] || fail "migration did not start"
wait_phase a "$id" precopy
sleep 1
kill -9 "$PID_b"
wait "$PID_b" 2>/dev/null
wait_phase a "$id" failed
out=$(api a GET "/v1/migrations/$id")
code=$(echo "$out" | json_get code)
case "$code" in
connection-lost | timeout) ;;
*) fail "unexpected error after killing the destination: $out" ;;
esac
[ "$(device_state a sim0)" = running ] || fail "source device is $(device_state a sim0)"
pass "destination killed: source rolled back to running ($code)"

# The source's workload goes on: the image keeps changing.
s1=$(sha "$T/a/sim0.img")
sleep 0.3
[ "$(sha "$T/a/sim0.img")" != "$s1" ] || fail "source workload stopped"
pass "source device keeps running its workload"

# Retry against a restarted destination, without the bandwidth cap.
start_daemon b
token=$(ctl b --json incoming sim0 | json_get token)
final=$(ctl a --json migrate sim0 --to "127.0.0.1:$PB" --token "$token" --max-bandwidth 0 --wait | tail -n 1)
[ "$(echo "$final" | json_get phase)" = completed ] || fail "retry: $final"
[ "$(sha "$T/a/sim0.img")" = "$(sha "$T/b/sim0.img")" ] || fail "images differ after retry"
pass "retry completed, images byte-identical"
