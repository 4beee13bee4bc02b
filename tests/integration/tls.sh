#!/bin/bash
# TLS posture (issue #7, SPEC §7 "Mutual TLS only"), probed from outside
# with openssl s_client and s_server.
#
# As a server (destination), the daemon speaks TLS 1.3 only, with the
# X25519, P-256 and P-384 key exchanges only, and refuses a client offering
# only ffdhe2048, one with no certificate, a certificate from another CA, an expired one,
# or one the CA signed but allowed_peers leaves out; each refusal is logged
# with its reason and counted in /metrics. A good certificate gets a TLS 1.3
# session in which the daemon speaks the migration protocol; plaintext gets
# nothing. As a client (source), it refuses a destination that offers TLS
# 1.2, or presents a certificate from another CA, an expired one, or one not
# in allowed_peers.
#
# The one-time token: a second HELLO with a token in use is refused
# (token-expired), a spent token is refused afterwards (bad-token or
# token-expired), and a token nobody used expires after token_ttl_s (10 s,
# the minimum the configuration accepts): the destination's migration fails
# with token-expired and a late source is refused.
. "$(dirname "$0")/lib.sh"

PT="$BUILD/tests/peer_tool"
[ -x "$PT" ] || fail "build tests/peer_tool first (make check does)"
HS=1000 # handshake_timeout_ms
TTL=10	# token_ttl_s

certs
C="$T/certs"
DEVICES="[device sim0]
backend = sim
size = 4M
dirty_rate = 1M
image = @DIR@/sim0.img
seed = 1

[device exp]
backend = sim
size = 4M
dirty_rate = 0
image = @DIR@/exp.img
seed = 3"
EXTRA_TLS="allowed_peers = host-a host-b"
EXTRA_DAEMON="handshake_timeout_ms = $HS
token_ttl_s = $TTL"
write_config a host-a
DEVICES=$(echo "$DEVICES" | sed 's/dirty_rate = 1M/dirty_rate = 0/; s/seed = 1/seed = 2/')
PEER_TIMEOUT_MS=3000 write_config b host-b
start_daemon a
start_daemon b

now_s() { date +%s; }

# The expiry clock of one token starts now; the rest runs meanwhile.
T_TOKEN=$(now_s)
out=$(api b POST /v1/devices/exp/incoming)
EXP_TOKEN=$(echo "$out" | json_get token)
EXP_ID=$(echo "$out" | json_get migration_id)
expires=$(date -d "$(echo "$out" | json_get expires_at)" +%s)
# (Up to 5 s more: the API call's own time on a loaded machine.)
[ $((expires - T_TOKEN)) -ge $((TTL - 1)) ] && [ $((expires - T_TOKEN)) -le $((TTL + 5)) ] ||
	fail "token expires_at is $((expires - T_TOKEN)) s away, token_ttl_s is $TTL: $out"
pass "incoming token expires in token_ttl_s ($TTL s)"

# --- the daemon as a TLS server -------------------------------------------

# probe NAME ARGS: s_client against b; it reads until the daemon closes.
probe() {
	name=$1
	shift
	lines=$(wc -l <"$T/b.log")
	echo | timeout 10 openssl s_client -connect "127.0.0.1:$PB" -CAfile "$C/ca-cert.pem" \
		-verify_return_error -ign_eof "$@" >"$T/probe-$name.out" 2>&1
	PROBE_RC=$?
	sleep 0.1
	PROBE_LOG=$(tail -n +$((lines + 1)) "$T/b.log")
}

