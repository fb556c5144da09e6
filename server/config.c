/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libconfig.h>
#include <math.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_int.h"
#include "log.h"

/*
 * Configuration loader. Every check reports through pb_cfg_error() and keeps
 * going, so one run shows every problem of a file. The struct is filled as
 * we go and wiped again when anything was wrong.
 */

static void
cfg_report_stderr(void *arg, const char *file, int line, const char *msg)
{
	(void)arg;
	if (line > 0)
		fprintf(stderr, "%s:%d: error: %s\n", file, line, msg);
	else
		fprintf(stderr, "%s: error: %s\n", file, msg);
}

void
pb_cfg_error_at(struct pb_cfg_ctx *c, const char *file, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->nerr++;
	c->report(c->arg, file, line, msg);
}

/* libconfig names @include'd files relative to include_dir. */
static const char *
cfg_file_name(const struct pb_cfg_ctx *c, const char *file, char *buf, size_t len)
{
	if (file == NULL)
		return c->file;
	if (file[0] == '/' || c->incdir == NULL || strcmp(file, c->file) == 0)
		return file;
	snprintf(buf, len, "%s/%s", c->incdir, file);
	return buf;
}

/* "captures[1].trailers[0].type": where a setting sits, for messages. */
static size_t
cfg_setting_path(const config_setting_t *s, char *buf, size_t len)
{
	const config_setting_t *p = config_setting_parent(s);
	size_t n;
	int r;

	buf[0] = '\0';
	if (p == NULL)
		return 0;
	n = cfg_setting_path(p, buf, len);
	if (config_setting_is_list(p) || config_setting_is_array(p))
		r = snprintf(buf + n, len - n, "[%d]", config_setting_index(s));
	else
		r = snprintf(buf + n, len - n, "%s%s", n > 0 ? "." : "",
		    config_setting_name(s) ? config_setting_name(s) : "?");
	if (r > 0)
		n += (size_t)r;
	return n < len ? n : len - 1;
}

void
pb_cfg_error(struct pb_cfg_ctx *c, const config_setting_t *s, const char *fmt, ...)
{
	char msg[1024], fname[PATH_MAX + 64];
	const char *file = config_setting_source_file(s);
	size_t n;
	va_list ap;

	n = cfg_setting_path(s, msg, sizeof(msg) - 2);
	if (n > 0) {
		memcpy(msg + n, ": ", 3);
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
	va_end(ap);

	c->nerr++;
	c->report(c->arg, cfg_file_name(c, file, fname, sizeof(fname)),
	    config_setting_source_line(s), msg);
}

const char *
pb_cfg_type_name(const config_setting_t *s)
{
	static const char *const names[] = { "nothing", "a group", "an integer", "an integer",
		"a float", "a string", "a boolean", "an array", "a list" };
	unsigned t = (unsigned)config_setting_type(s);

	return t < sizeof(names) / sizeof(names[0]) ? names[t] : "nothing";
}

/* Unknown keys are errors at every level: a typo must not silently fall
 * back to a default. */
void
pb_cfg_check_keys(struct pb_cfg_ctx *c, const config_setting_t *g,
    const char *const *keys)
{
	char valid[512];
	size_t n = 0;
	int i, len = config_setting_length(g);
	const char *const *k;

	valid[0] = '\0';
	for (k = keys; *k != NULL && n < sizeof(valid); k++)
		n += (size_t)snprintf(valid + n, sizeof(valid) - n, "%s%s", n ? ", " : "", *k);
	for (i = 0; i < len; i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(m);

		for (k = keys; *k != NULL && strcmp(name, *k) != 0; k++)
			;
		if (*k == NULL)
			pb_cfg_error(c, m, "unknown key '%s' (valid keys: %s)", name, valid);
	}
}

/* Getters: 1 = set and valid, 0 = absent, -1 = reported error. */

int
pb_cfg_uint(struct pb_cfg_ctx *c, const config_setting_t *g, const char *key,
    uint64_t min, uint64_t max, uint64_t *out)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	int type;
	long long v;

	if (s == NULL)
		return 0;
	type = config_setting_type(s);
	if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) {
		pb_cfg_error(c, s, "expected an integer, got %s", pb_cfg_type_name(s));
		return -1;
	}
	v = config_setting_get_int64(s);
	if (v < 0 || (uint64_t)v < min || (uint64_t)v > max) {
		/* libconfig 1.5 wraps unsuffixed literals to 32 bits. */
		const char *hint = type == CONFIG_TYPE_INT && v < 0 && max > INT32_MAX ?
		    " (values above 2147483647 need an L suffix, e.g. 4000000000L)" : "";
		pb_cfg_error(c, s, "%lld is out of range %llu..%llu%s", v,
		    (unsigned long long)min, (unsigned long long)max, hint);
		return -1;
	}
	*out = (uint64_t)v;
	return 1;
}

