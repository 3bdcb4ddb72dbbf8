/*
 * frame: the replication protocol spoken between the primary's agent
 * and `layersync serve --stdio` on the standby, over one SSH channel.
 *
 * Every frame is an 8-byte header and a payload:
 *
 *	u32 length	payload bytes, at most FRAME_MAX_PAYLOAD
 *	u8  type	enum frame_type
 *	u8  flags	0 (reserved)
 *	u16 reserved	0
 *
 * Integers are big-endian. A "str" is u16 length + bytes (no NUL
 * inside, at most FRAME_MAX_STR); a "blob" is u32 length + bytes.
 *
 *	HELLO	 both	u32 magic "LSYN", u16 version, str node
 *	OPEN	 p->s	str container		make it the current tree
 *	OPENED	 s->p	u64 acked generation	last batch made durable
 *	ENTRY	 p->s	str path, u8 kind, u32 mode, u32 uid, u32 gid,
 *			i64 mtime sec, u32 mtime nsec, u64 rdev, u64 size,
 *			str target (symlink or hard link source),
 *			u16 nxattr, nxattr * (str name, blob value)
 *	DATA	 p->s	u64 offset, bytes	content of the last ENTRY
 *	END	 p->s	(empty)			the last ENTRY is complete
 *	REMOVE	 p->s	str path
 *	RENAME	 p->s	str from, str to
 *	COMMIT	 p->s	u64 generation		end of a batch
 *	ACK	 s->p	u64 generation		that batch is durable
 *	ERROR	 both	str message		the sender gives up
 *	TWIN	 p->s	str name, str image, str workdir, str user,
 *			str network, then five lists, each u16 count +
 *			strs: cmd, entrypoint, env, labels, expose
 *	TWIN_OK	 s->p	(empty)			the stopped twin exists
 *	SIGREQ	 p->s	str path	signature of the twin's file, please
 *	SIG	 s->p	bytes		signature of the oldest open SIGREQ
 *	SIGEND	 s->p	u64 ok		its end (0: no regular file there)
 *	DELTA	 p->s	bytes		librsync delta of the last ENTRY, a
 *					regular file whose target names its
 *					basis on the twin (instead of DATA)
 *	NEED_IMAGE s->p	(empty)		the TWIN's image is missing here
 *	IMAGE	 p->s	bytes		`save` output of that image
 *	IMAGE_END p->s	(empty)		all of it: load, then create the twin
 *	SKIPPED	 s->p	str path	an operation of the batch being
 *					acknowledged did not fit the twin's
 *					tree (the primary's tree changed while
 *					it was read): ship that path again
 *	DIVERGED s->p	str path	after OPEN of a twin that was the
 *					primary until its demotion: this path
 *					may differ from what the new primary
 *					acknowledged (changed there after the
 *					last batch it shipped): ship it again
 *	HANDOVER s->p	u64 generation	instead of OPENED after DIVERGED
 *					frames: the twin's generation is the
 *					last one it had acknowledged as the
 *					primary; keep the index, do not reset
 *	OPEN_CKPT p->s	str container		make its checkpoint tree (the
 *					last complete checkpoint the twin
 *					holds, state_dir/twins/NAME/ckpt)
 *					the current tree; answered by OPENED.
 *					One batch carries one whole
 *					checkpoint, so the journal makes
 *					its replacement atomic
 *	PREFIXREQ p->s	u64 length, str path	the digest of the first
 *					length bytes of the twin's file, if
 *					it is a regular file of just that
 *					length with one link, please
 *	PREFIX	 s->p	bytes		the answer to the oldest open
 *					SIGREQ or PREFIXREQ: 16 bytes, or
 *					none (no such file: send it whole)
 *	APPEND	 p->s	u64 offset	the next ENTRY, a regular file, is
 *					its twin's file (which holds offset
 *					bytes, their digest confirmed by
 *					PREFIX) with the bytes from offset
 *					on: DATA frames carry only those
 *	PATCH	 p->s	n * (u64 offset, u64 length), n at most
 *			FRAME_MAX_RANGES, sorted and apart: the next
 *			ENTRY, a regular file, is its twin's file (whose
 *			block sums, asked by BLOCKREQ, matched ours block
 *			for block outside them) with these ranges rewritten
 *			in place and cut to the entry's size: DATA frames
 *			carry only those ranges
 *	BLOCKREQ p->s	u64 size, u32 block_len, str path	the block
 *			sums (digest.h) of the twin's file, if it is a
 *			regular file of just that size, please; block_len
 *			a power of two from FRAME_BLOCK_MIN to
 *			FRAME_BLOCK_MAX, cutting size into at most
 *			FRAME_MAX_BLOCKS blocks. Answered like a SIGREQ:
 *			SIG frames, then SIGEND (0: no such file)
 *
 * The receiver trusts nothing: frame_decode() bounds every length
 * against the frame type before a payload is looked at, and paths are
 * validated again where they are applied. This module does no I/O and
 * no logging, so it can be fuzzed.
 */
