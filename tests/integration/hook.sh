#!/bin/bash
# The orchestration hook (SPEC §5a): it runs at each phase change with the
# right arguments and the migration object on stdin; a failing or hanging
# hook at switchover vetoes it and the source device keeps running; the
# contrib QMP hook pauses the guest at switchover and resumes it when the
# migration fails.
. "$(dirname "$0")/lib.sh"

certs
# sim0 is migrated once (then it is stopped on a); sim1 takes the vetoes,
# which leave it running, and completes last.
dev() {
	printf '[device %s]\nbackend = sim\nsize = 8M\ndirty_rate = %s\nimage = @DIR@/%s.img\nseed = %s\n\n' \
		"$1" "$2" "$1" "$3"
}
# One hook for both daemons: it records its arguments and stdin per role,
# and behaves as $T/hook-mode says.
cat >"$T/hook" <<HOOK
#!/bin/sh
printf '%s|%s|%s|%s|%s\n' "\$#" "\$1" "\$2" "\$3" "\$4" >>"$T/hook-\$2.log"
echo "\$1 \$2" >>"$T/hook-all.log"
{ cat; echo; } >>"$T/hook-\$2.json"
case "\$(cat "$T/hook-mode" 2>/dev/null):\$1:\$2" in
veto:switchover:source)
	echo "hook says no"
	exit 1 ;;
sleep:switchover:source)
	exec sleep 30 ;;
qmp:*)
	VFIO_MIGD_QMP_HOOK_CONF="$T/qmp-hook.conf" VFIO_MIGD_QMP_STATE_DIR="$T/qmp-state" \\
	VFIO_MIGD_QMP_TIMEOUT=5 exec sh "$SRCDIR/contrib/vfio-migd-qmp-hook" "\$@" ;;
qmpveto:*)
	VFIO_MIGD_QMP_HOOK_CONF="$T/qmp-hook.conf" VFIO_MIGD_QMP_STATE_DIR="$T/qmp-state" \\
	VFIO_MIGD_QMP_TIMEOUT=5 sh "$SRCDIR/contrib/vfio-migd-qmp-hook" "\$@" || exit 1
	[ "\$1" != switchover ] || exit 1 ;;
esac
exit 0
HOOK
chmod +x "$T/hook"
printf '# device  QMP socket\nsim0 %s\nsim1 %s\n' "$T/qmp.sock" "$T/qmp.sock" >"$T/qmp-hook.conf"

EXTRA_DAEMON="hook = $T/hook
hook_timeout_ms = 2000"
DEVICES=$(printf '%s\n%s\n' "$(dev sim0 2M 1)" "$(dev sim1 2M 3)")
write_config a host-a
DEVICES=$(printf '%s\n%s\n' "$(dev sim0 0 2)" "$(dev sim1 0 4)")
write_config b host-b
start_daemon a
start_daemon b

# wait_line FILE REGEX: until a line of FILE matches (the hook runs after
# the phase change the API reports).
wait_line() {
	i=0
	while [ $i -lt 100 ]; do
		grep -Eq "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	fail "no line /$2/ in $1: $(cat "$1" 2>/dev/null)"
}

# migrate DEVICE: incoming on b, migrate --wait on a; sets $dst_id, $final.
migrate() {
	out=$(ctl b --json incoming "$1") || fail "incoming $1: $out"
	dst_id=$(echo "$out" | json_get migration_id)
	token=$(echo "$out" | json_get token)
	final=$(timeout 30 "$MIGCTL" -s "$T/a.sock" --json migrate "$1" --to "127.0.0.1:$PB" \
		--token "$token" --wait | tail -n 1)
}

# expect_veto DEVICE: the migration failed with hook-veto, nothing moved.
expect_veto() {
	[ "$(echo "$final" | json_get phase)" = failed ] || fail "not failed: $final"
	[ "$(echo "$final" | json_get code)" = hook-veto ] || fail "not hook-veto: $final"
	[ "$(device_state a "$1")" = running ] || fail "source $1 is $(device_state a "$1"), not running"
	wait_phase b "$dst_id" failed cancelled
	# Reset: the received state is discarded, the device is back in service.
	[ "$(device_state b "$1")" = running ] || fail "destination $1 is $(device_state b "$1") after a veto"
}

