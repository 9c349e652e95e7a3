/*
 * NAME
 *	fuzz_intake_check.c - libFuzzer target of intake's validation of a submission
 *
 * SYNOPSIS
 *	tests/fuzz/run.sh fuzz_intake_check   (clang -fsanitize=fuzzer,address,undefined)
 *
 * DESCRIPTION
 *	Feeds arbitrary bytes to claims__claim_submitted__unpack(), the
 *	decoder intake runs on the payload of every submission (Kafka and
 *	socket), within the memory budget intake gives it, and a decoded
 *	ClaimSubmitted to intake_check_static() and intake_check_coverage(). The input is the bare ClaimSubmitted, not
 *	an envelope (fuzz_envelope covers the envelope), so that the fuzzer
 *	spends its time on the claim's fields. Seeds are in
 *	tests/fuzz/corpus_intake_check/.
 *
 *	What is checked, beyond the sanitizers:
 *	  - the message re-packs to the announced size, decodes again and
 *	    re-packs to the same bytes;
 *	  - the verdict is the same when asked twice;
 *	  - a refusal carries a reason code of docs/protocol.md that the
 *	    static check may give, a field (lines[i] with i a real line)
 *	    and a message;
 *	  - an accepted claim meets what docs/protocol.md promises: the
 *	    required texts, 1 to 99 lines, each with a known category, a
 *	    real date not after today, a quantity of 1 to 999, a rate of at
 *	    most 100, a charged amount of 0 to 100 000 EUR, zero or two
 *	    lenses; a charged amount that covers the AMO share, an AMO amount
 *	    not above it nor short of it by more than 50 EUR (on a date the
 *	    parameters cover), a frame within
 *	    the price; a "tp:" source that is its own professional's; it
 *	    stays accepted on a later day; it passes the coverage
 *	    check with an open contract (with a known adult or child,
 *	    only the line checks that need their age or the act table
 *	    may refuse it, naming a line) and is refused
 *	    with NOT_COVERED or UNKNOWN_MEMBER without one;
 *	  - a claim accepted for a known beneficiary is one the engine
 *	    computes, line by line (on a date the parameters cover): no
 *	    accepted claim ends in error.
 *	A broken check executes __builtin_trap(), which libFuzzer reports as
 *	a crash with the input left in build-fuzz/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/envelope.h"
#include "common/params.h"
#include "common/pbbudget.h"
#include "common/pbtext.h"
#include "proto/claims.pb-c.h"

/*
 * intake_check.c lives in services/intake/, which run.sh does not link
 * into the fuzz targets (only services/rules and services/common, the
 * libraries every daemon shares). Its validation is pure (no database,
 * no socket), so the file is compiled into this target directly rather
 * than linking the intake daemon with its main().
 */
#include "../../services/intake/intake_check.c"
#include "../engine_line.h"
#include "fuzz_protobuf.h"

#include "fuzz_target.h"

/* A fixed "today" keeps every run reproducible: 2025-06-30. */
static int32_t today;
static struct rules_params params;

/* FUZZ_STRICT_TAGS set: see bad_unknown_tag(). */
static int strict_tags;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	strict_tags = getenv("FUZZ_STRICT_TAGS") != NULL;
	/* The parameters the daemon reads (run.sh runs from the repository
	 * root): the AMO amount is judged against their PF and franchises. */
	if (params_load(PARAMS_DEFAULT_PATH, &params) != OK) {
		fprintf(stderr, "fuzz_intake_check: cannot load %s\n", PARAMS_DEFAULT_PATH);
		abort();
	}
	intake_check_use_params(&params);
	if (date_parse("2025-06-30", &today) != OK) {
		fprintf(stderr, "fuzz_intake_check: cannot initialise\n");
		abort();
	}
	return 0;
}

/* bad_unknown_tag(): see fuzz_protobuf.h. */

/* The codes intake_check_static() may give (docs/protocol.md, reason codes). */
static int static_code(const char *code)
{
	static const char *const codes[] = {
		"MISSING_FIELD", "INVALID_FIELD",    "UNKNOWN_CATEGORY", "AMOUNT_OUT_OF_RANGE",
		"FUTURE_DATE",	 "AMO_INCONSISTENT", "TOO_MANY_LINES",
	};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(code, codes[i]) == 0)
			return 1;
	return 0;
}

/* A field naming a line names one of the claim's lines. */
static int field_names_a_line(const char *field, size_t n_lines)
{
	unsigned long i;
	char *end;

	if (strncmp(field, "lines[", 6) != 0)
		return 1;
	i = strtoul(field + 6, &end, 10);
	return end != field + 6 && *end == ']' && i < n_lines;
}

static int text_ok(const char *s, size_t max, int required)
{
	if (s == NULL || s[0] == '\0')
		return !required;
	return strlen(s) <= max && utf8_valid(s);
}

