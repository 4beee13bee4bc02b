#!/bin/bash
# demo.sh BUILD_DIR: migrate a software device between two vfio-migd
# daemons on this machine, over mutual TLS, and verify the result.
#
# Makes a throwaway CA and two host certificates, starts a source daemon
# ("host-a", a 256 MiB device whose workload dirties 16 MiB/s of its state
# and DMAs into 64 MiB of guest memory) and a destination daemon ("host-b")
# on loopback, prepares the destination, migrates with vfio-migctl showing
# progress, then compares the SHA-256 of both devices' images. Everything
# lives in a temporary directory removed at the end.
BUILD=$(cd "${1:-_build}" && pwd)
export BUILD
SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
export SRCDIR
. "$SRCDIR/tests/integration/lib.sh"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "certificates: a throwaway CA, host-a and host-b (in $T/certs)"
certs
ls "$T/certs" | grep -E '^(ca|host-a|host-b)-' | sed 's/^/   /'

DEVICES="[device sim0]
backend = sim
size = 256M
dirty_rate = 16M
image = @DIR@/sim0.img
guest_memory = @DIR@/sim0.ram
guest_memory_size = 64M
dma_dirty_rate = 4M
seed = 1"

step "starting the source daemon (host-a) and the destination daemon (host-b) on loopback"
start_pair
ctl a devices
echo "   source image:      $(sha "$T/a/sim0.img")"
echo "   destination image: $(sha "$T/b/sim0.img")"
sleep 1

step "destination: vfio-migctl incoming sim0"
out=$(ctl b --json incoming sim0) || fail "incoming failed: $out"
token=$(echo "$out" | json_get token)
echo "   migration $(echo "$out" | json_get migration_id), one-time token ${token:0:8}..."

step "source: vfio-migctl migrate sim0 --to 127.0.0.1:$PB --token ... --wait"
start=$(date +%s.%N)
ctl a migrate sim0 --to "127.0.0.1:$PB" --token "$token" --wait
rc=$?
end=$(date +%s.%N)
[ $rc -eq 0 ] || fail "migration did not complete (exit $rc)"
final=$(api a GET /v1/migrations | sed 's/},{/}\n{/g' | head -n 1)

step "result"
sa=$(sha "$T/a/sim0.img")
sb=$(sha "$T/b/sim0.img")
ga=$(sha "$T/a/sim0.ram")
gb=$(sha "$T/b/sim0.ram")
echo "   source device:      $(device_state a sim0)   image $sa"
echo "   destination device: $(device_state b sim0)   image $sb"
echo "   guest memory:       source $ga"
echo "                       destination $gb"
printf '   wall time %.2f s, total %s ms, downtime %s ms, %s iterations\n' \
	"$(awk "BEGIN{print $end - $start}")" "$(echo "$final" | json_get total_ms)" \
	"$(echo "$final" | json_get downtime_ms)" "$(echo "$final" | json_get iterations)"
if [ "$sa" = "$sb" ] && [ "$ga" = "$gb" ]; then
	printf '\n\033[1;32mOK: the destination holds exactly the state the source stopped with.\033[0m\n'
else
	fail "MISMATCH between source and destination"
fi
