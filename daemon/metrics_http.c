/*
 * metrics_http.c: the read-only metrics listener ([daemon] metrics_listen).
 *
 * Owns its TCP listener, its connections and a small parser of HTTP/1.1
 * request heads: GET or HEAD /metrics is answered with metrics_render()'s
 * text, every other path with 404, every other method with 405, and every
 * answer is plain text. It must never reach the control API or change
 * anything: Prometheus and whoever else can connect to this port only read
 * the figures. Each request head is bounded (METRICS_HTTP_MAX_REQUEST) and
 * must arrive within METRICS_HTTP_TIMEOUT_S; so many connections at once
 * and no more.
 */
#include "metrics_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "xmalloc.h"

/* After the last answer of a connection: how long its unread input is
 * drained so that closing does not reset the answer away. */
#define METRICS_HTTP_LINGER_S 2
/* Answers queued for a client that sends requests without reading them:
 * past this, its requests wait. */
#define METRICS_HTTP_MAX_OUTPUT (256u << 10)

struct metrics_http_conn {
	struct bufferevent *bev;
	struct event *deadline; /* the request, or the lingering, ends by then */
	int closing;		/* the last answer is queued: flush, then linger */
	int lingering;		/* answered and shut down for writing */
	struct metrics_http_conn *prev, *next;
};

static struct event_base *base;
static struct evconnlistener *listener;
static char *configured; /* metrics_listen as the configuration says it */
static char *bound;	 /* where the listener is bound */
static struct metrics_http_conn *conns;
static unsigned nconns;
static int refusing; /* at the connection limit, and said so */

/* --- the request head parser: pure, fuzzed (fuzz/fuzz_metrics_http.c) --- */

static int
http_is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static size_t
http_token_length(const char *p, const char *end)
{
	const char *s = p;

	while (s < end && http_is_tchar(*s))
		s++;
	return (size_t)(s - p);
}

/* The first byte after the blank line that ends the head, or NULL. */
static const char *
http_head_end(const char *buf, size_t n)
{
	const char *p = buf, *end = buf + n, *eol;

	while ((eol = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (eol == p || (eol == p + 1 && p[0] == '\r'))
			return eol + 1;
		p = eol + 1;
	}
	return NULL;
}

/* [p, end) without the '\r' of a CRLF. */
static const char *
http_trim_cr(const char *p, const char *end)
{
	return end > p && end[-1] == '\r' ? end - 1 : end;
}

/* Only its path counts: a query is ignored, an absolute form's scheme and
 * authority too. */
static int
http_is_metrics_path(const char *target, size_t len)
{
	const char *p = target, *end = target + len, *q;

	if (len > 7 && (strncasecmp(p, "http://", 7) == 0 || strncasecmp(p, "https://", 8) == 0)) {
		p += p[4] == ':' ? 7 : 8;
		if ((p = memchr(p, '/', (size_t)(end - p))) == NULL)
			return 0;
	}
	if ((q = memchr(p, '?', (size_t)(end - p))) != NULL)
		end = q;
	return (size_t)(end - p) == 8 && memcmp(p, "/metrics", 8) == 0;
}

/* "METHOD SP TARGET SP HTTP/1.x": the status it earns, and out->head and
 * out->keep_alive (the version's default). */
static int
http_request_line(const char *p, const char *end, struct metrics_http_request *out)
{
	size_t mlen = http_token_length(p, end), tlen;
	const char *method = p, *target, *version;

	if (mlen == 0 || p + mlen >= end || p[mlen] != ' ')
		return 400;
	target = p + mlen + 1;
	for (tlen = 0; target + tlen < end && target[tlen] > ' ' && target[tlen] < 0x7f; tlen++)
		;
	if (tlen == 0 || target + tlen >= end || target[tlen] != ' ')
		return 400;
	version = target + tlen + 1;
	if (end - version != 8 || memcmp(version, "HTTP/", 5) != 0 || version[6] != '.' ||
	    version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9')
		return 400;
	if (version[5] != '1' || (version[7] != '0' && version[7] != '1'))
		return 505;
	out->keep_alive = version[7] == '1';
	out->head = mlen == 4 && memcmp(method, "HEAD", 4) == 0;
	if (!out->head && !(mlen == 3 && memcmp(method, "GET", 3) == 0))
		return 405;
	return http_is_metrics_path(target, tlen) ? 200 : 404;
}

/* Whether the comma-separated list [p, end) holds token (any case). */
static int
http_list_has(const char *p, const char *end, const char *token)
{
	size_t n = strlen(token), len;

	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		len = http_token_length(p, end);
		if (len == n && strncasecmp(p, token, n) == 0)
			return 1;
		p += len;
		while (p < end && *p != ',')
			p++;
	}
	return 0;
}

/* Content-Length's value: digits (and trailing blanks); *body when not 0. */
static int
http_content_length(const char *v, const char *end, int *body)
{
	const char *p;

	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (v == end)
		return -1;
	for (p = v; p < end; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		*body |= *p != '0';
	}
	return 0;
}

/* One "Name: value" line: 0, or -1 when it is not one. Sets *close,
 * *keep and *body from Connection, Content-Length, Transfer-Encoding. */
static int
http_header(const char *p, const char *end, int *close, int *keep, int *body)
{
	size_t nlen = http_token_length(p, end);
	const char *v;

	if (nlen == 0 || p + nlen >= end || p[nlen] != ':')
		return -1;
	for (v = p + nlen + 1; v < end && (*v == ' ' || *v == '\t'); v++)
		;
	if (nlen == 10 && strncasecmp(p, "connection", 10) == 0) {
		*close |= http_list_has(v, end, "close");
		*keep |= http_list_has(v, end, "keep-alive");
	} else if (nlen == 14 && strncasecmp(p, "content-length", 14) == 0) {
		return http_content_length(v, end, body);
	} else if (nlen == 17 && strncasecmp(p, "transfer-encoding", 17) == 0) {
		*body = 1;
	}
	return 0;
}

/* The header lines between the request line and the blank line. */
static int
http_headers(const char *p, const char *head_end, struct metrics_http_request *out)
{
	const char *eol;
	int close = 0, keep = 0, body = 0;

	while ((eol = memchr(p, '\n', (size_t)(head_end - p))) != NULL) {
		if (http_trim_cr(p, eol) == p)
			break;
		if (http_header(p, http_trim_cr(p, eol), &close, &keep, &body) != 0)
			return -1;
		p = eol + 1;
	}
	out->keep_alive = !body && !close && (out->keep_alive || keep);
	return 0;
}

int
metrics_http_parse(const char *buf, size_t len, struct metrics_http_request *out)
{
	size_t n = len < METRICS_HTTP_MAX_REQUEST ? len : METRICS_HTTP_MAX_REQUEST;
	const char *head_end = http_head_end(buf, n), *eol;

	memset(out, 0, sizeof(*out));
	if (head_end == NULL) {
		if (len < METRICS_HTTP_MAX_REQUEST)
			return METRICS_HTTP_INCOMPLETE;
		out->status = memchr(buf, '\n', n) == NULL ? 414 : 431;
		out->length = n;
		return METRICS_HTTP_PARSED;
	}
	out->length = (size_t)(head_end - buf);
	eol = memchr(buf, '\n', out->length);
	if (memchr(buf, '\0', out->length) != NULL)
		out->status = 400;
	else
		out->status = http_request_line(buf, http_trim_cr(buf, eol), out);
	if (out->status != 400 && http_headers(eol + 1, head_end, out) != 0)
		out->status = 400;
	if (out->status != 200)
		out->keep_alive = 0;
	return METRICS_HTTP_PARSED;
}

const char *
metrics_http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 505: return "HTTP Version Not Supported";
	default: return "Internal Server Error";
	}
}

