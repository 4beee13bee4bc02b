/*
 * control.c: the control API, HTTP/1.1 + JSON on a UNIX socket (SPEC §4).
 *
 * One table of routes, one small handler each, served by httpd.c (which
 * bounds every request and answers what it refuses itself). Every body is
 * parsed strictly (unknown fields, wrong types and out-of-range values are
 * 400 with a message) and every mutating call is logged with the caller's
 * uid and pid (SO_PEERCRED).
 */
#include "control.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "config.h"
#include "daemon.h"
#include "device.h"
#include "engine.h"
#include "group.h"
#include "errors.h"
#include "events.h"
#include "httpd.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "migration.h"
#include "parse.h"
#include "peer.h"
#include "ranges.h"

/* A request may ask for anything the file may set (ranges.h), and that
 * must fit what the wire carries (frame.h). */
_Static_assert(MIG_CHUNK_SIZE_MAX <= MIG_MAX_CHUNK, "chunk_size beyond a DATA frame");
_Static_assert(MIG_MIGRATION_CHANNELS_MAX <= MIG_CHANNELS_MAX, "channels beyond HELLO's");
_Static_assert(MIG_TOKEN_LEN_MAX <= MIG_TOKEN_MAX, "a token longer than HELLO carries");
_Static_assert(MIG_DEVICE_NAME_MAX <= MIG_NAME_MAX, "a device name longer than HELLO's");
/* The most event watchers max_watchers allows leave room for requests. */
_Static_assert(HTTPD_MAX_CONNECTIONS >= MIG_MAX_WATCHERS_MAX + 64, "watchers fill the connections");
/* Every path httpd lets through fits the route buffer. */
_Static_assert(HTTPD_MAX_TARGET < sizeof(((struct control_route_match *)0)->buf),
    "a request target longer than the route buffer");

struct route_args {
	struct httpd_request *req;
	const char *seg[CONTROL_MAX_SEGMENTS]; /* the "*" parts of the path, in order */
	const char *query;
	json_t *body; /* POST: the parsed body (an object), else NULL */
};

struct route {
	enum httpd_method method;
	const char *pattern; /* "/v1/devices/ * /incoming" without spaces */
	int mutating;
	void (*handler)(struct route_args *a);
};

static struct httpd *http;
static char *socket_path;

static int
http_status_for(int code)
{
	switch (code) {
	case MIG_E_BAD_REQUEST:
	case MIG_E_MALFORMED:
		return 400;
	case MIG_E_NOT_FOUND:
	case MIG_E_UNKNOWN_DEVICE:
		return 404;
	case MIG_E_WRONG_STATE:
	case MIG_E_DEVICE_BUSY:
	case MIG_E_NO_P2P:
		return 409;
	case MIG_E_LIMIT:
	case MIG_E_SHUTDOWN:
		return 503;
	case MIG_E_JOURNAL:
		return 507;
	default:
		return 500;
	}
}

/* Send obj (taking ownership) as the response body. */
static void
reply_json(struct httpd_request *req, int status, json_t *obj)
{
	struct evbuffer *buf = evbuffer_new();
	char *s = json_dumps(obj, JSON_COMPACT);

	evbuffer_add_printf(buf, "%s\n", s != NULL ? s : "{}");
	free(s);
	json_decref(obj);
	httpd_reply(req, status, "application/json", buf);
	evbuffer_free(buf);
}

static void reply_error(struct httpd_request *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
reply_error(struct httpd_request *req, int code, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	httpd_reply_error(req, http_status_for(code), code, msg);
}

/* --- body parsing: strict, every problem named --- */

static int
body_check_fields(struct route_args *a, const char *const *allowed)
{
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach(a->body, key, v) {
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL) {
			reply_error(a->req, MIG_E_BAD_REQUEST, "unknown field \"%s\"", key);
			return -1;
		}
	}
	return 0;
}

/* A string field: 1 if present (into *out), 0 absent, -1 replied with 400. */
static int
body_string(struct route_args *a, const char *key, int required, size_t maxlen, const char **out)
{
	json_t *v = json_object_get(a->body, key);

	if (v == NULL) {
		if (required) {
			reply_error(a->req, MIG_E_BAD_REQUEST, "missing field \"%s\"", key);
			return -1;
		}
		return 0;
	}
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > maxlen ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		reply_error(a->req, MIG_E_BAD_REQUEST, "field \"%s\" must be a string of 1..%zu "
		    "characters", key, maxlen);
		return -1;
	}
	*out = json_string_value(v);
	return 1;
}

