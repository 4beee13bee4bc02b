#!/bin/bash
# All or nothing (SPEC §9): a migration of three devices that fails, for
# any reason, leaves all three running on the source and resets all three
# on the destination: a hook veto, a cancel in pre-copy and in
# switchover-pending, one destination device refusing its load, a killed
# destination. A device without P2P states is refused in the set.
. "$(dirname "$0")/lib.sh"

devices() { # $1: dirty rate, $2: extra line for nic0
	for d in gpu0 gpu1 nic0; do
		printf '[device %s]\nbackend = sim-v2\nsize = 8M\ndirty_rate = %s\nimage = @DIR@/%s.img\nseed = %s\n' \
			"$d" "$1" "$d" "$RANDOM"
		[ "$d" != nic0 ] || printf '%s\n' "${2:-}"
		printf '\n'
	done
	printf '[device old0]\nbackend = sim\nsize = 8M\nimage = @DIR@/old0.img\n\n'
	# Migrated away with old0 (and stopped here since): no other case uses it.
	printf '[device spare0]\nbackend = sim-v2\nsize = 8M\nimage = @DIR@/spare0.img\n\n'
}
certs
cat >"$T/hook" <<HOOK
#!/bin/sh
echo "\$1 \$2 \$4" >>"$T/hook-all.log"
[ "\$(cat "$T/hook-mode" 2>/dev/null):\$1:\$2" != veto:switchover:source ] || exit 1
exit 0
HOOK
chmod +x "$T/hook"
DEVICES=$(devices 1M) EXTRA_DAEMON="hook = $T/hook" write_config a host-a
DEVICES=$(devices 0) write_config b host-b
start_daemon a
start_daemon b

# group [JSON fields]: incoming for the three on b, migrate them from a;
# sets mid (source) and did (destination).
group() {
	out=$(api b POST /v1/incoming -d '{"devices":["gpu0","gpu1","nic0"]}')
	token=$(echo "$out" | jq -r .token)
	did=$(echo "$out" | jq -r .migration_id)
	[ -n "$token" ] && [ "$token" != null ] || fail "incoming: $out"
	out=$(api a POST /v1/migrations -d "{\"devices\":[\"gpu0\",\"gpu1\",\"nic0\"],\"destination\":\"127.0.0.1:$PB\",\"token\":\"$token\"${1:+,$1}}")
	mid=$(echo "$out" | jq -r .id)
	[ -n "$mid" ] && [ "$mid" != null ] || fail "migrate: $out"
}

# all_back CASE CODE: the source migration ended with CODE, every source
# device runs and is free; the destination migration ended and (unless it
# is dead) every destination device runs again, free.
all_back() {
	wait_phase a "$mid" failed cancelled
	m=$(api a GET "/v1/migrations/$mid")
	code=$(echo "$m" | jq -r .error.code)
	[ "$code" = "$2" ] || fail "$1: source error $code, wanted $2: $(echo "$m" | jq -c .error)"
	for d in gpu0 gpu1 nic0; do
		[ "$(device_state a $d)" = running ] || fail "$1: source $d is $(device_state a $d)"
		[ "$(api a GET /v1/devices/$d | jq -r .migration)" = null ] || fail "$1: source $d still busy"
		ph=$(echo "$m" | jq -r ".devices[] | select(.device == \"$d\") | .phase")
		case $ph in failed | cancelled) ;; *) fail "$1: source $d ended $ph" ;; esac
	done
	[ "${3:-}" = dead ] && return 0
	wait_phase b "$did" failed cancelled
	for d in gpu0 gpu1 nic0; do
		[ "$(device_state b $d)" = running ] || fail "$1: destination $d is $(device_state b $d)"
		[ "$(api b GET /v1/devices/$d | jq -r .migration)" = null ] || fail "$1: destination $d still busy"
	done
}

# A device without P2P states is refused, on either side.
out=$(api a POST /v1/migrations -d '{"devices":["gpu0","old0"],"destination":"127.0.0.1:1","token":"ab"}' -w ' %{http_code}')
echo "$out"
case $out in *'"code":"no-p2p"'*'"message":"device old0 '*' 409') ;; *) fail "no-p2p on the source: $out" ;; esac
out=$(api b POST /v1/incoming -d '{"devices":["gpu0","old0"]}' -w ' %{http_code}')
case $out in *'"code":"no-p2p"'*' 409') ;; *) fail "no-p2p on the destination: $out" ;; esac
out=$(api a POST /v1/migrations -d '{"devices":["gpu0","gpu0"],"destination":"127.0.0.1:1","token":"ab"}' -w ' %{http_code}')
case $out in *'"code":"bad-request"'*' 400') ;; *) fail "a device named twice: $out" ;; esac
out=$(api a POST /v1/migrations -d '{"devices":["gpu0","gpu1"],"dest_devices":["gpu0"],"destination":"127.0.0.1:1","token":"ab"}' -w ' %{http_code}')
case $out in *'"code":"bad-request"'*' 400') ;; *) fail "dest_devices of another length: $out" ;; esac
[ "$(api a GET /v1/migrations | jq '.migrations | length')" = 0 ] || fail "a refused migration was created"
pass "a device without P2P, a device named twice, an unpaired dest_devices: refused, nothing started"

