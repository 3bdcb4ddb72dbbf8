/*
 * recv: one session, one process, blocking I/O. The session owns the
 * open container (its upperdir fd, stage fd, journal and the regular
 * file being received) until the next OPEN or the end of input. Any
 * error ends the session with an ERROR frame: the primary reconnects
 * and the next OPEN recovers the twin to its last committed batch.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apply.h"
#include "beneath.h"
#include "buf.h"
#include "ckpt_opts.h"
#include "conf.h"
#include "delta.h"
#include "flush.h"
#include "frame.h"
#include "fsutil.h"
#include "handover.h"
#include "journal.h"
#include "log.h"
#include "loop.h"
#include "mounts.h"
#include "proc.h"
#include "recv.h"
#include "prefix_memo.h"
#include "recv_int.h"
#include "runtime.h"
#include "source.h"
#include "xmalloc.h"


int
recv_flush(struct recv *r, struct ls_err *err)
{
	ssize_t	 n;

	while (r->obuf.len > 0) {
		if ((n = write(r->out, r->obuf.data, r->obuf.len)) == -1) {
			if (errno == EINTR)
				continue;
			ls_err_sys(err, "write to primary");
			return -1;
		}
		buf_consume(&r->obuf, (size_t)n);
	}
	return 0;
}

static void
appended_clear(struct recv *r)
{
	size_t	 i;

	for (i = 0; i < r->nappended; i++)
		free(r->appended[i].path);
	free(r->appended);
	r->appended = NULL;
	r->nappended = 0;
}

/*
 * Leave the tree durable and the small-file log empty, under the twin's
 * lock (another session may be logging into it). A failure is only
 * logged: the next OPEN or a promote replays the log.
 */
static void
wal_settle(struct recv *r)
{
	struct ls_err	 err;
	int		 lock;

	if (r->journal == NULL || r->ckpt || !r->conf->fsync)
		return;
	if ((lock = twin_lock(r->twindir, &err)) == -1 ||
	    journal_wal_checkpoint(r->rootfd, r->statedir, &err) == -1)
		log_warnx("%s: %s", r->name, err.msg);
	if (lock != -1)
		close(lock);
}

static void
close_container(struct recv *r)
{
	wal_settle(r);
	recv_close_patch(r);
	appended_clear(r);
	prefix_memo_clear(r->memo);
	if (r->file != NULL) {
		apply_file_abort(r->file);
		r->file = NULL;
	}
	free(r->file_staged);
	free(r->file_path);
	r->file_staged = r->file_path = NULL;
	apply_free(r->stage);
	r->stage = NULL;
	journal_free(r->journal);
	r->journal = NULL;
	if (r->rootfd != -1)
		close(r->rootfd);
	if (r->stagefd != -1)
		close(r->stagefd);
	r->rootfd = r->stagefd = -1;
	r->handover = r->ckpt = 0;
	r->append_next = r->file_append = 0;
	r->patch_next = r->file_patch = 0;
	free(r->name);
	free(r->statedir);
	free(r->twindir);
	free(r->upperdir);
	r->name = r->statedir = r->twindir = r->upperdir = NULL;
}

/* A wire string as a C string, refused if it is not a valid path. */
char *
recv_wire_path(struct frame_str s, struct ls_err *err)
{
	char	*p = xmalloc(s.len + 1);

	memcpy(p, s.p, s.len);
	p[s.len] = '\0';
	if (path_valid(p, err) == -1 || p[0] == '\0') {
		if (p[0] == '\0')
			ls_err_set(err, "the upperdir itself cannot be an entry");
		free(p);
		return NULL;
	}
	return p;
}

char *
recv_wire_name(struct frame_str s, struct ls_err *err)
{
	char	*p = xmalloc(s.len + 1);

	memcpy(p, s.p, s.len);
	p[s.len] = '\0';
	if (!conf_name_valid(p)) {
		ls_err_set(err, "invalid container name");
		free(p);
		return NULL;
	}
	return p;
}

/*
 * Is NAME the primary's container on this host (promoted here)? Then it
 * is no twin: a stale primary must not write into it.
 */
