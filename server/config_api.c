/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "config.h"
#include "config_int.h"
#include "keyring.h"

/*
 * The `api` section: listen address, connection bounds, the bearer token
 * for mutations and the Host/Origin allow lists (docs/configuration.md).
 */

#define CFG_TOKEN_READ_MAX (PB_API_TOKEN_MAX + 64) /* room for trailing whitespace */
#define CFG_PEM_MAX (256 * 1024)  /* a certificate chain or a key */

int
pb_api_hostport_parse(const char *s, size_t len, struct pb_api_host *out)
{
	const char *end = s + len, *colon = NULL, *h = s, *hend;
	unsigned char v6[sizeof(struct in6_addr)];
	char tmp[PB_API_HOST_MAX];
	unsigned long port = 0;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return -1;
	if (s[0] == '[') {
		const char *rb = memchr(s, ']', len);

		if (rb == NULL)
			return -1;
		h = s + 1;
		hend = rb;
		if (rb + 1 < end) {
			if (rb[1] != ':')
				return -1;
			colon = rb + 1;
		}
	} else {
		for (const char *p = s; p < end; p++)
			if (*p == ':') {
				if (colon != NULL)
					return -1; /* IPv6 needs brackets */
				colon = p;
			}
		hend = colon != NULL ? colon : end;
	}
	n = (size_t)(hend - h);
	if (n == 0 || n >= sizeof(tmp))
		return -1;
	for (size_t i = 0; i < n; i++)
		tmp[i] = (char)tolower((unsigned char)h[i]);
	tmp[n] = '\0';
	if (s[0] == '[') {
		if (inet_pton(AF_INET6, tmp, v6) != 1)
			return -1;
	} else if (tmp[strspn(tmp, "abcdefghijklmnopqrstuvwxyz0123456789.-_")] != '\0') {
		return -1;
	}
	if (colon != NULL) {
		const char *p = colon + 1;

		if (p == end || end - p > 5)
			return -1;
		for (; p < end; p++) {
			if (*p < '0' || *p > '9')
				return -1;
			port = port * 10 + (unsigned long)(*p - '0');
		}
		if (port == 0 || port > 65535)
			return -1;
	}
	memcpy(out->host, tmp, n + 1);
	out->port = (uint16_t)port;
	return 0;
}

int
pb_api_origin_parse(const char *s, struct pb_api_origin *out)
{
	size_t skip;

	memset(out, 0, sizeof(*out));
	if (strncasecmp(s, "http://", 7) == 0)
		skip = 7;
	else if (strncasecmp(s, "https://", 8) == 0)
		skip = 8, out->https = true;
	else
		return -1;
	/* Origins carry no path, query, user info or trailing slash. */
	if (s[skip + strcspn(s + skip, "/?#@")] != '\0' ||
	    pb_api_hostport_parse(s + skip, strlen(s + skip), &out->at) < 0)
		return -1;
	if (out->at.port == 0)
		out->at.port = out->https ? 443 : 80;
	return 0;
}

/* "127.0.0.1:8080" or "[::1]:8080"; the address is stored bare. */
static void
cfg_listen(struct pb_cfg_ctx *c, const config_setting_t *g, struct pb_api_cfg *api)
{
	const config_setting_t *s = config_setting_get_member(g, "listen");
	char buf[sizeof(api->address) + 8], *addr = buf, *port, *end = NULL;
	unsigned char bin[sizeof(struct in6_addr)];
	unsigned long p = 0;
	bool v6;

	if (pb_cfg_string(c, g, "listen", buf, sizeof(buf)) != 1)
		return;
	v6 = buf[0] == '[';
	if (v6 ? (port = strstr(buf, "]:")) == NULL : (port = strrchr(buf, ':')) == NULL) {
		pb_cfg_error(c, s, "\"%s\": expected IPv4:PORT or [IPv6]:PORT", buf);
		return;
	}
	*port = '\0';
	port += v6 ? 2 : 1;
	addr += v6;
	if (!v6 && strchr(addr, ':') != NULL) {
		pb_cfg_error(c, s, "IPv6 addresses need brackets, e.g. [::1]:8080");
		return;
	}
	if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, bin) != 1) {
		pb_cfg_error(c, s, "\"%s\" is not a numeric IPv%c address", addr,
		    v6 ? '6' : '4');
		return;
	}
	if (port[0] >= '0' && port[0] <= '9')
		p = strtoul(port, &end, 10);
	if (p == 0 || p > 65535 || *end != '\0') {
		pb_cfg_error(c, s, "port \"%s\" is out of range 1..65535", port);
		return;
	}
	/* inet_pton() accepted it, so it is short enough. */
	memcpy(api->address, addr, strlen(addr) + 1);
	api->port = (uint16_t)p;
}

/*
 * Read now, so that `packetbrokerd -t` finds a missing, exposed or short
 * token before the daemon runs. Anyone who can read it can purge the DLQ:
 * only the daemon's own user may have access (pb_secret_read's checks).
 */
