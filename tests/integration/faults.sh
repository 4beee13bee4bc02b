#!/bin/bash
# Faults at every phase of a migration (issue #7, SPEC §7 "Nothing lost").
#
# A source daemon (a) migrates a software device to a destination daemon (b)
# through tests/faultproxy. At each phase — setup (TLS and HELLO), pre-copy,
# switchover (switchover-pending), stop-copy, END (sent by the source, not
# yet verified by the destination) and waiting for COMMIT (sent by the
# destination, not yet received by the source) — the test
#
#   cut    resets the connection (RST both ways, bytes in flight lost);
#   kill   kills the destination daemon with SIGKILL, then restarts it;
#   stall  freezes the network: no byte moves, nothing is closed;
#   error  has a scripted peer (tests/peer_tool) send an ERROR frame: as the
#          destination for the source's phases, as the source for the
#          destination's (mid-stream, and instead of ACK).
#
# Every case checks: the source device ends running unless the source got
# COMMIT; the destination device is reset unless it had resumed; both
# daemons keep serving; the migration ends failed with a code and a message
# saying what happened; a stall is noticed within peer_timeout_ms (plus
# slack, and not before); a retry then succeeds with byte-identical images.
#
# How a phase is held long enough to hit it: manual switchover (the source
# waits in switchover-pending for the API), a bandwidth cap (pre-copy and
# stop-copy of a 2 MiB device last seconds), and for END and COMMIT a delay
# in one direction of the proxy: once the source has sent END, the
# destination gets it DELAY ms later (delay down); once the destination has
# sent COMMIT, the source gets it DELAY ms later (delay up). The delay is
# set before the switchover is asked for: the script lands its fault within
# DELAY ms of the frame leaving (5 s, generous even on a machine loaded 15
# deep). Meanwhile the keepalives keep arriving, DELAY ms late, so the
# delay, below peer_timeout_ms (8 s), trips no timeout. (Holding the frame
# in the proxy until the fault cannot work: inside TLS a frame cannot be
# told from a keepalive, so the held side hears nothing and times out.)
#
# A failing case is reported and the next one still runs; the test fails at
# the end if any did.
. "$(dirname "$0")/lib.sh"

FP="$BUILD/tests/faultproxy"
PT="$BUILD/tests/peer_tool"
[ -x "$FP" ] && [ -x "$PT" ] || fail "build tests/faultproxy and tests/peer_tool first (make check does)"
KA=300		  # keepalive_interval_ms
PTO=8000	  # peer_timeout_ms
SLACK=2000	  # detection slack: polling, scheduling, a loaded CI host
DELAY=5000	  # ms: how long END or COMMIT stays on the wire (the script reacts within it, even on a machine loaded 15 deep)
CAP_SLOW=524288	  # bytes/s: pre-copy or stop-copy of 2 MiB lasts about 4 s
CAP_END=2097152	  # bytes/s: stop-copy of 2 MiB lasts about 1 s
PHASES="setup precopy switchover stopcopy end commit"
KINDS="cut kill stall error"

certs

# One device pair per case, so that no case inherits another's state. The
# destination devices have no workload: after a migration their image must
# be exactly the source's at the moment it stopped. Small data sections
# (64 KiB records) let a switchover happen within milliseconds.
dev() {
	printf '[device %s]\nbackend = sim\nsize = 2M\nsection_size = 64K\ndirty_rate = %s\nimage = @DIR@/%s.img\nseed = %s\n\n' \
		"$1" "$2" "$1" "$3"
}
CASES=""
for ph in $PHASES; do
	for k in $KINDS; do
		CASES="$CASES $ph-$k"
	done
done
CASES="$CASES precopy-srcerror stopcopy-srcerror commit-killsrc end-shutdown"
n=0
DEVS_A=""
DEVS_B=""
for c in $CASES; do
	n=$((n + 1))
	DEVS_A="$DEVS_A$(dev "$c" 256K "$n")
