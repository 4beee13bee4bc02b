/*
 * dest.c: the destination engine.
 *
 * Its steps and arcs are the table of states.c; dst_set_state() checks
 * each change against it, and tests/test_states.c checks this diagram
 * against it:
 *
 *   WAITING --valid HELLO--> ACCEPTING
 *   ACCEPTING --"created" on disk, device RESUMING (its thread said so)--> RECEIVING
 *   RECEIVING --END verified, device asked to run the state--> LOADING
 *   LOADING --device RUNNING (its thread said so), journal fsync--> COMMITTING
 *   LOADING --several devices: device out of RESUMING (its thread said so)--> LOADED
 *   LOADED --every device loaded: its thread puts it in RUNNING_P2P--> STARTING_P2P
 *   STARTING_P2P --device in RUNNING_P2P (its thread said so)--> P2P
 *   P2P --every device in RUNNING_P2P: its thread runs it--> STARTING
 *   STARTING --device RUNNING, the migration's journal fsync--> COMMITTING
 *   COMMITTING --"completing" on disk, COMMIT sent--> COMMITTED
 *   COMMITTED --ACK--> DONE
 *   any but DONE --failure, cancel, token expired: device reset--> DONE
 *
 * Nothing reaches the device before a HELLO has shown the one-time token
 * for this device and a compatible identity, and before the journal holds
 * the migration (a restart must find it to reset the device). On any error before COMMIT
 * is sent, the device is reset (its half-written or just resumed state
 * discarded: without COMMIT the source rolls back) and the source is told
 * with an ERROR frame carrying the reason.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <uuid/uuid.h>

#include "bitmap.h"
#include "clock.h"
#include "compress.h"
#include "daemon.h"
#include "device.h"
#include "device_worker.h"
#include "digest.h"
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
#include "xmalloc.h"

#define DST_PROGRESS_MS 500
#define DST_CHANNELS_MAX 16
/* Frames held ahead of their turn (several channels), before reading pauses. */
#define DST_HELD_MAX (32u << 20)
/* Bytes handed to the device's thread and not yet written, before reading
 * pauses (a device slower than the network). */
#define DST_WRITES_MAX (16u << 20)

struct dest_engine;

/* One DATA payload on its way into the device, on the device's thread. */
struct dst_write {
	struct dest_engine *d; /* NULL once the engine has dropped it */
	struct device_call *call;
	struct evbuffer *buf;
	size_t len;
	uint64_t seq;
	int commit;  /* END_OF_RECORD: the device takes the record after it */
	int initial; /* INITIAL_DONE: acknowledge once it is in */
	struct dst_write *next;
};

struct dest_engine;

/* A frame that arrived ahead of its turn on another channel. */
struct dst_held {
	uint64_t seq;
	uint8_t *frame; /* header + payload, as on the wire */
	size_t len;
	struct dst_held *next;
};

#define DST_ECHO_BACKLOG_MAX 65536 /* unread output beyond which probes are not echoed */

struct dst_channel {
	struct dest_engine *d;
	struct peer_conn *c;
	unsigned idx;
	int paused; /* reading stopped: too much held ahead of its turn */
};

struct dest_engine {
	struct migration *m;
	struct mig_device *dev;
	struct peer_conn *c; /* channel 0 */
	struct dst_channel ch[MIG_CHANNELS_MAX];
	unsigned nch, joined;
	char join_token[MIG_TOKEN_MAX + 1]; /* lets channels 1.. join */
	struct dst_held *held;		    /* sorted by seq */
	size_t held_bytes;
	int end_deferred;
	struct mig_end end;
	struct mig_commit commit; /* sent once the journal has it */
	struct event *end_timer;
	enum dst_state st;
	struct event *expiry;
	uint64_t caps;
	uint64_t seq;
	int partial_record; /* bytes of a record written, not yet committed */
	struct mig_digest digest; /* END's, chosen at HELLO */
	struct compress_ctx *zctx; /* MIG_CAP_COMPRESSION agreed: packed DATA */
	uint64_t total_bytes, total_chunks, total_pages;
	uint64_t first_stopcopy_ns;
	uint64_t last_sample_ns, last_sample_bytes;
	uint64_t last_progress_ns;
	/* The device's thread works for us (device_worker.h): nothing else
	 * touches the device until it answers. */
	struct device_call *dev_call;
	int dev_touched; /* asked to resume: a failure resets it */
	/* One device of several lost its connection after COMMIT: the
	 * source's acknowledgement on another device's connection says the
	 * source had COMMIT (group.c decides). What it would fail with. */
	int orphaned;
	int orphan_code;
	char orphan_msg[MIG_ERROR_MSG_MAX + 1];
	uint64_t end_ns; /* END verified: the device's resume time starts */
	int initial_done; /* the initial data's end was applied, acknowledged */
	/* Writes on the device's thread, in order (dst_write), and their
	 * bytes; reading pauses above DST_WRITES_MAX. */
	struct dst_write *wq, **wq_tail;
	size_t wq_bytes;
	int write_paused;
	int fail_code;	 /* what the migration ends with, once reset */
	char fail_msg[512];
};

static void
dst_drop_held(struct dest_engine *d)
{
	struct dst_held *h;

	while ((h = d->held) != NULL) {
		d->held = h->next;
		free(h->frame);
		free(h);
	}
	d->held_bytes = 0;
}

/* Close every channel, telling the source why first when code is set. */
static void
dst_close_channels(struct dest_engine *d, int code, const char *msg)
{
	unsigned i;

	for (i = 0; i < d->nch; i++) {
		struct peer_conn *c = d->ch[i].c;

		if (c == NULL)
			continue;
		d->ch[i].c = NULL;
		if (code != 0) {
			peer_send_error(c, code, msg);
			peer_close_after_flush(c);
		} else
			peer_close(c);
	}
	d->c = NULL;
}

/* The writes still out run on, but nobody hears of them. */
static void
dst_drop_writes(struct dest_engine *d)
{
	struct dst_write *w;

	for (w = d->wq; w != NULL; w = w->next) {
		w->d = NULL;
		device_call_forget(w->call);
	}
	d->wq = NULL;
	d->wq_tail = &d->wq;
	d->wq_bytes = 0;
}

static void
dst_engine_free(struct migration *m)
{
	struct dest_engine *d = m->dst;

	if (d == NULL)
		return;
	dst_drop_writes(d);
	device_call_forget(d->dev_call);
	dst_close_channels(d, 0, NULL);
	dst_drop_held(d);
	event_free(d->expiry);
	event_free(d->end_timer);
	mig_digest_free(&d->digest);
	compress_free(d->zctx);
	free(d);
	m->dst = NULL;
}

/* Every change of step goes through here: checked against the table of
 * states.c (the diagram above), logged at debug level. An arc that is not
 * in it is a bug, refused (the caller fails the migration). */
static int
dst_set_state(struct dest_engine *d, enum dst_state to)
{
	if (engine_arc_check(&dst_states, d->m->id_str, d->st, to) != 0)
		return -1;
	d->st = to;
	return 0;
}

