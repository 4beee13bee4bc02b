/*
 * vfio_compat.h: the kernel VFIO uAPI this daemon speaks, whatever the
 * system's <linux/vfio.h> is.
 *
 * Debian 12 ships the headers of Linux 6.1. They have the v2 migration FSM
 * (VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, 5.18) and DMA logging (6.1), but
 * not what came later and what this daemon uses:
 *
 *   6.2  VFIO_MIGRATION_PRE_COPY, the PRE_COPY and PRE_COPY_P2P states,
 *        VFIO_MIG_GET_PRECOPY_INFO on the data fd,
 *        VFIO_DEVICE_FEATURE_MIG_DATA_SIZE;
 *   6.6  the VFIO device cdev bound to an iommufd (VFIO_DEVICE_BIND_IOMMUFD,
 *        VFIO_DEVICE_ATTACH_IOMMUFD_PT) and <linux/iommufd.h>'s
 *        IOMMU_IOAS_ALLOC.
 *
 * Each is defined here, transcribed from the upstream uAPI, only when the
 * system header lacks it (detected by a macro that came with it). Either
 * way the static assertions below pin the layouts and ioctl numbers, so a
 * header that disagrees with what this code was written against stops the
 * build instead of corrupting a device.
 *
 * Never include this together with kabi_v1.h: the v1 KABI reuses names
 * (struct vfio_device_migration_info, VFIO_DEVICE_STATE_RUNNING) that mean
 * something else here. Code that needs both talks through plain-typed
 * interfaces (vfio_open.h, v2_fsm.h).
 */
#ifndef MIG_VFIO_COMPAT_H
#define MIG_VFIO_COMPAT_H

#include <stddef.h>

#include <linux/ioctl.h>
#include <linux/types.h>
#include <linux/vfio.h>

#if defined(__has_include)
#if __has_include(<linux/iommufd.h>)
#include <linux/iommufd.h>
#endif
#endif

/* --- 6.2: PRE_COPY ------------------------------------------------------ */

#ifndef VFIO_MIGRATION_PRE_COPY
#define VFIO_MIGRATION_PRE_COPY (1 << 2)
/* Values of enum vfio_device_mig_state that the older enum lacks. */
#define VFIO_DEVICE_STATE_PRE_COPY 6
#define VFIO_DEVICE_STATE_PRE_COPY_P2P 7
#endif

#ifndef VFIO_MIG_GET_PRECOPY_INFO
/* On the data fd in PRE_COPY and PRE_COPY_P2P: what is left to read. */
struct vfio_precopy_info {
	__u32 argsz;
	__u32 flags;
	__aligned_u64 initial_bytes;
	__aligned_u64 dirty_bytes;
};
#define VFIO_MIG_GET_PRECOPY_INFO _IO(VFIO_TYPE, VFIO_BASE + 21)
#endif

#ifndef VFIO_DEVICE_FEATURE_MIG_DATA_SIZE
/* GET: estimated bytes STOP_COPY will produce; valid in every state. */
struct vfio_device_feature_mig_data_size {
	__aligned_u64 stop_copy_length;
};
#define VFIO_DEVICE_FEATURE_MIG_DATA_SIZE 9
#endif

/* --- 6.6: the device cdev and iommufd ------------------------------------ */

#ifndef VFIO_DEVICE_BIND_IOMMUFD
struct vfio_device_bind_iommufd {
	__u32 argsz;
	__u32 flags;
	__s32 iommufd;
	__u32 out_devid;
};
#define VFIO_DEVICE_BIND_IOMMUFD _IO(VFIO_TYPE, VFIO_BASE + 18)

struct vfio_device_attach_iommufd_pt {
	__u32 argsz;
	__u32 flags;
	__u32 pt_id;
};
#define VFIO_DEVICE_ATTACH_IOMMUFD_PT _IO(VFIO_TYPE, VFIO_BASE + 19)
#endif

#ifndef IOMMU_IOAS_ALLOC
#define IOMMUFD_TYPE (';')
#define MIG_IOMMUFD_CMD_DESTROY 0x80
#define MIG_IOMMUFD_CMD_IOAS_ALLOC 0x81

struct iommu_destroy {
	__u32 size;
	__u32 id;
};
#define IOMMU_DESTROY _IO(IOMMUFD_TYPE, MIG_IOMMUFD_CMD_DESTROY)

struct iommu_ioas_alloc {
	__u32 size;
	__u32 flags;
	__u32 out_ioas_id;
};
#define IOMMU_IOAS_ALLOC _IO(IOMMUFD_TYPE, MIG_IOMMUFD_CMD_IOAS_ALLOC)
#endif

/* --- The layouts and numbers, whoever defined them ----------------------- */

_Static_assert(VFIO_TYPE == ';' && VFIO_BASE == 100, "VFIO ioctl base");
_Static_assert(VFIO_DEVICE_FEATURE == _IO(VFIO_TYPE, VFIO_BASE + 17), "DEVICE_FEATURE");
_Static_assert(sizeof(struct vfio_device_feature) == 8, "vfio_device_feature header");
_Static_assert(VFIO_DEVICE_FEATURE_MIGRATION == 1, "FEATURE_MIGRATION");
_Static_assert(VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE == 2, "FEATURE_MIG_DEVICE_STATE");
_Static_assert(VFIO_DEVICE_FEATURE_DMA_LOGGING_START == 6, "DMA_LOGGING_START");
_Static_assert(VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP == 7, "DMA_LOGGING_STOP");
_Static_assert(VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT == 8, "DMA_LOGGING_REPORT");
_Static_assert(VFIO_DEVICE_FEATURE_MIG_DATA_SIZE == 9, "FEATURE_MIG_DATA_SIZE");
_Static_assert(VFIO_MIGRATION_STOP_COPY == 1 && VFIO_MIGRATION_P2P == 2 &&
    VFIO_MIGRATION_PRE_COPY == 4, "migration flags");
