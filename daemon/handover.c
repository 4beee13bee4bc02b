/*
 * handover.c: the hand-over socket (SPEC §8, docs/HANDOVER.md).
 *
 * It owns the socket (SOCK_SEQPACKET: one JSON request per message, fds
 * as SCM_RIGHTS, one JSON answer), who may use it (SO_PEERCRED: root, the
 * daemon's user, members of control_group), the checks of every request
 * (size, fds, JSON types, ranges), and the owner of each handed-over
 * device: a pidfd on the loop, whose exit lets go of the device and fails
 * a migration of it with owner-exited. The devices themselves are in
 * device.c's registry, like configured ones; the backend adopts the fd,
 * and the VMM's type1 container when it hands that over too (checked
 * here: vfio_type1_check).
 *
 * Never: open, bind, map or reset a device (a failed migration's engine
 * resets where the protocol leaves no other way), map, unmap or attach
 * anything through a container, or close an fd but the ones a request
 * brought: the ones a device keeps (its fd, its container's) are the
 * daemon's own references to the VMM's open files, closed with the device.
 * Never wait on a vfio-user server on the loop: a handed-over socket's
 * server is asked its questions on the device's own thread, and the
 * request is answered when they are done (struct handover_attaching).
 */
#include "handover.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "device.h"
#include "device_worker.h"
#include "errors.h"
#include "events.h"
#include "log.h"
#include "migration.h"
#include "parse.h"
#include "ranges.h"
#include "vfio_type1.h"
#include "vfio_user.h"
#include "xmalloc.h"

/* How often a device whose owner exited is looked at until its migration
 * has ended and its thread is idle. */
#define HANDOVER_RETRY_MS 50
/* How long a refused peer may take to send the request it is refused. */
#define HANDOVER_REFUSED_MS 2000
#define HANDOVER_PAGE_MIN 4096u
#define HANDOVER_PAGE_MAX (1u << 30)

struct handover_conn {
	int fd;
	struct handover_peer peer;
	struct event *ev;
	/* A peer that may not use the socket (permission-denied) or one too
	 * many (limit-reached): its first request is answered so, then the
	 * connection closes (closed before its request is read, the peer
	 * would see ECONNRESET, not why). */
	int refused;
	struct event *deadline;
	struct handover_conn *next;
};

/*
 * An attach of a vfio-user socket under way. Its server is asked VERSION,
 * DEVICE_GET_INFO and the features (each within the device's timeout) on
 * the device's own thread, started before the device is added (device_add
 * keeps it): device_worker.c's pipe brings the result back to the loop,
 * where the rest of the attach runs. Until then the name is taken, the
 * socket is the attach's (the device's once adopted; closed here on a
 * refusal), and the request's connection reads nothing more, so that its
 * answers stay in order (conn_read). handover_stop waits for the thread,
 * then refuses the attach: shutdown.
 */
struct handover_attaching {
	struct mig_device *dev; /* not in the registry yet */
	int fd;
	uint32_t negotiated, timeout_ms;
	/* The guest's ranges its server's DMA is logged over (none: not). */
	struct mig_iova_range ranges[MIG_IOVA_RANGES_MAX];
	size_t nranges;
	uint32_t page_size;
	int pidfd;
	struct handover_peer peer;
	/* The adopt's result: written on the thread, read on the loop after
	 * its call came back (the worker's pipe) or its thread was joined. */
	int rc;
	/* Made active by the call's callback: the rest of the attach runs on
	 * the loop's next turn, outside the worker's delivery, so that a
	 * refusal may stop the worker. */
	struct event *finish;
	handover_later_fn later;
	void *ctx;
	struct handover_attaching *next;
};

/* A handed-over device and the watch on its owner. */
struct handover_dev {
	struct mig_device *dev;
	int pidfd;
	struct event *owner_ev;
	struct event *retry;
	struct handover_dev *next;
};

static struct event_base *hbase;
static int listen_fd = -1;
static struct event *listen_ev;
static char *socket_path;
static gid_t socket_gid;
static int socket_has_group;
static struct handover_conn *conns;
static unsigned nconns;
static struct handover_dev *handed;
static unsigned nhanded;
static struct handover_attaching *attaching;
static unsigned nattaching;

void
handover_init(struct event_base *base)
{
	hbase = base;
}

static json_t *
handover_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static json_t *
handover_error(int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:{s:s, s:s}}", "error", "code", mig_err_name(code), "message", msg);
}

static struct handover_dev *
handover_find(const char *name)
{
	struct handover_dev *h;

	for (h = handed; h != NULL; h = h->next)
		if (strcmp(h->dev->name, name) == 0)
			return h;
	return NULL;
}

static struct handover_attaching *
handover_attaching_find(const char *name)
{
	struct handover_attaching *a;

	for (a = attaching; a != NULL; a = a->next)
		if (strcmp(a->dev->name, name) == 0)
			return a;
	return NULL;
}

/* ---- requests: every field checked ----------------------------------- */

static json_t *
handover_check_fields(json_t *req, const char *const *allowed)
{
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach(req, key, v) {
		for (i = 0; allowed[i] != NULL && strcmp(allowed[i], key) != 0; i++)
			;
		if (allowed[i] == NULL)
			return handover_error(MIG_E_BAD_REQUEST, "unknown field \"%s\"", key);
	}
	return NULL;
}

static json_t *
handover_name(json_t *req, const char **name)
{
	json_t *v = json_object_get(req, "name");

	if (v == NULL || !json_is_string(v))
		return handover_error(MIG_E_BAD_REQUEST, "\"name\" must be a string");
	*name = json_string_value(v);
	if (!mig_valid_name(*name, MIG_DEVICE_NAME_MAX))
		return handover_error(MIG_E_BAD_REQUEST, "\"name\" must be 1..%d characters of "
		    "A-Z a-z 0-9 _ . -", MIG_DEVICE_NAME_MAX);
	return NULL;
}

