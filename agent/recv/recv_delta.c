/*
 * recv_delta: the standby's half of deltas: signatures of the twin's
 * committed files, and patches of them into staged files.
 */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>


#include "apply.h"
#include "conf.h"
#include "delta.h"
#include "digest.h"
#include "journal.h"
#include "log.h"
#include "source.h"
#include "recv.h"
#include "prefix_memo.h"
#include "recv_int.h"
#include "xmalloc.h"

void
recv_close_patch(struct recv *r)
{
	delta_job_free(r->patch);
	r->patch = NULL;
	source_entry_clear(&r->basis);
	buf_reset(&r->patched);
}

/*
 * A regular file sent as a delta: its basis is the twin's committed
 * file named by the entry's target, read as safely as the primary
 * reads its own tree.
 */
int
recv_open_basis(struct recv *r, struct frame_str target, struct ls_err *err)
{
	char	*path;
	int	 rc = -1;

	if ((path = recv_wire_path(target, err)) == NULL)
		return -1;
	if (source_read(r->rootfd, path, &r->basis, err) == -1)
		goto out;
	if (r->basis.kind != ENTRY_REG) {
		ls_err_set(err, "delta basis %s is not a regular file", path);
		goto out;
	}
	r->patch = delta_patch_new(r->basis.fd);
	r->patch_off = 0;
	rc = 0;
out:
	if (rc == -1)
		recv_close_patch(r);
	free(path);
	return rc;
}

/* Feed delta bytes; write what the patch produced to the staged file. */
int
recv_on_delta(struct recv *r, const void *p, size_t len, int eof,
    struct ls_err *err)
{
	int	 done;

	if (r->file == NULL || r->patch == NULL) {
		ls_err_set(err, "DELTA without a delta entry");
		return -1;
	}
	if ((done = delta_feed(r->patch, p, len, eof, &r->patched, err)) == -1)
		return -1;
	if (r->patched.len > 0 && apply_file_write(r->file, r->patch_off,
	    r->patched.data, r->patched.len, err) == -1)
		return -1;
	r->patch_off += r->patched.len;
	buf_reset(&r->patched);
	if (eof && !done) {
		ls_err_set(err, "delta for %s ended early", r->file_path);
		return -1;
	}
	return 0;
}

/* Queue bytes as SIG frames; flush when the queue grows. */
static int
put_sig_frames(struct recv *r, const struct buf *b, struct ls_err *err)
{
	size_t	 off;

	for (off = 0; off < b->len; off += FRAME_MAX_DATA)
		frame_put_bytes(&r->obuf, FRAME_SIG, b->data + off,
		    b->len - off < FRAME_MAX_DATA ? b->len - off :
		    FRAME_MAX_DATA);
	if (r->obuf.len > 4 * FRAME_MAX_DATA && recv_flush(r, err) == -1)
		return -1;
	return 0;
}

/* SIGREQ: the signature of the twin's copy, streamed, then SIGEND. */
int
recv_on_sigreq(struct recv *r, const struct frame *f, struct ls_err *err)
{
	struct source_entry	 se;
	struct delta_job	*job;
	struct buf		 sig;
	char			 chunk[FRAME_MAX_DATA], *path;
	ssize_t			 n;
	int			 rc = -1, done = 0;

	if (r->journal == NULL || (path = recv_wire_path(f->u.str, err)) == NULL)
		return -1;
	if (source_read(r->rootfd, path, &se, err) == -1 ||
	    se.kind != ENTRY_REG) {
		source_entry_clear(&se);
		free(path);
		frame_put_gen(&r->obuf, FRAME_SIGEND, 0);
		return 0;	/* no basis: the primary sends it whole */
	}
	buf_init(&sig);
	job = delta_sig_new(se.st.st_size);
	while (!done) {
		if ((n = read(se.fd, chunk, sizeof(chunk))) == -1) {
			ls_err_sys(err, "%s: read", path);
			goto out;
		}
		if ((done = delta_feed(job, chunk, (size_t)n, n == 0, &sig,
		    err)) == -1 || put_sig_frames(r, &sig, err) == -1)
			goto out;
		buf_reset(&sig);
	}
	frame_put_gen(&r->obuf, FRAME_SIGEND, 1);
	rc = 0;
out:
	delta_job_free(job);
	buf_release(&sig);
	source_entry_clear(&se);
	free(path);
	return rc;
}

/*
 * BLOCKREQ: the block sums (digest.h) of the twin's file, if it holds
 * just the size the primary last shipped, as SIG frames, then SIGEND;
 * SIGEND 0 alone if not. frame_decode() bounded the block length and
 * so the sums: at most FRAME_MAX_BLOCKS of them.
 */
int
recv_on_blockreq(struct recv *r, const struct frame *f, struct ls_err *err)
{
	struct source_entry	 se;
	struct buf		 sums;
	char			*path;
	int			 rc = -1;

	if (r->journal == NULL ||
	    (path = recv_wire_path(f->u.blockreq.path, err)) == NULL)
		return -1;
	buf_init(&sums);
	if (source_read(r->rootfd, path, &se, err) == -1 ||
	    se.kind != ENTRY_REG ||
	    (uint64_t)se.st.st_size != f->u.blockreq.size) {
		frame_put_gen(&r->obuf, FRAME_SIGEND, 0);
		rc = 0;
	} else if (digest_blocks(se.fd, f->u.blockreq.size,
	    f->u.blockreq.block_len, &sums) == -1)
		ls_err_sys(err, "%s: block sums", path);
	else if (put_sig_frames(r, &sums, err) == 0) {
		frame_put_gen(&r->obuf, FRAME_SIGEND, 1);
		rc = 0;
	}
	buf_release(&sums);
	source_entry_clear(&se);
	free(path);
	return rc;
}

/*
 * PREFIXREQ: the digest (digest.h) of the twin's file, if it is one an APPEND
 * could extend (regular, one link, no xattrs to keep, exactly the
 * length the primary last shipped); else an empty PREFIX.
 */
int
recv_on_prefixreq(struct recv *r, const struct frame *f, struct ls_err *err)
{
	struct source_entry	 se;
	unsigned char		 md[FRAME_DIGEST_LEN];
	char			*path;
	int			 rc = -1;

	if (r->journal == NULL ||
	    (path = recv_wire_path(f->u.prefix.path, err)) == NULL)
		return -1;
	if (source_read(r->rootfd, path, &se, err) == -1 ||
	    se.kind != ENTRY_REG || se.st.st_nlink != 1 ||
	    (uint64_t)se.st.st_size != f->u.prefix.len ||
	    fd_has_copyable_xattrs(se.fd) != 0) {
		frame_put_bytes(&r->obuf, FRAME_PREFIX, NULL, 0);
		rc = 0;
	} else if (prefix_memo_digest(r->memo, path, se.fd, &se.st,
	    f->u.prefix.len, md) == -1)
		ls_err_sys(err, "%s: digest of its %" PRIu64 " bytes", path,
		    f->u.prefix.len);
	else {
		frame_put_bytes(&r->obuf, FRAME_PREFIX, md, sizeof(md));
		rc = 0;
	}
	source_entry_clear(&se);
	free(path);
	return rc;
}
