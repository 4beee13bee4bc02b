/*
 * render.c: how vfio-migctl shows the API's objects (render.h).
 *
 * Shows whatever fields the daemon sends, in its order, with a reading aid
 * chosen by the field's name ("_bytes", "_bps", "_ms"), so a field the
 * daemon adds shows up without a change here. Never: drop or reorder what
 * --json prints; it is the API's object as it came.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "render.h"
#include "xmalloc.h"

struct table {
	size_t ncols, nrows;
	char **cells; /* row-major, row 0 the header */
};

const char *
render_string(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

uint64_t
render_u64(json_t *obj, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(obj, key));

	return v > 0 ? (uint64_t)v : 0;
}

const char *
render_dash(const char *s)
{
	return s != NULL ? s : "-";
}

const char *
render_bytes(char *buf, size_t len, uint64_t bytes)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024 && u < sizeof(units) / sizeof(units[0]) - 1) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", bytes);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

const char *
render_duration(char *buf, size_t len, uint64_t ms)
{
	uint64_t s = ms / 1000;

	if (ms < 1000)
		snprintf(buf, len, "%" PRIu64 " ms", ms);
	else if (ms < 60000)
		snprintf(buf, len, "%.1f s", (double)ms / 1000);
	else if (s < 3600)
		snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
	else
		snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s / 60 % 60);
	return buf;
}

/* The API counts bits per second; people read bytes. */
const char *
render_throughput(char *buf, size_t len, uint64_t bits_per_second)
{
	char bytes[32];

	snprintf(buf, len, "%s/s", render_bytes(bytes, sizeof(bytes), bits_per_second / 8));
	return buf;
}

/* A destination's line: what arrived, what is in its device, the END
 * check and whether the device runs (the source's pending and ETA mean
 * nothing there). */
static void
render_progress_destination(char *buf, size_t len, json_t *mig)
{
	char size[32], rate[32];
	json_t *running = json_object_get(mig, "device_running");

	snprintf(buf, len, "%s, received %s at %s, %" PRIu64 " records applied, verification %s, "
			   "device %s",
	    render_dash(render_string(mig, "phase")),
	    render_bytes(size, sizeof(size), render_u64(mig, "bytes_transferred")),
	    render_throughput(rate, sizeof(rate), render_u64(mig, "throughput_bps")),
	    render_u64(mig, "records_applied"), render_dash(render_string(mig, "verification")),
	    json_is_true(running) ? "running" : "not running");
}

void
render_progress(char *buf, size_t len, json_t *mig)
{
	uint64_t done = render_u64(mig, "bytes_transferred");
	uint64_t pending = render_u64(mig, "pending_bytes");
	uint64_t bps = render_u64(mig, "throughput_bps");
	char percent[16] = "", size[32], rate[32], eta[32] = "--:--";
	uint64_t s;

	const char *role = render_string(mig, "role");

	if (role != NULL && strcmp(role, "destination") == 0) {
		render_progress_destination(buf, len, mig);
		return;
	}
	if (done + pending > 0)
		snprintf(percent, sizeof(percent), " %.1f%%,", 100.0 * (double)done /
		    (double)(done + pending));
	if (bps > 0) {
		s = pending * 8 / bps;
		if (s < 3600)
			snprintf(eta, sizeof(eta), "%" PRIu64 ":%02" PRIu64, s / 60, s % 60);
		else
			snprintf(eta, sizeof(eta), "%" PRIu64 ":%02" PRIu64 ":%02" PRIu64,
			    s / 3600, s / 60 % 60, s % 60);
	}
	snprintf(buf, len, "%s%s %s pending, %s, ETA %s, iteration %" PRIu64,
	    render_dash(render_string(mig, "phase")), percent,
	    render_bytes(size, sizeof(size), pending), render_throughput(rate, sizeof(rate), bps),
	    eta, render_u64(mig, "iterations"));
}

void
render_progress_line(json_t *mig)
{
	char line[256];

	render_progress(line, sizeof(line), mig);
	printf("\r\033[K%s", line);
	fflush(stdout);
	ctl_line_open();
}

