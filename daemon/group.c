/*
 * group.c: several devices of one guest as one migration (SPEC §9).
 *
 * The migration the API shows is the parent: it has no stream of its own.
 * Each device moves in a child migration with its own engine and
 * connections (source.c, dest.c), hidden from the list and heard of only
 * by the journal; the parent holds them together:
 *
 * - source: pre-copy runs for every device at once, each on its own
 *   stream; the switchover is decided once, at the end of a round of
 *   passes, on what the devices have left against the downtime limit
 *   (group_round_verdict in rate.h; or by one API call in manual mode).
 *   Every device then drains its pipe and waits (SRC_GROUP_WAIT);
 *   the hook runs once; every device is quiesced (its P2P state: it starts
 *   no DMA but takes the others') before any of them is stopped.
 * - destination: one token for the set; every device is loaded and out of
 *   RESUMING, then every one put in RUNNING_P2P, before any of them runs;
 *   the migration's record is durable before any COMMIT leaves (a restart
 *   decides for all its devices by it), and a COMMIT on one device's
 *   connection covers them all.
 * - all or nothing: the first device to fail, or a cancel, fails every
 *   other one with its code and a message naming it: the source rolls
 *   every device back,
 *   the destination resets every one. The parent ends once every child
 *   has, with the first failure's code and a message naming its device.
 *
 * Children report through their parent's engine (child_step), called by
 * migration.c on each of their phase changes and by the engines when they
 * reach a step where they wait for the others (or, source, end a pass).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "clock.h"
#include "daemon.h"
#include "device.h"
#include "engine.h"
#include "errors.h"
#include "events.h"
#include "group.h"
#include "hook.h"
#include "journal.h"
#include "log.h"
#include "rate.h"
#include "states.h"
#include "xmalloc.h"

#define GROUP_TICK_MS 100

/* The migration's own steps, in order; each device has its engine's. */
enum group_step {
	GROUP_STREAMING,    /* pre-copy (destination: the devices receive) */
	GROUP_SWITCHING,    /* source: switchover decided, the devices drain */
	GROUP_HOOK,	    /* source: every device waits; the hook runs */
	GROUP_QUIESCING,    /* source: the devices go to their P2P states */
	GROUP_STOPPING,	    /* source: the devices stop, send the rest, END */
	GROUP_STARTING_P2P, /* destination: every device loaded: to RUNNING_P2P */
	GROUP_STARTING,	    /* destination: every device in RUNNING_P2P: running */
	GROUP_COMMITTING,   /* destination: the record made durable, then COMMIT */
	GROUP_FAILING,	    /* the first failure is known; the others go back */
	GROUP_ENDED,
};

struct mig_group {
	struct migration *m; /* the parent */
	struct migration *child[GROUP_DEVICES_MAX];
	unsigned n;
	struct event *tick;
	/* Source: a device ended a pass; the switchover is decided then
	 * (group_decide_cb), out of that device's callback. */
	struct event *decide;
	/* Source: the last round of passes (every device ended one since
	 * the round before): each device's pass count at its end, and what
	 * was left then. */
	unsigned round_passes[GROUP_DEVICES_MAX];
	struct group_round round;
	uint64_t precopy_start_ns;
	enum group_step step; /* only through group_set_step() */
	unsigned durable_left;
	int durable_failed;
	int fail_code;
	char fail_msg[600];
};

static const char *const group_step_names[] = {
	[GROUP_STREAMING] = "streaming",
	[GROUP_SWITCHING] = "switching",
	[GROUP_HOOK] = "hook",
	[GROUP_QUIESCING] = "quiescing",
	[GROUP_STOPPING] = "stopping",
	[GROUP_STARTING_P2P] = "starting-p2p",
	[GROUP_STARTING] = "starting",
	[GROUP_COMMITTING] = "committing",
	[GROUP_FAILING] = "failing",
	[GROUP_ENDED] = "ended",
};

/* Every change of step, logged. Forward only: a step is never left for an
 * earlier one. */
static void
group_set_step(struct mig_group *g, enum group_step to)
{
	log_debug("migration %s: several devices: %s -> %s", g->m->id_str,
	    group_step_names[g->step], group_step_names[to]);
	g->step = to;
}

