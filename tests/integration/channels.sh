#!/bin/bash
# channels = N: one migration over N TLS connections, frames spread over
# them and put back in order by the destination. With a live workload and
# DMA into guest memory, 2 and 4 channels end byte-identical like 1.
. "$(dirname "$0")/lib.sh"

DEVICES="[device sim0]
backend = sim
size = 32M
dirty_rate = 4M
image = @DIR@/sim0.img
guest_memory = @DIR@/sim0.ram
guest_memory_size = 8M
dma_dirty_rate = 1M
seed = 1"
start_pair

for n in 2 4; do
	# Back and forth: the destination of one round is the source of the next.
	token=$(ctl b --json incoming sim0 | json_get token)
	final=$(ctl a --json migrate sim0 --to "127.0.0.1:$PB" --token "$token" --channels "$n" --wait | tail -n 1)
	[ "$(echo "$final" | json_get phase)" = completed ] || fail "$n channels: $final"
	[ "$(sha "$T/a/sim0.img")" = "$(sha "$T/b/sim0.img")" ] || fail "$n channels: images differ"
	[ "$(sha "$T/a/sim0.ram")" = "$(sha "$T/b/sim0.ram")" ] || fail "$n channels: guest memory differs"
	grep -q "channel $((n - 1)) of $n joined" "$T/b.log" || fail "$n channels: channels did not join"
	pass "$n channels: completed, images and guest memory byte-identical"
	# Restart both so the next round starts from running devices again.
	stop_daemon a
	stop_daemon b
	start_daemon a
	start_daemon b
done

# A stranger cannot join a running migration's channels: after the first
# channel took the token, a fresh HELLO with it is refused.
token=$(ctl b --json incoming sim0 | json_get token)
ctl a --json migrate sim0 --to "127.0.0.1:$PB" --token "$token" --channels 2 --wait >/dev/null
out=$(ctl a --json migrate sim0 --to "127.0.0.1:$PB" --token "$token" --channels 2 --wait | tail -n 1)
case "$(echo "$out" | json_get code)" in
bad-token | token-expired) ;;
*) fail "token reused for channels: $out" ;;
esac
pass "a spent token opens no channel"
