/*
 * rate.h: a throughput estimate from a byte counter read at intervals.
 *
 * Pure arithmetic: no clock, no event loop, no globals. The caller reads
 * its clock and its counter and hands both over. A sample is taken only
 * when the counter moved forward over time that moved forward too: a
 * counter that went back, or a clock that did not move, starts a new
 * baseline and never becomes a sample (an unsigned difference gone
 * negative would be a throughput of exabytes per second).
 */
#ifndef MIG_RATE_H
#define MIG_RATE_H

#include <stdint.h>

struct rate_est {
	int has_base;		  /* last_ns and last_count hold a reading */
	uint64_t last_ns, last_count;
	double bytes_per_sec;	  /* smoothed; 0 before the first sample */
	unsigned samples;	  /* samples taken so far */
};

/* A fresh estimator (all zero is one too). */
void rate_init(struct rate_est *r);
/*
 * The counter read at now_ns. busy: the pipe had bytes waiting to go, so
 * the counter's progress measures the pipe and not how fast we fed it;
 * an idle interval only moves the baseline. Returns 1 if a sample was
 * taken.
 */
int rate_sample(struct rate_est *r, uint64_t now_ns, uint64_t counter, int busy);
/* The estimate in bits per second, clamped to what a uint64_t holds. */
uint64_t rate_bits_per_sec(const struct rate_est *r);
/* x as a uint64_t: 0 for a negative number or NaN, UINT64_MAX beyond
 * the range. A plain cast of such a double is undefined behaviour. */
uint64_t rate_clamp_u64(double x);

#endif
