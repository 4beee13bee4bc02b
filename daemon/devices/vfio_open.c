/*
 * vfio_open.c: open a kernel VFIO device by cdev, group or PCI address, and
 * read its device and region information (vfio_open.h).
 *
 * It owns the setup sequences of both kernel interfaces and the parsing of
 * what the kernel answers (device info, region info and its capability
 * chain). It never touches migration state: the backends do. Each failure
 * is logged here, once, with the path, the step and the operator's way
 * out; callers only pass the -errno on.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "log.h"
#include "vfio_compat.h"
#include "vfio_open.h"
#include "vfio_sys.h"
#include "xmalloc.h"

#define SYS_PCI_DEVICES "/sys/bus/pci/devices"
#define SYS_IOMMU_GROUPS "/sys/kernel/iommu_groups"
#define DEV_VFIO "/dev/vfio/"
#define DEV_VFIO_CDEV "/dev/vfio/devices/"
#define DEV_VFIO_CONTAINER "/dev/vfio/vfio"
#define DEV_IOMMU "/dev/iommu"
/* A region info with its capabilities is a few hundred bytes; anything
 * near this is a kernel answer not to be trusted. */
#define REGION_INFO_MAX 65536u

/* What an operator can do about errno at a step that opens a node. */
static const char *
vfio_open_hint(int err)
{
	switch (err) {
	case EACCES:
	case EPERM:
		return "the daemon's user needs read and write access to it (a udev rule or "
		       "group for the VFIO nodes, or run the daemon as root)";
	case ENOENT:
	case ENODEV:
	case ENXIO:
		return "the node does not exist: is the device bound to vfio-pci or its "
		       "vendor's variant driver (e.g. mlx5_vfio_pci)?";
	case EBUSY:
		return "the device is in use: another VMM or daemon holds it, or the group is "
		       "already in a container";
	}
	return "check the kernel log (dmesg) for the VFIO driver's view";
}

/* Log one failed step and return -err. */
static int
vfio_fail(struct vfio_handle *h, const char *path, const char *step, int err, const char *hint)
{
	log_warnx("device %s: %s: %s: %s; %s", h->name, path, step, strerror(err), hint);
	return -err;
}

static int
vfio_open_node(struct vfio_handle *h, const char *path, const char *step, int *fd)
{
	if ((*fd = vfio_sys->open(path, O_RDWR)) < 0)
		return vfio_fail(h, path, step, errno, vfio_open_hint(errno));
	return 0;
}

/* ioctl with the step named on failure. */
static int
vfio_ioctl_step(struct vfio_handle *h, int fd, unsigned long req, void *arg, const char *path,
    const char *step, const char *hint)
{
	if (vfio_sys->ioctl(fd, req, arg) < 0)
		return vfio_fail(h, path, step, errno, hint);
	return 0;
}

/* The last component of a symlink's target ("../../../bus/pci/drivers/vfio-pci"
 * -> "vfio-pci"); -errno. */
static int
vfio_link_basename(const char *link, char *out, size_t len)
{
	char target[512];
	const char *base;
	ssize_t n;

	if ((n = vfio_sys->readlink(link, target, sizeof(target) - 1)) < 0)
		return -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base != NULL ? base + 1 : target;
	if (*base == '\0' || strlen(base) >= len)
		return -ENAMETOOLONG;
	snprintf(out, len, "%s", base);
	return 0;
}

/* The only entry of dir whose name starts with prefix (or any entry when
 * prefix is ""). Returns the number of matching entries (the first copied
 * to out), or -errno. */
static int
vfio_dir_entries(const char *dir, const char *prefix, char *out, size_t len)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	if ((d = vfio_sys->opendir(dir)) == NULL)
		return -errno;
	while ((de = vfio_sys->readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		if (n++ == 0) {
			if (strlen(de->d_name) >= len) {
				n = -ENAMETOOLONG;
				break;
			}
			memcpy(out, de->d_name, strlen(de->d_name) + 1);
		}
	}
	vfio_sys->closedir(d);
	return n;
}

