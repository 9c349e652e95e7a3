/*
 * NAME
 *	json_mutate.h - edit a JSON document by path, for table-driven tests
 *
 * SYNOPSIS
 *	mutate(root, "lines[0].charged_cents", "-5");   set a member
 *	mutate(root, "contract.responsible", NULL);      delete it
 *
 * DESCRIPTION
 *	Tests of the strict JSON readers start from a valid document and
 *	break one member at a time; this is the one way they do it.
 */
#ifndef TESTS_JSON_MUTATE_H
#define TESTS_JSON_MUTATE_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Navigates "a.b[2].c" to the parent of the last member. */
static json_t *parent_of(json_t *root, char *path, char **last, long *index)
{
	json_t *cur = root;
	char *p = path;

	*index = -1;
	for (;;) {
		size_t n = strcspn(p, ".[");
		char sep = p[n];

		p[n] = '\0';
		if (sep == '\0') {
			*last = p;
			return cur;
		}
		if (n > 0)
			cur = json_object_get(cur, p);
		if (sep == '[') {
			long i = strtol(p + n + 1, &p, 10);

			p++;
			if (*p == '\0') {
				*last = NULL;
				*index = i;
				return cur;
			}
			cur = json_array_get(cur, (size_t)i);
			p++;
		} else {
			p += n + 1;
		}
	}
}

/* Sets the member at path to the JSON text value (NULL: deletes it). */
static void mutate(json_t *root, const char *path, const char *value)
{
	char buf[128];
	char *last;
	long index;
	json_t *parent, *v = value != NULL ? json_loads(value, JSON_DECODE_ANY, NULL) : NULL;

	if (value != NULL && v == NULL)
		printf("  bad JSON in test: %s\n", value);
	snprintf(buf, sizeof buf, "%s", path);
	parent = parent_of(root, buf, &last, &index);
	if (index >= 0 && v != NULL && (size_t)index >= json_array_size(parent))
		json_array_append_new(parent, v);
	else if (index >= 0 && v != NULL)
		json_array_set_new(parent, (size_t)index, v);
	else if (index >= 0)
		json_array_remove(parent, (size_t)index);
	else if (v != NULL)
		json_object_set_new(parent, last, v);
	else
		json_object_del(parent, last);
}

#endif
