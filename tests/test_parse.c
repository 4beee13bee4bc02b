/*
 * test_parse.c: the value formats of common/parse.c, which the
 * configuration file, the control API and vfio-migctl share: each accepts
 * its whole range and nothing else (bounds, overflow, suffixes, garbage),
 * says why it refused, and leaves its output alone when it does.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check_main.h"
#include "parse.h"
#include "ranges.h"

#define KIB 1024ull
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)
#define TIB (1024ull * GIB)
#define UNTOUCHED 12345

static const struct uint_case {
	const char *text;
	uint64_t min, max;
	int rc;
	uint64_t value;
} uint_cases[] = {
    {"0", 0, 10, MIG_PARSE_OK, 0},
    {"10", 0, 10, MIG_PARSE_OK, 10},
    {"007", 0, 10, MIG_PARSE_OK, 7},
    {"11", 0, 10, MIG_PARSE_RANGE, 0},
    {"0", 1, 10, MIG_PARSE_RANGE, 0},
    {"600000", MIG_DOWNTIME_LIMIT_MS_MIN, MIG_DOWNTIME_LIMIT_MS_MAX, MIG_PARSE_OK, 600000},
    {"600001", MIG_DOWNTIME_LIMIT_MS_MIN, MIG_DOWNTIME_LIMIT_MS_MAX, MIG_PARSE_RANGE, 0},
    {"18446744073709551615", 0, UINT64_MAX, MIG_PARSE_OK, UINT64_MAX},
    {"18446744073709551616", 0, UINT64_MAX, MIG_PARSE_SYNTAX, 0},
    {"99999999999999999999999", 0, UINT64_MAX, MIG_PARSE_SYNTAX, 0},
    {"", 0, 10, MIG_PARSE_SYNTAX, 0},
    {"+1", 0, 10, MIG_PARSE_SYNTAX, 0},
    {"-1", 0, 10, MIG_PARSE_SYNTAX, 0},
    {"-0", 0, 10, MIG_PARSE_SYNTAX, 0},
    {" 1", 0, 10, MIG_PARSE_SYNTAX, 0},
    {"1 ", 0, 10, MIG_PARSE_SYNTAX, 0},
    {"0x10", 0, 100, MIG_PARSE_SYNTAX, 0},
    {"1e3", 0, 10000, MIG_PARSE_SYNTAX, 0},
    {"1.5", 0, 10, MIG_PARSE_SYNTAX, 0},
    {"5ms", 0, 10, MIG_PARSE_SYNTAX, 0},
};

START_TEST(test_parse_uint)
{
	const struct uint_case *c = &uint_cases[_i];
	uint64_t v = UNTOUCHED;

	ck_assert_msg(mig_parse_uint(c->text, c->min, c->max, &v) == c->rc, "\"%s\"", c->text);
	ck_assert_uint_eq(v, c->rc == MIG_PARSE_OK ? c->value : UNTOUCHED);
}
END_TEST

static const struct u64_case {
	const char *text;
	int rc;
	uint64_t value;
} u64_cases[] = {
    {"0", MIG_PARSE_OK, 0},
    {"123", MIG_PARSE_OK, 123},
    {"18446744073709551615", MIG_PARSE_OK, UINT64_MAX},
    {"0x0", MIG_PARSE_OK, 0},
    {"0X1f", MIG_PARSE_OK, 31},
    {"0xffffffffffffffff", MIG_PARSE_OK, UINT64_MAX},
    {"0x10000000000000000", MIG_PARSE_SYNTAX, 0},
    {"18446744073709551616", MIG_PARSE_SYNTAX, 0},
    {"0x", MIG_PARSE_SYNTAX, 0},
    {"0xg", MIG_PARSE_SYNTAX, 0},
    {"0x-1", MIG_PARSE_SYNTAX, 0},
    {"0x 1", MIG_PARSE_SYNTAX, 0},
    {"0x0x10", MIG_PARSE_SYNTAX, 0},
    {"abc", MIG_PARSE_SYNTAX, 0},
    {"-1", MIG_PARSE_SYNTAX, 0},
    {"", MIG_PARSE_SYNTAX, 0},
};

START_TEST(test_parse_u64)
{
	const struct u64_case *c = &u64_cases[_i];
	uint64_t v = UNTOUCHED;

	ck_assert_msg(mig_parse_u64(c->text, &v) == c->rc, "\"%s\"", c->text);
	ck_assert_uint_eq(v, c->rc == MIG_PARSE_OK ? c->value : UNTOUCHED);
}
END_TEST

static const struct size_case {
	const char *text;
	int rc;
	uint64_t value;
} size_cases[] = {
    {"0", 0, 0},
    {"4096", 0, 4096},
    {"16K", 0, 16 * KIB},
    {"16k", 0, 16 * KIB},
    {"256M", 0, 256 * MIB},
    {"1G", 0, GIB},
    {"1g", 0, GIB},
    {"2T", 0, 2 * TIB},
    {"1KB", 0, KIB},
    {"1KiB", 0, KIB},
    {"1GiB", 0, GIB},
    {"1gib", 0, GIB},
    {"10MB", 0, 10 * MIB},
    {"1mib", 0, MIB},
    {"512B", 0, 512},
    {"16777215T", 0, 16777215ull * TIB},
    {"16777216T", -1, 0},
    {"18446744073709551615", 0, UINT64_MAX},
    {"18446744073709551616", -1, 0},
    {"99999999999T", -1, 0},
    {"-1", -1, 0},
    {"+1", -1, 0},
    {"1.5G", -1, 0},
    {"", -1, 0},
    {"12Q", -1, 0},
    {"1P", -1, 0},
    {"G", -1, 0},
    {"1 G", -1, 0},
    {" 1G", -1, 0},
    {"1G ", -1, 0},
    {"1iB", -1, 0},
    {"1Gi", -1, 0},
    {"1GG", -1, 0},
    {"1GBs", -1, 0},
    {"0x10", -1, 0},
};

START_TEST(test_parse_size)
{
	const struct size_case *c = &size_cases[_i];
	uint64_t v = UNTOUCHED;

	ck_assert_msg(mig_parse_size(c->text, &v) == c->rc, "\"%s\"", c->text);
	ck_assert_uint_eq(v, c->rc == 0 ? c->value : UNTOUCHED);
}
END_TEST

static const struct within_case {
	const char *text;
	uint64_t min, max, align;
	int rc;
} within_cases[] = {
    {"4K", MIG_CHUNK_SIZE_MIN, MIG_CHUNK_SIZE_MAX, 0, MIG_PARSE_OK},
    {"16M", MIG_CHUNK_SIZE_MIN, MIG_CHUNK_SIZE_MAX, 0, MIG_PARSE_OK},
    {"16MiB", MIG_CHUNK_SIZE_MIN, MIG_CHUNK_SIZE_MAX, 0, MIG_PARSE_OK},
    {"4095", MIG_CHUNK_SIZE_MIN, MIG_CHUNK_SIZE_MAX, 0, MIG_PARSE_RANGE},
    {"16777217", MIG_CHUNK_SIZE_MIN, MIG_CHUNK_SIZE_MAX, 0, MIG_PARSE_RANGE},
    {"64M", MIG_CHUNK_SIZE_MIN, MIG_CHUNK_SIZE_MAX, 0, MIG_PARSE_RANGE},
    {"0", 0, MIG_BANDWIDTH_MAX, 1, MIG_PARSE_OK},
    {"1024T", 0, MIG_BANDWIDTH_MAX, 1, MIG_PARSE_OK},
    {"1048576G", 0, MIG_BANDWIDTH_MAX, 1, MIG_PARSE_OK},
    {"1125899906842624", 0, MIG_BANDWIDTH_MAX, 1, MIG_PARSE_OK},
    {"1125899906842625", 0, MIG_BANDWIDTH_MAX, 1, MIG_PARSE_RANGE},
    {"1025T", 0, MIG_BANDWIDTH_MAX, 1, MIG_PARSE_RANGE},
    {"16777215T", 0, MIG_BANDWIDTH_MAX, 1, MIG_PARSE_RANGE},
    {"99999999999999999999", 0, MIG_BANDWIDTH_MAX, 1, MIG_PARSE_SYNTAX},
    {"fast", 0, MIG_BANDWIDTH_MAX, 1, MIG_PARSE_SYNTAX},
    {"16000000000", 0, MIG_SIM_DIRTY_RATE_MAX, 1, MIG_PARSE_OK},
    {"16000000001", 0, MIG_SIM_DIRTY_RATE_MAX, 1, MIG_PARSE_RANGE},
    {"16G", 0, MIG_SIM_DIRTY_RATE_MAX, 1, MIG_PARSE_RANGE},
    {"64G", MIG_SIM_SIZE_MIN, MIG_SIM_SIZE_MAX, MIG_SIM_PAGE, MIG_PARSE_OK},
    {"5000", MIG_SIM_SIZE_MIN, MIG_SIM_SIZE_MAX, MIG_SIM_PAGE, MIG_PARSE_ALIGN},
    {"10K", MIG_SECTION_SIZE_MIN, MIG_SECTION_SIZE_MAX, MIG_SIM_PAGE, MIG_PARSE_ALIGN},
    /* The range is checked before the alignment, the syntax before both. */
    {"1", MIG_SIM_SIZE_MIN, MIG_SIM_SIZE_MAX, MIG_SIM_PAGE, MIG_PARSE_RANGE},
    {"1Q", MIG_SIM_SIZE_MIN, MIG_SIM_SIZE_MAX, MIG_SIM_PAGE, MIG_PARSE_SYNTAX},
};

