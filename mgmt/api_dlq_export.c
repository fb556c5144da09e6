/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "dlq_store.h"
#include "pcap_format.h"
#include "record.h"
#include "wire.h"

/*
 * DLQ records themselves: GET /dlq/{id} shows one row with its decoded
 * record, GET /dlq/export streams the rows matching a filter as pcapng
 * (one interface per origin source and link type, each packet's comment
 * naming its DLQ row and its packetbroker metadata, as tshark shows it).
 * Both read the SQLite file through their own read-only connection; the
 * export reads a page of rows at a time, as the client takes them, and
 * ends at the last row that existed when it started.
 */

#define PB_API_EXPORT_PAGE 32u            /* rows read per SQLite connection */
#define PB_API_EXPORT_BLOCK (64u * 1024u) /* MHD's read size */
#define PB_API_EXPORT_IFS 1024u           /* interfaces (origin sources) per file */

static const char *const pb_api_export_params[] = {
	"peer", "node", "reason", "since", "until", "id_min", "id_max", "limit", NULL
};

/* The row's record from its wire encoding; -1 when it does not decode. */
static int
pb_api_dlq_decode(const struct pb_dlq_row *row, struct pb_wire_msg *m)
{
	size_t used = 0;

	memset(m, 0, sizeof(*m));
	if (row->blob == NULL || pb_wire_decode(row->blob, row->len, m, &used, NULL, 0) !=
	    PB_WIRE_OK || m->type != PB_WIRE_T_RECORD)
		return -1;
	/* Engine-internal fields are not on the wire: this record came from no link. */
	m->record.link_node = 0;
	return 0;
}

/* Origin epochs are link epochs too (README, Security): only for token holders. */
static size_t
pb_api_hide_epoch(char *buf, size_t n)
{
	char *e = strstr(buf, " epoch=");
	size_t digits;

	if (e == NULL)
		return n;
	e += strlen(" epoch=");
	digits = strspn(e, "0123456789");
	if (digits <= 1)
		return n;
	e[0] = '-';
	memmove(e + 1, e + digits, strlen(e + digits) + 1);
	return n - digits + 1;
}

/* "dlq id=7 peer=collector reason=timeout enqueued=<RFC 3339> attempts=0; pb ..." */
static size_t
pb_api_dlq_comment(const struct pb_dlq_row *row, const struct pb_record *rec, bool authed,
    char *buf, size_t len)
{
	const char *reason = pb_dlq_reason_name(row->meta.reason);
	char when[64];
	int n;

	pb_fmt_rfc3339(row->meta.enqueue_ns, 9, when, sizeof(when));
	n = snprintf(buf, len, "dlq id=%llu peer=%.63s reason=%s enqueued=%s attempts=%u; ",
	    (unsigned long long)row->id, row->meta.peer, reason != NULL ? reason : "?",
	    when[0] != '\0' ? when : "-", row->attempts);
	if (n < 0 || (size_t)n >= len)
		return 0;
	n += (int)pb_pcapng_comment(buf + n, len - (size_t)n, rec, NULL);
	return authed ? (size_t)n : pb_api_hide_epoch(buf, (size_t)n);
}

/* ---- GET /dlq/{id} ---- */

static void
pb_api_base64(const uint8_t *in, size_t n, char *out)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = tab[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);

		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
}

