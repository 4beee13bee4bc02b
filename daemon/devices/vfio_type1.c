/*
 * vfio_type1.c: a type1 container's dirty page log (vfio_type1.h).
 *
 * It owns the checks that an fd is a container that can log dirty pages,
 * the VFIO_IOMMU_DIRTY_PAGES calls, and reading the log through the
 * guest's ranges: each range asked of the kernel whole, in the container's
 * page, folded into the guest's page and held until a window takes it.
 * It never maps, unmaps or attaches anything, and never closes the fd.
 */
#include "vfio_type1.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "vfio_compat.h"
#include "vfio_open.h"
#include "vfio_sys.h"
#include "xmalloc.h"

/* /dev/vfio/vfio: misc device 10, VFIO_MINOR (include/linux/miscdevice.h). */
#define VFIO_CONTAINER_MAJOR 10u
#define VFIO_CONTAINER_MINOR 196u
/* An info with its capabilities is a few dozen bytes. */
#define TYPE1_INFO_MAX 65536u

uint64_t
vfio_type1_pgsizes(int fd, uint64_t *max_bitmap)
{
	struct vfio_iommu_type1_info_cap_migration cap;
	struct vfio_iommu_type1_info *info;
	size_t len = sizeof(*info);
	uint8_t *buf = xcalloc(1, len);
	uint64_t sizes = 0;
	uint32_t at;

	*max_bitmap = 0;
	info = (struct vfio_iommu_type1_info *)buf;
	info->argsz = (uint32_t)len;
	if (vfio_sys->ioctl(fd, VFIO_IOMMU_GET_INFO, info) < 0)
		goto out;
	if (info->argsz > len && info->argsz <= TYPE1_INFO_MAX) {
		len = info->argsz;
		buf = xrealloc(buf, len);
		memset(buf, 0, len);
		info = (struct vfio_iommu_type1_info *)buf;
		info->argsz = (uint32_t)len;
		if (vfio_sys->ioctl(fd, VFIO_IOMMU_GET_INFO, info) < 0)
			goto out;
	}
	if (!(info->flags & VFIO_IOMMU_INFO_CAPS) || info->cap_offset == 0)
		goto out;
	if (vfio_cap_find(buf, len, info->cap_offset, sizeof(*info),
		VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION, sizeof(cap), &at) == 0) {
		memcpy(&cap, buf + at, sizeof(cap));
		sizes = cap.pgsize_bitmap;
		*max_bitmap = cap.max_dirty_bitmap_size;
	}
out:
	free(buf);
	return sizes;
}

int
vfio_type1_check(int fd, uint64_t *pgsize, uint64_t *max_bitmap)
{
	struct stat st;
	uint64_t sizes;

	if (vfio_sys->fstat(fd, &st) != 0 || !S_ISCHR(st.st_mode) ||
	    major(st.st_rdev) != VFIO_CONTAINER_MAJOR || minor(st.st_rdev) != VFIO_CONTAINER_MINOR)
		return -ENOTTY;
	if (vfio_sys->ioctl(fd, VFIO_GET_API_VERSION, NULL) != VFIO_API_VERSION ||
	    vfio_sys->ioctl(fd, VFIO_CHECK_EXTENSION, (void *)(uintptr_t)VFIO_TYPE1v2_IOMMU) <= 0)
		return -ENOTTY;
	if ((sizes = vfio_type1_pgsizes(fd, max_bitmap)) == 0)
		return -EOPNOTSUPP;
	/* The kernel reports in its smallest IOMMU page only. */
	*pgsize = sizes & -sizes;
	return 0;
}

void
vfio_type1_init(struct vfio_type1 *t, int fd, uint64_t pgsize, uint64_t max_bitmap)
{
	memset(t, 0, sizeof(*t));
	t->fd = fd;
	t->pgsize = pgsize;
	t->max_bitmap = max_bitmap;
}

void
vfio_type1_clear(struct vfio_type1 *t)
{
	size_t i;

	for (i = 0; i < VFIO_TYPE1_RANGES_MAX; i++) {
		free(t->held[i]);
		t->held[i] = NULL;
	}
}

int
vfio_type1_set_ranges(struct vfio_type1 *t, const struct vfio_type1_range *r, size_t n,
    uint64_t page_size)
{
	if (n > VFIO_TYPE1_RANGES_MAX || t->pgsize == 0 || page_size < t->pgsize ||
	    page_size % t->pgsize != 0)
		return -EINVAL;
	vfio_type1_clear(t);
	memcpy(t->ranges, r, n * sizeof(*r));
	t->nranges = n;
	t->page_size = page_size;
	return 0;
}

