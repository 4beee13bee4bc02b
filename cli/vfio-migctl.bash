# bash completion for vfio-migctl                        -*- shell-script -*-
#
# Installed where bash-completion looks (its completionsdir, usually
# /usr/share/bash-completion/completions/vfio-migctl). Commands and each
# command's options come from vfio-migctl's own --help, so they cannot
# drift from the binary; device names and migration ids come from the
# daemon (the control socket of -s/--socket or $VFIO_MIGD_SOCKET), and
# nothing is offered when it does not answer within a second.

# The control socket the command line names, if any.
_vfio_migctl_socket()
{
	local i
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-s | --socket)
			printf '%s\n' "${COMP_WORDS[i + 1]}"
			return
			;;
		--socket=*)
			printf '%s\n' "${COMP_WORDS[i]#--socket=}"
			return
			;;
		esac
	done
}

# _vfio_migctl_api COMMAND: the daemon's JSON for it, or nothing.
_vfio_migctl_api()
{
	local sock
	sock=$(_vfio_migctl_socket)
	timeout 1 "${COMP_WORDS[0]}" ${sock:+-s "$sock"} --json "$1" 2>/dev/null
}

_vfio_migctl_devices()
{
	_vfio_migctl_api devices | grep -o '"name":"[^"]*"' | sed 's/^"name":"//; s/"$//'
}

_vfio_migctl_migrations()
{
	_vfio_migctl_api migrations | grep -o '"id":"[0-9a-f-]*"' | sed 's/^"id":"//; s/"$//'
}

_vfio_migctl()
{
	local cur prev cmd i words
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}
	COMPREPLY=()

	# The command: the first word that is neither an option nor the
	# socket option's argument.
	cmd=""
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-s | --socket) i=$((i + 1)) ;;
		-*) ;;
		*)
			cmd=${COMP_WORDS[i]}
			break
			;;
		esac
	done

	# Option arguments.
	case $prev in
	-s | --socket | --handover-socket)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	--switchover)
		COMPREPLY=($(compgen -W "auto manual" -- "$cur"))
		return
		;;
	--compression)
		COMPREPLY=($(compgen -W "none zstd auto" -- "$cur"))
		return
		;;
	--backend)
		COMPREPLY=($(compgen -W "vfio-v2 vfio-v1" -- "$cur"))
		return
		;;
	--final-state)
		COMPREPLY=($(compgen -W "stopped running" -- "$cur"))
		return
		;;
	--dest-device)
		return # a device of the destination, which this daemon does not know
		;;
	--to | --token | --downtime-limit | --max-bandwidth | --channels | --fd | --iova | \
		--page-size | --owner-pid | --container-fd)
		return
		;;
	esac

	if [ -z "$cmd" ]; then
		if [[ $cur == -* ]]; then
			words="-s --socket -j --json -h --help -V --version"
		else
			words=$("${COMP_WORDS[0]}" --help 2>/dev/null |
				sed -n '/^commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p')
		fi
		COMPREPLY=($(compgen -W "$words" -- "$cur"))
		return
	fi

	if [[ $cur == -* ]]; then
		words=$("${COMP_WORDS[0]}" "$cmd" --help 2>&1 | grep -o -- '--[a-z][a-z-]*' | sort -u)
		COMPREPLY=($(compgen -W "$words --help" -- "$cur"))
		return
	fi
	# incoming and migrate take several devices (one migration).
	case $cmd in
	incoming | migrate)
		COMPREPLY=($(compgen -W "$(_vfio_migctl_devices)" -- "$cur"))
		return
		;;
	esac
	# The command's one positional argument, right after it.
	[ "${COMP_WORDS[COMP_CWORD - 1]}" = "$cmd" ] || return
	case $cmd in
	device | detach)
		COMPREPLY=($(compgen -W "$(_vfio_migctl_devices)" -- "$cur"))
		;;
	show | switchover | cancel | watch)
		COMPREPLY=($(compgen -W "$(_vfio_migctl_migrations)" -- "$cur"))
		;;
	esac
}
complete -F _vfio_migctl vfio-migctl
