/*
 * NAME
 *	rules_json.c - simulate requests, guarantees and results in JSON
 *
 * SYNOPSIS
 *	rules_json_request(), rules_doc_free(), rules_json_result(),
 *	rules_json_simulate(), rules_json_guarantee(),
 *	rules_json_guarantees(), rules_json_contract()
 *
 * DESCRIPTION
 *	The JSON face of the engine (domain reference section 4). Parsing is
 *	strict (see rules_jsonutil.c) and names the faulty member by its
 *	JSON path; values are then checked once more by
 *	rules_request_check(), the same checks the reimbursement daemon's
 *	C requests meet. Guarantees are read by the same code whether they
 *	come from a request's contract.guarantees or from a formula stored
 *	in PostgreSQL.
 *
 * DIAGNOSTICS
 *	"lines[0].charged_cents: must not be negative",
 *	"contract.guarantees.FOO: unknown category",
 *	"lines[2].lenses[1]: unknown lens type", "(json): line 3 ...".
 */
#include "rules/rules_internal.h"
#include "rules/rules_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_MAX 64

/* ---- guarantees ------------------------------------------------------------ */

static const char *const form_keys[] = {"pct_brss", "frais_reels", "per_act_cents",
					"equipment_cents"};

/* The one member that gives the guarantee its form, or none. */
static int guarantee_form(json_t *obj, const char *path, enum rules_form *form,
			  struct rules_error *err)
{
	static const enum rules_form forms[] = {RULES_FORM_PCT, RULES_FORM_FRAIS_REELS,
						RULES_FORM_PER_ACT, RULES_FORM_EQUIPMENT};
	const char *found = NULL;

	*form = RULES_FORM_NONE;
	for (size_t i = 0; i < 4; i++) {
		if (json_object_get(obj, form_keys[i]) == NULL)
			continue;
		if (found != NULL)
			return rules_error_at(err, path, form_keys[i],
					      "a guarantee has one form; %s is already given",
					      found);
		found = form_keys[i];
		*form = forms[i];
	}
	if (found == NULL && json_object_get(obj, "annual_cents") == NULL)
		return rules_error_at(err, path, NULL,
				      "needs pct_brss, frais_reels, per_act_cents, "
				      "equipment_cents or annual_cents");
	return RULES_OK;
}

static int opt_int(json_t *obj, const char *key, const char *path, int64_t max, unsigned flag,
		   unsigned *has, int64_t *out, struct rules_error *err)
{
	bool present;

	if (rules_json_int(obj, key, path, 0, max, out, &present, err) != RULES_OK)
		return RULES_ERR;
	if (present)
		*has |= flag;
	return RULES_OK;
}

static int guarantee_form_values(json_t *obj, const char *path, struct rules_guarantee *g,
				 struct rules_error *err)
{
	int64_t v = 0;
	bool fr = false;

	switch (g->form) {
	case RULES_FORM_PCT:
		if (rules_json_int(obj, "pct_brss", path, 0, RULES_MAX_PCT, &v, NULL, err) !=
		    RULES_OK)
			return RULES_ERR;
		g->pct_brss = (int32_t)v;
		break;
	case RULES_FORM_FRAIS_REELS:
		if (rules_json_bool(obj, "frais_reels", path, &fr, NULL, err) != RULES_OK)
			return RULES_ERR;
		if (!fr)
			return rules_error_at(err, path, "frais_reels",
					      "must be true (leave it out otherwise)");
		break;
	case RULES_FORM_PER_ACT:
		return rules_json_int(obj, "per_act_cents", path, 0, RULES_MAX_CENTS,
				      &g->per_act_cents, NULL, err);
	case RULES_FORM_EQUIPMENT:
		return rules_json_int(obj, "equipment_cents", path, 0, RULES_MAX_CENTS,
				      &g->equipment_cents, NULL, err);
	case RULES_FORM_NONE:
		break;
	}
	return RULES_OK;
}

static int guarantee_options(json_t *obj, const char *path, struct rules_guarantee *g,
			     struct rules_error *err)
{
	int64_t v = 0;

