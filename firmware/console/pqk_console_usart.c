/*
 * pqk_console_usart.c - pqk_console.h for STM32F4 USART2 (RM0390 / RM0090 register map).
 * Reset state assumed: HSI 16 MHz drives SYSCLK, AHB and APB1 undivided.
 */
#include "pqk_console.h"

#include <stdint.h>

#ifndef PQK_CONSOLE_USART_BASE
#define PQK_CONSOLE_USART_BASE 0
#endif

#if PQK_CONSOLE_USART_BASE != 0 && PQK_CONSOLE_USART_BASE != 0x40004400
#error "pqk_console_usart.c supports the STM32F4 USART2 (0x40004400) only"
#endif

#define REG32(address) (*(volatile uint32_t *)(address))
#define RCC_AHB1ENR 0x40023830u
#define RCC_APB1ENR 0x40023840u
#define RCC_AHB1ENR_GPIOAEN (1u << 0)
#define RCC_APB1ENR_USART2EN (1u << 17)
#define GPIOA_MODER 0x40020000u
#define GPIOA_AFRL 0x40020020u
#define USART_SR 0x00u
#define USART_DR 0x04u
#define USART_BRR 0x08u
#define USART_CR1 0x0Cu
#define USART_SR_TXE (1u << 7)
#define USART_SR_TC (1u << 6)
#define USART_CR1_UE (1u << 13)
#define USART_CR1_TE (1u << 3)
#define APB1_HZ 16000000u
#define BAUD 115200u

#if PQK_CONSOLE_USART_BASE != 0
static void put_byte(char byte)
{
    while ((REG32(PQK_CONSOLE_USART_BASE + USART_SR) & USART_SR_TXE) == 0u) {
    }
    REG32(PQK_CONSOLE_USART_BASE + USART_DR) = (uint8_t)byte;
}
#endif

void pqk_console_init(void)
{
#if PQK_CONSOLE_USART_BASE != 0
    REG32(RCC_AHB1ENR) |= RCC_AHB1ENR_GPIOAEN;
    REG32(RCC_APB1ENR) |= RCC_APB1ENR_USART2EN;
    (void)REG32(RCC_APB1ENR); /* the clock is on once this read completes */
    REG32(GPIOA_MODER) = (REG32(GPIOA_MODER) & ~(3u << 4)) | (2u << 4); /* PA2 alternate function */
    REG32(GPIOA_AFRL) = (REG32(GPIOA_AFRL) & ~(0xFu << 8)) | (7u << 8); /* AF7 = USART2_TX */
    REG32(PQK_CONSOLE_USART_BASE + USART_BRR) = (APB1_HZ + BAUD / 2u) / BAUD; /* 16x oversampling */
    REG32(PQK_CONSOLE_USART_BASE + USART_CR1) = USART_CR1_UE | USART_CR1_TE;
#endif
}

void pqk_console_write(const char *text)
{
#if PQK_CONSOLE_USART_BASE != 0
    for (; *text != '\0'; ++text) {
        if (*text == '\n') {
            put_byte('\r');
        }
        put_byte(*text);
    }
    while ((REG32(PQK_CONSOLE_USART_BASE + USART_SR) & USART_SR_TC) == 0u) {
    }
#else
    (void)text;
#endif
}
