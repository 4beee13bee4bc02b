/*
 * sim_v1.c: the software device, a vendor driver of the v1 migration KABI
 * (kabi_v1.h) behind the region interface (region.h).
 *
 * It owns the device state (the image file, mapped shared), the optional
 * guest memory it DMAs into, the dirty tracking of both, the trapped fields
 * of the region and its data section. It never knows who drives it, never
 * logs a refused field access (the driver knows the context), and never
 * applies a record before every byte of it has been checked. The one thing
 * it does log is the released-v1 model catching its driver outside the v1
 * sequence: that is the driver's bug, and the log line names it.
 *
 * Driver models. `lenient` is the device as it was first written: one
 * buffer at a fixed data_offset, a new record on every data_offset read.
 * `released-v1` follows the released interface (include/uapi/linux/vfio.h
 * of Linux 5.8-5.17) as strictly as a vendor driver may: an iteration is
 * pending_bytes, data_offset, data_size, the data, and the next
 * pending_bytes read tells the device the buffer was consumed, upon which
 * it scribbles over it; buffers alternate between two places, so
 * data_offset moves; device_state keeps reserved bits 3-31 set and refuses
 * a write that does not carry them back.
 *
 * Data stream. Each record fills at most one data section:
 *
 *   0   u32  magic SIM_RECORD_MAGIC ("SIM1")
 *   4   u32  count: pages in the record, >= 1
 *   8   u64  image size in bytes (a record only fits the same size of device)
 *   16  u64  checksum: sim_hash() of bytes [0, 16) and [24, end)
 *   24  count entries of { u64 page index, SIM_V1_STATE_PAGE bytes of image }
 *
 * All of it little-endian, so the stream does not depend on the host. The
 * trapped fields, like a kernel device's, are read and written in host order.
 * docs/SIM_DEVICE.md describes the device as an operator sees it.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kabi_v1.h"
#include "log.h"
#include "sim_v1.h"
#include "xmalloc.h"

#define SIM_RECORD_MAGIC 0x314d4953u /* "SIM1" as little-endian bytes */
#define SIM_RECORD_HEADER 24u
#define SIM_RECORD_ENTRY (8u + SIM_V1_STATE_PAGE)
#define SIM_SECTION_MIN (2u * 4096u) /* a header and one page must fit */
#define SIM_SECTION_MAX (64u << 20)
/* The workload writes whole chunks at chunk-aligned offsets inside a page,
 * so how the time is cut into ticks never changes what gets written. */
#define SIM_WRITE_CHUNK 64u
#define SIM_NS_PER_S 1000000000ull
/* Bounds that keep rate * elapsed_ns inside 64 bits. */
#define SIM_RATE_MAX (16ull * SIM_NS_PER_S)
#define SIM_TICK_MAX_NS SIM_NS_PER_S
/* A state change that blocks a minute is a hung device already. */
#define SIM_DELAY_MAX_MS 60000u

/* Seed domains, so the image, guest memory and both workloads draw from
 * unrelated streams of the same seed. */
#define SIM_DOMAIN_IMAGE_FILL 1u
#define SIM_DOMAIN_GUEST_FILL 2u
#define SIM_DOMAIN_IMAGE_WRITES 3u
#define SIM_DOMAIN_GUEST_WRITES 4u

#define SIM_STATE_SAVING_RUNNING (VFIO_DEVICE_STATE_SAVING | VFIO_DEVICE_STATE_RUNNING)
#define SIM_STATE_ERROR VFIO_DEVICE_STATE_INVALID

/* What a consumed buffer is scribbled over with (released-v1): the first
 * SIM_POISON_LEN bytes of every SIM_POISON_STRIDE, the record's header
 * among them. A record read after its consumption, whole or any 512 bytes
 * of it, fails its magic or its checksum wherever it ends up; every byte
 * would cost the device a pass over all the data it moves. */
#define SIM_POISON 0xdb
#define SIM_POISON_STRIDE 512u
#define SIM_POISON_LEN 8u

struct sim_bitmap {
	uint64_t *words;
	uint64_t nbits;
	uint64_t count; /* bits set */
};

/* A memory the device owns and the workload dirties: the image or the
 * guest memory. */
struct sim_area {
	uint8_t *mem;
	uint64_t size;
	uint64_t pages;
	struct sim_bitmap dirty;
	uint64_t rate;	/* bytes/s while RUNNING */
	uint64_t rng;	/* workload stream */
	uint64_t carry; /* nanobytes not yet written, < SIM_WRITE_CHUNK s */
	uint64_t seed;
	enum sim_v1_content content;
	uint32_t zero_pages;
};

struct sim_v1 {
	char *name;
	struct mig_region region;
	uint32_t state;
	struct sim_area image;
	struct sim_area guest; /* mem NULL when the device has no guest memory */
	uint8_t *section;	/* nbuffers * section_size bytes */
	uint32_t section_size;	/* one buffer */
	unsigned int nbuffers;	/* 1 lenient, 2 released-v1 */
	uint64_t data_start;	/* region offset of buffer 0 */
	int trapped;		/* the data section cannot be mapped */
	enum sim_v1_model model;
	uint32_t reserved;	/* device_state bits 3-31 */
	uint32_t delay_ms;	/* every state change blocks this long */
	uint32_t pages_per_record;
	uint64_t record_size; /* SAVING: bytes of the record in the current buffer */
	/* released-v1: the buffer data_offset gives out, and whether it is
	 * out (saving: not consumed by a pending_bytes read yet; resuming:
	 * data_offset read, data_size not written yet). */
	unsigned int buffer;
	int buffer_out;
	int buffer_read;       /* saving: the buffer out was read (trapped) */
	uint64_t bitmap_bytes; /* SAVING: the last bitmap copied to buffer 0 */
	uint64_t violations;
	uint64_t cursor;      /* next image page the record builder looks at */
	uint64_t start_pfn;
	uint64_t page_size;
	uint64_t total_pfns;
	char compat[96];
};

