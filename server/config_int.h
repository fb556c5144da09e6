/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_CONFIG_INT_H
#define PB_CONFIG_INT_H

/*
 * Internal to the configuration loader: helpers shared by config.c (node,
 * captures, dump, api, log) and config_tunnel.c (listen, peers, upstreams,
 * auth, resend, dlq, forward, ack, heartbeat, max_hops, state_dir).
 * Not for other modules: use config.h.
 */

#include <libconfig.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "log.h"

#define PB_CFG_MB (1024ull * 1024ull)
#define PB_CFG_ALNUM "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

struct pb_cfg_ctx {
	pb_config_report_fn *report;
	void *arg;
	const char *file;        /* main file, or "<string>" */
	const char *incdir;      /* libconfig include_dir, NULL for strings */
	char basedir[PATH_MAX];  /* absolute: relative paths are resolved here */
	int nerr;
};

/* config.c: error reporting. Both count an error and keep going. */
void pb_cfg_error_at(struct pb_cfg_ctx *c, const char *file, int line, const char *fmt,
    ...) PB_PRINTF(4, 5);
/* Prefixes the setting's path ("peers[1].port: ") and reports its file:line. */
void pb_cfg_error(struct pb_cfg_ctx *c, const config_setting_t *s, const char *fmt, ...)
    PB_PRINTF(3, 4);
/* "an integer", "a string", ... for "expected X, got Y" messages. */
const char *pb_cfg_type_name(const config_setting_t *s);
/* Reports every member of group g not in the NULL-terminated keys. */
void pb_cfg_check_keys(struct pb_cfg_ctx *c, const config_setting_t *g,
    const char *const *keys);

/* config.c: getters for member `key` of group g. They return 1 = set and
 * valid (*out written), 0 = absent (*out untouched), -1 = error reported. */
int pb_cfg_uint(struct pb_cfg_ctx *c, const config_setting_t *g, const char *key,
    uint64_t min, uint64_t max, uint64_t *out);
int pb_cfg_u32(struct pb_cfg_ctx *c, const config_setting_t *g, const char *key,
    uint32_t min, uint32_t max, uint32_t *out);
int pb_cfg_bool(struct pb_cfg_ctx *c, const config_setting_t *g, const char *key,
    bool *out);
/* Too long for buf is an error, never a truncation. */
int pb_cfg_string(struct pb_cfg_ctx *c, const config_setting_t *g, const char *key,
    char *buf, size_t len);
/* Object names: 1..len-1 letters, digits, '-', '_', '.'. */
int pb_cfg_name(struct pb_cfg_ctx *c, const config_setting_t *g, const char *key,
    char *buf, size_t len);
/* A path, relative ones resolved against c->basedir. "" is absent (0) when
 * empty_ok, else an error. */
int pb_cfg_file(struct pb_cfg_ctx *c, const config_setting_t *g, const char *key,
    char *buf, size_t len, bool empty_ok);

/* config.c: `key = {...}` or `key = ({...}, ...)`. pb_cfg_group_list()
 * returns the element count (1 for a bare group; a list longer than max is
 * reported and cut to max), or -1 (reported); pb_cfg_elem() returns element
 * i, or NULL when it is not a group (reported). */
int pb_cfg_group_list(struct pb_cfg_ctx *c, const config_setting_t *s, size_t max,
    const char *what);
const config_setting_t *pb_cfg_elem(struct pb_cfg_ctx *c, const config_setting_t *s,
    int i);
/* A top-level group with its keys checked; NULL when absent or not a group
 * (reported). */
const config_setting_t *pb_cfg_section(struct pb_cfg_ctx *c,
    const config_setting_t *root, const char *key, const char *const *keys);

/* config_tunnel.c: an integer or a float in min..max (same return values). */
int pb_cfg_number(struct pb_cfg_ctx *c, const config_setting_t *g, const char *key,
    double min, double max, double *out);
/* config_tunnel.c: 127.0.0.0/8, ::1, localhost. */
bool pb_cfg_is_loopback(const char *addr);
/* config_auth.c: `auth` (keyring, psk_file + shared_psk, tls_cert + tls_key +
 * tls_ca, allow_unauthenticated); pb_cfg_auth_free() wipes and frees what
 * it loaded. */
void pb_cfg_auth(struct pb_cfg_ctx *c, const config_setting_t *root, uint32_t self,
    struct pb_tunnel_cfg *t);
/* config_api.c: the `api` section into cfg->api (the token file is read). */
void pb_cfg_api(struct pb_cfg_ctx *c, const config_setting_t *root, struct pb_config *cfg);
/* Wipes and frees what pb_cfg_api loaded (the TLS key). */
void pb_cfg_api_free(struct pb_api_cfg *api);
void pb_cfg_auth_free(struct pb_tunnel_cfg *t);
/* config_snmp.c: the `snmp` section into cfg->snmp. */
void pb_cfg_snmp(struct pb_cfg_ctx *c, const config_setting_t *root, struct pb_config *cfg);

/* config_capture.c: captures.rate (cap->rate, cap->pps) and
 * captures.linktype (a libpcap name or a LINKTYPE number). */
void pb_cfg_rate(struct pb_cfg_ctx *c, const config_setting_t *g, struct pb_capture_cfg *cap);
void pb_cfg_linktype(struct pb_cfg_ctx *c, const config_setting_t *g,
    struct pb_capture_cfg *cap);

/* config_jetstream.c: a `jetstream` group of a dump (sink) or a capture
 * (source) into a new *out (also on errors, so it is freed with the rest);
 * owner names the dump or capture (default durable name). */
void pb_cfg_jetstream(struct pb_cfg_ctx *c, const config_setting_t *g, const char *owner,
    bool sink, struct pb_jetstream_cfg **out);
void pb_cfg_jetstream_free(struct pb_jetstream_cfg *js);

/* config_tunnel.c: the tunnel keys of the root group into cfg->tunnel, and
 * the check that the node has a source of records. Runs after captures. */
void pb_cfg_tunnel(struct pb_cfg_ctx *c, const config_setting_t *root,
    struct pb_config *cfg);

#endif
