/*
 * vfio-migctl.c: the command-line client of the control API (SPEC §4, §5).
 *
 * Owns: strict validation of the command line, a small blocking HTTP/1.1
 * client over the control socket, and rendering the API's objects for
 * people (tables, "key: value", a progress line) or, with --json, for
 * scripts (the API's objects, one compact object per line).
 *
 * Never: retry a request that changes state, interpret a migration beyond
 * showing it, or guess at a response it cannot parse: a daemon that does
 * not answer sensibly is "unreachable" (exit 3), the same as no daemon.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "xmalloc.h"

/* The daemon's own default (SPEC §2), not derived from --runstatedir:
 * the CLI must find the socket wherever the CLI was installed. */
#define CTL_DEFAULT_SOCKET "/run/vfio-migd/control.sock"
#define CTL_SOCKET_ENV "VFIO_MIGD_SOCKET"

#define CTL_REQUEST_TIMEOUT_MS 10000
#define CTL_POLL_INTERVAL_MS 250
#define CTL_MAX_HEAD (64u * 1024)
#define CTL_MAX_BODY (16u * 1024 * 1024)
#define CTL_MAX_EVENT_LINE (1u * 1024 * 1024)

/* Same bounds as the daemon's, so a mistake is caught before it travels. */
#define CTL_DOWNTIME_MAX_MS 600000
#define CTL_BANDWIDTH_MAX (UINT64_C(1) << 50)
#define CTL_CHANNELS_MAX 16

enum ctl_exit {
	CTL_HELP_SHOWN = -2,  /* --help or --version: stop, exit 0 */
	CTL_INTERRUPTED = -1, /* SIGINT while waiting: the caller decides */
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAILED = 1,	  /* the migration failed, or the API said no */
	CTL_EXIT_USAGE = 2,
	CTL_EXIT_UNREACHABLE = 3, /* no daemon, or no sensible answer from it */
};

struct ctl_migrate_args {
	const char *to;
	const char *token;
	uint64_t downtime_limit_ms; /* 0: the daemon's default */
	uint64_t max_bandwidth;
	int has_max_bandwidth;	    /* 0 is a value: unlimited */
	const char *switchover;	    /* NULL: the daemon's default */
	uint64_t channels;	    /* 0: the daemon's default */
	const char *dest_device;    /* NULL: the same name over there */
	int wait;
};

struct ctl;

struct ctl_command {
	const char *name;
	const char *operand; /* NULL, "NAME", or "[ID]" when optional */
	const char *options; /* usage of the command's own options */
	const char *summary;
	const struct option *long_options; /* NULL: only --json and --help */
	int (*option)(struct ctl *, int, const char *);
	int (*run)(struct ctl *, const char *);
};

struct ctl {
	const char *socket_path;
	int json;
	const struct ctl_command *command;
	struct ctl_migrate_args migrate;
};

struct http_conn {
	int fd;
	const char *socket_path;
	int timeout_ms; /* for the whole exchange; -1: none (event stream) */
	struct timespec deadline;
	int status;
	int chunked;	     /* Transfer-Encoding: chunked */
	int until_eof;	     /* no length given: the body ends with the connection */
	int in_chunk;	     /* a chunk's data was read: its CRLF comes next */
	int body_done;
	uint64_t remaining;  /* of the current chunk, or of Content-Length */
	size_t head_bytes;   /* of the head, or of one chunk's framing */
	size_t received;
	int eof;
	size_t start, end;
	char buf[16384];
};

struct table {
	size_t ncols, nrows;
	char **cells; /* row-major, row 0 the header */
};

/* What --wait has put on the screen so far. */
struct wait_view {
	int tty;
	char phase[32];
	json_t *printed; /* --json: the last object printed */
};

typedef void ctl_render_fn(json_t *);

static volatile sig_atomic_t ctl_interrupted;
static int ctl_catching_sigint;
static sigset_t ctl_wait_mask;
/* A progress line without its newline is on stdout. */
static int ctl_progress_line;

/* --- messages --- */

static void ctl_vwarn(int errnum, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void ctl_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void ctl_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int ctl_usage_error(const struct ctl *ctl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static char *ctl_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
ctl_vwarn(int errnum, const char *fmt, va_list ap)
{
	if (ctl_progress_line) {
		fputc('\n', stdout);
		fflush(stdout);
		ctl_progress_line = 0;
	}
	fputs("vfio-migctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	if (errnum != 0)
		fprintf(stderr, ": %s", strerror(errnum));
	fputc('\n', stderr);
}

static void
ctl_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_vwarn(0, fmt, ap);
	va_end(ap);
}

static void
ctl_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	ctl_vwarn(saved, fmt, ap);
	va_end(ap);
}

static char *
ctl_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatalx("cannot format a request");
	s = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

static void
ctl_command_usage(FILE *f, const struct ctl_command *cmd)
{
	fprintf(f, "usage: vfio-migctl [-s SOCKET] [--json] %s", cmd->name);
	if (cmd->operand != NULL)
		fprintf(f, " %s", cmd->operand);
	if (cmd->options != NULL)
		fprintf(f, " %s", cmd->options);
	fputc('\n', f);
}

static int
ctl_usage_error(const struct ctl *ctl, const char *fmt, ...)
{
	va_list ap;

	fputs("vfio-migctl: ", stderr);
	if (ctl->command != NULL)
		fprintf(stderr, "%s: ", ctl->command->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (ctl->command != NULL)
		ctl_command_usage(stderr, ctl->command);
	fputs("Try 'vfio-migctl --help' for more information.\n", stderr);
	return CTL_EXIT_USAGE;
}

/* --- argument values --- */

/* Decimal only: no sign, no space, no base prefix, nothing after. */
static int
parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Bytes per second, with an optional K, M or G (1024-based). */
static int
parse_rate(const char *s, uint64_t *out)
{
	unsigned long long v;
	uint64_t unit = 1;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 'K': case 'k':
		unit = UINT64_C(1) << 10;
		break;
	case 'M': case 'm':
		unit = UINT64_C(1) << 20;
		break;
	case 'G': case 'g':
		unit = UINT64_C(1) << 30;
		break;
	default:
		return -1;
	}
	if (*end != '\0' && end[1] != '\0')
		return -1;
	if (v > CTL_BANDWIDTH_MAX / unit)
		return -1;
	*out = v * unit;
	return 0;
}

static int
hostname_char(int ch)
{
	return isalnum(ch) || ch == '-' || ch == '.' || ch == '_';
}

/* "host:port" or "[v6]:port"; a bare IPv6 address would be ambiguous. */
static int
valid_hostport(const char *s)
{
	const char *colon = strrchr(s, ':'), *p, *host = s, *host_end;
	uint64_t port;

	if (colon == NULL || parse_uint(colon + 1, 1, 65535, &port) != 0)
		return 0;
	host_end = colon;
	if (*s == '[') {
		if (colon - s < 3 || colon[-1] != ']')
			return 0;
		host = s + 1;
		host_end = colon - 1;
	}
	if (host == host_end)
		return 0;
	for (p = host; p < host_end; p++)
		if (!hostname_char((unsigned char)*p) && !(*s == '[' && (*p == ':' || *p == '%')))
			return 0;
	return 1;
}

/* --- formatting --- */

static const char *
fmt_bytes(char *buf, size_t len, uint64_t bytes)
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

static const char *
fmt_duration(char *buf, size_t len, uint64_t ms)
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
static const char *
fmt_throughput(char *buf, size_t len, uint64_t bits_per_second)
{
	char bytes[32];

	snprintf(buf, len, "%s/s", fmt_bytes(bytes, sizeof(bytes), bits_per_second / 8));
	return buf;
}

/* --- reading API objects --- */

static const char *
json_get_string(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static uint64_t
json_get_u64(json_t *obj, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(obj, key));

	return v > 0 ? (uint64_t)v : 0;
}

static const char *
or_dash(const char *s)
{
	return s != NULL ? s : "-";
}

static int
phase_is_final(const char *phase)
{
	return strcmp(phase, "completed") == 0 || strcmp(phase, "failed") == 0 ||
	    strcmp(phase, "cancelled") == 0;
}

/* "precopy 45.2%, 1.1 GiB pending, 812.0 MiB/s, ETA 0:02, iteration 3" */
static void
fmt_progress(char *buf, size_t len, json_t *mig)
{
	uint64_t done = json_get_u64(mig, "bytes_transferred");
	uint64_t pending = json_get_u64(mig, "pending_bytes");
	uint64_t bps = json_get_u64(mig, "throughput_bps");
	char percent[16] = "", size[32], rate[32], eta[32] = "--:--";
	uint64_t s;

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
	    or_dash(json_get_string(mig, "phase")), percent,
	    fmt_bytes(size, sizeof(size), pending), fmt_throughput(rate, sizeof(rate), bps),
	    eta, json_get_u64(mig, "iterations"));
}