static void group_fail(struct mig_group *g, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
group_all_final(const struct mig_group *g)
{
	unsigned i;

	for (i = 0; i < g->n; i++)
		if (!migration_phase_is_final(g->child[i]->phase))
			return 0;
	return 1;
}

/* Totals of the children, for the parent's figures. */
static void
group_sum(struct mig_group *g)
{
	struct migration *m = g->m, *c;
	uint64_t bytes = 0, pending = 0, pages = 0, bps = 0, records = 0, downtime = 0, wire = 0;
	uint32_t iterations = 0;
	unsigned i, verified = 0, failed = 0;

	for (i = 0; i < g->n; i++) {
		c = g->child[i];
		bytes += c->bytes_transferred;
		wire += c->wire_bytes;
		pending += c->pending_bytes;
		pages += c->dirty_pages;
		bps += c->throughput_bps;
		records += c->records_applied;
		if (c->iterations > iterations)
			iterations = c->iterations;
		verified += c->verification != NULL && strcmp(c->verification, "verified") == 0;
		failed += c->verification != NULL && strcmp(c->verification, "failed") == 0;
		/* The guest waits from the parent's quiesce to each COMMIT. */
		if (m->role == MIG_ROLE_SOURCE && c->downtime_ms > 0 && m->stop_mono_ns != 0 &&
		    c->stop_mono_ns >= m->stop_mono_ns &&
		    c->downtime_ms + (c->stop_mono_ns - m->stop_mono_ns) / 1000000u > downtime)
			downtime = c->downtime_ms + (c->stop_mono_ns - m->stop_mono_ns) / 1000000u;
		else if (m->role == MIG_ROLE_DESTINATION && c->downtime_ms > downtime)
			downtime = c->downtime_ms;
	}
	/* Destination: who the source is shows once a device has met it. */
	if (m->peer[0] == '\0' && g->n > 0)
		snprintf(m->peer, sizeof(m->peer), "%s", g->child[0]->peer);
	m->bytes_transferred = bytes;
	m->wire_bytes = wire;
	/* What the devices agreed with their peer: the same for all. */
	if (m->digest == NULL && g->n > 0)
		m->digest = g->child[0]->digest;
	if (m->compression == NULL && g->n > 0)
		m->compression = g->child[0]->compression;
	m->pending_bytes = pending;
	m->dirty_pages = pages;
	if (!migration_phase_is_final(m->phase))
		m->throughput_bps = bps;
	m->records_applied = records;
	m->iterations = iterations;
	m->verification = failed > 0 ? "failed" : verified == g->n ? "verified" : "pending";
	if (downtime > m->downtime_ms)
		m->downtime_ms = downtime;
	if (m->state_size == 0)
		for (i = 0; i < g->n; i++)
			m->state_size += g->child[i]->state_size;
}

/* Every child has ended: so does the parent. */
static void
group_end(struct mig_group *g)
{
	struct migration *m = g->m;
	unsigned i, done = 0;
	int failing = g->step == GROUP_FAILING;

	if (g->step == GROUP_ENDED || !group_all_final(g))
		return;
	group_set_step(g, GROUP_ENDED);
	evtimer_del(g->tick);
	event_del(g->decide);
	group_sum(g);
	for (i = 0; i < g->n; i++)
		done += g->child[i]->phase == PHASE_COMPLETED;
	if (done == g->n || (m->committed && !failing)) {
		log_info("migration %s: completed: %u devices, %llu bytes, downtime %llu ms", m->id_str,
		    g->n, (unsigned long long)m->bytes_transferred, (unsigned long long)m->downtime_ms);
		migration_set_phase(m, PHASE_COMPLETED);
		return;
	}
	if (!failing) {
		/* Ended without a word of why (cannot happen: each failure
		 * comes through group_child_step). */
		g->fail_code = MIG_E_INTERNAL;
		snprintf(g->fail_msg, sizeof(g->fail_msg), "a device ended without completing");
	}
	migration_fail(m, g->fail_code, "%s", g->fail_msg);
}

/* The first failure: every other device goes back with it. */
static void
group_fail(struct mig_group *g, int code, const char *fmt, ...)
{
	struct migration *c;
	char why[700];
	va_list ap;
	unsigned i;

	if (g->step >= GROUP_FAILING)
		return;
	group_set_step(g, GROUP_FAILING);
	g->fail_code = code;
	va_start(ap, fmt);
	vsnprintf(g->fail_msg, sizeof(g->fail_msg), fmt, ap);
	va_end(ap);
	log_warnx("migration %s: %s; every device of the migration goes back", g->m->id_str,
	    g->fail_msg);
	snprintf(why, sizeof(why), "%s", g->fail_msg);
	for (i = 0; i < g->n; i++) {
		c = g->child[i];
		if (migration_phase_is_final(c->phase) || c->engine == NULL)
			continue;
		/* With the first failure's code and words: the peer's devices
		 * then say what went wrong, whichever connection it takes. */
		c->engine->cancel(c, code, why);
	}
	group_end(g);
}

/* Are all children in this engine state? */
static int
group_all_at(const struct mig_group *g, int step)
{
	unsigned i;

	for (i = 0; i < g->n; i++) {
		int st = g->m->role == MIG_ROLE_SOURCE ? source_group_step(g->child[i])
						       : dest_group_step(g->child[i]);

		if (st != step)
			return 0;
	}
	return 1;
}

static int
group_all_in_phase(const struct mig_group *g, enum mig_phase phase)
{
	unsigned i;

	for (i = 0; i < g->n; i++)
		if (g->child[i]->phase < phase || migration_phase_is_final(g->child[i]->phase))
			return 0;
	return 1;
}

/* The parent's phase follows its devices: forward only. */
static void
group_follow_phase(struct mig_group *g)
{
	struct migration *m = g->m;
	struct timeval tv = {0, GROUP_TICK_MS * 1000};
	unsigned i;
	int any_stopcopy = 0;

	if (m->phase == PHASE_SETUP && group_all_in_phase(g, PHASE_PRECOPY)) {
		g->precopy_start_ns = mono_ns();
		migration_set_phase(m, PHASE_PRECOPY);
		evtimer_add(g->tick, &tv);
	}
	for (i = 0; i < g->n; i++)
		any_stopcopy |= g->child[i]->phase == PHASE_STOPCOPY ||
		    g->child[i]->phase == PHASE_COMPLETING;
	if ((m->phase == PHASE_PRECOPY || m->phase == PHASE_SWITCHOVER_PENDING) && any_stopcopy)
		migration_set_phase(m, PHASE_STOPCOPY);
	if (m->role == MIG_ROLE_SOURCE && m->phase == PHASE_STOPCOPY &&
	    group_all_in_phase(g, PHASE_COMPLETING))
		migration_set_phase(m, PHASE_COMPLETING);
}

/* ---- source ---- */

static void
group_src_quiesce(struct mig_group *g)
{
	unsigned i;

	if (g->step != GROUP_HOOK)
		return;
	group_set_step(g, GROUP_QUIESCING);
	log_info("migration %s: every device drained: quiescing all %u before any stops",
	    g->m->id_str, g->n);
	g->m->stop_mono_ns = mono_ns();
	for (i = 0; i < g->n; i++)
		source_group_quiesce(g->child[i]);
}

static void
group_hook_done(struct migration *m, int ok, const char *why)
{
	struct mig_group *g = m != NULL ? m->group : NULL;

	if (g == NULL || g->step != GROUP_HOOK)
		return;
	if (!ok) {
		group_fail(g, MIG_E_HOOK_VETO, "the switchover hook vetoed the switchover (%s)", why);
		return;
	}
	group_src_quiesce(g);
}

static void
group_src_switchover(struct mig_group *g)
{
	unsigned i;

	if (g->step != GROUP_STREAMING)
		return;
	group_set_step(g, GROUP_SWITCHING);
	log_info("migration %s: switching over all %u devices: pending %llu bytes, expected "
		 "downtime %llu ms (limit %u ms)",
	    g->m->id_str, g->n, (unsigned long long)g->m->pending_bytes,
	    (unsigned long long)g->m->expected_downtime_ms, g->m->opt.downtime_limit_ms);
	for (i = 0; i < g->n; i++)
		source_group_switchover(g->child[i]);
}

/*
 * One decision for all, on what the devices have left, taken when a
 * device has just ended a pass over its data (decide: group_decide_cb, as
 * one device decides at the end of its own passes) and every device has
 * ended one since the last decision point (a round): then each has only
 * what was dirtied during its last short pass. The rule is
 * group_round_verdict() (rate.h). The tick only updates the expected
 * downtime shown.
 */
static void
group_src_converge(struct mig_group *g, int decide)
{
	struct migration *m = g->m;
	struct source_group_figures f[GROUP_DEVICES_MAX];
	struct group_stream st[GROUP_DEVICES_MAX];
	uint64_t left = 0, pending = 0, extra = 0, data_ms = 0;
	double rtt = 0;
	unsigned i;
	int ready = 1, round_end = 1, known;

	if (g->step != GROUP_STREAMING ||
	    (m->phase != PHASE_PRECOPY && m->phase != PHASE_SWITCHOVER_PENDING))
		return;
	for (i = 0; i < g->n; i++) {
		source_group_figures(g->child[i], &f[i]);
		ready &= f[i].ready;
		round_end &= f[i].passes > g->round_passes[i];
		st[i].left = f[i].left;
		st[i].rate = f[i].rate;
		left += f[i].left;
		pending += f[i].pending;
		if (f[i].rtt_ms > rtt)
			rtt = f[i].rtt_ms;
		if (f[i].extra_ms > extra)
			extra = f[i].extra_ms;
	}
	known = group_data_ms(st, g->n, &data_ms) == 0;
	if (known)
		m->expected_downtime_ms = rate_clamp_u64((double)data_ms + rtt + 0.5) + extra;
	if (!decide || !ready || !round_end || m->phase == PHASE_SWITCHOVER_PENDING)
		return;
	for (i = 0; i < g->n; i++)
		g->round_passes[i] = f[i].passes;
	if (group_round_verdict(&g->round, left, pending, known, data_ms,
		m->expected_downtime_ms, m->opt.downtime_limit_ms) &&
	    migration_converged(m))
		group_src_switchover(g);
}

static void
group_decide_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mig_group *g = arg;

	(void)fd;
	(void)what;
	if (g->step != GROUP_STREAMING)
		return;
	group_sum(g);
	group_src_converge(g, 1);
}

