#!/bin/bash
# Several devices of one guest as one migration (SPEC §9): three software
# v2 devices move together, each on its own stream, and end byte-identical;
# the switchover is one step: every device is quiesced (PRE_COPY_P2P)
# before any stops, and on the destination every device is loaded and in
# RUNNING_P2P before any runs, as the devices' own logs of arcs show.
. "$(dirname "$0")/lib.sh"

DEVICES=""
for d in gpu0 gpu1 nic0; do
	DEVICES="$DEVICES
[device $d]
backend = sim-v2
size = 16M
dirty_rate = 2M
image = @DIR@/$d.img
guest_memory = @DIR@/$d.ram
guest_memory_size = 4M
dma_dirty_rate = 512K
seed = 1$((${#DEVICES} % 7))
"
done
start_pair

for d in gpu0 gpu1 nic0; do
	[ "$(sha "$T/a/$d.img")" != "$(sha "$T/b/$d.img")" ] || fail "fresh images of $d should differ"
done

out=$(ctl b --json incoming gpu0 gpu1 nic0) || fail "vfio-migctl incoming gpu0 gpu1 nic0: $out"
echo "$out"
token=$(echo "$out" | jq -r .token)
[ -n "$token" ] && [ "$token" != null ] || fail "no token: $out"
[ "$(echo "$out" | jq -c .devices)" = '["gpu0","gpu1","nic0"]' ] || fail "incoming devices: $out"
dest_id=$(echo "$out" | jq -r .migration_id)
# Busy devices name the migration of several, not a hidden device's.
[ "$(api b GET /v1/devices/gpu1 | jq -r .migration)" = "$dest_id" ] ||
	fail "gpu1 on b is not shown busy with $dest_id: $(api b GET /v1/devices/gpu1)"

# The CLI refuses a device named twice and unpaired --dest-device.
out=$(ctl a migrate gpu0 gpu0 --to "127.0.0.1:$PB" --token "$token" 2>&1) &&
	fail "a device named twice was accepted"
echo "$out" | grep -q "device 'gpu0' named twice" || fail "named twice: $out"
out=$(ctl a migrate gpu0 gpu1 --dest-device gpu0 --to "127.0.0.1:$PB" --token "$token" 2>&1) &&
	fail "one --dest-device for two devices was accepted"
echo "$out" | grep -q "once for each of the 2 devices" || fail "unpaired --dest-device: $out"

out=$(ctl a --json migrate gpu0 gpu1 nic0 --to "127.0.0.1:$PB" --token "$token" --wait |
	tail -n 1) || fail "vfio-migctl migrate gpu0 gpu1 nic0: $out"
id=$(echo "$out" | jq -r .id)
[ "$(echo "$out" | jq -r .device_count)" = 3 ] || fail "device_count: $out"
final=$(api a GET "/v1/migrations/$id")
echo "$final" | jq -c '{phase, bytes_transferred, downtime_ms, expected_downtime_ms, error, devices: [.devices[] | {device, phase, bytes_transferred, downtime_ms}]}'
[ "$(echo "$final" | jq -r .phase)" = completed ] || fail "migration ended $(echo "$final" | jq -c .error)"
[ "$(echo "$final" | jq '[.devices[] | select(.phase == "completed")] | length')" = 3 ] ||
	fail "not every device completed"
[ "$(echo "$final" | jq -r .digest)" = xxh3-128 ] || fail "the migration does not name its digest: $(echo "$final" | jq -c .digest)"
[ "$(echo "$final" | jq -c '[.devices[].device_state]')" = '["stopped","stopped","stopped"]' ] ||
	fail "device_state of the source's devices: $(echo "$final" | jq -c '[.devices[].device_state]')"
sum=$(echo "$final" | jq '[.devices[].bytes_transferred] | add')
[ "$(echo "$final" | jq .bytes_transferred)" = "$sum" ] || fail "total is not the devices' sum"
wait_phase b "$dest_id" completed
bfinal=$(api b GET "/v1/migrations/$dest_id")
[ "$(echo "$bfinal" | jq -r .verification)" = verified ] || fail "destination: $bfinal"
pass "three devices migrated as one migration"
m=$(api a GET /metrics)
echo "$m" | grep -qx 'vfio_migd_migrations_total{role="source",outcome="completed"} 1' ||
	fail "the migration of three is not counted once: $(echo "$m" | grep migrations_total)"
echo "$m" | grep -qx 'vfio_migd_device_migrations_total{role="source",outcome="completed"} 3' ||
	fail "its devices are not counted: $(echo "$m" | grep device_migrations_total)"
command -v promtool >/dev/null && { echo "$m" | promtool check metrics || fail "promtool rejects /metrics"; }

# Only the migration of several shows in the list, on either side.
[ "$(api a GET /v1/migrations | jq '.migrations | length')" = 1 ] || fail "source lists devices as migrations"
ctl a migrations | grep -q "gpu0,gpu1,nic0" || fail "vfio-migctl migrations does not name the devices"
[ "$(api b GET /v1/migrations | jq '.migrations | length')" = 1 ] || fail "destination lists devices as migrations"

for d in gpu0 gpu1 nic0; do
	[ "$(device_state a $d)" = stopped ] || fail "source $d is $(device_state a $d)"
	[ "$(device_state b $d)" = running ] || fail "destination $d is $(device_state b $d)"
	[ "$(sha "$T/a/$d.img")" = "$(sha "$T/b/$d.img")" ] || fail "image of $d differs"
	[ "$(sha "$T/a/$d.ram")" = "$(sha "$T/b/$d.ram")" ] || fail "guest memory of $d differs"
done
# A device's downtime in a migration of several holds the waits for the
# others: it is not what the device alone costs, and is not learned.
for d in gpu0 gpu1 nic0; do
	[ "$(api a GET "/v1/devices/$d" | jq -c .switchover_extra_ms)" = null ] ||
		fail "$d learned its switchover cost from a migration of several: $(api a GET "/v1/devices/$d" | jq -c .switchover_extra_ms)"
done
pass "every device byte-identical, stopped on the source, running on the destination"

# The order of the arcs: line numbers of each device's arc in the log.
line_of() { grep -n "device $2: state $3\$" "$T/$1.log" | head -n 1 | cut -d: -f1; }
last_p2p=0 first_stop=999999
for d in gpu0 gpu1 nic0; do
	p=$(line_of a $d "pre-copy -> pre-copy-p2p")
	s=$(line_of a $d "pre-copy-p2p -> stop-copy")
	[ -n "$p" ] && [ -n "$s" ] || fail "source log lacks $d's P2P or stop-copy arc"
	[ "$p" -gt "$last_p2p" ] && last_p2p=$p
	[ "$s" -lt "$first_stop" ] && first_stop=$s
done
[ "$last_p2p" -lt "$first_stop" ] || fail "a source device stopped (line $first_stop) before another was quiesced (line $last_p2p)"
pass "source: every device quiesced before any stopped"
last_loaded=0 last_p2p=0 first_run=999999
for d in gpu0 gpu1 nic0; do
	l=$(line_of b $d "resuming -> stopped")
	p=$(grep -n "device $d: state stopped -> running-p2p\$" "$T/b.log" | tail -n 1 | cut -d: -f1)
	r=$(line_of b $d "running-p2p -> running")
	[ -n "$l" ] && [ -n "$p" ] && [ -n "$r" ] || fail "destination log lacks an arc of $d"
	[ "$l" -gt "$last_loaded" ] && last_loaded=$l
	[ "$p" -gt "$last_p2p" ] && last_p2p=$p
	[ "$r" -lt "$first_run" ] && first_run=$r
done
[ "$last_loaded" -lt "$last_p2p" ] && [ "$last_p2p" -lt "$first_run" ] ||
	fail "destination: loaded (last line $last_loaded), RUNNING_P2P (last $last_p2p), running (first $first_run) out of order"
pass "destination: every device loaded, then all in RUNNING_P2P, before any ran"