/* Capabilities: {"precopy":true,...} or ["precopy",...] -> "precopy ...". */
static void
fmt_capabilities(char *buf, size_t len, json_t *caps)
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

static void
print_json(json_t *obj)
{
	json_dumpf(obj, stdout, JSON_COMPACT);
	fputc('\n', stdout);
	fflush(stdout);
}

/* The number with a reading aid for people, chosen by the field's name. */
static void
print_integer(const char *key, json_int_t v)
{
	size_t n = strlen(key);
	char aid[32];

	printf("%" JSON_INTEGER_FORMAT, v);
	if (v <= 0)
		return;
	if (strstr(key, "bytes") != NULL || (n > 5 && strcmp(key + n - 5, "_size") == 0))
		printf(" (%s)", fmt_bytes(aid, sizeof(aid), (uint64_t)v));
	else if (n > 4 && strcmp(key + n - 4, "_bps") == 0)
		printf(" (%s)", fmt_throughput(aid, sizeof(aid), (uint64_t)v));
	else if (n > 3 && strcmp(key + n - 3, "_ms") == 0 && v >= 1000)
		printf(" (%s)", fmt_duration(aid, sizeof(aid), (uint64_t)v));
}

static void
print_value(const char *key, json_t *v)
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
		print_integer(key, json_integer_value(v));
		break;
	case JSON_REAL:
		printf("%g", json_real_value(v));
		break;
	case JSON_OBJECT:
		if (json_get_string(v, "code") != NULL) {
			printf("%s: %s", json_get_string(v, "code"),
			    or_dash(json_get_string(v, "message")));
			break;
		}
		/* FALLTHROUGH */
	case JSON_ARRAY:
		if (strstr(key, "capabilities") != NULL) {
			fmt_capabilities(text, sizeof(text), v);
			fputs(text, stdout);
		} else
			json_dumpf(v, stdout, JSON_COMPACT);
		break;
	}
}

/* "key: value" lines, values aligned, in the daemon's order of fields. */
static void
print_fields(json_t *obj)
{
	const char *key;
	json_t *v;
	size_t width = 0;

	json_object_foreach(obj, key, v)
		if (strlen(key) > width)
			width = strlen(key);
	json_object_foreach(obj, key, v) {
		printf("%s:%*s ", key, (int)(width - strlen(key)), "");
		print_value(key, v);
		fputc('\n', stdout);
	}
}

/* --- tables --- */

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

static void
render_devices(json_t *res)
{
	static const char *const header[] = {"NAME", "BACKEND", "STATE", "STATUS",
		"MIGRATION", "STATE-SIZE", "CAPABILITIES"};
	char size[32], caps[256];
	const char *row[7];
	struct table t;
	json_t *dev, *busy, *cap;
	size_t i;

	table_init(&t, 7, header);
	json_array_foreach(json_object_get(res, "devices"), i, dev) {
		busy = json_object_get(dev, "busy");
		cap = json_object_get(dev, "capabilities");
		fmt_capabilities(caps, sizeof(caps),
		    cap != NULL ? cap : json_object_get(dev, "migration_capabilities"));
		row[0] = or_dash(json_get_string(dev, "name"));
		row[1] = or_dash(json_get_string(dev, "backend"));
		row[2] = or_dash(json_get_string(dev, "state") != NULL ?
		    json_get_string(dev, "state") : json_get_string(dev, "device_state"));
		row[3] = json_is_boolean(busy) ? (json_is_true(busy) ? "busy" : "idle") :
		    or_dash(json_get_string(dev, "status"));
		row[4] = or_dash(json_get_string(dev, "migration"));
		row[5] = fmt_bytes(size, sizeof(size), json_get_u64(dev, "state_size"));
		row[6] = caps;
		table_add(&t, row);
	}
	table_print_free(&t);
}

static void
render_migrations(json_t *res)
{
	static const char *const header[] = {"ID", "ROLE", "DEVICE", "PEER", "PHASE",
		"PROGRESS", "TRANSFERRED", "STARTED"};
	char percent[16], bytes[32];
	const char *row[8];
	uint64_t done, pending;
	struct table t;
	json_t *mig;
	size_t i;

	table_init(&t, 8, header);
	json_array_foreach(json_object_get(res, "migrations"), i, mig) {
		done = json_get_u64(mig, "bytes_transferred");
		pending = json_get_u64(mig, "pending_bytes");
		snprintf(percent, sizeof(percent), "-");
		if (done + pending > 0)
			snprintf(percent, sizeof(percent), "%.1f%%",
			    100.0 * (double)done / (double)(done + pending));
		row[0] = or_dash(json_get_string(mig, "id"));
		row[1] = or_dash(json_get_string(mig, "role"));
		row[2] = or_dash(json_get_string(mig, "device"));
		row[3] = or_dash(json_get_string(mig, "peer"));
		row[4] = or_dash(json_get_string(mig, "phase"));
		row[5] = percent;
		row[6] = fmt_bytes(bytes, sizeof(bytes), done);
		row[7] = or_dash(json_get_string(mig, "started_at"));
		table_add(&t, row);
	}
	table_print_free(&t);
}

