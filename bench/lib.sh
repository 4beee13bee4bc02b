# bench/lib.sh: how every bench script starts (sourced, not run), with the
# build directory as its argument (default _build): BUILD and SRCDIR set
# and exported, tests/integration/lib.sh sourced (daemons, certificates,
# the API helpers).
#
# Images on tmpfs when there is one: on a disk, the page cache's writeback
# of gigabytes of freshly written images runs beside the migrations and
# adds noise of its own (run with TMPDIR=/tmp to include it). With
# BENCH_STATE_ON_DISK=1 (set by the script) the daemons' state_dir stays
# on a disk, as in production: the journal's fsync before END and COMMIT
# is part of the downtime.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
	export TMPDIR=/dev/shm
	if [ "${BENCH_STATE_ON_DISK:-0}" = 1 ]; then
		STATE_BASE=$(mktemp -d /var/tmp/vfio-migd-bench.XXXXXX)
		export STATE_BASE
	fi
fi
BUILD=$(cd "${1:-_build}" && pwd)
export BUILD
SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export SRCDIR
. "$SRCDIR/tests/integration/lib.sh"
