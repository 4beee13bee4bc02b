/*
 * tls.c: the TLS contexts of tls.h, and what a peer certificate is called
 * and whether it may come in.
 *
 * All of the daemon's TLS posture is decided here: protocol version,
 * verification mode, no session resumption. This file never touches a
 * socket; callers attach the contexts to their own connections.
 */
#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

/* The reason of the most recent OpenSSL error, which empties the queue. */
static const char *
tls_openssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;

	snprintf(buf, len, "%s", reason != NULL ? reason : "unknown error");
	ERR_clear_error();
	return buf;
}

/* Key files are not encrypted: never let OpenSSL prompt on a terminal. */
static int
tls_no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	return -1;
}

/* OpenSSL's own messages for a missing file are vague ("system lib"); say
 * which file and why before handing it over. */
static int
tls_check_readable(const char *what, const char *path, char *err, size_t errlen)
{
	FILE *f;

	if (path == NULL || *path == '\0') {
		snprintf(err, errlen, "no %s file configured", what);
		return -1;
	}
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "cannot read %s %s: %s", what, path, strerror(errno));
		return -1;
	}
	fclose(f);
	return 0;
}

static EVP_PKEY *
tls_read_key(const char *path)
{
	BIO *bio = BIO_new_file(path, "r");
	EVP_PKEY *pkey;

	if (bio == NULL)
		return NULL;
	pkey = PEM_read_bio_PrivateKey(bio, NULL, tls_no_passphrase, NULL);
	BIO_free(bio);
	return pkey;
}

static int
tls_load_key(SSL_CTX *ctx, const char *cert, const char *key, char *err, size_t errlen)
{
	char reason[256];
	EVP_PKEY *pkey = tls_read_key(key);
	int rc = -1;

	if (pkey == NULL) {
		snprintf(err, errlen, "cannot load key %s: %s", key,
		    tls_openssl_reason(reason, sizeof(reason)));
		return -1;
	}
	if (!X509_check_private_key(SSL_CTX_get0_certificate(ctx), pkey)) {
		ERR_clear_error();
		snprintf(err, errlen, "key %s does not match certificate %s", key, cert);
	} else if (!SSL_CTX_use_PrivateKey(ctx, pkey) || !SSL_CTX_check_private_key(ctx)) {
		snprintf(err, errlen, "cannot use key %s: %s", key,
		    tls_openssl_reason(reason, sizeof(reason)));
	} else {
		rc = 0;
	}
	EVP_PKEY_free(pkey);
	return rc;
}

/*
 * Our own certificate must chain to the CA and suit the context's role, or
 * every peer would refuse us with a far less helpful message. Validity dates
 * are not checked here: an expired certificate is for the startup warning
 * (mig_tls_cert_days_left) and the peers to judge.
 */
static int
tls_check_own_chain(SSL_CTX *ctx, int is_server, const char *ca, const char *cert, char *err,
    size_t errlen)
{
	X509_STORE_CTX *store_ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *chain = NULL;
	int rc = -1, verr;

	if (store_ctx == NULL || !SSL_CTX_get0_chain_certs(ctx, &chain) ||
	    !X509_STORE_CTX_init(store_ctx, SSL_CTX_get_cert_store(ctx),
		SSL_CTX_get0_certificate(ctx), chain)) {
		snprintf(err, errlen, "cannot check certificate %s: out of memory", cert);
		goto out;
	}
	X509_STORE_CTX_set_flags(store_ctx, X509_V_FLAG_NO_CHECK_TIME);
	X509_STORE_CTX_set_purpose(store_ctx,
	    is_server ? X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT);
	if (X509_verify_cert(store_ctx) == 1) {
		rc = 0;
		goto out;
	}
	verr = X509_STORE_CTX_get_error(store_ctx);
	if (verr == X509_V_ERR_INVALID_PURPOSE)
		snprintf(err, errlen, "certificate %s is not usable as a TLS %s (extendedKeyUsage)",
		    cert, is_server ? "server" : "client");
	else
		snprintf(err, errlen, "certificate %s does not chain to CA %s: %s", cert, ca,
		    X509_verify_cert_error_string(verr));
out:
	ERR_clear_error();
	X509_STORE_CTX_free(store_ctx);
	return rc;
}

