#!/bin/bash
# contrib/vfio-migd-schedule end to end: exit 0 and the final migration
# object for a completed migration (local sockets, and through ssh), 1 for a
# refused one, 2 for a usage error, 3 for an unreachable daemon or host, 4
# for a migration cancelled by --timeout or a signal; the destination is
# never left waiting.
. "$(dirname "$0")/lib.sh"

certs
SCHED="$SRCDIR/contrib/vfio-migd-schedule"
dev() {
	printf '[device %s]\nbackend = sim\nsize = %s\ndirty_rate = %s\nimage = @DIR@/%s.img\nseed = %s\n\n' \
		"$1" "$2" "$3" "$1" "$4"
}
DEVICES=$(printf '%s\n%s\n%s\n%s\n' "$(dev sim0 16M 1M 1)" "$(dev sim1 16M 1M 2)" \
	"$(dev sim2 4M 1M 3)" "$(dev big 16M 0 4)")
write_config a host-a
DEVICES=$(printf '%s\n%s\n%s\n%s\n' "$(dev sim0 16M 0 5)" "$(dev sim1 16M 0 6)" \
	"$(dev sim2 4M 0 7)" "$(dev big 8M 0 8)")
write_config b host-b
start_daemon a
start_daemon b

# sched [options] DEVICE: the driver between a and b; sets $rc, $out, $err.
sched() {
	out=$(timeout 50 sh "$SCHED" --migctl "$MIGCTL" --src-socket "$T/a.sock" --dst-socket "$T/b.sock" \
		"$@" 2>"$T/sched.err")
	rc=$?
	err=$(cat "$T/sched.err")
}
# dest_released DEVICE: b's newest migration of DEVICE is over, the device free.
dest_released() {
	last=$(api b GET /v1/migrations | grep -o "\"id\":\"[^\"]*\",\"role\":\"destination\",\"device\":\"$1\"" |
		head -n 1 | json_get id)
	[ -n "$last" ] || fail "no migration of $1 on the destination"
	wait_phase b "$last" cancelled failed
	api b GET "/v1/devices/$1" | grep -q '"busy":false' || fail "destination $1 still busy"
}

# Usage errors.
sh "$SCHED" >/dev/null 2>&1
[ $? -eq 2 ] || fail "no arguments: not exit 2"
sh "$SCHED" --timeout soon sim0 "127.0.0.1:$PB" >/dev/null 2>&1
[ $? -eq 2 ] || fail "bad --timeout: not exit 2"
sh "$SCHED" --bogus sim0 "127.0.0.1:$PB" >/dev/null 2>&1
[ $? -eq 2 ] || fail "unknown option: not exit 2"
sh "$SCHED" sim0 nocolon >/dev/null 2>&1
[ $? -eq 2 ] || fail "DESTINATION without a port: not exit 2"
sh "$SCHED" --help | grep -q "exit status" || fail "--help"
pass "usage errors exit 2"

# Completed.
sched sim0 "127.0.0.1:$PB"
[ $rc -eq 0 ] || fail "completed migration: exit $rc: $err"
[ "$(echo "$out" | wc -l)" -eq 1 ] || fail "stdout is not one line: $out"
[ "$(echo "$out" | json_get phase)" = completed ] || fail "stdout: $out"
[ "$(echo "$out" | json_get role)" = source ] || fail "stdout is not the source's object: $out"
echo "$err" | grep -q "completed" || fail "stderr: $err"
[ "$(sha "$T/a/sim0.img")" = "$(sha "$T/b/sim0.img")" ] || fail "images differ"
pass "completed: exit 0, the final migration object on stdout, images identical"

# Completed through "ssh" (a stand-in running the remote command locally,
# as sshd would, through a shell), with a socket path that needs quoting.
mkdir -p "$T/it's here"
ln -s "$T/a.sock" "$T/it's here/a sock"
ln -s "$T/b.sock" "$T/it's here/b sock"
printf '#!/bin/sh\necho "$1" >>"%s"\nshift\nexec sh -c "$*"\n' "$T/ssh.log" >"$T/fake-ssh"
chmod +x "$T/fake-ssh"
out=$(VFIO_MIGD_SSH="$T/fake-ssh" timeout 50 sh "$SCHED" --migctl "$MIGCTL" \
	--src-ssh host-a --src-socket "$T/it's here/a sock" \
	--dst-ssh host-b --dst-socket "$T/it's here/b sock" --max-bandwidth 64M sim2 "127.0.0.1:$PB" 2>"$T/sched.err")
rc=$?
[ $rc -eq 0 ] || fail "through ssh: exit $rc: $(cat "$T/sched.err")"
[ "$(echo "$out" | json_get phase)" = completed ] || fail "through ssh: $out"
grep -q host-a "$T/ssh.log" && grep -q host-b "$T/ssh.log" || fail "ssh not used for both hosts: $(cat "$T/ssh.log")"
out=$(VFIO_MIGD_SSH="$T/fake-ssh" sh "$SCHED" --migctl "$MIGCTL" --dst-ssh host-b \
	--dst-socket "$T/it's here/b sock" --src-socket "$T/a.sock" --max-bandwidth "1M; touch $T/pwned" \
	sim1 "127.0.0.1:$PB" 2>/dev/null)
rc=$?
[ ! -e "$T/pwned" ] || fail "an option value was run as a command"
[ $rc -eq 2 ] || fail "a bad --max-bandwidth: exit $rc, not 2"
dest_released sim1
printf '#!/bin/sh\necho "ssh: connect to host $1 port 22: No route to host" >&2\nexit 255\n' >"$T/dead-ssh"
chmod +x "$T/dead-ssh"
VFIO_MIGD_SSH="$T/dead-ssh" sh "$SCHED" --migctl "$MIGCTL" --dst-ssh nowhere sim1 "127.0.0.1:$PB" 2>/dev/null
[ $? -eq 3 ] || fail "unreachable ssh host: not exit 3"
pass "through ssh: completed with quoted paths, no injection; an unreachable host exits 3"

