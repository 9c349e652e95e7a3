/*
 * NAME
 *	tpgate_requests.c - what each request of a professional does
 *
 * DESCRIPTION
 *	SESSION_OPEN, ELIGIBILITY, QUOTE, INVOICE, INVOICE_STATUS, called
 *	with the request decoded and admitted (tpgate_front.c): the
 *	checks of each request, the rights of the beneficiary, the answer,
 *	or the hand-over to a worker behind and, later, the answer from its
 *	reply (tp_invoice_done; a quote worker answers the professional
 *	directly).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/envelope.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/xalloc.h"
#include "common/zsock.h"
#include "rules/rules.h"
#include "intake/intake.h"
#include "tpgate/tpgate.h"

/* ---- admission ----------------------------------------------------------------------- */

/* The verdict of the admission check; OK: go on, ERR: answered. */
static int admitted(struct tpgate *g, struct request *rq)
{
	const char *refusal = rq->adm->refusal;

	if (rq->adm->status != OK) {
		FAIL(rq, "UNAVAILABLE", "sessions cannot be checked now; retry later");
		return ERR;
	}
	if (refusal == NULL)
		return OK;
	if (strcmp(refusal, "RATE_LIMITED") == 0)
		FAIL(rq, refusal, "more than %ld requests in one second", g->limits.rate_limit);
	else if (strcmp(refusal, "NO_SESSION") == 0)
		FAIL(rq, refusal, "unknown or expired session; open a new one");
	else
		FAIL(rq, refusal, "request id %s was already used", rq->request_id);
	return ERR;
}

int tp_text_ok(const char *s, size_t max)
{
	return s != NULL && s[0] != '\0' && strlen(s) <= max && utf8_valid(s);
}

/* The care date of a request, or today when absent (CLAIMS_TP_TIMEZONE's
 * today: metropolitan France's by default). */
static int care_day(const char *iso, int32_t *day)
{
	if (iso == NULL || iso[0] == '\0') {
		*day = date_today_local();
		return OK;
	}
	return date_parse(iso, day);
}

static int beneficiary_ok(struct tpgate *g, struct request *rq, const Claims__BeneficiaryRef *b)
{
	if (b == NULL || b->membership_number == NULL || b->membership_number[0] == '\0') {
		FAIL(rq, "MISSING_FIELD", "beneficiary.membership_number is required");
		return ERR;
	}
	if (!tp_text_ok(b->membership_number, 32)) {
		FAIL(rq, "INVALID_FIELD", "beneficiary.membership_number: 1 to 32 bytes of UTF-8");
		return ERR;
	}
	if (b->birth_date != NULL && b->birth_date[0] != '\0') {
		int32_t day;

		if (date_parse(b->birth_date, &day) != OK) {
			FAIL(rq, "INVALID_FIELD", "beneficiary.birth_date is not YYYY-MM-DD");
			return ERR;
		}
	}
	return OK;
}

static int rights_of(struct tpgate *g, struct request *rq, const char *number,
		     Claims__RightsSnapshot **snap)
{
	if (tp_rights_get(g->rights, number, rq->adm->rights, snap) != OK) {
		FAIL(rq, "UNAVAILABLE", "rights cannot be read now; retry later");
		return ERR;
	}
	return OK;
}

/* ---- SESSION_OPEN ------------------------------------------------------------------------ */

/* A session set, then refused: it must not outlive the refusal. */
static void end_session(struct tpgate *g, const struct request *rq, const char token[65])
{
	if (tp_session_end(g->redis, &rq->who, token) != OK)
		log_error("a refused session of professional %lld could not be ended; it expires"
			  " in %ld s unless used",
			  (long long)rq->who.ref, g->limits.session_ttl_s);
}