/* Capabilities: {"precopy":true,...} or ["precopy",...] -> "precopy ...". */
static void
render_capabilities(char *buf, size_t len, json_t *caps)
{
	const char *key;
	json_t *v;
	size_t i, used = 0;

	buf[0] = '\0';
	if (json_is_array(caps)) {
		json_array_foreach(caps, i, v)
			if (json_is_string(v) && used < len)
				used += (size_t)snprintf(buf + used, len - used, "%s%s",
				    used > 0 ? "," : "", json_string_value(v));
	} else if (json_is_object(caps)) {
		json_object_foreach(caps, key, v)
			if (json_is_true(v) && used < len)
				used += (size_t)snprintf(buf + used, len - used, "%s%s",
				    used > 0 ? "," : "", key);
	}
	if (buf[0] == '\0')
		snprintf(buf, len, "-");
}

void
render_json(json_t *obj)
{
	json_dumpf(obj, stdout, JSON_COMPACT);
	fputc('\n', stdout);
	fflush(stdout);
}

/* The number with a reading aid for people, chosen by the field's name. */
static void
render_integer(const char *key, json_int_t v)
{
	size_t n = strlen(key);
	char aid[32];

	printf("%" JSON_INTEGER_FORMAT, v);
	if (v <= 0)
		return;
	if (strstr(key, "bytes") != NULL || (n > 5 && strcmp(key + n - 5, "_size") == 0))
		printf(" (%s)", render_bytes(aid, sizeof(aid), (uint64_t)v));
	else if (n > 4 && strcmp(key + n - 4, "_bps") == 0)
		printf(" (%s)", render_throughput(aid, sizeof(aid), (uint64_t)v));
	else if (n > 3 && strcmp(key + n - 3, "_ms") == 0 && v >= 1000)
		printf(" (%s)", render_duration(aid, sizeof(aid), (uint64_t)v));
}

static void
render_value(const char *key, json_t *v)
{
	char text[1024];

	switch (json_typeof(v)) {
	case JSON_NULL:
		fputs("-", stdout);
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		fputs(json_is_true(v) ? "yes" : "no", stdout);
		break;
	case JSON_STRING:
		fputs(json_string_value(v), stdout);
		break;
	case JSON_INTEGER:
		render_integer(key, json_integer_value(v));
		break;
	case JSON_REAL:
		printf("%g", json_real_value(v));
		break;
	case JSON_OBJECT:
		if (render_string(v, "code") != NULL) {
			printf("%s: %s", render_string(v, "code"),
			    render_dash(render_string(v, "message")));
			break;
		}
		/* FALLTHROUGH */
	case JSON_ARRAY:
		if (strstr(key, "capabilities") != NULL) {
			render_capabilities(text, sizeof(text), v);
			fputs(text, stdout);
		} else
			json_dumpf(v, stdout, JSON_COMPACT);
		break;
	}
}

void
render_fields(json_t *obj)
{
	const char *key;
	json_t *v;
	size_t width = 0;

	json_object_foreach(obj, key, v)
		if (strlen(key) > width)
			width = strlen(key);
	json_object_foreach(obj, key, v) {
		printf("%s:%*s ", key, (int)(width - strlen(key)), "");
		render_value(key, v);
		fputc('\n', stdout);
	}
}

static void
table_add(struct table *t, const char *const *row)
{
	size_t i;

	t->cells = xrealloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(*t->cells));
	for (i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = xstrdup(row[i]);
	t->nrows++;
}

static void
table_init(struct table *t, size_t ncols, const char *const *header)
{
	t->ncols = ncols;
	t->nrows = 0;
	t->cells = NULL;
	table_add(t, header);
}

static void
table_print_free(struct table *t)
{
	size_t r, c, *width = xcalloc(t->ncols, sizeof(*width));
	const char *cell;

	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols; c++)
			if (strlen(t->cells[r * t->ncols + c]) > width[c])
				width[c] = strlen(t->cells[r * t->ncols + c]);
	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols; c++) {
			cell = t->cells[r * t->ncols + c];
			if (c + 1 < t->ncols)
				printf("%-*s  ", (int)width[c], cell);
			else
				printf("%s\n", cell);
		}
	for (r = 0; r < t->nrows * t->ncols; r++)
		free(t->cells[r]);
	free(t->cells);
	free(width);
}