int
pb_cfg_u32(struct pb_cfg_ctx *c, const config_setting_t *g, const char *key, uint32_t min,
    uint32_t max, uint32_t *out)
{
	uint64_t v;
	int r = pb_cfg_uint(c, g, key, min, max, &v);

	if (r == 1)
		*out = (uint32_t)v;
	return r;
}

int
pb_cfg_bool(struct pb_cfg_ctx *c, const config_setting_t *g, const char *key, bool *out)
{
	const config_setting_t *s = config_setting_get_member(g, key);

	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		pb_cfg_error(c, s, "expected a boolean (true or false), got %s",
		    pb_cfg_type_name(s));
		return -1;
	}
	*out = config_setting_get_bool(s) != 0;
	return 1;
}

/* Strings never get truncated: too long for the buffer is an error. */
int
pb_cfg_string(struct pb_cfg_ctx *c, const config_setting_t *g, const char *key, char *buf,
    size_t len)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	const char *v;
	size_t n;

	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		pb_cfg_error(c, s, "expected a string, got %s", pb_cfg_type_name(s));
		return -1;
	}
	v = config_setting_get_string(s);
	n = strlen(v);
	if (n >= len) {
		pb_cfg_error(c, s, "too long (%zu bytes, at most %zu)", n, len - 1);
		return -1;
	}
	memcpy(buf, v, n + 1);
	return 1;
}

/* Capture and dump names appear in logs, pcapng comments and API URLs. */
int
pb_cfg_name(struct pb_cfg_ctx *c, const config_setting_t *g, const char *key, char *buf,
    size_t len)
{
	int r = pb_cfg_string(c, g, key, buf, len);

	if (r == 1 && (buf[0] == '\0' || buf[strspn(buf, PB_CFG_ALNUM "-_.")] != '\0')) {
		pb_cfg_error(c, config_setting_get_member(g, key), "\"%s\": 1..%zu letters,"
		    " digits, '-', '_' or '.'", buf, len - 1);
		return -1;
	}
	return r;
}

static int
cfg_ifname(struct pb_cfg_ctx *c, const config_setting_t *g, const char *key, char *buf,
    size_t len)
{
	int r = pb_cfg_string(c, g, key, buf, len);

	if (r != 1)
		return r;
	if (buf[0] == '\0' || strlen(buf) >= IFNAMSIZ) {
		pb_cfg_error(c, config_setting_get_member(g, key),
		    "\"%s\" is not a valid interface name (1..%d characters)", buf, IFNAMSIZ - 1);
		return -1;
	}
	return 1;
}

/* Relative paths are taken relative to the main config file's directory
 * (the cwd for strings), so the daemon's cwd never matters. */
int
pb_cfg_file(struct pb_cfg_ctx *c, const config_setting_t *g, const char *key, char *buf,
    size_t len, bool empty_ok)
{
	char tmp[PATH_MAX];
	const config_setting_t *s;
	const char *rel;
	size_t n;
	int r = pb_cfg_string(c, g, key, tmp, sizeof(tmp));

	if (r != 1)
		return r;
	s = config_setting_get_member(g, key);
	if (tmp[0] == '\0') {
		if (empty_ok)
			return 0;
		pb_cfg_error(c, s, "must not be empty");
		return -1;
	}
	for (rel = tmp; rel[0] == '.' && rel[1] == '/';)
		for (rel += 2; *rel == '/'; rel++)
			;
	if (tmp[0] == '/')
		rel = tmp;
	n = strlen(c->basedir);
	if ((size_t)snprintf(buf, len, "%s%s%s", tmp[0] == '/' ? "" : c->basedir,
	    tmp[0] == '/' || c->basedir[n - 1] == '/' ? "" : "/", rel) >= len) {
		pb_cfg_error(c, s, "path too long");
		return -1;
	}
	return 1;
}

