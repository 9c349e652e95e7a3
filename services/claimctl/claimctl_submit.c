/*
 * NAME
 *	claimctl_submit.c - claimctl submit: send claims as protobuf
 *
 * SYNOPSIS
 *	claimctl submit [--sync] [--endpoint E] FILE
 *
 * DESCRIPTION
 *	FILE (or - for stdin) holds one JSON claim per line, or a JSON array
 *	of claims, in the shape of ClaimSubmitted (docs/protocol.md):
 *
 *	  {"source": "amo-cpam-75", "source_kind": "amo", "external_id": "D-1",
 *	   "membership_number": "1000000016", "beneficiary_rank": 1,
 *	   "professional_id": "10010000015", "professional_kind": "RPPS",
 *	   "payee": "member",
 *	   "lines": [{"line_ref": "1", "act_code": "G", "category": "CONSULT_GP",
 *	              "care_date": "2026-03-10", "charged_cents": 3000,
 *	              "brss_cents": 3000, "amo_rate": 70, "amo_paid_cents": 1900}]}
 *
 *	By default each claim goes to the claims.submitted topic (key: the
 *	membership number) with the idempotent producer. With --sync each
 *	claim goes to the intake socket and the answer is printed, one line
 *	per claim: EXTERNAL_ID accepted CLAIM_ID, or EXTERNAL_ID rejected
 *	CODE FIELD MESSAGE. The whole file is read and every claim checked
 *	(its fields, and its size as sent) before the first is sent: a file
 *	cut short, a file with no claim, or a bad claim anywhere, sends
 *	nothing (exit 2). --endpoint goes with --sync.
 *
 *	Fields not in the protocol (a misspelt "opatm") and fields given
 *	twice are refused, not sent as absent: a default would decide the
 *	payment without a word.
 *
 * DIAGNOSTICS
 *	Exit 2 when the file is not valid JSON or a claim has an unknown
 *	field or one of the wrong type (named on stderr); exit 1 when
 *	sending failed: a message not delivered to Kafka, or with --sync an
 *	answer of the socket itself (UNAVAILABLE, BAD_*), which stops the
 *	run, or a reply that is not this request's. A claim rejected by
 *	intake is an answer, printed, not a failure. Exit 3 when, with
 *	--sync, a claim's key (source, external_id) had been answered for
 *	other content: its line shows the first answer, and nothing of the
 *	claim sent was recorded (send it under a new external_id).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "claimctl/claimctl.h"
#include "common/envelope.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "common/zsock.h"
#include "proto/claims.pb-c.h"

#define CLAIMCTL_MAX_LINES 200

/* --- JSON -> ClaimSubmitted (strings point into the JSON document) ------- */

struct json_claim {
	Claims__ClaimSubmitted msg;
	Claims__ClaimLine lines[CLAIMCTL_MAX_LINES];
	Claims__ClaimLine *line_ptrs[CLAIMCTL_MAX_LINES];
	char *lens_ptrs[CLAIMCTL_MAX_LINES][2];
};

/* What librdkafka adds to a message's key and value when it weighs it
 * against message.max.bytes (its record's framing), with room to spare. */
#define KAFKA_RECORD_OVERHEAD 512

/* A claim's Kafka key: its membership number. */
static const char *key_of(const struct json_claim *c)
{
	return c->msg.membership_number ? c->msg.membership_number : "";
}

/* Where a bad file or claim is said: stderr; the fuzz target, which
 * feeds millions of bad ones, silences it. */
static FILE *input_errors;

static FILE *errors_out(void)
{
	return input_errors != NULL ? input_errors : stderr;
}

static int bad(const char *where, const char *field, const char *why)
{
	fprintf(errors_out(), "claimctl: %s%s: %s\n", where, field, why);
	return ERR;
}

static int get_text(json_t *o, const char *key, char **out, const char *where)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return OK;
	if (!json_is_string(v))
		return bad(where, key, "must be a string");
	*out = (char *)json_string_value(v);
	return OK;
}

static int get_int(json_t *o, const char *key, protobuf_c_boolean *has, int64_t *out,
		   const char *where)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return OK;
	if (!json_is_integer(v))
		return bad(where, key, "must be an integer");
	if (has != NULL)
		*has = 1;
	*out = json_integer_value(v);
	return OK;
}

