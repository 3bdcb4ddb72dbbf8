/*
 * ping: `layersync ping [PEER]` opens the same SSH session the shipper
 * uses (key auth, pinned host key), runs `layersync version` on the
 * peer and reports the round trip. It needs no daemon.
 */
#ifndef LS_PING_H
#define LS_PING_H

struct conf;

int	ping_peers(const struct conf *, const char *only);

#endif
