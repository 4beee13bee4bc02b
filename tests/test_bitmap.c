/*
 * test_bitmap.c: dirty-page bitmaps, raw and as run lists, survive the
 * trip through the wire encodings, and malformed run lists are refused.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "bitmap.h"
#include "errors.h"
#include "frame.h"

#define MAX_PAGES 4096

/* A fixed-seed generator: failures must reproduce. */
static uint64_t rng_state;

static uint64_t
rng_next(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void
set_bit(uint8_t *raw, uint64_t i)
{
	raw[i / 8] |= (uint8_t)(1u << (i % 8));
}

static int
get_bit(const uint8_t *raw, uint64_t i)
{
	return (raw[i / 8] >> (i % 8)) & 1;
}

static uint64_t
naive_count(const uint8_t *raw, uint64_t npages)
{
	uint64_t i, n = 0;

	for (i = 0; i < npages; i++)
		n += (uint64_t)get_bit(raw, i);
	return n;
}

/* Random bitmap with runs of random length, dirty with probability pct. */
static void
random_bitmap(uint8_t *raw, uint64_t npages, unsigned int pct)
{
	uint64_t i = 0, run;
	int dirty;

	memset(raw, 0, MIG_BITMAP_RAW_LEN(npages));
	while (i < npages) {
		dirty = rng_next() % 100 < pct;
		run = 1 + rng_next() % (rng_next() % 2 ? 3 : 200);
		for (; run > 0 && i < npages; run--, i++)
			if (dirty)
				set_bit(raw, i);
	}
}

/* Encode as runs, check, decode, and compare with the original. */
static void
assert_runs_round_trip(const uint8_t *raw, uint64_t npages)
{
	uint8_t runs[MAX_PAGES * 2 + 16], back[MIG_BITMAP_RAW_LEN(MAX_PAGES)];
	uint64_t checked, decoded, i, differ = 0;
	size_t n;

	n = mig_bitmap_runs_encode(raw, npages, runs, sizeof(runs));
	ck_assert_uint_gt(n, 0);
	ck_assert_int_eq(mig_bitmap_runs_check(runs, n, npages, &checked), MIG_OK);
	ck_assert_int_eq(mig_bitmap_runs_decode(runs, n, npages, back, &decoded), MIG_OK);
	ck_assert_uint_eq(checked, decoded);
	ck_assert_uint_eq(decoded, naive_count(raw, npages));
	/* One assertion, not one per page: each costs Check a write(2). */
	for (i = 0; i < npages; i++)
		differ += get_bit(back, i) != get_bit(raw, i);
	ck_assert_uint_eq(differ, 0);
}

static int
runs_err(const uint8_t *in, size_t len, uint64_t npages)
{
	uint8_t raw[MIG_BITMAP_RAW_LEN(MAX_PAGES)];
	uint64_t dirty;
	int check = mig_bitmap_runs_check(in, len, npages, &dirty);

	/* The validating walk and the decoding walk must always agree. */
	ck_assert_int_eq(mig_bitmap_runs_decode(in, len, npages, raw, &dirty), check);
	return check;
}

START_TEST(test_count_clean)
{
	uint8_t raw[MIG_BITMAP_RAW_LEN(1000)] = {0};

	ck_assert_uint_eq(mig_bitmap_count(raw, 1000), 0);
	ck_assert_uint_eq(mig_bitmap_count(raw, 0), 0);
}
END_TEST

START_TEST(test_count_all_dirty)
{
	static const uint64_t sizes[] = {1, 7, 8, 9, 63, 64, 65, 127, 128, 129, 1000, 4096};
	uint8_t raw[MIG_BITMAP_RAW_LEN(MAX_PAGES)];
	size_t i;

	memset(raw, 0xff, sizeof(raw));
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		ck_assert_uint_eq(mig_bitmap_count(raw, sizes[i]), sizes[i]);
}
END_TEST

START_TEST(test_count_ignores_bits_past_end)
{
	uint8_t raw[2] = {0x00, 0xfe};

	/* Page 8 is clean; bits 9..15 lie past a 9-page bitmap. */
	ck_assert_uint_eq(mig_bitmap_count(raw, 9), 0);
	ck_assert_uint_eq(mig_bitmap_count(raw, 10), 1);
}
END_TEST

START_TEST(test_count_matches_naive_on_random_bitmaps)
{
	uint8_t raw[MIG_BITMAP_RAW_LEN(MAX_PAGES)];
	uint64_t npages;
	int round;

	rng_state = 0x9e3779b97f4a7c15ull;
	for (round = 0; round < 200; round++) {
		npages = 1 + rng_next() % MAX_PAGES;
		random_bitmap(raw, npages, (unsigned int)(rng_next() % 101));
		ck_assert_uint_eq(mig_bitmap_count(raw, npages), naive_count(raw, npages));
	}
}
END_TEST

START_TEST(test_runs_clean_bitmap_is_one_clean_run)
{
	uint8_t raw[MIG_BITMAP_RAW_LEN(300)] = {0}, runs[8];
	size_t n = mig_bitmap_runs_encode(raw, 300, runs, sizeof(runs));

	/* 300 = 0xac 0x02 as LEB128. */
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(runs[0], 0xac);
	ck_assert_uint_eq(runs[1], 0x02);
	assert_runs_round_trip(raw, 300);
}
END_TEST

START_TEST(test_runs_all_dirty)
{
	uint8_t raw[MIG_BITMAP_RAW_LEN(100)], runs[8];
	size_t n;

	memset(raw, 0xff, sizeof(raw));
	n = mig_bitmap_runs_encode(raw, 100, runs, sizeof(runs));
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(runs[0], 0);
	ck_assert_uint_eq(runs[1], 100);
	assert_runs_round_trip(raw, 100);
}
END_TEST

START_TEST(test_runs_sparse_exact_bytes)
{
	uint8_t raw[MIG_BITMAP_RAW_LEN(1000)] = {0}, runs[16];
	/* 3 clean, 1 dirty, 4 clean, 2 dirty, 989 clean (0xdd 0x07), 1 dirty. */
	static const uint8_t want[] = {3, 1, 4, 2, 0xdd, 0x07, 1};
	size_t n;

	set_bit(raw, 3);
	set_bit(raw, 8);
	set_bit(raw, 9);
	set_bit(raw, 999);
	n = mig_bitmap_runs_encode(raw, 1000, runs, sizeof(runs));
	ck_assert_uint_eq(n, sizeof(want));
	ck_assert_mem_eq(runs, want, sizeof(want));
	assert_runs_round_trip(raw, 1000);
}
END_TEST

START_TEST(test_runs_single_page)
{
	uint8_t raw[1] = {0}, runs[4];

	ck_assert_uint_eq(mig_bitmap_runs_encode(raw, 1, runs, sizeof(runs)), 1);
	ck_assert_uint_eq(runs[0], 1);
	assert_runs_round_trip(raw, 1);
	raw[0] = 1;
	ck_assert_uint_eq(mig_bitmap_runs_encode(raw, 1, runs, sizeof(runs)), 2);
	ck_assert_uint_eq(runs[0], 0);
	ck_assert_uint_eq(runs[1], 1);
	assert_runs_round_trip(raw, 1);
}
END_TEST

START_TEST(test_runs_page_count_not_multiple_of_8)
{
	uint8_t raw[2] = {0x00, 0xff}, runs[8];
	uint64_t dirty;

	/* 13 pages: pages 8..12 dirty; padding bits 13..15 must not count. */
	ck_assert_uint_eq(mig_bitmap_runs_encode(raw, 13, runs, sizeof(runs)), 2);
	ck_assert_uint_eq(runs[0], 8);
	ck_assert_uint_eq(runs[1], 5);
	ck_assert_int_eq(mig_bitmap_runs_check(runs, 2, 13, &dirty), MIG_OK);
	ck_assert_uint_eq(dirty, 5);
	raw[1] = 0x1f;
	assert_runs_round_trip(raw, 13);
}
END_TEST

START_TEST(test_runs_round_trip_random)
{
	static const unsigned int densities[] = {0, 1, 10, 50, 90, 99, 100};
	uint8_t raw[MIG_BITMAP_RAW_LEN(MAX_PAGES)];
	uint64_t npages;
	size_t d;
	int round;

	rng_state = 0x243f6a8885a308d3ull;
	for (round = 0; round < 60; round++) {
		for (d = 0; d < sizeof(densities) / sizeof(densities[0]); d++) {
			npages = 1 + rng_next() % MAX_PAGES;
			random_bitmap(raw, npages, densities[d]);
			/* Garbage in the padding must not leak into the runs. */
			if (npages % 8 != 0)
				raw[npages / 8] |= (uint8_t)(0xff << (npages % 8));
			assert_runs_round_trip(raw, npages);
		}
	}
}
END_TEST

START_TEST(test_runs_encode_refuses_small_buffer)
{
	uint8_t raw[MIG_BITMAP_RAW_LEN(512)] = {0}, runs[64];
	size_t need, cap;
	uint64_t i;

	for (i = 0; i < 512; i += 37)
		set_bit(raw, i);
	need = mig_bitmap_runs_encode(raw, 512, runs, sizeof(runs));
	ck_assert_uint_gt(need, 0);
	for (cap = 0; cap < need; cap++)
		ck_assert_uint_eq(mig_bitmap_runs_encode(raw, 512, runs, cap), 0);
	ck_assert_uint_eq(mig_bitmap_runs_encode(raw, 512, runs, need), need);
	/* An all-clean bitmap is never an empty list, so 0 stays unambiguous. */
	memset(raw, 0, sizeof(raw));
	ck_assert_uint_eq(mig_bitmap_runs_encode(raw, 512, runs, 1), 0);
	ck_assert_uint_eq(mig_bitmap_runs_encode(raw, 512, runs, 2), 2);
	ck_assert_uint_eq(mig_bitmap_runs_encode(raw, 0, runs, sizeof(runs)), 0);
}
END_TEST

START_TEST(test_runs_empty_list_is_all_clean)
{
	uint8_t raw[2] = {0xaa, 0xaa};
	uint64_t dirty = 99;

	ck_assert_int_eq(mig_bitmap_runs_check(NULL, 0, 16, &dirty), MIG_OK);
	ck_assert_uint_eq(dirty, 0);
	ck_assert_int_eq(mig_bitmap_runs_decode(NULL, 0, 16, raw, &dirty), MIG_OK);
	ck_assert_uint_eq(raw[0] | raw[1], 0);
}
END_TEST

START_TEST(test_runs_explicit_trailing_clean_run_accepted)
{
	static const uint8_t exact[] = {2, 3, 5};
	uint64_t dirty;

	ck_assert_int_eq(runs_err(exact, sizeof(exact), 10), MIG_OK);
	ck_assert_int_eq(mig_bitmap_runs_check(exact, sizeof(exact), 10, &dirty), MIG_OK);
	ck_assert_uint_eq(dirty, 3);
}
END_TEST

START_TEST(test_runs_refuse_zero_dirty_run)
{
	static const uint8_t zero_dirty[] = {2, 0, 3, 1};
	static const uint8_t only_zero[] = {0, 0};

	ck_assert_int_eq(runs_err(zero_dirty, sizeof(zero_dirty), 10), MIG_E_MALFORMED);
	ck_assert_int_eq(runs_err(only_zero, sizeof(only_zero), 10), MIG_E_MALFORMED);
}
END_TEST

START_TEST(test_runs_refuse_zero_clean_run_after_first)
{
	static const uint8_t leading_zero[] = {0, 2, 1, 1};
	static const uint8_t middle_zero[] = {1, 2, 0, 1};

	ck_assert_int_eq(runs_err(leading_zero, sizeof(leading_zero), 10), MIG_OK);
	ck_assert_int_eq(runs_err(middle_zero, sizeof(middle_zero), 10), MIG_E_MALFORMED);
}
END_TEST

START_TEST(test_runs_refuse_overrun)
{
	static const uint8_t dirty_over[] = {5, 6};
	static const uint8_t clean_over[] = {11};
	static const uint8_t exact[] = {5, 5};
	static const uint8_t after_end[] = {5, 5, 1, 1};
	/* A clean run of 2^64 - 1 must not wrap the page counter. */
	static const uint8_t huge[] = {1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0x01, 1};

	ck_assert_int_eq(runs_err(dirty_over, sizeof(dirty_over), 10), MIG_E_MALFORMED);
	ck_assert_int_eq(runs_err(clean_over, sizeof(clean_over), 10), MIG_E_MALFORMED);
	ck_assert_int_eq(runs_err(exact, sizeof(exact), 10), MIG_OK);
	ck_assert_int_eq(runs_err(after_end, sizeof(after_end), 10), MIG_E_MALFORMED);
	ck_assert_int_eq(runs_err(huge, sizeof(huge), 10), MIG_E_MALFORMED);
}
END_TEST

START_TEST(test_runs_refuse_bad_varints)
{
	/* Eleven bytes, all with the continuation bit but the last. */
	static const uint8_t overlong[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
	    0x80, 0x00};
	/* A dirty run of 1 + 2^64: it would wrap to a plausible 1. */
	static const uint8_t overflow[] = {0, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
	    0x02};
	/* The input stops inside a varint. */
	static const uint8_t cut[] = {1, 0x81};
	/* Ten bytes, value 0 padded to the maximum length: allowed. */
	static const uint8_t padded[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
	    0x00, 3};

	ck_assert_int_eq(runs_err(overlong, sizeof(overlong), 10), MIG_E_MALFORMED);
	ck_assert_int_eq(runs_err(overflow, sizeof(overflow), 10), MIG_E_MALFORMED);
	ck_assert_int_eq(runs_err(cut, sizeof(cut), 10), MIG_E_MALFORMED);
	ck_assert_int_eq(runs_err(padded, sizeof(padded), 10), MIG_OK);
}
END_TEST

START_TEST(test_runs_refuse_short_trailing_clean_run)
{
	/* Ending on a clean run that stops short of page_count is refused:
	 * it would be a second spelling of {2, 3}. */
	static const uint8_t short_clean[] = {2, 3, 1};
	static const uint8_t short_first[] = {4};

	ck_assert_int_eq(runs_err(short_clean, sizeof(short_clean), 10), MIG_E_MALFORMED);
	ck_assert_int_eq(runs_err(short_first, sizeof(short_first), 10), MIG_E_MALFORMED);
}
END_TEST

START_TEST(test_runs_decode_clears_output_on_error)
{
	static const uint8_t bad[] = {0, 4, 1, 0};
	uint8_t raw[2] = {0x55, 0x55};
	uint64_t dirty;

	ck_assert_int_eq(mig_bitmap_runs_decode(bad, sizeof(bad), 16, raw, &dirty), MIG_E_MALFORMED);
	ck_assert_uint_eq(raw[0] | raw[1], 0);
}
END_TEST

START_TEST(test_raw_check)
{
	uint8_t raw[2] = {0x81, 0x01};
	uint64_t dirty;

	ck_assert_int_eq(mig_bitmap_raw_check(raw, 2, 9, &dirty), MIG_OK);
	ck_assert_uint_eq(dirty, 3);
	ck_assert_int_eq(mig_bitmap_raw_check(raw, 2, 16, &dirty), MIG_OK);
	ck_assert_int_eq(mig_bitmap_raw_check(raw, 1, 8, &dirty), MIG_OK);
	ck_assert_uint_eq(dirty, 2);
	/* Length must match page_count exactly. */
	ck_assert_int_eq(mig_bitmap_raw_check(raw, 2, 8, &dirty), MIG_E_MALFORMED);
	ck_assert_int_eq(mig_bitmap_raw_check(raw, 1, 9, &dirty), MIG_E_MALFORMED);
	ck_assert_int_eq(mig_bitmap_raw_check(raw, 2, 17, &dirty), MIG_E_MALFORMED);
}
END_TEST

START_TEST(test_raw_check_refuses_bits_past_end)
{
	uint8_t raw[2] = {0x00, 0x02};
	uint64_t dirty;

	/* 9 pages: bit 9 is padding. */
	ck_assert_int_eq(mig_bitmap_raw_check(raw, 2, 9, &dirty), MIG_E_MALFORMED);
	ck_assert_int_eq(mig_bitmap_raw_check(raw, 2, 10, &dirty), MIG_OK);
	ck_assert_uint_eq(dirty, 1);
	raw[1] = 0x80;
	ck_assert_int_eq(mig_bitmap_raw_check(raw, 2, 15, &dirty), MIG_E_MALFORMED);
}
END_TEST

START_TEST(test_iter_raw)
{
	uint8_t raw[MIG_BITMAP_RAW_LEN(200)] = {0};
	static const uint64_t pages[] = {0, 7, 8, 63, 64, 65, 128, 199};
	struct mig_bitmap_iter it;
	uint64_t page;
	size_t i;

	for (i = 0; i < sizeof(pages) / sizeof(pages[0]); i++)
		set_bit(raw, pages[i]);
	mig_bitmap_iter_init(&it, MIG_BITMAP_RAW, raw, sizeof(raw), 200);
	for (i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		ck_assert_int_eq(mig_bitmap_iter_next(&it, &page), 1);
		ck_assert_uint_eq(page, pages[i]);
	}
	ck_assert_int_eq(mig_bitmap_iter_next(&it, &page), 0);
	ck_assert_int_eq(mig_bitmap_iter_next(&it, &page), 0);
}
END_TEST

START_TEST(test_iter_runs)
{
	static const uint8_t runs[] = {2, 3, 1, 1};
	static const uint64_t want[] = {2, 3, 4, 6};
	struct mig_bitmap_iter it;
	uint64_t page;
	size_t i;

	mig_bitmap_iter_init(&it, MIG_BITMAP_RUNS, runs, sizeof(runs), 10);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		ck_assert_int_eq(mig_bitmap_iter_next(&it, &page), 1);
		ck_assert_uint_eq(page, want[i]);
	}
	ck_assert_int_eq(mig_bitmap_iter_next(&it, &page), 0);
	mig_bitmap_iter_init(&it, MIG_BITMAP_RUNS, NULL, 0, 10);
	ck_assert_int_eq(mig_bitmap_iter_next(&it, &page), 0);
}
END_TEST