"
	DEVS_B="$DEVS_B$(dev "$c" 0 $((n + 1000)))
"
done
export KEEPALIVE_MS=$KA PEER_TIMEOUT_MS=$PTO
EXTRA_DAEMON="handshake_timeout_ms = 9000"
DEVICES=$DEVS_A write_config a host-a
DEVICES=$DEVS_B write_config b host-b
start_daemon a
start_daemon b

FIFO="$T/fp.fifo"
# The proxy in front of b, on a port of its choosing (PP).
"$FP" -l 0 -t "127.0.0.1:$PB" -c "$FIFO" 2>"$T/faultproxy.log" &
PIDS="$PIDS $!"
PP=$(wait_listening "$T/faultproxy.log" faultproxy) || fail "no faultproxy"

now_ms() { date +%s%3N; }
iso_ms() { date -d "$1" +%s%3N; }

# bad MESSAGE: this case failed (the test goes on with the next case).
bad() {
	printf 'FAIL: %s: %s\n' "$CASE" "$*"
	return 1
}

# fp COMMAND: tell the proxy, and wait until it has done it.
fp() {
	local before i=0
	before=$(wc -l <"$T/faultproxy.log")
	echo "$*" >"$FIFO"
	while [ "$(wc -l <"$T/faultproxy.log")" -le "$before" ]; do
		i=$((i + 1))
		[ $i -lt 100 ] || fail "faultproxy did not take \"$*\""
		sleep 0.01
	done
}

mig() { api "$1" GET "/v1/migrations/$2"; }
msg_of() { sed -n 's/.*"message":"\(\([^"\\]\|\\.\)*\)".*/\1/p' | head -n 1; }

# wait_for NAME ID PHASE...: poll every 50 ms, up to 20 s.
wait_for() {
	local name=$1 id=$2 i=0 ph want
	shift 2
	while [ $i -lt 400 ]; do
		ph=$(mig "$name" "$id" | json_get phase)
		for want in "$@"; do
			[ "$ph" = "$want" ] && return 0
		done
		sleep 0.05
		i=$((i + 1))
	done
	bad "migration $id on $name is $ph, wanted $*"
}
FINAL="completed failed cancelled"

# wait_committed ID: b has sent COMMIT for ID (its phase is "completing"
# from the moment it starts to write that to disk; engine_state says when
# the frame left), up to 20 s.
wait_committed() {
	local i=0 st
	while [ $i -lt 400 ]; do
		st=$(mig b "$1" | json_get engine_state)
		[ "$st" = committed ] && return 0
		sleep 0.05
		i=$((i + 1))
	done
	bad "b never sent COMMIT for $1 (engine_state $st)"
}

healthy() {
	ctl a health >/dev/null 2>&1 || bad "daemon a stopped serving" || return
	ctl b health >/dev/null 2>&1 || bad "daemon b stopped serving"
}

# restart_b: b again, on a new port, and the proxy in front of it told so.
restart_b() {
	start_daemon b
	fp target "127.0.0.1:$PB"
}

# kill_daemon NAME: SIGKILL, reaped here (lib.sh then expects status 137).
kill_daemon() {
	eval "victim=\${PID_$1}"
	kill -9 "$victim"
	wait "$victim" 2>/dev/null
}

# start_fake_dest ACTION CODE: peer_tool plays the destination, on a port
# of its choosing (PF).
start_fake_dest() {
	: >"$T/pt.log"
	"$PT" --listen 0 --cert "$T/certs/host-b-cert.pem" --key "$T/certs/host-b-key.pem" \
		--ca "$T/certs/ca-cert.pem" --action "$1" --error-code "$2" --timeout-ms 20000 \
		>"$T/pt.out" 2>"$T/pt.log" &
	PT_PID=$!
	PIDS="$PIDS $PT_PID"
	PF=$(wait_listening "$T/pt.log" peer_tool) || fail "no peer_tool"
}

