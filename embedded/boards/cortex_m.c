/* Cortex-M start-up for the firmware test on an emulated board (qemu-system-arm, machines
   lm3s6965evb and mps2-an386): the vector table, a reset handler that turns the FPU on
   (Cortex-M4F), sets up .data and .bss and calls main, and semihosting (BKPT 0xAB) for
   output and exit. */
#include "board.h"

#include <stdint.h>

extern uint32_t __stack_top, __data_load, __data_start, __data_end, __bss_start, __bss_end;
int main(void);

static int semihost(int op, const void *arg)
{
   register int         r0 __asm__("r0") = op;
   register const void *r1 __asm__("r1") = arg;
   __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
   return r0;
}

void board_print(const char *s) { semihost(0x04, s); }   /* SYS_WRITE0 */

void board_exit(int status)
{
   /* SYS_EXIT: ADP_Stopped_ApplicationExit ends the emulator with status 0, any other
      reason with 1 */
   semihost(0x18, (const void *) (uintptr_t) (status ? 0x20023u : 0x20026u));
   for (;;)
      ;
}

static void fault(void)
{
   board_print("firmware: FAILED: a fault\n");
   board_exit(1);
}

void reset(void)
{
   uint32_t *s = &__data_load, *d = &__data_start;
#if defined(__ARM_FP)
   /* a Cortex-M4F starts with its FPU off: full access for CP10 and CP11 (CPACR) */
   *(volatile uint32_t *) 0xE000ED88u |= 0xFu << 20;
   __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
   while (d < &__data_end)
      *d++ = *s++;
   for (d = &__bss_start; d < &__bss_end;)
      *d++ = 0;
   board_exit(main());
}

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
   (void (*)(void)) &__stack_top, reset, fault, fault, fault, fault, fault, 0, 0, 0, 0, fault, fault, 0, fault, fault};
