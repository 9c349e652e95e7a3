/*
 * NAME
 *	intake_store.c - record a submission: claim, rejection, events
 *
 * DESCRIPTION
 *	intake_submit() is the whole decision for one submission, inside the
 *	caller's transaction:
 *
 *	1. a submission already seen (same source and external id) gets the
 *	   first answer again and changes nothing;
 *	2. otherwise it is checked; an accepted claim is written with its
 *	   lines and its claims.accepted event in ONE statement (a chain of
 *	   data-modifying CTEs), keyed by contract id; a rejected one becomes
 *	   a claim_rejections row and a claims.rejected event;
 *	3. two identical submissions racing each other meet the unique key
 *	   (source, external_id): the loser inserts nothing and reads the
 *	   winner's answer.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/envelope.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/outbox.h"
#include "common/pgarray.h"
#include "intake/intake.h"

static const char *const source_kinds[] = {"unknown", "amo", "facility", "tiers_payant", "member"};

static const char sql_insert_claim[] =
	"WITH c AS ("
	" INSERT INTO claims (claim_id, source, source_kind, external_id, contract_id,"
	"  beneficiary_id, professional_id, payee, status, trace_id)"
	" VALUES ($1, $2, $3, $4, $5, $6,"
	"  (SELECT professional_id FROM professionals WHERE id_value = $7), $8, 'queued', $9)"
	" ON CONFLICT (source, external_id) DO NOTHING RETURNING claim_id),"
	" l AS ("
	" INSERT INTO claim_lines (claim_id, line_no, line_ref, act_code, category, care_date,"
	"  quantity, charged_cents, brss_cents, amo_rate, amo_paid_cents, optam, parcours,"
	"  basket, price_limit_cents, lenses, frame_charged_cents)"
	" SELECT c.claim_id, x.line_no, x.line_ref, x.act_code, x.category, x.care_date,"
	"  x.quantity, x.charged, x.brss, x.rate, x.amo_paid, x.optam, x.parcours, x.basket,"
	"  x.price_limit, string_to_array(NULLIF(x.lenses, ''), ','), x.frame"
	" FROM c, unnest($10::int[], $11::text[], $12::text[], $13::text[], $14::date[],"
	"  $15::int[], $16::bigint[], $17::bigint[], $18::int[], $19::bigint[], $20::bool[],"
	"  $21::bool[], $22::text[], $23::bigint[], $24::text[], $25::bigint[])"
	"  AS x(line_no, line_ref, act_code, category, care_date, quantity, charged, brss, rate,"
	"  amo_paid, optam, parcours, basket, price_limit, lenses, frame)),"
	" o AS ("
	" INSERT INTO outbox (message_id, topic, key, msg_type, payload)"
	" SELECT $26, 'claims.accepted', $5, $27, $28 FROM c)"
	" SELECT claim_id FROM c";

int intake_prepare(struct pg *db)
{
	if (pg_prepare(db, "intake_first_answer",
		       "SELECT claim_id::text, NULL, NULL, NULL FROM claims"
		       " WHERE source = $1 AND external_id = $2"
		       " UNION ALL SELECT NULL, reason_code, field, message FROM claim_rejections"
		       " WHERE source = $1 AND external_id = $2 LIMIT 1",
		       2) != OK ||
	    pg_prepare(db, "intake_coverage",
		       "SELECT b.beneficiary_id, b.contract_id, b.birth_date::text, "
		       "b.exemptions::text,"
		       "  (greatest(c.start_date, b.start_date) - date '1970-01-01'),"
		       "  least(coalesce(c.end_date - date '1970-01-01', 2147483647),"
		       "        coalesce(b.end_date - date '1970-01-01', 2147483647)),"
		       "  c.status = 'suspended'"
		       " FROM members m JOIN contracts c ON c.member_id = m.member_id"
		       " JOIN beneficiaries b ON b.contract_id = c.contract_id"
		       " WHERE m.membership_number = $1 AND b.rank = $2"
		       " ORDER BY c.start_date DESC LIMIT 1",
		       2) != OK ||
	    pg_prepare(db, "intake_professional_known",
		       "SELECT 1 FROM professionals WHERE id_value = $1", 1) != OK ||
	    pg_prepare(db, "intake_insert_claim", sql_insert_claim, 28) != OK ||
	    pg_prepare(db, "intake_insert_rejection",
		       "INSERT INTO claim_rejections (rejection_id, source, external_id,"
		       " reason_code, field, message) VALUES ($1, $2, $3, $4, $5, $6)"
		       " ON CONFLICT DO NOTHING RETURNING rejection_id",
		       6) != OK)
		return ERR;
	return OK;
}

/* 1 when an answer was found (and copied to out), 0 when new, ERR. */
static int first_answer(struct pg *db, const Claims__ClaimSubmitted *s, struct intake_outcome *out)
{
	const char *v[2] = {s->source, s->external_id};
	PGresult *res;
	int found;

	if (pg_exec_prepared(db, "intake_first_answer", 2, v, NULL, NULL, &res) != OK)
		return ERR;
	found = PQntuples(res) > 0;
	if (found) {
		memset(out, 0, sizeof(*out));
		out->duplicate = 1;
		out->accepted = !PQgetisnull(res, 0, 0);
		if (out->accepted)
			snprintf(out->claim_id, sizeof(out->claim_id), "%s", PQgetvalue(res, 0, 0));
		else
			intake_reject(out, PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2), "%s",
				      PQgetvalue(res, 0, 3));
		out->duplicate = 1;
	}
	PQclear(res);
	return found;
}

