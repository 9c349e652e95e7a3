/*
 * NAME
 *	test_kafka_envelope.c - a protobuf envelope through the real broker
 *
 * DESCRIPTION
 *	Produces a ClaimSubmitted in its envelope with the idempotent
 *	producer, consumes it back with the batch consumer in a fresh group,
 *	and checks that every field survived. Also checks that the consumer
 *	group machinery assigns the topic's 12 partitions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/envelope.h"
#include "common/kafka.h"
#include "common/log.h"
#include "itest.h"
#include "proto/claims.pb-c.h"
#include "test.h"

#define TOPIC "contracts.changed"

static int find_message(struct kafka_consumer *c, const char *want_id, int *partitions)
{
	rd_kafka_message_t *batch[64];

	for (int round = 0; round < 200; round++) { /* at most ~20 s */
		int n;

		if (kafka_consumer_poll_batch(c, batch, 64, 100, &n) != OK)
			return ERR;
		*partitions = kafka_consumer_assigned(c);
		for (int i = 0; i < n; i++) {
			struct envelope env;
			char why[160];
			Claims__ClaimSubmitted *s;
			int found = 0;

			if (envelope_unpack(batch[i]->payload, batch[i]->len, &env, why,
					    sizeof(why)) != OK ||
			    strcmp(env.message_id, want_id) != 0) {
				envelope_free(&env);
				continue;
			}
			s = claims__claim_submitted__unpack(NULL, env.payload_len, env.payload);
			found = s != NULL && strcmp(s->external_id, "ROUNDTRIP-1") == 0 &&
				s->n_lines == 1 && s->lines[0]->charged_cents == 3000 &&
				env.type == CLAIMS__MESSAGE_TYPE__CLAIM_SUBMITTED &&
				strcmp(env.trace_id, "trace-roundtrip") == 0;
			if (s != NULL)
				claims__claim_submitted__free_unpacked(s, NULL);
			envelope_free(&env);
			if (found) {
				kafka_batch_destroy(batch, n);
				return OK;
			}
		}
		if (kafka_consumer_store(c, batch, n) != OK)
			return ERR;
		kafka_batch_destroy(batch, n);
	}
	return ERR;
}

static void test_envelope_through_broker(void)
{
	Claims__ClaimSubmitted claim = CLAIMS__CLAIM_SUBMITTED__INIT;
	Claims__ClaimLine line = CLAIMS__CLAIM_LINE__INIT, *lines[1] = {&line};
	const char *topics[1] = {TOPIC};
	struct kafka_producer *p;
	struct kafka_consumer *c;
	char id[UUID_STR_LEN], group[64];
	uint8_t *buf;
	size_t len;
	int partitions = 0;

	claim.external_id = "ROUNDTRIP-1";
	claim.membership_number = "1000000017";
	line.category = "CONSULT_GP";
	line.has_charged_cents = 1;
	line.charged_cents = 3000;
	claim.n_lines = 1;
	claim.lines = lines;
	REQUIRE(kafka_producer_open(itest_brokers(), "test", &p) == OK);
	REQUIRE(envelope_pack(CLAIMS__MESSAGE_TYPE__CLAIM_SUBMITTED, &claim.base, "trace-roundtrip",
			      "test", id, &buf, &len) == OK);
	CHECK(kafka_produce(p, TOPIC, "42", 2, buf, len) == OK);
	CHECK(kafka_producer_flush(p, 20000) == OK);
	free(buf);
	kafka_producer_close(p);

	snprintf(group, sizeof(group), "test-roundtrip-%s", id);
	REQUIRE(kafka_consumer_open(itest_brokers(), group, topics, 1, &c) == OK);
	CHECK(find_message(c, id, &partitions) == OK);
	CHECK_EQ_I64(partitions, 12);
	kafka_consumer_close(c);
}

int main(void)
{
	if (log_init("test_kafka_envelope") != OK)
		return 2;
	RUN(test_envelope_through_broker);
	return test_report();
}
