/*
 * vfio_fake.c: the fake kernel behind vfio_sys (vfio_fake.h).
 *
 * Each ioctl checks what the kernel checks (argsz, flags, the order of the
 * setup steps) and answers with the uAPI's structures. The FSM accepts
 * only the single arcs the uAPI defines (a real kernel also walks
 * combination transitions itself), so that the tests see the driver's
 * plan one arc at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "v2_fsm.h"
#include "vfio_compat.h"
#include "vfio_fake.h"
#include "vfio_sys.h"

#define FAKE_FD_BASE 1000
#define FAKE_MAX_FDS 64
#define REGION_SHIFT 40

struct fake_kernel fake;

const unsigned long FAKE_BIND_IOMMUFD = VFIO_DEVICE_BIND_IOMMUFD;
const unsigned long FAKE_IOAS_ALLOC = IOMMU_IOAS_ALLOC;
const unsigned long FAKE_ATTACH_PT = VFIO_DEVICE_ATTACH_IOMMUFD_PT;
const unsigned long FAKE_GET_INFO = VFIO_DEVICE_GET_INFO;
const unsigned long FAKE_GET_REGION_INFO = VFIO_DEVICE_GET_REGION_INFO;
const unsigned long FAKE_GROUP_GET_STATUS = VFIO_GROUP_GET_STATUS;
const unsigned long FAKE_GROUP_SET_CONTAINER = VFIO_GROUP_SET_CONTAINER;
const unsigned long FAKE_SET_IOMMU = VFIO_SET_IOMMU;
const unsigned long FAKE_GET_DEVICE_FD = VFIO_GROUP_GET_DEVICE_FD;
const unsigned long FAKE_DEVICE_RESET = VFIO_DEVICE_RESET;
const unsigned long FAKE_DEVICE_FEATURE = VFIO_DEVICE_FEATURE;
const unsigned long FAKE_PRECOPY_INFO = VFIO_MIG_GET_PRECOPY_INFO;
const unsigned long FAKE_GET_API_VERSION = VFIO_GET_API_VERSION;
const unsigned long FAKE_CHECK_EXTENSION = VFIO_CHECK_EXTENSION;
const unsigned long FAKE_IOMMU_GET_INFO = VFIO_IOMMU_GET_INFO;
const unsigned long FAKE_DIRTY_PAGES = VFIO_IOMMU_DIRTY_PAGES;

enum fd_kind { FD_FREE, FD_DEVICE, FD_IOMMUFD, FD_CONTAINER, FD_GROUP, FD_DATA };

struct fake_fd {
	enum fd_kind kind;
	int dev;
	int bound, attached; /* cdev */
	int saving;	     /* FD_DATA: saving (else resuming) */
	int live;	     /* FD_DATA: its session is still on */
};

static struct fake_fd fds[FAKE_MAX_FDS];
static const struct vfio_sys *saved_sys;

struct fake_dir {
	char names[4][32];
	int n, pos;
	struct dirent ent;
};

static const char *const pci_addr[2] = {"0000:3b:00.0", "0000:3b:00.1"};
static const char *const group_num[2] = {"42", "43"};

static struct fake_fd *
fake_fd(int fd)
{
	if (fd < FAKE_FD_BASE || fd >= FAKE_FD_BASE + FAKE_MAX_FDS ||
	    fds[fd - FAKE_FD_BASE].kind == FD_FREE)
		return NULL;
	return &fds[fd - FAKE_FD_BASE];
}

static int
fake_new_fd(enum fd_kind kind, int dev)
{
	int i;

	for (i = 0; i < FAKE_MAX_FDS; i++)
		if (fds[i].kind == FD_FREE) {
			memset(&fds[i], 0, sizeof(fds[i]));
			fds[i].kind = kind;
			fds[i].dev = dev;
			fake.open_fds++;
			return FAKE_FD_BASE + i;
		}
	errno = EMFILE;
	return -1;
}

static int
fail(int err)
{
	errno = err;
	return -1;
}

/* The device index a path names by suffix, or -1. */
static int
fake_dev_of(const char *path, const char *prefix, const char *const names[2])
{
	int i;
	size_t n = strlen(prefix);

	if (strncmp(path, prefix, n) != 0)
		return -1;
	for (i = 0; i < 2; i++)
		if (strcmp(path + n, names[i]) == 0 && fake.dev[i].present)
			return i;
	return -1;
}

