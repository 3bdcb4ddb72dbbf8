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
#include "conf.h"
#include "delta.h"
#include "frame.h"
#include "fsutil.h"
#include "journal.h"
#include "log.h"
#include "proc.h"
#include "recv.h"
#include "runtime.h"
#include "source.h"
#include "xmalloc.h"

struct recv {
	const struct conf	*conf;
	int			 out;
	struct buf		 obuf;
	/* The open container. */
	char			*name;
	char			*upperdir;
	int			 rootfd, stagefd;
	char			*statedir;
	struct journal		*journal;
	struct apply		*stage;		/* builds entries in the stage */
	uint64_t		 gen;
	/* The regular file being received, and its patch if a delta. */
	struct apply_file	*file;
	char			*file_staged;
	char			*file_path;
	struct delta_job	*patch;
	struct source_entry	 basis;
	uint64_t		 patch_off;
	struct buf		 patched;
	/* A twin waiting for its image, and the `load` receiving it. */
	struct twin_spec	 pending;
	int			 has_pending;
	pid_t			 loader;
	int			 loader_fd;
};

static int
flush_out(struct recv *r, struct ls_err *err)
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
close_patch(struct recv *r)
{
	delta_job_free(r->patch);
	r->patch = NULL;
	source_entry_clear(&r->basis);
	buf_reset(&r->patched);
}

static void
close_container(struct recv *r)
{
	close_patch(r);
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
	free(r->name);
	free(r->statedir);
	free(r->upperdir);
	r->name = r->statedir = r->upperdir = NULL;
}

/* A wire string as a C string, refused if it is not a valid path. */
static char *
wire_path(struct frame_str s, struct ls_err *err)
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

static char *
wire_name(struct frame_str s, struct ls_err *err)
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

static int
on_twin(struct recv *r, const struct frame *f, struct ls_err *err)
{
	struct twin_spec	 spec;
	struct container_info	 ci;
	struct ls_err		 ierr;
	int			 rc = -1;

	frame_get_twin(f, &spec);
	if (runtime_spec_check(&spec, err) == -1)
		goto out;
	if (runtime_inspect(r->conf->runtime, spec.name, &ci, &ierr) == 0) {
		/* It exists: it must be the twin of the same image. */
		if (strcmp(ci.spec.image, spec.image) != 0)
			ls_err_set(err, "container %s exists on %s with image "
			    "%.12s, not %.12s: remove it or rename one",
			    spec.name, r->conf->node, ci.spec.image,
			    spec.image);
		else
			rc = 0;
		container_info_clear(&ci);
		goto out;
	}
	if (!runtime_image_exists(r->conf->runtime, spec.image)) {
		log_info("image %.12s is missing: asking for it", spec.image);
		twin_spec_clear(&r->pending);
		r->pending = spec;
		r->has_pending = 1;
		frame_put_empty(&r->obuf, FRAME_NEED_IMAGE);
		return 0;
	}
	if ((rc = runtime_create(r->conf->runtime, &spec, err)) == 0)
		log_info("created stopped twin %s", spec.name);
out:
	twin_spec_clear(&spec);
	if (rc == 0)
		frame_put_empty(&r->obuf, FRAME_TWIN_OK);
	return rc;
}

static void
stop_loader(struct recv *r)
{
	if (r->loader_fd != -1)
		close(r->loader_fd);
	r->loader_fd = -1;
	if (r->loader > 0) {
		kill(-r->loader, SIGKILL);
		waitpid(r->loader, NULL, 0);
	}
	r->loader = 0;
}

