#!/bin/bash
# A restart recovers a migration of several devices as a whole (SPEC §9):
# - the source killed in pre-copy: after its restart all three devices run
#   (rolled back), the migration is listed once, failed daemon-restart,
#   with its three devices in order;
# - the destination killed after END, while its devices load: after its
#   restart all three are reset (no COMMIT had left), and the source, which
#   lost its connection before any COMMIT, rolled all three back.
. "$(dirname "$0")/lib.sh"

devices() { # $1 dirty rate, $2 extra line
	for d in gpu0 gpu1 nic0; do
		printf '[device %s]\nbackend = sim-v2\nsize = 8M\ndirty_rate = %s\nimage = @DIR@/%s.img\nseed = %s\n%s\n\n' \
			"$d" "$1" "$d" "$RANDOM" "${2:-}"
	done
}
certs
DEVICES=$(devices 1M) write_config a host-a
DEVICES=$(devices 0) write_config b host-b
start_daemon a
start_daemon b

group() { # [JSON fields]: sets mid, did
	out=$(api b POST /v1/incoming -d '{"devices":["gpu0","gpu1","nic0"]}')
	token=$(echo "$out" | jq -r .token)
	did=$(echo "$out" | jq -r .migration_id)
	out=$(api a POST /v1/migrations -d "{\"devices\":[\"gpu0\",\"gpu1\",\"nic0\"],\"destination\":\"127.0.0.1:$PB\",\"token\":\"$token\"${1:+,$1}}")
	mid=$(echo "$out" | jq -r .id)
	[ -n "$mid" ] && [ "$mid" != null ] || fail "migrate: $out"
}

# 1. The source dies in pre-copy.
group '"max_bandwidth":2097152'
wait_phase a "$mid" precopy
kill -9 "$PID_a"
wait "$PID_a" 2>/dev/null
start_daemon a
m=$(api a GET "/v1/migrations/$mid")
[ "$(echo "$m" | jq -r .error.code)" = daemon-restart ] || fail "after the restart: $m"
[ "$(api a GET /v1/migrations | jq '.migrations | length')" = 1 ] ||
	fail "the devices of the migration are listed apart: $(api a GET /v1/migrations)"
# Its devices, read back from the journal, in their order, each failed.
[ "$(echo "$m" | jq -c '[.device_count, [.devices[].device], [.devices[].error.code | values]]')" = \
	'[3,["gpu0","gpu1","nic0"],["daemon-restart","daemon-restart","daemon-restart"]]' ] ||
	fail "the restored migration does not list its devices: $m"
for d in gpu0 gpu1 nic0; do
	[ "$(device_state a $d)" = running ] || fail "source $d is $(device_state a $d) after the restart"
	grep -q "device $d: was the source of migration .* when the daemon stopped; it is running" "$T/a.log" ||
		fail "the restart did not roll $d back"
done
wait_phase b "$did" failed cancelled
pass "source killed in pre-copy: after its restart all three run, one migration listed, failed daemon-restart"

# 2. The destination dies after END, its devices loading (each state
# change there takes 1.5 s).
stop_daemon b
DEVICES=$(devices 0 'transition_delay_ms = 1500') write_config b host-b
start_daemon b
group
wait_phase b "$did" stopcopy completing
kill -9 "$PID_b"
wait "$PID_b" 2>/dev/null
wait_phase a "$mid" failed cancelled
for d in gpu0 gpu1 nic0; do
	[ "$(device_state a $d)" = running ] || fail "source $d is $(device_state a $d)"
done
start_daemon b
for d in gpu0 gpu1 nic0; do
	grep -q "device $d: was receiving migration .* when the daemon stopped; its state may be partial and it was reset" "$T/b.log" ||
		fail "the destination's restart did not reset $d"
done
[ "$(api b GET "/v1/migrations/$did" | jq -r .error.code)" = daemon-restart ] ||
	fail "destination after the restart: $(api b GET "/v1/migrations/$did")"
[ "$(api b GET "/v1/migrations/$did" | jq -c '[.devices[].device]')" = '["gpu0","gpu1","nic0"]' ] ||
	fail "the destination's restored migration does not list its devices: $(api b GET "/v1/migrations/$did")"
pass "destination killed while loading: all three reset at its restart, all three back on the source"
