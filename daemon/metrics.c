/*
 * metrics.c: Prometheus text exposition, all names prefixed vfio_migd_.
 */
#include "metrics.h"

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "device.h"
#include "events.h"
#include "journal.h"
#include "migration.h"

#define MAX_REASONS 16
#define MAX_HOOK_EVENTS 8

/* Prometheus base units: seconds and bytes (promtool check metrics). */
static const double downtime_buckets_s[] = {0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5};
static const double total_buckets_s[] = {1, 5, 10, 30, 60, 120, 300, 600, 1800};
#define NDOWN (sizeof(downtime_buckets_s) / sizeof(downtime_buckets_s[0]))
#define NTOTAL (sizeof(total_buckets_s) / sizeof(total_buckets_s[0]))

struct histogram {
	uint64_t bucket[10]; /* cumulative at render time; here per bucket */
	uint64_t count;
	double sum;
};

struct named_counter {
	char name[32];
	uint64_t value, extra;
};

static uint64_t outcomes[2][3]; /* role x completed/failed/cancelled */
static uint64_t device_outcomes[2][3]; /* the same, per device moved (several per migration) */
static uint64_t bytes_done[2];	/* role: bytes of finished migrations */
static struct histogram downtime, total;
static struct named_counter tls_failures[MAX_REASONS];
static struct named_counter hooks[MAX_HOOK_EVENTS]; /* value runs, extra vetoes */
static uint64_t hook_failures;

static void
histogram_observe(struct histogram *h, const double *bounds, size_t n, double v)
{
	size_t i;

	for (i = 0; i < n && v > bounds[i]; i++)
		;
	h->bucket[i]++;
	h->count++;
	h->sum += v;
}

static void
metrics_migration_finished(struct migration *m, enum mig_phase from, enum mig_phase to)
{
	int role = m->role == MIG_ROLE_SOURCE ? 0 : 1;
	int o = to == PHASE_COMPLETED ? 0 : to == PHASE_FAILED ? 1 : 2;

	if (!migration_phase_is_final(to))
		return;
	/* A migration of several devices counts once, each of its devices
	 * once as a device. */
	if (m->group == NULL)
		device_outcomes[role][o]++;
	if (m->parent != NULL)
		return;
	outcomes[role][o]++;
	bytes_done[role] += m->bytes_transferred;
	if (m->phase == PHASE_COMPLETED) {
		if (m->role == MIG_ROLE_SOURCE)
			histogram_observe(&downtime, downtime_buckets_s, NDOWN,
			    (double)m->downtime_ms / 1000.0);
		histogram_observe(&total, total_buckets_s, NTOTAL, (double)m->total_ms / 1000.0);
	}
}

/* Counts every migration that ends (registered in main()). */
const struct migration_observer metrics_observer = {
	.name = "metrics",
	.phase_changed = metrics_migration_finished,
	.children = 1, /* for vfio_migd_device_migrations_total */
};

static struct named_counter *
named(struct named_counter *arr, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (arr[i].name[0] == '\0')
			snprintf(arr[i].name, sizeof(arr[i].name), "%s", name);
		if (strcmp(arr[i].name, name) == 0)
			return &arr[i];
	}
	return &arr[n - 1]; /* full: the last slot absorbs the rest */
}

void
metrics_tls_failure(const char *reason)
{
	named(tls_failures, MAX_REASONS, reason)->value++;
}

void
metrics_hook_run(const char *event, int vetoed, int failed)
{
	struct named_counter *c = named(hooks, MAX_HOOK_EVENTS, event);

	c->value++;
	c->extra += (uint64_t)(vetoed != 0);
	hook_failures += (uint64_t)(failed != 0);
}

