/*
 * source_switchover.c: when and how the source engine switches over: the
 * throughput and expected downtime behind the decision, the round trip,
 * the convergence check, and the steps from the decision to the stopped
 * device (the intent on disk, the drain, the hook, the stop). Each step
 * goes through src_set_state() (source.c); the diagram at the top of
 * source.c shows them all.
 */
#include "source_engine.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "device.h"
#include "device_worker.h"
#include "errors.h"
#include "hook.h"
#include "journal.h"
#include "log.h"
#include "peer.h"

/* Throughput the convergence decision may count on, bytes/s. */
double
src_rate(struct source_engine *s)
{
	double r = s->rate.bytes_per_sec, secs;
	uint64_t sent;

	if (s->rate.samples < SRC_RATE_MIN_SAMPLES && s->c != NULL && s->precopy_start_ns != 0) {
		/* Not measured on a busy pipe yet: the average so far, once it
		 * holds device data or a chunk's worth (a device without
		 * pre-copy data sends only a few frames: their average is no
		 * throughput). */
		sent = src_bytes_sent((struct source_engine *)s);
		secs = (double)(mono_ns() - s->precopy_start_ns) / 1e9;
		r = secs > 0 && (sent >= s->m->opt.chunk_size || s->precopy_read > 0)
		    ? (double)sent / secs : 0;
	}
	if (s->m->opt.max_bandwidth > 0 && (r <= 0 || r > (double)s->m->opt.max_bandwidth))
		r = (double)s->m->opt.max_bandwidth;
	return r;
}

/* Refresh pending bytes and the downtime that stopping now would cost. */
void
src_update_estimate(struct source_engine *s)
{
	struct migration *m = s->m;
	uint64_t left, last, sc;
	int was;
	double r = src_rate(s);

	/* The figures the device's thread brought with the last record
	 * (src_op_save_next): pending_bytes then left that record out. */
	if (s->fig_valid && s->fig.pending_ok)
		m->pending_bytes = s->fig.pending + (s->in_record ? s->rec_size - s->rec_off : 0);
	/* What the device says its stop-copy will move (v2 MIG_DATA_SIZE),
	 * which overlaps what pre-copy still has, or is the whole state
	 * (mlx5): stopcopy_estimate() tells which. */
	if (s->fig_valid && s->fig.sc_ok && src_device_running(s)) {
		sc = s->fig.sc;
		was = s->sc_est.classified;
		s->stop_copy_bytes = stopcopy_estimate(&s->sc_est, m->pending_bytes, sc,
		    s->precopy_read, src_initial_read(s));
		if (!was && s->sc_est.classified)
			log_info("migration %s: the device's stop-copy size is %llu bytes after "
				 "pre-copy read %llu: %s",
			    m->id_str, (unsigned long long)sc, (unsigned long long)s->precopy_read,
			    s->sc_est.whole_state
				? "it counts the whole state, so the expected downtime counts what "
				  "pre-copy has left"
				: "the expected downtime counts it");
	}
	/* The guest waits for:
	 * - what the device still holds and what is queued ahead of it in our
	 *   buffers, at the pipe's rate;
	 * - the last chunk once more: the pipe's stages overlap on a stream,
	 *   but the last chunk goes through the destination only after the
	 *   source is done with it (not so under a bandwidth cap, where the
	 *   wire is the slow stage and both ends keep up with it);
	 * - one round trip: END, the destination's verify, resume, durable
	 *   journal write and COMMIT. The round trip is the smallest sample
	 *   (src_rtt_sample) and does not hold the destination's COMMIT
	 *   fsync. Our own durable journal write is made before the device
	 *   stops (src_request_switchover), not in the downtime.
	 * What the kernels' buffers hold is not in it: the pipe is drained
	 * before the device stops (src_request_switchover); without
	 * MIG_CAP_ECHO it cannot be. */
	if (r > 0) {
		left = (s->stop_copy_bytes > m->pending_bytes ? s->stop_copy_bytes : m->pending_bytes) +
		    src_output_length(s);
		last = left < m->opt.chunk_size ? left : m->opt.chunk_size;
		if (m->opt.max_bandwidth > 0 && (s->rate.bytes_per_sec <= 0 ||
		    s->rate.bytes_per_sec >= 0.9 * (double)m->opt.max_bandwidth))
			last = 0;
		/* Clamped: a stalled pipe decays the rate towards 0. */
		s->expected_data_ms = rate_clamp_u64((double)(left + last) * 1000.0 / r +
		    s->rtt_ms + 0.5);
		s->expected_data_known = 1;
		/* And what this device's last switchovers took beyond their
		 * data: its own stop, the destination's load (mlx5 loads and
		 * checks the whole image there). No figure of the uAPI says
		 * how long those take; the last switchover does. */
		m->expected_downtime_ms = s->expected_data_ms + s->dev->switchover_extra_ms;
		if (m->expected_downtime_ms < s->expected_data_ms)
			m->expected_downtime_ms = UINT64_MAX;
	}
}

