/*
 * test_journal.c: the journal (daemon/journal.c) on a real directory: a
 * record written and read back at start-up, what a restart makes of a
 * migration that was running (failed, daemon-restart, the record
 * rewritten), and files it must survive: torn, corrupt, not an object, of
 * an unknown device, a temporary file left by a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>
#include <jansson.h>

#include "check_main.h"
#include "config_file.h"
#include "daemon.h"
#include "device.h"
#include "errors.h"
#include "journal.h"
#include "log.h"
#include "migration.h"

static char state_dir[] = "/tmp/test_journal.XXXXXX";
static char jdir[512];
static struct mig_config *cfg;
static struct mig_device *dev;

static void
setup(void)
{
	char text[1024], err[512];

	log_init("test_journal", LOG_LEVEL_ERROR);
	ck_assert_ptr_nonnull(mkdtemp(state_dir));
	snprintf(jdir, sizeof(jdir), "%s/migrations", state_dir);
	snprintf(text, sizeof(text),
	    "[device sim0]\nbackend = sim\nsize = 64K\ndirty_rate = 0\nimage = %s/sim0.img\n"
	    "[device sim1]\nbackend = sim\nsize = 64K\ndirty_rate = 0\nimage = %s/sim1.img\n",
	    state_dir, state_dir);
	ck_assert_msg(mig_config_load_string(text, "t.conf", &cfg, err, sizeof(err)) == 0, "%s",
	    err);
	daemon_ctx.cfg = cfg;
	daemon_ctx.base = event_base_new();
	ck_assert_int_eq(devices_open(cfg, daemon_ctx.base), 0);
	dev = device_find("sim0");
	ck_assert_ptr_nonnull(dev);
}

static void
teardown(void)
{
	char cmd[600];

	journal_close();
	migration_free_all();
	devices_close();
	event_base_free(daemon_ctx.base);
	mig_config_free(cfg);
	daemon_ctx.cfg = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", state_dir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(state_dir, "/tmp/test_journal.XXXXXX");
}

static void
put_file(const char *name, const char *text)
{
	char path[700];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", jdir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static json_t *
read_record(const char *id)
{
	char path[700];

	snprintf(path, sizeof(path), "%s/%s.json", jdir, id);
	return json_load_file(path, 0, NULL);
}

static int
count_migrations(void)
{
	struct migration *m;
	int n = 0;

	for (m = migration_first(); m != NULL; m = m->next)
		n++;
	return n;
}

/* A migration written in a phase, then the daemon "restarts". */
static struct migration *
written_then_restarted(enum mig_role role, enum mig_phase phase, int end_intent, char *id)
{
	struct migration *m;

	ck_assert_int_eq(journal_init(state_dir), 0);
	m = migration_new(role, dev, NULL);
	m->phase = phase;
	m->bytes_transferred = 12345;
	m->end_intent = end_intent;
	strcpy(id, m->id_str);
	journal_write(m, 1);
	journal_close();
	migration_free_all();
	dev->busy = NULL;
	ck_assert_int_eq(journal_init(state_dir), 0);
	return migration_find(id);
}

START_TEST(test_completed_comes_back_as_it_was)
{
	char id[40];
	struct migration *m = written_then_restarted(MIG_ROLE_SOURCE, PHASE_COMPLETED, 0, id);

	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(m->phase, PHASE_COMPLETED);
	ck_assert_int_eq(m->error_code, MIG_OK);
	ck_assert_uint_eq(m->bytes_transferred, 12345);
	ck_assert_ptr_null(dev->busy);
}
END_TEST

START_TEST(test_running_source_fails_with_daemon_restart)
{
	char id[40];
	struct migration *m = written_then_restarted(MIG_ROLE_SOURCE, PHASE_PRECOPY, 0, id);
	json_t *o;

	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(m->phase, PHASE_FAILED);
	ck_assert_int_eq(m->error_code, MIG_E_DAEMON_RESTART);
	ck_assert_ptr_nonnull(strstr(m->error_msg, "during phase precopy"));
	/* The record now says so too: a second restart sees a failed one. */
	o = read_record(id);
	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(json_string_value(json_object_get(o, "phase")), "failed");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(o, "error"), "code")),
	    "daemon-restart");
	json_decref(o);
	ck_assert_str_eq(dev->ops->state_name(dev), "running");
}
END_TEST

