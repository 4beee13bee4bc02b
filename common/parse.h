/*
 * parse.h: the value formats an operator writes, each read by one parser
 * that the configuration file, the control API and vfio-migctl share:
 * integers, sizes (rates are sizes per second), host:port, names and PCI
 * addresses.
 *
 * Strict: no blanks, signs or trailing text, no overflow; a parser that
 * fails leaves its output alone. Never: report or log a problem (the
 * caller knows the file line, the field or the option), or resolve a name.
 */
#ifndef MIG_PARSE_H
#define MIG_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Why a value was refused, for callers whose message depends on it. */
enum mig_parse_status {
	MIG_PARSE_OK = 0,
	MIG_PARSE_SYNTAX = -1, /* not the format at all, or more than 64 bits */
	MIG_PARSE_RANGE = -2,  /* below min or above max */
	MIG_PARSE_ALIGN = -3,  /* not a multiple of align */
};

/* Decimal digits only, in [min, max]. */
int mig_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Decimal, or hexadecimal after "0x": any 64-bit value (a seed). */
int mig_parse_u64(const char *s, uint64_t *out);

/* "256M", "1G", "4096", "16K" -> bytes. Suffixes K M G T (powers of 1024),
 * either case, optionally followed by "B" or "iB"; a plain number may end
 * in "B". MIG_PARSE_OK or MIG_PARSE_SYNTAX. */
int mig_parse_size(const char *s, uint64_t *out);
/* The same in [min, max] and, when align > 1, a multiple of align. A rate
 * is bytes per second in this syntax: align 1. */
int mig_parse_size_within(const char *s, uint64_t min, uint64_t max, uint64_t align,
    uint64_t *out);
/* A size the way the file would say it: "16M", "1024T"; plain digits when
 * no suffix divides it into fewer than five digits ("16777280"). */
const char *mig_format_size(uint64_t v, char *buf, size_t len);

/* "host:port" or "[IPv6]:port", port 1..65535 -> host (without brackets)
 * and port. The host is a name, an IPv4 address, or in brackets an IPv6
 * address with an optional %zone. MIG_PARSE_OK or MIG_PARSE_SYNTAX (also
 * when the host does not fit in hostlen). */
int mig_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port);
/* The same for an address to listen on: port 0 (any free port) allowed. */
int mig_parse_listen_address(const char *s, char *host, size_t hostlen, uint16_t *port);

/* 1..maxlen characters of A-Z a-z 0-9 _ . - (a device or group name). */
int mig_valid_name(const char *s, size_t maxlen);
/* "DDDD:BB:DD.F" in hexadecimal, function 0..7. */
int mig_valid_pci_address(const char *s);

#endif
