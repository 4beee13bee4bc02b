/*
 * fuzz_handover.c: libFuzzer target for the hand-over socket's requests
 * (daemon/handover.h: handover_request()), what a VMM's agent sends the
 * daemon, one JSON object per message.
 *
 * Each input is handed over three times: alone, with one file descriptor
 * that is not a VFIO device (a pipe), and with two (a device's and a
 * container's, as "fds" may name them: pipes). Whatever it holds, the
 * answer is one
 * JSON object, {"error":{"code","message"}} with non-empty strings (no
 * fd here is a device, so nothing can be attached, and the configured
 * device is no handed-over one to detach or re-range); the daemon keeps no
 * fd it was given, and its devices stay as they were.
 *
 * Also linked into tests/test_fuzz_handover, which replays
 * fuzz/corpus/handover in every `make check`: no main() here.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "config_file.h"
#include "daemon.h"
#include "device.h"
#include "fuzz.h"
#include "handover.h"
#include "log.h"

static struct handover_peer me;

/* One software device, "sim0", a name requests may use. */
static void
fuzz_handover_init(void)
{
	(void)fuzz_daemon_init("fuzz_handover");
	handover_init(daemon_ctx.base);
	me.uid = getuid();
	me.gid = getgid();
	me.pid = getpid();
}

/* No fd here is a vfio-user server's socket: no answer comes later. */
static void
never_later(void *ctx, json_t *answer)
{
	(void)ctx;
	json_decref(answer);
	FUZZ_CHECK(0);
}

/* The answer refuses, with a code and a message. */
static void
check_refused(json_t *a)
{
	json_t *err;

	FUZZ_CHECK(json_is_object(a));
	FUZZ_CHECK(json_object_get(a, "ok") == NULL);
	err = json_object_get(a, "error");
	FUZZ_CHECK(json_is_object(err));
	FUZZ_CHECK(json_is_string(json_object_get(err, "code")));
	FUZZ_CHECK(json_string_length(json_object_get(err, "code")) > 0);
	FUZZ_CHECK(json_is_string(json_object_get(err, "message")));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	int p[2], q[2], fds[2];
	json_t *a;

	if (!ready) {
		fuzz_handover_init();
		ready = 1;
	}
	a = handover_request(&me, data, size, NULL, 0, never_later, NULL);
	check_refused(a);
	json_decref(a);

	FUZZ_CHECK(pipe(p) == 0);
	fds[0] = p[0];
	a = handover_request(&me, data, size, fds, 1, never_later, NULL);
	check_refused(a);
	json_decref(a);
	/* Not a device: never kept (a kept fd is -1 here). */
	FUZZ_CHECK(fds[0] == p[0]);

	FUZZ_CHECK(pipe(q) == 0);
	fds[0] = p[0];
	fds[1] = q[0];
	a = handover_request(&me, data, size, fds, 2, never_later, NULL);
	check_refused(a);
	json_decref(a);
	/* Neither a device nor a container: neither kept. */
	FUZZ_CHECK(fds[0] == p[0] && fds[1] == q[0]);
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
	FUZZ_CHECK(device_count() == 1 && device_find("sim0") != NULL);
	return 0;
}