static json_t *
pb_api_record_json(const struct pb_dlq_row *row, const struct pb_record *rec, bool authed)
{
	json_t *obj = json_object(), *hops = json_array();
	char *b64 = malloc((size_t)rec->caplen / 3 * 4 + 8);
	char *comment = malloc(PB_PCAPNG_COMMENT_MAX);

	if (obj == NULL || hops == NULL || b64 == NULL || comment == NULL)
		goto fail;
	for (unsigned int i = 0; i < rec->nhops; i++) {
		json_t *h = json_object();

		if (h == NULL || json_array_append_new(hops, h) < 0 ||
		    pb_api_set(h, "node", json_integer(rec->hops[i].node_id)) < 0 ||
		    pb_api_set(h, "seq", pb_api_json_u64(rec->hops[i].seq)) < 0 ||
		    pb_api_set(h, "received", pb_api_json_time(rec->hops[i].ts_ns, 9)) < 0)
			goto fail;
	}
	pb_api_base64(rec->data, rec->caplen, b64);
	pb_api_dlq_comment(row, rec, authed, comment, PB_PCAPNG_COMMENT_MAX);
	if (pb_api_set(obj, "linktype", json_integer(rec->linktype)) < 0 ||
	    pb_api_set(obj, "caplen", json_integer(rec->caplen)) < 0 ||
	    pb_api_set(obj, "origlen", json_integer(rec->origlen)) < 0 ||
	    pb_api_set(obj, "timestamp", pb_api_json_time(rec->ts_ns, 9)) < 0 ||
	    pb_api_set(obj, "trailers", json_integer(rec->ntrailers)) < 0 ||
	    pb_api_set(obj, "comment", pb_api_json_string(comment)) < 0 ||
	    pb_api_set(obj, "data", json_string(b64)) < 0)
		goto fail;
	if (pb_api_set(obj, "hops", hops) < 0) {
		hops = NULL;
		goto fail;
	}
	free(b64);
	free(comment);
	return obj;
fail:
	free(b64);
	free(comment);
	json_decref(hops);
	json_decref(obj);
	return NULL;
}

struct pb_api_entry {
	bool authed, found, failed;
	json_t *obj;
};

static int
pb_api_entry_cb(void *arg, const struct pb_dlq_row *row)
{
	struct pb_api_entry *e = arg;
	struct pb_wire_msg *m = malloc(sizeof(*m));

	e->found = true;
	if (m == NULL || (e->obj = pb_api_dlq_row_json(row, e->authed)) == NULL) {
		e->failed = true;
		free(m);
		return 1;
	}
	/* A row that no longer decodes is shown without its record. */
	if (pb_api_set(e->obj, "record", pb_api_dlq_decode(row, m) == 0 ?
	    pb_api_record_json(row, &m->record, e->authed) : json_null()) < 0)
		e->failed = true;
	free(m);
	return 1;
}

