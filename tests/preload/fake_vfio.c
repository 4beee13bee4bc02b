/*
 * fake_vfio.c: a fake kernel for VFIO devices that several processes
 * share (tests/fake_vfio.h), built as the LD_PRELOAD shim fake_vfio.so and
 * linked into the test VMM.
 *
 * It owns the device file's layout, the v2 FSM with its data sessions, the
 * stream and its strict checks on resume, DMA logging, the v1 migration
 * region a device may offer instead (the same FSM and stream, through the
 * region's fields and data section), the type1 container (its DMA
 * mappings and dirty page log), and the libc calls it answers for its own
 * fds: fstat, readlink and pread/pwrite of the config and v1 regions,
 * ioctl (device, container and data fd), and read, write, poll and close
 * of a data fd. It must never touch an fd that is not its own: those go
 * to libc as they came. A device or container fd is recognised by what
 * the kernel says of it (a regular file that starts with its magic), so
 * an fd that arrived by SCM_RIGHTS is known without any help; a data fd
 * is a memfd this process made, known by its inode.
 */
#undef _FORTIFY_SOURCE
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "tests/fake_vfio.h"
#include "v2_fsm.h"
#include "vfio_compat.h"

#define FV_MAGIC "FAKEVFIO"
#define FV_VERSION 2u
#define FC_MAGIC "FAKEVCTR"
#define FC_VERSION 1u
#define FC_MAX_MAPS 16
#define FC_BITMAP_MAX (256ull << 20) /* the kernel's DIRTY_BITMAP_SIZE_MAX */
/* /dev/vfio/vfio: misc device 10:196. */
#define FC_MAJOR 10
#define FC_MINOR 196
#define FV_MAJOR 511 /* a dynamic major, as vfio's is */
#define FV_MAX_RANGES 16
#define FV_LOG_PAGE 4096u	    /* the DMA log's granularity */
#define FV_STREAM_MAGIC 0x31535646u /* "FVS1" */
#define FV_STREAM_HEADER 24u
#define FV_FRAME 16u
#define FV_RECORD 1u
#define FV_END 2u
#define FV_MAX_MAPS 32
#define FV_MAX_DATA 64
#define FV_CONFIG_INDEX 7 /* VFIO_PCI_CONFIG_REGION_INDEX */
#define FV_NUM_REGIONS 9
#define FV_REGION_SHIFT FAKE_VFIO_REGION_SHIFT
/* The v1 migration region: the fields, then the data section. */
#define FV_V1_INDEX FAKE_VFIO_V1_REGION
#define FV_V1_FIELDS 64u
#define FV_V1_DATA 4096u
#define FV_V1_SECTION (64u * 1024)

enum fv_session {
	SESSION_NONE,
	SESSION_SAVE,
	SESSION_RESUME
};
enum fv_phase {
	PH_HEADER,
	PH_FRAME,
	PH_PAYLOAD,
	PH_DISCARD
};

/* The device file: this header, then the state image, the two bitmaps of
 * state pages (to send, of the initial image), the DMA log (a bit per
 * FV_LOG_PAGE of guest memory), the session's record buffer and the guest
 * memory. Every field is under lock but the constants set at creation. */
struct fv_shared {
	char magic[8];
	uint32_t version, anon;
	uint64_t file_size;
	pthread_mutex_t lock;
	uint64_t mig_flags;
	uint32_t page_size, minor;
	uint64_t state_size, guest_size, npages, nlog;
	uint64_t state_off, send_off, initial_off, log_off, work_off, guest_off;
	uint8_t config[256];

	uint32_t state;
	uint64_t resets, sessions, set_states, other_ioctls;
	int opened; /* once: a later first open resets, as vfio-pci does */

	/* The session: its id (a data fd of an older one is dead). */
	uint64_t session;
	uint32_t kind;
	/* Saving: the stream header given out, the record in the buffer and
	 * how much of it, where the next page is looked for, pages left. */
	uint64_t header_given, rec_len, rec_pos;
	int rec_initial, end_given;
	uint64_t cursor, nsend, ninitial;
	/* Resuming: the parser. */
	uint32_t phase;
	uint64_t want, got, rec_page;
	int end_seen;
	char error[128];

	int logging;
	uint32_t nranges;
	uint64_t ranges[FV_MAX_RANGES][2];

	/* A v1 device: its data section, and the buffer given out in it. */
	int v1;
	uint64_t sec_off, sec_len, v1_size;
	int v1_out;
};

/* A type1 container file: this header, then its dirty log (a bit per
 * FV_LOG_PAGE of IOVA space). The first fields are fv_shared's. */
struct fc_shared {
	char magic[8];
	uint32_t version, pad;
	uint64_t file_size;
	pthread_mutex_t lock;
	uint64_t guest_size, nlog, log_off;
	int dirty_cap, logging;
	uint64_t starts, stops, reports, maps, other_ioctls;
	uint32_t nmaps;
	uint64_t map[FC_MAX_MAPS][2]; /* iova, size */
};

enum fv_kind { FV_KIND_DEVICE, FV_KIND_CONTAINER };

/* A device or container file mapped in this process, known by its inode. */
struct fv_map {
	dev_t dev;
	ino_t ino;
	void *p;
	enum fv_kind kind;
};

/* In this process: a device's DMA goes through a container (the VMM set
 * its group in it), whose log it dirties. */
struct fv_link {
	struct fv_shared *sh;
	struct fc_shared *c;
};
#define FV_MAX_LINKS 8

/* A data fd this process was given. */
struct fv_data {
	int fd;
	dev_t dev;
	ino_t ino;
	struct fv_shared *sh;
	uint64_t session;
	int saving;
};

static struct {
	pthread_once_t once;
	int (*fstat)(int, struct stat *);
	ssize_t (*readlink)(const char *, char *, size_t);
	int (*ioctl)(int, unsigned long, ...);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*write)(int, const void *, size_t);
	ssize_t (*pread)(int, void *, size_t, off_t);
	ssize_t (*pwrite)(int, const void *, size_t, off_t);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*close)(int);
} real = {PTHREAD_ONCE_INIT};

static pthread_mutex_t fv_table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fv_map fv_maps[FV_MAX_MAPS];
static int fv_nmaps;
static struct fv_data fv_data[FV_MAX_DATA];
static atomic_int fv_ndata;
static struct fv_link fv_links[FV_MAX_LINKS];

static void
fv_resolve(void)
{
	*(void **)&real.fstat = dlsym(RTLD_NEXT, "fstat");
	*(void **)&real.readlink = dlsym(RTLD_NEXT, "readlink");
	*(void **)&real.ioctl = dlsym(RTLD_NEXT, "ioctl");
	*(void **)&real.read = dlsym(RTLD_NEXT, "read");
	*(void **)&real.write = dlsym(RTLD_NEXT, "write");
	*(void **)&real.pread = dlsym(RTLD_NEXT, "pread");
	*(void **)&real.pwrite = dlsym(RTLD_NEXT, "pwrite");
	*(void **)&real.poll = dlsym(RTLD_NEXT, "poll");
	*(void **)&real.close = dlsym(RTLD_NEXT, "close");
}

static void
fv_init(void)
{
	pthread_once(&real.once, fv_resolve);
}

static int
fv_fail(int err)
{
	errno = err;
	return -1;
}

/* ---- the shared device ------------------------------------------------- */

