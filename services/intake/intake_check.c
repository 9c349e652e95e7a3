/*
 * NAME
 *	intake_check.c - validation of a claim submission
 *
 * DESCRIPTION
 *	intake_check_static(): everything that can be decided from the
 *	message alone: required fields, sizes, dates, amounts, the category
 *	and optics vocabulary of the rules engine, and the AMO amount when
 *	the AMO priced the act. intake_check_coverage(): what needs the
 *	beneficiary: the contract in force at each line's date, and the AMO
 *	amount again, for them. The first problem found is the answer, with
 *	a stable reason code and the field (docs/protocol.md lists the
 *	codes).
 *
 *	The AMO amount check: the AMO pays round(brss x rate %) less the
 *	participation forfaitaire and franchises it withheld; intake cannot
 *	know the member's caps, so it accepts a withholding between 0 and
 *	the most one line of its category can carry under the parameters in
 *	force on its date (rules_withholding_max(): the PF of a consultation,
 *	the franchise of each box, act or trip, their daily and yearly caps;
 *	nothing for care that bears neither), and rejects anything outside.
 *	With the beneficiary known, nothing may be withheld from one under
 *	the exemption age on the care date (a child), and a line without
 *	BRSS or rate is priced from its act code as the engine prices it
 *	(the tariff may depend on age). An AMO amount above 0 with neither
 *	BRSS and rate nor an act code has nothing to be judged against (the
 *	engine would take the AMO's share as 0): MISSING_FIELD. Without
 *	parameters for the date, only a payment above round(brss x rate) is
 *	refused here; such a date is refused with the beneficiary known
 *	(below), for the engine has nothing to compute it with.
 *
 *	Amounts are also checked against each other when the line gives
 *	them: the amount charged covers the AMO's share, a price limit (of
 *	any basket) is not below the BRSS, the frame is part of the glasses'
 *	price. The engine refuses such lines; a sender told "accepted" would
 *	learn it only from a claim in error.
 *
 *	Last, each line, translated as the worker translates it
 *	(common/claimline.c), goes through the engine's own checks of a line
 *	(rules_line_check()) and, with the beneficiary known, the dated
 *	parameters and the act table's for their age
 *	(rules_line_tariff_check()): what intake
 *	accepts, the engine computes (tests/fuzz/fuzz_intake_check.c holds
 *	it to that).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/claimline.h"
#include "intake/intake.h"
#include "rules/rules.h"

void intake_reject(struct intake_outcome *out, const char *code, const char *field, const char *fmt,
		   ...)
{
	va_list ap;

	out->accepted = 0;
	snprintf(out->reason_code, sizeof(out->reason_code), "%s", code);
	snprintf(out->field, sizeof(out->field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(out->message, sizeof(out->message), fmt, ap);
	va_end(ap);
}

static int check_text(const char *value, const char *field, size_t max, int required,
		      struct intake_outcome *out)
{
	if (value == NULL || value[0] == '\0') {
		if (!required)
			return OK;
		intake_reject(out, "MISSING_FIELD", field, "%s is required", field);
		return ERR;
	}
	if (strlen(value) > max || !utf8_valid(value)) {
		intake_reject(out, "INVALID_FIELD", field, "%s must be UTF-8 of at most %zu bytes",
			      field, max);
		return ERR;
	}
	return OK;
}

static int check_amount(int has, int64_t v, int required, const char *field,
			struct intake_outcome *out)
{
	if (!has) {
		if (!required)
			return OK;
		intake_reject(out, "MISSING_FIELD", field, "%s is required", field);
		return ERR;
	}
	if (v < 0 || v > INTAKE_MAX_LINE_CENTS) {
		intake_reject(out, "AMOUNT_OUT_OF_RANGE", field,
			      "%s = %" PRId64 " cents, expected 0 to %lld", field, v,
			      INTAKE_MAX_LINE_CENTS);
		return ERR;
	}
	return OK;
}

/* The dated parameters (PF, franchises), loaded once by the daemon. */
static const struct rules_params *check_params;

void intake_check_use_params(const struct rules_params *params)
{
	check_params = params;
}

/* round(brss x rate %), as the engine computes the AMO's share. */
static int64_t amo_share(const Claims__ClaimLine *l)
{
	return (l->brss_cents * l->amo_rate + 50) / 100;
}

