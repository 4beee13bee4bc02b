/*
 * source.c: the source engine, one explicit state machine per migration.
 * Its steps and arcs are the table of states.c; src_set_state() checks
 * each change against it, and tests/test_states.c checks this diagram
 * against it (every arc, one per line, and nothing else):
 *
 *   CONNECTING --journal holds it, TLS up, HELLO sent--> HELLO_SENT
 *   HELLO_SENT --HELLO-ACK, device asked for SAVING--> STARTING
 *   STARTING --device SAVING (its thread said so)--> STREAMING
 *   STREAMING --switchover, echo, intent written on a thread--> DRAIN_INTENT
 *   STREAMING --switchover, echo, intent written already--> DRAINING
 *   STREAMING --switchover, no echo, intent written on a thread--> WRITING_INTENT
 *   STREAMING --switchover, no echo, intent written, hook--> HOOK_WAIT
 *   STREAMING --switchover, no echo, intent written, no hook--> STOPPING
 *   DRAIN_INTENT --intent on disk first--> DRAINING
 *   DRAIN_INTENT --echo first (streaming again)--> WRITING_INTENT
 *   WRITING_INTENT --intent on disk, echo: drain again--> DRAINING
 *   WRITING_INTENT --intent on disk, no echo, hook--> HOOK_WAIT
 *   WRITING_INTENT --intent on disk, no echo, no hook--> STOPPING
 *   DRAINING --echo (or no echo in time), hook--> HOOK_WAIT
 *   DRAINING --echo (or no echo in time), no hook--> STOPPING
 *   HOOK_WAIT --the hook paused the guest--> STOPPING
 *   STREAMING --switchover of several devices, no echo, intent written--> GROUP_WAIT
 *   WRITING_INTENT --intent on disk, no echo, several devices--> GROUP_WAIT
 *   DRAINING --echo (or no echo in time), several devices--> GROUP_WAIT
 *   GROUP_WAIT --every device drained, the hook paused the guest--> QUIESCING
 *   QUIESCING --record boundary, device in its P2P state (its thread said so)--> QUIESCED
 *   QUIESCED --every device quiesced--> STOPPING
 *   STOPPING --record boundary, device stopped (its thread said so)--> STOPCOPY
 *   STOPCOPY --device empty, last bitmap, END sent--> END_SENT
 *   END_SENT --COMMIT, ACK sent, device asked to stop for good--> DONE
 *   any but DONE --failure, cancel, veto: device rolled back--> DONE
 *
 * "converged" is the auto switchover, or the API's call in manual mode;
 * the intent is the journal's "END may be sent", made durable while the
 * guest still runs; the drain waits for the destination to echo a probe
 * sent behind everything queued (MIG_CAP_ECHO), so the kernels' buffers
 * are empty before the device stops.
 *
 * A device migrating with others (group.c) switches over with them: the
 * migration decides once for all, runs its hook once, and stops no device
 * before every one is quiesced (v2 PRE_COPY_P2P: it initiates no DMA but
 * still takes the others').
 *
 * Any failure before COMMIT puts the device back to the state the migration
 * found it in, RUNNING (or STOP: a VMM's paused vCPUs) (rollback), and ends
 * the migration failed or cancelled once it is there.
 * Every call that may block (state changes, the next record) runs on the
 * device's thread (device_worker.h): the engine hands it over and waits
 * in its state for the answer; nothing else touches the device meanwhile. The device is read only when the
 * TLS output buffer has room (pump on the low-water mark), so memory stays
 * bounded by a few chunks whatever the device's size. A device whose data
 * section is mapped is sent from it without a copy (the output buffer holds
 * references, and the next record waits until TLS has taken them all);
 * otherwise data is read straight into space reserved in the output buffer
 * and hashed there, one copy.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <uuid/uuid.h>

#include "bitmap.h"
#include "clock.h"
#include "daemon.h"
#include "device.h"
#include "device_worker.h"
#include "engine.h"
#include "errors.h"
#include "events.h"
#include "frame.h"
#include "hook.h"
#include "journal.h"
#include "log.h"
#include "peer.h"
#include "rate.h"
#include "states.h"
#include "source_engine.h"
#include "xmalloc.h"

static void src_on_connected(void *arg, struct peer_conn *c);
static void src_on_frame(void *arg, struct peer_conn *c, const struct mig_frame *f);
static void src_on_writable(void *arg, struct peer_conn *c);
static void src_on_closed(void *arg, struct peer_conn *c, int code, const char *msg);
static void src_finish(struct source_engine *s);

/* Every change of step goes through here: checked against the table of
 * states.c (the diagram above), logged at debug level. An arc that is not
 * in it is a bug: the migration fails (rolled back) rather than go on. */
int
src_set_state(struct source_engine *s, enum src_state to)
{
	if (engine_arc_check(&src_states, s->m->id_str, s->st, to) != 0)
		return -1;
	s->st = to;
	return 0;
}

static const struct peer_handler src_handler = {
	.on_connected = src_on_connected,
	.on_frame = src_on_frame,
	.on_writable = src_on_writable,
	.on_keepalive = src_on_keepalive,
	.on_closed = src_on_closed,
};

void
src_schedule_retry(struct source_engine *s, uint64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};

	if (!evtimer_pending(s->retry, NULL))
		evtimer_add(s->retry, &tv);
}

/* Close every channel: with an ERROR frame first when code is not 0,
 * after flushing what is queued when flush is set, else at once. */
