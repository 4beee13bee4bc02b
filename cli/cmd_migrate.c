/*
 * cmd_migrate.c: `vfio-migctl migrate DEVICE --to HOST:PORT --token TOKEN
 * [options] [--wait]` (SPEC §5).
 *
 * Owns migrate's options, checked against the daemon's own ranges
 * (ranges.h) so a mistake is caught before it travels, and --wait: polling
 * the migration until its phase is final, with a progress line on a
 * terminal and, with --json, the final migration object as the last line.
 * Never: retry the POST, or stop the migration when the wait is interrupted.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "api.h"
#include "ctl.h"
#include "parse.h"
#include "ranges.h"
#include "render.h"

#define MIGRATE_POLL_INTERVAL_MS 250

enum {
	OPT_TO = 256,
	OPT_TOKEN,
	OPT_DOWNTIME_LIMIT,
	OPT_MAX_BANDWIDTH,
	OPT_SWITCHOVER,
	OPT_CHANNELS,
	OPT_DEST_DEVICE,
	OPT_UNSAFE_NO_P2P,
	OPT_WAIT,
	OPT_COMPRESSION,
};

/* What --wait has put on the screen so far. */
struct migrate_view {
	int tty;
	char phase[32];
	json_t *printed; /* --json: the last object printed */
};

const struct option migrate_options[] = {
	{"json", no_argument, NULL, 'j'},
	{"help", no_argument, NULL, 'h'},
	{"to", required_argument, NULL, OPT_TO},
	{"token", required_argument, NULL, OPT_TOKEN},
	{"downtime-limit", required_argument, NULL, OPT_DOWNTIME_LIMIT},
	{"max-bandwidth", required_argument, NULL, OPT_MAX_BANDWIDTH},
	{"switchover", required_argument, NULL, OPT_SWITCHOVER},
	{"channels", required_argument, NULL, OPT_CHANNELS},
	{"dest-device", required_argument, NULL, OPT_DEST_DEVICE},
	{"unsafe-no-p2p", no_argument, NULL, OPT_UNSAFE_NO_P2P},
	{"wait", no_argument, NULL, OPT_WAIT},
	{"compression", required_argument, NULL, OPT_COMPRESSION},
	{NULL, 0, NULL, 0},
};

/* The options with a number or an address. */
static int
migrate_option_value(struct ctl *ctl, int opt, const char *arg)
{
	struct ctl_migrate_args *m = &ctl->migrate;
	char host[MIG_HOST_MAX + 1], most[32];
	uint16_t port;

	switch (opt) {
	case OPT_TO:
		if (mig_parse_hostport(arg, host, sizeof(host), &port) != 0)
			return ctl_usage_error(ctl, "--to: '%s' is not HOST:PORT or [IPV6]:PORT",
			    arg);
		m->to = arg;
		break;
	case OPT_DOWNTIME_LIMIT:
		if (mig_parse_uint(arg, MIG_DOWNTIME_LIMIT_MS_MIN, MIG_DOWNTIME_LIMIT_MS_MAX,
		    &m->downtime_limit_ms) != 0)
			return ctl_usage_error(ctl, "--downtime-limit: '%s' is not a number of "
			    "milliseconds from %d to %d", arg, MIG_DOWNTIME_LIMIT_MS_MIN,
			    MIG_DOWNTIME_LIMIT_MS_MAX);
		break;
	case OPT_MAX_BANDWIDTH:
		if (mig_parse_size_within(arg, 0, MIG_BANDWIDTH_MAX, 1, &m->max_bandwidth) != 0)
			return ctl_usage_error(ctl, "--max-bandwidth: '%s' is not a rate in bytes/s "
			    "(a number with an optional K, M, G or T; 0 = unlimited; at most %s)",
			    arg, mig_format_size(MIG_BANDWIDTH_MAX, most, sizeof(most)));
		m->has_max_bandwidth = 1;
		break;
	case OPT_CHANNELS:
		if (mig_parse_uint(arg, MIG_MIGRATION_CHANNELS_MIN, MIG_MIGRATION_CHANNELS_MAX,
		    &m->channels) != 0)
			return ctl_usage_error(ctl, "--channels: '%s' is not a number from %d to %d",
			    arg, MIG_MIGRATION_CHANNELS_MIN, MIG_MIGRATION_CHANNELS_MAX);
		break;
	}
	return CTL_EXIT_OK;
}

