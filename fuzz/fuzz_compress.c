/*
 * fuzz_compress.c: libFuzzer target for packed DATA payloads as the
 * destination unpacks them (proto/frame.h mig_data_packed_decode(),
 * common/compress.h compress_unpack()).
 *
 * The input's first byte picks the flag (odd: ZSTD, even: ZERO); the rest
 * is the payload after the DATA's fixed fields. What decodes is unpacked
 * into a buffer of exactly the announced length (the sanitizers see a byte
 * written past it): it must come out whole or be refused, never partly.
 * What unpacks is packed again and must unpack to the same bytes, and the
 * input itself must survive a compress/unpack round trip, with
 * compress_is_zero() agreeing with a plain scan. Any disagreement aborts.
 *
 * Also linked into tests/test_fuzz_compress, which replays
 * fuzz/corpus/compress in every `make check`: no main() here.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "errors.h"
#include "frame.h"
#include "fuzz.h"

static struct compress_ctx *fuzz_z;

/* data[0..n) packed and unpacked again comes back the same. */
static void
check_round_trip(const uint8_t *data, size_t n)
{
	size_t cap = compress_bound(n), packed, i;
	uint8_t *p = malloc(cap), *back = malloc(n ? n : 1);
	char why[160];
	int zero = 1;

	FUZZ_CHECK(p != NULL && back != NULL);
	for (i = 0; i < n; i++)
		zero &= data[i] == 0;
	FUZZ_CHECK(compress_is_zero(data, n) == zero);
	if (n > 0) {
		packed = compress_chunk(fuzz_z, p, cap, data, n);
		FUZZ_CHECK(packed > 0);
		FUZZ_CHECK(compress_unpack(fuzz_z, back, (uint32_t)n, p, packed, why,
			       sizeof(why)) == 0);
		FUZZ_CHECK(memcmp(back, data, n) == 0);
	}
	free(p);
	free(back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t flags;
	struct mig_packed pk;
	uint8_t *out;
	char why[160];

	if (fuzz_z == NULL && (fuzz_z = compress_new()) == NULL)
		abort();
	if (size < 1 || size - 1 > MIG_MAX_CHUNK)
		return 0;
	flags = (data[0] & 1) ? MIG_DATA_ZSTD : MIG_DATA_ZERO;
	check_round_trip(data + 1, size - 1);
	if (mig_data_packed_decode(flags, data + 1, (uint32_t)(size - 1), &pk) != MIG_OK)
		return 0;
	FUZZ_CHECK(pk.raw_len >= 1 && pk.raw_len <= MIG_MAX_CHUNK);
	FUZZ_CHECK(pk.body == data + 1 + MIG_DATA_RAW_LEN);
	FUZZ_CHECK(pk.body_len == size - 1 - MIG_DATA_RAW_LEN);
	if (flags == MIG_DATA_ZERO) {
		FUZZ_CHECK(pk.body_len == 0);
		return 0;
	}
	FUZZ_CHECK(pk.body_len > 0);
	out = malloc(pk.raw_len);
	FUZZ_CHECK(out != NULL);
	if (compress_unpack(fuzz_z, out, pk.raw_len, pk.body, pk.body_len, why, sizeof(why)) == 0)
		check_round_trip(out, pk.raw_len);
	else
		FUZZ_CHECK(why[0] != '\0');
	free(out);
	return 0;
}