START_TEST(test_parse_size_within)
{
	const struct within_case *c = &within_cases[_i];
	uint64_t v = UNTOUCHED, want;

	ck_assert_msg(mig_parse_size_within(c->text, c->min, c->max, c->align, &v) == c->rc,
	    "\"%s\" in %llu..%llu", c->text, (unsigned long long)c->min,
	    (unsigned long long)c->max);
	if (c->rc == MIG_PARSE_OK) {
		ck_assert_int_eq(mig_parse_size(c->text, &want), 0);
		ck_assert_uint_eq(v, want);
	} else
		ck_assert_uint_eq(v, UNTOUCHED);
}
END_TEST

START_TEST(test_format_size)
{
	char buf[32], small[4];

	ck_assert_str_eq(mig_format_size(0, buf, sizeof(buf)), "0");
	ck_assert_str_eq(mig_format_size(4097, buf, sizeof(buf)), "4097");
	ck_assert_str_eq(mig_format_size(4 * KIB, buf, sizeof(buf)), "4K");
	ck_assert_str_eq(mig_format_size(9999 * KIB, buf, sizeof(buf)), "9999K");
	ck_assert_str_eq(mig_format_size(10000 * KIB, buf, sizeof(buf)), "10240000");
	ck_assert_str_eq(mig_format_size(MIG_MAX_FRAME_SIZE_MAX, buf, sizeof(buf)), "16777280");
	ck_assert_str_eq(mig_format_size(64 * GIB, buf, sizeof(buf)), "64G");
	ck_assert_str_eq(mig_format_size(MIG_BANDWIDTH_MAX, buf, sizeof(buf)), "1024T");
	ck_assert_str_eq(mig_format_size(MIG_SIM_DIRTY_RATE_MAX, buf, sizeof(buf)),
	    "16000000000");
	ck_assert_str_eq(mig_format_size(UINT64_MAX, buf, sizeof(buf)), "18446744073709551615");
	ck_assert_str_eq(mig_format_size(16 * MIB, small, sizeof(small)), "16M");
	ck_assert_str_eq(mig_format_size(4097, small, sizeof(small)), "409");
}
END_TEST

