/*
 * journal: the batch scheme described in journal.h.
 *
 * Files in the state dir:
 *	gen		"N\n", the last committed generation
 *	journal		the redo log of the batch being committed:
 *			  layersync-journal 1 GEN
 *			  PHASE
 *			  MOVE staged path | DIR staged path | REMOVE path |
 *			  RENAME from to | LINK target path |
 *			  APPEND staged path offset |
 *			  PATCH staged path OFF+LEN,OFF+LEN...
 *			  ...
 *			  END
 *	journal.done	"K\n": phases 1..K have run and are durable
 * Fields are escaped (escape.h). The journal owns its operations.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <bsd/sys/queue.h>

#include "apply.h"
#include "beneath.h"
#include "buf.h"
#include "digest.h"
#include "escape.h"
#include "fsutil.h"
#include "index.h"
#include "journal_int.h"
#include "xmalloc.h"

static const char *const jop_names[] = {
	"PHASE", "MOVE", "DIR", "REMOVE", "RENAME", "LINK", "APPEND",
	"PATCH"
};

struct journal *
journal_new(int rootfd, int stagefd, const char *statedir)
{
	struct journal	*j = xcalloc(1, sizeof(*j));

	j->rootfd = rootfd;
	j->stagefd = stagefd;
	j->statedir = xstrdup(statedir);
	j->move_pfd = -1;
	TAILQ_INIT(&j->ops);
	return j;
}

static void
ops_clear(struct jops *ops)
{
	struct jop	*op;

	while ((op = TAILQ_FIRST(ops)) != NULL) {
		TAILQ_REMOVE(ops, op, entry);
		free(op->a);
		free(op->b);
		free(op->c);
		free(op);
	}
}

void
journal_free(struct journal *j)
{
	if (j == NULL)
		return;
	ops_clear(&j->ops);
	journal_forget_parent(j);
	free(j->statedir);
	free(j);
}

/* A new name in the stage dir; the caller owns it. */
char *
journal_stage_name(struct journal *j)
{
	return xasprintf("%08" PRIu64, ++j->seq);
}

static void
add(struct jops *ops, enum jop_kind kind, const char *a, const char *b,
    const char *c)
{
	struct jop	*op = xcalloc(1, sizeof(*op));

	op->kind = kind;
	op->a = a != NULL ? xstrdup(a) : NULL;
	op->b = b != NULL ? xstrdup(b) : NULL;
	op->c = c != NULL ? xstrdup(c) : NULL;
	TAILQ_INSERT_TAIL(ops, op, entry);
}

void
journal_move(struct journal *j, const char *staged, const char *path)
{
	add(&j->ops, JOP_MOVE, staged, path, NULL);
	j->nops++;
}

void
journal_dir(struct journal *j, const char *staged, const char *path)
{
	add(&j->ops, JOP_DIR, staged, path, NULL);
	j->nops++;
}

void
journal_remove(struct journal *j, const char *path)
{
	add(&j->ops, JOP_REMOVE, path, NULL, NULL);
	j->nops++;
}

void
journal_rename(struct journal *j, const char *from, const char *to)
{
	add(&j->ops, JOP_RENAME, from, to, NULL);
	j->nops++;
}

void
journal_link(struct journal *j, const char *target, const char *path)
{
	add(&j->ops, JOP_LINK, target, path, NULL);
	j->nops++;
}

/* Staged holds the bytes of path from offset on: write them there. */
void
journal_append(struct journal *j, const char *staged, const char *path,
    uint64_t offset)
{
	char	 off[24];

	snprintf(off, sizeof(off), "%" PRIu64, offset);
	add(&j->ops, JOP_APPEND, staged, path, off);
	j->nops++;
}

/* Staged holds path's new bytes in the ranges: write them in place. */
void
journal_patch(struct journal *j, const char *staged, const char *path,
    const struct frame_range *r, size_t n)
{
	struct buf	 text;
	size_t		 i;

	buf_init(&text);
	for (i = 0; i < n; i++)
		buf_addf(&text, "%s%" PRIu64 "+%" PRIu64, i > 0 ? "," : "",
		    r[i].off, r[i].len);
	if (n == 0)
		buf_addstr(&text, JOURNAL_NO_RANGES);
	buf_add(&text, "", 1);
	add(&j->ops, JOP_PATCH, staged, path, (const char *)text.data);
	buf_release(&text);
	j->nops++;
}

