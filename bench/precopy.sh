#!/bin/bash
# bench/precopy.sh [BUILD_DIR]: what pre-copy saves on a v2 device, and
# how well the expected downtime predicts the real one (issue 14).
#
# Two sim-v2 devices of the same size and workload between the same two
# daemons: `pc`, driver_model mlx5 (pre-copy; its initial data grows
# while an asynchronous save runs, and the switchover waits for the
# destination's acknowledgement), and `np`, driver_model no-precopy
# (STOP_COPY only: everything moves in the downtime). Both with
# transition_delay_ms 1 (0 leaves mlx5 its 2 s load), so that the data
# alone makes the difference.
# BENCH_REPS (4) migrations of each, interleaved; medians of the downtime
# and, for pc, of the expected downtime logged at the switchover. The first
# migration of a device has nothing learned of what its switchover costs
# beyond its data (switchover_extra_ms): its expected downtime is shown
# apart, the medians are of the later ones.
TMPDIR=${TMPDIR:-/tmp} . "$(dirname "$0")/lib.sh" "$@"
REPS=${BENCH_REPS:-4}
SIZE=${BENCH_SIZE:-64M}
DIRTY=${BENCH_DIRTY:-4M}
DEVICES="[device pc]
backend = sim-v2
driver_model = mlx5
transition_delay_ms = 1
size = $SIZE
dirty_rate = $DIRTY
image = @DIR@/pc.img
seed = 1

[device np]
backend = sim-v2
driver_model = no-precopy
transition_delay_ms = 1
size = $SIZE
dirty_rate = $DIRTY
image = @DIR@/np.img
seed = 3"
DOWNTIME_MS=${BENCH_DOWNTIME_MS:-300}
start_pair
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# migrate DEV: one migration; prints "downtime expected" in ms.
migrate_one() {
	tok=$(ctl b --json incoming "$1" | json_get token)
	out=$(ctl a --json migrate "$1" --to "127.0.0.1:$PB" --token "$tok" --wait | tail -n 1)
	[ "$(echo "$out" | json_get phase)" = completed ] || fail "$1: $out"
	id=$(echo "$out" | json_get id)
	exp=$(grep "migration $id: switchover:" "$T/a.log" | sed -n 's/.*expected downtime \([0-9]*\) ms.*/\1/p' | tail -n 1)
	echo "$(echo "$out" | json_get downtime_ms) ${exp:-0}"
}
: >"$T/pc" && : >"$T/np"
for r in $(seq "$REPS"); do
	migrate_one pc >>"$T/pc"
	migrate_one np >>"$T/np"
done
later() { tail -n +2 "$1"; }
pc_down=$(later "$T/pc" | cut -d' ' -f1 | median)
pc_exp=$(later "$T/pc" | cut -d' ' -f2 | median)
np_down=$(later "$T/np" | cut -d' ' -f1 | median)
np_exp=$(later "$T/np" | cut -d' ' -f2 | median)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
printf '%-48s %10s %10s %8s\n' "$SIZE device dirtied at $DIRTY/s, runs 2-$REPS" "pre-copy" "none" "ratio"
printf '%-48s %10s %10s %8s\n' "downtime, median (ms)" "$pc_down" "$np_down" "$(ratio "$pc_down" "$np_down")"
printf '%-48s %10s %10s\n' "expected downtime at the switchover (ms)" "$pc_exp" "$np_exp"
printf '%-48s %10s %10s\n' "expected / actual" "$(ratio "$pc_exp" "$pc_down")" "n/a (no rate before the stop)"
read -r d1 e1 <"$T/pc"
printf '%-48s %10s\n' "run 1 (nothing learned): expected / actual" "$e1 / $d1 ms"
echo "pc runs (downtime expected): $(tr '\n' ';' <"$T/pc")  np runs: $(tr '\n' ';' <"$T/np")"
