#!/bin/bash
# Cancelling a migration in setup, in pre-copy and while it waits for a
# manual switchover: it ends `cancelled` on the source with the device
# running, and the destination's side ends too, its device reset and back in
# service (also while data sent by reference is still queued). A finished
# migration cannot be cancelled (409). A manual switchover through
# vfio-migctl completes with identical images.
. "$(dirname "$0")/lib.sh"

DEVICES="[device sim0]
backend = sim
size = 16M
dirty_rate = 2M
image = @DIR@/sim0.img
seed = 1

[device big]
backend = sim
size = 256M
dirty_rate = 2M
image = @DIR@/big.img
seed = 1"
start_pair

incoming() {
	out=$(ctl b --json incoming sim0) || fail "incoming: $out"
	dst_id=$(echo "$out" | json_get migration_id)
	token=$(echo "$out" | json_get token)
}
# start [migrate options]: a migration of sim0 from a to b, not waited for.
start() {
	out=$(ctl a --json migrate sim0 --to "127.0.0.1:$PB" --token "$token" "$@") || fail "migrate: $out"
	mid=$(echo "$out" | json_get id)
	[ -n "$mid" ] || fail "no migration id in $out"
}
# expect_cancelled: the source's migration $mid was cancelled and rolled back.
expect_cancelled() {
	wait_phase a "$mid" cancelled
	out=$(api a GET "/v1/migrations/$mid")
	[ "$(echo "$out" | json_get code)" = cancelled ] || fail "error code after cancel: $out"
	[ "$(device_state a sim0)" = running ] || fail "source device is $(device_state a sim0) after cancel"
	s1=$(sha "$T/a/sim0.img")
	# The workload writes within a tick; a loaded machine may take longer
	# to schedule it (or to hash 256 MiB): up to 10 s.
	i=0
	while [ "$(sha "$T/a/sim0.img")" = "$s1" ]; do
		i=$((i + 1))
		[ $i -lt 50 ] || fail "source workload does not run after cancel (image unchanged for 10 s)"
		sleep 0.2
	done
}
# expect_dest_ended: the destination's migration ended, its device reset.
expect_dest_ended() {
	wait_phase b "$dst_id" failed cancelled
	[ "$(device_state b sim0)" = running ] || fail "destination device is $(device_state b sim0)"
	api b GET /v1/devices/sim0 | grep -q '"busy":false' ||
		fail "destination device still busy: $(api b GET /v1/devices/sim0)"
}

# 1. Setup: the destination daemon is frozen, so the TLS handshake hangs.
incoming
kill -STOP "$PID_b"
start
sleep 0.5
ph=$(api a GET "/v1/migrations/$mid" | json_get phase)
[ "$ph" = setup ] || {
	kill -CONT "$PID_b"
	fail "migration should hang in setup, is $ph"
}
ctl a cancel "$mid" >/dev/null || fail "cancel in setup refused"
expect_cancelled
kill -CONT "$PID_b"
# The destination never heard of it: its side is cancelled by hand.
ctl b cancel "$dst_id" >/dev/null || fail "cancel of the destination's waiting migration refused"
wait_phase b "$dst_id" cancelled
expect_dest_ended
pass "cancel in setup: cancelled on the source and on the destination, devices running"

# 2. Pre-copy, slowed down by a bandwidth cap.
incoming
start --max-bandwidth 4M
wait_phase a "$mid" precopy
sleep 0.5
ctl a cancel "$mid" >/dev/null || fail "cancel in precopy refused"
expect_cancelled
expect_dest_ended
api b GET "/v1/migrations/$dst_id" | grep -q '"code":"cancelled"' ||
	fail "destination does not say the source cancelled: $(api b GET "/v1/migrations/$dst_id")"
pass "cancel in precopy: source cancelled and running, destination reset"

# 2b. Pre-copy with the destination frozen: the source's TLS output still
# references the device's data section (DATA is sent from it without a
# copy) when the migration ends and its connection lingers. The device runs
# at once. Then the source daemon stops with that data still queued (it must
# exit cleanly: the section outlives the migration until TLS lets it go) and
# comes back.
# (A 256 MiB device, so that pre-copy is still under way when b freezes.)
out=$(ctl b --json incoming big) || fail "incoming big: $out"
big_dst=$(echo "$out" | json_get migration_id)
out=$(ctl a --json migrate big --to "127.0.0.1:$PB" --token "$(echo "$out" | json_get token)") ||
	fail "migrate big: $out"
