#!/bin/sh
# cli-usage.sh: the command-line contract of vfio-migctl (SPEC §5), no
# daemon needed.
#
#   - a usage error exits 2, says what is wrong and names the argument, and
#     is caught before anything is sent (the socket given does not exist, so
#     a check that slipped through would show up as exit 3);
#   - a daemon that cannot be reached exits 3 with a message naming the
#     socket;
#   - --help and --version exit 0.
#
# With socat installed, a fake control socket serving canned HTTP answers
# also checks how responses are read: success 0, API error 1, garbage 3,
# and migrate --wait mapping the final phase to 0 or 1 with the final
# migration object as the last line of --json output.
#
# The binary: $VFIO_MIGCTL, else ./vfio-migctl or ../vfio-migctl.
set -u

MIGCTL=${VFIO_MIGCTL:-}
if [ -z "$MIGCTL" ]; then
	for c in ./vfio-migctl ../vfio-migctl; do
		if [ -x "$c" ]; then
			MIGCTL=$c
			break
		fi
	done
fi
if [ -z "$MIGCTL" ] || [ ! -x "$MIGCTL" ]; then
	echo "cli-usage.sh: no vfio-migctl binary (set VFIO_MIGCTL)" >&2
	exit 99 # a hard error for the test driver, not a failure of the CLI
fi
unset VFIO_MIGD_SOCKET

T=$(mktemp -d "${TMPDIR:-/tmp}/cli-usage.XXXXXX") || exit 99
SOCAT_PID=""
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	if [ -n "$SOCAT_PID" ]; then
		kill "$SOCAT_PID" 2>/dev/null
		wait "$SOCAT_PID" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

NOSOCK="$T/no-such-dir/control.sock"
FAILURES=0

fail() {
	FAILURES=$((FAILURES + 1))
	echo "FAIL: $*"
	sed 's/^/  stderr: /' "$T/err"
}

# expect STATUS TEXT ARGS...: vfio-migctl ARGS exits STATUS and its
# standard error contains TEXT (any text when TEXT is empty).
expect() {
	want=$1 text=$2
	shift 2
	"$MIGCTL" "$@" >"$T/out" 2>"$T/err" </dev/null
	got=$?
	if [ "$got" -ne "$want" ]; then
		fail "vfio-migctl $*: exit $got, wanted $want"
	elif [ -n "$text" ] && ! grep -qF -- "$text" "$T/err"; then
		fail "vfio-migctl $*: no '$text' in the message"
	else
		echo "ok: exit $want: vfio-migctl $*"
	fi
}

# expect_out STATUS TEXT ARGS...: the same, TEXT on standard output.
expect_out() {
	want=$1 text=$2
	shift 2
	"$MIGCTL" "$@" >"$T/out" 2>"$T/err" </dev/null
	got=$?
	if [ "$got" -ne "$want" ]; then
		fail "vfio-migctl $*: exit $got, wanted $want"
	elif ! grep -qF -- "$text" "$T/out"; then
		fail "vfio-migctl $*: no '$text' on standard output"
		sed 's/^/  stdout: /' "$T/out"
	else
		echo "ok: exit $want: vfio-migctl $*"
	fi
}

usage() {
	expect 2 "$@"
}

# migrate with every required argument right, then the options under test.
migrate_usage() {
	text=$1
	shift
	usage "$text" -s "$NOSOCK" migrate sim0 --to host-b:7480 --token tok "$@"
}

echo "# help and version"
expect_out 0 "usage: vfio-migctl" --help
expect_out 0 "usage: vfio-migctl" -h
expect_out 0 "migrate DEVICE... --to HOST:PORT" migrate --help
expect_out 0 "vfio-migctl " --version

