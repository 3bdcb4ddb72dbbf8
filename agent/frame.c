/*
 * frame: encode and decode the replication protocol (see frame.h).
 *
 * Decoding reads through a cursor that refuses to move past the end of
 * the payload, so a short or lying payload is an error, never an
 * overread; every payload must also be consumed exactly.
 */
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "log.h"
#include "runtime.h"
#include "xmalloc.h"

struct cursor {
	const uint8_t	*p;
	size_t		 left;
	int		 bad;
};

static const uint8_t *
take(struct cursor *c, size_t n)
{
	const uint8_t	*p = c->p;

	if (c->bad || n > c->left) {
		c->bad = 1;
		return NULL;
	}
	c->p += n;
	c->left -= n;
	return p;
}

uint64_t
frame_be_get(const void *vp, size_t n)
{
	const uint8_t	*p = vp;
	uint64_t	 v = 0;
	size_t		 i;

	for (i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

#define be64(p)		(frame_be_get(p, 8))

static uint64_t
get_be(struct cursor *c, size_t n)
{
	const uint8_t	*p = take(c, n);

	return p == NULL ? 0 : frame_be_get(p, n);
}

#define get_u8(c)	((uint8_t)get_be(c, 1))
#define get_u16(c)	((uint16_t)get_be(c, 2))
#define get_u32(c)	((uint32_t)get_be(c, 4))
#define get_u64(c)	(get_be(c, 8))

static struct frame_str
get_str(struct cursor *c)
{
	struct frame_str	 s = { NULL, 0 };
	size_t			 n = get_u16(c);

	if (n > FRAME_MAX_STR) {
		c->bad = 1;
		return s;
	}
	if ((s.p = (const char *)take(c, n)) != NULL && memchr(s.p, 0, n))
		c->bad = 1;
	s.len = n;
	return s;
}

static int
decode_entry(struct cursor *c, struct frame_entry *e)
{
	unsigned	 i;

	e->path = get_str(c);
	e->kind = get_u8(c);
	e->mode = get_u32(c);
	e->uid = get_u32(c);
	e->gid = get_u32(c);
	e->mtime_sec = (int64_t)get_u64(c);
	e->mtime_nsec = get_u32(c);
	e->rdev = get_u64(c);
	e->size = get_u64(c);
	e->target = get_str(c);
	e->nxattr = get_u16(c);
	if (e->kind < ENTRY_REG || e->kind >= ENTRY__MAX ||
	    e->mtime_nsec >= 1000000000U || e->nxattr > FRAME_MAX_XATTRS)
		return -1;
	for (i = 0; i < e->nxattr && !c->bad; i++) {
		e->xattr[i].name = get_str(c);
		e->xattr[i].len = get_u32(c);
		if (e->xattr[i].len > FRAME_MAX_XATTR_VALUE)
			return -1;
		e->xattr[i].value = take(c, e->xattr[i].len);
	}
	return 0;
}

/* TWIN: five strings, then five counted lists of strings. */
static int
walk_twin(struct cursor *c)
{
	unsigned	 i, n, list;

	for (i = 0; i < 5; i++)
		(void)get_str(c);
	for (list = 0; list < 5 && !c->bad; list++) {
		if ((n = get_u16(c)) > FRAME_MAX_LIST)
			return -1;
		for (i = 0; i < n && !c->bad; i++)
			(void)get_str(c);
	}
	return 0;
}

/* PATCH: whole (offset, length) pairs, each non-empty, sorted, apart. */
static int
ranges_valid(const uint8_t *p, size_t len)
{
	uint64_t	 off, n, end = 0;
	size_t		 i;

	if (len % 16 != 0 || len / 16 > FRAME_MAX_RANGES)
		return 0;
	for (i = 0; i < len; i += 16) {
		off = be64(p + i);
		n = be64(p + i + 8);
		if (n == 0 || (i > 0 && off <= end) || off > UINT64_MAX - n ||
		    off + n > (uint64_t)INT64_MAX)
			return 0;
		end = off + n;
	}
	return 1;
}

static int
decode_payload(struct cursor *c, struct frame *f)
{
	switch (f->type) {
	case FRAME_HELLO:
		if (get_u32(c) != FRAME_MAGIC)
			return -1;
		f->u.hello.version = get_u16(c);
		f->u.hello.node = get_str(c);
		return 0;
	case FRAME_OPEN:
	case FRAME_OPEN_CKPT:
	case FRAME_REMOVE:
	case FRAME_ERROR:
	case FRAME_SKIPPED:
	case FRAME_SIGREQ:
	case FRAME_DIVERGED:
		f->u.str = get_str(c);
		return 0;
	case FRAME_OPENED:
	case FRAME_HANDOVER:
	case FRAME_COMMIT:
	case FRAME_ACK:
	case FRAME_SIGEND:
	case FRAME_APPEND:
		f->u.gen = get_u64(c);
		return 0;
	case FRAME_PREFIXREQ:
		f->u.prefix.len = get_u64(c);
		f->u.prefix.path = get_str(c);
		return 0;
	case FRAME_BLOCKREQ:
		f->u.blockreq.size = get_u64(c);
		f->u.blockreq.block_len = get_u32(c);
		f->u.blockreq.path = get_str(c);
		return frame_block_len_ok(f->u.blockreq.size,
		    f->u.blockreq.block_len) ? 0 : -1;
	case FRAME_ENTRY:
		return decode_entry(c, &f->u.entry);
	case FRAME_DATA:
		f->u.data.offset = get_u64(c);
		/* FALLTHROUGH */
	case FRAME_SIG:
	case FRAME_DELTA:
	case FRAME_IMAGE:
	case FRAME_PREFIX:
		f->u.data.len = c->left;
		f->u.data.p = take(c, c->left);
		return 0;
	case FRAME_PATCH:
		f->u.data.offset = 0;
		f->u.data.len = c->left;
		f->u.data.p = take(c, c->left);
		return ranges_valid(f->u.data.p, f->u.data.len) ? 0 : -1;
	case FRAME_END:
	case FRAME_TWIN_OK:
	case FRAME_NEED_IMAGE:
	case FRAME_IMAGE_END:
		return 0;
	case FRAME_TWIN:
		return walk_twin(c);
	case FRAME_RENAME:
		f->u.rename.from = get_str(c);
		f->u.rename.to = get_str(c);
		return 0;
	default:
		return -1;
	}
}

/*
 * Decode one frame from buf. Returns 1 and sets *used when a whole
 * frame was there, 0 when more bytes are needed, -1 when the bytes can
 * never be a valid frame (err says why; the session must end).
 */
int
frame_decode(const uint8_t *buf, size_t len, struct frame *f, size_t *used,
    struct ls_err *err)
{
	struct cursor	 c;
	uint32_t	 plen;

	if (len < FRAME_HDR_LEN)
		return 0;
	plen = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
	    (uint32_t)buf[2] << 8 | buf[3];
	memset(f, 0, sizeof(*f));
	f->type = buf[4];
	if (f->type < FRAME_HELLO || f->type >= FRAME__MAX) {
		ls_err_set(err, "frame: unknown type %u", buf[4]);
		return -1;
	}
	if (buf[5] != 0 || buf[6] != 0 || buf[7] != 0) {
		ls_err_set(err, "frame: %s: reserved bits set",
		    frame_type_name(f->type));
		return -1;
	}
	if (plen > FRAME_MAX_PAYLOAD) {
		ls_err_set(err, "frame: %s: payload of %u bytes exceeds %u",
		    frame_type_name(f->type), plen, FRAME_MAX_PAYLOAD);
		return -1;
	}
	if (len - FRAME_HDR_LEN < plen)
		return 0;
	f->payload = buf + FRAME_HDR_LEN;
	f->len = plen;
	c.p = f->payload;
	c.left = plen;
	c.bad = 0;
	if (decode_payload(&c, f) == -1 || c.bad || c.left != 0 ||
	    ((f->type == FRAME_DATA || f->type == FRAME_SIG ||
	    f->type == FRAME_DELTA || f->type == FRAME_IMAGE) &&
	    f->u.data.len > FRAME_MAX_DATA) || (f->type == FRAME_PREFIX &&
	    f->u.data.len != 0 && f->u.data.len != FRAME_DIGEST_LEN)) {
		ls_err_set(err, "frame: malformed %s payload (%u bytes)",
		    frame_type_name(f->type), plen);
		return -1;
	}
	*used = FRAME_HDR_LEN + plen;
	return 1;
}

const char *
frame_type_name(int type)
{
	static const char *const names[FRAME__MAX] = {
		NULL, "HELLO", "OPEN", "OPENED", "ENTRY", "DATA", "END",
		"REMOVE", "RENAME", "COMMIT", "ACK", "ERROR", "TWIN",
		"TWIN_OK", "SKIPPED", "SIGREQ", "SIG", "SIGEND", "DELTA",
		"NEED_IMAGE", "IMAGE", "IMAGE_END", "DIVERGED", "HANDOVER",
		"OPEN_CKPT", "PREFIXREQ", "PREFIX", "APPEND", "PATCH",
		"BLOCKREQ"
	};

	if (type <= 0 || type >= FRAME__MAX)
		return "unknown";
	return names[type];
}

/* Encoding: the header is written with a zero length, patched at end. */

void
frame_be_put(struct buf *b, uint64_t v, size_t n)
{
	uint8_t	 tmp[8];
	size_t	 i;

	for (i = 0; i < n; i++)
		tmp[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	buf_add(b, tmp, n);
}

/* Callers check lengths first: a truncated path would name another file. */
static void
put_bytes_str(struct buf *b, const char *p, size_t len)
{
	if (len > FRAME_MAX_STR)
		fatalx("frame: string of %zu bytes exceeds %d", len,
		    FRAME_MAX_STR);
	frame_be_put(b, len, 2);
	buf_add(b, p, len);
}

static size_t
begin(struct buf *b, enum frame_type type)
{
	size_t	 start = b->len;

	frame_be_put(b, 0, 4);
	frame_be_put(b, type, 1);
	frame_be_put(b, 0, 3);
	return start;
}

static void
finish(struct buf *b, size_t start)
{
	uint32_t	 plen = (uint32_t)(b->len - start - FRAME_HDR_LEN);
	uint8_t		*h = (uint8_t *)b->data + start;

	h[0] = (uint8_t)(plen >> 24);
	h[1] = (uint8_t)(plen >> 16);
	h[2] = (uint8_t)(plen >> 8);
	h[3] = (uint8_t)plen;
}

void
frame_put_hello(struct buf *b, const char *node)
{
	size_t	 s = begin(b, FRAME_HELLO);

	frame_be_put(b, FRAME_MAGIC, 4);
	frame_be_put(b, FRAME_VERSION, 2);
	put_bytes_str(b, node, strlen(node));
	finish(b, s);
}

void
frame_put_str(struct buf *b, enum frame_type type, const char *str)
{
	size_t	 s = begin(b, type);

	put_bytes_str(b, str, strlen(str));
	finish(b, s);
}

void
frame_put_gen(struct buf *b, enum frame_type type, uint64_t gen)
{
	size_t	 s = begin(b, type);

	frame_be_put(b, gen, 8);
	finish(b, s);
}

void
frame_put_entry(struct buf *b, const struct frame_entry *e)
{
	size_t		 s = begin(b, FRAME_ENTRY);
	unsigned	 i;

	put_bytes_str(b, e->path.p, e->path.len);
	frame_be_put(b, e->kind, 1);
	frame_be_put(b, e->mode, 4);
	frame_be_put(b, e->uid, 4);
	frame_be_put(b, e->gid, 4);
	frame_be_put(b, (uint64_t)e->mtime_sec, 8);
	frame_be_put(b, e->mtime_nsec, 4);
	frame_be_put(b, e->rdev, 8);
	frame_be_put(b, e->size, 8);
	put_bytes_str(b, e->target.p, e->target.len);
	frame_be_put(b, e->nxattr, 2);
	for (i = 0; i < e->nxattr; i++) {
		put_bytes_str(b, e->xattr[i].name.p, e->xattr[i].name.len);
		frame_be_put(b, e->xattr[i].len, 4);
		buf_add(b, e->xattr[i].value, e->xattr[i].len);
	}
	finish(b, s);
}

void
frame_put_prefixreq(struct buf *b, const char *path, uint64_t len)
{
	size_t	 s = begin(b, FRAME_PREFIXREQ);

	frame_be_put(b, len, 8);
	put_bytes_str(b, path, strlen(path));
	finish(b, s);
}

void
frame_put_blockreq(struct buf *b, const char *path, uint64_t size,
    uint32_t block_len)
{
	size_t	 s = begin(b, FRAME_BLOCKREQ);

	frame_be_put(b, size, 8);
	frame_be_put(b, block_len, 4);
	put_bytes_str(b, path, strlen(path));
	finish(b, s);
}

/* A power of two in bounds, and at most FRAME_MAX_BLOCKS blocks,
 * counted without overflow. */
int
frame_block_len_ok(uint64_t size, uint64_t block_len)
{
	return block_len >= FRAME_BLOCK_MIN && block_len <= FRAME_BLOCK_MAX &&
	    (block_len & (block_len - 1)) == 0 &&
	    size / block_len < FRAME_MAX_BLOCKS + (size % block_len == 0);
}

void
frame_put_data(struct buf *b, uint64_t offset, const void *p, size_t len)
{
	size_t	 s = begin(b, FRAME_DATA);

	frame_be_put(b, offset, 8);
	buf_add(b, p, len);
	finish(b, s);
}

void
frame_put_patch(struct buf *b, const struct frame_range *r, size_t n)
{
	size_t	 s = begin(b, FRAME_PATCH), i;

	for (i = 0; i < n; i++) {
		frame_be_put(b, r[i].off, 8);
		frame_be_put(b, r[i].len, 8);
	}
	finish(b, s);
}

/* A decoded PATCH's ranges (at most FRAME_MAX_RANGES) into r; how many. */
size_t
frame_patch_ranges(const struct frame *f, struct frame_range *r)
{
	size_t	 i;

	for (i = 0; i < f->u.data.len / 16; i++) {
		r[i].off = be64(f->u.data.p + 16 * i);
		r[i].len = be64(f->u.data.p + 16 * i + 8);
	}
	return i;
}

/* SIG, DELTA: a chunk of a stream, at most FRAME_MAX_DATA bytes. */
void
frame_put_bytes(struct buf *b, enum frame_type type, const void *p,
    size_t len)
{
	size_t	 s = begin(b, type);

	buf_add(b, p, len);
	finish(b, s);
}

void
frame_put_empty(struct buf *b, enum frame_type type)
{
	finish(b, begin(b, type));
}

void
frame_put_rename(struct buf *b, const char *from, const char *to)
{
	size_t	 s = begin(b, FRAME_RENAME);

	put_bytes_str(b, from, strlen(from));
	put_bytes_str(b, to, strlen(to));
	finish(b, s);
}

static void
put_cstr(struct buf *b, const char *s)
{
	put_bytes_str(b, s != NULL ? s : "", s != NULL ? strlen(s) : 0);
}

static void
put_list(struct buf *b, char *const *v)
{
	size_t	 i, n = strv_len(v);

	if (n > FRAME_MAX_LIST)
		fatalx("frame: list of %zu strings exceeds %d", n,
		    FRAME_MAX_LIST);
	frame_be_put(b, n, 2);
	for (i = 0; i < n; i++)
		put_cstr(b, v[i]);
}

void
frame_put_twin(struct buf *b, const struct twin_spec *t)
{
	size_t	 s = begin(b, FRAME_TWIN);

	put_cstr(b, t->name);
	put_cstr(b, t->image);
	put_cstr(b, t->workdir);
	put_cstr(b, t->user);
	put_cstr(b, t->network);
	put_list(b, t->cmd);
	put_list(b, t->entrypoint);
	put_list(b, t->env);
	put_list(b, t->labels);
	put_list(b, t->expose);
	finish(b, s);
}

static char *
take_cstr(struct cursor *c)
{
	struct frame_str	 s = get_str(c);
	char			*p = xmalloc(s.len + 1);

	memcpy(p, s.p, s.len);
	p[s.len] = '\0';
	return p;
}

/* An empty list stays NULL: "no entrypoint" differs from "[]". */
static char **
take_list(struct cursor *c)
{
	char		**v = NULL, *s;
	unsigned	  i, n = get_u16(c);

	for (i = 0; i < n; i++) {
		s = take_cstr(c);
		v = strv_add(v, s);
		free(s);
	}
	return v;
}

/* Build an owned spec from a TWIN frame that frame_decode accepted. */
void
frame_get_twin(const struct frame *f, struct twin_spec *t)
{
	struct cursor	 c = { f->payload, f->len, 0 };

	memset(t, 0, sizeof(*t));
	t->name = take_cstr(&c);
	t->image = take_cstr(&c);
	t->workdir = take_cstr(&c);
	t->user = take_cstr(&c);
	t->network = take_cstr(&c);
	t->cmd = take_list(&c);
	t->entrypoint = take_list(&c);
	t->env = take_list(&c);
	t->labels = take_list(&c);
	t->expose = take_list(&c);
}
