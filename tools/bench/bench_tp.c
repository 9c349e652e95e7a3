/*
 * NAME
 *	bench_tp - latency of the tiers-payant front door under load, next
 *	to the raw ZeroMQ and TCP round trips
 *
 * SYNOPSIS
 *	bench_tp [--clients N] [--rate R] [--seconds S] [--mix Q] [--members M]
 *	         [--pingpong K] [--endpoint E] [--echo-endpoint E]
 *
 * DESCRIPTION
 *	N professionals (default 50), each a DEALER socket with its own
 *	CURVE key and session, send ELIGIBILITY and QUOTE requests to the
 *	running front door (tpgate) at R requests per second in all (default
 *	5000), a fraction Q of them QUOTEs (default 0.5), for one second of
 *	warm-up, then S seconds (default 10) that are measured. Each
 *	professional sends R / N requests per second (100 by default), below
 *	the front door's CLAIMS_TP_RATE_LIMIT (200 by default).
 *
 *	The schedule is open: request k is due at t0 + k / R whatever the
 *	replies, leaves from client k mod N, and its latency runs from its
 *	due time to its reply. A stall of the front door, or of this
 *	program, therefore shows in the figures instead of slowing the load
 *	down (no coordinated omission). One thread drives every socket,
 *	waiting on their file descriptors with a microsecond deadline: on a
 *	small machine, fifty threads would measure the scheduler.
 *
 *	The same run then measures what any front door on this machine would
 *	cost at the least: an echo ROUTER in a thread of this program (its
 *	own ZeroMQ context, loopback TCP, CURVE, the front door's socket
 *	options), answered with the same frames and the same message sizes
 *	as the ELIGIBILITY and QUOTE requests and replies just seen, at the
 *	same rate, mix and number of clients. Then the same again over plain
 *	loopback TCP, without ZeroMQ or CURVE (a length, then the body), to
 *	an echo in another thread of this program: the machine's own floor,
 *	its kernel's round trip between two threads at this rate. Last, one
 *	request at a time (K of them, default 2000, rotating over the
 *	clients) to each: the latency without load.
 *
 *	A QUOTE has three lines (GP consultation, pharmacy, lab), like the
 *	claims of bench_pipeline; both requests name the subscriber of one
 *	of the first M members (default 1000) holding an active open-ended
 *	contract (claimctl seed), on today's date. The professionals' keys
 *	are made here and registered in PostgreSQL as RPPS 9999000001x and
 *	following, with a tiers-payant agreement.
 *
 *	Settings: CLAIMS_TP_SERVER_KEY (the front door's public key,
 *	required), CLAIMS_TP_ENDPOINT [tcp://127.0.0.1:5702],
 *	CLAIMS_PG_DSN.
 *
 * DIAGNOSTICS
 *	Prints one table (requests, answers per second, p50, p99, p99.9 and
 *	max in milliseconds, errors), whether the targets (ELIGIBILITY p99
 *	< 1 ms, QUOTE p99 < 2 ms) were met, and the errors by code; under
 *	load, how far behind its schedule this program sent (its own share
 *	of the latency, the same for every path) and the CPU it used (its
 *	clients; during the echoes' phases, the echo's server too), which the
 *	front door does not have on a small machine. Only answers count in the
 *	latency; ErrorReplies and requests without an answer within 5 s
 *	count as errors. Exit 0 whenever the run took place, targets met or
 *	not (timing is reported, never asserted); 1 when it could not (no
 *	database, no member, a session refused); 2 on bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "common/envelope.h"
#include "common/ident.h"
#include "common/log.h"
#include "common/pg.h"
#include "common/tpclient.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "common/zsock.h"
#include "proto/tierspayant.pb-c.h"

#define RING	      1024 /* requests in flight per client */
#define ID_LEN	      UUID_STR_LEN
#define MAX_CODES     16
#define WARMUP_US     1000000
#define TIMEOUT_US    5000000
#define SESSION_MS    5000
#define ECHO_HEADER   (4 + ID_LEN)   /* reply size, then the request id */
#define ECHO_MAX      65536	     /* the front door's CLAIMS_TP_MAX_REQUEST_BYTES */
#define TCP_FRAME_MAX (4 + ECHO_MAX) /* the TCP echo's: length, then body */
#define TARGET_ELIG   1.0	     /* ms */
#define TARGET_QUOTE  2.0	     /* ms */
#define DEFAULT_ECHO  "tcp://127.0.0.1:5709"
#define DEFAULT_FRONT "tcp://127.0.0.1:5702"

enum kind { ELIGIBILITY, QUOTE, KINDS };

/* The phases, in the order of the report: under load, then one at a time. */
enum { PH_DOOR, PH_ZMQ, PH_TCP, PH_DOOR_ONE, PH_ZMQ_ONE, PH_TCP_ONE, PHASES };

static const char *const kind_name[KINDS] = {"ELIGIBILITY", "QUOTE"};

struct options {
	long clients, rate, seconds, members, pingpong;
	double mix;
	const char *endpoint, *echo_endpoint, *dsn, *server_key;
};

/* What the requests are made of. */
struct material {
	char **members;
	long n_members;
	char today[DATE_STR_LEN];
	size_t request_bytes[KINDS], reply_bytes[KINDS]; /* the echoes' */
	uint8_t *echo_frame;				 /* the TCP echo's length, then echo_body */
	uint8_t *echo_body;
	long seq;
};

/* ---- statistics ------------------------------------------------------------------------ */

struct code_count {
	char code[32];
	long n;
};

struct series {
	int64_t *lat; /* microseconds, answers only */
	long n, cap;
	long requests, errors, not_open;
	int64_t reply_bytes;
	struct code_count codes[MAX_CODES];
	int n_codes;
};

/* One measured phase: a path (front door or echo) and a load. */
struct phase {
	const char *label;
	int loaded;	      /* at the rate, not one at a time */
	const char *cpu_note; /* what this program's CPU covers, under load */
	struct series s[KINDS];
	struct series lag; /* sends behind their schedule */
	double seconds;
	long stray;
	int64_t cpu_us; /* this program's CPU during the phase (all threads) */
	long sent;	/* requests sent during the phase */
};

static void series_add(struct series *s, int64_t us)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 4096;
		s->lat = xrealloc(s->lat, (size_t)s->cap * sizeof(*s->lat));
	}
	s->lat[s->n++] = us;
}