/* A round trip: the request left at sent_ns, its answer is here. Each
 * sample also holds whatever held it up besides the network (the
 * destination's journal write before a HELLO-ACK, the queue ahead of a
 * drain probe), never less: the smallest is the closest. */
void
src_rtt_sample(struct source_engine *s, uint64_t sent_ns, const char *what)
{
	double ms = (double)(mono_ns() - sent_ns) / 1e6;

	log_debug("migration %s: round trip %.2f ms (%s)", s->m->id_str, ms, what);
	if (s->rtt_samples == 0 || ms < s->rtt_ms)
		s->rtt_ms = ms;
	s->rtt_samples++;
}

void
src_learn_switchover(struct source_engine *s)
{
	struct migration *m = s->m;
	struct mig_device *dev = s->dev;
	uint64_t extra;

	/* Without a data estimate (nothing was measured before the stop) the
	 * downtime cannot be split. One device of several: its downtime
	 * holds the waits for the others (and their share of the CPU), which
	 * the device alone would not have: not its own cost to learn. */
	if (!s->switchover_data_known || m->parent != NULL)
		return;
	extra = m->downtime_ms > s->switchover_data_ms ? m->downtime_ms - s->switchover_data_ms : 0;
	/* Half the last figure, half the ones before it: one odd switchover
	 * moves the estimate, it does not make it. */
	dev->switchover_extra_ms = dev->switchover_extra_known
	    ? dev->switchover_extra_ms / 2 + extra / 2 + (dev->switchover_extra_ms & extra & 1)
	    : extra;
	dev->switchover_extra_known = 1;
	m->learned_extra_ms = dev->switchover_extra_ms;
	m->learned_extra = 1;
	log_info("migration %s: the downtime was %llu ms, %llu ms of it beyond moving the data "
		 "(the device's stop, the destination's load); device %s's next switchovers "
		 "count %llu ms for that",
	    m->id_str, (unsigned long long)m->downtime_ms, (unsigned long long)extra, dev->name,
	    (unsigned long long)dev->switchover_extra_ms);
}

static void src_switchover_hook(struct source_engine *s);
static void src_intent_durable(struct migration *m, int ok);

/* Send the drain probe: a KEEPALIVE behind everything queued. */
static void
src_start_drain(struct source_engine *s)
{
	struct timeval tv = {SRC_DRAIN_MAX_MS / 1000, (SRC_DRAIN_MAX_MS % 1000) * 1000};

	s->probe_nonce = (1ull << 63) | (s->probe_nonce + 1);
	s->probe_sent_ns = mono_ns();
	peer_send_keepalive(s->c, s->probe_nonce);
	event_add(s->drain_timer, &tv);
}

/* The drain probe came back (or never will): on to the hook, or, while
 * the intent is still on its way to the disk, stream on meanwhile. */
static void
src_drained(struct source_engine *s, int echoed)
{
	enum src_state was = s->st;

	s->echoed = echoed;
	s->drain_ms = (mono_ns() - s->probe_sent_ns) / 1000000u;
	event_del(s->drain_timer);
	if (was == SRC_DRAIN_INTENT) {
		if (src_set_state(s, SRC_WRITING_INTENT) != 0)
			return;
	} else
		src_switchover_hook(s);
	src_pump(s);
}

