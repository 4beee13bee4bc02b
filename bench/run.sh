#!/bin/bash
# bench/run.sh [BUILD_DIR]: the performance figures of docs/PERFORMANCE.md,
# each side by side with its reference in the same run, as one table.
#
#   throughput   1 GiB sim device, no workload, vs a socat TLS 1.3 pipe
#                carrying 1 GiB from /dev/zero to /dev/null (same certs);
#                BENCH_REPS (5) runs of each, interleaved, medians compared;
#                and, for context, that pipe with SHA-256 at both ends
#                (tee + openssl dgst), the check SPEC §7 makes us do
#   memory       source RssAnon peak while migrating 256 MiB / 1 GiB / 4 GiB
#   downtime     256 MiB dirtied at 32 MiB/s, downtime_limit_ms 300; and a
#                64 MiB device dirtied at 12 MiB/s under a 16 MiB/s cap,
#                where the switchover has a lot left to move
#   cap          max_bandwidth below the dirty rate: rolls back at the
#                pre-copy timeout with not-converged
#   channels     512 MiB with channels = 1, 2, 4
#   many         8 concurrent 64 MiB migrations between the same daemons
#   digest       1 GiB device, no workload: CPU seconds of the source and of
#                the destination, each from its own /proc/PID/stat, with
#                digest = xxh3-128 and with sha256 (BENCH_REPS runs of each,
#                interleaved, switched by a reload; medians compared)
#   cpu          issue 19, part 2, in one run, BENCH_REPS rounds: each
#                daemon's CPU seconds for a 1 GiB device (its own
#                /proc/PID/stat) with xxh3-128 and with sha256, the total
#                time against the socat TLS pipe, and the floor: AES-128-GCM
#                encrypting (source) or decrypting (destination) 1 GiB in
#                16 KiB records (openssl speed, one core) plus the kernel's
#                side of a plain TCP loopback pipe of 1 GiB (the sending
#                socat's CPU, reading /dev/zero; the receiving one's, writing
#                /dev/null). With BENCH_BEFORE=DIR (another build directory,
#                e.g. of main) a second pair of daemons from there runs in
#                the same rounds: before and after side by side.
#                BENCH_CPU_DIGESTS="xxh3-128" leaves sha256 out (more
#                rounds in the same time, for a small difference).
#
# Needs socat. BENCH_ONLY="throughput memory" runs a subset.
# Images on tmpfs when there is one: on a disk, the page cache's writeback
# of gigabytes of freshly written images runs beside the migrations and
# adds noise of its own (run with TMPDIR=/tmp to include it).
# The daemons' state_dir (the journal, fsynced before END and COMMIT) stays
# on a disk, as in production: that fsync is part of the downtime.
BENCH_STATE_ON_DISK=1 . "$(dirname "$0")/lib.sh" "$@"
command -v socat >/dev/null || fail "socat is needed (apt-get install socat)"
ONLY=${BENCH_ONLY:-throughput memory downtime cap channels many digest cpu}
REPS=${BENCH_REPS:-5}
ROWS=""
row() {
	ROWS="$ROWS$(printf '%-44s %14s %14s %8s' "$1" "$2" "$3" "$4")\n"
	printf '# %s: %s (reference %s, ratio %s)\n' "$1" "$2" "$3" "$4"
}
want() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }
now() { date +%s.%N; }
ms_since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%d", (b - a) * 1000}'; }
certs

# setup_pair SIZE DIRTY [GUEST]: fresh daemons a and b with one sim0 each.
setup_pair() {
	for p in $PIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	PIDS=""
	rm -rf "$T/a" "$T/b" "$T"/a.* "$T"/b.* "${STATE_BASE:-$T}/a" "${STATE_BASE:-$T}/b"
	DEVICES="${DEVICES_OVERRIDE:-[device sim0]
backend = sim
size = $1
dirty_rate = $2
image = @DIR@/sim0.img
seed = 1}"
	write_config a host-a
	DEVICES=$(echo "$DEVICES" | sed 's/dirty_rate = .*/dirty_rate = 0/; s/seed = 1/seed = 2/')
	write_config b host-b
	# Big images start sparse (the sim uses a full-size file as it is):
	# filling 4 GiB from the seed would only time the disk.
	if [ "${SPARSE:-0}" = 1 ]; then
		truncate -s "$1" "$T/a/sim0.img"
		truncate -s "$1" "$T/b/sim0.img"
	fi
	start_daemon a
	start_daemon b
}

