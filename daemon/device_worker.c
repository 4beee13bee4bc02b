/*
 * device_worker.c: a thread per device for the calls that may block.
 *
 * The loop queues a call under the worker's mutex and signals its
 * condition; the thread runs the calls in order, each with the device
 * held (devlock), moves each to a list of finished calls and writes a
 * byte into a pipe the loop watches; the loop then runs the callbacks.
 */
#include "device_worker.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "xmalloc.h"

struct device_call {
	device_fn fn;
	void *arg;
	void (*arg_free)(void *);
	device_done done; /* NULL once forgotten */
	void *ctx;
	int rc;
	uint64_t out;
	struct device_call *next;
};

struct device_worker {
	struct mig_device *dev;
	pthread_t thread;
	pthread_mutex_t mu;	 /* the two lists and stop */
	pthread_cond_t cv;	 /* a call was queued, or stop */
	pthread_mutex_t devlock; /* held while a call runs */
	struct device_call *queued, **queued_tail;
	struct device_call *finished, **finished_tail;
	int stop;
	int pipe[2];
	struct event *ev;
	unsigned out; /* calls made and not yet called back (the loop's count) */
	/* devlock taken by device_worker_trylock (on the loop), and by whom. */
	int lent;
	pthread_t lent_to;
	unsigned long off_thread; /* device_worker_check's count (loop) */
};

static void *
worker_main(void *arg)
{
	struct device_worker *w = arg;
	struct device_call *c;
	char b = 1;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->queued == NULL && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if ((c = w->queued) == NULL)
			break; /* stopping, and every call has run */
		w->queued = c->next;
		if (w->queued == NULL)
			w->queued_tail = &w->queued;
		pthread_mutex_unlock(&w->mu);

		pthread_mutex_lock(&w->devlock);
		c->rc = c->fn(w->dev, c->arg, &c->out);
		pthread_mutex_unlock(&w->devlock);

		pthread_mutex_lock(&w->mu);
		c->next = NULL;
		*w->finished_tail = c;
		w->finished_tail = &c->next;
		(void)!write(w->pipe[1], &b, 1);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Run the callbacks of the calls that have finished. */
static void
worker_deliver(struct device_worker *w)
{
	struct device_call *c, *next;
	char buf[64];

	while (read(w->pipe[0], buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&w->mu);
	c = w->finished;
	w->finished = NULL;
	w->finished_tail = &w->finished;
	pthread_mutex_unlock(&w->mu);
	for (; c != NULL; c = next) {
		next = c->next;
		w->out--;
		if (c->done != NULL)
			c->done(c->ctx, c->rc, c->out);
		if (c->arg_free != NULL)
			c->arg_free(c->arg);
		free(c);
	}
}

static void
worker_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	worker_deliver(arg);
}

struct device_worker *
device_worker_start(struct mig_device *dev, struct event_base *base)
{
	struct device_worker *w = xcalloc(1, sizeof(*w));
	sigset_t all, old;
	int err;

	w->dev = dev;
	w->queued_tail = &w->queued;
	w->finished_tail = &w->finished;
	if (pipe2(w->pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		free(w);
		return NULL;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_mutex_init(&w->devlock, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->ev = event_new(base, w->pipe[0], EV_READ | EV_PERSIST, worker_cb, w);
	/* Signals are the loop's business. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		event_free(w->ev);
		close(w->pipe[0]);
		close(w->pipe[1]);
		free(w);
		errno = err;
		return NULL;
	}
	event_add(w->ev, NULL);
	return w;
}

void
device_worker_stop(struct device_worker *w)
{
	struct device_call *c, *next;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	for (c = w->finished; c != NULL; c = next) {
		next = c->next;
		if (c->arg_free != NULL)
			c->arg_free(c->arg);
		free(c);
	}
	event_free(w->ev);
	close(w->pipe[0]);
	close(w->pipe[1]);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	pthread_mutex_destroy(&w->devlock);
	free(w);
}

struct device_call *
device_call(struct device_worker *w, device_fn fn, void *arg, void (*arg_free)(void *),
    device_done done, void *ctx)
{
	struct device_call *c = xcalloc(1, sizeof(*c));

	c->fn = fn;
	c->arg = arg;
	c->arg_free = arg_free;
	c->done = done;
	c->ctx = ctx;
	w->out++;
	pthread_mutex_lock(&w->mu);
	*w->queued_tail = c;
	w->queued_tail = &c->next;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return c;
}

void
device_call_forget(struct device_call *c)
{
	if (c != NULL)
		c->done = NULL;
}

int
device_calls_out(const struct device_worker *w)
{
	return w->out > 0;
}

void
device_worker_settle(struct device_worker *w)
{
	struct pollfd pfd;

	while (w->out > 0) {
		pfd.fd = w->pipe[0];
		pfd.events = POLLIN;
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			break;
		worker_deliver(w);
	}
}

int
device_worker_trylock(struct device_worker *w)
{
	int rc;

	if (w == NULL)
		return 0;
	if ((rc = pthread_mutex_trylock(&w->devlock)) == 0) {
		w->lent_to = pthread_self();
		w->lent = 1;
	}
	return rc;
}

void
device_worker_unlock(struct device_worker *w)
{
	if (w == NULL)
		return;
	w->lent = 0;
	pthread_mutex_unlock(&w->devlock);
}

int
device_worker_holds(const struct device_worker *w)
{
	if (w == NULL || pthread_equal(pthread_self(), w->thread))
		return 1;
	/* Only the thread that took the lock writes lent, and only it can
	 * find itself in lent_to. */
	return w->lent && pthread_equal(pthread_self(), w->lent_to);
}

void
device_worker_check(struct device_worker *w, const char *name, const char *op)
{
	if (device_worker_holds(w))
		return;
	/* Logged once per device: the tests fail on the line. */
	if (w->off_thread++ == 0)
		log_warnx("device %s: %s called off its thread, while the thread may be using "
			  "the device (a defect of the daemon: please report it)",
		    name, op);
}
