/*
 * Native unit tests of the C guest SDK (the parts that do not need a host):
 *
 *   cc -std=c11 -Wall -Wextra -I guest-sdk/c -o oso_test \
 *       guest-sdk/c/test/oso_test.c guest-sdk/c/oso.c && ./oso_test
 */
#include "oso.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond)                                                   \
    do {                                                              \
        if (!(cond)) {                                                \
            fprintf(stderr, "%s:%d: FAIL %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                               \
        }                                                             \
    } while (0)

/* Host stand-ins: record the last call. */
static int32_t out_kind, out_status, err_code, log_level;
static uint8_t out_bytes[4096];
static size_t out_len;
static char err_msg[2048], log_msg[8192];
static size_t err_len, log_len;

int32_t oso_host_output(int32_t kind, const void *ptr, int32_t len) {
    out_kind = kind;
    out_len = (size_t)len;
    if (out_len <= sizeof out_bytes) {
        memcpy(out_bytes, ptr, out_len);
    }
    return out_status;
}

int32_t oso_host_error(int32_t code, const void *ptr, int32_t len) {
    err_code = code;
    err_len = (size_t)len;
    memcpy(err_msg, ptr, err_len);
    return 0;
}

int32_t oso_host_log(int32_t level, const void *ptr, int32_t len) {
    log_level = level;
    log_len = (size_t)len;
    memcpy(log_msg, ptr, log_len);
    return 0;
}

/* ---- A fake host for the signing, credential and state wrappers ----------
 * Native tests only: the real host functions run in the conformance tests
 * (guest-sdk/conformance), which load the built modules into osohost. */

static void put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

static int32_t fake_status;  /* when non-zero, every fake answers it */
static int32_t fake_overrun; /* when non-zero, answers claim out_cap + 1 bytes */
static int n_keys = 3;       /* keys listed by key_list: "key-0".. */
static int key_list_calls, sign_many_calls;

int32_t oso_host_key_generate(int32_t type, void *out, int32_t cap) {
    if (fake_status) return fake_status;
    if (cap < OSO_KEY_INFO_MAX_BYTES) return OSO_STATUS_TOO_SMALL;
    if (type != OSO_KEY_ED25519) return OSO_STATUS_BAD_ARGUMENT;
    static const uint8_t info[] = "\5\0\0\0key-9\3\0\0\0pub";
    memcpy(out, info, sizeof info - 1);
    return fake_overrun ? cap + 1 : (int32_t)(sizeof info - 1);
}

int32_t oso_host_key_list(int32_t type, void *out, int32_t cap) {
    (void)type;
    key_list_calls++;
    if (fake_status) return fake_status;
    int32_t need = 4 + n_keys * 9;
    if (cap < need) return OSO_STATUS_TOO_SMALL;
    uint8_t *p = out;
    put_u32(p, (uint32_t)n_keys);
    for (int i = 0; i < n_keys; i++) {
        put_u32(p + 4 + 9 * i, 5);
        memcpy(p + 8 + 9 * i, "key-", 4);
        p[12 + 9 * i] = (uint8_t)('0' + i % 10);
    }
    return need;
}

int32_t oso_host_key_public(const void *id, int32_t id_len, void *out, int32_t cap) {
    if (fake_status) return fake_status;
    if (id_len != 5 || memcmp(id, "key-0", 5) != 0) return OSO_STATUS_NOT_FOUND;
    static const uint8_t pk[] = "\2\0\0\0\3\0\0\0pub";
    if (cap < (int32_t)sizeof pk - 1) return OSO_STATUS_TOO_SMALL;
    memcpy(out, pk, sizeof pk - 1);
    return sizeof pk - 1;
}

/* The fake signature of data: 64 bytes, each the data's length plus its index. */
static void fake_sig(uint8_t *sig, size_t len) {
    for (int i = 0; i < OSO_SIGNATURE_BYTES; i++) sig[i] = (uint8_t)(len + (size_t)i);
}

int32_t oso_host_sign(const void *id, int32_t id_len, const void *data, int32_t len, void *out, int32_t cap) {
    (void)id, (void)data;
    if (fake_status) return fake_status;
    if (cap < OSO_SIGNATURE_BYTES) return OSO_STATUS_TOO_SMALL;
    if (id_len == 0) return OSO_STATUS_NOT_FOUND;
    fake_sig(out, (size_t)len);
    return OSO_SIGNATURE_BYTES;
}

static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Signs every request whose key id is not "missing". */
int32_t oso_host_sign_many(const void *in, int32_t in_len, void *out, int32_t cap) {
    sign_many_calls++;
    if (fake_status) return fake_status;
    const uint8_t *p = in, *end = p + in_len;
    uint32_t n = get32(p);
    p += 4;
    if (cap < (int32_t)(4 + n * OSO_SIGN_RESULT_BYTES)) return OSO_STATUS_TOO_SMALL;
    uint8_t *o = out;
    put_u32(o, n);
    size_t w = 4;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t idl = get32(p);
        const uint8_t *id = p + 4;
        p += 4 + idl;
        uint32_t dl = get32(p);
        p += 4 + dl;
        if (idl == 7 && memcmp(id, "missing", 7) == 0) {
            put_u32(o + w, (uint32_t)OSO_STATUS_NOT_FOUND);
            put_u32(o + w + 4, 0);
            w += 8;
            continue;
        }
        put_u32(o + w, 0);
        put_u32(o + w + 4, OSO_SIGNATURE_BYTES);
        fake_sig(o + w + 8, dl);
        w += 8 + OSO_SIGNATURE_BYTES;
    }
    if (p != end) return OSO_STATUS_BAD_ARGUMENT;
    return fake_overrun ? cap + 1 : (int32_t)w;
}

int32_t oso_host_credential(const void *name, int32_t name_len, void *out, int32_t cap) {
    if (fake_status) return fake_status;
    if (name_len != 3 || memcmp(name, "api", 3) != 0) return OSO_STATUS_NOT_ALLOWED;
    static const uint8_t c[] = "\3\0\0\0abc\6\0\0\0Bearer\x00\x68\xe5\xcf\x8b\x01\0\0";
    if (cap < (int32_t)sizeof c - 1) return OSO_STATUS_TOO_SMALL;
    memcpy(out, c, sizeof c - 1);
    return sizeof c - 1;
}

/* A sorted in-memory store of up to 64 keys. */
#define FAKE_KV 64
static struct {
    char key[32];
    size_t key_len;
    uint8_t *val;
    size_t val_len;
} kv[FAKE_KV];
static int kv_n, kv_page_max = 3;

static int kv_find(const void *key, int32_t len) {
    for (int i = 0; i < kv_n; i++) {
        if (kv[i].key_len == (size_t)len && memcmp(kv[i].key, key, (size_t)len) == 0) return i;
    }
    return -1;
}

int32_t oso_host_kv_get(const void *key, int32_t key_len, void *out, int32_t cap) {
    if (fake_status) return fake_status;
    int i = kv_find(key, key_len);
    if (i < 0) return OSO_STATUS_NOT_FOUND;
    if (kv[i].val_len <= (size_t)cap) memcpy(out, kv[i].val, kv[i].val_len);
    return (int32_t)kv[i].val_len;
}

static int key_cmp(const char *a, size_t an, const char *b, size_t bn) {
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

int32_t oso_host_kv_put(const void *key, int32_t key_len, const void *val, int32_t val_len) {
    if (fake_status) return fake_status;
    if (key_len == 0) return OSO_STATUS_BAD_ARGUMENT;
    int i = kv_find(key, key_len);
    if (i < 0) {
        if (kv_n == FAKE_KV || key_len > 31) return OSO_STATUS_LIMITED;
        i = 0;
        while (i < kv_n && key_cmp(kv[i].key, kv[i].key_len, key, (size_t)key_len) < 0) i++;
        memmove(&kv[i + 1], &kv[i], (size_t)(kv_n - i) * sizeof kv[0]);
        kv_n++;
        memcpy(kv[i].key, key, (size_t)key_len);
        kv[i].key_len = (size_t)key_len;
        kv[i].val = NULL;
    }
    free(kv[i].val);
    kv[i].val = malloc((size_t)val_len + 1);
    memcpy(kv[i].val, val, (size_t)val_len);
    kv[i].val_len = (size_t)val_len;
    return 0;
}

int32_t oso_host_kv_delete(const void *key, int32_t key_len) {
    if (fake_status) return fake_status;
    int i = kv_find(key, key_len);
    if (i < 0) return OSO_STATUS_NOT_FOUND;
    free(kv[i].val);
    memmove(&kv[i], &kv[i + 1], (size_t)(kv_n - i - 1) * sizeof kv[0]);
    kv_n--;
    return 0;
}

/* Lists at most kv_page_max keys per call. */
int32_t oso_host_kv_list(const void *prefix, int32_t prefix_len, const void *after, int32_t after_len, void *out,
                         int32_t cap) {
    if (fake_status) return fake_status;
    if (cap < 4) return OSO_STATUS_TOO_SMALL;
    uint8_t *o = out;
    size_t w = 4;
    uint32_t n = 0;
    for (int i = 0; i < kv_n && (int)n < kv_page_max; i++) {
        if (kv[i].key_len < (size_t)prefix_len || memcmp(kv[i].key, prefix, (size_t)prefix_len) != 0) continue;
        if (after_len && key_cmp(kv[i].key, kv[i].key_len, after, (size_t)after_len) <= 0) continue;
        if (w + 4 + kv[i].key_len > (size_t)cap) {
            if (n == 0) return OSO_STATUS_TOO_SMALL;
            break;
        }
        put_u32(o + w, (uint32_t)kv[i].key_len);
        memcpy(o + w + 4, kv[i].key, kv[i].key_len);
        w += 4 + kv[i].key_len;
        n++;
    }
    put_u32(o, n);
    return (int32_t)w;
}

static int buf_is(const oso_buf *b, const char *s, size_t n) {
    return !b->failed && b->len == n && memcmp(b->data, s, n) == 0;
}
#define BUF_IS(b, lit) buf_is((b), (lit), sizeof(lit) - 1)

static void test_list_round_trip(void) {
    oso_buf b = {0};
    oso_list l;
    oso_list_begin(&l, &b);
    oso_list_add(&l, OSO_STR("a"), OSO_STR("hello"), OSO_STR(""));
    oso_list_add(&l, OSO_STR(""), OSO_STR("x\0y"), OSO_STR("{\"k\": 1}"));
    oso_list_end(&l);
    CHECK(BUF_IS(&b, "\2\0\0\0"
                     "\1\0\0\0a\5\0\0\0hello\0\0\0\0"
                     "\0\0\0\0\3\0\0\0x\0y\10\0\0\0{\"k\": 1}"));

    oso_reader r;
    oso_document d;
    CHECK(oso_reader_init(&r, b.data, b.len) == 0);
    CHECK(oso_reader_count(&r) == 2);
    CHECK(oso_reader_next(&r, &d) == 1 && oso_str_eq(d.id, "a") && oso_str_eq(d.content, "hello") && d.metadata.len == 0);
    CHECK(oso_reader_next(&r, &d) == 1 && d.id.len == 0 && d.content.len == 3 && oso_str_eq(d.metadata, "{\"k\": 1}"));
    CHECK(oso_reader_next(&r, &d) == 0);

    /* every strict prefix and one trailing byte are malformed */
    for (size_t n = 1; n < b.len; n++) {
        CHECK(oso_reader_init(&r, b.data, n) == -1);
    }
    oso_buf_append(&b, "", 1);
    CHECK(oso_reader_init(&r, b.data, b.len) == -1);
    CHECK(oso_reader_init(&r, "\0\0\0\0\0", 5) == -1);
    CHECK(oso_reader_init(&r, "\xff\xff\xff\xff", 4) == -1);
    CHECK(oso_reader_init(&r, "\1\0\0\0\xff\xff\xff\xff\0\0\0\0\0\0\0\0", 16) == -1);
    CHECK(oso_reader_init(&r, "", 0) == 0 && oso_reader_count(&r) == 0 && oso_reader_next(&r, &d) == 0);
    oso_buf_free(&b);
}

static void test_json(void) {
    oso_buf b = {0};
    oso_buf_append_json_string(&b, OSO_STR("a\"b\\c\n\r\t\x01 \xc3\xa9 \xf0\x9f\x98\x80"));
    CHECK(BUF_IS(&b, "\"a\\\"b\\\\c\\n\\r\\t\\u0001 \xc3\xa9 \xf0\x9f\x98\x80\""));
    oso_buf_reset(&b);
    oso_buf_append_json_string(&b, OSO_STR("x\xff\xc3y\xed\xa0\x80"));
    CHECK(BUF_IS(&b, "\"x\\ufffd\\ufffdy\\ufffd\\ufffd\\ufffd\""));
    oso_buf_reset(&b);
    oso_buf_append_int(&b, 0);
    oso_buf_append_str(&b, OSO_STR(","));
    oso_buf_append_int(&b, -42);
    oso_buf_append_str(&b, OSO_STR(","));
    oso_buf_append_int(&b, INT64_MIN);
    CHECK(BUF_IS(&b, "0,-42,-9223372036854775808"));
    oso_buf_free(&b);
}

static void test_status(void) {
    oso_status_error e = {OSO_STR("hsm"), OSO_STR("down")};
    out_status = 0;
    CHECK(oso_output_status(503, OSO_STR("bad"), &e, 1, OSO_STR("{}")) == OSO_RESULT_OK);
    static const char want[] = "\xf7\1\0\0\3\0\0\0bad\1\0\0\0\3\0\0\0hsm\4\0\0\0down\2\0\0\0{}";
    CHECK(out_kind == OSO_OUTPUT_STATUS && out_len == sizeof want - 1 && memcmp(out_bytes, want, out_len) == 0);

    out_status = OSO_STATUS_TOO_LARGE;
    CHECK(oso_output_json(OSO_STR("1")) == OSO_RESULT_FAILED);
    out_status = 0;
    CHECK(oso_output_empty_list() == OSO_RESULT_OK && out_len == 4 && memcmp(out_bytes, "\0\0\0\0", 4) == 0);
}

static void test_fail_and_log(void) {
    static char big[OSO_MAX_LOG_LINE_BYTES * 2];
    for (size_t i = 0; i < sizeof big; i += 2) { /* "é" repeated */
        big[i] = '\xc3';
        big[i + 1] = '\xa9';
    }
    CHECK(oso_fail(503, OSO_STR("full")) == OSO_RESULT_FAILED && err_code == 503 && err_len == 4);
    oso_str s = {big + 1, sizeof big - 1}; /* starts inside a sequence, odd length */
    oso_fail(400, s);
    CHECK(err_len <= OSO_MAX_ERROR_MESSAGE_BYTES && err_len >= OSO_MAX_ERROR_MESSAGE_BYTES - 3 &&
          ((uint8_t)big[1 + err_len] & 0xc0) != 0x80);
    oso_log(OSO_LOG_WARN, (oso_str){big, sizeof big});
    CHECK(log_level == OSO_LOG_WARN && log_len == OSO_MAX_LOG_LINE_BYTES);
}

static void test_alloc(void) {
    extern void *oso_alloc(int32_t size);
    CHECK(oso_alloc(0) == NULL);
    void *a = oso_alloc(100);
    CHECK(a != NULL && oso_alloc(50) == a);
    CHECK(oso_alloc(100000) != NULL);
}

static void test_hex_pem_json(void) {
    char hex[9];
    CHECK(strcmp(oso_hex(hex, "\x00\x1f\xa0\xff", 4), "001fa0ff") == 0);
    oso_buf b = {0};
    oso_buf_append_hex(&b, "\xde\xad", 2);
    CHECK(BUF_IS(&b, "dead"));
    oso_buf_reset(&b);
    /* an Ed25519 SubjectPublicKeyInfo (44 bytes): 60 base64 characters */
    static const uint8_t spki[44] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
    oso_buf_append_pem(&b, spki, sizeof spki);
    CHECK(BUF_IS(&b, "-----BEGIN PUBLIC KEY-----\n"
                     "MCowBQYDK2VwAyEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
                     "-----END PUBLIC KEY-----\n"));
    oso_buf_reset(&b);
    uint8_t der[100];
    for (int i = 0; i < 100; i++) der[i] = (uint8_t)i;
    oso_buf_append_pem(&b, der, 49); /* 68 characters: one full line and one of 4 */
    CHECK(BUF_IS(&b, "-----BEGIN PUBLIC KEY-----\n"
                     "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v\n"
                     "MA==\n"
                     "-----END PUBLIC KEY-----\n"));
    oso_buf_reset(&b);
    oso_json_object o;
    oso_json_begin(&o, &b);
    oso_json_string(&o, "key_id", OSO_STR("a\"b"));
    oso_json_int(&o, "keys", -3);
    oso_json_bool(&o, "ok", 1);
    oso_json_raw(&o, "x", OSO_STR("[1]"));
    oso_json_end(&o);
    CHECK(BUF_IS(&b, "{\"key_id\":\"a\\\"b\",\"keys\":-3,\"ok\":true,\"x\":[1]}"));
    oso_buf_free(&b);
    CHECK(oso_str_has_prefix(OSO_STR("signed/1"), OSO_STR("signed/")) && !oso_str_has_prefix(OSO_STR("sig"), OSO_STR("signed/")));
}

static void test_signing(void) {
    oso_key k;
    CHECK(oso_key_generate(OSO_KEY_ED25519, &k) == 0 && strcmp(k.id, "key-9") == 0 && k.id_len == 5 &&
          k.type == OSO_KEY_ED25519 && k.public_key_len == 3 && memcmp(k.public_key, "pub", 3) == 0);
    CHECK(oso_key_generate(OSO_KEY_SECP256K1, &k) == OSO_STATUS_BAD_ARGUMENT);
    fake_overrun = 1;
    CHECK(oso_key_generate(OSO_KEY_ED25519, &k) == OSO_STATUS_BAD_ANSWER);
    fake_overrun = 0;

    /* key_list grows its buffer until the list fits */
    oso_buf ids_buf = {0};
    oso_keys ids;
    oso_str id;
    n_keys = 1000; /* 9004 bytes: 4096, then 8192, then 16384 */
    key_list_calls = 0;
    CHECK(oso_key_list(OSO_KEY_ED25519, &ids_buf, &ids) == 1000 && key_list_calls == 3);
    CHECK(oso_keys_next(&ids, &id) == 1 && oso_str_eq(id, "key-0"));
    n_keys = 0;
    CHECK(oso_key_list(OSO_KEY_ED25519, &ids_buf, &ids) == 0 && oso_keys_next(&ids, &id) == 0);
    n_keys = 3;
    fake_status = OSO_STATUS_UNAVAILABLE;
    CHECK(oso_key_list(OSO_KEY_ED25519, &ids_buf, &ids) == OSO_STATUS_UNAVAILABLE);
    fake_status = 0;
    oso_buf_free(&ids_buf);

    CHECK(oso_key_public(OSO_STR("key-0"), &k) == 0 && k.type == OSO_KEY_ED25519 && strcmp(k.id, "key-0") == 0);
    CHECK(oso_key_public(OSO_STR("key-1"), &k) == OSO_STATUS_NOT_FOUND);

    uint8_t sig[64];
    char hex[129];
    CHECK(oso_sign(OSO_STR("key-0"), "abc", 3, sig) == 64 && sig[0] == 3 && sig[63] == 66);
    CHECK(oso_sign_hex(OSO_STR("key-0"), "abc", 3, hex) == 128 && strncmp(hex, "030405", 6) == 0 && hex[128] == 0);
    CHECK(oso_sign(OSO_STR(""), "abc", 3, sig) == OSO_STATUS_NOT_FOUND);

    oso_sign_request reqs[4] = {
        {OSO_STR("key-0"), "a", 1},
        {OSO_STR("missing"), "bb", 2},
        {OSO_STR("0123456789012345678901234567890123456789012345678901234567890123456789"), "c", 1},
        {OSO_STR("key-0"), "dddd", 4},
    };
    oso_sign_result res[4];
    sign_many_calls = 0;
    CHECK(oso_sign_many(reqs, 4, res) == 0 && sign_many_calls == 1);
    CHECK(res[0].status == 0 && res[0].signature && res[0].signature[0] == 1);
    CHECK(res[1].status == OSO_STATUS_NOT_FOUND && !res[1].signature);
    CHECK(res[2].status == OSO_STATUS_TOO_LARGE && !res[2].signature);
    CHECK(res[3].status == 0 && res[3].signature[0] == 4 && res[3].signature[63] == 67);
    CHECK(oso_sign_many(reqs, 0, res) == 0);
    fake_overrun = 1;
    CHECK(oso_sign_many(reqs, 4, res) == OSO_STATUS_BAD_ANSWER);
    fake_overrun = 0;
    fake_status = OSO_STATUS_UNAVAILABLE;
    CHECK(oso_sign_many(reqs, 4, res) == OSO_STATUS_UNAVAILABLE);
    fake_status = 0;

    /* more than one batch: split, results in order */
    static oso_sign_request many[OSO_MAX_SIGN_BATCH + 5];
    static oso_sign_result many_res[OSO_MAX_SIGN_BATCH + 5];
    for (size_t i = 0; i < OSO_MAX_SIGN_BATCH + 5; i++) {
        many[i] = (oso_sign_request){OSO_STR("key-0"), "0123456789", i % 10};
    }
    sign_many_calls = 0;
    CHECK(oso_sign_many(many, OSO_MAX_SIGN_BATCH + 5, many_res) == 0 && sign_many_calls == 2);
    int ok = 1;
    for (size_t i = 0; i < OSO_MAX_SIGN_BATCH + 5; i++) {
        ok &= many_res[i].status == 0 && many_res[i].signature[0] == i % 10;
    }
    CHECK(ok);
}

static void test_credential(void) {
    oso_credential c;
    CHECK(oso_credential_get(OSO_STR("api"), &c) == 0 && oso_str_eq(c.token, "abc") &&
          oso_str_eq(c.token_type, "Bearer") && c.expires_at_ms == 1700000000000ull);
    oso_credential_clear(&c);
    CHECK(c.token.len == 0);
    CHECK(oso_credential_get(OSO_STR("other"), &c) == OSO_STATUS_NOT_ALLOWED);
    static char long_name[OSO_MAX_CREDENTIAL_NAME_BYTES + 1];
    CHECK(oso_credential_get((oso_str){long_name, sizeof long_name}, &c) == OSO_STATUS_TOO_LARGE);
}

/* Visits keys, deleting every other one and stopping after limit. */
struct visit {
    int seen, limit, delete_odd;
    char first[32];
};

static int visitor(void *arg, oso_str key) {
    struct visit *v = arg;
    if (v->seen == 0) {
        memcpy(v->first, key.ptr, key.len);
        v->first[key.len] = 0;
    }
    if (v->delete_odd && v->seen % 2 == 1) {
        CHECK(oso_kv_delete(key) == 1);
    }
    v->seen++;
    return v->seen < v->limit;
}

static void test_state(void) {
    oso_buf v = {0};
    CHECK(oso_kv_get(OSO_STR("absent"), &v) == 0);
    static uint8_t big[5000];
    memset(big, 'x', sizeof big);
    CHECK(oso_kv_put(OSO_STR("big"), big, sizeof big) == 0);
    CHECK(oso_kv_get(OSO_STR("big"), &v) == 1 && v.len == sizeof big && memcmp(v.data, big, sizeof big) == 0);
    CHECK(oso_kv_put(OSO_STR("empty"), "", 0) == 0 && oso_kv_get(OSO_STR("empty"), &v) == 1 && v.len == 0);
    CHECK(oso_kv_put(OSO_STR(""), "x", 1) == OSO_STATUS_BAD_ARGUMENT);
    CHECK(oso_kv_delete(OSO_STR("big")) == 1 && oso_kv_delete(OSO_STR("big")) == 0);
    CHECK(oso_kv_delete(OSO_STR("empty")) == 1);

    char key[16];
    for (int i = 0; i < 10; i++) {
        memcpy(key, "p/0", 3);
        key[2] = (char)('0' + i);
        CHECK(oso_kv_put((oso_str){key, 3}, key, 3) == 0);
    }
    CHECK(oso_kv_put(OSO_STR("q"), "", 0) == 0);
    struct visit all = {0, 100, 0, ""};
    CHECK(oso_kv_list(OSO_STR("p/"), visitor, &all) == 0 && all.seen == 10 && strcmp(all.first, "p/0") == 0);
    struct visit some = {0, 4, 0, ""};
    CHECK(oso_kv_list(OSO_STR("p/"), visitor, &some) == 0 && some.seen == 4);
    struct visit del = {0, 100, 1, ""};
    CHECK(oso_kv_list(OSO_STR("p/"), visitor, &del) == 0 && del.seen == 10);
    struct visit left = {0, 100, 0, ""};
    CHECK(oso_kv_list(OSO_STR(""), visitor, &left) == 0 && left.seen == 6); /* 5 under p/, and q */
    fake_status = OSO_STATUS_NOT_ALLOWED;
    CHECK(oso_kv_list(OSO_STR("p/"), visitor, &left) == OSO_STATUS_NOT_ALLOWED);
    CHECK(oso_kv_get(OSO_STR("q"), &v) == OSO_STATUS_NOT_ALLOWED);
    CHECK(oso_kv_put(OSO_STR("q"), "", 0) == OSO_STATUS_NOT_ALLOWED);
    fake_status = 0;
    oso_buf_free(&v);

    uint64_t t = oso_time_unix_nano();
    CHECK(t > 1600000000ull * 1000000000ull);
    uint8_t r1[300] = {0}, r2[300] = {0};
    CHECK(oso_random(r1, sizeof r1) == 0 && oso_random(r2, sizeof r2) == 0 && memcmp(r1, r2, sizeof r1) != 0);
}

int main(void) {
    test_hex_pem_json();
    test_signing();
    test_credential();
    test_state();
    test_list_round_trip();
    test_json();
    test_status();
    test_fail_and_log();
    test_alloc();
    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    puts("ok");
    return 0;
}
