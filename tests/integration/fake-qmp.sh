#!/bin/sh
# fake-qmp.sh: a tiny stand-in for a QEMU QMP socket, for the hook tests.
#
#   fake-qmp.sh SOCKET LOG      serve SOCKET until killed
#
# Each connection gets the QMP greeting, must negotiate with
# qmp_capabilities like a real QEMU demands, and may then run stop, cont and
# query-status; anything else is CommandNotFound. Every command received is
# appended to LOG as one line "COMMAND" (after the greeting, in order); the
# guest's run state ("running" or "paused") is kept in LOG.status.
#
# Misbehaviour on demand, for veto tests (read at each command, so a test
# can change it between migrations by writing the files):
#   LOG.fail   holds a command name: that command answers with an error
#   LOG.delay  holds a number of seconds: every answer comes that late
#
# One JSON object per line, as QEMU's own clients send them. Needs socat.
set -u

if [ "${FAKE_QMP_SERVE:-}" != 1 ]; then
	[ $# -eq 2 ] || {
		echo "usage: fake-qmp.sh SOCKET LOG" >&2
		exit 2
	}
	command -v socat >/dev/null || {
		echo "fake-qmp.sh: socat is needed" >&2
		exit 2
	}
	: >>"$2"
	[ -f "$2.status" ] || echo running >"$2.status"
	FAKE_QMP_SERVE=1 FAKE_QMP_LOG=$2
	export FAKE_QMP_SERVE FAKE_QMP_LOG
	# exec: the caller's pid is socat's, so killing it stops the server.
	exec socat "UNIX-LISTEN:$1,fork,unlink-early,mode=600" "EXEC:/bin/sh $0"
fi

# One connection, stdin/stdout being the socket.
log=$FAKE_QMP_LOG
negotiated=0

reply() {
	delay=$(cat "$log.delay" 2>/dev/null)
	[ -n "$delay" ] && sleep "$delay"
	printf '%s\n' "$1"
}

# with_id JSON-TAIL: the answer, echoing the command's "id" as QMP does.
with_id() {
	if [ -n "$id" ]; then
		printf '{%s, "id": %s}' "$1" "$id"
	else
		printf '{%s}' "$1"
	fi
}

event() {
	printf '{"timestamp": {"seconds": %s, "microseconds": 0}, "event": "%s"}\n' "$(date +%s)" "$1"
}

printf '%s\n' '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 8}, "package": "fake-qmp"}, "capabilities": ["oob"]}}'
while IFS= read -r line; do
	cmd=$(printf '%s' "$line" | sed -n 's/.*"execute" *: *"\([^"]*\)".*/\1/p')
	id=$(printf '%s' "$line" | sed -n 's/.*"id" *: *\("[^"]*"\).*/\1/p')
	[ -n "$id" ] || id=$(printf '%s' "$line" | sed -n 's/.*"id" *: *\([0-9][0-9]*\).*/\1/p')
	[ -n "$cmd" ] || {
		reply "$(with_id '"error": {"class": "GenericError", "desc": "QMP input must be a JSON object with execute"}')"
		continue
	}
	echo "$cmd" >>"$log"
	if [ "$(cat "$log.fail" 2>/dev/null)" = "$cmd" ]; then
		reply "$(with_id "\"error\": {\"class\": \"GenericError\", \"desc\": \"fake-qmp: $cmd refused on purpose\"}")"
		continue
	fi
	if [ $negotiated -eq 0 ] && [ "$cmd" != qmp_capabilities ]; then
		reply "$(with_id '"error": {"class": "CommandNotFound", "desc": "Expecting capabilities negotiation with '"'"'qmp_capabilities'"'"'"}')"
		continue
	fi
	case $cmd in
	qmp_capabilities)
		negotiated=1
		reply "$(with_id '"return": {}')"
		;;
	stop)
		echo paused >"$log.status"
		event STOP
		reply "$(with_id '"return": {}')"
		;;
	cont)
		echo running >"$log.status"
		event RESUME
		reply "$(with_id '"return": {}')"
		;;
	query-status)
		st=$(cat "$log.status")
		run=false
		[ "$st" = running ] && run=true
		reply "$(with_id "\"return\": {\"status\": \"$st\", \"singlestep\": false, \"running\": $run}")"
		;;
	*)
		reply "$(with_id "\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command $cmd has not been found\"}")"
		;;
	esac
done