static int get_u32(json_t *o, const char *key, protobuf_c_boolean *has, uint32_t *out,
		   const char *where)
{
	int64_t v = *out;

	if (get_int(o, key, has, &v, where) != OK)
		return ERR;
	if (v < 0 || v > UINT32_MAX)
		return bad(where, key, "out of range");
	*out = (uint32_t)v;
	return OK;
}

static int get_bool(json_t *o, const char *key, protobuf_c_boolean *has, protobuf_c_boolean *out,
		    const char *where)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return OK;
	if (!json_is_boolean(v))
		return bad(where, key, "must be true or false");
	*has = 1;
	*out = json_is_true(v);
	return OK;
}

/* Every member of o is one of `known` (NULL-terminated): a misspelt
 * member ("opatm") would otherwise be sent as absent, and its default
 * (OPTAM, the parcours) would decide the payment without a word. */
static int only_known(json_t *o, const char *const *known, const char *where)
{
	const char *key;
	json_t *v;

	json_object_foreach (o, key, v) {
		size_t k = 0;

		while (known[k] != NULL && strcmp(known[k], key) != 0)
			k++;
		if (known[k] == NULL)
			return bad(where, key, "unknown field (docs/protocol.md lists them)");
	}
	return OK;
}

int claimctl_parse_line(json_t *j, Claims__ClaimLine *l, char **lens, const char *where)
{
	static const char *const known[] = {
		"line_ref",
		"act_code",
		"category",
		"care_date",
		"quantity",
		"charged_cents",
		"brss_cents",
		"amo_rate",
		"amo_paid_cents",
		"optam",
		"parcours",
		"basket",
		"price_limit_cents",
		"frame_charged_cents",
		"lenses",
		NULL,
	};
	json_t *lenses = json_object_get(j, "lenses");

	claims__claim_line__init(l);
	if (!json_is_object(j))
		return bad(where, "", "a line must be an object");
	if (only_known(j, known, where) != OK)
		return ERR;
	if (get_text(j, "line_ref", &l->line_ref, where) != OK ||
	    get_text(j, "act_code", &l->act_code, where) != OK ||
	    get_text(j, "category", &l->category, where) != OK ||
	    get_text(j, "care_date", &l->care_date, where) != OK ||
	    get_u32(j, "quantity", &l->has_quantity, &l->quantity, where) != OK ||
	    get_int(j, "charged_cents", &l->has_charged_cents, &l->charged_cents, where) != OK ||
	    get_int(j, "brss_cents", &l->has_brss_cents, &l->brss_cents, where) != OK ||
	    get_u32(j, "amo_rate", &l->has_amo_rate, &l->amo_rate, where) != OK ||
	    get_int(j, "amo_paid_cents", &l->has_amo_paid_cents, &l->amo_paid_cents, where) != OK ||
	    get_bool(j, "optam", &l->has_optam, &l->optam, where) != OK ||
	    get_bool(j, "parcours", &l->has_parcours, &l->parcours, where) != OK ||
	    get_text(j, "basket", &l->basket, where) != OK ||
	    get_int(j, "price_limit_cents", &l->has_price_limit_cents, &l->price_limit_cents,
		    where) != OK ||
	    get_int(j, "frame_charged_cents", &l->has_frame_charged_cents, &l->frame_charged_cents,
		    where) != OK)
		return ERR;
	if (lenses != NULL) {
		if (!json_is_array(lenses) || json_array_size(lenses) != 2 ||
		    !json_is_string(json_array_get(lenses, 0)) ||
		    !json_is_string(json_array_get(lenses, 1)))
			return bad(where, "lenses", "must be an array of two strings");
		lens[0] = (char *)json_string_value(json_array_get(lenses, 0));
		lens[1] = (char *)json_string_value(json_array_get(lenses, 1));
		l->n_lenses = 2;
		l->lenses = lens;
	}
	return OK;
}

static int parse_enum(json_t *o, const char *key, const char *const *names, int count, int *out,
		      const char *where)
{
	const char *s = NULL;

	if (get_text(o, key, (char **)&s, where) != OK)
		return ERR;
	if (s == NULL)
		return OK;
	for (int i = 0; i < count; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = i;
			return OK;
		}
	return bad(where, key, "unknown value");
}

