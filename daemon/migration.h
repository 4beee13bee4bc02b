/*
 * migration.h: the migration object of SPEC §4 and the registry of them.
 *
 * One struct per migration, source or destination. The phase changes only
 * through migration_set_phase(), which checks the arc, logs it and tells
 * the observers registered at start-up (journal, metrics, events, hook:
 * see main()). The engines own the protocol and hang their operations on
 * the migration (struct migration_engine); this file owns the bookkeeping
 * and the JSON the API shows, and calls no other module of the daemon by
 * name.
 */
#ifndef MIG_MIGRATION_H
#define MIG_MIGRATION_H

#include <stdint.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "frame.h"

enum mig_role {
	MIG_ROLE_SOURCE,
	MIG_ROLE_DESTINATION,
};

enum mig_phase {
	PHASE_SETUP,
	PHASE_PRECOPY,
	PHASE_SWITCHOVER_PENDING,
	PHASE_STOPCOPY,
	PHASE_COMPLETING,
	PHASE_COMPLETED,
	PHASE_FAILED,
	PHASE_CANCELLED,
};

enum mig_switchover {
	MIG_SWITCHOVER_AUTO,
	MIG_SWITCHOVER_MANUAL,
};

struct mig_device;
struct peer_conn;
struct source_engine;
struct dest_engine;

struct migration_options {
	uint32_t downtime_limit_ms;
	uint64_t max_bandwidth; /* bytes/s, 0 = unlimited */
	uint32_t precopy_timeout_s;
	int switchover;	 /* enum mig_switchover */
	uint32_t chunk_size;
	uint32_t channels;
	int compression; /* enum mig_compression */
	char dest_device[MIG_NAME_MAX + 1]; /* device name on the destination; "" = same */
	int unsafe_no_p2p; /* several devices: allow ones without P2P states */
	struct migration *parent; /* in: the migration of several devices it is part of */
};

struct migration {
	uint8_t id[MIG_UUID_LEN];
	char id_str[37];
	enum mig_role role;
	enum mig_phase phase;
	struct mig_device *device;
	char peer[256];
	char peer_addr[256]; /* source: HOST:PORT it connects to */
	char dest_device[MIG_NAME_MAX + 1]; /* source: the device's name over there */
	uint8_t peer_id[MIG_UUID_LEN];	    /* the peer's id for this migration */
	char peer_id_str[37];
	uint64_t state_size;		    /* announced estimate of device data */
	char *hook; /* the hook in force when it started: a reload does not
		     * switch hooks under a VMM in the middle of a migration */
	struct migration_options opt;

	/* Figures of SPEC §4. */
	uint64_t bytes_transferred; /* device data + page contents, bytes */
	uint64_t pending_bytes;
	uint64_t dirty_pages;
	uint64_t throughput_bps; /* bits per second */
	uint32_t iterations;
	/* Destination: records in its device, and the END check ("pending",
	 * "verified", "failed"): what an operator there wants to see. */
	uint64_t records_applied;
	const char *verification;
	/* END's digest, once agreed (mig_digest_name()); NULL before. */
	const char *digest;
	/* How DATA travels once agreed ("none", "zstd", "auto"; NULL before),
	 * and bytes_transferred as it crossed: DATA payloads packed or not,
	 * and guest-page contents. */
	const char *compression;
	uint64_t wire_bytes;
	uint64_t expected_downtime_ms;
	uint64_t downtime_ms;
	/* Source: what the device had learned of its switchovers' cost once
	 * this one completed (device.h); journaled, so that a restart keeps
	 * it. */
	uint64_t learned_extra_ms;
	int learned_extra;
	uint64_t setup_ms;
	uint64_t total_ms;
	struct timespec started_at, finished_at; /* wall clock */
	uint64_t start_mono_ns, stop_mono_ns;	 /* monotonic, for durations */
	/* Source: the switchover has begun, END may be sent from now on; on
	 * disk (journal "end_may_be_sent") before the device stops. */
	int end_intent;
	/* The journal holds the migration ("created" fsynced, off the event
	 * loop): until then the engines leave the device alone. */
	int created_durable;
	int error_code;				 /* enum mig_err, MIG_OK when none */
	char error_msg[512];

	/* Destination side: one-time token, until when it is valid. */
	char token[65];
	time_t token_expires;
	int token_used;
	char spent_token[65]; /* the token once used or expired: answered token-expired */
	/* Destination side: union of the dirty bitmaps received. */
	uint8_t *dirty_union;
	uint64_t dirty_union_pages; /* pages the union covers */
	uint32_t dirty_page_size;

	const struct migration_engine *engine; /* set by the engine that owns it */
	struct source_engine *src;
	struct dest_engine *dst;
	/* Several devices in one migration (group.c): the migration the API
	 * shows is the parent, with group set and no stream of its own; each
	 * device moves in a child (parent set), hidden from the list, which
	 * only the journal's observer hears of. */
	struct migration *parent;
	struct mig_group *group;
	unsigned part_index; /* child: its place in the parent's devices */
	/* Parent: a COMMIT covers every device (destination: about to be
	 * sent; source: one has come). A child's engine reads it: after it, a
	 * lost connection completes a device instead of rolling it back. */
	int committed;
	struct migration *next;
};

