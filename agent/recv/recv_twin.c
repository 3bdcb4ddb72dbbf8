/*
 * recv_twin: the twin container itself on the standby: create it from
 * the primary's spec, load its image when it is missing, and purge it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apply.h"
#include "beneath.h"
#include "buf.h"
#include "ckpt_opts.h"
#include "conf.h"
#include "control.h"
#include "fsutil.h"
#include "handover.h"
#include "delta.h"
#include "journal.h"
#include "log.h"
#include "proc.h"
#include "recv.h"
#include "recv_int.h"
#include "xmalloc.h"

int
recv_on_twin(struct recv *r, const struct frame *f, struct ls_err *err)
{
	struct twin_spec	 spec;
	struct container_info	 ci;
	struct ls_err		 ierr;
	int			 rc = -1;

	frame_get_twin(f, &spec);
	if (runtime_spec_check(&spec, err) == -1)
		goto out;
	recv_forget_twin(r, spec.name);
	if (runtime_inspect(r->conf->runtime, spec.name, &ci, &ierr) == 0) {
		/* It exists: it must be the twin of the same image. */
		if (strcmp(ci.spec.image, spec.image) != 0)
			ls_err_set(err, "container %s exists on %s with image "
			    "%.12s, not %.12s: remove it or rename one",
			    spec.name, r->conf->node, ci.spec.image,
			    spec.image);
		else
			rc = 0;
		container_info_clear(&ci);
		goto out;
	}
	if (!runtime_image_exists(r->conf->runtime, spec.image)) {
		log_info("image %.12s is missing: asking for it", spec.image);
		twin_spec_clear(&r->pending);
		r->pending = spec;
		r->has_pending = 1;
		frame_put_empty(&r->obuf, FRAME_NEED_IMAGE);
		return 0;
	}
	if ((rc = runtime_create(r->conf->runtime, &spec, err)) == 0)
		log_info("created stopped twin %s", spec.name);
out:
	twin_spec_clear(&spec);
	if (rc == 0)
		frame_put_empty(&r->obuf, FRAME_TWIN_OK);
	return rc;
}

void
recv_stop_loader(struct recv *r)
{
	if (r->loader_fd != -1)
		close(r->loader_fd);
	r->loader_fd = -1;
	if (r->loader > 0) {
		kill(-r->loader, SIGKILL);
		waitpid(r->loader, NULL, 0);
	}
	r->loader = 0;
}

/* IMAGE: the image's `save` output, piped into `load` as it comes. */
int
recv_on_image(struct recv *r, const struct frame *f, struct ls_err *err)
{
	char		**argv;
	const uint8_t	 *p = f->u.data.p;
	size_t		  left = f->u.data.len;
	ssize_t		  n;

	if (!r->has_pending) {
		ls_err_set(err, "IMAGE without NEED_IMAGE");
		return -1;
	}
	if (r->loader == 0) {
		argv = runtime_load_argv(r->conf->runtime);
		r->loader = proc_spawn(argv, &r->loader_fd, NULL, err);
		strv_free(argv);
		if (r->loader == -1) {
			r->loader = 0;
			return -1;
		}
	}
	for (; left > 0; p += n, left -= (size_t)n)
		if ((n = write(r->loader_fd, p, left)) == -1) {
			if (errno == EINTR) {
				n = 0;
				continue;
			}
			ls_err_sys(err, "%s load", r->conf->runtime);
			return -1;
		}
	return 0;
}

/* IMAGE_END: the load must succeed and bring the image; then the twin. */
int
recv_on_image_end(struct recv *r, struct ls_err *err)
{
	int	 status;

	if (!r->has_pending || r->loader == 0) {
		ls_err_set(err, "IMAGE_END without an image");
		return -1;
	}
	close(r->loader_fd);
	r->loader_fd = -1;
	while (waitpid(r->loader, &status, 0) == -1 && errno == EINTR)
		;
	r->loader = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    !runtime_image_exists(r->conf->runtime, r->pending.image)) {
		ls_err_set(err, "%s load of image %.12s failed",
		    r->conf->runtime, r->pending.image);
		return -1;
	}
	log_info("loaded image %.12s", r->pending.image);
	r->has_pending = 0;
	if (runtime_create(r->conf->runtime, &r->pending, err) == -1)
		return -1;
	log_info("created stopped twin %s", r->pending.name);
	twin_spec_clear(&r->pending);
	frame_put_empty(&r->obuf, FRAME_TWIN_OK);
	return 0;
}

