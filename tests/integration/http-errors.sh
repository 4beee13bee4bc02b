#!/bin/bash
# Every answer on the control socket is JSON (issue 17, SPEC §4): what the
# daemon's HTTP server refuses itself — a body over 64 KiB (413), an
# unknown method (501), a request target over 511 bytes (414), a malformed
# request line (400), another HTTP version (505), headers over 16 KiB
# (431), a chunked request body (411), a method the path does not take
# (405 with Allow) — is {"error":{"code","message"}} with
# Content-Type: application/json, tried with curl and with raw bytes
# (tests/integration/rawhttp.py). And what a client may rely on: keep-alive
# (two requests on one connection, with curl and raw), pipelined requests
# answered in order, HEAD, HTTP/1.0, a request sent in pieces, the event
# stream in chunks, and a watcher that goes away is let go.
. "$(dirname "$0")/lib.sh"

certs
DEVICES="[device sim0]
backend = sim
size = 64K
dirty_rate = 0
image = @DIR@/sim0.img
seed = 2"
write_config b host-b
start_daemon b
SOCK="$T/b.sock"
RAW="$SRCDIR/tests/integration/rawhttp.py"

# raw ARGS... < BYTES: rawhttp.py's lines into OUT (not in a pipeline,
# which would set OUT in a subshell: raw < <(printf ...)).
raw() {
	OUT=$(python3 "$RAW" "$SOCK" "$@") || fail "rawhttp.py $*: $OUT"
}
# curl_req [ARGS...]: STATUS, the headers in $T/head, BODY.
curl_req() {
	STATUS=$(curl -sS --unix-socket "$SOCK" -D "$T/head" -o "$T/body" -w '%{http_code}' "$@")
	BODY=$(cat "$T/body")
}
# json_error STATUS CODE TEXT: a JSON error of that status and code, with
# TEXT in its message, is what curl got.
json_error() {
	[ "$STATUS" = "$1" ] || fail "wanted $1 $2, got $STATUS $BODY"
	grep -qi '^content-type: application/json' "$T/head" || fail "$1 is not JSON: $(cat "$T/head")"
	echo "$BODY" | grep -Eq "^\{\"error\":\{\"code\":\"$2\",\"message\":\"[^\"]*$3" ||
		fail "$1: not the JSON error $2 \"$3\": $BODY"
}
# raw_error LINE STATUS CODE TEXT: the same, for a line of rawhttp.py.
raw_error() {
	echo "$1" | grep -Eq "^status=$2 type=application/json .* body=\{\"error\":\{\"code\":\"$3\",\"message\":\"[^\"]*$4" ||
		fail "raw: wanted $2 $3 \"$4\", got: $1"
}
crlf() { sed 's/$/\r/'; }

# --- what the server refuses: JSON, with curl and raw bytes -------------------

head -c 70000 /dev/zero | tr '\0' x | sed 's/^/{"device":"/; s/$/"}/' >"$T/big.json"
curl_req -X POST --data-binary @"$T/big.json" http://localhost/v1/migrations
json_error 413 request-too-large "larger than 65536 bytes"
# Without Expect: 100-continue the body is on its way when the answer is
# written: the daemon reads it away before it closes (no reset).
{ printf 'POST /v1/migrations HTTP/1.1\r\nHost: localhost\r\nContent-Length: 70000\r\n\r\n'; head -c 70000 /dev/zero; } >"$T/big.raw"
raw --closed <"$T/big.raw"
raw_error "$(echo "$OUT" | head -n 1)" 413 request-too-large "larger than 65536"
echo "$OUT" | grep -q "conn=close" || fail "413 without Connection: close: $OUT"
[ "$(echo "$OUT" | tail -n 1)" = closed ] || fail "413: the connection stays: $OUT"
pass "a body over 64 KiB: 413 request-too-large (curl with Expect, raw with the whole body sent)"

curl_req -X BREW http://localhost/v1/health
json_error 501 not-implemented "unknown method BREW"
raw --closed < <(printf 'BREW /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n')
raw_error "$(echo "$OUT" | head -n 1)" 501 not-implemented "unknown method BREW"
[ "$(echo "$OUT" | tail -n 1)" = closed ] || fail "501: the connection stays: $OUT"
pass "an unknown method: 501 not-implemented"

long=$(head -c 600 /dev/zero | tr '\0' a)
curl_req "http://localhost/v1/devices/$long"
json_error 414 request-too-large "longer than 511 bytes"
long=$(head -c 20000 /dev/zero | tr '\0' a)
raw --closed < <(printf 'GET /v1/devices/%s HTTP/1.1\r\nHost: localhost\r\n\r\n' "$long")
raw_error "$(echo "$OUT" | head -n 1)" 414 request-too-large "longer than 511 bytes"
pass "a request target over 511 bytes: 414 request-too-large (600 B with curl, 20 KB raw)"