START_TEST(test_iter_both_encodings_agree_on_random_bitmaps)
{
	uint8_t raw[MIG_BITMAP_RAW_LEN(MAX_PAGES)], runs[MAX_PAGES * 2 + 16];
	struct mig_bitmap_iter a, b;
	uint64_t npages, pa, pb, n, wrong;
	size_t len;
	int round, more;

	rng_state = 0x13198a2e03707344ull;
	for (round = 0; round < 100; round++) {
		npages = 1 + rng_next() % MAX_PAGES;
		random_bitmap(raw, npages, (unsigned int)(rng_next() % 101));
		len = mig_bitmap_runs_encode(raw, npages, runs, sizeof(runs));
		mig_bitmap_iter_init(&a, MIG_BITMAP_RAW, raw, MIG_BITMAP_RAW_LEN(npages), npages);
		mig_bitmap_iter_init(&b, MIG_BITMAP_RUNS, runs, len, npages);
		n = wrong = 0;
		do {
			more = mig_bitmap_iter_next(&a, &pa);
			wrong += mig_bitmap_iter_next(&b, &pb) != more;
			if (more) {
				wrong += pa != pb || !get_bit(raw, pa);
				n++;
			}
		} while (more);
		ck_assert_uint_eq(wrong, 0);
		ck_assert_uint_eq(n, naive_count(raw, npages));
	}
}
END_TEST

