/*
 * journal.c: one small JSON file per migration under STATE_DIR/migrations.
 */
#include "journal.h"

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <uuid/uuid.h>

#include "clock.h"
#include "daemon.h"
#include "digest.h"
#include "device.h"
#include "errors.h"
#include "log.h"
#include "migration.h"
#include "parse.h"
#include "ranges.h"
#include "xmalloc.h"

static char *dir;

static void
journal_path(char *buf, size_t len, const char *id, const char *suffix)
{
	snprintf(buf, len, "%s/%s.json%s", dir, id, suffix);
}

#define JOURNAL_SLOW_NS (20u * 1000000u)
/* Room a new migration needs in state_dir: its record, a temporary copy,
 * and the records it writes as it goes (a few KiB each). */
#define JOURNAL_MIN_FREE (16u * 1024u)
#define JOURNAL_MIN_INODES 8u

/* How the last write went (loop only): journal_check's memory. */
static int last_err;
static char last_what[64];
static unsigned long long write_failures;

/* The record of m as it stands, as compact JSON (free() it). */
static char *
journal_render(const struct migration *m)
{
	json_t *o = migration_to_json(m);
	char *text;

	json_object_set_new(o, "journal_version", json_integer(1));
	/* A restart forgets handed-over devices: the record says the
	 * device was one, so that it is not taken for a configuration
	 * error then. */
	if (m->device->origin == DEVICE_HANDOVER)
		json_object_set_new(o, "device_origin", json_string("handover"));
	if (m->end_intent)
		json_object_set_new(o, "end_may_be_sent", json_true());
	if (m->learned_extra)
		json_object_set_new(o, "device_switchover_extra_ms",
		    json_integer((json_int_t)m->learned_extra_ms));
	/* One device of several: a restart decides for all of them at once. */
	if (m->parent != NULL) {
		json_object_set_new(o, "part_of", json_string(m->parent->id_str));
		json_object_set_new(o, "part_index", json_integer(m->part_index));
	}
	json_object_set_new(o, "started_epoch_ms",
	    json_integer((json_int_t)m->started_at.tv_sec * 1000 + m->started_at.tv_nsec / 1000000));
	json_object_set_new(o, "finished_epoch_ms",
	    json_integer((json_int_t)m->finished_at.tv_sec * 1000 +
		m->finished_at.tv_nsec / 1000000));
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

/* Write text to tmp, fsync it when durable, rename it to path. 0, or the
 * errno of the step that failed (*what says which). No logging: this
 * also runs on a writer's thread. */
static int
journal_commit(const char *path, const char *tmp, const char *text, int durable,
    const char **what)
{
	size_t len = strlen(text), off = 0;
	ssize_t n;
	int fd, err;

	*what = "open";
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) < 0)
		return errno;
	*what = "write";
	while (off < len) {
		if ((n = write(fd, text + off, len - off)) < 0) {
			if (errno == EINTR)
				continue;
			err = errno;
			close(fd);
			return err;
		}
		off += (size_t)n;
	}
	*what = "fsync";
	if (durable && fsync(fd) != 0) {
		err = errno;
		close(fd);
		return err;
	}
	close(fd);
	*what = "rename";
	if (rename(tmp, path) != 0)
		return errno;
	if (durable) {
		/* The rename itself must survive a power cut too. */
		*what = "fsync of the directory";
		if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			return errno;
		err = fsync(fd) != 0 ? errno : 0;
		close(fd);
		return err;
	}
	return 0;
}

/* Log how a write went: its failure, or a durable one slower than
 * JOURNAL_SLOW_NS (took 0 when it was not durable). on_loop: the event
 * loop waited for it. */
