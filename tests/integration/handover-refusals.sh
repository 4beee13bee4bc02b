#!/bin/bash
# The hand-over socket refuses what it must, each with its own code, and
# keeps serving: an fd that is no VFIO device (a pipe, /dev/null), a name
# that is taken (a configured device), a detach of a name it does not hold,
# malformed requests (not JSON, unknown op, missing fields, the wrong
# number of fds, a message too long, too many fds), and a peer of another
# uid. Through vfio-migctl, the contrib client and raw messages. What needs
# a VFIO device (an attach that succeeds) is handover.sh's, with the fake
# kernel.
. "$(dirname "$0")/lib.sh"

certs
DEVICES=$(printf '[device sim0]\nbackend = sim\nsize = 1M\nimage = @DIR@/sim0.img\n')
EXTRA_DAEMON="handover = $T/a.handover" write_config a host-a
start_daemon a
HS="$T/a.handover"
[ -S "$HS" ] || fail "no hand-over socket at $HS"
[ "$(stat -c %a "$HS")" = 660 ] || fail "hand-over socket mode $(stat -c %a "$HS"), not 660"
grep -q "hand-over socket on $HS" "$T/a.log" || fail "the daemon did not log its hand-over socket"

hctl() { "$MIGCTL" "$@" --handover-socket "$HS"; }

# expect_code CODE EXIT CMD...: the command exits EXIT and says CODE.
expect_code() {
	code=$1 want=$2
	shift 2
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
	[ "$rc" -eq "$want" ] || fail "$*: exit $rc, wanted $want: $(cat "$T/err")"
	grep -q "$code" "$T/err" || fail "$*: no $code in: $(cat "$T/err")"
}

# 1. Not a VFIO device: a pipe, and a character device that is not VFIO.
echo | expect_code not-vfio-device 1 hctl attach gpu0 --fd 0 --backend vfio-v2
expect_code not-vfio-device 1 hctl attach gpu0 --fd 0 --backend vfio-v2 </dev/null
hctl --json attach gpu0 --fd 0 --backend vfio-v2 </dev/null >"$T/out" 2>/dev/null
[ "$(json_get code <"$T/out")" = not-vfio-device ] || fail "--json: $(cat "$T/out")"
pass "a pipe and /dev/null refused with not-vfio-device"

# 2. A configured device's name is taken; it is not the socket's to detach.
expect_code device-exists 1 hctl attach sim0 --fd 0 --backend vfio-v2 </dev/null
expect_code not-found 1 hctl detach sim0
expect_code not-found 1 hctl detach gpu0
expect_code device-unsupported 1 hctl attach gpu1 --fd 0 --backend vfio-v1 --iova 0:4096 </dev/null
expect_code not-vfio-device 1 hctl attach gpu1 --fd 0 --backend vfio-v1 </dev/null
pass "device-exists for a configured name, not-found on detach, no DMA logging for vfio-v1"

# 3. The CLI checks its own arguments before the daemon sees them.
expect_code "missing --fd" 2 hctl attach gpu0 --backend vfio-v2
expect_code "START:LENGTH" 2 hctl attach gpu0 --fd 0 --backend vfio-v2 --iova 4096
expect_code "stopped or running" 2 hctl attach gpu0 --fd 0 --backend vfio-v2 --final-state on

# 4. Raw requests on one connection: each refused, the connection kept.
nfd=$(ls "/proc/$PID_a/fd" | wc -l)
python3 - "$HS" >"$T/raw" 2>&1 <<'PY' || fail "raw requests: $(cat "$T/raw")"
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
r, w = os.pipe()
def ask(data, fds=()):
    if fds:
        socket.send_fds(s, [data], list(fds))
    else:
        s.send(data)
    a = json.loads(s.recv(65536))
    return a.get("error", {}).get("code", "ok")
