/*
 * fake_vfio.h: a fake VFIO device (v2, or one with a v1 migration region)
 * and type1 container that several processes share, for the device
 * hand-over tests (issue 15), and what a test VMM does with them as the
 * guest would.
 *
 * The device lives in a file (registers, migration state, data session,
 * DMA log, the guest memory it writes by DMA), mapped MAP_SHARED with a
 * process-shared mutex. An fd opened on that file is the device fd: passed
 * with SCM_RIGHTS to another process, it is the same device there. In a
 * process that has tests/preload/fake_vfio.c in it (LD_PRELOAD of
 * fake_vfio.so, or linked in, as test_vmm is), libc's fstat, readlink,
 * ioctl, pread and pwrite answer on such an fd as the kernel's VFIO uAPI
 * does, and read, write, poll and close on the data fds it hands out;
 * every other fd goes to libc untouched. docs/SIM_DEVICE.md describes the
 * device and its stream.
 *
 * A container is a file too: fstat says /dev/vfio/vfio (10:196), it
 * answers the type1 ioctls (VFIO_IOMMU_MAP_DMA records a mapping,
 * VFIO_IOMMU_DIRTY_PAGES logs, with the kernel's checks: a report may not
 * begin or end inside a mapping, its page is the container's). A DMA
 * write of a device the VMM attached to it (in the VMM's process) dirties
 * its log where a mapping covers it. Unlike a real type1 container, which
 * without an IOMMU that tracks dirty pages reports every mapped page of a
 * vfio-pci device dirty, it logs exactly the pages written.
 *
 * Functions return 0 (or a count) on success and -errno on failure.
 */
#ifndef MIG_FAKE_VFIO_H
#define MIG_FAKE_VFIO_H

#include <stddef.h>
#include <stdint.h>

struct fake_vfio_config {
	uint64_t state_size; /* bytes of device state, a multiple of page_size */
	uint64_t guest_size; /* guest memory the device may DMA to: IOVA [0, guest_size) */
	uint32_t page_size;  /* bytes of state per stream record; 0: 4096 */
	uint64_t mig_flags;  /* VFIO_MIGRATION_*; 0: STOP_COPY | P2P | PRE_COPY */
	int anon_inode;	     /* look like a group's device fd, not a cdev */
	uint32_t minor;	     /* the cdev: /dev/vfio/devices/vfio<minor> */
	uint16_t vendor, device;
	uint32_t seed; /* the initial state image's pattern */
	int v1;	       /* a v1 migration region (released numbering), no v2 migration */
};

/* The v1 migration region's index, and where a region starts in the
 * device fd (index << shift), for a VMM that writes device_state. */
#define FAKE_VFIO_V1_REGION 9
#define FAKE_VFIO_REGION_SHIFT 40

struct fake_vfio_container_status {
	int logging;		/* VFIO_IOMMU_DIRTY_PAGES started */
	uint64_t starts, stops; /* START and STOP calls */
	uint64_t reports;	/* GET_BITMAP calls that succeeded */
	uint64_t maps;		/* VFIO_IOMMU_MAP_DMA calls that succeeded */
	uint64_t other_ioctls;	/* unmaps, SET_IOMMU, ...: none of the daemon's business */
};

struct fake_vfio_status {
	uint64_t state_size, guest_size;
	uint32_t state;		/* enum vfio_device_mig_state */
	uint64_t resets;	/* VFIO_DEVICE_RESET calls that reset it */
	uint64_t sessions;	/* data sessions opened */
	uint64_t set_states;	/* MIG_DEVICE_STATE SETs that succeeded */
	uint64_t other_ioctls;	/* ioctls a migration has no business making (bind, map, ...) */
	int logging;		/* DMA logging on */
	uint32_t nranges;	/* its IOVA ranges */
	uint64_t ranges[16][2]; /* iova, length */
	uint64_t digest;	/* FNV-1a 64 of the state image */
	char stream_error[128]; /* why the last resume was rejected; "" */
};

/* Make the device file `path` (it must not exist). */
int fake_vfio_create(const char *path, const struct fake_vfio_config *cfg);
/* Open it: the device fd (O_RDWR, close-on-exec), or -errno. */
int fake_vfio_open(const char *path);
/* Is fd a fake device (1), or not (0)? */
int fake_vfio_is_device(int fd);

int fake_vfio_status(int fd, struct fake_vfio_status *st);

/* The guest drives the device: its state changes only while it runs
 * (RUNNING, RUNNING_P2P, PRE_COPY, PRE_COPY_P2P), else -EBUSY. */
int fake_vfio_state_write(int fd, uint64_t offset, const void *buf, size_t len);
int fake_vfio_state_read(int fd, uint64_t offset, void *buf, size_t len);
/* The device writes guest memory by DMA at iova: 1 when DMA logging
 * recorded it, 0 when no logged range covers it, -EBUSY when the device is
 * not running, -EFAULT outside guest memory. */
int fake_vfio_dma_write(int fd, uint64_t iova, const void *buf, size_t len);
int fake_vfio_guest_read(int fd, uint64_t iova, void *buf, size_t len);

/* A type1 container file for IOVA [0, guest_size); dirty_cap 0: its
 * IOMMU logs no dirty pages (no migration capability). */
int fake_vfio_container_create(const char *path, uint64_t guest_size, int dirty_cap);
/* Open it: the container fd, or -errno. */
int fake_vfio_container_open(const char *path);
/* The device's DMA goes through the container from now on (in this
 * process: the VMM's group set in its container). */
int fake_vfio_container_attach(int container_fd, int device_fd);
int fake_vfio_container_status(int fd, struct fake_vfio_container_status *st);

/* FNV-1a 64, the stream's and the status's digest. */
uint64_t fake_vfio_fnv(const void *buf, size_t len);

#endif
