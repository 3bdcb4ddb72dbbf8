/*
 * ckpt: see ckpt.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "beneath.h"
#include "buf.h"
#include "ckpt.h"
#include "ckpt_run.h"
#include "conf.h"
#include "container.h"
#include "control.h"
#include "fsutil.h"
#include "index.h"
#include "log.h"
#include "loop.h"
#include "proc.h"
#include "tree.h"
#include "xmalloc.h"

#define CKPT_TAKE_TIMEOUT_MS	(2 * RUNTIME_TIMEOUT_MS)
#define CKPT_REQUEST_TIMEOUT_MS	120000	/* `checkpoint` gives up */
#define CKPT_DEDUPE_MAX		(1024 * 1024)	/* bytes compared in the loop */

static char *
ckpt_dir(const struct ckpt *ck)
{
	return xasprintf("%s/%s", ck->owner->statedir, CKPT_DIR);
}

/* Open the stream's tree and read its meta, if there is one. */
static void
open_tree(struct ckpt *ck)
{
	char		*dir = ckpt_dir(ck);
	char		*tree = xasprintf("%s/%s", dir, CKPT_TREE);
	struct ls_err	 err;

	if (ck->stream->rootfd != -1)
		close(ck->stream->rootfd);
	ck->stream->rootfd = open(tree, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	ck->have_last = ck->stream->rootfd != -1 &&
	    ckpt_meta_load(tree, &ck->last, &err) == 0;
	free(tree);
	free(dir);
}

struct ckpt *
ckpt_new(struct container *owner, const struct ckpt_opts *opts)
{
	struct ckpt	*ck = xcalloc(1, sizeof(*ck));

	ck->owner = owner;
	ck->opts = *opts;
	ck->stream = container_new_ckpt(owner);
	TAILQ_INIT(&ck->waiters);
	open_tree(ck);
	return ck;
}

static void
waiters_done(struct ckpt *ck, uint64_t upto, int ok, const char *msg)
{
	struct ckpt_waiter	*w, *tmp;

	TAILQ_FOREACH_SAFE(w, &ck->waiters, entry, tmp) {
		if (ok && w->need > upto)
			continue;
		TAILQ_REMOVE(&ck->waiters, w, entry);
		control_done(w->client, ok, "%s", msg);
		free(w);
	}
}

void
ckpt_free(struct ckpt *ck)
{
	if (ck == NULL)
		return;
	if (ck->taker != 0)	/* its exit is ignored; it is still reaped */
		loop_ignore_child(ck->taker_loop, ck->taker);
	waiters_done(ck, 0, 0, "checkpoint: the container is no longer "
	    "replicated here");
	container_free(ck->stream);
	free(ck);
}

/* Remove a container's stateful-mode state (settings, checkpoints). */
int
ckpt_forget(const char *statedir, struct ls_err *err)
{
	static const char *const leaves[] = { CKPT_DIR, CKPT_RESTORE,
	    CKPT_SETTINGS, NULL };
	const char *const	*l;
	int			 rc = 0;

	for (l = leaves; *l != NULL; l++)
		if (rmtree_in(statedir, *l, err) == -1)
			rc = -1;
	return rc;
}

struct dedupe {
	struct index	*index;		/* what the peer holds */
	int		 oldfd;		/* the previous checkpoint's tree */
	int		 newfd;
	uint64_t	 kept;
};

/* Same bytes in both files? Both are this host's, read through fds. */
static int
same_content(int a, int b, off_t size)
{
	char	 x[65536], y[65536];
	ssize_t	 n, m;
	off_t	 off;

	for (off = 0; off < size; off += n) {
		if ((n = pread(a, x, sizeof(x), off)) <= 0 ||
		    (m = pread(b, y, sizeof(y), off)) != n ||
		    memcmp(x, y, (size_t)n) != 0)
			return 0;
	}
	return 1;
}

static int
dedupe_one(const char *path, const struct stat *st, void *arg)
{
	struct dedupe		*d = arg;
	const struct index_stat	*held = index_get(d->index, path);
	struct index_stat	 cur, now;
	struct stat		 ost;
	struct ls_err		 err;
	int			 ofd = -1, nfd = -1, same = 0;

	if (held == NULL || (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode)))
		return 1;
	if ((ofd = beneath_openat(d->oldfd, path, O_RDONLY, &err)) == -1 ||
	    fstat(ofd, &ost) == -1)
		goto out;
	index_stat_from(&cur, &ost);
	/* Only what the peer holds, acknowledged, can stand for it. */
	if (!index_stat_same(held, &cur) || ost.st_mode != st->st_mode ||
	    ost.st_uid != st->st_uid || ost.st_gid != st->st_gid ||
	    ost.st_size != st->st_size)
		goto out;
	if (S_ISDIR(st->st_mode))
		same = ost.st_mtim.tv_sec == st->st_mtim.tv_sec &&
		    ost.st_mtim.tv_nsec == st->st_mtim.tv_nsec;
	else if (st->st_size <= CKPT_DEDUPE_MAX &&
	    (nfd = beneath_openat(d->newfd, path, O_RDONLY, &err)) != -1)
		same = same_content(ofd, nfd, st->st_size);
	if (same) {
		index_stat_from(&now, st);
		index_set(d->index, path, &now);
		d->kept++;
	}
out:
	if (ofd != -1)
		close(ofd);
	if (nfd != -1)
		close(nfd);
	return 1;
}

