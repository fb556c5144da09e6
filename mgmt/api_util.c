/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"

/*
 * Helpers every handler uses: JSON values from C values, error bodies
 * ({"error": {"code", "message", ...}}), query strings, and the response
 * counters by status.
 */

/* ---- JSON values ---- */

json_t *
pb_api_json_stringn(const char *s, size_t len)
{
	json_t *j;
	char *copy;

	if ((j = json_stringn(s, len)) != NULL)
		return j;
	/* Not UTF-8 (paths are client bytes): keep ASCII, mask the rest. */
	if ((copy = malloc(len + 1)) == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		copy[i] = (ch == 0 || ch >= 0x80) ? '?' : (char)ch;
	}
	copy[len] = '\0';
	j = json_stringn(copy, len);
	free(copy);
	return j;
}

json_t *
pb_api_json_string(const char *s)
{
	if (s == NULL)
		return json_null();
	return pb_api_json_stringn(s, strlen(s));
}

json_t *
pb_api_json_u64(uint64_t v)
{
	return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

json_t *
pb_api_json_time(uint64_t real_ns, unsigned int digits)
{
	char buf[64];

	if (pb_fmt_rfc3339(real_ns, digits, buf, sizeof(buf)) == 0)
		return json_null();
	return json_string(buf);
}

int
pb_api_set(json_t *obj, const char *key, json_t *val)
{
	if (val == NULL)
		return -1;
	return json_object_set_new(obj, key, val) == 0 ? 0 : -1;
}

/* ---- errors ---- */

static const struct {
	unsigned int status;
	const char *code;
} pb_api_codes[] = {
	{ 400, "bad_request" }, { 401, "unauthorized" }, { 403, "forbidden" },
	{ 404, "not_found" }, { 405, "method_not_allowed" }, { 409, "conflict" },
	{ 413, "payload_too_large" }, { 414, "uri_too_long" },
	{ 415, "unsupported_media_type" }, { 421, "misdirected_request" },
	{ 429, "too_many_requests" }, { 500, "internal_error" },
	{ 503, "unavailable" }, { 504, "timeout" },
};

const char *
pb_api_status_code(unsigned int status)
{
	for (size_t i = 0; i < sizeof(pb_api_codes) / sizeof(pb_api_codes[0]); i++)
		if (pb_api_codes[i].status == status)
			return pb_api_codes[i].code;
	return status >= 500 ? "internal_error" : "bad_request";
}

json_t *
pb_api_error_code(const char *code, const char *fmt, ...)
{
	char msg[512];
	json_t *obj, *err;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if ((obj = json_object()) == NULL)
		return NULL;
	if ((err = json_object()) == NULL || pb_api_set(obj, "error", err) < 0 ||
	    pb_api_set(err, "message", pb_api_json_string(msg)) < 0 ||
	    (code != NULL && pb_api_set(err, "code", json_string(code)) < 0)) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

json_t *
pb_api_error_add(json_t *body, const char *key, json_t *val)
{
	json_t *err = body != NULL ? json_object_get(body, "error") : NULL;

	if (err == NULL || pb_api_set(err, key, val) < 0) {
		if (err == NULL)
			json_decref(val);
		json_decref(body);
		return NULL;
	}
	return body;
}

void
pb_api_error_finish(json_t *body, unsigned int status)
{
	json_t *err = body != NULL ? json_object_get(body, "error") : NULL;

	if (status >= 400 && json_is_object(err) && json_object_get(err, "code") == NULL)
		json_object_set_new(err, "code", json_string(pb_api_status_code(status)));
}

/* ---- response counters ---- */

const unsigned int pb_api_counted_status[PB_API_NSTATUS] = {
	200, 202, 400, 401, 403, 404, 405, 409, 413, 414, 415, 421, 429, 500, 503, 504,
	0 /* any other */
};

void
pb_api_count_status(struct pb_api *api, unsigned int status)
{
	size_t i;

	for (i = 0; i + 1 < PB_API_NSTATUS; i++)
		if (pb_api_counted_status[i] == status)
			break;
	atomic_fetch_add_explicit(&api->responses[i], 1, memory_order_relaxed);
	if (status >= 400)
		atomic_fetch_add_explicit(&api->errors, 1, memory_order_relaxed);
}

/* ---- query string ---- */

const char *
pb_api_query(const struct pb_api_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct pb_api_query_scan {
	const char *const *known;
	uint32_t seen;      /* bit i: known[i] already met */
	const char *why;    /* first problem, or NULL */
	char key[64];
};

static enum MHD_Result
pb_api_query_each(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct pb_api_query_scan *sc = cls;
	size_t i;

	for (i = 0; sc->known[i] != NULL; i++)
		if (strcmp(sc->known[i], key) == 0)
			break;
	/* Parameter lists are short: repeats are tracked for the first 32. */
	if (sc->known[i] == NULL)
		sc->why = "unknown parameter";
	else if (i < 32 && (sc->seen & (UINT32_C(1) << i)) != 0)
		sc->why = "repeated parameter";
	else if (value == NULL)
		sc->why = "missing value for parameter";
	if (sc->why != NULL) {
		snprintf(sc->key, sizeof(sc->key), "%s", key);
		return MHD_NO;
	}
	if (i < 32)
		sc->seen |= UINT32_C(1) << i;
	return MHD_YES;
}

int
pb_api_query_check(const struct pb_api_req *req, const char *const *known, json_t **body)
{
	struct pb_api_query_scan sc = { .known = known };

	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, pb_api_query_each, &sc);
	if (sc.why == NULL)
		return 0;
	*body = pb_api_error("%s '%s'", sc.why, sc.key);
	return -1;
}

/* ---- JSON request bodies ---- */

json_t *
pb_api_body_json(const struct pb_api_req *req, json_t **body)
{
	json_error_t jerr;
	json_t *root;

	root = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		json_t *pos = json_object();

		if (pos == NULL || pb_api_set(pos, "line", json_integer(jerr.line)) < 0 ||
		    pb_api_set(pos, "column", json_integer(jerr.column)) < 0 ||
		    pb_api_set(pos, "offset", json_integer(jerr.position)) < 0) {
			json_decref(pos);
			*body = NULL;
			return NULL;
		}
		*body = pb_api_error_add(pb_api_error_code("invalid_json", "bad JSON at line %d, "
		    "column %d (byte %d): %s", jerr.line, jerr.column, jerr.position, jerr.text),
		    "position", pos);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		*body = pb_api_error_code("invalid_json", "bad JSON: expected an object");
		return NULL;
	}
	return root;
}
