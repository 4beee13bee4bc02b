/*
 * test_handover.c: the hand-over requests (handover.c) against the fake
 * kernel (vfio_fake.c): a vfio-v2 device fd adopted as the VMM holds it
 * (no open, bind or attach of the daemon's, its state left as found),
 * DMA logged over the handed IOVA ranges only, set-iova, detach closing
 * the daemon's reference only, the owner's exit letting go; and every
 * refusal: not a VFIO device, no v2 migration, a taken name, malformed
 * requests of every kind, a wrong number of fds; the VMM's type1
 * container handed over with a v1 device, or a v2 one without DMA
 * logging, its dirty pages read through the ranges, and the container
 * refused when it is not one or logs no dirty pages; a rollback that
 * leaves a stopped device stopped. A vfio-user server's socket: attached
 * on the device's thread while the loop serves the other connections,
 * its answer in order on its own; refused when the server stalls
 * (vfio-user-timeout), its socket closed once; an attach whose connection
 * is gone, or still under way at shutdown.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "check_main.h"
#include "device.h"
#include "device_worker.h"
#include "handover.h"
#include "log.h"
#include "sim_v1.h"
#include "testutil.h"
#include "v2_driver.h"
#include "vfio_fake.h"
#include "vfio_sys.h"
#include "vfio_user.h"
#include "vfio_user_peer.h"

#define PAGE 4096u
#define ALL (V2_MIG_STOP_COPY | V2_MIG_P2P | V2_MIG_PRE_COPY)

static struct event_base *base;
static struct handover_peer me;
static uint8_t stream[64 * 1024];

static void
setup(void)
{
	log_init("test_handover", LOG_LEVEL_WARNING);
	base = event_base_new();
	handover_init(base);
	me.uid = getuid();
	me.gid = getgid();
	me.pid = getpid();
	fake_install();
	fake_pci_device(0, 0x15b3, 0x101e);
	fake.dev[0].mig_flags = ALL;
	fake.dev[0].stream = stream;
	fake.dev[0].stream_len = sizeof(stream);
	fake.dev[0].precopy_avail = 4096;
	fake.dev[0].has_data_size = 1;
	fake.dev[0].data_size = sizeof(stream);
	fake.dev[0].dma_logging = 1;
}

static void
teardown(void)
{
	devices_close();
	handover_stop();
	fake_uninstall();
	event_base_free(base);
}

static json_t *later_answer;

static void
answer_later(void *ctx, json_t *answer)
{
	(void)ctx;
	ck_assert_ptr_null(later_answer);
	later_answer = answer;
}

/* The error code of an answer, or "ok". */
static const char *
answer_code(json_t *a)
{
	static char code[64];
	json_t *err;

	ck_assert_ptr_nonnull(a);
	err = json_object_get(a, "error");
	if (err != NULL)
		snprintf(code, sizeof(code), "%s", json_string_value(json_object_get(err, "code")));
	else {
		ck_assert(json_is_true(json_object_get(a, "ok")));
		snprintf(code, sizeof(code), "ok");
	}
	return code;
}

/* The request text with nfds fds; the answer's error code, or "ok". An
 * answer that comes later (a vfio-user attach) is waited for on the loop. */
static const char *
request(const char *text, int *fds, size_t nfds, json_t **answer)
{
	json_t *a = handover_request(&me, text, strlen(text), fds, nfds, answer_later, NULL);
	const char *code;

	while (a == NULL && (a = later_answer) == NULL)
		event_base_loop(base, EVLOOP_ONCE);
	later_answer = NULL;
	code = answer_code(a);
	if (answer != NULL)
		*answer = a;
	else
		json_decref(a);
	return code;
}

/* A client of the hand-over socket at path. */
static int
client_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

