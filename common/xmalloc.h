/*
 * xmalloc.h: allocation that cannot fail quietly. Out of memory is fatal
 * for the daemon's own bookkeeping; buffers whose size comes from outside
 * are bounded before they are allocated, so these never see a hostile size.
 */
#ifndef MIG_XMALLOC_H
#define MIG_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);

#endif
