/* SPDX-License-Identifier: Apache-2.0 */
/* JetStream publish limit on this machine: N messages of S bytes, async, with
 * Nats-Msg-Id (dedup), into a stream of R replicas. Prints msgs/s.
 * cc -O2 jsbench.c -o jsbench $(pkg-config --cflags --libs libnats) */
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static volatile int64_t acked, failed;
static void on_ack(jsCtx *js, natsMsg *m, jsPubAck *pa, jsPubAckErr *pae, void *c) {
	(void)js; (void)c; (void)pa;
	if (pae) failed++; else acked++;
	natsMsg_Destroy(m);
}
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
	if (argc < 5) { fprintf(stderr, "usage: jsbench URL N SIZE REPLICAS [nodedup]\n"); return 2; }
	const char *url = argv[1]; long n = atol(argv[2]); int size = atoi(argv[3]), rep = atoi(argv[4]);
	int dedup = !(argc > 5 && !strcmp(argv[5], "nodedup"));
	natsConnection *nc; jsCtx *js; jsOptions jo; jsStreamConfig sc; jsErrCode je = 0;
	if (natsConnection_ConnectTo(&nc, url) != NATS_OK) { fprintf(stderr, "connect failed\n"); return 1; }
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = 65536;
	jo.PublishAsync.AckHandler = on_ack;
	natsConnection_JetStream(&js, nc, &jo);
	jsStreamConfig_Init(&sc);
	sc.Name = "PB"; const char *subj[] = {"pb.>"}; sc.Subjects = subj; sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage; sc.Replicas = rep; sc.Duplicates = (int64_t)120 * 1000000000LL;
	js_DeleteStream(js, "PB", NULL, NULL);
	natsStatus s = js_AddStream(NULL, js, &sc, NULL, &je);
	if (s != NATS_OK) { fprintf(stderr, "add stream: %s (%d)\n", natsStatus_GetText(s), je); return 1; }
	char *buf = calloc(1, size); char id[64];
	double t0 = now();
	for (long i = 1; i <= n; i++) {
		natsMsg *m; natsMsg_Create(&m, "pb.1.0", NULL, buf, size);
		if (dedup) { snprintf(id, sizeof id, "1/0/42/%ld", i); natsMsgHeader_Set(m, "Nats-Msg-Id", id); }
		s = js_PublishMsgAsync(js, &m, NULL);
		if (s != NATS_OK) { fprintf(stderr, "publish %ld: %s\n", i, natsStatus_GetText(s)); return 1; }
	}
	jsPubOptions po; jsPubOptions_Init(&po); po.MaxWait = 60000;
	s = js_PublishAsyncComplete(js, &po);
	double dt = now() - t0;
	printf("jetstream R%d %ld x %d B: %.2f s = %.0f msg/s, %.2f Gbit/s, acked %lld failed %lld%s\n", rep, n, size, dt,
	       n / dt, n * (double)size * 8 / dt / 1e9, (long long)acked, (long long)failed, s == NATS_OK ? "" : " (incomplete)");
	jsCtx_Destroy(js); natsConnection_Destroy(nc); nats_Close();
	return 0;
}