static void
journal_report(const char *path, const char *tmp, int err, const char *what, uint64_t took,
    int on_loop)
{
	last_err = err;
	if (err != 0) {
		write_failures++;
		snprintf(last_what, sizeof(last_what), "%s", what);
		log_warnx("journal %s: %s: %s", tmp, what, strerror(err));
	} else if (took > JOURNAL_SLOW_NS)
		log_warnx("journal %s: writing and syncing took %llu ms (state_dir on a slow or "
			  "busy disk%s)",
		    path, (unsigned long long)(took / 1000000u),
		    on_loop ? ": the event loop waited for it" : "");
}

/* Write text on the loop (it waits for the disk when durable) and say how
 * it went. 0, or the errno of the step that failed. */
static int
journal_commit_now(const char *path, const char *tmp, const char *text, int durable)
{
	uint64_t t0 = mono_ns();
	const char *what;
	int err = journal_commit(path, tmp, text, durable, &what);

	journal_report(path, tmp, err, what, durable ? mono_ns() - t0 : 0, 1);
	return err;
}

/*
 * Durable writes off the event loop, one writer per migration. A thread
 * writes and fsyncs a record, then writes a byte into a pipe the loop
 * watches. While it runs, later writes of the same migration queue behind
 * it (the newest snapshot wins: a record is the whole migration), so the
 * records land in order and the loop does not wait for the disk. A
 * migration freed meanwhile leaves its writer to finish alone: its last
 * record is still written (and removed, when the migration has left the
 * history), and nobody is called back.
 */
struct journal_writer {
	const struct migration *m; /* NULL once the migration is freed */
	char path[4096], tmp[4096];
	int pipe[2];
	struct event *ev;
	/* The write on the thread (busy). */
	int busy;
	pthread_t thread;
	char *text;
	int durable, err;
	const char *what;
	uint64_t t0, took;
	journal_done_fn done;
	/* The write queued behind it (q_text NULL: none). */
	char *q_text;
	int q_durable;
	journal_done_fn q_done;
	/* Writes that are in, their callbacks not run yet. */
	journal_done_fn fired[2];
	int fired_ok[2], nfired;
	int remove; /* unlink the record once the last write is in */
	struct journal_writer *next;
};

static struct journal_writer *writers;

static void *
journal_writer_main(void *arg)
{
	struct journal_writer *w = arg;
	char b = 1;

	w->err = journal_commit(w->path, w->tmp, w->text, w->durable, &w->what);
	w->took = mono_ns() - w->t0;
	(void)!write(w->pipe[1], &b, 1);
	return NULL;
}

static struct journal_writer *
journal_writer_find(const struct migration *m)
{
	struct journal_writer *w;

	for (w = writers; w != NULL; w = w->next)
		if (w->m == m)
			return w;
	return NULL;
}

static void
journal_writer_free(struct journal_writer *w)
{
	struct journal_writer **pp;

	for (pp = &writers; *pp != NULL; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	event_free(w->ev);
	close(w->pipe[0]);
	close(w->pipe[1]);
	free(w->text);
	free(w->q_text);
	free(w);
}

static void journal_writer_cb(evutil_socket_t fd, short what, void *arg);

/* A writer for m, idle. NULL when no pipe is left. */
static struct journal_writer *
journal_writer_new(const struct migration *m)
{
	struct journal_writer *w = xcalloc(1, sizeof(*w));

	w->m = m;
	journal_path(w->path, sizeof(w->path), m->id_str, "");
	journal_path(w->tmp, sizeof(w->tmp), m->id_str, ".tmp");
	if (pipe2(w->pipe, O_CLOEXEC) != 0) {
		free(w);
		return NULL;
	}
	w->ev = event_new(daemon_ctx.base, w->pipe[0], EV_READ, journal_writer_cb, w);
	w->next = writers;
	writers = w;
	return w;
}

/* Start the thread on text. 0, or -1 (nothing started, text still the
 * caller's). */
static int
journal_writer_start(struct journal_writer *w, char *text, int durable, journal_done_fn done)
{
	sigset_t all, old;
	int err;

	w->text = text;
	w->durable = durable;
	w->done = done;
	w->t0 = mono_ns();
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&w->thread, NULL, journal_writer_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		w->text = NULL;
		return -1;
	}
	w->busy = 1;
	event_add(w->ev, NULL);
	return 0;
}

