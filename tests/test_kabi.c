/*
 * test_kabi.c: the v1 migration KABI layout is the kernel's, byte for byte
 * (shared/vfio-migration-v1-kabi.txt): size, every offset and width, the
 * state bits, and the access macros the driver and the device use.
 */
#include <check.h>
#include <stddef.h>
#include <stdlib.h>

#include "check_main.h"
#include "kabi_v1.h"

START_TEST(test_struct_is_packed_64_bytes)
{
	ck_assert_uint_eq(sizeof(struct vfio_device_migration_info), 64);
	ck_assert_uint_eq(_Alignof(struct vfio_device_migration_info), 1);
}
END_TEST

START_TEST(test_every_field_offset)
{
	ck_assert_uint_eq(offsetof(struct vfio_device_migration_info, device_state), 0);
	ck_assert_uint_eq(offsetof(struct vfio_device_migration_info, reserved), 4);
	ck_assert_uint_eq(offsetof(struct vfio_device_migration_info, pending_bytes), 8);
	ck_assert_uint_eq(offsetof(struct vfio_device_migration_info, data_offset), 16);
	ck_assert_uint_eq(offsetof(struct vfio_device_migration_info, data_size), 24);
	ck_assert_uint_eq(offsetof(struct vfio_device_migration_info, start_pfn), 32);
	ck_assert_uint_eq(offsetof(struct vfio_device_migration_info, page_size), 40);
	ck_assert_uint_eq(offsetof(struct vfio_device_migration_info, total_pfns), 48);
	ck_assert_uint_eq(offsetof(struct vfio_device_migration_info, copied_pfns), 56);
}
END_TEST

START_TEST(test_every_field_width_and_sign)
{
	struct vfio_device_migration_info info;

	ck_assert_uint_eq(sizeof(info.device_state), 4);
	ck_assert_uint_eq(sizeof(info.reserved), 4);
	ck_assert_uint_eq(sizeof(info.pending_bytes), 8);
	ck_assert_uint_eq(sizeof(info.data_offset), 8);
	ck_assert_uint_eq(sizeof(info.data_size), 8);
	ck_assert_uint_eq(sizeof(info.start_pfn), 8);
	ck_assert_uint_eq(sizeof(info.page_size), 8);
	ck_assert_uint_eq(sizeof(info.total_pfns), 8);
	ck_assert_uint_eq(sizeof(info.copied_pfns), 8);
	/* copied_pfns carries -1 ("all dirty"): it must be signed. */
	info.copied_pfns = -1;
	ck_assert(info.copied_pfns < 0);
	info.device_state = 0xffffffffu;
	ck_assert(info.device_state > 0);
}
END_TEST

START_TEST(test_access_macros_match_layout)
{
	ck_assert_uint_eq(V1_OFF(device_state), 0);
	ck_assert_uint_eq(V1_WIDTH(device_state), 4);
	ck_assert_uint_eq(V1_OFF(pending_bytes), 8);
	ck_assert_uint_eq(V1_OFF(data_offset), 16);
	ck_assert_uint_eq(V1_OFF(data_size), 24);
	ck_assert_uint_eq(V1_OFF(start_pfn), 32);
	ck_assert_uint_eq(V1_OFF(page_size), 40);
	ck_assert_uint_eq(V1_OFF(total_pfns), 48);
	ck_assert_uint_eq(V1_OFF(copied_pfns), 56);
	ck_assert_uint_eq(V1_WIDTH(copied_pfns), 8);
	ck_assert_uint_eq(V1_OFF(copied_pfns) + V1_WIDTH(copied_pfns),
	    sizeof(struct vfio_device_migration_info));
}
END_TEST

START_TEST(test_state_bits)
{
	ck_assert_int_eq(VFIO_DEVICE_STATE_STOPPED, 0);
	ck_assert_int_eq(VFIO_DEVICE_STATE_RUNNING, 1);
	ck_assert_int_eq(VFIO_DEVICE_STATE_SAVING, 2);
	ck_assert_int_eq(VFIO_DEVICE_STATE_RESUMING, 4);
	ck_assert_int_eq(VFIO_DEVICE_STATE_MASK, 7);
	ck_assert_int_eq(VFIO_DEVICE_STATE_INVALID, 6);
	ck_assert_int_eq(VFIO_DEVICE_STATE_SAVING | VFIO_DEVICE_STATE_RUNNING, 3);
}
END_TEST

START_TEST(test_region_type)
{
	ck_assert_int_eq(VFIO_REGION_TYPE_MIGRATION, 2);
	ck_assert_int_eq(VFIO_REGION_SUBTYPE_MIGRATION, 1);
}
END_TEST

int main(void);

int
main(void)
{
	Suite *s = suite_create("kabi");
	TCase *tc = tcase_create("layout");

	tcase_add_test(tc, test_struct_is_packed_64_bytes);
	tcase_add_test(tc, test_every_field_offset);
	tcase_add_test(tc, test_every_field_width_and_sign);
	tcase_add_test(tc, test_access_macros_match_layout);
	tcase_add_test(tc, test_state_bits);
	tcase_add_test(tc, test_region_type);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
