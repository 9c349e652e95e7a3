/*
 * NAME
 *	metrics.h - Prometheus counters, gauges and histograms over HTTP
 *
 * SYNOPSIS
 *	static struct metric *accepted;
 *	accepted = metric_counter("claims_accepted_total", "Claims accepted");
 *	metric_add(accepted, 1);
 *	metrics_http_start("127.0.0.1:9101", health_fn, ctx);
 *
 * DESCRIPTION
 *	A metric's full name may carry labels ("x_total{reason=\"R\"}");
 *	metrics of one family share their HELP and TYPE lines. Registration
 *	returns the existing metric for a name seen before, so callers can
 *	create labelled metrics on the fly (reason codes). Updates are
 *	lock-free atomics: the HTTP thread reads while workers write.
 *
 *	The HTTP endpoint (libmicrohttpd, its own thread) serves:
 *	  GET /metrics   Prometheus text exposition format 0.0.4
 *	  GET /health    200 "ok" or 503 with the reason the daemon gives
 *	                 (its database or Redis away: for readiness)
 *	  GET /live      200 "alive", or 503 once one step of the daemon's
 *	                 loop has run longer than the limit (for liveness)
 *
 * DIAGNOSTICS
 *	metrics_http_start() returns ERR when the address is malformed or
 *	the port cannot be bound.
 */
#ifndef COMMON_METRICS_H
#define COMMON_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

struct metric;

struct metric *metric_counter(const char *name, const char *help);
struct metric *metric_gauge(const char *name, const char *help);
/* Latency histogram with fixed buckets from 50 us to 10 s (observed in us). */
struct metric *metric_histogram(const char *name, const char *help);

void metric_add(struct metric *m, int64_t delta);
void metric_set(struct metric *m, int64_t value);
void metric_observe_us(struct metric *m, int64_t micros);
int64_t metric_value(const struct metric *m);

/* The exposition text; the caller frees it. */
char *metrics_render(void);

/* Returns NULL when healthy, else a static reason string. */
typedef const char *(*health_fn)(void *ctx);

int metrics_http_start(const char *addr, health_fn health, void *ctx) MUST_CHECK;
/* OK when addr is empty (endpoint off) or an IPv4 host:port. */
int metrics_addr_check(const char *addr) MUST_CHECK;

/* The daemon's loop brackets each step with these; /live fails once a
 * step has lasted more than the limit (seconds). */
void metrics_step_begin(void);
void metrics_step_end(void);
void metrics_set_live_limit(int64_t seconds);
void metrics_http_stop(void);

#endif
