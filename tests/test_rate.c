/*
 * test_rate.c: the throughput estimate measures a busy pipe, and a counter
 * that goes back, a clock that stands still or a rate too large for a
 * uint64_t never turns into a huge (or undefined) throughput; what a
 * device's stop-copy will move is read from its two figures without
 * counting anything twice.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "check_main.h"
#include "rate.h"

#define MS 1000000ull /* nanoseconds */

START_TEST(test_first_reading_is_only_a_baseline)
{
	struct rate_est r;

	rate_init(&r);
	ck_assert_int_eq(rate_sample(&r, 5 * MS, 123456, 1), 0);
	ck_assert_uint_eq(r.samples, 0);
	ck_assert_uint_eq(rate_bits_per_sec(&r), 0);
}
END_TEST

START_TEST(test_steady_counter_gives_its_rate)
{
	struct rate_est r;
	uint64_t t, counter = 0;

	rate_init(&r);
	for (t = 0; t <= 1000 * MS; t += 100 * MS) {
		rate_sample(&r, t, counter, 1);
		counter += 1000000; /* 1 MB per 100 ms */
	}
	ck_assert_uint_eq(r.samples, 10);
	ck_assert_double_eq_tol(r.bytes_per_sec, 1e7, 1e-3);
	ck_assert_uint_eq(rate_bits_per_sec(&r), 80000000);
}
END_TEST

START_TEST(test_new_samples_weigh_three_tenths)
{
	struct rate_est r;

	rate_init(&r);
	rate_sample(&r, 0, 0, 1);
	ck_assert_int_eq(rate_sample(&r, 1000 * MS, 1000, 1), 1);
	ck_assert_double_eq_tol(r.bytes_per_sec, 1000.0, 1e-9);
	ck_assert_int_eq(rate_sample(&r, 2000 * MS, 3000, 1), 1);
	ck_assert_double_eq_tol(r.bytes_per_sec, 0.7 * 1000.0 + 0.3 * 2000.0, 1e-9);
}
END_TEST

/* The defect UBSan found: "sent" went below its last reading, and the
 * unsigned difference became a sample of some 1.8e20 bytes/s. */
START_TEST(test_counter_going_back_is_no_sample)
{
	struct rate_est r;

	rate_init(&r);
	rate_sample(&r, 0, 1000, 1);
	ck_assert_int_eq(rate_sample(&r, 100 * MS, 2000, 1), 1);
	ck_assert_double_eq_tol(r.bytes_per_sec, 10000.0, 1e-9);

	ck_assert_int_eq(rate_sample(&r, 200 * MS, 500, 1), 0);
	ck_assert_uint_eq(r.samples, 1);
	ck_assert_double_eq_tol(r.bytes_per_sec, 10000.0, 1e-9);
	ck_assert_uint_eq(rate_bits_per_sec(&r), 80000);

	/* Measured from 500, the new baseline: 1000 bytes in 100 ms. From
	 * 2000 it would be negative, and from 0 half as much again. */
	ck_assert_int_eq(rate_sample(&r, 300 * MS, 1500, 1), 1);
	ck_assert_double_eq_tol(r.bytes_per_sec, 10000.0, 1e-9);
	ck_assert_uint_eq(rate_bits_per_sec(&r), 80000);
}
END_TEST

START_TEST(test_counter_back_by_one_at_the_top_of_its_range)
{
	struct rate_est r;

	rate_init(&r);
	rate_sample(&r, 0, UINT64_MAX - 10, 1);
	ck_assert_int_eq(rate_sample(&r, 100 * MS, UINT64_MAX - 11, 1), 0);
	ck_assert_uint_eq(r.samples, 0);
	ck_assert_uint_eq(rate_bits_per_sec(&r), 0);
	ck_assert_int_eq(rate_sample(&r, 200 * MS, UINT64_MAX - 1, 1), 1);
	ck_assert_double_eq_tol(r.bytes_per_sec, 100.0, 1e-9);
}
END_TEST

START_TEST(test_clock_not_moving_forward_is_no_sample)
{
	struct rate_est r;

	rate_init(&r);
	rate_sample(&r, 1000 * MS, 0, 1);
	/* Same instant: a division by zero. */
	ck_assert_int_eq(rate_sample(&r, 1000 * MS, 5000, 1), 0);
	/* Earlier than the last reading: an unsigned difference gone huge. */
	ck_assert_int_eq(rate_sample(&r, 900 * MS, 6000, 1), 0);
	ck_assert_uint_eq(r.samples, 0);
	ck_assert_double_eq_tol(r.bytes_per_sec, 0.0, 1e-9);
	/* Both re-baselined: 1000 bytes over the 100 ms since 900 ms. */
	ck_assert_int_eq(rate_sample(&r, 1000 * MS, 7000, 1), 1);
	ck_assert_double_eq_tol(r.bytes_per_sec, 10000.0, 1e-9);
}
END_TEST

