/*
 * cmd_handover.c: `vfio-migctl attach NAME --fd N --backend
 * vfio-v2|vfio-v1|vfio-user [--iova START:LENGTH]... [--container-fd N]
 * [--final-state stopped|running] [--page-size N] [--owner-pid PID]
 * [--max-data-xfer-size N] [--vfio-user-timeout-ms MS]` and `vfio-migctl
 * detach NAME`, for an agent that spawns the CLI with the device fd (and
 * the VMM's type1 container), or a vfio-user server's connected socket,
 * inherited (SPEC §8, docs/HANDOVER.md).
 *
 * Owns the hand-over socket's client side: one JSON request in one
 * SOCK_SEQPACKET message, the fds as SCM_RIGHTS, one answer. The owner the
 * daemon watches is this program's parent (the agent that spawned it)
 * unless --owner-pid names another: the CLI itself exits at once.
 *
 * Never: check an fd beyond that it is open (the daemon says what it
 * is), or retry.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl.h"
#include "ranges.h"
#include "render.h"

#define HANDOVER_DEFAULT_SOCKET "/run/vfio-migd/handover.sock"
#define HANDOVER_SOCKET_ENV "VFIO_MIGD_HANDOVER"
/* The daemon's own bounds (daemon/handover.h). */
#define HANDOVER_ANSWER_MAX 65536
#define HANDOVER_RANGES_MAX 64

enum { OPT_FD = 1000, OPT_BACKEND, OPT_IOVA, OPT_FINAL_STATE, OPT_PAGE_SIZE, OPT_OWNER_PID,
	OPT_HANDOVER_SOCKET, OPT_CONTAINER_FD, OPT_MAX_DATA_XFER, OPT_VFU_TIMEOUT };


