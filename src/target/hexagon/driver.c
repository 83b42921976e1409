/* The main program of a megalide Hexagon run: reads each input buffer from a file, calls the
   pipeline, writes each output buffer to a file, and reports the heap high-water mark. The host
   (src/target/hexagon.cpp) describes every buffer on the command line, in the pipeline's
   argument order (graph inputs, then outputs):

       i:<type code>:<bits>:<extent0>x<extent1>...:<path>     an input, read from path
       o:<type code>:<bits>:<extent0>x<extent1>...:<path>     an output, written to path

   extents innermost first (Halide order), memory dense (C order of the reversed shape);
   type codes are halide_type_code_t's. Exit status: the pipeline's error code, or 100 + a
   driver error (bad argument, file not found, short file). */
#include "HalideRuntime.h"

long megalide_sys_openat(const char *path, int flags, int mode);
long megalide_sys_close(int fd);
long megalide_sys_read(int fd, void *buf, size_t n);
long megalide_sys_write(int fd, const void *buf, size_t n);
void megalide_print(int fd, const char *s);
void megalide_print_u64(int fd, uint64_t v);
uint64_t megalide_heap_peak(void);
void *malloc(size_t n);

/* The pipeline's argv entry point (Halide's NAME_argv); -DMEGALIDE_PIPELINE_ARGV=NAME_argv. */
#ifndef MEGALIDE_PIPELINE_ARGV
#define MEGALIDE_PIPELINE_ARGV megalide_pipeline_argv
#endif
int MEGALIDE_PIPELINE_ARGV(void **args);

enum { kMaxBuffers = 64, kMaxDims = 8 };

static halide_buffer_t g_buffers[kMaxBuffers];
static halide_dimension_t g_dims[kMaxBuffers][kMaxDims];
static const char *g_paths[kMaxBuffers];
static char g_is_output[kMaxBuffers];

static int fail(const char *what, const char *arg) {
    megalide_print(2, "megalide-hexagon: ");
    megalide_print(2, what);
    megalide_print(2, ": ");
    megalide_print(2, arg);
    megalide_print(2, "\n");
    return 101;
}

static const char *number(const char *s, int *out) {
    int v = 0, digits = 0;
    while (*s >= '0' && *s <= '9') v = v * 10 + (*s++ - '0'), ++digits;
    *out = v;
    return digits ? s : 0;
}

/* Parses one buffer description into g_buffers[i]; returns 0 or a driver error. */
static int parse(int i, const char *arg) {
    halide_buffer_t *b = &g_buffers[i];
    if ((arg[0] != 'i' && arg[0] != 'o') || arg[1] != ':') return fail("bad buffer description", arg);
    g_is_output[i] = arg[0] == 'o';
    int code, bits;
    const char *s = number(arg + 2, &code);
    if (!s || *s++ != ':' || !(s = number(s, &bits)) || *s++ != ':') return fail("bad buffer type", arg);
    b->type.code = (uint8_t)code, b->type.bits = (uint8_t)bits, b->type.lanes = 1;
    b->dim = g_dims[i];
    b->dimensions = 0;
    for (;;) {
        int extent;
        if (b->dimensions == kMaxDims || !(s = number(s, &extent))) return fail("bad buffer extents", arg);
        g_dims[i][b->dimensions].min = 0;
        g_dims[i][b->dimensions].extent = extent;
        g_dims[i][b->dimensions].flags = 0;
        ++b->dimensions;
        if (*s == 'x') {
            ++s;
            continue;
        }
        if (*s++ != ':') return fail("bad buffer extents", arg);
        break;
    }
    int32_t stride = 1;
    for (int d = 0; d < b->dimensions; ++d) {
        g_dims[i][d].stride = stride;
        stride *= g_dims[i][d].extent;
    }
    g_paths[i] = s;
    return 0;
}

static size_t size_of(const halide_buffer_t *b) {
    size_t n = (size_t)(b->type.bits + 7) / 8;
    for (int d = 0; d < b->dimensions; ++d) n *= (size_t)b->dim[d].extent;
    return n;
}

static int transfer(int i) {
    halide_buffer_t *b = &g_buffers[i];
    const size_t n = size_of(b);
    b->host = malloc(n ? n : 1);
    if (!b->host) return fail("out of memory for", g_paths[i]);
    if (g_is_output[i]) return 0;
    const long fd = megalide_sys_openat(g_paths[i], 0 /* O_RDONLY */, 0);
    if (fd < 0) return fail("cannot open input", g_paths[i]);
    size_t done = 0;
    while (done < n) {
        const long r = megalide_sys_read((int)fd, b->host + done, n - done);
        if (r <= 0) break;
        done += (size_t)r;
    }
    megalide_sys_close((int)fd);
    return done == n ? 0 : fail("input file is shorter than its buffer", g_paths[i]);
}

static int write_output(int i) {
    const halide_buffer_t *b = &g_buffers[i];
    const long fd = megalide_sys_openat(g_paths[i], 01 | 0100 | 01000 /* O_WRONLY|O_CREAT|O_TRUNC */, 0644);
    if (fd < 0) return fail("cannot create output", g_paths[i]);
    const size_t n = size_of(b);
    size_t done = 0;
    while (done < n) {
        const long w = megalide_sys_write((int)fd, b->host + done, n - done);
        if (w <= 0) break;
        done += (size_t)w;
    }
    megalide_sys_close((int)fd);
    return done == n ? 0 : fail("cannot write output", g_paths[i]);
}

int main(int argc, char **argv) {
    const int n = argc - 1;
    if (n < 1 || n > kMaxBuffers) return fail("usage", "PROGRAM i:CODE:BITS:EXTENTS:PATH ... o:CODE:BITS:EXTENTS:PATH ...");
    void *args[kMaxBuffers];
    for (int i = 0; i < n; ++i) {
        int e = parse(i, argv[i + 1]);
        if (!e) e = transfer(i);
        if (e) return e;
        args[i] = &g_buffers[i];
    }
    const int status = MEGALIDE_PIPELINE_ARGV(args);
    if (status != 0) {
        megalide_print(2, "megalide-hexagon: the pipeline returned error ");
        megalide_print_u64(2, (uint64_t)(status < 0 ? -status : status));
        megalide_print(2, "\n");
        return status > 0 && status < 100 ? status : 99;
    }
    for (int i = 0; i < n; ++i) {
        if (g_is_output[i]) {
            const int e = write_output(i);
            if (e) return e;
        }
    }
    megalide_print(1, "megalide-hexagon: heap-peak-bytes ");
    megalide_print_u64(1, megalide_heap_peak());
    megalide_print(1, "\n");
    return 0;
}
