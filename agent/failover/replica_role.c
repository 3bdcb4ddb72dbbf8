/*
 * replica_role: promote, demote and check, the failover half of the
 * replica. The role (primary or standby) is kept in state_dir/role.
 *
 * Requests run one at a time, in the order they came: a promote racing
 * a demote ends in the state of whichever came last, never in a mix.
 * Each runs its runtime calls (start, stop) in parallel as children of
 * the loop, and answers its client when the last one is done.
 *
 * promote: for each twin, under its lock (handover.h): bring it to its
 *   last complete batch, seed the index from its tree, and record it as
 *   this host's container, so that no receiver writes into it again;
 *   then start them all, check they run, and replicate them towards
 *   the peer they came from.
 * demote: kill the local replicated containers through their pidfds
 *   (the fence: instant, before anything else), wait for the runtime to
 *   see them stopped, then turn each into a twin that knows which of
 *   its paths diverged from what the peer acknowledged.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt_run.h"
#include "conf.h"
#include "control.h"
#include "fsutil.h"
#include "handover.h"
#include "index.h"
#include "journal.h"
#include "log.h"
#include "loop.h"
#include "mounts.h"
#include "proc.h"
#include "replica_int.h"
#include "ship.h"
#include "watch.h"
#include "xmalloc.h"

#define FENCE_STALE_MS	5000	/* > the sender's deadline (3 s) */

static void	next(struct replica *);

static const char *
role_name(enum role role)
{
	return role == ROLE_PRIMARY ? "primary" : "standby";
}

int
role_set(struct replica *r, enum role role, struct ls_err *err)
{
	if (write_line(r->conf->state_dir, "role", role_name(role), err) == -1)
		return -1;
	r->role = role;
	return 0;
}

/* The names of the twins this host holds (state_dir/twins/NAME). */
char **
role_twin_names(struct replica *r)
{
	return state_names(r->conf->state_dir, "twins");
}

/* Does this host hold twins (is it some primary's standby)? */
int
role_has_twins(struct replica *r)
{
	char	**names = role_twin_names(r);
	int	 has = names != NULL;

	strv_free(names);
	return has;
}

void
role_init(struct replica *r)
{
	struct container	*c;
	char			*role = read_line(r->conf->state_dir, "role");

	TAILQ_INIT(&r->role_queue);
	if (role != NULL)
		r->role = strcmp(role, "primary") == 0 ? ROLE_PRIMARY :
		    ROLE_STANDBY;
	else
		r->role = TAILQ_EMPTY(&r->containers) ? ROLE_STANDBY :
		    ROLE_PRIMARY;
	free(role);
	log_notice("role: %s", role_name(r->role));
	if (r->role == ROLE_STANDBY && !TAILQ_EMPTY(&r->containers)) {
		log_warnx("a demote was interrupted: finishing it");
		replica_demote(r, NULL, 0);
		return;
	}
	if (r->role == ROLE_PRIMARY)
		TAILQ_FOREACH(c, &r->containers, entry)
			health_resume(r, c);
}

void
role_free(struct replica *r)
{
	struct role_req	*req;

	/* An op in flight keeps its children's callbacks: the loop ends
	 * with the daemon, so they never run. */
	if (r->op != NULL) {
		if (r->op->req->client != NULL)
			control_done(r->op->req->client, 0, "the daemon is "
			    "shutting down");
		buf_release(&r->op->errors);
		free(r->op->req);
		free(r->op);
		r->op = NULL;
	}
	while ((req = TAILQ_FIRST(&r->role_queue)) != NULL) {
		TAILQ_REMOVE(&r->role_queue, req, entry);
		if (req->client != NULL)
			control_done(req->client, 0, "the daemon is shutting "
			    "down");
		free(req);
	}
}

static void
enqueue(struct replica *r, struct control_client *cc, int promote, int fence)
{
	struct role_req	*req = xcalloc(1, sizeof(*req));

	req->client = cc;
	req->promote = promote;
	req->fence = fence;
	TAILQ_INSERT_TAIL(&r->role_queue, req, entry);
	if (r->op == NULL)
		next(r);
	else if (cc != NULL)
		control_out(cc, "%s: waiting for the %s under way", promote ?
		    "promote" : "demote", r->op->req->promote ? "promote" :
		    "demote");
}

void
replica_promote(struct replica *r, struct control_client *cc)
{
	enqueue(r, cc, 1, 0);
}

