#!/bin/bash
# The control socket (issue #7, SPEC §2 and §4).
#
# The socket is created mode 0660 with the configured control_group: a
# member of the group may use the API, any other user gets EACCES from
# connect(2). Every mutating call is logged with the caller's uid and pid
# (SO_PEERCRED), also when it is refused. Requests are bounded (body 64 KiB,
# request target 511 bytes, headers 16 KiB: 413, 414, 431, each a JSON
# error) and every malformed body is answered 400 with
# {"error":{"code":"bad-request","message":...}}; an unknown path is 404, a
# method a path does not take 405. Nothing a refused request asks for
# happens. (Every refusal of the HTTP server itself: http-errors.sh.)
#
# The user and group part needs root (groupadd, useradd, setpriv): it makes
# a throwaway group and two users and removes them at exit; without root it
# is skipped, and said so.
. "$(dirname "$0")/lib.sh"

certs
DEVICES="[device sim0]
backend = sim
size = 4M
image = @DIR@/sim0.img
seed = 2"

ROOT_PART=""
if [ "$(id -u)" -eq 0 ] && command -v groupadd >/dev/null && command -v useradd >/dev/null &&
	command -v setpriv >/dev/null; then
	ROOT_PART=1
	GROUP="vfmg$$"
	MEMBER="vfmm$$"
	OTHER="vfmo$$"
	control_cleanup() {
		st=$?
		userdel "$MEMBER" 2>/dev/null
		userdel "$OTHER" 2>/dev/null
		groupdel "$GROUP" 2>/dev/null
		(exit $st)
		cleanup
	}
	trap control_cleanup EXIT INT TERM
	groupadd "$GROUP" || fail "groupadd $GROUP"
	useradd -M -N -s /bin/false -G "$GROUP" "$MEMBER" || fail "useradd $MEMBER"
	useradd -M -N -s /bin/false "$OTHER" || fail "useradd $OTHER"
	# Let them reach the socket's directory: the socket's mode is the test.
	chmod 0711 "$T"
	EXTRA_DAEMON="control_group = $GROUP"
fi
write_config b host-b
start_daemon b
SOCK="$T/b.sock"

# req METHOD PATH [curl args]: sets STATUS and BODY.
req() {
	method=$1 path=$2
	shift 2
	STATUS=$(curl -sS --unix-socket "$SOCK" -X "$method" -o "$T/body" -w '%{http_code}' "$@" \
		"http://localhost$path")
	BODY=$(cat "$T/body")
}

# is_error STATUS CODE: the reply is STATUS with a JSON error CODE and a message.
is_error() {
	[ "$STATUS" = "$1" ] || return 1
	echo "$BODY" | grep -Eq "^\{\"error\":\{\"code\":\"$2\",\"message\":\"[^\"]+" || return 1
}

# --- who may connect ------------------------------------------------------

