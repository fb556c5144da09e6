/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_CONFIG_H
#define PB_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keyring.h"
#include "record.h"
#include "trailer.h"

struct pb_tls;

/*
 * Configuration (libconfig syntax), documented in docs/configuration.md.
 * Loading collects every error with file:line; nothing is half-applied.
 */

#define PB_NAME_MAX 64
#define PB_DESC_MAX 256
#define PB_FILTER_MAX 1024
#define PB_MAX_CAPTURES 64
#define PB_MAX_DUMPS 16

enum pb_rate_mode {
	PB_RATE_MAX = 0,      /* as fast as the sinks take it */
	PB_RATE_ORIGINAL = 1, /* honour inter-packet gaps of the file */
	PB_RATE_PPS = 2,      /* fixed packets per second */
};

struct pb_capture_cfg {
	char name[PB_NAME_MAX];
	char description[PB_DESC_MAX];
	bool is_file;                  /* file source (else live interface) */
	char interface[PB_NAME_MAX];   /* live: interface name */
	char file[PATH_MAX];           /* file: pcap or pcapng path */
	char filter[PB_FILTER_MAX];    /* BPF, "" = none */
	uint32_t buffer_mb;            /* live: kernel ring size (default 64) */
	uint32_t timeout_ms;           /* live: 0 = immediate mode (default) */
	bool promisc;                  /* live: default true */
	bool has_linktype;             /* live: ask for linktype instead of the default */
	uint16_t linktype;             /* LINKTYPE_* */
	bool fcs;                      /* frames end with an FCS */
	uint32_t max_frame;            /* larger frames rejected and counted */
	enum pb_rate_mode rate;        /* file: default max */
	double pps;                    /* file: with PB_RATE_PPS */
	uint32_t loop;                 /* file: passes, 0 = forever (default 1) */
	size_t ntrailers;
	struct pb_trailer_cfg trailers[PB_MAX_TRAILERS];
	struct pb_jetstream_cfg *js;   /* a jetstream source (neither live nor file) */
	int line;                      /* where it was defined, for messages */
};

/* ---- JetStream sink and source (schema/jetstream.md) ---- */

#define PB_JS_MAX_SERVERS 8
#define PB_JS_URL_MAX 256
#define PB_JS_PREFIX_MAX 128

struct pb_jetstream_cfg {
	size_t nservers;               /* nats://HOST:PORT or tls://HOST:PORT, 1.. */
	char servers[PB_JS_MAX_SERVERS][PB_JS_URL_MAX];
	char creds_file[PATH_MAX];     /* NATS user credentials (JWT + seed), "" = none */
	char token_file[PATH_MAX];     /* or a token read at load time, "" = none */
	char token[256];
	char tls_ca[PATH_MAX];         /* CA of the servers' certificates: TLS on */
	char stream[PB_NAME_MAX];      /* default "PB" */
	char subject_prefix[PB_JS_PREFIX_MAX]; /* default "pb" */
	uint32_t replicas;             /* when created: 1..5 (default 1) */
	bool create;                   /* create the stream when missing (default true) */
	uint32_t batch_bytes;          /* sink: cut a batch at (batch_kb, default 256 KiB) */
	uint32_t batch_ms;             /* sink: or after this long (default 5) */
	uint32_t window;               /* sink: batches buffered or in flight (default 64) */
	uint32_t max_streams;          /* sink: origin streams whose state is kept (default 4096) */
	uint32_t stream_idle_s;        /* sink: an idle one is forgotten after (default 300) */
	char durable[PB_NAME_MAX];     /* source: durable consumer (default the capture name) */
	uint32_t fetch;                /* source: messages per pull (default 64) */
	int line;
};

enum pb_dump_kind { PB_DUMP_FILE = 0, PB_DUMP_IFACE = 1, PB_DUMP_JETSTREAM = 2 };
enum pb_dump_format { PB_FORMAT_PCAPNG = 0, PB_FORMAT_PCAP = 1 };