static int
fake_open(const char *path, int flags)
{
	static const char *const cdevs[2] = {"vfio0", "vfio1"};
	int i;

	if (fake.fail_open_path != NULL && strcmp(path, fake.fail_open_path) == 0)
		return fail(fake.fail_open_errno);
	if ((flags & O_ACCMODE) != O_RDWR)
		return fail(EACCES);
	if ((i = fake_dev_of(path, "/dev/vfio/devices/", cdevs)) >= 0 && fake.have_cdev)
		return fake_new_fd(FD_DEVICE, i);
	if (strcmp(path, "/dev/iommu") == 0 && fake.have_iommufd)
		return fake_new_fd(FD_IOMMUFD, 0);
	if (strcmp(path, "/dev/vfio/vfio") == 0 && fake.have_groups)
		return fake_new_fd(FD_CONTAINER, 0);
	if ((i = fake_dev_of(path, "/dev/vfio/", group_num)) >= 0 && fake.have_groups)
		return fake_new_fd(FD_GROUP, i);
	return fail(ENOENT);
}

static int
fake_close(int fd)
{
	struct fake_fd *f = fake_fd(fd);

	if (f == NULL)
		return close(fd);
	f->kind = FD_FREE;
	fake.open_fds--;
	return 0;
}

static int
fake_access(const char *path, int mode)
{
	char p[128];
	int i;

	for (i = 0; i < 2; i++) {
		snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s", pci_addr[i]);
		if (strcmp(path, p) == 0 && fake.dev[i].present)
			return 0;
		snprintf(p, sizeof(p), "/dev/vfio/%s", group_num[i]);
		if (strcmp(path, p) == 0 && fake.dev[i].present && fake.have_groups)
			return 0;
	}
	if (strcmp(path, "/dev/iommu") == 0 && fake.have_iommufd)
		return 0;
	return fail(ENOENT);
}

static ssize_t
fake_link(char *buf, size_t len, const char *target)
{
	size_t n = strlen(target);

	if (n > len)
		n = len;
	memcpy(buf, target, n);
	return (ssize_t)n;
}

static ssize_t
fake_readlink(const char *path, char *buf, size_t len)
{
	char p[128], t[128];
	int i;

	for (i = 0; i < 2; i++) {
		if (!fake.dev[i].present)
			continue;
		snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/driver", pci_addr[i]);
		if (strcmp(path, p) == 0) {
			if (fake.driver[i][0] == '\0')
				return fail(ENOENT);
			snprintf(t, sizeof(t), "../../../bus/pci/drivers/%s", fake.driver[i]);
			return fake_link(buf, len, t);
		}
		snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/iommu_group", pci_addr[i]);
		if (strcmp(path, p) == 0) {
			snprintf(t, sizeof(t), "../../../kernel/iommu_groups/%s", group_num[i]);
			return fake_link(buf, len, t);
		}
		snprintf(p, sizeof(p), "/sys/class/vfio-dev/vfio%d/device", i);
		if (strcmp(path, p) == 0 && fake.have_cdev) {
			snprintf(t, sizeof(t), "../../../%s", pci_addr[i]);
			return fake_link(buf, len, t);
		}
	}
	return fail(ENOENT);
}

static DIR *
fake_opendir(const char *path)
{
	struct fake_dir *d;
	char p[128];
	int i;

	for (i = 0; i < 2; i++) {
		if (!fake.dev[i].present)
			continue;
		d = calloc(1, sizeof(*d));
		snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/vfio-dev", pci_addr[i]);
		if (strcmp(path, p) == 0 && fake.have_cdev) {
			snprintf(d->names[d->n++], sizeof(d->names[0]), "vfio%d", i);
			return (DIR *)d;
		}
		snprintf(p, sizeof(p), "/sys/kernel/iommu_groups/%s/devices", group_num[i]);
		if (strcmp(path, p) == 0) {
			snprintf(d->names[d->n++], sizeof(d->names[0]), "%s", pci_addr[i]);
			if (i == 0 && fake.group_extra_member)
				snprintf(d->names[d->n++], sizeof(d->names[0]), "0000:3b:00.2");
			return (DIR *)d;
		}
		free(d);
	}
	errno = ENOENT;
	return NULL;
}

static struct dirent *
fake_readdir(DIR *dir)
{
	struct fake_dir *d = (struct fake_dir *)dir;

	if (d->pos >= d->n)
		return NULL;
	snprintf(d->ent.d_name, sizeof(d->ent.d_name), "%s", d->names[d->pos++]);
	return &d->ent;
}

static int
fake_closedir(DIR *dir)
{
	free(dir);
	return 0;
}

/* ---- regions --------------------------------------------------------- */

