/*
 * NAME
 *	claimctl_tp.c - claimctl tp: the reference client of the tiers-payant
 *	front door, and the registration of professionals' keys
 *
 * SYNOPSIS
 *	claimctl tp keygen
 *	claimctl tp register --kind RPPS|ADELI|FINESS --id NUMBER --public-key KEY
 *	                     [--name NAME] [--profession P] [--no-agreement]
 *	claimctl tp revoke --id NUMBER [--kind RPPS|ADELI|FINESS]
 *	claimctl tp eligibility --member NUMBER [--rank R] [--birth-date D] [--date D]
 *	claimctl tp quote --member NUMBER [--rank R] [--birth-date D] LINES.json
 *	claimctl tp invoice --member NUMBER [--rank R] [--birth-date D]
 *	                    --invoice-id ID [--quote QUOTE_ID] LINES.json
 *	claimctl tp status --invoice-id ID
 *
 * DESCRIPTION
 *	keygen prints a CURVE key pair as environment assignments. register
 *	stores a professional's public key (creating the professional if the
 *	number is new; sessions opened under a previous key or agreement
 *	end); revoke marks the key revoked and ends its sessions
 *	in Redis, so its next request is refused and its next connection
 *	too.
 *
 *	The request commands speak to the front door as a professional's
 *	software would (docs/tiers-payant.md): connect with CURVE, open a
 *	session, send the request, print the reply as one JSON object on
 *	stdout. LINES.json is a JSON array of care lines in the shape of
 *	ClaimLine (as in `claimctl submit`), or an object with "lines".
 *
 *	Settings: CLAIMS_TP_ENDPOINT [tcp://127.0.0.1:5702],
 *	CLAIMS_TP_SERVER_KEY (the front door's public key),
 *	CLAIMS_TP_PUBLIC_KEY and CLAIMS_TP_SECRET_KEY (the professional's
 *	pair), CLAIMS_TP_TIMEOUT_MS [5000]; register and revoke use
 *	CLAIMS_PG_DSN and CLAIMS_REDIS_URL.
 *
 * DIAGNOSTICS
 *	Exit 0 when the front door answered the request (even "rights not
 *	open" or "invoice rejected": the JSON says so); 1 when it answered
 *	with an error (printed as {"error": CODE, "message": ...}) or could
 *	not be reached; 2 on bad usage.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "claimctl/claimctl.h"
#include "common/log.h"
#include "common/pg.h"
#include "common/redis_conn.h"
#include "common/tpclient.h"
#include "common/tpkeys.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "proto/tierspayant.pb-c.h"

#define MAX_LINES 99

struct tp_args {
	const char *member, *birth_date, *date, *invoice_id, *quote_id, *file;
	const char *kind, *id, *name, *profession, *public_key;
	long rank;
	int no_agreement;
};

static int usage_on(FILE *out)
{
	fprintf(out,
		"Usage: claimctl tp keygen\n"
		"       claimctl tp register --kind RPPS|ADELI|FINESS --id NUMBER --public-key "
		"KEY\n"
		"                            [--name NAME] [--profession P] [--no-agreement]\n"
		"       claimctl tp revoke --id NUMBER [--kind RPPS|ADELI|FINESS]\n"
		"       claimctl tp eligibility --member N [--rank R] [--birth-date D] [--date D]\n"
		"       claimctl tp quote --member N [--rank R] [--birth-date D] LINES.json\n"
		"       claimctl tp invoice --member N [--rank R] [--birth-date D] --invoice-id "
		"ID\n"
		"                           [--quote QUOTE_ID] LINES.json\n"
		"       claimctl tp status --invoice-id ID\n"
		"Settings: CLAIMS_TP_ENDPOINT [tcp://127.0.0.1:5702], CLAIMS_TP_SERVER_KEY,\n"
		"CLAIMS_TP_PUBLIC_KEY, CLAIMS_TP_SECRET_KEY, CLAIMS_TP_TIMEOUT_MS [5000];\n"
		"register and revoke: CLAIMS_PG_DSN, CLAIMS_REDIS_URL.\n");
	return out == stdout ? 0 : EXIT_USAGE;
}

static int usage(void)
{
	return usage_on(stderr);
}

static int parse_args(int argc, char **argv, struct tp_args *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 2; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		const char **slot = strcmp(o, "--member") == 0	     ? &a->member
				    : strcmp(o, "--birth-date") == 0 ? &a->birth_date
				    : strcmp(o, "--date") == 0	     ? &a->date
				    : strcmp(o, "--invoice-id") == 0 ? &a->invoice_id
				    : strcmp(o, "--quote") == 0	     ? &a->quote_id
				    : strcmp(o, "--kind") == 0	     ? &a->kind
				    : strcmp(o, "--id") == 0	     ? &a->id
				    : strcmp(o, "--name") == 0	     ? &a->name
				    : strcmp(o, "--profession") == 0 ? &a->profession
				    : strcmp(o, "--public-key") == 0 ? &a->public_key
								     : NULL;

		if (strcmp(o, "--no-agreement") == 0) {
			a->no_agreement = 1;
		} else if (strcmp(o, "--rank") == 0 && v != NULL) {
			a->rank = strtol(v, NULL, 10);
			i++;
		} else if (slot != NULL && v != NULL) {
			*slot = v;
			i++;
		} else if (o[0] != '-' && a->file == NULL) {
			a->file = o;
		} else {
			fprintf(stderr, "claimctl tp: unexpected argument %s\n", o);
			return ERR;
		}
	}
	return OK;
}

/* ---- keys and registration ------------------------------------------------------------ */