/* --- connections --- */

static void
conn_free(struct metrics_http_conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	event_free(c->deadline);
	bufferevent_free(c->bev);
	free(c);
	nconns--;
	refusing = 0;
}

static void
conn_set_deadline(struct metrics_http_conn *c, int seconds)
{
	struct timeval tv = {seconds, 0};

	evtimer_add(c->deadline, &tv);
}

/* What an error answer says, beside its status line. */
static const char *
conn_error_text(int status)
{
	switch (status) {
	case 404: return "this listener serves GET /metrics only";
	case 405: return "this listener serves GET and HEAD only";
	case 408: return "the request did not arrive in time";
	case 414: return "the request line is too long";
	case 431: return "the request head is too large";
	case 505: return "HTTP/1.0 and HTTP/1.1 only";
	default: return "not an HTTP/1.1 request";
	}
}

static void
conn_answer(struct metrics_http_conn *c, const struct metrics_http_request *req)
{
	struct evbuffer *out = bufferevent_get_output(c->bev), *body = evbuffer_new();

	if (req->status == 200)
		metrics_render(body);
	else
		evbuffer_add_printf(body, "%d %s: %s\n", req->status,
		    metrics_http_reason(req->status), conn_error_text(req->status));
	evbuffer_add_printf(out,
	    "HTTP/1.1 %d %s\r\nContent-Type: text/plain; %scharset=utf-8\r\n"
	    "Content-Length: %zu\r\n%sConnection: %s\r\n\r\n",
	    req->status, metrics_http_reason(req->status),
	    req->status == 200 ? "version=0.0.4; " : "", evbuffer_get_length(body),
	    req->status == 405 ? "Allow: GET, HEAD\r\n" : "", req->keep_alive ? "keep-alive" : "close");
	if (!req->head)
		evbuffer_add_buffer(out, body);
	evbuffer_free(body);
}

/* The last answer is queued: once it is out, shut down for writing and
 * read what the client still sends until it closes too (a close with
 * unread input would reset the connection under the answer). */
static void
conn_close_after_answer(struct metrics_http_conn *c)
{
	c->closing = 1;
	bufferevent_disable(c->bev, EV_READ);
	conn_set_deadline(c, METRICS_HTTP_TIMEOUT_S);
}

