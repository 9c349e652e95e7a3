/*
 * NAME
 *	tpgate.h - internals of the tiers-payant front door
 *
 * DESCRIPTION
 *	tpgate.c             main, configuration, the loop, contracts.changed
 *	tpgate_front.c       the professionals' socket: read a batch of
 *	                     requests, admit them together, answer; replies
 *	                     of the workers behind, deadlines
 *	tpgate_requests.c    what each request type does
 *	tpgate_decode.c      a request decoded within a memory budget
 *	tpgate_zap.c         the ZAP handler thread: a CURVE key is let in
 *	                     only if PostgreSQL knows it, active, for a
 *	                     professional with a tiers-payant agreement
 *	tpgate_admit.c       sessions, replayed requests and the rate limit,
 *	                     atomically in Redis
 *	tpgate_eligibility.c whose rights are open on a day (no I/O)
 *	tpgate_rights.c      the members' rights, cached in Redis, read from
 *	                     PostgreSQL on a miss; formula domains in memory
 *	tpgate_backend.c     requests in flight to the reimbursement workers
 *	                     (QUOTE) and to intake (INVOICE)
 */
#ifndef TPGATE_H
#define TPGATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "common/envelope.h"
#include "common/pbbudget.h"
#include "common/pg.h"
#include "common/redis_conn.h"
#include "common/status.h"
#include "common/util.h"
#include "proto/envelope.pb-c.h"
#include "proto/tierspayant.pb-c.h"
#include "proto/tpinternal.pb-c.h"

#define TP_ZAP_DOMAIN	  "tierspayant"
#define TP_REQUEST_ID_MAX 64
#define TP_MAX_LINES	  99

/* Who sent a request. The ZAP handler sets the connection's User-Id to
 * "ref/kind/value/key" (professionals.professional_id, RPPS|ADELI|FINESS,
 * the number, the CURVE public key in Z85 that opened the connection);
 * every message of the connection carries it. The key is there so that
 * a connection opened with a key since replaced opens no session. */
struct tp_identity {
	int64_t ref;
	char kind[8];
	char value[32];
	char key[41];
};

/* Where a reply goes: the client's routing id, and whether it sent the
 * empty delimiter (REQ does, DEALER may). */
struct tp_route {
	uint8_t id[256];
	size_t id_len;
	int delimiter;
};

/* tpgate_zap.c */
struct tp_zap;
int tp_zap_start(void *zmq_ctx, const char *dsn, struct tp_zap **out) MUST_CHECK;
/* The handler's statement, as tp_zap_start() prepares it (--plans). */
int tp_zap_prepare(struct pg *db) MUST_CHECK;
void tp_zap_stop(struct tp_zap *zap);
/* 1 while the handler's database connection works (any thread). */
int tp_zap_db_up(struct tp_zap *zap);

/* The longest a query of the front door may take. It answers in
 * milliseconds; a query taking a second is an outage, better refused
 * (UNAVAILABLE, or 500 to a handshake) than left to stall every client
 * behind it on the one loop. A server that does not answer at all (a
 * network partition, a frozen host), which statement_timeout cannot see,
 * is given up within seconds (pg_open_serving), and the probes of the
 * loop and of the key checks never wait for a connection attempt
 * (pg_probe). */
#define TP_STATEMENT_TIMEOUT "1s"
/* After a query of the loop timed out, its next ones fail at once
 * (UNAVAILABLE) for this long: a server slow for every query (a lock
 * held by a migration, an overload) then holds the loop one second in
 * six, not one second for each request that needs it, while the
 * requests answered from Redis go on (pg_pause_after_timeout). */
#define TP_DB_PAUSE_MS 5000
/* Complements an INVOICE_STATUS reports after the invoice's own claim
 * (each is an operator's completion of the one before: a few at most). */
#define TP_STATUS_MAX_CHAIN 8
#define TP_STR(x)	    #x
#define TP_XSTR(x)	    TP_STR(x)

/* tpgate_decode.c */
/* The payload's message of a request type; NULL for another type. */
const ProtobufCMessageDescriptor *tp_payload_descriptor(Claims__MessageType type);
/* Its payload, within what is left of the same budget; NULL, with why,
 * when it does not decode (budget->exceeded: too large decoded) or a
 * text field of it holds a NUL byte (common/pbtext.h). Free it with
 * protobuf_c_message_free_unpacked(msg, &budget->allocator). */
