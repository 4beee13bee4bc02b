/*
 * test_errors.c: the error code table is complete and its names are stable.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "errors.h"

START_TEST(test_every_code_has_a_distinct_name)
{
	static const int codes[] = {MIG_OK, MIG_E_TRUNCATED, MIG_E_FRAME_TOO_LARGE, MIG_E_BAD_MAGIC,
	    MIG_E_BAD_VERSION, MIG_E_UNKNOWN_TYPE, MIG_E_MALFORMED, MIG_E_UNEXPECTED_FRAME,
	    MIG_E_BAD_SEQUENCE, MIG_E_BAD_TOKEN, MIG_E_TOKEN_EXPIRED, MIG_E_UNKNOWN_DEVICE,
	    MIG_E_INCOMPATIBLE_DEVICE, MIG_E_DEVICE_BUSY, MIG_E_DIGEST_MISMATCH,
	    MIG_E_LENGTH_MISMATCH, MIG_E_VERSION_MISMATCH, MIG_E_DEVICE_IO, MIG_E_DEVICE_STATE,
	    MIG_E_DEVICE_OPEN, MIG_E_DEVICE_UNSUPPORTED, MIG_E_TLS, MIG_E_PEER_UNTRUSTED,
	    MIG_E_CONNECTION_LOST, MIG_E_TIMEOUT, MIG_E_PEER_ERROR, MIG_E_CONNECT, MIG_E_CANCELLED,
	    MIG_E_NOT_CONVERGED, MIG_E_HOOK_VETO, MIG_E_DAEMON_RESTART, MIG_E_SHUTDOWN,
	    MIG_E_BAD_REQUEST, MIG_E_NOT_FOUND, MIG_E_WRONG_STATE, MIG_E_LIMIT, MIG_E_CONFIG,
	    MIG_E_INTERNAL, MIG_E_NOMEM, MIG_E_NOT_VFIO_DEVICE, MIG_E_OWNER_EXITED,
	    MIG_E_DEVICE_EXISTS, MIG_E_PERMISSION_DENIED,
	    MIG_E_REQUEST_TOO_LARGE, MIG_E_NOT_IMPLEMENTED, MIG_E_NO_COMMON_DIGEST, MIG_E_BAD_COMPRESSED,
	    MIG_E_VFIO_USER_PROTOCOL, MIG_E_VFIO_USER_HUNG_UP, MIG_E_VFIO_USER_TIMEOUT};
	size_t n = sizeof(codes) / sizeof(codes[0]), i, j;

	for (i = 0; i < n; i++) {
		ck_assert_msg(mig_err_known(codes[i]), "code %d not in table", codes[i]);
		ck_assert_str_ne(mig_err_name(codes[i]), "unknown-error");
		ck_assert_ptr_nonnull(strchr(mig_err_describe(codes[i]), ' '));
		for (j = i + 1; j < n; j++)
			ck_assert_str_ne(mig_err_name(codes[i]), mig_err_name(codes[j]));
	}
}
END_TEST

START_TEST(test_wire_numbers_are_stable)
{
	/* These numbers travel in ERROR frames: changing one breaks old peers. */
	ck_assert_int_eq(MIG_E_BAD_MAGIC, 3);
	ck_assert_int_eq(MIG_E_BAD_TOKEN, 22);
	ck_assert_int_eq(MIG_E_NO_COMMON_DIGEST, 30);
	ck_assert_int_eq(MIG_E_BAD_COMPRESSED, 31);
	ck_assert_int_eq(MIG_E_INCOMPATIBLE_DEVICE, 25);
	ck_assert_int_eq(MIG_E_DIGEST_MISMATCH, 27);
	ck_assert_str_eq(mig_err_name(MIG_E_BAD_TOKEN), "bad-token");
	/* owner-exited travels in ERROR frames too (a source's VMM died). */
	ck_assert_int_eq(MIG_E_OWNER_EXITED, 85);
	ck_assert_str_eq(mig_err_name(MIG_E_OWNER_EXITED), "owner-exited");
	ck_assert_str_eq(mig_err_name(MIG_E_NOT_VFIO_DEVICE), "not-vfio-device");
	ck_assert_int_eq(MIG_E_NOT_VFIO_CONTAINER, 45);
	ck_assert_str_eq(mig_err_name(MIG_E_NOT_VFIO_CONTAINER), "not-vfio-container");
	ck_assert_int_eq(MIG_E_NO_DIRTY_TRACKING, 46);
	ck_assert_str_eq(mig_err_name(MIG_E_NO_DIRTY_TRACKING), "no-dirty-tracking");
	/* A vfio-user server's faults end migrations on both sides. */
	ck_assert_int_eq(MIG_E_VFIO_USER_PROTOCOL, 48);
	ck_assert_str_eq(mig_err_name(MIG_E_VFIO_USER_PROTOCOL), "vfio-user-protocol");
	ck_assert_int_eq(MIG_E_VFIO_USER_HUNG_UP, 49);
	ck_assert_str_eq(mig_err_name(MIG_E_VFIO_USER_HUNG_UP), "vfio-user-hung-up");
	ck_assert_int_eq(MIG_E_VFIO_USER_TIMEOUT, 50);
	ck_assert_str_eq(mig_err_name(MIG_E_VFIO_USER_TIMEOUT), "vfio-user-timeout");
}
END_TEST

START_TEST(test_unknown_code_from_newer_peer)
{
	ck_assert(!mig_err_known(9999));
	ck_assert_str_eq(mig_err_name(9999), "unknown-error");
	ck_assert(!mig_err_known(-1));
}
END_TEST

int main(void);

int
main(void)
{
	Suite *s = suite_create("errors");
	TCase *tc = tcase_create("table");

	tcase_add_test(tc, test_every_code_has_a_distinct_name);
	tcase_add_test(tc, test_wire_numbers_are_stable);
	tcase_add_test(tc, test_unknown_code_from_newer_peer);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