static void
fv_lock(struct fv_shared *sh)
{
	/* A process that died holding it (a VMM killed mid-write) left
	 * nothing half done that matters to a test: carry on. */
	if (pthread_mutex_lock(&sh->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&sh->lock);
}

static void
fv_unlock(struct fv_shared *sh)
{
	pthread_mutex_unlock(&sh->lock);
}

static void
fc_lock(struct fc_shared *c)
{
	if (pthread_mutex_lock(&c->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&c->lock);
}

static void
fc_unlock(struct fc_shared *c)
{
	pthread_mutex_unlock(&c->lock);
}

static uint8_t *
fv_at(struct fv_shared *sh, uint64_t off)
{
	return (uint8_t *)sh + off;
}

static int
fv_bit(struct fv_shared *sh, uint64_t off, uint64_t i)
{
	return (fv_at(sh, off)[i / 8] >> (i % 8)) & 1;
}

static void
fv_bit_set(struct fv_shared *sh, uint64_t off, uint64_t i, int v)
{
	uint8_t *p = fv_at(sh, off) + i / 8;

	*p = (uint8_t)(v ? *p | (1u << (i % 8)) : *p & ~(1u << (i % 8)));
}

uint64_t
fake_vfio_fnv(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t
fv_digest(struct fv_shared *sh)
{
	return fake_vfio_fnv(fv_at(sh, sh->state_off), sh->state_size);
}

static uint64_t
fv_record_size(const struct fv_shared *sh)
{
	return FV_FRAME + sh->page_size;
}

static int
fv_running(uint32_t state)
{
	return state == V2_STATE_RUNNING || state == V2_STATE_RUNNING_P2P ||
	    state == V2_STATE_PRE_COPY || state == V2_STATE_PRE_COPY_P2P;
}

static void
fv_put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4); /* the stream is little-endian, as the hosts are */
}

static void
fv_put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static uint32_t
fv_get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t
fv_get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

/* ---- which fds are ours ------------------------------------------------ */

/* What a file's magic says it is: 0 with *kind and *version, or -1. */
static int
fv_magic_kind(const char *magic, enum fv_kind *kind, uint32_t *version)
{
	if (memcmp(magic, FV_MAGIC, 8) == 0) {
		*kind = FV_KIND_DEVICE;
		*version = FV_VERSION;
		return 0;
	}
	if (memcmp(magic, FC_MAGIC, 8) == 0) {
		*kind = FV_KIND_CONTAINER;
		*version = FC_VERSION;
		return 0;
	}
	return -1;
}

/* The device or container behind fd, mapping its file on first sight;
 * NULL when fd is neither (errno untouched). */
static void *
fv_object(int fd, enum fv_kind *kind)
{
	struct fc_shared *hdr;
	struct stat st;
	char magic[8], link[32];
	int i, own, saved = errno;
	uint32_t version;
	void *p, *found = NULL;

	fv_init();
	if (fd < 0 || real.fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size < (off_t)sizeof(struct fc_shared)) {
		errno = saved;
		return NULL;
	}
	pthread_mutex_lock(&fv_table_lock);
	for (i = 0; i < fv_nmaps; i++)
		if (fv_maps[i].dev == st.st_dev && fv_maps[i].ino == st.st_ino) {
			found = fv_maps[i].p;
			*kind = fv_maps[i].kind;
			goto out;
		}
	if (fv_nmaps == FV_MAX_MAPS || real.pread(fd, magic, sizeof(magic), 0) != sizeof(magic) ||
	    fv_magic_kind(magic, kind, &version) != 0)
		goto out;
	/* Mapped through an open file description of our own: a mapping
	 * holds its file, and fd's must close when its last fd does. */
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((own = open(link, O_RDWR | O_CLOEXEC)) < 0)
		goto out;
	p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, own, 0);
	real.close(own);
	if (p == MAP_FAILED)
		goto out;
	hdr = p; /* the fields both headers share */
	if (hdr->version != version || hdr->file_size != (uint64_t)st.st_size ||
	    (*kind == FV_KIND_DEVICE && st.st_size < (off_t)sizeof(struct fv_shared))) {
		munmap(p, (size_t)st.st_size);
		goto out;
	}
	found = p;
	fv_maps[fv_nmaps].dev = st.st_dev;
	fv_maps[fv_nmaps].ino = st.st_ino;
	fv_maps[fv_nmaps].kind = *kind;
	fv_maps[fv_nmaps++].p = p;
out:
	pthread_mutex_unlock(&fv_table_lock);
	errno = saved;
	return found;
}

/* The device behind fd; NULL when fd is not a fake device. */
static struct fv_shared *
fv_device(int fd)
{
	enum fv_kind kind;
	void *p = fv_object(fd, &kind);

	return p != NULL && kind == FV_KIND_DEVICE ? p : NULL;
}

/* The container behind fd; NULL when fd is not a fake container. */
static struct fc_shared *
fv_container(int fd)
{
	enum fv_kind kind;
	void *p = fv_object(fd, &kind);

	return p != NULL && kind == FV_KIND_CONTAINER ? p : NULL;
}

/* The data fd entry of fd, copied out; 0 when fd is none of ours. */
static int
fv_data_of(int fd, struct fv_data *out)
{
	struct stat st;
	int i, found = 0;

	if (atomic_load(&fv_ndata) == 0 || fd < 0)
		return 0;
	fv_init();
	pthread_mutex_lock(&fv_table_lock);
	for (i = 0; i < FV_MAX_DATA; i++)
		if (fv_data[i].sh != NULL && fv_data[i].fd == fd) {
			*out = fv_data[i];
			found = 1;
			break;
		}
	pthread_mutex_unlock(&fv_table_lock);
	/* An fd number closed behind our back and reused is not ours. */
	if (found && (real.fstat(fd, &st) != 0 || st.st_dev != out->dev || st.st_ino != out->ino))
		found = 0;
	return found;
}

static void
fv_data_forget(int fd)
{
	int i;

	if (atomic_load(&fv_ndata) == 0)
		return;
	pthread_mutex_lock(&fv_table_lock);
	for (i = 0; i < FV_MAX_DATA; i++)
		if (fv_data[i].sh != NULL && fv_data[i].fd == fd) {
			fv_data[i].sh = NULL;
			atomic_fetch_sub(&fv_ndata, 1);
		}
	pthread_mutex_unlock(&fv_table_lock);
}

/* A data fd for the session now open on sh. */
static int
fv_data_new(struct fv_shared *sh, int saving)
{
	struct stat st;
	int fd, i;

	if ((fd = memfd_create("fake-vfio-data", MFD_CLOEXEC)) < 0)
		return -errno;
	if (real.fstat(fd, &st) != 0) {
		real.close(fd);
		return -EIO;
	}
	fv_data_forget(fd);
	pthread_mutex_lock(&fv_table_lock);
	for (i = 0; i < FV_MAX_DATA && fv_data[i].sh != NULL; i++)
		;
	if (i < FV_MAX_DATA) {
		fv_data[i] = (struct fv_data){fd, st.st_dev, st.st_ino, sh, sh->session, saving};
		atomic_fetch_add(&fv_ndata, 1);
	}
	pthread_mutex_unlock(&fv_table_lock);
	if (i == FV_MAX_DATA) {
		real.close(fd);
		return -EMFILE;
	}
	return fd;
}

/* ---- sessions and the FSM ---------------------------------------------- */

static void
fv_session_end(struct fv_shared *sh)
{
	sh->kind = SESSION_NONE;
	sh->rec_len = sh->rec_pos = 0;
}

static void
fv_session_begin(struct fv_shared *sh, uint32_t kind)
{
	uint64_t bytes = (sh->npages + 7) / 8;

	sh->session++;
	sh->sessions++;
	sh->kind = kind;
	sh->header_given = sh->rec_len = sh->rec_pos = sh->cursor = 0;
	sh->rec_initial = sh->end_given = 0;
	sh->phase = PH_HEADER;
	sh->want = FV_STREAM_HEADER;
	sh->got = 0;
	sh->end_seen = 0;
	sh->error[0] = '\0';
	/* Saving starts with every page to send, all of it initial data. */
	memset(fv_at(sh, sh->send_off), kind == SESSION_SAVE ? 0xff : 0, bytes);
	memset(fv_at(sh, sh->initial_off), kind == SESSION_SAVE ? 0xff : 0, bytes);
	if (sh->npages % 8 != 0 && kind == SESSION_SAVE) {
		fv_at(sh, sh->send_off)[bytes - 1] = (uint8_t)((1u << (sh->npages % 8)) - 1);
		fv_at(sh, sh->initial_off)[bytes - 1] = (uint8_t)((1u << (sh->npages % 8)) - 1);
	}
	sh->nsend = sh->ninitial = kind == SESSION_SAVE ? sh->npages : 0;
}

static void
fv_stream_error(struct fv_shared *sh, const char *why)
{
	if (sh->error[0] == '\0')
		snprintf(sh->error, sizeof(sh->error), "%s", why);
	sh->phase = PH_DISCARD;
}

/* RESUMING -> anything: was the whole stream there, and good? */
static int
fv_resume_complete(struct fv_shared *sh)
{
	if (sh->error[0] == '\0' && (sh->phase != PH_FRAME || sh->got != 0))
		fv_stream_error(sh, "the stream stops inside its header or a frame");
	if (sh->error[0] == '\0' && !sh->end_seen)
		fv_stream_error(sh, "the stream ends without its END frame");
	return sh->error[0] == '\0';
}

/* One arc the uAPI defines. Leaving a session ends it; RESUMING -> STOP
 * with a bad or short stream puts the device in ERROR. */