static void series_error(struct series *s, const char *code)
{
	int i;

	s->errors++;
	for (i = 0; i < s->n_codes; i++)
		if (strcmp(s->codes[i].code, code) == 0)
			break;
	if (i == s->n_codes && i < MAX_CODES)
		snprintf(s->codes[s->n_codes++].code, sizeof(s->codes[0].code), "%s", code);
	if (i < MAX_CODES)
		s->codes[i].n++;
}

static void phase_free(struct phase *ph)
{
	for (int k = 0; k < KINDS; k++)
		free(ph->s[k].lat);
	free(ph->lag.lat);
}

static int compare_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static double percentile_ms(const struct series *s, double p)
{
	long k = (long)(p * (double)(s->n - 1) + 0.5);

	return (double)s->lat[k] / 1000.0;
}

/* ---- the requests -------------------------------------------------------------------------- */

struct request {
	Claims__BeneficiaryRef ben;
	Claims__EligibilityRequest elig;
	Claims__QuoteRequest quote;
	Claims__ClaimLine line[3], *lines[3];
};

static Claims__MessageType request_type(enum kind k)
{
	return k == ELIGIBILITY ? CLAIMS__MESSAGE_TYPE__ELIGIBILITY_REQUEST
				: CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST;
}

static const ProtobufCMessage *request_init(struct request *q, enum kind k, const char *session,
					    const char *member, const char *day)
{
	static const char *const cats[3] = {"CONSULT_GP", "PHARMA", "BIOLOGIE"};
	static const int64_t charged[3] = {3000, 1840, 2430};
	static const uint32_t rate[3] = {70, 65, 60};

	claims__beneficiary_ref__init(&q->ben);
	q->ben.membership_number = (char *)member;
	if (k == ELIGIBILITY) {
		claims__eligibility_request__init(&q->elig);
		q->elig.session_token = (char *)session;
		q->elig.beneficiary = &q->ben;
		q->elig.care_date = (char *)day;
		return &q->elig.base;
	}
	claims__quote_request__init(&q->quote);
	for (int i = 0; i < 3; i++) {
		claims__claim_line__init(&q->line[i]);
		q->line[i].category = (char *)cats[i];
		q->line[i].care_date = (char *)day;
		q->line[i].has_charged_cents = q->line[i].has_brss_cents = 1;
		q->line[i].has_amo_rate = 1;
		q->line[i].charged_cents = charged[i];
		q->line[i].brss_cents = charged[i];
		q->line[i].amo_rate = rate[i];
		q->lines[i] = &q->line[i];
	}
	q->quote.session_token = (char *)session;
	q->quote.beneficiary = &q->ben;
	q->quote.n_lines = 3;
	q->quote.lines = q->lines;
	return &q->quote.base;
}

/* The size of a request's envelope, as tp_client_send() packs it. */
static size_t request_size(enum kind k, const char *session, const struct material *m)
{
	struct request q;
	char id[UUID_STR_LEN];
	uint8_t *buf;
	size_t len = 0;

	if (envelope_pack(request_type(k), request_init(&q, k, session, m->members[0], m->today),
			  NULL, "tpclient", id, &buf, &len) != OK)
		return 0;
	free(buf);
	return len;
}

/* ---- setup: members, professionals ------------------------------------------------------- */

static int load_members(struct pg *db, long max, struct material *m)
{
	char limit[24];
	const char *v[1] = {limit};
	PGresult *res;

	snprintf(limit, sizeof(limit), "%ld", max);
	if (pg_exec_params(db,
			   "SELECT m.membership_number FROM members m"
			   " JOIN contracts c ON c.member_id = m.member_id"
			   " JOIN beneficiaries b ON b.contract_id = c.contract_id AND b.rank = 1"
			   " WHERE c.status = 'active' AND c.end_date IS NULL"
			   " AND c.start_date <= current_date AND b.start_date <= current_date"
			   " AND b.end_date IS NULL ORDER BY m.member_id LIMIT $1::bigint",
			   1, v, &res) != OK)
		return ERR;
	m->n_members = PQntuples(res);
	m->members = xcalloc((size_t)m->n_members + 1, sizeof(*m->members));
	for (long i = 0; i < m->n_members; i++)
		m->members[i] = xstrdup(PQgetvalue(res, (int)i, 0));
	PQclear(res);
	if (m->n_members == 0) {
		log_error("no member with an active contract: run claimctl seed first");
		return ERR;
	}
	return OK;
}

/* Professional i's RPPS number: 999900, i on 4 digits, Luhn key. */
static void rpps_of(long i, char out[12])
{
	char body[11];

	snprintf(body, sizeof(body), "999900%04u", (unsigned)(i % 10000) % 10000u);
	snprintf(out, 12, "%s%d", body, luhn_check_digit(body));
}

/* A fresh key pair per client, registered (created or replaced). */
static int register_clients(struct pg *db, struct tp_keys *keys, long n)
{
	if (pg_begin(db) != OK)
		return ERR;
	for (long i = 0; i < n; i++) {
		char rpps[12], name[48];
		const char *v[3] = {rpps, name, keys[i].public_key};

		if (zmq_curve_keypair(keys[i].public_key, keys[i].secret) != 0) {
			log_error("zmq_curve_keypair: %s", zmq_strerror(zmq_errno()));
			pg_rollback(db);
			return ERR;
		}
		rpps_of(i + 1, rpps);
		snprintf(name, sizeof(name), "bench_tp client %ld", i + 1);
		if (pg_exec_params(db,
				   "INSERT INTO professionals (id_kind, id_value, name, profession,"
				   " curve_public_key, key_status, tp_agreement)"
				   " VALUES ('RPPS', $1, $2, 'pharmacie', $3, 'active', true)"
				   " ON CONFLICT (id_kind, id_value) DO UPDATE SET"
				   " curve_public_key = excluded.curve_public_key,"
				   " key_status = 'active', tp_agreement = true",
				   3, v, NULL) != OK) {
			pg_rollback(db);
			return ERR;
		}
	}
	return pg_commit(db);
}

static int setup(const struct options *o, struct material *m, struct tp_keys *keys)
{
	struct pg *db;
	int status;

	if (pg_open(o->dsn, &db) != OK)
		return ERR;
	status = load_members(db, o->members, m);
	if (status == OK)
		status = register_clients(db, keys, o->clients);
	pg_close(db);
	date_format(date_today(), m->today);
	return status;
}

/* ---- the clients ----------------------------------------------------------------------------- */

struct pending {
	char id[ID_LEN];
	int64_t due_us;
	enum kind kind;
	int measured, done;
};

