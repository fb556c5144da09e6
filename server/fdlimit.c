/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <stdatomic.h>
#include <stdio.h>
#include <sys/resource.h>

#include "fdlimit.h"
#include "log.h"

#define NR_OPEN_DEFAULT 1048576u /* Linux's fs.nr_open unless changed */
#define API_CONNS_DEFAULT 64u    /* api.max_connections when unset */

static struct {
	_Atomic uint64_t soft, hard, reserve, budget, in_use, refused;
} fdl = { .budget = UINT64_MAX };

static uint64_t
lim_u64(rlim_t v)
{
	return v == RLIM_INFINITY ? UINT64_MAX : (uint64_t)v;
}

/* Linux refuses an RLIMIT_NOFILE above fs.nr_open, "unlimited" included. */
static rlim_t
nr_open(void)
{
	unsigned long long v = 0;
	FILE *f = fopen("/proc/sys/fs/nr_open", "re");

	if (f) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v ? (rlim_t)v : NR_OPEN_DEFAULT;
}

/* "1024", or "unlimited". */
static const char *
lim_str(uint64_t v, char *buf, size_t len)
{
	if (v == UINT64_MAX)
		snprintf(buf, len, "unlimited");
	else
		snprintf(buf, len, "%llu", (unsigned long long)v);
	return buf;
}

uint64_t
pb_fdlimit_init(void)
{
	struct rlimit rl;
	char b1[24], b2[24], b3[24];

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		log_warn("main", "open files: getrlimit(RLIMIT_NOFILE)");
		return 0;
	}
	uint64_t before = lim_u64(rl.rlim_cur);
	rlim_t want = rl.rlim_max == RLIM_INFINITY ? nr_open() : rl.rlim_max;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		struct rlimit up = { .rlim_cur = want, .rlim_max = rl.rlim_max };
		if (setrlimit(RLIMIT_NOFILE, &up) < 0)
			log_warn("main", "open files: cannot raise the soft limit from %s to %s",
			    lim_str(before, b1, sizeof(b1)), lim_str(lim_u64(want), b2, sizeof(b2)));
		else
			rl = up;
	}
	uint64_t soft = lim_u64(rl.rlim_cur), hard = lim_u64(rl.rlim_max);
	atomic_store(&fdl.soft, soft);
	atomic_store(&fdl.hard, hard);
	if (soft != before)
		log_info("main", "open files: soft limit raised from %s to %s (hard limit %s)",
		    lim_str(before, b1, sizeof(b1)), lim_str(soft, b2, sizeof(b2)),
		    lim_str(hard, b3, sizeof(b3)));
	else
		log_info("main", "open files: soft limit %s (hard limit %s)",
		    lim_str(soft, b1, sizeof(b1)), lim_str(hard, b2, sizeof(b2)));
	if (hard < PB_FD_HARD_LOW)
		log_warnx("main", "open files: hard limit %s is low (below %u): each accepted "
		    "tunnel connection takes a descriptor; raise it (ulimit -Hn, systemd "
		    "LimitNOFILE=)", lim_str(hard, b1, sizeof(b1)), PB_FD_HARD_LOW);
	return soft;
}

uint32_t
pb_fd_reserve(const struct pb_config *cfg)
{
	uint64_t r = PB_FD_RESERVE_BASE;

	r += (uint64_t)PB_FD_PER_CAPTURE * cfg->ncaptures;
	r += (uint64_t)PB_FD_PER_DUMP * cfg->ndumps;
	r += (uint64_t)PB_FD_PER_DIAL * (cfg->tunnel.npeers + cfg->tunnel.nupstreams);
	if (cfg->tunnel.dlq.path[0])
		r += PB_FD_DLQ;
	/* The API bounds its own connections (MHD's connection limit). */
	if (cfg->api.enabled)
		r += PB_FD_API_BASE +
		    (cfg->api.max_connections ? cfg->api.max_connections : API_CONNS_DEFAULT);
	return r > UINT32_MAX ? UINT32_MAX : (uint32_t)r;
}

void
pb_fd_budget_init(uint32_t reserve)
{
	struct rlimit rl;
	char b1[24], b2[24];

	uint64_t soft = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? lim_u64(rl.rlim_cur) :
	    atomic_load(&fdl.soft);
	uint64_t budget = soft > reserve ? soft - reserve : 0;

	atomic_store(&fdl.soft, soft);
	atomic_store(&fdl.reserve, reserve);
	atomic_store(&fdl.in_use, 0);
	atomic_store(&fdl.refused, 0);
	atomic_store(&fdl.budget, budget);
	if (budget < PB_FD_LOW_BUDGET)
		log_warnx("main", "open files: limit %s leaves %llu descriptor(s) for tunnel "
		    "connections once %u are kept for sinks, the DLQ, state files, captures and "
		    "the API; raise the limit", lim_str(soft, b1, sizeof(b1)),
		    (unsigned long long)budget, reserve);
	else
		log_info("main", "open files: up to %s tunnel connection(s) (limit %s, %u kept "
		    "for sinks, the DLQ, state files, captures and the API)",
		    lim_str(budget, b1, sizeof(b1)), lim_str(soft, b2, sizeof(b2)), reserve);
}

bool
pb_fd_take(void)
{
	uint64_t budget = atomic_load_explicit(&fdl.budget, memory_order_relaxed);
	uint64_t n = atomic_load(&fdl.in_use);

	do {
		if (n >= budget) {
			atomic_fetch_add(&fdl.refused, 1);
			return false;
		}
	} while (!atomic_compare_exchange_weak(&fdl.in_use, &n, n + 1));
	return true;
}

void
pb_fd_give(void)
{
	uint64_t n = atomic_load(&fdl.in_use);

	do {
		/* More gives than takes: a caller's bug, never a wrap. */
		if (n == 0) {
			log_warnx_rl("main", "open files: descriptor given back that was not taken");
			return;
		}
	} while (!atomic_compare_exchange_weak(&fdl.in_use, &n, n - 1));
}

void
pb_fd_get_stats(struct pb_fd_stats *out)
{
	out->soft = atomic_load(&fdl.soft);
	out->hard = atomic_load(&fdl.hard);
	out->reserve = atomic_load(&fdl.reserve);
	out->budget = atomic_load(&fdl.budget);
	out->in_use = atomic_load(&fdl.in_use);
	out->refused = atomic_load(&fdl.refused);
}
