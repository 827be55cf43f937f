/*
 * kplug.h — write kplug plugins in C, for clang's wasm32 target.
 *
 * A kplug plugin is a WebAssembly module that a kplug board validates, compiles to i386 and runs
 * in its own hardware segments. This header declares the firmware's imports (the symbol table in
 * plugin-format/src/symbols.rs; a test keeps them equal), a printf-less line formatter for the
 * log, and buffers shared with the host. It needs no C library: build with
 *
 *   clang --target=wasm32 -O2 -nostdlib -Wl,--no-entry -Wl,-z,stack-size=16384 \
 *         -Wl,--initial-memory=131072 -Wl,--max-memory=262144 -o plugin.wasm plugin.c
 *
 * (`kplug new NAME --lang c` writes such a project). Exports are the functions marked
 * KPLUG_EXPORT. The firmware compiles WebAssembly 1.0 with i32 values today: keep to 32-bit
 * integers (no int64_t, float or double) until it compiles the rest.
 *
 * Conventions (the same as the Rust SDK's):
 *  - A pointer is an offset into the plugin's own linear memory, a length a byte count; both
 *    are i32 on the wasm side.
 *  - Plugin -> firmware (kplug_log, kplug_emit): the firmware checks the range once; a range
 *    outside the plugin's memory ends the call with the trap `import rejected an argument`. So
 *    does a GPIO pin above 7.
 *  - Buffers: the plugin owns them and names each to the host with two exports,
 *    NAME_ptr() -> i32 (the offset) and NAME_capacity() -> i32 (the size in bytes); see
 *    KPLUG_BUFFER. The host writes at most `capacity` bytes at `ptr`, then calls an export with
 *    the number of bytes it wrote; the export returns the number of output bytes it wrote, or a
 *    negative number for an error. Check every length from the host with kplug_checked_length.
 */
#ifndef KPLUG_H
#define KPLUG_H

#include <stddef.h>
#include <stdint.h>

#if !defined(__wasm32__)
#error "kplug.h is for clang --target=wasm32"
#endif

/* The version of the firmware symbol table these declarations follow. */
#define KPLUG_SYMBOL_TABLE_VERSION 1

/* Declares a firmware import: module "env", field NAME. */
#define KPLUG_IMPORT(name) __attribute__((import_module("env"), import_name(#name)))

/* Exports a function to the host under NAME (what `kplug invoke PLUGIN NAME` calls). */
#define KPLUG_EXPORT(name) __attribute__((export_name(#name), used))

/* ---- The firmware's imports ------------------------------------------------------------ */

/* env.log(ptr, len): writes `length` bytes of UTF-8 text at `text` to the firmware log, as one
 * line (`kplug invoke` prints it as `[plugin N] text`). */
KPLUG_IMPORT(log) void kplug_log(const char *text, size_t length);

/* env.now_us() -> i32: the low 32 bits of microseconds since boot (wraps after ~71.6 min). */
KPLUG_IMPORT(now_us) uint32_t kplug_now_us(void);

/* env.ticks_ms() -> i32: the low 32 bits of milliseconds since boot (PIT ticks). */
KPLUG_IMPORT(ticks_ms) uint32_t kplug_ticks_ms(void);

/* env.gpio_write(pin, level): drives output `pin` (0..=7) low if `level` is 0, else high. */
KPLUG_IMPORT(gpio_write) void kplug_gpio_write(uint32_t pin, uint32_t level);

/* env.gpio_read(pin) -> i32: the level of `pin` (0..=7), 0 or 1. */
KPLUG_IMPORT(gpio_read) uint32_t kplug_gpio_read(uint32_t pin);

/* env.emit(ptr, len): sends `length` bytes at `bytes` to the host as plugin output. */
KPLUG_IMPORT(emit) void kplug_emit(const void *bytes, size_t length);

/* The highest GPIO pin number. */
#define KPLUG_MAX_GPIO_PIN 7u

/* ---- Memory functions ---------------------------------------------------------------------- */

/* clang calls memset, memcpy and memmove for struct initialisers, copies and loops it
 * recognises, even with -nostdlib. Without a C library nothing defines them, so the header does:
 * weak (a C library's own definitions win, and every file may include the header) and marked
 * no_builtin (so their loops are not turned back into calls to themselves). Define
 * KPLUG_NO_MEMORY_FUNCTIONS to leave them out. */
#ifndef KPLUG_NO_MEMORY_FUNCTIONS
__attribute__((weak, no_builtin("memset"))) void *memset(void *destination, int value,
                                                         size_t length) {
    unsigned char *bytes = (unsigned char *)destination;
    for (size_t index = 0; index < length; index++) {
        bytes[index] = (unsigned char)value;
    }
    return destination;
}

__attribute__((weak, no_builtin("memcpy"))) void *memcpy(void *destination, const void *source,
                                                         size_t length) {
    unsigned char *to = (unsigned char *)destination;
    const unsigned char *from = (const unsigned char *)source;
    for (size_t index = 0; index < length; index++) {
        to[index] = from[index];
    }
    return destination;
}

__attribute__((weak, no_builtin("memmove"))) void *memmove(void *destination, const void *source,
                                                           size_t length) {
    unsigned char *to = (unsigned char *)destination;
    const unsigned char *from = (const unsigned char *)source;
    if (to < from) {
        for (size_t index = 0; index < length; index++) {
            to[index] = from[index];
        }
    } else {
        for (size_t index = length; index > 0; index--) {
            to[index - 1] = from[index - 1];
        }
    }
    return destination;
}
#endif

