/*
 * migration.c: migration objects, their phase machine and their JSON.
 *
 * It never touches a device or a socket: the engines do, and report here.
 * It calls no other module by name: the engines' operations hang on each
 * migration (m->engine), and journal, metrics, events and hook hear of
 * every migration's life as observers, registered in main().
 */
#include "migration.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <uuid/uuid.h>

#include "clock.h"
#include "daemon.h"
#include "device.h"
#include "errors.h"
#include "log.h"
#include "xmalloc.h"

static struct migration *migrations;
static const struct migration_observer *observers[MIGRATION_OBSERVERS_MAX];
static size_t nobservers;

int
migration_observe(const struct migration_observer *o)
{
	if (nobservers == MIGRATION_OBSERVERS_MAX)
		return -1;
	observers[nobservers++] = o;
	return 0;
}

void
migration_observers_clear(void)
{
	nobservers = 0;
}

static void
migration_notify_created(struct migration *m)
{
	size_t i;

	for (i = 0; i < nobservers; i++)
		if (observers[i]->created != NULL && (m->parent == NULL || observers[i]->children))
			observers[i]->created(m);
}

static void
migration_notify_phase(struct migration *m, enum mig_phase from, enum mig_phase to)
{
	size_t i;

	for (i = 0; i < nobservers; i++)
		if (observers[i]->phase_changed != NULL &&
		    (m->parent == NULL || observers[i]->children))
			observers[i]->phase_changed(m, from, to);
	migration_child_step(m);
}

static void
migration_notify_freed(struct migration *m, int forgotten)
{
	size_t i;

	for (i = 0; i < nobservers; i++)
		if (observers[i]->freed != NULL && (m->parent == NULL || observers[i]->children))
			observers[i]->freed(m, forgotten);
}

static const char *const phase_names[] = {
	[PHASE_SETUP] = "setup",
	[PHASE_PRECOPY] = "precopy",
	[PHASE_SWITCHOVER_PENDING] = "switchover-pending",
	[PHASE_STOPCOPY] = "stopcopy",
	[PHASE_COMPLETING] = "completing",
	[PHASE_COMPLETED] = "completed",
	[PHASE_FAILED] = "failed",
	[PHASE_CANCELLED] = "cancelled",
};

const char *
migration_phase_name(enum mig_phase phase)
{
	if ((size_t)phase < sizeof(phase_names) / sizeof(phase_names[0]))
		return phase_names[phase];
	return "?";
}

const char *
migration_role_name(enum mig_role role)
{
	return role == MIG_ROLE_SOURCE ? "source" : "destination";
}

int
migration_phase_is_final(enum mig_phase phase)
{
	return phase == PHASE_COMPLETED || phase == PHASE_FAILED || phase == PHASE_CANCELLED;
}

static void
migration_free(struct migration *m, int forgotten)
{
	migration_notify_freed(m, forgotten);
	if (m->engine != NULL)
		m->engine->free(m);
	device_release(m->device);
	free(m->dirty_union);
	free(m->hook);
	free(m);
}

/* Unlink and free every child of parent p (a migration of several devices
 * goes as a whole). */
static void
migration_free_children(struct migration *p, int forgotten)
{
	struct migration **pp = &migrations, *m;

	while ((m = *pp) != NULL) {
		if (m->parent == p) {
			*pp = m->next;
			migration_free(m, forgotten);
			continue;
		}
		pp = &m->next;
	}
}

/* Keep the newest `history` finished migrations; running ones always stay.
 * Children are not counted: they go with their parent. */
static void
migration_prune(void)
{
	struct migration **pp, *m;
	uint32_t kept, limit = daemon_ctx.cfg != NULL ? daemon_ctx.cfg->daemon.history : 100;

again:
	kept = 0;
	pp = &migrations;
	while ((m = *pp) != NULL) {
		if (m->parent == NULL && migration_phase_is_final(m->phase) && kept++ >= limit) {
			*pp = m->next;
			if (m->group != NULL) {
				/* Its children may lie before it in the list. */
				migration_free_children(m, 1);
				migration_free(m, 1);
				goto again;
			}
			migration_free(m, 1);
			continue;
		}
		pp = &m->next;
	}
}

