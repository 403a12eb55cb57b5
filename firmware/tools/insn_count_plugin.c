/*
 * insn_count_plugin.c - QEMU TCG plugin counting executed guest instructions, by class, with an
 * estimate of Cortex-M4 cycles.
 *
 * Built by pqk_mcu.runner.qemu with the host gcc. Debian's QEMU 7.2 has plugin support but
 * ships no qemu-plugin.h, so the few plugin API v1 declarations used here are written out
 * below (they match include/qemu/qemu-plugin.h of QEMU 7.2, QEMU_PLUGIN_VERSION 1).
 *
 * Every instruction adds 1 to the instruction counter, 1 to its class's counter and its cycle
 * cost to the cycle counter with inline ops (no callback per instruction). The class and the
 * cost come from decoding the Thumb/Thumb-2 encoding at translation time (classify() below).
 * One callback per executed translation block settles what only execution shows: whether the
 * control transfer ending the previous block left the sequential path (a taken branch costs a
 * pipeline refill) and whether a load ending it pipelines with a load/store starting this one.
 *
 * Instructions at the watched addresses (marker functions' entries, given as plugin args
 * "begin=0x..", "end=0x..", "before=0x..", "after=0x..") also get a callback that appends
 * "<name> <counters>" to the event log, the counters as they stood before that instruction.
 * At exit the log and "total <counters>" are written to the file "out=PATH", after a
 * "fields <names>" line naming the counters. A single vCPU with no interrupts makes the counts
 * identical from run to run.
 *
 * Cycle model (Cortex-M4 TRM, DDI 0439, table 3-1, zero wait states; README "Cycle estimate"):
 * 1 cycle per instruction except loads/stores 2 (1 when pipelined after an independent single
 * load), LDRD/STRD 3, LDM/STM/PUSH/POP 1+N, UDIV/SDIV DIVIDE_CYCLES, TBB/TBH 2, plus
 * PIPELINE_REFILL cycles for every control transfer that leaves the sequential path.
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
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op,
                                                void *ptr, uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_outs(const char *string);
#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))
QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;
QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv);
/* ---- end of plugin API ---- */

#define MAX_WATCHES 8
#define MAX_VCPUS 64

/* The TRM gives a pipeline refill P of 1 to 3 cycles (target alignment and width, early
 * speculation); 2 is the middle. The taken_branches counter lets a reader redo it with 1 or 3. */
#define PIPELINE_REFILL 2
/* UDIV/SDIV take 2 to 12 cycles (early termination on the operands' leading bits, which a
 * translation-time decoder cannot see): charge the maximum, an upper bound for the rare divides. */
#define DIVIDE_CYCLES 12

enum insn_class {
    CLASS_LOAD,           /* LDR/LDRB/LDRH/LDRSB/LDRSH/LDREX*, any addressing */
    CLASS_STORE,          /* STR/STRB/STRH/STREX* */
    CLASS_LOAD_MULTIPLE,  /* LDM, POP */
    CLASS_STORE_MULTIPLE, /* STM, PUSH */
    CLASS_LOAD_DOUBLE,    /* LDRD */
    CLASS_STORE_DOUBLE,   /* STRD */
    CLASS_MULTIPLY,       /* MUL, MLA, MLS, SMLAD, SMULL, SMLAL, SMMLA(R), SMULxy, ... */
    CLASS_DIVIDE,         /* UDIV, SDIV */
    CLASS_BRANCH,         /* B, B<cc>, BL, BX, BLX, CBZ/CBNZ, TBB/TBH, MOV/ADD to PC */
    CLASS_OTHER,          /* ALU, shifts, extends, saturation, IT, hints, floating point */
    CLASS_COUNT
};

static const char *const class_names[CLASS_COUNT] = {
    "load", "store", "load_multiple", "store_multiple", "load_double", "store_double",
    "multiply", "divide", "branch", "other",
};

#define NO_REGISTER (-1)

struct decoded {
    enum insn_class insn_class;
    unsigned cycles;      /* without pipelining and without the taken-branch refill */
    bool single_transfer; /* LDR/STR of one register: may pipeline after a single load */
    bool single_load;     /* its destination may feed the next load/store's address */
    bool may_branch;      /* can write the PC: a refill when the next block is not sequential */
    int data_register;    /* loaded register of a single load */
    unsigned address_registers; /* bit mask of Rn/Rm of a single load/store */
};

/* Counters, in the order of the "fields" line. */
enum counter { COUNT_INSTRUCTIONS, COUNT_CYCLES, COUNT_TAKEN_BRANCHES, COUNT_CLASSES, COUNTER_COUNT = COUNT_CLASSES + CLASS_COUNT };

