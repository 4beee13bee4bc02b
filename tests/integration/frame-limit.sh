#!/bin/bash
# max_frame_size bounds each connection's input buffer: a destination with
# max_frame_size = 64K refuses a source's 1 MiB chunks with frame-too-large
# (before buffering them: its RssAnon stays small), and the same migration
# with 32 KiB chunks completes byte-identical.
. "$(dirname "$0")/lib.sh"

DEVICES="[device sim0]
backend = sim
size = 8M
dirty_rate = 1M
image = @DIR@/sim0.img
seed = 1"
EXTRA_DAEMON="max_frame_size = 64K"
start_pair

token=$(ctl b --json incoming sim0 | json_get token)
out=$(ctl a --json migrate sim0 --to "127.0.0.1:$PB" --token "$token" --wait | tail -n 1)
[ "$(echo "$out" | json_get code)" = frame-too-large ] || fail "1 MiB chunks: $out"
[ "$(device_state a sim0)" = running ] || fail "source device not running"
grep -q "frame-too-large" "$T/b.log" || fail "destination did not log the refusal"
rss=$(awk '/RssAnon/ {print $2}' "/proc/$PID_b/status")
[ "$rss" -lt 32768 ] || fail "destination RssAnon $rss KiB after refusing big frames"
pass "1 MiB chunks refused with frame-too-large by max_frame_size = 64K (destination RssAnon $rss KiB)"

token=$(ctl b --json incoming sim0 | json_get token)
id=$(api a POST /v1/migrations -d "{\"device\":\"sim0\",\"destination\":\"127.0.0.1:$PB\",\"token\":\"$token\",\"chunk_size\":32768}" | json_get id)
wait_phase a "$id" completed failed
out=$(api a GET "/v1/migrations/$id")
[ "$(echo "$out" | json_get phase)" = completed ] || fail "32 KiB chunks: $out"
[ "$(sha "$T/a/sim0.img")" = "$(sha "$T/b/sim0.img")" ] || fail "images differ"
pass "32 KiB chunks under the limit: completed, images byte-identical"