struct client {
	struct tp_client *tp;
	void *sock;
	struct pollfd *pfd; /* its entry in fleet.fds */
	int tcp;	    /* the TCP echo's connection; -1 on the ZeroMQ paths */
	uint8_t *in;	    /* TCP: bytes received, not yet a whole reply */
	size_t in_len;	    /* bytes in it */
	int dirty;	    /* may have a message: ask ZMQ_EVENTS, or read */
	long head, tail;    /* ring[head..tail) are waiting */
	struct pending *ring;
};

struct fleet {
	struct client *c;
	struct pollfd *fds;
	long n;
};

static void fleet_close(struct fleet *f)
{
	for (long i = 0; i < f->n; i++) {
		tp_client_close(f->c[i].tp);
		if (f->c[i].tcp >= 0 && close(f->c[i].tcp) != 0)
			log_warn("close: %s", strerror(errno));
		free(f->c[i].in);
		free(f->c[i].ring);
	}
	free(f->c);
	free(f->fds);
	memset(f, 0, sizeof(*f));
}

/* n clients, none connected yet: fleet_close() may follow at any point. */
static void fleet_alloc(struct fleet *f, long n)
{
	f->c = xcalloc((size_t)n, sizeof(*f->c));
	f->fds = xcalloc((size_t)n, sizeof(*f->fds));
	f->n = n;
	for (long i = 0; i < n; i++) {
		f->c[i].tcp = -1;
		f->c[i].pfd = &f->fds[i];
		f->fds[i].fd = -1;
		f->fds[i].events = POLLIN;
	}
}

static int fleet_open(void *ctx, const char *endpoint, const char *server_key,
		      const struct tp_keys *keys, long n, struct fleet *f)
{
	fleet_alloc(f, n);
	for (long i = 0; i < n; i++) {
		struct tp_keys k = keys[i];
		size_t len = sizeof(f->fds[i].fd);

		memcpy(k.server, server_key, TP_KEY_LEN);
		if (tp_client_open(ctx, endpoint, &k, SESSION_MS, &f->c[i].tp) != OK)
			return ERR;
		f->c[i].sock = tp_client_socket(f->c[i].tp);
		f->c[i].ring = xcalloc(RING, sizeof(*f->c[i].ring));
		f->c[i].dirty = 1;
		if (zmq_getsockopt(f->c[i].sock, ZMQ_FD, &f->fds[i].fd, &len) != 0) {
			log_error("ZMQ_FD: %s", zmq_strerror(zmq_errno()));
			return ERR;
		}
	}
	return OK;
}

static int open_sessions(struct fleet *f)
{
	for (long i = 0; i < f->n; i++) {
		char why[256];

		if (tp_client_open_session(f->c[i].tp, NULL, why, sizeof(why)) != OK) {
			log_error("client %ld: %s", i + 1, why);
			return ERR;
		}
	}
	return OK;
}

/* 1 when a message waits on the client's socket. */
static int zmq_readable(struct client *c)
{
	int events = 0;
	size_t len = sizeof(events);

	if (zmq_getsockopt(c->sock, ZMQ_EVENTS, &events, &len) != 0) {
		log_error("ZMQ_EVENTS: %s", zmq_strerror(zmq_errno()));
		return 0;
	}
	return (events & ZMQ_POLLIN) != 0;
}

/* ---- the paths: front door, ZeroMQ echo, TCP echo ------------------------------------------- */

struct outcome {
	char id[ID_LEN];
	char code[32]; /* empty: an answer */
	size_t bytes;
	int not_open;
};

struct run;

struct path {
	int (*send)(struct run *r, struct client *c, enum kind k, char id[ID_LEN]);
	int (*readable)(struct client *c); /* 1: receive() has a reply to take */
	int (*receive)(struct client *c, struct outcome *o);
};

struct run {
	const struct options *o;
	const struct path *path;
	struct fleet *f;
	struct material *m;
	struct phase *ph;
	long next, outstanding;
	int64_t start_us, from_us, to_us;
};

static int door_send(struct run *r, struct client *c, enum kind k, char id[ID_LEN])
{
	struct request q;
	const char *member = r->m->members[r->next % r->m->n_members];

	return tp_client_send(c->tp, request_type(k),
			      request_init(&q, k, tp_client_session(c->tp), member, r->m->today),
			      id);
}

static void door_verdict(const struct envelope *env, struct outcome *o)
{
	if (env->type == CLAIMS__MESSAGE_TYPE__ERROR_REPLY) {
		Claims__ErrorReply *e =
			claims__error_reply__unpack(NULL, env->payload_len, env->payload);

		snprintf(o->code, sizeof(o->code), "%s", e && e->code ? e->code : "ERROR_REPLY");
		claims__error_reply__free_unpacked(e, NULL);
	} else if (env->type == CLAIMS__MESSAGE_TYPE__ELIGIBILITY_REPLY) {
		Claims__EligibilityReply *e =
			claims__eligibility_reply__unpack(NULL, env->payload_len, env->payload);

		o->not_open = e == NULL || !e->rights_open;
		claims__eligibility_reply__free_unpacked(e, NULL);
	} else if (env->type != CLAIMS__MESSAGE_TYPE__QUOTE_REPLY) {
		snprintf(o->code, sizeof(o->code), "%s", envelope_type_name(env->type));
	}
}

static int door_receive(struct client *c, struct outcome *o)
{
	struct envelope env;
	char why[160];

	if (tp_client_recv(c->tp, 0, &env, why, sizeof(why)) != OK) {
		log_warn("front door reply: %s", why);
		return ERR;
	}
	tp_reply_request_id(&env, o->id, sizeof(o->id));
	o->bytes = claims__envelope__get_packed_size(env.pb);
	door_verdict(&env, o);
	envelope_free(&env);
	return OK;
}

/* [empty][body]: the body's first bytes are the reply size wanted and
 * the request id, the rest the size of the real request. */
