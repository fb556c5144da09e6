/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_TUNNEL_FIFO_H
#define PB_TUNNEL_FIFO_H

#include <stddef.h>
#include <stdint.h>

/*
 * Small containers of the tunnel: a FIFO of pairs, used for (seq, token),
 * (dlq token, custody token) and (link seq, DLQ row id), growing by
 * doubling; and a growing array of pointers.
 */

struct fifo2 {
	uint64_t (*v)[2];
	size_t cap, head, n;
};
int fifo2_push(struct fifo2 *f, uint64_t a, uint64_t b);
static inline uint64_t *fifo2_front(struct fifo2 *f) { return f->n ? f->v[f->head] : NULL; }
void fifo2_pop(struct fifo2 *f);
void fifo2_clear(struct fifo2 *f);
void fifo2_free(struct fifo2 *f);
/* Appends p to *arr (n used, cap allocated); -1 when out of memory. */
int add_ptr(void ***arr, size_t *n, size_t *cap, void *p);

#endif