static void
render_migration_line(json_t *mig)
{
	printf("migration %s: %s\n", or_dash(json_get_string(mig, "id")),
	    or_dash(json_get_string(mig, "phase")));
}

/* --- waiting without missing a SIGINT --- */

static void
ctl_on_sigint(int sig)
{
	(void)sig;
	ctl_interrupted = 1;
}

/* SIGINT stays blocked except inside ppoll(), so it cannot slip in between
 * checking the flag and going to sleep. */
static void
ctl_catch_sigint(void)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = ctl_on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &ctl_wait_mask);
	sigdelset(&ctl_wait_mask, SIGINT);
	ctl_catching_sigint = 1;
}

static int
ctl_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms)
{
	struct timespec ts, *tsp = NULL;

	if (ctl_interrupted) {
		errno = EINTR;
		return -1;
	}
	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000;
		tsp = &ts;
	}
	return ppoll(fds, nfds, tsp, ctl_catching_sigint ? &ctl_wait_mask : NULL);
}

static int
ctl_sleep(int ms)
{
	if (ctl_poll(NULL, 0, ms) == -1 && ctl_interrupted)
		return CTL_INTERRUPTED;
	return CTL_EXIT_OK;
}

/* --- HTTP/1.1 over the control socket --- */

static int
http_remaining_ms(const struct http_conn *c)
{
	struct timespec now;
	long long ms;

	if (c->timeout_ms < 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(c->deadline.tv_sec - now.tv_sec) * 1000 +
	    (c->deadline.tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : (int)ms;
}

static void
http_set_timeout(struct http_conn *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms;
	clock_gettime(CLOCK_MONOTONIC, &c->deadline);
	c->deadline.tv_sec += timeout_ms / 1000;
	c->deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (c->deadline.tv_nsec >= 1000000000) {
		c->deadline.tv_sec++;
		c->deadline.tv_nsec -= 1000000000;
	}
}

static int
http_malformed(const struct http_conn *c, const char *what)
{
	ctl_warnx("the daemon on %s sent a malformed response: %s", c->socket_path, what);
	return CTL_EXIT_UNREACHABLE;
}

static int
http_truncated(const struct http_conn *c)
{
	if (c->received == 0)
		ctl_warnx("the daemon on %s closed the connection without answering",
		    c->socket_path);
	else
		ctl_warnx("the daemon on %s closed the connection in the middle of a response",
		    c->socket_path);
	return CTL_EXIT_UNREACHABLE;
}

static int
http_wait(struct http_conn *c, short events)
{
	struct pollfd pfd;
	int n;

	pfd.fd = c->fd;
	pfd.events = events;
	for (;;) {
		n = ctl_poll(&pfd, 1, http_remaining_ms(c));
		if (n > 0)
			return CTL_EXIT_OK;
		if (n == 0) {
			ctl_warnx("no answer from the daemon on %s within %d s", c->socket_path,
			    c->timeout_ms / 1000);
			return CTL_EXIT_UNREACHABLE;
		}
		if (errno != EINTR) {
			ctl_warn("waiting for the daemon on %s", c->socket_path);
			return CTL_EXIT_UNREACHABLE;
		}
		if (ctl_interrupted)
			return CTL_INTERRUPTED;
	}
}

static const char *
connect_hint(int err)
{
	switch (err) {
	case ENOENT:
	case ENOTDIR:
	case ECONNREFUSED:
		return " (is vfio-migd running?)";
	case EACCES:
	case EPERM:
		return " (is this user in the daemon's control_group?)";
	default:
		return "";
	}
}

static int
http_connect(struct http_conn *c, const char *path, int timeout_ms)
{
	struct sockaddr_un addr;
	struct timeval tv;
	int saved;

	memset(c, 0, sizeof(*c));
	c->socket_path = path;
	http_set_timeout(c, timeout_ms);
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, path, strlen(path));
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		ctl_warn("socket");
		return CTL_EXIT_UNREACHABLE;
	}
	/* connect() blocks while the daemon's listen queue is full; bound it. */
	tv.tv_sec = CTL_REQUEST_TIMEOUT_MS / 1000;
	tv.tv_usec = 0;
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) == -1) {
		saved = errno;
		ctl_warnx("cannot connect to the daemon on %s: %s%s", path, strerror(saved),
		    connect_hint(saved));
		return CTL_EXIT_UNREACHABLE;
	}
	if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) == -1) {
		ctl_warn("fcntl");
		return CTL_EXIT_UNREACHABLE;
	}
	return CTL_EXIT_OK;
}

static void
http_close(struct http_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int
http_write_all(struct http_conn *c, const char *data, size_t len)
{
	ssize_t n;
	int rc;

	while (len > 0) {
		if ((rc = http_wait(c, POLLOUT)) != CTL_EXIT_OK)
			return rc;
		n = send(c->fd, data, len, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			/* The daemon answered early and closed: its answer says why. */
			if (errno == EPIPE || errno == ECONNRESET)
				return CTL_EXIT_OK;
			ctl_warn("sending to the daemon on %s", c->socket_path);
			return CTL_EXIT_UNREACHABLE;
		}
		data += n;
		len -= (size_t)n;
	}
	return CTL_EXIT_OK;
}

static int
http_fill(struct http_conn *c)
{
	ssize_t n;
	int rc;

	if (c->start > 0) {
		memmove(c->buf, c->buf + c->start, c->end - c->start);
		c->end -= c->start;
		c->start = 0;
	}
	for (;;) {
		if ((rc = http_wait(c, POLLIN)) != CTL_EXIT_OK)
			return rc;
		n = read(c->fd, c->buf + c->end, sizeof(c->buf) - c->end);
		if (n > 0) {
			c->end += (size_t)n;
			c->received += (size_t)n;
			return CTL_EXIT_OK;
		}
		if (n == 0 || errno == ECONNRESET) {
			c->eof = 1;
			return CTL_EXIT_OK;
		}
		if (errno != EAGAIN && errno != EINTR) {
			ctl_warn("reading from the daemon on %s", c->socket_path);
			return CTL_EXIT_UNREACHABLE;
		}
	}
}

/* One line of the head or of the chunk framing, without its CR LF. The
 * line lives in c->buf until the next read. */
static int
http_read_line(struct http_conn *c, char **line)
{
	char *nl;
	int rc;

	while ((nl = memchr(c->buf + c->start, '\n', c->end - c->start)) == NULL) {
		if (c->eof)
			return http_truncated(c);
		if (c->start == 0 && c->end == sizeof(c->buf))
			return http_malformed(c, "a header or chunk line is too long");
		if ((rc = http_fill(c)) != CTL_EXIT_OK)
			return rc;
	}
	*line = c->buf + c->start;
	*nl = '\0';
	if (nl > *line && nl[-1] == '\r')
		nl[-1] = '\0';
	c->head_bytes += (size_t)(nl - *line) + 1;
	c->start = (size_t)(nl - c->buf) + 1;
	if (c->head_bytes > CTL_MAX_HEAD)
		return http_malformed(c, "the response head is too large");
	return CTL_EXIT_OK;
}

static int
http_parse_status(struct http_conn *c, const char *line)
{
	if (strncmp(line, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)line[7]) ||
	    line[8] != ' ' || !isdigit((unsigned char)line[9]) ||
	    !isdigit((unsigned char)line[10]) || !isdigit((unsigned char)line[11]) ||
	    (line[12] != ' ' && line[12] != '\0'))
		return http_malformed(c, "not an HTTP/1.x status line");
	c->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
	return CTL_EXIT_OK;
}

