/*
 * httpd.c: the connections of httpd.h, on bufferevents.
 *
 * Owns each connection's life: reading a head (httpd_parse.c judges it)
 * and its body, handing the request to the handler, writing the answer,
 * keeping the connection for the next request or closing it. A connection
 * does one request at a time; pipelined requests wait in its input, and
 * are not read on while more than HTTPD_MAX_PENDING_OUTPUT of answers wait
 * for the client. A refused request ends its connection: the answer is
 * written, the write side shut, and what the client still sends is read
 * and dropped for a moment (a lingering close), so that a client still
 * uploading a body sees the answer rather than a reset. Never interprets
 * a path: that is the handler's.
 */
#include "httpd.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>

#include "errors.h"
#include "log.h"
#include "xmalloc.h"

/* Answers waiting for the client before pipelined requests wait too. */
#define HTTPD_MAX_PENDING_OUTPUT (256u << 10)
/* How long a refused client's bytes are read and dropped after the answer. */
#define HTTPD_LINGER_S 2

enum httpd_conn_state {
	HTTPD_CONN_HEAD,    /* waiting for a request head */
	HTTPD_CONN_BODY,    /* waiting for its body */
	HTTPD_CONN_HANDLER, /* the handler has the request */
	HTTPD_CONN_STREAM,  /* a streamed response runs */
	HTTPD_CONN_CLOSING, /* the last answer leaves, then the write side is shut */
	HTTPD_CONN_LINGER,  /* write side shut; input dropped until EOF or the timer */
};

struct httpd_request {
	struct httpd_conn *conn;
	struct httpd_head head;
	struct evbuffer *body;
	struct evbuffer *headers; /* added by the handler, "Name: value\r\n" each */
};

struct httpd_conn {
	struct httpd *server;
	struct bufferevent *bev;
	struct event *timer;
	enum httpd_conn_state state;
	struct httpd_request req;
	int keep_alive; /* the current request's answer may be followed by another */
	int chunked;	/* the stream is framed in chunks */
	int peer_eof;	/* the client shut its side: nothing more to read */
	void (*stream_closed)(void *arg);
	void *stream_arg;
	LIST_ENTRY(httpd_conn) entry;
};

struct httpd {
	struct event_base *base;
	struct evconnlistener *listener;
	httpd_handler handler;
	void *arg;
	LIST_HEAD(, httpd_conn) conns;
	unsigned nconns;
	int full_logged; /* the limit was reached and said so */
	int timeout_s;	 /* the request deadline */
};

static void conn_process(struct httpd_conn *c);

static const char *
status_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	case 507: return "Insufficient Storage";
	default: return "Internal Server Error";
	}
}

static void
conn_arm_timer(struct httpd_conn *c, int seconds)
{
	struct timeval tv = {seconds, 0};

	evtimer_add(c->timer, &tv);
}

static void
conn_free(struct httpd_conn *c)
{
	void (*closed)(void *) = c->stream_closed;

	c->stream_closed = NULL;
	if (closed != NULL)
		closed(c->stream_arg);
	LIST_REMOVE(c, entry);
	c->server->nconns--;
	event_free(c->timer);
	bufferevent_free(c->bev);
	evbuffer_free(c->req.body);
	evbuffer_free(c->req.headers);
	free(c);
}

/* Ready for the next request on this connection: it has the request
 * deadline from now. */
static void
conn_next_request(struct httpd_conn *c)
{
	evbuffer_drain(c->req.body, evbuffer_get_length(c->req.body));
	evbuffer_drain(c->req.headers, evbuffer_get_length(c->req.headers));
	memset(&c->req.head, 0, sizeof(c->req.head));
	c->state = HTTPD_CONN_HEAD;
	conn_arm_timer(c, c->server->timeout_s);
}

static void
conn_write_head(struct httpd_conn *c, int status, const char *content_type, const char *framing)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%s", status,
	    status_reason(status), content_type, framing);
	evbuffer_add_buffer(out, c->req.headers);
	if (!c->keep_alive)
		evbuffer_add_printf(out, "Connection: close\r\n");
	else if (c->req.head.minor == 0)
		evbuffer_add_printf(out, "Connection: keep-alive\r\n");
	evbuffer_add(out, "\r\n", 2);
}

