/*
 * peer.c: mutual-TLS connections between daemons, and the frames on them.
 *
 * Owns the listeners, the bufferevents, TLS verification of the peer,
 * keepalives and timeouts, and cutting the byte stream into frames. A frame
 * is decoded in place in the input buffer and handed to the connection's
 * handler; nothing here interprets a frame beyond its syntax, except that a
 * HELLO on a connection nobody owns is given to the hello handler that
 * peer_listen_all() was given.
 */
#include "peer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <netdb.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "config_file.h"
#include "daemon.h"
#include "errors.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "tls.h"
#include "xmalloc.h"

#define PEER_CLOSE_GRACE_MS 5000
#define PEER_MAX_SINGLE_IO (1u << 20)
#define PEER_WRITE_BUFFER (256u << 10) /* TLS records joined into one send() */
#define PEER_READ_BUFFER (128u << 10)  /* TLS records taken in by one recv() */

struct peer_conn {
	struct bufferevent *bev;
	const struct peer_handler *h;
	void *arg;
	char name[300];
	int outgoing;
	int tls_up;
	int closing; /* close once output is flushed */
	int in_callback;
	int dead; /* free when the callback returns */
	int unauthenticated; /* accepted, no HELLO yet: counts against the cap */
	unsigned long tls_err; /* first OpenSSL error of a failed handshake */
	int paused;	     /* the owner stopped reading (peer_pause_read) */
	int half_closed;     /* lingering: our side shut down for writing */
	int bulk;	     /* peer_set_bulk(): Nagle on */
	int read_ahead;	     /* incoming, TLS up: peer_kick_read() */
	BIO *wbuf;	     /* outgoing: buffering BIO the TLS records go through */
	struct event *flush_ev; /* the socket is writable: flush wbuf */
	struct event *keepalive;
	struct event *deadline; /* handshake deadline, then close grace */
	uint64_t added;		/* bytes ever added to the output buffer */
	uint64_t drained;	/* ... and ever taken out of it, into TLS */
	struct evbuffer_cb_entry *count_cb; /* peer_count_added on the output */
	uint64_t nonce;
	struct peer_conn *prev, *next; /* every connection, for shutdown */
};

static struct peer_conn *all_conns;

static struct evconnlistener **listeners;
static char **listen_bound; /* "host:port" each listener is bound to */
static size_t nlisteners;
static struct evdns_base *dns_base;
static unsigned unauthenticated_count;
static peer_hello_fn hello_handler;

static void peer_free(struct peer_conn *c);
static void peer_lost_frame(struct peer_conn *c, int err);

const char *
peer_name(const struct peer_conn *c)
{
	return c->name;
}

struct evbuffer *
peer_output(struct peer_conn *c)
{
	return bufferevent_get_output(c->bev);
}

/* Frames not yet encrypted, and records encrypted but not yet sent. */
size_t
peer_output_length(struct peer_conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev)) +
	    (c->wbuf != NULL ? (size_t)BIO_wpending(c->wbuf) : 0);
}

static void peer_half_close(struct peer_conn *c);
static void peer_kick_read(struct peer_conn *c);

/*
 * OpenSSL sends each 16 KiB record with a send() of its own: 65536 system
 * calls per GiB, each pushing a small segment the receiver wakes up for.
 * On a connection that carries the bulk stream (outgoing: the source) the
 * records go through a buffering BIO instead, flushed in one send() of up
 * to PEER_WRITE_BUFFER whenever libevent has finished a round of writing
 * (the output buffer's drain callback, peer_count_added), and when the
 * socket becomes writable again if the kernel took only part of it.
 */
static void
peer_flush(struct peer_conn *c)
{
	if (c->wbuf == NULL || BIO_wpending(c->wbuf) == 0)
		return;
	if (BIO_flush(c->wbuf) <= 0) {
		/* A hard error shows on the next read or write: libevent
		 * reports it. A full socket: again when it is writable. */
		if (BIO_should_retry(c->wbuf))
			event_add(c->flush_ev, NULL);
		return;
	}
	peer_half_close(c);
}

