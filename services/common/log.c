/*
 * NAME
 *	log.c - structured logging, one JSON object per line on stderr
 *
 * DESCRIPTION
 *	The record is built in a stack buffer and written with one write(2),
 *	so lines from several threads never interleave. Strings are escaped
 *	for JSON here rather than through a JSON library: logging must work
 *	when allocation does not.
 */
#include "common/log.h"

#include "common/status.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *log_daemon = "claims";
static enum log_level log_threshold = LOG_INFO;
static _Thread_local char log_trace[64];

static const char *const level_names[] = {
	[LOG_DEBUG] = "debug", [LOG_INFO] = "info",   [LOG_WARN] = "warn",
	[LOG_ERROR] = "error", [LOG_FATAL] = "fatal", [LOG_PANIC] = "panic",
};

int log_init(const char *daemon_name)
{
	const char *level = getenv("CLAIMS_LOG_LEVEL");

	log_daemon = daemon_name;
	if (level == NULL || level[0] == '\0')
		return OK;
	for (int i = LOG_DEBUG; i <= LOG_ERROR; i++) {
		if (strcmp(level, level_names[i]) == 0) {
			log_threshold = (enum log_level)i;
			return OK;
		}
	}
	/* A typo must not quietly give another level than the one asked. */
	log_error("CLAIMS_LOG_LEVEL=%s: not a level (debug, info, warn or error)", level);
	return ERR;
}

void log_set_level(enum log_level level)
{
	log_threshold = level;
}

void log_set_trace(const char *trace_id)
{
	if (trace_id == NULL) {
		log_trace[0] = '\0';
		return;
	}
	snprintf(log_trace, sizeof(log_trace), "%s", trace_id);
}

const char *log_get_trace(void)
{
	return log_trace;
}

static size_t append(char *buf, size_t len, size_t cap, const char *s)
{
	size_t n = strlen(s);

	if (len + n >= cap)
		n = cap - len - 1;
	memcpy(buf + len, s, n);
	return len + n;
}

/* Append s to buf as JSON string content; never overruns, truncates.
 * A record must parse whatever a message quotes (a membership number
 * from an event, a sender's id), so a byte that is not well-formed
 * UTF-8, a sequence cut by the message's truncation among them, is
 * written U+FFFD. */
static size_t json_escape(char *buf, size_t len, size_t cap, const char *s)
{
	for (; *s != '\0' && len + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		size_t seq;

		if (c >= 0x80) {
			seq = utf8_sequence(s);
			if (seq == 0) {
				len = append(buf, len, cap, "\\ufffd");
				continue;
			}
			if (len + seq + 7 >= cap)
				break;
			memcpy(buf + len, s, seq);
			len += seq;
			s += seq - 1;
		} else if (c == '"' || c == '\\') {
			buf[len++] = '\\';
			buf[len++] = (char)c;
		} else if (c == '\n') {
			buf[len++] = '\\';
			buf[len++] = 'n';
		} else if (c < 0x20) {
			len += (size_t)snprintf(buf + len, cap - len, "\\u%04x", c);
		} else {
			buf[len++] = (char)c;
		}
	}
	return len;
}

void log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
	char msg[2048], line[4096], ts[40];
	struct timeval tv;
	struct tm tm;
	size_t len = 0, cap = sizeof(line);

	if (level < log_threshold)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);

	len = append(line, len, cap, "{\"ts\":\"");
	len += (size_t)snprintf(line + len, cap - len, "%s.%06ldZ", ts, (long)tv.tv_usec);
	len = append(line, len, cap, "\",\"level\":\"");
	len = append(line, len, cap, level_names[level]);
	len = append(line, len, cap, "\",\"daemon\":\"");
	len = json_escape(line, len, cap, log_daemon);
	if (log_trace[0] != '\0') {
		len = append(line, len, cap, "\",\"trace_id\":\"");
		len = json_escape(line, len, cap, log_trace);
	}
	len = append(line, len, cap, "\",\"msg\":\"");
	len = json_escape(line, len, cap - 3, msg);
	len = append(line, len, cap, "\"}\n");
	/* One write per record; a short write to stderr is not worth a retry loop. */
	if (write(STDERR_FILENO, line, len) < 0)
		return;
}

void log_write(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(level, fmt, ap);
	va_end(ap);
}

void log_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_FATAL, fmt, ap);
	va_end(ap);
	exit(1);
}

void log_panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_PANIC, fmt, ap);
	va_end(ap);
	abort();
}