/* An optional unsigned integer field: *out keeps its default when absent. */
static json_t *
handover_uint(json_t *obj, const char *key, uint64_t max, uint64_t *out)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return NULL;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > max)
		return handover_error(MIG_E_BAD_REQUEST, "\"%s\" must be an integer 0..%llu", key,
		    (unsigned long long)max);
	*out = (uint64_t)json_integer_value(v);
	return NULL;
}

static json_t *
handover_page_size(json_t *req, uint32_t *page_size)
{
	uint64_t ps = *page_size;
	json_t *err;

	if ((err = handover_uint(req, "page_size", HANDOVER_PAGE_MAX, &ps)) != NULL)
		return err;
	if (ps < HANDOVER_PAGE_MIN || (ps & (ps - 1)) != 0)
		return handover_error(MIG_E_BAD_REQUEST, "\"page_size\" must be a power of two "
		    "%u..%u", HANDOVER_PAGE_MIN, HANDOVER_PAGE_MAX);
	*page_size = (uint32_t)ps;
	return NULL;
}

static int
range_cmp(const void *a, const void *b)
{
	const struct mig_iova_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* "iova": [{"start": S, "length": L}, ...], page-aligned, not empty, not
 * overlapping, within HANDOVER_PAGES_MAX pages from IOVA 0. Sorted. */
static json_t *
handover_ranges(json_t *req, uint32_t ps, int required, struct mig_iova_range *r, size_t *n)
{
	static const char *const fields[] = {"start", "length", NULL};
	json_t *arr = json_object_get(req, "iova"), *v, *err;
	uint64_t limit = HANDOVER_PAGES_MAX * ps;
	size_t i;

	*n = 0;
	if (arr == NULL && !required)
		return NULL;
	if (arr == NULL || !json_is_array(arr))
		return handover_error(MIG_E_BAD_REQUEST, "\"iova\" must be an array of "
		    "{\"start\", \"length\"}");
	if (json_array_size(arr) > MIG_IOVA_RANGES_MAX)
		return handover_error(MIG_E_BAD_REQUEST, "\"iova\" has %zu ranges; at most %d",
		    json_array_size(arr), MIG_IOVA_RANGES_MAX);
	json_array_foreach(arr, i, v) {
		if (!json_is_object(v) || json_object_get(v, "start") == NULL ||
		    json_object_get(v, "length") == NULL)
			return handover_error(MIG_E_BAD_REQUEST, "\"iova\"[%zu] must be "
			    "{\"start\": N, \"length\": N}", i);
		if ((err = handover_check_fields(v, fields)) != NULL ||
		    (err = handover_uint(v, "start", limit, &r[i].start)) != NULL ||
		    (err = handover_uint(v, "length", limit, &r[i].length)) != NULL)
			return err;
		if (r[i].length == 0 || r[i].start % ps != 0 || r[i].length % ps != 0 ||
		    r[i].length > limit - r[i].start)
			return handover_error(MIG_E_BAD_REQUEST, "\"iova\"[%zu]: start and length must "
			    "be multiples of page_size (%u), length above 0, and the range below "
			    "%llu", i, ps, (unsigned long long)limit);
	}
	*n = json_array_size(arr);
	qsort(r, *n, sizeof(*r), range_cmp);
	for (i = 1; i < *n; i++)
		if (r[i].start < r[i - 1].start + r[i - 1].length)
			return handover_error(MIG_E_BAD_REQUEST, "\"iova\": ranges at %llu and %llu "
			    "overlap", (unsigned long long)r[i - 1].start,
			    (unsigned long long)r[i].start);
	return NULL;
}

/* ---- owners ---------------------------------------------------------- */

/* GET /v1/events: a device came or went (why: "detach", "owner-exited"). */
static void
handover_event(const char *type, struct mig_device *dev, const char *why)
{
	json_t *ev = json_pack("{s:s, s:s, s:i}", "type", type, "device", dev->name, "owner_pid",
	    (int)dev->owner_pid);

	if (why != NULL)
		json_object_set_new(ev, "reason", json_string(why));
	events_publish(ev);
}

static void handover_forget(struct handover_dev *h);

/* Let go once the device's migration has ended and its thread is idle. */
static void
handover_try_remove(evutil_socket_t fd, short what, void *arg)
{
	struct handover_dev *h = arg;
	struct timeval tv = {0, HANDOVER_RETRY_MS * 1000};

	if (h->dev->busy != NULL || device_calls_out(h->dev->worker)) {
		evtimer_add(h->retry, &tv);
		return;
	}
	log_info("device %s: let go (its owner, pid %d, exited); the daemon's reference to "
		 "the device is closed", h->dev->name, (int)h->dev->owner_pid);
	handover_event("device-detached", h->dev, "owner-exited");
	handover_forget(h);
}

static void
handover_owner_exited(evutil_socket_t fd, short what, void *arg)
{
	struct handover_dev *h = arg;
	struct migration *m = h->dev->busy;
	char why[128];

	event_del(h->owner_ev);
	log_warnx("device %s: its owner, pid %d, exited", h->dev->name, (int)h->dev->owner_pid);
	if (m != NULL && !migration_phase_is_final(m->phase) && m->engine != NULL) {
		/* END is out: the destination may be resuming, and a source
		 * rolled back could not run anyway, its VMM gone. */
		if (m->role == MIG_ROLE_SOURCE && m->phase == PHASE_COMPLETING)
			log_warnx("migration %s: completing; the device is let go once it ends",
			    m->id_str);
		else {
			snprintf(why, sizeof(why), "the process that handed device %s over (pid %d) "
			    "exited", h->dev->name, (int)h->dev->owner_pid);
			m->engine->cancel(m, MIG_E_OWNER_EXITED, why);
		}
	}
	handover_try_remove(-1, 0, h);
}

static int
handover_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Out of this module's list and the registry; the pidfd closed. */
static void
handover_forget(struct handover_dev *h)
{
	struct handover_dev **pp;

	for (pp = &handed; *pp != NULL && *pp != h; pp = &(*pp)->next)
		;
	if (*pp != NULL)
		*pp = h->next;
	nhanded--;
	event_free(h->owner_ev);
	event_free(h->retry);
	close(h->pidfd);
	device_remove(h->dev);
	free(h);
}

/* ---- the operations -------------------------------------------------- */

static json_t *
handover_adopt_error(const char *name, int v1, int err)
{
	switch (err) {
	case -EDOM:
		return handover_error(MIG_E_BAD_REQUEST, "device %s: \"page_size\" must be a "
		    "multiple of the page its container logs dirty pages in", name);
	case -ENOTTY:
		return handover_error(MIG_E_NOT_VFIO_DEVICE, "the fd handed over for %s is not a "
		    "VFIO device (neither a VFIO cdev nor a group's device fd answering "
		    "VFIO_DEVICE_GET_INFO)", name);
	case -EOPNOTSUPP:
		return handover_error(MIG_E_DEVICE_UNSUPPORTED, "device %s offers no %s migration "
		    "(%s): bind its vendor's variant driver", name, v1 ? "v1" : "v2",
		    v1 ? "no v1 migration region" : "VFIO_DEVICE_FEATURE_MIGRATION");
	case -EBUSY:
		return handover_error(MIG_E_DEVICE_BUSY, "device %s is in a migration state of its "
		    "own; hand it over running or stopped", name);
	}
	return handover_error(MIG_E_DEVICE_OPEN, "device %s: %s", name, strerror(-err));
}

/* The server behind a handed-over vfio-user socket did not take it. */
static json_t *
handover_vfio_user_error(const char *name, int err)
{
	switch (err) {
	case -EOPNOTSUPP:
		return handover_error(MIG_E_DEVICE_UNSUPPORTED,
		    "the vfio-user server of %s offers "
		    "no migration (VFIO_DEVICE_FEATURE_MIGRATION with STOP_COPY)",
		    name);
	case -EBUSY:
		return handover_error(MIG_E_DEVICE_BUSY,
		    "device %s is in a migration state of its "
		    "own; hand it over running or stopped",
		    name);
	case -EBADMSG:
		return handover_error(MIG_E_VFIO_USER_PROTOCOL,
		    "the server behind the socket "
		    "handed over for %s broke the vfio-user protocol (see the log)",
		    name);
	case -ECONNRESET:
		return handover_error(MIG_E_VFIO_USER_HUNG_UP,
		    "the vfio-user server of %s closed "
		    "the socket",
		    name);
	case -ETIMEDOUT:
		return handover_error(MIG_E_VFIO_USER_TIMEOUT,
		    "the vfio-user server of %s did not "
		    "answer",
		    name);
	case -ENODATA:
		return handover_error(MIG_E_NO_DIRTY_TRACKING, "the vfio-user server of %s offers "
		    "no DMA logging (DMA_LOGGING_START) to log its DMA over \"iova\": hand it "
		    "over without \"iova\"", name);
	}
	return handover_error(MIG_E_DEVICE_OPEN, "device %s: %s", name, strerror(-err));
}

static json_t *
handover_attach_args(json_t *req, const struct handover_peer *peer, enum mig_backend *backend,
    pid_t *owner, int *final_stopped, uint32_t *ps, struct mig_iova_range *r, size_t *n)
{
	json_t *v, *err;
	uint64_t pid = (uint64_t)peer->pid;
	const char *b;

	v = json_object_get(req, "backend");
	b = v != NULL && json_is_string(v) ? json_string_value(v) : "";
	if (strcmp(b, "vfio-v2") == 0)
		*backend = MIG_BACKEND_VFIO_V2;
	else if (strcmp(b, "vfio-v1") == 0)
		*backend = MIG_BACKEND_VFIO_V1;
	else if (strcmp(b, "vfio-user") == 0)
		*backend = MIG_BACKEND_VFIO_USER;
	else
		return handover_error(MIG_E_BAD_REQUEST,
		    "\"backend\" must be \"vfio-v2\", "
		    "\"vfio-v1\" or \"vfio-user\"");
	v = json_object_get(req, "final_state");
	if (v != NULL && (!json_is_string(v) || (strcmp(json_string_value(v), "stopped") != 0 &&
	    strcmp(json_string_value(v), "running") != 0)))
		return handover_error(MIG_E_BAD_REQUEST, "\"final_state\" must be \"stopped\" or "
		    "\"running\"");
	*final_stopped = v == NULL || strcmp(json_string_value(v), "stopped") == 0;
	if ((err = handover_uint(req, "owner_pid", INT32_MAX, &pid)) != NULL)
		return err;
	if (pid == 0)
		return handover_error(MIG_E_BAD_REQUEST, "\"owner_pid\" must be above 0");
	*owner = (pid_t)pid;
	if ((err = handover_page_size(req, ps)) != NULL ||
	    (err = handover_ranges(req, *ps, 0, r, n)) != NULL)
		return err;
	return NULL;
}

/*
 * A vfio-user server's socket, connected by the VMM: a connected AF_UNIX
 * stream socket, handed over alone (no container: the server does its own
 * DMA and logs it over "iova", when given). "max_data_xfer_size": the VMM
 * negotiated VERSION on it already with this limit, and the daemon sends
 * no VERSION of its own; absent: a connection the VMM opened for the
 * daemon, negotiated here.
 */
static json_t *
handover_vfio_user_args(json_t *req, const char *name, int fd, int container,
    uint32_t *negotiated, uint32_t *timeout_ms)
{
	int type = 0, domain = 0;
	socklen_t len = sizeof(type), dlen = sizeof(domain);
	struct sockaddr_un peer;
	socklen_t plen = sizeof(peer);
	uint64_t xfer = 0, timeout = MIG_VFIO_USER_TIMEOUT_MS_DEFAULT;
	json_t *err;

	if (container >= 0)
		return handover_error(MIG_E_BAD_REQUEST,
		    "a vfio-user device is handed over as "
		    "its server's socket alone: no container");
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) != 0 || domain != AF_UNIX ||
	    type != SOCK_STREAM || getpeername(fd, (struct sockaddr *)&peer, &plen) != 0)
		return handover_error(MIG_E_BAD_REQUEST,
		    "the fd handed over for %s is not a "
		    "connected UNIX stream socket (a vfio-user server's)",
		    name);
	if ((err = handover_uint(req, "max_data_xfer_size", UINT32_MAX, &xfer)) != NULL)
		return err;
	if (json_object_get(req, "max_data_xfer_size") != NULL && xfer < VFU_MAX_DATA_XFER_MIN)
		return handover_error(MIG_E_BAD_REQUEST,
		    "\"max_data_xfer_size\" must be at least "
		    "%u",
		    VFU_MAX_DATA_XFER_MIN);
	*negotiated = (uint32_t)xfer;
	if ((err = handover_uint(req, "vfio_user_timeout_ms", MIG_VFIO_USER_TIMEOUT_MS_MAX,
		 &timeout)) != NULL)
		return err;
	if (timeout < MIG_VFIO_USER_TIMEOUT_MS_MIN)
		return handover_error(MIG_E_BAD_REQUEST, "\"vfio_user_timeout_ms\" must be %u..%u",
		    MIG_VFIO_USER_TIMEOUT_MS_MIN, MIG_VFIO_USER_TIMEOUT_MS_MAX);
	*timeout_ms = (uint32_t)timeout;
	return NULL;
}