static void dst_fail(struct dest_engine *d, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void dst_end_timeout_cb(evutil_socket_t fd, short what, void *arg);
static void dst_send_commit(struct dest_engine *d);
static void dst_commit_durable(struct migration *m, int ok);
static void dst_accept(struct dest_engine *d);
static void dst_engine_cancel(struct migration *m, int code, const char *why);
static void dst_engine_durable(struct migration *m);

/* The step the engine is at, for the operator (API, events). */
static void
dst_engine_describe(const struct migration *m, json_t *o)
{
	if (m->dst != NULL)
		json_object_set_new(o, "engine_state",
		    json_string(engine_state_name(&dst_states, m->dst->st)));
}

static const struct migration_engine dst_engine = {
	.cancel = dst_engine_cancel,
	.free = dst_engine_free,
	.describe = dst_engine_describe,
	.durable = dst_engine_durable,
};

static int
dst_op_reset(struct mig_device *dev, void *arg, uint64_t *out)
{
	(void)arg;
	(void)out;
	return dev->ops->reset(dev);
}

/* The received state is gone (or the reset failed): the migration ends. */
static void
dst_was_reset(void *ctx, int rc, uint64_t out)
{
	struct dest_engine *d = ctx;
	struct migration *m = d->m;

	(void)out;
	d->dev_call = NULL;
	if (rc != 0)
		log_warnx("migration %s: device %s: reset failed: %s", m->id_str, d->dev->name,
		    strerror(-rc));
	else
		log_info("migration %s: device %s reset, received state discarded", m->id_str,
		    d->dev->name);
	migration_fail(m, d->fail_code, "%s", d->fail_msg);
}

/* Reset the device unless it already runs the migrated state (COMMIT
 * sent); the migration ends with `code` once it is. A call of the
 * device's thread still out is not waited for: the reset runs after it,
 * and its answer is dropped. */
static void
dst_fail(struct dest_engine *d, int code, const char *fmt, ...)
{
	struct migration *m = d->m;
	enum dst_state was = d->st;
	va_list ap;

	if (d->st == DST_DONE || migration_phase_is_final(m->phase))
		return;
	va_start(ap, fmt);
	vsnprintf(d->fail_msg, sizeof(d->fail_msg), fmt, ap);
	va_end(ap);
	d->fail_code = code;
	device_call_forget(d->dev_call);
	d->dev_call = NULL;
	dst_drop_writes(d);
	(void)dst_set_state(d, DST_DONE);
	evtimer_del(d->expiry);
	evtimer_del(d->end_timer);
	dst_close_channels(d, code, d->fail_msg);
	dst_drop_held(d);
	if (d->dev_touched && was != DST_COMMITTED) {
		d->dev_call = device_call(d->dev->worker, dst_op_reset, NULL, NULL, dst_was_reset, d);
		return;
	}
	migration_fail(m, code, "%s", d->fail_msg);
}

static void
dst_expired_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dest_engine *d = arg;

	if (d->st == DST_WAITING)
		dst_fail(d, MIG_E_TOKEN_EXPIRED, "no source presented the token before it expired");
}

int
dest_prepare(struct mig_device *dev, struct migration *parent, struct migration **out, char *err,
    size_t errlen)
{
	const struct mig_config *cfg = daemon_ctx.cfg;
	struct timeval tv = {(time_t)cfg->daemon.token_ttl_s, 0};
	uint8_t raw[32];
	struct dest_engine *d;
	struct migration *m;
	size_t i;

	if (dev->busy != NULL) {
		snprintf(err, errlen, "device %s is busy with migration %s", dev->name,
		    dev->busy->id_str);
		return MIG_E_DEVICE_BUSY;
	}
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		snprintf(err, errlen, "no randomness for a token");
		return MIG_E_INTERNAL;
	}
	m = migration_new_child(MIG_ROLE_DESTINATION, dev, parent);
	for (i = 0; i < sizeof(raw); i++)
		snprintf(m->token + 2 * i, 3, "%02x", raw[i]);
	OPENSSL_cleanse(raw, sizeof(raw));
	m->token_expires = time(NULL) + (time_t)cfg->daemon.token_ttl_s;
	d = xcalloc(1, sizeof(*d));
	d->m = m;
	d->dev = dev;
	d->st = DST_WAITING;
	d->wq_tail = &d->wq;
	m->engine = &dst_engine;
	d->expiry = evtimer_new(daemon_ctx.base, dst_expired_cb, d);
	d->end_timer = evtimer_new(daemon_ctx.base, dst_end_timeout_cb, d);
	evtimer_add(d->expiry, &tv);
	m->dst = d;
	if (dev->guest_memory_size > 0) {
		m->dirty_page_size = dev->guest_page_size;
		m->dirty_union_pages = dev->guest_memory_size / dev->guest_page_size;
		m->dirty_union = xcalloc(1, MIG_BITMAP_RAW_LEN(m->dirty_union_pages));
	}
	*out = m;
	hook_fire("prepare", m);
	return MIG_OK;
}

/* Throughput and a progress event, at most every DST_PROGRESS_MS. */
static void
dst_progress(struct dest_engine *d)
{
	struct migration *m = d->m;
	uint64_t now = mono_ns();

	if (now - d->last_progress_ns < DST_PROGRESS_MS * 1000000ull)
		return;
	if (d->last_progress_ns != 0)
		m->throughput_bps = rate_clamp_u64((double)(m->bytes_transferred -
		    d->last_sample_bytes) * 8e9 / (double)(now - d->last_progress_ns));
	d->last_sample_bytes = m->bytes_transferred;
	d->last_progress_ns = now;
	events_migration_progress(m);
}

static void dst_initial_loaded(struct dest_engine *d, uint64_t seq);

static void dst_try_deferred_end(struct dest_engine *d);

/* On the device's thread: the payload into the device, then the record
 * to it when the payload ends one (*out 1 when that step failed). */
static int
dst_op_write(struct mig_device *dev, void *arg, uint64_t *out)
{
	struct dst_write *w = arg;
	struct evbuffer_iovec v[16];
	size_t done;
	int n, i, rc;

	while (evbuffer_get_length(w->buf) > 0) {
		n = evbuffer_peek(w->buf, -1, NULL, v, 16);
		for (i = 0, done = 0; i < n && i < 16; i++) {
			if ((rc = dev->ops->resume_write(dev, v[i].iov_base, v[i].iov_len)) != 0)
				return rc;
			done += v[i].iov_len;
		}
		evbuffer_drain(w->buf, done);
	}
	if (w->commit && (rc = dev->ops->resume_commit(dev)) != 0) {
		*out = 1;
		return rc;
	}
	return 0;
}

static void
dst_write_free(void *arg)
{
	struct dst_write *w = arg;

	evbuffer_free(w->buf);
	free(w);
}

/* Reading paused for the device's sake, and it has caught up: read on
 * (the channels paused because frames are held ahead stay paused). */
static void
dst_writes_resume(struct dest_engine *d)
{
	unsigned i;

	if (!d->write_paused || d->wq_bytes > DST_WRITES_MAX / 2)
		return;
	d->write_paused = 0;
	for (i = 0; i < d->nch; i++)
		if (d->ch[i].c != NULL && !d->ch[i].paused)
			peer_resume_read(d->ch[i].c);
}

