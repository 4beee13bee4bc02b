/*
 * test_httpd_parse.c: the control socket's request parser
 * (daemon/httpd_parse.c): what it takes from a request head, what it
 * refuses with which status and error code, that it waits for the rest of
 * a head it cannot judge yet, and the query decoder.
 */
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "check_main.h"
#include "errors.h"
#include "httpd_parse.h"

#define H "Host: localhost\r\n"

static const struct taken_case {
	const char *text;
	enum httpd_method method;
	const char *path, *query; /* query NULL: none */
	int minor, keep_alive, expect;
	unsigned content_length;
	size_t length; /* of the head; 0: the text but its body */
} taken[] = {
    {"GET /v1/health HTTP/1.1\r\n" H "\r\n", HTTPD_GET, "/v1/health", NULL, 1, 1, 0, 0, 0},
    {"POST /v1/migrations HTTP/1.1\r\n" H "Content-Length: 17\r\n\r\n{\"device\":\"sim0\"}",
	HTTPD_POST, "/v1/migrations", NULL, 1, 1, 0, 17, 0},
    {"HEAD /metrics HTTP/1.1\r\n" H "Connection: close\r\n\r\n", HTTPD_HEAD, "/metrics", NULL,
	1, 0, 0, 0, 0},
    {"GET /v1/health HTTP/1.0\r\n\r\n", HTTPD_GET, "/v1/health", NULL, 0, 0, 0, 0, 0},
    {"GET /v1/health HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", HTTPD_GET, "/v1/health",
	NULL, 0, 1, 0, 0, 0},
    {"GET /x HTTP/1.1\r\n" H "Connection: TE, close\r\n\r\n", HTTPD_GET, "/x", NULL, 1, 0, 0, 0,
	0},
    /* Percent-decoded path, query kept as sent. */
    {"GET /v1/devices/gpu%2D0?migration=a%20b HTTP/1.1\r\n" H "\r\n", HTTPD_GET,
	"/v1/devices/gpu-0", "migration=a%20b", 1, 1, 0, 0, 0},
    {"GET /v1/events? HTTP/1.1\r\n" H "\r\n", HTTPD_GET, "/v1/events", "", 1, 1, 0, 0, 0},
    /* Absolute form: the host part is dropped. */
    {"GET http://localhost/v1/health HTTP/1.1\r\n" H "\r\n", HTTPD_GET, "/v1/health", NULL, 1,
	1, 0, 0, 0},
    {"GET http://localhost HTTP/1.1\r\n" H "\r\n", HTTPD_GET, "/", NULL, 1, 1, 0, 0, 0},
    /* Bare LF line ends, blanks around a value, empty lines before. */
    {"GET /a HTTP/1.1\n" H "Content-Length: \t 5 \n\nhello", HTTPD_GET, "/a", NULL, 1, 1, 0,
	5, 0},
    {"\r\n\r\nGET /a HTTP/1.1\r\n" H "\r\n", HTTPD_GET, "/a", NULL, 1, 1, 0, 0, 0},
    {"POST /a HTTP/1.1\r\n" H "Expect: 100-Continue\r\nContent-Length: 65536\r\n\r\n",
	HTTPD_POST, "/a", NULL, 1, 1, 1, 65536, 82},
    /* Later versions of 1.x are spoken as 1.1. */
    {"DELETE /a HTTP/1.9\r\n" H "\r\n", HTTPD_DELETE, "/a", NULL, 1, 1, 0, 0, 0},
    /* Only the head: the next request is not looked at. */
    {"GET /a HTTP/1.1\r\n" H "\r\nGARBAGE", HTTPD_GET, "/a", NULL, 1, 1, 0, 0, 36},
};