/* A list of device names: the count (into names[]), 0 absent, -1 replied
 * with 400. */
static int
body_names(struct route_args *a, const char *key, unsigned max,
    char (*names)[MIG_NAME_MAX + 1])
{
	json_t *v = json_object_get(a->body, key), *e;
	size_t i;

	if (v == NULL)
		return 0;
	if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > max) {
		reply_error(a->req, MIG_E_BAD_REQUEST, "field \"%s\" must be a list of 1..%u "
		    "device names", key, max);
		return -1;
	}
	json_array_foreach(v, i, e) {
		if (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e) ||
		    !mig_valid_name(json_string_value(e), MIG_DEVICE_NAME_MAX)) {
			reply_error(a->req, MIG_E_BAD_REQUEST, "field \"%s\": item %zu must be a "
			    "device name of A-Z a-z 0-9 _ . -", key, i);
			return -1;
		}
		snprintf(names[i], sizeof(names[i]), "%s", json_string_value(e));
	}
	return (int)json_array_size(v);
}

/* A boolean field: 1 if present (into *out), 0 absent, -1 replied with 400. */
static int
body_bool(struct route_args *a, const char *key, int *out)
{
	json_t *v = json_object_get(a->body, key);

	if (v == NULL)
		return 0;
	if (!json_is_boolean(v)) {
		reply_error(a->req, MIG_E_BAD_REQUEST, "field \"%s\" must be true or false", key);
		return -1;
	}
	*out = json_is_true(v);
	return 1;
}

/* Each name a device here: into devs[], or replied with 404. */
static int
find_devices_or_404(struct route_args *a, char (*names)[MIG_NAME_MAX + 1], unsigned n,
    struct mig_device **devs)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if ((devs[i] = device_find(names[i])) == NULL) {
			reply_error(a->req, MIG_E_NOT_FOUND, "no device named \"%s\"", names[i]);
			return -1;
		}
	return 0;
}

static int
body_uint(struct route_args *a, const char *key, uint64_t min, uint64_t max, uint64_t *out)
{
	json_t *v = json_object_get(a->body, key);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) < min || (uint64_t)json_integer_value(v) > max) {
		reply_error(a->req, MIG_E_BAD_REQUEST, "field \"%s\" must be an integer in %llu..%llu",
		    key, (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	*out = (uint64_t)json_integer_value(v);
	return 1;
}

/* --- handlers --- */

static void
h_health(struct route_args *a)
{
	json_t *listen = json_array();
	char why[600];
	size_t i;
	int journal_ok = journal_check(why, sizeof(why)) == 0;

	for (i = 0; i < peer_listen_count(); i++)
		json_array_append_new(listen, json_string(peer_listen_address(i)));
	/* degraded: it answers, but new migrations are refused. */
	reply_json(a->req, 200, json_pack("{s:s, s:s, s:i, s:i, s:o, s:s?, s:s}", "status",
	    journal_ok ? "ok" : "degraded", "version", PACKAGE_VERSION, "migrations_active",
	    migration_count_active(), "devices", (int)device_count(), "listen", listen,
	    "metrics_listen", metrics_http_address(), "journal", journal_ok ? "ok" : why));
}

static json_t *
device_json(struct mig_device *dev)
{
	return device_to_json(dev, dev->busy != NULL ? group_top(dev->busy)->id_str : NULL);
}

static void
h_devices(struct route_args *a)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < device_count(); i++)
		json_array_append_new(arr, device_json(device_at(i)));
	reply_json(a->req, 200, json_pack("{s:o}", "devices", arr));
}

static struct mig_device *
find_device_or_404(struct route_args *a)
{
	struct mig_device *dev = device_find(a->seg[0]);

	if (dev == NULL)
		reply_error(a->req, MIG_E_NOT_FOUND, "no device named \"%s\"", a->seg[0]);
	return dev;
}

static struct migration *
find_migration_or_404(struct route_args *a)
{
	struct migration *m = migration_find(a->seg[0]);

	if (m == NULL)
		reply_error(a->req, MIG_E_NOT_FOUND, "no migration with id \"%s\"", a->seg[0]);
	return m;
}

static void
h_device(struct route_args *a)
{
	struct mig_device *dev = find_device_or_404(a);

	if (dev != NULL)
		reply_json(a->req, 200, device_json(dev));
}

