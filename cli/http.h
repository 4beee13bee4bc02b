/*
 * http.h: a small blocking HTTP/1.1 client for one request per connection
 * on a stream socket (the daemon's control socket; in tests, one end of a
 * socketpair).
 *
 * Every function returns an enum ctl_exit: CTL_EXIT_OK, CTL_INTERRUPTED
 * (SIGINT while waiting), or CTL_EXIT_UNREACHABLE once the problem is
 * reported on standard error: no answer in time, a connection closed early
 * (truncated), or an answer that is not HTTP/1.x as we read it (malformed).
 * Never: JSON, the API's paths, or a retry.
 */
#ifndef CTL_HTTP_H
#define CTL_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ctl.h"

#define HTTP_MAX_HEAD (64u * 1024)	   /* status line and headers; each chunk's framing */
#define HTTP_MAX_BODY (16u * 1024 * 1024) /* http_read_body() */

struct http_conn {
	int fd;
	const char *name; /* the socket, as messages name it */
	int timeout_ms;	  /* for the whole exchange; -1: none (event stream) */
	struct timespec deadline;
	int status;
	int chunked;	    /* Transfer-Encoding: chunked */
	int until_eof;	    /* no length given: the body ends with the connection */
	int in_chunk;	    /* a chunk's data was read: its CRLF comes next */
	int body_done;
	uint64_t remaining; /* of the current chunk, or of Content-Length */
	size_t head_bytes;  /* of the head, or of one chunk's framing */
	size_t received;
	int eof;
	size_t start, end;
	char buf[16384];
};

/* Connect to the UNIX socket at path, with timeout_ms for the exchange. */
int http_connect(struct http_conn *c, const char *path, int timeout_ms);
/* Take over fd, already connected; name is how messages call it. */
int http_attach(struct http_conn *c, int fd, const char *name, int timeout_ms);
/* From now on; -1: no deadline (a stream that runs for days). */
void http_set_timeout(struct http_conn *c, int timeout_ms);
void http_close(struct http_conn *c);

/* One request; body NULL for none, else sent as application/json. */
int http_send_request(struct http_conn *c, const char *method, const char *path,
    const char *body);
/* Status line and headers (interim 1xx answers skipped): c->status is set
 * and the connection is at the start of the body. */
int http_read_head(struct http_conn *c);
/* The next piece of the body, pointing into c->buf until the next call;
 * *len == 0 at its end. Chunked or not, as the head said. */
int http_body_next(struct http_conn *c, const char **data, size_t *len);
/* The whole body, NUL terminated, at most HTTP_MAX_BODY bytes; free() it. */
int http_read_body(struct http_conn *c, char **body, size_t *len);
/* Connect, send one request and read the answer's head. */
int http_exchange(struct http_conn *c, const char *socket_path, const char *method,
    const char *path, const char *body);

/* Reports an answer we cannot read; returns CTL_EXIT_UNREACHABLE. */
int http_malformed(const struct http_conn *c, const char *what);

#endif
