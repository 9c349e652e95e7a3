/*
 * NAME
 *	rules_json.h - JSON faces of the rules engine (jansson)
 *
 * SYNOPSIS
 *	#include "rules/rules_json.h"
 *
 *	Parameters (deploy/params/parameters.json, read by the caller):
 *	    rules_params_from_string(text, len, &params, &err)
 *	    rules_params_from_json(root, &params, &err)
 *	Guarantees stored as JSON (a formula row of PostgreSQL):
 *	    rules_json_guarantees(obj, &contract, "guarantees", &err)
 *	    rules_json_guarantee(obj, RULES_CAT_AUDIO, &g, "AUDIO", &err)
 *	A simulate request (domain reference section 4):
 *	    rules_json_request(root, &doc, &err) ... rules_doc_free(&doc)
 *	    rules_json_result(&doc.req, results, &totals)
 *	    rules_json_simulate(&params, text, len, &out, &err)
 *	A formula to check (docs/rules.md, "Formulas"):
 *	    rules_json_formula(root, &formula, &err)
 *
 * DESCRIPTION
 *	Strict readers: every member has one JSON type, integers their
 *	bounds, dates the form YYYY-MM-DD, and a member the format does not
 *	define is refused. Nothing is defaulted except what section 4
 *	defaults. The library opens no file: callers pass text or json_t.
 *
 * DIAGNOSTICS
 *	RULES_ERR with struct rules_error naming the member by JSON path and
 *	the reason; JSON syntax errors name "(json)" and give the line and
 *	column.
 */
#ifndef RULES_RULES_JSON_H
#define RULES_RULES_JSON_H

#include "rules/rules.h"

#include <jansson.h>

/* ---- parameters ---------------------------------------------------------- */

RULES_MUST_CHECK int rules_params_from_json(json_t *root, struct rules_params *p,
					    struct rules_error *err);
RULES_MUST_CHECK int rules_params_from_string(const char *text, size_t len, struct rules_params *p,
					      struct rules_error *err);

/* ---- guarantees -------------------------------------------------------------
 * One guarantee object of category cat, e.g. {"pct_brss": 200,
 * "non_optam_pct_brss": 180}; path names it in errors. */
RULES_MUST_CHECK int rules_json_guarantee(json_t *obj, enum rules_category cat,
					  struct rules_guarantee *g, const char *path,
					  struct rules_error *err);
/* A whole guarantees object {"CATEGORY": {...}, ...} into c->g[]; the
 * categories it does not name are left as they are. */
RULES_MUST_CHECK int rules_json_guarantees(json_t *obj, struct rules_contract *c, const char *path,
					   struct rules_error *err);
/* A contract object {"responsible": bool, "guarantees": {...}}. */
RULES_MUST_CHECK int rules_json_contract(json_t *obj, struct rules_contract *c, const char *path,
					 struct rules_error *err);

/* ---- requests and results ---------------------------------------------------- */

/* A parsed request with the storage it points into. */
struct rules_doc {
	struct rules_request req;
	struct rules_contract contract;
	struct rules_line *lines;
	struct rules_history_item *history;
	json_t *root; /* holds the strings that lines[].id and .act point to */
};

/* On RULES_OK the caller owns doc and frees it with rules_doc_free();
 * on RULES_ERR there is nothing to free. */
RULES_MUST_CHECK int rules_json_request(json_t *root, struct rules_doc *doc,
					struct rules_error *err);
void rules_doc_free(struct rules_doc *doc);

/* The result object {"lines": [...], "totals": {...}}; NULL only when
 * out of memory. */
json_t *rules_json_result(const struct rules_request *req, const struct rules_line_result *res,
			  const struct rules_totals *totals);

/* Request text to result text (indented, ending with a newline): parse,
 * check, compute, serialise. *out is malloc'ed; free() it. */
RULES_MUST_CHECK int rules_json_simulate(const struct rules_params *p, const char *text, size_t len,
					 char **out, struct rules_error *err);

/* ---- formulas -------------------------------------------------------------------- */

#define RULES_FORMULA_CODE_MAX	   64
#define RULES_FORMULA_MAX_VERSIONS 16

struct rules_formula_version {
	int32_t version; /* 0 for a document without "versions" */
	bool has_from;
	rules_date_t effective_from;
	bool has_to;
	rules_date_t effective_to; /* exclusive */
	struct rules_contract contract;
};

struct rules_formula {
	char code[RULES_FORMULA_CODE_MAX]; /* "" when the document has none */
	size_t n_versions;
	struct rules_formula_version v[RULES_FORMULA_MAX_VERSIONS];
};

/* Three shapes (docs/rules.md, "Formulas"):
 *  - a formula file of deploy/formulas/: {"code", "label", "responsible",
 *    "versions": [{"version", "effective_from", "effective_to",
 *    "guarantees"}]};
 *  - one version: {"code", "label", "responsible", "effective_from",
 *    "guarantees"};
 *  - the bare contract of a simulate request: {"responsible",
 *    "guarantees"}.
 * "responsible" defaults to true, as in a request. */
RULES_MUST_CHECK int rules_json_formula(json_t *root, struct rules_formula *f,
					struct rules_error *err);

#endif
