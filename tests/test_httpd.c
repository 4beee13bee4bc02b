/*
 * test_httpd.c: the connections of the control socket's HTTP server
 * (daemon/httpd.c) over a real UNIX socket, the server's event loop on a
 * thread of its own and a test handler behind it: pipelined requests
 * answered in order on a kept connection, HEAD, HTTP/1.0, the request
 * deadline (408, or a silent close when nothing came), a handler that does
 * not answer (500), a refused upload read away before the close, and
 * streams: chunked, a client that goes away, HTTP/1.0's.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <check.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "check_main.h"
#include "httpd.h"

static struct event_base *base;
static struct httpd *server;
static pthread_t loop_thread;
static char sock_path[108];
static int stop_pipe[2];

/* The test handler: /echo tells what it got; /stream streams one chunk
 * and waits; /silent does not answer. */
static void
handler(struct httpd_request *req, void *arg)
{
	const char *path = httpd_request_path(req), *query = httpd_request_query(req);
	struct evbuffer *body;

	(void)arg;
	if (strcmp(path, "/stream") == 0) {
		if (httpd_stream_start(req, "text/plain", (void (*)(void *))free, malloc(1)) == 0)
			httpd_stream_send(req, "one\n", 4);
		return;
	}
	if (strcmp(path, "/silent") == 0)
		return;
	body = evbuffer_new();
	evbuffer_add_printf(body, "%s %s %s ", httpd_parse_method_name(httpd_request_method(req)),
	    path, query != NULL ? query : "-");
	evbuffer_add_buffer(body, httpd_request_body(req));
	httpd_reply(req, 200, "text/plain", body);
	evbuffer_free(body);
}

static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	event_base_loopbreak(base);
}

static void *
loop_main(void *arg)
{
	(void)arg;
	event_base_dispatch(base);
	return NULL;
}

static void
server_start(int timeout_s)
{
	struct sockaddr_un sun;
	int fd;

	snprintf(sock_path, sizeof(sock_path), "/tmp/test_httpd.%d.sock", (int)getpid());
	unlink(sock_path);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	base = event_base_new();
	server = httpd_new(base, fd, handler, NULL);
	ck_assert_ptr_nonnull(server);
	httpd_set_timeout(server, timeout_s);
	ck_assert_int_eq(pipe(stop_pipe), 0);
	event_base_once(base, stop_pipe[0], EV_READ, stop_cb, NULL, NULL);
	ck_assert_int_eq(pthread_create(&loop_thread, NULL, loop_main, NULL), 0);
}

static void
server_stop(void)
{
	ck_assert_int_eq(write(stop_pipe[1], "x", 1), 1);
	pthread_join(loop_thread, NULL);
	httpd_free(server);
	event_base_free(base);
	close(stop_pipe[0]);
	close(stop_pipe[1]);
	unlink(sock_path);
}

static int
client(void)
{
	struct timeval tv = {20, 0};
	struct sockaddr_un sun;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void
send_all(int fd, const char *data, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, data, len, MSG_NOSIGNAL);
		ck_assert_int_gt(n, 0);
		data += n;
		len -= (size_t)n;
	}
}

static void
send_str(int fd, const char *s)
{
	send_all(fd, s, strlen(s));
}

/* Read until buf holds n bytes; 0 at EOF first. */
static char inbuf[1 << 17];
static size_t inlen;

static int
fill_to(int fd, size_t n)
{
	ssize_t got;

	while (inlen < n) {
		got = read(fd, inbuf + inlen, sizeof(inbuf) - inlen);
		ck_assert_msg(got >= 0, "read: %s", strerror(errno));
		if (got == 0)
			return 0;
		inlen += (size_t)got;
	}
	return 1;
}

static void
consume(size_t n)
{
	memmove(inbuf, inbuf + n, inlen - n);
	inlen -= n;
}

struct response {
	int status;
	char head[2048];
	char body[4096];
};

/* One response with a Content-Length body (none when head_only). */
static void
read_response(int fd, struct response *r, int head_only)
{
	char *end, *cl;
	size_t hlen, blen = 0;

	memset(r, 0, sizeof(*r));
	for (;;) {
		inbuf[inlen] = '\0';
		if ((end = strstr(inbuf, "\r\n\r\n")) != NULL)
			break;
		ck_assert_msg(fill_to(fd, inlen + 1), "EOF in a head: %s", inbuf);
	}
	hlen = (size_t)(end - inbuf) + 4;
	ck_assert_uint_lt(hlen, sizeof(r->head));
	memcpy(r->head, inbuf, hlen);
	ck_assert_int_eq(sscanf(r->head, "HTTP/1.1 %d ", &r->status), 1);
	if ((cl = strstr(r->head, "Content-Length: ")) != NULL && !head_only)
		blen = strtoul(cl + 16, NULL, 10);
	ck_assert_uint_lt(blen, sizeof(r->body));
	ck_assert(fill_to(fd, hlen + blen));
	memcpy(r->body, inbuf + hlen, blen);
	consume(hlen + blen);
}

static int
at_eof(int fd)
{
	return inlen == 0 && !fill_to(fd, 1);
}

