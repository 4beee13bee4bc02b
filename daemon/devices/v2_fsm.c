/*
 * v2_fsm.c: the v2 migration FSM's arcs and the planner (v2_fsm.h).
 *
 * The arcs are the uAPI's list (linux/vfio.h, "The FSM takes actions on the
 * arcs between FSM states" and the arcs a driver must implement for each
 * combination of VFIO_MIGRATION_* flags). The planner is a breadth-first
 * search over them under the uAPI's path rules; tests/test_v2_fsm.c checks
 * it against the kernel's own choice for every pair of states and flags.
 */
#include <errno.h>

#include "v2_fsm.h"

struct v2_arc {
	uint8_t from, to;
	uint8_t need;	/* flags the arc requires */
	uint8_t forbid; /* flags under which it is not an arc */
};

static const struct v2_arc v2_arcs[] = {
	/* VFIO_MIGRATION_STOP_COPY */
	{V2_STATE_RESUMING, V2_STATE_STOP, V2_MIG_STOP_COPY, 0},
	{V2_STATE_STOP, V2_STATE_RESUMING, V2_MIG_STOP_COPY, 0},
	{V2_STATE_STOP, V2_STATE_STOP_COPY, V2_MIG_STOP_COPY, 0},
	{V2_STATE_STOP_COPY, V2_STATE_STOP, V2_MIG_STOP_COPY, 0},
	/* without P2P, RUNNING and STOP meet directly */
	{V2_STATE_RUNNING, V2_STATE_STOP, V2_MIG_STOP_COPY, V2_MIG_P2P},
	{V2_STATE_STOP, V2_STATE_RUNNING, V2_MIG_STOP_COPY, V2_MIG_P2P},
	/* with P2P, through RUNNING_P2P */
	{V2_STATE_RUNNING, V2_STATE_RUNNING_P2P, V2_MIG_STOP_COPY | V2_MIG_P2P, 0},
	{V2_STATE_RUNNING_P2P, V2_STATE_RUNNING, V2_MIG_STOP_COPY | V2_MIG_P2P, 0},
	{V2_STATE_RUNNING_P2P, V2_STATE_STOP, V2_MIG_STOP_COPY | V2_MIG_P2P, 0},
	{V2_STATE_STOP, V2_STATE_RUNNING_P2P, V2_MIG_STOP_COPY | V2_MIG_P2P, 0},
	/* PRE_COPY */
	{V2_STATE_RUNNING, V2_STATE_PRE_COPY, V2_MIG_STOP_COPY | V2_MIG_PRE_COPY, 0},
	{V2_STATE_PRE_COPY, V2_STATE_RUNNING, V2_MIG_STOP_COPY | V2_MIG_PRE_COPY, 0},
	{V2_STATE_PRE_COPY, V2_STATE_STOP_COPY, V2_MIG_STOP_COPY | V2_MIG_PRE_COPY, V2_MIG_P2P},
	/* PRE_COPY with P2P */
	{V2_STATE_PRE_COPY, V2_STATE_PRE_COPY_P2P, V2_MIG_STOP_COPY | V2_MIG_PRE_COPY | V2_MIG_P2P,
	    0},
	{V2_STATE_PRE_COPY_P2P, V2_STATE_PRE_COPY, V2_MIG_STOP_COPY | V2_MIG_PRE_COPY | V2_MIG_P2P,
	    0},
	{V2_STATE_PRE_COPY_P2P, V2_STATE_RUNNING_P2P,
	    V2_MIG_STOP_COPY | V2_MIG_PRE_COPY | V2_MIG_P2P, 0},
	{V2_STATE_PRE_COPY_P2P, V2_STATE_STOP_COPY,
	    V2_MIG_STOP_COPY | V2_MIG_PRE_COPY | V2_MIG_P2P, 0},
	{V2_STATE_RUNNING_P2P, V2_STATE_PRE_COPY_P2P,
	    V2_MIG_STOP_COPY | V2_MIG_PRE_COPY | V2_MIG_P2P, 0},
};

