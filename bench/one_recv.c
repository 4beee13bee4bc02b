/*
 * one_recv.c: how long a message body can be and still reach a reader that
 * takes it with one recv(), as libvfio-user does (its issue #306), on an
 * AF_UNIX stream socket: the figure behind vfio_user_write_max's default.
 *
 *   bench/one_recv [MESSAGES [BUSY_THREADS]]
 *
 * For each body size, a writer sends MESSAGES messages, each a 16-byte
 * header and its body in one sendmsg(); a reader thread takes each header
 * with one recv() and the body with one more, and counts the bodies that
 * came short. BUSY_THREADS spin beside them (load). Prints one line per
 * size: size, messages, short reads. A body the kernel queues as one
 * buffer arrives whole; a longer one is queued in pieces the reader can
 * overtake. Built on demand (make bench/one_recv), never run by make check.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

struct reader {
	int fd;
	size_t size;
	long messages, short_reads;
};

static volatile int busy_stop;

static void *
busy_main(void *arg)
{
	volatile unsigned long n = 0;

	(void)arg;
	while (!busy_stop)
		n++;
	return NULL;
}

static void *
reader_main(void *arg)
{
	struct reader *r = arg;
	uint8_t hdr[16], *body = malloc(r->size);
	ssize_t n;
	long i;

	for (i = 0; i < r->messages; i++) {
		if (recv(r->fd, hdr, sizeof(hdr), MSG_WAITALL) != (ssize_t)sizeof(hdr))
			break;
		n = recv(r->fd, body, r->size, 0);
		if (n != (ssize_t)r->size) {
			r->short_reads++;
			/* Take the rest, so the next header is a header. */
			if (n > 0 && recv(r->fd, body, r->size - (size_t)n, MSG_WAITALL) < 0)
				break;
		}
	}
	free(body);
	return NULL;
}

static long
measure(size_t size, long messages)
{
	struct reader r = {0, size, messages, 0};
	uint8_t hdr[16] = {0}, *body = calloc(1, size);
	struct iovec iov[2] = {{hdr, sizeof(hdr)}, {body, size}};
	struct msghdr msg;
	pthread_t t;
	int sv[2];
	long i;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return -1;
	r.fd = sv[1];
	pthread_create(&t, NULL, reader_main, &r);
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = 2;
	for (i = 0; i < messages; i++)
		if (sendmsg(sv[0], &msg, 0) != (ssize_t)(sizeof(hdr) + size))
			break;
	pthread_join(t, NULL);
	free(body);
	return r.short_reads;
}

int
main(int argc, char **argv)
{
	static const size_t sizes[] = {4096, 16384, 32768, 32768 + 3072, 36864, 40960, 49152, 65536,
	    131072, 262144, 1048576};
	long messages = argc > 1 ? atol(argv[1]) : 2000;
	int busy = argc > 2 ? atoi(argv[2]) : 0, i;
	pthread_t *threads = calloc((size_t)busy + 1, sizeof(*threads));
	size_t s;

	for (i = 0; i < busy; i++)
		pthread_create(&threads[i], NULL, busy_main, NULL);
	printf("%10s %10s %12s\n", "body", "messages", "short_reads");
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
		printf("%10zu %10ld %12ld\n", sizes[s], messages, measure(sizes[s], messages));
	busy_stop = 1;
	for (i = 0; i < busy; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	return 0;
}
