/*
 * {{name}}: a kplug plugin in C, made by `kplug new {{name}} --lang c`.
 *
 * Build it with clang and lld (sh build.sh), then:
 *   kplug run --local {{crate}}.wasm add 40 2
 *   kplug upload {{crate}}.wasm && kplug invoke {{crate}} add 40 2
 *
 * Every function marked KPLUG_EXPORT is an export the host can call. kplug.h documents the
 * imports, the line formatter and the buffer conventions.
 */
#include "kplug.h"

/* Bytes the host writes before it calls `checksum`: exports input_ptr and input_capacity. */
KPLUG_BUFFER(uint8_t, input, 1024)

/* a + b, wrapping; logs a line. */
KPLUG_EXPORT(add) int32_t add(int32_t a, int32_t b) {
    kplug_log_str("{{name}}: add");
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

/* Sends a greeting to the host as plugin output; returns its length. */
KPLUG_EXPORT(hello) int32_t hello(void) {
    static const char greeting[] = "hello from {{name}}";
    kplug_emit(greeting, sizeof(greeting) - 1);
    return (int32_t)(sizeof(greeting) - 1);
}

/* The sum of the first `length` input bytes, or -1 if `length` does not fit the buffer. */
KPLUG_EXPORT(checksum) int32_t checksum(int32_t length) {
    if (kplug_checked_length(length, sizeof(input)) < 0) {
        struct kplug_line line = KPLUG_LINE_INIT;
        kplug_line_str(&line, "{{name}}: checksum: length ");
        kplug_line_i32(&line, length);
        kplug_line_str(&line, " larger than the input buffer");
        kplug_line_log(&line);
        return -1;
    }
    uint32_t sum = 0;
    for (int32_t index = 0; index < length; index++) {
        sum += input[index];
    }
    return (int32_t)sum;
}
