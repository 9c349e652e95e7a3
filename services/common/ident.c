/*
 * NAME
 *	ident.c - check digits of French health identifiers
 */
#include "common/ident.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static int all_digits(const char *s, size_t len)
{
	if (s == NULL || strlen(s) != len)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

/* Luhn sum over digits, doubling every second digit from the right of the
 * final number (the check digit position counts as position 0). */
static int luhn_sum(const char *digits, size_t len, int with_check)
{
	int sum = 0;

	for (size_t i = 0; i < len; i++) {
		int d = digits[len - 1 - i] - '0';
		int double_it = with_check ? (i % 2 == 1) : (i % 2 == 0);

		if (double_it) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
	}
	return sum;
}

int luhn_check_digit(const char *digits)
{
	return (10 - luhn_sum(digits, strlen(digits), 0) % 10) % 10;
}

int luhn_valid(const char *number)
{
	return luhn_sum(number, strlen(number), 1) % 10 == 0;
}

int rpps_valid(const char *s)
{
	return all_digits(s, 11) && luhn_valid(s);
}

int adeli_valid(const char *s)
{
	return all_digits(s, 9) && luhn_valid(s);
}

int finess_valid(const char *s)
{
	return all_digits(s, 9) && luhn_valid(s);
}

int membership_number_valid(const char *s)
{
	return all_digits(s, 10) && luhn_valid(s);
}

int nir_key(const char *nir13)
{
	char digits[14];
	unsigned long long n = 0;

	if (nir13 == NULL || strlen(nir13) != 13)
		return -1;
	memcpy(digits, nir13, 14);
	/* Corsica: department 2A counts as 19, 2B as 18 in the key */
	if (digits[5] == '2' && (digits[6] == 'A' || digits[6] == 'B')) {
		digits[6] = digits[6] == 'A' ? '9' : '8';
		digits[5] = '1';
	}
	if (!all_digits(digits, 13))
		return -1;
	for (int i = 0; i < 13; i++)
		n = n * 10 + (unsigned long long)(digits[i] - '0');
	return (int)(97 - n % 97);
}

int nir_valid(const char *nir15)
{
	char head[14];
	int key;

	if (nir15 == NULL || strlen(nir15) != 15 || !isdigit((unsigned char)nir15[13]) ||
	    !isdigit((unsigned char)nir15[14]))
		return 0;
	memcpy(head, nir15, 13);
	head[13] = '\0';
	key = nir_key(head);
	return key >= 0 && key == (nir15[13] - '0') * 10 + (nir15[14] - '0');
}

void membership_number_of(long index, char out[11])
{
	char body[16];

	snprintf(body, sizeof(body), "1%08ld", index % 100000000);
	memcpy(out, body, 9);
	out[9] = (char)('0' + luhn_check_digit(body));
	out[10] = '\0';
}
