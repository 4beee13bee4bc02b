/*
 * test_cli_http.c: vfio-migctl's HTTP client (cli/http.c) against canned
 * answers served on the other end of a socketpair. What it can read it
 * returns whole (Content-Length, chunked as the event stream comes, until
 * the connection ends, after an interim 1xx); what it cannot (malformed,
 * truncated, too large, too late) is "unreachable", exit 3, with a message
 * that says which, and never half-used.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_main.h"
#include "cli/http.h"

#define OK_BODY "{\"status\":\"ok\"}"

static char captured[4096];

/* Standard error into a file until capture_end(), which reads it back. */
static FILE *
capture_begin(void)
{
	FILE *f = tmpfile();

	ck_assert_ptr_nonnull(f);
	fflush(stderr);
	ck_assert_int_ne(dup2(fileno(f), STDERR_FILENO), -1);
	return f;
}

static const char *
capture_end(FILE *f)
{
	size_t n;

	fflush(stderr);
	rewind(f);
	n = fread(captured, 1, sizeof(captured) - 1, f);
	captured[n] = '\0';
	fclose(f);
	return captured;
}

/* The client on one end of a socketpair, answer already written on the
 * other. The other end is returned (the server still there), or closed
 * when peer is NULL (the answer ends with the connection). */
static void
serve(struct http_conn *c, const char *answer, size_t len, int *peer)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	if (len > 0)
		ck_assert_int_eq(write(sv[1], answer, len), (ssize_t)len);
	ck_assert_int_eq(http_attach(c, sv[0], "test.sock", 5000), CTL_EXIT_OK);
	if (peer != NULL)
		*peer = sv[1];
	else
		close(sv[1]);
}

/* The same for an answer larger than a socket buffer: a child writes it. */
static pid_t
serve_big(struct http_conn *c, const char *head, size_t body_len, char fill)
{
	char block[65536];
	size_t n;
	pid_t pid;
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		close(sv[0]);
		memset(block, fill, sizeof(block));
		if (write(sv[1], head, strlen(head)) < 0)
			_exit(1);
		for (; body_len > 0; body_len -= n) {
			n = body_len < sizeof(block) ? body_len : sizeof(block);
			if (write(sv[1], block, n) != (ssize_t)n)
				_exit(0); /* the client stopped reading: fine */
		}
		_exit(0);
	}
	close(sv[1]);
	ck_assert_int_eq(http_attach(c, sv[0], "test.sock", 5000), CTL_EXIT_OK);
	return pid;
}

/* Head and whole body of a canned answer; the client's return value. */
static int
exchange(const char *answer, size_t len, struct http_conn *c, char **body, size_t *body_len)
{
	int rc;

	*body = NULL;
	serve(c, answer, len, NULL);
	if ((rc = http_read_head(c)) == CTL_EXIT_OK)
		rc = http_read_body(c, body, body_len);
	http_close(c);
	return rc;
}

static void
expect_body(const char *answer, int status, const char *want)
{
	struct http_conn c;
	size_t len;
	char *body;

	ck_assert_int_eq(exchange(answer, strlen(answer), &c, &body, &len), CTL_EXIT_OK);
	ck_assert_int_eq(c.status, status);
	ck_assert_uint_eq(len, strlen(want));
	ck_assert_str_eq(body, want);
	free(body);
}

START_TEST(test_content_length)
{
	expect_body("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	    "Content-Length: 15\r\n\r\n" OK_BODY, 200, OK_BODY);
}
END_TEST

START_TEST(test_content_length_ends_the_body)
{
	expect_body("HTTP/1.1 404 Not Found\r\ncontent-length:  2 \r\n\r\n{}trailing", 404, "{}");
}
END_TEST

START_TEST(test_chunked)
{
	expect_body("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5\r\n{\"sta\r\n" "A;name=value\r\ntus\":\"ok\"}\r\n" "0\r\nX-Trailer: 1\r\n\r\n",
	    200, OK_BODY);
}
END_TEST

START_TEST(test_interim_answer_skipped)
{
	expect_body("HTTP/1.1 100 Continue\r\n\r\n"
	    "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}", 201, "{}");
}
END_TEST

START_TEST(test_body_until_eof)
{
	expect_body("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello", 200, "hello");
}
END_TEST

START_TEST(test_no_content)
{
	expect_body("HTTP/1.1 204 No Content\r\n\r\n", 204, "");
}
END_TEST

/* Appends the next piece of the body (until_end: every piece up to the
 * end of the body) to out; returns the client's return value. */
static int
read_pieces(struct http_conn *c, char *out, size_t outlen, int until_end)
{
	const char *data;
	size_t n, used = strlen(out);
	int rc;

	do {
		if ((rc = http_body_next(c, &data, &n)) != CTL_EXIT_OK)
			return rc;
		ck_assert_uint_lt(used + n, outlen);
		memcpy(out + used, data, n);
		used += n;
		out[used] = '\0';
	} while (n > 0 && until_end);
	return CTL_EXIT_OK;
}

/* GET /v1/events: events arrive one chunk at a time, a line may straddle
 * chunks, and each piece comes as soon as it is there. */
START_TEST(test_chunked_event_stream)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
	static const char ev1[] = "11\r\n{\"type\":\"phase\"}\n\r\n";
	static const char ev2[] = "6\r\n{\"a\":1\r\n3\r\n}\n\n\r\n0\r\n\r\n";
	struct http_conn c;
	char got[256] = "";
	int peer;

	serve(&c, head, strlen(head), &peer);
	ck_assert_int_eq(http_read_head(&c), CTL_EXIT_OK);
	http_set_timeout(&c, -1);
	ck_assert_int_eq(write(peer, ev1, strlen(ev1)), (ssize_t)strlen(ev1));
	ck_assert_int_eq(read_pieces(&c, got, sizeof(got), 0), CTL_EXIT_OK);
	ck_assert_str_eq(got, "{\"type\":\"phase\"}\n");
	ck_assert_int_eq(write(peer, ev2, strlen(ev2)), (ssize_t)strlen(ev2));
	ck_assert_int_eq(read_pieces(&c, got, sizeof(got), 1), CTL_EXIT_OK);
	ck_assert_str_eq(got, "{\"type\":\"phase\"}\n{\"a\":1}\n\n");
	close(peer);
	http_close(&c);
}
END_TEST

