#!/bin/sh
# dev.sh: the two quick-start commands, and the steps they are made of.
#
#   ./dev.sh demo    install what is missing, build, migrate a software device
#                    between two daemons on this machine, verify the result
#   ./dev.sh test    install what is missing, build, run the whole test suite:
#                    unit + integration tests on the plain build, make
#                    distcheck (the tarball builds, unit tests), the same
#                    unit + integration tests on the sanitizer build, a
#                    short fuzz pass; a failing test's log is printed
#
# Also: deps, build, check, distcheck, sanitize, fuzz [SECONDS], clean.
# Builds happen out of tree, in _build/ (and _build-san/, _build-fuzz/).
# STRESS=1 ./dev.sh check|sanitize|test: the same, with one core kept busy
# by a background loop and every daemon's fsync slowed by 200 ms, to flush
# out timing assumptions.
set -eu

top=$(cd "$(dirname "$0")" && pwd)
jobs=$(nproc 2>/dev/null || echo 2)

# Debian packages the build, the tests and the demo need.
PACKAGES="gcc make autoconf automake pkg-config libevent-dev libssl-dev uuid-dev
libjansson-dev libinih-dev libxxhash-dev libzstd-dev check openssl curl socat clang libclang-rt-14-dev prometheus
jq python3 qemu-system-x86"

say() { printf '==> %s\n' "$*"; }

deps() {
	missing=""
	for p in $PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "dev.sh: missing Debian packages:$missing" >&2
		echo "dev.sh: run as root, or: sudo apt-get install$missing" >&2
		exit 1
	fi
	say "installing Debian packages:$missing"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# configure_in DIR [configure args...]: (re)configure an out-of-tree build.
configure_in() {
	dir=$1
	shift
	if [ ! -x "$top/configure" ] || [ "$top/configure.ac" -nt "$top/configure" ] ||
		[ "$top/Makefile.am" -nt "$top/Makefile.in" ]; then
		say "autoreconf"
		(cd "$top" && autoreconf -fi)
	fi
	mkdir -p "$dir"
	if [ ! -f "$dir/Makefile" ] || [ "$top/configure" -nt "$dir/config.status" ]; then
		say "configure $* (in $dir)"
		(cd "$dir" && "$top/configure" -q "$@")
	fi
}

build() {
	deps
	configure_in "$top/_build"
	say "make"
	make -C "$top/_build" -j"$jobs" >/dev/null
}

check() {
	build
	say "make check"
	make -C "$top/_build" -j"$jobs" check || { show_failures "$top/_build"; return 1; }
}

# The last 100 lines of each failing test's log, then the list of them.
show_failures() {
	failed=$(grep -l -E '^:test-result: (FAIL|ERROR)' "$1"/tests/*.trs "$1"/tests/integration/*.trs \
		"$1"/tests/*/*.trs 2>/dev/null | sort -u | sed 's/\.trs$/.log/')
	for log in $failed; do
		# Its FAIL lines first: a test's last lines are often the
		# daemon logs its cleanup prints, not what failed.
		echo "---- $log (FAIL lines)"
		grep '^FAIL' "$log" | head -n 20
		echo "---- $log (last 100 lines)"
		tail -n 100 "$log"
	done
	[ -z "$failed" ] || say "failed:$(for log in $failed; do printf ' %s' "${log#"$1"/}"; done)"
}

# The tarball builds, installs and passes the unit tests; the integration
# suite runs once per build flavour (check, sanitize), not a third time.
distcheck() {
	build
	say "make distcheck (unit tests)"
	make -C "$top/_build" -j"$jobs" distcheck TESTS='$(UNIT_TESTS)' >"$top/_build/distcheck.log" 2>&1 || {
		tail -n 100 "$top/_build/distcheck.log"
		for sub in "$top"/_build/vfio-migd-*/_build/sub; do
			[ -d "$sub" ] && show_failures "$sub"
		done
		return 1
	}
}

sanitize() {
	deps
	configure_in "$top/_build-san" --enable-sanitizers CC=clang
	say "make check (ASan + UBSan)"
	make -C "$top/_build-san" -j"$jobs" >/dev/null
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		make -C "$top/_build-san" -j"$jobs" check ||
		{ show_failures "$top/_build-san"; return 1; }
}

# fuzz [SECONDS]: each libFuzzer target in turn (fuzz/fuzz_NAME.c), the
# seconds shared among them, starting from a copy of its committed corpus
# (fuzz/corpus/NAME) and its dictionary (fuzz/NAME.dict) if it has one. A
# crash, leak or hang stops here with the fuzzer's report; its input is kept
# as _build-fuzz/fuzz/NAME-crash-* (or leak-, timeout-).
fuzz() {
	seconds=${1:-30}
	targets="frame data config journal handover httpd metrics_http compress vfio_user"
	count=$(echo "$targets" | wc -w)
	each=$(((seconds + count - 1) / count))
	deps
	configure_in "$top/_build-fuzz" --enable-fuzzing CC=clang
	# shellcheck disable=SC2046,SC2086
	make -C "$top/_build-fuzz" -j"$jobs" $(printf 'fuzz/fuzz_%s ' $targets) >/dev/null
	for name in $targets; do
		say "fuzzing $name for ${each}s"
		work=$(mktemp -d)
		cp "$top/fuzz/corpus/$name"/* "$work"/
		dict=""
		[ ! -f "$top/fuzz/$name.dict" ] || dict="-dict=$top/fuzz/$name.dict"
		# Not piped: the fuzzer's exit status is what fails the run.
		# shellcheck disable=SC2086
		if ! "$top/_build-fuzz/fuzz/fuzz_$name" -max_total_time="$each" -max_len=4096 \
			-timeout=10 -print_final_stats=1 -artifact_prefix="$top/_build-fuzz/fuzz/$name-" \
			$dict "$work" >"$work.log" 2>&1; then
			tail -n 60 "$work.log"
			rm -rf "$work" "$work.log"
			say "fuzz_$name failed: see above; its input is in _build-fuzz/fuzz/"
			return 1
		fi
		tail -n 5 "$work.log"
		rm -rf "$work" "$work.log"
	done
}

# STRESS=1: a busy core and slow fsyncs for the rest of this run.
stress() {
	[ "${STRESS:-0}" = 1 ] || return 0
	say "STRESS: one core busy, every daemon's fsync 200 ms slower"
	sh -c 'while :; do :; done' &
	busy=$!
	trap 'kill $busy 2>/dev/null' EXIT
	trap 'kill $busy 2>/dev/null; exit 130' INT TERM
	VFIO_MIGD_TEST_SLOW_FSYNC_MS=200
	export VFIO_MIGD_TEST_SLOW_FSYNC_MS
}

demo() {
	build
	exec "$top/tests/demo.sh" "$top/_build"
}

test_all() {
	check
	distcheck
	sanitize
	fuzz 20
	say "all tests passed"
}

case "${1:-}" in
check | sanitize | test) stress ;;
esac
case "${1:-}" in
deps) deps ;;
build) build ;;
check) check ;;
distcheck) distcheck ;;
sanitize) sanitize ;;
fuzz) fuzz "${2:-30}" ;;
demo) demo ;;
test) test_all ;;
clean) rm -rf "$top/_build" "$top/_build-san" "$top/_build-fuzz" ;;
*)
	sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
