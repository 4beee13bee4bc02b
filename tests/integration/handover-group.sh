#!/bin/bash
# Devices handed over by their VMMs (SPEC §8) moved as one migration of
# several devices (SPEC §9), over the fake VFIO kernel of
# tests/preload/fake_vfio.c (v2 devices with P2P states):
#
#   - two running devices, one of them DMA-ing into guest memory: both are
#     quiesced (PRE_COPY_P2P) before either stops; on the destination, whose
#     VMM starts its devices (final_state stopped), both are loaded and left
#     stopped, never reset, each holding its source's final state;
#   - the destination's VMM of one device exits mid-migration: the whole
#     migration fails with owner-exited on both sides, and both source
#     devices run on, never reset.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-vmm.sh"

certs
EXTRA_DAEMON="handover = $T/a.handover" write_config a host-a
EXTRA_DAEMON="handover = $T/b.handover" write_config b host-b
start_daemon a
start_daemon b

# vmm_pair N SEED: VMMs sN (a) and dN (b) of device gpuN, attached.
vmm_pair() {
	vmm_start "s$1" --device "$T/a/gpu$1.dev" --create --seed "$2" --socket "$T/a.handover" \
		--name "gpu$1" --iova "0:$GUEST"
	vmm_start "d$1" --device "$T/b/gpu$1.dev" --create --seed "$(($2 + 100))" --anon \
		--socket "$T/b.handover" --name "gpu$1" --iova "0:$GUEST" --final-state stopped
	expect_answer "s$1" "attach ok" attach
	expect_answer "d$1" "attach ok" attach
}

# group A B [JSON fields]: a migration of gpuA and gpuB; sets mid, did.
group() {
	out=$(api b POST /v1/incoming -d "{\"devices\":[\"gpu$1\",\"gpu$2\"]}")
	token=$(echo "$out" | jq -r .token)
	did=$(echo "$out" | jq -r .migration_id)
	[ -n "$token" ] && [ "$token" != null ] || fail "incoming: $out"
	out=$(api a POST /v1/migrations -d "{\"devices\":[\"gpu$1\",\"gpu$2\"],\"destination\":\"127.0.0.1:$PB\",\"token\":\"$token\"${3:+,$3}}")
	mid=$(echo "$out" | jq -r .id)
	[ -n "$mid" ] && [ "$mid" != null ] || fail "migrate: $out"
}

# ---- two running devices, one migration -------------------------------------

vmm_pair 0 1
vmm_pair 1 2
expect_answer s0 "workload ok" workload on
group 0 1 '"switchover":"manual"'
wait_phase a "$mid" switchover-pending
ctl a switchover "$mid" >/dev/null || fail "switchover refused"
wait_phase a "$mid" completed failed cancelled
m=$(api a GET "/v1/migrations/$mid")
[ "$(echo "$m" | jq -c '[.phase, .device_count, [.devices[].phase]]')" = '["completed",2,["completed","completed"]]' ] ||
	fail "the migration: $(echo "$m" | jq -c '[.phase, .error, [.devices[] | {device, phase, error}]]')"
wait_phase b "$did" completed failed cancelled
[ "$(api b GET "/v1/migrations/$did" | jq -r .phase)" = completed ] ||
	fail "the destination's migration: $(api b GET "/v1/migrations/$did" | jq -c .error)"
# Order, from the source daemon's own log of each device's arcs: both in
# their P2P state before either left it for STOP_COPY.
first_stop=$(grep -n "device gpu[01]: state pre-copy-p2p -> stop-copy" "$T/a.log" | head -n 1 | cut -d: -f1)
last_quiesce=$(grep -n "device gpu[01]: state pre-copy -> pre-copy-p2p" "$T/a.log" | tail -n 1 | cut -d: -f1)
[ "$(grep -c "device gpu[01]: state pre-copy -> pre-copy-p2p" "$T/a.log")" = 2 ] ||
	fail "the source did not quiesce both devices: $(grep "device gpu[01]: state" "$T/a.log")"
[ -n "$first_stop" ] && [ "$last_quiesce" -lt "$first_stop" ] ||
	fail "a device stopped before the other was quiesced: $(grep "device gpu[01]: state" "$T/a.log")"
for k in 0 1; do # not n: vmm() uses n
	expect_answer "s$k" "status ok state=stopped resets=0" status
	digest=$(status_field "$ANS" digest)
	expect_answer "d$k" "check ok" check stopped "$digest"
done
# Left stopped for the VMM (final_state stopped): once loaded (out of
# RESUMING), no P2P hop, no run.
started=$(awk '/device gpu[01]: state resuming -> stopped/ { loaded[$4] = 1; next }
	/device gpu[01]: state .* -> running/ && loaded[$4] { print }' "$T/b.log")
[ "$(grep -c "device gpu[01]: state resuming -> stopped" "$T/b.log")" = 2 ] ||
	fail "the destination did not load both: $(grep "device gpu[01]: state" "$T/b.log")"
[ -z "$started" ] || fail "the destination started a device its VMM starts: $started"
pass "two handed-over devices as one migration: both quiesced before either stopped; the destination's two hold their sources' final states, stopped for their VMM, never reset"

for k in 0 1; do # not n: vmm() uses n
	expect_answer "d$k" "detach ok" detach
	expect_answer "s$k" "detach ok" detach
	expect_answer "d$k" "start ok" start
	expect_answer "d$k" "status ok state=running resets=0" status
done
pass "the daemons let go; the destination's VMM starts both"

# ---- one destination VMM exits mid-migration --------------------------------

vmm_pair 2 3
vmm_pair 3 4
group 2 3 '"switchover":"manual"'
wait_phase a "$mid" precopy switchover-pending
eval "echo exit >&\$VMM_FD_d3"
eval "wait \$VMM_PID_d3"
wait_phase b "$did" failed
[ "$(api b GET "/v1/migrations/$did" | jq -r .error.code)" = owner-exited ] ||
	fail "the destination's migration: $(api b GET "/v1/migrations/$did" | jq -c .error)"
wait_phase a "$mid" failed
m=$(api a GET "/v1/migrations/$mid")
[ "$(echo "$m" | jq -r .error.code)" = owner-exited ] || fail "the source's migration: $(echo "$m" | jq -c .error)"
echo "$m" | jq -r .error.message | grep -q "gpu3" ||
	fail "the error does not name the device that failed: $(echo "$m" | jq -c .error)"
for k in 2 3; do
	expect_answer "s$k" "status ok state=running resets=0" status
done
expect_answer d2 "status ok" status
pass "a destination VMM exited: the whole migration failed with owner-exited naming gpu3; both source devices run, never reset"
