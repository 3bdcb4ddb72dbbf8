/*
 * cli: the subcommand table, option parsing and help texts.
 *
 * Every subcommand accepts -c FILE, -v and --help, before or after its
 * name. Commands that need the daemon reach it only through the
 * control socket (control_call). A command whose issue is not done yet
 * says so and exits CLI_EXIT_NOT_BUILT: it never pretends to work.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "conf.h"
#include "control.h"
#include "daemon.h"
#include "log.h"
#include "ping.h"

#include "config.h"

struct cli {
	const char	*conf_path;
	int		 verbose;
	int		 check_only;	/* daemon -n */
};

struct command {
	const char	*name;
	const char	*usage;
	const char	*summary;
	const char	*help;
	int		(*run)(struct cli *, const struct command *, int,
			    char **);
	const char	*not_built;	/* the work that will build it */
};

static int	run_daemon(struct cli *, const struct command *, int, char **);
static int	run_control(struct cli *, const struct command *, int,
		    char **);
static struct conf *cli_conf(struct cli *);
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
	  "  -v   log debug messages too\n", run_daemon, NULL },
	{ "add", "add CONTAINER [--peer NAME]",
	  "replicate a container to its twin on the peer",
	  "Starts replicating CONTAINER's read-write layer to a stopped twin\n"
	  "on the peer, and returns when the first full sync is done.\n",
	  NULL, "replication (issue 3)" },
	{ "remove", "remove CONTAINER [--purge]", "stop replicating a container",
	  "Stops replicating CONTAINER. The twin on the peer stays unless\n"
	  "--purge is given.\n", NULL, "replication (issue 3)" },
	{ "status", "status", "show what the daemon is doing",
	  "Shows this node, its peers and every replicated container.\n",
	  run_control, NULL },
	{ "sync", "sync [CONTAINER]", "sync now and wait until the twin is in step",
	  "Ships every pending change of CONTAINER (or of all containers)\n"
	  "and returns when the peer has made it durable.\n",
	  NULL, "replication (issue 3)" },
	{ "promote", "promote", "start the twins here: this host becomes primary",
	  "Brings every twin to its last complete batch and starts it; called\n"
	  "by keepalived when the virtual IP moves here.\n",
	  NULL, "failover (issue 4)" },
	{ "demote", "demote", "stop the local containers: this host becomes standby",
	  "Stops the local replicated containers first (fencing), then\n"
	  "receives from the new primary.\n", NULL, "failover (issue 4)" },
	{ "serve", "serve --stdio", "receiver end of replication (run over SSH)",
	  "Speaks the replication protocol on stdin/stdout; the primary runs\n"
	  "it on the standby over SSH.\n", NULL, "replication (issue 3)" },
	{ "ping", "ping [PEER]", "check the SSH session to each peer",
	  "Opens the SSH session the replication uses to each peer (or only\n"
	  "PEER): key authentication, the host key pinned in known_hosts,\n"
	  "then runs 'layersync version' there. Needs no daemon.\n",
	  run_ping, NULL },
	{ "version", "version", "print the version",
	  "Prints the layersync version.\n", run_version, NULL },
	{ "help", "help [COMMAND]", "show help for layersync or a command",
	  "Shows the list of commands, or the help of one command.\n",
	  run_help, NULL },
	{ NULL, NULL, NULL, NULL, NULL, NULL }
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
		fprintf(f, "  %-9s %s%s\n", cmd->name, cmd->summary,
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
static int
parse_options(struct cli *cli, const struct command *cmd, int *argcp,
    char ***argvp)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int	 ch, is_daemon = cmd != NULL && strcmp(cmd->name, "daemon") == 0;

	optind = 0;	/* glibc: restart parsing for each argument list */
	while ((ch = getopt_long(*argcp, *argvp, is_daemon ? "+c:vhn" :
	    "+c:vh", longopts, NULL)) != -1) {
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
			if (cmd != NULL)
				usage_command(stderr, cmd);
			else
				usage_all(stderr);
			return -1;
		}
	}
	*argcp -= optind;
	*argvp += optind;
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

	if (argc + 1 > CONTROL_MAX_ARGS) {
		usage_command(stderr, cmd);
		return CLI_EXIT_USAGE;
	}
	if ((conf = cli_conf(cli)) == NULL)
		return CLI_EXIT_FAIL;
	args[0] = (char *)(uintptr_t)cmd->name;
	for (i = 0; i < argc; i++)
		args[i + 1] = argv[i];
	r = control_call(conf->control_socket, argc + 1, args, &err);
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
	struct cli		 cli = { CONF_DEFAULT_PATH, 0, 0 };
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
		return CLI_EXIT_NOT_BUILT;
	}
	return cmd->run(&cli, cmd, argc, argv);
}
