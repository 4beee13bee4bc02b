#!/bin/bash
# The daemon needs no root (issue 15, "Unprivileged"): two daemons run as
# nobody, with no capability, migrate a software device byte-identical;
# their control sockets are nobody's with the group control_group (their
# own group: no privilege needed to set it), mode 0660; their journals are
# written as nobody. The unit does the same with a user of its own
# (tests/systemd.sh checks it).
. "$(dirname "$0")/lib.sh"

id nobody >/dev/null 2>&1 || fail "no user nobody"
group=$(id -gn nobody)
DEVICES="[device sim0]
backend = sim
size = 4M
dirty_rate = 1M
image = @DIR@/sim0.img
seed = 1"
EXTRA_DAEMON="control_group = $group"
start_pair_as_nobody() {
	certs
	write_config a host-a
	DEVICES=$(echo "$DEVICES" | sed 's/^dirty_rate = .*/dirty_rate = 0/; s/^seed = .*/seed = 2/') \
		write_config b host-b
	# Everything the daemons use is nobody's; the daemon starts through a
	# wrapper that drops to nobody, every capability gone.
	cat >"$T/migd-nobody" <<EOF
#!/bin/sh
exec setpriv --reuid=nobody --regid=$group --clear-groups --inh-caps=-all --bounding-set=-all \\
	"$BUILD/vfio-migd" "\$@"
EOF
	chmod 0755 "$T/migd-nobody"
	chown -R nobody:"$group" "$T"
	MIGD="$T/migd-nobody" start_daemon a
	MIGD="$T/migd-nobody" start_daemon b
}
start_pair_as_nobody

for n in a b; do
	eval "pid=\$PID_$n"
	[ "$(stat -c %U "/proc/$pid")" = nobody ] || fail "daemon $n runs as $(stat -c %U "/proc/$pid")"
	caps=$(awk '/^CapEff:/ { print $2 }' "/proc/$pid/status")
	[ "$caps" = 0000000000000000 ] || fail "daemon $n has capabilities $caps"
	[ "$(stat -c '%U:%G %a' "$T/$n.sock")" = "nobody:$group 660" ] ||
		fail "control socket $n: $(stat -c '%U:%G %a' "$T/$n.sock")"
done
pass "both daemons run as nobody with no capability; control sockets nobody:$group 0660"

token=$(ctl b --json incoming sim0 | json_get token)
[ -n "$token" ] || fail "no token"
final=$(ctl a --json migrate sim0 --to "127.0.0.1:$PB" --token "$token" --wait | tail -n 1)
[ "$(echo "$final" | json_get phase)" = completed ] || fail "migration: $final"
[ "$(sha "$T/a/sim0.img")" = "$(sha "$T/b/sim0.img")" ] || fail "images differ"
id=$(echo "$final" | json_get id)
[ "$(stat -c %U "$T/a/migrations/$id.json")" = nobody ] || fail "journal record: $(ls -l "$T/a/migrations")"
pass "migrated as nobody: images identical, journal written by nobody"