# migrate DEVICE [migrate options...]: a to b; prints the final migration object.
migrate() {
	migrate_from a b "$@"
}

# migrate_from SRC DST DEVICE [options...]: either way between the pair.
migrate_from() {
	src=$1
	dst=$2
	dev=$3
	shift 3
	port=$PB
	[ "$dst" = a ] && port=$PA
	tok=$(ctl "$dst" --json incoming "$dev" | json_get token)
	ctl "$src" --json migrate "$dev" --to "127.0.0.1:$port" --token "$tok" --wait "$@" | tail -n 1
}

# A journal fsync slower than 20 ms is logged by the daemons: the
# destination's before COMMIT is in the downtime, the source's at the
# switchover delays it, so show them beside the figure.
slow_journal() {
	grep -h 'state_dir on a slow' "$T/a.log" "$T/b.log" 2>/dev/null | sed 's/^/# slow journal: /'
}

median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a / (b ? b : 1)}'; }

# CPU seconds of the children a subshell ran, from bash's `times`.
children_cpu() {
	times >"$T/times.$BASHPID"
	awk 'NR == 2 { split($1, u, /[ms]/); split($2, y, /[ms]/)
		printf "%.3f", u[1] * 60 + u[2] + y[1] * 60 + y[2] }' "$T/times.$BASHPID"
}

# socat_time BYTES: prints "MS CPU_SECONDS" (both socat processes and head).
socat_time() {
	c="cert=$T/certs/host-b-cert.pem,key=$T/certs/host-b-key.pem,cafile=$T/certs/ca-cert.pem,verify=1,openssl-min-proto-version=TLS1.3"
	: >"$T/socat.err"
	(socat -d -d -u "OPENSSL-LISTEN:0,reuseaddr,$c" /dev/null 2>"$T/socat.err"; children_cpu >"$T/cpu.recv") &
	sp=$!
	port=$(wait_listening "$T/socat.err" socat) || fail "socat did not listen"
	c="cert=$T/certs/host-a-cert.pem,key=$T/certs/host-a-key.pem,cafile=$T/certs/ca-cert.pem,verify=1,commonname=host-b,openssl-min-proto-version=TLS1.3"
	t0=$(now)
	(head -c "$1" /dev/zero | socat -u -b 262144 - "OPENSSL:127.0.0.1:$port,$c"; children_cpu >"$T/cpu.send")
	wait $sp
	echo "$(ms_since "$t0") $(awk '{s += $1} END {printf "%.2f", s}' "$T/cpu.recv" "$T/cpu.send")"
}

# socat_sha_time BYTES: the same pipe with what SPEC §7 asks of us on top,
# SHA-256 of the stream at both ends (openssl dgst, SHA-NI like ours):
# prints MS; fails unless both digests agree.
socat_sha_time() {
	c="cert=$T/certs/host-b-cert.pem,key=$T/certs/host-b-key.pem,cafile=$T/certs/ca-cert.pem,verify=1,openssl-min-proto-version=TLS1.3"
	: >"$T/socat.err"
	(socat -d -d -u "OPENSSL-LISTEN:0,reuseaddr,$c" - 2>"$T/socat.err" |
		openssl dgst -sha256 -r >"$T/dgst.recv") &
	sp=$!
	port=$(wait_listening "$T/socat.err" socat) || fail "socat did not listen"
	c="cert=$T/certs/host-a-cert.pem,key=$T/certs/host-a-key.pem,cafile=$T/certs/ca-cert.pem,verify=1,commonname=host-b,openssl-min-proto-version=TLS1.3"
	t0=$(now)
	head -c "$1" /dev/zero | tee >(openssl dgst -sha256 -r >"$T/dgst.send") |
		socat -u -b 262144 - "OPENSSL:127.0.0.1:$port,$c"
	wait $sp
	ms=$(ms_since "$t0")
	i=0
	while [ ! -s "$T/dgst.send" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	cmp -s "$T/dgst.send" "$T/dgst.recv" || fail "socat + sha256: digests differ"
	rm -f "$T/dgst.send" "$T/dgst.recv"
	echo "$ms"
}

# CPU seconds both daemons have used so far.
daemons_cpu() {
	tck=$(getconf CLK_TCK)
	awk -v t="$tck" '{s += $14 + $15} END {printf "%.2f", s / t}' "/proc/$PID_a/stat" "/proc/$PID_b/stat"
}

# CPU seconds one process has used so far.
proc_cpu() {
	awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / t}' "/proc/$1/stat"
}

