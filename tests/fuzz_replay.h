/*
 * fuzz_replay.h: replays a fuzz target's committed corpus in a plain Check
 * test, without clang or libFuzzer: each file goes through the target
 * linked into the test program, so every build proves the corpus still
 * runs clean. A broken invariant aborts inside the target, and Check
 * reports the test as killed by SIGABRT after the file's name.
 */
#ifndef MIG_FUZZ_REPLAY_H
#define MIG_FUZZ_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "fuzz/fuzz.h"

/* Called with a file's bytes once the target has run on them, so a test
 * can tally what its corpus covers. */
typedef void (*fuzz_replay_fn)(const char *name, const uint8_t *data, size_t size, void *arg);

/* Runs the file at path through LLVMFuzzerTestOneInput(), from a buffer of
 * exactly its size (the sanitizers see a read past its end), then calls
 * each (if not NULL). Fails the test when the file cannot be read whole or
 * is larger than max bytes. */
void fuzz_replay_file(const char *path, size_t max, fuzz_replay_fn each, void *arg);
/* The same for every file in dir but dot files; returns how many. */
int fuzz_replay_dir(const char *dir, size_t max, fuzz_replay_fn each, void *arg);

#endif