SSL_CTX *
mig_tls_ctx_new(int is_server, const char *ca, const char *cert, const char *key, char *err,
    size_t errlen)
{
	char reason[256];
	SSL_CTX *ctx;

	if (tls_check_readable("CA certificate", ca, err, errlen) != 0 ||
	    tls_check_readable("certificate", cert, err, errlen) != 0 ||
	    tls_check_readable("key", key, err, errlen) != 0)
		return NULL;
	ctx = SSL_CTX_new(is_server ? TLS_server_method() : TLS_client_method());
	if (ctx == NULL) {
		snprintf(err, errlen, "cannot create a TLS context: %s",
		    tls_openssl_reason(reason, sizeof(reason)));
		return NULL;
	}
	SSL_CTX_set_default_passwd_cb(ctx, tls_no_passphrase);
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)) {
		snprintf(err, errlen, "this OpenSSL cannot do TLS 1.3: %s",
		    tls_openssl_reason(reason, sizeof(reason)));
		goto fail;
	}
	/* AES-128-GCM first: as strong as a migration needs and faster than
	 * AES-256 on the bulk stream; the server's order wins. */
	if (!SSL_CTX_set_ciphersuites(ctx, MIG_TLS_CIPHERSUITES)) {
		snprintf(err, errlen, "cannot set the TLS 1.3 cipher suites: %s",
		    tls_openssl_reason(reason, sizeof(reason)));
		goto fail;
	}
	if (is_server)
		SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (mig_tls_ctx_set_groups(ctx, MIG_TLS_GROUPS, err, errlen) != 0)
		goto fail;
	if (!SSL_CTX_load_verify_locations(ctx, ca, NULL)) {
		snprintf(err, errlen, "cannot load CA certificate %s: %s", ca,
		    tls_openssl_reason(reason, sizeof(reason)));
		goto fail;
	}
	if (!SSL_CTX_use_certificate_chain_file(ctx, cert)) {
		snprintf(err, errlen, "cannot load certificate %s: %s", cert,
		    tls_openssl_reason(reason, sizeof(reason)));
		goto fail;
	}
	if (tls_load_key(ctx, cert, key, err, errlen) != 0 ||
	    tls_check_own_chain(ctx, is_server, ca, cert, err, errlen) != 0)
		goto fail;
	if (is_server) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		/* No resumption: every connection proves its certificate afresh,
		 * and a ticket key never outlives the process's memory. */
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(ctx, 0);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int
mig_tls_ctx_set_groups(SSL_CTX *ctx, const char *groups, char *err, size_t errlen)
{
	char reason[256];

	if (SSL_CTX_set1_groups_list(ctx, groups) == 1)
		return 0;
	snprintf(err, errlen, "cannot use the key exchange groups \"%s\": %s", groups,
	    tls_openssl_reason(reason, sizeof(reason)));
	return -1;
}

/* An ASN.1 string as a C string, or -1 when it would not survive as one
 * (an embedded NUL is how a forged name hides its tail). */
static int
tls_asn1_copy(const ASN1_STRING *s, char *out, size_t outlen)
{
	unsigned char *utf8 = NULL;
	int len = ASN1_STRING_to_UTF8(&utf8, s);

	if (len < 0)
		return -1;
	if (memchr(utf8, '\0', (size_t)len) != NULL || (size_t)len >= outlen) {
		OPENSSL_free(utf8);
		return -1;
	}
	memcpy(out, utf8, (size_t)len);
	out[len] = '\0';
	OPENSSL_free(utf8);
	return 0;
}

static int
tls_name_allowed(const char *name, char *const *allowed, size_t nallowed)
{
	size_t i;

	for (i = 0; i < nallowed; i++)
		if (strcasecmp(name, allowed[i]) == 0)
			return 1;
	return 0;
}

int
mig_tls_peer_allowed(X509 *cert, char *const *allowed, size_t nallowed, char *name,
    size_t namelen)
{
	X509_NAME *subject;
	GENERAL_NAMES *sans;
	char buf[256], first_san[256] = "", cn[256] = "";
	int i, match = 0;

	if (cert == NULL) {
		if (namelen > 0)
			snprintf(name, namelen, "?");
		return 0;
	}
	subject = X509_get_subject_name(cert);
	for (i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); i >= 0;
	    i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) {
		X509_NAME_ENTRY *e = X509_NAME_get_entry(subject, i);

		if (tls_asn1_copy(X509_NAME_ENTRY_get_data(e), buf, sizeof(buf)) != 0)
			continue;
		snprintf(cn, sizeof(cn), "%s", buf);
		match |= tls_name_allowed(buf, allowed, nallowed);
	}
	sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);

		if (gn->type != GEN_DNS || tls_asn1_copy(gn->d.dNSName, buf, sizeof(buf)) != 0)
			continue;
		if (first_san[0] == '\0')
			snprintf(first_san, sizeof(first_san), "%s", buf);
		match |= tls_name_allowed(buf, allowed, nallowed);
	}
	GENERAL_NAMES_free(sans);
	if (namelen > 0)
		snprintf(name, namelen, "%s", cn[0] != '\0' ? cn : first_san[0] != '\0' ? first_san : "?");
	return nallowed == 0 || match;
}

const char *
mig_tls_verify_reason(long verify_result)
{
	switch (verify_result) {
	case X509_V_OK:
		return "ok";
	case MIG_TLS_VERIFY_NO_CERTIFICATE:
		return "no-certificate";
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
		return "expired";
	case X509_V_ERR_CERT_NOT_YET_VALID:
	case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
		return "not-yet-valid";
	/* A peer that sends its whole chain, up to a root we do not trust,
	 * gets SELF_SIGNED_CERT_IN_CHAIN: another CA, not a self-signed peer. */
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_UNTRUSTED:
		return "unknown-ca";
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		return "self-signed";
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
	case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
		return "bad-signature";
	case X509_V_ERR_CERT_REVOKED:
		return "revoked";
	default:
		return "other";
	}
}

long
mig_tls_cert_days_left(const char *cert_path, int *ok)
{
	BIO *bio = BIO_new_file(cert_path, "r");
	X509 *cert = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	int days = 0, seconds = 0, diffed = 0;

	if (cert != NULL)
		diffed = ASN1_TIME_diff(&days, &seconds, NULL, X509_get0_notAfter(cert));
	X509_free(cert);
	BIO_free(bio);
	ERR_clear_error();
	if (ok != NULL)
		*ok = diffed;
	if (!diffed)
		return -1;
	/* days and seconds share a sign; round down, so that a certificate
	 * expired an hour ago has -1 days left, not 0. */
	return seconds < 0 ? (long)days - 1 : (long)days;
}
