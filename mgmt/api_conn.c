/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_internal.h"
#include "clock.h"

/*
 * Connection bounds. Per client address MHD's own limit is exact (counted
 * under its lock before anything else) and closes at once; its message is
 * counted here. In total, MHD would stop accepting at its limit, leaving
 * clients hanging in the listen backlog: instead our accept policy closes
 * a connection over api.max_connections at once, counting open ones when
 * MHD starts and closes them (so the total may be passed by one
 * connection per other API thread), MHD's own limit only a backstop.
 */

#define PB_API_DEFAULT_CONNECTIONS 64
#define PB_API_DEFAULT_PER_IP 8
#define PB_API_DEFAULT_TIMEOUT_S 15
#define PB_API_DEFAULT_HEADER_TIMEOUT_S 10
#define PB_API_LOG_EVERY_NS (5 * PB_NSEC_PER_SEC)
#define PB_API_SPIN_PAUSE_NS (100 * PB_NSEC_PER_MSEC)

int
pb_api_conn_init(struct pb_api *api, const struct pb_api_cfg *cfg)
{
	api->max_conns = cfg->max_connections > 0 ? cfg->max_connections :
	    PB_API_DEFAULT_CONNECTIONS;
	api->max_per_ip = cfg->max_connections_per_ip > 0 ? cfg->max_connections_per_ip :
	    PB_API_DEFAULT_PER_IP;
	if (api->max_per_ip > api->max_conns)
		api->max_per_ip = api->max_conns;
	/* MHD's 0 means "never time out": not for a daemon facing clients. */
	api->timeout_s = cfg->timeout_s > 0 ? cfg->timeout_s : PB_API_DEFAULT_TIMEOUT_S;
	api->header_timeout_s = cfg->header_timeout_s > 0 ? cfg->header_timeout_s :
	    PB_API_DEFAULT_HEADER_TIMEOUT_S;
	if (pthread_mutex_init(&api->conn_lock, NULL) != 0)
		return -1;
	api->conn_lock_ok = true;
	if (cfg->rate_limit > 0) {
		api->rate = cfg->rate_limit;
		api->burst = cfg->rate_burst > 0 ? cfg->rate_burst : 1;
		if ((api->buckets = calloc(PB_API_RATE_SLOTS, sizeof(*api->buckets))) == NULL ||
		    pthread_mutex_init(&api->rate_lock, NULL) != 0) {
			pb_api_conn_fini(api);
			return -1;
		}
		api->rate_lock_ok = true;
	}
	return 0;
}

void
pb_api_conn_fini(struct pb_api *api)
{
	if (api->rate_lock_ok)
		pthread_mutex_destroy(&api->rate_lock);
	api->rate_lock_ok = false;
	free(api->buckets);
	api->buckets = NULL;
	if (!api->conn_lock_ok)
		return;
	pthread_mutex_destroy(&api->conn_lock);
	api->conn_lock_ok = false;
}

/*
 * Token buckets per client address in a small table: a new address takes
 * a free slot, else the one idle longest (its history is forgotten, which
 * only ever lets more through).
 */