static int
fv_arc(struct fv_shared *sh, uint32_t to)
{
	uint32_t from = sh->state;

	if ((v2_state_is_saving(from) && !v2_state_is_saving(to)) || from == V2_STATE_RESUMING) {
		if (from == V2_STATE_RESUMING && !fv_resume_complete(sh)) {
			fv_session_end(sh);
			sh->state = V2_STATE_ERROR;
			return -EINVAL;
		}
		fv_session_end(sh);
	}
	if (v2_state_is_saving(to) && !v2_state_is_saving(from))
		fv_session_begin(sh, SESSION_SAVE);
	else if (to == V2_STATE_RESUMING)
		fv_session_begin(sh, SESSION_RESUME);
	sh->state = to;
	return 0;
}

/* SET of MIG_DEVICE_STATE: the kernel walks a combination transition arc
 * by arc itself; the data fd is the one of the session the last arc opened. */
static int
fv_set_state(struct fv_shared *sh, struct vfio_device_feature_mig_state *st)
{
	uint32_t path[V2_FSM_MAX_STEPS];
	uint64_t before;
	int n, i, err, fd;

	st->data_fd = -1;
	fv_lock(sh);
	if (st->device_state == sh->state && v2_state_supported(st->device_state, sh->mig_flags)) {
		fv_unlock(sh);
		return 0;
	}
	n = v2_fsm_plan(sh->state, st->device_state, sh->mig_flags, path, V2_FSM_MAX_STEPS);
	if (n <= 0) {
		fv_unlock(sh);
		return fv_fail(EINVAL);
	}
	before = sh->session;
	for (i = 0; i < n; i++)
		if ((err = fv_arc(sh, path[i])) != 0) {
			fv_unlock(sh);
			return fv_fail(-err);
		}
	sh->set_states++;
	if (sh->session == before || sh->kind == SESSION_NONE) {
		fv_unlock(sh);
		return 0;
	}
	fd = fv_data_new(sh, sh->kind == SESSION_SAVE);
	if (fd < 0) {
		fv_session_end(sh);
		sh->state = V2_STATE_ERROR;
		fv_unlock(sh);
		return fv_fail(-fd);
	}
	fv_unlock(sh);
	st->data_fd = fd;
	return 0;
}

/* ---- the saving stream ------------------------------------------------- */

/* The next record (or END) into the buffer; 0 when there is nothing now. */
static int
fv_next_record(struct fv_shared *sh)
{
	uint8_t *w = fv_at(sh, sh->work_off);
	uint64_t i, page;

	for (i = 0; i < sh->npages && sh->nsend > 0; i++) {
		page = (sh->cursor + i) % sh->npages;
		if (!fv_bit(sh, sh->send_off, page))
			continue;
		fv_put32(w, FV_RECORD);
		fv_put32(w + 4, 0);
		fv_put64(w + 8, page);
		memcpy(w + FV_FRAME, fv_at(sh, sh->state_off) + page * sh->page_size,
		    sh->page_size);
		sh->rec_initial = fv_bit(sh, sh->initial_off, page);
		sh->ninitial -= (uint64_t)sh->rec_initial;
		sh->nsend--;
		fv_bit_set(sh, sh->send_off, page, 0);
		fv_bit_set(sh, sh->initial_off, page, 0);
		sh->rec_len = fv_record_size(sh);
		sh->rec_pos = 0;
		sh->cursor = page + 1;
		return 1;
	}
	if (sh->state != V2_STATE_STOP_COPY || sh->end_given)
		return 0;
	fv_put32(w, FV_END);
	fv_put32(w + 4, 0);
	fv_put64(w + 8, fv_digest(sh));
	sh->rec_initial = 0;
	sh->rec_len = FV_FRAME;
	sh->rec_pos = 0;
	sh->end_given = 1;
	return 1;
}

static ssize_t
fv_save_read(struct fv_shared *sh, uint8_t *buf, size_t len)
{
	uint8_t hdr[FV_STREAM_HEADER];
	size_t n = 0, k;

	fv_put32(hdr, FV_STREAM_MAGIC);
	fv_put32(hdr + 4, FV_VERSION);
	fv_put64(hdr + 8, sh->state_size);
	fv_put32(hdr + 16, sh->page_size);
	fv_put32(hdr + 20, 0);
	while (n < len) {
		if (sh->header_given < FV_STREAM_HEADER) {
			k = FV_STREAM_HEADER - sh->header_given;
			k = k < len - n ? k : len - n;
			memcpy(buf + n, hdr + sh->header_given, k);
			sh->header_given += k;
		} else if (sh->rec_pos < sh->rec_len) {
			k = sh->rec_len - sh->rec_pos;
			k = k < len - n ? k : len - n;
			memcpy(buf + n, fv_at(sh, sh->work_off) + sh->rec_pos, k);
			sh->rec_pos += k;
		} else if (fv_next_record(sh)) {
			continue;
		} else {
			break;
		}
		n += k;
	}
	if (n == 0 && sh->state != V2_STATE_STOP_COPY)
		return fv_fail(ENOMSG); /* pre-copy: nothing now */
	return (ssize_t)n;
}

static int
fv_precopy_info(struct fv_shared *sh, struct vfio_precopy_info *info)
{
	uint64_t rec = fv_record_size(sh), partial = sh->rec_len - sh->rec_pos;

	if (info->argsz < sizeof(*info))
		return fv_fail(EINVAL);
	info->flags = 0;
	info->initial_bytes = (FV_STREAM_HEADER - sh->header_given) +
	    (sh->rec_initial ? partial : 0) + sh->ninitial * rec;
	info->dirty_bytes = (sh->rec_initial ? 0 : partial) + (sh->nsend - sh->ninitial) * rec;
	return 0;
}

static uint64_t
fv_stop_copy_length(struct fv_shared *sh)
{
	uint64_t rec = fv_record_size(sh);

	if (sh->kind != SESSION_SAVE)
		return FV_STREAM_HEADER + sh->npages * rec + FV_FRAME;
	return (FV_STREAM_HEADER - sh->header_given) + (sh->rec_len - sh->rec_pos) +
	    sh->nsend * rec + (sh->end_given ? 0 : FV_FRAME);
}

/* ---- the resuming stream ----------------------------------------------- */

/* A complete unit of `want` bytes is in the buffer: act on it. */
static void
fv_load_unit(struct fv_shared *sh)
{
	const uint8_t *p = fv_at(sh, sh->work_off);
	uint32_t kind;
	uint64_t arg;

	sh->got = 0;
	switch (sh->phase) {
	case PH_HEADER:
		if (fv_get32(p) != FV_STREAM_MAGIC || fv_get32(p + 4) != FV_VERSION)
			fv_stream_error(sh, "not a fake-vfio stream (bad magic or version)");
		else if (fv_get64(p + 8) != sh->state_size || fv_get32(p + 16) != sh->page_size)
			fv_stream_error(sh, "stream of a device of another size");
		if (sh->phase == PH_DISCARD)
			return;
		sh->phase = PH_FRAME;
		sh->want = FV_FRAME;
		return;
	case PH_FRAME:
		kind = fv_get32(p);
		arg = fv_get64(p + 8);
		if (sh->end_seen)
			fv_stream_error(sh, "data after the END frame");
		else if (fv_get32(p + 4) != 0 || (kind != FV_RECORD && kind != FV_END))
			fv_stream_error(sh, "bad frame header");
		else if (kind == FV_RECORD && arg >= sh->npages)
			fv_stream_error(sh, "record of a page beyond the state");
		if (sh->phase == PH_DISCARD)
			return;
		if (kind == FV_END) {
			sh->end_seen = 1;
			if (arg != fv_digest(sh))
				fv_stream_error(sh,
				    "the image loaded is not the one saved (digest)");
			return;
		}
		sh->rec_page = arg;
		sh->phase = PH_PAYLOAD;
		sh->want = sh->page_size;
		return;
	case PH_PAYLOAD:
		memcpy(fv_at(sh, sh->state_off) + sh->rec_page * sh->page_size, p, sh->page_size);
		sh->phase = PH_FRAME;
		sh->want = FV_FRAME;
		return;
	case PH_DISCARD:
		break;
	}
}

static ssize_t
fv_resume_write(struct fv_shared *sh, const uint8_t *buf, size_t len)
{
	size_t n = 0, k;

	while (n < len && sh->phase != PH_DISCARD) {
		k = sh->want - sh->got;
		k = k < len - n ? k : len - n;
		memcpy(fv_at(sh, sh->work_off) + sh->got, buf + n, k);
		sh->got += k;
		n += k;
		if (sh->got == sh->want)
			fv_load_unit(sh);
	}
	/* A bad stream is taken whole: the writer learns it at RESUMING ->
	 * STOP, as from a kernel driver. */
	return (ssize_t)len;
}