/*
 * The new checkpoint's files and directories that are byte for byte
 * the previous one's, which the peer holds, are recorded as held: they
 * do not ship at all. Bigger files are left to the delta, which reads
 * them anyway, rather than to this loop, which must not stall.
 */
static void
dedupe(struct ckpt *ck, int dirfd)
{
	struct dedupe	 d = { ck->stream->index, -1, ck->stream->rootfd, 0 };
	struct ls_err	 err;

	if ((d.oldfd = openat(dirfd, CKPT_NEXT, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1)
		return;
	if (tree_walk(d.newfd, dedupe_one, &d, &err) == -1)
		log_warnx("container %s: checkpoint: %s", ck->owner->name,
		    err.msg);
	close(d.oldfd);
	log_debug("container %s: %" PRIu64 " entries of the checkpoint as "
	    "the previous one", ck->owner->name, d.kept);
}

/* Put ckpt/next in place of ckpt/tree and ship all of it. */
static void
swap_in(struct ckpt *ck, long long now)
{
	char		*dir = ckpt_dir(ck);
	struct ls_err	 err;
	int		 fd;

	ck->state = CKPT_IDLE;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		ls_err_sys(&err, "%s", dir);
		goto fail;
	}
	if (renameat2(fd, CKPT_NEXT, fd, CKPT_TREE, RENAME_EXCHANGE) == -1 &&
	    (errno != ENOENT || renameat(fd, CKPT_NEXT, fd, CKPT_TREE) == -1)) {
		ls_err_sys(&err, "%s/%s", dir, CKPT_NEXT);
		close(fd);
		goto fail;
	}
	open_tree(ck);
	if (ck->stream->rootfd == -1 || !ck->have_last) {
		ls_err_set(&err, "the new checkpoint's tree or meta is "
		    "unreadable");
		close(fd);
		goto fail;
	}
	dedupe(ck, fd);
	/* The old tree, now under next: the index knows what the peer has. */
	if (beneath_rmtree(fd, CKPT_NEXT, &err) == -1 && errno != ENOENT)
		log_warnx("container %s: %s", ck->owner->name, err.msg);
	close(fd);
	ck->taken++;
	ck->swapped_ms = now;
	ck->bytes_at_swap = ck->stream->bytes;
	ck->stream->rescan = 1;		/* every path, as deltas */
	log_info("container %s: checkpoint %" PRIu64 " taken in %lld ms "
	    "(frozen %lld ms), %" PRIu64 " bytes", ck->owner->name, ck->taken,
	    ck->last.dump_ms, ck->last.frozen_us / 1000, ck->last.bytes);
	free(dir);
	return;
fail:
	ck->failures++;
	snprintf(ck->last_error, sizeof(ck->last_error), "%s", err.msg);
	log_warnx("container %s: checkpoint: %s", ck->owner->name, err.msg);
	waiters_done(ck, 0, 0, err.msg);
	free(dir);
}

static void
on_taken(struct loop *l, pid_t pid, int status, int timedout, void *arg)
{
	struct ckpt	*ck = arg;
	char		*dir, *why;

	(void)l;
	(void)pid;
	ck->taker = 0;
	if (!timedout && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		ck->state = CKPT_READY;
		ck->last_error[0] = '\0';
		return;	/* swapped in by the next tick */
	}
	ck->state = CKPT_IDLE;
	ck->failures++;
	dir = ckpt_dir(ck);
	why = read_line(dir, CKPT_ERROR);
	snprintf(ck->last_error, sizeof(ck->last_error), "%s",
	    timedout ? "timed out" : why != NULL ? why : "failed");
	log_warnx("container %s: checkpoint failed: %s", ck->owner->name,
	    ck->last_error);
	waiters_done(ck, 0, 0, ck->last_error);
	free(why);
	free(dir);
}

static void
take(struct ckpt *ck, struct loop *loop, const struct conf *conf,
    long long now)
{
	char		**argv = ckpt_serve_argv(conf, "checkpoint",
			    ck->owner->name);
	struct ls_err	 err;
	pid_t		 pid;

	pid = proc_spawn(argv, NULL, NULL, &err);
	strv_free(argv);
	ck->requested = 0;
	ck->due = now + ck->opts.interval_ms;
	if (pid == -1) {
		ck->failures++;
		snprintf(ck->last_error, sizeof(ck->last_error), "%s",
		    err.msg);
		waiters_done(ck, 0, 0, err.msg);
		return;
	}
	ck->taker = pid;
	ck->taker_loop = loop;
	ck->state = CKPT_TAKING;
	loop_add_child(loop, pid, CKPT_TAKE_TIMEOUT_MS, on_taken, ck);
}

/*
 * Swap in a checkpoint that is ready, start one that is due. Returns
 * when the next one is due (0: nothing to wait for).
 */
long long
ckpt_tick(struct ckpt *ck, struct loop *loop, const struct conf *conf,
    int running, long long now)
{
	struct container	*s = ck->stream;
	struct ckpt_waiter	*w, *tmp;
	int			 idle = s->inflight == NULL;
	int			 shipped = idle && (s->rootfd == -1 ||
				    container_target_gen(s) == s->gen);
	long long		 next = 0;

	TAILQ_FOREACH_SAFE(w, &ck->waiters, entry, tmp) {
		if (now < w->deadline) {
			if (next == 0 || w->deadline < next)
				next = w->deadline;
			continue;
		}
		TAILQ_REMOVE(&ck->waiters, w, entry);
		control_done(w->client, 0, "checkpoint: %s: not durable on %s "
		    "within %d s (is it reachable? see status)",
		    ck->owner->name, ck->owner->peer,
		    CKPT_REQUEST_TIMEOUT_MS / 1000);
		free(w);
	}
	if (ck->state == CKPT_READY && idle)
		swap_in(ck, now);
	if (ck->state != CKPT_IDLE || !running || !shipped)
		return next;
	if (ck->requested || now >= ck->due) {
		take(ck, loop, conf, now);
		return next;
	}
	return next != 0 && next < ck->due ? next : ck->due;
}

/* A batch of the stream is durable: is the checkpoint all there? */
void
ckpt_acked(struct ckpt *ck, long long now)
{
	struct container	*s = ck->stream;
	char			 msg[256];

	if (s->inflight != NULL || container_target_gen(s) != s->gen ||
	    ck->shipped == ck->taken)
		return;
	ck->shipped = ck->taken;
	ck->last_shipped_bytes = s->bytes - ck->bytes_at_swap;
	ck->last_ship_ms = now - ck->swapped_ms;
	snprintf(msg, sizeof(msg), "checkpoint: %s: taken in %lld ms (frozen "
	    "%lld ms), %" PRIu64 " bytes, %" PRIu64 " shipped; durable on %s "
	    "%lld ms later", ck->owner->name, ck->last.dump_ms,
	    ck->last.frozen_us / 1000, ck->last.bytes, ck->last_shipped_bytes,
	    ck->owner->peer, ck->last_ship_ms);
	log_info("container %s: checkpoint %" PRIu64 " durable on %s: %"
	    PRIu64 " bytes shipped for %" PRIu64, ck->owner->name, ck->taken,
	    ck->owner->peer, ck->last_shipped_bytes, ck->last.bytes);
	waiters_done(ck, ck->shipped, 1, msg);
}

/* `layersync checkpoint`: one taken after now, answered once durable. */
void
ckpt_request(struct ckpt *ck, struct control_client *cc)
{
	struct ckpt_waiter	*w = xcalloc(1, sizeof(*w));

	w->client = cc;
	w->deadline = loop_now_ms() + CKPT_REQUEST_TIMEOUT_MS;
	/* One being taken or waiting began before the request. */
	w->need = ck->taken + (ck->state == CKPT_IDLE ? 1 : 2);
	TAILQ_INSERT_TAIL(&ck->waiters, w, entry);
	ck->requested = 1;
}

void
ckpt_status(const struct ckpt *ck, struct buf *b, int json)
{
	long long	 age = ck->have_last ? (long long)(loop_wall_ms() -
			    ck->last.taken_ms) : -1;

	if (json) {
		buf_addf(b, ",\"mode\":\"criu\",\"checkpoint_interval_ms\":%lld,"
		    "\"checkpoints_taken\":%" PRIu64 ",\"checkpoints_failed\":%"
		    PRIu64 ",\"checkpoint_age_ms\":%lld,\"checkpoint_bytes\":%"
		    PRIu64 ",\"checkpoint_shipped_bytes\":%" PRIu64
		    ",\"checkpoint_dump_ms\":%lld,\"checkpoint_frozen_ms\":%.1f"
		    ",\"checkpoint_ship_ms\":%lld,\"checkpoint_durable\":%s",
		    ck->opts.interval_ms, ck->taken, ck->failures, age,
		    ck->have_last ? ck->last.bytes : 0, ck->last_shipped_bytes,
		    ck->have_last ? ck->last.dump_ms : 0, ck->have_last ?
		    (double)ck->last.frozen_us / 1000.0 : 0.0,
		    ck->last_ship_ms, ck->shipped == ck->taken && ck->taken > 0
		    ? "true" : "false");
		return;
	}
	buf_addf(b, "  checkpoint (criu, every %lld ms): ", ck->opts.interval_ms);
	if (!ck->have_last)
		buf_addstr(b, "none yet");
	else
		buf_addf(b, "last %.1f s ago, %" PRIu64 " bytes, dump %lld ms "
		    "(frozen %.1f ms), %" PRIu64 " bytes shipped%s",
		    (double)age / 1000.0, ck->last.bytes, ck->last.dump_ms,
		    (double)ck->last.frozen_us / 1000.0,
		    ck->last_shipped_bytes, ck->shipped == ck->taken ?
		    ", durable on the peer" : ", shipping");
	buf_addf(b, "; %" PRIu64 " taken, %" PRIu64 " failed%s%s",
	    ck->taken, ck->failures, ck->last_error[0] ? "; last error: " :
	    "", ck->last_error);
}
