# lib-vfio-user.sh: the test vfio-user device servers (tests/vfio-user-server)
# of the vfio-user tests, for tests that source lib.sh first (sourced, not
# run). The servers are killed at the end with everything in $PIDS.

VU_SERVER="$BUILD/tests/vfio-user-server"
VU_DRIVE="$SRCDIR/tests/vfio_user_drive.py"

# vu_start NAME ARGS...: a server on $T/NAME.vu (its log $T/NAME-vu.log,
# its stdout $T/NAME-vu.out), once it has said "ready" (30 s); its pid in
# VU_PID_NAME (dashes as underscores).
vu_start() {
	n=$1
	shift
	# Emptied here, not by the server's redirection: that happens in the
	# background child, possibly after the wait below has already read a
	# previous server's "ready" of the same name (and the daemon then
	# found no server listening).
	: >"$T/$n-vu.out"
	"$VU_SERVER" --socket "$T/$n.vu" --log "$T/$n-vu.log" "$@" >>"$T/$n-vu.out" 2>&1 &
	eval "VU_PID_${n//-/_}=$!"
	PIDS="$PIDS $!"
	i=0
	until grep -qx ready "$T/$n-vu.out" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 300 ] && kill -0 "$(eval echo "\$VU_PID_${n//-/_}")" 2>/dev/null ||
			fail "vfio-user server $n did not start: $(cat "$T/$n-vu.out")"
		sleep 0.1
	done
}

# vu_stop NAME: SIGTERM and reap (a server killed by its fault is reaped too).
vu_stop() {
	eval "p=\$VU_PID_${1//-/_}"
	kill "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	return 0
}

# vu_drive NAME OP ARGS...: tests/vfio_user_drive.py against server NAME.
vu_drive() {
	n=$1
	shift
	python3 "$VU_DRIVE" "$T/$n.vu" "$@"
}

# vu_no_short_reads NAME...: the strict one-recv() rule was never hit.
vu_no_short_reads() {
	for n in "$@"; do
		! grep -h "short read" "$T/$n-vu.log" || fail "server $n had a short read (above)"
	done
}

# vu_no_refusals NAME...: the server refused nothing the client sent (no
# error reply, no unknown JSON key) in a run without faults.
vu_no_refusals() {
	for n in "$@"; do
		! grep -hE "error reply|ignored|bad header" "$T/$n-vu.log" ||
			fail "server $n refused something the client sent (above)"
	done
}
