#!/bin/bash
# GET /v1/events: watchers see each migration's events in order (created,
# then a contiguous chain of phase changes from setup to completed, with
# progress events in between carrying the current phase); ?migration=ID
# gets only that migration; max_watchers is enforced; a watcher that never
# reads does not hold anything up and is cut off.
. "$(dirname "$0")/lib.sh"

certs
dev() {
	printf '[device %s]\nbackend = sim\nsize = %s\ndirty_rate = %s\nimage = @DIR@/%s.img\nseed = %s\n\n' \
		"$1" "$2" "$3" "$1" "$4"
}
# spare0..7 only take part in refused migrations, to make events.
DEVICES=$(printf '%s\n%s\n' "$(dev sim0 16M 2M 1)" "$(dev sim1 8M 1M 3)"
	for i in 0 1 2 3 4 5 6 7; do dev "spare$i" 64K 0 $((10 + i)); done)
write_config a host-a
DEVICES=$(printf '%s\n%s\n' "$(dev sim0 16M 0 2)" "$(dev sim1 8M 0 4)")
EXTRA_DAEMON="max_watchers = 2" write_config b host-b
start_daemon a
start_daemon b

gauge() {
	api "$1" GET /metrics | sed -n "s/^$2 //p"
}
# watch NAME FILE [QUERY]: a curl following the event stream into FILE.
watch() {
	curl -sSN --unix-socket "$T/$1.sock" "http://localhost/v1/events${3:-}" >"$2" 2>>"$T/curl.log" &
	PIDS="$PIDS $!"
}
wait_watchers() {
	i=0
	until [ "$(gauge "$1" vfio_migd_event_watchers)" = "$2" ]; do
		[ $i -lt 50 ] || fail "$1: $(gauge "$1" vfio_migd_event_watchers) event watchers, wanted $2"
		sleep 0.1
		i=$((i + 1))
	done
}

# chain FILE ID [nocreated]: the phases ID went through, as seen in FILE,
# checking on the way that the stream is consistent. Prints
# "precopy stopcopy ... progress=N" or "BAD: why".
chain() {
	grep -F "\"migration\":\"$2\"" "$1" | sed 's/,"object":.*//' | awk -v nocreated="${3:-}" '
	function get(k) {
		if (match($0, "\"" k "\":\"[a-z-]*\""))
			return substr($0, RSTART + length(k) + 4, RLENGTH - length(k) - 5)
		return ""
	}
	function bad(why) { print "BAD: line " NR ": " why; failed = 1; exit }
	BEGIN { cur = "setup"; seen = (nocreated != "") }
	{
		t = get("type")
		if (!seen) {
			if (t != "created")
				bad("first event is " t ", not created")
			seen = 1
			next
		}
		if (t == "created")
			bad("created again")
		else if (t == "phase") {
			if (get("from") != cur)
				bad("phase change from " get("from") " while in " cur)
			cur = get("to")
			if (get("phase") != cur)
				bad("phase " get("phase") " with to " cur)
			out = out (out == "" ? "" : " ") cur
		} else if (t == "progress") {
			n++
			if (get("phase") != cur)
				bad("progress in " get("phase") " while in " cur)
		} else
			bad("unknown event type " t)
	}
	END { if (!failed) print out " progress=" (n + 0) }'
}

# Watchers: everything on a and b, and only the first incoming on b.
watch a "$T/ev-a"
watch b "$T/ev-b"
wait_watchers b 1
out=$(ctl b --json incoming sim0) || fail "incoming sim0: $out"
d0=$(echo "$out" | json_get migration_id)
tok0=$(echo "$out" | json_get token)
out=$(ctl b --json incoming sim1) || fail "incoming sim1: $out"
d1=$(echo "$out" | json_get migration_id)
tok1=$(echo "$out" | json_get token)
watch b "$T/ev-b0" "?migration=$d0"
wait_watchers a 1
wait_watchers b 2

