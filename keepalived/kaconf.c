/*
 * kaconf: see kaconf.h. Every value put into the template was checked
 * when the configuration was loaded (no spaces or quotes), and the
 * binary's and config's paths are checked here, so the output parses
 * the way it reads.
 */
#include <arpa/inet.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "conf.h"
#include "kaconf.h"
#include "xmalloc.h"

#include "keepalived/template.h"	/* kaconf_template, generated */

/* The FIFO keepalived writes its events to: beside the control socket. */
char *
kaconf_fifo_path(const struct conf *conf)
{
	char	*copy = xstrdup(conf->control_socket);
	char	*path = xasprintf("%s/keepalived.fifo", dirname(copy));

	free(copy);
	return path;
}

static int
plain_path(const char *what, const char *p, struct ls_err *err)
{
	if (p[0] != '/' || strpbrk(p, " \t\n\"'\\") != NULL) {
		ls_err_set(err, "%s path '%s' must be absolute, without spaces "
		    "or quotes, to go into keepalived.conf", what, p);
		return -1;
	}
	return 0;
}

/* unicast_src_ip and unicast_peer, when every peer has an IPv4 address. */
static void
unicast(const struct conf *conf, struct buf *b)
{
	struct conf_peer	*p;
	struct in_addr		 a;

	TAILQ_FOREACH(p, &conf->peers, entry)
		if (inet_pton(AF_INET, p->address, &a) != 1) {
			buf_addf(b, "    # multicast: peer %s's address is not "
			    "an IPv4 address\n", p->name);
			return;
		}
	if (TAILQ_EMPTY(&conf->peers))
		return;
	if (conf->vrrp->address[0] != '\0')
		buf_addf(b, "    unicast_src_ip %s\n", conf->vrrp->address);
	buf_addf(b, "    unicast_peer {\n");
	TAILQ_FOREACH(p, &conf->peers, entry)
		buf_addf(b, "        %s\n", p->address);
	buf_addf(b, "    }\n");
}

static void
value(const struct conf *conf, const char *layersync, const char *name,
    size_t len, struct buf *b)
{
	const struct conf_vrrp	*v = conf->vrrp;
	char			*fifo;

#define IS(s)	(len == sizeof(s) - 1 && memcmp(name, s, len) == 0)
	if (IS("NODE"))
		buf_addf(b, "%s", conf->node);
	else if (IS("CONF"))
		buf_addf(b, "%s", conf->path);
	else if (IS("LAYERSYNC"))
		buf_addf(b, "%s", layersync);
	else if (IS("FIFO")) {
		fifo = kaconf_fifo_path(conf);
		buf_addf(b, "%s", fifo);
		free(fifo);
	} else if (IS("INTERFACE"))
		buf_addf(b, "%s", v->interface);
	else if (IS("ROUTER_ID"))
		buf_addf(b, "%lld", v->router_id);
	else if (IS("PRIORITY"))
		buf_addf(b, "%lld", v->priority);
	else if (IS("ADVERT"))
		buf_addf(b, "%lld.%02lld", v->advert_ms / 1000,
		    v->advert_ms % 1000 / 10);
	else if (IS("VIP"))
		buf_addf(b, "%s", v->vip);
	else if (IS("UNICAST"))
		unicast(conf, b);
	else
		abort();	/* the template names only these */
#undef IS
}

int
kaconf_write(const struct conf *conf, const char *layersync, FILE *out,
    struct ls_err *err)
{
	const char	*p = kaconf_template, *at, *end;
	struct buf	 b;
	int		 r = 0;

	if (conf->vrrp == NULL) {
		ls_err_set(err, "%s has no 'vrrp' group: add vrrp = { interface "
		    "= \"eth0\"; vip = \"10.0.0.100/24\"; };", conf->path);
		return -1;
	}
	if (plain_path("layersync", layersync, err) == -1 ||
	    plain_path("configuration", conf->path, err) == -1)
		return -1;
	buf_init(&b);
	while ((at = strchr(p, '@')) != NULL &&
	    (end = strchr(at + 1, '@')) != NULL) {
		buf_add(&b, p, (size_t)(at - p));
		value(conf, layersync, at + 1, (size_t)(end - at - 1), &b);
		p = end + 1;
	}
	buf_add(&b, p, strlen(p));
	if (fwrite(b.data, 1, b.len, out) != b.len || fflush(out) == EOF) {
		ls_err_sys(err, "write");
		r = -1;
	}
	buf_release(&b);
	return r;
}
