/*
 * source_pack.c: packing the source's DATA chunks (PROTOCOL.md §1, DATA
 * flags ZERO and ZSTD, with MIG_CAP_COMPRESSION agreed). An all-zero chunk
 * travels as its length; with `compression = zstd` every other chunk is
 * compressed when that makes it smaller; with `auto` only while it pays.
 *
 * Whether it pays: sending a byte as it is costs 1/L (L the pipe's rate,
 * src_rate()); compressing it first costs 1/C on this thread (C the
 * compressor's rate, in this thread's CPU time, so that other processes
 * taking the core do not count as compressing) and then r/L (r the ratio
 * it achieves). The two are counted one after the other, as on a machine
 * whose CPU is the limit (loopback, where compressing must never slow a
 * migration down); on a slow link the compression overlaps the sending
 * and pays even more than counted. While it does not pay, one chunk in SRC_PACK_PROBE is still
 * compressed to follow r and C as the device's contents change.
 *
 * It never touches the device (src_send_data_part() reads it) and never
 * decides what is sent next; it only writes the frame of a chunk it is
 * given.
 */
#include "source_engine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "compress.h"
#include "config_file.h"
#include "log.h"
#include "xmalloc.h"

#define SRC_PACK_PROBE 16     /* auto, while off: one chunk in this many is tried */
#define SRC_PACK_MARGIN 0.9   /* compress when it costs under 90 % of not */
#define SRC_PACK_WEIGHT 0.25  /* of a new sample in the running figures */

struct src_pack {
	struct compress_ctx *z;
	int mode;		/* MIG_COMPRESSION_ZSTD or _AUTO */
	int on;			/* auto: compressing now */
	unsigned since_probe;	/* chunks sent as they are since the last try */
	int measured;
	double ratio;		/* compressed / raw, of the chunks tried */
	double ns_per_byte;	/* compressing, on this thread */
	uint8_t *raw;		/* a chunk of a device whose section is not mapped */
};

int
src_pack_start(struct source_engine *s)
{
	struct src_pack *p;

	if (!(s->caps & MIG_CAP_COMPRESSION)) {
		s->m->compression = "none";
		if (s->m->opt.compression != MIG_COMPRESSION_NONE)
			log_info("migration %s: the destination does not take compressed data: "
				 "compression none",
			    s->m->id_str);
		return 0;
	}
	p = xcalloc(1, sizeof(*p));
	if ((p->z = compress_new()) == NULL) {
		free(p);
		return -ENOMEM;
	}
	p->mode = s->m->opt.compression;
	p->on = p->mode == MIG_COMPRESSION_ZSTD;
	p->since_probe = SRC_PACK_PROBE; /* auto: the first chunk is tried */
	s->pack = p;
	s->m->compression = mig_compression_name(p->mode);
	log_info("migration %s: compression %s (zstd level %d; zero chunks as their length)",
	    s->m->id_str, s->m->compression, COMPRESS_LEVEL);
	return 0;
}

void
src_pack_free(struct source_engine *s)
{
	if (s->pack == NULL)
		return;
	compress_free(s->pack->z);
	free(s->pack->raw);
	free(s->pack);
	s->pack = NULL;
}

/* Allocated once asked for: a mapped section needs none. */
uint8_t *
src_pack_buffer(struct source_engine *s)
{
	if (s->pack->raw == NULL)
		s->pack->raw = xmalloc(s->m->opt.chunk_size);
	return s->pack->raw;
}

static uint64_t
src_pack_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* auto: does compressing pay at the figures measured so far? */
static int
src_pack_pays(struct source_engine *s, struct src_pack *p)
{
	double link = src_rate(s), with, without;

	if (!p->measured || link <= 0)
		return 0;
	without = 1e9 / link;
	with = p->ns_per_byte + p->ratio * 1e9 / link;
	return with < SRC_PACK_MARGIN * without;
}

