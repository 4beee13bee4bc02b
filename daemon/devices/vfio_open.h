/*
 * vfio_open.h: getting hold of a kernel VFIO device, and reading what it
 * says about itself.
 *
 * A device is configured by `path` as one of
 *   /dev/vfio/devices/vfioN  its cdev, bound to a new iommufd (Linux 6.6+);
 *   /dev/vfio/N              its IOMMU group, in a new type1 container (the
 *                            legacy interface; the group must hold only
 *                            this device, else name it by PCI address);
 *   DDDD:BB:DD.F             a PCI address, resolved through sysfs to its
 *                            cdev when the kernel has one and /dev/iommu
 *                            exists, else to its group.
 * Every failure is logged once, naming the path, the step and what the
 * operator can do about it, and returned as -errno.
 *
 * The interface has plain types only, so that the v1 backend (whose KABI
 * header clashes with <linux/vfio.h>) can use it; vfio_open.c is where the
 * uAPI structures live. All system calls go through vfio_sys.
 */
#ifndef MIG_VFIO_OPEN_H
#define MIG_VFIO_OPEN_H

#include <stddef.h>
#include <stdint.h>

enum vfio_open_mode {
	VFIO_MODE_CDEV,	 /* device cdev + iommufd */
	VFIO_MODE_GROUP, /* group + type1 container */
	VFIO_MODE_HANDOVER, /* a device fd its VMM handed over: nothing else is ours */
};

struct vfio_handle {
	const char *name; /* the configured device, for log lines */
	enum vfio_open_mode mode;
	int device_fd;
	int iommufd;	  /* cdev mode, else -1 */
	int group_fd;	  /* group mode, else -1 */
	int container_fd; /* group mode, else -1 */
	uint32_t devid, ioas_id;
	char path[128];	  /* the node opened: cdev or group */
	char pci[32];	  /* PCI address, when known */
	char driver[64];  /* driver bound to it, when known (sysfs) */
	uint32_t flags;	  /* VFIO_DEVICE_GET_INFO */
	uint32_t num_regions, num_irqs;
};

#define VFIO_REGION_MAX_AREAS 16

/* One region of the device fd (VFIO_DEVICE_GET_REGION_INFO). */
struct vfio_region {
	uint32_t index;
	uint64_t offset; /* where the region starts in the device fd */
	uint64_t size;
	int readable, writable, mappable;
	int sparse; /* a sparse mmap capability lists the mappable areas */
	size_t nareas;
	struct {
		uint64_t offset, size; /* relative to the region */
	} areas[VFIO_REGION_MAX_AREAS];
};

/* What PCI config space says, for identity and compatibility strings. */
struct vfio_pci_ids {
	uint16_t vendor, device, subsystem_vendor, subsystem;
	uint8_t revision;
};

/* Open and set up the device `path` names; h is filled, or -errno. */
int vfio_open(struct vfio_handle *h, const char *name, const char *path);
void vfio_close(struct vfio_handle *h);
/*
 * A device fd handed over by the VMM that holds it (SPEC §8): check that
 * it is a VFIO device (a character device, or the anon inode a group's
 * VFIO_GROUP_GET_DEVICE_FD gives, answering VFIO_DEVICE_GET_INFO) and
 * make it h's device_fd, opening, binding and attaching nothing. The fd
 * is the daemon's own reference; vfio_close closes that one only.
 * -ENOTTY when it is not a VFIO device (not logged: the caller answers
 * the client), else 0.
 */
int vfio_adopt(struct vfio_handle *h, const char *name, int fd);

/* VFIO_DEVICE_RESET; -ENOTSUP when the device does not offer it. */
int vfio_reset(struct vfio_handle *h);

/* Info of region `index`, with its sparse mmap areas. -EPROTO (logged) when
 * the kernel's answer is malformed. */
int vfio_region_get(struct vfio_handle *h, uint32_t index, struct vfio_region *out);
/* The region whose type capability is (type, subtype): 0, -ENOENT (not
 * logged: the caller decides whether that is an error), or -errno. */
int vfio_region_find(struct vfio_handle *h, uint32_t type, uint32_t subtype,
    struct vfio_region *out);
/* Is [offset, offset + len) of the region inside one mmap-able area? */
int vfio_region_can_map(const struct vfio_region *r, uint64_t offset, uint64_t len);

/*
 * Walk a capability chain (struct vfio_info_cap_header) in buf[0, len)
 * starting at `first`; no capability may start before min_offset (the
 * fixed part of the info structure). Finds capability `id` of at least
 * `size` bytes: 0 with *at set, -ENOENT, or -EPROTO for a chain that
 * points outside the buffer, backwards, or at a capability too short.
 */
int vfio_cap_find(const void *buf, size_t len, uint32_t first, uint32_t min_offset, uint16_t id,
    size_t size, uint32_t *at);

int vfio_is_pci(const struct vfio_handle *h);
int vfio_read_pci_ids(struct vfio_handle *h, struct vfio_pci_ids *ids);

/* identity "IFACE pci VVVV:DDDD" and compat
 * "subsystem=VVVV:SSSS,revision=RR" (or, for a device that is not PCI,
 * "IFACE DRIVER" and "regions=N,irqs=M"). */
void vfio_identity(struct vfio_handle *h, const char *iface, char *identity, size_t idlen,
    char *compat, size_t compatlen);

/* "cdev /dev/vfio/devices/vfio3 + iommufd" or "group /dev/vfio/42 + type1". */
const char *vfio_mode_name(const struct vfio_handle *h);

#endif
