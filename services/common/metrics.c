/*
 * NAME
 *	metrics.c - Prometheus counters, gauges and histograms over HTTP
 *
 * DESCRIPTION
 *	The registry is a fixed array: metrics are created at start-up or,
 *	for labelled families, a handful of times; past the limit we panic
 *	rather than silently drop a metric an operator relies on.
 */
#include "common/metrics.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "common/xalloc.h"

#define METRICS_MAX  512
#define HIST_BUCKETS 16

enum metric_kind { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM };

/* Upper bounds in microseconds; the last bucket is +Inf. */
static const int64_t bucket_us[HIST_BUCKETS - 1] = {
	50,    100,   250,    500,    1000,    2500,	5000,	  10000,
	25000, 50000, 100000, 250000, 1000000, 2500000, 10000000,
};

struct metric {
	char *name;
	char *help;
	enum metric_kind kind;
	_Atomic int64_t value; /* counter/gauge value, histogram count */
	_Atomic int64_t sum_us;
	_Atomic int64_t buckets[HIST_BUCKETS];
};

static struct metric registry[METRICS_MAX];
static _Atomic int registry_len;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct MHD_Daemon *http_daemon;

/* Liveness: the daemon's loop stamps the start of each step; /live fails
 * once one step has run longer than live_limit_ms. Not /health: a daemon
 * whose database is away is alive (it answers UNAVAILABLE, retries) and
 * restarting it helps nobody; a loop stuck in one call is not. */
static _Atomic int64_t step_started_ms; /* 0: between steps, or not started */
static _Atomic int64_t live_limit_ms = 120000;
static health_fn http_health;
static void *http_health_ctx;

static size_t family_len(const char *name)
{
	const char *brace = strchr(name, '{');

	return brace ? (size_t)(brace - name) : strlen(name);
}

static struct metric *metric_register(const char *name, const char *help, enum metric_kind kind)
{
	struct metric *m = NULL;
	size_t flen = family_len(name);
	int n;

	pthread_mutex_lock(&registry_lock);
	n = atomic_load(&registry_len);
	for (int i = 0; i < n && m == NULL; i++) {
		if (family_len(registry[i].name) != flen ||
		    strncmp(registry[i].name, name, flen) != 0)
			continue;
		/* One family, one TYPE line: a counter and a gauge under one
		 * name would be rendered as whichever came first. */
		if (registry[i].kind != kind)
			log_panic("metric %s registered as two kinds", name);
		if (strcmp(registry[i].name, name) == 0)
			m = &registry[i];
	}
	if (m == NULL) {
		if (n == METRICS_MAX)
			log_panic("metrics registry full registering %s", name);
		m = &registry[n];
		m->name = xstrdup(name);
		m->help = xstrdup(help);
		m->kind = kind;
		atomic_store(&registry_len, n + 1);
	}
	pthread_mutex_unlock(&registry_lock);
	return m;
}

struct metric *metric_counter(const char *name, const char *help)
{
	return metric_register(name, help, KIND_COUNTER);
}

struct metric *metric_gauge(const char *name, const char *help)
{
	return metric_register(name, help, KIND_GAUGE);
}

struct metric *metric_histogram(const char *name, const char *help)
{
	return metric_register(name, help, KIND_HISTOGRAM);
}

void metric_add(struct metric *m, int64_t delta)
{
	atomic_fetch_add_explicit(&m->value, delta, memory_order_relaxed);
}

void metric_set(struct metric *m, int64_t value)
{
	atomic_store_explicit(&m->value, value, memory_order_relaxed);
}

int64_t metric_value(const struct metric *m)
{
	return atomic_load_explicit(&m->value, memory_order_relaxed);
}

void metric_observe_us(struct metric *m, int64_t micros)
{
	int b = 0;

	while (b < HIST_BUCKETS - 1 && micros > bucket_us[b])
		b++;
	atomic_fetch_add_explicit(&m->buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->sum_us, micros, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->value, 1, memory_order_relaxed);
}

/* --- rendering ------------------------------------------------------------ */

struct text {
	char *buf;
	size_t len, cap;
};

static void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_printf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if ((size_t)n < t->cap - t->len)
			break;
		t->cap = t->cap * 2 + (size_t)n;
		t->buf = xrealloc(t->buf, t->cap);
	}
	t->len += (size_t)n;
}