# max_watchers = 2 on b: a third is refused, with a status, not a hang.
code=$(timeout 5 curl -s -o "$T/refused" -w '%{http_code}' --unix-socket "$T/b.sock" http://localhost/v1/events)
[ "$code" = 503 ] || fail "third watcher over max_watchers: HTTP $code $(cat "$T/refused")"
pass "a watcher over max_watchers is refused with 503"

# A watcher that sends its request and never reads a byte.
printf 'GET /v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n' >"$T/request"
socat -u "OPEN:$T/request,ignoreeof" "UNIX-CONNECT:$T/a.sock" 2>>"$T/socat.log" &
PIDS="$PIDS $!"
wait_watchers a 2

# sim0 takes a few seconds (bandwidth cap), sim1 is quick.
t0=$(date +%s)
f0=$(timeout 40 "$MIGCTL" -s "$T/a.sock" --json migrate sim0 --to "127.0.0.1:$PB" --token "$tok0" \
	--max-bandwidth 8M --wait | tail -n 1)
[ "$(echo "$f0" | json_get phase)" = completed ] || fail "sim0: $f0"
f1=$(timeout 30 "$MIGCTL" -s "$T/a.sock" --json migrate sim1 --to "127.0.0.1:$PB" --token "$tok1" \
	--wait | tail -n 1)
[ "$(echo "$f1" | json_get phase)" = completed ] || fail "sim1: $f1"
[ $(($(date +%s) - t0)) -lt 20 ] || fail "migrations took $(($(date +%s) - t0)) s with a stuck watcher"
s0=$(echo "$f0" | json_get id)
s1=$(echo "$f1" | json_get id)
pass "both migrations completed in $(($(date +%s) - t0)) s with a watcher that never reads"
sleep 0.3 # the last events are on their way to the watchers

# The source's stream, per migration.
for id in "$s0" "$s1"; do
	c=$(chain "$T/ev-a" "$id")
	case $c in
	"precopy stopcopy completing completed progress="*) ;;
	*) fail "source events of $id: $c" ;;
	esac
done
pass "source: created, then setup -> precopy -> stopcopy -> completing -> completed"

# The destination's, unfiltered and filtered.
for id in "$d0" "$d1"; do
	c=$(chain "$T/ev-b" "$id")
	case $c in
	"precopy stopcopy completing completed progress="*) ;;
	*) fail "destination events of $id: $c" ;;
	esac
done
c=$(chain "$T/ev-b0" "$d0" nocreated)
case $c in
"precopy stopcopy completing completed progress="*) ;;
*) fail "filtered destination events of $d0: $c" ;;
esac
others=$(grep -vcF "\"migration\":\"$d0\"" "$T/ev-b0")
[ "$others" = 0 ] || fail "?migration=$d0 got $others events of other migrations: $(grep -vF "$d0" "$T/ev-b0" | head -n 2)"
grep -qF "\"migration\":\"$d1\"" "$T/ev-b" || fail "unfiltered watcher missed $d1"
pass "destination: the same chain; ?migration=ID gets that migration only"

# Flood the stream (each refused migration makes two events) until the
# silent watcher's backlog passes the daemon's bound: it is cut off; the
# reading watcher is not. Nobody listens on port 1: each migration fails
# with connection refused a moment later; eight devices take turns so that
# each is free again when its turn comes.
flood=()
for i in $(seq 500); do
	flood+=(--next -sS -o /dev/null --unix-socket "$T/a.sock" -X POST
		-d "{\"device\":\"spare$((i % 8))\",\"destination\":\"127.0.0.1:1\",\"token\":\"ab\"}"
		http://localhost/v1/migrations)
done
# How many rounds that takes depends on how fast refused migrations end:
# each first makes its record durable (two fsyncs), and a device still
# busy refuses the next one without an event. So the bound is on time,
# 180 s, far above what an idle machine needs (a few seconds).
round=0
flood_end=$(($(date +%s) + 180))
while [ "$(date +%s)" -lt "$flood_end" ]; do
	round=$((round + 1))
	timeout 120 curl "${flood[@]:1}" || fail "flood requests failed (round $round)"
	[ "$(gauge a vfio_migd_event_watchers_dropped_total)" = 0 ] || break
done
made=$(grep -c '"type":"created","migration":"[^"]*","role":"source","device":"spare' "$T/ev-a")
dropped=$(gauge a vfio_migd_event_watchers_dropped_total)
[ "$dropped" = 1 ] ||
	fail "vfio_migd_event_watchers_dropped_total is $dropped after $made refused migrations ($round rounds)"
[ "$(gauge a vfio_migd_event_watchers)" = 1 ] || fail "watchers left: $(gauge a vfio_migd_event_watchers)"
grep -q "event watcher dropped" "$T/a.log" || fail "the drop is not logged"
pass "the watcher that never reads was dropped after $made refused migrations"
sleep 0.5
ended=$(grep -c '"type":"phase","migration":"[^"]*","device":"spare[0-7]","from":"setup","to":"failed"' "$T/ev-a")
[ "$ended" = "$(grep -c '"type":"created","migration":"[^"]*","role":"source","device":"spare' "$T/ev-a")" ] ||
	fail "the reading watcher saw $ended of $made refused migrations end"
ctl a health >/dev/null || fail "daemon a stopped answering"
pass "the reading watcher kept up with all $ended"

# Progress: a migration of several seconds reports progress between
# phase changes (SPEC §4 events: created, phase, progress).
c=$(chain "$T/ev-a" "$s0")
n=${c##*progress=}
[ "$n" -gt 0 ] || fail "no progress events during a $(echo "$f0" | json_get total_ms) ms migration"
pass "$n progress events during the capped migration"
