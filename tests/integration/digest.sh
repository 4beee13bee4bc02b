#!/bin/bash
# [migration] digest (issue 19): END's digest is agreed in HELLO/HELLO_ACK
# (PROTOCOL.md §2.3, §3). By default xxh3-128; sha256 when that is all
# the source offers; with nothing in common the destination refuses the
# HELLO with no-common-digest before any device data moves. A peer older
# than the negotiation offers or names no digest, which means sha256: the
# destination takes one such source, refuses it with no-common-digest when
# it accepts xxh3-128 only, and a source offering xxh3-128 only refuses
# such a destination.
. "$(dirname "$0")/lib.sh"

PT="$BUILD/tests/peer_tool"
[ -x "$PT" ] || fail "build tests/peer_tool first (make check does)"
DEVICES="[device sim0]
backend = sim
size = 16M
dirty_rate = 2M
image = @DIR@/sim0.img
seed = 1"

# pair A_DIGESTS B_DIGESTS: both daemons afresh with these [migration]
# digest lists ("" keeps the default, xxh3-128 then sha256).
pair() {
	[ -z "${PID_a:-}" ] || stop_daemon a
	[ -z "${PID_b:-}" ] || stop_daemon b
	EXTRA_MIGRATION_A=${1:+digest = $1}
	EXTRA_MIGRATION=${2:+digest = $2} start_pair
}

incoming() {
	out=$(ctl b --json incoming sim0)
	TOKEN=$(echo "$out" | json_get token)
	DST_ID=$(echo "$out" | json_get migration_id)
	[ -n "$TOKEN" ] || fail "incoming: $out"
}

# migrate: a to b, waited for; FINAL is the source's last object.
migrate() {
	incoming
	FINAL=$(ctl a --json migrate sim0 --to "127.0.0.1:$PB" --token "$TOKEN" --wait | tail -n 1)
	SRC_ID=$(echo "$FINAL" | json_get id)
}

# completed_with DIGEST: both sides completed, named it, images identical.
completed_with() {
	[ "$(echo "$FINAL" | json_get phase)" = completed ] || fail "$1: $FINAL"
	wait_phase b "$DST_ID" completed
	[ "$(echo "$FINAL" | json_get digest)" = "$1" ] || fail "$1: source object: $FINAL"
	dst=$(api b GET "/v1/migrations/$DST_ID")
	[ "$(echo "$dst" | json_get digest)" = "$1" ] || fail "$1: destination object: $dst"
	[ "$(sha "$T/a/sim0.img")" = "$(sha "$T/b/sim0.img")" ] || fail "$1: images differ"
	grep -q "migration $SRC_ID: END digest $1" "$T/a.log" || fail "$1: not in the source's log"
	grep -q "migration $DST_ID: device sim0 verified (.* bytes, $1 match)" "$T/b.log" ||
		fail "$1: no verification in the destination's log"
}

pair "" ""
migrate
completed_with xxh3-128
pass "default: xxh3-128 agreed, both objects and logs name it, images byte-identical"

# The destination picks the first of its own list the source offers.
pair "sha256" ""
migrate
completed_with sha256
pass "source offering sha256 only: sha256, images byte-identical"
pair "xxh3-128, sha256" "sha256 xxh3-128"
migrate
completed_with sha256
pass "both offered: the destination's preference (sha256 first) wins"

# Nothing in common: refused at HELLO, both sides say so, nothing moved.
pair "sha256" "xxh3-128"
before=$(sha "$T/b/sim0.img")
migrate
[ "$(echo "$FINAL" | json_get phase)" = failed ] || fail "mismatch: $FINAL"
[ "$(echo "$FINAL" | json_get code)" = no-common-digest ] || fail "mismatch: source: $FINAL"
wait_phase b "$DST_ID" failed
dst=$(api b GET "/v1/migrations/$DST_ID")
[ "$(echo "$dst" | json_get code)" = no-common-digest ] || fail "mismatch: destination: $dst"
grep "migration $DST_ID" "$T/b.log" | grep -q "the source offers END digests sha256" ||
	fail "mismatch: the destination's log does not say what was offered"
[ "$(device_state a sim0)" = running ] || fail "mismatch: source device not running"
[ "$(sha "$T/b/sim0.img")" = "$before" ] || fail "mismatch: the destination's image changed"
[ "$(echo "$FINAL" | json_get bytes_transferred)" = 0 ] || fail "mismatch: data moved: $FINAL"
pass "sha256 only vs xxh3-128 only: refused with no-common-digest on both sides, nothing moved"

# A source older than the negotiation (peer_tool offers no digest bit):
# SHA-256, which a destination accepting xxh3-128 only refuses.
info=$(api b GET /v1/devices/sim0)
pt_source() {
	"$PT" --connect "127.0.0.1:$PB" --cert "$T/certs/host-a-cert.pem" \
		--key "$T/certs/host-a-key.pem" --ca "$T/certs/ca-cert.pem" --device sim0 \
		--identity "$(echo "$info" | json_get identity)" \
		--compat "$(echo "$info" | sed -n 's/.*"compat":"\([^"]*\)".*/\1/p')" \
		--timeout-ms 10000 --token "$TOKEN" "$@" 2>>"$T/peer_tool.log"
}
incoming
got=$(pt_source --action hello)
[ "$got" = no-common-digest ] || fail "old source vs xxh3-128 only: peer got $got"
wait_phase b "$DST_ID" failed
pass "a source offering no digest (sha256) vs a destination accepting xxh3-128 only: no-common-digest"
pair "" ""
info=$(api b GET /v1/devices/sim0)
incoming
got=$(pt_source --action stream --image "$T/pt-7.img" --seed 7)
[ "$got" = commit ] || fail "old source, default destination: $got"
wait_phase b "$DST_ID" completed
[ "$(api b GET "/v1/migrations/$DST_ID" | json_get digest)" = sha256 ] || fail "old source: not sha256"
[ "$(sha "$T/b/sim0.img")" = "$(sha "$T/pt-7.img")" ] || fail "old source: images differ"
pass "a source offering no digest, default destination: sha256, verified, image identical"

# A destination older than the negotiation (peer_tool's HELLO_ACK names no
# digest, so SHA-256) against a source that accepts xxh3-128 only.
pair "xxh3-128" ""
: >"$T/pt.log"
"$PT" --listen 0 --cert "$T/certs/host-b-cert.pem" --key "$T/certs/host-b-key.pem" \
	--ca "$T/certs/ca-cert.pem" --action error-on-data --count 1000000 --error-code 105 \
	--timeout-ms 20000 >"$T/pt.out" 2>"$T/pt.log" &
PT_PID=$!
PIDS="$PIDS $PT_PID"
PF=$(wait_listening "$T/pt.log" peer_tool) || fail "no peer_tool"
FINAL=$(ctl a --json migrate sim0 --to "127.0.0.1:$PF" --token abcdef --wait | tail -n 1)
[ "$(echo "$FINAL" | json_get code)" = no-common-digest ] || fail "old destination: $FINAL"
wait "$PT_PID"
[ "$(cat "$T/pt.out")" = no-common-digest ] || fail "old destination heard $(cat "$T/pt.out")"
[ "$(device_state a sim0)" = running ] || fail "old destination: source device not running"
pass "a destination naming no digest (sha256) vs a source accepting xxh3-128 only: no-common-digest"