/* The answer is written: the next request, or the close. */
static void
conn_response_done(struct httpd_conn *c)
{
	if (c->keep_alive)
		conn_next_request(c);
	else
		c->state = HTTPD_CONN_CLOSING;
}

static json_t *
error_object(int code, const char *message)
{
	json_t *msg = json_string(message);
	char clean[512];
	size_t i;

	/* Only a valid UTF-8 string goes into JSON: a path's stray bytes become '?'. */
	if (msg == NULL) {
		snprintf(clean, sizeof(clean), "%s", message);
		for (i = 0; clean[i] != '\0'; i++)
			if ((unsigned char)clean[i] >= 0x80)
				clean[i] = '?';
		msg = json_string(clean);
	}
	return json_pack("{s:{s:s, s:o}}", "error", "code", mig_err_name(code), "message", msg);
}

static void
error_body(struct evbuffer *buf, int code, const char *message)
{
	json_t *obj = error_object(code, message);
	char *s = json_dumps(obj, JSON_COMPACT);

	evbuffer_add_printf(buf, "%s\n", s != NULL ? s : "{}");
	free(s);
	json_decref(obj);
}

/* An answer of the server's own (refusal, timeout): the connection ends. */
static void
conn_refuse(struct httpd_conn *c, int status, int code, const char *message)
{
	struct evbuffer *body = evbuffer_new();
	char framing[64];

	log_debug("control: refused a request: %d %s", status, message);
	error_body(body, code, message);
	evbuffer_drain(c->req.headers, evbuffer_get_length(c->req.headers));
	c->keep_alive = 0;
	snprintf(framing, sizeof(framing), "Content-Length: %zu\r\n", evbuffer_get_length(body));
	conn_write_head(c, status, "application/json", framing);
	evbuffer_add_buffer(bufferevent_get_output(c->bev), body);
	evbuffer_free(body);
	evtimer_del(c->timer);
	c->state = HTTPD_CONN_CLOSING;
}

/* 1 when a whole head was taken (or refused), 0 to wait for more. */
static int
conn_read_head(struct httpd_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t len = evbuffer_get_length(in);
	struct httpd_refusal r;
	const char *buf;

	if (len == 0)
		return 0;
	if (len > HTTPD_MAX_HEAD)
		len = HTTPD_MAX_HEAD;
	buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
	switch (httpd_parse_head(buf, len, &c->req.head, &r)) {
	case HTTPD_PARSE_MORE:
		return 0;
	case HTTPD_PARSE_REFUSED:
		conn_refuse(c, r.status, r.code, r.message);
		return 1;
	case HTTPD_PARSE_DONE:
		break;
	}
	evbuffer_drain(in, c->req.head.length);
	c->keep_alive = c->req.head.keep_alive;
	c->state = HTTPD_CONN_BODY;
	/* A client that waits for a go-ahead before its body (curl, above 1 KiB). */
	if (c->req.head.expect_continue && c->req.head.minor >= 1 &&
	    evbuffer_get_length(in) < c->req.head.content_length)
		evbuffer_add_printf(bufferevent_get_output(c->bev),
		    "HTTP/1.1 100 Continue\r\n\r\n");
	return 1;
}

/* 1 when the body is in, 0 to wait for more. */
static int
conn_read_body(struct httpd_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	if (evbuffer_get_length(in) < c->req.head.content_length)
		return 0;
	evbuffer_remove_buffer(in, c->req.body, (size_t)c->req.head.content_length);
	return 1;
}

static void
conn_dispatch(struct httpd_conn *c)
{
	c->state = HTTPD_CONN_HANDLER;
	evtimer_del(c->timer);
	c->server->handler(&c->req, c->server->arg);
	if (c->state == HTTPD_CONN_HANDLER) {
		log_warnx("control: %s %s was not answered",
		    httpd_parse_method_name(c->req.head.method), c->req.head.path);
		httpd_reply_error(&c->req, 500, MIG_E_INTERNAL, "the request was not answered");
	}
}

