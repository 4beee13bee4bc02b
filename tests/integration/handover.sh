#!/bin/bash
# Device hand-over (SPEC §8): a VMM holds its VFIO device and hands the
# daemon a duplicate of its fd over the hand-over socket. No VFIO kernel
# here: both daemons and the test VMMs (tests/test_vmm.c) run over the fake
# kernel of tests/preload/fake_vfio.c, whose devices live in files, so the
# fd a VMM passes with SCM_RIGHTS is one device seen by both processes.
#
#   - a migration of a handed-over device while the guest dirties its state
#     and DMAs into guest memory: the destination VMM finds, through its
#     own fd, the source's final state, a device never reset (before and
#     after the daemon let go of it), and every guest page the device wrote
#     while logged in the destination's dirty bitmap;
#   - refusals: a non-VFIO fd, a second attach of a name, a detach during
#     a migration;
#   - the VMM exiting mid-migration fails it with owner-exited, on either side;
#   - a restarted daemon has forgotten its handed-over devices.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-vmm.sh"

certs
EXTRA_DAEMON="handover = $T/a.handover" write_config a host-a
EXTRA_DAEMON="handover = $T/b.handover" write_config b host-b
start_daemon a
start_daemon b
[ -S "$T/a.handover" ] && [ -S "$T/b.handover" ] || fail "no hand-over sockets"

# ---- hand-over and refusals ------------------------------------------------

vmm_start src --device "$T/a/gpu0.dev" --create --seed 1 --socket "$T/a.handover" --name gpu0 \
	--iova "0:$GUEST"
vmm_start dst --device "$T/b/gpu0.dev" --create --seed 2 --anon --socket "$T/b.handover" \
	--name gpu0 --iova "0:$GUEST" --final-state stopped
expect_answer src "workload ok" workload on
expect_answer src "attach ok" attach
expect_answer dst "attach ok" attach
dev=$(api a GET /v1/devices/gpu0)
echo "$dev"
[ "$(echo "$dev" | json_get backend)" = vfio-v2 ] || fail "backend: $dev"
echo "$dev" | grep -q '"dirty_tracking_by":"device DMA logging"' || fail "dirty tracking: $dev"
pass "a VMM hands its device over (cdev on a, group device fd on b)"

expect_answer src "attach error device-exists" attach
expect_answer src "attach-fd error not-vfio-device" attach-fd file other0
expect_answer src "attach-fd error not-vfio-device" attach-fd devnull other0
pass "a second attach of a name, a regular file and /dev/null are refused"

# ---- a migration while the guest runs ---------------------------------------

token=$(ctl b --json incoming gpu0 | json_get token)
[ -n "$token" ] || fail "no token from b"
out=$(ctl a --json migrate gpu0 --to "127.0.0.1:$PB" --token "$token" --switchover manual)
id=$(echo "$out" | json_get id)
[ -n "$id" ] || fail "migrate: $out"
wait_phase a "$id" precopy switchover-pending
# Pre-copy runs while the guest writes, for a few DMA log reports.
i=0
until vmm src status >/dev/null && [ "$(status_field "$ANS" logged_pages)" -ge 20 ]; do
	i=$((i + 1))
	[ $i -lt 300 ] || fail "the guest's DMA was never logged: $ANS"
	sleep 0.1
done
expect_answer src "detach error device-busy" detach
expect_answer dst "detach error device-busy" detach
pass "a detach during a migration is refused, on both sides"
sleep 1
ctl a switchover "$id" >/dev/null || fail "switchover"
wait_phase a "$id" completed failed cancelled
final=$(api a GET "/v1/migrations/$id")
[ "$(echo "$final" | json_get phase)" = completed ] || fail "migration: $final"
dst_id=$(echo "$final" | json_get peer_migration_id)
expect_answer src "status ok state=stopped resets=0" status
digest=$(status_field "$ANS" digest)
expect_answer src "pages ok" pages "$T/pages"
pass "the migration of a handed-over device completed"

api b GET "/v1/migrations/$dst_id/bitmap" >"$T/bitmap.json"
expect_answer dst "check ok" check stopped "$digest" "$T/pages" "$T/bitmap.json"
pass "the destination VMM's device holds the source's final state, was never reset, and every page the device wrote is in the bitmap"

expect_answer dst "detach ok" detach
expect_answer src "detach ok" detach
expect_answer dst "check ok" check stopped "$digest"
expect_answer dst "start ok" start
expect_answer dst "status ok state=running resets=0" status
pass "the daemon let go without a reset; the VMM starts the device"
api b GET /v1/devices/gpu0 | grep -q '"not-found"' || fail "b still lists gpu0"

# ---- the VMM exits mid-migration --------------------------------------------

vmm_start src1 --device "$T/a/gpu1.dev" --create --seed 3 --socket "$T/a.handover" \
	--name gpu1 --iova "0:$GUEST"
