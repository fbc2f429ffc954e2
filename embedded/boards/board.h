/* What a board gives the firmware test: a line of text to the host and an exit with a
   status, both by semihosting (the emulator's debug channel: no UART driver needed). */
#ifndef BOARD_H
#define BOARD_H
#ifdef __cplusplus
extern "C" {
#endif
void board_print(const char *s);
void board_exit(int status);
#ifdef __cplusplus
}
#endif
#endif