static int tp_keygen(void)
{
	char public_key[41], secret[41];

	if (zmq_curve_keypair(public_key, secret) != 0) {
		fprintf(stderr, "claimctl tp keygen: %s\n", zmq_strerror(zmq_errno()));
		return 1;
	}
	/* Z85 has no single quote: the lines can be sourced by a shell. */
	printf("PUBLIC_KEY='%s'\nSECRET_KEY='%s'\n", public_key, secret);
	return 0;
}

/* Deletes the sessions of professional ref in Redis. */
static int end_sessions(const char *ref, int *ended)
{
	struct redis_conn *r;
	char pattern[64], cursor[32] = "0";
	int status = OK;

	*ended = 0;
	snprintf(pattern, sizeof(pattern), TP_KEY_SESSION_PATTERN, strtoll(ref, NULL, 10));
	if (redis_open(claimctl_env("CLAIMS_REDIS_URL", CLAIMCTL_REDIS_URL), 0, &r) != OK)
		return ERR;
	do {
		redisReply *reply;

		if (redis_command(r, &reply, "SCAN %s MATCH %s COUNT 1000", cursor, pattern) !=
		    OK) {
			status = ERR;
			break;
		}
		snprintf(cursor, sizeof(cursor), "%s", reply->element[0]->str);
		for (size_t i = 0; i < reply->element[1]->elements && status == OK; i++) {
			redisReply *del;

			if (redis_command(r, &del, "DEL %s", reply->element[1]->element[i]->str) !=
			    OK) {
				status = ERR;
				break;
			}
			*ended += (int)del->integer;
			freeReplyObject(del);
		}
		freeReplyObject(reply);
	} while (status == OK && strcmp(cursor, "0") != 0);
	redis_close(r);
	return status;
}