static int
vfio_is_pci_address(const char *s)
{
	unsigned int dom, bus, dev, fn;
	char tail;

	return strlen(s) == 12 && sscanf(s, "%4x:%2x:%2x.%1x%c", &dom, &bus, &dev, &fn, &tail) == 4;
}

/* A PCI address to the node to open: the cdev when this kernel has one for
 * the device and /dev/iommu exists, else the group. */
static int
vfio_resolve_pci(struct vfio_handle *h, const char *addr, char *node, size_t len)
{
	char base[128], link[192], entry[64], group[32];
	int n, err;

	snprintf(h->pci, sizeof(h->pci), "%s", addr);
	snprintf(base, sizeof(base), SYS_PCI_DEVICES "/%s", addr);
	if (vfio_sys->access(base, F_OK) != 0)
		return vfio_fail(h, base, "looking up the PCI address", errno,
		    "no such PCI function on this host (lspci -D lists them)");
	snprintf(link, sizeof(link), "%s/driver", base);
	if ((err = vfio_link_basename(link, h->driver, sizeof(h->driver))) != 0)
		return vfio_fail(h, link, "finding the bound driver", -err,
		    "bind it to vfio-pci or to its vendor's variant driver: "
		    "echo vfio-pci > driver_override in its sysfs directory, then "
		    "echo ADDRESS > /sys/bus/pci/drivers_probe");
	if (strstr(h->driver, "vfio") == NULL) {
		log_warnx("device %s: %s: bound to %s, which is not a VFIO driver; unbind it and "
			  "bind vfio-pci or the vendor's variant driver (e.g. mlx5_vfio_pci)",
		    h->name, addr, h->driver);
		return -ENODEV;
	}
	snprintf(link, sizeof(link), "%s/vfio-dev", base);
	n = vfio_dir_entries(link, "vfio", entry, sizeof(entry));
	if (n == 1 && vfio_sys->access(DEV_IOMMU, F_OK) == 0) {
		snprintf(node, len, DEV_VFIO_CDEV "%s", entry);
		return 0;
	}
	snprintf(link, sizeof(link), "%s/iommu_group", base);
	if ((err = vfio_link_basename(link, group, sizeof(group))) != 0)
		return vfio_fail(h, link, "finding the IOMMU group", -err,
		    "the device has no IOMMU group: enable the IOMMU (intel_iommu=on or "
		    "amd_iommu=on) in the kernel command line");
	snprintf(node, len, DEV_VFIO "%s", group);
	if (vfio_sys->access(node, F_OK) != 0) {
		snprintf(node, len, DEV_VFIO "noiommu-%s", group);
		if (vfio_sys->access(node, F_OK) != 0)
			return vfio_fail(h, DEV_VFIO, "finding the group node", ENOENT,
			    vfio_open_hint(ENOENT));
	}
	return 0;
}

/* Group given by path: the device in it, when it is the only one. */
static int
vfio_group_member(struct vfio_handle *h, const char *group_path)
{
	const char *num = group_path + strlen(DEV_VFIO);
	char dir[128];
	int n;

	if (strncmp(num, "noiommu-", 8) == 0)
		num += 8;
	snprintf(dir, sizeof(dir), SYS_IOMMU_GROUPS "/%s/devices", num);
	n = vfio_dir_entries(dir, "", h->pci, sizeof(h->pci));
	if (n < 0)
		return vfio_fail(h, dir, "listing the group's devices", -n,
		    "is this an IOMMU group number (ls /dev/vfio)?");
	if (n != 1) {
		log_warnx("device %s: %s: IOMMU group has %d devices; configure the device by its "
			  "PCI address (path = DDDD:BB:DD.F) so the daemon knows which one",
		    h->name, group_path, n);
		h->pci[0] = '\0';
		return -EINVAL;
	}
	return 0;
}

/* Best effort, for the operator's report: the PCI address behind a cdev
 * (/sys/class/vfio-dev/vfioN/device) and the driver bound to it. */
