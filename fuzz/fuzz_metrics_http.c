/*
 * fuzz_metrics_http.c: libFuzzer target for the metrics listener's request
 * parser (daemon/metrics_http.h: metrics_http_parse()), what any client
 * that can reach metrics_listen sends.
 *
 * Whatever the bytes, the parser returns without reading past them and
 * keeps its promises: it waits for more only below METRICS_HTTP_MAX_REQUEST
 * and only while no blank line ends the head; a parsed request took
 * 1..METRICS_HTTP_MAX_REQUEST bytes, and the same bytes cut right there
 * give the same answer (nothing after the head counts) while one byte
 * fewer is incomplete; the status is one the listener answers, 200 only
 * for GET or HEAD of /metrics, and only a 200 keeps the connection.
 *
 * Also linked into tests/test_fuzz_metrics_http, which replays
 * fuzz/corpus/metrics_http in every `make check`: no main() here.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "metrics_http.h"

static int
known_status(int status)
{
	static const int known[] = {200, 400, 404, 405, 414, 431, 505};
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (status == known[i])
			return 1;
	return 0;
}

/* A 200 is a GET or HEAD whose target holds /metrics. */
static void
check_ok(const char *buf, const struct metrics_http_request *r)
{
	const char *eol = memchr(buf, '\n', r->length);
	size_t line = (size_t)(eol - buf);

	FUZZ_CHECK(eol != NULL);
	FUZZ_CHECK(r->head ? line > 5 && memcmp(buf, "HEAD ", 5) == 0 :
			     line > 4 && memcmp(buf, "GET ", 4) == 0);
	FUZZ_CHECK(line >= 8 && memmem(buf, line, "/metrics", 8) != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct metrics_http_request r, again;
	const char *buf = (const char *)data;
	char *copy;
	int rc = metrics_http_parse(buf, size, &r);

	if (rc == METRICS_HTTP_INCOMPLETE) {
		FUZZ_CHECK(size < METRICS_HTTP_MAX_REQUEST);
		FUZZ_CHECK(memmem(buf, size, "\n\n", 2) == NULL &&
		    memmem(buf, size, "\n\r\n", 3) == NULL && (size < 2 || memcmp(buf, "\r\n", 2) != 0) &&
		    (size < 1 || buf[0] != '\n'));
		return 0;
	}
	FUZZ_CHECK(rc == METRICS_HTTP_PARSED);
	FUZZ_CHECK(r.length >= 1 && r.length <= size && r.length <= METRICS_HTTP_MAX_REQUEST);
	FUZZ_CHECK(known_status(r.status));
	FUZZ_CHECK(r.status == 200 || !r.keep_alive);
	FUZZ_CHECK(strcmp(metrics_http_reason(r.status), "Internal Server Error") != 0);
	if (r.status == 200)
		check_ok(buf, &r);
	/* Exactly the request's bytes, in a buffer of their size: the same
	 * answer; one byte fewer is not a request yet. */
	copy = malloc(r.length);
	FUZZ_CHECK(copy != NULL);
	memcpy(copy, buf, r.length);
	FUZZ_CHECK(metrics_http_parse(copy, r.length, &again) == METRICS_HTTP_PARSED);
	FUZZ_CHECK(memcmp(&again, &r, sizeof(r)) == 0);
	FUZZ_CHECK(metrics_http_parse(copy, r.length - 1, &again) == METRICS_HTTP_INCOMPLETE);
	free(copy);
	return 0;
}
