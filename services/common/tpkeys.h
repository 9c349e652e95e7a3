/*
 * NAME
 *	tpkeys.h - the Redis keys of the tiers-payant front door
 *
 * DESCRIPTION
 *	Shared by the front door and by the operator commands that act on
 *	its state (revoking a key ends its sessions; changing a contract
 *	drops the member's cached rights). The professional's reference in
 *	braces is a Redis Cluster hash tag: the keys one admission check
 *	touches live in one slot, as a script requires.
 *
 *	tp:{REF}:session:TOKEN  the session (value: REF), TTL refreshed on use
 *	tp:{REF}:seen:REQID     a request id already served (replay guard)
 *	tp:{REF}:rate:SECOND    requests in that second (rate limit)
 *	tp:rights:NUMBER        the member's RightsSnapshot (protobuf), or
 *	                        empty for TP_RIGHTS_TOMBSTONE_S after a change
 *	tp:health               written by the health check where ROLE is
 *	                        denied (a replica refuses it), 10 s TTL
 *
 *	Dropping cached rights leaves an empty value for a few seconds
 *	rather than deleting the key, and a front door caches what it read
 *	with SET NX: one that read the old rights from PostgreSQL just
 *	before the change, and writes them just after, finds the key taken
 *	and leaves it. An empty value reads as a miss.
 */
#ifndef COMMON_TPKEYS_H
#define COMMON_TPKEYS_H

#include "common/status.h"

#define TP_KEY_SESSION	       "tp:{%lld}:session:%s"
#define TP_KEY_SESSION_PATTERN "tp:{%lld}:session:*"
#define TP_KEY_SEEN	       "tp:{%lld}:seen:%s"
#define TP_KEY_RATE	       "tp:{%lld}:rate:%lld"
#define TP_KEY_RIGHTS	       "tp:rights:%s"
#define TP_KEY_HEALTH	       "tp:health"
#define TP_RIGHTS_TOMBSTONE_S \
	5 /* longer than any read-then-cache of the front door (1 s queries) */

struct redis_conn;
/* Drop a member's cached rights the way every invalidator must: leave
 * the empty mark (above), never DEL. OK, or ERR after logging. */
int tp_rights_drop(struct redis_conn *redis, const char *membership_number) MUST_CHECK;

#endif
