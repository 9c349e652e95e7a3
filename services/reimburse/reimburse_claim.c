/*
 * NAME
 *	reimburse_claim.c - decide one accepted claim
 *
 * DESCRIPTION
 *	reimburse_claim(), inside the worker's transaction:
 *
 *	1. lock the claim row (SELECT ... FOR UPDATE): a claim already past
 *	   'queued' was decided by an earlier delivery and is left alone;
 *	   two workers handed the same claim during a rebalance serialise
 *	   here and the second sees it decided;
 *	2. read the beneficiary's consumption counters (the engine's history:
 *	   the calendar years of the care, and equipments of the last five
 *	   years for renewal periods);
 *	3. run the engine with the formula version in force at each care
 *	   date (consecutive lines under one version form one request; each
 *	   run's results join the history of the next);
 *	4. in ONE statement: the decision of every line with its rule trace,
 *	   the counters, the claim's status, the payment, and the
 *	   reimbursements.computed event in the outbox.
 *
 *	A line whose date has no formula version in force, or that the engine
 *	refuses, is not decided: the claim ends 'partial' (some lines
 *	decided) or 'error' (none), with the reasons, and the event says so.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/envelope.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pgarray.h"
#include "common/xalloc.h"
#include "proto/reimbursement.pb-c.h"
#include "reimburse/reimburse.h"

static const char sql_write[] =
	"WITH d AS ("
	" INSERT INTO decisions (claim_id, line_no, charged_cents, amo_gross_cents, pf_cents,"
	"  franchise_cents, amo_paid_cents, amc_cents, forfait_cents, rac_cents, rules,"
	"  formula_code, formula_version)"
	" SELECT $1, x.line_no, x.charged, x.gross, x.pf, x.franchise, x.paid, x.amc, x.forfait,"
	"  x.rac, string_to_array(x.rules, ','), x.code, x.version"
	" FROM unnest($2::int[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[],"
	"  $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::text[], $12::text[],"
	"  $13::int[]) AS x(line_no, charged, gross, pf, franchise, paid, amc, forfait, rac, rules,"
	"  code, version)),"
	" k AS ("
	" INSERT INTO consumption_counters AS cc (beneficiary_id, category, care_date, pf_cents,"
	"  franchise_cents, amc_cents, forfait_cents, forfait_units, equipments, lines)"
	" SELECT $14, y.category, y.care_date, sum(y.pf), sum(y.franchise), sum(y.amc),"
	"  sum(y.forfait), sum(y.units), sum(y.equip), count(*)"
	" FROM unnest($15::text[], $16::date[], $5::bigint[], $6::bigint[], $8::bigint[],"
	"  $9::bigint[], $17::int[], $18::int[])"
	"  AS y(category, care_date, pf, franchise, amc, forfait, units, equip)"
	" GROUP BY y.category, y.care_date"
	" ON CONFLICT (beneficiary_id, category, care_date) DO UPDATE SET"
	"  pf_cents = cc.pf_cents + excluded.pf_cents,"
	"  franchise_cents = cc.franchise_cents + excluded.franchise_cents,"
	"  amc_cents = cc.amc_cents + excluded.amc_cents,"
	"  forfait_cents = cc.forfait_cents + excluded.forfait_cents,"
	"  forfait_units = cc.forfait_units + excluded.forfait_units,"
	"  equipments = cc.equipments + excluded.equipments,"
	"  lines = cc.lines + excluded.lines),"
	" c AS (UPDATE claims SET status = $19, outcome_reason = $20, decided_at = now()"
	"  WHERE claim_id = $1),"
	" p AS (INSERT INTO payments (claim_id, payee, payee_ref, amount_cents)"
	"  SELECT $1, $21, $22, $23 WHERE $23::bigint > 0)"
	" INSERT INTO outbox (message_id, topic, key, msg_type, payload)"
	" VALUES ($24, 'reimbursements.computed', $25, $26, $27)";

int reimburse_prepare(struct pg *db)
{
	if (pg_prepare(db, "reimburse_formulas",
		       "SELECT v.formula_code, v.version, f.responsible, v.effective_from::text,"
		       " coalesce(v.effective_to::text, ''), g.category, g.spec::text"
		       " FROM formula_versions v JOIN formulas f USING (formula_code)"
		       " LEFT JOIN guarantees g USING (formula_code, version)"
		       " ORDER BY v.formula_code, v.version",
		       0) != OK ||
	    pg_prepare(db, "reimburse_lock",
		       "SELECT cl.status, c.formula_code FROM claims cl"
		       " JOIN contracts c ON c.contract_id = cl.contract_id"
		       " WHERE cl.claim_id = $1 FOR UPDATE OF cl",
		       1) != OK ||
	    pg_prepare(db, "reimburse_history",
		       "SELECT category, to_char(care_date, 'YYYYMMDD'), pf_cents, franchise_cents,"
		       " amc_cents, forfait_cents, forfait_units, equipments"
		       " FROM consumption_counters WHERE beneficiary_id = $1"
		       " AND (care_date >= $2::date"
		       "  OR (equipments > 0 AND care_date >= $2::date - interval '5 years'))",
		       2) != OK ||
	    pg_prepare(db, "reimburse_write", sql_write, 27) != OK)
		return ERR;
	return OK;
}

/* ---- the claim in engine terms ------------------------------------------------- */