/* A payload is in the device (or was refused). */
static void
dst_written(void *ctx, int rc, uint64_t out)
{
	struct dst_write *w = ctx;
	struct dest_engine *d = w->d;

	if (d == NULL)
		return; /* dropped: the migration failed meanwhile */
	d->wq = w->next;
	if (d->wq == NULL)
		d->wq_tail = &d->wq;
	d->wq_bytes -= w->len;
	if (rc != 0) {
		if (out)
			dst_fail(d, device_error_code(d->dev, MIG_E_DEVICE_IO),
			    "device %s refused record ending at chunk %llu: %s", d->dev->name,
			    (unsigned long long)w->seq, strerror(-rc));
		else
			dst_fail(d, device_error_code(d->dev, MIG_E_DEVICE_IO),
			    "device %s refused data chunk %llu: %s", d->dev->name,
			    (unsigned long long)w->seq, strerror(-rc));
		return;
	}
	if (w->commit)
		d->m->records_applied++;
	if (w->initial)
		dst_initial_loaded(d, w->seq);
	dst_writes_resume(d);
	dst_try_deferred_end(d);
}

/* A packed DATA payload (a zero run, or zstd) unpacked into buf and
 * hashed, its length checked before anything is: 0, or -1 once the
 * migration fails (nothing of the chunk reaches the device). */
static int
dst_unpack(struct dest_engine *d, const struct mig_data *dt, struct evbuffer *in,
    struct evbuffer *buf)
{
	const uint8_t *payload = in != NULL ? evbuffer_pullup(in, dt->payload_len) : dt->payload;
	struct evbuffer_iovec v;
	struct mig_packed pk;
	char why[160];

	if (!(d->caps & MIG_CAP_COMPRESSION)) {
		dst_fail(d, MIG_E_UNEXPECTED_FRAME, "DATA %llu is packed, but compression was not "
		    "agreed", (unsigned long long)dt->seq);
		return -1;
	}
	if (payload == NULL || mig_data_packed_decode(dt->flags, payload, dt->payload_len, &pk) !=
	    MIG_OK) {
		dst_fail(d, MIG_E_MALFORMED, "DATA %llu: a packed chunk of no length, or above %u "
		    "bytes", (unsigned long long)dt->seq, MIG_MAX_CHUNK);
		return -1;
	}
	if (evbuffer_reserve_space(buf, pk.raw_len, &v, 1) < 1) {
		dst_fail(d, MIG_E_NOMEM, "no memory for a chunk of %u bytes", pk.raw_len);
		return -1;
	}
	if (dt->flags & MIG_DATA_ZERO)
		memset(v.iov_base, 0, pk.raw_len);
	else if (compress_unpack(d->zctx, v.iov_base, pk.raw_len, pk.body, pk.body_len, why,
	    sizeof(why)) != 0) {
		dst_fail(d, MIG_E_BAD_COMPRESSED, "DATA %llu: %s; nothing of it was written",
		    (unsigned long long)dt->seq, why);
		return -1;
	}
	mig_digest_update(&d->digest, v.iov_base, pk.raw_len);
	v.iov_len = pk.raw_len;
	evbuffer_commit_space(buf, &v, 1);
	return 0;
}

/* A DATA frame: its payload is dt->payload, or the front of `in` (then
 * it is taken from there). Hashed here; written by the device's thread,
 * in order, while the next frames come in. */
static void
dst_apply_data(struct dest_engine *d, const struct mig_data *dt, struct evbuffer *in)
{
	struct migration *m = d->m;
	struct evbuffer_iovec v[16];
	struct evbuffer_ptr pos;
	size_t left = dt->payload_len, take;
	struct evbuffer *buf;
	struct dst_write *w;
	unsigned i;
	int n, k;

	if (dt->phase == MIG_PHASE_STOPCOPY && m->phase == PHASE_PRECOPY) {
		d->first_stopcopy_ns = mono_ns();
		migration_set_phase(m, PHASE_STOPCOPY);
	} else if (dt->phase == MIG_PHASE_PRECOPY && m->phase == PHASE_STOPCOPY) {
		dst_fail(d, MIG_E_UNEXPECTED_FRAME, "pre-copy data after stop-copy data");
		return;
	}
	if ((dt->flags & MIG_DATA_INITIAL_DONE) &&
	    (!(d->caps & MIG_CAP_SWITCHOVER_ACK) || d->initial_done)) {
		dst_fail(d, MIG_E_UNEXPECTED_FRAME, "DATA %llu marks the end of the initial data %s",
		    (unsigned long long)dt->seq,
		    d->initial_done ? "a second time" : "without the switchover acknowledgement agreed");
		return;
	}
	buf = evbuffer_new();
	if ((dt->flags & MIG_DATA_PACKED) && dst_unpack(d, dt, in, buf) != 0) {
		evbuffer_free(buf);
		return;
	}
	w = xcalloc(1, sizeof(*w));
	w->d = d;
	w->buf = buf;
	w->len = (dt->flags & MIG_DATA_PACKED) ? evbuffer_get_length(buf) : dt->payload_len;
	w->seq = dt->seq;
	w->commit = (dt->flags & MIG_DATA_END_OF_RECORD) != 0;
	w->initial = (dt->flags & MIG_DATA_INITIAL_DONE) != 0;
	if (w->initial)
		d->initial_done = 1; /* acknowledged once it is in */
	if (dt->flags & MIG_DATA_PACKED) {
		/* hashed as it was unpacked */
	} else if (in == NULL) {
		mig_digest_update(&d->digest, dt->payload, left);
		evbuffer_add(w->buf, dt->payload, left);
	} else {
		evbuffer_ptr_set(in, &pos, 0, EVBUFFER_PTR_SET);
		while (left > 0) {
			n = evbuffer_peek(in, (ev_ssize_t)left, &pos, v, 16);
			for (k = 0; k < n && k < 16 && left > 0; k++) {
				take = v[k].iov_len < left ? v[k].iov_len : left;
				mig_digest_update(&d->digest, v[k].iov_base, take);
				left -= take;
				evbuffer_ptr_set(in, &pos, take, EVBUFFER_PTR_ADD);
			}
		}
		/* Taken, not copied: peer.c drains only what is left. */
		evbuffer_remove_buffer(in, w->buf, dt->payload_len);
	}
	*d->wq_tail = w;
	d->wq_tail = &w->next;
	d->wq_bytes += w->len;
	w->call = device_call(d->dev->worker, dst_op_write, w, dst_write_free, dst_written, w);
	if (d->wq_bytes > DST_WRITES_MAX && !d->write_paused) {
		d->write_paused = 1;
		for (i = 0; i < d->nch; i++)
			if (d->ch[i].c != NULL)
				peer_pause_read(d->ch[i].c);
	}
	/* The initial data's mark may come alone, between records. */
	if (dt->payload_len > 0 || !(dt->flags & MIG_DATA_INITIAL_DONE))
		d->partial_record = 1;
	dst_progress(d);
	d->total_bytes += w->len;
	d->total_chunks++;
	m->bytes_transferred += w->len;
	m->wire_bytes += dt->payload_len;
	if (w->commit)
		d->partial_record = 0;
}

/* Every frame up to seq, the end of the device's initial data, is in the
 * device: the source may switch over (PROTOCOL.md §2.7). */
