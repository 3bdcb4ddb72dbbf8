/*
 * ckpt_run: the container engine's checkpoint and restore, run to their
 * end. The daemon never waits on them: it runs each as a child,
 * `layersync serve --checkpoint=NAME` or `serve --restore=NAME`, which
 * calls these, and reads the outcome from the exit status and the
 * files left behind.
 *
 * take:    `RUNTIME container checkpoint --leave-running --export`
 *          (uncompressed) into containers/NAME/ckpt/next.tar, unpacked
 *          into next/export, with next/meta (figures and restore flags)
 *          and next/manifest (the files, NUL-separated). Unpacked, so
 *          that each image file ships as a delta against the peer's.
 * restore: pack containers/NAME/restore/export (the twin's last
 *          complete checkpoint, moved there by promote) into a tar,
 *          set the stopped twin aside under CKPT_TWIN_SUFFIX, and
 *          `RUNTIME container restore --import`. On failure the twin
 *          gets its name back, so the caller can start it cold.
 * criu_check: `criu check` with the configured criu.
 *
 * The checkpoint files came over the wire on the restoring host: the
 * meta is parsed strictly and every manifest entry must be a regular
 * file or directory beneath export, reached without a symlink.
 */
#ifndef LS_CKPT_RUN_H
#define LS_CKPT_RUN_H

#include "err.h"

#define CKPT_TWIN_SUFFIX	".layersync-twin"
#define CKPT_RESTORE		"restore"	/* in containers/NAME */

struct conf;

int	ckpt_take(const struct conf *, const char *name, struct ls_err *);
int	ckpt_restore(const struct conf *, const char *name, struct ls_err *);
int	ckpt_criu_check(const struct conf *, struct ls_err *);
void	ckpt_criu_env(const struct conf *);
char	**ckpt_serve_argv(const struct conf *, const char *job,
	    const char *name);

#endif