static int tp_register(const struct tp_args *a)
{
	const char *v[6] = {a->kind,
			    a->id,
			    a->name ? a->name : a->id,
			    a->profession ? a->profession : "unspecified",
			    a->public_key,
			    a->no_agreement ? "f" : "t"};
	uint8_t raw[32];
	struct pg *db;
	PGresult *res;
	int status;

	if (a->kind == NULL || a->id == NULL || a->public_key == NULL ||
	    strlen(a->public_key) != 40 || zmq_z85_decode(raw, a->public_key) == NULL)
		return usage();
	if (pg_open(claimctl_env("CLAIMS_PG_DSN", CLAIMCTL_PG_DSN), &db) != OK)
		return 1;
	status = pg_exec_params(db,
				"INSERT INTO professionals (id_kind, id_value, name, profession,"
				" curve_public_key, key_status, tp_agreement)"
				" VALUES ($1, $2, $3, $4, $5, 'active', $6)"
				" ON CONFLICT (id_kind, id_value) DO UPDATE SET"
				" curve_public_key = excluded.curve_public_key,"
				" key_status = 'active', tp_agreement = excluded.tp_agreement"
				" RETURNING professional_id",
				6, v, &res);
	if (status == OK) {
		int ended = 0;

		/* A new key or agreement ends the sessions opened under the old
		 * one: a session is checked in Redis only, not against the key. */
		printf("registered %s %s (professional %s)\n", a->kind, a->id,
		       PQgetvalue(res, 0, 0));
		if (end_sessions(PQgetvalue(res, 0, 0), &ended) != OK) {
			fprintf(stderr, "claimctl tp register: the previous sessions could not be"
					" ended (Redis); run the command again\n");
			status = ERR;
		} else if (ended > 0) {
			printf("%d previous session(s) ended\n", ended);
		}
		PQclear(res);
	}
	pg_close(db);
	return status == OK ? 0 : 1;
}

static int tp_revoke(const struct tp_args *a)
{
	const char *v[2] = {a->id, a->kind};
	struct pg *db;
	PGresult *res = NULL;
	int ended = 0, status;

	if (a->id == NULL)
		return usage();
	if (pg_open(claimctl_env("CLAIMS_PG_DSN", CLAIMCTL_PG_DSN), &db) != OK)
		return 1;
	/* An ADELI and a FINESS number may coincide: without --kind, the
	 * number must name one professional, so that a homonym's key is
	 * never revoked by mistake. The three registers named make the
	 * number a key of the unique index, which begins with the register. */
	status = pg_exec_params(db,
				"WITH m AS (SELECT professional_id FROM professionals"
				"  WHERE id_kind IN ('RPPS', 'ADELI', 'FINESS') AND id_value = $1"
				"  AND ($2::text IS NULL OR id_kind = $2))"
				" UPDATE professionals p SET key_status = 'revoked' FROM m"
				" WHERE p.professional_id = m.professional_id"
				"  AND (SELECT count(*) FROM m) = 1"
				" RETURNING p.professional_id",
				2, v, &res);
	if (status == OK && PQntuples(res) == 0) {
		if (a->kind == NULL)
			fprintf(stderr,
				"claimctl tp revoke: no professional %s, or several (one per "
				"register): say which with --kind\n",
				a->id);
		else
			fprintf(stderr, "claimctl tp revoke: no %s professional %s\n", a->kind,
				a->id);
		status = ERR;
	}
	for (int r = 0; status == OK && r < PQntuples(res); r++) {
		int n = 0;

		if ((status = end_sessions(PQgetvalue(res, r, 0), &n)) != OK)
			/* Committed: new connections are refused. A session is
			 * checked in Redis only: the open ones live on. */
			fprintf(stderr,
				"claimctl tp revoke: %s is revoked (new connections are refused),"
				" but its open sessions could not be ended (Redis): run the"
				" command again\n",
				a->id);
		ended += n;
	}
	if (status == OK)
		printf("revoked %s; %d session(s) ended\n", a->id, ended);
	if (res != NULL)
		PQclear(res);
	pg_close(db);
	return status == OK ? 0 : 1;
}

/* ---- requests --------------------------------------------------------------------------- */

static void print_json(json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

	printf("%s\n", text ? text : "{}");
	free(text);
	json_decref(j);
}

static int print_error(const struct envelope *reply)
{
	Claims__ErrorReply *e =
		claims__error_reply__unpack(NULL, reply->payload_len, reply->payload);

	print_json(json_pack("{s:s, s:s, s:s}", "error", e && e->code ? e->code : "?", "message",
			     e && e->message ? e->message : "", "request_id",
			     e && e->request_id ? e->request_id : ""));
	claims__error_reply__free_unpacked(e, NULL);
	return 1;
}