/* What it prints, it reads back as the same value. */
START_TEST(test_format_size_reads_back)
{
	static const uint64_t values[] = {0, 1, 4095, 4 * KIB, 16 * MIB + 64, 3 * GIB, TIB,
		MIG_BANDWIDTH_MAX, MIG_SIM_DIRTY_RATE_MAX, UINT64_MAX};
	char buf[32];
	uint64_t v;
	size_t i;

	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		ck_assert_int_eq(mig_parse_size(mig_format_size(values[i], buf, sizeof(buf)), &v), 0);
		ck_assert_uint_eq(v, values[i]);
	}
}
END_TEST

static const struct hostport_case {
	const char *text;
	int rc;
	const char *host;
	uint16_t port;
} hostport_cases[] = {
    {"0.0.0.0:7480", 0, "0.0.0.0", 7480},
    {"127.0.0.1:1", 0, "127.0.0.1", 1},
    {"host-a.example:65535", 0, "host-a.example", 65535},
    {"host_b:7480", 0, "host_b", 7480},
    {"h:007480", 0, "h", 7480},
    {"[::1]:7480", 0, "::1", 7480},
    {"[::]:80", 0, "::", 80},
    {"[2001:db8::1]:443", 0, "2001:db8::1", 443},
    {"[fe80::1%eth0]:443", 0, "fe80::1%eth0", 443},
    {"0.0.0.0", -1, NULL, 0},
    {"0.0.0.0:", -1, NULL, 0},
    {"0.0.0.0:0", -1, NULL, 0},
    {"0.0.0.0:65536", -1, NULL, 0},
    {"0.0.0.0:99999999999999999999999", -1, NULL, 0},
    {"0.0.0.0:-1", -1, NULL, 0},
    {"0.0.0.0:+80", -1, NULL, 0},
    {"0.0.0.0:80x", -1, NULL, 0},
    {"0.0.0.0: 80", -1, NULL, 0},
    {"host-b:http", -1, NULL, 0},
    {":80", -1, NULL, 0},
    {"::1:80", -1, NULL, 0},
    {"[::1]", -1, NULL, 0},
    {"[::1]80", -1, NULL, 0},
    {"[::1:80", -1, NULL, 0},
    {"[]:80", -1, NULL, 0},
    {"[zz]:80", -1, NULL, 0},
    {"[1.2.3.4]:80", -1, NULL, 0},
    {"[fe80::1%]:80", -1, NULL, 0},
    {"[fe80::1%e/0]:80", -1, NULL, 0},
    {"300.1.1.1:80", -1, NULL, 0},
    {"1.2.3:80", -1, NULL, 0},
    {"host name:80", -1, NULL, 0},
    {"host/b:80", -1, NULL, 0},
    {"", -1, NULL, 0},
};

