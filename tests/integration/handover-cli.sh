#!/bin/bash
# The two clients a VMM's agent uses, handing over a device fd they
# inherited: vfio-migctl attach|detach and contrib/handover-client.py,
# against a daemon over the fake VFIO kernel (tests/preload/fake_vfio.so).
# The device shows where it came from (origin, owner, layout, final state);
# the owner watched is the agent that ran the client (its parent) or
# --owner-pid; set-iova changes the layout; detach and the owner's exit
# let go, without a reset; a v1 device with its VMM's type1 container
# (--container-fd). A migration of such a device is handover.sh's (and
# handover-type1.sh's).
. "$(dirname "$0")/lib.sh"

SHIM="$BUILD/tests/preload/fake_vfio.so"
VMM="$BUILD/tests/test_vmm"
CLIENT="$SRCDIR/contrib/handover-client.py"

certs
DAEMON_ENV="LD_PRELOAD=$SHIM ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
EXTRA_DAEMON="handover = $T/a.handover" write_config a host-a
start_daemon a
HS="$T/a.handover"

# Two fake devices, as files the "VMM" holds open.
for d in gpu0 gpu1; do
	"$VMM" --device "$T/$d.dev" --create --seed 7 </dev/null >/dev/null 2>"$T/$d.err" ||
		fail "cannot create $d: $(cat "$T/$d.err")"
done

# field DEVICE KEY: a field of GET /v1/devices/DEVICE.
field() { api a GET "/v1/devices/$1" | json_get "$2"; }

# 1. vfio-migctl, the fd inherited as 3; the owner is this script (the
# CLI's parent), which outlives it.
"$MIGCTL" --json attach gpu0 --fd 3 --backend vfio-v2 --iova 0:0x100000 --final-state running \
	--handover-socket "$HS" 3<>"$T/gpu0.dev" >"$T/out" 2>"$T/err" ||
	fail "vfio-migctl attach: $(cat "$T/err")"
[ "$(json_get origin <"$T/out")" = handover ] || fail "attach answer: $(cat "$T/out")"
[ "$(field gpu0 owner_pid)" = $$ ] || fail "gpu0 owner $(field gpu0 owner_pid), not $$"
[ "$(field gpu0 final_state)" = running ] || fail "gpu0 final_state: $(field gpu0 final_state)"
[ "$(field gpu0 guest_memory_size)" = 1048576 ] || fail "gpu0 layout: $(api a GET /v1/devices/gpu0)"
api a GET /v1/devices/gpu0 | grep -q '"iova":\[{"start":0,"length":1048576}\]' ||
	fail "gpu0 iova: $(api a GET /v1/devices/gpu0)"
ctl a devices >"$T/devices" || fail "vfio-migctl devices failed"
grep -Eq "^gpu0 .*handover pid $$\$" "$T/devices" || fail "devices table: $(cat "$T/devices")"
pass "vfio-migctl attach: the inherited fd adopted, owner the agent (pid $$), layout and final state shown"

# 2. The contrib client, watching another process.
sleep 600 &
owner=$!
PIDS="$PIDS $owner"
python3 "$CLIENT" --socket "$HS" attach gpu1 --fd 3 --iova 0:65536 --owner-pid "$owner" \
	3<>"$T/gpu1.dev" >"$T/out" 2>"$T/err" || fail "contrib attach: $(cat "$T/err")"
[ "$(field gpu1 owner_pid)" = "$owner" ] || fail "gpu1 owner: $(field gpu1 owner_pid)"
[ "$(field gpu1 final_state)" = stopped ] || fail "gpu1 final_state: $(field gpu1 final_state)"
python3 "$CLIENT" --socket "$HS" set-iova gpu1 --iova 0:0x20000 --iova 0x40000:0x10000 \
	>"$T/out" 2>"$T/err" || fail "contrib set-iova: $(cat "$T/err")"