/* ---- DMA logging ------------------------------------------------------- */

static int
fv_pow2(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

static int
fv_log_start(struct fv_shared *sh, struct vfio_device_feature_dma_logging_control *ctl)
{
	struct vfio_device_feature_dma_logging_range r[FV_MAX_RANGES];
	uint32_t i, j;

	if (ctl->num_ranges == 0 || ctl->num_ranges > FV_MAX_RANGES || !fv_pow2(ctl->page_size) ||
	    ctl->ranges == 0)
		return -EINVAL;
	memcpy(r, (const void *)(uintptr_t)ctl->ranges, ctl->num_ranges * sizeof(r[0]));
	for (i = 0; i < ctl->num_ranges; i++) {
		if (r[i].length == 0 || r[i].iova + r[i].length < r[i].iova)
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (r[i].iova < r[j].iova + r[j].length &&
			    r[j].iova < r[i].iova + r[i].length)
				return -EINVAL;
	}
	fv_lock(sh);
	if (sh->logging) {
		fv_unlock(sh);
		return -EBUSY;
	}
	sh->logging = 1;
	sh->nranges = ctl->num_ranges;
	for (i = 0; i < ctl->num_ranges; i++) {
		sh->ranges[i][0] = r[i].iova;
		sh->ranges[i][1] = r[i].length;
	}
	memset(fv_at(sh, sh->log_off), 0, (sh->nlog + 7) / 8);
	fv_unlock(sh);
	ctl->page_size = FV_LOG_PAGE;
	return 0;
}

static void
fv_log_clear(struct fv_shared *sh)
{
	sh->logging = 0;
	sh->nranges = 0;
	memset(fv_at(sh, sh->log_off), 0, (sh->nlog + 7) / 8);
}

/* Read and clear the log over [iova, iova + length) in bits of page_size. */
static int
fv_log_report(struct fv_shared *sh, struct vfio_device_feature_dma_logging_report *rep)
{
	uint64_t *bm = (uint64_t *)(uintptr_t)rep->bitmap, p, first, last, bit;
	uint32_t i;

	if (rep->page_size < FV_LOG_PAGE || !fv_pow2(rep->page_size) || rep->bitmap == 0 ||
	    rep->iova % rep->page_size != 0)
		return -EINVAL;
	if (rep->iova + rep->length < rep->iova)
		return -EOVERFLOW;
	fv_lock(sh);
	if (!sh->logging) {
		fv_unlock(sh);
		return -EINVAL;
	}
	/* What the device does not track, it cannot report. */
	for (i = 0; i < sh->nranges; i++)
		if (rep->iova >= sh->ranges[i][0] &&
		    rep->iova + rep->length <= sh->ranges[i][0] + sh->ranges[i][1])
			break;
	if (i == sh->nranges) {
		fv_unlock(sh);
		return -EINVAL;
	}
	first = rep->iova / FV_LOG_PAGE;
	last = (rep->iova + rep->length + FV_LOG_PAGE - 1) / FV_LOG_PAGE;
	for (p = first; p < last && p < sh->nlog; p++) {
		if (!fv_bit(sh, sh->log_off, p))
			continue;
		fv_bit_set(sh, sh->log_off, p, 0);
		bit = (p * FV_LOG_PAGE - rep->iova) / rep->page_size;
		bm[bit / 64] |= 1ull << (bit % 64);
	}
	fv_unlock(sh);
	return 0;
}

/* ---- ioctl ------------------------------------------------------------- */

/* vfio_check_feature(): 1 to go on, 0 for a probe answered, -errno. */
static int
fv_check_feature(uint32_t flags, size_t len, uint32_t ops, size_t minsz)
{
	if ((flags & (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET)) & ~ops)
		return -EINVAL;
	if (flags & VFIO_DEVICE_FEATURE_PROBE)
		return 0;
	if (!(flags & (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET)))
		return -EINVAL;
	return len < minsz ? -EINVAL : 1;
}

static int
fv_feature(struct fv_shared *sh, struct vfio_device_feature *f)
{
	const uint32_t get = VFIO_DEVICE_FEATURE_GET, set = VFIO_DEVICE_FEATURE_SET;
	size_t len;
	int r;

	if (f->argsz < sizeof(*f) ||
	    (f->flags & ~(VFIO_DEVICE_FEATURE_MASK | get | set | VFIO_DEVICE_FEATURE_PROBE)) ||
	    ((f->flags & get) && (f->flags & set) && !(f->flags & VFIO_DEVICE_FEATURE_PROBE)))
		return fv_fail(EINVAL);
	len = f->argsz - sizeof(*f);
	switch (f->flags & VFIO_DEVICE_FEATURE_MASK) {
	case VFIO_DEVICE_FEATURE_MIGRATION:
		if ((r = fv_check_feature(f->flags, len, get,
			 sizeof(struct vfio_device_feature_migration))) <= 0)
			return r == 0 ? 0 : fv_fail(-r);
		((struct vfio_device_feature_migration *)(void *)f->data)->flags = sh->mig_flags;
		return 0;
	case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE: {
		struct vfio_device_feature_mig_state *st = (void *)f->data;

		if ((r = fv_check_feature(f->flags, len, get | set, sizeof(*st))) <= 0)
			return r == 0 ? 0 : fv_fail(-r);
		if (f->flags & set)
			return fv_set_state(sh, st);
		fv_lock(sh);
		st->device_state = sh->state;
		fv_unlock(sh);
		st->data_fd = -1;
		return 0;
	}
	case VFIO_DEVICE_FEATURE_MIG_DATA_SIZE:
		if (!(sh->mig_flags & VFIO_MIGRATION_PRE_COPY))
			return fv_fail(ENOTTY); /* came with PRE_COPY, in 6.2 */
		if ((r = fv_check_feature(f->flags, len, get,
			 sizeof(struct vfio_device_feature_mig_data_size))) <= 0)
			return r == 0 ? 0 : fv_fail(-r);
		fv_lock(sh);
		((struct vfio_device_feature_mig_data_size *)(void *)f->data)->stop_copy_length =
		    fv_stop_copy_length(sh);
		fv_unlock(sh);
		return 0;
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_START:
		if ((r = fv_check_feature(f->flags, len, set,
			 sizeof(struct vfio_device_feature_dma_logging_control))) <= 0)
			return r == 0 ? 0 : fv_fail(-r);
		r = fv_log_start(sh, (void *)f->data);
		return r == 0 ? 0 : fv_fail(-r);
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP:
		if ((r = fv_check_feature(f->flags, len, set, 0)) <= 0)
			return r == 0 ? 0 : fv_fail(-r);
		fv_lock(sh);
		fv_log_clear(sh);
		fv_unlock(sh);
		return 0;
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT:
		if ((r = fv_check_feature(f->flags, len, get,
			 sizeof(struct vfio_device_feature_dma_logging_report))) <= 0)
			return r == 0 ? 0 : fv_fail(-r);
		r = fv_log_report(sh, (void *)f->data);
		return r == 0 ? 0 : fv_fail(-r);
	}
	return fv_fail(ENOTTY);
}

/* The v1 migration region as released kernels numbered it: a type
 * capability (3, 1), the fields and a data section read and written, not
 * mapped. */
static int
fv_v1_region_info(struct fv_shared *sh, struct vfio_region_info *info)
{
	struct vfio_region_info_cap_type cap;
	uint32_t need = (uint32_t)(sizeof(*info) + sizeof(cap));

	info->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
	    VFIO_REGION_INFO_FLAG_CAPS;
	info->size = FV_V1_DATA + sh->sec_len;
	if (info->argsz < need) {
		info->argsz = need;
		return 0;
	}
	memset(&cap, 0, sizeof(cap));
	cap.header.id = VFIO_REGION_INFO_CAP_TYPE;
	cap.header.version = 1;
	cap.type = 3;
	cap.subtype = 1;
	memcpy((uint8_t *)info + sizeof(*info), &cap, sizeof(cap));
	info->cap_offset = sizeof(*info);
	return 0;
}

static int
fv_region_info(struct fv_shared *sh, struct vfio_region_info *info)
{
	if (info->argsz < sizeof(*info) || info->index >= FV_NUM_REGIONS + (sh->v1 ? 1u : 0u))
		return fv_fail(EINVAL);
	info->cap_offset = 0;
	info->offset = (uint64_t)info->index << FV_REGION_SHIFT;
	info->flags = 0;
	info->size = 0;
	if (info->index == FV_CONFIG_INDEX) {
		info->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
		info->size = sizeof(((struct fv_shared *)NULL)->config);
	}
	if (info->index == FV_V1_INDEX)
		return fv_v1_region_info(sh, info);
	return 0;
}

/* Under lock. */
static void
fv_reset_locked(struct fv_shared *sh)
{
	sh->resets++;
	fv_session_end(sh);
	fv_log_clear(sh);
	sh->v1_out = 0;
	sh->v1_size = 0;
	/* A reset device has lost its state. */
	memset(fv_at(sh, sh->state_off), 0, sh->state_size);
	sh->state = V2_STATE_RUNNING;
}

static int
fv_reset(struct fv_shared *sh)
{
	fv_lock(sh);
	fv_reset_locked(sh);
	fv_unlock(sh);
	return 0;
}

static int
fv_device_ioctl(struct fv_shared *sh, unsigned long req, void *arg)
{
	struct vfio_device_info *info = arg;

	switch (req) {
	case VFIO_DEVICE_GET_INFO:
		if (info->argsz < offsetof(struct vfio_device_info, cap_offset))
			return fv_fail(EINVAL);
		info->flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
		info->num_regions = FV_NUM_REGIONS + (sh->v1 ? 1u : 0u);
		info->num_irqs = 5;
		if (info->argsz >= sizeof(*info))
			info->cap_offset = 0;
		return 0;
	case VFIO_DEVICE_GET_REGION_INFO:
		return fv_region_info(sh, arg);
	case VFIO_DEVICE_RESET:
		return fv_reset(sh);
	case VFIO_DEVICE_FEATURE:
		/* A v1 device's kernel (5.8-5.17) has no v2 migration. */
		if (sh->v1)
			break;
		return fv_feature(sh, arg);
	}
	/* Binding, attaching, mapping, interrupts: the VMM's business. */
	fv_lock(sh);
	sh->other_ioctls++;
	fv_unlock(sh);
	return fv_fail(req == VFIO_DEVICE_BIND_IOMMUFD ? EBUSY : ENOTTY);
}

static int
fv_data_ioctl(const struct fv_data *d, unsigned long req, void *arg)
{
	int err;

	if (req != VFIO_MIG_GET_PRECOPY_INFO)
		return fv_fail(ENOTTY);
	fv_lock(d->sh);
	if (d->session != d->sh->session || !d->saving ||
	    (d->sh->state != V2_STATE_PRE_COPY && d->sh->state != V2_STATE_PRE_COPY_P2P))
		err = fv_fail(EINVAL);
	else
		err = fv_precopy_info(d->sh, arg);
	fv_unlock(d->sh);
	return err;
}

/* ---- the type1 container ----------------------------------------------- */

static int
fc_info(struct fc_shared *c, struct vfio_iommu_type1_info *info)
{
	struct vfio_iommu_type1_info_cap_migration cap;
	uint32_t need = (uint32_t)(sizeof(*info) + sizeof(cap));

	if (info->argsz < sizeof(*info))
		return fv_fail(EINVAL);
	info->flags = VFIO_IOMMU_INFO_PGSIZES;
	info->iova_pgsizes = FV_LOG_PAGE;
	info->cap_offset = 0;
	if (!c->dirty_cap)
		return 0;
	info->flags |= VFIO_IOMMU_INFO_CAPS;
	if (info->argsz < need) {
		info->argsz = need;
		return 0;
	}
	memset(&cap, 0, sizeof(cap));
	cap.header.id = VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION;
	cap.header.version = 1;
	cap.pgsize_bitmap = FV_LOG_PAGE;
	cap.max_dirty_bitmap_size = FC_BITMAP_MAX;
	memcpy((uint8_t *)info + sizeof(*info), &cap, sizeof(cap));
	info->cap_offset = sizeof(*info);
	return 0;
}

/* VFIO_IOMMU_MAP_DMA: the VMM maps guest memory (recorded, not mapped). */
static int
fc_map(struct fc_shared *c, struct vfio_iommu_type1_dma_map *m)
{
	uint32_t i;
	int err = 0;

	if (m->argsz < sizeof(*m) || m->size == 0 || m->iova % FV_LOG_PAGE != 0 ||
	    m->size % FV_LOG_PAGE != 0 || m->iova > c->guest_size || m->size > c->guest_size - m->iova)
		return fv_fail(EINVAL);
	fc_lock(c);
	for (i = 0; i < c->nmaps; i++)
		if (m->iova < c->map[i][0] + c->map[i][1] && c->map[i][0] < m->iova + m->size)
			err = EEXIST;
	if (err == 0 && c->nmaps == FC_MAX_MAPS)
		err = ENOSPC;
	if (err == 0) {
		c->map[c->nmaps][0] = m->iova;
		c->map[c->nmaps++][1] = m->size;
		c->maps++;
	}
	fc_unlock(c);
	return err == 0 ? 0 : fv_fail(err);
}

/* Does [iova, iova + size) begin or end inside a mapping? The kernel
 * refuses such a report (vfio_iova_dirty_bitmap). Under lock. */
static int
fc_cuts_a_mapping(struct fc_shared *c, uint64_t iova, uint64_t size)
{
	uint64_t end = iova + size;
	uint32_t i;

	for (i = 0; i < c->nmaps; i++)
		if ((iova > c->map[i][0] && iova < c->map[i][0] + c->map[i][1]) ||
		    (end > c->map[i][0] && end < c->map[i][0] + c->map[i][1]))
			return 1;
	return 0;
}

/* GET_BITMAP, get-and-clear, as type1 checks it. Under lock. */
static int
fc_get_bitmap(struct fc_shared *c, struct vfio_iommu_type1_dirty_bitmap_get *g)
{
	uint64_t pages, p, first;

	if (!c->logging || g->bitmap.pgsize != FV_LOG_PAGE || g->size == 0 ||
	    g->iova % FV_LOG_PAGE != 0 || g->size % FV_LOG_PAGE != 0 || g->iova + g->size < g->iova ||
	    g->bitmap.data == NULL)
		return -EINVAL;
	pages = g->size / FV_LOG_PAGE;
	if (g->bitmap.size < (pages + 63) / 64 * 8 || g->bitmap.size > FC_BITMAP_MAX ||
	    fc_cuts_a_mapping(c, g->iova, g->size))
		return -EINVAL;
	c->reports++;
	first = g->iova / FV_LOG_PAGE;
	for (p = 0; p < pages && first + p < c->nlog; p++) {
		if (!((fv_at((struct fv_shared *)(void *)c, c->log_off)[(first + p) / 8] >>
			  ((first + p) % 8)) & 1))
			continue;
		fv_at((struct fv_shared *)(void *)c, c->log_off)[(first + p) / 8] &=
		    (uint8_t)~(1u << ((first + p) % 8));
		g->bitmap.data[p / 64] |= 1ull << (p % 64);
	}
	return 0;
}

static int
fc_dirty(struct fc_shared *c, struct vfio_iommu_type1_dirty_bitmap *db)
{
	int err = 0;

	if (db->argsz < sizeof(*db) || !c->dirty_cap)
		return fv_fail(EINVAL);
	fc_lock(c);
	switch (db->flags) {
	case VFIO_IOMMU_DIRTY_PAGES_FLAG_START:
		if (!c->logging)
			memset(fv_at((struct fv_shared *)(void *)c, c->log_off), 0, (c->nlog + 7) / 8);
		c->logging = 1;
		c->starts++;
		break;
	case VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP:
		c->logging = 0;
		c->stops++;
		break;
	case VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP:
		err = db->argsz < sizeof(*db) + sizeof(struct vfio_iommu_type1_dirty_bitmap_get)
		    ? -EINVAL
		    : fc_get_bitmap(c, (void *)db->data);
		break;
	default:
		err = -EINVAL;
	}
	fc_unlock(c);
	return err == 0 ? 0 : fv_fail(-err);
}

static int
fc_ioctl(struct fc_shared *c, unsigned long req, void *arg)
{
	switch (req) {
	case VFIO_GET_API_VERSION:
		return VFIO_API_VERSION;
	case VFIO_CHECK_EXTENSION:
		return (uintptr_t)arg == VFIO_TYPE1v2_IOMMU || (uintptr_t)arg == VFIO_TYPE1_IOMMU;
	case VFIO_IOMMU_GET_INFO:
		return fc_info(c, arg);
	case VFIO_IOMMU_MAP_DMA:
		return fc_map(c, arg);
	case VFIO_IOMMU_DIRTY_PAGES:
		return fc_dirty(c, arg);
	}
	/* Unmapping, setting an IOMMU: the VMM's business. */
	fc_lock(c);
	c->other_ioctls++;
	fc_unlock(c);
	return fv_fail(ENOTTY);
}

int
ioctl(int fd, unsigned long req, ...)
{
	struct fv_shared *sh;
	struct fc_shared *c;
	struct fv_data d;
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	fv_init();
	if (fv_data_of(fd, &d))
		return fv_data_ioctl(&d, req, arg);
	if ((sh = fv_device(fd)) != NULL)
		return fv_device_ioctl(sh, req, arg);
	if ((c = fv_container(fd)) != NULL)
		return fc_ioctl(c, req, arg);
	return real.ioctl(fd, req, arg);
}

/* ---- the other calls --------------------------------------------------- */

static void
fv_fake_stat(struct fv_shared *sh, struct stat *st)
{
	st->st_mode = sh->anon ? (S_IRUSR | S_IWUSR) : (S_IFCHR | S_IRUSR | S_IWUSR);
	st->st_rdev = sh->anon ? 0 : makedev(FV_MAJOR, sh->minor);
	st->st_size = 0;
	st->st_blocks = 0;
}

int
fstat(int fd, struct stat *st)
{
	struct fv_shared *sh;
	int r;

	fv_init();
	if ((r = real.fstat(fd, st)) == 0 && S_ISREG(st->st_mode) && (sh = fv_device(fd)) != NULL)
		fv_fake_stat(sh, st);
	else if (r == 0 && S_ISREG(st->st_mode) && fv_container(fd) != NULL) {
		st->st_mode = S_IFCHR | 0666;
		st->st_rdev = makedev(FC_MAJOR, FC_MINOR);
		st->st_size = 0;
		st->st_blocks = 0;
	}
	return r;
}

int
fstat64(int fd, struct stat64 *st)
{
	_Static_assert(sizeof(struct stat64) == sizeof(struct stat), "one stat layout");
	return fstat(fd, (struct stat *)(void *)st);
}

static ssize_t
fv_link(char *buf, size_t len, const char *target)
{
	size_t n = strlen(target);

	memcpy(buf, target, n < len ? n : len);
	return (ssize_t)(n < len ? n : len);
}

ssize_t
readlink(const char *path, char *buf, size_t len)
{
	struct fv_shared *sh;
	char target[64];
	int pid, fd, end = 0;

	fv_init();
	if (!(sscanf(path, "/proc/self/fd/%d%n", &fd, &end) == 1 ||
		(sscanf(path, "/proc/%d/fd/%d%n", &pid, &fd, &end) == 2 && pid == getpid())) ||
	    path[end] != '\0')
		return real.readlink(path, buf, len);
	if ((sh = fv_device(fd)) != NULL) {
		if (sh->anon)
			return fv_link(buf, len, "anon_inode:[vfio-device]");
		snprintf(target, sizeof(target), "/dev/vfio/devices/vfio%u", sh->minor);
		return fv_link(buf, len, target);
	}
	if (fv_container(fd) != NULL)
		return fv_link(buf, len, "/dev/vfio/vfio");
	return real.readlink(path, buf, len);
}

/* ---- the v1 migration region ------------------------------------------ */

/* The v1 device_state of a state of the FSM, and back (bits 0-2:
 * _RUNNING 1, _SAVING 2, _RESUMING 4). */
static uint32_t
fv_v1_encode(uint32_t state)
{
	switch (state) {
	case V2_STATE_RUNNING:
		return 1;
	case V2_STATE_PRE_COPY:
		return 3;
	case V2_STATE_STOP_COPY:
		return 2;
	case V2_STATE_STOP:
		return 0;
	case V2_STATE_RESUMING:
		return 4;
	}
	return 6; /* _SAVING | _RESUMING: the error state */
}

static int
fv_v1_decode(uint32_t v1, uint32_t *state)
{
	static const uint32_t to[8] = {V2_STATE_STOP, V2_STATE_RUNNING, V2_STATE_STOP_COPY,
		V2_STATE_PRE_COPY, V2_STATE_RESUMING, V2_STATE_ERROR, V2_STATE_ERROR,
		V2_STATE_ERROR};

	*state = to[v1 & 7];
	return *state == V2_STATE_ERROR ? -EINVAL : 0;
}

/* Bytes the save has still to give (pending_bytes). Under lock. */
static uint64_t
fv_v1_pending(struct fv_shared *sh)
{
	if (sh->kind != SESSION_SAVE)
		return 0;
	return (FV_STREAM_HEADER - sh->header_given) + (sh->rec_len - sh->rec_pos) +
	    sh->nsend * fv_record_size(sh) +
	    (sh->state == V2_STATE_STOP_COPY && !sh->end_given ? FV_FRAME : 0);
}

/* A write of device_state: the FSM's arcs to it, as v2 takes them. */
static int
fv_v1_set_state(struct fv_shared *sh, uint32_t value)
{
	uint32_t path[V2_FSM_MAX_STEPS], to;
	int n, i, err;

	if (fv_v1_decode(value, &to) != 0)
		return -EINVAL;
	if (to == sh->state)
		return 0;
	if ((n = v2_fsm_plan(sh->state, to, sh->mig_flags, path, V2_FSM_MAX_STEPS)) <= 0)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if ((err = fv_arc(sh, path[i])) != 0)
			return err;
	sh->set_states++;
	sh->v1_out = 0;
	sh->v1_size = 0;
	return 0;
}

/* A read of the fields: pending_bytes says the buffer given out is
 * consumed; data_offset asks for the next one (the stream, up to a
 * section). Under lock. */
static int
fv_v1_fields_read(struct fv_shared *sh, uint64_t roff, void *buf, size_t len)
{
	uint8_t f[FV_V1_FIELDS];
	ssize_t n;

	memset(f, 0, sizeof(f));
	if (roff == 8)
		sh->v1_out = 0;
	if (roff == 16 && sh->kind == SESSION_SAVE && !sh->v1_out) {
		n = fv_save_read(sh, fv_at(sh, sh->sec_off), sh->sec_len);
		sh->v1_size = n > 0 ? (uint64_t)n : 0;
		sh->v1_out = 1;
	}
	fv_put32(f, fv_v1_encode(sh->state));
	fv_put64(f + 8, fv_v1_pending(sh));
	fv_put64(f + 16, FV_V1_DATA);
	fv_put64(f + 24, sh->kind == SESSION_SAVE ? sh->v1_size : 0);
	memcpy(buf, f + roff, len);
	return 0;
}

/* A write of the fields: device_state, or data_size in RESUMING (the
 * section's record is loaded). Under lock. */
static int
fv_v1_fields_write(struct fv_shared *sh, uint64_t roff, const void *buf, size_t len)
{
	uint64_t size;

	if (roff == 0 && len == 4)
		return fv_v1_set_state(sh, fv_get32(buf));
	if (roff != 24 || len != 8 || sh->kind != SESSION_RESUME)
		return -EINVAL;
	if ((size = fv_get64(buf)) > sh->sec_len)
		return -EINVAL;
	fv_resume_write(sh, fv_at(sh, sh->sec_off), size);
	return 0;
}

static ssize_t
fv_v1_io(struct fv_shared *sh, void *buf, size_t len, uint64_t roff, int write)
{
	int err;

	if (roff < FV_V1_FIELDS && len <= FV_V1_FIELDS - roff) {
		fv_lock(sh);
		err = write ? fv_v1_fields_write(sh, roff, buf, len)
			    : fv_v1_fields_read(sh, roff, buf, len);
		fv_unlock(sh);
		return err == 0 ? (ssize_t)len : fv_fail(-err);
	}
	if (roff < FV_V1_DATA || roff - FV_V1_DATA > sh->sec_len ||
	    len > sh->sec_len - (roff - FV_V1_DATA))
		return fv_fail(EINVAL);
	fv_lock(sh);
	if (write)
		memcpy(fv_at(sh, sh->sec_off) + (roff - FV_V1_DATA), buf, len);
	else
		memcpy(buf, fv_at(sh, sh->sec_off) + (roff - FV_V1_DATA), len);
	fv_unlock(sh);
	return (ssize_t)len;
}

/* pread/pwrite of the device: PCI config space, and a v1 device's
 * migration region. */
static ssize_t
fv_config_io(struct fv_shared *sh, void *buf, size_t len, off_t off, int write)
{
	uint64_t index = (uint64_t)off >> FV_REGION_SHIFT;
	uint64_t roff = (uint64_t)off & ((1ull << FV_REGION_SHIFT) - 1);

	if (off >= 0 && sh->v1 && index == FV_V1_INDEX)
		return fv_v1_io(sh, buf, len, roff, write);
	if (off < 0 || index != FV_CONFIG_INDEX || roff > sizeof(sh->config) ||
	    len > sizeof(sh->config) - roff)
		return fv_fail(EINVAL);
	fv_lock(sh);
	if (write)
		memcpy(sh->config + roff, buf, len);
	else
		memcpy(buf, sh->config + roff, len);
	fv_unlock(sh);
	return (ssize_t)len;
}

ssize_t
pread(int fd, void *buf, size_t len, off_t off)
{
	struct fv_shared *sh;

	fv_init();
	if ((sh = fv_device(fd)) != NULL)
		return fv_config_io(sh, buf, len, off, 0);
	return real.pread(fd, buf, len, off);
}

ssize_t
pwrite(int fd, const void *buf, size_t len, off_t off)
{
	struct fv_shared *sh;

	fv_init();
	if ((sh = fv_device(fd)) != NULL)
		return fv_config_io(sh, (void *)(uintptr_t)buf, len, off, 1);
	return real.pwrite(fd, buf, len, off);
}

ssize_t
pread64(int fd, void *buf, size_t len, off_t off)
{
	return pread(fd, buf, len, off);
}

ssize_t
pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	return pwrite(fd, buf, len, off);
}

