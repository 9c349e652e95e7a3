/*
 * NAME
 *	claimctl_simulate.c - compute a reimbursement from a JSON request
 *
 * SYNOPSIS
 *	claimctl simulate [--params FILE] < request.json > result.json
 *	claimctl simulate --help
 *
 * DESCRIPTION
 *	Reads one request of the simulate interface (docs/rules.md) on
 *	standard input, runs the rules engine and writes the result: per
 *	line the AMO, PF, franchise, AMC, forfait and reste à charge with
 *	the names of the rules that decided them, and the totals. For
 *	members' simulators, support staff and tests.
 *
 *	The dated parameters are read from --params FILE, else from the
 *	file named by CLAIMS_RULES_PARAMS, else from
 *	deploy/params/parameters.json under the current directory.
 *
 * DIAGNOSTICS
 *	Exit 0 with the result on stdout. Exit 2 on bad usage or a request
 *	that breaks the schema, with one line on stderr: the member's JSON
 *	path and the reason, e.g. "lines[0].charged_cents: must not be
 *	negative". Exit 1 when the parameters file cannot be read or is
 *	invalid, or when the result could not be written whole (a full
 *	disk, a closed pipe), said on stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claimctl/claimctl.h"
#include "common/params.h"
#include "common/util.h"
#include "rules/rules_json.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: claimctl simulate [--params FILE] < request.json\n\n"
		"Computes the reimbursement of the request on stdin (docs/rules.md) and\n"
		"writes the result JSON on stdout.\n\n"
		"  --params FILE  dated parameters [$CLAIMS_RULES_PARAMS, else " PARAMS_DEFAULT_PATH
		"]\n\n"
		"Exit 0 on success, 2 on bad usage or a request that breaks the schema\n"
		"(one line on stderr: member path and reason), 1 when the parameters\n"
		"cannot be loaded or the result could not be written whole.\n");
}

/* Sets *params_path from argv; 0, 1 for --help, -1 on bad usage. */
static int parse_args(int argc, char **argv, const char **params_path)
{
	for (int i = 1; i < argc; i++) {
		if (claimctl_is_help(argv[i]))
			return 1;
		if (strcmp(argv[i], "--params") == 0 && i + 1 < argc) {
			*params_path = argv[++i];
			continue;
		}
		fprintf(stderr, "simulate: unexpected argument '%s' (try --help)\n", argv[i]);
		return -1;
	}
	return 0;
}

static int simulate(const struct rules_params *p)
{
	struct rules_error err;
	char *text, *out;
	size_t len;
	int rc;

	if (read_stream(stdin, CLAIMCTL_MAX_INPUT, &text, &len) != OK) {
		fprintf(stderr, "stdin: %s\n", strerror(errno));
		return EXIT_USAGE;
	}
	rc = rules_json_simulate(p, text, len, &out, &err);
	free(text);
	if (rc != RULES_OK) {
		fprintf(stderr, "%s: %s\n", err.field, err.reason);
		return EXIT_USAGE;
	}
	/* A result cut short must not exit 0: a write that failed inside
	 * fputs (a full disk) leaves nothing for the flush to fail on. */
	errno = 0;
	if (fputs(out, stdout) == EOF) {
		fprintf(stderr, "claimctl simulate: standard output: %s\n",
			errno != 0 ? strerror(errno) : "write error");
		free(out);
		return 1;
	}
	free(out);
	return claimctl_stdout_written("claimctl simulate") == OK ? 0 : 1;
}

int cmd_simulate(int argc, char **argv)
{
	const char *params_path = NULL;
	struct rules_params *p;
	int rc = parse_args(argc, argv, &params_path);

	if (rc != 0) {
		if (rc > 0)
			usage(stdout);
		return rc > 0 ? 0 : EXIT_USAGE;
	}
	p = malloc(sizeof *p);
	if (p == NULL || params_load(params_path, p) != OK) {
		free(p);
		return 1;
	}
	rc = simulate(p);
	free(p);
	return rc;
}
