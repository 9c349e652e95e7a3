/*
 * NAME
 *	notify.h - what the notify daemon's parts share: one event, read
 *	and turned into what a member is told
 *
 * DESCRIPTION
 *	notify_decode.c reads an event (no I/O: the fuzz target runs it);
 *	notify_store.c records the batch's notifications in one statement;
 *	notify_push.c announces the recorded ones on Redis after the commit.
 */
#ifndef NOTIFY_NOTIFY_H
#define NOTIFY_NOTIFY_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "common/pg.h"
#include "common/status.h"
#include "common/util.h"

/* Why an event tells the member nothing (counted, not an error). */
enum notify_skip {
	NOTIFY_SKIP_NONE = 0,
	NOTIFY_SKIP_PROFESSIONAL, /* a payment to a professional: the member paid nothing */
	NOTIFY_SKIP_TOO_OLD,	  /* older than CLAIMS_NOTIFY_MAX_AGE_HOURS */
	NOTIFY_SKIP_COUNT
};

struct notify_item {
	rd_kafka_message_t *msg;
	char poison[256];      /* set: the message goes to its topic's .dlq */
	enum notify_skip skip; /* set: nothing to record */
	const char *template;  /* what the member is told (docs/protocol.md) */
	char dedupe_key[64];   /* "event:" and the event's message id */
	char claim_id[UUID_STR_LEN];
	int64_t contract_id;
	char *params; /* JSON object, the event's part of the params */
	/* Set by notify_record() for a notification it wrote now. */
	char notification_id[UUID_STR_LEN];
	int64_t member_id;
	char *push; /* the JSON announced on Redis */
};

/* Read msg into it (already zeroed, it->msg set): template, keys and
 * params, or a poison reason, or a skip. now_us and max_age_us judge the
 * event's age (max_age_us 0: any age). Never fails: what cannot be read
 * is poison. */
void notify_decode(struct notify_item *it, int64_t now_us, int64_t max_age_us);
void notify_item_free(struct notify_item *it);

int notify_prepare(struct pg *db) MUST_CHECK;
/* Record the batch's notifications (items neither poison nor skipped)
 * in the caller's transaction; an item whose claim is unknown or of
 * another contract becomes poison. Items recorded now get their
 * notification id, member and push text; one recorded before (the same
 * event again) gets nothing. */
int notify_record(struct pg *db, struct notify_item *items, int n) MUST_CHECK;

/* The Redis channel of a member's notifications. */
#define NOTIFY_CHANNEL_FORMAT "member:%lld:notifications"

/* The announcements of a committed batch: member and JSON text. */
struct notify_pushes {
	int count, size;
	int64_t *member_ids;
	char **texts;
};

/* Take the recorded items' push texts (items keep none). */
void notify_pushes_take(struct notify_pushes *p, struct notify_item *items, int n);
void notify_pushes_clear(struct notify_pushes *p);

struct redis_conn;
/* PUBLISH each announcement on its member's channel, pipelined: OK when
 * the server took them all, and in *delivered how many it took. A Redis
 * away loses the announcements, not the notifications (they are in
 * PostgreSQL, which the account reads). */
int notify_push(struct redis_conn *redis, const struct notify_pushes *p, int *delivered) MUST_CHECK;

#endif
