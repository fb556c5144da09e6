/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>
#include <net-snmp/agent/net-snmp-agent-includes.h>
#include <net-snmp/agent/agent_callbacks.h>

#include "clock.h"
#include "log.h"
#include "snmp.h"
#include "snmp_int.h"

/*
 * The net-snmp side of the agent. net-snmp's traditional API is not thread
 * safe (README.thread), so everything from init_agent() to snmp_shutdown()
 * runs on the one thread started here, in agent_check_and_process(). Two
 * things wake it besides SNMP packets: an eventfd (stop) and a 250 ms
 * alarm that copies the engine's published state and turns differences
 * into notifications. Requests are answered from the latest copy,
 * refreshed first when it is older than 100 ms.
 */

#define PB_SNMP_APP "packetbrokerd"
#define PB_SNMP_POLL_US 250000
#define PB_SNMP_FRESH_NS (100 * PB_NSEC_PER_MSEC)
#define PB_SNMP_START_WAIT_S 10

struct pb_snmp {
	struct pb_snmp_cfg cfg;
	const struct pb_view *view;
	pthread_t thread;
	int stopfd;
	bool stopping;                    /* SNMP thread */
	/* start handshake */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int init;                         /* 0 pending, 1 running, -1 failed */
	char err[512];
	char last_log[256];               /* net-snmp's last warning, for err */
	bool master_missing;              /* AgentX: said so already */
	/* SNMP thread only */
	netsnmp_handler_registration *reg;
	unsigned int alarm;
	struct pb_snmp_data data[2];
	int cur;                          /* data[cur] is the latest */
	bool have_data;
	struct pb_snmp_model model;
	struct pb_snmp_tracker tracker;
	uint64_t traps_sent;
};

static const oid pb_snmp_root[] = { PB_SNMP_ROOT };
/* net-snmp frees callbacks' client arguments at shutdown: ours read the
 * one agent (net-snmp is per process) from here instead. */
static struct pb_snmp *pb_snmp_self;
static atomic_flag pb_snmp_taken = ATOMIC_FLAG_INIT; /* one agent per process */
static const oid pb_snmp_trap_oid[] = { 1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0 };

/* ---- logging ---- */

static int
pb_snmp_log(int major, int minor, void *serverarg, void *clientarg)
{
	const struct snmp_log_message *m = serverarg;
	struct pb_snmp *s = pb_snmp_self;
	char msg[512];
	size_t n;

	if (m == NULL || m->msg == NULL)
		return 0;
	n = strnlen(m->msg, sizeof(msg) - 1);
	memcpy(msg, m->msg, n);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		n--;
	msg[n] = '\0';
	if (n == 0)
		return 0;
	/* Said for every request, or true of snmpd but not of us (we do the
	 * access control, and load no MIB files). */
	if (strncmp(msg, "Connection from", 15) == 0 || strncmp(msg, "MIB search path", 15) == 0 ||
	    strncmp(msg, "Warning: no access control information", 38) == 0) {
		log_debug("snmp", "libsnmp: %s", msg);
		return 0;
	}
	/* A missing master: said once, then at every retry. */
	if (strncmp(msg, "Warning: Failed to connect to the agentx master", 47) == 0) {
		if (s->master_missing) {
			log_debug("snmp", "libsnmp: %s", msg);
			return 0;
		}
		s->master_missing = true;
		log_warnx("snmp", "AgentX master not reachable (%s); retrying every %u s",
		    s->cfg.agentx_socket, s->cfg.agentx_retry_s);
		return 0;
	}
	if (strstr(msg, "AgentX subagent connected") != NULL) {
		s->master_missing = false;
		log_info("snmp", "AgentX subagent connected to %s", s->cfg.agentx_socket);
		return 0;
	}
	if (m->priority <= LOG_WARNING) {
		log_warnx("snmp", "libsnmp: %s", msg);
		snprintf(s->last_log, sizeof(s->last_log), "%.200s", msg);
	} else if (m->priority <= LOG_INFO) {
		log_info("snmp", "libsnmp: %s", msg);
	} else {
		log_debug("snmp", "libsnmp: %s", msg);
	}
	return 0;
}