static int
fake_region_info(struct fake_device *d, struct vfio_region_info *info)
{
	struct fake_region *r;
	uint32_t need;

	if (info->argsz < sizeof(*info))
		return fail(EINVAL);
	if (info->index >= d->num_regions || !d->regions[info->index].present)
		return fail(EINVAL);
	r = &d->regions[info->index];
	info->flags = r->flags;
	info->size = r->size;
	info->offset = (uint64_t)info->index << REGION_SHIFT;
	info->cap_offset = 0;
	if (r->caps_len == 0)
		return 0;
	info->flags |= VFIO_REGION_INFO_FLAG_CAPS;
	need = (uint32_t)sizeof(*info) + r->caps_len;
	if (info->argsz < need) {
		info->argsz = need;
		return 0;
	}
	memcpy((uint8_t *)info + sizeof(*info), r->caps, r->caps_len);
	info->cap_offset = sizeof(*info);
	return 0;
}

static struct fake_region *
fake_region_at(struct fake_device *d, off_t off, size_t len, uint64_t *roff)
{
	uint64_t index = (uint64_t)off >> REGION_SHIFT;
	struct fake_region *r;

	if (index >= d->num_regions || !d->regions[index].present)
		return NULL;
	r = &d->regions[index];
	*roff = (uint64_t)off & ((1ull << REGION_SHIFT) - 1);
	if (*roff > r->size || len > r->size - *roff)
		return NULL;
	return r;
}

static ssize_t
fake_pio(int fd, void *buf, size_t len, off_t off, int write)
{
	struct fake_fd *f = fake_fd(fd);
	struct fake_device *d;
	struct fake_region *r;
	uint64_t roff;

	if (f == NULL)
		return write ? pwrite(fd, buf, len, off) : pread(fd, buf, len, off);
	if (f->kind != FD_DEVICE)
		return fail(EINVAL);
	d = &fake.dev[f->dev];
	if ((r = fake_region_at(d, off, len, &roff)) == NULL)
		return fail(EINVAL);
	if (len > 8 && d->short_pio > 0 && len > d->short_pio)
		len = d->short_pio;
	switch (r->backing) {
	case FAKE_BACK_CONFIG:
		if (roff > sizeof(d->config) || len > sizeof(d->config) - roff)
			return fail(EINVAL);
		if (write)
			memcpy(d->config + roff, buf, len);
		else
			memcpy(buf, d->config + roff, len);
		return (ssize_t)len;
	case FAKE_BACK_MIG: {
		ssize_t n = write ? d->mig->ops->write(d->mig, roff, buf, len)
				  : d->mig->ops->read(d->mig, roff, buf, len);

		return n < 0 ? fail((int)-n) : n;
	}
	case FAKE_BACK_NONE:
		break;
	}
	return fail(EINVAL);
}

static ssize_t
fake_pread(int fd, void *buf, size_t len, off_t off)
{
	return fake_pio(fd, buf, len, off, 0);
}

static ssize_t
fake_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	return fake_pio(fd, (void *)(uintptr_t)buf, len, off, 1);
}

static void *
fake_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	struct fake_fd *f = fake_fd(fd);
	struct fake_device *d;
	struct fake_region *r;
	uint64_t roff;
	void *p;

	if (f == NULL)
		return mmap(addr, len, prot, flags, fd, off);
	d = &fake.dev[f->dev];
	if (f->kind != FD_DEVICE || (r = fake_region_at(d, off, len, &roff)) == NULL ||
	    !(r->flags & VFIO_REGION_INFO_FLAG_MMAP) || r->backing != FAKE_BACK_MIG ||
	    !(flags & MAP_SHARED) || off % 4096 != 0) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	if (d->mig->ops->map(d->mig, roff, len, &p) != 0) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	return p;
}

/* The fake's mappings belong to the software device: nothing to undo. */
static int
fake_munmap(void *addr, size_t len)
{
	return 0;
}

/* ---- v2 -------------------------------------------------------------- */

static void
fake_end_session(int dev)
{
	int i;

	for (i = 0; i < FAKE_MAX_FDS; i++)
		if (fds[i].kind == FD_DATA && fds[i].dev == dev)
			fds[i].live = 0;
}

static int
fake_data_open(int dev)
{
	int i;

	for (i = 0; i < FAKE_MAX_FDS; i++)
		if (fds[i].kind == FD_DATA && fds[i].dev == dev && fds[i].live)
			return 1;
	return 0;
}

