/*
 * journal.c: one small JSON file per migration under STATE_DIR/migrations.
 */
#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <uuid/uuid.h>

#include "device.h"
#include "errors.h"
#include "log.h"
#include "migration.h"
#include "xmalloc.h"

static char *dir;

static void
journal_path(char *buf, size_t len, const char *id, const char *suffix)
{
	snprintf(buf, len, "%s/%s.json%s", dir, id, suffix);
}

#define JOURNAL_SLOW_NS (20u * 1000000u)

void
journal_write(const struct migration *m, int durable)
{
	char path[4096], tmp[4096];
	uint64_t t0 = mono_ns(), took;
	json_t *o;
	int fd;

	if (dir == NULL)
		return;
	o = migration_to_json(m);
	json_object_set_new(o, "journal_version", json_integer(1));
	if (m->end_intent)
		json_object_set_new(o, "end_may_be_sent", json_true());
	json_object_set_new(o, "started_epoch_ms",
	    json_integer((json_int_t)m->started_at.tv_sec * 1000 + m->started_at.tv_nsec / 1000000));
	json_object_set_new(o, "finished_epoch_ms",
	    json_integer((json_int_t)m->finished_at.tv_sec * 1000 +
		m->finished_at.tv_nsec / 1000000));
	journal_path(path, sizeof(path), m->id_str, "");
	journal_path(tmp, sizeof(tmp), m->id_str, ".tmp");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0 || json_dumpfd(o, fd, JSON_COMPACT) != 0 || (durable && fsync(fd) != 0)) {
		log_warn("journal %s", tmp);
		if (fd >= 0)
			close(fd);
		json_decref(o);
		return;
	}
	close(fd);
	json_decref(o);
	if (rename(tmp, path) != 0)
		log_warn("journal: rename %s", tmp);
	else if (durable && (took = mono_ns() - t0) > JOURNAL_SLOW_NS)
		/* Before END and before COMMIT this is part of the downtime. */
		log_warnx("journal %s: writing and syncing took %llu ms (state_dir on a slow or "
			  "busy disk: this adds to the downtime)",
		    path, (unsigned long long)(took / 1000000u));
}

void
journal_remove(const struct migration *m)
{
	char path[4096];

	if (dir == NULL)
		return;
	journal_path(path, sizeof(path), m->id_str, "");
	if (unlink(path) != 0 && errno != ENOENT)
		log_warn("journal: unlink %s", path);
}

static const char *
jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

static uint64_t
jnum(json_t *o, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(o, key));

	return v > 0 ? (uint64_t)v : 0;
}

static void
ms_to_timespec(uint64_t ms, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ms / 1000);
	ts->tv_nsec = (long)(ms % 1000) * 1000000;
}

/* Put a device an interrupted migration held into a safe state. */
static void
journal_make_safe(struct migration *m, const char *phase)
{
	struct mig_device *dev = m->device;
	int rc;

	if (m->role == MIG_ROLE_DESTINATION && strcmp(phase, "completing") == 0) {
		/* It had verified and resumed the whole stream and sent COMMIT:
		 * the source stops for good on COMMIT, so this may be the only
		 * copy. A reset could lose the guest's device state. */
		log_warnx("device %s: had resumed the state of migration %s and sent COMMIT when "
			  "the daemon stopped; it is left running: if the source did not receive "
			  "COMMIT it runs too, check it and stop one of them",
		    dev->name, m->id_str);
		return;
	}
	if (m->role == MIG_ROLE_SOURCE && strcmp(phase, "completing") == 0) {
		/* END was (or may have been) sent: the destination may have
		 * resumed and committed. */
		log_warnx("device %s: migration %s had begun its switchover (END may have been "
			  "sent) when the daemon stopped; the destination may be running the "
			  "device now: check it before starting the guest here",
		    dev->name, m->id_str);
		return;
	}
	if (m->role == MIG_ROLE_SOURCE) {
		rc = dev->ops->rollback(dev);
		log_warnx("device %s: was the source of migration %s when the daemon stopped; %s",
		    dev->name, m->id_str, rc == 0 ? "it is running" : "it could not be set running");
		return;
	}
	rc = dev->ops->reset(dev);
	log_warnx("device %s: was receiving migration %s when the daemon stopped; its state may "
		  "be partial and it was reset%s: do not use what it holds",
	    dev->name, m->id_str, rc == 0 ? "" : " (the reset failed)");
}

