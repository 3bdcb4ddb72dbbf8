/*
 * test_journal: a batch lands whole or not at all, and replaying a
 * journal after a crash at any phase gives the same tree as one run.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "digest.h"
#include "frame.h"
#include "journal.h"
#include "testmain.h"
#include "testpath.h"

static char	 top[64];
static char	 statedir[128];
static int	 rootfd, stagefd;

static void
setup(void)
{
	char	 p[128];

	strcpy(top, "/var/tmp/test_journal.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(top));
	snprintf(p, sizeof(p), "%s/upper", top);
	mkdir(p, 0755);
	rootfd = open(p, O_RDONLY | O_DIRECTORY);
	snprintf(p, sizeof(p), "%s/stage", top);
	mkdir(p, 0700);
	stagefd = open(p, O_RDONLY | O_DIRECTORY);
	snprintf(statedir, sizeof(statedir), "%s/state", top);
	mkdir(statedir, 0700);
}

static void
teardown(void)
{
	char	 cmd[128];

	close(rootfd);
	close(stagefd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", top);
	ck_assert_int_eq(system(cmd), 0);
}

static void
put(int dirfd, const char *name, const char *text)
{
	int	 fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static const char *
get(int dirfd, const char *name)
{
	static char	 text[256];
	int		 fd = openat(dirfd, name, O_RDONLY);
	ssize_t		 n;

	if (fd == -1)
		return NULL;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	text[n < 0 ? 0 : n] = '\0';
	return text;
}

static void
put_state(const char *name, const char *text)
{
	int	 fd = open(statedir, O_RDONLY | O_DIRECTORY);

	put(fd, name, text);
	close(fd);
}

static uint64_t
recover(void)
{
	struct ls_err	 err;
	uint64_t	 gen = 99;

	ck_assert_msg(journal_recover(rootfd, stagefd, statedir, &gen, &err)
	    == 0, "%s", err.msg);
	return gen;
}

START_TEST(test_commit_applies_the_whole_batch)
{
	struct journal	*j = journal_new(rootfd, stagefd, statedir);
	struct ls_err	 err;
	char		*s1, *s2, *s3;

	put(rootfd, "old", "old");
	put(rootfd, "gone", "x");
	s1 = journal_stage_name(j);
	s2 = journal_stage_name(j);
	s3 = journal_stage_name(j);
	ck_assert_int_eq(mkdirat(stagefd, s1, 0750), 0);
	put(stagefd, s2, "inside");
	put(stagefd, s3, "new old");
	journal_dir(j, s1, "d");
	journal_move(j, s2, "d/f");
	journal_remove(j, "gone");
	journal_rename(j, "old", "renamed");
	journal_move(j, s3, "old");
	ck_assert_uint_eq(journal_ops(j), 5);
	ck_assert_msg(journal_commit(j, 7, NULL, NULL, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(get(rootfd, "d/f"), "inside");
	ck_assert_str_eq(get(rootfd, "renamed"), "old");
	ck_assert_str_eq(get(rootfd, "old"), "new old");
	ck_assert_ptr_null(get(rootfd, "gone"));
	ck_assert_uint_eq(recover(), 7);
	ck_assert_int_eq(faccessat(stagefd, s1, F_OK, 0), -1);
	free(s1);
	free(s2);
	free(s3);
	journal_free(j);
}
END_TEST

/*
 * One move needs no journal: with the journal's temp name taken by a
 * directory (so no journal can be written), a one-move batch commits,
 * and a batch of two operations fails with the journal's error.
 */
START_TEST(test_one_move_needs_no_journal)
{
	struct journal	*j = journal_new(rootfd, stagefd, statedir);
	struct ls_err	 err;
	char		 tmp[160];
	char		*s1 = journal_stage_name(j), *s2;

	snprintf(tmp, sizeof(tmp), "%s/journal.tmp", statedir);
	ck_assert_int_eq(mkdir(tmp, 0700), 0);
	put(stagefd, s1, "one");
	journal_move(j, s1, "f");
	ck_assert_msg(journal_commit(j, 3, NULL, NULL, &err) == 0, "%s",
	    err.msg);
	ck_assert_str_eq(get(rootfd, "f"), "one");
	ck_assert_uint_eq(recover(), 3);
	s2 = journal_stage_name(j);
	put(stagefd, s2, "two");
	journal_move(j, s2, "g");
	journal_remove(j, "f");
	ck_assert_int_eq(journal_commit(j, 4, NULL, NULL, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "journal.tmp"));
	ck_assert_str_eq(get(rootfd, "f"), "one");
	ck_assert_uint_eq(recover(), 3);
	rmdir(tmp);
	free(s1);
	free(s2);
	journal_free(j);
}
END_TEST

/* The generation is rewritten in place (same inode), whole: a shorter
 * number leaves nothing of the longer one behind. */
START_TEST(test_generation_is_rewritten_in_place)
{
	struct journal	*j = journal_new(rootfd, stagefd, statedir);
	struct ls_err	 err;
	struct stat	 a, b;
	char		 gen[160];
	uint64_t	 want[] = { 10, 11, 9 };
	size_t		 i;
	char		*s1;

	snprintf(gen, sizeof(gen), "%s/gen", statedir);
	for (i = 0; i < 3; i++) {
		s1 = journal_stage_name(j);
		put(stagefd, s1, "x");
		journal_move(j, s1, "f");
		ck_assert_msg(journal_commit(j, want[i], NULL, NULL, &err) ==
		    0, "%s", err.msg);
		free(s1);
		ck_assert_int_eq(stat(gen, i == 0 ? &a : &b), 0);
		if (i > 0)
			ck_assert_uint_eq(a.st_ino, b.st_ino);
		ck_assert_uint_eq(recover(), want[i]);
	}
	ck_assert_int_eq(b.st_size, 2);		/* "9\n" */
	journal_free(j);
}
END_TEST

