/*
 * test_ssh: a connection dropped in the middle of its key exchange frees
 * everything libssh2 held for it.
 *
 * The peer is a fake server on loopback: it sends its banner and a
 * KEXINIT, then reads until the client's ECDH_INIT (the client then holds
 * its curve25519 keys and waits), and answers nothing more. That is where
 * a daemon stops or a connect timeout fires while the peer is slow.
 * The leak check is LeakSanitizer's, at exit, in the sanitizers build
 * that scripts/check runs: glibc's own counters include its per-thread
 * caches, so they cannot tell a leak from a cached chunk.
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf.h"
#include "loop.h"
#include "ssh.h"
#include "testmain.h"

#define SSH_MSG_KEXINIT		20
#define SSH_MSG_KEX_ECDH_INIT	30

struct fake_server {
	int		 listen_fd;
	int		 fd;		/* the accepted client */
	unsigned char	 in[65536];	/* what the client sent */
	size_t		 in_len;
	int		 saw_ecdh_init;
	int		 timed_out;
};

struct client_seen {
	int	 ready;
	int	 closed;
};

static size_t
put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
	return 4;
}

static size_t
put_str(unsigned char *p, const char *s)
{
	size_t	 n = strlen(s);

	put_u32(p, (uint32_t)n);
	memcpy(p + 4, s, n);
	return 4 + n;
}

/* RFC 4253 binary packet, before any keys: length, padding, payload. */
static size_t
kexinit_packet(unsigned char *out)
{
	static const char *const lists[] = {
		"curve25519-sha256", "ssh-ed25519", "aes128-ctr",
		"aes128-ctr", "hmac-sha2-256", "hmac-sha2-256", "none",
		"none", "", "",
	};
	unsigned char	 payload[512];
	size_t		 n = 0, pad, i;

	payload[n++] = SSH_MSG_KEXINIT;
	memset(payload + n, 0x5a, 16);	/* cookie */
	n += 16;
	for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		n += put_str(payload + n, lists[i]);
	payload[n++] = 0;		/* first_kex_packet_follows */
	n += put_u32(payload + n, 0);
	pad = 8 - (4 + 1 + n) % 8;
	if (pad < 4)
		pad += 8;
	put_u32(out, (uint32_t)(1 + n + pad));
	out[4] = (unsigned char)pad;
	memcpy(out + 5, payload, n);
	memset(out + 5 + n, 0, pad);
	return 5 + n + pad;
}

/* Walk the client's banner line and packets; note an ECDH_INIT. */
static void
scan_client(struct fake_server *fs)
{
	unsigned char	*p = fs->in, *end = fs->in + fs->in_len, *nl;
	uint32_t	 len;

	if ((nl = memchr(p, '\n', fs->in_len)) == NULL)
		return;
	p = nl + 1;
	while (end - p >= 6) {
		len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		    (uint32_t)p[2] << 8 | p[3];
		if ((size_t)(end - p) < 4 + (size_t)len)
			return;
		if (p[5] == SSH_MSG_KEX_ECDH_INIT)
			fs->saw_ecdh_init = 1;
		p += 4 + len;
	}
}

static void
on_client_bytes(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct fake_server	*fs = arg;
	ssize_t			 n;

	(void)ev;
	n = read(fd, fs->in + fs->in_len, sizeof(fs->in) - fs->in_len);
	if (n <= 0) {
		loop_del_fd(l, fd);
		close(fd);
		fs->fd = -1;
		loop_stop(l);
		return;
	}
	fs->in_len += (size_t)n;
	scan_client(fs);
	if (fs->saw_ecdh_init)
		loop_stop(l);
}

static void
on_accept(struct loop *l, int fd, uint32_t ev, void *arg)
{
	static const char	 banner[] = "SSH-2.0-OpenSSH_9.2 fake\r\n";
	struct fake_server	*fs = arg;
	unsigned char		 out[1024];
	size_t			 n;

	(void)ev;
	fs->fd = accept(fd, NULL, NULL);
	ck_assert_int_ge(fs->fd, 0);
	memcpy(out, banner, sizeof(banner) - 1);
	n = sizeof(banner) - 1;
	n += kexinit_packet(out + n);
	ck_assert_int_eq(write(fs->fd, out, n), (ssize_t)n);
	loop_del_fd(l, fd);
	ck_assert_int_eq(loop_add_fd(l, fs->fd, EPOLLIN, on_client_bytes,
	    fs), 0);
}

static long
give_up(struct loop *l, long long id, void *arg)
{
	struct fake_server	*fs = arg;

	(void)id;
	fs->timed_out = 1;
	loop_stop(l);
	return LOOP_NOMORE;
}

static void
seen_ready(struct ssh_conn *c, void *arg)
{
	(void)c;
	((struct client_seen *)arg)->ready = 1;
}

static void
seen_input(struct ssh_conn *c, struct buf *b, void *arg)
{
	(void)c;
	(void)b;
	(void)arg;
}

static void
seen_drain(struct ssh_conn *c, void *arg)
{
	(void)c;
	(void)arg;
}

static void
seen_close(struct ssh_conn *c, const char *why, void *arg)
{
	(void)c;
	(void)why;
	((struct client_seen *)arg)->closed = 1;
}

static const struct ssh_ops client_ops = {
	seen_ready, seen_input, seen_drain, seen_close,
};

/* One connection, dropped by its owner while it waits for ECDH_REPLY. */
static void
drop_in_key_exchange(void)
{
	struct fake_server	 fs = { .fd = -1 };
	struct client_seen	 seen = { 0 };
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	socklen_t		 slen = sizeof(sin);
	struct conf_peer	 peer = {
		.name = "fake", .address = "127.0.0.1", .user = "root",
		.identity = "/nonexistent/id", .known_hosts = "/nonexistent/kh",
	};
	struct loop		*l = loop_new();
	struct ssh_conn		*c;
	long long		 timer;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fs.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fs.listen_fd, 0);
	ck_assert_int_eq(bind(fs.listen_fd, (struct sockaddr *)&sin,
	    sizeof(sin)), 0);
	ck_assert_int_eq(listen(fs.listen_fd, 1), 0);
	ck_assert_int_eq(getsockname(fs.listen_fd, (struct sockaddr *)&sin,
	    &slen), 0);
	peer.port = ntohs(sin.sin_port);
	ck_assert_int_eq(loop_add_fd(l, fs.listen_fd, EPOLLIN, on_accept,
	    &fs), 0);
	timer = loop_add_timer(l, 5000, give_up, &fs);

	c = ssh_open(l, &peer, "true", &client_ops, &seen);
	loop_run(l);
	ck_assert_msg(!fs.timed_out, "the client sent no ECDH_INIT in 5 s");
	ck_assert(fs.saw_ecdh_init);
	ck_assert(!seen.ready && !seen.closed);
	ssh_free(c);

	if (!fs.timed_out)
		loop_del_timer(l, timer);
	if (fs.fd != -1) {
		loop_del_fd(l, fs.fd);
		close(fs.fd);
	}
	close(fs.listen_fd);
	loop_free(l);
}

START_TEST(test_drop_in_key_exchange_frees_all)
{
	/* Three times: the daemon reconnects; each time must free all. */
	drop_in_key_exchange();
	drop_in_key_exchange();
	drop_in_key_exchange();
}
END_TEST

int
main(void)
{
	const TTest	*tests[] = {
		test_drop_in_key_exchange_frees_all,
		NULL
	};

	return test_run("ssh", tests, NULL, NULL);
}
