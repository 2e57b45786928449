/*
 * config_yaml.c - libyaml events -> a small node tree with positions, plus the
 * error helpers every part of the config loader uses.
 *
 * We build our own tree instead of using yaml_parser_load() because the
 * document API resolves aliases silently and we want to refuse them (they
 * make "the line of the offending node" ambiguous and allow billion-laughs
 * style blow-ups), and because a tree of plain C structs is easier to walk
 * with tables than libyaml's index-based nodes.
 */
#include "config/config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Our schema is at most 4 levels deep; anything much deeper is a mistake or an attack on the stack. */
#define UG_YAML_MAX_DEPTH 32

static int vwrite(ug_cfg_errout_t *eo, unsigned line, unsigned col, const char *fmt, va_list ap)
{
    eo->err = UG_ERR_CONFIG;
    if (eo->buf == NULL || eo->len == 0)
        return -1;
    int n = snprintf(eo->buf, eo->len, "%s:%u:%u: ", eo->source, line, col);
    if (n >= 0 && (size_t)n < eo->len)
        vsnprintf(eo->buf + n, eo->len - (size_t)n, fmt, ap);
    return -1;
}

int ug_cfg_errorf(ug_cfg_errout_t *eo, unsigned line, unsigned col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwrite(eo, line, col, fmt, ap);
    va_end(ap);
    return -1;
}

int ug_cfg_node_errorf(ug_cfg_errout_t *eo, const ug_ynode_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwrite(eo, n->line, n->col, fmt, ap);
    va_end(ap);
    return -1;
}

int ug_cfg_nomem(ug_cfg_errout_t *eo)
{
    eo->err = UG_ERR_NOMEM;
    if (eo->buf != NULL && eo->len > 0)
        snprintf(eo->buf, eo->len, "%s: out of memory", eo->source);
    return -1;
}

const char *ug_cfg_quote(const char *s, size_t len, char *buf, size_t buflen)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, shown = len > 60 ? 57 : len;

    if (buflen < 8) {
        if (buflen > 0)
            buf[0] = '\0';
        return buf;
    }
    buf[o++] = '"';
    size_t i = 0;
    for (; i < shown && o + 6 < buflen; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)ch;
        } else if (ch < 0x20 || ch == 0x7f) {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[ch >> 4];
            buf[o++] = hex[ch & 15];
        } else {
            buf[o++] = (char)ch; /* UTF-8 passes through: the message is for humans */
        }
    }
    if (i < len) {
        /*
         * Cut short (at `shown`, or where buf ran out): the cut must not split
         * a UTF-8 sequence, or the message, which goes to logs that may insist
         * on valid UTF-8, ends in a broken character. Scalars are valid UTF-8
         * (libyaml checks its input), so drop a trailing lead byte whose
         * continuation bytes did not all make it. Found by tests/fuzz/fuzz_config.c.
         */
        size_t lead = o;
        while (lead > 1 && ((unsigned char)buf[lead - 1] & 0xc0) == 0x80)
            lead--;
        if (lead > 1 && (unsigned char)buf[lead - 1] >= 0xc0) {
            unsigned char c = (unsigned char)buf[lead - 1];
            size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
            if (o - (lead - 1) < need)
                o = lead - 1;
        }
    }
    if (i < len && o + 4 < buflen) { /* "..." whenever bytes were left out, whichever limit cut */
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

int ug_ynode_is_null(const ug_ynode_t *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    if (n == NULL || n->type != UG_YNODE_SCALAR || !n->plain)
        return 0;
    for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
        if (n->len == strlen(nulls[i]) && memcmp(n->value, nulls[i], n->len) == 0)
            return 1;
    return 0;
}

void ug_ynode_free(ug_ynode_t *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->count; i++)
        ug_ynode_free(n->items[i]);
    free(n->items);
    free(n->value);
    free(n);
}

typedef struct ybuild {
    yaml_parser_t parser;
    const char *input;
    size_t input_len;
    ug_cfg_errout_t *eo;
} ybuild_t;

/* libyaml's problem, at its mark (reader errors only know a byte offset). */
static int syntax_error(ybuild_t *b)
{
    yaml_parser_t *p = &b->parser;
    if (p->error == YAML_MEMORY_ERROR)
        return ug_cfg_nomem(b->eo);
    const char *problem = p->problem != NULL ? p->problem : "unknown error";
    if (p->error == YAML_READER_ERROR) {
        unsigned line = 1, col = 1;
        for (size_t i = 0; i < p->problem_offset && i < b->input_len; i++) {
            if (b->input[i] == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        return ug_cfg_errorf(b->eo, line, col, "YAML error: %s", problem);
    }
    unsigned line = (unsigned)p->problem_mark.line + 1, col = (unsigned)p->problem_mark.column + 1;
    if (p->context != NULL)
        return ug_cfg_errorf(b->eo, line, col, "YAML syntax error: %s (%s at line %u, column %u)", problem, p->context,
                             (unsigned)p->context_mark.line + 1, (unsigned)p->context_mark.column + 1);
    return ug_cfg_errorf(b->eo, line, col, "YAML syntax error: %s", problem);
}

static int next_event(ybuild_t *b, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&b->parser, ev))
        return syntax_error(b);
    return 0;
}

