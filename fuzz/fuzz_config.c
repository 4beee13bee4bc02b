/*
 * fuzz_config.c: libFuzzer target for the configuration parser
 * (common/config_file.h: mig_config_load_string()).
 *
 * The input is the text of a configuration file, cut at its first NUL (the
 * loader refuses a file with one). Whatever the text, the parser returns
 * without crashing, leaking or hanging, and keeps its promises: what it
 * accepts holds only values its checks allow; what it refuses comes with
 * one "FILE:LINE: message" per line, in line order, naming lines the text
 * has. Parsed again into a small error buffer, the same text gets the same
 * answer and the start of the same report. Any broken promise aborts.
 *
 * Also linked into tests/test_fuzz_config, which replays
 * fuzz/corpus/config in every `make check`: this file must not define
 * main().
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_file.h"
#include "fuzz.h"
#include "parse.h"
#include "ranges.h"

#define FUZZ_CONFIG_NAME "fuzz.conf"
/* Reports of inputs of a few KiB fit; one that fills the buffer is checked
 * line by line but not compared with the short one. */
#define FUZZ_REPORT_MAX (4u << 20)
#define FUZZ_SHORT_MAX 80

struct fuzz_range {
	uint64_t value, min, max;
};

static void
check_ranges(const struct fuzz_range *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		FUZZ_CHECK(r[i].value >= r[i].min && r[i].value <= r[i].max);
}

static int
is_absolute(const char *path)
{
	return path != NULL && path[0] == '/';
}

static int
is_word(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && strchr("-_.", *s) == NULL)
			return 0;
	return 1;
}

static void
check_daemon(const struct mig_config *cfg)
{
	const struct fuzz_range ranges[] = {
		{cfg->daemon.hook_timeout_ms, MIG_HOOK_TIMEOUT_MS_MIN, MIG_HOOK_TIMEOUT_MS_MAX},
		{cfg->daemon.keepalive_interval_ms, MIG_KEEPALIVE_INTERVAL_MS_MIN,
		    MIG_KEEPALIVE_INTERVAL_MS_MAX},
		{cfg->daemon.peer_timeout_ms, MIG_PEER_TIMEOUT_MS_MIN, MIG_PEER_TIMEOUT_MS_MAX},
		{cfg->daemon.peer_timeout_ms, cfg->daemon.keepalive_interval_ms + 1, UINT32_MAX},
		{cfg->daemon.handshake_timeout_ms, MIG_HANDSHAKE_TIMEOUT_MS_MIN,
		    MIG_HANDSHAKE_TIMEOUT_MS_MAX},
		{cfg->daemon.max_connections, 1, MIG_MAX_CONNECTIONS_MAX},
		{cfg->daemon.max_migrations, 1, MIG_MAX_MIGRATIONS_MAX},
		{cfg->daemon.token_ttl_s, MIG_TOKEN_TTL_S_MIN, MIG_TOKEN_TTL_S_MAX},
		{cfg->daemon.max_watchers, 1, MIG_MAX_WATCHERS_MAX},
		{cfg->daemon.max_frame_size, MIG_MAX_FRAME_SIZE_MIN, MIG_MAX_FRAME_SIZE_MAX},
		{cfg->daemon.history, 1, MIG_HISTORY_MAX},
		{cfg->daemon.log_level, LOG_LEVEL_ERROR, LOG_LEVEL_DEBUG},
		{cfg->daemon.nlisten, 1, MIG_LISTEN_MAX},
	};
	char host[MIG_HOST_MAX + 1];
	uint16_t port;
	size_t i, j;

	check_ranges(ranges, sizeof(ranges) / sizeof(ranges[0]));
	for (i = 0; i < cfg->daemon.nlisten; i++) {
		FUZZ_CHECK(mig_parse_listen_address(cfg->daemon.listen[i], host, sizeof(host),
			       &port) == 0);
		for (j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(cfg->daemon.listen[i], cfg->daemon.listen[j]) != 0);
	}
	FUZZ_CHECK(cfg->daemon.metrics_listen == NULL ||
	    mig_parse_listen_address(cfg->daemon.metrics_listen, host, sizeof(host), &port) == 0);
	FUZZ_CHECK(is_absolute(cfg->daemon.control) && is_absolute(cfg->daemon.state_dir));
	FUZZ_CHECK(cfg->daemon.hook == NULL || is_absolute(cfg->daemon.hook));
	FUZZ_CHECK(cfg->daemon.control_group == NULL ||
	    is_word(cfg->daemon.control_group, SIZE_MAX));
}

