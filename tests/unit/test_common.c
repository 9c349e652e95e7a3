/*
 * NAME
 *	test_common.c - unit tests of the pure parts of services/common
 *
 * DESCRIPTION
 *	Dates, UUIDs, identifiers' check digits, the envelope codec (and
 *	protobuf decoding within a byte budget), the metrics rendering and
 *	the settings from the environment: no server needed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/envelope.h"
#include "common/ident.h"
#include "common/keyset.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pbbudget.h"
#include "common/pbtext.h"
#include "common/pg.h"
#include "common/pgarray.h"
#include "common/util.h"
#include "proto/claims.pb-c.h"
#include "test.h"

static void test_dates(void)
{
	static const char *const valid[] = {"1970-01-01", "2024-02-29", "2026-12-31", "2000-02-29"};
	static const char *const invalid[] = {
		"2026-02-29", "2026-13-01", "2026-04-31", "1900-02-29",
		"2026-1-01",  "20260101",   "2026-01-0x", ""};
	char out[DATE_STR_LEN];
	int32_t d;

	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		CHECK(date_parse(valid[i], &d) == OK);
		date_format(d, out);
		CHECK_EQ_STR(out, valid[i]);
	}
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
		CHECK(date_parse(invalid[i], &d) == ERR);
	CHECK(date_parse("1970-01-02", &d) == OK);
	CHECK_EQ_I64(d, 1);
	CHECK(date_parse("2026-11-26", &d) == OK);
	CHECK_EQ_I64(d, 20783);
}

static void test_pgarray(void)
{
	struct pgarray a;

	pgarray_init(&a);
	CHECK_EQ_STR(pgarray_finish(&a), "{}");
	pgarray_text(&a, "O'Brien \"x\" \\ {a,b}");
	pgarray_null(&a);
	CHECK_EQ_STR(pgarray_finish(&a), "{\"O'Brien \\\"x\\\" \\\\ {a,b}\",NULL}");
	/* Grown after a finish (a failed write keeps its rows), finished again. */
	pgarray_int(&a, -42);
	CHECK_EQ_STR(pgarray_finish(&a), "{\"O'Brien \\\"x\\\" \\\\ {a,b}\",NULL,\"-42\"}");
	CHECK_EQ_STR(pgarray_finish(&a), "{\"O'Brien \\\"x\\\" \\\\ {a,b}\",NULL,\"-42\"}");
	pgarray_free(&a);
	pgarray_init(&a);
	CHECK_EQ_STR(pgarray_finish(&a), "{}");
	pgarray_bool(&a, 1);
	CHECK_EQ_STR(pgarray_finish(&a), "{\"t\"}");
	pgarray_free(&a);
}

static void test_pgarray_words(void)
{
	char two[] = "{C2S,MATERNITY}", none[] = "{}", many[] = "{A,B,C}";
	char *w[2];

	REQUIRE(pgarray_words(two, w, 2) == 2);
	CHECK_EQ_STR(w[0], "C2S");
	CHECK_EQ_STR(w[1], "MATERNITY");
	CHECK(pgarray_words(none, w, 2) == 0);
	CHECK(pgarray_words(many, w, 2) == 2); /* at most max */
}

static void test_uuid(void)
{
	char a[UUID_STR_LEN], b[UUID_STR_LEN];

	uuid_v7(a);
	uuid_v7(b);
	CHECK(uuid_valid(a));
	CHECK(strcmp(a, b) != 0);
	CHECK(a[14] == '7');		      /* version */
	CHECK(strchr("89ab", a[19]) != NULL); /* variant */
	CHECK(!uuid_valid("not-a-uuid"));
	CHECK(!uuid_valid("0192f3a4-7b1c-7def-8abc-0123456789abX"));
	/* An operator's upper case becomes the form events carry. */
	snprintf(a, sizeof(a), "0192F3A4-7B1C-7DEF-8ABC-0123456789AB");
	CHECK(uuid_valid(a));
	uuid_lower(a);
	CHECK_EQ_STR(a, "0192f3a4-7b1c-7def-8abc-0123456789ab");
}

static void test_uuid_from_name(void)
{
	char a[UUID_STR_LEN], b[UUID_STR_LEN], c[UUID_STR_LEN];

	uuid_from_name("dead-letter/intake/claims.submitted/3/42/", 41, a);
	uuid_from_name("dead-letter/intake/claims.submitted/3/42/", 41, b);
	uuid_from_name("dead-letter/intake/claims.submitted/3/43/", 41, c);
	CHECK(uuid_valid(a));
	CHECK_EQ_STR(a, b);
	CHECK(strcmp(a, c) != 0);
	CHECK(a[14] == '8');		      /* version 8 */
	CHECK(strchr("89ab", a[19]) != NULL); /* variant */
}

static int compare_ids(const void *x, const void *y)
{
	return strcmp(x, y);
}

