/*
 * test_config_file.c: the configuration file of SPEC §3 is read as
 * documented, and every mistake is reported with its file, line and key.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "config_file.h"

#define KIB 1024ull
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)

static char err[8192];

static struct mig_config *
load_ok(const char *text)
{
	struct mig_config *cfg = NULL;
	int rc = mig_config_load_string(text, "t.conf", &cfg, err, sizeof(err));

	ck_assert_msg(rc == 0, "unexpected errors:\n%s", err);
	ck_assert_ptr_nonnull(cfg);
	return cfg;
}

/* Loads text that must fail; returns the number of error lines. */
static int
load_bad(const char *text)
{
	struct mig_config *cfg = (struct mig_config *)&cfg;
	int rc = mig_config_load_string(text, "t.conf", &cfg, err, sizeof(err));
	int lines = 1;
	const char *c;

	ck_assert_int_eq(rc, -1);
	ck_assert_ptr_null(cfg);
	ck_assert_msg(err[0] != '\0', "no error text");
	for (c = err; *c != '\0'; c++)
		lines += *c == '\n';
	return lines;
}

/* Is want one whole line of err? */
static int
has_line(const char *want)
{
	size_t len = strlen(want);
	const char *at;

	for (at = strstr(err, want); at != NULL; at = strstr(at + 1, want)) {
		if ((at == err || at[-1] == '\n') && (at[len] == '\0' || at[len] == '\n'))
			return 1;
	}
	return 0;
}

#define ck_assert_error(want) ck_assert_msg(has_line(want), "missing \"%s\" in:\n%s", want, err)

static void
expect_one_error(const char *text, const char *want)
{
	int n = load_bad(text);

	ck_assert_error(want);
	ck_assert_msg(n == 1, "expected one error, got %d:\n%s", n, err);
}