/* "fds": which fd of the message is which: ["device"] (the default) or
 * ["device", "container"] in either order. *container gets the index of
 * the container's, or -1. */
static json_t *
handover_fd_roles(json_t *req, size_t nfds, int *device, int *container)
{
	json_t *arr = json_object_get(req, "fds"), *v;
	const char *role;
	size_t i;

	*device = 0;
	*container = -1;
	if (arr == NULL) {
		if (nfds != 1)
			return handover_error(MIG_E_BAD_REQUEST, "attach takes one fd (the device's) "
			    "as SCM_RIGHTS, or the ones \"fds\" names; got %zu", nfds);
		return NULL;
	}
	if (!json_is_array(arr) || json_array_size(arr) < 1 || json_array_size(arr) > 2)
		return handover_error(MIG_E_BAD_REQUEST, "\"fds\" must be [\"device\"] or "
		    "[\"device\", \"container\"]");
	*device = -1;
	json_array_foreach(arr, i, v) {
		role = json_is_string(v) ? json_string_value(v) : "";
		if (strcmp(role, "device") == 0 && *device < 0)
			*device = (int)i;
		else if (strcmp(role, "container") == 0 && *container < 0)
			*container = (int)i;
		else
			return handover_error(MIG_E_BAD_REQUEST, "\"fds\"[%zu] must be \"device\" "
			    "or \"container\", each once", i);
	}
	if (*device < 0)
		return handover_error(MIG_E_BAD_REQUEST, "\"fds\" must name the \"device\"");
	if (json_array_size(arr) != nfds)
		return handover_error(MIG_E_BAD_REQUEST, "\"fds\" names %zu fds; the message "
		    "carries %zu", json_array_size(arr), nfds);
	return NULL;
}