START_TEST(test_parse_hostport)
{
	const struct hostport_case *c = &hostport_cases[_i];
	char host[64] = "untouched";
	uint16_t port = 9;

	ck_assert_msg(mig_parse_hostport(c->text, host, sizeof(host), &port) == c->rc, "\"%s\"",
	    c->text);
	ck_assert_str_eq(host, c->rc == 0 ? c->host : "untouched");
	ck_assert_uint_eq(port, c->rc == 0 ? c->port : 9);
}
END_TEST

/* A listen address may leave the port to the kernel; a destination may not. */
START_TEST(test_parse_listen_address)
{
	char host[64];
	uint16_t port = 1;

	ck_assert_int_eq(mig_parse_listen_address("127.0.0.1:0", host, sizeof(host), &port), 0);
	ck_assert_str_eq(host, "127.0.0.1");
	ck_assert_uint_eq(port, 0);
	ck_assert_int_eq(mig_parse_listen_address("[::]:7480", host, sizeof(host), &port), 0);
	ck_assert_uint_eq(port, 7480);
	ck_assert_int_eq(mig_parse_listen_address("0.0.0.0:65536", host, sizeof(host), &port), -1);
	ck_assert_int_eq(mig_parse_listen_address("0.0.0.0:-0", host, sizeof(host), &port), -1);
	ck_assert_int_eq(mig_parse_hostport("127.0.0.1:0", host, sizeof(host), &port), -1);
}
END_TEST

