/*
 * body_rate.c - see body_rate.h.
 */
#include "loop/body_rate.h"

int ug_body_rate_ok(uint64_t bytes, uint64_t window_ms, uint64_t min_rate)
{
    /* bytes / (window_ms / 1000) >= min_rate, without division or overflow (both products fit 128 bits) */
    return (unsigned __int128)bytes * 1000 >= (unsigned __int128)min_rate * window_ms;
}