struct claim_work {
	const Claims__ClaimAccepted *a;
	size_t n;
	struct rules_line *lines;
	struct rules_line_result *results;
	const struct formula_version **fv; /* per line; NULL: not decided */
	char (*errors)[320];		   /* per line; "" when decided */
	struct rules_history_item *history;
	size_t n_history;
	struct rules_beneficiary beneficiary;
	rules_date_t first_date;
};

static void work_free(struct claim_work *w)
{
	free(w->lines);
	free(w->results);
	free(w->fv);
	free(w->errors);
	free(w->history);
}

static void line_from_proto(const Claims__ClaimLine *p, struct rules_line *l)
{
	rules_line_init(l);
	l->id = p->line_ref;
	l->act = p->act_code;
	l->charged_cents = p->charged_cents;
	l->quantity = (int32_t)p->quantity;
	l->optam = p->optam;
	l->parcours = p->parcours;
	if (p->has_brss_cents) {
		l->given |= RULES_GIVEN_BRSS;
		l->brss_cents = p->brss_cents;
	}
	if (p->has_amo_rate) {
		l->given |= RULES_GIVEN_AMO_RATE;
		l->amo_rate = (int32_t)p->amo_rate;
	}
	if (p->has_price_limit_cents) {
		l->given |= RULES_GIVEN_PRICE_LIMIT;
		l->price_limit_cents = p->price_limit_cents;
	}
	if (p->basket != NULL && rules_basket_parse(p->basket, &l->basket) != RULES_OK)
		l->basket = RULES_BASKET_NONE;
	for (size_t k = 0; k < p->n_lenses && k < 2; k++)
		if (rules_lens_parse(p->lenses[k], &l->lenses[k]) != RULES_OK)
			l->lenses[k] = RULES_LENS_NONE;
	if (p->has_frame_charged_cents)
		l->frame_charged_cents = p->frame_charged_cents;
}