static void
journal_writer_fire(struct journal_writer *w, journal_done_fn done, int ok)
{
	if (done != NULL && w->nfired < 2) {
		w->fired[w->nfired] = done;
		w->fired_ok[w->nfired++] = ok;
	}
}

/* Wait for the thread (it is over when the pipe is readable) and say how
 * the write went. */
static void
journal_writer_reap(struct journal_writer *w)
{
	char b;

	pthread_join(w->thread, NULL);
	w->busy = 0;
	(void)!read(w->pipe[0], &b, 1);
	event_del(w->ev);
	journal_report(w->path, w->tmp, w->err, w->what, w->durable ? w->took : 0, 0);
	free(w->text);
	w->text = NULL;
	journal_writer_fire(w, w->done, w->err == 0);
}

/* The queued write, here and now (the loop waits for it). */
static void
journal_writer_flush(struct journal_writer *w)
{
	int err = journal_commit_now(w->path, w->tmp, w->q_text, w->q_durable);

	free(w->q_text);
	w->q_text = NULL;
	w->q_durable = 0;
	journal_writer_fire(w, w->q_done, err == 0);
	w->q_done = NULL;
}

/* The thread is over, or callbacks wait: deliver them, start the queued
 * write, or free an idle writer. */
static void
journal_writer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct journal_writer *w = arg;
	struct migration *m = (struct migration *)w->m;
	journal_done_fn fired[2];
	int ok[2], n, i;
	char *text;

	(void)fd;
	(void)what;
	if (w->busy)
		journal_writer_reap(w);
	if (w->q_text != NULL) {
		text = w->q_text;
		w->q_text = NULL;
		if (journal_writer_start(w, text, w->q_durable, w->q_done) == 0)
			w->q_done = NULL;
		else {
			w->q_text = text;
			journal_writer_flush(w);
		}
		w->q_durable = 0;
	}
	n = w->nfired;
	memcpy(fired, w->fired, sizeof(fired));
	memcpy(ok, w->fired_ok, sizeof(ok));
	w->nfired = 0;
	if (!w->busy) {
		if (w->remove && unlink(w->path) != 0 && errno != ENOENT)
			log_warn("journal: unlink %s", w->path);
		journal_writer_free(w);
	}
	/* Callbacks last: they may write m again, or free it. */
	for (i = 0; i < n && m != NULL; i++)
		fired[i](m, ok[i]);
}

/* Queue text behind m's busy writer w (it replaces an older queued one).
 * -1 when a callback is queued already and another is asked for. */
static int
journal_writer_queue(struct journal_writer *w, char *text, int durable, journal_done_fn done)
{
	if (done != NULL && w->q_done != NULL) {
		free(text);
		return -1;
	}
	free(w->q_text);
	w->q_text = text;
	w->q_durable |= durable;
	if (done != NULL)
		w->q_done = done;
	return 0;
}

/* Everything w has is on disk when this returns (the loop waits); its
 * callbacks run from the loop later. */
static void
journal_writer_drain(struct journal_writer *w)
{
	if (w->busy)
		journal_writer_reap(w);
	if (w->q_text != NULL)
		journal_writer_flush(w);
	event_active(w->ev, EV_READ, 1);
}

void
journal_forget(const struct migration *m, int remove)
{
	struct journal_writer *w = journal_writer_find(m);

	if (w == NULL) {
		if (remove)
			journal_remove(m);
		return;
	}
	w->m = NULL;
	w->remove = remove;
}

int
journal_write_durable_async(const struct migration *m, journal_done_fn done)
{
	struct journal_writer *w;
	char *text;

	if (dir == NULL || (text = journal_render(m)) == NULL)
		return -1;
	if ((w = journal_writer_find(m)) != NULL)
		return journal_writer_queue(w, text, 1, done);
	if ((w = journal_writer_new(m)) == NULL) {
		free(text);
		return -1;
	}
	if (journal_writer_start(w, text, 1, done) != 0) {
		free(text);
		journal_writer_free(w);
		return -1;
	}
	return 0;
}

