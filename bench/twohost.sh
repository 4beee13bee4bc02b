#!/bin/bash
# bench/twohost.sh [BUILD_DIR]: compression on a slow link (issue 19,
# part 3), as one table. Run as root: two network namespaces joined by a
# veth pair whose both ends are limited by `tc tbf` to RATE (1gbit), each
# daemon in its own namespace on its own address, so that the link and not
# the CPU is the limit, as between two sites.
#
#   half-zero    1 GiB device, half its pages zeros, the rest random:
#                compression none / zstd / auto, total time
#   workload     the same under a 16 MiB/s workload, downtime_limit_ms 300:
#                total time and downtime
#   random       1 GiB of random pages: none / auto
#   loopback     the half-zero and random devices again between two
#                daemons on 127.0.0.1 without a limit (the CPU is the
#                limit): auto must not be slower than none by 5 %
#
# BENCH_REPS (3) runs of each mode, interleaved, medians compared; the
# device goes back and forth between the two daemons. RATE=500mbit etc.
# BENCH_ONLY="half-zero loopback" runs a subset.
. "$(dirname "$0")/lib.sh" "$@"
[ "$(id -u)" -eq 0 ] || fail "run as root (network namespaces, tc)"
command -v tc >/dev/null && command -v ip >/dev/null || fail "needs ip and tc (iproute2)"
ONLY=${BENCH_ONLY:-half-zero workload random loopback}
REPS=${BENCH_REPS:-3}
RATE=${RATE:-1gbit}
SIZE=${SIZE:-1G}
NS_A="vfm-a-$$"
NS_B="vfm-b-$$"
NET=10.199.$(($$ % 250))
ROWS=""
want() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }
row() {
	ROWS="$ROWS$(printf '%-50s %10s %10s %10s %8s' "$1" "$2" "$3" "$4" "$5")\n"
	printf '# %s: none %s, zstd %s, auto %s (none/auto %s)\n' "$1" "$2" "$3" "$4" "$5"
}
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a / (b ? b : 1)}'; }

netns_down() {
	ip netns del "$NS_A" 2>/dev/null
	ip netns del "$NS_B" 2>/dev/null
}
trap 'st=$?; netns_down; (exit $st); cleanup' EXIT INT TERM

# The link: veth a <-> b, each end shaped to RATE (tbf: a bucket of 1 MiB,
# at most 20 ms of queue, so that the sender sees the rate as a real link's).
netns_up() {
	ip netns add "$NS_A" && ip netns add "$NS_B" || fail "ip netns add"
	ip link add va type veth peer name vb || fail "veth"
	ip link set va netns "$NS_A"
	ip link set vb netns "$NS_B"
	ip -n "$NS_A" addr add "$NET.1/24" dev va
	ip -n "$NS_B" addr add "$NET.2/24" dev vb
	for n in "$NS_A:va" "$NS_B:vb"; do
		ip -n "${n%%:*}" link set lo up
		ip -n "${n%%:*}" link set "${n#*:}" up
		tc -n "${n%%:*}" qdisc add dev "${n#*:}" root tbf rate "$RATE" burst 1mb latency 20ms ||
			fail "tc tbf"
	done
}

# device_cfg ZERO_PAGES DIRTY: the one device both daemons have.
device_cfg() {
	printf '[device sim0]\nbackend = sim\nsize = %s\ndirty_rate = %s\nzero_pages = %s\nimage = @DIR@/sim0.img\nseed = @SEED@\n' "$SIZE" "$2" "$1"
}