/* One request, with fd as SCM_RIGHTS unless it is -1. */
static void
client_send(int c, const char *text, int fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = {(void *)text, strlen(text)};
	struct msghdr mh;
	struct cmsghdr *cm;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (fd >= 0) {
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	ck_assert_int_eq(sendmsg(c, &mh, MSG_NOSIGNAL), (ssize_t)strlen(text));
}

/* The loop runs until the connection has its next answer: its code. */
static const char *
client_answer(int c)
{
	static char buf[HANDOVER_MSG_MAX];
	const char *code;
	json_t *a;
	ssize_t n;

	while ((n = recv(c, buf, sizeof(buf), MSG_DONTWAIT)) < 0 && errno == EAGAIN)
		event_base_loop(base, EVLOOP_ONCE);
	ck_assert_int_gt(n, 0);
	a = json_loadb(buf, (size_t)n, 0, NULL);
	code = answer_code(a);
	json_decref(a);
	return code;
}

/* Attach with the device's fd and a container's: {"fds": ["device",
 * "container"]}. */
static const char *
attach_with_container(const char *name, const char *backend, int *fds, const char *extra)
{
	char text[1024];

	snprintf(text, sizeof(text), "{\"op\":\"attach\",\"name\":\"%s\",\"backend\":\"%s\","
	    "\"fds\":[\"device\",\"container\"]%s}", name, backend, extra);
	return request(text, fds, 2, NULL);
}

/* A type1 container as the VMM holds it (the fake's /dev/vfio/vfio). */
static int
container_fd(void)
{
	int fd = vfio_sys->open("/dev/vfio/vfio", O_RDWR);

	ck_assert_int_ge(fd, 0);
	return fd;
}

static const char *
attach(const char *name, int fd, const char *extra)
{
	char text[1024];

	snprintf(text, sizeof(text), "{\"op\":\"attach\",\"name\":\"%s\",\"backend\":\"vfio-v2\"%s}",
	    name, extra);
	return request(text, &fd, 1, NULL);
}

START_TEST(test_attach_adopts_the_fd_as_the_vmm_holds_it)
{
	const char *text = "{\"op\":\"attach\",\"name\":\"gpu0\",\"backend\":\"vfio-v2\","
			   "\"iova\":[{\"start\":0,\"length\":65536}],\"final_state\":\"running\"}";
	int fd = fake_device_fd(0), fds[1] = {fd}, open_before = fake.open_fds;
	struct mig_device *dev;
	json_t *a, *d;

	fake.dev[0].state = V2_STATE_STOP; /* a destination VMM's, vCPUs not started */
	ck_assert_str_eq(request(text, fds, 1, &a), "ok");
	ck_assert_int_eq(fds[0], -1); /* the device's now */
	d = json_object_get(a, "device");
	ck_assert_str_eq(json_string_value(json_object_get(d, "name")), "gpu0");
	ck_assert_str_eq(json_string_value(json_object_get(d, "origin")), "handover");
	ck_assert_int_eq(json_integer_value(json_object_get(d, "owner_pid")), getpid());
	ck_assert_str_eq(json_string_value(json_object_get(d, "final_state")), "running");
	ck_assert_str_eq(json_string_value(json_object_get(d, "state")), "stopped");
	ck_assert_str_eq(json_string_value(json_object_get(d, "backend")), "vfio-v2");
	json_decref(a);
	/* Nothing opened, bound or attached: the VMM's IOMMU setup is its own;
	 * the state it was found in is left alone. */
	ck_assert_int_eq(fake.open_fds, open_before);
	ck_assert_int_eq(fake_count(FAKE_BIND_IOMMUFD), 0);
	ck_assert_int_eq(fake_count(FAKE_ATTACH_PT), 0);
	ck_assert_int_eq(fake_count(FAKE_DEVICE_RESET), 0);
	ck_assert_int_eq(fake.dev[0].narcs, 0);
	ck_assert_uint_eq(fake.dev[0].state, V2_STATE_STOP);
	ck_assert_ptr_nonnull(dev = device_find("gpu0"));
	ck_assert_int_eq(dev->origin, DEVICE_HANDOVER);
	ck_assert_uint_eq(dev->guest_memory_size, 65536);
	ck_assert_ptr_null(dev->guest_memory);
	ck_assert(!dev->final_stopped);

	/* Detach closes the daemon's reference, nothing else, and resets
	 * nothing. */
	ck_assert_str_eq(request("{\"op\":\"detach\",\"name\":\"gpu0\"}", NULL, 0, NULL), "ok");
	ck_assert(!fake_fd_open(fd));
	ck_assert_ptr_null(device_find("gpu0"));
	ck_assert_int_eq(fake.dev[0].resets, 0);
	ck_assert_uint_eq(fake.dev[0].state, V2_STATE_STOP);
}
END_TEST

START_TEST(test_dma_logged_over_the_handed_ranges_only)
{
	const char *extra = ",\"iova\":[{\"start\":262144,\"length\":65536},"
			    "{\"start\":0,\"length\":65536}]";
	uint64_t dirty[] = {3, 40, 70};
	uint8_t bitmap[10] = {0};
	struct mig_device *dev;
	uint64_t n = 0;

	ck_assert_str_eq(attach("gpu0", fake_device_fd(0), extra), "ok");
	dev = device_find("gpu0");
	/* The page space ends with the last range: 80 pages. */
	ck_assert_uint_eq(dev->guest_memory_size, 80 * PAGE);
	ck_assert_uint_eq(dev->guest_page_size, PAGE);
	ck_assert_int_eq(device_worker_trylock(dev->worker), 0);
	ck_assert_int_eq(dev->ops->save_begin(dev, 1), 0);
	ck_assert_uint_eq(fake.dev[0].log_nranges, 2);
	ck_assert_uint_eq(fake.dev[0].log_ranges[0][0], 0);
	ck_assert_uint_eq(fake.dev[0].log_ranges[0][1], 65536);
	ck_assert_uint_eq(fake.dev[0].log_ranges[1][0], 262144);
	ck_assert_uint_eq(fake.dev[0].log_ranges[1][1], 65536);
	/* Page 40 is between the ranges: never asked, never reported. */
	fake.dev[0].dirty_pfns = dirty;
	fake.dev[0].ndirty = 3;
	ck_assert_int_eq(dev->ops->dirty_bitmap(dev, 0, 80, bitmap, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(bitmap[0], 1u << 3);
	ck_assert_uint_eq(bitmap[5], 0);
	ck_assert_uint_eq(bitmap[8], 1u << 6);
	ck_assert_int_eq(dev->ops->rollback(dev), 0);
	device_worker_unlock(dev->worker);
	fake.dev[0].dirty_pfns = NULL;
	ck_assert_int_eq(fake.dev[0].logging, 0);
}
END_TEST

START_TEST(test_set_iova_changes_the_layout)
{
	const char *set = "{\"op\":\"set-iova\",\"name\":\"gpu0\",\"iova\":[{\"start\":0,"
			  "\"length\":2097152}],\"page_size\":2097152}";
	struct mig_device *dev;
	json_t *a;

	ck_assert_str_eq(attach("gpu0", fake_device_fd(0), ""), "ok");
	dev = device_find("gpu0");
	ck_assert_uint_eq(dev->guest_memory_size, 0); /* no ranges: no logging */
	ck_assert_str_eq(request(set, NULL, 0, &a), "ok");
	ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(a, "device"), "iova")),
	    1);
	json_decref(a);
	ck_assert_uint_eq(dev->guest_memory_size, 2097152);
	ck_assert_uint_eq(dev->guest_page_size, 2097152);
	ck_assert_str_eq(request("{\"op\":\"set-iova\",\"name\":\"gpu1\",\"iova\":[]}", NULL, 0,
	    NULL), "not-found");
	ck_assert_str_eq(request("{\"op\":\"set-iova\",\"name\":\"gpu0\"}", NULL, 0, NULL),
	    "bad-request");
}
END_TEST

START_TEST(test_refusals_leave_the_fd_to_the_caller)
{
	int pipefd[2], fd;

	ck_assert_int_eq(pipe(pipefd), 0);
	fd = pipefd[0];
	ck_assert_str_eq(attach("gpu0", fd, ""), "not-vfio-device");
	ck_assert_int_ne(fcntl(fd, F_GETFD), -1); /* still the caller's */
	close(pipefd[0]);
	close(pipefd[1]);

	/* A VFIO device without v2 migration; then one in a state of its
	 * VMM's own migration: refused, the fd still the caller's. */
	fake.dev[0].mig_flags = 0;
	fd = fake_device_fd(0);
	ck_assert_str_eq(attach("gpu0", fd, ""), "device-unsupported");
	ck_assert(fake_fd_open(fd));
	fake.dev[0].mig_flags = ALL;
	fake.dev[0].state = V2_STATE_PRE_COPY; /* the VMM's own migration */
	ck_assert_str_eq(attach("gpu0", fd, ""), "device-busy");
	fake.dev[0].state = V2_STATE_RUNNING;
	ck_assert_str_eq(attach("gpu0", fd, ""), "ok");
	ck_assert_str_eq(attach("gpu0", fake_device_fd(0), ""), "device-exists");
	/* vfio0 has no v1 migration region. */
	fd = fake_device_fd(0);
	ck_assert_str_eq(request("{\"op\":\"attach\",\"name\":\"gpu1\",\"backend\":\"vfio-v1\"}",
	    &fd, 1, NULL), "device-unsupported");
	ck_assert(fake_fd_open(fd));
	ck_assert_str_eq(request("{\"op\":\"detach\",\"name\":\"nope\"}", NULL, 0, NULL),
	    "not-found");
}
END_TEST