START_TEST(test_running_destination_fails_with_daemon_restart)
{
	char id[40];
	struct migration *m = written_then_restarted(MIG_ROLE_DESTINATION, PHASE_STOPCOPY, 0, id);

	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(m->role, MIG_ROLE_DESTINATION);
	ck_assert_int_eq(m->phase, PHASE_FAILED);
	ck_assert_int_eq(m->error_code, MIG_E_DAEMON_RESTART);
}
END_TEST

/*
 * Two devices of one migration, their records and the migration's written
 * as the daemon stopped, each device left as the stop found it (saving on
 * a source, resuming on a destination); then the restart. The devices
 * come back linked to their migration, hidden in it.
 */
static void
group_restarted(const char *role, const char *parent_phase, const char *phase0, int intent0,
    const char *phase1, int intent1)
{
	static const char pid[] = "6b1c0f3e-0d7a-4c55-9b1e-2f0e4a5d6c70";
	static const char cid[2][37] = {"6b1c0f3e-0d7a-4c55-9b1e-2f0e4a5d6c71",
	    "6b1c0f3e-0d7a-4c55-9b1e-2f0e4a5d6c72"};
	const char *phases[2] = {phase0, phase1};
	int intents[2] = {intent0, intent1}, src = strcmp(role, "source") == 0, i;
	char text[600], name[100];
	struct mig_device *d;

	ck_assert_int_eq(journal_init(state_dir), 0);
	journal_close();
	snprintf(text, sizeof(text), "{\"id\":\"%s\",\"role\":\"%s\",\"device\":\"sim0\","
	    "\"phase\":\"%s\",\"device_count\":2}", pid, role, parent_phase);
	snprintf(name, sizeof(name), "%s.json", pid);
	put_file(name, text);
	for (i = 0; i < 2; i++) {
		snprintf(text, sizeof(text), "{\"id\":\"%s\",\"role\":\"%s\",\"device\":\"sim%d\","
		    "\"phase\":\"%s\",\"part_of\":\"%s\"%s}", cid[i], role, i, phases[i], pid,
		    intents[i] ? ",\"end_may_be_sent\":true" : "");
		snprintf(name, sizeof(name), "%s.json", cid[i]);
		put_file(name, text);
		snprintf(name, sizeof(name), "sim%d", i);
		d = device_find(name);
		ck_assert_int_eq(device_worker_trylock(d->worker), 0);
		ck_assert_int_eq(src ? d->ops->save_begin(d, 1) : d->ops->resume_begin(d), 0);
		device_worker_unlock(d->worker);
	}
	ck_assert_int_eq(journal_init(state_dir), 0);
	ck_assert_int_eq(count_migrations(), 3);
	for (i = 0; i < 2; i++) {
		struct migration *c = migration_find(cid[i]);

		ck_assert_ptr_nonnull(c);
		ck_assert_ptr_eq(c->parent, migration_find(pid));
		ck_assert_int_eq(c->error_code, MIG_E_DAEMON_RESTART);
	}
}

static const char *
state_of(const char *name)
{
	struct mig_device *d = device_find(name);

	return d->ops->state_name(d);
}

/* A source: END may have left only once every device had said so. */
START_TEST(test_group_source_made_safe_as_a_whole)
{
	/* One device had not: no END left; both roll back, even the one
	 * whose record alone would have left it for the operator. */
	group_restarted("source", "stopcopy", "stopcopy", 1, "switchover-pending", 0);
	ck_assert_str_eq(state_of("sim0"), "running");
	ck_assert_str_eq(state_of("sim1"), "running");
}
END_TEST

START_TEST(test_group_source_left_when_every_end_may_have_gone)
{
	group_restarted("source", "completing", "completing", 1, "stopcopy", 1);
	ck_assert_str_ne(state_of("sim0"), "running");
	ck_assert_str_ne(state_of("sim1"), "running");
}
END_TEST

/* A destination: COMMIT left only after the migration's own record. */
START_TEST(test_group_destination_follows_its_migration)
{
	/* One device's record says completing, the migration's does not:
	 * no COMMIT left, both are reset. */
	group_restarted("destination", "stopcopy", "completing", 0, "stopcopy", 0);
	ck_assert_str_eq(state_of("sim0"), "running");
	ck_assert_str_eq(state_of("sim1"), "running");
}
END_TEST

