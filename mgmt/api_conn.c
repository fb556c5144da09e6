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
 * Connection bounds: api.max_connections in total and
 * api.max_connections_per_ip per client address. MHD would stop accepting
 * at its own limit, leaving clients hanging in the listen backlog; here a
 * connection over a limit is accepted and closed at once. Counting happens
 * when MHD starts a connection (on the accepting thread, right after the
 * policy check), so a limit is exceeded by at most one connection per
 * other API thread.
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
	/* Each open connection holds at most one entry; one spare per thread. */
	if ((api->ips = calloc((size_t)api->max_conns + PB_API_THREADS,
	    sizeof(*api->ips))) == NULL)
		return -1;
	pthread_mutex_init(&api->conn_lock, NULL);
	return 0;
}

void
pb_api_conn_fini(struct pb_api *api)
{
	if (api->ips == NULL)
		return;
	pthread_mutex_destroy(&api->conn_lock);
	free(api->ips);
	api->ips = NULL;
}

/* IPv4 as v4-mapped IPv6, so one key form; false for other families. */
static bool
pb_api_addr_key(const struct sockaddr *sa, uint8_t key[16])
{
	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;

		memset(key, 0, 10);
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &sin->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;

		memcpy(key, &sin6->sin6_addr, 16);
		return true;
	}
	return false;
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

/* The entry of key among open connections (count > 0), or NULL; under conn_lock. */
static struct pb_api_ipcount *
pb_api_ip_find(struct pb_api *api, const uint8_t key[16], bool create)
{
	struct pb_api_ipcount *free_slot = NULL;
	size_t n = (size_t)api->max_conns + PB_API_THREADS;

	for (size_t i = 0; i < n; i++) {
		struct pb_api_ipcount *e = &api->ips[i];

		if (e->count == 0) {
			if (free_slot == NULL)
				free_slot = e;
			continue;
		}
		if (memcmp(e->addr, key, sizeof(e->addr)) == 0)
			return e;
	}
	if (!create || free_slot == NULL)
		return NULL;
	memcpy(free_slot->addr, key, sizeof(free_slot->addr));
	return free_slot;
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
	const struct pb_api_ipcount *e = NULL;
	uint32_t open, per_ip = 0;
	uint8_t key[16];
	char text[INET6_ADDRSTRLEN], msg[256];

	pthread_mutex_lock(&api->conn_lock);
	open = api->open_conns;
	if (pb_api_addr_key(addr, key) && (e = pb_api_ip_find(api, key, false)) != NULL)
		per_ip = e->count;
	pthread_mutex_unlock(&api->conn_lock);
	if (open < api->max_conns && per_ip < api->max_per_ip)
		return MHD_YES;
	atomic_fetch_add_explicit(&api->over_limit, 1, memory_order_relaxed);
	pb_api_addr_text(addr, text, sizeof(text));
	if (open >= api->max_conns)
		snprintf(msg, sizeof(msg), "closed a connection from %s: %u connections open "
		    "(api.max_connections)", text, open);
	else
		snprintf(msg, sizeof(msg), "closed a connection from %s: %u connections open "
		    "from there (api.max_connections_per_ip)", text, per_ip);
	pb_api_log_throttled(api, msg);
	return MHD_NO;
}

void
pb_api_notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	struct pb_api *api = cls;
	struct pb_api_ipcount *e = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn,
		    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		uint8_t key[16];

		pthread_mutex_lock(&api->conn_lock);
		api->open_conns++;
		if (ci != NULL && pb_api_addr_key(ci->client_addr, key) &&
		    (e = pb_api_ip_find(api, key, true)) != NULL)
			e->count++;
		pthread_mutex_unlock(&api->conn_lock);
		*socket_context = e;
		return;
	}
	pthread_mutex_lock(&api->conn_lock);
	if (api->open_conns > 0)
		api->open_conns--;
	if (e != NULL && e->count > 0)
		e->count--;
	pthread_mutex_unlock(&api->conn_lock);
	*socket_context = NULL;
}

bool
pb_api_conn_mhd_message(struct pb_api *api, const char *msg)
{
	if (strstr(msg, "reached connection limit") != NULL) {
		/* MHD's own backstop limits: a refused connection all the same. */
		atomic_fetch_add_explicit(&api->over_limit, 1, memory_order_relaxed);
		pb_api_log_throttled(api, msg);
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