START_TEST(test_taken)
{
	const struct taken_case *c = &taken[_i];
	size_t length = c->length != 0 ? c->length : strlen(c->text) - c->content_length;
	struct httpd_refusal r;
	struct httpd_head h;

	ck_assert_msg(httpd_parse_head(c->text, strlen(c->text), &h, &r) == HTTPD_PARSE_DONE,
	    "%s: refused %d %s", c->text, r.status, r.message);
	ck_assert_int_eq(h.method, c->method);
	ck_assert_str_eq(h.path, c->path);
	ck_assert_int_eq(h.has_query, c->query != NULL);
	if (c->query != NULL)
		ck_assert_str_eq(h.query, c->query);
	ck_assert_int_eq(h.minor, c->minor);
	ck_assert_int_eq(h.keep_alive, c->keep_alive);
	ck_assert_int_eq(h.expect_continue, c->expect);
	ck_assert_uint_eq(h.content_length, c->content_length);
	ck_assert_uint_eq(h.length, length);
}
END_TEST

static const struct refused_case {
	const char *text;
	int status;
	int code;
	const char *words; /* in the message */
} refused[] = {
    {"GARBAGE\r\n\r\n", 400, MIG_E_BAD_REQUEST, "malformed request line"},
    {"GET\r\n\r\n", 400, MIG_E_BAD_REQUEST, "malformed request line"},
    {"GET  / HTTP/1.1\r\n\r\n", 400, MIG_E_BAD_REQUEST, "malformed request line"},
    {"GET / HTTP/1.1 \r\n\r\n", 400, MIG_E_BAD_REQUEST, "malformed request line"},
    {"GET /\r\n\r\n", 400, MIG_E_BAD_REQUEST, "malformed request line"},
    {"GET / FTP/1.1\r\n\r\n", 400, MIG_E_BAD_REQUEST, "malformed request line"},
    {"GET /a\x01 HTTP/1.1\r\n\r\n", 400, MIG_E_BAD_REQUEST, "malformed request line"},
    {"GET / HTTP/1.1\rX\n\r\n", 400, MIG_E_BAD_REQUEST, "malformed request line"},
    {"\r\n\r\n\r\nGET / HTTP/1.1\r\n" H "\r\n", 400, MIG_E_BAD_REQUEST, "malformed"},
    {"BREW /v1/health HTTP/1.1\r\n" H "\r\n", 501, MIG_E_NOT_IMPLEMENTED, "unknown method BREW"},
    {"get /v1/health HTTP/1.1\r\n" H "\r\n", 501, MIG_E_NOT_IMPLEMENTED, "unknown method"},
    {"AVERYLONGMETHODNAME /", 501, MIG_E_NOT_IMPLEMENTED, "unknown method"},
    {"GET / HTTP/2.0\r\n" H "\r\n", 505, MIG_E_NOT_IMPLEMENTED, "HTTP/2.0 is not supported"},
    {"GET / HTTP/0.9\r\n\r\n", 505, MIG_E_NOT_IMPLEMENTED, "HTTP/0.9"},
    {"GET v1/health HTTP/1.1\r\n" H "\r\n", 400, MIG_E_BAD_REQUEST, "must be a path"},
    {"OPTIONS * HTTP/1.1\r\n" H "\r\n", 400, MIG_E_BAD_REQUEST, "must be a path"},
    {"GET /a#b HTTP/1.1\r\n" H "\r\n", 400, MIG_E_BAD_REQUEST, "fragment"},
    {"GET /a%zz HTTP/1.1\r\n" H "\r\n", 400, MIG_E_BAD_REQUEST, "percent-encoding"},
    {"GET /a%0 HTTP/1.1\r\n" H "\r\n", 400, MIG_E_BAD_REQUEST, "percent-encoding"},
    {"GET /a%00b HTTP/1.1\r\n" H "\r\n", 400, MIG_E_BAD_REQUEST, "percent-encoding"},
    {"GET / HTTP/1.1\r\n\r\n", 400, MIG_E_BAD_REQUEST, "needs a Host header"},
    {"GET / HTTP/1.1\r\n" H H "\r\n", 400, MIG_E_BAD_REQUEST, "more than one Host"},
    {"GET / HTTP/1.1\r\n" H "X-A: b\r\n c\r\n\r\n", 400, MIG_E_BAD_REQUEST, "line folding"},
    {"GET / HTTP/1.1\r\n" H "X-A b\r\n\r\n", 400, MIG_E_BAD_REQUEST, "without a name"},
    {"GET / HTTP/1.1\r\n" H ": b\r\n\r\n", 400, MIG_E_BAD_REQUEST, "without a name"},
    {"GET / HTTP/1.1\r\n" H "X A: b\r\n\r\n", 400, MIG_E_BAD_REQUEST, "malformed header name"},
    {"GET / HTTP/1.1\r\n" H "X-A: b\x01\r\n\r\n", 400, MIG_E_BAD_REQUEST, "control character"},
    {"GET / HTTP/1.1\r\n" H "X-A: b\rc\r\n\r\n", 400, MIG_E_BAD_REQUEST, "control character"},
    {"POST / HTTP/1.1\r\n" H "Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}", 400,
	MIG_E_BAD_REQUEST, "more than one Content-Length"},
    {"POST / HTTP/1.1\r\n" H "Content-Length: -1\r\n\r\n", 400, MIG_E_BAD_REQUEST, "decimal"},
    {"POST / HTTP/1.1\r\n" H "Content-Length: 1e3\r\n\r\n", 400, MIG_E_BAD_REQUEST, "decimal"},
    {"POST / HTTP/1.1\r\n" H "Content-Length:\r\n\r\n", 400, MIG_E_BAD_REQUEST, "empty"},
    {"POST / HTTP/1.1\r\n" H "Content-Length: 65537\r\n\r\n", 413, MIG_E_REQUEST_TOO_LARGE,
	"larger than 65536"},
    {"POST / HTTP/1.1\r\n" H "Content-Length: 99999999999999999999999999\r\n\r\n", 413,
	MIG_E_REQUEST_TOO_LARGE, "larger than"},
    {"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n", 411, MIG_E_BAD_REQUEST,
	"Content-Length"},
};