static int echo_send(struct run *r, struct client *c, enum kind k, char id[ID_LEN])
{
	struct material *m = r->m;
	uint32_t want = (uint32_t)m->reply_bytes[k];

	snprintf(id, ID_LEN, "%ld", m->seq++);
	memcpy(m->echo_body, &want, sizeof(want));
	memcpy(m->echo_body + 4, id, ID_LEN);
	if (zmq_send(c->sock, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	    zmq_send(c->sock, m->echo_body, m->request_bytes[k], ZMQ_DONTWAIT) < 0) {
		log_error("echo send: %s", zmq_strerror(zmq_errno()));
		return ERR;
	}
	return OK;
}

static int echo_receive(struct client *c, struct outcome *o)
{
	zmq_msg_t part;
	int more = 1;

	zmq_msg_init(&part);
	while (more) {
		zmq_msg_close(&part);
		zmq_msg_init(&part);
		if (zmq_msg_recv(&part, c->sock, ZMQ_DONTWAIT) < 0) {
			log_warn("echo receive: %s", zmq_strerror(zmq_errno()));
			zmq_msg_close(&part);
			return ERR;
		}
		more = zmq_msg_more(&part);
	}
	o->bytes = zmq_msg_size(&part);
	if (o->bytes >= ECHO_HEADER)
		snprintf(o->id, sizeof(o->id), "%.*s", ID_LEN - 1,
			 (const char *)zmq_msg_data(&part) + 4);
	else
		snprintf(o->code, sizeof(o->code), "SHORT_ECHO");
	zmq_msg_close(&part);
	return OK;
}

static const struct path door_path = {door_send, zmq_readable, door_receive};
static const struct path echo_path = {echo_send, zmq_readable, echo_receive};

/* ---- the echo server ----------------------------------------------------------------------- */

struct echo {
	void *ctx, *sock;
	uint8_t *reply;
	pthread_t thread;
	int started;
	atomic_int stop;
	char public_key[TP_KEY_LEN];
};

static void echo_one(struct echo *e, const struct zframes *f)
{
	size_t len, size;
	const uint8_t *body = zframes_body(f, &len);
	uint32_t want = 0;

	if (body != NULL && len >= ECHO_HEADER) {
		memcpy(&want, body, sizeof(want));
		memcpy(e->reply, body, ECHO_HEADER);
	}
	size = want < ECHO_HEADER ? ECHO_HEADER : want > ECHO_MAX ? ECHO_MAX : want;
	if (zsock_reply(e->sock, f, e->reply, size) != OK)
		log_warn("echo reply not sent");
}

static void *echo_loop(void *arg)
{
	struct echo *e = arg;

	while (!atomic_load(&e->stop)) {
		zmq_pollitem_t item = {e->sock, 0, ZMQ_POLLIN, 0};
		struct zframes f;

		if (zmq_poll(&item, 1, 100) < 0 && zmq_errno() != EINTR) {
			log_error("echo poll: %s", zmq_strerror(zmq_errno()));
			break;
		}
		while (zsock_recv(e->sock, &f) == OK) {
			echo_one(e, &f);
			zframes_close(&f);
		}
	}
	return NULL;
}

static void echo_stop(struct echo *e)
{
	atomic_store(&e->stop, 1);
	if (e->started && pthread_join(e->thread, NULL) != 0)
		log_warn("echo thread: join failed");
	if (e->sock != NULL && zmq_close(e->sock) != 0)
		log_warn("zmq_close: %s", zmq_strerror(zmq_errno()));
	if (e->ctx != NULL && zmq_ctx_term(e->ctx) != 0)
		log_warn("zmq_ctx_term: %s", zmq_strerror(zmq_errno()));
	free(e->reply);
}

/* The ROUTER of the front door, CURVE on, without its ZAP handler:
 * libzmq then lets every client key in. */
static int echo_start(struct echo *e, const char *endpoint)
{
	char secret[TP_KEY_LEN];

	e->reply = xcalloc(1, ECHO_MAX);
	e->ctx = zmq_ctx_new();
	if (e->ctx == NULL || zmq_curve_keypair(e->public_key, secret) != 0) {
		log_error("echo: %s", zmq_strerror(zmq_errno()));
		return ERR;
	}
	if (zsock_bind_curve_router(e->ctx, endpoint, secret, "bench", ECHO_MAX, &e->sock) != OK)
		return ERR;
	if (pthread_create(&e->thread, NULL, echo_loop, e) != 0) {
		log_error("echo thread: cannot start");
		return ERR;
	}
	e->started = 1;
	return OK;
}

/* ---- the kernel's floor: a TCP echo ---------------------------------------------------------- */

/*
 * The same requests and replies over plain loopback TCP, without ZeroMQ
 * and CURVE: what this machine's kernel alone takes for a round trip at
 * the rate, two threads and fifty connections. A frame is its body's
 * length (4 bytes, network order), then the body, which starts like the
 * ZeroMQ echo's: the reply size wanted, then the request id.
 */

struct tcp_conn {
	int fd;
	size_t len;
	uint8_t buf[TCP_FRAME_MAX];
};

struct tcp_echo {
	int listen_fd, epoll_fd, port;
	struct tcp_conn **conns;
	size_t n_conns;
	uint8_t *reply;
	pthread_t thread;
	int started;
	atomic_int stop;
};

static size_t frame_len(const uint8_t *p)
{
	uint32_t be;

	memcpy(&be, p, sizeof(be));
	return ntohl(be);
}

/* All len bytes, waiting up to a second at a time for room. */
static int send_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		struct pollfd room = {fd, POLLOUT, 0};

		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (poll(&room, 1, 1000) <= 0 && errno != EINTR)
				return ERR;
		} else {
			return ERR;
		}
	}
	return OK;
}

static int tcp_nodelay(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
		log_error("TCP_NODELAY: %s", strerror(errno));
		return ERR;
	}
	return OK;
}

/* The whole frames of c's buffer answered; ERR ends the connection. */
static int tcp_echo_answer(struct tcp_echo *e, struct tcp_conn *c)
{
	size_t done = 0;

	while (c->len - done >= 4) {
		const uint8_t *frame = c->buf + done;
		size_t len = frame_len(frame);
		uint32_t want, be;

		if (len < ECHO_HEADER || len > ECHO_MAX)
			return ERR;
		if (c->len - done < 4 + len)
			break;
		memcpy(&want, frame + 4, sizeof(want));
		want = want < ECHO_HEADER ? ECHO_HEADER : want > ECHO_MAX ? ECHO_MAX : want;
		be = htonl(want);
		memcpy(e->reply, &be, sizeof(be));
		memcpy(e->reply + 4, frame + 4, ECHO_HEADER);
		if (send_all(c->fd, e->reply, 4 + want) != OK)
			return ERR;
		done += 4 + len;
	}
	memmove(c->buf, c->buf + done, c->len - done);
	c->len -= done;
	return OK;
}

/* What the connection has; ERR when it ended or misbehaved. */
static int tcp_echo_read(struct tcp_echo *e, struct tcp_conn *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return OK;
		if (n <= 0)
			return ERR;
		c->len += (size_t)n;
		if (tcp_echo_answer(e, c) != OK)
			return ERR;
	}
}