static int parse_claim(json_t *j, struct json_claim *c, int index)
{
	static const char *const kinds[] = {"unknown", "amo", "facility", "tiers_payant", "member"};
	static const char *const payees[] = {"member", "professional"};
	static const char *const known[] = {
		"source",
		"external_id",
		"membership_number",
		"beneficiary_rank",
		"beneficiary_birth_date",
		"professional_id",
		"professional_kind",
		"quote_id",
		"source_kind",
		"payee",
		"lines",
		NULL,
	};
	json_t *lines = json_object_get(j, "lines"), *lj;
	char where[32];
	int kind = 0, payee = 0;
	size_t i;

	snprintf(where, sizeof(where), "claim %d: ", index);
	claims__claim_submitted__init(&c->msg);
	if (!json_is_object(j))
		return bad(where, "", "a claim must be an object");
	if (only_known(j, known, where) != OK ||
	    get_text(j, "source", &c->msg.source, where) != OK ||
	    get_text(j, "external_id", &c->msg.external_id, where) != OK ||
	    get_text(j, "membership_number", &c->msg.membership_number, where) != OK ||
	    get_u32(j, "beneficiary_rank", &c->msg.has_beneficiary_rank, &c->msg.beneficiary_rank,
		    where) != OK ||
	    get_text(j, "beneficiary_birth_date", &c->msg.beneficiary_birth_date, where) != OK ||
	    get_text(j, "professional_id", &c->msg.professional_id, where) != OK ||
	    get_text(j, "professional_kind", &c->msg.professional_kind, where) != OK ||
	    get_text(j, "quote_id", &c->msg.quote_id, where) != OK ||
	    parse_enum(j, "source_kind", kinds, 5, &kind, where) != OK ||
	    parse_enum(j, "payee", payees, 2, &payee, where) != OK)
		return ERR;
	c->msg.has_source_kind = c->msg.has_payee = 1;
	c->msg.source_kind = (Claims__ClaimSource)kind;
	c->msg.payee = (Claims__Payee)payee;
	if (lines != NULL && (!json_is_array(lines) || json_array_size(lines) > CLAIMCTL_MAX_LINES))
		return bad(where, "lines", "must be an array of at most 200 lines");
	json_array_foreach (lines, i, lj) {
		char lwhere[80];

		snprintf(lwhere, sizeof(lwhere), "%slines[%zu].", where, i);
		if (claimctl_parse_line(lj, &c->lines[i], c->lens_ptrs[i], lwhere) != OK)
			return ERR;
		c->line_ptrs[i] = &c->lines[i];
	}
	c->msg.n_lines = json_array_size(lines);
	c->msg.lines = c->line_ptrs;
	return OK;
}

/* --- transports ---------------------------------------------------------------- */

struct sender {
	struct kafka_producer *producer;
	void *zctx, *req;
	int sent, accepted, rejected, differing;
};

/* Answers of the socket itself, not a verdict on the claim: nothing was
 * recorded (or, for UNAVAILABLE after a lost commit, perhaps was). The
 * run stops there; the file can be sent again whole, each claim is
 * recorded once. */
static int socket_failure(const char *code)
{
	static const char *const codes[] = {"UNAVAILABLE", "BAD_ENVELOPE", "WRONG_TYPE",
					    "BAD_PAYLOAD", "BAD_FRAMES",   NULL};

	for (int k = 0; code != NULL && codes[k] != NULL; k++)
		if (strcmp(code, codes[k]) == 0)
			return 1;
	return 0;
}

/* What a sync answer adds when it is a duplicate's. */
static const char *duplicate_note(const Claims__SubmitReply *r)
{
	if (!r->duplicate)
		return "";
	return r->content_differs ? " (duplicate: first answer; this content differs from the"
				    " first, nothing of it recorded)"
				  : " (duplicate: first answer)";
}

/* BAD_FRAMES and BAD_ENVELOPE answer a request intake could not read,
 * so they carry no request id (docs/protocol.md). */
static int unread_request(const Claims__SubmitReply *r)
{
	return (r->request_id == NULL || r->request_id[0] == '\0') && r->reason_code != NULL &&
	       (strcmp(r->reason_code, "BAD_FRAMES") == 0 ||
		strcmp(r->reason_code, "BAD_ENVELOPE") == 0);
}

/* A reply that is not the answer to this request (another type, another
 * request id, no status) is not taken for a verdict. */
