/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_internal.h"
#include "bridge.h"
#include "clock.h"

/*
 * Time helpers shared by the tunnel endpoints, then the peers.
 *
 * Tunnel peers: the engine republishes bridge->peers wholesale under
 * bridge->lock; we copy it out under the lock and build JSON afterwards, so
 * the engine never waits on jansson.
 */

json_t *
pb_api_json_time(uint64_t real_ns, unsigned int digits)
{
	time_t sec = (time_t)(real_ns / PB_NSEC_PER_SEC);
	unsigned int frac = (unsigned int)(real_ns % PB_NSEC_PER_SEC);
	struct tm tm;
	char day[32], buf[64];

	if (real_ns == 0)
		return json_null();
	if (gmtime_r(&sec, &tm) == NULL ||
	    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		return json_null();
	if (digits >= 9)
		snprintf(buf, sizeof(buf), "%s.%09uZ", day, frac);
	else
		snprintf(buf, sizeof(buf), "%s.%03uZ", day,
		    (unsigned int)(frac / PB_NSEC_PER_MSEC));
	return json_string(buf);
}

/* n digits exactly. */
static int
pb_api_digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static bool
pb_api_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/*
 * RFC 3339 ("2024-05-01T12:00:00.123456789Z", "...+02:00") or integer
 * nanoseconds since the epoch. Fractions beyond ns are cut. In a query
 * string '+' decodes to ' ', so ' ' is taken as '+' before an offset.
 */
int
pb_api_parse_time(const char *s, uint64_t *out)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	uint64_t frac = 0, secs;
	struct tm tm = { 0 };
	const char *p;
	time_t t;

	if (s[0] >= '0' && s[0] <= '9' && strspn(s, "0123456789") == strlen(s))
		return pb_api_parse_u64(s, INT64_MAX, out);
	if (strlen(s) < 20 || pb_api_digits(s, 4, &y) < 0 || s[4] != '-' ||
	    pb_api_digits(s + 5, 2, &mo) < 0 || s[7] != '-' ||
	    pb_api_digits(s + 8, 2, &d) < 0 || (s[10] != 'T' && s[10] != 't') ||
	    pb_api_digits(s + 11, 2, &h) < 0 || s[13] != ':' ||
	    pb_api_digits(s + 14, 2, &mi) < 0 || s[16] != ':' ||
	    pb_api_digits(s + 17, 2, &sec) < 0)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 ||
	    d > mdays[mo - 1] + (mo == 2 && pb_api_leap(y) ? 1 : 0) ||
	    h > 23 || mi > 59 || sec > 60)
		return -1;
	p = s + 19;
	if (*p == '.') {
		int n = 0;

		for (p++; *p >= '0' && *p <= '9'; p++, n++)
			if (n < 9)
				frac = frac * 10 + (uint64_t)(*p - '0');
		if (n == 0)
			return -1;
		for (; n < 9; n++)
			frac *= 10;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		sign = 0;
	} else if ((*p == '+' || *p == ' ' || *p == '-') && strlen(p) == 6 &&
	    pb_api_digits(p + 1, 2, &oh) == 0 && p[3] == ':' &&
	    pb_api_digits(p + 4, 2, &om) == 0 && oh <= 23 && om <= 59) {
		sign = *p == '-' ? -1 : 1;
	} else {
		return -1;
	}
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec; /* a leap second 60 normalises to the next minute */
	if ((t = timegm(&tm)) == (time_t)-1 && y != 1969)
		return -1;
	t -= (time_t)sign * (oh * 3600 + om * 60);
	if (t < 0)
		return -1;
	secs = (uint64_t)t;
	if (secs > ((uint64_t)INT64_MAX - frac) / PB_NSEC_PER_SEC)
		return -1;
	*out = secs * PB_NSEC_PER_SEC + frac;
	return 0;
}

/* The engine fills fixed arrays; never trust them to be terminated. */
#define PB_API_TERMINATE(a) ((a)[sizeof(a) - 1] = '\0')

static void
pb_api_peer_terminate(struct pb_peer_snap *p)
{
	PB_API_TERMINATE(p->name);
	PB_API_TERMINATE(p->direction);
	PB_API_TERMINATE(p->origin);
	PB_API_TERMINATE(p->state);
	PB_API_TERMINATE(p->address);
	PB_API_TERMINATE(p->node_name);
	PB_API_TERMINATE(p->last_error);
}

/* "" reads as "not known yet". */
static json_t *
pb_api_string_or_null(const char *s)
{
	return s[0] != '\0' ? pb_api_json_string(s) : json_null();
}

#define PB_API_U64(obj, p, field) pb_api_set((obj), #field, pb_api_json_u64((p)->field))

/*
 * Link epochs and custody points are what a forged peer needs to resume a
 * link as if it were the real one: only for callers with the bearer token.
 */