cases = [
    (b"not json", ()),
    (b"[]", ()),
    (b'{"name":"gpu0"}', ()),
    (b'{"op":"take","name":"gpu0"}', ()),
    (b'{"op":"attach","name":"gpu0","backend":"vfio-v2"}', ()),
    (b'{"op":"attach","name":"gpu0","backend":"vfio-v2"}', (r, w)),
    (b'{"op":"attach","name":"../x","backend":"vfio-v2"}', (r,)),
    (b'{"op":"attach","name":"gpu0","backend":"vfio-v2","iova":[{"start":1,"length":4096}]}', (r,)),
    (b'{"op":"attach","name":"gpu0","backend":"vfio-v2","page_size":3}', (r,)),
    (b'{"op":"detach","name":"gpu0"}', (r,)),
    (b'{"op":"set-iova","name":"gpu0","iova":[]}', (r,)),
    (b"x" * 20000, ()),
    (b'{"op":"detach","name":"gpu0"}', (r, w, r, w, r, w)),
]
for i, (data, fds) in enumerate(cases):
    code = ask(data, fds)
    if code != "bad-request":
        sys.exit("case %d (%r...): %s, wanted bad-request" % (i, data[:40], code))
# Still served, and the fds that came were not kept by the daemon.
if ask(b'{"op":"detach","name":"gpu0"}') != "not-found":
    sys.exit("connection not served after the refusals")
# An empty message (which ends a SOCK_SEQPACKET connection for its reader)
# with fds: the connection is closed, the fds with it.
e = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
e.connect(sys.argv[1])
socket.send_fds(e, [b""], [r, w])
e.settimeout(10)
if e.recv(100) != b"":
    sys.exit("an empty message was answered")
print("ok")
PY
[ "$(ls "/proc/$PID_a/fd" | wc -l)" -eq "$nfd" ] ||
	fail "the daemon kept fds it was sent: $(ls -l "/proc/$PID_a/fd")"
pass "malformed requests, wrong fd counts, a 20000-byte message and 6 fds: bad-request; no fd kept"

# 5. The contrib client says the same.
echo | python3 "$SRCDIR/contrib/handover-client.py" --socket "$HS" attach gpu0 --fd 0 \
	>"$T/out" 2>"$T/err" && fail "contrib client: a pipe was accepted"
grep -q "^not-vfio-device:" "$T/err" || fail "contrib client: $(cat "$T/err")"
python3 "$SRCDIR/contrib/handover-client.py" --socket "$HS" detach nope >"$T/out" 2>"$T/err"
[ $? -eq 1 ] && grep -q "^not-found:" "$T/err" || fail "contrib detach: $(cat "$T/err")"
pass "contrib/handover-client.py: not-vfio-device, not-found"

# 6. Another uid: the socket's mode keeps it out; opened up, the daemon
# refuses it by SO_PEERCRED all the same.
chmod 0711 "$T"
expect_code "" 3 setpriv --reuid=nobody --regid=nogroup --clear-groups \
	"$MIGCTL" detach gpu0 --handover-socket "$HS"
chmod 0666 "$HS"
expect_code permission-denied 1 setpriv --reuid=nobody --regid=nogroup --clear-groups \
	"$MIGCTL" detach gpu0 --handover-socket "$HS"
grep -q "hand-over socket: refused pid [0-9]* of uid 65534" "$T/a.log" ||
	fail "the refusal of uid 65534 is not in the log"
chmod 0660 "$HS"
pass "a peer of uid 65534 refused with permission-denied"

# The daemon serves on; the devices list says where each device came from.
out=$(api a GET /v1/devices/sim0)
[ "$(echo "$out" | json_get origin)" = config ] || fail "sim0 origin: $out"
echo "$out" | grep -q '"owner_pid":null' || fail "sim0 owner_pid: $out"
ctl a devices | grep -q "sim0 .* config" || fail "devices table: $(ctl a devices)"
stop_daemon a
[ -e "$HS" ] && fail "hand-over socket left behind at exit"
pass "the daemon serves on and removes its socket at exit"
