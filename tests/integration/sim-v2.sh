#!/bin/bash
# The software v2 device (backend = sim-v2) migrates between two daemons:
# the v2 FSM through PRE_COPY and STOP_COPY, its data fd streamed while the
# workload runs, its DMA log carried as dirty bitmaps; both images and
# guest memories end byte-identical. A sim (v1) device is refused as the
# destination's sim-v2 device, and the other way round (incompatible-device).
. "$(dirname "$0")/lib.sh"

certs
DEVICES="[device gpu0]
backend = sim-v2
size = 32M
dirty_rate = 4M
image = @DIR@/gpu0.img
guest_memory = @DIR@/gpu0.ram
guest_memory_size = 8M
dma_dirty_rate = 1M
seed = 11

[device old0]
backend = sim
size = 32M
image = @DIR@/old0.img
guest_memory = @DIR@/old0.ram
guest_memory_size = 8M
seed = 12"
write_config a host-a
# The destination runs no workload, so its copy can be compared with the
# source's at the moment the source stopped.
DEVICES=$(echo "$DEVICES" | sed 's/^dirty_rate = 4M/dirty_rate = 0/; s/^dma_dirty_rate = 1M/dma_dirty_rate = 0/; s/seed = 11/seed = 21/; s/seed = 12/seed = 22/')
write_config b host-b
start_daemon a
start_daemon b

# What an operator sees before trusting the device.
dev=$(api a GET /v1/devices/gpu0)
echo "$dev"
[ "$(echo "$dev" | json_get backend)" = sim-v2 ] || fail "backend: $dev"
[ "$(echo "$dev" | json_get identity)" = sim-v2 ] || fail "identity: $dev"
echo "$dev" | grep -q '"migration_flags":\["stop-copy","p2p","pre-copy"\]' ||
	fail "migration flags missing: $dev"
echo "$dev" | grep -q '"dirty_tracking_by":"device DMA logging"' || fail "dirty tracking: $dev"
out=$(ctl a device gpu0) || fail "vfio-migctl device gpu0: $out"
echo "$out"
echo "$out" | grep -Eq '^migration_flags: +\["stop-copy","p2p","pre-copy"\]' ||
	fail "vfio-migctl device does not show the migration flags"
echo "$out" | grep -Eq '^capabilities: +precopy,stopcopy,p2p,dirty_tracking,page_contents' ||
	fail "vfio-migctl device does not show the capabilities"
pass "device gpu0 reports its v2 migration capabilities"

[ "$(sha "$T/a/gpu0.img")" != "$(sha "$T/b/gpu0.img")" ] || fail "fresh images should differ"
sleep 0.3 # let the workload run a little before migrating

out=$(ctl b --json incoming gpu0) || fail "incoming: $out"
token=$(echo "$out" | json_get token)
[ -n "$token" ] || fail "no token in: $out"
final=$(ctl a --json migrate gpu0 --to "127.0.0.1:$PB" --token "$token" --wait | tail -n 1)
echo "$final"
phase=$(echo "$final" | json_get phase)
[ "$phase" = completed ] || fail "migration ended $phase: $final"
bytes=$(echo "$final" | json_get bytes_transferred)
[ "$bytes" -ge $((32 * 1024 * 1024)) ] || fail "only $bytes bytes transferred"
say "bytes $bytes, iterations $(echo "$final" | json_get iterations), downtime $(echo "$final" | json_get downtime_ms) ms"
pass "sim-v2 migration completed"

[ "$(device_state a gpu0)" = stopped ] || fail "source device is $(device_state a gpu0), not stopped"
[ "$(device_state b gpu0)" = running ] || fail "destination device is $(device_state b gpu0), not running"
pass "source stopped, destination running"

# The FSM went through the arcs the planner picked, each one logged.
for arc in "running -> pre-copy" "pre-copy -> pre-copy-p2p" "pre-copy-p2p -> stop-copy" \
	"stop-copy -> stopped"; do
	grep -q "device gpu0: state $arc\$" "$T/a.log" || fail "source log lacks the arc $arc"