/* Across many refills of the random pool: every id well formed, all
 * distinct, and the first 48 bits the creation time in milliseconds. */
static void test_uuid_many(void)
{
	enum { N = 2000 };
	static char ids[N][UUID_STR_LEN];
	int64_t before = clock_now_us() / 1000, after;
	int bad = 0, same = 0;

	for (int i = 0; i < N; i++)
		uuid_v7(ids[i]);
	after = clock_now_us() / 1000;
	for (int i = 0; i < N; i++) {
		char hex[13];
		long long ms;

		memcpy(hex, ids[i], 8);
		memcpy(hex + 8, ids[i] + 9, 4);
		hex[12] = '\0';
		ms = strtoll(hex, NULL, 16);
		if (!uuid_valid(ids[i]) || ids[i][14] != '7' || ms < before || ms > after)
			bad++;
	}
	qsort(ids, N, UUID_STR_LEN, compare_ids);
	for (int i = 1; i < N; i++)
		same += strcmp(ids[i - 1], ids[i]) == 0;
	CHECK(bad == 0);
	CHECK(same == 0);
}

static void test_identifiers(void)
{
	/* Luhn reference: 79927398713 is the textbook valid number */
	CHECK(luhn_valid("79927398713"));
	CHECK(!luhn_valid("79927398710"));
	CHECK_EQ_I64(luhn_check_digit("7992739871"), 3);
	/* RPPS: 11 digits, the last a Luhn key. The expected values are
	 * fixed numbers, not computed by the code under test. */
	CHECK(rpps_valid("10003456786"));
	CHECK(!rpps_valid("10003456784"));  /* wrong key */
	CHECK(!rpps_valid("1000345678"));   /* 10 digits */
	CHECK(!rpps_valid("100034567860")); /* 12 digits */
	CHECK(!rpps_valid("1000345678A"));
	CHECK(!rpps_valid(""));
	CHECK(!finess_valid("75000001A"));
	/* NIR key: 97 - (the 13 digits mod 97), two digits;
	 * 1800175123456 mod 97 = 37, key 60. */
	CHECK_EQ_I64(nir_key("1800175123456"), 60);
	CHECK(nir_valid("180017512345660"));
	CHECK(!nir_valid("180017512345606")); /* 97 - n mod 97 is not n mod 97 */
	CHECK(!nir_valid("180017512345661")); /* wrong key */
	CHECK(!nir_valid("18001751234566"));  /* 14 characters */
	CHECK(!nir_valid("1800175123456600"));
	CHECK(!nir_valid("18001751234566A"));
	CHECK(!nir_valid("1800175A2345660"));
	CHECK(nir_key("180017512345") == -1);  /* 12 digits */
	CHECK(nir_key("18001752A1234") == -1); /* 2A is only valid as the department */
	CHECK(nir_key("180017512345X") == -1);
	/* Corsica: 2A counts as 19 and 2B as 18, so the keys differ from
	 * each other and from department 20's (1800120123456: key 90). */
	CHECK_EQ_I64(nir_key("1800120123456"), 90);
	CHECK_EQ_I64(nir_key("180012A123456"), 20);
	CHECK_EQ_I64(nir_key("180012B123456"), 47);
	CHECK(nir_valid("180012A12345620"));
	CHECK(nir_valid("180012B12345647"));
	CHECK(!nir_valid("180012A12345647"));	    /* 2B's key on 2A */
	CHECK_EQ_I64(nir_key("180012C123456"), -1); /* only A and B */
}

/* A trace id is logged and stored: arbitrary bytes in it are refused
 * when read, and never written (a new trace starts instead). */
static void test_envelope_trace_id(void)
{
	Claims__ClaimRejected msg = CLAIMS__CLAIM_REJECTED__INIT;
	const char *bad[] = {
		"caf\xc3", "a b", "x'; DROP TABLE claims; --",
		"0123456789012345678901234567890123456789012345678901234567890123456789"};
	char id[UUID_STR_LEN], why[160];
	struct envelope env;
	uint8_t *buf;
	size_t len;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		Claims__Envelope raw = CLAIMS__ENVELOPE__INIT;
		uint8_t packed[512];

		/* Written by us: the bad trace is replaced by the message id. */
		REQUIRE(envelope_pack(CLAIMS__MESSAGE_TYPE__CLAIM_REJECTED, &msg.base, bad[i],
				      "test", id, &buf, &len) == OK);
		REQUIRE(envelope_unpack(buf, len, &env, why, sizeof(why)) == OK);
		CHECK_EQ_STR(env.trace_id, id);
		envelope_free(&env);
		free(buf);
		/* Written by someone else: refused. */
		raw.has_type = raw.has_schema_version = 1;
		raw.type = CLAIMS__MESSAGE_TYPE__CLAIM_REJECTED;
		raw.schema_version = ENVELOPE_SCHEMA_VERSION;
		raw.message_id = id;
		raw.trace_id = (char *)bad[i];
		len = claims__envelope__pack(&raw, packed);
		CHECK(envelope_unpack(packed, len, &env, why, sizeof(why)) == ERR);
		CHECK(strstr(why, "trace id") != NULL);
	}
	REQUIRE(envelope_pack(CLAIMS__MESSAGE_TYPE__CLAIM_REJECTED, &msg.base,
			      "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "test", id, &buf,
			      &len) == OK);
	REQUIRE(envelope_unpack(buf, len, &env, why, sizeof(why)) == OK);
	CHECK_EQ_STR(env.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7");
	envelope_free(&env);
	free(buf);
}