START_TEST(test_pipelined_in_order_on_a_kept_connection)
{
	struct response r;
	int fd;

	server_start(30);
	fd = client();
	inlen = 0;
	send_str(fd, "GET /echo?a=1 HTTP/1.1\r\nHost: x\r\n\r\n"
		     "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
		     "HEAD /echo HTTP/1.1\r\nHost: x\r\n\r\n"
		     "GET /%65cho HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	read_response(fd, &r, 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "GET /echo a=1 ");
	read_response(fd, &r, 0);
	ck_assert_str_eq(r.body, "POST /echo - hello");
	read_response(fd, &r, 1);
	ck_assert_ptr_nonnull(strstr(r.head, "Content-Length: 13\r\n")); /* "HEAD /echo - " */
	read_response(fd, &r, 0);
	ck_assert_str_eq(r.body, "GET /echo - ");
	ck_assert_ptr_nonnull(strstr(r.head, "Connection: keep-alive\r\n"));
	/* Still open: one more, which closes it. */
	send_str(fd, "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	read_response(fd, &r, 0);
	ck_assert_ptr_nonnull(strstr(r.head, "Connection: close\r\n"));
	ck_assert(at_eof(fd));
	close(fd);
	server_stop();
}
END_TEST

START_TEST(test_request_deadline)
{
	struct response r;
	int fd;

	server_start(1);
	/* Half a request: 408, a JSON error, and the close. */
	fd = client();
	inlen = 0;
	send_str(fd, "GET /echo HTTP/1.1\r\nHo");
	read_response(fd, &r, 0);
	ck_assert_int_eq(r.status, 408);
	ck_assert_str_eq(r.body,
	    "{\"error\":{\"code\":\"timeout\",\"message\":\"no whole request within 1 s\"}}\n");
	ck_assert(at_eof(fd));
	close(fd);
	/* Nothing at all: closed without a word. */
	fd = client();
	ck_assert(at_eof(fd));
	close(fd);
	server_stop();
}
END_TEST

START_TEST(test_unanswered_is_500)
{
	struct response r;
	int fd;

	server_start(30);
	fd = client();
	inlen = 0;
	send_str(fd, "GET /silent HTTP/1.1\r\nHost: x\r\n\r\n"
		     "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
	read_response(fd, &r, 0);
	ck_assert_int_eq(r.status, 500);
	ck_assert_ptr_nonnull(strstr(r.body, "\"code\":\"internal-error\""));
	read_response(fd, &r, 0);
	ck_assert_int_eq(r.status, 200);
	close(fd);
	server_stop();
}
END_TEST

/* A refused upload: the answer, then the rest of the body is read away,
 * and the client sees EOF, not a reset. */
START_TEST(test_refused_upload_reads_the_answer)
{
	static char body[70000];
	struct response r;
	int fd;

	server_start(30);
	fd = client();
	inlen = 0;
	memset(body, 'x', sizeof(body));
	send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n");
	send_all(fd, body, sizeof(body));
	read_response(fd, &r, 0);
	ck_assert_int_eq(r.status, 413);
	ck_assert_ptr_nonnull(strstr(r.head, "Content-Type: application/json\r\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"code\":\"request-too-large\""));
	ck_assert(at_eof(fd));
	close(fd);
	server_stop();
}
END_TEST

START_TEST(test_stream_chunked_until_the_client_goes)
{
	struct response r;
	int fd, i;

	server_start(30);
	fd = client();
	inlen = 0;
	send_str(fd, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
	read_response(fd, &r, 1);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.head, "Transfer-Encoding: chunked\r\n"));
	ck_assert_ptr_null(strstr(r.head, "Content-Length"));
	ck_assert(fill_to(fd, 9));
	ck_assert(memcmp(inbuf, "4\r\none\n\r\n", 9) == 0);
	close(fd);
	/* The server lets the stream go (its closed callback frees its
	 * argument: LeakSanitizer would tell) and serves on. */
	fd = client();
	inlen = 0;
	for (i = 0; i < 3; i++) {
		send_str(fd, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
		read_response(fd, &r, 0);
		ck_assert_int_eq(r.status, 200);
	}
	close(fd);
	server_stop();
}
END_TEST

/* HTTP/1.0 has no chunks: the stream is the rest of the connection, which
 * ends when the server does. */
START_TEST(test_stream_http10)
{
	struct response r;
	int fd;

	server_start(30);
	fd = client();
	inlen = 0;
	send_str(fd, "GET /stream HTTP/1.0\r\n\r\n");
	read_response(fd, &r, 1);
	ck_assert_ptr_null(strstr(r.head, "Transfer-Encoding"));
	ck_assert_ptr_nonnull(strstr(r.head, "Connection: close\r\n"));
	ck_assert(fill_to(fd, 4));
	ck_assert(memcmp(inbuf, "one\n", 4) == 0);
	server_stop(); /* httpd_free: the stream ends with the connection */
	consume(4);
	ck_assert(at_eof(fd));
	close(fd);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("httpd");
	TCase *tc = tcase_create("connections");

	tcase_add_test(tc, test_pipelined_in_order_on_a_kept_connection);
	tcase_add_test(tc, test_request_deadline);
	tcase_add_test(tc, test_unanswered_is_500);
	tcase_add_test(tc, test_refused_upload_reads_the_answer);
	tcase_add_test(tc, test_stream_chunked_until_the_client_goes);
	tcase_add_test(tc, test_stream_http10);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
