#!/bin/bash
# The vfio-user test server on its own (issue 18), driven by a tiny client of
# ours (tests/vfio_user_drive.py), so that the end-to-end tests stand on a
# server known to be sound: a pre-copy with initial and dirty data under a
# workload, then stop-copy, loaded into a second server byte-identical; the
# error replies it documents; DMA logging; the strict one-recv() rule; each
# hostile reply is what --fault says; a corrupt stream is refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-vfio-user.sh"

vu_start src --size 8M --workload 4M --initial 2M --dump-on-stop "$T/src.dump"
vu_start dst --size 8M --seed 2 --dump-on-resume "$T/dst.dump"

out=$(vu_drive src save "$T/stream" --expect-initial) || fail "save: $out"
echo "$out"
out=$(vu_drive dst load "$T/stream") || fail "load: $out"
echo "$out"
cmp "$T/src.dump" "$T/dst.dump" || fail "the loaded state differs from the saved one"
vu_no_short_reads src dst
pass "pre-copy (initial then dirty) and stop-copy under a workload, loaded byte-identical"

out=$(vu_drive src checks) || fail "$out"
pass "$out"
out=$(vu_drive src dma-logging) || fail "$out"
pass "$out"
out=$(vu_drive dst short-read) || fail "$out"
grep -q "short read: body 2048 of 4096 bytes" "$T/dst-vu.log" || fail "no short read in the log"
pass "a body that has not fully arrived is a short read: logged, connection dropped"
out=$(vu_drive dst checks) || fail "the server does not serve after a short read: $out"
pass "the next client is served"

for kind in bad-msg-id bad-command error-reply short-reply oversized-reply huge-reply \
	hang-up kill stall; do
	vu_start h --fault "$kind"
	out=$(vu_drive h hostile "$kind") || fail "$out"
	pass "$out"
	vu_stop h
done

vu_start bad --size 8M --fault corrupt@stop-copy
vu_drive bad save "$T/bad-stream" >/dev/null || fail "save from the corrupting server"
vu_start dst2 --size 8M --seed 3
out=$(vu_drive dst2 load-refused "$T/bad-stream" 22) || fail "$out"
grep -q "payload hash differs" "$T/dst2-vu.log" || fail "no reason in the log"
pass "a corrupt stream is refused with EINVAL: $out"
exit 0
