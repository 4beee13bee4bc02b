/*
 * faultproxy.c: a TCP proxy for the integration tests that injects network
 * faults between two vfio-migd daemons.
 *
 *   faultproxy -l PORT -t HOST:PORT [-c FIFO] [--cut-after-bytes N]
 *              [--stall-after-bytes N] [--delay-down MS] [--delay-up MS]
 *
 * It listens on 127.0.0.1:PORT (0: any free port; the first line it logs,
 * "listening on 127.0.0.1:PORT", names the port it got) and forwards every
 * connection to HOST:PORT,
 * byte for byte ("down" is client to target, "up" the way back). It never
 * looks inside the bytes (they are TLS). Faults, by command line for what
 * must happen at a byte count, or at run time through the command FIFO (one
 * command per line) or a signal:
 *
 *   cut            reset every connection now (RST both sides), dropping
 *                  whatever is in flight                       (SIGUSR1)
 *   cut-one        the same for one connection only: the oldest still open
 *   stall          stop moving bytes either way; connections stay open, so
 *                  the peers see silence, not a close          (SIGUSR2)
 *   resume         move bytes again                            (SIGHUP)
 *   delay DIR MS   hold each byte read in direction DIR (down, up, both) for
 *                  MS milliseconds before sending it on (a long path)
 *   cut-after N    cut once N more bytes have gone down
 *   stall-after N  stall once N more bytes have gone down
 *   target HOST:PORT  forward new connections there (a restarted target
 *                  listens on a new port)
 *   quit
 *
 * Everything it does is one line on stderr, with the time since it started,
 * so a test log shows what the network did and when. A peer that closes
 * normally (or dies) still gets the bytes already in flight delivered to the
 * other side, as a real network would; only `cut` drops them.
 *
 * It is a test tool: single-threaded poll(), at most FP_MAX_CONNS
 * connections, bounded buffers (reading stops above FP_MAX_QUEUE bytes
 * queued in a direction).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define FP_MAX_CONNS 64
#define FP_MAX_QUEUE (8u << 20)
#define FP_READ_SIZE 65536

enum { FP_DOWN = 0, FP_UP = 1 }; /* index of the side a direction reads from */

struct fp_segment {
	struct fp_segment *next;
	uint64_t release_ns; /* not sent before this time */
	size_t len, off;
	uint8_t data[];
};

struct fp_dir {
	struct fp_segment *head, *tail;
	size_t queued;
	int eof;	/* the reading side closed: shut down writing once empty */
	int shut;	/* write side shut down */
	uint64_t moved; /* bytes delivered */
};

struct fp_conn {
	int id;
	int fd[2]; /* [FP_DOWN] client, [FP_UP] target */
	int connected; /* the target accepted */
	struct fp_dir dir[2]; /* [FP_DOWN] client -> target, [FP_UP] target -> client */
};

