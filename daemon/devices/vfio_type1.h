/*
 * vfio_type1.h: the dirty page log of a type1 VFIO container
 * (VFIO_IOMMU_DIRTY_PAGES), for a device whose DMA is logged by the
 * container it sits in rather than by itself: a vfio-v1 device, or a
 * vfio-v2 device without DMA logging.
 *
 * The container is the daemon's own (a configured device opened by its
 * group, with no guest memory mapped) or its VMM's, handed over with the
 * device (SPEC §8, docs/HANDOVER.md). A VMM's is only checked, its log
 * started, read and stopped: nothing here maps, unmaps, attaches or sets
 * an IOMMU, and the fd is the caller's to close.
 *
 * Plain types only, so that the v1 backend (whose KABI header clashes
 * with <linux/vfio.h>) can use it. All system calls go through vfio_sys.
 */
#ifndef MIG_VFIO_TYPE1_H
#define MIG_VFIO_TYPE1_H

#include <stddef.h>
#include <stdint.h>

#define VFIO_TYPE1_RANGES_MAX 64

struct vfio_type1_range {
	uint64_t iova, length;
};

struct vfio_type1 {
	int fd;		     /* the container */
	uint64_t pgsize;     /* its dirty bitmap's page (the smallest IOMMU page) */
	uint64_t max_bitmap; /* bytes one report's bitmap may have */
	int logging;
	/* The guest's ranges, each asked whole: the kernel refuses a report
	 * that begins or ends inside a DMA mapping, and a VMM maps a range
	 * (or several) at once. Per range, in page_size pages, the dirty bits
	 * the kernel gave and no report of a window has taken yet. */
	struct vfio_type1_range ranges[VFIO_TYPE1_RANGES_MAX];
	size_t nranges;
	uint64_t page_size;
	uint64_t *held[VFIO_TYPE1_RANGES_MAX];
};

/*
 * Is fd a VFIO container (the /dev/vfio/vfio character device, answering
 * VFIO_GET_API_VERSION and VFIO_CHECK_EXTENSION(VFIO_TYPE1v2_IOMMU)) whose
 * IOMMU logs dirty pages (VFIO_IOMMU_GET_INFO's migration capability)?
 * 0 with its page size and bitmap limit, -ENOTTY when it is not such a
 * container, -EOPNOTSUPP when it logs no dirty pages. Not logged: the
 * caller answers its client.
 */
int vfio_type1_check(int fd, uint64_t *pgsize, uint64_t *max_bitmap);
/* Only the migration capability, of a container known to be one: 0 when
 * it has none. */
uint64_t vfio_type1_pgsizes(int fd, uint64_t *max_bitmap);

void vfio_type1_init(struct vfio_type1 *t, int fd, uint64_t pgsize, uint64_t max_bitmap);
/* The ranges reports go through (page_size-aligned, sorted, disjoint):
 * -EINVAL when page_size is not a multiple of the container's page. */
int vfio_type1_set_ranges(struct vfio_type1 *t, const struct vfio_type1_range *r, size_t n,
    uint64_t page_size);
/* VFIO_IOMMU_DIRTY_PAGES_FLAG_START / _STOP (which drops what is held). */
int vfio_type1_start(struct vfio_type1 *t);
int vfio_type1_stop(struct vfio_type1 *t);
/* One GET_BITMAP of [iova, iova + length) in pages of page_size (one the
 * container offers), into bitmap (get-and-clear, as the kernel does). */
int vfio_type1_report(struct vfio_type1 *t, uint64_t iova, uint64_t length, uint64_t page_size,
    uint64_t *bitmap);
/* Dirty pages of the window [iova, iova + length) of the page space, in
 * page_size pages, OR-ed into bitmap (bit i = iova / page_size + i), read
 * through the ranges: a range is asked whole of the kernel when the window
 * holds its start (or nothing of it is held), the bits of the window taken
 * out of what is held. A page stays held until a window takes it. */
int vfio_type1_report_ranges(struct vfio_type1 *t, uint64_t iova, uint64_t length,
    uint64_t *bitmap);
/* Frees what is held; the fd stays open. */
void vfio_type1_clear(struct vfio_type1 *t);

#endif
