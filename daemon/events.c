/*
 * events.c: fan-out of JSON-line events to GET /v1/events watchers.
 */
#include "events.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "device.h"
#include "httpd.h"
#include "log.h"
#include "migration.h"
#include "xmalloc.h"

/* A watcher more than this far behind is cut off. */
#define EVENTS_MAX_BACKLOG (1u << 20)

struct watcher {
	struct httpd_request *req; /* its stream */
	char filter[37]; /* migration id, or "" for all */
	struct watcher *next;
};

static struct watcher *watchers;
static unsigned nwatchers;
static uint64_t dropped;

unsigned
events_watchers(void)
{
	return nwatchers;
}

uint64_t
events_dropped(void)
{
	return dropped;
}

static void
watcher_unlink(struct watcher *w)
{
	struct watcher **pp;

	for (pp = &watchers; *pp != NULL; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			nwatchers--;
			return;
		}
}

/* The client went away. */
static void
watcher_closed_cb(void *arg)
{
	struct watcher *w = arg;

	watcher_unlink(w);
	free(w);
}

static void
watcher_drop(struct watcher *w, const char *why)
{
	struct httpd_request *req = w->req;

	log_warnx("event watcher dropped: %s", why);
	watcher_unlink(w);
	free(w);
	httpd_stream_abort(req);
}

int
events_watch(struct httpd_request *req, const char *migration_id)
{
	struct watcher *w;

	if (nwatchers >= daemon_ctx.cfg->daemon.max_watchers)
		return -1;
	w = xcalloc(1, sizeof(*w));
	w->req = req;
	if (migration_id != NULL)
		snprintf(w->filter, sizeof(w->filter), "%s", migration_id);
	httpd_add_header(req, "Cache-Control", "no-cache");
	/* A watcher may hear nothing for hours: the stream has no timeout. */
	if (httpd_stream_start(req, "application/x-ndjson", watcher_closed_cb, w) != 0) {
		free(w); /* HEAD: the head only, nothing to watch */
		return 0;
	}
	w->next = watchers;
	watchers = w;
	nwatchers++;
	return 0;
}

static json_t *
now_json(void)
{
	struct timespec ts;
	char buf[40];
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), ".%03ldZ", ts.tv_nsec / 1000000);
	return json_string(buf);
}

void
events_publish(json_t *ev)
{
	struct watcher *w, *next;
	const char *mid;
	size_t len;
	char *s;

	json_object_set_new(ev, "time", now_json());
	if (watchers == NULL) {
		json_decref(ev);
		return;
	}
	s = json_dumps(ev, JSON_COMPACT);
	/* One line each: the object and a newline. */
	len = strlen(s) + 1;
	s = xrealloc(s, len);
	s[len - 1] = '\n';
	mid = json_string_value(json_object_get(ev, "migration"));
	for (w = watchers; w != NULL; w = next) {
		next = w->next;
		if (w->filter[0] != '\0' && (mid == NULL || strcmp(mid, w->filter) != 0))
			continue;
		if (httpd_stream_backlog(w->req) > EVENTS_MAX_BACKLOG) {
			dropped++;
			watcher_drop(w, "not reading its events");
			continue;
		}
		httpd_stream_send(w->req, s, len);
	}
	free(s);
	json_decref(ev);
}

static void
events_migration_created(struct migration *m)
{
	json_t *ev = json_pack("{s:s, s:s, s:s, s:s}", "type", "created", "migration", m->id_str,
	    "role", migration_role_name(m->role), "device", m->device->name);

	events_publish(ev);
}

static void
events_migration_phase(struct migration *m, enum mig_phase from, enum mig_phase to)
{
	json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "phase", "migration",
	    m->id_str, "device", m->device->name, "from", migration_phase_name(from), "to",
	    migration_phase_name(to));

	json_object_set_new(ev, "phase", json_string(migration_phase_name(to)));
	json_object_set_new(ev, "object", migration_to_json(m));
	events_publish(ev);
}

/* Every migration's creation and phase changes, as events. */
const struct migration_observer events_observer = {
	.name = "events",
	.created = events_migration_created,
	.phase_changed = events_migration_phase,
};

void
events_migration_progress(const struct migration *m)
{
	json_t *ev;

	if (m->parent != NULL)
		return; /* its parent's progress covers it (group.c) */
	ev = json_pack("{s:s, s:s, s:s}", "type", "progress", "migration", m->id_str, "phase",
	    migration_phase_name(m->phase));

	json_object_set_new(ev, "object", migration_to_json(m));
	events_publish(ev);
}

void
events_close_all(void)
{
	while (watchers != NULL)
		watcher_drop(watchers, "daemon shutting down");
}
