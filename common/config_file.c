/*
 * config_file.c: reads the INI file of SPEC §3 into struct mig_config and
 * validates all of it, collecting every problem with its line.
 *
 * libinih splits lines into keys and values. The reader we hand it counts
 * lines, notes where each section starts and turns away malformed lines, so
 * that every message names its line and no problem hides another. Nothing
 * here opens a device, a socket or a certificate: that is the daemon's job,
 * once the whole file is known to be sound.
 */
#include "config_file.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xmalloc.h"

#define CONFIG_MAX_FILE_SIZE (1024 * 1024)

enum config_section {
	SECTION_NONE,	 /* before the first header */
	SECTION_IGNORED, /* unknown or malformed header, already reported */
	SECTION_DAEMON,
	SECTION_TLS,
	SECTION_MIGRATION,
	SECTION_DEVICE,
};

enum config_type {
	TYPE_PATH,	  /* absolute path */
	TYPE_WORD,	  /* one word without blanks (a group name) */
	TYPE_TLS_GROUPS,  /* names separated by colons (OpenSSL's groups list) */
	TYPE_UINT32,	  /* decimal integer in [min, max] */
	TYPE_SIZE64,	  /* size with suffix in [min, max], a multiple of align */
	TYPE_SIZE32,	  /* the same, stored in 32 bits */
	TYPE_UINT64,	  /* any decimal or 0x integer */
	TYPE_LISTEN,	  /* list of host:port, key may repeat */
	TYPE_ADDRESS,	  /* one host:port to listen on; empty: none */
	TYPE_PEERS,	  /* list of names, key may repeat */
	TYPE_LOG_LEVEL,
	TYPE_SWITCHOVER,
	TYPE_DIGESTS,	  /* digest names, by commas or blanks, preferred first */
	TYPE_COMPRESSION,
	TYPE_CONTENT,	  /* a software device's content model */
	TYPE_BACKEND,
	TYPE_DEVICE_PATH, /* absolute path or PCI address */
};

/* Which backends a device key belongs to. */
#define FOR_SIM 1
#define FOR_VFIO 2
#define FOR_VFIO_USER 4
#define FOR_ALL (FOR_SIM | FOR_VFIO | FOR_VFIO_USER)

struct config_key {
	enum config_section section;
	const char *name;
	enum config_type type;
	size_t offset; /* in struct mig_config, or in struct mig_device_config */
	uint64_t min, max, align;
	int backends; /* device keys only */
};

#define DAEMON_KEY(name, type, field, min, max) \
	{SECTION_DAEMON, name, type, offsetof(struct mig_config, daemon.field), min, max, 0, 0}
#define TLS_KEY(name, type, field) \
	{SECTION_TLS, name, type, offsetof(struct mig_config, tls.field), 0, 0, 0, 0}
#define MIGRATION_KEY(name, type, field, min, max) \
	{SECTION_MIGRATION, name, type, offsetof(struct mig_config, migration.field), min, max, 0, 0}
#define DEVICE_KEY(name, type, field, min, max, align, backends) \
	{SECTION_DEVICE, name, type, offsetof(struct mig_device_config, field), min, max, align, \
	    backends}