# set_digest NAME [DAEMONS]: both daemons (a b) accept only NAME from
# their next migration on (a reload; waits until both have logged it).
set_digest() {
	for n in ${2:-a b}; do
		eval "pid=\$PID_$n"
		before=$(grep -c 'reloaded:' "$T/$n.log")
		sed -i "s/^digest = .*/digest = $1/" "$T/$n.conf"
		kill -HUP "$pid"
		i=0
		while [ "$(grep -c 'reloaded:' "$T/$n.log")" -le "$before" ] && [ $i -lt 100 ]; do
			sleep 0.1
			i=$((i + 1))
		done
	done
}

if want throughput; then
	say "throughput: 1 GiB device vs socat TLS 1.3 pipe of 1 GiB, $REPS runs each, interleaved"
	setup_pair 1G 0
	ours_l=""
	ref_l=""
	ourc_l=""
	refc_l=""
	sha_l=""
	from=a
	to=b
	# The machine's speed drifts (other tenants): each migration is
	# followed by a socat run, and the medians are compared. The device
	# goes back and forth between the two daemons.
	for r in $(seq "$REPS"); do
		c0=$(daemons_cpu)
		out=$(migrate_from $from $to sim0)
		c1=$(daemons_cpu)
		[ "$(echo "$out" | json_get phase)" = completed ] || fail "throughput run $r: $out"
		ours_l="$ours_l $(echo "$out" | json_get total_ms)"
		ourc_l="$ourc_l $(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", b - a}')"
		set -- $(socat_time $((1 << 30)))
		ref_l="$ref_l $1"
		refc_l="$refc_l $2"
		sha_l="$sha_l $(socat_sha_time $((1 << 30)))"
		t=$from
		from=$to
		to=$t
	done
	ours=$(median $ours_l)
	ref=$(median $ref_l)
	ourc=$(median $ourc_l)
	refc=$(median $refc_l)
	say "runs (ms): ours$ours_l; socat$ref_l"
	say "CPU (s): ours$ourc_l; socat + head$refc_l"
	say "socat + sha256 at both ends (ms):$sha_l"
	row "1 GiB, no workload: total time (ms), median" "$ours" "$ref (socat)" "$(ratio "$ref" "$ours")"
	row "  CPU seconds, both ends, median" "$ourc" "$refc (socat)" "$(ratio "$refc" "$ourc")"
	sha=$(median $sha_l)
	row "  vs socat + SHA-256 at both ends (ms)" "$ours" "$sha (+sha)" "$(ratio "$sha" "$ours")"
fi

if want memory; then
	for size in 256M 1G 4G; do
		say "memory: RssAnon of the source while migrating $size"
		SPARSE=1 setup_pair "$size" 0
		peak=0
		(
			while kill -0 "$PID_a" 2>/dev/null; do
				awk '/RssAnon/ {print $2}' "/proc/$PID_a/status"
				sleep 0.05
			done
		) >"$T/rss" &
		sampler=$!
		migrate sim0 >/dev/null
		kill "$sampler" 2>/dev/null
		wait "$sampler" 2>/dev/null
		peak=$(sort -n "$T/rss" | tail -n 1)
		row "source RssAnon peak, $size device (KiB)" "$peak" "65536 (limit)" "$(awk -v a=65536 -v b="$peak" 'BEGIN{printf "%.2f", a / b}')"
	done
fi

if want downtime; then
	say "downtime: 256 MiB dirtied at 32 MiB/s, limit 300 ms"
	setup_pair 256M 32M
	sleep 1
	out=$(migrate sim0 --downtime-limit 300)
	dt=$(echo "$out" | json_get downtime_ms)
	ex=$(echo "$out" | json_get expected_downtime_ms)
	slow_journal
	row "downtime (ms) vs limit 300" "$dt" "300 (limit)" "$(ratio 300 "$dt")"
	row "downtime (ms) vs expected at switchover" "$dt" "$ex (expected)" "$(ratio "$ex" "$dt")"
	row "  iterations, total time (ms)" "$(echo "$out" | json_get iterations)" "$(echo "$out" | json_get total_ms)" "-"

	say "downtime: 64 MiB dirtied at 12 MiB/s under a 16 MiB/s cap, limit 300 ms"
	setup_pair 64M 12M
	sleep 1
	out=$(migrate sim0 --downtime-limit 300 --max-bandwidth 16M)
	[ "$(echo "$out" | json_get phase)" = completed ] || fail "capped downtime run: $out"
	dt=$(echo "$out" | json_get downtime_ms)
	ex=$(echo "$out" | json_get expected_downtime_ms)
	slow_journal
	row "capped: downtime (ms) vs limit 300" "$dt" "300 (limit)" "$(ratio 300 "$dt")"
	row "capped: downtime (ms) vs expected" "$dt" "$ex (expected)" "$(ratio "$ex" "$dt")"
	row "  iterations, total time (ms)" "$(echo "$out" | json_get iterations)" "$(echo "$out" | json_get total_ms)" "-"
