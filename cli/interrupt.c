/*
 * interrupt.c: waiting that SIGINT can cut short, without missing it.
 *
 * Once a command catches SIGINT, the signal stays blocked except inside
 * ppoll(), so it cannot slip in between checking the flag and going to
 * sleep. Never: act on the interrupt; the waiting command decides what an
 * interrupt means (watch: done; migrate --wait: stop following).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

static volatile sig_atomic_t interrupt_seen;
static int interrupt_catching;
static sigset_t interrupt_wait_mask;

static void
interrupt_on_sigint(int sig)
{
	interrupt_seen = 1;
}

void
ctl_catch_sigint(void)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = interrupt_on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &interrupt_wait_mask);
	sigdelset(&interrupt_wait_mask, SIGINT);
	interrupt_catching = 1;
}

int
ctl_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms)
{
	struct timespec ts, *tsp = NULL;

	if (interrupt_seen) {
		errno = EINTR;
		return -1;
	}
	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000;
		tsp = &ts;
	}
	return ppoll(fds, nfds, tsp, interrupt_catching ? &interrupt_wait_mask : NULL);
}

int
ctl_interrupted(void)
{
	return interrupt_seen;
}

int
ctl_sleep(int ms)
{
	if (ctl_poll(NULL, 0, ms) == -1 && interrupt_seen)
		return CTL_INTERRUPTED;
	return CTL_EXIT_OK;
}