static void
conn_linger(struct metrics_http_conn *c)
{
	c->lingering = 1;
	(void)shutdown(bufferevent_getfd(c->bev), SHUT_WR);
	evbuffer_drain(bufferevent_get_input(c->bev), evbuffer_get_length(bufferevent_get_input(c->bev)));
	bufferevent_enable(c->bev, EV_READ);
	conn_set_deadline(c, METRICS_HTTP_LINGER_S);
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct metrics_http_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct metrics_http_request req;
	size_t len;

	if (c->lingering) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	while (!c->closing && (len = evbuffer_get_length(in)) > 0) {
		if (len > METRICS_HTTP_MAX_REQUEST)
			len = METRICS_HTTP_MAX_REQUEST;
		if (metrics_http_parse((const char *)evbuffer_pullup(in, (ev_ssize_t)len), len, &req) ==
		    METRICS_HTTP_INCOMPLETE)
			return;
		evbuffer_drain(in, req.length);
		conn_answer(c, &req);
		if (!req.keep_alive)
			conn_close_after_answer(c);
		else
			conn_set_deadline(c, METRICS_HTTP_TIMEOUT_S);
		if (evbuffer_get_length(bufferevent_get_output(bev)) > METRICS_HTTP_MAX_OUTPUT) {
			bufferevent_disable(bev, EV_READ);
			return;
		}
	}
}

/* The output is out: the next request, or the end of the connection. */
static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct metrics_http_conn *c = arg;

	if (c->closing && !c->lingering) {
		conn_linger(c);
	} else if (!c->closing) {
		bufferevent_enable(bev, EV_READ);
		conn_read_cb(bev, c);
	}
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct metrics_http_conn *c = arg;

	/* A client that shut down its side after its request still gets the
	 * answer. */
	if ((what & BEV_EVENT_EOF) && c->closing && !c->lingering &&
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	conn_free(c);
}

/* The request did not arrive in time (408 if it had begun), or the
 * lingering is over, or the client does not take its answer. */
static void
conn_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct metrics_http_conn *c = arg;
	struct metrics_http_request req = {408, 0, 0, 0};

	if (c->closing || evbuffer_get_length(bufferevent_get_input(c->bev)) == 0) {
		conn_free(c);
		return;
	}
	conn_answer(c, &req);
	conn_close_after_answer(c);
}

static void
metrics_http_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct metrics_http_conn *c;

	if (nconns >= METRICS_HTTP_MAX_CONNECTIONS) {
		if (!refusing)
			log_warnx("metrics listener %s: %d connections open, closing new ones",
			    bound, METRICS_HTTP_MAX_CONNECTIONS);
		refusing = 1;
		evutil_closesocket(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->deadline = evtimer_new(base, conn_deadline_cb, c);
	if (c->bev == NULL || c->deadline == NULL) {
		log_warnx("metrics listener %s: cannot set up a connection", bound);
		if (c->bev != NULL)
			bufferevent_free(c->bev);
		else
			evutil_closesocket(fd);
		if (c->deadline != NULL)
			event_free(c->deadline);
		free(c);
		return;
	}
	c->next = conns;
	if (conns != NULL)
		conns->prev = c;
	conns = c;
	nconns++;
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, 2 * METRICS_HTTP_MAX_REQUEST);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	conn_set_deadline(c, METRICS_HTTP_TIMEOUT_S);
}

/* --- the listener --- */

static int
metrics_http_listen(const char *spec, struct evconnlistener **out, char **where)
{
	int fd = mig_listen_tcp("metrics_listen", spec, 16, where);

	if (fd < 0)
		return -1;
	*out = evconnlistener_new(base, metrics_http_accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (*out == NULL) {
		log_warnx("metrics_listen %s: cannot watch the socket", spec);
		evutil_closesocket(fd);
		free(*where);
		return -1;
	}
	log_info("metrics on http://%s/metrics (plain HTTP, GET /metrics only)", *where);
	return 0;
}

static void
metrics_http_close_listener(void)
{
	if (listener != NULL) {
		evconnlistener_free(listener);
		log_info("metrics listener %s closed", bound);
	}
	listener = NULL;
	free(bound);
	bound = NULL;
	free(configured);
	configured = NULL;
}

int
metrics_http_start(struct event_base *b, const char *spec)
{
	base = b;
	if (spec == NULL)
		return 0;
	if (metrics_http_listen(spec, &listener, &bound) != 0)
		return -1;
	configured = xstrdup(spec);
	return 0;
}

int
metrics_http_reconfigure(const char *spec)
{
	struct evconnlistener *l;
	char *where;

	if (spec == NULL ? configured == NULL : configured != NULL && strcmp(spec, configured) == 0)
		return 0;
	if (spec == NULL) {
		metrics_http_close_listener();
		return 0;
	}
	if (metrics_http_listen(spec, &l, &where) != 0) {
		log_warnx("reload: metrics_listen %s cannot be bound; %s", spec,
		    bound != NULL ? "the listener stays where it was" : "no metrics listener");
		return -1;
	}
	metrics_http_close_listener();
	listener = l;
	bound = where;
	configured = xstrdup(spec);
	return 0;
}

const char *
metrics_http_address(void)
{
	return bound;
}

void
metrics_http_stop(void)
{
	while (conns != NULL)
		conn_free(conns);
	metrics_http_close_listener();
}
