/*
 * NAME
 *	ident.h - check digits of French health identifiers
 *
 * DESCRIPTION
 *	RPPS (11 digits, répertoire partagé des professionnels de santé),
 *	FINESS (9 digits, établissements) and ADELI (9 digits, the older
 *	register of health professionals) end with a Luhn check digit. The
 *	NIR (numéro de sécurité sociale) is 13 characters and a two-digit key
 *	97 - (NIR mod 97); Corsican departments 2A/2B count as 19/18 for it.
 *	Our membership numbers are 10 digits, the last a Luhn check digit.
 */
#ifndef COMMON_IDENT_H
#define COMMON_IDENT_H

int luhn_check_digit(const char *digits); /* key to append to digits */
int luhn_valid(const char *number);	  /* 1 when the last digit checks */
int rpps_valid(const char *s);
int adeli_valid(const char *s);
int finess_valid(const char *s);
int nir_key(const char *nir13); /* -1 when malformed */
int nir_valid(const char *nir15);
int membership_number_valid(const char *s);
/* The membership number of seeded member i (from 1): "1", i on 8 digits, Luhn key. */
void membership_number_of(long index, char out[11]);

#endif