for line in 'GARBAGE' 'GET /v1/health' 'GET  /v1/health HTTP/1.1' 'GET /v1/health HTTP/1.1 x' \
	'GET v1/health HTTP/1.1'; do
	raw --closed < <(printf '%s\r\nHost: localhost\r\n\r\n' "$line")
	raw_error "$(echo "$OUT" | head -n 1)" 400 bad-request ""
	[ "$(echo "$OUT" | tail -n 1)" = closed ] || fail "400: the connection stays: $OUT"
done
raw < <(printf 'GET /v1/health HTTP/1.1\r\n\r\n')
raw_error "$OUT" 400 bad-request "needs a Host header"
raw < <(printf 'GET /v1/devices/a%%zz HTTP/1.1\r\nHost: x\r\n\r\n')
raw_error "$OUT" 400 bad-request "percent-encoding"
raw < <(printf 'GET /v1/health HTTP/1.1\r\nHost: x\r\nX-A: b\r\n folded\r\n\r\n')
raw_error "$OUT" 400 bad-request "line folding"
pass "malformed request lines and headers: 400 bad-request, the connection closed"

raw < <(printf 'GET /v1/health HTTP/2.0\r\nHost: localhost\r\n\r\n')
raw_error "$OUT" 505 not-implemented "HTTP/2.0 is not supported"
pass "HTTP/2.0 in a request line: 505 not-implemented"

curl_req http://localhost/v1/health -H "X-Filler: $(head -c 20000 /dev/zero | tr '\0' a)"
json_error 431 request-too-large "head is larger than 16384"
{
	printf 'GET /v1/health HTTP/1.1\r\nHost: localhost\r\n'
	for i in $(seq 70); do printf 'X-%d: y\r\n' "$i"; done
	printf '\r\n'
} >"$T/many-headers"
raw <"$T/many-headers"
raw_error "$OUT" 431 request-too-large "more than 64 header lines"
pass "headers over 16 KiB or over 64 lines: 431 request-too-large"

curl_req -X POST -H 'Transfer-Encoding: chunked' --data-binary '{}' http://localhost/v1/migrations
json_error 411 bad-request "needs a Content-Length"
pass "a chunked request body: 411 bad-request"

curl_req -X DELETE http://localhost/v1/health
json_error 405 bad-request "method not allowed"
grep -qi '^allow: GET, HEAD' "$T/head" || fail "405 without Allow: $(cat "$T/head")"
curl_req http://localhost/v1/migrations/x/cancel
json_error 405 bad-request "method not allowed"
grep -qi '^allow: POST' "$T/head" || fail "405 without Allow: POST: $(cat "$T/head")"
curl_req http://localhost/v1/nothing
json_error 404 not-found "no such endpoint"
# A path that is not UTF-8 once decoded: its stray byte shows as '?'.
curl_req http://localhost/v1/devices/gpu%ff
json_error 404 not-found 'no device named \\"gpu\?\\"'
pass "a method the path does not take: 405 with Allow; an unknown path 404; both JSON"

# --- what a client may rely on --------------------------------------------

# curl with two URLs reuses its connection when the daemon keeps it.
curl -sS -v --unix-socket "$SOCK" http://localhost/v1/health http://localhost/v1/devices \
	>"$T/two" 2>"$T/two.err" || fail "two requests: $(cat "$T/two.err")"
grep -q "Re-using existing connection" "$T/two.err" || fail "curl opened a second connection: $(cat "$T/two.err")"
[ "$(grep -c '^{' "$T/two")" = 2 ] || fail "two requests, answers: $(cat "$T/two")"
raw --again 1 < <(printf 'GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n')
[ "$(echo "$OUT" | grep -c '^status=200 type=application/json conn= .*"status":"ok"')" = 2 ] ||
	fail "keep-alive, raw: $OUT"
pass "keep-alive: two requests on one connection (curl reuses it; raw, one after the other)"

{
	printf 'GET /v1/health HTTP/1.1\r\nHost: a\r\n\r\n'
	printf 'POST /v1/devices/nosuch/incoming HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}'
	printf 'GET /v1/devices/sim0 HTTP/1.1\r\nHost: a\r\n\r\n'
	printf 'GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'
} >"$T/pipelined"
raw -n 4 --closed <"$T/pipelined"
echo "$OUT" | sed -n 1p | grep -q '^status=200 .*"status":"ok"' || fail "pipelined 1: $OUT"
raw_error "$(echo "$OUT" | sed -n 2p)" 404 not-found 'no device named \\"nosuch\\"'
echo "$OUT" | sed -n 3p | grep -q '^status=200 .*"name":"sim0"' || fail "pipelined 3: $OUT"
echo "$OUT" | sed -n 4p | grep -q '^status=200 type=text/plain.* conn=close .*vfio_migd' ||
	fail "pipelined 4: $OUT"