void
src_drain_expired(evutil_socket_t fd, short what, void *arg)
{
	struct source_engine *s = arg;

	if (!src_draining(s))
		return;
	log_warnx("migration %s: no echo from the destination within %d ms; switching over "
		  "with the pipe full",
	    s->m->id_str, SRC_DRAIN_MAX_MS);
	src_drained(s, 0);
}

void
src_on_keepalive(void *arg, struct peer_conn *c, uint64_t nonce)
{
	struct src_channel *ch = arg;
	struct source_engine *s = ch->s;

	if (ch->idx != 0)
		return; /* the destination's own KEEPALIVE */
	if (nonce == SRC_RTT_PROBE_NONCE && s->rtt_probe_sent_ns != 0) {
		src_rtt_sample(s, s->rtt_probe_sent_ns, "probe");
		s->rtt_probe_sent_ns = 0;
		return;
	}
	if (!src_draining(s) || nonce != s->probe_nonce)
		return; /* the destination's own KEEPALIVE, or a late echo */
	src_rtt_sample(s, s->probe_sent_ns, "drain probe");
	src_drained(s, 1);
}

static int
src_op_save_stop(struct mig_device *dev, void *arg, uint64_t *out)
{
	(void)arg;
	(void)out;
	return dev->ops->save_stop(dev);
}

/* The device has stopped (its last state is to be read), or refused. */
static void
src_device_stopped(void *ctx, int rc, uint64_t out)
{
	struct source_engine *s = ctx;

	(void)out;
	s->dev_call = NULL;
	if (s->st != SRC_STOPPING)
		return;
	if (rc != 0) {
		src_fail(s, device_error_code(s->dev, MIG_E_DEVICE_STATE),
		    "device %s refused stop-copy: %s", s->dev->name, strerror(-rc));
		return;
	}
	if (src_set_state(s, SRC_STOPCOPY) != 0) {
		src_fail(s, MIG_E_INTERNAL, "source engine: cannot enter stop-copy");
		return;
	}
	s->bm_active = 0;
	migration_set_phase(s->m, PHASE_STOPCOPY);
	src_pump(s);
}

/* Stop the device: from here on the guest is paused and every ms counts. */
void
src_stop_device(struct source_engine *s)
{
	struct migration *m = s->m;
	char drain[64];

	src_update_estimate(s);
	if (s->echoed)
		snprintf(drain, sizeof(drain), "pipe drained in %llu ms",
		    (unsigned long long)s->drain_ms);
	else
		snprintf(drain, sizeof(drain), "pipe not drained (no echo)");
	log_info("migration %s: switchover: pending %llu bytes (stop-copy to move %llu, +%zu "
		 "queued) at %.1f MiB/s, %s, round trip %.1f ms: expected downtime %llu ms "
		 "(limit %u ms) after %u iterations",
	    m->id_str, (unsigned long long)m->pending_bytes, (unsigned long long)s->stop_copy_bytes,
	    src_output_length(s), src_rate(s) / 1048576.0, drain, s->rtt_ms,
	    (unsigned long long)m->expected_downtime_ms, m->opt.downtime_limit_ms, m->iterations);
	m->stop_mono_ns = mono_ns();
	s->switchover_data_ms = s->expected_data_ms;
	s->switchover_data_known = s->expected_data_known;
	s->dev_call = device_call(s->dev->worker, src_op_save_stop, NULL, NULL, src_device_stopped, s);
}

static int
src_op_quiesce(struct mig_device *dev, void *arg, uint64_t *out)
{
	(void)arg;
	(void)out;
	return dev->ops->quiesce(dev);
}

static void
src_device_quiesced(void *ctx, int rc, uint64_t out)
{
	struct source_engine *s = ctx;

	(void)out;
	s->dev_call = NULL;
	if (s->st != SRC_QUIESCING)
		return;
	if (rc != 0) {
		src_fail(s, device_error_code(s->dev, MIG_E_DEVICE_STATE),
		    "device %s refused its P2P state: %s", s->dev->name, strerror(-rc));
		return;
	}
	if (src_set_state(s, SRC_QUIESCED) == 0)
		migration_child_step(s->m);
}

/* One of several devices, at a record boundary: into its P2P state, where
 * it starts no DMA of its own, before any device of the migration stops.
 * A device without one (allowed by unsafe_no_p2p) is only stopped later. */