done
for arc in "running -> running-p2p" "running-p2p -> stopped" "stopped -> resuming" \
	"resuming -> stopped" "stopped -> running-p2p" "running-p2p -> running"; do
	grep -q "device gpu0: state $arc\$" "$T/b.log" || fail "destination log lacks the arc $arc"
done
pass "every FSM arc logged on both sides"

sa=$(sha "$T/a/gpu0.img")
sb=$(sha "$T/b/gpu0.img")
[ "$sa" = "$sb" ] || fail "images differ: $sa vs $sb"
pass "device images byte-identical ($sa)"
ga=$(sha "$T/a/gpu0.ram")
gb=$(sha "$T/b/gpu0.ram")
[ "$ga" = "$gb" ] || fail "guest memory differs: $ga vs $gb"
pass "guest memory byte-identical"

# Cancelled while waiting for a manual switchover (the device in PRE_COPY,
# its worker feeding the data fd): the source goes back through the
# planned arcs to the state the migration found it in (stopped: gpu0
# migrated away above; a configured device is run for its pre-copy all
# the same), the destination leaves RESUMING by a reset.
out=$(ctl b --json incoming gpu0) || fail "incoming: $out"
dst_id=$(echo "$out" | json_get migration_id)
token=$(echo "$out" | json_get token)
out=$(ctl a --json migrate gpu0 --to "127.0.0.1:$PB" --token "$token" --switchover manual \
	--max-bandwidth 8M) || fail "migrate: $out"
mid=$(echo "$out" | json_get id)
wait_phase a "$mid" precopy switchover-pending
sleep 0.3
api a POST "/v1/migrations/$mid/cancel" >/dev/null
wait_phase a "$mid" cancelled
wait_phase b "$dst_id" failed cancelled
[ "$(device_state a gpu0)" = stopped ] || fail "source gpu0 is $(device_state a gpu0) after cancel"
[ "$(device_state b gpu0)" = running ] || fail "destination gpu0 is $(device_state b gpu0) after cancel"
grep -q "device gpu0: state pre-copy -> running\$" "$T/a.log" || fail "source did not leave pre-copy"
grep -q "device gpu0: rolled back to stopped, the state the migration found it in" "$T/a.log" ||
	fail "source not rolled back to stopped"
grep -q "device gpu0: reset, state running" "$T/b.log" || fail "destination was not reset"
pass "cancel in pre-copy: source back to stopped as found, destination reset"

# migrate_into FROM DEVICE DEST_DEVICE TOKEN PORT: the migration object once
# it has ended (through the API, which can name the destination's device).
migrate_into() {
	id=$(api "$1" POST /v1/migrations -d "{\"device\":\"$2\",\"destination\":\"127.0.0.1:$5\",\"token\":\"$4\",\"dest_device\":\"$3\"}" | json_get id)
	[ -n "$id" ] || fail "migration $2 -> $3 not started"
	wait_phase "$1" "$id" completed failed cancelled
	api "$1" GET "/v1/migrations/$id"
}

# sim (v1) into sim-v2, and sim-v2 into sim: refused, nothing touched.
before=$(sha "$T/b/gpu0.img")
out=$(ctl b --json incoming gpu0) || fail "incoming: $out"
out=$(migrate_into a old0 gpu0 "$(echo "$out" | json_get token)" "$PB")
echo "$out"
[ "$(echo "$out" | json_get code)" = incompatible-device ] || fail "sim -> sim-v2 not refused: $out"
[ "$(device_state a old0)" = running ] || fail "source old0 not running after the refusal"
[ "$(device_state b gpu0)" = running ] || fail "destination gpu0 not running after the refusal"
[ "$(sha "$T/b/gpu0.img")" = "$before" ] || fail "destination gpu0 image changed"
pass "sim -> sim-v2 refused with incompatible-device, devices untouched"

out=$(ctl a --json incoming old0) || fail "incoming: $out"
out=$(migrate_into b gpu0 old0 "$(echo "$out" | json_get token)" "$PA")
[ "$(echo "$out" | json_get code)" = incompatible-device ] || fail "sim-v2 -> sim not refused: $out"
[ "$(device_state b gpu0)" = running ] || fail "source gpu0 not running after the refusal"
pass "sim-v2 -> sim refused with incompatible-device"