static void
render_histogram(struct evbuffer *out, const char *name, const char *help,
    const struct histogram *h, const double *bounds, size_t n)
{
	uint64_t cum = 0;
	size_t i;

	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (i = 0; i < n; i++) {
		cum += h->bucket[i];
		evbuffer_add_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i],
		    (unsigned long long)cum);
	}
	cum += h->bucket[n];
	evbuffer_add_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %g\n%s_count %llu\n", name,
	    (unsigned long long)cum, name, h->sum, name, (unsigned long long)h->count);
}

void
metrics_render(struct evbuffer *out)
{
	static const char *const roles[] = {"source", "destination"};
	static const char *const outs[] = {"completed", "failed", "cancelled"};
	uint64_t live_bytes[2] = {0, 0}, active[2] = {0, 0}, tput = 0;
	const struct migration *m;
	char why[600];
	size_t i, j;

	for (m = migration_first(); m != NULL; m = m->next) {
		/* A device of several: its migration's figures hold it. */
		if (migration_phase_is_final(m->phase) || m->parent != NULL)
			continue;
		live_bytes[m->role == MIG_ROLE_SOURCE ? 0 : 1] += m->bytes_transferred;
		active[m->role == MIG_ROLE_SOURCE ? 0 : 1]++;
		tput += m->throughput_bps / 8;
	}
	evbuffer_add_printf(out, "# HELP vfio_migd_build_info Version of this daemon.\n"
				 "# TYPE vfio_migd_build_info gauge\n"
				 "vfio_migd_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
	evbuffer_add_printf(out, "# HELP vfio_migd_migrations_total Finished migrations by role "
				 "and outcome.\n# TYPE vfio_migd_migrations_total counter\n");
	for (i = 0; i < 2; i++)
		for (j = 0; j < 3; j++)
			evbuffer_add_printf(out,
			    "vfio_migd_migrations_total{role=\"%s\",outcome=\"%s\"} %llu\n", roles[i],
			    outs[j], (unsigned long long)outcomes[i][j]);
	evbuffer_add_printf(out, "# HELP vfio_migd_device_migrations_total Devices moved by "
				 "finished migrations (several in one migration count each), by "
				 "role and outcome.\n# TYPE vfio_migd_device_migrations_total counter\n");
	for (i = 0; i < 2; i++)
		for (j = 0; j < 3; j++)
			evbuffer_add_printf(out,
			    "vfio_migd_device_migrations_total{role=\"%s\",outcome=\"%s\"} %llu\n",
			    roles[i], outs[j], (unsigned long long)device_outcomes[i][j]);
	evbuffer_add_printf(out, "# HELP vfio_migd_migrations_active Migrations not yet "
				 "finished.\n# TYPE vfio_migd_migrations_active gauge\n");
	for (i = 0; i < 2; i++)
		evbuffer_add_printf(out, "vfio_migd_migrations_active{role=\"%s\"} %llu\n", roles[i],
		    (unsigned long long)active[i]);
	evbuffer_add_printf(out,
	    "# HELP vfio_migd_bytes_sent_total Device data and page bytes sent as a source.\n"
	    "# TYPE vfio_migd_bytes_sent_total counter\nvfio_migd_bytes_sent_total %llu\n"
	    "# HELP vfio_migd_bytes_received_total Device data and page bytes received as a "
	    "destination.\n# TYPE vfio_migd_bytes_received_total counter\n"
	    "vfio_migd_bytes_received_total %llu\n"
	    "# HELP vfio_migd_throughput_bytes_per_second Current throughput of running "
	    "migrations.\n# TYPE vfio_migd_throughput_bytes_per_second gauge\n"
	    "vfio_migd_throughput_bytes_per_second %llu\n",
	    (unsigned long long)(bytes_done[0] + live_bytes[0]),
	    (unsigned long long)(bytes_done[1] + live_bytes[1]), (unsigned long long)tput);
	render_histogram(out, "vfio_migd_downtime_seconds",
	    "Source stop to destination running, completed migrations.", &downtime,
	    downtime_buckets_s, NDOWN);
	render_histogram(out, "vfio_migd_migration_duration_seconds",
	    "Total time of completed migrations.", &total, total_buckets_s, NTOTAL);
	evbuffer_add_printf(out, "# HELP vfio_migd_device_state Device state (1 for the current "
				 "one).\n# TYPE vfio_migd_device_state gauge\n");
	for (i = 0; i < device_count(); i++) {
		struct mig_device *d = device_at(i);

		evbuffer_add_printf(out,
		    "vfio_migd_device_state{device=\"%s\",backend=\"%s\",state=\"%s\"} 1\n",
		    d->name, d->backend, d->ops->state_name(d));
	}
	evbuffer_add_printf(out, "# HELP vfio_migd_device_busy 1 while the device is part of a "
				 "migration.\n# TYPE vfio_migd_device_busy gauge\n");
	for (i = 0; i < device_count(); i++)
		evbuffer_add_printf(out, "vfio_migd_device_busy{device=\"%s\"} %d\n",
		    device_at(i)->name, device_at(i)->busy != NULL);
	evbuffer_add_printf(out, "# HELP vfio_migd_hook_runs_total Orchestration hook runs by "
				 "event.\n# TYPE vfio_migd_hook_runs_total counter\n");
	for (i = 0; i < MAX_HOOK_EVENTS && hooks[i].name[0]; i++)
		evbuffer_add_printf(out, "vfio_migd_hook_runs_total{event=\"%s\"} %llu\n",
		    hooks[i].name, (unsigned long long)hooks[i].value);
	evbuffer_add_printf(out, "# HELP vfio_migd_hook_vetoes_total Switchovers vetoed by the "
				 "hook.\n# TYPE vfio_migd_hook_vetoes_total counter\n");
	{
		uint64_t v = 0;

		for (i = 0; i < MAX_HOOK_EVENTS; i++)
			v += hooks[i].extra;
		evbuffer_add_printf(out, "vfio_migd_hook_vetoes_total %llu\n", (unsigned long long)v);
	}
	evbuffer_add_printf(out, "# HELP vfio_migd_hook_failures_total Hook runs that failed or "
				 "timed out.\n# TYPE vfio_migd_hook_failures_total counter\n"
				 "vfio_migd_hook_failures_total %llu\n",
	    (unsigned long long)hook_failures);
	evbuffer_add_printf(out, "# HELP vfio_migd_tls_handshake_failures_total Refused or failed "
				 "TLS handshakes by reason.\n"
				 "# TYPE vfio_migd_tls_handshake_failures_total counter\n");
	for (i = 0; i < MAX_REASONS && tls_failures[i].name[0]; i++)
		evbuffer_add_printf(out,
		    "vfio_migd_tls_handshake_failures_total{reason=\"%s\"} %llu\n",
		    tls_failures[i].name, (unsigned long long)tls_failures[i].value);
	evbuffer_add_printf(out, "# HELP vfio_migd_event_watchers Connected event watchers.\n"
				 "# TYPE vfio_migd_event_watchers gauge\nvfio_migd_event_watchers %u\n"
				 "# HELP vfio_migd_event_watchers_dropped_total Watchers cut off for "
				 "not reading.\n# TYPE vfio_migd_event_watchers_dropped_total counter\n"
				 "vfio_migd_event_watchers_dropped_total %llu\n",
	    events_watchers(), (unsigned long long)events_dropped());
	evbuffer_add_printf(out, "# HELP vfio_migd_journal_writable 1 when state_dir can take a new "
				 "migration's record (else new migrations are refused).\n"
				 "# TYPE vfio_migd_journal_writable gauge\n"
				 "vfio_migd_journal_writable %d\n"
				 "# HELP vfio_migd_journal_write_failures_total Journal record writes "
				 "that failed.\n# TYPE vfio_migd_journal_write_failures_total counter\n"
				 "vfio_migd_journal_write_failures_total %llu\n",
	    journal_check(why, sizeof(why)) == 0, journal_write_failures());
}
