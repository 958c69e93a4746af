/*
 * oso.c - C guest SDK for osohost plugins: the oso_abi_v1 and oso_alloc
 * exports, the compact-encoding reader and appenders, and result helpers.
 * See oso.h.
 */
#include "oso.h"

#include <stdlib.h>
#include <string.h>

/* ---- Exports ------------------------------------------------------------ */

OSO_EXPORT("oso_abi_v1") int32_t oso_abi_v1(void) { return OSO_ABI_MINOR; }

/* The input buffer: one block, grown on demand, reused by every call. */
static uint8_t *input;
static size_t input_cap;

OSO_EXPORT("oso_alloc") void *oso_alloc(int32_t size) {
    if (size <= 0) {
        return NULL;
    }
    if ((size_t)size > input_cap) {
        size_t cap = input_cap * 2;
        if (cap < (size_t)size) {
            cap = (size_t)size;
        }
        free(input); /* the old contents are not needed */
        input = malloc(cap);
        input_cap = input ? cap : 0;
    }
    return input;
}

/* ---- Strings -------------------------------------------------------------- */

oso_str oso_cstr(const char *s) {
    oso_str r = {s ? s : "", s ? strlen(s) : 0};
    return r;
}

int oso_str_eq(oso_str s, const char *c) {
    size_t n = strlen(c);
    return s.len == n && memcmp(s.ptr, c, n) == 0;
}

/* ---- Reader --------------------------------------------------------------- */

static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Splits one length-prefixed string off *p; 0 on success, -1 if truncated. */
static int cut(const uint8_t **p, const uint8_t *end, oso_str *s) {
    if ((size_t)(end - *p) < 4) {
        return -1;
    }
    uint32_t n = get_u32(*p);
    if ((size_t)(end - *p) - 4 < n) {
        return -1;
    }
    s->ptr = (const char *)*p + 4;
    s->len = n;
    *p += 4 + (size_t)n;
    return 0;
}

int oso_reader_init(oso_reader *r, const void *buf, size_t len) {
    const uint8_t *p = buf;
    r->p = r->end = p;
    r->left = r->count = 0;
    if (len == 0) {
        return 0;
    }
    if (len < 4) {
        return -1;
    }
    uint32_t n = get_u32(p);
    if ((uint64_t)n * 12 > (uint64_t)(len - 4)) { /* three lengths each */
        return -1;
    }
    const uint8_t *q = p + 4, *end = p + len;
    oso_str s;
    for (uint32_t i = 0; i < n; i++) {
        if (cut(&q, end, &s) || cut(&q, end, &s) || cut(&q, end, &s)) {
            return -1;
        }
    }
    if (q != end) {
        return -1;
    }
    r->p = p + 4;
    r->end = end;
    r->left = r->count = n;
    return 0;
}

uint32_t oso_reader_count(const oso_reader *r) { return r->count; }

int oso_reader_next(oso_reader *r, oso_document *d) {
    if (r->left == 0) {
        return 0;
    }
    /* checked by oso_reader_init */
    cut(&r->p, r->end, &d->id);
    cut(&r->p, r->end, &d->content);
    cut(&r->p, r->end, &d->metadata);
    r->left--;
    return 1;
}

/* ---- Buffers -------------------------------------------------------------- */

void oso_buf_reset(oso_buf *b) {
    b->len = 0;
    b->failed = 0;
}

void oso_buf_free(oso_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}

static int grow(oso_buf *b, size_t n) {
    if (b->failed) {
        return -1;
    }
    if (b->cap - b->len >= n) {
        return 0;
    }
    if (n > SIZE_MAX / 2 - b->len) {
        b->failed = 1;
        return -1;
    }
    size_t cap = b->cap ? b->cap * 2 : 256;
    while (cap < b->len + n) {
        cap *= 2;
    }
    uint8_t *d = realloc(b->data, cap);
    if (!d) {
        b->failed = 1;
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

int oso_buf_append(oso_buf *b, const void *p, size_t n) {
    if (grow(b, n)) {
        return -1;
    }
    if (n) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    return 0;
}

int oso_buf_append_str(oso_buf *b, oso_str s) { return oso_buf_append(b, s.ptr, s.len); }

int oso_buf_append_u32(oso_buf *b, uint32_t v) {
    uint8_t p[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return oso_buf_append(b, p, 4);
}

int oso_buf_append_lstr(oso_buf *b, oso_str s) {
    if (s.len > UINT32_MAX) {
        b->failed = 1;
        return -1;
    }
    if (oso_buf_append_u32(b, (uint32_t)s.len)) {
        return -1;
    }
    return oso_buf_append_str(b, s);
}

int oso_buf_append_int(oso_buf *b, int64_t v) {
    char tmp[24];
    size_t i = sizeof tmp;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) {
        tmp[--i] = '-';
    }
    return oso_buf_append(b, tmp + i, sizeof tmp - i);
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if invalid. */
static size_t utf8_len(const uint8_t *s, size_t n) {
    uint8_t c = s[0];
    size_t len;
    uint32_t min;
    if (c < 0x80) {
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        len = 2, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len) {
        return 0;
    }
    uint32_t r = c & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        r = r << 6 | (s[i] & 0x3f);
    }
    if (r < min || r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff)) {
        return 0;
    }
    return len;
}

int oso_buf_append_json_string(oso_buf *b, oso_str s) {
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = (const uint8_t *)s.ptr;
    size_t start = 0, i = 0;
    if (oso_buf_append(b, "\"", 1)) {
        return -1;
    }
    while (i < s.len) {
        uint8_t c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t n = utf8_len(p + i, s.len - i);
            if (n) {
                i += n;
                continue;
            }
        }
        oso_buf_append(b, p + start, i - start);
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            if (c >= 0x80) { /* invalid UTF-8 byte */
                memcpy(esc, "\\ufffd", 6);
            } else {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 0xf];
            }
            n = 6;
        }
        oso_buf_append(b, esc, n);
        i++;
        start = i;
    }
    oso_buf_append(b, p + start, s.len - start);
    return oso_buf_append(b, "\"", 1);
}

