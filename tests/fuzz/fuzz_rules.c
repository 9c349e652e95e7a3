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
 *	check. A crash, a sanitizer report or a broken balance
 *	(charged = amo_paid + amc + rac) aborts. The parameters are read
 *	once from deploy/params/parameters.json (or CLAIMS_RULES_PARAMS):
 *	run from the repository root.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules_json.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

/* The result of a request that was accepted must balance. */
static void check_balance(const char *out)
{
	json_t *res = json_loads(out, 0, NULL), *line;
	size_t i;

	if (res == NULL)
		abort();
	json_array_foreach (json_object_get(res, "lines"), i, line) {
		json_int_t charged = json_integer_value(json_object_get(line, "charged_cents"));
		json_int_t sum = json_integer_value(json_object_get(line, "amo_paid_cents")) +
				 json_integer_value(json_object_get(line, "amc_cents")) +
				 json_integer_value(json_object_get(line, "rac_cents"));

		if (sum != charged || json_integer_value(json_object_get(line, "amc_cents")) < 0)
			abort();
	}
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
		check_balance(out);
	else if (err.reason[0] == '\0')
		abort(); /* a refusal must say what was wrong */
	free(out);
	formula(data, size);
	return 0;
}