/* IMAGE: the image's `save` output, piped into `load` as it comes. */
static int
on_image(struct recv *r, const struct frame *f, struct ls_err *err)
{
	char		**argv;
	const uint8_t	 *p = f->u.data.p;
	size_t		  left = f->u.data.len;
	ssize_t		  n;

	if (!r->has_pending) {
		ls_err_set(err, "IMAGE without NEED_IMAGE");
		return -1;
	}
	if (r->loader == 0) {
		argv = runtime_load_argv(r->conf->runtime);
		r->loader = proc_spawn(argv, &r->loader_fd, NULL, err);
		strv_free(argv);
		if (r->loader == -1) {
			r->loader = 0;
			return -1;
		}
	}
	for (; left > 0; p += n, left -= (size_t)n)
		if ((n = write(r->loader_fd, p, left)) == -1) {
			if (errno == EINTR) {
				n = 0;
				continue;
			}
			ls_err_sys(err, "%s load", r->conf->runtime);
			return -1;
		}
	return 0;
}

/* IMAGE_END: the load must succeed and bring the image; then the twin. */
static int
on_image_end(struct recv *r, struct ls_err *err)
{
	int	 status;

	if (!r->has_pending || r->loader == 0) {
		ls_err_set(err, "IMAGE_END without an image");
		return -1;
	}
	close(r->loader_fd);
	r->loader_fd = -1;
	while (waitpid(r->loader, &status, 0) == -1 && errno == EINTR)
		;
	r->loader = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    !runtime_image_exists(r->conf->runtime, r->pending.image)) {
		ls_err_set(err, "%s load of image %.12s failed",
		    r->conf->runtime, r->pending.image);
		return -1;
	}
	log_info("loaded image %.12s", r->pending.image);
	r->has_pending = 0;
	if (runtime_create(r->conf->runtime, &r->pending, err) == -1)
		return -1;
	log_info("created stopped twin %s", r->pending.name);
	twin_spec_clear(&r->pending);
	frame_put_empty(&r->obuf, FRAME_TWIN_OK);
	return 0;
}

