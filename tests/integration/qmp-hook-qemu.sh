#!/bin/bash
# The contrib QMP hook against a real QEMU (Debian's qemu-system-x86, a TCG
# guest with no disk): driven by hand with each event the daemon gives it,
# the guest is paused at switchover and stays paused on completed, runs
# again on failed and cancelled; a guest an operator paused before stays
# paused whatever the outcome. Then once through real migrations between
# two daemons: completed (paused), vetoed after the pause (running again),
# and vetoed with an operator-paused guest (still paused).
# The guest's state is read through QMP by the test's own client.
. "$(dirname "$0")/lib.sh"

command -v qemu-system-x86_64 >/dev/null || {
	echo "qemu-system-x86_64 is missing (Debian package qemu-system-x86; ./dev.sh installs it): skipped"
	exit 77
}
command -v socat >/dev/null || fail "socat is missing (the hook needs it; ./dev.sh installs it)"

HOOK="$SRCDIR/contrib/vfio-migd-qmp-hook"
QMP="$T/guest.qmp"
STATE="$T/qmp-state"

# A guest with no disk and no network: SeaBIOS finds nothing to boot, which
# is all a pause and a resume need. -S: it waits in prelaunch until the test
# lets it run.
qemu-system-x86_64 -machine pc,accel=tcg -m 64 -nodefaults -display none \
	-qmp "unix:$QMP,server=on,wait=off" -S >"$T/qemu.log" 2>&1 &
QEMU_PID=$!
PIDS="$PIDS $QEMU_PID"

# The test's own QMP client: negotiates, runs each command, prints the
# status of each query-status; a QMP error or 30 s without an answer fails.
cat >"$T/qmp.py" <<'PY'
import json, socket, sys

sock = socket.socket(socket.AF_UNIX)
sock.settimeout(30)
sock.connect(sys.argv[1])
f = sock.makefile("rw")
json.loads(f.readline())


def run(cmd):
    f.write(json.dumps({"execute": cmd, "id": cmd}) + "\n")
    f.flush()
    while True:
        line = f.readline()
        if not line:
            sys.exit(cmd + ": QEMU closed the monitor")
        msg = json.loads(line)
        if msg.get("id") != cmd:
            continue
        if "error" in msg:
            sys.exit(cmd + ": " + msg["error"]["desc"])
        return msg["return"]


run("qmp_capabilities")
for cmd in sys.argv[2:]:
    ret = run(cmd)
    if cmd == "query-status":
        print(ret["status"])
PY
qmp() { python3 "$T/qmp.py" "$QMP" "$@"; }
guest() { qmp query-status || fail "query-status: QEMU does not answer"; }

i=0
until [ -S "$QMP" ]; do
	kill -0 "$QEMU_PID" 2>/dev/null || fail "QEMU exited: $(cat "$T/qemu.log")"
	[ $i -lt 300 ] || fail "QEMU's QMP socket did not appear within 30 s"
	sleep 0.1
	i=$((i + 1))
done
[ "$(guest)" = prelaunch ] || fail "QEMU -S: guest is $(guest)"
qmp cont query-status >/dev/null || fail "cannot start the guest"
[ "$(guest)" = running ] || fail "guest is $(guest) after cont"
pass "QEMU $(qemu-system-x86_64 --version | sed -n '1s/.*version \([^ ]*\).*/\1/p') runs a TCG guest, QMP on $QMP"

# hook EVENT ID [ROLE]: the hook as the daemon runs it (migration on stdin).
hook() {
	echo "{\"id\":\"$2\"}" | VFIO_MIGD_QMP_SOCKET="$QMP" VFIO_MIGD_QMP_STATE_DIR="$STATE" \
		VFIO_MIGD_QMP_TIMEOUT=20 sh "$HOOK" "$1" "${3:-source}" "$2" gpu0 2>>"$T/hook.err"
}
uuid() { printf '00000000-0000-0000-0000-%012d\n' "$1"; }
expect() {
	st=$(guest)
	[ "$st" = "$1" ] || fail "$2: guest is $st, wanted $1 (hook said: $(tail -n 3 "$T/hook.err"))"
}

# 1. switchover pauses, failed resumes.
id=$(uuid 1)
hook started "$id" || fail "started"
expect running "started"
hook switchover "$id" || fail "switchover exited $?"
expect paused "switchover"
[ -f "$STATE/$id" ] || fail "switchover did not remember the pause"
hook failed "$id" || fail "failed exited $?"
expect running "failed after the hook's pause"
[ ! -e "$STATE/$id" ] || fail "failed left $STATE/$id"
pass "switchover -> paused, failed -> running"

# 2. completed leaves the guest paused (its device runs on the destination).
id=$(uuid 2)
hook switchover "$id" || fail "switchover exited $?"
expect paused "switchover"
hook completed "$id" || fail "completed exited $?"
expect paused "completed"
[ ! -e "$STATE/$id" ] || fail "completed left $STATE/$id"
pass "switchover -> paused, completed -> stays paused"
qmp cont >/dev/null || fail "cont"

