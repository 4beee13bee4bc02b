/*
 * test_tls.c: the TLS posture of tls.h, shown by real handshakes between a
 * server and a client SSL object joined by an in-memory BIO pair, using the
 * certificates tests/gen-certs.sh makes.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "check_main.h"
#include "tls.h"

static char certdir[256];
static char err[512];

/* The path of a file of the generated set; a few may be in use at once. */
static const char *
cert_file(const char *name)
{
	static char paths[8][320];
	static unsigned next;
	char *p = paths[next++ % 8];

	snprintf(p, sizeof(paths[0]), "%s/%s", certdir, name);
	return p;
}

/* A context with NAME-cert.pem and NAME-key.pem, trusting ca_name-cert.pem. */
static SSL_CTX *
ctx_for(int is_server, const char *name, const char *ca_name)
{
	char cert[64], key[64], ca[64];
	SSL_CTX *ctx;

	snprintf(cert, sizeof(cert), "%s-cert.pem", name);
	snprintf(key, sizeof(key), "%s-key.pem", name);
	snprintf(ca, sizeof(ca), "%s-cert.pem", ca_name);
	ctx = mig_tls_ctx_new(is_server, cert_file(ca), cert_file(cert), cert_file(key), err,
	    sizeof(err));
	ck_assert_msg(ctx != NULL, "%s", err);
	return ctx;
}

static X509 *
read_cert(const char *name)
{
	FILE *f = fopen(cert_file(name), "r");
	X509 *cert;

	ck_assert_ptr_nonnull(f);
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	ck_assert_ptr_nonnull(cert);
	return cert;
}

struct handshake {
	int server_ok, client_ok; /* handshake done and data went through */
	long server_verify, client_verify;
	int version;
	char server_saw[64], client_saw[64]; /* the peer's name, "" for none */
};

/* One handshake step: 1 done, -1 failed, 0 waiting for the other side. */
static int
handshake_step(SSL *ssl)
{
	int rc = SSL_do_handshake(ssl), e;

	if (rc == 1)
		return 1;
	e = SSL_get_error(ssl, rc);
	return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

/* from sends a few bytes that to must read back. */
static int
exchange(SSL *from, SSL *to)
{
	char buf[16];

	if (SSL_write(from, "ping", 4) != 4)
		return -1;
	return SSL_read(to, buf, sizeof(buf)) == 4 && memcmp(buf, "ping", 4) == 0 ? 0 : -1;
}

static void
peer_name(SSL *ssl, char *out, size_t len)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);

	out[0] = '\0';
	if (cert != NULL)
		mig_tls_peer_allowed(cert, NULL, 0, out, len);
}

static void
run_handshake(SSL_CTX *server_ctx, SSL_CTX *client_ctx, struct handshake *h)
{
	SSL *server = SSL_new(server_ctx), *client = SSL_new(client_ctx);
	BIO *server_bio, *client_bio;
	int server_done = 0, client_done = 0, round;

	ck_assert(server != NULL && client != NULL);
	ck_assert_int_eq(BIO_new_bio_pair(&server_bio, 0, &client_bio, 0), 1);
	SSL_set_bio(server, server_bio, server_bio);
	SSL_set_bio(client, client_bio, client_bio);
	SSL_set_accept_state(server);
	SSL_set_connect_state(client);
	/* A TLS 1.3 handshake needs two round trips; allow plenty. */
	for (round = 0; round < 16 && (server_done == 0 || client_done == 0); round++) {
		if (client_done == 0)
			client_done = handshake_step(client);
		if (server_done == 0)
			server_done = handshake_step(server);
	}
	memset(h, 0, sizeof(*h));
	/* In TLS 1.3 the client finishes first and learns of a rejection of its
	 * certificate only when it reads: data must flow both ways. */
	h->server_ok = server_done == 1 && exchange(client, server) == 0;
	h->client_ok = client_done == 1 && exchange(server, client) == 0;
	h->server_verify = SSL_get_verify_result(server);
	h->client_verify = SSL_get_verify_result(client);
	h->version = SSL_version(client);
	peer_name(server, h->server_saw, sizeof(h->server_saw));
	peer_name(client, h->client_saw, sizeof(h->client_saw));
	SSL_free(server);
	SSL_free(client);
	ERR_clear_error();
}