static void
dst_initial_loaded(struct dest_engine *d, uint64_t seq)
{
	uint8_t buf[MIG_FRAME_HEADER_LEN + 8];

	d->initial_done = 1;
	log_info("migration %s: the device's initial data is loaded (up to DATA %llu): "
		 "acknowledging the switchover",
	    d->m->id_str, (unsigned long long)seq);
	if (d->c != NULL)
		peer_send(d->c, buf, mig_encode_switchover_ack(buf, sizeof(buf), seq));
}

static void
dst_apply_bitmap(struct dest_engine *d, const struct mig_bitmap *bm)
{
	struct migration *m = d->m;
	struct mig_device *dev = d->dev;
	struct mig_bitmap_iter it;
	uint64_t page, pfn, k = 0;

	if (!(d->caps & MIG_CAP_BITMAP) || m->dirty_union == NULL) {
		dst_fail(d, MIG_E_UNEXPECTED_FRAME, "dirty bitmap, but none was agreed");
		return;
	}
	if (bm->page_size != m->dirty_page_size || bm->start_pfn > m->dirty_union_pages ||
	    bm->page_count > m->dirty_union_pages - bm->start_pfn) {
		dst_fail(d, MIG_E_MALFORMED,
		    "dirty bitmap [%llu, +%u) of %u-byte pages is outside guest memory (%llu pages "
		    "of %u)",
		    (unsigned long long)bm->start_pfn, bm->page_count, bm->page_size,
		    (unsigned long long)m->dirty_union_pages, m->dirty_page_size);
		return;
	}
	if (bm->contents != NULL && !(d->caps & MIG_CAP_PAGE_CONTENTS)) {
		dst_fail(d, MIG_E_UNEXPECTED_FRAME, "page contents, but none were agreed");
		return;
	}
	mig_bitmap_iter_init(&it, bm->encoding, bm->encoded, bm->encoded_len, bm->page_count);
	while (mig_bitmap_iter_next(&it, &page)) {
		pfn = bm->start_pfn + page;
		if (bm->contents != NULL)
			memcpy(dev->guest_memory + pfn * bm->page_size,
			    bm->contents + (k++) * bm->page_size, bm->page_size);
		if (!(m->dirty_union[pfn / 8] & (1u << (pfn % 8)))) {
			m->dirty_union[pfn / 8] |= (uint8_t)(1u << (pfn % 8));
			m->dirty_pages++;
		}
	}
	if (bm->contents != NULL)
		mig_digest_update(&d->digest, bm->contents, bm->contents_len);
	d->total_pages += bm->dirty_count;
	m->bytes_transferred += bm->contents_len;
	m->wire_bytes += bm->contents_len;
}

static int
dst_op_resume_end(struct mig_device *dev, void *arg, uint64_t *out)
{
	(void)arg;
	(void)out;
	/* A handed-over device whose VMM starts it with its vCPUs: loaded
	 * (RESUMING -> STOP is where a driver checks the image) and left so. */
	if (dev->final_stopped && dev->ops->resume_stop != NULL)
		return dev->ops->resume_stop(dev);
	return dev->ops->resume_end(dev);
}

/* One of several devices: loaded and out of RESUMING, not run before all
 * the others are loaded too (group.c). A backend without resume_stop runs
 * it here (only a migration allowed with unsafe_no_p2p has one). */
static int
dst_op_resume_leave(struct mig_device *dev, void *arg, uint64_t *out)
{
	(void)arg;
	(void)out;
	if (dev->ops->resume_stop != NULL)
		return dev->ops->resume_stop(dev);
	return dev->ops->resume_end(dev);
}

static void dst_loaded(void *ctx, int rc, uint64_t out);

static void
dst_on_end(struct dest_engine *d, const struct mig_end *e)
{
	struct migration *m = d->m;
	uint8_t digest[MIG_END_DIGEST_LEN];
	uint64_t t0 = mono_ns();

	if (d->first_stopcopy_ns == 0)
		d->first_stopcopy_ns = t0;
	m->verification = "failed"; /* unless it checks out below */
	if (d->partial_record) {
		dst_fail(d, MIG_E_LENGTH_MISMATCH, "END in the middle of a device data record");
		return;
	}
	if (e->total_bytes != d->total_bytes || e->total_chunks != d->total_chunks ||
	    e->total_pages != d->total_pages) {
		dst_fail(d, MIG_E_LENGTH_MISMATCH,
		    "END announces %llu bytes in %llu chunks and %llu pages; received %llu bytes "
		    "in %llu chunks and %llu pages",
		    (unsigned long long)e->total_bytes, (unsigned long long)e->total_chunks,
		    (unsigned long long)e->total_pages, (unsigned long long)d->total_bytes,
		    (unsigned long long)d->total_chunks, (unsigned long long)d->total_pages);
		return;
	}
	mig_digest_final(&d->digest, digest);
	if (CRYPTO_memcmp(digest, e->digest, sizeof(digest)) != 0) {
		dst_fail(d, MIG_E_DIGEST_MISMATCH, "%s of the %llu bytes received differs from the "
		    "source's", m->digest, (unsigned long long)d->total_bytes);
		return;
	}
	m->verification = "verified";
	if (m->phase == PHASE_PRECOPY)
		migration_set_phase(m, PHASE_STOPCOPY);
	if (dst_set_state(d, DST_LOADING) != 0) {
		dst_fail(d, MIG_E_INTERNAL, "destination engine: cannot load the state");
		return;
	}
	/* Loading may take long (mlx5 checks the whole image on the way
	 * out of RESUMING): the device's thread does it. */
	d->end_ns = t0;
	d->dev_call = device_call(d->dev->worker,
	    m->parent != NULL ? dst_op_resume_leave : dst_op_resume_end, NULL, NULL, dst_loaded, d);
}

/* The device runs the received state (or is left stopped for its VMM):
 * the downtime ends, COMMIT's figures are set, and the engine is on its
 * way to COMMIT (sent once the journal has it). 0, or -1 (refused arc). */
static int
dst_ready_to_commit(struct dest_engine *d)
{
	struct migration *m = d->m;

	m->downtime_ms = mono_ms_since(d->first_stopcopy_ns);
	memset(&d->commit, 0, sizeof(d->commit));
	d->commit.bytes_received = d->total_bytes;
	d->commit.resume_ms = (uint32_t)((mono_ns() - d->end_ns) / 1000000u);
	m->pending_bytes = 0;
	return dst_set_state(d, DST_COMMITTING);
}

/* What the device was left in, for the log. */
static const char *
dst_left_in(const struct dest_engine *d)
{
	return d->dev->final_stopped && d->dev->ops->resume_stop != NULL
	    ? "left stopped for its VMM to start" : "running";
}

