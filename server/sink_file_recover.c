/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "pcap_format.h"
#include "sink_file_names.h"
#include "sink_file_recover.h"

/*
 * The scan reads each file sequentially in 4 MiB pread()s into one
 * buffer and looks only at block headers, trailers and EPB comments: a
 * 1 GiB file costs 256 reads and one short parse per record.
 */

#define RC_BUF (4u << 20)
/* A write cut by a crash leaves less than one block: the largest we write. */
#define RC_MAX_PARTIAL PB_PCAPNG_EPB_MAX
#define RC_SHB_MAGIC_SWAPPED 0x4d3c2b1au

struct rc_reader {
	int fd;
	uint8_t *buf;
	uint64_t size;         /* file size at open */
	uint64_t wstart, wend; /* file range held in buf */
};

/* One stream (node, source, epoch), or link (node; source = epoch = 0,
 * its link epoch in lepoch). */
struct rc_ent {
	uint32_t node;
	uint16_t source;
	bool used;
	uint64_t epoch;
	uint64_t lepoch;
	uint64_t seq;
};

struct rc_table {
	struct rc_ent *v;
	size_t cap, n;     /* cap: power of two */
	struct rc_ent *last; /* cache: records of one stream come in runs */
};

struct rc_ctx {
	struct rc_table links, streams;
	pb_recover_record_fn *each;
	void *arg;
	struct pb_recovery *out;
	char *err;
	size_t errlen;
};

/* ---- tables -------------------------------------------------------------- */

static size_t
rc_slot(const struct rc_table *t, uint32_t node, uint16_t source, uint64_t epoch)
{
	uint64_t h = ((uint64_t)node << 16 | source) * 0x9e3779b97f4a7c15ull ^
	    epoch * 0xc2b2ae3d27d4eb4full;
	size_t i = (size_t)(h >> 29) & (t->cap - 1);

	while (t->v[i].used && (t->v[i].node != node || t->v[i].source != source ||
	    t->v[i].epoch != epoch))
		i = (i + 1) & (t->cap - 1);
	return i;
}

static int
rc_grow(struct rc_table *t)
{
	size_t ncap = t->cap ? 2 * t->cap : 64;
	struct rc_table nt = { .cap = ncap };

	if (!(nt.v = calloc(ncap, sizeof(*nt.v))))
		return -1;
	for (size_t i = 0; i < t->cap; i++)
		if (t->v[i].used)
			nt.v[rc_slot(&nt, t->v[i].node, t->v[i].source, t->v[i].epoch)] = t->v[i];
	nt.n = t->n;
	free(t->v);
	*t = nt;
	return 0;
}

/* The entry of (node, source, epoch), created with seq; NULL when out of
 * memory. */
static struct rc_ent *
rc_get(struct rc_table *t, uint32_t node, uint16_t source, uint64_t epoch, uint64_t lepoch,
    uint64_t seq)
{
	struct rc_ent *e = t->last;

	if (e && e->node == node && e->source == source && e->epoch == epoch)
		return e;
	if ((t->n + 1) * 2 > t->cap && rc_grow(t) < 0)
		return NULL;
	e = &t->v[rc_slot(t, node, source, epoch)];
	if (!e->used) {
		*e = (struct rc_ent){ .node = node, .source = source, .used = true,
		    .epoch = epoch, .lepoch = lepoch, .seq = seq };
		t->n++;
	}
	return t->last = e;
}

static int
rc_ent_cmp(const void *a, const void *b)
{
	const struct rc_ent *x = a, *y = b;

	if (x->node != y->node)
		return x->node < y->node ? -1 : 1;
	if (x->source != y->source)
		return x->source < y->source ? -1 : 1;
	return x->epoch < y->epoch ? -1 : x->epoch > y->epoch;
}

/* Compacts the used entries, sorted, to the front of t->v. */
static size_t
rc_sorted(struct rc_table *t)
{
	size_t n = 0;

	for (size_t i = 0; i < t->cap; i++)
		if (t->v[i].used)
			t->v[n++] = t->v[i];
	if (n)
		qsort(t->v, n, sizeof(*t->v), rc_ent_cmp);
	return n;
}

/* ---- comment ------------------------------------------------------------- */

/* A stream's highest seq; -1 when out of memory. */
static int
rc_stream(struct rc_table *t, uint32_t node, uint16_t source, uint64_t epoch, uint64_t seq)
{
	struct rc_ent *e = rc_get(t, node, source, epoch, 0, seq);

	if (!e)
		return -1;
	if (seq > e->seq)
		e->seq = seq;
	return 0;
}

