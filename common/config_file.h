/*
 * config_file.h: the daemon's INI configuration (SPEC §3), parsed with
 * libinih and validated in full before the daemon uses any of it.
 *
 * Every error names the file, the line, the section and key, and why
 * ("vfio-migd.conf:12: [migration] chunk_size: must be 4K..16M, got 64M").
 * Unknown sections and keys are errors too: a typo must not be silently
 * ignored on a host that migrates tenants' devices.
 */
#ifndef MIG_CONFIG_FILE_H
#define MIG_CONFIG_FILE_H

#include <stddef.h>
#include <stdint.h>

/* The ranges the file is checked against, and the parsers of its value
 * formats, which the daemon's other readers of addresses share. */
#include "digest.h"
#include "log.h"
#include "parse.h"
#include "ranges.h"

/* [migration] compression: DATA chunks packed with zstd never, always
 * (when it makes a chunk smaller), or while it pays (auto). */
enum mig_compression {
	MIG_COMPRESSION_NONE = 0,
	MIG_COMPRESSION_ZSTD = 1,
	MIG_COMPRESSION_AUTO = 2,
};
/* "none", "zstd", "auto"; the value of a name, or -1. */
const char *mig_compression_name(int c);
int mig_compression_from_name(const char *name);

#define MIG_CONFIG_DEFAULT_PATH "/etc/vfio-migd/vfio-migd.conf"

enum mig_backend {
	MIG_BACKEND_SIM,
	MIG_BACKEND_SIM_V2,
	MIG_BACKEND_VFIO_V1,
	MIG_BACKEND_VFIO_V2,
	MIG_BACKEND_VFIO_USER,
};


/* Here and in struct mig_config, every value is within its range of
 * ranges.h. */
struct mig_device_config {
	char *name;		    /* from [device NAME]: mig_valid_name() */
	enum mig_backend backend;   /* required */
	char *path;		    /* vfio-*: device path or PCI address;
				     * vfio-user: the server's socket */
	/* vfio-user: MIG_DATA_WRITE bodies at most this long; 0 = default
	 * (VFU_WRITE_MAX_DEFAULT); and how long a reply may take. */
	uint32_t vfio_user_write_max;
	uint32_t vfio_user_timeout_ms;
	/* sim: */
	uint64_t size;		    /* required for sim */
	uint64_t dirty_rate;	    /* bytes/s, default 0 */
	char *image;		    /* default <state_dir>/<name>.img */
	char *guest_memory;	    /* optional */
	uint64_t guest_memory_size; /* required with guest_memory */
	uint64_t dma_dirty_rate;    /* bytes/s, default 0 */
	uint64_t seed;		    /* default: a hash of the name */
	uint32_t section_size;	    /* data section; 0 = the device's 1M */
	/* The driver a software device behaves as (docs/SIM_DEVICE.md); NULL
	 * = its backend's default. Checked against the backend here. */
	char *driver_model;
	uint32_t transition_delay_ms; /* each state change blocks this long */
	uint32_t fail_load; /* sim-v2: 1 = refuse RESUMING -> STOP (a bad image) */
	int content;		    /* 0 random (default), 1 text */
	uint32_t zero_pages;	    /* percent of pages that hold zeros, 0..100 */
	int line;		    /* where the section starts, for later messages */
};

struct mig_config {
	char *path; /* the file this came from */
	struct {
		char *listen[MIG_LISTEN_MAX];	     /* "host:port"; "[v6]:port" too */
		size_t nlisten;			     /* default one: 0.0.0.0:7480 */
		char *metrics_listen;		     /* GET /metrics over TCP; NULL = none */
		char *control;			     /* default /run/vfio-migd/control.sock */
		char *control_group;		     /* NULL = leave the group alone */
		char *handover;			     /* hand-over socket; NULL = none */
		char *state_dir;		     /* default /var/lib/vfio-migd */
		char *hook;			     /* NULL = none; absolute path */
		uint32_t hook_timeout_ms;	     /* default 30000 */
		enum log_level log_level;	     /* default info */
		uint32_t keepalive_interval_ms;	     /* default 5000 */
		uint32_t peer_timeout_ms;	     /* default 30000, > keepalive */
		uint32_t handshake_timeout_ms;	     /* default 10000 */
		uint32_t max_connections;	     /* unauthenticated at once, default 64 */
		uint32_t max_migrations;	     /* concurrent, default 16 */
		uint32_t token_ttl_s;		     /* incoming token lifetime, default 600 */
		uint32_t max_watchers;		     /* GET /v1/events streams, default 32 */
		uint32_t max_frame_size;	     /* largest frame a peer may send us: bounds
						      * each connection's input buffer;
						      * default 16M + 64 */
		uint32_t history;		     /* finished migrations kept, default 100 */
	} daemon;
	struct {
		char *ca, *cert, *key; /* defaults under /etc/pki/vfio-migd/ */
		char *allowed_peers[MIG_ALLOWED_PEERS_MAX];
		size_t nallowed; /* 0 = any certificate the CA signed */
		char *groups;	 /* key exchange groups; NULL: MIG_TLS_GROUPS */
	} tls;
	struct {
		uint32_t downtime_limit_ms; /* default 300 */
		uint64_t max_bandwidth;	    /* bytes/s, 0 = unlimited */
		uint32_t precopy_timeout_s; /* default 600 */
		int switchover_manual;	    /* 0 auto (default), 1 manual */
		uint32_t chunk_size;	    /* default 1M */
		uint32_t channels;	    /* default 1 */
		/* END digests this daemon accepts, preferred first (enum
		 * mig_digest_id); default xxh3-128, sha256. */
		int digests[MIG_DIGEST_COUNT];
		size_t ndigests;
		enum mig_compression compression; /* default none */
	} migration;
	struct mig_device_config *devices;
	size_t ndevices;
};

/*
 * Load and validate. Returns 0 with *out set, or -1 with every problem
 * found written into err (one per line, each "FILE:LINE: message", NUL
 * terminated, truncated to errlen).
 * The lines come in line order, separated by '\n' with none after the last;
 * a problem with the file as a whole reads "FILE: message" ("cannot open").
 */
int mig_config_load(const char *path, struct mig_config **out, char *err, size_t errlen);
/* Same, from a string (tests); `name` stands for the file in messages. */
int mig_config_load_string(const char *text, const char *name, struct mig_config **out,
    char *err, size_t errlen);
void mig_config_free(struct mig_config *cfg);

const char *mig_backend_name(enum mig_backend b);

#endif