static struct fp_conn *conns[FP_MAX_CONNS];
static int listen_fd = -1, fifo_fd = -1, sig_pipe[2] = {-1, -1};
static struct sockaddr_storage target;
static socklen_t target_len;
static uint64_t start_ns;
static int stalled;
static uint64_t delay_ms[2];
static int64_t cut_after = -1, stall_after = -1; /* bytes still to go down */
static int next_id = 1;
static char fifo_line[256];
static size_t fifo_have;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
say(const char *fmt, ...)
{
	uint64_t t = now_ns() - start_ns;
	va_list ap;

	fprintf(stderr, "faultproxy +%llu.%03llus: ", (unsigned long long)(t / 1000000000ull),
	    (unsigned long long)(t / 1000000ull % 1000));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
usage(void)
{
	fprintf(stderr, "usage: faultproxy -l PORT -t HOST:PORT [-c FIFO] [--cut-after-bytes N]\n"
			"                  [--stall-after-bytes N] [--delay-down MS] [--delay-up MS]\n");
	exit(2);
}

static void
set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void
dir_clear(struct fp_dir *d)
{
	struct fp_segment *s, *n;

	for (s = d->head; s != NULL; s = n) {
		n = s->next;
		free(s);
	}
	d->head = d->tail = NULL;
	d->queued = 0;
}

static void
conn_free(int slot, const char *why)
{
	struct fp_conn *c = conns[slot];
	int i;

	say("connection #%d closed (%s): %llu bytes down, %llu up", c->id, why,
	    (unsigned long long)c->dir[FP_DOWN].moved, (unsigned long long)c->dir[FP_UP].moved);
	for (i = 0; i < 2; i++) {
		dir_clear(&c->dir[i]);
		if (c->fd[i] >= 0)
			close(c->fd[i]);
	}
	free(c);
	conns[slot] = NULL;
}

/* Reset both sockets: the peers get RST, what is in flight is lost. */
static void
conn_reset(int slot)
{
	struct linger lg = {1, 0};
	struct fp_conn *c = conns[slot];
	int i;

	for (i = 0; i < 2; i++)
		if (c->fd[i] >= 0)
			setsockopt(c->fd[i], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	conn_free(slot, "cut");
}

static void
do_cut(void)
{
	size_t inflight = 0;
	int i, n = 0;

	for (i = 0; i < FP_MAX_CONNS; i++)
		if (conns[i] != NULL) {
			inflight += conns[i]->dir[0].queued + conns[i]->dir[1].queued;
			n++;
		}
	say("cut: resetting %d connection(s), dropping %zu bytes in flight", n, inflight);
	for (i = 0; i < FP_MAX_CONNS; i++)
		if (conns[i] != NULL)
			conn_reset(i);
}

static void
do_cut_one(void)
{
	int i, oldest = -1;

	for (i = 0; i < FP_MAX_CONNS; i++)
		if (conns[i] != NULL && (oldest < 0 || conns[i]->id < conns[oldest]->id))
			oldest = i;
	if (oldest < 0) {
		say("cut-one: no connection");
		return;
	}
	say("cut-one: resetting connection %d, dropping %zu bytes in flight", conns[oldest]->id,
	    conns[oldest]->dir[0].queued + conns[oldest]->dir[1].queued);
	conn_reset(oldest);
}

static int
count_conns(void)
{
	int i, n = 0;

	for (i = 0; i < FP_MAX_CONNS; i++)
		n += conns[i] != NULL;
	return n;
}

static void
do_stall(void)
{
	stalled = 1;
	say("stall: no bytes move on %d connection(s) until resume", count_conns());
}

static void
do_resume(void)
{
	stalled = 0;
	say("resume: bytes move again on %d connection(s)", count_conns());
}

static int
parse_count(const char *s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0)
		return -1;
	*out = v;
	return 0;
}

static int resolve_target(const char *spec);

static void
command(char *line)
{
	char *argv[4], *save = NULL, *tok;
	int argc = 0;
	int64_t v;

	for (tok = strtok_r(line, " \t\r", &save); tok != NULL && argc < 4;
	     tok = strtok_r(NULL, " \t\r", &save))
		argv[argc++] = tok;
	if (argc == 0)
		return;
	if (strcmp(argv[0], "cut") == 0 && argc == 1)
		do_cut();
	else if (strcmp(argv[0], "cut-one") == 0 && argc == 1)
		do_cut_one();
	else if (strcmp(argv[0], "stall") == 0 && argc == 1)
		do_stall();
	else if (strcmp(argv[0], "resume") == 0 && argc == 1)
		do_resume();
	else if (strcmp(argv[0], "quit") == 0 && argc == 1) {
		say("quit");
		exit(0);
	} else if (strcmp(argv[0], "cut-after") == 0 && argc == 2 && parse_count(argv[1], &v) == 0) {
		cut_after = v;
		say("cut-after: cutting once %lld more bytes went down", (long long)v);
	} else if (strcmp(argv[0], "stall-after") == 0 && argc == 2 &&
	    parse_count(argv[1], &v) == 0) {
		stall_after = v;
		say("stall-after: stalling once %lld more bytes went down", (long long)v);
	} else if (strcmp(argv[0], "delay") == 0 && argc == 3 && parse_count(argv[2], &v) == 0 &&
	    (strcmp(argv[1], "down") == 0 || strcmp(argv[1], "up") == 0 ||
		strcmp(argv[1], "both") == 0)) {
		if (argv[1][0] != 'u')
			delay_ms[FP_DOWN] = (uint64_t)v;
		if (argv[1][0] != 'd')
			delay_ms[FP_UP] = (uint64_t)v;
		say("delay: down %llu ms, up %llu ms", (unsigned long long)delay_ms[FP_DOWN],
		    (unsigned long long)delay_ms[FP_UP]);
	} else if (strcmp(argv[0], "target") == 0 && argc == 2) {
		if (resolve_target(argv[1]) == 0)
			say("target: new connections go to %s", argv[1]);
		else
			say("target: %s is not a reachable HOST:PORT; target unchanged", argv[1]);
	} else
		say("unknown command \"%s\" (cut, cut-one, stall, resume, delay DIR MS, cut-after N, "
		    "stall-after N, target HOST:PORT, quit)", argv[0]);
}

static void
read_fifo(void)
{
	char buf[256];
	ssize_t n, i;

	while ((n = read(fifo_fd, buf, sizeof(buf))) > 0) {
		for (i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				fifo_line[fifo_have] = '\0';
				command(fifo_line);
				fifo_have = 0;
			} else if (fifo_have < sizeof(fifo_line) - 1)
				fifo_line[fifo_have++] = buf[i];
		}
	}
}