static void
src_close_channels(struct source_engine *s, int code, const char *msg, int flush)
{
	unsigned i;

	for (i = 0; i < s->nch; i++) {
		struct peer_conn *c = s->ch[i].c;

		if (c == NULL)
			continue;
		s->ch[i].c = NULL;
		if (code != 0)
			peer_send_error(c, code, msg);
		if (code != 0 || flush)
			peer_close_after_flush(c);
		else
			peer_close(c);
	}
	s->c = NULL;
}

/* The channel with the least queued output, for the next frame. */
static struct peer_conn *
src_out_conn(struct source_engine *s)
{
	struct peer_conn *best = NULL;
	size_t len, best_len = (size_t)-1;
	unsigned i;

	for (i = 0; i < s->nch; i++) {
		if (s->ch[i].c == NULL)
			continue;
		len = peer_output_length(s->ch[i].c);
		if (len < best_len) {
			best = s->ch[i].c;
			best_len = len;
		}
	}
	return best;
}

/* Bytes handed to TLS on every channel; never goes back. */
uint64_t
src_bytes_sent(struct source_engine *s)
{
	uint64_t n = 0;
	unsigned i;

	for (i = 0; i < s->nch; i++) {
		n += s->ch[i].sent_base;
		if (s->ch[i].c != NULL)
			n += peer_bytes_sent(s->ch[i].c);
	}
	return n;
}

/* Bytes ever queued on every channel, sent or not; never goes back. */
uint64_t
src_bytes_queued(struct source_engine *s)
{
	uint64_t n = 0;
	unsigned i;

	for (i = 0; i < s->nch; i++) {
		n += s->ch[i].queued_base;
		if (s->ch[i].c != NULL)
			n += peer_bytes_queued(s->ch[i].c);
	}
	return n;
}

/* The channel's connection c goes away: keep what it counted. */
static void
src_channel_lost(struct src_channel *ch, struct peer_conn *c)
{
	ch->sent_base += peer_bytes_sent(c);
	ch->queued_base += peer_bytes_queued(c);
	ch->c = NULL;
	if (ch->idx == 0)
		ch->s->c = NULL;
}

size_t
src_output_length(struct source_engine *s)
{
	size_t n = 0;
	unsigned i;

	for (i = 0; i < s->nch; i++)
		if (s->ch[i].c != NULL)
			n += peer_output_length(s->ch[i].c);
	return n;
}

/* Release everything but the migration object itself. */
static void
src_engine_free(struct migration *m)
{
	struct source_engine *s = m->src;

	if (s == NULL)
		return;
	device_call_forget(s->dev_call);
	src_close_channels(s, 0, NULL, 0);
	event_free(s->retry);
	event_free(s->tick);
	event_free(s->drain_timer);
	if (s->lend_back != NULL)
		event_free(s->lend_back);
	if (s->lend != NULL && s->lend->refs > 0)
		s->lend->s = NULL; /* the last reference frees it */
	else
		free(s->lend);
	mig_digest_free(&s->digest);
	src_pack_free(s);
	free(s->bm_raw);
	free(s->bm_enc);
	free(s->bm_frame);
	free(s);
	m->src = NULL;
}

/* The channels still hold DATA by reference to the device's data section,
 * and are to linger (to deliver ERROR) while the device rolls back and may
 * be migrated again: their queued bytes become copies first, so that the
 * section is the device's again (and never read after it left SAVING). */
static void
src_unlend(struct source_engine *s)
{
	size_t n, total = 0;
	unsigned i;
	void *copy;

	if (s->lend == NULL || s->lend->refs == 0)
		return;
	for (i = 0; i < s->nch; i++) {
		struct evbuffer *out;

		if (s->ch[i].c == NULL)
			continue;
		out = peer_output(s->ch[i].c);
		if ((n = evbuffer_get_length(out)) == 0)
			continue;
		copy = xmalloc(n);
		evbuffer_copyout(out, copy, n);
		evbuffer_drain(out, n); /* releases the references */
		evbuffer_add(out, copy, n);
		free(copy);
		total += n;
	}
	log_info("migration %s: %zu queued bytes copied out of the device's data section "
		 "before it rolls back (%u references left)",
	    s->m->id_str, total, s->lend->refs);
}

static int
src_op_rollback(struct mig_device *dev, void *arg, uint64_t *out)
{
	(void)arg;
	(void)out;
	return dev->ops->rollback(dev);
}

/* The device is back as the migration found it, running or stopped (or
 * could not be made to): now the migration ends, so that "failed" always
 * means a source device as it was. */
static void
src_rolled_back(void *ctx, int rc, uint64_t out)
{
	struct source_engine *s = ctx;
	struct migration *m = s->m;

	(void)out;
	s->dev_call = NULL;
	if (rc != 0)
		log_warnx("migration %s: device %s: rollback failed: %s", m->id_str, s->dev->name,
		    strerror(-rc));
	else
		log_info("migration %s: device %s rolled back to %s, as the migration found it",
		    m->id_str, s->dev->name, s->dev->ops->state_name(s->dev));
	migration_fail(m, s->fail_code, "%s", s->fail_msg);
}

/* Put the device back as the migration found it; it ends with `code` once it
 * does. A call of the device's thread still out is not waited for: the
 * rollback runs after it, and its answer is dropped. */