/* A single group or a list of groups: `dump = {...}` or `dump = ({...}, ...)`. */
int
pb_cfg_group_list(struct pb_cfg_ctx *c, const config_setting_t *s, size_t max,
    const char *what)
{
	int n;

	if (config_setting_is_group(s))
		return 1;
	if (!config_setting_is_list(s)) {
		pb_cfg_error(c, s, "expected a list of groups ( {...}, {...} ), got %s",
		    pb_cfg_type_name(s));
		return -1;
	}
	n = config_setting_length(s);
	if ((size_t)n > max) {
		pb_cfg_error(c, s, "%d %s given, at most %zu are supported", n, what, max);
		n = (int)max;
	}
	return n;
}

const config_setting_t *
pb_cfg_elem(struct pb_cfg_ctx *c, const config_setting_t *s, int i)
{
	const config_setting_t *e;

	if (config_setting_is_group(s))
		return s;
	e = config_setting_get_elem(s, (unsigned)i);
	if (!config_setting_is_group(e)) {
		pb_cfg_error(c, e, "expected a group { ... }, got %s", pb_cfg_type_name(e));
		return NULL;
	}
	return e;
}

/* A top-level group: NULL when absent or not a group (reported). */
const config_setting_t *
pb_cfg_section(struct pb_cfg_ctx *c, const config_setting_t *root, const char *key,
    const char *const *keys)
{
	const config_setting_t *g = config_setting_get_member(root, key);

	if (g != NULL && !config_setting_is_group(g)) {
		pb_cfg_error(c, g, "expected a group, got %s", pb_cfg_type_name(g));
		return NULL;
	}
	if (g != NULL)
		pb_cfg_check_keys(c, g, keys);
	return g;
}

static void
cfg_node(struct pb_cfg_ctx *c, const config_setting_t *root, struct pb_config *cfg)
{
	static const char *const keys[] = { "id", "name", "description", NULL };
	const config_setting_t *g = pb_cfg_section(c, root, "node", keys);
	char host[256];

	/* The default name is the short hostname (a DNS label fits in 63). */
	if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0' || host[0] == '.')
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	host[strcspn(host, ".")] = '\0';
	snprintf(cfg->node.name, sizeof(cfg->node.name), "%.*s",
	    (int)sizeof(cfg->node.name) - 1, host);
	if (g == NULL) {
		if (config_setting_get_member(root, "node") == NULL)
			pb_cfg_error_at(c, c->file, 0, "missing required group 'node' (node = {"
			    " id = 1; };)");
		return;
	}
	if (pb_cfg_u32(c, g, "id", 1, UINT32_MAX, &cfg->node.id) == 0)
		pb_cfg_error(c, g, "missing required key 'id'");
	if (pb_cfg_string(c, g, "name", cfg->node.name, sizeof(cfg->node.name)) == 1 &&
	    cfg->node.name[0] == '\0')
		pb_cfg_error(c, config_setting_get_member(g, "name"), "must not be empty");
	pb_cfg_string(c, g, "description", cfg->node.description,
	    sizeof(cfg->node.description));
}

static void
cfg_trailers(struct pb_cfg_ctx *c, const config_setting_t *g, struct pb_capture_cfg *cap)
{
	static const char *const keys[] = { "type", "length", NULL };
	const config_setting_t *s = config_setting_get_member(g, "trailers");
	char type[32], known[128];
	size_t kn = 0;
	int i, n, t;

	if (s == NULL)
		return;
	if ((n = pb_cfg_group_list(c, s, PB_MAX_TRAILERS, "trailers")) < 0)
		return;
	known[0] = '\0';
	for (t = 1; t <= PB_TRAILER_FIXED && kn < sizeof(known); t++)
		if (pb_trailer_type_name(t) != NULL)
			kn += (size_t)snprintf(known + kn, sizeof(known) - kn, "%s%s",
			    kn ? ", " : "", pb_trailer_type_name(t));
	for (i = 0; i < n; i++) {
		const config_setting_t *e = pb_cfg_elem(c, s, i);
		struct pb_trailer_cfg *tr = &cap->trailers[cap->ntrailers];
		uint32_t len;
		int r;

		if (e == NULL)
			continue;
		pb_cfg_check_keys(c, e, keys);
		r = pb_cfg_string(c, e, "type", type, sizeof(type));
		if (r == 0)
			pb_cfg_error(c, e, "missing required key 'type'");
		if (r != 1)
			continue;
		t = pb_trailer_type_from_name(type);
		if (t <= PB_TRAILER_NONE) {
			pb_cfg_error(c, config_setting_get_member(e, "type"),
			    "unknown trailer type \"%s\" (known: %s)", type, known);
			continue;
		}
		tr->type = (uint8_t)t;
		r = pb_cfg_u32(c, e, "length", 1, 256, &len);
		if (t == PB_TRAILER_FIXED && r == 0)
			pb_cfg_error(c, e, "missing required key 'length'");
		else if (t != PB_TRAILER_FIXED && r != 0)
			pb_cfg_error(c, config_setting_get_member(e, "length"),
			    "only applies to type \"fixed\"");
		else if (r == 1)
			tr->length = (uint16_t)len;
		cap->ntrailers++;
	}
}