int
migrate_option(struct ctl *ctl, int opt, const char *arg)
{
	struct ctl_migrate_args *m = &ctl->migrate;

	switch (opt) {
	case OPT_TOKEN:
		if (*arg == '\0')
			return ctl_usage_error(ctl, "--token: must not be empty");
		if (strlen(arg) > MIG_TOKEN_LEN_MAX)
			return ctl_usage_error(ctl, "--token: longer than %d characters",
			    MIG_TOKEN_LEN_MAX);
		m->token = arg;
		break;
	case OPT_SWITCHOVER:
		if (strcmp(arg, "auto") != 0 && strcmp(arg, "manual") != 0)
			return ctl_usage_error(ctl, "--switchover: '%s' is not auto or manual", arg);
		m->switchover = arg;
		break;
	case OPT_COMPRESSION:
		if (strcmp(arg, "none") != 0 && strcmp(arg, "zstd") != 0 && strcmp(arg, "auto") != 0)
			return ctl_usage_error(ctl, "--compression: '%s' is not none, zstd or auto",
			    arg);
		m->compression = arg;
		break;
	case OPT_DEST_DEVICE:
		if (!mig_valid_name(arg, MIG_DEVICE_NAME_MAX))
			return ctl_usage_error(ctl, "--dest-device: '%s' is not a device name "
			    "(1..%d of A-Z a-z 0-9 _ . -)", arg, MIG_DEVICE_NAME_MAX);
		if (m->ndest == CTL_OPERANDS_MAX)
			return ctl_usage_error(ctl, "--dest-device: at most %d", CTL_OPERANDS_MAX);
		m->dest_device = arg;
		m->dest_devices[m->ndest++] = arg;
		break;
	case OPT_UNSAFE_NO_P2P:
		m->unsafe_no_p2p = 1;
		break;
	case OPT_WAIT:
		m->wait = 1;
		break;
	default:
		return migrate_option_value(ctl, opt, arg);
	}
	return CTL_EXIT_OK;
}

static int
migrate_set_string(json_t *obj, const char *key, const char *value)
{
	json_t *s = json_string(value);

	return s != NULL ? json_object_set_new(obj, key, s) : -1;
}

/* Several devices: "devices", "dest_devices" (paired, in order). */
static int
migrate_devices(const struct ctl *ctl, json_t *req)
{
	const struct ctl_migrate_args *m = &ctl->migrate;
	json_t *list = json_array(), *dest = json_array();
	int i;

	for (i = 0; i < ctl->noperands; i++)
		json_array_append_new(list, json_string(ctl->operands[i]));
	for (i = 0; i < m->ndest; i++)
		json_array_append_new(dest, json_string(m->dest_devices[i]));
	json_object_set_new(req, "devices", list);
	if (m->ndest > 0)
		json_object_set_new(req, "dest_devices", dest);
	else
		json_decref(dest);
	if (m->unsafe_no_p2p)
		json_object_set_new(req, "unsafe_no_p2p", json_true());
	return 0;
}

