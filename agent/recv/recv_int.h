/*
 * recv_int: the receiving session's state and the pieces of it that
 * recv.c, recv_twin.c (the twin, its image, purge) and recv_delta.c
 * (signatures and patches) share. Private to those files.
 */
#ifndef LS_RECV_INT_H
#define LS_RECV_INT_H

#include <sys/types.h>

#include "buf.h"
#include "frame.h"
#include "runtime.h"
#include "source.h"

struct apply;
struct apply_file;
struct conf;
struct delta_job;
struct journal;

struct mounts;
struct prefix_memo;

struct recv {
	const struct conf	*conf;
	int			 out;
	struct buf		 obuf;
	/* The open container. */
	char			*name;
	char			*upperdir;
	int			 rootfd, stagefd;
	char			*statedir;	/* its journal and generation */
	char			*twindir;	/* holds the twin's lock */
	struct mounts		*mounts;	/* is a twin running? */
	struct prefix_memo	*memo;		/* growing files' digests */
	/* The batch's appends: their files' digests follow them. */
	struct recv_append {
		char		*path;
		uint64_t	 at;
	}			*appended;
	size_t			 nappended;
	uint64_t		 received;	/* bytes from the primary, for
						   a debugger: compare with its
						   `status` */
	struct journal		*journal;
	struct apply		*stage;		/* builds entries in the stage */
	uint64_t		 gen;
	int			 handover;	/* DIVERGED sent this OPEN */
	int			 ckpt;		/* the checkpoint tree is open */
	char			*peer_node;	/* the primary, from HELLO */
	/* The regular file being received, and its patch if a delta. */
	struct apply_file	*file;
	char			*file_staged;
	char			*file_path;
	struct delta_job	*patch;
	/* APPEND announced the next ENTRY; the file being received is the
	 * tail of its twin's file from file_append_at on. */
	int			 append_next, file_append;
	uint64_t		 append_at, file_append_at;
	/* PATCH announced the next ENTRY; the file being received is its
	 * twin's file with these ranges new, and DATA carries only them. */
	int			 patch_next, file_patch;
	struct frame_range	 ranges[FRAME_MAX_RANGES];
	size_t			 nranges, range_at;
	struct source_entry	 basis;
	uint64_t		 patch_off;
	struct buf		 patched;
	/* Twins' upperdirs this session has inspected: an OPEN of one again
	 * skips `podman inspect` (~70 ms, most of a switch between
	 * containers). A TWIN frame forgets its twin's. */
	struct known_twin {
		char		*name, *upperdir;
	}			*known;
	size_t			 nknown;
	/* A twin waiting for its image, and the `load` receiving it. */
	struct twin_spec	 pending;
	int			 has_pending;
	pid_t			 loader;
	int			 loader_fd;
};

int	 recv_flush(struct recv *, struct ls_err *);
char	*recv_wire_path(struct frame_str, struct ls_err *);
char	*recv_wire_name(struct frame_str, struct ls_err *);

int	 recv_on_twin(struct recv *, const struct frame *, struct ls_err *);
void	 recv_forget_twin(struct recv *, const char *name);
int	 recv_on_image(struct recv *, const struct frame *, struct ls_err *);
int	 recv_on_image_end(struct recv *, struct ls_err *);
void	 recv_stop_loader(struct recv *);

void	 recv_close_patch(struct recv *);
int	 recv_open_basis(struct recv *, struct frame_str, struct ls_err *);
int	 recv_on_delta(struct recv *, const void *, size_t, int eof,
	    struct ls_err *);
int	 recv_on_sigreq(struct recv *, const struct frame *, struct ls_err *);
int	 recv_on_blockreq(struct recv *, const struct frame *,
	    struct ls_err *);
int	 recv_on_prefixreq(struct recv *, const struct frame *,
	    struct ls_err *);

#endif