static Claims__SubmitReply *read_reply(const zmq_msg_t *msg, const char *request_id)
{
	struct envelope env;
	Claims__SubmitReply *r = NULL;
	char why[160];

	if (envelope_unpack(zmq_msg_data((zmq_msg_t *)msg), zmq_msg_size((zmq_msg_t *)msg), &env,
			    why, sizeof(why)) != OK) {
		fprintf(stderr, "claimctl submit: bad reply: %s\n", why);
		return NULL;
	}
	if (env.type != CLAIMS__MESSAGE_TYPE__SUBMIT_REPLY)
		snprintf(why, sizeof(why), "a %s, not a SubmitReply", envelope_type_name(env.type));
	else if ((r = claims__submit_reply__unpack(NULL, env.payload_len, env.payload)) == NULL)
		snprintf(why, sizeof(why), "not a protobuf SubmitReply");
	else if (!r->has_status)
		snprintf(why, sizeof(why), "no status");
	else if (unread_request(r))
		why[0] = '\0'; /* the envelope could not be read: no request id */
	else if (r->request_id == NULL || strcmp(r->request_id, request_id) != 0)
		snprintf(why, sizeof(why), "the answer to request %s, not %s",
			 r->request_id ? r->request_id : "(none)", request_id);
	else
		why[0] = '\0';
	envelope_free(&env);
	if (why[0] != '\0') {
		fprintf(stderr, "claimctl submit: bad reply: %s\n", why);
		if (r != NULL)
			claims__submit_reply__free_unpacked(r, NULL);
		return NULL;
	}
	return r;
}

static int print_reply(struct sender *s, const zmq_msg_t *msg, const char *external_id,
		       const char *request_id)
{
	Claims__SubmitReply *r = read_reply(msg, request_id);
	const char *ext = external_id ? external_id : "-";
	int status = OK, differs;

	if (r == NULL)
		return ERR;
	/* The first answer to other content: printed as such, counted
	 * apart, for nothing of this claim was recorded. */
	differs = r->duplicate && r->content_differs;
	s->differing += differs;
	if (r->status == CLAIMS__SUBMIT_STATUS__SUBMIT_ACCEPTED) {
		s->accepted += !differs;
		printf("%s accepted %s%s\n", ext, r->claim_id ? r->claim_id : "-",
		       duplicate_note(r));
	} else if (socket_failure(r->reason_code)) {
		fprintf(stderr,
			"claimctl submit: %s: %s: %s; stopped here (the file can be sent"
			" again whole: each claim is recorded once)\n",
			ext, r->reason_code, r->message ? r->message : "");
		status = ERR;
	} else {
		s->rejected += !differs;
		printf("%s rejected %s %s %s%s\n", ext, r->reason_code ? r->reason_code : "-",
		       r->field && r->field[0] ? r->field : "-", r->message ? r->message : "",
		       duplicate_note(r));
	}
	claims__submit_reply__free_unpacked(r, NULL);
	return status;
}

static int send_sync(struct sender *s, const uint8_t *buf, size_t len, const char *external_id,
		     const char *request_id)
{
	zmq_msg_t reply;
	int status;

	if (zmq_send(s->req, buf, len, 0) < 0) {
		fprintf(stderr, "claimctl submit: send: %s\n", zmq_strerror(zmq_errno()));
		return ERR;
	}
	zmq_msg_init(&reply);
	if (zmq_msg_recv(&reply, s->req, 0) < 0) {
		/* Intake may have committed it all the same, after the wait. */
		fprintf(stderr,
			"claimctl submit: %s: no reply from intake: %s; it may be recorded: the"
			" file can be sent again whole (each claim is recorded once)\n",
			external_id ? external_id : "-", zmq_strerror(zmq_errno()));
		zmq_msg_close(&reply);
		return ERR;
	}
	status = print_reply(s, &reply, external_id, request_id);
	zmq_msg_close(&reply);
	return status;
}

