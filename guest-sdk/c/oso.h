/*
 * oso.h - C guest SDK for osohost plugins (native OSO plugin ABI v1).
 *
 * The normative specification is abi/SPEC.md; the user guide, with a C
 * walkthrough, is docs/abi.md. This SDK provides:
 *
 *   - the exports every module needs: oso_abi_v1 and oso_alloc (in oso.c);
 *   - declarations of the host functions of module "oso";
 *   - a reader over the compact DocumentList that to_isv receives, whose
 *     strings are views into the input buffer (valid until the export
 *     returns; copy what you keep);
 *   - a growing byte buffer and appenders for the compact encoding and JSON;
 *   - helpers that hand a result or an error to the host and return the
 *     export's result, so an export ends with `return oso_output_...(...);`.
 *
 * The plugin itself defines the exports to_oso, to_isv and status (and
 * optionally init and, with OSO_STATELESS(), oso_stateless):
 *
 *   OSO_EXPORT("status") int32_t status(const uint8_t *in, int32_t len) {
 *       return oso_output_status(200, OSO_STR("OK"), NULL, 0, OSO_STR(""));
 *   }
 *
 * Build as a WASI reactor, C11:
 *
 *   clang --target=wasm32-wasi -mexec-model=reactor -std=c11 -O2 \
 *       -I guest-sdk/c -o plugin.wasm plugin.c guest-sdk/c/oso.c
 *
 * An instance runs one call at a time: nothing here is thread-safe and
 * nothing needs to be. Memory comes from wasi-libc's malloc; a failed
 * allocation is reported (the buffer's failed flag, a 500 at output), never
 * a crash. Host functions never call back into the guest.
 */
#ifndef OSO_H
#define OSO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ABI version: the marker export oso_abi_v1 returns OSO_ABI_MINOR. */
#define OSO_ABI_VERSION 1
#define OSO_ABI_MINOR 0

/* Host function statuses (negative = failure). */
enum {
    OSO_STATUS_OK = 0,
    OSO_STATUS_BAD_POINTER = -1,  /* a (ptr, len) pair lies outside memory */
    OSO_STATUS_TOO_LARGE = -2,    /* a length exceeds its limit */
    OSO_STATUS_BAD_ARGUMENT = -3, /* an argument is out of range or malformed */
    OSO_STATUS_NOT_ALLOWED = -4,  /* not allowed here (no export call running) */
    OSO_STATUS_LIMITED = -5,      /* a rate or quota limit was reached */
    OSO_STATUS_UNAVAILABLE = -6,  /* the backing service failed */
    OSO_STATUS_NOT_FOUND = -7     /* the named item does not exist */
};

/* Export results. */
#define OSO_RESULT_OK 0
#define OSO_RESULT_FAILED 1

/* Output kinds, for oso_host_output. */
enum {
    OSO_OUTPUT_JSON = 1,          /* UTF-8 JSON text */
    OSO_OUTPUT_DOCUMENT_LIST = 2, /* compact DocumentList */
    OSO_OUTPUT_STATUS = 3         /* compact ComponentStatus */
};

/* Log levels. */
enum { OSO_LOG_DEBUG = 0, OSO_LOG_INFO = 1, OSO_LOG_WARN = 2, OSO_LOG_ERROR = 3 };

/* Limits (abi/abi.go). */
#define OSO_MAX_ERROR_MESSAGE_BYTES 1024
#define OSO_MAX_LOG_LINE_BYTES 4096
#define OSO_DEFAULT_MAX_OUTPUT_BYTES (8u << 20)
#define OSO_MAX_STATUS_ERRORS 1024

/* Declares a function exported under name. Outside WebAssembly (native
 * unit tests of plugin code) the attributes are dropped and the test
 * provides the oso_host_* functions. */
#if defined(__wasm__)
#define OSO_EXPORT(name) __attribute__((export_name(name)))
#define OSO_IMPORT(name) __attribute__((import_module("oso"), import_name(name)))
#else
#define OSO_EXPORT(name)
#define OSO_IMPORT(name)
#endif

/* Declares the module stateless (export oso_stateless returns 1): the host
 * may then run several instances at once. Use at file scope, at most once. */
#define OSO_STATELESS() \
    OSO_EXPORT("oso_stateless") int32_t oso_stateless(void) { return 1; }

/* Host functions of module "oso"; prefer the helpers below. */
OSO_IMPORT("output") int32_t oso_host_output(int32_t kind, const void *ptr, int32_t len);
OSO_IMPORT("error") int32_t oso_host_error(int32_t code, const void *ptr, int32_t len);
OSO_IMPORT("log") int32_t oso_host_log(int32_t level, const void *ptr, int32_t len);

/* ---- Strings ---------------------------------------------------------- */

/* A string view: ptr is not NUL-terminated. */
typedef struct {
    const char *ptr;
    size_t len;
} oso_str;

/* A view of a string literal. */
#define OSO_STR(lit) ((oso_str){(lit), sizeof(lit) - 1})

/* A view of a NUL-terminated string (NULL gives the empty string). */
oso_str oso_cstr(const char *s);

