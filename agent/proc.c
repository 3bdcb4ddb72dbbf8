/*
 * proc: fork/exec with pipes and a poll loop until both output pipes
 * close and the deadline has not passed. The child gets its own
 * process group so that a timeout kills everything it started.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "proc.h"

static void
child_exec(char *const argv[], int in[2], int out[2], int err[2])
{
	setpgid(0, 0);
	signal(SIGPIPE, SIG_DFL);
	dup2(in[0], 0);
	dup2(out[1], 1);
	dup2(err[1], 2);
	execvp(argv[0], argv);
	dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

struct pipes {
	int	 in, out, err;	/* our ends; -1 once closed */
};

static void
close_end(int *fd)
{
	if (*fd != -1) {
		close(*fd);
		*fd = -1;
	}
}

/* Move one chunk on a ready fd; closes the fd at EOF or error. */
static void
pump_fd(struct pipes *p, int fd, const char *in, size_t inlen, size_t *off,
    struct buf *out, struct buf *errout)
{
	char	 tmp[65536];
	ssize_t	 n;

	if (fd == p->in) {
		n = write(fd, in + *off, inlen - *off);
		if (n > 0)
			*off += (size_t)n;
		if ((n == -1 && errno != EINTR && errno != EAGAIN) ||
		    *off == inlen)
			close_end(&p->in);
		return;
	}
	n = read(fd, tmp, sizeof(tmp));
	if (n > 0) {
		struct buf	*b = fd == p->out ? out : errout;

		if (b->len + (size_t)n <= PROC_OUTPUT_MAX)
			buf_add(b, tmp, (size_t)n);
		return;
	}
	if (n == -1 && errno == EINTR)
		return;
	close_end(fd == p->out ? &p->out : &p->err);
}

/* Pump until both outputs close (0) or the deadline passes (-1). */
static int
pump(struct pipes *p, const char *in, size_t inlen, struct buf *out,
    struct buf *errout, long long deadline)
{
	struct pollfd	 pfd[3];
	size_t		 off = 0;
	int		 i, nfd, left;

	while (p->out != -1 || p->err != -1) {
		nfd = 0;
		if (p->out != -1)
			pfd[nfd++] = (struct pollfd){ p->out, POLLIN, 0 };
		if (p->err != -1)
			pfd[nfd++] = (struct pollfd){ p->err, POLLIN, 0 };
		if (p->in != -1)
			pfd[nfd++] = (struct pollfd){ p->in, POLLOUT, 0 };
		if ((left = (int)(deadline - loop_now_ms())) <= 0)
			return -1;
		if (poll(pfd, (nfds_t)nfd, left) == -1 && errno != EINTR)
			return -1;
		for (i = 0; i < nfd; i++)
			if (pfd[i].revents != 0)
				pump_fd(p, pfd[i].fd, in, inlen, &off, out,
				    errout);
	}
	return 0;
}

/*
 * Run argv with `in` on its stdin. Returns 0 when the child ran to its
 * end (see res->status), -1 when it could not be run or timed out.
 */
int
proc_run(char *const argv[], const void *in, size_t inlen, struct buf *out,
    struct buf *errout, int timeout_ms, struct proc_result *res,
    struct ls_err *err)
{
	int		 pin[2] = { -1, -1 }, pout[2] = { -1, -1 };
	int		 perr[2] = { -1, -1 };
	struct pipes	 p;
	pid_t		 pid;
	int		 i;

	memset(res, 0, sizeof(*res));
	if (pipe2(pin, O_CLOEXEC) == -1 || pipe2(pout, O_CLOEXEC) == -1 ||
	    pipe2(perr, O_CLOEXEC) == -1) {
		ls_err_sys(err, "%s: pipe", argv[0]);
		for (i = 0; i < 2; i++) {
			close_end(&pin[i]);
			close_end(&pout[i]);
			close_end(&perr[i]);
		}
		return -1;
	}
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0)
		child_exec(argv, pin, pout, perr);
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	p = (struct pipes){ pin[1], pout[0], perr[0] };
	if (inlen == 0)
		close_end(&p.in);
	else	/* a blocking write could wait on a child that reads nothing */
		fcntl(p.in, F_SETFL, O_NONBLOCK);
	if (pump(&p, in, inlen, out, errout, loop_now_ms() + timeout_ms) ==
	    -1) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		res->timedout = 1;
	}
	close_end(&p.in);
	close_end(&p.out);
	close_end(&p.err);
	while (waitpid(pid, &res->status, 0) == -1 && errno == EINTR)
		;
	if (res->timedout) {
		ls_err_set(err, "%s: no answer within %d ms, killed", argv[0],
		    timeout_ms);
		return -1;
	}
	return 0;
}

int
proc_ok(const struct proc_result *res)
{
	return !res->timedout && WIFEXITED(res->status) &&
	    WEXITSTATUS(res->status) == 0;
}

/* Say how a command failed, with the first line of what it printed. */
void
proc_describe(char *const argv[], const struct proc_result *res,
    const struct buf *errout, struct ls_err *err)
{
	char	 line[256];
	size_t	 n = strcspn(errout->data, "\n");

	snprintf(line, sizeof(line), "%.*s", (int)n, errout->data);
	if (WIFEXITED(res->status))
		ls_err_set(err, "%s %s: exit status %d%s%s", argv[0],
		    argv[1] != NULL ? argv[1] : "", WEXITSTATUS(res->status),
		    n ? ": " : "", line);
	else if (WIFSIGNALED(res->status))
		ls_err_set(err, "%s %s: killed by signal %d", argv[0],
		    argv[1] != NULL ? argv[1] : "", WTERMSIG(res->status));
}

/*
 * Start argv with a pipe to its stdin (*to_stdin) or from its stdout
 * (*from_stdout), either may be NULL; the other end of an unused one is
 * /dev/null for stdin and our stderr for stdout, so its messages reach
 * our log. Runs in its own process group. Returns the pid, or -1.
 */
pid_t
proc_spawn(char *const argv[], int *to_stdin, int *from_stdout,
    struct ls_err *err)
{
	int	 in[2] = { -1, -1 }, out[2] = { -1, -1 }, null;
	pid_t	 pid;

	if ((to_stdin != NULL && pipe2(in, O_CLOEXEC) == -1) ||
	    (from_stdout != NULL && pipe2(out, O_CLOEXEC) == -1)) {
		ls_err_sys(err, "%s: pipe", argv[0]);
		close_end(&in[0]);
		close_end(&in[1]);
		return -1;
	}
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		setpgid(0, 0);
		signal(SIGPIPE, SIG_DFL);
		null = open("/dev/null", O_RDONLY);
		dup2(to_stdin != NULL ? in[0] : null, 0);
		dup2(from_stdout != NULL ? out[1] : 2, 1);
		execvp(argv[0], argv);
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (to_stdin != NULL) {
		close(in[0]);
		*to_stdin = in[1];
	}
	if (from_stdout != NULL) {
		close(out[1]);
		*from_stdout = out[0];
	}
	return pid;
}
