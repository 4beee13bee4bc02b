/*
 * test_fuzz_httpd.c: replays fuzz/corpus/httpd through the request
 * parser's fuzz target (fuzz/fuzz_httpd.c, linked in), so every `make
 * check` proves the parser keeps its promises on every seed without clang,
 * and on degenerate input.
 */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "check_main.h"
#include "fuzz_replay.h"

#ifndef FUZZ_CORPUS_DIR
#error "FUZZ_CORPUS_DIR must name fuzz/corpus/httpd"
#endif

#define CORPUS_MAX_FILE (64u << 10)

START_TEST(test_corpus_replays_cleanly)
{
	ck_assert_int_ge(fuzz_replay_dir(FUZZ_CORPUS_DIR, CORPUS_MAX_FILE, NULL, NULL), 15);
}
END_TEST

START_TEST(test_target_survives_degenerate_input)
{
	static const char *const texts[] = {"", "\r", "\n", "\r\n\r\n\r\n", " ", "G", "GET",
	    "GET ", "GET /", "GET / ", "GET / HTTP/1.1", "GET / HTTP/1.1\r", "GET / HTTP/1.1\r\n",
	    "GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET %", "GET /% H",
	    "GET /%4 HTTP/1.0\r\n\r\n", "GET /? HTTP/1.0\r\n\r\n", "GET /?& HTTP/1.0\r\n\r\n",
	    "GET http:// HTTP/1.0\r\n\r\n", "GET https:/ HTTP/1.0\r\n\r\n",
	    "GET /x HTTP/1.0\r\n:\r\n\r\n", "GET /x HTTP/1.0\r\nA:\r\r\n\r\n"};
	size_t i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		const uint8_t *data = (const uint8_t *)texts[i];

		ck_assert_int_eq(LLVMFuzzerTestOneInput(data, strlen(texts[i])), 0);
	}
}
END_TEST

/* The limits' edges: a head of HTTPD_MAX_HEAD bytes and one byte more. */
START_TEST(test_target_at_the_limits)
{
	static char buf[16384 + 64];
	size_t n;

	for (n = 16384 - 2; n <= 16384 + 2; n++) {
		memset(buf, 'a', sizeof(buf));
		memcpy(buf, "GET / HTTP/1.0\r\nX: ", 19);
		memcpy(buf + n - 4, "\r\n\r\n", 4);
		ck_assert_int_eq(LLVMFuzzerTestOneInput((const uint8_t *)buf, n), 0);
		ck_assert_int_eq(LLVMFuzzerTestOneInput((const uint8_t *)buf, sizeof(buf)), 0);
	}
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("fuzz_httpd");
	TCase *tc = tcase_create("replay");

	tcase_add_test(tc, test_corpus_replays_cleanly);
	tcase_add_test(tc, test_target_survives_degenerate_input);
	tcase_add_test(tc, test_target_at_the_limits);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