/* What a device's DMA is logged through, checked before anything is
 * adopted: a vfio-v1 device logs only through a container. */
static json_t *
handover_check_logging(const char *name, int v1, int container_fd, size_t nranges)
{
	uint64_t pgsize, max_bitmap;
	int err;

	if (container_fd < 0) {
		if (v1 && nranges > 0)
			return handover_error(MIG_E_DEVICE_UNSUPPORTED, "a vfio-v1 device's DMA is "
			    "logged by its type1 container: hand %s over with its container "
			    "(\"fds\": [\"device\", \"container\"]), or without \"iova\"", name);
		return NULL;
	}
	if (nranges == 0)
		return handover_error(MIG_E_BAD_REQUEST, "a container is handed over for its dirty "
		    "page log over the guest's ranges: give \"iova\"");
	if ((err = vfio_type1_check(container_fd, &pgsize, &max_bitmap)) == -ENOTTY)
		return handover_error(MIG_E_NOT_VFIO_CONTAINER, "the fd handed over as %s's "
		    "container is not a VFIO container (/dev/vfio/vfio answering "
		    "VFIO_GET_API_VERSION and VFIO_CHECK_EXTENSION(VFIO_TYPE1v2_IOMMU))", name);
	if (err != 0)
		return handover_error(MIG_E_NO_DIRTY_TRACKING, "the container handed over with %s "
		    "logs no dirty pages (VFIO_IOMMU_GET_INFO has no migration capability: an "
		    "iommufd compat container, a kernel before 5.8, or no IOMMU set yet)", name);
	return NULL;
}

