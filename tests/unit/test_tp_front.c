/*
 * NAME
 *	test_tp_front.c - what the tiers-payant front door trusts of its
 *	peers, without servers
 *
 * DESCRIPTION
 *	White-box tests of tpgate_decode.c and tpgate_backend.c (included
 *	here):
 *
 *	- a request is decoded within a memory budget: a payload of
 *	  thousands of empty lines, 2 bytes each on the wire and a
 *	  ClaimLine each decoded, is refused, while any request the front
 *	  door can serve (99 lines, every text at its longest) decodes, and
 *	  so do the requests it refuses for their lines (empty lines, 100
 *	  lines), so that they get their own error; the budget gets back
 *	  every byte it gave;
 *	- over inproc sockets standing for a quote worker and intake, a
 *	  reply answers the request of its tag only on the socket that
 *	  request went out on.
 */
#include "../../services/tpgate/tpgate_backend.c"
#include "../../services/tpgate/tpgate_decode.c"
#include "envelope_frame.h"
#include "test.h"

static void *ctx;

/* ---- decoding within a budget -------------------------------------------------------- */

/* Decoded as read_request() decodes it: NULL when the envelope or the
 * payload does not decode within the budget (then nothing is held). */
static ProtobufCMessage *decode(struct pb_budget *budget, const uint8_t *frame, size_t len,
				struct envelope *env)
{
	ProtobufCMessage *m;
	char why[160];

	if (envelope_unpack_budgeted(budget, frame, len, env, why, sizeof(why)) != OK) {
		printf("  envelope: %s\n", why);
		return NULL;
	}
	m = tp_decode_payload(budget, env, why, sizeof(why));
	if (m == NULL) {
		printf("  payload: %s\n", why);
		envelope_free(env);
	}
	return m;
}

static void decoded_free(struct pb_budget *budget, ProtobufCMessage *m, struct envelope *env)
{
	protobuf_c_message_free_unpacked(m, &budget->allocator);
	envelope_free(env);
}

/* 32,000 empty `lines` (field `field`, 2 bytes each) after nothing else:
 * a frame under the socket's 64 KiB, 32,000 ClaimLines decoded. */
static void empty_lines_refused(Claims__MessageType type, uint8_t field)
{
	size_t n = 32000, len;
	uint8_t *payload = xmalloc(2 * n), *frame;
	struct pb_budget budget;
	struct envelope env;
	ProtobufCMessage *plain;

	for (size_t i = 0; i < n; i++) {
		payload[2 * i] = (uint8_t)(field << 3 | 2); /* length-delimited */
		payload[2 * i + 1] = 0;
	}
	frame = envelope_frame(type, payload, 2 * n, &len);
	CHECK(len < 65536 - 64);
	/* Decoded without a budget: what the front door held before. */
	plain = protobuf_c_message_unpack(tp_payload_descriptor(type), NULL, 2 * n, payload);
	REQUIRE(plain != NULL);
	CHECK_EQ_I64(type == CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST
			     ? ((Claims__QuoteRequest *)plain)->n_lines
			     : ((Claims__InvoiceRequest *)plain)->n_lines,
		     n);
	protobuf_c_message_free_unpacked(plain, NULL);
	/* Within the budget: refused, and nothing held. */
	CHECK(decode(&budget, frame, len, &env) == NULL);
	CHECK(budget.exceeded);
	CHECK(budget.peak <= budget.limit);
	CHECK_EQ_I64(budget.used, 0);
	free(frame);
	free(payload);
}

static void test_empty_lines_refused(void)
{
	empty_lines_refused(CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST, 3);
	empty_lines_refused(CLAIMS__MESSAGE_TYPE__INVOICE_REQUEST, 4);
}

/* n lines, every text at the longest the front door's and intake's checks
 * take (full: the largest request it can serve), or empty lines. */