/* A data fd whose session is over answers ENODEV, as a kernel driver's
 * disabled migration file does. */
ssize_t
read(int fd, void *buf, size_t len)
{
	struct fv_data d;
	ssize_t n;

	if (!fv_data_of(fd, &d)) {
		fv_init();
		return real.read(fd, buf, len);
	}
	if (!d.saving)
		return fv_fail(EINVAL);
	fv_lock(d.sh);
	if (d.session != d.sh->session || d.sh->kind != SESSION_SAVE)
		n = fv_fail(ENODEV);
	else
		n = fv_save_read(d.sh, buf, len);
	fv_unlock(d.sh);
	return n;
}

ssize_t
write(int fd, const void *buf, size_t len)
{
	struct fv_data d;
	ssize_t n;

	if (!fv_data_of(fd, &d)) {
		fv_init();
		return real.write(fd, buf, len);
	}
	if (d.saving)
		return fv_fail(EINVAL);
	fv_lock(d.sh);
	if (d.session != d.sh->session || d.sh->kind != SESSION_RESUME)
		n = fv_fail(ENODEV);
	else
		n = fv_resume_write(d.sh, buf, len);
	fv_unlock(d.sh);
	return n;
}

/* A data fd is always ready: a read or write of it never waits. The other
 * fds are polled as they come, without waiting when a data fd is ready. */