static void test_envelope_roundtrip(void)
{
	Claims__ClaimRejected msg = CLAIMS__CLAIM_REJECTED__INIT;
	char id[UUID_STR_LEN], why[160];
	struct envelope env;
	Claims__ClaimRejected *back;
	uint8_t *buf;
	size_t len;

	msg.external_id = "EXT-1";
	msg.reason_code = "UNKNOWN_MEMBER";
	REQUIRE(envelope_pack(CLAIMS__MESSAGE_TYPE__CLAIM_REJECTED, &msg.base, NULL, "test", id,
			      &buf, &len) == OK);
	REQUIRE(envelope_unpack(buf, len, &env, why, sizeof(why)) == OK);
	CHECK_EQ_I64(env.type, CLAIMS__MESSAGE_TYPE__CLAIM_REJECTED);
	CHECK_EQ_STR(env.message_id, id);
	CHECK_EQ_STR(env.trace_id, id); /* a new flow starts its own trace */
	back = claims__claim_rejected__unpack(NULL, env.payload_len, env.payload);
	REQUIRE(back != NULL);
	CHECK_EQ_STR(back->reason_code, "UNKNOWN_MEMBER");
	claims__claim_rejected__free_unpacked(back, NULL);
	envelope_free(&env);
	free(buf);
}

static void test_envelope_rejects(void)
{
	Claims__Envelope e = CLAIMS__ENVELOPE__INIT;
	struct envelope env;
	uint8_t buf[256];
	char why[160];
	size_t len;

	CHECK(envelope_unpack("", 0, &env, why, sizeof(why)) == ERR);
	CHECK(envelope_unpack("\xff\xff\xff\xff", 4, &env, why, sizeof(why)) == ERR);
	CHECK_EQ_STR(why, "not a protobuf Envelope");
	e.has_type = 1;
	e.type = (Claims__MessageType)999;
	e.has_schema_version = 1;
	e.schema_version = 1;
	e.message_id = "0192f3a4-7b1c-7def-8abc-0123456789ab";
	len = claims__envelope__pack(&e, buf);
	CHECK(envelope_unpack(buf, len, &env, why, sizeof(why)) == ERR);
	CHECK_EQ_STR(why, "unknown message type");
	e.type = CLAIMS__MESSAGE_TYPE__CLAIM_SUBMITTED;
	e.schema_version = 2;
	len = claims__envelope__pack(&e, buf);
	CHECK(envelope_unpack(buf, len, &env, why, sizeof(why)) == ERR);
	CHECK_EQ_STR(why, "unsupported schema version");
	e.schema_version = 1;
	e.message_id = "42";
	len = claims__envelope__pack(&e, buf);
	CHECK(envelope_unpack(buf, len, &env, why, sizeof(why)) == ERR);
}

/* A NUL byte in a text field, which C would read as the text's end: the
 * field named, in a sub-message too; bytes fields may hold any. */