static int
http_parse_header(struct http_conn *c, char *line, int *has_length)
{
	char *colon = strchr(line, ':'), *value, *end;

	if (colon == NULL || colon == line)
		return http_malformed(c, "a header line without a name");
	*colon = '\0';
	for (value = colon + 1; *value == ' ' || *value == '\t'; value++)
		;
	for (end = value + strlen(value); end > value && (end[-1] == ' ' || end[-1] == '\t'); end--)
		;
	*end = '\0';
	if (strcasecmp(line, "Content-Length") == 0) {
		if (parse_uint(value, 0, UINT64_MAX, &c->remaining) != 0)
			return http_malformed(c, "a bad Content-Length");
		*has_length = 1;
	} else if (strcasecmp(line, "Transfer-Encoding") == 0) {
		if (strcasecmp(value, "chunked") != 0)
			return http_malformed(c, "a Transfer-Encoding other than chunked");
		c->chunked = 1;
	}
	return CTL_EXIT_OK;
}

/* Status line and headers; leaves the connection at the start of the body.
 * Interim 1xx answers are skipped. */
static int
http_read_head(struct http_conn *c)
{
	int rc, has_length;
	char *line;

	do {
		has_length = 0;
		c->chunked = 0;
		if ((rc = http_read_line(c, &line)) != CTL_EXIT_OK ||
		    (rc = http_parse_status(c, line)) != CTL_EXIT_OK)
			return rc;
		for (;;) {
			if ((rc = http_read_line(c, &line)) != CTL_EXIT_OK)
				return rc;
			if (*line == '\0')
				break;
			if ((rc = http_parse_header(c, line, &has_length)) != CTL_EXIT_OK)
				return rc;
		}
	} while (c->status >= 100 && c->status < 200);
	if (c->status == 204 || c->status == 304)
		c->body_done = 1;
	else if (c->chunked)
		c->remaining = 0;
	else if (!has_length)
		c->until_eof = 1;
	return CTL_EXIT_OK;
}

static int
http_next_chunk(struct http_conn *c)
{
	uint64_t size = 0;
	int rc, digits = 0;
	char *line, *p;

	/* The head's bound, per chunk: a stream may run for days. */
	c->head_bytes = 0;
	if (c->in_chunk) {
		if ((rc = http_read_line(c, &line)) != CTL_EXIT_OK)
			return rc;
		if (*line != '\0')
			return http_malformed(c, "chunk data longer than its size");
	}
	if ((rc = http_read_line(c, &line)) != CTL_EXIT_OK)
		return rc;
	for (p = line; isxdigit((unsigned char)*p); p++) {
		if (++digits > 15)
			return http_malformed(c, "a chunk size too large");
		size = size * 16 + (uint64_t)(isdigit((unsigned char)*p) ? *p - '0' :
		    tolower((unsigned char)*p) - 'a' + 10);
	}
	if (digits == 0 || (*p != '\0' && *p != ';' && *p != ' ' && *p != '\t'))
		return http_malformed(c, "a bad chunk size line");
	c->in_chunk = 1;
	c->remaining = size;
	if (size > 0)
		return CTL_EXIT_OK;
	/* The last chunk: skip the trailer section up to its empty line. */
	do {
		if ((rc = http_read_line(c, &line)) != CTL_EXIT_OK)
			return rc;
	} while (*line != '\0');
	c->body_done = 1;
	return CTL_EXIT_OK;
}

/* The next piece of the body, pointing into c->buf; *len == 0 at its end. */
static int
http_body_next(struct http_conn *c, const char **data, size_t *len)
{
	size_t n;
	int rc;

	*len = 0;
	while (!c->body_done && !c->until_eof && c->remaining == 0) {
		if (!c->chunked)
			c->body_done = 1;
		else if ((rc = http_next_chunk(c)) != CTL_EXIT_OK)
			return rc;
	}
	if (c->body_done)
		return CTL_EXIT_OK;
	while (c->start == c->end) {
		if (c->eof && c->until_eof) {
			c->body_done = 1;
			return CTL_EXIT_OK;
		}
		if (c->eof)
			return http_truncated(c);
		if ((rc = http_fill(c)) != CTL_EXIT_OK)
			return rc;
	}
	n = c->end - c->start;
	if (!c->until_eof && n > c->remaining)
		n = (size_t)c->remaining;
	*data = c->buf + c->start;
	*len = n;
	c->start += n;
	if (!c->until_eof)
		c->remaining -= n;
	return CTL_EXIT_OK;
}

/* The whole body, NUL terminated, at most CTL_MAX_BODY bytes. */
static int
http_read_body(struct http_conn *c, char **body, size_t *len)
{
	size_t used = 0, cap = 0, n;
	const char *data;
	char *buf = NULL;
	int rc;

	*body = NULL;
	if (!c->chunked && !c->until_eof && c->remaining > CTL_MAX_BODY)
		return http_malformed(c, "a response larger than 16 MiB");
	for (;;) {
		if ((rc = http_body_next(c, &data, &n)) != CTL_EXIT_OK) {
			free(buf);
			return rc;
		}
		if (n == 0)
			break;
		if (used + n > CTL_MAX_BODY) {
			free(buf);
			return http_malformed(c, "a response larger than 16 MiB");
		}
		if (used + n + 1 > cap) {
			cap = cap == 0 ? 4096 : cap;
			while (used + n + 1 > cap)
				cap *= 2;
			buf = xrealloc(buf, cap);
		}
		memcpy(buf + used, data, n);
		used += n;
	}
	if (buf == NULL)
		buf = xmalloc(1);
	buf[used] = '\0';
	*body = buf;
	*len = used;
	return CTL_EXIT_OK;
}

