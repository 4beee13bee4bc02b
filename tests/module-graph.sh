#!/bin/sh
# module-graph.sh: the module graph of daemon/ from its #include lines, and
# a check that it has no cycle.
#
# A module is x.c with x.h (daemon/devices/ included); it depends on y when
# x.c or x.h includes "y.h" and y is a module of daemon/. Headers of
# common/ and proto/ are the layers below and not part of the graph.
# Prints each module's dependencies and fan-in with -v; exits 1 and names
# the modules of a cycle when there is one (tsort finds it).
#
#   tests/module-graph.sh [-v] [SRCDIR]
set -eu
verbose=0
if [ "${1:-}" = -v ]; then
	verbose=1
	shift
fi
top=${1:-${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}}
cd "$top"

modules=$(ls daemon/*.[ch] daemon/devices/*.[ch] | sed 's|.*/||; s|\.[ch]$||' | sort -u)
is_module() { echo "$modules" | grep -qx "$1"; }

edges=$(mktemp)
trap 'rm -f "$edges"' EXIT
for f in daemon/*.[ch] daemon/devices/*.[ch]; do
	from=$(basename "$f" | sed 's/\.[ch]$//')
	sed -n 's/^#include "\([^"]*\)\.h".*/\1/p' "$f" | while read -r to; do
		if [ "$to" != "$from" ] && is_module "$to"; then
			echo "$from $to"
		fi
	done
done | sort -u >"$edges"

if [ "$verbose" -eq 1 ]; then
	for m in $modules; do
		deps=$(awk -v m="$m" '$1 == m { printf " %s", $2 }' "$edges")
		fanin=$(awk -v m="$m" '$2 == m' "$edges" | wc -l)
		printf '%-16s fan-in %2d  ->%s\n' "$m" "$fanin" "$deps"
	done
fi
# tsort reports a loop on stderr ("input contains a loop", then its members).
if ! out=$(tsort "$edges" 2>&1 >/dev/null) || [ -n "$out" ]; then
	echo "module graph of daemon/ has a cycle:" >&2
	echo "$out" | sed -n 's/^tsort: //p' >&2
	exit 1
fi
echo "ok: module graph of daemon/ ($(echo "$modules" | wc -l) modules, $(wc -l <"$edges") edges) has no cycle"
