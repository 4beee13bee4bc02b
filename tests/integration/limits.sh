#!/bin/bash
# Resource bounds (issue #7): max_migrations, max_watchers and
# max_connections, each configured low and each reached.
#
# Past a limit the daemon answers 503 limit-reached with a message naming
# the setting (API), or closes the connection and logs max_connections
# (migration port); what is already running is not disturbed, and the
# limit counts only what is active: once something ends, the next one is
# taken. A limit of 0 is a configuration error.
. "$(dirname "$0")/lib.sh"

certs
DEVICES="[device d1]
backend = sim
size = 4M
dirty_rate = 1M
image = @DIR@/d1.img
seed = 1

[device d2]
backend = sim
size = 4M
dirty_rate = 0
image = @DIR@/d2.img
seed = 3"
EXTRA_DAEMON="max_migrations = 1"
write_config a host-a
DEVICES=$(echo "$DEVICES" | sed 's/dirty_rate = 1M/dirty_rate = 0/; s/seed = 1/seed = 2/; s/seed = 3/seed = 4/')
EXTRA_DAEMON="max_migrations = 1
max_watchers = 1
max_connections = 2"
write_config b host-b
start_daemon a
start_daemon b
C="$T/certs"

# req NAME METHOD PATH [curl args]: sets STATUS and BODY.
req() {
	name=$1 method=$2 path=$3
	shift 3
	STATUS=$(curl -sS --unix-socket "$T/$name.sock" -X "$method" -o "$T/body" -w '%{http_code}' \
		"$@" "http://localhost$path")
	BODY=$(cat "$T/body")
}
limit_reached() {
	[ "$STATUS" = 503 ] &&
		echo "$BODY" | grep -Eq "^\{\"error\":\{\"code\":\"limit-reached\",\"message\":\"[^\"]*$1"
}

# --- max_watchers ---------------------------------------------------------

curl -sS -N --unix-socket "$T/b.sock" http://localhost/v1/events >"$T/watcher1.out" 2>&1 &
W1=$!
PIDS="$PIDS $W1"
sleep 0.3
req b GET /v1/events --max-time 2
limit_reached max_watchers || fail "a second watcher with max_watchers = 1: $STATUS $BODY"
pass "max_watchers = 1: a second GET /v1/events gets 503 limit-reached"

# --- max_migrations -------------------------------------------------------

req b POST /v1/devices/d1/incoming
[ "$STATUS" = 201 ] || fail "incoming d1: $STATUS $BODY"
TOKEN1=$(echo "$BODY" | json_get token)
BID1=$(echo "$BODY" | json_get migration_id)
req b POST /v1/devices/d2/incoming
limit_reached max_migrations || fail "a second incoming with max_migrations = 1: $STATUS $BODY"
api b GET /v1/devices/d2 | grep -q '"busy":false' || fail "the refused incoming took the device"
pass "max_migrations = 1 (destination): a second incoming gets 503 limit-reached"

i=0
until grep -q "$BID1" "$T/watcher1.out"; do
	i=$((i + 1))
	[ $i -lt 30 ] || fail "the watcher heard nothing of the new migration: $(cat "$T/watcher1.out")"
	sleep 0.1
done
pass "the one watcher still gets its events"

req a POST /v1/migrations -d "{\"device\":\"d1\",\"destination\":\"127.0.0.1:$PB\",\"token\":\"$TOKEN1\",\"switchover\":\"manual\",\"max_bandwidth\":1048576}"
[ "$STATUS" = 202 ] || fail "migrate d1: $STATUS $BODY"
ID1=$(echo "$BODY" | json_get id)
wait_phase a "$ID1" precopy
req a POST /v1/migrations -d "{\"device\":\"d2\",\"destination\":\"127.0.0.1:$PB\",\"token\":\"abcd\"}"
limit_reached max_migrations || fail "a second migration with max_migrations = 1: $STATUS $BODY"
n=$(api a GET /v1/migrations | grep -o '"id"' | wc -l)
[ "$n" = 1 ] || fail "the refused migration exists anyway ($n migrations)"
api a GET /v1/devices/d2 | grep -q '"busy":false' || fail "the refused migration took the device"
pass "max_migrations = 1 (source): a second POST /v1/migrations gets 503 limit-reached"

