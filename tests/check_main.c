/*
 * check_main.c: the runner every unit-test program's main() ends with
 * (check_main.h).
 */
#include <stdlib.h>

#include "check_main.h"

int
tu_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	/* CK_NORMAL, not CK_ENV: the summary and each failure, whatever
	 * CK_VERBOSITY says, as the test logs have always shown. */
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