/* The trapped fields and who may touch them. */
#define SIM_FIELD_READ 1u
#define SIM_FIELD_WRITE 2u

struct sim_field {
	uint64_t offset;
	size_t width;
	unsigned int access;
};

static const struct sim_field sim_fields[] = {
	{V1_OFF(device_state), V1_WIDTH(device_state), SIM_FIELD_READ | SIM_FIELD_WRITE},
	{V1_OFF(reserved), V1_WIDTH(reserved), SIM_FIELD_READ},
	{V1_OFF(pending_bytes), V1_WIDTH(pending_bytes), SIM_FIELD_READ},
	{V1_OFF(data_offset), V1_WIDTH(data_offset), SIM_FIELD_READ},
	{V1_OFF(data_size), V1_WIDTH(data_size), SIM_FIELD_READ | SIM_FIELD_WRITE},
	{V1_OFF(start_pfn), V1_WIDTH(start_pfn), SIM_FIELD_WRITE},
	{V1_OFF(page_size), V1_WIDTH(page_size), SIM_FIELD_WRITE},
	{V1_OFF(total_pfns), V1_WIDTH(total_pfns), SIM_FIELD_WRITE},
	{V1_OFF(copied_pfns), V1_WIDTH(copied_pfns), SIM_FIELD_READ},
};

#define SIM_BIT(state) (1u << (state))

/* Allowed device_state transitions, by current state: a set of targets.
 * SAVING|RESUMING is the error state; nothing but a reset leaves it. */
static const uint8_t sim_transitions[8] = {
	[VFIO_DEVICE_STATE_STOPPED] = SIM_BIT(VFIO_DEVICE_STATE_RUNNING) |
	    SIM_BIT(VFIO_DEVICE_STATE_SAVING) | SIM_BIT(VFIO_DEVICE_STATE_RESUMING),
	[VFIO_DEVICE_STATE_RUNNING] = SIM_BIT(SIM_STATE_SAVING_RUNNING) |
	    SIM_BIT(VFIO_DEVICE_STATE_SAVING) | SIM_BIT(VFIO_DEVICE_STATE_STOPPED) |
	    SIM_BIT(VFIO_DEVICE_STATE_RESUMING),
	[SIM_STATE_SAVING_RUNNING] = SIM_BIT(VFIO_DEVICE_STATE_SAVING) |
	    SIM_BIT(VFIO_DEVICE_STATE_RUNNING) | SIM_BIT(VFIO_DEVICE_STATE_STOPPED),
	[VFIO_DEVICE_STATE_SAVING] =
	    SIM_BIT(VFIO_DEVICE_STATE_STOPPED) | SIM_BIT(VFIO_DEVICE_STATE_RUNNING),
	[VFIO_DEVICE_STATE_RESUMING] =
	    SIM_BIT(VFIO_DEVICE_STATE_RUNNING) | SIM_BIT(VFIO_DEVICE_STATE_STOPPED),
};

static uint64_t
sim_splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* A non-zero xorshift state drawn from a seed and a stream number. */
static uint64_t
sim_rng_init(uint64_t seed, uint64_t stream)
{
	uint64_t x = sim_splitmix64(seed ^ sim_splitmix64(stream));

	return x != 0 ? x : 0x2545f4914f6cdd1dull;
}

/* xorshift64* */
static uint64_t
sim_rng_next(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545f4914f6cdd1dull;
}

