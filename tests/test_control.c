/*
 * test_control.c: route matching of the control API (daemon/control.c):
 * which route a method and path reach, what the "*" segments hold, and
 * the difference between an unknown path (404) and a known path with the
 * wrong method (405, with the methods it takes).
 */
#include <string.h>

#include <check.h>

#include "check_main.h"
#include "control.h"
#include "httpd_parse.h"

static const struct route_case {
	int method;
	const char *path;
	const char *pattern; /* NULL: no route */
	int rc;		     /* when pattern is NULL */
	const char *seg0, *seg1;
} cases[] = {
    {HTTPD_GET, "/v1/health", "/v1/health", 0, NULL, NULL},
    {HTTPD_GET, "/v1/devices", "/v1/devices", 0, NULL, NULL},
    {HTTPD_GET, "/v1/devices/gpu0", "/v1/devices/*", 0, "gpu0", NULL},
    {HTTPD_POST, "/v1/devices/gpu0/incoming", "/v1/devices/*/incoming", 0, "gpu0", NULL},
    {HTTPD_GET, "/v1/migrations", "/v1/migrations", 0, NULL, NULL},
    {HTTPD_POST, "/v1/migrations", "/v1/migrations", 0, NULL, NULL},
    {HTTPD_GET, "/v1/migrations/abc", "/v1/migrations/*", 0, "abc", NULL},
    {HTTPD_GET, "/v1/migrations/abc/bitmap", "/v1/migrations/*/bitmap", 0, "abc", NULL},
    {HTTPD_POST, "/v1/migrations/abc/cancel", "/v1/migrations/*/cancel", 0, "abc", NULL},
    {HTTPD_POST, "/v1/migrations/abc/switchover", "/v1/migrations/*/switchover", 0, "abc",
	NULL},
    {HTTPD_GET, "/v1/events", "/v1/events", 0, NULL, NULL},
    {HTTPD_GET, "/metrics", "/metrics", 0, NULL, NULL},
    /* Empty segments are skipped, as strtok does: "//" is "/". */
    {HTTPD_GET, "//v1//devices//gpu0/", "/v1/devices/*", 0, "gpu0", NULL},
    /* Known paths, wrong method: 405. */
    {HTTPD_POST, "/v1/health", NULL, CONTROL_ROUTE_METHOD, NULL, NULL},
    {HTTPD_GET, "/v1/migrations/abc/cancel", NULL, CONTROL_ROUTE_METHOD, NULL, NULL},
    {HTTPD_DELETE, "/v1/migrations/abc", NULL, CONTROL_ROUTE_METHOD, NULL, NULL},
    {HTTPD_GET, "/v1/devices/gpu0/incoming", NULL, CONTROL_ROUTE_METHOD, NULL, NULL},
    /* Unknown paths: 404. */
    {HTTPD_GET, "/", NULL, CONTROL_ROUTE_NONE, NULL, NULL},
    {HTTPD_GET, "", NULL, CONTROL_ROUTE_NONE, NULL, NULL},
    {HTTPD_GET, "/v1", NULL, CONTROL_ROUTE_NONE, NULL, NULL},
    {HTTPD_GET, "/v2/health", NULL, CONTROL_ROUTE_NONE, NULL, NULL},
    {HTTPD_GET, "/v1/health/x", NULL, CONTROL_ROUTE_NONE, NULL, NULL},
    {HTTPD_GET, "/v1/devices/a/b", NULL, CONTROL_ROUTE_NONE, NULL, NULL},
    {HTTPD_GET, "/v1/migrations/a/b/c", NULL, CONTROL_ROUTE_NONE, NULL, NULL},
    {HTTPD_GET, "/V1/HEALTH", NULL, CONTROL_ROUTE_NONE, NULL, NULL},
    {HTTPD_GET, "/metrics/", "/metrics", 0, NULL, NULL},
};

/* A known path with another method: which methods it takes (Allow). */
START_TEST(test_allowed_methods)
{
	struct control_route_match m;

	ck_assert_int_eq(control_route_find(HTTPD_POST, "/v1/health", &m), CONTROL_ROUTE_METHOD);
	ck_assert_uint_eq(m.allowed, HTTPD_GET);
	ck_assert_int_eq(control_route_find(HTTPD_PUT, "/v1/migrations", &m), CONTROL_ROUTE_METHOD);
	ck_assert_uint_eq(m.allowed, HTTPD_GET | HTTPD_POST);
	ck_assert_int_eq(control_route_find(HTTPD_GET, "/v1/migrations/x/cancel", &m),
	    CONTROL_ROUTE_METHOD);
	ck_assert_uint_eq(m.allowed, HTTPD_POST);
	ck_assert_int_eq(control_route_find(HTTPD_GET, "/v1/nothing", &m), CONTROL_ROUTE_NONE);
	ck_assert_uint_eq(m.allowed, 0);
}
END_TEST

START_TEST(test_route)
{
	const struct route_case *c = &cases[_i];
	struct control_route_match m;
	int rc = control_route_find(c->method, c->path, &m);

	if (c->pattern == NULL) {
		ck_assert_msg(rc == c->rc, "%s: %d, expected %d", c->path, rc, c->rc);
		ck_assert_ptr_null(m.pattern);
		return;
	}
	ck_assert_msg(rc >= 0, "%s: no route (%d)", c->path, rc);
	ck_assert_str_eq(m.pattern, c->pattern);
	if (c->seg0 != NULL)
		ck_assert_str_eq(m.seg[0], c->seg0);
	else
		ck_assert_ptr_null(m.seg[0]);
	ck_assert_ptr_null(m.seg[1]);
}
END_TEST

/* The path is copied: the caller's string is not cut up, and one too long
 * for the copy is no route rather than a truncated match. */
START_TEST(test_path_copied_and_bounded)
{
	struct control_route_match m;
	char path[] = "/v1/devices/gpu0";
	char longpath[600];

	ck_assert_int_ge(control_route_find(HTTPD_GET, path, &m), 0);
	ck_assert_str_eq(path, "/v1/devices/gpu0");
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	ck_assert_int_eq(control_route_find(HTTPD_GET, longpath, &m), CONTROL_ROUTE_NONE);
	memcpy(longpath, "/metrics", 8);
	ck_assert_int_eq(control_route_find(HTTPD_GET, longpath, &m), CONTROL_ROUTE_NONE);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("control");
	TCase *tc = tcase_create("routes");

	tcase_add_loop_test(tc, test_route, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, test_path_copied_and_bounded);
	tcase_add_test(tc, test_allowed_methods);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
