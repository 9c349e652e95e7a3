/*
 * NAME
 *	intake.h - internals of the intake daemon
 *
 * DESCRIPTION
 *	intake.c       main, configuration table, the loop's callbacks
 *	intake_decode.c a submission decoded within a memory budget (no I/O)
 *	intake_check.c validation of a submission (no I/O)
 *	intake_store.c beneficiary lookup, claim and rejection writes, the
 *	               events, the first answer to a repeated submission
 *	intake_socket.c the synchronous ZeroMQ ROUTER front door
 */
#ifndef INTAKE_H
#define INTAKE_H

#include <stdint.h>

#include "common/envelope.h"
#include "common/pbbudget.h"
#include "common/pg.h"
#include "common/status.h"
#include "common/util.h"
#include "proto/claims.pb-c.h"

#define INTAKE_MAX_SOURCE      64 /* bytes; the key's parts, indexed together */
#define INTAKE_MAX_EXTERNAL_ID 128
#define INTAKE_MAX_LINES       99
#define INTAKE_MAX_LINE_CENTS  10000000LL /* 100 000 euros per line */
#define INTAKE_MAX_QUANTITY    999
/* Advisory lock class (two-key form) of a submission's key (source,
 * external id), held to the end of the transaction that answers it. */
#define INTAKE_KEY_LOCK_CLASS "7415005"
/* Its second key: the hash of the key, in SQL, of the text expressions
 * source and ext. */
#define INTAKE_KEY_HASH(source, ext) "hashtext(length(" source ") || ':' || " source " || " ext ")"

/* A text the sender gave: an empty one counts as absent (protocol.md),
 * in the checks, the records and the digest alike. */
static inline int intake_given(const char *text)
{
	return text != NULL && text[0] != '\0';
}

/* The answer to one submission, sent on the socket and kept for repeats. */
struct intake_outcome {
	int accepted;
	int duplicate;
	/* A duplicate whose content is not the first submission's (its key
	 * used again for something else): answered the first answer all
	 * the same, and said. */
	int content_differs;
	/* A refusal that may not last (QUOTE_UNKNOWN: a quote is stored a
	 * moment after its answer): answered, nothing recorded under the
	 * key, so that the same submission sent again is judged anew; from
	 * Kafka, the message is kept in the DLQ, to replay. */
	int unrecorded;
	char claim_id[UUID_STR_LEN];
	char reason_code[32];
	char field[64];
	char message[200];
};

/* What the database says about the beneficiary named by a submission. */
struct coverage {
	int found;
	int ambiguous; /* a birth date two persons share (twins), no rank */
	int64_t beneficiary_id, contract_id, person_id;
	char birth_date[DATE_STR_LEN];
	char exemptions[64]; /* PostgreSQL array text, e.g. {C2S} */
	int32_t from, until; /* days; until is exclusive, INT32_MAX if open */
	/* Suspended (unpaid dues): care on or after suspended_from is not
	 * covered; INT32_MIN for a suspension with no first day (made
	 * before suspensions were dated, or by hand): none of it is. */
	int suspended;
	int32_t suspended_from;
};

/* intake_decode.c */
/* The payload of an envelope decoded by envelope_unpack_budgeted(), a
 * ClaimSubmitted, within the same budget (ERR with why):
 * free it with claims__claim_submitted__free_unpacked(claim,
 * &budget->allocator). */
int intake_decode_claim(struct pb_budget *budget, const struct envelope *env,
			Claims__ClaimSubmitted **claim, char *why, size_t why_len) MUST_CHECK;
/* What a batch may hold decoded, by default, before the submissions
 * decoded so far are decided, in the same transaction, and freed
 * (intake.c, CLAIMS_INTAKE_BATCH_MIB, 1 to 128): with PB_DECODED_MAX a
 * message, a batch of any count holds some 33 MiB at most by default, in
 * a pod of 256 MiB (deploy/k8s/intake.yaml); raise both together. */
#define INTAKE_BATCH_DECODED_MIB "32"