static void
vfio_learn_driver(struct vfio_handle *h)
{
	char link[192];

	if (h->pci[0] == '\0' && h->mode == VFIO_MODE_CDEV) {
		snprintf(link, sizeof(link), "/sys/class/vfio-dev/%s/device",
		    h->path + strlen(DEV_VFIO_CDEV));
		if (vfio_link_basename(link, h->pci, sizeof(h->pci)) != 0)
			h->pci[0] = '\0';
	}
	if (h->pci[0] != '\0' && h->driver[0] == '\0') {
		snprintf(link, sizeof(link), SYS_PCI_DEVICES "/%s/driver", h->pci);
		if (vfio_link_basename(link, h->driver, sizeof(h->driver)) != 0)
			h->driver[0] = '\0';
	}
}

static int
vfio_get_info(struct vfio_handle *h)
{
	struct vfio_device_info info;
	int err;

	memset(&info, 0, sizeof(info));
	info.argsz = sizeof(info);
	if ((err = vfio_ioctl_step(h, h->device_fd, VFIO_DEVICE_GET_INFO, &info, h->path,
	    "VFIO_DEVICE_GET_INFO", "the driver does not answer device queries")) != 0)
		return err;
	h->flags = info.flags;
	h->num_regions = info.num_regions;
	h->num_irqs = info.num_irqs;
	return 0;
}

/* cdev: open the device, bind it to a new iommufd, attach it to a new IOAS. */
static int
vfio_open_cdev(struct vfio_handle *h)
{
	struct vfio_device_bind_iommufd bind;
	struct vfio_device_attach_iommufd_pt attach;
	struct iommu_ioas_alloc ioas;
	int err;

	if ((err = vfio_open_node(h, h->path, "opening the VFIO device cdev", &h->device_fd)) != 0)
		return err;
	if ((h->iommufd = vfio_sys->open(DEV_IOMMU, O_RDWR)) < 0)
		return vfio_fail(h, DEV_IOMMU, "opening iommufd", errno,
		    errno == ENOENT ? "this kernel has no iommufd (CONFIG_IOMMUFD): configure the "
				      "device by its group /dev/vfio/N instead"
				    : vfio_open_hint(errno));
	memset(&bind, 0, sizeof(bind));
	bind.argsz = sizeof(bind);
	bind.iommufd = h->iommufd;
	if ((err = vfio_ioctl_step(h, h->device_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind, h->path,
	    "VFIO_DEVICE_BIND_IOMMUFD", "the device may already be bound (opened by another "
	    "process), or the kernel is older than 6.6")) != 0)
		return err;
	h->devid = bind.out_devid;
	memset(&ioas, 0, sizeof(ioas));
	ioas.size = sizeof(ioas);
	if ((err = vfio_ioctl_step(h, h->iommufd, IOMMU_IOAS_ALLOC, &ioas, DEV_IOMMU,
	    "IOMMU_IOAS_ALLOC", "iommufd refused a new I/O address space")) != 0)
		return err;
	h->ioas_id = ioas.out_ioas_id;
	memset(&attach, 0, sizeof(attach));
	attach.argsz = sizeof(attach);
	attach.pt_id = h->ioas_id;
	if ((err = vfio_ioctl_step(h, h->device_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach,
	    h->path, "VFIO_DEVICE_ATTACH_IOMMUFD_PT", "the IOMMU refused to attach the device "
	    "(dmesg has the reason)")) != 0)
		return err;
	return vfio_get_info(h);
}

