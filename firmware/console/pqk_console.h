/*
 * pqk_console.h - text console on a USART, register level (no vendor HAL), for boards whose
 * console is a serial port (board file: console {kind: usart, base: ...}). Selected at compile time:
 * PQK_CONSOLE_USART_BASE is the peripheral's address, 0 for no USART (semihosting only).
 * Supported: STM32F4 USART2 (0x40004400: PA2 TX, AF7), 115200 baud 8N1 at the reset clock (HSI 16 MHz).
 */
#ifndef PQK_CONSOLE_H
#define PQK_CONSOLE_H

/* Clocks, pin and baud rate; call once before pqk_console_write. */
void pqk_console_init(void);

/* Writes the text, turning "\n" into "\r\n"; blocks until every byte is in the transmitter. */
void pqk_console_write(const char *text);

#endif /* PQK_CONSOLE_H */
