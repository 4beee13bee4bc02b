/*
 * source_engine.h: the source engine's state, shared by its files and by
 * nothing else: source.c (the protocol and the life of a migration),
 * source_switchover.c (when and how it switches over) and source_send.c
 * (what goes on the wire: DATA parts, dirty bitmaps, the bandwidth cap).
 * Private: no other module includes it.
 */
#ifndef MIG_SOURCE_ENGINE_H
#define MIG_SOURCE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include <event2/util.h>

#include "digest.h"
#include "frame.h"
#include "migration.h"
#include "rate.h"
#include "states.h"

struct device_call;
struct evbuffer;
struct event;
struct mig_device;
struct peer_conn;

#define SRC_RETRY_MS 10		/* device had nothing: look again after */
#define SRC_TICK_MS 100		/* figures, convergence, timeouts */
#define SRC_DRAIN_MAX_MS 2000	/* switch over anyway if the echo takes longer */
#define SRC_PROGRESS_MS 500	/* progress events to watchers */
#define SRC_BM_WINDOW 32768	/* pages asked of the device at once */
#define SRC_MIN_PART 16384	/* smallest DATA part under a bandwidth cap */
#define SRC_BURST_MS 10		/* the cap's bucket holds this much sending */
#define SRC_RATE_MIN_SAMPLES 2	/* throughput samples before trusting it */

/* Our KEEPALIVE probes have the top bit set (peer.c's own count up from 1
 * without it). The drain probes count up from there; the round-trip probe
 * has bit 62 set too, so that neither is ever taken for the other. */
#define SRC_RTT_PROBE_NONCE ((1ull << 63) | (1ull << 62))

struct source_engine;

/* The device's mapped data section, lent to the output buffers of the
 * channels: refs counts the DATA parts still referencing it. It outlives
 * the engine when a failed migration's connections linger with data. */
struct src_lend {
	unsigned refs;
	struct source_engine *s; /* NULL once the engine is gone */
};

/* One TLS connection of a migration; channel 0 carries the conversation
 * (HELLO, END, COMMIT), every channel carries DATA and BITMAP frames. */
struct src_channel {
	struct source_engine *s;
	struct peer_conn *c;
	unsigned idx;
	int acked;	 /* HELLO-ACK received */
	uint64_t hello_sent_ns;
	/* What its connection counted before it closed: the engine's totals
	 * must not go back when a connection goes. */
	uint64_t sent_base, queued_base;
};

struct src_bm_query;
struct src_pack;

/* The device's figures, asked on its thread right after each record
 * (src_op_save_next), so that the loop never waits for them (mlx5's
 * PRECOPY_INFO waits for a SAVE in flight). A call owns its copy. */
struct src_figures {
	int want_sc; /* in: ask for the stop-copy size too (pre-copy) */
	int pending_ok, initial_ok, sc_ok;
	uint64_t pending, initial_left, sc;
};

struct source_engine {
	struct migration *m;
	struct mig_device *dev;
	struct peer_conn *c; /* channel 0, NULL once closed */
	struct src_channel ch[MIG_CHANNELS_MAX];
	unsigned nch;
	enum src_state st;
	char token[MIG_TOKEN_MAX + 1];
	/* The device's thread works for us (device_worker.h): nothing else
	 * touches the device until it answers. */
	struct device_call *dev_call;
	int dev_touched; /* it was asked to save: a failure rolls it back */
	int exiting;	 /* cancelled by this daemon's exit (MIG_E_SHUTDOWN) */
	/* One device of several lost its connection after END: another
	 * device's COMMIT may still cover it (group.c decides). */
	int orphaned;
	/* One device of several, in SRC_GROUP_WAIT: it is at a record
	 * boundary, nothing of it out with TLS by reference, so that its
	 * quiesce (in the downtime) waits for nothing. */
	int group_ready;
	int fail_code;	 /* what the migration ends with, once rolled back */
	char fail_msg[512];
	uint32_t resume_ms; /* from COMMIT, for the last log line */
	/* Switchover acknowledgement (MIG_CAP_SWITCHOVER_ACK, PROTOCOL.md
	 * §2.7): the device's initial data is marked by an empty DATA frame
	 * (initial_done_seq); no switchover before the destination has said
	 * it loaded it. A switchover asked for meanwhile waits (wanted). */
	int initial_done_sent, switchover_acked, switchover_wanted;
	uint64_t initial_done_seq;
	/* What stop-copy will move by the device's figures (rate.h,
	 * stopcopy_estimate: at least pending_bytes), and the device bytes
	 * pre-copy has read, which tell a size that counts the whole state. */
	uint64_t stop_copy_bytes;
	/* The last figures back from the device's thread (valid: any came),
	 * and those of the call out. */
	struct src_figures fig, *fig_call;
	struct src_bm_query *bm_call; /* a window of the dirty bitmap, asked */
	int fig_valid;
	struct stopcopy_est sc_est;
	uint64_t precopy_read;
	/* The part of the expected downtime that moving data takes (without
	 * the device's learned extra), now and as it was at the switchover. */
	uint64_t expected_data_ms, switchover_data_ms;
	int expected_data_known, switchover_data_known;
	int stop_copy_over_logged, extra_over_logged;
	uint64_t caps;

	uint64_t seq;
	int in_record;
	uint64_t rec_size, rec_off;
	/* END's digest, agreed in HELLO_ACK from what we offered. */
	uint64_t digests_offered; /* MIG_CAP_DIGEST_* */
	struct mig_digest digest;
	struct src_pack *pack; /* DATA packed (source_pack.c); NULL: as it is */
	const uint8_t *mapped; /* the current record in the device's section */
	struct src_lend *lend;
	struct event *lend_back; /* the section is free again: pump */
	uint64_t total_bytes, total_chunks, total_pages;
	size_t high_water; /* stop reading the device above this much output */