/* A device that was never added: its thread stopped (none yet: nothing),
 * its backend closed when it was opened (opened: the fds are its own). */
static void
handover_discard(struct mig_device *dev, int opened)
{
	device_worker_stop(dev->worker);
	dev->worker = NULL;
	if (opened)
		dev->ops->close(dev);
	free(dev->name);
	free(dev);
}

/* The rest of an attach, on the loop, once the backend has the device:
 * the registry, the owner's watch, the event, the answer. */
static json_t *
handover_attach_add(struct mig_device *dev, int pidfd, const struct handover_peer *peer, size_t n,
    uint32_t ps, int with_container)
{
	struct handover_dev *h;

	if (device_add(dev, hbase) != 0) {
		close(pidfd);
		handover_discard(dev, 1);
		return handover_error(MIG_E_INTERNAL, "cannot start the device's thread");
	}
	h = xcalloc(1, sizeof(*h));
	h->dev = dev;
	h->pidfd = pidfd;
	h->owner_ev = event_new(hbase, pidfd, EV_READ, handover_owner_exited, h);
	h->retry = evtimer_new(hbase, handover_try_remove, h);
	event_add(h->owner_ev, NULL);
	h->next = handed;
	handed = h;
	nhanded++;
	log_info("device %s: handed over by pid %d (uid %u) for owner pid %d: %s, %zu IOVA "
		 "range%s in %u-byte pages%s, final state %s",
	    dev->name, (int)peer->pid, (unsigned)peer->uid, (int)dev->owner_pid, dev->identity, n,
	    n == 1 ? "" : "s", ps, with_container ? ", with its VMM's type1 container" : "",
	    dev->final_stopped ? "stopped" : "running");
	handover_event("device-attached", dev, NULL);
	return json_pack("{s:b, s:o}", "ok", 1, "device", device_to_json(dev, NULL));
}

/* On the device's thread: the server's questions. */
static int
handover_attach_adopt(struct mig_device *dev, void *arg, uint64_t *out)
{
	struct handover_attaching *a = arg;

	(void)out;
	a->rc = vfio_user_backend_adopt(dev, a->fd, a->negotiated, a->timeout_ms, a->ranges,
	    a->nranges, a->page_size);
	return a->rc;
}

/* On the loop, inside the worker's delivery: finish on the next turn. */
static void
handover_attach_adopted(void *ctx, int rc, uint64_t out)
{
	struct handover_attaching *a = ctx;

	(void)rc;
	(void)out;
	event_active(a->finish, EV_TIMEOUT, 1);
}

/* Out of the list, answered, freed. */
static void
handover_attaching_end(struct handover_attaching *a, json_t *answer)
{
	struct handover_attaching **pp;

	for (pp = &attaching; *pp != NULL && *pp != a; pp = &(*pp)->next)
		;
	if (*pp != NULL)
		*pp = a->next;
	nattaching--;
	event_free(a->finish);
	a->later(a->ctx, answer);
	free(a);
}

/* Refused, or abandoned at exit, after the adopt returned: the socket
 * closed once (by the device when it adopted it, else here). */
static void
handover_attaching_drop(struct handover_attaching *a)
{
	device_worker_stop(a->dev->worker); /* joined: a->rc is the adopt's */
	a->dev->worker = NULL;
	if (a->rc != 0)
		close(a->fd);
	close(a->pidfd);
	handover_discard(a->dev, a->rc == 0);
}

static void
handover_attach_finish(evutil_socket_t fd, short what, void *arg)
{
	struct handover_attaching *a = arg;
	json_t *answer;

	(void)fd;
	(void)what;
	if (a->rc == 0)
		answer = handover_attach_add(a->dev, a->pidfd, &a->peer, a->nranges, a->page_size, 0);
	else {
		answer = handover_vfio_user_error(a->dev->name, a->rc);
		handover_attaching_drop(a);
	}
	handover_attaching_end(a, answer);
}

/* A vfio-user socket: adopted on the device's thread; NULL (the answer
 * comes through later), or a refusal with the fd still the caller's. */
static json_t *
handover_attach_later(struct mig_device *dev, int pidfd, const struct handover_peer *peer, int *fd,
    uint32_t negotiated, uint32_t timeout_ms, const struct mig_iova_range *ranges, size_t nranges,
    uint32_t page_size, handover_later_fn later, void *ctx)
{
	struct handover_attaching *a;

	if ((dev->worker = device_worker_start(dev, hbase)) == NULL) {
		log_warn("device %s: cannot start its thread", dev->name);
		close(pidfd);
		handover_discard(dev, 0);
		return handover_error(MIG_E_INTERNAL, "cannot start the device's thread");
	}
	a = xcalloc(1, sizeof(*a));
	a->dev = dev;
	a->fd = *fd;
	*fd = -1;
	a->negotiated = negotiated;
	a->timeout_ms = timeout_ms;
	memcpy(a->ranges, ranges, nranges * sizeof(*ranges));
	a->nranges = nranges;
	a->page_size = page_size;
	a->pidfd = pidfd;
	a->peer = *peer;
	a->finish = event_new(hbase, -1, 0, handover_attach_finish, a);
	a->later = later;
	a->ctx = ctx;
	a->next = attaching;
	attaching = a;
	nattaching++;
	device_call(dev->worker, handover_attach_adopt, a, NULL, handover_attach_adopted, a);
	return NULL;
}