int
migration_switchover_check(const struct migration *m, char *err, size_t errlen)
{
	if (m->role != MIG_ROLE_SOURCE || m->engine == NULL) {
		snprintf(err, errlen, "migration %s is not a running source migration", m->id_str);
		return MIG_E_WRONG_STATE;
	}
	if (m->phase != PHASE_SWITCHOVER_PENDING && m->phase != PHASE_PRECOPY) {
		snprintf(err, errlen, "migration %s is %s; switchover needs precopy or "
				      "switchover-pending", m->id_str, migration_phase_name(m->phase));
		return MIG_E_WRONG_STATE;
	}
	if (m->opt.switchover != MIG_SWITCHOVER_MANUAL) {
		snprintf(err, errlen, "migration %s switches over automatically", m->id_str);
		return MIG_E_WRONG_STATE;
	}
	log_info("migration %s: switchover requested through the API", m->id_str);
	return MIG_OK;
}

int
migration_converged(struct migration *m)
{
	if (m->opt.switchover != MIG_SWITCHOVER_MANUAL)
		return 1;
	log_info("migration %s: converged (expected downtime %llu ms); waiting for the "
		 "switchover call",
	    m->id_str, (unsigned long long)m->expected_downtime_ms);
	migration_set_phase(m, PHASE_SWITCHOVER_PENDING);
	return 0;
}

int
migration_precopy_expired(const struct migration *m, uint64_t since_ns, char *why, size_t len)
{
	if (m->opt.precopy_timeout_s == 0 || since_ns == 0 ||
	    mono_ns() - since_ns <= (uint64_t)m->opt.precopy_timeout_s * 1000000000ull)
		return 0;
	snprintf(why, len, "pre-copy did not converge within precopy_timeout_s=%u (pending %llu "
			   "bytes, expected downtime %llu ms, limit %u ms)",
	    m->opt.precopy_timeout_s, (unsigned long long)m->pending_bytes,
	    (unsigned long long)m->expected_downtime_ms, m->opt.downtime_limit_ms);
	return 1;
}

void
migration_child_step(struct migration *m)
{
	struct migration *p = m->parent;

	if (p != NULL && p->engine != NULL && p->engine->child_step != NULL)
		p->engine->child_step(p, m);
}

void
migration_created_durable(struct migration *m)
{
	m->created_durable = 1;
	if (!migration_phase_is_final(m->phase) && m->engine != NULL && m->engine->durable != NULL)
		m->engine->durable(m);
}

static struct migration *
migration_create(enum mig_role role, struct mig_device *dev, const uint8_t *id,
    struct migration *parent, int is_parent)
{
	struct migration *m = xcalloc(1, sizeof(*m));
	uuid_t u;

	if (id != NULL)
		memcpy(m->id, id, MIG_UUID_LEN);
	else {
		uuid_generate_random(u);
		memcpy(m->id, u, MIG_UUID_LEN);
	}
	uuid_unparse_lower(m->id, m->id_str);
	m->role = role;
	m->phase = PHASE_SETUP;
	m->device = dev;
	m->parent = parent;
	device_hold(dev);
	if (!is_parent)
		dev->busy = m;
	if (daemon_ctx.cfg != NULL && daemon_ctx.cfg->daemon.hook != NULL && parent == NULL)
		m->hook = xstrdup(daemon_ctx.cfg->daemon.hook);
	clock_gettime(CLOCK_REALTIME, &m->started_at);
	m->start_mono_ns = mono_ns();
	migration_prune();
	m->next = migrations;
	migrations = m;
	if (parent != NULL)
		log_info("migration %s: created, %s of device %s in migration %s", m->id_str,
		    migration_role_name(role), dev->name, parent->id_str);
	else if (is_parent)
		log_info("migration %s: created, %s of several devices", m->id_str,
		    migration_role_name(role));
	else
		log_info("migration %s: created, %s of device %s", m->id_str,
		    migration_role_name(role), dev->name);
	/* The journal's observer makes the record durable, off the event
	 * loop, and then calls migration_created_durable(): until then the
	 * engines leave the device alone. */
	migration_notify_created(m);
	return m;
}

struct migration *
migration_new(enum mig_role role, struct mig_device *dev, const uint8_t *id)
{
	return migration_create(role, dev, id, NULL, 0);
}

struct migration *
migration_new_child(enum mig_role role, struct mig_device *dev, struct migration *parent)
{
	return migration_create(role, dev, NULL, parent, 0);
}

struct migration *
migration_new_parent(enum mig_role role, struct mig_device *first)
{
	return migration_create(role, first, NULL, NULL, 1);
}

