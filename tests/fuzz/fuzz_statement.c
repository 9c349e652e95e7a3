/*
 * NAME
 *	fuzz_statement.c - libFuzzer target of the bank's files that
 *	claimctl payments reads (claimctl_statement.c)
 *
 * SYNOPSIS
 *	tests/fuzz/run.sh fuzz_statement   (clang -fsanitize=fuzzer,address,undefined)
 *
 * DESCRIPTION
 *	A statement (settle) and a return report (return) come from the
 *	bank, or from whoever edited them on the way: any bytes. Each input
 *	is read as both, as the command reads a file (a NUL after its
 *	bytes). Read, every transfer must be what the command relies on: a
 *	lower-case UUID, an amount of 1 to 15 digits without a leading
 *	zero, a SEPA identifier of 1 to 35 characters, a reason code of four
 *	capitals or digits; and no more transfers than lines. Refused, it
 *	leaves nothing to free and says why on the error stream.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/claimctl/claimctl_statement.c"
#include "fuzz_target.h"

/* What a refusal says, kept to check it says something. */
static char said[512];
static FILE *errors;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	errors = fmemopen(said, sizeof(said), "w");
	return errors != NULL ? 0 : 1;
}

static int amount_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 15 && strspn(s, "0123456789") == n && (s[0] != '0' || n == 1);
}

static int uuid_lower_ok(const char *s)
{
	return uuid_valid(s) && strlen(s) == UUID_STR_LEN - 1 && strpbrk(s, "ABCDEF") == NULL;
}

static void read_as(const uint8_t *data, size_t size, enum bank_file kind)
{
	char *text = malloc(size + 1);
	struct bank_line *b = NULL;
	size_t lines = 1;
	int n = -1;

	CHECK(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	rewind(errors);
	said[0] = '\0';
	if (bank_file_parse(text, size, kind, &b, &n, errors) != OK) {
		fflush(errors);
		CHECK(n == -1 && b == NULL);
		CHECK(strncmp(said, "line ", 5) == 0); /* "line N: why" */
		free(text);
		return;
	}
	CHECK(n >= 0 && (size_t)n <= lines && (n == 0) == (b == NULL));
	for (int i = 0; i < n; i++) {
		CHECK(uuid_lower_ok(b[i].claim_id));
		CHECK(amount_ok(b[i].amount));
		if (kind == BANK_STATEMENT) {
			CHECK(bank_id_ok(b[i].reference));
			CHECK(b[i].reason[0] == '\0' && b[i].transfer[0] == '\0');
		} else {
			CHECK(bank_reason_ok(b[i].reason) && bank_id_ok(b[i].transfer));
			CHECK(b[i].reference[0] == '\0');
		}
	}
	free(b);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	read_as(data, size, BANK_STATEMENT);
	read_as(data, size, BANK_RETURNS);
	return 0;
}
