# lib-vmm.sh: the test VMMs (tests/test_vmm.c) of the hand-over tests and
# the daemons over the fake VFIO kernel (tests/preload/fake_vfio.c), for
# tests that source lib.sh first (sourced, not run).

SHIM="$BUILD/tests/preload/fake_vfio.so"
VMM="$BUILD/tests/test_vmm"
GUEST=$((4 * 1024 * 1024))

# Both daemons over the fake kernel (and a slow disk under STRESS=1).
preload="$SHIM"
[ -z "${VFIO_MIGD_TEST_SLOW_FSYNC_MS:-}" ] || preload="$SHIM:$BUILD/tests/preload/slow_fsync.so"
DAEMON_ENV="LD_PRELOAD=$preload ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
DAEMON_ENV="$DAEMON_ENV ${VFIO_MIGD_TEST_SLOW_FSYNC_MS:+SLOW_FSYNC_MS=$VFIO_MIGD_TEST_SLOW_FSYNC_MS}"

# vmm_start V ARGS...: test VMM V, fed commands through the FIFO $T/V.in,
# answering in $T/V.out.
vmm_start() {
	v=$1
	shift
	mkfifo "$T/$v.in"
	"$VMM" "$@" <"$T/$v.in" >"$T/$v.out" 2>"$T/$v.err" &
	eval "VMM_PID_$v=$!"
	PIDS="$PIDS $!"
	exec {vfd}>"$T/$v.in"
	eval "VMM_FD_$v=$vfd"
	vmm_line "$v" 1 >/dev/null || fail "VMM $v did not start: $(cat "$T/$v.err")"
}

# vmm_line V N: line N of V's answers, once there (60 s).
vmm_line() {
	i=0
	while [ "$(wc -l <"$T/$1.out")" -lt "$2" ]; do
		i=$((i + 1))
		[ $i -lt 600 ] || return 1
		sleep 0.1
	done
	sed -n "$2p" "$T/$1.out"
}

# vmm V COMMAND...: V's answer to the command, in $ANS.
vmm() {
	v=$1
	shift
	n=$(wc -l <"$T/$v.out")
	eval "echo \"\$*\" >&\$VMM_FD_$v"
	ANS=$(vmm_line "$v" $((n + 1))) || fail "VMM $v did not answer '$*': $(tail -n 3 "$T/$v.err")"
	echo "$ANS"
}

# expect_answer V WANT COMMAND...: the answer, in $ANS, must start with WANT.
expect_answer() {
	v=$1 want=$2
	shift 2
	vmm "$v" "$@"
	case "$ANS" in "$want"*) ;; *) fail "VMM $v: '$*' answered '$ANS', wanted '$want'" ;; esac
}

status_field() { echo "$1" | sed -n "s/.* $2=\([^ ]*\).*/\1/p"; }

