/*
 * ctl.h: what the parts of vfio-migctl share: its exit statuses (SPEC §5),
 * the command table's entry and the parsed command line, messages on
 * standard error, and waiting that an interrupt can cut short.
 *
 * Never: anything about HTTP (http.h), the API's objects (api.h) or how
 * they are shown (render.h).
 */
#ifndef CTL_H
#define CTL_H

#include <getopt.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>

/* How long one request may take, connecting included. */
#define CTL_REQUEST_TIMEOUT_MS 10000

enum ctl_exit {
	CTL_HELP_SHOWN = -2,  /* --help or --version: stop, exit 0 */
	CTL_INTERRUPTED = -1, /* SIGINT while waiting: the caller decides */
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAILED = 1,	  /* the migration failed, or the API said no */
	CTL_EXIT_USAGE = 2,
	CTL_EXIT_UNREACHABLE = 3, /* no daemon, or no sensible answer from it */
};

/* Operands of a command whose operand repeats ("DEVICE..."): several
 * devices in one migration (SPEC §9). */
#define CTL_OPERANDS_MAX 8

struct ctl_migrate_args {
	const char *to;
	const char *token;
	uint64_t downtime_limit_ms; /* 0: the daemon's default */
	uint64_t max_bandwidth;
	int has_max_bandwidth;	    /* 0 is a value: unlimited */
	const char *switchover;	    /* NULL: the daemon's default */
	const char *compression;    /* NULL: the daemon's default */
	uint64_t channels;	    /* 0: the daemon's default */
	const char *dest_device;    /* NULL: the same name over there */
	/* --dest-device once per DEVICE, in order, for several devices. */
	const char *dest_devices[CTL_OPERANDS_MAX];
	int ndest;
	int unsafe_no_p2p;
	int wait;
};

/* attach and detach (the hand-over socket). */
struct ctl_attach_args {
	int fd, has_fd;
	int container_fd, has_container_fd; /* the VMM's type1 container */
	const char *backend;
	uint64_t iova[64][2]; /* start, length */
	size_t niova;
	const char *final_state; /* NULL: the daemon's default (stopped) */
	uint64_t page_size;	 /* 0: the daemon's default */
	long owner_pid;		 /* 0: this program's parent */
	/* vfio-user: what the VMM negotiated (0: the daemon negotiates), and
	 * how long each reply may take (0: the daemon's default). */
	uint64_t max_data_xfer, vfu_timeout_ms;
	const char *socket;	 /* NULL: $VFIO_MIGD_HANDOVER, else the default */
};

struct ctl;

struct ctl_command {
	const char *name;
	const char *operand; /* NULL, "NAME", or "[ID]" when optional */
	const char *options; /* usage of the command's own options */
	const char *summary;
	const struct option *long_options; /* NULL: only --json and --help */
	int (*option)(struct ctl *, int, const char *);
	int (*run)(struct ctl *, const char *);
};

struct ctl {
	const char *socket_path;
	int json;
	const struct ctl_command *command;
	const char *operands[CTL_OPERANDS_MAX]; /* "DEVICE...": every operand */
	int noperands;
	struct ctl_migrate_args migrate;
	struct ctl_attach_args attach;
};

/* message.c */
void ctl_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ctl_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Says what is wrong with the command line; returns CTL_EXIT_USAGE. */
int ctl_usage_error(const struct ctl *ctl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ctl_command_usage(FILE *f, const struct ctl_command *cmd);
char *ctl_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A progress line without its newline is on standard output, or no more. */
void ctl_line_open(void);
void ctl_line_close(void);

/* interrupt.c */
void ctl_catch_sigint(void);
/* ppoll() that returns -1/EINTR once SIGINT came, however late. */
int ctl_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms);
/* CTL_EXIT_OK, or CTL_INTERRUPTED. */
int ctl_sleep(int ms);
int ctl_interrupted(void);

/* cmd_migrate.c, cmd_watch.c: the commands with more than one request. */
extern const struct option migrate_options[];
int migrate_option(struct ctl *ctl, int opt, const char *arg);
int cmd_migrate(struct ctl *ctl, const char *device);
int cmd_watch(struct ctl *ctl, const char *id);
/* cmd_handover.c: attach and detach, over the hand-over socket. */
extern const struct option attach_options[], detach_options[];
int attach_option(struct ctl *ctl, int opt, const char *arg);
int cmd_attach(struct ctl *ctl, const char *name);
int cmd_detach(struct ctl *ctl, const char *name);

#endif
