/*
 * test_ckpt_opts: stateful-mode settings and checkpoint meta. Settings
 * layer defaults, the conf's entry and add's flags, later winning; a
 * bad line is refused with its number and changes nothing. The meta,
 * which arrives from the other host, survives a round trip, and is
 * refused when a key is unknown, a number is not one or is negative, a
 * required key is missing, or it is oversized.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "ckpt_opts.h"
#include "conf.h"
#include "err.h"
#include "testmain.h"
#include "testpath.h"

START_TEST(test_settings_apply_and_refuse)
{
	struct ckpt_opts	 o;
	struct ls_err		 err;

	ckpt_opts_default(&o);
	ck_assert_int_eq(o.criu, 0);
	ck_assert_int_eq(o.interval_ms, CKPT_INTERVAL_DEFAULT);
	ck_assert_int_eq(ckpt_opts_apply(&o, "mode=criu\n"
	    "checkpoint_interval_ms=1500\nfile_locks=1\n", "x", &err), 0);
	ck_assert_int_eq(o.criu, 1);
	ck_assert_int_eq(o.interval_ms, 1500);
	ck_assert_int_eq(o.file_locks, 1);
	ck_assert_int_eq(o.tcp_established, 0);
	/* A bad line: refused by number, nothing applied. */
	ck_assert_int_eq(ckpt_opts_apply(&o, "mode=layer\ncolour=red\n",
	    "settings", &err), -1);
	ck_assert_str_eq(err.msg, "settings: line 2: bad or unknown setting "
	    "'colour'");
	ck_assert_int_eq(o.criu, 1);
	ck_assert_int_eq(ckpt_opts_apply(&o, "checkpoint_interval_ms=10",
	    "s", &err), -1);
	ck_assert_int_eq(ckpt_opts_apply(&o, "checkpoint_interval_ms=1e4",
	    "s", &err), -1);
	ck_assert_int_eq(ckpt_opts_apply(&o, "tcp_established=2", "s", &err),
	    -1);
	ck_assert_int_eq(ckpt_opts_apply(&o, "mode", "s", &err), -1);
	ck_assert_str_eq(err.msg, "s: line 1: expected key=value");
	ck_assert_int_eq(o.interval_ms, 1500);
}
END_TEST

START_TEST(test_flags_become_settings)
{
	struct buf	 b;
	struct ls_err	 err;

	buf_init(&b);
	ck_assert_int_eq(ckpt_opts_from_flags("criu", "3000", 1, 0, &b, &err),
	    0);
	ck_assert_str_eq(b.data, "mode=criu\ncheckpoint_interval_ms=3000\n"
	    "tcp_established=1\n");
	buf_reset(&b);
	ck_assert_int_eq(ckpt_opts_from_flags("memory", NULL, 0, 0, &b, &err),
	    -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "--mode must be layer or criu"));
	buf_reset(&b);
	ck_assert_int_eq(ckpt_opts_from_flags(NULL, "5", 0, 0, &b, &err), -1);
	buf_release(&b);
}
END_TEST