/* "fam{a=\"b\"}" -> labels 'a="b"' (without braces), or "" */
static const char *labels_of(const char *name, size_t *len)
{
	const char *brace = strchr(name, '{');

	if (brace == NULL) {
		*len = 0;
		return "";
	}
	*len = strlen(brace) - 2;
	return brace + 1;
}

static void render_histogram(struct text *t, const struct metric *m)
{
	size_t flen = family_len(m->name), llen;
	const char *labels = labels_of(m->name, &llen);
	const char *sep = llen ? "," : "";
	int64_t cumulative = 0;

	/* The buckets are read one by one while other threads observe:
	 * _count is their total, so that it always equals the +Inf bucket
	 * (the sum may be a few observations ahead or behind). */
	for (int b = 0; b < HIST_BUCKETS; b++) {
		cumulative += atomic_load(&m->buckets[b]);
		if (b < HIST_BUCKETS - 1)
			text_printf(t, "%.*s_bucket{%.*s%sle=\"%g\"} %lld\n", (int)flen, m->name,
				    (int)llen, labels, sep, (double)bucket_us[b] / 1e6,
				    (long long)cumulative);
		else
			text_printf(t, "%.*s_bucket{%.*s%sle=\"+Inf\"} %lld\n", (int)flen, m->name,
				    (int)llen, labels, sep, (long long)cumulative);
	}
	text_printf(t, "%.*s_sum%s%.*s%s %.6f\n", (int)flen, m->name, llen ? "{" : "", (int)llen,
		    labels, llen ? "}" : "", (double)atomic_load(&m->sum_us) / 1e6);
	text_printf(t, "%.*s_count%s%.*s%s %lld\n", (int)flen, m->name, llen ? "{" : "", (int)llen,
		    labels, llen ? "}" : "", (long long)cumulative);
}

static int same_family(const struct metric *a, const struct metric *b)
{
	size_t flen = family_len(a->name);

	return family_len(b->name) == flen && strncmp(a->name, b->name, flen) == 0;
}

static int family_seen_before(int upto, const struct metric *m)
{
	for (int i = 0; i < upto; i++)
		if (same_family(&registry[i], m))
			return 1;
	return 0;
}

/* The exposition format wants each family in one piece, under its HELP
 * and TYPE: a labelled series registered late (a reason code met for
 * the first time) is written with its family, not where it came. */
char *metrics_render(void)
{
	static const char *const types[] = {"counter", "gauge", "histogram"};
	struct text t = {xmalloc(4096), 0, 4096};
	int n = atomic_load(&registry_len);

	t.buf[0] = '\0';
	for (int i = 0; i < n; i++) {
		const struct metric *first = &registry[i];
		int flen = (int)family_len(first->name);

		if (family_seen_before(i, first))
			continue;
		text_printf(&t, "# HELP %.*s %s\n", flen, first->name, first->help);
		text_printf(&t, "# TYPE %.*s %s\n", flen, first->name, types[first->kind]);
		for (int j = i; j < n; j++) {
			const struct metric *m = &registry[j];

			if (!same_family(first, m))
				continue;
			if (m->kind == KIND_HISTOGRAM)
				render_histogram(&t, m);
			else
				text_printf(&t, "%s %lld\n", m->name, (long long)metric_value(m));
		}
	}
	return t.buf;
}

/* --- HTTP endpoint --------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status, const char *type,
			     char *body, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(body), body, mode);
	if (resp == NULL)
		return MHD_NO;
	if (MHD_add_response_header(resp, "Content-Type", type) == MHD_NO) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

void metrics_step_begin(void)
{
	int64_t now = clock_mono_us() / 1000;

	atomic_store(&step_started_ms, now > 0 ? now : 1);
}

void metrics_step_end(void)
{
	atomic_store(&step_started_ms, 0);
}

void metrics_set_live_limit(int64_t seconds)
{
	atomic_store(&live_limit_ms, seconds * 1000);
}

/* NULL while no step has outlasted the limit, else the reason (freed by
 * the caller). */
