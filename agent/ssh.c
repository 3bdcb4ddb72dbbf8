/*
 * ssh: a non-blocking libssh2 session as a state machine.
 *
 * Every libssh2 call may return EAGAIN; the same call is then repeated
 * when the socket is ready in the direction that
 * libssh2_session_block_directions() names. step() runs the machine as
 * far as it can go and sets the epoll interest from what blocked it.
 * libssh2 buffers internally, so reads loop until EAGAIN.
 */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <libssh2.h>

#include "conf.h"
#include "log.h"
#include "loop.h"
#include "ssh.h"
#include "xmalloc.h"

enum ssh_state {
	SSH_CONNECTING,
	SSH_HANDSHAKE,
	SSH_AUTH,
	SSH_CHANNEL,
	SSH_EXEC,
	SSH_READY,
	SSH_CLOSED,
};

struct ssh_conn {
	struct loop		*loop;
	const struct ssh_ops	*ops;
	void			*arg;
	char			*name;		/* peer name, for messages */
	char			*address;
	int			 port;
	char			*user;
	char			*identity;
	char			*known_hosts;
	char			*command;
	int			 fd;
	enum ssh_state		 state;
	enum ssh_state		 unfinished;	/* stage whose call said EAGAIN */
	LIBSSH2_SESSION		*session;
	LIBSSH2_CHANNEL		*channel;
	struct buf		 in, out, errline;
	long long		 timer;
	char			*early_err;	/* failed inside ssh_open */
	int			 in_step;	/* re-entrancy guard */
	uint64_t		 sent, received;	/* channel bytes, both ways */
	int			 wdirs;		/* what the last write waits for */
	int			 rdirs;		/* what the last read waits for */
	long long		 moved_at;	/* when bytes last moved */
};

static int	libssh2_ready;

static void	step(struct ssh_conn *);
static void	on_fd(struct loop *, int, uint32_t, void *);

