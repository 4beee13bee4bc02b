/*
 * test_vmm.c: a test VMM for the device hand-over tests (issue 15,
 * tests/integration/handover.sh).
 *
 * It holds a fake VFIO device (tests/fake_vfio.h; the fake kernel is
 * linked in), a v2 one or (--v1) one with a v1 migration region, and with
 * --container the type1 container its DMA goes through (the guest's
 * --iova ranges mapped in it), runs a guest workload on it (device state
 * and DMA into guest memory), and talks to a daemon's hand-over socket as
 * a VMM would (SOCK_SEQPACKET, one JSON request with the device fd, and
 * the container's, as SCM_RIGHTS, one JSON answer). A test drives it with
 * one command per line on stdin and reads one answer per line on stdout:
 *
 *   attach                  hand the device over (--name, --iova, ...),
 *                           with its container when it has one
 *   attach-fd file|devnull NAME
 *                           hand over an fd that is not a VFIO device
 *   attach-container device hand over the device's fd as the container too
 *   cstatus                 the container: logging, starts, stops, maps, ...
 *   detach | set-iova START:LENGTH[,...]
 *   workload on|off         the guest dirties state and DMAs (every 20 ms)
 *   status                  state, resets, digest, DMA logging, ...
 *   pages FILE              the guest pages the device wrote while logged
 *   check STATE DIGEST [PAGES BITMAP]
 *                           the destination's checks through its own fd:
 *                           the device is in STATE, never reset, holds the
 *                           image DIGEST, and every page in the file PAGES
 *                           is in BITMAP (GET /v1/migrations/ID/bitmap)
 *   start                   the VMM starts its vCPUs: the device RUNNING
 *   stop                    the VMM pauses its vCPUs: the device STOP
 *   exit                    die at once, answering nothing
 *   quit
 *
 * Answers: "<command> ok ..." or "<command> error <code> <message>".
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "tests/fake_vfio.h"
#include "v2_fsm.h"
#include "vfio_compat.h"

#define VMM_TICK_MS 20
#define VMM_ANSWER_MS 30000
#define VMM_MAX_RANGES 16
#define VMM_GUEST_PAGE 4096u

struct vmm {
	const char *device_path, *socket_path, *name, *final_state, *container_path;
	struct fake_vfio_config cfg;
	int create, container_nodirty;
	int cfd; /* the container, -1 without one */
	json_t *iova; /* [{start, length}] */
	uint32_t page_size;
	int fd;	  /* the device: the VMM's own reference */
	int sock; /* the hand-over connection, -1 until the first request */
	int workload;
	uint64_t tick;
	uint8_t *logged; /* guest pages the device wrote while logging was on */
	uint64_t guest_pages;
};

