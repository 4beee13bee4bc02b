/*
 * test_migration.c: the migration object (daemon/migration.c) without an
 * engine, a socket or a disk: its phase machine (every arc, legal or
 * not), "first error wins", the observers it tells and in which order,
 * the history it keeps, and cancel and shutdown through an engine's
 * operations.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "check_main.h"
#include "daemon.h"
#include "device.h"
#include "errors.h"
#include "log.h"
#include "migration.h"

#define NPHASES (PHASE_CANCELLED + 1)

static char dev0_name[] = "dev0", dev1_name[] = "dev1";
static struct mig_device dev = {.name = dev0_name, .backend = "test"};
static char trace[4096];

/* Appends "a" and "b" and a blank to the trace. */
static void
note(const char *a, const char *b)
{
	size_t n = strlen(trace);

	snprintf(trace + n, sizeof(trace) - n, "%s%s ", a, b);
}

static void
note_arc(const char *who, enum mig_phase from, enum mig_phase to)
{
	char buf[128];

	snprintf(buf, sizeof(buf), "%s:%s>%s", who, migration_phase_name(from),
	    migration_phase_name(to));
	note(buf, "");
}

static void
first_created(struct migration *m)
{
	note("first:created:", migration_role_name(m->role));
}

static void
first_phase(struct migration *m, enum mig_phase from, enum mig_phase to)
{
	(void)m;
	note_arc("first", from, to);
}

static void
first_freed(struct migration *m, int forgotten)
{
	(void)m;
	note("first:freed", forgotten ? "+forgotten" : "");
}

static void
second_phase(struct migration *m, enum mig_phase from, enum mig_phase to)
{
	/* The phase is already the new one when observers hear of it. */
	ck_assert_int_eq(m->phase, to);
	note_arc("second", from, to);
}

static const struct migration_observer first = {"first", first_created, first_phase, first_freed, 0};
static const struct migration_observer second = {"second", NULL, second_phase, NULL, 0};

static int cancels, frees;
static int cancel_code;

static void
fake_cancel(struct migration *m, int code, const char *why)
{
	cancels++;
	cancel_code = code;
	migration_fail(m, code, "%s", why);
}

static void
fake_free(struct migration *m)
{
	(void)m;
	frees++;
}

static const struct migration_engine fake_engine = {.cancel = fake_cancel, .free = fake_free};

static void
setup(void)
{
	log_init("test_migration", LOG_LEVEL_ERROR);
	migration_observers_clear();
	trace[0] = '\0';
	cancels = frees = 0;
	dev.busy = NULL;
}

static void
teardown(void)
{
	migration_free_all();
	migration_observers_clear();
}

/* The arcs an engine may take; every other one is refused and changes
 * nothing. */
static int
legal(enum mig_phase from, enum mig_phase to)
{
	static const int arcs[NPHASES][NPHASES] = {
		[PHASE_SETUP] = {[PHASE_PRECOPY] = 1, [PHASE_FAILED] = 1, [PHASE_CANCELLED] = 1},
		[PHASE_PRECOPY] = {[PHASE_SWITCHOVER_PENDING] = 1, [PHASE_STOPCOPY] = 1,
		    [PHASE_FAILED] = 1, [PHASE_CANCELLED] = 1},
		[PHASE_SWITCHOVER_PENDING] = {[PHASE_STOPCOPY] = 1, [PHASE_FAILED] = 1,
		    [PHASE_CANCELLED] = 1},
		[PHASE_STOPCOPY] = {[PHASE_COMPLETING] = 1, [PHASE_FAILED] = 1,
		    [PHASE_CANCELLED] = 1},
		[PHASE_COMPLETING] = {[PHASE_COMPLETED] = 1, [PHASE_FAILED] = 1,
		    [PHASE_CANCELLED] = 1},
	};

	return arcs[from][to];
}

START_TEST(test_every_arc)
{
	enum mig_phase from, to;

	for (from = 0; from < NPHASES; from++)
		for (to = 0; to < NPHASES; to++) {
			struct migration *m = migration_new(MIG_ROLE_SOURCE, &dev, NULL);

			m->phase = from; /* placed there, not walked */
			migration_set_phase(m, to);
			if (from == to || !legal(from, to))
				ck_assert_msg(m->phase == from, "%s -> %s was taken",
				    migration_phase_name(from), migration_phase_name(to));
			else
				ck_assert_msg(m->phase == to, "%s -> %s was refused",
				    migration_phase_name(from), migration_phase_name(to));
			migration_free_all();
			dev.busy = NULL;
		}
}
END_TEST