static void
conn_process(struct httpd_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	for (;;) {
		switch (c->state) {
		case HTTPD_CONN_HEAD:
			if (evbuffer_get_length(bufferevent_get_output(c->bev)) >
			    HTTPD_MAX_PENDING_OUTPUT)
				return; /* the write callback comes back here */
			if (!conn_read_head(c))
				return;
			break;
		case HTTPD_CONN_BODY:
			if (!conn_read_body(c))
				return;
			conn_dispatch(c);
			break;
		case HTTPD_CONN_HANDLER:
			return;
		case HTTPD_CONN_STREAM:
		case HTTPD_CONN_CLOSING:
		case HTTPD_CONN_LINGER:
			evbuffer_drain(in, evbuffer_get_length(in));
			return;
		}
	}
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_process(arg);
}

/* The output is empty. */
static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct httpd_conn *c = arg;

	if (c->state == HTTPD_CONN_HEAD) {
		conn_process(c);
		return;
	}
	if (c->state != HTTPD_CONN_CLOSING)
		return;
	if (c->peer_eof) {
		conn_free(c);
		return;
	}
	shutdown(bufferevent_getfd(bev), SHUT_WR);
	c->state = HTTPD_CONN_LINGER;
	conn_arm_timer(c, HTTPD_LINGER_S);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct httpd_conn *c = arg;

	/* An error, a write timeout (a client that does not read), a stream's
	 * client gone, or the end of a lingering close. */
	if (!(what & BEV_EVENT_EOF) || c->state == HTTPD_CONN_STREAM ||
	    c->state == HTTPD_CONN_LINGER ||
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		conn_free(c);
		return;
	}
	/* The client shut its side and still reads: what is answered leaves. */
	c->peer_eof = 1;
	c->state = HTTPD_CONN_CLOSING;
	evtimer_del(c->timer);
}

static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct httpd_conn *c = arg;
	char msg[80];

	(void)fd;
	(void)what;
	if (c->state == HTTPD_CONN_LINGER ||
	    (c->state == HTTPD_CONN_HEAD &&
		evbuffer_get_length(bufferevent_get_input(c->bev)) == 0)) {
		conn_free(c); /* idle, or the lingering close is over */
		return;
	}
	snprintf(msg, sizeof(msg), "no whole request within %d s", c->server->timeout_s);
	conn_refuse(c, 408, MIG_E_TIMEOUT, msg);
}

