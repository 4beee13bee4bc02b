#!/bin/bash
# Bash completion for vfio-migctl (cli/vfio-migctl.bash): commands and each
# command's options as the binary's --help lists them, option values,
# device names and migration ids from a live daemon through -s, and nothing
# (quickly) when the daemon does not answer.
. "$(dirname "$0")/lib.sh"

COMPLETION="$SRCDIR/cli/vfio-migctl.bash"
bash -n "$COMPLETION" || fail "$COMPLETION: syntax"
DEVICES="[device gpu0]
backend = sim
size = 1M
image = @DIR@/gpu0.img
seed = 1

[device nic0]
backend = sim
size = 1M
image = @DIR@/nic0.img
seed = 2"
certs
write_config a host-a
start_daemon a
id=$(api a POST /v1/devices/nic0/incoming | json_get migration_id)
[ -n "$id" ] || fail "no migration to complete the id of"

# offered WORD...: what completing the last word offers, one per line.
offered() {
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _vfio_migctl
		printf "%s\n" "${COMPREPLY[@]}"' _ "$COMPLETION" "$MIGCTL" "$@" | sort
}

# expect WANT WORD...: the offer is exactly WANT (words separated by blanks).
expect() {
	local want got
	want=$(printf '%s\n' $1 | sort)
	shift
	got=$(offered "$@")
	[ "$got" = "$want" ] || fail "completing \"$*\": offered [$(echo $got)], wanted [$(echo $want)]"
}

# has WORD WORD...: the offer includes WORD.
has() {
	local w=$1 got
	shift
	got=$(offered "$@")
	echo "$got" | grep -qx -- "$w" || fail "completing \"$*\": no $w in [$(echo $got)]"
}

for c in health devices device incoming migrate migrations show switchover cancel watch attach detach; do
	has "$c" ""
done
expect "migrate migrations" mi
expect "--socket" --s
expect "-s --socket -j --json -h --help -V --version" -
pass "commands from --help, global options"

expect "gpu0 nic0" -s "$T/a.sock" incoming ""
expect "gpu0" -s "$T/a.sock" migrate g
expect "$id" -s "$T/a.sock" show ""
expect "$id" -s "$T/a.sock" cancel "${id:0:4}"
pass "device names and migration ids from the daemon"

expect "--switchover" -s "$T/a.sock" migrate gpu0 --sw
expect "auto manual" migrate gpu0 --switchover ""
expect "running" attach x --final-state r
expect "vfio-v1 vfio-v2" attach x --backend vfio-
has --final-state attach x --
has --wait migrate gpu0 --
expect "" migrate gpu0 --to ""
pass "each command's options from its --help, and their values"

t0=$(date +%s)
expect "" -s "$T/nowhere.sock" device ""
[ $(($(date +%s) - t0)) -le 5 ] || fail "completion waited $(($(date +%s) - t0)) s for a daemon that is not there"
pass "no daemon: nothing offered, no wait"