# fake_source DEV ACTION CODE [args]: peer_tool plays the source, streaming
# a software device of its own (so b's device accepts the data).
fake_source() {
	d=$1 action=$2 code=$3
	shift 3
	info=$(api b GET "/v1/devices/$d")
	"$PT" --connect "127.0.0.1:$PB" --cert "$T/certs/host-a-cert.pem" \
		--key "$T/certs/host-a-key.pem" --ca "$T/certs/ca-cert.pem" \
		--token "$TOKEN" --device "$d" --identity "$(echo "$info" | json_get identity)" \
		--compat "$(echo "$info" | sed -n 's/.*"compat":"\([^"]*\)".*/\1/p')" \
		--image "$T/pt-$d.img" --action "$action" --error-code "$code" "$@" 2>"$T/pt.log"
}

incoming() {
	out=$(api b POST "/v1/devices/$1/incoming")
	TOKEN=$(echo "$out" | json_get token)
	DST_ID=$(echo "$out" | json_get migration_id)
	[ -n "$TOKEN" ] && [ -n "$DST_ID" ] || bad "incoming $1: $out"
}

# migrate DEV DEST EXTRA_JSON: a source migration with manual switchover.
migrate() {
	T_SENT=$(now_ms) # the source cannot start a timer before this
	out=$(api a POST /v1/migrations -d "{\"device\":\"$1\",\"destination\":\"$2\",\"token\":\"$TOKEN\",\"switchover\":\"manual\",\"chunk_size\":65536,\"downtime_limit_ms\":5000$3}")
	SRC_ID=$(echo "$out" | json_get id)
	T_START=$(now_ms)
	[ -n "$SRC_ID" ] || bad "migrate: $out"
}

switchover() {
	out=$(api a POST "/v1/migrations/$SRC_ID/switchover")
	! echo "$out" | grep -q '"error":{' || bad "switchover: $out"
}

# Hold the migration in stop-copy; for END and COMMIT, slow one direction.
to_stopcopy() {
	wait_for a "$SRC_ID" precopy || return
	switchover || return
	wait_for a "$SRC_ID" stopcopy
}

# check_detection NAME ID SILENT_SINCE: a stall was noticed within the bound
# after the fault, and not before the peer had been silent for
# peer_timeout_ms minus one keepalive interval (it was the timer).
check_detection() {
	local fin took silent
	fin=$(mig "$1" "$2" | json_get finished_at)
	took=$(($(iso_ms "$fin") - T_FAULT))
	silent=$(($(iso_ms "$fin") - $3))
	[ "$took" -le $((PTO + SLACK)) ] ||
		bad "$1 noticed the stall after $took ms (peer_timeout_ms $PTO + $SLACK)" || return
	[ "$silent" -ge $((PTO - KA - 200)) ] ||
		bad "$1 gave up after $silent ms of silence, before peer_timeout_ms $PTO" || return
	DETECT="$DETECT $1:${took}ms"
}

# The destination's device was reset (its partial state discarded).
dest_was_reset() {
	grep -Eq "migration $DST_ID: device $DEV reset, received state discarded|device $DEV: was receiving migration $DST_ID .*it was reset" "$T/b.log"
}

# retry: a clean migration of the same device now succeeds, images equal.
retry() {
	if [ "$(mig b "$DST_ID" | json_get phase)" != setup ]; then
		incoming "$DEV" || return
	fi
	out=$(timeout 60 "$MIGCTL" -s "$T/a.sock" --json migrate "$DEV" --to "127.0.0.1:$PP" \
		--token "$TOKEN" --max-bandwidth 0 --switchover auto --wait | tail -n 1)
	[ "$(echo "$out" | json_get phase)" = completed ] || bad "retry: $out" || return
	[ "$(sha "$T/a/$DEV.img")" = "$(sha "$T/b/$DEV.img")" ] || bad "images differ after the retry"
}

# --- the cases -----------------------------------------------------------

# run_case PHASE KIND: bring a migration to PHASE, inject KIND, check. What
# the checks expect: the source's final phase, code (a regex) and message,
# and what the destination device must have become: reset; resumed (it runs
# the migrated state); untouched (no HELLO reached it, its token is still
# good); fake (peer_tool played the destination).
run_case() {
	PHASE=$1 KIND=$2
	CASE="$PHASE/$KIND"
	DEV="$PHASE-$KIND"
	SRC_PHASE=failed DST=reset DST_CODE="" TIMED="" DETECT="" DEST="127.0.0.1:$PP" OPTS=""
	SRC_MSG="reset by peer|closed|lost|eof"
	DST_BEFORE=$(sha "$T/b/$DEV.img")
	case "$PHASE" in
	precopy | stopcopy) OPTS=",\"max_bandwidth\":$CAP_SLOW" ;;
	end | commit) OPTS=",\"max_bandwidth\":$CAP_END" ;;
	esac
	case "$KIND" in
	cut | kill) SRC_CODE=connection-lost ;;
	stall) SRC_CODE=timeout SRC_MSG="peer_timeout_ms" TIMED=1 ;;
	error)
		DST=fake SRC_MSG="destination refused"
		case "$PHASE" in
		setup) start_fake_dest error-on-hello internal-error; SRC_CODE=internal-error ;;
		precopy) start_fake_dest error-on-signal device-state; SRC_CODE=device-state ;;
		switchover) start_fake_dest error-on-signal 999; SRC_CODE=peer-error ;; # a number nobody knows
		stopcopy) start_fake_dest error-on-signal out-of-memory; SRC_CODE=out-of-memory ;;
		end) start_fake_dest error-on-end digest-mismatch; SRC_CODE=digest-mismatch ;;
		esac
		DEST="127.0.0.1:$PF"
		;;
	esac

	# Setup: the fault is armed before the source connects.
	case "$CASE" in
	setup/cut) fp cut-after 1; SRC_CODE="tls-error|connection-lost" DST=untouched ;;
	setup/stall) fp stall; DST=untouched ;;
	setup/kill) fp stall; SRC_CODE="tls-error|connection-lost" DST=unknown ;;
	esac
	incoming "$DEV" || return
	migrate "$DEV" "$DEST" "$OPTS" || return
	T_FAULT=$T_START

	case "$PHASE" in
	precopy) wait_for a "$SRC_ID" precopy || return ;;
	switchover) wait_for a "$SRC_ID" switchover-pending || return ;;
	stopcopy) to_stopcopy || return ;;
	end)
		wait_for a "$SRC_ID" precopy || return
		T_DELAY=$(now_ms)
		[ "$KIND" = error ] || fp delay down $DELAY
		switchover || return
		wait_for a "$SRC_ID" completing failed || return
		if [ "$KIND" != error ]; then
			ph=$(mig b "$DST_ID" | json_get phase)
			[ "$ph" = stopcopy ] || [ "$ph" = precopy ] ||
				bad "the destination already got END (phase $ph): fault too late" || return
		fi
		;;
	commit)
		wait_for a "$SRC_ID" precopy || return
		T_DELAY=$(now_ms)
		fp delay up $DELAY
		switchover || return
		wait_committed "$DST_ID" || return
		[ "$(mig a "$SRC_ID" | json_get phase)" = completing ] ||
			bad "the source already got COMMIT: fault too late" || return
		DST=resumed
		;;
	esac

	[ "$PHASE" = setup ] || T_FAULT=$(now_ms)
	SILENT_a=$T_FAULT SILENT_b=$T_FAULT
	# Setup: the peers were silent since the migration was asked for, not
	# since the API answered (the source connects meanwhile, and its
	# timer runs from then: on a loaded host the answer can come hundreds
	# of ms later, and a stall noticed on time looked early).
	[ "$PHASE" = setup ] && SILENT_a=$T_SENT SILENT_b=$T_SENT
	[ "$PHASE" = commit ] && SILENT_a=$T_DELAY
	[ "$PHASE" = end ] && SILENT_b=$T_DELAY
	case "$KIND" in
	cut) [ "$PHASE" = setup ] || fp cut ;;
	stall) [ "$PHASE" = setup ] || fp stall ;;
	kill)
		kill_daemon b
		[ "$PHASE" = setup ] && fp resume
		# COMMIT was already on its way: the network still delivers it, so
		# the source completes; the destination runs the migrated state and
		# must keep it across its restart.
		[ "$PHASE" = commit ] && SRC_PHASE=completed
		;;
	error)
		case "$PHASE" in
		precopy | switchover | stopcopy) kill -USR1 "$PT_PID" ;;
		esac
		;;
	esac

	check_source || return
	if [ "$KIND" = kill ]; then
		restart_b
		DST_CODE=daemon-restart
	fi
	check_destination || return
	healthy || return
	fp resume
	fp delay both 0
	if [ "$SRC_PHASE" = completed ]; then
		[ "$(sha "$T/a/$DEV.img")" = "$(sha "$T/b/$DEV.img")" ] ||
			bad "completed, but the images differ" || return
	else
		retry || return
	fi
	code=$(mig a "$SRC_ID" | json_get code)
	pass "$CASE: source $SRC_PHASE${code:+ ($code)}, destination $DST${DETECT:+, detected$DETECT}, retry ok"
}