static void
journal_restore_one(const char *file)
{
	char path[4096], msg[512];
	json_error_t jerr;
	struct mig_device *dev;
	struct migration *m;
	json_t *o, *err;
	const char *phase;
	uuid_t id;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	o = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL || !json_is_object(o)) {
		log_warnx("journal %s: unreadable (%s), ignored", path, o ? "not an object" : jerr.text);
		json_decref(o);
		return;
	}
	if (uuid_parse(jstr(o, "id"), id) != 0 ||
	    (dev = device_find(jstr(o, "device"))) == NULL) {
		log_warnx("journal %s: unknown id or device, ignored", path);
		json_decref(o);
		return;
	}
	m = migration_restore(id, strcmp(jstr(o, "role"), "source") == 0 ? MIG_ROLE_SOURCE
									  : MIG_ROLE_DESTINATION, dev);
	snprintf(m->peer, sizeof(m->peer), "%s", jstr(o, "peer"));
	snprintf(m->peer_id_str, sizeof(m->peer_id_str), "%s", jstr(o, "peer_migration_id"));
	m->bytes_transferred = jnum(o, "bytes_transferred");
	m->dirty_pages = jnum(o, "dirty_pages");
	m->iterations = (uint32_t)jnum(o, "iterations");
	m->downtime_ms = jnum(o, "downtime_ms");
	m->expected_downtime_ms = jnum(o, "expected_downtime_ms");
	m->setup_ms = jnum(o, "setup_ms");
	m->total_ms = jnum(o, "total_ms");
	m->state_size = jnum(o, "state_size");
	m->throughput_bps = jnum(o, "throughput_bps");
	ms_to_timespec(jnum(o, "started_epoch_ms"), &m->started_at);
	ms_to_timespec(jnum(o, "finished_epoch_ms"), &m->finished_at);
	phase = jstr(o, "phase");
	err = json_object_get(o, "error");
	if (strcmp(phase, "completed") == 0)
		m->phase = PHASE_COMPLETED;
	else if (strcmp(phase, "cancelled") == 0 || strcmp(phase, "failed") == 0) {
		m->phase = phase[0] == 'c' ? PHASE_CANCELLED : PHASE_FAILED;
		m->error_code = mig_err_from_name(jstr(err, "code"));
		snprintf(m->error_msg, sizeof(m->error_msg), "%s", jstr(err, "message"));
	} else {
		/* It was running: now it has failed, and says why. */
		snprintf(msg, sizeof(msg), "the daemon stopped during phase %s", phase);
		m->phase = PHASE_FAILED;
		m->error_code = MIG_E_DAEMON_RESTART;
		snprintf(m->error_msg, sizeof(m->error_msg), "%s", msg);
		clock_gettime(CLOCK_REALTIME, &m->finished_at);
		log_warnx("migration %s: %s: %s", m->id_str, mig_err_name(MIG_E_DAEMON_RESTART), msg);
		/* A source that had begun its switchover may have sent END
		 * after it (the journal is not written again before END). */
		journal_make_safe(m, m->role == MIG_ROLE_SOURCE &&
		    json_is_true(json_object_get(o, "end_may_be_sent")) ? "completing" : phase);
		journal_write(m, 1);
	}
	json_decref(o);
}

int
journal_init(const char *state_dir)
{
	struct dirent *de;
	char path[4096];
	size_t n;
	DIR *d;

	snprintf(path, sizeof(path), "%s/migrations", state_dir);
	if (mkdir(path, 0750) != 0 && errno != EEXIST) {
		log_warn("journal directory %s", path);
		return -1;
	}
	if ((d = opendir(path)) == NULL) {
		log_warn("journal directory %s", path);
		return -1;
	}
	dir = xstrdup(path);
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		if (n == 36 + 9 && strcmp(de->d_name + 36, ".json.tmp") == 0) {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			unlink(path);
			continue;
		}
		if (n == 36 + 5 && strcmp(de->d_name + 36, ".json") == 0)
			journal_restore_one(de->d_name);
	}
	closedir(d);
	return 0;
}

void
journal_close(void)
{
	free(dir);
	dir = NULL;
}