# --- max_connections: connections that have not said HELLO ----------------

exec 5<>"/dev/tcp/127.0.0.1/$PB" 6<>"/dev/tcp/127.0.0.1/$PB"
sleep 0.2
lines=$(wc -l <"$T/b.log")
out=$(echo | timeout 5 openssl s_client -connect "127.0.0.1:$PB" -CAfile "$C/ca-cert.pem" \
	-cert "$C/host-a-cert.pem" -key "$C/host-a-key.pem" -ign_eof 2>&1)
! echo "$out" | grep -q "New, TLSv1.3" || fail "a third connection got TLS: $out"
sleep 0.1
tail -n +$((lines + 1)) "$T/b.log" | grep -q "refused: too many connections without a HELLO (max_connections)" ||
	fail "the refusal is not logged with max_connections"
api b GET /metrics | grep -Eq 'vfio_migd_tls_handshake_failures_total\{reason="max-connections"\} [1-9]' ||
	fail "the refusal is not counted in /metrics"
pass "max_connections = 2: a third connection without HELLO is refused (logged, counted)"

# The migration in progress is authenticated: it does not count, and goes on.
b1=$(api a GET "/v1/migrations/$ID1" | json_get bytes_transferred)
sleep 0.5
b2=$(api a GET "/v1/migrations/$ID1" | json_get bytes_transferred)
[ "$(api a GET "/v1/migrations/$ID1" | json_get phase)" = precopy ] && [ "$b2" -gt "$b1" ] ||
	fail "the running migration was disturbed: $(api a GET "/v1/migrations/$ID1")"
pass "the running migration does not count against max_connections and goes on"

# One of the two goes away: the next connection is taken.
exec 5<&-
i=0
until echo | timeout 5 openssl s_client -connect "127.0.0.1:$PB" -CAfile "$C/ca-cert.pem" \
	-cert "$C/host-a-cert.pem" -key "$C/host-a-key.pem" 2>&1 | grep -q "New, TLSv1.3"; do
	i=$((i + 1))
	[ $i -lt 20 ] || fail "no connection taken after one of the two closed"
	sleep 0.1
done
exec 6<&-
pass "once one closes, a new connection is taken"

# --- the limits count what is active --------------------------------------

req a POST "/v1/migrations/$ID1/cancel"
[ "$STATUS" = 200 ] || fail "cancel: $STATUS $BODY"
wait_phase b "$BID1" failed cancelled
TOKEN2=$(api b POST /v1/devices/d2/incoming | json_get token)
[ -n "$TOKEN2" ] || fail "incoming d2 after the first migration ended"
out=$(timeout 60 "$MIGCTL" -s "$T/a.sock" --json migrate d2 --to "127.0.0.1:$PB" \
	--token "$TOKEN2" --wait | tail -n 1)
[ "$(echo "$out" | json_get phase)" = completed ] || fail "migrate d2 after the first ended: $out"
pass "after the first migration ended, the next is taken on both sides (completed)"

kill "$W1"
wait "$W1" 2>/dev/null
i=0
while :; do
	req b GET /v1/events --max-time 1
	[ "$STATUS" = 200 ] && break
	i=$((i + 1))
	[ $i -lt 20 ] || fail "no watcher taken after the first left: $STATUS $BODY"
	sleep 0.1
done
pass "after the first watcher left, a new one is taken"

# --- 0 is not a limit -----------------------------------------------------

for key in max_migrations max_watchers max_connections; do
	sed -e "/^$key = /d" -e "/^\[daemon\]/a $key = 0" "$T/a.conf" >"$T/zero.conf"
	if out=$("$MIGD" -t -c "$T/zero.conf" 2>&1); then
		fail "$key = 0 accepted"
	fi
	echo "$out" | grep -q "$key: must be 1\.\." || fail "$key = 0: $out"
done
pass "max_migrations, max_watchers, max_connections = 0: configuration errors naming the key"