fi

if want cap; then
	say "cap: max_bandwidth 8 MiB/s below a 32 MiB/s dirty rate, precopy_timeout_s 5"
	PRECOPY_TIMEOUT_S=5 setup_pair 64M 32M
	t0=$(now)
	out=$(migrate sim0 --max-bandwidth 8M)
	el=$(ms_since "$t0")
	code=$(echo "$out" | json_get code)
	row "rolled back after (ms), error $code" "$el" "5000 (timeout)" "$(awk -v a=5000 -v b="$el" 'BEGIN{printf "%.2f", a / b}')"
	[ "$(device_state a sim0)" = running ] || fail "source device not running after the cap test"
fi

if want channels; then
	say "channels: 512 MiB, no workload, 1 / 2 / 4 connections"
	setup_pair 512M 0
	from=a
	to=b
	one=""
	for n in 1 2 4; do
		out=$(migrate_from $from $to sim0 --channels $n)
		[ "$(echo "$out" | json_get phase)" = completed ] || fail "channels $n: $out"
		ms=$(echo "$out" | json_get total_ms)
		[ -n "$one" ] || one=$ms
		row "512 MiB over $n channel(s): total time (ms)" "$ms" "$one (1 channel)" "$(ratio "$one" "$ms")"
		t=$from
		from=$to
		to=$t
	done
fi

if want many; then
	say "many: 8 concurrent 64 MiB migrations"
	DEVICES_OVERRIDE=$(for i in 0 1 2 3 4 5 6 7; do printf '[device d%s]\nbackend = sim\nsize = 64M\ndirty_rate = 0\nimage = @DIR@/d%s.img\nseed = 1\n\n' $i $i; done)
	setup_pair 64M 0
	unset DEVICES_OVERRIDE
	t0=$(now)
	jobs_=""
	for i in 0 1 2 3 4 5 6 7; do
		migrate "d$i" >"$T/many.$i" &
		jobs_="$jobs_ $!"
	done
	for j in $jobs_; do wait "$j"; done
	el=$(ms_since "$t0")
	ok=$(grep -l '"phase":"completed"' "$T"/many.* | wc -l)
	min=$(for f in "$T"/many.*; do json_get total_ms <"$f"; done | sort -n | head -n 1)
	max=$(for f in "$T"/many.*; do json_get total_ms <"$f"; done | sort -n | tail -n 1)
	row "8 x 64 MiB: completed, min/max total (ms)" "$ok/8" "$min/$max" "$(awk -v a="$min" -v b="$max" 'BEGIN{printf "%.2f", a / b}')"
	row "8 x 64 MiB: wall time (ms)" "$el" "-" "-"
fi