void
src_fail(struct source_engine *s, int code, const char *fmt, ...)
{
	struct migration *m = s->m;
	enum src_state was = s->st;
	va_list ap;

	if (s->st == SRC_DONE || migration_phase_is_final(m->phase))
		return;
	va_start(ap, fmt);
	vsnprintf(s->fail_msg, sizeof(s->fail_msg), fmt, ap);
	va_end(ap);
	if (was == SRC_END_SENT && m->parent != NULL && m->parent->committed) {
		/* Another device's COMMIT covered this one too (group.c): the
		 * destination runs it. Rolling it back would run it twice. */
		log_warnx("migration %s: device %s: %s; the migration's COMMIT came on another "
			  "device's connection and covers this one: it stops for good here",
		    m->id_str, s->dev->name, s->fail_msg);
		device_call_forget(s->dev_call);
		s->dev_call = NULL;
		m->downtime_ms = mono_ms_since(m->stop_mono_ns);
		src_finish(s);
		return;
	}
	s->fail_code = code;
	device_call_forget(s->dev_call);
	s->dev_call = NULL;
	s->fig_call = NULL; /* the forgotten call frees it */
	s->bm_call = NULL;
	src_unlend(s);
	src_close_channels(s, code, s->fail_msg, 1);
	(void)src_set_state(s, SRC_DONE);
	evtimer_del(s->retry);
	evtimer_del(s->tick);
	if (was == SRC_END_SENT && code == MIG_E_SHUTDOWN && s->exiting) {
		/* Exiting with END out and no COMMIT yet: the destination may
		 * run the device already. Not rolled back; the operator decides.
		 * (The destination's own ERROR, whatever its code, says it did
		 * not commit and reset its device: that rolls back.) */
		log_warnx("migration %s: device %s left stopped: the daemon exits after END "
			  "without the destination's COMMIT; check the destination",
		    m->id_str, s->dev->name);
	} else if (s->dev_touched) {
		s->dev_call = device_call(s->dev->worker, src_op_rollback, NULL, NULL, src_rolled_back, s);
		return;
	}
	migration_fail(m, code, "%s", s->fail_msg);
}

/* What HELLO offers: the destination may agree to these, never more. */
static uint64_t
src_caps_offered(const struct source_engine *s)
{
	return MIG_CAP_ECHO | s->digests_offered |
	    (s->m->opt.compression != MIG_COMPRESSION_NONE ? MIG_CAP_COMPRESSION : 0) |
	    (s->dev->guest_memory_size > 0 ? MIG_CAP_BITMAP : 0) |
	    /* A handed-over device's pages are its VMM's to send. */
	    (s->dev->guest_memory != NULL ? MIG_CAP_PAGE_CONTENTS : 0) |
	    (s->dev->ops->initial_pending != NULL ? MIG_CAP_SWITCHOVER_ACK : 0);
}

static void
src_send_hello(struct source_engine *s, struct src_channel *ch)
{
	struct migration *m = s->m;
	uint8_t buf[MIG_FRAME_HEADER_LEN + 64 + MIG_TOKEN_MAX + MIG_NAME_MAX + MIG_IDENTITY_MAX +
	    MIG_COMPAT_MAX];
	struct mig_hello h;
	size_t n;

	memset(&h, 0, sizeof(h));
	h.version_min = MIG_PROTO_VERSION_MIN;
	h.version_max = MIG_PROTO_VERSION_MAX;
	memcpy(h.migration_id, m->id, MIG_UUID_LEN);
	h.token.ptr = s->token;
	h.token.len = (uint16_t)strlen(s->token);
	h.device.ptr = m->dest_device;
	h.device.len = (uint16_t)strlen(m->dest_device);
	h.identity.ptr = s->dev->identity;
	h.identity.len = (uint16_t)strlen(s->dev->identity);
	h.compat.ptr = s->dev->compat;
	h.compat.len = (uint16_t)strlen(s->dev->compat);
	h.capabilities = src_caps_offered(s);
	h.state_size = s->dev->state_size;
	h.channel = (uint16_t)ch->idx;
	h.channels = (uint16_t)s->nch;
	n = mig_encode_hello(buf, sizeof(buf), &h);
	if (n == 0) {
		src_fail(s, MIG_E_INTERNAL, "cannot encode HELLO");
		return;
	}
	peer_send(ch->c, buf, n);
	ch->hello_sent_ns = mono_ns();
	if (ch->idx == 0)
		(void)src_set_state(s, SRC_HELLO_SENT);
}

static void
src_on_connected(void *arg, struct peer_conn *c)
{
	struct src_channel *ch = arg;
	struct source_engine *s = ch->s;

	if (ch->idx == 0)
		snprintf(s->m->peer, sizeof(s->m->peer), "%s", peer_name(c));
	src_send_hello(s, ch);
}

/* Bulk mode on every channel (peer_set_bulk): on for the stream, off
 * before END so that nothing of the end waits in the kernel. */
static void
src_set_bulk(struct source_engine *s, int on)
{
	unsigned i;

	for (i = 0; i < s->nch; i++)
		if (s->ch[i].c != NULL)
			peer_set_bulk(s->ch[i].c, on);
}

