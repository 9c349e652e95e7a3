/*
 * NAME
 *	test.h - the project's small test harness
 *
 * SYNOPSIS
 *	#include "test.h"
 *	static void test_sum(void) { CHECK_EQ_I64(2 + 2, 4); }
 *	int main(void) { RUN(test_sum); return test_report(); }
 *
 * DESCRIPTION
 *	Each RUN() executes one test function; a failed CHECK records the
 *	failure with file and line and lets the test go on (so one run shows
 *	every broken expectation). test_report() prints the closing line
 *	"N passed, N failed" and returns the process exit status.
 *	tests/run.sh sums these lines over every test program.
 */
#ifndef TESTS_TEST_H
#define TESTS_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int test_passed_count;
static int test_failed_count;
static int test_current_failed;
static const char *test_current_name;

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			printf("  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			test_current_failed = 1;                                 \
		}                                                                \
	} while (0)

#define CHECK_EQ_I64(got, want)                                                                \
	do {                                                                                   \
		int64_t got_ = (int64_t)(got), want_ = (int64_t)(want);                        \
		if (got_ != want_) {                                                           \
			printf("  FAIL %s:%d: %s = %" PRId64 ", want %" PRId64 "\n", __FILE__, \
			       __LINE__, #got, got_, want_);                                   \
			test_current_failed = 1;                                               \
		}                                                                              \
	} while (0)

#define CHECK_EQ_STR(got, want)                                                                \
	do {                                                                                   \
		const char *got_ = (got), *want_ = (want);                                     \
		if (got_ == NULL || want_ == NULL || strcmp(got_, want_) != 0) {               \
			printf("  FAIL %s:%d: %s = \"%s\", want \"%s\"\n", __FILE__, __LINE__, \
			       #got, got_ ? got_ : "(null)", want_ ? want_ : "(null)");        \
			test_current_failed = 1;                                               \
		}                                                                              \
	} while (0)

/* Give up on the current test (after a failed CHECK that later steps need). */
#define REQUIRE(cond)                    \
	do {                             \
		CHECK(cond);             \
		if (test_current_failed) \
			return;          \
	} while (0)

#define RUN(fn)                                     \
	do {                                        \
		test_current_name = #fn;            \
		test_current_failed = 0;            \
		fn();                               \
		if (test_current_failed) {          \
			test_failed_count++;        \
			printf("not ok %s\n", #fn); \
		} else {                            \
			test_passed_count++;        \
			printf("ok %s\n", #fn);     \
		}                                   \
		fflush(stdout);                     \
	} while (0)

static inline int test_report(void)
{
	printf("%d passed, %d failed\n", test_passed_count, test_failed_count);
	return test_failed_count == 0 ? 0 : 1;
}

#endif
