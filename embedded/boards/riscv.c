/* RISC-V (rv32) start-up for the firmware test on an emulated board (qemu-system-riscv32,
   machine virt, no firmware: the image runs from the start of RAM in machine mode): the
   global pointer, the stack, a trap handler, .bss, main, and semihosting (the
   slli/ebreak/srai sequence) for output and exit. */
#include "board.h"

#include <stdint.h>

extern uint32_t __bss_start, __bss_end;
int main(void);

static int semihost(int op, const void *arg)
{
   register int         a0 __asm__("a0") = op;
   register const void *a1 __asm__("a1") = arg;
   __asm__ volatile(".option push\n"
                    ".option norvc\n"
                    ".balign 16\n"
                    "slli x0, x0, 0x1f\n"
                    "ebreak\n"
                    "srai x0, x0, 7\n"
                    ".option pop\n"
                    : "+r"(a0)
                    : "r"(a1)
                    : "memory");
   return a0;
}

void board_print(const char *s) { semihost(0x04, s); }   /* SYS_WRITE0 */

void board_exit(int status)
{
   /* SYS_EXIT, its reason in the register as on 32-bit ARM: ADP_Stopped_ApplicationExit
      ends the emulator with status 0, any other reason with 1 */
   semihost(0x18, (const void *) (uintptr_t) (status ? 0x20023u : 0x20026u));
   for (;;)
      ;
}

void trap(void)
{
   board_print("firmware: FAILED: a trap\n");
   board_exit(1);
}

void reset(void)
{
   uint32_t *d;
   for (d = &__bss_start; d < &__bss_end;)
      *d++ = 0;
   board_exit(main());
}

/* the global pointer first (the linker relaxes accesses near it), then the stack, and a
   trap ends the run instead of looping */
__asm__(".section .text.start\n"
        ".global _start\n"
        "_start:\n"
        ".option push\n"
        ".option norelax\n"
        "   la gp, __global_pointer$\n"
        ".option pop\n"
        "   la sp, __stack_top\n"
        "   la t0, trap_entry\n"
        "   csrw mtvec, t0\n"
        "   j reset\n"
        ".balign 4\n"
        "trap_entry:\n"
        "   la sp, __stack_top\n"
        "   j trap\n");
