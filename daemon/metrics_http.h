/*
 * metrics_http.h: the read-only metrics listener ([daemon] metrics_listen):
 * GET /metrics over plain HTTP/1.1 on TCP, for Prometheus to scrape.
 */
#ifndef MIG_METRICS_HTTP_H
#define MIG_METRICS_HTTP_H

#include <stddef.h>

#include <event2/event.h>

/* Request line and headers together, blank line included. */
#define METRICS_HTTP_MAX_REQUEST 8192
/* Seconds a client has for each request (and an idle keep-alive
 * connection before it is closed), and to take each answer. */
#define METRICS_HTTP_TIMEOUT_S 10
/* Connections open at once; more are closed when accepted. */
#define METRICS_HTTP_MAX_CONNECTIONS 16

/* Listen on spec ("host:port", "[v6]:port", port 0: any free port); NULL:
 * no listener, only remember base for a reload. 0, or -1 once logged. */
int metrics_http_start(struct event_base *base, const char *spec);
/* A reload's metrics_listen: the same value changes nothing; another one
 * is bound before the old listener closes (connections open on it finish
 * their requests); NULL closes the listener. -1 once logged when the new
 * address cannot be bound: the old listener stays. */
int metrics_http_reconfigure(const char *spec);
/* Where the listener is bound ("127.0.0.1:41235"), NULL when there is none. */
const char *metrics_http_address(void);
/* Close the listener and every connection. */
void metrics_http_stop(void);

/* What one request asks, from metrics_http_parse(). */
struct metrics_http_request {
	int status;	/* 200 (GET or HEAD /metrics), else the error to answer */
	int head;	/* HEAD: the answer has no body */
	int keep_alive; /* another request may follow on the connection */
	size_t length;	/* bytes of the input the request line and headers took */
};

#define METRICS_HTTP_INCOMPLETE 0 /* no blank line yet, and room for more */
#define METRICS_HTTP_PARSED 1	  /* *out says what to answer */

/*
 * Parses the request at the start of buf (len bytes, not NUL-terminated;
 * only the first METRICS_HTTP_MAX_REQUEST are looked at). A request with a
 * body (Content-Length other than 0, Transfer-Encoding), HTTP/1.0 without
 * keep-alive, "Connection: close" and every error end the connection after
 * the answer. Pure: no I/O, no allocation, no log.
 */
int metrics_http_parse(const char *buf, size_t len, struct metrics_http_request *out);
/* "Not Found" for 404, ... (the reason phrase of each status parse gives). */
const char *metrics_http_reason(int status);

#endif