struct pb_dump_cfg {
	char name[PB_NAME_MAX];        /* default "dump", "dump2", ... */
	enum pb_dump_kind kind;
	char file[PATH_MAX];           /* strftime pattern */
	enum pb_dump_format format;    /* default from the file name, else pcapng */
	uint64_t rotate_bytes;         /* 0 = never (rotate_mb) */
	uint32_t rotate_seconds;       /* 0 = never */
	uint32_t max_files;            /* retention, 0 = unlimited */
	uint64_t max_total_bytes;      /* retention (max_total_mb), 0 = unlimited */
	uint32_t buffer_mb;            /* in-memory queue to the writer thread (default 64) */
	bool fsync;                    /* fsync at rotation and shutdown (default true) */
	char interface[PB_NAME_MAX];   /* PB_DUMP_IFACE */
	struct pb_jetstream_cfg *js;   /* PB_DUMP_JETSTREAM */
	int line;
};

#define PB_API_MAX_ALLOWED 16     /* entries of allowed_hosts, allowed_origins */
#define PB_API_HOST_MAX 256        /* a host name, IPv4 or IPv6 literal */
#define PB_API_TOKEN_MIN 16
#define PB_API_TOKEN_MAX 256

/* A Host (or the authority of an Origin) an API client may name. */
struct pb_api_host {
	char host[PB_API_HOST_MAX];    /* lower case, IPv6 without brackets */
	uint16_t port;                 /* 0 = any port */
};

struct pb_api_origin {
	bool https;                    /* else http */
	struct pb_api_host at;         /* port: explicit, else 80 or 443 */
};

struct pb_api_cfg {
	bool enabled;                  /* default true */
	char address[128];             /* default 127.0.0.1 */
	uint16_t port;                 /* default 8080 */
	uint32_t max_connections;      /* default 64 */
	uint32_t max_connections_per_ip; /* default 8 (0 here: the default) */
	uint32_t timeout_s;            /* idle, once a request's headers are in; default 15 */
	uint32_t header_timeout_s;     /* idle, while waiting for request headers; default 10 */
	char web_root[PATH_MAX];       /* static dashboard files, "" = none */
	/* Bearer token for every mutating request (read at load time). */
	char token_file[PATH_MAX];     /* "" = mutations are refused (403) */
	uint8_t token[PB_API_TOKEN_MAX];
	size_t token_len;              /* 0 = none */
	size_t nallowed_hosts;         /* besides the listen address itself */
	struct pb_api_host allowed_hosts[PB_API_MAX_ALLOWED];
	size_t nallowed_origins;       /* besides http(s)://<an allowed host> */
	struct pb_api_origin allowed_origins[PB_API_MAX_ALLOWED];
	/* Bearer token every read must carry (this or the mutation token). */
	char read_token_file[PATH_MAX];/* "" = reads are open */
	uint8_t read_token[PB_API_TOKEN_MAX];
	size_t read_token_len;
	/* HTTPS: both PEM files read and checked at load time. */
	char tls_cert[PATH_MAX];       /* "" = plain HTTP */
	char tls_key[PATH_MAX];
	char *tls_cert_pem, *tls_key_pem; /* NUL-terminated; freed by pb_config_free */
	/* Requests per second per client address (token bucket); 0 = no limit. */
	double rate_limit;
	uint32_t rate_burst;           /* bucket size; default max(1, 2 * rate_limit) */
	int line;
};

/*
 * "name", "name:port", "1.2.3.4:port", "[v6]" or "[v6]:port" into a lower
 * case host (brackets removed) and a port (0 when absent). 0, or -1 when
 * malformed. Shared by the loader and the API's Host/Origin checks.
 */
int pb_api_hostport_parse(const char *s, size_t len, struct pb_api_host *out);
/* "http://HOSTPORT" or "https://HOSTPORT", no path. 0 or -1. */
int pb_api_origin_parse(const char *s, struct pb_api_origin *out);