size_t
journal_ops(const struct journal *j)
{
	return j->nops;
}

/* The tree paths an operation touches (staged names are not in it). */
static int
touched_paths(const struct jop *op, const char *p[2])
{
	switch (op->kind) {
	case JOP_MOVE:
	case JOP_DIR:
	case JOP_APPEND:
	case JOP_PATCH:
		p[0] = op->b;
		return 1;
	case JOP_REMOVE:
		p[0] = op->a;
		return 1;
	case JOP_RENAME:
	case JOP_LINK:
		p[0] = op->a;
		p[1] = op->b;
		return 2;
	default:
		return 0;
	}
}

struct phase_sets {
	struct index	*touched;	/* paths touched in this phase */
	struct index	*above;		/* their ancestors */
};

static int
conflicts(const struct phase_sets *ps, const char *path)
{
	char	*p, *slash;
	int	 hit;

	if (index_get(ps->touched, path) || index_get(ps->above, path))
		return 1;
	p = xstrdup(path);
	for (hit = 0; !hit && (slash = strrchr(p, '/')) != NULL;) {
		*slash = '\0';
		hit = index_get(ps->touched, p) != NULL;
	}
	free(p);
	return hit;
}

static void
mark(struct phase_sets *ps, const char *path)
{
	static const struct index_stat	 none;
	char				*p, *slash;

	index_set(ps->touched, path, &none);
	p = xstrdup(path);
	while ((slash = strrchr(p, '/')) != NULL) {
		*slash = '\0';
		index_set(ps->above, p, &none);
	}
	free(p);
}

/* Insert PHASE markers so that no phase touches a path twice. */
static void
plan_phases(struct jops *ops)
{
	struct phase_sets	 ps = { index_new(), index_new() };
	struct jop		*op;
	const char		*p[2];
	int			 i, n, clash;

	TAILQ_FOREACH(op, ops, entry) {
		if (op->kind == JOP_PHASE)
			continue;
		n = touched_paths(op, p);
		for (clash = 0, i = 0; i < n; i++)
			clash |= conflicts(&ps, p[i]);
		if (op == TAILQ_FIRST(ops) || clash) {
			struct jop	*ph = xcalloc(1, sizeof(*ph));

			ph->kind = JOP_PHASE;
			TAILQ_INSERT_BEFORE(op, ph, entry);
			index_free(ps.touched);
			index_free(ps.above);
			ps.touched = index_new();
			ps.above = index_new();
		}
		for (i = 0; i < n; i++)
			mark(&ps, p[i]);
	}
	index_free(ps.touched);
	index_free(ps.above);
}

static void
serialize(const struct jops *ops, uint64_t gen, struct buf *b)
{
	const struct jop	*op;

	buf_addf(b, "layersync-journal 1 %" PRIu64 "\n", gen);
	TAILQ_FOREACH(op, ops, entry) {
		buf_addstr(b, jop_names[op->kind]);
		if (op->a != NULL) {
			buf_addch(b, ' ');
			escape_field(b, op->a);
		}
		if (op->b != NULL) {
			buf_addch(b, ' ');
			escape_field(b, op->b);
		}
		if (op->c != NULL) {
			buf_addch(b, ' ');
			escape_field(b, op->c);
		}
		buf_addch(b, '\n');
	}
	buf_addstr(b, "END\n");
}

static int
kind_of(const char *word)
{
	size_t	 i;

	for (i = 0; i < sizeof(jop_names) / sizeof(jop_names[0]); i++)
		if (strcmp(word, jop_names[i]) == 0)
			return (int)i;
	return -1;
}

/* Arguments each kind takes, after its name. */
static int
nargs(enum jop_kind k)
{
	return k == JOP_PHASE ? 0 : k == JOP_REMOVE ? 1 : k == JOP_APPEND ||
	    k == JOP_PATCH ? 3 : 2;
}

static int
staged_name_valid(const char *s)
{
	return strlen(s) == 8 && strspn(s, "0123456789") == 8;
}

static int
offset_valid(const char *s)
{
	return s[0] != '\0' && strlen(s) <= 19 &&
	    strspn(s, "0123456789") == strlen(s);
}

