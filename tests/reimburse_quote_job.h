/*
 * NAME
 *	reimburse_quote_job.h - a quote request as the reimbursement
 *	worker's quote thread receives it
 *
 * DESCRIPTION
 *	For the tests that include services/reimburse/reimburse_quote.c
 *	(tests/unit/test_reimburse_quote.c, tests/fuzz/fuzz_reimburse.c),
 *	after it: a request body in the frames the thread's ROUTER reads
 *	from a front door's DEALER, [identity][empty][tag][body], read by
 *	the thread's own read_request(), so that the tests and the thread
 *	decide alike what is computed.
 */
#ifndef TESTS_REIMBURSE_QUOTE_JOB_H
#define TESTS_REIMBURSE_QUOTE_JOB_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static inline void quote_frame(zmq_msg_t *m, const void *data, size_t len)
{
	/* Sizes this small only fail for want of memory, as xmalloc does. */
	if (zmq_msg_init_size(m, len) != 0)
		abort();
	if (len > 0)
		memcpy(zmq_msg_data(m), data, len);
}

/* j as the quote thread has it after reading a request of this body;
 * job_free() releases it. */
static inline void quote_job_of(struct quote_job *j, const uint8_t *body, size_t len)
{
	memset(j, 0, sizeof(*j));
	quote_frame(&j->frames.part[0], "door", 4);
	quote_frame(&j->frames.part[1], "", 0);
	quote_frame(&j->frames.part[2], "tag", 3);
	quote_frame(&j->frames.part[3], body, len);
	j->frames.count = 4;
	read_request(j);
}

#endif
