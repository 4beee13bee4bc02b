/*
 * test_compress.c: packing DATA chunks (common/compress.c): a round trip,
 * the zero test, and every way a chunk can fail to be the length its frame
 * announces (longer: nothing is written past it; shorter; another size
 * said by the frame; not zstd).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "check_main.h"
#include "compress.h"

#define N 65536

static struct compress_ctx *z;
static uint8_t src[N], packed[N + 1024], out[2 * N];
static char why[160];

static void
setup(void)
{
	size_t i;

	z = compress_new();
	ck_assert_ptr_nonnull(z);
	for (i = 0; i < N; i++)
		src[i] = (uint8_t)"ring head tail index\n"[i % 21];
}

static void
teardown(void)
{
	compress_free(z);
}

START_TEST(test_round_trip)
{
	size_t n = compress_chunk(z, packed, sizeof(packed), src, N);

	ck_assert_uint_gt(n, 0);
	ck_assert_uint_lt(n, N / 10); /* text of a few words packs well */
	ck_assert_int_eq(compress_unpack(z, out, N, packed, n, why, sizeof(why)), 0);
	ck_assert_mem_eq(out, src, N);
	ck_assert_uint_ge(compress_bound(N), N);
}
END_TEST

START_TEST(test_zero)
{
	static uint8_t zeros[3 * 4096 + 5];

	ck_assert(compress_is_zero(zeros, sizeof(zeros)));
	ck_assert(compress_is_zero(zeros, 0));
	zeros[sizeof(zeros) - 1] = 1;
	ck_assert(!compress_is_zero(zeros, sizeof(zeros)));
	zeros[sizeof(zeros) - 1] = 0;
	zeros[4096] = 1;
	ck_assert(!compress_is_zero(zeros, sizeof(zeros)));
}
END_TEST

/* A frame that does not say its size and holds more than announced:
 * refused, and not a byte written past the announced length. */
START_TEST(test_bomb)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	size_t n;

	ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0);
	n = ZSTD_compress2(c, packed, sizeof(packed), src, N);
	ck_assert(!ZSTD_isError(n));
	memset(out, 0xee, sizeof(out));
	ck_assert_int_eq(compress_unpack(z, out, N / 2, packed, n, why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "zstd:"));
	ck_assert_uint_eq(out[N / 2], 0xee);
	/* Shorter than announced. */
	ck_assert_int_eq(compress_unpack(z, out, 2 * N, packed, n, why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "decompresses to 65536 bytes, the DATA says 131072"));
	ZSTD_freeCCtx(c);
}
END_TEST

START_TEST(test_frame_says_another_size)
{
	size_t n = compress_chunk(z, packed, sizeof(packed), src, N);

	ck_assert_int_eq(compress_unpack(z, out, N - 1, packed, n, why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "holds 65536 bytes, the DATA says 65535"));
	ck_assert_int_eq(compress_unpack(z, out, N, (const uint8_t *)"garbage!", 8, why,
			     sizeof(why)), -1);
	ck_assert_str_eq(why, "not a zstd frame");
}
END_TEST

int main(void);

int
main(void)
{
	Suite *s = suite_create("compress");
	TCase *t = tcase_create("compress");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, test_round_trip);
	tcase_add_test(t, test_zero);
	tcase_add_test(t, test_bomb);
	tcase_add_test(t, test_frame_says_another_size);
	suite_add_tcase(s, t);
	return tu_run_suite(s);
}
