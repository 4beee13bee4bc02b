/*
 * render.h: the API's objects shown to people (tables, "key: value" lines,
 * a progress line, bytes, rates and durations in readable units), or to
 * scripts with --json (the object as it came, one compact line).
 *
 * Never: a request, or a decision on what a value means for the exit
 * status.
 */
#ifndef CTL_RENDER_H
#define CTL_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef void render_fn(json_t *);

/* Reading the API's objects: a missing or mistyped field is NULL or 0. */
const char *render_string(json_t *obj, const char *key);
uint64_t render_u64(json_t *obj, const char *key);
/* s, or "-" for a field that is not there. */
const char *render_dash(const char *s);

/* "1.5 MiB", "812.0 MiB/s" (the API counts bits/s), "2m05s"; into buf. */
const char *render_bytes(char *buf, size_t len, uint64_t bytes);
const char *render_throughput(char *buf, size_t len, uint64_t bits_per_second);
const char *render_duration(char *buf, size_t len, uint64_t ms);
/* "precopy 45.2%, 1.1 GiB pending, 812.0 MiB/s, ETA 0:02, iteration 3" */
void render_progress(char *buf, size_t len, json_t *mig);
/* The same, rewritten in place on a terminal's current line. */
void render_progress_line(json_t *mig);

render_fn render_json;		 /* one compact line, flushed */
render_fn render_fields;	 /* "key: value" lines, in the daemon's order */
render_fn render_devices;	 /* GET /v1/devices as a table */
render_fn render_migrations;	 /* GET /v1/migrations as a table */
render_fn render_migration_line; /* "migration ID: PHASE" */

#endif
