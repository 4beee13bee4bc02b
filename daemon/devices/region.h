/*
 * region.h: access to a v1 migration region, whoever implements it.
 *
 * The v1 protocol driver (v1_driver.c) talks to a device only through this
 * interface. The software device implements it in memory; the kernel v1
 * backend implements it with pread/pwrite at the region's offset in the
 * device fd and mmap of the data section. Offsets are relative to the start
 * of the migration region.
 */
#ifndef MIG_REGION_H
#define MIG_REGION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mig_region;

struct mig_region_ops {
	/* Like pread(2): bytes read, or -errno (-EINVAL for a field accessed
	 * at the wrong width or alignment, or outside the region). */
	ssize_t (*read)(struct mig_region *r, uint64_t offset, void *buf, size_t len);
	/* Like pwrite(2): bytes written, or -errno. */
	ssize_t (*write)(struct mig_region *r, uint64_t offset, const void *buf, size_t len);
	/* Map [offset, offset + len) of the region for direct access; returns
	 * 0 and sets *addr, or -ENOTSUP when that part is not mappable (the
	 * caller then uses read/write), or another -errno. May be NULL. */
	int (*map)(struct mig_region *r, uint64_t offset, size_t len, void **addr);
	/* Reset the device (VFIO_DEVICE_RESET for a kernel device): the way
	 * out of the error state. Returns 0 or -errno. */
	int (*reset)(struct mig_region *r);
};

struct mig_region {
	const struct mig_region_ops *ops;
	uint64_t size; /* bytes in the region: info structure + data section */
	void *priv;    /* the implementation's */
};

#endif