static json_t *
handover_attach(json_t *req, const struct handover_peer *peer, int *fds, size_t nfds,
    handover_later_fn later, void *ctx)
{
	static const char *const fields[] = {"op", "name", "backend", "iova", "page_size",
	    "final_state", "owner_pid", "fds", "max_data_xfer_size", "vfio_user_timeout_ms", NULL};
	struct mig_iova_range r[MIG_IOVA_RANGES_MAX];
	struct mig_device *dev, *other;
	const char *name;
	uint32_t ps = HANDOVER_PAGE_MIN, negotiated = 0, timeout_ms = 0;
	enum mig_backend backend = MIG_BACKEND_VFIO_V2;
	int final_stopped = 1, v1, pidfd, err, di, ci, cfd;
	pid_t owner = peer->pid;
	json_t *e;
	size_t n;

	if ((e = handover_check_fields(req, fields)) != NULL || (e = handover_name(req, &name)) ||
	    (e = handover_fd_roles(req, nfds, &di, &ci)) != NULL)
		return e;
	if ((e = handover_attach_args(req, peer, &backend, &owner, &final_stopped, &ps, r, &n)) !=
	    NULL)
		return e;
	v1 = backend == MIG_BACKEND_VFIO_V1;
	if (backend == MIG_BACKEND_VFIO_USER &&
	    (e = handover_vfio_user_args(req, name, fds[di], ci, &negotiated, &timeout_ms)) !=
		NULL)
		return e;
	if (backend != MIG_BACKEND_VFIO_USER &&
	    (json_object_get(req, "max_data_xfer_size") != NULL ||
		json_object_get(req, "vfio_user_timeout_ms") != NULL))
		return handover_error(MIG_E_BAD_REQUEST,
		    "\"max_data_xfer_size\" and \"vfio_user_timeout_ms\" are for a vfio-user "
		    "device only");
	cfd = ci >= 0 ? fds[ci] : -1;
	if (nhanded + nattaching >= HANDOVER_DEVICES_MAX)
		return handover_error(MIG_E_LIMIT, "%d handed-over devices at once",
		    HANDOVER_DEVICES_MAX);
	if ((other = device_find(name)) != NULL)
		return handover_error(MIG_E_DEVICE_EXISTS, "device %s exists already (%s)", name,
		    other->origin == DEVICE_CONFIG ? "configured" : "handed over");
	if (handover_attaching_find(name) != NULL)
		return handover_error(MIG_E_DEVICE_EXISTS,
		    "device %s is being handed over already (its vfio-user server has not "
		    "answered yet)",
		    name);
	if ((e = handover_check_logging(name, v1, cfd, n)) != NULL)
		return e;
	if ((pidfd = handover_pidfd_open(owner)) < 0)
		return handover_error(MIG_E_BAD_REQUEST, "owner pid %d: %s", (int)owner,
		    strerror(errno));
	dev = xcalloc(1, sizeof(*dev));
	dev->name = xstrdup(name);
	dev->origin = DEVICE_HANDOVER;
	dev->owner_pid = owner;
	dev->final_stopped = final_stopped;
	if (backend == MIG_BACKEND_VFIO_USER)
		return handover_attach_later(dev, pidfd, peer, &fds[di], negotiated, timeout_ms, r, n,
		    ps, later, ctx);
	err = v1 ? vfio_v1_backend_adopt(dev, fds[di], cfd, r, n, ps)
		 : vfio_v2_backend_adopt(dev, fds[di], cfd, r, n, ps);
	if (err != 0) {
		close(pidfd);
		handover_discard(dev, 0);
		return handover_adopt_error(name, v1, err);
	}
	fds[di] = -1; /* the device's now, and its container's */
	if (ci >= 0)
		fds[ci] = -1;
	return handover_attach_add(dev, pidfd, peer, n, ps, cfd >= 0);
}

/* A handed-over device named by the request, not migrating. */
static json_t *
handover_idle_device(json_t *req, const char *op, size_t nfds, struct handover_dev **out)
{
	const char *name;
	json_t *e;

	if ((e = handover_name(req, &name)) != NULL)
		return e;
	if (nfds != 0)
		return handover_error(MIG_E_BAD_REQUEST, "%s takes no fd; got %zu", op, nfds);
	if (handover_attaching_find(name) != NULL)
		return handover_error(MIG_E_DEVICE_BUSY,
		    "device %s is being handed over (its vfio-user server has not answered "
		    "yet)",
		    name);
	if ((*out = handover_find(name)) == NULL)
		return handover_error(MIG_E_NOT_FOUND, "no handed-over device %s%s", name,
		    device_find(name) != NULL ? " (it is configured: only the configuration "
						"removes it)" : "");
	if ((*out)->dev->busy != NULL)
		return handover_error(MIG_E_DEVICE_BUSY, "device %s is busy with migration %s",
		    name, (*out)->dev->busy->id_str);
	return NULL;
}

static json_t *
handover_detach(json_t *req, size_t nfds)
{
	static const char *const fields[] = {"op", "name", NULL};
	struct handover_dev *h;
	json_t *e;

	if ((e = handover_check_fields(req, fields)) != NULL ||
	    (e = handover_idle_device(req, "detach", nfds, &h)) != NULL)
		return e;
	log_info("device %s: detached at its owner's request; the daemon's reference to the "
		 "device is closed", h->dev->name);
	handover_event("device-detached", h->dev, "detach");
	handover_forget(h);
	return json_pack("{s:b}", "ok", 1);
}