static int
pb_api_peer_downstream(json_t *obj, const struct pb_peer_snap *p, bool authed)
{
	json_t *buf = json_object();

	if (buf == NULL)
		return -1;
	if (pb_api_set(buf, "used", pb_api_json_u64(p->buffer_used)) < 0 ||
	    pb_api_set(buf, "capacity", pb_api_json_u64(p->buffer_capacity)) < 0) {
		json_decref(buf);
		return -1;
	}
	if (PB_API_U64(obj, p, records_sent) < 0 ||
	    PB_API_U64(obj, p, bytes_sent) < 0 ||
	    PB_API_U64(obj, p, records_acked) < 0 ||
	    PB_API_U64(obj, p, bytes_acked) < 0 ||
	    PB_API_U64(obj, p, in_flight) < 0 ||
	    PB_API_U64(obj, p, in_flight_bytes) < 0 ||
	    PB_API_U64(obj, p, resent) < 0 ||
	    PB_API_U64(obj, p, to_dlq) < 0 ||
	    PB_API_U64(obj, p, dlq_refused) < 0 ||
	    PB_API_U64(obj, p, replayed) < 0 ||
	    pb_api_set(obj, "buffer", buf) < 0 ||
	    PB_API_U64(obj, p, oldest_unacked_age_ms) < 0)
		return -1;
	if (authed && (PB_API_U64(obj, p, next_seq) < 0 ||
	    PB_API_U64(obj, p, acked_seq) < 0))
		return -1;
	return 0;
}

static int
pb_api_peer_upstream(json_t *obj, const struct pb_peer_snap *p, bool authed)
{
	if (PB_API_U64(obj, p, records_received) < 0 ||
	    PB_API_U64(obj, p, bytes_received) < 0 ||
	    PB_API_U64(obj, p, link_duplicates) < 0 ||
	    PB_API_U64(obj, p, link_lost) < 0 ||
	    PB_API_U64(obj, p, origin_duplicates) < 0 ||
	    PB_API_U64(obj, p, loops) < 0 ||
	    PB_API_U64(obj, p, hop_limit) < 0 ||
	    PB_API_U64(obj, p, dlq_announced) < 0)
		return -1;
	if (authed && (PB_API_U64(obj, p, custody_seq) < 0 ||
	    PB_API_U64(obj, p, epoch) < 0))
		return -1;
	return 0;
}

static json_t *
pb_api_peer_json(const struct pb_peer_snap *p, bool authed)
{
	json_t *obj = json_object(), *node = json_object();

	if (obj == NULL || node == NULL)
		goto fail;
	if (pb_api_set(node, "id", p->node_id != 0 ? json_integer(p->node_id) :
		json_null()) < 0 ||
	    pb_api_set(node, "name", pb_api_string_or_null(p->node_name)) < 0)
		goto fail;
	if (pb_api_set(obj, "name", pb_api_json_string(p->name)) < 0 ||
	    pb_api_set(obj, "state", pb_api_json_string(p->state)) < 0 ||
	    pb_api_set(obj, "direction", pb_api_json_string(p->direction)) < 0 ||
	    pb_api_set(obj, "origin", pb_api_json_string(p->origin)) < 0 ||
	    pb_api_set(obj, "address", pb_api_json_string(p->address)) < 0)
		goto fail;
	if (pb_api_set(obj, "node", node) < 0) {
		node = NULL;
		goto fail;
	}
	node = NULL;
	/* An RTT of exactly 0 ns means "not measured yet". */
	if (pb_api_set(obj, "connected_since",
		pb_api_json_time(p->connected_since_ns, 3)) < 0 ||
	    pb_api_set(obj, "last_error", pb_api_string_or_null(p->last_error)) < 0 ||
	    pb_api_set(obj, "rtt_ms", p->rtt_ns != 0 ?
		json_real((double)p->rtt_ns / 1e6) : json_null()) < 0 ||
	    PB_API_U64(obj, p, reconnects) < 0 ||
	    PB_API_U64(obj, p, auth_failures) < 0 ||
	    PB_API_U64(obj, p, protocol_errors) < 0)
		goto fail;
	if (strcmp(p->direction, "downstream") == 0 && pb_api_peer_downstream(obj, p, authed) < 0)
		goto fail;
	if (strcmp(p->direction, "upstream") == 0 && pb_api_peer_upstream(obj, p, authed) < 0)
		goto fail;
	return obj;
fail:
	json_decref(node);
	json_decref(obj);
	return NULL;
}

/* Milliseconds since the engine published (peers_generated_ns is pb_real_ns()). */
static json_t *
pb_api_age_ms(uint64_t real_ns)
{
	uint64_t now = pb_real_ns();

	if (real_ns == 0)
		return json_null();
	return pb_api_json_u64(now > real_ns ? (now - real_ns) / PB_NSEC_PER_MSEC : 0);
}

struct pb_api_tunnel_counters {
	uint64_t loops_dropped, hop_limit_dropped, origin_duplicates, link_records;
	uint64_t auth_failures, protocol_errors;
	struct pb_refusals refused;
};

