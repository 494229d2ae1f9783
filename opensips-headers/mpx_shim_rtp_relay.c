/*
 * mediaproxy.so — C shim, the part for the rtp_relay engine: registering with the rtp_relay
 * module, recognising the core's dummy message, shared memory for the node and the copy
 * contexts the framework keeps (it frees the node with shm_free), and the core's bin packing of
 * the copy contexts. See mpx_shim.h. Core symbols are weak, as in mpx_shim.c.
 */
#include <sched.h>
#include <string.h>
#include "mpx_shim.h"

#define WEAK __attribute__((weak))

extern cmd_function find_export(const char *name, int flags) WEAK;
extern int is_dummy_sip_msg(struct sip_msg *req) WEAK;
extern int bin_push_str(void *packet, const str *info) WEAK;
extern int bin_pop_str(void *packet, str *info) WEAK;
extern void *shm_block WEAK;
extern volatile int *mem_lock WEAK;
extern int shm_use_global_lock WEAK;
#ifdef MPX_DBG_MALLOC
extern void *(*gen_shm_malloc)(void *blk, unsigned long size, const char *file,
                               const char *func, unsigned int line) WEAK;
extern void (*gen_shm_free)(void *blk, void *p, const char *file, const char *func,
                            unsigned int line) WEAK;
#else
extern void *(*gen_shm_malloc)(void *blk, unsigned long size) WEAK;
extern void (*gen_shm_free)(void *blk, void *p) WEAK;
#endif

/* ---- rtp_relay ---- */

typedef int (*mpx_reg_rtp_relay_f)(const char *name, struct mpx_rtp_relay_funcs *funcs,
                                   struct mpx_rtp_relay_hooks *hooks);

int mpx_register_rtp_relay(const char *name, struct mpx_rtp_relay_funcs *funcs,
                           struct mpx_rtp_relay_hooks *hooks)
{
	mpx_reg_rtp_relay_f reg;
	if (find_export == NULL)
		return 1;
	reg = (mpx_reg_rtp_relay_f)(void *)find_export("register_rtp_relay", 0);
	if (reg == NULL)
		return 1;
	return reg(name, funcs, hooks) == 0 ? 0 : -1;
}

int mpx_is_dummy_msg(struct sip_msg *msg)
{
	return is_dummy_sip_msg != NULL && is_dummy_sip_msg(msg) == 0;
}

int mpx_bin_push_str(void *packet, const char *s, int len)
{
	str v;
	if (bin_push_str == NULL || packet == NULL)
		return -1;
	v.s = (char *)s;
	v.len = len;
	return bin_push_str(packet, &v) < 0 ? -1 : 0;
}

int mpx_bin_pop_str(void *packet, char **s, int *len)
{
	str v;
	if (bin_pop_str == NULL || packet == NULL)
		return -1;
	if (bin_pop_str(packet, &v) < 0)
		return -1;
	*s = v.s;
	*len = v.len;
	return 0;
}

/* The core's shm lock (FAST_LOCK: gen_lock_t is a volatile int taken by exchanging its first
 * byte with 1; ADAPTIVE_WAIT: yield after 1024 busy tries). Taken only when the core says so
 * (shm_use_global_lock; the parallel allocators lock by themselves). */
static int shm_locking(void)
{
	return &shm_use_global_lock != NULL && shm_use_global_lock && &mem_lock != NULL &&
	       mem_lock != NULL;
}

static void shm_lock_get(void)
{
	int spins = 1024;
	if (!shm_locking())
		return;
	while (__atomic_exchange_n((volatile unsigned char *)mem_lock, 1, __ATOMIC_ACQUIRE)) {
		if (spins > 0)
			spins--;
		else
			sched_yield();
	}
}

static void shm_lock_release(void)
{
	if (!shm_locking())
		return;
	__atomic_store_n((volatile unsigned char *)mem_lock, 0, __ATOMIC_RELEASE);
}

void *mpx_shm_malloc(unsigned long size)
{
	void *p;
	if (&gen_shm_malloc == NULL || gen_shm_malloc == NULL || &shm_block == NULL)
		return NULL;
	shm_lock_get();
#ifdef MPX_DBG_MALLOC
	p = gen_shm_malloc(shm_block, size, "mediaproxy", "mpx_shm_malloc", 0);
#else
	p = gen_shm_malloc(shm_block, size);
#endif
	shm_lock_release();
	return p;
}

void mpx_shm_free(void *p)
{
	if (p == NULL || &gen_shm_free == NULL || gen_shm_free == NULL || &shm_block == NULL)
		return;
	shm_lock_get();
#ifdef MPX_DBG_MALLOC
	gen_shm_free(shm_block, p, "mediaproxy", "mpx_shm_free", 0);
#else
	gen_shm_free(shm_block, p);
#endif
	shm_lock_release();
}
