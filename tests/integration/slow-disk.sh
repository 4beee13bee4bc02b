#!/bin/bash
# A slow state_dir (every fsync 400 ms, as on a busy shared disk) on the
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
certs
PA=$(free_port)
PB=$(free_port)
write_config a "$PA" host-a
DEVICES=$(echo "$DEVICES" | sed 's/^dirty_rate = .*/dirty_rate = 0/; s/^seed = .*/seed = 2/') \
	write_config b "$PB" host-b
LD_PRELOAD="$SHIM" SLOW_FSYNC_MS=400 ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
	start_daemon a
start_daemon b

tok=$(ctl b --json incoming sim0 | json_get token)
out=$(ctl a --json migrate sim0 --to "127.0.0.1:$PB" --token "$tok" --wait | tail -n 1)
[ "$(echo "$out" | json_get phase)" = completed ] || fail "migration: $out"
[ "$(sha "$T/a/sim0.img")" = "$(sha "$T/b/sim0.img")" ] || fail "images differ"
dt=$(echo "$out" | json_get downtime_ms)
[ "$dt" -lt 200 ] || fail "downtime $dt ms: the 400 ms fsync is in it"
grep -q 'writing and syncing took [4-9][0-9][0-9] ms (state_dir on a slow or busy disk)$' "$T/a.log" ||
	fail "the switchover's journal write was not slow, or not made off the loop: $(grep journal "$T/a.log")"
pass "fsync of 400 ms on the source: downtime $dt ms, images identical"