START_TEST(test_effective_layers_conf_then_add)
{
	struct buf		 errs, b;
	struct conf		*conf;
	struct ckpt_opts	 o;
	struct ls_err		 err;
	char			 dir[] = "/tmp/ckpt-opts.XXXXXX";

	buf_init(&errs);
	conf = conf_load(fixture("criu.conf"), &errs);
	ck_assert_msg(conf != NULL, "errors: %s", errs.data);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	/* The conf's entry over the defaults. */
	ck_assert_int_eq(ckpt_opts_effective(conf, "db", dir, &o, &err), 0);
	ck_assert_int_eq(o.criu, 1);
	ck_assert_int_eq(o.interval_ms, 2000);
	ck_assert_int_eq(o.tcp_established, 1);
	/* add's flags over the conf, only the keys given. */
	buf_init(&b);
	buf_addstr(&b, "checkpoint_interval_ms=700\n");
	test_put_file(at(dir, CKPT_SETTINGS), b.data);
	ck_assert_int_eq(ckpt_opts_effective(conf, "db", dir, &o, &err), 0);
	ck_assert_int_eq(o.criu, 1);
	ck_assert_int_eq(o.interval_ms, 700);
	ck_assert_int_eq(ckpt_opts_effective(conf, "mail", dir, &o, &err), 0);
	ck_assert_int_eq(o.criu, 0);
	ck_assert_int_eq(o.interval_ms, 700);
	/* A corrupt settings file is an error naming it. */
	test_put_file(at(dir, CKPT_SETTINGS), "mode=criu\n??\n");
	ck_assert_int_eq(ckpt_opts_effective(conf, "db", dir, &o, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "/settings: line 2"));
	buf_release(&b);
	buf_release(&errs);
	conf_free(conf);
	test_rm_tree(dir);
}
END_TEST

START_TEST(test_meta_round_trip)
{
	struct ckpt_meta	 m, back;
	struct buf		 b;
	struct ls_err		 err;

	memset(&m, 0, sizeof(m));
	ckpt_opts_default(&m.opts);
	m.opts.criu = 1;
	m.opts.tcp_established = 1;
	m.taken_ms = 1795000000123LL;
	m.dump_ms = 412;
	m.frozen_us = 95000;
	m.bytes = 104857600;
	buf_init(&b);
	ckpt_meta_format(&m, &b);
	ck_assert_int_eq(ckpt_meta_parse(b.data, &back, &err), 0);
	ck_assert_int_eq(back.taken_ms, m.taken_ms);
	ck_assert_int_eq(back.dump_ms, 412);
	ck_assert_int_eq(back.frozen_us, 95000);
	ck_assert_uint_eq(back.bytes, 104857600);
	ck_assert_int_eq(back.opts.criu, 1);
	ck_assert_int_eq(back.opts.tcp_established, 1);
	ck_assert_int_eq(back.opts.file_locks, 0);
	buf_release(&b);
}
END_TEST

START_TEST(test_meta_from_the_wire_is_checked)
{
	struct ckpt_meta	 m;
	struct ls_err		 err;
	char			*big;

	ck_assert_int_eq(ckpt_meta_parse("taken_ms=5\nmode=criu\nowner=x\n",
	    &m, &err), -1);
	ck_assert_int_eq(ckpt_meta_parse("taken_ms=5\nmode=criu\nbytes=-1\n",
	    &m, &err), -1);
	ck_assert_int_eq(ckpt_meta_parse("taken_ms=5\nmode=criu\n"
	    "bytes=99999999999999999999\n", &m, &err), -1);
	ck_assert_int_eq(ckpt_meta_parse("taken_ms= 5\nmode=criu\n", &m,
	    &err), -1);
	ck_assert_int_eq(ckpt_meta_parse("mode=criu\n", &m, &err), -1);
	ck_assert_str_eq(err.msg, "checkpoint meta: no taken_ms or mode=criu");
	ck_assert_int_eq(ckpt_meta_parse("taken_ms=5\n", &m, &err), -1);
	ck_assert_int_eq(ckpt_meta_parse("taken_ms=5\nmode=criu\n", &m, &err),
	    0);
	big = malloc(8192);
	memset(big, 'a', 8191);
	big[8191] = '\0';
	ck_assert_int_eq(ckpt_meta_parse(big, &m, &err), -1);
	ck_assert_str_eq(err.msg, "checkpoint meta: longer than 4096 bytes");
	free(big);
}
END_TEST

int
main(void)
{
	const TTest *const tests[] = {
		test_settings_apply_and_refuse,
		test_flags_become_settings,
		test_effective_layers_conf_then_add,
		test_meta_round_trip,
		test_meta_from_the_wire_is_checked,
		NULL
	};

	return test_run("ckpt_opts", tests, NULL, NULL);
}
