/*
 * body_rate.h - the minimum body rate (timeouts.body_min_rate over windows
 * of timeouts.body_rate_window): a body is measured over consecutive windows
 * from its first byte's read; one window in which fewer than
 * body_min_rate x window bytes arrived ends the request with 408. A client
 * trickling a byte now and then never trips body_idle, which only measures
 * silence; this bounds what such a body can hold (a connection, an upload's
 * open files) to one window.
 */
#ifndef UG_LOOP_BODY_RATE_H
#define UG_LOOP_BODY_RATE_H

#include <stdint.h>

/* Whether `bytes` received over `window_ms` meet `min_rate` bytes per second. min_rate 0 (off): always. */
int ug_body_rate_ok(uint64_t bytes, uint64_t window_ms, uint64_t min_rate);

/* The 408 message. */
#define UG_BODY_RATE_MESSAGE "the request body arrived slower than timeouts.body_min_rate"

#endif
