/*
 * NAME
 *	probe_tp_load.c - one professional's load on the front door, in one
 *	session: a steady pace, or a burst
 *
 * SYNOPSIS
 *	probe_tp_load steady SECONDS    (run by test_tp_pg_outage.sh)
 *	probe_tp_load burst N           (run by test_tp_quote_replicas.sh)
 *
 * DESCRIPTION
 *	steady: opens a session, then sends an ELIGIBILITY for PROBE_MEMBER
 *	every 200 ms for SECONDS, each waiting up to 5 s for its answer. Prints
 *	"ready" once the first is answered (the rights are then in Redis),
 *	then one line per request: milliseconds since ready, the round trip
 *	in milliseconds, and the outcome ("open", "closed", an error code or
 *	"timeout"). The test judges the lines; the probe judges nothing.
 *
 *	burst: opens a session, sends N QUOTEs for PROBE_MEMBER (one GP
 *	consultation) without waiting, then reads their N answers (up to
 *	10 s each) and prints one line per outcome: the count, then "quoted",
 *	an error code, or "lost" for those never answered.
 *
 *	Environment: CLAIMS_TP_ENDPOINT, CLAIMS_TP_SERVER_KEY,
 *	CLAIMS_TP_PUBLIC_KEY, CLAIMS_TP_SECRET_KEY, PROBE_MEMBER.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "common/envelope.h"
#include "common/tpclient.h"
#include "common/util.h"
#include "proto/tierspayant.pb-c.h"

/* The outcome of one ELIGIBILITY, into out. */
static void ask(struct tp_client *c, const char *member, char *out, size_t len)
{
	Claims__EligibilityRequest r = CLAIMS__ELIGIBILITY_REQUEST__INIT;
	Claims__BeneficiaryRef b = CLAIMS__BENEFICIARY_REF__INIT;
	Claims__EligibilityReply *e;
	Claims__ErrorReply *err;
	struct envelope reply;
	char why[256];

	b.membership_number = (char *)member;
	r.beneficiary = &b;
	r.session_token = (char *)tp_client_session(c);
	if (tp_client_call(c, CLAIMS__MESSAGE_TYPE__ELIGIBILITY_REQUEST, &r.base, &reply, why,
			   sizeof(why)) != OK) {
		snprintf(out, len, "timeout");
		return;
	}
	if (reply.type == CLAIMS__MESSAGE_TYPE__ELIGIBILITY_REPLY &&
	    (e = claims__eligibility_reply__unpack(NULL, reply.payload_len, reply.payload)) !=
		    NULL) {
		snprintf(out, len, "%s", e->rights_open ? "open" : "closed");
		claims__eligibility_reply__free_unpacked(e, NULL);
	} else if (reply.type == CLAIMS__MESSAGE_TYPE__ERROR_REPLY &&
		   (err = claims__error_reply__unpack(NULL, reply.payload_len, reply.payload)) !=
			   NULL) {
		snprintf(out, len, "%s", err->code ? err->code : "error");
		claims__error_reply__free_unpacked(err, NULL);
	} else {
		snprintf(out, len, "unexpected");
	}
	envelope_free(&reply);
}