static int append(ybuild_t *b, ug_ynode_t *parent, ug_ynode_t *child)
{
    size_t c = parent->count;
    if (c == 0 || (c >= 4 && (c & (c - 1)) == 0)) { /* capacity 4, 8, 16, ...: grow when full */
        size_t cap = parent->count == 0 ? 4 : parent->count * 2;
        ug_ynode_t **items = realloc(parent->items, cap * sizeof(*items));
        if (items == NULL) {
            ug_ynode_free(child);
            return ug_cfg_nomem(b->eo);
        }
        parent->items = items;
    }
    parent->items[parent->count++] = child;
    return 0;
}

static int anchor_error(ybuild_t *b, const yaml_event_t *ev, const yaml_char_t *anchor)
{
    char q[96];
    return ug_cfg_errorf(b->eo, (unsigned)ev->start_mark.line + 1, (unsigned)ev->start_mark.column + 1,
                         "anchors and aliases are not supported (%s)",
                         ug_cfg_quote((const char *)anchor, strlen((const char *)anchor), q, sizeof(q)));
}

/* Build the node that starts with *ev (consumed here); NULL after writing an error. */
static ug_ynode_t *build_node(ybuild_t *b, yaml_event_t *ev, int depth)
{
    yaml_event_type_t end_type;
    ug_ynode_t *n = calloc(1, sizeof(*n));

    if (n == NULL) {
        ug_cfg_nomem(b->eo);
        goto fail_event;
    }
    n->line = (unsigned)ev->start_mark.line + 1;
    n->col = (unsigned)ev->start_mark.column + 1;
    if (depth > UG_YAML_MAX_DEPTH) {
        ug_cfg_node_errorf(b->eo, n, "YAML nesting is too deep (more than %d levels)", UG_YAML_MAX_DEPTH);
        goto fail_event;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        if (ev->data.scalar.anchor != NULL) {
            anchor_error(b, ev, ev->data.scalar.anchor);
            goto fail_event;
        }
        n->type = UG_YNODE_SCALAR;
        n->len = ev->data.scalar.length;
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        if ((n->value = malloc(n->len + 1)) == NULL) {
            ug_cfg_nomem(b->eo);
            goto fail_event;
        }
        memcpy(n->value, ev->data.scalar.value, n->len);
        n->value[n->len] = '\0';
        yaml_event_delete(ev);
        return n;
    case YAML_SEQUENCE_START_EVENT:
        if (ev->data.sequence_start.anchor != NULL) {
            anchor_error(b, ev, ev->data.sequence_start.anchor);
            goto fail_event;
        }
        n->type = UG_YNODE_SEQUENCE;
        end_type = YAML_SEQUENCE_END_EVENT;
        break;
    case YAML_MAPPING_START_EVENT:
        if (ev->data.mapping_start.anchor != NULL) {
            anchor_error(b, ev, ev->data.mapping_start.anchor);
            goto fail_event;
        }
        n->type = UG_YNODE_MAPPING;
        end_type = YAML_MAPPING_END_EVENT;
        break;
    case YAML_ALIAS_EVENT:
        anchor_error(b, ev, ev->data.alias.anchor);
        goto fail_event;
    default: /* the parser guarantees a node here; be defensive anyway */
        ug_cfg_node_errorf(b->eo, n, "YAML error: unexpected event");
        goto fail_event;
    }
    yaml_event_delete(ev);

    for (;;) {
        yaml_event_t child_ev;
        if (next_event(b, &child_ev) != 0)
            goto fail;
        if (child_ev.type == end_type) {
            yaml_event_delete(&child_ev);
            return n;
        }
        ug_ynode_t *child = build_node(b, &child_ev, depth + 1);
        if (child == NULL || append(b, n, child) != 0)
            goto fail;
    }

fail_event:
    yaml_event_delete(ev);
fail:
    ug_ynode_free(n);
    return NULL;
}

int ug_yaml_parse(const char *yaml, size_t len, ug_ynode_t **root, ug_cfg_errout_t *eo)
{
    ybuild_t b = {.input = yaml, .input_len = len, .eo = eo};
    yaml_event_t ev;
    ug_ynode_t *doc = NULL;
    int ret = -1;

    *root = NULL;
    if (!yaml_parser_initialize(&b.parser))
        return ug_cfg_nomem(eo);
    yaml_parser_set_input_string(&b.parser, (const unsigned char *)yaml, len);

    if (next_event(&b, &ev) != 0) /* STREAM-START */
        goto out;
    yaml_event_delete(&ev);
    for (;;) {
        if (next_event(&b, &ev) != 0)
            goto out;
        if (ev.type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        /* DOCUMENT-START: the parser emits nothing else at this level */
        if (doc != NULL) {
            ug_cfg_errorf(eo, (unsigned)ev.start_mark.line + 1, (unsigned)ev.start_mark.column + 1,
                          "only one YAML document is allowed");
            yaml_event_delete(&ev);
            goto out;
        }
        yaml_event_delete(&ev);
        if (next_event(&b, &ev) != 0)
            goto out;
        if ((doc = build_node(&b, &ev, 0)) == NULL)
            goto out;
        if (next_event(&b, &ev) != 0) /* DOCUMENT-END */
            goto out;
        yaml_event_delete(&ev);
    }
    if (ug_ynode_is_null(doc)) {
        ug_ynode_free(doc);
        doc = NULL;
    }
    *root = doc;
    doc = NULL;
    ret = 0;
out:
    ug_ynode_free(doc);
    yaml_parser_delete(&b.parser);
    return ret;
}