static void
peer_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peer_conn *c = arg;

	peer_flush(c);
	/* libevent wrote nothing this time, so it calls no write callback:
	 * the owner must still hear that there is room again. */
	if (!c->dead && !c->closing && BIO_wpending(c->wbuf) == 0)
		bufferevent_trigger(c->bev, EV_WRITE, 0);
}

/* After the handshake, on an outgoing connection: the write side of the
 * TLS session goes through a buffer (the read side stays as it was).
 * Nothing is in flight at that moment, so the switch loses nothing. */
static void
peer_buffer_writes(struct peer_conn *c)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	BIO *rb, *sb, *fb;

	if (ssl == NULL || fd < 0)
		return;
	rb = BIO_new_socket((int)fd, BIO_NOCLOSE);
	sb = BIO_new_socket((int)fd, BIO_NOCLOSE);
	fb = BIO_new(BIO_f_buffer());
	c->flush_ev = event_new(bufferevent_get_base(c->bev), fd, EV_WRITE, peer_flush_cb, c);
	if (rb == NULL || sb == NULL || fb == NULL || c->flush_ev == NULL ||
	    BIO_set_write_buffer_size(fb, PEER_WRITE_BUFFER) <= 0) {
		BIO_free(rb);
		BIO_free(sb);
		BIO_free(fb);
		if (c->flush_ev != NULL)
			event_free(c->flush_ev);
		c->flush_ev = NULL;
		return; /* unbuffered, as before: slower, not wrong */
	}
	BIO_push(fb, sb);
	SSL_set_bio(ssl, rb, fb);
	c->wbuf = fb;
}

/* Counted where the bytes leave, not as added minus what is still
 * queued: the buffering BIO holds ciphertext, records and all, so that
 * difference can go backwards. */
uint64_t
peer_bytes_sent(struct peer_conn *c)
{
	return c->drained;
}

uint64_t
peer_bytes_queued(struct peer_conn *c)
{
	return c->added;
}

static void
peer_count_added(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct peer_conn *c = arg;

	c->added += info->n_added;
	c->drained += info->n_deleted;
	/* Drained: libevent has handed a round of frames to OpenSSL. */
	if (info->n_deleted > 0 && c->wbuf != NULL && !c->dead)
		peer_flush(c);
}

void
peer_send(struct peer_conn *c, const void *buf, size_t len)
{
	if (c->dead || c->closing)
		return;
	evbuffer_add(bufferevent_get_output(c->bev), buf, len);
}

void
peer_send_error(struct peer_conn *c, int code, const char *msg)
{
	uint8_t buf[MIG_FRAME_HEADER_LEN + 6 + MIG_ERROR_MSG_MAX];
	size_t n = mig_encode_error(buf, sizeof(buf), (uint32_t)code, msg);

	if (n > 0)
		peer_send(c, buf, n);
}

static void
peer_leave_unauthenticated(struct peer_conn *c)
{
	if (c->unauthenticated) {
		c->unauthenticated = 0;
		unauthenticated_count--;
	}
}

void
peer_close(struct peer_conn *c)
{
	c->h = NULL;
	peer_leave_unauthenticated(c);
	if (c->in_callback) {
		c->dead = 1;
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		return;
	}
	peer_free(c);
}

static void
peer_grace_expired(evutil_socket_t fd, short what, void *arg)
{
	peer_close(arg);
}

/* Lingering, and all queued output is out (frames and buffered records):
 * tell the peer we are done writing. */
static void
peer_half_close(struct peer_conn *c)
{
	if (!c->closing || c->half_closed || peer_output_length(c) != 0)
		return;
	c->half_closed = 1;
	(void)shutdown(bufferevent_getfd(c->bev), SHUT_WR);
}

