/*
 * NAME
 *	config.c - configuration from environment variables, as a table
 */
#include "common/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/xalloc.h"

static int parse_bool(const char *s, int *out)
{
	if (strcasecmp(s, "1") == 0 || strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0 ||
	    strcasecmp(s, "on") == 0) {
		*out = 1;
		return OK;
	}
	if (strcasecmp(s, "0") == 0 || strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0 ||
	    strcasecmp(s, "off") == 0) {
		*out = 0;
		return OK;
	}
	return ERR;
}

static int load_entry(const struct config_entry *e)
{
	const char *value = getenv(e->env);
	char *end;
	long n;

	if (value == NULL)
		value = e->default_value;
	switch (e->type) {
	case CONFIG_STRING:
		*(char **)e->target = xstrdup(value);
		return OK;
	case CONFIG_BOOL:
		if (parse_bool(value, (int *)e->target) == OK)
			return OK;
		log_error("%s=%s: not a boolean (true/false)", e->env, value);
		return ERR;
	case CONFIG_INT:
		/* strtol would take " 30" and "+30": digits only, and a minus */
		errno = 0;
		n = strtol(value, &end, 10);
		if (errno != 0 || end == value || *end != '\0' ||
		    !(isdigit((unsigned char)value[0]) ||
		      (value[0] == '-' && isdigit((unsigned char)value[1])))) {
			log_error("%s=%s: not an integer", e->env, value);
			return ERR;
		}
		if (n < e->min || n > e->max) {
			log_error("%s=%ld: out of range [%ld, %ld]", e->env, n, e->min, e->max);
			return ERR;
		}
		*(long *)e->target = n;
		return OK;
	}
	return ERR;
}

int config_load(const struct config_entry *table)
{
	int status = OK;

	for (const struct config_entry *e = table; e->env != NULL; e++)
		if (load_entry(e) != OK)
			status = ERR;
	return status;
}

void config_usage(FILE *out, const struct config_entry *table)
{
	fprintf(out, "Environment (default in brackets):\n");
	config_usage_entries(out, table);
}

void config_usage_entries(FILE *out, const struct config_entry *table)
{
	for (const struct config_entry *e = table; e->env != NULL; e++) {
		fprintf(out, "  %-28s %s [%s]", e->env, e->help, e->default_value);
		if (e->type == CONFIG_INT)
			fprintf(out, " (%ld..%ld)", e->min, e->max);
		fputc('\n', out);
	}
}

void config_free(const struct config_entry *table)
{
	for (const struct config_entry *e = table; e->env != NULL; e++) {
		if (e->type == CONFIG_STRING) {
			free(*(char **)e->target);
			*(char **)e->target = NULL;
		}
	}
}