static int
fake_set_state(int dev, struct vfio_device_feature_mig_state *st)
{
	struct fake_device *d = &fake.dev[dev];
	uint32_t from = d->state, to = st->device_state;
	int fd;

	st->data_fd = -1;
	if (d->refuse_err != 0 && d->refuse_from == from && d->refuse_to == to) {
		int err = d->refuse_err;

		d->refuse_err = 0;
		if (d->refuse_into_error) {
			d->state = VFIO_DEVICE_STATE_ERROR;
			fake_end_session(dev);
		}
		return fail(err);
	}
	if (!v2_fsm_arc(from, to, d->mig_flags))
		return fail(EINVAL);
	if (from == VFIO_DEVICE_STATE_RESUMING)
		d->data_fd_closed_before_stop = !fake_data_open(dev);
	if ((v2_state_is_saving(from) && !v2_state_is_saving(to)) ||
	    from == VFIO_DEVICE_STATE_RESUMING)
		fake_end_session(dev);
	d->arcs[d->narcs % 64][0] = from;
	d->arcs[d->narcs % 64][1] = to;
	d->narcs++;
	d->state = to;
	if ((v2_state_is_saving(to) && !v2_state_is_saving(from)) ||
	    to == VFIO_DEVICE_STATE_RESUMING) {
		if ((fd = fake_new_fd(FD_DATA, dev)) < 0)
			return -1;
		fds[fd - FAKE_FD_BASE].saving = to != VFIO_DEVICE_STATE_RESUMING;
		fds[fd - FAKE_FD_BASE].live = 1;
		if (to == VFIO_DEVICE_STATE_RESUMING)
			d->received_len = 0;
		else
			d->stream_pos = 0;
		st->data_fd = fd;
	}
	return 0;
}

static int
fake_feature(int dev, struct vfio_device_feature *f)
{
	struct fake_device *d = &fake.dev[dev];
	uint32_t idx = f->flags & VFIO_DEVICE_FEATURE_MASK;
	int get = (f->flags & VFIO_DEVICE_FEATURE_GET) != 0;
	int set = (f->flags & VFIO_DEVICE_FEATURE_SET) != 0;
	int probe = (f->flags & VFIO_DEVICE_FEATURE_PROBE) != 0;
	size_t len;
	uint64_t i, pfn, first, n;

	if (f->argsz < sizeof(*f) || (get && set && !probe))
		return fail(EINVAL);
	len = f->argsz - sizeof(*f);
	switch (idx) {
	case VFIO_DEVICE_FEATURE_MIGRATION: {
		struct vfio_device_feature_migration *m = (void *)f->data;

		if (d->mig_flags == 0 || set)
			return fail(d->mig_flags == 0 ? ENOTTY : EINVAL);
		if (probe)
			return 0;
		if (len < sizeof(*m))
			return fail(EINVAL);
		m->flags = d->mig_flags;
		return 0;
	}
	case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE: {
		struct vfio_device_feature_mig_state *st = (void *)f->data;

		if (d->mig_flags == 0)
			return fail(ENOTTY);
		if (probe)
			return 0;
		if (len < sizeof(*st))
			return fail(EINVAL);
		if (get) {
			st->device_state = d->state;
			st->data_fd = -1;
			return 0;
		}
		return fake_set_state(dev, st);
	}
	case VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: {
		struct vfio_device_feature_mig_data_size *sz = (void *)f->data;

		if (!d->has_data_size || !get)
			return fail(ENOTTY);
		if (probe)
			return 0;
		if (len < sizeof(*sz))
			return fail(EINVAL);
		sz->stop_copy_length = d->data_size;
		return 0;
	}
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_START: {
		struct vfio_device_feature_dma_logging_control *ctl = (void *)f->data;
		struct vfio_device_feature_dma_logging_range *r;

		if (!d->dma_logging || !set)
			return fail(ENOTTY);
		if (probe)
			return 0;
		if (len < sizeof(*ctl) || ctl->num_ranges == 0)
			return fail(EINVAL);
		if (d->logging)
			return fail(EBUSY);
		r = (void *)(uintptr_t)ctl->ranges;
		d->log_iova = r[0].iova;
		d->log_length = r[0].length;
		d->log_nranges = ctl->num_ranges;
		for (i = 0; i < ctl->num_ranges && i < 8; i++) {
			d->log_ranges[i][0] = r[i].iova;
			d->log_ranges[i][1] = r[i].length;
		}
		d->logging = 1;
		if (d->log_page_size != 0)
			ctl->page_size = d->log_page_size;
		return 0;
	}
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP:
		if (!d->dma_logging || !set)
			return fail(ENOTTY);
		if (probe)
			return 0;
		if (!d->logging)
			return fail(EINVAL);
		d->logging = 0;
		return 0;
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT: {
		struct vfio_device_feature_dma_logging_report *rep = (void *)f->data;
		uint64_t *bm;

		if (!d->dma_logging || !get)
			return fail(ENOTTY);
		if (probe)
			return 0;
		if (len < sizeof(*rep) || !d->logging || rep->page_size == 0)
			return fail(EINVAL);
		bm = (uint64_t *)(uintptr_t)rep->bitmap;
		first = rep->iova / rep->page_size;
		n = rep->length / rep->page_size;
		for (i = 0; i < d->ndirty; i++) {
			pfn = d->dirty_pfns[i];
			if (pfn >= first && pfn < first + n)
				bm[(pfn - first) / 64] |= 1ull << ((pfn - first) % 64);
		}
		return 0;
	}
	}
	return fail(ENOTTY);
}