/* group: container with the type1 IOMMU, the group in it, the device from it. */
static int
vfio_open_group(struct vfio_handle *h)
{
	struct vfio_group_status status;
	int noiommu = strncmp(h->path, DEV_VFIO "noiommu-", strlen(DEV_VFIO "noiommu-")) == 0;
	int iommu_type = noiommu ? VFIO_NOIOMMU_IOMMU : VFIO_TYPE1v2_IOMMU;
	int fd, err;

	if ((err = vfio_open_node(h, DEV_VFIO_CONTAINER, "opening the VFIO container",
	    &h->container_fd)) != 0)
		return err;
	if (vfio_sys->ioctl(h->container_fd, VFIO_GET_API_VERSION, NULL) != VFIO_API_VERSION)
		return vfio_fail(h, DEV_VFIO_CONTAINER, "VFIO_GET_API_VERSION", EPROTO,
		    "the kernel speaks another VFIO API version");
	if (vfio_sys->ioctl(h->container_fd, VFIO_CHECK_EXTENSION,
	    (void *)(uintptr_t)iommu_type) <= 0)
		return vfio_fail(h, DEV_VFIO_CONTAINER, "VFIO_CHECK_EXTENSION", ENOTSUP,
		    noiommu ? "the kernel does not allow no-IOMMU mode"
			    : "no type1v2 IOMMU: load vfio_iommu_type1 and enable the IOMMU");
	if ((err = vfio_open_node(h, h->path, "opening the IOMMU group", &h->group_fd)) != 0)
		return err;
	memset(&status, 0, sizeof(status));
	status.argsz = sizeof(status);
	if ((err = vfio_ioctl_step(h, h->group_fd, VFIO_GROUP_GET_STATUS, &status, h->path,
	    "VFIO_GROUP_GET_STATUS", "the group does not answer")) != 0)
		return err;
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE))
		return vfio_fail(h, h->path, "checking the group is viable", EPERM,
		    "every device in the IOMMU group must be bound to vfio-pci (or to no "
		    "driver): see /sys/kernel/iommu_groups/N/devices");
	if ((err = vfio_ioctl_step(h, h->group_fd, VFIO_GROUP_SET_CONTAINER, &h->container_fd,
	    h->path, "VFIO_GROUP_SET_CONTAINER", "the group is already in another container "
	    "(used by another process)")) != 0)
		return err;
	if ((err = vfio_ioctl_step(h, h->container_fd, VFIO_SET_IOMMU,
	    (void *)(uintptr_t)iommu_type, DEV_VFIO_CONTAINER, "VFIO_SET_IOMMU",
	    "the IOMMU driver refused the group")) != 0)
		return err;
	if ((fd = vfio_sys->ioctl(h->group_fd, VFIO_GROUP_GET_DEVICE_FD, h->pci)) < 0)
		return vfio_fail(h, h->path, "VFIO_GROUP_GET_DEVICE_FD", errno,
		    errno == EBUSY ? vfio_open_hint(EBUSY)
				   : "the device is not in this group (check the PCI address)");
	h->device_fd = fd;
	return vfio_get_info(h);
}

int
vfio_open(struct vfio_handle *h, const char *name, const char *path)
{
	int err;

	memset(h, 0, sizeof(*h));
	h->name = name;
	h->device_fd = h->iommufd = h->group_fd = h->container_fd = -1;
	if (path == NULL || *path == '\0') {
		log_warnx("device %s: no path configured", name);
		return -EINVAL;
	}
	if (vfio_is_pci_address(path))
		err = vfio_resolve_pci(h, path, h->path, sizeof(h->path));
	else if (strlen(path) >= sizeof(h->path)) {
		log_warnx("device %s: path %s is too long", name, path);
		err = -ENAMETOOLONG;
	} else {
		snprintf(h->path, sizeof(h->path), "%s", path);
		err = 0;
	}
	if (err != 0)
		return err;
	if (strncmp(h->path, DEV_VFIO_CDEV, strlen(DEV_VFIO_CDEV)) == 0) {
		h->mode = VFIO_MODE_CDEV;
		err = vfio_open_cdev(h);
	} else if (strncmp(h->path, DEV_VFIO, strlen(DEV_VFIO)) == 0 &&
	    strchr(h->path + strlen(DEV_VFIO), '/') == NULL &&
	    strcmp(h->path, DEV_VFIO_CONTAINER) != 0) {
		h->mode = VFIO_MODE_GROUP;
		err = h->pci[0] != '\0' ? 0 : vfio_group_member(h, h->path);
		if (err == 0)
			err = vfio_open_group(h);
	} else {
		log_warnx("device %s: path %s is neither a VFIO cdev (/dev/vfio/devices/vfioN), "
			  "an IOMMU group (/dev/vfio/N) nor a PCI address (DDDD:BB:DD.F)",
		    name, path);
		err = -EINVAL;
	}
	if (err != 0) {
		vfio_close(h);
		return err;
	}
	vfio_learn_driver(h);
	log_info("device %s: opened %s (%s, driver %s), %u regions, %u irqs", name,
	    vfio_mode_name(h), h->pci[0] != '\0' ? h->pci : "no PCI address",
	    h->driver[0] != '\0' ? h->driver : "unknown", h->num_regions, h->num_irqs);
	return 0;
}

