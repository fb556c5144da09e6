/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "tunnel_fifo.h"

int
add_ptr(void ***arr, size_t *n, size_t *cap, void *p)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		void **a = realloc(*arr, nc * sizeof(*a));
		if (!a)
			return -1;
		*arr = a;
		*cap = nc;
	}
	(*arr)[(*n)++] = p;
	return 0;
}

int
fifo2_push(struct fifo2 *f, uint64_t a, uint64_t b)
{
	if (f->n == f->cap) {
		/* realloc keeps the pages already touched (mremap, for large
		 * ones): a fresh copy would fault them all in again. Full, the
		 * pairs run from head to the end, then from 0 to head: that
		 * part moves behind them. */
		size_t ncap = f->cap ? f->cap * 2 : 1024;
		uint64_t (*v)[2] = realloc(f->v, ncap * sizeof(*v));
		if (!v)
			return -1;
		if (f->head)
			memcpy(v + f->cap, v, f->head * sizeof(*v));
		f->v = v;
		f->cap = ncap;
	}
	size_t t = (f->head + f->n) & (f->cap - 1); /* cap is a power of two */
	f->v[t][0] = a;
	f->v[t][1] = b;
	f->n++;
	return 0;
}

void
fifo2_pop(struct fifo2 *f)
{
	if (!f->n)
		return;
	f->head = (f->head + 1) & (f->cap - 1);
	f->n--;
}

void
fifo2_clear(struct fifo2 *f)
{
	f->head = f->n = 0;
}

void
fifo2_free(struct fifo2 *f)
{
	free(f->v);
	memset(f, 0, sizeof(*f));
}
