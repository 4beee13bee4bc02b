/*
 * test_fuzz_compress.c: replays fuzz/corpus/compress through the packed
 * DATA target (fuzz/fuzz_compress.c, linked in) in every `make check`, and
 * checks the corpus still holds each case worth starting the fuzzer from:
 * chunks that unpack, ones the decoder refuses and ones that decode but
 * do not unpack to their announced length.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "compress.h"
#include "errors.h"
#include "frame.h"
#include "fuzz_replay.h"

#ifndef FUZZ_CORPUS_DIR
#error "FUZZ_CORPUS_DIR must name fuzz/corpus/compress"
#endif

#define CORPUS_MAX_FILE (1u << 20)

struct corpus_seen {
	int unpacked, zero_runs, refused_decode, refused_unpack;
};

static void
tally(const char *name, const uint8_t *buf, size_t len, void *arg)
{
	struct corpus_seen *seen = arg;
	uint8_t flags = (buf[0] & 1) ? MIG_DATA_ZSTD : MIG_DATA_ZERO;
	struct compress_ctx *z = compress_new();
	struct mig_packed pk;
	uint8_t *out;
	char why[160];

	(void)name;
	ck_assert_ptr_nonnull(z);
	if (mig_data_packed_decode(flags, buf + 1, (uint32_t)(len - 1), &pk) != MIG_OK)
		seen->refused_decode++;
	else if (flags == MIG_DATA_ZERO)
		seen->zero_runs++;
	else {
		out = malloc(pk.raw_len);
		if (compress_unpack(z, out, pk.raw_len, pk.body, pk.body_len, why, sizeof(why)) == 0)
			seen->unpacked++;
		else
			seen->refused_unpack++;
		free(out);
	}
	compress_free(z);
}

START_TEST(test_corpus_replays_cleanly)
{
	struct corpus_seen seen;

	memset(&seen, 0, sizeof(seen));
	ck_assert_int_ge(fuzz_replay_dir(FUZZ_CORPUS_DIR, CORPUS_MAX_FILE, tally, &seen), 10);
	ck_assert_msg(seen.unpacked >= 2, "no zstd chunk that unpacks");
	ck_assert_msg(seen.zero_runs > 0, "no zero run");
	ck_assert_msg(seen.refused_decode >= 3, "too few chunks the decoder refuses");
	ck_assert_msg(seen.refused_unpack >= 3, "too few chunks not of their announced length");
}
END_TEST

int main(void);

int
main(void)
{
	Suite *s = suite_create("fuzz_compress");
	TCase *tc = tcase_create("replay");

	tcase_add_test(tc, test_corpus_replays_cleanly);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
