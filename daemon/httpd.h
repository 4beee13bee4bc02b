/*
 * httpd.h: a small HTTP/1.1 server on bufferevents, for the control socket
 * (SPEC §4, docs/API.md).
 *
 * Keep-alive, HTTP/1.0, HEAD, pipelined requests answered in order,
 * Content-Length bodies, chunked streamed responses, a deadline for each
 * request. Every answer it makes itself (a malformed or oversized request,
 * an unknown method, a timeout) is the JSON error object of SPEC §4; what
 * a request means is the handler's (control.c).
 */
#ifndef MIG_HTTPD_H
#define MIG_HTTPD_H

#include <stddef.h>

#include "httpd_parse.h"

struct evbuffer;
struct event_base;
struct httpd;
struct httpd_request;

/* A whole request with its body waits at most this long (by default) from
 * the connection's start or its previous answer: 408 if it had begun, a
 * silent close if not. */
#define HTTPD_REQUEST_TIMEOUT_S 30
/* Connections at once; more are closed when they come. Room for the most
 * event streams max_watchers allows and requests beside them (control.c). */
#define HTTPD_MAX_CONNECTIONS 1088

/* Called once per request; it answers before it returns, with a reply or
 * by starting a stream. */
typedef void (*httpd_handler)(struct httpd_request *req, void *arg);

/* Serve HTTP on the listening socket fd (taken: closed by httpd_free), or
 * NULL. */
struct httpd *httpd_new(struct event_base *base, int fd, httpd_handler handler, void *arg);
/* Closes the socket and every connection (a stream's closed callback runs). */
void httpd_free(struct httpd *server);
/* The request deadline of connections from now on, in seconds. */
void httpd_set_timeout(struct httpd *server, int seconds);

/* The request, valid while the handler runs and while its stream lasts. */
enum httpd_method httpd_request_method(const struct httpd_request *req);
const char *httpd_request_path(const struct httpd_request *req); /* percent-decoded */
const char *httpd_request_query(const struct httpd_request *req); /* as sent, or NULL */
struct evbuffer *httpd_request_body(struct httpd_request *req);
/* The connection's socket, for SO_PEERCRED. */
int httpd_request_fd(const struct httpd_request *req);

/* A header of the response to come (name and value without CR or LF). */
void httpd_add_header(struct httpd_request *req, const char *name, const char *value);
/* The response, with body's bytes (taken out of it; NULL for none). */
void httpd_reply(struct httpd_request *req, int status, const char *content_type,
    struct evbuffer *body);
/* {"error":{"code","message"}} with code's name (common/errors.h). */
void httpd_reply_error(struct httpd_request *req, int status, int code, const char *message);

/* A 200 response that goes on until httpd_stream_abort() or until the
 * client goes, when closed(arg) is called: chunked (HTTP/1.1), or the
 * rest of the connection (HTTP/1.0). For HEAD, only the head is sent and
 * -1 returned: nothing to stream. */
int httpd_stream_start(struct httpd_request *req, const char *content_type,
    void (*closed)(void *arg), void *arg);
void httpd_stream_send(struct httpd_request *req, const char *data, size_t len);
/* Bytes sent and not yet taken by the client. */
size_t httpd_stream_backlog(const struct httpd_request *req);
/* Close the stream's connection now (closed is not called). */
void httpd_stream_abort(struct httpd_request *req);

#endif