static void
src_send_end(struct source_engine *s)
{
	uint8_t buf[MIG_FRAME_HEADER_LEN + 64];
	struct mig_end e;
	size_t n;

	memset(&e, 0, sizeof(e));
	e.total_bytes = s->total_bytes;
	e.total_chunks = s->total_chunks;
	e.total_pages = s->total_pages;
	mig_digest_final(&s->digest, e.digest);
	src_set_bulk(s, 0);
	n = mig_encode_end(buf, sizeof(buf), &e);
	peer_send(s->c, buf, n);
	(void)src_set_state(s, SRC_END_SENT);
	s->m->pending_bytes = 0;
	log_info("migration %s: END sent: %llu bytes in %llu chunks, %llu dirty pages",
	    s->m->id_str, (unsigned long long)e.total_bytes, (unsigned long long)e.total_chunks,
	    (unsigned long long)e.total_pages);
	migration_set_phase(s->m, PHASE_COMPLETING);
}

/* On the device's thread: the next record, then the device's figures
 * as they stand with it read (pending_bytes excludes it). */
static int
src_op_save_next(struct mig_device *dev, void *arg, uint64_t *size)
{
	struct src_figures *f = arg;
	int rc;

	if ((rc = dev->ops->save_next(dev, size)) != 0)
		return rc;
	f->pending_ok = dev->ops->pending(dev, &f->pending) == 0;
	f->initial_ok = dev->ops->initial_pending != NULL &&
	    dev->ops->initial_pending(dev, &f->initial_left) == 0;
	f->sc_ok = f->want_sc && dev->ops->stop_copy_size != NULL &&
	    dev->ops->stop_copy_size(dev, &f->sc) == 0;
	return 0;
}

/* The device's answer to "the next record": a record to send, or none
 * now (a pass is over; in stop-copy, the device may be empty). 1: pump
 * on; 0: not now. */
static int
src_on_record(struct source_engine *s, uint64_t size)
{
	struct migration *m = s->m;

	if (size > 0) {
		/* The record's place in a mapped section may move (v1
		 * data_offset): asked again for each record. */
		if (s->lend != NULL)
			s->mapped = s->dev->ops->save_mapped(s->dev);
		s->in_record = 1;
		s->rec_size = size;
		s->rec_off = 0;
		if (src_device_running(s))
			s->precopy_read += size;
		return 1;
	}
	/* The device has nothing more right now: one pass is over. */
	if (src_device_running(s)) {
		if (src_wants_bitmaps(s) && !s->bm_iter_done) {
			s->bm_iter_done = 1;
			src_bitmap_pass_start(s);
			return 1;
		}
		s->bm_iter_done = 0;
		s->passes_done++;
		src_check_convergence(s);
		/* One of several devices: the migration decides now (group.c). */
		if (m->parent != NULL)
			migration_child_step(m);
		if (s->pass_bytes > 0 && s->st != SRC_STOPPING)
			m->iterations++; /* the next pass begins */
		s->pass_bytes = 0;
		if (s->st == SRC_STOPPING)
			return 1;
		src_schedule_retry(s, SRC_RETRY_MS);
		return 0;
	}
	/* Stop-copy: drained once the device reports nothing pending. */
	if (s->fig.pending_ok && s->fig.pending > 0)
		return 1;
	if (src_wants_bitmaps(s) && !s->bm_final_done) {
		s->bm_final_done = 1;
		src_bitmap_pass_start(s);
		return 1;
	}
	/* No fsync before END: the journal says "END may be sent" since
	 * the switchover began (src_request_switchover). */
	src_send_end(s);
	return 0;
}

static void
src_record_ready(void *ctx, int rc, uint64_t size)
{
	struct source_engine *s = ctx;

	s->dev_call = NULL;
	if (rc == 0 && s->fig_call != NULL) {
		s->fig = *s->fig_call;
		s->fig_valid = 1;
	}
	s->fig_call = NULL; /* freed by the call, after this */
	if (!src_device_running(s) && s->st != SRC_STOPCOPY)
		return;
	if (rc != 0) {
		src_fail(s, device_error_code(s->dev, MIG_E_DEVICE_IO),
		    "device %s: next data record: %s", s->dev->name, strerror(-rc));
		return;
	}
	if (src_on_record(s, size))
		src_pump(s);
}

