/*
 * status-c: a minimal osohost plugin in C, built with guest-sdk/c.
 *
 *   status  200 OK with the extra member "language": "c"
 *   to_oso  an empty DocumentList
 *   to_isv  {"received": N}, N the number of documents posted
 *
 * It keeps no state, so it declares itself stateless.
 */
#include "oso.h"

OSO_STATELESS()

OSO_EXPORT("status") int32_t status(const uint8_t *in, int32_t len) {
    (void)in;
    (void)len;
    return oso_output_status(200, OSO_STR("OK"), NULL, 0, OSO_STR("{\"language\":\"c\"}"));
}

OSO_EXPORT("to_oso") int32_t to_oso(const uint8_t *in, int32_t len) {
    (void)in;
    (void)len;
    return oso_output_empty_list();
}

static oso_buf reply; /* reused from call to call */

OSO_EXPORT("to_isv") int32_t to_isv(const uint8_t *in, int32_t len) {
    oso_reader r;
    if (len < 0 || oso_reader_init(&r, in, (size_t)len) != 0) {
        oso_log_error("status-c: malformed document list");
        return OSO_RESULT_FAILED; /* the host answers a generic 500 */
    }
    oso_buf_reset(&reply);
    oso_buf_append_str(&reply, OSO_STR("{\"received\":"));
    oso_buf_append_int(&reply, oso_reader_count(&r));
    oso_buf_append_str(&reply, OSO_STR("}"));
    return oso_output_buf(OSO_OUTPUT_JSON, &reply);
}