/* Every name in a journal is checked again: it is read back from disk. */
static int
op_valid(enum jop_kind k, const char *a, const char *b, const char *c)
{
	switch (k) {
	case JOP_PHASE:
		return 1;
	case JOP_APPEND:
		return staged_name_valid(a) && path_valid(b, NULL) == 0 &&
		    offset_valid(c);
	case JOP_PATCH:
		return staged_name_valid(a) && path_valid(b, NULL) == 0 &&
		    journal_ranges_parse(c, NULL) != -1;
	case JOP_MOVE:
	case JOP_DIR:
		return staged_name_valid(a) && path_valid(b, NULL) == 0;
	case JOP_REMOVE:
		return path_valid(a, NULL) == 0;
	default:
		return path_valid(a, NULL) == 0 && path_valid(b, NULL) == 0;
	}
}

/*
 * Parse a journal. Returns 1 with the ops when it is complete (its END
 * line is there), 0 when it is partial (never committed), -1 when it
 * is corrupt.
 */
static int
parse(char *text, struct jops *ops, uint64_t *gen, struct ls_err *err)
{
	char	*line, *next, *f[4];
	int	 k, n, lineno = 1;

	if (sscanf(text, "layersync-journal 1 %" SCNu64, gen) != 1) {
		ls_err_set(err, "journal: bad header");
		return -1;
	}
	for (line = strchr(text, '\n'); line != NULL; line = next) {
		line++;
		lineno++;
		if ((next = strchr(line, '\n')) == NULL)
			return 0;	/* torn last line: never committed */
		*next = '\0';
		if (strcmp(line, "END") == 0)
			return 1;
		for (n = 0; n < 4 && (f[n] = strsep(&line, " ")) != NULL; n++)
			;
		if ((k = kind_of(f[0])) == -1 || n - 1 != nargs(k) ||
		    line != NULL || (n > 1 && unescape_field(f[1]) == -1) ||
		    (n > 2 && unescape_field(f[2]) == -1) ||
		    (n > 3 && unescape_field(f[3]) == -1) ||
		    !op_valid(k, n > 1 ? f[1] : NULL, n > 2 ? f[2] : NULL,
		    n > 3 ? f[3] : NULL)) {
			ls_err_set(err, "journal:%d: malformed line", lineno);
			return -1;
		}
		add(ops, k, n > 1 ? f[1] : NULL, n > 2 ? f[2] : NULL,
		    n > 3 ? f[3] : NULL);
	}
	return 0;
}

static int
write_done(const char *statedir, int phases, struct ls_err *err)
{
	struct buf	 b;
	int		 r;

	buf_init(&b);
	buf_addf(&b, "%d\n", phases);
	r = write_durably(statedir, "journal.done", &b, err);
	buf_release(&b);
	return r;
}

/* Errors that say the operation does not fit the tree, not that I/O failed. */
static int
misfit(int e)
{
	return e == ENOENT || e == ENOTDIR || e == ELOOP || e == EXDEV ||
	    e == EISDIR || e == ENOTEMPTY || e == EEXIST || e == EINVAL;
}

/*
 * Run the phases after the first `done`, each made durable and counted;
 * or, for a batch the small-file log redoes (!durable), none of that.
 */
static int
run_phases(struct journal *j, int done, int durable, struct ls_err *err)
{
	struct apply	*ap;
	struct jop	*op;
	int		 phase = 0, r = 0;

	if ((ap = apply_new(j->rootfd, err)) == NULL)
		return -1;
	TAILQ_FOREACH(op, &j->ops, entry) {
		if (op->kind == JOP_PHASE) {
			/* the sync forgets the dirs noted; so does the cache */
			journal_forget_parent(j);
			if (durable && phase > done &&
			    (apply_sync(ap, err) == -1 ||
			    write_done(j->statedir, phase, err) == -1)) {
				r = -1;
				break;
			}
			phase++;
			continue;
		}
		if (phase > done && journal_run_op(j, ap, op, err) == -1) {
			if (!misfit(errno)) {
				r = -1;
				break;
			}
			if (j->skip != NULL)
				j->skip(op->b != NULL ? op->b : op->a,
				    err->msg, j->skip_arg);
		}
	}
	journal_forget_parent(j);
	if (durable && r == 0 && phase > done && apply_sync(ap, err) == -1)
		r = -1;
	apply_free(ap);
	return r;
}

static int
write_gen(const char *statedir, uint64_t gen, int durable, struct ls_err *err)
{
	struct buf	 b;
	int		 r;

	buf_init(&b);
	buf_addf(&b, "%" PRIu64 "\n", gen);
	r = write_small_in_place(statedir, "gen", &b, durable, err);
	buf_release(&b);
	return r;
}