void
peer_close_after_flush(struct peer_conn *c)
{
	struct timeval tv = {PEER_CLOSE_GRACE_MS / 1000, 0};

	c->h = NULL;
	peer_leave_unauthenticated(c);
	if (c->dead)
		return;
	/* Before the TLS handshake has completed no frame can leave: there is
	 * nothing to wait for, and a half-open peer must not hold a socket
	 * for the grace period once it no longer counts against the cap. */
	if (!c->tls_up) {
		peer_close(c);
		return;
	}
	/* Linger: flush, then half-close and read (and drop) until the peer
	 * closes too. Closing with unread input would send a RST, which can
	 * destroy our last frame (the ERROR saying why) before it is read. */
	c->closing = 1;
	c->paused = 0;
	bufferevent_enable(c->bev, EV_READ);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
	evtimer_del(c->deadline);
	evtimer_assign(c->deadline, bufferevent_get_base(c->bev), peer_grace_expired, c);
	evtimer_add(c->deadline, &tv);
	peer_half_close(c);
}

void
peer_abort(struct peer_conn *c, int code, const char *msg)
{
	log_warnx("peer %s: %s: %s", c->name, mig_err_name(code), msg);
	peer_send_error(c, code, msg);
	peer_close_after_flush(c);
}

void
peer_pause_read(struct peer_conn *c)
{
	c->paused = 1;
	bufferevent_disable(c->bev, EV_READ);
}

void
peer_resume_read(struct peer_conn *c)
{
	c->paused = 0;
	if (!c->dead && !c->closing) {
		bufferevent_enable(c->bev, EV_READ);
		/* Frames may be waiting in the input buffer already, and
		 * records in OpenSSL's read-ahead. */
		bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
		peer_kick_read(c);
	}
}

void
peer_detach(struct peer_conn *c)
{
	c->h = NULL;
}

static void
peer_free(struct peer_conn *c)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		all_conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;

	peer_leave_unauthenticated(c);
	if (ssl != NULL && c->tls_up)
		SSL_shutdown(ssl);
	if (c->wbuf != NULL)
		(void)BIO_flush(c->wbuf); /* best effort: the close_notify */
	if (c->flush_ev != NULL)
		event_free(c->flush_ev);
	event_free(c->keepalive);
	event_free(c->deadline);
	/* bufferevent_free() may only drop a reference: a write under way
	 * still drains the output buffer after c is gone. */
	if (c->count_cb != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->count_cb);
	bufferevent_free(c->bev);
	free(c);
}

/* Tell the owner the connection is gone, then free it. */
static void
peer_lost(struct peer_conn *c, int code, const char *msg)
{
	const struct peer_handler *h = c->h;

	if (h != NULL && h->on_closed != NULL) {
		c->h = NULL;
		h->on_closed(c->arg, c, code, msg);
	} else if (code != MIG_E_CONNECTION_LOST)
		log_warnx("peer %s: %s: %s", c->name, mig_err_name(code), msg);
	peer_close(c);
}

void
peer_send_keepalive(struct peer_conn *c, uint64_t nonce)
{
	uint8_t buf[MIG_FRAME_HEADER_LEN + 8];
	size_t n = mig_encode_keepalive(buf, sizeof(buf), nonce);

	peer_send(c, buf, n);
}

static void
peer_keepalive_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peer_conn *c = arg;

	if (!c->tls_up || c->closing || c->dead)
		return;
	/* Our own nonces count up from 1; a source's probes (source.c) have
	 * the top bit set, so an echo is never taken for one of these. */
	peer_send_keepalive(c, ++c->nonce);
}

static void
peer_handshake_expired(evutil_socket_t fd, short what, void *arg)
{
	struct peer_conn *c = arg;

	metrics_tls_failure(c->tls_up ? "no-hello" : "handshake-timeout");
	peer_abort(c, MIG_E_TIMEOUT, "no valid HELLO within the handshake timeout");
}