struct watch {
    char name[16];
    uint64_t address;
};

struct event {
    unsigned watch;
    uint64_t counters[COUNTER_COUNT];
};

/* What the block-execution callback needs to know about a translated block. */
struct block {
    uint64_t start, fallthrough;
    bool ends_in_branch;
    int ending_load_register;  /* data register of a single load ending the block, or NO_REGISTER */
    bool starts_with_transfer; /* first instruction is a single load/store ... */
    unsigned starting_address_registers; /* ... addressed through these registers */
};

static uint64_t counters[COUNTER_COUNT];
static struct watch watches[MAX_WATCHES];
static unsigned watch_count;
static struct event *events;
static size_t event_count, event_capacity;
static struct block **blocks;
static size_t block_count, block_capacity;
static const struct block *previous_block[MAX_VCPUS];
static char out_path[4096];
static bool overflowed;

static bool grow(void **array, size_t *capacity, size_t element_size)
{
    const size_t grown_capacity = *capacity ? 2 * *capacity : 1024;
    void *grown = realloc(*array, grown_capacity * element_size);
    if (grown == NULL) {
        overflowed = true;
        return false;
    }
    *array = grown;
    *capacity = grown_capacity;
    return true;
}

static unsigned popcount16(unsigned value)
{
    return (unsigned)__builtin_popcount(value & 0xFFFFu);
}

static struct decoded single_transfer(bool load, int rt, int rn, int rm)
{
    struct decoded d = {
        .insn_class = load ? CLASS_LOAD : CLASS_STORE, .cycles = 2, .single_transfer = true,
        .single_load = load, .data_register = load ? rt : NO_REGISTER,
        .address_registers = (1u << rn) | (rm == NO_REGISTER ? 0u : 1u << rm),
    };
    if (load && rt == 15) { /* LDR PC: a branch (2+P), never pipelined */
        d.insn_class = CLASS_BRANCH;
        d.single_transfer = d.single_load = false;
        d.may_branch = true;
    }
    return d;
}

static struct decoded simple(enum insn_class insn_class, unsigned cycles, bool may_branch)
{
    return (struct decoded){.insn_class = insn_class, .cycles = cycles, .may_branch = may_branch,
                            .data_register = NO_REGISTER};
}

static struct decoded classify16(unsigned hw)
{
    if ((hw & 0xF000u) == 0x5000u) { /* load/store register offset: 0101 opB Rm Rn Rt */
        return single_transfer(((hw >> 9) & 7u) >= 3u, (int)(hw & 7u), (int)((hw >> 3) & 7u), (int)((hw >> 6) & 7u));
    }
    if ((hw & 0xE000u) == 0x6000u || (hw & 0xF000u) == 0x8000u) { /* LDR/STR(B) and LDRH/STRH immediate */
        return single_transfer((hw >> 11) & 1u, (int)(hw & 7u), (int)((hw >> 3) & 7u), NO_REGISTER);
    }
    if ((hw & 0xF000u) == 0x9000u) { /* LDR/STR SP-relative */
        return single_transfer((hw >> 11) & 1u, (int)((hw >> 8) & 7u), 13, NO_REGISTER);
    }
    if ((hw & 0xF800u) == 0x4800u) { /* LDR literal */
        return single_transfer(true, (int)((hw >> 8) & 7u), 15, NO_REGISTER);
    }
    if ((hw & 0xF000u) == 0xC000u) { /* LDM/STM */
        const bool load = (hw >> 11) & 1u;
        return simple(load ? CLASS_LOAD_MULTIPLE : CLASS_STORE_MULTIPLE, 1u + popcount16(hw & 0xFFu), false);
    }
    if ((hw & 0xFE00u) == 0xB400u) { /* PUSH {reglist, LR?} */
        return simple(CLASS_STORE_MULTIPLE, 1u + popcount16(hw & 0x1FFu), false);
    }
    if ((hw & 0xFE00u) == 0xBC00u) { /* POP {reglist, PC?} */
        return simple(CLASS_LOAD_MULTIPLE, 1u + popcount16(hw & 0x1FFu), (hw >> 8) & 1u);
    }
    if ((hw & 0xFFC0u) == 0x4340u) { /* MULS */
        return simple(CLASS_MULTIPLY, 1, false);
    }
    if ((hw & 0xF000u) == 0xD000u && ((hw >> 8) & 0xFu) < 0xEu) { /* B<cc> (0xE: UDF, 0xF: SVC) */
        return simple(CLASS_BRANCH, 1, true);
    }
    if ((hw & 0xF800u) == 0xE000u || (hw & 0xFF00u) == 0x4700u || (hw & 0xF500u) == 0xB100u) { /* B, BX/BLX, CBZ/CBNZ */
        return simple(CLASS_BRANCH, 1, true);
    }
    if ((hw & 0xFC00u) == 0x4400u && ((hw >> 8) & 3u) != 1u && (((hw >> 4) & 8u) | (hw & 7u)) == 15u) { /* ADD/MOV PC, Rm */
        return simple(CLASS_BRANCH, 1, true);
    }
    return simple(CLASS_OTHER, 1, false);
}

