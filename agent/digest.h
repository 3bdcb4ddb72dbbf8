/*
 * digest: the SHA-256 both ends of an append compare (frame.h, PREFIX):
 * the standby of the bytes its twin's file holds, the primary of the
 * same length of its own file.
 */
#ifndef LS_DIGEST_H
#define LS_DIGEST_H

#include <stdint.h>

#include "frame.h"	/* FRAME_DIGEST_LEN */

/* SHA-256 of fd's first len bytes (read with pread) into md. 0, or -1
 * with errno: EIO if fd holds fewer bytes, ENOMEM if libcrypto failed. */
int	 digest_prefix(int fd, uint64_t len, unsigned char *md);

#endif
