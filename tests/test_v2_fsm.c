/*
 * test_v2_fsm.c: the v2 FSM planner against the uAPI.
 *
 * Two independent references: the arcs and combination paths listed in
 * linux/vfio.h and drivers/vfio/vfio_main.c's comment (transcribed as
 * text below), and the kernel's next-state table (vfio_from_fsm_table,
 * transcribed with its "skip the states these flags lack" loop), which
 * the planner must agree with for every pair of states and every
 * combination of flags.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "log.h"
#include "v2_fsm.h"

#define E V2_STATE_ERROR
#define S V2_STATE_STOP
#define R V2_STATE_RUNNING
#define SC V2_STATE_STOP_COPY
#define RS V2_STATE_RESUMING
#define RP V2_STATE_RUNNING_P2P
#define PC V2_STATE_PRE_COPY
#define PP V2_STATE_PRE_COPY_P2P

#define ALL (V2_MIG_STOP_COPY | V2_MIG_P2P | V2_MIG_PRE_COPY)

/* The kernel's vfio_from_fsm_table[cur][new]: the next state to step to. */
static const uint8_t kernel_next[8][8] = {
	[S] = {[S] = S, [R] = RP, [PC] = RP, [PP] = RP, [SC] = SC, [RS] = RS, [RP] = RP, [E] = E},
	[R] = {[S] = RP, [R] = R, [PC] = PC, [PP] = RP, [SC] = RP, [RS] = RP, [RP] = RP, [E] = E},
	[PC] = {[S] = R, [R] = R, [PC] = PC, [PP] = PP, [SC] = PP, [RS] = R, [RP] = R, [E] = E},
	[PP] = {[S] = RP, [R] = RP, [PC] = PC, [PP] = PP, [SC] = SC, [RS] = RP, [RP] = RP, [E] = E},
	[SC] = {[S] = S, [R] = S, [PC] = E, [PP] = E, [SC] = SC, [RS] = S, [RP] = S, [E] = E},
	[RS] = {[S] = S, [R] = S, [PC] = S, [PP] = S, [SC] = S, [RS] = RS, [RP] = S, [E] = E},
	[RP] = {[S] = S, [R] = R, [PC] = R, [PP] = PP, [SC] = S, [RS] = S, [RP] = RP, [E] = E},
	[E] = {[S] = E, [R] = E, [PC] = E, [PP] = E, [SC] = E, [RS] = E, [RP] = E, [E] = E},
};

/* The kernel's state_flags_table: flags a state needs. */
static uint64_t
kernel_state_flags(uint32_t s)
{
	switch (s) {
	case PC:
		return V2_MIG_STOP_COPY | V2_MIG_PRE_COPY;
	case PP:
		return ALL;
	case RP:
		return V2_MIG_STOP_COPY | V2_MIG_P2P;
	case E:
		return ~0ull;
	}
	return V2_MIG_STOP_COPY;
}

/* The kernel's walk: path length, or -1 where it refuses. */
static int
kernel_path(uint32_t from, uint32_t to, uint64_t flags, uint32_t *out)
{
	uint32_t cur = from, next;
	int n = 0;

	if ((kernel_state_flags(from) & flags) != kernel_state_flags(from) ||
	    (kernel_state_flags(to) & flags) != kernel_state_flags(to))
		return -1;
	while (cur != to) {
		next = kernel_next[cur][to];
		while (next != E && (kernel_state_flags(next) & flags) != kernel_state_flags(next))
			next = kernel_next[next][to];
		if (next == E)
			return -1;
		out[n++] = next;
		cur = next;
		ck_assert_int_le(n, 8);
	}
	return n;
}

static const uint64_t flag_sets[] = {
	V2_MIG_STOP_COPY,
	V2_MIG_STOP_COPY | V2_MIG_P2P,
	V2_MIG_STOP_COPY | V2_MIG_PRE_COPY,
	ALL,
};

