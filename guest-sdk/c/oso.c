/*
 * oso.c - C guest SDK for osohost plugins: the oso_abi_v1 and oso_alloc
 * exports, the compact-encoding reader and appenders, result helpers, and
 * the signing, credential and state wrappers. See oso.h.
 */
#define _DEFAULT_SOURCE /* clock_gettime, getentropy */
#include "oso.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
    return s.len == n && (n == 0 || memcmp(s.ptr, c, n) == 0);
}

int oso_str_has_prefix(oso_str s, oso_str prefix) {
    return s.len >= prefix.len && (prefix.len == 0 || memcmp(s.ptr, prefix.ptr, prefix.len) == 0);
}

const char *oso_status_text(int32_t status) {
    switch (status) {
    case OSO_STATUS_OK: return "ok";
    case OSO_STATUS_BAD_POINTER: return "bad pointer";
    case OSO_STATUS_TOO_LARGE: return "too large";
    case OSO_STATUS_BAD_ARGUMENT: return "invalid argument";
    case OSO_STATUS_NOT_ALLOWED: return "not allowed";
    case OSO_STATUS_LIMITED: return "limit reached";
    case OSO_STATUS_UNAVAILABLE: return "unavailable";
    case OSO_STATUS_NOT_FOUND: return "not found";
    case OSO_STATUS_TOO_SMALL: return "buffer too small";
    case OSO_STATUS_BAD_ANSWER: return "malformed answer from the host";
    case OSO_STATUS_NO_MEMORY: return "out of memory";
    }
    return status >= 0 ? "ok" : "failed";
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

/* ---- KeyList reader ------------------------------------------------------- */

int oso_keys_init(oso_keys *r, const void *buf, size_t len) {
    const uint8_t *p = buf;
    r->p = r->end = p;
    r->left = r->count = 0;
    if (len < 4) {
        return -1;
    }
    uint32_t n = get_u32(p);
    if ((uint64_t)n * 4 > (uint64_t)(len - 4)) {
        return -1;
    }
    const uint8_t *q = p + 4, *end = p + len;
    oso_str s;
    for (uint32_t i = 0; i < n; i++) {
        if (cut(&q, end, &s)) {
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

uint32_t oso_keys_count(const oso_keys *r) { return r->count; }

int oso_keys_next(oso_keys *r, oso_str *s) {
    if (r->left == 0) {
        return 0;
    }
    cut(&r->p, r->end, s); /* checked by oso_keys_init */
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

static const char hexdigits[] = "0123456789abcdef";

char *oso_hex(char *dst, const void *src, size_t n) {
    const uint8_t *p = src;
    for (size_t i = 0; i < n; i++) {
        dst[2 * i] = hexdigits[p[i] >> 4];
        dst[2 * i + 1] = hexdigits[p[i] & 0xf];
    }
    dst[2 * n] = 0;
    return dst;
}

int oso_buf_append_hex(oso_buf *b, const void *p, size_t n) {
    if (n > SIZE_MAX / 2 || grow(b, 2 * n)) {
        b->failed = 1;
        return -1;
    }
    const uint8_t *s = p;
    char *d = (char *)b->data + b->len;
    for (size_t i = 0; i < n; i++) {
        d[2 * i] = hexdigits[s[i] >> 4];
        d[2 * i + 1] = hexdigits[s[i] & 0xf];
    }
    b->len += 2 * n;
    return 0;
}

int oso_buf_append_pem(oso_buf *b, const void *der, size_t n) {
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const uint8_t *p = der;
    oso_buf_append_str(b, OSO_STR("-----BEGIN PUBLIC KEY-----\n"));
    size_t line = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        char q[4] = {b64[v >> 18 & 63], b64[v >> 12 & 63], i + 1 < n ? b64[v >> 6 & 63] : '=', i + 2 < n ? b64[v & 63] : '='};
        oso_buf_append(b, q, 4);
        line += 4;
        if (line == 64) {
            oso_buf_append(b, "\n", 1);
            line = 0;
        }
    }
    if (line) {
        oso_buf_append(b, "\n", 1);
    }
    return oso_buf_append_str(b, OSO_STR("-----END PUBLIC KEY-----\n"));
}

oso_str oso_buf_str(const oso_buf *b) {
    oso_str s = {b->data ? (const char *)b->data : "", b->len};
    return s;
}

/* ---- JSON objects ----------------------------------------------------------- */

int oso_json_begin(oso_json_object *o, oso_buf *b) {
    o->buf = b;
    o->n = 0;
    return oso_buf_append(b, "{", 1);
}

static int json_key(oso_json_object *o, const char *key) {
    if (o->n++ > 0) {
        oso_buf_append(o->buf, ",", 1);
    }
    oso_buf_append_json_string(o->buf, oso_cstr(key));
    return oso_buf_append(o->buf, ":", 1);
}

int oso_json_string(oso_json_object *o, const char *key, oso_str v) {
    json_key(o, key);
    return oso_buf_append_json_string(o->buf, v);
}

int oso_json_int(oso_json_object *o, const char *key, int64_t v) {
    json_key(o, key);
    return oso_buf_append_int(o->buf, v);
}

int oso_json_bool(oso_json_object *o, const char *key, int v) {
    json_key(o, key);
    return v ? oso_buf_append_str(o->buf, OSO_STR("true")) : oso_buf_append_str(o->buf, OSO_STR("false"));
}

int oso_json_raw(oso_json_object *o, const char *key, oso_str json) {
    json_key(o, key);
    return oso_buf_append_str(o->buf, json);
}

int oso_json_end(oso_json_object *o) { return oso_buf_append(o->buf, "}", 1); }

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

void oso_log_status(int32_t level, const char *prefix, int32_t status) {
    char line[256];
    size_t n = 0;
    const char *parts[2] = {prefix ? prefix : "", oso_status_text(status)};
    for (int k = 0; k < 2; k++) {
        for (const char *c = parts[k]; *c && n < sizeof line; c++) {
            line[n++] = *c;
        }
    }
    oso_log(level, (oso_str){line, n});
}

/* ---- Host answers ------------------------------------------------------------- */

/* A host function's result: negative statuses are passed on; a count larger
 * than the buffer is a malformed answer. */
static int32_t answer(int32_t n, size_t cap) {
    if (n < 0) {
        return n;
    }
    if ((size_t)n > cap) {
        return OSO_STATUS_BAD_ANSWER;
    }
    return n;
}

/* Reserves exactly n bytes of capacity in b (b->len is set to 0). */
static int reserve(oso_buf *b, size_t n) {
    b->len = 0;
    b->failed = 0;
    if (grow(b, n)) {
        b->failed = 0;
        return -1;
    }
    return 0;
}

/* ---- Signing ------------------------------------------------------------------- */

const char *oso_key_type_name(int32_t type) {
    switch (type) {
    case OSO_KEY_SECP256K1: return "SECP256K1";
    case OSO_KEY_ED25519: return "ED25519";
    }
    return "";
}

/* answers of key_generate, key_public and sign */
static uint8_t key_out[OSO_KEY_INFO_MAX_BYTES];

int32_t oso_key_generate(int32_t type, oso_key *k) {
    int32_t n = answer(oso_host_key_generate(type, key_out, sizeof key_out), sizeof key_out);
    if (n < 0) {
        return n;
    }
    const uint8_t *p = key_out, *end = key_out + n;
    oso_str id, pub;
    if (cut(&p, end, &id) || cut(&p, end, &pub) || p != end || id.len == 0 || id.len > OSO_MAX_KEY_ID_BYTES ||
        pub.len > OSO_MAX_PUBLIC_KEY_BYTES) {
        return OSO_STATUS_BAD_ANSWER;
    }
    memcpy(k->id, id.ptr, id.len);
    k->id[id.len] = 0;
    k->id_len = id.len;
    k->type = type;
    memcpy(k->public_key, pub.ptr, pub.len);
    k->public_key_len = pub.len;
    return 0;
}

/* Largest buffer oso_key_list grows to (about 370,000 ids of 36 bytes). */
#define MAX_KEY_LIST_BYTES (16u << 20)

int32_t oso_key_list(int32_t type, oso_buf *buf, oso_keys *ids) {
    size_t size = buf->cap > 4096 ? buf->cap : 4096;
    for (;;) {
        if (reserve(buf, size)) {
            return OSO_STATUS_NO_MEMORY;
        }
        int32_t n = answer(oso_host_key_list(type, buf->data, (int32_t)buf->cap), buf->cap);
        if (n == OSO_STATUS_TOO_SMALL && buf->cap < MAX_KEY_LIST_BYTES) {
            size = buf->cap * 2 < MAX_KEY_LIST_BYTES ? buf->cap * 2 : MAX_KEY_LIST_BYTES;
            continue;
        }
        if (n < 0) {
            return n;
        }
        buf->len = (size_t)n;
        if (oso_keys_init(ids, buf->data, buf->len)) {
            return OSO_STATUS_BAD_ANSWER;
        }
        return (int32_t)oso_keys_count(ids);
    }
}

int32_t oso_key_public(oso_str id, oso_key *k) {
    if (id.len > OSO_MAX_KEY_ID_BYTES) {
        return OSO_STATUS_TOO_LARGE;
    }
    int32_t n = answer(oso_host_key_public(id.ptr, (int32_t)id.len, key_out, sizeof key_out), sizeof key_out);
    if (n < 0) {
        return n;
    }
    oso_str pub;
    const uint8_t *p = key_out + 4, *end = key_out + n;
    if (n < 4 || cut(&p, end, &pub) || p != end || pub.len > OSO_MAX_PUBLIC_KEY_BYTES) {
        return OSO_STATUS_BAD_ANSWER;
    }
    memcpy(k->id, id.ptr, id.len);
    k->id[id.len] = 0;
    k->id_len = id.len;
    k->type = (int32_t)get_u32(key_out);
    memcpy(k->public_key, pub.ptr, pub.len);
    k->public_key_len = pub.len;
    return 0;
}

int32_t oso_sign(oso_str id, const void *data, size_t len, uint8_t sig[OSO_SIGNATURE_BYTES]) {
    if (id.len > OSO_MAX_KEY_ID_BYTES || len > OSO_MAX_SIGN_DATA_BYTES) {
        return OSO_STATUS_TOO_LARGE;
    }
    int32_t n = answer(oso_host_sign(id.ptr, (int32_t)id.len, data, (int32_t)len, key_out, OSO_SIGNATURE_BYTES),
                       OSO_SIGNATURE_BYTES);
    if (n < 0) {
        return n;
    }
    if (n != OSO_SIGNATURE_BYTES) {
        return OSO_STATUS_BAD_ANSWER;
    }
    memcpy(sig, key_out, OSO_SIGNATURE_BYTES);
    return n;
}

int32_t oso_sign_hex(oso_str id, const void *data, size_t len, char hex[2 * OSO_SIGNATURE_BYTES + 1]) {
    uint8_t sig[OSO_SIGNATURE_BYTES];
    int32_t n = oso_sign(id, data, len, sig);
    if (n < 0) {
        return n;
    }
    oso_hex(hex, sig, OSO_SIGNATURE_BYTES);
    return 2 * OSO_SIGNATURE_BYTES;
}

static oso_buf many_in, many_out;
static uint32_t *many_idx;
static size_t many_idx_cap;

int32_t oso_sign_many(const oso_sign_request *reqs, size_t n, oso_sign_result *results) {
    if (n > many_idx_cap) {
        uint32_t *idx = realloc(many_idx, (n < OSO_MAX_SIGN_BATCH ? n : OSO_MAX_SIGN_BATCH) * sizeof *idx);
        if (!idx) {
            return OSO_STATUS_NO_MEMORY;
        }
        many_idx = idx;
        many_idx_cap = n < OSO_MAX_SIGN_BATCH ? n : OSO_MAX_SIGN_BATCH;
    }
    /* Room for every chunk's answer, whatever the chunking: results point
     * into many_out, so it is sized once per call. */
    if (n > (SIZE_MAX - 4) / (OSO_SIGN_RESULT_BYTES + 4) ||
        reserve(&many_out, n * (OSO_SIGN_RESULT_BYTES + 4) + 4)) {
        return OSO_STATUS_NO_MEMORY;
    }
    for (size_t i = 0; i < n; i++) {
        results[i].status = OSO_STATUS_OK;
        results[i].signature = NULL;
    }
    size_t used = 0;
    for (size_t i = 0; i < n;) {
        oso_buf_reset(&many_in);
        oso_buf_append_u32(&many_in, 0);
        uint32_t m = 0;
        for (; i < n && m < OSO_MAX_SIGN_BATCH; i++) {
            const oso_sign_request *r = &reqs[i];
            if (r->key_id.len > OSO_MAX_KEY_ID_BYTES || r->len > OSO_MAX_SIGN_DATA_BYTES) {
                results[i].status = OSO_STATUS_TOO_LARGE;
                continue;
            }
            if (m > 0 && many_in.len + 8 + r->key_id.len + r->len > OSO_MAX_SIGN_MANY_INPUT_BYTES) {
                break;
            }
            oso_buf_append_lstr(&many_in, r->key_id);
            oso_buf_append_u32(&many_in, (uint32_t)r->len);
            oso_buf_append(&many_in, r->data, r->len);
            many_idx[m++] = (uint32_t)i;
        }
        if (many_in.failed) {
            return OSO_STATUS_NO_MEMORY;
        }
        if (m == 0) {
            continue;
        }
        many_in.data[0] = (uint8_t)m;
        many_in.data[1] = (uint8_t)(m >> 8);
        many_in.data[2] = (uint8_t)(m >> 16);
        many_in.data[3] = (uint8_t)(m >> 24);
        uint8_t *dst = many_out.data + used;
        size_t cap = 4 + (size_t)m * OSO_SIGN_RESULT_BYTES;
        int32_t got = answer(oso_host_sign_many(many_in.data, (int32_t)many_in.len, dst, (int32_t)cap), cap);
        if (got < 0) {
            return got;
        }
        const uint8_t *p = dst, *end = dst + got;
        if (got < 4 || get_u32(p) != m) {
            return OSO_STATUS_BAD_ANSWER;
        }
        p += 4;
        for (uint32_t j = 0; j < m; j++) {
            oso_str sig;
            if (end - p < 4) {
                return OSO_STATUS_BAD_ANSWER;
            }
            int32_t st = (int32_t)get_u32(p);
            p += 4;
            if (cut(&p, end, &sig)) {
                return OSO_STATUS_BAD_ANSWER;
            }
            oso_sign_result *res = &results[many_idx[j]];
            if (st == OSO_STATUS_OK) {
                if (sig.len != OSO_SIGNATURE_BYTES) {
                    return OSO_STATUS_BAD_ANSWER;
                }
                res->signature = (const uint8_t *)sig.ptr;
            } else {
                res->status = st < 0 ? st : OSO_STATUS_BAD_ANSWER;
            }
        }
        if (p != end) {
            return OSO_STATUS_BAD_ANSWER;
        }
        used += (size_t)got;
    }
    return 0;
}

/* ---- Credentials ------------------------------------------------------------------ */

static uint8_t *cred_buf;

void oso_credential_clear(oso_credential *c) {
    if (cred_buf) {
        volatile uint8_t *p = cred_buf;
        for (size_t i = 0; i < OSO_MAX_CREDENTIAL_BYTES; i++) {
            p[i] = 0;
        }
    }
    if (c) {
        c->token = c->token_type = (oso_str){"", 0};
        c->expires_at_ms = 0;
    }
}

int32_t oso_credential_get(oso_str name, oso_credential *c) {
    if (name.len > OSO_MAX_CREDENTIAL_NAME_BYTES) {
        return OSO_STATUS_TOO_LARGE;
    }
    if (!cred_buf && !(cred_buf = malloc(OSO_MAX_CREDENTIAL_BYTES))) {
        return OSO_STATUS_NO_MEMORY;
    }
    oso_credential_clear(NULL);
    int32_t n = answer(oso_host_credential(name.ptr, (int32_t)name.len, cred_buf, OSO_MAX_CREDENTIAL_BYTES),
                       OSO_MAX_CREDENTIAL_BYTES);
    if (n < 0) {
        return n;
    }
    const uint8_t *p = cred_buf, *end = cred_buf + n;
    oso_str tok, typ;
    if (cut(&p, end, &tok) || cut(&p, end, &typ) || end - p != 8 || tok.len == 0) {
        oso_credential_clear(NULL);
        return OSO_STATUS_BAD_ANSWER;
    }
    c->token = tok;
    c->token_type = typ;
    c->expires_at_ms = (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
    return 0;
}

/* ---- State ---------------------------------------------------------------------------- */

int32_t oso_kv_get(oso_str key, oso_buf *value) {
    if (key.len > OSO_MAX_KV_KEY_BYTES) {
        return OSO_STATUS_TOO_LARGE;
    }
    size_t size = value->cap > 4096 ? value->cap : 4096;
    for (int try = 0; try < 4; try++) { /* the value may change size between two tries */
        if (reserve(value, size)) {
            return OSO_STATUS_NO_MEMORY;
        }
        int32_t n = oso_host_kv_get(key.ptr, (int32_t)key.len, value->data, (int32_t)value->cap);
        if (n == OSO_STATUS_NOT_FOUND) {
            return 0;
        }
        if (n < 0) {
            return n;
        }
        if ((size_t)n <= value->cap) {
            value->len = (size_t)n;
            return 1;
        }
        if ((uint32_t)n > OSO_MAX_KV_VALUE_BYTES) {
            return OSO_STATUS_BAD_ANSWER;
        }
        size = (size_t)n;
    }
    return OSO_STATUS_BAD_ANSWER;
}

int32_t oso_kv_put(oso_str key, const void *v, size_t n) {
    if (key.len > OSO_MAX_KV_KEY_BYTES || n > OSO_MAX_KV_VALUE_BYTES) {
        return OSO_STATUS_TOO_LARGE;
    }
    int32_t st = oso_host_kv_put(key.ptr, (int32_t)key.len, v, (int32_t)n);
    return st < 0 ? st : 0;
}

int32_t oso_kv_delete(oso_str key) {
    if (key.len > OSO_MAX_KV_KEY_BYTES) {
        return OSO_STATUS_TOO_LARGE;
    }
    int32_t st = oso_host_kv_delete(key.ptr, (int32_t)key.len);
    if (st == OSO_STATUS_NOT_FOUND) {
        return 0;
    }
    return st < 0 ? st : 1;
}

/* Whether k sorts after a[0..n) byte-wise. */
static int sorts_after(oso_str k, const char *a, size_t n) {
    size_t m = k.len < n ? k.len : n;
    int c = memcmp(k.ptr, a, m);
    return c > 0 || (c == 0 && k.len > n);
}

/* Largest page buffer oso_kv_list grows to. */
#define MAX_KV_LIST_BYTES (1u << 20)

int32_t oso_kv_list(oso_str prefix, oso_kv_visitor fn, void *arg) {
    if (prefix.len > OSO_MAX_KV_KEY_BYTES) {
        return OSO_STATUS_TOO_LARGE;
    }
    /* Local buffers: fn may call oso_kv_list again. */
    oso_buf page = {0};
    char after[OSO_MAX_KV_KEY_BYTES];
    size_t after_len = 0, size = 4096;
    int32_t ret = 0;
    for (;;) {
        if (reserve(&page, size)) {
            ret = OSO_STATUS_NO_MEMORY;
            break;
        }
        int32_t n = answer(oso_host_kv_list(prefix.ptr, (int32_t)prefix.len, after, (int32_t)after_len, page.data,
                                            (int32_t)page.cap),
                           page.cap);
        if (n == OSO_STATUS_TOO_SMALL && page.cap < MAX_KV_LIST_BYTES) {
            size = page.cap * 2 < MAX_KV_LIST_BYTES ? page.cap * 2 : MAX_KV_LIST_BYTES;
            continue;
        }
        if (n < 0) {
            ret = n;
            break;
        }
        oso_keys keys;
        if (oso_keys_init(&keys, page.data, (size_t)n)) {
            ret = OSO_STATUS_BAD_ANSWER;
            break;
        }
        if (oso_keys_count(&keys) == 0) {
            break;
        }
        oso_str k = {"", 0};
        int go_on = 1;
        while (go_on && oso_keys_next(&keys, &k)) {
            if (k.len == 0 || k.len > OSO_MAX_KV_KEY_BYTES || !oso_str_has_prefix(k, prefix) ||
                (after_len && !sorts_after(k, after, after_len))) {
                ret = OSO_STATUS_BAD_ANSWER; /* not after the previous key: the host would loop */
                go_on = 0;
                break;
            }
            go_on = fn(arg, k);
            memcpy(after, k.ptr, k.len);
            after_len = k.len;
        }
        if (!go_on) {
            break;
        }
    }
    oso_buf_free(&page);
    return ret;
}

/* ---- Time and randomness ---------------------------------------------------------------- */

uint64_t oso_time_unix_nano(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < 0) {
        return 0;
    }
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int oso_random(void *p, size_t n) {
    uint8_t *q = p;
    while (n > 0) {
        size_t m = n < 256 ? n : 256; /* getentropy's limit */
        if (getentropy(q, m) != 0) {
            return -1;
        }
        q += m;
        n -= m;
    }
    return 0;
}