START_TEST(test_iter_raw_stays_inside_short_buffer)
{
	uint8_t raw[2] = {0x00, 0x80};
	struct mig_bitmap_iter it;
	uint64_t page;

	/* 64 pages claimed, 2 bytes given: only pages 0..15 exist. */
	mig_bitmap_iter_init(&it, MIG_BITMAP_RAW, raw, sizeof(raw), 64);
	ck_assert_int_eq(mig_bitmap_iter_next(&it, &page), 1);
	ck_assert_uint_eq(page, 15);
	ck_assert_int_eq(mig_bitmap_iter_next(&it, &page), 0);
}
END_TEST

START_TEST(test_iter_unknown_encoding_yields_nothing)
{
	uint8_t raw[1] = {0xff};
	struct mig_bitmap_iter it;
	uint64_t page;

	mig_bitmap_iter_init(&it, 7, raw, 1, 8);
	ck_assert_int_eq(mig_bitmap_iter_next(&it, &page), 0);
}
END_TEST

int main(void);

int
main(void)
{
	Suite *s = suite_create("bitmap");
	TCase *count = tcase_create("count");
	TCase *runs = tcase_create("runs");
	TCase *raw = tcase_create("raw");
	TCase *iter = tcase_create("iter");

	tcase_add_test(count, test_count_clean);
	tcase_add_test(count, test_count_all_dirty);
	tcase_add_test(count, test_count_ignores_bits_past_end);
	tcase_add_test(count, test_count_matches_naive_on_random_bitmaps);
	tcase_add_test(runs, test_runs_clean_bitmap_is_one_clean_run);
	tcase_add_test(runs, test_runs_all_dirty);
	tcase_add_test(runs, test_runs_sparse_exact_bytes);
	tcase_add_test(runs, test_runs_single_page);
	tcase_add_test(runs, test_runs_page_count_not_multiple_of_8);
	tcase_add_test(runs, test_runs_round_trip_random);
	tcase_add_test(runs, test_runs_encode_refuses_small_buffer);
	tcase_add_test(runs, test_runs_empty_list_is_all_clean);
	tcase_add_test(runs, test_runs_explicit_trailing_clean_run_accepted);
	tcase_add_test(runs, test_runs_refuse_zero_dirty_run);
	tcase_add_test(runs, test_runs_refuse_zero_clean_run_after_first);
	tcase_add_test(runs, test_runs_refuse_overrun);
	tcase_add_test(runs, test_runs_refuse_bad_varints);
	tcase_add_test(runs, test_runs_refuse_short_trailing_clean_run);
	tcase_add_test(runs, test_runs_decode_clears_output_on_error);
	tcase_add_test(raw, test_raw_check);
	tcase_add_test(raw, test_raw_check_refuses_bits_past_end);
	tcase_add_test(iter, test_iter_raw);
	tcase_add_test(iter, test_iter_runs);
	tcase_add_test(iter, test_iter_both_encodings_agree_on_random_bitmaps);
	tcase_add_test(iter, test_iter_raw_stays_inside_short_buffer);
	tcase_add_test(iter, test_iter_unknown_encoding_yields_nothing);
	suite_add_tcase(s, count);
	suite_add_tcase(s, runs);
	suite_add_tcase(s, raw);
	suite_add_tcase(s, iter);
	return tu_run_suite(s);
}