static ssize_t
fake_read(int fd, void *buf, size_t len)
{
	struct fake_fd *f = fake_fd(fd);
	struct fake_device *d;
	size_t n;

	if (f == NULL)
		return read(fd, buf, len);
	if (f->kind != FD_DATA || !f->saving)
		return fail(EINVAL);
	d = &fake.dev[f->dev];
	if (!f->live)
		return fail(ENODEV);
	if (d->stall)
		return fail(EAGAIN);
	if (d->state == VFIO_DEVICE_STATE_STOP_COPY) {
		if (d->stopcopy_enomsg)
			return fail(ENOMSG);
		n = d->stream_len - d->stream_pos;
	} else if (d->save_busy > 0 && d->stream_pos >= d->save_header) {
		d->save_busy--;
		return fail(EAGAIN);
	} else {
		if (d->precopy_avail <= d->stream_pos)
			return fail(ENOMSG);
		n = d->precopy_avail - d->stream_pos;
		if (d->save_busy > 0)
			n = d->save_header - d->stream_pos;
	}
	if (n > len)
		n = len;
	if (d->max_read > 0 && n > d->max_read)
		n = d->max_read;
	memcpy(buf, d->stream + d->stream_pos, n);
	d->stream_pos += n;
	return (ssize_t)n;
}

static ssize_t
fake_write(int fd, const void *buf, size_t len)
{
	struct fake_fd *f = fake_fd(fd);
	struct fake_device *d;

	if (f == NULL)
		return write(fd, buf, len);
	if (f->kind != FD_DATA || f->saving)
		return fail(EINVAL);
	d = &fake.dev[f->dev];
	if (!f->live || d->state != VFIO_DEVICE_STATE_RESUMING)
		return fail(ENODEV);
	if (d->max_read > 0 && len > d->max_read)
		len = d->max_read;
	d->received = realloc(d->received, d->received_len + len);
	memcpy(d->received + d->received_len, buf, len);
	d->received_len += len;
	return (ssize_t)len;
}

static int
fake_poll(struct pollfd *pfd, nfds_t n, int timeout_ms)
{
	struct fake_fd *f;
	nfds_t i;
	int ready = 0;

	for (i = 0; i < n; i++) {
		pfd[i].revents = 0;
		if ((f = fake_fd(pfd[i].fd)) == NULL)
			return poll(pfd, n, timeout_ms);
		if (f->kind == FD_DATA && fake.dev[f->dev].stall)
			continue;
		pfd[i].revents = pfd[i].events;
		ready++;
	}
	return ready;
}

static int
fake_getfl(int fd)
{
	return fake_fd(fd) != NULL ? O_RDWR : fcntl(fd, F_GETFL);
}

static int
fake_setfl(int fd, int flags)
{
	return fake_fd(fd) != NULL ? 0 : fcntl(fd, F_SETFL, flags);
}

/* ---- ioctl ----------------------------------------------------------- */

static int
fake_precopy_info(struct fake_fd *f, struct vfio_precopy_info *info)
{
	struct fake_device *d = &fake.dev[f->dev];
	size_t avail;

	if (info->argsz < sizeof(*info) || !f->saving || !f->live ||
	    (d->state != VFIO_DEVICE_STATE_PRE_COPY && d->state != VFIO_DEVICE_STATE_PRE_COPY_P2P))
		return fail(EINVAL);
	avail = d->precopy_avail > d->stream_pos ? d->precopy_avail - d->stream_pos : 0;
	if (d->save_busy > 0) {
		info->initial_bytes =
		    d->save_header > d->stream_pos ? d->save_header - d->stream_pos : 0;
		info->dirty_bytes = 0;
		return 0;
	}
	info->initial_bytes = d->initial_len > d->stream_pos ? d->initial_len - d->stream_pos : 0;
	if (info->initial_bytes > avail)
		info->initial_bytes = avail;
	info->dirty_bytes = avail - info->initial_bytes;
	return 0;
}