START_TEST(test_group_destination_kept_after_its_commit)
{
	group_restarted("destination", "completing", "completing", 0, "completing", 0);
	ck_assert_str_ne(state_of("sim0"), "running");
	ck_assert_str_ne(state_of("sim1"), "running");
}
END_TEST

/* The devices' own records need not have caught up (only the migration's
 * is written durably before COMMIT): the migration's record decides. */
START_TEST(test_group_destination_kept_by_its_record_alone)
{
	group_restarted("destination", "completing", "stopcopy", 0, "receiving", 0);
	ck_assert_str_ne(state_of("sim0"), "running");
	ck_assert_str_ne(state_of("sim1"), "running");
}
END_TEST

/* A handed-over device is gone after a restart: its running migration
 * fails daemon-restart in the history, by the device's name, and nothing
 * touches a device of that name. */
START_TEST(test_handed_over_device_gone_after_restart)
{
	struct mig_device hd;
	struct migration *m;
	char id[40], name[] = "gpu9";
	json_t *o;

	memset(&hd, 0, sizeof(hd));
	hd.name = name;
	hd.origin = DEVICE_HANDOVER;
	ck_assert_int_eq(journal_init(state_dir), 0);
	m = migration_new(MIG_ROLE_SOURCE, &hd, NULL);
	m->phase = PHASE_PRECOPY;
	strcpy(id, m->id_str);
	journal_write(m, 1);
	journal_close();
	migration_free_all();
	ck_assert_int_eq(journal_init(state_dir), 0);
	ck_assert_ptr_nonnull(m = migration_find(id));
	ck_assert_ptr_ne(m->device, &hd);
	ck_assert_str_eq(m->device->name, "gpu9");
	ck_assert(m->device->removed);
	ck_assert_ptr_null(device_find("gpu9"));
	ck_assert_int_eq(m->phase, PHASE_FAILED);
	ck_assert_int_eq(m->error_code, MIG_E_DAEMON_RESTART);
	o = read_record(id);
	ck_assert_str_eq(json_string_value(json_object_get(o, "device_origin")), "handover");
	ck_assert_str_eq(json_string_value(json_object_get(o, "phase")), "failed");
	json_decref(o);
	/* A record of a configured device's name that was handed over does
	 * not touch the configured one. */
	ck_assert_str_eq(dev->ops->state_name(dev), "running");
}
END_TEST

START_TEST(test_cancelled_keeps_its_error)
{
	char id[40];
	struct migration *m;

	ck_assert_int_eq(journal_init(state_dir), 0);
	m = migration_new(MIG_ROLE_SOURCE, dev, NULL);
	strcpy(id, m->id_str);
	migration_fail(m, MIG_E_CANCELLED, "by the operator");
	journal_write(m, 0);
	journal_close();
	migration_free_all();
	ck_assert_int_eq(journal_init(state_dir), 0);
	m = migration_find(id);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(m->phase, PHASE_CANCELLED);
	ck_assert_int_eq(m->error_code, MIG_E_CANCELLED);
	ck_assert_str_eq(m->error_msg, "by the operator");
}
END_TEST

/* Torn (a crash mid-write without the rename's protection), corrupt, not
 * an object, without id, of an unknown device: each is ignored, and the
 * good record beside them still comes back. A leftover .tmp is removed. */
/* What a source's device had learned of its switchovers comes back from
 * the latest record that says it; a figure out of bounds, one of another
 * type, a destination's, or a record dated in the future, does not. */
static void
put_learned(unsigned n, const char *role, uint64_t finished_ms, const char *extra)
{
	char name[80], text[600];

	snprintf(name, sizeof(name), "%08x-0000-4000-8000-000000000000.json", n);
	snprintf(text, sizeof(text),
	    "{\"id\":\"%08x-0000-4000-8000-000000000000\",\"role\":\"%s\",\"device\":"
	    "\"sim0\",\"phase\":\"completed\",\"started_epoch_ms\":%llu,"
	    "\"finished_epoch_ms\":%llu,\"device_switchover_extra_ms\":%s}",
	    n, role, (unsigned long long)finished_ms - 1000, (unsigned long long)finished_ms,
	    extra);
	put_file(name, text);
}