void
src_quiesce_device(struct source_engine *s)
{
	if (s->dev->ops->quiesce == NULL || !s->dev->p2p) {
		log_warnx("migration %s: device %s has no P2P state: it is stopped with the "
			  "others without being quiesced first (unsafe_no_p2p)",
		    s->m->id_str, s->dev->name);
		if (src_set_state(s, SRC_QUIESCED) == 0)
			migration_child_step(s->m);
		return;
	}
	s->dev_call = device_call(s->dev->worker, src_op_quiesce, NULL, NULL, src_device_quiesced, s);
}

static void
src_hook_done(struct migration *m, int ok, const char *why)
{
	struct source_engine *s = m != NULL ? m->src : NULL;

	if (s == NULL || s->st != SRC_HOOK_WAIT)
		return;
	if (!ok) {
		src_fail(s, MIG_E_HOOK_VETO, "the switchover hook vetoed the switchover (%s)", why);
		return;
	}
	if (src_set_state(s, SRC_STOPPING) == 0)
		src_pump(s);
}

/* Drained and on disk: the hook pauses the guest (if there is one), then
 * the device stops at the next record boundary (src_pump). */
static void
src_switchover_hook(struct source_engine *s)
{
	if (s->m->parent != NULL) {
		/* One of several devices: the migration runs its hook once all
		 * of them are here, then quiesces them all (group.c). */
		if (src_set_state(s, SRC_GROUP_WAIT) == 0)
			src_pump(s); /* says it is ready at the record boundary */
		return;
	}
	if (hook_run("switchover", s->m, src_hook_done) == 0)
		(void)src_set_state(s, SRC_HOOK_WAIT);
	else
		(void)src_set_state(s, SRC_STOPPING);
}

/* A restart could not tell that END may have gone: do not send it. The
 * guest still runs here; nothing is lost. */
static void
src_intent_failed(struct source_engine *s)
{
	src_fail(s, MIG_E_INTERNAL, "the journal in state_dir could not record the switchover "
				    "(see the log); not switching over");
}

/*
 * Switch over: from here on END may be sent. Say so on disk while the
 * guest still runs, so that no fsync sits between the stop and END (a
 * restart then leaves the device alone rather than roll it back). The
 * write runs beside the drain, off the event loop: a slow disk must not
 * hold up the pre-copy stream, or the guest dirties more meanwhile, which
 * the downtime then has to move. No new record is read while the drain
 * probe is out (src_pump).
 */
void
src_request_switchover(struct source_engine *s)
{
	int intent_async = 0;

	if (s->st != SRC_STREAMING)
		return;
	if (!s->m->end_intent) {
		s->m->end_intent = 1;
		if (journal_write_durable_async(s->m, src_intent_durable) == 0)
			intent_async = 1;
		else if (journal_write(s->m, 1) != 0) {
			src_intent_failed(s);
			return;
		}
	}
	if ((s->caps & MIG_CAP_ECHO) && s->c != NULL) {
		if (src_set_state(s, intent_async ? SRC_DRAIN_INTENT : SRC_DRAINING) == 0)
			src_start_drain(s);
		return;
	}
	if (intent_async)
		(void)src_set_state(s, SRC_WRITING_INTENT);
	else
		src_switchover_hook(s);
}

/* The journal says "END may be sent", on disk: the switchover may go on
 * (once the drain, if any, is over too). */
static void
src_intent_durable(struct migration *m, int ok)
{
	struct source_engine *s = m->src;

	if (s == NULL || (s->st != SRC_DRAIN_INTENT && s->st != SRC_WRITING_INTENT))
		return;
	if (!ok) {
		src_intent_failed(s);
		return;
	}
	if (s->st == SRC_DRAIN_INTENT) {
		/* The drain under way covers what streamed meanwhile. */
		(void)src_set_state(s, SRC_DRAINING);
		return;
	}
	/* The stream went on while the disk took its time: drain again. */
	if ((s->caps & MIG_CAP_ECHO) && s->c != NULL) {
		if (src_set_state(s, SRC_DRAINING) == 0)
			src_start_drain(s);
		return;
	}
	src_switchover_hook(s);
	src_pump(s); /* without a drain, the stop waits for a record boundary */
}

