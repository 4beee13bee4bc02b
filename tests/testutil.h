/*
 * testutil.h: what the unit tests share: one scratch directory under /tmp
 * per test program (made and removed by the parent process, so it goes
 * away even when a forked test dies), files in it, and a software device
 * configured inside it.
 */
#ifndef MIG_TESTUTIL_H
#define MIG_TESTUTIL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_v1.h"

/* Unchecked fixtures (they run in the parent): create and remove the
 * scratch directory and everything in it. */
void tu_scratch_setup(void);
void tu_scratch_teardown(void);

/* A new, empty, uniquely named directory inside the scratch directory. */
void tu_mkdir(char *out, size_t len);
void tu_path(char *out, size_t len, const char *dir, const char *name);
/* A file of size bytes that reads as zeros and takes no space. */
void tu_sparse_file(const char *path, uint64_t size);
/* Removes path and, for a directory, everything below it. */
int tu_rm_rf(const char *path);

/* A software device in its own directory: image `size` bytes, no guest
 * memory, no workload, default section. Adjust cfg before tu_sim_open(). */
struct tu_sim {
	char dir[PATH_MAX];
	char image[PATH_MAX];
	char guest[PATH_MAX];
	struct sim_v1_config cfg;
};

void tu_sim_config(struct tu_sim *s, const char *name, uint64_t size, uint64_t seed);
/* Adds guest memory (dir/NAME.ram) of size bytes. */
void tu_sim_guest(struct tu_sim *s, uint64_t size);
/* Opens the device, failing the test if it does not open. */
struct sim_v1 *tu_sim_open(struct tu_sim *s);

#endif
