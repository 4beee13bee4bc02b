/*
 * tls.h: the daemon's TLS posture, in one place (OpenSSL 3).
 *
 * TLS 1.3 only, both directions verify the peer against the configured CA
 * (a server requires a client certificate), one certificate serves as
 * client and server identity. allowed_peers, when set, restricts the peer
 * to certificates whose CN or a DNS SAN matches one of the names exactly.
 */
#ifndef MIG_TLS_H
#define MIG_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#define MIG_TLS_CIPHERSUITES \
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

/* TLS 1.3 key exchange groups by default: 128-bit security and up (no
 * finite-field groups, which OpenSSL would otherwise offer down to
 * ffdhe2048, 112 bits). `[tls] groups` changes it. */
#define MIG_TLS_GROUPS "X25519:P-256:P-384"

/* Build a server (is_server = 1) or client context from PEM files, with
 * the groups of MIG_TLS_GROUPS. The key must match the certificate and the
 * certificate must chain to the CA. On failure returns NULL and writes a
 * message naming the file and why into err. */
SSL_CTX *mig_tls_ctx_new(int is_server, const char *ca, const char *cert, const char *key,
    char *err, size_t errlen);
/* Other key exchange groups (OpenSSL's colon-separated names); -1 and a
 * message in err when OpenSSL knows none of them or any is unknown. */
int mig_tls_ctx_set_groups(SSL_CTX *ctx, const char *groups, char *err, size_t errlen);

/* Is this peer certificate allowed? Writes its name (CN, else the first DNS
 * SAN, else "?") into name. With nallowed 0 every certificate is allowed
 * (the CA already vouched for it). */
int mig_tls_peer_allowed(X509 *cert, char *const *allowed, size_t nallowed, char *name,
    size_t namelen);

/* A verification result of our own, for mig_tls_verify_reason(): the peer
 * sent no certificate at all. OpenSSL leaves the verify result at X509_V_OK
 * then and fails the handshake; callers that see no peer certificate pass
 * this to get "no-certificate". */
#define MIG_TLS_VERIFY_NO_CERTIFICATE (-1L)

/* Short stable reason for a verification result (SSL_get_verify_result(),
 * X509_V_*), for logs and metrics: "expired", "not-yet-valid", "unknown-ca",
 * "self-signed", "bad-signature", "no-certificate", "revoked", "other"; "ok"
 * for X509_V_OK. */
const char *mig_tls_verify_reason(long verify_result);

/* Whole days until the certificate expires, rounded down (so negative once
 * it has expired), for the startup warning and the API. Sets *ok to 1, or on
 * error (unreadable file, not a PEM certificate) returns -1 with *ok = 0. */
long mig_tls_cert_days_left(const char *cert_path, int *ok);

#endif