/* ---- SNMP agent (mgmt/snmp_agent.c, mibs/PACKETBROKER-MIB.txt) ---- */

#define PB_SNMP_MAX_SINKS 8
#define PB_SNMP_COMMUNITY_MAX 65   /* 1..64 printable characters, NUL included */

struct pb_snmp_sink {
	char host[PB_API_HOST_MAX];    /* lower case, IPv6 without brackets */
	uint16_t port;                 /* default 162 */
	bool v6;                       /* the host is an IPv6 literal */
};

struct pb_snmp_cfg {
	bool enabled;                  /* an `snmp` group without enabled = false */
	bool agentx;                   /* AgentX subagent of snmpd, else master agent */
	/* master agent */
	char listen[256];              /* net-snmp transport list, default udp:127.0.0.1:1161 */
	char community[PB_SNMP_COMMUNITY_MAX];      /* read-only v1/v2c community, required */
	char trap_community[PB_SNMP_COMMUNITY_MAX]; /* default: community */
	size_t nsinks;                 /* SNMPv2c traps to each */
	struct pb_snmp_sink sinks[PB_SNMP_MAX_SINKS];
	/* subagent */
	char agentx_socket[PATH_MAX];  /* "/path", "unix:/path" or "tcp:HOST:PORT" */
	uint32_t agentx_timeout_s;     /* per AgentX request, default 1 */
	uint32_t agentx_retry_s;       /* reconnect/ping interval, default 5 */
	/* notifications */
	uint64_t dlq_threshold;        /* pbDlqThreshold at this depth; 0 = never */
	int line;
};

/* ---- Tunnel and custody (peers, listen, auth, resend, DLQ) ---- */

#define PB_MAX_PEERS 64
#define PB_MAX_ADDRESSES 8             /* addresses of one peer (a tier) */

struct pb_hostport {
	char host[128];                /* IPv4/IPv6 literal (no brackets) or host name */
	uint16_t port;
};

struct pb_endpoint_cfg {
	char name[PB_NAME_MAX];        /* local label; unique among peers + upstreams */
	char address[128];             /* IPv4/IPv6 literal or host name: addrs[0] */
	uint16_t port;                 /* default 7152: addrs[0] */
	/* `address` + `port`, or every entry of `addresses`, dialed in order
	 * (failover to the next when one fails or its link goes down). */
	struct pb_hostport addrs[PB_MAX_ADDRESSES];
	size_t naddrs;
	uint32_t node_id;              /* node expected there; 0 = any with a key */
	int line;
};

/* A consumer that dials us (we listen and send): declared so that records
 * are kept for it (and expire into the DLQ) while it is not connected. */
struct pb_consumer_cfg {
	char name[PB_NAME_MAX];        /* unique across peers, upstreams, consumers */
	uint32_t node_id;              /* the consumer's node.id */
	int line;
};

struct pb_listen_cfg {
	bool enabled;                  /* a `listen` group is present */
	char address[128];             /* default 0.0.0.0 */
	uint16_t port;                 /* default 7152 */
	bool accept_undeclared_consumers; /* default false: only `consumers` may receive */
	uint32_t max_handshakes;       /* connections not yet authenticated (default 64) */
	uint32_t max_handshakes_per_ip;/* of them from one address (default 8) */
	int line;
};