/* The cdev's PCI function (/sys/dev/char/MAJ:MIN/device), best effort. */
static void
vfio_adopt_learn_pci(struct vfio_handle *h, const struct stat *st)
{
	char link[96];

	if (!S_ISCHR(st->st_mode))
		return;
	snprintf(link, sizeof(link), "/sys/dev/char/%u:%u/device", major(st->st_rdev),
	    minor(st->st_rdev));
	if (vfio_link_basename(link, h->pci, sizeof(h->pci)) != 0 ||
	    !vfio_is_pci_address(h->pci))
		h->pci[0] = '\0';
}

int
vfio_adopt(struct vfio_handle *h, const char *name, int fd)
{
	struct vfio_device_info info;
	char link[64], target[64];
	struct stat st;
	ssize_t n;

	memset(h, 0, sizeof(*h));
	h->name = name;
	h->mode = VFIO_MODE_HANDOVER;
	h->device_fd = h->iommufd = h->group_fd = h->container_fd = -1;
	if (vfio_sys->fstat(fd, &st) != 0)
		return -ENOTTY;
	if (!S_ISCHR(st.st_mode)) {
		/* A group's device fd is an anonymous inode of this name. */
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		if ((n = vfio_sys->readlink(link, target, sizeof(target) - 1)) < 0)
			return -ENOTTY;
		target[n] = '\0';
		if (strcmp(target, "anon_inode:[vfio-device]") != 0)
			return -ENOTTY;
	}
	memset(&info, 0, sizeof(info));
	info.argsz = sizeof(info);
	if (vfio_sys->ioctl(fd, VFIO_DEVICE_GET_INFO, &info) < 0)
		return -ENOTTY;
	h->device_fd = fd;
	h->flags = info.flags;
	h->num_regions = info.num_regions;
	h->num_irqs = info.num_irqs;
	snprintf(h->path, sizeof(h->path), "%s", S_ISCHR(st.st_mode) ? "cdev" : "group device");
	vfio_adopt_learn_pci(h, &st);
	vfio_learn_driver(h);
	log_info("device %s: adopted a handed-over fd (%s, %s, driver %s), %u regions, %u irqs",
	    name, h->path, h->pci[0] != '\0' ? h->pci : "no PCI address",
	    h->driver[0] != '\0' ? h->driver : "unknown", h->num_regions, h->num_irqs);
	return 0;
}

void
vfio_close(struct vfio_handle *h)
{
	int *fds[] = {&h->device_fd, &h->group_fd, &h->container_fd, &h->iommufd};
	size_t i;

	/* The device before what it is attached to. */
	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0) {
			vfio_sys->close(*fds[i]);
			*fds[i] = -1;
		}
}

int
vfio_reset(struct vfio_handle *h)
{
	if (!(h->flags & VFIO_DEVICE_FLAGS_RESET))
		return -ENOTSUP;
	if (vfio_sys->ioctl(h->device_fd, VFIO_DEVICE_RESET, NULL) < 0)
		return -errno;
	return 0;
}

int
vfio_cap_find(const void *buf, size_t len, uint32_t first, uint32_t min_offset, uint16_t id,
    size_t size, uint32_t *at)
{
	const uint8_t *p = buf;
	struct vfio_info_cap_header hdr;
	uint32_t off = first;

	while (off != 0) {
		if (off < min_offset || off % 4 != 0 || off > len || len - off < sizeof(hdr))
			return -EPROTO;
		memcpy(&hdr, p + off, sizeof(hdr));
		if (hdr.id == id) {
			if (len - off < size)
				return -EPROTO;
			*at = off;
			return 0;
		}
		/* The kernel appends capabilities: a chain only goes forward. */
		if (hdr.next != 0 && hdr.next <= off)
			return -EPROTO;
		off = hdr.next;
	}
	return -ENOENT;
}

/* The info of region index, capabilities included, into a buffer of the
 * size the kernel asks for. */