#ifndef LS_FRAME_H
#define LS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define FRAME_MAGIC		0x4c53594eU	/* "LSYN" */
#define FRAME_VERSION		6
#define FRAME_HDR_LEN		8
#define FRAME_MAX_DATA		(256 * 1024)	/* DATA bytes per frame */
#define FRAME_MAX_PAYLOAD	(FRAME_MAX_DATA + 64)
#define FRAME_MAX_STR		4096		/* paths and names */
#define FRAME_MAX_XATTRS	64
#define FRAME_MAX_XATTR_VALUE	65536
#define FRAME_MAX_LIST		1024	/* strings in one TWIN list */
#define FRAME_DIGEST_LEN	16	/* PREFIX: XXH3-128 (digest.h) */
#define FRAME_BLOCK_MIN		4096U	/* BLOCKREQ */
#define FRAME_BLOCK_MAX		(64U * 1024 * 1024)
#define FRAME_MAX_BLOCKS	65536U	/* sums of one file: 1 MiB at most */
#define FRAME_MAX_RANGES	256	/* PATCH: ranges of one file */

enum frame_type {
	FRAME_HELLO = 1,
	FRAME_OPEN,
	FRAME_OPENED,
	FRAME_ENTRY,
	FRAME_DATA,
	FRAME_END,
	FRAME_REMOVE,
	FRAME_RENAME,
	FRAME_COMMIT,
	FRAME_ACK,
	FRAME_ERROR,
	FRAME_TWIN,
	FRAME_TWIN_OK,
	FRAME_SKIPPED,
	FRAME_SIGREQ,
	FRAME_SIG,
	FRAME_SIGEND,
	FRAME_DELTA,
	FRAME_NEED_IMAGE,
	FRAME_IMAGE,
	FRAME_IMAGE_END,
	FRAME_DIVERGED,
	FRAME_HANDOVER,
	FRAME_OPEN_CKPT,
	FRAME_PREFIXREQ,
	FRAME_PREFIX,
	FRAME_APPEND,
	FRAME_PATCH,
	FRAME_BLOCKREQ,
	FRAME__MAX
};

enum entry_kind {
	ENTRY_REG = 1,
	ENTRY_DIR,
	ENTRY_SYMLINK,
	ENTRY_HARDLINK,
	ENTRY_WHITEOUT,
	ENTRY_FIFO,
	ENTRY_CHR,
	ENTRY_BLK,
	ENTRY__MAX
};

/* A view into the bytes it was decoded from: valid while they are. */
struct frame_str {
	const char	*p;
	size_t		 len;
};

/* A byte range of a file: PATCH. */
struct frame_range {
	uint64_t	 off, len;
};

struct frame_xattr {
	struct frame_str	 name;
	const uint8_t		*value;
	size_t			 len;
};

struct frame_entry {
	struct frame_str	 path;
	enum entry_kind		 kind;
	uint32_t		 mode, uid, gid;
	int64_t			 mtime_sec;
	uint32_t		 mtime_nsec;
	uint64_t		 rdev, size;
	struct frame_str	 target;
	unsigned		 nxattr;
	struct frame_xattr	 xattr[FRAME_MAX_XATTRS];
};

struct frame {
	enum frame_type		 type;
	const uint8_t		*payload;
	size_t			 len;
	union {
		struct {
			uint16_t		 version;
			struct frame_str	 node;
		} hello;
		struct frame_str	 str;	/* OPEN, OPEN_CKPT, REMOVE... */
		uint64_t		 gen;	/* OPENED, HANDOVER, COMMIT, ACK,
						 * APPEND's offset */
		struct frame_entry	 entry;
		struct {
			uint64_t		 offset;
			const uint8_t		*p;
			size_t			 len;
		} data;			/* DATA; SIG, DELTA, PREFIX, PATCH:
					 * offset 0 */
		struct {
			uint64_t		 len;
			struct frame_str	 path;
		} prefix;		/* PREFIXREQ */
		struct {
			uint64_t		 size;
			uint32_t		 block_len;
			struct frame_str	 path;
		} blockreq;
		struct {
			struct frame_str	 from, to;
		} rename;
	} u;
};

struct twin_spec;

int	 frame_decode(const uint8_t *, size_t, struct frame *, size_t *used,
	    struct ls_err *);
const char *frame_type_name(int);

void	 frame_put_hello(struct buf *, const char *node);
void	 frame_put_str(struct buf *, enum frame_type, const char *);
void	 frame_put_gen(struct buf *, enum frame_type, uint64_t);
void	 frame_put_entry(struct buf *, const struct frame_entry *);
void	 frame_put_data(struct buf *, uint64_t offset, const void *, size_t);
void	 frame_put_bytes(struct buf *, enum frame_type, const void *, size_t);
void	 frame_put_empty(struct buf *, enum frame_type);
void	 frame_put_rename(struct buf *, const char *, const char *);
void	 frame_put_prefixreq(struct buf *, const char *, uint64_t len);
void	 frame_put_blockreq(struct buf *, const char *, uint64_t size,
	    uint32_t block_len);
/* The wire's big-endian integers of n bytes (n at most 8), for the
 * formats carried inside frames (digest.h's block sums). */
uint64_t frame_be_get(const void *, size_t n);
void	 frame_be_put(struct buf *, uint64_t, size_t n);
/* May a file of size bytes be summed in blocks of block_len? */
int	 frame_block_len_ok(uint64_t size, uint64_t block_len);
void	 frame_put_patch(struct buf *, const struct frame_range *, size_t);
size_t	 frame_patch_ranges(const struct frame *, struct frame_range *);
void	 frame_put_twin(struct buf *, const struct twin_spec *);
void	 frame_get_twin(const struct frame *, struct twin_spec *);

#endif
