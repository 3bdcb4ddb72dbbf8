/*
 * conf: one table per group of settings, so that defaults, bounds and
 * the list of known names live in one place. Every error names the
 * file and line; unknown settings are errors, never ignored.
 */
#include <errno.h>
#include <libconfig.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <arpa/inet.h>

#include "ckpt_opts.h"
#include "conf.h"
#include "xmalloc.h"

enum setting_type {
	ST_STRING,
	ST_INT,
	ST_BOOL,	/* stored as a long long 0 or 1 */
};

typedef const char *setting_check(const char *);

struct setting {
	const char		*name;
	enum setting_type	 type;
	size_t			 off;		/* in the target struct */
	int			 required;
	const char		*def;		/* string default */
	long long		 def_int, min, max;
	setting_check		*check;		/* NULL or the reason it is bad */
};

static const char	*check_name(const char *);
static const char	*check_abspath(const char *);
static const char	*check_socket(const char *);
static const char	*check_log(const char *);
static const char	*check_word(const char *);
static const char	*check_criu(const char *);
static const char	*check_mode(const char *);

#define STR(st, f, req, def, chk) \
	{ #f, ST_STRING, offsetof(struct st, f), req, def, 0, 0, 0, chk }
#define INT(st, f, def, lo, hi) \
	{ #f, ST_INT, offsetof(struct st, f), 0, NULL, def, lo, hi, NULL }
#define BOOL(st, f, def) \
	{ #f, ST_BOOL, offsetof(struct st, f), 0, NULL, def, 0, 1, NULL }

static const struct setting top_settings[] = {
	STR(conf, node, 1, NULL, check_name),
	STR(conf, runtime, 0, "podman", check_word),
	STR(conf, state_dir, 0, "/var/lib/layersync", check_abspath),
	STR(conf, control_socket, 0, "/run/layersync/layersync.sock",
	    check_socket),
	STR(conf, log, 0, "stderr", check_log),
	INT(conf, max_lag_ms, 50, 1, 60000),
	INT(conf, stall_timeout_ms, 60000, 1000, 3600000),
	INT(conf, restart_attempts, 3, 0, 100),
	INT(conf, restart_window_ms, 60000, 1000, 86400000),
	STR(conf, criu_path, 0, "", check_criu),
	BOOL(conf, fsync, 1),
	{ NULL, 0, 0, 0, NULL, 0, 0, 0, NULL }
};

static const struct setting peer_settings[] = {
	STR(conf_peer, name, 1, NULL, check_name),
	STR(conf_peer, address, 1, NULL, check_word),
	INT(conf_peer, port, 22, 1, 65535),
	STR(conf_peer, user, 0, "root", check_name),
	STR(conf_peer, identity, 1, NULL, check_abspath),
	STR(conf_peer, known_hosts, 1, NULL, check_abspath),
	STR(conf_peer, remote_command, 0, "layersync", check_word),
	{ NULL, 0, 0, 0, NULL, 0, 0, 0, NULL }
};

static const char	*check_cidr(const char *);
static const char	*check_ipv4(const char *);

static const struct setting vrrp_settings[] = {
	STR(conf_vrrp, interface, 1, NULL, check_word),
	STR(conf_vrrp, vip, 1, NULL, check_cidr),
	INT(conf_vrrp, router_id, 51, 1, 255),
	INT(conf_vrrp, priority, 254, 1, 254),
	INT(conf_vrrp, advert_ms, 1000, 10, 25500),
	STR(conf_vrrp, address, 0, "", check_ipv4),
	{ NULL, 0, 0, 0, NULL, 0, 0, 0, NULL }
};

/* Top-level names handled outside the table. */
static const struct setting container_settings[] = {
	STR(conf_container, name, 1, NULL, check_name),
	STR(conf_container, mode, 0, "layer", check_mode),
	INT(conf_container, checkpoint_interval_ms, CKPT_INTERVAL_DEFAULT,
	    CKPT_INTERVAL_MIN, CKPT_INTERVAL_MAX),
	BOOL(conf_container, tcp_established, 0),
	BOOL(conf_container, file_locks, 0),
	{ NULL, 0, 0, 0, NULL, 0, 0, 0, NULL }
};

static const char *const top_lists[] = { "peers", "vrrp", "containers",
	NULL };

struct parse {
	const char	*path;
	struct buf	*errs;
	int		 nerrs;
};

static void	errorf(struct parse *, int line, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

static void
errorf(struct parse *p, int line, const char *fmt, ...)
{
	va_list	 ap;

	if (line > 0)
		buf_addf(p->errs, "%s:%d: ", p->path, line);
	else
		buf_addf(p->errs, "%s: ", p->path);
	va_start(ap, fmt);
	buf_vaddf(p->errs, fmt, ap);
	va_end(ap);
	buf_addch(p->errs, '\n');
	p->nerrs++;
}

int
conf_name_valid(const char *s)
{
	size_t	 i, n = strlen(s);

	if (n == 0 || n > CONF_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char	 c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9'))
			continue;
		if (i > 0 && (c == '_' || c == '.' || c == '-'))
			continue;
		return 0;
	}
	return 1;
}

static const char *
check_name(const char *s)
{
	return conf_name_valid(s) ? NULL : "must be 1-63 characters of "
	    "letters, digits, '_', '.' or '-', starting with a letter or digit";
}

static const char *
check_abspath(const char *s)
{
	return s[0] == '/' ? NULL : "must be an absolute path";
}

static const char *
check_socket(const char *s)
{
	if (s[0] != '/')
		return "must be an absolute path";
	if (strlen(s) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return "is too long for a unix socket path";
	return NULL;
}

static const char *
check_log(const char *s)
{
	if (strcmp(s, "stderr") == 0 || strcmp(s, "syslog") == 0)
		return NULL;
	return "must be \"stderr\" or \"syslog\"";
}

static const char *
check_word(const char *s)
{
	if (s[0] == '\0')
		return "must not be empty";
	if (strpbrk(s, " \t\n\r'\"\\") != NULL)
		return "must not contain spaces or quotes";
	return NULL;
}

/* podman's OCI runtime runs "criu" from PATH: the file must be so named. */
static const char *
check_criu(const char *s)
{
	const char	*slash = strrchr(s, '/');

	if (*s == '\0')
		return NULL;
	if (*s != '/' || slash == NULL || strcmp(slash + 1, "criu") != 0)
		return "must be an absolute path to an executable named criu";
	return NULL;
}

static const char *
check_mode(const char *s)
{
	if (strcmp(s, "layer") != 0 && strcmp(s, "criu") != 0)
		return "must be \"layer\" or \"criu\"";
	return NULL;
}

static const char *
check_ipv4(const char *s)
{
	struct in_addr	 a;

	if (s[0] == '\0' || inet_pton(AF_INET, s, &a) == 1)
		return NULL;
	return "must be an IPv4 address";
}

static const char *
check_cidr(const char *s)
{
	char		 addr[INET_ADDRSTRLEN], *end;
	const char	*slash = strchr(s, '/');
	struct in_addr	 a;
	long		 len;

	if (slash == NULL || (size_t)(slash - s) >= sizeof(addr))
		return "must be an IPv4 address with its prefix length, "
		    "such as \"10.0.0.100/24\"";
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	len = strtol(slash + 1, &end, 10);
	if (inet_pton(AF_INET, addr, &a) != 1 || *end != '\0' ||
	    end == slash + 1 || len < 1 || len > 32)
		return "must be an IPv4 address with its prefix length, "
		    "such as \"10.0.0.100/24\"";
	return NULL;
}

static const struct setting *
setting_find(const struct setting *tab, const char *name)
{
	for (; tab->name != NULL; tab++)
		if (strcmp(tab->name, name) == 0)
			return tab;
	return NULL;
}

static int
name_in(const char *const *list, const char *name)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, name) == 0)
			return 1;
	return 0;
}

/* Report every member of group that neither tab nor extra knows. */
static void
check_unknown(struct parse *p, config_setting_t *group,
    const struct setting *tab, const char *const *extra, const char *where)
{
	config_setting_t	*s;
	int			 i;

	for (i = 0; (s = config_setting_get_elem(group, i)) != NULL; i++) {
		const char	*name = config_setting_name(s);

		if (setting_find(tab, name) == NULL &&
		    (extra == NULL || !name_in(extra, name)))
			errorf(p, config_setting_source_line(s),
			    "unknown setting '%s%s'", where, name);
	}
}

static void
apply_one(struct parse *p, config_setting_t *group, int group_line,
    const struct setting *st, void *base, const char *where)
{
	config_setting_t	*s = config_setting_get_member(group, st->name);
	int			 line;
	const char		*why;

	if (s == NULL) {
		if (st->required)
			errorf(p, group_line, "missing required setting '%s%s'",
			    where, st->name);
		else if (st->type == ST_STRING)
			*(char **)((char *)base + st->off) = xstrdup(st->def);
		/* ST_INT and ST_BOOL */
		else
			*(long long *)((char *)base + st->off) = st->def_int;
		return;
	}
	line = config_setting_source_line(s);
	if (st->type == ST_STRING) {
		const char	*v = config_setting_get_string(s);

		if (v == NULL) {
			errorf(p, line, "'%s%s' must be a string", where,
			    st->name);
			return;
		}
		if (st->check != NULL && (why = st->check(v)) != NULL) {
			errorf(p, line, "'%s%s' %s (got \"%s\")", where,
			    st->name, why, v);
			return;
		}
		*(char **)((char *)base + st->off) = xstrdup(v);
	} else if (st->type == ST_BOOL) {
		if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
			errorf(p, line, "'%s%s' must be true or false", where,
			    st->name);
			return;
		}
		*(long long *)((char *)base + st->off) =
		    config_setting_get_bool(s) ? 1 : 0;
	} else {
		long long	 v;

		if (config_setting_type(s) != CONFIG_TYPE_INT &&
		    config_setting_type(s) != CONFIG_TYPE_INT64) {
			errorf(p, line, "'%s%s' must be an integer", where,
			    st->name);
			return;
		}
		v = config_setting_get_int64(s);
		if (v < st->min || v > st->max) {
			errorf(p, line, "'%s%s' must be between %lld and %lld "
			    "(got %lld)", where, st->name, st->min, st->max, v);
			return;
		}
		*(long long *)((char *)base + st->off) = v;
	}
}

static void
apply_table(struct parse *p, config_setting_t *group, int group_line,
    const struct setting *tab, void *base, const char *where)
{
	for (; tab->name != NULL; tab++)
		apply_one(p, group, group_line, tab, base, where);
}

static void
peer_free(struct conf_peer *peer)
{
	free(peer->name);
	free(peer->address);
	free(peer->user);
	free(peer->identity);
	free(peer->known_hosts);
	free(peer->remote_command);
	free(peer);
}

/* One element of a list of groups: g, at line, named where ("peers.[0].") */
typedef void	group_fn(struct parse *, struct conf *, config_setting_t *g,
		    int line, const char *where);

/* Check that list is a list of groups and hand each group to fn. */
static void
each_group(struct parse *p, struct conf *conf, config_setting_t *list,
    const char *name, const char *example, group_fn *fn)
{
	config_setting_t	*g;
	char			 where[48];
	int			 i, line;

	if (config_setting_type(list) != CONFIG_TYPE_LIST) {
		errorf(p, config_setting_source_line(list),
		    "'%s' must be a list of groups: ( { %s }, ... )", name,
		    example);
		return;
	}
	for (i = 0; (g = config_setting_get_elem(list, i)) != NULL; i++) {
		line = config_setting_source_line(g);
		snprintf(where, sizeof(where), "%s.[%d].", name, i);
		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			errorf(p, line, "'%s.[%d]' must be a group", name, i);
			continue;
		}
		fn(p, conf, g, line, where);
	}
}