if want digest; then
	say "digest: 1 GiB device, CPU seconds per side, xxh3-128 vs sha256, $REPS runs each, interleaved"
	EXTRA_MIGRATION="digest = xxh3-128" setup_pair 1G 0
	from=a
	to=b
	for r in $(seq "$REPS"); do
		for d in xxh3-128 sha256; do
			set_digest "$d"
			eval "sp=\$PID_$from dp=\$PID_$to"
			s0=$(proc_cpu "$sp")
			d0=$(proc_cpu "$dp")
			out=$(migrate_from $from $to sim0)
			s1=$(proc_cpu "$sp")
			d1=$(proc_cpu "$dp")
			[ "$(echo "$out" | json_get phase)" = completed ] || fail "digest $d run $r: $out"
			[ "$(echo "$out" | json_get digest)" = "$d" ] || fail "digest $d run $r: agreed $out"
			key=$(echo "$d" | tr -d -- '-')
			eval "src_$key=\"\${src_$key:-} $(awk -v a="$s0" -v b="$s1" 'BEGIN{printf "%.2f", b - a}')\""
			eval "dst_$key=\"\${dst_$key:-} $(awk -v a="$d0" -v b="$d1" 'BEGIN{printf "%.2f", b - a}')\""
			eval "ms_$key=\"\${ms_$key:-} $(echo "$out" | json_get total_ms)\""
			t=$from
			from=$to
			to=$t
		done
	done
	say "source CPU (s): xxh3-128$src_xxh3128; sha256$src_sha256"
	say "destination CPU (s): xxh3-128$dst_xxh3128; sha256$dst_sha256"
	say "total (ms): xxh3-128$ms_xxh3128; sha256$ms_sha256"
	a=$(median $src_xxh3128)
	b=$(median $src_sha256)
	row "source CPU s/GiB, xxh3-128 vs sha256" "$a" "$b (sha256)" "$(ratio "$b" "$a")"
	a=$(median $dst_xxh3128)
	b=$(median $dst_sha256)
	row "destination CPU s/GiB, xxh3-128 vs sha256" "$a" "$b (sha256)" "$(ratio "$b" "$a")"
	a=$(median $ms_xxh3128)
	b=$(median $ms_sha256)
	row "1 GiB total time (ms), xxh3-128 vs sha256" "$a" "$b (sha256)" "$(ratio "$b" "$a")"
fi

# tcp_pipe_cpu BYTES: a plain TCP loopback pipe, socat to socat, 256 KiB
# blocks: prints "SEND_CPU RECV_CPU" (seconds; each socat's own, from
# bash's `times`), what the kernel's copies and TCP cost each end.
tcp_pipe_cpu() {
	: >"$T/tcp.err"
	(socat -d -d -u -b 262144 TCP-LISTEN:0,bind=127.0.0.1,reuseaddr OPEN:/dev/null 2>"$T/tcp.err"
		children_cpu >"$T/cpu.tcprecv") &
	sp=$!
	port=$(wait_listening "$T/tcp.err" socat) || fail "socat did not listen"
	(socat -u -b 262144 "OPEN:/dev/zero,readbytes=$1" "TCP:127.0.0.1:$port"
		children_cpu >"$T/cpu.tcpsend")
	wait $sp
	echo "$(cat "$T/cpu.tcpsend") $(cat "$T/cpu.tcprecv")"
}

# aes_gcm_cpu [-decrypt]: CPU seconds per GiB of AES-128-GCM on one core,
# 16 KiB records (TLS's), from openssl speed.
aes_gcm_cpu() {
	openssl speed ${1:-} -evp aes-128-gcm -bytes 16384 -seconds 1 -mr 2>/dev/null |
		awk -F: '/^\+F:/ {printf "%.3f", 1073741824 / $4}'
}

# start_cpu_pair SRC DST BUILD_DIR: two daemons of that build, a 1 GiB
# sim0 each (the source's seed 1, the destination's 2).
start_cpu_pair() {
	DEVICES="[device sim0]
backend = sim
size = 1G
dirty_rate = 0
image = @DIR@/sim0.img
seed = 1"
	EXTRA_MIGRATION="digest = xxh3-128" write_config "$1" host-a
	DEVICES=$(echo "$DEVICES" | sed 's/seed = 1/seed = 2/')
	EXTRA_MIGRATION="digest = xxh3-128" write_config "$2" host-b
	MIGD="$3/vfio-migd" start_daemon "$1"
	MIGD="$3/vfio-migd" start_daemon "$2"
}

# cpu_migrate SRC DST KEY: one 1 GiB migration; appends the source's and
# the destination's CPU seconds and the total ms to src_KEY, dst_KEY, ms_KEY.
cpu_migrate() {
	eval "sp=\$PID_$1 dp=\$PID_$2 port=\$P$(echo "$2" | tr '[:lower:]' '[:upper:]')"
	tok=$(ctl "$2" --json incoming sim0 | json_get token)
	s0=$(proc_cpu "$sp")
	d0=$(proc_cpu "$dp")
	out=$(ctl "$1" --json migrate sim0 --to "127.0.0.1:$port" --token "$tok" --wait | tail -n 1)
	s1=$(proc_cpu "$sp")
	d1=$(proc_cpu "$dp")
	[ "$(echo "$out" | json_get phase)" = completed ] || fail "cpu $3: $out"
	eval "src_$3=\"\${src_$3:-} $(awk -v a="$s0" -v b="$s1" 'BEGIN{printf "%.2f", b - a}')\""
	eval "dst_$3=\"\${dst_$3:-} $(awk -v a="$d0" -v b="$d1" 'BEGIN{printf "%.2f", b - a}')\""
	eval "ms_$3=\"\${ms_$3:-} $(echo "$out" | json_get total_ms)\""
}