static json_t *
migrate_request(const struct ctl *ctl, const char *device)
{
	const struct ctl_migrate_args *m = &ctl->migrate;
	json_t *req = json_object();

	if ((ctl->noperands > 1 ? migrate_devices(ctl, req)
				: migrate_set_string(req, "device", device)) != 0 ||
	    migrate_set_string(req, "destination", m->to) != 0 ||
	    migrate_set_string(req, "token", m->token) != 0 ||
	    (m->switchover != NULL && migrate_set_string(req, "switchover", m->switchover) != 0) ||
	    (m->compression != NULL &&
		migrate_set_string(req, "compression", m->compression) != 0) ||
	    (m->dest_device != NULL && ctl->noperands <= 1 &&
		migrate_set_string(req, "dest_device", m->dest_device) != 0)) {
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
migrate_phase_is_final(const char *phase)
{
	return strcmp(phase, "completed") == 0 || strcmp(phase, "failed") == 0 ||
	    strcmp(phase, "cancelled") == 0;
}

/* --json prints an object again only when something a script reads moved. */
static int
migrate_same_figures(json_t *a, json_t *b)
{
	static const char *const keys[] = {"phase", "bytes_transferred", "pending_bytes",
		"dirty_pages", "iterations", "error"};
	json_t *x, *y;
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		x = json_object_get(a, keys[i]);
		y = json_object_get(b, keys[i]);
		if (x != y && !json_equal(x, y))
			return 0;
	}
	return 1;
}

static void
migrate_show(const struct ctl *ctl, struct migrate_view *w, json_t *mig)
{
	const char *phase = render_string(mig, "phase");

	if (ctl->json) {
		if (w->printed == NULL || !migrate_same_figures(w->printed, mig)) {
			render_json(mig);
			json_decref(w->printed);
			w->printed = json_incref(mig);
		}
	} else if (w->tty) {
		render_progress_line(mig);
	} else if (strcmp(phase, w->phase) != 0) {
		render_migration_line(mig);
		fflush(stdout);
	}
	snprintf(w->phase, sizeof(w->phase), "%s", phase);
}

static int
migrate_finish(const struct ctl *ctl, struct migrate_view *w, json_t *mig)
{
	const char *phase = render_string(mig, "phase");
	json_t *err = json_object_get(mig, "error");
	char bytes[32], total[32], downtime[32];

	if (ctl->json) {
		if (!json_equal(w->printed, mig))
			render_json(mig);
	} else {
		ctl_line_close();
		printf("migration %s %s: %s transferred in %s, downtime %s\n",
		    render_dash(render_string(mig, "id")), phase,
		    render_bytes(bytes, sizeof(bytes), render_u64(mig, "bytes_transferred")),
		    render_duration(total, sizeof(total), render_u64(mig, "total_ms")),
		    render_duration(downtime, sizeof(downtime), render_u64(mig, "downtime_ms")));
		fflush(stdout);
	}
	if (strcmp(phase, "completed") == 0)
		return CTL_EXIT_OK;
	if (render_string(err, "code") != NULL)
		ctl_warnx("migration %s %s: %s: %s", render_dash(render_string(mig, "id")), phase,
		    render_string(err, "code"), render_dash(render_string(err, "message")));
	return CTL_EXIT_FAILED;
}

/* Poll the migration (mig, reference taken) until its phase is final. */
static int
migrate_follow(const struct ctl *ctl, struct migrate_view *w, const char *path, json_t *mig)
{
	const char *phase;
	json_t *next;
	int rc;

	for (;;) {
		if ((phase = render_string(mig, "phase")) == NULL) {
			ctl_warnx("the daemon on %s sent a migration without a phase",
			    ctl->socket_path);
			rc = CTL_EXIT_UNREACHABLE;
			break;
		}
		migrate_show(ctl, w, mig);
		if (migrate_phase_is_final(phase)) {
			rc = migrate_finish(ctl, w, mig);
			break;
		}
		if ((rc = ctl_sleep(MIGRATE_POLL_INTERVAL_MS)) != CTL_EXIT_OK ||
		    (rc = api_request(ctl, "GET", path, NULL, &next)) != CTL_EXIT_OK)
			break;
		json_decref(mig);
		mig = next;
	}
	json_decref(mig);
	return rc;
}

static int
migrate_wait(const struct ctl *ctl, json_t *first)
{
	const char *id = render_string(first, "id");
	struct migrate_view w;
	char *path;
	int rc;

	if (id == NULL) {
		ctl_warnx("the daemon on %s sent a migration without an id", ctl->socket_path);
		return CTL_EXIT_UNREACHABLE;
	}
	memset(&w, 0, sizeof(w));
	w.tty = isatty(STDOUT_FILENO);
	path = api_path("/v1/migrations/", id, "");
	ctl_catch_sigint();
	rc = migrate_follow(ctl, &w, path, json_incref(first));
	if (rc == CTL_INTERRUPTED) {
		ctl_warnx("interrupted: migration %s continues; cancel it with "
		    "'vfio-migctl cancel %s'", id, id);
		rc = CTL_EXIT_FAILED;
	}
	json_decref(w.printed);
	free(path);
	return rc;
}

int
cmd_migrate(struct ctl *ctl, const char *device)
{
	json_t *req, *mig;
	int rc;

	if (ctl->migrate.to == NULL)
		return ctl_usage_error(ctl, "--to HOST:PORT is required");
	if (ctl->migrate.token == NULL)
		return ctl_usage_error(ctl, "--token TOKEN is required (from 'vfio-migctl "
		    "incoming' on the destination host)");
	if (ctl->migrate.ndest > 1 && ctl->migrate.ndest != ctl->noperands)
		return ctl_usage_error(ctl, "--dest-device given %d times for %d devices: once for "
		    "each, in order", ctl->migrate.ndest, ctl->noperands);
	if (ctl->migrate.ndest == 1 && ctl->noperands > 1)
		return ctl_usage_error(ctl, "--dest-device: once for each of the %d devices, in "
		    "order", ctl->noperands);
	if ((req = migrate_request(ctl, device)) == NULL)
		return ctl_usage_error(ctl, "DEVICE and --token must be valid UTF-8");
	rc = api_request(ctl, "POST", "/v1/migrations", req, &mig);
	json_decref(req);
	if (rc != CTL_EXIT_OK)
		return rc;
	if (ctl->migrate.wait)
		rc = migrate_wait(ctl, mig);
	else if (ctl->json)
		render_json(mig);
	else
		render_migration_line(mig);
	json_decref(mig);
	return rc;
}
