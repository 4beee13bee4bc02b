/*
 * hook.c: running the orchestration hook, asynchronously, one at a time.
 */
#include "hook.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "daemon.h"
#include "device.h"
#include "events.h"
#include "log.h"
#include "metrics.h"
#include "migration.h"
#include "xmalloc.h"

#define HOOK_LINE_MAX 1024

struct hook_job {
	char event[24];
	char role[16];
	char id[37];
	char device[MIG_NAME_MAX + 1];
	char *path;  /* the hook */
	char *input; /* JSON for stdin */
	hook_done_fn done;
	struct hook_job *next;
};

static struct hook_job *queue_head, **queue_tail = &queue_head;
static struct hook_job *running;
static pid_t running_pid;
static int running_timed_out, running_stopped;
static int stopping; /* the daemon stops: nothing new starts */
static struct event *ev_exit, *ev_out, *ev_timeout;
static int out_fd = -1, exit_fd = -1;
static char line[HOOK_LINE_MAX];
static size_t line_len;

static void hook_next(void);

/* A job the daemon's stop leaves unrun, or cuts short (result "not-run"
 * or "killed"): said in the log and, while the loop still runs, as an
 * event, never dropped silently. */
static void
hook_report_stopped(const struct hook_job *j, const char *result, const char *why, int event)
{
	/* A killed run's end is logged when it exits (hook_finish). */
	if (strcmp(result, "killed") != 0)
		log_warnx("hook %s %s: %s: %s", j->event, j->id, result, why);
	if (event)
		events_publish(json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "type", "hook",
		    "event", j->event, "role", j->role, "migration", j->id, "device", j->device,
		    "result", result, "reason", why));
}

static void
hook_job_free(struct hook_job *j)
{
	free(j->input);
	free(j->path);
	free(j);
}

static void
hook_log_line(void)
{
	if (line_len > 0)
		log_info("hook %s %s: %.*s", running->event, running->id, (int)line_len, line);
	line_len = 0;
}

static void
hook_out_cb(evutil_socket_t fd, short what, void *arg)
{
	char buf[4096];
	ssize_t n, i;

	n = read(fd, buf, sizeof(buf));
	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		hook_log_line();
		event_del(ev_out);
		return;
	}
	for (i = 0; i < n; i++) {
		if (buf[i] == '\n' || line_len == sizeof(line)) {
			hook_log_line();
			if (buf[i] == '\n')
				continue;
		}
		line[line_len++] = buf[i];
	}
}

static void
hook_finish(int ok, const char *why)
{
	struct hook_job *j = running;
	struct migration *m;

	hook_out_cb(out_fd, EV_READ, NULL); /* whatever is left */
	hook_log_line();
	event_free(ev_out);
	event_free(ev_exit);
	event_free(ev_timeout);
	ev_out = ev_exit = ev_timeout = NULL;
	close(out_fd);
	close(exit_fd);
	out_fd = exit_fd = -1;
	running = NULL;
	running_pid = 0;
	metrics_hook_run(j->event, j->done != NULL && !ok, !ok);
	if (ok)
		log_info("hook %s %s: ok", j->event, j->id);
	else
		log_warnx("hook %s %s: %s", j->event, j->id, why);
	if (j->done != NULL) {
		m = migration_find(j->id);
		j->done(m, ok, why);
	}
	free(j->input);
	free(j->path);
	free(j);
	hook_next();
}

static void
hook_exit_cb(evutil_socket_t fd, short what, void *arg)
{
	char why[128];
	int status;

	if (waitpid(running_pid, &status, WNOHANG) <= 0)
		return;
	if (running_stopped)
		snprintf(why, sizeof(why), "killed: the daemon stopped");
	else if (running_timed_out)
		snprintf(why, sizeof(why), "killed after hook_timeout_ms=%u",
		    daemon_ctx.cfg->daemon.hook_timeout_ms);
	else if (WIFEXITED(status))
		snprintf(why, sizeof(why), "exited with status %d", WEXITSTATUS(status));
	else
		snprintf(why, sizeof(why), "killed by signal %d", WTERMSIG(status));
	hook_finish(!running_timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0, why);
}

static void
hook_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	running_timed_out = 1;
	kill(-running_pid, SIGKILL);
	kill(running_pid, SIGKILL);
}

