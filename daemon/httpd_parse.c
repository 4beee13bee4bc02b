/*
 * httpd_parse.c: the request head parser of httpd_parse.h.
 *
 * Owns the grammar (RFC 9112 §2-§3, §6 and RFC 9110's tokens) and the
 * limits: which requests are refused, with which status and error code.
 * It reads only the bytes it is handed and keeps nothing between calls;
 * what a header means to a connection (keep-alive, a body to read) is
 * decided here, what the connection then does is httpd.c's.
 */
#include "httpd_parse.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "errors.h"

/* Empty lines before a request line that are skipped (RFC 9112 §2.2: a
 * client may send one after a POST body). */
#define HTTPD_LEADING_EMPTY_LINES 2

static const struct {
	enum httpd_method method;
	const char *name;
} httpd_methods[] = {
	{HTTPD_GET, "GET"},
	{HTTPD_POST, "POST"},
	{HTTPD_HEAD, "HEAD"},
	{HTTPD_PUT, "PUT"},
	{HTTPD_DELETE, "DELETE"},
	{HTTPD_OPTIONS, "OPTIONS"},
	{HTTPD_TRACE, "TRACE"},
	{HTTPD_CONNECT, "CONNECT"},
	{HTTPD_PATCH, "PATCH"},
};

struct head_parser {
	const char *buf;
	size_t len;
	size_t pos;
	struct httpd_head *h;
	struct httpd_refusal *r;
	int seen_length, seen_host, conn_close, conn_keep;
};

