/* test_loop: the event loop's turns, timers, before_sleep and children. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loop.h"
#include "testmain.h"

struct turns {
	int	 sleeps;	/* before_sleep calls */
	int	 fired;		/* the timer's calls */
	int	 fired_at_second;
};

static void
wake_once(struct loop *l, void *arg)
{
	struct turns	*t = arg;

	if (++t->sleeps == 1)
		loop_wake(l);	/* as if a write here had read an answer */
	else {
		t->fired_at_second = t->fired;
		loop_stop(l);
	}
}

static long
count_fired(struct loop *l, long long id, void *arg)
{
	struct turns	*t = arg;

	(void)id;
	t->fired++;
	loop_stop(l);
	return LOOP_NOMORE;
}

/*
 * A wake from inside before_sleep gets another turn at once: the only
 * other thing that could end the sleep is a timer far away.
 */
START_TEST(test_wake_inside_before_sleep_turns_again)
{
	struct loop	*l = loop_new();
	struct turns	 t = { 0, 0, -1 };

	loop_before_sleep(l, wake_once, &t);
	loop_add_timer(l, 30000, count_fired, &t);
	ck_assert_int_eq(loop_run(l), 0);
	ck_assert_int_eq(t.sleeps, 2);
	ck_assert_int_eq(t.fired_at_second, 0);
	loop_free(l);
}
END_TEST

static void
count_sleeps(struct loop *l, void *arg)
{
	(void)l;
	((struct turns *)arg)->sleeps++;
}

static void
readable(struct loop *l, int fd, uint32_t events, void *arg)
{
	char	 c;

	(void)events;
	(void)arg;
	ck_assert_int_eq(read(fd, &c, 1), 1);
	loop_stop(l);
}

/* Without a wake, the loop sleeps until an event: one turn, then the fd. */
START_TEST(test_no_wake_sleeps_until_an_event)
{
	struct loop	*l = loop_new();
	struct turns	 t = { 0, 0, -1 };
	int		 p[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(loop_add_fd(l, p[0], EPOLLIN, readable,
	    NULL), 0);
	loop_before_sleep(l, count_sleeps, &t);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(loop_run(l), 0);
	ck_assert_int_eq(t.sleeps, 1);
	loop_del_fd(l, p[0]);
	close(p[0]);
	close(p[1]);
	loop_free(l);
}
END_TEST

static void
count_exit(struct loop *l, pid_t pid, int status, int timedout, void *arg)
{
	(void)l;
	(void)pid;
	(void)status;
	(void)timedout;
	(*(int *)arg)++;
}

static long
stop_loop(struct loop *l, long long id, void *arg)
{
	(void)id;
	(void)arg;
	loop_stop(l);
	return LOOP_NOMORE;
}

static pid_t
child_exiting_soon(void)
{
	pid_t	 pid = fork();

	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		usleep(50000);
		_exit(0);
	}
	return pid;
}

/*
 * An owner that goes away before its child ends (a checkpoint's, when
 * the daemon stops) frees the callback's argument: the loop must not
 * call it, and must still reap the child. The other child, not
 * ignored, is called back: the check can tell.
 */
START_TEST(test_an_ignored_child_is_reaped_without_its_callback)
{
	struct loop	*l = loop_new();
	int		 ignored = 0, watched = 0;
	pid_t		 a = child_exiting_soon(), b = child_exiting_soon();

	loop_add_child(l, a, 10000, count_exit, &ignored);
	loop_add_child(l, b, 10000, count_exit, &watched);
	loop_ignore_child(l, a);
	loop_add_timer(l, 500, stop_loop, NULL);
	ck_assert_int_eq(loop_run(l), 0);
	ck_assert_int_eq(ignored, 0);
	ck_assert_int_eq(watched, 1);
	ck_assert_int_eq(waitpid(a, NULL, WNOHANG), -1);
	ck_assert_int_eq(errno, ECHILD);
	loop_free(l);
}
END_TEST

int
main(void)
{
	const TTest	*tests[] = {
		test_wake_inside_before_sleep_turns_again,
		test_no_wake_sleeps_until_an_event,
		test_an_ignored_child_is_reaped_without_its_callback,
		NULL
	};

	return test_run("loop", tests, NULL, NULL);
}