/* A link's latest epoch in file order, and its highest seq in it. */
static int
rc_link(struct rc_table *t, uint32_t node, uint64_t lepoch, uint64_t seq)
{
	struct rc_ent *e = rc_get(t, node, 0, 0, lepoch, seq);

	if (!e)
		return -1;
	if (lepoch != e->lepoch) {
		e->lepoch = lepoch;
		e->seq = seq;
	} else if (seq > e->seq) {
		e->seq = seq;
	}
	return 0;
}

static bool
rc_lit(const char **p, const char *end, const char *lit, size_t n)
{
	if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0)
		return false;
	*p += n;
	return true;
}

#define RC_LIT(p, end, s) rc_lit((p), (end), (s), sizeof(s) - 1)

static bool
rc_num(const char **p, const char *end, uint64_t max, uint64_t *v)
{
	const char *q = *p;
	uint64_t x = 0;

	for (; q < end && *q >= '0' && *q <= '9'; q++) {
		unsigned d = (unsigned)(*q - '0');
		if (x > (max - d) / 10)
			return false;
		x = x * 10 + d;
	}
	if (q == *p)
		return false;
	*v = x;
	*p = q;
	return true;
}

/* "(name)": names never hold ')' (pcap_format writes them as '_'). */
static bool
rc_name(const char **p, const char *end)
{
	if (*p == end || **p != '(')
		return false;
	const char *c = memchr(*p, ')', (size_t)(end - *p));
	if (!c)
		return false;
	*p = c + 1;
	return true;
}

struct rc_meta {
	uint64_t node, source, epoch, seq, link_node, link_epoch, link_seq;
};

/* "pb origin=N(..) source=S(..) epoch=E seq=Q[ link=L:LE:K]" then ' ' or end. */
static bool
rc_parse(const char *c, size_t n, struct rc_meta *m)
{
	const char *p = c, *end = c + n;

	if (!RC_LIT(&p, end, "pb origin=") || !rc_num(&p, end, UINT32_MAX, &m->node) ||
	    !rc_name(&p, end) || !RC_LIT(&p, end, " source=") ||
	    !rc_num(&p, end, UINT16_MAX, &m->source) || !rc_name(&p, end) ||
	    !RC_LIT(&p, end, " epoch=") || !rc_num(&p, end, UINT64_MAX, &m->epoch) ||
	    !RC_LIT(&p, end, " seq=") || !rc_num(&p, end, UINT64_MAX, &m->seq))
		return false;
	m->link_node = 0;
	if (RC_LIT(&p, end, " link=") && (!rc_num(&p, end, UINT32_MAX, &m->link_node) ||
	    !m->link_node || !RC_LIT(&p, end, ":") ||
	    !rc_num(&p, end, UINT64_MAX, &m->link_epoch) || !RC_LIT(&p, end, ":") ||
	    !rc_num(&p, end, UINT64_MAX, &m->link_seq)))
		return false;
	return p == end || *p == ' ';
}

/* ---- blocks -------------------------------------------------------------- */

static uint32_t
rc_get32(const uint8_t *p, bool swap)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return swap ? __builtin_bswap32(v) : v;
}

static uint16_t
rc_get16(const uint8_t *p, bool swap)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return swap ? __builtin_bswap16(v) : v;
}

/* Makes [off, off + n) readable (n <= RC_BUF, off + n <= size); NULL with
 * errno on a read error or a file that shrank. */
static const uint8_t *
rc_need(struct rc_reader *r, uint64_t off, size_t n)
{
	if (off >= r->wstart && off + n <= r->wend)
		return r->buf + (off - r->wstart);
	if (off >= r->wstart && off < r->wend) {
		/* Keep the block's start, refill behind it. */
		memmove(r->buf, r->buf + (off - r->wstart), (size_t)(r->wend - off));
		r->wstart = off;
	} else {
		r->wstart = r->wend = off;
	}
	while (r->wend - r->wstart < n) {
		size_t have = (size_t)(r->wend - r->wstart);
		ssize_t k = pread(r->fd, r->buf + have, RC_BUF - have, (off_t)r->wend);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			if (k == 0)
				errno = EIO;
			return NULL;
		}
		r->wend += (uint64_t)k;
	}
	return r->buf + (off - r->wstart);
}

/* Parses an EPB's options for the comment. Malformed options are
 * skipped, not fatal: the block's lengths were consistent. */