static void answer(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
answer(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static int
vmm_connect(struct vmm *v)
{
	struct sockaddr_un sa;

	if (v->sock >= 0)
		return 0;
	if (v->socket_path == NULL)
		return -EINVAL;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", v->socket_path);
	if ((v->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (connect(v->sock, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(v->sock);
		v->sock = -1;
		return -errno;
	}
	return 0;
}

/* One request (with fds[0, nfds) as SCM_RIGHTS), one answer: NULL when
 * the socket failed (*err says why). */
static json_t *
vmm_request(struct vmm *v, json_t *req, const int *fds, size_t nfds, int *err)
{
	char cbuf[CMSG_SPACE(2 * sizeof(int))], buf[65536];
	struct pollfd pfd;
	struct msghdr msg;
	struct cmsghdr *c;
	struct iovec iov;
	char *text = json_dumps(req, JSON_COMPACT);
	json_t *ans = NULL;
	ssize_t n;

	*err = 0;
	if ((*err = vmm_connect(v)) != 0)
		goto out;
	memset(&msg, 0, sizeof(msg));
	iov.iov_base = text;
	iov.iov_len = strlen(text);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (nfds > 0) {
		memset(cbuf, 0, sizeof(cbuf));
		msg.msg_control = cbuf;
		msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	n = sendmsg(v->sock, &msg, MSG_NOSIGNAL);
	/* A daemon restarted since the last request: connect again, once. */
	if (n < 0 && errno == EPIPE) {
		close(v->sock);
		v->sock = -1;
		if ((*err = vmm_connect(v)) != 0)
			goto out;
		n = sendmsg(v->sock, &msg, MSG_NOSIGNAL);
	}
	if (n < 0) {
		*err = -errno;
		goto drop;
	}
	pfd = (struct pollfd){v->sock, POLLIN, 0};
	if (poll(&pfd, 1, VMM_ANSWER_MS) != 1) {
		*err = -ETIMEDOUT;
		goto drop;
	}
	if ((n = recv(v->sock, buf, sizeof(buf) - 1, 0)) <= 0) {
		*err = n == 0 ? -ECONNRESET : -errno;
		goto drop;
	}
	buf[n] = '\0';
	if ((ans = json_loads(buf, 0, NULL)) == NULL)
		*err = -EPROTO;
	goto out;
drop:
	if (v->sock >= 0)
		close(v->sock);
	v->sock = -1;
out:
	free(text);
	return ans;
}

/* Print the answer to request `what` as one line. */
static void
vmm_ask_fds(struct vmm *v, const char *what, json_t *req, const int *fds, size_t nfds)
{
	json_t *ans, *e;
	int err;

	ans = vmm_request(v, req, fds, nfds, &err);
	json_decref(req);
	if (ans == NULL) {
		answer("%s error socket %s", what, strerror(-err));
		return;
	}
	if (json_is_true(json_object_get(ans, "ok")))
		answer("%s ok", what);
	else if ((e = json_object_get(ans, "error")) != NULL)
		answer("%s error %s %s", what, json_string_value(json_object_get(e, "code")),
		    json_string_value(json_object_get(e, "message")));
	else
		answer("%s error unexpected-answer", what);
	json_decref(ans);
}

static void
vmm_ask(struct vmm *v, const char *what, json_t *req, int fd)
{
	vmm_ask_fds(v, what, req, &fd, fd >= 0 ? 1 : 0);
}

static json_t *
vmm_attach_request(struct vmm *v, const char *name)
{
	json_t *req = json_pack("{s:s, s:s, s:s, s:O, s:i}", "op", "attach", "name", name,
	    "backend", v->cfg.v1 ? "vfio-v1" : "vfio-v2", "iova", v->iova, "page_size",
	    (int)v->page_size);

	if (v->final_state != NULL)
		json_object_set_new(req, "final_state", json_string(v->final_state));
	return req;
}

/* START:LENGTH[,START:LENGTH...] into an array of ranges; NULL if malformed. */
static json_t *
vmm_parse_ranges(const char *s)
{
	json_t *arr = json_array();
	unsigned long long a, b;
	int n;

	while (*s != '\0') {
		if (sscanf(s, "%lli:%lli%n", &a, &b, &n) != 2) {
			json_decref(arr);
			return NULL;
		}
		json_array_append_new(arr,
		    json_pack("{s:I, s:I}", "start", (json_int_t)a, "length", (json_int_t)b));
		s += n;
		if (*s == ',')
			s++;
	}
	return arr;
}

static void
vmm_attach_other(struct vmm *v, const char *kind, const char *name)
{
	char path[] = "/tmp/test_vmm.XXXXXX";
	int fd = -1;

	if (strcmp(kind, "devnull") == 0) {
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	} else if (strcmp(kind, "file") == 0 && (fd = mkstemp(path)) >= 0) {
		unlink(path);
		/* Even one that says it is a fake device is not one to the
		 * kernel: too short to be mapped. */
		if (write(fd, "FAKEVFIO", 8) != 8) {
			close(fd);
			fd = -1;
		}
	}
	if (fd < 0) {
		answer("attach-fd error local %s", kind);
		return;
	}
	vmm_ask(v, "attach-fd", vmm_attach_request(v, name), fd);
	close(fd);
}

/* Hand the device over, with its container when it has one; with
 * `as_container`, that fd instead (a refusal to see). */
static void
vmm_attach(struct vmm *v, const char *what, int as_container)
{
	json_t *req = vmm_attach_request(v, v->name);
	int fds[2] = {v->fd, as_container >= 0 ? as_container : v->cfd};

	if (fds[1] < 0) {
		vmm_ask_fds(v, what, req, fds, 1);
		return;
	}
	json_object_set_new(req, "fds", json_pack("[s, s]", "device", "container"));
	vmm_ask_fds(v, what, req, fds, 2);
}

/* The container's side: the guest's ranges mapped for the device's DMA. */
static int
vmm_container(struct vmm *v)
{
	struct vfio_iommu_type1_dma_map map;
	json_t *r;
	size_t i;
	int err;

	v->cfd = -1;
	if (v->container_path == NULL)
		return 0;
	if (v->create && (err = fake_vfio_container_create(v->container_path, v->cfg.guest_size,
	    !v->container_nodirty)) != 0)
		return err;
	if ((v->cfd = fake_vfio_container_open(v->container_path)) < 0)
		return v->cfd;
	json_array_foreach(v->iova, i, r) {
		memset(&map, 0, sizeof(map));
		map.argsz = sizeof(map);
		map.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
		map.iova = (uint64_t)json_integer_value(json_object_get(r, "start"));
		map.size = (uint64_t)json_integer_value(json_object_get(r, "length"));
		if (ioctl(v->cfd, VFIO_IOMMU_MAP_DMA, &map) != 0)
			return -errno;
	}
	return fake_vfio_container_attach(v->cfd, v->fd);
}

static void
vmm_container_status(struct vmm *v)
{
	struct fake_vfio_container_status st;
	int err;

	if (v->cfd < 0 || (err = fake_vfio_container_status(v->cfd, &st)) != 0) {
		answer("cstatus error local no container");
		return;
	}
	answer("cstatus ok logging=%d starts=%" PRIu64 " stops=%" PRIu64 " reports=%" PRIu64
	       " maps=%" PRIu64 " other_ioctls=%" PRIu64,
	    st.logging, st.starts, st.stops, st.reports, st.maps, st.other_ioctls);
}

/* One turn of the guest: a state page and a DMA write each. A stopped
 * device refuses both (-EBUSY), which is what a stopped guest does. */
static void
vmm_workload_tick(struct vmm *v)
{
	uint64_t t = v->tick++, buf[8], state_pages = v->cfg.state_size / v->page_size, page;
	size_t i;
	int r;

	for (i = 0; i < 8; i++)
		buf[i] = t * 0x9e3779b97f4a7c15ull + i;
	fake_vfio_state_write(v->fd, (t % state_pages) * v->page_size + (t * 64) % v->page_size,
	    buf, sizeof(buf));
	if (v->guest_pages == 0)
		return;
	page = (t * 7 + t / 3) % v->guest_pages;
	r = fake_vfio_dma_write(v->fd, page * VMM_GUEST_PAGE + (t * 32) % VMM_GUEST_PAGE, buf, 32);
	if (r == 1)
		v->logged[page / 8] |= (uint8_t)(1u << (page % 8));
}

static void
vmm_status(struct vmm *v)
{
	struct fake_vfio_status st;
	uint64_t i, n = 0;
	int err;

	if ((err = fake_vfio_status(v->fd, &st)) != 0) {
		answer("status error local %s", strerror(-err));
		return;
	}
	for (i = 0; i < v->guest_pages; i++)
		n += (v->logged[i / 8] >> (i % 8)) & 1;
	answer("status ok state=%s resets=%" PRIu64 " digest=%016" PRIx64 " logging=%d ranges=%u "
	       "sessions=%" PRIu64 " other_ioctls=%" PRIu64 " logged_pages=%" PRIu64 " error=%s",
	    v2_state_name(st.state), st.resets, st.digest, st.logging, st.nranges, st.sessions,
	    st.other_ioctls, n, st.stream_error[0] != '\0' ? "yes" : "no");
}

static void
vmm_pages(struct vmm *v, const char *path)
{
	FILE *f = fopen(path, "w");
	uint64_t i, n = 0;

	if (f == NULL) {
		answer("pages error local %s", strerror(errno));
		return;
	}
	for (i = 0; i < v->guest_pages; i++)
		if ((v->logged[i / 8] >> (i % 8)) & 1) {
			fprintf(f, "%" PRIu64 "\n", i);
			n++;
		}
	fclose(f);
	answer("pages ok %" PRIu64, n);
}

/* Is guest page `page` (of VMM_GUEST_PAGE bytes) in the bitmap's runs? */
static int
vmm_in_bitmap(json_t *bitmap, uint64_t page)
{
	json_int_t ps = json_integer_value(json_object_get(bitmap, "page_size"));
	json_t *run;
	size_t i;
	uint64_t first, count, addr = page * VMM_GUEST_PAGE;

	if (ps <= 0)
		return 0;
	json_array_foreach(json_object_get(bitmap, "runs"), i, run) {
		first = (uint64_t)json_integer_value(json_array_get(run, 0)) * (uint64_t)ps;
		count = (uint64_t)json_integer_value(json_array_get(run, 1)) * (uint64_t)ps;
		if (addr >= first && addr - first < count)
			return 1;
	}
	return 0;
}

static void
vmm_check(struct vmm *v, const char *state, const char *digest, const char *pages,
    const char *bitmap_path)
{
	struct fake_vfio_status st;
	json_t *bitmap = NULL;
	unsigned long long page;
	uint64_t want, n = 0;
	FILE *f;

	if (fake_vfio_status(v->fd, &st) != 0 || sscanf(digest, "%" SCNx64, &want) != 1) {
		answer("check FAIL: no status, or a malformed digest");
		return;
	}
	if (strcmp(v2_state_name(st.state), state) != 0) {
		answer("check FAIL: the device is %s, not %s", v2_state_name(st.state), state);
		return;
	}
	if (st.resets != 0) {
		answer("check FAIL: the device was reset %" PRIu64 " times", st.resets);
		return;
	}
	if (st.digest != want) {
		answer("check FAIL: the device holds image %016" PRIx64
		       ", not the source's %016" PRIx64,
		    st.digest, want);
		return;
	}
	if (pages != NULL) {
		if ((bitmap = json_load_file(bitmap_path, 0, NULL)) == NULL ||
		    (f = fopen(pages, "r")) == NULL) {
			json_decref(bitmap);
			answer("check FAIL: cannot read %s or %s", bitmap_path, pages);
			return;
		}
		while (fscanf(f, "%llu", &page) == 1) {
			if (!vmm_in_bitmap(bitmap, page)) {
				answer(
				    "check FAIL: guest page %llu, written by the device during the "
				    "migration, is not in the destination's bitmap",
				    page);
				fclose(f);
				json_decref(bitmap);
				return;
			}
			n++;
		}
		fclose(f);
		json_decref(bitmap);
	}
	answer("check ok pages=%" PRIu64, n);
}

/* A v1 device's device_state, bits 0-2 (_RUNNING 1), the others kept. */
static int
vmm_v1_set_running(struct vmm *v, int running)
{
	off_t at = (off_t)FAKE_VFIO_V1_REGION << FAKE_VFIO_REGION_SHIFT;
	uint32_t state;

	if (pread(v->fd, &state, sizeof(state), at) != sizeof(state))
		return -1;
	state = (state & ~7u) | (running ? 1u : 0u);
	return pwrite(v->fd, &state, sizeof(state), at) == sizeof(state) ? 0 : -1;
}

/* The VMM starts (RUNNING) or pauses (STOP) its vCPUs, and the device. */
static void
vmm_run_state(struct vmm *v, const char *what, uint32_t state)
{
	uint64_t buf[4];
	struct vfio_device_feature *f = (struct vfio_device_feature *)buf;
	struct vfio_device_feature_mig_state st = {state, -1};
	int rc;

	memset(buf, 0, sizeof(buf));
	f->argsz = sizeof(*f) + sizeof(st);
	f->flags = VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE;
	memcpy(f->data, &st, sizeof(st));
	rc = v->cfg.v1 ? vmm_v1_set_running(v, state == V2_STATE_RUNNING)
		       : ioctl(v->fd, VFIO_DEVICE_FEATURE, f);
	if (rc != 0)
		answer("%s error local %s", what, strerror(errno));
	else
		answer("%s ok", what);
}

/* One command line; 1 to quit. */
static int
vmm_command(struct vmm *v, char *line)
{
	char *argv[6] = {NULL};
	int argc = 0;
	json_t *ranges;
	char *save = NULL, *tok;

	for (tok = strtok_r(line, " \t", &save); tok != NULL && argc < 6;
	     tok = strtok_r(NULL, " \t", &save))
		argv[argc++] = tok;
	if (argc == 0)
		return 0;
	if (strcmp(argv[0], "attach") == 0) {
		vmm_attach(v, "attach", -1);
	} else if (strcmp(argv[0], "attach-container") == 0 && argc == 2 &&
	    strcmp(argv[1], "device") == 0) {
		vmm_attach(v, "attach-container", v->fd);
	} else if (strcmp(argv[0], "cstatus") == 0) {
		vmm_container_status(v);
	} else if (strcmp(argv[0], "attach-fd") == 0 && argc == 3) {
		vmm_attach_other(v, argv[1], argv[2]);
	} else if (strcmp(argv[0], "detach") == 0) {
		vmm_ask(v, "detach", json_pack("{s:s, s:s}", "op", "detach", "name", v->name), -1);
	} else if (strcmp(argv[0], "set-iova") == 0 && argc == 2 &&
	    (ranges = vmm_parse_ranges(argv[1])) != NULL) {
		vmm_ask(v, "set-iova",
		    json_pack("{s:s, s:s, s:o}", "op", "set-iova", "name", v->name, "iova", ranges),
		    -1);
	} else if (strcmp(argv[0], "workload") == 0 && argc == 2) {
		v->workload = strcmp(argv[1], "on") == 0;
		answer("workload ok %s", v->workload ? "on" : "off");
	} else if (strcmp(argv[0], "status") == 0) {
		vmm_status(v);
	} else if (strcmp(argv[0], "pages") == 0 && argc == 2) {
		vmm_pages(v, argv[1]);
	} else if (strcmp(argv[0], "check") == 0 && (argc == 3 || argc == 5)) {
		vmm_check(v, argv[1], argv[2], argc == 5 ? argv[3] : NULL,
		    argc == 5 ? argv[4] : NULL);
	} else if (strcmp(argv[0], "start") == 0) {
		vmm_run_state(v, "start", V2_STATE_RUNNING);
	} else if (strcmp(argv[0], "stop") == 0) {
		vmm_run_state(v, "stop", V2_STATE_STOP);
	} else if (strcmp(argv[0], "exit") == 0) {
		_exit(0);
	} else if (strcmp(argv[0], "quit") == 0) {
		answer("quit ok");
		return 1;
	} else {
		answer("%s error usage", argv[0]);
	}
	return 0;
}

static void
vmm_run(struct vmm *v)
{
	char buf[4096], *nl;
	size_t fill = 0;
	struct pollfd pfd = {0, POLLIN, 0};
	ssize_t n;

	for (;;) {
		if (v->workload)
			vmm_workload_tick(v);
		if (poll(&pfd, 1, v->workload ? VMM_TICK_MS : -1) <= 0 ||
		    !(pfd.revents & (POLLIN | POLLHUP)))
			continue;
		if ((n = read(0, buf + fill, sizeof(buf) - 1 - fill)) <= 0)
			return; /* the test went away */
		fill += (size_t)n;
		buf[fill] = '\0';
		while ((nl = strchr(buf, '\n')) != NULL) {
			*nl = '\0';
			if (vmm_command(v, buf))
				return;
			fill -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, fill + 1);
		}
		if (fill == sizeof(buf) - 1)
			fill = 0;
	}
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: test_vmm --device PATH [--create] [--seed N] [--state-size N] "
	    "[--guest-size N] [--anon] [--minor N] [--v1] [--container PATH] "
	    "[--container-nodirty] [--socket PATH] [--name NAME] [--iova START:LENGTH]... "
	    "[--page-size N] [--final-state stopped|running]\n");
	exit(2);
}

/* The command line into v. */
static void
vmm_options(struct vmm *v, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"device", required_argument, NULL, 'd'},
	    {"create", no_argument, NULL, 'c'},
	    {"seed", required_argument, NULL, 's'},
	    {"state-size", required_argument, NULL, 'S'},
	    {"guest-size", required_argument, NULL, 'G'},
	    {"anon", no_argument, NULL, 'a'},
	    {"minor", required_argument, NULL, 'm'},
	    {"socket", required_argument, NULL, 'k'},
	    {"name", required_argument, NULL, 'n'},
	    {"iova", required_argument, NULL, 'i'},
	    {"page-size", required_argument, NULL, 'p'},
	    {"final-state", required_argument, NULL, 'f'},
	    {"v1", no_argument, NULL, '1'},
	    {"container", required_argument, NULL, 'C'},
	    {"container-nodirty", no_argument, NULL, 'N'},
	    {NULL, 0, NULL, 0},
	};
	json_t *r;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			v->device_path = optarg;
			break;
		case 'c':
			v->create = 1;
			break;
		case 's':
			v->cfg.seed = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'S':
			v->cfg.state_size = strtoull(optarg, NULL, 0);
			break;
		case 'G':
			v->cfg.guest_size = strtoull(optarg, NULL, 0);
			break;
		case 'a':
			v->cfg.anon_inode = 1;
			break;
		case 'm':
			v->cfg.minor = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'k':
			v->socket_path = optarg;
			break;
		case 'n':
			v->name = optarg;
			break;
		case 'i':
			if ((r = vmm_parse_ranges(optarg)) == NULL)
				usage();
			json_array_extend(v->iova, r);
			json_decref(r);
			break;
		case 'p':
			v->page_size = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'f':
			v->final_state = optarg;
			break;
		case '1':
			v->cfg.v1 = 1;
			break;
		case 'C':
			v->container_path = optarg;
			break;
		case 'N':
			v->container_nodirty = 1;
			break;
		default:
			usage();
		}
	}
	if (v->device_path == NULL || optind != argc)
		usage();
}

