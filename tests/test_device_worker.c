/*
 * test_device_worker.c: the thread per device (daemon/device_worker.c).
 * A call that blocks does not block the loop (the call here waits for
 * the loop itself to release it: were the loop blocked, the test would
 * hang and time out); calls run and are answered in order; a forgotten
 * call still runs but is not answered; the device is held while a call
 * runs; stopping runs what was queued; only the thread, or the loop
 * holding the lock, may touch the device.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "check_main.h"
#include "device.h"
#include "device_worker.h"

struct fake {
	int gate[2];	 /* a call blocks until a byte comes */
	int started[2];	 /* a call says it runs */
	int order[8];	 /* which calls ran, in order */
	int nrun;
	int answered[8]; /* which callbacks ran, in order */
	int nanswered;
	int next_id;
	int lock_failed; /* device_worker_trylock failed while a call ran */
	struct device_worker *w;
};

static struct event_base *base;
static struct mig_device dev;
static struct fake fk;
static char fake_name[] = "fake";

static void
setup(void)
{
	memset(&fk, 0, sizeof(fk));
	memset(&dev, 0, sizeof(dev));
	ck_assert_int_eq(pipe(fk.gate), 0);
	ck_assert_int_eq(pipe(fk.started), 0);
	dev.name = fake_name;
	dev.priv = &fk;
	base = event_base_new();
	fk.w = device_worker_start(&dev, base);
	ck_assert_ptr_nonnull(fk.w);
}

static void
teardown(void)
{
	if (fk.w != NULL)
		device_worker_stop(fk.w);
	event_base_free(base);
	close(fk.gate[0]);
	close(fk.gate[1]);
	close(fk.started[0]);
	close(fk.started[1]);
}

/* Blocks until the gate opens; its id is the byte that opened it. */
static int
blocking_call(struct mig_device *d, void *arg, uint64_t *out)
{
	struct fake *f = d->priv;
	char b = 0;

	(void)arg;
	if (write(f->started[1], &b, 1) != 1 || read(f->gate[0], &b, 1) != 1)
		return -1;
	f->order[f->nrun++] = b;
	*out = (uint64_t)b * 10;
	return b == 3 ? -5 : 0;
}

static void
answered(void *ctx, int rc, uint64_t out)
{
	struct fake *f = ctx;
	int id = (int)(out / 10);

	f->answered[f->nanswered++] = id;
	ck_assert_int_eq(rc, id == 3 ? -5 : 0);
	if (f->nanswered == f->next_id)
		event_base_loopbreak(base);
}

/* From the loop: test the device's lock, then let call `id` go. */
static void
open_gate_cb(evutil_socket_t fd, short what, void *arg)
{
	char b = (char)(intptr_t)arg, x;

	(void)what;
	if (fd >= 0)
		ck_assert_int_eq(read(fd, &x, 1), 1); /* the call runs */
	if (device_worker_trylock(fk.w) == 0)
		device_worker_unlock(fk.w);
	else
		fk.lock_failed++;
	ck_assert_int_eq(write(fk.gate[1], &b, 1), 1);
}

START_TEST(test_loop_runs_while_a_call_blocks)
{
	/* Once the call runs (and holds the device), the loop lets it go. */
	struct event *ev = event_new(base, fk.started[0], EV_READ, open_gate_cb,
	    (void *)(intptr_t)1);

	fk.next_id = 1;
	ck_assert_ptr_nonnull(device_call(fk.w, blocking_call, NULL, NULL, answered, &fk));
	ck_assert_int_eq(device_calls_out(fk.w), 1);
	event_add(ev, NULL);
	event_base_dispatch(base);
	ck_assert_int_eq(fk.nanswered, 1);
	ck_assert_int_eq(fk.answered[0], 1);
	ck_assert_int_eq(device_calls_out(fk.w), 0);
	/* The call held the device while the loop looked. */
	ck_assert_int_eq(fk.lock_failed, 1);
	event_free(ev);
}
END_TEST