[ "$(field gpu1 guest_memory_size)" = 327680 ] || fail "gpu1 layout after set-iova: $(api a GET /v1/devices/gpu1)"
python3 "$CLIENT" --socket "$HS" attach gpu1 --fd 3 3<>"$T/gpu1.dev" >/dev/null 2>"$T/err" &&
	fail "a second attach of gpu1 was accepted"
grep -q "^device-exists:" "$T/err" || fail "second attach: $(cat "$T/err")"
pass "handover-client.py: attach for another owner, set-iova, device-exists"

# 3. The owner exits: the daemon lets go of gpu1 by itself.
kill "$owner"
i=0
while [ -n "$(field gpu1 name)" ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || fail "gpu1 still there 10 s after its owner exited"
	sleep 0.1
done
grep -q "device gpu1: let go (its owner, pid $owner, exited)" "$T/a.log" ||
	fail "no let-go line for gpu1 in the log"
pass "the owner's exit lets go of gpu1"

# 4. detach: gone from the list, the device untouched.
"$MIGCTL" detach gpu0 --handover-socket "$HS" >"$T/out" 2>"$T/err" || fail "detach: $(cat "$T/err")"
grep -q "device gpu0: detached" "$T/out" || fail "detach said: $(cat "$T/out")"
[ -z "$(field gpu0 name)" ] || fail "gpu0 still listed after detach"
expect_none=$("$MIGCTL" detach gpu0 --handover-socket "$HS" 2>&1) && fail "a second detach succeeded"
echo "$expect_none" | grep -q not-found || fail "second detach: $expect_none"
grep -Eq "reset|VFIO_DEVICE_RESET" "$T/a.log" && fail "the daemon reset a device: $(grep -E 'reset' "$T/a.log")"
pass "detach lets go of gpu0; nothing was reset"

# 5. A v1 device with the VMM's type1 container, both inherited, by either
# client; the device's fd as its container is refused.
for d in nic0 nic1; do
	"$VMM" --v1 --device "$T/$d.dev" --container "$T/$d.ctr" --create --iova 0:65536 \
		</dev/null >/dev/null 2>"$T/$d.err" || fail "cannot create $d: $(cat "$T/$d.err")"
done
"$MIGCTL" attach nic0 --fd 3 --container-fd 3 --backend vfio-v1 --iova 0:65536 \
	--handover-socket "$HS" 3<>"$T/nic0.dev" >/dev/null 2>"$T/err" &&
	fail "the device's fd was taken as its container"
grep -q "^vfio-migctl: not-vfio-container:" "$T/err" || fail "device as container: $(cat "$T/err")"
"$MIGCTL" --json attach nic0 --fd 3 --container-fd 4 --backend vfio-v1 --iova 0:65536 \
	--handover-socket "$HS" 3<>"$T/nic0.dev" 4<>"$T/nic0.ctr" >"$T/out" 2>"$T/err" ||
	fail "vfio-migctl attach with --container-fd: $(cat "$T/err")"
grep -q '"dirty_tracking_by":"type1 IOMMU dirty pages (the VMM'"'"'s container)"' "$T/out" ||
	fail "nic0: $(cat "$T/out")"
python3 "$CLIENT" --socket "$HS" attach nic1 --fd 3 --container-fd 4 --backend vfio-v1 \
	--iova 0:65536 3<>"$T/nic1.dev" 4<>"$T/nic1.ctr" >"$T/out" 2>"$T/err" ||
	fail "contrib attach with --container-fd: $(cat "$T/err")"
[ "$(field nic1 guest_memory_size)" = 65536 ] || fail "nic1: $(api a GET /v1/devices/nic1)"
api a GET /v1/devices/nic1 | grep -q '"dirty_tracking":true' || fail "nic1: $(api a GET /v1/devices/nic1)"
pass "vfio-migctl attach --container-fd and handover-client.py --container-fd hand over a v1 device with its container"
stop_daemon a