static int prepare_work(struct reimburse_ctx *ctx, const Claims__ClaimAccepted *a,
			const char *formula_code, struct claim_work *w)
{
	memset(w, 0, sizeof(*w));
	w->a = a;
	w->n = a->n_lines;
	w->lines = xcalloc(w->n, sizeof(*w->lines));
	w->results = xcalloc(w->n, sizeof(*w->results));
	w->fv = xcalloc(w->n, sizeof(*w->fv));
	w->errors = xcalloc(w->n, sizeof(*w->errors));
	if (rules_date_parse(a->birth_date, &w->beneficiary.birth_date) != RULES_OK)
		return ERR;
	for (size_t e = 0; e < a->n_exemptions; e++) {
		unsigned flag;

		if (rules_exempt_parse(a->exemptions[e], &flag) == RULES_OK)
			w->beneficiary.exempt |= flag;
	}
	for (size_t i = 0; i < w->n; i++) {
		struct rules_line *l = &w->lines[i];

		line_from_proto(a->lines[i], l);
		if (rules_date_parse(a->lines[i]->care_date, &l->date) != RULES_OK ||
		    rules_category_parse(a->lines[i]->category, &l->category) != RULES_OK) {
			snprintf(w->errors[i], sizeof(w->errors[i]), "INVALID_LINE");
			continue;
		}
		if (w->first_date == 0 || l->date < w->first_date)
			w->first_date = l->date;
		w->fv[i] = formulas_find(&ctx->formulas, formula_code, l->date);
		if (w->fv[i] == NULL)
			snprintf(w->errors[i], sizeof(w->errors[i]),
				 "NO_GUARANTEE_IN_FORCE: formula %s has no version on %s",
				 formula_code, a->lines[i]->care_date);
	}
	return OK;
}

static int load_history(struct pg *db, struct claim_work *w)
{
	char beneficiary[24], year_start[32];
	const char *v[2] = {beneficiary, year_start};
	PGresult *res;
	int rows;

	snprintf(beneficiary, sizeof(beneficiary), "%" PRId64, w->a->beneficiary_id);
	snprintf(year_start, sizeof(year_start), "%04d-01-01",
		 w->first_date ? rules_date_year(w->first_date) % 10000 : 1970);
	if (pg_exec_prepared(db, "reimburse_history", 2, v, NULL, NULL, &res) != OK)
		return ERR;
	rows = PQntuples(res);
	w->history = xcalloc((size_t)rows + w->n, sizeof(*w->history));
	for (int r = 0; r < rows; r++) {
		struct rules_history_item *h = &w->history[w->n_history];

		rules_history_init(h);
		if (rules_category_parse(PQgetvalue(res, r, 0), &h->category) != RULES_OK)
			continue; /* a category this engine version does not know */
		h->date = (rules_date_t)strtol(PQgetvalue(res, r, 1), NULL, 10);
		h->pf_cents = strtoll(PQgetvalue(res, r, 2), NULL, 10);
		h->franchise_cents = strtoll(PQgetvalue(res, r, 3), NULL, 10);
		h->amc_cents = strtoll(PQgetvalue(res, r, 4), NULL, 10);
		h->forfait_cents = strtoll(PQgetvalue(res, r, 5), NULL, 10);
		/* Units paid a forfait; the engine counts them only on rows with a
		 * forfait, and wants a positive quantity on every row. */
		h->quantity = (int32_t)strtol(PQgetvalue(res, r, 6), NULL, 10);
		if (h->quantity < 1)
			h->quantity = 1;
		h->equipment = strtol(PQgetvalue(res, r, 7), NULL, 10) > 0;
		w->n_history++;
	}
	PQclear(res);
	return OK;
}

/* The decided line as history for the lines of a later run. */
static void push_history(struct claim_work *w, size_t i)
{
	struct rules_history_item *h = &w->history[w->n_history++];
	const struct rules_line_result *r = &w->results[i];

	rules_history_init(h);
	h->date = w->lines[i].date;
	h->category = w->lines[i].category;
	h->pf_cents = r->pf_cents;
	h->franchise_cents = r->franchise_cents;
	h->amc_cents = r->amc_cents;
	h->forfait_cents = r->forfait_cents;
	h->quantity = w->lines[i].quantity;
	h->equipment = rules_history_equipment_default(h->category, r->amc_cents);
}

