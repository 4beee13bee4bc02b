/*
 * states.c: the engines' state tables (states.h).
 */
#include "states.h"

#include <string.h>

#include "log.h"

#define TO(s) (1u << (s))

static const char *const src_names[SRC_NSTATES] = {
	[SRC_CONNECTING] = "connecting",
	[SRC_HELLO_SENT] = "hello-sent",
	[SRC_STARTING] = "starting",
	[SRC_STREAMING] = "streaming",
	[SRC_DRAIN_INTENT] = "drain-intent",
	[SRC_DRAINING] = "draining",
	[SRC_WRITING_INTENT] = "writing-intent",
	[SRC_HOOK_WAIT] = "hook-wait",
	[SRC_GROUP_WAIT] = "group-wait",
	[SRC_QUIESCING] = "quiescing",
	[SRC_QUIESCED] = "quiesced",
	[SRC_STOPPING] = "stopping",
	[SRC_STOPCOPY] = "stopcopy",
	[SRC_END_SENT] = "end-sent",
	[SRC_DONE] = "done",
};

/* Any state may end (DONE): failure, cancel, or after COMMIT. */
static const uint32_t src_arcs[SRC_NSTATES] = {
	[SRC_CONNECTING] = TO(SRC_HELLO_SENT) | TO(SRC_DONE),
	[SRC_HELLO_SENT] = TO(SRC_STARTING) | TO(SRC_DONE),
	[SRC_STARTING] = TO(SRC_STREAMING) | TO(SRC_DONE),
	[SRC_STREAMING] = TO(SRC_DRAIN_INTENT) | TO(SRC_DRAINING) | TO(SRC_WRITING_INTENT) |
	    TO(SRC_HOOK_WAIT) | TO(SRC_STOPPING) | TO(SRC_GROUP_WAIT) | TO(SRC_DONE),
	[SRC_DRAIN_INTENT] = TO(SRC_DRAINING) | TO(SRC_WRITING_INTENT) | TO(SRC_DONE),
	[SRC_DRAINING] = TO(SRC_HOOK_WAIT) | TO(SRC_STOPPING) | TO(SRC_GROUP_WAIT) | TO(SRC_DONE),
	[SRC_WRITING_INTENT] = TO(SRC_DRAINING) | TO(SRC_HOOK_WAIT) | TO(SRC_STOPPING) |
	    TO(SRC_GROUP_WAIT) | TO(SRC_DONE),
	[SRC_HOOK_WAIT] = TO(SRC_STOPPING) | TO(SRC_DONE),
	[SRC_GROUP_WAIT] = TO(SRC_QUIESCING) | TO(SRC_DONE),
	[SRC_QUIESCING] = TO(SRC_QUIESCED) | TO(SRC_DONE),
	[SRC_QUIESCED] = TO(SRC_STOPPING) | TO(SRC_DONE),
	[SRC_STOPPING] = TO(SRC_STOPCOPY) | TO(SRC_DONE),
	[SRC_STOPCOPY] = TO(SRC_END_SENT) | TO(SRC_DONE),
	[SRC_END_SENT] = TO(SRC_DONE),
	[SRC_DONE] = 0,
};

static const char *const dst_names[DST_NSTATES] = {
	[DST_WAITING] = "waiting",
	[DST_ACCEPTING] = "accepting",
	[DST_RECEIVING] = "receiving",
	[DST_LOADING] = "loading",
	[DST_LOADED] = "loaded",
	[DST_STARTING_P2P] = "starting-p2p",
	[DST_P2P] = "p2p",
	[DST_STARTING] = "starting",
	[DST_COMMITTING] = "committing",
	[DST_COMMITTED] = "committed",
	[DST_DONE] = "done",
};

static const uint32_t dst_arcs[DST_NSTATES] = {
	[DST_WAITING] = TO(DST_ACCEPTING) | TO(DST_DONE),
	[DST_ACCEPTING] = TO(DST_RECEIVING) | TO(DST_DONE),
	[DST_RECEIVING] = TO(DST_LOADING) | TO(DST_DONE),
	[DST_LOADING] = TO(DST_COMMITTING) | TO(DST_LOADED) | TO(DST_DONE),
	[DST_LOADED] = TO(DST_STARTING_P2P) | TO(DST_DONE),
	[DST_STARTING_P2P] = TO(DST_P2P) | TO(DST_DONE),
	[DST_P2P] = TO(DST_STARTING) | TO(DST_DONE),
	[DST_STARTING] = TO(DST_COMMITTING) | TO(DST_DONE),
	[DST_COMMITTING] = TO(DST_COMMITTED) | TO(DST_DONE),
	[DST_COMMITTED] = TO(DST_DONE),
	[DST_DONE] = 0,
};

const struct engine_states src_states = {"source", SRC_NSTATES, src_names, src_arcs};
const struct engine_states dst_states = {"destination", DST_NSTATES, dst_names, dst_arcs};

const char *
engine_state_name(const struct engine_states *t, unsigned state)
{
	return state < t->nstates ? t->names[state] : "?";
}

int
engine_arc_allowed(const struct engine_states *t, unsigned from, unsigned to)
{
	return from < t->nstates && to < t->nstates && (t->arcs[from] & (1u << to)) != 0;
}

int
engine_state_by_name(const struct engine_states *t, const char *name)
{
	unsigned i;

	for (i = 0; i < t->nstates; i++)
		if (strcmp(t->names[i], name) == 0)
			return (int)i;
	return -1;
}

int
engine_arc_check(const struct engine_states *t, const char *migration_id, unsigned from,
    unsigned to)
{
	if (!engine_arc_allowed(t, from, to)) {
		log_warnx("migration %s: %s engine: no arc %s -> %s", migration_id, t->engine,
		    engine_state_name(t, from), engine_state_name(t, to));
		return -1;
	}
	log_debug("migration %s: %s %s -> %s", migration_id, t->engine, engine_state_name(t, from),
	    engine_state_name(t, to));
	return 0;
}
