/*
 * NAME
 *	claimctl_statement.c - reading the bank's statements and return
 *	reports (see claimctl_statement.h)
 *
 * DESCRIPTION
 *	A line is whole or refused: a claim id that is not a UUID, an
 *	amount that is not whole cents, an identifier outside the SEPA set
 *	or a reason code that is not one stop the reading at that line, so
 *	that the command records nothing of a file it could not read.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "claimctl/claimctl_statement.h"
#include "common/xalloc.h"

#define SEPA_SET "A-Z a-z 0-9 / ? : ( ) . , ' + -"

int bank_id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > BANK_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && strchr("/?:().,'+-", s[i]) == NULL)
			return 0;
	return 1;
}

int bank_reason_ok(const char *s)
{
	return strlen(s) == 4 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == 4;
}

/* One line's fields, checked, into *b; ERR said on err. */
static int parse_line(char *line, int line_no, enum bank_file kind, struct bank_line *b, FILE *err)
{
	int returns = kind == BANK_RETURNS, n = 0, want = returns ? 4 : 3;
	char *save = NULL, *f[5];

	for (char *tok = strtok_r(line, " \t\r", &save); tok != NULL && n < 5;
	     tok = strtok_r(NULL, " \t\r", &save))
		f[n++] = tok;
	if (n != want) {
		fprintf(err, "line %d: expected CLAIM_ID AMOUNT_CENTS %s\n", line_no,
			returns ? "REASON TRANSFER" : "REFERENCE");
		return ERR;
	}
	if (strlen(f[0]) != UUID_STR_LEN - 1 || !uuid_valid(f[0])) {
		fprintf(err, "line %d: claim id '%s' is not a UUID\n", line_no, f[0]);
		return ERR;
	}
	if (f[1][0] == '\0' || strlen(f[1]) > 15 || strspn(f[1], "0123456789") != strlen(f[1])) {
		fprintf(err, "line %d: amount '%s' is not a whole number of cents\n", line_no,
			f[1]);
		return ERR;
	}
	if (!returns && !bank_id_ok(f[2])) {
		fprintf(err, "line %d: reference '%s': 1 to %d of " SEPA_SET "\n", line_no, f[2],
			BANK_ID_MAX);
		return ERR;
	}
	if (returns && !bank_reason_ok(f[2])) {
		fprintf(err, "line %d: reason '%s' is not a bank's reason code (4 of A-Z 0-9)\n",
			line_no, f[2]);
		return ERR;
	}
	if (returns && !bank_id_ok(f[3])) {
		fprintf(err,
			"line %d: transfer '%s' is not a run id or a reference: 1 to %d "
			"of " SEPA_SET "\n",
			line_no, f[3], BANK_ID_MAX);
		return ERR;
	}
	memset(b, 0, sizeof(*b));
	snprintf(b->claim_id, sizeof(b->claim_id), "%s", f[0]);
	uuid_lower(b->claim_id);
	snprintf(b->amount, sizeof(b->amount), "%lld", strtoll(f[1], NULL, 10)); /* no leading 0 */
	if (returns) {
		snprintf(b->reason, sizeof(b->reason), "%s", f[2]);
		snprintf(b->transfer, sizeof(b->transfer), "%s", f[3]);
	} else {
		snprintf(b->reference, sizeof(b->reference), "%s", f[2]);
	}
	return OK;
}

int bank_file_parse(char *text, size_t len, enum bank_file kind, struct bank_line **out, int *count,
		    FILE *err)
{
	struct bank_line *b = NULL;
	int n = 0, cap = 0, line_no = 0;
	const char *nul = memchr(text, '\0', len);
	char *next;

	/* The lines after a NUL byte would go unread, as if the file ended
	 * there: not a file to read half of. */
	if (nul != NULL) {
		line_no = 1;
		for (const char *c = text; c < nul; c++)
			line_no += *c == '\n';
		fprintf(err, "line %d: a NUL byte: not a text statement\n", line_no);
		return ERR;
	}
	/* Split by hand: strtok_r would merge blank lines, and the numbers
	 * the errors give would no longer be the file's. */
	for (char *line = text; line != NULL; line = next) {
		char *end = strchr(line, '\n');

		next = end != NULL ? end + 1 : NULL;
		if (end != NULL)
			*end = '\0';
		line_no++;
		line += strspn(line, " \t\r");
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			b = xrealloc(b, (size_t)cap * sizeof(*b));
		}
		if (parse_line(line, line_no, kind, &b[n], err) != OK) {
			free(b);
			return ERR;
		}
		n++;
	}
	*out = b;
	*count = n;
	return OK;
}
