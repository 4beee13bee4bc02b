#!/bin/bash
# A vfio-user device handed over with the guest's IOVA ranges (issue 18):
# the VMM (contrib/handover-client.py --vfio-user-socket --iova) hands over
# its connection with two ranges and a hole between them; the daemon logs
# the device's DMA over exactly those ranges with the server's DMA logging
# (one START naming both), and the destination's dirty bitmap holds every
# page the server's workload DMA-wrote while logged (its --dma-log) and no
# other. The device still migrates byte-identical.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-vfio-user.sh"

CLIENT="$SRCDIR/contrib/handover-client.py"
# 2 MiB at 0 and 2 MiB at 8 MiB: pages [0, 512) and [2048, 2560).
IOVA=(--iova 0:2097152 --iova 8388608:2097152)

# A slow workload (256 writes/s), so the pages it writes are a part of the
# ranges, not all of them.
vu_start srv-a --size 16M --workload 64K --initial 4M --dump-on-stop "$T/a-stop.dump" \
	--dma-log "$T/a-dma.log"
vu_start srv-b --size 16M --seed 2 --dump-on-resume "$T/b-resume.dump"

certs
EXTRA_DAEMON="handover = $T/a.handover" write_config a host-a
EXTRA_DAEMON="handover = $T/b.handover" write_config b host-b
start_daemon a
start_daemon b

python3 "$CLIENT" --socket "$T/a.handover" attach vu0 --backend vfio-user \
	--vfio-user-socket "$T/srv-a.vu" "${IOVA[@]}" >"$T/attach-a" 2>&1 ||
	fail "attach on a: $(cat "$T/attach-a")"
python3 "$CLIENT" --socket "$T/b.handover" attach vu0 --backend vfio-user \
	--vfio-user-socket "$T/srv-b.vu" "${IOVA[@]}" --final-state running >"$T/attach-b" 2>&1 ||
	fail "attach on b: $(cat "$T/attach-b")"
dev=$(api a GET /v1/devices/vu0)
echo "$dev"
[ "$(echo "$dev" | json_get guest_memory_size)" = 10485760 ] ||
	fail "the page space is not the end of the last range: $dev"
echo "$dev" | grep -q '"dirty_tracking":true' || fail "no dirty tracking: $dev"
[ -s "$T/a-dma.log" ] && fail "the server logged DMA before the migration"
pass "handed over with two ranges: the page space ends with the last, DMA logging offered"

out=$(ctl b --json incoming vu0) || fail "incoming: $out"
token=$(echo "$out" | json_get token)
out=$(ctl a --json migrate vu0 --to "127.0.0.1:$PB" --token "$token" --switchover manual)
id=$(echo "$out" | json_get id)
[ -n "$id" ] || fail "migrate: $out"
wait_phase a "$id" precopy switchover-pending
# Pre-copy runs while the workload DMA-writes some 20 pages or more.
i=0
until [ "$(wc -l <"$T/a-dma.log")" -ge 20 ]; do
	i=$((i + 1))
	[ $i -lt 300 ] || fail "the server's workload DMA-wrote nothing while logged"
	sleep 0.1
done
ctl a switchover "$id" >/dev/null || fail "switchover"
wait_phase a "$id" completed failed cancelled
final=$(api a GET "/v1/migrations/$id")
echo "$final"
[ "$(echo "$final" | json_get phase)" = completed ] || fail "migration: $final"
cmp "$T/a-stop.dump" "$T/b-resume.dump" || fail "the destination loaded another state"
[ "$(device_state b vu0)" = running ] || fail "destination is $(device_state b vu0)"
grep -q "dma logging started: 2 ranges, page 4096" "$T/srv-a-vu.log" ||
	fail "the source's server was not asked to log both ranges in 4 KiB pages"
grep -q "dma logging stopped" "$T/srv-a-vu.log" || fail "the log was never stopped"
vu_no_short_reads srv-a srv-b
vu_no_refusals srv-a srv-b
pass "migrated byte-identical; the source's server logged both ranges and was stopped"

dst_id=$(echo "$final" | json_get peer_migration_id)
api b GET "/v1/migrations/$dst_id/bitmap" >"$T/bitmap.json"
python3 - "$T/bitmap.json" "$T/a-dma.log" <<'PY' || fail "the bitmap is not the pages DMA-written"
import json, sys
bm = json.load(open(sys.argv[1]))
assert bm["page_size"] == 4096 and bm["page_count"] == 2560, bm
got = {p for first, count in bm["runs"] for p in range(first, first + count)}
wrote = {int(line) // 4096 for line in open(sys.argv[2])}
print("written %d pages, bitmap %d pages" % (len(wrote), len(got)))
assert wrote, "the workload DMA-wrote nothing while logged"
assert all(p < 512 or 2048 <= p < 2560 for p in wrote), "the server wrote outside the ranges"
assert got == wrote, "missing %s, extra %s" % (sorted(wrote - got)[:10], sorted(got - wrote)[:10])
PY
pass "the destination's bitmap is exactly the pages the server DMA-wrote while logged"

python3 "$CLIENT" --socket "$T/a.handover" detach vu0 >/dev/null 2>&1 || fail "detach on a"
python3 "$CLIENT" --socket "$T/b.handover" detach vu0 >/dev/null 2>&1 || fail "detach on b"
pass "detached"
exit 0