# 1. A recording hook sees every event, in order, with the migration on stdin.
: >"$T/hook-mode"
migrate sim0
[ "$(echo "$final" | json_get phase)" = completed ] || fail "migration: $final"
src_id=$(echo "$final" | json_get id)
wait_line "$T/hook-source.log" '\|completed\|'
wait_line "$T/hook-destination.log" '\|completed\|'
src_want="4|started|source|$src_id|sim0
4|switchover|source|$src_id|sim0
4|completed|source|$src_id|sim0"
dst_want="4|prepare|destination|$dst_id|sim0
4|started|destination|$dst_id|sim0
4|resumed|destination|$dst_id|sim0
4|completed|destination|$dst_id|sim0"
[ "$(cat "$T/hook-source.log")" = "$src_want" ] ||
	fail "source hook calls: $(cat "$T/hook-source.log"), wanted $src_want"
[ "$(cat "$T/hook-destination.log")" = "$dst_want" ] ||
	fail "destination hook calls: $(cat "$T/hook-destination.log"), wanted $dst_want"
# Across the hosts: prepare, then the source starts, pauses, then resumed.
order=$(grep -Ev '^(started destination|completed)' "$T/hook-all.log" | tr '\n' ,)
[ "$order" = "prepare destination,started source,switchover source,resumed destination," ] ||
	fail "hook order across hosts: $order"
pass "hook ran prepare/started/switchover/resumed/completed in order with EVENT ROLE ID DEVICE"

for role in source destination; do
	if [ $role = source ]; then id=$src_id; else id=$dst_id; fi
	n=0
	while IFS= read -r js; do
		[ -n "$js" ] || continue
		n=$((n + 1))
		ev=$(echo "$js" | sed -n 's/.*"event":"\([a-z]*\)".*/\1/p')
		for kv in "\"id\":\"$id\"" "\"role\":\"$role\"" "\"device\":\"sim0\"" '"phase":"'; do
			case $js in
			*"$kv"*) ;;
			*) fail "$role hook $ev: no $kv in stdin: $js" ;;
			esac
		done
		[ "$ev" != completed ] || echo "$js" | grep -q '"phase":"completed"' ||
			fail "completed hook: migration object not completed: $js"
	done <"$T/hook-$role.json"
	[ $n -eq "$(wc -l <"$T/hook-$role.log")" ] || fail "$role: $n JSON objects on stdin for $(wc -l <"$T/hook-$role.log") calls"
done
grep -q '"event":"switchover"' "$T/hook-source.json" || fail "no switchover JSON"
pass "each hook call got the migration object as JSON on stdin"

# 2. A hook that exits 1 at switchover vetoes it.
: >"$T/hook-source.log"
echo veto >"$T/hook-mode"
migrate sim1
expect_veto sim1
echo "$final" | grep -q 'status 1' || fail "veto message does not say why: $final"
wait_line "$T/hook-source.log" '\|failed\|'
grep -q "hook switchover .*hook says no" "$T/a.log" || fail "hook output not in the log"
pass "exit 1 at switchover vetoes: failed with hook-veto, source device running"

# 3. A hook that outlives hook_timeout_ms vetoes too, in bounded time.
echo sleep >"$T/hook-mode"
t0=$(date +%s)
migrate sim1
expect_veto sim1
[ $(($(date +%s) - t0)) -lt 15 ] || fail "a hanging hook held the migration $(($(date +%s) - t0)) s"
echo "$final" | grep -q hook_timeout_ms || fail "timeout veto does not say why: $final"
pass "a hook past hook_timeout_ms vetoes: failed with hook-veto, source device running"
v=$(api a GET /metrics | sed -n 's/^vfio_migd_hook_vetoes_total //p')
[ "$v" = 2 ] || fail "vfio_migd_hook_vetoes_total is $v, wanted 2"
pass "vfio_migd_hook_vetoes_total counts both vetoes"

