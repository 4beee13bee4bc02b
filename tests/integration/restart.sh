#!/bin/bash
# A daemon killed (-9) in the middle of a migration and started again
# reports the interrupted migration from its journal as failed with
# daemon-restart, and leaves its device in a safe state: the source device
# running, the destination device reset. Finished migrations are history.
. "$(dirname "$0")/lib.sh"

DEVICES="[device sim0]
backend = sim
size = 64M
dirty_rate = 1M
image = @DIR@/sim0.img
seed = 1"
EXTRA_MIGRATION_A="max_bandwidth = 8M"
start_pair

# A completed migration first, so there is history to keep (small: a
# second device would do, but the same one back and forth is enough).
token=$(ctl b --json incoming sim0 | json_get token)
id=$(ctl a --json migrate sim0 --to "127.0.0.1:$PB" --token "$token" | json_get id)
bid=$(api b GET /v1/migrations | json_get id)
wait_phase a "$id" precopy
sleep 1

# Kill the source hard, mid-transfer.
kill -9 "$PID_a"
wait "$PID_a" 2>/dev/null
start_daemon a
out=$(api a GET "/v1/migrations/$id")
[ "$(echo "$out" | json_get phase)" = failed ] || fail "source after restart: $out"
[ "$(echo "$out" | json_get code)" = daemon-restart ] || fail "source reason: $out"
[ "$(device_state a sim0)" = running ] || fail "source device is $(device_state a sim0)"
grep -q "daemon stopped during phase precopy" "$T/a.log" || fail "no restart log line"
pass "source killed mid-transfer: migration failed (daemon-restart), device running"

# The destination noticed the loss and reset its device by itself.
wait_phase b "$bid" failed
[ "$(device_state b sim0)" = running ] || fail "destination device is $(device_state b sim0)"
pass "destination saw the connection go and reset its device"

# Now kill the destination mid-transfer and restart it.
token=$(ctl b --json incoming sim0 | json_get token)
id=$(ctl a --json migrate sim0 --to "127.0.0.1:$PB" --token "$token" | json_get id)
wait_phase a "$id" precopy
bid=$(api b GET /v1/migrations | sed 's/},{/}\n{/g' | grep '"phase":"precopy"' | json_get id)
[ -n "$bid" ] || fail "no running destination migration"
sleep 1
kill -9 "$PID_b"
wait "$PID_b" 2>/dev/null
start_daemon b
out=$(api b GET "/v1/migrations/$bid")
[ "$(echo "$out" | json_get code)" = daemon-restart ] || fail "destination after restart: $out"
grep -q "may be partial and it was reset" "$T/b.log" || fail "destination did not reset its device"
[ "$(device_state b sim0)" = running ] || fail "destination device is $(device_state b sim0)"
wait_phase a "$id" failed
[ "$(device_state a sim0)" = running ] || fail "source device not running"
pass "destination killed mid-transfer: reported daemon-restart after restart, device reset"

# The journal keeps history across a clean restart too.
stop_daemon a
start_daemon a
n=$(api a GET /v1/migrations | grep -o '"id"' | wc -l)
[ "$n" -ge 2 ] || fail "history lost across restart ($n migrations)"
pass "history kept across restarts ($n migrations)"

# Killed during its switchover: from the moment the switchover begins, the
# source's journal says END may be sent (made durable before the device
# stops, so that no fsync sits in the downtime). A restart then does not
# roll the device back but says to check the destination first. The hook
# holds the switchover open while the daemon is killed.
cat >"$T/hook" <<HOOK
#!/bin/sh
cat >/dev/null
if [ "\$1" = switchover ] && [ "\$2" = source ]; then
	# The record must be there before the switchover goes on.
	grep -l '"end_may_be_sent":true' "${STATE_BASE:-$T}/a/migrations/\$3.json" >"$T/in-switchover" 2>&1 ||
		echo "no end_may_be_sent when the hook ran" >"$T/in-switchover"
	sleep 20
fi
exit 0
HOOK
chmod +x "$T/hook"
stop_daemon a
EXTRA_DAEMON="hook = $T/hook" write_config a host-a
start_daemon a
token=$(ctl b --json incoming sim0 | json_get token)
id=$(ctl a --json migrate sim0 --to "127.0.0.1:$PB" --token "$token" | json_get id)
i=0
while [ ! -e "$T/in-switchover" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -e "$T/in-switchover" ] || fail "the switchover hook never ran"
sleep 0.2
grep -q "migrations/$id.json" "$T/in-switchover" ||
	fail "the journal did not say END may be sent before the switchover hook ran: $(cat "$T/in-switchover")"
kill -9 "$PID_a"
wait "$PID_a" 2>/dev/null
pkill -f "$T/hook" 2>/dev/null
start_daemon a
out=$(api a GET "/v1/migrations/$id")
[ "$(echo "$out" | json_get code)" = daemon-restart ] || fail "source after restart: $out"
grep -q "had begun its switchover (END may have been sent)" "$T/a.log" ||
	fail "restart did not treat the switchover as possibly sent"
grep "migration $id" "$T/a.log" | grep -q "rolled back\|it is running" &&
	fail "restart rolled back a device whose END may have been sent"
pass "source killed in its switchover: not rolled back, told to check the destination"