static void handle_session_open(struct tpgate *g, struct request *rq)
{
	Claims__SessionOpenRequest *m = (Claims__SessionOpenRequest *)rq->msg;
	Claims__SessionOpenReply r = CLAIMS__SESSION_OPEN_REPLY__INIT;
	char ref[24], token[65];
	const char *v[2] = {ref, rq->who.key};
	PGresult *res;
	int active;

	if (admitted(g, rq) != OK)
		return;
	if (m->professional_id != NULL && m->professional_id[0] != '\0' &&
	    strcmp(m->professional_id, rq->who.value) != 0) {
		FAIL(rq, "IDENTITY_MISMATCH", "this key belongs to %s %s", rq->who.kind,
		     rq->who.value);
		return;
	}
	r.request_id = rq->request_id;
	r.session_token = token;
	r.has_expires_at_us = 1;
	if (tp_session_create(g->redis, &g->limits, &rq->who, token, &r.expires_at_us) != OK) {
		FAIL(rq, "UNAVAILABLE", "sessions cannot be opened now; retry later");
		return;
	}
	/* The handshake was checked when the connection opened; a key
	 * revoked or replaced since then must not open new sessions. The
	 * session is set first, then the key checked: a revocation that
	 * commits after this read ends the sessions after it, this one
	 * included; one committed before it is seen here. */
	snprintf(ref, sizeof(ref), "%lld", (long long)rq->who.ref);
	if (pg_exec_prepared(g->db, "tp_professional_active", 2, v, NULL, NULL, &res) != OK) {
		end_session(g, rq, token);
		FAIL(rq, "UNAVAILABLE", "the professional cannot be checked now; retry later");
		return;
	}
	active = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (!active) {
		end_session(g, rq, token);
		FAIL(rq, "NOT_AUTHORISED",
		     "key revoked or replaced, or tiers-payant agreement ended");
		return;
	}
	tp_reply(g, &rq->route, rq->env.trace_id, CLAIMS__MESSAGE_TYPE__SESSION_OPEN_REPLY,
		 &r.base);
	tp_observe(rq->kind, rq->received_us);
}

/* ---- ELIGIBILITY ---------------------------------------------------------------------------- */

static void handle_eligibility(struct tpgate *g, struct request *rq)
{
	Claims__EligibilityRequest *m = (Claims__EligibilityRequest *)rq->msg;
	Claims__EligibilityReply r = CLAIMS__ELIGIBILITY_REPLY__INIT;
	Claims__RightsSnapshot *snap = NULL;
	char from[DATE_STR_LEN], to[DATE_STR_LEN];
	const char *domains[64];
	struct tp_rights rights;
	int32_t day;

	if (admitted(g, rq) != OK || beneficiary_ok(g, rq, m->beneficiary) != OK)
		goto out;
	if (care_day(m->care_date, &day) != OK) {
		FAIL(rq, "INVALID_FIELD", "care_date is not YYYY-MM-DD");
		goto out;
	}
	if (rights_of(g, rq, m->beneficiary->membership_number, &snap) != OK)
		goto out;
	tp_rights_evaluate(snap, m->beneficiary, day, &rights);
	r.request_id = rq->request_id;
	r.has_rights_open = 1;
	r.rights_open = rights.open;
	r.reason = (char *)rights.reason;
	if (rights.contract != NULL) {
		r.has_responsible = 1;
		r.responsible = rights.contract->responsible;
		r.amc_number = rights.contract->amc_number;
		/* None for rights that covered no day (a contract cancelled
		 * before it began, suspended from before it began): its last
		 * day would come before its first. */
		if (rights.has_validity) {
			date_format(rights.valid_from, from);
			date_format(rights.valid_to, to);
			r.valid_from = from;
			r.valid_to = to;
		}
		if (rights.open) {
			r.n_domains = tp_catalog_domains(g->rights, rights.contract->formula_code,
							 day, domains, 64);
			r.domains = (char **)domains;
		}
	}
	tp_reply(g, &rq->route, rq->env.trace_id, CLAIMS__MESSAGE_TYPE__ELIGIBILITY_REPLY, &r.base);
	tp_observe(rq->kind, rq->received_us);
out:
	claims__rights_snapshot__free_unpacked(snap, NULL);
}

/* ---- QUOTE -------------------------------------------------------------------------------- */

/* A quote's line is judged as intake judges an invoice's (date,
 * category, ranges, sizes, optics, amounts against each other), care to
 * come allowed: a quote accepted here must not become an invoice refused
 * there. */
static int line_ok(struct tpgate *g, struct request *rq, const Claims__ClaimLine *l, size_t i)
{
	struct intake_outcome verdict;

	memset(&verdict, 0, sizeof(verdict));
	if (intake_check_line(l, (int)i, INT32_MAX, &verdict) != OK) {
		FAIL(rq, "INVALID_LINE", "%s: %s", verdict.field, verdict.message);
		return ERR;
	}
	return OK;
}

