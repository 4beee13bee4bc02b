# lib.sh: shared by the integration tests (sourced, not run).
#
# Each test gets a scratch directory, throwaway certificates and up to two
# (or more) real vfio-migd daemons on loopback, driven with vfio-migctl and
# curl. Everything is torn down on exit, whatever happens.
#
# Environment: BUILD (the build directory; defaults to the current one, which
# is what `make check` uses) and SRCDIR (the source tree).

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

# A port nobody listens on (best effort: the daemon start re-checks).
free_port() {
	while :; do
		p=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
}

# write_config NAME PORT CERTNAME [extra device lines...] -- config into $T/NAME.conf
# Devices are given as whole sections in $DEVICES (heredoc text) if set.
write_config() {
	name=$1 port=$2 cert=$3
	mkdir -p "$T/$name" "${STATE_BASE:-$T}/$name"
	cat >"$T/$name.conf" <<CONF
[daemon]
listen = 127.0.0.1:$port
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
	PA=$(free_port)
	PB=$(free_port)
	EXTRA_MIGRATION="${EXTRA_MIGRATION_A:-}" write_config a "$PA" host-a
	DEVICES=$(echo "$DEVICES" | sed 's/^\(dma_\)\{0,1\}dirty_rate = .*/\1dirty_rate = 0/; s/^seed = .*/seed = 2/') \
		write_config b "$PB" host-b
	DAEMON_ENV="${ENV_A:-}" start_daemon a
	start_daemon b
}

# start_daemon NAME: runs vfio-migd -f -c $T/NAME.conf, waits for its socket.
start_daemon() {
	name=$1
	# shellcheck disable=SC2086 # DAEMON_ENV: word-split on purpose
	env ${DAEMON_ENV:-} "$MIGD" -f -c "$T/$name.conf" >>"$T/$name.log" 2>&1 &
	pid=$!
	PIDS="$PIDS $pid"
	DAEMONS="$DAEMONS $pid"
	eval "PID_$name=$pid"
	i=0
	while [ $i -lt 100 ]; do
		if [ -S "$T/$name.sock" ] && ctl "$name" health >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || fail "daemon $name exited at start: $(tail -n 5 "$T/$name.log")"
		sleep 0.1
		i=$((i + 1))
	done
	fail "daemon $name did not come up"
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
		ph=$(api "$name" GET "/v1/migrations/$id" | json_get phase)
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
