/*
 * Native unit tests of the C guest SDK (the parts that do not need a host):
 *
 *   cc -std=c11 -Wall -Wextra -I guest-sdk/c -o oso_test \
 *       guest-sdk/c/test/oso_test.c guest-sdk/c/oso.c && ./oso_test
 */
#include "oso.h"

#include <stdio.h>
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

int main(void) {
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
