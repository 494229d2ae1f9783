/*
 * mediaproxy.so — the C shim's interface for Kamailio: the core's macros, inline functions and
 * variadic interfaces (logging, pkg memory, the fixup helpers, the RPC context) as plain
 * functions with the `mpx_` prefix. Rust calls only these; the shim is the only code that
 * names core symbols, and it names them weakly, so the crate's own tests link without a core.
 */
#ifndef MPX_SHIM_H
#define MPX_SHIM_H

#include "mpx_types.h"

/* 1 when running inside a Kamailio core whose symbols resolved, 0 otherwise (tests). */
int mpx_host_available(void);

/* Logging as the core's LM_* macros do it (level check, structured logging engine, stderr
 * with -E, else syslog). `msg` is NUL-terminated and should end in "\n". */
int mpx_log_enabled(int level);
void mpx_log(int level, const char *func, const char *msg);

/* parse_headers(msg, HDR_EOH_F, 0); 0 on success, -1 on error. */
int mpx_parse_headers(struct sip_msg *msg);

/* Lumps. Offsets are relative to msg->buf and must be range-checked by the caller.
 * mpx_cut_lump: a delete lump over len bytes at offset, or an anchor there when len is 0. */
struct lump *mpx_cut_lump(struct sip_msg *msg, unsigned int offset, unsigned int len);
/* The bytes the core rebuilds around body offset `at` (src/host/common/splice.rs, R2): from
 * get_body() to the end of the message (Kamailio writes every body lump up to msg->len). 0 and
 * [*start, *end) on success, -1 no body. */
int mpx_body_region(struct sip_msg *msg, unsigned int at, unsigned int *start, unsigned int *end);
/* msg->eoh as an offset (lumps past it are body lumps), or -1. */
long mpx_headers_end(struct sip_msg *msg);
/* Inserts a pkg-memory copy of s[0..len) after `after`; the copy (freed with the message), or
 * NULL when out of memory. */
char *mpx_insert_copy_after(struct lump *after, const char *s, unsigned int len);

/* Points the parsed URI of the message's first Contact at uri[0..len) (memory that lives as
 * long as the message: a lump's contents), parsing the Contact first if needed, as nathelper's
 * fix_nated_contact() does; 0 on success, -1 when there is no (parsable) Contact. */
int mpx_set_first_contact_uri(struct sip_msg *msg, char *uri, int len);

/* Pseudo-variables: the core's cached spec for the whole text `s` (attendant), or NULL when
 * it is not exactly one variable. mpx_pv_get copies a string value into out (at most outlen
 * bytes) and returns 1 with its length in len, 2 with an integer in n, 0 when the variable is
 * unset/null, -1 on error or when the value does not fit. */
void *mpx_pv_parse(const char *s, int len);
int mpx_pv_get(struct sip_msg *msg, void *spec, char *out, int outlen, int *len, int *n);

/* Script function parameters: a string that may hold variables (fixup_spve_null), and its
 * value for a message. */
int mpx_fixup_spve(void **param, int param_no);
int mpx_free_fixup_spve(void **param, int param_no);
int mpx_param_str(struct sip_msg *msg, void *param, char **s, int *len);

/* The dialog module: its API (load_dlg, found by find_export); dlg_manage() for a message;
 * ending a dialog by its ids through its "dlg.end_dlg" RPC, holding the dialog's hash-slot
 * lock (by its Call-ID) meanwhile (0 on success, else the RPC's fault code, -1 when the dialog
 * module is not loaded; `err` gets the fault text). */
int mpx_load_dlg_api(struct dlg_binds *out);
int mpx_dlg_manage(struct sip_msg *msg);
int mpx_dlg_end(unsigned int h_entry, unsigned int h_id, const char *callid, int callid_len,
		char *err, int errlen);

/* usrloc's API (ul_bind_usrloc, found by find_export): 0 on success, -1 when usrloc is not
 * loaded. A timer in the core's timer process every `interval` seconds (mod_init only). */
int mpx_bind_usrloc(struct mpx_usrloc_api *out);
typedef void (mpx_timer_cb)(unsigned int ticks, void *param);
int mpx_register_timer(mpx_timer_cb *f, void *param, unsigned int interval);

/* Processes: room for `n` more processes (mod_init); fork_process(PROC_NOCHLDINIT, desc, 1)
 * (child_init of the main process: -1 error, 0 in the child, the child's pid in the parent);
 * the RPC-process child_init of every module (in the forked child). */
int mpx_register_procs(int n);
int mpx_fork_process(const char *desc);
int mpx_init_child_rpc(void);

/* RPC replies (an RPC function's `rpc` and `ctx`): a fault; the first parameter as a string;
 * a value added to the reply (h NULL), to the struct h under `name`, or to the array h (name
 * NULL); a struct or array node added so (NULL on failure). The core copies strings. */
void mpx_rpc_fault(mpx_rpc_t *rpc, void *ctx, int code, const char *msg);
int mpx_rpc_scan_str(mpx_rpc_t *rpc, void *ctx, char **out);
int mpx_rpc_add_str(mpx_rpc_t *rpc, void *ctx, void *h, const char *name, const char *s);
int mpx_rpc_add_int(mpx_rpc_t *rpc, void *ctx, void *h, const char *name, int v);
int mpx_rpc_add_double(mpx_rpc_t *rpc, void *ctx, void *h, const char *name, double v);
int mpx_rpc_add_bool(mpx_rpc_t *rpc, void *ctx, void *h, const char *name, int v);
void *mpx_rpc_add_node(mpx_rpc_t *rpc, void *ctx, void *h, const char *name, int array);

/* Counters (counters.h): registers group.name (mod_init only: the core sizes its tables
 * after); its value is cbk(handle, param) wherever it is read (kamcmd stats.get_statistics,
 * the counters module's cnt.* commands). 0 on success, -1 on error. */
int mpx_counter_register(const char *group, const char *name, mpx_counter_cbk cbk, void *param,
		const char *doc);

/* Event routes: the index of event_route[name] in the core's table, or -1 when the script has
 * none (mod_init); running it on a faked message as an EVENT_ROUTE (0 ran, -1 not). */
int mpx_event_route_lookup(const char *name);
int mpx_run_event_route(int idx);

/* The pseudo-variable $mpx(name) (module_exports.pv_items): its value comes from `f`
 * (set once in mod_init), called with the name: 1 text (s, slen; alive until the route ends),
 * 2 an integer (n), 0 none (the variable is $null). */
typedef int (*mpx_pv_field_f)(const char *name, int len, const char **s, int *slen, int *n);
void mpx_pv_set_field_source(mpx_pv_field_f f);
int mpx_pv_parse_field_name(struct mpx_pv_spec *sp, str *in);
int mpx_pv_get_field(struct sip_msg *msg, struct mpx_pv_param *param, struct mpx_pv_value *res);

#endif /* MPX_SHIM_H */