check_source() {
	wait_for a "$SRC_ID" $FINAL || return
	out=$(mig a "$SRC_ID")
	ph=$(echo "$out" | json_get phase)
	[ "$ph" = "$SRC_PHASE" ] || bad "source migration $ph, expected $SRC_PHASE: $out" || return
	if [ "$SRC_PHASE" = completed ]; then
		[ "$(device_state a "$DEV")" = stopped ] ||
			bad "source completed but its device is $(device_state a "$DEV")"
		return
	fi
	code=$(echo "$out" | json_get code)
	echo "$code" | grep -Eqx "$SRC_CODE" || bad "source error $code, expected $SRC_CODE: $out" || return
	echo "$out" | msg_of | grep -Eq "$SRC_MSG" ||
		bad "source message does not say what happened: $out" || return
	if [ "$PHASE" = end ] || [ "$PHASE" = commit ]; then
		[ "$KIND" = error ] || echo "$out" | msg_of | grep -q "check the destination" ||
			bad "the source does not warn that the destination may run: $out" || return
	fi
	[ "$(device_state a "$DEV")" = running ] ||
		bad "source device is $(device_state a "$DEV"), not running" || return
	if [ -n "$TIMED" ]; then
		check_detection a "$SRC_ID" "$SILENT_a" || return
	fi
	if [ "$DST" = fake ]; then
		wait "$PT_PID"
		grep -q "sent ERROR" "$T/pt.log" || bad "peer_tool sent no ERROR: $(cat "$T/pt.log")"
	fi
}

