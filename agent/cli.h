/*
 * cli: the layersync command line. One binary holds the daemon and the
 * commands that talk to it; cli_main() picks the subcommand.
 */
#ifndef LS_CLI_H
#define LS_CLI_H

#define CLI_EXIT_OK		0
#define CLI_EXIT_FAIL		1
#define CLI_EXIT_USAGE		2
#define CLI_EXIT_NOT_BUILT	69	/* EX_UNAVAILABLE */

int	cli_main(int argc, char **argv);

#endif
