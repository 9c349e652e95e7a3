/*
 * NAME
 *	reimburse.h - internals of the reimbursement daemon
 *
 * DESCRIPTION
 *	reimburse.c          main, configuration table, the loop's callbacks
 *	reimburse_formulas.c formula versions and their guarantees, parsed once
 *	                     and kept in memory (they are immutable once
 *	                     published; new versions are picked up on reload)
 *	reimburse_batch.c    a batch of claims: locks, histories, engine,
 *	                     then decisions, counters, payments and events in
 *	                     one statement; and a quote, computed the same way
 *	                     with nothing written
 *	reimburse_quote.c    the quote server thread (ZeroMQ ROUTER, tiers payant)
 */
#ifndef REIMBURSE_H
#define REIMBURSE_H

#include "common/envelope.h"
#include "common/pg.h"
#include <librdkafka/rdkafka.h>
#include "common/status.h"
#include "proto/claims.pb-c.h"
#include "rules/rules.h"

struct formula_version {
	char code[64];
	int version;
	rules_date_t from, to; /* to exclusive; 0 when open */
	struct rules_contract contract;
	/* A guarantee this release cannot read (a category it does not
	 * know, a spec the engine refuses): kept for its dates, never
	 * used; the care it is in force for is left undecided. */
	int refused;
};

struct formula_cache {
	struct formula_version *v;
	int count;
	int refused; /* versions refused */
	int64_t loaded_at_us;
};

/* NOTIFY channel of any change to formulas, versions or guarantees
 * (deploy/sql/015_formulas_notify.sql): the versions are read again. */
#define FORMULAS_CHANNEL "formulas_changed"

int formulas_load(struct pg *db, struct formula_cache *cache) MUST_CHECK;
/* The version of `code` in force on `date`, or NULL; NULL too when that
 * version was refused (formulas_at() tells them apart). */
const struct formula_version *formulas_find(const struct formula_cache *cache, const char *code,
					    rules_date_t date);
/* The version of `code` in force on `date`, refused or not, or NULL. */
const struct formula_version *formulas_at(const struct formula_cache *cache, const char *code,
					  rules_date_t date);
/* 1 when a version of `code` for `date` may have been published since the
 * load (an unknown formula, or a date after every version's end). */
int formulas_may_be_newer(const struct formula_cache *cache, const char *code, rules_date_t date);
void formulas_free(struct formula_cache *cache);

/* The first key of the advisory locks a batch takes per person (the
 * second is person_id & 2147483647; migration 025's trigger takes the
 * same): two-key locks never meet the one-key locks of the outbox relay
 * and of migrations. */
#define REIMBURSE_LOCK_CLASS "7415003"

#define REIMBURSE_OUTCOMES 3 /* complete, partial, error */

struct reimburse_ctx {
	const struct rules_params *params;
	struct formula_cache formulas;
	/* Outcomes of the transaction in flight, not yet in the metrics. */
	int uncounted[REIMBURSE_OUTCOMES];
	int uncounted_redelivered;
};

/* One message of a batch, decoded by the caller. */
struct reimburse_item {
	rd_kafka_message_t *msg;
	struct envelope env;
	Claims__ClaimAccepted *claim; /* NULL when the message did not decode */
	char poison[256];	      /* set: the message goes to the DLQ */
	int found, queued;	      /* the claim exists; it waits for its decision */
	int64_t person_id;	      /* whose history: the beneficiary's person (migration 023) */
	/* Read with the claim's lock (lock_claims), recorded set: the days the
	 * contract covers now (days since 1970-01-01; covered_to exclusive;
	 * care outside is not decided), and the beneficiary's birth date and
	 * exemptions as recorded now. Unset (quotes, whose front door checks
	 * rights, and tests): no limit, and the message's beneficiary. */
	int recorded;
	int32_t covered_from, covered_to, suspended_from;
	char birth_date[16], exemptions[64];
	char formula_code[64];
};

int reimburse_prepare(struct pg *db) MUST_CHECK;
/* Decide the batch's claims inside the caller's transaction; claims
 * decided already are left alone (redelivery). ERR is a database
 * failure; items that can never be decided come back with `poison` set,
 * for the caller to dead-letter in the same transaction. */
/* Adds the outcomes of the last reimburse_batch() to the metrics: call
 * once its transaction has committed. */
void reimburse_count_committed(struct reimburse_ctx *ctx);
int reimburse_batch(struct reimburse_ctx *ctx, struct pg *db, struct reimburse_item *items,
		    int n) MUST_CHECK;

struct reimburse_totals {
	int64_t charged, amo_paid, amc, rac;
};

/* One quote: the decision the claim would get now, without consuming
 * counters or writing anything, packed as the professional's QuoteReply. */
struct reimburse_quote {
	const Claims__ClaimAccepted *claim; /* birth date valid, lines present */
	const char *formula_code;
	const char *trace_id;
	const char *request_id;	 /* the professional's, echoed in the reply */
	const char *valid_until; /* YYYY-MM-DD */
	uint8_t *reply;		 /* out: the packed Envelope(QUOTE_REPLY), malloc'ed */
	size_t reply_len;
	struct reimburse_totals totals; /* out */
};

/* Compute n quotes with one read of their beneficiaries' counters. ERR:
 * database (no reply set). */
int reimburse_quote_batch(struct reimburse_ctx *ctx, struct pg *db, struct reimburse_quote *q,
			  int n) MUST_CHECK;

/*
 * One claim, or one quote, as a batch computes it once its queries are
 * done: for a beneficiary without counters, nothing read or written.
 * The tests' way into the batch's code, which decides every claim and
 * quote with the same functions.
 *
 * reimburse_decide_one(): the checks reimburse_batch() makes before any
 * query, the lines in the engine's terms, the engine on the versions of
 * ctx->formulas of item->formula_code (the contract's formula, which a
 * batch reads with the claim's lock). A claim that can never be decided
 * comes back with item->poison set (a batch dead-letters it) and no
 * event; any other with *event, the Envelope(REIMBURSEMENT_COMPUTED) a
 * batch puts in the outbox (malloc'ed), whatever its outcome. ERR: the
 * event could not be packed.
 *
 * reimburse_quote_one(): reimburse_quote_batch() for one quote whose
 * claim is well formed (birth date valid, lines present); q->reply
 * stays NULL when it cannot be computed.
 */
int reimburse_decide_one(struct reimburse_ctx *ctx, struct reimburse_item *item, uint8_t **event,
			 size_t *event_len) MUST_CHECK;
void reimburse_quote_one(struct reimburse_ctx *ctx, struct reimburse_quote *q);

/* reimburse_quote.c: the thread serving quotes to the tiers-payant front
 * door over ZeroMQ, with its own connection and formula cache. */
struct quote_server;
int quote_server_start(const char *dsn, const char *endpoints, const struct rules_params *params,
		       long reload_seconds, struct quote_server **out) MUST_CHECK;
void quote_server_stop(struct quote_server *q);
/* The statement the quote thread adds to reimburse_prepare()'s (--plans). */
int quote_prepare(struct pg *db) MUST_CHECK;

#endif