static struct decoded classify32(unsigned hw1, unsigned hw2)
{
    if ((hw1 & 0xFE40u) == 0xE800u) { /* LDM/STM (IA, DB), PUSH.W/POP.W */
        const bool load = (hw1 >> 4) & 1u;
        return simple(load ? CLASS_LOAD_MULTIPLE : CLASS_STORE_MULTIPLE, 1u + popcount16(hw2),
                      load && ((hw2 >> 15) & 1u));
    }
    if ((hw1 & 0xFE40u) == 0xE840u) { /* load/store dual or exclusive, table branch */
        const unsigned op1 = (hw1 >> 7) & 3u, op2 = (hw1 >> 4) & 3u;
        const int rn = (int)(hw1 & 15u), rt = (int)(hw2 >> 12);
        if (op1 == 0u && op2 <= 1u) { /* STREX, LDREX */
            return single_transfer(op2 == 1u, rt, rn, NO_REGISTER);
        }
        if (op1 == 1u && op2 == 0u) { /* STREXB/H */
            return single_transfer(false, rt, rn, NO_REGISTER);
        }
        if (op1 == 1u && op2 == 1u) {
            if (((hw2 >> 4) & 0xFu) <= 1u) { /* TBB, TBH */
                return simple(CLASS_BRANCH, 2, true);
            }
            return single_transfer(true, rt, rn, NO_REGISTER); /* LDREXB/H */
        }
        const bool load = (hw1 >> 4) & 1u;
        return simple(load ? CLASS_LOAD_DOUBLE : CLASS_STORE_DOUBLE, 3, false);
    }
    if ((hw1 & 0xF800u) == 0xF000u && ((hw2 >> 15) & 1u)) { /* branches and miscellaneous control */
        switch (hw2 & 0x5000u) {
        case 0x0000u: /* B<cc>.W, unless cond is 111x (MSR, MRS, hints, barriers) */
            return ((hw1 >> 7) & 7u) != 7u ? simple(CLASS_BRANCH, 1, true) : simple(CLASS_OTHER, 1, false);
        case 0x1000u: /* B.W */
        case 0x5000u: /* BL */
            return simple(CLASS_BRANCH, 1, true);
        default:
            return simple(CLASS_OTHER, 1, false);
        }
    }
    if ((hw1 & 0xFE00u) == 0xF800u) { /* load/store single: Rn in hw1, Rt in hw2 */
        const bool load = (hw1 >> 4) & 1u;
        const int rn = (int)(hw1 & 15u), rt = (int)(hw2 >> 12);
        if (load && rt == 15 && ((hw1 >> 5) & 3u) != 2u) { /* PLD/PLI: hints */
            return simple(CLASS_OTHER, 1, false);
        }
        /* register offset: op1<0> (bit 7) clear, Rn not PC, hw2 bits 11-6 zero */
        const bool register_offset = !((hw1 >> 7) & 1u) && rn != 15 && (hw2 & 0x0FC0u) == 0u;
        return single_transfer(load, rt, rn, register_offset ? (int)(hw2 & 15u) : NO_REGISTER);
    }
    if ((hw1 & 0xFF80u) == 0xFB00u) { /* multiply, multiply-accumulate */
        return simple(CLASS_MULTIPLY, 1, false);
    }
    if ((hw1 & 0xFF80u) == 0xFB80u) { /* long multiply, long multiply-accumulate, divide */
        const unsigned op1 = (hw1 >> 4) & 7u, op2 = (hw2 >> 4) & 0xFu;
        if ((op1 == 1u || op1 == 3u) && op2 == 0xFu) {
            return simple(CLASS_DIVIDE, DIVIDE_CYCLES, false);
        }
        return simple(CLASS_MULTIPLY, 1, false);
    }
    return simple(CLASS_OTHER, 1, false);
}

