/*
 * NAME
 *	pgarray.h - build PostgreSQL array literals for parameters
 *
 * SYNOPSIS
 *	struct pgarray a;
 *	pgarray_init(&a);
 *	pgarray_text(&a, "O'Brien \"x\"");
 *	pgarray_int(&a, 42);
 *	pgarray_null(&a);
 *	values[0] = pgarray_finish(&a);   // "{\"O'Brien \\\"x\\\"\",\"42\",NULL}"
 *	...
 *	pgarray_free(&a);
 *
 * DESCRIPTION
 *	Several rows go to PostgreSQL in one statement as array parameters
 *	(INSERT ... SELECT FROM unnest($1::int[], $2::text[])), one round
 *	trip instead of one per row. The literal travels as a parameter
 *	value, never inside SQL text; elements are always quoted and
 *	escaped, so any string is safe.
 */
#ifndef COMMON_PGARRAY_H
#define COMMON_PGARRAY_H

#include <stddef.h>
#include <stdint.h>

struct pgarray {
	char *buf;
	size_t len, cap;
	int count;
};

void pgarray_init(struct pgarray *a);
void pgarray_text(struct pgarray *a, const char *s);
void pgarray_int(struct pgarray *a, int64_t v);
void pgarray_bool(struct pgarray *a, int v);
void pgarray_null(struct pgarray *a);
/* Binary data as hex text: decode(x, 'hex') turns it back into bytea. */
void pgarray_hex(struct pgarray *a, const void *data, size_t len);
/* The elements of an array of plain words as PostgreSQL prints it
 * ("{C2S,MATERNITY}"), split in place into at most max: no quoting, so
 * for values known to be words (codes, not free text). */
size_t pgarray_words(char *text, char **out, size_t max);
/* The literal so far; elements may still be added, then finish again. */
const char *pgarray_finish(struct pgarray *a);
void pgarray_free(struct pgarray *a);

#endif