START_TEST(test_final_phase_releases_the_device)
{
	struct migration *m = migration_new(MIG_ROLE_DESTINATION, &dev, NULL);

	ck_assert_ptr_eq(dev.busy, m);
	strcpy(m->token, "abcd");
	migration_set_phase(m, PHASE_PRECOPY);
	ck_assert_ptr_eq(dev.busy, m);
	migration_set_phase(m, PHASE_CANCELLED);
	ck_assert_ptr_null(dev.busy);
	ck_assert_str_eq(m->token, "");
	ck_assert_str_eq(m->spent_token, "abcd");
	ck_assert(m->finished_at.tv_sec != 0);
	ck_assert_uint_eq(migration_count_active(), 0);
}
END_TEST

START_TEST(test_first_error_wins)
{
	struct migration *m = migration_new(MIG_ROLE_SOURCE, &dev, NULL);
	json_t *o;

	migration_set_phase(m, PHASE_PRECOPY);
	migration_fail(m, MIG_E_TIMEOUT, "peer silent for %d ms", 1500);
	migration_fail(m, MIG_E_CONNECTION_LOST, "then the connection went");
	ck_assert_int_eq(m->phase, PHASE_FAILED);
	ck_assert_int_eq(m->error_code, MIG_E_TIMEOUT);
	ck_assert_str_eq(m->error_msg, "peer silent for 1500 ms");
	o = migration_to_json(m);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(o, "error"), "code")),
	    "timeout");
	json_decref(o);
}
END_TEST

START_TEST(test_cancelled_is_its_own_phase)
{
	struct migration *m = migration_new(MIG_ROLE_SOURCE, &dev, NULL);

	migration_fail(m, MIG_E_CANCELLED, "by the operator");
	ck_assert_int_eq(m->phase, PHASE_CANCELLED);
}
END_TEST

START_TEST(test_observers_in_order)
{
	struct migration *m;

	ck_assert_int_eq(migration_observe(&first), 0);
	ck_assert_int_eq(migration_observe(&second), 0);
	m = migration_new(MIG_ROLE_SOURCE, &dev, NULL);
	migration_set_phase(m, PHASE_PRECOPY);
	migration_set_phase(m, PHASE_COMPLETED); /* refused: no observer hears of it */
	migration_set_phase(m, PHASE_STOPCOPY);
	migration_fail(m, MIG_E_DEVICE_IO, "x");
	ck_assert_str_eq(trace, "first:created:source first:setup>precopy second:setup>precopy "
				"first:precopy>stopcopy second:precopy>stopcopy "
				"first:stopcopy>failed second:stopcopy>failed ");
	trace[0] = '\0';
	migration_free_all();
	ck_assert_str_eq(trace, "first:freed ");
}
END_TEST

START_TEST(test_observer_limit)
{
	int i;

	for (i = 0; i < MIGRATION_OBSERVERS_MAX; i++)
		ck_assert_int_eq(migration_observe(&second), 0);
	ck_assert_int_eq(migration_observe(&second), -1);
}
END_TEST

/* Finished migrations beyond `history` (100 without a config) leave,
 * oldest first, and their observers hear they are forgotten; running
 * ones always stay. */
START_TEST(test_history_is_pruned)
{
	static struct mig_device other; /* outlives the test: teardown frees its migration */
	struct migration *running, *m;
	int i, n = 0;

	other = (struct mig_device){.name = dev1_name, .backend = "test"};

	running = migration_new(MIG_ROLE_SOURCE, &other, NULL);
	for (i = 0; i < 101; i++) {
		m = migration_new(MIG_ROLE_SOURCE, &dev, NULL);
		migration_fail(m, MIG_E_CANCELLED, "x");
	}
	ck_assert_int_eq(migration_observe(&first), 0);
	m = migration_new(MIG_ROLE_SOURCE, &dev, NULL);
	ck_assert_ptr_nonnull(strstr(trace, "first:freed+forgotten"));
	for (m = migration_first(); m != NULL; m = m->next)
		n++;
	ck_assert_int_eq(n, 102); /* 100 finished, the running one, the new one */
	ck_assert_ptr_eq(migration_find(running->id_str), running);
}
END_TEST

START_TEST(test_find_by_token)
{
	struct migration *m = migration_new(MIG_ROLE_DESTINATION, &dev, NULL);

	strcpy(m->token, "00ff");
	ck_assert_ptr_eq(migration_find_by_token("00ff", 4, NULL), m);
	ck_assert_ptr_null(migration_find_by_token("00f", 3, NULL));
	ck_assert_ptr_null(migration_find_by_token("00fe", 4, NULL));
	migration_fail(m, MIG_E_TOKEN_EXPIRED, "x");
	/* A spent token still finds its migration: answered token-expired. */
	ck_assert_ptr_eq(migration_find_by_token("00ff", 4, NULL), m);
}
END_TEST

