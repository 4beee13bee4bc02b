#!/bin/bash
# bench/blocking-device.sh [BUILD_DIR]: what one blocking device costs the
# rest of the daemon (issue 14, item 4). Runs tests/integration/
# blocking-device.sh twice in a row: with a device whose every state
# change blocks 10 s (transition_delay_ms), and the same without the
# delay (the reference), and prints the worst API answer and another
# device's migration time of each, with the ratios.
BUILD=$(cd "${1:-_build}" && pwd)
SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
run() {
	SLOW_MS=$1 BUILD=$BUILD bash "$SRCDIR/tests/integration/blocking-device.sh" 2>&1 |
		sed -n 's/^# slow device blocking [0-9]* ms per state change: worst API answer \([0-9]*\) ms of [0-9]*, quick.s migration \([0-9]*\) ms.*/\1 \2/p'
}
read -r b_api b_quick <<<"$(run 10000)"
read -r r_api r_quick <<<"$(run 0)"
[ -n "$b_api" ] && [ -n "$r_api" ] || { echo "a run failed" >&2; exit 1; }
printf '%-40s %12s %12s %8s\n' "" "blocking" "reference" "ratio"
printf '%-40s %12s %12s %8s\n' "worst API answer (ms)" "$b_api" "$r_api" \
	"$(awk -v a="$b_api" -v b="$r_api" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
printf '%-40s %12s %12s %8s\n' "other device's migration (ms)" "$b_quick" "$r_quick" \
	"$(awk -v a="$b_quick" -v b="$r_quick" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