static void test_pb_text_nul(void)
{
	Claims__Envelope e = CLAIMS__ENVELOPE__INIT;
	Claims__ClaimSubmitted c = CLAIMS__CLAIM_SUBMITTED__INIT;
	Claims__ClaimLine line = CLAIMS__CLAIM_LINE__INIT, *lines[1] = {&line};
	struct envelope env;
	uint8_t buf[512], *at;
	const char *field;
	char why[160];
	size_t len;

	e.has_type = e.has_schema_version = e.has_payload = 1;
	e.type = CLAIMS__MESSAGE_TYPE__CLAIM_SUBMITTED;
	e.schema_version = 1;
	e.message_id = "0192f3a4-7b1c-7def-8abc-0123456789ab";
	e.trace_id = "trace-Z-1";
	e.payload.data = (uint8_t *)"\0\0\0";
	e.payload.len = 3;
	len = claims__envelope__pack(&e, buf);
	CHECK_EQ_I64(pb_text_nul(&claims__envelope__descriptor, buf, len, &field), 0);
	REQUIRE(envelope_unpack(buf, len, &env, why, sizeof(why)) == OK);
	envelope_free(&env);
	at = memchr(buf, 'Z', len);
	REQUIRE(at != NULL);
	*at = '\0';
	CHECK_EQ_I64(pb_text_nul(&claims__envelope__descriptor, buf, len, &field), 1);
	CHECK_EQ_STR(field, "trace_id");
	CHECK(envelope_unpack(buf, len, &env, why, sizeof(why)) == ERR);
	CHECK_EQ_STR(why, "Envelope: text field trace_id holds a NUL byte");
	/* In a line of a claim. */
	c.source = "s";
	c.external_id = "X-1";
	c.n_lines = 1;
	c.lines = lines;
	line.line_ref = "L-Z";
	len = claims__claim_submitted__pack(&c, buf);
	CHECK_EQ_I64(pb_text_nul(&claims__claim_submitted__descriptor, buf, len, &field), 0);
	at = memchr(buf, 'Z', len);
	REQUIRE(at != NULL);
	*at = '\0';
	CHECK_EQ_I64(pb_text_nul(&claims__claim_submitted__descriptor, buf, len, &field), 1);
	CHECK_EQ_STR(field, "line_ref");
	/* Cut short, or a length past the end: not a message. */
	CHECK_EQ_I64(pb_text_nul(&claims__claim_submitted__descriptor, buf, len - 1, &field), -1);
	CHECK_EQ_I64(pb_text_nul(&claims__claim_submitted__descriptor,
				 (const uint8_t *)"\x12\x05"
						  "ab",
				 4, &field),
		     -1);
	CHECK_EQ_I64(pb_text_nul(&claims__claim_submitted__descriptor, buf, 0, &field), 0);
}

/* The byte budget of a decode counts what it holds, and gets it back. */
static void test_pb_budget(void)
{
	Claims__ClaimRejected msg = CLAIMS__CLAIM_REJECTED__INIT;
	struct pb_budget b;
	struct envelope env;
	char id[UUID_STR_LEN], why[160];
	void *first, *second;
	uint8_t *buf;
	size_t len;

	pb_budget_init(&b, 100);
	first = b.allocator.alloc(b.allocator.allocator_data, 50);
	CHECK(first != NULL && b.used > 50 && b.used <= 100 && !b.exceeded);
	second = b.allocator.alloc(b.allocator.allocator_data, 50);
	CHECK(second == NULL && b.exceeded);
	CHECK(b.allocator.alloc(b.allocator.allocator_data, SIZE_MAX) == NULL);
	b.allocator.free(b.allocator.allocator_data, first);
	CHECK_EQ_I64(b.used, 0);
	CHECK(b.peak > 50);
	first = b.allocator.alloc(b.allocator.allocator_data, 50); /* given back: taken again */
	CHECK(first != NULL);
	b.allocator.free(b.allocator.allocator_data, first);
	CHECK_EQ_I64(b.used, 0);

	/* An envelope decoded within a budget is freed through it. */
	msg.external_id = "EXT-1";
	REQUIRE(envelope_pack(CLAIMS__MESSAGE_TYPE__CLAIM_REJECTED, &msg.base, NULL, "test", id,
			      &buf, &len) == OK);
	pb_budget_init(&b, 4096);
	REQUIRE(envelope_unpack_with(buf, len, &b.allocator, &env, why, sizeof(why)) == OK);
	CHECK_EQ_STR(env.message_id, id);
	CHECK(b.used > len);
	envelope_free(&env);
	CHECK_EQ_I64(b.used, 0);
	/* One that does not fit is refused, and nothing is held. */
	pb_budget_init(&b, len);
	CHECK(envelope_unpack_with(buf, len, &b.allocator, &env, why, sizeof(why)) == ERR);
	CHECK(b.exceeded);
	CHECK_EQ_I64(b.used, 0);
	free(buf);
}

static void test_metrics_render(void)
{
	struct metric *a = metric_counter("t_rejected_total{reason=\"A\"}", "Rejected");
	struct metric *b = metric_counter("t_rejected_total{reason=\"B\"}", "Rejected");
	struct metric *h = metric_histogram("t_latency_seconds", "Latency");
	char *text;

	metric_add(a, 2);
	metric_add(b, 3);
	metric_observe_us(h, 700);
	CHECK(metric_counter("t_rejected_total{reason=\"A\"}", "x") == a);
	text = metrics_render();
	CHECK(strstr(text, "t_rejected_total{reason=\"A\"} 2\n") != NULL);
	CHECK(strstr(text, "t_rejected_total{reason=\"B\"} 3\n") != NULL);
	/* one HELP line per family */
	REQUIRE(strstr(text, "# HELP t_rejected_total") != NULL);
	CHECK(strstr(strstr(text, "# HELP t_rejected_total") + 1, "# HELP t_rejected_total") ==
	      NULL);
	CHECK(strstr(text, "t_latency_seconds_bucket{le=\"0.001\"} 1\n") != NULL);
	CHECK(strstr(text, "t_latency_seconds_bucket{le=\"0.0005\"} 0\n") != NULL);
	CHECK(strstr(text, "t_latency_seconds_count 1\n") != NULL);
	free(text);
	/* A series of a family met late is written with its family, under
	 * its one HELP line, before the next family. */
	metric_add(metric_counter("t_rejected_total{reason=\"C\"}", "Rejected"), 1);
	text = metrics_render();
	REQUIRE(strstr(text, "t_rejected_total{reason=\"C\"} 1\n") != NULL);
	CHECK(strstr(text, "t_rejected_total{reason=\"C\"}") < strstr(text, "# HELP t_latency"));
	CHECK(strstr(strstr(text, "# HELP t_rejected_total") + 1, "# HELP t_rejected_total") ==
	      NULL);
	free(text);
}