/* Keys that only make sense for the other kind of source are errors. */
static void
cfg_only(struct pb_cfg_ctx *c, const config_setting_t *g, const char *const *keys,
    const char *what)
{
	const config_setting_t *s;

	for (; *keys != NULL; keys++)
		if ((s = config_setting_get_member(g, *keys)) != NULL)
			pb_cfg_error(c, s, "only applies to %s", what);
}

static void
cfg_capture(struct pb_cfg_ctx *c, const config_setting_t *g, struct pb_capture_cfg *cap)
{
	static const char *const keys[] = { "name", "description", "interface", "file",
		"filter", "buffer_mb", "timeout_ms", "promisc", "fcs", "max_frame", "rate",
		"loop", "trailers", "linktype", "jetstream", NULL };
	static const char *const live_keys[] = { "buffer_mb", "timeout_ms", "promisc", "linktype",
		NULL };
	static const char *const file_keys[] = { "rate", "loop", NULL };
	static const char *const js_keys[] = { "interface", "file", "filter", "buffer_mb",
		"timeout_ms", "promisc", "linktype", "fcs", "rate", "loop", "trailers", NULL };
	bool has_if = config_setting_get_member(g, "interface") != NULL;
	bool has_file = config_setting_get_member(g, "file") != NULL;
	bool max_set;

	cap->line = config_setting_source_line(g);
	cap->buffer_mb = 64;
	cap->promisc = true;
	cap->rate = PB_RATE_MAX;
	cap->loop = 1;
	pb_cfg_check_keys(c, g, keys);
	if (pb_cfg_name(c, g, "name", cap->name, sizeof(cap->name)) == 0)
		pb_cfg_error(c, g, "missing required key 'name'");
	pb_cfg_string(c, g, "description", cap->description, sizeof(cap->description));
	if (config_setting_get_member(g, "jetstream") != NULL) {
		/* Records come back as they were stored: nothing to capture or cut. */
		cfg_only(c, g, js_keys, "live and file captures");
		pb_cfg_jetstream(c, config_setting_get_member(g, "jetstream"), cap->name, false,
		    &cap->js);
		cap->max_frame = PB_FRAME_CAP;
		return;
	}
	if (has_if && has_file)
		pb_cfg_error(c, g, "both 'interface' and 'file' given, a capture reads exactly"
		    " one");
	else if (!has_if && !has_file)
		pb_cfg_error(c, g, "needs either 'interface' (live) or 'file' (pcap/pcapng)");
	else if (has_file)
		cfg_only(c, g, live_keys, "interface captures");
	else
		cfg_only(c, g, file_keys, "file captures");
	cap->is_file = has_file && !has_if;
	cfg_ifname(c, g, "interface", cap->interface, sizeof(cap->interface));
	pb_cfg_file(c, g, "file", cap->file, sizeof(cap->file), false);
	pb_cfg_string(c, g, "filter", cap->filter, sizeof(cap->filter));
	pb_cfg_u32(c, g, "buffer_mb", 1, 4096, &cap->buffer_mb);
	pb_cfg_u32(c, g, "timeout_ms", 0, 60000, &cap->timeout_ms);
	pb_cfg_bool(c, g, "promisc", &cap->promisc);
	pb_cfg_linktype(c, g, cap);
	pb_cfg_bool(c, g, "fcs", &cap->fcs);
	pb_cfg_rate(c, g, cap);
	pb_cfg_u32(c, g, "loop", 0, UINT32_MAX, &cap->loop);
	cfg_trailers(c, g, cap);
	max_set = pb_cfg_u32(c, g, "max_frame", 64, PB_FRAME_CAP, &cap->max_frame) == 1;
	if (!max_set)
		cap->max_frame = pb_record_default_max_frame((unsigned)cap->ntrailers);
}