static int
fake_type1_info(struct vfio_iommu_type1_info *info)
{
	struct vfio_iommu_type1_info_cap_migration cap;
	uint32_t need = (uint32_t)(sizeof(*info) + sizeof(cap));

	if (info->argsz < sizeof(*info))
		return fail(EINVAL);
	info->flags = VFIO_IOMMU_INFO_PGSIZES;
	info->iova_pgsizes = 4096;
	info->cap_offset = 0;
	if (!fake.type1_dirty)
		return 0;
	info->flags |= VFIO_IOMMU_INFO_CAPS;
	if (info->argsz < need) {
		info->argsz = need;
		return 0;
	}
	memset(&cap, 0, sizeof(cap));
	cap.header.id = VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION;
	cap.header.version = 1;
	cap.pgsize_bitmap = fake.type1_pgsizes;
	cap.max_dirty_bitmap_size = 1 << 20;
	memcpy((uint8_t *)info + sizeof(*info), &cap, sizeof(cap));
	info->cap_offset = sizeof(*info);
	return 0;
}

static int
fake_type1_dirty(struct vfio_iommu_type1_dirty_bitmap *db)
{
	struct vfio_iommu_type1_dirty_bitmap_get *get = (void *)db->data;
	uint64_t pages, i, pfn;

	if (db->argsz < sizeof(*db) || !fake.type1_dirty)
		return fail(EINVAL);
	switch (db->flags) {
	case VFIO_IOMMU_DIRTY_PAGES_FLAG_START:
		fake.type1_logging = 1;
		return 0;
	case VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP:
		fake.type1_logging = 0;
		return 0;
	case VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP:
		if (db->argsz < sizeof(*db) + sizeof(*get) || !fake.type1_logging ||
		    !(get->bitmap.pgsize & fake.type1_pgsizes) || get->iova % get->bitmap.pgsize != 0 ||
		    get->size % get->bitmap.pgsize != 0)
			return fail(EINVAL);
		pages = get->size / get->bitmap.pgsize;
		if (get->bitmap.size < (pages + 63) / 64 * 8)
			return fail(EINVAL);
		memset(get->bitmap.data, 0, (pages + 63) / 64 * 8);
		for (i = 0; i < fake.dev[0].ndirty; i++) {
			pfn = fake.dev[0].dirty_pfns[i] - get->iova / get->bitmap.pgsize;
			if (pfn < pages)
				get->bitmap.data[pfn / 64] |= 1ull << (pfn % 64);
		}
		return 0;
	}
	return fail(EINVAL);
}

static int
fake_ioctl_device(struct fake_fd *f, unsigned long req, void *arg)
{
	struct fake_device *d = &fake.dev[f->dev];

	if (req == VFIO_DEVICE_BIND_IOMMUFD) {
		struct vfio_device_bind_iommufd *b = arg;
		struct fake_fd *io = fake_fd(b->iommufd);

		if (b->argsz < sizeof(*b) || b->flags != 0 || io == NULL || io->kind != FD_IOMMUFD)
			return fail(EINVAL);
		if (f->bound)
			return fail(EBUSY);
		f->bound = 1;
		b->out_devid = 7 + (uint32_t)f->dev;
		return 0;
	}
	if (req == VFIO_DEVICE_ATTACH_IOMMUFD_PT) {
		struct vfio_device_attach_iommufd_pt *a = arg;

		if (a->argsz < sizeof(*a) || a->flags != 0 || !f->bound || a->pt_id != 3)
			return fail(EINVAL);
		f->attached = 1;
		return 0;
	}
	/* A cdev is usable only once bound and attached (a group's device fd
	 * comes ready). */
	if (!f->attached)
		return fail(EINVAL);
	if (req == VFIO_DEVICE_GET_INFO) {
		struct vfio_device_info *info = arg;

		if (info->argsz < sizeof(*info))
			return fail(EINVAL);
		info->flags = d->flags;
		info->num_regions = d->num_regions;
		info->num_irqs = d->num_irqs;
		info->cap_offset = 0;
		return 0;
	}
	if (req == VFIO_DEVICE_GET_REGION_INFO)
		return fake_region_info(d, arg);
	if (req == VFIO_DEVICE_RESET) {
		if (!(d->flags & VFIO_DEVICE_FLAGS_RESET))
			return fail(ENOTTY);
		d->resets++;
		if (d->mig != NULL)
			d->mig->ops->reset(d->mig);
		fake_end_session(f->dev);
		d->state = VFIO_DEVICE_STATE_RUNNING;
		d->logging = 0;
		return 0;
	}
	if (req == VFIO_DEVICE_FEATURE)
		return fake_feature(f->dev, arg);
	return fail(ENOTTY);
}