/* ---- values ---- */

static size_t
pb_snmp_full_oid(const struct pb_snmp_var *x, oid *out)
{
	memcpy(out, pb_snmp_root, sizeof(pb_snmp_root));
	for (size_t i = 0; i < x->len; i++)
		out[PB_SNMP_ROOT_LEN + i] = x->oid[i];
	return PB_SNMP_ROOT_LEN + x->len;
}

static void
pb_snmp_set_value(netsnmp_variable_list *vb, const struct pb_snmp_var *x)
{
	static const u_char types[] = {
		[PB_SNMP_INTEGER] = ASN_INTEGER, [PB_SNMP_UNSIGNED] = ASN_UNSIGNED,
		[PB_SNMP_GAUGE] = ASN_GAUGE, [PB_SNMP_TIMETICKS] = ASN_TIMETICKS,
	};
	struct counter64 c64;
	unsigned char be[8];
	long l;

	switch (x->type) {
	case PB_SNMP_COUNTER64:
		c64.high = (u_long)(x->num >> 32);
		c64.low = (u_long)(x->num & 0xffffffffu);
		snmp_set_var_typed_value(vb, ASN_COUNTER64, &c64, sizeof(c64));
		return;
	case PB_SNMP_STRING:
		snmp_set_var_typed_value(vb, ASN_OCTET_STR, x->str, x->slen);
		return;
	case PB_SNMP_RUN_EPOCH:
		for (int i = 0; i < 8; i++)
			be[i] = (unsigned char)(x->num >> (56 - 8 * i));
		snmp_set_var_typed_value(vb, ASN_OCTET_STR, be, sizeof(be));
		return;
	default:
		l = (long)(x->type == PB_SNMP_INTEGER ? x->num : x->num & 0xffffffffu);
		snmp_set_var_typed_value(vb, types[x->type], &l, sizeof(l));
		return;
	}
}

/* ---- the published state: refresh, notifications ---- */

static void
pb_snmp_trap_add(netsnmp_variable_list **vars, const struct pb_snmp_var *x)
{
	oid full[PB_SNMP_ROOT_LEN + PB_SNMP_SUFFIX_MAX];
	size_t len = pb_snmp_full_oid(x, full);
	netsnmp_variable_list *vb = snmp_varlist_add_variable(vars, full, len, ASN_NULL,
	    NULL, 0);

	if (vb != NULL)
		pb_snmp_set_value(vb, x);
}

