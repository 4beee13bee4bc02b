/*
 * vfio-migctl.c: the command-line client of the control API (SPEC §4, §5):
 * the command table, strict parsing of the command line, and main().
 *
 * One table entry per command, as tmux keeps them: the commands that are
 * one request each are here; migrate (with its --wait loop) and watch have
 * their own files. The HTTP client is http.c, the API's requests api.c,
 * what people see render.c.
 *
 * Never: retry a request that changes state, interpret a migration beyond
 * showing it, or guess at a response it cannot parse: a daemon that does
 * not answer sensibly is "unreachable" (exit 3), the same as no daemon.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "ctl.h"
#include "log.h"
#include "render.h"

/* The daemon's own default (SPEC §2), not derived from --runstatedir:
 * the CLI must find the socket wherever the CLI was installed. */
#define CTL_DEFAULT_SOCKET "/run/vfio-migd/control.sock"
#define CTL_SOCKET_ENV "VFIO_MIGD_SOCKET"

static int
cmd_health(struct ctl *ctl, const char *operand)
{
	return api_show(ctl, "GET", "/v1/health", render_fields);
}

static int
cmd_devices(struct ctl *ctl, const char *operand)
{
	return api_show(ctl, "GET", "/v1/devices", render_devices);
}

static int
cmd_device(struct ctl *ctl, const char *name)
{
	return api_show_operand(ctl, "GET", "/v1/devices/", name, "", render_fields);
}

static int
cmd_incoming(struct ctl *ctl, const char *device)
{
	json_t *req, *list, *res;
	int i, rc;

	if (ctl->noperands <= 1)
		return api_show_operand(ctl, "POST", "/v1/devices/", device, "/incoming",
		    render_fields);
	/* Several devices under one token (SPEC §9). */
	list = json_array();
	for (i = 0; i < ctl->noperands; i++)
		json_array_append_new(list, json_string(ctl->operands[i]));
	req = json_pack("{s:o}", "devices", list);
	rc = api_request(ctl, "POST", "/v1/incoming", req, &res);
	json_decref(req);
	if (rc != CTL_EXIT_OK)
		return rc;
	if (ctl->json)
		render_json(res);
	else
		render_fields(res);
	json_decref(res);
	return CTL_EXIT_OK;
}

static int
cmd_migrations(struct ctl *ctl, const char *operand)
{
	return api_show(ctl, "GET", "/v1/migrations", render_migrations);
}

static int
cmd_show(struct ctl *ctl, const char *id)
{
	return api_show_operand(ctl, "GET", "/v1/migrations/", id, "", render_fields);
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

static const struct option common_options[] = {
	{"json", no_argument, NULL, 'j'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static const struct ctl_command ctl_commands[] = {
	{"health", NULL, NULL, "check that the daemon answers",
	    NULL, NULL, cmd_health},
	{"devices", NULL, NULL, "list the devices with state and capabilities",
	    NULL, NULL, cmd_devices},
	{"device", "NAME", NULL, "show one device",
	    NULL, NULL, cmd_device},
	{"incoming", "DEVICE...", NULL,
	    "prepare DEVICE here to receive (several: one migration); prints the token",
	    NULL, NULL, cmd_incoming},
	{"migrate", "DEVICE...", "--to HOST:PORT --token TOKEN [--downtime-limit MS]\n"
	    "        [--max-bandwidth RATE] [--switchover auto|manual] [--channels N]\n"
	    "        [--dest-device NAME]... [--unsafe-no-p2p] [--compression none|zstd|auto]\n"
	    "        [--wait]",
	    "migrate DEVICE from here to the destination (several: as one migration)",
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
	{"attach", "NAME", "--fd N --backend vfio-v2|vfio-v1|vfio-user\n"
	    "        [--iova START:LENGTH]... [--container-fd N]\n"
	    "        [--final-state stopped|running] [--page-size N] [--owner-pid PID]\n"
	    "        [--max-data-xfer-size N] [--vfio-user-timeout-ms MS]\n"
	    "        [--handover-socket PATH]",
	    "hand the device fd N (or a vfio-user server's connected socket, inherited)\n"
	    "        over to the daemon as NAME",
	    attach_options, attach_option, cmd_attach},
	{"detach", "NAME", "[--handover-socket PATH]", "take a handed-over device back",
	    detach_options, attach_option, cmd_detach},
};

#define CTL_NCOMMANDS (sizeof(ctl_commands) / sizeof(ctl_commands[0]))

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

/* A repeating operand ("DEVICE..."): every one, each checked, none twice. */
static int
ctl_collect_operands(struct ctl *ctl, int argc, char **argv)
{
	const char *o = ctl->command->operand;
	int i, j;

	if (o == NULL || strlen(o) < 3 || strcmp(o + strlen(o) - 3, "...") != 0)
		return CTL_EXIT_OK;
	if (argc - optind > CTL_OPERANDS_MAX)
		return ctl_usage_error(ctl, "at most %d devices in one migration", CTL_OPERANDS_MAX);
	for (i = optind; i < argc; i++) {
		if (argv[i][0] == '\0')
			return ctl_usage_error(ctl, "DEVICE must not be empty");
		for (j = optind; j < i; j++)
			if (strcmp(argv[j], argv[i]) == 0)
				return ctl_usage_error(ctl, "device '%s' named twice", argv[i]);
		ctl->operands[ctl->noperands++] = argv[i];
	}
	return CTL_EXIT_OK;
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
	if ((rc = ctl_collect_operands(ctl, argc, argv)) != CTL_EXIT_OK)
		return rc;
	if (*operand != NULL && optind + 1 < argc && ctl->noperands == 0)
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
		    "migrate, migrations, show, switchover, cancel, watch, attach, detach)");
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
	ctl_line_close();
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ctl_warn("writing to standard output");
		if (rc == CTL_EXIT_OK)
			rc = CTL_EXIT_FAILED;
	}
	return rc;
}
