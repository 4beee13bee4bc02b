/*
 * api.h: requests to the control API (SPEC §4), one per connection, each
 * answered by one JSON object.
 *
 * Every function returns the command's exit status: CTL_EXIT_OK, or a
 * status whose reason is already on standard error (the API's error: 1;
 * no daemon or no sensible answer: 3). Never: retry a request that changes
 * state.
 */
#ifndef CTL_API_H
#define CTL_API_H

#include <stddef.h>

#include <jansson.h>

#include "ctl.h"
#include "render.h"

/* prefix + operand percent-encoded + suffix: "/v1/devices/" "gpu0" "/incoming". */
char *api_path(const char *prefix, const char *operand, const char *suffix);
/* A 2xx answer's object into *out; the API's error reported (and printed
 * with --json) otherwise. */
int api_decode(const struct ctl *ctl, int status, const char *body, size_t len, json_t **out);
/* One request (body NULL for none); *response set for a 2xx answer. */
int api_request(const struct ctl *ctl, const char *method, const char *path, json_t *request,
    json_t **response);
/* The shape of most commands: one request, then the answer as it came
 * (--json) or rendered for people. */
int api_show(const struct ctl *ctl, const char *method, const char *path, render_fn *render);
int api_show_operand(const struct ctl *ctl, const char *method, const char *prefix,
    const char *operand, const char *suffix, render_fn *render);

#endif
