/*
 * NAME
 *	test_reimburse_quote.c - which quote requests the reimbursement
 *	worker computes, and what it answers the others, without a database
 *
 * DESCRIPTION
 *	White-box test of reimburse_quote.c (included here, with the parts
 *	of the worker it calls). A request is read from its frames as the
 *	quote thread reads it (read_request()); the quotes a batch computes
 *	and the reply each request gets are serve_batch()'s own
 *	(quotes_to_compute(), reply_body()). Then serve_batch() itself, on
 *	an inproc ROUTER standing for the worker's socket, with requests
 *	that need no database.
 *
 *	A QuoteCompute that decodes but is not complete (no birth date or
 *	one before 1900, no claim id, no lines...) is answered BAD_REQUEST
 *	with its request id and never computed: it used to keep its decoded
 *	message, so the batch handed it to reimburse_quote_batch() without
 *	a claim, and the worker died on a NULL pointer with every quote of
 *	the batch.
 */
#include "../../services/reimburse/reimburse_batch.c"
#include "../../services/reimburse/reimburse_formulas.c"
#include "../../services/reimburse/reimburse_quote.c"
#include "reimburse_quote_job.h"
#include "test.h"

#define REQUEST_ID "req-42"

/* A request the worker computes: one GP consultation. */
struct request {
	Claims__QuoteCompute c;
	Claims__ClaimAccepted a;
	Claims__ClaimLine line, *lines[1];
};

static void request_init(struct request *r)
{
	claims__quote_compute__init(&r->c);
	claims__claim_accepted__init(&r->a);
	claims__claim_line__init(&r->line);
	r->line.category = "CONSULT_GP";
	r->line.care_date = "2025-03-10";
	r->line.has_charged_cents = 1;
	r->line.charged_cents = 3000;
	r->line.has_line_no = 1;
	r->line.line_no = 1;
	r->lines[0] = &r->line;
	r->a.claim_id = "0190a3c4-1d2e-7f00-8000-000000000001";
	r->a.has_beneficiary_id = 1;
	r->a.beneficiary_id = 7;
	r->a.birth_date = "1980-05-01";
	r->a.n_lines = 1;
	r->a.lines = r->lines;
	r->c.claim = &r->a;
	r->c.formula_code = "CONFORT";
	r->c.has_professional_ref = 1;
	r->c.professional_ref = 3;
	r->c.valid_until = "2025-04-10";
	r->c.request_id = REQUEST_ID;
}

/* The envelope the front door sends; malloc'ed. */
static uint8_t *pack_request(const struct request *r, size_t *len)
{
	char id[UUID_STR_LEN];
	uint8_t *buf = NULL;

	*len = 0;
	if (envelope_pack(CLAIMS__MESSAGE_TYPE__QUOTE_COMPUTE, &r->c.base, NULL, "tpgate", id, &buf,
			  len) != OK)
		return NULL;
	return buf;
}

static void job_of_request(struct quote_job *j, const struct request *r)
{
	size_t len;
	uint8_t *body = pack_request(r, &len);

	quote_job_of(j, body, len);
	free(body);
}

/* The reply is an ErrorReply with this code and the request's id. */
static void check_error_reply(const uint8_t *reply, size_t len, const char *code,
			      const char *request_id)
{
	struct envelope env;
	Claims__ErrorReply *e;
	char why[160];

	REQUIRE(reply != NULL && envelope_unpack(reply, len, &env, why, sizeof(why)) == OK);
	CHECK_EQ_I64(env.type, CLAIMS__MESSAGE_TYPE__ERROR_REPLY);
	e = claims__error_reply__unpack(NULL, env.payload_len, env.payload);
	CHECK(e != NULL);
	if (e != NULL) {
		CHECK_EQ_STR(e->code, code);
		if (request_id != NULL)
			CHECK_EQ_STR(e->request_id, request_id);
	}
	claims__error_reply__free_unpacked(e, NULL);
	envelope_free(&env);
}