static void
on_signal(int sig)
{
	char c = (char)sig;
	int saved = errno;

	if (write(sig_pipe[1], &c, 1) < 0) {
		/* The pipe is full: enough signals are pending already. */
	}
	errno = saved;
}

static void
read_signals(void)
{
	char c;

	while (read(sig_pipe[0], &c, 1) == 1) {
		if (c == SIGUSR1)
			do_cut();
		else if (c == SIGUSR2)
			do_stall();
		else if (c == SIGHUP)
			do_resume();
		else {
			say("terminated by signal %d", c);
			exit(0);
		}
	}
}

static void
accept_one(void)
{
	struct sockaddr_in from;
	socklen_t fromlen = sizeof(from);
	struct fp_conn *c;
	char addr[64];
	int fd, up, slot, one = 1;

	if ((fd = accept(listen_fd, (struct sockaddr *)&from, &fromlen)) < 0)
		return;
	for (slot = 0; slot < FP_MAX_CONNS && conns[slot] != NULL; slot++)
		;
	inet_ntop(AF_INET, &from.sin_addr, addr, sizeof(addr));
	if (slot == FP_MAX_CONNS) {
		say("refusing a connection from %s:%u: %d connections already", addr,
		    ntohs(from.sin_port), FP_MAX_CONNS);
		close(fd);
		return;
	}
	up = socket(target.ss_family, SOCK_STREAM, 0);
	if (up < 0) {
		say("socket: %s", strerror(errno));
		close(fd);
		return;
	}
	set_nonblock(fd);
	set_nonblock(up);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(up, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		close(up);
		return;
	}
	c->id = next_id++;
	c->fd[FP_DOWN] = fd;
	c->fd[FP_UP] = up;
	conns[slot] = c;
	say("connection #%d from %s:%u%s", c->id, addr, ntohs(from.sin_port),
	    stalled ? " (stalled)" : "");
	if (connect(up, (struct sockaddr *)&target, target_len) == 0)
		c->connected = 1;
	else if (errno != EINPROGRESS) {
		say("connection #%d: target refused: %s", c->id, strerror(errno));
		conn_free(slot, "target unreachable");
	}
}

/* Read what side `from` sent into the queue of its direction. */
static int
conn_read(struct fp_conn *c, int from)
{
	struct fp_dir *d = &c->dir[from];
	struct fp_segment *s = malloc(sizeof(*s) + FP_READ_SIZE);
	ssize_t n;

	if (s == NULL)
		return 0;
	n = read(c->fd[from], s->data, FP_READ_SIZE);
	if (n <= 0) {
		free(s);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		d->eof = 1;
		return n < 0 ? -errno : 0;
	}
	s->len = (size_t)n;
	s->off = 0;
	s->next = NULL;
	s->release_ns = now_ns() + delay_ms[from] * 1000000ull;
	if (d->tail != NULL)
		d->tail->next = s;
	else
		d->head = s;
	d->tail = s;
	d->queued += (size_t)n;
	return 0;
}

/* Send what is due in direction `from` to the other side. Returns -errno
 * when the receiving side is gone. */