static json_t *
pb_api_refused_json(const struct pb_refusals *r)
{
	json_t *obj = json_object();

	if (obj == NULL)
		return NULL;
	if (PB_API_U64(obj, r, ack_ahead) < 0 ||
	    PB_API_U64(obj, r, resume_ahead) < 0 ||
	    PB_API_U64(obj, r, notice_invalid) < 0 ||
	    PB_API_U64(obj, r, seq_wrap) < 0 ||
	    PB_API_U64(obj, r, seq_jump) < 0 ||
	    PB_API_U64(obj, r, origin_unbound) < 0 ||
	    PB_API_U64(obj, r, stream_owned) < 0 ||
	    PB_API_U64(obj, r, unknown_node) < 0 ||
	    PB_API_U64(obj, r, undeclared_consumer) < 0 ||
	    PB_API_U64(obj, r, preauth_limit) < 0 ||
	    PB_API_U64(obj, r, node_cap) < 0 ||
	    PB_API_U64(obj, r, source_cap) < 0 ||
	    PB_API_U64(obj, r, rename) < 0 ||
	    PB_API_U64(obj, r, unexpected) < 0) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

static json_t *
pb_api_tunnel_json(const struct pb_api_tunnel_counters *t)
{
	json_t *obj = json_object();

	if (obj == NULL)
		return NULL;
	if (PB_API_U64(obj, t, loops_dropped) < 0 ||
	    PB_API_U64(obj, t, hop_limit_dropped) < 0 ||
	    PB_API_U64(obj, t, origin_duplicates) < 0 ||
	    PB_API_U64(obj, t, link_records) < 0 ||
	    PB_API_U64(obj, t, auth_failures) < 0 ||
	    PB_API_U64(obj, t, protocol_errors) < 0 ||
	    pb_api_set(obj, "refused", pb_api_refused_json(&t->refused)) < 0) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/* GET /api/v1/peers */
unsigned int
pb_api_get_peers(const struct pb_api_req *req, json_t **body)
{
	struct pb_bridge *b = req->view->bridge;
	struct pb_api_tunnel_counters tc = { 0 };
	struct pb_peer_snap *copy = NULL;
	uint64_t generated = 0;
	size_t n = 0;
	json_t *obj = NULL, *arr = NULL;

	if (b != NULL) {
		pthread_mutex_lock(&b->lock);
		n = b->peers != NULL ? b->npeers : 0;
		if (n > 0 && (copy = calloc(n, sizeof(*copy))) != NULL)
			memcpy(copy, b->peers, n * sizeof(*copy));
		generated = b->peers_generated_ns;
		tc.loops_dropped = b->loops_dropped;
		tc.hop_limit_dropped = b->hop_limit_dropped;
		tc.origin_duplicates = b->origin_duplicates;
		tc.link_records = b->link_records;
		tc.auth_failures = b->auth_failures;
		tc.protocol_errors = b->protocol_errors;
		tc.refused = b->refused;
		pthread_mutex_unlock(&b->lock);
		if (n > 0 && copy == NULL)
			goto fail;
	}
	if ((obj = json_object()) == NULL || (arr = json_array()) == NULL)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		pb_api_peer_terminate(&copy[i]);
		if (json_array_append_new(arr, pb_api_peer_json(&copy[i], req->authed)) < 0)
			goto fail;
	}
	if (pb_api_set(obj, "peers", arr) < 0) {
		arr = NULL;
		goto fail;
	}
	arr = NULL;
	if (pb_api_set(obj, "generated", pb_api_json_time(generated, 3)) < 0 ||
	    pb_api_set(obj, "generated_age_ms", pb_api_age_ms(generated)) < 0 ||
	    pb_api_set(obj, "tunnel", b != NULL ? pb_api_tunnel_json(&tc) : json_null()) < 0)
		goto fail;
	free(copy);
	*body = obj;
	return MHD_HTTP_OK;
fail:
	free(copy);
	json_decref(arr);
	json_decref(obj);
	*body = NULL;
	return MHD_HTTP_INTERNAL_SERVER_ERROR;
}

/* GET /api/v1/peers/{name} */
unsigned int
pb_api_get_peer(const struct pb_api_req *req, json_t **body)
{
	struct pb_bridge *b = req->view->bridge;
	struct pb_peer_snap *one;
	bool found = false;

	if (strlen(req->arg) >= sizeof(one->name)) {
		*body = pb_api_error("peer name too long (max %zu bytes)",
		    sizeof(one->name) - 1);
		return MHD_HTTP_BAD_REQUEST;
	}
	/* ~800 bytes: off the MHD thread's stack. */
	if ((one = malloc(sizeof(*one))) == NULL) {
		*body = NULL;
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	if (b != NULL) {
		pthread_mutex_lock(&b->lock);
		for (size_t i = 0; b->peers != NULL && i < b->npeers; i++) {
			if (strncmp(b->peers[i].name, req->arg, sizeof(one->name)) == 0) {
				memcpy(one, &b->peers[i], sizeof(*one));
				found = true;
				break;
			}
		}
		pthread_mutex_unlock(&b->lock);
	}
	if (!found) {
		free(one);
		*body = pb_api_error("unknown peer '%s'", req->arg);
		return MHD_HTTP_NOT_FOUND;
	}
	pb_api_peer_terminate(one);
	*body = pb_api_peer_json(one, req->authed);
	free(one);
	return *body != NULL ? MHD_HTTP_OK : MHD_HTTP_INTERNAL_SERVER_ERROR;
}