static void check_refused(struct quote_job *j, const char *request_id)
{
	struct reimburse_quote q[1];
	const uint8_t *reply;
	uint8_t *error;
	int idx[1];
	size_t len;

	CHECK_EQ_STR(j->error_code, "BAD_REQUEST");
	CHECK(j->compute == NULL);
	CHECK(j->q.claim == NULL);
	CHECK_EQ_I64(quotes_to_compute(j, 1, q, idx), 0);
	reply = reply_body(j, &error, &len);
	check_error_reply(reply, len, "BAD_REQUEST", request_id);
	free(error);
}

static void test_complete_request_is_computed(void)
{
	struct reimburse_quote q[1];
	struct request r;
	struct quote_job j;
	int idx[1];

	request_init(&r);
	job_of_request(&j, &r);
	CHECK(j.error_code == NULL);
	REQUIRE(j.compute != NULL);
	CHECK(j.q.claim != NULL && j.q.claim == j.compute->claim);
	CHECK_EQ_STR(j.q.formula_code, "CONFORT");
	CHECK_EQ_STR(j.q.request_id, REQUEST_ID);
	CHECK_EQ_I64(quotes_to_compute(&j, 1, q, idx), 1);
	CHECK(q[0].claim == j.compute->claim);
	job_free(&j);
}

/* Each field well_formed() requires, missing or wrong in turn. */
static void test_incomplete_requests_are_refused(void)
{
	for (int k = 0; k < 10; k++) {
		struct request r;
		struct quote_job j;

		request_init(&r);
		switch (k) {
		case 0:
			r.a.birth_date = "1899-12-31"; /* before the engine's calendar */
			break;
		case 1:
			r.a.birth_date = NULL;
			break;
		case 2:
			r.a.birth_date = "1980-02-30";
			break;
		case 3:
			r.a.claim_id = "not-a-uuid";
			break;
		case 4:
			r.a.claim_id = NULL;
			break;
		case 5:
			r.a.n_lines = 0;
			break;
		case 6:
			r.c.formula_code = NULL;
			break;
		case 7:
			r.c.has_professional_ref = 0;
			break;
		case 8:
			r.c.valid_until = "2025-13-01";
			break;
		default:
			r.c.claim = NULL;
			break;
		}
		job_of_request(&j, &r);
		printf("  case %d\n", k);
		check_refused(&j, REQUEST_ID);
		job_free(&j);
	}
}

static void test_not_a_quote_compute(void)
{
	Claims__ErrorReply e = CLAIMS__ERROR_REPLY__INIT;
	char id[UUID_STR_LEN];
	struct quote_job j;
	uint8_t *body;
	size_t len;

	quote_job_of(&j, (const uint8_t *)"\x08\x01garbage", 9);
	check_refused(&j, NULL);
	job_free(&j);

	/* An envelope of another type, whatever its payload. */
	e.code = "X";
	REQUIRE(envelope_pack(CLAIMS__MESSAGE_TYPE__ERROR_REPLY, &e.base, NULL, "tpgate", id, &body,
			      &len) == OK);
	quote_job_of(&j, body, len);
	check_refused(&j, NULL);
	job_free(&j);
	free(body);
}

/* Complete and incomplete requests in one batch: only the complete
 * ones are computed, each with its claim. */
static void test_batch_selects_complete_requests(void)
{
	struct reimburse_quote q[4];
	struct quote_job jobs[4];
	int idx[4];

	for (int i = 0; i < 4; i++) {
		struct request r;

		request_init(&r);
		if (i % 2 == 1)
			r.a.birth_date = i == 1 ? NULL : "1899-12-31";
		job_of_request(&jobs[i], &r);
	}
	CHECK_EQ_I64(quotes_to_compute(jobs, 4, q, idx), 2);
	CHECK_EQ_I64(idx[0], 0);
	CHECK_EQ_I64(idx[1], 2);
	CHECK(q[0].claim != NULL && q[1].claim != NULL);
	for (int i = 0; i < 4; i++)
		job_free(&jobs[i]);
}