/* The most the AMO may have withheld on this line, or -1: unknown. */
static int64_t max_withholding(enum rules_category cat, int32_t day, int64_t quantity)
{
	struct rules_param_set set;
	struct rules_error err;

	if (check_params == NULL ||
	    rules_params_at(check_params, rules_date_from_days(day), &set, &err) != RULES_OK)
		return -1;
	return rules_withholding_max(&set, cat, quantity);
}

/* The AMO amount against round(brss x rate), which `gross` is, and the
 * most that may have been withheld (`most`, -1: unknown). */
static int check_withheld(const Claims__ClaimLine *l, enum rules_category cat, int64_t gross,
			  int64_t most, const char *field, struct intake_outcome *out)
{
	int64_t withheld = gross - l->amo_paid_cents;

	if (withheld < 0) {
		intake_reject(out, "AMO_INCONSISTENT", field,
			      "AMO paid %" PRId64 " cents, more than round(brss x rate) = %" PRId64,
			      l->amo_paid_cents, gross);
		return ERR;
	}
	if (most >= 0 && withheld > most) {
		intake_reject(out, "AMO_INCONSISTENT", field,
			      "AMO paid %" PRId64 " cents: round(brss x rate) = %" PRId64
			      " less at most %" PRId64 " of PF and franchise for %s",
			      l->amo_paid_cents, gross, most, rules_category_name(cat));
		return ERR;
	}
	return OK;
}

/* The AMO amount of a line that gives its BRSS and rate, against the
 * most any beneficiary may bear (the exemption by age is judged by
 * intake_check_coverage()). A line priced from its act code is judged
 * there too, for the act table's tariff may depend on the beneficiary's
 * age; with neither, an AMO amount above 0 has nothing to be judged
 * against, and the engine would take the AMO's share as 0. */
static int check_amo(const Claims__ClaimLine *l, enum rules_category cat, int32_t day,
		     const char *prefix, struct intake_outcome *out)
{
	char field[64];

	if (!l->has_amo_paid_cents)
		return OK;
	if (!l->has_brss_cents || !l->has_amo_rate) {
		/* 0 (care the AMO does not pay) needs no base. */
		if ((l->act_code != NULL && l->act_code[0] != '\0') || l->amo_paid_cents == 0)
			return OK;
		snprintf(field, sizeof(field), "%s.%s", prefix,
			 l->has_brss_cents ? "amo_rate" : "brss_cents");
		intake_reject(out, "MISSING_FIELD", field,
			      "an AMO amount is judged against round(brss x rate): give both,"
			      " or the act code");
		return ERR;
	}
	snprintf(field, sizeof(field), "%s.amo_paid_cents", prefix);
	return check_withheld(l, cat, amo_share(l), max_withholding(cat, day, l->quantity), field,
			      out);
}

/* The line's amounts against each other (see the header). */
static int check_coherence(const Claims__ClaimLine *l, const char *prefix,
			   struct intake_outcome *out)
{
	char field[64];

	snprintf(field, sizeof(field), "%s.charged_cents", prefix);
	if (l->has_brss_cents && l->has_amo_rate && l->charged_cents < amo_share(l)) {
		intake_reject(out, "AMOUNT_OUT_OF_RANGE", field,
			      "charged %" PRId64 " cents, below the AMO share round(brss x"
			      " rate) = %" PRId64,
			      l->charged_cents, amo_share(l));
		return ERR;
	}
	/* With any basket: the engine refuses a price limit below the BRSS
	 * whatever the basket (and one without a basket at all). */
	snprintf(field, sizeof(field), "%s.price_limit_cents", prefix);
	if (l->has_brss_cents && l->has_price_limit_cents && l->price_limit_cents < l->brss_cents) {
		intake_reject(out, "AMOUNT_OUT_OF_RANGE", field,
			      "a price limit (%" PRId64 " cents) below the BRSS"
			      " (%" PRId64 ")",
			      l->price_limit_cents, l->brss_cents);
		return ERR;
	}
	snprintf(field, sizeof(field), "%s.frame_charged_cents", prefix);
	if (l->frame_charged_cents > l->charged_cents) {
		intake_reject(out, "AMOUNT_OUT_OF_RANGE", field,
			      "the frame (%" PRId64 " cents) is part of the amount charged"
			      " (%" PRId64 ")",
			      l->frame_charged_cents, l->charged_cents);
		return ERR;
	}
	return OK;
}

