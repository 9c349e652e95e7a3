/*
 * NAME
 *	util.c - clocks, identifiers and dates shared by every daemon
 */
#include "common/util.h"

#include "common/log.h"
#include "common/xalloc.h"
#include "rules/rules.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

int32_t date_local_at(int64_t now_us)
{
	time_t t = (time_t)(now_us / 1000000);
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL)
		return (int32_t)(now_us / 1000000 / 86400);
	return rules_date_to_days(rules_date_ymd(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday));
}

int32_t date_today_local(void)
{
	return date_local_at(clock_now_us());
}

/* The end of a POSIX TZ rule's name and offset ("CET-1", "<+04>-4",
 * "EST5:30"), or NULL when tz does not begin so: then it is a zone
 * name. The grammar requires the offset; a name has none ("CET" alone
 * is a file of the tz database). */
static const char *posix_offset_end(const char *tz)
{
	const char *p = tz;
	size_t letters = 0;

	if (*p == '<') {
		p = strchr(p, '>');
		if (p == NULL)
			return NULL;
		p++;
	} else {
		while (isalpha((unsigned char)*p))
			p++, letters++;
		if (letters < 3)
			return NULL;
	}
	if (*p == '+' || *p == '-')
		p++;
	if (!isdigit((unsigned char)*p))
		return NULL;
	while (isdigit((unsigned char)*p) || *p == ':')
		p++;
	return p;
}

/* Is path a file of the tz database (a regular file beginning "TZif")?
 * The C library takes anything else, a directory too, for UTC. */
static int tzfile(const char *path)
{
	char magic[4];
	struct stat st;
	FILE *f;
	int ok;

	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || (f = fopen(path, "rb")) == NULL)
		return 0;
	ok = fread(magic, 1, sizeof(magic), f) == sizeof(magic) && memcmp(magic, "TZif", 4) == 0;
	fclose(f);
	return ok;
}

/* Each refusal is a value the C library would take for UTC, or for the
 * United States' summer time, without a word. */
int date_set_local_zone(const char *tz)
{
	const char *name = tz != NULL && tz[0] == ':' ? tz + 1 : tz;
	const char *dir = getenv("TZDIR"), *rest;
	char path[PATH_MAX];

	if (tz == NULL || name[0] == '\0') {
		log_error("time zone: empty");
		return ERR;
	}
	rest = tz[0] == ':' ? NULL : posix_offset_end(tz);
	if (rest != NULL && *rest != '\0' && strchr(rest, ',') == NULL) {
		log_error("time zone %s: a summer time without its rule (e.g. "
			  "CET-1CEST,M3.5.0,M10.5.0/3)",
			  tz);
		return ERR;
	}
	if (rest == NULL) {
		if (name[0] == '/')
			snprintf(path, sizeof(path), "%s", name);
		else
			snprintf(path, sizeof(path), "%s/%s",
				 dir != NULL && dir[0] != '\0' ? dir : "/usr/share/zoneinfo", name);
		if (!tzfile(path)) {
			log_error("time zone %s: %s is not a file of the tz database (tzdata not"
				  " installed?): give a POSIX rule instead, e.g."
				  " CET-1CEST,M3.5.0,M10.5.0/3",
				  tz, path);
			return ERR;
		}
	}
	if (setenv("TZ", tz, 1) != 0) {
		log_error("time zone %s: setenv: %s", tz, strerror(errno));
		return ERR;
	}
	tzset();
	return OK;
}

void uuid_lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'F')
			*s = (char)(*s - 'A' + 'a');
}

/* Claims are sent from where the Assurance Maladie pays care given that
 * day: metropolitan France (UTC+1, +2 in summer) and the overseas
 * departments, the latest of which is Réunion (UTC+4, no summer time;
 * Mayotte +3, the Antilles and Guyane behind UTC). Care abroad reaches
 * the mutuelle weeks later, after the member's own claim to the CPAM. A
 * later zone (UTC+14, say) would take care dated tomorrow in Paris for
 * half of every day: on 31 December, next year's caps consumed. */
#define LATEST_ZONE_SECONDS (4 * 3600)

int32_t date_anywhere_at(int64_t now_us)
{
	return (int32_t)((now_us / 1000000 + LATEST_ZONE_SECONDS) / 86400);
}

