/*
 * batch_delta: which files of a batch ship as librsync deltas, and the
 * streaming of those deltas (see batch.h).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch_int.h"
#include "delta.h"
#include "frame.h"
#include "index.h"
#include "log.h"
#include "xmalloc.h"

/*
 * The dirty regular files the peer holds, big enough for a delta. The
 * basis is named as the twin has it now: before this batch's renames.
 */
size_t
batch_plan_deltas(struct batch *b)
{
	const struct index_stat	*st;
	struct batch_plan	*p;
	size_t			 i;

	for (i = b->nrenames; i < b->nitems; i++) {
		if (b->items[i].tree ||
		    (st = batch_acked(b, b->items[i].path)) == NULL ||
		    !S_ISREG(st->mode) || st->size < b->delta_min)
			continue;
		b->plan = xreallocarray(b->plan, b->nplan + 1,
		    sizeof(*b->plan));
		p = &b->plan[b->nplan++];
		memset(p, 0, sizeof(*p));
		p->path = xstrdup(b->items[i].path);
		p->basis = batch_old_name(b, b->items[i].path);
		buf_init(&p->sigbytes);
		buf_init(&p->oursig);
		p->sig_kept = 1;
		batch_plan_append(b, p, st);
		batch_ask(b, b->nplan - 1);
	}
	return b->nplan;
}

/* Plan i needs an answer from the peer: it is the next request. */
void
batch_ask(struct batch *b, size_t i)
{
	b->asked = xreallocarray(b->asked, b->nasked + 1, sizeof(*b->asked));
	b->asked[b->nasked++] = i;
}

/* The basis name request k is about. */
const char *
batch_delta_basis(const struct batch *b, size_t k)
{
	return b->plan[b->asked[k]].basis;
}

/* The peer's signature, request k's answer (NULL: it has no basis). */
void
batch_delta_sig(struct batch *b, size_t k, struct rs_signature *sig)
{
	struct batch_plan	*p = &b->plan[b->asked[k]];

	delta_sig_free(p->sig);
	p->sig = sig;
}

/* Planned delta for path with a signature in hand, or -1. */
ssize_t
batch_delta_for(const struct batch *b, const struct source_entry *se)
{
	size_t	 i;

	/* A sparse file would come out dense from a patch: send it whole. */
	if (se->kind != ENTRY_REG || se->st.st_size < (off_t)b->delta_min ||
	    se->st.st_blocks * 512 < se->st.st_size)
		return -1;
	for (i = 0; i < b->nplan; i++)
		if (b->plan[i].sig != NULL &&
		    strcmp(b->plan[i].path, se->path) == 0)
			return (ssize_t)i;
	return -1;
}

/* Read the file in order through the delta job; ship what it makes. */
int
batch_stream_delta(struct batch *b, struct buf *out, size_t budget,
    struct ls_err *err)
{
	char	 chunk[FRAME_MAX_DATA];
	ssize_t	 n;
	size_t	 off;
	size_t	 nread = 0;
	int	 done = 0;

	off_t	 size = b->cur.st.st_size;	/* announced: read no further */

	/*
	 * Bounded by what is read too: a big file the peer holds unchanged
	 * yields almost no output, and reading all of it in one call would
	 * hold the loop (and `layersync check`) for seconds.
	 */
	while (out->len < budget && nread < DELTA_READ_SLICE && !done) {
		n = 0;
		if (b->off < size && (n = pread(b->cur.fd, chunk,
		    (size_t)(size - b->off) < sizeof(chunk) ?
		    (size_t)(size - b->off) : sizeof(chunk), b->off)) == -1) {
			ls_err_sys(err, "%s: read", b->cur.path);
			return -1;
		}
		b->off += n;
		nread += (size_t)n;
		if ((done = delta_feed(b->delta, chunk, (size_t)n, n == 0,
		    &b->deltaout, err)) == -1)
			return -1;
		for (off = 0; off < b->deltaout.len; off += FRAME_MAX_DATA)
			frame_put_bytes(out, FRAME_DELTA, b->deltaout.data + off,
			    b->deltaout.len - off < FRAME_MAX_DATA ?
			    b->deltaout.len - off : FRAME_MAX_DATA);
		b->stats.bytes += b->deltaout.len;
		buf_reset(&b->deltaout);
	}
	if (done)
		batch_end_file(b, out);
	return done;
}