START_TEST(test_refused)
{
	const struct refused_case *c = &refused[_i];
	struct httpd_refusal r;
	struct httpd_head h;

	ck_assert_msg(httpd_parse_head(c->text, strlen(c->text), &h, &r) == HTTPD_PARSE_REFUSED,
	    "%s: not refused", c->text);
	ck_assert_int_eq(r.status, c->status);
	ck_assert_int_eq(r.code, c->code);
	ck_assert_msg(strstr(r.message, c->words) != NULL, "%s: message \"%s\"", c->text,
	    r.message);
}
END_TEST

/* A head arriving a byte at a time: "more" until its last byte. */
START_TEST(test_more_until_the_end)
{
	static const char text[] = "POST /v1/migrations?a=b HTTP/1.1\r\n" H
				   "Content-Length: 2\r\nConnection: close\r\n\r\n";
	struct httpd_refusal r;
	struct httpd_head h;
	size_t n;

	for (n = 0; n < sizeof(text) - 1; n++)
		ck_assert_msg(httpd_parse_head(text, n, &h, &r) == HTTPD_PARSE_MORE, "at %zu", n);
	ck_assert_int_eq(httpd_parse_head(text, n, &h, &r), HTTPD_PARSE_DONE);
	ck_assert_uint_eq(h.length, sizeof(text) - 1);
}
END_TEST