static void
sim_put_le32(uint8_t *p, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void
sim_put_le64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t
sim_get_le32(const uint8_t *p)
{
	uint32_t v = 0;
	int i;

	for (i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t
sim_get_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

/*
 * The record checksum: a Fletcher-style pair of sums over 64-bit words in
 * eight lanes, the second sum weighting each word by its position, folded
 * together with FNV-1a's xor-multiply at the end. The lanes are vectors,
 * so the loop runs at memory speed (an xor-multiply hash cost as much CPU
 * as the TLS encryption of the same record). The words are little-endian
 * (a big-endian host swaps each word before adding it, so both compute the
 * same sum). It only has to catch corruption, not attacks: the stream's
 * SHA-256 does that.
 */
typedef uint64_t sim_lanes __attribute__((vector_size(32)));

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define SIM_HASH_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SIM_HASH_CLONES
#endif

SIM_HASH_CLONES static uint64_t
sim_hash(uint64_t h, const uint8_t *p, size_t len)
{
	const uint64_t prime = 0x100000001b3ull;
	sim_lanes a0 = {h, h ^ 1, h ^ 2, h ^ 3}, a1 = {h ^ 4, h ^ 5, h ^ 6, h ^ 7};
	sim_lanes b0 = {0, 0, 0, 0}, b1 = {0, 0, 0, 0}, w0, w1;
	size_t i = 0;
	int k;

	for (; i + 64 <= len; i += 64) {
		memcpy(&w0, p + i, sizeof(w0));
		memcpy(&w1, p + i + 32, sizeof(w1));
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
		for (k = 0; k < 4; k++) {
			w0[k] = le64toh(w0[k]);
			w1[k] = le64toh(w1[k]);
		}
#endif
		a0 += w0;
		a1 += w1;
		b0 += a0;
		b1 += a1;
	}
	for (k = 0; k < 4; k++) {
		h = (h ^ a0[k]) * prime;
		h = (h ^ b0[k]) * prime;
		h = (h ^ a1[k]) * prime;
		h = (h ^ b1[k]) * prime;
	}
	for (; i + 8 <= len; i += 8)
		h = (h ^ sim_get_le64(p + i)) * prime;
	for (; i < len; i++)
		h = (h ^ p[i]) * prime;
	return h ^ (h >> 29);
}

static uint64_t
sim_record_checksum(const uint8_t *rec, uint64_t size)
{
	uint64_t h = 0xcbf29ce484222325ull;

	h = sim_hash(h, rec, 16);
	return sim_hash(h, rec + SIM_RECORD_HEADER, size - SIM_RECORD_HEADER);
}

static void
sim_bitmap_init(struct sim_bitmap *b, uint64_t nbits)
{
	b->nbits = nbits;
	b->count = 0;
	b->words = xcalloc(nbits / 64 + 1, sizeof(uint64_t));
}

static int
sim_bitmap_test(const struct sim_bitmap *b, uint64_t bit)
{
	return (b->words[bit / 64] >> (bit % 64)) & 1;
}

static void
sim_bitmap_set(struct sim_bitmap *b, uint64_t bit)
{
	if (!sim_bitmap_test(b, bit)) {
		b->words[bit / 64] |= 1ull << (bit % 64);
		b->count++;
	}
}

static void
sim_bitmap_clear(struct sim_bitmap *b, uint64_t bit)
{
	if (sim_bitmap_test(b, bit)) {
		b->words[bit / 64] &= ~(1ull << (bit % 64));
		b->count--;
	}
}

static void
sim_bitmap_fill(struct sim_bitmap *b, int value)
{
	size_t words = b->nbits / 64 + 1;

	memset(b->words, 0, words * sizeof(uint64_t));
	b->count = 0;
	if (!value)
		return;
	memset(b->words, 0xff, (b->nbits / 64) * sizeof(uint64_t));
	if (b->nbits % 64 != 0)
		b->words[b->nbits / 64] = (1ull << (b->nbits % 64)) - 1;
	b->count = b->nbits;
}

/* First set bit at or after from, or nbits. */
static uint64_t
sim_bitmap_next(const struct sim_bitmap *b, uint64_t from)
{
	uint64_t word;

	while (from < b->nbits) {
		word = b->words[from / 64] >> (from % 64);
		if (word != 0) {
			from += (uint64_t)__builtin_ctzll(word);
			return from < b->nbits ? from : b->nbits;
		}
		from = (from / 64 + 1) * 64;
	}
	return b->nbits;
}

static uint64_t
sim_bitmap_count(const struct sim_bitmap *b, uint64_t from, uint64_t to)
{
	uint64_t n = 0;

	for (from = sim_bitmap_next(b, from); from < to; from = sim_bitmap_next(b, from + 1))
		n++;
	return n;
}

static int
sim_saving(const struct sim_v1 *dev)
{
	return dev->state == VFIO_DEVICE_STATE_SAVING || dev->state == SIM_STATE_SAVING_RUNNING;
}

static int
sim_strict(const struct sim_v1 *dev)
{
	return dev->model == SIM_V1_RELEASED;
}

/* The buffer data_offset points at now. */
static uint8_t *
sim_buffer(const struct sim_v1 *dev)
{
	return dev->section + (uint64_t)dev->buffer * dev->section_size;
}

static uint64_t
sim_buffer_offset(const struct sim_v1 *dev)
{
	return dev->data_start + (uint64_t)dev->buffer * dev->section_size;
}

/* The released-v1 model caught its driver outside the v1 sequence. */
static int
sim_violation(struct sim_v1 *dev, const char *what)
{
	dev->violations++;
	log_warnx("sim %s: the driver broke the v1 sequence: %s", dev->name, what);
	return -EINVAL;
}

/* released-v1: the driver said it has the buffer's bytes (a pending_bytes
 * read, a data_size write): the device reuses the space, and the next
 * buffer goes to the other place. */
static void
sim_buffer_consumed(struct sim_v1 *dev, uint64_t bytes)
{
	uint8_t *buf = sim_buffer(dev);
	uint64_t off;

	for (off = 0; off < bytes; off += SIM_POISON_STRIDE)
		memset(buf + off, SIM_POISON, bytes - off < SIM_POISON_LEN ? bytes - off : SIM_POISON_LEN);
	dev->record_size = 0;
	dev->buffer_out = 0;
	dev->buffer_read = 0;
	dev->buffer = (dev->buffer + 1) % dev->nbuffers;
}

/* Leaving a saving or resuming state drops whatever buffer was out. */
static void
sim_buffers_idle(struct sim_v1 *dev)
{
	dev->record_size = 0;
	dev->buffer = 0;
	dev->buffer_out = 0;
	dev->buffer_read = 0;
	dev->bitmap_bytes = 0;
}

/* Is this page one of the zero_pages percent that hold zeros? Fixed by
 * the seed and the index: the workload keeps them zero. */
static int
sim_page_is_zero(uint64_t seed, uint32_t zero_pages, uint64_t index)
{
	return zero_pages > 0 && sim_splitmix64(seed ^ sim_splitmix64(index ^ 0x7a65726fu)) % 100 <
	    zero_pages;
}

/* n bytes (a multiple of 8) of the content model from rng: random, or
 * words of a small vocabulary with spaces and line breaks, which zstd
 * packs to about a third, as logs, queues of descriptors and tables do. */
static void
sim_content(uint8_t *p, size_t n, enum sim_v1_content content, uint64_t *rng)
{
	static const char *const words[] = {"queue", "doorbell", "vector", "entry", "head",
		"tail", "ring", "index", "status", "ready", "the", "of", "page", "table", "map",
		"0x1000", "valid", "dirty", "irq", "mask", "desc", "len", "addr", "flags", "=",
		"ok", "err", "wait", "done", "next", "prev", "\n"};
	uint64_t r = 0;
	size_t i = 0, k, left = 0;
	const char *w;

	if (content == SIM_V1_CONTENT_RANDOM) {
		for (i = 0; i < n; i += 8)
			sim_put_le64(p + i, sim_rng_next(rng));
		return;
	}
	while (i < n) {
		if (left == 0) {
			r = sim_rng_next(rng);
			left = 8;
		}
		w = words[r & 31];
		r >>= 5;
		left--;
		for (k = 0; w[k] != '\0' && i < n; k++)
			p[i++] = (uint8_t)w[k];
		if (i < n)
			p[i++] = ' ';
	}
}

/* Bytes [from, to) of an area's initial content: every page a function of
 * the seed and the page index, so a file extended later reads as if it had
 * been created at its final size. */
static void
sim_fill(uint8_t *mem, uint64_t from, uint64_t to, const struct sim_v1_config *cfg,
    uint64_t domain)
{
	uint8_t page[SIM_V1_STATE_PAGE];
	uint64_t index, start, end, rng;

	for (index = from / sizeof(page); index * sizeof(page) < to; index++) {
		rng = sim_rng_init(cfg->seed ^ sim_splitmix64(domain), index);
		if (sim_page_is_zero(cfg->seed, cfg->zero_pages, index))
			memset(page, 0, sizeof(page));
		else
			sim_content(page, sizeof(page), cfg->content, &rng);
		start = index * sizeof(page) > from ? index * sizeof(page) : from;
		end = (index + 1) * sizeof(page) < to ? (index + 1) * sizeof(page) : to;
		memcpy(mem + start, page + (start - index * sizeof(page)), end - start);
	}
}

/* Opens path, sizes it to size (filling what is new from the seed) and maps
 * it shared. Returns 0 or -errno after a log line naming the file. */
static int
sim_map_file(const struct sim_v1 *dev, const char *what, const char *path, uint64_t size,
    const struct sim_v1_config *cfg, uint64_t domain, uint8_t **out)
{
	struct stat st;
	void *mem;
	int fd, err;

	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		err = -errno;
		log_warn("sim %s: open %s %s", dev->name, what, path);
		return err;
	}
	if (fstat(fd, &st) == -1) {
		err = -errno;
		log_warn("sim %s: stat %s %s", dev->name, what, path);
		goto fail;
	}
	if ((uint64_t)st.st_size != size && ftruncate(fd, (off_t)size) == -1) {
		err = -errno;
		log_warn("sim %s: resize %s %s to %" PRIu64 " bytes", dev->name, what, path, size);
		goto fail;
	}
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED) {
		err = -errno;
		log_warn("sim %s: mmap %s %s", dev->name, what, path);
		goto fail;
	}
	close(fd);
	/* The workload touches pages at random: reading ahead around each
	 * one only fills memory with pages nobody looks at. */
	madvise(mem, size, MADV_RANDOM);
	if ((uint64_t)st.st_size < size) {
		sim_fill(mem, (uint64_t)st.st_size, size, cfg, domain);
		log_info("sim %s: %s %s filled from seed %" PRIu64 " (bytes %" PRIu64
			 "..%" PRIu64 ")",
		    dev->name, what, path, cfg->seed, (uint64_t)st.st_size, size);
	}
	*out = mem;
	return 0;
fail:
	close(fd);
	return err;
}

static void
sim_area_init(struct sim_area *a, uint8_t *mem, uint64_t size, uint64_t rate,
    const struct sim_v1_config *cfg, uint64_t domain)
{
	a->mem = mem;
	a->size = size;
	a->pages = size / SIM_V1_STATE_PAGE;
	a->rate = rate;
	a->rng = sim_rng_init(cfg->seed, domain);
	a->seed = cfg->seed;
	a->content = cfg->content;
	a->zero_pages = cfg->zero_pages;
	a->carry = 0;
	sim_bitmap_init(&a->dirty, a->pages);
}

static void
sim_area_free(struct sim_area *a)
{
	if (a->mem != NULL)
		munmap(a->mem, a->size);
	free(a->dirty.words);
}

/* The workload: rate * elapsed bytes of pseudo-random data in chunks at
 * random places, each page written marked dirty. */
static void
sim_area_write(struct sim_area *a, uint64_t elapsed_ns)
{
	/* dirty_rate is state dirtied as a migration sees it: each write of
	 * SIM_WRITE_CHUNK bytes dirties a whole page, so one write per
	 * page-worth of rate. */
	const uint64_t chunk_nanobytes = SIM_V1_STATE_PAGE * SIM_NS_PER_S;
	uint64_t total, chunks, r, page, slot;
	uint8_t *p;

	if (a->mem == NULL || a->rate == 0)
		return;
	total = a->rate * elapsed_ns + a->carry;
	chunks = total / chunk_nanobytes;
	a->carry = total % chunk_nanobytes;
	while (chunks-- > 0) {
		r = sim_rng_next(&a->rng);
		page = r % a->pages;
		slot = (r >> 40) % (SIM_V1_STATE_PAGE / SIM_WRITE_CHUNK);
		p = a->mem + page * SIM_V1_STATE_PAGE + slot * SIM_WRITE_CHUNK;
		if (sim_page_is_zero(a->seed, a->zero_pages, page))
			memset(p, 0, SIM_WRITE_CHUNK);
		else
			sim_content(p, SIM_WRITE_CHUNK, a->content, &a->rng);
		sim_bitmap_set(&a->dirty, page);
	}
}

static uint64_t
sim_pending_bytes(const struct sim_v1 *dev)
{
	uint64_t pages = dev->image.dirty.count;
	uint64_t records = (pages + dev->pages_per_record - 1) / dev->pages_per_record;

	if (!sim_saving(dev))
		return 0;
	return pages * SIM_RECORD_ENTRY + records * SIM_RECORD_HEADER;
}

/* Reading data_offset in a SAVING state: the next record replaces whatever
 * the section held, and its pages stop being dirty. */
static void
sim_prepare_record(struct sim_v1 *dev)
{
	struct sim_bitmap *dirty = &dev->image.dirty;
	uint8_t *rec = sim_buffer(dev), *entry;
	uint64_t page = dev->cursor;
	uint32_t count = 0;

	while (count < dev->pages_per_record && dirty->count > 0) {
		page = sim_bitmap_next(dirty, page);
		if (page == dirty->nbits) {
			page = 0;
			continue;
		}
		entry = rec + SIM_RECORD_HEADER + (uint64_t)count * SIM_RECORD_ENTRY;
		sim_put_le64(entry, page);
		memcpy(entry + 8, dev->image.mem + page * SIM_V1_STATE_PAGE, SIM_V1_STATE_PAGE);
		sim_bitmap_clear(dirty, page);
		count++;
		page++;
	}
	dev->cursor = page < dirty->nbits ? page : 0;
	dev->bitmap_bytes = 0;
	if (count == 0) {
		dev->record_size = 0;
		return;
	}
	dev->record_size = SIM_RECORD_HEADER + (uint64_t)count * SIM_RECORD_ENTRY;
	sim_put_le32(rec, SIM_RECORD_MAGIC);
	sim_put_le32(rec + 4, count);
	sim_put_le64(rec + 8, dev->image.size);
	sim_put_le64(rec + 16, sim_record_checksum(rec, dev->record_size));
}

/* NULL when the record in the section may be applied, else why not. */
static const char *
sim_record_check(const struct sim_v1 *dev, uint64_t size)
{
	const uint8_t *rec = sim_buffer(dev), *entry;
	uint64_t count, i;

	if (size < SIM_RECORD_HEADER + SIM_RECORD_ENTRY)
		return "shorter than one page";
	if (sim_get_le32(rec) != SIM_RECORD_MAGIC)
		return "bad magic";
	if (sim_get_le64(rec + 8) != dev->image.size)
		return "made for another image size";
	count = sim_get_le32(rec + 4);
	if (count == 0 || size != SIM_RECORD_HEADER + count * SIM_RECORD_ENTRY)
		return "length does not match its page count";
	if (sim_get_le64(rec + 16) != sim_record_checksum(rec, size))
		return "checksum mismatch";
	for (i = 0; i < count; i++) {
		entry = rec + SIM_RECORD_HEADER + i * SIM_RECORD_ENTRY;
		if (sim_get_le64(entry) >= dev->image.pages)
			return "page index beyond the image";
	}
	return NULL;
}

/* data_size written in RESUMING: check the record, then apply it. */
static int
sim_resume_record(struct sim_v1 *dev, uint64_t size)
{
	const uint8_t *rec = sim_buffer(dev), *entry;
	const char *why;
	uint64_t count, i;

	if (dev->state != VFIO_DEVICE_STATE_RESUMING || size > dev->section_size)
		return -EINVAL;
	if (sim_strict(dev) && !dev->buffer_out)
		return sim_violation(dev, "data_size written without reading data_offset first");
	if (size == 0) {
		dev->buffer_out = 0;
		return 0;
	}
	if ((why = sim_record_check(dev, size)) != NULL) {
		log_warnx("sim %s: record of %" PRIu64 " bytes rejected (%s), "
			  "device in error state",
		    dev->name, size, why);
		dev->state = SIM_STATE_ERROR;
		sim_buffers_idle(dev);
		return -EIO;
	}
	count = sim_get_le32(rec + 4);
	for (i = 0; i < count; i++) {
		entry = rec + SIM_RECORD_HEADER + i * SIM_RECORD_ENTRY;
		memcpy(dev->image.mem + sim_get_le64(entry) * SIM_V1_STATE_PAGE, entry + 8,
		    SIM_V1_STATE_PAGE);
	}
	if (sim_strict(dev))
		sim_buffer_consumed(dev, size);
	return 0;
}

/* copied_pfns read: the dirty log of [start_pfn, start_pfn + total_pfns)
 * into the section (get-and-clear). */
static int
sim_copy_bitmap(struct sim_v1 *dev, int64_t *copied)
{
	struct sim_bitmap *log = &dev->guest.dirty;
	uint64_t start = dev->start_pfn, end, n, bit;

	if (!sim_saving(dev) || dev->page_size != SIM_V1_GUEST_PAGE)
		return -EINVAL;
	/* The bitmap goes to buffer 0, where a buffer may be out. */
	if (sim_strict(dev) && dev->buffer_out)
		return sim_violation(dev, "dirty bitmap asked for before the buffer was consumed");
	*copied = 0;
	if (dev->total_pfns == 0 || start >= dev->guest.pages)
		return 0;
	/* Pages past the end of guest memory are never dirty. */
	end = dev->total_pfns <= dev->guest.pages - start ? start + dev->total_pfns
							 : dev->guest.pages;
	n = sim_bitmap_count(log, start, end);
	if (n == 0)
		return 0;
	if (n == end - start && end - start == dev->total_pfns) {
		for (bit = start; bit < end; bit++)
			sim_bitmap_clear(log, bit);
		*copied = -1;
		return 0;
	}
	n = end - start;
	if (n > (uint64_t)dev->section_size * 8)
		n = (uint64_t)dev->section_size * 8;
	memset(dev->section, 0, (n + 7) / 8);
	bit = sim_bitmap_next(log, start);
	while (bit < start + n) {
		dev->section[(bit - start) / 8] |= (uint8_t)(1u << ((bit - start) % 8));
		sim_bitmap_clear(log, bit);
		bit = sim_bitmap_next(log, bit + 1);
	}
	dev->record_size = 0;
	dev->bitmap_bytes = (n + 7) / 8;
	*copied = (int64_t)n;
	return 0;
}

/* A slow firmware: the state change takes this long, and the write of
 * device_state returns only then. */
static void
sim_transition_delay(const struct sim_v1 *dev)
{
	struct timespec left = {(time_t)(dev->delay_ms / 1000),
		(long)(dev->delay_ms % 1000) * 1000000L};

	while (nanosleep(&left, &left) == -1 && errno == EINTR)
		;
}

static int
sim_set_state(struct sim_v1 *dev, uint32_t to)
{
	int was_saving = sim_saving(dev);
	uint32_t from = dev->state;

	if ((to & ~(uint32_t)VFIO_DEVICE_STATE_MASK) != 0 ||
	    (to & SIM_STATE_ERROR) == SIM_STATE_ERROR)
		return -EINVAL;
	if (to == dev->state)
		return 0;
	if (!(sim_transitions[dev->state] & SIM_BIT(to)))
		return -EINVAL;
	if (dev->delay_ms > 0)
		sim_transition_delay(dev);
	dev->state = to;
	/* Buffers live within one saving (pre-copy into stop-copy keeps the
	 * one out) or one resuming session. */
	if ((was_saving && !sim_saving(dev)) || from == VFIO_DEVICE_STATE_RESUMING ||
	    to == VFIO_DEVICE_STATE_RESUMING)
		sim_buffers_idle(dev);
	if (!was_saving && sim_saving(dev)) {
		/* A save starts from everything: every state page goes in the
		 * stream and the first dirty-bitmap pass reports all of guest
		 * memory. */
		sim_bitmap_fill(&dev->image.dirty, 1);
		sim_bitmap_fill(&dev->guest.dirty, 1);
		dev->cursor = 0;
	}
	return 0;
}

/* A device_state write: released-v1 wants bits 3-31 back as it holds them,
 * as the released interface asks of a driver (read-modify-write). */
static int
sim_write_device_state(struct sim_v1 *dev, uint32_t value)
{
	char why[128];

	if (sim_strict(dev) && (value & ~(uint32_t)VFIO_DEVICE_STATE_MASK) != dev->reserved) {
		snprintf(why, sizeof(why),
		    "device_state written as 0x%08x: reserved bits 0x%08x, the device holds 0x%08x",
		    value, value & ~(uint32_t)VFIO_DEVICE_STATE_MASK, dev->reserved);
		return sim_violation(dev, why);
	}
	return sim_set_state(dev, sim_strict(dev) ? value & VFIO_DEVICE_STATE_MASK : value);
}

/* released-v1: pending_bytes starts an iteration and, read after a buffer
 * was given out, says the driver has consumed it. */
static uint64_t
sim_read_pending(struct sim_v1 *dev)
{
	if (sim_strict(dev) && sim_saving(dev) && dev->buffer_out)
		sim_buffer_consumed(dev, dev->record_size);
	return sim_pending_bytes(dev);
}

/* data_offset: in a saving state it makes the next record available. The
 * released-v1 model gives out the same buffer until it is consumed, and in
 * RESUMING the buffer to write the next record to. */
static uint64_t
sim_read_data_offset(struct sim_v1 *dev)
{
	if (!sim_strict(dev)) {
		if (sim_saving(dev))
			sim_prepare_record(dev);
		return dev->data_start;
	}
	/* Allowed, and answered with the same buffer, as the interface says
	 * of a repeated read; but once its bytes were read, it is a driver
	 * that forgot pending_bytes and is about to send the buffer again. */
	if (sim_saving(dev) && dev->buffer_out && dev->buffer_read)
		sim_violation(dev, "data_offset read again after the buffer was read, without "
				   "pending_bytes: the same buffer again");
	if (sim_saving(dev) && !dev->buffer_out)
		sim_prepare_record(dev);
	if (sim_saving(dev) || dev->state == VFIO_DEVICE_STATE_RESUMING)
		dev->buffer_out = 1;
	return sim_buffer_offset(dev);
}

static int
sim_read_data_size(struct sim_v1 *dev, uint64_t *value)
{
	*value = 0;
	if (!sim_saving(dev))
		return 0;
	if (sim_strict(dev) && !dev->buffer_out)
		return sim_violation(dev, "data_size read before data_offset made a buffer "
					  "available");
	*value = dev->record_size;
	return 0;
}

static const struct sim_field *
sim_field_find(uint64_t offset, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(sim_fields) / sizeof(sim_fields[0]); i++)
		if (sim_fields[i].offset == offset)
			return sim_fields[i].width == len ? &sim_fields[i] : NULL;
	return NULL;
}

