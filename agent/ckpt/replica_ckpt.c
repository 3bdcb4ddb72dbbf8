/*
 * replica_ckpt: the replica's side of stateful mode (ckpt.h): which
 * containers checkpoint, when their producers run, `checkpoint`, and
 * the settings `add` was given.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "beneath.h"
#include "ckpt.h"
#include "ckpt_run.h"
#include "conf.h"
#include "control.h"
#include "fsutil.h"
#include "journal.h"
#include "log.h"
#include "loop.h"
#include "proc.h"
#include "replica_int.h"
#include "ship.h"
#include "watch.h"
#include "xmalloc.h"

/*
 * Give c a checkpoint producer if its settings say mode = "criu"; take
 * one away if they no longer do. Returns -1 if the settings are bad.
 */
int
replica_ckpt_attach(struct replica *r, struct container *c,
    struct ls_err *err)
{
	struct ckpt_opts	 o;

	if (ckpt_opts_effective(r->conf, c->name, c->statedir, &o, err) ==
	    -1)
		return -1;
	if (!o.criu) {
		replica_ckpt_drop(r, c);
		return 0;
	}
	if (c->ckpt != NULL)
		c->ckpt->opts = o;
	else
		c->ckpt = ckpt_new(c, &o);
	return 0;
}

void
replica_ckpt_drop(struct replica *r, struct container *c)
{
	struct ship_entry	*se;

	if (c->ckpt == NULL)
		return;
	SLIST_FOREACH(se, &r->ships, entry)
		ship_forget(se->ship, c->ckpt->stream);
	ckpt_free(c->ckpt);
	c->ckpt = NULL;
}

/*
 * add: check the settings it was given (`settings`, "key=value" lines,
 * may be empty) and, for stateful mode, that CRIU works here; keep them
 * in the container's state dir. Returns -1 and why if add must refuse.
 */
int
replica_ckpt_add(struct replica *r, struct container *c, const char *settings,
    struct ls_err *err)
{
	struct ckpt_opts	 o;
	struct buf		 b;
	int			 rc;

	ckpt_opts_conf(r->conf, c->name, &o);
	if (ckpt_opts_apply(&o, settings, "add", err) == -1)
		return -1;
	if (o.criu && ckpt_criu_check(r->conf, err) == -1)
		return -1;
	if (*settings == '\0')
		return 0;
	if (mkdir_p(c->statedir, 0700) == -1) {
		ls_err_sys(err, "%s", c->statedir);
		return -1;
	}
	buf_init(&b);
	buf_addstr(&b, settings);
	rc = write_durably(c->statedir, CKPT_SETTINGS, &b, err);
	buf_release(&b);
	return rc;
}

/* Run each producer; returns when the next checkpoint is due (0: none). */
long long
replica_ckpt_tick(struct replica *r, long long now)
{
	struct container	*c;
	long long		 next = 0, d;
	int			 running;

	TAILQ_FOREACH(c, &r->containers, entry) {
		if (c->ckpt == NULL)
			continue;
		running = r->role == ROLE_PRIMARY && r->op == NULL &&
		    c->pidfd != -1 && !c->starting;
		d = ckpt_tick(c->ckpt, r->loop, r->conf, running, now);
		if (d != 0 && (next == 0 || d < next))
			next = d;
	}
	return next;
}

void
replica_checkpoint(struct replica *r, struct control_client *cc,
    const char *name)
{
	struct container	*c = replica_find(r, name);

	if (c == NULL) {
		control_done(cc, 0, "%s is not replicated", name);
		return;
	}
	if (c->ckpt == NULL) {
		control_done(cc, 0, "%s is not in stateful mode (mode = "
		    "\"criu\" in its containers entry, or add --mode=criu)",
		    name);
		return;
	}
	if (r->role != ROLE_PRIMARY || c->pidfd == -1) {
		control_done(cc, 0, "%s is not running here: only a running "
		    "container can be checkpointed", name);
		return;
	}
	ckpt_request(c->ckpt, cc);
}

/*
 * Promote, under the twin's lock: if the twin holds a checkpoint, bring
 * it to its last complete one (its journal), set it aside for the
 * restore in containers/NAME/restore and keep its settings, so that
 * the container goes on checkpointing from here. A twin without one
 * starts cold.
 */