# refused NAME LOG_REASON ARGS: the handshake fails and b says why.
refused() {
	name=$1 reason=$2
	shift 2
	probe "$name" "$@"
	[ "$PROBE_RC" -ne 0 ] || fail "$name: s_client succeeded: $(cat "$T/probe-$name.out")"
	! grep -q VFMG "$T/probe-$name.out" || fail "$name: the daemon spoke the protocol to it"
	echo "$PROBE_LOG" | grep -q "TLS handshake failed: .*$reason" ||
		fail "$name: b did not log \"$reason\": $PROBE_LOG"
	pass "$name: refused, logged \"$(echo "$PROBE_LOG" | grep -o "TLS handshake failed: .*$reason[^(]*" | head -n 1)\""
}

refused "TLS 1.2" "unsupported protocol" -tls1_2 -cert "$C/host-a-cert.pem" -key "$C/host-a-key.pem"
grep -q "alert protocol version" "$T/probe-TLS 1.2.out" || fail "TLS 1.2: no protocol_version alert"
refused "no client certificate" "peer did not return a certificate" -tls1_3
refused "certificate from another CA" "unknown-ca" -tls1_3 -cert "$C/rogue-cert.pem" \
	-key "$C/rogue-key.pem"
refused "expired certificate" "expired" -tls1_3 -cert "$C/expired-cert.pem" -key "$C/expired-key.pem"
# Key exchange: X25519, P-256 and P-384 only by default ([tls] groups);
# ffdhe2048 (112-bit) and the other finite-field groups are not offered.
refused "ffdhe2048 key exchange" "no suitable key share" -tls1_3 -groups ffdhe2048 \
	-cert "$C/host-a-cert.pem" -key "$C/host-a-key.pem"
for g in X25519 P-256 P-384; do
	probe "group $g" -tls1_3 -groups "$g" -cert "$C/host-a-cert.pem" -key "$C/host-a-key.pem"
	grep -q "New, TLSv1.3" "$T/probe-group $g.out" || fail "$g: no TLS 1.3 session: $(cat "$T/probe-group $g.out")"
done
pass "key exchange groups: X25519, P-256, P-384 accepted"

# host-c: signed by the CA, so TLS completes, but allowed_peers says no;
# the daemon answers one ERROR frame (peer-untrusted, so the refused side
# logs the reason too, SPEC §7) and closes: nothing else.
probe host-c -tls1_3 -cert "$C/host-c-cert.pem" -key "$C/host-c-key.pem"
grep -q "your certificate is not in allowed_peers" "$T/probe-host-c.out" ||
	fail "host-c: no peer-untrusted ERROR frame: $(cat "$T/probe-host-c.out")"
echo "$PROBE_LOG" | grep -q "peer host-c (127.0.0.1): refused: not in allowed_peers" ||
	fail "host-c: not logged: $PROBE_LOG"
pass "host-c (not in allowed_peers): refused, logged \"not in allowed_peers\""

# A good certificate: TLS 1.3, verified both ways, and then the protocol
# (no HELLO within handshake_timeout_ms: an ERROR frame, then the end).
probe good -tls1_3 -cert "$C/host-a-cert.pem" -key "$C/host-a-key.pem"
grep -q "New, TLSv1.3" "$T/probe-good.out" || fail "good: not TLS 1.3: $(cat "$T/probe-good.out")"
grep -q "Verify return code: 0 (ok)" "$T/probe-good.out" || fail "good: server not verified"
grep -q "VFMG" "$T/probe-good.out" || fail "good: the daemon did not speak the protocol"
echo "$PROBE_LOG" | grep -q "peer host-a (127.0.0.1): TLS TLSv1.3 established" ||
	fail "good: not logged: $PROBE_LOG"
pass "host-a: TLS 1.3 session, both certificates verified, protocol spoken"

# Plaintext: a frame header straight on TCP is a broken TLS handshake.
lines=$(wc -l <"$T/b.log")
exec 5<>"/dev/tcp/127.0.0.1/$PB"
printf 'VFMG\001\011\000\000\000\000\000\010\000\000\000\000\000\000\000\001' >&5
reply=$(timeout 5 cat <&5 | od -An -c | head -n 2)
exec 5<&-
! echo "$reply" | grep -q "V   F   M   G" || fail "plaintext: the daemon answered in the clear"
sleep 0.1
tail -n +$((lines + 1)) "$T/b.log" | grep -q "TLS handshake failed" || fail "plaintext: not logged"
pass "plaintext frames: refused as a failed TLS handshake, nothing answered in the clear"

# --- the daemon as a TLS client -------------------------------------------

# s_server_refused NAME CODES LOG_REASON ARGS: a destination played by
# openssl s_server; a's migration to it fails and a says why.
s_server_refused() {
	name=$1 codes=$2 reason=$3
	shift 3
	lines=$(wc -l <"$T/a.log")
	openssl s_server -accept 127.0.0.1:0 -quiet -CAfile "$C/ca-cert.pem" -Verify 1 "$@" \
		>"$T/s_server.out" 2>&1 </dev/null &
	spid=$!
	PIDS="$PIDS $spid"
	PS=$(wait_pid_listening "$spid" "$name: s_server") || fail "$name: $(cat "$T/s_server.out")"
	out=$(timeout 20 "$MIGCTL" -s "$T/a.sock" --json migrate sim0 --to "127.0.0.1:$PS" \
		--token abcd --wait 2>/dev/null | tail -n 1)
	kill "$spid" 2>/dev/null
	wait "$spid" 2>/dev/null
	code=$(echo "$out" | json_get code)
	echo "$code" | grep -Eqx "$codes" || fail "$name: a's migration ended \"$code\": $out"
	[ "$(device_state a sim0)" = running ] || fail "$name: a's device is not running"
	tail -n +$((lines + 1)) "$T/a.log" | grep -Eq "$reason" ||
		fail "$name: a did not log \"$reason\": $(tail -n +$((lines + 1)) "$T/a.log")"
	pass "destination $name: a refuses it ($code), logged \"$reason\""
}

s_server_refused "offering TLS 1.2 only" "tls-error" "unsupported protocol|protocol version" \
	-tls1_2 -cert "$C/host-b-cert.pem" -key "$C/host-b-key.pem"
s_server_refused "with a certificate from another CA" "tls-error|peer-untrusted" "unknown-ca" \
	-tls1_3 -cert "$C/rogue-cert.pem" -key "$C/rogue-key.pem"
s_server_refused "with an expired certificate" "tls-error|peer-untrusted" "expired" \
	-tls1_3 -cert "$C/expired-cert.pem" -key "$C/expired-key.pem"
s_server_refused "host-c (not in allowed_peers)" "peer-untrusted" "not in allowed_peers" \
	-tls1_3 -cert "$C/host-c-cert.pem" -key "$C/host-c-key.pem"

# --- the one-time token ---------------------------------------------------

info=$(api b GET /v1/devices/sim0)
pt() {
	"$PT" --connect "127.0.0.1:$PB" --cert "$C/host-a-cert.pem" --key "$C/host-a-key.pem" \
		--ca "$C/ca-cert.pem" --device "$1" --identity "$(echo "$info" | json_get identity)" \
		--compat "$(echo "$info" | sed -n 's/.*"compat":"\([^"]*\)".*/\1/p')" --timeout-ms 8000 \
		--token "$2" "${@:3}" 2>>"$T/peer_tool.log"
}
out=$(api b POST /v1/devices/sim0/incoming)
TOKEN=$(echo "$out" | json_get token)
ID=$(echo "$out" | json_get migration_id)
# A first source takes the token and holds the migration (silently)...
pt sim0 "$TOKEN" --action idle-after-hello >"$T/first.out" &
first=$!
wait_phase b "$ID" precopy
# ...a second one with the same token is refused while it is in use
# (PROTOCOL.md §2.1 says token-expired for a used token; the daemon forgets
# a token once used, so it answers bad-token: either refuses)...
lines=$(wc -l <"$T/b.log")
got=$(pt sim0 "$TOKEN")
case "$got" in bad-token | token-expired) ;; *) fail "second HELLO with a token in use: $got" ;; esac
sleep 0.1
tail -n +$((lines + 1)) "$T/b.log" | grep -q "$got" || fail "second HELLO: refusal not logged"
[ "$(api b GET "/v1/migrations/$ID" | json_get phase)" = precopy ] ||
	fail "the second HELLO disturbed the migration that holds the token"
wait "$first"
wait_phase b "$ID" failed
# ...and once spent, by a real source too.
got=$(pt sim0 "$TOKEN")
case "$got" in bad-token | token-expired) ;; *) fail "spent token: $got" ;; esac
out=$(timeout 20 "$MIGCTL" -s "$T/a.sock" --json migrate sim0 --to "127.0.0.1:$PB" \
	--token "$TOKEN" --wait | tail -n 1)