static json_t *line_json(const Claims__LineDecision *d)
{
	json_t *rules = json_array(), *j;

	for (size_t k = 0; k < d->n_rules; k++)
		json_array_append_new(rules, json_string(d->rules[k]));
	j = json_pack("{s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "line_no", (int)d->line_no,
		      "charged_cents", (json_int_t)d->charged_cents, "amo_paid_cents",
		      (json_int_t)d->amo_paid_cents, "amc_cents", (json_int_t)d->amc_cents,
		      "rac_cents", (json_int_t)d->rac_cents, "pf_cents", (json_int_t)d->pf_cents,
		      "franchise_cents", (json_int_t)d->franchise_cents, "rules", rules);
	if (d->error != NULL)
		json_object_set_new(j, "error", json_string(d->error));
	return j;
}

/* One claim of an INVOICE_STATUS reply as JSON: the reply's own, or a
 * complement's (an InvoiceComplement has the same fields). */
static json_t *claim_status_json(const char *status, const char *claim_id, const char *reason_code,
				 const char *payment_status, const char *message, int has_amc_cents,
				 int64_t amc_cents)
{
	json_t *j = json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?}", "status", status, "claim_id",
			      claim_id, "reason_code", reason_code, "payment_status",
			      payment_status, "message", message);

	if (j != NULL && has_amc_cents)
		json_object_set_new(j, "amc_cents", json_integer(amc_cents));
	return j;
}

/* An INVOICE_STATUS reply as JSON, its complements in "complements". */
static json_t *status_json(const Claims__InvoiceStatusReply *r)
{
	json_t *j = claim_status_json(r->status, r->claim_id, r->reason_code, r->payment_status,
				      r->message, r->has_amc_cents, r->amc_cents);
	json_t *list;

	if (j == NULL || r->n_complements == 0)
		return j;
	list = json_array();
	for (size_t i = 0; i < r->n_complements; i++) {
		const Claims__InvoiceComplement *c = r->complements[i];

		json_array_append_new(list,
				      claim_status_json(c->status, c->claim_id, c->reason_code,
							c->payment_status, c->message,
							c->has_amc_cents, c->amc_cents));
	}
	json_object_set_new(j, "complements", list);
	return j;
}

static int print_reply(const struct envelope *reply)
{
	json_t *j = NULL;

	switch (reply->type) {
	case CLAIMS__MESSAGE_TYPE__ERROR_REPLY:
		return print_error(reply);
	case CLAIMS__MESSAGE_TYPE__ELIGIBILITY_REPLY: {
		Claims__EligibilityReply *r =
			claims__eligibility_reply__unpack(NULL, reply->payload_len, reply->payload);
		json_t *domains = json_array();

		if (r == NULL)
			break;
		for (size_t i = 0; i < r->n_domains; i++)
			json_array_append_new(domains, json_string(r->domains[i]));
		j = json_pack("{s:b, s:b, s:s?, s:s?, s:s?, s:s?, s:o}", "rights_open",
			      r->rights_open, "responsible", r->responsible, "amc_number",
			      r->amc_number, "valid_from", r->valid_from, "valid_to", r->valid_to,
			      "reason", r->reason, "domains", domains);
		claims__eligibility_reply__free_unpacked(r, NULL);
		break;
	}
	case CLAIMS__MESSAGE_TYPE__QUOTE_REPLY: {
		Claims__QuoteReply *r =
			claims__quote_reply__unpack(NULL, reply->payload_len, reply->payload);
		json_t *lines = json_array();

		if (r == NULL)
			break;
		for (size_t i = 0; i < r->n_lines; i++)
			json_array_append_new(lines, line_json(r->lines[i]));
		j = json_pack("{s:s?, s:s?, s:I, s:I, s:I, s:I, s:o}", "quote_id", r->quote_id,
			      "valid_until", r->valid_until, "total_charged_cents",
			      (json_int_t)r->total_charged_cents, "total_amo_paid_cents",
			      (json_int_t)r->total_amo_paid_cents, "total_amc_cents",
			      (json_int_t)r->total_amc_cents, "total_rac_cents",
			      (json_int_t)r->total_rac_cents, "lines", lines);
		claims__quote_reply__free_unpacked(r, NULL);
		break;
	}
	case CLAIMS__MESSAGE_TYPE__INVOICE_REPLY: {
		Claims__InvoiceReply *r =
			claims__invoice_reply__unpack(NULL, reply->payload_len, reply->payload);

		if (r == NULL)
			break;
		j = json_pack("{s:b, s:b, s:b, s:s?, s:s?, s:s?, s:s?}", "accepted", r->accepted,
			      "duplicate", r->duplicate, "content_differs", r->content_differs,
			      "claim_id", r->claim_id, "reason_code", r->reason_code, "field",
			      r->field, "message", r->message);
		claims__invoice_reply__free_unpacked(r, NULL);
		break;
	}
	case CLAIMS__MESSAGE_TYPE__INVOICE_STATUS_REPLY: {
		Claims__InvoiceStatusReply *r = claims__invoice_status_reply__unpack(
			NULL, reply->payload_len, reply->payload);

		if (r == NULL)
			break;
		j = status_json(r);
		claims__invoice_status_reply__free_unpacked(r, NULL);
		break;
	}
	default:
		break;
	}
	if (j == NULL) {
		fprintf(stderr, "claimctl tp: unexpected reply %s\n",
			envelope_type_name(reply->type));
		return 1;
	}
	print_json(j);
	return 0;
}

