/*
 * NAME
 *	claimctl_scope.c - the claims a nightly command reads
 *
 * DESCRIPTION
 *	The options and the scope line of claimctl check and claimctl
 *	duplicates (claimctl_scope.h).
 */
#include <stdio.h>
#include <string.h>

#include "claimctl/claimctl.h"
#include "claimctl/claimctl_scope.h"
#include "common/util.h"

int claimctl_scope_parse(int argc, char **argv, const char *who, struct claimctl_scope *s)
{
	int32_t day;

	s->since = s->member = s->days = NULL;
	if (argc % 2 == 0)
		return ERR;
	/* An option given twice is refused, not the last one taken. */
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--since") == 0 && s->since == NULL &&
		    date_parse(argv[i + 1], &day) == OK)
			s->since = argv[i + 1];
		else if (strcmp(argv[i], "--member") == 0 && s->member == NULL &&
			 argv[i + 1][0] != '\0')
			s->member = argv[i + 1];
		else if (strcmp(argv[i], "--days") == 0 && s->days == NULL &&
			 claimctl_number_ok(argv[i + 1], 1, 99999))
			s->days = argv[i + 1];
		else
			return ERR;
	}
	/* Both would be combined (the later of the two days): say which. */
	if (s->since != NULL && s->days != NULL) {
		fprintf(stderr, "%s: --since or --days, not both\n", who);
		return ERR;
	}
	return OK;
}

int claimctl_scope_print(struct pg *db, const struct claimctl_scope *s, int *known)
{
	const char *v[3] = {s->since, s->member, s->days};
	PGresult *res;

	*known = 1;
	if (s->member != NULL) {
		if (pg_exec_params(db, "SELECT 1 FROM members WHERE membership_number = $1", 1,
				   &v[1], &res) != OK)
			return ERR;
		*known = PQntuples(res) > 0;
		PQclear(res);
		if (!*known)
			return OK;
	}
	if (pg_exec_params(db,
			   "WITH s AS (" CLAIMCTL_SCOPE_CLAIMS ")"
			   " SELECT count(*), count(DISTINCT beneficiary_id) FROM s",
			   3, v, &res) != OK)
		return ERR;
	printf("in scope: %s claims, %s beneficiaries\n", PQgetvalue(res, 0, 0),
	       PQgetvalue(res, 0, 1));
	PQclear(res);
	return OK;
}
