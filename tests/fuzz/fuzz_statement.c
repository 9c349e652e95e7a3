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
 *	capitals or digits, each the value its line gave (read again here);
 *	and one transfer a line that is not blank or a comment. Refused, it
 *	leaves nothing to free and names the line on the error stream.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* The values the file gave its i-th transfer line, read again here on
 * a copy: the command's line is what the file said (a claim id in lower
 * case, an amount without its leading zeros). */
static void check_values(const uint8_t *data, size_t size, const struct bank_line *b, int n)
{
	char *copy = malloc(size + 1), *line, *next;
	int i = 0;

	CHECK(copy != NULL);
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (line = copy; line != NULL; line = next) {
		char *end = strchr(line, '\n'), *save = NULL, *f[4] = {NULL, NULL, NULL, NULL};

		next = end != NULL ? end + 1 : NULL;
		if (end != NULL)
			*end = '\0';
		line += strspn(line, " \t\r");
		if (line[0] == '\0' || line[0] == '#')
			continue;
		CHECK(i < n);
		f[0] = strtok_r(line, " \t\r", &save);
		for (int k = 1; k < 4 && f[k - 1] != NULL; k++)
			f[k] = strtok_r(NULL, " \t\r", &save);
		CHECK(f[0] != NULL && strcasecmp(f[0], b[i].claim_id) == 0);
		CHECK(f[1] != NULL && strtoll(f[1], NULL, 10) == strtoll(b[i].amount, NULL, 10));
		CHECK(f[2] != NULL &&
		      (strcmp(f[2], b[i].reference) == 0 || strcmp(f[2], b[i].reason) == 0));
		CHECK(f[3] == NULL ? b[i].transfer[0] == '\0' : strcmp(f[3], b[i].transfer) == 0);
		i++;
	}
	CHECK(i == n);
	free(copy);
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
	check_values(data, size, b, n);
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
