/*
 * conn_share.c - see conn_share.h. A chained hash table of the addresses that
 * hold connections; an entry lives while its count is not zero.
 */
#include "server/conn_share.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 4096 /* a power of two; chains stay short for tens of thousands of clients */

struct entry {
    struct entry *next;
    unsigned char key[UG_CONN_SHARE_KEY_LEN];
    size_t count;
};

struct ug_conn_share {
    pthread_mutex_t lock;
    size_t limit;
    size_t addresses;
    struct entry *buckets[BUCKETS];
};

ug_conn_share_t *ug_conn_share_new(size_t limit)
{
    ug_conn_share_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    pthread_mutex_init(&t->lock, NULL);
    t->limit = limit;
    return t;
}

void ug_conn_share_free(ug_conn_share_t *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < BUCKETS; ++i) {
        for (struct entry *e = t->buckets[i], *next; e != NULL; e = next) {
            next = e->next;
            free(e);
        }
    }
    pthread_mutex_destroy(&t->lock);
    free(t);
}

int ug_conn_share_key(const struct sockaddr *sa, socklen_t len, unsigned char key[UG_CONN_SHARE_KEY_LEN])
{
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, UG_CONN_SHARE_KEY_LEN);
        return 0;
    }
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}; /* ::ffff:a.b.c.d */
        memcpy(key, mapped, sizeof(mapped));
        memcpy(key + sizeof(mapped), &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 0;
    }
    return -1;
}

/* FNV-1a: the key is not chosen by the client beyond its own address, so no keyed hash is needed. */
static size_t bucket_of(const unsigned char *key)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < UG_CONN_SHARE_KEY_LEN; ++i)
        h = (h ^ key[i]) * 16777619u;
    return h & (BUCKETS - 1);
}

/* The entry of `key` and the link that points to it; *link is NULL-valued when absent. Under the lock. */
static struct entry **find(ug_conn_share_t *t, const unsigned char *key)
{
    struct entry **link = &t->buckets[bucket_of(key)];
    while (*link != NULL && memcmp((*link)->key, key, UG_CONN_SHARE_KEY_LEN) != 0)
        link = &(*link)->next;
    return link;
}

ug_share_result_t ug_conn_share_acquire(ug_conn_share_t *t, const unsigned char key[UG_CONN_SHARE_KEY_LEN])
{
    ug_share_result_t r = UG_SHARE_TAKEN;
    pthread_mutex_lock(&t->lock);
    struct entry **link = find(t, key);
    if (*link == NULL) {
        if ((*link = calloc(1, sizeof(**link))) == NULL) {
            r = UG_SHARE_NOMEM;
            goto Unlock;
        }
        memcpy((*link)->key, key, UG_CONN_SHARE_KEY_LEN);
        ++t->addresses;
    }
    if (t->limit != 0 && (*link)->count >= t->limit)
        r = UG_SHARE_FULL; /* an entry at its limit has a count: it is never left at zero here */
    else
        ++(*link)->count;
Unlock:
    pthread_mutex_unlock(&t->lock);
    return r;
}

void ug_conn_share_release(ug_conn_share_t *t, const unsigned char key[UG_CONN_SHARE_KEY_LEN])
{
    pthread_mutex_lock(&t->lock);
    struct entry **link = find(t, key), *e = *link;
    if (e != NULL && --e->count == 0) {
        *link = e->next;
        free(e);
        --t->addresses;
    }
    pthread_mutex_unlock(&t->lock);
}

size_t ug_conn_share_count(ug_conn_share_t *t, const unsigned char key[UG_CONN_SHARE_KEY_LEN])
{
    pthread_mutex_lock(&t->lock);
    struct entry *e = *find(t, key);
    size_t n = e != NULL ? e->count : 0;
    pthread_mutex_unlock(&t->lock);
    return n;
}

size_t ug_conn_share_addresses(ug_conn_share_t *t)
{
    pthread_mutex_lock(&t->lock);
    size_t n = t->addresses;
    pthread_mutex_unlock(&t->lock);
    return n;
}
