/*
 * sim_v2.c: the software v2 device (sim_v2.h): a v2 vendor driver over a
 * software v1 core.
 *
 * It owns the v2 FSM of the device, the data transfer sessions (a pipe or
 * a socketpair, and a worker thread), the driver models (how each kernel
 * driver it imitates deviates from the plain uAPI), the stream format and
 * its checks, and the core it drives through the v1 driver. It never logs
 * a refused arc (the v2 driver knows the context); it logs what only it
 * can see: a bad stream.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sim_v2.h"
#include "v1_driver.h"
#include "xmalloc.h"

#define SIM2_MAGIC 0x324d4953u /* "SIM2" as little-endian bytes */
#define SIM2_VERSION 1u
#define SIM2_HEADER 16u
#define SIM2_FRAME 8u
#define SIM2_RECORD 1u
#define SIM2_END 2u
#define SIM2_IDLE_MS 10 /* pre-copy, core has nothing: look again after */
#define SIM2_PIPE_SIZE (1 << 20) /* what the saving worker may get ahead */
/* The core's record layout (sim_v1.c): for the stop-copy size estimate. */
#define SIM2_CORE_HEADER 24u
#define SIM2_CORE_ENTRY (8u + SIM_V1_STATE_PAGE)

enum sim2_phase { PH_HEADER, PH_FRAME, PH_PAYLOAD, PH_DISCARD };

struct sim_v2 {
	char *name, *core_name;
	pthread_mutex_t lock;
	struct sim_v1 *core;
	struct v1_dev v1; /* drives the core; under lock */
	struct v2_device dev;
	uint64_t flags;
	enum sim_v2_model model;
	uint32_t delay_ms, save_ms;
	int fail_load; /* refuse every load (sim_v2_config) */
	uint32_t state;
	uint64_t image_size;
	uint32_t section_size;
	uint64_t guest_size;

	/* The session: our end (resuming: a socket), the worker, the pipe
	 * that stops it. Saving: the pipe's write end, under lock (-1 at
	 * pre-copy's temporary end of stream), a read end of our own to open
	 * a new write end from, and the end the user was given. */
	int fd;
	int wfd, keep, user_fd;
	int wake[2];
	pthread_t worker;
	int worker_running;
	uint8_t *frame; /* the worker's buffer: a frame header and one record */

	/* Saving, under lock: what the worker has taken from the core. */
	uint64_t initial_total, produced, inflight;
	uint64_t initial_left; /* PRECOPY_INFO's initial bytes, never growing */
	/* MLX5, under lock: its SAVE of the initial image, of the final one. */
	int initial_saved, final_saved;
	/* Resuming, written by the worker, read after it is joined. */
	int end_seen, partial;
	char stream_error[160];

	int logging;
	int refuse_armed, refuse_err, refuse_into_error;
	uint32_t refuse_from, refuse_to;
	char compat[128];
};

