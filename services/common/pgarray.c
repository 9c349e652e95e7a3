/*
 * NAME
 *	pgarray.c - build PostgreSQL array literals for parameters
 */
#include "common/pgarray.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

/* Room for n more bytes. */
static void reserve(struct pgarray *a, size_t n)
{
	if (a->len + n > a->cap) {
		a->cap = a->cap * 2 + n + 64;
		a->buf = xrealloc(a->buf, a->cap);
	}
}

static void put(struct pgarray *a, char c)
{
	reserve(a, 1);
	a->buf[a->len++] = c;
}

static void separator(struct pgarray *a)
{
	put(a, a->count++ == 0 ? '{' : ',');
}

void pgarray_init(struct pgarray *a)
{
	memset(a, 0, sizeof(*a));
}

void pgarray_text(struct pgarray *a, const char *s)
{
	separator(a);
	put(a, '"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			put(a, '\\');
		put(a, *s);
	}
	put(a, '"');
}

void pgarray_int(struct pgarray *a, int64_t v)
{
	char digits[24];

	snprintf(digits, sizeof(digits), "%" PRId64, v);
	pgarray_text(a, digits);
}

void pgarray_bool(struct pgarray *a, int v)
{
	pgarray_text(a, v ? "t" : "f");
}

void pgarray_null(struct pgarray *a)
{
	separator(a);
	for (const char *s = "NULL"; *s; s++)
		put(a, *s);
}

void pgarray_hex(struct pgarray *a, const void *data, size_t len)
{
	char *hex = xmalloc(len * 2 + 1);

	sodium_bin2hex(hex, len * 2 + 1, data, len);
	pgarray_text(a, hex);
	free(hex);
}

/* The closing brace and the NUL go after the elements without becoming
 * part of them: the array can grow after a finish (a write that failed
 * keeps its rows for the next try) and be finished again. */
const char *pgarray_finish(struct pgarray *a)
{
	size_t end = a->len;

	reserve(a, 3);
	if (a->count == 0)
		a->buf[end++] = '{';
	a->buf[end++] = '}';
	a->buf[end] = '\0';
	return a->buf;
}

void pgarray_free(struct pgarray *a)
{
	free(a->buf);
	memset(a, 0, sizeof(*a));
}

size_t pgarray_words(char *text, char **out, size_t max)
{
	size_t n = 0;
	char *save = NULL;

	for (char *tok = strtok_r(text, "{},", &save); tok != NULL && n < max;
	     tok = strtok_r(NULL, "{},", &save))
		out[n++] = tok;
	return n;
}