/* A frame we cannot decode: the stream cannot be trusted any further. */
static void
peer_lost_frame(struct peer_conn *c, int err)
{
	const struct peer_handler *h = c->h;
	char msg[128];

	snprintf(msg, sizeof(msg), "undecodable frame from peer: %s", mig_err_describe(err));
	peer_send_error(c, err, msg);
	if (h != NULL && h->on_closed != NULL) {
		c->h = NULL;
		h->on_closed(c->arg, c, err, msg);
	} else
		log_warnx("peer %s: %s: %s", c->name, mig_err_name(err), msg);
	peer_close_after_flush(c);
}

/* A whole DATA frame is in the buffer: hand its payload over in place. */
static void
peer_data_in_place(struct peer_conn *c, struct evbuffer *in, const struct mig_frame_header *hdr)
{
	uint8_t prefix[MIG_DATA_PREFIX_LEN];
	size_t before, taken;
	struct mig_data d;
	int err;

	evbuffer_copyout(in, prefix, sizeof(prefix));
	if ((err = mig_data_fixed_decode(hdr, prefix + MIG_FRAME_HEADER_LEN, &d)) != MIG_OK) {
		peer_lost_frame(c, err);
		return;
	}
	evbuffer_drain(in, MIG_DATA_PREFIX_LEN);
	before = evbuffer_get_length(in);
	c->h->on_data(c->arg, c, &d, in);
	/* What the handler did not take (evbuffer_remove_buffer) goes. */
	if (!c->dead && (taken = before - evbuffer_get_length(in)) < d.payload_len)
		evbuffer_drain(in, d.payload_len - taken);
}

/*
 * Incoming connections (the destination's) read ahead: one recv() takes in
 * up to PEER_READ_BUFFER of TLS records instead of two per 16 KiB record.
 * libevent reads one record per readable event and does not look at what
 * OpenSSL holds read ahead, so whenever records are left there it is
 * told to read again (as if the socket were readable): nothing waits for
 * the next packet to be taken in, the last frames of a stream included.
 */
static void
peer_kick_read(struct peer_conn *c)
{
	SSL *ssl;

	if (c->dead || c->closing || c->paused || !c->read_ahead ||
	    !(bufferevent_get_enabled(c->bev) & EV_READ))
		return;
	ssl = bufferevent_openssl_get_ssl(c->bev);
	if (ssl != NULL && SSL_has_pending(ssl))
		event_active(&c->bev->ev_read, EV_READ, 1);
}