struct migration *
migration_restore(const uint8_t *id, enum mig_role role, struct mig_device *dev)
{
	struct migration *m = xcalloc(1, sizeof(*m));

	memcpy(m->id, id, MIG_UUID_LEN);
	uuid_unparse_lower(m->id, m->id_str);
	m->role = role;
	m->phase = PHASE_FAILED;
	m->device = dev;
	device_hold(dev);
	m->created_durable = 1; /* read back from the journal */
	m->next = migrations;
	migrations = m;
	return m;
}

struct migration *
migration_find(const char *id_str)
{
	struct migration *m;

	for (m = migrations; m != NULL; m = m->next)
		if (strcmp(m->id_str, id_str) == 0)
			return m;
	return NULL;
}

/* Does token (len bytes) match this destination migration's, live or spent? */
static int
migration_token_matches(const struct migration *m, const char *token, size_t len)
{
	if (m->role != MIG_ROLE_DESTINATION)
		return 0;
	return (m->token[0] != '\0' && strlen(m->token) == len &&
		   CRYPTO_memcmp(m->token, token, len) == 0) ||
	    (m->spent_token[0] != '\0' && strlen(m->spent_token) == len &&
		CRYPTO_memcmp(m->spent_token, token, len) == 0);
}

struct migration *
migration_find_by_token(const char *token, size_t len, const struct mig_device *dev)
{
	struct migration *m;

	for (m = migrations; m != NULL; m = m->next)
		if ((dev == NULL || m->device == dev) && migration_token_matches(m, token, len))
			return m;
	return NULL;
}

struct migration *
migration_first(void)
{
	return migrations;
}

void
migration_free_all(void)
{
	struct migration *m;

	while ((m = migrations) != NULL) {
		migrations = m->next;
		migration_free(m, 0);
	}
}

/* The arcs a migration may take; anything else is a bug in an engine. */
static int
phase_arc_allowed(enum mig_phase from, enum mig_phase to)
{
	if (migration_phase_is_final(from))
		return 0;
	if (to == PHASE_FAILED || to == PHASE_CANCELLED)
		return 1;
	switch (from) {
	case PHASE_SETUP:
		return to == PHASE_PRECOPY;
	case PHASE_PRECOPY:
		return to == PHASE_SWITCHOVER_PENDING || to == PHASE_STOPCOPY;
	case PHASE_SWITCHOVER_PENDING:
		return to == PHASE_STOPCOPY;
	case PHASE_STOPCOPY:
		return to == PHASE_COMPLETING;
	case PHASE_COMPLETING:
		return to == PHASE_COMPLETED;
	default:
		return 0;
	}
}

static uint64_t
ms_between(uint64_t from_ns, uint64_t to_ns)
{
	return to_ns > from_ns ? (to_ns - from_ns) / 1000000u : 0;
}

void
migration_set_phase(struct migration *m, enum mig_phase phase)
{
	enum mig_phase old = m->phase;

	if (old == phase)
		return;
	if (!phase_arc_allowed(old, phase)) {
		log_warnx("migration %s: refused phase change %s -> %s", m->id_str,
		    migration_phase_name(old), migration_phase_name(phase));
		return;
	}
	m->phase = phase;
	if (old == PHASE_SETUP)
		m->setup_ms = ms_between(m->start_mono_ns, mono_ns());
	log_info("migration %s: device %s phase %s -> %s", m->id_str, m->device->name,
	    migration_phase_name(old), migration_phase_name(phase));
	if (migration_phase_is_final(phase)) {
		clock_gettime(CLOCK_REALTIME, &m->finished_at);
		m->total_ms = ms_between(m->start_mono_ns, mono_ns());
		m->throughput_bps = m->total_ms > 0 ? m->bytes_transferred * 8000 / m->total_ms
						    : m->throughput_bps;
		if (m->device->busy == m)
			m->device->busy = NULL;
		if (m->token[0] != '\0')
			memcpy(m->spent_token, m->token, sizeof(m->spent_token));
		m->token[0] = '\0';
	}
	migration_notify_phase(m, old, phase);
}

void
migration_fail(struct migration *m, int code, const char *fmt, ...)
{
	va_list ap;

	if (migration_phase_is_final(m->phase))
		return;
	if (m->error_code == MIG_OK) {
		m->error_code = code;
		va_start(ap, fmt);
		vsnprintf(m->error_msg, sizeof(m->error_msg), fmt, ap);
		va_end(ap);
	}
	log_warnx("migration %s: %s: %s", m->id_str, mig_err_name(m->error_code), m->error_msg);
	migration_set_phase(m, code == MIG_E_CANCELLED ? PHASE_CANCELLED : PHASE_FAILED);
}

