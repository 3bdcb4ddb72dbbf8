/*
 * daemon: start-up, the control commands it answers, and shutdown.
 *
 * The daemon owns one struct conf at a time. A reload parses the new
 * file into a fresh struct and swaps it in only if it is valid; the
 * settings that cannot change under a running loop (the control socket
 * path) keep their old value until restart, and the log says so.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "ckpt_opts.h"
#include "conf.h"
#include "control.h"
#include "daemon.h"
#include "fsutil.h"
#include "log.h"
#include "loop.h"
#include "replica.h"
#include "xmalloc.h"

struct daemon {
	char		*conf_path;
	struct conf	*conf;
	struct loop	*loop;
	struct control	*ctl;
	struct replica	*replica;
	long long	 started_ms;
};

/* Load and check a config, logging every error. NULL if it is bad. */
static struct conf *
load_conf(const char *path)
{
	struct buf	 errs;
	struct conf	*conf;
	char		*line, *next;

	buf_init(&errs);
	if ((conf = conf_load(path, &errs)) == NULL) {
		for (line = errs.data; *line != '\0'; line = next) {
			next = strchr(line, '\n');
			*next++ = '\0';
			log_errx("%s", line);
		}
	}
	buf_release(&errs);
	return conf;
}

static void
cmd_status(struct control_client *c, int argc, char **argv, void *arg)
{
	struct daemon		*d = arg;
	struct conf_peer	*peer;

	if (argc == 2 && strcmp(argv[1], "--json") == 0) {
		replica_status(d->replica, c, 1);
		control_done(c, 1, NULL);
		return;
	}
	if (argc != 1) {
		control_done(c, 0, "usage: status [--json]");
		return;
	}
	control_out(c, "node: %s", d->conf->node);
	control_out(c, "pid: %d", (int)getpid());
	control_out(c, "uptime: %.1f s",
	    (double)(loop_now_ms() - d->started_ms) / 1000.0);
	control_out(c, "config: %s", d->conf->path);
	control_out(c, "runtime: %s", d->conf->runtime);
	control_out(c, "state dir: %s", d->conf->state_dir);
	TAILQ_FOREACH(peer, &d->conf->peers, entry)
		control_out(c, "peer %s: %s@%s port %lld", peer->name,
		    peer->user, peer->address, peer->port);
	replica_status(d->replica, c, 0);
	control_done(c, 1, NULL);
}

/* Split "--name=value" arguments off argv; operands stay in order. */
static int
parse_args(int argc, char **argv, const char **opts, const char **vals,
    int nopts, char **operands, int maxop)
{
	int	 i, j, n = 0;
	size_t	 len;

	for (i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--", 2) != 0) {
			if (n == maxop)
				return -1;
			operands[n++] = argv[i];
			continue;
		}
		for (j = 0; j < nopts; j++) {
			len = strlen(opts[j]);
			if (strncmp(argv[i], opts[j], len) == 0 &&
			    (argv[i][len] == '\0' || argv[i][len] == '=')) {
				vals[j] = argv[i][len] == '=' ?
				    argv[i] + len + 1 : "";
				break;
			}
		}
		if (j == nopts)
			return -1;
	}
	return n;
}

static void
cmd_add(struct control_client *c, int argc, char **argv, void *arg)
{
	struct daemon	*d = arg;
	const char	*opts[] = { "--peer", "--mode", "--checkpoint-interval",
			    "--tcp-established", "--file-locks" };
	const char	*vals[5] = { NULL, NULL, NULL, NULL, NULL };
	char		*name;
	struct buf	 settings;
	struct ls_err	 err;

	if (parse_args(argc, argv, opts, vals, 5, &name, 1) != 1) {
		control_done(c, 0, "usage: add CONTAINER [--peer NAME] "
		    "[--mode layer|criu] [--checkpoint-interval MS] "
		    "[--tcp-established] [--file-locks]");
		return;
	}
	buf_init(&settings);
	if (ckpt_opts_from_flags(vals[1], vals[2], vals[3] != NULL,
	    vals[4] != NULL, &settings, &err) == -1)
		control_done(c, 0, "%s", err.msg);
	else
		replica_add(d->replica, c, name, vals[0], settings.data != NULL ?
		    settings.data : "");
	buf_release(&settings);
}

static void
cmd_checkpoint(struct control_client *c, int argc, char **argv, void *arg)
{
	struct daemon	*d = arg;

	if (argc != 2 || argv[1][0] == '-') {
		control_done(c, 0, "usage: checkpoint CONTAINER");
		return;
	}
	replica_checkpoint(d->replica, c, argv[1]);
}

static void
cmd_remove(struct control_client *c, int argc, char **argv, void *arg)
{
	struct daemon	*d = arg;
	const char	*opts[] = { "--purge" }, *vals[1] = { NULL };
	char		*name;

	if (parse_args(argc, argv, opts, vals, 1, &name, 1) != 1) {
		control_done(c, 0, "usage: remove CONTAINER [--purge]");
		return;
	}
	replica_remove(d->replica, c, name, vals[0] != NULL);
}

