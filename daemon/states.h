/*
 * states.h: the steps of the two migration engines, and the arcs between
 * them, as tables.
 *
 * source.c and dest.c change state only through src_set_state() and
 * dst_set_state(), which check the arc here and log it. The state diagram
 * at the top of each engine's file is checked against these tables by a
 * unit test (tests/test_states.c): the two cannot drift apart. Pure data:
 * no event loop, no device, no migration.
 */
#ifndef MIG_STATES_H
#define MIG_STATES_H

#include <stdint.h>

/* In order: every state before SRC_STOPCOPY has a running device. */
enum src_state {
	SRC_CONNECTING,	    /* waiting for the journal, then for TCP and TLS */
	SRC_HELLO_SENT,	    /* waiting for HELLO-ACK */
	SRC_STARTING,	    /* the device's thread puts it in pre-copy */
	SRC_STREAMING,	    /* pre-copy */
	SRC_DRAIN_INTENT,   /* switching over: drain probe out, intent being written */
	SRC_DRAINING,	    /* switching over: drain probe out, intent on disk */
	SRC_WRITING_INTENT, /* switching over: pipe drained, intent being written; streaming */
	SRC_HOOK_WAIT,	    /* switching over: the hook pauses the guest */
	SRC_GROUP_WAIT,	    /* several devices: drained, waiting for the others
			     * and the migration's one hook */
	SRC_QUIESCING,	    /* several devices: the device's thread puts it in
			     * its P2P state (no DMA of its own) */
	SRC_QUIESCED,	    /* several devices: quiesced, waiting for the others */
	SRC_STOPPING,	    /* switching over: stop at the next record boundary (the
			     * device's thread stops it) */
	SRC_STOPCOPY,	    /* device stopped: its last state goes out */
	SRC_END_SENT,	    /* waiting for COMMIT */
	SRC_DONE,
	SRC_NSTATES
};

enum dst_state {
	DST_WAITING,   /* token issued, no source yet */
	DST_ACCEPTING, /* HELLO good; the device waits for "created" on disk,
			* then its thread puts it in RESUMING */
	DST_RECEIVING, /* device RESUMING, the stream comes in */
	DST_LOADING,   /* END verified; the device's thread loads the state and
			* runs it */
	DST_LOADED,    /* several devices: loaded and out of RESUMING (STOP),
			* waiting for the others */
	DST_STARTING_P2P, /* several devices: every one loaded; the device's
			   * thread puts it in RUNNING_P2P */
	DST_P2P,       /* several devices: in RUNNING_P2P, waiting for the others */
	DST_STARTING,  /* several devices: every one in RUNNING_P2P; the device's
			* thread runs it */
	DST_COMMITTING, /* verified and running; COMMIT waits for the journal */
	DST_COMMITTED, /* COMMIT sent, waiting for ACK */
	DST_DONE,
	DST_NSTATES
};

struct engine_states {
	const char *engine;	     /* "source", "destination" */
	unsigned nstates;
	const char *const *names;    /* [state] */
	const uint32_t *arcs;	     /* [from]: bit `to` set when from -> to is legal */
};

extern const struct engine_states src_states, dst_states;

const char *engine_state_name(const struct engine_states *t, unsigned state);
/* 1 when from -> to is an arc of the table; 0 for anything else,
 * out-of-range states included. */
int engine_arc_allowed(const struct engine_states *t, unsigned from, unsigned to);
/* The check every change of step goes through: 0 when from -> to is an
 * arc (logged at debug level as "migration ID: ENGINE FROM -> TO"), -1
 * when it is not (logged as the bug it is). */
int engine_arc_check(const struct engine_states *t, const char *migration_id, unsigned from,
    unsigned to);
/* The state whose name is name, or -1. */
int engine_state_by_name(const struct engine_states *t, const char *name);

#endif