START_TEST(test_learned_switchover_cost_comes_back)
{
	uint64_t t = 1764093669010ull;

	ck_assert_int_eq(journal_init(state_dir), 0);
	journal_close();
	put_learned(1, "source", t, "100");
	put_learned(2, "source", t + 20000, "200");	      /* the latest that counts */
	put_learned(3, "source", t + 10000, "150");
	put_learned(4, "source", t + 30000, "1000000000000"); /* beyond any limit */
	put_learned(5, "source", t + 40000, "\"250\"");
	put_learned(6, "destination", t + 50000, "300");
	put_learned(7, "source", 4102444800000ull, "7"); /* in 2100 */
	ck_assert_int_eq(journal_init(state_dir), 0);
	ck_assert_int_eq(count_migrations(), 7);
	ck_assert(dev->switchover_extra_known);
	ck_assert_uint_eq(dev->switchover_extra_ms, 200);
}
END_TEST

START_TEST(test_bad_files_are_ignored)
{
	static const char *const bad[] = {
	    "{\"id\":\"0f0e0d0c-0b0a-4908-8706-050403020100\",\"role\":\"source\",\"dev",
	    "\x01\x02\xff garbage",
	    "[1,2,3]",
	    "",
	    "{\"role\":\"source\",\"device\":\"sim0\",\"phase\":\"precopy\"}",
	    "{\"id\":\"not-a-uuid\",\"device\":\"sim0\",\"phase\":\"precopy\"}",
	    ("{\"id\":\"1f0e0d0c-0b0a-4908-8706-050403020100\",\"device\":\"nosuch\","
		"\"phase\":\"precopy\"}"),
	    "{\"id\":\"2f0e0d0c-0b0a-4908-8706-050403020100\",\"id\":\"x\",\"device\":\"sim0\"}",
	};
	char name[80], path[700], id[40];
	struct stat st;
	size_t i;

	written_then_restarted(MIG_ROLE_SOURCE, PHASE_COMPLETED, 0, id);
	journal_close();
	migration_free_all();
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(name, sizeof(name), "%08zx-0000-4000-8000-000000000000.json", i);
		put_file(name, bad[i]);
	}
	put_file("30000000-0000-4000-8000-000000000000.json.tmp", "{\"half\":");
	put_file("README", "not a record");
	ck_assert_int_eq(journal_init(state_dir), 0);
	ck_assert_int_eq(count_migrations(), 1);
	ck_assert_ptr_nonnull(migration_find(id));
	snprintf(path, sizeof(path), "%s/30000000-0000-4000-8000-000000000000.json.tmp", jdir);
	ck_assert_int_ne(stat(path, &st), 0);
}
END_TEST

/* Values of the wrong type or out of range read as nothing, not as
 * garbage: a record is data from disk, not to be trusted blindly. */
START_TEST(test_wrong_types_read_as_zero)
{
	struct migration *m;

	ck_assert_int_eq(journal_init(state_dir), 0);
	journal_close();
	put_file("4f0e0d0c-0b0a-4908-8706-050403020100.json",
	    "{\"id\":\"4f0e0d0c-0b0a-4908-8706-050403020100\",\"role\":7,\"device\":\"sim0\","
	    "\"phase\":\"completed\",\"bytes_transferred\":-5,\"iterations\":\"many\","
	    "\"peer\":{\"x\":1},\"started_epoch_ms\":1e300}");
	ck_assert_int_eq(journal_init(state_dir), 0);
	m = migration_find("4f0e0d0c-0b0a-4908-8706-050403020100");
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(m->role, MIG_ROLE_DESTINATION);
	ck_assert_int_eq(m->phase, PHASE_COMPLETED);
	ck_assert_uint_eq(m->bytes_transferred, 0);
	ck_assert_uint_eq(m->iterations, 0);
	ck_assert_str_eq(m->peer, "");
}
END_TEST

/* Two files naming the same migration: the first read wins, the second
 * is ignored (not a second object with the same id). A file far larger
 * than any record is not read. */
