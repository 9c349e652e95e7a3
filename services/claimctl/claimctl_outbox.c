/*
 * NAME
 *	claimctl_outbox.c - claimctl outbox: the events Kafka refused
 *
 * SYNOPSIS
 *	claimctl outbox refused [--limit N]
 *	claimctl outbox retry EVENT_ID... | --all
 *	claimctl outbox purge [--days N]
 *
 * DESCRIPTION
 *	The relay sets aside an event Kafka can never take as it is (larger
 *	than the topic allows, a topic that does not exist), with the
 *	reason, so that the events behind it keep flowing; the metric
 *	outbox_refused_total counts them and the daemon logs each one.
 *
 *	refused lists them, oldest first: event id, topic, key, size in
 *	bytes, when, why; then "N refused", N counting them all (--limit
 *	cuts the list, not the count: --limit 0 counts only). retry puts
 *	them back in the relay's queue, once the cause is fixed (the topic
 *	created, its size limit raised); one refused again comes back to
 *	this list. An id named twice is one id.
 *
 *	purge deletes the events written more than N days ago (default 7)
 *	and published since, oldest first, in slices of 5,000, each in its
 *	own transaction so that the relays never wait long behind it. Kafka
 *	keeps the events; the rows are only the relay's memory, and without
 *	a purge the table grows with every claim. Unsent and refused events
 *	are never purged. Meant for a daily cron job or CronJob.
 *
 *	Settings: CLAIMS_PG_DSN.
 *
 * DIAGNOSTICS
 *	Exit 1 when the database failed, or (retry) when an id named was not
 *	a refused event (how many is said on stderr; the others are put
 *	back); 2 on bad usage. refused says on stderr when --limit cut the
 *	list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claimctl/claimctl.h"
#include "common/pg.h"
#include "common/pgarray.h"
#include "common/xalloc.h"

static int usage_on(FILE *out)
{
	fprintf(out, "Usage: claimctl outbox refused [--limit N]\n"
		     "       claimctl outbox retry EVENT_ID... | --all\n"
		     "       claimctl outbox purge [--days N]   (events written more than N days"
		     " ago and sent since, default 7)\n"
		     "Settings: CLAIMS_PG_DSN.\n");
	return out == stdout ? 0 : EXIT_USAGE;
}

static int usage(void)
{
	return usage_on(stderr);
}

static int digits(const char *s)
{
	return s[0] != '\0' && strspn(s, "0123456789") == strlen(s) && strlen(s) < 19;
}

static int outbox_refused(struct pg *db, const char *limit)
{
	const char *v[1] = {limit};
	PGresult *res;
	long total;
	int listed = 0;

	/* The count of them all, in a row of its own joined to those
	 * listed: a list cut by the limit says so, and --limit 0 (no row
	 * listed) still counts them. */
	if (pg_exec_params(
		    db,
		    "SELECT l.event_id, l.topic, l.key, l.size, l.refused_at, l.refusal, t.total"
		    " FROM (SELECT count(*) AS total FROM outbox WHERE refused_at IS NOT NULL) t"
		    " LEFT JOIN LATERAL (SELECT event_id, topic, key,"
		    "  octet_length(payload) AS size, refused_at, refusal"
		    "  FROM outbox WHERE refused_at IS NOT NULL"
		    "  ORDER BY event_id LIMIT $1::bigint) l ON true"
		    " ORDER BY l.event_id",
		    1, v, &res) != OK)
		return ERR;
	for (int r = 0; r < PQntuples(res); r++) {
		if (PQgetisnull(res, r, 0))
			continue; /* none listed: the count's row alone */
		printf("%s %s key=%s %s bytes refused %s: %s\n", PQgetvalue(res, r, 0),
		       PQgetvalue(res, r, 1), PQgetvalue(res, r, 2), PQgetvalue(res, r, 3),
		       PQgetvalue(res, r, 4), PQgetvalue(res, r, 5));
		listed++;
	}
	total = PQntuples(res) > 0 ? strtol(PQgetvalue(res, 0, 6), NULL, 10) : 0;
	printf("%ld refused\n", total);
	if (total > listed)
		fprintf(stderr,
			"claimctl outbox refused: %ld refused in all, the first %d listed"
			" (--limit)\n",
			total, listed);
	PQclear(res);
	return OK;
}