/* A metrics address is an IPv4 host and a port from 1 to 65535, digits
 * only: "host:" would bind a port the kernel picks, where nothing looks. */
static void test_metrics_addr(void)
{
	static const char *const good[] = {"127.0.0.1:9101", "0.0.0.0:1", "10.0.0.7:65535", ""};
	static const char *const bad[] = {"127.0.0.1:",	   "127.0.0.1:0",     "127.0.0.1: 80",
					  "127.0.0.1:+80", "127.0.0.1:65536", "localhost:9101",
					  ":9101",	   "127.0.0.1:80x",   "127.0.0.1"};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK(metrics_addr_check(good[i]) == OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(metrics_addr_check(bad[i]) == ERR);
}

/* size bytes read through read_stream() with a limit of max. */
static int read_sized(size_t size, size_t max, size_t *len)
{
	char *data = malloc(size + 1), *text = NULL;
	FILE *in;
	int status = ERR;

	memset(data, 'x', size + 1);
	in = fmemopen(data, size, "r");
	if (in != NULL) {
		status = read_stream(in, max, &text, len);
		fclose(in);
	}
	free(text);
	free(data);
	return status;
}

/* Up to max bytes are read, whatever max is; one more is too long. */
static void test_read_stream_limit(void)
{
	static const size_t maxes[] = {0, 10, 65536, 100000, 131072, 1u << 20};
	size_t len;

	for (size_t i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
		size_t max = maxes[i];

		len = 0;
		CHECK(read_sized(max, max, &len) == OK);
		CHECK_EQ_I64((long long)len, (long long)max);
		errno = 0;
		CHECK(read_sized(max + 1, max, &len) == ERR);
		CHECK_EQ_I64(errno, EFBIG);
		CHECK(read_sized(max + 20000, max, &len) == ERR);
	}
	CHECK(read_sized(0, 10, &len) == OK);
	CHECK_EQ_I64((long long)len, 0);
}

#define MANY_FDS 1100 /* above FD_SETSIZE (1024) */

/* GET path from 127.0.0.1:port: the status line's first bytes. */
static void http_get(int port, const char *path, char *status, size_t len)
{
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	char req[128];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ssize_t n = 0;

	status[0] = '\0';
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\n\r\n", path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&to, sizeof(to)) == 0 &&
	    write(fd, req, strlen(req)) == (ssize_t)strlen(req))
		n = read(fd, status, len - 1);
	status[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
}

/* The probes are answered with more than FD_SETSIZE descriptors open (a
 * front door with a thousand professionals connected): a probe's socket
 * is then past what select() can watch. */
static void test_metrics_endpoint_many_fds(void)
{
	struct rlimit lim;
	int held[MANY_FDS], n = 0;
	char status[64];

	if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_max < MANY_FDS + 64) {
		printf("  skipped: the open files limit is below %d\n", MANY_FDS + 64);
		return;
	}
	if (lim.rlim_cur < MANY_FDS + 64) {
		lim.rlim_cur = MANY_FDS + 64;
		REQUIRE(setrlimit(RLIMIT_NOFILE, &lim) == 0);
	}
	while (n < MANY_FDS && (held[n] = open("/dev/null", O_RDONLY)) >= 0)
		n++;
	REQUIRE(n == MANY_FDS);
	REQUIRE(metrics_http_start("127.0.0.1:19387", NULL, NULL) == OK);
	http_get(19387, "/live", status, sizeof(status));
	CHECK(strncmp(status, "HTTP/1.0 200", 12) == 0 || strncmp(status, "HTTP/1.1 200", 12) == 0);
	http_get(19387, "/health", status, sizeof(status));
	CHECK(strncmp(status, "HTTP/1.0 200", 12) == 0 || strncmp(status, "HTTP/1.1 200", 12) == 0);
	metrics_http_stop();
	while (n > 0)
		close(held[--n]);
}

/* A setting an operator mistyped stops the start with its name, never
 * runs on a default nobody chose. */