static void
parse_peer(struct parse *p, struct conf *conf, config_setting_t *g, int line,
    const char *where)
{
	struct conf_peer	*peer = xcalloc(1, sizeof(*peer));

	peer->line = line;
	check_unknown(p, g, peer_settings, NULL, where);
	apply_table(p, g, line, peer_settings, peer, where);
	if (peer->name != NULL && conf->node != NULL &&
	    strcmp(peer->name, conf->node) == 0)
		errorf(p, line, "peer '%s' has this node's own name",
		    peer->name);
	else if (peer->name != NULL &&
	    conf_peer_find(conf, peer->name) != NULL)
		errorf(p, line, "peer '%s' is defined twice", peer->name);
	TAILQ_INSERT_TAIL(&conf->peers, peer, entry);
}

static void
container_free_one(struct conf_container *cc)
{
	free(cc->name);
	free(cc->mode);
	free(cc);
}

static void
parse_container(struct parse *p, struct conf *conf, config_setting_t *g,
    int line, const char *where)
{
	struct conf_container	*cc = xcalloc(1, sizeof(*cc));

	cc->line = line;
	check_unknown(p, g, container_settings, NULL, where);
	apply_table(p, g, line, container_settings, cc, where);
	if (cc->name != NULL && conf_container_find(conf, cc->name) != NULL)
		errorf(p, line, "container '%s' is defined twice", cc->name);
	TAILQ_INSERT_TAIL(&conf->containers, cc, entry);
}