/* Devices whose connection was lost after END (source_group_orphaned):
 * another device's COMMIT covers them; with no connection left to bring
 * one, the migration fails (and, as for one device, the operator checks
 * the destination). */
static int
group_src_orphans(struct mig_group *g)
{
	unsigned i, orphans = 0, live = 0;

	for (i = 0; i < g->n; i++) {
		if (source_group_orphaned(g->child[i]))
			orphans++;
		else if (!migration_phase_is_final(g->child[i]->phase))
			live++;
	}
	if (orphans == 0)
		return 0;
	if (g->m->committed) {
		for (i = 0; i < g->n; i++)
			if (source_group_orphaned(g->child[i]))
				source_group_committed(g->child[i]);
		return 1;
	}
	if (live == 0) {
		group_fail(g, MIG_E_CONNECTION_LOST,
		    "every device's connection was lost after END, before any COMMIT; the source "
		    "devices run again: check the destination before using its copy");
		return 1;
	}
	return 0;
}

static void
group_src_step(struct mig_group *g)
{
	unsigned i;

	if (group_src_orphans(g))
		return;
	if (g->step == GROUP_SWITCHING && group_all_at(g, SRC_GROUP_WAIT)) {
		group_set_step(g, GROUP_HOOK);
		if (hook_run("switchover", g->m, group_hook_done) != 0)
			group_src_quiesce(g);
		return;
	}
	if (g->step == GROUP_QUIESCING && group_all_at(g, SRC_QUIESCED)) {
		group_set_step(g, GROUP_STOPPING);
		log_info("migration %s: every device quiesced: stopping all %u", g->m->id_str, g->n);
		for (i = 0; i < g->n; i++)
			source_group_stop(g->child[i]);
	}
}