START_TEST(test_idle_pipe_takes_no_sample)
{
	struct rate_est r;

	rate_init(&r);
	rate_sample(&r, 0, 0, 1);
	/* Nothing waited to go: what left measures our feeding, not the pipe. */
	ck_assert_int_eq(rate_sample(&r, 100 * MS, 10, 0), 0);
	ck_assert_uint_eq(r.samples, 0);
	/* The idle reading is the baseline of the next busy one. */
	ck_assert_int_eq(rate_sample(&r, 200 * MS, 1010, 1), 1);
	ck_assert_double_eq_tol(r.bytes_per_sec, 10000.0, 1e-9);
}
END_TEST

START_TEST(test_huge_rate_clamps)
{
	struct rate_est r;

	rate_init(&r);
	rate_sample(&r, 0, 0, 1);
	ck_assert_int_eq(rate_sample(&r, 1, UINT64_MAX, 1), 1);
	ck_assert(r.bytes_per_sec > 1e28);
	ck_assert_uint_eq(rate_bits_per_sec(&r), UINT64_MAX);
}
END_TEST

START_TEST(test_clamp_u64)
{
	ck_assert_uint_eq(rate_clamp_u64(0.0), 0);
	ck_assert_uint_eq(rate_clamp_u64(-1.0), 0);
	ck_assert_uint_eq(rate_clamp_u64(-INFINITY), 0);
	ck_assert_uint_eq(rate_clamp_u64(NAN), 0);
	ck_assert_uint_eq(rate_clamp_u64(41.9), 41);
	ck_assert_uint_eq(rate_clamp_u64(9223372036854775808.0), 1ull << 63);
	/* The largest double below 2^64 still fits, exactly. */
	ck_assert_uint_eq(rate_clamp_u64(18446744073709549568.0), 18446744073709549568ull);
	ck_assert_uint_eq(rate_clamp_u64(18446744073709551616.0), UINT64_MAX);
	ck_assert_uint_eq(rate_clamp_u64(5.6e20), UINT64_MAX);
	ck_assert_uint_eq(rate_clamp_u64(INFINITY), UINT64_MAX);
}
END_TEST

#define MIB (1024ull * 1024ull)

/* A device that follows the uAPI: MIG_DATA_SIZE is what STOP_COPY would
 * move now, pre-copy's remainder included. Adding the two would double it. */
START_TEST(test_stopcopy_size_that_includes_pending_is_not_added)
{
	struct stopcopy_est e = {0};

	/* Pre-copy starts: 64 MiB initial data, the size says 64 MiB + 16. */
	ck_assert_uint_eq(stopcopy_estimate(&e, 64 * MIB, 64 * MIB + 16, 0, 0), 64 * MIB + 16);
	/* 48 MiB read while 4 MiB got dirty: 20 MiB left, and the size says so. */
	ck_assert_uint_eq(stopcopy_estimate(&e, 20 * MIB, 20 * MIB + 16, 48 * MIB, 0), 20 * MIB + 16);
	/* The initial data is read: the size shrank with the reads. */
	ck_assert_uint_eq(stopcopy_estimate(&e, 2 * MIB, 2 * MIB + 16, 70 * MIB, 1), 2 * MIB + 16);
	ck_assert_int_eq(e.whole_state, 0);
	/* A device whose stop-copy has more than pre-copy left (state it
	 * saves only when stopped): the size counts, not pending. */
	ck_assert_uint_eq(stopcopy_estimate(&e, 1 * MIB, 9 * MIB, 72 * MIB, 1), 9 * MIB);
}
END_TEST

/* mlx5: PRE_COPY starts with the header alone while the save runs, the
 * initial data then grows to the whole state, and MIG_DATA_SIZE says the
 * whole state throughout. Its stop-copy moves what changed since. */
