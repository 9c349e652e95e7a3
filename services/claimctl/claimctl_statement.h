/*
 * NAME
 *	claimctl_statement.h - the bank's files that claimctl payments reads
 *
 * DESCRIPTION
 *	A statement (payments settle) lists the transfers the bank made, a
 *	return report (payments return) the transfers it gave back: text,
 *	one transfer a line, blank lines and lines starting with # skipped.
 *	Reading them is pure code, but for the error line written on the
 *	stream given, so that the unit tests and the fuzz target call it as
 *	the command does.
 */
#ifndef CLAIMCTL_STATEMENT_H
#define CLAIMCTL_STATEMENT_H

#include <stddef.h>
#include <stdio.h>

#include "common/status.h"
#include "common/util.h"

#define BANK_ID_MAX 35 /* a SEPA identifier: end-to-end id, message id */

enum bank_file {
	BANK_STATEMENT, /* CLAIM_ID AMOUNT_CENTS REFERENCE */
	BANK_RETURNS,	/* CLAIM_ID AMOUNT_CENTS REASON TRANSFER */
};

/* One transfer of either file; the fields the other file has not are "". */
struct bank_line {
	char claim_id[UUID_STR_LEN];	 /* lower case */
	char amount[20];		 /* whole cents, no leading zero */
	char reference[BANK_ID_MAX + 1]; /* statement: the transfer's end-to-end id */
	char reason[8];			 /* returns: the bank's ISO 20022 reason code */
	char transfer[BANK_ID_MAX + 1];	 /* returns: a run id, or a reference */
};

/* 1 for a SEPA identifier: 1 to 35 of A-Z a-z 0-9 / ? : ( ) . , ' + - */
int bank_id_ok(const char *s);

/* 1 for a bank's reason code (ISO 20022 status or return reason): four
 * capitals or digits, e.g. AC04 (account closed), MD07 (deceased). */
int bank_reason_ok(const char *s);

/*
 * The transfers of text (len bytes and a NUL after them, as
 * read_file() gives; changed in place: split into lines), in *out (malloc'd, *count of them; none: NULL and 0). ERR on
 * the first malformed line or on a NUL byte, said on err with its line
 * number in the file, blank lines counted: nothing is read further.
 */
int bank_file_parse(char *text, size_t len, enum bank_file kind, struct bank_line **out, int *count,
		    FILE *err) MUST_CHECK;

#endif