/* Decode every complete frame in the input buffer. */
static void
peer_read_cb(struct bufferevent *bev, void *arg)
{
	struct peer_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t hdrbuf[MIG_FRAME_HEADER_LEN];
	struct mig_frame_header hdr;
	struct mig_frame f;
	const uint8_t *p;
	int err;

	if (c->closing) {
		/* Lingering: what the peer still sends is dropped unread. */
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	c->in_callback++;
	while (!c->dead && !c->closing && !c->paused &&
	    evbuffer_get_length(in) >= MIG_FRAME_HEADER_LEN) {
		evbuffer_copyout(in, hdrbuf, sizeof(hdrbuf));
		if ((err = mig_frame_header_decode(hdrbuf, &hdr)) != MIG_OK) {
			peer_lost_frame(c, err);
			break;
		}
		/* max_frame_size bounds what one connection may make us hold. */
		if (hdr.length > daemon_ctx.cfg->daemon.max_frame_size) {
			peer_lost_frame(c, MIG_E_FRAME_TOO_LARGE);
			break;
		}
		if (evbuffer_get_length(in) < MIG_FRAME_HEADER_LEN + (size_t)hdr.length)
			break;
		if (hdr.type == MIG_FRAME_DATA && c->h != NULL && c->h->on_data != NULL) {
			peer_data_in_place(c, in, &hdr);
			continue;
		}
		p = evbuffer_pullup(in, (ssize_t)(MIG_FRAME_HEADER_LEN + hdr.length));
		if ((err = mig_frame_payload_decode(&hdr, p + MIG_FRAME_HEADER_LEN, &f)) != MIG_OK) {
			peer_lost_frame(c, err);
			break;
		}
		if (f.hdr.type == MIG_FRAME_KEEPALIVE) {
			/* Its arrival already reset the read timeout. */
			if (c->h != NULL && c->h->on_keepalive != NULL)
				c->h->on_keepalive(c->arg, c, f.u.keepalive.nonce);
		} else if (c->h != NULL)
			c->h->on_frame(c->arg, c, &f);
		else if (f.hdr.type == MIG_FRAME_HELLO && c->unauthenticated && hello_handler != NULL)
			hello_handler(c, &f);
		else if (f.hdr.type == MIG_FRAME_ERROR)
			peer_close(c);
		else
			peer_abort(c, MIG_E_UNEXPECTED_FRAME, "frame before a HELLO was accepted");
		if (!c->dead)
			evbuffer_drain(in, MIG_FRAME_HEADER_LEN + hdr.length);
	}
	c->in_callback--;
	if (c->dead && c->in_callback == 0)
		peer_free(c);
	else
		peer_kick_read(c);
}

static void
peer_write_cb(struct bufferevent *bev, void *arg)
{
	struct peer_conn *c = arg;

	if (c->closing) {
		peer_half_close(c);
		return;
	}
	if (c->h != NULL && c->h->on_writable != NULL && c->tls_up) {
		c->in_callback++;
		c->h->on_writable(c->arg, c);
		c->in_callback--;
		if (c->dead && c->in_callback == 0)
			peer_free(c);
	}
}

/* The peer's certificate name, and whether allowed_peers lets it in. */
static int
peer_check_identity(struct peer_conn *c)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	X509 *cert = SSL_get1_peer_certificate(ssl);
	const struct mig_config *cfg = daemon_ctx.cfg;
	char ident[200] = "?";
	char addr[sizeof(c->name)];
	int ok;

	if (cert == NULL)
		return 0;
	ok = mig_tls_peer_allowed(cert, cfg->tls.allowed_peers, cfg->tls.nallowed, ident,
	    sizeof(ident));
	X509_free(cert);
	snprintf(addr, sizeof(addr), "%s", c->name);
	snprintf(c->name, sizeof(c->name), "%.180s (%.100s)", ident, addr);
	return ok;
}

static const char *
peer_tls_reason(struct peer_conn *c, char *buf, size_t len)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	unsigned long e = bufferevent_get_openssl_error(c->bev);
	long vr = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;

	if (vr != X509_V_OK) {
		snprintf(buf, len, "certificate verification failed: %s (%s)",
		    mig_tls_verify_reason(vr), X509_verify_cert_error_string(vr));
		return buf;
	}
	if (e != 0) {
		c->tls_err = e;
		snprintf(buf, len, "TLS error: %s", ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "unknown");
		while (bufferevent_get_openssl_error(c->bev) != 0)
			;
		return buf;
	}
	if (EVUTIL_SOCKET_ERROR() != 0 && !c->tls_up) {
		snprintf(buf, len, "%s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		return buf;
	}
	return NULL;
}

/* An outgoing connection that never reached the peer (refused,
 * unreachable, name not resolved): a connect failure, not a TLS one. A
 * connection cut after it was made fails with another errno. */
static int
peer_never_connected(struct peer_conn *c, int err)
{
	if (!c->outgoing || c->tls_up)
		return 0;
	if (bufferevent_socket_get_dns_error(c->bev) != 0)
		return 1;
	switch (err) {
	case ECONNREFUSED:
	case ENETUNREACH:
	case EHOSTUNREACH:
	case ETIMEDOUT:
	case EADDRNOTAVAIL:
		return 1;
	}
	return 0;
}

/* Did the handshake fail over a certificate, ours refused by the peer or
 * the peer's refused by us? Then it is peer-untrusted, not a TLS fault. */
static int
peer_untrusted(struct peer_conn *c)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);

	if (ssl != NULL && SSL_get_verify_result(ssl) != X509_V_OK)
		return 1;
	switch (ERR_GET_REASON(c->tls_err)) {
	case SSL_R_CERTIFICATE_VERIFY_FAILED:
	case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
	case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
	case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
		return 1;
	}
	return 0;
}