/* Every line's date must fall in open rights of one beneficiary. */
static int lines_covered(struct tpgate *g, struct request *rq, const Claims__RightsSnapshot *snap,
			 const Claims__BeneficiaryRef *ref, Claims__ClaimLine **lines, size_t n,
			 struct tp_rights *rights)
{
	for (size_t i = 0; i < n; i++) {
		struct tp_rights r;
		int32_t day;

		if (line_ok(g, rq, lines[i], i) != OK)
			return ERR;
		if (date_parse(lines[i]->care_date, &day) != OK)
			return ERR;
		tp_rights_evaluate(snap, ref, day, &r);
		if (!r.open) {
			FAIL(rq, r.reason ? r.reason : "NOT_COVERED",
			     "lines[%zu].care_date %s: rights not open", i, lines[i]->care_date);
			return ERR;
		}
		/* Open, under another contract (a change on 1 January): a
		 * quote, like a claim, is one contract's. */
		if (i > 0 && r.beneficiary != rights->beneficiary) {
			FAIL(rq, "SPANS_CONTRACTS",
			     "lines[%zu].care_date %s is another contract's than line 1's:"
			     " one quote per contract",
			     i, lines[i]->care_date);
			return ERR;
		}
		if (i == 0)
			*rights = r;
	}
	return OK;
}

/* Lines as the engine gets them: numbered, without unknown fields. */
static Claims__ClaimLine **copy_lines(Claims__ClaimLine **in, size_t n, Claims__ClaimLine *store)
{
	Claims__ClaimLine **out = xcalloc(n + 1, sizeof(*out));

	for (size_t i = 0; i < n; i++) {
		store[i] = *in[i];
		store[i].base.n_unknown_fields = 0;
		store[i].base.unknown_fields = NULL;
		store[i].has_line_no = 1;
		store[i].line_no = (uint32_t)(i + 1);
		out[i] = &store[i];
	}
	return out;
}

/* A slot for a request handed to a worker behind; NULL (and the client
 * told BUSY) when too many are in flight. */
static struct tp_pending *pending_for(struct tpgate *g, struct request *rq,
				      Claims__MessageType kind)
{
	int owner_full;
	struct tp_pending *p = tp_pending_new(g->backends, kind, g->backend_timeout_ms, rq->who.ref,
					      g->max_in_flight_per_pro, &owner_full);

	if (p == NULL && owner_full) {
		FAIL(rq, "BUSY",
		     "%d of your requests are in flight already; wait for their answers",
		     g->max_in_flight_per_pro);
		return NULL;
	}
	if (p == NULL) {
		FAIL(rq, "BUSY", "too many requests in flight; retry shortly");
		return NULL;
	}
	p->route = rq->route;
	p->received_us = rq->received_us;
	snprintf(p->request_id, sizeof(p->request_id), "%s", rq->request_id);
	snprintf(p->trace_id, sizeof(p->trace_id), "%s", rq->env.trace_id ? rq->env.trace_id : "");
	return p;
}

/* Hand msg over in an envelope of the given type; the client is told
 * UNAVAILABLE (why) when no worker can take it. */
static void hand_over(struct tpgate *g, struct request *rq, struct tp_pending *p,
		      Claims__MessageType type, const ProtobufCMessage *msg, const char *why)
{
	char id[UUID_STR_LEN];
	uint8_t *buf = NULL;
	size_t len = 0;

	if (envelope_pack(type, msg, rq->env.trace_id, "tpgate", id, &buf, &len) != OK ||
	    tp_pending_send(g->backends, p, buf, len) != OK) {
		tp_pending_release(g->backends, p);
		FAIL(rq, "UNAVAILABLE", "%s", why);
	}
	free(buf);
}

