/*
 * source_send.c: what the source engine puts on the wire: DATA parts, from
 * the device's mapped data section by reference or read straight into the
 * output buffer; dirty-page bitmaps with the pages' contents; and the
 * bandwidth cap as a token bucket; with compression agreed, DATA parts
 * go through source_pack.c first. It never changes the engine's step
 * (source.c does) and never decides when to send: src_pump() asks.
 */
#include "source_engine.h"

#include <errno.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "bitmap.h"
#include "clock.h"
#include "daemon.h"
#include "device.h"
#include "device_worker.h"
#include "errors.h"
#include "log.h"
#include "peer.h"
#include "xmalloc.h"

/* TLS has taken a DATA part sent from the mapped section. */
void
src_lend_release(const void *data, size_t len, void *arg)
{
	struct src_lend *l = arg;

	if (--l->refs > 0)
		return;
	if (l->s == NULL)
		free(l);
	else
		event_active(l->s->lend_back, 0, 0);
}

/* With compression agreed: the part packed when that pays (1), or sent
 * as it is here when it was read into the pack's buffer (1), or left to
 * go by reference from the mapped section (0); -errno. */
static int
src_send_packed_part(struct source_engine *s, struct evbuffer *out, uint32_t len, uint8_t phase,
    uint8_t flags)
{
	uint8_t prefix[MIG_DATA_PREFIX_LEN], *buf;
	const uint8_t *data;
	int rc;

	if (s->mapped != NULL)
		data = s->mapped + s->rec_off;
	else {
		buf = src_pack_buffer(s);
		if ((rc = s->dev->ops->save_read(s->dev, s->rec_off, buf, len)) != 0)
			return rc;
		data = buf;
	}
	if ((rc = src_pack_send(s, out, data, len, phase, flags)) < 0)
		return rc;
	if (rc == 0 && s->mapped != NULL)
		return 0;
	if (rc == 0) {
		if (mig_encode_data_prefix(prefix, s->seq, phase, flags, len) == 0)
			return -EINVAL;
		if (evbuffer_add(out, prefix, sizeof(prefix)) != 0 || evbuffer_add(out, data, len) != 0)
			return -ENOMEM;
		s->m->wire_bytes += len;
	}
	mig_digest_update(&s->digest, data, len);
	return 1;
}

/* DATA: the next part of the current record, by reference to the mapped
 * data section, or read straight into the output buffer behind its frame
 * prefix; hashed where it lies. */
int
src_send_data_part(struct source_engine *s, struct peer_conn *c)
{
	struct evbuffer *out = peer_output(c);
	struct evbuffer_iovec v;
	uint64_t left = s->rec_size - s->rec_off;
	uint32_t len = left > s->m->opt.chunk_size ? s->m->opt.chunk_size : (uint32_t)left;
	/* Under a bandwidth cap, parts as big as the budget allows: a smooth
	 * rate instead of a chunk and then a long wait. */
	if (len > s->budget && s->budget >= SRC_MIN_PART)
		len = (uint32_t)s->budget;
	uint8_t flags = len == left ? MIG_DATA_END_OF_RECORD : 0;
	uint8_t phase = s->st == SRC_STOPCOPY ? MIG_PHASE_STOPCOPY : MIG_PHASE_PRECOPY;
	uint8_t *p, prefix[MIG_DATA_PREFIX_LEN];
	int rc;

	if (s->pack != NULL && (rc = src_send_packed_part(s, out, len, phase, flags)) != 0) {
		if (rc < 0)
			return rc;
		goto sent;
	}
	s->m->wire_bytes += len;
	if (s->mapped != NULL) {
		const uint8_t *data = s->mapped + s->rec_off;

		if (mig_encode_data_prefix(prefix, s->seq, phase, flags, len) == 0)
			return -EINVAL;
		if (evbuffer_add(out, prefix, sizeof(prefix)) != 0)
			return -ENOMEM;
		s->lend->refs++; /* first: the buffer's callbacks run inside */
		if (evbuffer_add_reference(out, data, len, src_lend_release, s->lend) != 0) {
			s->lend->refs--;
			return -ENOMEM;
		}
		mig_digest_update(&s->digest, data, len);
		goto sent;
	}
	if (evbuffer_reserve_space(out, (ev_ssize_t)(MIG_DATA_PREFIX_LEN + len), &v, 1) < 1)
		return -ENOMEM;
	p = v.iov_base;
	if (mig_encode_data_prefix(p, s->seq, phase, flags, len) == 0)
		return -EINVAL;
	if ((rc = s->dev->ops->save_read(s->dev, s->rec_off, p + MIG_DATA_PREFIX_LEN, len)) != 0)
		return rc;
	mig_digest_update(&s->digest, p + MIG_DATA_PREFIX_LEN, len);
	v.iov_len = MIG_DATA_PREFIX_LEN + len;
	evbuffer_commit_space(out, &v, 1);
sent:
	s->seq++;
	s->rec_off += len;
	s->total_bytes += len;
	s->total_chunks++;
	s->pass_bytes += len;
	s->m->bytes_transferred += len;
	if (s->rec_off == s->rec_size)
		s->in_record = 0;
	return 0;
}

