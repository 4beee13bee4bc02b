/*
 * vfio_fake.h: a fake kernel behind vfio_sys, for the unit tests of the
 * kernel VFIO backends.
 *
 * It answers as the VFIO uAPI says, byte for byte: the device nodes and
 * their sysfs links, the cdev/iommufd and group/container setup ioctls,
 * VFIO_DEVICE_GET_INFO and GET_REGION_INFO with capability chains the test
 * writes (well-formed or not), pread/pwrite/mmap of regions (the v1
 * migration region is forwarded to a software v1 device's region, so the
 * whole kernel path runs against a real vendor driver), the v2 device
 * features with a data fd, DMA logging, and the type1 container's dirty
 * pages. Every step can be made to fail; every ioctl is recorded.
 *
 * Up to two devices: vfio0 (PCI 0000:3b:00.0, IOMMU group 42) and vfio1
 * (0000:3b:00.1, group 43). Plain types only here; vfio_fake.c speaks
 * <linux/vfio.h>.
 */
#ifndef MIG_VFIO_FAKE_H
#define MIG_VFIO_FAKE_H

#include <stddef.h>
#include <stdint.h>

#include "region.h"

#define FAKE_MAX_REGIONS 12
#define FAKE_MAX_CALLS 512
#define FAKE_CAPS_MAX 512

enum fake_backing {
	FAKE_BACK_NONE,
	FAKE_BACK_CONFIG, /* PCI config space bytes */
	FAKE_BACK_MIG,	  /* a struct mig_region (the v1 migration region) */
};

struct fake_region {
	int present;
	uint32_t flags; /* VFIO_REGION_INFO_FLAG_* (READ 1, WRITE 2, MMAP 4) */
	uint64_t size;
	enum fake_backing backing;
	/* The capability chain exactly as the kernel would append it after the
	 * 32-byte struct vfio_region_info: offsets in it are from the start of
	 * the info (the first capability is at 32). */
	uint8_t caps[FAKE_CAPS_MAX];
	uint32_t caps_len;
	uint32_t last_cap; /* offset (from the info's start) of the last one */
};

struct fake_device {
	int present;
	uint32_t flags; /* VFIO_DEVICE_FLAGS_* (RESET 1, PCI 2) */
	uint32_t num_irqs;
	struct fake_region regions[FAKE_MAX_REGIONS];
	uint32_t num_regions;
	uint8_t config[256];
	struct mig_region *mig; /* behind FAKE_BACK_MIG */
	size_t short_pio;	/* pread/pwrite of more than 8 bytes move at most this */
	int resets;

	/* v2: VFIO_DEVICE_FEATURE_MIGRATION flags; 0 = no v2 migration. */
	uint64_t mig_flags;
	uint32_t state;
	uint32_t arcs[64][2]; /* SET_STATE requests that succeeded */
	int narcs;
	uint32_t refuse_from, refuse_to; /* arm with refuse_err != 0 */
	int refuse_err, refuse_into_error;
	int has_data_size;
	uint64_t data_size;
	/* The stream the device saves: bytes [0, avail) readable in pre-copy
	 * (then ENOMSG), all of it in stop-copy (then end of stream). */
	uint8_t *stream;
	size_t stream_len, stream_pos, precopy_avail, initial_len;
	size_t max_read;	/* bytes per read(), 0 = any */
	int stopcopy_enomsg;	/* read() says ENOMSG in stop-copy (a uAPI breach) */
	int stall;		/* poll() never says ready; read() says EAGAIN */
	/* mlx5's asynchronous save on entering PRE_COPY: only the first
	 * save_header bytes are there (and all PRECOPY_INFO's initial_bytes
	 * counts); past them read() says EAGAIN save_busy times, then the
	 * save is done and the stream is as above. */
	size_t save_header;
	int save_busy;
	/* The stream received in RESUMING. */
	uint8_t *received;
	size_t received_len;
	int data_fd_closed_before_stop; /* RESUMING -> STOP found the fd closed */
	/* DMA logging. */
	int dma_logging;
	uint64_t log_page_size; /* what START answers */
	int logging;
	uint64_t log_iova, log_length;
	uint32_t log_nranges;	  /* ranges START asked for; the first 8: */
	uint64_t log_ranges[8][2]; /* iova, length */
	uint64_t *dirty_pfns; /* pages (of the report's page size) to report */
	size_t ndirty;
};

struct fake_kernel {
	struct fake_device dev[2];
	/* Nodes and sysfs. */
	int have_cdev, have_iommufd, have_groups;
	char driver[2][32]; /* "" = no driver bound */
	int group_viable;
	int group_extra_member; /* a second device in group 42 */
	int type1_dirty;	/* the container offers dirty page tracking */
	uint64_t type1_pgsizes;
	int type1_logging;
	/* Failure injection: the nth (from 1) ioctl with this request fails. */
	unsigned long fail_req;
	int fail_nth, fail_errno, fail_seen;
	const char *fail_open_path;
	int fail_open_errno;
	/* What happened. */
	unsigned long calls[FAKE_MAX_CALLS];
	int ncalls;
	int open_fds;
};

extern struct fake_kernel fake;

/* Reset the fake to two absent devices, every node present, groups
 * viable, and put it behind vfio_sys. */
void fake_install(void);
/* Real system calls again; frees what the fake allocated. */
void fake_uninstall(void);

/* A PCI device with config space (vendor:device, subsystem) and the
 * standard regions 0..8 (BARs and config), regions beyond absent. */
void fake_pci_device(int i, uint16_t vendor, uint16_t device);
/* Region `index` backed by a software device's v1 region, with a type
 * capability (type, subtype); mmap_from > 0 adds a sparse mmap area
 * [mmap_from, size) and the MMAP flag. */
void fake_mig_region(int i, uint32_t index, struct mig_region *mig, uint32_t type,
    uint32_t subtype, uint64_t mmap_from);
/* Append a capability of `len` bytes (header included; id, version and
 * next are filled in, next pointing after it unless it is the last). */
void fake_region_cap(int i, uint32_t index, uint16_t id, const void *body, size_t body_len);

/* A device fd as its VMM holds it (opened, bound and attached), to hand
 * over; and whether a fake fd is still open (not closed by the daemon). */
int fake_device_fd(int i);
int fake_fd_open(int fd);

/* How many times an ioctl request was made. */
int fake_count(unsigned long req);
/* Index of the first call of req in fake.calls, or -1. */
int fake_find(unsigned long req);

/* Request numbers, for tests that cannot include <linux/vfio.h>. */
extern const unsigned long FAKE_BIND_IOMMUFD, FAKE_IOAS_ALLOC, FAKE_ATTACH_PT, FAKE_GET_INFO,
    FAKE_GET_REGION_INFO, FAKE_GROUP_GET_STATUS, FAKE_GROUP_SET_CONTAINER, FAKE_SET_IOMMU,
    FAKE_GET_DEVICE_FD, FAKE_DEVICE_RESET, FAKE_DEVICE_FEATURE, FAKE_PRECOPY_INFO,
    FAKE_GET_API_VERSION, FAKE_CHECK_EXTENSION, FAKE_IOMMU_GET_INFO, FAKE_DIRTY_PAGES;

#endif
