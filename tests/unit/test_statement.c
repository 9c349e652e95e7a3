/*
 * test_statement.c - reading the bank's statements and return reports
 * (claimctl_statement.c), the input of claimctl payments settle and
 * return
 *
 * A file is read whole or not at all: every field is checked, and the
 * first bad line stops the reading with its number in the file, blank
 * and comment lines counted, so that an operator finds it.
 */
#include <stdlib.h>

#include "../../services/claimctl/claimctl_statement.c"
#include "test.h"

#define CLAIM_A "01900000-0000-7000-8000-00000000000a"

/* The file's transfers; *error the message written on the error stream
 * ("" when none), in a buffer of the caller's. */
static int parse(const char *file, enum bank_file kind, struct bank_line **out, int *count,
		 char *error, size_t error_len)
{
	size_t len = strlen(file);
	char *text = malloc(len + 1);
	FILE *err = fmemopen(error, error_len, "w");
	int status;

	memcpy(text, file, len + 1);
	error[0] = '\0';
	status = bank_file_parse(text, len, kind, out, count, err);
	fclose(err);
	free(text);
	return status;
}

static void test_statement_lines(void)
{
	struct bank_line *b = NULL;
	char error[200];
	int n = -1;

	REQUIRE(parse("# bank statement\n\n  " CLAIM_A " 00120 E2E-1\r\n"
		      "01900000-0000-7000-8000-00000000000B\t7\tX/1\n# end",
		      BANK_STATEMENT, &b, &n, error, sizeof(error)) == OK);
	CHECK_EQ_STR(error, "");
	REQUIRE(n == 2);
	CHECK_EQ_STR(b[0].claim_id, CLAIM_A);
	CHECK_EQ_STR(b[0].amount, "120"); /* no leading zero: compared as text */
	CHECK_EQ_STR(b[0].reference, "E2E-1");
	CHECK_EQ_STR(b[0].reason, "");
	CHECK_EQ_STR(b[1].claim_id, "01900000-0000-7000-8000-00000000000b"); /* lower case */
	CHECK_EQ_STR(b[1].reference, "X/1");
	free(b);
}

static void test_returns_lines(void)
{
	struct bank_line *b = NULL;
	char error[200];
	int n = -1;

	REQUIRE(parse(CLAIM_A " 2516 AC04 RUN-2026-11\n" CLAIM_A " 0 MD07 E2E-9", BANK_RETURNS, &b,
		      &n, error, sizeof(error)) == OK);
	REQUIRE(n == 2);
	CHECK_EQ_STR(b[0].amount, "2516");
	CHECK_EQ_STR(b[0].reason, "AC04");
	CHECK_EQ_STR(b[0].transfer, "RUN-2026-11");
	CHECK_EQ_STR(b[0].reference, "");
	CHECK_EQ_STR(b[1].amount, "0");
	CHECK_EQ_STR(b[1].transfer, "E2E-9");
	free(b);
}

static void test_empty_file(void)
{
	struct bank_line *b = NULL;
	char error[200];
	int n = -1;

	CHECK(parse("", BANK_STATEMENT, &b, &n, error, sizeof(error)) == OK);
	CHECK(n == 0 && b == NULL);
	CHECK(parse("# nothing today\n\n", BANK_RETURNS, &b, &n, error, sizeof(error)) == OK);
	CHECK(n == 0 && b == NULL);
}