/* What the engine that owns a migration does for the rest of the daemon. */
struct migration_engine {
	/* Roll back (source) or reset (destination), tell the peer, and
	 * end the migration with code (MIG_E_CANCELLED: cancelled). */
	void (*cancel)(struct migration *m, int code, const char *why);
	/* Free the engine's state; the migration is being freed. */
	void (*free)(struct migration *m);
	/* Add the engine's own fields to the migration's JSON (may be NULL). */
	void (*describe)(const struct migration *m, json_t *o);
	/* The journal holds the migration: the device may be touched now. */
	void (*durable)(struct migration *m);
	/* Parent of several devices: child changed phase or reached a step
	 * where it waits for the others (migration_child_step). NULL: none. */
	void (*child_step)(struct migration *parent, struct migration *child);
};

/*
 * Who hears of every migration's life: created, each phase change, freed
 * (forgotten: it also left the history, so its record goes). Registered at
 * start-up, called in the order registered; any hook may be NULL.
 */
struct migration_observer {
	const char *name;
	void (*created)(struct migration *m);
	void (*phase_changed)(struct migration *m, enum mig_phase from, enum mig_phase to);
	void (*freed)(struct migration *m, int forgotten);
	int children; /* also hears of the devices of a migration of several (group.c) */
};
#define MIGRATION_OBSERVERS_MAX 8
/* 0, or -1 when MIGRATION_OBSERVERS_MAX are registered already. */
int migration_observe(const struct migration_observer *o);
void migration_observers_clear(void);

const char *migration_phase_name(enum mig_phase phase);
const char *migration_role_name(enum mig_role role);
int migration_phase_is_final(enum mig_phase phase);

struct migration *migration_new(enum mig_role role, struct mig_device *dev, const uint8_t *id);
/* The same, for a device of a migration of several devices (parent: its
 * parent, or NULL for a migration of its own). */
struct migration *migration_new_child(enum mig_role role, struct mig_device *dev,
    struct migration *parent);
/* The parent of several devices: named after the first, holding none of
 * them (each child holds its own); the caller sets group. */
struct migration *migration_new_parent(enum mig_role role, struct mig_device *first);
/* The journal's record of "created" is on disk (whether or not the write
 * succeeded: a failure was logged); the engine hears of it. */
void migration_created_durable(struct migration *m);
/* A finished migration read back from the journal: not busy, no engine. */
struct migration *migration_restore(const uint8_t *id, enum mig_role role, struct mig_device *dev);
struct migration *migration_find(const char *id_str);
/* The migration this token (or its spent one) was issued for; of device
 * dev only, unless dev is NULL (the devices of a migration of several
 * share one token). */
struct migration *migration_find_by_token(const char *token, size_t len,
    const struct mig_device *dev);
struct migration *migration_first(void);
void migration_free_all(void);

/* A child of a migration of several devices reached a step where it waits
 * for the others: its parent hears of it. Nothing for others. */
void migration_child_step(struct migration *m);
/* POST /v1/migrations/{id}/switchover: may this migration take it (a
 * running source in manual mode, in pre-copy or switchover-pending)?
 * MIG_OK (logged), or MIG_E_WRONG_STATE with why in err. */
int migration_switchover_check(const struct migration *m, char *err, size_t errlen);
/* Pre-copy has converged: 1 when the engine switches over now (auto); 0
 * in manual mode, where the migration waits in switchover-pending (said
 * in the log) for the API's call. */
int migration_converged(struct migration *m);
/* Pre-copy began at since_ns (monotonic): has it run past the migration's
 * precopy_timeout_s? Then 1, with what it had left in why. */
int migration_precopy_expired(const struct migration *m, uint64_t since_ns, char *why,
    size_t len);
/* Checked and logged phase change. Final phases release the device. */
void migration_set_phase(struct migration *m, enum mig_phase phase);
/* Record why it failed (first error wins) and set the final phase. */
void migration_fail(struct migration *m, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
json_t *migration_to_json(const struct migration *m);
/* One device of several, as its migration's `devices` lists it. */
json_t *migration_part_to_json(const struct migration *c);
json_t *migration_bitmap_to_json(const struct migration *m);

/* POST /v1/migrations/{id}/cancel, either role: roll back (source) or
 * reset (destination), tell the peer, end `cancelled`. MIG_OK, or an
 * enum mig_err with the reason in err. */
int migration_cancel(struct migration *m, char *err, size_t errlen);
/* Shutdown: fail every running migration with `code`, rolling back,
 * except those completing (END sent) unless migrations_exiting is set
 * (the very end: what is still completing then is failed, its device
 * left as it is, for the journal to report at the next start). */
extern int migrations_exiting;
void migration_abort_all(int code, const char *why);
/* Number of migrations not yet in a final phase (a migration of several
 * devices counts once). */
unsigned migration_count_active(void);

#endif