int
src_send_initial_done(struct source_engine *s, struct peer_conn *c)
{
	uint8_t prefix[MIG_DATA_PREFIX_LEN];

	if (mig_encode_data_prefix(prefix, s->seq, MIG_PHASE_PRECOPY, MIG_DATA_INITIAL_DONE, 0) ==
	    0)
		return -EINVAL;
	if (evbuffer_add(peer_output(c), prefix, sizeof(prefix)) != 0)
		return -ENOMEM;
	s->initial_done_sent = 1;
	s->initial_done_seq = s->seq++;
	s->total_chunks++;
	log_info("migration %s: the device's initial data is out (DATA %llu marks its end); "
		 "the switchover waits for the destination to load it",
	    s->m->id_str, (unsigned long long)s->initial_done_seq);
	return 0;
}

/* Copy bits [from, from + n) of src into dst starting at bit 0. */
static void
bits_extract(const uint8_t *src, uint64_t from, uint64_t n, uint8_t *dst)
{
	uint64_t i;

	memset(dst, 0, MIG_BITMAP_RAW_LEN(n));
	for (i = 0; i < n; i++) {
		uint64_t b = from + i;

		if (src[b / 8] & (1u << (b % 8)))
			dst[i / 8] |= (uint8_t)(1u << (i % 8));
	}
}

static int
bit_is_set(const uint8_t *raw, uint64_t i)
{
	return (raw[i / 8] >> (i % 8)) & 1;
}

/* A window of the device's dirty bitmap, asked on its thread (a kernel
 * device's DMA logging report is an ioctl into its driver). The call owns
 * it: a forgotten call frees it. */
struct src_bm_query {
	uint64_t base, n, dirty;
	uint8_t raw[];
};

static int
src_op_dirty_bitmap(struct mig_device *dev, void *arg, uint64_t *out)
{
	struct src_bm_query *q = arg;

	*out = 0;
	return dev->ops->dirty_bitmap(dev, q->base, q->n, q->raw, &q->dirty);
}

static void
src_bitmap_window_ready(void *ctx, int rc, uint64_t out)
{
	struct source_engine *s = ctx;
	struct src_bm_query *q = s->bm_call;

	(void)out;
	s->dev_call = NULL;
	s->bm_call = NULL; /* freed by the call, after this */
	if (!src_device_running(s) && s->st != SRC_STOPCOPY)
		return;
	if (rc != 0) {
		src_fail(s, device_error_code(s->dev, MIG_E_DEVICE_IO),
		    "device %s: dirty bitmap: %s", s->dev->name, strerror(-rc));
		return;
	}
	memcpy(s->bm_raw, q->raw, MIG_BITMAP_RAW_LEN(q->n));
	if (q->dirty == 0)
		s->bm_sub = s->bm_n;
	src_pump(s);
}

/* One step of a bitmap pass: ask the device's thread for a window of guest
 * memory (src_pump waits for it), or send the next frame of dirty pages in
 * the current window. Returns 0 or -errno. */
