/*
 * NAME
 *	rules_date.c - calendar days of the rules engine
 *
 * DESCRIPTION
 *	Dates are the integer YYYYMMDD (rules_date_t): ordering and equality
 *	of calendar days are plain integer comparisons, the calendar year is
 *	a division, and a debugger shows them as they read. This file parses
 *	and formats ISO dates, computes ages and adds months. No clock, no
 *	time zone: a date is a civil day.
 */
#include "rules/rules.h"

#include <stdio.h>

static bool leap_year(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && leap_year(y))
		return 29;
	return days[m - 1];
}

rules_date_t rules_date_ymd(int year, int month, int day)
{
	return (rules_date_t)(year * 10000 + month * 100 + day);
}

bool rules_date_valid(rules_date_t d)
{
	int y = d / 10000, m = d / 100 % 100, day = d % 100;

	if (y < RULES_MIN_YEAR || y > RULES_MAX_YEAR || m < 1 || m > 12)
		return false;
	return day >= 1 && day <= days_in_month(y, m);
}

static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int rules_date_parse(const char *s, rules_date_t *out)
{
	int y, m, d;

	if (s == NULL)
		return RULES_ERR;
	/* Exactly YYYY-MM-DD: reading the first 10 bytes is safe because
	 * each check stops at the first byte that is not the expected one,
	 * NUL included. */
	y = digits(s, 4);
	if (y < 0 || s[4] != '-')
		return RULES_ERR;
	m = digits(s + 5, 2);
	if (m < 0 || s[7] != '-')
		return RULES_ERR;
	d = digits(s + 8, 2);
	if (d < 0 || s[10] != '\0')
		return RULES_ERR;
	if (!rules_date_valid(rules_date_ymd(y, m, d)))
		return RULES_ERR;
	*out = rules_date_ymd(y, m, d);
	return RULES_OK;
}

void rules_date_format(rules_date_t d, char buf[11])
{
	unsigned u = (unsigned)d;

	/* Reduced modulo the field widths: always 10 characters. */
	snprintf(buf, 11, "%04u-%02u-%02u", u / 10000 % 10000, u / 100 % 100, u % 100);
}

int rules_age(rules_date_t birth, rules_date_t on)
{
	int age = rules_date_year(on) - rules_date_year(birth);

	/* Month and day compared as MMDD: someone born on 29 February
	 * completes a year on 1 March in other years. */
	if (on % 10000 < birth % 10000)
		age--;
	return age;
}

rules_date_t rules_date_add_months(rules_date_t d, int months)
{
	int y = d / 10000, m = d / 100 % 100, day = d % 100;
	int total = y * 12 + (m - 1) + months;
	int dim;

	y = total / 12;
	m = total % 12 + 1;
	dim = days_in_month(y, m);
	if (day > dim)
		day = dim;
	return rules_date_ymd(y, m, day);
}

int32_t rules_date_to_days(rules_date_t date)
{
	/* days-from-civil, the inverse of the algorithm below */
	int64_t y = date / 10000, m = date / 100 % 100, d = date % 100;
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (int32_t)(era * 146097 + doe - 719468);
}

rules_date_t rules_date_from_days(int32_t days)
{
	/* The civil-from-days algorithm of H. Hinnant: eras of 400 years
	 * (146097 days) starting on 1 March, so leap days fall last. */
	int64_t z = (int64_t)days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;
	int64_t y = yoe + era * 400 + (m <= 2);

	return rules_date_ymd((int)y, (int)m, (int)d);
}