static json_t *
handover_set_iova(json_t *req, size_t nfds)
{
	static const char *const fields[] = {"op", "name", "iova", "page_size", NULL};
	struct mig_iova_range r[MIG_IOVA_RANGES_MAX];
	struct handover_dev *h;
	uint32_t ps;
	size_t n;
	json_t *e;
	int err;

	if ((e = handover_check_fields(req, fields)) != NULL ||
	    (e = handover_idle_device(req, "set-iova", nfds, &h)) != NULL)
		return e;
	ps = h->dev->guest_page_size != 0 ? h->dev->guest_page_size : HANDOVER_PAGE_MIN;
	if ((e = handover_page_size(req, &ps)) != NULL ||
	    (e = handover_ranges(req, ps, 1, r, &n)) != NULL)
		return e;
	err = strcmp(h->dev->backend, "vfio-v2") == 0 ? vfio_v2_backend_set_iova(h->dev, r, n, ps)
						      : vfio_v1_backend_set_iova(h->dev, r, n, ps);
	if (err == -ENOTSUP)
		return handover_error(MIG_E_DEVICE_UNSUPPORTED, "device %s is %s, handed over "
		    "without its container: its DMA is not logged here", h->dev->name,
		    h->dev->backend);
	if (err == -EDOM)
		return handover_adopt_error(h->dev->name, 0, err);
	if (err != 0)
		return handover_error(MIG_E_INTERNAL, "device %s: cannot change its ranges",
		    h->dev->name);
	log_info("device %s: %zu IOVA range%s in %u-byte pages now", h->dev->name, n,
	    n == 1 ? "" : "s", ps);
	return json_pack("{s:b, s:o}", "ok", 1, "device", device_to_json(h->dev, NULL));
}

json_t *
handover_request(const struct handover_peer *peer, const void *msg, size_t len, int *fds,
    size_t nfds, handover_later_fn later, void *ctx)
{
	json_error_t jerr;
	json_t *req, *op, *answer;
	const char *s;

	req = json_loadb(msg, len, JSON_REJECT_DUPLICATES, &jerr);
	if (req == NULL)
		return handover_error(MIG_E_BAD_REQUEST, "not valid JSON: %s (column %d)",
		    jerr.text, jerr.column);
	op = json_object_get(req, "op");
	if (!json_is_object(req) || op == NULL || !json_is_string(op)) {
		json_decref(req);
		return handover_error(MIG_E_BAD_REQUEST, "a request is a JSON object with \"op\"");
	}
	s = json_string_value(op);
	if (strcmp(s, "attach") == 0)
		answer = handover_attach(req, peer, fds, nfds, later, ctx);
	else if (strcmp(s, "detach") == 0)
		answer = handover_detach(req, nfds);
	else if (strcmp(s, "set-iova") == 0)
		answer = handover_set_iova(req, nfds);
	else
		answer = handover_error(MIG_E_BAD_REQUEST, "unknown op (attach, set-iova, detach)");
	json_decref(req);
	return answer;
}

/* ---- the socket ------------------------------------------------------ */

static void
conn_close(struct handover_conn *c)
{
	struct handover_conn **pp;

	for (pp = &conns; *pp != NULL && *pp != c; pp = &(*pp)->next)
		;
	if (*pp != NULL)
		*pp = c->next;
	if (c->ev != NULL)
		event_free(c->ev);
	if (c->deadline != NULL)
		event_free(c->deadline);
	close(c->fd);
	nconns--;
	free(c);
}

/* A client that does not read its answers is dropped, never waited for. */
static int
conn_answer(int fd, json_t *answer)
{
	char *text = json_dumps(answer, JSON_COMPACT);
	ssize_t n = -1;

	if (text != NULL)
		n = send(fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT);
	free(text);
	json_decref(answer);
	return n < 0 ? -1 : 0;
}

/* The answer to an attach that ran on its device's thread; then the
 * connection's next request is read. */
static void
conn_later(void *ctx, json_t *answer)
{
	struct handover_conn *c = ctx;

	if (conn_answer(c->fd, answer) != 0)
		conn_close(c);
	else
		event_add(c->ev, NULL);
}

/* The fds of every SCM_RIGHTS message (up to HANDOVER_FDS_MAX). */
static size_t
conn_fds(struct msghdr *mh, int *fds)
{
	struct cmsghdr *cm;
	size_t n = 0, k, i;

	for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < k && n < HANDOVER_FDS_MAX; i++)
			memcpy(&fds[n++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
	}
	return n;
}

static void
conn_read(evutil_socket_t fd, short what, void *arg)
{
	struct handover_conn *c = arg;
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(HANDOVER_FDS_MAX * sizeof(int))];
	} ctl;
	static char msg[HANDOVER_MSG_MAX];
	struct iovec iov = {msg, sizeof(msg)};
	struct msghdr mh;
	int fds[HANDOVER_FDS_MAX];
	json_t *answer;
	size_t nfds, i;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		conn_close(c);
		return;
	}
	nfds = conn_fds(&mh, fds);
	if (n == 0) {
		/* The end of the connection (or an empty message, which a
		 * SOCK_SEQPACKET reader cannot tell apart). */
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		conn_close(c);
		return;
	}
	if (c->refused == MIG_E_PERMISSION_DENIED)
		answer = handover_error(MIG_E_PERMISSION_DENIED, "uid %u may not hand devices over",
		    (unsigned)c->peer.uid);
	else if (c->refused != 0)
		answer = handover_error(MIG_E_LIMIT, "%d connections at once", HANDOVER_CONNS_MAX);
	else if (mh.msg_flags & MSG_TRUNC)
		answer = handover_error(MIG_E_BAD_REQUEST, "a request is at most %d bytes",
		    HANDOVER_MSG_MAX);
	else if (mh.msg_flags & MSG_CTRUNC)
		answer = handover_error(MIG_E_BAD_REQUEST, "a request carries at most %d fds",
		    HANDOVER_FDS_MAX);
	else
		answer = handover_request(&c->peer, msg, (size_t)n, fds, nfds, conn_later, c);
	for (i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (answer == NULL) {
		/* Nothing more is read until conn_later has answered, so the
		 * answers keep the requests' order, and nothing but
		 * handover_stop (which answers first) closes the connection
		 * meanwhile. A peer that hangs up is seen then; its attach
		 * stands, as one that was done before it hung up always has. */
		event_del(c->ev);
		return;
	}
	if (conn_answer(c->fd, answer) != 0 || c->refused)
		conn_close(c);
}