echo "# commands and options"
usage "missing command" -s "$NOSOCK"
usage "missing command" -s "$NOSOCK" --json
usage "unknown command 'frobnicate'" -s "$NOSOCK" frobnicate
usage "unknown command 'HEALTH'" -s "$NOSOCK" HEALTH
usage "unknown option '--frobnicate'" -s "$NOSOCK" --frobnicate health
usage "unknown option '--frobnicate'" -s "$NOSOCK" health --frobnicate
usage "unknown option '-x'" -s "$NOSOCK" -x health
usage "unknown option '--to'" -s "$NOSOCK" show abc --to h:1
usage "--wait=yes" -s "$NOSOCK" migrate sim0 --to h:1 --token t --wait=yes
usage "-s/--socket needs a value" -s
usage "socket path must not be empty" -s "" health
long_path="$T/$(printf '%0120d' 0)"
usage "longer than 107 bytes" -s "$long_path" health
export VFIO_MIGD_SOCKET="$long_path"
usage "VFIO_MIGD_SOCKET" health
unset VFIO_MIGD_SOCKET

echo "# operands"
usage "missing NAME" -s "$NOSOCK" device
usage "missing DEVICE" -s "$NOSOCK" incoming
usage "missing DEVICE" -s "$NOSOCK" migrate
usage "missing ID" -s "$NOSOCK" show
usage "missing ID" -s "$NOSOCK" switchover
usage "missing ID" -s "$NOSOCK" cancel
usage "unexpected argument 'extra'" -s "$NOSOCK" health extra
usage "unexpected argument 'extra'" -s "$NOSOCK" devices extra
usage "unexpected argument 'b'" -s "$NOSOCK" show a b
usage "unexpected argument 'b'" -s "$NOSOCK" watch a b
usage "device 'a' named twice" -s "$NOSOCK" incoming a b a
usage "at most 8 devices in one migration" -s "$NOSOCK" incoming a b c d e f g h i
usage "NAME must not be empty" -s "$NOSOCK" device ""

echo "# migrate"
usage "--to HOST:PORT is required" -s "$NOSOCK" migrate sim0 --token tok
usage "--token TOKEN is required" -s "$NOSOCK" migrate sim0 --to host-b:7480
usage "--token needs a value" -s "$NOSOCK" migrate sim0 --to host-b:7480 --token
usage "--token: must not be empty" -s "$NOSOCK" migrate sim0 --to host-b:7480 --token ""
usage "--token: longer than 128 characters" -s "$NOSOCK" migrate sim0 --to host-b:7480 \
	--token "$(printf '%0129d' 0)"
for to in host-b host-b: host-b:0 host-b:65536 host-b:http :7480 "::1:7480" "[::1]" \
	"[]:7480" "host b:7480" "host-b:7480x" "host-b:-1"; do
	usage "--to: '$to'" -s "$NOSOCK" migrate sim0 --token tok --to "$to"
done
for v in abc -5 99999999999 0 600001 "" 1.5 " 5" 0x10 5ms +5 18446744073709551617; do
	migrate_usage "--downtime-limit: '$v'" --downtime-limit "$v"
done
# The size syntax of the configuration file (K M G T, optionally B or iB),
# up to the daemon's 1024T.
for v in abc -1 10X 1.5G "" 99999999999999999999 1025T 1048577G 10Mi 10MBs 1P "10 M" K +1; do
	migrate_usage "--max-bandwidth: '$v'" --max-bandwidth "$v"
done
for v in sometimes AUTO "" "auto "; do
	migrate_usage "--switchover: '$v'" --switchover "$v"
done
for v in 0 17 65 -1 abc "" 1e1 99999999999999999999; do
	migrate_usage "--channels: '$v'" --channels "$v"
done
migrate_usage "--channels needs a value" --channels
for v in "" "bad name" "a/b" "$(printf '%064d' 0)"; do
	migrate_usage "--dest-device: '$v'" --dest-device "$v"
done
migrate_usage "--downtime-limit needs a value" --downtime-limit

