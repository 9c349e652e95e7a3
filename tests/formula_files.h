/*
 * NAME
 *	formula_files.h - the formulas of deploy/formulas/ as the
 *	reimbursement worker keeps them
 *
 * DESCRIPTION
 *	For the tests of the worker without PostgreSQL
 *	(tests/unit/test_reimburse_decide.c, tests/fuzz/fuzz_reimburse.c):
 *	the versions of a formula file, the ones `claimctl seed` publishes,
 *	added to a formula_cache as formulas_load() fills it from the
 *	database. Paths are relative to the repository root, where the
 *	tests run.
 */
#ifndef TESTS_FORMULA_FILES_H
#define TESTS_FORMULA_FILES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "reimburse/reimburse.h"
#include "rules/rules_json.h"

/* OK, or ERR (said on stderr) when deploy/formulas/<code>.json does not
 * load. The cache's versions are malloc'ed: formulas_free() frees them. */
static inline int formula_cache_add_file(struct formula_cache *c, const char *code)
{
	struct rules_formula *f = calloc(1, sizeof(*f));
	struct formula_version *v;
	struct rules_error err;
	json_error_t jerr;
	json_t *root;
	char path[128];

	snprintf(path, sizeof(path), "deploy/formulas/%s.json", code);
	root = json_load_file(path, 0, &jerr);
	if (f == NULL || root == NULL || rules_json_formula(root, f, &err) != RULES_OK) {
		fprintf(stderr, "%s: %s\n", path, root == NULL ? jerr.text : err.reason);
		json_decref(root);
		free(f);
		return ERR;
	}
	json_decref(root);
	v = realloc(c->v, (size_t)c->count * sizeof(*v) + f->n_versions * sizeof(*v));
	if (v == NULL)
		abort();
	c->v = v;
	for (size_t i = 0; i < f->n_versions; i++) {
		v = &c->v[c->count++];
		memset(v, 0, sizeof(*v));
		snprintf(v->code, sizeof(v->code), "%s", code);
		v->version = f->v[i].version;
		v->from = f->v[i].has_from ? f->v[i].effective_from : 0;
		v->to = f->v[i].has_to ? f->v[i].effective_to : 0;
		v->contract = f->v[i].contract;
	}
	free(f);
	return OK;
}

#endif
