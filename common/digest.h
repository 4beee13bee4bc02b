/*
 * digest.h: the digests END may carry (PROTOCOL.md §2.3, §3): their
 * names, their lengths and one running state each.
 *
 * A digest catches our own defects between the source device and the
 * destination device (a wrong offset, reordering, memory corruption); TLS
 * already authenticates the bytes on the wire. XXH3-128 (libxxhash) is
 * enough for that and several times cheaper than SHA-256 (OpenSSL), which
 * a daemon offering nothing else stands for. This file knows nothing of
 * frames or sockets: it hashes what it is given.
 */
#ifndef MIG_DIGEST_H
#define MIG_DIGEST_H

#include <stddef.h>
#include <stdint.h>

/* Numbers are ours, never on the wire: HELLO carries capability bits. */
enum mig_digest_id {
	MIG_DIGEST_SHA256 = 0,
	MIG_DIGEST_XXH3_128 = 1,
};
#define MIG_DIGEST_COUNT 2
/* END's digest field: a digest, left-aligned, the rest zero. */
#define MIG_DIGEST_FIELD_LEN 32

struct mig_digest {
	enum mig_digest_id id;
	void *state; /* EVP_MD_CTX or XXH3_state_t */
};

/* "sha256", "xxh3-128"; "?" for another number. (Which HELLO bit offers
 * which digest is the protocol's: proto/frame.h mig_cap_digest().) */
const char *mig_digest_name(int id);
/* The id of a name, or -1. */
int mig_digest_from_name(const char *name);
/* Bytes of the digest itself (32, 16). */
size_t mig_digest_len(int id);

/* 0, or -1 when the library had no memory. */
int mig_digest_init(struct mig_digest *d, enum mig_digest_id id);
void mig_digest_update(struct mig_digest *d, const void *data, size_t len);
/* Writes the digest into out, zero-padded to MIG_DIGEST_FIELD_LEN. The
 * state is spent: only free follows. */
void mig_digest_final(struct mig_digest *d, uint8_t out[MIG_DIGEST_FIELD_LEN]);
void mig_digest_free(struct mig_digest *d);

#endif
