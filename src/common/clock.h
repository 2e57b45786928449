/*
 * common/clock.h - the wall clock in whole seconds, for JWT claims (exp, nbf, iat) and other Unix times compared with
 * what other processes wrote.
 *
 * Not time(NULL): glibc answers it from the kernel's coarse clock (the vDSO's copy, updated once per tick), which
 * around a second boundary can still show the previous second after another process's clock_gettime(CLOCK_REALTIME)
 * (Python's time.time(), an issuer on the same host) already showed the next one. A token stamped `iat` in that
 * second would then look issued in the future and be refused with the default leeway of 0 s.
 */
#ifndef UG_COMMON_CLOCK_H
#define UG_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t ug_wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

#endif
