/*
 * NAME
 *	notify_store.c - record a batch's notifications in one statement
 *
 * DESCRIPTION
 *	Each notification is keyed by the event it tells of ("event:" and
 *	the event's message id, unique in `notifications`): the same event
 *	read again (a redelivery after a crash, a replay) finds its row and
 *	writes nothing, so a member is told once. A claim decided again
 *	(claimctl claim redecide) publishes a new event, and is told again:
 *	the amounts changed.
 *
 *	The member told is the holder of the claim's contract (the
 *	subscriber sees the care of every beneficiary of the contract), read
 *	from the claim itself; the event's contract must be the claim's, so
 *	that an event naming the wrong claim tells no one about someone
 *	else's care. The statement adds what the account shows beside the
 *	event's figures: the beneficiary's first name and the care's first
 *	and last days (facts of the claim that no later decision changes;
 *	why a claim was not reimbursed is the event's own). Its time is when it
 *	was written (clock_timestamp(), not the transaction's start): what
 *	the account shows, and what the benchmark measures to.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/pgarray.h"
#include "common/xalloc.h"
#include "notify/notify.h"

/* clang-format off */
static const char sql_record[] =
	"WITH e AS ("
	" SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::bigint[],"
	"  $6::jsonb[]) WITH ORDINALITY"
	"  AS e(notification_id, dedupe_key, template, claim_id, contract_id, params, n)),"
	" m AS ("
	" SELECT e.*, cl.contract_id AS claim_contract, ct.member_id, b.first_name,"
	"  span.care_from, span.care_to"
	" FROM e LEFT JOIN claims cl ON cl.claim_id = e.claim_id"
	" LEFT JOIN contracts ct ON ct.contract_id = cl.contract_id"
	" LEFT JOIN beneficiaries b ON b.beneficiary_id = cl.beneficiary_id"
	" LEFT JOIN LATERAL (SELECT min(l.care_date) AS care_from, max(l.care_date) AS care_to"
	"  FROM claim_lines l WHERE l.claim_id = cl.claim_id) span ON true),"
	" ins AS ("
	" INSERT INTO notifications (notification_id, member_id, channel, template, params,"
	"  dedupe_key, status, created_at, sent_at, claim_id)"
	" SELECT m.notification_id, m.member_id, 'in_app', m.template,"
	"  m.params || jsonb_strip_nulls(jsonb_build_object('beneficiary', m.first_name,"
	"  'care_from', m.care_from, 'care_to', m.care_to)),"
	"  m.dedupe_key, 'sent', clock_timestamp(), clock_timestamp(), m.claim_id"
	" FROM m WHERE m.claim_contract = m.contract_id"
	" ON CONFLICT (dedupe_key) DO NOTHING"
	" RETURNING notification_id, member_id, jsonb_build_object('notification_id',"
	"  notification_id, 'template', template, 'created_at', created_at, 'params', params)"
	"  ::text AS push)"
	" SELECT m.n, CASE WHEN m.claim_contract IS NULL THEN 'unknown'"
	"  WHEN m.claim_contract <> m.contract_id THEN 'other' ELSE '' END,"
	"  ins.member_id, ins.push"
	" FROM m LEFT JOIN ins ON ins.notification_id = m.notification_id ORDER BY m.n";
/* clang-format on */

#define RECORD_PARAMS 6

int notify_prepare(struct pg *db)
{
	return pg_prepare(db, "notify_record", sql_record, RECORD_PARAMS);
}

static int to_record(const struct notify_item *it)
{
	return it->poison[0] == '\0' && it->skip == NOTIFY_SKIP_NONE;
}

/* Row i of the result is the i-th item recorded; what became of it. */
static void read_row(struct notify_item *it, const PGresult *res, int row)
{
	const char *refused = PQgetvalue(res, row, 1);

	if (strcmp(refused, "unknown") == 0) {
		snprintf(it->poison, sizeof(it->poison), "claim %s unknown", it->claim_id);
		return;
	}
	if (strcmp(refused, "other") == 0) {
		snprintf(it->poison, sizeof(it->poison), "claim %s is not of contract %lld",
			 it->claim_id, (long long)it->contract_id);
		return;
	}
	if (PQgetisnull(res, row, 2))
		return; /* told before: the same event again */
	it->member_id = strtoll(PQgetvalue(res, row, 2), NULL, 10);
	it->push = xstrdup(PQgetvalue(res, row, 3));
}

int notify_record(struct pg *db, struct notify_item *items, int n)
{
	struct pgarray a[RECORD_PARAMS];
	const char *values[RECORD_PARAMS];
	int *index = xcalloc((size_t)n, sizeof(*index));
	int count = 0, status = OK;
	PGresult *res = NULL;

	for (int k = 0; k < RECORD_PARAMS; k++)
		pgarray_init(&a[k]);
	for (int i = 0; i < n; i++) {
		if (!to_record(&items[i]))
			continue;
		uuid_v7(items[i].notification_id);
		pgarray_text(&a[0], items[i].notification_id);
		pgarray_text(&a[1], items[i].dedupe_key);
		pgarray_text(&a[2], items[i].template);
		pgarray_text(&a[3], items[i].claim_id);
		pgarray_int(&a[4], items[i].contract_id);
		pgarray_text(&a[5], items[i].params);
		index[count++] = i;
	}
	if (count > 0) {
		for (int k = 0; k < RECORD_PARAMS; k++)
			values[k] = pgarray_finish(&a[k]);
		status = pg_exec_prepared(db, "notify_record", RECORD_PARAMS, values, NULL, NULL,
					  &res);
	}
	if (status == OK && count > 0 && PQntuples(res) != count) {
		log_error("notify_record: %d rows for %d notifications", PQntuples(res), count);
		status = ERR;
	}
	for (int r = 0; status == OK && r < count; r++)
		read_row(&items[index[r]], res, r);
	PQclear(res);
	for (int k = 0; k < RECORD_PARAMS; k++)
		pgarray_free(&a[k]);
	free(index);
	return status;
}
