/*
 * test_fuzz_journal.c: replays fuzz/corpus/journal through the journal
 * restore's fuzz target (fuzz/fuzz_journal.c, linked in), so every `make
 * check` proves the restore keeps its promises on every seed without
 * clang; and checks the corpus holds records it takes and records it
 * refuses.
 */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "check_main.h"
#include "fuzz_replay.h"
#include "journal.h"
#include "migration.h"

#ifndef FUZZ_CORPUS_DIR
#error "FUZZ_CORPUS_DIR must name fuzz/corpus/journal"
#endif

#define CORPUS_MAX_FILE (64u << 10)

struct corpus_seen {
	int files, taken, restart_failed;
};

static void
replay_one(const char *name, const uint8_t *data, size_t size, void *arg)
{
	struct corpus_seen *seen = arg;
	struct migration *m;

	(void)name;
	seen->files++;
	ck_assert_int_eq(LLVMFuzzerTestOneInput(data, size), 0);
	/* Once more outside the target, to count what it made of it. */
	m = journal_restore_text((const char *)data, size, name);
	if (m != NULL) {
		seen->taken++;
		seen->restart_failed += m->phase == PHASE_FAILED && m->error_code != 0 &&
		    strstr(m->error_msg, "the daemon stopped during phase") != NULL;
	}
	journal_restore_finish();
	migration_free_all();
}

START_TEST(test_corpus_replays_cleanly)
{
	struct corpus_seen seen;

	memset(&seen, 0, sizeof(seen));
	ck_assert_int_ge(fuzz_replay_dir(FUZZ_CORPUS_DIR, CORPUS_MAX_FILE, replay_one, &seen), 8);
	ck_assert_int_gt(seen.taken, 0);
	ck_assert_int_lt(seen.taken, seen.files);
	ck_assert_int_ge(seen.restart_failed, 3);
}
END_TEST

START_TEST(test_target_survives_degenerate_input)
{
	static const char *const texts[] = {"", "{", "null", "{}", "[]", "\"x\"", "{\"id\":1}",
	    "{\"id\":\"3d5a439c-12a4-4a29-9221-7f7297f70672\"}"};
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
	Suite *s = suite_create("fuzz_journal");
	TCase *tc = tcase_create("replay");

	tcase_add_test(tc, test_corpus_replays_cleanly);
	tcase_add_test(tc, test_target_survives_degenerate_input);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
