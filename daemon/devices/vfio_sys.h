/*
 * vfio_sys.h: the system calls the kernel VFIO backends make, behind one
 * table of function pointers.
 *
 * Everything that talks to the kernel's VFIO uAPI (vfio_open.c, the
 * vfio-v1 and vfio-v2 backends, the v2 driver's data fd) calls through
 * vfio_sys, never libc directly, so the unit tests can put a fake kernel
 * behind it that answers byte for byte as the uAPI says and fails any step
 * on demand. Each entry behaves like its libc namesake: -1 with errno set
 * on failure. The table is process-wide and swapped only by tests, before
 * any device is opened.
 */
#ifndef MIG_VFIO_SYS_H
#define MIG_VFIO_SYS_H

#include <dirent.h>
#include <poll.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

struct vfio_sys {
	int (*open)(const char *path, int flags);
	int (*close)(int fd);
	int (*ioctl)(int fd, unsigned long request, void *arg);
	ssize_t (*read)(int fd, void *buf, size_t len);
	ssize_t (*write)(int fd, const void *buf, size_t len);
	ssize_t (*pread)(int fd, void *buf, size_t len, off_t offset);
	ssize_t (*pwrite)(int fd, const void *buf, size_t len, off_t offset);
	void *(*mmap)(void *addr, size_t len, int prot, int flags, int fd, off_t offset);
	int (*munmap)(void *addr, size_t len);
	int (*poll)(struct pollfd *fds, nfds_t nfds, int timeout_ms);
	/* fcntl(fd, F_GETFL) / fcntl(fd, F_SETFL, flags). */
	int (*getfl)(int fd);
	int (*setfl)(int fd, int flags);
	/* sysfs: what a PCI address resolves to. */
	ssize_t (*readlink)(const char *path, char *buf, size_t len);
	int (*access)(const char *path, int mode);
	DIR *(*opendir)(const char *path);
	struct dirent *(*readdir)(DIR *dir);
	int (*closedir)(DIR *dir);
	/* A handed-over fd: what it is (vfio_adopt). */
	int (*fstat)(int fd, struct stat *st);
};

/* The table in use; the real system calls unless a test swapped it. */
extern const struct vfio_sys *vfio_sys;
extern const struct vfio_sys vfio_sys_real;

/* Use sys (NULL: the real calls) from now on; returns the previous table. */
const struct vfio_sys *vfio_sys_use(const struct vfio_sys *sys);

#endif