/* Connect, send one request and read the answer's head. */
static int
http_exchange(struct http_conn *c, const char *socket_path, const char *method,
    const char *path, const char *body)
{
	char *request;
	int rc;

	if ((rc = http_connect(c, socket_path, CTL_REQUEST_TIMEOUT_MS)) != CTL_EXIT_OK)
		return rc;
	request = ctl_asprintf("%s %s HTTP/1.1\r\nHost: localhost\r\n"
	    "User-Agent: vfio-migctl/%s\r\nAccept: application/json\r\nConnection: close\r\n"
	    "%sContent-Length: %zu\r\n\r\n%s", method, path, PACKAGE_VERSION,
	    body != NULL ? "Content-Type: application/json\r\n" : "",
	    body != NULL ? strlen(body) : 0, body != NULL ? body : "");
	rc = http_write_all(c, request, strlen(request));
	free(request);
	if (rc == CTL_EXIT_OK)
		rc = http_read_head(c);
	return rc;
}

/* --- the control API --- */

/* "/v1/devices/" + the operand, percent-encoded, + "/incoming". */
static char *
api_path(const char *prefix, const char *operand, const char *suffix)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = xmalloc(strlen(prefix) + 3 * strlen(operand) + strlen(suffix) + 1);
	char *p = stpcpy(out, prefix);
	const unsigned char *s;

	for (s = (const unsigned char *)operand; *s != '\0'; s++) {
		if (isalnum(*s) || *s == '-' || *s == '.' || *s == '_' || *s == '~') {
			*p++ = (char)*s;
		} else {
			*p++ = '%';
			*p++ = hex[*s >> 4];
			*p++ = hex[*s & 15];
		}
	}
	strcpy(p, suffix);
	return out;
}

static void
api_report_error(const struct ctl *ctl, int status, json_t *obj)
{
	json_t *err = json_object_get(obj, "error");

	if (ctl->json)
		print_json(obj);
	if (json_get_string(err, "code") != NULL)
		ctl_warnx("%s: %s", json_get_string(err, "code"),
		    or_dash(json_get_string(err, "message")));
	else
		ctl_warnx("the daemon answered HTTP %d", status);
}

/* A body is one JSON object; for a 2xx status it is the answer, otherwise
 * the API's error. */
static int
api_decode(const struct ctl *ctl, int status, const char *body, size_t len, json_t **out)
{
	json_error_t err;
	json_t *obj;

	obj = json_loadb(body, len, 0, &err);
	if (obj == NULL || !json_is_object(obj)) {
		ctl_warnx("the daemon on %s sent an invalid response (HTTP %d): %s",
		    ctl->socket_path, status, obj == NULL ? err.text : "not a JSON object");
		json_decref(obj);
		return CTL_EXIT_UNREACHABLE;
	}
	if (status >= 200 && status <= 299) {
		*out = obj;
		return CTL_EXIT_OK;
	}
	api_report_error(ctl, status, obj);
	json_decref(obj);
	return CTL_EXIT_FAILED;
}

/*
 * One request on its own connection. CTL_EXIT_OK with *response set for a
 * 2xx answer; anything else has been reported and is the exit status.
 */
static int
api_request(const struct ctl *ctl, const char *method, const char *path, json_t *request,
    json_t **response)
{
	struct http_conn c;
	char *body = NULL, *payload = NULL;
	size_t len = 0;
	int rc;

	*response = NULL;
	if (request != NULL)
		payload = json_dumps(request, JSON_COMPACT);
	rc = http_exchange(&c, ctl->socket_path, method, path, payload);
	free(payload);
	if (rc == CTL_EXIT_OK)
		rc = http_read_body(&c, &body, &len);
	http_close(&c);
	if (rc == CTL_EXIT_OK)
		rc = api_decode(ctl, c.status, body, len, response);
	free(body);
	return rc;
}

/* The shape of most commands: one request, then the answer as it came
 * (--json) or rendered for people. */
static int
api_show(const struct ctl *ctl, const char *method, const char *path, ctl_render_fn *render)
{
	json_t *res;
	int rc;

	if ((rc = api_request(ctl, method, path, NULL, &res)) != CTL_EXIT_OK)
		return rc;
	if (ctl->json)
		print_json(res);
	else
		render(res);
	json_decref(res);
	return CTL_EXIT_OK;
}

static int
api_show_operand(const struct ctl *ctl, const char *method, const char *prefix,
    const char *operand, const char *suffix, ctl_render_fn *render)
{
	char *path = api_path(prefix, operand, suffix);
	int rc = api_show(ctl, method, path, render);

	free(path);
	return rc;
}

/* --- migrate --wait --- */

static int
same_figures(json_t *a, json_t *b)
{
	static const char *const keys[] = {"phase", "bytes_transferred", "pending_bytes",
		"dirty_pages", "iterations", "error"};
	size_t i;

	json_t *x, *y;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		x = json_object_get(a, keys[i]);
		y = json_object_get(b, keys[i]);
		if (x != y && !json_equal(x, y))
			return 0;
	}
	return 1;
}

static void
wait_show(const struct ctl *ctl, struct wait_view *w, json_t *mig)
{
	const char *phase = json_get_string(mig, "phase");
	char line[256];

	if (ctl->json) {
		if (w->printed == NULL || !same_figures(w->printed, mig)) {
			print_json(mig);
			json_decref(w->printed);
			w->printed = json_incref(mig);
		}
	} else if (w->tty) {
		fmt_progress(line, sizeof(line), mig);
		printf("\r\033[K%s", line);
		fflush(stdout);
		ctl_progress_line = 1;
	} else if (strcmp(phase, w->phase) != 0) {
		render_migration_line(mig);
		fflush(stdout);
	}
	snprintf(w->phase, sizeof(w->phase), "%s", phase);
}

static int
wait_finish(const struct ctl *ctl, struct wait_view *w, json_t *mig)
{
	const char *phase = json_get_string(mig, "phase");
	json_t *err = json_object_get(mig, "error");
	char bytes[32], total[32], downtime[32];

	if (ctl->json) {
		if (!json_equal(w->printed, mig))
			print_json(mig);
	} else {
		if (ctl_progress_line)
			fputc('\n', stdout);
		ctl_progress_line = 0;
		printf("migration %s %s: %s transferred in %s, downtime %s\n",
		    or_dash(json_get_string(mig, "id")), phase,
		    fmt_bytes(bytes, sizeof(bytes), json_get_u64(mig, "bytes_transferred")),
		    fmt_duration(total, sizeof(total), json_get_u64(mig, "total_ms")),
		    fmt_duration(downtime, sizeof(downtime), json_get_u64(mig, "downtime_ms")));
		fflush(stdout);
	}
	if (strcmp(phase, "completed") == 0)
		return CTL_EXIT_OK;
	if (json_get_string(err, "code") != NULL)
		ctl_warnx("migration %s %s: %s: %s", or_dash(json_get_string(mig, "id")), phase,
		    json_get_string(err, "code"), or_dash(json_get_string(err, "message")));
	return CTL_EXIT_FAILED;
}