_Static_assert(VFIO_DEVICE_STATE_ERROR == 0 && VFIO_DEVICE_STATE_STOP == 1 &&
    VFIO_DEVICE_STATE_RUNNING == 2 && VFIO_DEVICE_STATE_STOP_COPY == 3 &&
    VFIO_DEVICE_STATE_RESUMING == 4 && VFIO_DEVICE_STATE_RUNNING_P2P == 5 &&
    VFIO_DEVICE_STATE_PRE_COPY == 6 && VFIO_DEVICE_STATE_PRE_COPY_P2P == 7,
    "enum vfio_device_mig_state");

_Static_assert(sizeof(struct vfio_device_feature_migration) == 8, "feature_migration");
_Static_assert(sizeof(struct vfio_device_feature_mig_state) == 8, "feature_mig_state");
_Static_assert(offsetof(struct vfio_device_feature_mig_state, data_fd) == 4, "mig_state.data_fd");
_Static_assert(sizeof(struct vfio_device_feature_mig_data_size) == 8, "mig_data_size");

_Static_assert(VFIO_MIG_GET_PRECOPY_INFO == _IO(VFIO_TYPE, VFIO_BASE + 21), "PRECOPY_INFO ioctl");
_Static_assert(sizeof(struct vfio_precopy_info) == 24, "vfio_precopy_info size");
_Static_assert(offsetof(struct vfio_precopy_info, initial_bytes) == 8, "initial_bytes");
_Static_assert(offsetof(struct vfio_precopy_info, dirty_bytes) == 16, "dirty_bytes");

_Static_assert(sizeof(struct vfio_device_feature_dma_logging_control) == 24, "logging_control");
_Static_assert(offsetof(struct vfio_device_feature_dma_logging_control, ranges) == 16,
    "logging_control.ranges");
_Static_assert(sizeof(struct vfio_device_feature_dma_logging_range) == 16, "logging_range");
_Static_assert(sizeof(struct vfio_device_feature_dma_logging_report) == 32, "logging_report");
_Static_assert(offsetof(struct vfio_device_feature_dma_logging_report, bitmap) == 24,
    "logging_report.bitmap");

_Static_assert(VFIO_DEVICE_BIND_IOMMUFD == _IO(VFIO_TYPE, VFIO_BASE + 18), "BIND_IOMMUFD");
_Static_assert(VFIO_DEVICE_ATTACH_IOMMUFD_PT == _IO(VFIO_TYPE, VFIO_BASE + 19), "ATTACH_PT");
_Static_assert(sizeof(struct vfio_device_bind_iommufd) == 16, "bind_iommufd size");
_Static_assert(offsetof(struct vfio_device_bind_iommufd, out_devid) == 12, "out_devid");
_Static_assert(offsetof(struct vfio_device_attach_iommufd_pt, pt_id) == 8, "attach pt_id");
_Static_assert(IOMMU_IOAS_ALLOC == _IO(';', 0x81), "IOMMU_IOAS_ALLOC");
_Static_assert(sizeof(struct iommu_ioas_alloc) == 12, "iommu_ioas_alloc");
_Static_assert(IOMMU_DESTROY == _IO(';', 0x80), "IOMMU_DESTROY");

_Static_assert(sizeof(struct vfio_info_cap_header) == 8, "cap header");
_Static_assert(sizeof(struct vfio_region_info) == 32, "vfio_region_info");
_Static_assert(offsetof(struct vfio_region_info, cap_offset) == 12, "region cap_offset");
_Static_assert(offsetof(struct vfio_region_info, size) == 16, "region size");
_Static_assert(offsetof(struct vfio_region_info, offset) == 24, "region offset");
_Static_assert(sizeof(struct vfio_region_info_cap_type) == 16, "cap_type");
_Static_assert(sizeof(struct vfio_region_info_cap_sparse_mmap) == 16, "cap_sparse_mmap");
_Static_assert(sizeof(struct vfio_region_sparse_mmap_area) == 16, "sparse area");
_Static_assert(VFIO_REGION_INFO_CAP_SPARSE_MMAP == 1 && VFIO_REGION_INFO_CAP_TYPE == 2,
    "region capability ids");
_Static_assert(VFIO_REGION_TYPE_MIGRATION_DEPRECATED == 3 &&
    VFIO_REGION_SUBTYPE_MIGRATION_DEPRECATED == 1, "released v1 region numbering");
_Static_assert(sizeof(struct vfio_iommu_type1_dirty_bitmap) == 8, "type1 dirty_bitmap");
_Static_assert(sizeof(struct vfio_iommu_type1_dirty_bitmap_get) == 40, "type1 bitmap_get");
_Static_assert(sizeof(struct vfio_bitmap) == 24, "vfio_bitmap");

#endif