static void
vrrp_free(struct conf_vrrp *v)
{
	if (v == NULL)
		return;
	free(v->interface);
	free(v->vip);
	free(v->address);
	free(v);
}

static void
parse_vrrp(struct parse *p, struct conf *conf, config_setting_t *g)
{
	int	 line = config_setting_source_line(g);

	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		errorf(p, line, "'vrrp' must be a group: vrrp = { interface = "
		    "...; vip = ...; }");
		return;
	}
	conf->vrrp = xcalloc(1, sizeof(*conf->vrrp));
	conf->vrrp->line = line;
	check_unknown(p, g, vrrp_settings, NULL, "vrrp.");
	apply_table(p, g, line, vrrp_settings, conf->vrrp, "vrrp.");
}

/* Say why the file could not be parsed, in file:line form. */
static void
syntax_error(struct parse *p, config_t *cfg)
{
	const char	*file = config_error_file(cfg);

	if (config_error_type(cfg) == CONFIG_ERR_FILE_IO || file == NULL) {
		buf_addf(p->errs, "%s: cannot read: %s\n", p->path,
		    errno != 0 ? strerror(errno) : "I/O error");
	} else {
		buf_addf(p->errs, "%s:%d: syntax error: %s\n", file,
		    config_error_line(cfg), config_error_text(cfg));
	}
	p->nerrs++;
}