START_TEST(test_malformed_requests)
{
	static const char *const bad[] = {
		"", "not json", "[1]", "{}", "{\"op\":7}", "{\"op\":\"open\"}",
		"{\"op\":\"attach\"}",
		"{\"op\":\"attach\",\"name\":\"a b\",\"backend\":\"vfio-v2\"}",
		"{\"op\":\"attach\",\"name\":\"\",\"backend\":\"vfio-v2\"}",
		"{\"op\":\"attach\",\"name\":\"gpu0\"}",
		"{\"op\":\"attach\",\"name\":\"gpu0\",\"backend\":\"sim\"}",
		"{\"op\":\"attach\",\"name\":\"gpu0\",\"backend\":\"vfio-v2\",\"extra\":1}",
		"{\"op\":\"attach\",\"name\":\"gpu0\",\"backend\":\"vfio-v2\",\"final_state\":\"on\"}",
		"{\"op\":\"attach\",\"name\":\"gpu0\",\"backend\":\"vfio-v2\",\"page_size\":4095}",
		"{\"op\":\"attach\",\"name\":\"gpu0\",\"backend\":\"vfio-v2\",\"page_size\":\"4k\"}",
		"{\"op\":\"attach\",\"name\":\"gpu0\",\"backend\":\"vfio-v2\",\"iova\":{}}",
		"{\"op\":\"attach\",\"name\":\"gpu0\",\"backend\":\"vfio-v2\",\"iova\":[1]}",
		"{\"op\":\"attach\",\"name\":\"gpu0\",\"backend\":\"vfio-v2\","
		"\"iova\":[{\"start\":1,\"length\":4096}]}",
		"{\"op\":\"attach\",\"name\":\"gpu0\",\"backend\":\"vfio-v2\","
		"\"iova\":[{\"start\":0,\"length\":0}]}",
		"{\"op\":\"attach\",\"name\":\"gpu0\",\"backend\":\"vfio-v2\","
		"\"iova\":[{\"start\":-4096,\"length\":4096}]}",
		"{\"op\":\"attach\",\"name\":\"gpu0\",\"backend\":\"vfio-v2\","
		"\"iova\":[{\"start\":0,\"length\":8192},{\"start\":4096,\"length\":4096}]}",
		"{\"op\":\"attach\",\"name\":\"gpu0\",\"backend\":\"vfio-v2\","
		"\"iova\":[{\"start\":0,\"length\":4096,\"x\":1}]}",
		"{\"op\":\"attach\",\"name\":\"gpu0\",\"backend\":\"vfio-v2\","
		"\"iova\":[{\"start\":0,\"length\":1099511627777}]}",
		"{\"op\":\"attach\",\"name\":\"gpu0\",\"backend\":\"vfio-v2\",\"owner_pid\":0}",
		"{\"op\":\"attach\",\"name\":\"gpu0\",\"backend\":\"vfio-v2\",\"owner_pid\":\"me\"}",
		"{\"op\":\"attach\",\"name\":\"gpu0\",\"op\":\"detach\",\"backend\":\"vfio-v2\"}",
		"{\"op\":\"detach\"}",
		"{\"op\":\"detach\",\"name\":\"gpu0\",\"force\":true}",
	};
	size_t i;
	int fd = fake_device_fd(0), fds[1];

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fds[0] = fd;
		ck_assert_msg(strcmp(request(bad[i], fds, 1, NULL), "bad-request") == 0,
		    "request %zu (%s) not refused as bad-request", i, bad[i]);
		ck_assert_int_eq(fds[0], fd);
	}
	/* The number of fds: one for attach, none for the others. */
	ck_assert_str_eq(request("{\"op\":\"attach\",\"name\":\"gpu0\",\"backend\":\"vfio-v2\"}",
	    NULL, 0, NULL), "bad-request");
	fds[0] = fd;
	ck_assert_str_eq(attach("gpu0", fd, ""), "ok");
	fds[0] = fake_device_fd(0);
	ck_assert_str_eq(request("{\"op\":\"detach\",\"name\":\"gpu0\"}", fds, 1, NULL),
	    "bad-request");
	ck_assert_ptr_nonnull(device_find("gpu0"));
	ck_assert_ptr_null(device_find("a b"));
}
END_TEST

/* final_state stopped: the destination loads the state (RESUMING -> STOP)
 * and leaves the device there for its VMM to start. */
START_TEST(test_final_state_stopped_leaves_it_stopped)
{
	struct mig_device *dev;
	int i;

	ck_assert_str_eq(attach("gpu0", fake_device_fd(0), ""), "ok");
	dev = device_find("gpu0");
	ck_assert(dev->final_stopped); /* the default */
	ck_assert_ptr_nonnull(dev->ops->resume_stop);
	ck_assert_int_eq(device_worker_trylock(dev->worker), 0);
	ck_assert_int_eq(dev->ops->resume_begin(dev), 0);
	ck_assert_int_eq(dev->ops->resume_write(dev, stream, 1000), 0);
	ck_assert_int_eq(dev->ops->resume_stop(dev), 0);
	device_worker_unlock(dev->worker);
	ck_assert_uint_eq(fake.dev[0].state, V2_STATE_STOP);
	ck_assert_uint_eq(fake.dev[0].received_len, 1000);
	for (i = 0; i < fake.dev[0].narcs; i++)
		ck_assert_uint_ne(fake.dev[0].arcs[i][1], V2_STATE_RUNNING);
	ck_assert_str_eq(dev->ops->state_name(dev), "stopped");
}
END_TEST

/* A v1 device (a released v1 driver's migration region, the software v1
 * device behind it) is adopted as well: no DMA logging of its own (the
 * container is the VMM's), left stopped after a resume when asked. */