static int
limit_reached(struct route_args *a)
{
	char why[600];

	if (daemon_ctx.shutting_down) {
		reply_error(a->req, MIG_E_SHUTDOWN, "the daemon is shutting down");
		return 1;
	}
	if (migration_count_active() >= daemon_ctx.cfg->daemon.max_migrations) {
		reply_error(a->req, MIG_E_LIMIT, "%u migrations are running (max_migrations)",
		    migration_count_active());
		return 1;
	}
	/* A migration the journal cannot record does not start. */
	if (journal_check(why, sizeof(why)) != 0) {
		reply_error(a->req, MIG_E_JOURNAL, "%s", why);
		return 1;
	}
	return 0;
}

static void
h_incoming(struct route_args *a)
{
	static const char *const fields[] = {NULL};
	struct mig_device *dev;
	struct migration *m;
	char err[300], when[40];
	struct tm tm;
	int rc;

	if (body_check_fields(a, fields) != 0 || (dev = find_device_or_404(a)) == NULL ||
	    limit_reached(a))
		return;
	if ((rc = dest_prepare(dev, NULL, &m, err, sizeof(err))) != MIG_OK) {
		reply_error(a->req, rc, "%s", err);
		return;
	}
	gmtime_r(&m->token_expires, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	reply_json(a->req, 201, json_pack("{s:s, s:s, s:s, s:s}", "migration_id", m->id_str,
	    "token", m->token, "expires_at", when, "device", dev->name));
}

/* POST /v1/incoming: several devices under one token (SPEC §9). */
static void
h_incoming_many(struct route_args *a)
{
	static const char *const fields[] = {"devices", "unsafe_no_p2p", NULL};
	char names[GROUP_DEVICES_MAX][MIG_NAME_MAX + 1], err[300], when[40];
	struct mig_device *devs[GROUP_DEVICES_MAX];
	json_t *list;
	struct migration *m;
	int n, rc, unsafe = 0;
	struct tm tm;

	if (body_check_fields(a, fields) != 0 ||
	    (n = body_names(a, "devices", GROUP_DEVICES_MAX, names)) < 0 ||
	    body_bool(a, "unsafe_no_p2p", &unsafe) < 0)
		return;
	if (n == 0) {
		reply_error(a->req, MIG_E_BAD_REQUEST, "missing field \"devices\"");
		return;
	}
	if (find_devices_or_404(a, names, (unsigned)n, devs) != 0 || limit_reached(a))
		return;
	if (n == 1)
		rc = dest_prepare(devs[0], NULL, &m, err, sizeof(err));
	else
		rc = group_dest_prepare(devs, (unsigned)n, unsafe, &m, err, sizeof(err));
	if (rc != MIG_OK) {
		reply_error(a->req, rc, "%s", err);
		return;
	}
	gmtime_r(&m->token_expires, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	list = json_array();
	for (rc = 0; rc < n; rc++)
		json_array_append_new(list, json_string(names[rc]));
	reply_json(a->req, 201, json_pack("{s:s, s:s, s:s, s:o}", "migration_id", m->id_str,
	    "token", group_token(m), "expires_at", when, "devices", list));
}

/* "devices" excludes "device" and "dest_device"; "dest_devices" pairs
 * with it, name for name. */
static int
h_migrate_check_many(struct route_args *a, int ndev, int ndest)
{
	if (json_object_get(a->body, "device") != NULL ||
	    json_object_get(a->body, "dest_device") != NULL) {
		reply_error(a->req, MIG_E_BAD_REQUEST, "\"devices\" goes without \"device\" and "
		    "\"dest_device\" (use \"dest_devices\")");
		return -1;
	}
	if (ndest != ndev && (ndest > 0 || ndev == 0)) {
		reply_error(a->req, MIG_E_BAD_REQUEST, "\"dest_devices\" names %d devices, "
		    "\"devices\" %d: one destination device for each", ndest, ndev);
		return -1;
	}
	return 0;
}

static void
h_migrate_many(struct route_args *a, char (*names)[MIG_NAME_MAX + 1],
    char (*dnames)[MIG_NAME_MAX + 1], unsigned n, struct mig_device **devs, const char *dest,
    const char *token, const struct migration_options *opt)
{
	struct migration *m;
	char err[300];
	int rc;

	if (find_devices_or_404(a, names, n, devs) != 0 || limit_reached(a))
		return;
	if (n == 1) {
		struct migration_options one = *opt;

		snprintf(one.dest_device, sizeof(one.dest_device), "%.*s", MIG_NAME_MAX, dnames[0]);
		rc = source_start(devs[0], dest, token, &one, &m, err, sizeof(err));
	} else
		rc = group_source_start(devs, dnames, n, dest, token, opt, &m, err, sizeof(err));
	if (rc != MIG_OK) {
		reply_error(a->req, rc, "%s", err);
		return;
	}
	reply_json(a->req, 202, migration_to_json(m));
}

static void
h_migrate(struct route_args *a)
{
	static const char *const fields[] = {"device", "destination", "token", "dest_device",
		"downtime_limit_ms", "max_bandwidth", "switchover", "channels", "chunk_size",
		"precopy_timeout_s", "devices", "dest_devices", "unsafe_no_p2p", "compression", NULL};
	char names[GROUP_DEVICES_MAX][MIG_NAME_MAX + 1], dnames[GROUP_DEVICES_MAX][MIG_NAME_MAX + 1];
	struct mig_device *devs[GROUP_DEVICES_MAX];
	int ndev = 0, ndest = 0;
	const struct mig_config *cfg = daemon_ctx.cfg;
	const char *devname, *dest, *token, *sw = NULL, *dest_dev = NULL, *comp = NULL;
	struct migration_options opt;
	struct mig_device *dev;
	struct migration *m;
	uint64_t v;
	char err[300], host[MIG_HOST_MAX + 1];
	uint16_t port;
	int rc;

	memset(&opt, 0, sizeof(opt));
	opt.downtime_limit_ms = cfg->migration.downtime_limit_ms;
	opt.max_bandwidth = cfg->migration.max_bandwidth;
	opt.precopy_timeout_s = cfg->migration.precopy_timeout_s;
	opt.switchover = cfg->migration.switchover_manual ? MIG_SWITCHOVER_MANUAL
							  : MIG_SWITCHOVER_AUTO;
	opt.chunk_size = cfg->migration.chunk_size;
	opt.channels = cfg->migration.channels;
	opt.compression = cfg->migration.compression;
	if (body_check_fields(a, fields) != 0 ||
	    (ndev = body_names(a, "devices", GROUP_DEVICES_MAX, names)) < 0 ||
	    (ndest = body_names(a, "dest_devices", GROUP_DEVICES_MAX, dnames)) < 0 ||
	    body_bool(a, "unsafe_no_p2p", &opt.unsafe_no_p2p) < 0 ||
	    ((ndev > 0 || ndest > 0) && h_migrate_check_many(a, ndev, ndest) != 0) ||
	    body_string(a, "device", ndev == 0, MIG_DEVICE_NAME_MAX, &devname) < 0 ||
	    body_string(a, "destination", 1, MIG_HOSTPORT_MAX, &dest) < 0 ||
	    body_string(a, "token", 1, MIG_TOKEN_LEN_MAX, &token) < 0 ||
	    body_string(a, "dest_device", 0, MIG_DEVICE_NAME_MAX, &dest_dev) < 0 ||
	    body_string(a, "switchover", 0, 16, &sw) < 0 ||
	    body_string(a, "compression", 0, 16, &comp) < 0)
		return;
	if (comp != NULL && (opt.compression = mig_compression_from_name(comp)) < 0) {
		reply_error(a->req, MIG_E_BAD_REQUEST,
		    "field \"compression\" must be \"none\", \"zstd\" or \"auto\"");
		return;
	}
	if (dest_dev != NULL && !mig_valid_name(dest_dev, MIG_DEVICE_NAME_MAX)) {
		reply_error(a->req, MIG_E_BAD_REQUEST, "field \"dest_device\" must be a device "
		    "name of A-Z a-z 0-9 _ . -, got \"%s\"", dest_dev);
		return;
	}
	if ((rc = body_uint(a, "downtime_limit_ms", MIG_DOWNTIME_LIMIT_MS_MIN,
	    MIG_DOWNTIME_LIMIT_MS_MAX, &v)) < 0)
		return;
	if (rc > 0)
		opt.downtime_limit_ms = (uint32_t)v;
	if ((rc = body_uint(a, "max_bandwidth", 0, MIG_BANDWIDTH_MAX, &v)) < 0)
		return;
	if (rc > 0)
		opt.max_bandwidth = v;
	if ((rc = body_uint(a, "precopy_timeout_s", MIG_PRECOPY_TIMEOUT_S_MIN,
	    MIG_PRECOPY_TIMEOUT_S_MAX, &v)) < 0)
		return;
	if (rc > 0)
		opt.precopy_timeout_s = (uint32_t)v;
	if ((rc = body_uint(a, "chunk_size", MIG_CHUNK_SIZE_MIN, MIG_CHUNK_SIZE_MAX, &v)) < 0)
		return;
	if (rc > 0)
		opt.chunk_size = (uint32_t)v;
	if ((rc = body_uint(a, "channels", MIG_MIGRATION_CHANNELS_MIN, MIG_MIGRATION_CHANNELS_MAX,
	    &v)) < 0)
		return;
	if (rc > 0)
		opt.channels = (uint32_t)v;
	if (sw != NULL) {
		if (strcmp(sw, "auto") == 0)
			opt.switchover = MIG_SWITCHOVER_AUTO;
		else if (strcmp(sw, "manual") == 0)
			opt.switchover = MIG_SWITCHOVER_MANUAL;
		else {
			reply_error(a->req, MIG_E_BAD_REQUEST,
			    "field \"switchover\" must be \"auto\" or \"manual\"");
			return;
		}
	}
	if (mig_parse_hostport(dest, host, sizeof(host), &port) != 0) {
		reply_error(a->req, MIG_E_BAD_REQUEST,
		    "field \"destination\" must be HOST:PORT or [IPV6]:PORT, got \"%s\"", dest);
		return;
	}
	if (ndev > 0) {
		h_migrate_many(a, names, ndest > 0 ? dnames : names, (unsigned)ndev, devs, dest,
		    token, &opt);
		return;
	}
	if (dest_dev != NULL)
		snprintf(opt.dest_device, sizeof(opt.dest_device), "%s", dest_dev);
	if ((dev = device_find(devname)) == NULL) {
		reply_error(a->req, MIG_E_NOT_FOUND, "no device named \"%s\"", devname);
		return;
	}
	if (limit_reached(a))
		return;
	if ((rc = source_start(dev, dest, token, &opt, &m, err, sizeof(err))) != MIG_OK) {
		reply_error(a->req, rc, "%s", err);
		return;
	}
	reply_json(a->req, 202, migration_to_json(m));
}

static void
h_migrations(struct route_args *a)
{
	json_t *arr = json_array();
	struct migration *m;

	for (m = migration_first(); m != NULL; m = m->next)
		if (m->parent == NULL) /* a device of several shows in its migration */
			json_array_append_new(arr, migration_to_json(m));
	reply_json(a->req, 200, json_pack("{s:o}", "migrations", arr));
}

static void
h_migration(struct route_args *a)
{
	struct migration *m = find_migration_or_404(a);

	if (m != NULL)
		reply_json(a->req, 200, migration_to_json(m));
}

static void
h_bitmap(struct route_args *a)
{
	struct migration *m = find_migration_or_404(a);

	if (m == NULL)
		return;
	if (m->role != MIG_ROLE_DESTINATION) {
		reply_error(a->req, MIG_E_WRONG_STATE,
		    "the dirty-page union is kept by the destination");
		return;
	}
	reply_json(a->req, 200, migration_bitmap_to_json(m));
}

/* POST /v1/migrations/{id}/ACTION: no body, the migration back. */
static void
migration_action(struct route_args *a, int (*action)(struct migration *, char *, size_t))
{
	static const char *const fields[] = {NULL};
	struct migration *m;
	char err[300];
	int rc;

	if (body_check_fields(a, fields) != 0 || (m = find_migration_or_404(a)) == NULL)
		return;
	m = group_top(m); /* a device of several: its migration acts as a whole */
	if ((rc = action(m, err, sizeof(err))) != MIG_OK)
		reply_error(a->req, rc, "%s", err);
	else
		reply_json(a->req, 200, migration_to_json(m));
}

static int
control_switchover(struct migration *m, char *err, size_t errlen)
{
	return m->group != NULL ? group_switchover(m, err, errlen)
				: source_switchover(m, err, errlen);
}

static void
h_switchover(struct route_args *a)
{
	migration_action(a, control_switchover);
}

static void
h_cancel(struct route_args *a)
{
	migration_action(a, migration_cancel);
}

static void
h_events(struct route_args *a)
{
	char id[HTTPD_MAX_TARGET + 1];
	int rc = a->query != NULL ? httpd_parse_query(a->query, "migration", id, sizeof(id)) : 0;

	if (rc < 0) {
		reply_error(a->req, MIG_E_BAD_REQUEST, "bad query string");
		return;
	}
	if (rc > 0 && strlen(id) != 36) {
		reply_error(a->req, MIG_E_BAD_REQUEST, "migration must be a migration id");
		return;
	}
	if (events_watch(a->req, rc > 0 ? id : NULL) != 0)
		reply_error(a->req, MIG_E_LIMIT, "%u event watchers already (max_watchers)",
		    events_watchers());
}

static void
h_metrics(struct route_args *a)
{
	struct evbuffer *buf = evbuffer_new();

	metrics_render(buf);
	httpd_reply(a->req, 200, "text/plain; version=0.0.4", buf);
	evbuffer_free(buf);
}

static const struct route routes[] = {
	{HTTPD_GET, "/v1/health", 0, h_health},
	{HTTPD_GET, "/v1/devices", 0, h_devices},
	{HTTPD_GET, "/v1/devices/*", 0, h_device},
	{HTTPD_POST, "/v1/devices/*/incoming", 1, h_incoming},
	{HTTPD_POST, "/v1/incoming", 1, h_incoming_many},
	{HTTPD_GET, "/v1/migrations", 0, h_migrations},
	{HTTPD_POST, "/v1/migrations", 1, h_migrate},
	{HTTPD_GET, "/v1/migrations/*", 0, h_migration},
	{HTTPD_GET, "/v1/migrations/*/bitmap", 0, h_bitmap},
	{HTTPD_POST, "/v1/migrations/*/switchover", 1, h_switchover},
	{HTTPD_POST, "/v1/migrations/*/cancel", 1, h_cancel},
	{HTTPD_GET, "/v1/events", 0, h_events},
	{HTTPD_GET, "/metrics", 0, h_metrics},
};

/* Match path against pattern; "*" matches one non-empty segment. */
static int
route_match(const char *pattern, char *path, const char **seg)
{
	char pat[128], *ps, *pp, *psave, *ppsave;
	int nseg = 0;

	snprintf(pat, sizeof(pat), "%s", pattern);
	ps = strtok_r(pat, "/", &psave);
	pp = strtok_r(path, "/", &ppsave);
	while (ps != NULL && pp != NULL) {
		if (strcmp(ps, "*") == 0) {
			if (nseg >= CONTROL_MAX_SEGMENTS)
				return 0;
			seg[nseg++] = pp;
		} else if (strcmp(ps, pp) != 0)
			return 0;
		ps = strtok_r(NULL, "/", &psave);
		pp = strtok_r(NULL, "/", &ppsave);
	}
	return ps == NULL && pp == NULL;
}

int
control_route_find(int method, const char *path, struct control_route_match *out)
{
	int path_known = 0;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (strlen(path) >= sizeof(out->buf))
		return CONTROL_ROUTE_NONE;
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		snprintf(out->buf, sizeof(out->buf), "%s", path);
		memset(out->seg, 0, sizeof(out->seg));
		if (!route_match(routes[i].pattern, out->buf, out->seg))
			continue;
		path_known = 1;
		out->allowed |= (unsigned)routes[i].method;
		if ((int)routes[i].method != method)
			continue;
		out->pattern = routes[i].pattern;
		return (int)i;
	}
	memset(out->seg, 0, sizeof(out->seg));
	return path_known ? CONTROL_ROUTE_METHOD : CONTROL_ROUTE_NONE;
}

static void
log_caller(struct httpd_request *req, const char *method, const char *path)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(httpd_request_fd(req), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
		log_info("control: %s %s by uid %u pid %d", method, path, (unsigned)cred.uid,
		    (int)cred.pid);
	else
		log_info("control: %s %s", method, path);
}

static int
read_body(struct route_args *a)
{
	struct evbuffer *in = httpd_request_body(a->req);
	size_t n = evbuffer_get_length(in);
	json_error_t jerr;
	const char *p;

	if (n == 0) {
		a->body = json_object();
		return 0;
	}
	p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
	a->body = json_loadb(p, n, JSON_REJECT_DUPLICATES, &jerr);
	if (a->body == NULL) {
		reply_error(a->req, MIG_E_BAD_REQUEST, "body is not valid JSON: %s (line %d, "
		    "column %d)", jerr.text, jerr.line, jerr.column);
		return -1;
	}
	if (!json_is_object(a->body)) {
		reply_error(a->req, MIG_E_BAD_REQUEST, "body must be a JSON object");
		json_decref(a->body);
		a->body = NULL;
		return -1;
	}
	return 0;
}

/* 405 with Allow: the methods the path takes (GET brings HEAD). */
static void
reply_not_allowed(struct httpd_request *req, unsigned allowed)
{
	char allow[32];

	snprintf(allow, sizeof(allow), "%s%s%s", (allowed & HTTPD_GET) ? "GET, HEAD" : "",
	    (allowed & HTTPD_GET) && (allowed & HTTPD_POST) ? ", " : "",
	    (allowed & HTTPD_POST) ? "POST" : "");
	httpd_add_header(req, "Allow", allow);
	httpd_reply_error(req, 405, MIG_E_BAD_REQUEST, "method not allowed on this path");
}

static void
control_dispatch(struct httpd_request *req, void *arg)
{
	enum httpd_method method = httpd_request_method(req);
	const char *path = httpd_request_path(req);
	struct control_route_match match;
	struct route_args a;
	int i;

	(void)arg;
	memset(&a, 0, sizeof(a));
	a.req = req;
	a.query = httpd_request_query(req);
	/* HEAD is GET without the body (httpd leaves it out). */
	if ((i = control_route_find(method == HTTPD_HEAD ? HTTPD_GET : (int)method, path,
	    &match)) >= 0) {
		/* The segments point into match, which lives until the handler returns. */
		memcpy(a.seg, match.seg, sizeof(a.seg));
		if (routes[i].mutating) {
			log_caller(req, "POST", path);
			if (read_body(&a) != 0)
				goto out;
		}
		routes[i].handler(&a);
		goto out;
	}
	if (i == CONTROL_ROUTE_METHOD) {
		reply_not_allowed(req, match.allowed);
		goto out;
	}
	reply_error(req, MIG_E_NOT_FOUND, "no such endpoint: %s", path);
out:
	json_decref(a.body);
}

/* Refuse to take over the socket of a daemon that is still running. */
static int
socket_in_use(const char *path)
{
	struct sockaddr_un sun;
	int fd, rc;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return 0;
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	return rc == 0;
}

int
control_start(struct event_base *base, const char *path, const char *group)
{
	struct sockaddr_un sun;
	struct stat st;
	struct group *gr;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_warnx("control socket %s: path too long", path);
		return -1;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_warnx("control socket %s: exists and is not a socket", path);
			return -1;
		}
		if (socket_in_use(path)) {
			log_warnx("control socket %s: another vfio-migd is listening there", path);
			return -1;
		}
		unlink(path);
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
		log_warn("control socket %s: socket", path);
		return -1;
	}
	/* Create it closed to everyone, then open it to the group. */
	{
		mode_t old = umask(0177);
		int rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));

		umask(old);
		if (rc != 0) {
			log_warn("control socket %s: bind", path);
			close(fd);
			return -1;
		}
	}
	if (group != NULL) {
		if ((gr = getgrnam(group)) == NULL) {
			log_warnx("control socket %s: no group named %s (control_group)", path, group);
			close(fd);
			unlink(path);
			return -1;
		}
		if (chown(path, (uid_t)-1, gr->gr_gid) != 0) {
			log_warn("control socket %s: chown to group %s", path, group);
			close(fd);
			unlink(path);
			return -1;
		}
	}
	if (chmod(path, 0660) != 0 || listen(fd, 64) != 0) {
		log_warn("control socket %s", path);
		close(fd);
		unlink(path);
		return -1;
	}
	if ((http = httpd_new(base, fd, control_dispatch, NULL)) == NULL) {
		log_warnx("control socket %s: cannot serve HTTP on it", path);
		close(fd);
		unlink(path);
		return -1;
	}
	socket_path = strdup(path);
	log_info("control API on %s (mode 0660%s%s)", path, group ? ", group " : "",
	    group ? group : "");
	return 0;
}

void
control_stop(void)
{
	events_close_all();
	httpd_free(http); /* closes the socket and every connection */
	http = NULL;
	if (socket_path != NULL) {
		unlink(socket_path);
		free(socket_path);
		socket_path = NULL;
	}
}