static int
conn_write(struct fp_conn *c, int from, int *fault)
{
	struct fp_dir *d = &c->dir[from];
	uint64_t now = now_ns();
	struct fp_segment *s;
	size_t len;
	ssize_t n;

	while ((s = d->head) != NULL && s->release_ns <= now && !stalled) {
		len = s->len - s->off;
		if (from == FP_DOWN && cut_after >= 0 && (int64_t)len > cut_after)
			len = (size_t)cut_after;
		if (from == FP_DOWN && stall_after >= 0 && (int64_t)len > stall_after)
			len = (size_t)stall_after;
		n = len > 0 ? write(c->fd[1 - from], s->data + s->off, len) : 0;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return -errno;
		}
		s->off += (size_t)n;
		d->queued -= (size_t)n;
		d->moved += (uint64_t)n;
		if (from == FP_DOWN && cut_after >= 0 && (cut_after -= n) == 0) {
			cut_after = -1;
			*fault = 'c';
			return 0;
		}
		if (from == FP_DOWN && stall_after >= 0 && (stall_after -= n) == 0) {
			stall_after = -1;
			*fault = 's';
			return 0;
		}
		if (s->off < s->len)
			return 0;
		d->head = s->next;
		if (d->head == NULL)
			d->tail = NULL;
		free(s);
	}
	if (d->head == NULL && d->eof && !d->shut) {
		shutdown(c->fd[1 - from], SHUT_WR);
		d->shut = 1;
	}
	return 0;
}

static uint64_t
next_release(void)
{
	uint64_t t = UINT64_MAX;
	int i, k;

	for (i = 0; i < FP_MAX_CONNS; i++)
		for (k = 0; k < 2 && conns[i] != NULL; k++)
			if (conns[i]->dir[k].head != NULL && conns[i]->dir[k].head->release_ns < t)
				t = conns[i]->dir[k].head->release_ns;
	return t;
}

/* One connection's turn after poll(): connect, read, write, close. */
static void
conn_service(int slot, const short *rev, int *fault)
{
	struct fp_conn *c = conns[slot];
	socklen_t len = sizeof(int);
	int k, err = 0, rc;

	if (!c->connected && (rev[FP_UP] & (POLLOUT | POLLERR | POLLHUP))) {
		getsockopt(c->fd[FP_UP], SOL_SOCKET, SO_ERROR, &err, &len);
		if (err != 0) {
			say("connection #%d: target refused: %s", c->id, strerror(err));
			conn_free(slot, "target unreachable");
			return;
		}
		c->connected = 1;
		say("connection #%d: connected to the target", c->id);
	}
	if (!c->connected || stalled)
		return;
	for (k = 0; k < 2; k++)
		if ((rev[k] & (POLLIN | POLLHUP | POLLERR)) && !c->dir[k].eof &&
		    (rc = conn_read(c, k)) != 0)
			say("connection #%d: %s side: %s", c->id, k == FP_DOWN ? "client" : "target",
			    strerror(-rc));
	for (k = 0; k < 2; k++) {
		if ((rc = conn_write(c, k, fault)) != 0) {
			/* The receiving side is gone: nothing more can reach it. */
			say("connection #%d: writing to the %s: %s", c->id,
			    k == FP_DOWN ? "target" : "client", strerror(-rc));
			dir_clear(&c->dir[k]);
			c->dir[k].eof = 1;
			c->dir[1 - k].eof = 1;
		}
		if (*fault)
			return;
	}
	/* Both ways closed and flushed, or one side closed and the other has
	 * nothing left for it: done. */
	if ((c->dir[0].eof && c->dir[0].head == NULL && c->dir[1].eof && c->dir[1].head == NULL))
		conn_free(slot, "both sides closed");
}