START_TEST(test_cancel_through_the_engine)
{
	struct migration *m = migration_new(MIG_ROLE_SOURCE, &dev, NULL);
	char err[200];

	m->engine = &fake_engine;
	migration_set_phase(m, PHASE_PRECOPY);
	ck_assert_int_eq(migration_cancel(m, err, sizeof(err)), MIG_OK);
	ck_assert_int_eq(cancels, 1);
	ck_assert_int_eq(cancel_code, MIG_E_CANCELLED);
	ck_assert_int_eq(m->phase, PHASE_CANCELLED);
	ck_assert_int_eq(migration_cancel(m, err, sizeof(err)), MIG_E_WRONG_STATE);
	ck_assert_ptr_nonnull(strstr(err, "already ended cancelled"));
	ck_assert_int_eq(cancels, 1);
	migration_free_all();
	ck_assert_int_eq(frees, 1);
}
END_TEST

/* END is out: rolling back could leave the device running on two hosts. */
START_TEST(test_completing_is_not_cancelled)
{
	struct migration *m = migration_new(MIG_ROLE_SOURCE, &dev, NULL);
	char err[200];

	m->engine = &fake_engine;
	m->phase = PHASE_COMPLETING;
	ck_assert_int_eq(migration_cancel(m, err, sizeof(err)), MIG_E_WRONG_STATE);
	ck_assert_int_eq(cancels, 0);
	migration_abort_all(MIG_E_SHUTDOWN, "exit");
	ck_assert_int_eq(cancels, 0);
	migrations_exiting = 1;
	migration_abort_all(MIG_E_SHUTDOWN, "exit");
	migrations_exiting = 0;
	ck_assert_int_eq(cancels, 1);
	ck_assert_int_eq(m->error_code, MIG_E_SHUTDOWN);
}
END_TEST

START_TEST(test_abort_all_and_count)
{
	struct mig_device other = {.name = dev1_name, .backend = "test"};
	struct migration *a = migration_new(MIG_ROLE_SOURCE, &dev, NULL);
	struct migration *b = migration_new(MIG_ROLE_DESTINATION, &other, NULL);

	a->engine = b->engine = &fake_engine;
	ck_assert_uint_eq(migration_count_active(), 2);
	migration_abort_all(MIG_E_SHUTDOWN, "exit");
	ck_assert_int_eq(cancels, 2);
	ck_assert_uint_eq(migration_count_active(), 0);
}
END_TEST

static void
describe(const struct migration *m, json_t *o)
{
	(void)m;
	json_object_set_new(o, "engine_state", json_string("streaming"));
}

START_TEST(test_json_has_the_engine_fields)
{
	static const struct migration_engine with_describe = {.cancel = fake_cancel,
	    .free = fake_free, .describe = describe};
	struct migration *m = migration_new(MIG_ROLE_SOURCE, &dev, NULL);
	json_t *o;

	m->engine = &with_describe;
	o = migration_to_json(m);
	ck_assert_str_eq(json_string_value(json_object_get(o, "engine_state")), "streaming");
	ck_assert_str_eq(json_string_value(json_object_get(o, "phase")), "setup");
	ck_assert_str_eq(json_string_value(json_object_get(o, "id")), m->id_str);
	ck_assert(json_is_null(json_object_get(o, "error")));
	json_decref(o);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("migration");
	TCase *phase = tcase_create("phase");
	TCase *obs = tcase_create("observers");
	TCase *eng = tcase_create("engine");

	tcase_add_checked_fixture(phase, setup, teardown);
	tcase_add_checked_fixture(obs, setup, teardown);
	tcase_add_checked_fixture(eng, setup, teardown);
	tcase_add_test(phase, test_every_arc);
	tcase_add_test(phase, test_final_phase_releases_the_device);
	tcase_add_test(phase, test_first_error_wins);
	tcase_add_test(phase, test_cancelled_is_its_own_phase);
	tcase_add_test(phase, test_find_by_token);
	tcase_add_test(obs, test_observers_in_order);
	tcase_add_test(obs, test_observer_limit);
	tcase_add_test(obs, test_history_is_pruned);
	tcase_add_test(eng, test_cancel_through_the_engine);
	tcase_add_test(eng, test_completing_is_not_cancelled);
	tcase_add_test(eng, test_abort_all_and_count);
	tcase_add_test(eng, test_json_has_the_engine_fields);
	suite_add_tcase(s, phase);
	suite_add_tcase(s, obs);
	suite_add_tcase(s, eng);
	return tu_run_suite(s);
}