static int
fake_ioctl(int fd, unsigned long req, void *arg)
{
	struct fake_fd *f = fake_fd(fd);

	if (f == NULL)
		return fail(EBADF);
	if (fake.ncalls < FAKE_MAX_CALLS)
		fake.calls[fake.ncalls++] = req;
	if (req == fake.fail_req && ++fake.fail_seen == fake.fail_nth)
		return fail(fake.fail_errno);
	switch (f->kind) {
	case FD_DEVICE:
		return fake_ioctl_device(f, req, arg);
	case FD_IOMMUFD:
		if (req == IOMMU_IOAS_ALLOC) {
			struct iommu_ioas_alloc *a = arg;

			if (a->size < sizeof(*a) || a->flags != 0)
				return fail(EINVAL);
			a->out_ioas_id = 3;
			return 0;
		}
		return fail(ENOTTY);
	case FD_CONTAINER:
		if (req == VFIO_GET_API_VERSION)
			return VFIO_API_VERSION;
		if (req == VFIO_CHECK_EXTENSION)
			return (uintptr_t)arg == VFIO_TYPE1v2_IOMMU;
		if (req == VFIO_SET_IOMMU)
			return fake_find(VFIO_GROUP_SET_CONTAINER) >= 0 ? 0 : fail(EINVAL);
		if (req == VFIO_IOMMU_GET_INFO)
			return fake_type1_info(arg);
		if (req == VFIO_IOMMU_DIRTY_PAGES)
			return fake_type1_dirty(arg);
		return fail(ENOTTY);
	case FD_GROUP:
		if (req == VFIO_GROUP_GET_STATUS) {
			struct vfio_group_status *st = arg;

			if (st->argsz < sizeof(*st))
				return fail(EINVAL);
			st->flags = fake.group_viable ? VFIO_GROUP_FLAGS_VIABLE : 0;
			return 0;
		}
		if (req == VFIO_GROUP_SET_CONTAINER) {
			struct fake_fd *c = fake_fd(*(int *)arg);

			return c != NULL && c->kind == FD_CONTAINER ? 0 : fail(EINVAL);
		}
		if (req == VFIO_GROUP_GET_DEVICE_FD) {
			int dfd;

			if (strcmp(arg, pci_addr[f->dev]) != 0)
				return fail(EINVAL);
			if ((dfd = fake_new_fd(FD_DEVICE, f->dev)) >= 0)
				fds[dfd - FAKE_FD_BASE].bound = fds[dfd - FAKE_FD_BASE].attached = 1;
			return dfd;
		}
		return fail(ENOTTY);
	case FD_DATA:
		if (req == VFIO_MIG_GET_PRECOPY_INFO)
			return fake_precopy_info(f, arg);
		return fail(ENOTTY);
	case FD_FREE:
		break;
	}
	return fail(EBADF);
}

/* A fake device fd is a character device, as a cdev or a group's device
 * fd would be to fstat (the anon inode's readlink is not faked), and so
 * is a container (10:196); any other fake fd a regular file; a real fd is
 * asked of the kernel. */
static int
fake_fstat(int fd, struct stat *st)
{
	struct fake_fd *f = fake_fd(fd);

	if (f == NULL)
		return fstat(fd, st);
	memset(st, 0, sizeof(*st));
	st->st_mode = f->kind == FD_DEVICE ? S_IFCHR | 0600 : S_IFREG | 0600;
	/* /dev/vfio/vfio is misc device 10:196. */
	if (f->kind == FD_CONTAINER) {
		st->st_mode = S_IFCHR | 0666;
		st->st_rdev = makedev(10, 196);
	}
	return 0;
}

int
fake_device_fd(int i)
{
	int fd = fake_new_fd(FD_DEVICE, i);

	if (fd >= 0)
		fds[fd - FAKE_FD_BASE].bound = fds[fd - FAKE_FD_BASE].attached = 1;
	return fd;
}

int
fake_fd_open(int fd)
{
	return fake_fd(fd) != NULL;
}

