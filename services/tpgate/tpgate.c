/*
 * NAME
 *	tpgate - the tiers-payant front door for health professionals
 *
 * SYNOPSIS
 *	tpgate [--help] [--version]
 *
 * DESCRIPTION
 *	Pharmacies, opticians, dentists and hospitals ask, for the patient
 *	in front of them: are the rights open (ELIGIBILITY), how much will
 *	the mutuelle pay (QUOTE), pay me this invoice (INVOICE), where is my
 *	invoice (INVOICE_STATUS). They connect to one ZeroMQ ROUTER socket
 *	secured with CURVE; only registered, active keys of professionals
 *	with a tiers-payant agreement get in (tpgate_zap.c).
 *
 *	One thread serves the socket without ever waiting on a slow
 *	neighbour: ELIGIBILITY is answered from Redis (PostgreSQL on a
 *	miss); a QUOTE is handed to the reimbursement workers and an INVOICE
 *	to intake over ZeroMQ, and their replies are relayed when they come
 *	(tpgate_backend.c). Each request first passes the admission check
 *	in Redis: rate limit, session, replay (tpgate_admit.c).
 *
 *	The daemon also consumes contracts.changed (group CLAIMS_TP_GROUP)
 *	to drop the cached rights of a member whose contract changed.
 *
 *	The protocol is in docs/tiers-payant.md.
 *
 * DIAGNOSTICS
 *	JSON log lines on stderr; metrics and /health on CLAIMS_METRICS_ADDR.
 *	Every refused request is answered with an ErrorReply and counted in
 *	tpgate_errors_total{code}.
 */
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/daemon.h"
#include "common/envelope.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/worker.h"
#include "common/xalloc.h"
#include "common/zsock.h"
#include "proto/member.pb-c.h"
#include "rules/rules.h"
#include "tpgate/tpgate.h"

static struct {
	char *pg_dsn, *redis_url, *brokers, *metrics_addr, *endpoint, *secret_key;
	char *quote_endpoint, *intake_endpoint, *group;
	long session_ttl, replay_window, rate_limit, rights_ttl, quote_days;
	long backend_timeout_ms, max_in_flight, max_request_bytes;
} cfg;

/* clang-format off */
static const struct config_entry config_table[] = {
	CONFIG_PG_DSN(&cfg.pg_dsn),
	CONFIG_REDIS_URL(&cfg.redis_url),
	CONFIG_KAFKA_BROKERS(&cfg.brokers),
	CONFIG_METRICS_ADDR(&cfg.metrics_addr, "127.0.0.1:9103"),
	{"CLAIMS_TP_ENDPOINT", CONFIG_STRING, &cfg.endpoint, "tcp://127.0.0.1:5702", 0, 0,
	 "ZeroMQ endpoint professionals connect to (CURVE)"},
	{"CLAIMS_TP_SERVER_SECRET", CONFIG_STRING, &cfg.secret_key, "", 0, 0,
	 "the front door's CURVE secret key, 40 Z85 characters (required;"
	 " `claimctl tp keygen` makes a pair)"},
	{"CLAIMS_TP_QUOTE_ENDPOINT", CONFIG_STRING, &cfg.quote_endpoint, "tcp://127.0.0.1:5703",
	 0, 0, "endpoint bound for the reimbursement workers that compute quotes"},
	{"CLAIMS_TP_INTAKE_ENDPOINT", CONFIG_STRING, &cfg.intake_endpoint,
	 "tcp://127.0.0.1:5701", 0, 0, "intake's submission socket, where invoices go"},
	{"CLAIMS_TP_GROUP", CONFIG_STRING, &cfg.group, "tpgate", 0, 0,
	 "Kafka consumer group of contracts.changed (cache invalidation)"},
	{"CLAIMS_TP_SESSION_TTL", CONFIG_INT, &cfg.session_ttl, "900", 1, 86400,
	 "seconds a session lives without being used"},
	{"CLAIMS_TP_REPLAY_WINDOW", CONFIG_INT, &cfg.replay_window, "300", 1, 3600,
	 "seconds a request id is remembered; older requests are refused"},
	{"CLAIMS_TP_RATE_LIMIT", CONFIG_INT, &cfg.rate_limit, "200", 1, 1000000,
	 "requests per second per professional"},
	{"CLAIMS_TP_RIGHTS_TTL", CONFIG_INT, &cfg.rights_ttl, "600", 1, 86400,
	 "seconds a member's rights stay cached in Redis"},
	{"CLAIMS_TP_QUOTE_DAYS", CONFIG_INT, &cfg.quote_days, "30", 1, 365,
	 "days a quote stays valid"},
	{"CLAIMS_TP_BACKEND_TIMEOUT_MS", CONFIG_INT, &cfg.backend_timeout_ms, "2000", 10, 60000,
	 "how long a quote or invoice may wait for its worker before TIMEOUT"},
	{"CLAIMS_TP_MAX_IN_FLIGHT", CONFIG_INT, &cfg.max_in_flight, "1024", 1, 65536,
	 "quotes and invoices waiting for a worker at once; beyond: BUSY"},
	{"CLAIMS_TP_MAX_REQUEST_BYTES", CONFIG_INT, &cfg.max_request_bytes, "65536", 1024,
	 1048576, "largest request accepted; a larger one drops the connection"},
	{NULL, 0, NULL, NULL, 0, 0, NULL},
};
/* clang-format on */