static void tcp_echo_accept(struct tcp_echo *e)
{
	struct tcp_conn *c;
	struct epoll_event ev = {.events = EPOLLIN};
	int fd = accept4(e->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0) {
		log_warn("TCP echo accept: %s", strerror(errno));
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	e->conns = xrealloc(e->conns, (e->n_conns + 1) * sizeof(*e->conns));
	e->conns[e->n_conns++] = c;
	ev.data.ptr = c;
	if (tcp_nodelay(fd) != OK || epoll_ctl(e->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0)
		log_warn("TCP echo: connection not served: %s", strerror(errno));
}

static void *tcp_echo_loop(void *arg)
{
	struct tcp_echo *e = arg;

	while (!atomic_load(&e->stop)) {
		struct epoll_event ev[64];
		int n = epoll_wait(e->epoll_fd, ev, 64, 100);

		if (n < 0 && errno != EINTR) {
			log_error("TCP echo epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct tcp_conn *c = ev[i].data.ptr;

			if (c == NULL) {
				tcp_echo_accept(e);
			} else if (c->fd >= 0 && tcp_echo_read(e, c) != OK) {
				if (epoll_ctl(e->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL) != 0 ||
				    close(c->fd) != 0)
					log_warn("TCP echo close: %s", strerror(errno));
				c->fd = -1;
			}
		}
	}
	return NULL;
}

static void tcp_echo_stop(struct tcp_echo *e)
{
	atomic_store(&e->stop, 1);
	if (e->started && pthread_join(e->thread, NULL) != 0)
		log_warn("TCP echo thread: join failed");
	for (size_t i = 0; i < e->n_conns; i++) {
		if (e->conns[i]->fd >= 0 && close(e->conns[i]->fd) != 0)
			log_warn("close: %s", strerror(errno));
		free(e->conns[i]);
	}
	free(e->conns);
	if (e->epoll_fd >= 0 && close(e->epoll_fd) != 0)
		log_warn("close: %s", strerror(errno));
	if (e->listen_fd >= 0 && close(e->listen_fd) != 0)
		log_warn("close: %s", strerror(errno));
	free(e->reply);
}

/* Listening on a free loopback port, e->port. */
static int tcp_echo_start(struct tcp_echo *e)
{
	struct sockaddr_in at = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(at);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};

	e->reply = xcalloc(1, TCP_FRAME_MAX);
	e->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	e->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (e->listen_fd < 0 || e->epoll_fd < 0 ||
	    bind(e->listen_fd, (struct sockaddr *)&at, sizeof(at)) != 0 ||
	    listen(e->listen_fd, 128) != 0 ||
	    getsockname(e->listen_fd, (struct sockaddr *)&at, &len) != 0 ||
	    epoll_ctl(e->epoll_fd, EPOLL_CTL_ADD, e->listen_fd, &ev) != 0) {
		log_error("TCP echo: %s", strerror(errno));
		return ERR;
	}
	e->port = ntohs(at.sin_port);
	if (pthread_create(&e->thread, NULL, tcp_echo_loop, e) != 0) {
		log_error("TCP echo thread: cannot start");
		return ERR;
	}
	e->started = 1;
	return OK;
}

static int tcp_connect(int port)
{
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&to, sizeof(to)) != 0 ||
	    tcp_nodelay(fd) != OK || fcntl(fd, F_SETFL, O_NONBLOCK) != 0) {
		log_error("TCP echo connect: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int tcp_fleet_open(int port, long n, struct fleet *f)
{
	fleet_alloc(f, n);
	for (long i = 0; i < n; i++) {
		struct client *c = &f->c[i];

		if ((c->tcp = tcp_connect(port)) < 0)
			return ERR;
		c->in = xmalloc(TCP_FRAME_MAX);
		c->ring = xcalloc(RING, sizeof(*c->ring));
		c->dirty = 1;
		c->pfd->fd = c->tcp;
	}
	return OK;
}

/* A broken connection: its requests will count as NO_REPLY. */
static void tcp_drop(struct client *c, const char *why)
{
	log_warn("TCP echo: %s", why);
	if (close(c->tcp) != 0)
		log_warn("close: %s", strerror(errno));
	c->tcp = -1;
	c->pfd->fd = -1; /* ppoll skips it */
}

static int tcp_send(struct run *r, struct client *c, enum kind k, char id[ID_LEN])
{
	struct material *m = r->m;
	uint32_t want = (uint32_t)m->reply_bytes[k], be = htonl((uint32_t)m->request_bytes[k]);

	if (c->tcp < 0)
		return ERR;
	snprintf(id, ID_LEN, "%ld", m->seq++);
	memcpy(m->echo_frame, &be, sizeof(be));
	memcpy(m->echo_body, &want, sizeof(want));
	memcpy(m->echo_body + 4, id, ID_LEN);
	if (send_all(c->tcp, m->echo_frame, 4 + m->request_bytes[k]) != OK) {
		tcp_drop(c, strerror(errno));
		return ERR;
	}
	return OK;
}

/* 1 when a whole reply is in c->in, after reading what the socket has. */
static int tcp_readable(struct client *c)
{
	while (c->tcp >= 0) {
		ssize_t n;

		if (c->in_len >= 4 && frame_len(c->in) > ECHO_MAX) {
			tcp_drop(c, "reply longer than any request may ask");
			return 0;
		}
		if (c->in_len >= 4 && c->in_len >= 4 + frame_len(c->in))
			return 1;
		n = recv(c->tcp, c->in + c->in_len, TCP_FRAME_MAX - c->in_len, MSG_DONTWAIT);
		if (n > 0)
			c->in_len += (size_t)n;
		else if (n < 0 && errno == EINTR)
			continue;
		else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		else
			tcp_drop(c, n == 0 ? "connection closed" : strerror(errno));
	}
	return 0;
}

static int tcp_receive(struct client *c, struct outcome *o)
{
	size_t len = frame_len(c->in), whole = 4 + len;

	o->bytes = len;
	if (len >= ECHO_HEADER)
		snprintf(o->id, sizeof(o->id), "%.*s", ID_LEN - 1, (const char *)c->in + 8);
	else
		snprintf(o->code, sizeof(o->code), "SHORT_ECHO");
	memmove(c->in, c->in + whole, c->in_len - whole);
	c->in_len -= whole;
	return OK;
}

static const struct path tcp_path = {tcp_send, tcp_readable, tcp_receive};

/* ---- the load ------------------------------------------------------------------------------ */

/* Request k is a QUOTE with probability mix, the same in every run. */
static enum kind kind_of(long k, double mix)
{
	uint64_t z = (uint64_t)k * 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return (double)(z >> 11) / 9007199254740992.0 < mix ? QUOTE : ELIGIBILITY;
}

static int64_t due_of(const struct run *r, long k)
{
	return r->start_us + (int64_t)k * 1000000 / r->o->rate;
}

/* Sends request r->next, due at due_us, from its client. */
static void send_one(struct run *r, int64_t due_us, int64_t now)
{
	struct client *c = &r->f->c[r->next % r->f->n];
	enum kind k = kind_of(r->next, r->o->mix);
	struct series *s = &r->ph->s[k];
	int measured = due_us >= r->from_us && due_us < r->to_us;
	struct pending *p = &c->ring[c->tail % RING];

	if (measured) {
		s->requests++;
		series_add(&r->ph->lag, now - due_us);
	}
	if (c->tail - c->head >= RING) {
		if (measured)
			series_error(s, "CLIENT_BACKLOG");
		return;
	}
	if (r->path->send(r, c, k, p->id) != OK) {
		if (measured)
			series_error(s, "SEND_FAILED");
		return;
	}
	p->due_us = due_us;
	p->kind = k;
	p->measured = measured;
	p->done = 0;
	c->tail++;
	c->dirty = 1;
	r->outstanding++;
}

static void send_due(struct run *r, int64_t stop_us)
{
	for (;;) {
		int64_t due = due_of(r, r->next), now = clock_mono_us();

		if (due > now || due >= stop_us)
			return;
		send_one(r, due, now);
		r->next++;
	}
}

static void settle(struct run *r, struct client *c, const struct outcome *o, int64_t now)
{
	long j;

	for (j = c->head; j < c->tail; j++) {
		struct pending *p = &c->ring[j % RING];
		struct series *s = &r->ph->s[p->kind];

		if (p->done || strcmp(p->id, o->id) != 0)
			continue;
		p->done = 1;
		r->outstanding--;
		if (p->measured && o->code[0] != '\0') {
			series_error(s, o->code);
		} else if (p->measured) {
			series_add(s, now - p->due_us);
			s->reply_bytes += (int64_t)o->bytes;
			s->not_open += o->not_open;
		}
		break;
	}
	if (j == c->tail)
		r->ph->stray++; /* after its deadline, or unknown */
	while (c->head < c->tail && c->ring[c->head % RING].done)
		c->head++;
}

static void receive_ready(struct run *r)
{
	for (long i = 0; i < r->f->n; i++) {
		struct client *c = &r->f->c[i];

		while (c->dirty) {
			struct outcome o;

			if (!r->path->readable(c)) {
				c->dirty = 0;
				break;
			}
			memset(&o, 0, sizeof(o));
			if (r->path->receive(c, &o) == OK)
				settle(r, c, &o, clock_mono_us());
		}
	}
}

/* Requests without an answer after TIMEOUT_US (all of them: at the end). */
static void expire(struct run *r, int all)
{
	int64_t now = clock_mono_us();

	for (long i = 0; i < r->f->n; i++) {
		struct client *c = &r->f->c[i];

		for (; c->head < c->tail; c->head++) {
			struct pending *p = &c->ring[c->head % RING];

			if (p->done)
				continue;
			if (!all && now - p->due_us < TIMEOUT_US)
				break;
			r->outstanding--;
			if (p->measured)
				series_error(&r->ph->s[p->kind], "NO_REPLY");
		}
	}
}

/* Until a socket may have a message, or until_us. */
static int wait_ready(struct run *r, int64_t until_us)
{
	int64_t left = until_us - clock_mono_us();
	struct timespec ts;

	if (left < 0)
		left = 0;
	ts.tv_sec = (time_t)(left / 1000000);
	ts.tv_nsec = (long)(left % 1000000) * 1000;
	if (ppoll(r->f->fds, (nfds_t)r->f->n, &ts, NULL) < 0 && errno != EINTR) {
		log_error("ppoll: %s", strerror(errno));
		return ERR;
	}
	for (long i = 0; i < r->f->n; i++)
		if (r->f->fds[i].revents != 0)
			r->f->c[i].dirty = 1;
	return OK;
}

/* R requests per second for warm-up + S seconds, then the last answers. */
static int open_loop(struct run *r)
{
	r->next = 0;
	r->start_us = clock_mono_us() + 1000;
	r->from_us = r->start_us + WARMUP_US;
	r->to_us = r->from_us + (int64_t)r->o->seconds * 1000000;
	r->ph->seconds = (double)r->o->seconds;
	for (;;) {
		int64_t now, until;

		send_due(r, r->to_us);
		receive_ready(r);
		expire(r, 0);
		now = clock_mono_us();
		if (now >= r->to_us && (r->outstanding == 0 || now >= r->to_us + TIMEOUT_US))
			break;
		until = due_of(r, r->next);
		if (until >= r->to_us)
			until = now + 10000;
		if (wait_ready(r, until) != OK)
			return ERR;
	}
	expire(r, 1);
	return OK;
}

/* count requests, one at a time, rotating over the clients. */
static int ping_pong(struct run *r, long count)
{
	int64_t began = clock_mono_us();

	r->from_us = 0;
	r->to_us = INT64_MAX;
	for (long i = 0; i < count; i++) {
		int64_t sent = clock_mono_us();

		send_one(r, sent, sent);
		r->next++;
		while (r->outstanding > 0 && clock_mono_us() - sent < TIMEOUT_US) {
			receive_ready(r);
			if (r->outstanding == 0)
				break;
			if (wait_ready(r, sent + TIMEOUT_US) != OK)
				return ERR;
		}
		expire(r, 1);
	}
	r->ph->seconds = (double)(clock_mono_us() - began) / 1e6;
	return OK;
}

/* ---- report ----------------------------------------------------------------------------------- */

static void report_row(const char *kind, const struct phase *ph, struct series *s)
{
	double per_s = ph->seconds > 0 ? (double)s->n / ph->seconds : 0;

	if (s->n == 0) {
		printf("%-12s %-30s %8ld %9.0f %8s %8s %8s %8s %7ld\n", kind, ph->label,
		       s->requests, per_s, "-", "-", "-", "-", s->errors);
		return;
	}
	qsort(s->lat, (size_t)s->n, sizeof(*s->lat), compare_i64);
	printf("%-12s %-30s %8ld %9.0f %8.3f %8.3f %8.3f %8.3f %7ld\n", kind, ph->label,
	       s->requests, per_s, percentile_ms(s, 0.50), percentile_ms(s, 0.99),
	       percentile_ms(s, 0.999), (double)s->lat[s->n - 1] / 1000.0, s->errors);
}

static void report_errors(const struct phase *ph, int n)
{
	for (int i = 0; i < n; i++) {
		for (int k = 0; k < KINDS; k++) {
			const struct series *s = &ph[i].s[k];

			if (s->n_codes > 0)
				printf("errors, %s %s:", kind_name[k], ph[i].label);
			for (int j = 0; j < s->n_codes; j++)
				printf(" %s %ld", s->codes[j].code, s->codes[j].n);
			if (s->n_codes > 0)
				printf("\n");
			if (s->not_open > 0)
				printf("note, %s %s: %ld answers with rights not open\n",
				       kind_name[k], ph[i].label, s->not_open);
		}
		if (ph[i].stray > 0)
			printf("note, %s: %ld answers after their deadline\n", ph[i].label,
			       ph[i].stray);
	}
}

static void report_target(const char *kind, const struct series *s, double target_ms)
{
	long no_reply = 0;

	for (int i = 0; i < s->n_codes; i++)
		if (strcmp(s->codes[i].code, "NO_REPLY") == 0)
			no_reply = s->codes[i].n;
	if (s->n == 0) {
		printf("target %s p99 < %.0f ms: %s (no answer; %ld errors of %ld requests, %ld "
		       "of them without a reply)\n",
		       kind, target_ms, s->requests > 0 ? "NOT met" : "not measured", s->errors,
		       s->requests, no_reply);
		return;
	}
	/* A request that failed or got no reply has no latency: a p99 over
	 * the answers alone would meet the target by leaving them out. */
	printf("target %s p99 < %.0f ms: %s (p99 %.3f ms, %ld errors of %ld requests, %ld of "
	       "them without a reply)\n",
	       kind, target_ms,
	       percentile_ms(s, 0.99) < target_ms && s->errors == 0 ? "met" : "NOT met",
	       percentile_ms(s, 0.99), s->errors, s->requests, no_reply);
}

/* Rows in phase order; the lag of the sender under load, then targets. */
static void report(struct phase *ph, int n)
{
	printf("\n%-12s %-30s %8s %9s %8s %8s %8s %8s %7s\n", "type", "path", "requests",
	       "answers/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "errors");
	for (int i = 0; i < n; i++)
		for (int k = 0; k < KINDS; k++)
			report_row(kind_name[k], &ph[i], &ph[i].s[k]);
	printf("\n");
	for (int i = 0; i < n; i++) {
		struct series *lag = &ph[i].lag;

		if (!ph[i].loaded || lag->n == 0)
			continue;
		qsort(lag->lat, (size_t)lag->n, sizeof(*lag->lat), compare_i64);
		printf("sender behind schedule, %s: p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
		       ph[i].label, percentile_ms(lag, 0.50), percentile_ms(lag, 0.99),
		       (double)lag->lat[lag->n - 1] / 1000.0);
	}
	/* The load generator shares the machine: what it takes is not the
	 * front door's to have. */
	for (int i = 0; i < n; i++)
		if (ph[i].loaded && ph[i].sent > 0 && ph[i].seconds > 0)
			printf("this program's CPU under load, %s: %.0f %% of a core, %lld µs a"
			       " request (%s)\n",
			       ph[i].label,
			       100.0 * (double)ph[i].cpu_us / 1e6 /
				       (ph[i].seconds + WARMUP_US / 1e6),
			       (long long)(ph[i].cpu_us / ph[i].sent), ph[i].cpu_note);
	report_errors(ph, n);
	report_target(kind_name[ELIGIBILITY], &ph[PH_DOOR].s[ELIGIBILITY], TARGET_ELIG);
	report_target(kind_name[QUOTE], &ph[PH_DOOR].s[QUOTE], TARGET_QUOTE);
}

/* ---- the phases -------------------------------------------------------------------------------- */

static int run_phase(struct run *r, struct phase *ph, int pingpong)
{
	int64_t cpu = process_cpu_us();
	int status;

	r->ph = ph;
	r->outstanding = 0;
	if (pingpong) {
		status = r->o->pingpong > 0 ? ping_pong(r, r->o->pingpong) : OK;
		ph->sent = r->o->pingpong;
	} else {
		status = open_loop(r);
		ph->sent = r->next;
	}
	ph->cpu_us = process_cpu_us() - cpu;
	return status;
}

/* The echo's messages: the sizes the front door's requests and replies had. */
static void echo_sizes(struct material *m, const struct phase *door, const char *session)
{
	for (int k = 0; k < KINDS; k++) {
		const struct series *s = &door->s[k];
		size_t req = request_size((enum kind)k, session, m);

		m->request_bytes[k] = req < ECHO_HEADER ? ECHO_HEADER : req;
		m->reply_bytes[k] = s->n > 0 ? (size_t)(s->reply_bytes / s->n) : req;
		if (m->reply_bytes[k] < ECHO_HEADER)
			m->reply_bytes[k] = ECHO_HEADER;
	}
	m->echo_frame = xcalloc(1, TCP_FRAME_MAX);
	m->echo_body = m->echo_frame + 4;
	for (size_t i = 0; i < ECHO_MAX; i++)
		m->echo_body[i] = (uint8_t)(i * 131 + 7);
	printf("message sizes: ELIGIBILITY request %zu B, reply %zu B; QUOTE request %zu B, "
	       "reply %zu B\n",
	       m->request_bytes[ELIGIBILITY], m->reply_bytes[ELIGIBILITY], m->request_bytes[QUOTE],
	       m->reply_bytes[QUOTE]);
}

static int door_phases(void *ctx, struct run *r, const struct tp_keys *keys, struct phase *ph)
{
	struct fleet f = {0};
	int status = ERR;

	if (fleet_open(ctx, r->o->endpoint, r->o->server_key, keys, r->o->clients, &f) != OK ||
	    open_sessions(&f) != OK)
		goto out;
	r->path = &door_path;
	r->f = &f;
	if (run_phase(r, &ph[PH_DOOR], 0) != OK || run_phase(r, &ph[PH_DOOR_ONE], 1) != OK)
		goto out;
	echo_sizes(r->m, &ph[PH_DOOR], tp_client_session(f.c[0].tp));
	status = OK;
out:
	fleet_close(&f);
	return status;
}

static int echo_phases(void *ctx, struct run *r, const struct tp_keys *keys, struct phase *ph)
{
	struct echo e = {0};
	struct fleet f = {0};
	int status = ERR;

	if (echo_start(&e, r->o->echo_endpoint) != OK ||
	    fleet_open(ctx, r->o->echo_endpoint, e.public_key, keys, r->o->clients, &f) != OK)
		goto out;
	r->path = &echo_path;
	r->f = &f;
	if (run_phase(r, &ph[PH_ZMQ], 0) == OK && run_phase(r, &ph[PH_ZMQ_ONE], 1) == OK)
		status = OK;
out:
	fleet_close(&f);
	echo_stop(&e);
	return status;
}

static int tcp_phases(struct run *r, struct phase *ph)
{
	struct tcp_echo e = {.listen_fd = -1, .epoll_fd = -1};
	struct fleet f = {0};
	int status = ERR;

	if (tcp_echo_start(&e) != OK || tcp_fleet_open(e.port, r->o->clients, &f) != OK)
		goto out;
	r->path = &tcp_path;
	r->f = &f;
	if (run_phase(r, &ph[PH_TCP], 0) == OK && run_phase(r, &ph[PH_TCP_ONE], 1) == OK)
		status = OK;
out:
	fleet_close(&f);
	tcp_echo_stop(&e);
	return status;
}

/* ---- main ---------------------------------------------------------------------------------------- */

/* -1 after --help (exit 0), 2 on bad usage. */
static int usage(const char *arg)
{
	printf("Usage: bench_tp [--clients N] [--rate R] [--seconds S] [--mix Q] [--members M]\n"
	       "                [--pingpong K] [--endpoint E] [--echo-endpoint E]\n\n"
	       "Latency of ELIGIBILITY and QUOTE through the running front door (tpgate) for\n"
	       "N professionals sending R requests/s in all (a fraction Q of QUOTEs) during\n"
	       "S seconds after 1 s of warm-up, then of a raw ZeroMQ echo with the same\n"
	       "frames, CURVE and sizes, then of a plain TCP echo with the same sizes\n"
	       "(loopback, a free port); then K requests one at a time to each.\n"
	       "  --clients 50 --rate 5000 --seconds 10 --mix 0.5 --members 1000 --pingpong 2000\n"
	       "  --echo-endpoint %s\n"
	       "  CLAIMS_TP_SERVER_KEY  the front door's public key (required)\n"
	       "  CLAIMS_TP_ENDPOINT    [%s]\n"
	       "  CLAIMS_PG_DSN         [postgresql://claims@127.0.0.1:55432/claims]\n",
	       DEFAULT_ECHO, DEFAULT_FRONT);
	return strcmp(arg, "--help") == 0 ? -1 : 2;
}

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : fallback;
}

static int parse(int argc, char **argv, struct options *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (v != NULL && strcmp(a, "--clients") == 0)
			o->clients = strtol(v, NULL, 10);
		else if (v != NULL && strcmp(a, "--rate") == 0)
			o->rate = strtol(v, NULL, 10);
		else if (v != NULL && strcmp(a, "--seconds") == 0)
			o->seconds = strtol(v, NULL, 10);
		else if (v != NULL && strcmp(a, "--members") == 0)
			o->members = strtol(v, NULL, 10);
		else if (v != NULL && strcmp(a, "--pingpong") == 0)
			o->pingpong = strtol(v, NULL, 10);
		else if (v != NULL && strcmp(a, "--mix") == 0)
			o->mix = strtod(v, NULL);
		else if (v != NULL && strcmp(a, "--endpoint") == 0)
			o->endpoint = v;
		else if (v != NULL && strcmp(a, "--echo-endpoint") == 0)
			o->echo_endpoint = v;
		else
			return usage(a);
		i++;
	}
	if (o->clients < 1 || o->clients > 9999 || o->rate < 1 || o->seconds < 1 ||
	    o->members < 1 || o->pingpong < 0 || o->mix < 0 || o->mix > 1)
		return usage("");
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = {50, 5000, 10, 1000, 2000, 0.5, NULL, DEFAULT_ECHO, NULL, NULL};
	struct phase ph[PHASES] = {
		[PH_DOOR] = {.label = "front door", .loaded = 1, .cpu_note = "its clients"},
		[PH_ZMQ] = {.label = "raw ZeroMQ echo",
			    .loaded = 1,
			    .cpu_note = "its clients and the echo's server"},
		[PH_TCP] = {.label = "raw TCP echo",
			    .loaded = 1,
			    .cpu_note = "its clients and the echo's server"},
		[PH_DOOR_ONE] = {.label = "front door, one at a time"},
		[PH_ZMQ_ONE] = {.label = "raw ZeroMQ echo, one at a time"},
		[PH_TCP_ONE] = {.label = "raw TCP echo, one at a time"}};
	struct material m = {0};
	struct tp_keys *keys;
	struct run r = {0};
	void *ctx;
	int status = 1, rc;

	o.endpoint = env_or("CLAIMS_TP_ENDPOINT", DEFAULT_FRONT);
	if ((rc = parse(argc, argv, &o)) != 0)
		return rc < 0 ? 0 : rc; /* --help, or bad usage */
	if (log_init("bench_tp") != OK)
		return 2;
	/* Wake up when asked: the default slack (50 us) would delay every
	 * send and count against the front door. */
	if (prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL) != 0)
		log_warn("timer slack left as it was: %s", strerror(errno));
	o.dsn = env_or("CLAIMS_PG_DSN", "postgresql://claims@127.0.0.1:55432/claims");
	o.server_key = getenv("CLAIMS_TP_SERVER_KEY");
	if (o.server_key == NULL || strlen(o.server_key) != TP_KEY_LEN - 1) {
		log_error("CLAIMS_TP_SERVER_KEY must hold the front door's public key");
		return 1;
	}
	keys = xcalloc((size_t)o.clients, sizeof(*keys));
	if (setup(&o, &m, keys) != OK) {
		free(keys);
		return 1;
	}
	printf("bench_tp: %ld clients, %ld requests/s (%.0f %% QUOTE), %ld s measured after 1 s "
	       "of warm-up, %ld members; front door %s, echo %s\n",
	       o.clients, o.rate, o.mix * 100, o.seconds, m.n_members, o.endpoint, o.echo_endpoint);
	fflush(stdout);
	r.o = &o;
	r.m = &m;
	ctx = zmq_ctx_new();
	if (ctx == NULL) {
		log_error("zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
	} else if (door_phases(ctx, &r, keys, ph) == OK && echo_phases(ctx, &r, keys, ph) == OK &&
		   tcp_phases(&r, ph) == OK) {
		report(ph, PHASES);
		status = 0;
	}
	if (ctx != NULL && zmq_ctx_term(ctx) != 0)
		log_warn("zmq_ctx_term: %s", zmq_strerror(zmq_errno()));
	for (int i = 0; i < PHASES; i++)
		phase_free(&ph[i]);
	for (long i = 0; i < m.n_members; i++)
		free(m.members[i]);
	free(m.members);
	free(m.echo_frame);
	free(keys);
	return status;
}
