/*
 * test_fuzz_metrics_http.c: replays fuzz/corpus/metrics_http through the
 * metrics listener's parser target (fuzz/fuzz_metrics_http.c, linked in),
 * and checks what the parser answers to the requests the listener must
 * tell apart, so every `make check` proves both without clang.
 */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "check_main.h"
#include "fuzz_replay.h"
#include "metrics_http.h"

#ifndef FUZZ_CORPUS_DIR
#error "FUZZ_CORPUS_DIR must name fuzz/corpus/metrics_http"
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

static const struct {
	const char *text;
	int status, head, keep_alive;
} requests[] = {
    {"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 200, 0, 1},
    {"HEAD /metrics HTTP/1.1\r\n\r\n", 200, 1, 1},
    {"GET /metrics?x=1 HTTP/1.1\n\n", 200, 0, 1},
    {"GET http://h:1/metrics HTTP/1.1\r\n\r\n", 200, 0, 1},
    {"GET /metrics HTTP/1.0\r\n\r\n", 200, 0, 0},
    {"GET /metrics HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 200, 0, 1},
    {"GET /metrics HTTP/1.1\r\nConnection: te, close\r\n\r\n", 200, 0, 0},
    {"GET /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\n", 200, 0, 0},
    {"GET /metrics HTTP/1.1\r\nContent-Length: 00\r\n\r\n", 200, 0, 1},
    {"GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 200, 0, 0},
    {"GET /v1/health HTTP/1.1\r\n\r\n", 404, 0, 0},
    {"GET /metrics/ HTTP/1.1\r\n\r\n", 404, 0, 0},
    {"GET http://h:1 HTTP/1.1\r\n\r\n", 404, 0, 0},
    {"POST /v1/migrations HTTP/1.1\r\nContent-Length: 2\r\n\r\n", 405, 0, 0},
    {"get /metrics HTTP/1.1\r\n\r\n", 405, 0, 0},
    {"GET /metrics HTTP/2.0\r\n\r\n", 505, 0, 0},
    {"GET /metrics HTTP/1.2\r\n\r\n", 505, 0, 0},
    {"GET /metrics\r\n\r\n", 400, 0, 0},
    {"GET  /metrics HTTP/1.1\r\n\r\n", 400, 0, 0},
    {"GET /metrics HTTP/1.1 \r\n\r\n", 400, 0, 0},
    {"GET /metrics HTTP/1.1\r\nBad Header: x\r\n\r\n", 400, 0, 0},
    {"GET /metrics HTTP/1.1\r\n folded\r\n\r\n", 400, 0, 0},
    {"GET /metrics HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400, 0, 0},
    {"\r\n", 400, 0, 0},
};

START_TEST(test_requests)
{
	struct metrics_http_request r;
	const char *t = requests[_i].text;

	ck_assert_int_eq(metrics_http_parse(t, strlen(t), &r), METRICS_HTTP_PARSED);
	ck_assert_msg(r.status == requests[_i].status, "%s: %d", t, r.status);
	ck_assert_int_eq(r.head, requests[_i].head);
	ck_assert_int_eq(r.keep_alive, requests[_i].keep_alive);
	ck_assert_uint_eq(r.length, strlen(t));
	ck_assert_int_eq(LLVMFuzzerTestOneInput((const uint8_t *)t, strlen(t)), 0);
}
END_TEST

/* Pipelined: the first request ends at its blank line. */
START_TEST(test_two_requests)
{
	static const char t[] = "GET /metrics HTTP/1.1\r\n\r\nPOST /x HTTP/1.1\r\n\r\n";
	struct metrics_http_request r;

	ck_assert_int_eq(metrics_http_parse(t, sizeof(t) - 1, &r), METRICS_HTTP_PARSED);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.length, 25);
	ck_assert_int_eq(metrics_http_parse(t + 25, sizeof(t) - 26, &r), METRICS_HTTP_PARSED);
	ck_assert_int_eq(r.status, 405);
}
END_TEST

/* No blank line yet: wait, up to the limit; then 414 or 431. */
START_TEST(test_limits)
{
	static char big[METRICS_HTTP_MAX_REQUEST + 100];
	struct metrics_http_request r;

	ck_assert_int_eq(metrics_http_parse("GET /metr", 9, &r), METRICS_HTTP_INCOMPLETE);
	ck_assert_int_eq(metrics_http_parse("", 0, &r), METRICS_HTTP_INCOMPLETE);
	memset(big, 'a', sizeof(big));
	ck_assert_int_eq(metrics_http_parse(big, METRICS_HTTP_MAX_REQUEST - 1, &r),
	    METRICS_HTTP_INCOMPLETE);
	ck_assert_int_eq(metrics_http_parse(big, sizeof(big), &r), METRICS_HTTP_PARSED);
	ck_assert_int_eq(r.status, 414);
	ck_assert_uint_eq(r.length, METRICS_HTTP_MAX_REQUEST);
	memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
	ck_assert_int_eq(metrics_http_parse(big, sizeof(big), &r), METRICS_HTTP_PARSED);
	ck_assert_int_eq(r.status, 431);
	ck_assert_int_eq(r.keep_alive, 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("fuzz_metrics_http");
	TCase *tc = tcase_create("replay");

	tcase_add_test(tc, test_corpus_replays_cleanly);
	tcase_add_loop_test(tc, test_requests, 0, (int)(sizeof(requests) / sizeof(requests[0])));
	tcase_add_test(tc, test_two_requests);
	tcase_add_test(tc, test_limits);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