const struct option attach_options[] = {
	{"fd", required_argument, NULL, OPT_FD},
	{"container-fd", required_argument, NULL, OPT_CONTAINER_FD},
	{"backend", required_argument, NULL, OPT_BACKEND},
	{"iova", required_argument, NULL, OPT_IOVA},
	{"final-state", required_argument, NULL, OPT_FINAL_STATE},
	{"page-size", required_argument, NULL, OPT_PAGE_SIZE},
	{"owner-pid", required_argument, NULL, OPT_OWNER_PID},
	{"handover-socket", required_argument, NULL, OPT_HANDOVER_SOCKET},
	{"max-data-xfer-size", required_argument, NULL, OPT_MAX_DATA_XFER},
	{"vfio-user-timeout-ms", required_argument, NULL, OPT_VFU_TIMEOUT},
	{"json", no_argument, NULL, 'j'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

const struct option detach_options[] = {
	{"handover-socket", required_argument, NULL, OPT_HANDOVER_SOCKET},
	{"json", no_argument, NULL, 'j'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* A whole number, decimal or 0x hexadecimal, of at most max. */
static int
handover_number(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (*s == '\0' || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
handover_iova(struct ctl *ctl, const char *arg)
{
	struct ctl_attach_args *a = &ctl->attach;
	char buf[64], *colon;

	if (a->niova >= HANDOVER_RANGES_MAX)
		return ctl_usage_error(ctl, "at most %d --iova ranges", HANDOVER_RANGES_MAX);
	if (strlen(arg) >= sizeof(buf) || (colon = strchr(strcpy(buf, arg), ':')) == NULL)
		return ctl_usage_error(ctl, "--iova takes START:LENGTH, got '%s'", arg);
	*colon = '\0';
	if (handover_number(buf, UINT64_MAX, &a->iova[a->niova][0]) != 0 ||
	    handover_number(colon + 1, UINT64_MAX, &a->iova[a->niova][1]) != 0 ||
	    a->iova[a->niova][1] == 0)
		return ctl_usage_error(ctl, "--iova takes START:LENGTH (bytes, decimal or 0x hex, "
		    "LENGTH above 0), got '%s'", arg);
	a->niova++;
	return CTL_EXIT_OK;
}

int
attach_option(struct ctl *ctl, int opt, const char *arg)
{
	struct ctl_attach_args *a = &ctl->attach;
	uint64_t v;

	switch (opt) {
	case OPT_FD:
		if (handover_number(arg, INT32_MAX, &v) != 0)
			return ctl_usage_error(ctl, "--fd takes a file descriptor number, got '%s'",
			    arg);
		a->fd = (int)v;
		a->has_fd = 1;
		return CTL_EXIT_OK;
	case OPT_CONTAINER_FD:
		if (handover_number(arg, INT32_MAX, &v) != 0)
			return ctl_usage_error(ctl, "--container-fd takes a file descriptor number, "
			    "got '%s'", arg);
		a->container_fd = (int)v;
		a->has_container_fd = 1;
		return CTL_EXIT_OK;
	case OPT_BACKEND:
		if (strcmp(arg, "vfio-v2") != 0 && strcmp(arg, "vfio-v1") != 0 &&
		    strcmp(arg, "vfio-user") != 0)
			return ctl_usage_error(ctl, "--backend takes vfio-v2, vfio-v1 or vfio-user, "
			    "got '%s'", arg);
		a->backend = arg;
		return CTL_EXIT_OK;
	case OPT_IOVA:
		return handover_iova(ctl, arg);
	case OPT_FINAL_STATE:
		if (strcmp(arg, "stopped") != 0 && strcmp(arg, "running") != 0)
			return ctl_usage_error(ctl, "--final-state takes stopped or running, got "
			    "'%s'", arg);
		a->final_state = arg;
		return CTL_EXIT_OK;
	case OPT_PAGE_SIZE:
		if (handover_number(arg, UINT32_MAX, &a->page_size) != 0 || a->page_size == 0)
			return ctl_usage_error(ctl, "--page-size takes a number of bytes, got '%s'",
			    arg);
		return CTL_EXIT_OK;
	case OPT_OWNER_PID:
		if (handover_number(arg, INT32_MAX, &v) != 0 || v == 0)
			return ctl_usage_error(ctl, "--owner-pid takes a process id, got '%s'", arg);
		a->owner_pid = (long)v;
		return CTL_EXIT_OK;
	case OPT_HANDOVER_SOCKET:
		a->socket = arg;
		return CTL_EXIT_OK;
	case OPT_MAX_DATA_XFER:
		if (handover_number(arg, UINT32_MAX, &a->max_data_xfer) != 0 ||
		    a->max_data_xfer < MIG_VFIO_USER_XFER_MIN)
			return ctl_usage_error(ctl, "--max-data-xfer-size takes the size the VMM "
			    "negotiated, %u bytes or more, got '%s'", MIG_VFIO_USER_XFER_MIN, arg);
		return CTL_EXIT_OK;
	case OPT_VFU_TIMEOUT:
		if (handover_number(arg, MIG_VFIO_USER_TIMEOUT_MS_MAX, &a->vfu_timeout_ms) != 0 ||
		    a->vfu_timeout_ms < MIG_VFIO_USER_TIMEOUT_MS_MIN)
			return ctl_usage_error(ctl, "--vfio-user-timeout-ms takes %d..%d, got '%s'",
			    MIG_VFIO_USER_TIMEOUT_MS_MIN, MIG_VFIO_USER_TIMEOUT_MS_MAX, arg);
		return CTL_EXIT_OK;
	}
	return ctl_usage_error(ctl, "unknown option");
}

static const char *
handover_socket(const struct ctl *ctl)
{
	const char *env = getenv(HANDOVER_SOCKET_ENV);

	if (ctl->attach.socket != NULL)
		return ctl->attach.socket;
	return env != NULL && *env != '\0' ? env : HANDOVER_DEFAULT_SOCKET;
}

/* Send req with fds[0, nfds) and read the answer: CTL_EXIT_OK with *out,
 * CTL_EXIT_UNREACHABLE when there is no sensible exchange. */
static int
handover_exchange(const struct ctl *ctl, json_t *req, const int *fds, size_t nfds, json_t **out)
{
	const char *path = handover_socket(ctl);
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} cbuf;
	struct sockaddr_un sun;
	struct pollfd pfd;
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *cm;
	json_error_t jerr;
	char *text, *answer;
	ssize_t n;
	int s;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		ctl_warnx("hand-over socket %s: path too long", path);
		return CTL_EXIT_USAGE;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, path);
	if ((s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(s, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		ctl_warn("cannot reach the hand-over socket %s", path);
		if (s >= 0)
			close(s);
		return CTL_EXIT_UNREACHABLE;
	}
	text = json_dumps(req, JSON_COMPACT);
	iov.iov_base = text;
	iov.iov_len = strlen(text);
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds > 0) {
		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	n = sendmsg(s, &mh, MSG_NOSIGNAL);
	free(text);
	/* A refused peer is answered at once and the connection closed: the
	 * answer is still there to read. */
	if (n < 0 && errno != EPIPE && errno != ECONNRESET) {
		ctl_warn("sending to the hand-over socket %s", path);
		close(s);
		return CTL_EXIT_UNREACHABLE;
	}
	pfd.fd = s;
	pfd.events = POLLIN;
	answer = malloc(HANDOVER_ANSWER_MAX);
	n = -1;
	if (answer != NULL && ctl_poll(&pfd, 1, CTL_REQUEST_TIMEOUT_MS) == 1)
		n = recv(s, answer, HANDOVER_ANSWER_MAX, 0);
	close(s);
	*out = n > 0 ? json_loadb(answer, (size_t)n, 0, &jerr) : NULL;
	free(answer);
	if (*out == NULL || !json_is_object(*out)) {
		ctl_warnx("the daemon on %s sent no sensible answer", path);
		json_decref(*out);
		*out = NULL;
		return CTL_EXIT_UNREACHABLE;
	}
	return CTL_EXIT_OK;
}

/* The daemon's answer: ok shows the device (or nothing), an error is said
 * and is exit status 1. */
static int
handover_show(const struct ctl *ctl, json_t *res)
{
	json_t *err = json_object_get(res, "error"), *dev = json_object_get(res, "device");

	if (ctl->json)
		render_json(res);
	if (err != NULL) {
		ctl_warnx("%s: %s", render_dash(render_string(err, "code")),
		    render_dash(render_string(err, "message")));
		json_decref(res);
		return CTL_EXIT_FAILED;
	}
	if (!ctl->json && dev != NULL)
		render_fields(dev);
	json_decref(res);
	return CTL_EXIT_OK;
}

int
cmd_attach(struct ctl *ctl, const char *name)
{
	const struct ctl_attach_args *a = &ctl->attach;
	int fds[2] = {a->fd, a->container_fd}, rc;
	json_t *req, *ranges, *res;
	size_t i;

	if (!a->has_fd)
		return ctl_usage_error(ctl, "missing --fd N (the device fd this program inherited)");
	if (a->backend == NULL)
		return ctl_usage_error(ctl, "missing --backend vfio-v2|vfio-v1|vfio-user");
	if (strcmp(a->backend, "vfio-user") == 0 && a->has_container_fd)
		return ctl_usage_error(ctl, "--container-fd is for a kernel device: a vfio-user "
		    "server logs its own DMA (--iova)");
	if (strcmp(a->backend, "vfio-user") != 0 && (a->max_data_xfer != 0 || a->vfu_timeout_ms != 0))
		return ctl_usage_error(ctl, "--max-data-xfer-size and --vfio-user-timeout-ms are "
		    "for --backend vfio-user");
	if (fcntl(a->fd, F_GETFD) < 0) {
		ctl_warn("--fd %d", a->fd);
		return CTL_EXIT_USAGE;
	}
	if (a->has_container_fd && fcntl(a->container_fd, F_GETFD) < 0) {
		ctl_warn("--container-fd %d", a->container_fd);
		return CTL_EXIT_USAGE;
	}
	ranges = json_array();
	for (i = 0; i < a->niova; i++)
		json_array_append_new(ranges, json_pack("{s:I, s:I}", "start",
		    (json_int_t)a->iova[i][0], "length", (json_int_t)a->iova[i][1]));
	req = json_pack("{s:s, s:s, s:s, s:o, s:I}", "op", "attach", "name", name, "backend",
	    a->backend, "iova", ranges, "owner_pid",
	    (json_int_t)(a->owner_pid != 0 ? a->owner_pid : (long)getppid()));
	if (a->final_state != NULL)
		json_object_set_new(req, "final_state", json_string(a->final_state));
	if (a->page_size != 0)
		json_object_set_new(req, "page_size", json_integer((json_int_t)a->page_size));
	if (a->max_data_xfer != 0)
		json_object_set_new(req, "max_data_xfer_size",
		    json_integer((json_int_t)a->max_data_xfer));
	if (a->vfu_timeout_ms != 0)
		json_object_set_new(req, "vfio_user_timeout_ms",
		    json_integer((json_int_t)a->vfu_timeout_ms));
	if (a->has_container_fd)
		json_object_set_new(req, "fds", json_pack("[s, s]", "device", "container"));
	rc = handover_exchange(ctl, req, fds, a->has_container_fd ? 2 : 1, &res);
	json_decref(req);
	return rc == CTL_EXIT_OK ? handover_show(ctl, res) : rc;
}

int
cmd_detach(struct ctl *ctl, const char *name)
{
	json_t *req = json_pack("{s:s, s:s}", "op", "detach", "name", name), *res;
	int rc = handover_exchange(ctl, req, NULL, 0, &res);

	json_decref(req);
	if (rc != CTL_EXIT_OK)
		return rc;
	rc = handover_show(ctl, res);
	if (rc == CTL_EXIT_OK && !ctl->json)
		printf("device %s: detached\n", name);
	return rc;
}