static int load_coverage(struct pg *db, const Claims__ClaimSubmitted *s, struct coverage *cov)
{
	char rank[12];
	const char *v[2] = {s->membership_number, rank};
	PGresult *res;

	memset(cov, 0, sizeof(*cov));
	snprintf(rank, sizeof(rank), "%u", s->beneficiary_rank ? s->beneficiary_rank : 1);
	if (pg_exec_prepared(db, "intake_coverage", 2, v, NULL, NULL, &res) != OK)
		return ERR;
	if (PQntuples(res) == 1) {
		cov->found = 1;
		cov->beneficiary_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		cov->contract_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		snprintf(cov->birth_date, sizeof(cov->birth_date), "%s", PQgetvalue(res, 0, 2));
		snprintf(cov->exemptions, sizeof(cov->exemptions), "%s", PQgetvalue(res, 0, 3));
		cov->from = (int32_t)strtol(PQgetvalue(res, 0, 4), NULL, 10);
		cov->until = (int32_t)strtol(PQgetvalue(res, 0, 5), NULL, 10);
		cov->suspended = PQgetvalue(res, 0, 6)[0] == 't';
	}
	PQclear(res);
	return OK;
}

static int professional_known(struct pg *db, const char *id, int *known)
{
	const char *v[1] = {id};
	PGresult *res;

	if (pg_exec_prepared(db, "intake_professional_known", 1, v, NULL, NULL, &res) != OK)
		return ERR;
	*known = PQntuples(res) > 0;
	PQclear(res);
	return OK;
}

/* "{C2S,MATERNITY}" -> the repeated string field of ClaimAccepted. */
static size_t split_exemptions(char *text, char **out, size_t max)
{
	size_t n = 0;

	for (char *tok = strtok(text, "{},"); tok != NULL && n < max; tok = strtok(NULL, "{},"))
		out[n++] = tok;
	return n;
}

struct line_arrays {
	struct pgarray a[16];
};

static void fill_line_arrays(struct line_arrays *la, const Claims__ClaimSubmitted *s)
{
	for (int k = 0; k < 16; k++)
		pgarray_init(&la->a[k]);
	for (size_t i = 0; i < s->n_lines; i++) {
		const Claims__ClaimLine *l = s->lines[i];
		char lenses[64] = "";

		if (l->n_lenses == 2)
			snprintf(lenses, sizeof(lenses), "%s,%s", l->lenses[0], l->lenses[1]);
		pgarray_int(&la->a[0], (int64_t)i + 1);
		l->line_ref ? pgarray_text(&la->a[1], l->line_ref) : pgarray_null(&la->a[1]);
		l->act_code ? pgarray_text(&la->a[2], l->act_code) : pgarray_null(&la->a[2]);
		pgarray_text(&la->a[3], l->category);
		pgarray_text(&la->a[4], l->care_date);
		pgarray_int(&la->a[5], l->quantity);
		pgarray_int(&la->a[6], l->charged_cents);
		pgarray_int(&la->a[7], l->has_brss_cents ? l->brss_cents : 0);
		pgarray_int(&la->a[8], l->amo_rate);
		l->has_amo_paid_cents ? pgarray_int(&la->a[9], l->amo_paid_cents)
				      : pgarray_null(&la->a[9]);
		pgarray_bool(&la->a[10], l->optam);
		pgarray_bool(&la->a[11], l->parcours);
		l->basket ? pgarray_text(&la->a[12], l->basket) : pgarray_null(&la->a[12]);
		l->has_price_limit_cents ? pgarray_int(&la->a[13], l->price_limit_cents)
					 : pgarray_null(&la->a[13]);
		pgarray_text(&la->a[14], lenses);
		l->has_frame_charged_cents ? pgarray_int(&la->a[15], l->frame_charged_cents)
					   : pgarray_null(&la->a[15]);
	}
	for (int k = 0; k < 16; k++)
		pgarray_finish(&la->a[k]);
}