/* Fill the output buffer up to the high-water mark from the device. */
void
src_pump(struct source_engine *s)
{
	struct peer_conn *out;
	int rc;

	while (s->c != NULL && s->dev_call == NULL &&
	    (src_device_running(s) || s->st == SRC_STOPCOPY) && (out = src_out_conn(s)) != NULL &&
	    peer_output_length(out) < s->high_water && !src_throttled(s)) {
		if (s->bm_active) {
			if ((rc = src_bitmap_step(s, out)) != 0) {
				src_fail(s, device_error_code(s->dev, MIG_E_DEVICE_IO),
				    "device %s: dirty bitmap: %s", s->dev->name, strerror(-rc));
				return;
			}
			continue;
		}
		if (s->in_record) {
			if ((rc = src_send_data_part(s, out)) != 0) {
				src_fail(s, device_error_code(s->dev, MIG_E_DEVICE_IO),
				    "device %s: reading device data: %s", s->dev->name,
				    strerror(-rc));
				return;
			}
			continue;
		}
		/* A record boundary: the only place the device may change state.
		 * Not while TLS still has to take parts of the last record from
		 * the data section (src_lend_release brings us back). */
		if (s->lend != NULL && s->lend->refs > 0)
			return;
		if (s->st == SRC_STOPPING) {
			src_stop_device(s);
			continue;
		}
		if (s->st == SRC_QUIESCING) {
			src_quiesce_device(s);
			return;
		}
		/* One of several devices, drained: at this boundary it is ready
		 * for the migration's quiesce (group.c), the guest still runs. */
		if (s->st == SRC_GROUP_WAIT && !s->group_ready) {
			s->group_ready = 1;
			migration_child_step(s->m);
			return;
		}
		/* Switching over: the pipe drains, the hook pauses the guest, or
		 * the other devices of the migration catch up. */
		if (src_draining(s) || s->st == SRC_HOOK_WAIT || s->st == SRC_GROUP_WAIT ||
		    s->st == SRC_QUIESCED)
			return;
		/* The device's initial data is all read: mark its end. */
		if (s->st == SRC_STREAMING && (s->caps & MIG_CAP_SWITCHOVER_ACK) &&
		    !s->initial_done_sent && src_initial_read(s)) {
			if ((rc = src_send_initial_done(s, out)) != 0) {
				src_fail(s, MIG_E_INTERNAL, "cannot mark the initial data: %s",
				    strerror(-rc));
				return;
			}
			continue;
		}
		if (s->st == SRC_STREAMING &&
		    mono_ns() - s->last_converge_check_ns > SRC_TICK_MS * 1000000ull) {
			src_check_convergence(s);
			if (s->st == SRC_STOPPING)
				continue;
		}
		/* The next record comes from the device's thread. */
		s->fig_call = xcalloc(1, sizeof(*s->fig_call));
		s->fig_call->want_sc = src_device_running(s);
		s->dev_call = device_call(s->dev->worker, src_op_save_next, s->fig_call, free,
		    src_record_ready, s);
		return;
	}
}

static void
src_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	src_pump(arg);
}

/* Every SRC_TICK_MS: throughput, estimates, pre-copy timeout. */
static void
src_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct source_engine *s = arg;
	struct migration *m = s->m;
	uint64_t now = mono_ns();
	char why[300];

	if (s->c == NULL || s->st < SRC_STREAMING)
		return;
	/* Only a busy pipe measures the pipe. */
	if (rate_sample(&s->rate, now, src_bytes_sent(s), src_output_length(s) > 0))
		m->throughput_bps = rate_bits_per_sec(&s->rate);
	if (now - s->last_progress_ns >= SRC_PROGRESS_MS * 1000000ull) {
		s->last_progress_ns = now;
		events_migration_progress(m);
	}
	if (src_device_running(s)) {
		src_update_estimate(s);
		if (migration_precopy_expired(m, s->precopy_start_ns, why, sizeof(why))) {
			src_fail(s, MIG_E_NOT_CONVERGED, "%s", why);
			return;
		}
	}
	src_pump(s);
}

static int
src_op_save_begin(struct mig_device *dev, void *arg, uint64_t *out)
{
	(void)arg;
	(void)out;
	return dev->ops->save_begin(dev, 1);
}

static void src_save_begun(void *ctx, int rc, uint64_t out);

/* The digest HELLO_ACK names (none: SHA-256, a destination older than the
 * negotiation), if we offered it. 0, or -1 once the migration fails. */
static int
src_agree_digest(struct source_engine *s)
{
	int id = mig_caps_digest(s->caps);

	if (!(s->digests_offered & mig_cap_digest(id))) {
		src_fail(s, MIG_E_NO_COMMON_DIGEST,
		    "the destination checks END with %s only; [migration] digest here does not "
		    "accept it",
		    mig_digest_name(id));
		return -1;
	}
	if (mig_digest_init(&s->digest, (enum mig_digest_id)id) != 0) {
		src_fail(s, MIG_E_NOMEM, "no memory for the %s state", mig_digest_name(id));
		return -1;
	}
	s->m->digest = mig_digest_name(id);
	log_info("migration %s: END digest %s", s->m->id_str, s->m->digest);
	return 0;
}

static void
src_start_precopy(struct source_engine *s, const struct mig_hello_ack *a)
{
	if (a->version < MIG_PROTO_VERSION_MIN || a->version > MIG_PROTO_VERSION_MAX) {
		src_fail(s, MIG_E_VERSION_MISMATCH, "destination chose protocol version %u",
		    a->version);
		return;
	}
	if (s->caps & ~src_caps_offered(s)) {
		src_fail(s, MIG_E_MALFORMED,
		    "destination agreed to capabilities we did not offer (%#llx of %#llx)",
		    (unsigned long long)s->caps, (unsigned long long)src_caps_offered(s));
		return;
	}
	if (src_agree_digest(s) != 0)
		return;
	if (src_pack_start(s) != 0) {
		src_fail(s, MIG_E_NOMEM, "no memory for compression");
		return;
	}
	if (src_set_state(s, SRC_STARTING) != 0) {
		src_fail(s, MIG_E_INTERNAL, "source engine: cannot start the device");
		return;
	}
	s->dev_touched = 1;
	s->dev_call = device_call(s->dev->worker, src_op_save_begin, NULL, NULL, src_save_begun, s);
}

