/*
 * cli: the subcommand table, option parsing and help texts.
 *
 * Every subcommand accepts -c FILE, -v and --help, before or after its
 * name. Commands that need the daemon reach it only through the
 * control socket (control_call). A command whose issue is not done yet
 * says so and exits CLI_EXIT_NOT_BUILT: it never pretends to work.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "ckpt_opts.h"
#include "ckpt_run.h"
#include "cli.h"
#include "conf.h"
#include "control.h"
#include "daemon.h"
#include "fsutil.h"
#include "kaconf.h"
#include "log.h"
#include "notify.h"
#include "ping.h"
#include "recv.h"
#include "xmalloc.h"

#include "config.h"

#define CLI_MAX_FWD	8	/* long options forwarded to a command */

struct cli {
	const char	*conf_path;
	int		 verbose;
	int		 check_only;	/* daemon -n */
	char		*fwd[CLI_MAX_FWD];	/* "--name" or "--name=value" */
	int		 nfwd;
};

struct command {
	const char	*name;
	const char	*usage;
	const char	*summary;
	const char	*help;
	int		(*run)(struct cli *, const struct command *, int,
			    char **);
	const char	*not_built;	/* the work that will build it */
	const char	*longopts;	/* accepted: "wait timeout= ..." */
};

static int	run_daemon(struct cli *, const struct command *, int, char **);
static int	run_control(struct cli *, const struct command *, int,
		    char **);
static struct conf *cli_conf(struct cli *);
static int	run_kaconf(struct cli *, const struct command *, int,
		    char **);
static int	run_notify(struct cli *, const struct command *, int,
		    char **);
static int	run_serve(struct cli *, const struct command *, int, char **);
static int	run_ping(struct cli *, const struct command *, int, char **);
static int	run_version(struct cli *, const struct command *, int,
		    char **);
static int	run_help(struct cli *, const struct command *, int, char **);