static int
rc_epb(struct rc_ctx *x, const uint8_t *b, uint32_t len, bool swap, bool *had_link)
{
	uint64_t optoff = 28 + PB_PCAPNG_PAD4((uint64_t)rc_get32(b + 20, swap));
	struct rc_meta m;

	while (optoff + 4 <= (uint64_t)len - 4) {
		uint16_t code = rc_get16(b + optoff, swap), olen = rc_get16(b + optoff + 2, swap);
		if (code == PB_PCAPNG_OPT_ENDOFOPT || optoff + 4 + olen > (uint64_t)len - 4)
			return 0;
		if (code == PB_PCAPNG_OPT_COMMENT) {
			if (!rc_parse((const char *)b + optoff + 4, olen, &m))
				return 0;
			x->out->records++;
			if (x->each)
				x->each(x->arg, (uint32_t)m.node, (uint16_t)m.source, m.epoch, m.seq);
			if (rc_stream(&x->streams, (uint32_t)m.node, (uint16_t)m.source, m.epoch,
			    m.seq) < 0)
				return -1;
			if (m.link_node) {
				*had_link = true;
				if (rc_link(&x->links, (uint32_t)m.link_node, m.link_epoch,
				    m.link_seq) < 0)
					return -1;
			}
			return 0;
		}
		optoff += 4 + PB_PCAPNG_PAD4((uint64_t)olen);
	}
	return 0;
}

static bool
rc_zero_tail(struct rc_reader *r, uint64_t off)
{
	while (off < r->size) {
		size_t n = r->size - off < RC_BUF ? (size_t)(r->size - off) : RC_BUF;
		const uint8_t *p = rc_need(r, off, n);
		if (!p)
			return false;
		for (size_t i = 0; i < n; i++)
			if (p[i])
				return false;
		off += n;
	}
	return true;
}

/* Cuts the partial block at off, keeping the mtime: files are ordered by it. */
static void
rc_truncate(struct rc_ctx *x, const struct pb_fnames_file *f, uint64_t off, uint64_t tail)
{
	int fd = open(f->path, O_WRONLY | O_CLOEXEC);
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, f->mtime };

	if (fd < 0 || ftruncate(fd, (off_t)off) < 0 || fsync(fd) < 0) {
		log_warn("dump", "recovering %s: cannot truncate %llu bytes of a partial block",
		    f->path, (unsigned long long)tail);
	} else {
		if (futimens(fd, ts) < 0)
			log_warn("dump", "recovering %s: cannot restore the mtime", f->path);
		log_warnx("dump", "recovered %s: truncated %zu bytes of a partial block", f->path,
		    (size_t)tail);
		x->out->bytes_truncated += tail;
	}
	if (fd >= 0)
		close(fd);
}

/*
 * Walks one file's blocks. 1 = scanned, 0 = not pcapng (skipped), -1 =
 * error (x->err). A bad block (incomplete, or lengths that disagree) ends
 * the walk; when it is a write cut by a crash the file is truncated there.
 */
static int
rc_scan(struct rc_ctx *x, struct rc_reader *r, const struct pb_fnames_file *f, bool *had_link)
{
	static const uint8_t shb_type[4] = { 0x0a, 0x0d, 0x0d, 0x0a };
	uint64_t off = 0;
	bool swap = false;
	const uint8_t *p;

	while (off < r->size) {
		uint64_t left = r->size - off;
		if (!(p = rc_need(r, off, left < 12 ? (size_t)left : 12)))
			goto ioerr;
		if (off == 0 && memcmp(p, shb_type, left < 4 ? (size_t)left : 4) != 0)
			return 0;
		if (left < 12)
			break;
		uint32_t type = rc_get32(p, false);
		if (type == PB_PCAPNG_BT_SHB) {
			uint32_t bom = rc_get32(p + 8, false);
			if (bom != PB_PCAPNG_BYTE_ORDER_MAGIC && bom != RC_SHB_MAGIC_SWAPPED) {
				if (off == 0)
					return 0;
				break;
			}
			swap = bom == RC_SHB_MAGIC_SWAPPED;
		}
		type = rc_get32(p, swap);
		uint32_t len = rc_get32(p + 4, swap);
		if (len < 12 || len % 4 || len > left)
			break;
		if (len <= RC_BUF) {
			if (!(p = rc_need(r, off, len)))
				goto ioerr;
			if (rc_get32(p + len - 4, swap) != len)
				break;
			if (type == PB_PCAPNG_BT_EPB && len >= 32 &&
			    rc_epb(x, p, len, swap, had_link) < 0) {
				snprintf(x->err, x->errlen, "recovering %s: out of memory", f->path);
				return -1;
			}
		} else {
			/* Not one of ours (too big): check the trailer only. */
			if (!(p = rc_need(r, off + len - 4, 4)))
				goto ioerr;
			if (rc_get32(p, swap) != len)
				break;
		}
		off += len;
	}
	if (off < r->size) {
		uint64_t tail = r->size - off;
		if (tail < RC_MAX_PARTIAL || rc_zero_tail(r, off))
			rc_truncate(x, f, off, tail);
		else
			log_warnx("dump", "recovering %s: bad block at offset %llu, %llu bytes "
			    "follow: not a partial write, file left as is", f->path,
			    (unsigned long long)off, (unsigned long long)tail);
	}
	return 1;
ioerr:
	snprintf(x->err, x->errlen, "recovering %s: read: %s", f->path, strerror(errno));
	return -1;
}

