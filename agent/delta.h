/*
 * delta: librsync's streaming jobs, fed a chunk at a time.
 *
 * The standby computes a signature (BLAKE2, block length by file size,
 * rs_sig_args) of its copy; the primary loads it and turns the new
 * file into a delta against it; the standby patches its copy with the
 * delta into the staged file. Every job's output is appended to a
 * caller's buf. Signatures from the wire are bounded (DELTA_SIG_MAX),
 * and a patch reads its basis only through pread on one fd.
 */
#ifndef LS_DELTA_H
#define LS_DELTA_H

#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "err.h"

#define DELTA_MIN_SIZE	(64 * 1024)		/* smaller files go whole */
#define DELTA_SIG_MAX	(64 * 1024 * 1024)	/* signature bytes accepted */
#define DELTA_READ_SLICE (4 * 1024 * 1024)	/* read per call, at most */

struct delta_job;
struct rs_signature;

struct delta_job *delta_sig_new(off_t basis_size);
struct delta_job *delta_loadsig_new(void);
struct delta_job *delta_make_new(struct rs_signature *);
struct delta_job *delta_patch_new(int basis_fd);
int		  delta_feed(struct delta_job *, const void *, size_t, int eof,
		    struct buf *out, struct ls_err *);
struct rs_signature *delta_loadsig_take(struct delta_job *, struct ls_err *);
void		  delta_sig_free(struct rs_signature *);
void		  delta_job_free(struct delta_job *);

#endif