START_TEST(test_duplicate_and_oversized)
{
	static const char rec[] = "{\"id\":\"5f0e0d0c-0b0a-4908-8706-050403020100\","
				  "\"device\":\"sim0\",\"phase\":\"completed\"}";
	char *big = malloc(2u << 20);

	ck_assert_int_eq(journal_init(state_dir), 0);
	journal_close();
	put_file("5f0e0d0c-0b0a-4908-8706-050403020100.json", rec);
	put_file("6f0e0d0c-0b0a-4908-8706-050403020100.json", rec);
	ck_assert_ptr_nonnull(big);
	memset(big, ' ', (2u << 20) - 1);
	big[(2u << 20) - 1] = '\0';
	memcpy(big, rec, sizeof(rec) - 1);
	big[9] = '7'; /* another id */
	put_file("7f0e0d0c-0b0a-4908-8706-050403020100.json", big);
	free(big);
	ck_assert_int_eq(journal_init(state_dir), 0);
	ck_assert_int_eq(count_migrations(), 1);
	ck_assert_ptr_nonnull(migration_find("5f0e0d0c-0b0a-4908-8706-050403020100"));
}
END_TEST

START_TEST(test_removed_when_forgotten)
{
	char path[700];
	struct migration *m;
	struct stat st;

	ck_assert_int_eq(journal_init(state_dir), 0);
	m = migration_new(MIG_ROLE_SOURCE, dev, NULL);
	journal_write(m, 0);
	snprintf(path, sizeof(path), "%s/%s.json", jdir, m->id_str);
	ck_assert_int_eq(stat(path, &st), 0);
	journal_remove(m);
	ck_assert_int_ne(stat(path, &st), 0);
}
END_TEST

/* The record of id on disk is in phase (or gone, for phase NULL). */
static int
record_is(const char *id, const char *phase)
{
	char path[700];
	json_t *rec;
	int yes;

	if (phase == NULL) {
		snprintf(path, sizeof(path), "%s/%s.json", jdir, id);
		return access(path, F_OK) != 0;
	}
	if ((rec = read_record(id)) == NULL)
		return 0;
	yes = json_is_string(json_object_get(rec, "phase")) &&
	      strcmp(json_string_value(json_object_get(rec, "phase")), phase) == 0;
	json_decref(rec);
	return yes;
}

/* Run the loop until the record of id is in phase and calls callbacks
 * have run, at most 3 s. */
static int done_calls, done_ok;

