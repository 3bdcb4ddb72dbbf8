/*
 * replica_health: local restarts before failover. On the primary, the
 * main process of each replicated container is watched through a pidfd;
 * when it exits, the agent starts the container again, up to
 * restart_attempts times within restart_window_ms. Past that the
 * container is marked failed: `layersync check` fails, keepalived puts
 * this host in FAULT and the standby takes over, which serves better
 * than a container that keeps dying here.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "loop.h"
#include "proc.h"
#include "replica_int.h"
#include "xmalloc.h"

static void	exited(struct replica *, struct container *);

static void
on_exit_fd(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct replica		*r = arg;
	struct container	*c;

	(void)l;
	(void)events;
	TAILQ_FOREACH(c, &r->containers, entry)
		if (c->pidfd == fd)
			break;
	if (c == NULL)
		return;
	health_unwatch(r, c);
	log_warnx("container %s: its process %d exited", c->name, c->info.pid);
	c->info.running = 0;
	exited(r, c);
}

/* Watch the container's main process, as the last inspect found it. */
void
health_watch(struct replica *r, struct container *c)
{
	int	 fd;

	if (c->pidfd != -1 || !c->info.running || c->info.pid <= 0)
		return;
	if ((fd = (int)syscall(SYS_pidfd_open, c->info.pid, 0)) == -1) {
		if (errno == ESRCH) {	/* gone since the inspect */
			c->info.running = 0;
			exited(r, c);
		} else
			log_warn("container %s: pidfd_open %d", c->name,
			    c->info.pid);
		return;
	}
	if (loop_add_fd(r->loop, fd, EPOLLIN, on_exit_fd, r) == -1) {
		log_warn("container %s: epoll", c->name);
		close(fd);
		return;
	}
	c->pidfd = fd;
}

void
health_unwatch(struct replica *r, struct container *c)
{
	if (c->pidfd == -1)
		return;
	loop_del_fd(r->loop, c->pidfd);
	close(c->pidfd);
	c->pidfd = -1;
}

/* Kill the container's processes now, through its pidfd: the fence. */
int
health_kill(struct replica *r, struct container *c)
{
	int	 fd = c->pidfd, r2 = 0;

	if (fd == -1)
		return 0;
	if (syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0) == -1 &&
	    errno != ESRCH)
		r2 = -1;
	health_unwatch(r, c);
	return r2;
}

/* Ask the runtime where the container's process is now. */
void
health_refresh(struct replica *r, struct container *c)
{
	struct container_info	 ci;
	struct ls_err		 err;

	if (runtime_inspect(r->conf->runtime, c->name, &ci, &err) == -1) {
		log_warnx("container %s: %s", c->name, err.msg);
		c->info.running = 0;
		return;
	}
	c->info.running = ci.running;
	c->info.pid = ci.pid;
	container_info_clear(&ci);
}

struct restart {
	struct replica	*r;
	char		*name;
};

static void
on_stopped(struct loop *l, pid_t pid, int status, int timedout, void *arg)
{
	char	*name = arg;

	(void)l;
	(void)pid;
	if (timedout || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		log_errx("container %s: the stop after a late restart failed: "
		    "it may run on the standby", name);
	free(name);
}

static void
stop_again(struct replica *r, const char *name)
{
	struct ls_err	 err;
	char		**argv = runtime_stop_argv(r->conf->runtime, name, 0);
	pid_t		 pid = proc_spawn(argv, NULL, NULL, &err);

	strv_free(argv);
	log_warnx("container %s: restarted after this host was demoted: "
	    "stopping it", name);
	if (pid == -1)
		log_errx("container %s: %s", name, err.msg);
	else
		loop_add_child(r->loop, pid, RUNTIME_TIMEOUT_MS, on_stopped,
		    xstrdup(name));
}

static void
on_restarted(struct loop *l, pid_t pid, int status, int timedout, void *arg)
{
	struct restart		*rs = arg;
	struct replica		*r = rs->r;
	struct container	*c = replica_find(r, rs->name);
	char			*rs_name = rs->name;

	(void)l;
	(void)pid;
	free(rs);
	if (r->role != ROLE_PRIMARY) {
		/* A demote ran while this start was under way; its stop may
		 * have come first. The fence must win: stop it again. */
		stop_again(r, rs_name);
		free(rs_name);
		return;
	}
	free(rs_name);
	if (c == NULL)
		return;
	c->starting = 0;
	if (timedout || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		log_warnx("container %s: %s start failed", c->name,
		    r->conf->runtime);
		exited(r, c);
		return;
	}
	health_refresh(r, c);
	if (!c->info.running) {
		exited(r, c);
		return;
	}
	log_notice("container %s: restarted here (pid %d)", c->name,
	    c->info.pid);
	health_watch(r, c);
}

static void
restart(struct replica *r, struct container *c)
{
	struct restart	*rs;
	struct ls_err	 err;
	char		**argv = runtime_start_argv(r->conf->runtime, c->name);
	pid_t		 pid = proc_spawn(argv, NULL, NULL, &err);

	strv_free(argv);
	if (pid == -1) {
		log_errx("container %s: %s", c->name, err.msg);
		c->failed = 1;
		return;
	}
	rs = xcalloc(1, sizeof(*rs));
	rs->r = r;
	rs->name = xstrdup(c->name);
	c->starting = 1;
	loop_add_child(r->loop, pid, RUNTIME_TIMEOUT_MS, on_restarted, rs);
}

/* The container is down on the primary: restart it, or give up. */
static void
exited(struct replica *r, struct container *c)
{
	long long	 now = loop_now_ms();

	/* A promote or demote under way decides for itself. */
	if (r->role != ROLE_PRIMARY || r->op != NULL || c->failed)
		return;
	if (c->restarts == 0 || now - c->restart_window >
	    r->conf->restart_window_ms) {
		c->restart_window = now;
		c->restarts = 0;
	}
	if (c->restarts >= r->conf->restart_attempts) {
		c->failed = 1;
		snprintf(c->last_error, sizeof(c->last_error), "exited %d "
		    "times within %lld s: no more local restarts", c->restarts
		    + 1, r->conf->restart_window_ms / 1000);
		log_errx("container %s: %s; 'layersync check' fails from now "
		    "on, so that keepalived moves the address", c->name,
		    c->last_error);
		return;
	}
	c->restarts++;
	c->restarts_total++;
	log_warnx("container %s: restarting it here (attempt %d of %lld "
	    "within %lld s)", c->name, c->restarts,
	    r->conf->restart_attempts, r->conf->restart_window_ms / 1000);
	restart(r, c);
}

/* At start-up on the primary: watch what runs, restart what does not. */
void
health_resume(struct replica *r, struct container *c)
{
	if (c->rootfd == -1)
		return;		/* not attached: status shows why */
	if (c->info.running)
		health_watch(r, c);
	else {
		log_warnx("container %s: not running", c->name);
		exited(r, c);
	}
}