	if (opt_int(obj, "non_optam_pct_brss", path, RULES_MAX_PCT, RULES_G_NON_OPTAM, &g->has, &v,
		    err) != RULES_OK)
		return RULES_ERR;
	g->non_optam_pct_brss = (int32_t)v;
	if (opt_int(obj, "max_acts_per_year", path, RULES_MAX_QUANTITY, RULES_G_MAX_ACTS, &g->has,
		    &v, err) != RULES_OK)
		return RULES_ERR;
	g->max_acts_per_year = (int32_t)v;
	if (opt_int(obj, "renewal_months", path, RULES_MAX_RENEWAL_MONTHS, RULES_G_RENEWAL, &g->has,
		    &v, err) != RULES_OK)
		return RULES_ERR;
	g->renewal_months = (int32_t)v;
	if (opt_int(obj, "annual_cents", path, RULES_MAX_CENTS, RULES_G_ANNUAL, &g->has,
		    &g->annual_cents, err) != RULES_OK ||
	    opt_int(obj, "annual_cap_cents", path, RULES_MAX_CENTS, RULES_G_ANNUAL_CAP, &g->has,
		    &g->annual_cap_cents, err) != RULES_OK)
		return RULES_ERR;
	return RULES_OK;
}

int rules_json_guarantee(json_t *obj, enum rules_category cat, struct rules_guarantee *g,
			 const char *path, struct rules_error *err)
{
	static const char *const keys[] = {
		"pct_brss",	     "non_optam_pct_brss",
		"frais_reels",	     "per_act_cents",
		"max_acts_per_year", "equipment_cents",
		"renewal_months",    "annual_cents",
		"annual_cap_cents",  NULL,
	};

	memset(g, 0, sizeof *g);
	if (rules_json_object(obj, path, err) != RULES_OK ||
	    rules_json_only(obj, keys, path, err) != RULES_OK ||
	    guarantee_form(obj, path, &g->form, err) != RULES_OK ||
	    guarantee_form_values(obj, path, g, err) != RULES_OK ||
	    guarantee_options(obj, path, g, err) != RULES_OK)
		return RULES_ERR;
	return rules_guarantee_check(cat, g, path, err);
}

int rules_json_guarantees(json_t *obj, struct rules_contract *c, const char *path,
			  struct rules_error *err)
{
	const char *key;
	json_t *v;
	char sub[96];

	if (rules_json_object(obj, path, err) != RULES_OK)
		return RULES_ERR;
	json_object_foreach (obj, key, v) {
		enum rules_category cat;

		if (rules_category_parse(key, &cat) != RULES_OK)
			return rules_error_at(err, path, key, "unknown category");
		snprintf(sub, sizeof sub, "%s.%s", path, key);
		if (rules_json_guarantee(v, cat, &c->g[cat], sub, err) != RULES_OK)
			return RULES_ERR;
	}
	return RULES_OK;
}

int rules_json_contract(json_t *obj, struct rules_contract *c, const char *path,
			struct rules_error *err)
{
	static const char *const keys[] = {"responsible", "guarantees", NULL};
	bool responsible = true, present;
	json_t *g;
	char sub[96];

	if (rules_json_object(obj, path, err) != RULES_OK ||
	    rules_json_only(obj, keys, path, err) != RULES_OK ||
	    rules_json_bool(obj, "responsible", path, &responsible, &present, err) != RULES_OK)
		return RULES_ERR;
	rules_contract_init(c, responsible);
	g = json_object_get(obj, "guarantees");
	if (g == NULL)
		return rules_error_at(err, path, "guarantees", "missing");
	snprintf(sub, sizeof sub, "%s%sguarantees", path != NULL ? path : "",
		 path != NULL && path[0] != '\0' ? "." : "");
	return rules_json_guarantees(g, c, sub, err);
}

/* ---- beneficiary and history -------------------------------------------------- */

static int read_exempt(json_t *obj, struct rules_beneficiary *b, struct rules_error *err)
{
	json_t *arr = json_object_get(obj, "exempt"), *v;
	size_t i;
	char path[48];

	if (arr == NULL)
		return RULES_OK;
	if (!json_is_array(arr))
		return rules_error_at(err, "beneficiary", "exempt", "must be an array");
	json_array_foreach (arr, i, v) {
		unsigned flag;

		snprintf(path, sizeof path, "beneficiary.exempt[%zu]", i);
		if (!json_is_string(v) ||
		    rules_exempt_parse(json_string_value(v), &flag) != RULES_OK)
			return rules_error_at(err, path, NULL, "must be C2S or MATERNITY");
		b->exempt |= flag;
	}
	return RULES_OK;
}

