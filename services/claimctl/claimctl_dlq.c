/*
 * NAME
 *	claimctl_dlq.c - claimctl dlq: inspect and replay dead letters
 *
 * SYNOPSIS
 *	claimctl dlq list [--topic T.dlq]
 *	claimctl dlq replay [--topic T.dlq]
 *
 * DESCRIPTION
 *	Dead letters (Envelope(DEAD_LETTER) on <topic>.dlq) keep the original
 *	bytes and the reason they were refused. `list` prints them all from
 *	the start of the topic (default claims.submitted.dlq). `replay`
 *	publishes each original message again, unchanged, to the topic it
 *	came from, once the cause is fixed (not one too large to have been
 *	kept whole: only its beginning is there); it reads with the consumer group
 *	"claimctl-dlq-replay", so a dead letter is replayed once even if the
 *	command runs again. Replaying is safe: the consumers are idempotent.
 *	A record that is not a dead letter, or names no source topic (or a
 *	.dlq one), is skipped; its offset is stored all the same, so it is
 *	never retried. Offsets are stored once the copies are flushed: a
 *	letter is published at least once.
 *
 *	Both stop at the end of the topic as it was when they started: a
 *	replayed message that fails again comes back to the dead-letter
 *	topic as a new dead letter (a new offset, a new id), which the next
 *	replay publishes again rather than this one loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "claimctl/claimctl.h"
#include "common/envelope.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/util.h"

/* Joining a new group takes the broker's group.initial.rebalance.delay.ms
 * (3 s by default); once the partitions are assigned, the messages up to
 * the end offsets taken at the start are all there to read. */
#define ASSIGN_TIMEOUT_US (30 * 1000000LL)
#define IDLE_ROUNDS	  50 /* 5 s without a message once assigned: stuck */

static void print_letter(const Claims__DeadLetter *d)
{
	char when[32];
	time_t t = (time_t)(d->failed_at_us / 1000000);
	struct tm tm;
	/* Whatever bytes the key holds, never raw on the terminal; nor the
	 * texts, which may quote a sender's (an external id in a reason):
	 * a newline would forge a letter, an escape drive the terminal. */
	char *key = key_text(d->has_key ? d->key.data : NULL, d->has_key ? d->key.len : 0);
	char *topic = text_printable(d->topic ? d->topic : "?");
	char *consumer = text_printable(d->consumer ? d->consumer : "?");
	char *error = text_printable(d->error);

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%s %s[%d]@%lld key=%s by %s: %s (%zu bytes)\n", when, topic, (int)d->partition,
	       (long long)d->offset, key, consumer, error, d->value.len);
	free(key);
	free(topic);
	free(consumer);
	free(error);
}

/* *sent: 1 when the original was handed to the producer, 0 when skipped
 * or refused. */
static int replay_letter(struct kafka_producer *p, const Claims__DeadLetter *d, int *sent)
{
	*sent = 0;
	if (d->topic == NULL || strstr(d->topic, ".dlq") != NULL) {
		fprintf(stderr, "claimctl dlq: dead letter without a source topic, skipped\n");
		return OK;
	}
	/* Only its beginning was kept: sent again, it would be another
	 * message, and refused again. */
	if (d->has_original_size && d->original_size > (int64_t)d->value.len) {
		fprintf(stderr,
			"claimctl dlq: %s [%d] @%lld kept %zu of its %lld bytes: not replayed\n",
			d->topic, (int)d->partition, (long long)d->offset, d->value.len,
			(long long)d->original_size);
		return OK;
	}
	if (kafka_produce(p, d->topic, d->key.data, d->key.len, d->value.data, d->value.len) != OK)
		return ERR;
	*sent = 1;
	return OK;
}

/* Keep the messages before the end offsets taken at the start; *all_seen
 * tells when every partition has reached its end (n 0: only that). */
static int before_end(rd_kafka_message_t **batch, int n, const int64_t *ends, int count,
		      int64_t *next, int *all_seen)
{
	int kept = 0;

	for (int i = 0; i < n; i++) {
		int p = batch[i]->partition;

		if (p < count && batch[i]->offset < ends[p]) {
			next[p] = batch[i]->offset + 1;
			batch[kept++] = batch[i];
		} else {
			rd_kafka_message_destroy(batch[i]);
		}
	}
	*all_seen = 1;
	for (int p = 0; p < count; p++)
		if (next[p] < ends[p])
			*all_seen = 0;
	return kept;
}

static int handle_letters(rd_kafka_message_t **batch, int n, struct kafka_producer *replay,
			  int *count)
{
	int status = OK;

	for (int i = 0; i < n && status == OK; i++) {
		struct envelope env;
		Claims__DeadLetter *d = NULL;
		char why[160];

		if (envelope_unpack(batch[i]->payload, batch[i]->len, &env, why, sizeof(why)) ==
			    OK &&
		    env.type == CLAIMS__MESSAGE_TYPE__DEAD_LETTER)
			d = claims__dead_letter__unpack(NULL, env.payload_len, env.payload);
		if (d == NULL) {
			printf("(not a dead letter at offset %lld)\n", (long long)batch[i]->offset);
		} else {
			int sent = 1;

			print_letter(d);
			if (replay != NULL)
				status = replay_letter(replay, d, &sent);
			claims__dead_letter__free_unpacked(d, NULL);
			*count += sent;
		}
		envelope_free(&env);
	}
	if (status == OK && replay != NULL)
		status = kafka_producer_flush(replay, 30000);
	return status;
}

