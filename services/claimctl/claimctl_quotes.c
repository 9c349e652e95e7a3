/*
 * NAME
 *	claimctl_quotes.c - claimctl quotes: quotes no invoice can cite any more
 *
 * SYNOPSIS
 *	claimctl quotes purge [--days N]
 *
 * DESCRIPTION
 *	The quotes the front door gives professionals are stored so that
 *	the invoice which follows can cite them; once a quote's validity
 *	has ended, an invoice citing it is refused QUOTE_EXPIRED, and its
 *	row (the care asked for a named beneficiary) is kept only for
 *	disputes. purge deletes the quotes whose validity ended more than N
 *	days ago (default 90; 1 to 3650), made before that day.
 *
 *	The cut (that day) is recorded first, in quote_purges, with the
 *	operator (CLAIMS_OPERATOR, else USER): from then on intake answers
 *	QUOTE_EXPIRED, not QUOTE_UNKNOWN, for an invoice citing a quote
 *	made before it that is not stored. Then the quotes go, oldest
 *	first, in slices of 5,000, each in its own transaction; the walk
 *	follows the quote ids (UUID version 7: the time they were made)
 *	and stops at the cut's, so a purge reads only the quotes made
 *	before the cut. Meant for a daily cron job or CronJob; a purge
 *	stopped half way is finished by the next.
 *
 *	Settings: CLAIMS_PG_DSN, CLAIMS_OPERATOR.
 *
 * DIAGNOSTICS
 *	Exit 1 when the database failed (the cut stays recorded, the purge
 *	unfinished); 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claimctl/claimctl.h"
#include "common/pg.h"

#define PURGE_SLICE "5000"
#define PURGE_DAYS  "90"
/* 0 would purge quotes intake still honours (a quote's last day lasts
 * until it ends at UTC-12); ten years keep the cut after 1970, where
 * quote ids' time begins. */
#define PURGE_DAYS_MAX 3650

static int usage_on(FILE *out)
{
	fprintf(out, "Usage: claimctl quotes purge [--days N]   (quotes whose validity ended more"
		     " than N days ago, default " PURGE_DAYS ", 1 to 3650)\n"
		     "Settings: CLAIMS_PG_DSN, CLAIMS_OPERATOR.\n");
	return out == stdout ? 0 : EXIT_USAGE;
}

/* The cut, committed before any quote goes: an invoice citing a quote
 * deleted a moment later is then answered QUOTE_EXPIRED, never left
 * QUOTE_UNKNOWN for ever. */
static int record_cut(struct pg *db, const char *days, char *purge_id, char *cut)
{
	const char *v[2] = {days, claimctl_operator()};
	PGresult *res;

	if (pg_exec_params(db,
			   "INSERT INTO quote_purges (cut, made_by)"
			   " VALUES ((now() AT TIME ZONE 'UTC')::date - $1::int, $2)"
			   " RETURNING purge_id, cut",
			   2, v, &res) != OK)
		return ERR;
	snprintf(purge_id, 24, "%s", PQgetvalue(res, 0, 0));
	snprintf(cut, 16, "%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	return OK;
}

/* One slice, in its own transaction, walking the ids from after the
 * last slice's highest (NULL: from the start) up to the cut's. */
static int purge_slice(struct pg *db, const char *cut, char *after, long *gone)
{
	const char *v[3] = {cut, after[0] ? after : NULL, PURGE_SLICE};
	PGresult *res;

	if (pg_exec_params(
		    db,
		    "WITH gone AS (DELETE FROM quotes WHERE quote_id IN"
		    " (SELECT quote_id FROM quotes"
		    "  WHERE ($2::uuid IS NULL OR quote_id > $2::uuid)"
		    "  AND quote_id < uuid_v7_floor($1::date) AND valid_until < $1::date"
		    "  ORDER BY quote_id LIMIT $3::int) RETURNING quote_id)"
		    " SELECT count(*), (SELECT quote_id FROM gone ORDER BY quote_id DESC LIMIT 1)"
		    " FROM gone",
		    3, v, &res) != OK)
		return ERR;
	*gone = atol(PQgetvalue(res, 0, 0));
	if (!PQgetisnull(res, 0, 1))
		snprintf(after, 40, "%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	return OK;
}

static int quotes_purge(struct pg *db, const char *days)
{
	char purge_id[24], cut[16], after[40] = "", total_text[24];
	const char *v[2] = {purge_id, total_text};
	long total = 0, gone;
	PGresult *res;

	if (record_cut(db, days, purge_id, cut) != OK)
		return ERR;
	do {
		if (purge_slice(db, cut, after, &gone) != OK) {
			fprintf(stderr,
				"claimctl quotes purge: stopped after %ld quote(s); the cut %s "
				"stays"
				" recorded, the next purge finishes it\n",
				total, cut);
			return ERR;
		}
		total += gone;
	} while (gone == atol(PURGE_SLICE));
	snprintf(total_text, sizeof(total_text), "%ld", total);
	printf("%ld quote(s) purged: validity ended before %s\n", total, cut);
	if (pg_exec_params(db,
			   "UPDATE quote_purges SET finished_at = now(), quotes = $2::bigint"
			   " WHERE purge_id = $1::bigint",
			   2, v, &res) != OK) {
		fprintf(stderr,
			"claimctl quotes purge: the quotes are purged, but the purge's record"
			" (quote_purges %s) was not marked finished\n",
			purge_id);
		return ERR;
	}
	PQclear(res);
	return OK;
}

int cmd_quotes(int argc, char **argv)
{
	const char *days = PURGE_DAYS;
	struct pg *db;
	int status;

	if (claimctl_wants_help(argc, argv))
		return usage_on(stdout);
	if (argc < 2 || strcmp(argv[1], "purge") != 0)
		return usage_on(stderr);
	if (argc == 4 && strcmp(argv[2], "--days") == 0 &&
	    claimctl_number_ok(argv[3], 1, PURGE_DAYS_MAX))
		days = argv[3];
	else if (argc != 2)
		return usage_on(stderr);
	if (pg_open(claimctl_env("CLAIMS_PG_DSN", CLAIMCTL_PG_DSN), &db) != OK)
		return 1;
	status = quotes_purge(db, days);
	pg_close(db);
	return status == OK ? 0 : 1;
}