static void
check_tls_and_migration(const struct mig_config *cfg)
{
	const struct fuzz_range ranges[] = {
		{cfg->tls.nallowed, 0, MIG_ALLOWED_PEERS_MAX},
		{cfg->migration.downtime_limit_ms, MIG_DOWNTIME_LIMIT_MS_MIN,
		    MIG_DOWNTIME_LIMIT_MS_MAX},
		{cfg->migration.max_bandwidth, 0, MIG_BANDWIDTH_MAX},
		{cfg->migration.precopy_timeout_s, MIG_PRECOPY_TIMEOUT_S_MIN,
		    MIG_PRECOPY_TIMEOUT_S_MAX},
		{(uint64_t)cfg->migration.switchover_manual, 0, 1},
		{cfg->migration.chunk_size, MIG_CHUNK_SIZE_MIN, MIG_CHUNK_SIZE_MAX},
		{cfg->migration.channels, MIG_MIGRATION_CHANNELS_MIN, MIG_MIGRATION_CHANNELS_MAX},
	};
	size_t i, j;

	check_ranges(ranges, sizeof(ranges) / sizeof(ranges[0]));
	FUZZ_CHECK(is_absolute(cfg->tls.ca) && is_absolute(cfg->tls.cert) &&
	    is_absolute(cfg->tls.key));
	for (i = 0; i < cfg->tls.nallowed; i++) {
		FUZZ_CHECK(cfg->tls.allowed_peers[i][0] != '\0');
		FUZZ_CHECK(strlen(cfg->tls.allowed_peers[i]) <= MIG_PEER_NAME_MAX);
		for (j = 0; j < i; j++)
			FUZZ_CHECK(strcasecmp(cfg->tls.allowed_peers[i],
				       cfg->tls.allowed_peers[j]) != 0);
	}
}

/* A software device: its own image, guest memory only with its size. */
static void
check_sim_device(const struct mig_device_config *dev)
{
	int gm = dev->guest_memory != NULL;
	const struct fuzz_range ranges[] = {
		{dev->size, MIG_SIM_SIZE_MIN, MIG_SIM_SIZE_MAX},
		{dev->dirty_rate, 0, MIG_SIM_DIRTY_RATE_MAX},
		{dev->guest_memory_size, gm ? MIG_GUEST_MEMORY_SIZE_MIN : 0,
		    gm ? MIG_GUEST_MEMORY_SIZE_MAX : 0},
		{dev->dma_dirty_rate, 0, gm ? MIG_SIM_DIRTY_RATE_MAX : 0},
		{dev->section_size, dev->section_size != 0 ? MIG_SECTION_SIZE_MIN : 0,
		    MIG_SECTION_SIZE_MAX},
	};

	check_ranges(ranges, sizeof(ranges) / sizeof(ranges[0]));
	FUZZ_CHECK(dev->size % MIG_SIM_PAGE == 0 && dev->guest_memory_size % MIG_SIM_PAGE == 0);
	FUZZ_CHECK(dev->section_size % MIG_SIM_PAGE == 0);
	FUZZ_CHECK(dev->path == NULL && is_absolute(dev->image));
	FUZZ_CHECK(dev->guest_memory == NULL || is_absolute(dev->guest_memory));
}

/* A kernel device: a path, and none of the software device's keys. */
static void
check_vfio_device(const struct mig_device_config *dev)
{
	FUZZ_CHECK(dev->path != NULL &&
	    (is_absolute(dev->path) || mig_valid_pci_address(dev->path)));
	FUZZ_CHECK(dev->image == NULL && dev->guest_memory == NULL);
	FUZZ_CHECK(dev->size == 0 && dev->dirty_rate == 0 && dev->guest_memory_size == 0);
	FUZZ_CHECK(dev->dma_dirty_rate == 0 && dev->seed == 0 && dev->section_size == 0);
}