static int walk(const char *topic, const char *group, struct kafka_producer *replay, int *count)
{
	const char *brokers = getenv("CLAIMS_KAFKA_BROKERS");
	const char *topics[1] = {topic};
	struct kafka_consumer *c;
	rd_kafka_message_t *batch[256];
	int64_t *ends = NULL, *next = NULL, start = clock_mono_us();
	int idle = 0, status = OK, partitions = 0, all_seen = 0;

	if (kafka_consumer_open(brokers ? brokers : "127.0.0.1:59092", group, topics, 1, &c) != OK)
		return ERR;
	/* Where the group starts: a partition with nothing new since the
	 * last replay is done before a message is read. */
	if (kafka_consumer_range(c, topic, &next, &ends, &partitions) != OK) {
		kafka_consumer_close(c);
		return ERR;
	}
	before_end(batch, 0, ends, partitions, next, &all_seen);
	while (!all_seen && status == OK) {
		int n;

		if (kafka_consumer_poll_batch(c, batch, 256, 100, &n) != OK) {
			status = ERR;
			break;
		}
		if (!kafka_consumer_assigned(c)) {
			if (clock_mono_us() - start > ASSIGN_TIMEOUT_US) {
				fprintf(stderr,
					"claimctl dlq: no partition of %s assigned in 30 s\n",
					topic);
				status = ERR;
			}
			kafka_batch_destroy(batch, n);
			continue;
		}
		idle = n == 0 ? idle + 1 : 0;
		n = before_end(batch, n, ends, partitions, next, &all_seen);
		status = handle_letters(batch, n, replay, count);
		/* Offsets move only once the replayed copies are acknowledged;
		 * a listing moves none (its group leaves nothing behind). */
		if (status == OK && replay != NULL && kafka_consumer_store(c, batch, n) != OK)
			status = ERR;
		kafka_batch_destroy(batch, n);
		if (!all_seen && idle >= IDLE_ROUNDS) {
			fprintf(stderr, "claimctl dlq: %s stopped short of its end\n", topic);
			status = ERR;
		}
	}
	if (status == OK && replay != NULL && kafka_consumer_commit(c, 0) != OK)
		status = ERR;
	free(next);
	free(ends);
	kafka_consumer_close(c);
	return status;
}

int cmd_dlq(int argc, char **argv)
{
	const char *topic = "claims.submitted.dlq", *brokers = getenv("CLAIMS_KAFKA_BROKERS");
	struct kafka_producer *p = NULL;
	char group[64], id[UUID_STR_LEN];
	int replay, count = 0, status;

	int help = claimctl_wants_help(argc, argv);

	if (argc < 2 || help || (strcmp(argv[1], "list") != 0 && strcmp(argv[1], "replay") != 0)) {

		fprintf(help ? stdout : stderr,
			"Usage: claimctl dlq list|replay [--topic TOPIC.dlq]\n\n"
			"list: print every dead letter (time, origin, consumer, reason).\n"
			"replay: publish each original message again to its topic, once.\n"
			"  CLAIMS_KAFKA_BROKERS  [127.0.0.1:59092]\n");
		return help ? 0 : EXIT_USAGE;
	}
	if (argc == 4 && strcmp(argv[2], "--topic") == 0)
		topic = argv[3];
	else if (argc == 3 && strncmp(argv[2], "--topic=", 8) == 0)
		topic = argv[2] + 8;
	else if (argc != 2) {
		fprintf(stderr, "Usage: claimctl dlq list|replay [--topic TOPIC.dlq]\n");
		return EXIT_USAGE;
	}
	/* A live topic read as dead letters would store this command's
	 * offsets in it, each message "not a dead letter", and say 0. */
	if (strlen(topic) < 5 || strcmp(topic + strlen(topic) - 4, ".dlq") != 0) {
		fprintf(stderr, "claimctl dlq: %s is not a dead-letter topic (TOPIC.dlq)\n", topic);
		return EXIT_USAGE;
	}
	replay = strcmp(argv[1], "replay") == 0;
	if (replay) {
		snprintf(group, sizeof(group), "claimctl-dlq-replay");
		if (kafka_producer_open(brokers ? brokers : "127.0.0.1:59092", "claimctl", &p) !=
		    OK)
			return 1;
	} else {
		uuid_v7(id);
		snprintf(group, sizeof(group), "claimctl-dlq-list-%.8s", id + 28);
	}
	status = walk(topic, group, p, &count);
	kafka_producer_close(p);
	/* The count first, as scripts read it; a failure is said as such. */
	if (status == OK)
		printf("%d dead letter%s%s\n", count, count == 1 ? "" : "s",
		       replay ? " replayed" : "");
	else if (replay)
		printf("%d dead letter%s sent, then the replay failed: the next replay resumes"
		       " after the last batch acknowledged\n",
		       count, count == 1 ? "" : "s");
	else
		printf("%d dead letter%s listed, then the listing failed\n", count,
		       count == 1 ? "" : "s");
	return status == OK ? 0 : 1;
}
