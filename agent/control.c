/*
 * control: server side of the control socket, and the CLI's client.
 *
 * Each client is a small state machine: read one request line, run
 * the handler, stream its output, close when control_done() has been
 * called and everything is written. A client that disconnects while
 * its handler still holds it is kept as a zombie (fd closed, writes
 * dropped) until control_done(), so handlers never see a freed client.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <bsd/string.h>
#include <bsd/sys/queue.h>

#include "buf.h"
#include "control.h"
#include "fsutil.h"
#include "log.h"
#include "loop.h"
#include "xmalloc.h"

struct control_cmd {
	SLIST_ENTRY(control_cmd)	 entry;
	char				*name;
	control_cmd_cb			*cb;
	void				*arg;
};

struct control_client {
	LIST_ENTRY(control_client)	 entry;
	struct control			*ctl;
	int				 fd;	/* -1 once the peer is gone */
	struct buf			 in;
	struct buf			 out;
	int				 dispatched;
	int				 done;
};

struct control {
	struct loop			*loop;
	int				 fd;
	char				*path;
	SLIST_HEAD(, control_cmd)	 cmds;
	LIST_HEAD(, control_client)	 clients;
};

static void	control_accept(struct loop *, int, uint32_t, void *);
static void	client_event(struct loop *, int, uint32_t, void *);

/* Refuse to steal the socket of a daemon that is still answering. */
static int
socket_in_use(const char *path)
{
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	int			 fd, r;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	r = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	return r == 0;
}

struct control *
control_open(struct loop *loop, const char *path, struct ls_err *err)
{
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	struct control		*ctl;
	mode_t			 old_umask;
	int			 fd;

	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		ls_err_set(err, "control socket %s: path too long", path);
		return NULL;
	}
	if (socket_in_use(path)) {
		ls_err_set(err, "control socket %s: another daemon is "
		    "answering on it", path);
		return NULL;
	}
	if (mkdir_parent(path) == -1) {
		ls_err_sys(err, "control socket %s: mkdir of its directory",
		    path);
		return NULL;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		ls_err_sys(err, "control socket %s: socket", path);
		return NULL;
	}
	unlink(path);
	old_umask = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		ls_err_sys(err, "control socket %s: bind", path);
		umask(old_umask);
		close(fd);
		return NULL;
	}
	umask(old_umask);
	if (listen(fd, 16) == -1) {
		ls_err_sys(err, "control socket %s: listen", path);
		close(fd);
		unlink(path);
		return NULL;
	}
	ctl = xcalloc(1, sizeof(*ctl));
	ctl->loop = loop;
	ctl->fd = fd;
	ctl->path = xstrdup(path);
	SLIST_INIT(&ctl->cmds);
	LIST_INIT(&ctl->clients);
	if (loop_add_fd(loop, fd, EPOLLIN, control_accept, ctl) == -1) {
		ls_err_sys(err, "control socket %s: epoll", path);
		control_close(ctl);
		return NULL;
	}
	return ctl;
}

static void
client_free(struct control_client *c)
{
	LIST_REMOVE(c, entry);
	if (c->fd != -1) {
		loop_del_fd(c->ctl->loop, c->fd);
		close(c->fd);
	}
	buf_release(&c->in);
	buf_release(&c->out);
	free(c);
}

/* Drop the connection; the record lives on until the handler is done. */
static void
client_hangup(struct control_client *c)
{
	if (c->fd != -1) {
		loop_del_fd(c->ctl->loop, c->fd);
		close(c->fd);
		c->fd = -1;
	}
	if (!c->dispatched || c->done)
		client_free(c);
}

void
control_close(struct control *ctl)
{
	struct control_cmd	*cmd;
	struct control_client	*c;

	if (ctl == NULL)
		return;
	while ((c = LIST_FIRST(&ctl->clients)) != NULL)
		client_free(c);
	while ((cmd = SLIST_FIRST(&ctl->cmds)) != NULL) {
		SLIST_REMOVE_HEAD(&ctl->cmds, entry);
		free(cmd->name);
		free(cmd);
	}
	loop_del_fd(ctl->loop, ctl->fd);
	close(ctl->fd);
	unlink(ctl->path);
	free(ctl->path);
	free(ctl);
}

void
control_register(struct control *ctl, const char *name, control_cmd_cb *cb,
    void *arg)
{
	struct control_cmd	*cmd = xcalloc(1, sizeof(*cmd));

	cmd->name = xstrdup(name);
	cmd->cb = cb;
	cmd->arg = arg;
	SLIST_INSERT_HEAD(&ctl->cmds, cmd, entry);
}