/* The stage dir sits beside the upperdir: same filesystem, not in it. */
static int
open_stage(struct recv *r, const char *upperdir, struct ls_err *err)
{
	char	*copy = xstrdup(upperdir);
	char	*stage = xasprintf("%s/%s", dirname(copy), JOURNAL_STAGE_DIR);
	int	 rc = -1;

	if (mkdir(stage, 0700) == -1 && errno != EEXIST)
		ls_err_sys(err, "stage %s", stage);
	else if ((r->stagefd = open(stage, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1)
		ls_err_sys(err, "stage %s", stage);
	else
		rc = 0;
	free(stage);
	free(copy);
	return rc;
}

static int
on_open(struct recv *r, const struct frame *f, struct ls_err *err)
{
	struct container_info	 ci;
	int			 rc = -1;

	close_container(r);
	if ((r->name = wire_name(f->u.str, err)) == NULL)
		return -1;
	if (runtime_inspect(r->conf->runtime, r->name, &ci, err) == -1)
		return -1;
	if (ci.running) {
		ls_err_set(err, "twin %s is running on %s: its upper layer "
		    "cannot change under a mounted overlay; stop it first",
		    r->name, r->conf->node);
		goto out;
	}
	r->upperdir = xstrdup(ci.upperdir);
	if ((r->rootfd = open(ci.upperdir, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1) {
		ls_err_sys(err, "upperdir %s", ci.upperdir);
		goto out;
	}
	if (open_stage(r, ci.upperdir, err) == -1)
		goto out;
	r->statedir = xasprintf("%s/twins/%s", r->conf->state_dir, r->name);
	if (mkdir_p(r->statedir, 0700) == -1) {
		ls_err_sys(err, "state dir %s", r->statedir);
		goto out;
	}
	if (journal_recover(r->rootfd, r->stagefd, r->statedir, &r->gen,
	    err) == -1 || (r->stage = apply_new(r->stagefd, err)) == NULL)
		goto out;
	r->journal = journal_new(r->rootfd, r->stagefd, r->statedir);
	frame_put_gen(&r->obuf, FRAME_OPENED, r->gen);
	rc = 0;
out:
	container_info_clear(&ci);
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

/*
 * A regular file sent as a delta: its basis is the twin's committed
 * file named by the entry's target, read as safely as the primary
 * reads its own tree.
 */
static int
open_basis(struct recv *r, struct frame_str target, struct ls_err *err)
{
	char	*path;
	int	 rc = -1;

	if ((path = wire_path(target, err)) == NULL)
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
		close_patch(r);
	free(path);
	return rc;
}

/* Feed delta bytes; write what the patch produced to the staged file. */
static int
on_delta(struct recv *r, const void *p, size_t len, int eof,
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

/* SIGREQ: the signature of the twin's copy, streamed, then SIGEND. */
static int
on_sigreq(struct recv *r, const struct frame *f, struct ls_err *err)
{
	struct source_entry	 se;
	struct delta_job	*job;
	struct buf		 sig;
	char			 chunk[FRAME_MAX_DATA], *path;
	size_t			 off;
	ssize_t			 n;
	int			 rc = -1, done = 0;

	if (r->journal == NULL || (path = wire_path(f->u.str, err)) == NULL)
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
		    err)) == -1)
			goto out;
		for (off = 0; off < sig.len; off += FRAME_MAX_DATA)
			frame_put_bytes(&r->obuf, FRAME_SIG, sig.data + off,
			    sig.len - off < FRAME_MAX_DATA ? sig.len - off :
			    FRAME_MAX_DATA);
		buf_reset(&sig);
		if (r->obuf.len > 4 * FRAME_MAX_DATA && flush_out(r, err) == -1)
			goto out;
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
	if ((path = wire_path(fe->path, err)) == NULL)
		return -1;
	to_apply_entry(fe, &e, xa, names);
	if (fe->kind == ENTRY_HARDLINK) {
		if ((target = wire_path(fe->target, err)) != NULL) {
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
	if (fe->kind == ENTRY_REG && fe->target.len > 0 &&
	    open_basis(r, fe->target, err) == -1)
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
		rc = on_delta(r, NULL, 0, 1, err);
		close_patch(r);
		if (rc == -1)
			return -1;
	}
	rc = apply_file_commit(r->file, err);
	r->file = NULL;
	if (rc == 0)
		journal_move(r->journal, r->file_staged, r->file_path);
	free(r->file_staged);
	free(r->file_path);
	r->file_staged = r->file_path = NULL;
	return rc;
}

/* Tell the primary, before the ACK, which paths to ship again. */
static void
on_skip(const char *path, void *arg)
{
	struct recv	*r = arg;

	log_info("%s: %s did not fit the tree, asking for it again",
	    r->name, path);
	frame_put_str(&r->obuf, FRAME_SKIPPED, path);
}

/*
 * Is an overlay mounted on this upperdir? The twin may have been started
 * since OPEN; overlayfs forbids changing an upper tree under a mount.
 * Reading mountinfo costs far less than asking the runtime every batch.
 */
static int
upper_mounted(const char *upperdir)
{
	char	*line = NULL, *p;
	size_t	 cap = 0, len = strlen(upperdir);
	FILE	*f;
	int	 found = 0;

	if ((f = fopen("/proc/self/mountinfo", "re")) == NULL)
		return 1;	/* cannot tell: refuse rather than risk it */
	while (!found && getline(&line, &cap, f) != -1)
		for (p = line; !found && (p = strstr(p, "upperdir=")) != NULL;) {
			p += 9;
			found = strncmp(p, upperdir, len) == 0 &&
			    strchr(",\n ", p[len]) != NULL;
		}
	free(line);
	fclose(f);
	return found;
}

static int
on_commit(struct recv *r, uint64_t gen, struct ls_err *err)
{
	if (r->journal == NULL || r->file != NULL) {
		ls_err_set(err, "COMMIT out of order");
		return -1;
	}
	if (upper_mounted(r->upperdir)) {
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
	if (journal_commit(r->journal, gen, on_skip, r, err) == -1)
		return -1;
	r->gen = gen;
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
		if ((a = wire_path(f->u.str, err)) == NULL)
			return -1;
		journal_remove(r->journal, a);
	} else {
		if ((a = wire_path(f->u.rename.from, err)) == NULL ||
		    (b = wire_path(f->u.rename.to, err)) == NULL) {
			free(a);
			return -1;
		}
		journal_rename(r->journal, a, b);
	}
	free(a);
	free(b);
	return 0;
}

static int
handle(struct recv *r, const struct frame *f, struct ls_err *err)
{
	switch (f->type) {
	case FRAME_HELLO:
		if (f->u.hello.version != FRAME_VERSION) {
			ls_err_set(err, "protocol version %u, this end speaks "
			    "%u", f->u.hello.version, FRAME_VERSION);
			return -1;
		}
		frame_put_hello(&r->obuf, r->conf->node);
		return 0;
	case FRAME_TWIN:
		return on_twin(r, f, err);
	case FRAME_OPEN:
		return on_open(r, f, err);
	case FRAME_ENTRY:
		return on_entry(r, f, err);
	case FRAME_DATA:
		if (r->file == NULL || r->patch != NULL) {
			ls_err_set(err, "DATA without a literal file");
			return -1;
		}
		return apply_file_write(r->file, f->u.data.offset,
		    f->u.data.p, f->u.data.len, err);
	case FRAME_DELTA:
		return on_delta(r, f->u.data.p, f->u.data.len, 0, err);
	case FRAME_IMAGE:
		return on_image(r, f, err);
	case FRAME_IMAGE_END:
		return on_image_end(r, err);
	case FRAME_SIGREQ:
		return on_sigreq(r, f, err);
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

	buf_init(&ibuf);
	buf_init(&r.obuf);
	buf_init(&r.patched);
	r.basis.fd = -1;
	r.loader_fd = -1;
	for (;;) {
		while ((d = frame_decode((uint8_t *)ibuf.data, ibuf.len, &f,
		    &used, &err)) == 1) {
			if (handle(&r, &f, &err) == -1)
				goto fail;
			buf_consume(&ibuf, used);
		}
		if (d == -1 || flush_out(&r, &err) == -1)
			goto fail;
		if ((n = read(in, tmp, sizeof(tmp))) == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			ls_err_sys(&err, "read from primary");
			goto fail;
		}
		if (n == 0)
			goto out;
		buf_add(&ibuf, tmp, (size_t)n);
	}
fail:
	log_warnx("serve: %s", err.msg);
	buf_reset(&r.obuf);
	frame_put_str(&r.obuf, FRAME_ERROR, err.msg);
	flush_out(&r, &err);
	rc = -1;
out:
	close_container(&r);
	stop_loader(&r);
	twin_spec_clear(&r.pending);
	buf_release(&ibuf);
	buf_release(&r.obuf);
	buf_release(&r.patched);
	return rc;
}

/*
 * `serve --purge-twin=NAME`: remove the stopped twin NAME and its receiving
 * state, for `remove --purge` on the primary. A running twin is the
 * service itself after a failover: it is refused.
 */
int
recv_purge(const struct conf *conf, const char *name)
{
	struct container_info	 ci;
	struct ls_err		 err;
	char			*dir;
	int			 rc = -1;

	if (runtime_inspect(conf->runtime, name, &ci, &err) == -1) {
		log_warnx("purge: %s", err.msg);
		return -1;
	}
	if (ci.running)
		log_warnx("purge: twin %s is running on %s: refused", name,
		    conf->node);
	else if (runtime_remove(conf->runtime, name, &err) == -1)
		log_warnx("purge: %s", err.msg);
	else {
		dir = xasprintf("%s/twins/%s", conf->state_dir, name);
		journal_forget(dir);
		free(dir);
		log_info("purged twin %s", name);
		rc = 0;
	}
	container_info_clear(&ci);
	return rc;
}
