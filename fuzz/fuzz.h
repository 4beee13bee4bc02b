/*
 * fuzz.h: what every libFuzzer target in fuzz/ shares: the entry point it
 * defines and the check that aborts on a broken invariant, naming it.
 *
 * The targets are also linked into plain Check tests that replay their
 * corpora (tests/fuzz_replay.h), so nothing here may need libFuzzer.
 */
#ifndef MIG_FUZZ_H
#define MIG_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* An abort, not an error return: libFuzzer saves the input that caused it,
 * and a replaying Check test reports the test as killed by SIGABRT. */
#define FUZZ_CHECK(cond)                                                                         \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                 \
		}                                                                                \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Targets of the daemon's own inputs (fuzz_daemon.c): the log quiet at
 * errors as name, one software device "sim0" configured and opened, the
 * event base in daemon_ctx; returns the device. Aborts when it cannot. */
struct mig_device;
struct mig_device *fuzz_daemon_init(const char *name);

#endif
