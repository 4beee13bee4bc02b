#!/bin/bash
# A vfio-user device server that dies or answers wrongly in the middle of a
# migration (issue 18): killed in each phase, and each hostile reply of
# tests/vfio-user-server --fault, on the source's server and on the
# destination's. Each fails the migration with the named error on the side
# whose server misbehaved (vfio-user-hung-up, vfio-user-protocol,
# vfio-user-timeout, or the device's own refusal), the other side fails too,
# the source device is rolled back wherever its server still answers, no
# daemon crashes or hangs, and both go on serving: a second device on the
# same daemons migrates byte-identical afterwards, and so does the same
# device where its connection survived (an error reply), or, where it was
# given up, once its server is back (the daemon connects again). A server
# that exits while its device is idle: the next migration fails
# vfio-user-hung-up while it is away, and completes once it is back.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-vfio-user.sh"

certs
# vu0: the server under test, started anew for each case; vu1: a healthy
# one that migrates after each case.
devices() {
	printf '[device vu0]\nbackend = vfio-user\npath = %s\nvfio_user_timeout_ms = 2000\n\n' "$T/$1-0.vu"
	printf '[device vu1]\nbackend = vfio-user\npath = %s\n' "$T/$1-1.vu"
}
DEVICES=$(devices a) write_config a host-a
DEVICES=$(devices b) write_config b host-b

# one_case SIDE FAULT CODE [again]: the server of vu0 on SIDE (a: source,
# b: destination) runs with --fault FAULT; the migration must fail with
# CODE on that side. "again": then that server is started anew, without
# the fault, and vu0 migrates over a new connection.
one_case() {
	side=$1 fault=$2 code=$3 again=${4:-}
	fa="" fb=""
	if [ "$side" = a ]; then fa="--fault $fault"; else fb="--fault $fault"; fi
	# shellcheck disable=SC2086 # word-split on purpose
	vu_start a-0 --size 8M --workload 2M --initial 2M --dump-on-stop "$T/vu0-stop.dump" $fa
	# shellcheck disable=SC2086
	vu_start b-0 --size 8M --seed 2 --dump-on-resume "$T/vu0-resume.dump" $fb
	: >"$T/a.log"
	: >"$T/b.log"
	start_daemon a
	start_daemon b
	out=$(ctl b --json incoming vu0) || fail "$fault: incoming: $out"
	token=$(echo "$out" | json_get token)
	dst_id=$(echo "$out" | json_get migration_id)
	id=$(ctl a --json migrate vu0 --to "127.0.0.1:$PB" --token "$token" | json_get id)
	[ -n "$id" ] || fail "$fault: migration did not start"
	wait_phase a "$id" failed completed cancelled
	src=$(api a GET "/v1/migrations/$id")
	wait_phase b "$dst_id" failed completed cancelled
	dst=$(api b GET "/v1/migrations/$dst_id")
	got_a=$(echo "$src" | jq -r '.error.code // "none"')
	got_b=$(echo "$dst" | jq -r '.error.code // "none"')
	say "$fault on $side: source $(echo "$src" | jq -r .phase) $got_a, destination $(echo "$dst" | jq -r .phase) $got_b"
	[ "$(echo "$src" | jq -r .phase)" = failed ] || fail "$fault on $side: source $src"
	[ "$(echo "$dst" | jq -r .phase)" = failed ] || fail "$fault on $side: destination $dst"
	eval "got=\$got_$side"
	[ "$got" = "$code" ] || fail "$fault on $side: $got, expected $code"
	# The source device is rolled back wherever its server still answers:
	# always when the destination's server failed.
	if [ "$side" = b ] || [ "${code#device-}" != "$code" ]; then
		[ "$(device_state a vu0)" = running ] ||
			fail "$fault on $side: source vu0 is $(device_state a vu0), not rolled back"
	fi
	# Where the connection survived (an error reply), the same device
	# migrates again: the fault fired once.
	if [ "${code#device-}" != "$code" ]; then
		final=$(migrate_device vu0)
		[ "$(echo "$final" | json_get phase)" = completed ] || fail "$fault: vu0 again: $final"
		cmp "$T/vu0-stop.dump" "$T/vu0-resume.dump" || fail "$fault: vu0 again: not identical"
	fi
	if [ "$again" = again ]; then
		vu_stop "$side-0"
		rm -f "$T"/vu0-stop.dump "$T"/vu0-resume.dump
		if [ "$side" = a ]; then
			vu_start a-0 --size 8M --workload 2M --initial 2M --dump-on-stop "$T/vu0-stop.dump"
		else
			vu_start b-0 --size 8M --seed 2 --dump-on-resume "$T/vu0-resume.dump"
		fi
		final=$(migrate_device vu0)
		[ "$(echo "$final" | json_get phase)" = completed ] ||
			fail "$fault: vu0 with its server back: $final"
		cmp "$T/vu0-stop.dump" "$T/vu0-resume.dump" ||
			fail "$fault: vu0 with its server back: not identical"
		grep -q "device vu0: its vfio-user connection was given up .*; connecting to .* again" \
			"$T/$side.log" || fail "$fault: no new connection logged on $side"
		say "$fault on $side: vu0 connected again and migrated"
	fi
	# Both daemons go on serving: the healthy device migrates.
	final=$(migrate_device vu1)
	[ "$(echo "$final" | json_get phase)" = completed ] || fail "$fault: vu1 afterwards: $final"
	cmp "$T/vu1-stop.dump" "$T/vu1-resume.dump" || fail "$fault: vu1 not byte-identical"
	stop_daemon a
	stop_daemon b
	vu_stop a-0
	vu_stop b-0
	vu_stop a-1
	vu_stop b-1
	rm -f "$T"/vu[01]-stop.dump "$T"/vu[01]-resume.dump
	pass "$fault on the $([ "$side" = a ] && echo source || echo destination)'s server: $code, both daemons serve on"
}

