/* layersync: the daemon and its command line are one binary. */
#include "cli.h"

int
main(int argc, char **argv)
{
	return cli_main(argc, argv);
}