int
src_initial_read(struct source_engine *s)
{
	if (s->dev->ops->initial_pending == NULL)
		return 1;
	/* The device's word, brought by its thread with the last record. */
	return s->fig_valid && s->fig.initial_ok && s->fig.initial_left == 0;
}

int
src_initial_data_moved(struct source_engine *s)
{
	if (s->caps & MIG_CAP_SWITCHOVER_ACK)
		return s->initial_done_sent && s->switchover_acked;
	return src_initial_read(s);
}

void
src_on_switchover_ack(struct source_engine *s)
{
	struct migration *m = s->m;

	s->switchover_acked = 1;
	log_info("migration %s: the destination has loaded the device's initial data "
		 "(SWITCHOVER_ACK)",
	    m->id_str);
	if (s->switchover_wanted && s->st == SRC_STREAMING) {
		s->switchover_wanted = 0;
		src_request_switchover(s);
	}
	src_pump(s);
}

/* Pre-copy has converged when what is left fits the downtime budget. */
void
src_check_convergence(struct source_engine *s)
{
	struct migration *m = s->m;
	uint64_t judged;
	int unknown;

	if (s->st != SRC_STREAMING || m->phase == PHASE_SWITCHOVER_PENDING)
		return;
	s->last_converge_check_ns = mono_ns();
	src_update_estimate(s);
	if (m->parent != NULL)
		return; /* the migration decides for all its devices at once (group.c) */
	/* Never before the first full pass: stopping then would move the whole
	 * device during the downtime, which is what pre-copy is there to avoid. */
	if (s->passes_done == 0)
		return;
	/* Nor before the device's initial data has moved (and, when the
	 * destination acknowledges, been loaded there): mlx5 grows its
	 * initial data while an asynchronous save runs. */
	if (!src_initial_data_moved(s))
		return;
	unknown = src_rate(s) <= 0;
	if (unknown && m->pending_bytes > 0)
		return;
	/* What the device's switchovers cost beyond their data does not
	 * shrink by waiting either: when it alone is over the limit, the
	 * data's part is judged against the limit, and it is said once. */
	judged = m->expected_downtime_ms;
	if (s->dev->switchover_extra_ms >= m->opt.downtime_limit_ms &&
	    s->dev->switchover_extra_known) {
		judged = s->expected_data_ms;
		if (!s->extra_over_logged) {
			s->extra_over_logged = 1;
			log_warnx("migration %s: device %s's switchovers take %llu ms beyond moving "
				  "their data (its stop, the destination's load), over downtime_limit_ms "
				  "%u: the downtime will exceed the limit; switching over once the data "
				  "alone fits it",
			    m->id_str, s->dev->name, (unsigned long long)s->dev->switchover_extra_ms,
			    m->opt.downtime_limit_ms);
		}
	}
	if (unknown || judged > m->opt.downtime_limit_ms) {
		/* Over the limit (or not measurable: nothing moved) only by
		 * what the device itself saves in stop-copy, with nothing left
		 * for pre-copy (a device without PRE_COPY): waiting cannot make
		 * it shorter. Go now. */
		if (!unknown && (m->pending_bytes > 0 || s->stop_copy_bytes == 0))
			return;
		if (!s->stop_copy_over_logged && s->stop_copy_bytes > 0 && unknown) {
			s->stop_copy_over_logged = 1;
			log_warnx("migration %s: pre-copy had nothing to move, so no throughput "
				  "was measured and the downtime cannot be foreseen; the device saves "
				  "%llu bytes in stop-copy; switching over, as waiting cannot shorten it",
			    m->id_str, (unsigned long long)s->stop_copy_bytes);
		} else if (!s->stop_copy_over_logged && !unknown) {
			s->stop_copy_over_logged = 1;
			log_warnx("migration %s: pre-copy has nothing left to move, but the device "
				  "saves %llu bytes in stop-copy: expected downtime %llu ms, beyond "
				  "downtime_limit_ms %u; switching over, as waiting cannot shorten it",
			    m->id_str, (unsigned long long)s->stop_copy_bytes,
			    (unsigned long long)m->expected_downtime_ms, m->opt.downtime_limit_ms);
		}
	}
	if (migration_converged(m))
		src_request_switchover(s);
}
