/*
 * notify: see notify.h. The reader lives as long as keepalived (which
 * ends it with SIGTERM); when keepalived closes the FIFO it opens it
 * again. A failed promote is logged and the next line is read (the
 * track script is what turns a sick agent into a FAULT); a demote the
 * agent cannot do is done without it, as a fence would.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "control.h"
#include "log.h"
#include "notify.h"
#include "recv.h"

/*
 * The command for one FIFO line, or NULL for lines that ask for none
 * (GROUP lines, other states). Only this instance's lines come here:
 * keepalived.conf from keepalived-config has one instance.
 */
const char *
notify_action(const char *line)
{
	char	 kind[16], state[16];

	if (sscanf(line, "%15s %*s %15s", kind, state) != 2 ||
	    strcmp(kind, "INSTANCE") != 0)
		return NULL;
	if (strcmp(state, "MASTER") == 0)
		return "promote";
	if (strcmp(state, "BACKUP") == 0 || strcmp(state, "FAULT") == 0 ||
	    strcmp(state, "STOP") == 0)
		return "demote";
	return NULL;
}

static void
handle(const struct conf *conf, const char *line)
{
	const char	*cmd = notify_action(line);
	char		*argv[1];
	struct ls_err	 err;
	int		 r;

	if (cmd == NULL) {
		log_debug("notify: ignored: %s", line);
		return;
	}
	log_notice("notify: %s: %s", line, cmd);
	argv[0] = (char *)(uintptr_t)cmd;
	if ((r = control_call(conf->control_socket, 1, argv, &err)) == 0)
		return;
	log_errx("notify: %s failed: %s", cmd, err.msg);
	/* A demote must happen even without the agent: stand down as a
	 * fence from the new primary would (kill, role standby). */
	if (r == -1 && strcmp(cmd, "demote") == 0)
		(void)recv_fence(conf);
}

int
notify_fifo_run(const struct conf *conf, const char *fifo)
{
	char	 line[512];
	FILE	*f;
	size_t	 n;

	for (;;) {
		if ((f = fopen(fifo, "re")) == NULL) {
			if (errno == EINTR)
				continue;
			log_err("notify: %s", fifo);
			return 1;
		}
		while (fgets(line, sizeof(line), f) != NULL) {
			n = strlen(line);
			if (n > 0 && line[n - 1] == '\n')
				line[n - 1] = '\0';
			handle(conf, line);
		}
		fclose(f);
	}
}