/* Poll the migration until its phase is final. */
static int
migrate_wait(const struct ctl *ctl, json_t *first)
{
	const char *id = json_get_string(first, "id"), *phase;
	struct wait_view w;
	json_t *mig, *next;
	char *path;
	int rc;

	if (id == NULL) {
		ctl_warnx("the daemon on %s sent a migration without an id", ctl->socket_path);
		return CTL_EXIT_UNREACHABLE;
	}
	memset(&w, 0, sizeof(w));
	w.tty = isatty(STDOUT_FILENO);
	path = api_path("/v1/migrations/", id, "");
	mig = json_incref(first);
	ctl_catch_sigint();
	for (;;) {
		if ((phase = json_get_string(mig, "phase")) == NULL) {
			ctl_warnx("the daemon on %s sent a migration without a phase",
			    ctl->socket_path);
			rc = CTL_EXIT_UNREACHABLE;
			break;
		}
		wait_show(ctl, &w, mig);
		if (phase_is_final(phase)) {
			rc = wait_finish(ctl, &w, mig);
			break;
		}
		if ((rc = ctl_sleep(CTL_POLL_INTERVAL_MS)) != CTL_EXIT_OK ||
		    (rc = api_request(ctl, "GET", path, NULL, &next)) != CTL_EXIT_OK)
			break;
		json_decref(mig);
		mig = next;
	}
	if (rc == CTL_INTERRUPTED) {
		ctl_warnx("interrupted: migration %s continues; cancel it with "
		    "'vfio-migctl cancel %s'", id, id);
		rc = CTL_EXIT_FAILED;
	}
	json_decref(w.printed);
	json_decref(mig);
	free(path);
	return rc;
}

/* --- watch --- */

/* The migration's figures: nested in "object" or at the event's top. */
static json_t *
event_migration(json_t *ev)
{
	json_t *obj = json_object_get(ev, "object");

	return json_is_object(obj) ? obj : ev;
}

static void
fmt_event_fields(char *buf, size_t len, json_t *ev)
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
render_event(json_t *ev)
{
	const char *type = or_dash(json_get_string(ev, "type"));
	json_t *err = json_object_get(event_migration(ev), "error");
	char detail[512];

	if (strcmp(type, "phase") == 0) {
		snprintf(detail, sizeof(detail), "%s -> %s",
		    or_dash(json_get_string(ev, "from")), or_dash(json_get_string(ev, "to")));
		if (json_get_string(err, "code") != NULL)
			snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail),
			    " (%s: %s)", json_get_string(err, "code"),
			    or_dash(json_get_string(err, "message")));
	} else if (strcmp(type, "progress") == 0)
		fmt_progress(detail, sizeof(detail), event_migration(ev));
	else
		fmt_event_fields(detail, sizeof(detail), ev);
	printf("%s %s %s %s\n", or_dash(json_get_string(ev, "time")),
	    or_dash(json_get_string(ev, "migration")), type, detail);
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
		print_json(ev);
	else
		render_event(ev);
	json_decref(ev);
	return CTL_EXIT_OK;
}

