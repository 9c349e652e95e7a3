/*
 * NAME
 *	util.h - clocks, identifiers and dates shared by every daemon
 *
 * DESCRIPTION
 *	Message and claim ids are UUID version 7 (RFC 9562): time-ordered,
 *	so primary-key inserts stay at the right edge of their B-tree, and
 *	random in their low bits (libsodium's generator). An id that must be
 *	the same each time a thing is written (a dead letter) is version 8,
 *	a hash of its name.
 *
 *	Dates of care are ISO YYYY-MM-DD strings on the wire and days since
 *	1970-01-01 inside; date_parse() rejects impossible dates (2026-02-30)
 *	and years outside 1900-2199, as the rules engine does.
 */
#ifndef COMMON_UTIL_H
#define COMMON_UTIL_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/status.h"

#define UUID_STR_LEN 37 /* 36 characters and the NUL */
#define DATE_STR_LEN 11

int64_t clock_now_us(void);   /* wall clock, microseconds since the epoch */
int64_t clock_mono_us(void);  /* monotonic clock, for durations */
int64_t process_cpu_us(void); /* user + system CPU of the process, all threads */
void uuid_v7(char out[UUID_STR_LEN]);

/* The source of the claims that complete partial ones (claimctl claim
 * redecide), their external id being the completed claim's id: a
 * namespace no sender may use (intake refuses it). */
#define CLAIMS_COMPLEMENT_SOURCE "complement"
/* The same name always gives the same id (RFC 9562 version 8, from a
 * BLAKE2b hash): for a message that must exist once however often it
 * is written, such as the dead letter of one Kafka offset. */
void uuid_from_name(const void *name, size_t len, char out[UUID_STR_LEN]);
int uuid_valid(const char *s); /* 1 when s is a canonical UUID string */
/* The form PostgreSQL prints (lower case), for ids that go into events:
 * consumers compare them as text. */
void uuid_lower(char *s);

int date_parse(const char *iso, int32_t *days) MUST_CHECK;
void date_format(int32_t days, char out[DATE_STR_LEN]);
int32_t date_today(void); /* UTC */
/* The date at an instant (µs since the epoch) in the process's local
 * zone, the TZ environment variable's (UTC without one). */
int32_t date_local_at(int64_t now_us);
int32_t date_today_local(void);
/* Make tz (a POSIX TZ rule such as "CET-1CEST,M3.5.0,M10.5.0/3", or a
 * zone name of the tz database, "Europe/Paris") the local zone. ERR
 * (logged): empty, a name without its file in the tz database, a summer
 * time without its rule: what the C library would take for UTC, or for
 * the United States' summer time, without a word. It sets TZ: call it
 * before any thread starts (setenv is not thread-safe). */
int date_set_local_zone(const char *tz) MUST_CHECK;
/* The latest date of today where claims come from (UTC+4, Réunion):
 * care given "today" where the sender is, Paris at 00:30 or Réunion at
 * 03:00, is never later; care dated tomorrow in Paris is, but for the
 * three hours before Paris's midnight (two in summer). */
int32_t date_today_anywhere(void);
int32_t date_anywhere_at(int64_t now_us); /* the same at an instant (µs since the epoch) */

/* A whole stream or file into a NUL-terminated buffer the caller frees;
 * more than max bytes is an error (EFBIG). read_stream() sets errno and
 * does not log; read_file() logs the path and the cause. */
int read_stream(FILE *in, size_t max, char **text, size_t *len) MUST_CHECK;
int read_file(const char *path, size_t max, char **text, size_t *len) MUST_CHECK;

/* The SHA-256 of len bytes, in lowercase hex (64 characters and a NUL). */
void sha256_hex(const void *data, size_t len, char out[65]);

/* 1 when s holds well-formed UTF-8 (what PostgreSQL will accept as text). */
int utf8_valid(const char *s);
/* The length in bytes of the well-formed UTF-8 character s starts with
 * (RFC 3629: no overlong form, no surrogate, nothing past U+10FFFF), or
 * 0 when it is not one (or s is empty). Reads no further than a NUL. */
size_t utf8_sequence(const char *s);
/* A Kafka key as text, newly allocated: its bytes when they are
 * well-formed UTF-8 without a control character (what PostgreSQL holds
 * as text and a terminal shows as is), else "hex:" and their hex. NULL
 * (no key) gives "". */
char *key_text(const void *key, size_t len);
/* Text from elsewhere (a sender's id quoted in a reason), newly
 * allocated, for one line of a terminal: control characters (C0, DEL,
 * C1) and bytes that are not well-formed UTF-8 written \xNN, a
 * backslash \\. NULL gives "". */
char *text_printable(const char *s);

/* A thread of the daemon (relay, quote server, key check, reconnect),
 * made with SIGTERM and SIGINT blocked: the stop signals then always
 * reach the loop's thread, whose blocking calls they interrupt, rather
 * than a helper thread the loop would only hear of at its next timeout.
 * what names the thread in the log on failure. */
int thread_start(pthread_t *thread, void *(*fn)(void *), void *arg, const char *what) MUST_CHECK;
/* Block the stop signals on the calling thread (before: the mask to
 * restore with pthread_sigmask(SIG_SETMASK, before, NULL)), for a
 * library that makes its threads itself (libmicrohttpd). */
void stop_signals_block(sigset_t *before);

#endif
