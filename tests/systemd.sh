#!/bin/sh
# The unit file: systemd-analyze verify is clean and the offline security
# exposure score is 1.5 or lower, with /dev/vfio and the network allowed;
# the daemon runs as its own user (sysusers creates it) with no capability.
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
awk -v s="$score" 'BEGIN { exit !(s <= 1.5) }' || { echo "FAIL: exposure $score > 1.5"; exit 1; }
echo "ok: exposure level $score (at most 1.5)"

for want in 'User=vfio-migd' 'Group=vfio-migd' 'CapabilityBoundingSet=' 'AmbientCapabilities=' \
	'DeviceAllow=char-vfio rw' 'DeviceAllow=/dev/vfio/vfio rw' 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' 'Type=notify'; do
	grep -qx "$want" "$unit" || { echo "FAIL: unit lacks '$want'"; exit 1; }
done
echo "ok: its own user, no capability; /dev/vfio, the network and sd_notify allowed"

# sysusers makes that user (and its group), tmpfiles its directories.
grep -q '^u vfio-migd ' "$SRCDIR/systemd/vfio-migd.sysusers" || { echo "FAIL: sysusers makes no user vfio-migd"; exit 1; }
grep -q '^d /var/lib/vfio-migd 0750 vfio-migd vfio-migd' "$SRCDIR/systemd/vfio-migd.tmpfiles" ||
	{ echo "FAIL: tmpfiles: state directory not the daemon's"; exit 1; }
if command -v systemd-sysusers >/dev/null 2>&1; then
	out=$(systemd-sysusers --dry-run "$SRCDIR/systemd/vfio-migd.sysusers" 2>&1) ||
		{ echo "FAIL: systemd-sysusers --dry-run: $out"; exit 1; }
	echo "ok: systemd-sysusers takes the sysusers snippet"
fi