/* Split the body into lines, one event each, until the stream ends. */
static int
watch_stream(const struct ctl *ctl, struct http_conn *c)
{
	size_t len = 0, n, take;
	const char *data, *nl;
	char *line = xmalloc(CTL_MAX_EVENT_LINE);
	int rc;

	while ((rc = http_body_next(c, &data, &n)) == CTL_EXIT_OK && n > 0) {
		while (n > 0 && rc == CTL_EXIT_OK) {
			nl = memchr(data, '\n', n);
			take = nl != NULL ? (size_t)(nl - data) : n;
			if (len + take > CTL_MAX_EVENT_LINE) {
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

/* --- commands --- */

static int
cmd_health(struct ctl *ctl, const char *operand)
{
	(void)operand;
	return api_show(ctl, "GET", "/v1/health", print_fields);
}

static int
cmd_devices(struct ctl *ctl, const char *operand)
{
	(void)operand;
	return api_show(ctl, "GET", "/v1/devices", render_devices);
}

static int
cmd_device(struct ctl *ctl, const char *name)
{
	return api_show_operand(ctl, "GET", "/v1/devices/", name, "", print_fields);
}

static int
cmd_incoming(struct ctl *ctl, const char *device)
{
	return api_show_operand(ctl, "POST", "/v1/devices/", device, "/incoming", print_fields);
}

static int
cmd_migrations(struct ctl *ctl, const char *operand)
{
	(void)operand;
	return api_show(ctl, "GET", "/v1/migrations", render_migrations);
}

static int
cmd_show(struct ctl *ctl, const char *id)
{
	return api_show_operand(ctl, "GET", "/v1/migrations/", id, "", print_fields);
}

static int
cmd_switchover(struct ctl *ctl, const char *id)
{
	return api_show_operand(ctl, "POST", "/v1/migrations/", id, "/switchover",
	    render_migration_line);
}

static int
cmd_cancel(struct ctl *ctl, const char *id)
{
	return api_show_operand(ctl, "POST", "/v1/migrations/", id, "/cancel",
	    render_migration_line);
}

enum {
	OPT_TO = 256,
	OPT_TOKEN,
	OPT_DOWNTIME_LIMIT,
	OPT_MAX_BANDWIDTH,
	OPT_SWITCHOVER,
	OPT_CHANNELS,
	OPT_DEST_DEVICE,
	OPT_WAIT,
};

static const struct option common_options[] = {
	{"json", no_argument, NULL, 'j'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static const struct option migrate_options[] = {
	{"json", no_argument, NULL, 'j'},
	{"help", no_argument, NULL, 'h'},
	{"to", required_argument, NULL, OPT_TO},
	{"token", required_argument, NULL, OPT_TOKEN},
	{"downtime-limit", required_argument, NULL, OPT_DOWNTIME_LIMIT},
	{"max-bandwidth", required_argument, NULL, OPT_MAX_BANDWIDTH},
	{"switchover", required_argument, NULL, OPT_SWITCHOVER},
	{"channels", required_argument, NULL, OPT_CHANNELS},
	{"dest-device", required_argument, NULL, OPT_DEST_DEVICE},
	{"wait", no_argument, NULL, OPT_WAIT},
	{NULL, 0, NULL, 0},
};

static int
migrate_option(struct ctl *ctl, int opt, const char *arg)
{
	struct ctl_migrate_args *m = &ctl->migrate;

	switch (opt) {
	case OPT_TO:
		if (!valid_hostport(arg))
			return ctl_usage_error(ctl, "--to: '%s' is not HOST:PORT or [IPV6]:PORT",
			    arg);
		m->to = arg;
		break;
	case OPT_TOKEN:
		if (*arg == '\0')
			return ctl_usage_error(ctl, "--token: must not be empty");
		m->token = arg;
		break;
	case OPT_DOWNTIME_LIMIT:
		if (parse_uint(arg, 1, CTL_DOWNTIME_MAX_MS, &m->downtime_limit_ms) != 0)
			return ctl_usage_error(ctl, "--downtime-limit: '%s' is not a number of "
			    "milliseconds from 1 to %d", arg, CTL_DOWNTIME_MAX_MS);
		break;
	case OPT_MAX_BANDWIDTH:
		if (parse_rate(arg, &m->max_bandwidth) != 0)
			return ctl_usage_error(ctl, "--max-bandwidth: '%s' is not a rate in bytes/s "
			    "(a number with an optional K, M or G; 0 = unlimited; at most 1024T)",
			    arg);
		m->has_max_bandwidth = 1;
		break;
	case OPT_SWITCHOVER:
		if (strcmp(arg, "auto") != 0 && strcmp(arg, "manual") != 0)
			return ctl_usage_error(ctl, "--switchover: '%s' is not auto or manual", arg);
		m->switchover = arg;
		break;
	case OPT_CHANNELS:
		if (parse_uint(arg, 1, CTL_CHANNELS_MAX, &m->channels) != 0)
			return ctl_usage_error(ctl, "--channels: '%s' is not a number from 1 to %d",
			    arg, CTL_CHANNELS_MAX);
		break;
	case OPT_DEST_DEVICE:
		if (*arg == '\0' || strlen(arg) > 63 ||
		    strspn(arg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") !=
			strlen(arg))
			return ctl_usage_error(ctl, "--dest-device: '%s' is not a device name "
			    "(1..63 of A-Z a-z 0-9 _ . -)", arg);
		m->dest_device = arg;
		break;
	case OPT_WAIT:
		m->wait = 1;
		break;
	}
	return CTL_EXIT_OK;
}

static int
json_set_string(json_t *obj, const char *key, const char *value)
{
	json_t *s = json_string(value);

	return s != NULL ? json_object_set_new(obj, key, s) : -1;
}

static json_t *
migrate_request(const struct ctl *ctl, const char *device)
{
	const struct ctl_migrate_args *m = &ctl->migrate;
	json_t *req = json_object();

	if (json_set_string(req, "device", device) != 0 ||
	    json_set_string(req, "destination", m->to) != 0 ||
	    json_set_string(req, "token", m->token) != 0 ||
	    (m->switchover != NULL && json_set_string(req, "switchover", m->switchover) != 0) ||
	    (m->dest_device != NULL && json_set_string(req, "dest_device", m->dest_device) != 0)) {
		json_decref(req);
		return NULL;
	}
	if (m->downtime_limit_ms > 0)
		json_object_set_new(req, "downtime_limit_ms",
		    json_integer((json_int_t)m->downtime_limit_ms));
	if (m->has_max_bandwidth)
		json_object_set_new(req, "max_bandwidth", json_integer((json_int_t)m->max_bandwidth));
	if (m->channels > 0)
		json_object_set_new(req, "channels", json_integer((json_int_t)m->channels));
	return req;
}

static int
cmd_migrate(struct ctl *ctl, const char *device)
{
	json_t *req, *mig;
	int rc;

	if (ctl->migrate.to == NULL)
		return ctl_usage_error(ctl, "--to HOST:PORT is required");
	if (ctl->migrate.token == NULL)
		return ctl_usage_error(ctl, "--token TOKEN is required (from 'vfio-migctl "
		    "incoming' on the destination host)");
	if ((req = migrate_request(ctl, device)) == NULL)
		return ctl_usage_error(ctl, "DEVICE and --token must be valid UTF-8");
	rc = api_request(ctl, "POST", "/v1/migrations", req, &mig);
	json_decref(req);
	if (rc != CTL_EXIT_OK)
		return rc;
	if (ctl->migrate.wait)
		rc = migrate_wait(ctl, mig);
	else if (ctl->json)
		print_json(mig);
	else
		render_migration_line(mig);
	json_decref(mig);
	return rc;
}

static int
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
		c.timeout_ms = -1;
		rc = watch_stream(ctl, &c);
	}
	http_close(&c);
	free(path);
	/* Stopping a watch with ^C is how a watch normally ends. */
	return rc == CTL_INTERRUPTED ? CTL_EXIT_OK : rc;
}

static const struct ctl_command ctl_commands[] = {
	{"health", NULL, NULL, "check that the daemon answers",
	    NULL, NULL, cmd_health},
	{"devices", NULL, NULL, "list the devices with state and capabilities",
	    NULL, NULL, cmd_devices},
	{"device", "NAME", NULL, "show one device",
	    NULL, NULL, cmd_device},
	{"incoming", "DEVICE", NULL, "prepare DEVICE here to receive; prints the token",
	    NULL, NULL, cmd_incoming},
	{"migrate", "DEVICE", "--to HOST:PORT --token TOKEN [--downtime-limit MS]\n"
	    "        [--max-bandwidth RATE] [--switchover auto|manual] [--channels N]\n"
	    "        [--dest-device NAME] [--wait]",
	    "migrate DEVICE from here to the destination",
	    migrate_options, migrate_option, cmd_migrate},
	{"migrations", NULL, NULL, "list the migrations",
	    NULL, NULL, cmd_migrations},
	{"show", "ID", NULL, "show one migration",
	    NULL, NULL, cmd_show},
	{"switchover", "ID", NULL, "go to stop-copy (switchover manual)",
	    NULL, NULL, cmd_switchover},
	{"cancel", "ID", NULL, "cancel a migration",
	    NULL, NULL, cmd_cancel},
	{"watch", "[ID]", NULL, "follow the daemon's events",
	    NULL, NULL, cmd_watch},
};

#define CTL_NCOMMANDS (sizeof(ctl_commands) / sizeof(ctl_commands[0]))

/* --- command line --- */

static void
ctl_help(void)
{
	const struct ctl_command *cmd;
	char head[64];
	size_t i;

	printf("usage: vfio-migctl [-s SOCKET] [--json] COMMAND [ARGUMENTS]\n\ncommands:\n");
	for (i = 0; i < CTL_NCOMMANDS; i++) {
		cmd = &ctl_commands[i];
		snprintf(head, sizeof(head), "%s%s%s", cmd->name, cmd->operand != NULL ? " " : "",
		    cmd->operand != NULL ? cmd->operand : "");
		printf("  %-20s %s\n", head, cmd->summary);
		if (cmd->options != NULL)
			printf("      %s\n", cmd->options);
	}
	printf("\noptions:\n"
	    "  -s, --socket SOCKET  the control socket (default: $" CTL_SOCKET_ENV ",\n"
	    "                       else " CTL_DEFAULT_SOCKET ")\n"
	    "  -j, --json           print the API's JSON, one object per line\n"
	    "  -h, --help           show this help (COMMAND --help: that command's usage)\n"
	    "  -V, --version        show the version\n"
	    "\nexit status: 0 success (migrate --wait: completed), 1 the migration failed or\n"
	    "was cancelled, or the daemon refused the request, 2 usage error, 3 the daemon\n"
	    "is unreachable or did not answer sensibly. See vfio-migctl(8).\n");
}

static const struct ctl_command *
ctl_find_command(const char *name)
{
	size_t i;

	for (i = 0; i < CTL_NCOMMANDS; i++)
		if (strcmp(ctl_commands[i].name, name) == 0)
			return &ctl_commands[i];
	return NULL;
}

static const char *
option_name(const struct option *options, int val, char *buf, size_t len)
{
	for (; options->name != NULL; options++)
		if (options->val == val) {
			snprintf(buf, len, "--%s", options->name);
			return buf;
		}
	snprintf(buf, len, "-%c", val);
	return buf;
}

/* getopt said '?': an unknown option, or a value given to a flag. */
static int
ctl_bad_option(const struct ctl *ctl, const char *arg)
{
	if (strncmp(arg, "--", 2) == 0 && strchr(arg, '=') != NULL)
		return ctl_usage_error(ctl, "unknown option, or one that takes no value: '%s'",
		    arg);
	if (strncmp(arg, "--", 2) == 0)
		return ctl_usage_error(ctl, "unknown option '%s'", arg);
	return ctl_usage_error(ctl, "unknown option '-%c'", optopt);
}

/* The command's options (after its name; they may follow the operand) and
 * its operand. */
static int
ctl_parse_command(struct ctl *ctl, int argc, char **argv, const char **operand)
{
	const struct ctl_command *cmd = ctl->command;
	const struct option *options = cmd->long_options != NULL ? cmd->long_options
								 : common_options;
	char name[64];
	int ch, rc;

	optind = 0;
	while ((ch = getopt_long(argc, argv, ":hj", options, NULL)) != -1) {
		switch (ch) {
		case 'j':
			ctl->json = 1;
			break;
		case 'h':
			ctl_command_usage(stdout, cmd);
			return CTL_HELP_SHOWN;
		case ':':
			return ctl_usage_error(ctl, "%s needs a value",
			    option_name(options, optopt, name, sizeof(name)));
		case '?':
			return ctl_bad_option(ctl, argv[optind - 1]);
		default:
			if ((rc = cmd->option(ctl, ch, optarg)) != CTL_EXIT_OK)
				return rc;
		}
	}
	*operand = optind < argc ? argv[optind] : NULL;
	if (cmd->operand == NULL && *operand != NULL)
		return ctl_usage_error(ctl, "unexpected argument '%s'", *operand);
	if (cmd->operand != NULL && cmd->operand[0] != '[' && *operand == NULL)
		return ctl_usage_error(ctl, "missing %s", cmd->operand);
	if (*operand != NULL && optind + 1 < argc)
		return ctl_usage_error(ctl, "unexpected argument '%s'", argv[optind + 1]);
	if (*operand != NULL && **operand == '\0')
		return ctl_usage_error(ctl, "%s must not be empty", cmd->operand);
	return CTL_EXIT_OK;
}

static int
ctl_set_socket(struct ctl *ctl, const char *path, const char *origin)
{
	struct sockaddr_un addr;

	if (*path == '\0')
		return ctl_usage_error(ctl, "%s: the socket path must not be empty", origin);
	if (strlen(path) >= sizeof(addr.sun_path))
		return ctl_usage_error(ctl, "%s: the socket path is longer than %zu bytes",
		    origin, sizeof(addr.sun_path) - 1);
	ctl->socket_path = path;
	return CTL_EXIT_OK;
}

static int
ctl_parse(struct ctl *ctl, int argc, char **argv, const char **operand)
{
	static const struct option options[] = {
		{"socket", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *env = getenv(CTL_SOCKET_ENV), *socket_arg = NULL;
	int ch, rc;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:s:jhV", options, NULL)) != -1) {
		switch (ch) {
		case 's':
			socket_arg = optarg;
			break;
		case 'j':
			ctl->json = 1;
			break;
		case 'h':
			ctl_help();
			return CTL_HELP_SHOWN;
		case 'V':
			printf("vfio-migctl %s\n", PACKAGE_VERSION);
			return CTL_HELP_SHOWN;
		case ':':
			return ctl_usage_error(ctl, "%s needs a value",
			    optopt == 's' ? "-s/--socket" : "an option");
		default:
			return ctl_bad_option(ctl, argv[optind - 1]);
		}
	}
	if (socket_arg != NULL)
		rc = ctl_set_socket(ctl, socket_arg, "-s");
	else if (env != NULL && *env != '\0')
		rc = ctl_set_socket(ctl, env, CTL_SOCKET_ENV);
	else
		rc = ctl_set_socket(ctl, CTL_DEFAULT_SOCKET, "default");
	if (rc != CTL_EXIT_OK)
		return rc;
	if (optind >= argc)
		return ctl_usage_error(ctl, "missing command (health, devices, device, incoming, "
		    "migrate, migrations, show, switchover, cancel, watch)");
	if ((ctl->command = ctl_find_command(argv[optind])) == NULL)
		return ctl_usage_error(ctl, "unknown command '%s'", argv[optind]);
	return ctl_parse_command(ctl, argc - optind, argv + optind, operand);
}

int
main(int argc, char **argv)
{
	const char *operand = NULL;
	struct ctl ctl;
	int rc;

	log_init("vfio-migctl", LOG_LEVEL_WARNING);
	memset(&ctl, 0, sizeof(ctl));
	rc = ctl_parse(&ctl, argc, argv, &operand);
	if (rc == CTL_HELP_SHOWN)
		rc = CTL_EXIT_OK;
	else if (rc == CTL_EXIT_OK)
		rc = ctl.command->run(&ctl, operand);
	if (ctl_progress_line)
		fputc('\n', stdout);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ctl_warn("writing to standard output");
		if (rc == CTL_EXIT_OK)
			rc = CTL_EXIT_FAILED;
	}
	return rc;
}