/* The label of a failed handshake in vfio_migd_tls_handshake_failures_total. */
static const char *
peer_tls_metric_reason(struct peer_conn *c)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	long vr = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;

	if (vr != X509_V_OK)
		return mig_tls_verify_reason(vr);
	/* What OpenSSL said, not a guess from what is missing: a TLS 1.2
	 * client is refused before any certificate could have come. */
	switch (ERR_GET_REASON(c->tls_err)) {
	case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
		return "no-certificate";
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
		return "protocol-version";
	}
	return c->outgoing ? "handshake-outgoing" : "handshake";
}

/* Small frames (HELLO, END, COMMIT) must not wait for Nagle and a
 * delayed ACK: that costs 40 ms of downtime at switchover. So every
 * connection starts with TCP_NODELAY; peer_set_bulk() lifts it while a
 * bulk stream flows. */
static void
peer_set_nodelay(evutil_socket_t fd, int on)
{
	if (fd >= 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

/*
 * With TCP_NODELAY every send() (a flush of the write buffer, or a record
 * where there is none) ends in a segment of its own at once, and the
 * receiver wakes for each partial one. In bulk mode Nagle's algorithm lets
 * the tail of one send() that follows unacknowledged data join the next
 * in full segments. Leaving bulk mode turns TCP_NODELAY back on, which
 * also sends whatever the kernel still holds at once: the last frames
 * (END) never wait.
 */
void
peer_set_bulk(struct peer_conn *c, int on)
{
	if (c->dead || !c->tls_up || c->bulk == on)
		return;
	c->bulk = on;
	peer_set_nodelay(bufferevent_getfd(c->bev), !on);
}

static void
peer_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct peer_conn *c = arg;
	int sock_err = EVUTIL_SOCKET_ERROR();
	char reason[300];
	const char *r;

	if (c->closing && (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))) {
		/* Lingering ended: the peer closed too, or broke off. */
		peer_close(c);
		return;
	}

	if (what & BEV_EVENT_CONNECTED) {
		c->tls_up = 1;
		peer_set_nodelay(bufferevent_getfd(bev), 1);
		if (!peer_check_identity(c)) {
			const struct peer_handler *h = c->h;

			/* TLS is up: tell the peer why, so both sides log the code. */
			log_warnx("peer %s: refused: not in allowed_peers", c->name);
			metrics_tls_failure("not-allowed");
			peer_send_error(c, MIG_E_PEER_UNTRUSTED, "your certificate is not in allowed_peers");
			c->h = NULL;
			if (h != NULL && h->on_closed != NULL)
				h->on_closed(c->arg, c, MIG_E_PEER_UNTRUSTED,
				    "peer certificate not in allowed_peers");
			peer_close_after_flush(c);
			return;
		}
		log_info("peer %s: TLS %s established (%s)", c->name,
		    SSL_get_version(bufferevent_openssl_get_ssl(bev)), c->outgoing ? "outgoing" : "incoming");
		if (c->outgoing)
			peer_buffer_writes(c);
		else {
			/* Not during the handshake: libevent's handshake steps
			 * would not look at what was read ahead either. */
			SSL_set_read_ahead(bufferevent_openssl_get_ssl(bev), 1);
			c->read_ahead = 1;
			peer_kick_read(c);
		}
		if (c->outgoing && c->h != NULL && c->h->on_connected != NULL) {
			c->in_callback++;
			c->h->on_connected(c->arg, c);
			c->in_callback--;
			if (c->dead && c->in_callback == 0)
				peer_free(c);
		}
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		peer_lost(c, MIG_E_TIMEOUT, "peer silent for longer than peer_timeout_ms");
		return;
	}
	if ((what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) && peer_never_connected(c, sock_err)) {
		int dns = bufferevent_socket_get_dns_error(bev);

		snprintf(reason, sizeof(reason), "cannot connect: %s",
		    dns != 0 ? evutil_gai_strerror(dns) : evutil_socket_error_to_string(sock_err));
		log_warnx("peer %s: %s", c->name, reason);
		peer_lost(c, MIG_E_CONNECT, reason);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		r = peer_tls_reason(c, reason, sizeof(reason));
		if (!c->tls_up) {
			log_warnx("peer %s: TLS handshake failed: %s", c->name, r ? r : "connection closed");
			metrics_tls_failure(peer_tls_metric_reason(c));
			peer_lost(c, c->outgoing && r == NULL ? MIG_E_CONNECT :
			    peer_untrusted(c) ? MIG_E_PEER_UNTRUSTED : MIG_E_TLS,
			    r ? r : "TLS handshake failed");
			return;
		}
		peer_lost(c, MIG_E_CONNECTION_LOST, r ? r : "connection lost");
		return;
	}
	if (what & BEV_EVENT_EOF)
		peer_lost(c, MIG_E_CONNECTION_LOST,
		    c->tls_up ? "peer closed the connection" : "peer closed the connection during the TLS handshake");
}

