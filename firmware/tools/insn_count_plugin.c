/*
 * insn_count_plugin.c - QEMU TCG plugin counting executed guest instructions.
 *
 * Built by pqk_mcu.runner.qemu with the host gcc. Debian's QEMU 7.2 has plugin support but
 * ships no qemu-plugin.h, so the few plugin API v1 declarations used here are written out
 * below (they match include/qemu/qemu-plugin.h of QEMU 7.2, QEMU_PLUGIN_VERSION 1).
 *
 * Every instruction adds 1 to a counter with an inline op (no callback per instruction).
 * Instructions at the watched addresses (marker functions' entries, given as plugin args
 * "begin=0x..", "end=0x..", "before=0x..", "after=0x..") also get a callback that appends
 * "<name> <count>" to the event log, where count is the number of instructions executed
 * before that one. At exit the log and "total <count>" are written to the file "out=PATH".
 * A single vCPU with no interrupts makes the counts identical from run to run.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- QEMU plugin API v1 (subset) ---- */
typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t {
    const char *target_name;
    struct {
        int min;
        int cur;
    } version;
    bool system_emulation;
    union {
        struct {
            int smp_vcpus;
            int max_vcpus;
        } system;
    };
} qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op,
                                                void *ptr, uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_outs(const char *string);
#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))
QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;
QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv);
/* ---- end of plugin API ---- */

#define MAX_WATCHES 8

struct watch {
    char name[16];
    uint64_t address;
};

struct event {
    unsigned watch;
    uint64_t count;
};

static uint64_t executed;
static struct watch watches[MAX_WATCHES];
static unsigned watch_count;
static struct event *events;
static size_t event_count, event_capacity;
static char out_path[4096];
static bool overflowed;

static void on_watch(unsigned int vcpu_index, void *userdata)
{
    (void)vcpu_index;
    if (event_count == event_capacity) {
        size_t capacity = event_capacity ? 2 * event_capacity : 1024;
        struct event *grown = realloc(events, capacity * sizeof *grown);
        if (grown == NULL) {
            overflowed = true;
            return;
        }
        events = grown;
        event_capacity = capacity;
    }
    events[event_count].watch = (unsigned)(uintptr_t)userdata;
    events[event_count].count = executed;
    ++event_count;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    const size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; ++i) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        const uint64_t address = qemu_plugin_insn_vaddr(insn);
        for (unsigned w = 0; w < watch_count; ++w) {
            if (watches[w].address == address) {
                qemu_plugin_register_vcpu_insn_exec_cb(insn, on_watch, QEMU_PLUGIN_CB_NO_REGS,
                                                       (void *)(uintptr_t)w);
            }
        }
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &executed, 1);
    }
}

static void write_counts(qemu_plugin_id_t id, void *userdata)
{
    (void)id;
    (void)userdata;
    FILE *out = fopen(out_path, "w");
    if (out == NULL) {
        qemu_plugin_outs("insn_count_plugin: cannot open the out= file\n");
        return;
    }
    for (size_t i = 0; i < event_count; ++i) {
        fprintf(out, "%s %" PRIu64 "\n", watches[events[i].watch].name, events[i].count);
    }
    if (overflowed) {
        fprintf(out, "error out-of-memory\n");
    }
    fprintf(out, "total %" PRIu64 "\n", executed);
    fclose(out);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    (void)info;
    for (int i = 0; i < argc; ++i) {
        const char *equals = strchr(argv[i], '=');
        if (equals == NULL) {
            return 1;
        }
        const size_t key_length = (size_t)(equals - argv[i]);
        if (key_length == 3 && strncmp(argv[i], "out", 3) == 0) {
            snprintf(out_path, sizeof out_path, "%s", equals + 1);
        } else if (watch_count < MAX_WATCHES && key_length < sizeof watches[0].name) {
            memcpy(watches[watch_count].name, argv[i], key_length);
            watches[watch_count].name[key_length] = '\0';
            watches[watch_count].address = strtoull(equals + 1, NULL, 0);
            ++watch_count;
        } else {
            return 1;
        }
    }
    if (out_path[0] == '\0') {
        return 1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, write_counts, NULL);
    return 0;
}