static void test_config_values(void)
{
	static long batch;
	static int strict;
	static char *name;
	static const struct config_entry table[] = {
		{"T_BATCH", CONFIG_INT, &batch, "500", 1, 10000, "messages"},
		{"T_STRICT", CONFIG_BOOL, &strict, "false", 0, 0, "strict"},
		{"T_NAME", CONFIG_STRING, &name, "intake", 0, 0, "name"},
		{0},
	};
	static const char *const refused[][2] = {
		{"T_BATCH", "0"},   {"T_BATCH", "10001"},  {"T_BATCH", "12x"},
		{"T_BATCH", ""},    {"T_STRICT", "maybe"}, {"T_BATCH", "99999999999999999999"},
		{"T_BATCH", " 30"}, {"T_BATCH", "+30"},	   {"T_BATCH", "30 "},
	};

	unsetenv("T_BATCH");
	unsetenv("T_STRICT");
	unsetenv("T_NAME");
	REQUIRE(config_load(table) == OK);
	CHECK_EQ_I64(batch, 500);
	CHECK(strict == 0);
	CHECK_EQ_STR(name, "intake");
	config_free(table);

	setenv("T_BATCH", "10000", 1);
	setenv("T_STRICT", "YES", 1);
	setenv("T_NAME", "", 1);
	REQUIRE(config_load(table) == OK);
	CHECK_EQ_I64(batch, 10000);
	CHECK(strict == 1);
	CHECK_EQ_STR(name, "");
	config_free(table);

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		unsetenv("T_BATCH");
		unsetenv("T_STRICT");
		setenv(refused[i][0], refused[i][1], 1);
		CHECK(config_load(table) == ERR);
		config_free(table);
	}
	unsetenv("T_BATCH");
	unsetenv("T_STRICT");
	unsetenv("T_NAME");
}

static void test_log_level_setting(void)
{
	setenv("CLAIMS_LOG_LEVEL", "warn", 1);
	CHECK(log_init("test_common") == OK);
	setenv("CLAIMS_LOG_LEVEL", "verbose", 1);
	CHECK(log_init("test_common") == ERR);
	setenv("CLAIMS_LOG_LEVEL", "WARN", 1);
	CHECK(log_init("test_common") == ERR);
	unsetenv("CLAIMS_LOG_LEVEL");
	CHECK(log_init("test_common") == OK);
	log_set_level(LOG_INFO);
}

/* The record log_warn() writes for msg, read back from stderr. */
static char *logged(const char *msg)
{
	static char line[4096];
	int fds[2], saved = dup(STDERR_FILENO);
	ssize_t got;

	if (saved < 0 || pipe(fds) != 0 || dup2(fds[1], STDERR_FILENO) < 0)
		abort();
	log_warn("%s", msg);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fds[1]);
	got = read(fds[0], line, sizeof(line) - 1);
	close(fds[0]);
	line[got > 0 ? got : 0] = '\0';
	return line;
}

/* Every record is one line of valid JSON, whatever bytes the message
 * quotes: quotes, control characters, and what is not UTF-8 (U+FFFD in
 * its place), well-formed UTF-8 kept as it is. */
static void test_log_records_parse(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"caf\xc3\xa9 \"x\"\n", "caf\xc3\xa9 \"x\"\n"},
		{"a\xff b", "a\xef\xbf\xbd b"},
		{"cut \xe2\x82", "cut \xef\xbf\xbd\xef\xbf\xbd"},
		{"overlong \xc0\xaf", "overlong \xef\xbf\xbd\xef\xbf\xbd"},
		{"surrogate \xed\xa0\x80.", "surrogate \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd."},
		{"\xf0\x9f\x98\x80 \x01", "\xf0\x9f\x98\x80 \x01"},
	};
	char big[3000];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_error_t error;
		json_t *record = json_loads(logged(cases[i].in), 0, &error);

		REQUIRE(record != NULL);
		CHECK_EQ_STR(json_string_value(json_object_get(record, "msg")), cases[i].out);
		json_decref(record);
	}
	/* A message cut at its limit inside a sequence still parses. */
	memset(big, 'a', sizeof(big));
	for (size_t i = 2040; i + 1 < sizeof(big); i += 2) {
		big[i] = (char)0xc3;
		big[i + 1] = (char)0xa9;
	}
	big[sizeof(big) - 1] = '\0';
	for (int shift = 0; shift < 2; shift++) {
		json_t *record = json_loads(logged(big + shift), 0, NULL);

		CHECK(record != NULL);
		json_decref(record);
	}
}

/* "Today" in a zone: metropolitan France's rule, winter (+1) and summer
 * (+2), either side of its midnight. What the C library would take for
 * UTC (a name without its tz file: TZDIR here is a directory holding
 * only a file that is not one) or for the United States' summer time (a
 * summer time without its rule) is refused. */
