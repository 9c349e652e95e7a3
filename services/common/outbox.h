/*
 * NAME
 *	outbox.h - transactional outbox: events written with the effects,
 *	published afterwards by a relay
 *
 * SYNOPSIS
 *	pg_begin(db);
 *	... write the claim ...
 *	outbox_add(db, "claims.accepted", contract_key, CLAIMS__MESSAGE_TYPE__CLAIM_ACCEPTED,
 *		   &accepted.base, trace_id, "intake");
 *	pg_commit(db);
 *
 *	struct outbox_relay *relay;
 *	outbox_relay_open(dsn, producer, 1000, &relay);
 *	struct outbox_pass pass;
 *	outbox_relay_run(relay, &pass);         // in the relay's thread
 *
 * DESCRIPTION
 *	A worker never produces to Kafka directly: it inserts the envelope
 *	into the outbox table in the same transaction as its effects, so
 *	an event exists if and only if its effects were committed.
 *
 *	The relay, on its own connection, takes the pending events in id
 *	order (their ids are in outbox_queue, put there by a trigger on
 *	outbox), produces them with the idempotent producer, waits for the
 *	broker's acknowledgements, and only then takes the acknowledged
 *	ones off the queue, in one transaction: an event is sent when it
 *	is in the outbox, not queued and not set aside. A crash between the
 *	acknowledgement and the commit publishes the events again:
 *	consumers dedupe on the envelope's message id and on their own
 *	unique keys.
 *
 *	One relay at a time publishes (a transaction-scoped advisory lock),
 *	so the order of the table is the order on each partition even with
 *	several replicas; the others skip their turn.
 *
 *	When a pass's wait is over, what the producer has not sent yet is
 *	withdrawn from its queue, its rows left queued; what is in flight
 *	is not (the broker may write it): the next pass produces nothing
 *	before it is answered, and takes off the queue those then
 *	acknowledged, instead of sending them again. So a broker that stops
 *	answering, however long, makes the relay send an event twice only
 *	when its request got no answer at all (timed out after
 *	message.timeout.ms, 30 s: written or not, nobody knows). (Each
 *	replica has its own producer: another replica's relay, taking the
 *	turn meanwhile, does not know of this one's messages in flight and
 *	may send them too.)
 *
 * DIAGNOSTICS
 *	OK or ERR after logging. A pass leaves pending the events the broker
 *	did not acknowledge within its wait (pass.undelivered, the run OK),
 *	or all of its events when the database failed or the producer is
 *	broken for good (ERR; those acknowledged are then sent again).
 */
#ifndef COMMON_OUTBOX_H
#define COMMON_OUTBOX_H

#include <protobuf-c/protobuf-c.h>

#include "common/kafka.h"
#include "common/pg.h"
#include "common/status.h"
#include "proto/envelope.pb-c.h"

/* Prepared statement used by outbox_add; call once per connection. */
int outbox_prepare(struct pg *db) MUST_CHECK;
int outbox_add(struct pg *db, const char *topic, const char *key, Claims__MessageType type,
	       const ProtobufCMessage *payload, const char *trace_id,
	       const char *producer) MUST_CHECK;
/* With a message id of the caller's: an event added twice under the same
 * id (uuid_from_name) exists once; *added (when not NULL) says whether
 * this call added it. */
int outbox_add_as(struct pg *db, const char *message_id, const char *topic, const char *key,
		  Claims__MessageType type, const ProtobufCMessage *payload, const char *trace_id,
		  const char *producer, int *added) MUST_CHECK;

struct outbox_relay;

int outbox_relay_open(const char *dsn, struct kafka_producer *producer, int batch,
		      struct outbox_relay **out) MUST_CHECK;
/* The relay's statements, as outbox_relay_open() prepares them (--plans). */
int outbox_relay_prepare(struct pg *db) MUST_CHECK;
/* What one pass of a relay did. */
struct outbox_pass {
	int fetched;	  /* queued ids read */
	int published;	  /* events produced and acknowledged, taken off the queue */
	int refused;	  /* events Kafka can never take, set aside */
	int dequeued;	  /* ids taken off the queue (the above, and stale ones) */
	int full;	  /* more may be waiting: a whole batch, or one to send again */
	int not_our_turn; /* another relay held the turn; nothing was tried */
	int undelivered;  /* some events not delivered, for a reason that may
			   * pass (or none tried: an earlier pass's messages
			   * still in flight): they stay queued, the others
			   * are off the queue, and the run still returns OK */
	int probed;	  /* events of keys left out (held) since they were
			   * not delivered were tried again; those still not
			   * delivered stay held, and the next pass goes on
			   * without them (no reason to back off) */
};

/* Publish one batch of pending events. ERR when the pass failed outright:
 * the database (rolled back, nothing of it marked), or a producer in a
 * fatal state (what it delivered before is marked). */
int outbox_relay_run(struct outbox_relay *relay, struct outbox_pass *pass) MUST_CHECK;
void outbox_relay_close(struct outbox_relay *relay);

#endif