/* ---- public -------------------------------------------------------------- */

void
pb_recovery_free(struct pb_recovery *r)
{
	free(r->links);
	free(r->streams);
	memset(r, 0, sizeof(*r));
}

static int
rc_output(struct rc_ctx *x)
{
	struct pb_recovery *o = x->out;
	size_t nl = rc_sorted(&x->links), ns = rc_sorted(&x->streams);

	if ((nl && !(o->links = calloc(nl, sizeof(*o->links)))) ||
	    (ns && !(o->streams = calloc(ns, sizeof(*o->streams)))))
		return -1;
	for (size_t i = 0; i < nl; i++)
		o->links[i] = (struct pb_recovery_link){ x->links.v[i].node,
		    x->links.v[i].lepoch, x->links.v[i].seq };
	for (size_t i = 0; i < ns; i++) {
		const struct rc_ent *e = &x->streams.v[i];
		o->streams[i] = (struct pb_recovery_stream){ e->node, e->source, e->epoch, e->seq };
	}
	o->nlinks = nl;
	o->nstreams = ns;
	return 0;
}

int
pb_sink_file_recover(const struct pb_dump_cfg *cfg, struct pb_recovery *out, char *err,
    size_t errlen)
{
	return pb_sink_file_recover_each(cfg, out, NULL, NULL, err, errlen);
}

int
pb_sink_file_recover_each(const struct pb_dump_cfg *cfg, struct pb_recovery *out,
    pb_recover_record_fn *each, void *arg, char *err, size_t errlen)
{
	struct rc_ctx x = { .out = out, .each = each, .arg = arg, .err = err, .errlen = errlen };
	struct rc_reader r = { .fd = -1 };
	struct pb_fnames_list l = { 0 };
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (errlen)
		err[0] = '\0';
	if (cfg->format == PB_FORMAT_PCAP) {
		snprintf(err, errlen, "dump %s: classic pcap files carry no metadata: custody "
		    "recovery needs pcapng", cfg->name);
		return 0;
	}
	if (pb_fnames_list(cfg->file, &l) < 0) {
		snprintf(err, errlen, "dump %s: cannot list files: %s", cfg->name, strerror(errno));
		return -1;
	}
	if (l.n && !(r.buf = malloc(RC_BUF))) {
		snprintf(err, errlen, "dump %s: out of memory", cfg->name);
		goto done;
	}
	for (size_t i = l.n; i-- > 0 && out->files_scanned < PB_RECOVER_MAX_FILES; ) {
		const struct pb_fnames_file *f = &l.files[i];
		struct stat st;
		bool had_link = false;
		if ((r.fd = open(f->path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(r.fd, &st) < 0) {
			snprintf(err, errlen, "recovering %s: %s", f->path, strerror(errno));
			goto done;
		}
		(void)posix_fadvise(r.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
		r.size = (uint64_t)st.st_size;
		r.wstart = r.wend = 0;
		int s = rc_scan(&x, &r, f, &had_link);
		close(r.fd);
		r.fd = -1;
		if (s < 0)
			goto done;
		if (s == 0) {
			log_warnx("dump", "recovering %s: not a pcapng file, skipped", f->path);
			continue;
		}
		out->files_scanned++;
		log_debug("dump", "recovering %s: scanned %llu bytes", f->path,
		    (unsigned long long)r.size);
		if (had_link)
			break;
	}
	if (rc_output(&x) < 0) {
		snprintf(err, errlen, "dump %s: out of memory", cfg->name);
		goto done;
	}
	rc = 0;
done:
	if (rc < 0)
		pb_recovery_free(out);
	if (r.fd >= 0)
		close(r.fd);
	free(r.buf);
	free(x.links.v);
	free(x.streams.v);
	pb_fnames_list_free(&l);
	return rc;
}