int
poll(struct pollfd *fds, nfds_t n, int timeout)
{
	struct pollfd others[FV_MAX_DATA];
	nfds_t i, k = 0, ours = 0;
	struct fv_data d;
	int ready = 0, r;

	fv_init();
	for (i = 0; i < n; i++)
		ours += (nfds_t)fv_data_of(fds[i].fd, &d);
	if (ours == 0)
		return real.poll(fds, n, timeout);
	if (n - ours > FV_MAX_DATA)
		return fv_fail(EINVAL);
	for (i = 0; i < n; i++) {
		fds[i].revents = 0;
		if (fv_data_of(fds[i].fd, &d)) {
			fds[i].revents = (short)(fds[i].events & (d.saving ? POLLIN : POLLOUT));
			ready += fds[i].revents != 0;
		} else {
			others[k++] = fds[i];
		}
	}
	if (k > 0 && (r = real.poll(others, k, ready > 0 ? 0 : timeout)) < 0)
		return r;
	for (i = 0, k = 0; i < n; i++)
		if (!fv_data_of(fds[i].fd, &d)) {
			fds[i].revents = others[k++].revents;
			ready += fds[i].revents != 0;
		}
	return ready;
}

int
close(int fd)
{
	fv_init();
	fv_data_forget(fd);
	return real.close(fd);
}