/* The device runs the received state, or refused to. */
static void
dst_loaded(void *ctx, int rc, uint64_t out)
{
	struct dest_engine *d = ctx;
	struct migration *m = d->m;

	(void)out;
	d->dev_call = NULL;
	if (d->st != DST_LOADING)
		return;
	if (rc != 0) {
		dst_fail(d, device_error_code(d->dev, MIG_E_DEVICE_STATE),
		    "device %s refused to run the received state: %s", d->dev->name, strerror(-rc));
		return;
	}
	if (m->parent != NULL) {
		/* Loaded; it runs once every device of the migration is. */
		log_info("migration %s: device %s verified (%llu bytes) and loaded; waiting for "
			 "the migration's other devices",
		    m->id_str, d->dev->name, (unsigned long long)d->total_bytes);
		if (dst_set_state(d, DST_LOADED) == 0)
			migration_child_step(m);
		return;
	}
	(void)dst_ready_to_commit(d);
	hook_fire("resumed", m);
	log_info("migration %s: device %s verified (%llu bytes, %s match) and %s",
	    m->id_str, d->dev->name, (unsigned long long)d->total_bytes, m->digest,
	    dst_left_in(d));
	/* "COMMIT sent" must be on disk before COMMIT leaves (a restart then
	 * keeps the device running). The write runs on a thread: a slow disk
	 * holds up this migration's COMMIT, not the event loop and with it
	 * every other migration. */
	migration_set_phase(m, PHASE_COMPLETING);
	if (journal_write_durable_async(m, dst_commit_durable) != 0)
		dst_commit_durable(m, journal_write(m, 1) == 0);
}

/* The journal has "completing" on disk: COMMIT may go. */
static void
dst_send_commit(struct dest_engine *d)
{
	uint8_t buf[MIG_FRAME_HEADER_LEN + 16];

	if (d->st != DST_COMMITTING || d->c == NULL)
		return;
	peer_send(d->c, buf, mig_encode_commit(buf, sizeof(buf), &d->commit));
	(void)dst_set_state(d, DST_COMMITTED);
}

static void
dst_commit_durable(struct migration *m, int ok)
{
	struct dest_engine *d = m->dst;

	if (d == NULL || d->st != DST_COMMITTING)
		return;
	if (!ok) {
		/* A restart would reset the device while the source, told
		 * COMMIT, had stopped for good: do not send it. */
		dst_fail(d, MIG_E_INTERNAL, "the journal in state_dir could not record the "
					    "commit (see the log); device reset, the source rolls back");
		return;
	}
	dst_send_commit(d);
}

static void dst_on_frame(void *arg, struct peer_conn *c, const struct mig_frame *f);

/* END arrived ahead of frames still on their way over other channels:
 * process it once they are in. */
static void
dst_try_deferred_end(struct dest_engine *d)
{
	if (!d->end_deferred || d->st != DST_RECEIVING || d->held != NULL || d->wq != NULL ||
	    d->total_chunks != d->end.total_chunks || d->total_pages != d->end.total_pages)
		return;
	d->end_deferred = 0;
	evtimer_del(d->end_timer);
	dst_on_end(d, &d->end);
}

static void
dst_end_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dest_engine *d = arg;

	if (d->end_deferred)
		dst_fail(d, MIG_E_LENGTH_MISMATCH,
		    "END announced %llu chunks and %llu pages; only %llu and %llu arrived",
		    (unsigned long long)d->end.total_chunks, (unsigned long long)d->end.total_pages,
		    (unsigned long long)d->total_chunks, (unsigned long long)d->total_pages);
}

/* Apply held frames whose turn has come; let paused channels read again. */
static void
dst_apply_held(struct dest_engine *d)
{
	struct mig_frame_header hdr;
	struct mig_frame f;
	struct dst_held *h;
	unsigned i;

	while ((h = d->held) != NULL && h->seq == d->seq && d->st == DST_RECEIVING) {
		d->held = h->next;
		d->held_bytes -= h->len;
		if (mig_frame_header_decode(h->frame, &hdr) != MIG_OK ||
		    mig_frame_payload_decode(&hdr, h->frame + MIG_FRAME_HEADER_LEN, &f) != MIG_OK) {
			free(h->frame);
			free(h);
			dst_fail(d, MIG_E_INTERNAL, "a held frame no longer decodes");
			return;
		}
		d->seq++;
		if (hdr.type == MIG_FRAME_DATA)
			dst_apply_data(d, &f.u.data, NULL);
		else
			dst_apply_bitmap(d, &f.u.bitmap);
		free(h->frame);
		free(h);
	}
	if (d->held_bytes <= DST_HELD_MAX / 2)
		for (i = 0; i < d->nch; i++)
			if (d->ch[i].paused && d->ch[i].c != NULL) {
				d->ch[i].paused = 0;
				if (!d->write_paused) /* else dst_writes_resume will */
					peer_resume_read(d->ch[i].c);
			}
	dst_try_deferred_end(d);
}

/* Keep a frame that is ahead of its turn (several channels only). */
static void
dst_hold(struct dest_engine *d, struct dst_channel *ch, uint64_t seq, uint8_t *frame,
    size_t len)
{
	struct dst_held *h = xcalloc(1, sizeof(*h)), **pp;

	h->seq = seq;
	h->frame = frame;
	h->len = len;
	for (pp = &d->held; *pp != NULL && (*pp)->seq < seq; pp = &(*pp)->next)
		;
	if (*pp != NULL && (*pp)->seq == seq) {
		free(frame);
		free(h);
		dst_fail(d, MIG_E_BAD_SEQUENCE, "chunk %llu arrived twice", (unsigned long long)seq);
		return;
	}
	h->next = *pp;
	*pp = h;
	d->held_bytes += len;
	if (d->held_bytes > DST_HELD_MAX && !ch->paused) {
		/* This channel is ahead; the one carrying d->seq is not paused. */
		ch->paused = 1;
		peer_pause_read(ch->c);
	}
}

/* Is a DATA/BITMAP frame with this seq to be applied now (1), held (0),
 * or refused (-1, migration failed)? */
static int
dst_check_seq(struct dest_engine *d, uint64_t seq)
{
	if (seq == d->seq)
		return 1;
	if (seq > d->seq && d->nch > 1)
		return 0;
	dst_fail(d, MIG_E_BAD_SEQUENCE, "chunk %llu arrived, %llu expected",
	    (unsigned long long)seq, (unsigned long long)d->seq);
	return -1;
}

static void
dst_hold_bitmap(struct dest_engine *d, struct dst_channel *ch, const struct mig_bitmap *bm)
{
	size_t cap = MIG_FRAME_HEADER_LEN + 64 + bm->encoded_len + bm->contents_len;
	uint8_t *buf = xcalloc(1, cap);
	size_t n = mig_encode_bitmap(buf, cap, bm);

	if (n == 0) {
		free(buf);
		dst_fail(d, MIG_E_INTERNAL, "cannot keep bitmap frame %llu",
		    (unsigned long long)bm->seq);
		return;
	}
	dst_hold(d, ch, bm->seq, buf, n);
}

