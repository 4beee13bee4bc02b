#!/bin/bash
# compression = none | zstd | auto (issue 19, part 3): DATA chunks packed
# with zstd, all-zero chunks as their length alone, the migration still
# byte-identical; the destination refuses a packed chunk that is not the
# length it announces (a decompression bomb, a short one) before anything
# reaches its device, and any packed chunk when compression was not
# agreed.
. "$(dirname "$0")/lib.sh"

PT="$BUILD/tests/peer_tool"
[ -x "$PT" ] || fail "build tests/peer_tool first (make check does)"
# Half the pages zeros, the rest text-like; a light workload; guest
# memory (its pages travel in BITMAP frames, never packed) for company.
DEVICES="[device sim0]
backend = sim
size = 32M
dirty_rate = 2M
content = text
zero_pages = 50
image = @DIR@/sim0.img
guest_memory = @DIR@/sim0.ram
guest_memory_size = 4M
dma_dirty_rate = 512K
seed = 1

[device rnd0]
backend = sim
size = 16M
dirty_rate = 0
image = @DIR@/rnd0.img
seed = 3

[device zero0]
backend = sim
size = 16M
dirty_rate = 0
zero_pages = 100
image = @DIR@/zero0.img
seed = 4"
start_pair

# migrate DEVICE MODE: a to b with --compression MODE, waited for; FINAL
# and DST are the two objects at the end.
migrate() {
	out=$(ctl b --json incoming "$1")
	token=$(echo "$out" | json_get token)
	DST_ID=$(echo "$out" | json_get migration_id)
	# shellcheck disable=SC2086 # CHANNELS: options, split on purpose
	FINAL=$(ctl a --json migrate "$1" --to "127.0.0.1:$PB" --token "$token" --compression "$2" \
		${CHANNELS:-} --wait | tail -n 1)
	[ "$(echo "$FINAL" | json_get phase)" = completed ] || fail "$1 $2: $FINAL"
	wait_phase b "$DST_ID" completed
	DST=$(api b GET "/v1/migrations/$DST_ID")
	[ "$(sha "$T/a/$1.img")" = "$(sha "$T/b/$1.img")" ] || fail "$1 $2: images differ"
	RAW=$(echo "$FINAL" | json_get bytes_transferred)
	WIRE=$(echo "$FINAL" | json_get wire_bytes)
	[ "$(echo "$DST" | json_get wire_bytes)" = "$WIRE" ] ||
		fail "$1 $2: the destination counted other wire bytes: $DST"
}

# Back and forth: the next migration of a device starts where it runs.
back() {
	stop_daemon a
	stop_daemon b
	start_daemon a
	start_daemon b
}

migrate sim0 zstd
[ "$(echo "$FINAL" | json_get compression)" = zstd ] || fail "zstd: source object: $FINAL"
[ "$(echo "$DST" | json_get compression)" = zstd ] || fail "zstd: destination object: $DST"
[ "$(sha "$T/a/sim0.ram")" = "$(sha "$T/b/sim0.ram")" ] || fail "zstd: guest memory differs"
grep -q "compression zstd (zstd level" "$T/a.log" || fail "zstd: not in the source's log"
# Half zeros, half text: well under half of the device data crosses.
[ "$WIRE" -lt $((RAW / 2)) ] || fail "zstd: $WIRE bytes on the wire for $RAW of device data"
pass "zstd: byte-identical, $WIRE bytes on the wire for $RAW of device data"

back
migrate sim0 auto
[ "$(echo "$FINAL" | json_get compression)" = auto ] || fail "auto: source object: $FINAL"
[ "$(sha "$T/a/sim0.ram")" = "$(sha "$T/b/sim0.ram")" ] || fail "auto: guest memory differs"
pass "auto: byte-identical ($WIRE bytes on the wire for $RAW)"

# Over two channels: packed frames ahead of their turn are held and
# unpacked in order.
back
CHANNELS="--channels 2"
migrate sim0 zstd
CHANNELS=""
[ "$WIRE" -lt $((RAW / 2)) ] || fail "zstd, 2 channels: $WIRE bytes on the wire for $RAW"
grep -q "channel 1 of 2 joined" "$T/b.log" || fail "zstd, 2 channels: the channel did not join"
pass "zstd over 2 channels: byte-identical"

back
migrate sim0 none
[ "$(echo "$FINAL" | json_get compression)" = none ] || fail "none: $FINAL"
[ "$WIRE" = "$RAW" ] || fail "none: $WIRE bytes on the wire for $RAW"
pass "none: nothing packed, wire bytes = device bytes"

# Random content does not compress: sent as it is, never larger.
migrate rnd0 zstd
[ "$WIRE" -le "$RAW" ] || fail "random: $WIRE on the wire for $RAW"
[ "$WIRE" -gt $((RAW * 99 / 100)) ] || fail "random: $WIRE on the wire for $RAW: compressed?"
pass "random content under zstd: sent as it is ($WIRE for $RAW), byte-identical"

# A device of zeros: its chunks cost four bytes each.
migrate zero0 auto
[ "$WIRE" -lt $((RAW / 100)) ] || fail "zeros: $WIRE on the wire for $RAW"
pass "all-zero device: $WIRE bytes on the wire for $RAW, byte-identical"

# Hostile sources (peer_tool): packed chunks that lie about their length,
# and one without the capability.
info=$(api b GET /v1/devices/rnd0)
pt() {
	"$PT" --connect "127.0.0.1:$PB" --cert "$T/certs/host-a-cert.pem" \
		--key "$T/certs/host-a-key.pem" --ca "$T/certs/ca-cert.pem" --device rnd0 \
		--identity "$(echo "$info" | json_get identity)" \
		--compat "$(echo "$info" | sed -n 's/.*"compat":"\([^"]*\)".*/\1/p')" \
		--timeout-ms 10000 "$@" 2>>"$T/peer_tool.log"
}
for c in "packed-bomb 128 bad-compressed-data" "packed-short 128 bad-compressed-data" \
	"packed-zero 0 unexpected-frame"; do
	set -- $c
	out=$(ctl b --json incoming rnd0)
	token=$(echo "$out" | json_get token)
	DST_ID=$(echo "$out" | json_get migration_id)
	before=$(sha "$T/b/rnd0.img")
	got=$(pt --token "$token" --caps "$2" --action "$1")
	[ "$got" = "$3" ] || fail "$1: peer got $got, expected $3"
	wait_phase b "$DST_ID" failed
	[ "$(api b GET "/v1/migrations/$DST_ID" | json_get code)" = "$3" ] || fail "$1: not $3"
	[ "$(sha "$T/b/rnd0.img")" = "$before" ] || fail "$1: the device image changed"
	pass "$1: refused with $3, nothing written"
done
grep -q "nothing of it was written" "$T/b.log" || fail "the refusal does not say nothing was written"