static struct peer_conn *
peer_new(struct bufferevent *bev, int outgoing, const char *name)
{
	struct peer_conn *c = xcalloc(1, sizeof(*c));
	const struct mig_config *cfg = daemon_ctx.cfg;
	struct timeval ka = {cfg->daemon.keepalive_interval_ms / 1000,
		(cfg->daemon.keepalive_interval_ms % 1000) * 1000};
	struct timeval rt = {cfg->daemon.peer_timeout_ms / 1000,
		(cfg->daemon.peer_timeout_ms % 1000) * 1000};

	c->bev = bev;
	c->outgoing = outgoing;
	c->next = all_conns;
	if (all_conns != NULL)
		all_conns->prev = c;
	all_conns = c;
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->keepalive = event_new(bufferevent_get_base(bev), -1, EV_PERSIST, peer_keepalive_cb, c);
	c->deadline = evtimer_new(bufferevent_get_base(bev), peer_handshake_expired, c);
	event_add(c->keepalive, &ka);
	c->count_cb = evbuffer_add_cb(bufferevent_get_output(bev), peer_count_added, c);
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	bufferevent_setcb(bev, peer_read_cb, peer_write_cb, peer_event_cb, c);
	bufferevent_set_timeouts(bev, &rt, NULL);
	bufferevent_setwatermark(bev, EV_READ, 0, MIG_FRAME_HEADER_LEN + cfg->daemon.max_frame_size);
	/* libevent moves 16 KiB per event by default: far too little for a
	 * bulk stream, the loop would spend its time going round. */
	bufferevent_set_max_single_read(bev, PEER_MAX_SINGLE_IO);
	bufferevent_set_max_single_write(bev, PEER_MAX_SINGLE_IO);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	return c;
}

void
peer_set_handler(struct peer_conn *c, const struct peer_handler *h, void *arg, uint32_t write_lowat)
{
	c->h = h;
	c->arg = arg;
	peer_leave_unauthenticated(c);
	evtimer_del(c->deadline);
	bufferevent_setwatermark(c->bev, EV_WRITE, write_lowat, 0);
}

static void
peer_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *arg)
{
	const struct mig_config *cfg = daemon_ctx.cfg;
	struct timeval hs = {cfg->daemon.handshake_timeout_ms / 1000,
		(cfg->daemon.handshake_timeout_ms % 1000) * 1000};
	char addr[128] = "?";
	struct bufferevent *bev;
	struct peer_conn *c;
	SSL *ssl;

	if (sa->sa_family == AF_INET)
		evutil_inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, addr, sizeof(addr));
	else if (sa->sa_family == AF_INET6)
		evutil_inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, addr, sizeof(addr));
	if (daemon_ctx.shutting_down || unauthenticated_count >= cfg->daemon.max_connections) {
		if (!daemon_ctx.shutting_down)
			metrics_tls_failure("max-connections");
		log_warnx("peer %s: refused: %s", addr,
		    daemon_ctx.shutting_down ? "shutting down" : "too many connections without a HELLO (max_connections)");
		evutil_closesocket(fd);
		return;
	}
	peer_set_nodelay(fd, 1);
	ssl = SSL_new(daemon_ctx.tls_server);
	if (ssl != NULL)
		SSL_set_default_read_buffer_len(ssl, PEER_READ_BUFFER);
	bev = bufferevent_openssl_socket_new(daemon_ctx.base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		evutil_closesocket(fd);
		return;
	}
	c = peer_new(bev, 0, addr);
	c->unauthenticated = 1;
	unauthenticated_count++;
	evtimer_add(c->deadline, &hs);
}