echo "# an unreachable daemon"
touch "$T/regular-file"
mkdir "$T/a-directory"
expect 3 "$NOSOCK" -s "$NOSOCK" health
expect 3 "$T/regular-file" -s "$T/regular-file" health
expect 3 "$T/a-directory" -s "$T/a-directory" devices
export VFIO_MIGD_SOCKET="$NOSOCK"
expect 3 "$NOSOCK" health
export VFIO_MIGD_SOCKET="$T/regular-file"
expect 3 "$NOSOCK" -s "$NOSOCK" health # -s wins over the environment
unset VFIO_MIGD_SOCKET
for cmd in health devices "device sim0" "incoming sim0" migrations "show abc" \
	"switchover abc" "cancel abc" watch "watch abc"; do
	# shellcheck disable=SC2086
	expect 3 "$NOSOCK" -s "$NOSOCK" --json $cmd
done
# Values at the edges of their ranges are accepted: these get to connecting.
migrate_ok() {
	expect 3 "$NOSOCK" -s "$NOSOCK" migrate sim0 --token tok "$@"
}
migrate_ok --to host-b:7480 --downtime-limit 600000 --max-bandwidth 0 --switchover manual \
	--channels 16 --wait
migrate_ok --to 10.0.0.2:1 --downtime-limit 1 --max-bandwidth 512k --channels 1
migrate_ok --to "[2001:db8::1]:65535" --max-bandwidth 1024G --switchover auto
migrate_ok --wait --json --to host-b.example:7480 --max-bandwidth 1048576G
migrate_ok --to host-b:7480 --max-bandwidth 1024T
migrate_ok --to host-b:7480 --max-bandwidth 10MB
migrate_ok --to host-b:7480 --max-bandwidth 1GiB
migrate_ok --to host-b:7480 --token "$(printf '%0128d' 0)"