static int amount_ok(int has, int64_t v, int required)
{
	return has ? v >= 0 && v <= INTAKE_MAX_LINE_CENTS : !required;
}

/* What an accepted claim is, written apart from intake_check.c. */
static void check_accepted(const Claims__ClaimSubmitted *s)
{
	CHECK(text_ok(s->source, 64, 1));
	CHECK(text_ok(s->external_id, 128, 1));
	CHECK(text_ok(s->membership_number, 32, 1));
	CHECK(text_ok(s->professional_id, 16, 0));
	CHECK(text_ok(s->quote_id, 64, 0));
	CHECK(s->payee != CLAIMS__PAYEE__PAYEE_PROFESSIONAL || s->professional_id != NULL);
	CHECK(s->n_lines >= 1 && s->n_lines <= INTAKE_MAX_LINES);
	for (size_t i = 0; i < s->n_lines; i++) {
		const Claims__ClaimLine *l = s->lines[i];
		enum rules_category cat;
		int32_t day;

		CHECK(l->category != NULL && rules_category_parse(l->category, &cat) == RULES_OK);
		CHECK(date_parse(l->care_date, &day) == OK && day <= today);
		CHECK(l->quantity >= 1 && l->quantity <= INTAKE_MAX_QUANTITY);
		CHECK(l->amo_rate <= 100);
		CHECK(amount_ok(l->has_charged_cents, l->charged_cents, 1));
		CHECK(amount_ok(l->has_brss_cents, l->brss_cents, 0));
		CHECK(amount_ok(l->has_amo_paid_cents, l->amo_paid_cents, 0));
		CHECK(amount_ok(l->has_frame_charged_cents, l->frame_charged_cents, 0));
		CHECK(text_ok(l->line_ref, 64, 0));
		CHECK(text_ok(l->act_code, RULES_ACT_CODE_MAX - 1, 0));
		CHECK(l->n_lenses == 0 || l->n_lenses == 2);
		/* The amounts hold together as the engine needs them. */
		if (l->has_brss_cents && l->has_amo_rate) {
			int64_t share = (l->brss_cents * l->amo_rate + 50) / 100;

			struct rules_param_set set;
			struct rules_error err;

			CHECK(l->charged_cents >= share);
			CHECK(!l->has_amo_paid_cents || l->amo_paid_cents <= share);
			/* Under parameters in force, never more withheld than 50
			 * EUR (a year's PF or franchise); without, not judged. */
			CHECK(!l->has_amo_paid_cents || share - l->amo_paid_cents <= 5000 ||
			      rules_params_at(&params, rules_date_from_days(day), &set, &err) !=
				      RULES_OK);
		}
		CHECK(l->frame_charged_cents <= l->charged_cents);
	}
	/* A "tp:" source is exactly "tp:KIND:NUMBER" of the claim's own
	 * professional, paid to them: the same length is not enough (another
	 * professional's number of as many digits). */
	if (strncmp(s->source, "tp:", 3) == 0) {
		char own[128];

		CHECK(s->payee == CLAIMS__PAYEE__PAYEE_PROFESSIONAL);
		CHECK(intake_given(s->professional_kind) && intake_given(s->professional_id));
		CHECK(snprintf(own, sizeof(own), "tp:%s:%s", s->professional_kind,
			       s->professional_id) < (int)sizeof(own));
		CHECK(strcmp(s->source, own) == 0);
	}
}

static int refused(const struct intake_outcome *o, const char *code)
{
	return !o->accepted && o->field[0] != '\0' && o->message[0] != '\0' &&
	       strcmp(o->reason_code, code) == 0;
}

/* The worker's engine computes each line for this beneficiary, on a
 * date the parameters cover (before them: not judged). */
static int engine_computes_lines(const Claims__ClaimSubmitted *s, const char *birth)
{
	for (size_t i = 0; i < s->n_lines; i++) {
		struct rules_param_set set;
		struct rules_error err;
		rules_date_t date;

		if (rules_date_parse(s->lines[i]->care_date, &date) == RULES_OK &&
		    rules_params_at(&params, date, &set, &err) != RULES_OK)
			continue;
		if (!engine_computes_line(&params, s->lines[i], birth))
			return 0;
	}
	return 1;
}