/* A self-signed certificate with the given CN and DNS SAN (either may be
 * NULL); cn_len lets a test embed a NUL. Its key goes to *key if asked for. */
static X509 *
make_cert(const char *cn, int cn_len, const char *san, EVP_PKEY **key)
{
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	X509 *cert = X509_new();
	X509_NAME *name = X509_get_subject_name(cert);

	ck_assert(pkey != NULL && cert != NULL);
	ck_assert(X509_set_version(cert, 2));
	ck_assert(ASN1_INTEGER_set(X509_get_serialNumber(cert), 1));
	ck_assert(X509_gmtime_adj(X509_getm_notBefore(cert), 0) != NULL);
	ck_assert(X509_gmtime_adj(X509_getm_notAfter(cert), 3600) != NULL);
	ck_assert(X509_set_pubkey(cert, pkey));
	if (cn != NULL)
		ck_assert(X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_ASC,
		    (const unsigned char *)cn, cn_len, -1, 0));
	ck_assert(X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_ASC,
	    (const unsigned char *)"test", -1, -1, 0));
	ck_assert(X509_set_issuer_name(cert, name));
	if (san != NULL) {
		X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);

		ck_assert_ptr_nonnull(ext);
		ck_assert(X509_add_ext(cert, ext, -1));
		X509_EXTENSION_free(ext);
	}
	ck_assert(X509_sign(cert, pkey, EVP_sha256()) > 0);
	if (key != NULL)
		*key = pkey;
	else
		EVP_PKEY_free(pkey);
	return cert;
}