struct tpgate {
	void *ctx, *front;
	struct tp_zap *zap;
	struct pg *db;
	struct redis_conn *redis;
	struct tp_rights_store *rights;
	struct tp_backends *backends;
	struct kafka_consumer *changes;
	struct tp_limits limits;
	int64_t changes_at_us;
	struct request *batch; /* TP_BATCH requests being served */
	int64_t expiry_check_us;
};

static struct tpgate state;

#define TP_BATCH 64

/* One request being served. */
struct request {
	struct tp_route route;
	struct tp_identity who;
	struct envelope env;
	char request_id[TP_REQUEST_ID_MAX + 1];
	const char *kind; /* metric label */
	int64_t received_us;
	const char *session_token; /* NULL for SESSION_OPEN */
	const char *membership;	   /* whose rights the request needs, or NULL */
	ProtobufCMessage *msg;	   /* the decoded payload, of the envelope's type */
	struct tp_admission *adm;  /* Redis's verdict, and the cached rights */
	int answered;		   /* refused while being read */
};

/* ---- replies ---------------------------------------------------------------------------- */

/* The latency histogram of a request kind, looked up once. */
static void observe(const char *kind, int64_t started_us)
{
	static const char *kinds[8];
	static struct metric *histograms[8];
	int i = 0;

	while (i < 8 && kinds[i] != NULL && strcmp(kinds[i], kind) != 0)
		i++;
	if (i == 8)
		return;
	if (kinds[i] == NULL) {
		char name[80];

		snprintf(name, sizeof(name), "tpgate_request_seconds{type=\"%s\"}", kind);
		histograms[i] = metric_histogram(name, "Request: received to reply sent");
		kinds[i] = kind;
	}
	metric_observe_us(histograms[i], clock_mono_us() - started_us);
}

static void send_to(struct tpgate *g, const struct tp_route *r, const uint8_t *body, size_t len)
{
	if (zmq_send(g->front, r->id, r->id_len, ZMQ_SNDMORE) < 0 ||
	    (r->delimiter && zmq_send(g->front, "", 0, ZMQ_SNDMORE) < 0) ||
	    zmq_send(g->front, body, len, 0) < 0)
		metric_add(metric_counter("tpgate_undelivered_total",
					  "Replies to professionals that had gone"),
			   1);
}

static void reply(struct tpgate *g, const struct tp_route *r, const char *trace_id,
		  Claims__MessageType type, const ProtobufCMessage *m)
{
	char id[UUID_STR_LEN];
	uint8_t *buf;
	size_t len;

	if (envelope_pack(type, m, trace_id, "tpgate", id, &buf, &len) != OK)
		return;
	send_to(g, r, buf, len);
	free(buf);
}

