/*
 * test_digest.c: the END digests (common/digest.c): known vectors, the
 * same digest however the input is split, the zero padding END carries,
 * names. (Which HELLO bit offers which: test_frame.c.)
 */
#include <check.h>
#include <string.h>

#include "check_main.h"
#include "digest.h"

static void
digest_of(int id, const void *p, size_t n, size_t split, uint8_t out[MIG_DIGEST_FIELD_LEN])
{
	struct mig_digest d;

	ck_assert_int_eq(mig_digest_init(&d, (enum mig_digest_id)id), 0);
	mig_digest_update(&d, p, split);
	mig_digest_update(&d, (const uint8_t *)p + split, n - split);
	mig_digest_final(&d, out);
	mig_digest_free(&d);
}

START_TEST(test_known_vectors)
{
	static const uint8_t sha_abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41,
	    0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
	    0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
	/* XXH3-128 of nothing, canonical (high half first), then 16 zeros. */
	static const uint8_t xxh_empty[32] = {0x99, 0xaa, 0x06, 0xd3, 0x01, 0x47, 0x98, 0xd8, 0x60,
	    0x01, 0xc3, 0x24, 0x46, 0x8d, 0x49, 0x7f};
	uint8_t out[MIG_DIGEST_FIELD_LEN];

	digest_of(MIG_DIGEST_SHA256, "abc", 3, 1, out);
	ck_assert_mem_eq(out, sha_abc, sizeof(out));
	digest_of(MIG_DIGEST_XXH3_128, "", 0, 0, out);
	ck_assert_mem_eq(out, xxh_empty, sizeof(out));
}
END_TEST

START_TEST(test_split_anywhere)
{
	static uint8_t buf[100000];
	uint8_t whole[MIG_DIGEST_FIELD_LEN], parts[MIG_DIGEST_FIELD_LEN];
	size_t i;
	int id;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + (i >> 9));
	for (id = 0; id < MIG_DIGEST_COUNT; id++) {
		digest_of(id, buf, sizeof(buf), 0, whole);
		digest_of(id, buf, sizeof(buf), 4097, parts);
		ck_assert_mem_eq(whole, parts, sizeof(whole));
		buf[50000] ^= 1; /* one bit anywhere changes it */
		digest_of(id, buf, sizeof(buf), 4097, parts);
		ck_assert_mem_ne(whole, parts, mig_digest_len(id));
		buf[50000] ^= 1;
	}
}
END_TEST

START_TEST(test_names)
{
	ck_assert_str_eq(mig_digest_name(MIG_DIGEST_SHA256), "sha256");
	ck_assert_str_eq(mig_digest_name(MIG_DIGEST_XXH3_128), "xxh3-128");
	ck_assert_str_eq(mig_digest_name(7), "?");
	ck_assert_int_eq(mig_digest_from_name("xxh3-128"), MIG_DIGEST_XXH3_128);
	ck_assert_int_eq(mig_digest_from_name("sha256"), MIG_DIGEST_SHA256);
	ck_assert_int_eq(mig_digest_from_name("SHA256"), -1);
	ck_assert_uint_eq(mig_digest_len(MIG_DIGEST_XXH3_128), 16);
	ck_assert_uint_eq(mig_digest_len(MIG_DIGEST_SHA256), 32);
}
END_TEST

int main(void);

int
main(void)
{
	Suite *s = suite_create("digest");
	TCase *t = tcase_create("digest");

	tcase_add_test(t, test_known_vectors);
	tcase_add_test(t, test_split_anywhere);
	tcase_add_test(t, test_names);
	suite_add_tcase(s, t);
	return tu_run_suite(s);
}