static Claims__ClaimLine **lines_of(size_t n, int full, Claims__ClaimLine *store)
{
	static char line_ref[65], act_code[17];
	static char *lenses[2] = {"very_complex", "very_complex"};
	Claims__ClaimLine **out = xcalloc(n, sizeof(*out));

	memset(line_ref, 'R', 64);
	memset(act_code, 'A', 16);
	for (size_t i = 0; i < n; i++) {
		Claims__ClaimLine *l = &store[i];

		claims__claim_line__init(l);
		out[i] = l;
		if (!full)
			continue;
		l->line_ref = line_ref;
		l->act_code = act_code;
		l->category = "OPTIQUE_EQUIPEMENT";
		l->care_date = "2026-03-10";
		l->has_quantity = l->has_charged_cents = l->has_brss_cents = 1;
		l->has_amo_rate = l->has_amo_paid_cents = l->has_optam = l->has_parcours = 1;
		l->has_price_limit_cents = l->has_frame_charged_cents = 1;
		l->quantity = 999;
		l->charged_cents = l->price_limit_cents = 10000000;
		l->brss_cents = l->frame_charged_cents = 9000000;
		l->amo_rate = 100;
		l->amo_paid_cents = 8000000;
		l->basket = "MAITRISE";
		l->n_lenses = 2;
		l->lenses = lenses;
	}
	return out;
}

/* A QUOTE and an INVOICE of n lines decode within their budget, whole. */
static void lines_decode(size_t n, int full)
{
	static char token[65], member[33], invoice_id[65];
	Claims__ClaimLine *store = xcalloc(n, sizeof(*store));
	Claims__ClaimLine **lines = lines_of(n, full, store);
	Claims__BeneficiaryRef b = CLAIMS__BENEFICIARY_REF__INIT;
	Claims__QuoteRequest q = CLAIMS__QUOTE_REQUEST__INIT;
	Claims__InvoiceRequest inv = CLAIMS__INVOICE_REQUEST__INIT;
	const ProtobufCMessage *requests[2] = {&q.base, &inv.base};
	const Claims__MessageType types[2] = {CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST,
					      CLAIMS__MESSAGE_TYPE__INVOICE_REQUEST};

	memset(token, 'f', 64);
	memset(member, '7', 32);
	memset(invoice_id, 'I', 64);
	b.membership_number = member;
	b.birth_date = "2015-02-03";
	b.has_rank = 1;
	b.rank = 3;
	q.session_token = inv.session_token = token;
	q.beneficiary = inv.beneficiary = &b;
	q.n_lines = inv.n_lines = n;
	q.lines = inv.lines = lines;
	inv.invoice_id = invoice_id;
	inv.quote_id = "019cd6f9-869c-740e-8877-2e71a100df64";
	for (int k = 0; k < 2; k++) {
		struct pb_budget budget;
		struct envelope env;
		char id[UUID_STR_LEN];
		ProtobufCMessage *m;
		uint8_t *frame;
		size_t len;

		REQUIRE(envelope_pack(types[k], requests[k], NULL, "test", id, &frame, &len) == OK);
		m = decode(&budget, frame, len, &env);
		CHECK(m != NULL);
		if (m != NULL) {
			Claims__ClaimLine **got = k == 0 ? ((Claims__QuoteRequest *)m)->lines
							 : ((Claims__InvoiceRequest *)m)->lines;
			size_t n_got = k == 0 ? ((Claims__QuoteRequest *)m)->n_lines
					      : ((Claims__InvoiceRequest *)m)->n_lines;

			CHECK_EQ_I64(n_got, n);
			if (full && n_got == n) {
				CHECK_EQ_STR(got[n - 1]->line_ref, lines[n - 1]->line_ref);
				CHECK_EQ_I64(got[n - 1]->n_lenses, 2);
			}
			/* The largest request served holds under 100 KiB (the
			 * figure tpgate_decode.c gives for its 1 MiB cap). */
			if (full)
				CHECK(budget.peak < 100 * 1024);
			decoded_free(&budget, m, &env);
		}
		CHECK_EQ_I64(budget.used, 0);
		free(frame);
	}
	free(lines);
	free(store);
}

static void test_requests_served_decode(void)
{
	lines_decode(TP_MAX_LINES, 1);
}

/* Refused for their lines, not as undecodable: INVALID_LINE, INVALID_FIELD. */
static void test_requests_refused_for_their_lines_decode(void)
{
	lines_decode(TP_MAX_LINES, 0);
	lines_decode(TP_MAX_LINES + 1, 1);
}