static void
conn_deadline(evutil_socket_t fd, short what, void *arg)
{
	conn_close(arg);
}

/* Root, the daemon's own user, or a member of control_group. */
static int
peer_allowed(const struct handover_peer *p)
{
	struct passwd *pw;
	gid_t groups[256];
	int n = 256, i;

	if (p->uid == 0 || p->uid == geteuid())
		return 1;
	if (!socket_has_group)
		return 0;
	if (p->gid == socket_gid)
		return 1;
	if ((pw = getpwuid(p->uid)) == NULL || getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
		return 0;
	for (i = 0; i < n; i++)
		if (groups[i] == socket_gid)
			return 1;
	return 0;
}

static void
listen_accept(evutil_socket_t fd, short what, void *arg)
{
	struct handover_conn *c;
	struct timeval refused_tv = {HANDOVER_REFUSED_MS / 1000, HANDOVER_REFUSED_MS % 1000 * 1000};
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int cfd;

	if ((cfd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0)
		return;
	/* Refused ones wait for their request a while: a flood is not. */
	if (nconns >= 2 * HANDOVER_CONNS_MAX ||
	    getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
		close(cfd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->fd = cfd;
	c->peer.uid = cred.uid;
	c->peer.gid = cred.gid;
	c->peer.pid = cred.pid;
	c->next = conns;
	conns = c;
	nconns++;
	if (!peer_allowed(&c->peer)) {
		log_warnx("hand-over socket: refused pid %d of uid %u (neither root, the daemon's "
			  "user, nor in control_group)", (int)cred.pid, (unsigned)cred.uid);
		c->refused = MIG_E_PERMISSION_DENIED;
	} else if (nconns > HANDOVER_CONNS_MAX) {
		log_warnx("hand-over socket: refused pid %d: %d connections at once", (int)cred.pid,
		    HANDOVER_CONNS_MAX);
		c->refused = MIG_E_LIMIT;
	}
	if (c->refused != 0) {
		c->deadline = evtimer_new(hbase, conn_deadline, c);
		evtimer_add(c->deadline, &refused_tv);
	}
	c->ev = event_new(hbase, cfd, EV_READ | EV_PERSIST, conn_read, c);
	event_add(c->ev, NULL);
}

static int
handover_bind(const char *path, const char *group)
{
	struct sockaddr_un sun;
	struct group *gr;
	struct stat st;
	mode_t old;
	int rc;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_warnx("hand-over socket %s: path too long", path);
		return -1;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_warnx("hand-over socket %s: exists and is not a socket", path);
			return -1;
		}
		unlink(path); /* the control socket's check already found no other daemon */
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
		log_warn("hand-over socket %s: socket", path);
		return -1;
	}
	/* Created closed to everyone, then opened to the group. */
	old = umask(0177);
	rc = bind(listen_fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc != 0) {
		log_warn("hand-over socket %s: bind", path);
		return -1;
	}
	socket_path = xstrdup(path);
	if (group != NULL) {
		if ((gr = getgrnam(group)) == NULL) {
			log_warnx("hand-over socket %s: no group named %s (control_group)", path,
			    group);
			return -1;
		}
		socket_gid = gr->gr_gid;
		socket_has_group = 1;
		if (chown(path, (uid_t)-1, gr->gr_gid) != 0) {
			log_warn("hand-over socket %s: chown to group %s", path, group);
			return -1;
		}
	}
	if (chmod(path, 0660) != 0 || listen(listen_fd, 16) != 0) {
		log_warn("hand-over socket %s", path);
		return -1;
	}
	return 0;
}

int
handover_start(struct event_base *base, const char *path, const char *group)
{
	handover_init(base);
	if (handover_bind(path, group) != 0) {
		handover_stop();
		return -1;
	}
	listen_ev = event_new(base, listen_fd, EV_READ | EV_PERSIST, listen_accept, NULL);
	event_add(listen_ev, NULL);
	log_info("hand-over socket on %s (mode 0660%s%s)", path, group ? ", group " : "",
	    group ? group : "");
	return 0;
}

void
handover_stop(void)
{
	struct handover_attaching *a;
	struct handover_dev *h;
	json_t *answer;

	/* An attach under way: its thread is waited for (a stalled server
	 * for its timeout), the attach refused, its connection answered. */
	while ((a = attaching) != NULL) {
		answer = handover_error(MIG_E_SHUTDOWN,
		    "the daemon is shutting down: device %s was not attached", a->dev->name);
		handover_attaching_drop(a);
		handover_attaching_end(a, answer);
	}
	while (conns != NULL)
		conn_close(conns);
	if (listen_ev != NULL)
		event_free(listen_ev);
	listen_ev = NULL;
	if (listen_fd >= 0)
		close(listen_fd);
	listen_fd = -1;
	if (socket_path != NULL) {
		unlink(socket_path);
		free(socket_path);
		socket_path = NULL;
	}
	/* The devices stay in the registry until devices_close. */
	while ((h = handed) != NULL) {
		handed = h->next;
		nhanded--;
		event_free(h->owner_ev);
		event_free(h->retry);
		close(h->pidfd);
		free(h);
	}
}