ProtobufCMessage *tp_decode_payload(struct pb_budget *budget, const struct envelope *env, char *why,
				    size_t why_len);

/* tpgate_admit.c */
int tp_identity_parse(const char *user_id, struct tp_identity *out) MUST_CHECK;

struct tp_limits {
	long session_ttl_s;   /* idle time after which a session ends */
	long replay_window_s; /* how long a request id is remembered */
	long rate_limit;      /* requests per second per professional */
};

/* One request's admission, and the member's cached rights fetched in
 * the same round trip. */
struct tp_admission {
	const struct tp_identity *who;
	const char *session_token; /* NULL for SESSION_OPEN, which needs none */
	const char *request_id;
	const char *membership; /* whose cached rights to fetch, or NULL */
	int status;		/* OK, or ERR: Redis unavailable */
	const char *refusal;	/* NULL, or RATE_LIMITED, NO_SESSION, REPLAYED_REQUEST */
	redisReply *rights;	/* the cached snapshot's bytes, NULL on a miss */
	int undecided;		/* (tp_admit_batch) the script has not run for it yet */
};

/* Admission of n requests in one Redis round trip (pipelined). */
void tp_admit_batch(struct redis_conn *redis, const struct tp_limits *limits,
		    struct tp_admission *a, int n);
void tp_admission_free(struct tp_admission *a);
/* Ends one session (a session open that was refused after it was set). */
int tp_session_end(struct redis_conn *redis, const struct tp_identity *who,
		   const char token[65]) MUST_CHECK;
int tp_session_create(struct redis_conn *redis, const struct tp_limits *limits,
		      const struct tp_identity *who, char token[65],
		      int64_t *expires_at_us) MUST_CHECK;

/* tpgate_eligibility.c */
struct tp_rights {
	int open;
	const char *reason; /* NULL when open */
	const Claims__RightsContract *contract;
	const Claims__RightsBeneficiary *beneficiary;
	int has_validity;	      /* valid_from and valid_to hold a period */
	int32_t valid_from, valid_to; /* inclusive days; 0 without validity */
};

void tp_rights_evaluate(const Claims__RightsSnapshot *snapshot, const Claims__BeneficiaryRef *ref,
			int32_t day, struct tp_rights *out);

/* tpgate_rights.c */
struct tp_rights_store;
int tp_rights_open(struct pg *db, struct redis_conn *redis, long ttl_s,
		   struct tp_rights_store **out) MUST_CHECK;
void tp_rights_close(struct tp_rights_store *store);
/* The store's statements, as tp_rights_open() prepares them (--plans). */
int tp_rights_prepare(struct pg *db) MUST_CHECK;
/* The member's snapshot (no contract: unknown member); free it with
 * claims__rights_snapshot__free_unpacked(). cached is what Redis held
 * (fetched with the admission), NULL on a miss: then PostgreSQL is read
 * and the cache filled. */
int tp_rights_get(struct tp_rights_store *store, const char *membership_number,
		  const redisReply *cached, Claims__RightsSnapshot **out) MUST_CHECK;
/* Reload the formulas' covered categories (domains) if older than max_age_s. */
int tp_catalog_refresh(struct tp_rights_store *store, long max_age_s) MUST_CHECK;
/* The categories the formula covers on day; returns how many (<= max). */
size_t tp_catalog_domains(const struct tp_rights_store *store, const char *formula_code,
			  int32_t day, const char **out, size_t max);

/* tpgate_backend.c: a request waiting for a worker's or intake's reply. */
struct tp_pending {
	int used;
	uint32_t generation;
	Claims__MessageType kind; /* QUOTE_REQUEST or INVOICE_REQUEST */
	int64_t owner;		  /* the professional's ref (tp_identity.ref) */
	struct tp_route route;
	char request_id[TP_REQUEST_ID_MAX + 1];
	char trace_id[TP_REQUEST_ID_MAX + 1];
	char quote_id[UUID_STR_LEN];
	char valid_until[DATE_STR_LEN];
	int64_t started_us, deadline_us;
	int64_t received_us; /* when the front door read the request */
};

struct tp_backends;
int tp_backends_open(void *zmq_ctx, const char *quote_endpoint, const char *intake_endpoint,
		     int capacity, struct tp_backends **out) MUST_CHECK;
void tp_backends_close(struct tp_backends *b);
void *tp_backends_quote_socket(struct tp_backends *b);
void *tp_backends_intake_socket(struct tp_backends *b);
int tp_backends_in_flight(const struct tp_backends *b);
/* A free slot to fill for professional `owner`, or NULL when too many
 * requests are in flight: per_owner of the owner's (*owner_full set), or
 * as many as the table holds. */
