/*
 * NAME
 *	log.h - structured logging, one JSON object per line on stderr
 *
 * SYNOPSIS
 *	if (log_init("intake") != OK) ... (CLAIMS_LOG_LEVEL is not a level)
 *	log_set_trace(trace_id);
 *	log_info("claim %s accepted", claim_id);
 *
 * DESCRIPTION
 *	Each record is {"ts":..., "level":..., "daemon":..., "trace_id":...,
 *	"msg":...}. The trace id is per thread, so a worker thread tags its
 *	records with the trace id of the message it is working on.
 *
 *	Graded diagnostics, after Postfix: log_warn() reports and carries on;
 *	log_error() reports a failed operation that the caller handles;
 *	log_fatal() reports and exits with status 1 (a clean exit: atexit
 *	handlers run); log_panic() reports and aborts (a core for the
 *	developer: an invariant is broken).
 *
 *	The level threshold comes from CLAIMS_LOG_LEVEL (debug, info, warn,
 *	error; default info); log_init() refuses any other value, after
 *	logging it, rather than run at a level nobody asked for.
 */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <stdarg.h>

#include "common/status.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_FATAL, LOG_PANIC };

int log_init(const char *daemon_name) MUST_CHECK;
void log_set_level(enum log_level level);
void log_set_trace(const char *trace_id);
const char *log_get_trace(void);

void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vwrite(enum log_level level, const char *fmt, va_list ap);

#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_write(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void log_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