START_TEST(test_stopcopy_size_of_the_whole_state_counts_what_precopy_left)
{
	struct stopcopy_est e = {0};

	ck_assert_uint_eq(stopcopy_estimate(&e, 16, 64 * MIB, 0, 0), 64 * MIB);
	ck_assert_uint_eq(stopcopy_estimate(&e, 64 * MIB, 64 * MIB, 16, 0), 64 * MIB);
	/* Before the initial data is all read the size stands: no switchover
	 * happens then, and a bound is the safe side. */
	ck_assert_uint_eq(stopcopy_estimate(&e, 40 * MIB, 64 * MIB, 24 * MIB, 0), 64 * MIB);
	ck_assert_uint_eq(stopcopy_estimate(&e, 3 * MIB, 64 * MIB, 66 * MIB, 1), 3 * MIB);
	ck_assert_int_eq(e.whole_state, 1);
	ck_assert_uint_eq(stopcopy_estimate(&e, 1 * MIB, 64 * MIB, 70 * MIB, 1), 1 * MIB);
}
END_TEST

/* No PRE_COPY (or nothing for it): nothing is read before the stop, and
 * the whole size moves in the downtime. */
START_TEST(test_stopcopy_size_of_a_device_without_precopy_stands)
{
	struct stopcopy_est e = {0};

	ck_assert_uint_eq(stopcopy_estimate(&e, 0, 64 * MIB, 0, 1), 64 * MIB);
	ck_assert_int_eq(e.whole_state, 0);
	ck_assert_uint_eq(stopcopy_estimate(&e, 0, 64 * MIB, 0, 1), 64 * MIB);
}
END_TEST

/* Decided once: a device judged to follow the uAPI stays so when, later,
 * a burst of dirtying keeps its size from shrinking for a while. */
START_TEST(test_stopcopy_classified_once)
{
	struct stopcopy_est e = {0};

	ck_assert_uint_eq(stopcopy_estimate(&e, 32 * MIB, 32 * MIB + 16, 0, 0), 32 * MIB + 16);
	ck_assert_uint_eq(stopcopy_estimate(&e, 1 * MIB, 1 * MIB + 16, 33 * MIB, 1), 1 * MIB + 16);
	ck_assert_int_eq(e.classified, 1);
	ck_assert_uint_eq(stopcopy_estimate(&e, 30 * MIB, 30 * MIB + 16, 100 * MIB, 1), 30 * MIB + 16);
	ck_assert_int_eq(e.whole_state, 0);
}
END_TEST

int main(void);

/* ---- several devices as one (group.c) ---- */

START_TEST(test_group_time_is_the_shared_rate_or_the_slowest_stream)
{
	/* 40 + 40 MB at 100 + 100 MB/s: 400 ms either way. */
	struct group_stream even[2] = {{40000000, 100e6}, {40000000, 100e6}};
	/* One stream halfway through a long pass: 60 MB at its 100 MB/s
	 * is 600 ms, though the sum (61 MB at 200 MB/s) says 305. */
	struct group_stream straggler[2] = {{60000000, 100e6}, {1000000, 100e6}};
	uint64_t ms = 0;

	ck_assert_int_eq(group_data_ms(even, 2, &ms), 0);
	ck_assert_uint_eq(ms, 400);
	ck_assert_int_eq(group_data_ms(straggler, 2, &ms), 0);
	ck_assert_uint_eq(ms, 600);
}
END_TEST

START_TEST(test_group_time_unknown_without_a_rate)
{
	struct group_stream unmeasured[2] = {{1000, 100e6}, {5000, 0}};
	struct group_stream empty[2] = {{0, 100e6}, {0, 0}};
	struct group_stream none[1] = {{0, 0}};
	uint64_t ms = 7;

	ck_assert_int_eq(group_data_ms(unmeasured, 2, &ms), -1);
	/* A device with nothing to move needs no rate. */
	ck_assert_int_eq(group_data_ms(empty, 2, &ms), 0);
	ck_assert_uint_eq(ms, 0);
	ck_assert_int_eq(group_data_ms(none, 1, &ms), -1);
}
END_TEST

START_TEST(test_group_waits_while_rounds_shrink_fast)
{
	struct group_round r = {0, 0};

	/* Fits 300 ms from the first round, at 200 ms: no round to compare. */
	ck_assert_int_eq(group_round_verdict(&r, 40000000, 40000000, 1, 200, 210, 300), 0);
	/* Halved: still shrinking fast, one more round. */
	ck_assert_int_eq(group_round_verdict(&r, 20000000, 20000000, 1, 100, 110, 300), 0);
	/* Shrank by a fifth only: a plateau, go. */
	ck_assert_int_eq(group_round_verdict(&r, 16000000, 16000000, 1, 80, 90, 300), 1);
}
END_TEST

