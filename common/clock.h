/*
 * clock.h: the monotonic clock every duration in the daemon is measured
 * with. Never the wall clock: that one jumps.
 */
#ifndef MIG_CLOCK_H
#define MIG_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t mono_ns(void);
/* Milliseconds from from_ns (mono_ns()) until now, to the nearest. */
uint64_t mono_ms_since(uint64_t from_ns);

#endif
