# lib.sh: shared by the integration tests (sourced, not run).
#
# Each test gets a scratch directory, throwaway certificates and up to two
# (or more) real vfio-migd daemons on loopback, driven with vfio-migctl and
# curl. Everything is torn down on exit, whatever happens.
#
# Environment: BUILD (the build directory; defaults to the current one, which
# is what `make check` uses) and SRCDIR (the source tree);
# VFIO_MIGD_TEST_SLOW_FSYNC_MS (set by ./dev.sh STRESS=1) slows every
# daemon's fsync by that many milliseconds.

set -u
BUILD=${BUILD:-$(pwd)}
SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
MIGD="$BUILD/vfio-migd"
MIGCTL="$BUILD/vfio-migctl"
T=$(mktemp -d "${TMPDIR:-/tmp}/vfio-migd-it.XXXXXX")
PIDS=""
DAEMONS=""
FAILED=0

# Daemons must exit cleanly on SIGTERM: status 0, no sanitizer report
# (LeakSanitizer exits 23). One killed on purpose was reaped by its test.
cleanup() {
	st=$?
	for p in $PIDS; do
		kill -CONT "$p" 2>/dev/null
		kill "$p" 2>/dev/null
	done
	for p in $PIDS; do
		wait "$p" 2>/dev/null
		rc=$?
		case " $DAEMONS " in *" $p "*) ;; *) continue ;; esac
		# 137: SIGKILLed by its test on purpose; 127: already reaped.
		if [ "$rc" -ne 0 ] && [ "$rc" -ne 127 ] && [ "$rc" -ne 137 ]; then
			printf 'FAIL: daemon %s exited with status %s at the end of the test\n' "$p" "$rc"
			FAILED=1
		fi
	done
	# A device touched off its thread (the event loop without its lock)
	# is a daemon defect whatever else the test checked.
	if grep -h "called off its thread" "$T"/*.log 2>/dev/null; then
		printf 'FAIL: a daemon touched a device off its thread (above)\n'
		FAILED=1
	fi
	if [ "$FAILED" -ne 0 ] || [ -n "${KEEP:-}" ]; then
		for f in "$T"/*.log; do
			[ -f "$f" ] || continue
			echo "---- $f"
			tail -n 40 "$f"
		done
	fi
	rm -rf "$T"
	[ -z "${STATE_BASE:-}" ] || rm -rf "$STATE_BASE"
	[ "$FAILED" -eq 0 ] || exit 1
	exit "$st"
}
trap cleanup EXIT INT TERM

say() { printf '# %s\n' "$*"; }
fail() {
	FAILED=1
	printf 'FAIL: %s\n' "$*"
	exit 1
}
pass() { printf 'ok: %s\n' "$*"; }

certs() {
	[ -f "$T/certs/ca-cert.pem" ] || sh "$SRCDIR/tests/gen-certs.sh" "$T/certs" >/dev/null ||
		fail "cannot generate certificates"
}

# write_config NAME CERTNAME -- config into $T/NAME.conf
# Devices are given as whole sections in $DEVICES (heredoc text) if set.
# The daemon listens on port 0 (any free port): start_daemon reads back the
# port it was given. No test picks a port before binding it, so tests that
# run in parallel never race for one.
write_config() {
	name=$1 cert=$2
	mkdir -p "$T/$name" "${STATE_BASE:-$T}/$name"
	cat >"$T/$name.conf" <<CONF
[daemon]
listen = 127.0.0.1:0
control = $T/$name.sock
state_dir = ${STATE_BASE:-$T}/$name
log_level = ${LOG_LEVEL:-info}
keepalive_interval_ms = ${KEEPALIVE_MS:-1000}
peer_timeout_ms = ${PEER_TIMEOUT_MS:-5000}
${EXTRA_DAEMON:-}

[tls]
ca = $T/certs/${CA:-ca}-cert.pem
cert = $T/certs/$cert-cert.pem
key = $T/certs/$cert-key.pem
${EXTRA_TLS:-}

[migration]
downtime_limit_ms = ${DOWNTIME_MS:-300}
precopy_timeout_s = ${PRECOPY_TIMEOUT_S:-60}
${EXTRA_MIGRATION:-}

$(echo "${DEVICES:-}" | sed "s|@DIR@|$T/$name|g")
CONF
}

# start_pair: the usual two hosts. Source "a" (certificate host-a) gets the
# devices in $DEVICES; destination "b" (host-b) the same devices with their
# workloads off (dirty rates 0) and seed 2, so that their images start
# different and, after a migration, must equal the source's exactly.
# Extra [migration] lines for a only: $EXTRA_MIGRATION_A; environment
# assignments (VAR=value, space-separated) for a's process only: $ENV_A.
start_pair() {
	certs
	EXTRA_MIGRATION="${EXTRA_MIGRATION_A:-}" write_config a host-a
	DEVICES=$(echo "$DEVICES" | sed 's/^\(dma_\)\{0,1\}dirty_rate = .*/\1dirty_rate = 0/; s/^seed = .*/seed = 2/') \
		write_config b host-b
	DAEMON_ENV="${ENV_A:-}" start_daemon a
	start_daemon b
}