echo veto >"$T/hook-mode"
group
all_back veto hook-veto
[ "$(grep -c "^switchover source" "$T/hook-all.log")" = 1 ] || fail "the switchover hook did not run exactly once"
pass "hook veto: all three running on the source, all three reset on the destination"
rm "$T/hook-mode"

# Pre-copy that cannot converge (1 MB/s for three devices dirtied at
# 1 MB/s each) within its timeout: the migration's, not a device's.
group '"max_bandwidth":1048576,"precopy_timeout_s":2'
all_back "not converged" not-converged
echo "$m" | jq -r .error.message | grep -q "precopy_timeout_s=2" || fail "not-converged: $(echo "$m" | jq -c .error)"
pass "pre-copy over its timeout: not-converged, all three back"

# Pre-copy that lasts: a 3 MB/s cap for 24 MB of devices.
group '"max_bandwidth":3145728'
wait_phase a "$mid" precopy
ctl a cancel "$mid" >/dev/null || fail "cancel in precopy refused"
all_back "cancel in precopy" cancelled
pass "cancel in pre-copy: all three back"

# Cancelled on the destination, in pre-copy.
group '"max_bandwidth":3145728'
wait_phase b "$did" precopy
ctl b cancel "$did" >/dev/null || fail "cancel on the destination refused"
all_back "cancel on the destination" cancelled
pass "cancel on the destination in pre-copy: all three back on both sides"

# Cancelled as soon as it is created.
group
ctl a cancel "$mid" >/dev/null || fail "cancel right after the start refused"
all_back "cancel at the start" cancelled
pass "cancel right after the start: all three back"

group '"switchover":"manual"'
wait_phase a "$mid" switchover-pending
# A cancel through one device's own id acts on the whole migration.
child=$(api a GET "/v1/migrations/$mid" | jq -r '.devices[1].id')
ctl a cancel "$child" >/dev/null || fail "cancel through a device's id refused"
all_back "cancel in switchover-pending" cancelled
pass "cancel in switchover-pending (through a device's id): all three back"

# Allowed explicitly, a device without P2P goes with the others (stopped
# without being quiesced first, as the log says).
out=$(api b POST /v1/incoming -d '{"devices":["spare0","old0"],"unsafe_no_p2p":true}')
token=$(echo "$out" | jq -r .token)
out=$(api a POST /v1/migrations -d "{\"devices\":[\"spare0\",\"old0\"],\"destination\":\"127.0.0.1:$PB\",\"token\":\"$token\",\"unsafe_no_p2p\":true}")
mid=$(echo "$out" | jq -r .id)
wait_phase a "$mid" completed failed cancelled
[ "$(api a GET "/v1/migrations/$mid" | jq -r .phase)" = completed ] || fail "unsafe_no_p2p: $(api a GET "/v1/migrations/$mid" | jq -c .error)"
grep -q "device old0 has no P2P state: it is stopped with the others without being quiesced" "$T/a.log" ||
	fail "the source did not say old0 was not quiesced"
[ "$(sha "$T/a/old0.img")" = "$(sha "$T/b/old0.img")" ] || fail "old0 differs after the migration"
pass "unsafe_no_p2p: a device without P2P migrates with another, said in the log"

# One destination device refuses its load: nothing runs on the destination
# before every device is loaded, so all three go back.
stop_daemon b
DEVICES=$(devices 0 'fail_load = 1') write_config b host-b
start_daemon b
from=$(($(wc -l <"$T/b.log") + 1))
group
all_back "nic0 fails its load" device-state
m=$(api a GET "/v1/migrations/$mid")
echo "$m" | jq -r .error.message | grep -q nic0 || fail "the error does not name nic0: $(echo "$m" | jq -c .error)"
tail -n +"$from" "$T/b.log" | grep -q "state stopped -> running-p2p" &&
	fail "a device was started on the destination"
pass "nic0 refused its load: the error names it, all three back on the source, none started on the destination"

# Cancelled in stop-copy: the source's nic0 takes 3 s for each state
# change, so the migration is in stopcopy (gpu0 and gpu1 stopped) for 3 s
# while nic0 stops; and every destination device loads again.
stop_daemon a
stop_daemon b
DEVICES=$(devices 1M 'transition_delay_ms = 3000') EXTRA_DAEMON="hook = $T/hook" write_config a host-a
DEVICES=$(devices 0) write_config b host-b
start_daemon a
start_daemon b
group
wait_phase a "$mid" stopcopy
ctl a cancel "$mid" >/dev/null || fail "cancel in stopcopy refused"
all_back "cancel in stopcopy" cancelled
pass "cancel in stop-copy: all three back"

# The destination dies in pre-copy.
group '"max_bandwidth":3145728'
wait_phase a "$mid" precopy
kill -9 "$PID_b"
wait "$PID_b" 2>/dev/null
all_back "killed destination" connection-lost dead
pass "killed destination: all three running on the source"
