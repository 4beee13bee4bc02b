/*
 * fuzz_httpd.c: libFuzzer target for the control socket's request parser
 * (daemon/httpd_parse.h: httpd_parse_head(), httpd_parse_query()), what
 * any local client may send.
 *
 * An input is what one connection carries: requests one after another,
 * each head followed by its body, up to eight. For each:
 *   - a verdict on the bytes: a head taken is no longer than they are nor
 *     than HTTPD_MAX_HEAD, with a path that starts with '/', a known
 *     method and a body within HTTPD_MAX_BODY; a refusal has a status
 *     the server sends, a code with a name and a message; "more" only
 *     while the bytes are fewer than HTTPD_MAX_HEAD;
 *   - the same verdict byte by byte: every prefix of a taken head is
 *     "more", a prefix of a refused request is "more" or the same
 *     refusal, and the head alone gives the same head;
 *   - a query the head carries decodes, or is refused, within its buffer.
 * Every parse reads from a copy of exactly its size, so that the
 * sanitizers see a read past it.
 *
 * Also linked into tests/test_fuzz_httpd, which replays fuzz/corpus/httpd
 * in every `make check`: no main() here.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "fuzz.h"
#include "httpd_parse.h"

#define FUZZ_HTTPD_MAX_REQUESTS 8

static enum httpd_parse_result
parse_exact(const uint8_t *data, size_t len, struct httpd_head *h, struct httpd_refusal *r)
{
	char *copy = malloc(len > 0 ? len : 1);
	enum httpd_parse_result rc;

	FUZZ_CHECK(copy != NULL);
	if (len > 0)
		memcpy(copy, data, len);
	rc = httpd_parse_head(copy, len, h, r);
	free(copy);
	return rc;
}

static void
check_refusal(const struct httpd_refusal *r)
{
	static const int statuses[] = {400, 411, 413, 414, 431, 501, 505};
	size_t i;

	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (statuses[i] == r->status)
			break;
	FUZZ_CHECK(i < sizeof(statuses) / sizeof(statuses[0]));
	FUZZ_CHECK(mig_err_known(r->code) && r->code != MIG_OK);
	FUZZ_CHECK(r->message[0] != '\0');
	FUZZ_CHECK(memchr(r->message, '\0', sizeof(r->message)) != NULL);
}

static void
check_query(const struct httpd_head *h)
{
	char out[40];
	int rc;

	if (!h->has_query)
		return;
	FUZZ_CHECK(strlen(h->query) <= HTTPD_MAX_TARGET);
	rc = httpd_parse_query(h->query, "migration", out, sizeof(out));
	FUZZ_CHECK(rc >= -1 && rc <= 1);
	if (rc == 1)
		FUZZ_CHECK(strlen(out) < sizeof(out));
}

static void
check_head(const struct httpd_head *h, size_t len)
{
	FUZZ_CHECK(h->length > 0 && h->length <= len && h->length <= HTTPD_MAX_HEAD);
	FUZZ_CHECK(strcmp(httpd_parse_method_name(h->method), "?") != 0);
	FUZZ_CHECK(h->minor == 0 || h->minor == 1);
	FUZZ_CHECK(h->path[0] == '/' && strlen(h->path) <= HTTPD_MAX_TARGET);
	FUZZ_CHECK(h->content_length <= HTTPD_MAX_BODY);
	FUZZ_CHECK(h->keep_alive == 0 || h->keep_alive == 1);
	check_query(h);
}

static int
same_head(const struct httpd_head *a, const struct httpd_head *b)
{
	return a->method == b->method && a->minor == b->minor && strcmp(a->path, b->path) == 0 &&
	    a->has_query == b->has_query && strcmp(a->query, b->query) == 0 &&
	    a->content_length == b->content_length && a->keep_alive == b->keep_alive &&
	    a->expect_continue == b->expect_continue && a->length == b->length;
}

/* A prefix of len bytes of what gave (rc, r): its verdict agrees. */
static void
check_prefix(const uint8_t *data, size_t len, enum httpd_parse_result rc,
    const struct httpd_refusal *r)
{
	struct httpd_head hp;
	struct httpd_refusal rp;
	enum httpd_parse_result rcp = parse_exact(data, len, &hp, &rp);

	if (rc != HTTPD_PARSE_REFUSED) {
		FUZZ_CHECK(rcp == HTTPD_PARSE_MORE);
		return;
	}
	FUZZ_CHECK(rcp == HTTPD_PARSE_MORE || rcp == HTTPD_PARSE_REFUSED);
	if (rcp == HTTPD_PARSE_REFUSED)
		FUZZ_CHECK(rp.status == r->status && rp.code == r->code);
}

/* One request at the start of data: the bytes it took, or 0 to stop. */
static size_t
check_request(const uint8_t *data, size_t len)
{
	struct httpd_head h, again;
	struct httpd_refusal r;
	enum httpd_parse_result rc = parse_exact(data, len, &h, &r);
	size_t end = len;

	switch (rc) {
	case HTTPD_PARSE_MORE:
		FUZZ_CHECK(len < HTTPD_MAX_HEAD);
		break;
	case HTTPD_PARSE_REFUSED:
		check_refusal(&r);
		break;
	case HTTPD_PARSE_DONE:
		check_head(&h, len);
		FUZZ_CHECK(parse_exact(data, h.length, &again, &r) == HTTPD_PARSE_DONE);
		FUZZ_CHECK(same_head(&h, &again));
		end = h.length;
		break;
	}
	if (end > 0) {
		check_prefix(data, end - 1, rc, &r);
		check_prefix(data, end / 2, rc, &r);
	}
	if (rc != HTTPD_PARSE_DONE || h.length + h.content_length >= len)
		return 0;
	return h.length + (size_t)h.content_length;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t used;
	int n;

	for (n = 0; n < FUZZ_HTTPD_MAX_REQUESTS && size > 0; n++) {
		if ((used = check_request(data, size)) == 0)
			break;
		data += used;
		size -= used;
	}
	return 0;
}
