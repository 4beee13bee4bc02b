#!/bin/bash
# A vfio-v1 device handed over with its VMM's type1 container (SPEC §8,
# docs/HANDOVER.md), both daemons and the test VMMs (tests/test_vmm.c)
# over the fake kernel of tests/preload/fake_vfio.c, whose containers log
# the DMA a device makes into their mappings (VFIO_IOMMU_DIRTY_PAGES):
#
#   - a migration while the guest dirties the device's state and DMAs into
#     guest memory mapped in two ranges: the destination VMM finds, through
#     its own fd, the source's final state, a device never reset, and every
#     guest page the device wrote while the container logged in the
#     destination's bitmap; the daemon mapped nothing in the container
#     and stopped its log;
#   - refusals: the device's own fd as the container (not-vfio-container),
#     a container whose IOMMU logs no dirty pages (no-dirty-tracking);
#   - a device handed over stopped (its VMM's vCPUs paused), v2 and v1,
#     whose migration is cancelled in pre-copy, ends stopped, not running.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-vmm.sh"

# Two ranges with a hole between them: the device's writes into the hole
# are not mapped, never logged.
IOVA="0:2097152,3145728:1048576"

certs
EXTRA_DAEMON="handover = $T/a.handover" write_config a host-a
EXTRA_DAEMON="handover = $T/b.handover" write_config b host-b
start_daemon a
start_daemon b

# ---- a v1 device and its container ------------------------------------------

vmm_start src --v1 --device "$T/a/nic0.dev" --container "$T/a/nic0.ctr" --create --seed 1 \
	--socket "$T/a.handover" --name nic0 --iova "$IOVA"
vmm_start dst --v1 --device "$T/b/nic0.dev" --container "$T/b/nic0.ctr" --create --seed 2 \
	--socket "$T/b.handover" --name nic0 --iova "$IOVA" --final-state stopped
expect_answer src "cstatus ok logging=0 starts=0 stops=0 reports=0 maps=2 other_ioctls=0" cstatus
expect_answer src "workload ok" workload on
expect_answer src "attach ok" attach
expect_answer dst "attach ok" attach
dev=$(api a GET /v1/devices/nic0)
echo "$dev"
[ "$(echo "$dev" | json_get backend)" = vfio-v1 ] || fail "backend: $dev"
echo "$dev" | grep -q '"dirty_tracking_by":"type1 IOMMU dirty pages (the VMM'"'"'s container)"' ||
	fail "dirty tracking: $dev"
pass "a VMM hands over its v1 device with its type1 container"

token=$(ctl b --json incoming nic0 | json_get token)
[ -n "$token" ] || fail "no token from b"
out=$(ctl a --json migrate nic0 --to "127.0.0.1:$PB" --token "$token" --switchover manual)
id=$(echo "$out" | json_get id)
[ -n "$id" ] || fail "migrate: $out"
wait_phase a "$id" precopy switchover-pending
# Pre-copy runs while the guest writes, for a few of the container's reports.
i=0
until vmm src status >/dev/null && [ "$(status_field "$ANS" logged_pages)" -ge 20 ] &&
	vmm src cstatus >/dev/null && [ "$(status_field "$ANS" reports)" -ge 2 ]; do
	i=$((i + 1))
	[ $i -lt 300 ] || fail "the guest's DMA was never logged and reported: $ANS"
	sleep 0.1
done
expect_answer src "cstatus ok logging=1" cstatus
ctl a switchover "$id" >/dev/null || fail "switchover"
wait_phase a "$id" completed failed cancelled
final=$(api a GET "/v1/migrations/$id")
[ "$(echo "$final" | json_get phase)" = completed ] || fail "migration: $final"
dst_id=$(echo "$final" | json_get peer_migration_id)
expect_answer src "status ok state=stopped resets=0" status
digest=$(status_field "$ANS" digest)
expect_answer src "pages ok" pages "$T/pages"
pass "the migration of a v1 device logged by its VMM's container completed"

