/*
 * NAME
 *	claimctl_formula.c - check a formula against the contrat responsable
 *
 * SYNOPSIS
 *	claimctl formula check [--params FILE] [--date YYYY-MM-DD] FILE.json
 *	claimctl formula --help
 *
 * DESCRIPTION
 *	Reads a formula (a file of deploy/formulas/, one version of it, or
 *	the bare contract object of a simulate request; docs/rules.md,
 *	"Formulas") and, when it is declared responsible, checks every
 *	version against the legal frame in force on --date when given, else
 *	on its effective_from date, else today: ticket
 *	modérateur covered, non-OPTAM limits, optics and hearing aid
 *	ceilings, forfait journalier in full. The parameters file is chosen
 *	as for simulate.
 *
 * DIAGNOSTICS
 *	Prints one line per issue on stdout, "CODE v1: CATEGORY: reason",
 *	and exits 1 when there is any; prints "CODE: compliant" (or "...:
 *	not declared responsible, nothing to check") and exits 0 otherwise.
 *	Exit 2 on bad usage or a malformed formula, with one line on stderr
 *	naming the member; exit 1 when the parameters cannot be loaded.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "claimctl/claimctl.h"
#include "common/params.h"
#include "common/util.h"
#include "rules/rules_json.h"

#define MAX_ISSUES 64

/* Shared with simulate (claimctl_simulate.c). */

struct options {
	const char *params;
	const char *file;
	bool has_date;
	rules_date_t date;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: claimctl formula check [--params FILE] [--date YYYY-MM-DD] FILE.json\n\n"
		"Checks a formula declared responsible against the contrat responsable\n"
		"frame (docs/rules.md, \"Formulas\"). Each version is judged on --date\n"
		"when given, else on its effective_from date, else today.\n\n"
		"  --params FILE  dated parameters [$CLAIMS_RULES_PARAMS, else "
		"deploy/params/parameters.json]\n"
		"  --date DAY     judge every version on this day\n\n"
		"Exit 0 compliant, 1 rejected (one reason per line on stdout),\n"
		"2 bad usage or malformed formula.\n");
}

/* 0, 1 for --help, -1 on bad usage. */
static int parse_args(int argc, char **argv, struct options *o)
{
	int i = 1;

	if (argc > 1 && claimctl_is_help(argv[1]))
		return 1;
	if (argc < 2 || strcmp(argv[1], "check") != 0) {
		fprintf(stderr, "formula: expected 'check FILE.json' (try --help)\n");
		return -1;
	}
	for (i = 2; i < argc; i++) {
		if (claimctl_is_help(argv[i]))
			return 1;
		if (strcmp(argv[i], "--params") == 0 && i + 1 < argc) {
			o->params = argv[++i];
		} else if (strcmp(argv[i], "--date") == 0 && i + 1 < argc) {
			if (rules_date_parse(argv[++i], &o->date) != RULES_OK) {
				fprintf(stderr, "formula: --date: not a date YYYY-MM-DD\n");
				return -1;
			}
			o->has_date = true;
		} else if (o->file == NULL && argv[i][0] != '-') {
			o->file = argv[i];
		} else {
			fprintf(stderr, "formula: unexpected argument '%s' (try --help)\n",
				argv[i]);
			return -1;
		}
	}
	if (o->file == NULL) {
		fprintf(stderr, "formula: check needs a FILE.json\n");
		return -1;
	}
	return 0;
}

static rules_date_t today(void)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	return rules_date_ymd(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* The formula of the file; 0, or EXIT_USAGE after one line on stderr. */
static int load_formula(const char *path, struct rules_formula *f)
{
	struct rules_error err;
	json_error_t je;
	json_t *root;
	FILE *in = fopen(path, "r");
	char *text;
	size_t len;
	int rc;

	if (in == NULL || read_stream(in, CLAIMCTL_MAX_INPUT, &text, &len) != OK) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		if (in != NULL)
			fclose(in);
		return EXIT_USAGE;
	}
	fclose(in);
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	free(text);
	if (root == NULL) {
		fprintf(stderr, "%s: (json): line %d column %d: %s\n", path, je.line, je.column,
			je.text);
		return EXIT_USAGE;
	}
	rc = rules_json_formula(root, f, &err);
	json_decref(root);
	if (rc != RULES_OK) {
		fprintf(stderr, "%s: %s: %s\n", path, err.field, err.reason);
		return EXIT_USAGE;
	}
	return 0;
}

/* "CONFORT v2", "CONFORT", or "contract" for a bare contract. */
static void version_name(const struct rules_formula *f, size_t i, char *buf, size_t size)
{
	const char *code = f->code[0] != '\0' ? f->code : "contract";

	if (f->v[i].version > 0)
		snprintf(buf, size, "%s v%d", code, (int)f->v[i].version);
	else
		snprintf(buf, size, "%s", code);
}

/* Prints the issues of version i; returns how many, or -1 on error. */
static long check_version(const struct rules_formula *f, size_t i, const struct rules_params *p,
			  const struct options *o)
{
	const struct rules_formula_version *v = &f->v[i];
	struct rules_formula_issue issues[MAX_ISSUES];
	struct rules_error err;
	rules_date_t day = o->has_date ? o->date : v->has_from ? v->effective_from : today();
	char name[96];
	size_t n;

	version_name(f, i, name, sizeof name);
	if (rules_formula_check(&v->contract, p, day, issues, MAX_ISSUES, &n, &err) != RULES_OK) {
		fprintf(stderr, "%s: %s: %s\n", name, err.field, err.reason);
		return -1;
	}
	for (size_t k = 0; k < n && k < MAX_ISSUES; k++)
		printf("%s: %s: %s\n", name,
		       issues[k].category >= 0 ? rules_category_name(issues[k].category)
					       : "formula",
		       issues[k].reason);
	if (n > MAX_ISSUES)
		printf("%s: ... and %zu more issues\n", name, n - MAX_ISSUES);
	if (n == 0)
		printf("%s: %s\n", name,
		       v->contract.responsible ? "compliant"
					       : "not declared responsible, nothing to check");
	return (long)n;
}

static int check(const struct options *o, const struct rules_params *p)
{
	struct rules_formula *f = malloc(sizeof *f);
	long total = 0;
	int rc;

	if (f == NULL) {
		fprintf(stderr, "formula: out of memory\n");
		return 1;
	}
	rc = load_formula(o->file, f);
	for (size_t i = 0; rc == 0 && i < f->n_versions; i++) {
		long n = check_version(f, i, p, o);

		if (n < 0)
			rc = EXIT_USAGE;
		total += n > 0 ? n : 0;
	}
	free(f);
	if (rc != 0)
		return rc;
	return total > 0 ? 1 : 0;
}

int cmd_formula(int argc, char **argv)
{
	struct options o = {0};
	struct rules_params *p;
	int rc = parse_args(argc, argv, &o);

	if (rc != 0) {
		if (rc > 0)
			usage(stdout);
		return rc > 0 ? 0 : EXIT_USAGE;
	}
	p = malloc(sizeof *p);
	if (p == NULL || params_load(o.params, p) != OK) {
		free(p);
		return 1;
	}
	rc = check(&o, p);
	free(p);
	return rc;
}