# 3. cancelled resumes a guest the hook paused.
id=$(uuid 3)
hook switchover "$id" || fail "switchover exited $?"
expect paused "switchover"
hook cancelled "$id" || fail "cancelled exited $?"
expect running "cancelled after the hook's pause"
pass "switchover -> paused, cancelled -> running"

# 4. An operator paused the guest before the migration: the hook neither
# pauses it (nothing to do) nor resumes it on cancelled or failed.
qmp stop >/dev/null || fail "operator's stop"
expect paused "operator's stop"
for ev in cancelled failed; do
	id=$(uuid "$([ $ev = cancelled ] && echo 4 || echo 5)")
	: >"$T/hook.err"
	hook switchover "$id" || fail "switchover of a paused guest exited $?: $(cat "$T/hook.err")"
	grep -q "not running (paused)" "$T/hook.err" || fail "switchover did not say the guest was paused: $(cat "$T/hook.err")"
	[ ! -e "$STATE/$id" ] || fail "switchover recorded an operator's pause as its own"
	hook "$ev" "$id" || fail "$ev exited $?"
	expect paused "$ev of a guest the operator paused"
done
pass "operator-paused guest: switchover leaves it, cancelled and failed -> still paused"

# 5. On the destination every event is a no-op.
qmp cont >/dev/null || fail "cont"
id=$(uuid 6)
for ev in prepare started switchover resumed failed; do
	hook "$ev" "$id" destination || fail "destination $ev exited $?"
done
expect running "destination events"
pass "destination events leave the guest alone"

# 6. Through the daemons: the QMP hook is the source's hook (a wrapper sets
# its environment; the daemon gives hooks an empty one). In veto mode the
# wrapper vetoes the switchover after the QMP hook has run, so the
# migration fails after the pause.
cat >"$T/hook" <<WRAP
#!/bin/sh
VFIO_MIGD_QMP_SOCKET="$QMP" VFIO_MIGD_QMP_STATE_DIR="$STATE" VFIO_MIGD_QMP_TIMEOUT=10 \\
	sh "$HOOK" "\$@" || exit 1
[ "\$1:\$2:\$(cat "$T/hook-mode" 2>/dev/null)" != switchover:source:veto ] || exit 1
echo "\$1 \$2" >>"$T/hook-done.log"
exit 0
WRAP
chmod +x "$T/hook"
certs
dev() {
	printf '[device %s]\nbackend = sim\nsize = 4M\ndirty_rate = %s\nimage = @DIR@/%s.img\nseed = %s\n\n' \
		"$1" "$2" "$1" "$3"
}
EXTRA_DAEMON="hook = $T/hook
hook_timeout_ms = 30000"
DEVICES=$(printf '%s\n%s\n' "$(dev sim0 1M 1)" "$(dev sim1 1M 3)")
write_config a host-a
EXTRA_DAEMON=""
DEVICES=$(printf '%s\n%s\n' "$(dev sim0 0 2)" "$(dev sim1 0 4)")
write_config b host-b
start_daemon a
start_daemon b

# migrate DEVICE: incoming on b, migrate --wait on a; sets $final, and
# waits until both sides are done with it (b's device free again) and the
# source's hook has seen the migration's end.
migrate() {
	out=$(ctl b --json incoming "$1") || fail "incoming $1: $out"
	dst_id=$(echo "$out" | json_get migration_id)
	token=$(echo "$out" | json_get token)
	final=$(timeout 60 "$MIGCTL" -s "$T/a.sock" --json migrate "$1" --to "127.0.0.1:$PB" \
		--token "$token" --wait | tail -n 1)
	src_phase=$(echo "$final" | json_get phase)
	wait_phase b "$dst_id" completed failed cancelled
	i=0
	until grep -q "^$src_phase source$" "$T/hook-done.log" 2>/dev/null; do
		[ $i -lt 300 ] || fail "the hook did not finish '$src_phase' within 30 s: $(tail -n 5 "$T/a.log")"
		sleep 0.1
		i=$((i + 1))
	done
	: >"$T/hook-done.log"
}

echo veto >"$T/hook-mode"
migrate sim1
[ "$(echo "$final" | json_get code)" = hook-veto ] || fail "not vetoed: $final"
expect running "a migration vetoed after the hook's pause"
[ "$(device_state a sim1)" = running ] || fail "source sim1 is $(device_state a sim1)"
pass "daemons: vetoed after the pause -> failed, the guest runs again"

qmp stop >/dev/null || fail "operator's stop"
migrate sim1
[ "$(echo "$final" | json_get code)" = hook-veto ] || fail "not vetoed: $final"
expect paused "a failed migration of a guest the operator paused"
grep -q "guest of sim1 is not running (paused)" "$T/a.log" || fail "the daemon's log does not say the guest was paused already"
pass "daemons: operator-paused guest, migration failed -> still paused"

qmp cont >/dev/null || fail "cont"
: >"$T/hook-mode"
migrate sim0
[ "$(echo "$final" | json_get phase)" = completed ] || fail "migration: $final"
expect paused "a completed migration"
[ -z "$(ls -A "$STATE")" ] || fail "the hook left state behind: $(ls "$STATE")"
pass "daemons: completed -> the guest stays paused on the source"