static struct decoded classify(const struct qemu_plugin_insn *insn)
{
    const uint8_t *bytes = qemu_plugin_insn_data(insn);
    const unsigned hw1 = (unsigned)bytes[0] | (unsigned)bytes[1] << 8;
    if (qemu_plugin_insn_size(insn) == 4) {
        return classify32(hw1, (unsigned)bytes[2] | (unsigned)bytes[3] << 8);
    }
    return classify16(hw1);
}

/* A single load/store right after a single load whose result it does not address with
 * pipelines its address phase with the load's data phase: one cycle saved (TRM 3.3.2). */
static bool pipelines(int previous_load_register, bool transfer, unsigned address_registers)
{
    return previous_load_register != NO_REGISTER && transfer && !(address_registers & (1u << previous_load_register));
}

static void on_block(unsigned int vcpu_index, void *userdata)
{
    const struct block *block = userdata;
    if (vcpu_index >= MAX_VCPUS) {
        return;
    }
    const struct block *previous = previous_block[vcpu_index];
    if (previous != NULL) {
        const bool sequential = block->start == previous->fallthrough;
        if (!sequential && previous->ends_in_branch) {
            counters[COUNT_CYCLES] += PIPELINE_REFILL;
            ++counters[COUNT_TAKEN_BRANCHES];
        }
        if (sequential && pipelines(previous->ending_load_register, block->starts_with_transfer,
                                    block->starting_address_registers)) {
            --counters[COUNT_CYCLES];
        }
    }
    previous_block[vcpu_index] = block;
}

static void on_watch(unsigned int vcpu_index, void *userdata)
{
    (void)vcpu_index;
    if (event_count == event_capacity && !grow((void **)&events, &event_capacity, sizeof *events)) {
        return;
    }
    events[event_count].watch = (unsigned)(uintptr_t)userdata;
    memcpy(events[event_count].counters, counters, sizeof counters);
    ++event_count;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    if (block_count == block_capacity && !grow((void **)&blocks, &block_capacity, sizeof *blocks)) {
        return;
    }
    struct block *block = calloc(1, sizeof *block);
    if (block == NULL) {
        overflowed = true;
        return;
    }
    blocks[block_count++] = block;
    block->start = qemu_plugin_tb_vaddr(tb);
    block->ending_load_register = NO_REGISTER;
    qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block, QEMU_PLUGIN_CB_NO_REGS, block);

    const size_t n = qemu_plugin_tb_n_insns(tb);
    int previous_load_register = NO_REGISTER;
    for (size_t i = 0; i < n; ++i) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        const uint64_t address = qemu_plugin_insn_vaddr(insn);
        const struct decoded decoded = classify(insn);
        for (unsigned w = 0; w < watch_count; ++w) {
            if (watches[w].address == address) {
                qemu_plugin_register_vcpu_insn_exec_cb(insn, on_watch, QEMU_PLUGIN_CB_NO_REGS,
                                                       (void *)(uintptr_t)w);
            }
        }
        const bool pipelined = pipelines(previous_load_register, decoded.single_transfer, decoded.address_registers);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &counters[COUNT_INSTRUCTIONS], 1);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &counters[COUNT_CYCLES],
                                                   decoded.cycles - (pipelined ? 1u : 0u));
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64,
                                                   &counters[COUNT_CLASSES + decoded.insn_class], 1);
        if (i == 0) {
            block->starts_with_transfer = decoded.single_transfer;
            block->starting_address_registers = decoded.address_registers;
        }
        if (i + 1 == n) {
            block->fallthrough = address + qemu_plugin_insn_size(insn);
            block->ends_in_branch = decoded.may_branch;
            block->ending_load_register = decoded.single_load ? decoded.data_register : NO_REGISTER;
        }
        previous_load_register = decoded.single_load ? decoded.data_register : NO_REGISTER;
    }
}

static void write_counters(FILE *out, const char *name, const uint64_t *values)
{
    fprintf(out, "%s", name);
    for (unsigned c = 0; c < COUNTER_COUNT; ++c) {
        fprintf(out, " %" PRIu64, values[c]);
    }
    fprintf(out, "\n");
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
    fprintf(out, "fields instructions cycles taken_branches");
    for (unsigned c = 0; c < CLASS_COUNT; ++c) {
        fprintf(out, " %s", class_names[c]);
    }
    fprintf(out, "\n");
    for (size_t i = 0; i < event_count; ++i) {
        write_counters(out, watches[events[i].watch].name, events[i].counters);
    }
    if (overflowed) {
        fprintf(out, "error out-of-memory\n");
    }
    write_counters(out, "total", counters);
    fclose(out);
    for (size_t i = 0; i < block_count; ++i) {
        free(blocks[i]);
    }
    free(blocks);
    free(events);
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
