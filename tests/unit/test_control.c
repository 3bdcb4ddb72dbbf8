/*
 * test_control: request splitting, and a real exchange over a unix
 * socket between control_call() in a child and the server in a loop.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control.h"
#include "loop.h"
#include "testmain.h"

START_TEST(test_split_at_tabs)
{
	char	 line[] = "add\tweb\t--peer\tbeta";
	char	*argv[8];

	ck_assert_int_eq(control_split(line, argv, 8), 4);
	ck_assert_str_eq(argv[0], "add");
	ck_assert_str_eq(argv[1], "web");
	ck_assert_str_eq(argv[3], "beta");
}
END_TEST

START_TEST(test_split_rejects_empty_and_too_many)
{
	char	 empty[] = "";
	char	 many[] = "a\tb\tc";
	char	*argv[2];

	ck_assert_int_eq(control_split(empty, argv, 2), -1);
	ck_assert_int_eq(control_split(many, argv, 2), -1);
}
END_TEST

static void
cmd_echo(struct control_client *c, int argc, char **argv, void *arg)
{
	int	 i;

	(void)arg;
	for (i = 1; i < argc; i++)
		control_out(c, "arg %s", argv[i]);
	control_done(c, 1, "echoed %d", argc - 1);
}

static void
cmd_fail(struct control_client *c, int argc, char **argv, void *arg)
{
	(void)argc;
	(void)argv;
	(void)arg;
	control_done(c, 0, "it failed\non purpose");
}

static void
child_done(struct loop *l, pid_t pid, int status, int timedout, void *arg)
{
	int	*out = arg;

	(void)pid;
	(void)timedout;
	*out = status;
	loop_stop(l);
}

/* Run control_call in a child; its stdout goes to a file we read. */
static int
exchange(const char *sock, int argc, char **argv, char *out, size_t outlen,
    struct loop *l)
{
	char	 tmpl[] = "/tmp/test_control.XXXXXX";
	int	 fd = mkstemp(tmpl), status = -1, r;
	pid_t	 pid;
	ssize_t	 n;

	ck_assert_int_ne(fd, -1);
	if ((pid = fork()) == 0) {
		struct ls_err	 err;

		dup2(fd, 1);
		r = control_call(sock, argc, argv, &err);
		if (r != 0)
			printf("ERR %s\n", err.msg);
		fflush(stdout);
		_exit(r == 0 ? 0 : 1);
	}
	loop_add_child(l, pid, 5000, child_done, &status);
	loop_run(l);
	n = pread(fd, out, outlen - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(tmpl);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(test_request_and_answer_over_the_socket)
{
	char		 dir[] = "/tmp/test_control.dXXXXXX", sock[256];
	char		 out[1024];
	char		*echo[] = { "echo", "one", "two" };
	char		*fail[] = { "fail" };
	char		*nope[] = { "nope" };
	struct ls_err	 err;
	struct loop	*l;
	struct control	*ctl;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/sub/ctl.sock", dir);
	l = loop_new();
	ctl = control_open(l, sock, &err);
	ck_assert_msg(ctl != NULL, "%s", err.msg);
	control_register(ctl, "echo", cmd_echo, NULL);
	control_register(ctl, "fail", cmd_fail, NULL);

	ck_assert_int_eq(exchange(sock, 3, echo, out, sizeof(out), l), 0);
	ck_assert_str_eq(out, "arg one\narg two\nechoed 2\n");
	ck_assert_int_eq(exchange(sock, 1, fail, out, sizeof(out), l), 1);
	ck_assert_str_eq(out, "ERR it failed on purpose\n");
	ck_assert_int_eq(exchange(sock, 1, nope, out, sizeof(out), l), 1);
	ck_assert_str_eq(out, "ERR unknown command 'nope'\n");

	/* A second server must not steal a live socket. */
	ck_assert_ptr_null(control_open(l, sock, &err));
	ck_assert_ptr_nonnull(strstr(err.msg, "another daemon"));

	control_close(ctl);
	ck_assert_int_eq(access(sock, F_OK), -1);
	loop_free(l);
	snprintf(out, sizeof(out), "%s/sub", dir);
	rmdir(out);
	rmdir(dir);
}
END_TEST

START_TEST(test_unreachable_daemon_is_reported)
{
	struct ls_err	 err;
	char		*argv[] = { "status" };

	ck_assert_int_eq(control_call("/nonexistent/ctl.sock", 1, argv, &err),
	    -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "cannot reach the daemon at "
	    "/nonexistent/ctl.sock"));
}
END_TEST

int
main(void)
{
	const TTest	*tests[] = {
		test_split_at_tabs,
		test_split_rejects_empty_and_too_many,
		test_request_and_answer_over_the_socket,
		test_unreachable_daemon_is_reported,
		NULL
	};

	return test_run("control", tests, NULL, NULL);
}