api b GET "/v1/migrations/$dst_id/bitmap" >"$T/bitmap.json"
expect_answer dst "check ok" check stopped "$digest" "$T/pages" "$T/bitmap.json"
pass "the destination VMM's device holds the source's final state, was never reset, and every page the device wrote while the container logged is in the bitmap ($ANS)"

expect_answer src "cstatus ok logging=0" cstatus
[ "$(status_field "$ANS" maps)" = 2 ] && [ "$(status_field "$ANS" other_ioctls)" = 0 ] ||
	fail "the daemon touched the VMM's container: $ANS"
[ "$(status_field "$ANS" starts)" -ge 1 ] && [ "$(status_field "$ANS" stops)" -ge 1 ] ||
	fail "the container's log was not started and stopped: $ANS"
expect_answer src "detach ok" detach
expect_answer dst "detach ok" detach
expect_answer src "cstatus ok" cstatus
expect_answer dst "check ok" check stopped "$digest"
pass "the daemon started and stopped the container's log, mapped nothing, and let go"

# ---- refusals ---------------------------------------------------------------

vmm_start bad --v1 --device "$T/a/nic1.dev" --container "$T/a/nic1.ctr" --create --seed 3 \
	--socket "$T/a.handover" --name nic1 --iova "$IOVA"
expect_answer bad "attach-container error not-vfio-container" attach-container device
vmm_start nodirty --v1 --device "$T/a/nic2.dev" --container "$T/a/nic2.ctr" --create \
	--container-nodirty --seed 4 --socket "$T/a.handover" --name nic2 --iova "$IOVA"
expect_answer nodirty "attach error no-dirty-tracking" attach
api a GET /v1/devices/nic1 | grep -q '"not-found"' || fail "a lists nic1"
api a GET /v1/devices/nic2 | grep -q '"not-found"' || fail "a lists nic2"
expect_answer bad "status ok state=running resets=0" status
pass "the device's own fd as its container, and a container that logs no dirty pages, are refused"

# ---- a stopped device is rolled back stopped ---------------------------------

# cancel_stopped NAME [v1]: a device its VMM stopped (a v1 one with its
# container), handed over, its migration cancelled in pre-copy: stopped
# after, never reset.
cancel_stopped() {
	dn=$1
	sa="" sb=""
	if [ "${2:-}" = v1 ]; then
		sa="--v1 --container $T/a/$dn.ctr"
		sb="--v1 --container $T/b/$dn.ctr"
	fi
	# shellcheck disable=SC2086
	vmm_start "s$dn" --device "$T/a/$dn.dev" --create --seed 5 --socket "$T/a.handover" \
		--name "$dn" --iova "0:$GUEST" $sa
	# shellcheck disable=SC2086
	vmm_start "d$dn" --device "$T/b/$dn.dev" --create --seed 6 --socket "$T/b.handover" \
		--name "$dn" --iova "0:$GUEST" $sb
	expect_answer "s$dn" "stop ok" stop
	expect_answer "s$dn" "attach ok" attach
	expect_answer "d$dn" "attach ok" attach
	token=$(ctl b --json incoming "$dn" | json_get token)
	out=$(ctl a --json migrate "$dn" --to "127.0.0.1:$PB" --token "$token" --switchover manual)
	id=$(echo "$out" | json_get id)
	[ -n "$id" ] || fail "migrate $dn: $out"
	wait_phase a "$id" precopy switchover-pending
	api a POST "/v1/migrations/$id/cancel" >/dev/null
	wait_phase a "$id" cancelled
	expect_answer "s$dn" "status ok state=stopped resets=0" status
	grep -q "device $dn: rolled back to stopped" "$T/a.log" ||
		fail "a did not log the rollback of $dn to its stopped state"
}
cancel_stopped gpu5
# Not run for a pre-copy: no data session was ever opened.
[ "$(status_field "$ANS" sessions)" = 0 ] || fail "gpu5 was run for a pre-copy: $ANS"
cancel_stopped nic5 v1
pass "a device handed over stopped (v2, v1) stays stopped through a cancelled migration"
