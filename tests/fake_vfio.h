/*
 * fake_vfio.h: a fake VFIO v2 device that several processes share, for the
 * device hand-over tests (issue 15), and what a test VMM does with it as
 * the guest would.
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

/* FNV-1a 64, the stream's and the status's digest. */
uint64_t fake_vfio_fnv(const void *buf, size_t len);

#endif