static int check_optics(const Claims__ClaimLine *l, const char *prefix, struct intake_outcome *out)
{
	char field[64];
	enum rules_lens lens;
	enum rules_basket basket;

	snprintf(field, sizeof(field), "%s.basket", prefix);
	if (intake_given(l->basket) && rules_basket_parse(l->basket, &basket) != RULES_OK) {
		intake_reject(out, "INVALID_FIELD", field,
			      "basket must be 100PS, MAITRISE or LIBRE");
		return ERR;
	}
	/* With an act code, the act table may give it (judged with the
	 * tariff, intake_check_coverage()). */
	snprintf(field, sizeof(field), "%s.price_limit_cents", prefix);
	if (intake_given(l->basket) && basket == RULES_BASKET_100PS && !l->has_price_limit_cents &&
	    (l->act_code == NULL || l->act_code[0] == '\0')) {
		intake_reject(out, "MISSING_FIELD", field, "a 100PS line needs its price limit");
		return ERR;
	}
	if (check_amount(l->has_price_limit_cents, l->price_limit_cents, 0, field, out) != OK)
		return ERR;
	snprintf(field, sizeof(field), "%s.lenses", prefix);
	if (l->n_lenses != 0 && l->n_lenses != 2) {
		intake_reject(out, "INVALID_FIELD", field, "lenses lists exactly two lenses");
		return ERR;
	}
	for (size_t i = 0; i < l->n_lenses; i++) {
		if (rules_lens_parse(l->lenses[i], &lens) != RULES_OK) {
			intake_reject(out, "INVALID_FIELD", field,
				      "lens must be simple, complex or very_complex");
			return ERR;
		}
	}
	snprintf(field, sizeof(field), "%s.frame_charged_cents", prefix);
	return check_amount(l->has_frame_charged_cents, l->frame_charged_cents, 0, field, out);
}

/* The engine's fault as a reason code: what it requires is missing,
 * an amount below another is out of range, anything else invalid. Its
 * path names the members of a rules_line ("lines[0].act"): the sender
 * reads those of a ClaimLine. */
static void reject_as_engine(const struct rules_error *err, struct intake_outcome *out)
{
	const char *code = "INVALID_FIELD", *member = strrchr(err->field, '.');
	char field[sizeof(err->field) + 16];

	if (strncmp(err->reason, "required", 8) == 0)
		code = "MISSING_FIELD";
	else if (strncmp(err->reason, "below", 5) == 0)
		code = "AMOUNT_OUT_OF_RANGE";
	if (member != NULL && (strcmp(member, ".act") == 0 || strcmp(member, ".date") == 0))
		snprintf(field, sizeof(field), "%.*s.%s", (int)(member - err->field), err->field,
			 strcmp(member, ".act") == 0 ? "act_code" : "care_date");
	else
		snprintf(field, sizeof(field), "%s", err->field);
	intake_reject(out, code, field, "%s", err->reason);
}

/* The line as the worker will compute it, through the engine's own
 * checks of a line: what intake's own checks let through (glasses
 * without lenses, a basket of another category, lenses or a frame
 * outside optics, a price limit without a basket) is refused here, not
 * found by the worker in a claim already accepted. */
static int check_as_engine(const Claims__ClaimLine *p, int i, struct intake_outcome *out)
{
	struct rules_line l;
	struct rules_error err;

	if (claim_line_to_rules(p, &l) != OK)
		return OK; /* date and category: judged before */
	/* Born on the care date: the beneficiary is not known yet. */
	if (rules_line_check(&l, (size_t)i, l.date, &err) == RULES_OK)
		return OK;
	reject_as_engine(&err, out);
	return ERR;
}