# start_daemon NAME: runs vfio-migd -f -c $T/NAME.conf, waits for its
# socket, and sets P<NAME> (PA for a, PB for b, ...) to the TLS port the
# daemon bound, as GET /v1/health reports it. A restarted daemon gets a new
# port: P<NAME> follows it.
start_daemon() {
	name=$1
	stress_env=""
	# ./dev.sh STRESS=1: every daemon's fsync is slow (a busy shared disk).
	if [ -n "${VFIO_MIGD_TEST_SLOW_FSYNC_MS:-}" ]; then
		stress_env="LD_PRELOAD=$BUILD/tests/preload/slow_fsync.so SLOW_FSYNC_MS=$VFIO_MIGD_TEST_SLOW_FSYNC_MS"
		stress_env="$stress_env ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
	fi
	# shellcheck disable=SC2086 # word-split on purpose; DAEMON_ENV comes last and wins
	env $stress_env ${DAEMON_ENV:-} "$MIGD" -f -c "$T/$name.conf" >>"$T/$name.log" 2>&1 &
	pid=$!
	PIDS="$PIDS $pid"
	DAEMONS="$DAEMONS $pid"
	eval "PID_$name=$pid"
	i=0
	while [ $i -lt 300 ]; do
		if [ -S "$T/$name.sock" ] && health=$(ctl "$name" --json health 2>/dev/null); then
			port=$(echo "$health" | sed -n 's/.*"listen":\["[^"]*:\([0-9]*\)".*/\1/p')
			[ -n "$port" ] || fail "daemon $name: no listen address in $health"
			eval "P$(echo "$name" | tr '[:lower:]' '[:upper:]')=$port"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || fail "daemon $name exited at start: $(tail -n 5 "$T/$name.log")"
		sleep 0.1
		i=$((i + 1))
	done
	fail "daemon $name did not come up within 30 s: $(tail -n 5 "$T/$name.log")"
}

# pid_listen_port PID: the TCP port process PID listens on (from /proc: its
# socket inodes, looked up among the listening sockets), for a tool that
# does not say which port 0 gave it (openssl s_server -quiet). Empty if none.
pid_listen_port() {
	inodes=$(ls -l "/proc/$1/fd" 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p')
	for ino in $inodes; do
		# local_address (hex ip:port) is field 2, st is 4 (0A: LISTEN), inode 10.
		awk -v ino="$ino" '$4 == "0A" && $10 == ino { split($2, a, ":"); print a[2] }' \
			/proc/net/tcp /proc/net/tcp6 2>/dev/null
	done | head -n 1 | { read -r hex && [ -n "$hex" ] && printf '%d\n' "0x$hex"; }
}

# wait_pid_listening PID WHAT: pid_listen_port, once PID listens (10 s).
wait_pid_listening() {
	i=0
	until port=$(pid_listen_port "$1") && [ -n "$port" ]; do
		i=$((i + 1))
		if [ $i -ge 200 ] || ! kill -0 "$1" 2>/dev/null; then
			echo "$2 did not start listening" >&2
			return 1
		fi
		sleep 0.05
	done
	echo "$port"
}

# wait_listening FILE WHAT: a test helper started on port 0 writes
# "listening on HOST:PORT" into FILE (socat -d -d: "listening on AF=2
# HOST:PORT"); prints PORT once it has, or fails
# after 10 s (call it as P=$(wait_listening F what) || fail ...).
wait_listening() {
	i=0
	until port=$(sed -n 's/.*listening on [^,]*:\([0-9][0-9]*\).*/\1/p' "$1" 2>/dev/null |
		head -n 1) &&
		[ -n "$port" ]; do
		i=$((i + 1))
		if [ $i -ge 200 ]; then
			echo "$2 did not start: $(tail -n 5 "$1" 2>/dev/null)" >&2
			return 1
		fi
		sleep 0.05
	done
	echo "$port"
}

stop_daemon() {
	eval "pid=\${PID_$1}"
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rc=$?
	[ "$rc" -eq 0 ] || fail "daemon $1 exited with status $rc on SIGTERM"
	return 0
}

ctl() {
	name=$1
	shift
	"$MIGCTL" -s "$T/$name.sock" "$@"
}

api() {
	name=$1 method=$2 path=$3
	shift 3
	curl -sS --unix-socket "$T/$name.sock" -X "$method" "$@" "http://localhost$path"
}

# json_get KEY: the (last) string or number value of "KEY" in the JSON on stdin.
json_get() {
	sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\)\"\{0,1\}[,}].*/\1/p" | head -n 1
}

# wait_phase NAME ID PHASE... : until the migration is in one of the phases.
wait_phase() {
	name=$1 id=$2
	shift 2
	i=0
	while [ $i -lt 600 ]; do
		# The top-level phase (a migration of several devices lists theirs too).
		ph=$(api "$name" GET "/v1/migrations/$id" | jq -r .phase 2>/dev/null)
		for want in "$@"; do
			[ "$ph" = "$want" ] && return 0
		done
		sleep 0.1
		i=$((i + 1))
	done
	fail "migration $id on $name: phase $ph, wanted $*"
}

device_state() {
	api "$1" GET "/v1/devices/$2" | json_get state
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# migrate_device NAME: a -> b, waited for; prints the final object.
migrate_device() {
	out=$(ctl b --json incoming "$1") || fail "incoming $1: $out"
	token=$(echo "$out" | json_get token)
	[ -n "$token" ] || fail "no token in: $out"
	ctl a --json migrate "$1" --to "127.0.0.1:$PB" --token "$token" --wait | tail -n 1
}
