/*
 * daemon: the long-running agent. It runs in the foreground under a
 * supervisor, owns the config, the event loop and the control socket,
 * and stops cleanly on SIGTERM or SIGINT; SIGHUP reloads the config.
 */
#ifndef LS_DAEMON_H
#define LS_DAEMON_H

int	daemon_run(const char *conf_path, int verbose);

#endif
