/*
 * kabi_v1.h: the region-based VFIO migration KABI ("v1").
 *
 * Transcribed from the interface proposed for Linux in 2019 ("vfio: KABI for
 * migration interface", v4; see shared/vfio-migration-v1-kabi.txt). Released
 * kernels 5.8..5.17 shipped it with the names suffixed _DEPRECATED (and the
 * subtype renumbered in the type/subtype pair below); the kernel v1 backend
 * looks for both. Kernels since 5.18 replaced it with the v2 device-feature
 * interface, so no system header carries these definitions any longer and
 * they live here, with their layout pinned by static assertions.
 */
#ifndef MIG_KABI_V1_H
#define MIG_KABI_V1_H

#include <stddef.h>
#include <stdint.h>

/* Migration region type and sub-type. */
#define VFIO_REGION_TYPE_MIGRATION (2)
#define VFIO_REGION_SUBTYPE_MIGRATION (1)

/*
 * Placed at offset 0 of the migration region. Fields are accessed only at
 * their native width and alignment; anything else is refused by the device.
 */
struct vfio_device_migration_info {
	uint32_t device_state; /* read/write */
#define VFIO_DEVICE_STATE_STOPPED (0)
#define VFIO_DEVICE_STATE_RUNNING (1 << 0)
#define VFIO_DEVICE_STATE_SAVING (1 << 1)
#define VFIO_DEVICE_STATE_RESUMING (1 << 2)
#define VFIO_DEVICE_STATE_MASK \
	(VFIO_DEVICE_STATE_RUNNING | VFIO_DEVICE_STATE_SAVING | VFIO_DEVICE_STATE_RESUMING)
#define VFIO_DEVICE_STATE_INVALID (VFIO_DEVICE_STATE_SAVING | VFIO_DEVICE_STATE_RESUMING)
	uint32_t reserved;
	uint64_t pending_bytes; /* read only */
	uint64_t data_offset;	/* read only */
	uint64_t data_size;	/* read in SAVING, written in RESUMING */
	uint64_t start_pfn;	/* write only */
	uint64_t page_size;	/* write only */
	uint64_t total_pfns;	/* write only */
	int64_t copied_pfns;	/* read only; -1: every page in the range dirty */
} __attribute__((packed));

/* The layout is ABI: pin the size and every offset. */
_Static_assert(sizeof(struct vfio_device_migration_info) == 64, "v1 info size");
_Static_assert(offsetof(struct vfio_device_migration_info, device_state) == 0, "device_state");
_Static_assert(offsetof(struct vfio_device_migration_info, reserved) == 4, "reserved");
_Static_assert(offsetof(struct vfio_device_migration_info, pending_bytes) == 8, "pending_bytes");
_Static_assert(offsetof(struct vfio_device_migration_info, data_offset) == 16, "data_offset");
_Static_assert(offsetof(struct vfio_device_migration_info, data_size) == 24, "data_size");
_Static_assert(offsetof(struct vfio_device_migration_info, start_pfn) == 32, "start_pfn");
_Static_assert(offsetof(struct vfio_device_migration_info, page_size) == 40, "page_size");
_Static_assert(offsetof(struct vfio_device_migration_info, total_pfns) == 48, "total_pfns");
_Static_assert(offsetof(struct vfio_device_migration_info, copied_pfns) == 56, "copied_pfns");

/* Offsets and widths by name, for code that accesses a field through a region. */
#define V1_OFF(field) ((uint64_t)offsetof(struct vfio_device_migration_info, field))
#define V1_WIDTH(field) (sizeof(((struct vfio_device_migration_info *)0)->field))

#endif