static void
cfg_captures(struct pb_cfg_ctx *c, const config_setting_t *root, struct pb_config *cfg)
{
	const config_setting_t *s = config_setting_get_member(root, "captures");
	size_t i;
	int n, k;

	if (s == NULL || (n = pb_cfg_group_list(c, s, PB_MAX_CAPTURES, "captures")) <= 0)
		return;
	cfg->captures = calloc((size_t)n, sizeof(*cfg->captures));
	if (cfg->captures == NULL) {
		pb_cfg_error(c, s, "out of memory");
		return;
	}
	for (k = 0; k < n; k++) {
		const config_setting_t *e = pb_cfg_elem(c, s, k);
		struct pb_capture_cfg *cap = &cfg->captures[cfg->ncaptures];

		if (e == NULL)
			continue;
		cfg_capture(c, e, cap);
		for (i = 0; i < cfg->ncaptures && cap->name[0] != '\0'; i++)
			if (strcmp(cfg->captures[i].name, cap->name) == 0)
				pb_cfg_error(c, config_setting_get_member(e, "name"),
				    "duplicate capture name \"%s\" (first at line %d)", cap->name,
				    cfg->captures[i].line);
		cfg->ncaptures++;
	}
}

static void
cfg_dump(struct pb_cfg_ctx *c, const config_setting_t *g, struct pb_dump_cfg *d,
    size_t idx)
{
	static const char *const keys[] = { "name", "file", "interface", "format",
		"rotate_mb", "rotate_seconds", "max_files", "max_total_mb", "buffer_mb",
		"fsync", "jetstream", NULL };
	static const char *const file_keys[] = { "format", "rotate_mb", "rotate_seconds",
		"max_files", "max_total_mb", "fsync", NULL };
	bool has_if = config_setting_get_member(g, "interface") != NULL;
	bool has_file = config_setting_get_member(g, "file") != NULL;
	char format[16];
	uint64_t v;
	size_t n;
	int r;

	d->line = config_setting_source_line(g);
	d->buffer_mb = 64;
	d->fsync = true;
	if (idx == 0)
		snprintf(d->name, sizeof(d->name), "dump");
	else
		snprintf(d->name, sizeof(d->name), "dump%zu", idx + 1);
	pb_cfg_check_keys(c, g, keys);
	pb_cfg_name(c, g, "name", d->name, sizeof(d->name));
	if (config_setting_get_member(g, "jetstream") != NULL) {
		static const char *const js_keys[] = { "file", "interface", "format", "rotate_mb",
			"rotate_seconds", "max_files", "max_total_mb", "buffer_mb", "fsync", NULL };
		cfg_only(c, g, js_keys, "file and interface dumps");
		d->kind = PB_DUMP_JETSTREAM;
		pb_cfg_jetstream(c, config_setting_get_member(g, "jetstream"), d->name, true,
		    &d->js);
		return;
	}
	if (has_if && has_file)
		pb_cfg_error(c, g, "both 'interface' and 'file' given, a dump writes exactly"
		    " one");
	else if (!has_if && !has_file)
		pb_cfg_error(c, g, "needs either 'file' (pcap/pcapng) or 'interface'");
	else if (has_if)
		cfg_only(c, g, file_keys, "file dumps");
	d->kind = has_if && !has_file ? PB_DUMP_IFACE : PB_DUMP_FILE;
	cfg_ifname(c, g, "interface", d->interface, sizeof(d->interface));
	if (pb_cfg_file(c, g, "file", d->file, sizeof(d->file), false) == 1 &&
	    d->file[strlen(d->file) - 1] == '/')
		pb_cfg_error(c, config_setting_get_member(g, "file"),
		    "names a directory, expected a file name pattern");

	r = pb_cfg_string(c, g, "format", format, sizeof(format));
	if (r == 1 && strcmp(format, "pcapng") == 0)
		d->format = PB_FORMAT_PCAPNG;
	else if (r == 1 && strcmp(format, "pcap") == 0)
		d->format = PB_FORMAT_PCAP;
	else if (r == 1)
		pb_cfg_error(c, config_setting_get_member(g, "format"),
		    "\"%s\": expected \"pcapng\" or \"pcap\"", format);
	else if (r == 0 && (n = strlen(d->file)) >= 5 && strcmp(d->file + n - 5, ".pcap") == 0)
		d->format = PB_FORMAT_PCAP;

	if (pb_cfg_uint(c, g, "rotate_mb", 0, 1048576, &v) == 1)
		d->rotate_bytes = v * PB_CFG_MB;
	pb_cfg_u32(c, g, "rotate_seconds", 0, 31622400, &d->rotate_seconds);
	pb_cfg_u32(c, g, "max_files", 0, 1000000, &d->max_files);
	if (pb_cfg_uint(c, g, "max_total_mb", 0, 1073741824, &v) == 1)
		d->max_total_bytes = v * PB_CFG_MB;
	pb_cfg_u32(c, g, "buffer_mb", 1, 4096, &d->buffer_mb);
	pb_cfg_bool(c, g, "fsync", &d->fsync);

	/* Retention deletes finished files: without rotation there are none. */
	if ((d->max_files || d->max_total_bytes) && !d->rotate_bytes && !d->rotate_seconds)
		pb_cfg_error(c, g, "max_files/max_total_mb need rotation (rotate_mb or "
		    "rotate_seconds)");
	if (d->max_total_bytes && d->rotate_bytes > d->max_total_bytes)
		pb_cfg_error(c, config_setting_get_member(g, "max_total_mb"),
		    "smaller than rotate_mb, not even one file would be kept");
}