# pair LINK ZERO_PAGES DIRTY: fresh daemons a and b, in the namespaces
# (LINK netns) or on loopback (LINK lo); sets ADDR_a, ADDR_b.
pair() {
	for p in $PIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	PIDS=""
	DAEMONS=""
	rm -rf "$T/a" "$T/b" "$T"/a.* "$T"/b.*
	certs
	for n in a b; do
		DEVICES=$(device_cfg "$2" "$3" | sed "s/@SEED@/$([ $n = a ] && echo 1 || echo 2)/") \
			DOWNTIME_MS=300 write_config $n host-$n
		addr=127.0.0.1
		if [ "$1" = netns ]; then
			addr=$NET.$([ $n = a ] && echo 1 || echo 2)
			printf '#!/bin/sh\nexec ip netns exec %s "%s" "$@"\n' \
				"$([ $n = a ] && echo "$NS_A" || echo "$NS_B")" "$BUILD/vfio-migd" >"$T/migd-$n"
			chmod +x "$T/migd-$n"
		else
			printf '#!/bin/sh\nexec "%s" "$@"\n' "$BUILD/vfio-migd" >"$T/migd-$n"
			chmod +x "$T/migd-$n"
		fi
		sed -i "s/^listen = .*/listen = $addr:0/" "$T/$n.conf"
		eval "ADDR_$n=$addr"
		MIGD="$T/migd-$n" start_daemon $n
	done
}

# migrate_from SRC DST MODE: prints the source's final migration object.
migrate_from() {
	eval "port=\$P$(echo "$2" | tr '[:lower:]' '[:upper:]') addr=\$ADDR_$2"
	tok=$(ctl "$2" --json incoming sim0 | json_get token)
	ctl "$1" --json migrate sim0 --to "$addr:$port" --token "$tok" --compression "$3" --wait |
		tail -n 1
}

# run_case NAME LINK ZERO_PAGES DIRTY MODES: REPS rounds of every mode;
# rows of total time (and downtime with a workload).
run_case() {
	# Not "name": start_daemon (lib.sh) sets that.
	case_name=$1 link=$2 zp=$3 dirty=$4
	shift 4
	say "$case_name: $SIZE, $zp % zero pages, workload $dirty/s, $link, modes $*, $REPS rounds"
	pair "$link" "$zp" "$dirty"
	from=a
	to=b
	for m in none zstd auto; do
		eval "ms_$m='' dt_$m='' wire_$m=''"
	done
	for r in $(seq "$REPS"); do
		for m in "$@"; do
			out=$(migrate_from $from $to "$m")
			[ "$(echo "$out" | json_get phase)" = completed ] || fail "$case_name $m round $r: $out"
			eval "ms_$m=\"\$ms_$m $(echo "$out" | json_get total_ms)\""
			eval "dt_$m=\"\$dt_$m $(echo "$out" | json_get downtime_ms)\""
			eval "wire_$m=\"\$wire_$m $(($(echo "$out" | json_get wire_bytes) >> 20))\""
			t=$from
			from=$to
			to=$t
		done
	done
	for m in "$@"; do
		eval "say \"$m: total (ms)\$ms_$m; downtime (ms)\$dt_$m; on the wire (MiB)\$wire_$m\""
	done
	n=$(median $ms_none)
	z=$([ -n "$ms_zstd" ] && median $ms_zstd || echo -)
	a=$(median $ms_auto)
	row "$case_name: total (ms)" "$n" "$z" "$a" "$(ratio "$n" "$a")"
	if [ "$dirty" != 0 ]; then
		row "$case_name: downtime (ms), limit 300" "$(median $dt_none)" \
			"$([ -n "$dt_zstd" ] && median $dt_zstd || echo -)" "$(median $dt_auto)" "-"
	fi
	row "$case_name: on the wire (MiB)" "$(median $wire_none)" \
		"$([ -n "$wire_zstd" ] && median $wire_zstd || echo -)" "$(median $wire_auto)" "-"
}

if want half-zero || want workload || want random; then
	netns_up
	tc -n "$NS_A" qdisc show dev va | sed 's/^/# link: /'
fi
want half-zero && run_case "$RATE, half zeros" netns 50 0 none zstd auto
want workload && run_case "$RATE, half zeros, 16 MiB/s workload" netns 50 16M none zstd auto
want random && run_case "$RATE, random" netns 0 0 none auto
want loopback && run_case "loopback, half zeros" lo 50 0 none auto
want loopback && run_case "loopback, random" lo 0 0 none auto

printf '\n%-50s %10s %10s %10s %8s\n' "measure (median)" "none" "zstd" "auto" "none/auto"
printf "$ROWS"