START_TEST(test_planner_agrees_with_the_kernel_everywhere)
{
	uint32_t want[8], got[V2_FSM_MAX_STEPS], from, to;
	size_t f;
	int kn, n, i, compared = 0;

	for (f = 0; f < sizeof(flag_sets) / sizeof(flag_sets[0]); f++)
		for (from = 0; from < V2_STATE_COUNT; from++)
			for (to = 0; to < V2_STATE_COUNT; to++) {
				kn = from == E || to == E ? -1 : kernel_path(from, to, flag_sets[f], want);
				n = v2_fsm_plan(from, to, flag_sets[f], got, V2_FSM_MAX_STEPS);
				if (kn < 0) {
					ck_assert_msg(n == -EINVAL, "flags %llx %s -> %s: planned %d steps, "
					    "the kernel refuses", (unsigned long long)flag_sets[f],
					    v2_state_name(from), v2_state_name(to), n);
					continue;
				}
				ck_assert_msg(n == kn, "flags %llx %s -> %s: %d steps, kernel %d",
				    (unsigned long long)flag_sets[f], v2_state_name(from),
				    v2_state_name(to), n, kn);
				for (i = 0; i < n; i++)
					ck_assert_msg(got[i] == want[i], "flags %llx %s -> %s step %d: %s, "
					    "kernel %s", (unsigned long long)flag_sets[f],
					    v2_state_name(from), v2_state_name(to), i,
					    v2_state_name(got[i]), v2_state_name(want[i]));
				/* Every step is a single arc the uAPI defines. */
				for (i = 0; i < n; i++)
					ck_assert(v2_fsm_arc(i == 0 ? from : got[i - 1], got[i],
					    flag_sets[f]));
				compared++;
			}
	ck_assert_int_gt(compared, 100);
}
END_TEST

/* "A -> B -> C" into states. */
static int
parse_path(const char *text, uint32_t *out)
{
	static const struct {
		const char *name;
		uint32_t state;
	} names[] = {{"PRE_COPY_P2P", PP}, {"PRE_COPY", PC}, {"RUNNING_P2P", RP},
		{"RUNNING", R}, {"STOP_COPY", SC}, {"STOP", S}, {"RESUMING", RS}};
	char buf[256], *tok, *save = NULL;
	int n = 0;
	size_t i;

	snprintf(buf, sizeof(buf), "%s", text);
	for (tok = strtok_r(buf, " ->", &save); tok != NULL; tok = strtok_r(NULL, " ->", &save)) {
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strcmp(tok, names[i].name) == 0)
				break;
		ck_assert_msg(i < sizeof(names) / sizeof(names[0]), "unknown state %s", tok);
		out[n++] = names[i].state;
	}
	return n;
}

/* The combination transitions the kernel documents for a device with
 * every optional feature, verbatim. */
static const char *const documented_paths[] = {
	"PRE_COPY -> PRE_COPY_P2P -> STOP_COPY",
	"PRE_COPY -> RUNNING -> RUNNING_P2P",
	"PRE_COPY -> RUNNING -> RUNNING_P2P -> STOP",
	"PRE_COPY -> RUNNING -> RUNNING_P2P -> STOP -> RESUMING",
	"PRE_COPY_P2P -> RUNNING_P2P -> RUNNING",
	"PRE_COPY_P2P -> RUNNING_P2P -> STOP",
	"PRE_COPY_P2P -> RUNNING_P2P -> STOP -> RESUMING",
	"RESUMING -> STOP -> RUNNING_P2P",
	"RESUMING -> STOP -> RUNNING_P2P -> PRE_COPY_P2P",
	"RESUMING -> STOP -> RUNNING_P2P -> RUNNING",
	"RESUMING -> STOP -> RUNNING_P2P -> RUNNING -> PRE_COPY",
	"RESUMING -> STOP -> STOP_COPY",
	"RUNNING -> RUNNING_P2P -> PRE_COPY_P2P",
	"RUNNING -> RUNNING_P2P -> STOP",
	"RUNNING -> RUNNING_P2P -> STOP -> RESUMING",
	"RUNNING -> RUNNING_P2P -> STOP -> STOP_COPY",
	"RUNNING_P2P -> RUNNING -> PRE_COPY",
	"RUNNING_P2P -> STOP -> RESUMING",
	"RUNNING_P2P -> STOP -> STOP_COPY",
	"STOP -> RUNNING_P2P -> PRE_COPY_P2P",
	"STOP -> RUNNING_P2P -> RUNNING",
	"STOP -> RUNNING_P2P -> RUNNING -> PRE_COPY",
	"STOP_COPY -> STOP -> RESUMING",
	"STOP_COPY -> STOP -> RUNNING_P2P",
	"STOP_COPY -> STOP -> RUNNING_P2P -> RUNNING",
};

