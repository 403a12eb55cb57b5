/*
 * kws_console.c - compiles the USART console (firmware/console/) into the KWS app with the board's
 * USART address from the generated kws_config.h (PQK_CONSOLE_USART_BASE, 0 for semihosting only).
 */
#include "kws_config.h"

#include "../../console/pqk_console_usart.c"
