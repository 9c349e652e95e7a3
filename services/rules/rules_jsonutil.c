/*
 * NAME
 *	rules_jsonutil.c - strict readers of JSON members, and error records
 *
 * DESCRIPTION
 *	The request, parameters and formula parsers share these readers so
 *	that every document of the engine is read by the same strict rules:
 *	a member has exactly one JSON type (an amount written 12.5 or "12"
 *	is refused, not converted), integers lie within stated bounds,
 *	dates are ISO days, and a member the format does not define is an
 *	error (a misspelt optional member would otherwise silently change
 *	an amount).
 *
 * DIAGNOSTICS
 *	On failure the struct rules_error names the member by its JSON path
 *	("lines[0].charged_cents") and says why, in one line.
 */
#include "rules/rules_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int rules_verror_at(struct rules_error *err, const char *prefix, const char *member,
		    const char *fmt, va_list ap)
{
	if (err == NULL)
		return RULES_ERR;
	err->line = -1;
	if (member != NULL && prefix != NULL && prefix[0] != '\0')
		snprintf(err->field, sizeof err->field, "%s.%s", prefix, member);
	else
		snprintf(err->field, sizeof err->field, "%s",
			 member != NULL ? member : (prefix != NULL ? prefix : ""));
	vsnprintf(err->reason, sizeof err->reason, fmt, ap);
	return RULES_ERR;
}

int rules_error_at(struct rules_error *err, const char *prefix, const char *member, const char *fmt,
		   ...)
{
	va_list ap;

	va_start(ap, fmt);
	rules_verror_at(err, prefix, member, fmt, ap);
	va_end(ap);
	return RULES_ERR;
}

int rules_json_object(json_t *v, const char *path, struct rules_error *err)
{
	if (!json_is_object(v))
		return rules_error_at(err, path, NULL, "must be an object");
	return RULES_OK;
}

static bool listed(const char *key, const char *const *keys)
{
	for (; *keys != NULL; keys++)
		if (strcmp(key, *keys) == 0)
			return true;
	return false;
}

int rules_json_only(json_t *obj, const char *const *keys, const char *path, struct rules_error *err)
{
	const char *key;
	json_t *v;

	json_object_foreach (obj, key, v) {
		if (!listed(key, keys))
			return rules_error_at(err, path, key, "unknown member");
	}
	return RULES_OK;
}

/* Looks key up; RULES_OK with *v NULL when absent and optional. */
static int member(json_t *obj, const char *key, const char *path, bool *present, json_t **v,
		  struct rules_error *err)
{
	*v = json_object_get(obj, key);
	if (present != NULL)
		*present = *v != NULL;
	if (*v == NULL && present == NULL)
		return rules_error_at(err, path, key, "missing");
	return RULES_OK;
}

int rules_json_int(json_t *obj, const char *key, const char *path, int64_t min, int64_t max,
		   int64_t *out, bool *present, struct rules_error *err)
{
	json_t *v;
	json_int_t i;

	if (member(obj, key, path, present, &v, err) != RULES_OK)
		return RULES_ERR;
	if (v == NULL)
		return RULES_OK;
	if (!json_is_integer(v))
		return rules_error_at(err, path, key, "must be an integer");
	i = json_integer_value(v);
	if (i < min && min == 0)
		return rules_error_at(err, path, key, "must not be negative");
	if (i < min)
		return rules_error_at(err, path, key, "must be at least %" PRId64, min);
	if (i > max)
		return rules_error_at(err, path, key, "must be at most %" PRId64, max);
	*out = i;
	return RULES_OK;
}

int rules_json_bool(json_t *obj, const char *key, const char *path, bool *out, bool *present,
		    struct rules_error *err)
{
	json_t *v;

	if (member(obj, key, path, present, &v, err) != RULES_OK)
		return RULES_ERR;
	if (v == NULL)
		return RULES_OK;
	if (!json_is_boolean(v))
		return rules_error_at(err, path, key, "must be true or false");
	*out = json_is_true(v);
	return RULES_OK;
}

int rules_json_string(json_t *obj, const char *key, const char *path, size_t max_len,
		      const char **out, bool *present, struct rules_error *err)
{
	json_t *v;
	size_t len;

	if (member(obj, key, path, present, &v, err) != RULES_OK)
		return RULES_ERR;
	if (v == NULL)
		return RULES_OK;
	if (!json_is_string(v))
		return rules_error_at(err, path, key, "must be a string");
	len = json_string_length(v);
	if (len == 0)
		return rules_error_at(err, path, key, "must not be empty");
	if (len > max_len)
		return rules_error_at(err, path, key, "longer than %zu bytes", max_len);
	/* Strings with an embedded NUL would be cut short by C code. */
	if (strlen(json_string_value(v)) != len)
		return rules_error_at(err, path, key, "contains a NUL character");
	*out = json_string_value(v);
	return RULES_OK;
}

int rules_json_date(json_t *obj, const char *key, const char *path, rules_date_t *out,
		    bool *present, struct rules_error *err)
{
	json_t *v;

	if (member(obj, key, path, present, &v, err) != RULES_OK)
		return RULES_ERR;
	if (v == NULL)
		return RULES_OK;
	if (!json_is_string(v) || rules_date_parse(json_string_value(v), out) != RULES_OK)
		return rules_error_at(err, path, key, "must be a date YYYY-MM-DD between %d and %d",
				      RULES_MIN_YEAR, RULES_MAX_YEAR);
	return RULES_OK;
}