static enum httpd_parse_result refuse(struct head_parser *p, int status, int code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum httpd_parse_result
refuse(struct head_parser *p, int status, int code, const char *fmt, ...)
{
	va_list ap;

	p->r->status = status;
	p->r->code = code;
	va_start(ap, fmt);
	vsnprintf(p->r->message, sizeof(p->r->message), fmt, ap);
	va_end(ap);
	return HTTPD_PARSE_REFUSED;
}

static enum httpd_parse_result
malformed_line(struct head_parser *p)
{
	return refuse(p, 400, MIG_E_BAD_REQUEST,
	    "malformed request line: it must be METHOD /path HTTP/1.1");
}

/* A character of a token (RFC 9110 §5.6.2): a method or a header name. */
static int
is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int
hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode in[0..n) into out: -1 for a bad escape, an escaped NUL or
 * no room. */
static int
percent_decode(const char *in, size_t n, char *out, size_t outsize, int plus_is_space)
{
	size_t i, o = 0;
	int c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)in[i];
		if (c == '%') {
			if (i + 2 >= n || hex_value((unsigned char)in[i + 1]) < 0 ||
			    hex_value((unsigned char)in[i + 2]) < 0)
				return -1;
			c = hex_value((unsigned char)in[i + 1]) * 16 +
			    hex_value((unsigned char)in[i + 2]);
			i += 2;
			if (c == 0)
				return -1;
		} else if (c == '+' && plus_is_space)
			c = ' ';
		if (o + 1 >= outsize)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

const char *
httpd_parse_method_name(enum httpd_method method)
{
	size_t i;

	for (i = 0; i < sizeof(httpd_methods) / sizeof(httpd_methods[0]); i++)
		if (httpd_methods[i].method == method)
			return httpd_methods[i].name;
	return "?";
}

/* A line end at p->pos: CR LF or a bare LF. */
static enum httpd_parse_result
skip_line_end(struct head_parser *p)
{
	if (p->pos == p->len)
		return HTTPD_PARSE_MORE;
	if (p->buf[p->pos] == '\n') {
		p->pos++;
		return HTTPD_PARSE_DONE;
	}
	if (p->buf[p->pos] != '\r')
		return malformed_line(p);
	if (p->pos + 1 == p->len)
		return HTTPD_PARSE_MORE;
	if (p->buf[p->pos + 1] != '\n')
		return malformed_line(p);
	p->pos += 2;
	return HTTPD_PARSE_DONE;
}

static enum httpd_parse_result
skip_empty_lines(struct head_parser *p)
{
	enum httpd_parse_result rc;
	int n;

	for (n = 0; n < HTTPD_LEADING_EMPTY_LINES && p->pos < p->len; n++) {
		if (p->buf[p->pos] != '\r' && p->buf[p->pos] != '\n')
			return HTTPD_PARSE_DONE;
		if ((rc = skip_line_end(p)) != HTTPD_PARSE_DONE)
			return rc;
	}
	return p->pos < p->len ? HTTPD_PARSE_DONE : HTTPD_PARSE_MORE;
}

static enum httpd_parse_result
parse_method(struct head_parser *p)
{
	const char *name = p->buf + p->pos;
	size_t i, n = 0;

	while (p->pos + n < p->len && is_tchar((unsigned char)name[n]) && n <= HTTPD_MAX_METHOD)
		n++;
	if (n > HTTPD_MAX_METHOD)
		return refuse(p, 501, MIG_E_NOT_IMPLEMENTED,
		    "unknown method %.16s...: the control API takes GET, HEAD and POST", name);
	if (p->pos + n == p->len)
		return HTTPD_PARSE_MORE;
	if (n == 0 || name[n] != ' ')
		return malformed_line(p);
	p->pos += n + 1;
	for (i = 0; i < sizeof(httpd_methods) / sizeof(httpd_methods[0]); i++)
		if (strlen(httpd_methods[i].name) == n &&
		    memcmp(httpd_methods[i].name, name, n) == 0) {
			p->h->method = httpd_methods[i].method;
			return HTTPD_PARSE_DONE;
		}
	return refuse(p, 501, MIG_E_NOT_IMPLEMENTED,
	    "unknown method %.*s: the control API takes GET, HEAD and POST", (int)n, name);
}

/* The request-target up to its space: visible ASCII only. */
static enum httpd_parse_result
scan_target(struct head_parser *p, size_t *start, size_t *n)
{
	size_t i = p->pos;
	unsigned char c;

	while (i < p->len && (c = (unsigned char)p->buf[i]) > 0x20 && c < 0x7f) {
		if (i - p->pos == HTTPD_MAX_TARGET)
			return refuse(p, 414, MIG_E_REQUEST_TOO_LARGE,
			    "the request target is longer than %d bytes", HTTPD_MAX_TARGET);
		i++;
	}
	if (i == p->len)
		return HTTPD_PARSE_MORE;
	if (i == p->pos || p->buf[i] != ' ')
		return malformed_line(p);
	*start = p->pos;
	*n = i - p->pos;
	p->pos = i + 1;
	return HTTPD_PARSE_DONE;
}

static enum httpd_parse_result
parse_version(struct head_parser *p)
{
	static const char pattern[] = "HTTP/#.#";
	const char *v = p->buf + p->pos;
	size_t i;

	for (i = 0; i < sizeof(pattern) - 1; i++) {
		if (p->pos + i == p->len)
			return HTTPD_PARSE_MORE;
		if (pattern[i] == '#' ? (v[i] < '0' || v[i] > '9') : v[i] != pattern[i])
			return malformed_line(p);
	}
	if (v[5] != '1')
		return refuse(p, 505, MIG_E_NOT_IMPLEMENTED,
		    "HTTP/%c.%c is not supported: the control API speaks HTTP/1.1 and 1.0", v[5],
		    v[7]);
	p->h->minor = v[7] == '0' ? 0 : 1;
	p->pos += sizeof(pattern) - 1;
	return skip_line_end(p);
}

/* Origin form (/path?query), or absolute form (http://host/path?query). */
static enum httpd_parse_result
parse_target(struct head_parser *p, const char *t, size_t n)
{
	const char *end = t + n, *q;

	if (n >= 7 && (strncasecmp(t, "http://", 7) == 0 || strncasecmp(t, "https:/", 7) == 0)) {
		t = (const char *)memchr(t, '/', n) + 2;
		if (t > end || (t = memchr(t, '/', (size_t)(end - t))) == NULL)
			t = "/", end = t + 1;
	}
	if (*t != '/')
		return refuse(p, 400, MIG_E_BAD_REQUEST,
		    "the request target must be a path (/v1/...)");
	if (memchr(t, '#', (size_t)(end - t)) != NULL)
		return refuse(p, 400, MIG_E_BAD_REQUEST, "a request target has no fragment (#)");
	if ((q = memchr(t, '?', (size_t)(end - t))) != NULL) {
		memcpy(p->h->query, q + 1, (size_t)(end - q - 1));
		p->h->query[end - q - 1] = '\0';
		p->h->has_query = 1;
		end = q;
	}
	if (percent_decode(t, (size_t)(end - t), p->h->path, sizeof(p->h->path), 0) != 0)
		return refuse(p, 400, MIG_E_BAD_REQUEST,
		    "bad percent-encoding in the path (a %% must start %%XX, and %%00 is refused)");
	return HTTPD_PARSE_DONE;
}

static enum httpd_parse_result
parse_request_line(struct head_parser *p)
{
	enum httpd_parse_result rc;
	size_t start = 0, n = 0;

	if ((rc = skip_empty_lines(p)) != HTTPD_PARSE_DONE ||
	    (rc = parse_method(p)) != HTTPD_PARSE_DONE ||
	    (rc = scan_target(p, &start, &n)) != HTTPD_PARSE_DONE ||
	    (rc = parse_version(p)) != HTTPD_PARSE_DONE)
		return rc;
	return parse_target(p, p->buf + start, n);
}

static int
name_is(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

static enum httpd_parse_result
header_content_length(struct head_parser *p, const char *v, size_t n)
{
	uint64_t value = 0;
	size_t i;

	if (p->seen_length++)
		return refuse(p, 400, MIG_E_BAD_REQUEST, "more than one Content-Length header");
	if (n == 0)
		return refuse(p, 400, MIG_E_BAD_REQUEST, "an empty Content-Length header");
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return refuse(p, 400, MIG_E_BAD_REQUEST,
			    "Content-Length must be a decimal number of bytes");
		if (value <= HTTPD_MAX_BODY)
			value = value * 10 + (uint64_t)(v[i] - '0');
	}
	if (value > HTTPD_MAX_BODY)
		return refuse(p, 413, MIG_E_REQUEST_TOO_LARGE,
		    "the request body is larger than %d bytes", HTTPD_MAX_BODY);
	p->h->content_length = value;
	return HTTPD_PARSE_DONE;
}

/* Connection: a comma-separated list of options. */
static void
header_connection(struct head_parser *p, const char *v, size_t n)
{
	const char *end = v + n, *comma;
	size_t len;

	while (v < end) {
		comma = memchr(v, ',', (size_t)(end - v));
		len = (size_t)((comma != NULL ? comma : end) - v);
		while (len > 0 && (*v == ' ' || *v == '\t'))
			v++, len--;
		while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
			len--;
		if (name_is(v, len, "close"))
			p->conn_close = 1;
		else if (name_is(v, len, "keep-alive"))
			p->conn_keep = 1;
		v = comma != NULL ? comma + 1 : end;
	}
}

static enum httpd_parse_result
header_value(struct head_parser *p, const char *name, size_t nlen, const char *v, size_t n)
{
	if (name_is(name, nlen, "Content-Length"))
		return header_content_length(p, v, n);
	if (name_is(name, nlen, "Transfer-Encoding"))
		return refuse(p, 411, MIG_E_BAD_REQUEST, "a request body needs a Content-Length: "
		    "Transfer-Encoding (chunked) is not accepted");
	if (name_is(name, nlen, "Host") && p->seen_host++)
		return refuse(p, 400, MIG_E_BAD_REQUEST, "more than one Host header");
	if (name_is(name, nlen, "Connection"))
		header_connection(p, v, n);
	else if (name_is(name, nlen, "Expect") && name_is(v, n, "100-continue"))
		p->h->expect_continue = 1;
	return HTTPD_PARSE_DONE;
}

/* One header line, its line end taken off. */
static enum httpd_parse_result
parse_header(struct head_parser *p, const char *line, size_t n)
{
	const char *colon = memchr(line, ':', n), *v;
	size_t i, nlen, vlen;
	unsigned char c;

	if (line[0] == ' ' || line[0] == '\t')
		return refuse(p, 400, MIG_E_BAD_REQUEST,
		    "a header line starts with a blank (obsolete line folding)");
	if (colon == NULL || colon == line)
		return refuse(p, 400, MIG_E_BAD_REQUEST,
		    "a header line without a name and a colon");
	nlen = (size_t)(colon - line);
	for (i = 0; i < nlen; i++)
		if (!is_tchar((unsigned char)line[i]))
			return refuse(p, 400, MIG_E_BAD_REQUEST, "a malformed header name");
	v = colon + 1;
	vlen = n - nlen - 1;
	while (vlen > 0 && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	for (i = 0; i < vlen; i++)
		if ((c = (unsigned char)v[i]) != '\t' && (c < 0x20 || c == 0x7f))
			return refuse(p, 400, MIG_E_BAD_REQUEST,
			    "a control character in the %.*s header", (int)(nlen < 40 ? nlen : 40),
			    line);
	return header_value(p, line, nlen, v, vlen);
}

static enum httpd_parse_result
finish_head(struct head_parser *p)
{
	if (p->h->minor >= 1 && !p->seen_host)
		return refuse(p, 400, MIG_E_BAD_REQUEST, "an HTTP/1.1 request needs a Host header");
	p->h->keep_alive = p->h->minor >= 1 ? !p->conn_close : p->conn_keep && !p->conn_close;
	p->h->length = p->pos;
	return HTTPD_PARSE_DONE;
}

static enum httpd_parse_result
parse_headers(struct head_parser *p)
{
	size_t limit = p->len < HTTPD_MAX_HEAD ? p->len : HTTPD_MAX_HEAD, n;
	enum httpd_parse_result rc;
	unsigned count = 0;
	const char *nl;

	for (;;) {
		nl = p->pos < limit ? memchr(p->buf + p->pos, '\n', limit - p->pos) : NULL;
		if (nl == NULL)
			return p->len < HTTPD_MAX_HEAD ? HTTPD_PARSE_MORE :
			    refuse(p, 431, MIG_E_REQUEST_TOO_LARGE,
				"the request head is larger than %d bytes", HTTPD_MAX_HEAD);
		n = (size_t)(nl - (p->buf + p->pos));
		if (n > 0 && nl[-1] == '\r')
			n--;
		if (n == 0) {
			p->pos = (size_t)(nl - p->buf) + 1;
			return finish_head(p);
		}
		if (++count > HTTPD_MAX_HEADERS)
			return refuse(p, 431, MIG_E_REQUEST_TOO_LARGE,
			    "more than %d header lines", HTTPD_MAX_HEADERS);
		if ((rc = parse_header(p, p->buf + p->pos, n)) != HTTPD_PARSE_DONE)
			return rc;
		p->pos = (size_t)(nl - p->buf) + 1;
	}
}

enum httpd_parse_result
httpd_parse_head(const char *buf, size_t len, struct httpd_head *h, struct httpd_refusal *r)
{
	struct head_parser p;
	enum httpd_parse_result rc;

	memset(h, 0, sizeof(*h));
	memset(r, 0, sizeof(*r));
	memset(&p, 0, sizeof(p));
	p.buf = buf;
	p.len = len;
	p.h = h;
	p.r = r;
	if ((rc = parse_request_line(&p)) != HTTPD_PARSE_DONE)
		return rc;
	return parse_headers(&p);
}

/* Each pair of the query is KEY=VALUE with a key and both decodable. */
static int
query_valid(const char *query)
{
	char scratch[HTTPD_MAX_TARGET + 1];
	const char *end, *eq;
	size_t n = sizeof(scratch);

	while (*query != '\0') {
		end = query + strcspn(query, "&");
		eq = memchr(query, '=', (size_t)(end - query));
		if (eq == NULL || eq == query ||
		    percent_decode(query, (size_t)(eq - query), scratch, n, 1) != 0 ||
		    percent_decode(eq + 1, (size_t)(end - eq - 1), scratch, n, 1) != 0)
			return 0;
		query = *end == '&' ? end + 1 : end;
	}
	return 1;
}

int
httpd_parse_query(const char *query, const char *key, char *out, size_t outsize)
{
	size_t klen = strlen(key), vlen;
	const char *end;

	if (!query_valid(query))
		return -1;
	while (*query != '\0') {
		end = query + strcspn(query, "&");
		if ((size_t)(end - query) > klen && query[klen] == '=' &&
		    memcmp(query, key, klen) == 0) {
			vlen = (size_t)(end - query) - klen - 1;
			if (percent_decode(query + klen + 1, vlen, out, outsize, 1) != 0)
				return -1;
			return 1;
		}
		query = *end == '&' ? end + 1 : end;
	}
	return 0;
}