int intake_check_line(const Claims__ClaimLine *l, int i, int32_t today, struct intake_outcome *out)
{
	char prefix[24], field[64];
	enum rules_category cat;
	int32_t day;

	snprintf(prefix, sizeof(prefix), "lines[%d]", i);
	snprintf(field, sizeof(field), "%s.category", prefix);
	if (l->category == NULL || rules_category_parse(l->category, &cat) != RULES_OK) {
		intake_reject(out, "UNKNOWN_CATEGORY", field, "unknown care category");
		return ERR;
	}
	snprintf(field, sizeof(field), "%s.care_date", prefix);
	if (l->care_date == NULL || date_parse(l->care_date, &day) != OK) {
		intake_reject(out, "INVALID_FIELD", field,
			      "care_date must be a real YYYY-MM-DD date");
		return ERR;
	}
	if (day > today) {
		intake_reject(out, "FUTURE_DATE", field, "care on %s is in the future",
			      l->care_date);
		return ERR;
	}
	snprintf(field, sizeof(field), "%s.quantity", prefix);
	if (l->quantity < 1 || l->quantity > INTAKE_MAX_QUANTITY) {
		intake_reject(out, "AMOUNT_OUT_OF_RANGE", field, "quantity must be 1 to %d",
			      INTAKE_MAX_QUANTITY);
		return ERR;
	}
	snprintf(field, sizeof(field), "%s.amo_rate", prefix);
	if (l->amo_rate > 100) {
		intake_reject(out, "AMOUNT_OUT_OF_RANGE", field, "amo_rate is a percentage");
		return ERR;
	}
	snprintf(field, sizeof(field), "%s.charged_cents", prefix);
	if (check_amount(l->has_charged_cents, l->charged_cents, 1, field, out) != OK)
		return ERR;
	snprintf(field, sizeof(field), "%s.brss_cents", prefix);
	if (check_amount(l->has_brss_cents, l->brss_cents, 0, field, out) != OK)
		return ERR;
	snprintf(field, sizeof(field), "%s.amo_paid_cents", prefix);
	if (check_amount(l->has_amo_paid_cents, l->amo_paid_cents, 0, field, out) != OK)
		return ERR;
	snprintf(field, sizeof(field), "%s.act_code", prefix);
	if (check_text(l->act_code, field, RULES_ACT_CODE_MAX - 1, 0, out) != OK ||
	    check_amo(l, cat, day, prefix, out) != OK)
		return ERR;
	snprintf(field, sizeof(field), "%s.line_ref", prefix);
	if (check_text(l->line_ref, field, 64, 0, out) != OK)
		return ERR;
	if (check_optics(l, prefix, out) != OK || check_coherence(l, prefix, out) != OK)
		return ERR;
	return check_as_engine(l, i, out);
}

/* The invoices of the tiers-payant front door are keyed under
 * "tp:KIND:NUMBER", the professional's own namespace: a submission from
 * any sender claiming it for another professional (or for a member's
 * payment) would take the professional's invoice ids first, and give its
 * own answer to their invoices. */
int intake_tp_source_mismatch(const Claims__ClaimSubmitted *s)
{
	char expected[64];

	if (s->source == NULL || strncmp(s->source, "tp:", 3) != 0)
		return 0;
	if (!intake_given(s->professional_kind) || !intake_given(s->professional_id) ||
	    s->payee != CLAIMS__PAYEE__PAYEE_PROFESSIONAL)
		return 1;
	snprintf(expected, sizeof(expected), "tp:%s:%s", s->professional_kind, s->professional_id);
	return strcmp(s->source, expected) != 0;
}

