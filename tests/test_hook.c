/*
 * test_hook.c: the orchestration hook queue (daemon/hook.c) running a real
 * script: one hook at a time, in the order asked, each with its arguments
 * and the migration as JSON on stdin; the answer (exit status) reaches the
 * caller; a hook over hook_timeout_ms is killed and counts as a veto.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "check_main.h"
#include "config_file.h"
#include "daemon.h"
#include "device.h"
#include "hook.h"
#include "log.h"
#include "migration.h"

static char tmp[] = "/tmp/test_hook.XXXXXX";
static char log_path[600];
static struct mig_config *cfg;
static char dev_name[] = "gpu0";
static struct mig_device dev = {.name = dev_name, .backend = "test"};
static int answers, last_ok;
static char last_why[256];

static void
setup(void)
{
	char text[1024], err[512], script[600];
	FILE *f;

	log_init("test_hook", LOG_LEVEL_ERROR);
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	snprintf(log_path, sizeof(log_path), "%s/calls", tmp);
	snprintf(script, sizeof(script), "%s/hook", tmp);
	f = fopen(script, "w");
	ck_assert_ptr_nonnull(f);
	/* One line per call: EVENT ROLE DEVICE, and whether stdin held the
	 * migration's JSON with the event in it. "slow" sleeps, "veto" says no. */
	fprintf(f, "#!/bin/sh\n"
		   "json=$(cat)\n"
		   "case \"$json\" in *\"\\\"event\\\":\\\"$1\\\"\"*\"\\\"id\\\":\\\"$3\\\"\"*|"
		   "*\"\\\"id\\\":\\\"$3\\\"\"*\"\\\"event\\\":\\\"$1\\\"\"*) in=json ;; *) in=no-json ;; esac\n"
		   "echo \"$1 $2 $4 $in\" >>%s\n"
		   "case $1 in slow) sleep 10 ;; veto) exit 3 ;; esac\n"
		   "exit 0\n",
	    log_path);
	fclose(f);
	chmod(script, 0755);
	snprintf(text, sizeof(text), "[daemon]\nhook = %s\nhook_timeout_ms = 2000\n", script);
	ck_assert_msg(mig_config_load_string(text, "t.conf", &cfg, err, sizeof(err)) == 0, "%s",
	    err);
	daemon_ctx.cfg = cfg;
	daemon_ctx.base = event_base_new();
	answers = 0;
	dev.busy = NULL;
}

static void
teardown(void)
{
	char cmd[600];

	hook_shutdown();
	migration_free_all();
	event_base_free(daemon_ctx.base);
	mig_config_free(cfg);
	daemon_ctx.cfg = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(tmp, "/tmp/test_hook.XXXXXX");
}

static void
answered(struct migration *m, int ok, const char *why)
{
	ck_assert_ptr_nonnull(m);
	answers++;
	last_ok = ok;
	snprintf(last_why, sizeof(last_why), "%s", why != NULL ? why : "");
	event_base_loopbreak(daemon_ctx.base);
}

/* Run the loop until `want` answers came, at most 20 s. */
static void
run_until(int want)
{
	struct timeval tv = {0, 50000};
	int i;

	for (i = 0; i < 400 && answers < want; i++) {
		event_base_loopexit(daemon_ctx.base, &tv);
		event_base_dispatch(daemon_ctx.base);
	}
	ck_assert_int_eq(answers, want);
}

static char *
calls(void)
{
	static char buf[4096];
	FILE *f = fopen(log_path, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (f != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

START_TEST(test_in_order_one_at_a_time)
{
	struct migration *m = migration_new(MIG_ROLE_SOURCE, &dev, NULL);

	ck_assert_str_eq(m->hook, cfg->daemon.hook);
	hook_fire("started", m);
	ck_assert_int_eq(hook_run("switchover", m, answered), 0);
	hook_fire("completed", m);
	ck_assert_int_eq(hook_run("resumed", m, answered), 0);
	run_until(2);
	ck_assert_int_eq(last_ok, 1);
	ck_assert_str_eq(calls(), "started source gpu0 json\n"
				  "switchover source gpu0 json\n"
				  "completed source gpu0 json\n"
				  "resumed source gpu0 json\n");
}
END_TEST

START_TEST(test_non_zero_exit_is_a_no)
{
	struct migration *m = migration_new(MIG_ROLE_DESTINATION, &dev, NULL);

	ck_assert_int_eq(hook_run("veto", m, answered), 0);
	run_until(1);
	ck_assert_int_eq(last_ok, 0);
	ck_assert_str_eq(last_why, "exited with status 3");
	ck_assert_str_eq(calls(), "veto destination gpu0 json\n");
}
END_TEST

/* Killed at hook_timeout_ms (2000 ms here, the hook would sleep 10 s), and
 * the queue behind it goes on. */
START_TEST(test_timeout_kills_and_the_queue_goes_on)
{
	struct migration *m = migration_new(MIG_ROLE_SOURCE, &dev, NULL);

	ck_assert_int_eq(hook_run("slow", m, answered), 0);
	ck_assert_int_eq(hook_run("after", m, answered), 0);
	run_until(1);
	ck_assert_int_eq(last_ok, 0);
	ck_assert_str_eq(last_why, "killed after hook_timeout_ms=2000");
	run_until(2);
	ck_assert_int_eq(last_ok, 1);
	ck_assert_str_eq(calls(), "slow source gpu0 json\nafter source gpu0 json\n");
}
END_TEST

/* Without a hook configured there is nothing to wait for. */
START_TEST(test_no_hook_no_wait)
{
	struct migration *m = migration_new(MIG_ROLE_SOURCE, &dev, NULL);

	free(m->hook);
	m->hook = NULL;
	ck_assert_int_eq(hook_run("switchover", m, answered), 1);
	ck_assert_int_eq(answers, 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("hook");
	TCase *tc = tcase_create("queue");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_in_order_one_at_a_time);
	tcase_add_test(tc, test_non_zero_exit_is_a_no);
	tcase_add_test(tc, test_timeout_kills_and_the_queue_goes_on);
	tcase_add_test(tc, test_no_hook_no_wait);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