static int read_beneficiary(json_t *root, struct rules_beneficiary *b, struct rules_error *err)
{
	static const char *const keys[] = {"birth_date", "exempt", NULL};
	json_t *obj = json_object_get(root, "beneficiary");

	if (obj == NULL)
		return rules_error_at(err, "beneficiary", NULL, "missing");
	if (rules_json_object(obj, "beneficiary", err) != RULES_OK ||
	    rules_json_only(obj, keys, "beneficiary", err) != RULES_OK ||
	    rules_json_date(obj, "birth_date", "beneficiary", &b->birth_date, NULL, err) !=
		    RULES_OK)
		return RULES_ERR;
	return read_exempt(obj, b, err);
}

static int read_category(json_t *obj, const char *path, enum rules_category *cat,
			 struct rules_error *err)
{
	const char *s;

	if (rules_json_string(obj, "category", path, 64, &s, NULL, err) != RULES_OK)
		return RULES_ERR;
	if (rules_category_parse(s, cat) != RULES_OK)
		return rules_error_at(err, path, "category", "unknown category");
	return RULES_OK;
}

static int read_quantity(json_t *obj, const char *path, int32_t *q, struct rules_error *err)
{
	int64_t v = 1;
	bool present;

	if (rules_json_int(obj, "quantity", path, 1, RULES_MAX_QUANTITY, &v, &present, err) !=
	    RULES_OK)
		return RULES_ERR;
	*q = (int32_t)v;
	return RULES_OK;
}

static int read_history_amounts(json_t *obj, const char *path, struct rules_history_item *h,
				struct rules_error *err)
{
	bool present;

	if (rules_json_int(obj, "pf_cents", path, 0, RULES_MAX_CENTS, &h->pf_cents, &present,
			   err) != RULES_OK ||
	    rules_json_int(obj, "franchise_cents", path, 0, RULES_MAX_CENTS, &h->franchise_cents,
			   &present, err) != RULES_OK ||
	    rules_json_int(obj, "amc_cents", path, 0, RULES_MAX_CENTS, &h->amc_cents, &present,
			   err) != RULES_OK ||
	    rules_json_int(obj, "forfait_cents", path, 0, RULES_MAX_CENTS, &h->forfait_cents,
			   &present, err) != RULES_OK)
		return RULES_ERR;
	return RULES_OK;
}

static int read_history_item(json_t *obj, const char *path, struct rules_history_item *h,
			     struct rules_error *err)
{
	static const char *const keys[] = {
		"date",	     "category",      "pf_cents", "franchise_cents",
		"amc_cents", "forfait_cents", "quantity", "equipment",
		NULL,
	};
	bool present;

	rules_history_init(h);
	if (rules_json_object(obj, path, err) != RULES_OK ||
	    rules_json_only(obj, keys, path, err) != RULES_OK ||
	    rules_json_date(obj, "date", path, &h->date, NULL, err) != RULES_OK ||
	    read_category(obj, path, &h->category, err) != RULES_OK ||
	    read_history_amounts(obj, path, h, err) != RULES_OK ||
	    read_quantity(obj, path, &h->quantity, err) != RULES_OK ||
	    rules_json_bool(obj, "equipment", path, &h->equipment, &present, err) != RULES_OK)
		return RULES_ERR;
	if (!present)
		h->equipment = rules_history_equipment_default(h->category, h->amc_cents);
	return RULES_OK;
}

/* An optional array; *n is 0 when absent. */
static int read_list(json_t *root, const char *name, size_t max, bool required, json_t **arr,
		     struct rules_error *err)
{
	*arr = json_object_get(root, name);
	if (*arr == NULL)
		return required ? rules_error_at(err, name, NULL, "missing") : RULES_OK;
	if (!json_is_array(*arr))
		return rules_error_at(err, name, NULL, "must be an array");
	if (json_array_size(*arr) > max)
		return rules_error_at(err, name, NULL, "more than %zu items", max);
	return RULES_OK;
}

static int read_history(json_t *root, struct rules_doc *doc, struct rules_error *err)
{
	json_t *arr, *v;
	size_t i;
	char path[32];

	if (read_list(root, "history", RULES_MAX_HISTORY, false, &arr, err) != RULES_OK)
		return RULES_ERR;
	if (arr == NULL || json_array_size(arr) == 0)
		return RULES_OK;
	doc->history = calloc(json_array_size(arr), sizeof *doc->history);
	if (doc->history == NULL)
		return rules_error_at(err, "history", NULL, "out of memory");
	json_array_foreach (arr, i, v) {
		snprintf(path, sizeof path, "history[%zu]", i);
		if (read_history_item(v, path, &doc->history[i], err) != RULES_OK)
			return RULES_ERR;
	}
	doc->req.history = doc->history;
	doc->req.n_history = json_array_size(arr);
	return RULES_OK;
}

