#!/bin/bash
# A vfio-user device whose connection a VMM hands over (issue 18, SPEC §8):
# on each host a "VMM" (contrib/handover-client.py --vfio-user-socket)
# connects to the test server, negotiates VERSION as a VMM would and hands
# the connected socket to the daemon, which sends no VERSION of its own and
# drives the migration on it. The device migrates byte-identical, ends in
# the final state the destination's VMM asked for, and is detached; neither
# strict server met a short read or refused anything. A server that stalls
# at attach does not hold the daemon's API, and is refused
# vfio-user-timeout.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-vfio-user.sh"

CLIENT="$SRCDIR/contrib/handover-client.py"

vu_start srv-a --size 16M --workload 2M --initial 4M --dump-on-stop "$T/a-stop.dump"
vu_start srv-b --size 16M --seed 2 --dump-on-resume "$T/b-resume.dump"

certs
EXTRA_DAEMON="handover = $T/a.handover" write_config a host-a
EXTRA_DAEMON="handover = $T/b.handover" write_config b host-b
start_daemon a
start_daemon b

# The owner watched is this script (the client's parent), which outlives
# the migration.
python3 "$CLIENT" --socket "$T/a.handover" attach vu0 --backend vfio-user \
	--vfio-user-socket "$T/srv-a.vu" >"$T/attach-a" 2>&1 || fail "attach on a: $(cat "$T/attach-a")"
python3 "$CLIENT" --socket "$T/b.handover" attach vu0 --backend vfio-user \
	--vfio-user-socket "$T/srv-b.vu" --final-state running >"$T/attach-b" 2>&1 ||
	fail "attach on b: $(cat "$T/attach-b")"
dev=$(api a GET /v1/devices/vu0)
echo "$dev"
[ "$(echo "$dev" | json_get backend)" = vfio-user ] || fail "backend: $dev"
[ "$(echo "$dev" | json_get origin)" = handover ] || fail "origin: $dev"
[ "$(grep -c "version .* proposed" "$T/srv-a-vu.log")" = 1 ] ||
	fail "VERSION was not negotiated exactly once on the handed-over connection"
grep -q "client connected" "$T/srv-a-vu.log" || fail "the VMM never connected"
pass "each VMM's negotiated connection handed over, one VERSION on it"

sleep 0.3 # the workload runs a little before the migration
final=$(migrate_device vu0)
echo "$final"
[ "$(echo "$final" | json_get phase)" = completed ] || fail "migration: $final"
cmp "$T/a-stop.dump" "$T/b-resume.dump" || fail "the destination loaded another state"
[ "$(device_state a vu0)" = stopped ] || fail "source is $(device_state a vu0)"
[ "$(device_state b vu0)" = running ] || fail "destination is $(device_state b vu0), not its final_state"
vu_no_short_reads srv-a srv-b
vu_no_refusals srv-a srv-b
pass "migrated over the handed-over connections, byte-identical, destination running as asked"

python3 "$CLIENT" --socket "$T/a.handover" detach vu0 >/dev/null 2>&1 || fail "detach on a"
python3 "$CLIENT" --socket "$T/b.handover" detach vu0 >/dev/null 2>&1 || fail "detach on b"
[ "$(api a GET /v1/devices/vu0 | json_get code)" = not-found ] || fail "vu0 still on a"
i=0
until grep -q "client closed the connection" "$T/srv-b-vu.log"; do
	i=$((i + 1))
	[ $i -lt 300 ] || fail "the destination's server still has a client after detach"
	sleep 0.1
done
pass "detached: the daemons let go of the connections"

# A server that stalls at the attach's DEVICE_GET_INFO: the daemon asks it
# on the device's thread, so the API answers while the attach waits; the
# attach fails vfio-user-timeout once the request's 5 s are out.
vu_start srv-stall --fault stall@get-info
python3 "$CLIENT" --socket "$T/a.handover" attach vu1 --backend vfio-user \
	--vfio-user-socket "$T/srv-stall.vu" --vfio-user-timeout-ms 5000 >"$T/attach-stall" 2>&1 &
attach_pid=$!
i=0
until grep -q "stalling" "$T/srv-stall-vu.log"; do
	i=$((i + 1))
	[ $i -lt 300 ] || fail "the attach never reached the stalled server"
	sleep 0.1