struct conf *
conf_load(const char *path, struct buf *errs)
{
	struct parse		 p = { path, errs, 0 };
	struct conf		*conf;
	config_t		 cfg;
	config_setting_t	*root, *peers, *vrrp, *ctrs;

	config_init(&cfg);
	errno = 0;
	if (config_read_file(&cfg, path) != CONFIG_TRUE) {
		syntax_error(&p, &cfg);
		config_destroy(&cfg);
		return NULL;
	}
	conf = xcalloc(1, sizeof(*conf));
	TAILQ_INIT(&conf->peers);
	TAILQ_INIT(&conf->containers);
	conf->path = xstrdup(path);
	root = config_root_setting(&cfg);
	check_unknown(&p, root, top_settings, top_lists, "");
	apply_table(&p, root, 0, top_settings, conf, "");
	if ((peers = config_setting_get_member(root, "peers")) != NULL)
		each_group(&p, conf, peers, "peers", "name = ...;", parse_peer);
	if ((vrrp = config_setting_get_member(root, "vrrp")) != NULL)
		parse_vrrp(&p, conf, vrrp);
	if ((ctrs = config_setting_get_member(root, "containers")) != NULL)
		each_group(&p, conf, ctrs, "containers", "name = ...; mode = ...;",
		    parse_container);
	config_destroy(&cfg);
	if (p.nerrs > 0) {
		conf_free(conf);
		return NULL;
	}
	return conf;
}

void
conf_free(struct conf *conf)
{
	struct conf_peer	*peer, *tmp;
	struct conf_container	*cc, *ctmp;

	if (conf == NULL)
		return;
	TAILQ_FOREACH_SAFE(cc, &conf->containers, entry, ctmp) {
		TAILQ_REMOVE(&conf->containers, cc, entry);
		container_free_one(cc);
	}
	TAILQ_FOREACH_SAFE(peer, &conf->peers, entry, tmp) {
		TAILQ_REMOVE(&conf->peers, peer, entry);
		peer_free(peer);
	}
	free(conf->path);
	free(conf->node);
	free(conf->runtime);
	free(conf->state_dir);
	free(conf->control_socket);
	free(conf->log);
	free(conf->criu_path);
	vrrp_free(conf->vrrp);
	free(conf);
}

struct conf_peer *
conf_peer_find(const struct conf *conf, const char *name)
{
	struct conf_peer	*peer;

	TAILQ_FOREACH(peer, &conf->peers, entry)
		if (peer->name != NULL && strcmp(peer->name, name) == 0)
			return peer;
	return NULL;
}

struct conf_container *
conf_container_find(const struct conf *conf, const char *name)
{
	struct conf_container	*cc;

	TAILQ_FOREACH(cc, &conf->containers, entry)
		if (cc->name != NULL && strcmp(cc->name, name) == 0)
			return cc;
	return NULL;
}