/* ---- lines ---------------------------------------------------------------- */

static int read_lenses(json_t *obj, const char *path, struct rules_line *l, struct rules_error *err)
{
	json_t *arr = json_object_get(obj, "lenses");
	char sub[48];

	if (arr == NULL)
		return RULES_OK;
	if (!json_is_array(arr) || json_array_size(arr) != 2)
		return rules_error_at(err, path, "lenses", "must be an array of two lenses");
	for (size_t i = 0; i < 2; i++) {
		json_t *v = json_array_get(arr, i);

		snprintf(sub, sizeof sub, "%s.lenses[%zu]", path, i);
		if (!json_is_string(v) ||
		    rules_lens_parse(json_string_value(v), &l->lenses[i]) != RULES_OK)
			return rules_error_at(err, sub, NULL,
					      "unknown lens type (simple, complex, very_complex)");
	}
	return RULES_OK;
}

static int read_basket(json_t *obj, const char *path, struct rules_line *l, struct rules_error *err)
{
	const char *s;
	bool present;

	if (rules_json_string(obj, "basket", path, 16, &s, &present, err) != RULES_OK)
		return RULES_ERR;
	if (present && rules_basket_parse(s, &l->basket) != RULES_OK)
		return rules_error_at(err, path, "basket",
				      "unknown basket (100PS, MAITRISE, LIBRE)");
	return RULES_OK;
}

static int read_line_amounts(json_t *obj, const char *path, struct rules_line *l,
			     struct rules_error *err)
{
	int64_t rate = 0;
	bool present;

	if (rules_json_int(obj, "charged_cents", path, 0, RULES_MAX_CENTS, &l->charged_cents, NULL,
			   err) != RULES_OK ||
	    rules_json_int(obj, "brss_cents", path, 0, RULES_MAX_CENTS, &l->brss_cents, &present,
			   err) != RULES_OK)
		return RULES_ERR;
	if (present)
		l->given |= RULES_GIVEN_BRSS;
	if (rules_json_int(obj, "amo_rate", path, 0, 100, &rate, &present, err) != RULES_OK)
		return RULES_ERR;
	l->amo_rate = (int32_t)rate;
	if (present)
		l->given |= RULES_GIVEN_AMO_RATE;
	if (rules_json_int(obj, "price_limit_cents", path, 0, RULES_MAX_CENTS,
			   &l->price_limit_cents, &present, err) != RULES_OK)
		return RULES_ERR;
	if (present)
		l->given |= RULES_GIVEN_PRICE_LIMIT;
	return rules_json_int(obj, "frame_charged_cents", path, 0, RULES_MAX_CENTS,
			      &l->frame_charged_cents, &present, err);
}

static int read_line_flags(json_t *obj, const char *path, struct rules_line *l,
			   struct rules_error *err)
{
	bool present;

	if (rules_json_bool(obj, "optam", path, &l->optam, &present, err) != RULES_OK ||
	    rules_json_bool(obj, "parcours", path, &l->parcours, &present, err) != RULES_OK ||
	    rules_json_string(obj, "act", path, RULES_ACT_CODE_MAX - 1, &l->act, &present, err) !=
		    RULES_OK)
		return RULES_ERR;
	return RULES_OK;
}

static int read_line(json_t *obj, const char *path, struct rules_line *l, struct rules_error *err)
{
	static const char *const keys[] = {
		"id",
		"date",
		"category",
		"charged_cents",
		"brss_cents",
		"amo_rate",
		"quantity",
		"optam",
		"parcours",
		"basket",
		"price_limit_cents",
		"lenses",
		"frame_charged_cents",
		"act",
		NULL,
	};

	rules_line_init(l);
	if (rules_json_object(obj, path, err) != RULES_OK ||
	    rules_json_only(obj, keys, path, err) != RULES_OK ||
	    rules_json_string(obj, "id", path, ID_MAX, &l->id, NULL, err) != RULES_OK ||
	    rules_json_date(obj, "date", path, &l->date, NULL, err) != RULES_OK ||
	    read_category(obj, path, &l->category, err) != RULES_OK ||
	    read_line_amounts(obj, path, l, err) != RULES_OK ||
	    read_quantity(obj, path, &l->quantity, err) != RULES_OK ||
	    read_line_flags(obj, path, l, err) != RULES_OK ||
	    read_basket(obj, path, l, err) != RULES_OK)
		return RULES_ERR;
	return read_lenses(obj, path, l, err);
}