/* ---- the test VMM's side ----------------------------------------------- */

static uint64_t
fv_align(uint64_t v)
{
	return (v + 63) & ~63ull;
}

int
fake_vfio_create(const char *path, const struct fake_vfio_config *cfg)
{
	struct fv_shared hdr, *sh;
	pthread_mutexattr_t attr;
	uint64_t off, i;
	int fd, err;
	void *p;

	memset(&hdr, 0, sizeof(hdr));
	hdr.page_size = cfg->page_size != 0 ? cfg->page_size : 4096;
	hdr.state_size = cfg->state_size;
	hdr.guest_size = cfg->guest_size;
	if (hdr.state_size == 0 || hdr.state_size % hdr.page_size != 0 ||
	    hdr.guest_size % FV_LOG_PAGE != 0)
		return -EINVAL;
	hdr.npages = hdr.state_size / hdr.page_size;
	hdr.nlog = hdr.guest_size / FV_LOG_PAGE;
	off = fv_align(sizeof(hdr));
	hdr.state_off = off;
	off = fv_align(off + hdr.state_size);
	hdr.send_off = off;
	off = fv_align(off + (hdr.npages + 7) / 8);
	hdr.initial_off = off;
	off = fv_align(off + (hdr.npages + 7) / 8);
	hdr.log_off = off;
	off = fv_align(off + (hdr.nlog + 7) / 8);
	hdr.work_off = off;
	off = fv_align(off + FV_FRAME + hdr.page_size);
	hdr.v1 = cfg->v1 != 0;
	hdr.sec_off = off;
	hdr.sec_len = hdr.v1 ? FV_V1_SECTION : 0;
	off = fv_align(off + hdr.sec_len);
	hdr.guest_off = (off + 4095) & ~4095ull;
	hdr.file_size = hdr.guest_off + hdr.guest_size;

	if ((fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		return -errno;
	if (ftruncate(fd, (off_t)hdr.file_size) != 0 ||
	    (p = mmap(NULL, hdr.file_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) ==
		MAP_FAILED) {
		err = -errno;
		close(fd);
		unlink(path);
		return err;
	}
	close(fd);
	sh = p;
	memcpy(sh, &hdr, sizeof(hdr));
	sh->version = FV_VERSION;
	sh->anon = cfg->anon_inode != 0;
	sh->minor = cfg->minor;
	sh->mig_flags = cfg->mig_flags != 0
	    ? cfg->mig_flags
	    : VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P | VFIO_MIGRATION_PRE_COPY;
	sh->state = V2_STATE_RUNNING;
	sh->config[0] = (uint8_t)cfg->vendor;
	sh->config[1] = (uint8_t)(cfg->vendor >> 8);
	sh->config[2] = (uint8_t)cfg->device;
	sh->config[3] = (uint8_t)(cfg->device >> 8);
	sh->config[8] = 0x01;
	sh->config[0x2c] = 0xf4;
	sh->config[0x2d] = 0x1a;
	sh->config[0x2e] = 0x00;
	sh->config[0x2f] = 0x11;
	for (i = 0; i < sh->state_size; i++)
		fv_at(sh, sh->state_off)[i] =
		    (uint8_t)((i * 131 + cfg->seed * 7 + (i >> 12)) & 0xff);
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&sh->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	/* The magic last: no process sees a device half made. */
	atomic_thread_fence(memory_order_seq_cst);
	memcpy(sh->magic, FV_MAGIC, sizeof(sh->magic));
	msync(p, hdr.file_size, MS_SYNC);
	munmap(p, hdr.file_size);
	return 0;
}

/*
 * vfio-pci resets a device when its last reference closes and when it is
 * opened again. Each open file description of the device holds a read
 * lease (an OFD lock), released by the kernel when the last fd of it
 * closes in whatever process: an open that finds none held resets the
 * device then, and counts it.
 */
int
fake_vfio_open(const char *path)
{
	struct flock fl;
	struct fv_shared *sh;
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if ((sh = fv_device(fd)) == NULL) {
		close(fd);
		return -ENODEV;
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_len = 1;
	fv_lock(sh);
	if (fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type == F_UNLCK && sh->opened)
		fv_reset_locked(sh);
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_RDLCK;
	fl.l_whence = SEEK_SET;
	fl.l_len = 1;
	if (fcntl(fd, F_OFD_SETLK, &fl) != 0) {
		fv_unlock(sh);
		close(fd);
		return -EIO;
	}
	sh->opened = 1;
	fv_unlock(sh);
	return fd;
}

int
fake_vfio_is_device(int fd)
{
	return fv_device(fd) != NULL;
}

int
fake_vfio_status(int fd, struct fake_vfio_status *st)
{
	struct fv_shared *sh = fv_device(fd);
	uint32_t i;

	if (sh == NULL)
		return -ENODEV;
	memset(st, 0, sizeof(*st));
	st->state_size = sh->state_size;
	st->guest_size = sh->guest_size;
	fv_lock(sh);
	st->state = sh->state;
	st->resets = sh->resets;
	st->sessions = sh->sessions;
	st->set_states = sh->set_states;
	st->other_ioctls = sh->other_ioctls;
	st->logging = sh->logging;
	st->nranges = sh->nranges;
	for (i = 0; i < sh->nranges; i++) {
		st->ranges[i][0] = sh->ranges[i][0];
		st->ranges[i][1] = sh->ranges[i][1];
	}
	st->digest = fv_digest(sh);
	snprintf(st->stream_error, sizeof(st->stream_error), "%s", sh->error);
	fv_unlock(sh);
	return 0;
}

int
fake_vfio_state_write(int fd, uint64_t offset, const void *buf, size_t len)
{
	struct fv_shared *sh = fv_device(fd);
	uint64_t p;

	if (sh == NULL)
		return -ENODEV;
	if (offset > sh->state_size || len > sh->state_size - offset)
		return -EINVAL;
	fv_lock(sh);
	if (!fv_running(sh->state)) {
		fv_unlock(sh);
		return -EBUSY;
	}
	memcpy(fv_at(sh, sh->state_off) + offset, buf, len);
	for (p = offset / sh->page_size; len > 0 && p <= (offset + len - 1) / sh->page_size; p++)
		if (sh->kind == SESSION_SAVE && !fv_bit(sh, sh->send_off, p)) {
			fv_bit_set(sh, sh->send_off, p, 1);
			sh->nsend++;
		}
	fv_unlock(sh);
	return 0;
}

int
fake_vfio_state_read(int fd, uint64_t offset, void *buf, size_t len)
{
	struct fv_shared *sh = fv_device(fd);

	if (sh == NULL)
		return -ENODEV;
	if (offset > sh->state_size || len > sh->state_size - offset)
		return -EINVAL;
	fv_lock(sh);
	memcpy(buf, fv_at(sh, sh->state_off) + offset, len);
	fv_unlock(sh);
	return 0;
}

static int
fv_logged(struct fv_shared *sh, uint64_t iova)
{
	uint32_t i;

	for (i = 0; sh->logging && i < sh->nranges; i++)
		if (iova >= sh->ranges[i][0] && iova - sh->ranges[i][0] < sh->ranges[i][1])
			return 1;
	return 0;
}

/* The container the device's DMA goes through in this process, or NULL. */
static struct fc_shared *
fv_link_of(struct fv_shared *sh)
{
	struct fc_shared *c = NULL;
	int i;

	pthread_mutex_lock(&fv_table_lock);
	for (i = 0; i < FV_MAX_LINKS; i++)
		if (fv_links[i].sh == sh)
			c = fv_links[i].c;
	pthread_mutex_unlock(&fv_table_lock);
	return c;
}

/* The container's log of a DMA write: pages inside a mapping, while it
 * logs. 1 when it logged any. */
static int
fc_log_dma(struct fc_shared *c, uint64_t iova, size_t len)
{
	uint64_t p, a;
	uint32_t i;
	int logged = 0;

	fc_lock(c);
	for (p = iova / FV_LOG_PAGE; c->logging && len > 0 && p <= (iova + len - 1) / FV_LOG_PAGE;
	     p++) {
		a = p * FV_LOG_PAGE;
		for (i = 0; i < c->nmaps && !(a >= c->map[i][0] && a - c->map[i][0] < c->map[i][1]);
		     i++)
			;
		if (i == c->nmaps || p >= c->nlog)
			continue;
		fv_at((struct fv_shared *)(void *)c, c->log_off)[p / 8] |= (uint8_t)(1u << (p % 8));
		logged = 1;
	}
	fc_unlock(c);
	return logged;
}

int
fake_vfio_dma_write(int fd, uint64_t iova, const void *buf, size_t len)
{
	struct fv_shared *sh = fv_device(fd);
	struct fc_shared *c;
	uint64_t p;
	int logged = 0;

	if (sh == NULL)
		return -ENODEV;
	if (iova > sh->guest_size || len > sh->guest_size - iova)
		return -EFAULT;
	fv_lock(sh);
	if (!fv_running(sh->state)) {
		fv_unlock(sh);
		return -EBUSY;
	}
	memcpy(fv_at(sh, sh->guest_off) + iova, buf, len);
	for (p = iova / FV_LOG_PAGE; len > 0 && p <= (iova + len - 1) / FV_LOG_PAGE; p++)
		if (fv_logged(sh, p * FV_LOG_PAGE)) {
			fv_bit_set(sh, sh->log_off, p, 1);
			logged = 1;
		}
	fv_unlock(sh);
	if ((c = fv_link_of(sh)) != NULL && fc_log_dma(c, iova, len))
		logged = 1;
	return logged;
}

/* ---- the test VMM's container ------------------------------------------ */

int
fake_vfio_container_create(const char *path, uint64_t guest_size, int dirty_cap)
{
	struct fc_shared hdr, *c;
	pthread_mutexattr_t attr;
	int fd, err;
	void *p;

	if (guest_size == 0 || guest_size % FV_LOG_PAGE != 0)
		return -EINVAL;
	memset(&hdr, 0, sizeof(hdr));
	hdr.guest_size = guest_size;
	hdr.nlog = guest_size / FV_LOG_PAGE;
	hdr.log_off = fv_align(sizeof(hdr));
	hdr.file_size = hdr.log_off + (hdr.nlog + 7) / 8;
	if ((fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		return -errno;
	if (ftruncate(fd, (off_t)hdr.file_size) != 0 ||
	    (p = mmap(NULL, hdr.file_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) ==
		MAP_FAILED) {
		err = -errno;
		close(fd);
		unlink(path);
		return err;
	}
	close(fd);
	c = p;
	memcpy(c, &hdr, sizeof(hdr));
	c->version = FC_VERSION;
	c->dirty_cap = dirty_cap != 0;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&c->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	atomic_thread_fence(memory_order_seq_cst);
	memcpy(c->magic, FC_MAGIC, sizeof(c->magic));
	msync(p, hdr.file_size, MS_SYNC);
	munmap(p, hdr.file_size);
	return 0;
}

int
fake_vfio_container_open(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fv_container(fd) == NULL) {
		close(fd);
		return -ENODEV;
	}
	return fd;
}

int
fake_vfio_container_attach(int container_fd, int device_fd)
{
	struct fc_shared *c = fv_container(container_fd);
	struct fv_shared *sh = fv_device(device_fd);
	int i;

	if (c == NULL || sh == NULL)
		return -ENODEV;
	pthread_mutex_lock(&fv_table_lock);
	for (i = 0; i < FV_MAX_LINKS && fv_links[i].sh != NULL && fv_links[i].sh != sh; i++)
		;
	if (i < FV_MAX_LINKS)
		fv_links[i] = (struct fv_link){sh, c};
	pthread_mutex_unlock(&fv_table_lock);
	return i < FV_MAX_LINKS ? 0 : -ENOSPC;
}

int
fake_vfio_container_status(int fd, struct fake_vfio_container_status *st)
{
	struct fc_shared *c = fv_container(fd);

	if (c == NULL)
		return -ENODEV;
	memset(st, 0, sizeof(*st));
	fc_lock(c);
	st->logging = c->logging;
	st->starts = c->starts;
	st->stops = c->stops;
	st->reports = c->reports;
	st->maps = c->maps;
	st->other_ioctls = c->other_ioctls;
	fc_unlock(c);
	return 0;
}

int
fake_vfio_guest_read(int fd, uint64_t iova, void *buf, size_t len)
{
	struct fv_shared *sh = fv_device(fd);

	if (sh == NULL)
		return -ENODEV;
	if (iova > sh->guest_size || len > sh->guest_size - iova)
		return -EFAULT;
	fv_lock(sh);
	memcpy(buf, fv_at(sh, sh->guest_off) + iova, len);
	fv_unlock(sh);
	return 0;
}