int
src_bitmap_step(struct source_engine *s, struct peer_conn *c)
{
	struct mig_device *dev = s->dev;
	uint32_t ps = dev->guest_page_size;
	uint64_t guest_pages = dev->guest_memory_size / ps;
	uint64_t max_dirty = s->m->opt.chunk_size / ps, a, b, dirty = 0, i, k;
	uint8_t *sub, *contents;
	struct src_bm_query *q;
	struct mig_bitmap bm;
	size_t enclen, n;

	if (max_dirty == 0)
		max_dirty = 1;
	if (s->bm_sub >= s->bm_n) {
		if (s->bm_cursor >= guest_pages) {
			s->bm_active = 0;
			return 0;
		}
		s->bm_base = s->bm_cursor;
		s->bm_n = guest_pages - s->bm_cursor < SRC_BM_WINDOW ? guest_pages - s->bm_cursor
								     : SRC_BM_WINDOW;
		s->bm_cursor += s->bm_n;
		s->bm_sub = 0;
		q = xcalloc(1, sizeof(*q) + MIG_BITMAP_RAW_LEN(SRC_BM_WINDOW));
		q->base = s->bm_base;
		q->n = s->bm_n;
		s->bm_call = q;
		s->dev_call = device_call(dev->worker, src_op_dirty_bitmap, q, free,
		    src_bitmap_window_ready, s);
		return 0;
	}
	for (a = s->bm_sub; a < s->bm_n && !bit_is_set(s->bm_raw, a); a++)
		;
	if (a == s->bm_n) {
		s->bm_sub = a;
		return 0;
	}
	for (b = a; b < s->bm_n && dirty < max_dirty; b++)
		dirty += (uint64_t)bit_is_set(s->bm_raw, b);
	s->bm_sub = b;

	/* The frame's bitmap, shorter encoding first, then the contents. */
	sub = s->bm_frame;
	bits_extract(s->bm_raw, a, b - a, sub);
	memset(&bm, 0, sizeof(bm));
	bm.seq = s->seq;
	bm.start_pfn = s->bm_base + a;
	bm.page_size = ps;
	bm.page_count = (uint32_t)(b - a);
	enclen = mig_bitmap_runs_encode(sub, b - a, s->bm_enc, MIG_BITMAP_RAW_LEN(b - a));
	if (enclen > 0) {
		bm.encoding = MIG_BITMAP_RUNS;
		bm.encoded = s->bm_enc;
		bm.encoded_len = (uint32_t)enclen;
	} else {
		bm.encoding = MIG_BITMAP_RAW;
		bm.encoded = sub;
		bm.encoded_len = (uint32_t)MIG_BITMAP_RAW_LEN(b - a);
	}
	bm.dirty_count = (uint32_t)dirty;
	contents = NULL;
	if (s->caps & MIG_CAP_PAGE_CONTENTS) {
		contents = s->bm_frame + MIG_BITMAP_RAW_LEN(SRC_BM_WINDOW);
		for (i = a, k = 0; i < b; i++)
			if (bit_is_set(s->bm_raw, i))
				memcpy(contents + (k++) * ps, dev->guest_memory + (s->bm_base + i) * ps,
				    ps);
		bm.flags = MIG_BITMAP_HAS_CONTENTS;
		bm.contents = contents;
		bm.contents_len = (uint32_t)(dirty * ps);
	}
	if (contents != NULL)
		mig_digest_update(&s->digest, contents, bm.contents_len);
	n = mig_encode_bitmap(s->bm_frame + s->bm_frame_cap / 2, s->bm_frame_cap / 2, &bm);
	if (n == 0)
		return -EINVAL;
	peer_send(c, s->bm_frame + s->bm_frame_cap / 2, n);
	s->seq++;
	s->total_pages += dirty;
	s->m->dirty_pages += dirty;
	s->m->bytes_transferred += bm.contents_len;
	s->m->wire_bytes += bm.contents_len;
	s->pass_bytes += bm.contents_len + 1;
	return 0;
}

void
src_bitmap_pass_start(struct source_engine *s)
{
	s->bm_active = 1;
	s->bm_cursor = 0;
	s->bm_n = s->bm_sub = 0;
}

int
src_wants_bitmaps(const struct source_engine *s)
{
	return (s->caps & MIG_CAP_BITMAP) && s->dev->guest_memory_size > 0 &&
	    s->dev->ops->dirty_bitmap != NULL;
}

/*
 * The bandwidth cap is a token bucket: it fills at max_bandwidth up to
 * SRC_BURST_MS worth, and whatever is queued for sending takes from it. A
 * stream held back (the drain before the switchover, a slow destination)
 * cannot save up more than that burst and then send it at full speed.
 */
static void
src_bucket_refill(struct source_engine *s)
{
	double cap = (double)s->m->opt.max_bandwidth, burst;
	uint64_t now = mono_ns(), queued = src_bytes_queued(s);

	burst = cap * SRC_BURST_MS / 1000.0;
	if (burst < 4.0 * SRC_MIN_PART)
		burst = 4.0 * SRC_MIN_PART;
	if (s->bucket_ns == 0) {
		s->bucket = burst;
		s->bucket_ns = now;
		s->bucket_seen = queued;
	}
	s->bucket += cap * (double)(now - s->bucket_ns) / 1e9 - (double)(queued - s->bucket_seen);
	if (s->bucket > burst)
		s->bucket = burst;
	s->bucket_ns = now;
	s->bucket_seen = queued;
}

/* Is the bandwidth cap spent for now? Then come back when it is not. */
int
src_throttled(struct source_engine *s)
{
	uint64_t cap = s->m->opt.max_bandwidth;

	s->budget = UINT64_MAX;
	if (cap == 0 || s->precopy_start_ns == 0)
		return 0;
	src_bucket_refill(s);
	if (s->bucket >= (double)SRC_MIN_PART) {
		s->budget = (uint64_t)s->bucket;
		return 0;
	}
	src_schedule_retry(s, (uint64_t)(((double)SRC_MIN_PART - s->bucket) * 1000.0 / (double)cap) + 1);
	return 1;
}
