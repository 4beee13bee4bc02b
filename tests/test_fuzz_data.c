/*
 * test_fuzz_data.c: replays fuzz/corpus/data through the zero-copy DATA
 * target (fuzz/fuzz_data.c, linked in), so every `make check` proves the
 * receiver's in-place DATA decoding still agrees with the whole-frame
 * decoder on every seed, without needing clang; and checks the corpus
 * still holds each case worth starting the fuzzer from.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "errors.h"
#include "frame.h"
#include "fuzz_replay.h"

#ifndef FUZZ_CORPUS_DIR
#error "FUZZ_CORPUS_DIR must name fuzz/corpus/data"
#endif

#define CORPUS_MAX_FILE (1u << 20)

/* What walking the corpus as the daemon does showed, in DATA frames. */
struct corpus_seen {
	int accepted;	 /* fixed fields pass */
	int after_other; /* accepted, behind a frame of another type */
	int refused;	 /* fixed fields refused */
	int too_short;	 /* shorter than its fixed fields */
	int too_large;	 /* header refused: longer than any DATA */
	int incomplete;	 /* the input ends inside it */
};

static void
tally_frame(struct corpus_seen *seen, const struct mig_frame_header *h, const uint8_t *payload,
    int prev_type)
{
	struct mig_data d;

	if (h->length < MIG_DATA_FIXED_LEN)
		seen->too_short++;
	else if (mig_data_fixed_decode(h, payload, &d) != MIG_OK)
		seen->refused++;
	else {
		seen->accepted++;
		seen->after_other += prev_type != 0 && prev_type != MIG_FRAME_DATA;
	}
}

/* Frame by frame up to the first refused one, as daemon/peer.c reads. */
static void
tally_stream(const char *name, const uint8_t *buf, size_t len, void *arg)
{
	struct corpus_seen *seen = arg;
	struct mig_frame_header h;
	struct mig_frame f;
	size_t off = 0;
	int err, prev_type = 0;

	while (len - off >= MIG_FRAME_HEADER_LEN) {
		if ((err = mig_frame_header_decode(buf + off, &h)) != MIG_OK) {
			seen->too_large += err == MIG_E_FRAME_TOO_LARGE &&
			    buf[off + 5] == MIG_FRAME_DATA;
			break;
		}
		if (len - off - MIG_FRAME_HEADER_LEN < h.length) {
			seen->incomplete += h.type == MIG_FRAME_DATA;
			break;
		}
		if (h.type == MIG_FRAME_DATA)
			tally_frame(seen, &h, buf + off + MIG_FRAME_HEADER_LEN, prev_type);
		if (mig_frame_payload_decode(&h, buf + off + MIG_FRAME_HEADER_LEN, &f) != MIG_OK)
			break;
		prev_type = h.type;
		off += MIG_FRAME_HEADER_LEN + h.length;
	}
}

START_TEST(test_corpus_replays_cleanly)
{
	struct corpus_seen seen;

	memset(&seen, 0, sizeof(seen));
	ck_assert_int_ge(fuzz_replay_dir(FUZZ_CORPUS_DIR, CORPUS_MAX_FILE, tally_stream, &seen),
	    10);
}
END_TEST

START_TEST(test_corpus_has_every_case)
{
	struct corpus_seen seen;

	memset(&seen, 0, sizeof(seen));
	fuzz_replay_dir(FUZZ_CORPUS_DIR, CORPUS_MAX_FILE, tally_stream, &seen);
	ck_assert_msg(seen.accepted > 0, "no valid DATA frame");
	ck_assert_msg(seen.after_other > 0, "no DATA frame behind another frame");
	ck_assert_msg(seen.refused > 0, "no DATA frame with refused fields");
	ck_assert_msg(seen.too_short > 0, "no DATA frame shorter than its fixed fields");
	ck_assert_msg(seen.too_large > 0, "no DATA header longer than any DATA");
	ck_assert_msg(seen.incomplete > 0, "no input ending inside a DATA frame");
}
END_TEST

START_TEST(test_target_survives_degenerate_input)
{
	uint8_t prefix[MIG_DATA_PREFIX_LEN];
	uint8_t zeros[64] = {0};

	ck_assert_int_eq(LLVMFuzzerTestOneInput(NULL, 0), 0);
	ck_assert_int_eq(LLVMFuzzerTestOneInput(zeros, sizeof(zeros)), 0);
	/* A 16 MiB chunk announced, nothing of it sent. */
	ck_assert_uint_eq(mig_encode_data_prefix(prefix, 1, MIG_PHASE_STOPCOPY,
			      MIG_DATA_END_OF_RECORD, MIG_MAX_CHUNK),
	    MIG_DATA_PREFIX_LEN);
	ck_assert_int_eq(LLVMFuzzerTestOneInput(prefix, sizeof(prefix)), 0);
	ck_assert_int_eq(LLVMFuzzerTestOneInput(prefix, MIG_FRAME_HEADER_LEN), 0);
}
END_TEST

int main(void);

int
main(void)
{
	Suite *s = suite_create("fuzz_data");
	TCase *tc = tcase_create("replay");

	tcase_add_test(tc, test_corpus_replays_cleanly);
	tcase_add_test(tc, test_corpus_has_every_case);
	tcase_add_test(tc, test_target_survives_degenerate_input);
	/* Sanitizer builds replay the corpus several times over. */
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
