/*
 * test_fuzz_corpus.c: replays the committed fuzz corpus through the fuzz
 * target (fuzz/fuzz_frame.c, linked in), so every `make check` proves the
 * decoder still handles every input the fuzzer ever found interesting,
 * without needing clang. A failing input aborts inside the target and
 * Check reports the test as killed by SIGABRT; the file name is printed.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "errors.h"
#include "frame.h"
#include "fuzz_replay.h"

#ifndef FUZZ_CORPUS_DIR
#error "FUZZ_CORPUS_DIR must name fuzz/corpus/frame"
#endif

#define CORPUS_MAX_FILE (1u << 20)

/* What decoding the whole corpus showed: frame types and errors met. */
struct corpus_seen {
	int files;
	int types[MIG_FRAME_TYPE_MAX + 1];
	int errors[MIG_E_MALFORMED + 1];
	int truncated;
};

static void
decode_all(const char *name, const uint8_t *buf, size_t len, void *arg)
{
	struct corpus_seen *seen = arg;
	struct mig_decoder d;
	struct mig_frame f;
	size_t used;
	int err;
	enum mig_decode_status st;

	mig_decoder_init(&d);
	while ((st = mig_decoder_feed(&d, buf, len, &used, &f, &err)) == MIG_DECODE_FRAME) {
		seen->types[f.hdr.type]++;
		buf += used;
		len -= used;
	}
	if (st == MIG_DECODE_ERROR && err >= 0 && err <= MIG_E_MALFORMED)
		seen->errors[err]++;
	if (st == MIG_DECODE_NEED_MORE && mig_decoder_partial(&d) > 0)
		seen->truncated++;
	mig_decoder_free(&d);
}

/* Runs every file of the corpus through the target. */
static void
replay_corpus(struct corpus_seen *seen)
{
	memset(seen, 0, sizeof(*seen));
	seen->files = fuzz_replay_dir(FUZZ_CORPUS_DIR, CORPUS_MAX_FILE, decode_all, seen);
}

START_TEST(test_corpus_replays_cleanly)
{
	struct corpus_seen seen;

	replay_corpus(&seen);
	ck_assert_int_ge(seen.files, 20);
}
END_TEST

START_TEST(test_corpus_has_every_frame_type)
{
	struct corpus_seen seen;
	int type;

	replay_corpus(&seen);
	for (type = MIG_FRAME_HELLO; type <= MIG_FRAME_TYPE_MAX; type++)
		ck_assert_msg(seen.types[type] > 0, "no valid %s in the corpus",
		    mig_frame_type_name(type));
}
END_TEST

START_TEST(test_corpus_has_every_decode_error)
{
	struct corpus_seen seen;
	int err;

	replay_corpus(&seen);
	for (err = MIG_E_FRAME_TOO_LARGE; err <= MIG_E_MALFORMED; err++)
		ck_assert_msg(seen.errors[err] > 0, "no seed gives error %d", err);
	ck_assert_msg(seen.truncated > 0, "no seed ends inside a frame");
}
END_TEST

START_TEST(test_target_survives_degenerate_input)
{
	static const uint8_t magic_only[] = {'V', 'F', 'M', 'G'};
	uint8_t zeros[64] = {0};

	ck_assert_int_eq(LLVMFuzzerTestOneInput(NULL, 0), 0);
	ck_assert_int_eq(LLVMFuzzerTestOneInput(magic_only, sizeof(magic_only)), 0);
	ck_assert_int_eq(LLVMFuzzerTestOneInput(zeros, sizeof(zeros)), 0);
}
END_TEST

int main(void);

int
main(void)
{
	Suite *s = suite_create("fuzz_corpus");
	TCase *tc = tcase_create("replay");

	tcase_add_test(tc, test_corpus_replays_cleanly);
	tcase_add_test(tc, test_corpus_has_every_frame_type);
	tcase_add_test(tc, test_corpus_has_every_decode_error);
	tcase_add_test(tc, test_target_survives_degenerate_input);
	/* Sanitizer builds replay the corpus several times over. */
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
