/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdlimit.h"
#include "log.h"
#include "tunnel_link.h"
#include "tunnel_listen.h"


/* "192.0.2.1:5555" / "[2001:db8::1]:5555" → the address alone. */
static void
addr_ip(const char *addr, char *ip, size_t len)
{
	const char *colon = strrchr(addr, ':');
	size_t n = colon ? (size_t)(colon - addr) : strlen(addr);
	if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']') {
		addr++;
		n -= 2;
	}
	snprintf(ip, len, "%.*s", (int)n, addr);
}

/* Connections that have not proven who they are cost a descriptor and a
 * buffer each: bounded in total and per address, so a flood of plain
 * connects can neither exhaust descriptors nor crowd out real peers. */
static bool
preauth_room(struct pb_tunnel *t, const char *ip)
{
	const struct pb_listen_cfg *lc = &t->tc->listen;
	if (t->npreauth >= lc->max_handshakes)
		return false;
	uint32_t same = 0;
	for (const struct tunnel_conn *c = t->accepted; c; c = c->next)
		if (c->preauth && strcmp(c->ip, ip) == 0 && ++same >= lc->max_handshakes_per_ip)
			return false;
	return true;
}

int
listen_adopt(struct pb_tunnel *t, int fd, const char *addr)
{
	int fl = fcntl(fd, F_GETFL);
	if (!t->tc->listen.enabled || fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		close(fd);
		return -1;
	}
	listen_on_accept(t->listener, fd, addr, t);
	return 0;
}

void
listen_on_accept(struct pb_listener *lst, int fd, const char *addr, void *arg)
{
	struct pb_tunnel *t = arg;
	char ip[64];
	addr_ip(addr, ip, sizeof(ip));
	if (!pb_fd_take()) {
		/* The descriptors left are the sinks', the DLQ's, state files'. */
		t->refused.preauth_limit++;
		log_warnx_rl("tunnel", "refusing %s: the descriptor budget for connections is"
		    " spent (RLIMIT_NOFILE)", addr);
		close(fd);
		return;
	}
	if (!preauth_room(t, ip)) {
		pb_fd_give();
		t->refused.preauth_limit++;
		log_warnx_rl("tunnel", "refusing %s: %u connection(s) already in the handshake"
		    " (listen.max_handshakes %u, max_handshakes_per_ip %u)", addr, t->npreauth,
		    t->tc->listen.max_handshakes, t->tc->listen.max_handshakes_per_ip);
		close(fd);
		return;
	}
	struct tunnel_conn *c = calloc(1, sizeof(*c));
	char err[256];
	if (!c) {
		close(fd);
		pb_fd_give();
		return;
	}
	c->t = t;
	c->accepted = true;
	snprintf(c->ip, sizeof(c->ip), "%s", ip);
	c->link = pb_link_accept(t->loop, &t->linkcfg, fd, addr, &tunnel_link_ops, c, err, sizeof(err));
	if (!c->link) {
		log_warnx_rl("tunnel", "cannot accept %s: %s", addr, err);
		free(c);
		pb_fd_give(); /* pb_link_accept closed it */
		return;
	}
	c->preauth = true;
	t->npreauth++;
	c->next = t->accepted;
	t->accepted = c;
	log_debug("tunnel", "accepted %s", addr);
}