static const struct command commands[] = {
	{ "daemon", "daemon [-n] [-v]", "run the agent in the foreground",
	  "Runs the agent in the foreground, under a supervisor. It logs to\n"
	  "stderr or syslog (setting 'log'), answers the other commands on\n"
	  "the control socket, reloads its configuration on SIGHUP and stops\n"
	  "cleanly on SIGTERM.\n"
	  "  -n   check the configuration, print 'configuration OK' and exit\n"
	  "  -v   log debug messages too\n", run_daemon, NULL, NULL },
	{ "add", "add CONTAINER [--peer NAME] [--mode layer|criu]\n"
	  "    [--checkpoint-interval MS] [--tcp-established] [--file-locks]",
	  "replicate a container to its twin on the peer",
	  "Starts replicating CONTAINER's read-write layer to a stopped twin\n"
	  "on the peer (created if needed, with the same image and settings),\n"
	  "and returns when the first full sync is durable there. --peer is\n"
	  "needed only when several peers are configured.\n"
	  "--mode=criu (stateful mode) also checkpoints the running container\n"
	  "every --checkpoint-interval ms (default 10000) with CRIU, leaving\n"
	  "it running, and ships each checkpoint to the peer as deltas; a\n"
	  "promote there restores it with its memory instead of starting it\n"
	  "cold. --tcp-established and --file-locks are passed to the\n"
	  "checkpoint and the restore. These flags win over the container's\n"
	  "entry in the configuration's 'containers' list. add refuses stateful\n"
	  "mode if 'criu check' fails (see criu_path).\n",
	  run_control, NULL,
	  "peer= mode= checkpoint-interval= tcp-established file-locks" },
	{ "checkpoint", "checkpoint CONTAINER",
	  "take a checkpoint of a stateful container now",
	  "Takes a checkpoint of CONTAINER (stateful mode) now, ships it, and\n"
	  "returns once the peer holds it whole: the time taken, how long the\n"
	  "service was frozen, its size and the bytes shipped for it.\n",
	  run_control, NULL, NULL },
	{ "remove", "remove CONTAINER [--purge]", "stop replicating a container",
	  "Stops replicating CONTAINER. The twin on the peer stays unless\n"
	  "--purge is given.\n", run_control, NULL, "purge" },
	{ "status", "status [--json]", "show what the daemon is doing",
	  "Shows this node, its peers and every replicated container: its\n"
	  "peer, state, the twin's generation, lag, files and bytes shipped,\n"
	  "rescans and last error. --json prints one JSON object.\n",
	  run_control, NULL, "json" },
	{ "sync", "sync CONTAINER [--wait] [--timeout S]",
	  "ship pending changes now; --wait until the twin holds them",
	  "Ships every change of CONTAINER made so far, files still being\n"
	  "written included. With --wait, returns once the twin's committed\n"
	  "generation holds them all (or fails after --timeout seconds).\n",
	  run_control, NULL, "wait timeout=" },
	{ "promote", "promote", "start the twins here: this host becomes primary",
	  "Called by keepalived when the virtual IP moves here. Brings every\n"
	  "twin to its last complete batch, starts them all in parallel,\n"
	  "checks that they run, then replicates them towards the old\n"
	  "primary whenever it is back. It reports the time from its start\n"
	  "to every container running. Idempotent: on a primary it starts\n"
	  "whatever replicated container is not running.\n",
	  run_control, NULL, NULL },
	{ "demote", "demote", "stop the local containers: this host becomes standby",
	  "Called by keepalived on BACKUP, FAULT and STOP. Stops the local\n"
	  "replicated containers first (they must be down before anything\n"
	  "else: this is the fencing), notes what changed here since the\n"
	  "last batch the peer acknowledged, and becomes a receiver: the new\n"
	  "primary ships those paths and its own changes back. Idempotent.\n",
	  run_control, NULL, NULL },
	{ "check", "check [--quiet]", "exit 0 if the agent and its containers are healthy",
	  "keepalived's track script. Fails if the daemon does not answer,\n"
	  "or if this host is the primary and a replicated container exited\n"
	  "more often than restart_attempts within restart_window_ms (the\n"
	  "agent restarts it locally until then). On failure keepalived puts\n"
	  "this host in FAULT and the standby takes over.\n",
	  run_control, NULL, "quiet" },
	{ "keepalived-config", "keepalived-config",
	  "print a keepalived.conf for this node",
	  "Prints a ready keepalived.conf from layersync.conf: its vrrp group\n"
	  "(interface, vip, router_id, priority, advert_ms) and the peers'\n"
	  "addresses (unicast). Both hosts are BACKUP with nopreempt, events\n"
	  "go through the notify FIFO to 'layersync notify', and\n"
	  "'layersync check' is the track script.\n",
	  run_kaconf, NULL, NULL },
	{ "notify", "notify FIFO", "keepalived's notify_fifo_script (internal)",
	  "Reads keepalived's notify FIFO and runs, one at a time and in\n"
	  "order, promote on MASTER and demote on BACKUP, FAULT and STOP.\n",
	  run_notify, NULL, NULL },
	{ "serve", "serve --stdio | --purge-twin=NAME | --fence |\n"
	  "    --checkpoint=NAME | --restore=NAME",
	  "receiver end of replication (run over SSH)",
	  "Speaks the replication protocol on stdin/stdout; the primary runs\n"
	  "it on the standby over SSH. It creates the stopped twin if needed\n"
	  "and applies each batch whole or not at all. Logs go to stderr,\n"
	  "which the primary relays into its own log.\n"
	  "--purge-twin=NAME instead removes the stopped twin NAME (for\n"
	  "'remove --purge' on the primary). --fence makes this host, an old\n"
	  "primary, stand down: sent by the new primary's promote.\n"
	  "--checkpoint=NAME and --restore=NAME are the daemon's own children\n"
	  "(stateful mode): take a checkpoint of NAME, or restore NAME from\n"
	  "the checkpoint a promote set aside.\n",
	  run_serve, NULL, "stdio purge-twin= fence checkpoint= restore=" },
	{ "ping", "ping [PEER]", "check the SSH session to each peer",
	  "Opens the SSH session the replication uses to each peer (or only\n"
	  "PEER): key authentication, the host key pinned in known_hosts,\n"
	  "then runs 'layersync version' there. Needs no daemon.\n",
	  run_ping, NULL, NULL },
	{ "version", "version", "print the version",
	  "Prints the layersync version.\n", run_version, NULL, NULL },
	{ "help", "help [COMMAND]", "show help for layersync or a command",
	  "Shows the list of commands, or the help of one command.\n",
	  run_help, NULL, NULL },
	{ NULL, NULL, NULL, NULL, NULL, NULL, NULL }
};

static const struct command *
command_find(const char *name)
{
	const struct command	*cmd;

	for (cmd = commands; cmd->name != NULL; cmd++)
		if (strcmp(cmd->name, name) == 0)
			return cmd;
	return NULL;
}