int
journal_write(const struct migration *m, int durable)
{
	struct journal_writer *w;
	char path[4096], tmp[4096];
	char *text;
	int err;

	if (dir == NULL)
		return 0;
	if ((text = journal_render(m)) == NULL) {
		log_warnx("journal: cannot render migration %s", m->id_str);
		return -1;
	}
	if ((w = journal_writer_find(m)) != NULL) {
		if (!durable && w->busy)
			return journal_writer_queue(w, text, 0, NULL);
		/* The caller needs it on disk now: the writer goes first. */
		journal_writer_drain(w);
	}
	journal_path(path, sizeof(path), m->id_str, "");
	journal_path(tmp, sizeof(tmp), m->id_str, ".tmp");
	err = journal_commit_now(path, tmp, text, durable);
	free(text);
	return err == 0 ? 0 : -1;
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

/*
 * Migrations of several devices (group.c) are made safe as a whole, once
 * every record is read: a restart must not roll one device back and leave
 * another stopped, or reset one and keep another running.
 * - source: END may have gone only once every device had said so on disk
 *   (none stops before all have: the group quiesces after the last
 *   intent), so all of them had end_may_be_sent, or none sent END: all are
 *   left for the operator, or all roll back;
 * - destination: COMMIT left only after the migration's own record said
 *   completing: then all are kept running, else all are reset.
 */
struct journal_part {
	struct migration *m;
	char parent[37];
	char phase[32];	 /* at the stop; "" when it had ended */
	int intent;	 /* end_may_be_sent */
	int is_parent;
	struct journal_part *next;
};
static struct journal_part *parts;

static void
journal_part_add(struct migration *m, const char *parent, const char *phase, int intent,
    int is_parent)
{
	struct journal_part *p = xcalloc(1, sizeof(*p));

	p->m = m;
	snprintf(p->parent, sizeof(p->parent), "%s", parent);
	snprintf(p->phase, sizeof(p->phase), "%s", phase);
	p->intent = intent;
	p->is_parent = is_parent;
	p->next = parts;
	parts = p;
}

static void journal_make_safe(struct migration *m, const char *phase);

/* The phase a device of several is made safe as: see above. */
static const char *
journal_part_phase(const struct journal_part *c)
{
	const struct journal_part *p;

	if (c->m->role == MIG_ROLE_SOURCE) {
		for (p = parts; p != NULL; p = p->next)
			if (!p->is_parent && strcmp(p->parent, c->parent) == 0 && p->phase[0] != '\0' &&
			    !p->intent)
				return "precopy"; /* one had not said so: no END left */
		return "completing";
	}
	for (p = parts; p != NULL; p = p->next)
		if (p->is_parent && strcmp(p->m->id_str, c->parent) == 0)
			return strcmp(p->phase, "completing") == 0 ? "completing" : "receiving";
	return "receiving"; /* no record of the migration: it never committed */
}

void
journal_restore_finish(void)
{
	struct journal_part *p, *next;

	for (p = parts; p != NULL; p = p->next)
		if (!p->is_parent)
			p->m->parent = migration_find(p->parent); /* hidden in it */
	for (p = parts; p != NULL; p = p->next) {
		if (p->phase[0] == '\0')
			continue;
		if (!p->is_parent && p->m->device->removed)
			log_warnx("device %s: was handed over, and the restart let go of it; it is "
				  "as the daemon left it in migration %s: its VMM puts it back and "
				  "attaches it again",
			    p->m->device->name, p->m->id_str);
		else if (!p->is_parent)
			journal_make_safe(p->m, journal_part_phase(p));
		(void)journal_write(p->m, 1);
	}
	for (p = parts; p != NULL; p = next) {
		next = p->next;
		free(p);
	}
	parts = NULL;
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
	/* At start, before the daemon serves anything: the device's thread
	 * is idle, and holding its lock is what lets this call touch it. */
	if (device_worker_trylock(dev->worker) != 0) {
		log_warnx("device %s: busy at start; migration %s's device left as it is",
		    dev->name, m->id_str);
		return;
	}
	if (m->role == MIG_ROLE_SOURCE) {
		rc = dev->ops->rollback(dev);
		device_worker_unlock(dev->worker);
		log_warnx("device %s: was the source of migration %s when the daemon stopped; %s",
		    dev->name, m->id_str, rc == 0 ? "it is running" : "it could not be set running");
		return;
	}
	rc = dev->ops->reset(dev);
	device_worker_unlock(dev->worker);
	log_warnx("device %s: was receiving migration %s when the daemon stopped; its state may "
		  "be partial and it was reset%s: do not use what it holds",
	    dev->name, m->id_str, rc == 0 ? "" : " (the reset failed)");
}

/* A completed source migration read back: what its device had learned of
 * its switchovers' cost (device.h) is the device's again, unless a later
 * one's record says otherwise. A figure beyond any downtime limit is not
 * one of ours: ignored. */
static void
journal_restore_extra(struct migration *m, json_t *o)
{
	struct mig_device *dev = m->device;
	json_t *v = json_object_get(o, "device_switchover_extra_ms");
	uint64_t finished = (uint64_t)m->finished_at.tv_sec * 1000 +
	    (uint64_t)m->finished_at.tv_nsec / 1000000;
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	if (m->role != MIG_ROLE_SOURCE || !json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > MIG_DOWNTIME_LIMIT_MS_MAX)
		return;
	/* A record from the future would win over every later one. */
	if (finished > (uint64_t)now.tv_sec * 1000 + 60000)
		return;
	m->learned_extra_ms = (uint64_t)json_integer_value(v);
	m->learned_extra = 1;
	if (dev->removed || (dev->switchover_extra_known && dev->switchover_extra_epoch_ms > finished))
		return;
	dev->switchover_extra_ms = m->learned_extra_ms;
	dev->switchover_extra_known = 1;
	dev->switchover_extra_epoch_ms = finished;
}

struct migration *
journal_restore_text(const char *text, size_t len, const char *path)
{
	char msg[512], id_str[37];
	json_error_t jerr;
	struct mig_device *dev;
	struct migration *m;
	json_t *o, *err;
	const char *phase, *part_of;
	int handed, is_parent;
	uuid_t id;

	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL || !json_is_object(o)) {
		log_warnx("journal %s: unreadable (%s), ignored", path, o ? "not an object" : jerr.text);
		json_decref(o);
		return NULL;
	}
	handed = strcmp(jstr(o, "device_origin"), "handover") == 0 &&
	    mig_valid_name(jstr(o, "device"), MIG_DEVICE_NAME_MAX);
	if (uuid_parse(jstr(o, "id"), id) != 0 ||
	    ((dev = device_find(jstr(o, "device"))) == NULL && !handed)) {
		log_warnx("journal %s: unknown id or device, ignored", path);
		json_decref(o);
		return NULL;
	}
	uuid_unparse_lower(id, id_str); /* "3D5A..." names the same migration */
	if (migration_find(id_str) != NULL) {
		log_warnx("journal %s: a second record of migration %s, ignored", path, id_str);
		json_decref(o);
		return NULL;
	}
	/* A handed-over device is gone with the restart (its VMM attaches it
	 * again): the migration keeps its name in the history. */
	if (dev == NULL || (handed && dev->origin != DEVICE_HANDOVER))
		dev = device_placeholder(jstr(o, "device"), DEVICE_HANDOVER);
	m = migration_restore(id, strcmp(jstr(o, "role"), "source") == 0 ? MIG_ROLE_SOURCE
									  : MIG_ROLE_DESTINATION, dev);
	snprintf(m->peer, sizeof(m->peer), "%s", jstr(o, "peer"));
	snprintf(m->peer_id_str, sizeof(m->peer_id_str), "%s", jstr(o, "peer_migration_id"));
	m->bytes_transferred = jnum(o, "bytes_transferred");
	m->dirty_pages = jnum(o, "dirty_pages");
	m->iterations = (uint32_t)jnum(o, "iterations");
	m->records_applied = jnum(o, "records_applied");
	if (strcmp(jstr(o, "verification"), "verified") == 0)
		m->verification = "verified";
	else if (strcmp(jstr(o, "verification"), "failed") == 0)
		m->verification = "failed";
	if (mig_digest_from_name(jstr(o, "digest")) >= 0)
		m->digest = mig_digest_name(mig_digest_from_name(jstr(o, "digest")));
	if (mig_compression_from_name(jstr(o, "compression")) >= 0)
		m->compression = mig_compression_name(mig_compression_from_name(jstr(o, "compression")));
	m->wire_bytes = jnum(o, "wire_bytes");
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
	part_of = jstr(o, "part_of");
	/* Its place among the migration's devices (a bad one only reorders
	 * the list). */
	m->part_index = jnum(o, "part_index") < 64 ? (unsigned)jnum(o, "part_index") : 63;
	is_parent = json_object_get(o, "device_count") != NULL;
	if (part_of[0] != '\0' && (strcmp(phase, "completed") == 0 ||
		strcmp(phase, "failed") == 0 || strcmp(phase, "cancelled") == 0))
		journal_part_add(m, part_of, "", 0, 0); /* ended: only linked */
	if (strcmp(phase, "completed") == 0) {
		m->phase = PHASE_COMPLETED;
		journal_restore_extra(m, o);
	} else if (strcmp(phase, "cancelled") == 0 || strcmp(phase, "failed") == 0) {
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
		if (is_parent || part_of[0] != '\0') {
			/* Its devices are made safe together, once all are read. */
			journal_part_add(m, part_of, phase,
			    json_is_true(json_object_get(o, "end_may_be_sent")), is_parent);
			json_decref(o);
			return m;
		}
		if (dev->removed)
			log_warnx("device %s: was handed over, and the restart let go of it; it is "
				  "as the daemon left it in migration %s (phase %s): its VMM puts it "
				  "back (running or stopped, or a reset) and attaches it again",
			    dev->name, m->id_str, phase);
		else
			journal_make_safe(m, m->role == MIG_ROLE_SOURCE &&
			    json_is_true(json_object_get(o, "end_may_be_sent")) ? "completing"
										 : phase);
		(void)journal_write(m, 1); /* a failure is logged; the next start says the same */
	}
	json_decref(o);
	return m;
}