#define V2_NARCS (sizeof(v2_arcs) / sizeof(v2_arcs[0]))

const char *
v2_state_name(uint32_t state)
{
	switch (state) {
	case V2_STATE_ERROR:
		return "error";
	case V2_STATE_STOP:
		return "stopped";
	case V2_STATE_RUNNING:
		return "running";
	case V2_STATE_STOP_COPY:
		return "stop-copy";
	case V2_STATE_RESUMING:
		return "resuming";
	case V2_STATE_RUNNING_P2P:
		return "running-p2p";
	case V2_STATE_PRE_COPY:
		return "pre-copy";
	case V2_STATE_PRE_COPY_P2P:
		return "pre-copy-p2p";
	}
	return "invalid";
}

int
v2_state_supported(uint32_t state, uint64_t flags)
{
	uint64_t need;

	switch (state) {
	case V2_STATE_STOP:
	case V2_STATE_RUNNING:
	case V2_STATE_STOP_COPY:
	case V2_STATE_RESUMING:
		need = V2_MIG_STOP_COPY;
		break;
	case V2_STATE_RUNNING_P2P:
		need = V2_MIG_STOP_COPY | V2_MIG_P2P;
		break;
	case V2_STATE_PRE_COPY:
		need = V2_MIG_STOP_COPY | V2_MIG_PRE_COPY;
		break;
	case V2_STATE_PRE_COPY_P2P:
		need = V2_MIG_STOP_COPY | V2_MIG_PRE_COPY | V2_MIG_P2P;
		break;
	default:
		return 0;
	}
	return (flags & need) == need;
}

int
v2_state_is_saving(uint32_t state)
{
	return state == V2_STATE_PRE_COPY || state == V2_STATE_PRE_COPY_P2P ||
	    state == V2_STATE_STOP_COPY;
}

int
v2_fsm_arc(uint32_t from, uint32_t to, uint64_t flags)
{
	size_t i;

	for (i = 0; i < V2_NARCS; i++)
		if (v2_arcs[i].from == from && v2_arcs[i].to == to &&
		    (flags & v2_arcs[i].need) == v2_arcs[i].need && !(flags & v2_arcs[i].forbid))
			return 1;
	return 0;
}

int
v2_fsm_plan(uint32_t from, uint32_t to, uint64_t flags, uint32_t *path, size_t max)
{
	/* Either the whole path stays in the saving group (one session goes
	 * on), or no interior state is in it (a session only starts at the
	 * end or stops at the start). */
	int within_saving = v2_state_is_saving(from) && v2_state_is_saving(to);
	uint8_t queue[V2_STATE_COUNT], parent[V2_STATE_COUNT], seen[V2_STATE_COUNT] = {0};
	uint32_t reversed[V2_STATE_COUNT], s, t;
	size_t head = 0, tail = 0, n = 0, i;

	if (!v2_state_supported(from, flags) || !v2_state_supported(to, flags))
		return -EINVAL;
	if (from == to)
		return 0;
	seen[from] = 1;
	queue[tail++] = (uint8_t)from;
	while (head < tail && !seen[to]) {
		s = queue[head++];
		for (i = 0; i < V2_NARCS; i++) {
			t = v2_arcs[i].to;
			if (v2_arcs[i].from != s || seen[t] || !v2_fsm_arc(s, t, flags))
				continue;
			if (t != to && within_saving != v2_state_is_saving(t))
				continue;
			seen[t] = 1;
			parent[t] = (uint8_t)s;
			queue[tail++] = (uint8_t)t;
		}
	}
	if (!seen[to])
		return -EINVAL;
	for (t = to; t != from; t = parent[t])
		reversed[n++] = t;
	if (n > max)
		return -ENOSPC;
	for (i = 0; i < n; i++)
		path[i] = reversed[n - 1 - i];
	return (int)n;
}