/* VFIO_IOMMU_DIRTY_PAGES with flags, and a bitmap_get when asked. */
static int
vfio_type1_dirty(struct vfio_type1 *t, uint32_t flags,
    struct vfio_iommu_type1_dirty_bitmap_get *get)
{
	uint64_t buf[(sizeof(struct vfio_iommu_type1_dirty_bitmap) +
			 sizeof(struct vfio_iommu_type1_dirty_bitmap_get)) /
	    8];
	struct vfio_iommu_type1_dirty_bitmap *db = (struct vfio_iommu_type1_dirty_bitmap *)buf;

	memset(buf, 0, sizeof(buf));
	db->argsz = (uint32_t)(sizeof(*db) + (get != NULL ? sizeof(*get) : 0));
	db->flags = flags;
	if (get != NULL)
		memcpy(db->data, get, sizeof(*get));
	if (vfio_sys->ioctl(t->fd, VFIO_IOMMU_DIRTY_PAGES, db) < 0)
		return -errno;
	return 0;
}

int
vfio_type1_start(struct vfio_type1 *t)
{
	int err;

	vfio_type1_clear(t);
	if ((err = vfio_type1_dirty(t, VFIO_IOMMU_DIRTY_PAGES_FLAG_START, NULL)) == 0)
		t->logging = 1;
	return err;
}

int
vfio_type1_stop(struct vfio_type1 *t)
{
	vfio_type1_clear(t);
	if (!t->logging)
		return 0;
	t->logging = 0;
	return vfio_type1_dirty(t, VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP, NULL);
}

int
vfio_type1_report(struct vfio_type1 *t, uint64_t iova, uint64_t length, uint64_t page_size,
    uint64_t *bitmap)
{
	struct vfio_iommu_type1_dirty_bitmap_get get;
	uint64_t words = (length / page_size + 63) / 64;

	if (t->max_bitmap != 0 && words * sizeof(uint64_t) > t->max_bitmap)
		return -E2BIG;
	memset(&get, 0, sizeof(get));
	get.iova = iova;
	get.size = length;
	get.bitmap.pgsize = page_size;
	get.bitmap.size = words * sizeof(uint64_t);
	get.bitmap.data = (__u64 *)bitmap;
	return vfio_type1_dirty(t, VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP, &get);
}

static int
vfio_type1_bit(const uint64_t *bm, uint64_t i)
{
	return (bm[i / 64] >> (i % 64)) & 1;
}

/* Range r asked whole, in the container's page, OR-ed into what is held
 * in the guest's (a guest page is dirty when any of its parts is). */
static int
vfio_type1_fetch(struct vfio_type1 *t, size_t r)
{
	const struct vfio_type1_range *g = &t->ranges[r];
	uint64_t parts = g->length / t->pgsize, per = t->page_size / t->pgsize, i, *raw;
	int err;

	raw = xcalloc((size_t)((parts + 63) / 64), sizeof(uint64_t));
	if ((err = vfio_type1_report(t, g->iova, g->length, t->pgsize, raw)) != 0) {
		free(raw);
		return err;
	}
	if (t->held[r] == NULL)
		t->held[r] =
		    xcalloc((size_t)((g->length / t->page_size + 63) / 64), sizeof(uint64_t));
	for (i = 0; i < parts; i++)
		if (vfio_type1_bit(raw, i))
			t->held[r][i / per / 64] |= 1ull << (i / per % 64);
	free(raw);
	return 0;
}

int
vfio_type1_report_ranges(struct vfio_type1 *t, uint64_t iova, uint64_t length, uint64_t *bitmap)
{
	const struct vfio_type1_range *g;
	uint64_t a, b, i, first, off;
	size_t r;
	int err;

	for (r = 0; r < t->nranges; r++) {
		g = &t->ranges[r];
		a = g->iova > iova ? g->iova : iova;
		b = g->iova + g->length < iova + length ? g->iova + g->length : iova + length;
		if (a >= b)
			continue;
		if ((t->held[r] == NULL || iova <= g->iova) && (err = vfio_type1_fetch(t, r)) != 0)
			return err;
		first = (a - g->iova) / t->page_size;
		off = (a - iova) / t->page_size;
		for (i = 0; i < (b - a) / t->page_size; i++) {
			if (!vfio_type1_bit(t->held[r], first + i))
				continue;
			t->held[r][(first + i) / 64] &= ~(1ull << ((first + i) % 64));
			bitmap[(off + i) / 64] |= 1ull << ((off + i) % 64);
		}
	}
	return 0;
}
