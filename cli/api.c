/*
 * api.c: the control API's requests and answers (api.h), over http.c.
 *
 * Owns what an answer means: a 2xx JSON object is the result, any other
 * status carries the API's error object, anything else is no sensible
 * answer. Never: interpret the object beyond that; the commands do.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "http.h"
#include "xmalloc.h"

char *
api_path(const char *prefix, const char *operand, const char *suffix)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = xmalloc(strlen(prefix) + 3 * strlen(operand) + strlen(suffix) + 1);
	char *p = stpcpy(out, prefix);
	const unsigned char *s;

	for (s = (const unsigned char *)operand; *s != '\0'; s++) {
		if (isalnum(*s) || *s == '-' || *s == '.' || *s == '_' || *s == '~') {
			*p++ = (char)*s;
		} else {
			*p++ = '%';
			*p++ = hex[*s >> 4];
			*p++ = hex[*s & 15];
		}
	}
	strcpy(p, suffix);
	return out;
}

static void
api_report_error(const struct ctl *ctl, int status, json_t *obj)
{
	json_t *err = json_object_get(obj, "error");

	if (ctl->json)
		render_json(obj);
	if (render_string(err, "code") != NULL)
		ctl_warnx("%s: %s", render_string(err, "code"),
		    render_dash(render_string(err, "message")));
	else
		ctl_warnx("the daemon answered HTTP %d", status);
}

int
api_decode(const struct ctl *ctl, int status, const char *body, size_t len, json_t **out)
{
	json_error_t err;
	json_t *obj;

	obj = json_loadb(body, len, 0, &err);
	if (obj == NULL || !json_is_object(obj)) {
		ctl_warnx("the daemon on %s sent an invalid response (HTTP %d): %s",
		    ctl->socket_path, status, obj == NULL ? err.text : "not a JSON object");
		json_decref(obj);
		return CTL_EXIT_UNREACHABLE;
	}
	if (status >= 200 && status <= 299) {
		*out = obj;
		return CTL_EXIT_OK;
	}
	api_report_error(ctl, status, obj);
	json_decref(obj);
	return CTL_EXIT_FAILED;
}

int
api_request(const struct ctl *ctl, const char *method, const char *path, json_t *request,
    json_t **response)
{
	struct http_conn c;
	char *body = NULL, *payload = NULL;
	size_t len = 0;
	int rc;

	*response = NULL;
	if (request != NULL)
		payload = json_dumps(request, JSON_COMPACT);
	rc = http_exchange(&c, ctl->socket_path, method, path, payload);
	free(payload);
	if (rc == CTL_EXIT_OK)
		rc = http_read_body(&c, &body, &len);
	http_close(&c);
	if (rc == CTL_EXIT_OK)
		rc = api_decode(ctl, c.status, body, len, response);
	free(body);
	return rc;
}

int
api_show(const struct ctl *ctl, const char *method, const char *path, render_fn *render)
{
	json_t *res;
	int rc;

	if ((rc = api_request(ctl, method, path, NULL, &res)) != CTL_EXIT_OK)
		return rc;
	if (ctl->json)
		render_json(res);
	else
		render(res);
	json_decref(res);
	return CTL_EXIT_OK;
}

int
api_show_operand(const struct ctl *ctl, const char *method, const char *prefix,
    const char *operand, const char *suffix, render_fn *render)
{
	char *path = api_path(prefix, operand, suffix);
	int rc = api_show(ctl, method, path, render);

	free(path);
	return rc;
}