code=$(echo "$out" | json_get code)
case "$code" in bad-token | token-expired) ;; *) fail "spent token, real source: $out" ;; esac
[ "$(device_state a sim0)" = running ] || fail "source device not running after the refusal"
pass "the token is single-use: refused while in use ($got), and once spent ($code)"

# allowed_peers lets the right peers through: a real migration completes.
TOKEN=$(api b POST /v1/devices/sim0/incoming | json_get token)
out=$(timeout 60 "$MIGCTL" -s "$T/a.sock" --json migrate sim0 --to "127.0.0.1:$PB" \
	--token "$TOKEN" --wait | tail -n 1)
[ "$(echo "$out" | json_get phase)" = completed ] || fail "host-a to host-b: $out"
pass "host-a to host-b (both in allowed_peers): migration completed"

# The unused token: expired once token_ttl_s has passed.
left=$((T_TOKEN + TTL + 1 - $(now_s)))
[ "$left" -le 0 ] || sleep "$left"
wait_phase b "$EXP_ID" failed
out=$(api b GET "/v1/migrations/$EXP_ID")
[ "$(echo "$out" | json_get code)" = token-expired ] || fail "expired token, destination: $out"
[ "$(device_state b exp)" = running ] || fail "expired token: device exp not running"
api b GET /v1/devices/exp | grep -q '"busy":false' || fail "expired token: device exp still busy"
got=$(pt exp "$EXP_TOKEN")
case "$got" in bad-token | token-expired) ;; *) fail "expired token, late HELLO: $got" ;; esac
out=$(timeout 20 "$MIGCTL" -s "$T/a.sock" --json migrate exp --to "127.0.0.1:$PB" \
	--token "$EXP_TOKEN" --wait | tail -n 1)
