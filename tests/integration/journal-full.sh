#!/bin/bash
# A migration the daemon cannot journal does not start (issue 17, item 11).
#
# state_dir on a 64 KiB tmpfs, filled up: `incoming` and a source's
# `POST /v1/migrations` are refused with journal-unavailable (507), and
# /v1/health ("degraded", with why) and /metrics (journal_writable 0) say
# so; once there is room again, both work. Then a disk that fails under
# the write itself (every fsync fails with ENOSPC while a switch file
# exists, tests/preload/slow_fsync.so): the request is accepted, the
# record's durable write fails, and the migration ends journal-unavailable
# before anything touched the device.
. "$(dirname "$0")/lib.sh"

MNT="$T/state"
mkdir -p "$MNT"
mount -t tmpfs -o size=64k tmpfs "$MNT" ||
	fail "cannot mount a tmpfs (the integration tests run as root)"
# Whatever happens, the tmpfs goes before lib.sh's cleanup removes $T.
trap 'st=$?; umount -l "$MNT" 2>/dev/null; (exit $st); cleanup' EXIT INT TERM
export STATE_BASE="$MNT"

certs
DEVICES="[device sim0]
backend = sim
size = 1M
image = @DIR@/sim0.img
seed = 1"
DAEMON_ENV="LD_PRELOAD=$BUILD/tests/preload/slow_fsync.so FAIL_FSYNC_FILE=$T/fail-fsync"
DAEMON_ENV="$DAEMON_ENV ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
write_config a host-a
start_daemon a

metric() { api a GET /metrics | awk -v n="$1" '$1 == n { print $2 }'; }

# --- full ------------------------------------------------------------------
dd if=/dev/zero of="$MNT/filler" bs=4k 2>/dev/null
out=$(api a POST /v1/devices/sim0/incoming)
echo "$out" | grep -q '"code":"journal-unavailable"' || fail "incoming on a full state_dir: $out"
echo "$out" | grep -q "bytes free" || fail "the refusal does not say why: $out"
status=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$T/a.sock" -X POST \
	http://localhost/v1/devices/sim0/incoming)
[ "$status" = 507 ] || fail "HTTP status $status, wanted 507"
out=$(api a POST /v1/migrations -d '{"device":"sim0","destination":"127.0.0.1:9","token":"0123456789abcdef"}')
echo "$out" | grep -q '"code":"journal-unavailable"' || fail "migrate on a full state_dir: $out"
health=$(api a GET /v1/health)
[ "$(echo "$health" | json_get status)" = degraded ] || fail "health: $health"
echo "$health" | grep -q '"journal":"state_dir .* bytes free' || fail "health does not say why: $health"
[ "$(metric vfio_migd_journal_writable)" = 0 ] || fail "journal_writable $(metric vfio_migd_journal_writable)"
[ "$(api a GET /v1/migrations | grep -c '"id"')" = 0 ] || fail "a refused migration was created"
[ "$(device_state a sim0)" = running ] || fail "device is $(device_state a sim0)"
pass "full state_dir: incoming and migrate refused (507 journal-unavailable), health degraded, metric 0"

rm -f "$MNT/filler"
out=$(api a POST /v1/devices/sim0/incoming)
id=$(echo "$out" | json_get migration_id)
[ -n "$id" ] || fail "incoming with room again: $out"
[ "$(api a GET /v1/health | json_get status)" = ok ] || fail "health: $(api a GET /v1/health)"
[ "$(metric vfio_migd_journal_writable)" = 1 ] || fail "journal_writable $(metric vfio_migd_journal_writable)"
api a POST "/v1/migrations/$id/cancel" >/dev/null
wait_phase a "$id" cancelled
pass "room again: incoming accepted, health ok, metric 1"

# --- a disk that fails under the write ---------------------------------------
failures=$(metric vfio_migd_journal_write_failures_total)
touch "$T/fail-fsync"
saves=$(grep -c "device sim0: state running -> pre-copy" "$T/a.log")
out=$(api a POST /v1/devices/sim0/incoming)
did=$(echo "$out" | json_get migration_id)
[ -n "$did" ] || fail "incoming: $out"
wait_phase a "$did" failed
out=$(api a GET "/v1/migrations/$did")
[ "$(echo "$out" | json_get code)" = journal-unavailable ] || fail "destination: $out"
# The source's destination: a peer that takes the connection and then says
# nothing, so that only the journal can end this migration.
"$BUILD/tests/peer_tool" --listen 0 --cert "$T/certs/host-b-cert.pem" --key "$T/certs/host-b-key.pem" \
	--ca "$T/certs/ca-cert.pem" --action silent --timeout-ms 30000 >"$T/pt.out" 2>"$T/pt.log" &
PIDS="$PIDS $!"
PF=$(wait_listening "$T/pt.log" peer_tool) || fail "no peer_tool"
out=$(api a POST /v1/migrations -d "{\"device\":\"sim0\",\"destination\":\"127.0.0.1:$PF\",\"token\":\"0123456789abcdef\"}")
sid=$(echo "$out" | json_get id)
[ -n "$sid" ] || fail "migrate: $out"
wait_phase a "$sid" failed
out=$(api a GET "/v1/migrations/$sid")
[ "$(echo "$out" | json_get code)" = journal-unavailable ] || fail "source: $out"
[ "$(grep -c "device sim0: state running -> pre-copy" "$T/a.log")" = "$saves" ] ||
	fail "the device was asked to save"
[ "$(device_state a sim0)" = running ] || fail "device is $(device_state a sim0)"
[ "$(metric vfio_migd_journal_write_failures_total)" -gt "$failures" ] || fail "write failures not counted"
rm -f "$T/fail-fsync"
pass "a failing write: both migrations ended journal-unavailable before the device was touched, failures counted"