START_TEST(test_existing_dir_keeps_children_and_takes_metadata)
{
	struct journal	*j = journal_new(rootfd, stagefd, statedir);
	struct ls_err	 err;
	struct stat	 st;
	char		*s1 = journal_stage_name(j);

	mkdirat(rootfd, "d", 0755);
	put(rootfd, "d/child", "kept");
	ck_assert_int_eq(mkdirat(stagefd, s1, 0700), 0);
	fchmodat(stagefd, s1, 0711, 0);
	journal_dir(j, s1, "d");
	ck_assert_msg(journal_commit(j, 1, NULL, NULL, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(get(rootfd, "d/child"), "kept");
	ck_assert_int_eq(fstatat(rootfd, "d", &st, 0), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0711);
	free(s1);
	journal_free(j);
}
END_TEST

START_TEST(test_partial_journal_is_discarded)
{
	put(rootfd, "f", "before");
	put(stagefd, "00000001", "after");
	/* An apply interrupted in the stage leaves a reserved temp name. */
	put(stagefd, ".layersync.tmp.0123456789abcdef", "torn");
	put_state("gen", "3\n");
	/* No END line: the commit record never became durable. */
	put_state("journal", "layersync-journal 1 4\nPHASE\n"
	    "MOVE 00000001 f\n");
	ck_assert_uint_eq(recover(), 3);
	ck_assert_str_eq(get(rootfd, "f"), "before");
	ck_assert_int_eq(faccessat(stagefd, ".layersync.tmp.0123456789abcdef",
	    F_OK, 0), -1);
	ck_assert_int_eq(faccessat(rootfd, "../state/journal", F_OK, 0), -1);
}
END_TEST

START_TEST(test_complete_journal_is_finished)
{
	put(rootfd, "f", "before");
	put(rootfd, "g", "doomed");
	put(stagefd, "00000001", "after");
	put_state("gen", "3\n");
	put_state("journal", "layersync-journal 1 4\nPHASE\n"
	    "MOVE 00000001 f\nREMOVE g\nEND\n");
	ck_assert_uint_eq(recover(), 4);
	ck_assert_str_eq(get(rootfd, "f"), "after");
	ck_assert_ptr_null(get(rootfd, "g"));
	ck_assert_uint_eq(recover(), 4);
}
END_TEST

/*
 * The journal's unlink after a commit is not flushed: a crash can bring
 * back the journal of batch 7 after batch 8 (one move, no journal) put
 * a new x in place. Replaying 7 would remove that x and set the
 * generation back to 7.
 */
START_TEST(test_stale_journal_is_ignored)
{
	int	 sfd;

	put(rootfd, "x", "from batch 8");
	put_state("gen", "8\n");
	put_state("journal", "layersync-journal 1 7\nPHASE\nREMOVE x\nEND\n");
	put_state("journal.done", "0\n");
	ck_assert_uint_eq(recover(), 8);
	ck_assert_str_eq(get(rootfd, "x"), "from batch 8");
	sfd = open(statedir, O_RDONLY | O_DIRECTORY);
	ck_assert_ptr_null(get(sfd, "journal"));	/* and it is gone */
	close(sfd);
	put_state("journal", "layersync-journal 1 8\nPHASE\nREMOVE x\nEND\n");
	ck_assert_uint_eq(recover(), 8);
	ck_assert_str_eq(get(rootfd, "x"), "from batch 8");
}
END_TEST

/*
 * Phase 1 removed x, phase 2 put a new x in place, then the crash came
 * before the journal was deleted. Replaying phase 1 would delete the
 * new x: the done count must stop that.
 */
START_TEST(test_replay_never_undoes_a_later_phase)
{
	put(rootfd, "x", "new");
	put_state("gen", "5\n");
	put_state("journal", "layersync-journal 1 6\nPHASE\nREMOVE x\n"
	    "PHASE\nMOVE 00000001 x\nEND\n");
	put_state("journal.done", "1\n");
	ck_assert_uint_eq(recover(), 6);
	ck_assert_str_eq(get(rootfd, "x"), "new");
}
END_TEST

START_TEST(test_commit_splits_conflicting_ops_into_phases)
{
	struct journal	*j = journal_new(rootfd, stagefd, statedir);
	struct ls_err	 err;
	char		*s1 = journal_stage_name(j);

	put(rootfd, "a", "first");
	mkdirat(rootfd, "dir", 0755);
	put(rootfd, "dir/in", "z");
	put(stagefd, s1, "second");
	journal_rename(j, "a", "b");
	journal_move(j, s1, "a");	/* touches a again: a new phase */
	journal_remove(j, "dir/in");
	journal_remove(j, "dir");	/* ancestor of dir/in: new phase */
	ck_assert_msg(journal_commit(j, 2, NULL, NULL, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(get(rootfd, "a"), "second");
	ck_assert_str_eq(get(rootfd, "b"), "first");
	ck_assert_int_eq(faccessat(rootfd, "dir", F_OK, AT_SYMLINK_NOFOLLOW),
	    -1);
	free(s1);
	journal_free(j);
}
END_TEST

static void
collect(const char *path, const char *why, void *arg)
{
	(void)why;
	strcat(arg, path);
	strcat(arg, ";");
}

/*
 * A parent that is a symlink (the primary read a tree that changed
 * under it) skips that move and reports it; the rest of the batch lands
 * and nothing is written through the symlink.
 */
START_TEST(test_misfit_ops_are_skipped_and_reported)
{
	struct journal	*j = journal_new(rootfd, stagefd, statedir);
	struct ls_err	 err;
	char		 skipped[256] = "", outside[128];
	char		*s1 = journal_stage_name(j), *s2 = journal_stage_name(j);
	int		 dfd;

	snprintf(outside, sizeof(outside), "%s/outside", top);
	mkdir(outside, 0755);
	ck_assert_int_eq(symlinkat(outside, rootfd, "x"), 0);
	put(stagefd, s1, "through the link");
	put(stagefd, s2, "fine");
	journal_move(j, s1, "x/f");
	journal_move(j, s2, "ok");
	ck_assert_msg(journal_commit(j, 3, collect, skipped, &err) == 0, "%s",
	    err.msg);
	ck_assert_str_eq(skipped, "x/f;");
	ck_assert_str_eq(get(rootfd, "ok"), "fine");
	dfd = open(outside, O_RDONLY | O_DIRECTORY);
	ck_assert_int_eq(faccessat(dfd, "f", F_OK, 0), -1);
	close(dfd);
	ck_assert_int_eq(faccessat(stagefd, s1, F_OK, 0), -1);
	ck_assert_uint_eq(recover(), 3);
	free(s1);
	free(s2);
	journal_free(j);
}
END_TEST

/*
 * Moves into one directory share its fd, and each still lands where
 * its path says: across another directory in between, and after a
 * file took the place of the directory (the move into it is a misfit,
 * never a write into the unlinked directory). No fd is left open.
 */
START_TEST(test_moves_share_a_parent_and_still_land_right)
{
	struct journal	*j = journal_new(rootfd, stagefd, statedir);
	struct ls_err	 err;
	char		 skipped[256] = "";
	const char	*to[] = { "d/a", "d/b", "e/c", "d/d", "d", "d/x" };
	const char	*text[] = { "a", "b", "c", "dd", "file", "x" };
	char		*st[6];
	struct stat	 sb;
	int		 fds = test_fd_count();
	size_t		 i;

	ck_assert_int_eq(mkdirat(rootfd, "d", 0755), 0);
	ck_assert_int_eq(mkdirat(rootfd, "e", 0755), 0);
	for (i = 0; i < 6; i++) {
		st[i] = journal_stage_name(j);
		put(stagefd, st[i], text[i]);
		journal_move(j, st[i], to[i]);
	}
	ck_assert_msg(journal_commit(j, 4, collect, skipped, &err) == 0, "%s",
	    err.msg);
	ck_assert_str_eq(skipped, "d/x;");
	ck_assert_int_eq(fstatat(rootfd, "d", &sb, AT_SYMLINK_NOFOLLOW), 0);
	ck_assert(S_ISREG(sb.st_mode));
	ck_assert_str_eq(get(rootfd, "d"), "file");
	ck_assert_str_eq(get(rootfd, "e/c"), "c");
	ck_assert_int_eq(test_fd_count(), fds);
	for (i = 0; i < 6; i++)
		free(st[i]);
	journal_free(j);
}
END_TEST

/* The staged tail lands in place, at the offset, with its mtime. */
START_TEST(test_append_writes_the_tail_in_place)
{
	struct journal	*j = journal_new(rootfd, stagefd, statedir);
	struct ls_err	 err;
	struct stat	 before, after;
	struct timespec	 ts[2] = { { 0, UTIME_OMIT }, { 1700000000, 5 } };
	char		*s1 = journal_stage_name(j);

	put(rootfd, "log", "line 1\n");
	ck_assert_int_eq(fstatat(rootfd, "log", &before, 0), 0);
	put(stagefd, s1, "line 2\n");
	fchmodat(stagefd, s1, before.st_mode & 07777, 0);
	ck_assert_int_eq(utimensat(stagefd, s1, ts, 0), 0);
	journal_append(j, s1, "log", 7);
	ck_assert_msg(journal_commit(j, 2, NULL, NULL, &err) == 0, "%s",
	    err.msg);
	ck_assert_str_eq(get(rootfd, "log"), "line 1\nline 2\n");
	ck_assert_int_eq(fstatat(rootfd, "log", &after, 0), 0);
	ck_assert_uint_eq(after.st_ino, before.st_ino);
	ck_assert_int_eq(after.st_mtim.tv_sec, 1700000000);
	ck_assert_int_eq(faccessat(stagefd, s1, F_OK, 0), -1);
	free(s1);
	journal_free(j);
}
END_TEST

/*
 * A batch of one append needs no journal file: journal_prepare puts the
 * journal on the staged tail, flushed with it. The journal file cannot
 * be written here (journal.tmp is a directory), and the commit works.
 */
START_TEST(test_one_append_journals_on_its_stage)
{
	struct journal	*j = journal_new(rootfd, stagefd, statedir);
	struct ls_err	 err;
	char		 tmp[160], text[256];
	char		*s1 = journal_stage_name(j);
	ssize_t		 n;
	int		 fd;

	snprintf(tmp, sizeof(tmp), "%s/journal.tmp", statedir);
	ck_assert_int_eq(mkdir(tmp, 0700), 0);
	put(rootfd, "log", "line 1\n");
	fchmodat(rootfd, "log", 0644, 0);
	put(stagefd, s1, "line 2\n");
	fchmodat(stagefd, s1, 0644, 0);
	journal_append(j, s1, "log", 7);
	journal_prepare(j, 2);
	fd = openat(stagefd, s1, O_RDONLY);
	n = fgetxattr(fd, JOURNAL_XATTR, text, sizeof(text) - 1);
	close(fd);
	ck_assert_int_gt(n, 0);
	text[n] = '\0';
	ck_assert_str_eq(text, "layersync-journal 1 2\nPHASE\n"
	    "APPEND 00000001 log 7\nEND\n");
	fd = openat(stagefd, s1, O_RDONLY);
	ck_assert_int_eq(fgetxattr(fd, JOURNAL_SUM_XATTR, text, sizeof(text)),
	    DIGEST_SUM_LEN);
	close(fd);
	ck_assert_msg(journal_commit(j, 2, NULL, NULL, &err) == 0, "%s",
	    err.msg);
	ck_assert_str_eq(get(rootfd, "log"), "line 1\nline 2\n");
	ck_assert_uint_eq(recover(), 2);
	/* a second op: back to the journal file, which cannot be written */
	free(s1);
	s1 = journal_stage_name(j);
	put(stagefd, s1, "line 3\n");
	fchmodat(stagefd, s1, 0644, 0);
	journal_append(j, s1, "log", 14);
	journal_remove(j, "other");
	journal_prepare(j, 3);
	ck_assert_int_eq(journal_commit(j, 3, NULL, NULL, &err), -1);
	ck_assert_str_eq(get(rootfd, "log"), "line 1\nline 2\n");
	rmdir(tmp);
	free(s1);
	journal_free(j);
}
END_TEST

/* Stage name as a batch of one append, journal and digest of want. */
static void
stage_record(const char *name, const char *data, const char *want,
    const char *journal)
{
	unsigned char	 md[DIGEST_SUM_LEN];
	int		 fd;

	put(stagefd, name, want);
	fd = openat(stagefd, name, O_RDONLY);
	ck_assert_int_eq(digest_prefix(fd, strlen(want), md), 0);
	close(fd);
	put(stagefd, name, data);
	fchmodat(stagefd, name, 0644, 0);
	fd = openat(stagefd, name, O_RDONLY);
	ck_assert_int_eq(fsetxattr(fd, JOURNAL_SUM_XATTR, md, sizeof(md), 0),
	    0);
	ck_assert_int_eq(fsetxattr(fd, JOURNAL_XATTR, journal,
	    strlen(journal), 0), 0);
	close(fd);
}

/*
 * The crash came while the staged tail went in place: recovery finds
 * the journal on the staged file and finishes it. One found there for
 * a committed batch (its unlink was lost) is left alone, and so is one
 * whose staged bytes are not those it was taken of: one flush made
 * them and it durable in no set order, so the crash came before that
 * flush ended, before anything went in place.
 */
START_TEST(test_journal_on_the_stage_is_finished)
{
	static const char journal[] = "layersync-journal 1 2\nPHASE\n"
	    "APPEND 00000001 log 7\nEND\n";

	put(rootfd, "log", "line 1\nline 2\ngarb");	/* torn */
	fchmodat(rootfd, "log", 0644, 0);
	stage_record("00000001", "line 2\n", "line 2\n", journal);
	put_state("gen", "1\n");
	ck_assert_uint_eq(recover(), 2);
	ck_assert_str_eq(get(rootfd, "log"), "line 1\nline 2\n");

	put(rootfd, "log", "line 1\nline 9\n");	/* batch 3 changed it */
	stage_record("00000001", "line 2\n", "line 2\n", journal);
	put_state("gen", "3\n");
	ck_assert_uint_eq(recover(), 3);
	ck_assert_str_eq(get(rootfd, "log"), "line 1\nline 9\n");

	put(rootfd, "log", "line 1\n");
	stage_record("00000001", "li", "line 2\n", journal);	/* torn */
	put_state("gen", "1\n");
	ck_assert_uint_eq(recover(), 1);
	ck_assert_str_eq(get(rootfd, "log"), "line 1\n");

	/* a stale one beside the live one, in either readdir order */
	stage_record("00000001", "stale", "stale", "layersync-journal 1 1\n"
	    "PHASE\nAPPEND 00000001 log 0\nEND\n");
	stage_record("00000002", "line 2\n", "line 2\n",
	    "layersync-journal 1 2\nPHASE\nAPPEND 00000002 log 7\nEND\n");
	ck_assert_uint_eq(recover(), 2);
	ck_assert_str_eq(get(rootfd, "log"), "line 1\nline 2\n");
}
END_TEST

/*
 * A crash after the tail was written (some or all of it) but before the
 * staged tail was removed: the replay writes the same bytes at the same
 * offset, whatever the file's length had become.
 */
START_TEST(test_append_replayed_equals_append_once)
{
	put(rootfd, "log", "line 1\nline 2\ngarb");	/* torn */
	put(stagefd, "00000001", "line 2\n");
	fchmodat(rootfd, "log", 0644, 0);
	fchmodat(stagefd, "00000001", 0644, 0);
	put_state("gen", "1\n");
	put_state("journal", "layersync-journal 1 2\nPHASE\n"
	    "APPEND 00000001 log 7\nEND\n");
	ck_assert_uint_eq(recover(), 2);
	ck_assert_str_eq(get(rootfd, "log"), "line 1\nline 2\n");
	/* done once the staged tail is gone: a second replay is a no-op */
	put_state("journal", "layersync-journal 1 2\nPHASE\n"
	    "APPEND 00000001 log 7\nEND\n");
	ck_assert_uint_eq(recover(), 2);
	ck_assert_str_eq(get(rootfd, "log"), "line 1\nline 2\n");
}
END_TEST

/* A twin file shorter than the offset is not the one the primary hashed. */
START_TEST(test_append_to_a_shorter_file_is_skipped)
{
	struct journal	*j = journal_new(rootfd, stagefd, statedir);
	struct ls_err	 err;
	char		 skipped[256] = "";
	char		*s1 = journal_stage_name(j);

	put(rootfd, "log", "short");
	put(stagefd, s1, "tail");
	fchmodat(rootfd, "log", 0644, 0);
	fchmodat(stagefd, s1, 0644, 0);
	journal_append(j, s1, "log", 100);
	ck_assert_msg(journal_commit(j, 2, collect, skipped, &err) == 0, "%s",
	    err.msg);
	ck_assert_str_eq(skipped, "log;");
	ck_assert_str_eq(get(rootfd, "log"), "short");
	free(s1);
	journal_free(j);
}
END_TEST

/* Nor is a FIFO in its place, which is never opened (it would block). */
START_TEST(test_append_to_a_fifo_is_skipped)
{
	struct journal	*j = journal_new(rootfd, stagefd, statedir);
	struct ls_err	 err;
	char		 skipped[256] = "";
	char		*s1 = journal_stage_name(j);

	ck_assert_int_eq(mkfifoat(rootfd, "log", 0644), 0);
	put(stagefd, s1, "tail");
	journal_append(j, s1, "log", 0);
	ck_assert_msg(journal_commit(j, 2, collect, skipped, &err) == 0, "%s",
	    err.msg);
	ck_assert_str_eq(skipped, "log;");
	free(s1);
	journal_free(j);
}
END_TEST

/* A stage of size bytes, sparse but for text at off. */
static void
put_sparse(int dirfd, const char *name, off_t size, off_t off,
    const char *text)
{
	int	 fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(ftruncate(fd, size), 0);
	ck_assert_int_eq(pwrite(fd, text, strlen(text), off),
	    (ssize_t)strlen(text));
	close(fd);
}

/* A batch of one patch journals on its stage too, its ranges summed:
 * a crash before its end finishes it from there. */
START_TEST(test_one_patch_journals_on_its_stage)
{
	struct journal		*j = journal_new(rootfd, stagefd, statedir);
	struct frame_range	 r[2] = { { 4, 4 }, { 12, 2 } };
	char			*s1 = journal_stage_name(j);
	char			 tmp[160];
	int			 fd;

	put(rootfd, "db", "aaaaBBBBccccDDDD");
	fchmodat(rootfd, "db", 0644, 0);
	put_sparse(stagefd, s1, 14, 4, "XXXX");
	fchmodat(stagefd, s1, 0644, 0);
	fd = openat(stagefd, s1, O_WRONLY);
	ck_assert_int_eq(pwrite(fd, "YY", 2, 12), 2);
	close(fd);
	journal_patch(j, s1, "db", r, 2);
	journal_prepare(j, 2);
	/* the crash: nothing went in place, and no journal file exists */
	snprintf(tmp, sizeof(tmp), "%s/journal", statedir);
	ck_assert_int_eq(access(tmp, F_OK), -1);
	put_state("gen", "1\n");
	ck_assert_uint_eq(recover(), 2);
	ck_assert_str_eq(get(rootfd, "db"), "aaaaXXXXccccYY");
	free(s1);
	journal_free(j);
}
END_TEST

/* Only the ranges are written, in place; the file takes the new size. */
START_TEST(test_patch_rewrites_the_ranges_in_place)
{
	struct journal		*j = journal_new(rootfd, stagefd, statedir);
	struct frame_range	 r[2] = { { 4, 4 }, { 12, 2 } };
	struct ls_err		 err;
	struct stat		 before, after;
	struct timespec		 ts[2] = { { 0, UTIME_OMIT }, { 1700000000, 5 } };
	char			*s1 = journal_stage_name(j);
	int			 fd;

	put(rootfd, "db", "aaaaBBBBccccDDDD");
	ck_assert_int_eq(fstatat(rootfd, "db", &before, 0), 0);
	put_sparse(stagefd, s1, 14, 4, "XXXX");
	fd = openat(stagefd, s1, O_WRONLY);
	ck_assert_int_eq(pwrite(fd, "YY", 2, 12), 2);
	close(fd);
	ck_assert_int_eq(utimensat(stagefd, s1, ts, 0), 0);
	journal_patch(j, s1, "db", r, 2);
	ck_assert_msg(journal_commit(j, 2, NULL, NULL, &err) == 0, "%s",
	    err.msg);
	ck_assert_str_eq(get(rootfd, "db"), "aaaaXXXXccccYY");
	ck_assert_int_eq(fstatat(rootfd, "db", &after, 0), 0);
	ck_assert_uint_eq(after.st_ino, before.st_ino);
	ck_assert_int_eq(after.st_mtim.tv_sec, 1700000000);
	ck_assert_int_eq(faccessat(stagefd, s1, F_OK, 0), -1);
	free(s1);
	journal_free(j);
}
END_TEST

/* A torn patch replayed, then replayed again, equals one patch; a patch
 * with no ranges only sets the size and times. */
START_TEST(test_patch_replayed_equals_patch_once)
{
	put(rootfd, "db", "aaaaXXBBccccDDDD");	/* torn: 2 of 4 written */
	put_sparse(stagefd, "00000001", 12, 4, "XXXX");
	put_state("gen", "1\n");
	put_state("journal", "layersync-journal 1 2\nPHASE\n"
	    "PATCH 00000001 db 4+4\nEND\n");
	ck_assert_uint_eq(recover(), 2);
	ck_assert_str_eq(get(rootfd, "db"), "aaaaXXXXcccc");
	put_state("journal", "layersync-journal 1 2\nPHASE\n"
	    "PATCH 00000001 db 4+4\nEND\n");
	ck_assert_uint_eq(recover(), 2);
	ck_assert_str_eq(get(rootfd, "db"), "aaaaXXXXcccc");
	put_sparse(stagefd, "00000002", 8, 0, "");
	put_state("journal", "layersync-journal 1 3\nPHASE\n"
	    "PATCH 00000002 db -\nEND\n");
	ck_assert_uint_eq(recover(), 3);
	ck_assert_str_eq(get(rootfd, "db"), "aaaaXXXX");
}
END_TEST

/* A file with another name would change under both: shipped again. */
START_TEST(test_patch_onto_a_linked_file_is_skipped)
{
	struct journal		*j = journal_new(rootfd, stagefd, statedir);
	struct frame_range	 r = { 0, 2 };
	struct ls_err		 err;
	char			 skipped[256] = "";
	char			*s1 = journal_stage_name(j);

	put(rootfd, "db", "aaaa");
	ck_assert_int_eq(linkat(rootfd, "db", rootfd, "db2", 0), 0);
	put_sparse(stagefd, s1, 4, 0, "XX");
	journal_patch(j, s1, "db", &r, 1);
	ck_assert_msg(journal_commit(j, 2, collect, skipped, &err) == 0, "%s",
	    err.msg);
	ck_assert_str_eq(skipped, "db;");
	ck_assert_str_eq(get(rootfd, "db2"), "aaaa");
	free(s1);
	journal_free(j);
}
END_TEST

START_TEST(test_corrupt_journal_is_an_error)
{
	static const char *const bad[] = {
		"4+0", "8+4,4+4", "4+4,6+1", "1+2x", "+4", "4+", "4+4,",
		"", "--", "99999999999999999999+1", "9223372036854775807+1"
	};
	struct ls_err	 err;
	uint64_t	 gen;
	size_t		 i;
	char		 text[256];

	put_state("journal", "layersync-journal 1 6\nPHASE\nMOVE ../x y\n"
	    "END\n");
	ck_assert_int_eq(journal_recover(rootfd, stagefd, statedir, &gen,
	    &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "malformed"));
	put_state("journal", "layersync-journal 1 6\nPHASE\n"
	    "APPEND 00000001 log -1\nEND\n");
	ck_assert_int_eq(journal_recover(rootfd, stagefd, statedir, &gen,
	    &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "malformed"));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "layersync-journal 1 6\nPHASE\n"
		    "PATCH 00000001 db %s\nEND\n", bad[i]);
		put_state("journal", text);
		ck_assert_msg(journal_recover(rootfd, stagefd, statedir, &gen,
		    &err) == -1, "ranges %s accepted", bad[i]);
		ck_assert_ptr_nonnull(strstr(err.msg, "malformed"));
	}
}
END_TEST

/*
 * The stage must be on the upperdir fd's mount, whatever its path now
 * resolves through: podman bind-mounts its storage dir over itself
 * while a podman command runs and unmounts it after, so an upperdir
 * opened during one command and a stage opened by path after it were
 * on two mounts, and every move into the tree failed (EXDEV). Run in a
 * private mount namespace (Check forks each test).
 */
START_TEST(test_stage_is_on_the_upperdirs_mount)
{
	struct journal	*j;
	struct ls_err	 err;
	char		 up[160], bystage[192], *s;
	int		 rfd, sfd, pathfd;

	ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	snprintf(up, sizeof(up), "%s/upper", top);
	ck_assert_int_eq(mount(top, top, NULL, MS_BIND, NULL), 0);
	rfd = open(up, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ne(rfd, -1);
	ck_assert_int_eq(umount2(top, MNT_DETACH), 0);

	sfd = journal_stage_open(rfd, up, &err);
	ck_assert_msg(sfd != -1, "%s", err.msg);
	j = journal_new(rfd, sfd, statedir);
	s = journal_stage_name(j);
	put(sfd, s, "moved");
	journal_move(j, s, "f");
	ck_assert_msg(journal_commit(j, 2, NULL, NULL, &err) == 0, "%s",
	    err.msg);
	ck_assert_str_eq(get(rfd, "f"), "moved");

	/* what opening it by path gave: another mount, no moves */
	snprintf(bystage, sizeof(bystage), "%s/%s", top, JOURNAL_STAGE_DIR);
	pathfd = open(bystage, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ne(pathfd, -1);
	put(pathfd, s, "by path");
	ck_assert_int_eq(renameat(pathfd, s, rfd, "g"), -1);
	ck_assert_int_eq(errno, EXDEV);

	/* an upperdir that is a mount's root: said, not failed later */
	ck_assert_int_eq(mount(up, up, NULL, MS_BIND, NULL), 0);
	close(rfd);
	rfd = open(up, O_RDONLY | O_DIRECTORY);
	ck_assert_int_eq(journal_stage_open(rfd, up, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "is the root of a mount"));
	umount2(up, MNT_DETACH);
	free(s);
	journal_free(j);
	close(pathfd);
	close(sfd);
	close(rfd);
}
END_TEST

/* Stage each of the n names with its text and journal its move. */
static void
stage_moves(struct journal *j, const char *const *names,
    const char *const *texts, size_t n)
{
	size_t	 i;
	char	*s;

	for (i = 0; i < n; i++) {
		s = journal_stage_name(j);
		put(stagefd, s, texts[i]);
		ck_assert_int_eq(fchmodat(stagefd, s, 0640, 0), 0);
		journal_move(j, s, names[i]);
		free(s);
	}
}

/* Where the log's records end: 0 when it is empty. */
static off_t
wal_end(void)
{
	struct ls_err	 err;
	off_t		 end;

	end = journal_wal_end(statedir, &err);
	ck_assert_msg(end != -1, "%s", err.msg);
	return end;
}

static void
set_gen(const char *text)
{
	char	 p[160];

	snprintf(p, sizeof(p), "%s/gen", statedir);
	unlink(p);
	put_state("gen", text);
}

/*
 * A batch of small new files commits through the log: in place at once,
 * the generation written, one record in the log. If the crash loses
 * the moves and the generation (the log alone was flushed), recovery
 * puts each file back whole, with its mode, and the log is emptied.
 */
START_TEST(test_logged_batch_is_redone_from_the_log)
{
	static const char *const names[] = { "a", "b", "c" };
	static const char *const texts[] = { "alpha", "", "gamma\n" };
	struct journal	*j = journal_new(rootfd, stagefd, statedir);
	struct ls_err	 err;
	struct stat	 st;
	size_t		 i;

	stage_moves(j, names, texts, 3);
	ck_assert_int_eq(journal_commit_logged(j, 5, NULL, NULL, &err), 1);
	for (i = 0; i < 3; i++)
		ck_assert_str_eq(get(rootfd, names[i]), texts[i]);
	ck_assert_int_gt(wal_end(), 0);

	/* the crash kept the log only */
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(unlinkat(rootfd, names[i], 0), 0);
	set_gen("4\n");
	ck_assert_uint_eq(recover(), 5);
	for (i = 0; i < 3; i++) {
		ck_assert_str_eq(get(rootfd, names[i]), texts[i]);
		ck_assert_int_eq(fstatat(rootfd, names[i], &st, 0), 0);
		ck_assert_uint_eq(st.st_mode & 07777, 0640);
	}
	ck_assert_int_eq(wal_end(), 0);
	/* recovering again changes nothing */
	ck_assert_uint_eq(recover(), 5);
	journal_free(j);
}
END_TEST

/*
 * A record torn by the crash (the batch was never acknowledged) is
 * ignored, with what follows it; the records before it are redone.
 */
START_TEST(test_torn_record_ends_the_log)
{
	static const char *const n1[] = { "x" }, *const t1[] = { "one" };
	static const char *const n2[] = { "y" }, *const t2[] = { "two" };
	struct journal	*j = journal_new(rootfd, stagefd, statedir);
	struct ls_err	 err;
	char		 p[160], c;
	off_t		 first;
	int		 fd;

	stage_moves(j, n1, t1, 1);
	ck_assert_int_eq(journal_commit_logged(j, 5, NULL, NULL, &err), 1);
	first = wal_end();
	stage_moves(j, n2, t2, 1);
	ck_assert_int_eq(journal_commit_logged(j, 6, NULL, NULL, &err), 1);
	/* the last byte of its digest was not written */
	snprintf(p, sizeof(p), "%s/wal", statedir);
	ck_assert_int_ge(fd = open(p, O_RDWR), 0);
	ck_assert_int_eq(pread(fd, &c, 1, wal_end() - 1), 1);
	c ^= 0x5a;
	ck_assert_int_eq(pwrite(fd, &c, 1, wal_end() - 1), 1);
	close(fd);
	unlinkat(rootfd, "x", 0);
	unlinkat(rootfd, "y", 0);
	set_gen("4\n");
	ck_assert_uint_eq(recover(), 5);
	ck_assert_str_eq(get(rootfd, "x"), "one");
	ck_assert_ptr_null(get(rootfd, "y"));
	ck_assert_int_gt(first, 0);
	journal_free(j);
}
END_TEST

/*
 * Only moves of small regular files go to the log: a batch that also
 * removes, or moves a bigger file, is left to journal_commit(), after
 * a checkpoint that flushes the tree and empties the log.
 */
START_TEST(test_other_batches_are_not_logged)
{
	static const char *const n1[] = { "f" }, *const t1[] = { "small" };
	struct journal	*j = journal_new(rootfd, stagefd, statedir);
	struct ls_err	 err;
	char		*s, *big = malloc(JOURNAL_WAL_FILE_MAX + 2);

	stage_moves(j, n1, t1, 1);
	ck_assert_int_eq(journal_commit_logged(j, 2, NULL, NULL, &err), 1);
	ck_assert_int_gt(wal_end(), 0);

	stage_moves(j, n1, t1, 1);
	journal_remove(j, "gone");
	ck_assert_int_eq(journal_commit_logged(j, 3, NULL, NULL, &err), 0);
	ck_assert_msg(journal_wal_checkpoint(rootfd, statedir, &err) == 0,
	    "%s", err.msg);
	ck_assert_int_eq(wal_end(), 0);
	ck_assert_msg(journal_commit(j, 3, NULL, NULL, &err) == 0, "%s",
	    err.msg);

	memset(big, 'b', JOURNAL_WAL_FILE_MAX + 1);
	big[JOURNAL_WAL_FILE_MAX + 1] = '\0';
	s = journal_stage_name(j);
	put(stagefd, s, big);
	journal_move(j, s, "big");
	ck_assert_int_eq(journal_commit_logged(j, 4, NULL, NULL, &err), 0);
	ck_assert_msg(journal_commit(j, 4, NULL, NULL, &err) == 0, "%s",
	    err.msg);
	ck_assert_int_eq(wal_end(), 0);
	ck_assert_uint_eq(recover(), 4);
	free(s);
	free(big);
	journal_free(j);
}
END_TEST

/*
 * Emptying the log keeps its file, and the records after a checkpoint
 * are written over those before it. A record of before that the new
 * ones did not reach is still whole in the file, right after the last
 * new one: it must never be redone (here it would bring back a file a
 * later batch removed).
 */
START_TEST(test_records_before_a_checkpoint_are_never_redone)
{
	static const char *const nx[] = { "x" }, *const tx1[] = {
	    "the first version of x, longer than what comes later" };
	static const char *const tx2[] = { "x again" };
	static const char *const ny[] = { "y" }, *const ty[] = {
	    "y, as long as the first x was, ending where it ended" };
	struct journal	*j = journal_new(rootfd, stagefd, statedir);
	struct ls_err	 err;
	off_t		 first;

	stage_moves(j, nx, tx1, 1);
	ck_assert_int_eq(journal_commit_logged(j, 2, NULL, NULL, &err), 1);
	first = wal_end();
	stage_moves(j, nx, tx2, 1);
	ck_assert_int_eq(journal_commit_logged(j, 3, NULL, NULL, &err), 1);

	journal_remove(j, "x");
	ck_assert_int_eq(journal_commit_logged(j, 4, NULL, NULL, &err), 0);
	ck_assert_msg(journal_wal_checkpoint(rootfd, statedir, &err) == 0,
	    "%s", err.msg);
	ck_assert_int_eq(wal_end(), 0);
	ck_assert_msg(journal_commit(j, 4, NULL, NULL, &err) == 0, "%s",
	    err.msg);

	stage_moves(j, ny, ty, 1);
	ck_assert_int_eq(journal_commit_logged(j, 5, NULL, NULL, &err), 1);
	/* y's record lies over x's first one: x's second follows it */
	ck_assert_int_eq(wal_end(), first);

	unlinkat(rootfd, "y", 0);
	set_gen("4\n");
	ck_assert_uint_eq(recover(), 5);
	ck_assert_str_eq(get(rootfd, "y"), ty[0]);
	ck_assert_ptr_null(get(rootfd, "x"));
	journal_free(j);
}
END_TEST

/*
 * Two sessions of one twin (an old receiver not yet gone, a new one)
 * take turns under the twin's lock: the second's record goes after the
 * first's, not over it.
 */
START_TEST(test_two_sessions_log_one_after_the_other)
{
	static const char *const na[] = { "a" }, *const ta[] = { "from one" };
	static const char *const nb[] = { "b" }, *const tb[] = { "from two" };
	struct journal	*j1 = journal_new(rootfd, stagefd, statedir);
	struct journal	*j2 = journal_new(rootfd, stagefd, statedir);
	struct ls_err	 err;

	stage_moves(j1, na, ta, 1);
	ck_assert_int_eq(journal_commit_logged(j1, 2, NULL, NULL, &err), 1);
	stage_moves(j2, nb, tb, 1);
	ck_assert_int_eq(journal_commit_logged(j2, 3, NULL, NULL, &err), 1);

	unlinkat(rootfd, "a", 0);
	unlinkat(rootfd, "b", 0);
	set_gen("1\n");
	ck_assert_uint_eq(recover(), 3);
	ck_assert_str_eq(get(rootfd, "a"), "from one");
	ck_assert_str_eq(get(rootfd, "b"), "from two");
	journal_free(j1);
	journal_free(j2);
}
END_TEST

int
main(void)
{
	const TTest	*tests[] = {
		test_commit_applies_the_whole_batch,
		test_one_move_needs_no_journal,
		test_generation_is_rewritten_in_place,
		test_existing_dir_keeps_children_and_takes_metadata,
		test_partial_journal_is_discarded,
		test_complete_journal_is_finished,
		test_stale_journal_is_ignored,
		test_one_append_journals_on_its_stage,
		test_journal_on_the_stage_is_finished,
		test_one_patch_journals_on_its_stage,
		test_replay_never_undoes_a_later_phase,
		test_commit_splits_conflicting_ops_into_phases,
		test_misfit_ops_are_skipped_and_reported,
		test_moves_share_a_parent_and_still_land_right,
		test_append_writes_the_tail_in_place,
		test_append_replayed_equals_append_once,
		test_append_to_a_shorter_file_is_skipped,
		test_append_to_a_fifo_is_skipped,
		test_patch_rewrites_the_ranges_in_place,
		test_patch_replayed_equals_patch_once,
		test_patch_onto_a_linked_file_is_skipped,
		test_corrupt_journal_is_an_error,
		test_stage_is_on_the_upperdirs_mount,
		test_logged_batch_is_redone_from_the_log,
		test_torn_record_ends_the_log,
		test_other_batches_are_not_logged,
		test_records_before_a_checkpoint_are_never_redone,
		test_two_sessions_log_one_after_the_other,
		NULL
	};

	return test_run("journal", tests, setup, teardown);
}
