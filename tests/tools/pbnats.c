/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

/*
 * pbnats: what the jetstream tests need from a NATS client, without the
 * packetbroker code paths under test.
 *
 *   pbnats URL create STREAM REPLICAS SUBJECT...   create a stream (file
 *                                                  store, the jetstream
 *                                                  sink's duplicate window
 *                                                  and direct get)
 *   pbnats URL pub SUBJECT PAYLOAD [KEY=VALUE...]  publish into JetStream
 *   pbnats URL check STREAM PREFIX                 audit the stream
 *   pbnats URL delete STREAM                       delete a stream
 *   pbnats URL cinfo STREAM DURABLE                a consumer: "ack_pending=A
 *                                                  max_ack_pending=M
 *                                                  delivered=D" (D: stream
 *                                                  seq last delivered)
 *
 * check reads every message (by stream sequence) and prints
 * "messages=M records=R foreign=F subjects=S bytes=B": packetbroker messages
 * (subject under PREFIX and Pb-Format: pb-wire-1), the sum of their
 * Pb-Count, the others, the subjects seen, and the stream's bytes. It fails (exit 1) when an
 * origin seq is in a subject twice (a duplicate in the store; messages need
 * not be monotonic, late records fill holes) or a payload does not hold
 * Pb-Count RECORDs. PBNATS_LIST=1 lists
 * every packetbroker message (stream seq, subject, ids, range) on the way.
 * Exit 2 = usage/error.
 */

#include <nats/nats.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SUBJECTS 4096

struct subj {
	char name[256];
};

/* Every stored record: (subject index, origin seq), sorted at the end. */
struct rec_key {
	uint64_t subj, seq;
};
static struct rec_key *keys;
static size_t nkeys, capkeys;

static int
key_cmp(const void *a, const void *b)
{
	const struct rec_key *x = a, *y = b;
	if (x->subj != y->subj)
		return x->subj < y->subj ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static uint64_t
be64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* The origin seqs of the payload's RECORDs (wire type 6, origin_seq at
 * body offset 24) into keys; returns how many, or -1 if malformed. */
static long
payload_records(const unsigned char *p, size_t len, uint64_t subj)
{
	long n = 0;
	for (size_t off = 0; off < len;) {
		if (len - off < 8 || p[off] != 0x50 || p[off + 1] != 0x42)
			return -1;
		uint32_t blen = (uint32_t)p[off + 4] << 24 | (uint32_t)p[off + 5] << 16 |
		    (uint32_t)p[off + 6] << 8 | p[off + 7];
		if (blen > len - off - 8)
			return -1;
		if (p[off + 3] == 6) {
			if (blen < 32)
				return -1;
			if (nkeys == capkeys) {
				capkeys = capkeys ? capkeys * 2 : 65536;
				if (!(keys = realloc(keys, capkeys * sizeof(*keys))))
					return -1;
			}
			keys[nkeys++] = (struct rec_key){ subj, be64(p + off + 8 + 24) };
			n++;
		}
		off += 8 + (size_t)blen;
	}
	return n;
}

static uint64_t
hdr_u64(natsMsg *m, const char *k, bool *ok)
{
	const char *v = NULL;
	char *end;
	if (natsMsgHeader_Get(m, k, &v) != NATS_OK || !v || !*v) {
		*ok = false;
		return 0;
	}
	uint64_t x = strtoull(v, &end, 10);
	if (*end)
		*ok = false;
	return x;
}

/* A cluster that just lost a server answers "JetStream system temporarily
 * unavailable" or times out until a new leader is elected: the audit
 * waits for it (20 s at most) instead of failing the test. */
#define RETRY_MS 250
#define RETRIES 80

static natsStatus
get_msg(natsMsg **m, jsCtx *js, const char *stream, uint64_t seq, jsErrCode *je)
{
	natsStatus s = NATS_OK;
	for (int i = 0; i < RETRIES; i++) {
		s = js_GetMsg(m, js, stream, seq, NULL, je);
		if (s == NATS_OK || s == NATS_NOT_FOUND)
			break;
		nats_Sleep(RETRY_MS);
	}
	return s;
}