code=$(echo "$out" | json_get code)
case "$code" in bad-token | token-expired) ;; *) fail "expired token, real source: $out" ;; esac
pass "an unused token expires after token_ttl_s: destination failed token-expired, late source refused ($code)"

# token_ttl_s below 10 s is a configuration error, named as such.
sed "s/^token_ttl_s = .*/token_ttl_s = 9/" "$T/b.conf" >"$T/short.conf"
if out=$("$MIGD" -t -c "$T/short.conf" 2>&1); then
	fail "token_ttl_s = 9 accepted"
fi
echo "$out" | grep -q "token_ttl_s" || fail "token_ttl_s = 9: $out"
pass "token_ttl_s = 9 refused by vfio-migd -t: $(echo "$out" | grep token_ttl_s | head -n 1)"

# The refusals of the server probes above, by reason: each its own label.
metrics=$(api b GET /metrics | grep '^vfio_migd_tls_handshake_failures_total')
for reason in expired unknown-ca no-certificate not-allowed; do
	echo "$metrics" | grep -Eq "reason=\"$reason\"} [1-9]" || fail "metrics: no $reason: $metrics"
done
echo "$metrics" | grep -q 'reason="no-certificate"} 1$' ||
	fail "metrics: one client came without a certificate, counted: $metrics"
pass "TLS refusals counted by reason in /metrics (a TLS 1.2 client is not \"no-certificate\")"