/* The device saves (pre-copy), or refused to. */
static void
src_save_begun(void *ctx, int rc, uint64_t out)
{
	struct source_engine *s = ctx;
	struct migration *m = s->m;
	struct timeval tv = {0, SRC_TICK_MS * 1000};

	(void)out;
	s->dev_call = NULL;
	if (s->st != SRC_STARTING)
		return;
	if (rc != 0) {
		src_fail(s, device_error_code(s->dev, MIG_E_DEVICE_STATE),
		    "device %s refused pre-copy: %s", s->dev->name, strerror(-rc));
		return;
	}
	/* A mapped data section (or a backend's own stable buffer) is sent
	 * from where it lies; the backend may only set it up at save_begin. */
	if (s->dev->ops->save_mapped != NULL &&
	    (s->mapped = s->dev->ops->save_mapped(s->dev)) != NULL) {
		s->lend = xcalloc(1, sizeof(*s->lend));
		s->lend->s = s;
		s->lend_back = event_new(daemon_ctx.base, -1, 0, src_retry_cb, s);
	}
	if (src_set_state(s, SRC_STREAMING) != 0) {
		src_fail(s, MIG_E_INTERNAL, "source engine: cannot start streaming");
		return;
	}
	m->iterations = 1; /* the first pass: everything */
	s->precopy_start_ns = mono_ns();
	s->last_converge_check_ns = s->precopy_start_ns;
	evtimer_add(s->tick, &tv);
	migration_set_phase(m, PHASE_PRECOPY);
	src_set_bulk(s, 1);
	src_pump(s);
}

static int
src_op_save_end(struct mig_device *dev, void *arg, uint64_t *out)
{
	(void)arg;
	(void)out;
	return dev->ops->save_end(dev);
}

/* The device has stopped for good: the migration is complete. */
static void
src_device_done(void *ctx, int rc, uint64_t out)
{
	struct source_engine *s = ctx;
	struct migration *m = s->m;

	(void)out;
	s->dev_call = NULL;
	if (rc != 0)
		log_warnx("migration %s: device %s did not stop cleanly after COMMIT: %s; the "
			  "destination owns the device state now",
		    m->id_str, s->dev->name, strerror(-rc));
	log_info("migration %s: completed: %llu bytes, downtime %llu ms (destination resumed in "
		 "%u ms)",
	    m->id_str, (unsigned long long)m->bytes_transferred, (unsigned long long)m->downtime_ms,
	    s->resume_ms);
	migration_set_phase(m, PHASE_COMPLETED);
}

/* The destination owns the state now: the device stops for good, on its
 * thread; the migration completes once it has. */
static void
src_finish(struct source_engine *s)
{
	src_close_channels(s, 0, NULL, 1);
	(void)src_set_state(s, SRC_DONE);
	evtimer_del(s->retry);
	evtimer_del(s->tick);
	s->dev_call = device_call(s->dev->worker, src_op_save_end, NULL, NULL, src_device_done, s);
}

static void
src_on_commit(struct source_engine *s, const struct mig_commit *cm)
{
	struct migration *m = s->m;
	uint8_t buf[MIG_FRAME_HEADER_LEN + 8];
	struct mig_ack ack = {cm->bytes_received};

	m->downtime_ms = mono_ms_since(m->stop_mono_ns);
	s->resume_ms = cm->resume_ms;
	src_learn_switchover(s);
	peer_send(s->c, buf, mig_encode_ack(buf, sizeof(buf), &ack));
	if (m->parent != NULL)
		m->parent->committed = 1; /* it covers every device (group.c) */
	src_finish(s);
}

/* HELLO-ACK on one channel: once channel 0 is agreed, open the others;
 * once all are agreed, pre-copy starts. */
static void
src_on_hello_ack(struct source_engine *s, struct src_channel *ch, const struct mig_hello_ack *a)
{
	unsigned i;

	if (ch->acked || memcmp(a->migration_id, s->m->peer_id, MIG_UUID_LEN) != 0) {
		if (ch->idx == 0 && !ch->acked) {
			memcpy(s->m->peer_id, a->migration_id, MIG_UUID_LEN);
			uuid_unparse_lower(s->m->peer_id, s->m->peer_id_str);
		} else {
			src_fail(s, MIG_E_UNEXPECTED_FRAME, "unexpected HELLO-ACK on channel %u",
			    ch->idx);
			return;
		}
	}
	ch->acked = 1;
	src_rtt_sample(s, ch->hello_sent_ns, "HELLO");
	if (ch->idx == 0) {
		s->caps = a->capabilities;
		/* The destination wrote its journal before it answered this
		 * HELLO; a probe now, with nothing queued ahead of it, times
		 * the network and little else. */
		if (s->caps & MIG_CAP_ECHO) {
			s->rtt_probe_sent_ns = mono_ns();
			peer_send_keepalive(ch->c, SRC_RTT_PROBE_NONCE);
		}
		for (i = 1; i < s->nch; i++) {
			s->ch[i].c = peer_connect(s->m->peer_addr, &src_handler, &s->ch[i],
			    s->m->opt.chunk_size);
			if (s->ch[i].c == NULL) {
				src_fail(s, MIG_E_CONNECT, "cannot open channel %u", i);
				return;
			}
		}
	} else if (a->capabilities != s->caps) {
		src_fail(s, MIG_E_MALFORMED, "channel %u agreed to other capabilities", ch->idx);
		return;
	}
	for (i = 0; i < s->nch; i++)
		if (!s->ch[i].acked)
			return;
	src_start_precopy(s, a);
}

