#!/bin/bash
# A 64 MiB software device with a live workload (and DMA into guest memory)
# migrates between two daemons over mutual TLS; both images end
# byte-identical, the source device is stopped, the destination's running.
. "$(dirname "$0")/lib.sh"

DEVICES="[device sim0]
backend = sim
size = 64M
dirty_rate = 8M
image = @DIR@/sim0.img
guest_memory = @DIR@/sim0.ram
guest_memory_size = 16M
dma_dirty_rate = 2M
seed = 1"
start_pair

[ "$(sha "$T/a/sim0.img")" != "$(sha "$T/b/sim0.img")" ] || fail "fresh images should differ"
sleep 0.3 # let the workload run a little before migrating

out=$(ctl b --json incoming sim0) || fail "incoming: $out"
token=$(echo "$out" | json_get token)
[ -n "$token" ] || fail "no token in: $out"
final=$(ctl a --json migrate sim0 --to "127.0.0.1:$PB" --token "$token" --wait | tail -n 1)
rc=$?
echo "$final"
phase=$(echo "$final" | json_get phase)
[ "$phase" = completed ] || fail "migration ended $phase: $final"
pass "migration completed"

id=$(echo "$final" | json_get id)
bytes=$(echo "$final" | json_get bytes_transferred)
[ "$bytes" -ge $((64 * 1024 * 1024)) ] || fail "only $bytes bytes transferred"
iters=$(echo "$final" | json_get iterations)
say "bytes $bytes, iterations $iters, downtime $(echo "$final" | json_get downtime_ms) ms"

[ "$(device_state a sim0)" = stopped ] || fail "source device is $(device_state a sim0), not stopped"
[ "$(device_state b sim0)" = running ] || fail "destination device is $(device_state b sim0), not running"
pass "source stopped, destination running"

# The destination runs without a workload (dirty_rate 0): its image must be
# exactly the source's at the moment the source stopped.
sa=$(sha "$T/a/sim0.img")
sb=$(sha "$T/b/sim0.img")
[ "$sa" = "$sb" ] || fail "images differ: $sa vs $sb"
pass "device images byte-identical ($sa)"
ga=$(sha "$T/a/sim0.ram")
gb=$(sha "$T/b/sim0.ram")
[ "$ga" = "$gb" ] || fail "guest memory differs: $ga vs $gb"
pass "guest memory byte-identical"

# The destination's view of the same migration.
dst=$(api b GET /v1/migrations)
echo "$dst" | grep -q '"phase":"completed"' || fail "destination migration not completed: $dst"
pages=$(api b GET "/v1/migrations/$(echo "$dst" | json_get id)/bitmap" | json_get dirty_pages)
[ "${pages:-0}" -gt 0 ] || fail "destination recorded no dirty pages"
pass "destination completed, $pages dirty pages in the union bitmap"

# What an operator on the destination wants: what arrived, what is in the
# device, the END check, whether the device runs; none of the source's
# figures (pending, iterations, expected downtime, switchover and limit).
did=$(echo "$dst" | json_get id)
obj=$(api b GET "/v1/migrations/$did")
for f in pending_bytes iterations expected_downtime_ms switchover downtime_limit_ms; do
	! echo "$obj" | grep -q "\"$f\":" || fail "the destination's object has the source's $f: $obj"
done
[ "$(echo "$obj" | json_get verification)" = verified ] || fail "verification: $obj"
echo "$obj" | grep -q '"device_running":true' || fail "device_running: $obj"
records=$(echo "$obj" | json_get records_applied)
[ "${records:-0}" -gt 0 ] || fail "records_applied: $obj"
[ "$(echo "$obj" | json_get bytes_transferred)" = "$bytes" ] || fail "bytes received: $obj"
line=$(ctl b show "$did")
echo "$line" | grep -q "verification" || fail "vfio-migctl show on the destination: $line"
! echo "$line" | grep -q "pending" || fail "vfio-migctl show on the destination speaks of pending: $line"
pass "the destination's view: $records records applied, verified, device running; no source figures"

# The source device can be migrated again only after a fresh incoming.
out=$(ctl a --json migrate sim0 --to "127.0.0.1:$PB" --token "$token" --wait | tail -n 1)
[ "$(echo "$out" | json_get code)" = token-expired ] || fail "reused token not refused: $out"
pass "a used token is refused (token-expired)"