/* Whether s equals the NUL-terminated string c. */
int oso_str_eq(oso_str s, const char *c);

/* ---- Reading the to_isv input ----------------------------------------- */

/* One document; its strings are views into the input buffer. */
typedef struct {
    oso_str id, content, metadata;
} oso_document;

/* A reader over a compact DocumentList. */
typedef struct {
    const uint8_t *p, *end;
    uint32_t left, count;
} oso_reader;

/* Checks the whole compact DocumentList in buf and positions r on its first
 * document. Returns 0, or -1 when the list is malformed (truncated, trailing
 * bytes, too many documents declared). An empty input (len 0) is an empty
 * list. */
int oso_reader_init(oso_reader *r, const void *buf, size_t len);

/* The number of documents in the list. */
uint32_t oso_reader_count(const oso_reader *r);

/* Reads the next document into d: returns 1, or 0 at the end. */
int oso_reader_next(oso_reader *r, oso_document *d);

/* ---- Buffers and appenders -------------------------------------------- */

/* A growing byte buffer (malloc/realloc). The zero value is empty. After a
 * failed allocation, failed is set, further appends do nothing, and handing
 * the buffer to the host fails the call with 500. */
typedef struct {
    uint8_t *data;
    size_t len, cap;
    int failed;
} oso_buf;

/* Empties b, keeping its memory for reuse. */
void oso_buf_reset(oso_buf *b);
/* Frees b's memory and empties it. */
void oso_buf_free(oso_buf *b);
/* Appenders; each returns 0, or -1 once b has failed. */
int oso_buf_append(oso_buf *b, const void *p, size_t n);
int oso_buf_append_str(oso_buf *b, oso_str s);         /* raw bytes */
int oso_buf_append_u32(oso_buf *b, uint32_t v);        /* little-endian */
int oso_buf_append_lstr(oso_buf *b, oso_str s);        /* u32 length + bytes */
int oso_buf_append_int(oso_buf *b, int64_t v);         /* decimal text */
int oso_buf_append_json_string(oso_buf *b, oso_str s); /* quoted, escaped; invalid UTF-8 -> U+FFFD */

/* A DocumentList being written in the compact encoding into a buffer. */
typedef struct {
    oso_buf *buf;
    size_t start;
    uint32_t n;
} oso_list;

/* Starts a list at the end of b (appends the count placeholder). */
int oso_list_begin(oso_list *l, oso_buf *b);
/* Appends one document; the strings are copied. */
int oso_list_add(oso_list *l, oso_str id, oso_str content, oso_str metadata);
int oso_list_add_document(oso_list *l, const oso_document *d);
/* Writes the final count into the buffer; call before using the bytes. */
void oso_list_end(oso_list *l);

/* One V1_3 Error item of a ComponentStatus. */
typedef struct {
    oso_str code, message;
} oso_status_error;

/* Appends a compact ComponentStatus; extra is empty or a JSON object text
 * whose members the host writes after status_code, status and errors. */
int oso_append_status(oso_buf *b, int32_t code, oso_str status,
                      const oso_status_error *errors, size_t n_errors, oso_str extra);

/* ---- Results ----------------------------------------------------------
 * Each returns the export's result: OSO_RESULT_OK when the host accepted the
 * output, else OSO_RESULT_FAILED (the host answers 502 for a refused output,
 * 500 for a failed buffer). */

/* Hands bytes of the given kind to the host (copied before it returns). */
int32_t oso_output(int32_t kind, const void *p, size_t n);
/* Answers JSON text. */
int32_t oso_output_json(oso_str json);
/* Answers the bytes of b as kind. */
int32_t oso_output_buf(int32_t kind, const oso_buf *b);
/* Ends l (oso_list_end) and answers its buffer, which must hold only l. */
int32_t oso_output_list(oso_list *l);
/* Answers an empty DocumentList. */
int32_t oso_output_empty_list(void);
/* Answers a ComponentStatus (encoded in a buffer the SDK reuses). */
int32_t oso_output_status(int32_t code, oso_str status,
                          const oso_status_error *errors, size_t n_errors, oso_str extra);

/* Fails the call with HTTP status code (400..599; the host uses 500 for
 * others) and message, sent to the client as the error description and cut
 * to OSO_MAX_ERROR_MESSAGE_BYTES. Returns OSO_RESULT_FAILED. */
int32_t oso_fail(int32_t code, oso_str message);

/* ---- Logs ---------------------------------------------------------------
 * One line at a level, cut to OSO_MAX_LOG_LINE_BYTES; the host bounds the
 * rate. Never log secrets. */
void oso_log(int32_t level, oso_str msg);
#define oso_log_debug(lit) oso_log(OSO_LOG_DEBUG, OSO_STR(lit))
#define oso_log_info(lit) oso_log(OSO_LOG_INFO, OSO_STR(lit))
#define oso_log_warn(lit) oso_log(OSO_LOG_WARN, OSO_STR(lit))
#define oso_log_error(lit) oso_log(OSO_LOG_ERROR, OSO_STR(lit))

#ifdef __cplusplus
}
#endif

#endif /* OSO_H */