static void
pb_snmp_send(struct pb_snmp *s, const struct pb_snmp_event *ev)
{
	static const int peer_down[] = { PB_SNMP_P_NAME, PB_SNMP_P_ADDRESS, PB_SNMP_P_STATE,
		PB_SNMP_P_LAST_ERROR };
	static const int gap[] = { PB_SNMP_G_NAME, PB_SNMP_G_MISSING, PB_SNMP_G_RANGES };
	const struct pb_snmp_data *d = &s->data[s->cur];
	oid trap[PB_SNMP_ROOT_LEN + 2];
	netsnmp_variable_list *vars = NULL;
	struct pb_snmp_var x;

	memcpy(trap, pb_snmp_root, sizeof(pb_snmp_root));
	trap[PB_SNMP_ROOT_LEN] = PB_SNMP_NOTIFS;
	trap[PB_SNMP_ROOT_LEN + 1] = (oid)(ev->type == PB_SNMP_EV_PEER_DOWN ? PB_SNMP_N_PEER_DOWN :
	    ev->type == PB_SNMP_EV_PEER_UP ? PB_SNMP_N_PEER_UP :
	    ev->type == PB_SNMP_EV_GAP ? PB_SNMP_N_GAP : PB_SNMP_N_DLQ);
	if (snmp_varlist_add_variable(&vars, pb_snmp_trap_oid, OID_LENGTH(pb_snmp_trap_oid),
	    ASN_OBJECT_ID, trap, sizeof(trap)) == NULL)
		return;
	switch (ev->type) {
	case PB_SNMP_EV_PEER_DOWN:
	case PB_SNMP_EV_PEER_UP:
		for (size_t i = 0; i < (ev->type == PB_SNMP_EV_PEER_UP ? 3u : 4u); i++) {
			pb_snmp_peer_var(&s->tracker.peers[ev->peer], peer_down[i], &x);
			pb_snmp_trap_add(&vars, &x);
		}
		log_info("snmp", "notification %s: peer %s is %s",
		    ev->type == PB_SNMP_EV_PEER_UP ? "pbPeerUp" : "pbPeerDown",
		    s->tracker.peers[ev->peer].name,
		    pb_fmt_link_state_name(s->tracker.peers[ev->peer].state));
		break;
	case PB_SNMP_EV_GAP:
		for (size_t i = 0; i < sizeof(gap) / sizeof(gap[0]); i++) {
			pb_snmp_gap_var(&d->gaps->streams[ev->stream],
			    s->model.origin_names != NULL ? s->model.origin_names[ev->stream] : "",
			    gap[i], &x);
			pb_snmp_trap_add(&vars, &x);
		}
		break;
	default:
		pb_snmp_scalar_var(PB_SNMP_TOTALS, PB_SNMP_T_DLQ_DEPTH, d->totals.dlq_rows, &x);
		pb_snmp_trap_add(&vars, &x);
		pb_snmp_scalar_var(PB_SNMP_TOTALS, PB_SNMP_T_DLQ_THRESHOLD, s->tracker.dlq_threshold,
		    &x);
		pb_snmp_trap_add(&vars, &x);
		log_info("snmp", "notification pbDlqThreshold: DLQ depth %llu >= %llu",
		    (unsigned long long)d->totals.dlq_rows,
		    (unsigned long long)s->tracker.dlq_threshold);
		break;
	}
	send_v2trap(vars);
	snmp_free_varbind(vars);
	s->traps_sent++;
}

static void
pb_snmp_refresh(struct pb_snmp *s)
{
	struct pb_snmp_data *next = &s->data[s->cur ^ 1];

	pb_snmp_data_free(next);
	if (pb_snmp_data_load(s->view, next) < 0) {
		log_warnx_rl("snmp", "out of memory copying the engine's state: answers "
		    "stay at the last copy");
		return;
	}
	if (pb_snmp_track(&s->tracker, s->have_data ? &s->data[s->cur] : NULL, next) < 0)
		log_warnx_rl("snmp", "out of memory tracking peers: notifications may be "
		    "missing");
	pb_snmp_model_free(&s->model);
	if (pb_snmp_model_build(&s->model, s->view, next, &s->tracker) < 0)
		log_warnx_rl("snmp", "out of memory building the MIB: requests get no "
		    "answer until the next copy");
	s->cur ^= 1;
	s->have_data = true;
	pb_snmp_data_free(&s->data[s->cur ^ 1]);
	for (size_t i = 0; i < s->tracker.nevents; i++)
		pb_snmp_send(s, &s->tracker.events[i]);
}

static void
pb_snmp_alarm(unsigned int reg, void *arg)
{
	pb_snmp_refresh(arg);
}

/* ---- requests ---- */

/* The request OID below our root: -1 before it, 1 after it, 0 within (suffix
 * in out, cut at PB_SNMP_SUFFIX_MAX: no instance is longer). */
static int
pb_snmp_suffix(const oid *name, size_t len, uint32_t *out, size_t *outlen)
{
	size_t n = len < PB_SNMP_ROOT_LEN ? len : PB_SNMP_ROOT_LEN;
	int c = snmp_oid_compare(name, n, pb_snmp_root, n);

	if (c != 0)
		return c;
	if (len < PB_SNMP_ROOT_LEN)
		return -1;
	*outlen = 0;
	for (size_t i = PB_SNMP_ROOT_LEN; i < len && *outlen < PB_SNMP_SUFFIX_MAX; i++)
		out[(*outlen)++] = (uint32_t)name[i];
	return 0;
}

static void
pb_snmp_answer(netsnmp_variable_list *vb, const struct pb_snmp_var *x, bool set_name)
{
	oid full[PB_SNMP_ROOT_LEN + PB_SNMP_SUFFIX_MAX];

	if (set_name)
		snmp_set_var_objid(vb, full, pb_snmp_full_oid(x, full));
	pb_snmp_set_value(vb, x);
}

