/*
 * http.c: the HTTP/1.1 client of http.h.
 *
 * Reads what the daemon (daemon/httpd.c) sends: a Content-Length body, a chunked
 * one (the event stream), or a body that ends with the connection, with
 * every size bounded. Never guesses: an answer it cannot read in full is
 * malformed or truncated, never half-used.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "http.h"
#include "parse.h"
#include "xmalloc.h"

static int
http_remaining_ms(const struct http_conn *c)
{
	struct timespec now;
	long long ms;

	if (c->timeout_ms < 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(c->deadline.tv_sec - now.tv_sec) * 1000 +
	    (c->deadline.tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : (int)ms;
}

void
http_set_timeout(struct http_conn *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms;
	if (timeout_ms < 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &c->deadline);
	c->deadline.tv_sec += timeout_ms / 1000;
	c->deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (c->deadline.tv_nsec >= 1000000000) {
		c->deadline.tv_sec++;
		c->deadline.tv_nsec -= 1000000000;
	}
}

int
http_malformed(const struct http_conn *c, const char *what)
{
	ctl_warnx("the daemon on %s sent a malformed response: %s", c->name, what);
	return CTL_EXIT_UNREACHABLE;
}

static int
http_truncated(const struct http_conn *c)
{
	if (c->received == 0)
		ctl_warnx("the daemon on %s closed the connection without answering", c->name);
	else
		ctl_warnx("the daemon on %s closed the connection in the middle of a response",
		    c->name);
	return CTL_EXIT_UNREACHABLE;
}

static int
http_wait(struct http_conn *c, short events)
{
	struct pollfd pfd;
	int n;

	pfd.fd = c->fd;
	pfd.events = events;
	for (;;) {
		n = ctl_poll(&pfd, 1, http_remaining_ms(c));
		if (n > 0)
			return CTL_EXIT_OK;
		if (n == 0) {
			ctl_warnx("no answer from the daemon on %s within %d s", c->name,
			    c->timeout_ms / 1000);
			return CTL_EXIT_UNREACHABLE;
		}
		if (errno != EINTR) {
			ctl_warn("waiting for the daemon on %s", c->name);
			return CTL_EXIT_UNREACHABLE;
		}
		if (ctl_interrupted())
			return CTL_INTERRUPTED;
	}
}

static const char *
http_connect_hint(int err)
{
	switch (err) {
	case ENOENT:
	case ENOTDIR:
	case ECONNREFUSED:
		return " (is vfio-migd running?)";
	case EACCES:
	case EPERM:
		return " (is this user in the daemon's control_group?)";
	default:
		return "";
	}
}

int
http_attach(struct http_conn *c, int fd, const char *name, int timeout_ms)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->name = name;
	http_set_timeout(c, timeout_ms);
	if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) == -1) {
		ctl_warn("fcntl");
		return CTL_EXIT_UNREACHABLE;
	}
	return CTL_EXIT_OK;
}

int
http_connect(struct http_conn *c, const char *path, int timeout_ms)
{
	struct sockaddr_un addr;
	struct timeval tv;
	int fd, saved;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->name = path;
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		ctl_warn("socket");
		return CTL_EXIT_UNREACHABLE;
	}
	c->fd = fd;
	/* connect() blocks while the daemon's listen queue is full; bound it. */
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = 0;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == -1) {
		saved = errno;
		ctl_warnx("cannot connect to the daemon on %s: %s%s", path, strerror(saved),
		    http_connect_hint(saved));
		return CTL_EXIT_UNREACHABLE;
	}
	return http_attach(c, fd, path, timeout_ms);
}