static void
loop_until(const char *id, const char *phase, int calls)
{
	int i;

	for (i = 0; i < 300 && !(record_is(id, phase) && done_calls >= calls); i++) {
		event_base_loop(daemon_ctx.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(10000);
	}
	ck_assert_msg(record_is(id, phase), "record of %s not %s after 3 s", id,
	    phase != NULL ? phase : "removed");
	ck_assert_int_eq(done_calls, calls);
}

static void
count_done(struct migration *m, int ok)
{
	(void)m;
	done_calls++;
	done_ok = ok;
}

/*
 * Holding a writer's thread: this program's fsync() (which journal.c,
 * linked in, calls instead of libc's) waits for a byte on a pipe while
 * `holding` is set, so a durable write stays in flight exactly as long as
 * a test wants, whatever the machine's load.
 */
static int hold_pipe[2] = {-1, -1};
static int holding;

int
fsync(int fd)
{
	char b;

	(void)fd;
	if (__atomic_load_n(&holding, __ATOMIC_SEQ_CST) && hold_pipe[0] >= 0)
		(void)!read(hold_pipe[0], &b, 1);
	return 0;
}

static void
hold_writers(void)
{
	if (hold_pipe[0] < 0)
		ck_assert_int_eq(pipe(hold_pipe), 0);
	__atomic_store_n(&holding, 1, __ATOMIC_SEQ_CST);
}

/* Let go: fsyncs from now on return at once; the one waiting gets its byte. */
static void
release_writers(void)
{
	__atomic_store_n(&holding, 0, __ATOMIC_SEQ_CST);
	ck_assert_int_eq(write(hold_pipe[1], "x", 1), 1);
}

/* A write behind a durable one in flight queues; the loop never waits for
 * the thread (before, it joined it: this test then hung in journal_write),
 * and the newest record is the one that lands. */
START_TEST(test_write_queues_behind_a_durable_one)
{
	struct migration *m;

	ck_assert_int_eq(journal_init(state_dir), 0);
	m = migration_new(MIG_ROLE_SOURCE, dev, NULL);
	hold_writers();
	done_calls = 0;
	ck_assert_int_eq(journal_write_durable_async(m, count_done), 0);
	m->phase = PHASE_PRECOPY;
	ck_assert_int_eq(journal_write(m, 0), 0);
	m->phase = PHASE_CANCELLED;
	ck_assert_int_eq(journal_write(m, 0), 0);
	ck_assert_int_eq(done_calls, 0);
	release_writers();
	loop_until(m->id_str, "cancelled", 1);
	ck_assert_int_eq(done_ok, 1);
}
END_TEST

/* A migration freed while its write is in flight: the loop does not wait,
 * no callback runs, and the record is removed once the thread is done. */
START_TEST(test_forgotten_while_writing)
{
	char path[700], id[64];
	struct migration *m;
	struct stat st;

	ck_assert_int_eq(journal_init(state_dir), 0);
	m = migration_new(MIG_ROLE_SOURCE, dev, NULL);
	strcpy(id, m->id_str);
	journal_write(m, 0);
	hold_writers();
	done_calls = 0;
	ck_assert_int_eq(journal_write_durable_async(m, count_done), 0);
	m->phase = PHASE_FAILED;
	ck_assert_int_eq(journal_write(m, 0), 0);
	journal_forget(m, 1);
	snprintf(path, sizeof(path), "%s/%s.json", jdir, id);
	ck_assert_int_eq(stat(path, &st), 0);
	release_writers();
	loop_until(id, NULL, 0);
}
END_TEST

static void *
release_later(void *arg)
{
	(void)arg;
	usleep(100000);
	release_writers();
	return NULL;
}

/* A durable write on the loop waits for the one in flight, then lands
 * after it; the queued callback still runs, from the loop. */
START_TEST(test_durable_write_waits_for_the_thread)
{
	struct migration *m;
	pthread_t releaser;
	json_t *rec;

	ck_assert_int_eq(journal_init(state_dir), 0);
	m = migration_new(MIG_ROLE_DESTINATION, dev, NULL);
	hold_writers();
	done_calls = 0;
	ck_assert_int_eq(journal_write_durable_async(m, count_done), 0);
	/* Something else lets the writer go while journal_write waits. */
	ck_assert_int_eq(pthread_create(&releaser, NULL, release_later, NULL), 0);
	m->phase = PHASE_COMPLETING;
	ck_assert_int_eq(journal_write(m, 1), 0);
	pthread_join(releaser, NULL);
	rec = read_record(m->id_str);
	ck_assert_ptr_nonnull(rec);
	ck_assert_str_eq(json_string_value(json_object_get(rec, "phase")), "completing");
	json_decref(rec);
	ck_assert_int_eq(done_calls, 0);
	loop_until(m->id_str, "completing", 1);
	ck_assert_int_eq(done_ok, 1);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("journal");
	TCase *tc = tcase_create("restore");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_completed_comes_back_as_it_was);
	tcase_add_test(tc, test_learned_switchover_cost_comes_back);
	tcase_add_test(tc, test_group_source_made_safe_as_a_whole);
	tcase_add_test(tc, test_group_source_left_when_every_end_may_have_gone);
	tcase_add_test(tc, test_group_destination_follows_its_migration);
	tcase_add_test(tc, test_group_destination_kept_after_its_commit);
	tcase_add_test(tc, test_group_destination_kept_by_its_record_alone);
	tcase_add_test(tc, test_running_source_fails_with_daemon_restart);
	tcase_add_test(tc, test_running_destination_fails_with_daemon_restart);
	tcase_add_test(tc, test_handed_over_device_gone_after_restart);
	tcase_add_test(tc, test_cancelled_keeps_its_error);
	tcase_add_test(tc, test_bad_files_are_ignored);
	tcase_add_test(tc, test_wrong_types_read_as_zero);
	tcase_add_test(tc, test_duplicate_and_oversized);
	tcase_add_test(tc, test_removed_when_forgotten);
	tcase_add_test(tc, test_write_queues_behind_a_durable_one);
	tcase_add_test(tc, test_forgotten_while_writing);
	tcase_add_test(tc, test_durable_write_waits_for_the_thread);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