static void
src_on_frame(void *arg, struct peer_conn *c, const struct mig_frame *f)
{
	struct src_channel *ch = arg;
	struct source_engine *s = ch->s;

	switch (f->hdr.type) {
	case MIG_FRAME_HELLO_ACK:
		if (s->st != SRC_HELLO_SENT)
			break;
		src_on_hello_ack(s, ch, &f->u.hello_ack);
		return;
	case MIG_FRAME_SWITCHOVER_ACK:
		if (!(s->caps & MIG_CAP_SWITCHOVER_ACK) || ch->idx != 0 || !s->initial_done_sent ||
		    s->switchover_acked || f->u.switchover_ack.seq != s->initial_done_seq ||
		    !src_device_running(s))
			break;
		src_on_switchover_ack(s);
		return;
	case MIG_FRAME_COMMIT:
		if (s->st != SRC_END_SENT || ch->idx != 0)
			break;
		if (f->u.commit.bytes_received != s->total_bytes) {
			src_fail(s, MIG_E_LENGTH_MISMATCH,
			    "destination committed %llu bytes, %llu were sent",
			    (unsigned long long)f->u.commit.bytes_received,
			    (unsigned long long)s->total_bytes);
			return;
		}
		src_on_commit(s, &f->u.commit);
		return;
	case MIG_FRAME_ERROR: {
		int code = mig_err_known((int)f->u.error.code) ? (int)f->u.error.code
							       : MIG_E_PEER_ERROR;

		src_channel_lost(ch, c);
		peer_close(c);
		src_fail(s, code, "destination refused: %s: %.*s", mig_err_name(code),
		    (int)f->u.error.message.len, f->u.error.message.ptr);
		return;
	}
	default:
		break;
	}
	src_fail(s, MIG_E_UNEXPECTED_FRAME, "unexpected %s frame from the destination",
	    mig_frame_type_name(f->hdr.type));
}

static void
src_on_writable(void *arg, struct peer_conn *c)
{
	struct src_channel *ch = arg;

	src_pump(ch->s);
}

static void
src_on_closed(void *arg, struct peer_conn *c, int code, const char *msg)
{
	struct src_channel *ch = arg;
	struct source_engine *s = ch->s;

	src_channel_lost(ch, c);
	if (s->st == SRC_END_SENT && s->m->parent != NULL && !s->m->parent->committed &&
	    !s->orphaned) {
		/* The destination sends COMMIT on every device's connection
		 * at once: another one may still bring it, covering this one
		 * (group.c waits for it, or fails them all). */
		log_warnx("migration %s: device %s: %s after END; waiting for the COMMIT on the "
			  "migration's other devices' connections",
		    s->m->id_str, s->dev->name, msg);
		src_close_channels(s, 0, NULL, 0);
		s->orphaned = 1;
		snprintf(s->fail_msg, sizeof(s->fail_msg), "%s", msg);
		s->fail_code = code;
		migration_child_step(s->m);
		return;
	}
	if (s->st == SRC_END_SENT)
		src_fail(s, code,
		    "%s while waiting for the destination's COMMIT; the source device is running "
		    "again: check the destination before using its copy",
		    msg);
	else
		src_fail(s, code, "%s", msg);
}


static void src_connect(struct source_engine *s);
static void src_engine_cancel(struct migration *m, int code, const char *why);
static void src_engine_durable(struct migration *m);

/* The step the engine is at, for the operator (API, events). */
static void
src_engine_describe(const struct migration *m, json_t *o)
{
	if (m->src != NULL)
		json_object_set_new(o, "engine_state",
		    json_string(engine_state_name(&src_states, m->src->st)));
}

static const struct migration_engine src_engine = {
	.cancel = src_engine_cancel,
	.free = src_engine_free,
	.describe = src_engine_describe,
	.durable = src_engine_durable,
};

static int
token_is_valid(const char *t)
{
	size_t n = strlen(t);

	return n >= 1 && n <= MIG_TOKEN_MAX && strspn(t, "0123456789abcdefABCDEF-_") == n;
}

int
source_start(struct mig_device *dev, const char *dest, const char *token,
    const struct migration_options *opt, struct migration **out, char *err, size_t errlen)
{
	struct source_engine *s;
	struct migration *m;
	size_t bm_bytes;
	unsigned i;

	if (dev->busy != NULL) {
		snprintf(err, errlen, "device %s is busy with migration %s", dev->name,
		    dev->busy->id_str);
		return MIG_E_DEVICE_BUSY;
	}
	if (!token_is_valid(token)) {
		snprintf(err, errlen, "token must be 1..%d characters of [0-9A-Fa-f_-]", MIG_TOKEN_MAX);
		return MIG_E_BAD_REQUEST;
	}
	m = migration_new_child(MIG_ROLE_SOURCE, dev, opt->parent);
	m->opt = *opt;
	m->opt.parent = NULL;
	snprintf(m->peer, sizeof(m->peer), "%s", dest);
	snprintf(m->dest_device, sizeof(m->dest_device), "%s", opt->dest_device[0] ?
	    opt->dest_device : dev->name);
	s = xcalloc(1, sizeof(*s));
	s->m = m;
	s->dev = dev;
	snprintf(s->token, sizeof(s->token), "%s", token);
	for (i = 0; i < daemon_ctx.cfg->migration.ndigests; i++)
		s->digests_offered |= mig_cap_digest(daemon_ctx.cfg->migration.digests[i]);
	s->high_water = 2 * (size_t)opt->chunk_size + (1u << 20);
	s->retry = evtimer_new(daemon_ctx.base, src_retry_cb, s);
	s->tick = event_new(daemon_ctx.base, -1, EV_PERSIST, src_tick_cb, s);
	s->drain_timer = evtimer_new(daemon_ctx.base, src_drain_expired, s);
	bm_bytes = MIG_BITMAP_RAW_LEN(SRC_BM_WINDOW);
	s->bm_raw = xcalloc(1, bm_bytes);
	s->bm_enc = xcalloc(1, bm_bytes);
	/* Second half: the encoded frame; first half: bitmap and contents. */
	s->bm_frame_cap = 2 * (bm_bytes + opt->chunk_size + 4096 + 256);
	s->bm_frame = dev->guest_memory_size > 0 ? xcalloc(1, s->bm_frame_cap) : NULL;
	m->src = s;
	m->engine = &src_engine;
	m->state_size = dev->state_size;
	s->st = SRC_CONNECTING;
	snprintf(m->peer_addr, sizeof(m->peer_addr), "%s", dest);
	s->nch = opt->channels >= 1 && opt->channels <= MIG_CHANNELS_MAX ? opt->channels : 1;
	for (i = 0; i < s->nch; i++) {
		s->ch[i].s = s;
		s->ch[i].idx = i;
	}
	*out = m;
	/* Nothing happens to the device, or on the wire, before the journal
	 * holds the migration (src_engine_durable). */
	if (m->created_durable)
		src_connect(s);
	return MIG_OK; /* a failure to connect shows in the migration itself */
}

