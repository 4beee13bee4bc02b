/*
 * parse.c: the value formats of parse.h.
 *
 * Owns the syntax of numbers, sizes, addresses and names; the ranges they
 * are checked against live in ranges.h and are the callers' to pick. Never
 * writes a message, allocates or touches the network: a host name is only
 * checked for its shape, never resolved.
 */
#include "parse.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ranges.h"

/* c's value as a digit of base (10 or 16), or -1. */
static int
parse_digit(int c, unsigned base)
{
	if (isdigit(c))
		return c - '0';
	if (base == 16 && isxdigit(c))
		return tolower(c) - 'a' + 10;
	return -1;
}

/* Digits of one base, no sign, no blanks, no overflow; *sp moves past them. */
static int
parse_digits(const char **sp, unsigned base, uint64_t *out)
{
	const char *s = *sp;
	uint64_t n = 0;
	int d;

	if (parse_digit((unsigned char)*s, base) < 0)
		return MIG_PARSE_SYNTAX;
	for (; (d = parse_digit((unsigned char)*s, base)) >= 0; s++) {
		if (n > (UINT64_MAX - (unsigned)d) / base)
			return MIG_PARSE_SYNTAX;
		n = n * base + (unsigned)d;
	}
	*sp = s;
	*out = n;
	return MIG_PARSE_OK;
}

int
mig_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t n;

	if (s == NULL || parse_digits(&s, 10, &n) != 0 || *s != '\0')
		return MIG_PARSE_SYNTAX;
	if (n < min || n > max)
		return MIG_PARSE_RANGE;
	*out = n;
	return MIG_PARSE_OK;
}

int
mig_parse_u64(const char *s, uint64_t *out)
{
	unsigned base = 10;
	uint64_t n;

	if (s == NULL)
		return MIG_PARSE_SYNTAX;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (parse_digits(&s, base, &n) != 0 || *s != '\0')
		return MIG_PARSE_SYNTAX;
	*out = n;
	return MIG_PARSE_OK;
}

static uint64_t
size_unit(int suffix)
{
	switch (tolower(suffix)) {
	case 'k':
		return MIG_KIB;
	case 'm':
		return MIG_MIB;
	case 'g':
		return MIG_GIB;
	case 't':
		return MIG_TIB;
	default:
		return 1;
	}
}

int
mig_parse_size(const char *s, uint64_t *out)
{
	uint64_t n, unit;

	if (s == NULL || parse_digits(&s, 10, &n) != 0)
		return MIG_PARSE_SYNTAX;
	if ((unit = size_unit((unsigned char)*s)) > 1) {
		s++;
		if (*s == 'i' || *s == 'I') {
			s++;
			if (*s != 'b' && *s != 'B')
				return MIG_PARSE_SYNTAX;
		}
	}
	if (*s == 'b' || *s == 'B')
		s++;
	if (*s != '\0' || n > UINT64_MAX / unit)
		return MIG_PARSE_SYNTAX;
	*out = n * unit;
	return MIG_PARSE_OK;
}

int
mig_parse_size_within(const char *s, uint64_t min, uint64_t max, uint64_t align,
    uint64_t *out)
{
	uint64_t v;

	if (mig_parse_size(s, &v) != 0)
		return MIG_PARSE_SYNTAX;
	if (v < min || v > max)
		return MIG_PARSE_RANGE;
	if (align > 1 && v % align != 0)
		return MIG_PARSE_ALIGN;
	*out = v;
	return MIG_PARSE_OK;
}

const char *
mig_format_size(uint64_t v, char *buf, size_t len)
{
	static const struct {
		uint64_t unit;
		char suffix;
	} units[] = {{MIG_TIB, 'T'}, {MIG_GIB, 'G'}, {MIG_MIB, 'M'}, {MIG_KIB, 'K'}};
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (v != 0 && v % units[i].unit == 0 && v / units[i].unit < 10000) {
			snprintf(buf, len, "%" PRIu64 "%c", v / units[i].unit, units[i].suffix);
			return buf;
		}
	}
	snprintf(buf, len, "%" PRIu64, v);
	return buf;
}