static void
hook_child(const char *path, struct hook_job *j, int in_r, int out_w)
{
	char *const argv[] = {(char *)path, j->event, j->role, j->id, j->device, NULL};
	static char env_path[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	static char env_lang[] = "LANG=C.UTF-8";
	char *const envp[] = {env_path, env_lang, NULL};
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Its own process group: a timeout kills what it started too. */
	(void)setpgid(0, 0);
	signal(SIGPIPE, SIG_DFL);
	if (dup2(in_r, 0) < 0 || dup2(out_w, 1) < 0 || dup2(out_w, 2) < 0)
		_exit(126);
	close_range(3, ~0u, 0);
	execve(path, argv, envp);
	dprintf(2, "cannot execute %s: %s\n", path, strerror(errno));
	_exit(127);
}

static void
hook_start(struct hook_job *j)
{
	const struct mig_config *cfg = daemon_ctx.cfg;
	struct timeval tv = {cfg->daemon.hook_timeout_ms / 1000,
		(cfg->daemon.hook_timeout_ms % 1000) * 1000};
	int in[2], out[2];
	pid_t pid;
	char why[160];

	running = j;
	running_timed_out = running_stopped = 0;
	line_len = 0;
	if (pipe2(in, O_CLOEXEC) != 0)
		goto fail;
	if (pipe2(out, O_CLOEXEC) != 0) {
		close(in[0]);
		close(in[1]);
		goto fail;
	}
	if ((pid = fork()) < 0) {
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		goto fail;
	}
	if (pid == 0)
		hook_child(j->path, j, in[0], out[1]);
	(void)setpgid(pid, pid); /* as the child does: whichever runs first */
	close(in[0]);
	close(out[1]);
	/* Small JSON into an empty pipe: one write does it. A hook that does
	 * not read stdin must not block us, hence non-blocking. */
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	(void)!write(in[1], j->input, strlen(j->input));
	close(in[1]);
	running_pid = pid;
	out_fd = out[0];
	fcntl(out_fd, F_SETFL, O_NONBLOCK);
	exit_fd = pidfd_open(pid, 0);
	ev_out = event_new(daemon_ctx.base, out_fd, EV_READ | EV_PERSIST, hook_out_cb, NULL);
	ev_exit = event_new(daemon_ctx.base, exit_fd, EV_READ | EV_PERSIST, hook_exit_cb, NULL);
	ev_timeout = evtimer_new(daemon_ctx.base, hook_timeout_cb, NULL);
	event_add(ev_out, NULL);
	event_add(ev_exit, NULL);
	evtimer_add(ev_timeout, &tv);
	log_info("hook %s %s: running %s %s %s %s %s", j->event, j->id, j->path, j->event,
	    j->role, j->id, j->device);
	return;
fail:
	snprintf(why, sizeof(why), "cannot start: %s", strerror(errno));
	out_fd = exit_fd = -1;
	running = NULL;
	metrics_hook_run(j->event, 0, 1);
	log_warnx("hook %s %s: %s", j->event, j->id, why);
	if (j->done != NULL)
		j->done(migration_find(j->id), 0, why);
	free(j->input);
	free(j->path);
	free(j);
}

static void
hook_next(void)
{
	struct hook_job *j;

	while (running == NULL && (j = queue_head) != NULL) {
		queue_head = j->next;
		if (queue_head == NULL)
			queue_tail = &queue_head;
		hook_start(j);
	}
}

static int
hook_queue(const char *event, const struct migration *m, hook_done_fn done)
{
	const struct mig_config *cfg = daemon_ctx.cfg;
	struct hook_job *j;
	json_t *o;

	if (cfg == NULL || m->hook == NULL)
		return 1;
	j = xcalloc(1, sizeof(*j));
	j->path = xstrdup(m->hook);
	snprintf(j->event, sizeof(j->event), "%s", event);
	snprintf(j->role, sizeof(j->role), "%s", migration_role_name(m->role));
	snprintf(j->id, sizeof(j->id), "%s", m->id_str);
	snprintf(j->device, sizeof(j->device), "%s", m->device->name);
	o = migration_to_json(m);
	json_object_set_new(o, "event", json_string(event));
	j->input = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	j->done = done;
	if (stopping) {
		/* Too late to run: said, and the caller goes on as without a
		 * hook (the migration is being ended by the stop anyway). */
		hook_report_stopped(j, "not run", "the daemon is stopping", 1);
		hook_job_free(j);
		return 1;
	}
	*queue_tail = j;
	queue_tail = &j->next;
	hook_next();
	return 0;
}

void
hook_fire(const char *event, const struct migration *m)
{
	if (m->parent != NULL)
		return; /* its parent's hook speaks for the set (group.c) */
	(void)hook_queue(event, m, NULL);
}

/* "started" when the stream begins, and the final phase's name. */
static void
hook_on_phase(struct migration *m, enum mig_phase from, enum mig_phase to)
{
	if (from == PHASE_SETUP && to == PHASE_PRECOPY)
		hook_fire("started", m);
	else if (migration_phase_is_final(to))
		hook_fire(migration_phase_name(to), m);
}

const struct migration_observer hook_observer = {
	.name = "hook",
	.phase_changed = hook_on_phase,
};

int
hook_run(const char *event, const struct migration *m, hook_done_fn done)
{
	if (m->parent != NULL)
		return -1; /* its parent's hook speaks for the set (group.c) */
	return hook_queue(event, m, done);
}

/* Queued jobs will not run: each is reported. */
static void
hook_drop_queue(const char *why, int event)
{
	struct hook_job *j;

	while ((j = queue_head) != NULL) {
		queue_head = j->next;
		hook_report_stopped(j, "not run", why, event);
		hook_job_free(j);
	}
	queue_tail = &queue_head;
}

void
hook_stop(void)
{
	stopping = 1;
	hook_drop_queue("the daemon stopped before its turn", 1);
	if (running != NULL && !running_stopped) {
		running_stopped = 1;
		hook_report_stopped(running, "killed", "the daemon stopped", 1);
		kill(-running_pid, SIGKILL);
		kill(running_pid, SIGKILL);
	}
}

void
hook_shutdown(void)
{
	stopping = 1;
	/* After the loop: the log only (the event streams are closed). */
	hook_drop_queue("the daemon stopped before its turn", 0);
	if (running != NULL) {
		kill(-running_pid, SIGKILL);
		kill(running_pid, SIGKILL);
		waitpid(running_pid, NULL, 0);
		running_timed_out = 1;
		running->done = NULL;
		hook_finish(0, "killed at shutdown");
	}
}
