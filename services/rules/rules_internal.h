/*
 * NAME
 *	rules_internal.h - helpers shared by the files of the rules library
 *
 * DESCRIPTION
 *	Not part of the public API: error formatting, the half-up percentage
 *	and the strict JSON readers used by the request, parameters and
 *	formula parsers. Only the files of the rules library include it.
 */
#ifndef RULES_INTERNAL_H
#define RULES_INTERNAL_H

#include "rules/rules.h"

#include <jansson.h>
#include <stdarg.h>

/* round(x * p %) half-up to the cent; x and p are never negative here. */
static inline int64_t rules_pct(int64_t x, int64_t p)
{
	return (x * p + 50) / 100;
}

static inline int64_t rules_min(int64_t a, int64_t b)
{
	return a < b ? a : b;
}
static inline int64_t rules_max(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/* Doctors' fees, whose dépassements the non-OPTAM limits bound (CSS
 * R871-2): the only categories where non_optam_pct_brss means anything. */
static inline bool rules_doctor_category(int cat)
{
	return cat == RULES_CAT_CONSULT_GP || cat == RULES_CAT_CONSULT_SPEC ||
	       cat == RULES_CAT_HOSP_HONORAIRES || cat == RULES_CAT_RADIOLOGIE;
}

/* Fills err (if not NULL) with field "prefix.member" (or "prefix" when
 * member is NULL) and the formatted reason; returns RULES_ERR. */
int rules_error_at(struct rules_error *err, const char *prefix, const char *member, const char *fmt,
		   ...) __attribute__((format(printf, 4, 5)));
int rules_verror_at(struct rules_error *err, const char *prefix, const char *member,
		    const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

/* ---- strict JSON readers (rules_jsonutil.c) ---------------------------
 * Each reader looks up `key` in `obj`; `path` is the object's JSON path
 * for the error. A missing optional member leaves *out alone and sets
 * *present false (present may be NULL when the member is required). */

/* RULES_ERR naming the first member of obj not in the NULL-ended keys[]. */
RULES_MUST_CHECK int rules_json_only(json_t *obj, const char *const *keys, const char *path,
				     struct rules_error *err);
RULES_MUST_CHECK int rules_json_object(json_t *v, const char *path, struct rules_error *err);
RULES_MUST_CHECK int rules_json_int(json_t *obj, const char *key, const char *path, int64_t min,
				    int64_t max, int64_t *out, bool *present,
				    struct rules_error *err);
RULES_MUST_CHECK int rules_json_bool(json_t *obj, const char *key, const char *path, bool *out,
				     bool *present, struct rules_error *err);
RULES_MUST_CHECK int rules_json_string(json_t *obj, const char *key, const char *path,
				       size_t max_len, const char **out, bool *present,
				       struct rules_error *err);
RULES_MUST_CHECK int rules_json_date(json_t *obj, const char *key, const char *path,
				     rules_date_t *out, bool *present, struct rules_error *err);

#endif
