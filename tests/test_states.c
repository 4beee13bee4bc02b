/*
 * test_states.c: the engines' state tables (daemon/states.c), and the
 * state diagrams at the top of daemon/source.c and daemon/dest.c checked
 * against them: every arc of a diagram is in its table, and every arc of
 * a table is in its diagram.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "check_main.h"
#include "states.h"

#define MAX_STATES 32

/* "DRAIN_INTENT" -> "drain-intent"; "any" stays. */
static void
diagram_name(const char *in, size_t len, char *out, size_t outlen)
{
	size_t i;

	for (i = 0; i < len && i + 1 < outlen; i++)
		out[i] = in[i] == '_' ? '-' : (char)tolower((unsigned char)in[i]);
	out[i] = '\0';
}

/*
 * The arcs of the diagram in the opening comment of path: lines
 * " *   FROM --label--> TO", FROM possibly "any but DONE". Fills arcs[from]
 * with bits, as the table does; returns the number of arc lines.
 */
static int
diagram_arcs(const struct engine_states *t, const char *path, uint32_t *arcs)
{
	char line[512], from[64], to[64];
	FILE *f = fopen(path, "r");
	int n = 0;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	memset(arcs, 0, sizeof(*arcs) * t->nstates);
	while (fgets(line, sizeof(line), f) != NULL && strncmp(line, " */", 3) != 0) {
		const char *p = line, *dash, *arrow, *end;
		int fi, ti;
		unsigned i;

		if (strncmp(p, " *   ", 5) != 0 || (dash = strstr(p, " --")) == NULL ||
		    (arrow = strstr(dash, "--> ")) == NULL)
			continue;
		p += 5;
		diagram_name(p, (size_t)(dash - p), from, sizeof(from));
		arrow += 4;
		for (end = arrow; *end != '\0' && !isspace((unsigned char)*end); end++)
			;
		diagram_name(arrow, (size_t)(end - arrow), to, sizeof(to));
		ti = engine_state_by_name(t, to);
		ck_assert_msg(ti >= 0, "%s: arc to unknown state \"%s\"", path, to);
		if (strcmp(from, "any but done") == 0) {
			for (i = 0; i < t->nstates; i++)
				if ((int)i != ti)
					arcs[i] |= 1u << ti;
		} else {
			fi = engine_state_by_name(t, from);
			ck_assert_msg(fi >= 0, "%s: arc from unknown state \"%s\"", path, from);
			arcs[fi] |= 1u << ti;
		}
		n++;
	}
	fclose(f);
	return n;
}

static void
check_diagram(const struct engine_states *t, const char *file)
{
	uint32_t arcs[MAX_STATES];
	char path[1024];
	unsigned from, to;

	snprintf(path, sizeof(path), "%s/daemon/%s", TOP_SRCDIR, file);
	ck_assert_int_gt(diagram_arcs(t, path, arcs), 3);
	for (from = 0; from < t->nstates; from++)
		for (to = 0; to < t->nstates; to++) {
			int in_diagram = (arcs[from] >> to) & 1;
			int in_table = engine_arc_allowed(t, from, to);

			ck_assert_msg(in_diagram == in_table, "%s: %s -> %s is %s the diagram but %s the table",
			    file, t->names[from], t->names[to], in_diagram ? "in" : "not in",
			    in_table ? "in" : "not in");
		}
}

START_TEST(test_source_diagram_is_the_table)
{
	check_diagram(&src_states, "source.c");
}
END_TEST

START_TEST(test_destination_diagram_is_the_table)
{
	check_diagram(&dst_states, "dest.c");
}
END_TEST

/* Every state has a name, DONE is the end, every other state can end
 * (failure, cancel), and every state is reachable from the first. */
static void
check_shape(const struct engine_states *t, unsigned done)
{
	uint32_t seen = 1, before;
	unsigned s, to;

	ck_assert_uint_le(t->nstates, MAX_STATES);
	for (s = 0; s < t->nstates; s++) {
		ck_assert_ptr_nonnull(t->names[s]);
		ck_assert_int_eq(engine_state_by_name(t, t->names[s]), (int)s);
		if (s != done)
			ck_assert_msg(engine_arc_allowed(t, s, done), "%s cannot end", t->names[s]);
		ck_assert_msg(!engine_arc_allowed(t, s, s), "%s -> itself", t->names[s]);
	}
	ck_assert_uint_eq(t->arcs[done], 0);
	do {
		before = seen;
		for (s = 0; s < t->nstates; s++)
			for (to = 0; to < t->nstates; to++)
				if ((seen >> s & 1) && engine_arc_allowed(t, s, to))
					seen |= 1u << to;
	} while (seen != before);
	ck_assert_uint_eq(seen, (1u << t->nstates) - 1);
}

START_TEST(test_tables_are_well_formed)
{
	check_shape(&src_states, SRC_DONE);
	check_shape(&dst_states, DST_DONE);
}
END_TEST

/* Before the device stops, nothing jumps past the switchover's steps. */
START_TEST(test_source_arcs)
{
	ck_assert(engine_arc_allowed(&src_states, SRC_STREAMING, SRC_DRAIN_INTENT));
	ck_assert(engine_arc_allowed(&src_states, SRC_HOOK_WAIT, SRC_STOPPING));
	ck_assert(!engine_arc_allowed(&src_states, SRC_STREAMING, SRC_STOPCOPY));
	ck_assert(!engine_arc_allowed(&src_states, SRC_HOOK_WAIT, SRC_STOPCOPY));
	ck_assert(!engine_arc_allowed(&src_states, SRC_DRAINING, SRC_STREAMING));
	ck_assert(!engine_arc_allowed(&src_states, SRC_END_SENT, SRC_STREAMING));
	ck_assert(!engine_arc_allowed(&src_states, SRC_DONE, SRC_STREAMING));
	ck_assert(!engine_arc_allowed(&src_states, SRC_NSTATES, SRC_DONE));
	ck_assert(!engine_arc_allowed(&src_states, SRC_STREAMING, SRC_NSTATES));
	ck_assert_str_eq(engine_state_name(&src_states, SRC_NSTATES), "?");
	ck_assert_int_eq(engine_arc_check(&src_states, "m", SRC_STREAMING, SRC_STOPCOPY), -1);
	ck_assert_int_eq(engine_arc_check(&src_states, "m", SRC_STOPPING, SRC_STOPCOPY), 0);
	ck_assert_int_eq(engine_state_by_name(&src_states, "nonsense"), -1);
}
END_TEST

START_TEST(test_destination_arcs)
{
	ck_assert(engine_arc_allowed(&dst_states, DST_WAITING, DST_ACCEPTING));
	ck_assert(engine_arc_allowed(&dst_states, DST_ACCEPTING, DST_RECEIVING));
	ck_assert(!engine_arc_allowed(&dst_states, DST_WAITING, DST_COMMITTING));
	ck_assert(!engine_arc_allowed(&dst_states, DST_RECEIVING, DST_COMMITTED));
	ck_assert(!engine_arc_allowed(&dst_states, DST_COMMITTED, DST_RECEIVING));
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("states");
	TCase *tc = tcase_create("tables");

	tcase_add_test(tc, test_tables_are_well_formed);
	tcase_add_test(tc, test_source_arcs);
	tcase_add_test(tc, test_destination_arcs);
	tcase_add_test(tc, test_source_diagram_is_the_table);
	tcase_add_test(tc, test_destination_diagram_is_the_table);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
