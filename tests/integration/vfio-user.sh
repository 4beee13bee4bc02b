#!/bin/bash
# A vfio-user device migrates between two daemons (issue 18): each daemon
# drives a test device server (tests/vfio-user-server) over its socket as
# the protocol's client, through PRE_COPY (initial data, then what a
# workload dirties) and STOP_COPY; the destination server's loaded state is
# byte-identical to what the source server had when it stopped, and the
# strict one-recv() server never met a short read. Then back the other way.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-vfio-user.sh"

vu_start srv-a --size 32M --workload 4M --initial 8M --dump-on-stop "$T/a-stop.dump" \
	--dump-on-resume "$T/a-resume.dump"
vu_start srv-b --size 32M --seed 2 --dump-on-stop "$T/b-stop.dump" \
	--dump-on-resume "$T/b-resume.dump"

certs
DEVICES="[device vu0]
backend = vfio-user
path = $T/srv-a.vu"
write_config a host-a
DEVICES="[device vu0]
backend = vfio-user
path = $T/srv-b.vu"
write_config b host-b
start_daemon a
start_daemon b

dev=$(api a GET /v1/devices/vu0)
echo "$dev"
[ "$(echo "$dev" | json_get backend)" = vfio-user ] || fail "backend: $dev"
[ "$(echo "$dev" | json_get state)" = running ] || fail "state: $dev"
echo "$dev" | grep -q '"migration_flags":\["stop-copy","pre-copy"\]' || fail "flags: $dev"
pass "device vu0 is the server's, running, stop-copy and pre-copy, no p2p"

sleep 0.3 # the workload runs a little before the migration
final=$(migrate_device vu0)
echo "$final"
[ "$(echo "$final" | json_get phase)" = completed ] || fail "migration: $final"
say "bytes $(echo "$final" | json_get bytes_transferred), iterations $(echo "$final" | json_get iterations), downtime $(echo "$final" | json_get downtime_ms) ms"
cmp "$T/a-stop.dump" "$T/b-resume.dump" || fail "the destination loaded another state"
grep -q "state running -> pre-copy" "$T/srv-a-vu.log" || fail "no pre-copy on the source"
grep -q "resuming: end record, the whole state matches" "$T/srv-b-vu.log" ||
	fail "the destination server did not verify the stream"
[ "$(device_state a vu0)" = stopped ] || fail "source is $(device_state a vu0)"
[ "$(device_state b vu0)" = running ] || fail "destination is $(device_state b vu0)"
vu_no_short_reads srv-a srv-b
vu_no_refusals srv-a srv-b
pass "migrated a -> b under a workload, byte-identical, no short read, nothing refused"

# Back: b's device (now running the state a had) to a's.
out=$(ctl a --json incoming vu0) || fail "incoming: $out"
token=$(echo "$out" | json_get token)
final=$(ctl b --json migrate vu0 --to "127.0.0.1:$PA" --token "$token" --wait | tail -n 1)
[ "$(echo "$final" | json_get phase)" = completed ] || fail "migration back: $final"
cmp "$T/b-stop.dump" "$T/a-resume.dump" || fail "a loaded another state than b sent"
cmp "$T/a-stop.dump" "$T/a-resume.dump" || fail "the round trip changed the state"
vu_no_short_reads srv-a srv-b
vu_no_refusals srv-a srv-b
pass "migrated back b -> a, byte-identical, the round trip kept the state"
exit 0