/* Records are small: a larger file is not one of ours. */
#define JOURNAL_RECORD_MAX (1u << 20)

static void
journal_restore_one(const char *file)
{
	char path[4096], *text;
	struct stat st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
		log_warn("journal %s", path);
		if (fd >= 0)
			close(fd);
		return;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > (off_t)JOURNAL_RECORD_MAX) {
		log_warnx("journal %s: not a record (%lld bytes), ignored", path,
		    (long long)st.st_size);
		close(fd);
		return;
	}
	text = xmalloc((size_t)st.st_size + 1);
	n = read(fd, text, (size_t)st.st_size);
	close(fd);
	if (n < 0)
		log_warn("journal %s", path);
	else
		(void)journal_restore_text(text, (size_t)n, path);
	free(text);
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
	journal_restore_finish();
	return 0;
}

unsigned long long
journal_write_failures(void)
{
	return write_failures;
}

/* A small write where the records go, no fsync: can the file system take
 * a file now? 0 or the errno. */
static int
journal_probe(void)
{
	char path[4096];
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/.probe", dir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) < 0)
		return errno;
	if (write(fd, "vfio-migd journal probe\n", 24) != 24)
		err = errno != 0 ? errno : ENOSPC;
	close(fd);
	unlink(path);
	return err;
}

