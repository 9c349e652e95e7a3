/*
 * NAME
 *	notify_push.c - announce committed notifications on Redis
 *
 * DESCRIPTION
 *	The online account shows a member's reimbursements as they happen:
 *	its servers subscribe to the member's channel
 *	(member:<member_id>:notifications) and pass each message on to the
 *	member's open pages. The announcement is sent after the commit, so
 *	nothing is announced that was not recorded; it is Redis pub/sub, so
 *	a page not listening, a Redis away or a crash between the commit and
 *	the PUBLISH misses it: the record in PostgreSQL is the truth, which
 *	the account reads when a page opens. Announcements are pipelined:
 *	one round trip for a batch. They are sent from the worker's loop,
 *	after the commit and before the offsets are stored: a Redis that
 *	answers nothing costs each batch up to the connection's timeout
 *	(250 ms) for the connect and for each reply awaited, at most one
 *	connection attempt a second (common/redis_conn.c): notify slows,
 *	it does not stop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/redis_conn.h"
#include "common/xalloc.h"
#include "notify/notify.h"

void notify_pushes_take(struct notify_pushes *p, struct notify_item *items, int n)
{
	for (int i = 0; i < n; i++) {
		if (items[i].push == NULL)
			continue;
		if (p->count == p->size) {
			p->size = p->size > 0 ? p->size * 2 : 64;
			p->member_ids =
				xrealloc(p->member_ids, (size_t)p->size * sizeof(*p->member_ids));
			p->texts = xrealloc(p->texts, (size_t)p->size * sizeof(*p->texts));
		}
		p->member_ids[p->count] = items[i].member_id;
		p->texts[p->count++] = items[i].push;
		items[i].push = NULL;
	}
}

void notify_pushes_clear(struct notify_pushes *p)
{
	for (int i = 0; i < p->count; i++)
		free(p->texts[i]);
	p->count = 0;
}

int notify_push(struct redis_conn *redis, const struct notify_pushes *p, int *delivered)
{
	int queued = 0, status = OK;

	*delivered = 0;
	for (; queued < p->count; queued++) {
		char channel[64];
		const char *argv[3] = {"PUBLISH", channel, p->texts[queued]};
		size_t lengths[3];

		snprintf(channel, sizeof(channel), NOTIFY_CHANNEL_FORMAT,
			 (long long)p->member_ids[queued]);
		lengths[0] = 7;
		lengths[1] = strlen(channel);
		lengths[2] = strlen(p->texts[queued]);
		if (redis_append(redis, 3, argv, lengths) != OK) {
			status = ERR;
			break;
		}
	}
	for (int i = 0; i < queued; i++) {
		redisReply *reply;

		if (redis_next_reply(redis, &reply) != OK)
			return ERR; /* the connection broke: the rest are lost */
		if (reply->type == REDIS_REPLY_ERROR) {
			log_warn("PUBLISH refused: %s", reply->str);
			status = ERR;
		} else {
			(*delivered)++;
		}
		freeReplyObject(reply);
	}
	return status;
}
