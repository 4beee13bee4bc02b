/*
 * rate.c: a smoothed throughput estimate (rate.h).
 *
 * Owns only the arithmetic. It must never read a clock or a connection:
 * the caller does, so that the tests can hand it any sequence at all.
 */
#include "rate.h"

#include <string.h>

/* Weight of the old estimate against a new sample: a few ticks of a
 * slower pipe show, one odd tick does not swing the estimate. */
#define RATE_KEEP 0.7

void
rate_init(struct rate_est *r)
{
	memset(r, 0, sizeof(*r));
}

int
rate_sample(struct rate_est *r, uint64_t now_ns, uint64_t counter, int busy)
{
	double sample;
	int took = 0;

	if (r->has_base && busy && now_ns > r->last_ns && counter >= r->last_count) {
		sample = (double)(counter - r->last_count) * 1e9 / (double)(now_ns - r->last_ns);
		r->bytes_per_sec = r->samples == 0 ? sample :
		    RATE_KEEP * r->bytes_per_sec + (1.0 - RATE_KEEP) * sample;
		r->samples++;
		took = 1;
	}
	r->has_base = 1;
	r->last_ns = now_ns;
	r->last_count = counter;
	return took;
}

uint64_t
rate_bits_per_sec(const struct rate_est *r)
{
	return rate_clamp_u64(r->bytes_per_sec * 8.0);
}

uint64_t
rate_clamp_u64(double x)
{
	/* 2^64 is exact as a double; UINT64_MAX is not: it rounds up to 2^64. */
	if (!(x > 0))
		return 0;
	if (x >= 18446744073709551616.0)
		return UINT64_MAX;
	return (uint64_t)x;
}

uint64_t
stopcopy_estimate(struct stopcopy_est *e, uint64_t pending, uint64_t stop_copy_size,
    uint64_t precopy_read, int initial_read)
{
	uint64_t moved, shrunk;

	if (!e->has_first || precopy_read < e->first_read) {
		e->has_first = 1;
		e->first_size = stop_copy_size;
		e->first_read = precopy_read;
	}
	if (initial_read && !e->classified) {
		moved = precopy_read - e->first_read;
		shrunk = e->first_size > stop_copy_size ? e->first_size - stop_copy_size : 0;
		e->whole_state = moved > 0 && stop_copy_size > 0 && shrunk < moved / 2;
		e->classified = 1;
	}
	if (e->whole_state)
		return pending;
	return stop_copy_size > pending ? stop_copy_size : pending;
}

int
group_data_ms(const struct group_stream *s, unsigned n, uint64_t *ms)
{
	double rate = 0, own = 0, all;
	uint64_t left = 0;
	unsigned i;

	for (i = 0; i < n; i++) {
		if (s[i].rate <= 0) {
			if (s[i].left > 0)
				return -1;
			continue;
		}
		left += s[i].left;
		rate += s[i].rate;
		if ((double)s[i].left * 1000.0 / s[i].rate > own)
			own = (double)s[i].left * 1000.0 / s[i].rate;
	}
	if (rate <= 0)
		return -1;
	all = (double)left * 1000.0 / rate;
	*ms = rate_clamp_u64((all > own ? all : own) + 0.5);
	return 0;
}

int
group_round_verdict(struct group_round *r, uint64_t left, uint64_t pending, int data_known,
    uint64_t data_ms, uint64_t expected_ms, unsigned limit_ms)
{
	uint64_t prev = r->left;
	int first = !r->known;
	int small = data_known && data_ms <= limit_ms / 10;

	r->left = left;
	r->known = 1;
	if (!data_known)
		return left == 0 || pending == 0;
	if (pending == 0)
		return 1; /* nothing pre-copy can move: waiting cannot help */
	if (expected_ms > limit_ms)
		return 0;
	if (small)
		return 1;
	if (first)
		return 0; /* no round to compare with yet */
	/* Fits: a round that shrank it by a quarter or more earns another. */
	return left >= prev - prev / 4;
}