void
http_close(struct http_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int
http_write_all(struct http_conn *c, const char *data, size_t len)
{
	ssize_t n;
	int rc;

	while (len > 0) {
		if ((rc = http_wait(c, POLLOUT)) != CTL_EXIT_OK)
			return rc;
		n = send(c->fd, data, len, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			/* The daemon answered early and closed: its answer says why. */
			if (errno == EPIPE || errno == ECONNRESET)
				return CTL_EXIT_OK;
			ctl_warn("sending to the daemon on %s", c->name);
			return CTL_EXIT_UNREACHABLE;
		}
		data += n;
		len -= (size_t)n;
	}
	return CTL_EXIT_OK;
}

int
http_send_request(struct http_conn *c, const char *method, const char *path,
    const char *body)
{
	char *request;
	int rc;

	request = ctl_asprintf("%s %s HTTP/1.1\r\nHost: localhost\r\n"
	    "User-Agent: vfio-migctl/%s\r\nAccept: application/json\r\nConnection: close\r\n"
	    "%sContent-Length: %zu\r\n\r\n%s", method, path, PACKAGE_VERSION,
	    body != NULL ? "Content-Type: application/json\r\n" : "",
	    body != NULL ? strlen(body) : 0, body != NULL ? body : "");
	rc = http_write_all(c, request, strlen(request));
	free(request);
	return rc;
}

static int
http_fill(struct http_conn *c)
{
	ssize_t n;
	int rc;

	if (c->start > 0) {
		memmove(c->buf, c->buf + c->start, c->end - c->start);
		c->end -= c->start;
		c->start = 0;
	}
	for (;;) {
		if ((rc = http_wait(c, POLLIN)) != CTL_EXIT_OK)
			return rc;
		n = read(c->fd, c->buf + c->end, sizeof(c->buf) - c->end);
		if (n > 0) {
			c->end += (size_t)n;
			c->received += (size_t)n;
			return CTL_EXIT_OK;
		}
		if (n == 0 || errno == ECONNRESET) {
			c->eof = 1;
			return CTL_EXIT_OK;
		}
		if (errno != EAGAIN && errno != EINTR) {
			ctl_warn("reading from the daemon on %s", c->name);
			return CTL_EXIT_UNREACHABLE;
		}
	}
}

/* One line of the head or of the chunk framing, without its CR LF. The
 * line lives in c->buf until the next read. */
static int
http_read_line(struct http_conn *c, char **line)
{
	char *nl;
	int rc;

	while ((nl = memchr(c->buf + c->start, '\n', c->end - c->start)) == NULL) {
		if (c->eof)
			return http_truncated(c);
		if (c->start == 0 && c->end == sizeof(c->buf))
			return http_malformed(c, "a header or chunk line is too long");
		if ((rc = http_fill(c)) != CTL_EXIT_OK)
			return rc;
	}
	*line = c->buf + c->start;
	*nl = '\0';
	if (nl > *line && nl[-1] == '\r')
		nl[-1] = '\0';
	c->head_bytes += (size_t)(nl - *line) + 1;
	c->start = (size_t)(nl - c->buf) + 1;
	if (c->head_bytes > HTTP_MAX_HEAD)
		return http_malformed(c, "the response head is too large");
	return CTL_EXIT_OK;
}

static int
http_parse_status(struct http_conn *c, const char *line)
{
	if (strncmp(line, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)line[7]) ||
	    line[8] != ' ' || !isdigit((unsigned char)line[9]) ||
	    !isdigit((unsigned char)line[10]) || !isdigit((unsigned char)line[11]) ||
	    (line[12] != ' ' && line[12] != '\0'))
		return http_malformed(c, "not an HTTP/1.x status line");
	c->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
	return CTL_EXIT_OK;
}

static int
http_parse_header(struct http_conn *c, char *line, int *has_length)
{
	char *colon = strchr(line, ':'), *value, *end;

	if (colon == NULL || colon == line)
		return http_malformed(c, "a header line without a name");
	*colon = '\0';
	for (value = colon + 1; *value == ' ' || *value == '\t'; value++)
		;
	for (end = value + strlen(value); end > value && (end[-1] == ' ' || end[-1] == '\t'); end--)
		;
	*end = '\0';
	if (strcasecmp(line, "Content-Length") == 0) {
		if (mig_parse_uint(value, 0, UINT64_MAX, &c->remaining) != 0)
			return http_malformed(c, "a bad Content-Length");
		*has_length = 1;
	} else if (strcasecmp(line, "Transfer-Encoding") == 0) {
		if (strcasecmp(value, "chunked") != 0)
			return http_malformed(c, "a Transfer-Encoding other than chunked");
		c->chunked = 1;
	}
	return CTL_EXIT_OK;
}

int
http_read_head(struct http_conn *c)
{
	int rc, has_length;
	char *line;

	do {
		has_length = 0;
		c->chunked = 0;
		if ((rc = http_read_line(c, &line)) != CTL_EXIT_OK ||
		    (rc = http_parse_status(c, line)) != CTL_EXIT_OK)
			return rc;
		for (;;) {
			if ((rc = http_read_line(c, &line)) != CTL_EXIT_OK)
				return rc;
			if (*line == '\0')
				break;
			if ((rc = http_parse_header(c, line, &has_length)) != CTL_EXIT_OK)
				return rc;
		}
	} while (c->status >= 100 && c->status < 200);
	if (c->status == 204 || c->status == 304)
		c->body_done = 1;
	else if (c->chunked)
		c->remaining = 0;
	else if (!has_length)
		c->until_eof = 1;
	return CTL_EXIT_OK;
}

