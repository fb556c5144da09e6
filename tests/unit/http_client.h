/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_TEST_HTTP_CLIENT_H
#define PB_TEST_HTTP_CLIENT_H

/*
 * Minimal HTTP/1.0 client for API tests: one request per connection, the
 * response is everything read until the server closes. No cmocka asserts,
 * so threads may use it. The body is parsed with jansson when present.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>

#define HTTP_RESP_MAX (1024 * 1024)

struct http_resp {
	int status;        /* -1: closed without a status line */
	char *raw;         /* whole response, NUL-terminated */
	size_t len;
	const char *body;  /* inside raw */
	size_t body_len;
	json_t *json;      /* parsed body, or NULL */
};

static inline void
http_resp_free(struct http_resp *r)
{
	free(r->raw);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

static inline int
http_connect(int family, uint16_t port)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sslen;
	struct timeval tv = { .tv_sec = 5 };
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sslen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sin6->sin6_addr = in6addr_loopback;
		sslen = sizeof(*sin6);
	}
	/* Bounded waits: a hung server fails the test instead of hanging it. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&ss, sslen) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Reads the response on fd until EOF, then closes fd. No cmocka asserts,
 * so threads may call it: returns -1 if reading it failed.
 */
static inline int
http_read_response(int fd, struct http_resp *r)
{
	size_t cap = 4096;
	const char *sep;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	r->status = -1;
	if ((r->raw = malloc(cap)) == NULL) {
		close(fd);
		return -1;
	}
	for (;;) {
		ssize_t n;

		if (cap - r->len < 2048) {
			char *nr;

			if (cap >= HTTP_RESP_MAX || (nr = realloc(r->raw, cap * 2)) == NULL) {
				rc = -1;
				break;
			}
			r->raw = nr;
			cap *= 2;
		}
		n = recv(fd, r->raw + r->len, cap - r->len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ECONNRESET)
			break;
		if (n < 0) {
			rc = -1; /* EAGAIN: the server did not answer in time */
			break;
		}
		if (n == 0)
			break;
		r->len += (size_t)n;
	}
	close(fd);
	r->raw[r->len] = '\0';
	if (r->len < 12 || strncmp(r->raw, "HTTP/1.", 7) != 0)
		return rc;
	if ((sep = strstr(r->raw, "\r\n\r\n")) == NULL)
		return -1;
	r->status = atoi(r->raw + 9);
	r->body = sep + 4;
	r->body_len = r->len - (size_t)(r->body - r->raw);
	if (r->body_len > 0)
		r->json = json_loadb(r->body, r->body_len, 0, NULL);
	return rc;
}

/* Sends req as is and reads the response (http_read_response). */
static inline int
http_exchange(int family, uint16_t port, const char *req, size_t reqlen, struct http_resp *r)
{
	size_t off = 0;
	int fd;

	memset(r, 0, sizeof(*r));
	r->status = -1;
	if ((fd = http_connect(family, port)) < 0)
		return -1;
	while (off < reqlen) {
		ssize_t n = send(fd, req + off, reqlen - off, MSG_NOSIGNAL);
		if (n <= 0)
			break; /* the server may close early (413, 414): read what it said */
		off += (size_t)n;
	}
	return http_read_response(fd, r);
}

/* The value of header name (case-insensitive), copied into out; false if absent. */
static bool
http_header(const struct http_resp *r, const char *name, char *out, size_t outlen)
{
	const char *line = strstr(r->raw, "\r\n");
	size_t nlen = strlen(name);

	while (line != NULL && line + 2 < r->body) {
		const char *p = line + 2, *eol = strstr(p, "\r\n");

		if (eol == NULL)
			break;
		if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			const char *v = p + nlen + 1;
			size_t vlen;

			while (*v == ' ')
				v++;
			vlen = (size_t)(eol - v);
			if (vlen >= outlen)
				vlen = outlen - 1;
			memcpy(out, v, vlen);
			out[vlen] = '\0';
			return true;
		}
		line = eol;
	}
	return false;
}

#endif
