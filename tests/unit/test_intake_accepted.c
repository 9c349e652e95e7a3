/*
 * NAME
 *	test_intake_accepted.c - the claims.accepted event intake builds
 *
 * DESCRIPTION
 *	White-box test of intake_store.c's pack_accepted() (included here,
 *	as the daemons' sources are not a library): the event carries what
 *	reimburse needs, and a submission whose line holds a field this
 *	version does not know -- even one protobuf-c cannot write back, a
 *	field number 0 in a two-byte tag, found by fuzzing -- still gives an
 *	event that decodes.
 */
#include "../../services/intake/intake_check.c"
#include "../../services/intake/intake_store.c"
#include "test.h"

/* ClaimSubmitted bytes with one line, the line followed by extra bytes. */
static size_t claim_bytes(uint8_t *out, const uint8_t *extra, size_t extra_len)
{
	Claims__ClaimSubmitted c = CLAIMS__CLAIM_SUBMITTED__INIT;
	Claims__ClaimLine l = CLAIMS__CLAIM_LINE__INIT;
	uint8_t line[256];
	size_t n, line_len;

	l.category = "CONSULT_GP";
	l.care_date = "2026-03-10";
	l.has_charged_cents = l.has_brss_cents = l.has_amo_rate = 1;
	l.charged_cents = 3000;
	l.brss_cents = 3000;
	l.amo_rate = 70;
	line_len = claims__claim_line__pack(&l, line);
	if (extra_len > 0) /* memcpy from NULL is undefined even for 0 bytes */
		memcpy(line + line_len, extra, extra_len);
	line_len += extra_len;
	c.source = "test";
	c.external_id = "X-1";
	c.membership_number = "1000000016";
	n = claims__claim_submitted__pack(&c, out);
	out[n++] = 0x42; /* field 8 (lines), length-delimited */
	out[n++] = (uint8_t)line_len;
	memcpy(out + n, line, line_len);
	return n + line_len;
}

static Claims__ClaimAccepted *accepted_of(const Claims__ClaimSubmitted *s)
{
	struct intake_item it = {.s = s, .trace_id = "trace"};
	struct envelope env;
	Claims__ClaimAccepted *a = NULL;
	char event_id[UUID_STR_LEN], why[160];
	uint8_t *buf;
	size_t len;

	snprintf(it.out.claim_id, sizeof(it.out.claim_id), "0192f3a4-7b1c-7def-8abc-0123456789ab");
	it.cov.contract_id = 7;
	it.cov.beneficiary_id = 9;
	snprintf(it.cov.birth_date, sizeof(it.cov.birth_date), "1980-05-01");
	snprintf(it.cov.exemptions, sizeof(it.cov.exemptions), "{C2S}");
	if (pack_accepted(&it, event_id, &buf, &len) != OK)
		return NULL;
	if (envelope_unpack(buf, len, &env, why, sizeof(why)) == OK)
		a = claims__claim_accepted__unpack(NULL, env.payload_len, env.payload);
	envelope_free(&env);
	free(buf);
	return a;
}

static void test_event_carries_the_claim(void)
{
	uint8_t bytes[512];
	size_t n = claim_bytes(bytes, NULL, 0);
	Claims__ClaimSubmitted *s = claims__claim_submitted__unpack(NULL, n, bytes);
	Claims__ClaimAccepted *a;

	REQUIRE(s != NULL);
	a = accepted_of(s);
	REQUIRE(a != NULL);
	CHECK_EQ_I64(a->contract_id, 7);
	CHECK_EQ_I64(a->beneficiary_id, 9);
	CHECK_EQ_STR(a->birth_date, "1980-05-01");
	REQUIRE(a->n_exemptions == 1);
	CHECK_EQ_STR(a->exemptions[0], "C2S");
	REQUIRE(a->n_lines == 1);
	CHECK_EQ_I64(a->lines[0]->line_no, 1);
	CHECK_EQ_I64(a->lines[0]->charged_cents, 3000);
	claims__claim_accepted__free_unpacked(a, NULL);
	claims__claim_submitted__free_unpacked(s, NULL);
}

static void test_unknown_line_field_dropped(void)
{
	/* field 0, fixed32, tag on two bytes: kept as unknown by protobuf-c */
	static const uint8_t odd[] = {0x85, 0x00, 1, 2, 3, 4};
	uint8_t bytes[512];
	size_t n = claim_bytes(bytes, odd, sizeof(odd));
	Claims__ClaimSubmitted *s = claims__claim_submitted__unpack(NULL, n, bytes);
	Claims__ClaimAccepted *a;

	REQUIRE(s != NULL);
	REQUIRE(s->n_lines == 1);
	CHECK(s->lines[0]->base.n_unknown_fields == 1);
	a = accepted_of(s);
	CHECK(a != NULL); /* reimburse can read the event */
	if (a != NULL) {
		CHECK_EQ_I64(a->lines[0]->base.n_unknown_fields, 0);
		claims__claim_accepted__free_unpacked(a, NULL);
	}
	claims__claim_submitted__free_unpacked(s, NULL);
}

int main(void)
{
	RUN(test_event_carries_the_claim);
	RUN(test_unknown_line_field_dropped);
	return test_report();
}