static void
ssh_fail(struct ssh_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Tear down the session and tell the owner, once. */
static void
ssh_fail(struct ssh_conn *c, const char *fmt, ...)
{
	char	 why[512];
	va_list	 ap;

	if (c->state == SSH_CLOSED)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	c->state = SSH_CLOSED;
	if (c->fd != -1)
		loop_del_fd(c->loop, c->fd);
	if (c->timer != 0) {
		loop_del_timer(c->loop, c->timer);
		c->timer = 0;
	}
	c->ops->on_close(c, why, c->arg);
}

static const char *
last_error(struct ssh_conn *c)
{
	char	*msg = NULL;

	if (c->session == NULL)
		return "no session";
	libssh2_session_last_error(c->session, &msg, NULL, 0);
	return msg != NULL ? msg : "unknown libssh2 error";
}

/*
 * libssh2 says only "transport read" when the socket failed; the errno
 * its recv or send left says why (a timed-out peer, a reset).
 */
static const char *
io_error(struct ssh_conn *c, int e)
{
	int	 code = c->session != NULL ?
	    libssh2_session_last_errno(c->session) : 0;

	if ((code == LIBSSH2_ERROR_SOCKET_RECV ||
	    code == LIBSSH2_ERROR_SOCKET_SEND) && e != 0 && e != EAGAIN)
		return strerror(e);
	return last_error(c);
}

static long
connect_timeout(struct loop *l, long long id, void *arg)
{
	struct ssh_conn	*c = arg;

	(void)l;
	(void)id;
	c->timer = 0;
	if (c->early_err != NULL)
		ssh_fail(c, "%s", c->early_err);
	else if (c->state != SSH_READY)
		ssh_fail(c, "peer %s: no session after %d ms", c->name,
		    SSH_CONNECT_TIMEOUT_MS);
	return LOOP_NOMORE;
}

/*
 * Called from ssh_open, where on_close must not run yet (the owner has
 * no pointer): failures are kept and reported by a 0 ms timer.
 */
static void
early_fail(struct ssh_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
early_fail(struct ssh_conn *c, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		fatal("early_fail");
	va_end(ap);
	free(c->early_err);
	c->early_err = msg;
	loop_del_timer(c->loop, c->timer);
	c->timer = loop_add_timer(c->loop, 0, connect_timeout, c);
}

/*
 * Unacknowledged data for SSH_DEAD_PEER_MS ends the connection; so do
 * keepalive probes unanswered for as long when nothing is in flight.
 */
static void
dead_peer_limits(int fd)
{
	int	 on = 1, idle = SSH_DEAD_PEER_MS / 2000, cnt = 5;
	int	 intvl = (SSH_DEAD_PEER_MS / 1000 - idle) / cnt;
	unsigned int user_timeout = SSH_DEAD_PEER_MS;

	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout,
	    sizeof(user_timeout));
}

static int
tcp_connect(struct ssh_conn *c)
{
	struct addrinfo	 hints = { .ai_socktype = SOCK_STREAM };
	struct addrinfo	*res;
	char		 port[8];
	int		 r, one = 1;

	snprintf(port, sizeof(port), "%d", c->port);
	/* Numeric first: a name lookup blocks, and peers are usually IPs. */
	hints.ai_flags = AI_NUMERICHOST;
	if (getaddrinfo(c->address, port, &hints, &res) != 0) {
		hints.ai_flags = 0;
		if ((r = getaddrinfo(c->address, port, &hints, &res)) != 0) {
			early_fail(c, "peer %s: cannot resolve %s: %s", c->name,
			    c->address, gai_strerror(r));
			return -1;
		}
	}
	c->fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (c->fd == -1 || (connect(c->fd, res->ai_addr, res->ai_addrlen) ==
	    -1 && errno != EINPROGRESS)) {
		freeaddrinfo(res);
		early_fail(c, "peer %s: connect to %s port %d: %s", c->name,
		    c->address, c->port, strerror(errno));
		return -1;
	}
	freeaddrinfo(res);
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	dead_peer_limits(c->fd);
	if (loop_add_fd(c->loop, c->fd, EPOLLOUT, on_fd, c) == -1) {
		early_fail(c, "peer %s: epoll: %s", c->name, strerror(errno));
		return -1;
	}
	return 0;
}

struct ssh_conn *
ssh_open(struct loop *loop, const struct conf_peer *peer, const char *command,
    const struct ssh_ops *ops, void *arg)
{
	struct ssh_conn	*c = xcalloc(1, sizeof(*c));

	if (!libssh2_ready && libssh2_init(0) == 0)
		libssh2_ready = 1;
	c->loop = loop;
	c->ops = ops;
	c->arg = arg;
	c->name = xstrdup(peer->name);
	c->address = xstrdup(peer->address);
	c->port = (int)peer->port;
	c->user = xstrdup(peer->user);
	c->identity = xstrdup(peer->identity);
	c->known_hosts = xstrdup(peer->known_hosts);
	c->command = xstrdup(command);
	c->fd = -1;
	buf_init(&c->in);
	buf_init(&c->out);
	buf_init(&c->errline);
	c->state = SSH_CONNECTING;
	c->unfinished = SSH_CLOSED;
	c->timer = loop_add_timer(loop, SSH_CONNECT_TIMEOUT_MS,
	    connect_timeout, c);
	tcp_connect(c);
	return c;
}

/*
 * libssh2 1.10 frees what a stage's call holds only when the call ends:
 * a session dropped while one waits (EAGAIN) leaks it, e.g. the key
 * exchange's curve25519 keys. Shut the socket and make the call once
 * more, in the blocking mode ssh_free() set: it fails at once and frees
 * its state.
 */
static void
end_unfinished_call(struct ssh_conn *c)
{
	if (c->unfinished == SSH_CLOSED || c->session == NULL || c->fd == -1)
		return;
	shutdown(c->fd, SHUT_RDWR);
	switch (c->unfinished) {
	case SSH_HANDSHAKE:
		(void)libssh2_session_handshake(c->session, c->fd);
		break;
	case SSH_AUTH:
		(void)libssh2_userauth_publickey_fromfile(c->session, c->user,
		    NULL, c->identity, NULL);
		break;
	case SSH_CHANNEL:
		(void)libssh2_channel_open_session(c->session);
		break;
	case SSH_EXEC:
		(void)libssh2_channel_exec(c->channel, c->command);
		break;
	default:
		break;
	}
	c->unfinished = SSH_CLOSED;
}

void
ssh_free(struct ssh_conn *c)
{
	if (c == NULL)
		return;
	if (c->timer != 0)
		loop_del_timer(c->loop, c->timer);
	if (c->fd != -1)
		loop_del_fd(c->loop, c->fd);
	/*
	 * A non-blocking libssh2 may answer EAGAIN to the frees and keep
	 * the memory, so free in blocking mode. A live session first says
	 * goodbye, for at most SSH_CLOSE_TIMEOUT_MS. Then the socket is
	 * shut: libssh2 1.10 waits for the peer's channel close inside its
	 * frees, and a silent peer (a cut link) would make them time out
	 * and keep the whole session. On a shut socket they end at once.
	 */
	if (c->session != NULL) {
		libssh2_session_set_blocking(c->session, 1);
		libssh2_session_set_timeout(c->session, SSH_CLOSE_TIMEOUT_MS);
		end_unfinished_call(c);
		if (c->state == SSH_READY) {
			if (c->channel != NULL)
				(void)libssh2_channel_close(c->channel);
			(void)libssh2_session_disconnect(c->session,
			    "layersync closing");
		}
		if (c->fd != -1)
			shutdown(c->fd, SHUT_RDWR);
		if (c->channel != NULL)
			libssh2_channel_free(c->channel);
		libssh2_session_free(c->session);
	}
	if (c->fd != -1)
		close(c->fd);
	buf_release(&c->in);
	buf_release(&c->out);
	buf_release(&c->errline);
	free(c->name);
	free(c->address);
	free(c->user);
	free(c->identity);
	free(c->known_hosts);
	free(c->command);
	free(c->early_err);
	free(c);
}

static int
knownhost_key_type(int hostkey_type)
{
	switch (hostkey_type) {
	case LIBSSH2_HOSTKEY_TYPE_RSA:
		return LIBSSH2_KNOWNHOST_KEY_SSHRSA;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_256:
		return LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_384:
		return LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_521:
		return LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
	case LIBSSH2_HOSTKEY_TYPE_ED25519:
		return LIBSSH2_KNOWNHOST_KEY_ED25519;
	default:
		return LIBSSH2_KNOWNHOST_KEY_UNKNOWN;
	}
}

/*
 * The host key must be pinned in the configured known_hosts. There is
 * no trust on first use: an unknown key is refused like a changed one.
 */
static int
verify_host_key(struct ssh_conn *c)
{
	LIBSSH2_KNOWNHOSTS	*kh;
	struct libssh2_knownhost *found;
	const char		*key;
	size_t			 len;
	int			 type, r;

	if ((key = libssh2_session_hostkey(c->session, &len, &type)) == NULL) {
		ssh_fail(c, "peer %s: no host key: %s", c->name, last_error(c));
		return -1;
	}
	if ((kh = libssh2_knownhost_init(c->session)) == NULL) {
		ssh_fail(c, "peer %s: knownhost init failed", c->name);
		return -1;
	}
	if (libssh2_knownhost_readfile(kh, c->known_hosts,
	    LIBSSH2_KNOWNHOST_FILE_OPENSSH) < 0) {
		libssh2_knownhost_free(kh);
		ssh_fail(c, "peer %s: cannot read known_hosts %s: %s",
		    c->name, c->known_hosts, last_error(c));
		return -1;
	}
	r = libssh2_knownhost_checkp(kh, c->address, c->port, key, len,
	    LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW |
	    knownhost_key_type(type), &found);
	libssh2_knownhost_free(kh);
	if (r == LIBSSH2_KNOWNHOST_CHECK_MATCH)
		return 0;
	if (r == LIBSSH2_KNOWNHOST_CHECK_MISMATCH)
		ssh_fail(c, "peer %s: host key of %s port %d does NOT match "
		    "%s: refusing to connect (changed key or an attack)",
		    c->name, c->address, c->port, c->known_hosts);
	else
		ssh_fail(c, "peer %s: host key of %s port %d is not in %s: "
		    "refusing to connect (pin it there first)", c->name,
		    c->address, c->port, c->known_hosts);
	return -1;
}

/* The stage's call said EAGAIN: it holds state until called again. */
static int
call_unfinished(struct ssh_conn *c)
{
	c->unfinished = c->state;
	return 0;
}

/* Returns 1 when the state advanced, 0 on EAGAIN, -1 after failing. */
static int
advance(struct ssh_conn *c)
{
	int	 r, soerr = 0;
	socklen_t len = sizeof(soerr);

	switch (c->state) {
	case SSH_CONNECTING:
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
		if (soerr == EINPROGRESS || soerr == EALREADY)
			return 0;
		if (soerr != 0) {
			ssh_fail(c, "peer %s: connect to %s port %d: %s",
			    c->name, c->address, c->port, strerror(soerr));
			return -1;
		}
		if ((c->session = libssh2_session_init()) == NULL) {
			ssh_fail(c, "peer %s: libssh2 session init", c->name);
			return -1;
		}
		libssh2_session_set_blocking(c->session, 0);
		c->state = SSH_HANDSHAKE;
		return 1;
	case SSH_HANDSHAKE:
		if ((r = libssh2_session_handshake(c->session, c->fd)) ==
		    LIBSSH2_ERROR_EAGAIN)
			return call_unfinished(c);
		c->unfinished = SSH_CLOSED;
		if (r != 0) {
			ssh_fail(c, "peer %s: SSH handshake with %s port %d: "
			    "%s", c->name, c->address, c->port, last_error(c));
			return -1;
		}
		if (verify_host_key(c) == -1)
			return -1;
		c->state = SSH_AUTH;
		return 1;
	case SSH_AUTH:
		r = libssh2_userauth_publickey_fromfile(c->session, c->user,
		    NULL, c->identity, NULL);
		if (r == LIBSSH2_ERROR_EAGAIN)
			return call_unfinished(c);
		c->unfinished = SSH_CLOSED;
		if (r != 0) {
			ssh_fail(c, "peer %s: key authentication as %s with "
			    "%s failed: %s", c->name, c->user, c->identity,
			    last_error(c));
			return -1;
		}
		c->state = SSH_CHANNEL;
		return 1;
	case SSH_CHANNEL:
		c->channel = libssh2_channel_open_session(c->session);
		if (c->channel == NULL && libssh2_session_last_errno(
		    c->session) == LIBSSH2_ERROR_EAGAIN)
			return call_unfinished(c);
		c->unfinished = SSH_CLOSED;
		if (c->channel == NULL) {
			ssh_fail(c, "peer %s: open channel: %s", c->name,
			    last_error(c));
			return -1;
		}
		c->state = SSH_EXEC;
		return 1;
	case SSH_EXEC:
		if ((r = libssh2_channel_exec(c->channel, c->command)) ==
		    LIBSSH2_ERROR_EAGAIN)
			return call_unfinished(c);
		c->unfinished = SSH_CLOSED;
		if (r != 0) {
			ssh_fail(c, "peer %s: exec '%s': %s", c->name,
			    c->command, last_error(c));
			return -1;
		}
		c->state = SSH_READY;
		c->moved_at = loop_now_ms();
		if (c->timer != 0) {
			loop_del_timer(c->loop, c->timer);
			c->timer = 0;
		}
		c->ops->on_ready(c, c->arg);
		return c->state == SSH_READY ? 1 : -1;
	default:
		return -1;
	}
}

/*
 * Relay the remote command's stderr to our log, a line at a time.
 * Returns the bytes read.
 */
static size_t
read_stderr(struct ssh_conn *c)
{
	char	 tmp[1024], *nl;
	ssize_t	 n;
	size_t	 total = 0;

	while ((n = libssh2_channel_read_stderr(c->channel, tmp,
	    sizeof(tmp))) > 0) {
		total += (size_t)n;
		buf_add(&c->errline, tmp, (size_t)n);
		while ((nl = memchr(c->errline.data, '\n',
		    c->errline.len)) != NULL) {
			*nl = '\0';
			log_info("peer %s: remote: %s", c->name,
			    c->errline.data);
			buf_consume(&c->errline, (size_t)(nl - c->errline.data)
			    + 1);
		}
		if (c->errline.len > 4096)
			buf_reset(&c->errline);
	}
	return total;
}

/*
 * One pass of writes and reads. Returns -1 after failing (c may be
 * gone), 1 if anything moved, 0 if everything would block.
 */
static int
pump(struct ssh_conn *c)
{
	char		 tmp[65536];
	ssize_t		 n;
	size_t		 before;
	unsigned long	 queued;
	int		 got, idle = 0, moved = 0;

	c->wdirs = 0;
	while (c->out.len > 0) {
		n = libssh2_channel_write(c->channel, c->out.data, c->out.len);
		if (n == LIBSSH2_ERROR_EAGAIN) {
			c->wdirs = libssh2_session_block_directions(c->session);
			break;
		}
		if (n < 0) {
			ssh_fail(c, "peer %s: write: %s", c->name,
			    io_error(c, errno));
			return -1;
		}
		buf_consume(&c->out, (size_t)n);
		c->sent += (uint64_t)n;
		moved = 1;
		if (c->out.len == 0 && c->ops->on_drain != NULL)
			c->ops->on_drain(c, c->arg);
	}
	/*
	 * Reading one stream drains the socket into libssh2, the other
	 * stream's packets too: the stderr read that ends a pass may have
	 * queued the peer's answer after the stdout read found nothing.
	 * Go on while a pass gets something, or libssh2 holds data for
	 * us: else it sits there while epoll sees an empty socket, and no
	 * event ever comes (the peer's ACK waited so until the stall).
	 * Two passes that get nothing end it, whatever libssh2 says.
	 */
	before = c->in.len;
	do {
		got = 0;
		while ((n = libssh2_channel_read(c->channel, tmp,
		    sizeof(tmp))) > 0) {
			buf_add(&c->in, tmp, (size_t)n);
			c->received += (uint64_t)n;
			got = 1;
		}
		if (n < 0 && n != LIBSSH2_ERROR_EAGAIN) {
			ssh_fail(c, "peer %s: read: %s", c->name,
			    io_error(c, errno));
			return -1;
		}
		if (read_stderr(c) > 0)
			got = 1;
		moved |= got;
		idle = got ? 0 : idle + 1;
		(void)libssh2_channel_window_read_ex(c->channel, &queued, NULL);
	} while (got || (queued > 0 && idle < 2));
	/*
	 * A read first sends the window adjustment the peer needs to go on
	 * sending; if the socket is full, the read answers EAGAIN with data
	 * still inside libssh2, and only a writable socket lets it finish:
	 * waiting for input alone would wait for ever.
	 */
	c->rdirs = libssh2_session_block_directions(c->session);
	if (moved)
		c->moved_at = loop_now_ms();
	if (c->in.len > before) {
		c->ops->on_input(c, &c->in, c->arg);
		/* The owner acts on what it read at the loop's next turn; we
		 * may be inside that turn's before_sleep (a write there read
		 * the answer too), and the socket is drained: no event
		 * would come. */
		loop_wake(c->loop);
	}
	if (c->state != SSH_READY)
		return -1;
	if (libssh2_channel_eof(c->channel)) {
		ssh_fail(c, "peer %s: remote '%s' ended (exit status %d)",
		    c->name, c->command,
		    libssh2_channel_get_exit_status(c->channel));
		return -1;
	}
	return moved;
}

static void
step(struct ssh_conn *c)
{
	uint32_t	 ev = EPOLLIN;
	int		 rounds, r;

	if (c->in_step)
		return;
	c->in_step = 1;
	/* After a failure the owner may have freed c: touch nothing. */
	while (c->state != SSH_READY) {
		if ((r = advance(c)) == -1)
			return;
		if (r == 0)
			break;
	}
	/*
	 * Callbacks may queue output (on_input answering a frame): go on
	 * while a pass moves anything, whatever blocked the last read.
	 */
	for (rounds = 0; c->state == SSH_READY && rounds < 256; rounds++) {
		if ((r = pump(c)) == -1)
			return;
		if (r == 0)
			break;
	}
	c->in_step = 0;
	if (c->state == SSH_CONNECTING || (c->state == SSH_READY ?
	    (c->out.len > 0 && (c->wdirs & LIBSSH2_SESSION_BLOCK_OUTBOUND)) ||
	    (c->rdirs & LIBSSH2_SESSION_BLOCK_OUTBOUND) :
	    c->session != NULL && (libssh2_session_block_directions(
	    c->session) & LIBSSH2_SESSION_BLOCK_OUTBOUND)))
		ev |= EPOLLOUT;
	loop_mod_fd(c->loop, c->fd, ev);
}

static void
on_fd(struct loop *l, int fd, uint32_t events, void *arg)
{
	(void)l;
	(void)fd;
	(void)events;
	step(arg);
}

void
ssh_write(struct ssh_conn *c, const void *p, size_t n)
{
	if (c->state == SSH_CLOSED)
		return;
	buf_add(&c->out, p, n);
	if (c->state == SSH_READY)
		step(c);
}

size_t
ssh_pending(const struct ssh_conn *c)
{
	return c->out.len;
}

long long
ssh_still_ms(const struct ssh_conn *c)
{
	return c->state == SSH_READY ? loop_now_ms() - c->moved_at : 0;
}

/* What the session waits for, for a message: "N bytes queued, libssh2
 * waiting to write". */
void
ssh_describe(const struct ssh_conn *c, char *dst, size_t len)
{
	static const char *const waits[] = { "do nothing", "read", "write",
	    "read and write" };
	int		 d = c->session != NULL ?
			    libssh2_session_block_directions(c->session) : 0;
	unsigned long	 held = 0;

	/* LIBSSH2_SESSION_BLOCK_INBOUND is 1, _OUTBOUND 2. Held: read off
	 * the socket, not by us. The windows: what the peer still lets us
	 * send, and we it, as libssh2 counts. */
	if (c->channel != NULL)
		(void)libssh2_channel_window_read_ex(c->channel, &held, NULL);
	snprintf(dst, len, "%" PRIu64 " bytes sent, %" PRIu64 " received; "
	    "%zu queued to send, %zu received unread, %lu held in libssh2, "
	    "libssh2 waiting to %s; windows: %lu bytes to send, %lu to "
	    "receive", c->sent, c->received, c->out.len, c->in.len, held,
	    waits[d & 3],
	    c->channel != NULL ? libssh2_channel_window_write(c->channel) : 0,
	    c->channel != NULL ? libssh2_channel_window_read(c->channel) : 0);
}

int
ssh_is_ready(const struct ssh_conn *c)
{
	return c->state == SSH_READY;
}