START_TEST(test_v1_device)
{
	struct tu_sim ts;
	struct sim_v1 *sim;
	struct mig_device *dev;
	int fd, fds[1];

	tu_sim_config(&ts, "nic0", 1 << 20, 1);
	ts.cfg.section_size = 64 * 1024;
	ts.cfg.model = SIM_V1_RELEASED;
	sim = tu_sim_open(&ts);
	fake_pci_device(1, 0x8086, 0x1889);
	fake_mig_region(1, 9, sim_v1_region(sim), 3, 1, 0);
	fd = fake_device_fd(1);
	fds[0] = fd;
	ck_assert_str_eq(request("{\"op\":\"attach\",\"name\":\"nic0\",\"backend\":\"vfio-v1\","
	    "\"iova\":[{\"start\":0,\"length\":4096}]}", fds, 1, NULL), "device-unsupported");
	ck_assert_int_eq(fds[0], fd);
	/* A device without a v1 region (vfio0 is v2 only). */
	fds[0] = fake_device_fd(0);
	ck_assert_str_eq(request("{\"op\":\"attach\",\"name\":\"nic0\",\"backend\":\"vfio-v1\"}",
	    fds, 1, NULL), "device-unsupported");
	ck_assert_int_ne(fds[0], -1);
	fds[0] = fd;
	ck_assert_str_eq(request("{\"op\":\"attach\",\"name\":\"nic0\",\"backend\":\"vfio-v1\"}",
	    fds, 1, NULL), "ok");
	dev = device_find("nic0");
	ck_assert_str_eq(dev->backend, "vfio-v1");
	ck_assert_int_eq(dev->origin, DEVICE_HANDOVER);
	ck_assert_str_eq(dev->ops->state_name(dev), "running");
	ck_assert_int_eq(fake_count(FAKE_BIND_IOMMUFD), 0);
	ck_assert_str_eq(request("{\"op\":\"set-iova\",\"name\":\"nic0\",\"iova\":[]}", NULL, 0,
	    NULL), "device-unsupported");
	ck_assert_int_eq(device_worker_trylock(dev->worker), 0);
	ck_assert_int_eq(dev->ops->resume_begin(dev), 0);
	ck_assert_int_eq(dev->ops->resume_stop(dev), 0);
	device_worker_unlock(dev->worker);
	ck_assert_str_eq(dev->ops->state_name(dev), "stopped");
	ck_assert_str_eq(request("{\"op\":\"detach\",\"name\":\"nic0\"}", NULL, 0, NULL), "ok");
	ck_assert(!fake_fd_open(fd));
	ck_assert_int_eq(fake.dev[1].resets, 0);
	ck_assert_uint_eq(sim_v1_violations(sim), 0);
	sim_v1_close(sim);
}
END_TEST

/* A v1 device handed over with its VMM's type1 container: its DMA is
 * logged by the container over the ranges, from save_begin until the
 * rollback; detach closes the daemon's references, and nothing was
 * attached, set or mapped through the container. */