struct pb_tunnel_cfg {
	struct pb_listen_cfg listen;
	size_t npeers;                 /* we dial them and send records */
	struct pb_endpoint_cfg *peers;
	size_t nupstreams;             /* we dial them and receive records */
	struct pb_endpoint_cfg *upstreams;
	size_t nconsumers;             /* they dial us (needs listen) and receive records */
	struct pb_consumer_cfg *consumers;
	struct {
		char keyring_file[PATH_MAX];/* per-node keys (node id → key shared with it) */
		struct pb_keyring keyring; /* loaded at config time */
		char psk_file[PATH_MAX];   /* one key shared by every node ... */
		bool shared_psk;           /* ... only with this explicit opt-in */
		bool allow_unauthenticated;/* required to listen on non-loopback without keys */
		uint8_t psk[256];          /* loaded at config time (file must be readable) */
		size_t psk_len;            /* 16..256 bytes; whitespace at the end stripped */
		char tls_cert[PATH_MAX];   /* TLS: this node's certificate (+ chain), */
		char tls_key[PATH_MAX];    /* its private key (a secret file), */
		char tls_ca[PATH_MAX];     /* the CA of the peers' certificates */
		struct pb_tls *tls;        /* all three loaded and checked at config
		                              time (tls.h); NULL without TLS */
	} auth;
	struct {
		uint32_t max_nodes;        /* node directory (default 1024) */
		uint32_t max_sources;      /* source directory (default 16384) */
		uint32_t max_nodes_per_link;   /* named through one link (default 256) */
		uint32_t max_sources_per_link; /* (default 4096) */
		uint32_t max_streams;      /* origin streams tracked for gaps (default 4096) */
	} limits;
	double handshake_timeout_s;    /* default 5 */
	struct {
		double timeout_s;          /* unacked longer than this → DLQ (default 30) */
		uint64_t buffer_bytes;     /* per peer (buffer_mb, default 256) */
		uint64_t window_bytes;     /* window_mb, default 8: file captures and
		                              upstreams pause while a peer holds more
		                              (or 3/4 of the buffer, if less) */
	} resend;
	struct {
		char path[PATH_MAX];       /* "" = no DLQ: spills are refused and counted */
		uint64_t max_bytes;        /* max_mb, default 4096 */
		bool auto_replay;          /* replay a peer's rows when it comes back */
		double replay_rate;        /* records/s for replays, default 100000 */
	} dlq;
	struct {
		bool local_capture;        /* default true: local records go to peers */
		bool remote_capture;       /* default true: received records go to peers */
	} forward;
	struct {
		uint32_t every;            /* ACK after this many records (default 256) */
		uint32_t ms;               /* or this many ms (default 5) */
	} ack;
	double heartbeat_s;            /* default 1.0 */
	double dead_after_s;           /* no traffic at all → down (default 5.0) */
	double slow_after_s;           /* unacked window not moving → slow (default 3.0) */
	uint32_t max_hops;             /* default 16, 1..PB_MAX_HOPS */
	char state_dir[PATH_MAX];      /* custody state of a relay; default
	                                  PB_LOCALSTATEDIR "/lib/packetbroker" */
};

struct pb_config {
	char path[PATH_MAX];
	struct {
		uint32_t id;           /* 1..2^32-1, required */
		char name[PB_NAME_MAX];
		char description[PB_DESC_MAX];
	} node;
	size_t ncaptures;
	struct pb_capture_cfg *captures;
	size_t ndumps;
	struct pb_dump_cfg *dumps;
	struct pb_api_cfg api;
	struct pb_snmp_cfg snmp;
	struct pb_tunnel_cfg tunnel;   /* top-level keys listen, peers, upstreams,
	                                  auth, resend, dlq, forward, ack, heartbeat,
	                                  max_hops, state_dir */
	struct {
		char debug[256];       /* subsystem tokens, like -d */
		bool syslog;
	} log;
};

/* Receives each problem; file may be "<string>" for pb_config_load_string. */
typedef void pb_config_report_fn(void *arg, const char *file, int line, const char *msg);

/* Returns the number of errors (0 = cfg filled and valid). On error cfg is
 * left freed/zeroed. report may be NULL (errors go to stderr). */
int pb_config_load(const char *path, struct pb_config *cfg, pb_config_report_fn *report,
    void *arg);
int pb_config_load_string(const char *text, struct pb_config *cfg,
    pb_config_report_fn *report, void *arg);
void pb_config_free(struct pb_config *cfg);

#endif