/* Lines [from, to) share one formula version: one engine request. */
static void compute_run(const struct rules_params *params, struct claim_work *w, size_t from,
			size_t to)
{
	struct rules_request req = {
		.beneficiary = w->beneficiary,
		.contract = &w->fv[from]->contract,
		.history = w->history,
		.n_history = w->n_history,
		.lines = &w->lines[from],
		.n_lines = to - from,
	};
	struct rules_totals totals;
	struct rules_error err;

	if (rules_compute(params, &req, &w->results[from], &totals, &err) != RULES_OK) {
		for (size_t i = from; i < to; i++) {
			snprintf(w->errors[i], sizeof(w->errors[i]), "ENGINE_REFUSED: %s: %s",
				 err.field, err.reason);
			w->fv[i] = NULL;
		}
		return;
	}
	for (size_t i = from; i < to; i++)
		push_history(w, i);
}

static void compute_all(const struct rules_params *params, struct claim_work *w)
{
	size_t i = 0;

	while (i < w->n) {
		size_t j = i + 1;

		if (w->fv[i] == NULL) {
			i++;
			continue;
		}
		while (j < w->n && w->fv[j] == w->fv[i])
			j++;
		compute_run(params, w, i, j);
		i = j;
	}
}

/* ---- the decision, the counters, the event -------------------------------------- */

struct write_arrays {
	struct pgarray a[16];
};

static void rules_text(const struct rules_line_result *r, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (int k = 0; k < r->n_rules && used + 1 < len; k++)
		used += (size_t)snprintf(out + used, len - used, "%s%s", k ? "," : "",
					 rules_rule_name(r->rules[k]));
}

static void fill_arrays(const struct claim_work *w, struct write_arrays *wa)
{
	for (int k = 0; k < 16; k++)
		pgarray_init(&wa->a[k]);
	for (size_t i = 0; i < w->n; i++) {
		const struct rules_line_result *r = &w->results[i];
		char rules[RULES_TRACE_MAX * 32];

		if (w->fv[i] == NULL)
			continue;
		rules_text(r, rules, sizeof(rules));
		pgarray_int(&wa->a[0], w->a->lines[i]->line_no);
		pgarray_int(&wa->a[1], r->charged_cents);
		pgarray_int(&wa->a[2], r->amo_gross_cents);
		pgarray_int(&wa->a[3], r->pf_cents);
		pgarray_int(&wa->a[4], r->franchise_cents);
		pgarray_int(&wa->a[5], r->amo_paid_cents);
		pgarray_int(&wa->a[6], r->amc_cents);
		pgarray_int(&wa->a[7], r->forfait_cents);
		pgarray_int(&wa->a[8], r->rac_cents);
		pgarray_text(&wa->a[9], rules);
		pgarray_text(&wa->a[10], w->fv[i]->code);
		pgarray_int(&wa->a[11], w->fv[i]->version);
		pgarray_text(&wa->a[12], w->a->lines[i]->category);
		pgarray_text(&wa->a[13], w->a->lines[i]->care_date);
		pgarray_int(&wa->a[14], r->forfait_cents > 0 ? w->lines[i].quantity : 0);
		pgarray_int(&wa->a[15],
			    rules_history_equipment_default(w->lines[i].category, r->amc_cents));
	}
	for (int k = 0; k < 16; k++)
		pgarray_finish(&wa->a[k]);
}

struct outcome {
	const char *status;
	Claims__Outcome code;
	char reason[1024];
	int64_t charged, amo_paid, amc, rac;
};

static void summarise(const struct claim_work *w, struct outcome *o)
{
	size_t decided = 0, used = 0;

	memset(o, 0, sizeof(*o));
	for (size_t i = 0; i < w->n; i++) {
		if (w->fv[i] != NULL) {
			decided++;
			o->charged += w->results[i].charged_cents;
			o->amo_paid += w->results[i].amo_paid_cents;
			o->amc += w->results[i].amc_cents;
			o->rac += w->results[i].rac_cents;
		} else if (used + 1 < sizeof(o->reason)) {
			used += (size_t)snprintf(o->reason + used, sizeof(o->reason) - used,
						 "%sline %u: %s", used ? "; " : "",
						 w->a->lines[i]->line_no, w->errors[i]);
		}
	}
	o->status = decided == w->n ? "complete" : decided > 0 ? "partial" : "error";
	o->code = decided == w->n ? CLAIMS__OUTCOME__OUTCOME_COMPLETE
		  : decided > 0	  ? CLAIMS__OUTCOME__OUTCOME_PARTIAL
				  : CLAIMS__OUTCOME__OUTCOME_ERROR;
}