check_destination() {
	case "$DST" in
	fake) return 0 ;;
	untouched)
		# No HELLO got through: the token is unspent, the device untouched.
		out=$(mig b "$DST_ID")
		[ "$(echo "$out" | json_get phase)" = setup ] ||
			bad "destination migration should still wait: $out" || return
		[ "$(sha "$T/b/$DEV.img")" = "$DST_BEFORE" ] || bad "destination image changed" || return
		[ "$(device_state b "$DEV")" = running ] || bad "destination device not running"
		return
		;;
	unknown)
		# b died before the record of this migration was on disk (the
		# API answers first, a thread writes it): the restart does not
		# know it. That is safe only because nothing had touched the
		# device yet, which is what must hold.
		out=$(api b GET "/v1/migrations/$DST_ID")
		if echo "$out" | grep -q '"code":"not-found"'; then
			[ "$(sha "$T/b/$DEV.img")" = "$DST_BEFORE" ] || bad "destination image changed" || return
			[ "$(device_state b "$DEV")" = running ] || bad "destination device not running"
			return
		fi
		DST=reset
		;;
	esac
	wait_for b "$DST_ID" $FINAL || return
	out=$(mig b "$DST_ID")
	ph=$(echo "$out" | json_get phase)
	code=$(echo "$out" | json_get code)
	[ "$ph" = failed ] || bad "destination migration $ph: $out" || return
	if [ -n "$DST_CODE" ]; then
		[ "$code" = "$DST_CODE" ] || bad "destination error $code, expected $DST_CODE: $out" || return
	else
		echo "$code" | grep -Eqx "$SRC_CODE|connection-lost|timeout" ||
			bad "destination error $code: $out" || return
	fi
	[ "$(device_state b "$DEV")" = running ] ||
		bad "destination device is $(device_state b "$DEV"), not running" || return
	if [ "$DST" = reset ]; then
		dest_was_reset || bad "the destination did not reset its device" || return
		! echo "$out" | msg_of | grep -q "after COMMIT" || bad "destination claims COMMIT: $out" || return
	else
		# It had resumed: what it runs may be the only copy left.
		! dest_was_reset || bad "the destination reset a device that had resumed the migrated state (SPEC §7 nothing lost): $(grep "$DST_ID" "$T/b.log" | grep -i reset)" || return
		[ "$KIND" = kill ] || echo "$out" | msg_of | grep -q "after COMMIT" ||
			bad "the destination does not say it had sent COMMIT: $out" || return
	fi
	if [ -n "$TIMED" ]; then
		check_detection b "$DST_ID" "$SILENT_b"
	fi
}