START_TEST(test_contexts_from_good_files)
{
	const char *hosts[] = {"host-a", "host-b", "host-c", "expired"};
	size_t i;
	int is_server;

	for (i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		for (is_server = 0; is_server <= 1; is_server++) {
			SSL_CTX *ctx = ctx_for(is_server, hosts[i], "ca");

			ck_assert_int_eq(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
			ck_assert_int_eq(SSL_CTX_get_max_proto_version(ctx), TLS1_3_VERSION);
			ck_assert_int_eq(SSL_CTX_get_verify_mode(ctx),
			    is_server ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT :
					SSL_VERIFY_PEER);
			if (is_server)
				ck_assert_uint_eq(SSL_CTX_get_num_tickets(ctx), 0);
			SSL_CTX_free(ctx);
		}
	}
	SSL_CTX_free(ctx_for(1, "rogue", "rogue-ca"));
}
END_TEST

/* Key exchange groups: the default set, another one by name, and a name
 * OpenSSL does not know refused with the name in the message. */
START_TEST(test_groups)
{
	SSL_CTX *ctx = ctx_for(1, "host-a", "ca");

	ck_assert_int_eq(mig_tls_ctx_set_groups(ctx, "X25519", err, sizeof(err)), 0);
	ck_assert_int_eq(mig_tls_ctx_set_groups(ctx, "X25519:ffdhe9999", err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "\"X25519:ffdhe9999\"") != NULL, "%s", err);
	ck_assert_int_eq(mig_tls_ctx_set_groups(ctx, MIG_TLS_GROUPS, err, sizeof(err)), 0);
	SSL_CTX_free(ctx);
}
END_TEST

START_TEST(test_missing_files)
{
	const char *ca = cert_file("ca-cert.pem"), *cert = cert_file("host-a-cert.pem");
	const char *key = cert_file("host-a-key.pem");
	char want[512];

	ck_assert_ptr_null(mig_tls_ctx_new(1, "/nonexistent/ca.pem", cert, key, err, sizeof(err)));
	ck_assert_str_eq(err, "cannot read CA certificate /nonexistent/ca.pem: No such file or directory");
	ck_assert_ptr_null(mig_tls_ctx_new(1, ca, "/nonexistent/c.pem", key, err, sizeof(err)));
	ck_assert_str_eq(err, "cannot read certificate /nonexistent/c.pem: No such file or directory");
	ck_assert_ptr_null(mig_tls_ctx_new(0, ca, cert, "/nonexistent/k.pem", err, sizeof(err)));
	ck_assert_str_eq(err, "cannot read key /nonexistent/k.pem: No such file or directory");
	ck_assert_ptr_null(mig_tls_ctx_new(0, ca, cert, NULL, err, sizeof(err)));
	ck_assert_str_eq(err, "no key file configured");
	if (geteuid() != 0) {
		/* root reads anything: only an ordinary user sees EACCES. */
		ck_assert_ptr_null(mig_tls_ctx_new(0, ca, cert, "/etc/shadow", err, sizeof(err)));
		snprintf(want, sizeof(want), "cannot read key /etc/shadow: Permission denied");
		ck_assert_str_eq(err, want);
	}
}
END_TEST

START_TEST(test_mismatched_key)
{
	char want[512];
	const char *ca = cert_file("ca-cert.pem"), *cert = cert_file("host-a-cert.pem");
	const char *key = cert_file("host-b-key.pem");

	ck_assert_ptr_null(mig_tls_ctx_new(1, ca, cert, key, err, sizeof(err)));
	snprintf(want, sizeof(want), "key %s does not match certificate %s", key, cert);
	ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_certificate_of_another_ca)
{
	char want[512];
	const char *ca = cert_file("ca-cert.pem"), *cert = cert_file("rogue-cert.pem");

	ck_assert_ptr_null(mig_tls_ctx_new(0, ca, cert, cert_file("rogue-key.pem"), err,
	    sizeof(err)));
	snprintf(want, sizeof(want),
	    "certificate %s does not chain to CA %s: unable to get local issuer certificate", cert,
	    ca);
	ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_files_of_the_wrong_kind)
{
	const char *ca = cert_file("ca-cert.pem"), *cert = cert_file("host-a-cert.pem");
	const char *key = cert_file("host-a-key.pem");
	char want[512];

	/* A key where the CA should be, a key as certificate, a certificate as key. */
	ck_assert_ptr_null(mig_tls_ctx_new(1, key, cert, key, err, sizeof(err)));
	snprintf(want, sizeof(want), "cannot load CA certificate %s: ", key);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
	ck_assert_ptr_null(mig_tls_ctx_new(1, ca, key, key, err, sizeof(err)));
	snprintf(want, sizeof(want), "cannot load certificate %s: ", key);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
	ck_assert_ptr_null(mig_tls_ctx_new(1, ca, cert, cert, err, sizeof(err)));
	snprintf(want, sizeof(want), "cannot load key %s: ", cert);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
	ck_assert_int_eq(ERR_peek_error(), 0);
}
END_TEST

START_TEST(test_handshake_succeeds)
{
	SSL_CTX *server = ctx_for(1, "host-a", "ca"), *client = ctx_for(0, "host-b", "ca");
	struct handshake h;

	run_handshake(server, client, &h);
	ck_assert(h.server_ok);
	ck_assert(h.client_ok);
	ck_assert_int_eq(h.version, TLS1_3_VERSION);
	ck_assert_int_eq(h.server_verify, X509_V_OK);
	ck_assert_int_eq(h.client_verify, X509_V_OK);
	ck_assert_str_eq(h.server_saw, "host-b");
	ck_assert_str_eq(h.client_saw, "host-a");
	SSL_CTX_free(server);
	SSL_CTX_free(client);
}
END_TEST

START_TEST(test_rogue_client_rejected)
{
	SSL_CTX *server = ctx_for(1, "host-a", "ca"), *client = ctx_for(0, "rogue", "rogue-ca");
	struct handshake h;

	/* The rogue client trusts our CA too, so that it is the server that
	 * says no, to the rogue's certificate. */
	ck_assert(SSL_CTX_load_verify_locations(client, cert_file("ca-cert.pem"), NULL));
	run_handshake(server, client, &h);
	ck_assert(!h.server_ok);
	ck_assert(!h.client_ok);
	ck_assert_str_eq(mig_tls_verify_reason(h.server_verify), "unknown-ca");
	SSL_CTX_free(server);
	SSL_CTX_free(client);
}
END_TEST

START_TEST(test_rogue_server_rejected)
{
	SSL_CTX *server = ctx_for(1, "rogue", "rogue-ca"), *client = ctx_for(0, "host-b", "ca");
	struct handshake h;

	run_handshake(server, client, &h);
	ck_assert(!h.server_ok);
	ck_assert(!h.client_ok);
	ck_assert_str_eq(mig_tls_verify_reason(h.client_verify), "unknown-ca");
	SSL_CTX_free(server);
	SSL_CTX_free(client);
}
END_TEST

START_TEST(test_expired_certificates_rejected)
{
	SSL_CTX *server = ctx_for(1, "host-a", "ca"), *client = ctx_for(0, "expired", "ca");
	SSL_CTX *expired_server = ctx_for(1, "expired", "ca"), *good_client = ctx_for(0, "host-b", "ca");
	struct handshake h;

	run_handshake(server, client, &h);
	ck_assert(!h.server_ok);
	ck_assert(!h.client_ok);
	ck_assert_str_eq(mig_tls_verify_reason(h.server_verify), "expired");

	run_handshake(expired_server, good_client, &h);
	ck_assert(!h.server_ok);
	ck_assert(!h.client_ok);
	ck_assert_str_eq(mig_tls_verify_reason(h.client_verify), "expired");
	SSL_CTX_free(server);
	SSL_CTX_free(client);
	SSL_CTX_free(expired_server);
	SSL_CTX_free(good_client);
}
END_TEST

START_TEST(test_client_without_certificate_rejected)
{
	SSL_CTX *server = ctx_for(1, "host-a", "ca"), *client = SSL_CTX_new(TLS_client_method());
	struct handshake h;

	ck_assert_ptr_nonnull(client);
	ck_assert(SSL_CTX_load_verify_locations(client, cert_file("ca-cert.pem"), NULL));
	SSL_CTX_set_verify(client, SSL_VERIFY_PEER, NULL);
	run_handshake(server, client, &h);
	ck_assert(!h.server_ok);
	ck_assert(!h.client_ok);
	ck_assert_str_eq(h.server_saw, "");
	/* OpenSSL reports no verification error: it had nothing to verify. */
	ck_assert_int_eq(h.server_verify, X509_V_OK);
	SSL_CTX_free(server);
	SSL_CTX_free(client);
}
END_TEST

START_TEST(test_self_signed_client_rejected)
{
	SSL_CTX *server = ctx_for(1, "host-a", "ca"), *client = ctx_for(0, "host-b", "ca");
	EVP_PKEY *key;
	X509 *cert = make_cert("host-b", -1, "DNS:host-b", &key);
	struct handshake h;

	ck_assert(SSL_CTX_use_certificate(client, cert));
	ck_assert(SSL_CTX_use_PrivateKey(client, key));
	run_handshake(server, client, &h);
	ck_assert(!h.server_ok);
	ck_assert(!h.client_ok);
	ck_assert_str_eq(mig_tls_verify_reason(h.server_verify), "self-signed");
	X509_free(cert);
	EVP_PKEY_free(key);
	SSL_CTX_free(server);
	SSL_CTX_free(client);
}
END_TEST

START_TEST(test_tls12_refused)
{
	SSL_CTX *server = ctx_for(1, "host-a", "ca"), *client = ctx_for(0, "host-b", "ca");
	SSL_CTX *old_client = ctx_for(0, "host-b", "ca"), *old_server = ctx_for(1, "host-a", "ca");
	struct handshake h;

	/* Peers that stop at TLS 1.2, in either role, do not get in. */
	ck_assert(SSL_CTX_set_min_proto_version(old_client, TLS1_2_VERSION));
	ck_assert(SSL_CTX_set_max_proto_version(old_client, TLS1_2_VERSION));
	run_handshake(server, old_client, &h);
	ck_assert(!h.server_ok);
	ck_assert(!h.client_ok);

	ck_assert(SSL_CTX_set_min_proto_version(old_server, TLS1_2_VERSION));
	ck_assert(SSL_CTX_set_max_proto_version(old_server, TLS1_2_VERSION));
	run_handshake(old_server, client, &h);
	ck_assert(!h.server_ok);
	ck_assert(!h.client_ok);

	/* The same old peer, allowed 1.3, is fine: 1.2 was the only problem. */
	ck_assert(SSL_CTX_set_max_proto_version(old_client, 0));
	run_handshake(server, old_client, &h);
	ck_assert(h.server_ok && h.client_ok);
	ck_assert_int_eq(h.version, TLS1_3_VERSION);
	SSL_CTX_free(server);
	SSL_CTX_free(client);
	SSL_CTX_free(old_client);
	SSL_CTX_free(old_server);
}
END_TEST

START_TEST(test_peer_allowed)
{
	X509 *a = read_cert("host-a-cert.pem"), *c = read_cert("host-c-cert.pem");
	/* The list is char *const * (config strings); these are writable copies. */
	char n_a[] = "host-a", n_b[] = "host-b", n_san[] = "HOST-A.Example";
	char n_p1[] = "host", n_p2[] = "host-a.exam", n_p3[] = "host-a.example.org";
	char *both[] = {n_a, n_b}, *by_san[] = {n_san}, *prefix[] = {n_p1, n_p2, n_p3};
	char name[64], tiny[4];

	ck_assert_int_eq(mig_tls_peer_allowed(a, both, 2, name, sizeof(name)), 1);
	ck_assert_str_eq(name, "host-a");
	ck_assert_int_eq(mig_tls_peer_allowed(a, by_san, 1, name, sizeof(name)), 1);
	ck_assert_int_eq(mig_tls_peer_allowed(a, prefix, 3, name, sizeof(name)), 0);
	/* Signed by the CA, but not on the list. */
	ck_assert_int_eq(mig_tls_peer_allowed(c, both, 2, name, sizeof(name)), 0);
	ck_assert_str_eq(name, "host-c");
	/* No list: the CA's word is enough. */
	ck_assert_int_eq(mig_tls_peer_allowed(c, NULL, 0, name, sizeof(name)), 1);
	ck_assert_int_eq(mig_tls_peer_allowed(a, both, 2, tiny, sizeof(tiny)), 1);
	ck_assert_str_eq(tiny, "hos");
	ck_assert_int_eq(mig_tls_peer_allowed(NULL, both, 2, name, sizeof(name)), 0);
	ck_assert_str_eq(name, "?");
	X509_free(a);
	X509_free(c);
}
END_TEST

START_TEST(test_peer_names_of_odd_certificates)
{
	X509 *san_only = make_cert(NULL, 0, "DNS:first.example, IP:10.0.0.1, DNS:second.example", NULL);
	X509 *nothing = make_cert(NULL, 0, "IP:10.0.0.1", NULL);
	X509 *forged = make_cert("host-a\0.evil.example", 20, NULL, NULL);
	char n_second[] = "second.example", n_ip[] = "10.0.0.1", n_a[] = "host-a";
	char *second[] = {n_second}, *ip[] = {n_ip}, *host_a[] = {n_a};
	char name[64];

	ck_assert_int_eq(mig_tls_peer_allowed(san_only, second, 1, name, sizeof(name)), 1);
	ck_assert_str_eq(name, "first.example");
	ck_assert_int_eq(mig_tls_peer_allowed(nothing, ip, 1, name, sizeof(name)), 0);
	ck_assert_str_eq(name, "?");
	/* A NUL inside the CN must not make it "host-a". */
	ck_assert_int_eq(mig_tls_peer_allowed(forged, host_a, 1, name, sizeof(name)), 0);
	ck_assert_str_eq(name, "?");
	X509_free(san_only);
	X509_free(nothing);
	X509_free(forged);
}
END_TEST

START_TEST(test_verify_reasons)
{
	static const struct {
		long result;
		const char *reason;
	} cases[] = {
	    {X509_V_OK, "ok"},
	    {MIG_TLS_VERIFY_NO_CERTIFICATE, "no-certificate"},
	    {X509_V_ERR_CERT_HAS_EXPIRED, "expired"},
	    {X509_V_ERR_CERT_NOT_YET_VALID, "not-yet-valid"},
	    {X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, "unknown-ca"},
	    {X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, "unknown-ca"},
	    {X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, "unknown-ca"},
	    {X509_V_ERR_CERT_UNTRUSTED, "unknown-ca"},
	    {X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, "self-signed"},
	    {X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, "unknown-ca"},
	    {X509_V_ERR_CERT_SIGNATURE_FAILURE, "bad-signature"},
	    {X509_V_ERR_CERT_REVOKED, "revoked"},
	    {X509_V_ERR_INVALID_PURPOSE, "other"},
	    {X509_V_ERR_HOSTNAME_MISMATCH, "other"},
	    {12345, "other"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_str_eq(mig_tls_verify_reason(cases[i].result), cases[i].reason);
}
END_TEST

START_TEST(test_cert_days_left)
{
	int ok = -7;
	long days;

	days = mig_tls_cert_days_left(cert_file("host-a-cert.pem"), &ok);
	ck_assert_int_eq(ok, 1);
	ck_assert_msg(days >= 3648 && days <= 3650, "%ld days", days);
	days = mig_tls_cert_days_left(cert_file("expired-cert.pem"), &ok);
	ck_assert_int_eq(ok, 1);
	ck_assert_msg(days < -365, "%ld days", days);
	ck_assert_int_eq(mig_tls_cert_days_left(cert_file("nonexistent.pem"), &ok), -1);
	ck_assert_int_eq(ok, 0);
	ok = -7;
	ck_assert_int_eq(mig_tls_cert_days_left(cert_file("host-a-key.pem"), &ok), -1);
	ck_assert_int_eq(ok, 0);
	ck_assert_int_eq(ERR_peek_error(), 0);
}
END_TEST

/* Makes the certificate set in a fresh temporary directory. */
static int
make_certificates(void)
{
	const char *tmp = getenv("TMPDIR");
	char cmd[1024];

	snprintf(certdir, sizeof(certdir), "%s/test_tls.XXXXXX", tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(certdir) == NULL) {
		perror("mkdtemp");
		return -1;
	}
	snprintf(cmd, sizeof(cmd), "sh '%s/tests/gen-certs.sh' '%s'", TOP_SRCDIR, certdir);
	if (system(cmd) != 0) {
		fprintf(stderr, "test_tls: %s failed\n", cmd);
		return -1;
	}
	return 0;
}

static void
remove_certificates(void)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", certdir);
	if (system(cmd) != 0)
		fprintf(stderr, "test_tls: could not remove %s\n", certdir);
}

int main(void);

int
main(void)
{
	Suite *s = suite_create("tls");
	TCase *contexts = tcase_create("contexts");
	TCase *handshakes = tcase_create("handshakes");
	TCase *peers = tcase_create("peers");
	int status;

	if (make_certificates() != 0)
		return EXIT_FAILURE;
	tcase_add_test(contexts, test_contexts_from_good_files);
	tcase_add_test(contexts, test_missing_files);
	tcase_add_test(contexts, test_groups);
	tcase_add_test(contexts, test_mismatched_key);
	tcase_add_test(contexts, test_certificate_of_another_ca);
	tcase_add_test(contexts, test_files_of_the_wrong_kind);
	tcase_add_test(handshakes, test_handshake_succeeds);
	tcase_add_test(handshakes, test_rogue_client_rejected);
	tcase_add_test(handshakes, test_rogue_server_rejected);
	tcase_add_test(handshakes, test_expired_certificates_rejected);
	tcase_add_test(handshakes, test_client_without_certificate_rejected);
	tcase_add_test(handshakes, test_self_signed_client_rejected);
	tcase_add_test(handshakes, test_tls12_refused);
	tcase_add_test(peers, test_peer_allowed);
	tcase_add_test(peers, test_peer_names_of_odd_certificates);
	tcase_add_test(peers, test_verify_reasons);
	tcase_add_test(peers, test_cert_days_left);
	suite_add_tcase(s, contexts);
	suite_add_tcase(s, handshakes);
	suite_add_tcase(s, peers);
	status = tu_run_suite(s);
	remove_certificates();
	return status;
}