int intake_check_static(const Claims__ClaimSubmitted *s, int32_t today, struct intake_outcome *out)
{
	int32_t birth_day;

	if (check_text(s->source, "source", INTAKE_MAX_SOURCE, 1, out) != OK ||
	    check_text(s->external_id, "external_id", INTAKE_MAX_EXTERNAL_ID, 1, out) != OK ||
	    check_text(s->membership_number, "membership_number", 32, 1, out) != OK ||
	    check_text(s->professional_id, "professional_id", 16, 0, out) != OK ||
	    check_text(s->quote_id, "quote_id", 64, 0, out) != OK)
		return ERR;
	if (strcmp(s->source, CLAIMS_COMPLEMENT_SOURCE) == 0) {
		intake_reject(out, "INVALID_FIELD", "source",
			      "source \"" CLAIMS_COMPLEMENT_SOURCE "\" is reserved for the claims"
			      " completing partial ones");
		return ERR;
	}
	if (intake_tp_source_mismatch(s)) {
		intake_reject(out, "INVALID_FIELD", "source",
			      "a source \"tp:KIND:NUMBER\" is the tiers-payant invoices' of the"
			      " professional it names: professional_kind, professional_id and a"
			      " professional payee must match it");
		return ERR;
	}
	if (s->quote_id != NULL && s->quote_id[0] != '\0' && !uuid_valid(s->quote_id)) {
		intake_reject(out, "INVALID_FIELD", "quote_id", "a quote id is a UUID");
		return ERR;
	}
	/* Ranks are 1 (subscriber), 2 (spouse), 3... (children), 0 or absent
	 * the subscriber: a number past the column's range is no beneficiary,
	 * and must be refused here, not fail the batch's SQL. */
	if (s->beneficiary_rank > 99) {
		intake_reject(out, "INVALID_FIELD", "beneficiary_rank",
			      "beneficiary_rank is 1 (subscriber) to 99");
		return ERR;
	}
	/* A date, or the batch's cast of it to date would fail for all. */
	if (s->beneficiary_birth_date != NULL && s->beneficiary_birth_date[0] != '\0' &&
	    date_parse(s->beneficiary_birth_date, &birth_day) != OK) {
		intake_reject(out, "INVALID_FIELD", "beneficiary_birth_date",
			      "beneficiary_birth_date is a real date, YYYY-MM-DD");
		return ERR;
	}
	if (intake_given(s->professional_kind) && strcmp(s->professional_kind, "RPPS") != 0 &&
	    strcmp(s->professional_kind, "ADELI") != 0 &&
	    strcmp(s->professional_kind, "FINESS") != 0) {
		intake_reject(out, "INVALID_FIELD", "professional_kind",
			      "professional_kind is RPPS, ADELI or FINESS");
		return ERR;
	}
	if (intake_given(s->professional_kind) && !intake_given(s->professional_id)) {
		intake_reject(out, "MISSING_FIELD", "professional_id",
			      "professional_kind names the register of professional_id");
		return ERR;
	}
	if (s->payee == CLAIMS__PAYEE__PAYEE_PROFESSIONAL &&
	    (s->professional_id == NULL || s->professional_id[0] == '\0')) {
		intake_reject(out, "MISSING_FIELD", "professional_id",
			      "a professional payee needs professional_id");
		return ERR;
	}
	if (s->n_lines == 0) {
		intake_reject(out, "MISSING_FIELD", "lines", "a claim has at least one line");
		return ERR;
	}
	if (s->n_lines > INTAKE_MAX_LINES) {
		intake_reject(out, "TOO_MANY_LINES", "lines", "at most %d lines per claim",
			      INTAKE_MAX_LINES);
		return ERR;
	}
	for (size_t i = 0; i < s->n_lines; i++)
		if (intake_check_line(s->lines[i], (int)i, today, out) != OK)
			return ERR;
	return OK;
}

/* The line for this beneficiary, as the worker will compute it: care
 * before their birth; no parameters in force on its date; against the
 * act table for their age, an act it does not know (when the line needs
 * its tariff) or of another category, a 100PS line with no price limit
 * anywhere, charged below the AMO's share or a price limit below the
 * BRSS once the table filled them in. *gross: the AMO's share as the
 * engine prices it (given BRSS and rate, else the act table's for their
 * age, per act times the quantity), -1 when unknown (no parameters
 * loaded, or a line the checks before judged). */
static int check_tariff_of(const Claims__ClaimLine *p, int i, rules_date_t birth, int64_t *gross,
			   struct intake_outcome *out)
{
	struct rules_line l;
	struct rules_error err;

	*gross = -1;
	if (claim_line_to_rules(p, &l) != OK)
		return OK;
	if (rules_line_check(&l, (size_t)i, birth, &err) == RULES_OK &&
	    (check_params == NULL ||
	     rules_line_tariff_check(check_params, &l, (size_t)i, rules_age(birth, l.date), gross,
				     &err) == RULES_OK))
		return OK;
	reject_as_engine(&err, out);
	return ERR;
}

/* A line's AMO amount for this beneficiary, against `gross` (above; or
 * round(brss x rate) when the line gives both), less at most what they
 * bear of PF and franchise: nothing under the exemption age on the care
 * date. The exemptions of the beneficiary row (C2S, maternity) are not
 * applied here: they carry no dates, and one recorded today would
 * refuse, for good (the key's first answer), an AMO statement for care
 * before it began, which rightly bore the PF. */