struct lines {
	json_t *doc;
	Claims__ClaimLine store[MAX_LINES];
	Claims__ClaimLine *ptrs[MAX_LINES];
	char *lens[MAX_LINES][2];
	size_t n;
};

static int load_lines(const char *path, struct lines *l)
{
	json_error_t err;
	json_t *arr;

	memset(l, 0, sizeof(*l));
	l->doc = strcmp(path, "-") == 0 ? json_loadf(stdin, JSON_REJECT_DUPLICATES, &err)
					: json_load_file(path, JSON_REJECT_DUPLICATES, &err);
	if (l->doc == NULL) {
		fprintf(stderr, "claimctl tp: %s:%d: %s\n", path, err.line, err.text);
		return ERR;
	}
	arr = json_is_array(l->doc) ? l->doc : json_object_get(l->doc, "lines");
	if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > MAX_LINES) {
		fprintf(stderr, "claimctl tp: %s: expected 1 to %d lines\n", path, MAX_LINES);
		return ERR;
	}
	for (size_t i = 0; i < json_array_size(arr); i++) {
		char where[32];

		snprintf(where, sizeof(where), "lines[%zu].", i);
		if (claimctl_parse_line(json_array_get(arr, i), &l->store[i], l->lens[i], where) !=
		    OK)
			return ERR;
		l->ptrs[i] = &l->store[i];
	}
	l->n = json_array_size(arr);
	return OK;
}

static void beneficiary_of(const struct tp_args *a, Claims__BeneficiaryRef *b)
{
	claims__beneficiary_ref__init(b);
	b->membership_number = (char *)a->member;
	b->birth_date = (char *)a->birth_date;
	if (a->rank > 0) {
		b->has_rank = 1;
		b->rank = (uint32_t)a->rank;
	}
}

/* Connect, open a session, send one request, print the reply. */
static int call(Claims__MessageType type, ProtobufCMessage *msg, char **session_field)
{
	struct tp_keys keys;
	struct tp_client *c = NULL;
	struct envelope reply;
	char why[256];
	void *ctx = zmq_ctx_new();
	int rc = 1;

	if (tp_keys_from_env(&keys, why, sizeof(why)) != OK) {
		fprintf(stderr, "claimctl tp: %s\n", why);
		zmq_ctx_term(ctx);
		return EXIT_USAGE;
	}
	if (tp_client_open(ctx, claimctl_env("CLAIMS_TP_ENDPOINT", "tcp://127.0.0.1:5702"), &keys,
			   atoi(claimctl_env("CLAIMS_TP_TIMEOUT_MS", "5000")), &c) != OK)
		goto out;
	if (tp_client_open_session(c, NULL, why, sizeof(why)) != OK) {
		print_json(json_pack("{s:s, s:s}", "error", "SESSION", "message", why));
		goto out;
	}
	*session_field = (char *)tp_client_session(c);
	if (tp_client_call(c, type, msg, &reply, why, sizeof(why)) != OK) {
		print_json(json_pack("{s:s, s:s}", "error", "TRANSPORT", "message", why));
		goto out;
	}
	rc = print_reply(&reply);
	envelope_free(&reply);
out:
	tp_client_close(c);
	if (zmq_ctx_term(ctx) != 0)
		log_warn("zmq_ctx_term: %s", zmq_strerror(zmq_errno()));
	return rc;
}