static int
peer_allowed(int fd)
{
	struct ucred	 cred;
	socklen_t	 len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return 0;
	return cred.uid == 0 || cred.uid == geteuid();
}

static void
control_accept(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct control		*ctl = arg;
	struct control_client	*c;
	int			 cfd;

	(void)events;
	while ((cfd = accept4(fd, NULL, NULL,
	    SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
		if (!peer_allowed(cfd)) {
			log_warnx("control: refused a client that is not root");
			close(cfd);
			continue;
		}
		c = xcalloc(1, sizeof(*c));
		c->ctl = ctl;
		c->fd = cfd;
		buf_init(&c->in);
		buf_init(&c->out);
		LIST_INSERT_HEAD(&ctl->clients, c, entry);
		if (loop_add_fd(loop, cfd, EPOLLIN, client_event, c) == -1) {
			log_warn("control: epoll");
			client_free(c);
		}
	}
	if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		log_warn("control: accept");
}

/* Split a request line in place at tabs. Returns argc, or -1. */
int
control_split(char *line, char **argv, int max)
{
	int	 argc = 0;
	char	*p = line;

	if (*line == '\0')
		return -1;
	for (;;) {
		if (argc == max)
			return -1;
		argv[argc++] = p;
		if ((p = strchr(p, '\t')) == NULL)
			break;
		*p++ = '\0';
	}
	return argc;
}

static void
client_dispatch(struct control_client *c, char *line)
{
	struct control_cmd	*cmd;
	char			*argv[CONTROL_MAX_ARGS];
	int			 argc;

	c->dispatched = 1;
	if ((argc = control_split(line, argv, CONTROL_MAX_ARGS)) == -1) {
		control_done(c, 0, "malformed request");
		return;
	}
	SLIST_FOREACH(cmd, &c->ctl->cmds, entry)
		if (strcmp(cmd->name, argv[0]) == 0)
			break;
	if (cmd == NULL) {
		control_done(c, 0, "unknown command '%s'", argv[0]);
		return;
	}
	cmd->cb(c, argc, argv, cmd->arg);
}

static void
client_flush(struct control_client *c)
{
	ssize_t	 n;

	while (c->fd != -1 && c->out.len > 0) {
		n = write(c->fd, c->out.data, c->out.len);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			client_hangup(c);
			return;
		}
		buf_consume(&c->out, (size_t)n);
	}
	if (c->fd == -1)
		return;
	if (c->out.len == 0 && c->done) {
		client_hangup(c);
		return;
	}
	loop_mod_fd(c->ctl->loop, c->fd,
	    c->out.len > 0 ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

static void
client_read(struct control_client *c)
{
	char	 tmp[1024], *nl;
	ssize_t	 n;

	while ((n = read(c->fd, tmp, sizeof(tmp))) > 0) {
		if (c->dispatched)
			continue;	/* one request per connection */
		buf_add(&c->in, tmp, (size_t)n);
		if ((nl = memchr(c->in.data, '\n', c->in.len)) != NULL) {
			*nl = '\0';
			client_dispatch(c, c->in.data);
			return;
		}
		if (c->in.len > CONTROL_LINE_MAX) {
			c->dispatched = 1;
			control_done(c, 0, "request longer than %d bytes",
			    CONTROL_LINE_MAX);
			return;
		}
	}
	if (n == 0 || (errno != EAGAIN && errno != EINTR))
		client_hangup(c);
}

static void
client_event(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct control_client	*c = arg;

	(void)loop;
	(void)fd;
	if (events & EPOLLOUT) {
		client_flush(c);
		return;
	}
	client_read(c);
}

static void
client_vline(struct control_client *c, const char *tag, const char *fmt,
    va_list ap)
{
	size_t	 start = c->out.len, i;

	if (c->fd == -1)
		return;
	buf_addstr(&c->out, tag);
	if (fmt != NULL && *fmt != '\0') {
		buf_addch(&c->out, ' ');
		buf_vaddf(&c->out, fmt, ap);
	}
	/* A newline in the text would forge a protocol line. */
	for (i = start; i < c->out.len; i++)
		if (c->out.data[i] == '\n')
			c->out.data[i] = ' ';
	buf_addch(&c->out, '\n');
}

void
control_out(struct control_client *c, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	client_vline(c, "out", fmt, ap);
	va_end(ap);
	client_flush(c);
}

void
control_done(struct control_client *c, int ok, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	client_vline(c, ok ? "ok" : "err", fmt, ap);
	va_end(ap);
	c->done = 1;
	if (c->fd == -1) {
		client_free(c);
		return;
	}
	client_flush(c);
}
