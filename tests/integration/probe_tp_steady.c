/*
 * NAME
 *	probe_tp_steady.c - one professional asking ELIGIBILITY at a steady
 *	pace, in one session
 *
 * SYNOPSIS
 *	probe_tp_steady SECONDS    (run by test_tp_pg_outage.sh)
 *
 * DESCRIPTION
 *	Opens a session, then sends an ELIGIBILITY for PROBE_MEMBER every
 *	200 ms for SECONDS, each waiting up to 5 s for its answer. Prints
 *	"ready" once the first is answered (the rights are then in Redis),
 *	then one line per request: milliseconds since ready, the round trip
 *	in milliseconds, and the outcome ("open", "closed", an error code or
 *	"timeout"). The test judges the lines; the probe judges nothing.
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

int main(int argc, char **argv)
{
	const char *member = getenv("PROBE_MEMBER"), *endpoint = getenv("CLAIMS_TP_ENDPOINT");
	struct tp_keys keys;
	struct tp_client *c;
	char why[256], outcome[64];
	int64_t ready_us, seconds = argc > 1 ? atol(argv[1]) : 0;
	void *ctx = zmq_ctx_new();
	int status = 0;

	if (member == NULL || endpoint == NULL || seconds <= 0 || ctx == NULL ||
	    tp_keys_from_env(&keys, why, sizeof(why)) != OK) {
		fprintf(stderr,
			"usage: probe_tp_steady SECONDS (see the header for the environment)\n");
		return 2;
	}
	if (tp_client_open(ctx, endpoint, &keys, 5000, &c) != OK ||
	    tp_client_open_session(c, NULL, why, sizeof(why)) != OK) {
		fprintf(stderr, "probe_tp_steady: no session: %s\n", why);
		return 1;
	}
	ask(c, member, outcome, sizeof(outcome));
	if (strcmp(outcome, "open") != 0) {
		fprintf(stderr, "probe_tp_steady: first answer %s, want open\n", outcome);
		status = 1;
	} else {
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
	}
	tp_client_close(c);
	zmq_ctx_term(ctx);
	return status;
}