if want cpu; then
	say "cpu: 1 GiB device, CPU seconds per side, xxh3-128 and sha256, socat, floor; $REPS rounds; load: $(cut -d' ' -f1-3 /proc/loadavg)"
	for p in $PIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	PIDS=""
	builds="after"
	start_cpu_pair a b "$BUILD"
	if [ -n "${BENCH_BEFORE:-}" ]; then
		builds="after before"
		start_cpu_pair c d "$(cd "$BENCH_BEFORE" && pwd)"
	fi
	dir_after="a b"
	dir_before="c d"
	for r in $(seq "$REPS"); do
		for b in $builds; do
			for d in ${BENCH_CPU_DIGESTS:-xxh3-128 sha256}; do
				eval "set -- \$dir_$b"
				set_digest "$d" "$1 $2"
				cpu_migrate "$1" "$2" "${b}_$(echo "$d" | tr -d -- '-')"
				# the device goes back and forth
				eval "dir_$b=\"$2 $1\""
			done
		done
		set -- $(socat_time $((1 << 30)))
		socat_ms="${socat_ms:-} $1"
		set -- $(tcp_pipe_cpu $((1 << 30)))
		tcps="${tcps:-} $1"
		tcpr="${tcpr:-} $2"
		aese="${aese:-} $(aes_gcm_cpu)"
		aesd="${aesd:-} $(aes_gcm_cpu -decrypt)"
	done
	say "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
	for b in $builds; do
		for k in $(echo "${BENCH_CPU_DIGESTS:-xxh3-128 sha256}" | tr -d -- '-'); do
			eval "say \"$b $k: source CPU (s)\$src_${b}_$k; destination\$dst_${b}_$k; total (ms)\$ms_${b}_$k\""
		done
	done
	say "socat TLS pipe (ms):$socat_ms"
	say "floor: AES-GCM encrypt (s/GiB)$aese; decrypt$aesd; TCP pipe send side (s)$tcps; receive side$tcpr"
	fs=$(awk -v a="$(median $aese)" -v b="$(median $tcps)" 'BEGIN{printf "%.2f", a + b}')
	fd=$(awk -v a="$(median $aesd)" -v b="$(median $tcpr)" 'BEGIN{printf "%.2f", a + b}')
	sock=$(median $socat_ms)
	for k in $(echo "${BENCH_CPU_DIGESTS:-xxh3-128 sha256}" | tr -d -- '-'); do
		eval "sa=\$(median \$src_after_$k) da=\$(median \$dst_after_$k) ma=\$(median \$ms_after_$k)"
		row "$k: source CPU s/GiB vs floor" "$sa" "$fs (floor)" "$(ratio "$fs" "$sa")"
		row "$k: destination CPU s/GiB vs floor" "$da" "$fd (floor)" "$(ratio "$fd" "$da")"
		row "$k: total time (ms) vs socat TLS pipe" "$ma" "$sock (socat)" "$(ratio "$sock" "$ma")"
		if [ -n "${BENCH_BEFORE:-}" ]; then
			eval "sb=\$(median \$src_before_$k) db=\$(median \$dst_before_$k) mb=\$(median \$ms_before_$k)"
			row "$k: source CPU s/GiB vs before" "$sa" "$sb (before)" "$(ratio "$sb" "$sa")"
			row "$k: destination CPU s/GiB vs before" "$da" "$db (before)" "$(ratio "$db" "$da")"
			row "$k: total time (ms) vs before" "$ma" "$mb (before)" "$(ratio "$mb" "$ma")"
			row "  before: source, destination vs floor" "$sb, $db" "$fs, $fd" "$(ratio "$fs" "$sb"), $(ratio "$fd" "$db")"
			row "  before: total time vs socat" "$mb" "$sock (socat)" "$(ratio "$sock" "$mb")"
		fi
	done
fi

printf '\n%-44s %14s %14s %8s\n' "measure" "ours" "reference" "ratio"
printf "$ROWS"
