/*
 * metrics.h: counters for GET /metrics (Prometheus text format 0.0.4).
 *
 * Producers bump counters as things happen; the renderer adds what can be
 * read off live objects (device states, running migrations) at scrape time.
 */
#ifndef MIG_METRICS_H
#define MIG_METRICS_H

#include <event2/buffer.h>

struct migration;
struct migration_observer;

/* Counts the migrations that end, by role and outcome (main() registers it). */
extern const struct migration_observer metrics_observer;
void metrics_tls_failure(const char *reason);
void metrics_hook_run(const char *event, int vetoed, int failed);
void metrics_render(struct evbuffer *out);

#endif