/* A chunk's size line: hexadecimal, then nothing, an extension or blanks. */
static int
http_parse_chunk_size(struct http_conn *c, const char *line, uint64_t *size)
{
	const char *p;
	int digits = 0;

	*size = 0;
	for (p = line; isxdigit((unsigned char)*p); p++) {
		if (++digits > 15)
			return http_malformed(c, "a chunk size too large");
		*size = *size * 16 + (uint64_t)(isdigit((unsigned char)*p) ? *p - '0' :
		    tolower((unsigned char)*p) - 'a' + 10);
	}
	if (digits == 0 || (*p != '\0' && *p != ';' && *p != ' ' && *p != '\t'))
		return http_malformed(c, "a bad chunk size line");
	return CTL_EXIT_OK;
}

static int
http_next_chunk(struct http_conn *c)
{
	uint64_t size;
	char *line;
	int rc;

	/* The head's bound, per chunk: a stream may run for days. */
	c->head_bytes = 0;
	if (c->in_chunk) {
		if ((rc = http_read_line(c, &line)) != CTL_EXIT_OK)
			return rc;
		if (*line != '\0')
			return http_malformed(c, "chunk data longer than its size");
	}
	if ((rc = http_read_line(c, &line)) != CTL_EXIT_OK ||
	    (rc = http_parse_chunk_size(c, line, &size)) != CTL_EXIT_OK)
		return rc;
	c->in_chunk = 1;
	c->remaining = size;
	if (size > 0)
		return CTL_EXIT_OK;
	/* The last chunk: skip the trailer section up to its empty line. */
	do {
		if ((rc = http_read_line(c, &line)) != CTL_EXIT_OK)
			return rc;
	} while (*line != '\0');
	c->body_done = 1;
	return CTL_EXIT_OK;
}

int
http_body_next(struct http_conn *c, const char **data, size_t *len)
{
	size_t n;
	int rc;

	*len = 0;
	while (!c->body_done && !c->until_eof && c->remaining == 0) {
		if (!c->chunked)
			c->body_done = 1;
		else if ((rc = http_next_chunk(c)) != CTL_EXIT_OK)
			return rc;
	}
	if (c->body_done)
		return CTL_EXIT_OK;
	while (c->start == c->end) {
		if (c->eof && c->until_eof) {
			c->body_done = 1;
			return CTL_EXIT_OK;
		}
		if (c->eof)
			return http_truncated(c);
		if ((rc = http_fill(c)) != CTL_EXIT_OK)
			return rc;
	}
	n = c->end - c->start;
	if (!c->until_eof && n > c->remaining)
		n = (size_t)c->remaining;
	*data = c->buf + c->start;
	*len = n;
	c->start += n;
	if (!c->until_eof)
		c->remaining -= n;
	return CTL_EXIT_OK;
}

int
http_read_body(struct http_conn *c, char **body, size_t *len)
{
	size_t used = 0, cap = 0, n;
	const char *data;
	char *buf = NULL;
	int rc;

	*body = NULL;
	if (!c->chunked && !c->until_eof && c->remaining > HTTP_MAX_BODY)
		return http_malformed(c, "a response larger than 16 MiB");
	for (;;) {
		if ((rc = http_body_next(c, &data, &n)) != CTL_EXIT_OK) {
			free(buf);
			return rc;
		}
		if (n == 0)
			break;
		if (used + n > HTTP_MAX_BODY) {
			free(buf);
			return http_malformed(c, "a response larger than 16 MiB");
		}
		if (used + n + 1 > cap) {
			cap = cap == 0 ? 4096 : cap;
			while (used + n + 1 > cap)
				cap *= 2;
			buf = xrealloc(buf, cap);
		}
		memcpy(buf + used, data, n);
		used += n;
	}
	if (buf == NULL)
		buf = xmalloc(1);
	buf[used] = '\0';
	*body = buf;
	*len = used;
	return CTL_EXIT_OK;
}

int
http_exchange(struct http_conn *c, const char *socket_path, const char *method,
    const char *path, const char *body)
{
	int rc;

	if ((rc = http_connect(c, socket_path, CTL_REQUEST_TIMEOUT_MS)) != CTL_EXIT_OK ||
	    (rc = http_send_request(c, method, path, body)) != CTL_EXIT_OK)
		return rc;
	return http_read_head(c);
}