/* ---- Text -------------------------------------------------------------------------------- */

/* The length of a NUL-terminated string (no C library needed). */
static inline size_t kplug_strlen(const char *text) {
    size_t length = 0;
    while (text[length] != '\0') {
        length++;
    }
    return length;
}

/* Logs a NUL-terminated string. */
static inline void kplug_log_str(const char *text) {
    kplug_log(text, kplug_strlen(text));
}

/* Bytes in a kplug_line; ends a line that was cut. */
#define KPLUG_LINE_BYTES 256
#define KPLUG_TRUNCATION_MARK "..."

/* A line of text put together piece by piece, without printf or an allocator:
 *
 *     struct kplug_line line = KPLUG_LINE_INIT;
 *     kplug_line_str(&line, "sum of ");
 *     kplug_line_u32(&line, count);
 *     kplug_line_str(&line, " samples: ");
 *     kplug_line_i32(&line, sum);
 *     kplug_line_log(&line);
 *
 * Text that does not fit in KPLUG_LINE_BYTES is cut (at a byte: keep to ASCII for exact cuts)
 * so that the line ends with KPLUG_TRUNCATION_MARK; later appends are ignored. */
struct kplug_line {
    size_t length;
    char bytes[KPLUG_LINE_BYTES];
    /* Not next to `length`: clang would merge their initialisation into one 64-bit store,
     * which a firmware compiling 32-bit integer code only refuses. */
    int truncated;
};

#define KPLUG_LINE_INIT {0, {0}, 0}

/* Appends `length` bytes of `text`. */
static inline void kplug_line_append(struct kplug_line *line, const char *text, size_t length) {
    if (line->truncated) {
        return;
    }
    if (length <= KPLUG_LINE_BYTES - line->length) {
        for (size_t index = 0; index < length; index++) {
            line->bytes[line->length++] = text[index];
        }
        return;
    }
    const size_t mark = sizeof(KPLUG_TRUNCATION_MARK) - 1;
    const size_t room = KPLUG_LINE_BYTES - mark;
    if (line->length > room) {
        line->length = room;
    }
    for (size_t index = 0; line->length < room && index < length; index++) {
        line->bytes[line->length++] = text[index];
    }
    for (size_t index = 0; index < mark; index++) {
        line->bytes[line->length++] = KPLUG_TRUNCATION_MARK[index];
    }
    line->truncated = 1;
}

/* Appends a NUL-terminated string. */
static inline void kplug_line_str(struct kplug_line *line, const char *text) {
    kplug_line_append(line, text, kplug_strlen(text));
}

/* Appends `value` in decimal. */
static inline void kplug_line_u32(struct kplug_line *line, uint32_t value) {
    char digits[10];
    size_t start = sizeof(digits);
    do {
        digits[--start] = (char)('0' + value % 10u);
        value /= 10u;
    } while (value != 0u);
    kplug_line_append(line, digits + start, sizeof(digits) - start);
}

/* Appends `value` in decimal, with a '-' when negative. */
static inline void kplug_line_i32(struct kplug_line *line, int32_t value) {
    if (value < 0) {
        kplug_line_append(line, "-", 1);
        kplug_line_u32(line, 0u - (uint32_t)value);
    } else {
        kplug_line_u32(line, (uint32_t)value);
    }
}

/* Appends `value` as 0x followed by 8 hex digits. */
static inline void kplug_line_hex32(struct kplug_line *line, uint32_t value) {
    char digits[10] = {'0', 'x'};
    for (size_t index = 0; index < 8; index++) {
        uint32_t nibble = (value >> (28u - 4u * (uint32_t)index)) & 0xFu;
        digits[2 + index] = (char)(nibble < 10u ? '0' + nibble : 'a' + (nibble - 10u));
    }
    kplug_line_append(line, digits, sizeof(digits));
}

/* Logs the line and empties it. */
static inline void kplug_line_log(struct kplug_line *line) {
    kplug_log(line->bytes, line->length);
    line->length = 0;
    line->truncated = 0;
}

/* Emits the line's bytes to the host and empties it. */
static inline void kplug_line_emit(struct kplug_line *line) {
    kplug_emit(line->bytes, line->length);
    line->length = 0;
    line->truncated = 0;
}

/* ---- Buffers shared with the host ---------------------------------------------------------- */

/* Defines `static TYPE NAME[COUNT]` and exports NAME_ptr() and NAME_capacity() (bytes):
 *
 *     KPLUG_BUFFER(uint8_t, input, 1024)
 *     KPLUG_EXPORT(checksum) int32_t checksum(int32_t length) {
 *         if (kplug_checked_length(length, sizeof(input)) < 0) return -1;
 *         ...
 *     }
 */
#define KPLUG_BUFFER(type, name, count)                                                           \
    static type name[count] __attribute__((aligned(8)));                                          \
    KPLUG_EXPORT(name##_ptr) int32_t name##_ptr(void) { return (int32_t)(uintptr_t)name; }       \
    KPLUG_EXPORT(name##_capacity) int32_t name##_capacity(void) { return (int32_t)sizeof(name); }

/* `length` (from the host) if 0 <= length <= capacity, else -1. */
static inline int32_t kplug_checked_length(int32_t length, size_t capacity) {
    return (length >= 0 && (uint32_t)length <= capacity) ? length : -1;
}

/* Ends the call with the trap `unreachable` (the plugin stays loaded). */
static inline _Noreturn void kplug_trap(void) {
    __builtin_trap();
}

#endif /* KPLUG_H */