/* ---- destination ---- */

/* Devices whose connection was lost after COMMIT (dest_group_orphaned):
 * the source's ACK on another device's connection tells that it had
 * COMMIT, and covers them; with none left to bring it, they fail saying
 * to check the source, as one device does. */
static int
group_dst_orphans(struct mig_group *g)
{
	unsigned i, orphans = 0, live = 0, acked = 0;

	for (i = 0; i < g->n; i++) {
		if (dest_group_orphaned(g->child[i]))
			orphans++;
		else if (!migration_phase_is_final(g->child[i]->phase))
			live++;
		else
			acked += g->child[i]->phase == PHASE_COMPLETED;
	}
	if (orphans == 0 || (acked == 0 && live > 0))
		return 0;
	for (i = 0; i < g->n; i++)
		if (dest_group_orphaned(g->child[i]))
			dest_group_acked(g->child[i], acked > 0);
	return 1;
}

static void
group_dst_durable(struct migration *c, int ok)
{
	struct mig_group *g = c->parent != NULL ? c->parent->group : c->group;
	unsigned i;

	if (g == NULL || g->step != GROUP_COMMITTING)
		return;
	g->durable_failed |= !ok;
	if (--g->durable_left > 0)
		return;
	if (g->durable_failed) {
		group_fail(g, MIG_E_INTERNAL, "the journal in state_dir could not record the commit "
					      "(see the log); every device reset, the source rolls back");
		return;
	}
	for (i = 0; i < g->n; i++)
		if (!dest_group_connected(g->child[i])) {
			group_fail(g, MIG_E_CONNECTION_LOST,
			    "device %s: the source's connection is gone before COMMIT",
			    g->child[i]->device->name);
			return;
		}
	g->m->committed = 1;
	log_info("migration %s: all %u devices run the migrated state: COMMIT", g->m->id_str, g->n);
	for (i = 0; i < g->n; i++)
		dest_group_commit(g->child[i]);
}