/* The claims.accepted event: the claim as the reimbursement daemon needs it. */
static int pack_accepted(const Claims__ClaimSubmitted *s, const struct coverage *cov,
			 const char *claim_id, const char *trace_id, char *event_id, uint8_t **buf,
			 size_t *len)
{
	Claims__ClaimAccepted a = CLAIMS__CLAIM_ACCEPTED__INIT;
	char exemptions[64], *exempt_list[8];
	int status;

	snprintf(exemptions, sizeof(exemptions), "%s", cov->exemptions);
	a.claim_id = (char *)claim_id;
	a.has_contract_id = a.has_beneficiary_id = a.has_payee = 1;
	a.contract_id = cov->contract_id;
	a.beneficiary_id = cov->beneficiary_id;
	a.source = s->source;
	a.external_id = s->external_id;
	a.payee = s->payee;
	a.professional_id = s->professional_id;
	a.membership_number = s->membership_number;
	a.birth_date = (char *)cov->birth_date;
	a.n_exemptions = split_exemptions(exemptions, exempt_list, 8);
	a.exemptions = exempt_list;
	a.n_lines = s->n_lines;
	a.lines = s->lines;
	for (size_t i = 0; i < s->n_lines; i++) {
		s->lines[i]->has_line_no = 1;
		s->lines[i]->line_no = (uint32_t)i + 1;
	}
	status = envelope_pack(CLAIMS__MESSAGE_TYPE__CLAIM_ACCEPTED, &a.base, trace_id, "intake",
			       event_id, buf, len);
	return status;
}

static int insert_claim(struct pg *db, const Claims__ClaimSubmitted *s, const struct coverage *cov,
			const char *trace_id, struct intake_outcome *out, int *inserted)
{
	char claim_id[UUID_STR_LEN], event_id[UUID_STR_LEN], contract[24], beneficiary[24];
	char msg_type[8];
	struct line_arrays la;
	uint8_t *event;
	size_t event_len;
	PGresult *res;
	int status;

	uuid_v7(claim_id);
	if (pack_accepted(s, cov, claim_id, trace_id, event_id, &event, &event_len) != OK)
		return ERR;
	snprintf(contract, sizeof(contract), "%lld", (long long)cov->contract_id);
	snprintf(beneficiary, sizeof(beneficiary), "%lld", (long long)cov->beneficiary_id);
	snprintf(msg_type, sizeof(msg_type), "%d", CLAIMS__MESSAGE_TYPE__CLAIM_ACCEPTED);
	fill_line_arrays(&la, s);
	{
		const char *v[28] = {
			claim_id,
			s->source,
			source_kinds[s->source_kind < 5 ? s->source_kind : 0],
			s->external_id,
			contract,
			beneficiary,
			s->professional_id,
			s->payee == CLAIMS__PAYEE__PAYEE_PROFESSIONAL ? "professional" : "member",
			trace_id,
		};
		int lengths[28] = {0}, formats[28] = {0};

		for (int k = 0; k < 16; k++)
			v[9 + k] = la.a[k].buf;
		v[25] = event_id;
		v[26] = msg_type;
		v[27] = (const char *)event;
		lengths[27] = (int)event_len;
		formats[27] = 1;
		status = pg_exec_prepared(db, "intake_insert_claim", 28, v, lengths, formats, &res);
	}
	for (int k = 0; k < 16; k++)
		pgarray_free(&la.a[k]);
	free(event);
	if (status != OK)
		return ERR;
	*inserted = PQntuples(res) > 0;
	PQclear(res);
	if (*inserted) {
		memset(out, 0, sizeof(*out));
		out->accepted = 1;
		snprintf(out->claim_id, sizeof(out->claim_id), "%s", claim_id);
	}
	return OK;
}