static const struct bad_answer {
	const char *answer;
	const char *message; /* part of what the client says */
} bad_answers[] = {
    /* malformed */
    {"SSH-2.0-OpenSSH_9.2\r\n", "not an HTTP/1.x status line"},
    {"HTTP/2 200\r\n\r\n", "not an HTTP/1.x status line"},
    {"HTTP/1.1 20 OK\r\n\r\n", "not an HTTP/1.x status line"},
    {"HTTP/1.1 200OK\r\n\r\n", "not an HTTP/1.x status line"},
    {"HTTP/1.1 200 OK\r\n: no name\r\n\r\n", "a header line without a name"},
    {"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "a header line without a name"},
    {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "a bad Content-Length"},
    {"HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n", "a bad Content-Length"},
    {"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
	"a bad Content-Length"},
    {"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n", "larger than 16 MiB"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "other than chunked"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "a bad chunk size line"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", "a bad chunk size line"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5x\r\n", "a bad chunk size line"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n",
	"a chunk size too large"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
	"chunk data longer than its size"},
    /* truncated */
    {"", "closed the connection without answering"},
    {"HTTP/1.1 200 OK\r\nContent-Len", "in the middle of a response"},
    {"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"status\":",
	"in the middle of a response"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
	"in the middle of a response"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\nhello",
	"in the middle of a response"},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Trailer: 1\r\n",
	"in the middle of a response"},
};

START_TEST(test_bad_answer)
{
	const struct bad_answer *b = &bad_answers[_i];
	struct http_conn c;
	size_t len;
	char *body;
	FILE *err = capture_begin();
	int rc = exchange(b->answer, strlen(b->answer), &c, &body, &len);
	const char *said = capture_end(err);

	ck_assert_msg(rc == CTL_EXIT_UNREACHABLE, "\"%s\": %d", b->answer, rc);
	ck_assert_ptr_null(body);
	ck_assert_msg(strstr(said, b->message) != NULL, "\"%s\": said %s", b->answer, said);
	ck_assert_msg(strstr(said, "test.sock") != NULL, "the socket is not named: %s", said);
}
END_TEST

/* One line longer than the client's buffer, and a head of many lines. */
START_TEST(test_oversized_head)
{
	static const struct {
		int line_len;
		const char *message;
	} shapes[] = {{20000, "a header or chunk line is too long"},
	    {1000, "the response head is too large"}};
	char *answer = malloc(128 * 1024);
	struct http_conn c;
	size_t len, i;
	pid_t pid;
	FILE *err;

	ck_assert_ptr_nonnull(answer);
	for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		len = (size_t)sprintf(answer, "HTTP/1.1 200 OK\r\n");
		while (len < 90000)
			len += (size_t)sprintf(answer + len, "X-Filler: %0*d\r\n",
			    shapes[i].line_len, 0);
		strcpy(answer + len, "\r\n");
		pid = serve_big(&c, answer, 0, 0);
		err = capture_begin();
		ck_assert_int_eq(http_read_head(&c), CTL_EXIT_UNREACHABLE);
		ck_assert_msg(strstr(capture_end(err), shapes[i].message) != NULL, "%s", captured);
		http_close(&c);
		waitpid(pid, NULL, 0);
	}
	free(answer);
}
END_TEST

START_TEST(test_chunked_body_larger_than_16_mib)
{
	struct http_conn c;
	char *body = NULL;
	size_t len;
	pid_t pid;
	FILE *err;

	pid = serve_big(&c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "1000001\r\n", HTTP_MAX_BODY + 1, 'x');
	ck_assert_int_eq(http_read_head(&c), CTL_EXIT_OK);
	err = capture_begin();
	ck_assert_int_eq(http_read_body(&c, &body, &len), CTL_EXIT_UNREACHABLE);
	ck_assert_ptr_null(body);
	ck_assert_ptr_nonnull(strstr(capture_end(err), "larger than 16 MiB"));
	http_close(&c);
	waitpid(pid, NULL, 0);
}
END_TEST

