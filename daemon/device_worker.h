/*
 * device_worker.h: every device has a thread of its own for the calls
 * that may block (state changes, data reads and writes): the event loop
 * hands a call to it and gets the result back, so one slow device does
 * not stall the API, the events or any other migration.
 *
 * Calls on one device run one at a time, in the order they were made.
 * While a call of a device is out, its engine makes no other call of it
 * on the loop (the engines keep to that; the software devices' workload
 * clocks use device_trylock). A call cannot be cancelled once made: it
 * runs, and device_call_forget only drops its callback (the engine that
 * made it is going away).
 */
#ifndef MIG_DEVICE_WORKER_H
#define MIG_DEVICE_WORKER_H

#include <stdint.h>

struct event_base;
struct mig_device;
struct device_call;
struct device_worker;

/* Runs on the device's thread with the call's arg: rc 0 or -errno; *out
 * for a result. */
typedef int (*device_fn)(struct mig_device *dev, void *arg, uint64_t *out);
/* Runs on the loop once fn has returned. */
typedef void (*device_done)(void *ctx, int rc, uint64_t out);

/* Start a thread for dev (device.c keeps it in dev->worker); NULL with
 * errno set when it cannot. The worker knows dev only as the argument of
 * the calls it runs. */
struct device_worker *device_worker_start(struct mig_device *dev, struct event_base *base);
/* Wait for every call made, run nothing back, stop the thread. */
void device_worker_stop(struct device_worker *w);

/* Queue fn(dev, arg) on the thread; done(ctx, rc, out) runs on the loop
 * after it, then arg_free(arg) (when not NULL: the call owns arg, also
 * when it is forgotten). The handle is valid until done runs or
 * device_call_forget. */
struct device_call *device_call(struct device_worker *w, device_fn fn, void *arg,
    void (*arg_free)(void *), device_done done, void *ctx);
/* done will not run (the call itself still does). NULL is fine. */
void device_call_forget(struct device_call *c);
/* 1 while a call is queued or running. */
int device_calls_out(const struct device_worker *w);
/* Wait for the calls made and run their callbacks here (at exit, before
 * the migrations are freed, so that rollbacks are on record). */
void device_worker_settle(struct device_worker *w);

/* The thread holds the device while a call runs: code on the loop that
 * touches the device outside the engines (a workload clock) skips a turn
 * when this fails (nonzero). A NULL worker (none started) always locks. */
int device_worker_trylock(struct device_worker *w);
void device_worker_unlock(struct device_worker *w);
/* 1 when the calling thread may touch the device: it is the device's
 * thread, or holds its lock from device_worker_trylock, or there is no
 * thread (NULL: before it starts, after it stopped). */
int device_worker_holds(const struct device_worker *w);
/* Every backend operation that touches the device says so first
 * (device_check_thread in device.h): a call from elsewhere (the event
 * loop, without the lock) is a defect, logged once per device. */
void device_worker_check(struct device_worker *w, const char *name, const char *op);

#endif
