/*
 * vfio-migd.c: the daemon's entry point: configuration, devices, the TLS
 * listener, the control API, signals, and an orderly exit.
 *
 * One process, one libevent loop, no threads: every migration is a state
 * machine driven by socket and timer events, so no locks are needed.
 */
#include "config.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "config_file.h"
#include "control.h"
#include "daemon.h"
#include "device.h"
#include "engine.h"
#include "errors.h"
#include "events.h"
#include "frame.h"
#include "handover.h"
#include "hook.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "migration.h"
#include "peer.h"
#include "tls.h"
#include "xmalloc.h"

#define SHUTDOWN_GRACE_MS 2000

static struct mig_config **old_configs;
static struct event *grace;
static size_t nold_configs;

int main(int argc, char **argv);

static void
usage(void)
{
	fprintf(stderr, "usage: vfio-migd [-ftV] [-c FILE]\n"
			"  -c FILE  configuration file (default %s)\n"
			"  -f       stay in the foreground\n"
			"  -t       check the configuration and exit\n"
			"  -V       print the version and exit\n",
	    MIG_CONFIG_DEFAULT_PATH);
	exit(2);
}

static int
tls_load(const struct mig_config *cfg, SSL_CTX **server, SSL_CTX **client)
{
	char err[512];
	long days;
	int ok;

	*server = mig_tls_ctx_new(1, cfg->tls.ca, cfg->tls.cert, cfg->tls.key, err, sizeof(err));
	if (*server == NULL) {
		log_warnx("TLS: %s", err);
		return -1;
	}
	*client = mig_tls_ctx_new(0, cfg->tls.ca, cfg->tls.cert, cfg->tls.key, err, sizeof(err));
	if (*client == NULL) {
		log_warnx("TLS: %s", err);
		SSL_CTX_free(*server);
		return -1;
	}
	if (cfg->tls.groups != NULL &&
	    (mig_tls_ctx_set_groups(*server, cfg->tls.groups, err, sizeof(err)) != 0 ||
		mig_tls_ctx_set_groups(*client, cfg->tls.groups, err, sizeof(err)) != 0)) {
		log_warnx("TLS: [tls] groups: %s", err);
		SSL_CTX_free(*server);
		SSL_CTX_free(*client);
		return -1;
	}
	days = mig_tls_cert_days_left(cfg->tls.cert, &ok);
	if (ok && days < 30)
		log_warnx("TLS: certificate %s expires in %ld days", cfg->tls.cert, days);
	return 0;
}

static int
ensure_state_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			log_warnx("state_dir %s: not a directory", dir);
			return -1;
		}
		return 0;
	}
	if (mkdir(dir, 0750) != 0) {
		log_warn("state_dir %s: cannot create it", dir);
		return -1;
	}
	return 0;
}

/* SIGHUP: new TLS material, hook and migration defaults, the metrics
 * listener's address; devices, listen addresses and the control socket
 * need a restart. Running migrations keep the options and TLS sessions
 * they started with. */
static void
reload(void)
{
	struct mig_config *cfg, *old = daemon_ctx.cfg;
	SSL_CTX *server, *client;
	char err[4096];

	log_info("SIGHUP: reloading %s", old->path);
	if (mig_config_load(old->path, &cfg, err, sizeof(err)) != 0) {
		log_warnx("reload refused, keeping the running configuration:\n%s", err);
		return;
	}
	if (tls_load(cfg, &server, &client) != 0) {
		log_warnx("reload refused, keeping the running configuration and TLS material");
		mig_config_free(cfg);
		return;
	}
	if (cfg->ndevices != old->ndevices || cfg->daemon.nlisten != old->daemon.nlisten ||
	    strcmp(cfg->daemon.control, old->daemon.control) != 0 ||
	    (cfg->daemon.handover == NULL) != (old->daemon.handover == NULL) ||
	    (cfg->daemon.handover != NULL &&
	    strcmp(cfg->daemon.handover, old->daemon.handover) != 0))
		log_warnx("reload: changes to devices, listen, control or handover take effect on "
			  "restart");
	SSL_CTX_free(daemon_ctx.tls_server);
	SSL_CTX_free(daemon_ctx.tls_client);
	daemon_ctx.tls_server = server;
	daemon_ctx.tls_client = client;
	/* Devices keep pointers into the configuration they were opened with. */
	old_configs = xrealloc(old_configs, (nold_configs + 1) * sizeof(*old_configs));
	old_configs[nold_configs++] = old;
	daemon_ctx.cfg = cfg;
	log_set_level(cfg->daemon.log_level);
	(void)metrics_http_reconfigure(cfg->daemon.metrics_listen);
	log_info("reloaded: TLS material, allowed_peers, hook, migration defaults, log level, "
		 "metrics_listen");
	daemon_notify("STATUS=reloaded configuration");
}

static void
shutdown_done_cb(evutil_socket_t fd, short what, void *arg)
{
	/* 200 ms more for what is said now to reach the event streams. */
	struct timeval flush = {0, 200000};

	hook_stop();
	event_base_loopexit(daemon_ctx.base, &flush);
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct timeval tv = {SHUTDOWN_GRACE_MS / 1000, (SHUTDOWN_GRACE_MS % 1000) * 1000};
	unsigned active;

	if (sig == SIGHUP) {
		reload();
		return;
	}
	if (daemon_ctx.shutting_down) {
		log_warnx("second signal: exiting now");
		event_base_loopbreak(daemon_ctx.base);
		return;
	}
	daemon_ctx.shutting_down = 1;
	daemon_notify("STOPPING=1");
	active = migration_count_active();
	log_info("signal %d: shutting down; rolling back %u running migration%s", (int)sig, active,
	    active == 1 ? "" : "s");
	migration_abort_all(MIG_E_SHUTDOWN, "the daemon is shutting down");
	peer_listen_close();
	/* Let ERROR frames reach the peers before the loop ends. */
	if (active == 0)
		tv.tv_sec = 0, tv.tv_usec = 0;
	grace = evtimer_new(daemon_ctx.base, shutdown_done_cb, NULL);
	evtimer_add(grace, &tv);
}