bool
pb_api_rate_ok(struct pb_api *api, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;
	unsigned char addr[16] = { 0 };
	struct pb_api_bucket *b = NULL, *oldest = NULL;
	uint64_t now;
	uint8_t fam;
	bool ok;

	if (api->rate <= 0 || api->buckets == NULL)
		return true;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || (sa = ci->client_addr) == NULL)
		return true;
	if (sa->sa_family == AF_INET)
		memcpy(addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	else if (sa->sa_family == AF_INET6)
		memcpy(addr, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
	else
		return true;
	fam = (uint8_t)sa->sa_family;
	now = pb_mono_ns();
	pthread_mutex_lock(&api->rate_lock);
	for (size_t i = 0; i < PB_API_RATE_SLOTS && b == NULL; i++) {
		struct pb_api_bucket *x = &api->buckets[i];

		if (x->family == fam && memcmp(x->addr, addr, sizeof(addr)) == 0)
			b = x;
		else if (oldest == NULL || x->family == 0 ||
		    (oldest->family != 0 && x->last_ns < oldest->last_ns))
			oldest = x;
	}
	if (b == NULL) {
		b = oldest;
		memcpy(b->addr, addr, sizeof(addr));
		b->family = fam;
		b->tokens = api->burst;
		b->last_ns = now;
	}
	b->tokens += (double)(now - b->last_ns) / 1e9 * api->rate;
	if (b->tokens > api->burst)
		b->tokens = api->burst;
	b->last_ns = now;
	ok = b->tokens >= 1.0;
	if (ok)
		b->tokens -= 1.0;
	pthread_mutex_unlock(&api->rate_lock);
	return ok;
}

static void
pb_api_addr_text(const struct sockaddr *sa, char *out, size_t outlen)
{
	const void *a = NULL;

	if (sa != NULL && sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa != NULL && sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	if (a == NULL || inet_ntop(sa->sa_family, a, out, (socklen_t)outlen) == NULL)
		snprintf(out, outlen, "?");
}

void
pb_api_log_throttled(struct pb_api *api, const char *msg)
{
	uint64_t now = pb_mono_ns(), next = atomic_load(&api->log_next_ns), skipped;

	if (now < next || !atomic_compare_exchange_strong(&api->log_next_ns, &next,
	    now + PB_API_LOG_EVERY_NS)) {
		atomic_fetch_add_explicit(&api->log_suppressed, 1, memory_order_relaxed);
		return;
	}
	skipped = atomic_exchange(&api->log_suppressed, 0);
	if (skipped > 0)
		log_warnx("api", "%s (and %llu similar message(s) in the last seconds)", msg,
		    (unsigned long long)skipped);
	else
		log_warnx("api", "%s", msg);
}

enum MHD_Result
pb_api_accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct pb_api *api = cls;
	char text[INET6_ADDRSTRLEN], msg[256];
	uint32_t open;

	pthread_mutex_lock(&api->conn_lock);
	open = api->open_conns;
	pthread_mutex_unlock(&api->conn_lock);
	if (open < api->max_conns)
		return MHD_YES;
	atomic_fetch_add_explicit(&api->over_limit, 1, memory_order_relaxed);
	pb_api_addr_text(addr, text, sizeof(text));
	snprintf(msg, sizeof(msg), "closed a connection from %s: %u connections open "
	    "(api.max_connections)", text, open);
	pb_api_log_throttled(api, msg);
	return MHD_NO;
}

void
pb_api_notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	struct pb_api *api = cls;

	pthread_mutex_lock(&api->conn_lock);
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		api->open_conns++;
	else if (api->open_conns > 0)
		api->open_conns--;
	pthread_mutex_unlock(&api->conn_lock);
}

bool
pb_api_conn_mhd_message(struct pb_api *api, const char *msg)
{
	if (strstr(msg, "reached connection limit") != NULL) {
		/* MHD's per-address limit (or its total backstop): closed at once. */
		atomic_fetch_add_explicit(&api->over_limit, 1, memory_order_relaxed);
		pb_api_log_throttled(api, "closed a connection over "
		    "api.max_connections_per_ip");
		return true;
	}
	if (strstr(msg, "at FIRST connection") != NULL) {
		/*
		 * Out of descriptors with no connection open: MHD retries accept
		 * at once, forever. Pausing here, on that MHD thread (it has
		 * nothing else to serve), keeps it from spinning.
		 */
		struct timespec ts = { .tv_nsec = PB_API_SPIN_PAUSE_NS };

		pb_api_log_throttled(api, "out of file descriptors: cannot accept API "
		    "connections (raise the descriptor limit)");
		nanosleep(&ts, NULL);
		return true;
	}
	if (strstr(msg, "Error accepting connection") != NULL ||
	    strstr(msg, "resource limit at") != NULL) {
		pb_api_log_throttled(api, msg);
		return true;
	}
	return false;
}
