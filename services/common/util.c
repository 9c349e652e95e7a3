/*
 * NAME
 *	util.c - clocks, identifiers and dates shared by every daemon
 */
#include "common/util.h"

#include "common/log.h"
#include "rules/rules.h"

#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

int64_t clock_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t clock_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t process_cpu_us(void)
{
	struct rusage u;

	if (getrusage(RUSAGE_SELF, &u) != 0)
		return 0;
	return (int64_t)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000 + u.ru_utime.tv_usec +
	       u.ru_stime.tv_usec;
}

/* Random bits for identifiers, drawn from libsodium 512 bytes at a time:
 * one getrandom() per 32 ids instead of one per id (a front door makes
 * one or two ids per request). Per thread, so no lock; no daemon forks,
 * so no two processes share a pool. */
#define RANDOM_POOL 512
static _Thread_local uint8_t random_pool[RANDOM_POOL];
static _Thread_local size_t random_used = RANDOM_POOL;

static void random_bits(uint8_t *out, size_t n)
{
	if (RANDOM_POOL - random_used < n) {
		randombytes_buf(random_pool, sizeof(random_pool));
		random_used = 0;
	}
	memcpy(out, random_pool + random_used, n);
	sodium_memzero(random_pool + random_used, n); /* never handed out twice */
	random_used += n;
}

static void uuid_format(const uint8_t b[16], char out[UUID_STR_LEN])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 0x0f];
	}
	out[o] = '\0';
}

void uuid_v7(char out[UUID_STR_LEN])
{
	uint8_t b[16];
	uint64_t ms = (uint64_t)(clock_now_us() / 1000);

	random_bits(b, sizeof(b));
	for (int i = 0; i < 6; i++)
		b[i] = (uint8_t)(ms >> (40 - 8 * i));
	b[6] = (uint8_t)(0x70 | (b[6] & 0x0f)); /* version 7 */
	b[8] = (uint8_t)(0x80 | (b[8] & 0x3f)); /* variant 10 */
	uuid_format(b, out);
}

void uuid_from_name(const void *name, size_t len, char out[UUID_STR_LEN])
{
	uint8_t b[16];

	crypto_generichash(b, sizeof(b), name, len, NULL, 0);
	b[6] = (uint8_t)(0x80 | (b[6] & 0x0f)); /* version 8: custom (BLAKE2b of the name) */
	b[8] = (uint8_t)(0x80 | (b[8] & 0x3f)); /* variant 10 */
	uuid_format(b, out);
}

int uuid_valid(const char *s)
{
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!isxdigit((unsigned char)s[i])) {
			return 0;
		}
	}
	return s[36] == '\0';
}

/* The calendar lives once, in the rules library (which common may use). */
int date_parse(const char *iso, int32_t *days)
{
	rules_date_t d;

	if (iso == NULL || rules_date_parse(iso, &d) != RULES_OK)
		return ERR;
	*days = rules_date_to_days(d);
	return OK;
}

void date_format(int32_t days, char out[DATE_STR_LEN])
{
	rules_date_format(rules_date_from_days(days), out);
}

int32_t date_today(void)
{
	return (int32_t)(clock_now_us() / 1000000 / 86400);
}

void uuid_lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'F')
			*s = (char)(*s - 'A' + 'a');
}

int32_t date_anywhere_at(int64_t now_us)
{
	return (int32_t)((now_us / 1000000 + 14 * 3600) / 86400);
}

int32_t date_today_anywhere(void)
{
	return date_anywhere_at(clock_now_us());
}

int utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		int extra;
		uint32_t cp;

		if (*p < 0x80) {
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0) {
			extra = 1;
			cp = *p & 0x1f;
		} else if ((*p & 0xf0) == 0xe0) {
			extra = 2;
			cp = *p & 0x0f;
		} else if ((*p & 0xf8) == 0xf0) {
			extra = 3;
			cp = *p & 0x07;
		} else {
			return 0;
		}
		p++;
		for (int i = 0; i < extra; i++, p++) {
			if ((*p & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (*p & 0x3f);
		}
		/* overlong forms, surrogates and beyond U+10FFFF */
		if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) ||
		    (extra == 3 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
	}
	return 1;
}

int read_stream(FILE *in, size_t max, char **text, size_t *len)
{
	size_t cap = 65536, n = 0, got;
	char *buf = malloc(cap + 1);

	while (buf != NULL && (got = fread(buf + n, 1, cap - n, in)) > 0) {
		n += got;
		if (n < cap)
			continue;
		if (cap >= max) {
			free(buf);
			errno = EFBIG;
			return ERR;
		}
		cap *= 2;
		{
			char *bigger = realloc(buf, cap + 1);

			if (bigger == NULL)
				free(buf);
			buf = bigger;
		}
	}
	if (buf == NULL || ferror(in)) {
		errno = buf == NULL ? ENOMEM : EIO;
		free(buf);
		return ERR;
	}
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return OK;
}

int read_file(const char *path, size_t max, char **text, size_t *len)
{
	FILE *f = fopen(path, "rb");
	int status;

	if (f == NULL) {
		log_error("%s: %s", path, strerror(errno));
		return ERR;
	}
	status = read_stream(f, max, text, len);
	if (status != OK)
		log_error("%s: %s", path, strerror(errno));
	fclose(f);
	return status;
}
