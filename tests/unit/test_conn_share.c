/*
 * conn_share: the per-address count of open connections behind
 * max_connections_per_client.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "server/conn_share.h"

static void key4(const char *ip, unsigned char key[UG_CONN_SHARE_KEY_LEN])
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    inet_pton(AF_INET, ip, &sin.sin_addr);
    cr_assert_eq(ug_conn_share_key((struct sockaddr *)&sin, sizeof(sin), key), 0);
}

static void key6(const char *ip, unsigned char key[UG_CONN_SHARE_KEY_LEN])
{
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, ip, &sin6.sin6_addr);
    cr_assert_eq(ug_conn_share_key((struct sockaddr *)&sin6, sizeof(sin6), key), 0);
}

Test(conn_share, one_address_is_held_to_its_limit_others_are_not)
{
    ug_conn_share_t *t = ug_conn_share_new(3);
    unsigned char a[16], b[16];
    key4("127.0.0.1", a);
    key4("127.0.0.2", b);
    for (int i = 0; i < 3; ++i)
        cr_assert_eq(ug_conn_share_acquire(t, a), UG_SHARE_TAKEN);
    cr_assert_eq(ug_conn_share_acquire(t, a), UG_SHARE_FULL);
    cr_assert_eq(ug_conn_share_count(t, a), 3, "a refused connection is not counted");
    cr_assert_eq(ug_conn_share_acquire(t, b), UG_SHARE_TAKEN, "another address still gets in");
    ug_conn_share_release(t, a);
    cr_assert_eq(ug_conn_share_acquire(t, a), UG_SHARE_TAKEN, "a closed connection frees its slot");
    cr_assert_eq(ug_conn_share_addresses(t), 2);
    for (int i = 0; i < 3; ++i)
        ug_conn_share_release(t, a);
    ug_conn_share_release(t, b);
    cr_assert_eq(ug_conn_share_addresses(t), 0, "entries go at zero: the table does not keep every address ever seen");
    cr_assert_eq(ug_conn_share_count(t, a), 0);
    ug_conn_share_free(t);
}

Test(conn_share, zero_is_no_limit)
{
    ug_conn_share_t *t = ug_conn_share_new(0);
    unsigned char a[16];
    key4("10.0.0.1", a);
    for (int i = 0; i < 1000; ++i)
        cr_assert_eq(ug_conn_share_acquire(t, a), UG_SHARE_TAKEN);
    cr_assert_eq(ug_conn_share_count(t, a), 1000);
    ug_conn_share_free(t); /* with entries left: freed too (ASan) */
}

Test(conn_share, ipv4_is_its_mapped_ipv6_form)
{
    unsigned char a[16], m[16], other[16];
    key4("192.0.2.7", a);
    key6("::ffff:192.0.2.7", m);
    key6("2001:db8::7", other);
    cr_assert_eq(memcmp(a, m, 16), 0);
    cr_assert_neq(memcmp(a, other, 16), 0);
    struct sockaddr sa = {.sa_family = AF_UNIX};
    cr_assert_eq(ug_conn_share_key(&sa, sizeof(sa), a), -1);
}

/* Many addresses hashing into the same table, and threads taking and giving back at once (run under TSan/ASan). */
static ug_conn_share_t *shared;

static void *churn(void *arg)
{
    unsigned char k[16];
    char ip[32];
    for (int round = 0; round < 200; ++round) {
        for (int i = 0; i < 50; ++i) {
            snprintf(ip, sizeof(ip), "10.%d.%d.1", (int)(intptr_t)arg, i);
            key4(ip, k);
            cr_assert_eq(ug_conn_share_acquire(shared, k), UG_SHARE_TAKEN);
        }
        for (int i = 0; i < 50; ++i) {
            snprintf(ip, sizeof(ip), "10.%d.%d.1", (int)(intptr_t)arg, i);
            key4(ip, k);
            ug_conn_share_release(shared, k);
        }
    }
    return NULL;
}

Test(conn_share, threads)
{
    shared = ug_conn_share_new(1);
    pthread_t t[4];
    for (intptr_t i = 0; i < 4; ++i)
        pthread_create(&t[i], NULL, churn, (void *)i);
    for (int i = 0; i < 4; ++i)
        pthread_join(t[i], NULL);
    cr_assert_eq(ug_conn_share_addresses(shared), 0);
    ug_conn_share_free(shared);
}