START_TEST(test_v1_device_with_its_container)
{
	const char *iova = ",\"iova\":[{\"start\":0,\"length\":65536},"
			   "{\"start\":262144,\"length\":65536}]";
	uint64_t dirty[] = {3, 40, 70}, n = 0;
	uint8_t bitmap[10] = {0};
	uint32_t stopped = 0;
	struct mig_device *dev;
	struct tu_sim ts;
	struct sim_v1 *sim;
	struct mig_region *reg;
	int fds[2];
	json_t *a, *d;

	tu_sim_config(&ts, "nic0", 1 << 20, 1);
	ts.cfg.section_size = 64 * 1024;
	ts.cfg.model = SIM_V1_RELEASED;
	sim = tu_sim_open(&ts);
	reg = sim_v1_region(sim);
	/* The VMM's vCPUs are paused: the device is stopped (its reserved
	 * bits written back as read). */
	ck_assert_int_eq(reg->ops->read(reg, 0, &stopped, sizeof(stopped)), sizeof(stopped));
	stopped &= ~7u;
	ck_assert_int_eq(reg->ops->write(reg, 0, &stopped, sizeof(stopped)), sizeof(stopped));
	fake_pci_device(1, 0x8086, 0x1889);
	fake_mig_region(1, 9, reg, 3, 1, 0);
	fake.type1_dirty = 1;
	fds[0] = fake_device_fd(1);
	fds[1] = container_fd();
	ck_assert_str_eq(attach_with_container("nic0", "vfio-v1", fds, iova), "ok");
	ck_assert_int_eq(fds[0], -1);
	ck_assert_int_eq(fds[1], -1);
	dev = device_find("nic0");
	ck_assert_uint_eq(dev->guest_memory_size, 80 * PAGE);
	ck_assert_ptr_nonnull(dev->ops->dirty_bitmap);
	d = device_to_json(dev, NULL);
	ck_assert(json_is_true(json_object_get(json_object_get(d, "capabilities"),
	    "dirty_tracking")));
	ck_assert_uint_eq(json_array_size(json_object_get(d, "iova")), 2);
	json_decref(d);

	ck_assert_int_eq(device_worker_trylock(dev->worker), 0);
	ck_assert_int_eq(dev->ops->save_begin(dev, 1), 0);
	ck_assert_int_eq(fake.type1_logging, 1);
	/* Not run for a pre-copy: stop-and-copy, as QEMU's v1 path does. */
	ck_assert_str_eq(dev->ops->state_name(dev), "stop-copy");
	/* Page 40 lies between the ranges: the container is never asked of
	 * it, and no window reports it. */
	fake.dev[0].dirty_pfns = dirty;
	fake.dev[0].ndirty = 3;
	ck_assert_int_eq(dev->ops->dirty_bitmap(dev, 0, 40, bitmap, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(dev->ops->dirty_bitmap(dev, 40, 40, bitmap + 5, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(bitmap[0], 1u << 3);
	ck_assert_uint_eq(bitmap[5], 0);
	ck_assert_uint_eq(bitmap[8], 1u << 6);
	/* The migration fails: back to stopped, as it was found; the log off. */
	ck_assert_int_eq(dev->ops->rollback(dev), 0);
	device_worker_unlock(dev->worker);
	fake.dev[0].dirty_pfns = NULL;
	ck_assert_int_eq(fake.type1_logging, 0);
	ck_assert_str_eq(dev->ops->state_name(dev), "stopped");
	ck_assert_int_eq(fake.dev[1].resets, 0);

	ck_assert_str_eq(request("{\"op\":\"set-iova\",\"name\":\"nic0\",\"iova\":"
	    "[{\"start\":0,\"length\":8192}]}", NULL, 0, &a), "ok");
	json_decref(a);
	ck_assert_uint_eq(dev->guest_memory_size, 8192);
	ck_assert_str_eq(request("{\"op\":\"detach\",\"name\":\"nic0\"}", NULL, 0, NULL), "ok");
	ck_assert_int_eq(fake.open_fds, 0);
	ck_assert_int_eq(fake_count(FAKE_SET_IOMMU), 0);
	ck_assert_int_eq(fake_count(FAKE_GROUP_SET_CONTAINER), 0);
	ck_assert_uint_eq(sim_v1_violations(sim), 0);
	sim_v1_close(sim);
}
END_TEST

/* A v2 device without DMA logging of its own logs through the container
 * handed over with it; one that has it logs itself. */
START_TEST(test_v2_device_without_dma_logging_uses_the_container)
{
	const char *iova = ",\"iova\":[{\"start\":0,\"length\":65536}]";
	uint64_t dirty[] = {3, 9}, n = 0;
	uint8_t bitmap[2] = {0};
	struct mig_device *dev;
	int fds[2];

	fake.dev[0].dma_logging = 0;
	fake.type1_dirty = 1;
	fds[0] = fake_device_fd(0);
	fds[1] = container_fd();
	ck_assert_str_eq(attach_with_container("gpu0", "vfio-v2", fds, iova), "ok");
	dev = device_find("gpu0");
	ck_assert_uint_eq(dev->guest_memory_size, 65536);
	ck_assert_int_eq(device_worker_trylock(dev->worker), 0);
	ck_assert_int_eq(dev->ops->save_begin(dev, 1), 0);
	ck_assert_int_eq(fake.type1_logging, 1);
	ck_assert_int_eq(fake.dev[0].logging, 0);
	fake.dev[0].dirty_pfns = dirty;
	fake.dev[0].ndirty = 2;
	ck_assert_int_eq(dev->ops->dirty_bitmap(dev, 0, 16, bitmap, &n), 0);
	fake.dev[0].dirty_pfns = NULL;
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(bitmap[0], 1u << 3);
	ck_assert_uint_eq(bitmap[1], 1u << 1);
	ck_assert_int_eq(dev->ops->rollback(dev), 0);
	device_worker_unlock(dev->worker);
	ck_assert_int_eq(fake.type1_logging, 0);
	ck_assert_str_eq(request("{\"op\":\"detach\",\"name\":\"gpu0\"}", NULL, 0, NULL), "ok");
	ck_assert_int_eq(fake.open_fds, 0);

	/* With DMA logging of its own, the device logs. */
	fake.dev[0].dma_logging = 1;
	fds[0] = fake_device_fd(0);
	fds[1] = container_fd();
	ck_assert_str_eq(attach_with_container("gpu0", "vfio-v2", fds, iova), "ok");
	dev = device_find("gpu0");
	ck_assert_int_eq(device_worker_trylock(dev->worker), 0);
	ck_assert_int_eq(dev->ops->save_begin(dev, 1), 0);
	ck_assert_int_eq(fake.dev[0].logging, 1);
	ck_assert_int_eq(fake.type1_logging, 0);
	ck_assert_int_eq(dev->ops->rollback(dev), 0);
	device_worker_unlock(dev->worker);
}
END_TEST

/* The container is checked before anything is adopted; every refusal
 * leaves both fds to the caller. */
START_TEST(test_container_refusals)
{
	const char *iova = ",\"iova\":[{\"start\":0,\"length\":65536}]";
	int fds[2], pipefd[2], dfd = fake_device_fd(0), cfd;

	fake.type1_dirty = 1;
	/* A device's fd, a pipe: not a container. */
	fds[0] = dfd;
	fds[1] = fake_device_fd(0);
	ck_assert_str_eq(attach_with_container("gpu0", "vfio-v2", fds, iova), "not-vfio-container");
	ck_assert_int_eq(fds[0], dfd);
	ck_assert(fake_fd_open(fds[1]));
	ck_assert_int_eq(pipe(pipefd), 0);
	fds[1] = pipefd[0];
	ck_assert_str_eq(attach_with_container("gpu0", "vfio-v2", fds, iova), "not-vfio-container");
	ck_assert_int_ne(fcntl(pipefd[0], F_GETFD), -1);
	close(pipefd[0]);
	close(pipefd[1]);
	/* A container that logs no dirty pages. */
	cfd = container_fd();
	fds[1] = cfd;
	fake.type1_dirty = 0;
	ck_assert_str_eq(attach_with_container("gpu0", "vfio-v2", fds, iova), "no-dirty-tracking");
	ck_assert_int_eq(fds[0], dfd);
	ck_assert_int_eq(fds[1], cfd);
	fake.type1_dirty = 1;
	/* A container without ranges to log; a guest page smaller than the
	 * container's; fds that do not say which is which. */
	ck_assert_str_eq(attach_with_container("gpu0", "vfio-v2", fds, ""), "bad-request");
	fake.type1_pgsizes = 8192;
	fake.dev[0].dma_logging = 0;
	ck_assert_str_eq(attach_with_container("gpu0", "vfio-v2", fds, iova), "bad-request");
	ck_assert(fake_fd_open(dfd) && fake_fd_open(cfd));
	ck_assert_ptr_null(device_find("gpu0"));
	ck_assert_str_eq(request("{\"op\":\"attach\",\"name\":\"gpu0\",\"backend\":\"vfio-v2\","
	    "\"fds\":[\"container\"]}", fds, 1, NULL), "bad-request");
	ck_assert_str_eq(request("{\"op\":\"attach\",\"name\":\"gpu0\",\"backend\":\"vfio-v2\","
	    "\"fds\":[\"device\",\"device\"]}", fds, 2, NULL), "bad-request");
	ck_assert_str_eq(request("{\"op\":\"attach\",\"name\":\"gpu0\",\"backend\":\"vfio-v2\","
	    "\"fds\":[\"device\",\"container\"]}", fds, 1, NULL), "bad-request");
	ck_assert_str_eq(request("{\"op\":\"attach\",\"name\":\"gpu0\",\"backend\":\"vfio-v2\","
	    "\"fds\":\"device\"}", fds, 1, NULL), "bad-request");
	/* In the other order, with a page the container logs in. */
	fake.type1_pgsizes = 4096;
	fds[0] = cfd;
	fds[1] = dfd;
	ck_assert_str_eq(request("{\"op\":\"attach\",\"name\":\"gpu0\",\"backend\":\"vfio-v2\","
	    "\"fds\":[\"container\",\"device\"],\"iova\":[{\"start\":0,\"length\":4096}]}",
	    fds, 2, NULL), "ok");
	ck_assert_int_eq(fds[0], -1);
	ck_assert_int_eq(fds[1], -1);
}
END_TEST

/* A rollback leaves the device as the migration found it: a stopped one
 * (its VMM's vCPUs paused) is not run for a pre-copy, and stays stopped;
 * a running one runs again. */
START_TEST(test_rollback_to_the_state_found)
{
	struct mig_device *dev;
	int i;

	fake.dev[0].state = V2_STATE_STOP;
	ck_assert_str_eq(attach("gpu0", fake_device_fd(0), ""), "ok");
	dev = device_find("gpu0");
	ck_assert_int_eq(device_worker_trylock(dev->worker), 0);
	ck_assert_int_eq(dev->ops->save_begin(dev, 1), 0);
	ck_assert_int_eq(fake.dev[0].narcs, 0);
	ck_assert_int_eq(dev->ops->rollback(dev), 0);
	ck_assert_uint_eq(fake.dev[0].state, V2_STATE_STOP);
	/* Stop-copy, then rolled back: STOP_COPY -> STOP, never RUNNING. */
	ck_assert_int_eq(dev->ops->save_begin(dev, 1), 0);
	ck_assert_int_eq(dev->ops->save_stop(dev), 0);
	ck_assert_uint_eq(fake.dev[0].state, V2_STATE_STOP_COPY);
	ck_assert_int_eq(dev->ops->rollback(dev), 0);
	ck_assert_uint_eq(fake.dev[0].state, V2_STATE_STOP);
	for (i = 0; i < fake.dev[0].narcs; i++)
		ck_assert_uint_ne(fake.dev[0].arcs[i][1], V2_STATE_RUNNING);
	/* A running device runs again. */
	fake.dev[0].state = V2_STATE_RUNNING;
	ck_assert_str_eq(dev->ops->state_name(dev), "stopped");
	device_worker_unlock(dev->worker);
	ck_assert_str_eq(request("{\"op\":\"detach\",\"name\":\"gpu0\"}", NULL, 0, NULL), "ok");
	ck_assert_str_eq(attach("gpu0", fake_device_fd(0), ""), "ok");
	dev = device_find("gpu0");
	ck_assert_int_eq(device_worker_trylock(dev->worker), 0);
	ck_assert_int_eq(dev->ops->save_begin(dev, 1), 0);
	ck_assert_uint_eq(fake.dev[0].state, V2_STATE_PRE_COPY);
	ck_assert_int_eq(dev->ops->rollback(dev), 0);
	device_worker_unlock(dev->worker);
	ck_assert_uint_eq(fake.dev[0].state, V2_STATE_RUNNING);
	ck_assert_int_eq(fake.dev[0].resets, 0);
}
END_TEST

static void
stop_loop(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(base);
}

START_TEST(test_owner_exit_lets_go)
{
	char extra[64];
	struct event *tick = event_new(base, -1, EV_PERSIST, stop_loop, NULL);
	struct timeval tv = {0, 20000};
	int fd = fake_device_fd(0), i, status;
	pid_t child = fork();

	if (child == 0) {
		pause();
		_exit(0);
	}
	snprintf(extra, sizeof(extra), ",\"owner_pid\":%d", (int)child);
	ck_assert_str_eq(attach("gpu0", fd, extra), "ok");
	ck_assert_int_eq(device_find("gpu0")->owner_pid, child);
	event_add(tick, &tv);
	event_base_loop(base, EVLOOP_NONBLOCK);
	ck_assert_ptr_nonnull(device_find("gpu0"));
	kill(child, SIGKILL);
	waitpid(child, &status, 0);
	for (i = 0; i < 250 && device_find("gpu0") != NULL; i++)
		event_base_dispatch(base);
	event_free(tick);
	ck_assert_ptr_null(device_find("gpu0"));
	ck_assert(!fake_fd_open(fd));
	ck_assert_int_eq(fake.dev[0].resets, 0);
	/* An owner that is gone already is refused at once. */
	snprintf(extra, sizeof(extra), ",\"owner_pid\":%d", (int)child);
	fd = fake_device_fd(0);
	ck_assert_str_eq(attach("gpu0", fd, extra), "bad-request");
}
END_TEST

/* A vfio-user server's socket, connected by its VMM: the daemon speaks on
 * it without a VERSION of its own when the VMM names the limit it
 * negotiated, with one when it does not. */
START_TEST(test_vfio_user_socket)
{
	const char *negotiated = "{\"op\":\"attach\",\"name\":\"nvme0\",\"backend\":"
				 "\"vfio-user\",\"max_data_xfer_size\":16384,"
				 "\"final_state\":\"running\"}";
	const char *fresh = "{\"op\":\"attach\",\"name\":\"nvme1\",\"backend\":"
			    "\"vfio-user\"}";
	struct peer p0, p1;
	struct mig_device *dev;
	uint64_t size;
	json_t *a, *d, *v;
	int fd, requests;

	fd = peer_start(&p0, V2_MIG_STOP_COPY | V2_MIG_PRE_COPY, stream, sizeof(stream));
	ck_assert_str_eq(request(negotiated, &fd, 1, &a), "ok");
	ck_assert_int_eq(fd, -1);
	d = json_object_get(a, "device");
	ck_assert_str_eq(json_string_value(json_object_get(d, "backend")), "vfio-user");
	ck_assert_str_eq(json_string_value(json_object_get(d, "state")), "running");
	v = json_object_get(d, "vfio_user");
	ck_assert_int_eq(json_integer_value(json_object_get(v, "max_data_xfer_size")), 16384);
	ck_assert(json_is_true(json_object_get(v, "connected")));
	ck_assert_str_eq(json_string_value(json_object_get(d, "path")), "handed over");
	json_decref(a);
	ck_assert_int_eq(p0.count[VFU_CMD_VERSION], 0);
	ck_assert_ptr_nonnull(dev = device_find("nvme0"));
	ck_assert_int_eq(dev->p2p, 0);
	/* The API shows the size read at attach and asks the server nothing:
	 * the loop never waits on its socket. */
	requests = p0.requests;
	d = device_to_json(dev, NULL);
	ck_assert_int_eq(json_integer_value(json_object_get(d, "stop_copy_size")), sizeof(stream));
	json_decref(d);
	ck_assert_int_eq(p0.requests, requests);
	/* Its state moves in pieces within the VMM's limit (the device held,
	 * as its thread would). */
	ck_assert_int_eq(device_worker_trylock(dev->worker), 0);
	ck_assert_int_eq(dev->ops->save_begin(dev, 0), 0);
	ck_assert_int_eq(dev->ops->save_next(dev, &size), 0);
	ck_assert_uint_eq(size, sizeof(stream));
	ck_assert_int_eq(dev->ops->rollback(dev), 0);
	device_worker_unlock(dev->worker);
	ck_assert_uint_le(p0.largest_read, 16384);
	ck_assert_uint_gt(p0.largest_read, 0);
	ck_assert_uint_eq(p0.state, V2_STATE_RUNNING);

	fd = peer_start(&p1, V2_MIG_STOP_COPY, stream, sizeof(stream));
	ck_assert_str_eq(request(fresh, &fd, 1, NULL), "ok");
	ck_assert_int_eq(p1.count[VFU_CMD_VERSION], 1);
	ck_assert_str_eq(request("{\"op\":\"detach\",\"name\":\"nvme0\"}", NULL, 0, NULL), "ok");
	ck_assert_str_eq(request("{\"op\":\"detach\",\"name\":\"nvme1\"}", NULL, 0, NULL), "ok");
	/* Detached: the daemon's end is closed, each server sees it go. */
	peer_join(&p0);
	peer_join(&p1);
}
END_TEST

START_TEST(test_vfio_user_refusals)
{
	const char *text = "{\"op\":\"attach\",\"name\":\"nvme0\",\"backend\":\"vfio-user\"}";
	int pipefd[2], sv[2], fds[2], fd;
	struct peer p;

	/* Not a socket: the fd stays the caller's. */
	ck_assert_int_eq(pipe(pipefd), 0);
	ck_assert_str_eq(request(text, &pipefd[0], 1, NULL), "bad-request");
	ck_assert_int_ne(fcntl(pipefd[0], F_GETFD), -1);
	/* A socket whose server hung up: the attach took it (asked on the
	 * device's thread) and closed it once refused. */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	fd = sv[0];
	ck_assert_str_eq(request(text, &fd, 1, NULL), "vfio-user-hung-up");
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(fcntl(sv[0], F_GETFD), -1);
	/* No container, no limit below the protocol's floor, a timeout within
	 * the configuration's range; the limit and the timeout are
	 * vfio-user's only. Refused before the fd is taken. */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fds[0] = sv[0];
	fds[1] = pipefd[1];
	ck_assert_str_eq(attach_with_container("nvme0", "vfio-user", fds, ""), "bad-request");
	ck_assert_str_eq(request("{\"op\":\"attach\",\"name\":\"nvme0\",\"backend\":"
				 "\"vfio-user\",\"max_data_xfer_size\":100}",
			     &sv[0], 1, NULL),
	    "bad-request");
	ck_assert_str_eq(request("{\"op\":\"attach\",\"name\":\"nvme0\",\"backend\":"
				 "\"vfio-user\",\"vfio_user_timeout_ms\":99}",
			     &sv[0], 1, NULL),
	    "bad-request");
	ck_assert_str_eq(request("{\"op\":\"attach\",\"name\":\"nvme0\",\"backend\":"
				 "\"vfio-user\",\"vfio_user_timeout_ms\":600001}",
			     &sv[0], 1, NULL),
	    "bad-request");
	ck_assert_str_eq(attach("gpu0", fake_device_fd(0), ",\"max_data_xfer_size\":4096"),
	    "bad-request");
	ck_assert_str_eq(attach("gpu0", fake_device_fd(0), ",\"vfio_user_timeout_ms\":1000"),
	    "bad-request");
	ck_assert_ptr_null(device_find("nvme0"));
	ck_assert_int_ne(fcntl(sv[0], F_GETFD), -1);
	close(sv[0]);
	close(sv[1]);
	close(pipefd[0]);
	close(pipefd[1]);
	/* A server that does not answer the attach's questions within the
	 * request's vfio_user_timeout_ms: refused, its socket closed (the
	 * server sees the daemon's end go). */
	fd = peer_start(&p, V2_MIG_STOP_COPY, stream, sizeof(stream));
	peer_set_fault(&p, VFU_CMD_DEVICE_GET_INFO, 1, PF_STALL);
	ck_assert_str_eq(request("{\"op\":\"attach\",\"name\":\"nvme0\",\"backend\":"
				 "\"vfio-user\",\"vfio_user_timeout_ms\":200}",
			     &fd, 1, NULL),
	    "vfio-user-timeout");
	ck_assert_int_eq(fd, -1);
	ck_assert_ptr_null(device_find("nvme0"));
	peer_join(&p);
}
END_TEST

/*
 * The rule: a vfio-user server's fault never blocks the daemon's
 * loop. A server that stalls at attach: while its attach waits on the
 * device's thread, another connection is answered (the name is taken:
 * device-busy, device-exists), and the attach's own connection answers
 * its next request only after the attach's (vfio-user-timeout), in order.
 */
START_TEST(test_vfio_user_attach_does_not_hold_the_loop)
{
	/* The server's timeout is the margin the loop has to answer the
	 * other connection while the attach waits: generous. */
	const char *stalled = "{\"op\":\"attach\",\"name\":\"nvme0\",\"backend\":\"vfio-user\","
			      "\"vfio_user_timeout_ms\":5000}";
	const char *detach = "{\"op\":\"detach\",\"name\":\"nvme0\"}";
	char dir[PATH_MAX], path[PATH_MAX];
	const char *code = "";
	int c1, c2, fd, sv[2], i;
	struct peer p;

	tu_mkdir(dir, sizeof(dir));
	tu_path(path, sizeof(path), dir, "handover.sock");
	ck_assert_int_eq(handover_start(base, path, NULL), 0);
	fd = peer_start(&p, V2_MIG_STOP_COPY, stream, sizeof(stream));
	peer_set_fault(&p, VFU_CMD_DEVICE_GET_INFO, 1, PF_STALL);
	c1 = client_connect(path);
	c2 = client_connect(path);
	client_send(c1, stalled, fd);
	close(fd); /* the daemon has its own reference */
	client_send(c1, detach, -1);
	/* Asked until the attach is under way (first not-found while it is
	 * not read yet). */
	for (i = 0; i < 1000 && strcmp(code, "device-busy") != 0; i++) {
		client_send(c2, detach, -1);
		code = client_answer(c2);
		ck_assert_msg(strcmp(code, "not-found") == 0 || strcmp(code, "device-busy") == 0,
		    "detach while attaching: %s", code);
	}
	ck_assert_str_eq(code, "device-busy");
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	client_send(c2, "{\"op\":\"attach\",\"name\":\"nvme0\",\"backend\":\"vfio-user\"}", sv[0]);
	ck_assert_str_eq(client_answer(c2), "device-exists");
	close(sv[0]);
	close(sv[1]);
	/* The attach fails when the server's time is out; then the request
	 * queued behind it is answered. */
	ck_assert_str_eq(client_answer(c1), "vfio-user-timeout");
	ck_assert_str_eq(client_answer(c1), "not-found");
	ck_assert_ptr_null(device_find("nvme0"));
	close(c1);
	close(c2);
	peer_join(&p); /* the daemon's reference was closed */
}
END_TEST

/* A client that hangs up while its attach runs: the attach stands (as
 * one done before it hung up always did), the answer is dropped with the
 * connection, and the device's owner watch and detach work as usual. */
START_TEST(test_vfio_user_attach_outlives_its_connection)
{
	const char *text = "{\"op\":\"attach\",\"name\":\"nvme0\",\"backend\":\"vfio-user\"}";
	char dir[PATH_MAX], path[PATH_MAX];
	struct peer p;
	int c, fd, i;

	tu_mkdir(dir, sizeof(dir));
	tu_path(path, sizeof(path), dir, "handover.sock");
	ck_assert_int_eq(handover_start(base, path, NULL), 0);
	fd = peer_start(&p, V2_MIG_STOP_COPY, stream, sizeof(stream));
	c = client_connect(path);
	client_send(c, text, fd);
	close(fd);
	close(c);
	for (i = 0; i < 10000 && device_find("nvme0") == NULL; i++)
		event_base_loop(base, EVLOOP_ONCE);
	ck_assert_ptr_nonnull(device_find("nvme0"));
	ck_assert_int_eq(p.count[VFU_CMD_VERSION], 1);
	ck_assert_str_eq(request("{\"op\":\"detach\",\"name\":\"nvme0\"}", NULL, 0, NULL), "ok");
	peer_join(&p);
}
END_TEST

/* The daemon exits while an attach runs: its thread is waited for, the
 * attach refused (shutdown), the socket closed once, nothing added. */
START_TEST(test_vfio_user_attach_at_shutdown)
{
	const char *text = "{\"op\":\"attach\",\"name\":\"nvme0\",\"backend\":\"vfio-user\"}";
	struct peer p;
	int fd;

	fd = peer_start(&p, V2_MIG_STOP_COPY, stream, sizeof(stream));
	ck_assert_ptr_null(handover_request(&me, text, strlen(text), &fd, 1, answer_later, NULL));
	ck_assert_int_eq(fd, -1);
	handover_stop();
	ck_assert_str_eq(answer_code(later_answer), "shutdown");
	json_decref(later_answer);
	later_answer = NULL;
	ck_assert_ptr_null(device_find("nvme0"));
	peer_join(&p);
}
END_TEST

/* "iova" for a server without DMA logging: what a kernel device without
 * dirty tracking gets. The attach had taken the socket (its questions
 * run on the device's thread): refused, it is closed once. */
START_TEST(test_vfio_user_iova_without_dma_logging)
{
	struct peer p;
	int fd;

	fd = peer_start(&p, V2_MIG_STOP_COPY, stream, sizeof(stream));
	ck_assert_str_eq(request("{\"op\":\"attach\",\"name\":\"nvme0\",\"backend\":"
				 "\"vfio-user\",\"iova\":[{\"start\":0,\"length\":4096}]}",
			     &fd, 1, NULL),
	    "no-dirty-tracking");
	ck_assert_int_eq(fd, -1);
	ck_assert_ptr_null(device_find("nvme0"));
	peer_join(&p);
}
END_TEST

/* A server with DMA logging handed over with the guest's ranges: its page
 * space is theirs; its layout is not changed by set-iova (yet), and that
 * call is refused, not run as another backend's. */
START_TEST(test_vfio_user_with_iova)
{
	const char *text = "{\"op\":\"attach\",\"name\":\"nvme0\",\"backend\":\"vfio-user\","
			   "\"iova\":[{\"start\":0,\"length\":65536},{\"start\":1048576,"
			   "\"length\":65536}]}";
	struct mig_device *dev;
	struct peer p;
	json_t *a, *iova;
	int fd;

	fd = peer_start(&p, V2_MIG_STOP_COPY, stream, sizeof(stream));
	p.has_logging = 1;
	ck_assert_str_eq(request(text, &fd, 1, &a), "ok");
	iova = json_object_get(json_object_get(a, "device"), "iova");
	ck_assert_int_eq(json_array_size(iova), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(iova, 1), "start")),
	    1048576);
	json_decref(a);
	ck_assert_ptr_nonnull(dev = device_find("nvme0"));
	ck_assert_uint_eq(dev->guest_memory_size, 1048576 + 65536);
	ck_assert_uint_eq(dev->guest_page_size, 4096);
	ck_assert_str_eq(request("{\"op\":\"set-iova\",\"name\":\"nvme0\",\"iova\":"
				 "[{\"start\":0,\"length\":4096}]}",
			     NULL, 0, NULL),
	    "device-unsupported");
	ck_assert_uint_eq(dev->guest_memory_size, 1048576 + 65536);
	ck_assert_str_eq(request("{\"op\":\"detach\",\"name\":\"nvme0\"}", NULL, 0, NULL), "ok");
	peer_join(&p);
}
END_TEST

int main(void);

int
main(void)
{
	Suite *s = suite_create("handover");
	TCase *tc = tcase_create("requests");

	tcase_add_unchecked_fixture(tc, tu_scratch_setup, tu_scratch_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_attach_adopts_the_fd_as_the_vmm_holds_it);
	tcase_add_test(tc, test_dma_logged_over_the_handed_ranges_only);
	tcase_add_test(tc, test_set_iova_changes_the_layout);
	tcase_add_test(tc, test_refusals_leave_the_fd_to_the_caller);
	tcase_add_test(tc, test_malformed_requests);
	tcase_add_test(tc, test_final_state_stopped_leaves_it_stopped);
	tcase_add_test(tc, test_v1_device);
	tcase_add_test(tc, test_v1_device_with_its_container);
	tcase_add_test(tc, test_v2_device_without_dma_logging_uses_the_container);
	tcase_add_test(tc, test_container_refusals);
	tcase_add_test(tc, test_rollback_to_the_state_found);
	tcase_add_test(tc, test_owner_exit_lets_go);
	tcase_add_test(tc, test_vfio_user_socket);
	tcase_add_test(tc, test_vfio_user_refusals);
	tcase_add_test(tc, test_vfio_user_attach_does_not_hold_the_loop);
	tcase_add_test(tc, test_vfio_user_attach_outlives_its_connection);
	tcase_add_test(tc, test_vfio_user_attach_at_shutdown);
	tcase_add_test(tc, test_vfio_user_with_iova);
	tcase_add_test(tc, test_vfio_user_iova_without_dma_logging);
	/* The vfio-user attaches wait on their servers' threads. */
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