static json_t *
time_json(const struct timespec *ts)
{
	char buf[40];
	struct tm tm;

	if (ts->tv_sec == 0)
		return json_null();
	gmtime_r(&ts->tv_sec, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), ".%03ldZ", ts->tv_nsec / 1000000);
	return json_string(buf);
}

/* A migration of several devices read back from the journal has no engine
 * (group.c) to list its devices: they are the migrations it is the parent
 * of, in their places. */
static void
migration_restored_parts(const struct migration *m, json_t *o)
{
	const struct migration *c, **parts;
	json_t *arr;
	size_t n = 0, i, j;

	for (c = migrations; c != NULL; c = c->next)
		n += c->parent == m;
	if (n == 0)
		return;
	/* In their places; two in one place (a damaged record) in list order. */
	parts = xcalloc(n, sizeof(*parts));
	for (c = migrations, i = 0; c != NULL; c = c->next) {
		if (c->parent != m)
			continue;
		for (j = i++; j > 0 && parts[j - 1]->part_index > c->part_index; j--)
			parts[j] = parts[j - 1];
		parts[j] = c;
	}
	arr = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(arr, migration_part_to_json(parts[i]));
	free(parts);
	json_object_set_new(o, "device_count", json_integer(n));
	json_object_set_new(o, "devices", arr);
}

json_t *
migration_to_json(const struct migration *m)
{
	json_t *o = json_object();
	uint64_t total = migration_phase_is_final(m->phase) ? m->total_ms
							       : ms_between(m->start_mono_ns, mono_ns());

	json_object_set_new(o, "id", json_string(m->id_str));
	json_object_set_new(o, "role", json_string(migration_role_name(m->role)));
	json_object_set_new(o, "device", json_string(m->device->name));
	json_object_set_new(o, "peer", m->peer[0] ? json_string(m->peer) : json_null());
	json_object_set_new(o, "peer_migration_id",
	    m->peer_id_str[0] ? json_string(m->peer_id_str) : json_null());
	json_object_set_new(o, "state_size", json_integer((json_int_t)m->state_size));
	json_object_set_new(o, "phase", json_string(migration_phase_name(m->phase)));
	json_object_set_new(o, "bytes_transferred", json_integer((json_int_t)m->bytes_transferred));
	json_object_set_new(o, "dirty_pages", json_integer((json_int_t)m->dirty_pages));
	json_object_set_new(o, "throughput_bps", json_integer((json_int_t)m->throughput_bps));
	json_object_set_new(o, "digest", m->digest != NULL ? json_string(m->digest) : json_null());
	json_object_set_new(o, "compression",
	    m->compression != NULL ? json_string(m->compression) : json_null());
	json_object_set_new(o, "wire_bytes", json_integer((json_int_t)m->wire_bytes));
	if (m->role == MIG_ROLE_SOURCE) {
		json_object_set_new(o, "pending_bytes", json_integer((json_int_t)m->pending_bytes));
		json_object_set_new(o, "iterations", json_integer(m->iterations));
		json_object_set_new(o, "expected_downtime_ms",
		    json_integer((json_int_t)m->expected_downtime_ms));
	} else {
		/* What the source knows (pending, iterations, the switchover
		 * and its limit) means nothing here: what arrived, what is in
		 * the device, whether it checked out, whether it runs. */
		json_object_set_new(o, "records_applied", json_integer((json_int_t)m->records_applied));
		json_object_set_new(o, "verification",
		    json_string(m->verification != NULL ? m->verification : "pending"));
		json_object_set_new(o, "device_running",
		    json_boolean(m->device->ops != NULL && m->device->ops->state_name != NULL &&
			strcmp(m->device->ops->state_name(m->device), "running") == 0));
	}
	json_object_set_new(o, "downtime_ms", json_integer((json_int_t)m->downtime_ms));
	json_object_set_new(o, "setup_ms", json_integer((json_int_t)m->setup_ms));
	json_object_set_new(o, "total_ms", json_integer((json_int_t)total));
	json_object_set_new(o, "started_at", time_json(&m->started_at));
	json_object_set_new(o, "finished_at", time_json(&m->finished_at));
	if (m->error_code != MIG_OK)
		json_object_set_new(o, "error",
		    json_pack("{s:s, s:s}", "code", mig_err_name(m->error_code), "message",
			m->error_msg));
	else
		json_object_set_new(o, "error", json_null());
	if (m->role == MIG_ROLE_SOURCE) {
		json_object_set_new(o, "switchover",
		    json_string(m->opt.switchover == MIG_SWITCHOVER_MANUAL ? "manual" : "auto"));
		json_object_set_new(o, "downtime_limit_ms", json_integer(m->opt.downtime_limit_ms));
	}
	if (m->engine != NULL && m->engine->describe != NULL)
		m->engine->describe(m, o);
	else if (m->parent == NULL)
		migration_restored_parts(m, o);
	return o;
}