static void
sim2_put_le32(uint8_t *p, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void
sim2_put_le64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t
sim2_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t
sim2_get_le64(const uint8_t *p)
{
	return (uint64_t)sim2_get_le32(p) | (uint64_t)sim2_get_le32(p + 4) << 32;
}

/* The core's device_state for a v2 state. */
static uint32_t
sim2_core_state(uint32_t state)
{
	switch (state) {
	case V2_STATE_RUNNING:
	case V2_STATE_RUNNING_P2P:
		return VFIO_DEVICE_STATE_RUNNING;
	case V2_STATE_PRE_COPY:
	case V2_STATE_PRE_COPY_P2P:
		return VFIO_DEVICE_STATE_SAVING | VFIO_DEVICE_STATE_RUNNING;
	case V2_STATE_STOP_COPY:
		return VFIO_DEVICE_STATE_SAVING;
	case V2_STATE_RESUMING:
		return VFIO_DEVICE_STATE_RESUMING;
	}
	return VFIO_DEVICE_STATE_STOPPED;
}

/* The worker reads the state under the lock; only v2 calls change it. */
static void
sim2_enter(struct sim_v2 *s, uint32_t state)
{
	pthread_mutex_lock(&s->lock);
	s->state = state;
	pthread_mutex_unlock(&s->lock);
}

/* The saving pipe's write end, under lock: a new one after pre-copy's
 * temporary end of stream, made from our own read end. */
static int
sim2_writer_open(struct sim_v2 *s)
{
	char path[64];

	if (s->wfd >= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", s->keep);
	if ((s->wfd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0)
		return -errno;
	return 0;
}

/* Under lock: once the pipe is empty the reader sees end of stream, for
 * now (pre-copy) or for good (the session's end). */
static void
sim2_writer_close(struct sim_v2 *s)
{
	if (s->wfd >= 0)
		close(s->wfd);
	s->wfd = -1;
}

/* Wait ms, or until the session is ended (1). */
static int
sim2_idle(struct sim_v2 *s, uint32_t ms)
{
	struct pollfd pfd = {s->wake[0], POLLIN, 0};

	return poll(&pfd, 1, (int)ms) == 1;
}

/* Send all of buf on the session, or give up when told to stop (-ECANCELED). */
static int
sim2_send_all(struct sim_v2 *s, const uint8_t *buf, size_t len)
{
	struct pollfd pfd[2] = {{-1, POLLOUT, 0}, {s->wake[0], POLLIN, 0}};
	ssize_t n;
	int err;

	pthread_mutex_lock(&s->lock);
	err = sim2_writer_open(s);
	pfd[0].fd = s->wfd;
	pthread_mutex_unlock(&s->lock);
	if (err != 0)
		return err;
	while (len > 0) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (pfd[1].revents & POLLIN)
			return -ECANCELED;
		/* Written and counted at once (the write never blocks), so
		 * that PRECOPY_INFO sees each byte in exactly one place. */
		pthread_mutex_lock(&s->lock);
		n = write(pfd[0].fd, buf, len);
		err = n < 0 ? -errno : 0;
		if (n > 0) {
			s->produced += (uint64_t)n;
			s->inflight = s->inflight > (uint64_t)n ? s->inflight - (uint64_t)n : 0;
		}
		pthread_mutex_unlock(&s->lock);
		if (err == -EAGAIN || err == -EINTR)
			continue;
		if (err != 0)
			return err;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * MLX5: its SAVE command runs save_ms, on entering PRE_COPY for the
 * initial image (mlx5vf_pci_save_device_data) and on entering STOP_COPY
 * for the final one; meanwhile nothing but what came before is readable
 * and the write end stays open, so a read says EAGAIN. When the initial
 * SAVE completes, initial_bytes grows by what it saved, as
 * pre_copy_initial_bytes does in mlx5vf_save_callback(). -ECANCELED when
 * the session ends meanwhile.
 */
static int
sim2_mlx5_save(struct sim_v2 *s)
{
	uint64_t core = 0;
	uint32_t state;
	int due;

	pthread_mutex_lock(&s->lock);
	state = s->state;
	due = s->model == SIM_V2_MLX5 &&
	    (state == V2_STATE_STOP_COPY ? !s->final_saved : !s->initial_saved);
	pthread_mutex_unlock(&s->lock);
	if (!due)
		return 0;
	if (sim2_idle(s, s->save_ms))
		return -ECANCELED;
	pthread_mutex_lock(&s->lock);
	if (state == V2_STATE_STOP_COPY) {
		s->final_saved = s->initial_saved = 1;
	} else {
		if (v1_pending_bytes(&s->v1, &core) == 0)
			s->initial_total += core;
		s->initial_left = s->initial_total;
		s->initial_saved = 1;
	}
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* Saving: records from the core, framed, until stop-copy has nothing left
 * (then END and end of stream) or the session is ended. */
static void *
sim2_saver(void *arg)
{
	struct sim_v2 *s = arg;
	uint8_t hdr[SIM2_HEADER];
	uint64_t size;
	uint32_t state;
	int err;

	sim2_put_le32(hdr, SIM2_MAGIC);
	sim2_put_le32(hdr + 4, SIM2_VERSION);
	sim2_put_le64(hdr + 8, s->image_size);
	err = sim2_send_all(s, hdr, sizeof(hdr));
	while (err == 0 && (err = sim2_mlx5_save(s)) == 0) {
		pthread_mutex_lock(&s->lock);
		state = s->state;
		size = 0;
		if (v2_state_is_saving(state)) {
			err = v1_save_next(&s->v1, &size);
			if (err == 0 && size > 0)
				err = v1_save_read(&s->v1, 0, s->frame + SIM2_FRAME, size);
			if (size > 0)
				s->inflight = SIM2_FRAME + size;
		}
		/* Pre-copy with nothing dirty: the temporary end of stream. */
		if (err == 0 && size == 0 && state != V2_STATE_STOP_COPY)
			sim2_writer_close(s);
		pthread_mutex_unlock(&s->lock);
		if (err != 0) {
			log_warnx("sim %s: reading the core: %s; the stream ends here, incomplete",
			    s->name, strerror(-err));
			break;
		}
		if (size > 0) {
			sim2_put_le32(s->frame, SIM2_RECORD);
			sim2_put_le32(s->frame + 4, (uint32_t)size);
			err = sim2_send_all(s, s->frame, SIM2_FRAME + size);
		} else if (state == V2_STATE_STOP_COPY) {
			sim2_put_le32(s->frame, SIM2_END);
			sim2_put_le32(s->frame + 4, 0);
			sim2_send_all(s, s->frame, SIM2_FRAME);
			break;
		} else if (sim2_idle(s, SIM2_IDLE_MS)) {
			break;
		}
	}
	pthread_mutex_lock(&s->lock);
	sim2_writer_close(s);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static void
sim2_stream_error(struct sim_v2 *s, const char *why)
{
	if (s->stream_error[0] == '\0')
		snprintf(s->stream_error, sizeof(s->stream_error), "%s", why);
}

/* One complete unit of the resume stream in s->frame[0, len). Returns the
 * next phase and how many bytes it wants. */
static enum sim2_phase
sim2_load_unit(struct sim_v2 *s, enum sim2_phase ph, uint32_t len, uint32_t *want)
{
	const uint8_t *p = s->frame;
	uint32_t kind, flen;
	int err;

	*want = SIM2_FRAME;
	switch (ph) {
	case PH_HEADER:
		if (sim2_get_le32(p) != SIM2_MAGIC || sim2_get_le32(p + 4) != SIM2_VERSION) {
			sim2_stream_error(s, "not a sim-v2 stream (bad magic or version)");
			return PH_DISCARD;
		}
		if (sim2_get_le64(p + 8) != s->image_size) {
			sim2_stream_error(s, "stream of a device of another size");
			return PH_DISCARD;
		}
		return PH_FRAME;
	case PH_FRAME:
		kind = sim2_get_le32(p);
		flen = sim2_get_le32(p + 4);
		if (s->end_seen) {
			sim2_stream_error(s, "data after the END frame");
			return PH_DISCARD;
		}
		if (kind == SIM2_END && flen == 0) {
			s->end_seen = 1;
			return PH_FRAME;
		}
		if (kind != SIM2_RECORD || flen == 0 || flen > s->section_size) {
			sim2_stream_error(s, "bad frame header");
			return PH_DISCARD;
		}
		*want = flen;
		return PH_PAYLOAD;
	case PH_PAYLOAD:
		pthread_mutex_lock(&s->lock);
		err = v1_resume_write(&s->v1, p, len);
		if (err == 0)
			err = v1_resume_commit(&s->v1);
		pthread_mutex_unlock(&s->lock);
		if (err != 0) {
			sim2_stream_error(s, "the core refused a record");
			return PH_DISCARD;
		}
		return PH_FRAME;
	case PH_DISCARD:
		break;
	}
	*want = s->section_size;
	return PH_DISCARD;
}

/* Resuming: parse and apply the stream until end of stream, or, once told
 * to stop, until what was written so far is consumed. A bad stream is
 * still drained, so the writer never blocks on a device that gave up. */
static void *
sim2_loader(void *arg)
{
	struct sim_v2 *s = arg;
	struct pollfd pfd[2] = {{s->fd, POLLIN, 0}, {s->wake[0], POLLIN, 0}};
	enum sim2_phase ph = PH_HEADER;
	uint32_t want = SIM2_HEADER, got = 0;
	int draining = 0;
	ssize_t n;

	for (;;) {
		if (!draining) {
			if (poll(pfd, 2, -1) < 0 && errno != EINTR)
				break;
			draining = (pfd[1].revents & POLLIN) != 0;
		}
		n = recv(s->fd, s->frame + (ph == PH_DISCARD ? 0 : got),
		    ph == PH_DISCARD ? s->section_size : want - got, MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR || (errno == EAGAIN && !draining))
				continue;
			if (errno != EAGAIN)
				sim2_stream_error(s, "reading the data fd failed");
			break;
		}
		if (ph == PH_DISCARD)
			continue;
		got += (uint32_t)n;
		if (got == want) {
			ph = sim2_load_unit(s, ph, want, &want);
			got = 0;
		}
	}
	s->partial = ph != PH_FRAME || got != 0;
	return NULL;
}

static void
sim2_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Our ends of a session not (or no longer) served by a worker. */
static void
sim2_close_ends(struct sim_v2 *s)
{
	sim2_close_fd(&s->fd);
	sim2_close_fd(&s->wfd);
	sim2_close_fd(&s->keep);
	sim2_close_fd(&s->wake[0]);
	sim2_close_fd(&s->wake[1]);
}

/* Saving: a pipe (user: its read end); resuming: a socketpair. sv[1] is
 * the user's. */
static int
sim2_session_fds(struct sim_v2 *s, int saving, int sv[2])
{
	int err;

	if (!saving)
		return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 ? -errno : 0;
	if (pipe2(sv, O_CLOEXEC) != 0)
		return -errno;
	/* A pipe's read end is [0]: the user's. */
	s->wfd = sv[1];
	sv[1] = sv[0];
	sv[0] = -1;
	s->keep = fcntl(sv[1], F_DUPFD_CLOEXEC, 0);
	if (s->keep < 0 || fcntl(s->wfd, F_SETFL, O_NONBLOCK) != 0) {
		err = -errno;
		close(sv[1]);
		return err; /* the caller closes ours */
	}
	/* Best effort: a smaller pipe only makes the worker wait more. */
	fcntl(s->wfd, F_SETPIPE_SZ, SIM2_PIPE_SIZE);
	return 0;
}

static int
sim2_start_session(struct sim_v2 *s, int saving, int *user_fd)
{
	int sv[2] = {-1, -1}, err;

	if (pipe2(s->wake, O_CLOEXEC) != 0)
		return -errno;
	if ((err = sim2_session_fds(s, saving, sv)) != 0) {
		sim2_close_ends(s);
		return err;
	}
	s->fd = sv[0];
	s->end_seen = s->partial = 0;
	s->stream_error[0] = '\0';
	s->produced = 0;
	s->initial_saved = s->final_saved = 0;
	/* The stream header is owed from the first instant. */
	s->inflight = saving ? SIM2_HEADER : 0;
	if ((err = pthread_create(&s->worker, NULL, saving ? sim2_saver : sim2_loader, s)) != 0) {
		close(sv[1]);
		sim2_close_ends(s);
		return -err;
	}
	s->worker_running = 1;
	s->user_fd = sv[1];
	*user_fd = sv[1];
	return 0;
}

/* Stop the worker (it finishes what it was given first) and close our end. */
static void
sim2_end_session(struct sim_v2 *s)
{
	if (!s->worker_running)
		return;
	if (write(s->wake[1], "x", 1) != 1)
		log_warn("sim %s: waking the session's worker", s->name);
	pthread_join(s->worker, NULL);
	/* Under the lock: the device's JSON asks for MIG_DATA_SIZE from the
	 * event loop while the device's thread may be ending the session. */
	pthread_mutex_lock(&s->lock);
	s->worker_running = 0;
	s->user_fd = -1;
	sim2_close_ends(s);
	s->inflight = 0;
	pthread_mutex_unlock(&s->lock);
}

/* RESUMING -> STOP: was the whole stream there, and good? */
static int
sim2_check_resume(struct sim_v2 *s)
{
	const char *why = s->stream_error[0] != '\0' ? s->stream_error
	    : s->partial			 ? "the stream stops inside its header or a frame"
	    : !s->end_seen			 ? "the stream ends without its END frame"
	    : s->fail_load			 ? "fail_load is set"
						 : NULL;

	if (why == NULL)
		return 0;
	log_warnx("sim %s: resume rejected: %s; device in error state", s->name, why);
	return -EINVAL;
}

static int
sim2_core_set(struct sim_v2 *s, uint32_t to)
{
	uint32_t want = sim2_core_state(to);
	int err = 0;

	pthread_mutex_lock(&s->lock);
	if (want == VFIO_DEVICE_STATE_RESUMING)
		err = v1_start_resume(&s->v1);
	else if (want != s->v1.state)
		err = v1_set_state(&s->v1, want);
	pthread_mutex_unlock(&s->lock);
	return err;
}

/* A state change blocks like a slow firmware: transition_delay_ms each, and
 * MLX5's RESUMING -> STOP, where mlx5 loads and checks the image, 2 s
 * unless that is set. */
static void
sim2_transition_delay(struct sim_v2 *s, uint32_t from, uint32_t to)
{
	uint32_t ms = s->delay_ms;
	struct timespec ts;

	if (ms == 0 && s->model == SIM_V2_MLX5 && from == V2_STATE_RESUMING && to == V2_STATE_STOP)
		ms = SIM_V2_MLX5_RESUME_MS;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Entering STOP_COPY: the stream goes on to its END, so the reader must
 * not see the temporary end of stream pre-copy may have left. */
static int
sim2_enter_stop_copy(struct sim_v2 *s)
{
	int err;

	pthread_mutex_lock(&s->lock);
	s->state = V2_STATE_STOP_COPY;
	err = s->worker_running ? sim2_writer_open(s) : 0;
	pthread_mutex_unlock(&s->lock);
	return err;
}

static int
sim2_set_state(struct v2_device *d, uint32_t to, int *data_fd)
{
	struct sim_v2 *s = d->priv;
	uint32_t from = s->state;
	int opens, err;

	*data_fd = -1;
	/* The uAPI's FSM has an arc from each state to itself: nothing to
	 * do, no new session (ERROR is never a state to set). */
	if (to == from && to != V2_STATE_ERROR && v2_state_supported(to, s->flags))
		return 0;
	if (!v2_fsm_arc(from, to, s->flags))
		return -EINVAL;
	sim2_transition_delay(s, from, to);
	if (s->refuse_armed && s->refuse_from == from && s->refuse_to == to) {
		s->refuse_armed = 0;
		if (s->refuse_into_error) {
			sim2_end_session(s);
			sim2_enter(s, V2_STATE_ERROR);
		}
		return s->refuse_err;
	}
	opens = (v2_state_is_saving(to) && !v2_state_is_saving(from)) ||
	    to == V2_STATE_RESUMING;
	if ((v2_state_is_saving(from) && !v2_state_is_saving(to)) || from == V2_STATE_RESUMING) {
		sim2_end_session(s);
		if (from == V2_STATE_RESUMING && (err = sim2_check_resume(s)) != 0) {
			sim2_enter(s, V2_STATE_ERROR);
			return err;
		}
	}
	if ((err = sim2_core_set(s, to)) != 0) {
		sim2_end_session(s);
		sim2_enter(s, V2_STATE_ERROR);
		return -EIO;
	}
	if (to == V2_STATE_STOP_COPY && (err = sim2_enter_stop_copy(s)) != 0) {
		log_warnx("sim %s: reopening the data fd's pipe: %s", s->name, strerror(-err));
		sim2_end_session(s);
		sim2_enter(s, V2_STATE_ERROR);
		return -EIO;
	}
	sim2_enter(s, to);
	if (!opens)
		return 0;
	if (v2_state_is_saving(to)) {
		/* MLX5 counts only the header until its SAVE completes. */
		pthread_mutex_lock(&s->lock);
		err = s->model == SIM_V2_MLX5 ? 0 : v1_pending_bytes(&s->v1, &s->initial_total);
		pthread_mutex_unlock(&s->lock);
		if (err != 0 || s->model == SIM_V2_MLX5)
			s->initial_total = 0;
		s->initial_total += SIM2_HEADER;
		s->initial_left = s->initial_total;
	}
	if ((err = sim2_start_session(s, v2_state_is_saving(to), data_fd)) != 0) {
		log_warnx("sim %s: starting a data session: %s", s->name, strerror(-err));
		sim2_enter(s, V2_STATE_ERROR);
		return err;
	}
	return 0;
}

static int
sim2_get_state(struct v2_device *d, uint32_t *state)
{
	*state = ((struct sim_v2 *)d->priv)->state;
	return 0;
}

static int
sim2_get_flags(struct v2_device *d, uint64_t *flags)
{
	*flags = ((struct sim_v2 *)d->priv)->flags;
	return 0;
}

static int
sim2_precopy_info(struct v2_device *d, int data_fd, uint64_t *initial, uint64_t *dirty)
{
	struct sim_v2 *s = d->priv;
	uint64_t core = 0, total, consumed, produced, initial_total;
	int unread = 0, saving, err;

	if (s->state != V2_STATE_PRE_COPY && s->state != V2_STATE_PRE_COPY_P2P)
		return -EINVAL;
	/* The ioctl is the data fd's: any other fd is not this driver's. */
	if (data_fd != s->user_fd)
		return -ENOTTY;
	/* Under the lock the worker writes and counts under: one snapshot.
	 * The reader may take bytes meanwhile; that only makes `consumed`
	 * late, never early. */
	pthread_mutex_lock(&s->lock);
	err = v1_pending_bytes(&s->v1, &core);
	if (ioctl(data_fd, FIONREAD, &unread) != 0 || unread < 0)
		unread = 0;
	total = core + s->inflight + (uint64_t)unread;
	produced = s->produced;
	initial_total = s->initial_total;
	saving = s->model == SIM_V2_MLX5 && !s->initial_saved;
	pthread_mutex_unlock(&s->lock);
	if (err != 0)
		return err;
	consumed = produced > (uint64_t)unread ? produced - (uint64_t)unread : 0;
	/* MLX5 while its SAVE runs: the header is all it knows of. */
	if (saving) {
		*initial = SIM2_HEADER > consumed ? SIM2_HEADER - consumed : 0;
		*dirty = 0;
		return 0;
	}
	/* The uAPI wants initial_bytes only ever to decrease, so it does (but
	 * for MLX5's SAVE completing, which resets initial_left). */
	*initial = initial_total > consumed ? initial_total - consumed : 0;
	if (*initial > total)
		*initial = total;
	pthread_mutex_lock(&s->lock);
	if (*initial > s->initial_left)
		*initial = s->initial_left;
	s->initial_left = *initial;
	pthread_mutex_unlock(&s->lock);
	*dirty = total - *initial;
	return 0;
}

/* MIG_DATA_SIZE: what STOP_COPY would move if entered now. UAPI while
 * saving: what the core, the worker and the pipe hold, and END; otherwise,
 * and for MLX5 and NO_PRECOPY always (mlx5vf_pci_get_data_size() reports
 * the device's whole state), the stream of the whole image. */
static int
sim2_stop_copy_size(struct v2_device *d, uint64_t *bytes)
{
	struct sim_v2 *s = d->priv;
	uint64_t pages = s->image_size / SIM_V1_STATE_PAGE, per, records, core = 0;
	int unread = 0, err = 0;

	pthread_mutex_lock(&s->lock);
	if (s->model == SIM_V2_UAPI && v2_state_is_saving(s->state)) {
		if (s->keep < 0 || ioctl(s->keep, FIONREAD, &unread) != 0 || unread < 0)
			unread = 0;
		err = v1_pending_bytes(&s->v1, &core);
		*bytes = core + s->inflight + (uint64_t)unread + SIM2_FRAME;
		pthread_mutex_unlock(&s->lock);
		return err;
	}
	pthread_mutex_unlock(&s->lock);
	per = (s->section_size - SIM2_CORE_HEADER) / SIM2_CORE_ENTRY;
	records = (pages + per - 1) / per;
	*bytes = SIM2_HEADER + pages * SIM2_CORE_ENTRY +
	    records * (SIM2_CORE_HEADER + SIM2_FRAME) + SIM2_FRAME;
	return 0;
}

static int
sim2_reset(struct v2_device *d)
{
	struct sim_v2 *s = d->priv;
	int err;

	sim2_end_session(s);
	pthread_mutex_lock(&s->lock);
	err = v1_reset(&s->v1);
	pthread_mutex_unlock(&s->lock);
	s->logging = 0;
	sim2_enter(s, err == 0 ? V2_STATE_RUNNING : V2_STATE_ERROR);
	return err;
}

static int
sim2_log_start(struct v2_device *d, uint64_t iova, uint64_t length, uint64_t *page_size)
{
	struct sim_v2 *s = d->priv;

	if (s->guest_size == 0)
		return -ENOTSUP;
	if (s->logging || iova > s->guest_size || length > s->guest_size - iova)
		return -EINVAL;
	*page_size = SIM_V1_GUEST_PAGE;
	s->logging = 1;
	return 0;
}

static int
sim2_log_report(struct v2_device *d, uint64_t iova, uint64_t length, uint64_t page_size,
    uint64_t *bitmap)
{
	struct sim_v2 *s = d->priv;
	uint64_t npages = length / SIM_V1_GUEST_PAGE, dirty, i;
	uint8_t *raw;
	int err;

	if (!s->logging || page_size != SIM_V1_GUEST_PAGE || iova % page_size != 0 ||
	    length % page_size != 0)
		return -EINVAL;
	/* The core's log is read only in its saving states. Before them (a
	 * device without PRE_COPY stays RUNNING through the daemon's
	 * pre-copy) nothing is reported, and nothing is lost: entering a
	 * saving state makes every guest page dirty, so the first report
	 * there covers them all. */
	if (!v2_state_is_saving(s->state))
		return 0;
	raw = xcalloc(1, (size_t)(npages + 7) / 8 + 1);
	pthread_mutex_lock(&s->lock);
	err = v1_dirty_bitmap(&s->v1, iova / page_size, page_size, npages, raw, &dirty);
	pthread_mutex_unlock(&s->lock);
	for (i = 0; err == 0 && i < npages; i++)
		if (raw[i / 8] & (1u << (i % 8)))
			bitmap[i / 64] |= 1ull << (i % 64);
	free(raw);
	return err;
}

static int
sim2_log_stop(struct v2_device *d)
{
	struct sim_v2 *s = d->priv;

	if (!s->logging)
		return -EINVAL;
	s->logging = 0;
	return 0;
}

static const struct v2_device_ops sim2_ops = {
	.get_flags = sim2_get_flags,
	.get_state = sim2_get_state,
	.set_state = sim2_set_state,
	.precopy_info = sim2_precopy_info,
	.stop_copy_size = sim2_stop_copy_size,
	.reset = sim2_reset,
	.log_start = sim2_log_start,
	.log_report = sim2_log_report,
	.log_stop = sim2_log_stop,
};

static const char *const sim2_model_names[] = {
	[SIM_V2_UAPI] = "uapi",
	[SIM_V2_MLX5] = "mlx5",
	[SIM_V2_NO_PRECOPY] = "no-precopy",
};

int
sim_v2_model_parse(const char *name)
{
	size_t i;

	if (name == NULL)
		return SIM_V2_UAPI;
	for (i = 0; i < sizeof(sim2_model_names) / sizeof(sim2_model_names[0]); i++)
		if (strcmp(name, sim2_model_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *
sim_v2_model_name(enum sim_v2_model model)
{
	return model <= SIM_V2_NO_PRECOPY ? sim2_model_names[model] : "invalid";
}

int
sim_v2_open(const struct sim_v2_config *cfg, struct sim_v2 **out)
{
	const char *name = cfg->core.name != NULL ? cfg->core.name : "sim";
	struct sim_v1_config core = cfg->core;
	uint64_t flags = cfg->flags;
	struct sim_v2 *s;
	size_t len;
	int err;

	if (flags == 0)
		flags = V2_MIG_STOP_COPY | V2_MIG_P2P |
		    (cfg->model != SIM_V2_NO_PRECOPY ? V2_MIG_PRE_COPY : 0);
	if (!(flags & V2_MIG_STOP_COPY)) {
		log_warnx("sim %s: a v2 device must offer STOP_COPY", name);
		return -EINVAL;
	}
	if (cfg->model > SIM_V2_NO_PRECOPY ||
	    (cfg->model == SIM_V2_NO_PRECOPY && (flags & V2_MIG_PRE_COPY))) {
		log_warnx("sim %s: driver model %s cannot offer PRE_COPY", name,
		    sim_v2_model_name(cfg->model));
		return -EINVAL;
	}
	s = xcalloc(1, sizeof(*s));
	s->name = xstrdup(name);
	len = strlen(name) + 6;
	s->core_name = xmalloc(len);
	snprintf(s->core_name, len, "%s/core", name);
	core.name = s->core_name;
	s->flags = flags & (V2_MIG_STOP_COPY | V2_MIG_P2P | V2_MIG_PRE_COPY);
	s->model = cfg->model;
	s->delay_ms = cfg->transition_delay_ms;
	s->fail_load = cfg->fail_load;
	s->save_ms = cfg->save_ms != 0 ? cfg->save_ms : SIM_V2_MLX5_SAVE_MS;
	s->fd = s->wfd = s->keep = s->user_fd = -1;
	s->wake[0] = s->wake[1] = -1;
	pthread_mutex_init(&s->lock, NULL);
	if ((err = sim_v1_open(&core, &s->core)) != 0)
		goto fail;
	if ((err = v1_attach(&s->v1, sim_v1_region(s->core), s->core_name)) != 0)
		goto fail;
	s->image_size = cfg->core.size;
	s->section_size = (uint32_t)(s->v1.data_capacity);
	sim_v1_guest_memory(s->core, &s->guest_size);
	s->frame = xmalloc(SIM2_FRAME + s->section_size);
	s->state = V2_STATE_RUNNING;
	s->dev.ops = &sim2_ops;
	s->dev.priv = s;
	s->dev.dirty_tracking = s->guest_size > 0 ? "device DMA logging" : NULL;
	snprintf(s->compat, sizeof(s->compat), "%s", sim_v1_compat(s->core));
	*out = s;
	return 0;
fail:
	sim_v2_close(s);
	return err;
}

void
sim_v2_close(struct sim_v2 *s)
{
	if (s == NULL)
		return;
	sim2_end_session(s);
	sim_v1_close(s->core);
	pthread_mutex_destroy(&s->lock);
	free(s->frame);
	free(s->core_name);
	free(s->name);
	free(s);
}

struct v2_device *
sim_v2_device(struct sim_v2 *s)
{
	return &s->dev;
}

void
sim_v2_tick(struct sim_v2 *s, uint64_t elapsed_ns)
{
	pthread_mutex_lock(&s->lock);
	sim_v1_tick(s->core, elapsed_ns);
	pthread_mutex_unlock(&s->lock);
}

uint32_t
sim_v2_state(const struct sim_v2 *s)
{
	return s->state;
}

const char *
sim_v2_identity(const struct sim_v2 *s)
{
	return "sim-v2";
}

const char *
sim_v2_compat(const struct sim_v2 *s)
{
	return s->compat;
}

const uint8_t *
sim_v2_image(const struct sim_v2 *s, uint64_t *size)
{
	return sim_v1_image(s->core, size);
}

uint8_t *
sim_v2_guest_memory(struct sim_v2 *s, uint64_t *size)
{
	return sim_v1_guest_memory(s->core, size);
}

void
sim_v2_refuse(struct sim_v2 *s, uint32_t from, uint32_t to, int err, int into_error)
{
	s->refuse_armed = 1;
	s->refuse_from = from;
	s->refuse_to = to;
	s->refuse_err = err;
	s->refuse_into_error = into_error;
}