static void
usage_all(FILE *f)
{
	const struct command	*cmd;

	fprintf(f, "usage: layersync [-c FILE] [-v] COMMAND [ARGS]\n\n"
	    "Keeps a stopped twin of each container on a standby host in step\n"
	    "with the running container's read-write layer.\n\ncommands:\n");
	for (cmd = commands; cmd->name != NULL; cmd++)
		fprintf(f, "  %-17s %s%s\n", cmd->name, cmd->summary,
		    cmd->not_built != NULL ? " (not built yet)" : "");
	fprintf(f, "\noptions:\n"
	    "  -c FILE   configuration file (default %s)\n"
	    "  -v        more verbose\n"
	    "Run 'layersync COMMAND --help' for a command's help.\n",
	    CONF_DEFAULT_PATH);
}

static void
usage_command(FILE *f, const struct command *cmd)
{
	fprintf(f, "usage: layersync [-c FILE] %s\n\n%s", cmd->usage,
	    cmd->help);
	if (cmd->not_built != NULL)
		fprintf(f, "\nNot built yet: it arrives with %s.\n",
		    cmd->not_built);
}

/*
 * Parse -c, -v, --help and, for the daemon, -n. Stops at the first
 * operand, so that the remaining arguments belong to the command.
 * Returns -1 after printing usage, 1 when --help was printed, else 0.
 */
/* Long options some commands take; '=' means it takes a value. */
static const struct option cmd_longopts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "stdio", no_argument, NULL, 1000 },
	{ "wait", no_argument, NULL, 1001 },
	{ "purge", no_argument, NULL, 1002 },
	{ "json", no_argument, NULL, 1003 },
	{ "peer", required_argument, NULL, 1004 },
	{ "timeout", required_argument, NULL, 1005 },
	{ "purge-twin", required_argument, NULL, 1006 },
	{ "quiet", no_argument, NULL, 1007 },
	{ "fence", no_argument, NULL, 1008 },
	{ "mode", required_argument, NULL, 1009 },
	{ "checkpoint-interval", required_argument, NULL, 1010 },
	{ "tcp-established", no_argument, NULL, 1011 },
	{ "file-locks", no_argument, NULL, 1012 },
	{ "checkpoint", required_argument, NULL, 1013 },
	{ "restore", required_argument, NULL, 1014 },
	{ NULL, 0, NULL, 0 }
};

/* Does the command accept --name (given as "name" or "name=")? */
static int
accepts(const struct command *cmd, const struct option *o)
{
	char		 word[32];
	const char	*p;
	size_t		 n;

	if (cmd == NULL || cmd->longopts == NULL)
		return 0;
	snprintf(word, sizeof(word), "%s%s", o->name,
	    o->has_arg ? "=" : "");
	n = strlen(word);
	for (p = cmd->longopts; (p = strstr(p, word)) != NULL; p += n)
		if ((p == cmd->longopts || p[-1] == ' ') &&
		    (p[n] == ' ' || p[n] == '\0'))
			return 1;
	return 0;
}

static int
usage_error(const struct command *cmd)
{
	if (cmd != NULL)
		usage_command(stderr, cmd);
	else
		usage_all(stderr);
	return -1;
}

/*
 * Parse -c, -v, --help, the daemon's -n and the command's own long
 * options, which are kept in cli->fwd for the command. Before the
 * command name, parsing stops at the first operand. Returns -1 after
 * printing usage, 1 when --help was printed, else 0.
 */
static int
parse_options(struct cli *cli, const struct command *cmd, int *argcp,
    char ***argvp)
{
	const struct option	*o;
	int			 ch, idx, is_daemon;

	is_daemon = cmd != NULL && strcmp(cmd->name, "daemon") == 0;
	optind = 0;	/* glibc: restart parsing for each argument list */
	while ((ch = getopt_long(*argcp, *argvp, cmd == NULL ? "+c:vh" :
	    is_daemon ? "c:vhn" : "c:vh", cmd_longopts, &idx)) != -1) {
		switch (ch) {
		case 'c':
			cli->conf_path = optarg;
			break;
		case 'v':
			cli->verbose++;
			break;
		case 'n':
			cli->check_only = 1;
			break;
		case 'h':
			if (cmd != NULL)
				usage_command(stdout, cmd);
			else
				usage_all(stdout);
			return 1;
		default:
			o = &cmd_longopts[idx];
			if (ch < 1000 || !accepts(cmd, o) ||
			    cli->nfwd == CLI_MAX_FWD)
				return usage_error(cmd);
			cli->fwd[cli->nfwd++] = o->has_arg ?
			    xasprintf("--%s=%s", o->name, optarg) :
			    xasprintf("--%s", o->name);
			break;
		}
	}
	*argcp -= optind;
	*argvp += optind;
	return 0;
}

