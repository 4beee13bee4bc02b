#!/bin/bash
# bench/profile.sh [BUILD_DIR]: where each daemon's CPU goes during one
# 1 GiB migration without workload (issue 19, part 2: profile before
# changing anything). perf record on the source and on the destination,
# each attached to its own process for the whole migration, then the top
# of `perf report` by shared object and by symbol for each side.
#
# DIGEST (xxh3-128) and COMPRESSION (none) pick what the daemons use;
# SIZE (1G) the device; TOP (25) how many lines of each report.
. "$(dirname "$0")/lib.sh" "$@"
command -v perf >/dev/null || fail "perf is needed (Debian: linux-perf)"
SIZE=${SIZE:-1G}
TOP=${TOP:-25}
DEVICES="[device sim0]
backend = sim
size = $SIZE
dirty_rate = 0
image = @DIR@/sim0.img
seed = 1"
EXTRA_MIGRATION_A="digest = ${DIGEST:-xxh3-128}
compression = ${COMPRESSION:-none}"
EXTRA_MIGRATION="digest = ${DIGEST:-xxh3-128}" start_pair
tok=$(ctl b --json incoming sim0 | json_get token)
perf record -F 999 -g -o "$T/src.data" -p "$PID_a" 2>"$T/perf-src.log" &
ps=$!
perf record -F 999 -g -o "$T/dst.data" -p "$PID_b" 2>"$T/perf-dst.log" &
pd=$!
sleep 1
out=$(ctl a --json migrate sim0 --to "127.0.0.1:$PB" --token "$tok" --wait | tail -n 1)
kill -INT "$ps" "$pd"
wait "$ps" "$pd"
[ "$(echo "$out" | json_get phase)" = completed ] || fail "migration: $out"
say "1 $SIZE migration: $(echo "$out" | json_get total_ms) ms, digest $(echo "$out" | json_get digest), compression $(echo "$out" | json_get compression)"
for side in src dst; do
	say "$side: by shared object"
	perf report -i "$T/$side.data" --no-children --sort dso --stdio -g none 2>/dev/null |
		grep -v '^#' | grep -v '^$' | head -n 12
	say "$side: by symbol"
	perf report -i "$T/$side.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null |
		grep -v '^#' | grep -v '^$' | head -n "$TOP"
done