mode=$(stat -c '%a' "$SOCK")
[ "$mode" = 660 ] || fail "control socket mode $mode, not 660"
pass "control socket created mode 0660"
if [ -n "$ROOT_PART" ]; then
	[ "$(stat -c '%G' "$SOCK")" = "$GROUP" ] || fail "control socket group $(stat -c '%G' "$SOCK")"
	pass "control socket group is control_group ($GROUP)"

	as_user() {
		u=$1
		shift
		setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups "$@"
	}
	out=$(as_user "$OTHER" curl -v --unix-socket "$SOCK" http://localhost/v1/health 2>&1)
	rc=$?
	[ "$rc" -ne 0 ] || fail "a user outside $GROUP got an answer: $out"
	echo "$out" | grep -q "Permission denied" || fail "not EACCES: $out"
	pass "a user outside the group is refused by connect(2): EACCES"

	out=$(as_user "$MEMBER" curl -sS --unix-socket "$SOCK" http://localhost/v1/health)
	echo "$out" | grep -q '"status":"ok"' || fail "a member of $GROUP: $out"
	# setpriv execs curl: the pid the daemon sees is $!.
	setpriv --reuid="$MEMBER" --regid="$(id -g "$MEMBER")" --init-groups curl -sS \
		--unix-socket "$SOCK" -X POST http://localhost/v1/devices/sim0/incoming >"$T/member.out" &
	cpid=$!
	wait "$cpid"
	grep -q '"token"' "$T/member.out" || fail "a member's incoming: $(cat "$T/member.out")"
	grep -q "control: POST /v1/devices/sim0/incoming by uid $(id -u "$MEMBER") pid $cpid" "$T/b.log" ||
		fail "the member's call is not logged with its uid and pid"
	pass "a member of the group may use the API; its call is logged with uid $(id -u "$MEMBER") and pid"
	id=$(grep -o '"migration_id":"[^"]*"' "$T/member.out" | cut -d'"' -f4)
	req POST "/v1/migrations/$id/cancel"
else
	say "SKIP: not root: control_group and other users not tested"
fi

# --- every mutating call is logged with uid and pid -----------------------

# logged METHOD PATH [curl args]: the call, run in the background to know
# its pid, appears in the log with our uid and that pid.
logged() {
	method=$1 path=$2
	shift 2
	curl -sS --unix-socket "$SOCK" -X "$method" -o "$T/logged.out" "$@" "http://localhost$path" &
	cpid=$!
	wait "$cpid"
	grep -q "control: $method $path by uid $(id -u) pid $cpid" "$T/b.log" ||
		fail "$method $path not logged with uid $(id -u) and pid $cpid"
}
logged POST /v1/devices/sim0/incoming
id=$(json_get migration_id <"$T/logged.out")
[ -n "$id" ] || fail "incoming: $(cat "$T/logged.out")"
logged POST "/v1/migrations/$id/switchover"
logged POST "/v1/migrations/$id/cancel"
logged POST /v1/migrations -d '{"device":"sim0"}'
logged POST /v1/migrations -d '{"device":' # refused calls too
pass "every mutating call (incoming, migrations, switchover, cancel) logged with uid and pid"

# --- bounds ---------------------------------------------------------------

count_migrations() { api b GET /v1/migrations | grep -o '"id"' | wc -l; }
before=$(count_migrations)

head -c 70000 /dev/zero | tr '\0' x | sed 's/^/{"device":"/; s/$/"}/' >"$T/big.json"
req POST /v1/migrations -H 'Content-Type: application/json' --data-binary @"$T/big.json"
# Nothing was created either (checked below).
is_error 413 request-too-large || fail "a 70 KB body: $STATUS $BODY"
pass "a 70 KB body is refused (413 request-too-large)"
head -c 100000 /dev/zero | tr '\0' ' ' >"$T/big.txt"
req POST /v1/migrations -H 'Transfer-Encoding: chunked' --data-binary @"$T/big.txt"
is_error 411 bad-request || fail "a 100 KB chunked body: $STATUS $BODY"
pass "a 100 KB chunked body is refused (411: a body needs a Content-Length)"
# Just under the bound it is parsed (and refused for what it says).
head -c 60000 /dev/zero | tr '\0' x | sed 's/^/{"device":"sim0","padding":"/; s/$/"}/' >"$T/near.json"
req POST /v1/migrations --data-binary @"$T/near.json"
is_error 400 bad-request && echo "$BODY" | grep -q 'unknown field' ||
	fail "a 60 KB body should be parsed: $STATUS $BODY"
pass "a 60 KB body is read and judged on its content (400 unknown field)"

long=$(head -c 600 /dev/zero | tr '\0' a)
req GET "/v1/devices/$long"
is_error 414 request-too-large || fail "a 600-byte path: $STATUS $BODY"
pass "a 600-byte path is refused (414 request-too-large)"
long=$(head -c 20000 /dev/zero | tr '\0' a)
req GET "/v1/devices/$long"
is_error 414 request-too-large || fail "a 20 KB path: $STATUS $BODY"
pass "a 20 KB request line is refused (414 request-too-large)"
req GET /v1/health -H "X-Filler: $(head -c 20000 /dev/zero | tr '\0' a)"
is_error 431 request-too-large || fail "20 KB of headers: $STATUS $BODY"
pass "20 KB of headers are refused (431 request-too-large)"

# --- malformed bodies: 400 with a message, every one ----------------------

bad_body() {
	path=$1 body=$2 why=$3
	req POST "$path" -H 'Content-Type: application/json' --data-binary "$body"
	is_error 400 bad-request || fail "$why ($body): $STATUS $BODY"
}
M=/v1/migrations
OK='"device":"sim0","destination":"127.0.0.1:1","token":"abcd"'
bad_body $M '{"device":"sim0"' "truncated"
bad_body $M '{"device":"sim0",' "truncated after a comma"
bad_body $M '[1,2]' "an array"
bad_body $M '"sim0"' "a string"
bad_body $M '42' "a number"
bad_body $M 'null' "null"
bad_body $M '{"device":"sim0","device":"sim0"}' "a duplicate key"
bad_body $M '{"device":"sim0"} {}' "trailing data"
bad_body $M $'\xff\xfe{}' "not UTF-8"
bad_body $M '{"device":"sim\u0000x","destination":"h:1","token":"ab"}' "a NUL in a string"
bad_body $M '' "no body"
bad_body $M '{}' "no fields"
bad_body $M "{$OK,\"bogus\":1}" "an unknown field"
bad_body $M '{"device":5,"destination":"127.0.0.1:1","token":"abcd"}' "device a number"
bad_body $M '{"device":"","destination":"127.0.0.1:1","token":"abcd"}' "device empty"
bad_body $M "{$OK,\"downtime_limit_ms\":\"fast\"}" "downtime_limit_ms a string"
bad_body $M "{$OK,\"downtime_limit_ms\":1.5}" "downtime_limit_ms a fraction"
bad_body $M "{$OK,\"max_bandwidth\":-1}" "max_bandwidth negative"
bad_body $M "{$OK,\"max_bandwidth\":1e30}" "max_bandwidth 1e30"
bad_body $M "{$OK,\"max_bandwidth\":18446744073709551616}" "max_bandwidth above 2^64"
bad_body $M "{$OK,\"switchover\":\"sometimes\"}" "switchover unknown"
bad_body $M "{$OK,\"switchover\":true}" "switchover a boolean"
bad_body $M "{$OK,\"chunk_size\":1}" "chunk_size too small"
bad_body $M "{$OK,\"channels\":0}" "channels 0"
bad_body $M "{$OK,\"precopy_timeout_s\":null}" "precopy_timeout_s null"
bad_body $M '{"device":"sim0","destination":"no-port","token":"abcd"}' "destination without a port"
bad_body $M '{"device":"sim0","destination":"127.0.0.1:1","token":"not a token!"}' "token with spaces"
bad_body $M '{"device":"sim0","destination":"127.0.0.1:1","token":{"a":1}}' "token an object"
bad_body /v1/devices/sim0/incoming '{"device":"sim0"}' "incoming takes no field"
bad_body /v1/devices/sim0/incoming '[]' "incoming with an array"
pass "30 malformed bodies: each 400 bad-request with a message"
req GET "/v1/events?migration=nonsense"
is_error 400 bad-request || fail "a bad events filter: $STATUS $BODY"
pass "a malformed query is 400 bad-request with a message"
[ "$(count_migrations)" = "$before" ] || fail "a refused request created a migration"
[ "$(device_state b sim0)" = running ] || fail "the device is not running"
pass "no refused request created a migration or touched the device"

# --- paths and methods ----------------------------------------------------

req GET /v1/nothing
is_error 404 not-found || fail "unknown path: $STATUS $BODY"
req GET /v1/devices/nosuch
is_error 404 not-found || fail "unknown device: $STATUS $BODY"
req GET /v1/migrations/00000000-0000-0000-0000-000000000000
is_error 404 not-found || fail "unknown migration: $STATUS $BODY"
pass "unknown paths and objects: 404 not-found with a message"
req POST /v1/health
[ "$STATUS" = 405 ] || fail "POST /v1/health: $STATUS $BODY"
req GET "/v1/migrations/$id/cancel"
[ "$STATUS" = 405 ] || fail "GET on a POST-only path: $STATUS $BODY"
req POST /v1/devices
[ "$STATUS" = 405 ] || fail "POST /v1/devices: $STATUS $BODY"
echo "$BODY" | grep -q '"message":"[^"]' || fail "405 without a message: $BODY"
pass "a method the path does not take: 405 with a message"
for m in DELETE PUT PATCH; do
	req "$m" /v1/health
	is_error 405 bad-request || fail "$m /v1/health: $STATUS $BODY"
done
req BREW /v1/health
is_error 501 not-implemented || fail "BREW /v1/health: $STATUS $BODY"
pass "DELETE, PUT, PATCH refused (405), an unknown method 501, each a JSON error"

ctl b health >/dev/null || fail "the daemon stopped serving"
pass "the daemon still serves"