	/* Dirty-bitmap pass over guest memory, one frame per pump step. */
	int bm_active, bm_final_done, bm_iter_done;
	uint64_t pass_bytes; /* device data and pages sent in this pass */
	unsigned passes_done; /* complete passes over the device's dirty state */
	uint64_t bm_cursor, bm_base, bm_n, bm_sub;
	uint8_t *bm_raw, *bm_enc, *bm_frame;
	size_t bm_enc_cap, bm_frame_cap;

	struct event *retry, *tick, *drain_timer;
	struct rate_est rate; /* of bytes handed to TLS, on a busy pipe */
	uint64_t precopy_start_ns;
	uint64_t last_converge_check_ns;
	uint64_t last_progress_ns;
	uint64_t budget; /* bytes the bandwidth cap allows right now */
	double bucket;	 /* src_bucket_refill(): may go below 0 */
	uint64_t bucket_ns, bucket_seen;
	/* Round trip, the smallest sample (src_rtt_sample): every HELLO, the
	 * round-trip probe, the drain probe. */
	double rtt_ms;
	unsigned rtt_samples;
	uint64_t rtt_probe_sent_ns; /* 0: no round-trip probe on its way */

	/* Draining the pipe before the switchover (MIG_CAP_ECHO): no new
	 * record is read until the destination has echoed a KEEPALIVE sent
	 * behind everything queued, so what the kernels' buffers held is
	 * across before the device stops, not during the downtime. */
	int echoed;	 /* the last drain ended with the echo: the pipe was empty */
	uint64_t probe_nonce, probe_sent_ns;
	uint64_t drain_ms; /* how long the drain took */
};

/* Pre-copy, switchover included: the device still runs. */
static inline int
src_device_running(const struct source_engine *s)
{
	return s->st >= SRC_STREAMING && s->st < SRC_STOPCOPY;
}

/* The drain probe is out: nothing new is read until it comes back. */
static inline int
src_draining(const struct source_engine *s)
{
	return s->st == SRC_DRAIN_INTENT || s->st == SRC_DRAINING;
}

/* source.c */
int src_set_state(struct source_engine *s, enum src_state to);
void src_pump(struct source_engine *s);
uint64_t src_bytes_sent(struct source_engine *s);
size_t src_output_length(struct source_engine *s);
void src_fail(struct source_engine *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
uint64_t src_bytes_queued(struct source_engine *s);

/* source_switchover.c */
/* Throughput the convergence decision may count on, bytes/s. */
double src_rate(struct source_engine *s);
/* Refresh pending bytes and the downtime that stopping now would cost. */
void src_update_estimate(struct source_engine *s);
/* A round trip: the request left at sent_ns, its answer is here. */
void src_rtt_sample(struct source_engine *s, uint64_t sent_ns, const char *what);
void src_check_convergence(struct source_engine *s);
void src_request_switchover(struct source_engine *s);
/* The destination has loaded the initial data (SWITCHOVER_ACK). */
void src_on_switchover_ack(struct source_engine *s);
/* Stop the device, at a record boundary (src_pump): its thread does. */
void src_stop_device(struct source_engine *s);
/* One of several devices: into its P2P state, at a record boundary. */
void src_quiesce_device(struct source_engine *s);
void src_drain_expired(evutil_socket_t fd, short what, void *arg);
void src_on_keepalive(void *arg, struct peer_conn *c, uint64_t nonce);

/* source_send.c */
/* TLS has taken a DATA part sent from the mapped section (arg: the lend). */
void src_lend_release(const void *data, size_t len, void *arg);
/* The next part of the current record onto c; 0, or -errno of the device. */
int src_send_data_part(struct source_engine *s, struct peer_conn *c);
/* The empty DATA frame that ends the device's initial data, onto c. */
int src_send_initial_done(struct source_engine *s, struct peer_conn *c);
/* Has the device's initial data (v2 initial_bytes) all been read? 1 for
 * a device without that notion. */
int src_initial_read(struct source_engine *s);
/* COMMIT came: learn what this switchover cost beyond its data. */
void src_learn_switchover(struct source_engine *s);
/* Has it moved, and been loaded when the destination acknowledges
 * (MIG_CAP_SWITCHOVER_ACK)? Until then no switchover. */
int src_initial_data_moved(struct source_engine *s);
/* The next step of a dirty-bitmap pass onto c; 0, or -errno. */
int src_bitmap_step(struct source_engine *s, struct peer_conn *c);
void src_bitmap_pass_start(struct source_engine *s);
int src_wants_bitmaps(const struct source_engine *s);
/* source_pack.c */
/* After HELLO_ACK: pack DATA if compression was agreed. 0 or -ENOMEM. */
int src_pack_start(struct source_engine *s);
void src_pack_free(struct source_engine *s);
/* Where a chunk of a device whose data section is not mapped is read. */
uint8_t *src_pack_buffer(struct source_engine *s);
/* The chunk data[0..len) as a packed DATA frame (seq s->seq) onto out, if
 * packing it pays: 1 when sent, 0 when it is to go as it is, -errno. */
int src_pack_send(struct source_engine *s, struct evbuffer *out, const uint8_t *data,
    uint32_t len, uint8_t phase, uint8_t flags);

/* Is the bandwidth cap spent for now? Then a retry is scheduled. */
int src_throttled(struct source_engine *s);
void src_schedule_retry(struct source_engine *s, uint64_t ms);

#endif