static void send_quote(struct tpgate *g, struct request *rq, const Claims__QuoteRequest *m,
		       const struct tp_rights *rights)
{
	Claims__QuoteCompute q = CLAIMS__QUOTE_COMPUTE__INIT;
	Claims__ClaimAccepted a = CLAIMS__CLAIM_ACCEPTED__INIT;
	struct tp_pending *p = pending_for(g, rq, CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST);
	Claims__ClaimLine *store;

	if (p == NULL)
		return;
	store = xcalloc(m->n_lines + 1, sizeof(*store));
	uuid_v7(p->quote_id);
	date_format(date_today_local() + (int32_t)g->quote_days, p->valid_until);
	a.claim_id = p->quote_id;
	a.has_contract_id = a.has_beneficiary_id = a.has_payee = 1;
	a.contract_id = rights->contract->contract_id;
	a.beneficiary_id = rights->beneficiary->beneficiary_id;
	a.birth_date = rights->beneficiary->birth_date;
	a.n_exemptions = rights->beneficiary->n_exemptions;
	a.exemptions = rights->beneficiary->exemptions;
	a.payee = CLAIMS__PAYEE__PAYEE_PROFESSIONAL;
	a.professional_id = rq->who.value;
	a.membership_number = m->beneficiary->membership_number;
	a.source = "tiers-payant quote";
	a.n_lines = m->n_lines;
	a.lines = copy_lines(m->lines, m->n_lines, store);
	q.claim = &a;
	q.formula_code = rights->contract->formula_code;
	q.has_professional_ref = 1;
	q.professional_ref = rq->who.ref;
	q.valid_until = p->valid_until;
	q.request_id = p->request_id;
	hand_over(g, rq, p, CLAIMS__MESSAGE_TYPE__QUOTE_COMPUTE, &q.base,
		  "no reimbursement worker is available; retry later");
	free(a.lines);
	free(store);
}

static void handle_quote(struct tpgate *g, struct request *rq)
{
	Claims__QuoteRequest *m = (Claims__QuoteRequest *)rq->msg;
	Claims__RightsSnapshot *snap = NULL;
	struct tp_rights rights = {0};

	if (admitted(g, rq) != OK || beneficiary_ok(g, rq, m->beneficiary) != OK)
		goto out;
	if (m->n_lines == 0 || m->n_lines > TP_MAX_LINES) {
		FAIL(rq, "INVALID_FIELD", "a quote has 1 to %d lines", TP_MAX_LINES);
		goto out;
	}
	if (rights_of(g, rq, m->beneficiary->membership_number, &snap) != OK ||
	    lines_covered(g, rq, snap, m->beneficiary, m->lines, m->n_lines, &rights) != OK)
		goto out;
	send_quote(g, rq, m, &rights);
out:
	claims__rights_snapshot__free_unpacked(snap, NULL);
}

/* ---- INVOICE -------------------------------------------------------------------------------- */

static void invoice_refused(struct tpgate *g, struct request *rq, const char *code,
			    const char *message)
{
	Claims__InvoiceReply r = CLAIMS__INVOICE_REPLY__INIT;

	r.request_id = rq->request_id;
	r.has_accepted = 1;
	r.reason_code = (char *)code;
	r.field = "beneficiary";
	r.message = (char *)message;
	tp_reply(g, &rq->route, rq->env.trace_id, CLAIMS__MESSAGE_TYPE__INVOICE_REPLY, &r.base);
	tp_observe(rq->kind, rq->received_us);
}

/* Does the invoice name one person? A rank alone is taken as given, and
 * so is nothing (the subscriber). With a birth date, the invoice goes to
 * intake with it and the rank as the professional gave them: intake
 * names the person by the same rule as the front door here
 * (common/beneficiary.h, through tp_rights_evaluate()), on the same
 * rows; the rank on this year's card names a person, not the row of
 * that rank on last year's contract, a sibling's. (Sending the rank of
 * the row found here instead would name, to the chooser, whoever holds
 * that rank on another contract: a twin, renumbered.) What the member's
 * snapshot shows cannot name one person (nobody, a mismatch, twins) is
 * refused here, nothing recorded. ERR: refused. */
static int invoice_beneficiary(struct tpgate *g, struct request *rq,
			       const Claims__InvoiceRequest *m)
{
	const Claims__BeneficiaryRef *b = m->beneficiary;
	int has_rank = b->has_rank && b->rank > 0;
	int has_birth = b->birth_date != NULL && b->birth_date[0] != '\0';
	Claims__RightsSnapshot *snap = NULL;
	struct tp_rights rights;
	int status = OK;
	int32_t day;

	if (!has_birth)
		return OK;
	if (rights_of(g, rq, b->membership_number, &snap) != OK)
		return ERR;
	if (m->lines[0]->care_date == NULL || date_parse(m->lines[0]->care_date, &day) != OK)
		day = date_today_local();
	tp_rights_evaluate(snap, b, day, &rights);
	/* Nobody by a birth date (alone, or with a rank that does not
	 * exist): never the subscriber instead, who would be billed for
	 * care of someone the member does not cover. */
	if (rights.beneficiary == NULL) {
		invoice_refused(g, rq, rights.reason,
				has_rank ? "the beneficiary's rank and birth date do not designate"
					   " one person"
					 : "the birth date does not designate one person");
		status = ERR;
	}
	claims__rights_snapshot__free_unpacked(snap, NULL);
	return status;
}