static int send_claim(struct sender *s, json_t *j, int index)
{
	struct json_claim *c = xcalloc(1, sizeof(*c));
	char id[UUID_STR_LEN];
	uint8_t *buf = NULL;
	size_t len;
	int status = EXIT_USAGE;

	if (parse_claim(j, c, index) != OK)
		goto out;
	status = 1;
	if (envelope_pack(CLAIMS__MESSAGE_TYPE__CLAIM_SUBMITTED, &c->msg.base, NULL, "claimctl", id,
			  &buf, &len) != OK)
		goto out;
	if (s->req != NULL) {
		if (send_sync(s, buf, len, c->msg.external_id, id) != OK)
			goto out;
	} else {
		const char *key = key_of(c);

		if (kafka_produce(s->producer, "claims.submitted", key, strlen(key), buf, len) !=
		    OK)
			goto out;
	}
	s->sent++;
	status = 0;
out:
	free(buf);
	free(c);
	return status;
}

/* A claim as it will be sent: its fields, then its size, for the socket
 * drops a peer that sends more than ENVELOPE_MAX_BYTES (no answer) and
 * the producer refuses a message above KAFKA_MESSAGE_MAX_BYTES: found
 * there, the claims before it would be sent already. */
static int check_claim(json_t *j, int index, int sync)
{
	struct json_claim *c = xcalloc(1, sizeof(*c));
	size_t most = sync ? ENVELOPE_MAX_BYTES : KAFKA_MESSAGE_MAX_BYTES, len = 0;
	char id[UUID_STR_LEN];
	uint8_t *buf = NULL;
	int status = ERR;

	if (parse_claim(j, c, index) != OK)
		goto out;
	if (envelope_pack(CLAIMS__MESSAGE_TYPE__CLAIM_SUBMITTED, &c->msg.base, NULL, "claimctl", id,
			  &buf, &len) != OK)
		fprintf(errors_out(), "claimctl submit: claim %d: cannot be encoded\n", index);
	else if (len + (sync ? 0 : KAFKA_RECORD_OVERHEAD + strlen(key_of(c))) > most)
		fprintf(errors_out(),
			"claimctl submit: claim %d (external_id %s): %zu bytes as sent, at most %zu"
			" %s\n",
			index, c->msg.external_id ? c->msg.external_id : "-", len, most,
			sync ? "on the intake socket" : "on Kafka");
	else
		status = OK;
out:
	free(buf);
	free(c);
	return status;
}

static int open_sender(struct sender *s, int sync, const char *endpoint)
{
	const char *brokers = getenv("CLAIMS_KAFKA_BROKERS");

	memset(s, 0, sizeof(*s));
	if (!sync)
		return kafka_producer_open(brokers ? brokers : "127.0.0.1:59092", "claimctl",
					   &s->producer);
	s->zctx = zmq_ctx_new();
	if (s->zctx == NULL || zsock_connect_req(s->zctx, endpoint, 30000, &s->req) != OK) {
		fprintf(stderr, "claimctl submit: cannot connect to %s\n", endpoint);
		return ERR;
	}
	return OK;
}

static int close_sender(struct sender *s)
{
	int status = OK;

	if (s->producer != NULL) {
		status = kafka_producer_flush(s->producer, 30000);
		kafka_producer_close(s->producer);
	}
	if (s->req != NULL)
		zmq_close(s->req);
	if (s->zctx != NULL)
		zmq_ctx_term(s->zctx);
	return status;
}

/* A JSON array, or JSON values one after another (JSON lines), from the
 * len bytes of text (a NUL after them), named `name` in errors. Every
 * value must decode and nothing but blanks may follow the last: a file
 * cut short is refused (NULL), not sent in part. */
static json_t *claims_from_text(const char *text, size_t len, const char *name)
{
	json_t *all = json_array(), *one;
	json_error_t err;
	size_t pos = 0;

	for (;;) {
		pos += strspn(text + pos, " \t\r\n");
		if (pos >= len)
			break;
		one = json_loadb(text + pos, len - pos,
				 JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &err);
		if (one == NULL) {
			fprintf(errors_out(), "claimctl submit: %s: byte %zu: %s\n", name,
				pos + (size_t)err.position, err.text);
			json_decref(all);
			return NULL;
		}
		pos += (size_t)err.position;
		if (json_is_array(one))
			json_array_extend(all, one);
		else
			json_array_append(all, one);
		json_decref(one);
	}
	return all;
}