START_TEST(test_no_answer_in_time)
{
	struct http_conn c;
	int peer;
	FILE *err;

	serve(&c, NULL, 0, &peer);
	http_set_timeout(&c, 200);
	err = capture_begin();
	ck_assert_int_eq(http_read_head(&c), CTL_EXIT_UNREACHABLE);
	ck_assert_ptr_nonnull(strstr(capture_end(err), "no answer from the daemon on test.sock"));
	close(peer);
	http_close(&c);
}
END_TEST

static char *
request_seen(int peer)
{
	static char seen[1024];
	ssize_t n = read(peer, seen, sizeof(seen) - 1);

	ck_assert_int_gt(n, 0);
	seen[n] = '\0';
	return seen;
}

START_TEST(test_request)
{
	struct http_conn c;
	const char *seen;
	int peer;

	serve(&c, NULL, 0, &peer);
	ck_assert_int_eq(http_send_request(&c, "POST", "/v1/migrations", "{\"a\":1}"),
	    CTL_EXIT_OK);
	seen = request_seen(peer);
	ck_assert_msg(strncmp(seen, "POST /v1/migrations HTTP/1.1\r\nHost: localhost\r\n", 47) == 0,
	    "%s", seen);
	ck_assert_ptr_nonnull(strstr(seen, "\r\nConnection: close\r\n"));
	ck_assert_ptr_nonnull(strstr(seen, "\r\nContent-Type: application/json\r\n"));
	ck_assert_ptr_nonnull(strstr(seen, "\r\nContent-Length: 7\r\n\r\n{\"a\":1}"));
	ck_assert_str_eq(seen + strlen(seen) - 7, "{\"a\":1}");
	ck_assert_int_eq(http_send_request(&c, "GET", "/v1/health", NULL), CTL_EXIT_OK);
	seen = request_seen(peer);
	ck_assert_ptr_null(strstr(seen, "Content-Type"));
	ck_assert_str_eq(seen + strlen(seen) - 21, "Content-Length: 0\r\n\r\n");
	close(peer);
	http_close(&c);
}
END_TEST

/* A daemon may refuse before reading the whole request and close: its
 * answer, not the failed send, is what the user sees. */
START_TEST(test_answer_before_request_is_sent)
{
	static const char answer[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\n{}";
	struct http_conn c;
	size_t len;
	char *body;

	serve(&c, answer, strlen(answer), NULL);
	ck_assert_int_eq(http_send_request(&c, "POST", "/v1/migrations", "{}"), CTL_EXIT_OK);
	ck_assert_int_eq(http_read_head(&c), CTL_EXIT_OK);
	ck_assert_int_eq(c.status, 400);
	ck_assert_int_eq(http_read_body(&c, &body, &len), CTL_EXIT_OK);
	ck_assert_str_eq(body, "{}");
	free(body);
	http_close(&c);
}
END_TEST

START_TEST(test_connect_failure)
{
	struct http_conn c;
	FILE *err = capture_begin();

	ck_assert_int_eq(http_connect(&c, "/nonexistent/control.sock", 1000),
	    CTL_EXIT_UNREACHABLE);
	ck_assert_ptr_nonnull(strstr(capture_end(err), "(is vfio-migd running?)"));
	http_close(&c);
	ck_assert_int_eq(c.fd, -1);
}
END_TEST

#define NELEMS(a) ((int)(sizeof(a) / sizeof((a)[0])))

int main(void);

int
main(void)
{
	Suite *s = suite_create("cli_http");
	TCase *good = tcase_create("answers");
	TCase *bad = tcase_create("refused");
	TCase *request = tcase_create("request");

	signal(SIGPIPE, SIG_IGN);
	tcase_add_test(good, test_content_length);
	tcase_add_test(good, test_content_length_ends_the_body);
	tcase_add_test(good, test_chunked);
	tcase_add_test(good, test_interim_answer_skipped);
	tcase_add_test(good, test_body_until_eof);
	tcase_add_test(good, test_no_content);
	tcase_add_test(good, test_chunked_event_stream);
	tcase_add_loop_test(bad, test_bad_answer, 0, NELEMS(bad_answers));
	tcase_add_test(bad, test_oversized_head);
	tcase_add_test(bad, test_chunked_body_larger_than_16_mib);
	tcase_add_test(bad, test_no_answer_in_time);
	tcase_add_test(request, test_request);
	tcase_add_test(request, test_answer_before_request_is_sent);
	tcase_add_test(request, test_connect_failure);
	suite_add_tcase(s, good);
	suite_add_tcase(s, bad);
	suite_add_tcase(s, request);
	return tu_run_suite(s);
}
