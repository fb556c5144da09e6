/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_internal.h"

/*
 * The dashboard's static files from api.web_root. A fixed list of names
 * (the same as the route table's), each with its type: no lookup of
 * arbitrary paths, so nothing outside the
 * directory (and nothing else inside it) can be served. The page talks to
 * the REST API only; its CSP forbids anything not from this origin.
 */

#define PB_WEB_CSP "default-src 'self'; script-src 'self'; style-src 'self'; " \
	"img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; " \
	"form-action 'none'; frame-ancestors 'none'"
#define PB_WEB_FILE_MAX (4 * 1024 * 1024)

static const struct pb_web_file {
	const char *name;
	const char *type;
} pb_web_files[] = {
	{ "index.html", "text/html; charset=utf-8" },
	{ "app.js", "text/javascript; charset=utf-8" },
	{ "chart.js", "text/javascript; charset=utf-8" },
	{ "style.css", "text/css; charset=utf-8" },
	{ "favicon.svg", "image/svg+xml" },
};

static const struct pb_web_file *
pb_web_lookup(const char *path)
{
	const char *name = path[0] == '/' ? path + 1 : path;
	size_t n = strlen(name);

	/* "/" and "/index.html/" are the page; one trailing '/' as the API. */
	if (n > 0 && name[n - 1] == '/')
		n--;
	if (n == 0)
		return &pb_web_files[0];
	for (size_t i = 0; i < sizeof(pb_web_files) / sizeof(pb_web_files[0]); i++)
		if (strlen(pb_web_files[i].name) == n &&
		    memcmp(pb_web_files[i].name, name, n) == 0)
			return &pb_web_files[i];
	return NULL;
}

unsigned int
pb_api_get_web(const struct pb_api_req *req, json_t **body)
{
	const struct pb_web_file *f = pb_web_lookup(req->path);
	struct MHD_Response *resp;
	char path[PATH_MAX];
	struct stat st;
	int fd, n;

	if (f == NULL) {
		*body = pb_api_error_add(pb_api_error("not found"), "path",
		    pb_api_json_string(req->path));
		return MHD_HTTP_NOT_FOUND;
	}
	if (req->api->web_root[0] == '\0') {
		*body = pb_api_error_add(pb_api_error_code("not_found", "not found: "
		    "no dashboard (api.web_root is not set)"), "path",
		    pb_api_json_string(req->path));
		return MHD_HTTP_NOT_FOUND;
	}
	n = snprintf(path, sizeof(path), "%s/%s", req->api->web_root, f->name);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		*body = pb_api_error_code("internal_error", "api.web_root too long");
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > PB_WEB_FILE_MAX) {
		int saved = fd < 0 ? errno : 0;

		if (fd >= 0)
			close(fd);
		char msg[PATH_MAX + 64];

		/* Throttled: every request for a missing file would log one. */
		snprintf(msg, sizeof(msg), "dashboard file %s: %s", path,
		    saved != 0 ? strerror(saved) : "not a regular file of at most 4 MiB");
		pb_api_log_throttled(req->api, msg);
		*body = pb_api_error_add(pb_api_error("not found: dashboard file "
		    "missing in api.web_root"), "path", pb_api_json_string(req->path));
		return MHD_HTTP_NOT_FOUND;
	}
	/* MHD closes fd with the response. */
	resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
	if (resp == NULL) {
		close(fd);
		*body = NULL;
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, f->type) != MHD_YES ||
	    MHD_add_response_header(resp, "Content-Security-Policy", PB_WEB_CSP) != MHD_YES ||
	    MHD_add_response_header(resp, "X-Frame-Options", "DENY") != MHD_YES ||
	    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer") != MHD_YES) {
		MHD_destroy_response(resp);
		*body = NULL;
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	*req->raw = resp;
	return MHD_HTTP_OK;
}