vmm_start dst1 --device "$T/b/gpu1.dev" --create --seed 4 --socket "$T/b.handover" \
	--name gpu1 --iova "0:$GUEST"
expect_answer src1 "attach ok" attach
expect_answer dst1 "attach ok" attach
token=$(ctl b --json incoming gpu1 | json_get token)
out=$(ctl a --json migrate gpu1 --to "127.0.0.1:$PB" --token "$token" --switchover manual)
id=$(echo "$out" | json_get id)
[ -n "$id" ] || fail "migrate gpu1: $out"
wait_phase a "$id" precopy switchover-pending
eval "echo exit >&\$VMM_FD_src1"
eval "wait \$VMM_PID_src1"
wait_phase a "$id" failed
api a GET "/v1/migrations/$id" | grep -q '"code":"owner-exited"' ||
	fail "the migration did not fail with owner-exited: $(api a GET "/v1/migrations/$id")"
i=0
until api a GET /v1/devices/gpu1 | grep -q '"not-found"'; do
	i=$((i + 1))
	[ $i -lt 100 ] || fail "a still lists gpu1 after its VMM exited"
	sleep 0.1
done
# The daemon's was the last reference: closing it reset the device, as
# vfio-pci does (the fake counts it at the next open).
vmm_start late --device "$T/a/gpu1.dev"
expect_answer late "status ok state=running resets=1" status
pass "the VMM exited mid-migration: the migration failed with owner-exited, the daemon let go"

# ---- the destination's VMM exits mid-migration ------------------------------

vmm_start src3 --device "$T/a/gpu3.dev" --create --seed 7 --socket "$T/a.handover" \
	--name gpu3 --iova "0:$GUEST"
vmm_start dst3 --device "$T/b/gpu3.dev" --create --seed 8 --socket "$T/b.handover" \
	--name gpu3 --iova "0:$GUEST"
expect_answer src3 "attach ok" attach
expect_answer dst3 "attach ok" attach
out=$(ctl b --json incoming gpu3)
token=$(echo "$out" | json_get token)
did=$(echo "$out" | json_get migration_id)
out=$(ctl a --json migrate gpu3 --to "127.0.0.1:$PB" --token "$token" --switchover manual)
sid=$(echo "$out" | json_get id)
[ -n "$sid" ] || fail "migrate gpu3: $out"
wait_phase a "$sid" precopy switchover-pending
eval "echo exit >&\$VMM_FD_dst3"
eval "wait \$VMM_PID_dst3"
wait_phase b "$did" failed
api b GET "/v1/migrations/$did" | grep -q '"code":"owner-exited"' ||
	fail "the destination's migration did not fail with owner-exited: $(api b GET "/v1/migrations/$did")"
wait_phase a "$sid" failed
api a GET "/v1/migrations/$sid" | grep -q '"code":"owner-exited"' ||
	fail "the source's migration: $(api a GET "/v1/migrations/$sid")"
# The source's device runs on, its state its own: never reset.
expect_answer src3 "status ok state=running resets=0" status
i=0
until api b GET /v1/devices/gpu3 | grep -q '"not-found"'; do
	i=$((i + 1))
	[ $i -lt 100 ] || fail "b still lists gpu3 after its VMM exited"
	sleep 0.1
done
pass "the destination's VMM exited mid-migration: it failed there with owner-exited, the source rolled back (running, never reset)"

# ---- a restarted daemon forgets handed-over devices -------------------------

vmm_start src2 --device "$T/a/gpu2.dev" --create --seed 5 --socket "$T/a.handover" \
	--name gpu2 --iova "0:$GUEST"
expect_answer src2 "attach ok" attach
stop_daemon a
start_daemon a
api a GET /v1/devices/gpu2 | grep -q '"not-found"' || fail "a restarted daemon still lists gpu2"
expect_answer src2 "attach ok" attach
expect_answer src2 "status ok state=running resets=0" status
pass "a restarted daemon forgot gpu2; its VMM attached it again; never reset"

# ---- final_state running ----------------------------------------------------

vmm_start dst2 --device "$T/b/gpu2.dev" --create --seed 6 --socket "$T/b.handover" \
	--name gpu2 --iova "0:$GUEST" --final-state running
expect_answer dst2 "attach ok" attach
token=$(ctl b --json incoming gpu2 | json_get token)
final=$(ctl a --json migrate gpu2 --to "127.0.0.1:$PB" --token "$token" --wait | tail -n 1)
[ "$(echo "$final" | json_get phase)" = completed ] || fail "migration of gpu2: $final"
expect_answer src2 "status ok state=stopped resets=0" status
digest=$(status_field "$ANS" digest)
expect_answer dst2 "check ok" check running "$digest"
pass "final_state running: the destination's device runs the source's state"