static void
unlink_journal(const char *statedir)
{
	char	*p = xasprintf("%s/journal", statedir);
	char	*d = xasprintf("%s/journal.done", statedir);

	unlink(p);
	unlink(d);
	free(p);
	free(d);
}

/* The batch's one operation, if it has just one (and its phase). */
static const struct jop *
single_op(const struct journal *j)
{
	const struct jop	*op;

	if (j->nops != 1)
		return NULL;
	TAILQ_FOREACH(op, &j->ops, entry)
		if (op->kind != JOP_PHASE)
			return op;
	return NULL;
}

/*
 * The digest of the staged bytes an in-place op writes: all of an
 * append's tail, a patch's ranges.
 */
static int
staged_digest(int sfd, const struct jop *op, unsigned char *md)
{
	struct frame_range	 rg[FRAME_MAX_RANGES];
	struct stat		 st;
	int			 n;

	if (op->kind == JOP_APPEND) {
		if (fstat(sfd, &st) == -1)
			return -1;
		rg[0].off = 0;
		rg[0].len = (uint64_t)st.st_size;
		n = 1;
	} else if ((n = journal_ranges_parse(op->c, rg)) == -1)
		return -1;
	return digest_ranges(sfd, rg, (size_t)n, md);
}

void
journal_prepare(struct journal *j, uint64_t gen)
{
	unsigned char		 md[DIGEST_SUM_LEN];
	const struct jop	*op;
	struct buf		 b;
	int			 fd;

	if (!j->planned)
		plan_phases(&j->ops);
	j->planned = 1;
	j->in_stage = 0;
	if ((op = single_op(j)) == NULL ||
	    (op->kind != JOP_APPEND && op->kind != JOP_PATCH))
		return;
	buf_init(&b);
	serialize(&j->ops, gen, &b);
	/* Too long for an xattr (a patch of many ranges): a journal file. */
	if (b.len <= JOURNAL_XATTR_MAX && (fd = openat(j->stagefd, op->a,
	    O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) != -1) {
		if (staged_digest(fd, op, md) == 0 && fsetxattr(fd,
		    JOURNAL_SUM_XATTR, md, sizeof(md), 0) == 0 &&
		    fsetxattr(fd, JOURNAL_XATTR, b.data, b.len, 0) == 0) {
			j->in_stage = 1;
			j->in_stage_gen = gen;
		}
		close(fd);
	}
	buf_release(&b);
}

int
journal_commit(struct journal *j, uint64_t gen, journal_skip_cb *skip,
    void *arg, struct ls_err *err)
{
	const struct jop	*op;
	struct buf		 b;
	int			 r = -1, no_file;

	j->skip = skip;
	j->skip_arg = arg;

	if (!j->planned)
		plan_phases(&j->ops);
	buf_init(&b);
	serialize(&j->ops, gen, &b);
	/*
	 * A batch of one new entry moved into place (most small-file
	 * batches) is one rename, all or nothing by itself: it needs no
	 * journal, which saves two flushes. A crash before the generation
	 * is written leaves the entry with the old generation; the batch
	 * was never acknowledged, so the primary ships it again. A batch
	 * of one in-place write has its journal on its staged file, made
	 * durable with it (journal_prepare).
	 */
	op = single_op(j);
	no_file = (op != NULL && op->kind == JOP_MOVE) ||
	    (j->in_stage && j->in_stage_gen == gen);
	if ((!no_file && write_durably(j->statedir, "journal", &b,
	    err) == -1) || run_phases(j, 0, 1, err) == -1 ||
	    write_gen(j->statedir, gen, 1, err) == -1)
		goto out;
	unlink_journal(j->statedir);
	/* Skipped moves leave their entries behind in the stage. */
	r = journal_clear_stage(j->stagefd, err);
out:
	buf_release(&b);
	ops_clear(&j->ops);
	j->nops = 0;
	j->planned = j->in_stage = 0;
	return r;
}

int
journal_commit_logged(struct journal *j, uint64_t gen, journal_skip_cb *skip,
    void *arg, struct ls_err *err)
{
	int	 r;

	if (!j->planned)
		plan_phases(&j->ops);
	j->planned = 1;
	if ((r = wal_log(j, gen, err)) != 1)
		return r;	/* 0: the ops stay for journal_commit() */
	j->skip = skip;
	j->skip_arg = arg;
	/* an I/O error here leaves the record to redo it */
	if (run_phases(j, 0, 0, err) == -1 ||
	    write_gen(j->statedir, gen, 0, err) == -1 ||
	    journal_clear_stage(j->stagefd, err) == -1)
		r = -1;
	ops_clear(&j->ops);
	j->nops = 0;
	j->planned = j->in_stage = 0;
	return r;
}

/*
 * Empty the stage dir: what is left there belongs to no committed batch.
 * Names here are ours, not wire paths: an interrupted apply leaves a
 * reserved temp name, which the wire-path checks of apply would refuse.
 */
int
journal_clear_stage(int stagefd, struct ls_err *err)
{
	struct dirent	*de;
	DIR		*d;
	int		 fd, r = 0;

	if ((fd = openat(stagefd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1 || (d = fdopendir(fd)) == NULL) {
		ls_err_sys(err, "stage dir");
		if (fd != -1)
			close(fd);
		return -1;
	}
	while (r == 0 && (de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0 &&
		    beneath_rmtree(stagefd, de->d_name, err) == -1 &&
		    errno != ENOENT)
			r = -1;
	closedir(d);
	return r;
}

static int
mount_id(int fd, uint64_t *id)
{
	struct statx	 stx;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) == -1)
		return -1;
	*id = stx.stx_mnt_id;
	return 0;
}

/*
 * The stage dir sits beside the upperdir: same filesystem, not in it.
 * It is opened through the upperdir's fd, not by path: its moves into
 * the tree must stay on one mount (rename(2) fails with EXDEV across
 * two), and the path may resolve through another mount than rootfd's
 * did (podman bind-mounts its storage dir over itself while any podman
 * command runs, and unmounts it when that command ends).
 */
int
journal_stage_open(int rootfd, const char *upperdir, struct ls_err *err)
{
	uint64_t	 rid, sid;
	int		 pfd, fd = -1;

	if ((pfd = openat(rootfd, "..", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1) {
		ls_err_sys(err, "%s/..", upperdir);
		return -1;
	}
	if (mkdirat(pfd, JOURNAL_STAGE_DIR, 0700) == -1 && errno != EEXIST)
		ls_err_sys(err, "stage %s/../%s", upperdir, JOURNAL_STAGE_DIR);
	else if ((fd = openat(pfd, JOURNAL_STAGE_DIR, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1)
		ls_err_sys(err, "stage %s/../%s", upperdir, JOURNAL_STAGE_DIR);
	else if (mount_id(rootfd, &rid) == -1 || mount_id(fd, &sid) == -1) {
		ls_err_sys(err, "statx %s", upperdir);
		close(fd);
		fd = -1;
	} else if (rid != sid) {
		ls_err_set(err, "%s is the root of a mount: its stage dir "
		    "(%s/../%s) must be on the same mount, for files to move "
		    "from one to the other", upperdir, upperdir,
		    JOURNAL_STAGE_DIR);
		close(fd);
		fd = -1;
	}
	close(pfd);
	return fd;
}

/*
 * Finish the batch a journal's text describes, from the phase after
 * `done`, if it is past the committed generation *gen; then that is its
 * generation. A journal of a committed batch (its generation is not
 * past the one written) is stale: the unlinks after a commit are not
 * flushed, and a crash can bring one back after later batches (one
 * move needs no journal) changed the tree. Replaying it would undo them
 * and set the generation back.
 */
static int
finish_text(struct journal *j, char *text, int done, uint64_t *gen,
    struct ls_err *err)
{
	uint64_t	 jgen = 0;
	int		 complete, r = 0;

	if ((complete = parse(text, &j->ops, &jgen, err)) == -1)
		r = -1;
	else if (complete == 1 && jgen > *gen &&
	    (r = run_phases(j, done, 1, err)) == 0 &&
	    (r = write_gen(j->statedir, jgen, 1, err)) == 0)
		*gen = jgen;
	ops_clear(&j->ops);
	return r;
}

/*
 * Is the staged file sfd, named name, what its journal text says: the
 * one op's staged file, its bytes those its digest was taken of?
 */
static int
staged_whole(int sfd, const char *name, const char *text)
{
	unsigned char		 want[DIGEST_SUM_LEN], md[DIGEST_SUM_LEN];
	char			*copy = xstrdup(text);
	struct jops		 ops;
	const struct jop	*op;
	struct ls_err		 ignored;
	uint64_t		 jgen;
	int			 whole = 0;

	TAILQ_INIT(&ops);
	if (fgetxattr(sfd, JOURNAL_SUM_XATTR, want, sizeof(want)) ==
	    (ssize_t)sizeof(want) && parse(copy, &ops, &jgen, &ignored) == 1) {
		TAILQ_FOREACH(op, &ops, entry)
			if (op->kind != JOP_PHASE)
				break;
		whole = op != NULL && (op->kind == JOP_APPEND ||
		    op->kind == JOP_PATCH) && TAILQ_NEXT(op, entry) == NULL &&
		    strcmp(op->a, name) == 0 && staged_digest(sfd, op, md) ==
		    0 && memcmp(md, want, sizeof(md)) == 0;
	}
	ops_clear(&ops);
	free(copy);
	return whole;
}

/*
 * A batch of one in-place write keeps its journal on its staged file
 * (journal_prepare): finish the one found there whole and past the
 * committed generation, if any. Others are torn (never committed) or
 * stale (a lost unlink). Only regular files carry one; nothing else is
 * opened.
 */
static int
finish_in_stage(struct journal *j, uint64_t *gen, struct ls_err *err)
{
	char		 text[JOURNAL_XATTR_MAX + 1];
	struct dirent	*de;
	struct stat	 st;
	DIR		*d;
	ssize_t		 n;
	uint64_t	 before = *gen;
	int		 fd, r = 0, whole;

	if ((fd = openat(j->stagefd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 || (d = fdopendir(fd)) == NULL) {
		ls_err_sys(err, "stage dir");
		if (fd != -1)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (!staged_name_valid(de->d_name) || fstatat(j->stagefd,
		    de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !S_ISREG(st.st_mode) || (fd = openat(j->stagefd,
		    de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
		    O_CLOEXEC)) == -1)
			continue;
		n = fgetxattr(fd, JOURNAL_XATTR, text, JOURNAL_XATTR_MAX);
		if (n > 0)
			text[n] = '\0';
		whole = n > 0 && staged_whole(fd, de->d_name, text);
		close(fd);
		if (whole && ((r = finish_text(j, text, 0, gen, err)) == -1 ||
		    *gen != before))
			break;
	}
	closedir(d);
	return r;
}

/* The generation last committed into statedir's twin: 0 if none yet. */
int
journal_committed(const char *statedir, uint64_t *gen, struct ls_err *err)
{
	char	*text;

	*gen = 0;
	errno = 0;
	if ((text = read_small(statedir, "gen", err)) != NULL) {
		*gen = strtoull(text, NULL, 10);
		free(text);
	} else if (errno != ENOENT && errno != 0)
		return -1;
	return 0;
}

/*
 * Bring the twin to its last committed batch after a crash and return
 * that batch's generation. Also the start of every receiving session.
 */
int
journal_recover(int rootfd, int stagefd, const char *statedir, uint64_t *gen,
    struct ls_err *err)
{
	struct journal	*j;
	char		*text, *done;
	uint64_t	 before;
	int		 r = 0;

	if (journal_committed(statedir, gen, err) == -1)
		return -1;
	before = *gen;
	j = journal_new(rootfd, stagefd, statedir);
	if ((text = read_small(statedir, "journal", err)) != NULL) {
		done = read_small(statedir, "journal.done", err);
		r = finish_text(j, text, done != NULL ? atoi(done) : 0, gen,
		    err);
		free(done);
		free(text);
	}
	if (r == 0 && *gen == before)
		r = finish_in_stage(j, gen, err);
	journal_free(j);
	if (r == 0) {
		unlink_journal(statedir);
		r = journal_clear_stage(stagefd, err);
	}
	if (r == 0)
		r = apply_sweep_temps(rootfd, err);
	if (r == 0)
		r = wal_replay(rootfd, stagefd, statedir, gen, err);
	return r;
}

/* Remove a twin's receiving state: its generation and any journal. */
void
journal_forget(const char *statedir)
{
	char	*gen = xasprintf("%s/gen", statedir);
	char	*wal = xasprintf("%s/wal", statedir);

	unlink_journal(statedir);
	unlink(gen);
	unlink(wal);
	free(wal);
	rmdir(statedir);
	free(gen);
}