/*
 * `serve --purge-twin=NAME`: remove the stopped twin NAME and its receiving
 * state, for `remove --purge` on the primary. A running twin is the
 * service itself after a failover: it is refused.
 */
int
recv_purge(const struct conf *conf, const char *name)
{
	struct container_info	 ci;
	struct ls_err		 err;
	char			*dir;
	int			 rc = -1;

	if (runtime_inspect(conf->runtime, name, &ci, &err) == -1) {
		log_warnx("purge: %s", err.msg);
		return -1;
	}
	if (ci.running)
		log_warnx("purge: twin %s is running on %s: refused", name,
		    conf->node);
	else if (runtime_remove(conf->runtime, name, &err) == -1)
		log_warnx("purge: %s", err.msg);
	else {
		dir = xasprintf("%s/twins/%s", conf->state_dir, name);
		journal_forget(dir);
		if (rmtree_in(dir, CKPT_DIR, &err) == -1)
			log_warnx("purge: %s", err.msg);
		free(dir);
		log_info("purged twin %s", name);
		rc = 0;
	}
	container_info_clear(&ci);
	return rc;
}

/*
 * `serve --fence`: the new primary asks this host, the old primary, to
 * stand down. Its agent demotes it if it answers. If it does not (it
 * was killed), the role becomes standby, so that an agent started later
 * finishes the demote instead of restarting anything, and the
 * replicated containers are killed here. Either way the VIP leaves this
 * host's interface: a keepalived killed with -9 leaves it there.
 */
int
recv_fence(const struct conf *conf)
{
	char		*argv[] = { (char *)(uintptr_t)"demote",
			    (char *)(uintptr_t)"--fence" };
	char		**names, **n;
	char		*ip[8];
	struct proc_result res;
	struct ls_err	 err;
	struct buf	 b, out;
	int		 rc = 0;

	alarm(10);	/* a hung agent must not hold us forever */
	rc = control_call(conf->control_socket, 2, argv, &err);
	alarm(0);
	if (rc == 0)
		log_info("fence: the agent on %s demoted it", conf->node);
	else if (rc == 1) {
		/* The agent answered and refused: it knows better. */
		log_warnx("fence: %s", err.msg);
		return -1;
	} else {
		log_warnx("fence: no agent answers on %s (%s): standing down "
		    "without it", conf->node, err.msg);
		rc = 0;
		if (write_line(conf->state_dir, "role", "standby", &err) ==
		    -1) {
			log_warnx("fence: %s", err.msg);
			rc = -1;
		}
		names = state_names(conf->state_dir, "containers");
		for (n = names; n != NULL && *n != NULL; n++)
			if (runtime_kill(conf->runtime, *n, &err) == -1)
				log_info("fence: %s", err.msg);	/* stopped */
			else
				log_info("fence: killed %s", *n);
		strv_free(names);
	}
	if (conf->vrrp != NULL) {
		ip[0] = (char *)(uintptr_t)"ip";
		ip[1] = (char *)(uintptr_t)"-4";
		ip[2] = (char *)(uintptr_t)"addr";
		ip[3] = (char *)(uintptr_t)"del";
		ip[4] = conf->vrrp->vip;
		ip[5] = (char *)(uintptr_t)"dev";
		ip[6] = conf->vrrp->interface;
		ip[7] = NULL;
		buf_init(&out);
		buf_init(&b);
		if (proc_run(ip, NULL, 0, &out, &b, 5000, &res, &err) == 0 &&
		    proc_ok(&res))
			log_info("fence: removed %s from %s", conf->vrrp->vip,
			    conf->vrrp->interface);
		buf_release(&out);
		buf_release(&b);
	}
	return rc;
}