healthy() {
	vu_start a-1 --size 4M --workload 1M --dump-on-stop "$T/vu1-stop.dump"
	vu_start b-1 --size 4M --seed 2 --dump-on-resume "$T/vu1-resume.dump"
}

# SIDE FAULT CODE [again], one case a line; CASES=... runs only those.
ALL_CASES="a kill@pre-copy vfio-user-hung-up again
a kill@stop-copy vfio-user-hung-up
a kill@to-stop-copy vfio-user-hung-up
b kill@resuming vfio-user-hung-up again
b kill@to-stop vfio-user-hung-up
a bad-msg-id vfio-user-protocol
a bad-command vfio-user-protocol
a short-reply vfio-user-protocol
a oversized-reply vfio-user-protocol
a huge-reply vfio-user-protocol
a hang-up vfio-user-hung-up
a stall vfio-user-timeout again
a error-reply device-error
a error-reply@to-pre-copy device-state
a corrupt@stop-copy device-error
b bad-msg-id vfio-user-protocol again
b short-reply vfio-user-hung-up
b short-reply@to-resuming vfio-user-protocol
b stall vfio-user-timeout
b oversized-reply vfio-user-protocol
b error-reply device-error"
while read -r side fault code again; do
	healthy
	one_case "$side" "$fault" "$code" "$again" </dev/null
done <<<"${CASES:-$ALL_CASES}"

# A server that exits while its device is idle: the next migration notices,
# cannot connect again and fails vfio-user-hung-up (the server is not
# there), and the one after it, with the server back, completes.
healthy
vu_start a-0 --size 8M
vu_start b-0 --size 8M --seed 2
: >"$T/a.log"
start_daemon a
start_daemon b
vu_stop a-1
final=$(migrate_device vu1)
[ "$(echo "$final" | json_get phase)" = failed ] || fail "vu1 without its server: $final"
[ "$(echo "$final" | jq -r .error.code)" = vfio-user-hung-up ] ||
	fail "vu1 without its server: $(echo "$final" | jq -c .error)"
vu_start a-1 --size 4M --workload 1M --dump-on-stop "$T/vu1-stop.dump"
final=$(migrate_device vu1)
[ "$(echo "$final" | json_get phase)" = completed ] || fail "vu1 with its server back: $final"
cmp "$T/vu1-stop.dump" "$T/vu1-resume.dump" || fail "vu1 with its server back: not identical"
grep -q "device vu1: vfio-user hung up: the server closed the connection between calls" \
	"$T/a.log" || fail "the idle server's exit was not noticed: $(grep vu1 "$T/a.log")"
grep -q "device vu1: its vfio-user connection was given up (hung up); connecting to .* again" \
	"$T/a.log" || fail "no new connection logged"
pass "a server that exited while idle: vfio-user-hung-up while it was away, connected again once back"
exit 0
