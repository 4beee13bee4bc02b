/*
 * test_fuzz_config.c: replays fuzz/corpus/config through the config
 * parser's fuzz target (fuzz/fuzz_config.c, linked in), so every `make
 * check` proves the parser still keeps its promises on every seed, without
 * needing clang; and checks the corpus still holds accepted and refused
 * files and every backend.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "config_file.h"
#include "fuzz_replay.h"

#ifndef FUZZ_CORPUS_DIR
#error "FUZZ_CORPUS_DIR must name fuzz/corpus/config"
#endif

#define CORPUS_MAX_FILE (64u << 10)

/* What parsing the corpus showed. */
struct corpus_seen {
	int accepted, refused;
	unsigned backends; /* bit per enum mig_backend in an accepted file */
};

static void
tally_config(const char *name, const uint8_t *data, size_t size, void *arg)
{
	struct corpus_seen *seen = arg;
	struct mig_config *cfg;
	char *text = malloc(size + 1);
	size_t i;

	ck_assert_ptr_nonnull(text);
	if (size > 0)
		memcpy(text, data, size);
	text[size] = '\0';
	if (mig_config_load_string(text, name, &cfg, NULL, 0) != 0) {
		seen->refused++;
		free(text);
		return;
	}
	seen->accepted++;
	for (i = 0; i < cfg->ndevices; i++)
		seen->backends |= 1u << cfg->devices[i].backend;
	mig_config_free(cfg);
	free(text);
}

START_TEST(test_corpus_replays_cleanly)
{
	struct corpus_seen seen;

	memset(&seen, 0, sizeof(seen));
	ck_assert_int_ge(fuzz_replay_dir(FUZZ_CORPUS_DIR, CORPUS_MAX_FILE, tally_config, &seen),
	    10);
}
END_TEST

START_TEST(test_corpus_has_accepted_refused_and_every_backend)
{
	struct corpus_seen seen;
	int b;

	memset(&seen, 0, sizeof(seen));
	fuzz_replay_dir(FUZZ_CORPUS_DIR, CORPUS_MAX_FILE, tally_config, &seen);
	ck_assert_int_gt(seen.accepted, 0);
	ck_assert_int_gt(seen.refused, 0);
	for (b = MIG_BACKEND_SIM; b <= MIG_BACKEND_VFIO_V2; b++)
		ck_assert_msg(seen.backends & 1u << b, "no accepted %s device",
		    mig_backend_name((enum mig_backend)b));
}
END_TEST

START_TEST(test_shipped_example_replays_cleanly)
{
	struct corpus_seen seen;

	memset(&seen, 0, sizeof(seen));
	fuzz_replay_file(TOP_SRCDIR "/etc/vfio-migd.conf", CORPUS_MAX_FILE, tally_config, &seen);
	ck_assert_int_eq(seen.accepted, 1);
}
END_TEST

START_TEST(test_target_survives_degenerate_input)
{
	static const char *const texts[] = {"\n", "[", "[device", "=", "\xef\xbb\xbf",
	    "[daemon]\nlisten =\n", "[device a]\n[device a]\n"};
	static const char nul[] = "[daemon]\0listen = x";
	char long_line[20000];
	size_t i;

	ck_assert_int_eq(LLVMFuzzerTestOneInput(NULL, 0), 0);
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		ck_assert_int_eq(LLVMFuzzerTestOneInput((const uint8_t *)texts[i],
				     strlen(texts[i])),
		    0);
	ck_assert_int_eq(LLVMFuzzerTestOneInput((const uint8_t *)nul, sizeof(nul) - 1), 0);
	memset(long_line, 'k', sizeof(long_line));
	ck_assert_int_eq(LLVMFuzzerTestOneInput((const uint8_t *)long_line, sizeof(long_line)), 0);
}
END_TEST

int main(void);

int
main(void)
{
	Suite *s = suite_create("fuzz_config");
	TCase *tc = tcase_create("replay");

	tcase_add_test(tc, test_corpus_replays_cleanly);
	tcase_add_test(tc, test_corpus_has_accepted_refused_and_every_backend);
	tcase_add_test(tc, test_shipped_example_replays_cleanly);
	tcase_add_test(tc, test_target_survives_degenerate_input);
	/* Sanitizer builds replay the corpus several times over. */
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
