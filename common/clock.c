/*
 * clock.c: monotonic time (clock.h).
 */
#include "clock.h"

#include <time.h>

uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t
mono_ms_since(uint64_t from_ns)
{
	return (mono_ns() - from_ns + 500000u) / 1000000u;
}
