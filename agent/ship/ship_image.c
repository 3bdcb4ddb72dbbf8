/*
 * ship_image: the peer lacks the twin's image. `<runtime> save` runs as
 * a child whose stdout the event loop reads into IMAGE frames, under
 * the session's high-water mark; IMAGE_END follows once both its EOF
 * and its exit status are in.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frame.h"
#include "log.h"
#include "loop.h"
#include "proc.h"
#include "runtime.h"
#include "ship_int.h"
#include "ssh.h"

/* End a `save` in progress, whatever state it is in. */
void
ship_stop_saver(struct ship *s)
{
	if (s->saver_fd != -1) {
		loop_del_fd(s->loop, s->saver_fd);
		close(s->saver_fd);
		s->saver_fd = -1;
	}
	if (s->saver > 0 && s->saver_status == -1)
		kill(-s->saver, SIGKILL);	/* the loop reaps it */
	s->saver = 0;
}

/* Both the pipe's EOF and the exit are in: end the image, or fail. */
static void
saver_finish(struct ship *s)
{
	if (s->saver_fd != -1 || s->saver_status == -1)
		return;
	s->saver = 0;
	if (!WIFEXITED(s->saver_status) || WEXITSTATUS(s->saver_status)) {
		log_errx("peer %s: %s save of image %.12s failed", s->peer.name,
		    s->runtime, s->busy->info.spec.image);
		ship_down(s, "image save failed");
		return;
	}
	frame_put_empty(&s->out, FRAME_IMAGE_END);
	s->state = SHIP_TWIN;	/* the peer loads it, then says TWIN_OK */
	ship_flush(s);
}

static void
saver_exited(struct loop *l, pid_t pid, int status, int timedout, void *arg)
{
	struct ship	*s = arg;

	(void)l;
	(void)timedout;
	if (pid != s->saver)
		return;		/* a saver ship_stop_saver() gave up on */
	s->saver_status = status;
	saver_finish(s);
}

/* Move `save` output into IMAGE frames while the SSH queue has room. */
static void
pump_image(struct ship *s)
{
	char	 chunk[FRAME_MAX_DATA];
	ssize_t	 n;

	while (s->saver_fd != -1 && ssh_pending(s->conn) < SHIP_HIGH_WATER) {
		if ((n = read(s->saver_fd, chunk, sizeof(chunk))) == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			n = 0;
		}
		if (n == 0) {
			loop_del_fd(s->loop, s->saver_fd);
			close(s->saver_fd);
			s->saver_fd = -1;
			saver_finish(s);
			return;
		}
		frame_put_bytes(&s->out, FRAME_IMAGE, chunk, (size_t)n);
		if (ship_flush(s) == -1)
			return;
	}
	/* Full queue: stop reading until on_drain. */
	if (s->saver_fd != -1)
		loop_mod_fd(s->loop, s->saver_fd, 0);
}

static void
saver_readable(struct loop *l, int fd, uint32_t events, void *arg)
{
	(void)l;
	(void)fd;
	(void)events;
	pump_image(arg);
}

/* The peer lacks the image: stream `save` to it on this session. */
void
ship_image(struct ship *s)
{
	struct ls_err	 err;
	char		**argv;

	log_notice("peer %s: image %.12s is missing there, shipping it",
	    s->peer.name, s->busy->info.spec.image);
	argv = runtime_save_argv(s->runtime, s->busy->info.spec.image);
	s->saver = proc_spawn(argv, NULL, &s->saver_fd, &err);
	strv_free(argv);
	if (s->saver == -1) {
		s->saver = 0;
		log_errx("peer %s: %s", s->peer.name, err.msg);
		ship_down(s, "cannot run image save");
		return;
	}
	s->saver_status = -1;
	fcntl(s->saver_fd, F_SETFL, O_NONBLOCK);
	loop_add_child(s->loop, s->saver, 0, saver_exited, s);
	loop_add_fd(s->loop, s->saver_fd, EPOLLIN, saver_readable, s);
	s->state = SHIP_IMAGE;
}