static int
primary_here(struct recv *r, struct ls_err *err)
{
	char	*path = xasprintf("%s/containers/%s/peer", r->conf->state_dir,
		    r->name);
	int	 here = access(path, F_OK) == 0;

	free(path);
	if (here)
		ls_err_set(err, "%s runs as the primary on %s (promoted): "
		    "refusing to receive into it", r->name, r->conf->node);
	return here;
}

/* Write dir/name durably, unless it already holds text: fsyncs cost. */
static int
note_file(const char *dir, const char *name, const char *text,
    struct ls_err *err)
{
	char	*old = read_line(dir, name);
	int	 rc = 0;

	if (old == NULL || strcmp(old, text) != 0)
		rc = write_line(dir, name, text, err);
	free(old);
	return rc;
}

/* Remember who sends and where the tree is, for a later promote. */
static int
note_twin(struct recv *r, struct ls_err *err)
{
	if (note_file(r->statedir, "upperdir", r->upperdir, err) == -1)
		return -1;
	if (r->peer_node != NULL &&
	    note_file(r->statedir, "peer", r->peer_node, err) == -1)
		return -1;
	return 0;
}

/*
 * OPENED, or, for a twin that was the primary until its demotion, the
 * paths it may hold differently (DIVERGED) and HANDOVER.
 */
static int
send_opened(struct recv *r, struct ls_err *err)
{
	struct pathlist	 l = { NULL, 0 };
	size_t		 i;
	int		 rc, failed = 0;

	if ((rc = handover_load(r->statedir, &l, err)) == -1)
		return -1;
	if (rc == 0) {
		frame_put_gen(&r->obuf, FRAME_OPENED, r->gen);
		return 0;
	}
	log_info("%s: was the primary until generation %" PRIu64 ": %zu "
	    "paths to ship again", r->name, r->gen, l.n);
	for (i = 0; i < l.n; i++) {
		frame_put_str(&r->obuf, FRAME_DIVERGED, l.v[i]);
		if (r->obuf.len >= 1024 * 1024 &&
		    (failed = recv_flush(r, err)) == -1)
			break;
	}
	pathlist_clear(&l);
	if (failed)
		return -1;
	frame_put_gen(&r->obuf, FRAME_HANDOVER, r->gen);
	r->handover = 1;
	return 0;
}

/*
 * Make the tree at r->upperdir current: recover its journal (in
 * r->statedir) under the twin's lock, which promote also takes.
 */
