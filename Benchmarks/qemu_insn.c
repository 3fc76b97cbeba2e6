/* A QEMU user-mode plugin that counts the guest instructions a process executes, all threads
 * together, and writes the running total to a file every 20 ms (argument out=PATH), so a
 * harness can read it before and after a window of requests; with profile=PATH it also keeps a
 * count per translated block, written on request, for a flat profile by symbol. Used by Benchmarks/instructions.py
 * where valgrind cannot read the binary and the VM has no hardware counters.
 *
 * QEMU's plugin header is not packaged by Debian; the few declarations used are those of the
 * plugin API version 1 (QEMU 7.2). Build: cc -O2 -shared -fPIC -o libinsn.so qemu_insn.c -lpthread */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS };
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

/* One translated block: where it starts, its instructions, how many it has executed. */
struct block {
    uint64_t address;
    uint64_t instructions;
    uint64_t executed;
    struct block *next;
};

static uint64_t executed;
static struct block *blocks;
static pthread_mutex_t blocks_lock = PTHREAD_MUTEX_INITIALIZER;
static char path[4096] = "insn.count";
static char profile[4096];

/* Each translated block adds its instruction count when it runs (atomically: guest threads
 * run in parallel), to the total and to the block's own count for the profile. */
static void block_ran(unsigned int vcpu, void *data) {
    (void)vcpu;
    struct block *block = data;
    __atomic_fetch_add(&executed, block->instructions, __ATOMIC_RELAXED);
    __atomic_fetch_add(&block->executed, block->instructions, __ATOMIC_RELAXED);
}

static void block_translated(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    struct block *block = calloc(1, sizeof *block);
    block->address = qemu_plugin_tb_vaddr(tb);
    block->instructions = qemu_plugin_tb_n_insns(tb);
    pthread_mutex_lock(&blocks_lock);
    block->next = blocks;
    blocks = block;
    pthread_mutex_unlock(&blocks_lock);
    qemu_plugin_register_vcpu_tb_exec_cb(tb, block_ran, QEMU_PLUGIN_CB_NO_REGS, block);
}

/* With profile=PATH, creating PATH.request makes the plugin write every block's address and
 * executed instructions so far to PATH (one "hex-address count" a line), then remove the request. */
static void dump_profile(void) {
    char request[4200], temporary[4200];
    snprintf(request, sizeof request, "%s.request", profile);
    if (access(request, F_OK) != 0) return;
    snprintf(temporary, sizeof temporary, "%s.tmp", profile);
    FILE *file = fopen(temporary, "w");
    if (!file) return;
    pthread_mutex_lock(&blocks_lock);
    for (struct block *block = blocks; block; block = block->next) {
        uint64_t count = __atomic_load_n(&block->executed, __ATOMIC_RELAXED);
        if (count) fprintf(file, "%llx %llu\n", (unsigned long long)block->address, (unsigned long long)count);
    }
    pthread_mutex_unlock(&blocks_lock);
    fclose(file);
    rename(temporary, profile);
    unlink(request);
}

static void *report(void *unused) {
    (void)unused;
    char temporary[4200];
    snprintf(temporary, sizeof temporary, "%s.tmp", path);
    for (;;) {
        FILE *file = fopen(temporary, "w");
        if (file) {
            fprintf(file, "%llu\n", (unsigned long long)__atomic_load_n(&executed, __ATOMIC_RELAXED));
            fclose(file);
            rename(temporary, path);
        }
        if (profile[0]) dump_profile();
        usleep(20000);
    }
    return NULL;
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const void *info, int argc,
                                                               char **argv) {
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "out=", 4) == 0) {
            snprintf(path, sizeof path, "%s", argv[i] + 4);
        } else if (strncmp(argv[i], "profile=", 8) == 0) {
            snprintf(profile, sizeof profile, "%s", argv[i] + 8);
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, block_translated);
    pthread_t thread;
    pthread_create(&thread, NULL, report, NULL);
    pthread_detach(thread);
    return 0;
}