int
journal_check(char *why, size_t len)
{
	struct statvfs st;
	uint64_t avail;
	int err;

	if (dir == NULL)
		return 0;
	if (statvfs(dir, &st) == 0) {
		avail = (uint64_t)st.f_bavail * (uint64_t)st.f_frsize;
		if (avail < JOURNAL_MIN_FREE) {
			snprintf(why, len, "state_dir %s has %llu bytes free, a migration's records "
					   "need %u",
			    dir, (unsigned long long)avail, JOURNAL_MIN_FREE);
			return -1;
		}
		if (st.f_files > 0 && st.f_favail < JOURNAL_MIN_INODES) {
			snprintf(why, len, "state_dir %s has %llu inodes free", dir,
			    (unsigned long long)st.f_favail);
			return -1;
		}
	}
	if (last_err == 0)
		return 0;
	/* The last write failed: is it still so? */
	if ((err = journal_probe()) == 0) {
		last_err = 0;
		return 0;
	}
	snprintf(why, len, "state_dir %s cannot take a record: the last write failed (%s: %s), "
			   "and a probe now: %s",
	    dir, last_what, strerror(last_err), strerror(err));
	return -1;
}

void
journal_close(void)
{
	struct journal_writer *w;

	while ((w = writers) != NULL) {
		journal_writer_drain(w);
		if (w->remove && unlink(w->path) != 0 && errno != ENOENT)
			log_warn("journal: unlink %s", w->path);
		journal_writer_free(w);
	}
	free(dir);
	dir = NULL;
}