START_TEST(test_hostport_lengths)
{
	char host[MIG_HOST_MAX + 1], text[MIG_HOSTPORT_MAX + 16], small[4];
	uint16_t port;

	memset(host, 'a', MIG_HOST_MAX);
	host[MIG_HOST_MAX] = '\0';
	snprintf(text, sizeof(text), "%s:65535", host);
	ck_assert_int_eq(mig_parse_hostport(text, host, sizeof(host), &port), 0);
	ck_assert_uint_eq(strlen(host), MIG_HOST_MAX);
	ck_assert_uint_le(strlen(text), MIG_HOSTPORT_MAX);
	snprintf(text, sizeof(text), "a%s:1", host);
	ck_assert_int_eq(mig_parse_hostport(text, host, sizeof(host), &port), -1);
	ck_assert_int_eq(mig_parse_hostport("abc:1", small, sizeof(small), &port), 0);
	ck_assert_str_eq(small, "abc");
	ck_assert_int_eq(mig_parse_hostport("abcd:1", small, sizeof(small), &port), -1);
	ck_assert_int_eq(mig_parse_hostport("[::1]:1", small, sizeof(small), &port), 0);
	ck_assert_int_eq(mig_parse_hostport("[::12]:1", small, sizeof(small), &port), -1);
}
END_TEST

START_TEST(test_valid_name)
{
	char name[MIG_DEVICE_NAME_MAX + 2];

	ck_assert(mig_valid_name("gpu0", MIG_DEVICE_NAME_MAX));
	ck_assert(mig_valid_name("sim-0.vf_1", MIG_DEVICE_NAME_MAX));
	ck_assert(!mig_valid_name("", MIG_DEVICE_NAME_MAX));
	ck_assert(!mig_valid_name("a b", MIG_DEVICE_NAME_MAX));
	ck_assert(!mig_valid_name("a/b", MIG_DEVICE_NAME_MAX));
	ck_assert(!mig_valid_name("gpu\xc3\xa9", MIG_DEVICE_NAME_MAX));
	memset(name, 'a', MIG_DEVICE_NAME_MAX);
	name[MIG_DEVICE_NAME_MAX] = '\0';
	ck_assert(mig_valid_name(name, MIG_DEVICE_NAME_MAX));
	strcat(name, "a");
	ck_assert(!mig_valid_name(name, MIG_DEVICE_NAME_MAX));
	ck_assert(mig_valid_name(name, SIZE_MAX));
}
END_TEST

START_TEST(test_valid_pci_address)
{
	ck_assert(mig_valid_pci_address("0000:3b:00.0"));
	ck_assert(mig_valid_pci_address("ABCD:3B:1f.7"));
	ck_assert(!mig_valid_pci_address("0000:3b:00.8"));
	ck_assert(!mig_valid_pci_address("3b:00.0"));
	ck_assert(!mig_valid_pci_address("0000:3b:00.00"));
	ck_assert(!mig_valid_pci_address("000g:3b:00.0"));
	ck_assert(!mig_valid_pci_address("0000-3b:00.0"));
	ck_assert(!mig_valid_pci_address("0000:3b:00:0"));
	ck_assert(!mig_valid_pci_address(""));
}
END_TEST

#define NELEMS(a) ((int)(sizeof(a) / sizeof((a)[0])))

int main(void);

int
main(void)
{
	Suite *s = suite_create("parse");
	TCase *numbers = tcase_create("numbers");
	TCase *sizes = tcase_create("sizes");
	TCase *addresses = tcase_create("addresses");
	TCase *names = tcase_create("names");

	tcase_add_loop_test(numbers, test_parse_uint, 0, NELEMS(uint_cases));
	tcase_add_loop_test(numbers, test_parse_u64, 0, NELEMS(u64_cases));
	tcase_add_loop_test(sizes, test_parse_size, 0, NELEMS(size_cases));
	tcase_add_loop_test(sizes, test_parse_size_within, 0, NELEMS(within_cases));
	tcase_add_test(sizes, test_format_size);
	tcase_add_test(sizes, test_format_size_reads_back);
	tcase_add_loop_test(addresses, test_parse_hostport, 0, NELEMS(hostport_cases));
	tcase_add_test(addresses, test_parse_listen_address);
	tcase_add_test(addresses, test_hostport_lengths);
	tcase_add_test(names, test_valid_name);
	tcase_add_test(names, test_valid_pci_address);
	suite_add_tcase(s, numbers);
	suite_add_tcase(s, sizes);
	suite_add_tcase(s, addresses);
	suite_add_tcase(s, names);
	return tu_run_suite(s);
}