int32_t date_today_anywhere(void)
{
	return date_anywhere_at(clock_now_us());
}

size_t utf8_sequence(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char lo = 0x80, hi = 0xBF;
	size_t n;

	if (p[0] < 0x80)
		return p[0] != '\0';
	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		n = 2;
	else if (p[0] >= 0xE0 && p[0] <= 0xEF)
		n = 3;
	else if (p[0] >= 0xF0 && p[0] <= 0xF4)
		n = 4;
	else
		return 0; /* a continuation byte, an overlong C0/C1, or past F4 */
	/* the second byte's range rules out overlong forms (E0, F0),
	 * surrogates (ED) and code points past U+10FFFF (F4) */
	if (p[0] == 0xE0)
		lo = 0xA0;
	else if (p[0] == 0xED)
		hi = 0x9F;
	else if (p[0] == 0xF0)
		lo = 0x90;
	else if (p[0] == 0xF4)
		hi = 0x8F;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++) /* stops at a NUL: never reads past it */
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return n;
}

int utf8_valid(const char *s)
{
	while (*s != '\0') {
		size_t n = utf8_sequence(s);

		if (n == 0)
			return 0;
		s += n;
	}
	return 1;
}

char *key_text(const void *key, size_t len)
{
	const unsigned char *b = key;
	char *text;
	int plain = 1;

	if (key == NULL)
		return xstrdup("");
	text = xstrndup(key, len);
	for (size_t i = 0; i < len && plain; i++)
		plain = b[i] >= 0x20 && b[i] != 0x7f;
	if (plain && strlen(text) == len && utf8_valid(text))
		return text;
	free(text);
	text = xmalloc(4 + 2 * len + 1);
	memcpy(text, "hex:", 4);
	sodium_bin2hex(text + 4, 2 * len + 1, b, len);
	return text;
}

char *text_printable(const char *s)
{
	size_t len = s != NULL ? strlen(s) : 0, n = 0;
	char *out = xmalloc(4 * len + 1);

	for (size_t i = 0; i < len;) {
		unsigned char b = (unsigned char)s[i];
		size_t seq = b >= 0x80 ? utf8_sequence(s + i) : 1;

		/* U+0080 to U+009F are controls too (C1: a CSI among them). */
		if (seq == 2 && b == 0xc2 && (unsigned char)s[i + 1] < 0xa0)
			seq = 0;
		if (b == '\\') {
			out[n++] = '\\';
			out[n++] = '\\';
			i++;
		} else if (b < 0x20 || b == 0x7f || seq == 0) {
			n += (size_t)snprintf(out + n, 5, "\\x%02x", b);
			i++;
		} else {
			memcpy(out + n, s + i, seq);
			n += seq;
			i += seq;
		}
	}
	out[n] = '\0';
	return out;
}

int read_stream(FILE *in, size_t max, char **text, size_t *len)
{
	/* Room for max + 1 bytes at most: a byte beyond max, when there is
	 * one, says the stream is too long; exactly max is not. */
	size_t cap = max < 65536 ? max + 1 : 65536, n = 0, got;
	char *buf = malloc(cap + 1);

	while (buf != NULL && (got = fread(buf + n, 1, cap - n, in)) > 0) {
		n += got;
		if (n > max) {
			free(buf);
			errno = EFBIG;
			return ERR;
		}
		if (n == cap) { /* then cap <= max */
			size_t more = cap > (max + 1) / 2 ? max + 1 : cap * 2;
			char *bigger = realloc(buf, more + 1);

			if (bigger == NULL)
				free(buf);
			buf = bigger;
			cap = more;
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

void stop_signals_block(sigset_t *before)
{
	sigset_t stops;

	sigemptyset(&stops);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stops, before);
}

int thread_start(pthread_t *thread, void *(*fn)(void *), void *arg, const char *what)
{
	sigset_t before;
	int err;

	stop_signals_block(&before);
	err = pthread_create(thread, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &before, NULL);
	if (err != 0) {
		log_error("%s: cannot start its thread: %s", what, strerror(err));
		return ERR;
	}
	return OK;
}

void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char digest[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(digest, data, len);
	sodium_bin2hex(out, 65, digest, sizeof(digest));
}
