/*
 * runtime: everything layersync asks of the container engine, through
 * its CLI (podman, or any docker-compatible one such as docker).
 *
 * A struct twin_spec describes how to create a container's stopped
 * twin on the peer: it travels over the wire, so the receiver checks
 * every field (runtime_spec_check) and builds the command line itself,
 * with each value glued to its flag, never interpreted as an option.
 * Arrays are NULL-terminated and owned by the spec.
 */
#ifndef LS_RUNTIME_H
#define LS_RUNTIME_H

#include "err.h"

#define RUNTIME_TIMEOUT_MS	60000	/* one runtime CLI call */

struct twin_spec {
	char	 *name;
	char	 *image;	/* image ID (64 hex): same bytes on both */
	char	**cmd;
	char	**entrypoint;
	char	**env;		/* "K=V" */
	char	**labels;	/* "K=V" */
	char	**expose;	/* "80/tcp" */
	char	 *workdir;
	char	 *user;
	char	 *network;	/* "host", "none", "bridge" or "" */
};

struct container_info {
	struct twin_spec spec;
	char		*id;
	char		*upperdir;
	int		 running;
	int		 pid;
};

int	 runtime_inspect(const char *rt, const char *name,
	    struct container_info *, struct ls_err *);
void	 container_info_clear(struct container_info *);
void	 twin_spec_clear(struct twin_spec *);
int	 runtime_spec_check(const struct twin_spec *, struct ls_err *);
int	 runtime_create(const char *rt, const struct twin_spec *,
	    struct ls_err *);
int	 runtime_image_exists(const char *rt, const char *image);
int	 runtime_start(const char *rt, const char *name, struct ls_err *);
int	 runtime_stop(const char *rt, const char *name, int timeout_s,
	    struct ls_err *);
int	 runtime_kill(const char *rt, const char *name, struct ls_err *);
int	 runtime_remove(const char *rt, const char *name, struct ls_err *);

char	**runtime_start_argv(const char *rt, const char *name);
char	**runtime_stop_argv(const char *rt, const char *name, int timeout_s);
char	**runtime_save_argv(const char *rt, const char *image);
char	**runtime_load_argv(const char *rt);

char	**strv_add(char **, const char *);
size_t	 strv_len(char *const *);
void	 strv_free(char **);

#endif