/* The limits, at their edges: target, head size, header count. */
START_TEST(test_limits)
{
	static char buf[HTTPD_MAX_HEAD + 64];
	struct httpd_refusal r;
	struct httpd_head h;
	size_t n;
	int i;

	/* A target of HTTPD_MAX_TARGET bytes is taken; one more is 414, at once. */
	memcpy(buf, "GET /", 5);
	memset(buf + 5, 'a', HTTPD_MAX_TARGET - 1);
	n = 4 + HTTPD_MAX_TARGET;
	memcpy(buf + n, " HTTP/1.0\r\n\r\n", 13);
	ck_assert_int_eq(httpd_parse_head(buf, n + 13, &h, &r), HTTPD_PARSE_DONE);
	ck_assert_uint_eq(strlen(h.path), HTTPD_MAX_TARGET);
	buf[n] = 'a';
	ck_assert_int_eq(httpd_parse_head(buf, n + 1, &h, &r), HTTPD_PARSE_REFUSED);
	ck_assert_int_eq(r.status, 414);
	ck_assert_int_eq(r.code, MIG_E_REQUEST_TOO_LARGE);

	/* A head of HTTPD_MAX_HEAD bytes is taken; one byte more is 431. */
	for (i = 0; i <= 1; i++) {
		n = HTTPD_MAX_HEAD + (size_t)i;
		memset(buf, 'a', sizeof(buf));
		memcpy(buf, "GET / HTTP/1.0\r\nX: ", 19);
		memcpy(buf + n - 4, "\r\n\r\n", 4);
		ck_assert_int_eq(httpd_parse_head(buf, n, &h, &r),
		    i == 0 ? HTTPD_PARSE_DONE : HTTPD_PARSE_REFUSED);
		if (i == 1)
			ck_assert_int_eq(r.status, 431);
		/* Without the end: "more" up to the limit, 431 from there. */
		ck_assert_int_eq(httpd_parse_head(buf, HTTPD_MAX_HEAD - 1, &h, &r),
		    HTTPD_PARSE_MORE);
	}
	memset(buf, 'a', sizeof(buf));
	memcpy(buf, "GET / HTTP/1.0\r\nX: ", 19);
	ck_assert_int_eq(httpd_parse_head(buf, HTTPD_MAX_HEAD, &h, &r), HTTPD_PARSE_REFUSED);
	ck_assert_int_eq(r.status, 431);

	/* HTTPD_MAX_HEADERS header lines, then one more. */
	for (i = 0; i <= 1; i++) {
		int k;

		n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.0\r\n");
		for (k = 0; k < HTTPD_MAX_HEADERS + i; k++)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-%d: y\r\n", k);
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
		ck_assert_int_eq(httpd_parse_head(buf, n, &h, &r),
		    i == 0 ? HTTPD_PARSE_DONE : HTTPD_PARSE_REFUSED);
	}
	ck_assert_int_eq(r.status, 431);
	ck_assert_ptr_nonnull(strstr(r.message, "header lines"));
}
END_TEST

START_TEST(test_query)
{
	char out[37];

	ck_assert_int_eq(httpd_parse_query("migration=abc", "migration", out, sizeof(out)), 1);
	ck_assert_str_eq(out, "abc");
	ck_assert_int_eq(httpd_parse_query("x=1&migration=a%2Db+c&migration=z", "migration", out,
			     sizeof(out)),
	    1);
	ck_assert_str_eq(out, "a-b c");
	ck_assert_int_eq(httpd_parse_query("migration=", "migration", out, sizeof(out)), 1);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(httpd_parse_query("", "migration", out, sizeof(out)), 0);
	ck_assert_int_eq(httpd_parse_query("migrationx=1", "migration", out, sizeof(out)), 0);
	ck_assert_int_eq(httpd_parse_query("x=1", "migration", out, sizeof(out)), 0);
	/* Malformed anywhere: a pair without '=', an empty key, a bad escape, a NUL. */
	ck_assert_int_eq(httpd_parse_query("migration", "migration", out, sizeof(out)), -1);
	ck_assert_int_eq(httpd_parse_query("=1", "migration", out, sizeof(out)), -1);
	ck_assert_int_eq(httpd_parse_query("migration=a&x=%z1", "migration", out, sizeof(out)),
	    -1);
	ck_assert_int_eq(httpd_parse_query("migration=a%00", "migration", out, sizeof(out)), -1);
	/* Longer than out. */
	ck_assert_int_eq(httpd_parse_query("migration=0123456789012345678901234567890123456789",
			     "migration", out, sizeof(out)),
	    -1);
}
END_TEST

START_TEST(test_method_names)
{
	ck_assert_str_eq(httpd_parse_method_name(HTTPD_GET), "GET");
	ck_assert_str_eq(httpd_parse_method_name(HTTPD_PATCH), "PATCH");
	ck_assert_str_eq(httpd_parse_method_name((enum httpd_method)0), "?");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("httpd_parse");
	TCase *tc = tcase_create("parse");

	tcase_add_loop_test(tc, test_taken, 0, (int)(sizeof(taken) / sizeof(taken[0])));
	tcase_add_loop_test(tc, test_refused, 0, (int)(sizeof(refused) / sizeof(refused[0])));
	tcase_add_test(tc, test_more_until_the_end);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_query);
	tcase_add_test(tc, test_method_names);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