static void test_local_dates(void)
{
	char dir[] = "/tmp/test_common_tzXXXXXX", path[64], sub[64];
	int32_t jan1 = 0, jan2 = 0, jul1 = 0, jul2 = 0;
	const int64_t s = 1000000;
	FILE *f;

	REQUIRE(date_parse("2026-01-01", &jan1) == OK && date_parse("2026-01-02", &jan2) == OK);
	REQUIRE(date_parse("2026-07-01", &jul1) == OK && date_parse("2026-07-02", &jul2) == OK);
	REQUIRE(mkdtemp(dir) != NULL);
	snprintf(sub, sizeof(sub), "%s/Europe", dir);
	snprintf(path, sizeof(path), "%s/Europe/Paris", dir);
	REQUIRE(mkdir(sub, 0700) == 0 && (f = fopen(path, "w")) != NULL);
	fputs("not a tz file\n", f);
	fclose(f);
	setenv("TZDIR", dir, 1);

	CHECK(date_set_local_zone("CET-1CEST,M3.5.0,M10.5.0/3") == OK);
	CHECK_EQ_I64(date_local_at(((int64_t)jan1 * 86400 + 22 * 3600 + 1800) * s), jan1);
	CHECK_EQ_I64(date_local_at(((int64_t)jan1 * 86400 + 23 * 3600 + 1800) * s), jan2);
	CHECK_EQ_I64(date_local_at(((int64_t)jul1 * 86400 + 21 * 3600 + 1800) * s), jul1);
	CHECK_EQ_I64(date_local_at(((int64_t)jul1 * 86400 + 22 * 3600 + 1800) * s), jul2);
	CHECK(date_set_local_zone("Europe/Paris") == ERR); /* not a tz file */
	CHECK(date_set_local_zone("Europe") == ERR);	   /* a directory */
	CHECK(date_set_local_zone("CET") == ERR);	   /* a name, no file */
	CHECK(date_set_local_zone("Paris") == ERR);
	CHECK(date_set_local_zone(":Nowhere") == ERR);
	CHECK(date_set_local_zone("CET-1CEST") == ERR); /* summer time, no rule */
	CHECK(date_set_local_zone("") == ERR);
	/* Refused, the zone set before stays. */
	CHECK_EQ_I64(date_local_at(((int64_t)jan1 * 86400 + 23 * 3600 + 1800) * s), jan2);
	CHECK(date_set_local_zone("<+14>-14") == OK);
	CHECK_EQ_I64(date_local_at(((int64_t)jan1 * 86400 + 10 * 3600 + 1) * s), jan2);
	CHECK(date_set_local_zone("UTC0") == OK);
	CHECK_EQ_I64(date_local_at(((int64_t)jan1 * 86400 + 23 * 3600 + 1800) * s), jan1);

	unsetenv("TZ");
	unsetenv("TZDIR");
	tzset();
	unlink(path);
	rmdir(sub);
	rmdir(dir);
}

/* A busy loop shows in the process's CPU (within 5 s of wall time,
 * however busy the machine), and the figure never goes back. */
static void test_process_cpu(void)
{
	int64_t cpu0 = process_cpu_us(), wall0 = clock_mono_us(), cpu1;
	volatile uint64_t spin = 0;

	while (process_cpu_us() - cpu0 < 5000 && clock_mono_us() - wall0 < 5000000)
		spin++;
	cpu1 = process_cpu_us();
	CHECK(cpu0 > 0);
	CHECK(cpu1 - cpu0 >= 5000);
	CHECK(process_cpu_us() >= cpu1);
}

/* A key as text: as is when PostgreSQL and a terminal can take it. */
static void key_is(const char *key, size_t len, const char *want)
{
	char *text = key_text(key, len);

	CHECK_EQ_STR(text, want);
	free(text);
}

static void test_key_text(void)
{
	key_is(NULL, 0, "");
	key_is("", 0, "");
	key_is("contract-42", 11, "contract-42");
	key_is("Hélène", 8, "Hélène");
	key_is("bad\xff", 4, "hex:626164ff");	       /* not UTF-8 */
	key_is("H\xe9l\xe8ne", 6, "hex:48e96ce86e65"); /* Latin-1 */
	key_is("a\0b", 3, "hex:610062");	       /* a NUL: text would stop */
	key_is("\x1b[2J", 4, "hex:1b5b324a");	       /* a terminal's escape */
	key_is("\xc3", 1, "hex:c3");		       /* a character cut short */
}

/* Text from elsewhere on one line of a terminal. */
static void printable_is(const char *text, const char *want)
{
	char *got = text_printable(text);

	CHECK_EQ_STR(got, want);
	free(got);
}

