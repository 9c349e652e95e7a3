/*
 * NAME
 *	claimctl_notifications.c - claimctl notifications: what a member was told
 *
 * SYNOPSIS
 *	claimctl notifications MEMBERSHIP_NUMBER [--limit N]
 *
 * DESCRIPTION
 *	The member's notifications as the online account shows them (the
 *	notify daemon records them: docs/protocol.md, "Notifications"),
 *	newest first, at most N (default 20, 1 to 1000): when, the
 *	template, the claim, and the params as recorded (JSON). For the
 *	member service asked "was I told?", and for checking that a member
 *	was told about a claim (`claimctl claim` lists a claim's too).
 *	Read through the index on (member_id, notification_id).
 *
 *	Settings: CLAIMS_PG_DSN.
 *
 * DIAGNOSTICS
 *	Exit 0 (also for a member told nothing yet), 1 for an unknown
 *	member or a database failure, 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claimctl/claimctl.h"
#include "common/pg.h"

#define LIMIT_DEFAULT "20"

static const char sql_member[] = "SELECT member_id FROM members WHERE membership_number = $1";

static const char sql_told[] =
	"SELECT to_char(n.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), n.template,"
	" coalesce(n.claim_id::text, '-'), n.params::text"
	" FROM notifications n WHERE n.member_id = $1::bigint"
	" ORDER BY n.created_at DESC, n.notification_id DESC LIMIT $2::int";

static int usage_on(FILE *out)
{
	fprintf(out, "Usage: claimctl notifications MEMBERSHIP_NUMBER [--limit N]   (newest first,"
		     " default " LIMIT_DEFAULT ", 1 to 1000)\n"
		     "Settings: CLAIMS_PG_DSN.\n");
	return out == stdout ? 0 : EXIT_USAGE;
}

static int print_told(struct pg *db, const char *number, const char *limit)
{
	const char *v[2] = {number, limit};
	PGresult *member, *told;
	int rows;

	if (pg_exec_params(db, sql_member, 1, v, &member) != OK)
		return 1;
	if (PQntuples(member) == 0) {
		fprintf(stderr, "claimctl notifications: no member %s\n", number);
		PQclear(member);
		return 1;
	}
	v[0] = PQgetvalue(member, 0, 0);
	if (pg_exec_params(db, sql_told, 2, v, &told) != OK) {
		PQclear(member);
		return 1;
	}
	printf("member %s (member id %s)\n", number, PQgetvalue(member, 0, 0));
	rows = PQntuples(told);
	for (int i = 0; i < rows; i++)
		printf("%s UTC  %-22s  claim %s  %s\n", PQgetvalue(told, i, 0),
		       PQgetvalue(told, i, 1), PQgetvalue(told, i, 2), PQgetvalue(told, i, 3));
	printf("%d notification%s\n", rows, rows == 1 ? "" : "s");
	PQclear(told);
	PQclear(member);
	return claimctl_stdout_written("claimctl notifications") == OK ? 0 : 1;
}

int cmd_notifications(int argc, char **argv)
{
	const char *number = NULL, *limit = LIMIT_DEFAULT;
	struct pg *db;
	int status;

	if (claimctl_wants_help(argc, argv))
		return usage_on(stdout);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc)
			limit = argv[++i];
		else if (argv[i][0] != '-' && number == NULL)
			number = argv[i];
		else
			return usage_on(stderr);
	}
	if (number == NULL || !claimctl_number_ok(limit, 1, 1000))
		return usage_on(stderr);
	if (pg_open(claimctl_env("CLAIMS_PG_DSN", CLAIMCTL_PG_DSN), &db) != OK)
		return 1;
	status = print_told(db, number, limit);
	pg_close(db);
	return status;
}
