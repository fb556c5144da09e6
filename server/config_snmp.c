/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <libconfig.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "config_int.h"

/*
 * The `snmp` section (docs/configuration.md): either an embedded master
 * agent (listen, community, trap_sinks) or an AgentX subagent of the
 * system's snmpd (agentx), which then owns access control and trap
 * destinations. Off unless the section is present.
 */

#define CFG_SNMP_LISTEN_DEFAULT "udp:127.0.0.1:1161"

/* Communities travel in clear text in every v1/v2c packet: printable
 * ASCII, no spaces, so that they survive any NMS's configuration. */
static int
cfg_community(struct pb_cfg_ctx *c, const config_setting_t *g, const char *key,
    char *buf, size_t len)
{
	int r = pb_cfg_string(c, g, key, buf, len);

	if (r != 1)
		return r;
	if (buf[0] == '\0') {
		pb_cfg_error(c, config_setting_get_member(g, key), "must not be empty");
		return -1;
	}
	for (const char *p = buf; *p != '\0'; p++) {
		if (*p <= ' ' || *p > '~') {
			pb_cfg_error(c, config_setting_get_member(g, key),
			    "printable ASCII without spaces expected");
			return -1;
		}
	}
	return 1;
}

/* net-snmp transport specifications: "udp:127.0.0.1:1161",
 * "tcp:[::1]:1161", several separated by commas. Binding them is checked
 * at start; here only what cannot be an address is refused. */
static void
cfg_snmp_listen(struct pb_cfg_ctx *c, const config_setting_t *g, struct pb_snmp_cfg *s)
{
	static const char ok[] = PB_CFG_ALNUM ".:[]_-,/";

	if (pb_cfg_string(c, g, "listen", s->listen, sizeof(s->listen)) != 1)
		return;
	if (s->listen[0] == '\0' || s->listen[strspn(s->listen, ok)] != '\0')
		pb_cfg_error(c, config_setting_get_member(g, "listen"), "\"%s\": expected a "
		    "transport address such as udp:127.0.0.1:1161 or udp6:[::1]:1161",
		    s->listen);
}

static void
cfg_snmp_sinks(struct pb_cfg_ctx *c, const config_setting_t *g, struct pb_snmp_cfg *s)
{
	const config_setting_t *l = config_setting_get_member(g, "trap_sinks");
	int n;

	if (l == NULL)
		return;
	if (!config_setting_is_list(l) && !config_setting_is_array(l)) {
		pb_cfg_error(c, l, "expected a list of strings [\"HOST:PORT\", ...], got %s",
		    pb_cfg_type_name(l));
		return;
	}
	n = config_setting_length(l);
	if (n > PB_SNMP_MAX_SINKS) {
		pb_cfg_error(c, l, "%d entries, at most %d", n, PB_SNMP_MAX_SINKS);
		n = PB_SNMP_MAX_SINKS;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(l, (unsigned int)i);
		struct pb_snmp_sink *k = &s->sinks[s->nsinks];
		struct pb_api_host h;
		const char *v;

		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			pb_cfg_error(c, e, "expected a string, got %s", pb_cfg_type_name(e));
			continue;
		}
		v = config_setting_get_string(e);
		if (pb_api_hostport_parse(v, strlen(v), &h) < 0) {
			pb_cfg_error(c, e, "\"%s\": expected HOST or HOST:PORT (IPv6 in "
			    "brackets)", v);
			continue;
		}
		memcpy(k->host, h.host, sizeof(k->host));
		k->port = h.port != 0 ? h.port : 162;
		k->v6 = v[0] == '[';
		s->nsinks++;
	}
}

void
pb_cfg_snmp(struct pb_cfg_ctx *c, const config_setting_t *root, struct pb_config *cfg)
{
	static const char *const keys[] = { "enabled", "listen", "community",
		"trap_community", "trap_sinks", "agentx", "agentx_timeout", "agentx_retry",
		"dlq_threshold", NULL };
	static const char *const master_only[] = { "listen", "community",
		"trap_community", "trap_sinks", NULL };
	const config_setting_t *g = pb_cfg_section(c, root, "snmp", keys);
	struct pb_snmp_cfg *s = &cfg->snmp;

	snprintf(s->listen, sizeof(s->listen), "%s", CFG_SNMP_LISTEN_DEFAULT);
	s->agentx_timeout_s = 1;
	s->agentx_retry_s = 5;
	if (g == NULL)
		return;
	s->enabled = true;
	s->line = config_setting_source_line(g);
	pb_cfg_bool(c, g, "enabled", &s->enabled);
	pb_cfg_uint(c, g, "dlq_threshold", 0, UINT64_MAX, &s->dlq_threshold);
	pb_cfg_u32(c, g, "agentx_timeout", 1, 60, &s->agentx_timeout_s);
	pb_cfg_u32(c, g, "agentx_retry", 1, 3600, &s->agentx_retry_s);
	if (pb_cfg_string(c, g, "agentx", s->agentx_socket, sizeof(s->agentx_socket)) == 1) {
		s->agentx = true;
		if (s->agentx_socket[0] == '\0')
			pb_cfg_error(c, config_setting_get_member(g, "agentx"),
			    "expected the master's socket, e.g. \"/var/agentx/master\"");
		/* snmpd.conf decides who may read and where traps go. */
		for (size_t i = 0; master_only[i] != NULL; i++)
			if (config_setting_get_member(g, master_only[i]) != NULL)
				pb_cfg_error(c, config_setting_get_member(g, master_only[i]),
				    "not with agentx: snmpd's configuration sets it");
		return;
	}
	cfg_snmp_listen(c, g, s);
	if (cfg_community(c, g, "community", s->community, sizeof(s->community)) == 0 &&
	    s->enabled)
		pb_cfg_error(c, g, "missing required key 'community' (the read-only "
		    "community of the agent), or agentx");
	if (cfg_community(c, g, "trap_community", s->trap_community,
	    sizeof(s->trap_community)) == 0)
		memcpy(s->trap_community, s->community, sizeof(s->trap_community));
	cfg_snmp_sinks(c, g, s);
}