/* Line ids are the unique keys of decisions: refuse duplicates. */
static int unique_id(json_t *seen, const struct rules_line *l, size_t i, struct rules_error *err)
{
	json_t *prev = json_object_get(seen, l->id);
	char path[32];

	if (prev != NULL) {
		snprintf(path, sizeof path, "lines[%zu]", i);
		return rules_error_at(err, path, "id", "same id as lines[%lld]",
				      (long long)json_integer_value(prev));
	}
	if (json_object_set_new(seen, l->id, json_integer((json_int_t)i)) != 0)
		return rules_error_at(err, "lines", NULL, "out of memory");
	return RULES_OK;
}

static int read_lines_into(json_t *arr, struct rules_doc *doc, json_t *seen,
			   struct rules_error *err)
{
	json_t *v;
	size_t i;
	char path[32];

	json_array_foreach (arr, i, v) {
		snprintf(path, sizeof path, "lines[%zu]", i);
		if (read_line(v, path, &doc->lines[i], err) != RULES_OK ||
		    unique_id(seen, &doc->lines[i], i, err) != RULES_OK)
			return RULES_ERR;
	}
	return RULES_OK;
}

static int read_lines(json_t *root, struct rules_doc *doc, struct rules_error *err)
{
	json_t *arr, *seen;
	int rc;

	if (read_list(root, "lines", RULES_MAX_LINES, true, &arr, err) != RULES_OK)
		return RULES_ERR;
	if (json_array_size(arr) == 0)
		return rules_error_at(err, "lines", NULL, "must hold at least one line");
	doc->lines = calloc(json_array_size(arr), sizeof *doc->lines);
	seen = json_object();
	if (doc->lines == NULL || seen == NULL) {
		json_decref(seen);
		return rules_error_at(err, "lines", NULL, "out of memory");
	}
	rc = read_lines_into(arr, doc, seen, err);
	json_decref(seen);
	doc->req.lines = doc->lines;
	doc->req.n_lines = json_array_size(arr);
	return rc;
}

/* ---- the request -------------------------------------------------------------- */

static int read_request(json_t *root, struct rules_doc *doc, struct rules_error *err)
{
	static const char *const keys[] = {"beneficiary", "contract", "history", "lines", NULL};
	json_t *contract;

	if (rules_json_object(root, "(request)", err) != RULES_OK ||
	    rules_json_only(root, keys, NULL, err) != RULES_OK ||
	    read_beneficiary(root, &doc->req.beneficiary, err) != RULES_OK)
		return RULES_ERR;
	contract = json_object_get(root, "contract");
	if (contract == NULL)
		return rules_error_at(err, "contract", NULL, "missing");
	if (rules_json_contract(contract, &doc->contract, "contract", err) != RULES_OK ||
	    read_history(root, doc, err) != RULES_OK || read_lines(root, doc, err) != RULES_OK)
		return RULES_ERR;
	return rules_request_check(&doc->req, err);
}

void rules_doc_free(struct rules_doc *doc)
{
	free(doc->lines);
	free(doc->history);
	json_decref(doc->root);
	memset(doc, 0, sizeof *doc);
}

int rules_json_request(json_t *root, struct rules_doc *doc, struct rules_error *err)
{
	memset(doc, 0, sizeof *doc);
	doc->req.contract = &doc->contract;
	doc->root = json_incref(root);
	if (read_request(root, doc, err) != RULES_OK) {
		rules_doc_free(doc);
		return RULES_ERR;
	}
	return RULES_OK;
}

/* ---- results ------------------------------------------------------------------ */

static int set_int(json_t *obj, const char *key, int64_t v)
{
	return json_object_set_new(obj, key, json_integer((json_int_t)v));
}