static int
sim_field_read(struct sim_v1 *dev, uint64_t offset, uint64_t *value)
{
	int64_t copied;
	int err;

	switch (offset) {
	case V1_OFF(device_state):
		*value = dev->state | dev->reserved;
		return 0;
	case V1_OFF(pending_bytes):
		*value = sim_read_pending(dev);
		return 0;
	case V1_OFF(data_offset):
		*value = sim_read_data_offset(dev);
		return 0;
	case V1_OFF(data_size):
		return sim_read_data_size(dev, value);
	case V1_OFF(copied_pfns):
		if ((err = sim_copy_bitmap(dev, &copied)) != 0)
			return err;
		*value = (uint64_t)copied;
		return 0;
	}
	*value = 0; /* reserved */
	return 0;
}

static int
sim_field_write(struct sim_v1 *dev, uint64_t offset, uint64_t value)
{
	switch (offset) {
	case V1_OFF(device_state):
		return sim_write_device_state(dev, (uint32_t)value);
	case V1_OFF(data_size):
		return sim_resume_record(dev, value);
	case V1_OFF(start_pfn):
		dev->start_pfn = value;
		return 0;
	case V1_OFF(page_size):
		if (value != SIM_V1_GUEST_PAGE)
			return -EINVAL;
		dev->page_size = value;
		return 0;
	case V1_OFF(total_pfns):
		dev->total_pfns = value;
		return 0;
	}
	return -EINVAL;
}

