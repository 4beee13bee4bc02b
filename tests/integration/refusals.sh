#!/bin/bash
# A wrong token, an untrusted certificate and an incompatible device are
# each refused with their own error code, and neither device is touched:
# the source keeps running, the destination's image is unchanged.
. "$(dirname "$0")/lib.sh"

certs
dev() {
	printf '[device %s]\nbackend = sim\nsize = %s\ndirty_rate = %s\nimage = @DIR@/%s.img\nseed = %s\n\n' \
		"$1" "$2" "$3" "$1" "$4"
}
DEVICES=$(printf '%s\n%s\n' "$(dev sim0 8M 4M 1)" "$(dev big 16M 0 3)")
write_config a host-a
DEVICES=$(printf '%s\n%s\n' "$(dev sim0 8M 0 2)" "$(dev big 8M 0 4)")
write_config b host-b
# A daemon whose certificate comes from another CA.
DEVICES=$(dev sim0 8M 0 5)
CA=rogue-ca write_config r rogue
start_daemon a
start_daemon b
start_daemon r

before=$(sha "$T/b/sim0.img")

# 1. Wrong token.
ctl b --json incoming sim0 >/dev/null || fail "incoming"
out=$(ctl a --json migrate sim0 --to "127.0.0.1:$PB" --token deadbeef --wait | tail -n 1)
[ "$(echo "$out" | json_get code)" = bad-token ] || fail "wrong token: $out"
[ "$(device_state a sim0)" = running ] || fail "source device not running after refusal"
[ "$(sha "$T/b/sim0.img")" = "$before" ] || fail "destination image changed"
grep -q "bad-token" "$T/b.log" || fail "destination did not log the refusal"
pass "wrong token refused with bad-token, devices untouched"

# The destination's migration still waits for the right token.
tok=$(api b GET /v1/migrations | json_get phase)
[ "$tok" = setup ] || fail "destination migration should still wait, is $tok"

# 2. Untrusted certificate, both directions: r (rogue CA) to b, a to r.
out=$(ctl b --json incoming big) || fail "incoming big"
token=$(echo "$out" | json_get token)
out=$(ctl r --json migrate sim0 --to "127.0.0.1:$PB" --token "$token" --wait | tail -n 1)
code=$(echo "$out" | json_get code)
case "$code" in
tls-error | peer-untrusted | connection-lost) ;;
*) fail "rogue certificate: $out" ;;
esac
[ "$(device_state r sim0)" = running ] || fail "rogue's device not running"
grep -Eq "certificate|TLS" "$T/b.log" || fail "destination did not log the TLS refusal"
out=$(ctl a --json migrate sim0 --to "127.0.0.1:$PR" --token abcd --wait | tail -n 1)
code=$(echo "$out" | json_get code)
case "$code" in
tls-error | peer-untrusted) ;;
*) fail "server with a rogue certificate: $out" ;;
esac
[ "$(device_state a sim0)" = running ] || fail "source device not running after TLS refusal"
pass "certificates from another CA refused ($code), devices untouched"

# 3. Incompatible device: a's big (16M) to b's big (8M), with a good token.
beforebig=$(sha "$T/b/big.img")
out=$(ctl a --json migrate big --to "127.0.0.1:$PB" --token "$token" --wait | tail -n 1)
[ "$(echo "$out" | json_get code)" = incompatible-device ] || fail "incompatible: $out"
[ "$(device_state a big)" = running ] || fail "source big not running"
[ "$(sha "$T/b/big.img")" = "$beforebig" ] || fail "destination big image changed"
pass "incompatible device refused with incompatible-device, devices untouched"

# 4. Unknown device name on the destination.
out=$(ctl a --json migrate sim0 --to "127.0.0.1:$PB" --token "$token" --dest-device nosuch --wait | tail -n 1)
[ "$(echo "$out" | json_get code)" = unknown-device ] || fail "unknown device: $out"
pass "unknown destination device refused with unknown-device"

# Both daemons still serve.
ctl a health >/dev/null && ctl b health >/dev/null || fail "a daemon stopped serving"
pass "daemons still serving"