static void
src_connect(struct source_engine *s)
{
	s->c = s->ch[0].c = peer_connect(s->m->peer_addr, &src_handler, &s->ch[0],
	    s->m->opt.chunk_size);
	if (s->c == NULL)
		src_fail(s, MIG_E_CONNECT, "cannot connect to %s", s->m->peer_addr);
}

static void
src_engine_durable(struct migration *m)
{
	struct source_engine *s = m->src;

	if (s != NULL && s->st == SRC_CONNECTING && s->c == NULL)
		src_connect(s);
}

int
source_switchover(struct migration *m, char *err, size_t errlen)
{
	struct source_engine *s = m->src;
	int rc;

	if ((rc = migration_switchover_check(m, err, errlen)) != MIG_OK)
		return rc;
	if (s == NULL) {
		snprintf(err, errlen, "migration %s is not a source migration", m->id_str);
		return MIG_E_WRONG_STATE;
	}
	if (!src_initial_data_moved(s)) {
		/* Not before the destination has loaded the initial data. */
		log_info("migration %s: the switchover waits until the destination has loaded the "
			 "device's initial data",
		    m->id_str);
		s->switchover_wanted = 1;
		return MIG_OK;
	}
	src_request_switchover(s);
	src_pump(s);
	return MIG_OK;
}

/* Cancel a source migration: the destination is told, the device rolls back. */
static void
src_engine_cancel(struct migration *m, int code, const char *why)
{
	if (m->src == NULL)
		return;
	/* Our daemon's exit, not a peer's word (see src_fail). */
	m->src->exiting = code == MIG_E_SHUTDOWN;
	src_fail(m->src, code, "%s", why);
}

/* Several devices in one migration (group.c): what it asks of each. */

int
source_group_step(const struct migration *m)
{
	/* Waiting, but not at its record boundary yet: not ready. */
	if (m->src != NULL && m->src->st == SRC_GROUP_WAIT && !m->src->group_ready)
		return SRC_DRAINING;
	return m->src != NULL ? (int)m->src->st : -1;
}

void
source_group_figures(const struct migration *m, struct source_group_figures *f)
{
	struct source_engine *s = m->src;

	memset(f, 0, sizeof(*f));
	if (s == NULL || s->st != SRC_STREAMING)
		return;
	/* Not before its first full pass, nor before its initial data has
	 * moved: as for one device (src_check_convergence). */
	f->ready = s->passes_done > 0 && src_initial_data_moved(s);
	f->pending = m->pending_bytes;
	f->left = (s->stop_copy_bytes > m->pending_bytes ? s->stop_copy_bytes : m->pending_bytes) +
	    src_output_length(s);
	f->rate = src_rate(s);
	f->rtt_ms = s->rtt_ms;
	f->extra_ms = s->dev->switchover_extra_known ? s->dev->switchover_extra_ms : 0;
	f->passes = s->passes_done;
}

void
source_group_switchover(struct migration *m)
{
	struct source_engine *s = m->src;

	if (s == NULL || s->st != SRC_STREAMING)
		return;
	if (!src_initial_data_moved(s)) {
		s->switchover_wanted = 1; /* on SWITCHOVER_ACK */
		return;
	}
	src_request_switchover(s);
	src_pump(s);
}

void
source_group_quiesce(struct migration *m)
{
	struct source_engine *s = m->src;

	if (s == NULL || s->st != SRC_GROUP_WAIT || src_set_state(s, SRC_QUIESCING) != 0)
		return;
	src_pump(s);
}

int
source_group_orphaned(const struct migration *m)
{
	return m->src != NULL && m->src->orphaned && m->src->st == SRC_END_SENT;
}

void
source_group_committed(struct migration *m)
{
	struct source_engine *s = m->src;

	if (s == NULL || s->st != SRC_END_SENT)
		return;
	log_info("migration %s: device %s: the COMMIT on another device's connection covers it",
	    m->id_str, s->dev->name);
	m->downtime_ms = mono_ms_since(m->stop_mono_ns);
	src_finish(s);
}

void
source_group_stop(struct migration *m)
{
	struct source_engine *s = m->src;

	if (s == NULL || s->st != SRC_QUIESCED || src_set_state(s, SRC_STOPPING) != 0)
		return;
	src_pump(s);
}
