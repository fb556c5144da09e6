/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "map_guard.h"

/* Lock-free slots: the handler may run on any thread at any moment. A
 * slot is claimed through used; start is stored last (release) and
 * cleared first, so the handler never sees a half-made slot. */
struct pb_map_guard {
	atomic_int used;
	_Atomic uintptr_t start;
	_Atomic size_t len;
	_Atomic uintptr_t fault_lo; /* lowest page that faulted; UINTPTR_MAX: none */
};

static struct pb_map_guard slots[PB_MAP_GUARD_SLOTS];
static struct sigaction prev_action;
static uintptr_t page_mask;
static pthread_mutex_t install_mu = PTHREAD_MUTEX_INITIALIZER;

static void
guard_sigbus(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;

	for (size_t i = 0; i < PB_MAP_GUARD_SLOTS; i++) {
		uintptr_t s = atomic_load_explicit(&slots[i].start, memory_order_acquire);
		size_t len = atomic_load_explicit(&slots[i].len, memory_order_relaxed);
		if (s == 0 || a < s || a - s >= len)
			continue;
		/* Noted first: whoever reads the zeros below then sees it. */
		uintptr_t pg = a & page_mask;
		uintptr_t lo = atomic_load(&slots[i].fault_lo);
		while (pg < lo && !atomic_compare_exchange_weak(&slots[i].fault_lo, &lo, pg))
			;
		int saved = errno; /* mmap is a plain system call: safe here */
		void *m = mmap((void *)pg, s + len - pg, PROT_READ,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		errno = saved;
		if (m != MAP_FAILED)
			return; /* the faulting load runs again and reads zeros */
		break;
	}
	/* Not ours (or no memory for zero pages): as if we were not here. */
	if ((prev_action.sa_flags & SA_SIGINFO) && prev_action.sa_sigaction != NULL) {
		prev_action.sa_sigaction(sig, si, uc);
		return;
	}
	if (prev_action.sa_handler != SIG_DFL && prev_action.sa_handler != SIG_IGN) {
		prev_action.sa_handler(sig);
		return;
	}
	/* Default (an ignored fault would repeat forever): dies on return. */
	signal(SIGBUS, SIG_DFL);
}

/* Ours, unless somebody replaced it since (a test framework, a library):
 * then ours again, in front of theirs. */
static int
guard_install(void)
{
	struct sigaction sa, cur;
	int rc = 0;

	pthread_mutex_lock(&install_mu);
	if (sigaction(SIGBUS, NULL, &cur) < 0) {
		rc = -1;
	} else if (!(cur.sa_flags & SA_SIGINFO) || cur.sa_sigaction != guard_sigbus) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = guard_sigbus;
		sa.sa_flags = SA_SIGINFO | SA_NODEFER;
		sigemptyset(&sa.sa_mask);
		page_mask = ~((uintptr_t)sysconf(_SC_PAGESIZE) - 1);
		prev_action = cur;
		rc = sigaction(SIGBUS, &sa, NULL);
	}
	pthread_mutex_unlock(&install_mu);
	return rc;
}

struct pb_map_guard *
pb_map_guard_add(const void *map, size_t len)
{
	if (guard_install() < 0)
		return NULL;
	for (size_t i = 0; i < PB_MAP_GUARD_SLOTS; i++) {
		int free_slot = 0;
		if (!atomic_compare_exchange_strong(&slots[i].used, &free_slot, 1))
			continue;
		struct pb_map_guard *g = &slots[i];
		atomic_store(&g->fault_lo, UINTPTR_MAX);
		atomic_store_explicit(&g->len, len, memory_order_relaxed);
		atomic_store_explicit(&g->start, (uintptr_t)map, memory_order_release);
		return g;
	}
	errno = ENOSPC;
	return NULL;
}

void
pb_map_guard_remove(struct pb_map_guard *g)
{
	if (g == NULL)
		return;
	atomic_store(&g->start, 0);
	atomic_store(&g->len, 0);
	atomic_store(&g->used, 0);
}

bool
pb_map_guard_shrunk(const struct pb_map_guard *g)
{
	return g != NULL && atomic_load_explicit(&g->fault_lo, memory_order_acquire) != UINTPTR_MAX;
}

bool
pb_map_guard_ok(const struct pb_map_guard *g, const void *p, size_t len)
{
	if (g == NULL)
		return true;
	uintptr_t lo = atomic_load_explicit(&g->fault_lo, memory_order_acquire);
	return lo == UINTPTR_MAX || ((uintptr_t)p < lo && len <= lo - (uintptr_t)p);
}
