/*
 * peer.h: one mutual-TLS connection to another vfio-migd, carrying frames.
 *
 * peer.c moves bytes and cuts them into frames (proto/frame.h); it knows
 * nothing of migrations. Whoever owns the connection (an engine, or the
 * listener until a HELLO names its migration) gets each frame through
 * struct peer_handler and sends frames with the peer_send_* calls.
 */
#ifndef MIG_PEER_H
#define MIG_PEER_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>

#include "frame.h"

struct peer_conn;

struct peer_handler {
	/* Outgoing connection: TLS is up and the peer is allowed. */
	void (*on_connected)(void *arg, struct peer_conn *c);
	/* One decoded frame. The handler may close the connection. */
	void (*on_frame)(void *arg, struct peer_conn *c, const struct mig_frame *f);
	/* Optional: a DATA frame whose payload (d->payload_len bytes) is still
	 * at the front of `in`, in place, to be read with evbuffer_peek() or
	 * taken with evbuffer_remove_buffer(); what is left of it is drained
	 * after the call. Saves copying every chunk once more. */
	void (*on_data)(void *arg, struct peer_conn *c, const struct mig_data *d,
	    struct evbuffer *in);
	/* Optional: a KEEPALIVE arrived (every frame before it has been
	 * handled). Without it KEEPALIVEs are dropped. */
	void (*on_keepalive)(void *arg, struct peer_conn *c, uint64_t nonce);
	/* The output buffer drained below its low-water mark. */
	void (*on_writable)(void *arg, struct peer_conn *c);
	/* The connection is gone (code: enum mig_err); c is freed after this. */
	void (*on_closed)(void *arg, struct peer_conn *c, int code, const char *msg);
};

/* Start listening on every configured address; -1 on failure (logged).
 * on_hello gets each HELLO on a connection nobody owns yet (the
 * destination engine finds whose token it is and takes the connection). */
typedef void (*peer_hello_fn)(struct peer_conn *c, const struct mig_frame *f);
int peer_listen_all(peer_hello_fn on_hello);
/* The addresses listened on, as bound (a configured port 0 resolved). */
size_t peer_listen_count(void);
const char *peer_listen_address(size_t i);
void peer_listen_close(void);
/* Exit: free every connection left (closing ones included). */
void peer_close_all(void);
/* Connect to "host:port". Returns NULL (and logs) if it cannot even start. */
struct peer_conn *peer_connect(const char *hostport, const struct peer_handler *h, void *arg,
    uint32_t write_lowat);
void peer_set_handler(struct peer_conn *c, const struct peer_handler *h, void *arg,
    uint32_t write_lowat);
/* Peer's certificate name and address, for logs and the migration object. */
const char *peer_name(const struct peer_conn *c);

struct evbuffer *peer_output(struct peer_conn *c);
size_t peer_output_length(struct peer_conn *c);
/* Bytes handed to TLS since the connection opened; never goes back. Up
 * to PEER_WRITE_BUFFER (256 KiB) of them may still wait, encrypted, in
 * the buffering BIO of an outgoing connection. */
uint64_t peer_bytes_sent(struct peer_conn *c);
/* Bytes ever queued for sending (sent or not yet); never goes back. */
uint64_t peer_bytes_queued(struct peer_conn *c);
void peer_send(struct peer_conn *c, const void *buf, size_t len);
void peer_send_error(struct peer_conn *c, int code, const char *msg);
void peer_send_keepalive(struct peer_conn *c, uint64_t nonce);
/* Close now, without calling on_closed. */
void peer_close(struct peer_conn *c);
/* Close once the output is flushed, without calling on_closed. */
void peer_close_after_flush(struct peer_conn *c);
/* Fail a connection: send ERROR, close after flush. */
void peer_abort(struct peer_conn *c, int code, const char *msg);
/* Bulk mode: let the kernel join small writes into full segments
 * (TCP_NODELAY off); leaving it sends what is held at once. */
void peer_set_bulk(struct peer_conn *c, int on);
/* Stop and restart reading (the destination's reorder buffer is full). */
void peer_pause_read(struct peer_conn *c);
void peer_resume_read(struct peer_conn *c);
/* Drop the handler: the connection no longer reports anything. */
void peer_detach(struct peer_conn *c);


#endif