struct tp_pending *tp_pending_new(struct tp_backends *b, Claims__MessageType kind,
				  int64_t timeout_ms, int64_t owner, int per_owner,
				  int *owner_full);
void tp_pending_release(struct tp_backends *b, struct tp_pending *p);
/* Send the envelope to the backend of the slot's kind, tagged with the
 * slot; ERR (slot released by the caller) when no backend can take it. */
int tp_pending_send(struct tp_backends *b, struct tp_pending *p, const uint8_t *envelope,
		    size_t len) MUST_CHECK;
/* One reply from a backend socket: its slot (still owned) and the
 * envelope bytes (valid until the next call); *slot NULL for a reply
 * dropped: its request expired, malformed frames, or a slot whose request
 * went out on the other socket. 0 when nothing was waiting. */
int tp_backend_recv(struct tp_backends *b, void *sock, struct tp_pending **slot,
		    const uint8_t **body, size_t *len);
/* The next slot whose deadline has passed, or NULL. */
struct tp_pending *tp_pending_expired(struct tp_backends *b, int64_t now_us);

/* ---- the daemon's state, shared by tpgate.c, tpgate_front.c and
 * tpgate_requests.c ---------------------------------------------------- */

#define TP_BATCH 64 /* requests read and admitted together */

struct kafka_consumer;
struct tp_zap;

struct tpgate {
	void *ctx, *front;
	struct tp_zap *zap;
	struct pg *db;
	struct redis_conn *redis;
	struct tp_rights_store *rights;
	struct tp_backends *backends;
	struct kafka_consumer *changes;
	int64_t changes_held_us; /* since when a change is held back (0: none) */
	long changes_wait_ms;	 /* between two polls of the changes: 200, more while held */
	struct tp_limits limits;
	long backend_timeout_ms, quote_days;
	int max_in_flight_per_pro;
	int64_t changes_at_us;
	struct request *batch; /* TP_BATCH requests being served */
	int64_t expiry_check_us;
	int64_t probe_us; /* last look at PostgreSQL and Redis: keeps /health true while idle */
	atomic_int db_up; /* for /health, read by the metrics thread */
};

/* One request being served. */
struct request {
	struct tp_route route;
	struct tp_identity who;
	struct pb_budget budget; /* env and msg are decoded within it, and freed through it */
	struct envelope env;
	char request_id[TP_REQUEST_ID_MAX + 1];
	const char *kind; /* metric label */
	int64_t received_us;
	const char *session_token; /* NULL for SESSION_OPEN */
	const char *membership;	   /* whose rights the request needs, or NULL */
	ProtobufCMessage *msg;	   /* the decoded payload, of the envelope's type */
	struct tp_admission *adm;  /* Redis's verdict, and the cached rights */
	int answered;		   /* refused while being read */
};

/* tpgate_front.c */
/* An envelope, already packed, to the client of route r. */
/* The front door's event counters, registered at 0 at start. */
void tp_front_metrics(void);
void tp_send(struct tpgate *g, const struct tp_route *r, const uint8_t *body, size_t len);
void tp_reply(struct tpgate *g, const struct tp_route *r, const char *trace_id,
	      Claims__MessageType type, const ProtobufCMessage *m);
/* 1 when code is an error code: capitals and '_', 1 to TP_ERROR_CODE_MAX. */
#define TP_ERROR_CODE_MAX 31
int tp_error_code_ok(const char *code);
void tp_reply_error(struct tpgate *g, const struct tp_route *r, const char *trace_id,
		    const char *request_id, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
void tp_observe(const char *kind, int64_t started_us);
/* Serve the requests waiting (at most TP_BATCH); returns how many. */
int tp_serve_batch(struct tpgate *g);
void tp_backend_replies(struct tpgate *g, void *sock);
void tp_expire(struct tpgate *g);

/* Answer the request being served with an ErrorReply. */
#define FAIL(rq, code, ...) \
	tp_reply_error(g, &(rq)->route, (rq)->env.trace_id, (rq)->request_id, code, __VA_ARGS__)

/* tpgate_requests.c */
int tp_text_ok(const char *s, size_t max);
void tp_dispatch(struct tpgate *g, struct request *rq);
void tp_invoice_done(struct tpgate *g, struct tp_pending *p, const struct envelope *env);

#endif