static const struct config_key config_keys[] = {
	DAEMON_KEY("listen", TYPE_LISTEN, listen, 0, 0),
	DAEMON_KEY("metrics_listen", TYPE_ADDRESS, metrics_listen, 0, 0),
	DAEMON_KEY("control", TYPE_PATH, control, 0, 0),
	DAEMON_KEY("control_group", TYPE_WORD, control_group, 0, 0),
	DAEMON_KEY("handover", TYPE_PATH, handover, 0, 0),
	DAEMON_KEY("state_dir", TYPE_PATH, state_dir, 0, 0),
	DAEMON_KEY("hook", TYPE_PATH, hook, 0, 0),
	DAEMON_KEY("hook_timeout_ms", TYPE_UINT32, hook_timeout_ms, MIG_HOOK_TIMEOUT_MS_MIN,
	    MIG_HOOK_TIMEOUT_MS_MAX),
	DAEMON_KEY("log_level", TYPE_LOG_LEVEL, log_level, 0, 0),
	DAEMON_KEY("keepalive_interval_ms", TYPE_UINT32, keepalive_interval_ms,
	    MIG_KEEPALIVE_INTERVAL_MS_MIN, MIG_KEEPALIVE_INTERVAL_MS_MAX),
	DAEMON_KEY("peer_timeout_ms", TYPE_UINT32, peer_timeout_ms, MIG_PEER_TIMEOUT_MS_MIN,
	    MIG_PEER_TIMEOUT_MS_MAX),
	DAEMON_KEY("handshake_timeout_ms", TYPE_UINT32, handshake_timeout_ms,
	    MIG_HANDSHAKE_TIMEOUT_MS_MIN, MIG_HANDSHAKE_TIMEOUT_MS_MAX),
	DAEMON_KEY("max_connections", TYPE_UINT32, max_connections, 1, MIG_MAX_CONNECTIONS_MAX),
	DAEMON_KEY("max_migrations", TYPE_UINT32, max_migrations, 1, MIG_MAX_MIGRATIONS_MAX),
	DAEMON_KEY("token_ttl_s", TYPE_UINT32, token_ttl_s, MIG_TOKEN_TTL_S_MIN,
	    MIG_TOKEN_TTL_S_MAX),
	DAEMON_KEY("max_watchers", TYPE_UINT32, max_watchers, 1, MIG_MAX_WATCHERS_MAX),
	DAEMON_KEY("max_frame_size", TYPE_SIZE32, max_frame_size, MIG_MAX_FRAME_SIZE_MIN,
	    MIG_MAX_FRAME_SIZE_MAX),
	DAEMON_KEY("history", TYPE_UINT32, history, 1, MIG_HISTORY_MAX),
	TLS_KEY("ca", TYPE_PATH, ca),
	TLS_KEY("cert", TYPE_PATH, cert),
	TLS_KEY("key", TYPE_PATH, key),
	TLS_KEY("allowed_peers", TYPE_PEERS, allowed_peers),
	TLS_KEY("groups", TYPE_TLS_GROUPS, groups),
	MIGRATION_KEY("downtime_limit_ms", TYPE_UINT32, downtime_limit_ms,
	    MIG_DOWNTIME_LIMIT_MS_MIN, MIG_DOWNTIME_LIMIT_MS_MAX),
	MIGRATION_KEY("max_bandwidth", TYPE_SIZE64, max_bandwidth, 0, MIG_BANDWIDTH_MAX),
	MIGRATION_KEY("precopy_timeout_s", TYPE_UINT32, precopy_timeout_s,
	    MIG_PRECOPY_TIMEOUT_S_MIN, MIG_PRECOPY_TIMEOUT_S_MAX),
	MIGRATION_KEY("switchover", TYPE_SWITCHOVER, switchover_manual, 0, 0),
	MIGRATION_KEY("chunk_size", TYPE_SIZE32, chunk_size, MIG_CHUNK_SIZE_MIN,
	    MIG_CHUNK_SIZE_MAX),
	MIGRATION_KEY("channels", TYPE_UINT32, channels, MIG_MIGRATION_CHANNELS_MIN,
	    MIG_MIGRATION_CHANNELS_MAX),
	MIGRATION_KEY("digest", TYPE_DIGESTS, digests, 0, 0),
	MIGRATION_KEY("compression", TYPE_COMPRESSION, compression, 0, 0),
	DEVICE_KEY("backend", TYPE_BACKEND, backend, 0, 0, 0, FOR_ALL),
	DEVICE_KEY("path", TYPE_DEVICE_PATH, path, 0, 0, 0, FOR_VFIO | FOR_VFIO_USER),
	DEVICE_KEY("vfio_user_write_max", TYPE_SIZE32, vfio_user_write_max,
	    MIG_VFIO_USER_WRITE_MAX_MIN, MIG_VFIO_USER_WRITE_MAX_MAX, 0, FOR_VFIO_USER),
	DEVICE_KEY("vfio_user_timeout_ms", TYPE_UINT32, vfio_user_timeout_ms,
	    MIG_VFIO_USER_TIMEOUT_MS_MIN, MIG_VFIO_USER_TIMEOUT_MS_MAX, 0, FOR_VFIO_USER),
	DEVICE_KEY("size", TYPE_SIZE64, size, MIG_SIM_SIZE_MIN, MIG_SIM_SIZE_MAX, MIG_SIM_PAGE,
	    FOR_SIM),
	DEVICE_KEY("dirty_rate", TYPE_SIZE64, dirty_rate, 0, MIG_SIM_DIRTY_RATE_MAX, 1, FOR_SIM),
	DEVICE_KEY("image", TYPE_PATH, image, 0, 0, 0, FOR_SIM),
	DEVICE_KEY("guest_memory", TYPE_PATH, guest_memory, 0, 0, 0, FOR_SIM),
	DEVICE_KEY("guest_memory_size", TYPE_SIZE64, guest_memory_size,
	    MIG_GUEST_MEMORY_SIZE_MIN, MIG_GUEST_MEMORY_SIZE_MAX, MIG_SIM_PAGE, FOR_SIM),
	DEVICE_KEY("dma_dirty_rate", TYPE_SIZE64, dma_dirty_rate, 0, MIG_SIM_DIRTY_RATE_MAX, 1,
	    FOR_SIM),
	DEVICE_KEY("seed", TYPE_UINT64, seed, 0, 0, 0, FOR_SIM),
	DEVICE_KEY("section_size", TYPE_SIZE32, section_size, MIG_SECTION_SIZE_MIN,
	    MIG_SECTION_SIZE_MAX, MIG_SIM_PAGE, FOR_SIM),
	DEVICE_KEY("driver_model", TYPE_WORD, driver_model, 0, 0, 0, FOR_SIM),
	DEVICE_KEY("transition_delay_ms", TYPE_UINT32, transition_delay_ms, 0,
	    MIG_SIM_TRANSITION_DELAY_MS_MAX, 0, FOR_SIM),
	DEVICE_KEY("fail_load", TYPE_UINT32, fail_load, 0, 1, 0, FOR_SIM),
	DEVICE_KEY("content", TYPE_CONTENT, content, 0, 0, 0, FOR_SIM),
	DEVICE_KEY("zero_pages", TYPE_UINT32, zero_pages, 0, 100, 0, FOR_SIM),
};

#define CONFIG_NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

/* The words the log prints ("[warning]"), and "warn", which came first. */
static const char *const config_log_levels[] = {"debug", "info", "warning", "warn", "error",
    NULL};
static const enum log_level config_log_level_values[] = {LOG_LEVEL_DEBUG, LOG_LEVEL_INFO,
    LOG_LEVEL_WARNING, LOG_LEVEL_WARNING, LOG_LEVEL_ERROR};
static const char *const config_switchovers[] = {"auto", "manual", NULL};
static const char *const config_compressions[] = {"none", "zstd", "auto", NULL};
static const char *const config_contents[] = {"random", "text", NULL};
static const char *const config_backends[] = {"sim", "sim-v2", "vfio-v1", "vfio-v2", "vfio-user",
    NULL};
/* driver_model, per software backend; the first is the default. */
static const char *const config_models_sim[] = {"released-v1", "lenient", NULL};
static const char *const config_models_sim_v2[] = {"uapi", "mlx5", "no-precopy", NULL};