static int
open_tree(struct recv *r, struct ls_err *err)
{
	int	 rc = -1, lock = -1;

	if ((r->rootfd = open(r->upperdir, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1) {
		ls_err_sys(err, "%s", r->upperdir);
		goto out;
	}
	if ((r->stagefd = journal_stage_open(r->rootfd, r->upperdir,
	    err)) == -1)
		goto out;
	if (mkdir_p(r->statedir, 0700) == -1) {
		ls_err_sys(err, "state dir %s", r->statedir);
		goto out;
	}
	if ((lock = twin_lock(r->twindir, err)) == -1 || primary_here(r, err) ||
	    (!r->ckpt && note_twin(r, err) == -1))
		goto out;
	if (journal_recover(r->rootfd, r->stagefd, r->statedir, &r->gen,
	    err) == -1 || (r->stage = apply_new_staged(r->stagefd,
	    err)) == NULL)
		goto out;
	r->journal = journal_new(r->rootfd, r->stagefd, r->statedir);
	/* A checkpoint tree's state dir never holds a handover list: it is
	 * answered OPENED. */
	rc = send_opened(r, err);
out:
	if (lock != -1)
		close(lock);
	return rc;
}

static void
forget_twins(struct recv *r)
{
	size_t	 i;

	for (i = 0; i < r->nknown; i++) {
		free(r->known[i].name);
		free(r->known[i].upperdir);
	}
	free(r->known);
	r->known = NULL;
	r->nknown = 0;
}

/* Twin name may be made anew: its upperdir is inspected again. */
void
recv_forget_twin(struct recv *r, const char *name)
{
	size_t	 i;

	for (i = 0; i < r->nknown; i++) {
		if (strcmp(r->known[i].name, name) != 0)
			continue;
		free(r->known[i].name);
		free(r->known[i].upperdir);
		r->known[i] = r->known[--r->nknown];
		return;
	}
}

/* The upperdir this session inspected for twin name, if it still is one. */
static const char *
known_upper(const struct recv *r, const char *name)
{
	struct stat	 st;
	size_t		 i;

	for (i = 0; i < r->nknown; i++)
		if (strcmp(r->known[i].name, name) == 0)
			return lstat(r->known[i].upperdir, &st) == 0 &&
			    S_ISDIR(st.st_mode) ? r->known[i].upperdir : NULL;
	return NULL;
}

static void
remember_upper(struct recv *r, const char *name, const char *upperdir)
{
	r->known = xreallocarray(r->known, r->nknown + 1, sizeof(*r->known));
	r->known[r->nknown].name = xstrdup(name);
	r->known[r->nknown++].upperdir = xstrdup(upperdir);
}

static int
on_open(struct recv *r, const struct frame *f, struct ls_err *err)
{
	struct container_info	 ci;
	const char		*known;
	int			 rc = -1;

	close_container(r);
	if ((r->name = recv_wire_name(f->u.str, err)) == NULL)
		return -1;
	r->twindir = xasprintf("%s/twins/%s", r->conf->state_dir, r->name);
	if (f->type == FRAME_OPEN_CKPT) {
		/* The checkpoint tree lives in the state dir: no runtime. */
		r->ckpt = 1;
		r->statedir = xasprintf("%s/%s", r->twindir, CKPT_DIR);
		r->upperdir = xasprintf("%s/%s", r->statedir, CKPT_TREE);
		if (mkdir_p(r->upperdir, 0700) == -1) {
			ls_err_sys(err, "%s", r->upperdir);
			goto out;
		}
		rc = open_tree(r, err);
		goto out;
	}
	if ((known = known_upper(r, r->name)) != NULL) {
		/* running means mounted: the check COMMIT makes too */
		if (mounts_overlay_upper(r->mounts, known))
			ls_err_set(err, "twin %s is running on %s: its upper "
			    "layer cannot change under a mounted overlay; stop "
			    "it first", r->name, r->conf->node);
		else {
			r->upperdir = xstrdup(known);
			r->statedir = xstrdup(r->twindir);
			rc = open_tree(r, err);
		}
		goto out;
	}
	if (runtime_inspect(r->conf->runtime, r->name, &ci, err) == -1)
		goto out;
	if (ci.running)
		ls_err_set(err, "twin %s is running on %s: its upper layer "
		    "cannot change under a mounted overlay; stop it first",
		    r->name, r->conf->node);
	else {
		r->upperdir = xstrdup(ci.upperdir);
		r->statedir = xstrdup(r->twindir);
		if ((rc = open_tree(r, err)) == 0)
			remember_upper(r, r->name, ci.upperdir);
	}
	container_info_clear(&ci);
out:
	return rc;
}

static void
to_apply_entry(const struct frame_entry *fe, struct apply_entry *e,
    struct apply_xattr *xa, char *names[])
{
	unsigned	 i;

	memset(e, 0, sizeof(*e));
	e->kind = fe->kind;
	e->mode = fe->mode & 07777;
	e->uid = fe->uid;
	e->gid = fe->gid;
	e->mtime.tv_sec = fe->mtime_sec;
	e->mtime.tv_nsec = fe->mtime_nsec;
	e->rdev = fe->rdev;
	e->size = fe->size;
	for (i = 0; i < fe->nxattr; i++) {
		names[i] = xmalloc(fe->xattr[i].name.len + 1);
		memcpy(names[i], fe->xattr[i].name.p, fe->xattr[i].name.len);
		names[i][fe->xattr[i].name.len] = '\0';
		xa[i].name = names[i];
		xa[i].value = fe->xattr[i].value;
		xa[i].len = fe->xattr[i].len;
	}
	e->xattrs = xa;
	e->nxattr = fe->nxattr;
}

/* Build the entry in the stage under a new name; record its move. */
static int
on_entry(struct recv *r, const struct frame *f, struct ls_err *err)
{
	const struct frame_entry *fe = &f->u.entry;
	struct apply_entry	 e;
	struct apply_xattr	 xa[FRAME_MAX_XATTRS];
	char			*names[FRAME_MAX_XATTRS];
	char			*path, *target = NULL, *staged = NULL;
	unsigned		 i;
	int			 rc = -1;

	if (r->journal == NULL || r->file != NULL) {
		ls_err_set(err, "ENTRY out of order");
		return -1;
	}
	if (r->append_next && (fe->kind != ENTRY_REG || fe->target.len > 0 ||
	    fe->size < r->append_at)) {
		ls_err_set(err, "APPEND at %" PRIu64 ": the next entry is not a "
		    "regular file of at least that size", r->append_at);
		return -1;
	}
	if (r->patch_next && (fe->kind != ENTRY_REG || fe->target.len > 0 ||
	    (r->nranges > 0 && r->ranges[r->nranges - 1].off +
	    r->ranges[r->nranges - 1].len > fe->size))) {
		ls_err_set(err, "PATCH: the next entry is not a regular file "
		    "holding its ranges");
		return -1;
	}
	if ((path = recv_wire_path(fe->path, err)) == NULL)
		return -1;
	to_apply_entry(fe, &e, xa, names);
	if (fe->kind == ENTRY_HARDLINK) {
		if ((target = recv_wire_path(fe->target, err)) != NULL) {
			journal_link(r->journal, target, path);
			rc = 0;
		}
		goto out;
	}
	if (fe->kind == ENTRY_SYMLINK) {
		target = xmalloc(fe->target.len + 1);
		memcpy(target, fe->target.p, fe->target.len);
		target[fe->target.len] = '\0';
		e.target = target;
	}
	staged = journal_stage_name(r->journal);
	e.path = staged;
	if (r->append_next) {
		/* the tail alone is staged: its bytes from append_at on */
		r->append_next = 0;
		e.size = fe->size - r->append_at;
		r->file_append = 1;
		r->file_append_at = r->append_at;
	} else if (r->patch_next) {
		/* the stage is the new file, sparse outside the ranges */
		r->patch_next = 0;
		r->file_patch = 1;
		r->range_at = 0;
	} else if (fe->kind == ENTRY_REG && fe->target.len > 0 &&
	    recv_open_basis(r, fe->target, err) == -1)
		goto out;
	if (fe->kind == ENTRY_REG) {
		if ((r->file = apply_file_open(r->stage, &e, err)) != NULL) {
			r->file_staged = staged;
			r->file_path = path;
			staged = path = NULL;
			rc = 0;
		}
		goto out;
	}
	if ((rc = apply_node(r->stage, &e, err)) == 0) {
		if (fe->kind == ENTRY_DIR)
			journal_dir(r->journal, staged, path);
		else
			journal_move(r->journal, staged, path);
	}
out:
	for (i = 0; i < fe->nxattr; i++)
		free(names[i]);
	free(path);
	free(target);
	free(staged);
	return rc;
}

static int
on_file_end(struct recv *r, struct ls_err *err)
{
	int	 rc;

	if (r->file == NULL) {
		ls_err_set(err, "END without a file");
		return -1;
	}
	if (r->patch != NULL) {
		rc = recv_on_delta(r, NULL, 0, 1, err);
		recv_close_patch(r);
		if (rc == -1)
			return -1;
	}
	rc = apply_file_commit(r->file, err);
	r->file = NULL;
	if (rc == 0 && r->file_append) {
		journal_append(r->journal, r->file_staged, r->file_path,
		    r->file_append_at);
		r->appended = xreallocarray(r->appended, r->nappended + 1,
		    sizeof(*r->appended));
		r->appended[r->nappended].path = xstrdup(r->file_path);
		r->appended[r->nappended++].at = r->file_append_at;
	} else if (rc == 0 && r->file_patch)
		journal_patch(r->journal, r->file_staged, r->file_path,
		    r->ranges, r->nranges);
	else if (rc == 0)
		journal_move(r->journal, r->file_staged, r->file_path);
	r->file_append = r->file_patch = 0;
	free(r->file_staged);
	free(r->file_path);
	r->file_staged = r->file_path = NULL;
	return rc;
}

/* Tell the primary, before the ACK, which paths to ship again. */
static void
on_skip(const char *path, const char *why, void *arg)
{
	struct recv	*r = arg;

	log_info("%s: %s did not fit the tree (%s), asking for it again",
	    r->name, path, why);
	frame_put_str(&r->obuf, FRAME_SKIPPED, path);
}

/*
 * Has another session committed into the twin since this one opened
 * it? A receiver can outlive its session (stopped, or slow, while the
 * primary gave up on it and reconnected) with a whole old batch still
 * in its input: committed now, it would put old data over newer.
 */
static int
overtaken(struct recv *r, struct ls_err *err)
{
	uint64_t	 gen;

	if (journal_committed(r->statedir, &gen, err) == -1)
		return 1;
	if (gen == r->gen)
		return 0;
	ls_err_set(err, "%s: generation %" PRIu64 " was committed by another "
	    "session since this one opened it at %" PRIu64 ": its batch is "
	    "refused", r->name, gen, r->gen);
	return 1;
}

static int
on_commit(struct recv *r, uint64_t gen, struct ls_err *err)
{
	long long	 t0 = loop_now_ms();
	size_t		 i;
	int		 lock, rc;

	if (r->journal == NULL || r->file != NULL) {
		ls_err_set(err, "COMMIT out of order");
		return -1;
	}
	if (mounts_overlay_upper(r->mounts, r->upperdir)) {
		ls_err_set(err, "twin %s is running on %s: its upper layer "
		    "cannot change under a mounted overlay; batch %" PRIu64
		    " refused", r->name, r->conf->node, gen);
		return -1;
	}
	if (gen <= r->gen) {
		ls_err_set(err, "COMMIT %" PRIu64 " does not follow %" PRIu64,
		    gen, r->gen);
		return -1;
	}
	/*
	 * A promote takes the lock to turn the twin into the primary, and
	 * to restore from the checkpoint tree: a checkpoint commits under
	 * the twin's lock too, not one of its own.
	 */
	if ((lock = twin_lock(r->twindir, err)) == -1)
		return -1;
	if (primary_here(r, err) || overtaken(r, err))
		rc = -1;
	else {
		for (i = 0; i < r->nappended; i++)
			prefix_memo_before(r->memo, r->rootfd,
			    r->appended[i].path, r->appended[i].at);
		/* before the stage's flush: it may carry the journal */
		journal_prepare(r->journal, gen);
		rc = r->conf->fsync && !r->ckpt ? journal_commit_logged(
		    r->journal, gen, on_skip, r, err) : 0;
		if (rc == 1) {
			apply_drop(r->stage);	/* the log holds it */
			rc = 0;
		} else if (rc == 0)
			rc = journal_wal_checkpoint(r->rootfd, r->statedir,
			    err) == -1 || apply_sync(r->stage, err) == -1 ?
			    -1 : journal_commit(r->journal, gen, on_skip, r,
			    err);
		for (i = 0; i < r->nappended; i++)
			prefix_memo_after(r->memo, r->rootfd,
			    r->appended[i].path);
	}
	appended_clear(r);
	close(lock);
	if (rc == -1)
		return -1;
	log_debug("%s: batch %" PRIu64 " committed in %lld ms", r->name, gen,
	    loop_now_ms() - t0);
	r->gen = gen;
	/* The new primary saved the DIVERGED paths before this batch. */
	if (r->handover && handover_clear(r->statedir, err) == -1)
		return -1;
	r->handover = 0;
	frame_put_gen(&r->obuf, FRAME_ACK, gen);
	return 0;
}

static int
on_path_op(struct recv *r, const struct frame *f, struct ls_err *err)
{
	char	*a, *b = NULL;

	if (r->journal == NULL || r->file != NULL) {
		ls_err_set(err, "%s out of order", frame_type_name(f->type));
		return -1;
	}
	if (f->type == FRAME_REMOVE) {
		if ((a = recv_wire_path(f->u.str, err)) == NULL)
			return -1;
		journal_remove(r->journal, a);
	} else {
		if ((a = recv_wire_path(f->u.rename.from, err)) == NULL ||
		    (b = recv_wire_path(f->u.rename.to, err)) == NULL) {
			free(a);
			return -1;
		}
		journal_rename(r->journal, a, b);
	}
	free(a);
	free(b);
	return 0;
}

/* DATA of a patched file: within a range, the ranges taken in order. */
static int
in_ranges(struct recv *r, uint64_t off, size_t len)
{
	const struct frame_range	*g;

	while (r->range_at < r->nranges &&
	    r->ranges[r->range_at].off + r->ranges[r->range_at].len <= off)
		r->range_at++;
	if (r->range_at == r->nranges)
		return 0;
	g = &r->ranges[r->range_at];
	return off >= g->off && len <= g->len - (off - g->off);
}

static int
handle(struct recv *r, const struct frame *f, struct ls_err *err)
{
	if ((r->append_next || r->patch_next) && f->type != FRAME_ENTRY) {
		ls_err_set(err, "%s followed by %s, not ENTRY",
		    r->append_next ? "APPEND" : "PATCH",
		    frame_type_name(f->type));
		return -1;
	}
	switch (f->type) {
	case FRAME_HELLO:
		if (f->u.hello.version != FRAME_VERSION) {
			ls_err_set(err, "protocol version %u, this end speaks "
			    "%u", f->u.hello.version, FRAME_VERSION);
			return -1;
		}
		free(r->peer_node);
		r->peer_node = xstrndup(f->u.hello.node.p, f->u.hello.node.len);
		if (!conf_name_valid(r->peer_node)) {
			ls_err_set(err, "the primary's node name is invalid");
			return -1;
		}
		frame_put_hello(&r->obuf, r->conf->node);
		return 0;
	case FRAME_TWIN:
		return recv_on_twin(r, f, err);
	case FRAME_OPEN:
	case FRAME_OPEN_CKPT:
		return on_open(r, f, err);
	case FRAME_ENTRY:
		return on_entry(r, f, err);
	case FRAME_DATA:
		if (r->file == NULL || r->patch != NULL) {
			ls_err_set(err, "DATA without a literal file");
			return -1;
		}
		if (r->file_append) {
			if (f->u.data.offset < r->file_append_at) {
				ls_err_set(err, "DATA at %" PRIu64 ", before the "
				    "APPEND offset %" PRIu64, f->u.data.offset,
				    r->file_append_at);
				return -1;
			}
			return apply_file_write(r->file, f->u.data.offset -
			    r->file_append_at, f->u.data.p, f->u.data.len, err);
		}
		if (r->file_patch && !in_ranges(r, f->u.data.offset,
		    f->u.data.len)) {
			ls_err_set(err, "DATA at %" PRIu64 " (%zu bytes) outside "
			    "the PATCH ranges", f->u.data.offset,
			    f->u.data.len);
			return -1;
		}
		return apply_file_write(r->file, f->u.data.offset,
		    f->u.data.p, f->u.data.len, err);
	case FRAME_PATCH:
		if (r->journal == NULL || r->file != NULL || r->append_next) {
			ls_err_set(err, "PATCH out of order");
			return -1;
		}
		r->patch_next = 1;
		r->nranges = frame_patch_ranges(f, r->ranges);
		return 0;
	case FRAME_APPEND:
		if (r->journal == NULL || r->file != NULL || r->patch_next) {
			ls_err_set(err, "APPEND out of order");
			return -1;
		}
		r->append_next = 1;
		r->append_at = f->u.gen;
		return 0;
	case FRAME_PREFIXREQ:
		return recv_on_prefixreq(r, f, err);
	case FRAME_DELTA:
		return recv_on_delta(r, f->u.data.p, f->u.data.len, 0, err);
	case FRAME_IMAGE:
		return recv_on_image(r, f, err);
	case FRAME_IMAGE_END:
		return recv_on_image_end(r, err);
	case FRAME_SIGREQ:
		return recv_on_sigreq(r, f, err);
	case FRAME_BLOCKREQ:
		return recv_on_blockreq(r, f, err);
	case FRAME_END:
		return on_file_end(r, err);
	case FRAME_REMOVE:
	case FRAME_RENAME:
		return on_path_op(r, f, err);
	case FRAME_COMMIT:
		return on_commit(r, f->u.gen, err);
	case FRAME_ERROR:
		ls_err_set(err, "primary gave up: %.*s", (int)f->u.str.len,
		    f->u.str.p);
		return -1;
	default:
		ls_err_set(err, "unexpected %s", frame_type_name(f->type));
		return -1;
	}
}

/*
 * sshd hands us the primary's bytes through a pipe; what the pipe cannot
 * take it keeps in a buffer it grows as it fills, each step a new
 * allocation, a copy and the old one cleared (OpenSSH's sshbuf). A burst
 * of a few MiB while we committed the last batch made it do that up to
 * its 2 MiB channel window: on a fresh session the first 4 MiB file took
 * 110-190 ms to arrive instead of 30, sshd on one core in memmove,
 * memset, explicit_bzero and page faults, the primary idle. A 1 MiB pipe
 * (the unprivileged limit, fs.pipe-max-size) takes most bursts whole.
 * Not a pipe (a test's socket): nothing to do.
 */
#define RECV_PIPE_SIZE	(1 << 20)

static void
widen_input(int in)
{
	if (fcntl(in, F_GETPIPE_SZ) >= RECV_PIPE_SIZE)
		return;
	if (fcntl(in, F_SETPIPE_SZ, RECV_PIPE_SIZE) == -1 && errno != EBADF &&
	    errno != EINVAL)
		log_debug("serve: cannot widen the input pipe to %d bytes: %s",
		    RECV_PIPE_SIZE, strerror(errno));
}

/*
 * Serve until the primary closes the channel. Returns 0 at a clean end
 * of input (an unfinished batch is simply dropped: the next OPEN's
 * recovery discards its stage), -1 after reporting an error.
 */
int
recv_serve(const struct conf *conf, int in, int out)
{
	struct recv	 r = { .conf = conf, .out = out, .rootfd = -1,
			    .stagefd = -1 };
	struct buf	 ibuf;
	struct frame	 f;
	struct ls_err	 err;
	char		 tmp[256 * 1024];
	size_t		 used;
	ssize_t		 n;
	int		 rc = 0, d;

	flush_enable(conf->fsync != 0);
	widen_input(in);
	if (!conf->fsync)
		log_warnx("%s: fsync = false: batches are committed without "
		    "flushing; a power cut here can lose or tear them",
		    conf->path);
	buf_init(&ibuf);
	buf_init(&r.obuf);
	buf_init(&r.patched);
	r.basis.fd = -1;
	r.loader_fd = -1;
	r.mounts = mounts_new();
	r.memo = prefix_memo_new();
	for (;;) {
		while ((d = frame_decode((uint8_t *)ibuf.data, ibuf.len, &f,
		    &used, &err)) == 1) {
			if (handle(&r, &f, &err) == -1)
				goto fail;
			buf_consume(&ibuf, used);
		}
		if (d == -1 || recv_flush(&r, &err) == -1)
			goto fail;
		if ((n = read(in, tmp, sizeof(tmp))) == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			ls_err_sys(&err, "read from primary");
			goto fail;
		}
		if (n == 0)
			goto out;
		r.received += (uint64_t)n;
		buf_add(&ibuf, tmp, (size_t)n);
	}
fail:
	log_warnx("serve: %s", err.msg);
	buf_reset(&r.obuf);
	frame_put_str(&r.obuf, FRAME_ERROR, err.msg);
	recv_flush(&r, &err);
	rc = -1;
out:
	close_container(&r);
	forget_twins(&r);
	mounts_free(r.mounts);
	prefix_memo_free(r.memo);
	free(r.peer_node);
	recv_stop_loader(&r);
	twin_spec_clear(&r.pending);
	buf_release(&ibuf);
	buf_release(&r.obuf);
	buf_release(&r.patched);
	return rc;
}