static int
pb_snmp_handler(netsnmp_mib_handler *handler, netsnmp_handler_registration *reg,
    netsnmp_agent_request_info *reqinfo, netsnmp_request_info *requests)
{
	struct pb_snmp *s = handler->myvoid;

	if ((reqinfo->mode == MODE_GET || reqinfo->mode == MODE_GETNEXT) &&
	    (!s->have_data || pb_mono_ns() - s->data[s->cur].mono_ns > PB_SNMP_FRESH_NS))
		pb_snmp_refresh(s);
	for (netsnmp_request_info *r = requests; r != NULL; r = r->next) {
		netsnmp_variable_list *vb = r->requestvb;
		uint32_t suffix[PB_SNMP_SUFFIX_MAX];
		const struct pb_snmp_var *x = NULL;
		size_t len = 0;
		int where;

		if (r->processed)
			continue;
		where = pb_snmp_suffix(vb->name, vb->name_length, suffix, &len);
		switch (reqinfo->mode) {
		case MODE_GET:
			if (where == 0 && vb->name_length <= PB_SNMP_ROOT_LEN + PB_SNMP_SUFFIX_MAX)
				x = pb_snmp_model_get(&s->model, suffix, len);
			if (x != NULL)
				pb_snmp_answer(vb, x, false);
			else
				netsnmp_set_request_error(reqinfo, r, SNMP_NOSUCHINSTANCE);
			break;
		case MODE_GETNEXT:
			/* Nothing after it here: net-snmp asks the next subtree. */
			if (where < 0)
				x = s->model.n > 0 ? &s->model.vars[0] : NULL;
			else if (where == 0)
				x = pb_snmp_model_next(&s->model, suffix, len);
			if (x != NULL)
				pb_snmp_answer(vb, x, true);
			break;
		default:
			netsnmp_set_request_error(reqinfo, r, SNMP_ERR_NOTWRITABLE);
			break;
		}
	}
	return SNMP_ERR_NOERROR;
}

/*
 * Master agent access control: the one read-only community, v1/v2c only.
 * libnetsnmpagent carries VACM, which refuses everything without snmpd.conf
 * lines; registered after it, these callbacks have the last word: the
 * community of the PDU (INITIAL), then every object of our MIB is in view
 * (the agent serves nothing else).
 */
static int
pb_snmp_acm(int major, int minor, void *serverarg, void *clientarg)
{
	struct view_parameters *vp = serverarg;
	const struct pb_snmp *s = pb_snmp_self;
	const netsnmp_pdu *pdu = vp->pdu;
	size_t want = strlen(s->cfg.community);
	unsigned char diff = 0;

	vp->errorcode = VACM_NOSECNAME;
	if (pdu->version != SNMP_VERSION_1 && pdu->version != SNMP_VERSION_2c)
		return 0;
	if (pdu->community == NULL || pdu->community_len != want)
		return 0;
	for (size_t i = 0; i < want; i++)
		diff |= (unsigned char)(pdu->community[i] ^ (unsigned char)s->cfg.community[i]);
	if (diff == 0)
		vp->errorcode = VACM_SUCCESS;
	return 0;
}

static void
pb_snmp_stopfd(int fd, void *arg)
{
	struct pb_snmp *s = arg;
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("snmp", "stop eventfd");
	s->stopping = true;
}

/* ---- thread ---- */

