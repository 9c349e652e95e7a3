/*
 * NAME
 *	tpkeys.c - the one write others make to the front door's keys:
 *	dropping a member's cached rights (tpkeys.h says why it is a mark)
 */
#include "common/tpkeys.h"

#include <stdio.h>

#include "common/redis_conn.h"
#include "common/status.h"

int tp_rights_drop(struct redis_conn *redis, const char *membership_number)
{
	char key[128];
	redisReply *reply;

	snprintf(key, sizeof(key), TP_KEY_RIGHTS, membership_number);
	if (redis_command(redis, &reply, "SET %s %b EX %d", key, "", (size_t)0,
			  TP_RIGHTS_TOMBSTONE_S) != OK)
		return ERR;
	freeReplyObject(reply);
	return OK;
}