static void
dst_on_frame(void *arg, struct peer_conn *c, const struct mig_frame *f)
{
	struct dst_channel *ch = arg;
	struct dest_engine *d = ch->d;
	struct migration *m = d->m;
	int rc;

	switch (f->hdr.type) {
	case MIG_FRAME_DATA:
	case MIG_FRAME_BITMAP:
		if (d->st != DST_RECEIVING)
			break;
		rc = dst_check_seq(d, f->hdr.type == MIG_FRAME_DATA ? f->u.data.seq
								     : f->u.bitmap.seq);
		if (rc < 0)
			return;
		if (rc == 0) {
			if (f->hdr.type == MIG_FRAME_BITMAP) {
				dst_hold_bitmap(d, ch, &f->u.bitmap);
			} else {
				uint8_t *buf = xmalloc(MIG_DATA_PREFIX_LEN + f->u.data.payload_len);

				mig_encode_data_prefix(buf, f->u.data.seq, f->u.data.phase,
				    f->u.data.flags, f->u.data.payload_len);
				memcpy(buf + MIG_DATA_PREFIX_LEN, f->u.data.payload,
				    f->u.data.payload_len);
				dst_hold(d, ch, f->u.data.seq, buf,
				    MIG_DATA_PREFIX_LEN + f->u.data.payload_len);
			}
			return;
		}
		d->seq++;
		if (f->hdr.type == MIG_FRAME_DATA)
			dst_apply_data(d, &f->u.data, NULL);
		else
			dst_apply_bitmap(d, &f->u.bitmap);
		dst_apply_held(d);
		return;
	case MIG_FRAME_END:
		if (d->st != DST_RECEIVING || ch->idx != 0 || d->end_deferred)
			break;
		/* END is processed once every frame before it is in the device:
		 * frames still on their way over other channels (bounded by
		 * the timer), writes still on the device's thread. */
		d->end = f->u.end;
		d->end_deferred = 1;
		if (d->nch > 1 && (d->held != NULL || d->total_chunks != f->u.end.total_chunks ||
		    d->total_pages != f->u.end.total_pages)) {
			struct timeval tv = {daemon_ctx.cfg->daemon.peer_timeout_ms / 1000,
				(daemon_ctx.cfg->daemon.peer_timeout_ms % 1000) * 1000};

			evtimer_add(d->end_timer, &tv);
		}
		dst_try_deferred_end(d);
		return;
	case MIG_FRAME_ACK:
		if (d->st != DST_COMMITTED || ch->idx != 0)
			break;
		(void)dst_set_state(d, DST_DONE);
		dst_close_channels(d, 0, NULL);
		log_info("migration %s: source acknowledged; completed", m->id_str);
		migration_set_phase(m, PHASE_COMPLETED);
		return;
	case MIG_FRAME_ERROR: {
		int code = mig_err_known((int)f->u.error.code) ? (int)f->u.error.code
							       : MIG_E_PEER_ERROR;
		char msg[MIG_ERROR_MSG_MAX + 1];

		snprintf(msg, sizeof(msg), "%.*s", (int)f->u.error.message.len,
		    f->u.error.message.ptr);
		ch->c = NULL;
		if (ch->idx == 0)
			d->c = NULL;
		peer_close(c);
		if (d->st == DST_COMMITTED) {
			(void)dst_set_state(d, DST_DONE);
			dst_close_channels(d, 0, NULL);
			migration_fail(m, code,
			    "source reported %s after COMMIT: %s; the device here runs the "
			    "migrated state",
			    mig_err_name(code), msg);
			return;
		}
		dst_fail(d, code, "source reported %s: %s", mig_err_name(code), msg);
		return;
	}
	default:
		break;
	}
	dst_fail(d, MIG_E_UNEXPECTED_FRAME, "unexpected %s frame from the source",
	    mig_frame_type_name(f->hdr.type));
}

/* DATA with its payload still in the input buffer (peer.h on_data). */
static void
dst_on_data(void *arg, struct peer_conn *c, const struct mig_data *dt, struct evbuffer *in)
{
	struct dst_channel *ch = arg;
	struct dest_engine *d = ch->d;
	uint8_t *buf;
	int rc;

	if (d->st != DST_RECEIVING) {
		dst_fail(d, MIG_E_UNEXPECTED_FRAME, "unexpected DATA frame from the source");
		return;
	}
	if ((rc = dst_check_seq(d, dt->seq)) < 0)
		return;
	if (rc == 0) {
		buf = xmalloc(MIG_DATA_PREFIX_LEN + dt->payload_len);
		mig_encode_data_prefix(buf, dt->seq, dt->phase, dt->flags, dt->payload_len);
		evbuffer_copyout(in, buf + MIG_DATA_PREFIX_LEN, dt->payload_len);
		dst_hold(d, ch, dt->seq, buf, MIG_DATA_PREFIX_LEN + dt->payload_len);
		return;
	}
	d->seq++;
	dst_apply_data(d, dt, in);
	dst_apply_held(d);
}

static void
dst_on_closed(void *arg, struct peer_conn *c, int code, const char *msg)
{
	struct dst_channel *ch = arg;
	struct dest_engine *d = ch->d;
	struct migration *m = d->m;

	ch->c = NULL;
	if (ch->idx == 0)
		d->c = NULL;
	/* A source that has COMMIT closes every channel after its ACK, which
	 * travels on channel 0: another channel's end may come first. */
	if (d->st == DST_COMMITTED && ch->idx != 0)
		return;
	if (d->st == DST_COMMITTED && m->parent != NULL) {
		/* One device of several: the source acknowledging COMMIT on
		 * another device's connection tells that it had it. */
		log_warnx("migration %s: device %s: %s after COMMIT was sent; waiting for the "
			  "source's acknowledgement on the migration's other devices' connections",
		    m->id_str, d->dev->name, msg);
		dst_close_channels(d, 0, NULL);
		d->orphaned = 1;
		d->orphan_code = code;
		snprintf(d->orphan_msg, sizeof(d->orphan_msg), "%s", msg);
		migration_child_step(m);
		return;
	}
	if (d->st == DST_COMMITTED) {
		/* The device runs here; the source may not know. Say so loudly. */
		(void)dst_set_state(d, DST_DONE);
		dst_close_channels(d, 0, NULL);
		migration_fail(m, code,
		    "%s after COMMIT was sent: the device here runs the migrated state, but the "
		    "source may have rolled back and be running too; check the source",
		    msg);
		return;
	}
	dst_fail(d, code, "%s", msg);
}

/* MIG_CAP_ECHO: answer the source's probe once everything sent before it
 * has been taken in, so that it can time the whole pipe (source.c). */
static void
dst_on_keepalive(void *arg, struct peer_conn *c, uint64_t nonce)
{
	struct dst_channel *ch = arg;

	/* A source that sends probes and never reads gets no more answers
	 * once they pile up: our memory is not its to fill. */
	if ((ch->d->caps & MIG_CAP_ECHO) && peer_output_length(c) < DST_ECHO_BACKLOG_MAX)
		peer_send_keepalive(c, nonce);
}

static const struct peer_handler dst_handler = {
	.on_frame = dst_on_frame,
	.on_data = dst_on_data,
	.on_keepalive = dst_on_keepalive,
	.on_closed = dst_on_closed,
};

static int
str_eq(const struct mig_str *s, const char *c)
{
	return strlen(c) == s->len && memcmp(s->ptr, c, s->len) == 0;
}

static void
dst_send_hello_ack(struct dest_engine *d, struct peer_conn *c)
{
	uint8_t buf[MIG_FRAME_HEADER_LEN + 64 + MIG_IDENTITY_MAX];
	struct mig_hello_ack ack;

	memset(&ack, 0, sizeof(ack));
	ack.version = MIG_PROTO_VERSION;
	memcpy(ack.migration_id, d->m->id, MIG_UUID_LEN);
	ack.capabilities = d->caps;
	ack.identity.ptr = d->dev->identity;
	ack.identity.len = (uint16_t)strlen(d->dev->identity);
	peer_send(c, buf, mig_encode_hello_ack(buf, sizeof(buf), &ack));
}

