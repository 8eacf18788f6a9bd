/* Minimal test helpers: CHECK(cond, ...) records a failure with a
 * message; main ends with CHECK_DONE() printing "N passed, N failed".
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BM_CHECK_H
#define BM_CHECK_H
#include <stdio.h>

static int check_pass, check_fail;

#define CHECK(cond, ...)                                                      \
	do {                                                                  \
		if (cond) {                                                   \
			check_pass++;                                         \
		} else {                                                      \
			check_fail++;                                         \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__,         \
				__LINE__, #cond);                             \
			fprintf(stderr, __VA_ARGS__);                         \
			fputc('\n', stderr);                                  \
		}                                                             \
	} while (0)

#define CHECK_DONE()                                                          \
	do {                                                                  \
		printf("%d passed, %d failed\n", check_pass, check_fail);     \
		return check_fail ? 1 : 0;                                    \
	} while (0)

#endif
