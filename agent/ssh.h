/*
 * ssh: one libssh2 connection to a peer, driven by the event loop, with
 * an exec channel running a command there (layersync serve --stdio).
 *
 * The connection authenticates with the peer's configured private key
 * and refuses any host key that known_hosts does not pin: an unknown
 * or changed key is a hard error. Bytes written with ssh_write() are
 * queued and sent as the channel allows; received bytes accumulate in
 * the buffer handed to on_input, which consumes what it can use.
 * on_close is called once; the owner frees the conn afterwards, but
 * not from inside a callback: ssh_write() may itself end in on_close,
 * and its caller still holds the pointer. Defer the free (a 0 ms
 * timer) and check ssh_is_ready() after writing.
 */
#ifndef LS_SSH_H
#define LS_SSH_H

#include <stddef.h>

#include "buf.h"

struct loop;
struct conf_peer;
struct ssh_conn;

struct ssh_ops {
	void	(*on_ready)(struct ssh_conn *, void *);
	void	(*on_input)(struct ssh_conn *, struct buf *, void *);
	void	(*on_drain)(struct ssh_conn *, void *);	/* queue emptied */
	void	(*on_close)(struct ssh_conn *, const char *why, void *);
};

#define SSH_CONNECT_TIMEOUT_MS	10000	/* TCP + handshake + auth + exec */
#define SSH_CLOSE_TIMEOUT_MS	500	/* goodbye to a live peer */
/*
 * A peer that stops answering (host lost, link cut: no RST ever comes)
 * is given up after about SSH_DEAD_PEER_MS, idle or not, so that the
 * session is rebuilt and the next sync repairs once it is back. TCP's
 * own limits would take many minutes, or forever on an idle session.
 */
#define SSH_DEAD_PEER_MS	10000

struct ssh_conn	*ssh_open(struct loop *, const struct conf_peer *,
		    const char *command, const struct ssh_ops *, void *);
void		 ssh_write(struct ssh_conn *, const void *, size_t);
size_t		 ssh_pending(const struct ssh_conn *);
int		 ssh_is_ready(const struct ssh_conn *);
long long	 ssh_still_ms(const struct ssh_conn *);	/* since bytes moved */
void		 ssh_describe(const struct ssh_conn *, char *, size_t);
void		 ssh_free(struct ssh_conn *);

#endif