/* intake_check.c */
struct rules_params;
/* The dated parameters the AMO amount check reads (PF, franchises);
 * NULL (the default): only an AMO amount above its share is refused. */
void intake_check_use_params(const struct rules_params *params);
/* A "tp:KIND:NUMBER" source that is not the claim's own professional's. */
int intake_tp_source_mismatch(const Claims__ClaimSubmitted *s);
int intake_check_static(const Claims__ClaimSubmitted *s, int32_t today,
			struct intake_outcome *out) MUST_CHECK;
int intake_check_coverage(const Claims__ClaimSubmitted *s, const struct coverage *cov,
			  struct intake_outcome *out) MUST_CHECK;
/* One line i of a submission, as intake_check_static() judges it, care
 * after `today` refused (INT32_MAX: none; a quote may be for care to
 * come). The tiers-payant front door judges a quote's lines with it, so
 * that a quote and the invoice that follows are judged alike. */
int intake_check_line(const Claims__ClaimLine *l, int i, int32_t today,
		      struct intake_outcome *out) MUST_CHECK;
void intake_reject(struct intake_outcome *out, const char *code, const char *field, const char *fmt,
		   ...) __attribute__((format(printf, 4, 5)));

/* Where a submission of a batch stands while the batch is decided. */
enum intake_state {
	PENDING,    /* checks so far passed */
	ANSWERED,   /* seen before: out holds the first answer */
	REPEAT,	    /* same key as an earlier item of the batch */
	REJECT,	    /* to record as a rejection */
	ACCEPT,	    /* to record as a claim */
	LOST,	    /* lost a race with an identical submission */
	UNRECORDED, /* refused for a reason that may pass: nothing written */
};

struct intake_item {
	const Claims__ClaimSubmitted *s;
	const char *trace_id;
	/* The envelope's: names the rejection of a submission without a key
	 * (source, external id), so that the same message delivered again
	 * leaves one rejection and one event. NULL: a new name each time. */
	const char *message_id;
	struct intake_outcome out;
	struct coverage cov;
	int64_t professional_ref; /* professionals.professional_id; 0 none, -1 several */
	enum intake_state state;
	int repeat_of;
	char row_id[UUID_STR_LEN]; /* claim or rejection id written */
	/* SHA-256 of the submission packed again, in hex: kept with its
	 * first answer, compared with a repeat's. first_digest: the first
	 * answer's ("" when it has none: written before digests were). */
	char digest[65], first_digest[65];
};

/* intake_store.c */
int intake_prepare(struct pg *db) MUST_CHECK;
/* Decide and record a batch of decoded submissions inside the caller's
 * transaction; each item's out holds its answer. */
int intake_submit_batch(struct pg *db, struct intake_item *items, int n) MUST_CHECK;
/* Count the outcomes tallied by intake_submit_batch() in the metrics:
 * called once their transaction committed (a batch rolled back and tried
 * again, or one by one, is counted once). Whoever opens the transaction
 * discards the tally first. */
void intake_count_committed(void);
/* Forget what a transaction that will not commit tallied. */
void intake_count_discard(void);
/* The same for one submission. */
int intake_submit(struct pg *db, const Claims__ClaimSubmitted *s, const char *trace_id,
		  const char *message_id, struct intake_outcome *out) MUST_CHECK;

/* intake_socket.c */
struct intake_socket;
int intake_socket_open(const char *endpoint, struct intake_socket **out) MUST_CHECK;
/* Serve the requests waiting on the socket (at most max); wait up to
 * timeout_ms for the first. Each is answered after its commit; with db
 * NULL (the database is away), each is answered UNAVAILABLE at once.
 * A request whose transaction fails is answered UNAVAILABLE and ends
 * the round (OK); ERR only when the socket itself fails. */
int intake_socket_serve(struct intake_socket *sock, struct pg *db, int max, int timeout_ms,
			int *served) MUST_CHECK;
void intake_socket_close(struct intake_socket *sock);

#endif