static void
cmd_sync(struct control_client *c, int argc, char **argv, void *arg)
{
	struct daemon	*d = arg;
	const char	*opts[] = { "--wait", "--timeout" };
	const char	*vals[2] = { NULL, NULL };
	char		*name, *end;
	long		 timeout_ms = 0;

	if (parse_args(argc, argv, opts, vals, 2, &name, 1) != 1) {
		control_done(c, 0, "usage: sync CONTAINER [--wait] "
		    "[--timeout S]");
		return;
	}
	if (vals[1] != NULL) {
		timeout_ms = (long)(strtod(vals[1], &end) * 1000);
		if (*end != '\0' || timeout_ms <= 0) {
			control_done(c, 0, "--timeout wants seconds, got '%s'",
			    vals[1]);
			return;
		}
	}
	replica_sync(d->replica, c, name, vals[0] != NULL, timeout_ms);
}

static void
cmd_promote(struct control_client *c, int argc, char **argv, void *arg)
{
	struct daemon	*d = arg;

	(void)argv;
	if (argc != 1)
		control_done(c, 0, "usage: promote");
	else
		replica_promote(d->replica, c);
}

static void
cmd_demote(struct control_client *c, int argc, char **argv, void *arg)
{
	struct daemon	*d = arg;

	if (argc > 2 || (argc == 2 && strcmp(argv[1], "--fence") != 0))
		control_done(c, 0, "usage: demote");
	else
		replica_demote(d->replica, c, argc == 2);
}

static void
cmd_check(struct control_client *c, int argc, char **argv, void *arg)
{
	struct daemon	*d = arg;

	if (argc > 2 || (argc == 2 && strcmp(argv[1], "--quiet") != 0))
		control_done(c, 0, "usage: check [--quiet]");
	else
		replica_check(d->replica, c, argc == 2);
}

static void
on_stop(struct loop *loop, int signo, void *arg)
{
	(void)arg;
	log_notice("received %s, shutting down", strsignal(signo));
	loop_stop(loop);
}

static void
on_reload(struct loop *loop, int signo, void *arg)
{
	struct daemon	*d = arg;
	struct conf	*conf;

	(void)loop;
	(void)signo;
	if ((conf = load_conf(d->conf_path)) == NULL) {
		log_errx("configuration reload failed, keeping the old one");
		return;
	}
	if (strcmp(conf->control_socket, d->conf->control_socket) != 0)
		log_warnx("control_socket changed to %s: it takes effect at "
		    "the next restart", conf->control_socket);
	free(conf->control_socket);
	conf->control_socket = xstrdup(d->conf->control_socket);
	conf_free(d->conf);
	d->conf = conf;
	replica_set_conf(d->replica, conf);
	log_notice("configuration reloaded from %s", d->conf_path);
}

static int
daemon_setup(struct daemon *d)
{
	struct ls_err	 err;

	if (mkdir_p(d->conf->state_dir, 0700) == -1) {
		log_err("state_dir %s", d->conf->state_dir);
		return -1;
	}
	if ((d->loop = loop_new()) == NULL) {
		log_err("epoll");
		return -1;
	}
	if (loop_add_signal(d->loop, SIGTERM, on_stop, d) == -1 ||
	    loop_add_signal(d->loop, SIGINT, on_stop, d) == -1 ||
	    loop_add_signal(d->loop, SIGHUP, on_reload, d) == -1) {
		log_err("signalfd");
		return -1;
	}
	if ((d->ctl = control_open(d->loop, d->conf->control_socket,
	    &err)) == NULL) {
		log_errx("%s", err.msg);
		return -1;
	}
	if ((d->replica = replica_new(d->loop, d->conf, &err)) == NULL) {
		log_errx("%s", err.msg);
		return -1;
	}
	control_register(d->ctl, "status", cmd_status, d);
	control_register(d->ctl, "add", cmd_add, d);
	control_register(d->ctl, "remove", cmd_remove, d);
	control_register(d->ctl, "sync", cmd_sync, d);
	control_register(d->ctl, "checkpoint", cmd_checkpoint, d);
	control_register(d->ctl, "promote", cmd_promote, d);
	control_register(d->ctl, "demote", cmd_demote, d);
	control_register(d->ctl, "check", cmd_check, d);
	return 0;
}

int
daemon_run(const char *conf_path, int verbose)
{
	struct daemon	 d = { 0 };
	int		 r = 1;

	d.conf_path = xstrdup(conf_path);
	if ((d.conf = load_conf(conf_path)) == NULL)
		goto out;
	log_init(strcmp(d.conf->log, "syslog") == 0 ? LOG_TO_SYSLOG :
	    LOG_TO_STDERR, verbose, "layersync");
	signal(SIGPIPE, SIG_IGN);
	if (daemon_setup(&d) == -1)
		goto out;
	d.started_ms = loop_now_ms();
	log_notice("node %s started (pid %d), control socket %s",
	    d.conf->node, (int)getpid(), d.conf->control_socket);
	if (loop_run(d.loop) == -1)
		log_err("event loop");
	else
		r = 0;
	log_notice("node %s stopped", d.conf->node);
out:
	replica_free(d.replica);
	control_close(d.ctl);
	loop_free(d.loop);
	conf_free(d.conf);
	free(d.conf_path);
	return r;
}