static int
parse_is_name_char(int c)
{
	return isalnum(c) || c == '-' || c == '_' || c == '.';
}

int
mig_valid_name(const char *s, size_t maxlen)
{
	size_t len = strlen(s), i;

	if (len == 0 || len > maxlen)
		return 0;
	for (i = 0; i < len; i++)
		if (!parse_is_name_char((unsigned char)s[i]))
			return 0;
	return 1;
}

/* A host name or an IPv4 address, without brackets. */
static int
parse_valid_host(const char *host)
{
	struct in_addr a4;
	const char *c;
	int all_numeric = 1;

	if (*host == '\0' || strlen(host) > MIG_HOST_MAX)
		return 0;
	for (c = host; *c != '\0'; c++) {
		if (!parse_is_name_char((unsigned char)*c))
			return 0;
		if (!isdigit((unsigned char)*c) && *c != '.')
			all_numeric = 0;
	}
	return !all_numeric || inet_pton(AF_INET, host, &a4) == 1;
}

/* An IPv6 address, optionally with a %zone. */
static int
parse_valid_host6(const char *host)
{
	struct in6_addr a6;
	char addr[INET6_ADDRSTRLEN];
	const char *zone = strchr(host, '%');
	size_t len = zone != NULL ? (size_t)(zone - host) : strlen(host);

	if (len == 0 || len >= sizeof(addr))
		return 0;
	memcpy(addr, host, len);
	addr[len] = '\0';
	if (zone != NULL) {
		if (zone[1] == '\0')
			return 0;
		for (zone++; *zone != '\0'; zone++)
			if (!parse_is_name_char((unsigned char)*zone))
				return 0;
	}
	return inet_pton(AF_INET6, addr, &a6) == 1;
}

static int
parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port, uint64_t min_port)
{
	char buf[MIG_HOST_MAX + 1];
	const char *colon, *end;
	uint64_t n;
	size_t len;
	int v6 = s != NULL && s[0] == '[';

	if (s == NULL)
		return MIG_PARSE_SYNTAX;
	if (v6) {
		if ((end = strchr(s, ']')) == NULL || end[1] != ':')
			return MIG_PARSE_SYNTAX;
		colon = end + 1;
		s++;
		len = (size_t)(end - s);
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || strchr(s, ':') != colon)
			return MIG_PARSE_SYNTAX;
		len = (size_t)(colon - s);
	}
	if (len >= sizeof(buf) || len >= hostlen)
		return MIG_PARSE_SYNTAX;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (v6 ? !parse_valid_host6(buf) : !parse_valid_host(buf))
		return MIG_PARSE_SYNTAX;
	if (mig_parse_uint(colon + 1, min_port, 65535, &n) != 0)
		return MIG_PARSE_SYNTAX;
	memcpy(host, buf, len + 1);
	*port = (uint16_t)n;
	return MIG_PARSE_OK;
}

int
mig_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port)
{
	return parse_hostport(s, host, hostlen, port, 1);
}

int
mig_parse_listen_address(const char *s, char *host, size_t hostlen, uint16_t *port)
{
	return parse_hostport(s, host, hostlen, port, 0);
}

int
mig_valid_pci_address(const char *s)
{
	static const char pattern[] = "xxxx:xx:xx.x";
	size_t i;

	if (strlen(s) != sizeof(pattern) - 1)
		return 0;
	for (i = 0; pattern[i] != '\0'; i++) {
		if (pattern[i] == 'x' ? !isxdigit((unsigned char)s[i]) : s[i] != pattern[i])
			return 0;
	}
	return s[sizeof(pattern) - 2] >= '0' && s[sizeof(pattern) - 2] <= '7';
}
