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

/*
 * What a device's stop-copy will move, from what it says while pre-copy
 * runs: `pending` (what pre-copy has still to read: v2 initial_bytes +
 * dirty_bytes) and `stop_copy_size` (v2 MIG_DATA_SIZE, 0 when the device
 * has none).
 *
 * The uAPI's MIG_DATA_SIZE is everything STOP_COPY would move if entered
 * now, which includes what pre-copy has not read yet: the two overlap, and
 * adding them counts that part twice; the larger of the two is the
 * estimate. Some drivers (mlx5) report their whole state instead, however
 * much pre-copy has already moved, and their stop-copy moves only what
 * changed since: there the size is a bound, not an estimate, and pending
 * is the estimate. The estimator tells them apart once, when the device's
 * initial data has been read: a size that did not shrink by half of what
 * pre-copy read since the first reading counts the whole state. (A device
 * that sends everything in stop-copy read nothing: its size stands.)
 */
struct stopcopy_est {
	int has_first, classified, whole_state;
	uint64_t first_size; /* stop_copy_size at the first reading */
	uint64_t first_read; /* pre-copy bytes read by then */
};

/* precopy_read: the device bytes pre-copy has read so far (a counter that
 * only grows); initial_read: the device's initial data has all been read
 * (the moment to classify). A fresh estimator is all zero. */
uint64_t stopcopy_estimate(struct stopcopy_est *e, uint64_t pending, uint64_t stop_copy_size,
    uint64_t precopy_read, int initial_read);

/*
 * Several devices switching over as one (group.c). Each device's stream:
 * what stopping now would move (left), and the rate its stream may count
 * on (<= 0: not measured).
 */
struct group_stream {
	uint64_t left;
	double rate;
};

/* The time to move what every device has left, in ms: the longer of the
 * sum at the sum of the rates (the streams share the daemons' CPU and the
 * link) and the longest of each device's own (a stream is no faster than
 * itself). -1 when it cannot be told: a device with data to move and no
 * rate measured, or no rate at all. */
int group_data_ms(const struct group_stream *s, unsigned n, uint64_t *ms);

/*
 * The switchover of several devices is judged at the end of each round of
 * passes (every device ended one since the round before), with what they
 * have left then. Fitting the limit is not enough: the devices share the
 * CPU and the link, so each pass is slower than one device's alone, and
 * the first round that fits comes with far more left than one device
 * would have. It waits while a round still shrinks what is left by a
 * quarter, unless the data is under a tenth of the limit already; a
 * plateau (the dirtying keeps up with the streams) ends the wait, and so
 * does nothing left for pre-copy (a device's fixed stop-copy data, which
 * waiting cannot shrink, even over the limit). The rounds shrink
 * geometrically, so the wait costs a few short passes.
 *
 * data_ms: group_data_ms(), or -1 (data_known 0); expected_ms adds the
 * round trip and the devices' learned switchover cost. Returns 1: switch
 * over now; 0: another round. r starts all zero.
 */
struct group_round {
	uint64_t left; /* at the end of the last round */
	int known;
};
int group_round_verdict(struct group_round *r, uint64_t left, uint64_t pending, int data_known,
    uint64_t data_ms, uint64_t expected_ms, unsigned limit_ms);

#endif