struct peer_conn *
peer_connect(const char *hostport, const struct peer_handler *h, void *arg, uint32_t write_lowat)
{
	char host[MIG_HOST_MAX + 1];
	struct bufferevent *bev;
	struct peer_conn *c;
	uint16_t port;
	SSL *ssl;
	int rc;

	if (mig_parse_hostport(hostport, host, sizeof(host), &port) != 0) {
		log_warnx("peer %s: not a HOST:PORT", hostport);
		return NULL;
	}
	if (dns_base == NULL)
		dns_base = evdns_base_new(daemon_ctx.base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	ssl = SSL_new(daemon_ctx.tls_client);
	SSL_set_tlsext_host_name(ssl, host);
	bev = bufferevent_openssl_socket_new(daemon_ctx.base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	c = peer_new(bev, 1, hostport);
	peer_set_handler(c, h, arg, write_lowat);
	/* A numeric address can fail right inside the call (ENETUNREACH), and
	 * the error callback then closes c: keep it alive until we are out. */
	c->in_callback++;
	rc = bufferevent_socket_connect_hostname(bev, dns_base, AF_UNSPEC, host, port);
	c->in_callback--;
	if (rc != 0 || c->dead) {
		if (rc != 0 && !c->dead)
			log_warnx("peer %s: cannot start connecting", hostport);
		peer_free(c);
		return NULL;
	}
	return c;
}

static int
peer_listen_one(const char *spec)
{
	struct evconnlistener *l;
	evutil_socket_t fd;
	char *bound;

	if ((fd = mig_listen_tcp("listen", spec, 64, &bound)) < 0)
		return -1;
	l = evconnlistener_new(daemon_ctx.base, peer_accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (l == NULL) {
		log_warnx("listen %s: cannot watch the socket", spec);
		free(bound);
		close(fd);
		return -1;
	}
	listeners = xrealloc(listeners, (nlisteners + 1) * sizeof(*listeners));
	listen_bound = xrealloc(listen_bound, (nlisteners + 1) * sizeof(*listen_bound));
	listeners[nlisteners] = l;
	listen_bound[nlisteners++] = bound;
	log_info("listening for peers on %s (TLS 1.3, mutual authentication)", bound);
	return 0;
}

size_t
peer_listen_count(void)
{
	return nlisteners;
}

const char *
peer_listen_address(size_t i)
{
	return i < nlisteners ? listen_bound[i] : NULL;
}

int
peer_listen_all(peer_hello_fn on_hello)
{
	const struct mig_config *cfg = daemon_ctx.cfg;
	size_t i;

	hello_handler = on_hello;
	for (i = 0; i < cfg->daemon.nlisten; i++)
		if (peer_listen_one(cfg->daemon.listen[i]) != 0)
			return -1;
	return 0;
}

void
peer_close_all(void)
{
	while (all_conns != NULL)
		peer_free(all_conns);
}

void
peer_listen_close(void)
{
	size_t i;

	for (i = 0; i < nlisteners; i++) {
		evconnlistener_free(listeners[i]);
		free(listen_bound[i]);
	}
	free(listeners);
	free(listen_bound);
	listeners = NULL;
	listen_bound = NULL;
	nlisteners = 0;
	if (dns_base != NULL) {
		evdns_base_free(dns_base, 0);
		dns_base = NULL;
	}
}