/* HELLO for channel 1.. of a migration whose channel 0 was accepted: the
 * same token, the same source migration, a channel not taken yet. */
static void
dst_join_channel(struct peer_conn *c, const struct mig_hello *h, struct mig_device *dev)
{
	struct migration *m;
	struct dest_engine *d;

	for (m = migration_first(); m != NULL; m = m->next) {
		d = m->dst;
		if (d == NULL || d->st != DST_RECEIVING || m->device != dev ||
		    d->join_token[0] == '\0' || h->token.len != strlen(d->join_token) ||
		    memcmp(m->peer_id, h->migration_id, MIG_UUID_LEN) != 0 ||
		    CRYPTO_memcmp(d->join_token, h->token.ptr, h->token.len) != 0)
			continue;
		if (h->channels != d->nch || h->channel >= d->nch || d->ch[h->channel].c != NULL) {
			peer_abort(c, MIG_E_UNEXPECTED_FRAME, "channel already joined or out of range");
			return;
		}
		d->ch[h->channel].c = c;
		if (++d->joined == d->nch)
			OPENSSL_cleanse(d->join_token, sizeof(d->join_token));
		peer_set_handler(c, &dst_handler, &d->ch[h->channel], 0);
		dst_send_hello_ack(d, c);
		log_info("migration %s: channel %u of %u joined", m->id_str, h->channel, d->nch);
		return;
	}
	peer_abort(c, MIG_E_BAD_TOKEN, "no migration to join with this token and id");
}

/* END's digest: the first of ours that the source offers (a HELLO with
 * no digest bit offers SHA-256 only). 0, or -1 once refused. */
static int
dst_choose_digest(struct dest_engine *d, struct peer_conn *c, uint64_t offered)
{
	const struct mig_config *cfg = daemon_ctx.cfg;
	char msg[160];
	size_t i;
	int id;

	if ((offered & MIG_CAP_DIGESTS) == 0)
		offered |= MIG_CAP_DIGEST_SHA256;
	for (i = 0; i < cfg->migration.ndigests; i++) {
		id = cfg->migration.digests[i];
		if (!(offered & mig_cap_digest(id)))
			continue;
		if (mig_digest_init(&d->digest, (enum mig_digest_id)id) != 0) {
			peer_abort(c, MIG_E_NOMEM, "no memory for a digest state");
			dst_fail(d, MIG_E_NOMEM, "no memory for the %s state", mig_digest_name(id));
			return -1;
		}
		d->m->digest = mig_digest_name(id);
		log_info("migration %s: END digest %s", d->m->id_str, d->m->digest);
		return 0;
	}
	snprintf(msg, sizeof(msg),
	    "the source offers END digests %s%s%s; [migration] digest here accepts none of them",
	    (offered & MIG_CAP_DIGEST_XXH3_128) ? "xxh3-128" : "",
	    (offered & MIG_CAP_DIGEST_XXH3_128) && (offered & MIG_CAP_DIGEST_SHA256) ? ", " : "",
	    (offered & MIG_CAP_DIGEST_SHA256) ? "sha256" : "");
	peer_abort(c, MIG_E_NO_COMMON_DIGEST, msg);
	dst_fail(d, MIG_E_NO_COMMON_DIGEST, "%s", msg);
	return -1;
}

/* A HELLO on a fresh connection: find whose token it is, check the device,
 * and only then hand the connection to that migration. */
void
dest_on_hello(struct peer_conn *c, const struct mig_frame *f)
{
	const struct mig_hello *h = &f->u.hello;
	char name[MIG_NAME_MAX + 1];
	struct mig_device *dev;
	struct dest_engine *d;
	struct migration *m;
	unsigned i;

	if (h->version_min > MIG_PROTO_VERSION_MAX || h->version_max < MIG_PROTO_VERSION_MIN) {
		peer_abort(c, MIG_E_VERSION_MISMATCH, "no common protocol version (we speak 1..1)");
		return;
	}
	snprintf(name, sizeof(name), "%.*s", (int)h->device.len, h->device.ptr);
	if ((dev = device_find(name)) == NULL) {
		peer_abort(c, MIG_E_UNKNOWN_DEVICE, "no device of that name here");
		return;
	}
	if (h->channel > 0) {
		dst_join_channel(c, h, dev);
		return;
	}
	/* The devices of a migration of several share one token. */
	m = migration_find_by_token(h->token.ptr, h->token.len, dev);
	if (m == NULL) {
		peer_abort(c, MIG_E_BAD_TOKEN, "token not issued for this device (run incoming first)");
		return;
	}
	d = m->dst;
	if (d == NULL || d->st != DST_WAITING || m->token_used) {
		peer_abort(c, MIG_E_TOKEN_EXPIRED, m->token_used ? "token already used" : "token expired");
		return;
	}
	if (time(NULL) > m->token_expires) {
		peer_abort(c, MIG_E_TOKEN_EXPIRED, "token expired");
		dst_fail(d, MIG_E_TOKEN_EXPIRED, "token expired");
		return;
	}
	/* The token is good: from here it is spent, whatever happens (the
	 * source's other channels join with it while this one lives). */
	m->token_used = 1;
	snprintf(d->join_token, sizeof(d->join_token), "%s", m->token);
	memcpy(m->spent_token, m->token, sizeof(m->spent_token));
	m->token[0] = '\0';
	memcpy(m->peer_id, h->migration_id, MIG_UUID_LEN);
	uuid_unparse_lower(m->peer_id, m->peer_id_str);
	snprintf(m->peer, sizeof(m->peer), "%s", peer_name(c));
	m->state_size = h->state_size;
	if (!str_eq(&h->identity, dev->identity) || !str_eq(&h->compat, dev->compat)) {
		char msg[600];

		/* Each name cut at 128 bytes: the message stays whole. */
		snprintf(msg, sizeof(msg), "source device is %.*s (%.*s), this one is %.128s (%.128s)",
		    (int)(h->identity.len < 128 ? h->identity.len : 128), h->identity.ptr,
		    (int)(h->compat.len < 128 ? h->compat.len : 128), h->compat.ptr, dev->identity,
		    dev->compat);
		peer_abort(c, MIG_E_INCOMPATIBLE_DEVICE, msg);
		dst_fail(d, MIG_E_INCOMPATIBLE_DEVICE, "%s", msg);
		return;
	}
	if (h->channels > DST_CHANNELS_MAX) {
		peer_abort(c, MIG_E_DEVICE_UNSUPPORTED, "at most 16 channels per migration");
		dst_fail(d, MIG_E_DEVICE_UNSUPPORTED, "source asked for %u channels", h->channels);
		return;
	}
	if (dst_choose_digest(d, c, h->capabilities) != 0)
		return;
	evtimer_del(d->expiry);
	d->c = c;
	d->caps = (h->capabilities & (MIG_CAP_ECHO | MIG_CAP_SWITCHOVER_ACK)) |
	    (dev->guest_memory_size > 0 ? h->capabilities & MIG_CAP_BITMAP : 0) |
	    /* A handed-over device's guest memory is its VMM's: the pages
	     * travel with the VMM's own migration, the bitmap tells which. */
	    (dev->guest_memory != NULL ? h->capabilities & MIG_CAP_PAGE_CONTENTS : 0);
	/* The chosen digest, named to a source that negotiates it. */
	if (h->capabilities & MIG_CAP_DIGESTS)
		d->caps |= mig_cap_digest(d->digest.id);
	/* Packed DATA is always welcome: unpacking is bounded (compress.h). */
	if ((h->capabilities & MIG_CAP_COMPRESSION) && (d->zctx = compress_new()) != NULL)
		d->caps |= MIG_CAP_COMPRESSION;
	m->compression = (d->caps & MIG_CAP_COMPRESSION) ? "zstd" : "none";
	d->nch = h->channels;
	d->joined = 1;
	for (i = 0; i < d->nch; i++) {
		d->ch[i].d = d;
		d->ch[i].idx = i;
	}
	d->ch[0].c = c;
	if (d->nch == 1)
		OPENSSL_cleanse(d->join_token, sizeof(d->join_token));
	peer_set_handler(c, &dst_handler, &d->ch[0], 0);
	/* Nothing is read until the device is RESUMING. */
	(void)dst_set_state(d, DST_ACCEPTING);
	peer_pause_read(c);
	if (!m->created_durable) {
		/* A busy disk has not made "created" durable yet: the
		 * device waits for it (dst_engine_durable), not the loop. */
		log_info("migration %s: source accepted; the device waits until the journal "
			 "holds the migration",
		    m->id_str);
		return;
	}
	dst_accept(d);
}

