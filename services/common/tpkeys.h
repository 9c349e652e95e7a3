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
 *	tp:rights:NUMBER        the member's RightsSnapshot (protobuf)
 */
#ifndef COMMON_TPKEYS_H
#define COMMON_TPKEYS_H

#define TP_KEY_SESSION	       "tp:{%lld}:session:%s"
#define TP_KEY_SESSION_PATTERN "tp:{%lld}:session:*"
#define TP_KEY_SEEN	       "tp:{%lld}:seen:%s"
#define TP_KEY_RATE	       "tp:{%lld}:rate:%lld"
#define TP_KEY_RIGHTS	       "tp:rights:%s"

#endif