/* The value of --name=, or NULL. */
static const char *
cli_value(const struct cli *cli, const char *prefix)
{
	size_t	 n = strlen(prefix);
	int	 i;

	for (i = 0; i < cli->nfwd; i++)
		if (strncmp(cli->fwd[i], prefix, n) == 0)
			return cli->fwd[i] + n;
	return NULL;
}

/* Was --name given to this command? */
static int
cli_has(const struct cli *cli, const char *opt)
{
	int	 i;

	for (i = 0; i < cli->nfwd; i++)
		if (strcmp(cli->fwd[i], opt) == 0)
			return 1;
	return 0;
}

static int
run_daemon(struct cli *cli, const struct command *cmd, int argc, char **argv)
{
	struct conf	*conf;

	(void)argv;
	if (argc != 0) {
		usage_command(stderr, cmd);
		return CLI_EXIT_USAGE;
	}
	if (!cli->check_only)
		return daemon_run(cli->conf_path, cli->verbose) == 0 ?
		    CLI_EXIT_OK : CLI_EXIT_FAIL;
	if ((conf = cli_conf(cli)) == NULL)
		return CLI_EXIT_FAIL;
	conf_free(conf);
	printf("configuration OK\n");
	return CLI_EXIT_OK;
}

/* A command the daemon answers: load the config to find its socket. */
static int
run_control(struct cli *cli, const struct command *cmd, int argc,
    char **argv)
{
	struct conf	*conf;
	struct ls_err	 err;
	char		*args[CONTROL_MAX_ARGS];
	int		 i, r;

	if (argc + 1 + cli->nfwd > CONTROL_MAX_ARGS) {
		usage_command(stderr, cmd);
		return CLI_EXIT_USAGE;
	}
	if ((conf = cli_conf(cli)) == NULL)
		return CLI_EXIT_FAIL;
	args[0] = (char *)(uintptr_t)cmd->name;
	for (i = 0; i < argc; i++)
		args[i + 1] = argv[i];
	for (i = 0; i < cli->nfwd; i++)
		args[argc + 1 + i] = cli->fwd[i];
	r = control_call(conf->control_socket, argc + 1 + cli->nfwd, args,
	    &err);
	conf_free(conf);
	if (r != 0) {
		fprintf(stderr, "layersync %s: %s\n", cmd->name, err.msg);
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

/* Load the configuration named by -c, printing its errors. */
static struct conf *
cli_conf(struct cli *cli)
{
	struct buf	 errs;
	struct conf	*conf;

	buf_init(&errs);
	conf = conf_load(cli->conf_path, &errs);
	fputs(errs.data, stderr);
	buf_release(&errs);
	return conf;
}

static int
run_ping(struct cli *cli, const struct command *cmd, int argc, char **argv)
{
	struct conf	*conf;
	int		 r;

	if (argc > 1) {
		usage_command(stderr, cmd);
		return CLI_EXIT_USAGE;
	}
	if ((conf = cli_conf(cli)) == NULL)
		return CLI_EXIT_FAIL;
	r = ping_peers(conf, argc == 1 ? argv[0] : NULL);
	conf_free(conf);
	return r == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

/*
 * The daemon's checkpoint and restore children. Why a take failed goes
 * to ckpt/error, where the daemon reads it for status.
 */
static int
run_ckpt(const struct conf *conf, const char *take, const char *restore)
{
	struct ls_err	 err;
	struct buf	 why;
	char		*dir;

	if (restore != NULL) {
		if (ckpt_restore(conf, restore, &err) == -1) {
			log_errx("restore %s: %s", restore, err.msg);
			return -1;
		}
		return 0;
	}
	if (ckpt_take(conf, take, &err) == 0)
		return 0;
	log_errx("checkpoint %s: %s", take, err.msg);
	dir = xasprintf("%s/containers/%s/%s", conf->state_dir, take,
	    CKPT_DIR);
	buf_init(&why);
	buf_addf(&why, "%s\n", err.msg);
	(void)write_durably(dir, CKPT_ERROR, &why, &err);
	buf_release(&why);
	free(dir);
	return -1;
}

static int
run_serve(struct cli *cli, const struct command *cmd, int argc, char **argv)
{
	struct conf	*conf;
	int		 r;

	const char	*purge = cli_value(cli, "--purge-twin=");
	const char	*take = cli_value(cli, "--checkpoint=");
	const char	*restore = cli_value(cli, "--restore=");
	const char	*name = purge != NULL ? purge : take != NULL ? take :
			    restore;
	int		 fence = cli_has(cli, "--fence");

	(void)argv;
	if (argc != 0 || cli_has(cli, "--stdio") + (purge != NULL) + fence +
	    (take != NULL) + (restore != NULL) != 1) {
		usage_command(stderr, cmd);
		return CLI_EXIT_USAGE;
	}
	if (name != NULL && !conf_name_valid(name)) {
		fprintf(stderr, "layersync serve: invalid container name\n");
		return CLI_EXIT_USAGE;
	}
	if ((conf = cli_conf(cli)) == NULL)
		return CLI_EXIT_FAIL;
	log_init(LOG_TO_STDERR, cli->verbose, "layersync serve");
	signal(SIGPIPE, SIG_IGN);
	if (take != NULL || restore != NULL)
		r = run_ckpt(conf, take, restore);
	else
		r = purge != NULL ? recv_purge(conf, purge) : fence ?
		    recv_fence(conf) : recv_serve(conf, 0, 1);
	conf_free(conf);
	return r == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

static int
run_kaconf(struct cli *cli, const struct command *cmd, int argc, char **argv)
{
	struct conf	*conf;
	struct ls_err	 err;
	char		 self[PATH_MAX];
	ssize_t		 n;
	int		 r;

	(void)argv;
	if (argc != 0) {
		usage_command(stderr, cmd);
		return CLI_EXIT_USAGE;
	}
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) == -1) {
		fprintf(stderr, "layersync: /proc/self/exe: %s\n",
		    strerror(errno));
		return CLI_EXIT_FAIL;
	}
	self[n] = '\0';
	if ((conf = cli_conf(cli)) == NULL)
		return CLI_EXIT_FAIL;
	r = kaconf_write(conf, self, stdout, &err);
	if (r == -1)
		fprintf(stderr, "layersync keepalived-config: %s\n", err.msg);
	conf_free(conf);
	return r == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

static int
run_notify(struct cli *cli, const struct command *cmd, int argc, char **argv)
{
	struct conf	*conf;
	int		 r;

	if (argc != 1) {
		usage_command(stderr, cmd);
		return CLI_EXIT_USAGE;
	}
	if ((conf = cli_conf(cli)) == NULL)
		return CLI_EXIT_FAIL;
	log_init(strcmp(conf->log, "syslog") == 0 ? LOG_TO_SYSLOG :
	    LOG_TO_STDERR, cli->verbose, "layersync notify");
	r = notify_fifo_run(conf, argv[0]);
	conf_free(conf);
	return r;
}

static int
run_version(struct cli *cli, const struct command *cmd, int argc,
    char **argv)
{
	(void)cli;
	(void)cmd;
	(void)argc;
	(void)argv;
	printf("layersync %s\n", PACKAGE_VERSION);
	return CLI_EXIT_OK;
}

static int
run_help(struct cli *cli, const struct command *cmd, int argc, char **argv)
{
	const struct command	*target;

	(void)cli;
	(void)cmd;
	if (argc == 0) {
		usage_all(stdout);
		return CLI_EXIT_OK;
	}
	if ((target = command_find(argv[0])) == NULL) {
		fprintf(stderr, "layersync help: unknown command '%s'\n",
		    argv[0]);
		return CLI_EXIT_USAGE;
	}
	usage_command(stdout, target);
	return CLI_EXIT_OK;
}

int
cli_main(int argc, char **argv)
{
	struct cli		 cli = { .conf_path = CONF_DEFAULT_PATH };
	const struct command	*cmd;
	int			 r;

	if ((r = parse_options(&cli, NULL, &argc, &argv)) != 0)
		return r > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	if (argc == 0) {
		usage_all(stderr);
		return CLI_EXIT_USAGE;
	}
	if ((cmd = command_find(argv[0])) == NULL) {
		fprintf(stderr, "layersync: unknown command '%s' "
		    "(try 'layersync help')\n", argv[0]);
		return CLI_EXIT_USAGE;
	}
	if ((r = parse_options(&cli, cmd, &argc, &argv)) != 0)
		return r > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	log_set_verbose(cli.verbose);
	if (cmd->not_built != NULL) {
		fprintf(stderr, "layersync %s: not built yet (arrives with "
		    "%s)\n", cmd->name, cmd->not_built);
		r = CLI_EXIT_NOT_BUILT;
	} else
		r = cmd->run(&cli, cmd, argc, argv);
	while (cli.nfwd > 0)
		free(cli.fwd[--cli.nfwd]);
	return r;
}