/* Every device runs: the migration's record durable, then COMMIT. */
static void
group_dst_commit(struct mig_group *g)
{
	group_set_step(g, GROUP_COMMITTING);
	group_sum(g);
	hook_fire("resumed", g->m);
	migration_set_phase(g->m, PHASE_COMPLETING);
	/* One fsync in the downtime, not one per device: a restart decides
	 * for every device by the migration's record alone (journal.c), so
	 * theirs need not be on disk before COMMIT. */
	g->durable_left = 1;
	if (journal_write_durable_async(g->m, group_dst_durable) != 0)
		group_dst_durable(g->m, journal_write(g->m, 1) == 0);
}

static void
group_dst_step(struct mig_group *g)
{
	unsigned i;

	if (group_dst_orphans(g))
		return;

	if (g->step == GROUP_STREAMING && group_all_at(g, DST_LOADED)) {
		group_set_step(g, GROUP_STARTING_P2P);
		log_info("migration %s: all %u devices loaded: into RUNNING_P2P", g->m->id_str, g->n);
		for (i = 0; i < g->n; i++)
			dest_group_start_p2p(g->child[i]);
		return;
	}
	if (g->step == GROUP_STARTING_P2P && group_all_at(g, DST_P2P)) {
		group_set_step(g, GROUP_STARTING);
		log_info("migration %s: all %u devices in RUNNING_P2P: running them", g->m->id_str,
		    g->n);
		for (i = 0; i < g->n; i++)
			dest_group_start(g->child[i]);
		return;
	}
	if (g->step == GROUP_STARTING && group_all_at(g, DST_COMMITTING))
		group_dst_commit(g);
}

/* ---- both ---- */

