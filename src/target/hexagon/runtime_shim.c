/* The freestanding environment of a megalide Hexagon program run under QEMU's Linux user
   mode (qemu-hexagon-static): start code, Linux system calls, an allocator that records its
   high-water mark, the libc subset Halide's NoOS runtime calls, and the QuRT / HAP entry points
   it expects from a DSP image (HVX locking, VTCM), served here by ordinary memory.

   Built by clang-19 --target=hexagon -mv66 -O2 -G0 -ffreestanding -fno-builtin (-G0: no
   small-data area, so no GP set-up; -fno-builtin: the byte loops below stay loops instead of
   calls to themselves), linked by ld.lld-19 -static -e _start --gc-sections. */
#include <stddef.h>
#include <stdint.h>

/* ---- Linux system calls: trap0(#1), number in r6, arguments r0-r5, result in r0 (the
   asm-generic numbering). ---- */
enum {
    SYS_openat = 56, SYS_close = 57, SYS_read = 63, SYS_write = 64, SYS_exit_group = 94,
    SYS_munmap = 215, SYS_mmap2 = 222,
};

static long syscall6(long n, long a, long b, long c, long d, long e, long f) {
    register long r0 __asm__("r0") = a;
    register long r1 __asm__("r1") = b;
    register long r2 __asm__("r2") = c;
    register long r3 __asm__("r3") = d;
    register long r4 __asm__("r4") = e;
    register long r5 __asm__("r5") = f;
    register long r6 __asm__("r6") = n;
    __asm__ volatile("trap0(#1)" : "+r"(r0) : "r"(r1), "r"(r2), "r"(r3), "r"(r4), "r"(r5), "r"(r6) : "memory");
    return r0;
}

long megalide_sys_openat(const char *path, int flags, int mode) { return syscall6(SYS_openat, -100 /* AT_FDCWD */, (long)path, flags, mode, 0, 0); }
long megalide_sys_close(int fd) { return syscall6(SYS_close, fd, 0, 0, 0, 0, 0); }
long megalide_sys_read(int fd, void *buf, size_t n) { return syscall6(SYS_read, fd, (long)buf, (long)n, 0, 0, 0); }
long megalide_sys_write(int fd, const void *buf, size_t n) { return syscall6(SYS_write, fd, (long)buf, (long)n, 0, 0, 0); }

__attribute__((noreturn)) void megalide_exit(int status) {
    syscall6(SYS_exit_group, status, 0, 0, 0, 0, 0);
    for (;;) {
    }
}

/* ---- the libc subset ---- */
void *memcpy(void *dst, const void *src, size_t n) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    while (n--) *d++ = *s++;
    return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d < s) {
        while (n--) *d++ = *s++;
    } else {
        while (n--) d[n] = s[n];
    }
    return dst;
}

void *memset(void *dst, int c, size_t n) {
    unsigned char *d = dst;
    while (n--) *d++ = (unsigned char)c;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
    const unsigned char *x = a, *y = b;
    for (; n; --n, ++x, ++y) {
        if (*x != *y) return *x < *y ? -1 : 1;
    }
    return 0;
}

size_t strlen(const char *s) {
    size_t n = 0;
    while (s[n]) ++n;
    return n;
}

/* Halide's runtime calls this for large aligned copies. */
void *__hexagon_memcpy_likely_aligned_min32bytes_mult8bytes(void *dst, const void *src, size_t n) { return memcpy(dst, src, n); }

char *getenv(const char *name) {
    (void)name;
    return NULL;
}

int atoi(const char *s) {
    int sign = 1, v = 0;
    if (*s == '-') sign = -1, ++s;
    while (*s >= '0' && *s <= '9') v = v * 10 + (*s++ - '0');
    return sign * v;
}

void megalide_print(int fd, const char *s) { megalide_sys_write(fd, s, strlen(s)); }

void megalide_print_u64(int fd, uint64_t v) {
    char buf[24];
    int i = sizeof buf;
    buf[--i] = 0;
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    megalide_print(fd, buf + i);
}

__attribute__((noreturn)) void abort(void) {
    megalide_print(2, "megalide-hexagon: abort\n");
    megalide_exit(134);
}

/* ---- the allocator: every block from mmap2 (so freed memory returns to QEMU), 128-byte
   aligned for HVX; the bytes in use and their high-water mark are counted for the report. ---- */
static uint64_t g_heap_bytes, g_heap_peak;

uint64_t megalide_heap_peak(void) { return g_heap_peak; }

enum { kAlign = 128 };

void *malloc(size_t n) {
    const size_t total = (n + kAlign + 4095) & ~(size_t)4095;
    long p = syscall6(SYS_mmap2, 0, (long)total, 3 /* PROT_READ|PROT_WRITE */, 0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */, -1, 0);
    if (p < 0 && p > -4096) return NULL;
    size_t *header = (size_t *)(uintptr_t)p;
    header[0] = total;
    header[1] = n;
    g_heap_bytes += n;
    if (g_heap_bytes > g_heap_peak) g_heap_peak = g_heap_bytes;
    return (char *)(uintptr_t)p + kAlign;
}

void free(void *ptr) {
    if (!ptr) return;
    size_t *header = (size_t *)((char *)ptr - kAlign);
    g_heap_bytes -= header[1];
    syscall6(SYS_munmap, (long)header, (long)header[0], 0, 0, 0, 0);
}

/* ---- what Halide's NoOS runtime expects from the DSP environment ---- */
void halide_print(void *user_context, const char *msg) {
    (void)user_context;
    megalide_print(2, msg);
}

void halide_error(void *user_context, const char *msg) {
    (void)user_context;
    megalide_print(2, "megalide-hexagon: Halide error: ");
    megalide_print(2, msg);
    megalide_print(2, "\n");
}

/* One program, one hardware thread: HVX is always ours. */
int qurt_hvx_lock(int mode) {
    (void)mode;
    return 0;
}
int qurt_hvx_unlock(void) { return 0; }

/* VTCM (tightly coupled vector memory) is ordinary memory under QEMU; its size limit is the
   target's (checked when schedules are made), not enforced here. */
void *HAP_request_VTCM(unsigned int size, unsigned int single_page) {
    (void)single_page;
    return malloc(size);
}
int HAP_release_VTCM(void *ptr) {
    free(ptr);
    return 0;
}

/* ---- start: QEMU leaves argc at sp and the argv pointers after it. ---- */
int main(int argc, char **argv);

__attribute__((noreturn, used)) void megalide_start_c(long *sp) {
    const int argc = (int)sp[0];
    char **argv = (char **)(sp + 1);
    megalide_exit(main(argc, argv));
}

__asm__(".text\n"
        ".globl _start\n"
        ".type _start,@function\n"
        "_start:\n"
        "  r0 = r29\n"
        "  r29 = and(r29, #-128)\n"
        "  call megalide_start_c\n");