int main(int argc, char **argv);

int
main(int argc, char **argv)
{
	struct fake_vfio_status st;
	struct vmm v;
	int err;

	memset(&v, 0, sizeof(v));
	v.sock = -1;
	v.name = "dev0";
	v.page_size = VMM_GUEST_PAGE;
	v.iova = json_array();
	v.cfg.state_size = 256 * 1024;
	v.cfg.guest_size = 4 * 1024 * 1024;
	v.cfg.vendor = 0x15b3;
	v.cfg.device = 0x101e;
	vmm_options(&v, argc, argv);
	if (v.create && (err = fake_vfio_create(v.device_path, &v.cfg)) != 0) {
		fprintf(stderr, "test_vmm: creating %s: %s\n", v.device_path, strerror(-err));
		return 1;
	}
	if ((v.fd = fake_vfio_open(v.device_path)) < 0) {
		fprintf(stderr, "test_vmm: opening %s: %s\n", v.device_path, strerror(-v.fd));
		return 1;
	}
	if ((err = fake_vfio_status(v.fd, &st)) != 0)
		return 1;
	v.cfg.state_size = st.state_size;
	v.cfg.guest_size = st.guest_size;
	v.guest_pages = v.cfg.guest_size / VMM_GUEST_PAGE;
	if ((err = vmm_container(&v)) != 0) {
		fprintf(stderr, "test_vmm: container %s: %s\n", v.container_path, strerror(-err));
		return 1;
	}
	v.logged = calloc(1, (size_t)(v.guest_pages + 7) / 8 + 1);
	answer("ready pid=%d", (int)getpid());
	vmm_run(&v);
	json_decref(v.iova);
	free(v.logged);
	return 0;
}