static void send_invoice(struct tpgate *g, struct request *rq, const Claims__InvoiceRequest *m)
{
	const Claims__BeneficiaryRef *b = m->beneficiary;
	Claims__ClaimSubmitted s = CLAIMS__CLAIM_SUBMITTED__INIT;
	struct tp_pending *p = pending_for(g, rq, CLAIMS__MESSAGE_TYPE__INVOICE_REQUEST);
	Claims__ClaimLine *store;
	char source[64];

	if (p == NULL)
		return;
	store = xcalloc(m->n_lines + 1, sizeof(*store));
	snprintf(source, sizeof(source), "tp:%s:%s", rq->who.kind, rq->who.value);
	s.has_source_kind = s.has_payee = 1;
	s.source_kind = CLAIMS__CLAIM_SOURCE__CLAIM_SOURCE_TIERS_PAYANT;
	s.source = source;
	s.external_id = m->invoice_id;
	s.membership_number = m->beneficiary->membership_number;
	/* Neither rank nor birth date: the subscriber, intake's default. */
	s.has_beneficiary_rank = b->has_rank && b->rank > 0;
	s.beneficiary_rank = s.has_beneficiary_rank ? b->rank : 0;
	s.beneficiary_birth_date = b->birth_date != NULL && b->birth_date[0] ? b->birth_date : NULL;
	s.professional_id = rq->who.value;
	s.professional_kind = rq->who.kind;
	s.payee = CLAIMS__PAYEE__PAYEE_PROFESSIONAL;
	s.quote_id = m->quote_id;
	s.n_lines = m->n_lines;
	s.lines = copy_lines(m->lines, m->n_lines, store);
	for (size_t i = 0; i < s.n_lines; i++)
		s.lines[i]->has_line_no = 0; /* intake numbers the lines */
	hand_over(g, rq, p, CLAIMS__MESSAGE_TYPE__CLAIM_SUBMITTED, &s.base,
		  "invoices cannot be recorded now; retry later");
	free(s.lines);
	free(store);
}

static void handle_invoice(struct tpgate *g, struct request *rq)
{
	Claims__InvoiceRequest *m = (Claims__InvoiceRequest *)rq->msg;
	if (admitted(g, rq) != OK || beneficiary_ok(g, rq, m->beneficiary) != OK)
		return;
	if (!tp_text_ok(m->invoice_id, 64)) {
		FAIL(rq, "MISSING_FIELD", "invoice_id (1 to 64 bytes of UTF-8) is required");
		return;
	}
	if (m->n_lines == 0 || m->n_lines > TP_MAX_LINES) {
		FAIL(rq, "INVALID_FIELD", "an invoice has 1 to %d lines", TP_MAX_LINES);
		return;
	}
	if (invoice_beneficiary(g, rq, m) == OK)
		send_invoice(g, rq, m);
}

void tp_invoice_done(struct tpgate *g, struct tp_pending *p, const struct envelope *env)
{
	Claims__InvoiceReply r = CLAIMS__INVOICE_REPLY__INIT;
	Claims__SubmitReply *s =
		env->type == CLAIMS__MESSAGE_TYPE__SUBMIT_REPLY
			? claims__submit_reply__unpack(NULL, env->payload_len, env->payload)
			: NULL;

	if (s == NULL) {
		tp_reply_error(g, &p->route, p->trace_id, p->request_id, "INTERNAL",
			       "intake's answer did not decode");
		return;
	}
	r.request_id = p->request_id;
	r.has_accepted = r.has_duplicate = 1;
	r.accepted = s->status == CLAIMS__SUBMIT_STATUS__SUBMIT_ACCEPTED;
	r.duplicate = s->duplicate;
	r.has_content_differs = s->content_differs;
	r.content_differs = s->content_differs;
	r.claim_id = s->claim_id;
	r.reason_code = s->reason_code;
	r.field = s->field;
	r.message = s->message;
	tp_reply(g, &p->route, p->trace_id, CLAIMS__MESSAGE_TYPE__INVOICE_REPLY, &r.base);
	claims__submit_reply__free_unpacked(s, NULL);
}

/* ---- INVOICE_STATUS ------------------------------------------------------------------------- */

/* One claim of an invoice (a row of tp_invoice_status). An
 * InvoiceComplement has the fields of the reply's own claim. */