/* ---- Documents and statuses ------------------------------------------------ */

int oso_list_begin(oso_list *l, oso_buf *b) {
    l->buf = b;
    l->start = b->len;
    l->n = 0;
    return oso_buf_append_u32(b, 0);
}

int oso_list_add(oso_list *l, oso_str id, oso_str content, oso_str metadata) {
    oso_buf_append_lstr(l->buf, id);
    oso_buf_append_lstr(l->buf, content);
    if (oso_buf_append_lstr(l->buf, metadata)) {
        return -1;
    }
    l->n++;
    return 0;
}

int oso_list_add_document(oso_list *l, const oso_document *d) {
    return oso_list_add(l, d->id, d->content, d->metadata);
}

void oso_list_end(oso_list *l) {
    oso_buf *b = l->buf;
    if (b->failed || b->len < l->start + 4) {
        return;
    }
    uint8_t *p = b->data + l->start;
    p[0] = (uint8_t)l->n;
    p[1] = (uint8_t)(l->n >> 8);
    p[2] = (uint8_t)(l->n >> 16);
    p[3] = (uint8_t)(l->n >> 24);
}

int oso_append_status(oso_buf *b, int32_t code, oso_str status,
                      const oso_status_error *errors, size_t n_errors, oso_str extra) {
    oso_buf_append_u32(b, (uint32_t)code);
    oso_buf_append_lstr(b, status);
    oso_buf_append_u32(b, (uint32_t)n_errors);
    for (size_t i = 0; i < n_errors; i++) {
        oso_buf_append_lstr(b, errors[i].code);
        oso_buf_append_lstr(b, errors[i].message);
    }
    return oso_buf_append_lstr(b, extra);
}

/* ---- Results --------------------------------------------------------------- */

int32_t oso_output(int32_t kind, const void *p, size_t n) {
    if (n > INT32_MAX) {
        return OSO_RESULT_FAILED;
    }
    return oso_host_output(kind, p, (int32_t)n) < 0 ? OSO_RESULT_FAILED : OSO_RESULT_OK;
}

int32_t oso_output_json(oso_str json) { return oso_output(OSO_OUTPUT_JSON, json.ptr, json.len); }

int32_t oso_output_buf(int32_t kind, const oso_buf *b) {
    if (b->failed) {
        oso_log(OSO_LOG_ERROR, OSO_STR("oso: output buffer: out of memory"));
        return OSO_RESULT_FAILED; /* no error reported: the host answers a generic 500 */
    }
    return oso_output(kind, b->data, b->len);
}

int32_t oso_output_list(oso_list *l) {
    oso_list_end(l);
    return oso_output_buf(OSO_OUTPUT_DOCUMENT_LIST, l->buf);
}

int32_t oso_output_empty_list(void) {
    static const uint8_t empty[4];
    return oso_output(OSO_OUTPUT_DOCUMENT_LIST, empty, sizeof empty);
}

static oso_buf status_buf;

int32_t oso_output_status(int32_t code, oso_str status,
                          const oso_status_error *errors, size_t n_errors, oso_str extra) {
    oso_buf_reset(&status_buf);
    oso_append_status(&status_buf, code, status, errors, n_errors, extra);
    return oso_output_buf(OSO_OUTPUT_STATUS, &status_buf);
}

/* The longest prefix of s of at most n bytes not splitting a UTF-8 sequence. */
static size_t cut_utf8(oso_str s, size_t n) {
    if (s.len <= n) {
        return s.len;
    }
    size_t i = n;
    while (i > 0 && i + 4 > n && ((uint8_t)s.ptr[i] & 0xc0) == 0x80) {
        i--;
    }
    return i;
}

int32_t oso_fail(int32_t code, oso_str message) {
    oso_host_error(code, message.ptr, (int32_t)cut_utf8(message, OSO_MAX_ERROR_MESSAGE_BYTES));
    return OSO_RESULT_FAILED;
}

void oso_log(int32_t level, oso_str msg) {
    oso_host_log(level, msg.ptr, (int32_t)cut_utf8(msg, OSO_MAX_LOG_LINE_BYTES));
}
