/*
 * NAME
 *	xalloc.h - allocation that never returns NULL
 *
 * DESCRIPTION
 *	Out of memory is not an error a daemon can handle message by message;
 *	these wrappers panic instead, so call sites stay free of NULL checks
 *	(the Postfix mymalloc idea).
 */
#ifndef COMMON_XALLOC_H
#define COMMON_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