json_t *
migration_part_to_json(const struct migration *c)
{
	json_t *d = migration_to_json(c);

	json_object_del(d, "peer");
	json_object_del(d, "started_at");
	json_object_del(d, "switchover");
	json_object_del(d, "downtime_limit_ms");
	json_object_del(d, "setup_ms");
	if (c->role == MIG_ROLE_SOURCE && c->dest_device[0] != '\0')
		json_object_set_new(d, "dest_device", json_string(c->dest_device));
	/* The state its driver last set (no device access). */
	if (c->device->ops != NULL && c->device->ops->state_name != NULL)
		json_object_set_new(d, "device_state",
		    json_string(c->device->ops->state_name(c->device)));
	return d;
}

json_t *
migration_bitmap_to_json(const struct migration *m)
{
	json_t *o = json_object(), *runs = json_array();
	uint64_t p = 0, n = m->dirty_union_pages;

	while (m->dirty_union != NULL && p < n) {
		uint64_t start;

		if (!(m->dirty_union[p / 8] & (1u << (p % 8)))) {
			p++;
			continue;
		}
		start = p;
		while (p < n && (m->dirty_union[p / 8] & (1u << (p % 8))))
			p++;
		json_array_append_new(runs, json_pack("[I, I]", (json_int_t)start, (json_int_t)(p - start)));
	}
	json_object_set_new(o, "migration", json_string(m->id_str));
	json_object_set_new(o, "page_size", json_integer(m->dirty_page_size));
	json_object_set_new(o, "page_count", json_integer((json_int_t)n));
	json_object_set_new(o, "dirty_pages", json_integer((json_int_t)m->dirty_pages));
	json_object_set_new(o, "runs", runs);
	return o;
}

int
migration_cancel(struct migration *m, char *err, size_t errlen)
{
	if (migration_phase_is_final(m->phase) || m->engine == NULL) {
		snprintf(err, errlen, "migration %s already ended %s", m->id_str,
		    migration_phase_name(m->phase));
		return MIG_E_WRONG_STATE;
	}
	if (m->phase == PHASE_COMPLETING) {
		/* END is out and the destination may be resuming or running:
		 * rolling back now could leave the device running on both hosts. */
		snprintf(err, errlen, "migration %s is completing (the destination is verifying "
				      "and resuming); it can no longer be cancelled safely", m->id_str);
		return MIG_E_WRONG_STATE;
	}
	log_info("migration %s: cancel requested through the API", m->id_str);
	m->engine->cancel(m, MIG_E_CANCELLED, "cancelled by the operator");
	return MIG_OK;
}

int migrations_exiting;

void
migration_abort_all(int code, const char *why)
{
	struct migration *m;

	for (m = migrations; m != NULL; m = m->next) {
		/* A child goes with its parent (group.c). */
		if (migration_phase_is_final(m->phase) || m->engine == NULL || m->parent != NULL)
			continue;
		/* END is out: rolling back could leave the device running on both
		 * hosts. Let the COMMIT arrive during the shutdown grace. */
		if (m->phase == PHASE_COMPLETING && code == MIG_E_SHUTDOWN && !migrations_exiting) {
			log_warnx("migration %s: completing; not rolled back, waiting for its "
				  "COMMIT before exit", m->id_str);
			continue;
		}
		m->engine->cancel(m, code, why);
	}
}

unsigned
migration_count_active(void)
{
	struct migration *m;
	unsigned n = 0;

	for (m = migrations; m != NULL; m = m->next)
		n += m->parent == NULL && !migration_phase_is_final(m->phase);
	return n;
}
