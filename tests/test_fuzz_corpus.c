/*
 * test_fuzz_corpus.c: replays the committed fuzz corpus through the fuzz
 * target (fuzz/fuzz_frame.c, linked in), so every `make check` proves the
 * decoder still handles every input the fuzzer ever found interesting,
 * without needing clang. A failing input aborts inside the target and
 * Check reports the test as killed by SIGABRT; the file name is printed.
 */
#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "frame.h"

#ifndef FUZZ_CORPUS_DIR
#error "FUZZ_CORPUS_DIR must name fuzz/corpus/frame"
#endif

#define CORPUS_MAX_FILE (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What decoding the whole corpus showed: frame types and errors met. */
struct corpus_seen {
	int files;
	int types[MIG_FRAME_TYPE_MAX + 1];
	int errors[MIG_E_MALFORMED + 1];
	int truncated;
};

static size_t
read_file(const char *path, uint8_t *buf, size_t cap)
{
	FILE *fp = fopen(path, "rb");
	size_t n;

	ck_assert_msg(fp != NULL, "cannot open %s", path);
	n = fread(buf, 1, cap, fp);
	ck_assert_msg(!ferror(fp) && feof(fp), "cannot read %s whole", path);
	fclose(fp);
	return n;
}

static void
decode_all(const uint8_t *buf, size_t len, struct corpus_seen *seen)
{
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

/* Runs every regular file of the corpus through the target. */
static void
replay_corpus(struct corpus_seen *seen)
{
	static uint8_t buf[CORPUS_MAX_FILE + 1];
	char path[4096];
	DIR *dir = opendir(FUZZ_CORPUS_DIR);
	struct dirent *de;
	size_t n;

	ck_assert_msg(dir != NULL, "cannot open %s", FUZZ_CORPUS_DIR);
	memset(seen, 0, sizeof(*seen));
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", FUZZ_CORPUS_DIR, de->d_name);
		n = read_file(path, buf, sizeof(buf));
		ck_assert_msg(n <= CORPUS_MAX_FILE, "%s is larger than a seed should be", path);
		fprintf(stderr, "corpus: %s\n", de->d_name);
		LLVMFuzzerTestOneInput(buf, n);
		decode_all(buf, n, seen);
		seen->files++;
	}
	closedir(dir);
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
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_corpus_replays_cleanly);
	tcase_add_test(tc, test_corpus_has_every_frame_type);
	tcase_add_test(tc, test_corpus_has_every_decode_error);
	tcase_add_test(tc, test_target_survives_degenerate_input);
	/* Sanitizer builds replay the corpus several times over. */
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