/* released-v1: a trapped access to the data section must lie in what the
 * sequence has made available: the buffer out (saving: its record;
 * resuming: the whole buffer), or in saving the bitmap just copied. A
 * mapped access cannot be seen; the poison of consumed buffers catches it. */
static int
sim_data_access_ok(struct sim_v1 *dev, uint64_t rel, size_t len, unsigned int need)
{
	uint64_t buf = (uint64_t)dev->buffer * dev->section_size;
	uint64_t avail = sim_saving(dev) ? dev->record_size : dev->section_size;

	if (!sim_saving(dev) && dev->state != VFIO_DEVICE_STATE_RESUMING)
		return 0;
	if (sim_saving(dev) && need == SIM_FIELD_WRITE)
		return sim_violation(dev, "data section written while saving");
	if (dev->buffer_out && rel >= buf && rel - buf <= avail && len <= avail - (rel - buf)) {
		dev->buffer_read = sim_saving(dev);
		return 0;
	}
	if (sim_saving(dev) && rel < dev->bitmap_bytes && len <= dev->bitmap_bytes - rel)
		return 0;
	return sim_violation(dev, dev->buffer_out ? "data section accessed outside the buffer "
						    "data_offset gave"
						  : "data section accessed with no buffer out "
						    "(consumed, or data_offset not read)");
}