static void test_text_printable(void)
{
	printable_is(NULL, "");
	printable_is("key (source s, external id k) already answered",
		     "key (source s, external id k) already answered");
	printable_is("Hélène", "Hélène");
	printable_is("X\n2026-01-01T00:00:00Z forged", "X\\x0a2026-01-01T00:00:00Z forged");
	printable_is("\x1b[2J", "\\x1b[2J");
	printable_is("a\\x0a", "a\\\\x0a"); /* a backslash is not taken for an escape */
	printable_is("\xc2\x9b"
		     "2J",
		     "\\xc2\\x9b2J"); /* C1: a CSI */
	printable_is("bad\xff", "bad\\xff");
	printable_is("\x7f", "\\x7f");
}

/* The relay's keys held back: each pair once, whatever the order they
 * come in, at most max of them, and as the query's two arrays. */
static void test_keyset(void)
{
	struct keyset s;
	struct pgarray topics, keys;

	keyset_init(&s, 3);
	CHECK_EQ_I64(keyset_add(&s, "t2", "k"), 1);
	CHECK_EQ_I64(keyset_add(&s, "t1", "b"), 1);
	CHECK_EQ_I64(keyset_add(&s, "t1", "b"), 0); /* a key's second event */
	CHECK_EQ_I64(keyset_add(&s, "t1", "a"), 1);
	CHECK_EQ_I64(keyset_add(&s, "t3", "z"), -1); /* full */
	CHECK_EQ_I64(s.count, 3);
	CHECK(keyset_has(&s, "t1", "a") && keyset_has(&s, "t2", "k"));
	/* The pair, not its concatenation: "t1" + "b" is not "t1b" + "". */
	CHECK(!keyset_has(&s, "t1", "k") && !keyset_has(&s, "t1b", ""));
	pgarray_init(&topics);
	pgarray_init(&keys);
	keyset_arrays(&s, &topics, &keys);
	CHECK_EQ_STR(pgarray_finish(&topics), "{\"t1\",\"t1\",\"t2\"}");
	CHECK_EQ_STR(pgarray_finish(&keys), "{\"a\",\"b\",\"k\"}");
	pgarray_free(&topics);
	pgarray_free(&keys);
	keyset_remove(&s, "t1", "b");
	keyset_remove(&s, "t1", "b"); /* not there: nothing */
	CHECK_EQ_I64(s.count, 2);
	CHECK(!keyset_has(&s, "t1", "b") && keyset_has(&s, "t2", "k"));
	CHECK_EQ_I64(keyset_add(&s, "t1b", ""), 1);
	CHECK(keyset_has(&s, "t1b", ""));
	keyset_clear(&s);
	CHECK_EQ_I64(s.count, 0);
	CHECK(!keyset_has(&s, "t2", "k"));
	keyset_free(&s);
}

/* Binary integers of a result, built by hand as libpq would receive them. */
static void test_pg_binary_int(void)
{
	PGresAttDesc attrs[3] = {{.name = "a", .format = 1, .typlen = 2},
				 {.name = "b", .format = 1, .typlen = 4},
				 {.name = "c", .format = 1, .typlen = 8}};
	const char minus2[2] = {(char)0xff, (char)0xfe};
	const char days[4] = {0x00, 0x00, 0x51, 0x4c}; /* 20812: 2026-12-25 */
	const char big[8] = {(char)0x80, 0, 0, 0, 0, 0, 0, 0x01};
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);

	REQUIRE(res != NULL && PQsetResultAttrs(res, 3, attrs) &&
		PQsetvalue(res, 0, 0, (char *)minus2, 2) &&
		PQsetvalue(res, 0, 1, (char *)days, 4) && PQsetvalue(res, 0, 2, (char *)big, 8));
	CHECK_EQ_I64(pg_binary_int(res, 0, 0), -2);
	CHECK_EQ_I64(pg_binary_int(res, 0, 1), 20812);
	CHECK_EQ_I64(pg_binary_int(res, 0, 2), INT64_MIN + 1);
	PQclear(res);
}

int main(void)
{
	RUN(test_dates);
	RUN(test_local_dates);
	RUN(test_process_cpu);
	RUN(test_pgarray);
	RUN(test_pgarray_words);
	RUN(test_envelope_trace_id);
	RUN(test_uuid);
	RUN(test_uuid_many);
	RUN(test_uuid_from_name);
	RUN(test_identifiers);
	RUN(test_envelope_roundtrip);
	RUN(test_envelope_rejects);
	RUN(test_pb_text_nul);
	RUN(test_pb_budget);
	RUN(test_metrics_render);
	RUN(test_metrics_addr);
	RUN(test_metrics_endpoint_many_fds);
	RUN(test_read_stream_limit);
	RUN(test_pg_binary_int);
	RUN(test_key_text);
	RUN(test_text_printable);
	RUN(test_keyset);
	RUN(test_config_values);
	RUN(test_log_level_setting);
	RUN(test_log_records_parse);
	return test_report();
}