static int
same_file(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static void
check_devices(const struct mig_config *cfg)
{
	const struct mig_device_config *a, *b;
	size_t i, j;

	FUZZ_CHECK(cfg->ndevices <= MIG_DEVICES_MAX);
	for (i = 0; i < cfg->ndevices; i++) {
		a = &cfg->devices[i];
		FUZZ_CHECK(is_word(a->name, MIG_DEVICE_NAME_MAX) && a->line > 0);
		if (a->backend == MIG_BACKEND_SIM || a->backend == MIG_BACKEND_SIM_V2)
			check_sim_device(a);
		else
			check_vfio_device(a);
		FUZZ_CHECK(!same_file(a->image, a->guest_memory));
		for (j = 0; j < i; j++) {
			b = &cfg->devices[j];
			FUZZ_CHECK(strcmp(a->name, b->name) != 0 && a->line > b->line);
			FUZZ_CHECK(!same_file(a->image, b->image) &&
			    !same_file(a->image, b->guest_memory));
			FUZZ_CHECK(!same_file(a->guest_memory, b->image) &&
			    !same_file(a->guest_memory, b->guest_memory));
		}
	}
}

/* Lines the parser reads: every '\n' ends one, and so does the end of a
 * text that does not end in one. */
static long
count_lines(const char *text)
{
	long n = 0;
	const char *c;

	for (c = text; *c != '\0'; c++)
		n += *c == '\n';
	return n + (c > text && c[-1] != '\n');
}

/* One report line: "FILE: message" (line 0) or "FILE:LINE: message".
 * Returns the line it names. */
static long
check_report_line(const char *line, long nlines)
{
	const char *p = line + strlen(FUZZ_CONFIG_NAME ":");
	char *end;
	long n;

	FUZZ_CHECK(strncmp(line, FUZZ_CONFIG_NAME ":", strlen(FUZZ_CONFIG_NAME ":")) == 0);
	if (*p == ' ')
		return 0;
	FUZZ_CHECK(isdigit((unsigned char)*p));
	n = strtol(p, &end, 10);
	FUZZ_CHECK(end[0] == ':' && end[1] == ' ' && n >= 1 && n <= nlines);
	return n;
}

/* Every whole line of the report; when it filled the buffer, its last
 * line may be cut anywhere and is not checked. */
static void
check_report(const char *report, size_t cap, long nlines)
{
	const char *line = report, *eol;
	long n, prev = 0;
	int filled = strlen(report) == cap - 1;

	FUZZ_CHECK(*report != '\0' && strlen(report) < cap);
	for (;;) {
		eol = strchr(line, '\n');
		if (eol == NULL && filled)
			break;
		n = check_report_line(line, nlines);
		FUZZ_CHECK(n >= prev);
		prev = n;
		if (eol == NULL)
			break;
		line = eol + 1;
	}
}

/* The same text with a report buffer of 0 (NULL) to FUZZ_SHORT_MAX - 1
 * bytes: the same answer, the start of the same report. */
static void
check_short_report(const char *text, int rc, const char *report, size_t report_len, size_t cap)
{
	char buf[FUZZ_SHORT_MAX];
	struct mig_config *cfg;
	int rc_short;

	memset(buf, 'x', sizeof(buf));
	rc_short = mig_config_load_string(text, FUZZ_CONFIG_NAME, &cfg, cap > 0 ? buf : NULL, cap);
	FUZZ_CHECK(rc_short == rc);
	FUZZ_CHECK((cfg != NULL) == (rc == 0));
	mig_config_free(cfg);
	if (cap == 0)
		return;
	FUZZ_CHECK(strlen(buf) == (report_len < cap ? report_len : cap - 1));
	FUZZ_CHECK(strncmp(buf, report, strlen(buf)) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char report[FUZZ_REPORT_MAX];
	struct mig_config *cfg;
	char *text = malloc(size + 1);
	size_t len;
	int rc;

	FUZZ_CHECK(text != NULL);
	if (size > 0)
		memcpy(text, data, size);
	text[size] = '\0';
	report[0] = 'x';
	rc = mig_config_load_string(text, FUZZ_CONFIG_NAME, &cfg, report, sizeof(report));
	FUZZ_CHECK((rc == 0 && cfg != NULL) || (rc == -1 && cfg == NULL));
	if (rc == 0) {
		FUZZ_CHECK(report[0] == '\0');
		check_daemon(cfg);
		check_tls_and_migration(cfg);
		check_devices(cfg);
		mig_config_free(cfg);
	} else
		check_report(report, sizeof(report), count_lines(text));
	len = strlen(report);
	if (len < sizeof(report) - 1)
		check_short_report(text, rc, report, len, size % FUZZ_SHORT_MAX);
	free(text);
	return 0;
}