static int
vfio_region_info_raw(struct vfio_handle *h, uint32_t index, uint8_t **out, size_t *outlen)
{
	struct vfio_region_info *info;
	size_t len = sizeof(*info);
	uint8_t *buf = xcalloc(1, len);
	int pass;

	for (pass = 0; pass < 2; pass++) {
		info = (struct vfio_region_info *)buf;
		info->argsz = (uint32_t)len;
		info->index = index;
		if (vfio_sys->ioctl(h->device_fd, VFIO_DEVICE_GET_REGION_INFO, info) < 0) {
			free(buf);
			return -errno;
		}
		if (info->argsz <= len)
			break;
		if (info->argsz > REGION_INFO_MAX || pass == 1) {
			log_warnx("device %s: region %u: the kernel asks for %u bytes of region info",
			    h->name, index, info->argsz);
			free(buf);
			return -EPROTO;
		}
		len = info->argsz;
		buf = xrealloc(buf, len);
		memset(buf, 0, len);
	}
	*out = buf;
	*outlen = len;
	return 0;
}

static int
vfio_region_parse(struct vfio_handle *h, const uint8_t *buf, size_t len, struct vfio_region *r)
{
	const struct vfio_region_info *info = (const struct vfio_region_info *)buf;
	struct vfio_region_info_cap_sparse_mmap sparse;
	struct vfio_region_sparse_mmap_area area;
	uint32_t at, i;
	int err;

	memset(r, 0, sizeof(*r));
	r->index = info->index;
	r->offset = info->offset;
	r->size = info->size;
	r->readable = (info->flags & VFIO_REGION_INFO_FLAG_READ) != 0;
	r->writable = (info->flags & VFIO_REGION_INFO_FLAG_WRITE) != 0;
	r->mappable = (info->flags & VFIO_REGION_INFO_FLAG_MMAP) != 0;
	if (!(info->flags & VFIO_REGION_INFO_FLAG_CAPS) || info->cap_offset == 0)
		return 0;
	err = vfio_cap_find(buf, len, info->cap_offset, sizeof(*info),
	    VFIO_REGION_INFO_CAP_SPARSE_MMAP, sizeof(sparse), &at);
	if (err == -ENOENT)
		return 0;
	if (err != 0)
		goto malformed;
	memcpy(&sparse, buf + at, sizeof(sparse));
	if (sparse.nr_areas > (len - at - sizeof(sparse)) / sizeof(area) ||
	    sparse.nr_areas > VFIO_REGION_MAX_AREAS)
		goto malformed;
	r->sparse = 1;
	for (i = 0; i < sparse.nr_areas; i++) {
		memcpy(&area, buf + at + sizeof(sparse) + i * sizeof(area), sizeof(area));
		if (area.offset > r->size || area.size > r->size - area.offset)
			goto malformed;
		r->areas[r->nareas].offset = area.offset;
		r->areas[r->nareas].size = area.size;
		r->nareas++;
	}
	return 0;
malformed:
	log_warnx("device %s: region %u: malformed capability chain in the kernel's region "
		  "info; not trusting this device (is the vendor driver up to date?)",
	    h->name, info->index);
	return -EPROTO;
}

int
vfio_region_get(struct vfio_handle *h, uint32_t index, struct vfio_region *out)
{
	uint8_t *buf;
	size_t len;
	int err;

	if ((err = vfio_region_info_raw(h, index, &buf, &len)) != 0)
		return err;
	err = vfio_region_parse(h, buf, len, out);
	free(buf);
	return err;
}

