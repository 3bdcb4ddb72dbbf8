/*
 * ckpt_opts: a container's stateful-mode settings and the description
 * of one checkpoint, both kept as small "key=value" text files.
 *
 * Settings come from three places, later ones winning: the defaults,
 * the container's entry in layersync.conf (`containers`), and what was
 * given on `layersync add` (kept in state_dir/containers/NAME/settings,
 * only the keys that were given, so a later conf edit still applies to
 * the others).
 *
 * A checkpoint's "meta" file travels with it to the standby, so it is
 * parsed as untrusted input: known keys only, bounded integers.
 */
#ifndef LS_CKPT_OPTS_H
#define LS_CKPT_OPTS_H

#include <stdint.h>

#include "buf.h"
#include "err.h"

#define CKPT_DIR		"ckpt"		/* in containers/NAME, twins/NAME */
#define CKPT_TREE		"tree"		/* the checkpoint shipped or held */
#define CKPT_NEXT		"next"		/* one being taken */
#define CKPT_META		"meta"		/* in a tree: what it is */
#define CKPT_MANIFEST		"manifest"	/* in a tree: its files, NUL-ended */
#define CKPT_EXPORT		"export"	/* in a tree: the runtime's export */
#define CKPT_SETTINGS		"settings"	/* in containers/NAME */
#define CKPT_ERROR		"error"		/* in ckpt/: why a take failed */
#define CKPT_DELTA_MIN		4096	/* smaller checkpoint files go whole */
#define CKPT_INTERVAL_DEFAULT	10000
#define CKPT_INTERVAL_MIN	200
#define CKPT_INTERVAL_MAX	86400000

struct conf;

struct ckpt_opts {
	int		 criu;		/* mode = "criu" (else "layer") */
	long long	 interval_ms;	/* checkpoint_interval_ms */
	int		 tcp_established;
	int		 file_locks;
};

/* What one checkpoint is; written beside it, read on the standby. */
struct ckpt_meta {
	long long	 taken_ms;	/* wall clock, ms since the epoch */
	long long	 dump_ms;	/* the runtime's checkpoint call */
	long long	 frozen_us;	/* the service frozen (CRIU's figure) */
	uint64_t	 bytes;		/* the export, unpacked */
	struct ckpt_opts opts;		/* how to restore it */
};

void	ckpt_opts_default(struct ckpt_opts *);
int	ckpt_opts_apply(struct ckpt_opts *, const char *text, const char *where,
	    struct ls_err *);
void	ckpt_opts_format(const struct ckpt_opts *, struct buf *);
void	ckpt_opts_conf(const struct conf *, const char *name,
	    struct ckpt_opts *);
int	ckpt_opts_effective(const struct conf *, const char *name,
	    const char *statedir, struct ckpt_opts *, struct ls_err *);
int	ckpt_opts_from_flags(const char *mode, const char *interval,
	    int tcp, int locks, struct buf *settings, struct ls_err *);

int	ckpt_meta_parse(const char *text, struct ckpt_meta *, struct ls_err *);
void	ckpt_meta_format(const struct ckpt_meta *, struct buf *);
int	ckpt_meta_load(const char *treedir, struct ckpt_meta *,
	    struct ls_err *);

#endif