/* serve_batch() on a socket: a batch of refused requests is answered
 * without a database (the server has none: a quote it tried to compute
 * would crash the test). */
static void test_serve_batch_answers_bad_request(void)
{
	struct quote_server qs;
	void *door;
	struct request r;
	uint8_t *body;
	size_t len;
	zmq_pollitem_t item;
	zmq_msg_t part[3];
	int more = 0, n = 0;

	memset(&qs, 0, sizeof(qs));
	qs.zctx = zmq_ctx_new();
	REQUIRE(qs.zctx != NULL);
	qs.sock = zmq_socket(qs.zctx, ZMQ_ROUTER);
	door = zmq_socket(qs.zctx, ZMQ_DEALER);
	REQUIRE(qs.sock != NULL && door != NULL);
	REQUIRE(zmq_bind(qs.sock, "inproc://quotes") == 0);
	REQUIRE(zmq_connect(door, "inproc://quotes") == 0);
	qs.served = metric_counter("test_quotes_total", "served");
	qs.failed = metric_counter("test_quote_failures_total", "failed");
	qs.latency = metric_histogram("test_quote_batch_seconds", "latency");
	qs.rows = xcalloc(1, sizeof(*qs.rows));
	rows_reset(qs.rows);

	request_init(&r);
	r.a.birth_date = "1899-12-31";
	body = pack_request(&r, &len);
	REQUIRE(body != NULL);
	CHECK(zmq_send(door, "", 0, ZMQ_SNDMORE) == 0);
	CHECK(zmq_send(door, "tag", 3, ZMQ_SNDMORE) == 3);
	CHECK(zmq_send(door, body, len, 0) == (int)len);
	free(body);

	item = (zmq_pollitem_t){qs.sock, 0, ZMQ_POLLIN, 0};
	REQUIRE(zmq_poll(&item, 1, 2000) == 1);
	serve_batch(&qs);
	CHECK_EQ_I64(metric_value(qs.served), 1);
	CHECK_EQ_I64(metric_value(qs.failed), 0);
	CHECK_EQ_I64(qs.rows->count, 0);

	/* [empty][tag][ErrorReply] back at the front door. */
	item = (zmq_pollitem_t){door, 0, ZMQ_POLLIN, 0};
	REQUIRE(zmq_poll(&item, 1, 2000) == 1);
	do {
		size_t size = sizeof(more);

		REQUIRE(n < 3);
		zmq_msg_init(&part[n]);
		REQUIRE(zmq_msg_recv(&part[n], door, 0) >= 0);
		n++;
		zmq_getsockopt(door, ZMQ_RCVMORE, &more, &size);
	} while (more);
	CHECK_EQ_I64(n, 3);
	if (n == 3) {
		CHECK_EQ_I64(zmq_msg_size(&part[0]), 0);
		CHECK(zmq_msg_size(&part[1]) == 3 && memcmp(zmq_msg_data(&part[1]), "tag", 3) == 0);
		check_error_reply(zmq_msg_data(&part[2]), zmq_msg_size(&part[2]), "BAD_REQUEST",
				  REQUEST_ID);
	}
	for (int i = 0; i < n; i++)
		zmq_msg_close(&part[i]);

	for (int k = 0; k < S_COUNT; k++)
		pgarray_free(&qs.rows->a[k]);
	free(qs.rows);
	zmq_close(door);
	zmq_close(qs.sock);
	zmq_ctx_term(qs.zctx);
}

int main(void)
{
	RUN(test_complete_request_is_computed);
	RUN(test_incomplete_requests_are_refused);
	RUN(test_not_a_quote_compute);
	RUN(test_batch_selects_complete_requests);
	RUN(test_serve_batch_answers_bad_request);
	return test_report();
}