static void test_envelope_within_budget(void)
{
	struct pb_budget budget;
	struct envelope env;
	char why[160];
	uint8_t *frame;
	size_t len;

	/* Each frame gets its budget: one decoded before is no matter. */
	frame = envelope_frame(CLAIMS__MESSAGE_TYPE__INVOICE_STATUS_REQUEST, (const uint8_t *)"", 0,
			       &len);
	REQUIRE(envelope_unpack_budgeted(&budget, frame, len, &env, why, sizeof(why)) == OK);
	CHECK_EQ_I64(budget.limit, pb_decode_budget(len));
	CHECK(budget.used > 0);
	envelope_free(&env);
	CHECK_EQ_I64(budget.used, 0);
	free(frame);
	/* The budget grows with the frame, up to its cap. */
	CHECK(pb_decode_budget(1000) < pb_decode_budget(2000));
	CHECK_EQ_I64(pb_decode_budget(ENVELOPE_MAX_BYTES), pb_decode_budget(SIZE_MAX / 2));
	CHECK(pb_decode_budget(SIZE_MAX / 2) <= 1024 * 1024);
	CHECK(tp_payload_descriptor(CLAIMS__MESSAGE_TYPE__CLAIM_SUBMITTED) == NULL);
}

/* A membership number "1000Z0016" with its Z a NUL: refused BAD_PAYLOAD,
 * not read as "1000". */
static void test_nul_in_a_text_refused(void)
{
	Claims__InvoiceStatusRequest r = CLAIMS__INVOICE_STATUS_REQUEST__INIT;
	struct pb_budget budget;
	struct envelope env;
	uint8_t payload[64], *frame, *at;
	char why[200];
	size_t n, len;

	r.session_token = "tok";
	r.invoice_id = "INV-Z";
	n = claims__invoice_status_request__pack(&r, payload);
	at = memchr(payload, 'Z', n);
	REQUIRE(at != NULL);
	*at = '\0';
	frame = envelope_frame(CLAIMS__MESSAGE_TYPE__INVOICE_STATUS_REQUEST, payload, n, &len);
	REQUIRE(envelope_unpack_budgeted(&budget, frame, len, &env, why, sizeof(why)) == OK);
	CHECK(tp_decode_payload(&budget, &env, why, sizeof(why)) == NULL);
	CHECK_EQ_STR(why, "InvoiceStatusRequest: text field invoice_id holds a NUL byte");
	envelope_free(&env);
	CHECK_EQ_I64(budget.used, 0);
	free(frame);
}

/* ---- backend replies ------------------------------------------------------------------ */

static int wait_readable(void *sock, long ms)
{
	zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};

	return zmq_poll(&item, 1, ms) == 1;
}

/* What a worker got: [routing id][empty][tag][envelope]. */
static int worker_recv(void *worker, struct zframes *f)
{
	if (!wait_readable(worker, 2000) || zsock_recv(worker, f) != OK)
		return ERR;
	return f->count == 4 ? OK : ERR;
}

/* A worker's answer carrying the tag of request `of` (as received). */
static int worker_send(void *worker, const struct zframes *to, const struct zframes *of,
		       const char *body)
{
	zmq_msg_t *id = (zmq_msg_t *)&to->part[0], *tag = (zmq_msg_t *)&of->part[2];

	if (zmq_send(worker, zmq_msg_data(id), zmq_msg_size(id), ZMQ_SNDMORE) < 0 ||
	    zmq_send(worker, "", 0, ZMQ_SNDMORE) < 0 ||
	    zmq_send(worker, zmq_msg_data(tag), zmq_msg_size(tag), ZMQ_SNDMORE) < 0 ||
	    zmq_send(worker, body, strlen(body), 0) < 0)
		return ERR;
	return OK;
}

/* The next reply on a backend socket: 1 with its slot (NULL: dropped). */
static int front_recv(struct tp_backends *b, void *sock, struct tp_pending **slot, char *body,
		      size_t max)
{
	const uint8_t *data;
	size_t len;

	if (!wait_readable(sock, 2000) || tp_backend_recv(b, sock, slot, &data, &len) != 1)
		return 0;
	body[0] = '\0';
	if (*slot != NULL)
		snprintf(body, max, "%.*s", (int)len, (const char *)data);
	return 1;
}

