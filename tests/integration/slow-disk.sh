#!/bin/bash
# A slow state_dir (every fsync 1 s, as on a busy shared disk) on the
# source does not reach the downtime: the one durable write of the
# switchover ("END may be sent") is made beside the drain while the guest
# runs, off the event loop, and the device stops only once it is on disk.
. "$(dirname "$0")/lib.sh"

SHIM="$BUILD/tests/preload/slow_fsync.so"
[ -f "$SHIM" ] || fail "no $SHIM (make check builds it)"
DEVICES="[device sim0]
backend = sim
size = 64M
dirty_rate = 8M
image = @DIR@/sim0.img
seed = 1"
SLOW="LD_PRELOAD=$SHIM SLOW_FSYNC_MS=1000 ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
ENV_A=$SLOW start_pair

now_ms() { date +%s%3N; }

# The "created" record is made durable on a thread: the API answers at
# once and the engine waits for it (two fsyncs, 2 s here) before it
# connects; a loop that waited would answer after 2 s, a loaded machine
# after several hundred ms.
tok=$(ctl b --json incoming sim0 | json_get token)
t0=$(now_ms)
id=$(ctl a --json migrate sim0 --to "127.0.0.1:$PB" --token "$tok" | json_get id)
took=$(($(now_ms) - t0))
[ -n "$id" ] || fail "migrate: no migration id"
[ "$took" -lt 1500 ] || fail "POST /v1/migrations took $took ms: the created record's fsync was on the event loop"
wait_phase a "$id" completed failed cancelled
out=$(api a GET "/v1/migrations/$id")
[ "$(echo "$out" | json_get phase)" = completed ] || fail "migration: $out"
grep -q "migration $id: created" "$T/a.log" || fail "no created record"
pass "source: the API answered in $took ms during a 1000 ms fsync of the created record"
[ "$(sha "$T/a/sim0.img")" = "$(sha "$T/b/sim0.img")" ] || fail "images differ"
dt=$(echo "$out" | json_get downtime_ms)
[ "$dt" -lt 1000 ] || fail "downtime $dt ms: the 1000 ms fsync is in it"
grep -Eq 'writing and syncing took ([0-9]{4,}) ms \(state_dir on a slow or busy disk\)$' "$T/a.log" ||
	fail "the switchover's journal write was not slow, or not made off the loop: $(grep journal "$T/a.log")"
pass "fsync of 1000 ms on the source: downtime $dt ms, images identical"

# Back from b to a, a (the destination now) still slow. Its durable write
# before COMMIT is still in the downtime (it runs the device from then on),
# but it too is made on a thread: the event loop, and every other migration
# and API call it serves, goes on meanwhile.
t0=$(now_ms)
out=$(ctl a --json incoming sim0)
took=$(($(now_ms) - t0))
tok=$(echo "$out" | json_get token)
[ -n "$tok" ] || fail "incoming: $out"
[ "$took" -lt 1500 ] || fail "incoming took $took ms: the created record's fsync was on the event loop"
pass "destination: incoming answered in $took ms during a 1000 ms fsync of the created record"
(
	while :; do
		t0=$(date +%s%N)
		ctl a health >/dev/null 2>&1
		echo $((($(date +%s%N) - t0) / 1000000))
		sleep 0.02
	done
) >"$T/latency" &
poller=$!
PIDS="$PIDS $poller"
out=$(ctl b --json migrate sim0 --to "127.0.0.1:$PA" --token "$tok" --wait | tail -n 1)
sleep 0.2
kill "$poller"
wait "$poller" 2>/dev/null
[ "$(echo "$out" | json_get phase)" = completed ] || fail "migration back: $out"
# (a's workload runs again once its device resumes: its image moves on.)
# a's log: the switchover write of part one, the COMMIT write now.
n=$(grep -Ec 'writing and syncing took ([0-9]{4,}) ms \(state_dir on a slow or busy disk\)$' "$T/a.log")
[ "$n" -ge 2 ] || fail "the destination's COMMIT write was not slow, or not made off the loop"
max=$(sort -n "$T/latency" | tail -n 1)
# A durable write is two fsyncs (the file, the directory): a loop blocked
# by it answers up to 2 s late, and one poll starts near its beginning. A
# loaded machine may delay one answer by several hundred ms.
[ "$max" -lt 1500 ] || fail "the destination's API took $max ms to answer during a 1000 ms fsync"
dt=$(echo "$out" | json_get downtime_ms)
# COMMIT left only once the record was on disk: the 1000 ms are in it.
[ "$dt" -ge 1000 ] || fail "downtime $dt ms: COMMIT did not wait for the journal's fsync"
pass "destination fsync of 1000 ms: its event loop answered within $max ms, downtime $dt ms (the fsync is in it)"
