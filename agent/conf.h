/*
 * conf: layersync.conf, parsed with libconfig into a struct conf.
 *
 * conf_load() checks the whole file and reports every problem as a
 * "file:line: message" line in the caller's buf; it returns NULL if
 * there was any. A struct conf is owned by whoever loaded it and is
 * freed whole by conf_free(); a reload builds a new one.
 */
#ifndef LS_CONF_H
#define LS_CONF_H

#include <bsd/sys/queue.h>

#include "buf.h"

#define CONF_DEFAULT_PATH	"/etc/layersync/layersync.conf"
#define CONF_NAME_MAX		63	/* node, peer and container names */

struct conf_peer {
	TAILQ_ENTRY(conf_peer)	 entry;
	char			*name;
	char			*address;
	long long		 port;
	char			*user;
	char			*identity;	/* private key file */
	char			*known_hosts;	/* pins the peer's host key */
	char			*remote_command; /* layersync on the peer */
	int			 line;		/* where it was defined */
};
TAILQ_HEAD(conf_peers, conf_peer);

/* The optional vrrp group: what `keepalived-config` writes. */
struct conf_vrrp {
	char			*interface;
	char			*vip;		/* "10.0.0.100/24" */
	long long		 router_id;	/* virtual_router_id */
	long long		 priority;
	long long		 advert_ms;	/* advert_int */
	char			*address;	/* unicast source, "" for none */
	int			 line;
};

/* A `containers` entry: one container's stateful-mode defaults. */
struct conf_container {
	TAILQ_ENTRY(conf_container) entry;
	char			*name;
	char			*mode;		/* "layer" or "criu" */
	long long		 checkpoint_interval_ms;
	long long		 tcp_established;	/* 0 or 1 */
	long long		 file_locks;		/* 0 or 1 */
	int			 line;
};
TAILQ_HEAD(conf_containers, conf_container);

struct conf {
	char			*path;
	char			*node;
	char			*runtime;	/* podman or a docker-like CLI */
	char			*state_dir;
	char			*control_socket;
	char			*log;		/* "stderr" or "syslog" */
	long long		 max_lag_ms;	/* ship a busy file at least
						   this often */
	long long		 stall_timeout_ms; /* a session waiting on
						   its peer, still */
	long long		 restart_attempts; /* local restarts of an */
	long long		 restart_window_ms; /* exited container */
	char			*criu_path;	/* "": criu from PATH */
	long long		 fsync;		/* 0: twins are not flushed */
	struct conf_vrrp	*vrrp;		/* NULL: not configured */
	struct conf_peers	 peers;
	struct conf_containers	 containers;
};

struct conf	*conf_load(const char *path, struct buf *errs);
void		 conf_free(struct conf *);
struct conf_peer *conf_peer_find(const struct conf *, const char *name);
struct conf_container *conf_container_find(const struct conf *,
		    const char *name);
int		 conf_name_valid(const char *);

#endif
