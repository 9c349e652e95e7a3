/*
 * NAME
 *	status.h - the one error convention of the project
 *
 * DESCRIPTION
 *	Every function that can fail returns an int: OK (0) on success,
 *	ERR (-1) on failure, after logging the cause once at the place where
 *	it was detected (the library's own message included). Such functions
 *	are declared MUST_CHECK so that the compiler refuses a caller that
 *	drops the result (-Werror turns the warning into an error).
 *
 *	The rules engine (services/rules/) does no logging and has its own
 *	error record (rules_error) but follows the same OK/ERR convention.
 */
#ifndef COMMON_STATUS_H
#define COMMON_STATUS_H

#define OK  0
#define ERR (-1)

#define MUST_CHECK __attribute__((warn_unused_result))
#define UNUSED(x)  ((void)(x))

#endif
