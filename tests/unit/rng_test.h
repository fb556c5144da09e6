/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_RNG_TEST_H
#define PB_RNG_TEST_H

#include <stdint.h>

/*
 * Fixed-seed xorshift for unit tests, so a failure is reproducible (tests
 * print the seed). Define TEST_RNG_SEED before including to pick one.
 */

#ifndef TEST_RNG_SEED
#define TEST_RNG_SEED 0x9e3779b97f4a7c15ull
#endif

static uint64_t rng_state = TEST_RNG_SEED;

static inline uint64_t
rnd(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static inline uint32_t
rnd_below(uint32_t n)
{
	return n ? (uint32_t)(rnd() % n) : 0;
}

#endif