# The destination's side of a source that sends ERROR mid-stream: peer_tool
# plays the source with a real stream from a device of its own.
run_src_error_case() {
	PHASE=$1 RECORDS=$2 CODE=$3
	CASE="$PHASE/error-from-source"
	DEV="$PHASE-srcerror"
	DST=reset DST_CODE=$CODE TIMED=""
	incoming "$DEV" || return
	r=$(fake_source "$DEV" error-after-records "$CODE" --count "$RECORDS")
	[ "$r" = sent-error ] || bad "peer_tool: $r: $(cat "$T/pt.log")" || return
	check_destination || return
	echo "$out" | msg_of | grep -q "source reported $CODE" || bad "message: $out" || return
	healthy || return
	retry || return
	pass "$CASE: destination failed ($CODE) and reset its device, retry ok"
}

# Waiting for ACK: the source (peer_tool) got COMMIT and answers ERROR. The
# destination runs the migrated state and must say so, not reset it.
run_commit_error_case() {
	CASE="commit/error"
	DEV="commit-error"
	incoming "$DEV" || return
	r=$(fake_source "$DEV" error-after-commit internal-error)
	[ "$r" = commit ] || bad "peer_tool: $r: $(cat "$T/pt.log")" || return
	wait_for b "$DST_ID" $FINAL || return
	out=$(mig b "$DST_ID")
	[ "$(echo "$out" | json_get phase)" = failed ] || bad "destination: $out" || return
	[ "$(echo "$out" | json_get code)" = internal-error ] || bad "destination: $out" || return
	echo "$out" | msg_of | grep -q "after COMMIT" || bad "message: $out" || return
	[ "$(device_state b "$DEV")" = running ] || bad "destination device not running" || return
	! dest_was_reset || bad "the destination reset a device that had resumed" || return
	[ "$(sha "$T/b/$DEV.img")" = "$(sha "$T/pt-$DEV.img")" ] ||
		bad "the destination does not run the state it verified" || return
	healthy || return
	retry || return
	pass "$CASE: destination failed (internal-error) after COMMIT, device kept running, retry ok"
}

