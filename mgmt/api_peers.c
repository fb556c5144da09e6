/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_internal.h"
#include "pubstate.h"
#include "clock.h"

/*
 * Tunnel peers: the engine republishes pubstate->peers wholesale under
 * pubstate->lock; we copy it out under the lock and build JSON afterwards, so
 * the engine never waits on jansson.
 */

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
	    PB_API_U64(obj, p, dlq_announced) < 0 ||
	    PB_API_U64(obj, p, acked_elsewhere) < 0)
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
	    pb_api_set(obj, "state", json_string(pb_fmt_link_state_name(
		pb_fmt_link_state(p->state)))) < 0 ||
	    pb_api_set(obj, "direction", pb_api_json_string(p->direction)) < 0 ||
	    pb_api_set(obj, "origin", pb_api_json_string(p->origin)) < 0 ||
	    pb_api_set(obj, "address", pb_api_json_string(p->address)) < 0 ||
	    pb_api_set(obj, "tls", p->tls < 0 ? json_null() : json_boolean(p->tls)) < 0)
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
	    PB_API_U64(obj, p, failovers) < 0 ||
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

int
pb_api_peers_copy(struct pb_pubstate *b, struct pb_peer_snap **peers, size_t *n,
    uint64_t *generated, struct pb_api_tunnel_counters *tc)
{
	struct pb_peer_snap *copy = NULL;
	size_t k;

	pthread_mutex_lock(&b->lock);
	k = b->peers != NULL ? b->npeers : 0;
	if (k > 0 && (copy = calloc(k, sizeof(*copy))) != NULL)
		memcpy(copy, b->peers, k * sizeof(*copy));
	*generated = b->peers_generated_ns;
	tc->loops_dropped = b->loops_dropped;
	tc->hop_limit_dropped = b->hop_limit_dropped;
	tc->origin_duplicates = b->origin_duplicates;
	tc->link_records = b->link_records;
	tc->auth_failures = b->auth_failures;
	tc->protocol_errors = b->protocol_errors;
	tc->refused = b->refused;
	pthread_mutex_unlock(&b->lock);
	if (k > 0 && copy == NULL)
		return -1;
	for (size_t i = 0; i < k; i++)
		pb_api_peer_terminate(&copy[i]);
	*peers = copy;
	*n = k;
	return 0;
}

/* GET /api/v1/peers */
unsigned int
pb_api_get_peers(const struct pb_api_req *req, json_t **body)
{
	struct pb_pubstate *b = req->view->pubstate;
	struct pb_api_tunnel_counters tc = { 0 };
	struct pb_peer_snap *copy = NULL;
	uint64_t generated = 0;
	size_t n = 0;
	json_t *obj = NULL, *arr = NULL;

	if (b != NULL && pb_api_peers_copy(b, &copy, &n, &generated, &tc) < 0)
		goto fail;
	if ((obj = json_object()) == NULL || (arr = json_array()) == NULL)
		goto fail;
	for (size_t i = 0; i < n; i++) {
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
	struct pb_pubstate *b = req->view->pubstate;
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
