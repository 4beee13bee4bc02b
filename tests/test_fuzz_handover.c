/*
 * test_fuzz_handover.c: replays fuzz/corpus/handover through the hand-over
 * requests' fuzz target (fuzz/fuzz_handover.c, linked in), so every `make
 * check` proves the decoder keeps its promises on every seed without
 * clang, and on degenerate messages.
 */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "check_main.h"
#include "fuzz_replay.h"

#ifndef FUZZ_CORPUS_DIR
#error "FUZZ_CORPUS_DIR must name fuzz/corpus/handover"
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

	ck_assert_int_ge(fuzz_replay_dir(FUZZ_CORPUS_DIR, CORPUS_MAX_FILE, replay_one, &files), 10);
}
END_TEST

START_TEST(test_target_survives_degenerate_input)
{
	static const char *const texts[] = {"", "{", "null", "{}", "[]", "\"x\"", "{\"op\":1}",
	    "{\"op\":\"attach\"}", "{\"op\":\"set-iova\",\"name\":\"sim0\",\"iova\":{}}"};
	size_t i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		ck_assert_int_eq(LLVMFuzzerTestOneInput((const uint8_t *)texts[i],
				     strlen(texts[i])),
		    0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("fuzz_handover");
	TCase *tc = tcase_create("replay");

	tcase_add_test(tc, test_corpus_replays_cleanly);
	tcase_add_test(tc, test_target_survives_degenerate_input);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