/* "created" is on disk: the engine may touch the device now. When it is
 * not, the migration ends here, before anything touched the device: a
 * restart would not know of it. */
static void
journal_created_done(struct migration *m, int ok)
{
	if (!ok && m->engine != NULL && m->engine->cancel != NULL &&
	    !migration_phase_is_final(m->phase))
		m->engine->cancel(m, MIG_E_JOURNAL,
		    "state_dir could not record this migration (see the log); it did not start");
	migration_created_durable(m);
}

/* Every record starts durable, written off the event loop. */
static void
journal_on_created(struct migration *m)
{
	if (journal_write_durable_async(m, journal_created_done) != 0) {
		(void)journal_write(m, 1);
		migration_created_durable(m);
	}
}

/*
 * Restart tells only "completing" (END sent, or COMMIT sent) from the
 * phases before it (roll back, reset), and the record exists from the
 * start: only this step must reach the disk before its frame leaves. A
 * source has made it durable already, as end_may_be_sent, before it
 * stopped the device (src_request_switchover); a destination makes it
 * durable on a thread before it sends COMMIT (dst_on_end): an fsync here
 * would block the event loop, in the downtime, and on a busy disk that is
 * tens to hundreds of milliseconds.
 * The other steps need no fsync; stop-copy is not written at all: it is
 * in the downtime, a restart treats it as the pre-copy before it, and even
 * without an fsync the rename cost a millisecond there.
 */
static void
journal_on_phase(struct migration *m, enum mig_phase from, enum mig_phase to)
{
	if (to == PHASE_STOPCOPY)
		return;
	if (to == PHASE_COMPLETING && m->role == MIG_ROLE_DESTINATION)
		return; /* dest.c writes it durably itself, before COMMIT leaves */
	/* A failure is logged; a restart then sees the phase before, which
	 * it treats the same (see above). */
	(void)journal_write(m, to == PHASE_COMPLETING && !m->end_intent);
}

static void
journal_on_freed(struct migration *m, int forgotten)
{
	journal_forget(m, forgotten);
}

const struct migration_observer journal_observer = {
	.name = "journal",
	.children = 1, /* each device's own record: what a restart acts on */
	.created = journal_on_created,
	.phase_changed = journal_on_phase,
	.freed = journal_on_freed,
};
