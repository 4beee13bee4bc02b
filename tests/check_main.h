/*
 * check_main.h: how every unit-test program runs its Check suite, so the
 * programs differ only in the tests they register. Knows nothing of any
 * module under test.
 */
#ifndef MIG_CHECK_MAIN_H
#define MIG_CHECK_MAIN_H

#include <check.h>

/* Runs every test of s the way Check's environment asks (CK_FORK,
 * CK_RUN_SUITE, CK_RUN_CASE, CK_DEFAULT_TIMEOUT ...), frees it, and returns
 * main()'s exit status: EXIT_SUCCESS when no test failed. */
int tu_run_suite(Suite *s);

#endif