static int check_amo_of(const Claims__ClaimLine *l, int i, rules_date_t birth, int64_t gross,
			struct intake_outcome *out)
{
	struct rules_param_set set;
	struct rules_error err;
	enum rules_category cat;
	rules_date_t date;
	int64_t most = -1;
	char field[64];
	int age;

	if (!l->has_amo_paid_cents || rules_category_parse(l->category, &cat) != RULES_OK ||
	    rules_date_parse(l->care_date, &date) != RULES_OK)
		return OK;
	if (gross < 0) {
		if (!l->has_brss_cents || !l->has_amo_rate)
			return OK;
		gross = amo_share(l);
	}
	age = rules_age(birth, date);
	if (check_params != NULL && rules_params_at(check_params, date, &set, &err) == RULES_OK)
		most = rules_withholding_max_for(&set, cat, l->quantity, 0, age);
	snprintf(field, sizeof(field), "lines[%d].amo_paid_cents", i);
	return check_withheld(l, cat, gross, most, field, out);
}

/* Did the membership number, rank and birth date name one person? */
static int check_found(const Claims__ClaimSubmitted *s, const struct coverage *cov,
		       struct intake_outcome *out)
{
	const char *born = s->beneficiary_birth_date;

	if (born != NULL && born[0] == '\0')
		born = NULL;
	if (cov->ambiguous && born != NULL) {
		intake_reject(
			out, "AMBIGUOUS_BENEFICIARY", "beneficiary_birth_date",
			s->beneficiary_rank
				? "two beneficiaries of this membership number born on %s"
				  " held that rank on contracts not in force at the care"
				  " (twins, renumbered): give the rank of the card in force"
				: "two beneficiaries of this membership number were born on %s"
				  " (twins): give the rank",
			born);
		return ERR;
	}
	if (cov->found)
		return OK;
	if (born != NULL && s->beneficiary_rank)
		intake_reject(out, "UNKNOWN_MEMBER", "beneficiary_birth_date",
			      "no beneficiary of rank %u born on %s under this membership number",
			      s->beneficiary_rank, born);
	else if (born != NULL)
		intake_reject(out, "UNKNOWN_MEMBER", "beneficiary_birth_date",
			      "no beneficiary born on %s under this membership number", born);
	else
		intake_reject(out, "UNKNOWN_MEMBER", "membership_number",
			      "no beneficiary of rank %u under this membership number",
			      s->beneficiary_rank ? s->beneficiary_rank : 1);
	return ERR;
}

int intake_check_coverage(const Claims__ClaimSubmitted *s, const struct coverage *cov,
			  struct intake_outcome *out)
{
	rules_date_t birth;

	if (check_found(s, cov, out) != OK)
		return ERR;
	for (size_t i = 0; i < s->n_lines; i++) {
		char field[64];
		int32_t day;

		if (date_parse(s->lines[i]->care_date, &day) != OK)
			return ERR; /* checked before: cannot happen */
		if ((cov->suspended && day >= cov->suspended_from) || day < cov->from ||
		    day >= cov->until) {
			snprintf(field, sizeof(field), "lines[%zu].care_date", i);
			intake_reject(out, "NOT_COVERED", field,
				      "no contract in force for this beneficiary on %s",
				      s->lines[i]->care_date);
			return ERR;
		}
	}
	/* A birth date the rules cannot use (a legacy placeholder, 1899 or
	 * 1800): accepted, the claim would end in error at the worker, whose
	 * engine refuses it, every age rule unjudged here. The insurer's
	 * record is at fault, not the sender: said so, for the key to be
	 * released once it is mended. */
	if (rules_date_parse(cov->birth_date, &birth) != RULES_OK) {
		intake_reject(out, "BENEFICIARY_RECORD_INVALID", "",
			      "the insurer's record of this beneficiary has a birth date (%s)"
			      " outside 1900 to 2199: the insurer mends it",
			      cov->birth_date);
		return ERR;
	}
	for (size_t i = 0; i < s->n_lines; i++) {
		int64_t gross;

		if (check_tariff_of(s->lines[i], (int)i, birth, &gross, out) != OK ||
		    check_amo_of(s->lines[i], (int)i, birth, gross, out) != OK)
			return ERR;
	}
	return OK;
}