/*
 * Who hears of every migration's life, in this order: the journal first
 * (its record exists before anyone acts on a change, and a new migration's
 * engine waits until it is on disk), then metrics, the event stream, and
 * the hook last (it runs outside programs, which may ask the API).
 */
static void
observers_register(void)
{
	migration_observers_clear();
	(void)migration_observe(&journal_observer);
	(void)migration_observe(&metrics_observer);
	(void)migration_observe(&events_observer);
	(void)migration_observe(&hook_observer);
}

/* The line operators and tests wait for: devices, and where peers reach
 * us (a configured port 0 shows the port the kernel chose). */
static void
log_ready(void)
{
	char addrs[1024] = "";
	size_t i, off = 0;
	int n;

	for (i = 0; i < peer_listen_count() && off < sizeof(addrs); i++) {
		n = snprintf(addrs + off, sizeof(addrs) - off, "%s%s", i > 0 ? " " : "",
		    peer_listen_address(i));
		if (n < 0)
			break;
		off += (size_t)n;
	}
	log_info("vfio-migd %s ready: %zu device%s, listening on %s", PACKAGE_VERSION,
	    device_count(), device_count() == 1 ? "" : "s", addrs);
}

int
main(int argc, char **argv)
{
	const char *path = MIG_CONFIG_DEFAULT_PATH;
	struct event *sigs[4];
	static const int signals[] = {SIGINT, SIGTERM, SIGHUP};
	struct mig_config *cfg;
	int ch, foreground = 0, check_only = 0, rc = 1;
	char err[8192];
	size_t i;

	while ((ch = getopt(argc, argv, "c:ftVh")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		case 't':
			check_only = 1;
			break;
		case 'V':
			printf("vfio-migd %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	log_init("vfio-migd", LOG_LEVEL_INFO);
	if (mig_config_load(path, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s", err);
		if (err[0] != '\0' && err[strlen(err) - 1] != '\n')
			fputc('\n', stderr);
		fprintf(stderr, "vfio-migd: configuration %s is not valid\n", path);
		return 1;
	}
	if (check_only) {
		printf("configuration %s is valid: %zu device%s, %zu listen address%s\n", path,
		    cfg->ndevices, cfg->ndevices == 1 ? "" : "s", cfg->daemon.nlisten,
		    cfg->daemon.nlisten == 1 ? "" : "es");
		mig_config_free(cfg);
		return 0;
	}
	log_set_level(cfg->daemon.log_level);
	signal(SIGPIPE, SIG_IGN);
	/* Chunk-sized buffers come and go all the time: keep them in the heap
	 * instead of a fresh mmap (page faults, zeroing) for every one. The
	 * heap stays bounded by what migrations hold at once. */
	mallopt(M_MMAP_THRESHOLD, (int)(MIG_FRAME_MAX_PAYLOAD + (1u << 20)));
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	daemon_ctx.cfg = cfg;
	if (tls_load(cfg, &daemon_ctx.tls_server, &daemon_ctx.tls_client) != 0)
		goto out_cfg;
	if (ensure_state_dir(cfg->daemon.state_dir) != 0)
		goto out_tls;
	daemon_ctx.base = event_base_new();
	if (devices_open(cfg, daemon_ctx.base) != 0)
		goto out_base;
	observers_register();
	if (journal_init(cfg->daemon.state_dir) != 0)
		goto out_devices;
	if (peer_listen_all(dest_on_hello) != 0)
		goto out_devices;
	if (metrics_http_start(daemon_ctx.base, cfg->daemon.metrics_listen) != 0)
		goto out_listen;
	if (control_start(daemon_ctx.base, cfg->daemon.control, cfg->daemon.control_group) != 0)
		goto out_listen;
	if (cfg->daemon.handover != NULL && handover_start(daemon_ctx.base, cfg->daemon.handover,
	    cfg->daemon.control_group) != 0) {
		control_stop();
		goto out_listen;
	}
	for (i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
		sigs[i] = evsignal_new(daemon_ctx.base, signals[i], signal_cb, NULL);
		evsignal_add(sigs[i], NULL);
	}
	if (!foreground && daemon(0, 1) != 0) {
		log_warn("cannot go to the background");
		goto out_control;
	}
	log_ready();
	daemon_notify("READY=1\nSTATUS=ready, %zu devices", device_count());
	event_base_dispatch(daemon_ctx.base);
	log_info("exiting");
	rc = 0;
out_control:
	for (i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		event_free(sigs[i]);
	handover_stop();
	control_stop();
	hook_shutdown();
	if (grace != NULL)
		event_free(grace);
out_listen:
	metrics_http_stop();
	peer_listen_close();
out_devices:
	migrations_exiting = 1;
	migration_abort_all(MIG_E_SHUTDOWN, "the daemon is shutting down");
	/* Rollbacks and resets run on the devices' threads: they end the
	 * migrations on record before anything is freed. */
	devices_settle();
	migration_free_all();
	peer_close_all();
	journal_close();
	devices_close();
out_base:
	event_base_free(daemon_ctx.base);
out_tls:
	SSL_CTX_free(daemon_ctx.tls_server);
	SSL_CTX_free(daemon_ctx.tls_client);
out_cfg:
	for (i = 0; i < nold_configs; i++)
		mig_config_free(old_configs[i]);
	free(old_configs);
	mig_config_free(daemon_ctx.cfg);
	return rc;
}
