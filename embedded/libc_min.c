/* What a bare-metal toolchain's libc would provide: the three functions the allocator may
   call. Kept apart so the undefined-symbol check sees exactly what the allocator needs. */
#include <stddef.h>

void *memcpy(void *dst, const void *src, size_t n)
{
   unsigned char *d = (unsigned char *) dst;
   const unsigned char *s = (const unsigned char *) src;
   while (n--)
      *d++ = *s++;
   return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
   unsigned char *d = (unsigned char *) dst;
   const unsigned char *s = (const unsigned char *) src;
   if (d < s)
      while (n--)
         *d++ = *s++;
   else
      while (n--)
         d[n] = s[n];
   return dst;
}

void *memset(void *dst, int c, size_t n)
{
   unsigned char *d = (unsigned char *) dst;
   while (n--)
      *d++ = (unsigned char) c;
   return dst;
}