static int pack_event(const struct claim_work *w, const struct outcome *o, const char *trace_id,
		      char *event_id, uint8_t **buf, size_t *len)
{
	Claims__ReimbursementComputed ev = CLAIMS__REIMBURSEMENT_COMPUTED__INIT;
	Claims__LineDecision *d = xcalloc(w->n, sizeof(*d)), **dp = xcalloc(w->n, sizeof(*dp));
	char **names = xcalloc(w->n * RULES_TRACE_MAX + 1, sizeof(*names));
	int status;

	ev.claim_id = w->a->claim_id;
	ev.has_contract_id = ev.has_beneficiary_id = ev.has_outcome = 1;
	ev.contract_id = w->a->contract_id;
	ev.beneficiary_id = w->a->beneficiary_id;
	ev.outcome = o->code;
	ev.membership_number = w->a->membership_number;
	ev.external_id = w->a->external_id;
	ev.source = w->a->source;
	ev.has_total_charged_cents = ev.has_total_amo_paid_cents = 1;
	ev.has_total_amc_cents = ev.has_total_rac_cents = 1;
	ev.total_charged_cents = o->charged;
	ev.total_amo_paid_cents = o->amo_paid;
	ev.total_amc_cents = o->amc;
	ev.total_rac_cents = o->rac;
	for (size_t i = 0; i < w->n; i++) {
		const struct rules_line_result *r = &w->results[i];
		Claims__LineDecision *x = &d[i];

		claims__line_decision__init(x);
		dp[i] = x;
		x->has_line_no = 1;
		x->line_no = w->a->lines[i]->line_no;
		x->line_ref = w->a->lines[i]->line_ref;
		if (w->fv[i] == NULL) {
			x->error = (char *)w->errors[i];
			continue;
		}
		x->has_charged_cents = x->has_amo_gross_cents = x->has_pf_cents = 1;
		x->has_franchise_cents = x->has_amo_paid_cents = x->has_amc_cents = 1;
		x->has_forfait_cents = x->has_rac_cents = 1;
		x->charged_cents = r->charged_cents;
		x->amo_gross_cents = r->amo_gross_cents;
		x->pf_cents = r->pf_cents;
		x->franchise_cents = r->franchise_cents;
		x->amo_paid_cents = r->amo_paid_cents;
		x->amc_cents = r->amc_cents;
		x->forfait_cents = r->forfait_cents;
		x->rac_cents = r->rac_cents;
		x->n_rules = r->n_rules;
		x->rules = &names[i * RULES_TRACE_MAX];
		for (int k = 0; k < r->n_rules; k++)
			x->rules[k] = (char *)rules_rule_name(r->rules[k]);
	}
	ev.n_lines = w->n;
	ev.lines = dp;
	status = envelope_pack(CLAIMS__MESSAGE_TYPE__REIMBURSEMENT_COMPUTED, &ev.base, trace_id,
			       "reimburse", event_id, buf, len);
	free(names);
	free(dp);
	free(d);
	return status;
}

