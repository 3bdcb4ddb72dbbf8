/*
 * proc: run a helper command (the container runtime, criu) to its end
 * with a deadline, capturing its stdout and stderr. For processes that
 * may block (the CLI, `serve`); the daemon runs children through
 * loop_add_child() instead.
 */
#ifndef LS_PROC_H
#define LS_PROC_H

#include "buf.h"
#include <sys/types.h>

#include "err.h"

#define PROC_OUTPUT_MAX	(16 * 1024 * 1024)	/* captured bytes */

struct proc_result {
	int	 status;	/* waitpid status */
	int	 timedout;
};

int	proc_run(char *const argv[], const void *in, size_t inlen,
	    struct buf *out, struct buf *errout, int timeout_ms,
	    struct proc_result *, struct ls_err *);
int	proc_ok(const struct proc_result *);
pid_t	proc_spawn(char *const argv[], int *to_stdin, int *from_stdout,
	    struct ls_err *);
void	proc_describe(char *const argv[], const struct proc_result *,
	    const struct buf *errout, struct ls_err *);

#endif