static void
group_child_step(struct migration *p, struct migration *c)
{
	struct mig_group *g = p->group;

	if (g == NULL || g->step == GROUP_ENDED)
		return;
	if (migration_phase_is_final(c->phase)) {
		if (c->phase != PHASE_COMPLETED && !p->committed)
			group_fail(g, c->error_code, "device %s: %s", c->device->name, c->error_msg);
		else if (p->role == MIG_ROLE_SOURCE)
			(void)group_src_orphans(g); /* a COMMIT came: it covers them */
		else if (group_dst_orphans(g))
			return; /* they end now, and come back here */
		group_end(g);
		return;
	}
	if (g->step == GROUP_FAILING)
		return;
	group_follow_phase(g);
	if (p->role == MIG_ROLE_SOURCE) {
		/* A device ended a pass, or its phase changed: decide after
		 * its callback (not inside it). */
		if (g->step == GROUP_STREAMING)
			event_active(g->decide, EV_TIMEOUT, 1);
		group_src_step(g);
	} else
		group_dst_step(g);
}

static void
group_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mig_group *g = arg;
	struct migration *m = g->m;
	char why[300];

	(void)fd;
	(void)what;
	if (g->step >= GROUP_FAILING)
		return;
	group_sum(g);
	if (m->role == MIG_ROLE_SOURCE) {
		group_src_converge(g, 0);
		if (g->step == GROUP_STREAMING && migration_precopy_expired(m, g->precopy_start_ns, why,
		    sizeof(why))) {
			group_fail(g, MIG_E_NOT_CONVERGED, "%s", why);
			return;
		}
	}
	events_migration_progress(m);
}

static void
group_engine_cancel(struct migration *m, int code, const char *why)
{
	if (m->group != NULL)
		group_fail(m->group, code, "%s", why);
}

static void
group_engine_free(struct migration *m)
{
	struct mig_group *g = m->group;

	if (g == NULL)
		return;
	event_free(g->tick);
	event_free(g->decide);
	free(g);
	m->group = NULL;
}

/* The devices, each with its own figures. */
static void
group_engine_describe(const struct migration *m, json_t *o)
{
	struct mig_group *g = m->group;
	json_t *arr = json_array();
	unsigned i;

	if (g == NULL) {
		json_decref(arr);
		return;
	}
	for (i = 0; i < g->n; i++)
		json_array_append_new(arr, migration_part_to_json(g->child[i]));
	json_object_set_new(o, "device_count", json_integer(g->n));
	json_object_set_new(o, "devices", arr);
	if (m->committed)
		json_object_set_new(o, "engine_state", json_string("committed"));
}

static const struct migration_engine group_engine = {
	.cancel = group_engine_cancel,
	.free = group_engine_free,
	.describe = group_engine_describe,
	.child_step = group_child_step,
};

static struct mig_group *
group_new(struct migration *m)
{
	struct mig_group *g = xcalloc(1, sizeof(*g));

	g->m = m;
	g->tick = event_new(daemon_ctx.base, -1, EV_PERSIST, group_tick_cb, g);
	g->decide = event_new(daemon_ctx.base, -1, 0, group_decide_cb, g);
	m->group = g;
	m->engine = &group_engine;
	return g;
}

/* Distinct, free, and (unless allowed otherwise) with P2P states. */
static int
group_check_devices(struct mig_device **devs, unsigned n, int unsafe_no_p2p, char *err,
    size_t errlen)
{
	unsigned i, j;

	if (n < 2 || n > GROUP_DEVICES_MAX) {
		snprintf(err, errlen, "a migration of several devices has 2 to %d of them, not %u",
		    GROUP_DEVICES_MAX, n);
		return MIG_E_BAD_REQUEST;
	}
	for (i = 0; i < n; i++) {
		for (j = 0; j < i; j++)
			if (devs[j] == devs[i]) {
				snprintf(err, errlen, "device %s is named twice", devs[i]->name);
				return MIG_E_BAD_REQUEST;
			}
		if (devs[i]->busy != NULL) {
			snprintf(err, errlen, "device %s is busy with migration %s", devs[i]->name,
			    devs[i]->busy->parent != NULL ? devs[i]->busy->parent->id_str
							  : devs[i]->busy->id_str);
			return MIG_E_DEVICE_BUSY;
		}
		if (!devs[i]->p2p && !unsafe_no_p2p) {
			snprintf(err, errlen, "device %s has no P2P states: stopped beside the others, "
					      "it could take or start DMA while they are stopped "
					      "(unsafe_no_p2p allows it)",
			    devs[i]->name);
			return MIG_E_NO_P2P;
		}
	}
	return MIG_OK;
}

