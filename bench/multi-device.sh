#!/bin/bash
# bench/multi-device.sh [BUILD_DIR]: several devices of one guest (issue 16).
#
# 1, 2 and 4 sim-v2 devices of BENCH_SIZE (256M) each, dirtied at
# BENCH_DIRTY (16M/s) each, downtime_limit_ms 300, moved two ways in the
# same run, interleaved, BENCH_REPS (3) times each:
#   group      one migration of all of them (POST /v1/migrations "devices")
#   separate   one migration per device, all started together
# For each: the downtime (group: the migration's, from the quiesce of the
# first device to the last COMMIT; separate: from the first device's stop
# to the last one's COMMIT, when the devices of the guest are not all
# running anywhere) and the total time; medians, and the N-device downtime
# against the 1-device one (the target: 4 devices at most 1.5 times 1).
# Both daemons restart before each run, so every run starts from the same
# state. Images on tmpfs when there is one.
BENCH_STATE_ON_DISK=1 . "$(dirname "$0")/lib.sh" "$@"
command -v jq >/dev/null || fail "jq is needed (apt-get install jq)"
REPS=${BENCH_REPS:-3}
SIZE=${BENCH_SIZE:-256M}
DIRTY=${BENCH_DIRTY:-16M}
COUNTS=${BENCH_COUNTS:-1 2 4}

DEVICES=""
for i in 0 1 2 3; do
	DEVICES="$DEVICES
[device d$i]
backend = sim-v2
transition_delay_ms = 1
size = $SIZE
dirty_rate = $DIRTY
image = @DIR@/d$i.img
seed = $((i + 1))
"
done
DOWNTIME_MS=300 PRECOPY_TIMEOUT_S=600 start_pair

restart_pair() {
	stop_daemon a
	stop_daemon b
	start_daemon a
	start_daemon b
}

# wait_final ID: until the migration on a ends (lib.sh's wait_phase gives
# up after a minute; a busy machine can take longer).
wait_final() {
	i=0
	while [ $i -lt 6000 ]; do
		case $(api a GET "/v1/migrations/$1" | jq -r .phase) in
		completed | failed | cancelled) return 0 ;;
		esac
		sleep 0.1
		i=$((i + 1))
	done
	fail "migration $1 did not end in 10 minutes"
}

names() { i=0; while [ $i -lt "$1" ]; do printf 'd%s ' $i; i=$((i + 1)); done; }
json_list() { printf '%s\n' "$@" | jq -R . | jq -sc .; }

# group N: prints "DOWNTIME_MS TOTAL_MS".
group() {
	list=$(json_list $(names "$1"))
	tok=$(api b POST /v1/incoming -d "{\"devices\":$list}" | jq -r .token)
	id=$(api a POST /v1/migrations -d "{\"devices\":$list,\"destination\":\"127.0.0.1:$PB\",\"token\":\"$tok\"}" | jq -r .id)
	wait_final "$id"
	m=$(api a GET "/v1/migrations/$id")
	[ "$(echo "$m" | jq -r .phase)" = completed ] || fail "group of $1: $(echo "$m" | jq -c .error)"
	echo "$m" | jq -r '"\(.downtime_ms) \(.total_ms)"'
}

# separate N: prints "DOWNTIME_MS TOTAL_MS" (see the top).
separate() {
	ids=""
	t0=$(date +%s%3N)
	for d in $(names "$1"); do
		tok=$(ctl b --json incoming "$d" | jq -r .token)
		ids="$ids $(api a POST /v1/migrations -d "{\"device\":\"$d\",\"destination\":\"127.0.0.1:$PB\",\"token\":\"$tok\"}" | jq -r .id)"
	done
	for id in $ids; do
		wait_final "$id"
	done
	for id in $ids; do
		api a GET "/v1/migrations/$id"
	done | jq -rs --argjson t0 "$t0" '
		if (map(select(.phase != "completed")) | length) > 0 then "failed" else
		map((.finished_at[0:19] + "Z" | fromdate) * 1000 +
		    (.finished_at[20:23] | tonumber)) as $fin |
		[range(0; length) as $i | $fin[$i] - .[$i].downtime_ms] as $stop |
		"\(($fin | max) - ($stop | min)) \(($fin | max) - $t0)" end'
}

declare -A DT TT
for rep in $(seq "$REPS"); do
	for n in $COUNTS; do
		for mode in group separate; do
			restart_pair
			r=$($mode "$n")
			[ "$r" != failed ] || fail "$mode $n failed"
			say "rep $rep: $mode of $n: downtime $(echo "$r" | cut -d' ' -f1) ms, total $(echo "$r" | cut -d' ' -f2) ms"
			DT[$mode$n]="${DT[$mode$n]:-} ${r%% *}"
			TT[$mode$n]="${TT[$mode$n]:-} ${r##* }"
		done
	done
done

median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a / (b ? b : 1)}'; }
printf '\n%-28s %12s %12s %14s\n' "devices x $SIZE, $DIRTY/s" "downtime ms" "total ms" "downtime vs 1"
for mode in group separate; do
	base=$(median ${DT[${mode}1]:-0})
	for n in $COUNTS; do
		d=$(median ${DT[$mode$n]})
		printf '%-28s %12s %12s %14s\n' "$mode, $n device(s)" "$d" "$(median ${TT[$mode$n]})" \
			"$(ratio "$d" "$base")"
	done
done
printf '(medians of %s runs; every run on restarted daemons)\n' "$REPS"