static void reply_error(struct tpgate *g, const struct tp_route *r, const char *trace_id,
			const char *request_id, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static void reply_error(struct tpgate *g, const struct tp_route *r, const char *trace_id,
			const char *request_id, const char *code, const char *fmt, ...)
{
	Claims__ErrorReply e = CLAIMS__ERROR_REPLY__INIT;
	char message[256], name[96];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	e.request_id = (char *)request_id;
	e.code = (char *)code;
	e.message = message;
	reply(g, r, trace_id, CLAIMS__MESSAGE_TYPE__ERROR_REPLY, &e.base);
	snprintf(name, sizeof(name), "tpgate_errors_total{code=\"%s\"}", code);
	metric_add(metric_counter(name, "Requests answered with an ErrorReply, by code"), 1);
}

#define FAIL(rq, code, ...) \
	reply_error(g, &(rq)->route, (rq)->env.trace_id, (rq)->request_id, code, __VA_ARGS__)

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

static int text_ok(const char *s, size_t max)
{
	return s != NULL && s[0] != '\0' && strlen(s) <= max && utf8_valid(s);
}

/* The care date of a request, or today when absent. */
static int care_day(const char *iso, int32_t *day)
{
	if (iso == NULL || iso[0] == '\0') {
		*day = date_today();
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
	if (!text_ok(b->membership_number, 32)) {
		FAIL(rq, "INVALID_FIELD",
		     "beneficiary.membership_number: 1 to 32 UTF-8 characters");
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

static void handle_session_open(struct tpgate *g, struct request *rq)
{
	Claims__SessionOpenRequest *m = (Claims__SessionOpenRequest *)rq->msg;
	Claims__SessionOpenReply r = CLAIMS__SESSION_OPEN_REPLY__INIT;
	char ref[24], token[65];
	const char *v[1] = {ref};
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
	/* The handshake was checked when the connection opened; a key
	 * revoked since then must not open new sessions. */
	snprintf(ref, sizeof(ref), "%lld", (long long)rq->who.ref);
	if (pg_exec_prepared(g->db, "tp_professional_active", 1, v, NULL, NULL, &res) != OK) {
		FAIL(rq, "UNAVAILABLE", "the professional cannot be checked now; retry later");
		return;
	}
	active = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (!active) {
		FAIL(rq, "NOT_AUTHORISED", "key revoked or tiers-payant agreement ended");
		return;
	}
	r.request_id = rq->request_id;
	r.session_token = token;
	r.has_expires_at_us = 1;
	if (tp_session_create(g->redis, &g->limits, &rq->who, token, &r.expires_at_us) != OK) {
		FAIL(rq, "UNAVAILABLE", "sessions cannot be opened now; retry later");
		return;
	}
	reply(g, &rq->route, rq->env.trace_id, CLAIMS__MESSAGE_TYPE__SESSION_OPEN_REPLY, &r.base);
	observe(rq->kind, rq->received_us);
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
		date_format(rights.valid_from, from);
		date_format(rights.valid_to, to);
		r.valid_from = from;
		r.valid_to = to;
		if (rights.open) {
			r.n_domains = tp_catalog_domains(g->rights, rights.contract->formula_code,
							 day, domains, 64);
			r.domains = (char **)domains;
		}
	}
	reply(g, &rq->route, rq->env.trace_id, CLAIMS__MESSAGE_TYPE__ELIGIBILITY_REPLY, &r.base);
	observe(rq->kind, rq->received_us);
out:
	claims__rights_snapshot__free_unpacked(snap, NULL);
}

/* ---- QUOTE -------------------------------------------------------------------------------- */

static int line_ok(struct tpgate *g, struct request *rq, const Claims__ClaimLine *l, size_t i)
{
	enum rules_category category;
	int32_t day;
	const char *bad = NULL;

	if (l->care_date == NULL || date_parse(l->care_date, &day) != OK)
		bad = "care_date";
	else if (l->category == NULL || rules_category_parse(l->category, &category) != RULES_OK)
		bad = "category";
	else if (!l->has_charged_cents || l->charged_cents < 0 || l->charged_cents > 10000000)
		bad = "charged_cents";
	else if (l->has_brss_cents && (l->brss_cents < 0 || l->brss_cents > 10000000))
		bad = "brss_cents";
	else if (l->quantity == 0 || l->quantity > 999)
		bad = "quantity";
	else if (l->has_amo_rate && l->amo_rate > 100)
		bad = "amo_rate";
	if (bad == NULL)
		return OK;
	FAIL(rq, "INVALID_LINE", "lines[%zu].%s is missing or out of range", i, bad);
	return ERR;
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
		if (!r.open || (i > 0 && r.beneficiary != rights->beneficiary)) {
			FAIL(rq, r.reason ? r.reason : "NOT_COVERED",
			     "lines[%zu].care_date %s: rights not open", i, lines[i]->care_date);
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

static void send_quote(struct tpgate *g, struct request *rq, const Claims__QuoteRequest *m,
		       const struct tp_rights *rights)
{
	Claims__QuoteCompute q = CLAIMS__QUOTE_COMPUTE__INIT;
	Claims__ClaimAccepted a = CLAIMS__CLAIM_ACCEPTED__INIT;
	Claims__ClaimLine *store = xcalloc(m->n_lines + 1, sizeof(*store));
	struct tp_pending *p = tp_pending_new(g->backends, CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST,
					      cfg.backend_timeout_ms);
	char id[UUID_STR_LEN];
	uint8_t *buf = NULL;
	size_t len = 0;

	if (p == NULL) {
		free(store);
		FAIL(rq, "BUSY", "too many requests in flight; retry shortly");
		return;
	}
	p->route = rq->route;
	snprintf(p->request_id, sizeof(p->request_id), "%s", rq->request_id);
	snprintf(p->trace_id, sizeof(p->trace_id), "%s", rq->env.trace_id ? rq->env.trace_id : "");
	uuid_v7(p->quote_id);
	date_format(date_today() + (int32_t)cfg.quote_days, p->valid_until);
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
	if (envelope_pack(CLAIMS__MESSAGE_TYPE__QUOTE_COMPUTE, &q.base, rq->env.trace_id, "tpgate",
			  id, &buf, &len) != OK ||
	    tp_pending_send(g->backends, p, buf, len) != OK) {
		tp_pending_release(g->backends, p);
		FAIL(rq, "UNAVAILABLE", "no reimbursement worker is available; retry later");
	}
	free(buf);
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

static void quote_done(struct tpgate *g, struct tp_pending *p, const struct envelope *env)
{
	Claims__QuoteReply r = CLAIMS__QUOTE_REPLY__INIT;
	Claims__ReimbursementComputed *rc;

	rc = claims__reimbursement_computed__unpack(NULL, env->payload_len, env->payload);
	if (rc == NULL) {
		reply_error(g, &p->route, env->trace_id, p->request_id, "INTERNAL",
			    "the quote worker's answer did not decode");
		return;
	}
	r.request_id = p->request_id;
	r.quote_id = p->quote_id;
	r.valid_until = p->valid_until;
	r.n_lines = rc->n_lines;
	r.lines = rc->lines;
	r.has_total_amc_cents = r.has_total_rac_cents = 1;
	r.has_total_charged_cents = r.has_total_amo_paid_cents = 1;
	r.total_amc_cents = rc->total_amc_cents;
	r.total_rac_cents = rc->total_rac_cents;
	r.total_charged_cents = rc->total_charged_cents;
	r.total_amo_paid_cents = rc->total_amo_paid_cents;
	reply(g, &p->route, p->trace_id, CLAIMS__MESSAGE_TYPE__QUOTE_REPLY, &r.base);
	claims__reimbursement_computed__free_unpacked(rc, NULL);
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
	reply(g, &rq->route, rq->env.trace_id, CLAIMS__MESSAGE_TYPE__INVOICE_REPLY, &r.base);
	observe(rq->kind, rq->received_us);
}

/* The beneficiary's rank: given, or found by birth date. 0: refused. */
static uint32_t invoice_rank(struct tpgate *g, struct request *rq, const Claims__InvoiceRequest *m)
{
	Claims__RightsSnapshot *snap = NULL;
	struct tp_rights rights;
	uint32_t rank = 0;
	int32_t day;

	if (m->beneficiary->has_rank && m->beneficiary->rank > 0 &&
	    (m->beneficiary->birth_date == NULL || m->beneficiary->birth_date[0] == '\0'))
		return m->beneficiary->rank;
	if (rights_of(g, rq, m->beneficiary->membership_number, &snap) != OK)
		return 0;
	if (m->lines[0]->care_date == NULL || date_parse(m->lines[0]->care_date, &day) != OK)
		day = date_today();
	tp_rights_evaluate(snap, m->beneficiary, day, &rights);
	if (rights.beneficiary != NULL)
		rank = rights.beneficiary->rank;
	else if (strcmp(rights.reason, "UNKNOWN_BENEFICIARY") == 0)
		rank = m->beneficiary->has_rank && m->beneficiary->rank ? m->beneficiary->rank : 1;
	else
		invoice_refused(
			g, rq, rights.reason,
			"the beneficiary's rank and birth date do not designate one person");
	claims__rights_snapshot__free_unpacked(snap, NULL);
	return rank;
}

static void send_invoice(struct tpgate *g, struct request *rq, const Claims__InvoiceRequest *m,
			 uint32_t rank)
{
	Claims__ClaimSubmitted s = CLAIMS__CLAIM_SUBMITTED__INIT;
	Claims__ClaimLine *store = xcalloc(m->n_lines + 1, sizeof(*store));
	struct tp_pending *p = tp_pending_new(g->backends, CLAIMS__MESSAGE_TYPE__INVOICE_REQUEST,
					      cfg.backend_timeout_ms);
	char source[64], id[UUID_STR_LEN];
	uint8_t *buf = NULL;
	size_t len = 0;

	if (p == NULL) {
		free(store);
		FAIL(rq, "BUSY", "too many requests in flight; retry shortly");
		return;
	}
	p->route = rq->route;
	snprintf(p->request_id, sizeof(p->request_id), "%s", rq->request_id);
	snprintf(p->trace_id, sizeof(p->trace_id), "%s", rq->env.trace_id ? rq->env.trace_id : "");
	snprintf(source, sizeof(source), "tp:%s:%s", rq->who.kind, rq->who.value);
	s.has_source_kind = s.has_beneficiary_rank = s.has_payee = 1;
	s.source_kind = CLAIMS__CLAIM_SOURCE__CLAIM_SOURCE_TIERS_PAYANT;
	s.source = source;
	s.external_id = m->invoice_id;
	s.membership_number = m->beneficiary->membership_number;
	s.beneficiary_rank = rank;
	s.professional_id = rq->who.value;
	s.payee = CLAIMS__PAYEE__PAYEE_PROFESSIONAL;
	s.quote_id = m->quote_id;
	s.n_lines = m->n_lines;
	s.lines = copy_lines(m->lines, m->n_lines, store);
	for (size_t i = 0; i < s.n_lines; i++)
		s.lines[i]->has_line_no = 0; /* intake numbers the lines */
	if (envelope_pack(CLAIMS__MESSAGE_TYPE__CLAIM_SUBMITTED, &s.base, rq->env.trace_id,
			  "tpgate", id, &buf, &len) != OK ||
	    tp_pending_send(g->backends, p, buf, len) != OK) {
		tp_pending_release(g->backends, p);
		FAIL(rq, "UNAVAILABLE", "invoices cannot be recorded now; retry later");
	}
	free(buf);
	free(s.lines);
	free(store);
}

static void handle_invoice(struct tpgate *g, struct request *rq)
{
	Claims__InvoiceRequest *m = (Claims__InvoiceRequest *)rq->msg;
	uint32_t rank;

	if (admitted(g, rq) != OK || beneficiary_ok(g, rq, m->beneficiary) != OK)
		return;
	if (!text_ok(m->invoice_id, 64)) {
		FAIL(rq, "MISSING_FIELD", "invoice_id (1 to 64 characters) is required");
		return;
	}
	if (m->n_lines == 0 || m->n_lines > TP_MAX_LINES) {
		FAIL(rq, "INVALID_FIELD", "an invoice has 1 to %d lines", TP_MAX_LINES);
		return;
	}
	rank = invoice_rank(g, rq, m);
	if (rank > 0)
		send_invoice(g, rq, m, rank);
}

static void invoice_done(struct tpgate *g, struct tp_pending *p, const struct envelope *env)
{
	Claims__InvoiceReply r = CLAIMS__INVOICE_REPLY__INIT;
	Claims__SubmitReply *s =
		env->type == CLAIMS__MESSAGE_TYPE__SUBMIT_REPLY
			? claims__submit_reply__unpack(NULL, env->payload_len, env->payload)
			: NULL;

	if (s == NULL) {
		reply_error(g, &p->route, env->trace_id, p->request_id, "INTERNAL",
			    "intake's answer did not decode");
		return;
	}
	r.request_id = p->request_id;
	r.has_accepted = r.has_duplicate = 1;
	r.accepted = s->status == CLAIMS__SUBMIT_STATUS__SUBMIT_ACCEPTED;
	r.duplicate = s->duplicate;
	r.claim_id = s->claim_id;
	r.reason_code = s->reason_code;
	r.field = s->field;
	r.message = s->message;
	reply(g, &p->route, p->trace_id, CLAIMS__MESSAGE_TYPE__INVOICE_REPLY, &r.base);
	claims__submit_reply__free_unpacked(s, NULL);
}

/* ---- INVOICE_STATUS ------------------------------------------------------------------------- */

static void status_reply(struct tpgate *g, struct request *rq, PGresult *res)
{
	Claims__InvoiceStatusReply r = CLAIMS__INVOICE_STATUS_REPLY__INIT;
	const char *claim_status = PQgetvalue(res, 0, 1);
	const char *payment = PQgetisnull(res, 0, 3) ? NULL : PQgetvalue(res, 0, 3);

	r.request_id = rq->request_id;
	r.claim_id = PQgetisnull(res, 0, 0) ? NULL : PQgetvalue(res, 0, 0);
	r.payment_status = (char *)payment;
	if (strcmp(claim_status, "queued") == 0) {
		r.status = "queued";
	} else if (strcmp(claim_status, "rejected") == 0 || strcmp(claim_status, "error") == 0) {
		r.status = "rejected";
		r.reason_code =
			strcmp(claim_status, "error") == 0 ? "NOT_DECIDED" : PQgetvalue(res, 0, 2);
		r.message = PQgetvalue(res, 0, 5);
	} else {
		r.status = payment != NULL && strcmp(payment, "paid") == 0 ? "paid" : "computed";
		r.has_amc_cents = 1;
		r.amc_cents = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
		if (strcmp(claim_status, "partial") == 0)
			r.message = PQgetvalue(res, 0, 5);
	}
	reply(g, &rq->route, rq->env.trace_id, CLAIMS__MESSAGE_TYPE__INVOICE_STATUS_REPLY, &r.base);
	observe(rq->kind, rq->received_us);
}

static void handle_status(struct tpgate *g, struct request *rq)
{
	Claims__InvoiceStatusRequest *m = (Claims__InvoiceStatusRequest *)rq->msg;
	char source[64];
	const char *v[2] = {source, NULL};
	PGresult *res;

	if (admitted(g, rq) != OK)
		return;
	if (!text_ok(m->invoice_id, 64)) {
		FAIL(rq, "MISSING_FIELD", "invoice_id (1 to 64 characters) is required");
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

/* ---- the front socket ------------------------------------------------------------------------ */

static const char *kind_of(Claims__MessageType type)
{
	switch (type) {
	case CLAIMS__MESSAGE_TYPE__SESSION_OPEN_REQUEST:
		return "session_open";
	case CLAIMS__MESSAGE_TYPE__ELIGIBILITY_REQUEST:
		return "eligibility";
	case CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST:
		return "quote";
	case CLAIMS__MESSAGE_TYPE__INVOICE_REQUEST:
		return "invoice";
	case CLAIMS__MESSAGE_TYPE__INVOICE_STATUS_REQUEST:
		return "invoice_status";
	default:
		return NULL;
	}
}

static const ProtobufCMessageDescriptor *payload_descriptor(Claims__MessageType type)
{
	switch (type) {
	case CLAIMS__MESSAGE_TYPE__SESSION_OPEN_REQUEST:
		return &claims__session_open_request__descriptor;
	case CLAIMS__MESSAGE_TYPE__ELIGIBILITY_REQUEST:
		return &claims__eligibility_request__descriptor;
	case CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST:
		return &claims__quote_request__descriptor;
	case CLAIMS__MESSAGE_TYPE__INVOICE_REQUEST:
		return &claims__invoice_request__descriptor;
	default:
		return &claims__invoice_status_request__descriptor;
	}
}

static void dispatch(struct tpgate *g, struct request *rq)
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

/* Envelope checks common to every request; ERR: already answered. */
static int check_envelope(struct tpgate *g, struct request *rq, const void *body, size_t len)
{
	char why[160];
	int64_t skew;

	if (envelope_unpack(body, len, &rq->env, why, sizeof(why)) != OK) {
		FAIL(rq, "BAD_ENVELOPE", "%s", why);
		return ERR;
	}
	/* envelope_unpack() accepts only a UUID as message id: the request id. */
	snprintf(rq->request_id, sizeof(rq->request_id), "%s", rq->env.message_id);
	rq->kind = kind_of(rq->env.type);
	if (rq->kind == NULL) {
		FAIL(rq, "WRONG_TYPE", "%s is not a tiers-payant request",
		     envelope_type_name(rq->env.type));
		return ERR;
	}
	skew = clock_now_us() - rq->env.created_at_us;
	if (skew > g->limits.replay_window_s * 1000000 ||
	    -skew > g->limits.replay_window_s * 1000000) {
		FAIL(rq, "STALE_REQUEST", "created_at_us is more than %ld s away from our clock",
		     g->limits.replay_window_s);
		return ERR;
	}
	return OK;
}

static void route_of(const struct zframes *f, struct tp_route *r)
{
	zmq_msg_t *id = (zmq_msg_t *)&f->part[0];

	r->id_len = zmq_msg_size(id) < sizeof(r->id) ? zmq_msg_size(id) : sizeof(r->id);
	memcpy(r->id, zmq_msg_data(id), r->id_len);
	r->delimiter = f->count == 3;
}

/* The payload decoded with the descriptor of the envelope's type, and
 * what the admission check needs from it. ERR: answered. */
static int decode_payload(struct tpgate *g, struct request *rq)
{
	const ProtobufCMessageDescriptor *desc = payload_descriptor(rq->env.type);
	const Claims__BeneficiaryRef *b = NULL;
	const char *token = NULL;

	rq->msg = protobuf_c_message_unpack(desc, NULL, rq->env.payload_len, rq->env.payload);
	if (rq->msg == NULL) {
		FAIL(rq, "BAD_PAYLOAD", "payload is not a %s", desc->short_name);
		return ERR;
	}
	/* Every request but SESSION_OPEN has the session token as field 1
	 * and, but INVOICE_STATUS, the beneficiary. */
	switch (rq->env.type) {
	case CLAIMS__MESSAGE_TYPE__SESSION_OPEN_REQUEST:
		return OK;
	case CLAIMS__MESSAGE_TYPE__ELIGIBILITY_REQUEST:
		token = ((Claims__EligibilityRequest *)rq->msg)->session_token;
		b = ((Claims__EligibilityRequest *)rq->msg)->beneficiary;
		break;
	case CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST:
		token = ((Claims__QuoteRequest *)rq->msg)->session_token;
		b = ((Claims__QuoteRequest *)rq->msg)->beneficiary;
		break;
	case CLAIMS__MESSAGE_TYPE__INVOICE_REQUEST:
		token = ((Claims__InvoiceRequest *)rq->msg)->session_token;
		b = ((Claims__InvoiceRequest *)rq->msg)->beneficiary;
		break;
	default:
		token = ((Claims__InvoiceStatusRequest *)rq->msg)->session_token;
		break;
	}
	if (token == NULL || token[0] == '\0') {
		FAIL(rq, "NO_SESSION", "session_token is required; open a session first");
		return ERR;
	}
	rq->session_token = token;
	if (b != NULL && text_ok(b->membership_number, 32))
		rq->membership = b->membership_number;
	return OK;
}

/* Read one request and check what needs no I/O. 0: none waiting;
 * 1: read (answered already if rq->answered). */
static int read_request(struct tpgate *g, struct request *rq)
{
	struct zframes f;
	const char *user_id;
	const void *body;
	size_t len;

	if (zsock_recv(g->front, &f) != OK)
		return 0;
	memset(rq, 0, sizeof(*rq));
	rq->received_us = clock_mono_us();
	rq->answered = 1;
	route_of(&f, &rq->route);
	body = zframes_body(&f, &len);
	if (f.truncated || f.count < 2 || f.count > 3 ||
	    (f.count == 3 && zmq_msg_size(&f.part[1]) != 0)) {
		FAIL(rq, "BAD_FRAME", "a request is one frame (after an optional empty delimiter)");
	} else if ((user_id = zmq_msg_gets(&f.part[f.count - 1], "User-Id")) == NULL ||
		   tp_identity_parse(user_id, &rq->who) != OK) {
		FAIL(rq, "NOT_AUTHORISED", "connection without a professional identity");
	} else if (check_envelope(g, rq, body, len) == OK && decode_payload(g, rq) == OK) {
		rq->answered = 0;
		metric_add(metric_counter("tpgate_requests_total", "Requests received"), 1);
	}
	zframes_close(&f);
	return 1;
}

static void request_free(struct request *rq)
{
	if (rq->msg != NULL)
		protobuf_c_message_free_unpacked(rq->msg, NULL);
	if (rq->adm != NULL)
		tp_admission_free(rq->adm);
	envelope_free(&rq->env);
	memset(rq, 0, sizeof(*rq));
}

/* The requests waiting, up to TP_BATCH: read, admitted together (one
 * Redis round trip), then served in order. Returns how many were read. */
static int serve_batch(struct tpgate *g)
{
	struct request *rq = g->batch;
	struct tp_admission adm[TP_BATCH];
	int n = 0, k = 0;

	while (n < TP_BATCH && read_request(g, &rq[n]))
		n++;
	for (int i = 0; i < n; i++) {
		if (rq[i].answered)
			continue;
		memset(&adm[k], 0, sizeof(adm[k]));
		adm[k].who = &rq[i].who;
		adm[k].session_token = rq[i].session_token;
		adm[k].request_id = rq[i].request_id;
		adm[k].membership = rq[i].membership;
		rq[i].adm = &adm[k++];
	}
	if (k > 0)
		tp_admit_batch(g->redis, &g->limits, adm, k);
	for (int i = 0; i < n; i++) {
		if (!rq[i].answered) {
			log_set_trace(rq[i].env.trace_id);
			dispatch(g, &rq[i]);
			log_set_trace(NULL);
		}
		request_free(&rq[i]);
	}
	return n;
}

/* ---- backend replies and deadlines ------------------------------------------------------- */

static void backend_replies(struct tpgate *g, void *sock)
{
	struct tp_pending *p;
	const uint8_t *body;
	size_t len;

	while (tp_backend_recv(g->backends, sock, &p, &body, &len) == 1) {
		struct envelope env;
		char why[160];

		if (p == NULL) {
			metric_add(metric_counter("tpgate_late_replies_total",
						  "Worker replies after the request expired"),
				   1);
			continue;
		}
		if (envelope_unpack(body, len, &env, why, sizeof(why)) != OK) {
			reply_error(g, &p->route, NULL, p->request_id, "INTERNAL",
				    "a worker's answer did not decode: %s", why);
		} else if (env.type == CLAIMS__MESSAGE_TYPE__ERROR_REPLY) {
			Claims__ErrorReply *e =
				claims__error_reply__unpack(NULL, env.payload_len, env.payload);

			reply_error(g, &p->route, env.trace_id, p->request_id,
				    e && e->code ? e->code : "INTERNAL", "%s",
				    e && e->message ? e->message : "");
			claims__error_reply__free_unpacked(e, NULL);
		} else if (p->kind == CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST) {
			if (env.type == CLAIMS__MESSAGE_TYPE__QUOTE_COMPUTED)
				quote_done(g, p, &env);
			else
				reply_error(g, &p->route, env.trace_id, p->request_id, "INTERNAL",
					    "unexpected %s from a quote worker",
					    envelope_type_name(env.type));
		} else {
			invoice_done(g, p, &env);
		}
		observe(p->kind == CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST ? "quote" : "invoice",
			p->started_us);
		envelope_free(&env);
		tp_pending_release(g->backends, p);
	}
}

static void expire(struct tpgate *g)
{
	struct tp_pending *p;
	int64_t now = clock_mono_us();

	/* Deadlines are seconds away: a look every few milliseconds will do. */
	if (now < g->expiry_check_us)
		return;
	g->expiry_check_us = now + 5000;
	while ((p = tp_pending_expired(g->backends, now)) != NULL) {
		reply_error(g, &p->route, NULL, p->request_id, "TIMEOUT",
			    "no answer from the %s within %ld ms; ask INVOICE_STATUS or retry",
			    p->kind == CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST ? "quote workers"
									   : "claims intake",
			    cfg.backend_timeout_ms);
		tp_pending_release(g->backends, p);
	}
}

/* ---- contracts.changed: drop cached rights --------------------------------------------------- */

static void forget_member(struct tpgate *g, const rd_kafka_message_t *m)
{
	Claims__ContractChanged *c = NULL;
	struct envelope env;
	char why[160];

	if (envelope_unpack(m->payload, m->len, &env, why, sizeof(why)) == OK &&
	    env.type == CLAIMS__MESSAGE_TYPE__CONTRACT_CHANGED)
		c = claims__contract_changed__unpack(NULL, env.payload_len, env.payload);
	if (c != NULL && c->membership_number == NULL && c->has_contract_id) {
		char id[24];
		const char *v[1] = {id};
		PGresult *res;

		/* Events from systems that only name the contract. */
		snprintf(id, sizeof(id), "%lld", (long long)c->contract_id);
		if (pg_exec_prepared(g->db, "tp_contract_member", 1, v, NULL, NULL, &res) == OK) {
			if (PQntuples(res) == 1)
				c->membership_number = xstrdup(PQgetvalue(res, 0, 0));
			PQclear(res);
		}
	}
	if (c == NULL || c->membership_number == NULL) {
		log_warn("contracts.changed: message at offset %lld without a membership number"
			 " ignored (the cache expires on its own)",
			 (long long)m->offset);
	} else if (tp_rights_forget(g->rights, c->membership_number) != OK) {
		log_warn("cached rights of %s not dropped: they expire within %ld s",
			 c->membership_number, cfg.rights_ttl);
	} else {
		metric_add(metric_counter("tpgate_rights_invalidated_total",
					  "Cached rights dropped after a contract change"),
			   1);
	}
	claims__contract_changed__free_unpacked(c, NULL);
	envelope_free(&env);
}

static int contract_changes(struct tpgate *g)
{
	rd_kafka_message_t *batch[100];
	int n = 0;

	if (clock_mono_us() - g->changes_at_us < 200000)
		return OK;
	g->changes_at_us = clock_mono_us();
	if (kafka_consumer_poll_batch(g->changes, batch, 100, 0, &n) != OK)
		return ERR;
	for (int i = 0; i < n; i++)
		forget_member(g, batch[i]);
	if (n > 0 && kafka_consumer_store(g->changes, batch, n) != OK) {
		kafka_batch_destroy(batch, n);
		return ERR;
	}
	kafka_batch_destroy(batch, n);
	return OK;
}

/* ---- the daemon ---------------------------------------------------------------------------- */

static int tpgate_init(void *ctx)
{
	struct tpgate *g = ctx;
	const char *topics[] = {"contracts.changed"};

	if (strlen(cfg.secret_key) != 40) {
		log_error("CLAIMS_TP_SERVER_SECRET must hold the 40-character Z85 secret key of the"
			  " front door (claimctl tp keygen)");
		return ERR;
	}
	if (sodium_init() < 0 || !zmq_has("curve")) {
		log_error("libsodium or libzmq's CURVE support is missing");
		return ERR;
	}
	g->limits.session_ttl_s = cfg.session_ttl;
	g->limits.replay_window_s = cfg.replay_window;
	g->limits.rate_limit = cfg.rate_limit;
	g->batch = xcalloc(TP_BATCH, sizeof(*g->batch));
	g->ctx = zmq_ctx_new();
	if (g->ctx == NULL || pg_open(cfg.pg_dsn, &g->db) != OK ||
	    pg_prepare(g->db, "tp_professional_active",
		       "SELECT key_status = 'active' AND tp_agreement FROM professionals"
		       " WHERE professional_id = $1",
		       1) != OK ||
	    pg_prepare(
		    g->db, "tp_invoice_status",
		    "SELECT c.claim_id::text, c.status, '', p.status,"
		    " (SELECT coalesce(sum(d.amc_cents), 0) FROM decisions d"
		    "  WHERE d.claim_id = c.claim_id), coalesce(c.outcome_reason, '')"
		    " FROM claims c LEFT JOIN payments p ON p.claim_id = c.claim_id"
		    " WHERE c.source = $1 AND c.external_id = $2"
		    " UNION ALL"
		    " SELECT NULL, 'rejected', r.reason_code, NULL, NULL, coalesce(r.message, '')"
		    " FROM claim_rejections r WHERE r.source = $1 AND r.external_id = $2"
		    " LIMIT 1",
		    2) != OK ||
	    pg_prepare(g->db, "tp_contract_member",
		       "SELECT m.membership_number FROM contracts c"
		       " JOIN members m ON m.member_id = c.member_id WHERE c.contract_id = $1",
		       1) != OK ||
	    redis_open(cfg.redis_url, &g->redis) != OK ||
	    tp_rights_open(g->db, g->redis, cfg.rights_ttl, &g->rights) != OK ||
	    tp_catalog_refresh(g->rights, 60) != OK ||
	    tp_backends_open(g->ctx, cfg.quote_endpoint, cfg.intake_endpoint,
			     (int)cfg.max_in_flight, &g->backends) != OK ||
	    kafka_consumer_open(cfg.brokers, cfg.group, topics, 1, &g->changes) != OK)
		return ERR;
	/* The ZAP handler must listen before the first handshake. */
	if (tp_zap_start(g->ctx, cfg.pg_dsn, &g->zap) != OK ||
	    zsock_bind_curve_router(g->ctx, cfg.endpoint, cfg.secret_key, TP_ZAP_DOMAIN,
				    cfg.max_request_bytes, &g->front) != OK)
		return ERR;
	log_info("tiers-payant front door on %s", cfg.endpoint);
	return OK;
}

static int tpgate_step(void *ctx)
{
	struct tpgate *g = ctx;
	zmq_pollitem_t items[3] = {
		{g->front, 0, ZMQ_POLLIN, 0},
		{tp_backends_quote_socket(g->backends), 0, ZMQ_POLLIN, 0},
		{tp_backends_intake_socket(g->backends), 0, ZMQ_POLLIN, 0},
	};
	int rc = zmq_poll(items, 3, tp_backends_in_flight(g->backends) > 0 ? 5 : 100);

	if (rc < 0 && zmq_errno() != EINTR) {
		log_error("zmq_poll: %s", zmq_strerror(zmq_errno()));
		return ERR;
	}
	/* Replies first: they free slots for the new requests. */
	backend_replies(g, items[1].socket);
	backend_replies(g, items[2].socket);
	for (int round = 0; round < 4 && serve_batch(g) == TP_BATCH; round++)
		;
	expire(g);
	if (tp_catalog_refresh(g->rights, 60) != OK)
		log_warn("formula catalogue not reloaded; the previous one is kept");
	return contract_changes(g);
}

/* SIGTERM: no new request is read; those in flight get their answer
 * (or their TIMEOUT) before the daemon exits. */
static int tpgate_drain(void *ctx)
{
	struct tpgate *g = ctx;

	while (tp_backends_in_flight(g->backends) > 0) {
		zmq_pollitem_t items[2] = {
			{tp_backends_quote_socket(g->backends), 0, ZMQ_POLLIN, 0},
			{tp_backends_intake_socket(g->backends), 0, ZMQ_POLLIN, 0},
		};

		if (zmq_poll(items, 2, 10) < 0 && zmq_errno() != EINTR)
			break;
		backend_replies(g, items[0].socket);
		backend_replies(g, items[1].socket);
		expire(g);
	}
	return kafka_consumer_commit(g->changes);
}

static void tpgate_cleanup(void *ctx)
{
	struct tpgate *g = ctx;

	if (g->front != NULL && zmq_close(g->front) != 0)
		log_warn("zmq_close: %s", zmq_strerror(zmq_errno()));
	tp_zap_stop(g->zap);
	tp_backends_close(g->backends);
	kafka_consumer_close(g->changes);
	tp_rights_close(g->rights);
	redis_close(g->redis);
	pg_close(g->db);
	free(g->batch);
	if (g->ctx != NULL && zmq_ctx_term(g->ctx) != 0)
		log_warn("zmq_ctx_term: %s", zmq_strerror(zmq_errno()));
}

static const char *tpgate_health(void *ctx)
{
	struct tpgate *g = ctx;

	if (g->db == NULL || PQstatus(pg_conn(g->db)) != CONNECTION_OK)
		return "database connection down";
	return NULL;
}

static const struct daemon_spec spec = {
	.name = "tpgate",
	.summary = "The tiers-payant front door: health professionals ask over ZeroMQ (CURVE)\n"
		   "whether a patient's rights are open, how much the mutuelle will pay,\n"
		   "send their invoices and follow them. See docs/tiers-payant.md.",
	.config = config_table,
	.metrics_addr = &cfg.metrics_addr,
	.init = tpgate_init,
	.step = tpgate_step,
	.drain = tpgate_drain,
	.cleanup = tpgate_cleanup,
	.health = tpgate_health,
	.ctx = &state,
};

int main(int argc, char **argv)
{
	return daemon_main(argc, argv, &spec);
}
