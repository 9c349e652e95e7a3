/*
 * NAME
 *	fuzz_target.h - what every libFuzzer target of tests/fuzz declares
 *
 * DESCRIPTION
 *	libFuzzer's entry points (declared, for -Wmissing-prototypes) and
 *	CHECK: an invariant broken is a crash libFuzzer reports with its
 *	input, in a build with assert() off as much as on.
 */
#ifndef TESTS_FUZZ_TARGET_H
#define TESTS_FUZZ_TARGET_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                       \
	do {                              \
		if (!(cond))              \
			__builtin_trap(); \
	} while (0)

#endif