/* The part of an access that tells where it goes: 1 for the data section,
 * 0 for a trapped field (*field set), or -EINVAL. */
static int
sim_access(struct sim_v1 *dev, uint64_t offset, size_t len, unsigned int need,
    const struct sim_field **field)
{
	const struct mig_region *r = &dev->region;
	int err;

	if (offset >= r->size || len > r->size - offset)
		return -EINVAL;
	if (offset >= dev->data_start) {
		if (sim_strict(dev) &&
		    (err = sim_data_access_ok(dev, offset - dev->data_start, len, need)) != 0)
			return err;
		return 1;
	}
	if ((*field = sim_field_find(offset, len)) == NULL || !((*field)->access & need))
		return -EINVAL;
	return 0;
}

static ssize_t
sim_region_read(struct mig_region *r, uint64_t offset, void *buf, size_t len)
{
	struct sim_v1 *dev = r->priv;
	const struct sim_field *field = NULL;
	uint64_t value;
	uint32_t value32;
	int ret;

	if ((ret = sim_access(dev, offset, len, SIM_FIELD_READ, &field)) < 0)
		return ret;
	if (ret == 1) {
		memcpy(buf, dev->section + (offset - dev->data_start), len);
		return (ssize_t)len;
	}
	if ((ret = sim_field_read(dev, offset, &value)) != 0)
		return ret;
	if (field->width == sizeof(value32)) {
		value32 = (uint32_t)value;
		memcpy(buf, &value32, sizeof(value32));
	} else
		memcpy(buf, &value, sizeof(value));
	return (ssize_t)len;
}