static natsStatus
stream_info(jsStreamInfo **si, jsCtx *js, const char *stream, jsErrCode *je)
{
	natsStatus s = NATS_OK;
	for (int i = 0; i < RETRIES; i++) {
		s = js_GetStreamInfo(si, js, stream, NULL, je);
		if (s == NATS_OK || s == NATS_NOT_FOUND)
			break;
		nats_Sleep(RETRY_MS);
	}
	return s;
}

static int
cmd_check(jsCtx *js, const char *stream, const char *prefix)
{
	static struct subj subs[MAX_SUBJECTS];
	size_t nsubs = 0, plen = strlen(prefix);
	uint64_t msgs = 0, recs = 0, foreign = 0;
	jsStreamInfo *si = NULL;
	jsErrCode je = 0;
	int bad = 0;

	if (stream_info(&si, js, stream, &je) != NATS_OK) {
		fprintf(stderr, "pbnats: stream info: %s (%d)\n", nats_GetLastError(NULL), (int)je);
		return 2;
	}
	uint64_t first = si->State.FirstSeq, last = si->State.LastSeq, bytes = si->State.Bytes;
	jsStreamInfo_Destroy(si);
	for (uint64_t seq = first; seq && seq <= last; seq++) {
		natsMsg *m = NULL;
		natsStatus s = get_msg(&m, js, stream, seq, &je);
		if (s == NATS_NOT_FOUND)
			continue; /* deleted */
		if (s != NATS_OK) {
			fprintf(stderr, "pbnats: get %" PRIu64 ": %s\n", seq, nats_GetLastError(NULL));
			return 2;
		}
		const char *subj = natsMsg_GetSubject(m), *fmt = NULL;
		bool ok = strncmp(subj, prefix, plen) == 0 && subj[plen] == '.' &&
		    natsMsgHeader_Get(m, "Pb-Format", &fmt) == NATS_OK && fmt &&
		    strcmp(fmt, "pb-wire-1") == 0;
		uint64_t cnt = hdr_u64(m, "Pb-Count", &ok), f = hdr_u64(m, "Pb-First-Seq", &ok),
		    l = hdr_u64(m, "Pb-Last-Seq", &ok);
		if (!ok) {
			foreign++;
			natsMsg_Destroy(m);
			continue;
		}
		if (getenv("PBNATS_LIST")) {
			const char *id = NULL, *ex = NULL, *hi = NULL, *ho = NULL;
			natsMsgHeader_Get(m, "Nats-Msg-Id", &id);
			natsMsgHeader_Get(m, "Nats-Expected-Last-Subject-Sequence", &ex);
			natsMsgHeader_Get(m, "Pb-High", &hi);
			natsMsgHeader_Get(m, "Pb-Holes", &ho);
			printf("%" PRIu64 " %s id=%s expect=%s %" PRIu64 "..%" PRIu64 " high=%s holes=%s\n",
			    seq, subj, id ? id : "-", ex ? ex : "-", f, l, hi ? hi : "-", ho ? ho : "");
		}
		msgs++;
		recs += cnt;
		size_t i;
		for (i = 0; i < nsubs && strcmp(subs[i].name, subj) != 0; i++)
			;
		if (i == nsubs && nsubs < MAX_SUBJECTS)
			snprintf(subs[nsubs++].name, sizeof(subs[0].name), "%s", subj);
		long n = payload_records((const unsigned char *)natsMsg_GetData(m),
		    (size_t)natsMsg_GetDataLength(m), i);
		if (n < 0 || (uint64_t)n != cnt) {
			fprintf(stderr, "pbnats: %s: stream seq %" PRIu64 " has %ld RECORDs, Pb-Count %"
			    PRIu64 "\n", subj, seq, n, cnt);
			bad = 1;
		}
		natsMsg_Destroy(m);
	}
	qsort(keys, nkeys, sizeof(*keys), key_cmp);
	for (size_t k = 1; k < nkeys; k++) {
		if (keys[k].subj == keys[k - 1].subj && keys[k].seq == keys[k - 1].seq) {
			fprintf(stderr, "pbnats: %s: origin seq %" PRIu64 " stored twice (duplicate)\n",
			    keys[k].subj < nsubs ? subs[keys[k].subj].name : "?", keys[k].seq);
			bad = 1;
		}
	}
	free(keys);
	printf("messages=%" PRIu64 " records=%" PRIu64 " foreign=%" PRIu64 " subjects=%zu bytes=%"
	    PRIu64 "\n", msgs, recs, foreign, nsubs, bytes);
	return bad;
}