int
vfio_region_find(struct vfio_handle *h, uint32_t type, uint32_t subtype, struct vfio_region *out)
{
	const struct vfio_region_info *info;
	struct vfio_region_info_cap_type cap;
	uint8_t *buf;
	size_t len;
	uint32_t index, at;
	int err;

	for (index = 0; index < h->num_regions; index++) {
		if ((err = vfio_region_info_raw(h, index, &buf, &len)) != 0) {
			/* Region indexes may have holes (vfio-pci: no VGA region). */
			if (err == -EINVAL)
				continue;
			log_warnx("device %s: VFIO_DEVICE_GET_REGION_INFO of region %u: %s", h->name,
			    index, strerror(-err));
			return err;
		}
		info = (const struct vfio_region_info *)buf;
		err = -ENOENT;
		if ((info->flags & VFIO_REGION_INFO_FLAG_CAPS) && info->cap_offset != 0)
			err = vfio_cap_find(buf, len, info->cap_offset, sizeof(*info),
			    VFIO_REGION_INFO_CAP_TYPE, sizeof(cap), &at);
		if (err == -EPROTO) {
			log_warnx("device %s: region %u: malformed capability chain in the kernel's "
				  "region info; not trusting this device",
			    h->name, index);
			free(buf);
			return err;
		}
		if (err == 0) {
			memcpy(&cap, buf + at, sizeof(cap));
			if (cap.type == type && cap.subtype == subtype) {
				err = vfio_region_parse(h, buf, len, out);
				free(buf);
				return err;
			}
		}
		free(buf);
	}
	return -ENOENT;
}

int
vfio_region_can_map(const struct vfio_region *r, uint64_t offset, uint64_t len)
{
	size_t i;

	if (!r->mappable || offset > r->size || len > r->size - offset)
		return 0;
	for (i = 0; i < r->nareas; i++)
		if (offset >= r->areas[i].offset &&
		    offset + len <= r->areas[i].offset + r->areas[i].size)
			return 1;
	return 0;
}

int
vfio_is_pci(const struct vfio_handle *h)
{
	return (h->flags & VFIO_DEVICE_FLAGS_PCI) != 0;
}

static uint16_t
vfio_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

int
vfio_read_pci_ids(struct vfio_handle *h, struct vfio_pci_ids *ids)
{
	struct vfio_region cfg;
	uint8_t hdr[64];
	ssize_t n;
	int err;

	if (!vfio_is_pci(h))
		return -ENOTSUP;
	if ((err = vfio_region_get(h, VFIO_PCI_CONFIG_REGION_INDEX, &cfg)) != 0)
		return err;
	if (cfg.size < sizeof(hdr))
		return -EPROTO;
	n = vfio_sys->pread(h->device_fd, hdr, sizeof(hdr), (off_t)cfg.offset);
	if (n < 0)
		return -errno;
	if ((size_t)n != sizeof(hdr))
		return -EIO;
	ids->vendor = vfio_le16(hdr + 0x00);
	ids->device = vfio_le16(hdr + 0x02);
	ids->revision = hdr[0x08];
	ids->subsystem_vendor = vfio_le16(hdr + 0x2c);
	ids->subsystem = vfio_le16(hdr + 0x2e);
	return 0;
}

void
vfio_identity(struct vfio_handle *h, const char *iface, char *identity, size_t idlen,
    char *compat, size_t compatlen)
{
	struct vfio_pci_ids ids;
	int err;

	if ((err = vfio_read_pci_ids(h, &ids)) == 0) {
		snprintf(identity, idlen, "%s pci %04x:%04x", iface, ids.vendor, ids.device);
		snprintf(compat, compatlen, "subsystem=%04x:%04x,revision=%02x",
		    ids.subsystem_vendor, ids.subsystem, ids.revision);
		return;
	}
	if (err != -ENOTSUP)
		log_warnx("device %s: reading PCI config space for its identity: %s; identifying "
			  "it by its driver only",
		    h->name, strerror(-err));
	snprintf(identity, idlen, "%s %s", iface, h->driver[0] != '\0' ? h->driver : "device");
	snprintf(compat, compatlen, "regions=%u,irqs=%u", h->num_regions, h->num_irqs);
}

const char *
vfio_mode_name(const struct vfio_handle *h)
{
	static char buf[192];

	if (h->mode == VFIO_MODE_HANDOVER) {
		snprintf(buf, sizeof(buf), "handed over (%s fd, its VMM's IOMMU)", h->path);
		return buf;
	}
	snprintf(buf, sizeof(buf), "%s %s + %s", h->mode == VFIO_MODE_CDEV ? "cdev" : "group",
	    h->path, h->mode == VFIO_MODE_CDEV ? "iommufd" : "type1 container");
	return buf;
}