START_TEST(test_documented_combination_paths)
{
	uint32_t want[8], got[V2_FSM_MAX_STEPS];
	size_t i;
	int n, k, j;

	for (i = 0; i < sizeof(documented_paths) / sizeof(documented_paths[0]); i++) {
		n = parse_path(documented_paths[i], want);
		k = v2_fsm_plan(want[0], want[n - 1], ALL, got, V2_FSM_MAX_STEPS);
		ck_assert_msg(k == n - 1, "%s: %d steps", documented_paths[i], k);
		for (j = 0; j < k; j++)
			ck_assert_msg(got[j] == want[j + 1], "%s: step %d is %s", documented_paths[i],
			    j, v2_state_name(got[j]));
	}
}
END_TEST

/* The arcs a driver must implement, by flags (vfio_main.c). */
START_TEST(test_single_arcs_by_flags)
{
	uint32_t path[V2_FSM_MAX_STEPS];

	/* STOP_COPY only: RUNNING <-> STOP direct. */
	ck_assert(v2_fsm_arc(R, S, V2_MIG_STOP_COPY));
	ck_assert(v2_fsm_arc(S, R, V2_MIG_STOP_COPY));
	ck_assert(!v2_fsm_arc(R, RP, V2_MIG_STOP_COPY));
	ck_assert(!v2_fsm_arc(R, SC, V2_MIG_STOP_COPY));
	ck_assert(v2_fsm_arc(S, SC, V2_MIG_STOP_COPY));
	ck_assert(v2_fsm_arc(SC, S, V2_MIG_STOP_COPY));
	ck_assert(v2_fsm_arc(S, RS, V2_MIG_STOP_COPY));
	ck_assert(v2_fsm_arc(RS, S, V2_MIG_STOP_COPY));
	ck_assert(!v2_fsm_arc(RS, R, V2_MIG_STOP_COPY));
	/* P2P replaces RUNNING <-> STOP. */
	ck_assert(!v2_fsm_arc(R, S, V2_MIG_STOP_COPY | V2_MIG_P2P));
	ck_assert(v2_fsm_arc(R, RP, V2_MIG_STOP_COPY | V2_MIG_P2P));
	ck_assert(v2_fsm_arc(RP, S, V2_MIG_STOP_COPY | V2_MIG_P2P));
	/* PRE_COPY -> STOP_COPY is an arc only without P2P. */
	ck_assert(v2_fsm_arc(PC, SC, V2_MIG_STOP_COPY | V2_MIG_PRE_COPY));
	ck_assert(!v2_fsm_arc(PC, SC, ALL));
	ck_assert(v2_fsm_arc(PP, SC, ALL));
	ck_assert(!v2_fsm_arc(PC, SC, V2_MIG_STOP_COPY));
	/* Nothing goes to or leaves ERROR by an arc. */
	ck_assert(!v2_fsm_arc(E, R, ALL));
	ck_assert(!v2_fsm_arc(R, E, ALL));

	/* RUNNING -> STOP_COPY goes via STOP or RUNNING_P2P by flags. */
	ck_assert_int_eq(v2_fsm_plan(R, SC, V2_MIG_STOP_COPY, path, V2_FSM_MAX_STEPS), 2);
	ck_assert_uint_eq(path[0], S);
	ck_assert_uint_eq(path[1], SC);
	ck_assert_int_eq(v2_fsm_plan(R, SC, ALL, path, V2_FSM_MAX_STEPS), 3);
	ck_assert_uint_eq(path[0], RP);
	ck_assert_uint_eq(path[1], S);
	ck_assert_uint_eq(path[2], SC);
	/* Even with PRE_COPY on offer, a path never passes through it. */
	ck_assert_int_eq(v2_fsm_plan(R, SC, V2_MIG_STOP_COPY | V2_MIG_PRE_COPY, path,
	    V2_FSM_MAX_STEPS), 2);
	ck_assert_uint_eq(path[0], S);
}
END_TEST

