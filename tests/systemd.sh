#!/bin/sh
# The unit file: systemd-analyze verify is clean and the offline security
# exposure score is 2.5 or lower, with /dev/vfio and the network allowed.
# Skipped (77) where systemd-analyze is not installed.
set -u
SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-$(pwd)}
unit="$SRCDIR/systemd/vfio-migd.service"
command -v systemd-analyze >/dev/null 2>&1 || { echo "no systemd-analyze: skipped"; exit 77; }
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT

# verify needs the binaries where the unit says: point it at the build.
sed "s|/usr/sbin/vfio-migd|$BUILD/vfio-migd|g" "$unit" >"$t/vfio-migd.service"
out=$(systemd-analyze verify --man=no "$t/vfio-migd.service" 2>&1)
if [ -n "$out" ]; then
	echo "FAIL: systemd-analyze verify:"
	echo "$out"
	exit 1
fi
echo "ok: systemd-analyze verify is clean"

score=$(systemd-analyze security --offline=yes "$unit" 2>/dev/null |
	sed -n 's/.*Overall exposure level for vfio-migd.service: \([0-9.]*\).*/\1/p')
[ -n "$score" ] || { echo "FAIL: no exposure score"; exit 1; }
awk -v s="$score" 'BEGIN { exit !(s <= 2.5) }' || { echo "FAIL: exposure $score > 2.5"; exit 1; }
echo "ok: exposure level $score (at most 2.5)"

for want in 'DeviceAllow=char-vfio rw' 'DeviceAllow=/dev/vfio/vfio rw' 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' 'Type=notify'; do
	grep -qx "$want" "$unit" || { echo "FAIL: unit lacks '$want'"; exit 1; }
done
echo "ok: /dev/vfio, the network and sd_notify allowed"