static void
cfg_dumps(struct pb_cfg_ctx *c, const config_setting_t *root, struct pb_config *cfg)
{
	const config_setting_t *s = config_setting_get_member(root, "dump");
	size_t i;
	int n, k;

	if (s == NULL || (n = pb_cfg_group_list(c, s, PB_MAX_DUMPS, "dumps")) <= 0)
		return;
	cfg->dumps = calloc((size_t)n, sizeof(*cfg->dumps));
	if (cfg->dumps == NULL) {
		pb_cfg_error(c, s, "out of memory");
		return;
	}
	for (k = 0; k < n; k++) {
		const config_setting_t *e = pb_cfg_elem(c, s, k);
		struct pb_dump_cfg *d = &cfg->dumps[cfg->ndumps];

		if (e == NULL)
			continue;
		cfg_dump(c, e, d, (size_t)k);
		for (i = 0; i < cfg->ndumps; i++)
			if (strcmp(cfg->dumps[i].name, d->name) == 0)
				pb_cfg_error(c, config_setting_get_member(e, "name") ?
				    config_setting_get_member(e, "name") : e,
				    "duplicate dump name \"%s\" (first at line %d)", d->name,
				    cfg->dumps[i].line);
		cfg->ndumps++;
	}
}

static void
cfg_log(struct pb_cfg_ctx *c, const config_setting_t *root, struct pb_config *cfg)
{
	static const char *const keys[] = { "debug", "syslog", NULL };
	const config_setting_t *g = pb_cfg_section(c, root, "log", keys);
	const char *dbg = cfg->log.debug;

	if (g == NULL)
		return;
	if (pb_cfg_string(c, g, "debug", cfg->log.debug, sizeof(cfg->log.debug)) == 1 &&
	    dbg[strspn(dbg, PB_CFG_ALNUM "_-,")] != '\0')
		pb_cfg_error(c, config_setting_get_member(g, "debug"), "\"%s\": expected comma-"
		    "separated subsystems (e.g. \"engine,capture\" or \"all\")", dbg);
	pb_cfg_bool(c, g, "syslog", &cfg->log.syslog);
}

