/*
 * test_fuzz_vfio_user.c: replays fuzz/corpus/vfio_user through the
 * vfio-user client's fuzz target (fuzz/fuzz_vfio_user.c, linked in), so
 * every `make check` proves the client keeps its promises on every seed
 * (a whole session, and each of its replies cut or broken in each way)
 * without clang, and on degenerate streams.
 */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "check_main.h"
#include "fuzz_replay.h"

#ifndef FUZZ_CORPUS_DIR
#error "FUZZ_CORPUS_DIR must name fuzz/corpus/vfio_user"
#endif

#define CORPUS_MAX_FILE (64u << 10)

static void
replay_one(const char *name, const uint8_t *data, size_t size, void *arg)
{
	int *files = arg;

	(void)name;
	(*files)++;
	ck_assert_int_eq(LLVMFuzzerTestOneInput(data, size), 0);
}

START_TEST(test_corpus_replays_cleanly)
{
	int files = 0;

	ck_assert_int_ge(fuzz_replay_dir(FUZZ_CORPUS_DIR, CORPUS_MAX_FILE, replay_one, &files), 80);
}
END_TEST

START_TEST(test_target_survives_degenerate_input)
{
	static uint8_t big[80 * 1024];
	static const uint8_t header_only[16] = {0, 0, 1, 0, 16, 0, 0, 0, 1, 0, 0, 0};
	static const uint8_t huge_size[16] = {0, 0, 1, 0, 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0};

	ck_assert_int_eq(LLVMFuzzerTestOneInput(NULL, 0), 0);
	ck_assert_int_eq(LLVMFuzzerTestOneInput(header_only, 5), 0);
	ck_assert_int_eq(LLVMFuzzerTestOneInput(header_only, sizeof(header_only)), 0);
	ck_assert_int_eq(LLVMFuzzerTestOneInput(huge_size, sizeof(huge_size)), 0);
	memset(big, 0xff, sizeof(big));
	ck_assert_int_eq(LLVMFuzzerTestOneInput(big, sizeof(big)), 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("fuzz_vfio_user");
	TCase *tc = tcase_create("replay");

	tcase_add_test(tc, test_corpus_replays_cleanly);
	tcase_add_test(tc, test_target_survives_degenerate_input);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