static ssize_t
sim_region_write(struct mig_region *r, uint64_t offset, const void *buf, size_t len)
{
	struct sim_v1 *dev = r->priv;
	const struct sim_field *field = NULL;
	uint64_t value;
	uint32_t value32;
	int ret;

	if ((ret = sim_access(dev, offset, len, SIM_FIELD_WRITE, &field)) < 0)
		return ret;
	if (ret == 1) {
		memcpy(dev->section + (offset - dev->data_start), buf, len);
		return (ssize_t)len;
	}
	if (field->width == sizeof(value32)) {
		memcpy(&value32, buf, sizeof(value32));
		value = value32;
	} else
		memcpy(&value, buf, sizeof(value));
	if ((ret = sim_field_write(dev, offset, value)) != 0)
		return ret;
	return (ssize_t)len;
}

static int
sim_region_map(struct mig_region *r, uint64_t offset, size_t len, void **addr)
{
	struct sim_v1 *dev = r->priv;

	if (offset >= r->size || len > r->size - offset)
		return -EINVAL;
	if (offset < dev->data_start || dev->trapped)
		return -ENOTSUP;
	*addr = dev->section + (offset - dev->data_start);
	return 0;
}

static int
sim_region_reset(struct mig_region *r)
{
	struct sim_v1 *dev = r->priv;

	dev->state = VFIO_DEVICE_STATE_RUNNING;
	sim_buffers_idle(dev);
	dev->cursor = 0;
	dev->start_pfn = dev->page_size = dev->total_pfns = 0;
	sim_bitmap_fill(&dev->image.dirty, 0);
	sim_bitmap_fill(&dev->guest.dirty, 0);
	return 0;
}

static const struct mig_region_ops sim_region_ops = {
	.read = sim_region_read,
	.write = sim_region_write,
	.map = sim_region_map,
	.reset = sim_region_reset,
};

static int
sim_config_check(const struct sim_v1_config *cfg, const char *name)
{
	if (cfg->image == NULL) {
		log_warnx("sim %s: no image file", name);
		return -EINVAL;
	}
	if (cfg->size == 0 || cfg->size % SIM_V1_STATE_PAGE != 0) {
		log_warnx("sim %s: size must be a non-zero multiple of %u bytes", name,
		    SIM_V1_STATE_PAGE);
		return -EINVAL;
	}
	if (cfg->guest_memory != NULL &&
	    (cfg->guest_memory_size == 0 || cfg->guest_memory_size % SIM_V1_GUEST_PAGE != 0)) {
		log_warnx("sim %s: guest_memory_size must be a non-zero multiple of %u bytes", name,
		    SIM_V1_GUEST_PAGE);
		return -EINVAL;
	}
	if (cfg->section_size != 0 && (cfg->section_size % 4096 != 0 ||
	    cfg->section_size < SIM_SECTION_MIN || cfg->section_size > SIM_SECTION_MAX)) {
		log_warnx("sim %s: section size must be a multiple of 4096 in [%u, %u]", name,
		    SIM_SECTION_MIN, SIM_SECTION_MAX);
		return -EINVAL;
	}
	if (cfg->dirty_rate > SIM_RATE_MAX || cfg->dma_dirty_rate > SIM_RATE_MAX) {
		log_warnx("sim %s: dirty rates above %llu bytes/s are not simulated", name,
		    SIM_RATE_MAX);
		return -EINVAL;
	}
	if (cfg->model != SIM_V1_LENIENT && cfg->model != SIM_V1_RELEASED) {
		log_warnx("sim %s: unknown driver model %d", name, (int)cfg->model);
		return -EINVAL;
	}
	if (cfg->transition_delay_ms > SIM_DELAY_MAX_MS) {
		log_warnx("sim %s: transition delays above %u ms are not simulated", name,
		    SIM_DELAY_MAX_MS);
		return -EINVAL;
	}
	return 0;
}