static const struct vfio_sys fake_sys = {
	.open = fake_open,
	.close = fake_close,
	.ioctl = fake_ioctl,
	.read = fake_read,
	.write = fake_write,
	.pread = fake_pread,
	.pwrite = fake_pwrite,
	.mmap = fake_mmap,
	.munmap = fake_munmap,
	.poll = fake_poll,
	.getfl = fake_getfl,
	.setfl = fake_setfl,
	.readlink = fake_readlink,
	.access = fake_access,
	.opendir = fake_opendir,
	.readdir = fake_readdir,
	.closedir = fake_closedir,
	.fstat = fake_fstat,
};

void
fake_install(void)
{
	memset(&fake, 0, sizeof(fake));
	memset(fds, 0, sizeof(fds));
	fake.have_cdev = fake.have_iommufd = fake.have_groups = 1;
	fake.group_viable = 1;
	snprintf(fake.driver[0], sizeof(fake.driver[0]), "vfio-pci");
	snprintf(fake.driver[1], sizeof(fake.driver[1]), "vfio-pci");
	fake.type1_pgsizes = 4096;
	saved_sys = vfio_sys_use(&fake_sys);
}

void
fake_uninstall(void)
{
	int i;

	vfio_sys_use(saved_sys);
	for (i = 0; i < 2; i++)
		free(fake.dev[i].received);
}

void
fake_pci_device(int i, uint16_t vendor, uint16_t device)
{
	struct fake_device *d = &fake.dev[i];
	struct fake_region *cfg = &d->regions[VFIO_PCI_CONFIG_REGION_INDEX];

	memset(d, 0, sizeof(*d));
	d->present = 1;
	d->flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
	d->num_regions = VFIO_PCI_NUM_REGIONS;
	d->num_irqs = 5;
	d->state = VFIO_DEVICE_STATE_RUNNING;
	cfg->present = 1;
	cfg->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	cfg->size = sizeof(d->config);
	cfg->backing = FAKE_BACK_CONFIG;
	d->config[0] = (uint8_t)vendor;
	d->config[1] = (uint8_t)(vendor >> 8);
	d->config[2] = (uint8_t)device;
	d->config[3] = (uint8_t)(device >> 8);
	d->config[8] = 0x01;
	d->config[0x2c] = 0xf4;
	d->config[0x2d] = 0x1a;
	d->config[0x2e] = 0x00;
	d->config[0x2f] = 0x11;
}

void
fake_region_cap(int i, uint32_t index, uint16_t id, const void *body, size_t body_len)
{
	struct fake_region *r = &fake.dev[i].regions[index];
	struct vfio_info_cap_header hdr = {id, 1, 0};
	uint32_t at = (uint32_t)sizeof(struct vfio_region_info) + r->caps_len;
	struct vfio_info_cap_header prev;

	if (r->caps_len > 0) {
		memcpy(&prev, r->caps + (r->last_cap - sizeof(struct vfio_region_info)), sizeof(prev));
		prev.next = at;
		memcpy(r->caps + (r->last_cap - sizeof(struct vfio_region_info)), &prev, sizeof(prev));
	}
	memcpy(r->caps + r->caps_len, &hdr, sizeof(hdr));
	memcpy(r->caps + r->caps_len + sizeof(hdr), body, body_len);
	r->last_cap = at;
	r->caps_len += (uint32_t)(sizeof(hdr) + body_len);
}

void
fake_mig_region(int i, uint32_t index, struct mig_region *mig, uint32_t type, uint32_t subtype,
    uint64_t mmap_from)
{
	struct fake_device *d = &fake.dev[i];
	struct fake_region *r = &d->regions[index];
	uint32_t t[2] = {type, subtype};
	struct {
		uint32_t nr_areas, reserved;
		uint64_t offset, size;
	} sparse = {1, 0, mmap_from, mig->size - mmap_from};

	if (index >= d->num_regions)
		d->num_regions = index + 1;
	memset(r, 0, sizeof(*r));
	r->present = 1;
	r->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	r->size = mig->size;
	r->backing = FAKE_BACK_MIG;
	d->mig = mig;
	fake_region_cap(i, index, VFIO_REGION_INFO_CAP_TYPE, t, sizeof(t));
	if (mmap_from > 0) {
		r->flags |= VFIO_REGION_INFO_FLAG_MMAP;
		fake_region_cap(i, index, VFIO_REGION_INFO_CAP_SPARSE_MMAP, &sparse, sizeof(sparse));
	}
}

int
fake_count(unsigned long req)
{
	int i, n = 0;

	for (i = 0; i < fake.ncalls; i++)
		n += fake.calls[i] == req;
	return n;
}

int
fake_find(unsigned long req)
{
	int i;

	for (i = 0; i < fake.ncalls; i++)
		if (fake.calls[i] == req)
			return i;
	return -1;
}
