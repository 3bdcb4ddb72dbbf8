/*
 * loop: epoll, a signalfd and a list of timers.
 *
 * The loop owns the records it allocates (fd, timer, child); it never
 * owns the callbacks' arguments. Fds are looked up in a table indexed
 * by fd number, so dispatch costs no search. Timers are few (one per
 * peer or container), so a list ordered by deadline is enough.
 * Records deleted while a dispatch is running are only marked, and
 * freed once the dispatch is over, so a callback may delete anything.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bsd/sys/queue.h>

#include "log.h"
#include "loop.h"
#include "xmalloc.h"

#define LOOP_MAX_EVENTS	64	/* epoll events per wakeup */
#define LOOP_MAX_SIG	65

struct loop_fd {
	loop_fd_cb	*cb;
	void		*arg;
	int		 live;
};

struct loop_timer {
	TAILQ_ENTRY(loop_timer)	 entry;
	long long		 id;
	long long		 when;	/* monotonic ms */
	loop_timer_cb		*cb;
	void			*arg;
	int			 dead;
};
TAILQ_HEAD(loop_timers, loop_timer);

struct loop_child {
	LIST_ENTRY(loop_child)	 entry;
	pid_t			 pid;
	long long		 deadline;	/* 0: none */
	int			 killed;
	loop_child_cb		*cb;
	void			*arg;
};

struct loop {
	int			 epfd;
	int			 sigfd;
	sigset_t		 sigmask;
	struct loop_fd		*fds;
	int			 nfds;
	struct loop_timers	 timers;
	long long		 next_timer_id;
	LIST_HEAD(, loop_child)	 children;
	struct {
		loop_signal_cb	*cb;
		void		*arg;
	}			 sig[LOOP_MAX_SIG];
	loop_sleep_cb		*sleep_cb;
	void			*sleep_arg;
	int			 woken;		/* before_sleep runs again first */
	int			 stop;
};

long long
loop_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The wall clock, for times that travel to another host or a file. */
long long
loop_wall_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void	loop_signal_read(struct loop *, int, uint32_t, void *);

struct loop *
loop_new(void)
{
	struct loop	*l = xcalloc(1, sizeof(*l));

	TAILQ_INIT(&l->timers);
	LIST_INIT(&l->children);
	sigemptyset(&l->sigmask);
	l->sigfd = -1;
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		free(l);
		return NULL;
	}
	return l;
}

void
loop_free(struct loop *l)
{
	struct loop_timer	*t;
	struct loop_child	*c;

	if (l == NULL)
		return;
	while ((t = TAILQ_FIRST(&l->timers)) != NULL) {
		TAILQ_REMOVE(&l->timers, t, entry);
		free(t);
	}
	while ((c = LIST_FIRST(&l->children)) != NULL) {
		LIST_REMOVE(c, entry);
		free(c);
	}
	if (l->sigfd != -1) {
		close(l->sigfd);
		sigprocmask(SIG_UNBLOCK, &l->sigmask, NULL);
	}
	close(l->epfd);
	free(l->fds);
	free(l);
}

int
loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb *cb,
    void *arg)
{
	struct epoll_event	 ev = { .events = events, .data.fd = fd };

	if (fd >= l->nfds) {
		int	 n = fd + 16;

		l->fds = xreallocarray(l->fds, (size_t)n, sizeof(*l->fds));
		memset(l->fds + l->nfds, 0, (size_t)(n - l->nfds) *
		    sizeof(*l->fds));
		l->nfds = n;
	}
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
		return -1;
	l->fds[fd].cb = cb;
	l->fds[fd].arg = arg;
	l->fds[fd].live = 1;
	return 0;
}

int
loop_mod_fd(struct loop *l, int fd, uint32_t events)
{
	struct epoll_event	 ev = { .events = events, .data.fd = fd };

	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev);
}

/* Call before close(fd), so that a reused fd number is not confused. */
void
loop_del_fd(struct loop *l, int fd)
{
	if (fd < 0 || fd >= l->nfds || !l->fds[fd].live)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	l->fds[fd].live = 0;
}

static void
timer_insert(struct loop *l, struct loop_timer *t)
{
	struct loop_timer	*it;

	TAILQ_FOREACH(it, &l->timers, entry)
		if (it->when > t->when) {
			TAILQ_INSERT_BEFORE(it, t, entry);
			return;
		}
	TAILQ_INSERT_TAIL(&l->timers, t, entry);
}

long long
loop_add_timer(struct loop *l, long ms, loop_timer_cb *cb, void *arg)
{
	struct loop_timer	*t = xcalloc(1, sizeof(*t));

	t->id = ++l->next_timer_id;
	t->when = loop_now_ms() + ms;
	t->cb = cb;
	t->arg = arg;
	timer_insert(l, t);
	return t->id;
}

void
loop_del_timer(struct loop *l, long long id)
{
	struct loop_timer	*t;

	TAILQ_FOREACH(t, &l->timers, entry)
		if (t->id == id)
			t->dead = 1;
}

int
loop_add_signal(struct loop *l, int signo, loop_signal_cb *cb, void *arg)
{
	if (signo <= 0 || signo >= LOOP_MAX_SIG) {
		errno = EINVAL;
		return -1;
	}
	sigaddset(&l->sigmask, signo);
	if (sigprocmask(SIG_BLOCK, &l->sigmask, NULL) == -1)
		return -1;
	if (l->sigfd == -1) {
		l->sigfd = signalfd(-1, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
		if (l->sigfd == -1)
			return -1;
		if (loop_add_fd(l, l->sigfd, EPOLLIN, loop_signal_read,
		    NULL) == -1)
			return -1;
	} else if (signalfd(l->sigfd, &l->sigmask, 0) == -1)
		return -1;
	l->sig[signo].cb = cb;
	l->sig[signo].arg = arg;
	return 0;
}

static void
loop_reap(struct loop *l)
{
	struct loop_child	*c;
	pid_t			 pid;
	int			 status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		LIST_FOREACH(c, &l->children, entry)
			if (c->pid == pid)
				break;
		if (c == NULL)
			continue;
		LIST_REMOVE(c, entry);
		c->cb(l, pid, status, c->killed, c->arg);
		free(c);
	}
}

