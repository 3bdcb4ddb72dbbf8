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
#include "digest.h"
#include "frame.h"
#include "index.h"
#include "log.h"
#include "xmalloc.h"

/* A file rewritten in place is asked for block sums, others a signature. */
static void
ask_sums_or_sig(const struct batch *b, struct batch_plan *p,
    const struct index_stat *acked)
{
	p->ask = BATCH_ASK_SIG;
	if (batch_patch_wanted(b, p, acked) &&
	    (p->block_len = digest_block_len(acked->size)) != 0) {
		p->ask = BATCH_ASK_SUMS;
		p->sum_size = acked->size;
	}
}

/*
 * The dirty regular files the peer holds, big enough for a delta. The
 * basis is named as the twin has it now: before this batch's renames.
 * A path marked as a whole tree counts too when the peer holds a file
 * there: a demoted primary's diverged file, a name a rename replaced.
 */
size_t
batch_plan_deltas(struct batch *b)
{
	const struct index_stat	*st;
	struct batch_plan	*p;
	size_t			 i;

	for (i = b->nrenames; i < b->nitems; i++) {
		if ((st = batch_acked(b, b->items[i].path)) == NULL ||
		    !S_ISREG(st->mode) || st->size < b->delta_min)
			continue;
		b->plan = xreallocarray(b->plan, b->nplan + 1,
		    sizeof(*b->plan));
		p = &b->plan[b->nplan++];
		memset(p, 0, sizeof(*p));
		p->path = xstrdup(b->items[i].path);
		p->basis = batch_old_name(b, b->items[i].path);
		buf_init(&p->sums);
		buf_init(&p->oursums);
		batch_plan_append(b, p, st);
		if (p->append_at != 0)
			p->ask = BATCH_ASK_PREFIX;
		else
			ask_sums_or_sig(b, p, st);
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
	b->plan[i].ahead_done = 0;
}

/* The basis name request k is about. */
const char *
batch_delta_basis(const struct batch *b, size_t k)
{
	return b->plan[b->asked[k]].basis;
}

enum batch_ask
batch_delta_ask(const struct batch *b, size_t k)
{
	return b->plan[b->asked[k]].ask;
}

/* Request k, as its frame. */
void
batch_put_request(const struct batch *b, size_t k, struct buf *out)
{
	const struct batch_plan	*p = &b->plan[b->asked[k]];

	switch (p->ask) {
	case BATCH_ASK_PREFIX:
		frame_put_prefixreq(out, p->basis, p->append_at);
		break;
	case BATCH_ASK_SUMS:
		frame_put_blockreq(out, p->basis, p->sum_size, p->block_len);
		break;
	default:
		frame_put_str(out, FRAME_SIGREQ, p->basis);
		break;
	}
}

/*
 * Once every answer is in: the plans they ruled out ask again, as the
 * next requests. A file that grew and changed inside asks for block
 * sums (or a signature); one whose blocks mostly differ, a signature.
 * Returns how many; the caller sends them.
 */
size_t
batch_replan(struct batch *b)
{
	struct batch_plan	*p;
	const char		*why = NULL;
	size_t			 i, n = 0;

	for (i = 0; i < b->nplan; i++) {
		p = &b->plan[i];
		if (p->ask == BATCH_ASK_PREFIX &&
		    (why = batch_append_replan(p)) != NULL)
			ask_sums_or_sig(b, p, batch_acked(b, p->path));
		else if (p->ask == BATCH_ASK_SUMS &&
		    (why = batch_patch_replan(p)) != NULL)
			p->ask = BATCH_ASK_SIG;
		else
			continue;
		log_debug("batch %" PRIu64 ": %s %s: asking for %s", b->gen,
		    p->path, why, p->ask == BATCH_ASK_SUMS ? "block sums" :
		    "a signature");
		batch_ask(b, i);
		n++;
	}
	return n;
}

/* The peer's signature, request k's answer (NULL: it has no basis). */
void
batch_delta_sig(struct batch *b, size_t k, struct rs_signature *sig)
{
	struct batch_plan	*p = &b->plan[b->asked[k]];

	delta_sig_free(p->sig);
	p->sig = sig;
}

/* Could se ship as a delta or patch at all? */
static int
delta_fits(const struct batch *b, const struct source_entry *se)
{
	/* A sparse file would come out dense from a patch: send it whole. */
	return se->kind == ENTRY_REG && se->st.st_size >= (off_t)b->delta_min &&
	    se->st.st_blocks * 512 >= se->st.st_size;
}

/* Planned delta or patch for se with the peer's answer in hand, or -1. */
ssize_t
batch_delta_for(const struct batch *b, const struct source_entry *se)
{
	size_t	 i;

	if (!delta_fits(b, se))
		return -1;
	for (i = 0; i < b->nplan; i++)
		if ((b->plan[i].sig != NULL || (b->plan[i].ask ==
		    BATCH_ASK_SUMS && b->plan[i].sums_in)) &&
		    strcmp(b->plan[i].path, se->path) == 0)
			return (ssize_t)i;
	return -1;
}

/*
 * se changed and has no plan: a walk found it, after the plans were
 * made. If the peer holds a file there (old) and a delta could ship
 * it, leave it to the next batch, which plans it: 1. The first name of
 * a multiply-linked file ships whole anyway (batch_link_source()).
 */
int
batch_defer(struct batch *b, const struct source_entry *se,
    const struct index_stat *old)
{
	size_t	 i;

	if (b->whole || old == NULL || !S_ISREG(old->mode) ||
	    old->size < b->delta_min || !delta_fits(b, se) ||
	    se->st.st_nlink != 1)
		return 0;
	for (i = 0; i < b->nplan; i++)
		if (strcmp(b->plan[i].path, se->path) == 0)
			return 0;
	b->deferred = xreallocarray(b->deferred, b->ndeferred + 1,
	    sizeof(*b->deferred));
	b->deferred[b->ndeferred++] = xstrdup(se->path);
	log_debug("batch %" PRIu64 ": %s changed: the next batch ships it, "
	    "as a delta", b->gen, se->path);
	return 1;
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
