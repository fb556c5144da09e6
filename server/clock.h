/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_CLOCK_H
#define PB_CLOCK_H

#include <stdint.h>
#include <time.h>

#define PB_NSEC_PER_SEC 1000000000ULL
#define PB_NSEC_PER_MSEC 1000000ULL

/* Monotonic time for every timer and interval: immune to clock steps. */
static inline uint64_t
pb_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * PB_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* Wall clock, only for timestamps shown to people or written to files. */
static inline uint64_t
pb_real_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * PB_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

#endif