static int
dst_op_resume_begin(struct mig_device *dev, void *arg, uint64_t *out)
{
	(void)arg;
	(void)out;
	return dev->ops->resume_begin(dev);
}

static void dst_resuming(void *ctx, int rc, uint64_t out);

/* The HELLO was good and the journal holds the migration: the device's
 * thread puts it in RESUMING. */
static void
dst_accept(struct dest_engine *d)
{
	if (d->dev_touched)
		return;
	d->dev_touched = 1;
	d->dev_call = device_call(d->dev->worker, dst_op_resume_begin, NULL, NULL, dst_resuming, d);
}

/* RESUMING (or refused): the source hears HELLO-ACK. */
static void
dst_resuming(void *ctx, int rc, uint64_t out)
{
	struct dest_engine *d = ctx;
	struct migration *m = d->m;

	(void)out;
	d->dev_call = NULL;
	if (d->st != DST_ACCEPTING)
		return;
	if (rc != 0) {
		dst_fail(d, device_error_code(d->dev, MIG_E_DEVICE_STATE),
		    "device %s refused RESUMING: %s", d->dev->name, strerror(-rc));
		return;
	}
	(void)dst_set_state(d, DST_RECEIVING);
	peer_resume_read(d->c);
	dst_send_hello_ack(d, d->c);
	log_info("migration %s: accepted source %s (its migration %s) for device %s", m->id_str,
	    m->peer, m->peer_id_str, d->dev->name);
	migration_set_phase(m, PHASE_PRECOPY);
}

static void
dst_engine_durable(struct migration *m)
{
	if (m->dst != NULL && m->dst->st == DST_ACCEPTING)
		dst_accept(m->dst);
}

static void
dst_engine_cancel(struct migration *m, int code, const char *why)
{
	if (m->dst != NULL)
		dst_fail(m->dst, code, "%s", why);
}

/* Several devices in one migration (group.c): what it asks of each. */

int
dest_group_step(const struct migration *m)
{
	return m->dst != NULL ? (int)m->dst->st : -1;
}

int
dest_group_connected(const struct migration *m)
{
	return m->dst != NULL && m->dst->c != NULL;
}

static int
dst_op_resume_p2p(struct mig_device *dev, void *arg, uint64_t *out)
{
	(void)arg;
	(void)out;
	/* Its VMM starts it (final_state stopped); or no P2P state
	 * (unsafe_no_p2p): it stays stopped until run. */
	if (dev->final_stopped || dev->ops->resume_p2p == NULL || !dev->p2p)
		return 0;
	return dev->ops->resume_p2p(dev);
}

static void
dst_in_p2p(void *ctx, int rc, uint64_t out)
{
	struct dest_engine *d = ctx;

	(void)out;
	d->dev_call = NULL;
	if (d->st != DST_STARTING_P2P)
		return;
	if (rc != 0) {
		dst_fail(d, device_error_code(d->dev, MIG_E_DEVICE_STATE),
		    "device %s refused RUNNING_P2P: %s", d->dev->name, strerror(-rc));
		return;
	}
	if (dst_set_state(d, DST_P2P) == 0)
		migration_child_step(d->m);
}

void
dest_group_start_p2p(struct migration *m)
{
	struct dest_engine *d = m->dst;

	if (d == NULL || d->st != DST_LOADED || dst_set_state(d, DST_STARTING_P2P) != 0)
		return;
	d->dev_call = device_call(d->dev->worker, dst_op_resume_p2p, NULL, NULL, dst_in_p2p, d);
}

static int
dst_op_run(struct mig_device *dev, void *arg, uint64_t *out)
{
	(void)arg;
	(void)out;
	if (dev->final_stopped && dev->ops->resume_stop != NULL)
		return 0; /* its VMM starts it with its vCPUs */
	return dev->ops->resume_end(dev);
}

static void
dst_group_running(void *ctx, int rc, uint64_t out)
{
	struct dest_engine *d = ctx;
	struct migration *m = d->m;

	(void)out;
	d->dev_call = NULL;
	if (d->st != DST_STARTING)
		return;
	if (rc != 0) {
		dst_fail(d, device_error_code(d->dev, MIG_E_DEVICE_STATE),
		    "device %s refused to run the received state: %s", d->dev->name, strerror(-rc));
		return;
	}
	log_info("migration %s: device %s %s", m->id_str, d->dev->name, dst_left_in(d));
	if (dst_ready_to_commit(d) != 0)
		return;
	/* The migration makes every record durable, then sends COMMIT. */
	migration_set_phase(m, PHASE_COMPLETING);
}

void
dest_group_start(struct migration *m)
{
	struct dest_engine *d = m->dst;

	if (d == NULL || d->st != DST_P2P || dst_set_state(d, DST_STARTING) != 0)
		return;
	d->dev_call = device_call(d->dev->worker, dst_op_run, NULL, NULL, dst_group_running, d);
}

int
dest_group_orphaned(const struct migration *m)
{
	return m->dst != NULL && m->dst->orphaned && m->dst->st == DST_COMMITTED;
}

void
dest_group_acked(struct migration *m, int acked)
{
	struct dest_engine *d = m->dst;

	if (d == NULL || !d->orphaned || d->st != DST_COMMITTED)
		return;
	(void)dst_set_state(d, DST_DONE);
	if (acked) {
		log_info("migration %s: device %s: the source's acknowledgement on another "
			 "device's connection covers it; completed",
		    m->id_str, d->dev->name);
		migration_set_phase(m, PHASE_COMPLETED);
		return;
	}
	/* The device runs here; the source may not know. Say so loudly. */
	migration_fail(m, d->orphan_code,
	    "%s after COMMIT was sent, and no device's connection brought the source's "
	    "acknowledgement: the device here runs the migrated state, but the source may "
	    "have rolled back and be running too; check the source",
	    d->orphan_msg);
}

void
dest_group_commit(struct migration *m)
{
	if (m->dst != NULL)
		dst_send_commit(m->dst);
}