static char *stuck_step(void)
{
	int64_t started = atomic_load(&step_started_ms);
	int64_t ran;

	if (started == 0)
		return NULL;
	ran = clock_mono_us() / 1000 - started;
	if (ran <= atomic_load(&live_limit_ms))
		return NULL;
	return xasprintf("stuck: one step of the loop has run for %lld s\n",
			 (long long)(ran / 1000));
}

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn, const char *url,
				      const char *method, const char *version,
				      const char *upload_data, size_t *upload_size, void **con_cls)
{
	const char *problem;

	UNUSED(cls);
	UNUSED(version);
	UNUSED(upload_data);
	UNUSED(upload_size);
	UNUSED(con_cls);
	if (strcmp(method, "GET") != 0)
		return reply(conn, 405, "text/plain", "method not allowed\n",
			     MHD_RESPMEM_PERSISTENT);
	if (strcmp(url, "/metrics") == 0)
		return reply(conn, 200, "text/plain; version=0.0.4", metrics_render(),
			     MHD_RESPMEM_MUST_FREE);
	if (strcmp(url, "/live") == 0) {
		char *stuck = stuck_step();

		if (stuck == NULL)
			return reply(conn, 200, "text/plain", "alive\n", MHD_RESPMEM_PERSISTENT);
		return reply(conn, 503, "text/plain", stuck, MHD_RESPMEM_MUST_FREE);
	}
	if (strcmp(url, "/health") == 0) {
		problem = http_health ? http_health(http_health_ctx) : NULL;
		if (problem == NULL)
			return reply(conn, 200, "text/plain", "ok\n", MHD_RESPMEM_PERSISTENT);
		return reply(conn, 503, "text/plain", xasprintf("unhealthy: %s\n", problem),
			     MHD_RESPMEM_MUST_FREE);
	}
	return reply(conn, 404, "text/plain", "not found\n", MHD_RESPMEM_PERSISTENT);
}

static int parse_addr(const char *addr, struct sockaddr_in *sin)
{
	const char *colon = strrchr(addr, ':');
	char host[64];
	long port;
	char *end;

	if (colon == NULL || (size_t)(colon - addr) >= sizeof(host))
		return ERR;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	/* Digits only, 1 to 65535: "host:" or ":0" would bind a port the
	 * kernel picks, where no probe or scrape looks. */
	if (colon[1] < '0' || colon[1] > '9')
		return ERR;
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535)
		return ERR;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return ERR;
	return OK;
}

int metrics_addr_check(const char *addr)
{
	struct sockaddr_in sin;

	if (addr == NULL || addr[0] == '\0')
		return OK;
	return parse_addr(addr, &sin);
}

/* libmicrohttpd's own diagnostics (a connection refused at the limit, a
 * malformed request) as records of the log, not bare lines among them. */
static void http_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t len;

	UNUSED(cls);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	len = strcspn(msg, "\n");
	log_warn("metrics endpoint: %.*s", (int)len, msg);
}

int metrics_http_start(const char *addr, health_fn health, void *ctx)
{
	struct sockaddr_in sin;
	sigset_t before;

	if (addr == NULL || addr[0] == '\0')
		return OK; /* turned off */
	if (parse_addr(addr, &sin) != OK) {
		log_error("metrics address %s: expected IPv4 host:port", addr);
		return ERR;
	}
	http_health = health;
	http_health_ctx = ctx;
	/* Probes and scrapes come from a few addresses and ask one short
	 * question: a peer may hold 8 connections, idle ones are closed after
	 * 3 s, so that a client holding sockets open cannot fail the
	 * kubelet's probes (which would restart a healthy daemon). Polled
	 * by epoll (MHD_USE_AUTO), not select(): with a thousand
	 * professionals connected to the front door, a probe's socket is
	 * past FD_SETSIZE, which select() cannot watch: libmicrohttpd would
	 * close it unanswered, and the kubelet restart the busiest pod. */
	stop_signals_block(&before); /* its thread inherits the mask */
	http_daemon = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG, 0, NULL, NULL,
		handle_request, NULL, MHD_OPTION_EXTERNAL_LOGGER, http_log,
		NULL, /* first: it says so otherwise */
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin, MHD_OPTION_CONNECTION_LIMIT, 64u,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, 8u, MHD_OPTION_CONNECTION_TIMEOUT, 3u,
		MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &before, NULL);
	if (http_daemon == NULL) {
		log_error("metrics endpoint: cannot listen on %s", addr);
		return ERR;
	}
	log_info("metrics and health on http://%s/metrics", addr);
	return OK;
}

void metrics_http_stop(void)
{
	if (http_daemon != NULL)
		MHD_stop_daemon(http_daemon);
	http_daemon = NULL;
}