static void check_coverage(const Claims__ClaimSubmitted *s)
{
	struct intake_outcome out;
	struct coverage cov;

	memset(&cov, 0, sizeof(cov));
	cov.found = 1;
	cov.from = INT32_MIN;
	cov.until = INT32_MAX;
	memset(&out, 0, sizeof(out));
	/* Covered every day that passed; the record gives no birth date
	 * the rules can use: the record is found wanting, nothing else. */
	CHECK(intake_check_coverage(s, &cov, &out) == ERR);
	CHECK(strcmp(out.reason_code, "BENEFICIARY_RECORD_INVALID") == 0);

	/* Known, the beneficiary can only make the AMO amount wrong. */
	for (int who = 0; who < 2; who++) {
		snprintf(cov.birth_date, sizeof(cov.birth_date), "%s",
			 who ? "2015-06-01" : "1980-05-01");
		snprintf(cov.exemptions, sizeof(cov.exemptions), "%s", who ? "{C2S}" : "{}");
		memset(&out, 0, sizeof(out));
		if (intake_check_coverage(s, &cov, &out) != OK) {
			CHECK(refused(&out, "AMO_INCONSISTENT") || refused(&out, "INVALID_FIELD") ||
			      refused(&out, "AMOUNT_OUT_OF_RANGE") ||
			      refused(&out, "MISSING_FIELD"));
			CHECK(field_names_a_line(out.field, s->n_lines));
		} else {
			CHECK(engine_computes_lines(s, cov.birth_date));
		}
	}
	cov.birth_date[0] = cov.exemptions[0] = '\0';

	cov.suspended = 1;
	cov.suspended_from = INT32_MIN;
	CHECK(intake_check_coverage(s, &cov, &out) == ERR);
	CHECK(refused(&out, "NOT_COVERED"));
	CHECK(field_names_a_line(out.field, s->n_lines));

	/* A contract that ended before the first day a date can name. */
	memset(&out, 0, sizeof(out));
	cov.suspended = 0;
	cov.until = INT32_MIN + 1;
	CHECK(intake_check_coverage(s, &cov, &out) == ERR);
	CHECK(refused(&out, "NOT_COVERED"));

	memset(&out, 0, sizeof(out));
	cov.found = 0;
	CHECK(intake_check_coverage(s, &cov, &out) == ERR);
	CHECK(refused(&out, "UNKNOWN_MEMBER"));
}

static void round_trip(const Claims__ClaimSubmitted *s)
{
	Claims__ClaimSubmitted *again;
	size_t len1 = claims__claim_submitted__get_packed_size(s), len2;
	uint8_t *buf1 = malloc(len1 ? len1 : 1), *buf2;

	CHECK(buf1 != NULL);
	CHECK(claims__claim_submitted__pack(s, buf1) == len1);
	again = claims__claim_submitted__unpack(NULL, len1, buf1);
	CHECK(again != NULL);
	len2 = claims__claim_submitted__get_packed_size(again);
	CHECK(len2 == len1);
	buf2 = malloc(len2 ? len2 : 1);
	CHECK(buf2 != NULL);
	CHECK(claims__claim_submitted__pack(again, buf2) == len2);
	CHECK(memcmp(buf1, buf2, len1) == 0);
	free(buf2);
	claims__claim_submitted__free_unpacked(again, NULL);
	free(buf1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Claims__ClaimSubmitted *s;
	struct intake_outcome out, twice;
	struct pb_budget budget;
	const char *field;
	int r, nul;

	if (size > ENVELOPE_MAX_BYTES) /* no envelope carries more */
		return 0;
	/* Within the budget intake decodes with (intake_decode.c), which
	 * gives back all it held, decoded or not. */
	pb_budget_init(&budget, pb_decode_budget(size));
	s = claims__claim_submitted__unpack(&budget.allocator, size, data);
	/* The NUL check (intake_decode.c) walks any bytes safely, and finds
	 * well formed whatever protobuf-c decodes. */
	nul = pb_text_nul(&claims__claim_submitted__descriptor, data, size, &field);
	CHECK(nul >= -1 && nul <= 1 && (nul == 0 || field != NULL));
	if (s == NULL) {
		CHECK(budget.used == 0);
		return 0;
	}
	CHECK(nul != -1);
	if (strict_tags || !bad_unknown_tag(&s->base))
		round_trip(s);

	memset(&out, 0, sizeof(out));
	r = intake_check_static(s, today, &out);
	memset(&twice, 0, sizeof(twice));
	CHECK(intake_check_static(s, today, &twice) == r);
	CHECK(memcmp(&out, &twice, sizeof(out)) == 0);
	if (r != OK) {
		CHECK(r == ERR && !out.accepted);
		CHECK(static_code(out.reason_code));
		CHECK(out.field[0] != '\0' && out.message[0] != '\0');
		CHECK(field_names_a_line(out.field, s->n_lines));
	} else {
		CHECK(out.reason_code[0] == '\0');
		check_accepted(s);
		/* Ten years on, nothing in the claim has become invalid. */
		memset(&twice, 0, sizeof(twice));
		CHECK(intake_check_static(s, today + 3653, &twice) == OK);
		check_coverage(s);
	}
	claims__claim_submitted__free_unpacked(s, &budget.allocator);
	CHECK(budget.used == 0);
	return 0;
}
