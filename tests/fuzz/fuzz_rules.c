/*
 * NAME
 *	fuzz_rules.c - libFuzzer target of the rules engine's JSON faces
 *
 * SYNOPSIS
 *	tests/fuzz/run.sh        (builds with clang -fsanitize=fuzzer,...)
 *
 * DESCRIPTION
 *	Feeds arbitrary bytes to what reads untrusted JSON: the simulate
 *	request parser, the engine and the result serialiser (the path of
 *	claimctl simulate), and the formula reader and contrat responsable
 *	check. A crash, a sanitizer report or a broken result (a line
 *	missing, charged != amo_paid + amc + rac, totals that are not the
 *	lines' sums) aborts. The parameters are read once from
 *	deploy/params/parameters.json (or CLAIMS_RULES_PARAMS): run from
 *	the repository root.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules_json.h"

#include "fuzz_target.h"

static struct rules_params params;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *path = getenv("CLAIMS_RULES_PARAMS");
	json_error_t je;
	json_t *root;
	struct rules_error err;

	(void)argc;
	(void)argv;
	root = json_load_file(path != NULL ? path : "deploy/params/parameters.json", 0, &je);
	if (root == NULL || rules_params_from_json(root, &params, &err) != RULES_OK) {
		fprintf(stderr,
			"fuzz_rules: cannot load the parameters (run from the repo root)\n");
		abort();
	}
	json_decref(root);
	return 0;
}

/* A member of the result that must be there, as an integer. */
static json_int_t amount(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		abort();
	return json_integer_value(v);
}

/* The result of a request that was accepted: one line for each line of
 * the request (a result without its lines would balance vacuously), each
 * balanced (charged = amo_paid + amc + rac, amc not below 0), and totals
 * that add the lines up. */
static void check_result(const uint8_t *data, size_t size, const char *out)
{
	/* Read as rules_json_simulate() read it: accepted, so an object
	 * with at least one line. */
	json_t *req = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	json_t *res = out != NULL ? json_loads(out, 0, NULL) : NULL, *lines, *line, *totals;
	json_int_t charged = 0, amo_paid = 0, amc = 0, rac = 0;
	size_t i;

	if (req == NULL || res == NULL)
		abort();
	lines = json_object_get(res, "lines");
	if (!json_is_array(lines) || json_array_size(lines) == 0 ||
	    json_array_size(lines) != json_array_size(json_object_get(req, "lines")))
		abort();
	json_array_foreach (lines, i, line) {
		json_int_t c = amount(line, "charged_cents"), p = amount(line, "amo_paid_cents"),
			   m = amount(line, "amc_cents"), r = amount(line, "rac_cents");

		if (c != p + m + r || m < 0)
			abort();
		charged += c;
		amo_paid += p;
		amc += m;
		rac += r;
	}
	totals = json_object_get(res, "totals");
	if (amount(totals, "charged_cents") != charged ||
	    amount(totals, "amo_paid_cents") != amo_paid || amount(totals, "amc_cents") != amc ||
	    amount(totals, "rac_cents") != rac)
		abort();
	json_decref(req);
	json_decref(res);
}

static void formula(const uint8_t *data, size_t size)
{
	static struct rules_formula f;
	struct rules_formula_issue issues[8];
	struct rules_error err;
	json_t *root = json_loadb((const char *)data, size, 0, NULL);
	size_t n;

	if (root == NULL)
		return;
	if (rules_json_formula(root, &f, &err) == RULES_OK) {
		for (size_t i = 0; i < f.n_versions; i++)
			if (rules_formula_check(&f.v[i].contract, &params, 20260101, issues, 8, &n,
						&err) != RULES_OK)
				abort();
	}
	json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rules_error err = {"", "", -1};
	char *out = NULL;

	if (rules_json_simulate(&params, (const char *)data, size, &out, &err) == RULES_OK)
		check_result(data, size, out);
	else if (err.reason[0] == '\0')
		abort(); /* a refusal must say what was wrong */
	free(out);
	formula(data, size);
	return 0;
}