static void read_status(Claims__InvoiceComplement *st, PGresult *res, int row)
{
	const char *claim_status = PQgetvalue(res, row, 1);

	claims__invoice_complement__init(st);
	st->claim_id = PQgetisnull(res, row, 0) ? NULL : PQgetvalue(res, row, 0);
	st->payment_status = PQgetisnull(res, row, 3) ? NULL : PQgetvalue(res, row, 3);
	if (strcmp(claim_status, "queued") == 0) {
		st->status = "queued";
	} else if (strcmp(claim_status, "rejected") == 0 || strcmp(claim_status, "error") == 0) {
		st->status = "rejected";
		st->reason_code = strcmp(claim_status, "error") == 0 ? "NOT_DECIDED"
								     : PQgetvalue(res, row, 2);
		st->message = PQgetvalue(res, row, 5);
	} else {
		st->status = st->payment_status != NULL && strcmp(st->payment_status, "paid") == 0
				     ? "paid"
				     : "computed";
		st->has_amc_cents = 1;
		st->amc_cents = strtoll(PQgetvalue(res, row, 4), NULL, 10);
		if (strcmp(claim_status, "partial") == 0)
			st->message = PQgetvalue(res, row, 5);
	}
}

/* The invoice's claim (row 0), then the claims completing it, in order. */
static void status_reply(struct tpgate *g, struct request *rq, PGresult *res)
{
	Claims__InvoiceStatusReply r = CLAIMS__INVOICE_STATUS_REPLY__INIT;
	Claims__InvoiceComplement rows[TP_STATUS_MAX_CHAIN + 1];
	Claims__InvoiceComplement *complements[TP_STATUS_MAX_CHAIN];
	int n = PQntuples(res) < TP_STATUS_MAX_CHAIN + 1 ? PQntuples(res) : TP_STATUS_MAX_CHAIN + 1;

	for (int i = 0; i < n; i++) {
		read_status(&rows[i], res, i);
		if (i > 0)
			complements[i - 1] = &rows[i];
	}
	r.request_id = rq->request_id;
	r.claim_id = rows[0].claim_id;
	r.status = rows[0].status;
	r.reason_code = rows[0].reason_code;
	r.payment_status = rows[0].payment_status;
	r.message = rows[0].message;
	r.has_amc_cents = rows[0].has_amc_cents;
	r.amc_cents = rows[0].amc_cents;
	r.n_complements = (size_t)(n - 1);
	r.complements = complements;
	tp_reply(g, &rq->route, rq->env.trace_id, CLAIMS__MESSAGE_TYPE__INVOICE_STATUS_REPLY,
		 &r.base);
	tp_observe(rq->kind, rq->received_us);
}

static void handle_status(struct tpgate *g, struct request *rq)
{
	Claims__InvoiceStatusRequest *m = (Claims__InvoiceStatusRequest *)rq->msg;
	char source[64];
	const char *v[2] = {source, NULL};
	PGresult *res;

	if (admitted(g, rq) != OK)
		return;
	if (!tp_text_ok(m->invoice_id, 64)) {
		FAIL(rq, "MISSING_FIELD", "invoice_id (1 to 64 bytes of UTF-8) is required");
		return;
	}
	snprintf(source, sizeof(source), "tp:%s:%s", rq->who.kind, rq->who.value);
	v[1] = m->invoice_id;
	if (pg_exec_prepared(g->db, "tp_invoice_status", 2, v, NULL, NULL, &res) != OK) {
		FAIL(rq, "UNAVAILABLE", "invoices cannot be read now; retry later");
		return;
	}
	if (PQntuples(res) == 0)
		FAIL(rq, "UNKNOWN_INVOICE", "no invoice %s from %s %s", m->invoice_id, rq->who.kind,
		     rq->who.value);
	else
		status_reply(g, rq, res);
	PQclear(res);
}

void tp_dispatch(struct tpgate *g, struct request *rq)
{
	switch (rq->env.type) {
	case CLAIMS__MESSAGE_TYPE__SESSION_OPEN_REQUEST:
		handle_session_open(g, rq);
		break;
	case CLAIMS__MESSAGE_TYPE__ELIGIBILITY_REQUEST:
		handle_eligibility(g, rq);
		break;
	case CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST:
		handle_quote(g, rq);
		break;
	case CLAIMS__MESSAGE_TYPE__INVOICE_REQUEST:
		handle_invoice(g, rq);
		break;
	default:
		handle_status(g, rq);
		break;
	}
}