done
t0=$(date +%s%N)
[ "$(api a GET /v1/health | json_get status)" = ok ] || fail "health while attaching"
[ "$(api a GET /v1/devices/vu1 | json_get code)" = not-found ] || fail "vu1 listed while attaching"
t1=$(date +%s%N)
kill -0 "$attach_pid" 2>/dev/null || fail "the attach was answered before the API was asked"
echo "# the API answered in $(((t1 - t0) / 1000000)) ms while the attach waited on its server"
wait "$attach_pid" && fail "a stalled server was attached: $(cat "$T/attach-stall")"
grep -q "vfio-user-timeout" "$T/attach-stall" || fail "attach: $(cat "$T/attach-stall")"
[ "$(api a GET /v1/devices/vu1 | json_get code)" = not-found ] || fail "vu1 after the refusal"
pass "a server stalled at attach: the API served meanwhile, then vfio-user-timeout"

# vfio-migctl attach --backend vfio-user: an agent spawns the CLI with a
# server's connected socket inherited (not negotiated: the daemon sends
# VERSION). The socket's send timeout is a setting of the socket, shared
# with the agent: the daemon's while it holds it, the agent's own again
# once the device is detached.
vu_start srv-cli --size 4M
cat >"$T/agent.py" <<'PY'
import os, socket, struct, subprocess, sys, time
migctl, handover, server = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(server)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 7, 500000))
os.set_inheritable(s.fileno(), True)
def timeout():
    return struct.unpack("ll", s.getsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, 16))
def ctl(*args):
    r = subprocess.run([migctl, *args, "--handover-socket", handover], pass_fds=[s.fileno()],
                       capture_output=True, text=True)
    print(r.stdout + r.stderr, end="")
    if r.returncode != 0:
        sys.exit("vfio-migctl %s: exit %d" % (args[0], r.returncode))
ctl("attach", "vu2", "--fd", str(s.fileno()), "--backend", "vfio-user",
    "--vfio-user-timeout-ms", "1500")
print("attached: send timeout %d.%06d" % timeout())
if timeout() != (1, 500000):
    sys.exit("the daemon's timeout is not on the socket")
ctl("detach", "vu2")
for _ in range(300):
    if timeout() == (7, 500000):
        break
    time.sleep(0.01)
print("detached: send timeout %d.%06d" % timeout())
if timeout() != (7, 500000):
    sys.exit("the agent's own send timeout did not come back")
PY
python3 "$T/agent.py" "$MIGCTL" "$T/a.handover" "$T/srv-cli.vu" >"$T/agent.out" 2>&1 ||
	fail "agent: $(cat "$T/agent.out")"
cat "$T/agent.out"
grep -q "vu2" "$T/agent.out" || fail "attach showed no device: $(cat "$T/agent.out")"
[ "$(grep -c "version .* proposed" "$T/srv-cli-vu.log")" = 1 ] ||
	fail "the daemon did not negotiate VERSION once on an unnegotiated socket"
[ "$(api a GET /v1/devices/vu2 | json_get code)" = not-found ] || fail "vu2 still on a"
pass "vfio-migctl attach --backend vfio-user; the agent's send timeout back after detach"

# What the CLI refuses before asking the daemon: exit 2, saying why.
refuse() {
	want=$1
	shift
	"$MIGCTL" attach vu3 --fd 0 --handover-socket "$T/a.handover" "$@" >/dev/null 2>"$T/err"
	rc=$?
	[ $rc = 2 ] || fail "attach $*: exit $rc, not 2"
	grep -q -- "$want" "$T/err" || fail "attach $*: $(cat "$T/err")"
}
refuse "256 bytes or more" --backend vfio-user --max-data-xfer-size 255
refuse "takes 100..600000" --backend vfio-user --vfio-user-timeout-ms 99
refuse "takes 100..600000" --backend vfio-user --vfio-user-timeout-ms 600001
refuse "is for a kernel device" --backend vfio-user --container-fd 0
refuse "are for --backend vfio-user" --backend vfio-v2 --vfio-user-timeout-ms 1000
refuse "takes vfio-v2, vfio-v1 or vfio-user" --backend vfio-usr
pass "vfio-migctl attach refuses vfio-user options out of bounds or beside another backend"
exit 0