static void test_reply_on_the_socket_of_its_request(void)
{
	struct tp_backends *b = NULL;
	struct tp_pending *invoice, *quote, *slot;
	struct zframes at_intake, at_worker;
	void *intake = NULL, *worker = NULL;
	char body[32];
	int full;

	REQUIRE(zsock_bind_router(ctx, "inproc://tp-intake", &intake) == OK);
	REQUIRE(tp_backends_open(ctx, "inproc://tp-quotes", "inproc://tp-intake", 4, &b) == OK);
	worker = zmq_socket(ctx, ZMQ_ROUTER);
	REQUIRE(worker != NULL && zmq_connect(worker, "inproc://tp-quotes") == 0);

	invoice = tp_pending_new(b, CLAIMS__MESSAGE_TYPE__INVOICE_REQUEST, 5000, 1, 4, &full);
	quote = tp_pending_new(b, CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST, 5000, 1, 4, &full);
	REQUIRE(invoice != NULL && quote != NULL);
	CHECK(tp_pending_send(b, invoice, (const uint8_t *)"invoice", 7) == OK);
	CHECK(tp_pending_send(b, quote, (const uint8_t *)"quote", 5) == OK);
	REQUIRE(worker_recv(intake, &at_intake) == OK);
	REQUIRE(worker_recv(worker, &at_worker) == OK);

	/* The quote worker answers with the invoice's tag: dropped, the
	 * invoice still waits. */
	CHECK(worker_send(worker, &at_worker, &at_intake, "forged") == OK);
	CHECK(front_recv(b, tp_backends_quote_socket(b), &slot, body, sizeof(body)) == 1);
	CHECK(slot == NULL);
	CHECK(invoice->used);
	/* Each answer on its own socket reaches its request. */
	CHECK(worker_send(intake, &at_intake, &at_intake, "recorded") == OK);
	CHECK(front_recv(b, tp_backends_intake_socket(b), &slot, body, sizeof(body)) == 1);
	CHECK(slot == invoice);
	CHECK_EQ_STR(body, "recorded");
	CHECK(worker_send(worker, &at_worker, &at_worker, "computed") == OK);
	CHECK(front_recv(b, tp_backends_quote_socket(b), &slot, body, sizeof(body)) == 1);
	CHECK(slot == quote);
	CHECK_EQ_STR(body, "computed");
	/* And intake naming the quote's slot is dropped as well. */
	CHECK(worker_send(intake, &at_intake, &at_worker, "forged") == OK);
	CHECK(front_recv(b, tp_backends_intake_socket(b), &slot, body, sizeof(body)) == 1);
	CHECK(slot == NULL);

	zframes_close(&at_intake);
	zframes_close(&at_worker);
	tp_backends_close(b);
	zmq_close(worker);
	zmq_close(intake);
}

/* What an error code may be: what the clients read and the metrics'
 * label hold; anything else (a worker's bug) is not passed on. */
static void test_error_codes(void)
{
	static const char *const good[] = {"UNAVAILABLE", "BAD_REQUEST", "A",
					   "ABCDEFGHIJKLMNOPQRSTUVWXYZ_ABCD"};
	static const char *const bad[] = {"",
					  "lower",
					  "BAD CODE",
					  "BAD\"CODE",
					  "BAD-CODE",
					  "CODE\n",
					  "ABCDEFGHIJKLMNOPQRSTUVWXYZ_ABCDE"};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK(tp_error_code_ok(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(!tp_error_code_ok(bad[i]));
}

int main(void)
{
	RUN(test_empty_lines_refused);
	RUN(test_requests_served_decode);
	RUN(test_requests_refused_for_their_lines_decode);
	RUN(test_envelope_within_budget);
	RUN(test_nul_in_a_text_refused);
	ctx = zmq_ctx_new();
	RUN(test_reply_on_the_socket_of_its_request);
	RUN(test_error_codes);
	zmq_ctx_term(ctx);
	return test_report();
}