int
main(int argc, char **argv)
{
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	jsErrCode je = 0;
	int rc = 2;

	if (argc < 4) {
		fprintf(stderr, "usage: pbnats URL create STREAM REPLICAS SUBJECT... | pub SUBJECT "
		    "PAYLOAD [KEY=VALUE...] | check STREAM PREFIX | delete STREAM | cinfo STREAM DURABLE\n");
		return 2;
	}
	if (natsConnection_ConnectTo(&nc, argv[1]) != NATS_OK ||
	    natsConnection_JetStream(&js, nc, NULL) != NATS_OK) {
		fprintf(stderr, "pbnats: connect %s: %s\n", argv[1], nats_GetLastError(NULL));
		return 2;
	}
	if (strcmp(argv[2], "create") == 0 && argc >= 6) {
		jsStreamConfig sc;
		jsStreamConfig_Init(&sc);
		sc.Name = argv[3];
		sc.Replicas = atoi(argv[4]);
		sc.Subjects = (const char **)&argv[5];
		sc.SubjectsLen = argc - 5;
		sc.Storage = js_FileStorage;
		/* As server/js_conn.c creates it, so that a sink with create =
		 * false finds what it would have made. */
		sc.Duplicates = (int64_t)120 * 1000000000LL;
		sc.AllowDirect = true;
		rc = js_AddStream(NULL, js, &sc, NULL, &je) == NATS_OK ? 0 : 2;
		if (rc)
			fprintf(stderr, "pbnats: create: %s (%d)\n", nats_GetLastError(NULL), (int)je);
	} else if (strcmp(argv[2], "pub") == 0 && argc >= 5) {
		natsMsg *m = NULL;
		natsMsg_Create(&m, argv[3], NULL, argv[4], (int)strlen(argv[4]));
		for (int i = 5; i < argc; i++) {
			char *eq = strchr(argv[i], '=');
			if (!eq)
				continue;
			*eq = '\0';
			natsMsgHeader_Set(m, argv[i], eq + 1);
		}
		jsPubAck *pa = NULL;
		rc = js_PublishMsg(&pa, js, m, NULL, &je) == NATS_OK ? 0 : 2;
		if (rc)
			fprintf(stderr, "pbnats: pub: %s (%d)\n", nats_GetLastError(NULL), (int)je);
		jsPubAck_Destroy(pa);
		natsMsg_Destroy(m);
	} else if (strcmp(argv[2], "delete") == 0) {
		rc = js_DeleteStream(js, argv[3], NULL, &je) == NATS_OK ? 0 : 2;
	} else if (strcmp(argv[2], "cinfo") == 0 && argc >= 5) {
		jsConsumerInfo *ci = NULL;
		rc = js_GetConsumerInfo(&ci, js, argv[3], argv[4], NULL, &je) == NATS_OK ? 0 : 2;
		if (rc)
			fprintf(stderr, "pbnats: cinfo: %s (%d)\n", nats_GetLastError(NULL), (int)je);
		else
			printf("ack_pending=%" PRId64 " max_ack_pending=%" PRId64 " delivered=%" PRIu64 "\n",
			    ci->NumAckPending, ci->Config->MaxAckPending, ci->Delivered.Stream);
		jsConsumerInfo_Destroy(ci);
	} else if (strcmp(argv[2], "check") == 0 && argc >= 5) {
		rc = cmd_check(js, argv[3], argv[4]);
	} else {
		fprintf(stderr, "pbnats: bad command\n");
	}
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	nats_Close();
	return rc;
}