static void
cfg_token(struct pb_cfg_ctx *c, const config_setting_t *s, const char *file,
    uint8_t token[PB_API_TOKEN_MAX], size_t *token_len)
{
	uint8_t buf[CFG_TOKEN_READ_MAX];
	char err[PATH_MAX + 160];
	size_t n = 0;

	if (pb_secret_read(file, buf, sizeof(buf), &n, err, sizeof(err)) < 0) {
		pb_cfg_error(c, s, "%s", err);
		return;
	}
	if (n > PB_API_TOKEN_MAX)
		pb_cfg_error(c, s, "\"%s\" is too long: at most %d bytes of token (after"
		    " stripping trailing whitespace)", file, PB_API_TOKEN_MAX);
	else if (n < PB_API_TOKEN_MIN)
		pb_cfg_error(c, s, "\"%s\" is too short: %zu bytes after stripping trailing"
		    " whitespace, at least %d", file, n, PB_API_TOKEN_MIN);
	else if (memchr(buf, '\n', n) != NULL || memchr(buf, '\r', n) != NULL)
		pb_cfg_error(c, s, "\"%s\": the token must be one line", file);
	else {
		memcpy(token, buf, n);
		*token_len = n;
	}
	explicit_bzero(buf, sizeof(buf));
}

/* A PEM file into a NUL-terminated heap copy; -1 with the problem reported. */
static int
cfg_pem(struct pb_cfg_ctx *c, const config_setting_t *s, const char *file, bool secret,
    char **out)
{
	char err[PATH_MAX + 160];
	uint8_t *buf;
	size_t n = 0;
	FILE *fp;

	if ((buf = malloc(CFG_PEM_MAX + 1)) == NULL) {
		pb_cfg_error(c, s, "out of memory");
		return -1;
	}
	if (secret) {
		/* The key: owner-only, like every secret file. */
		if (pb_secret_read(file, buf, CFG_PEM_MAX, &n, err, sizeof(err)) < 0) {
			pb_cfg_error(c, s, "%s", err);
			free(buf);
			return -1;
		}
	} else {
		if ((fp = fopen(file, "rb")) == NULL) {
			pb_cfg_error(c, s, "\"%s\": %s", file, strerror(errno));
			free(buf);
			return -1;
		}
		n = fread(buf, 1, CFG_PEM_MAX + 1, fp);
		fclose(fp);
		if (n > CFG_PEM_MAX) {
			pb_cfg_error(c, s, "\"%s\" is larger than %d bytes", file, CFG_PEM_MAX);
			free(buf);
			return -1;
		}
	}
	buf[n] = '\0';
	*out = (char *)buf;
	return 0;
}

/* Both PEM files parse, and the key belongs to the certificate. */
static void
cfg_tls(struct pb_cfg_ctx *c, const config_setting_t *g, struct pb_api_cfg *api)
{
	const config_setting_t *sc = config_setting_get_member(g, "tls_cert");
	const config_setting_t *sk = config_setting_get_member(g, "tls_key");
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	BIO *bio;

	if (api->tls_cert[0] == '\0' && api->tls_key[0] == '\0')
		return;
	if (api->tls_cert[0] == '\0' || api->tls_key[0] == '\0') {
		pb_cfg_error(c, sc != NULL ? sc : sk, "tls_cert and tls_key go together");
		return;
	}
	if (cfg_pem(c, sc, api->tls_cert, false, &api->tls_cert_pem) < 0 ||
	    cfg_pem(c, sk, api->tls_key, true, &api->tls_key_pem) < 0)
		return;
	if ((bio = BIO_new_mem_buf(api->tls_cert_pem, -1)) != NULL)
		cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if ((bio = BIO_new_mem_buf(api->tls_key_pem, -1)) != NULL)
		key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (cert == NULL)
		pb_cfg_error(c, sc, "\"%s\": no PEM certificate", api->tls_cert);
	else if (key == NULL)
		pb_cfg_error(c, sk, "\"%s\": no PEM private key (or it is encrypted)",
		    api->tls_key);
	else if (X509_check_private_key(cert, key) != 1)
		pb_cfg_error(c, sk, "\"%s\" is not the key of the certificate \"%s\"",
		    api->tls_key, api->tls_cert);
	ERR_clear_error();
	EVP_PKEY_free(key);
	X509_free(cert);
}

void
pb_cfg_api_free(struct pb_api_cfg *api)
{
	pb_secret_free(api->tls_key_pem);
	free(api->tls_cert_pem);
	api->tls_key_pem = api->tls_cert_pem = NULL;
}