[ "$(echo "$OUT" | tail -n 1)" = closed ] || fail "Connection: close did not close: $OUT"
# The same bytes a few at a time: the same answers.
raw -n 4 --pieces 40 <"$T/pipelined"
echo "$OUT" | sed -n 3p | grep -q '^status=200 .*"name":"sim0"' || fail "in pieces: $OUT"
pass "four pipelined requests answered in order, also sent in 40 pieces; Connection: close closes"

raw --head < <(printf 'HEAD /v1/devices/sim0 HTTP/1.1\r\nHost: a\r\n\r\n')
hlen=$(echo "$OUT" | sed -n 's/.* len=\([0-9]*\) .*/\1/p')
curl_req http://localhost/v1/devices/sim0
# The body ends in a newline, which $(cat) took off.
[ "$hlen" = $((${#BODY} + 1)) ] || fail "HEAD: Content-Length $hlen, GET's body ${#BODY}: $OUT"
curl -sS -I --unix-socket "$SOCK" http://localhost/v1/health >"$T/head.out" || fail "curl -I"
grep -q '^HTTP/1.1 200' "$T/head.out" || fail "HEAD: $(cat "$T/head.out")"
pass "HEAD: GET's head (Content-Length $hlen), no body"

raw --closed < <(printf 'GET /v1/health HTTP/1.0\r\n\r\n')
echo "$OUT" | head -n 1 | grep -q '^status=200 .*"status":"ok"' || fail "HTTP/1.0: $OUT"
[ "$(echo "$OUT" | tail -n 1)" = closed ] || fail "HTTP/1.0 without keep-alive stays open: $OUT"
raw --again 1 < <(printf 'GET /v1/health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n')
[ "$(echo "$OUT" | grep -c '^status=200 type=application/json conn=keep-alive')" = 2 ] ||
	fail "HTTP/1.0 keep-alive: $OUT"
out=$(curl -sS -0 --unix-socket "$SOCK" http://localhost/v1/health)
echo "$out" | grep -q '"status":"ok"' || fail "curl -0: $out"
pass "HTTP/1.0: answered and closed; with Connection: keep-alive kept"

# --- the event stream -----------------------------------------------------

gauge() { api b GET /metrics | sed -n "s/^$1 //p"; }
wait_watchers() {
	i=0
	until [ "$(gauge vfio_migd_event_watchers)" = "$1" ]; do
		[ $i -lt 100 ] || fail "$(gauge vfio_migd_event_watchers) event watchers, wanted $1"
		sleep 0.1
		i=$((i + 1))
	done
}
wait_watchers 0
printf 'GET /v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n' | python3 "$RAW" "$SOCK" --stream 2 >"$T/stream" 2>&1 &
spid=$!
PIDS="$PIDS $spid"
wait_watchers 1
id=$(ctl b --json incoming sim0 | json_get migration_id)
[ -n "$id" ] || fail "incoming sim0"
ctl b cancel "$id" >/dev/null || fail "cancel $id"
wait "$spid" || fail "the stream: $(cat "$T/stream")"
head -n 1 "$T/stream" | grep -q '^status=200 type=application/x-ndjson .* te=chunked len= ' ||
	fail "the stream's head: $(cat "$T/stream")"
grep -q "^chunk={\"type\":\"created\",\"migration\":\"$id\"" "$T/stream" ||
	fail "the stream's first chunk: $(cat "$T/stream")"
# The watcher closed its connection after two chunks: the daemon lets go.
wait_watchers 0
pass "GET /v1/events: chunked, one event a chunk; a watcher that goes away is let go"

curl -sSN --unix-socket "$SOCK" http://localhost/v1/events >"$T/curl-stream" 2>&1 &
cpid=$!
PIDS="$PIDS $cpid"
wait_watchers 1
id=$(ctl b --json incoming sim0 | json_get migration_id)
i=0
until grep -q "\"migration\":\"$id\"" "$T/curl-stream"; do
	[ $i -lt 100 ] || fail "curl's stream: $(cat "$T/curl-stream")"
	sleep 0.1
	i=$((i + 1))
done
kill "$cpid"
wait "$cpid" 2>/dev/null
wait_watchers 0
ctl b cancel "$id" >/dev/null || fail "cancel $id"
raw --head < <(printf 'HEAD /v1/events HTTP/1.1\r\nHost: a\r\n\r\n')
echo "$OUT" | grep -q '^status=200 type=application/x-ndjson .* te=chunked' || fail "HEAD /v1/events: $OUT"
[ "$(gauge vfio_migd_event_watchers)" = 0 ] || fail "HEAD /v1/events left a watcher"
pass "curl -N follows the stream until killed, then it is let go; HEAD /v1/events watches nothing"

ctl b health >/dev/null || fail "the daemon stopped serving"
pass "the daemon still serves"
