/*
 * vfio_sys.c: the real system calls behind struct vfio_sys (vfio_sys.h).
 *
 * Thin wrappers only: no logging, no retries, no policy. The callers know
 * which step of which device a failure belongs to.
 */
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vfio_sys.h"

static int
sys_open(const char *path, int flags)
{
	return open(path, flags | O_CLOEXEC);
}

static int
sys_ioctl(int fd, unsigned long request, void *arg)
{
	return ioctl(fd, request, arg);
}

static int
sys_getfl(int fd)
{
	return fcntl(fd, F_GETFL);
}

static int
sys_setfl(int fd, int flags)
{
	return fcntl(fd, F_SETFL, flags);
}

const struct vfio_sys vfio_sys_real = {
	.open = sys_open,
	.close = close,
	.ioctl = sys_ioctl,
	.read = read,
	.write = write,
	.pread = pread,
	.pwrite = pwrite,
	.mmap = mmap,
	.munmap = munmap,
	.poll = poll,
	.getfl = sys_getfl,
	.setfl = sys_setfl,
	.readlink = readlink,
	.access = access,
	.opendir = opendir,
	.readdir = readdir,
	.closedir = closedir,
	.fstat = fstat,
};

const struct vfio_sys *vfio_sys = &vfio_sys_real;

const struct vfio_sys *
vfio_sys_use(const struct vfio_sys *sys)
{
	const struct vfio_sys *old = vfio_sys;

	vfio_sys = sys != NULL ? sys : &vfio_sys_real;
	return old;
}
