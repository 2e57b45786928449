/*
 * conn_share.h - each client address's share of the open connections, counted
 * across every event-loop thread (max_connections_per_client): one client
 * cannot hold every connection slot and lock the others out.
 *
 * A client is its IP address: IPv4 addresses are counted as their IPv4-mapped
 * IPv6 form, so one address is one key whichever listener it came in on.
 *
 * Thread safety: acquire and release may be called from any thread (one mutex;
 * taken once per accepted and per closed connection).
 * Ownership: the caller frees the table with ug_conn_share_free after every
 * thread has stopped using it.
 */
#ifndef UG_SERVER_CONN_SHARE_H
#define UG_SERVER_CONN_SHARE_H

#include <stddef.h>
#include <sys/socket.h>

#define UG_CONN_SHARE_KEY_LEN 16

typedef struct ug_conn_share ug_conn_share_t;

typedef enum ug_share_result {
    UG_SHARE_TAKEN = 0, /* counted: release it when the connection closes */
    UG_SHARE_FULL,      /* the address holds its limit already: refuse the connection (nothing counted) */
    UG_SHARE_NOMEM,     /* could not count it: refuse the connection (the edge fails closed; nothing counted) */
} ug_share_result_t;

/* A table allowing `limit` connections per address (0: no limit: acquire always takes). NULL when out of memory. */
ug_conn_share_t *ug_conn_share_new(size_t limit);
void ug_conn_share_free(ug_conn_share_t *t);

/* The key of a peer address (AF_INET or AF_INET6); -1 for any other family (e.g. a unix socket: not counted). */
int ug_conn_share_key(const struct sockaddr *sa, socklen_t len, unsigned char key[UG_CONN_SHARE_KEY_LEN]);

/* Count one more connection of `key`, unless it holds `limit` already. */
ug_share_result_t ug_conn_share_acquire(ug_conn_share_t *t, const unsigned char key[UG_CONN_SHARE_KEY_LEN]);
/* One connection of `key` (taken by acquire) closed. */
void ug_conn_share_release(ug_conn_share_t *t, const unsigned char key[UG_CONN_SHARE_KEY_LEN]);
/* How many connections `key` holds now. */
size_t ug_conn_share_count(ug_conn_share_t *t, const unsigned char key[UG_CONN_SHARE_KEY_LEN]);
/* How many addresses hold at least one connection (entries are freed at zero: the table does not grow with history). */
size_t ug_conn_share_addresses(ug_conn_share_t *t);

#endif