static void
conn_new(struct httpd *server, evutil_socket_t fd)
{
	struct timeval write_timeout = {server->timeout_s, 0};
	struct httpd_conn *c = xcalloc(1, sizeof(*c));

	c->server = server;
	c->bev = bufferevent_socket_new(server->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->timer = evtimer_new(server->base, conn_timer_cb, c);
	if (c->bev == NULL || c->timer == NULL)
		fatalx("control: out of memory for a connection");
	c->req.conn = c;
	c->req.body = evbuffer_new();
	c->req.headers = evbuffer_new();
	LIST_INSERT_HEAD(&server->conns, c, entry);
	server->nconns++;
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	/* Input beyond one whole request waits in the socket. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, HTTPD_MAX_HEAD + HTTPD_MAX_BODY);
	bufferevent_set_timeouts(c->bev, NULL, &write_timeout);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	conn_next_request(c);
}

static void
httpd_accept_cb(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *sa,
    int socklen, void *arg)
{
	struct httpd *server = arg;

	(void)listener;
	(void)sa;
	(void)socklen;
	if (server->nconns >= HTTPD_MAX_CONNECTIONS) {
		if (!server->full_logged)
			log_warnx("control: %d connections at once: new ones are closed",
			    HTTPD_MAX_CONNECTIONS);
		server->full_logged = 1;
		evutil_closesocket(fd);
		return;
	}
	server->full_logged = 0;
	conn_new(server, fd);
}

struct httpd *
httpd_new(struct event_base *base, int fd, httpd_handler handler, void *arg)
{
	struct httpd *server = xcalloc(1, sizeof(*server));

	server->base = base;
	server->handler = handler;
	server->arg = arg;
	server->timeout_s = HTTPD_REQUEST_TIMEOUT_S;
	LIST_INIT(&server->conns);
	server->listener = evconnlistener_new(base, httpd_accept_cb, server,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (server->listener == NULL) {
		free(server);
		return NULL;
	}
	return server;
}

void
httpd_free(struct httpd *server)
{
	if (server == NULL)
		return;
	while (!LIST_EMPTY(&server->conns))
		conn_free(LIST_FIRST(&server->conns));
	evconnlistener_free(server->listener);
	free(server);
}

void
httpd_set_timeout(struct httpd *server, int seconds)
{
	server->timeout_s = seconds;
}

enum httpd_method
httpd_request_method(const struct httpd_request *req)
{
	return req->head.method;
}

const char *
httpd_request_path(const struct httpd_request *req)
{
	return req->head.path;
}

const char *
httpd_request_query(const struct httpd_request *req)
{
	return req->head.has_query ? req->head.query : NULL;
}

struct evbuffer *
httpd_request_body(struct httpd_request *req)
{
	return req->body;
}

int
httpd_request_fd(const struct httpd_request *req)
{
	return (int)bufferevent_getfd(req->conn->bev);
}

void
httpd_add_header(struct httpd_request *req, const char *name, const char *value)
{
	evbuffer_add_printf(req->headers, "%s: %s\r\n", name, value);
}

void
httpd_reply(struct httpd_request *req, int status, const char *content_type,
    struct evbuffer *body)
{
	struct httpd_conn *c = req->conn;
	size_t n = body != NULL ? evbuffer_get_length(body) : 0;
	char framing[64];

	snprintf(framing, sizeof(framing), "Content-Length: %zu\r\n", n);
	conn_write_head(c, status, content_type, framing);
	/* HEAD: the same head, no body. */
	if (body != NULL && req->head.method != HTTPD_HEAD)
		evbuffer_add_buffer(bufferevent_get_output(c->bev), body);
	else if (body != NULL)
		evbuffer_drain(body, n);
	conn_response_done(c);
}

void
httpd_reply_error(struct httpd_request *req, int status, int code, const char *message)
{
	struct evbuffer *body = evbuffer_new();

	error_body(body, code, message);
	httpd_reply(req, status, "application/json", body);
	evbuffer_free(body);
}

int
httpd_stream_start(struct httpd_request *req, const char *content_type,
    void (*closed)(void *arg), void *arg)
{
	struct httpd_conn *c = req->conn;

	/* HTTP/1.0 has no chunks: the stream is the rest of the connection. */
	c->chunked = req->head.minor >= 1;
	if (!c->chunked)
		c->keep_alive = 0;
	conn_write_head(c, 200, content_type, c->chunked ? "Transfer-Encoding: chunked\r\n" : "");
	if (req->head.method == HTTPD_HEAD) {
		conn_response_done(c);
		return -1;
	}
	c->state = HTTPD_CONN_STREAM;
	c->stream_closed = closed;
	c->stream_arg = arg;
	/* A stream may carry nothing for hours: no write timeout either. */
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	return 0;
}

void
httpd_stream_send(struct httpd_request *req, const char *data, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(req->conn->bev);

	if (len == 0)
		return; /* an empty chunk would end the stream */
	if (req->conn->chunked)
		evbuffer_add_printf(out, "%zx\r\n", len);
	evbuffer_add(out, data, len);
	if (req->conn->chunked)
		evbuffer_add(out, "\r\n", 2);
}

size_t
httpd_stream_backlog(const struct httpd_request *req)
{
	return evbuffer_get_length(bufferevent_get_output(req->conn->bev));
}

void
httpd_stream_abort(struct httpd_request *req)
{
	struct httpd_conn *c = req->conn;

	c->stream_closed = NULL;
	conn_free(c);
}