fake_daemon() {
	if ! command -v socat >/dev/null 2>&1; then
		echo "# skipped: canned HTTP answers (socat is not installed)"
		return
	fi
	echo "# canned HTTP answers (socat)"
	# One answer per connection, chosen by $T/answer (a file name) and, for
	# migrate --wait, by the request's method and path.
	cat >"$T/serve.sh" <<'EOF'
cr=$(printf '\r')
read -r method path version
length=0
while IFS= read -r line; do
	line=${line%"$cr"}
	[ -z "$line" ] && break
	case $line in
	[Cc]ontent-[Ll]ength:*) length=$((${line#*:})) ;;
	esac
done
[ "$length" -gt 0 ] && head -c "$length" >/dev/null
answer=$(cat "$DIR/answer")
case "$method $path" in
"GET /v1/migrations/"*) [ -f "$DIR/$answer.poll" ] && answer=$answer.poll ;;
esac
cat "$DIR/$answer"
EOF
	crlf() { sed 's/$/\r/'; }
	body_ok='{"status":"ok","version":"0.1.0"}'
	printf 'HTTP/1.1 200 OK\nContent-Type: application/json\nContent-Length: %s\n\n' \
		"${#body_ok}" | crlf >"$T/ok"
	printf '%s' "$body_ok" >>"$T/ok"
	err='{"error":{"code":"not-found","message":"no device named \"gpu9\""}}'
	printf 'HTTP/1.1 404 Not Found\nContent-Length: %s\n\n' "${#err}" | crlf >"$T/notfound"
	printf '%s' "$err" >>"$T/notfound"
	printf 'HTTP/1.1 200 OK\nContent-Length: 11\n\n' | crlf >"$T/notjson"
	printf 'hello world' >>"$T/notjson"
	printf 'HTTP/1.1 200 OK\nContent-Length: 500\n\n' | crlf >"$T/truncated"
	printf '{"status":' >>"$T/truncated"
	printf 'SSH-2.0-OpenSSH_9.2\n' >"$T/garbage"
	printf 'HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5\n{"sta\n%x\n%s\n0\n\n' \
		$((${#body_ok} - 5)) "${body_ok#?????}" | crlf >"$T/chunked"
	printf 'HTTP/1.1 200 OK\nContent-Length: 99999999999\n\n' | crlf >"$T/huge"
	mig() {
		b="{\"id\":\"0f8e2f9a-1111-4222-8333-444455556666\",\"device\":\"sim0\",\"phase\":\"$2\""
		b="$b,\"bytes_transferred\":1048576,\"pending_bytes\":0,\"iterations\":1"
		b="$b,\"total_ms\":900,\"downtime_ms\":40,\"error\":$3}"
		printf 'HTTP/1.1 %s\nContent-Length: %s\n\n' "$1" "${#b}" | crlf
		printf '%s' "$b"
	}
	mig "202 Accepted" precopy null >"$T/completes"
	mig "200 OK" completed null >"$T/completes.poll"
	mig "202 Accepted" precopy null >"$T/broken"
	mig "200 OK" failed '{"code":"connection-lost","message":"peer went away"}' \
		>"$T/broken.poll"

	echo ok >"$T/answer"
	DIR=$T socat -t 0.1 UNIX-LISTEN:"$T/fake.sock",fork SYSTEM:"sh $T/serve.sh" 2>"$T/socat.log" &
	SOCAT_PID=$!
	i=0
	while [ ! -S "$T/fake.sock" ] && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -S "$T/fake.sock" ] || { fail "socat did not start: $(cat "$T/socat.log")"; return; }
	S="$T/fake.sock"

	expect_out 0 "status:  ok" -s "$S" health
	expect_out 0 "$body_ok" -s "$S" --json health
	export VFIO_MIGD_SOCKET="$S"
	expect_out 0 "version: 0.1.0" health
	unset VFIO_MIGD_SOCKET
	echo chunked >"$T/answer"
	expect_out 0 "$body_ok" -s "$S" --json health
	echo notfound >"$T/answer"
	expect 1 "not-found: no device named \"gpu9\"" -s "$S" device gpu9
	expect_out 1 '"code":"not-found"' -s "$S" --json device gpu9
	echo notjson >"$T/answer"
	expect 3 "$S" -s "$S" health
	echo truncated >"$T/answer"
	expect 3 "closed the connection in the middle of a response" -s "$S" health
	echo garbage >"$T/answer"
	expect 3 "not an HTTP/1.x status line" -s "$S" health
	echo huge >"$T/answer"
	expect 3 "larger than 16 MiB" -s "$S" health
	echo completes >"$T/answer"
	expect_out 0 "completed" -s "$S" migrate sim0 --to h:1 --token t --wait
	expect_out 0 "migration 0f8e2f9a-1111-4222-8333-444455556666: precopy" \
		-s "$S" migrate sim0 --to h:1 --token t
	"$MIGCTL" -s "$S" --json migrate sim0 --to h:1 --token t --wait >"$T/out" 2>"$T/err"
	rc=$?
	if [ $rc -eq 0 ] && tail -n 1 "$T/out" | grep -q '"phase":"completed"'; then
		echo "ok: migrate --wait --json: exit 0, last line the completed migration"
	else
		fail "migrate --wait --json: exit $rc, last line: $(tail -n 1 "$T/out")"
	fi
	echo broken >"$T/answer"
	expect 1 "connection-lost: peer went away" -s "$S" migrate sim0 --to h:1 --token t --wait
	"$MIGCTL" -s "$S" --json migrate sim0 --to h:1 --token t --wait >"$T/out" 2>"$T/err"
	rc=$?
	if [ $rc -eq 1 ] && tail -n 1 "$T/out" | grep -q '"phase":"failed"'; then
		echo "ok: migrate --wait --json: exit 1, last line the failed migration"
	else
		fail "migrate --wait --json: exit $rc, last line: $(tail -n 1 "$T/out")"
	fi
}
fake_daemon

if [ "$FAILURES" -ne 0 ]; then
	echo "$FAILURES check(s) failed"
	exit 1
fi
echo "all checks passed"
exit 0
