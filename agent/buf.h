/*
 * buf: a growable byte buffer with strbuf semantics.
 *
 * Invariants: `data` is never NULL after buf_init() and is always
 * NUL-terminated at data[len], so text can be used as a C string.
 * The buffer owns `data`; buf_detach() hands it to the caller and
 * leaves the buf empty and reusable.
 *
 * buf_consume() moves `data` forward instead of moving the bytes left:
 * a send queue of megabytes drained 32 KiB per SSH packet would
 * otherwise move the whole queue for each packet (quadratic; it was most
 * of the sender's CPU in a full sync). The bytes are moved at most once,
 * when buf_grow() needs the room. `off` is how far `data` has moved from
 * the start of the allocation; `cap` counts from `data`.
 */
#ifndef LS_BUF_H
#define LS_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
	size_t	 off;
};

void	 buf_init(struct buf *);
void	 buf_release(struct buf *);
void	 buf_reset(struct buf *);
void	 buf_grow(struct buf *, size_t extra);
void	 buf_add(struct buf *, const void *, size_t);
void	 buf_addstr(struct buf *, const char *);
void	 buf_addch(struct buf *, int);
void	 buf_addf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 buf_vaddf(struct buf *, const char *, va_list);
void	 buf_consume(struct buf *, size_t);
char	*buf_detach(struct buf *, size_t *lenp);

#endif
