/*
 * mediaproxy.so — the C shim's interface: the host's macros and inline functions (logging,
 * pkg memory, header parsing, lumps, the process reactor) as plain functions with the `mpx_`
 * prefix. Rust calls only these; the shim is the only code that names core symbols, and it
 * names them weakly, so the crate's own tests link without an OpenSIPS core.
 */
#ifndef MPX_SHIM_H
#define MPX_SHIM_H

#include "mpx_types.h"

/* 1 when running inside an OpenSIPS core whose symbols resolved, 0 otherwise (tests). */
int mpx_host_available(void);

/* Logging through the core logger. `msg` is NUL-terminated and should end in "\n". */
int mpx_log_enabled(int level);
void mpx_log(int level, const char *func, const char *msg);

/* pkg (per-process) memory; lump contents must come from here. */
void *mpx_pkg_malloc(unsigned long size);
void mpx_pkg_free(void *p);

/* parse_headers(msg, flags, 0); 0 on success, -1 on error. */
int mpx_parse_headers(struct sip_msg *msg, unsigned long long flags);

/* Lumps. Offsets are relative to msg->buf and must be range-checked by the caller. */
struct lump *mpx_del_lump(struct sip_msg *msg, unsigned int offset, unsigned int len);
struct lump *mpx_anchor_lump(struct sip_msg *msg, unsigned int offset);
struct lump *mpx_insert_new_lump_after(struct lump *after, char *s, unsigned int len);
struct lump *mpx_insert_new_lump_before(struct lump *before, char *s, unsigned int len);

/* The bytes the core rebuilds around body offset `at` (src/host/common/splice.rs, R2 and R4):
 * get_body()'s body (after the empty line, at most Content-Length bytes), or, when a module
 * parsed the body into parts (msg->body), the received part whose content contains `at`
 * (its end included). Headers must be parsed to the end first. 0 and [*start, *end) on
 * success; -1 no body, -2 the body's parts were added or removed by the script, -3 no part
 * contains `at`. */
int mpx_body_region(struct sip_msg *msg, unsigned int at, unsigned int *start, unsigned int *end);
/* msg->eoh as an offset (the header section ends there; lumps past it are body lumps), or -1. */
long mpx_headers_end(struct sip_msg *msg);

/* Points the parsed URI of the message's first Contact at `uri` (`len` bytes that live as long
 * as the message, e.g. a lump's contents), parsing the Contact header first if needed: what
 * nathelper's fix_nated_contact() does, so that modules reading the parsed Contact afterwards
 * (dialog keeps each leg's contact for the requests it sends itself) see the fixed URI.
 * 0 on success, -1 when there is no (parsable) Contact. */
int mpx_set_first_contact_uri(struct sip_msg *msg, char *uri, int len);

/* The module-process reactor (PROC_FLAG_HAS_IPC processes must serve IPC through it). */
typedef int (*mpx_reactor_cb)(int fd, void *param, int was_timeout);
int mpx_reactor_init(char *name);
int mpx_reactor_add_fd(int fd, mpx_reactor_cb cb, void *param);
int mpx_reactor_loop(void);

/* Pseudo-variables: parse a spec once (attendant; `s` must outlive the module), read it per
 * message. mpx_pv_get returns 1 with a string in s and len, 2 with an integer in n, 0 when the
 * variable is unset/null, -1 on error. */
int mpx_pv_parse(const char *s, int len, struct mpx_pv_spec *out);
int mpx_pv_get(struct sip_msg *msg, struct mpx_pv_spec *spec, char **s, int *len, int *n);

/* The dialog API (load_dlg through find_export); 0 on success, -1 when dialog is not loaded. */
int mpx_load_dlg_api(struct dlg_binds *out);

/* The tm API (load_tm through find_export); 0 on success, -1 when tm is not loaded. */
int mpx_load_tm_api(struct tm_binds *out);

/* The usrloc API (ul_bind_usrloc through find_export); 0 on success, -1 when usrloc is not
 * loaded. */
int mpx_bind_usrloc(struct mpx_usrloc_api *out);
/* A timer in the core's timer process, every `interval` seconds (mod_init only); 0 on success. */
typedef void (mpx_timer_cb)(unsigned int ticks, void *param);
int mpx_register_timer(const char *label, mpx_timer_cb *f, void *param, unsigned int interval);

/* MI replies. Names are (pointer, length); a NULL name adds an array element. */
mi_response_t *mpx_mi_result_object(mi_item_t **out);
mi_response_t *mpx_mi_result_array(mi_item_t **out);
mi_response_t *mpx_mi_error(int code, const char *msg, int len);
mi_item_t *mpx_mi_add_object(mi_item_t *to, const char *name, int nlen);
mi_item_t *mpx_mi_add_array(mi_item_t *to, const char *name, int nlen);
int mpx_mi_add_string(mi_item_t *to, const char *name, int nlen, const char *v, int vlen);
int mpx_mi_add_number(mi_item_t *to, const char *name, int nlen, double v);
int mpx_mi_add_bool(mi_item_t *to, const char *name, int nlen, int v);
int mpx_mi_add_null(mi_item_t *to, const char *name, int nlen);
/* 0 with the value in s/len; -1 when absent or not a string */
int mpx_mi_string_param(const mi_params_t *params, const char *name, char **s, int *len);

/* Events (the core's event interface). The parameter list is freed by raising it. The
 * names and values are referenced, not copied, until mpx_evi_raise returns. */
int mpx_evi_publish(const char *name, int len);
int mpx_evi_probe(int id);
void *mpx_evi_params(void);
int mpx_evi_add_str(void *list, const str *name, const str *value);
int mpx_evi_add_int(void *list, const str *name, int value);
int mpx_evi_raise(int id, void *list);

/* Script calls of the `count` functions from `cmds` (ours): each integer literal given for a
 * string parameter (`client_nat_test(3)`) becomes its text, as if written "3", so that the
 * core's fixup, which runs after mod_init, accepts it. Walks the parsed routes as the core's
 * is_mod_func_used() does. Returns how many literals it changed, or -1 (no pkg memory). */
int mpx_script_numbers_as_text(const cmd_export_t *cmds, int count);

/* The rtp_relay module (find_export("register_rtp_relay")): registers this module as the
 * engine `name`; `funcs` is copied, `hooks` (which must live as long as the module) is filled.
 * 0 on success, 1 when rtp_relay is not loaded, -1 when it refused. */
int mpx_register_rtp_relay(const char *name, struct mpx_rtp_relay_funcs *funcs,
                           struct mpx_rtp_relay_hooks *hooks);
/* The core's bin_push_str / bin_pop_str on the framework's bin_packet_t (the copy contexts
 * kept in the dialog): 0 on success, -1 otherwise (also when the core is not there). A popped
 * string points into the packet. */
int mpx_bin_push_str(void *packet, const char *s, int len);
int mpx_bin_pop_str(void *packet, char **s, int *len);
/* 1 when `msg` is the core's dummy request (get_dummy_sip_msg), 0 otherwise. */
int mpx_is_dummy_msg(struct sip_msg *msg);
/* Shared memory, under the core's global shm lock when it uses one (what shm_malloc() and
 * shm_free() do); NULL when the core is not there. */
void *mpx_shm_malloc(unsigned long size);
void mpx_shm_free(void *p);

/* Process information. */
int mpx_my_pid(void);
int mpx_route_type(void);

#endif /* MPX_SHIM_H */