static void
loop_child_sigchld(struct loop *l, int signo, void *arg)
{
	(void)signo;
	(void)arg;
	loop_reap(l);
}

/*
 * Children are started in their own process group, so that a deadline
 * kills the whole tree a runtime CLI may have forked.
 */
void
loop_add_child(struct loop *l, pid_t pid, long timeout_ms, loop_child_cb *cb,
    void *arg)
{
	struct loop_child	*c = xcalloc(1, sizeof(*c));

	if (l->sig[SIGCHLD].cb == NULL &&
	    loop_add_signal(l, SIGCHLD, loop_child_sigchld, NULL) == -1)
		fatal("loop_add_child: signalfd");
	c->pid = pid;
	c->deadline = timeout_ms > 0 ? loop_now_ms() + timeout_ms : 0;
	c->cb = cb;
	c->arg = arg;
	LIST_INSERT_HEAD(&l->children, c, entry);
	/* It may have exited before we watched it: SIGCHLD is gone. */
	loop_reap(l);
}

static void
loop_child_ignored(struct loop *l, pid_t pid, int status, int timedout,
    void *arg)
{
	(void)l;
	(void)pid;
	(void)status;
	(void)timedout;
	(void)arg;
}

/*
 * The child's owner goes away first, and frees what it gave as the
 * callback's argument: the child is still reaped, and killed at its
 * deadline, but nothing of its owner's is called.
 */
void
loop_ignore_child(struct loop *l, pid_t pid)
{
	struct loop_child	*c;

	LIST_FOREACH(c, &l->children, entry)
		if (c->pid == pid) {
			c->cb = loop_child_ignored;
			c->arg = NULL;
		}
}

void
loop_before_sleep(struct loop *l, loop_sleep_cb *cb, void *arg)
{
	l->sleep_cb = cb;
	l->sleep_arg = arg;
}

/*
 * Something changed that before_sleep acts on, maybe from inside
 * before_sleep itself (a write there that read the peer's answer too):
 * the loop polls without waiting and calls before_sleep again, instead
 * of sleeping until an unrelated event.
 */
void
loop_wake(struct loop *l)
{
	l->woken = 1;
}

static void
loop_signal_read(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct signalfd_siginfo	 si;
	int			 signo;

	(void)events;
	(void)arg;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		signo = (int)si.ssi_signo;
		if (signo > 0 && signo < LOOP_MAX_SIG && l->sig[signo].cb)
			l->sig[signo].cb(l, signo, l->sig[signo].arg);
	}
}

static void
loop_run_timers(struct loop *l, long long now)
{
	struct loop_timer	*t;
	long			 next;

	while ((t = TAILQ_FIRST(&l->timers)) != NULL &&
	    (t->dead || t->when <= now)) {
		TAILQ_REMOVE(&l->timers, t, entry);
		if (t->dead ||
		    (next = t->cb(l, t->id, t->arg)) == LOOP_NOMORE || t->dead) {
			free(t);
			continue;
		}
		t->when = now + next;
		timer_insert(l, t);
	}
}

static void
loop_kill_overdue(struct loop *l, long long now)
{
	struct loop_child	*c;

	LIST_FOREACH(c, &l->children, entry)
		if (c->deadline != 0 && !c->killed && now >= c->deadline) {
			log_warnx("child %d overran its deadline, killing it",
			    (int)c->pid);
			kill(-c->pid, SIGKILL);
			kill(c->pid, SIGKILL);
			c->killed = 1;
		}
}

/* Milliseconds until the next timer or child deadline, or -1. */
static int
loop_timeout(struct loop *l, long long now)
{
	struct loop_timer	*t;
	struct loop_child	*c;
	long long		 next = -1;

	TAILQ_FOREACH(t, &l->timers, entry)
		if (!t->dead) {
			next = t->when;
			break;
		}
	LIST_FOREACH(c, &l->children, entry)
		if (c->deadline != 0 && !c->killed &&
		    (next == -1 || c->deadline < next))
			next = c->deadline;
	if (next == -1)
		return -1;
	return next <= now ? 0 : (int)(next - now);
}

int
loop_run(struct loop *l)
{
	struct epoll_event	 evs[LOOP_MAX_EVENTS];
	int			 i, n, fd;

	l->stop = 0;
	while (!l->stop) {
		l->woken = 0;
		if (l->sleep_cb != NULL)
			l->sleep_cb(l, l->sleep_arg);
		if (l->stop)
			break;
		n = epoll_wait(l->epfd, evs, LOOP_MAX_EVENTS, l->woken ? 0 :
		    loop_timeout(l, loop_now_ms()));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (i = 0; i < n; i++) {
			fd = evs[i].data.fd;
			if (fd < l->nfds && l->fds[fd].live)
				l->fds[fd].cb(l, fd, evs[i].events,
				    l->fds[fd].arg);
		}
		loop_run_timers(l, loop_now_ms());
		loop_kill_overdue(l, loop_now_ms());
	}
	return 0;
}

void
loop_stop(struct loop *l)
{
	l->stop = 1;
}