static int insert_rejection(struct pg *db, const Claims__ClaimSubmitted *s, const char *trace_id,
			    const struct intake_outcome *out, int *inserted)
{
	Claims__ClaimRejected r = CLAIMS__CLAIM_REJECTED__INIT;
	char id[UUID_STR_LEN];
	/* Text PostgreSQL would refuse is left out: the reason says why. */
	const char *source = s->source && utf8_valid(s->source) ? s->source : NULL;
	const char *external = s->external_id && utf8_valid(s->external_id) ? s->external_id : NULL;
	const char *v[6] = {id, source, external, out->reason_code, out->field, out->message};
	PGresult *res;

	uuid_v7(id);
	if (pg_exec_prepared(db, "intake_insert_rejection", 6, v, NULL, NULL, &res) != OK)
		return ERR;
	*inserted = PQntuples(res) > 0;
	PQclear(res);
	if (!*inserted)
		return OK;
	r.source = s->source;
	r.external_id = s->external_id;
	r.reason_code = (char *)out->reason_code;
	r.field = (char *)out->field;
	r.message = (char *)out->message;
	r.rejection_id = id;
	return outbox_add(db, "claims.rejected", external ? external : "",
			  CLAIMS__MESSAGE_TYPE__CLAIM_REJECTED, &r.base, trace_id, "intake");
}

/* Source and external id are the dedupe key: without them (rejected for
 * that very reason) the rejection is recorded with NULLs, not deduplicated. */
static int decide(struct pg *db, const Claims__ClaimSubmitted *s, struct coverage *cov,
		  struct intake_outcome *out)
{
	int known;

	if (intake_check_static(s, date_today(), out) != OK)
		return OK;
	if (load_coverage(db, s, cov) != OK)
		return ERR;
	if (intake_check_coverage(s, cov, out) != OK)
		return OK;
	if (s->professional_id != NULL) {
		if (professional_known(db, s->professional_id, &known) != OK)
			return ERR;
		if (!known) {
			intake_reject(out, "UNKNOWN_PROFESSIONAL", "professional_id",
				      "no professional with this RPPS, ADELI or FINESS number");
			return OK;
		}
	}
	out->accepted = 1;
	return OK;
}

/* Outcomes by kind: an operator sees the rejection reasons at a glance. */
static void count_outcome(const struct intake_outcome *o)
{
	char name[96];

	if (o->duplicate)
		snprintf(name, sizeof(name), "intake_duplicates_total");
	else if (o->accepted)
		snprintf(name, sizeof(name), "intake_accepted_total");
	else
		snprintf(name, sizeof(name), "intake_rejected_total{reason=\"%s\"}",
			 o->reason_code);
	metric_add(metric_counter(name, o->duplicate ? "Repeated submissions given the first answer"
					: o->accepted ? "Claims accepted"
						      : "Submissions rejected, by reason code"),
		   1);
}

static int submit(struct pg *db, const Claims__ClaimSubmitted *s, const char *trace_id,
		  struct intake_outcome *out);

int intake_submit(struct pg *db, const Claims__ClaimSubmitted *s, const char *trace_id,
		  struct intake_outcome *out)
{
	if (submit(db, s, trace_id, out) != OK)
		return ERR;
	count_outcome(out);
	return OK;
}

static int submit(struct pg *db, const Claims__ClaimSubmitted *s, const char *trace_id,
		  struct intake_outcome *out)
{
	struct coverage cov;
	int found, inserted = 0,
		   keyed = s->source != NULL && s->external_id != NULL && utf8_valid(s->source) &&
			   utf8_valid(s->external_id);

	memset(out, 0, sizeof(*out));
	if (keyed && (found = first_answer(db, s, out)) != 0)
		return found == 1 ? OK : ERR;
	if (decide(db, s, &cov, out) != OK)
		return ERR;
	if (out->accepted) {
		if (insert_claim(db, s, &cov, trace_id, out, &inserted) != OK)
			return ERR;
	} else if (insert_rejection(db, s, trace_id, out, &inserted) != OK) {
		return ERR;
	}
	/* Lost a race with an identical submission: give its answer. */
	if (!inserted && keyed && first_answer(db, s, out) == ERR)
		return ERR;
	return OK;
}