START_TEST(test_refusals)
{
	uint32_t path[V2_FSM_MAX_STEPS];

	/* Blocked by the uAPI. */
	ck_assert_int_eq(v2_fsm_plan(SC, PC, ALL, path, V2_FSM_MAX_STEPS), -EINVAL);
	ck_assert_int_eq(v2_fsm_plan(SC, PP, ALL, path, V2_FSM_MAX_STEPS), -EINVAL);
	/* ERROR is left only by a reset, and never set. */
	ck_assert_int_eq(v2_fsm_plan(E, R, ALL, path, V2_FSM_MAX_STEPS), -EINVAL);
	ck_assert_int_eq(v2_fsm_plan(R, E, ALL, path, V2_FSM_MAX_STEPS), -EINVAL);
	/* States the flags do not offer. */
	ck_assert_int_eq(v2_fsm_plan(R, PC, V2_MIG_STOP_COPY, path, V2_FSM_MAX_STEPS), -EINVAL);
	ck_assert_int_eq(v2_fsm_plan(R, RP, V2_MIG_STOP_COPY, path, V2_FSM_MAX_STEPS), -EINVAL);
	ck_assert_int_eq(v2_fsm_plan(RP, R, V2_MIG_STOP_COPY, path, V2_FSM_MAX_STEPS), -EINVAL);
	/* No migration at all. */
	ck_assert_int_eq(v2_fsm_plan(R, S, 0, path, V2_FSM_MAX_STEPS), -EINVAL);
	/* Out of range. */
	ck_assert_int_eq(v2_fsm_plan(R, 8, ALL, path, V2_FSM_MAX_STEPS), -EINVAL);
	ck_assert_int_eq(v2_fsm_plan(99, R, ALL, path, V2_FSM_MAX_STEPS), -EINVAL);
	/* Same state: nothing to do. */
	ck_assert_int_eq(v2_fsm_plan(R, R, ALL, path, V2_FSM_MAX_STEPS), 0);
	/* A short buffer is not overrun. */
	ck_assert_int_eq(v2_fsm_plan(RS, PC, ALL, path, 3), -ENOSPC);
	ck_assert_int_eq(v2_fsm_plan(RS, PC, ALL, path, V2_FSM_MAX_STEPS), 4);
}
END_TEST

START_TEST(test_names_and_groups)
{
	ck_assert_str_eq(v2_state_name(R), "running");
	ck_assert_str_eq(v2_state_name(S), "stopped");
	ck_assert_str_eq(v2_state_name(SC), "stop-copy");
	ck_assert_str_eq(v2_state_name(PC), "pre-copy");
	ck_assert_str_eq(v2_state_name(PP), "pre-copy-p2p");
	ck_assert_str_eq(v2_state_name(RP), "running-p2p");
	ck_assert_str_eq(v2_state_name(RS), "resuming");
	ck_assert_str_eq(v2_state_name(E), "error");
	ck_assert_str_eq(v2_state_name(42), "invalid");
	ck_assert(v2_state_is_saving(PC) && v2_state_is_saving(PP) && v2_state_is_saving(SC));
	ck_assert(!v2_state_is_saving(S) && !v2_state_is_saving(R) && !v2_state_is_saving(RS));
	ck_assert(!v2_state_supported(E, ALL));
	ck_assert(v2_state_supported(PP, ALL));
	ck_assert(!v2_state_supported(PP, V2_MIG_STOP_COPY | V2_MIG_PRE_COPY));
}
END_TEST

int main(void);

int
main(void)
{
	Suite *s = suite_create("v2_fsm");
	TCase *tc = tcase_create("planner");

	unsetenv("JOURNAL_STREAM");
	log_init("test_v2_fsm", LOG_LEVEL_INFO);
	tcase_add_test(tc, test_planner_agrees_with_the_kernel_everywhere);
	tcase_add_test(tc, test_documented_combination_paths);
	tcase_add_test(tc, test_single_arcs_by_flags);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_names_and_groups);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