static void
serve(void)
{
	struct pollfd pfd[3 + 2 * FP_MAX_CONNS];
	int idx[FP_MAX_CONNS];
	uint64_t t, now;
	int i, k, n, timeout, fault;

	for (;;) {
		n = 0;
		pfd[n++] = (struct pollfd){listen_fd, POLLIN, 0};
		pfd[n++] = (struct pollfd){sig_pipe[0], POLLIN, 0};
		pfd[n++] = (struct pollfd){fifo_fd, fifo_fd >= 0 ? POLLIN : 0, 0};
		for (i = 0; i < FP_MAX_CONNS; i++) {
			struct fp_conn *c = conns[i];

			idx[i] = -1;
			if (c == NULL)
				continue;
			idx[i] = n;
			for (k = 0; k < 2; k++) {
				short ev = 0;

				if (!c->connected) {
					if (k == FP_UP)
						ev = POLLOUT;
				} else if (!stalled) {
					if (!c->dir[k].eof && c->dir[k].queued < FP_MAX_QUEUE)
						ev |= POLLIN;
					if (c->dir[1 - k].head != NULL &&
					    c->dir[1 - k].head->release_ns <= now_ns())
						ev |= POLLOUT;
				}
				pfd[n++] = (struct pollfd){c->fd[k], ev, 0};
			}
		}
		timeout = -1;
		if (!stalled && (t = next_release()) != UINT64_MAX) {
			now = now_ns();
			timeout = t <= now ? 0 : (int)((t - now) / 1000000ull) + 1;
		}
		if (poll(pfd, (nfds_t)n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			say("poll: %s", strerror(errno));
			exit(1);
		}
		if (pfd[1].revents)
			read_signals();
		if (pfd[2].revents)
			read_fifo();
		if (pfd[0].revents & POLLIN)
			accept_one();
		fault = 0;
		for (i = 0; i < FP_MAX_CONNS && !fault; i++) {
			short rev[2];

			if (conns[i] == NULL || idx[i] < 0)
				continue;
			rev[0] = pfd[idx[i]].revents;
			rev[1] = pfd[idx[i] + 1].revents;
			conn_service(i, rev, &fault);
		}
		if (fault == 'c') {
			say("cut-after: the byte count is reached");
			do_cut();
		} else if (fault == 's') {
			say("stall-after: the byte count is reached");
			do_stall();
		}
	}
}

static int
resolve_target(const char *spec)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	struct addrinfo hints, *res;

	if (colon == NULL || colon == spec || (size_t)(colon - spec) >= sizeof(host))
		return -1;
	snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
		return -1;
	memcpy(&target, res->ai_addr, res->ai_addrlen);
	target_len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* Listen on 127.0.0.1:port (0: the kernel picks); the port bound, or -1. */
static int
listen_on(const char *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int one = 1;
	char *end;
	long p = strtol(port, &end, 10);

	if (*port == '\0' || *end != '\0' || p < 0 || p > 65535)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)p);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((listen_fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(listen_fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(listen_fd, 64) != 0 ||
	    getsockname(listen_fd, (struct sockaddr *)&sin, &len) != 0)
		return -1;
	set_nonblock(listen_fd);
	return ntohs(sin.sin_port);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"target", required_argument, NULL, 't'},
		{"control", required_argument, NULL, 'c'},
		{"cut-after-bytes", required_argument, NULL, 'C'},
		{"stall-after-bytes", required_argument, NULL, 'S'},
		{"delay-down", required_argument, NULL, 'D'},
		{"delay-up", required_argument, NULL, 'U'},
		{NULL, 0, NULL, 0},
	};
	const char *port = NULL, *tspec = NULL, *fifo = NULL;
	struct sigaction sa;
	int64_t v;
	int ch, bound;

	while ((ch = getopt_long(argc, argv, "l:t:c:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			port = optarg;
			break;
		case 't':
			tspec = optarg;
			break;
		case 'c':
			fifo = optarg;
			break;
		case 'C':
		case 'S':
		case 'D':
		case 'U':
			if (parse_count(optarg, &v) != 0)
				usage();
			if (ch == 'C')
				cut_after = v;
			else if (ch == 'S')
				stall_after = v;
			else
				delay_ms[ch == 'D' ? FP_DOWN : FP_UP] = (uint64_t)v;
			break;
		default:
			usage();
		}
	}
	if (port == NULL || tspec == NULL || optind != argc)
		usage();
	start_ns = now_ns();
	setvbuf(stderr, NULL, _IOLBF, 0);
	if (resolve_target(tspec) != 0) {
		fprintf(stderr, "faultproxy: target %s: not a reachable HOST:PORT\n", tspec);
		return 2;
	}
	if ((bound = listen_on(port)) < 0) {
		fprintf(stderr, "faultproxy: listen on 127.0.0.1:%s: %s\n", port, strerror(errno));
		return 1;
	}
	if (fifo != NULL) {
		if (mkfifo(fifo, 0600) != 0 && errno != EEXIST) {
			fprintf(stderr, "faultproxy: mkfifo %s: %s\n", fifo, strerror(errno));
			return 1;
		}
		/* Read-write, so the FIFO never reports end of file between writers. */
		if ((fifo_fd = open(fifo, O_RDWR | O_NONBLOCK)) < 0) {
			fprintf(stderr, "faultproxy: open %s: %s\n", fifo, strerror(errno));
			return 1;
		}
	}
	if (pipe(sig_pipe) != 0)
		return 1;
	set_nonblock(sig_pipe[0]);
	set_nonblock(sig_pipe[1]);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	say("listening on 127.0.0.1:%d, forwarding to %s%s", bound, tspec,
	    fifo != NULL ? ", commands on the FIFO" : "");
	serve();
	return 0;
}
