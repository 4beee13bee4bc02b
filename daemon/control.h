/*
 * control.h: the control API on the UNIX socket (SPEC §4, docs/API.md).
 */
#ifndef MIG_CONTROL_H
#define MIG_CONTROL_H

#include <event2/event.h>

/* Create the socket (0660, group when not NULL) and serve the API on it.
 * Refuses to replace the socket of a daemon that still answers there. */
int control_start(struct event_base *base, const char *path, const char *group);

#define CONTROL_MAX_SEGMENTS 6
#define CONTROL_ROUTE_NONE (-1)   /* no such path */
#define CONTROL_ROUTE_METHOD (-2) /* the path exists, not with this method */

struct control_route_match {
	const char *pattern;			/* the route's, "/v1/devices/ * /incoming" */
	const char *seg[CONTROL_MAX_SEGMENTS]; /* what its "*"s matched, into buf */
	unsigned allowed;			/* the methods the path takes (httpd_method bits) */
	char buf[512];
};
/* The route for method (an httpd_method) and a decoded path: its index,
 * with out filled, or CONTROL_ROUTE_NONE / CONTROL_ROUTE_METHOD (allowed
 * says which methods it takes). A "*" matches one non-empty segment; empty
 * segments ("//") are skipped. */
int control_route_find(int method, const char *path, struct control_route_match *out);
void control_stop(void);

#endif