static int by_value(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

/* The ids named, each once (7 and 007 are one event): an id given twice
 * is put back once, and must count once against what was put back. */
static int distinct_ids(char **ids, int n, long long *out)
{
	int kept = 0;

	for (int i = 0; i < n; i++)
		out[i] = strtoll(ids[i], NULL, 10);
	qsort(out, (size_t)n, sizeof(*out), by_value);
	for (int i = 0; i < n; i++)
		if (kept == 0 || out[kept - 1] != out[i])
			out[kept++] = out[i];
	return kept;
}

static int outbox_retry(struct pg *db, int all, char **ids, int n)
{
	long long *distinct = xcalloc((size_t)n + 1, sizeof(*distinct));
	struct pgarray list;
	const char *v[2];
	PGresult *res;
	int status;

	n = distinct_ids(ids, n, distinct);
	pgarray_init(&list);
	for (int i = 0; i < n; i++)
		pgarray_int(&list, distinct[i]);
	free(distinct);
	v[0] = pgarray_finish(&list);
	v[1] = all ? "t" : "f";
	/* A trigger of the outbox (migration 011) queues them again. */
	status = pg_exec_params(db,
				"UPDATE outbox SET refused_at = NULL, refusal = NULL"
				" WHERE refused_at IS NOT NULL"
				" AND ($2::boolean OR event_id = ANY($1::bigint[]))",
				2, v, &res);
	pgarray_free(&list);
	if (status != OK)
		return ERR;
	printf("%s event(s) put back for the relay\n", PQcmdTuples(res));
	/* Ids named that were not refused (a typo, or already put back):
	 * said, and exit 1, rather than a count the operator must check. */
	status = !all && strtol(PQcmdTuples(res), NULL, 10) < n ? ERR : OK;
	if (status != OK)
		fprintf(stderr,
			"claimctl outbox retry: %ld of the %d ids named were not refused"
			" events (claimctl outbox refused lists them)\n",
			(long)n - strtol(PQcmdTuples(res), NULL, 10), n);
	PQclear(res);
	return status;
}

#define PURGE_SLICE "5000"

/* Each slice starts after the last one's highest id, so no slice walks
 * again over the index entries of the rows the previous ones deleted. */
static int outbox_purge(struct pg *db, const char *days)
{
	char after[24] = "0";
	const char *v[3] = {days, PURGE_SLICE, after};
	long total = 0, n;

	do {
		PGresult *res;

		if (pg_exec_params(db,
				   "WITH gone AS (DELETE FROM outbox WHERE event_id IN"
				   " (SELECT o.event_id FROM outbox o WHERE o.event_id > $3::bigint"
				   "  AND o.created_at < now() - make_interval(days => $1::int)"
				   "  AND o.refused_at IS NULL AND NOT EXISTS"
				   "  (SELECT 1 FROM outbox_queue q WHERE q.event_id = o.event_id)"
				   "  ORDER BY o.event_id LIMIT $2::int) RETURNING event_id)"
				   " SELECT count(*), coalesce(max(event_id), 0) FROM gone",
				   3, v, &res) != OK)
			return ERR;
		n = atol(PQgetvalue(res, 0, 0));
		snprintf(after, sizeof(after), "%s", PQgetvalue(res, 0, 1));
		PQclear(res);
		total += n;
	} while (n == atol(PURGE_SLICE));
	printf("%ld sent event(s) older than %s day(s) purged\n", total, days);
	return OK;
}

int cmd_outbox(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "", *limit = "1000", *days = "7";
	int all = 0, status;
	struct pg *db;

	if (claimctl_wants_help(argc, argv))
		return usage_on(stdout);
	if (strcmp(sub, "refused") == 0) {
		if (argc == 4 && strcmp(argv[2], "--limit") == 0 && digits(argv[3]))
			limit = argv[3];
		else if (argc != 2)
			return usage();
	} else if (strcmp(sub, "retry") == 0) {
		all = argc == 3 && strcmp(argv[2], "--all") == 0;
		if (argc < 3)
			return usage();
		for (int i = 2; !all && i < argc; i++)
			if (!digits(argv[i]))
				return usage();
	} else if (strcmp(sub, "purge") == 0) {
		if (argc == 4 && strcmp(argv[2], "--days") == 0 && digits(argv[3]) &&
		    strlen(argv[3]) <= 5)
			days = argv[3];
		else if (argc != 2)
			return usage();
	} else {
		return usage();
	}
	if (pg_open(claimctl_env("CLAIMS_PG_DSN", CLAIMCTL_PG_DSN), &db) != OK)
		return 1;
	if (strcmp(sub, "refused") == 0)
		status = outbox_refused(db, limit);
	else if (strcmp(sub, "purge") == 0)
		status = outbox_purge(db, days);
	else
		status = outbox_retry(db, all, argv + 2, all ? 0 : argc - 2);
	pg_close(db);
	return status == OK ? 0 : 1;
}
