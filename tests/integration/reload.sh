#!/bin/bash
# SIGHUP re-reads the configuration without disturbing a running migration;
# a new hook path takes effect for the next migration; a broken file is
# refused, logged, and the daemon carries on with the old one. SIGTERM in
# the middle of a migration rolls the source device back to running before
# the daemon exits, and the destination's side fails.
. "$(dirname "$0")/lib.sh"

certs
dev() {
	printf '[device %s]\nbackend = sim\nsize = %s\ndirty_rate = %s\nimage = @DIR@/%s.img\nseed = %s\n\n' \
		"$1" "$2" "$3" "$1" "$4"
}
for h in hook1 hook2; do
	printf '#!/bin/sh\necho "$1 $2 $3" >>"%s"\n' "$T/$h.log" >"$T/$h"
	chmod +x "$T/$h"
done
a_devices=$(printf '%s\n%s\n%s\n%s\n' "$(dev sim0 16M 1M 1)" "$(dev sim1 4M 1M 2)" \
	"$(dev sim2 4M 1M 3)" "$(dev big 16M 1M 4)")
# config_a HOOK [EXTRA [migration] lines]: (re)write a's configuration.
config_a() {
	DEVICES=$a_devices EXTRA_DAEMON="hook = $1" EXTRA_MIGRATION=${2:-} write_config a host-a
}
config_a "$T/hook1"
DEVICES=$(printf '%s\n%s\n%s\n%s\n' "$(dev sim0 16M 0 5)" "$(dev sim1 4M 0 6)" \
	"$(dev sim2 4M 0 7)" "$(dev big 16M 0 8)")
write_config b host-b
start_daemon a
start_daemon b

# wait_log NAME REGEX: until the daemon's log has a matching line.
wait_log() {
	i=0
	until grep -Eq "$2" "$T/$1.log"; do
		[ $i -lt 100 ] || fail "no /$2/ in $1's log"
		sleep 0.1
		i=$((i + 1))
	done
}
# migrate DEVICE [options]: start a migration of DEVICE to b; sets $mid, $dst.
migrate() {
	dev=$1
	shift
	out=$(ctl b --json incoming "$dev") || fail "incoming $dev: $out"
	dst=$(echo "$out" | json_get migration_id)
	out=$(ctl a --json migrate "$dev" --to "127.0.0.1:$PB" --token "$(echo "$out" | json_get token)" "$@") ||
		fail "migrate $dev: $out"
	mid=$(echo "$out" | json_get id)
}

# 1. SIGHUP to both daemons in the middle of a slow migration.
migrate sim0 --max-bandwidth 4M
wait_phase a "$mid" precopy
sleep 0.5
config_a "$T/hook2"
kill -HUP "$PID_a" "$PID_b"
wait_log a 'reloaded: '
wait_log b 'reloaded: '
ph=$(api a GET "/v1/migrations/$mid" | json_get phase)
case $ph in
precopy | switchover-pending | stopcopy | completing) ;;
*) fail "the reload ended the migration early: $ph $(api a GET "/v1/migrations/$mid")" ;;
esac
wait_phase a "$mid" completed failed cancelled
out=$(api a GET "/v1/migrations/$mid")
[ "$(echo "$out" | json_get phase)" = completed ] || fail "migration across the reload: $out"
[ "$(sha "$T/a/sim0.img")" = "$(sha "$T/b/sim0.img")" ] || fail "images differ after a migration across a reload"
pass "SIGHUP during a migration: it completed, images byte-identical"

# 2. The next migration runs the new hook, and only it.
first=$mid
migrate sim1
wait_phase a "$mid" completed failed
[ "$(api a GET "/v1/migrations/$mid" | json_get phase)" = completed ] || fail "second migration failed"
i=0
until grep -q "^completed source $mid" "$T/hook2.log" 2>/dev/null; do
	[ $i -lt 50 ] || fail "new hook did not run for $mid: $(cat "$T/hook2.log" 2>/dev/null)"
	sleep 0.1
	i=$((i + 1))
done
for ev in started switchover completed; do
	grep -q "^$ev source $mid" "$T/hook2.log" || fail "new hook missed $ev: $(cat "$T/hook2.log")"
done
! grep -q "$mid" "$T/hook1.log" || fail "the old hook ran for the migration after the reload"
grep -q "^started source $first" "$T/hook1.log" || fail "the old hook did not run before the reload"
pass "a changed hook path takes effect for the next migration"

# 3. A broken file is refused with its line, the daemon keeps the old one.
config_a "$T/hook1" "chunk_size = 64M"
"$MIGD" -t -c "$T/a.conf" >"$T/check.out" 2>&1 && fail "vfio-migd -t accepts the broken file"
kill -HUP "$PID_a"
wait_log a 'reload refused'
grep -Eq "a\.conf:[0-9]+: .*chunk_size" "$T/a.log" || fail "the refusal does not name file, line and key"
kill -0 "$PID_a" 2>/dev/null || fail "daemon exited on a broken reload"
ctl a health >/dev/null || fail "daemon does not answer after a broken reload"
migrate sim2
wait_phase a "$mid" completed failed
[ "$(api a GET "/v1/migrations/$mid" | json_get phase)" = completed ] || fail "migration after a refused reload"
i=0
until grep -q "^completed source $mid" "$T/hook2.log" 2>/dev/null; do
	[ $i -lt 50 ] || fail "the running configuration's hook did not run after a refused reload"
	sleep 0.1
	i=$((i + 1))
done
! grep -q "$mid" "$T/hook1.log" || fail "the refused file's hook ran"
pass "a broken configuration on reload is refused with file:line, the old one stays in force"

# 4. SIGTERM during a migration: roll back, then exit.
config_a "$T/hook2"
migrate big --max-bandwidth 4M
wait_phase a "$mid" precopy
sleep 0.5
kill -TERM "$PID_a"
i=0
while kill -0 "$PID_a" 2>/dev/null; do
	[ $i -lt 100 ] || fail "daemon still running 10 s after SIGTERM"
	sleep 0.1
	i=$((i + 1))
done
wait "$PID_a"
rc=$?
[ $rc -eq 0 ] || fail "daemon exited $rc after SIGTERM"
grep -q "signal 15: shutting down; rolling back 1 running migration" "$T/a.log" ||
	fail "no shutdown line in the log"
rb=$(grep -n "migration $mid: device big rolled back to running" "$T/a.log" | cut -d: -f1)
ex=$(grep -n "vfio-migd\[info\] exiting" "$T/a.log" | tail -n 1 | cut -d: -f1)
[ -n "$rb" ] || fail "no rollback line for $mid"
[ -n "$ex" ] && [ "$rb" -lt "$ex" ] || fail "rollback (line $rb) not before exit (line ${ex:-none})"
wait_phase b "$dst" failed cancelled
out=$(api b GET "/v1/migrations/$dst")
echo "$out" | grep -Eq '"code":"(shutdown|peer-error|connection-lost)"' || fail "destination's reason: $out"
[ "$(device_state b big)" = running ] || fail "destination device is $(device_state b big)"
pass "SIGTERM during a migration: source rolled back before exit, destination failed ($(echo "$out" | json_get code))"
