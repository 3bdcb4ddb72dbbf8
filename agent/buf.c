/*
 * buf: see buf.h for the invariants. Growth doubles, so appending n
 * bytes one at a time costs O(n).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "xmalloc.h"

#define BUF_MIN_CAP	64	/* first allocation, bytes */

void
buf_init(struct buf *b)
{
	b->cap = BUF_MIN_CAP;
	b->len = b->off = 0;
	b->data = xmalloc(b->cap);
	b->data[0] = '\0';
}

void
buf_release(struct buf *b)
{
	free(b->data - b->off);
	b->data = NULL;
	b->len = b->cap = b->off = 0;
}

/* Give the consumed front back: data moves to the allocation's start. */
static void
rewind_front(struct buf *b)
{
	if (b->off == 0)
		return;
	memmove(b->data - b->off, b->data, b->len + 1);
	b->data -= b->off;
	b->cap += b->off;
	b->off = 0;
}

void
buf_reset(struct buf *b)
{
	b->data -= b->off;
	b->cap += b->off;
	b->off = 0;
	b->len = 0;
	b->data[0] = '\0';
}

void
buf_grow(struct buf *b, size_t extra)
{
	size_t	 need;

	if (extra > SIZE_MAX - b->len - 1)
		fatalx("buf_grow: %zu bytes overflow", extra);
	need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	rewind_front(b);
	if (need <= b->cap)
		return;
	while (b->cap < need)
		b->cap = b->cap > SIZE_MAX / 2 ? need : b->cap * 2;
	b->data = xreallocarray(b->data, b->cap, 1);
}

void
buf_add(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;		/* p may be NULL then */
	buf_grow(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_addstr(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_addch(struct buf *b, int c)
{
	char	 ch = (char)c;

	buf_add(b, &ch, 1);
}

void
buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
	va_list	 ap2;
	int	 n;

	va_copy(ap2, ap);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		fatal("buf_vaddf");
	if ((size_t)n >= b->cap - b->len) {
		buf_grow(b, (size_t)n);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	}
	b->len += (size_t)n;
}

void
buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	buf_vaddf(b, fmt, ap);
	va_end(ap);
}

/* Drop the first n bytes, as after a partial write. */
void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	b->data += n;
	b->off += n;
	b->cap -= n;
	b->len -= n;
}

char *
buf_detach(struct buf *b, size_t *lenp)
{
	char	*p;

	rewind_front(b);
	p = b->data;
	if (lenp != NULL)
		*lenp = b->len;
	buf_init(b);
	return p;
}