static int write_decision(struct pg *db, const struct claim_work *w, const char *trace_id)
{
	char beneficiary[24], contract[24], amount[24], msg_type[8], event_id[UUID_STR_LEN];
	struct write_arrays wa;
	struct outcome o;
	uint8_t *event;
	size_t event_len;
	int status, professional = w->a->payee == CLAIMS__PAYEE__PAYEE_PROFESSIONAL;

	summarise(w, &o);
	if (pack_event(w, &o, trace_id, event_id, &event, &event_len) != OK)
		return ERR;
	snprintf(beneficiary, sizeof(beneficiary), "%" PRId64, w->a->beneficiary_id);
	snprintf(contract, sizeof(contract), "%" PRId64, w->a->contract_id);
	snprintf(amount, sizeof(amount), "%" PRId64, o.amc);
	snprintf(msg_type, sizeof(msg_type), "%d", CLAIMS__MESSAGE_TYPE__REIMBURSEMENT_COMPUTED);
	fill_arrays(w, &wa);
	{
		const char *v[27] = {w->a->claim_id};
		int lengths[27] = {0}, formats[27] = {0};

		for (int k = 0; k < 12; k++)
			v[1 + k] = wa.a[k].buf;
		v[13] = beneficiary;
		v[14] = wa.a[12].buf;
		v[15] = wa.a[13].buf;
		v[16] = wa.a[14].buf;
		v[17] = wa.a[15].buf;
		v[18] = o.status;
		v[19] = o.reason[0] ? o.reason : NULL;
		v[20] = professional ? "professional" : "member";
		v[21] = professional ? w->a->professional_id : w->a->membership_number;
		v[22] = amount;
		v[23] = event_id;
		v[24] = contract;
		v[25] = msg_type;
		v[26] = (const char *)event;
		lengths[26] = (int)event_len;
		formats[26] = 1;
		status = pg_exec_prepared(db, "reimburse_write", 27, v, lengths, formats, NULL);
	}
	for (int k = 0; k < 16; k++)
		pgarray_free(&wa.a[k]);
	free(event);
	if (status == OK)
		metric_add(metric_counter(o.code == CLAIMS__OUTCOME__OUTCOME_COMPLETE
						  ? "reimburse_claims_total{outcome=\"complete\"}"
					  : o.code == CLAIMS__OUTCOME__OUTCOME_PARTIAL
						  ? "reimburse_claims_total{outcome=\"partial\"}"
						  : "reimburse_claims_total{outcome=\"error\"}",
					  "Claims decided, by outcome"),
			   1);
	return status;
}

/* 1 when the claim waits for its decision, 0 when decided already or
 * unknown (poison set), ERR on a database failure. */
static int lock_claim(struct pg *db, const char *claim_id, char *formula_code, size_t len,
		      char *poison, size_t poison_len)
{
	const char *v[1] = {claim_id};
	PGresult *res;
	int queued;

	if (pg_exec_prepared(db, "reimburse_lock", 1, v, NULL, NULL, &res) != OK)
		return ERR;
	if (PQntuples(res) == 0) {
		PQclear(res);
		snprintf(poison, poison_len, "claim %s not found", claim_id);
		return 0;
	}
	queued = strcmp(PQgetvalue(res, 0, 0), "queued") == 0;
	snprintf(formula_code, len, "%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	return queued;
}

int reimburse_claim(struct reimburse_ctx *ctx, struct pg *db, const Claims__ClaimAccepted *a,
		    const char *trace_id, char *poison, size_t poison_len)
{
	char formula_code[64];
	struct claim_work w;
	int queued, status;

	poison[0] = '\0';
	if (a->claim_id == NULL || !uuid_valid(a->claim_id) || a->birth_date == NULL ||
	    a->n_lines == 0) {
		snprintf(poison, poison_len, "ClaimAccepted without claim id, birth date or lines");
		return OK;
	}
	queued =
		lock_claim(db, a->claim_id, formula_code, sizeof(formula_code), poison, poison_len);
	if (queued != 1) {
		if (queued == 0 && poison[0] == '\0')
			metric_add(metric_counter("reimburse_redelivered_total",
						  "Claims found decided already (redelivery)"),
				   1);
		return queued == 0 ? OK : ERR;
	}
	if (prepare_work(ctx, a, formula_code, &w) != OK) {
		snprintf(poison, poison_len, "malformed birth date %s", a->birth_date);
		work_free(&w);
		return OK;
	}
	status = load_history(db, &w);
	if (status == OK) {
		compute_all(ctx->params, &w);
		status = write_decision(db, &w, trace_id);
	}
	work_free(&w);
	return status;
}
