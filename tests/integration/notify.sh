#!/bin/bash
# sd_notify: with NOTIFY_SOCKET set (as systemd does for Type=notify) the
# daemon sends READY=1 once it serves, and STOPPING=1 on SIGTERM.
. "$(dirname "$0")/lib.sh"
command -v socat >/dev/null || { echo "no socat: skipped"; exit 77; }

certs
DEVICES="[device sim0]
backend = sim
size = 1M
image = @DIR@/sim0.img"
write_config a host-a
socat -u "UNIX-RECVFROM:$T/notify.sock,fork" "OPEN:$T/notify.log,creat,append" &
PIDS="$PIDS $!"
i=0
while [ ! -S "$T/notify.sock" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
NOTIFY_SOCKET="$T/notify.sock" start_daemon a
i=0
while ! grep -q READY=1 "$T/notify.log" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
grep -q READY=1 "$T/notify.log" || fail "no READY=1"
grep -q "STATUS=ready, 1 devices" "$T/notify.log" || fail "no STATUS line: $(cat "$T/notify.log")"
pass "READY=1 and STATUS sent"
kill -HUP "$PID_a"
sleep 0.3
grep -q "STATUS=reloaded" "$T/notify.log" || fail "no STATUS after SIGHUP"
pass "STATUS after reload"
stop_daemon a
sleep 0.2
grep -q STOPPING=1 "$T/notify.log" || fail "no STOPPING=1"
pass "STOPPING=1 on SIGTERM"