int
replica_ckpt_adopt(struct replica *r, struct container *c,
    const char *twindir, struct ls_err *err)
{
	char			*ckdir = xasprintf("%s/%s", twindir, CKPT_DIR);
	char			*tree = xasprintf("%s/%s", ckdir, CKPT_TREE);
	char			*aside = xasprintf("%s/%s", c->statedir,
				    CKPT_RESTORE);
	struct ckpt_meta	 meta;
	struct buf		 b;
	struct ls_err		 why;
	int			 treefd = -1, stagefd = -1, rc = -1;
	uint64_t		 gen;

	buf_init(&b);
	if ((treefd = open(tree, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		rc = errno == ENOENT ? 0 : (ls_err_sys(err, "%s", tree), -1);
		goto out;
	}
	if ((stagefd = journal_stage_open(treefd, tree, err)) == -1 ||
	    journal_recover(treefd, stagefd, ckdir, &gen, err) == -1)
		goto out;
	if (ckpt_meta_load(tree, &meta, &why) == -1) {
		free(c->restore_error);
		c->restore_error = xasprintf("no complete checkpoint had "
		    "arrived (%s): started cold from the replicated layer",
		    why.msg);
		log_errx("container %s: %s", c->name, c->restore_error);
		rc = 0;
		goto out;
	}
	ckpt_opts_format(&meta.opts, &b);
	if (write_durably(c->statedir, CKPT_SETTINGS, &b, err) == -1 ||
	    rmtree_in(c->statedir, CKPT_RESTORE, err) == -1)
		goto out;
	if (rename(tree, aside) == -1) {
		ls_err_sys(err, "%s", aside);
		goto out;
	}
	c->restore = 1;
	log_notice("container %s: restoring it from its checkpoint %" PRIu64
	    " (taken %.1f s ago, %" PRIu64 " bytes)", c->name, gen,
	    (double)(loop_wall_ms() - meta.taken_ms) / 1000.0, meta.bytes);
	rc = 0;
out:
	if (treefd != -1)
		close(treefd);
	if (stagefd != -1)
		close(stagefd);
	/* What is left of the twin's checkpoint state is not needed now. */
	if (rc == 0 && rmtree_in(twindir, CKPT_DIR, err) == -1)
		rc = -1;
	if (rc == 0)
		rc = replica_ckpt_attach(r, c, err);
	buf_release(&b);
	free(aside);
	free(tree);
	free(ckdir);
	return rc;
}

static void
on_aside_removed(struct loop *l, pid_t pid, int status, int timedout,
    void *arg)
{
	char	*name = arg;

	(void)l;
	(void)pid;
	if (timedout || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		log_warnx("container %s: removing its old twin %s%s failed",
		    name, name, CKPT_TWIN_SUFFIX);
	free(name);
}

/*
 * The restore made a new container (new ID, new upperdir): watch that
 * one and compare it with what the old primary holds (the index seeded
 * from the twin), and remove the twin that was set aside.
 */
void
replica_ckpt_restored(struct replica *r, struct container *c)
{
	struct ls_err	 err;
	char		*aside = xasprintf("%s%s", c->name, CKPT_TWIN_SUFFIX);
	char		**argv = NULL;
	pid_t		 pid;

	c->restore = 0;
	if (c->watch_id != -1)
		watcher_remove_root(r->watcher, c->watch_id);
	c->watch_id = -1;
	if (c->rootfd != -1)
		close(c->rootfd);
	c->rootfd = -1;
	c->rescan = 1;
	free(c->restore_error);
	c->restore_error = NULL;
	log_notice("container %s: restored from its checkpoint, memory and "
	    "all", c->name);
	if (rmtree_in(c->statedir, CKPT_RESTORE, &err) == -1)
		log_warnx("container %s: %s", c->name, err.msg);
	argv = strv_add(argv, r->conf->runtime);
	argv = strv_add(argv, "rm");
	argv = strv_add(argv, "-f");
	argv = strv_add(argv, "-t");
	argv = strv_add(argv, "0");
	argv = strv_add(argv, aside);
	if ((pid = proc_spawn(argv, NULL, NULL, &err)) == -1)
		log_warnx("container %s: %s", c->name, err.msg);
	else
		loop_add_child(r->loop, pid, RUNTIME_TIMEOUT_MS,
		    on_aside_removed, xstrdup(c->name));
	strv_free(argv);
	free(aside);
}
