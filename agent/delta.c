/*
 * delta: see delta.h. A job owns its rs_job_t and, for loadsig, the
 * signature until delta_loadsig_take() hands it over.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <librsync.h>

#include "delta.h"
#include "log.h"
#include "xmalloc.h"

struct delta_job {
	rs_job_t	*job;
	rs_signature_t	*sig;		/* loadsig: being filled */
	int		 basis_fd;	/* patch */
	int		 loadsig;
	size_t		 fed;		/* loadsig: bytes, for the bound */
	int		 done;
};

/* librsync would print to stderr; its details go to our debug log. */
static void
trace(rs_loglevel level, const char *msg)
{
	(void)level;
	log_debug("librsync: %s", msg);
}

static struct delta_job *
job_new(rs_job_t *j)
{
	struct delta_job	*dj = xcalloc(1, sizeof(*dj));

	rs_trace_to(trace);
	dj->job = j;
	dj->basis_fd = -1;
	return dj;
}

struct delta_job *
delta_sig_new(off_t basis_size)
{
	rs_magic_number	 magic = RS_BLAKE2_SIG_MAGIC;
	size_t		 block_len = 0, strong_len = 0;

	if (rs_sig_args(basis_size, &magic, &block_len, &strong_len) != RS_DONE)
		return NULL;
	return job_new(rs_sig_begin(block_len, strong_len, magic));
}

struct delta_job *
delta_loadsig_new(void)
{
	struct delta_job	*dj = job_new(NULL);

	dj->loadsig = 1;
	dj->job = rs_loadsig_begin(&dj->sig);
	return dj;
}

struct delta_job *
delta_make_new(struct rs_signature *sig)
{
	return job_new(rs_delta_begin(sig));
}

/* Give librsync basis bytes; a short read past the end is its to handle. */
static rs_result
copy_basis(void *arg, rs_long_t pos, size_t *len, void **buf)
{
	struct delta_job	*dj = arg;
	ssize_t			 n;

	if (pos < 0)
		return RS_CORRUPT;
	if ((n = pread(dj->basis_fd, *buf, *len, (off_t)pos)) < 0)
		return RS_IO_ERROR;
	*len = (size_t)n;
	return RS_DONE;
}

struct delta_job *
delta_patch_new(int basis_fd)
{
	struct delta_job	*dj = job_new(NULL);

	dj->basis_fd = basis_fd;
	dj->job = rs_patch_begin(copy_basis, dj);
	return dj;
}

/*
 * Feed len bytes (eof: no more will come) and append all output to
 * out. Returns 1 once the job is done, 0 if it wants more input, -1 on
 * corrupt or oversized input.
 */
int
delta_feed(struct delta_job *dj, const void *in, size_t len, int eof,
    struct buf *out, struct ls_err *err)
{
	char		 tmp[65536];
	rs_buffers_t	 b;
	rs_result	 r;

	if (dj->done) {
		if (len == 0)
			return 1;	/* the end, again: a job may end early */
		ls_err_set(err, "delta: input after the end");
		return -1;
	}
	if (dj->loadsig) {
		dj->fed += len;
		if (dj->fed > DELTA_SIG_MAX) {
			ls_err_set(err, "delta: signature over %d bytes",
			    DELTA_SIG_MAX);
			return -1;
		}
	}
	b.next_in = (char *)(uintptr_t)in;
	b.avail_in = len;
	b.eof_in = eof;
	do {
		b.next_out = tmp;
		b.avail_out = sizeof(tmp);
		r = rs_job_iter(dj->job, &b);
		buf_add(out, tmp, sizeof(tmp) - b.avail_out);
		if (r != RS_DONE && r != RS_BLOCKED) {
			ls_err_set(err, "delta: %s", rs_strerror(r));
			return -1;
		}
	} while (r == RS_BLOCKED && (b.avail_in > 0 || b.avail_out == 0 ||
	    eof));
	if (r == RS_DONE)
		dj->done = 1;
	return dj->done;
}

/* The loaded signature, indexed for delta_make_new; the caller owns it. */
rs_signature_t *
delta_loadsig_take(struct delta_job *dj, struct ls_err *err)
{
	rs_signature_t	*sig = dj->sig;
	rs_result	 r;

	if (!dj->done || sig == NULL) {
		ls_err_set(err, "delta: signature incomplete");
		return NULL;
	}
	if ((r = rs_build_hash_table(sig)) != RS_DONE) {
		ls_err_set(err, "delta: signature: %s", rs_strerror(r));
		return NULL;
	}
	dj->sig = NULL;
	return sig;
}

void
delta_sig_free(rs_signature_t *sig)
{
	if (sig != NULL)
		rs_free_sumset(sig);
}

void
delta_job_free(struct delta_job *dj)
{
	if (dj == NULL)
		return;
	if (dj->job != NULL)
		rs_job_free(dj->job);
	delta_sig_free(dj->sig);
	free(dj);
}
