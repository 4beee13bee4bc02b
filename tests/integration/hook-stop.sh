#!/bin/bash
# Hooks and the daemon's stop (issue 17, item 9): runs still queued when the
# stop's grace ends are not dropped silently. The hook hangs on `prepare`;
# three incoming migrations queue three prepares (one runs), and SIGTERM
# fails the three migrations, queueing three `failed` runs. When the grace
# is over the running hook is killed (its whole process group: what it
# started dies too) and every queued run is reported as not run, in the
# log and as a "hook" event on GET /v1/events; the daemon exits 0.
. "$(dirname "$0")/lib.sh"

certs
cat >"$T/hook" <<HOOK
#!/bin/sh
echo "\$1 \$3" >>"$T/hook-ran.log"
if [ "\$1" = prepare ]; then
	sleep 600 &
	echo \$! >"$T/hook-child.pid"
	wait
fi
exit 0
HOOK
chmod +x "$T/hook"
DEVICES=""
for d in gpu0 nic0 ssd0; do
	DEVICES="$DEVICES[device $d]
backend = sim
size = 1M
image = @DIR@/$d.img
seed = 1

"
done
EXTRA_DAEMON="hook = $T/hook
hook_timeout_ms = 600000"
write_config a host-a
start_daemon a

curl -sN --unix-socket "$T/a.sock" http://localhost/v1/events >"$T/events.out" 2>/dev/null &
PIDS="$PIDS $!"
ids=""
for d in gpu0 nic0 ssd0; do
	id=$(api a POST "/v1/devices/$d/incoming" | json_get migration_id)
	[ -n "$id" ] || fail "incoming $d"
	ids="$ids $id"
done
i=0
until [ -s "$T/hook-child.pid" ]; do
	i=$((i + 1))
	[ $i -lt 200 ] || fail "the first prepare hook never started"
	sleep 0.05
done
child=$(cat "$T/hook-child.pid")

kill -TERM "$PID_a"
wait "$PID_a"
rc=$?
[ "$rc" -eq 0 ] || fail "daemon exited with $rc"
sleep 0.2

set -- $ids
first=$1
shift
for id in "$@"; do
	grep -q "hook prepare $id: not run: the daemon stopped before its turn" "$T/a.log" ||
		fail "queued prepare of $id not reported: $(grep "hook" "$T/a.log")"
	grep -q "\"type\":\"hook\".*\"event\":\"prepare\".*\"migration\":\"$id\".*\"result\":\"not run\"" "$T/events.out" ||
		fail "no event for the queued prepare of $id: $(cat "$T/events.out")"
done
for id in $ids; do
	grep -q "hook failed $id: not run: the daemon stopped before its turn" "$T/a.log" ||
		fail "queued failed hook of $id not reported: $(grep "hook" "$T/a.log")"
done
grep -q "hook prepare $first: killed: the daemon stopped" "$T/a.log" ||
	fail "the running hook's end not reported: $(grep "hook" "$T/a.log")"
grep -q "\"event\":\"prepare\".*\"migration\":\"$first\".*\"result\":\"killed\"" "$T/events.out" ||
	fail "no event for the killed prepare: $(cat "$T/events.out")"
# Killed with its group: gone, or a zombie waiting for init to reap it.
i=0
while [ -e "/proc/$child" ] && [ "$(awk '{ print $3 }' "/proc/$child/stat" 2>/dev/null)" != Z ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || fail "the hook's child (pid $child) outlived it: $(cat "/proc/$child/stat")"
	sleep 0.05
done
[ "$(grep -c . "$T/hook-ran.log")" = 1 ] || fail "hooks ran after the stop: $(cat "$T/hook-ran.log")"
pass "at the stop: the running hook killed with its process group, 2 queued prepares and 3 failed runs reported as not run (log and events), exit 0"