# 4. The QMP hook: stop at switchover, cont when the migration then fails.
# It has two QMP sessions with a shell-script server at switchover: on a
# loaded machine that takes more than the 2 s the timeout case needed.
sed -i 's/^hook_timeout_ms = 2000$/hook_timeout_ms = 30000/' "$T/a.conf"
kill -HUP "$PID_a"
wait_line "$T/a.log" 'reloaded: '
sh "$SRCDIR/tests/integration/fake-qmp.sh" "$T/qmp.sock" "$T/qmp.log" 2>>"$T/fake-qmp.log" &
PIDS="$PIDS $!"
i=0
until [ -S "$T/qmp.sock" ]; do
	[ $i -lt 50 ] || fail "fake QMP server did not start"
	sleep 0.1
	i=$((i + 1))
done
echo qmpveto >"$T/hook-mode"
migrate sim1
expect_veto sim1
wait_line "$T/qmp.log" '^cont$'
[ "$(grep -Ev '^qmp_capabilities$' "$T/qmp.log" | tr '\n' ' ')" = "query-status stop cont " ] ||
	fail "QMP commands: $(tr '\n' ' ' <"$T/qmp.log")"
[ "$(cat "$T/qmp.log.status")" = running ] || fail "guest left $(cat "$T/qmp.log.status")"
pass "QMP hook: query-status and stop at switchover, cont after the veto; the guest runs"

# The guest cannot be paused (QEMU refuses stop): the QMP hook itself vetoes.
: >"$T/qmp.log"
echo qmp >"$T/hook-mode"
echo stop >"$T/qmp.log.fail"
migrate sim1
expect_veto sim1
wait_line "$T/qmp.log" '^cont$'
grep -q "stop refused by QEMU" "$T/a.log" || fail "QMP refusal not in the log"
[ "$(cat "$T/qmp.log.status")" = running ] || fail "guest left $(cat "$T/qmp.log.status")"
rm -f "$T/qmp.log.fail"
pass "QMP hook vetoes when QEMU refuses stop, and the guest keeps running"

# QEMU cannot say whether the guest runs: vetoed before any stop, and the
# failed run that follows has no pause of its own to undo.
: >"$T/qmp.log"
: >"$T/hook-source.log"
echo query-status >"$T/qmp.log.fail"
migrate sim1
expect_veto sim1
wait_line "$T/hook-source.log" '\|failed\|'
[ "$(grep -Ev '^qmp_capabilities$' "$T/qmp.log" | tr '\n' ' ')" = "query-status " ] ||
	fail "QMP commands when query-status fails: $(tr '\n' ' ' <"$T/qmp.log")"
grep -q "cannot ask the state of the guest of sim1" "$T/a.log" || fail "query-status failure not in the log"
rm -f "$T/qmp.log.fail"
pass "QMP hook vetoes when QEMU does not answer query-status, and sends nothing else"

# A completed migration: the guest is paused once and stays paused here.
: >"$T/qmp.log"
migrate sim1
[ "$(echo "$final" | json_get phase)" = completed ] || fail "QMP migration: $final"
wait_line "$T/hook-source.log" "\|completed\|.*\|sim1"
sleep 0.3
[ "$(grep -Ev '^qmp_capabilities$' "$T/qmp.log" | tr '\n' ' ')" = "query-status stop " ] ||
	fail "QMP commands of a completed migration: $(tr '\n' ' ' <"$T/qmp.log")"
[ "$(cat "$T/qmp.log.status")" = paused ] || fail "guest is $(cat "$T/qmp.log.status") after completion"
[ -z "$(ls -A "$T/qmp-state")" ] || fail "QMP hook left state behind: $(ls "$T/qmp-state")"
pass "QMP hook: stop at switchover of a completed migration, guest stays paused"