/* Each bad file, and the message naming its line. */
static void test_refusals(void)
{
	static const struct {
		const char *file;
		enum bank_file kind;
		const char *error;
	} cases[] = {
		{"\n# x\n" CLAIM_A " 12.50 R", BANK_STATEMENT,
		 "line 3: amount '12.50' is not a whole number of cents\n"},
		{CLAIM_A " 1234567890123456 R", BANK_STATEMENT,
		 "line 1: amount '1234567890123456' is not a whole number of cents\n"},
		{CLAIM_A " -5 R", BANK_STATEMENT,
		 "line 1: amount '-5' is not a whole number of cents\n"},
		{"0190000-0000 1 R", BANK_STATEMENT,
		 "line 1: claim id '0190000-0000' is not a UUID\n"},
		{CLAIM_A " 1 R extra", BANK_STATEMENT,
		 "line 1: expected CLAIM_ID AMOUNT_CENTS REFERENCE\n"},
		{CLAIM_A " 1", BANK_STATEMENT,
		 "line 1: expected CLAIM_ID AMOUNT_CENTS REFERENCE\n"},
		{CLAIM_A " 1 R_1", BANK_STATEMENT,
		 "line 1: reference 'R_1': 1 to 35 of A-Z a-z 0-9 / ? : ( ) . , ' + -\n"},
		{CLAIM_A " 1 R123456789012345678901234567890123456", BANK_STATEMENT,
		 "line 1: reference 'R123456789012345678901234567890123456': 1 to 35 of A-Z a-z 0-9"
		 " / ? : ( ) . , ' + -\n"},
		{CLAIM_A " 1 AC04", BANK_RETURNS,
		 "line 1: expected CLAIM_ID AMOUNT_CENTS REASON TRANSFER\n"},
		{CLAIM_A " 1 ac04 RUN", BANK_RETURNS,
		 "line 1: reason 'ac04' is not a bank's reason code (4 of A-Z 0-9)\n"},
		{CLAIM_A " 1 AC045 RUN", BANK_RETURNS,
		 "line 1: reason 'AC045' is not a bank's reason code (4 of A-Z 0-9)\n"},
		{CLAIM_A " 1 AC04 RUN*1", BANK_RETURNS,
		 "line 1: transfer 'RUN*1' is not a run id or a reference: 1 to 35 of A-Z a-z 0-9 "
		 "/ ? :"
		 " ( ) . , ' + -\n"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bank_line *b = (struct bank_line *)&cases; /* must stay untouched */
		char error[200];
		int n = -1;

		CHECK(parse(cases[i].file, cases[i].kind, &b, &n, error, sizeof(error)) == ERR);
		CHECK_EQ_STR(error, cases[i].error);
		CHECK(n == -1 && b == (struct bank_line *)&cases);
	}
}

/* A NUL byte would end the reading there, the lines after it unread. */
static void test_nul_byte(void)
{
	static const char file[] = CLAIM_A " 1 R\n\n" CLAIM_A " 2\0 R\n" CLAIM_A " 3 R\n";
	char text[sizeof(file)], error[200];
	struct bank_line *b = NULL;
	FILE *err = fmemopen(error, sizeof(error), "w");
	int n = -1;

	memcpy(text, file, sizeof(file));
	CHECK(bank_file_parse(text, sizeof(file) - 1, BANK_STATEMENT, &b, &n, err) == ERR);
	fclose(err);
	CHECK_EQ_STR(error, "line 3: a NUL byte: not a text statement\n");
	CHECK(n == -1);
}

static void test_identifiers(void)
{
	CHECK(bank_id_ok("A"));
	CHECK(bank_id_ok("E2E/2026:11(1).a,b'c+d-e?f"));
	CHECK(bank_id_ok("12345678901234567890123456789012345")); /* 35 */
	CHECK(!bank_id_ok("123456789012345678901234567890123456"));
	CHECK(!bank_id_ok(""));
	CHECK(!bank_id_ok("A B"));
	CHECK(!bank_id_ok("é"));
	CHECK(bank_reason_ok("AC04") && bank_reason_ok("MS03") && bank_reason_ok("1234"));
	CHECK(!bank_reason_ok("AC0") && !bank_reason_ok("Ac04") && !bank_reason_ok("AC-4"));
}

int main(void)
{
	RUN(test_statement_lines);
	RUN(test_returns_lines);
	RUN(test_empty_file);
	RUN(test_refusals);
	RUN(test_nul_byte);
	RUN(test_identifiers);
	return test_report();
}
