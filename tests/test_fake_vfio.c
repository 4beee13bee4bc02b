/*
 * test_fake_vfio.c: the fake VFIO kernel of the hand-over tests
 * (tests/preload/fake_vfio.c), with no daemon: two processes share one
 * device, one saves it while the other drives it as the guest, a third
 * resumes the stream into another device; strict resume, DMA logging,
 * reset, and fds that are not its own going to libc untouched; a type1
 * container's dirty log with the kernel's checks.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_main.h"
#include "tests/fake_vfio.h"
#include "v2_fsm.h"
#include "vfio_compat.h"

#define PAGE 4096u
#define STATE_SIZE (16 * PAGE)
#define GUEST_SIZE (64 * PAGE)

static char dir[64];

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/fake_vfio.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static int
make_device(const char *name, uint32_t seed, int anon)
{
	struct fake_vfio_config cfg = {STATE_SIZE, GUEST_SIZE, PAGE, 0, anon, 3, 0x15b3, 0x101e,
	    seed, 0};
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ck_assert_int_eq(fake_vfio_create(path, &cfg), 0);
	fd = fake_vfio_open(path);
	ck_assert_int_ge(fd, 0);
	return fd;
}

/* VFIO_DEVICE_FEATURE with len bytes of data in and out; -errno. */
static int
feature(int fd, uint32_t flags, void *data, size_t len)
{
	uint64_t buf[8];
	struct vfio_device_feature *f = (struct vfio_device_feature *)buf;

	memset(buf, 0, sizeof(buf));
	f->argsz = (uint32_t)(sizeof(*f) + len);
	f->flags = flags;
	memcpy(f->data, data, len);
	if (ioctl(fd, VFIO_DEVICE_FEATURE, f) < 0)
		return -errno;
	memcpy(data, f->data, len);
	return 0;
}

/* SET MIG_DEVICE_STATE: the data fd (or -1), or -errno. */
static int
set_state(int fd, uint32_t state)
{
	struct vfio_device_feature_mig_state st = {state, -1};
	int err = feature(fd, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &st,
	    sizeof(st));

	return err != 0 ? err : st.data_fd;
}

static uint32_t
get_state(int fd)
{
	struct vfio_device_feature_mig_state st = {0, -1};

	ck_assert_int_eq(feature(fd, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
			     &st, sizeof(st)),
	    0);
	return st.device_state;
}

static void
precopy_info(int data_fd, uint64_t *initial, uint64_t *dirty)
{
	struct vfio_precopy_info info = {sizeof(info), 0, 0, 0};

	ck_assert_int_eq(ioctl(data_fd, VFIO_MIG_GET_PRECOPY_INFO, &info), 0);
	*initial = info.initial_bytes;
	*dirty = info.dirty_bytes;
}

/* Read the data fd until pre-copy's "nothing now" (ENOMSG) or the end of
 * stream, appending to *buf. */
static void
read_stream(int data_fd, uint8_t **buf, size_t *len, int stopcopy)
{
	uint8_t chunk[5000];
	ssize_t n;

	for (;;) {
		n = read(data_fd, chunk, sizeof(chunk));
		if (n > 0) {
			*buf = realloc(*buf, *len + (size_t)n);
			memcpy(*buf + *len, chunk, (size_t)n);
			*len += (size_t)n;
			continue;
		}
		if (stopcopy) {
			ck_assert_int_eq(n, 0);
			return;
		}
		ck_assert_int_eq(n, -1);
		ck_assert_int_eq(errno, ENOMSG);
		return;
	}
}

static void
write_all(int fd, const uint8_t *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		ck_assert_int_gt(n, 0);
		buf += n;
		len -= (size_t)n;
	}
}

static void
send_fd(int sock, int fd)
{
	char byte = 'f', cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {&byte, 1};
	struct msghdr msg;
	struct cmsghdr *c;

	memset(&msg, 0, sizeof(msg));
	memset(cbuf, 0, sizeof(cbuf));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	ck_assert_int_eq(sendmsg(sock, &msg, 0), 1);
}

