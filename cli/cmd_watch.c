/*
 * cmd_watch.c: `vfio-migctl watch [ID]`, the daemon's events as they
 * happen (GET /v1/events, a chunked stream of JSON lines).
 *
 * Owns splitting the stream into events and showing each on one line
 * (with --json, as it came). Never: a deadline once the stream is open
 * (events come when they happen), or a reconnect: a stream the daemon
 * closes ends the watch with exit 3, and ^C ends it with 0.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api.h"
#include "ctl.h"
#include "http.h"
#include "render.h"
#include "xmalloc.h"

#define WATCH_MAX_EVENT_LINE (1u * 1024 * 1024)

/* The migration's figures: nested in "object" or at the event's top. */
static json_t *
watch_event_migration(json_t *ev)
{
	json_t *obj = json_object_get(ev, "object");

	return json_is_object(obj) ? obj : ev;
}

static void
watch_event_fields(char *buf, size_t len, json_t *ev)
{
	static const char *const skip[] = {"time", "type", "migration", "object"};
	const char *key;
	size_t used = 0, i;
	json_t *v;
	char *s;

	buf[0] = '\0';
	json_object_foreach(ev, key, v) {
		for (i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
			if (strcmp(key, skip[i]) == 0)
				break;
		if (i < sizeof(skip) / sizeof(skip[0]) || used >= len)
			continue;
		if (json_is_string(v))
			used += (size_t)snprintf(buf + used, len - used, "%s%s=%s",
			    used > 0 ? " " : "", key, json_string_value(v));
		else if ((s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) != NULL) {
			used += (size_t)snprintf(buf + used, len - used, "%s%s=%s",
			    used > 0 ? " " : "", key, s);
			free(s);
		}
	}
}

static void
watch_render_event(json_t *ev)
{
	const char *type = render_dash(render_string(ev, "type"));
	json_t *err = json_object_get(watch_event_migration(ev), "error");
	char detail[512];

	if (strcmp(type, "phase") == 0) {
		snprintf(detail, sizeof(detail), "%s -> %s",
		    render_dash(render_string(ev, "from")), render_dash(render_string(ev, "to")));
		if (render_string(err, "code") != NULL)
			snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail),
			    " (%s: %s)", render_string(err, "code"),
			    render_dash(render_string(err, "message")));
	} else if (strcmp(type, "progress") == 0)
		render_progress(detail, sizeof(detail), watch_event_migration(ev));
	else
		watch_event_fields(detail, sizeof(detail), ev);
	printf("%s %s %s %s\n", render_dash(render_string(ev, "time")),
	    render_dash(render_string(ev, "migration")), type, detail);
	fflush(stdout);
}

static int
watch_line(const struct ctl *ctl, const char *line, size_t len)
{
	json_error_t err;
	json_t *ev;

	while (len > 0 && isspace((unsigned char)line[len - 1]))
		len--;
	if (len == 0)
		return CTL_EXIT_OK;
	ev = json_loadb(line, len, 0, &err);
	if (ev == NULL || !json_is_object(ev)) {
		ctl_warnx("the daemon on %s sent an invalid event: %s", ctl->socket_path,
		    ev == NULL ? err.text : "not a JSON object");
		json_decref(ev);
		return CTL_EXIT_UNREACHABLE;
	}
	if (ctl->json)
		render_json(ev);
	else
		watch_render_event(ev);
	json_decref(ev);
	return CTL_EXIT_OK;
}

/* Split the body into lines, one event each, until the stream ends. */
static int
watch_stream(const struct ctl *ctl, struct http_conn *c)
{
	size_t len = 0, n, take;
	const char *data, *nl;
	char *line = xmalloc(WATCH_MAX_EVENT_LINE);
	int rc;

	while ((rc = http_body_next(c, &data, &n)) == CTL_EXIT_OK && n > 0) {
		while (n > 0 && rc == CTL_EXIT_OK) {
			nl = memchr(data, '\n', n);
			take = nl != NULL ? (size_t)(nl - data) : n;
			if (len + take > WATCH_MAX_EVENT_LINE) {
				rc = http_malformed(c, "an event line longer than 1 MiB");
				break;
			}
			memcpy(line + len, data, take);
			len += take;
			data += take;
			n -= take;
			if (nl != NULL) {
				rc = watch_line(ctl, line, len);
				len = 0;
				data++;
				n--;
			}
		}
		if (rc != CTL_EXIT_OK)
			break;
	}
	if (rc == CTL_EXIT_OK) {
		ctl_warnx("the daemon on %s closed the event stream", ctl->socket_path);
		rc = CTL_EXIT_UNREACHABLE;
	}
	free(line);
	return rc;
}

/* A refusal: an unknown migration, too many watchers. */
static int
watch_refused(const struct ctl *ctl, struct http_conn *c)
{
	json_t *unexpected = NULL;
	size_t len;
	char *body;
	int rc;

	if ((rc = http_read_body(c, &body, &len)) != CTL_EXIT_OK)
		return rc;
	rc = api_decode(ctl, c->status, body, len, &unexpected);
	json_decref(unexpected);
	free(body);
	return rc;
}

int
cmd_watch(struct ctl *ctl, const char *id)
{
	char *path = id != NULL ? api_path("/v1/events?migration=", id, "")
				: xstrdup("/v1/events");
	struct http_conn c;
	int rc;

	ctl_catch_sigint();
	rc = http_exchange(&c, ctl->socket_path, "GET", path, NULL);
	if (rc == CTL_EXIT_OK && (c.status < 200 || c.status > 299))
		rc = watch_refused(ctl, &c);
	else if (rc == CTL_EXIT_OK) {
		/* The head came in time; events come when they happen. */
		http_set_timeout(&c, -1);
		rc = watch_stream(ctl, &c);
	}
	http_close(&c);
	free(path);
	/* Stopping a watch with ^C is how a watch normally ends. */
	return rc == CTL_INTERRUPTED ? CTL_EXIT_OK : rc;
}
