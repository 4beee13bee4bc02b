/*
 * httpd_parse.h: the head of an HTTP/1.x request (RFC 9112), parsed from
 * bytes with every size bounded: no sockets, no event loop (httpd.c moves
 * the bytes), fuzzed (fuzz/fuzz_httpd.c).
 *
 * The parser is incremental in the plain way: it is handed all the bytes
 * received so far and says "more", "done" or "refused". A prefix of a head
 * it takes is never refused, and a refusal never changes when more bytes
 * come: a client that sends its request a byte at a time gets the answer
 * it gets when the request arrives at once.
 */
#ifndef MIG_HTTPD_PARSE_H
#define MIG_HTTPD_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* The request-target, bytes (path and query): longer is 414. It fits the
 * control API's route buffer (control.h). */
#define HTTPD_MAX_TARGET 511
/* A method token: a longer one is no method we know (501). */
#define HTTPD_MAX_METHOD 16
/* The request line and the headers with their line ends: more is 431. */
#define HTTPD_MAX_HEAD 16384
/* Header lines: more is 431. */
#define HTTPD_MAX_HEADERS 64
/* A request body (Content-Length): more is 413. */
#define HTTPD_MAX_BODY 65536

/* Bits, so that a set of methods (a path's Allow) is a mask. */
enum httpd_method {
	HTTPD_GET = 1 << 0,
	HTTPD_POST = 1 << 1,
	HTTPD_HEAD = 1 << 2,
	HTTPD_PUT = 1 << 3,
	HTTPD_DELETE = 1 << 4,
	HTTPD_OPTIONS = 1 << 5,
	HTTPD_TRACE = 1 << 6,
	HTTPD_CONNECT = 1 << 7,
	HTTPD_PATCH = 1 << 8,
};

struct httpd_head {
	enum httpd_method method;
	int minor;			       /* HTTP/1.minor: 0, or 1 for 1.1 and later */
	char path[HTTPD_MAX_TARGET + 1];       /* percent-decoded, no NUL inside */
	char query[HTTPD_MAX_TARGET + 1];      /* as sent, after '?' */
	int has_query;
	uint64_t content_length;	       /* 0 without Content-Length */
	int keep_alive;			       /* the connection may serve another request */
	int expect_continue;		       /* Expect: 100-continue */
	size_t length;			       /* bytes of the head, its empty line included */
};

/* Why a request is refused: the status, the error code of common/errors.h
 * and a message for the JSON error body. */
struct httpd_refusal {
	int status;
	int code;
	char message[160];
};

enum httpd_parse_result {
	HTTPD_PARSE_MORE,    /* no verdict yet: wait for more bytes */
	HTTPD_PARSE_DONE,    /* h is filled; the head is h->length bytes */
	HTTPD_PARSE_REFUSED, /* r says why; the connection cannot go on */
};

/* Parse the request head at the start of buf[0..len) (the bytes after it,
 * a body or the next request, are not looked at). */
enum httpd_parse_result httpd_parse_head(const char *buf, size_t len, struct httpd_head *h,
    struct httpd_refusal *r);
/* The method's name ("GET"), for logs and Allow. */
const char *httpd_parse_method_name(enum httpd_method method);
/* The value of key in a query string ("a=1&b=2"), percent-decoded ('+' is
 * a space) into out: 1 found, 0 absent, -1 malformed (a bad escape, a NUL,
 * a value longer than outsize - 1). The first of repeated keys wins. */
int httpd_parse_query(const char *query, const char *key, char *out, size_t outsize);

#endif