static json_t *rule_names(const struct rules_line_result *r)
{
	json_t *arr = json_array();

	for (int i = 0; arr != NULL && i < r->n_rules; i++)
		if (json_array_append_new(arr, json_string(rules_rule_name(r->rules[i]))) != 0) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

static json_t *line_json(const struct rules_line *l, const struct rules_line_result *r)
{
	json_t *o = json_object();
	int bad = o == NULL;

	bad = bad || json_object_set_new(o, "id", json_string(l->id != NULL ? l->id : "")) != 0;
	bad = bad || set_int(o, "charged_cents", r->charged_cents) != 0;
	bad = bad || set_int(o, "brss_cents", r->brss_cents) != 0;
	bad = bad || set_int(o, "amo_rate", r->amo_rate) != 0;
	bad = bad || set_int(o, "amo_gross_cents", r->amo_gross_cents) != 0;
	bad = bad || set_int(o, "pf_cents", r->pf_cents) != 0;
	bad = bad || set_int(o, "franchise_cents", r->franchise_cents) != 0;
	bad = bad || set_int(o, "amo_paid_cents", r->amo_paid_cents) != 0;
	bad = bad || set_int(o, "amc_cents", r->amc_cents) != 0;
	bad = bad || set_int(o, "forfait_cents", r->forfait_cents) != 0;
	bad = bad || set_int(o, "rac_cents", r->rac_cents) != 0;
	bad = bad || json_object_set_new(o, "rules", rule_names(r)) != 0;
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *totals_json(const struct rules_totals *t)
{
	json_t *o = json_object();

	if (o == NULL || set_int(o, "charged_cents", t->charged_cents) != 0 ||
	    set_int(o, "amo_paid_cents", t->amo_paid_cents) != 0 ||
	    set_int(o, "amc_cents", t->amc_cents) != 0 ||
	    set_int(o, "rac_cents", t->rac_cents) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *rules_json_result(const struct rules_request *req, const struct rules_line_result *res,
			  const struct rules_totals *totals)
{
	json_t *root = json_object(), *lines = json_array();

	if (root == NULL || lines == NULL ||
	    json_object_set_new(root, "lines", json_incref(lines)) != 0)
		goto fail;
	for (size_t i = 0; i < req->n_lines; i++)
		if (json_array_append_new(lines, line_json(&req->lines[i], &res[i])) != 0)
			goto fail;
	if (json_object_set_new(root, "totals", totals_json(totals)) != 0)
		goto fail;
	json_decref(lines);
	return root;
fail:
	json_decref(lines);
	json_decref(root);
	return NULL;
}

/* ---- text to text ---------------------------------------------------------- */

static int dump(json_t *result, char **out, struct rules_error *err)
{
	char *text = json_dumps(result, JSON_INDENT(2));
	size_t len;

	if (text == NULL)
		return rules_error_at(err, "(result)", NULL, "out of memory");
	len = strlen(text);
	*out = realloc(text, len + 2);
	if (*out == NULL) {
		free(text);
		return rules_error_at(err, "(result)", NULL, "out of memory");
	}
	(*out)[len] = '\n';
	(*out)[len + 1] = '\0';
	return RULES_OK;
}

static int simulate_doc(const struct rules_params *p, struct rules_doc *doc, char **out,
			struct rules_error *err)
{
	struct rules_line_result *res = calloc(doc->req.n_lines, sizeof *res);
	struct rules_totals totals;
	json_t *result = NULL;
	int rc = RULES_ERR;

	if (res == NULL)
		return rules_error_at(err, "lines", NULL, "out of memory");
	if (rules_compute(p, &doc->req, res, &totals, err) != RULES_OK)
		goto done;
	result = rules_json_result(&doc->req, res, &totals);
	if (result == NULL) {
		rules_error_at(err, "(result)", NULL, "out of memory");
		goto done;
	}
	rc = dump(result, out, err);
done:
	json_decref(result);
	free(res);
	return rc;
}

int rules_json_simulate(const struct rules_params *p, const char *text, size_t len, char **out,
			struct rules_error *err)
{
	json_error_t je;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	struct rules_doc doc;
	int rc;

	*out = NULL;
	if (root == NULL)
		return rules_error_at(err, "(json)", NULL, "line %d column %d: %s", je.line,
				      je.column, je.text);
	rc = rules_json_request(root, &doc, err);
	json_decref(root);
	if (rc != RULES_OK)
		return RULES_ERR;
	rc = simulate_doc(p, &doc, out, err);
	rules_doc_free(&doc);
	return rc;
}