void
render_devices(json_t *res)
{
	static const char *const header[] = {"NAME", "BACKEND", "STATE", "STATUS",
		"MIGRATION", "STATE-SIZE", "CAPABILITIES", "ORIGIN"};
	char size[32], caps[256], origin[48];
	const char *row[8];
	struct table t;
	json_t *dev, *busy, *cap;
	size_t i;

	table_init(&t, 8, header);
	json_array_foreach(json_object_get(res, "devices"), i, dev) {
		busy = json_object_get(dev, "busy");
		cap = json_object_get(dev, "capabilities");
		render_capabilities(caps, sizeof(caps),
		    cap != NULL ? cap : json_object_get(dev, "migration_capabilities"));
		row[0] = render_dash(render_string(dev, "name"));
		row[1] = render_dash(render_string(dev, "backend"));
		row[2] = render_dash(render_string(dev, "state") != NULL ?
		    render_string(dev, "state") : render_string(dev, "device_state"));
		row[3] = json_is_boolean(busy) ? (json_is_true(busy) ? "busy" : "idle") :
		    render_dash(render_string(dev, "status"));
		row[4] = render_dash(render_string(dev, "migration"));
		row[5] = render_bytes(size, sizeof(size), render_u64(dev, "state_size"));
		row[6] = caps;
		/* "handover pid 4242": whose device it is. */
		if (json_is_integer(json_object_get(dev, "owner_pid")))
			snprintf(origin, sizeof(origin), "%s pid %" PRIu64,
			    render_dash(render_string(dev, "origin")), render_u64(dev, "owner_pid"));
		else
			snprintf(origin, sizeof(origin), "%s", render_dash(render_string(dev, "origin")));
		row[7] = origin;
		table_add(&t, row);
	}
	table_print_free(&t);
}

/* A migration's devices: "gpu0", or "gpu0,gpu1,nic0" for several (SPEC §9). */
static const char *
render_migration_devices(json_t *mig, char *buf, size_t len)
{
	json_t *list = json_object_get(mig, "devices"), *d;
	size_t i, off = 0;
	int n;

	if (!json_is_array(list) || json_array_size(list) == 0)
		return render_dash(render_string(mig, "device"));
	buf[0] = '\0';
	json_array_foreach(list, i, d) {
		n = snprintf(buf + off, len - off, "%s%s", i > 0 ? "," : "",
		    render_dash(render_string(d, "device")));
		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
	}
	return buf;
}

void
render_migrations(json_t *res)
{
	static const char *const header[] = {"ID", "ROLE", "DEVICE", "PEER", "PHASE",
		"PROGRESS", "TRANSFERRED", "STARTED"};
	char percent[16], bytes[32], devices[200];
	const char *row[8];
	uint64_t done, pending;
	struct table t;
	json_t *mig;
	size_t i;

	table_init(&t, 8, header);
	json_array_foreach(json_object_get(res, "migrations"), i, mig) {
		done = render_u64(mig, "bytes_transferred");
		pending = render_u64(mig, "pending_bytes");
		snprintf(percent, sizeof(percent), "-");
		/* A destination does not know what is left: no percentage. */
		if (json_object_get(mig, "pending_bytes") != NULL && done + pending > 0)
			snprintf(percent, sizeof(percent), "%.1f%%",
			    100.0 * (double)done / (double)(done + pending));
		row[0] = render_dash(render_string(mig, "id"));
		row[1] = render_dash(render_string(mig, "role"));
		row[2] = render_migration_devices(mig, devices, sizeof(devices));
		row[3] = render_dash(render_string(mig, "peer"));
		row[4] = render_dash(render_string(mig, "phase"));
		row[5] = percent;
		row[6] = render_bytes(bytes, sizeof(bytes), done);
		row[7] = render_dash(render_string(mig, "started_at"));
		table_add(&t, row);
	}
	table_print_free(&t);
}

void
render_migration_line(json_t *mig)
{
	printf("migration %s: %s\n", render_dash(render_string(mig, "id")),
	    render_dash(render_string(mig, "phase")));
}