void
replica_demote(struct replica *r, struct control_client *cc, int fence)
{
	enqueue(r, cc, 0, fence);
}

/*
 * A fence is given up by its sender after FENCE_STALE_MS, so one that
 * finds this host promoted more recently than that may have been sent
 * before the promote: it must not undo it. Two hosts promoted at once
 * then stay so until VRRP makes one of them BACKUP, which demotes it.
 */
static int
fence_is_stale(struct replica *r, struct role_req *req)
{
	if (!req->fence || r->role != ROLE_PRIMARY || r->last_switch == NULL ||
	    strcmp(r->last_switch, "promote") != 0 ||
	    loop_now_ms() - r->last_switch_at >= FENCE_STALE_MS)
		return 0;
	log_warnx("fence: refused, this host was promoted %lld ms ago, "
	    "after the fence was sent", loop_now_ms() - r->last_switch_at);
	if (req->client != NULL)
		control_done(req->client, 0, "refused: %s was promoted %lld ms "
		    "ago, after this fence was sent", r->conf->node,
		    loop_now_ms() - r->last_switch_at);
	free(req);
	return 1;
}

static void op_error(struct role_op *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
op_error(struct role_op *op, const char *fmt, ...)
{
	va_list	 ap;

	if (op->errors.len > 0)
		buf_addstr(&op->errors, "; ");
	va_start(ap, fmt);
	buf_vaddf(&op->errors, fmt, ap);
	va_end(ap);
	op->failed++;
}

static void op_end(struct replica *, long long, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Answer the client and the log, and let the next request run. ms is
 * the time the switch took (for status): for a promote, until every
 * container runs.
 */
static void
op_end(struct replica *r, long long ms, const char *fmt, ...)
{
	struct role_op	*op = r->op;
	char		 msg[512];
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (op->failed > 0)
		log_errx("%s; failed: %s", msg, op->errors.data);
	else
		log_notice("%s", msg);
	if (op->req->client != NULL) {
		if (op->failed > 0)
			control_done(op->req->client, 0, "%s; failed: %s", msg,
			    op->errors.data);
		else
			control_done(op->req->client, 1, "%s", msg);
	}
	r->last_switch = op->req->promote ? "promote" : "demote";
	r->last_switch_ms = ms;
	r->last_switch_at = loop_now_ms();
	buf_release(&op->errors);
	free(op->req);
	free(op);
	r->op = NULL;
}

struct child {
	struct replica	*r;
	char		*name;
	int		 restore;	/* `serve --restore`, not a start */
};

static void	promote_end(struct replica *);
static void	demote_end(struct replica *);
static void	spawn(struct replica *, const char *, char **, int);

/*
 * A restore from a checkpoint failed: start the twin cold from its
 * replicated layer, and say so where the operator looks.
 */
static void
restore_failed(struct replica *r, struct container *c, const char *why)
{
	free(c->restore_error);
	c->restore_error = xasprintf("restore from its checkpoint failed "
	    "(%s): started cold from the replicated layer; its memory state "
	    "is lost", why);
	log_errx("container %s: RESTORE FAILED: %s", c->name, c->restore_error);
	c->restore = 0;
	c->starting = 1;
	spawn(r, c->name, runtime_start_argv(r->conf->runtime, c->name), 0);
}

static void
on_child(struct loop *l, pid_t pid, int status, int timedout, void *arg)
{
	struct child		*ch = arg;
	struct replica		*r = ch->r;
	struct role_op		*op = r->op;
	struct container	*c = replica_find(r, ch->name);
	const char		*what = op->req->promote ? ch->restore ?
				    "restore" : "start" : "stop";
	char			 why[64];

	(void)l;
	(void)pid;
	if (c != NULL)
		c->starting = 0;
	if (ch->restore && c != NULL) {
		if (!timedout && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			c->restore = 2;		/* promote_end re-attaches */
			op->ok++;
		} else {
			snprintf(why, sizeof(why), timedout ? "timed out" :
			    "exit %d, see the log", WIFEXITED(status) ?
			    WEXITSTATUS(status) : 128 + WTERMSIG(status));
			restore_failed(r, c, why);
		}
	} else if (timedout)
		op_error(op, "%s: %s %s timed out", ch->name,
		    r->conf->runtime, what);
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		op_error(op, "%s: %s %s failed (exit %d)", ch->name,
		    r->conf->runtime, what, WIFEXITED(status) ?
		    WEXITSTATUS(status) : 128 + WTERMSIG(status));
	else
		op->ok++;
	free(ch->name);
	free(ch);
	if (--op->pending > 0)
		return;
	if (op->req->promote)
		promote_end(r);
	else
		demote_end(r);
	next(r);
}

static void
spawn(struct replica *r, const char *name, char **argv, int restore)
{
	struct child	*ch;
	struct ls_err	 err;
	pid_t		 pid = proc_spawn(argv, NULL, NULL, &err);

	strv_free(argv);
	if (pid == -1) {
		op_error(r->op, "%s: %s", name, err.msg);
		return;
	}
	ch = xcalloc(1, sizeof(*ch));
	ch->r = r;
	ch->name = xstrdup(name);
	ch->restore = restore;
	r->op->pending++;
	loop_add_child(r->loop, pid, RUNTIME_TIMEOUT_MS, on_child, ch);
}

/* Remove what the twin's receiving state was; it is the primary's now. */
static void
twin_forget(const char *statedir)
{
	static const char *const files[] = { "upperdir", "peer",
	    HANDOVER_FILE, "lock", NULL };
	const char *const	*f;
	char			*path;

	for (f = files; *f != NULL; f++) {
		path = xasprintf("%s/%s", statedir, *f);
		unlink(path);
		free(path);
	}
	journal_forget(statedir);
}

/* Which peer a twin's container replicates to once promoted. */
static char *
twin_peer(struct replica *r, const char *statedir, struct ls_err *err)
{
	char			*peer = read_line(statedir, "peer");
	struct conf_peer	*p = TAILQ_FIRST(&r->conf->peers);

	if (peer != NULL && conf_peer_find(r->conf, peer) != NULL)
		return peer;
	free(peer);
	if (p == NULL || TAILQ_NEXT(p, entry) != NULL) {
		ls_err_set(err, "cannot tell which peer to replicate to: "
		    "configure the peer named after the node it came from");
		return NULL;
	}
	return xstrdup(p->name);
}

/*
 * Turn the twin NAME into this host's container, under the twin's lock:
 * after this, a receiver refuses to write into it.
 */
static struct container *
adopt_twin(struct replica *r, const char *name, struct ls_err *err)
{
	char			*statedir = xasprintf("%s/twins/%s",
				    r->conf->state_dir, name);
	char			*upper = read_line(statedir, "upperdir");
	char			*peer = NULL;
	struct container	*c = NULL;
	struct container_info	 ci;
	struct ls_err		 ignored;
	int			 lock = -1, rootfd = -1, stagefd = -1;
	uint64_t		 gen;

	if (upper == NULL) {	/* a twin from before the cache: ask */
		if (runtime_inspect(r->conf->runtime, name, &ci, err) == -1)
			goto out;
		upper = xstrdup(ci.upperdir);
		container_info_clear(&ci);
	}
	if ((peer = twin_peer(r, statedir, err)) == NULL ||
	    (lock = twin_lock(statedir, err)) == -1)
		goto out;
	if ((rootfd = open(upper, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		ls_err_sys(err, "upperdir %s", upper);
		goto out;
	}
	if ((stagefd = journal_stage_open(rootfd, upper, err)) == -1 ||
	    journal_recover(rootfd, stagefd, statedir, &gen, err) == -1)
		goto out;
	c = container_new(name, peer, r->conf->state_dir);
	container_reset_index(c);
	if (handover_seed(rootfd, c->index, err) == -1) {
		container_free(c);
		c = NULL;
		goto out;
	}
	c->gen = gen;
	/*
	 * Stopped, the tree is what the index says; watched from now on,
	 * before it starts, its changes are all seen: no rescan, whose
	 * changed files would ship whole, not as deltas.
	 */
	c->rescan = 0;
	if (replica_watch(r, c, upper, err) == -1 ||
	    container_save(c, err) == -1 ||
	    replica_ckpt_adopt(r, c, statedir, err) == -1) {
		if (c->watch_id != -1)
			watcher_remove_root(r->watcher, c->watch_id);
		(void)container_forget(c, &ignored);
		container_free(c);
		c = NULL;
		goto out;
	}
	twin_forget(statedir);
	log_notice("container %s: the twin, at generation %" PRIu64 " with "
	    "%zu entries, is now this host's; it replicates to %s", name, gen,
	    index_count(c->index), peer);
out:
	if (lock != -1)
		close(lock);
	if (rootfd != -1)
		close(rootfd);
	if (stagefd != -1)
		close(stagefd);
	free(statedir);
	free(upper);
	free(peer);
	return c;
}

static void
promote_begin(struct replica *r)
{
	struct role_op		*op = r->op;
	struct container	*c;
	struct conf_peer	*peer;
	struct ls_err		 err;
	char			**names, **n, **fence = NULL;

	if (role_set(r, ROLE_PRIMARY, &err) == -1) {
		op_error(op, "%s", err.msg);
		return;
	}
	names = role_twin_names(r);
	for (n = names; n != NULL && *n != NULL; n++) {
		if (replica_find(r, *n) != NULL)
			continue;
		if ((c = adopt_twin(r, *n, &err)) == NULL) {
			op_error(op, "%s: %s", *n, err.msg);
			continue;
		}
		TAILQ_INSERT_TAIL(&r->containers, c, entry);
		fence = strv_add(fence, c->peer);
	}
	strv_free(names);
	TAILQ_FOREACH(c, &r->containers, entry) {
		c->failed = 0;	/* an explicit promote tries again */
		c->restarts = 0;
		if (c->pidfd != -1 || c->starting)
			continue;
		c->starting = 1;
		if (c->restore == 1)
			spawn(r, c->name, ckpt_serve_argv(r->conf, "restore",
			    c->name), 1);
		else
			spawn(r, c->name, runtime_start_argv(r->conf->runtime,
			    c->name), 0);
	}
	/* A real switch: the old primary may live on without keepalived.
	 * Fencing it runs beside the starts; it never delays them. */
	for (n = fence; n != NULL && *n != NULL; n++)
		if (n == fence || strcmp(*n, n[-1]) != 0)
			if ((peer = conf_peer_find(r->conf, *n)) != NULL)
				replica_fence_start(r, peer);
	strv_free(fence);
}

/* Every start has returned: check, watch, replicate, and report. */
static void
promote_end(struct replica *r)
{
	struct role_op		*op = r->op;
	struct container	*c;
	struct ls_err		 err;
	long long		 ms = loop_now_ms() - op->started;
	int			 running = 0;

	TAILQ_FOREACH(c, &r->containers, entry) {
		if (c->pidfd != -1) {
			running++;
			continue;
		}
		if (c->restore == 2)	/* a new container: new upperdir */
			replica_ckpt_restored(r, c);
		if (c->rootfd == -1) {
			if (replica_start(r, c, &err) == -1) {
				op_error(op, "%s: %s", c->name, err.msg);
				snprintf(c->last_error, sizeof(c->last_error),
				    "%s", err.msg);
				continue;
			}
		} else
			health_refresh(r, c);
		if (!c->info.running) {
			op_error(op, "%s: not running after start", c->name);
			c->failed = 1;
			continue;
		}
		health_watch(r, c);
		running++;
	}
	op_end(r, ms, "promote: %s is the primary: %d container%s running, "
	    "%lld ms after promote began (all started in parallel)",
	    r->conf->node, running, running == 1 ? "" : "s", ms);
}

/* Is the twin's overlay mounted? Unknown (no upperdir noted) counts. */
static int
twin_running(struct replica *r, const char *name)
{
	char	*dir = xasprintf("%s/twins/%s", r->conf->state_dir, name);
	char	*upper = read_line(dir, "upperdir");
	int	 running = upper == NULL || overlay_upper_mounted(upper);

	free(upper);
	free(dir);
	return running;
}

static void
demote_begin(struct replica *r)
{
	struct role_op		*op = r->op;
	struct container	*c;
	struct ls_err		 err;
	char			**names, **n;

	/* The fence comes first: nothing else until they are dead. */
	TAILQ_FOREACH(c, &r->containers, entry) {
		if (health_kill(r, c) == -1)
			op_error(op, "%s: kill: %s", c->name, strerror(errno));
		c->starting = 0;
	}
	r->role = ROLE_STANDBY;	/* no local restart from here on */
	TAILQ_FOREACH(c, &r->containers, entry)
		spawn(r, c->name, runtime_stop_argv(r->conf->runtime, c->name,
		    0), 0);
	/* A twin started by hand: running, its overlay is mounted. */
	names = role_twin_names(r);
	for (n = names; n != NULL && *n != NULL; n++)
		if (twin_running(r, *n))
			spawn(r, *n, runtime_stop_argv(r->conf->runtime, *n,
			    0), 0);
	strv_free(names);
	if (role_set(r, ROLE_STANDBY, &err) == -1)
		op_error(op, "%s", err.msg);
}

/* Write the twin state of a demoted container. */
static int
become_twin(struct replica *r, struct container *c, size_t *ndiverged,
    struct ls_err *err)
{
	char		*statedir = xasprintf("%s/twins/%s", r->conf->state_dir,
			    c->name);
	struct pathlist	 l = { NULL, 0 };
	char		 gen[32];
	int		 rc = -1;

	if (c->rootfd == -1) {
		ls_err_set(err, "its upperdir is not open: the next sync into "
		    "it cannot know what diverged");
		goto out;
	}
	if (mkdir_p(statedir, 0700) == -1) {
		ls_err_sys(err, "%s", statedir);
		goto out;
	}
	if (handover_diverged(c->rootfd, c->index, &l, err) == -1 ||
	    handover_save(statedir, &l, err) == -1)
		goto out;
	snprintf(gen, sizeof(gen), "%" PRIu64, c->gen);
	if (write_line(statedir, "gen", gen, err) == -1 ||
	    write_line(statedir, "peer", c->peer, err) == -1 ||
	    write_line(statedir, "upperdir", c->info.upperdir, err) == -1)
		goto out;
	*ndiverged = l.n;
	rc = 0;
out:
	pathlist_clear(&l);
	free(statedir);
	return rc;
}

static void
demote_end(struct replica *r)
{
	struct role_op		*op = r->op;
	struct container	*c;
	struct ship_entry	*se;
	struct ls_err		 err;
	size_t			 n;
	long long		 ms;
	int			 stopped = 0;

	while ((c = TAILQ_FIRST(&r->containers)) != NULL) {
		if (become_twin(r, c, &n, &err) == -1)
			op_error(op, "%s: %s", c->name, err.msg);
		else
			log_info("container %s: a twin now, at generation %"
			    PRIu64 ", %zu paths changed here since", c->name,
			    c->gen, n);
		replica_drop(r, c);
		if (container_forget(c, &err) == -1)
			op_error(op, "%s: %s", c->name, err.msg);
		container_free(c);
		stopped++;
	}
	while ((se = SLIST_FIRST(&r->ships)) != NULL) {
		SLIST_REMOVE_HEAD(&r->ships, entry);
		ship_free(se->ship);
		free(se);
	}
	ms = loop_now_ms() - op->started;
	op_end(r, ms, "demote: %s is the standby: %d container%s stopped and "
	    "now receiving, %lld ms after demote began", r->conf->node,
	    stopped, stopped == 1 ? "" : "s", ms);
}

/* Run queued requests until one waits for its children. */
static void
next(struct replica *r)
{
	struct role_req	*req;

	while (r->op == NULL && (req = TAILQ_FIRST(&r->role_queue)) != NULL) {
		TAILQ_REMOVE(&r->role_queue, req, entry);
		if (fence_is_stale(r, req))
			continue;
		r->op = xcalloc(1, sizeof(*r->op));
		r->op->req = req;
		r->op->started = loop_now_ms();
		buf_init(&r->op->errors);
		log_notice("%s: begins", req->promote ? "promote" : "demote");
		if (req->promote)
			promote_begin(r);
		else
			demote_begin(r);
		if (r->op->pending == 0) {
			if (req->promote)
				promote_end(r);
			else
				demote_end(r);
		}
	}
}

void
replica_check(struct replica *r, struct control_client *cc, int quiet)
{
	struct container	*c;
	int			 n = 0;

	if (r->role == ROLE_PRIMARY)
		TAILQ_FOREACH(c, &r->containers, entry) {
			if (c->failed) {
				control_done(cc, 0, "container %s failed: %s",
				    c->name, c->last_error);
				return;
			}
			n++;
		}
	if (quiet)
		control_done(cc, 1, NULL);
	else if (r->role == ROLE_PRIMARY)
		control_done(cc, 1, "primary: %d container%s healthy", n,
		    n == 1 ? "" : "s");
	else
		control_done(cc, 1, "standby: healthy");
}