int
group_source_start(struct mig_device **devs, char (*dest_devs)[MIG_NAME_MAX + 1], unsigned n,
    const char *dest, const char *token, const struct migration_options *opt,
    struct migration **out, char *err, size_t errlen)
{
	struct migration_options copt = *opt;
	struct migration *m, *c;
	struct mig_group *g;
	unsigned i;
	int rc;

	if ((rc = group_check_devices(devs, n, opt->unsafe_no_p2p, err, errlen)) != MIG_OK)
		return rc;
	m = migration_new_parent(MIG_ROLE_SOURCE, devs[0]);
	m->opt = *opt;
	snprintf(m->peer, sizeof(m->peer), "%s", dest);
	snprintf(m->peer_addr, sizeof(m->peer_addr), "%s", dest);
	g = group_new(m);
	/* The children leave the decisions to the parent. */
	copt.precopy_timeout_s = 0;
	copt.switchover = MIG_SWITCHOVER_AUTO;
	copt.parent = m;
	/* The cap is the migration's: each stream has its share. */
	if (opt->max_bandwidth > 0)
		copt.max_bandwidth = opt->max_bandwidth / n > 0 ? opt->max_bandwidth / n : 1;
	for (i = 0; i < n; i++) {
		snprintf(copt.dest_device, sizeof(copt.dest_device), "%.*s", MIG_NAME_MAX, dest_devs[i]);
		if ((rc = source_start(devs[i], dest, token, &copt, &c, err, errlen)) != MIG_OK) {
			/* Cannot happen after group_check_devices; end cleanly. */
			group_fail(g, rc, "device %s: %s", devs[i]->name, err);
			break;
		}
		c->part_index = g->n;
		g->child[g->n++] = c;
		m->state_size += c->state_size;
	}
	log_info("migration %s: %u devices to %s", m->id_str, g->n, dest);
	*out = m;
	if (g->n < n)
		group_end(g);
	return MIG_OK;
}

int
group_dest_prepare(struct mig_device **devs, unsigned n, int unsafe_no_p2p,
    struct migration **out, char *err, size_t errlen)
{
	struct migration *m, *c;
	struct mig_group *g;
	unsigned i;
	int rc;

	/* Started before any other runs, a device without RUNNING_P2P could
	 * take DMA from one still stopped: the same rule as the source's. */
	if ((rc = group_check_devices(devs, n, unsafe_no_p2p, err, errlen)) != MIG_OK)
		return rc;
	m = migration_new_parent(MIG_ROLE_DESTINATION, devs[0]);
	g = group_new(m);
	for (i = 0; i < n; i++) {
		if ((rc = dest_prepare(devs[i], m, &c, err, errlen)) != MIG_OK) {
			group_fail(g, rc, "device %s: %s", devs[i]->name, err);
			break;
		}
		c->part_index = g->n;
		g->child[g->n++] = c;
		/* One token for the set: the first device's. */
		if (i > 0)
			memcpy(c->token, g->child[0]->token, sizeof(c->token));
	}
	if (g->n < n) {
		group_end(g);
		snprintf(err, errlen, "%s", g->fail_msg);
		return rc;
	}
	m->token_expires = g->child[0]->token_expires;
	hook_fire("prepare", m);
	*out = m;
	return MIG_OK;
}

const char *
group_token(const struct migration *m)
{
	return m->group != NULL && m->group->n > 0 ? m->group->child[0]->token : m->token;
}

int
group_switchover(struct migration *m, char *err, size_t errlen)
{
	struct mig_group *g = m->group;
	int rc;

	if ((rc = migration_switchover_check(m, err, errlen)) != MIG_OK)
		return rc;
	if (g == NULL) {
		snprintf(err, errlen, "migration %s is not a migration of several devices", m->id_str);
		return MIG_E_WRONG_STATE;
	}
	group_src_switchover(g);
	return MIG_OK;
}

struct migration *
group_top(struct migration *m)
{
	return m != NULL && m->parent != NULL ? m->parent : m;
}