static json_t *load_claims(const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	json_t *all;
	size_t len = 0;
	char *buf;

	if (f == NULL) {
		fprintf(stderr, "claimctl submit: cannot open %s\n", path);
		return NULL;
	}
	if (read_stream(f, CLAIMCTL_MAX_INPUT, &buf, &len) != OK)
		buf = NULL;
	if (f != stdin)
		fclose(f);
	if (buf == NULL) {
		fprintf(stderr, "claimctl submit: cannot read %s (at most %u MiB)\n", path,
			CLAIMCTL_MAX_INPUT >> 20);
		return NULL;
	}
	all = claims_from_text(buf, len, path);
	free(buf);
	return all;
}

int cmd_submit(int argc, char **argv)
{
	const char *endpoint = getenv("CLAIMS_INTAKE_ENDPOINT"), *path = NULL;
	struct sender s;
	json_t *claims, *j;
	int sync = 0, status = 0, bad = 0, endpoint_given = 0;
	size_t i;

	for (int a = 1; a < argc && !bad; a++) {
		if (strcmp(argv[a], "--sync") == 0)
			sync = 1;
		else if (strcmp(argv[a], "--endpoint") == 0 && a + 1 < argc)
			endpoint = argv[++a], endpoint_given = 1;
		else if ((argv[a][0] != '-' || strcmp(argv[a], "-") == 0) && path == NULL)
			path = argv[a];
		else
			bad = 1; /* an unknown option, or a second file */
	}
	/* Without --sync the claims go to Kafka: an endpoint given then was
	 * meant for a socket, and would be ignored without a word. */
	if (endpoint_given && !sync && !bad && path != NULL) {
		fprintf(stderr, "claimctl submit: --endpoint goes with --sync (without it, the"
				" claims go to Kafka)\n");
		return EXIT_USAGE;
	}
	if (path == NULL || bad) {
		int help = argc > 1 && claimctl_is_help(argv[1]);

		fprintf(help ? stdout : stderr,
			"Usage: claimctl submit [--sync [--endpoint E]] FILE|-\n\n"
			"Sends claims (JSON lines or a JSON array) to claims.submitted, or with\n"
			"--sync to the intake socket, printing each answer. Every claim is "
			"checked\n"
			"before the first is sent. Exit 0: sent (or answered); 1: sending failed;\n"
			"2: bad usage or input, nothing sent; 3: with --sync, a claim's key had\n"
			"been answered for other content, and nothing of that claim was recorded.\n"
			"  CLAIMS_KAFKA_BROKERS    [127.0.0.1:59092]\n"
			"  CLAIMS_INTAKE_ENDPOINT  [tcp://127.0.0.1:5701]\n");
		return help ? 0 : EXIT_USAGE;
	}
	if ((claims = load_claims(path)) == NULL)
		return EXIT_USAGE;
	/* An export cut to nothing is not a successful run. */
	if (json_array_size(claims) == 0) {
		fprintf(stderr, "claimctl submit: no claim in %s\n", path);
		json_decref(claims);
		return EXIT_USAGE;
	}
	/* Every claim is read before one is sent: a bad one in the middle
	 * must not leave the ones before it sent. */
	json_array_foreach (claims, i, j) {
		if (check_claim(j, (int)i, sync) != OK) {
			json_decref(claims);
			return EXIT_USAGE;
		}
	}
	if (open_sender(&s, sync, endpoint ? endpoint : "tcp://127.0.0.1:5701") != OK) {
		json_decref(claims);
		return 1;
	}
	json_array_foreach (claims, i, j) {
		if ((status = send_claim(&s, j, (int)i)) != 0)
			break;
	}
	if (close_sender(&s) != OK && status == 0)
		status = 1;
	if (sync) {
		fprintf(stderr, "claimctl submit: %d claims answered, %d accepted, %d rejected",
			s.sent, s.accepted, s.rejected);
		if (s.differing > 0)
			fprintf(stderr,
				", %d not recorded: a key already answered for other content (send"
				" them under a new external_id)",
				s.differing);
		fprintf(stderr, "\n");
		if (status == 0 && s.differing > 0)
			status = 3;
	} else if (status == 0) {
		fprintf(stderr, "claimctl submit: %d claims sent\n", s.sent);
	} else {
		/* Queued is not delivered: the reports said which failed. */
		fprintf(stderr,
			"claimctl submit: %d claims queued, not all delivered (above); the file"
			" can be sent again whole: each claim is recorded once\n",
			s.sent);
	}
	json_decref(claims);
	return status;
}