START_TEST(test_shipped_example_parses)
{
	struct mig_config *cfg = NULL;
	const char *path = TOP_SRCDIR "/etc/vfio-migd.conf";
	const struct mig_device_config *d;

	ck_assert_msg(mig_config_load(path, &cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(cfg->path, path);
	ck_assert_uint_eq(cfg->daemon.nlisten, 1);
	ck_assert_str_eq(cfg->daemon.listen[0], "0.0.0.0:7480");
	ck_assert_str_eq(cfg->daemon.control, "/run/vfio-migd/control.sock");
	ck_assert_str_eq(cfg->daemon.control_group, "vfio-migd");
	ck_assert_str_eq(cfg->daemon.state_dir, "/var/lib/vfio-migd");
	ck_assert_ptr_null(cfg->daemon.hook);
	ck_assert_str_eq(cfg->tls.ca, "/etc/pki/vfio-migd/ca-cert.pem");
	ck_assert_uint_eq(cfg->tls.nallowed, 0);
	ck_assert_int_eq(cfg->migration.switchover_manual, 0);
	ck_assert_uint_eq(cfg->migration.chunk_size, MIB);
	ck_assert_uint_eq(cfg->ndevices, 1);
	d = &cfg->devices[0];
	ck_assert_str_eq(d->name, "sim0");
	ck_assert_int_eq(d->backend, MIG_BACKEND_SIM);
	ck_assert_uint_eq(d->size, 256 * MIB);
	ck_assert_uint_eq(d->dirty_rate, 16 * MIB);
	ck_assert_str_eq(d->image, "/var/lib/vfio-migd/sim0.img");
	ck_assert_str_eq(d->guest_memory, "/var/lib/vfio-migd/sim0.ram");
	ck_assert_uint_eq(d->guest_memory_size, GIB);
	ck_assert_uint_eq(d->dma_dirty_rate, 8 * MIB);
	mig_config_free(cfg);
}
END_TEST

START_TEST(test_missing_file)
{
	struct mig_config *cfg = (struct mig_config *)&cfg;

	ck_assert_int_eq(mig_config_load("/nonexistent/vfio-migd.conf", &cfg, err, sizeof(err)), -1);
	ck_assert_ptr_null(cfg);
	ck_assert_str_eq(err, "/nonexistent/vfio-migd.conf: cannot open: No such file or directory");
}
END_TEST

START_TEST(test_defaults)
{
	struct mig_config *cfg = load_ok("");

	ck_assert_str_eq(cfg->path, "t.conf");
	ck_assert_uint_eq(cfg->daemon.nlisten, 1);
	ck_assert_str_eq(cfg->daemon.listen[0], "0.0.0.0:7480");
	ck_assert_str_eq(cfg->daemon.control, "/run/vfio-migd/control.sock");
	ck_assert_ptr_null(cfg->daemon.control_group);
	ck_assert_ptr_null(cfg->daemon.handover); /* no key, no hand-over socket */
	ck_assert_ptr_null(cfg->daemon.metrics_listen); /* no metrics listener */
	ck_assert_str_eq(cfg->daemon.state_dir, "/var/lib/vfio-migd");
	ck_assert_ptr_null(cfg->daemon.hook);
	ck_assert_uint_eq(cfg->daemon.hook_timeout_ms, 30000);
	ck_assert_int_eq(cfg->daemon.log_level, LOG_LEVEL_INFO);
	ck_assert_uint_eq(cfg->daemon.keepalive_interval_ms, 5000);
	ck_assert_uint_eq(cfg->daemon.peer_timeout_ms, 30000);
	ck_assert_uint_eq(cfg->daemon.handshake_timeout_ms, 10000);
	ck_assert_uint_eq(cfg->daemon.max_connections, 64);
	ck_assert_uint_eq(cfg->daemon.max_migrations, 16);
	ck_assert_uint_eq(cfg->daemon.token_ttl_s, 600);
	ck_assert_str_eq(cfg->tls.ca, "/etc/pki/vfio-migd/ca-cert.pem");
	ck_assert_str_eq(cfg->tls.cert, "/etc/pki/vfio-migd/server-cert.pem");
	ck_assert_str_eq(cfg->tls.key, "/etc/pki/vfio-migd/server-key.pem");
	ck_assert_uint_eq(cfg->tls.nallowed, 0);
	ck_assert_uint_eq(cfg->migration.downtime_limit_ms, 300);
	ck_assert_uint_eq(cfg->migration.max_bandwidth, 0);
	ck_assert_uint_eq(cfg->migration.precopy_timeout_s, 600);
	ck_assert_int_eq(cfg->migration.switchover_manual, 0);
	ck_assert_uint_eq(cfg->migration.chunk_size, MIB);
	ck_assert_uint_eq(cfg->migration.channels, 1);
	ck_assert_uint_eq(cfg->migration.ndigests, 2);
	ck_assert_int_eq(cfg->migration.digests[0], MIG_DIGEST_XXH3_128);
	ck_assert_int_eq(cfg->migration.digests[1], MIG_DIGEST_SHA256);
	ck_assert_int_eq(cfg->migration.compression, MIG_COMPRESSION_NONE);
	ck_assert_uint_eq(cfg->ndevices, 0);
	mig_config_free(cfg);
}
END_TEST

START_TEST(test_every_key_is_read)
{
	struct mig_config *cfg = load_ok(
	    "[daemon]\n"
	    "listen = 127.0.0.1:7001 [::1]:7002\n"
	    "listen = host-a.example:7003\n"
	    "metrics_listen = [::1]:9480\n"
	    "control = /tmp/c.sock\n"
	    "control_group = kvm\n"
	    "handover = /tmp/h.sock\n"
	    "state_dir = /tmp/state\n"
	    "hook = /usr/libexec/hook\n"
	    "hook_timeout_ms = 100\n"
	    "log_level = debug\n"
	    "keepalive_interval_ms = 1000\n"
	    "peer_timeout_ms = 2000\n"
	    "handshake_timeout_ms = 600000\n"
	    "max_connections = 3\n"
	    "max_migrations = 2\n"
	    "token_ttl_s = 60\n"
	    "[tls]\n"
	    "ca = /p/ca.pem\n"
	    "cert = /p/cert.pem\n"
	    "key = /p/key.pem\n"
	    "allowed_peers = host-a host-b.example\n"
	    "allowed_peers = host-c\n"
	    "[migration]\n"
	    "downtime_limit_ms = 1\n"
	    "max_bandwidth = 100M\n"
	    "precopy_timeout_s = 86400\n"
	    "switchover = manual\n"
	    "chunk_size = 16M\n"
	    "channels = 16\n"
	    "digest = sha256\n"
	    "compression = auto\n"
	    "[device gpu0]\n"
	    "backend = vfio-v2\n"
	    "path = /dev/vfio/devices/vfio0\n"
	    "[device gpu1]\n"
	    "backend = vfio-v1\n"
	    "path = 0000:3b:00.0\n"
	    "[device sim-0.a_b]\n"
	    "backend = sim-v2\n"
	    "size = 4K\n"
	    "dirty_rate = 1K\n"
	    "image = /tmp/x.img\n"
	    "guest_memory = /tmp/x.ram\n"
	    "guest_memory_size = 8K\n"
	    "dma_dirty_rate = 2K\n"
	    "seed = 0xdeadBEEF\n"
	    "section_size = 64M\n"
	    "content = text\n"
	    "zero_pages = 100\n");

	ck_assert_uint_eq(cfg->daemon.nlisten, 3);
	ck_assert_str_eq(cfg->daemon.listen[0], "127.0.0.1:7001");
	ck_assert_str_eq(cfg->daemon.listen[1], "[::1]:7002");
	ck_assert_str_eq(cfg->daemon.metrics_listen, "[::1]:9480");
	ck_assert_str_eq(cfg->daemon.listen[2], "host-a.example:7003");
	ck_assert_str_eq(cfg->daemon.control, "/tmp/c.sock");
	ck_assert_str_eq(cfg->daemon.control_group, "kvm");
	ck_assert_str_eq(cfg->daemon.handover, "/tmp/h.sock");
	ck_assert_str_eq(cfg->daemon.state_dir, "/tmp/state");
	ck_assert_str_eq(cfg->daemon.hook, "/usr/libexec/hook");
	ck_assert_uint_eq(cfg->daemon.hook_timeout_ms, 100);
	ck_assert_int_eq(cfg->daemon.log_level, LOG_LEVEL_DEBUG);
	ck_assert_uint_eq(cfg->daemon.keepalive_interval_ms, 1000);
	ck_assert_uint_eq(cfg->daemon.peer_timeout_ms, 2000);
	ck_assert_uint_eq(cfg->daemon.handshake_timeout_ms, 600000);
	ck_assert_uint_eq(cfg->daemon.max_connections, 3);
	ck_assert_uint_eq(cfg->daemon.max_migrations, 2);
	ck_assert_uint_eq(cfg->daemon.token_ttl_s, 60);
	ck_assert_str_eq(cfg->tls.ca, "/p/ca.pem");
	ck_assert_str_eq(cfg->tls.cert, "/p/cert.pem");
	ck_assert_str_eq(cfg->tls.key, "/p/key.pem");
	ck_assert_uint_eq(cfg->tls.nallowed, 3);
	ck_assert_str_eq(cfg->tls.allowed_peers[0], "host-a");
	ck_assert_str_eq(cfg->tls.allowed_peers[1], "host-b.example");
	ck_assert_str_eq(cfg->tls.allowed_peers[2], "host-c");
	ck_assert_uint_eq(cfg->migration.downtime_limit_ms, 1);
	ck_assert_uint_eq(cfg->migration.max_bandwidth, 100 * MIB);
	ck_assert_uint_eq(cfg->migration.precopy_timeout_s, 86400);
	ck_assert_int_eq(cfg->migration.switchover_manual, 1);
	ck_assert_uint_eq(cfg->migration.chunk_size, 16 * MIB);
	ck_assert_uint_eq(cfg->migration.channels, 16);
	ck_assert_uint_eq(cfg->migration.ndigests, 1);
	ck_assert_int_eq(cfg->migration.digests[0], MIG_DIGEST_SHA256);
	ck_assert_int_eq(cfg->migration.compression, MIG_COMPRESSION_AUTO);
	ck_assert_uint_eq(cfg->ndevices, 3);
	ck_assert_str_eq(cfg->devices[0].name, "gpu0");
	ck_assert_int_eq(cfg->devices[0].backend, MIG_BACKEND_VFIO_V2);
	ck_assert_str_eq(cfg->devices[0].path, "/dev/vfio/devices/vfio0");
	ck_assert_ptr_null(cfg->devices[0].image);
	ck_assert_int_eq(cfg->devices[0].line, 33);
	ck_assert_int_eq(cfg->devices[1].backend, MIG_BACKEND_VFIO_V1);
	ck_assert_str_eq(cfg->devices[1].path, "0000:3b:00.0");
	ck_assert_str_eq(cfg->devices[2].name, "sim-0.a_b");
	ck_assert_int_eq(cfg->devices[2].line, 39);
	ck_assert_int_eq(cfg->devices[2].backend, MIG_BACKEND_SIM_V2);
	ck_assert_uint_eq(cfg->devices[2].size, 4 * KIB);
	ck_assert_uint_eq(cfg->devices[2].dirty_rate, KIB);
	ck_assert_str_eq(cfg->devices[2].image, "/tmp/x.img");
	ck_assert_str_eq(cfg->devices[2].guest_memory, "/tmp/x.ram");
	ck_assert_uint_eq(cfg->devices[2].guest_memory_size, 8 * KIB);
	ck_assert_uint_eq(cfg->devices[2].dma_dirty_rate, 2 * KIB);
	ck_assert_uint_eq(cfg->devices[2].seed, 0xdeadbeefull);
	ck_assert_uint_eq(cfg->devices[2].section_size, 64 * MIB);
	ck_assert_int_eq(cfg->devices[2].content, 1);
	ck_assert_uint_eq(cfg->devices[2].zero_pages, 100);
	ck_assert_int_eq(cfg->devices[0].content, 0);
	ck_assert_uint_eq(cfg->devices[0].zero_pages, 0);
	mig_config_free(cfg);
}
END_TEST

/* Each bad value alone in its section, on line 3 after a comment line. */
static const struct bad_value {
	const char *section, *key, *value, *why;
} bad_values[] = {
    {"daemon", "listen", "0.0.0.0",
	"must be host:port or [IPv6]:port with port 0..65535 (0: any free port), got 0.0.0.0"},
    {"daemon", "listen", "", "must not be empty"},
    {"daemon", "metrics_listen", "9480",
	"must be host:port or [IPv6]:port with port 0..65535 (0: any free port), or empty (no "
	"listener), got 9480"},
    {"daemon", "metrics_listen", "127.0.0.1:9480 [::1]:9480",
	"must be host:port or [IPv6]:port with port 0..65535 (0: any free port), or empty (no "
	"listener), got 127.0.0.1:9480 [::1]:9480"},
    {"daemon", "control", "run/c.sock", "must be an absolute path, got run/c.sock"},
    {"daemon", "control", "", "must not be empty"},
    {"daemon", "control_group", "a group", "must be a name of A-Z a-z 0-9 _ . -, got a group"},
    {"daemon", "handover", "h.sock", "must be an absolute path, got h.sock"},
    {"daemon", "state_dir", "var/lib", "must be an absolute path, got var/lib"},
    {"daemon", "hook", "./hook", "must be an absolute path, got ./hook"},
    {"daemon", "hook_timeout_ms", "99", "must be 100..600000, got 99"},
    {"daemon", "hook_timeout_ms", "600001", "must be 100..600000, got 600001"},
    {"daemon", "hook_timeout_ms", "1s", "must be 100..600000, got 1s"},
    {"daemon", "hook_timeout_ms", "-5", "must be 100..600000, got -5"},
    {"daemon", "log_level", "verbose", "must be debug, info, warning (or warn) or error, got verbose"},
    {"daemon", "log_level", "INFO", "must be debug, info, warning (or warn) or error, got INFO"},
    {"daemon", "keepalive_interval_ms", "50", "must be 100..600000, got 50"},
    {"daemon", "peer_timeout_ms", "3600001", "must be 200..3600000, got 3600001"},
    {"daemon", "handshake_timeout_ms", "0", "must be 100..600000, got 0"},
    {"daemon", "max_connections", "0", "must be 1..4096, got 0"},
    {"daemon", "max_migrations", "1025", "must be 1..1024, got 1025"},
    {"daemon", "token_ttl_s", "9", "must be 10..86400, got 9"},
    {"daemon", "token_ttl_s", "99999999999999999999999", "must be 10..86400, got 99999999999999999999999"},
    {"tls", "ca", "ca.pem", "must be an absolute path, got ca.pem"},
    {"tls", "cert", "~/cert.pem", "must be an absolute path, got ~/cert.pem"},
    {"tls", "key", "", "must not be empty"},
    {"tls", "allowed_peers", "", "must not be empty"},
    {"tls", "allowed_peers", "a b a", "a is listed twice"},
    {"migration", "downtime_limit_ms", "0", "must be 1..600000, got 0"},
    {"migration", "max_bandwidth", "fast", "must be a size in bytes, with an optional K, M, G or T suffix, got fast"},
    {"migration", "max_bandwidth", "1.5G", "must be a size in bytes, with an optional K, M, G or T suffix, got 1.5G"},
    {"migration", "max_bandwidth", "1025T", "must be 0..1024T, got 1025T"},
    {"migration", "precopy_timeout_s", "86401", "must be 1..86400, got 86401"},
    {"migration", "switchover", "yes", "must be auto or manual, got yes"},
    {"migration", "chunk_size", "64M", "must be 4K..16M, got 64M"},
    {"migration", "chunk_size", "4095", "must be 4K..16M, got 4095"},
    {"migration", "channels", "17", "must be 1..16, got 17"},
    {"migration", "channels", "0", "must be 1..16, got 0"},
    {"migration", "digest", "md5", "must be a list of xxh3-128 and sha256, got md5"},
    {"migration", "digest", "sha256, xxh3-128, sha256", "sha256 is listed twice"},
    {"migration", "digest", ", ,", "must not be empty"},
    {"migration", "compression", "fast", "must be none, zstd or auto, got fast"},
    {"device d", "backend", "vfio", "must be sim, sim-v2, vfio-v1, vfio-v2 or vfio-user, got vfio"},
};

START_TEST(test_bad_value)
{
	const struct bad_value *b = &bad_values[_i];
	char text[512], want[512];
	int n;

	snprintf(text, sizeof(text), "; comment\n[%s]\n%s = %s\n", b->section, b->key, b->value);
	snprintf(want, sizeof(want), "t.conf:3: [%s] %s: %s", b->section, b->key, b->why);
	n = load_bad(text);
	ck_assert_error(want);
	ck_assert_msg(n == 1, "expected one error, got %d:\n%s", n, err);
}
END_TEST

/* Device keys, in a valid sim device, one bad value each (line 4). */
static const struct bad_value bad_device_values[] = {
    {"sim", "size", "0", "must be 4K..64G, got 0"},
    {"sim", "size", "64G4K", "must be a size in bytes, with an optional K, M, G or T suffix, got 64G4K"},
    {"sim", "size", "65G", "must be 4K..64G, got 65G"},
    {"sim", "size", "5000", "must be a multiple of 4K, got 5000"},
    {"sim", "size", "12Q", "must be a size in bytes, with an optional K, M, G or T suffix, got 12Q"},
    {"sim", "dirty_rate", "-1", "must be a size in bytes, with an optional K, M, G or T suffix, got -1"},
    {"sim", "dirty_rate", "16G", "must be 0..16000000000, got 16G"},
    {"sim", "image", "sim0.img", "must be an absolute path, got sim0.img"},
    {"sim", "seed", "abc", "must be an integer 0..18446744073709551615 (or 0x hex), got abc"},
    {"sim", "seed", "0x", "must be an integer 0..18446744073709551615 (or 0x hex), got 0x"},
    {"sim", "seed", "18446744073709551616", "must be an integer 0..18446744073709551615 (or 0x hex), got 18446744073709551616"},
    {"sim", "section_size", "128M", "must be 8K..64M, got 128M"},
    {"sim", "section_size", "10K", "must be a multiple of 4K, got 10K"},
    {"sim", "section_size", "0", "must be 8K..64M, got 0"},
    {"sim", "zero_pages", "101", "must be 0..100, got 101"},
    {"sim", "content", "noise", "must be random or text, got noise"},
    {"vfio-v2", "path", "vfio0", "must be an absolute path or a PCI address like 0000:3b:00.0, got vfio0"},
    {"vfio-v1", "path", "0000:3b:00.8", "must be an absolute path or a PCI address like 0000:3b:00.0, got 0000:3b:00.8"},
    {"vfio-v1", "path", "3b:00.0", "must be an absolute path or a PCI address like 0000:3b:00.0, got 3b:00.0"},
    {"vfio-user", "path", "0000:3b:00.0", "must be the absolute path of the vfio-user server's socket with backend vfio-user, got 0000:3b:00.0"},
    {"vfio-user", "vfio_user_write_max", "256", "must be 512..1M, got 256"},
    {"vfio-user", "vfio_user_write_max", "2M", "must be 512..1M, got 2M"},
    {"vfio-user", "vfio_user_write_max", "lots", "must be a size in bytes, with an optional K, M, G or T suffix, got lots"},
    {"vfio-user", "vfio_user_timeout_ms", "99", "must be 100..600000, got 99"},
    {"vfio-user", "vfio_user_timeout_ms", "600001", "must be 100..600000, got 600001"},
};

START_TEST(test_bad_device_value)
{
	const struct bad_value *b = &bad_device_values[_i];
	const char *required = strcmp(b->section, "sim") == 0 ? "size = 4K" : "path = /dev/x";
	char text[512], want[512];
	int n;

	if (strcmp(b->key, "size") == 0 || strcmp(b->key, "path") == 0)
		required = "; nothing else";
	snprintf(text, sizeof(text), "[device dev0]\nbackend = %s\n%s\n%s = %s\n", b->section,
	    required, b->key, b->value);
	snprintf(want, sizeof(want), "t.conf:4: [device dev0] %s: %s", b->key, b->why);
	n = load_bad(text);
	ck_assert_error(want);
	ck_assert_msg(n == 1, "expected one error, got %d:\n%s", n, err);
}
END_TEST

START_TEST(test_unknown_key_and_section)
{
	int n = load_bad("[daemon]\n"
			 "listen = 0.0.0.0:1\n"
			 "\n"
			 "lisen = 0.0.0.0:2\n"
			 "[migrations]\n"
			 "anything = goes\n"
			 "chunk_size = 1M\n"
			 "[tls]\n"
			 "; comment\n"
			 "certificate = /x\n"
			 "[device sim0]\n"
			 "backend = sim\n"
			 "size = 4K\n"
			 "path = /dev/x\n"
			 "colour = blue\n");

	ck_assert_error("t.conf:4: [daemon] lisen: unknown key");
	ck_assert_error("t.conf:5: [migrations]: unknown section (expected daemon, tls, migration or device NAME)");
	ck_assert_error("t.conf:10: [tls] certificate: unknown key");
	ck_assert_error("t.conf:15: [device sim0] colour: unknown key");
	ck_assert_error("t.conf:14: [device sim0] path: not allowed with backend sim");
	/* Keys of an unknown section are not reported one by one. */
	ck_assert_int_eq(n, 5);
}
END_TEST

START_TEST(test_key_outside_section)
{
	expect_one_error("log_level = info\n[daemon]\n", "t.conf:1: log_level: key outside of any section");
}
END_TEST

START_TEST(test_repeated_key)
{
	int n = load_bad("[daemon]\n"
			 "log_level = info\n"
			 "hook_timeout_ms = 100\n"
			 "log_level = debug\n"
			 "[device a]\n"
			 "backend = sim\n"
			 "size = 4K\n"
			 "size = 8K\n"
			 "[daemon]\n"
			 "hook_timeout_ms = 200\n");

	ck_assert_error("t.conf:4: [daemon] log_level: set twice (first on line 2)");
	ck_assert_error("t.conf:8: [device a] size: set twice (first on line 7)");
	ck_assert_error("t.conf:10: [daemon] hook_timeout_ms: set twice (first on line 3)");
	ck_assert_int_eq(n, 3);
}
END_TEST

START_TEST(test_listen_lists)
{
	struct mig_config *cfg;
	int n;

	cfg = load_ok("[daemon]\nlisten = 1.2.3.4:1 [fe80::1%eth0]:2\t[::]:65535\nlisten=h:4 "
		      "127.0.0.1:0\n");
	ck_assert_uint_eq(cfg->daemon.nlisten, 5);
	ck_assert_str_eq(cfg->daemon.listen[4], "127.0.0.1:0");
	ck_assert_str_eq(cfg->daemon.listen[1], "[fe80::1%eth0]:2");
	ck_assert_str_eq(cfg->daemon.listen[2], "[::]:65535");
	mig_config_free(cfg);

	n = load_bad("[daemon]\n"
		     "listen = a:1 b:2 c:3 d:4 e:5\n"
		     "listen = a:1 f:6 g:7 h:8 i:9\n"
		     "listen = ::1:80 [::1]:-1 a:65536 :80\n");
	ck_assert_error("t.conf:3: [daemon] listen: a:1 is listed twice");
	ck_assert_error("t.conf:3: [daemon] listen: at most 8 addresses, i:9 is one too many");
	ck_assert_error("t.conf:4: [daemon] listen: must be host:port or [IPv6]:port with port 0..65535 (0: any free port), got ::1:80");
	ck_assert_error("t.conf:4: [daemon] listen: must be host:port or [IPv6]:port with port 0..65535 (0: any free port), got [::1]:-1");
	ck_assert_error("t.conf:4: [daemon] listen: must be host:port or [IPv6]:port with port 0..65535 (0: any free port), got a:65536");
	ck_assert_error("t.conf:4: [daemon] listen: must be host:port or [IPv6]:port with port 0..65535 (0: any free port), got :80");
	ck_assert_int_eq(n, 6);
}
END_TEST

/* metrics_listen: one address, port 0 allowed; empty is no listener. */
START_TEST(test_metrics_listen)
{
	struct mig_config *cfg;

	cfg = load_ok("[daemon]\nmetrics_listen = 127.0.0.1:0\n");
	ck_assert_str_eq(cfg->daemon.metrics_listen, "127.0.0.1:0");
	mig_config_free(cfg);
	cfg = load_ok("[daemon]\nmetrics_listen =\n");
	ck_assert_ptr_null(cfg->daemon.metrics_listen);
	mig_config_free(cfg);
	expect_one_error("[daemon]\nmetrics_listen = a:1\nmetrics_listen = b:2\n",
	    "t.conf:3: [daemon] metrics_listen: set twice (first on line 2)");
}
END_TEST

START_TEST(test_allowed_peers)
{
	struct mig_config *cfg;
	char text[8192];
	size_t len = 0;
	int i;

	cfg = load_ok("[tls]\nallowed_peers =   host-a.example\t host-b.example  \n");
	ck_assert_uint_eq(cfg->tls.nallowed, 2);
	ck_assert_str_eq(cfg->tls.allowed_peers[0], "host-a.example");
	ck_assert_str_eq(cfg->tls.allowed_peers[1], "host-b.example");
	mig_config_free(cfg);

	len += (size_t)snprintf(text, sizeof(text), "[tls]\n");
	for (i = 0; i < 65; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "allowed_peers = p%d\n", i);
	expect_one_error(text, "t.conf:66: [tls] allowed_peers: at most 64 names, p64 is one too many");
	expect_one_error("[tls]\nallowed_peers = Host-A host-a\n",
	    "t.conf:2: [tls] allowed_peers: host-a is listed twice");
}
END_TEST

START_TEST(test_several_errors_at_once)
{
	int n = load_bad("[daemon]\n"
			 "log_level = loud\n"
			 "hook = hook\n"
			 "[migration]\n"
			 "chunk_size = 64M\n"
			 "channels = 99\n"
			 "[device gpu0]\n"
			 "backend = vfio-v2\n"
			 "[device sim0]\n"
			 "backend = sim\n");

	/* All of them, in line order, although the last two are found last. */
	ck_assert_str_eq(err,
	    "t.conf:2: [daemon] log_level: must be debug, info, warning (or warn) or error, got loud\n"
	    "t.conf:3: [daemon] hook: must be an absolute path, got hook\n"
	    "t.conf:5: [migration] chunk_size: must be 4K..16M, got 64M\n"
	    "t.conf:6: [migration] channels: must be 1..16, got 99\n"
	    "t.conf:7: [device gpu0]: path is required with backend vfio-v2\n"
	    "t.conf:9: [device sim0]: size is required with backend sim");
	ck_assert_int_eq(n, 6);
}
END_TEST

START_TEST(test_syntax_errors)
{
	int n = load_bad("[daemon\n"
			 "log_level = info\n"
			 "[tls]\n"
			 "this line has no separator\n"
			 "[migration] channels = 2\n"
			 "channels = 2\n"
			 "[device sim0]\n"
			 "backend = sim\n"
			 "size = 4K\n"
			 "= 4K\n");

	ck_assert_error("t.conf:1: section header without a closing ]");
	ck_assert_error("t.conf:4: expected [section] or key = value");
	ck_assert_error("t.conf:5: unexpected text after the section header");
	ck_assert_error("t.conf:10: expected [section] or key = value");
	/* After a bad header its keys are not reported; later sections are read. */
	ck_assert_int_eq(n, 4);
}
END_TEST

START_TEST(test_long_line)
{
	char text[1024];

	snprintf(text, sizeof(text), "[daemon]\n\nhook = /%0300d\nlog_level = info\n", 0);
	expect_one_error(text, "t.conf:3: line longer than 199 characters");
}
END_TEST

START_TEST(test_lexical_details)
{
	/* A byte order mark, CRLF, indented keys, both comment styles, inline
	 * comments and a last line without a newline. */
	struct mig_config *cfg = load_ok("\xef\xbb\xbf[daemon]\r\n"
					 "  log_level = warn   ; inline\r\n"
					 "\thook_timeout_ms = 200\r\n"
					 "# hash comment\n"
					 "; semicolon comment\n"
					 "\n"
					 "   \n"
					 "[migration]\n"
					 "switchover: manual\n"
					 "channels = 4");

	ck_assert_int_eq(cfg->daemon.log_level, LOG_LEVEL_WARNING);
	ck_assert_uint_eq(cfg->daemon.hook_timeout_ms, 200);
	ck_assert_int_eq(cfg->migration.switchover_manual, 1);
	ck_assert_uint_eq(cfg->migration.channels, 4);
	mig_config_free(cfg);
}
END_TEST

/* [tls] groups: absent, the built-in set (NULL); given, kept as written
 * (OpenSSL checks the names when the daemon builds its contexts). */
START_TEST(test_tls_groups)
{
	struct mig_config *cfg = load_ok("[daemon]\nlog_level = info\n");

	ck_assert_ptr_null(cfg->tls.groups);
	mig_config_free(cfg);
	cfg = load_ok("[tls]\ngroups = X25519:P-256\n");
	ck_assert_str_eq(cfg->tls.groups, "X25519:P-256");
	mig_config_free(cfg);
	expect_one_error("[tls]\ngroups = X25519::P-256\n",
	    "t.conf:2: [tls] groups: must be group names (A-Z a-z 0-9 _ -) separated by colons, "
	    "at most 255 characters, got X25519::P-256");
	expect_one_error("[tls]\ngroups = X25519 P-256\n",
	    "t.conf:2: [tls] groups: must be group names (A-Z a-z 0-9 _ -) separated by colons, "
	    "at most 255 characters, got X25519 P-256");
}
END_TEST

/* [migration] digest: a list by commas or blanks, preferred first. */
START_TEST(test_digest_list)
{
	struct mig_config *cfg = load_ok("[migration]\ndigest = sha256, xxh3-128\n");

	ck_assert_uint_eq(cfg->migration.ndigests, 2);
	ck_assert_int_eq(cfg->migration.digests[0], MIG_DIGEST_SHA256);
	ck_assert_int_eq(cfg->migration.digests[1], MIG_DIGEST_XXH3_128);
	mig_config_free(cfg);
	cfg = load_ok("[migration]\ndigest = xxh3-128\n");
	ck_assert_uint_eq(cfg->migration.ndigests, 1);
	ck_assert_int_eq(cfg->migration.digests[0], MIG_DIGEST_XXH3_128);
	mig_config_free(cfg);
	cfg = load_ok("[migration]\ndigest = sha256 xxh3-128\n");
	ck_assert_uint_eq(cfg->migration.ndigests, 2);
	mig_config_free(cfg);
}
END_TEST

/* The log prints "[warning]": the word it prints is a level one can set. */
START_TEST(test_log_level_warning_as_the_log_prints_it)
{
	struct mig_config *cfg = load_ok("[daemon]\nlog_level = warning\n");

	ck_assert_int_eq(cfg->daemon.log_level, LOG_LEVEL_WARNING);
	mig_config_free(cfg);
}
END_TEST

START_TEST(test_peer_timeout_above_keepalive)
{
	expect_one_error("[daemon]\nkeepalive_interval_ms = 30000\n",
	    "t.conf:2: [daemon] keepalive_interval_ms: must be less than peer_timeout_ms (30000), got 30000");
	expect_one_error("[daemon]\npeer_timeout_ms = 1000\nkeepalive_interval_ms = 1000\n",
	    "t.conf:2: [daemon] peer_timeout_ms: must be greater than keepalive_interval_ms (1000), got 1000");
}
END_TEST

START_TEST(test_device_backend_required)
{
	expect_one_error("[device empty]\n",
	    "t.conf:1: [device empty]: backend is required (sim, sim-v2, vfio-v1, vfio-v2 or vfio-user)");
	expect_one_error("[daemon]\n[device x]\nsize = 4K\n",
	    "t.conf:2: [device x]: backend is required (sim, sim-v2, vfio-v1, vfio-v2 or vfio-user)");
}
END_TEST

START_TEST(test_device_names)
{
	char text[256];
	struct mig_config *cfg;
	int n;

	snprintf(text, sizeof(text), "[device %.63s]\nbackend = sim\nsize = 4K\n",
	    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopq");
	cfg = load_ok(text);
	ck_assert_uint_eq(strlen(cfg->devices[0].name), 63);
	mig_config_free(cfg);

	snprintf(text, sizeof(text), "[device %.64s]\nbackend = sim\nsize = 4K\n",
	    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopq");
	load_bad(text);
	ck_assert_ptr_nonnull(strstr(err, "t.conf:1: [device abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl]: "
					  "a device name is 1..63 characters of A-Z a-z 0-9 _ . -"));

	n = load_bad("[device]\nbackend = sim\n"
		     "[device a/b]\nbackend = sim\n"
		     "[device  ok]\nbackend = sim\nsize = 4K\n"
		     "[device ok]\nbackend = sim\nsize = 4K\n"
		     "[Device x]\n");
	ck_assert_error("t.conf:1: [device ]: a device name is 1..63 characters of A-Z a-z 0-9 _ . -");
	ck_assert_error("t.conf:3: [device a/b]: a device name is 1..63 characters of A-Z a-z 0-9 _ . -");
	ck_assert_error("t.conf:8: [device ok]: device already defined on line 5");
	ck_assert_error("t.conf:11: [Device x]: unknown section (expected daemon, tls, migration or device NAME)");
	ck_assert_int_eq(n, 4);
}
END_TEST

START_TEST(test_sim_device_rules)
{
	int n = load_bad("[device a]\n"
			 "backend = sim\n"
			 "size = 4K\n"
			 "guest_memory = /tmp/a.ram\n"
			 "[device b]\n"
			 "backend = sim-v2\n"
			 "size = 4K\n"
			 "guest_memory_size = 4K\n"
			 "dma_dirty_rate = 1M\n"
			 "path = /dev/vfio/1\n");

	ck_assert_error("t.conf:4: [device a] guest_memory: needs guest_memory_size");
	ck_assert_error("t.conf:8: [device b] guest_memory_size: needs guest_memory");
	ck_assert_error("t.conf:9: [device b] dma_dirty_rate: needs guest_memory");
	ck_assert_error("t.conf:10: [device b] path: not allowed with backend sim-v2");
	ck_assert_int_eq(n, 4);
}
END_TEST

START_TEST(test_vfio_device_rules)
{
	int n = load_bad("[device gpu0]\n"
			 "backend = vfio-v1\n"
			 "path = 0000:3b:00.0\n"
			 "size = 4K\n"
			 "image = /tmp/i\n"
			 "seed = 1\n"
			 "[device gpu1]\n"
			 "section_size = 1M\n"
			 "backend = vfio-v2\n");

	ck_assert_error("t.conf:4: [device gpu0] size: not allowed with backend vfio-v1");
	ck_assert_error("t.conf:5: [device gpu0] image: not allowed with backend vfio-v1");
	ck_assert_error("t.conf:6: [device gpu0] seed: not allowed with backend vfio-v1");
	ck_assert_error("t.conf:8: [device gpu1] section_size: not allowed with backend vfio-v2");
	ck_assert_error("t.conf:7: [device gpu1]: path is required with backend vfio-v2");
	ck_assert_int_eq(n, 5);
}
END_TEST

START_TEST(test_vfio_user_device)
{
	struct mig_config *cfg = load_ok("[device nvme0]\nbackend = vfio-user\n"
					 "path = /run/vfio-user/nvme0.sock\n"
					 "[device nvme1]\nbackend = vfio-user\npath = /run/n1\n"
					 "vfio_user_write_max = 4K\nvfio_user_timeout_ms = 2500\n");
	int n;

	ck_assert_int_eq(cfg->devices[0].backend, MIG_BACKEND_VFIO_USER);
	ck_assert_str_eq(cfg->devices[0].path, "/run/vfio-user/nvme0.sock");
	ck_assert_uint_eq(cfg->devices[0].vfio_user_write_max, MIG_VFIO_USER_WRITE_MAX_DEFAULT);
	ck_assert_uint_eq(cfg->devices[0].vfio_user_timeout_ms, MIG_VFIO_USER_TIMEOUT_MS_DEFAULT);
	ck_assert_uint_eq(cfg->devices[1].vfio_user_write_max, 4096);
	ck_assert_uint_eq(cfg->devices[1].vfio_user_timeout_ms, 2500);
	mig_config_free(cfg);
	/* The keys of one backend are nobody else's; a socket path fits a
	 * sockaddr_un. */
	n = load_bad("[device a]\nbackend = vfio-user\nsize = 4K\n"
		     "[device b]\nbackend = vfio-v2\npath = /dev/vfio/devices/vfio0\n"
		     "vfio_user_write_max = 4K\n"
		     "[device c]\nbackend = vfio-user\npath = /run/"
		     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock\n");
	ck_assert_error("t.conf:3: [device a] size: not allowed with backend vfio-user");
	ck_assert_error("t.conf:1: [device a]: path is required with backend vfio-user");
	ck_assert_error("t.conf:7: [device b] vfio_user_write_max: not allowed with backend vfio-v2");
	ck_assert_error("t.conf:10: [device c] path: a socket path is at most 107 bytes, got 132");
	ck_assert_int_eq(n, 4);
}
END_TEST

START_TEST(test_sim_defaults)
{
	/* state_dir may come after the device that uses it. */
	struct mig_config *cfg = load_ok("[device a]\nbackend = sim\nsize = 64G\n"
					 "[device b]\nbackend = sim\nsize = 4K\n"
					 "[daemon]\nstate_dir = /srv/mig\n");

	ck_assert_str_eq(cfg->devices[0].image, "/srv/mig/a.img");
	ck_assert_str_eq(cfg->devices[1].image, "/srv/mig/b.img");
	ck_assert_uint_eq(cfg->devices[0].size, 64 * GIB);
	ck_assert_uint_eq(cfg->devices[0].dirty_rate, 0);
	ck_assert_ptr_null(cfg->devices[0].guest_memory);
	ck_assert_uint_eq(cfg->devices[0].section_size, 0);
	ck_assert_uint_ne(cfg->devices[0].seed, 0);
	ck_assert_uint_ne(cfg->devices[0].seed, cfg->devices[1].seed);
	mig_config_free(cfg);

	cfg = load_ok("[device a]\nbackend = sim\nsize = 4K\n");
	ck_assert_str_eq(cfg->devices[0].image, "/var/lib/vfio-migd/a.img");
	mig_config_free(cfg);
}
END_TEST

START_TEST(test_device_files_not_shared)
{
	expect_one_error("[device a]\nbackend = sim\nsize = 4K\n"
			 "[device b]\nbackend = sim\nsize = 4K\nimage = /var/lib/vfio-migd/a.img\n",
	    "t.conf:4: [device b]: /var/lib/vfio-migd/a.img is also used by device a");
	expect_one_error("[device a]\nbackend = sim\nsize = 4K\nimage = /x\nguest_memory = /x\n"
			 "guest_memory_size = 4K\n",
	    "t.conf:1: [device a]: /x is also used by device a");
}
END_TEST

START_TEST(test_error_text_truncated)
{
	struct mig_config *cfg = NULL;
	char small[24];

	memset(small, 'x', sizeof(small));
	ck_assert_int_eq(mig_config_load_string("[a]\n[b]\n[c]\n", "t.conf", &cfg, small,
			     sizeof(small)),
	    -1);
	ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
	ck_assert_int_eq(strncmp(small, "t.conf:1: [a]: unknown section", sizeof(small) - 1), 0);
	ck_assert_int_eq(mig_config_load_string("[a]\n", "t.conf", &cfg, NULL, 0), -1);
}
END_TEST

/* driver_model is checked against the backend; transition_delay_ms is
 * bounded; neither is a key of the kernel backends. */
START_TEST(test_driver_models)
{
	struct mig_config *cfg =
	    load_ok("[device a]\nbackend = sim\nsize = 4K\ndriver_model = lenient\n"
		    "[device b]\nbackend = sim-v2\nsize = 4K\ndriver_model = mlx5\n"
		    "transition_delay_ms = 2000\n[device c]\nbackend = sim-v2\nsize = 4K\n");

	ck_assert_str_eq(cfg->devices[0].driver_model, "lenient");
	ck_assert_str_eq(cfg->devices[1].driver_model, "mlx5");
	ck_assert_uint_eq(cfg->devices[1].transition_delay_ms, 2000);
	ck_assert_ptr_null(cfg->devices[2].driver_model);
	ck_assert_uint_eq(cfg->devices[2].transition_delay_ms, 0);
	mig_config_free(cfg);
	expect_one_error("[device a]\nbackend = sim\nsize = 4K\ndriver_model = mlx5\n",
	    "t.conf:4: [device a] driver_model: \"mlx5\" is not a model of backend sim "
	    "(released-v1, lenient)");
	expect_one_error("[device a]\ndriver_model = released-v1\nbackend = sim-v2\nsize = 4K\n",
	    "t.conf:2: [device a] driver_model: \"released-v1\" is not a model of backend sim-v2 "
	    "(uapi, mlx5, no-precopy)");
	expect_one_error("[device a]\nbackend = vfio-v2\npath = 0000:3b:00.0\ndriver_model = mlx5\n",
	    "t.conf:4: [device a] driver_model: not allowed with backend vfio-v2");
	expect_one_error("[device a]\nbackend = sim\nsize = 4K\ntransition_delay_ms = 60001\n",
	    "t.conf:4: [device a] transition_delay_ms: must be 0..60000, got 60001");
}
END_TEST

/* The value parsers themselves are tests/test_parse.c's. */
START_TEST(test_backend_names)
{
	ck_assert_str_eq(mig_backend_name(MIG_BACKEND_SIM), "sim");
	ck_assert_str_eq(mig_backend_name(MIG_BACKEND_SIM_V2), "sim-v2");
	ck_assert_str_eq(mig_backend_name(MIG_BACKEND_VFIO_V1), "vfio-v1");
	ck_assert_str_eq(mig_backend_name(MIG_BACKEND_VFIO_V2), "vfio-v2");
	ck_assert_str_eq(mig_backend_name(MIG_BACKEND_VFIO_USER), "vfio-user");
}
END_TEST

#define NELEMS(a) ((int)(sizeof(a) / sizeof((a)[0])))

int main(void);

int
main(void)
{
	Suite *s = suite_create("config_file");
	TCase *file = tcase_create("file");
	TCase *values = tcase_create("values");
	TCase *devices = tcase_create("devices");

	tcase_add_test(file, test_shipped_example_parses);
	tcase_add_test(file, test_missing_file);
	tcase_add_test(file, test_defaults);
	tcase_add_test(file, test_every_key_is_read);
	tcase_add_test(file, test_unknown_key_and_section);
	tcase_add_test(file, test_key_outside_section);
	tcase_add_test(file, test_repeated_key);
	tcase_add_test(file, test_several_errors_at_once);
	tcase_add_test(file, test_syntax_errors);
	tcase_add_test(file, test_long_line);
	tcase_add_test(file, test_lexical_details);
	tcase_add_test(file, test_log_level_warning_as_the_log_prints_it);
	tcase_add_test(file, test_tls_groups);
	tcase_add_test(file, test_digest_list);
	tcase_add_test(file, test_error_text_truncated);
	tcase_add_test(file, test_driver_models);
	tcase_add_loop_test(values, test_bad_value, 0, NELEMS(bad_values));
	tcase_add_test(values, test_listen_lists);
	tcase_add_test(values, test_metrics_listen);
	tcase_add_test(values, test_allowed_peers);
	tcase_add_test(values, test_peer_timeout_above_keepalive);
	tcase_add_loop_test(devices, test_bad_device_value, 0, NELEMS(bad_device_values));
	tcase_add_test(devices, test_device_backend_required);
	tcase_add_test(devices, test_device_names);
	tcase_add_test(devices, test_sim_device_rules);
	tcase_add_test(devices, test_vfio_device_rules);
	tcase_add_test(devices, test_vfio_user_device);
	tcase_add_test(devices, test_sim_defaults);
	tcase_add_test(devices, test_device_files_not_shared);
	tcase_add_test(devices, test_backend_names);
	suite_add_tcase(s, file);
	suite_add_tcase(s, values);
	suite_add_tcase(s, devices);
	return tu_run_suite(s);
}