static void
pb_snmp_report(struct pb_snmp *s, int state, const char *err)
{
	pthread_mutex_lock(&s->lock);
	s->init = state;
	if (err != NULL)
		snprintf(s->err, sizeof(s->err), "%s", err);
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

/* Settings net-snmp must have before init_agent(): nothing read from
 * /etc/snmp or written to /var/lib/snmp, no MIB files loaded, short
 * AgentX timeouts. */
static void
pb_snmp_settings(struct pb_snmp *s)
{
	netsnmp_session dummy;

	snmp_disable_log();
	snmp_enable_calllog();
	snmp_register_callback(SNMP_CALLBACK_LIBRARY, SNMP_CALLBACK_LOGGING, pb_snmp_log, NULL);
	snmp_sess_init(&dummy); /* runs the library defaults now, not over ours later */
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_READ_CONFIGS, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_PERSIST_STATE, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_LOAD, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_SAVE, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_MIB_ERRORS, 0);
	netsnmp_ds_set_int(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_MIB_WARNINGS, 0);
	netsnmp_set_mib_directory("/nonexistent");
	netsnmp_ds_set_boolean(NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_NO_ROOT_ACCESS, 1);
	add_to_init_list("-smux");
	if (s->cfg.agentx) {
		netsnmp_ds_set_boolean(NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_ROLE, 1);
		netsnmp_ds_set_string(NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_X_SOCKET,
		    s->cfg.agentx_socket);
	} else {
		netsnmp_ds_set_string(NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_PORTS,
		    s->cfg.listen);
	}
}

static int
pb_snmp_init(struct pb_snmp *s, char *err, size_t errlen)
{
	static const oid objects[] = { PB_SNMP_ROOT, PB_SNMP_OBJECTS };
	char sink[PB_API_HOST_MAX + 16];

	pb_snmp_settings(s);
	if (init_agent(PB_SNMP_APP) != 0) {
		snprintf(err, errlen, "snmp: net-snmp init_agent failed: %.200s", s->last_log);
		return -1;
	}
	if (s->cfg.agentx) {
		/* After init_agent(), which sets the defaults (ping every 15 s);
		 * before init_snmp(), which connects. */
		netsnmp_ds_set_int(NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_AGENTX_PING_INTERVAL,
		    (int)s->cfg.agentx_retry_s);
		netsnmp_ds_set_int(NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_AGENTX_TIMEOUT,
		    (int)s->cfg.agentx_timeout_s * ONE_SEC);
		netsnmp_ds_set_int(NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_AGENTX_RETRIES, 0);
		/* The session to the master takes the library's defaults. */
		netsnmp_ds_set_int(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_TIMEOUT,
		    (int)s->cfg.agentx_timeout_s);
		netsnmp_ds_set_int(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_RETRIES, 0);
	}
	s->reg = netsnmp_create_handler_registration("packetbrokerMIB", pb_snmp_handler,
	    objects, OID_LENGTH(objects), HANDLER_CAN_RONLY);
	if (s->reg == NULL || (s->reg->handler->myvoid = s,
	    netsnmp_register_handler(s->reg) != MIB_REGISTERED_OK)) {
		snprintf(err, errlen, "snmp: cannot register PACKETBROKER-MIB");
		return -1;
	}
	init_snmp(PB_SNMP_APP);
	if (s->cfg.agentx)
		return 0;
	if (init_master_agent() != 0) {
		snprintf(err, errlen, "snmp: cannot listen on %.200s: %.200s", s->cfg.listen,
		    s->last_log[0] != '\0' ? s->last_log : "net-snmp refused the address");
		return -1;
	}
	snmp_register_callback(SNMP_CALLBACK_APPLICATION, SNMPD_CALLBACK_ACM_CHECK_INITIAL,
	    pb_snmp_acm, NULL);
	snmp_register_callback(SNMP_CALLBACK_APPLICATION, SNMPD_CALLBACK_ACM_CHECK,
	    pb_snmp_acm, NULL);
	snmp_register_callback(SNMP_CALLBACK_APPLICATION, SNMPD_CALLBACK_ACM_CHECK_SUBTREE,
	    pb_snmp_acm, NULL);
	for (size_t i = 0; i < s->cfg.nsinks; i++) {
		const struct pb_snmp_sink *k = &s->cfg.sinks[i];

		snprintf(sink, sizeof(sink), k->v6 ? "udp6:[%s]:%u" : "udp:%s:%u", k->host,
		    k->port);
		if (!create_trap_session_with_src(sink, NULL, s->cfg.trap_community, NULL, SNMP_VERSION_2c,
		    SNMP_MSG_TRAP2)) {
			snprintf(err, errlen, "snmp: trap sink %.200s: %.200s", sink, s->last_log);
			return -1;
		}
	}
	return 0;
}