static void
src_pack_learn(struct source_engine *s, struct src_pack *p, uint32_t len, size_t packed,
    uint64_t ns)
{
	double r = (double)packed / (double)len, c = (double)ns / (double)len;
	int was = p->on;

	if (!p->measured) {
		p->ratio = r;
		p->ns_per_byte = c;
		p->measured = 1;
	} else {
		p->ratio += SRC_PACK_WEIGHT * (r - p->ratio);
		p->ns_per_byte += SRC_PACK_WEIGHT * (c - p->ns_per_byte);
	}
	if (p->mode != MIG_COMPRESSION_AUTO)
		return;
	p->on = src_pack_pays(s, p);
	if (p->on != was)
		log_info("migration %s: compression %s: ratio %.2f, %.0f MiB/s compressing, "
			 "pipe %.0f MiB/s",
		    s->m->id_str, p->on ? "on" : "off", p->ratio, 1e9 / p->ns_per_byte / 1048576.0,
		    src_rate(s) / 1048576.0);
}

static int
src_pack_zero(struct evbuffer *out, uint64_t seq, uint8_t phase, uint8_t flags, uint32_t len)
{
	uint8_t frame[MIG_DATA_PREFIX_LEN + MIG_DATA_RAW_LEN];

	if (mig_encode_data_prefix(frame, seq, phase, flags | MIG_DATA_ZERO, MIG_DATA_RAW_LEN) == 0)
		return -EINVAL;
	mig_data_packed_encode_len(frame + MIG_DATA_PREFIX_LEN, len);
	return evbuffer_add(out, frame, sizeof(frame)) == 0 ? 0 : -ENOMEM;
}

/* The frame of a packed chunk: prefix, the chunk's length, then the body
 * (compress_chunk writes it straight into the output buffer). */
int
src_pack_send(struct source_engine *s, struct evbuffer *out, const uint8_t *data, uint32_t len,
    uint8_t phase, uint8_t flags)
{
	struct src_pack *p = s->pack;
	struct evbuffer_iovec v;
	size_t cap = MIG_DATA_PREFIX_LEN + MIG_DATA_RAW_LEN + compress_bound(len), n;
	uint64_t t0;
	uint8_t *f;

	if (len == 0)
		return 0;
	if (compress_is_zero(data, len)) {
		s->m->wire_bytes += MIG_DATA_RAW_LEN;
		return src_pack_zero(out, s->seq, phase, flags, len) == 0 ? 1 : -ENOMEM;
	}
	if (!p->on && ++p->since_probe < SRC_PACK_PROBE)
		return 0;
	p->since_probe = 0;
	if (evbuffer_reserve_space(out, (ev_ssize_t)cap, &v, 1) < 1)
		return -ENOMEM;
	f = v.iov_base;
	t0 = src_pack_cpu_ns();
	n = compress_chunk(p->z, f + MIG_DATA_PREFIX_LEN + MIG_DATA_RAW_LEN,
	    cap - MIG_DATA_PREFIX_LEN - MIG_DATA_RAW_LEN, data, len);
	src_pack_learn(s, p, len, n > 0 ? n : len, src_pack_cpu_ns() - t0);
	/* No smaller: as it is (the reserved space is given back unused). */
	if (n == 0 || n + MIG_DATA_RAW_LEN >= len)
		return 0;
	if (mig_encode_data_prefix(f, s->seq, phase, flags | MIG_DATA_ZSTD,
		(uint32_t)(MIG_DATA_RAW_LEN + n)) == 0)
		return -EINVAL;
	mig_data_packed_encode_len(f + MIG_DATA_PREFIX_LEN, len);
	v.iov_len = MIG_DATA_PREFIX_LEN + MIG_DATA_RAW_LEN + n;
	evbuffer_commit_space(out, &v, 1);
	s->m->wire_bytes += MIG_DATA_RAW_LEN + n;
	return 1;
}