static int tp_eligibility(const struct tp_args *a)
{
	Claims__EligibilityRequest r = CLAIMS__ELIGIBILITY_REQUEST__INIT;
	Claims__BeneficiaryRef b;

	if (a->member == NULL)
		return usage();
	beneficiary_of(a, &b);
	r.beneficiary = &b;
	r.care_date = (char *)a->date;
	return call(CLAIMS__MESSAGE_TYPE__ELIGIBILITY_REQUEST, &r.base, &r.session_token);
}

static void lines_free(struct lines *l)
{
	json_decref(l->doc);
	free(l);
}

/* The lines of FILE, or NULL (said on stderr). */
static struct lines *lines_of(const char *path)
{
	struct lines *l = xcalloc(1, sizeof(*l));

	if (load_lines(path, l) != OK) {
		lines_free(l);
		return NULL;
	}
	return l;
}

static int tp_quote(const struct tp_args *a)
{
	Claims__QuoteRequest r = CLAIMS__QUOTE_REQUEST__INIT;
	Claims__BeneficiaryRef b;
	struct lines *l;
	int rc;

	if (a->member == NULL || a->file == NULL)
		return usage();
	if ((l = lines_of(a->file)) == NULL)
		return EXIT_USAGE;
	beneficiary_of(a, &b);
	r.beneficiary = &b;
	r.n_lines = l->n;
	r.lines = l->ptrs;
	rc = call(CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST, &r.base, &r.session_token);
	lines_free(l);
	return rc;
}

static int tp_invoice(const struct tp_args *a)
{
	Claims__InvoiceRequest r = CLAIMS__INVOICE_REQUEST__INIT;
	Claims__BeneficiaryRef b;
	struct lines *l;
	int rc;

	if (a->member == NULL || a->file == NULL || a->invoice_id == NULL)
		return usage();
	if ((l = lines_of(a->file)) == NULL)
		return EXIT_USAGE;
	beneficiary_of(a, &b);
	r.beneficiary = &b;
	r.invoice_id = (char *)a->invoice_id;
	r.quote_id = (char *)a->quote_id;
	r.n_lines = l->n;
	r.lines = l->ptrs;
	rc = call(CLAIMS__MESSAGE_TYPE__INVOICE_REQUEST, &r.base, &r.session_token);
	lines_free(l);
	return rc;
}

static int tp_status(const struct tp_args *a)
{
	Claims__InvoiceStatusRequest r = CLAIMS__INVOICE_STATUS_REQUEST__INIT;

	if (a->invoice_id == NULL)
		return usage();
	r.invoice_id = (char *)a->invoice_id;
	return call(CLAIMS__MESSAGE_TYPE__INVOICE_STATUS_REQUEST, &r.base, &r.session_token);
}

int cmd_tp(int argc, char **argv)
{
	struct tp_args a;
	const char *sub = argc > 1 ? argv[1] : "";

	if (claimctl_wants_help(argc, argv))
		return usage_on(stdout);
	if (argc < 2 || claimctl_is_help(sub) || parse_args(argc, argv, &a) != OK)
		return usage();
	if (strcmp(sub, "keygen") == 0)
		return tp_keygen();
	if (strcmp(sub, "register") == 0)
		return tp_register(&a);
	if (strcmp(sub, "revoke") == 0)
		return tp_revoke(&a);
	if (strcmp(sub, "eligibility") == 0)
		return tp_eligibility(&a);
	if (strcmp(sub, "quote") == 0)
		return tp_quote(&a);
	if (strcmp(sub, "invoice") == 0)
		return tp_invoice(&a);
	if (strcmp(sub, "status") == 0)
		return tp_status(&a);
	return usage();
}