static void
cfg_parse(config_t *lc, struct pb_cfg_ctx *c, struct pb_config *cfg)
{
	/* The second line is parsed by pb_cfg_tunnel() (config_tunnel.c). */
	static const char *const keys[] = { "node", "captures", "dump", "api", "log",
		"listen", "peers", "upstreams", "consumers", "auth", "resend", "dlq", "forward", "ack",
		"heartbeat", "max_hops", "state_dir", "limits", "handshake_timeout_s", "snmp", NULL };
	const config_setting_t *root = config_root_setting(lc);

	pb_cfg_check_keys(c, root, keys);
	cfg_node(c, root, cfg);
	cfg_captures(c, root, cfg);
	cfg_dumps(c, root, cfg);
	pb_cfg_api(c, root, cfg);
	pb_cfg_snmp(c, root, cfg);
	cfg_log(c, root, cfg);
	pb_cfg_tunnel(c, root, cfg);
}

static void
cfg_init(struct pb_cfg_ctx *c, struct pb_config *cfg, pb_config_report_fn *report,
    void *arg, const char *file)
{
	memset(cfg, 0, sizeof(*cfg));
	memset(c, 0, sizeof(*c));
	c->report = report ? report : cfg_report_stderr;
	c->arg = arg;
	c->file = file;
}

/* `ok` is what config_read_*() returned. */
static int
cfg_run(struct pb_cfg_ctx *c, config_t *lc, int ok, struct pb_config *cfg)
{
	char fname[PATH_MAX + 64];

	if (ok)
		cfg_parse(lc, c, cfg);
	else
		pb_cfg_error_at(c, cfg_file_name(c, config_error_file(lc), fname, sizeof(fname)),
		    config_error_line(lc), "%s", config_error_text(lc));
	config_destroy(lc);
	if (c->nerr > 0)
		pb_config_free(cfg);
	return c->nerr;
}

int
pb_config_load(const char *path, struct pb_config *cfg, pb_config_report_fn *report,
    void *arg)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	struct pb_cfg_ctx c;
	config_t lc;
	FILE *fp;
	int err = 0;

	cfg_init(&c, cfg, report, arg, path);
	/* Checked first: libconfig only says "file I/O error". */
	if ((fp = fopen(path, "r")) == NULL) {
		pb_cfg_error_at(&c, path, 0, "cannot open: %s", strerror(errno));
		return c.nerr;
	}
	fclose(fp);
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	if (realpath(dir, c.basedir) == NULL)
		err = errno;
	else if ((size_t)snprintf(cfg->path, sizeof(cfg->path), "%s/%s",
	    strcmp(c.basedir, "/") == 0 ? "" : c.basedir, slash ? slash + 1 : path) >=
	    sizeof(cfg->path))
		err = ENAMETOOLONG;
	if (err != 0) {
		pb_cfg_error_at(&c, path, 0, "cannot resolve its directory: %s", strerror(err));
		memset(cfg, 0, sizeof(*cfg));
		return c.nerr;
	}
	config_init(&lc);
	/* @include "x.conf" is relative to the main file, not to our cwd. */
	config_set_include_dir(&lc, dir);
	c.incdir = config_get_include_dir(&lc);
	return cfg_run(&c, &lc, config_read_file(&lc, path), cfg);
}

int
pb_config_load_string(const char *text, struct pb_config *cfg,
    pb_config_report_fn *report, void *arg)
{
	struct pb_cfg_ctx c;
	config_t lc;

	cfg_init(&c, cfg, report, arg, "<string>");
	if (getcwd(c.basedir, sizeof(c.basedir)) == NULL) {
		pb_cfg_error_at(&c, c.file, 0, "getcwd: %s", strerror(errno));
		return c.nerr;
	}
	config_init(&lc);
	return cfg_run(&c, &lc, config_read_string(&lc, text), cfg);
}

void
pb_config_free(struct pb_config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->ncaptures; i++)
		pb_cfg_jetstream_free(cfg->captures[i].js);
	for (size_t i = 0; i < cfg->ndumps; i++)
		pb_cfg_jetstream_free(cfg->dumps[i].js);
	free(cfg->captures);
	free(cfg->dumps);
	free(cfg->tunnel.peers);
	free(cfg->tunnel.upstreams);
	free(cfg->tunnel.consumers);
	pb_cfg_auth_free(&cfg->tunnel);
	pb_cfg_api_free(&cfg->api);
	/* The PSK is a secret: explicit_bzero() cannot be optimised away. */
	explicit_bzero(cfg, sizeof(*cfg));
}
