/*
 * NAME
 *	fuzz_submit.c - libFuzzer target of claimctl submit's reading of a
 *	claims file (JSON) into the protobuf it sends
 *
 * SYNOPSIS
 *	tests/fuzz/run.sh fuzz_submit   (clang -fsanitize=fuzzer,address,undefined)
 *
 * DESCRIPTION
 *	The file is an export of an upstream system, or a person's edit of
 *	one: any bytes. Each input is read as the command reads a file
 *	(claims_from_text()), then every claim checked as before a run
 *	(check_claim(), both for Kafka and for the socket) and made into
 *	the message sent (parse_claim(), envelope_pack()). A claim that is
 *	read must come back from the wire as the file gave it: the envelope
 *	decodes to CLAIM_SUBMITTED and every field of its ClaimSubmitted and
 *	of its lines holds the file's value, absent when the file has none
 *	(or null): what intake will check is what the file said. claimctl.c (the command's
 *	main) is not linked: its one function used here is given below.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/claimctl/claimctl_submit.c"
#include "fuzz_target.h"

int claimctl_is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	input_errors = fopen("/dev/null", "w");
	return input_errors != NULL ? 0 : 1;
}

static int same_text(const char *a, const char *b)
{
	/* protobuf-c gives an absent string back as NULL or "" alike */
	return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

/* The file's name of a source kind (docs/protocol.md), independently of
 * the command's table. */
static const char *source_kind_name(Claims__ClaimSource kind)
{
	switch (kind) {
	case CLAIMS__CLAIM_SOURCE__CLAIM_SOURCE_AMO:
		return "amo";
	case CLAIMS__CLAIM_SOURCE__CLAIM_SOURCE_FACILITY:
		return "facility";
	case CLAIMS__CLAIM_SOURCE__CLAIM_SOURCE_TIERS_PAYANT:
		return "tiers_payant";
	case CLAIMS__CLAIM_SOURCE__CLAIM_SOURCE_MEMBER:
		return "member";
	default:
		return "unknown";
	}
}

/* The member `key` of the JSON object o, as the message has it. */
static int text_as_given(json_t *o, const char *key, const char *got)
{
	json_t *v = json_object_get(o, key);

	return same_text(json_is_string(v) ? json_string_value(v) : NULL, got);
}

static int int_as_given(json_t *o, const char *key, protobuf_c_boolean has, int64_t got)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? has && json_integer_value(v) == got : !has;
}

static int bool_as_given(json_t *o, const char *key, protobuf_c_boolean has, protobuf_c_boolean got)
{
	json_t *v = json_object_get(o, key);

	return json_is_boolean(v) ? has && json_is_true(v) == !!got : !has;
}

static void check_line(json_t *l, const Claims__ClaimLine *got)
{
	json_t *lenses = json_object_get(l, "lenses");

	CHECK(text_as_given(l, "line_ref", got->line_ref));
	CHECK(text_as_given(l, "act_code", got->act_code));
	CHECK(text_as_given(l, "category", got->category));
	CHECK(text_as_given(l, "care_date", got->care_date));
	CHECK(text_as_given(l, "basket", got->basket));
	CHECK(int_as_given(l, "quantity", got->has_quantity, got->quantity));
	CHECK(int_as_given(l, "charged_cents", got->has_charged_cents, got->charged_cents));
	CHECK(int_as_given(l, "brss_cents", got->has_brss_cents, got->brss_cents));
	CHECK(int_as_given(l, "amo_rate", got->has_amo_rate, got->amo_rate));
	CHECK(int_as_given(l, "amo_paid_cents", got->has_amo_paid_cents, got->amo_paid_cents));
	CHECK(int_as_given(l, "price_limit_cents", got->has_price_limit_cents,
			   got->price_limit_cents));
	CHECK(int_as_given(l, "frame_charged_cents", got->has_frame_charged_cents,
			   got->frame_charged_cents));
	CHECK(bool_as_given(l, "optam", got->has_optam, got->optam));
	CHECK(bool_as_given(l, "parcours", got->has_parcours, got->parcours));
	CHECK(got->n_lenses == (lenses != NULL ? 2u : 0u));
	for (size_t i = 0; i < got->n_lenses; i++)
		CHECK(same_text(json_string_value(json_array_get(lenses, i)), got->lenses[i]));
}

/* The claim made into its envelope, and back. */
static void round_trip(json_t *j, int index)
{
	struct json_claim *c = xcalloc(1, sizeof(*c));
	Claims__ClaimSubmitted *got;
	char id[UUID_STR_LEN], why[128];
	struct envelope env;
	uint8_t *buf = NULL;
	size_t len;

	if (parse_claim(j, c, index) != OK) {
		free(c);
		return;
	}
	CHECK(envelope_pack(CLAIMS__MESSAGE_TYPE__CLAIM_SUBMITTED, &c->msg.base, NULL, "claimctl",
			    id, &buf, &len) == OK);
	CHECK(envelope_unpack(buf, len, &env, why, sizeof(why)) == OK);
	CHECK(env.type == CLAIMS__MESSAGE_TYPE__CLAIM_SUBMITTED);
	got = claims__claim_submitted__unpack(NULL, env.payload_len, env.payload);
	CHECK(got != NULL);
	CHECK(text_as_given(j, "source", got->source));
	CHECK(text_as_given(j, "external_id", got->external_id));
	CHECK(text_as_given(j, "membership_number", got->membership_number));
	CHECK(text_as_given(j, "beneficiary_birth_date", got->beneficiary_birth_date));
	CHECK(text_as_given(j, "professional_id", got->professional_id));
	CHECK(text_as_given(j, "professional_kind", got->professional_kind));
	CHECK(text_as_given(j, "quote_id", got->quote_id));
	CHECK(int_as_given(j, "beneficiary_rank", got->has_beneficiary_rank,
			   got->beneficiary_rank));
	CHECK(got->payee == (text_as_given(j, "payee", "professional")
				     ? CLAIMS__PAYEE__PAYEE_PROFESSIONAL
				     : CLAIMS__PAYEE__PAYEE_MEMBER));
	CHECK(got->has_source_kind);
	CHECK(strcmp(source_kind_name(got->source_kind),
		     json_is_string(json_object_get(j, "source_kind"))
			     ? json_string_value(json_object_get(j, "source_kind"))
			     : "unknown") == 0);
	CHECK(got->n_lines == json_array_size(json_object_get(j, "lines")));
	for (size_t i = 0; i < got->n_lines; i++)
		check_line(json_array_get(json_object_get(j, "lines"), i), got->lines[i]);
	claims__claim_submitted__free_unpacked(got, NULL);
	envelope_free(&env);
	free(buf);
	free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	json_t *claims, *j;
	size_t i;

	CHECK(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	claims = claims_from_text(text, size, "fuzz");
	free(text);
	if (claims == NULL)
		return 0;
	CHECK(json_is_array(claims));
	/* Only a claim the command would send (within the socket's size,
	 * the smaller) is sent and read back: a larger one is refused by
	 * the receiving side, by design. */
	json_array_foreach (claims, i, j) {
		(void)check_claim(j, (int)i, 0);
		if (check_claim(j, (int)i, 1) == OK)
			round_trip(j, (int)i);
	}
	json_decref(claims);
	return 0;
}