/* A list or array of strings, each parsed by `parse`; -1 entries reported. */
static void
cfg_api_list(struct pb_cfg_ctx *c, const config_setting_t *g, const char *key,
    const char *expect, int (*parse)(const char *s, void *out), void *arr, size_t elsz,
    size_t *count)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	int n;

	if (s == NULL)
		return;
	if (!config_setting_is_list(s) && !config_setting_is_array(s)) {
		pb_cfg_error(c, s, "expected a list of strings [\"...\", ...], got %s",
		    pb_cfg_type_name(s));
		return;
	}
	n = config_setting_length(s);
	if (n > PB_API_MAX_ALLOWED) {
		pb_cfg_error(c, s, "%d entries, at most %d", n, PB_API_MAX_ALLOWED);
		n = PB_API_MAX_ALLOWED;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned int)i);
		const char *v;

		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			pb_cfg_error(c, e, "expected a string, got %s", pb_cfg_type_name(e));
			continue;
		}
		v = config_setting_get_string(e);
		if (parse(v, (char *)arr + *count * elsz) < 0) {
			pb_cfg_error(c, e, "\"%s\": expected %s", v, expect);
			continue;
		}
		(*count)++;
	}
}

static int
cfg_parse_host(const char *s, void *out)
{
	return pb_api_hostport_parse(s, strlen(s), out);
}

static int
cfg_parse_origin(const char *s, void *out)
{
	return pb_api_origin_parse(s, out);
}

void
pb_cfg_api(struct pb_cfg_ctx *c, const config_setting_t *root, struct pb_config *cfg)
{
	static const char *const keys[] = { "enabled", "listen", "max_connections",
		"max_connections_per_ip", "timeout", "header_timeout", "web_root",
		"token_file", "allowed_hosts", "allowed_origins", "read_token_file",
		"tls_cert", "tls_key", "rate_limit", "rate_burst", NULL };
	const config_setting_t *g = pb_cfg_section(c, root, "api", keys);
	struct pb_api_cfg *api = &cfg->api;

	api->enabled = true;
	snprintf(api->address, sizeof(api->address), "127.0.0.1");
	api->port = 8080;
	api->max_connections = 64;
	api->max_connections_per_ip = 8;
	api->timeout_s = 15;
	api->header_timeout_s = 10;
	snprintf(api->web_root, sizeof(api->web_root), "%s", PB_WEB_DIR);
	if (g == NULL)
		return;
	api->line = config_setting_source_line(g);
	pb_cfg_bool(c, g, "enabled", &api->enabled);
	cfg_listen(c, g, api);
	pb_cfg_u32(c, g, "max_connections", 1, 10000, &api->max_connections);
	pb_cfg_u32(c, g, "max_connections_per_ip", 1, 10000, &api->max_connections_per_ip);
	pb_cfg_u32(c, g, "timeout", 1, 3600, &api->timeout_s);
	pb_cfg_u32(c, g, "header_timeout", 1, 3600, &api->header_timeout_s);
	pb_cfg_file(c, g, "web_root", api->web_root, sizeof(api->web_root), true);
	if (pb_cfg_file(c, g, "token_file", api->token_file, sizeof(api->token_file),
	    true) == 1)
		cfg_token(c, config_setting_get_member(g, "token_file"), api->token_file,
		    api->token, &api->token_len);
	if (pb_cfg_file(c, g, "read_token_file", api->read_token_file,
	    sizeof(api->read_token_file), true) == 1)
		cfg_token(c, config_setting_get_member(g, "read_token_file"),
		    api->read_token_file, api->read_token, &api->read_token_len);
	pb_cfg_file(c, g, "tls_cert", api->tls_cert, sizeof(api->tls_cert), true);
	pb_cfg_file(c, g, "tls_key", api->tls_key, sizeof(api->tls_key), true);
	cfg_tls(c, g, api);
	pb_cfg_number(c, g, "rate_limit", 0, 1e6, &api->rate_limit);
	if (pb_cfg_u32(c, g, "rate_burst", 1, 1000000, &api->rate_burst) == 1 &&
	    api->rate_limit == 0)
		pb_cfg_error(c, config_setting_get_member(g, "rate_burst"),
		    "needs rate_limit");
	if (api->rate_burst == 0)
		api->rate_burst = api->rate_limit * 2 < 1 ? 1 : (uint32_t)(api->rate_limit * 2);
	cfg_api_list(c, g, "allowed_hosts", "a host name or address, optionally with "
	    ":PORT (IPv6 in brackets)", cfg_parse_host, api->allowed_hosts,
	    sizeof(api->allowed_hosts[0]), &api->nallowed_hosts);
	cfg_api_list(c, g, "allowed_origins", "http://HOST[:PORT] or https://HOST[:PORT]",
	    cfg_parse_origin, api->allowed_origins, sizeof(api->allowed_origins[0]),
	    &api->nallowed_origins);
	if (api->max_connections_per_ip <= api->max_connections)
		return;
	if (config_setting_get_member(g, "max_connections_per_ip") != NULL)
		pb_cfg_error(c, config_setting_get_member(g, "max_connections_per_ip"),
		    "%u is above max_connections (%u)", api->max_connections_per_ip,
		    api->max_connections);
	else
		api->max_connections_per_ip = api->max_connections; /* the default */
}