mid=$(echo "$out" | json_get id)
wait_phase a "$mid" precopy
kill -STOP "$PID_b"
sleep 0.3
ctl a cancel "$mid" >/dev/null || {
	kill -CONT "$PID_b"
	fail "cancel in precopy with the destination frozen refused"
}
wait_phase a "$mid" cancelled
[ "$(device_state a big)" = running ] || fail "source device is $(device_state a big) after cancel"
grep "migration $mid" "$T/a.log" | grep -q "queued bytes copied out of the device's data section" || {
	kill -CONT "$PID_b"
	fail "no data was queued by reference at the cancel: the case tests nothing"
}
stop_daemon a
kill -CONT "$PID_b"
start_daemon a
wait_phase b "$big_dst" failed cancelled
[ "$(device_state b big)" = running ] || fail "destination device is $(device_state b big)"
pass "cancel with data still queued by reference: copied out before the rollback, source running, clean exit, destination reset"

# 3. Waiting for a manual switchover.
incoming
start --switchover manual
wait_phase a "$mid" switchover-pending
ctl a cancel "$mid" >/dev/null || fail "cancel in switchover-pending refused"
expect_cancelled
expect_dest_ended
pass "cancel in switchover-pending: source cancelled and running, destination reset"

# 4. Manual switchover: it waits for the call, then completes.
incoming
start --switchover manual
wait_phase a "$mid" switchover-pending
sleep 1
ph=$(api a GET "/v1/migrations/$mid" | json_get phase)
[ "$ph" = switchover-pending ] || fail "manual migration did not wait for the call: $ph"
[ "$(device_state a sim0)" = pre-copy ] ||
	fail "source device is $(device_state a sim0) before the switchover call, not pre-copy (running)"
ctl a switchover "$mid" >/dev/null || fail "switchover refused"
wait_phase a "$mid" completed
wait_phase b "$dst_id" completed
[ "$(device_state a sim0)" = stopped ] || fail "source device is $(device_state a sim0)"
[ "$(device_state b sim0)" = running ] || fail "destination device is $(device_state b sim0)"
[ "$(sha "$T/a/sim0.img")" = "$(sha "$T/b/sim0.img")" ] || fail "images differ after manual switchover"
pass "manual switchover through vfio-migctl completed, images byte-identical"

# 5. Too late to cancel: 409 from the API, exit 1 from the CLI.
code=$(curl -s -o "$T/resp" -w '%{http_code}' --unix-socket "$T/a.sock" -X POST \
	"http://localhost/v1/migrations/$mid/cancel")
[ "$code" = 409 ] || fail "cancel of a completed migration: HTTP $code $(cat "$T/resp")"
[ "$(json_get code <"$T/resp")" = wrong-state ] || fail "cancel of a completed migration: $(cat "$T/resp")"
ctl a cancel "$mid" >/dev/null 2>&1
rc=$?
[ $rc -eq 1 ] || fail "vfio-migctl cancel of a completed migration exited $rc"
[ "$(api a GET "/v1/migrations/$mid" | json_get phase)" = completed ] || fail "completed migration changed"
code=$(curl -s -o "$T/resp" -w '%{http_code}' --unix-socket "$T/a.sock" -X POST \
	"http://localhost/v1/migrations/$mid/switchover")
[ "$code" = 409 ] || fail "switchover of a completed migration: HTTP $code $(cat "$T/resp")"
code=$(curl -s -o "$T/resp" -w '%{http_code}' --unix-socket "$T/a.sock" -X POST \
	"http://localhost/v1/migrations/00000000-0000-0000-0000-000000000000/cancel")
[ "$code" = 404 ] || fail "cancel of an unknown migration: HTTP $code $(cat "$T/resp")"
pass "cancel or switchover of a completed migration: 409 wrong-state; unknown id: 404"