int
sim_v1_open(const struct sim_v1_config *cfg, struct sim_v1 **out)
{
	const char *name = cfg->name != NULL ? cfg->name : "sim";
	struct sim_v1 *dev;
	uint8_t *image = NULL, *guest = NULL;
	void *section;
	int err;

	if ((err = sim_config_check(cfg, name)) != 0)
		return err;
	dev = xcalloc(1, sizeof(*dev));
	dev->name = xstrdup(name);
	dev->section_size = cfg->section_size != 0 ? cfg->section_size : SIM_V1_SECTION_DEFAULT;
	dev->pages_per_record = (dev->section_size - SIM_RECORD_HEADER) / SIM_RECORD_ENTRY;
	dev->model = cfg->model;
	dev->nbuffers = cfg->model == SIM_V1_RELEASED ? 2 : 1;
	dev->reserved = cfg->model == SIM_V1_RELEASED ? SIM_V1_RESERVED_BITS : 0;
	dev->trapped = cfg->trapped != 0;
	dev->data_start = dev->trapped ? SIM_V1_TRAPPED_DATA_OFFSET : SIM_V1_DATA_OFFSET;
	dev->delay_ms = cfg->transition_delay_ms;
	section = mmap(NULL, (size_t)dev->nbuffers * dev->section_size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (section == MAP_FAILED) {
		err = -errno;
		log_warn("sim %s: data section of %u bytes", name,
		    dev->nbuffers * dev->section_size);
		goto fail;
	}
	dev->section = section;
	if ((err = sim_map_file(dev, "image", cfg->image, cfg->size, cfg,
	    SIM_DOMAIN_IMAGE_FILL, &image)) != 0)
		goto fail;
	sim_area_init(&dev->image, image, cfg->size, cfg->dirty_rate, cfg,
	    SIM_DOMAIN_IMAGE_WRITES);
	if (cfg->guest_memory != NULL) {
		if ((err = sim_map_file(dev, "guest memory", cfg->guest_memory,
		    cfg->guest_memory_size, cfg, SIM_DOMAIN_GUEST_FILL, &guest)) != 0)
			goto fail;
		sim_area_init(&dev->guest, guest, cfg->guest_memory_size, cfg->dma_dirty_rate,
		    cfg, SIM_DOMAIN_GUEST_WRITES);
	} else
		sim_area_init(&dev->guest, NULL, 0, 0, cfg, SIM_DOMAIN_GUEST_WRITES);
	dev->state = VFIO_DEVICE_STATE_RUNNING;
	dev->region.ops = &sim_region_ops;
	dev->region.size = dev->data_start + (uint64_t)dev->nbuffers * dev->section_size;
	dev->region.priv = dev;
	snprintf(dev->compat, sizeof(dev->compat), "size=%" PRIu64 ",section=%u,guest=%" PRIu64,
	    dev->image.size, dev->section_size, dev->guest.size);
	*out = dev;
	return 0;
fail:
	sim_v1_close(dev);
	return err;
}

void
sim_v1_close(struct sim_v1 *dev)
{
	if (dev == NULL)
		return;
	sim_area_free(&dev->image);
	sim_area_free(&dev->guest);
	if (dev->section != NULL)
		munmap(dev->section, (size_t)dev->nbuffers * dev->section_size);
	free(dev->name);
	free(dev);
}

struct mig_region *
sim_v1_region(struct sim_v1 *dev)
{
	return &dev->region;
}

void
sim_v1_tick(struct sim_v1 *dev, uint64_t elapsed_ns)
{
	if (!(dev->state & VFIO_DEVICE_STATE_RUNNING))
		return;
	if (elapsed_ns > SIM_TICK_MAX_NS)
		elapsed_ns = SIM_TICK_MAX_NS;
	sim_area_write(&dev->image, elapsed_ns);
	sim_area_write(&dev->guest, elapsed_ns);
}

uint32_t
sim_v1_state(const struct sim_v1 *dev)
{
	return dev->state;
}

static const char *const sim_model_names[] = {
	[SIM_V1_LENIENT] = "lenient",
	[SIM_V1_RELEASED] = "released-v1",
};

int
sim_v1_model_parse(const char *name, enum sim_v1_model *model)
{
	size_t i;

	if (name == NULL) {
		*model = SIM_V1_RELEASED;
		return 0;
	}
	for (i = 0; i < sizeof(sim_model_names) / sizeof(sim_model_names[0]); i++) {
		if (strcmp(name, sim_model_names[i]) == 0) {
			*model = (enum sim_v1_model)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *
sim_v1_model_name(enum sim_v1_model model)
{
	return (size_t)model < sizeof(sim_model_names) / sizeof(sim_model_names[0])
	    ? sim_model_names[model]
	    : "unknown";
}

uint64_t
sim_v1_violations(const struct sim_v1 *dev)
{
	return dev->violations;
}

const char *
sim_v1_identity(const struct sim_v1 *dev)
{
	return "sim-v1";
}

const char *
sim_v1_compat(const struct sim_v1 *dev)
{
	return dev->compat;
}

const uint8_t *
sim_v1_image(const struct sim_v1 *dev, uint64_t *size)
{
	*size = dev->image.size;
	return dev->image.mem;
}

uint8_t *
sim_v1_guest_memory(struct sim_v1 *dev, uint64_t *size)
{
	*size = dev->guest.size;
	return dev->guest.mem;
}
