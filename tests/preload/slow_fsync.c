/*
 * slow_fsync.c: an LD_PRELOAD shim for tests that makes every fsync()
 * take SLOW_FSYNC_MS milliseconds longer, as on a busy shared disk, and
 * fail with ENOSPC while the file FAIL_FSYNC_FILE exists (a disk that
 * fills up under a write: the test switches it on and off at run time).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int fsync(int fd);

int
fsync(int fd)
{
	static int (*real)(int);
	const char *ms = getenv("SLOW_FSYNC_MS"), *fail = getenv("FAIL_FSYNC_FILE");
	struct timespec ts;
	long n;

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "fsync");
	if (ms != NULL && (n = strtol(ms, NULL, 10)) > 0 && n < 60000) {
		ts.tv_sec = n / 1000;
		ts.tv_nsec = (n % 1000) * 1000000L;
		nanosleep(&ts, NULL);
	}
	if (fail != NULL && access(fail, F_OK) == 0) {
		errno = ENOSPC;
		return -1;
	}
	return real != NULL ? real(fd) : -1;
}