# Waiting for ACK, the other way round: the source daemon dies after the
# destination resumed. The destination keeps its device, the source's
# journal rolls its device back: both run, the ambiguous moment of
# PROTOCOL.md §2.4, reported on both sides.
run_commit_killsrc_case() {
	CASE="commit/kill-source"
	DEV="commit-killsrc"
	incoming "$DEV" || return
	migrate "$DEV" "127.0.0.1:$PP" ",\"max_bandwidth\":$CAP_END" || return
	wait_for a "$SRC_ID" precopy || return
	fp delay up $DELAY
	switchover || return
	wait_committed "$DST_ID" || return
	[ "$(mig a "$SRC_ID" | json_get phase)" = completing ] || bad "the source got COMMIT" || return
	kill_daemon a
	wait_for b "$DST_ID" $FINAL || return
	out=$(mig b "$DST_ID")
	[ "$(echo "$out" | json_get code)" = connection-lost ] || bad "destination: $out" || return
	echo "$out" | msg_of | grep -q "after COMMIT" || bad "message: $out" || return
	[ "$(device_state b "$DEV")" = running ] || bad "destination device not running" || return
	! dest_was_reset || bad "the destination reset a device that had resumed" || return
	start_daemon a
	out=$(mig a "$SRC_ID")
	[ "$(echo "$out" | json_get code)" = daemon-restart ] || bad "source: $out" || return
	[ "$(device_state a "$DEV")" = running ] || bad "source device not running" || return
	healthy || return
	fp delay both 0
	retry || return
	pass "$CASE: destination kept the resumed device, source rolled back after restart, retry ok"
}

# END answered with ERROR(shutdown): a destination that says anything
# after END has not committed and has reset its device, so the source rolls
# back whatever the code; only silence after END is ambiguous. (It used to
# take the peer's `shutdown` for its own exit and leave its device stopped:
# the guest's device then ran nowhere.)
run_end_shutdown_case() {
	CASE="end/error-shutdown"
	DEV="end-shutdown"
	start_fake_dest error-on-end shutdown
	incoming "$DEV" || return
	migrate "$DEV" "127.0.0.1:$PF" ",\"max_bandwidth\":$CAP_END" || return
	wait_for a "$SRC_ID" precopy || return
	switchover || return
	wait_for a "$SRC_ID" $FINAL || return
	out=$(mig a "$SRC_ID")
	[ "$(echo "$out" | json_get phase)" = failed ] || bad "source: $out" || return
	[ "$(echo "$out" | json_get code)" = shutdown ] || bad "source: $out" || return
	echo "$out" | msg_of | grep -q "destination refused" || bad "message: $out" || return
	[ "$(device_state a "$DEV")" = running ] ||
		bad "source device is $(device_state a "$DEV") after the destination's ERROR(shutdown)" || return
	wait "$PT_PID"
	grep -q "sent ERROR" "$T/pt.log" || bad "peer_tool sent no ERROR: $(cat "$T/pt.log")" || return
	healthy || return
	retry || return
	pass "$CASE: source failed (shutdown) and rolled its device back to running, retry ok"
}

# run LABEL FUNCTION ARGS: one case; afterwards the network is normal again
# and both daemons run, whatever the case left behind.
FAILS=""
run() {
	local label=$1 t
	shift
	t=$(now_ms)
	"$@" || FAILS="$FAILS $label"
	say "$label: $(($(now_ms) - t)) ms"
	fp resume
	fp delay both 0
	kill -0 "$PID_a" 2>/dev/null || start_daemon a
	kill -0 "$PID_b" 2>/dev/null || restart_b
}

T0=$(now_ms)
for each_phase in $PHASES; do
	for each_kind in $KINDS; do
		if [ "$each_phase/$each_kind" = commit/error ]; then
			run commit/error run_commit_error_case
		else
			run "$each_phase/$each_kind" run_case "$each_phase" "$each_kind"
		fi
	done
done
run precopy/error-from-source run_src_error_case precopy 1 device-error
run stopcopy/error-from-source run_src_error_case stopcopy 2 shutdown
run commit/kill-source run_commit_killsrc_case
run end/error-shutdown run_end_shutdown_case
say "$(echo "$CASES" | wc -w) cases in $(($(now_ms) - T0)) ms"
[ -z "$FAILS" ] || fail "failed cases:$FAILS"
pass "every fault: devices safe, daemons serving, retries byte-identical"
