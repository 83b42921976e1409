/* The part of <string.h> HalideRuntime.h needs, for the freestanding Hexagon programs
   megalide links (no Hexagon libc here); runtime_shim.c defines these. */
#ifndef MEGALIDE_HEXAGON_STRING_H
#define MEGALIDE_HEXAGON_STRING_H
#include <stddef.h>
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
#endif