/* Where each key was first set: 0 not set, negative when its value was
 * rejected (reported already, so later checks treat it as present). Once per
 * file for the global sections, once per device for device keys. */
struct config_seen {
	int line[CONFIG_NKEYS];
};

/* One error, kept until the end so the report reads in line order. */
struct config_problem {
	int line;
	size_t seq;
	char *text;
};

struct config_parse {
	struct mig_config *cfg;
	const char *name; /* the file, as messages name it */
	const char *next; /* input not yet handed to libinih */
	int lineno;
	enum config_section section;
	char label[80]; /* "[daemon]", "[device gpu0]" */
	struct config_seen global_seen;
	struct config_seen *device_seen; /* parallel to cfg->devices */
	struct config_problem *problems;
	size_t nproblems;
};

static void config_error(struct config_parse *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void config_key_error(struct config_parse *p, int line, const char *key,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
config_error(struct config_parse *p, int line, const char *fmt, ...)
{
	struct config_problem *pb;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->problems = xrealloc(p->problems, (p->nproblems + 1) * sizeof(*p->problems));
	pb = &p->problems[p->nproblems];
	pb->line = line;
	pb->seq = p->nproblems++;
	pb->text = xstrdup(msg);
}

static void
config_key_error(struct config_parse *p, int line, const char *key, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	config_error(p, line, "%s %s: %s", p->label, key, msg);
}

const char *
mig_backend_name(enum mig_backend b)
{
	switch (b) {
	case MIG_BACKEND_SIM:
		return "sim";
	case MIG_BACKEND_SIM_V2:
		return "sim-v2";
	case MIG_BACKEND_VFIO_V1:
		return "vfio-v1";
	case MIG_BACKEND_VFIO_V2:
		return "vfio-v2";
	case MIG_BACKEND_VFIO_USER:
		return "vfio-user";
	}
	return "?";
}

/* 64-bit FNV-1a: a stable default seed, so a device's data follows its name. */
static uint64_t
config_name_hash(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *name != '\0'; name++) {
		h ^= (unsigned char)*name;
		h *= 0x100000001b3ull;
	}
	return h;
}

static int
config_choice(const char *const *choices, const char *value)
{
	int i;

	for (i = 0; choices[i] != NULL; i++)
		if (strcmp(choices[i], value) == 0)
			return i;
	return -1;
}

const char *
mig_compression_name(int c)
{
	return c >= MIG_COMPRESSION_NONE && c <= MIG_COMPRESSION_AUTO ? config_compressions[c] : "?";
}

int
mig_compression_from_name(const char *name)
{
	return config_choice(config_compressions, name);
}

static int
config_add_listen(struct config_parse *p, const char *key, const char *addr)
{
	struct mig_config *cfg = p->cfg;
	char host[MIG_HOST_MAX + 1];
	uint16_t port;
	size_t i;

	if (mig_parse_listen_address(addr, host, sizeof(host), &port) != 0) {
		config_key_error(p, p->lineno, key,
		    "must be host:port or [IPv6]:port with port 0..65535 (0: any free port), got %s",
		    addr);
		return -1;
	}
	for (i = 0; i < cfg->daemon.nlisten; i++) {
		if (strcmp(cfg->daemon.listen[i], addr) == 0) {
			config_key_error(p, p->lineno, key, "%s is listed twice", addr);
			return -1;
		}
	}
	if (cfg->daemon.nlisten == MIG_LISTEN_MAX) {
		config_key_error(p, p->lineno, key, "at most %d addresses, %s is one too many",
		    MIG_LISTEN_MAX, addr);
		return -1;
	}
	cfg->daemon.listen[cfg->daemon.nlisten++] = xstrdup(addr);
	return 0;
}

/* metrics_listen: one address, or nothing at all (no listener). */
static int
config_set_address(struct config_parse *p, const struct config_key *k, char *field,
    const char *value)
{
	char host[MIG_HOST_MAX + 1];
	uint16_t port;

	if (*value == '\0')
		return 0;
	if (mig_parse_listen_address(value, host, sizeof(host), &port) != 0) {
		config_key_error(p, p->lineno, k->name,
		    "must be host:port or [IPv6]:port with port 0..65535 (0: any free port), or "
		    "empty (no listener), got %s",
		    value);
		return -1;
	}
	*(char **)(void *)field = xstrdup(value);
	return 0;
}

static int
config_add_peer(struct config_parse *p, const char *key, const char *name)
{
	struct mig_config *cfg = p->cfg;
	size_t i;

	if (strlen(name) > MIG_PEER_NAME_MAX) {
		config_key_error(p, p->lineno, key, "a name is at most %d characters, got %.40s...",
		    MIG_PEER_NAME_MAX, name);
		return -1;
	}
	for (i = 0; i < cfg->tls.nallowed; i++) {
		if (strcasecmp(cfg->tls.allowed_peers[i], name) == 0) {
			config_key_error(p, p->lineno, key, "%s is listed twice", name);
			return -1;
		}
	}
	if (cfg->tls.nallowed == MIG_ALLOWED_PEERS_MAX) {
		config_key_error(p, p->lineno, key, "at most %d names, %s is one too many",
		    MIG_ALLOWED_PEERS_MAX, name);
		return -1;
	}
	cfg->tls.allowed_peers[cfg->tls.nallowed++] = xstrdup(name);
	return 0;
}

/* Splits a blank-separated list and hands each item to add(). */
static int
config_set_list(struct config_parse *p, const char *key, const char *value,
    int (*add)(struct config_parse *, const char *, const char *))
{
	char *copy = xstrdup(value), *item, *save = NULL;
	int any = 0, rc = 0;

	for (item = strtok_r(copy, " \t", &save); item != NULL; item = strtok_r(NULL, " \t", &save)) {
		if (add(p, key, item) != 0)
			rc = -1;
		any = 1;
	}
	if (!any) {
		config_key_error(p, p->lineno, key, "must not be empty");
		rc = -1;
	}
	free(copy);
	return rc;
}

/* digest = xxh3-128, sha256: known names, each once, preferred first. */
static int
config_set_digests(struct config_parse *p, const struct config_key *k, const char *value)
{
	struct mig_config *cfg = p->cfg;
	char *copy = xstrdup(value), *item, *save = NULL;
	int id, rc = 0;
	size_t i;

	cfg->migration.ndigests = 0;
	for (item = strtok_r(copy, ", \t", &save); item != NULL && rc == 0;
	     item = strtok_r(NULL, ", \t", &save)) {
		if ((id = mig_digest_from_name(item)) < 0) {
			config_key_error(p, p->lineno, k->name,
			    "must be a list of xxh3-128 and sha256, got %.40s", item);
			rc = -1;
			break;
		}
		for (i = 0; i < cfg->migration.ndigests; i++)
			if (cfg->migration.digests[i] == id)
				break;
		if (i < cfg->migration.ndigests) {
			config_key_error(p, p->lineno, k->name, "%s is listed twice", item);
			rc = -1;
			break;
		}
		cfg->migration.digests[cfg->migration.ndigests++] = id;
	}
	if (rc == 0 && cfg->migration.ndigests == 0) {
		config_key_error(p, p->lineno, k->name, "must not be empty");
		rc = -1;
	}
	free(copy);
	return rc;
}

static int
config_set_size(struct config_parse *p, const struct config_key *k, char *field,
    const char *value)
{
	char lo[32], hi[32];
	uint64_t v;

	switch (mig_parse_size_within(value, k->min, k->max, k->align, &v)) {
	case MIG_PARSE_OK:
		break;
	case MIG_PARSE_RANGE:
		config_key_error(p, p->lineno, k->name, "must be %s..%s, got %s",
		    mig_format_size(k->min, lo, sizeof(lo)),
		    mig_format_size(k->max, hi, sizeof(hi)), value);
		return -1;
	case MIG_PARSE_ALIGN:
		config_key_error(p, p->lineno, k->name, "must be a multiple of %s, got %s",
		    mig_format_size(k->align, lo, sizeof(lo)), value);
		return -1;
	default:
		config_key_error(p, p->lineno, k->name,
		    "must be a size in bytes, with an optional K, M, G or T suffix, got %s", value);
		return -1;
	}
	if (k->type == TYPE_SIZE32)
		*(uint32_t *)(void *)field = (uint32_t)v;
	else
		*(uint64_t *)(void *)field = v;
	return 0;
}

static int
config_set_uint(struct config_parse *p, const struct config_key *k, char *field,
    const char *value)
{
	uint64_t v;

	if (k->type == TYPE_UINT64) {
		if (mig_parse_u64(value, &v) != 0) {
			config_key_error(p, p->lineno, k->name,
			    "must be an integer 0..18446744073709551615 (or 0x hex), got %s", value);
			return -1;
		}
		*(uint64_t *)(void *)field = v;
		return 0;
	}
	if (mig_parse_uint(value, k->min, k->max, &v) != 0) {
		config_key_error(p, p->lineno, k->name, "must be %" PRIu64 "..%" PRIu64 ", got %s",
		    k->min, k->max, value);
		return -1;
	}
	*(uint32_t *)(void *)field = (uint32_t)v;
	return 0;
}

static int
config_set_choice(struct config_parse *p, const struct config_key *k, void *base,
    const char *value)
{
	struct mig_device_config *dev = base;
	struct mig_config *cfg = base;
	int i;

	switch (k->type) {
	case TYPE_LOG_LEVEL:
		if ((i = config_choice(config_log_levels, value)) >= 0)
			cfg->daemon.log_level = config_log_level_values[i];
		break;
	case TYPE_SWITCHOVER:
		if ((i = config_choice(config_switchovers, value)) >= 0)
			cfg->migration.switchover_manual = i;
		break;
	case TYPE_COMPRESSION:
		if ((i = config_choice(config_compressions, value)) >= 0)
			cfg->migration.compression = (enum mig_compression)i;
		break;
	case TYPE_CONTENT:
		if ((i = config_choice(config_contents, value)) >= 0)
			dev->content = i;
		break;
	default:
		if ((i = config_choice(config_backends, value)) >= 0)
			dev->backend = (enum mig_backend)i;
		break;
	}
	if (i >= 0)
		return 0;
	config_key_error(p, p->lineno, k->name, "must be %s, got %s",
	    k->type == TYPE_LOG_LEVEL ? "debug, info, warning (or warn) or error" :
	    k->type == TYPE_SWITCHOVER ? "auto or manual" :
	    k->type == TYPE_COMPRESSION ? "none, zstd or auto" :
	    k->type == TYPE_CONTENT ? "random or text" : "sim, sim-v2, vfio-v1, vfio-v2 or vfio-user",
	    value);
	return -1;
}

static int
config_set_string(struct config_parse *p, const struct config_key *k, char *field,
    const char *value)
{
	if (*value == '\0') {
		config_key_error(p, p->lineno, k->name, "must not be empty");
		return -1;
	}
	switch (k->type) {
	case TYPE_PATH:
		if (value[0] != '/') {
			config_key_error(p, p->lineno, k->name, "must be an absolute path, got %s",
			    value);
			return -1;
		}
		break;
	case TYPE_DEVICE_PATH:
		if (value[0] != '/' && !mig_valid_pci_address(value)) {
			config_key_error(p, p->lineno, k->name,
			    "must be an absolute path or a PCI address like 0000:3b:00.0, got %s",
			    value);
			return -1;
		}
		break;
	case TYPE_TLS_GROUPS:
		if (strlen(value) > 255 ||
		    strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-:") !=
			strlen(value) ||
		    value[0] == ':' || value[strlen(value) - 1] == ':' || strstr(value, "::") != NULL) {
			config_key_error(p, p->lineno, k->name,
			    "must be group names (A-Z a-z 0-9 _ -) separated by colons, at most 255 "
			    "characters, got %s",
			    value);
			return -1;
		}
		break;
	default:
		if (!mig_valid_name(value, SIZE_MAX)) {
			config_key_error(p, p->lineno, k->name,
			    "must be a name of A-Z a-z 0-9 _ . -, got %s", value);
			return -1;
		}
		break;
	}
	*(char **)(void *)field = xstrdup(value);
	return 0;
}

/* Stores one value; 0, or -1 once the problem is reported. */
static int
config_set(struct config_parse *p, const struct config_key *k, void *base, const char *value)
{
	char *field = (char *)base + k->offset;

	switch (k->type) {
	case TYPE_PATH:
	case TYPE_WORD:
	case TYPE_TLS_GROUPS:
	case TYPE_DEVICE_PATH:
		return config_set_string(p, k, field, value);
	case TYPE_UINT32:
	case TYPE_UINT64:
		return config_set_uint(p, k, field, value);
	case TYPE_SIZE64:
	case TYPE_SIZE32:
		return config_set_size(p, k, field, value);
	case TYPE_LISTEN:
		return config_set_list(p, k->name, value, config_add_listen);
	case TYPE_ADDRESS:
		return config_set_address(p, k, field, value);
	case TYPE_PEERS:
		return config_set_list(p, k->name, value, config_add_peer);
	case TYPE_DIGESTS:
		return config_set_digests(p, k, value);
	case TYPE_LOG_LEVEL:
	case TYPE_SWITCHOVER:
	case TYPE_COMPRESSION:
	case TYPE_CONTENT:
	case TYPE_BACKEND:
		return config_set_choice(p, k, base, value);
	}
	return -1;
}

static int
config_find_key(enum config_section section, const char *name)
{
	size_t i;

	for (i = 0; i < CONFIG_NKEYS; i++)
		if (config_keys[i].section == section && strcmp(config_keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* libinih's callback: one key = value line. The section is ours, not the
 * one libinih passes (it truncates long names). */
static int
config_handle_key(void *arg, const char *section, const char *name, const char *value)
{
	struct config_parse *p = arg;
	struct config_seen *seen;
	void *base;
	int i, rc;

	switch (p->section) {
	case SECTION_IGNORED:
		return 1;
	case SECTION_NONE:
		config_error(p, p->lineno, "%s: key outside of any section", name);
		return 1;
	case SECTION_DEVICE:
		seen = &p->device_seen[p->cfg->ndevices - 1];
		base = &p->cfg->devices[p->cfg->ndevices - 1];
		break;
	default:
		seen = &p->global_seen;
		base = p->cfg;
		break;
	}
	if ((i = config_find_key(p->section, name)) < 0) {
		config_key_error(p, p->lineno, name, "unknown key");
		return 1;
	}
	if (seen->line[i] != 0 && config_keys[i].type != TYPE_LISTEN &&
	    config_keys[i].type != TYPE_PEERS) {
		config_key_error(p, p->lineno, name, "set twice (first on line %d)",
		    abs(seen->line[i]));
		return 1;
	}
	rc = config_set(p, &config_keys[i], base, value);
	if (seen->line[i] == 0)
		seen->line[i] = rc == 0 ? p->lineno : -p->lineno;
	return 1;
}

static void
config_open_device(struct config_parse *p, const char *name, int line)
{
	struct mig_config *cfg = p->cfg;
	struct mig_device_config *dev;
	size_t i;

	p->section = SECTION_IGNORED;
	if (!mig_valid_name(name, MIG_DEVICE_NAME_MAX)) {
		config_error(p, line,
		    "[device %s]: a device name is 1..%d characters of A-Z a-z 0-9 _ . -", name,
		    MIG_DEVICE_NAME_MAX);
		return;
	}
	for (i = 0; i < cfg->ndevices; i++) {
		if (strcmp(cfg->devices[i].name, name) == 0) {
			config_error(p, line, "[device %s]: device already defined on line %d", name,
			    cfg->devices[i].line);
			return;
		}
	}
	if (cfg->ndevices == MIG_DEVICES_MAX) {
		config_error(p, line, "[device %s]: at most %d devices", name,
		    MIG_DEVICES_MAX);
		return;
	}
	cfg->devices = xrealloc(cfg->devices, (cfg->ndevices + 1) * sizeof(*cfg->devices));
	p->device_seen = xrealloc(p->device_seen, (cfg->ndevices + 1) * sizeof(*p->device_seen));
	dev = &cfg->devices[cfg->ndevices];
	memset(dev, 0, sizeof(*dev));
	memset(&p->device_seen[cfg->ndevices], 0, sizeof(*p->device_seen));
	cfg->ndevices++;
	dev->name = xstrdup(name);
	dev->line = line;
	p->section = SECTION_DEVICE;
	snprintf(p->label, sizeof(p->label), "[device %s]", name);
}

static void
config_open_section(struct config_parse *p, const char *name, int line)
{
	static const struct {
		const char *name;
		enum config_section section;
	} fixed[] = {
	    {"daemon", SECTION_DAEMON}, {"tls", SECTION_TLS}, {"migration", SECTION_MIGRATION}};
	size_t i;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if (strcmp(name, fixed[i].name) == 0) {
			p->section = fixed[i].section;
			snprintf(p->label, sizeof(p->label), "[%s]", name);
			return;
		}
	}
	if (strncmp(name, "device", 6) == 0 && (name[6] == '\0' || isblank((unsigned char)name[6]))) {
		for (name += 6; isblank((unsigned char)*name); name++)
			;
		config_open_device(p, name, line);
		return;
	}
	p->section = SECTION_IGNORED;
	config_error(p, line, "[%s]: unknown section (expected daemon, tls, migration or device NAME)",
	    name);
}

/* Same rule as libinih: the first of chars, stopping at an inline comment
 * (a ';' after a blank). */
static char *
config_find_chars(char *s, const char *chars)
{
	int was_space = 0;

	while (*s != '\0' && strchr(chars, *s) == NULL && !(was_space && *s == ';')) {
		was_space = isspace((unsigned char)*s);
		s++;
	}
	return s;
}

/* Looks at a line before libinih does. Returns 0 to pass it on, -1 when it
 * is malformed (already reported). */
static int
config_scan_line(struct config_parse *p, char *line)
{
	char *end, *rest;

	if (line[0] == '\0' || line[0] == ';' || line[0] == '#' || line[0] == '\r')
		return 0;
	if (line[0] != '[') {
		end = config_find_chars(line, "=:");
		if ((*end != '=' && *end != ':') || end == line) {
			config_error(p, p->lineno, "expected [section] or key = value");
			return -1;
		}
		return 0;
	}
	end = config_find_chars(line + 1, "]");
	if (*end != ']') {
		config_error(p, p->lineno, "section header without a closing ]");
		p->section = SECTION_IGNORED;
		return -1;
	}
	for (rest = end + 1; isspace((unsigned char)*rest); rest++)
		;
	if (*rest != '\0' && *rest != ';' && *rest != '#') {
		config_error(p, p->lineno, "unexpected text after the section header");
		p->section = SECTION_IGNORED;
		return -1;
	}
	*end = '\0';
	config_open_section(p, line + 1, p->lineno);
	*end = ']';
	return 0;
}

/*
 * libinih's reader: one line per call, so libinih's line numbers and ours
 * agree. Leading blanks are dropped so that an indented key is a key, not a
 * continuation of the previous value.
 */
static char *
config_read_line(char *buf, int size, void *arg)
{
	struct config_parse *p = arg;
	const char *s = p->next, *eol;
	size_t len;

	if (*s == '\0')
		return NULL;
	eol = strchr(s, '\n');
	if (eol == NULL)
		eol = s + strlen(s);
	p->next = *eol != '\0' ? eol + 1 : eol;
	p->lineno++;
	if (p->lineno == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;
	while (s < eol && (*s == ' ' || *s == '\t'))
		s++;
	len = (size_t)(eol - s);
	buf[0] = '\0';
	if (size < 2 || len > (size_t)size - 1) {
		config_error(p, p->lineno, "line longer than %d characters", size - 1);
		return buf;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (config_scan_line(p, buf) != 0)
		buf[0] = '\0';
	return buf;
}

static int
config_line_of(const struct config_seen *seen, const char *key, enum config_section section)
{
	int i = config_find_key(section, key);

	return i < 0 ? 0 : seen->line[i];
}

/* driver_model must be one its backend knows. */
static void
config_check_model(struct config_parse *p, struct mig_device_config *dev,
    const struct config_seen *seen, const char *backend)
{
	const char *const *models =
	    dev->backend == MIG_BACKEND_SIM ? config_models_sim : config_models_sim_v2;
	char list[128] = "";
	int line = config_line_of(seen, "driver_model", SECTION_DEVICE);
	size_t i;

	if (line <= 0 || dev->driver_model == NULL)
		return;
	for (i = 0; models[i] != NULL; i++) {
		if (strcmp(models[i], dev->driver_model) == 0)
			return;
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
		    models[i]);
	}
	config_key_error(p, line, "driver_model", "\"%s\" is not a model of backend %s (%s)",
	    dev->driver_model, backend, list);
}

/* A vfio-user server's socket: an absolute path that fits a sockaddr_un
 * (108 bytes with its NUL), not a PCI address; defaults for the rest. */
static void
config_check_vfio_user(struct config_parse *p, struct mig_device_config *dev,
    const struct config_seen *seen)
{
	int line = config_line_of(seen, "path", SECTION_DEVICE);

	if (line > 0 && dev->path != NULL && dev->path[0] != '/')
		config_key_error(p, line, "path", "must be the absolute path of the vfio-user "
		    "server's socket with backend vfio-user, got %s", dev->path);
	else if (line > 0 && dev->path != NULL && strlen(dev->path) > 107)
		config_key_error(p, line, "path", "a socket path is at most 107 bytes, got %zu",
		    strlen(dev->path));
	if (dev->vfio_user_write_max == 0)
		dev->vfio_user_write_max = MIG_VFIO_USER_WRITE_MAX_DEFAULT;
	if (dev->vfio_user_timeout_ms == 0)
		dev->vfio_user_timeout_ms = MIG_VFIO_USER_TIMEOUT_MS_DEFAULT;
}

static void
config_check_device(struct config_parse *p, size_t index)
{
	struct mig_device_config *dev = &p->cfg->devices[index];
	const struct config_seen *seen = &p->device_seen[index];
	const char *backend = mig_backend_name(dev->backend);
	int sim, for_backend, gm, gm_size, dma, backend_line;
	size_t i;

	snprintf(p->label, sizeof(p->label), "[device %s]", dev->name);
	backend_line = config_line_of(seen, "backend", SECTION_DEVICE);
	if (backend_line == 0)
		config_error(p, dev->line, "%s: backend is required (sim, sim-v2, vfio-v1, vfio-v2 or "
				     "vfio-user)",
		    p->label);
	if (backend_line <= 0)
		return;
	sim = dev->backend == MIG_BACKEND_SIM || dev->backend == MIG_BACKEND_SIM_V2;
	for_backend = sim ? FOR_SIM : dev->backend == MIG_BACKEND_VFIO_USER ? FOR_VFIO_USER : FOR_VFIO;
	for (i = 0; i < CONFIG_NKEYS; i++) {
		const struct config_key *k = &config_keys[i];

		if (k->section == SECTION_DEVICE && seen->line[i] != 0 &&
		    !(k->backends & for_backend))
			config_key_error(p, abs(seen->line[i]), k->name, "not allowed with backend %s",
			    backend);
	}
	if (dev->backend == MIG_BACKEND_VFIO_USER)
		config_check_vfio_user(p, dev, seen);
	if (!sim) {
		if (config_line_of(seen, "path", SECTION_DEVICE) == 0)
			config_error(p, dev->line, "%s: path is required with backend %s", p->label,
			    backend);
		return;
	}
	if (config_line_of(seen, "size", SECTION_DEVICE) == 0)
		config_error(p, dev->line, "%s: size is required with backend %s", p->label, backend);
	gm = config_line_of(seen, "guest_memory", SECTION_DEVICE);
	gm_size = config_line_of(seen, "guest_memory_size", SECTION_DEVICE);
	dma = config_line_of(seen, "dma_dirty_rate", SECTION_DEVICE);
	if (gm != 0 && gm_size == 0)
		config_key_error(p, abs(gm), "guest_memory", "needs guest_memory_size");
	if (gm_size != 0 && gm == 0)
		config_key_error(p, abs(gm_size), "guest_memory_size", "needs guest_memory");
	if (dma != 0 && gm == 0)
		config_key_error(p, abs(dma), "dma_dirty_rate", "needs guest_memory");
	config_check_model(p, dev, seen, backend);
	if (dev->image == NULL && p->cfg->daemon.state_dir != NULL) {
		size_t len = strlen(p->cfg->daemon.state_dir) + strlen(dev->name) + 6;

		dev->image = xmalloc(len);
		snprintf(dev->image, len, "%s/%s.img", p->cfg->daemon.state_dir, dev->name);
	}
	if (config_line_of(seen, "seed", SECTION_DEVICE) == 0)
		dev->seed = config_name_hash(dev->name);
}

/* Two sim devices writing the same file would corrupt each other. */
static void
config_check_device_files(struct config_parse *p)
{
	struct mig_config *cfg = p->cfg;
	struct {
		const char *path;
		size_t device;
	} *uses = xcalloc(2 * cfg->ndevices, sizeof(*uses));
	size_t i, a, b, f, n = 0;

	for (i = 0; i < cfg->ndevices; i++) {
		const char *files[2] = {cfg->devices[i].image, cfg->devices[i].guest_memory};

		for (f = 0; f < 2; f++) {
			if (files[f] == NULL)
				continue;
			uses[n].path = files[f];
			uses[n].device = i;
			n++;
		}
	}
	for (b = 1; b < n; b++) {
		for (a = 0; a < b; a++) {
			if (strcmp(uses[a].path, uses[b].path) != 0)
				continue;
			config_error(p, cfg->devices[uses[b].device].line,
			    "[device %s]: %s is also used by device %s",
			    cfg->devices[uses[b].device].name, uses[b].path,
			    cfg->devices[uses[a].device].name);
			break;
		}
	}
	free(uses);
}

static void
config_set_defaults(struct mig_config *cfg)
{
	cfg->daemon.hook_timeout_ms = 30000;
	cfg->daemon.log_level = LOG_LEVEL_INFO;
	cfg->daemon.keepalive_interval_ms = 5000;
	cfg->daemon.peer_timeout_ms = 30000;
	cfg->daemon.handshake_timeout_ms = 10000;
	cfg->daemon.max_connections = 64;
	cfg->daemon.max_migrations = 16;
	cfg->daemon.token_ttl_s = 600;
	cfg->daemon.max_watchers = 32;
	cfg->daemon.max_frame_size = MIG_MAX_FRAME_SIZE_MAX;
	cfg->daemon.history = 100;
	cfg->migration.downtime_limit_ms = 300;
	cfg->migration.max_bandwidth = 0;
	cfg->migration.precopy_timeout_s = 600;
	cfg->migration.switchover_manual = 0;
	cfg->migration.chunk_size = 1u << 20;
	cfg->migration.channels = 1;
	cfg->migration.digests[0] = MIG_DIGEST_XXH3_128;
	cfg->migration.digests[1] = MIG_DIGEST_SHA256;
	cfg->migration.ndigests = 2;
}

static void
config_default_string(char **field, const char *value)
{
	if (*field == NULL)
		*field = xstrdup(value);
}

static void
config_finish(struct config_parse *p)
{
	struct mig_config *cfg = p->cfg;
	size_t i;
	int peer_line, keepalive_line;

	config_default_string(&cfg->daemon.control, "/run/vfio-migd/control.sock");
	config_default_string(&cfg->daemon.state_dir, "/var/lib/vfio-migd");
	config_default_string(&cfg->tls.ca, "/etc/pki/vfio-migd/ca-cert.pem");
	config_default_string(&cfg->tls.cert, "/etc/pki/vfio-migd/server-cert.pem");
	config_default_string(&cfg->tls.key, "/etc/pki/vfio-migd/server-key.pem");
	if (cfg->daemon.nlisten == 0 && config_line_of(&p->global_seen, "listen", SECTION_DAEMON) == 0)
		cfg->daemon.listen[cfg->daemon.nlisten++] = xstrdup("0.0.0.0:7480");
	peer_line = config_line_of(&p->global_seen, "peer_timeout_ms", SECTION_DAEMON);
	keepalive_line = config_line_of(&p->global_seen, "keepalive_interval_ms", SECTION_DAEMON);
	snprintf(p->label, sizeof(p->label), "[daemon]");
	if (peer_line >= 0 && keepalive_line >= 0 &&
	    cfg->daemon.peer_timeout_ms <= cfg->daemon.keepalive_interval_ms) {
		if (peer_line > 0)
			config_key_error(p, peer_line, "peer_timeout_ms",
			    "must be greater than keepalive_interval_ms (%" PRIu32 "), got %" PRIu32,
			    cfg->daemon.keepalive_interval_ms, cfg->daemon.peer_timeout_ms);
		else
			config_key_error(p, keepalive_line, "keepalive_interval_ms",
			    "must be less than peer_timeout_ms (%" PRIu32 "), got %" PRIu32,
			    cfg->daemon.peer_timeout_ms, cfg->daemon.keepalive_interval_ms);
	}
	for (i = 0; i < cfg->ndevices; i++)
		config_check_device(p, i);
	config_check_device_files(p);
}

static int
config_problem_cmp(const void *a, const void *b)
{
	const struct config_problem *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Writes "FILE:LINE: message" (or "FILE: message" for line 0) lines in line
 * order into err, truncated to errlen, and forgets the problems. */
static void
config_report(struct config_parse *p, char *err, size_t errlen)
{
	size_t i, used = 0;
	int n;

	if (p->nproblems > 1)
		qsort(p->problems, p->nproblems, sizeof(*p->problems), config_problem_cmp);
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	for (i = 0; i < p->nproblems; i++) {
		const struct config_problem *pb = &p->problems[i];

		if (err != NULL && used + 1 < errlen) {
			if (pb->line > 0)
				n = snprintf(err + used, errlen - used, "%s%s:%d: %s", i > 0 ? "\n" : "",
				    p->name, pb->line, pb->text);
			else
				n = snprintf(err + used, errlen - used, "%s%s: %s", i > 0 ? "\n" : "",
				    p->name, pb->text);
			used = n < 0 || (size_t)n >= errlen - used ? errlen - 1 : used + (size_t)n;
		}
		free(pb->text);
	}
	free(p->problems);
	p->problems = NULL;
}

void
mig_config_free(struct mig_config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	free(cfg->path);
	for (i = 0; i < cfg->daemon.nlisten; i++)
		free(cfg->daemon.listen[i]);
	free(cfg->daemon.metrics_listen);
	free(cfg->daemon.control);
	free(cfg->daemon.control_group);
	free(cfg->daemon.handover);
	free(cfg->daemon.state_dir);
	free(cfg->daemon.hook);
	free(cfg->tls.ca);
	free(cfg->tls.cert);
	free(cfg->tls.groups);
	free(cfg->tls.key);
	for (i = 0; i < cfg->tls.nallowed; i++)
		free(cfg->tls.allowed_peers[i]);
	for (i = 0; i < cfg->ndevices; i++) {
		free(cfg->devices[i].name);
		free(cfg->devices[i].path);
		free(cfg->devices[i].image);
		free(cfg->devices[i].driver_model);
		free(cfg->devices[i].guest_memory);
	}
	free(cfg->devices);
	free(cfg);
}

int
mig_config_load_string(const char *text, const char *name, struct mig_config **out,
    char *err, size_t errlen)
{
	struct config_parse p;
	size_t nproblems;
	int rc;

	memset(&p, 0, sizeof(p));
	p.cfg = xcalloc(1, sizeof(*p.cfg));
	p.cfg->path = xstrdup(name);
	p.name = name;
	p.next = text;
	config_set_defaults(p.cfg);
	rc = ini_parse_stream(config_read_line, &p, config_handle_key, &p);
	if (rc == -2)
		config_error(&p, 0, "out of memory while parsing");
	else if (rc != 0 && p.nproblems == 0)
		config_error(&p, rc, "syntax error");
	config_finish(&p);
	free(p.device_seen);
	nproblems = p.nproblems;
	config_report(&p, err, errlen);
	if (nproblems > 0) {
		mig_config_free(p.cfg);
		*out = NULL;
		return -1;
	}
	*out = p.cfg;
	return 0;
}

/* The whole file, NUL-terminated, or NULL with the reason in err. */
static char *
config_read_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t len = 0, n;

	if (f == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	buf = xmalloc(CONFIG_MAX_FILE_SIZE + 1);
	while ((n = fread(buf + len, 1, CONFIG_MAX_FILE_SIZE + 1 - len, f)) > 0)
		len += n;
	if (ferror(f) || len > CONFIG_MAX_FILE_SIZE || memchr(buf, '\0', len) != NULL) {
		snprintf(err, errlen, "%s: %s", path,
		    ferror(f) ? "read error" :
		    len > CONFIG_MAX_FILE_SIZE ? "larger than 1M, not a configuration file" :
						 "contains a NUL byte, not a configuration file");
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[len] = '\0';
	return buf;
}

int
mig_config_load(const char *path, struct mig_config **out, char *err, size_t errlen)
{
	char scratch[1];
	char *text;
	int rc;

	if (err == NULL || errlen == 0) {
		err = scratch;
		errlen = sizeof(scratch);
	}
	*out = NULL;
	if ((text = config_read_file(path, err, errlen)) == NULL)
		return -1;
	rc = mig_config_load_string(text, path, out, err, errlen);
	free(text);
	return rc;
}
