#!/bin/bash
# A device that blocks (issue 14, item 4): every state change of `slow`
# takes SLOW_MS (transition_delay_ms), as a slow firmware's would. Its
# calls run on its own thread, so while it blocks the daemon answers its
# API at once and another device (`quick`) migrates from start to end.
#
# Checked: while slow's migration waits for its device (engine_state
# "starting"), no API answer of daemon a took half of SLOW_MS (a loop
# held by the device would hold the first one for nearly all of it), quick's
# migration completed with identical images, and slow's migration was
# still waiting for its device then. Then slow is cancelled: the rollback
# waits for the device too, and the migration ends cancelled with the
# device running.
#
# The figures (worst answer, quick's migration time) are printed;
# bench/blocking-device.sh runs this with and without the delay and gives
# the ratios.
. "$(dirname "$0")/lib.sh"

SLOW_MS=${SLOW_MS:-20000}
# devices DELAY DIRTY SEED: slow blocks DELAY ms per state change.
devices() {
	printf '[device slow]\nbackend = sim\nsize = 1M\nimage = @DIR@/slow.img\n'
	printf 'transition_delay_ms = %s\nseed = %s\n\n' "$1" "$3"
	printf '[device quick]\nbackend = sim\nsize = 2M\ndirty_rate = %s\n' "$2"
	printf 'image = @DIR@/quick.img\nseed = %s\n' "$3"
}
# Only the source's slow device blocks: the destination's answers at once.
certs
DEVICES=$(devices "$SLOW_MS" 256K 1) write_config a host-a
DEVICES=$(devices 0 0 2) write_config b host-b
start_daemon a
start_daemon b

out=$(ctl b --json incoming slow) || fail "incoming slow: $out"
tok_slow=$(echo "$out" | json_get token)
out=$(ctl b --json incoming quick) || fail "incoming quick: $out"
tok_quick=$(echo "$out" | json_get token)

out=$(ctl a --json migrate slow --to "127.0.0.1:$PB" --token "$tok_slow") || fail "migrate slow: $out"
slow_id=$(echo "$out" | json_get id)
[ -n "$slow_id" ] || fail "no migration id in $out"
if [ "$SLOW_MS" -gt 0 ]; then
	# Its device is asked for pre-copy and takes SLOW_MS to answer.
	i=0
	until [ "$(api a GET "/v1/migrations/$slow_id" | json_get engine_state)" = starting ]; do
		i=$((i + 1))
		[ $i -lt 200 ] || fail "slow's migration never waited for its device: $(api a GET "/v1/migrations/$slow_id")"
		sleep 0.05
	done
fi

# Meanwhile: quick migrates, and the API is asked 20 times a second.
ctl a --json migrate quick --to "127.0.0.1:$PB" --token "$tok_quick" --wait >"$T/quick.out" 2>&1 &
quick_pid=$!
worst=0
n=0
while kill -0 "$quick_pid" 2>/dev/null || [ $n -lt 20 ]; do
	t=$(curl -sS -o /dev/null -w '%{time_total}' --unix-socket "$T/a.sock" http://localhost/v1/health) ||
		fail "daemon a did not answer its API"
	t=$(awk -v t="$t" 'BEGIN { printf "%d", t * 1000 }')
	[ "$t" -le "$worst" ] || worst=$t
	n=$((n + 1))
	sleep 0.05
done
wait "$quick_pid" || fail "quick's migration: $(cat "$T/quick.out")"
[ "$(tail -n 1 "$T/quick.out" | json_get phase)" = completed ] || fail "quick: $(cat "$T/quick.out")"
quick_ms=$(tail -n 1 "$T/quick.out" | json_get total_ms)
[ "$(sha "$T/a/quick.img")" = "$(sha "$T/b/quick.img")" ] || fail "quick's images differ"
slow_state=$(api a GET "/v1/migrations/$slow_id" | json_get engine_state)
say "slow device blocking ${SLOW_MS} ms per state change: worst API answer ${worst} ms of $n, quick's migration ${quick_ms} ms, slow's migration meanwhile: $slow_state"
if [ "$SLOW_MS" -gt 0 ]; then
	[ "$slow_state" = starting ] ||
		fail "slow's device answered before quick's migration ended ($quick_ms ms): the test proves nothing on a machine this slow"
	# A loop held by the device would hold the first request for most of
	# SLOW_MS; 5 s separates that from a slow machine's curl. (SLOW_MS is
	# 20 s so that quick's migration ends inside it even at load 20.)
	[ "$worst" -lt 5000 ] ||
		fail "an API answer took $worst ms while a device blocked $SLOW_MS ms (bound: 5000 ms)"
fi

if [ "$SLOW_MS" -gt 0 ]; then
	# Cancel slow: the rollback waits for the device, then it is cancelled.
	api a POST "/v1/migrations/$slow_id/cancel" >/dev/null
	wait_phase a "$slow_id" cancelled
	[ "$(device_state a slow)" = running ] || fail "slow's device is $(device_state a slow) after the cancel"
else
	# The reference run: nothing blocks, slow migrates as any device.
	wait_phase a "$slow_id" completed
	[ "$(sha "$T/a/slow.img")" = "$(sha "$T/b/slow.img")" ] || fail "slow's images differ"
fi
[ "$(api a GET "/v1/health" | json_get status)" = ok ] || fail "daemon a: $(api a GET /v1/health)"
pass "a device blocking ${SLOW_MS} ms: worst API answer ${worst} ms, another device migrated in ${quick_ms} ms, the blocked one $([ "$SLOW_MS" -gt 0 ] && echo "cancelled and running" || echo "migrated too")"