static int
recv_fd(int sock)
{
	char byte, cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {&byte, 1};
	struct msghdr msg;
	struct cmsghdr *c;
	int fd;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	ck_assert_int_eq(recvmsg(sock, &msg, 0), 1);
	c = CMSG_FIRSTHDR(&msg);
	ck_assert_ptr_nonnull(c);
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

static void
say(int sock, char what)
{
	ck_assert_int_eq(write(sock, &what, 1), 1);
}

static void
expect(int sock, char what)
{
	char got = 0;

	ck_assert_int_eq(read(sock, &got, 1), 1);
	ck_assert_int_eq(got, what);
}

/* A child that fails an assertion exits nonzero; wait for it, bounded. */
static int
child_status(pid_t pid)
{
	int st = 0, i;

	for (i = 0; i < 200; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		usleep(50000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

START_TEST(test_looks_like_a_vfio_device)
{
	struct vfio_device_feature_migration mig = {0};
	struct vfio_device_info info;
	char link[64], target[64], path[128];
	struct stat st;
	int fd = make_device("cdev", 1, 0), anon = make_device("anon", 1, 1), plain, p[2];
	ssize_t n;

	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert(S_ISCHR(st.st_mode));
	ck_assert_int_eq(minor(st.st_rdev), 3);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	ck_assert_int_gt(n, 0);
	target[n] = '\0';
	ck_assert_str_eq(target, "/dev/vfio/devices/vfio3");

	/* A group's device fd: no file type, an anonymous inode. */
	ck_assert_int_eq(fstat(anon, &st), 0);
	ck_assert(!S_ISCHR(st.st_mode) && !S_ISREG(st.st_mode));
	snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)getpid(), anon);
	n = readlink(link, target, sizeof(target) - 1);
	ck_assert_int_gt(n, 0);
	target[n] = '\0';
	ck_assert_str_eq(target, "anon_inode:[vfio-device]");

	memset(&info, 0, sizeof(info));
	info.argsz = sizeof(info);
	ck_assert_int_eq(ioctl(fd, VFIO_DEVICE_GET_INFO, &info), 0);
	ck_assert_uint_eq(info.flags, VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET);
	ck_assert_int_eq(feature(fd, VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_MIGRATION,
			     NULL, 0),
	    0);
	ck_assert_int_eq(feature(fd,
			     VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_SET |
				 VFIO_DEVICE_FEATURE_MIGRATION,
			     NULL, 0),
	    -EINVAL);
	ck_assert_int_eq(feature(fd, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIGRATION, &mig,
			     sizeof(mig)),
	    0);
	ck_assert_uint_eq(mig.flags,
	    VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P | VFIO_MIGRATION_PRE_COPY);
	ck_assert_int_eq(feature(fd, VFIO_DEVICE_FEATURE_GET | 42, &mig, sizeof(mig)), -ENOTTY);

	/* Fds that are not its own are libc's: a file stays a file, a pipe
	 * a pipe, and VFIO ioctls on them fail as the kernel says. */
	snprintf(path, sizeof(path), "%s/plain", dir);
	plain = open(path, O_RDWR | O_CREAT, 0600);
	ck_assert_int_ge(plain, 0);
	ck_assert_int_eq(write(plain, "FAKEVFIO", 8), 8);
	ck_assert_int_eq(fstat(plain, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(fake_vfio_is_device(plain), 0);
	ck_assert_int_eq(ioctl(plain, VFIO_DEVICE_GET_INFO, &info), -1);
	ck_assert_int_eq(errno, ENOTTY);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(write(p[1], "ab", 2), 2);
	ck_assert_int_eq(read(p[0], target, sizeof(target)), 2);
	ck_assert_int_eq(ioctl(p[0], VFIO_DEVICE_GET_INFO, &info), -1);
	close(p[0]);
	close(p[1]);
	close(plain);
	close(fd);
	close(anon);
}
END_TEST

/* The saver (a child that got the device by SCM_RIGHTS): pre-copy while
 * the guest (the parent) dirties state and DMAs, then stop-copy; the
 * stream goes out on `out`. */
static void
saver(int sock, int out)
{
	struct vfio_device_feature_dma_logging_range ranges[2] = {{0, 8 * PAGE},
	    {16 * PAGE, 16 * PAGE}};
	struct vfio_device_feature_dma_logging_control ctl = {PAGE, 2, 0, (uintptr_t)ranges};
	struct vfio_device_feature_dma_logging_report rep;
	uint64_t initial, dirty, bm[1], before;
	size_t len = 0;
	uint8_t *stream = NULL;
	int fd = recv_fd(sock), data;

	alarm(20);
	ck_assert_int_eq(feature(fd,
			     VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_START, &ctl,
			     sizeof(ctl)),
	    0);
	ck_assert_uint_eq(ctl.page_size, PAGE);
	data = set_state(fd, V2_STATE_PRE_COPY);
	ck_assert_int_ge(data, 0);
	precopy_info(data, &initial, &dirty);
	ck_assert_uint_eq(initial, 24 + 16 * (16 + PAGE));
	ck_assert_uint_eq(dirty, 0);
	/* Part of the initial image: what is left only goes down. */
	ck_assert_int_eq(read(data, (uint8_t[100]){0}, 100), 100);
	before = initial;
	precopy_info(data, &initial, &dirty);
	ck_assert_uint_eq(initial, before - 100);
	ck_assert_int_eq(set_state(fd, V2_STATE_RUNNING), -1); /* start over: a new session */
	close(data);
	data = set_state(fd, V2_STATE_PRE_COPY);
	ck_assert_int_ge(data, 0);
	read_stream(data, &stream, &len, 0);
	ck_assert_uint_eq(len, 24 + 16 * (16 + PAGE));
	precopy_info(data, &initial, &dirty);
	ck_assert_uint_eq(initial + dirty, 0);
	say(sock, '1');

	expect(sock, '2'); /* the guest wrote page 3 and DMAed */
	precopy_info(data, &initial, &dirty);
	ck_assert_uint_eq(initial, 0);
	ck_assert_uint_eq(dirty, 16 + PAGE);
	/* A report is of what the device tracks: one range at a time. */
	memset(bm, 0, sizeof(bm));
	rep = (struct vfio_device_feature_dma_logging_report){0, 32 * PAGE, PAGE, (uintptr_t)bm};
	ck_assert_int_eq(feature(fd,
			     VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, &rep,
			     sizeof(rep)),
	    -EINVAL);
	/* Pages 5 and 17 were logged; 9 is outside the ranges. */
	rep = (struct vfio_device_feature_dma_logging_report){0, 8 * PAGE, PAGE, (uintptr_t)bm};
	ck_assert_int_eq(feature(fd,
			     VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, &rep,
			     sizeof(rep)),
	    0);
	ck_assert_uint_eq(bm[0], 1ull << 5);
	memset(bm, 0, sizeof(bm));
	rep = (struct vfio_device_feature_dma_logging_report){16 * PAGE, 16 * PAGE, 2 * PAGE,
	    (uintptr_t)bm};
	ck_assert_int_eq(feature(fd,
			     VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, &rep,
			     sizeof(rep)),
	    0);
	ck_assert_uint_eq(bm[0], 1ull << 0); /* page 17 in pages of 8 KiB from 16 */
	memset(bm, 0, sizeof(bm));
	ck_assert_int_eq(feature(fd,
			     VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, &rep,
			     sizeof(rep)),
	    0);
	ck_assert_uint_eq(bm[0], 0); /* read and cleared */

	ck_assert_int_eq(set_state(fd, V2_STATE_STOP_COPY), -1); /* the same session goes on */
	ck_assert_int_eq(ioctl(data, VFIO_MIG_GET_PRECOPY_INFO,
			     &(struct vfio_precopy_info){sizeof(struct vfio_precopy_info), 0, 0,
				 0}),
	    -1);
	read_stream(data, &stream, &len, 1);
	ck_assert_uint_eq(len, 24 + 17 * (16 + PAGE) + 16);
	ck_assert_int_eq(read(data, (uint8_t[8]){0}, 8), 0);
	ck_assert_int_eq(feature(fd, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
			     NULL, 0),
	    0);
	close(data);
	ck_assert_int_eq(set_state(fd, V2_STATE_STOP), -1);
	write_all(out, stream, len);
	free(stream);
	exit(0);
}

/* The resumer: the stream from `in` into the device at path. */
static void
resumer(const char *path, int in)
{
	uint8_t buf[3000];
	ssize_t n;
	int fd = fake_vfio_open(path), data;

	alarm(20);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(set_state(fd, V2_STATE_STOP), -1); /* RUNNING -> RUNNING_P2P -> STOP */
	data = set_state(fd, V2_STATE_RESUMING);
	ck_assert_int_ge(data, 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		write_all(data, buf, (size_t)n);
	close(data);
	ck_assert_int_eq(set_state(fd, V2_STATE_STOP), -1);
	exit(0);
}

START_TEST(test_two_processes_share_a_device)
{
	struct fake_vfio_status src_st, dst_st;
	uint8_t a[STATE_SIZE], b[STATE_SIZE], page[PAGE];
	int src = make_device("src", 1, 0), dst = make_device("dst", 2, 0), sv[2], pipefd[2];
	char path[128];
	pid_t s, r;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(pipe(pipefd), 0);
	if ((s = fork()) == 0) {
		close(sv[0]);
		close(pipefd[0]);
		saver(sv[1], pipefd[1]);
	}
	snprintf(path, sizeof(path), "%s/dst", dir);
	if ((r = fork()) == 0) {
		close(sv[0]);
		close(sv[1]);
		close(pipefd[1]);
		resumer(path, pipefd[0]);
	}
	close(sv[1]);
	close(pipefd[0]);
	close(pipefd[1]);
	send_fd(sv[0], src);

	/* The guest, through its own fd: one state page, three DMA writes. */
	expect(sv[0], '1');
	memset(page, 0x5a, sizeof(page));
	ck_assert_int_eq(fake_vfio_state_write(src, 3 * PAGE + 10, page, 100), 0);
	ck_assert_int_eq(fake_vfio_dma_write(src, 5 * PAGE + 8, page, 16), 1);
	ck_assert_int_eq(fake_vfio_dma_write(src, 9 * PAGE, page, PAGE), 0);
	ck_assert_int_eq(fake_vfio_dma_write(src, 17 * PAGE, page, PAGE), 1);
	ck_assert_int_eq(fake_vfio_dma_write(src, GUEST_SIZE, page, 1), -EFAULT);
	say(sv[0], '2');

	ck_assert_int_eq(child_status(s), 0);
	ck_assert_int_eq(child_status(r), 0);
	/* The device stopped: the guest can change nothing. */
	ck_assert_int_eq(fake_vfio_state_write(src, 0, page, 1), -EBUSY);
	ck_assert_int_eq(fake_vfio_dma_write(src, 0, page, 1), -EBUSY);

	ck_assert_int_eq(fake_vfio_state_read(src, 0, a, sizeof(a)), 0);
	ck_assert_int_eq(fake_vfio_state_read(dst, 0, b, sizeof(b)), 0);
	ck_assert(memcmp(a, b, sizeof(a)) == 0);
	ck_assert_int_eq(a[3 * PAGE + 10], 0x5a);
	ck_assert_int_eq(fake_vfio_status(src, &src_st), 0);
	ck_assert_int_eq(fake_vfio_status(dst, &dst_st), 0);
	ck_assert_uint_eq(src_st.digest, dst_st.digest);
	ck_assert_uint_eq(src_st.state, V2_STATE_STOP);
	ck_assert_uint_eq(dst_st.state, V2_STATE_STOP);
	ck_assert_str_eq(dst_st.stream_error, "");
	ck_assert_uint_eq(src_st.resets + dst_st.resets, 0);
	ck_assert_uint_eq(src_st.sessions, 2);
	ck_assert_uint_eq(dst_st.sessions, 1);
	ck_assert_uint_eq(src_st.other_ioctls + dst_st.other_ioctls, 0);
	ck_assert_int_eq(src_st.logging, 0);
	close(sv[0]);
	close(src);
	close(dst);
}
END_TEST

/* A stream saved from a device at seed `seed`, whole. */
static uint8_t *
saved_stream(size_t *len)
{
	int fd = make_device("saved", 7, 0), data;
	uint8_t *stream = NULL;

	*len = 0;
	ck_assert_int_eq(set_state(fd, V2_STATE_STOP), -1);
	data = set_state(fd, V2_STATE_STOP_COPY); /* no pre-copy: the whole image */
	ck_assert_int_ge(data, 0);
	read_stream(data, &stream, len, 1);
	close(data);
	close(fd);
	return stream;
}

/* Resume `len` bytes of stream into a new device: RESUMING -> STOP's result. */
static int
resume(const char *name, const uint8_t *stream, size_t len, struct fake_vfio_status *st)
{
	int fd = make_device(name, 3, 0), data, err;

	ck_assert_int_eq(set_state(fd, V2_STATE_STOP), -1);
	data = set_state(fd, V2_STATE_RESUMING);
	ck_assert_int_ge(data, 0);
	write_all(data, stream, len);
	close(data);
	err = set_state(fd, V2_STATE_STOP);
	ck_assert_int_eq(fake_vfio_status(fd, st), 0);
	if (err == -EINVAL) {
		/* Only a reset brings it back, and the reset is counted. */
		ck_assert_uint_eq(get_state(fd), V2_STATE_ERROR);
		ck_assert_int_eq(set_state(fd, V2_STATE_RUNNING), -EINVAL);
		ck_assert_int_eq(ioctl(fd, VFIO_DEVICE_RESET), 0);
		ck_assert_uint_eq(get_state(fd), V2_STATE_RUNNING);
		ck_assert_int_eq(fake_vfio_status(fd, st), 0);
		ck_assert_uint_eq(st->resets, 1);
	}
	close(fd);
	return err;
}

START_TEST(test_strict_resume)
{
	struct fake_vfio_status st;
	size_t len;
	uint8_t *stream = saved_stream(&len);

	ck_assert_uint_eq(len, 24 + 16 * (16 + PAGE) + 16);
	ck_assert_int_eq(resume("whole", stream, len, &st), -1);
	ck_assert_str_eq(st.stream_error, "");
	ck_assert_uint_eq(st.resets, 0);

	ck_assert_int_eq(resume("short", stream, len - 16, &st), -EINVAL);
	ck_assert_str_eq(st.stream_error, "the stream ends without its END frame");
	ck_assert_int_eq(resume("torn", stream, len - 5, &st), -EINVAL);
	ck_assert_str_eq(st.stream_error, "the stream stops inside its header or a frame");
	stream[24 + 16 + 100] ^= 1; /* a byte of the first page */
	ck_assert_int_eq(resume("corrupt", stream, len, &st), -EINVAL);
	ck_assert_str_eq(st.stream_error, "the image loaded is not the one saved (digest)");
	stream[24 + 16 + 100] ^= 1;
	stream[0] ^= 1;
	ck_assert_int_eq(resume("alien", stream, len, &st), -EINVAL);
	ck_assert_str_eq(st.stream_error, "not a fake-vfio stream (bad magic or version)");
	free(stream);
}
END_TEST

START_TEST(test_fsm_and_sizes)
{
	struct vfio_device_feature_mig_data_size size = {0};
	int fd = make_device("fsm", 1, 0), data;
	uint8_t byte = 1;

	ck_assert_uint_eq(get_state(fd), V2_STATE_RUNNING);
	ck_assert_int_eq(set_state(fd, V2_STATE_RUNNING), -1);
	ck_assert_int_eq(set_state(fd, V2_STATE_ERROR), -EINVAL);
	ck_assert_int_eq(feature(fd, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
			     &size, sizeof(size)),
	    0);
	ck_assert_uint_eq(size.stop_copy_length, 24 + 16 * (16 + PAGE) + 16);
	/* A combination transition, walked by the kernel: RUNNING ->
	 * RUNNING_P2P -> STOP -> STOP_COPY, with the last arc's data fd. */
	data = set_state(fd, V2_STATE_STOP_COPY);
	ck_assert_int_ge(data, 0);
	ck_assert_int_eq(set_state(fd, V2_STATE_PRE_COPY), -EINVAL);
	ck_assert_int_eq(fake_vfio_state_write(fd, 0, &byte, 1), -EBUSY);
	ck_assert_int_eq(read(data, (uint8_t[24]){0}, 24), 24);
	ck_assert_int_eq(feature(fd, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
			     &size, sizeof(size)),
	    0);
	ck_assert_uint_eq(size.stop_copy_length, 16 * (16 + PAGE) + 16);
	ck_assert_int_eq(set_state(fd, V2_STATE_RUNNING), -1);
	/* The session is over: its fd is dead. */
	ck_assert_int_eq(read(data, &byte, 1), -1);
	ck_assert_int_eq(errno, ENODEV);
	close(data);
	ck_assert_int_eq(fake_vfio_state_write(fd, 0, &byte, 1), 0);
	/* A reset of a running device is counted too, and loses its state. */
	ck_assert_int_eq(ioctl(fd, VFIO_DEVICE_RESET), 0);
	ck_assert_int_eq(fake_vfio_state_read(fd, 0, &byte, 1), 0);
	ck_assert_int_eq(byte, 0);
	close(fd);
}
END_TEST

START_TEST(test_last_close_resets)
{
	int fd = make_device("dev", 1, 0), again;
	struct fake_vfio_status st;
	char path[128];
	uint8_t byte = 9;

	snprintf(path, sizeof(path), "%s/dev", dir);
	ck_assert_int_eq(fake_vfio_state_write(fd, 0, &byte, 1), 0);
	/* Another reference (a second open, or a duplicate elsewhere) keeps
	 * the device as it is. */
	again = fake_vfio_open(path);
	ck_assert_int_ge(again, 0);
	close(fd);
	ck_assert_int_eq(fake_vfio_status(again, &st), 0);
	ck_assert_uint_eq(st.resets, 0);
	ck_assert_int_eq(set_state(again, V2_STATE_STOP), -1);
	close(again);
	/* The last one closed: the next open finds the device reset. */
	fd = fake_vfio_open(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fake_vfio_status(fd, &st), 0);
	ck_assert_uint_eq(st.resets, 1);
	ck_assert_uint_eq(st.state, V2_STATE_RUNNING);
	ck_assert_int_eq(fake_vfio_state_read(fd, 0, &byte, 1), 0);
	ck_assert_int_eq(byte, 0);
	close(fd);
}
END_TEST

/* GET_BITMAP of [iova, iova + size) in 4 KiB pages into bm: 0 or errno. */
static int
container_report(int cfd, uint64_t iova, uint64_t size, uint64_t *bm)
{
	uint64_t buf[(sizeof(struct vfio_iommu_type1_dirty_bitmap) +
	    sizeof(struct vfio_iommu_type1_dirty_bitmap_get)) / 8];
	struct vfio_iommu_type1_dirty_bitmap *db = (void *)buf;
	struct vfio_iommu_type1_dirty_bitmap_get get;

	memset(buf, 0, sizeof(buf));
	memset(&get, 0, sizeof(get));
	db->argsz = sizeof(buf);
	db->flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
	get.iova = iova;
	get.size = size;
	get.bitmap.pgsize = PAGE;
	get.bitmap.size = (size / PAGE + 63) / 64 * 8;
	get.bitmap.data = (__u64 *)bm;
	memcpy(db->data, &get, sizeof(get));
	return ioctl(cfd, VFIO_IOMMU_DIRTY_PAGES, db) == 0 ? 0 : errno;
}

/* A container: it looks like /dev/vfio/vfio, logs the DMA of a device in
 * it where a mapping covers it, and refuses what type1 refuses: a report
 * that cuts a mapping, or in another page than its own. */
START_TEST(test_container_logs_the_dma_into_its_mappings)
{
	struct vfio_iommu_type1_dma_map map = {sizeof(map), 3, 0, 0, 8 * PAGE};
	struct vfio_iommu_type1_dirty_bitmap db;
	struct fake_vfio_container_status cst;
	char path[128], data[8] = "dma";
	uint64_t bm[1];
	struct stat st;
	int cfd, fd = make_device("dev", 1, 0);

	memset(&db, 0, sizeof(db));
	db.argsz = sizeof(db);
	db.flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_START;

	snprintf(path, sizeof(path), "%s/ctr", dir);
	ck_assert_int_eq(fake_vfio_container_create(path, GUEST_SIZE, 1), 0);
	ck_assert_int_ge(cfd = fake_vfio_container_open(path), 0);
	ck_assert_int_eq(fstat(cfd, &st), 0);
	ck_assert(S_ISCHR(st.st_mode) && major(st.st_rdev) == 10 && minor(st.st_rdev) == 196);
	ck_assert_int_eq(ioctl(cfd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU), 1);
	ck_assert_int_eq(ioctl(cfd, VFIO_IOMMU_MAP_DMA, &map), 0);
	ck_assert_int_eq(fake_vfio_container_attach(cfd, fd), 0);
	/* Not logging yet: nothing logged. */
	ck_assert_int_eq(fake_vfio_dma_write(fd, 2 * PAGE, data, sizeof(data)), 0);
	ck_assert_int_eq(ioctl(cfd, VFIO_IOMMU_DIRTY_PAGES, &db), 0);
	/* Page 2 is mapped, page 12 is not. */
	ck_assert_int_eq(fake_vfio_dma_write(fd, 2 * PAGE, data, sizeof(data)), 1);
	ck_assert_int_eq(fake_vfio_dma_write(fd, 12 * PAGE, data, sizeof(data)), 0);
	bm[0] = 0;
	ck_assert_int_eq(container_report(cfd, PAGE, 8 * PAGE, bm), EINVAL);
	ck_assert_int_eq(container_report(cfd, 0, 4 * PAGE, bm), EINVAL);
	ck_assert_int_eq(container_report(cfd, 0, 16 * PAGE, bm), 0);
	ck_assert_uint_eq(bm[0], 1u << 2);
	bm[0] = 0;
	ck_assert_int_eq(container_report(cfd, 0, 8 * PAGE, bm), 0);
	ck_assert_uint_eq(bm[0], 0); /* get-and-clear */
	ck_assert_int_eq(fake_vfio_container_status(cfd, &cst), 0);
	ck_assert_int_eq(cst.logging, 1);
	ck_assert_uint_eq(cst.maps, 1);
	ck_assert_uint_eq(cst.reports, 2);
	/* A device's fd is no container, nor a container a device. */
	ck_assert_int_eq(ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU), -1);
	ck_assert_int_eq(fake_vfio_is_device(cfd), 0);
	close(cfd);
	close(fd);
}
END_TEST

int main(void);

int
main(void)
{
	Suite *s = suite_create("fake_vfio");
	TCase *tc = tcase_create("device");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_looks_like_a_vfio_device);
	tcase_add_test(tc, test_two_processes_share_a_device);
	tcase_add_test(tc, test_strict_resume);
	tcase_add_test(tc, test_fsm_and_sizes);
	tcase_add_test(tc, test_last_close_resets);
	tcase_add_test(tc, test_container_logs_the_dma_into_its_mappings);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