static void *
pb_snmp_main(void *arg)
{
	struct pb_snmp *s = arg;
	pthread_setname_np(pthread_self(), "pb-snmp");
	char err[sizeof(s->err)] = "";
	bool ok;

	pb_snmp_self = s;
	ok = pb_snmp_init(s, err, sizeof(err)) == 0;

	if (ok) {
		register_readfd(s->stopfd, pb_snmp_stopfd, s);
		pb_snmp_refresh(s); /* the baseline: no notification for how things are */
		s->alarm = snmp_alarm_register_hr((struct timeval){ .tv_usec = PB_SNMP_POLL_US },
		    SA_REPEAT, pb_snmp_alarm, s);
	}
	pb_snmp_report(s, ok ? 1 : -1, ok ? NULL : err);
	while (ok && !s->stopping)
		agent_check_and_process(1);
	if (s->alarm != 0)
		snmp_alarm_unregister(s->alarm);
	if (ok)
		unregister_readfd(s->stopfd);
	if (!s->cfg.agentx)
		shutdown_master_agent();
	snmp_shutdown(PB_SNMP_APP);
	shutdown_agent();
	pb_snmp_model_free(&s->model);
	pb_snmp_data_free(&s->data[0]);
	pb_snmp_data_free(&s->data[1]);
	pb_snmp_tracker_free(&s->tracker);
	snmp_disable_calllog();
	pb_snmp_self = NULL;
	return NULL;
}

struct pb_snmp *
pb_snmp_start(const struct pb_snmp_cfg *cfg, const struct pb_view *view, char *err,
    size_t errlen)
{
	struct pb_snmp *s = calloc(1, sizeof(*s));
	pthread_condattr_t ca;
	struct timespec until;
	sigset_t all, old;
	int rc = 0, state;

	if (s == NULL) {
		snprintf(err, errlen, "snmp: out of memory");
		return NULL;
	}
	/* net-snmp initialises once per process and keeps global state. */
	if (atomic_flag_test_and_set(&pb_snmp_taken)) {
		snprintf(err, errlen, "snmp: an agent already ran in this process");
		free(s);
		return NULL;
	}
	s->cfg = *cfg;
	s->view = view;
	pb_snmp_tracker_init(&s->tracker, cfg->dlq_threshold);
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	/* Signals belong to the engine's signalfd, never to the agent; a
	 * blocked SIGPIPE makes a write to a gone AgentX master EPIPE. */
	sigfillset(&all);
	if ((s->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) >= 0) {
		pthread_sigmask(SIG_SETMASK, &all, &old);
		rc = pthread_create(&s->thread, NULL, pb_snmp_main, s);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	if (s->stopfd < 0 || rc != 0) {
		if (rc != 0)
			errno = rc;
		snprintf(err, errlen, "snmp: cannot start the agent thread: %s", strerror(errno));
		if (s->stopfd >= 0)
			close(s->stopfd);
		pb_snmp_tracker_free(&s->tracker);
		free(s);
		return NULL;
	}
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += PB_SNMP_START_WAIT_S;
	pthread_mutex_lock(&s->lock);
	while (s->init == 0 && rc == 0)
		rc = pthread_cond_timedwait(&s->cond, &s->lock, &until);
	state = s->init;
	pthread_mutex_unlock(&s->lock);
	if (state < 0) {
		snprintf(err, errlen, "%s", s->err);
		pthread_join(s->thread, NULL);
		close(s->stopfd);
		pthread_mutex_destroy(&s->lock);
		pthread_cond_destroy(&s->cond);
		free(s);
		return NULL;
	}
	if (state == 0)
		log_warnx("snmp", "the agent is still initialising after %d s; going on",
		    PB_SNMP_START_WAIT_S);
	return s;
}

void
pb_snmp_stop(struct pb_snmp *s)
{
	uint64_t one = 1;

	if (s == NULL)
		return;
	if (write(s->stopfd, &one, sizeof(one)) < 0)
		log_warn("snmp", "cannot wake the agent thread");
	pthread_join(s->thread, NULL);
	close(s->stopfd);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	log_info("snmp", "agent stopped (%llu notification(s) sent)",
	    (unsigned long long)s->traps_sent);
	free(s);
}