# Refused by the destination (incompatible device): exit 1, nothing left.
sched big "127.0.0.1:$PB"
[ $rc -eq 1 ] || fail "incompatible device: exit $rc: $err"
[ "$(echo "$out" | json_get code)" = incompatible-device ] || fail "incompatible: $out"
echo "$err" | grep -q incompatible-device || fail "stderr does not say why: $err"
[ "$(device_state a big)" = running ] || fail "source device not running"
dest_released big
pass "refused migration: exit 1 with the reason, source running, destination released"

# Unknown device on the destination: refused before anything starts.
n=$(api a GET /v1/migrations | grep -o '"id"' | wc -l)
sched nosuch "127.0.0.1:$PB"
[ $rc -eq 1 ] || fail "unknown device: exit $rc: $err"
echo "$err" | grep -q "destination refused" || fail "stderr: $err"
[ "$(api a GET /v1/migrations | grep -o '"id"' | wc -l)" = "$n" ] || fail "a migration was started anyway"
pass "unknown device on the destination: exit 1, no migration started"

# Unreachable daemons.
out=$(sh "$SCHED" --migctl "$MIGCTL" --src-socket "$T/a.sock" --dst-socket "$T/nothing.sock" \
	sim1 "127.0.0.1:$PB" 2>/dev/null)
[ $? -eq 3 ] || fail "unreachable destination: not exit 3"
out=$(sh "$SCHED" --migctl "$MIGCTL" --src-socket "$T/nothing.sock" --dst-socket "$T/b.sock" \
	sim1 "127.0.0.1:$PB" 2>/dev/null)
[ $? -eq 3 ] || fail "unreachable source: not exit 3"
dest_released sim1
pass "unreachable daemon: exit 3; the destination's incoming is cancelled"

# --timeout: the migration is cancelled, the source device keeps running.
t0=$(date +%s)
sched --timeout 1 --max-bandwidth 2M sim1 "127.0.0.1:$PB"
[ $rc -eq 4 ] || fail "--timeout: exit $rc: $err"
[ "$(echo "$out" | json_get phase)" = cancelled ] || fail "--timeout: $out"
[ $(($(date +%s) - t0)) -le 10 ] || fail "--timeout 1 took $(($(date +%s) - t0)) s"
[ "$(device_state a sim1)" = running ] || fail "source device is $(device_state a sim1)"
dest_released sim1
pass "--timeout: cancelled, exit 4, source running, destination released"

# SIGTERM to the driver: it cancels the migration and says so.
sh "$SCHED" --migctl "$MIGCTL" --src-socket "$T/a.sock" --dst-socket "$T/b.sock" --max-bandwidth 2M \
	sim1 "127.0.0.1:$PB" >"$T/term.out" 2>"$T/term.err" &
spid=$!
PIDS="$PIDS $spid"
i=0
until api a GET /v1/migrations | grep -q '"device":"sim1","peer":"[^"]*","peer_migration_id":[^,]*,"state_size":[0-9]*,"phase":"precopy"'; do
	[ $i -lt 100 ] || fail "driver did not start the migration"
	sleep 0.1
	i=$((i + 1))
done
kill -TERM "$spid"
i=0
while kill -0 "$spid" 2>/dev/null; do
	[ $i -lt 100 ] || fail "driver still running 10 s after SIGTERM"
	sleep 0.1
	i=$((i + 1))
done
wait "$spid"
rc=$?
[ $rc -eq 4 ] || fail "SIGTERM: exit $rc: $(cat "$T/term.err")"
[ "$(json_get phase <"$T/term.out")" = cancelled ] || fail "SIGTERM: $(cat "$T/term.out")"
[ "$(device_state a sim1)" = running ] || fail "source device is $(device_state a sim1)"
dest_released sim1
pass "SIGTERM: the driver cancels the migration, exit 4"

# Destinations nobody answers at: a closed port (1, tcpmux: privileged, and
# nothing here listens on it), and an address nothing can route to. Either is refused with exit 1, as a connection failure, and the
# source daemon takes any number of them (c keeps a history of one, so each
# failed migration is soon pruned).
sched sim1 "127.0.0.1:1"
[ $rc -eq 1 ] || fail "closed destination port: exit $rc: $err"
dest_released sim1
closed=$out
DEVICES=$(dev sim1 16M 1M 9)
EXTRA_DAEMON="history = 1" write_config c host-c
start_daemon c
for try in 1 2 3; do
	out=$(timeout 50 sh "$SCHED" --migctl "$MIGCTL" --src-socket "$T/c.sock" --dst-socket "$T/b.sock" \
		sim1 255.255.255.255:9 2>"$T/sched.err")
	rc=$?
	kill -0 "$PID_c" 2>/dev/null || fail "source daemon died after $try migrations to an unroutable address"
	[ $rc -eq 1 ] || fail "unroutable destination, try $try: exit $rc: $(cat "$T/sched.err")"
	dest_released sim1
done
ctl c health >/dev/null || fail "source daemon does not answer"
pass "closed port and unroutable address (three times): exit 1; the source daemon carries on"
[ "$(echo "$closed" | json_get code)" = connect-failed ] || fail "closed destination port: $closed"
[ "$(echo "$out" | json_get code)" = connect-failed ] || fail "unroutable destination: $out"
pass "both fail with connect-failed"