static int steady(struct tp_client *c, const char *member, int64_t seconds)
{
	char outcome[64];
	int64_t ready_us;

	ask(c, member, outcome, sizeof(outcome));
	if (strcmp(outcome, "open") != 0) {
		fprintf(stderr, "probe_tp_load: first answer %s, want open\n", outcome);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	ready_us = clock_mono_us();
	while (clock_mono_us() - ready_us < seconds * 1000000) {
		int64_t sent = clock_mono_us();

		ask(c, member, outcome, sizeof(outcome));
		printf("%lld %lld %s\n", (long long)((sent - ready_us) / 1000),
		       (long long)((clock_mono_us() - sent) / 1000), outcome);
		fflush(stdout);
		usleep(200000);
	}
	return 0;
}

#define OUTCOMES 8

struct tally {
	char name[OUTCOMES][64];
	int count[OUTCOMES], kinds;
};

static void tally_add(struct tally *t, const char *name)
{
	int k;

	for (k = 0; k < t->kinds && strcmp(t->name[k], name) != 0; k++)
		;
	if (k == OUTCOMES)
		return;
	if (k == t->kinds) {
		snprintf(t->name[k], sizeof(t->name[k]), "%s", name);
		t->count[k] = 0;
		t->kinds++;
	}
	t->count[k]++;
}

/* The outcome of one reply to a burst's QUOTE. */
static void quote_outcome(const struct envelope *reply, char *out, size_t len)
{
	Claims__ErrorReply *err;

	if (reply->type == CLAIMS__MESSAGE_TYPE__QUOTE_REPLY) {
		snprintf(out, len, "quoted");
	} else if (reply->type == CLAIMS__MESSAGE_TYPE__ERROR_REPLY &&
		   (err = claims__error_reply__unpack(NULL, reply->payload_len, reply->payload)) !=
			   NULL) {
		snprintf(out, len, "%s", err->code ? err->code : "error");
		claims__error_reply__free_unpacked(err, NULL);
	} else {
		snprintf(out, len, "unexpected");
	}
}

static int burst(struct tp_client *c, const char *member, int n)
{
	Claims__QuoteRequest r = CLAIMS__QUOTE_REQUEST__INIT;
	Claims__BeneficiaryRef b = CLAIMS__BENEFICIARY_REF__INIT;
	Claims__ClaimLine line = CLAIMS__CLAIM_LINE__INIT, *lines[1] = {&line};
	struct tally t = {.kinds = 0};
	char id[UUID_STR_LEN], why[256], outcome[64];
	int answered = 0;

	b.membership_number = (char *)member;
	line.act_code = "G";
	line.category = "CONSULT_GP";
	line.care_date = "2026-03-10";
	line.has_charged_cents = line.has_brss_cents = line.has_amo_rate = 1;
	line.charged_cents = line.brss_cents = 3000;
	line.amo_rate = 70;
	r.beneficiary = &b;
	r.n_lines = 1;
	r.lines = lines;
	r.session_token = (char *)tp_client_session(c);
	for (int i = 0; i < n; i++) {
		if (tp_client_send(c, CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST, &r.base, id) != OK) {
			fprintf(stderr, "probe_tp_load: send failed\n");
			return 1;
		}
	}
	for (; answered < n; answered++) {
		struct envelope reply;

		if (tp_client_recv(c, 10000, &reply, why, sizeof(why)) != OK)
			break;
		quote_outcome(&reply, outcome, sizeof(outcome));
		tally_add(&t, outcome);
		envelope_free(&reply);
	}
	for (int k = 0; k < t.kinds; k++)
		printf("%d %s\n", t.count[k], t.name[k]);
	if (answered < n)
		printf("%d lost\n", n - answered);
	return 0;
}

int main(int argc, char **argv)
{
	const char *member = getenv("PROBE_MEMBER"), *endpoint = getenv("CLAIMS_TP_ENDPOINT");
	const char *mode = argc > 2 ? argv[1] : "";
	long amount = argc > 2 ? atol(argv[2]) : 0;
	struct tp_keys keys;
	struct tp_client *c;
	char why[256];
	void *ctx = zmq_ctx_new();
	int status;

	if (member == NULL || endpoint == NULL || amount <= 0 || ctx == NULL ||
	    (strcmp(mode, "steady") != 0 && strcmp(mode, "burst") != 0) ||
	    tp_keys_from_env(&keys, why, sizeof(why)) != OK) {
		fprintf(stderr, "usage: probe_tp_load steady SECONDS | burst N"
				" (see the header for the environment)\n");
		return 2;
	}
	if (tp_client_open(ctx, endpoint, &keys, 5000, &c) != OK ||
	    tp_client_open_session(c, NULL, why, sizeof(why)) != OK) {
		fprintf(stderr, "probe_tp_load: no session: %s\n", why);
		return 1;
	}
	status = strcmp(mode, "steady") == 0 ? steady(c, member, amount)
					     : burst(c, member, (int)amount);
	tp_client_close(c);
	zmq_ctx_term(ctx);
	return status;
}
