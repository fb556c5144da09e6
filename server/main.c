/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "config.h"
#include "engine.h"
#include "fdlimit.h"
#include "log.h"
#include "snmp.h"

#define DEFAULT_CONFIG PB_SYSCONFDIR "/packetbrokerd.conf"

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: packetbrokerd [-c FILE] [-t] [-V] [-d TOKENS] [--syslog] [-x]\n"
	    "  -c, --config FILE     configuration file (default " DEFAULT_CONFIG ")\n"
	    "  -t, --test            check the configuration and exit\n"
	    "  -V, --version         print the version and exit\n"
	    "  -d, --debug TOKENS    debug logs for subsystems (comma list or \"all\":\n"
	    "                        engine,loop,capture,dump,iface,api,snmp,config)\n"
	    "      --syslog          log to syslog instead of stderr\n"
	    "  -x, --exit-on-finish  exit once every file source has finished (status 1\n"
	    "                        when one of them failed)\n"
	    "  -h, --help            this help\n");
}

static void
report_error(void *arg, const char *file, int line, const char *msg)
{
	int *count = arg;
	(*count)++;
	if (line > 0)
		fprintf(stderr, "%s:%d: error: %s\n", file, line, msg);
	else
		fprintf(stderr, "%s: error: %s\n", file, msg);
}

/* What reads the engine's view: stopped before the engine closes or frees
 * anything. */
struct main_mgmt {
	struct pb_api *api;
	struct pb_snmp *snmp;
};

/* Engine stop hook, and after the run in case the loop never ran. */
static void
main_stop_mgmt(void *arg)
{
	struct main_mgmt *m = arg;

	pb_snmp_stop(m->snmp);
	m->snmp = NULL;
	pb_api_stop(m->api);
	m->api = NULL;
}

/*
 * glibc serves blocks above M_MMAP_THRESHOLD with mmap and unmaps them on
 * free, but by default it raises the threshold to the size of each mmap'd
 * block freed (up to 32 MiB): after the first resend buffer shrinks, its
 * later growths come from the heap and stay resident once freed. A fixed
 * threshold keeps large buffers (resend rings from 256 KiB up, sink
 * chunks) in mmap, so freeing them returns the memory.
 */
static void
main_malloc_setup(void)
{
#ifdef __GLIBC__
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test", no_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ "debug", required_argument, NULL, 'd' },
		{ "syslog", no_argument, NULL, 'S' },
		{ "exit-on-finish", no_argument, NULL, 'x' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = DEFAULT_CONFIG, *debug = NULL;
	bool test_only = false, use_syslog = false, exit_on_finish = false;
	int c;

	main_malloc_setup();
	while ((c = getopt_long(argc, argv, "c:tVd:xh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 't': test_only = true; break;
		case 'V': printf("packetbrokerd %s\n", PACKAGE_VERSION); return 0;
		case 'd': debug = optarg; break;
		case 'S': use_syslog = true; break;
		case 'x': exit_on_finish = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "packetbrokerd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	struct pb_config cfg;
	int errors = 0;
	if (pb_config_load(path, &cfg, report_error, &errors) != 0) {
		fprintf(stderr, "packetbrokerd: %s: %d error%s in the configuration\n", path,
		    errors, errors == 1 ? "" : "s");
		return 1;
	}
	if (test_only) {
		printf("%s: configuration OK (%zu capture(s), %zu dump(s), %zu peer(s), %zu upstream(s)%s)\n",
		    path, cfg.ncaptures, cfg.ndumps, cfg.tunnel.npeers, cfg.tunnel.nupstreams,
		    cfg.tunnel.listen.enabled ? ", listening" : "");
		pb_config_free(&cfg);
		return 0;
	}

	log_init("packetbrokerd", use_syslog || cfg.log.syslog, 0);
	if (cfg.log.debug[0] && log_debug_enable(cfg.log.debug) < 0)
		log_warnx("main", "log.debug: no subsystem token in '%s'", cfg.log.debug);
	if (debug && log_debug_enable(debug) < 0)
		fatalx("main", "-d: no subsystem token in '%s'", debug);
	/* Before anything opens descriptors: peers' connections get what the
	 * configuration leaves. */
	pb_fdlimit_init();
	pb_fd_budget_init(pb_fd_reserve(&cfg));

	char err[4096] = "";
	struct pb_engine *engine = pb_engine_new(&cfg, err, sizeof(err));
	if (!engine) {
		log_warnx("main", "cannot start:\n%s", err);
		pb_config_free(&cfg);
		return 1;
	}
	pb_engine_set_exit_on_finish(engine, exit_on_finish);

	static struct main_mgmt mgmt;
	struct pb_api *api = NULL;
	if (cfg.api.enabled) {
		api = pb_api_start(&cfg.api, pb_engine_view(engine), err, sizeof(err));
		if (!api) {
			log_warnx("main", "cannot start: %s", err);
			pb_engine_free(engine);
			pb_config_free(&cfg);
			return 1;
		}
		log_info("api", "listening on %s://%s%s%s:%u/api/v1/",
		    cfg.api.tls_cert[0] ? "https" : "http",
		    strchr(cfg.api.address, ':') ? "[" : "", cfg.api.address,
		    strchr(cfg.api.address, ':') ? "]" : "", cfg.api.port);
		mgmt.api = api;
	}

	struct pb_snmp *snmp = NULL;
	if (cfg.snmp.enabled) {
		snmp = pb_snmp_start(&cfg.snmp, pb_engine_view(engine), err, sizeof(err));
		if (!snmp) {
			log_warnx("main", "cannot start: %s", err);
			if (api)
				pb_api_stop(api);
			pb_engine_free(engine);
			pb_config_free(&cfg);
			return 1;
		}
		if (cfg.snmp.agentx)
			log_info("snmp", "AgentX subagent of the master at %s", cfg.snmp.agentx_socket);
		else
			log_info("snmp", "agent listening on %s (%zu trap sink(s))", cfg.snmp.listen,
			    cfg.snmp.nsinks);
		mgmt.snmp = snmp;
	}
	pb_engine_set_stop_hook(engine, main_stop_mgmt, &mgmt);

	int rc = pb_engine_run(engine);
	main_stop_mgmt(&mgmt);
	pb_engine_free(engine);
	pb_config_free(&cfg);
	/* Counts of rate-limited lines nobody reported yet. */
	log_rl_flush(true);
	return rc == 0 ? 0 : 1;
}
