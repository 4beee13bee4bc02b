#!/bin/bash
# GET /metrics: valid Prometheus text exposition, every name prefixed
# vfio_migd_, and clean by Prometheus's own linter (`promtool check
# metrics`: base units seconds and bytes, counters _total); after a migration the outcome counters, byte counters and
# histograms moved as they should (counters never go back, buckets are
# cumulative); refused TLS handshakes are counted.
. "$(dirname "$0")/lib.sh"

command -v promtool >/dev/null || fail "promtool is missing (Debian package prometheus; ./dev.sh installs it)"

DEVICES="[device sim0]
backend = sim
size = 16M
dirty_rate = 2M
image = @DIR@/sim0.img
seed = 1"
start_pair
# A third daemon whose certificate comes from another CA.
DEVICES=$(echo "$DEVICES" | sed 's/dirty_rate = 2M/dirty_rate = 0/; s/seed = 1/seed = 3/')
CA=rogue-ca write_config r rogue
start_daemon r

scrape() {
	api "$1" GET /metrics >"$T/$2" || fail "GET /metrics on $1"
}

# check_exposition FILE: the text format, line by line (prints what is wrong).
check_exposition() {
	awk '
	function bad(why) { printf "line %d: %s: %s\n", NR, why, $0; errors++ }
	function base(n) {
		if (n ~ /_bucket$/ && type[substr(n, 1, length(n) - 7)] == "histogram")
			return substr(n, 1, length(n) - 7)
		if (n ~ /_sum$/ && type[substr(n, 1, length(n) - 4)] == "histogram")
			return substr(n, 1, length(n) - 4)
		if (n ~ /_count$/ && type[substr(n, 1, length(n) - 6)] == "histogram")
			return substr(n, 1, length(n) - 6)
		return n
	}
	/^# HELP / {
		if ($3 !~ /^vfio_migd_[a-zA-Z0-9_]+$/) bad("HELP of a name without the vfio_migd_ prefix")
		if (help[$3]++) bad("second HELP")
		if (NF < 4) bad("HELP without text")
		next
	}
	/^# TYPE / {
		if ($3 !~ /^vfio_migd_[a-zA-Z0-9_]+$/) bad("TYPE of a name without the vfio_migd_ prefix")
		if ($3 in type) bad("second TYPE")
		if ($4 !~ /^(counter|gauge|histogram|summary|untyped)$/ || NF != 4) bad("bad TYPE")
		if ($4 == "counter" && $3 !~ /_total$/) bad("counter not named _total")
		if (seen[$3]) bad("TYPE after samples")
		type[$3] = $4
		next
	}
	/^#/ { next }
	/^$/ { bad("empty line"); next }
	{
		if ($0 !~ /^vfio_migd_[a-zA-Z0-9_]+(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*")*\})? ([-+]?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|NaN|[-+]Inf)$/) {
			bad("not name{labels} value with the vfio_migd_ prefix")
			next
		}
		n = $0
		sub(/[{ ].*/, "", n)
		if (!(base(n) in type)) bad("sample without a TYPE")
		seen[base(n)] = 1
		series = $0
		sub(/ [^ ]*$/, "", series)
		if (dup[series]++) bad("series twice")
		if (type[base(n)] == "counter" && $NF < 0) bad("negative counter")
	}
	END { exit errors > 0 }' "$1"
}

# value FILE SERIES: the value of one series (exact name and labels).
value() {
	awk -v s="$2" 'substr($0, 1, length(s) + 1) == s " " { print $NF; found = 1 } END { if (!found) print "missing" }' "$1"
}

# check_histogram FILE NAME: buckets cumulative, in order, +Inf = _count.
check_histogram() {
	grep "^$2_bucket{" "$1" | awk -v name="$2" -v count="$(value "$1" "$2_count")" '
	{
		le = $0
		sub(/.*le="/, "", le)
		sub(/".*/, "", le)
		if (NR > 1 && (le == "+Inf" ? 0 : le + 0 <= prev_le + 0) && prev_le != "")
			{ print name ": le " le " after " prev_le; bad = 1 }
		if ($NF + 0 < prev + 0) { print name ": bucket le=" le " has " $NF " < " prev; bad = 1 }
		prev = $NF
		prev_le = le
		last = le
	}
	END {
		if (NR == 0) { print name ": no buckets"; exit 1 }
		if (last != "+Inf") { print name ": last bucket is le=" last; bad = 1 }
		if (prev != count) { print name ": +Inf bucket " prev " but _count " count; bad = 1 }
		exit bad
	}'
}

# counters_monotonic BEFORE AFTER: no counter series went down.
counters_monotonic() {
	awk '
	/^# TYPE / { if ($4 == "counter") counter[$3] = 1; next }
	/^#/ { next }
	{
		n = $0
		sub(/[{ ].*/, "", n)
		s = $0
		sub(/ [^ ]*$/, "", s)
		if (!(n in counter)) next
		if (FNR == NR) before[s] = $NF
		else if ((s in before) && $NF + 0 < before[s] + 0) { print s ": " before[s] " -> " $NF; bad = 1 }
	}
	END { exit bad }' "$1" "$2"
}

scrape a a-before
scrape b b-before
# lint FILE: promtool's complaints, if any (it exits 0 on warnings too).
lint() {
	promtool check metrics <"$1" 2>&1
}
for f in a-before b-before; do
	out=$(check_exposition "$T/$f") || fail "$f exposition: $out"
	out=$(lint "$T/$f") && [ -z "$out" ] || fail "$f: promtool check metrics: $out"
done
grep -q '^vfio_migd_build_info{version="[^"]*"} 1$' "$T/a-before" || fail "no build_info"
[ "$(value "$T/a-before" 'vfio_migd_migrations_total{role="source",outcome="completed"}')" = 0 ] ||
	fail "fresh daemon has completed migrations"
pass "exposition format valid before a migration"

token=$(ctl b --json incoming sim0 | json_get token)
final=$(timeout 30 "$MIGCTL" -s "$T/a.sock" --json migrate sim0 --to "127.0.0.1:$PB" --token "$token" \
	--wait | tail -n 1)
[ "$(echo "$final" | json_get phase)" = completed ] || fail "migration: $final"
bytes=$(echo "$final" | json_get bytes_transferred)
wait_phase b "$(api b GET /v1/migrations | json_get id)" completed
scrape a a-after
scrape b b-after
for f in a-after b-after; do
	out=$(check_exposition "$T/$f") || fail "$f exposition: $out"
	out=$(lint "$T/$f") && [ -z "$out" ] || fail "$f: promtool check metrics: $out"
done
pass "exposition format valid after a migration, promtool check metrics silent"

[ "$(value "$T/a-after" 'vfio_migd_migrations_total{role="source",outcome="completed"}')" = 1 ] ||
	fail "source completed counter: $(grep migrations_total "$T/a-after")"
[ "$(value "$T/b-after" 'vfio_migd_migrations_total{role="destination",outcome="completed"}')" = 1 ] ||
	fail "destination completed counter: $(grep migrations_total "$T/b-after")"
[ "$(value "$T/a-after" 'vfio_migd_migrations_total{role="source",outcome="failed"}')" = 0 ] ||
	fail "a failure counted on the source"
for f in a-after b-after; do
	for r in source destination; do
		[ "$(value "$T/$f" "vfio_migd_migrations_active{role=\"$r\"}")" = 0 ] || fail "$f: migrations still active"
	done
done
pass "vfio_migd_migrations_total{role=\"source\",outcome=\"completed\"} 1 on the source, destination 1 on the destination"

sent=$(value "$T/a-after" vfio_migd_bytes_sent_total)
recv=$(value "$T/b-after" vfio_migd_bytes_received_total)
[ "$sent" = "$bytes" ] || fail "bytes_sent_total $sent, the migration says $bytes"
[ "$recv" -ge $((16 * 1024 * 1024)) ] || fail "bytes_received_total $recv"
pass "byte counters: $sent sent, $recv received"

for f in a-after b-after; do
	for h in vfio_migd_downtime_seconds vfio_migd_migration_duration_seconds; do
		out=$(check_histogram "$T/$f" "$h") || fail "$f: $out"
	done
done
[ "$(value "$T/a-after" vfio_migd_downtime_seconds_count)" = 1 ] || fail "downtime not observed"
[ "$(value "$T/a-after" vfio_migd_migration_duration_seconds_count)" = 1 ] || fail "duration not observed"
[ "$(value "$T/b-after" vfio_migd_migration_duration_seconds_count)" = 1 ] || fail "destination duration not observed"
dt=$(echo "$final" | json_get downtime_ms)
sum=$(value "$T/a-after" vfio_migd_downtime_seconds_sum)
awk -v s="$sum" -v ms="$dt" 'BEGIN { d = s * 1000 - ms; exit !(d < 0.5 && d > -0.5) }' ||
	fail "downtime sum $sum s, the migration says $dt ms"
pass "histograms cumulative, +Inf = count, downtime sum = the migration's ${dt} ms"

grep -q '^vfio_migd_device_state{device="sim0",backend="sim",state="stopped"} 1$' "$T/a-after" ||
	fail "source device state: $(grep device_state "$T/a-after")"
grep -q '^vfio_migd_device_state{device="sim0",backend="sim",state="running"} 1$' "$T/b-after" ||
	fail "destination device state: $(grep device_state "$T/b-after")"
pass "device state gauges follow the devices"

# A refused migration: the rogue daemon's certificate is from another CA.
token=$(ctl b --json incoming sim0 2>/dev/null | json_get token)
[ -n "$token" ] || token=abcd
out=$(timeout 30 "$MIGCTL" -s "$T/r.sock" --json migrate sim0 --to "127.0.0.1:$PB" --token "$token" \
	--wait 2>/dev/null | tail -n 1)
[ "$(echo "$out" | json_get phase)" = failed ] || fail "rogue migration: $out"
sleep 0.3
scrape a a-end
scrape b b-end
scrape r r-end
for f in a b; do
	out=$(counters_monotonic "$T/$f-after" "$T/$f-end") || fail "$f: counter went down: $out"
	out=$(check_exposition "$T/$f-end") || fail "$f-end exposition: $out"
done
[ "$(value "$T/r-end" 'vfio_migd_migrations_total{role="source",outcome="failed"}')" = 1 ] ||
	fail "rogue source failure not counted: $(grep migrations_total "$T/r-end")"
pass "counters never went down; the refused migration counted as failed"

tls_b=$(awk '/^vfio_migd_tls_handshake_failures_total/ { n += $NF } END { print n + 0 }' "$T/b-end")
tls_r=$(awk '/^vfio_migd_tls_handshake_failures_total/ { n += $NF } END { print n + 0 }' "$T/r-end")
[ "$tls_b" -ge 1 ] || fail "the destination refused an untrusted certificate but vfio_migd_tls_handshake_failures_total is $tls_b"
[ "$tls_r" -ge 1 ] || fail "the rogue's handshake failed but its vfio_migd_tls_handshake_failures_total is $tls_r"
pass "TLS handshake failures counted: $tls_b on the server, $tls_r on the client"
