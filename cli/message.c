/*
 * message.c: what vfio-migctl says on standard error, and usage errors.
 *
 * Owns whether a progress line is left open on standard output, so that a
 * message never lands at the end of one. Never: decide an exit status other
 * than a usage error's, or write to standard output beyond ending that line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "log.h"
#include "xmalloc.h"

static int message_line_open;

static void message_vwarn(int errnum, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

void
ctl_line_open(void)
{
	message_line_open = 1;
}

void
ctl_line_close(void)
{
	if (!message_line_open)
		return;
	fputc('\n', stdout);
	fflush(stdout);
	message_line_open = 0;
}

static void
message_vwarn(int errnum, const char *fmt, va_list ap)
{
	ctl_line_close();
	fputs("vfio-migctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	if (errnum != 0)
		fprintf(stderr, ": %s", strerror(errnum));
	fputc('\n', stderr);
}

void
ctl_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	message_vwarn(0, fmt, ap);
	va_end(ap);
}

void
ctl_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	message_vwarn(saved, fmt, ap);
	va_end(ap);
}

char *
ctl_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatalx("cannot format a request");
	s = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

void
ctl_command_usage(FILE *f, const struct ctl_command *cmd)
{
	fprintf(f, "usage: vfio-migctl [-s SOCKET] [--json] %s", cmd->name);
	if (cmd->operand != NULL)
		fprintf(f, " %s", cmd->operand);
	if (cmd->options != NULL)
		fprintf(f, " %s", cmd->options);
	fputc('\n', f);
}

int
ctl_usage_error(const struct ctl *ctl, const char *fmt, ...)
{
	va_list ap;

	fputs("vfio-migctl: ", stderr);
	if (ctl->command != NULL)
		fprintf(stderr, "%s: ", ctl->command->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (ctl->command != NULL)
		ctl_command_usage(stderr, ctl->command);
	fputs("Try 'vfio-migctl --help' for more information.\n", stderr);
	return CTL_EXIT_USAGE;
}