START_TEST(test_calls_run_and_answer_in_order)
{
	struct timeval tv = {0, 10000};
	struct event *ev[3];
	int i;

	fk.next_id = 3;
	for (i = 0; i < 3; i++)
		device_call(fk.w, blocking_call, NULL, NULL, answered, &fk);
	for (i = 0; i < 3; i++) {
		ev[i] = evtimer_new(base, open_gate_cb, (void *)(intptr_t)(i + 1));
		tv.tv_usec = 10000 * (i + 1);
		evtimer_add(ev[i], &tv);
	}
	event_base_dispatch(base);
	ck_assert_int_eq(fk.nrun, 3);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(fk.order[i], i + 1);
		ck_assert_int_eq(fk.answered[i], i + 1);
		event_free(ev[i]);
	}
}
END_TEST

static void
must_not_answer(void *ctx, int rc, uint64_t out)
{
	(void)ctx;
	(void)rc;
	(void)out;
	ck_abort_msg("a forgotten call was answered");
}

/* Forgotten: it runs, nobody hears of it; the next call is answered. */
START_TEST(test_forgotten_call_runs_unanswered)
{
	char b[2] = {7, 2};

	fk.next_id = 1;
	device_call_forget(device_call(fk.w, blocking_call, NULL, NULL, must_not_answer, &fk));
	device_call(fk.w, blocking_call, NULL, NULL, answered, &fk);
	ck_assert_int_eq(write(fk.gate[1], b, 2), 2);
	device_worker_settle(fk.w);
	ck_assert_int_eq(fk.nrun, 2);
	ck_assert_int_eq(fk.order[0], 7);
	ck_assert_int_eq(fk.nanswered, 1);
	ck_assert_int_eq(fk.answered[0], 2);
	ck_assert_int_eq(device_calls_out(fk.w), 0);
}
END_TEST

/* Stopping runs every queued call first, and answers none. */
START_TEST(test_stop_runs_what_was_queued)
{
	char b[3] = {4, 5, 6};

	device_call(fk.w, blocking_call, NULL, NULL, must_not_answer, &fk);
	device_call(fk.w, blocking_call, NULL, NULL, must_not_answer, &fk);
	device_call(fk.w, blocking_call, NULL, NULL, must_not_answer, &fk);
	ck_assert_int_eq(write(fk.gate[1], b, 3), 3);
	device_worker_stop(fk.w);
	fk.w = NULL;
	ck_assert_int_eq(fk.nrun, 3);
	ck_assert_int_eq(fk.order[2], 6);
}
END_TEST

/* Who may touch the device: its thread, or the loop while it holds the
 * lock; the loop without the lock may not (device_check_thread). */
static int
holds_call(struct mig_device *d, void *arg, uint64_t *out)
{
	(void)arg;
	*out = (uint64_t)device_worker_holds(d->worker);
	return 0;
}

static void
holds_answered(void *ctx, int rc, uint64_t out)
{
	int *held = ctx;

	ck_assert_int_eq(rc, 0);
	*held = (int)out;
	event_base_loopbreak(base);
}

START_TEST(test_holds_on_its_thread_or_with_the_lock)
{
	int held = -1;

	dev.worker = fk.w;
	ck_assert_int_eq(device_worker_holds(NULL), 1);
	ck_assert_int_eq(device_worker_holds(fk.w), 0);
	ck_assert_int_eq(device_worker_trylock(fk.w), 0);
	ck_assert_int_eq(device_worker_holds(fk.w), 1);
	device_worker_unlock(fk.w);
	ck_assert_int_eq(device_worker_holds(fk.w), 0);
	device_call(fk.w, holds_call, NULL, NULL, holds_answered, &held);
	event_base_dispatch(base);
	ck_assert_int_eq(held, 1);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("device_worker");
	TCase *tc = tcase_create("worker");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_loop_runs_while_a_call_blocks);
	tcase_add_test(tc, test_calls_run_and_answer_in_order);
	tcase_add_test(tc, test_forgotten_call_runs_unanswered);
	tcase_add_test(tc, test_stop_runs_what_was_queued);
	tcase_add_test(tc, test_holds_on_its_thread_or_with_the_lock);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