START_TEST(test_group_goes_when_under_a_tenth_of_the_limit)
{
	struct group_round r = {0, 0};

	/* 30 ms of data against 300: go at once, first round or not. */
	ck_assert_int_eq(group_round_verdict(&r, 3000000, 3000000, 1, 30, 45, 300), 1);
	r.known = 1;
	r.left = 100000000;
	ck_assert_int_eq(group_round_verdict(&r, 2000000, 2000000, 1, 20, 25, 300), 1);
}
END_TEST

START_TEST(test_group_never_goes_over_the_limit_with_precopy_left)
{
	struct group_round r = {50000000, 1};

	/* A plateau over the limit: pre-copy goes on (the pre-copy timeout
	 * ends it, not this). */
	ck_assert_int_eq(group_round_verdict(&r, 50000000, 50000000, 1, 500, 510, 300), 0);
	ck_assert_int_eq(group_round_verdict(&r, 50000000, 50000000, 1, 500, 510, 300), 0);
	/* Over by what the devices save in stop-copy alone, nothing left
	 * for pre-copy: waiting cannot shorten it. */
	ck_assert_int_eq(group_round_verdict(&r, 50000000, 0, 1, 500, 510, 300), 1);
}
END_TEST

START_TEST(test_group_unmeasured_waits_unless_nothing_to_move)
{
	struct group_round r = {0, 0};

	ck_assert_int_eq(group_round_verdict(&r, 5000, 5000, 0, 0, 0, 300), 0);
	ck_assert_int_eq(group_round_verdict(&r, 5000, 0, 0, 0, 0, 300), 1);
	ck_assert_int_eq(group_round_verdict(&r, 0, 5000, 0, 0, 0, 300), 1);
}
END_TEST

START_TEST(test_group_plateau_of_huge_values_does_not_overflow)
{
	struct group_round r = {UINT64_MAX, 1};

	ck_assert_int_eq(group_round_verdict(&r, UINT64_MAX - 1, 1, 1, 100, 100, 300), 1);
	r.left = UINT64_MAX;
	ck_assert_int_eq(group_round_verdict(&r, UINT64_MAX / 2, 1, 1, 100, 100, 300), 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("rate");
	TCase *sample = tcase_create("sample");
	TCase *bad = tcase_create("bad-readings");
	TCase *clamp = tcase_create("clamp");
	TCase *stopcopy = tcase_create("stop-copy-estimate");
	TCase *group = tcase_create("group-switchover");

	tcase_add_test(sample, test_first_reading_is_only_a_baseline);
	tcase_add_test(sample, test_steady_counter_gives_its_rate);
	tcase_add_test(sample, test_new_samples_weigh_three_tenths);
	tcase_add_test(sample, test_idle_pipe_takes_no_sample);
	tcase_add_test(bad, test_counter_going_back_is_no_sample);
	tcase_add_test(bad, test_counter_back_by_one_at_the_top_of_its_range);
	tcase_add_test(bad, test_clock_not_moving_forward_is_no_sample);
	tcase_add_test(clamp, test_huge_rate_clamps);
	tcase_add_test(clamp, test_clamp_u64);
	suite_add_tcase(s, sample);
	suite_add_tcase(s, bad);
	suite_add_tcase(s, clamp);
	tcase_add_test(stopcopy, test_stopcopy_size_that_includes_pending_is_not_added);
	tcase_add_test(stopcopy, test_stopcopy_size_of_the_whole_state_counts_what_precopy_left);
	tcase_add_test(stopcopy, test_stopcopy_size_of_a_device_without_precopy_stands);
	tcase_add_test(stopcopy, test_stopcopy_classified_once);
	suite_add_tcase(s, stopcopy);
	tcase_add_test(group, test_group_time_is_the_shared_rate_or_the_slowest_stream);
	tcase_add_test(group, test_group_time_unknown_without_a_rate);
	tcase_add_test(group, test_group_waits_while_rounds_shrink_fast);
	tcase_add_test(group, test_group_goes_when_under_a_tenth_of_the_limit);
	tcase_add_test(group, test_group_never_goes_over_the_limit_with_precopy_left);
	tcase_add_test(group, test_group_unmeasured_waits_unless_nothing_to_move);
	tcase_add_test(group, test_group_plateau_of_huge_values_does_not_overflow);
	suite_add_tcase(s, group);
	return tu_run_suite(s);
}
