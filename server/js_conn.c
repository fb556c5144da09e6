/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "jetstream.h"
#include "js_int.h"

size_t
pb_js_subject(char *buf, size_t len, const char *prefix, uint32_t node, uint16_t source,
    uint64_t epoch)
{
	int n = snprintf(buf, len, "%s.%" PRIu32 ".%u.%" PRIu64, prefix, node, source, epoch);
	return n < 0 || (size_t)n >= len ? 0 : (size_t)n;
}

void
pb_js_errtext(char *buf, size_t len, natsStatus s, jsErrCode je, const char *what)
{
	const char *last = nats_GetLastError(NULL);
	if (je)
		snprintf(buf, len, "%s: %s (JetStream error %d)", what,
		    last && *last ? last : natsStatus_GetText(s), (int)je);
	else
		snprintf(buf, len, "%s: %s", what, last && *last ? last : natsStatus_GetText(s));
}

natsOptions *
pb_js_options(const struct pb_jetstream_cfg *cfg, const struct pb_js_conn_cbs *cbs, char *err,
    size_t errlen)
{
	natsOptions *o = NULL;
	const char *urls[PB_JS_MAX_SERVERS];
	natsStatus s = natsOptions_Create(&o);

	for (size_t i = 0; i < cfg->nservers; i++)
		urls[i] = cfg->servers[i];
	if (s == NATS_OK)
		s = natsOptions_SetServers(o, urls, (int)cfg->nservers);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(o, PB_JS_CONNECT_TIMEOUT_MS);
	/* Never give up: the links pause while the cluster is away. */
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(o, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(o, PB_JS_RECONNECT_WAIT_MS);
	if (s == NATS_OK)
		s = natsOptions_SetRetryOnFailedConnect(o, true, NULL, NULL);
	if (s == NATS_OK && cfg->token[0])
		s = natsOptions_SetToken(o, cfg->token);
	if (s == NATS_OK && cfg->creds_file[0])
		s = natsOptions_SetUserCredentialsFromFiles(o, cfg->creds_file, NULL);
	if (s == NATS_OK && cfg->tls_ca[0]) {
		s = natsOptions_SetSecure(o, true);
		if (s == NATS_OK)
			s = natsOptions_LoadCATrustedCertificates(o, cfg->tls_ca);
	}
	if (s == NATS_OK && cbs) {
		if (cbs->disconnected)
			s = natsOptions_SetDisconnectedCB(o, cbs->disconnected, cbs->arg);
		if (s == NATS_OK && cbs->reconnected)
			s = natsOptions_SetReconnectedCB(o, cbs->reconnected, cbs->arg);
		if (s == NATS_OK && cbs->closed)
			s = natsOptions_SetClosedCB(o, cbs->closed, cbs->arg);
	}
	if (s != NATS_OK) {
		pb_js_errtext(err, errlen, s, 0, "NATS options");
		natsOptions_Destroy(o);
		return NULL;
	}
	return o;
}

int
pb_js_ensure_stream(jsCtx *js, const struct pb_jetstream_cfg *cfg, char *err, size_t errlen)
{
	jsStreamInfo *si = NULL;
	jsErrCode je = 0;
	natsStatus s = js_GetStreamInfo(&si, js, cfg->stream, NULL, &je);

	if (s == NATS_OK) {
		jsStreamInfo_Destroy(si);
		return 0;
	}
	if (s != NATS_NOT_FOUND && je != JSStreamNotFoundErr) {
		pb_js_errtext(err, errlen, s, je, "stream info");
		return -1;
	}
	if (!cfg->create) {
		snprintf(err, errlen, "stream '%s' does not exist (create = false)", cfg->stream);
		return -1;
	}
	char subj[PB_JS_PREFIX_MAX + 4];
	const char *subjects[1] = { subj };
	jsStreamConfig sc;
	snprintf(subj, sizeof(subj), "%s.>", cfg->subject_prefix);
	jsStreamConfig_Init(&sc);
	sc.Name = cfg->stream;
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage;
	sc.Replicas = (int64_t)cfg->replicas;
	sc.Duplicates = (int64_t)120 * 1000000000LL;
	sc.AllowDirect = true;
	s = js_AddStream(&si, js, &sc, NULL, &je);
	if (s != NATS_OK) {
		pb_js_errtext(err, errlen, s, je, "creating the stream");
		return -1;
	}
	jsStreamInfo_Destroy(si);
	return 0;
}

int
pb_js_queue_init(struct pb_js_queue *q)
{
	memset(q, 0, sizeof(*q));
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->efd < 0)
		return -1;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	return 0;
}

void
pb_js_queue_free(struct pb_js_queue *q)
{
	if (q->efd < 0)
		return;
	close(q->efd);
	q->efd = -1;
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
	free(q->v);
	q->v = NULL;
}

int
pb_js_queue_push(struct pb_js_queue *q, void *item)
{
	pthread_mutex_lock(&q->lock);
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 64;
		void **v = malloc(cap * sizeof(*v));
		if (!v) {
			pthread_mutex_unlock(&q->lock);
			return -1;
		}
		for (size_t i = 0; i < q->n; i++)
			v[i] = q->v[(q->head + i) % q->cap];
		free(q->v);
		q->v = v;
		q->cap = cap;
		q->head = 0;
	}
	q->v[(q->head + q->n++) % q->cap] = item;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	uint64_t one = 1;
	ssize_t r = write(q->efd, &one, sizeof(one));
	(void)r; /* EAGAIN: the counter is saturated, the loop wakes anyway */
	return 0;
}

void *
pb_js_queue_pop_locked(struct pb_js_queue *q)
{
	if (!q->n)
		return NULL;
	void *item = q->v[q->head];
	q->head = (q->head + 1) % q->cap;
	q->n--;
	return item;
}

void
pb_js_queue_ack_wakeup(struct pb_js_queue *q)
{
	uint64_t v;
	ssize_t r = read(q->efd, &v, sizeof(v));
	(void)r;
}

void
pb_js_stats_set_server(struct pb_js_stats *st, const char *url)
{
	pthread_mutex_lock(&st->lock);
	snprintf(st->server, sizeof(st->server), "%s", url);
	pthread_mutex_unlock(&st->lock);
}

void
pb_js_stats_set_error(struct pb_js_stats *st, const char *text)
{
	pthread_mutex_lock(&st->lock);
	snprintf(st->last_error, sizeof(st->last_error), "%s", text);
	pthread_mutex_unlock(&st->lock);
}