/* GET /api/v1/dlq/{id} */
unsigned int
pb_api_get_dlq_entry(const struct pb_api_req *req, json_t **body)
{
	struct pb_api_entry e = { .authed = req->authed };
	struct pb_dlq_filter f = { 0 };
	struct pb_pubstate *b;
	uint64_t id;
	char err[512];

	if ((b = pb_api_dlq_pubstate(req, body)) == NULL)
		return MHD_HTTP_NOT_FOUND;
	if (pb_fmt_parse_u64(req->arg, INT64_MAX, &id) < 0 || id == 0) {
		*body = pb_api_error("bad DLQ id '%.64s': expected an integer 1..%lld",
		    req->arg, (long long)INT64_MAX);
		return MHD_HTTP_BAD_REQUEST;
	}
	f.id_min = f.id_max = id;
	if (pb_dlq_list_records(b->dlq_path, &f, 1, pb_api_entry_cb, &e, err,
	    sizeof(err)) < 0) {
		json_decref(e.obj);
		log_warnx("api", "GET /dlq/%llu: %s", (unsigned long long)id, err);
		*body = pb_api_error("%s", err);
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	if (!e.found) {
		*body = pb_api_error("no DLQ row %llu (replayed, purged, or never there)",
		    (unsigned long long)id);
		return MHD_HTTP_NOT_FOUND;
	}
	if (e.failed) {
		json_decref(e.obj);
		*body = NULL;
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	*body = e.obj;
	return MHD_HTTP_OK;
}

/* ---- GET /dlq/export ---- */

struct pb_api_export {
	char path[4096];
	struct pb_dlq_filter f;  /* id_min advances page by page */
	uint64_t left;           /* records still to write */
	bool done, failed, authed;
	uint8_t *buf;            /* formatted, not yet handed to MHD */
	size_t len, off, cap;
	size_t nifs;
	struct {
		uint32_t node;
		uint16_t source, linktype;
		int fcslen;
	} ifs[PB_API_EXPORT_IFS];
	uint64_t last_id, rows, skipped;
	char comment[PB_PCAPNG_COMMENT_MAX];
};

static uint8_t *
pb_api_export_room(struct pb_api_export *x, size_t need)
{
	if (x->len + need > x->cap) {
		size_t cap = x->cap > 0 ? x->cap : PB_API_EXPORT_BLOCK;
		uint8_t *nb;

		while (cap < x->len + need)
			cap *= 2;
		if ((nb = realloc(x->buf, cap)) == NULL)
			return NULL;
		x->buf = nb;
		x->cap = cap;
	}
	return x->buf + x->len;
}

/* The interface of rec's origin source and link type, its IDB written first. */
static long
pb_api_export_if(struct pb_api_export *x, const struct pb_record *rec)
{
	int fcslen = pb_pcapng_rec_fcslen(rec);
	uint8_t *p;
	size_t n;

	for (size_t i = 0; i < x->nifs; i++)
		if (x->ifs[i].node == rec->origin_node && x->ifs[i].source == rec->origin_source &&
		    x->ifs[i].linktype == rec->linktype && x->ifs[i].fcslen == fcslen)
			return (long)i;
	if (x->nifs >= PB_API_EXPORT_IFS || (p = pb_api_export_room(x, PB_PCAPNG_IDB_MAX)) == NULL)
		return -1;
	if ((n = pb_pcapng_idb(p, PB_PCAPNG_IDB_MAX, rec->origin_node, rec->origin_source,
	    rec->linktype, fcslen, NULL)) == 0)
		return -1;
	x->len += n;
	x->ifs[x->nifs].node = rec->origin_node;
	x->ifs[x->nifs].source = rec->origin_source;
	x->ifs[x->nifs].linktype = rec->linktype;
	x->ifs[x->nifs].fcslen = fcslen;
	return (long)x->nifs++;
}

static int
pb_api_export_row(void *arg, const struct pb_dlq_row *row)
{
	struct pb_api_export *x = arg;
	struct pb_wire_msg *m = malloc(sizeof(*m));
	size_t clen, need, n;
	long ifid;
	uint8_t *p;

	x->last_id = row->id;
	if (m == NULL) {
		x->failed = true;
		return 1;
	}
	if (pb_api_dlq_decode(row, m) < 0) {
		x->skipped++; /* corrupt row: the rest still exports */
		free(m);
		return 0;
	}
	clen = pb_api_dlq_comment(row, &m->record, x->authed, x->comment, sizeof(x->comment));
	need = PB_PCAPNG_EPB_LEN(m->record.caplen, clen + 1);
	if ((ifid = pb_api_export_if(x, &m->record)) < 0 ||
	    (p = pb_api_export_room(x, need)) == NULL ||
	    (n = pb_pcapng_epb_raw(p, need, &m->record, (uint32_t)ifid, x->comment,
	    clen)) == 0) {
		x->failed = true;
		free(m);
		return 1;
	}
	x->len += n;
	x->rows++;
	free(m);
	return --x->left == 0 ? 1 : 0;
}

/* The next page of rows into x->buf; done when there is none. 0 or -1. */
static int
pb_api_export_page(struct pb_api_export *x, char *err, size_t errlen)
{
	uint64_t before = x->last_id;

	/* Appends to what is left (the section header before the first page). */
	if (x->off == x->len)
		x->len = x->off = 0;
	if (pb_dlq_list_records(x->path, &x->f, PB_API_EXPORT_PAGE, pb_api_export_row, x,
	    err, errlen) < 0)
		return -1;
	if (x->failed) {
		snprintf(err, errlen, "out of memory or more than %u origin sources",
		    PB_API_EXPORT_IFS);
		return -1;
	}
	if (x->last_id == before || x->left == 0 ||
	    (x->f.id_max != 0 && x->last_id >= x->f.id_max))
		x->done = true;
	x->f.id_min = x->last_id + 1;
	return 0;
}

static ssize_t
pb_api_export_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct pb_api_export *x = cls;
	char err[512];
	size_t n;

	while (x->off == x->len) {
		if (x->done)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (pb_api_export_page(x, err, sizeof(err)) < 0) {
			/* Mid-stream: all a client can see is the cut (chunked, no end). */
			log_warnx("api", "DLQ export cut after %llu record(s): %s",
			    (unsigned long long)x->rows, err);
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
	}
	n = x->len - x->off < max ? x->len - x->off : max;
	memcpy(out, x->buf + x->off, n);
	x->off += n;
	return (ssize_t)n;
}

static void
pb_api_export_free(void *cls)
{
	struct pb_api_export *x = cls;

	free(x->buf);
	free(x);
}

static int
pb_api_last_id_cb(void *arg, const struct pb_dlq_row *row)
{
	*(uint64_t *)arg = row->id;
	return 1;
}

/* GET /api/v1/dlq/export?filters&limit=N */
unsigned int
pb_api_get_dlq_export(const struct pb_api_req *req, json_t **body)
{
	struct pb_api_export *x;
	struct pb_pubstate *b;
	struct MHD_Response *resp;
	uint64_t total = 0, last = 0;
	const char *s;
	char err[512];
	uint8_t *p;
	size_t n;

	if ((b = pb_api_dlq_pubstate(req, body)) == NULL)
		return MHD_HTTP_NOT_FOUND;
	if ((x = calloc(1, sizeof(*x))) == NULL) {
		*body = NULL;
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	x->left = UINT64_MAX;
	x->authed = req->authed;
	if (pb_api_query_check(req, pb_api_export_params, body) < 0 ||
	    pb_api_filter_from_query(req, &x->f, body) < 0)
		goto bad;
	if ((s = pb_api_query(req, "limit")) != NULL &&
	    (pb_fmt_parse_u64(s, INT64_MAX, &x->left) < 0 || x->left == 0)) {
		*body = pb_api_error("bad limit '%.64s': expected records 1..%lld", s,
		    (long long)INT64_MAX);
		goto bad;
	}
	snprintf(x->path, sizeof(x->path), "%s", b->dlq_path);
	/* The last matching row now bounds the export: rows spilled meanwhile
	 * do not keep it going. */
	if (pb_dlq_list(x->path, &x->f, 0, 0, NULL, NULL, &total, err, sizeof(err)) < 0 ||
	    (total > 0 && pb_dlq_list(x->path, &x->f, total - 1, 1, pb_api_last_id_cb, &last,
	    NULL, err, sizeof(err)) < 0))
		goto fail;
	if (total == 0)
		x->done = true;
	else
		x->f.id_max = last;
	/* The section header, then the first page: errors are still JSON here. */
	if ((p = pb_api_export_room(x, PB_PCAPNG_SHB_MAX)) == NULL ||
	    (n = pb_pcapng_shb_comment(p, PB_PCAPNG_SHB_MAX, "packetbroker DLQ export")) == 0) {
		snprintf(err, sizeof(err), "out of memory");
		goto fail;
	}
	x->len = n;
	if (!x->done && pb_api_export_page(x, err, sizeof(err)) < 0)
		goto fail;
	/* Nothing matched: one Ethernet interface still, as libpcap wants one. */
	if (x->done && x->nifs == 0 &&
	    ((p = pb_api_export_room(x, PB_PCAPNG_IDB_MAX)) == NULL ||
	     (n = pb_pcapng_idb(p, PB_PCAPNG_IDB_MAX, 0, 0, 1, -1, NULL)) == 0)) {
		snprintf(err, sizeof(err), "out of memory");
		goto fail;
	}
	if (x->done && x->nifs == 0)
		x->len += n;
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, PB_API_EXPORT_BLOCK,
	    pb_api_export_read, x, pb_api_export_free);
	if (resp == NULL) {
		snprintf(err, sizeof(err), "out of memory");
		goto fail;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-pcapng");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION,
	    "attachment; filename=\"packetbroker-dlq.pcapng\"");
	*req->raw = resp;
	return MHD_HTTP_OK;
bad:
	pb_api_export_free(x);
	return MHD_HTTP_BAD_REQUEST;
fail:
	log_warnx("api", "GET /dlq/export: %s", err);
	pb_api_export_free(x);
	*body = pb_api_error("%s", err);
	return MHD_HTTP_INTERNAL_SERVER_ERROR;
}
