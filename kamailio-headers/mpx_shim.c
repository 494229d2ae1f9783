/*
 * mediaproxy.so — C shim for Kamailio's macros, inline functions and variadic interfaces.
 * See mpx_shim.h.
 *
 * Every core symbol is declared weak: inside Kamailio (whose binary exports its symbols to the
 * modules it loads) they resolve at dlopen time; in the crate's test binaries they stay NULL
 * and are never called (mpx_host_available() tells).
 */
#define _GNU_SOURCE /* dladdr, RTLD_NOLOAD */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mpx_shim.h"

#define WEAK __attribute__((weak))
#define MPX_MOD "mediaproxy"

/* ---- core symbols (Kamailio 5.6 core) ---- */
extern int get_debug_level(char *mname, int mnlen) WEAK;
extern int get_debug_facility(char *mname, int mnlen) WEAK;
extern int log_stderr WEAK;
extern int log_color WEAK;
extern volatile int dprint_crit WEAK;
extern str *log_prefix_val WEAK;
extern struct mpx_log_level_info log_level_info[] WEAK;
extern void (*_km_log_func)(int, const char *, ...) WEAK;
extern void (*_ksr_slog_func)(struct mpx_logdata *, const char *, ...) WEAK;
extern void dprint_color(int level) WEAK;
extern void dprint_color_reset(void) WEAK;
extern int process_no WEAK;
extern int my_pid(void) WEAK;
extern struct mpx_pkg_api _pkg_root WEAK;
extern int parse_headers(struct sip_msg *msg, unsigned long long flags, int next) WEAK;
extern char *get_body(struct sip_msg *msg) WEAK;
extern struct lump *del_lump(struct sip_msg *msg, int offset, int len, int type) WEAK;
extern struct lump *anchor_lump(struct sip_msg *msg, int offset, int len, int type) WEAK;
extern struct lump *insert_new_lump_after(struct lump *after, char *s, int len, int type) WEAK;
extern int parse_contact(struct hdr_field *contact) WEAK;
#include "mpx_contact.h"
extern int pv_locate_name(str *in) WEAK;
extern void *pv_cache_get(str *name) WEAK;
extern int pv_get_spec_value(struct sip_msg *msg, void *sp, struct mpx_pv_value *v) WEAK;
extern void pv_value_destroy(struct mpx_pv_value *v) WEAK;
extern int fixup_spve_null(void **param, int param_no) WEAK;
extern int fixup_free_spve_null(void **param, int param_no) WEAK;
extern int get_str_fparam(str *dst, struct sip_msg *msg, void *param) WEAK;
extern cmd_function find_export(char *name, int param_no, int flags) WEAK;
extern mpx_rpc_export_t *find_rpc_export(char *name, int flags) WEAK;
extern int register_procs(int no) WEAK;
extern int register_timer(mpx_timer_cb *f, void *param, unsigned int interval) WEAK;
extern int fork_process(int child_id, char *desc, int make_sock) WEAK;
extern int init_child(int rank) WEAK;
extern int counter_register(struct mpx_counter_handle *handle, const char *group,
		const char *name, int flags, mpx_counter_cbk cbk, void *cbk_param, const char *doc,
		int reg_flags) WEAK;
struct mpx_route_list { void **rlist; };   /* struct route_list: its first field only */
extern struct mpx_route_list event_rt WEAK;
extern int route_type WEAK;
extern int route_lookup(struct mpx_route_list *rt, char *name) WEAK;
extern int faked_msg_init(void) WEAK;
extern struct sip_msg *faked_msg_next(void) WEAK;
extern int run_top_route(void *a, struct sip_msg *msg, void *ctx) WEAK;
extern int pv_get_null(struct sip_msg *msg, struct mpx_pv_param *param, struct mpx_pv_value *res) WEAK;
extern int pv_get_sintval(struct sip_msg *msg, struct mpx_pv_param *param,
		struct mpx_pv_value *res, int sival) WEAK;
extern int pv_get_strval(struct sip_msg *msg, struct mpx_pv_param *param,
		struct mpx_pv_value *res, str *sval) WEAK;

int mpx_host_available(void)
{
	return get_debug_level != NULL && parse_headers != NULL && &_pkg_root != NULL;
}

/* ---- logging ---- */

int mpx_log_enabled(int level)
{
	if (get_debug_level == NULL)
		return 0;
	return get_debug_level(MPX_MOD, sizeof(MPX_MOD) - 1) >= level;
}

void mpx_log(int level, const char *func, const char *msg)
{
	/* what LM_* prints between the level name and the function: the module's LOC_INFO */
	static const char loc[] = MPX_MOD ": ";
	char *lname;
	int syslog_level, facility;
	str *prefix;

	if (!mpx_host_available() || &log_level_info == NULL || !mpx_log_enabled(level))
		return;
	if (&dprint_crit != NULL && dprint_crit != 0)
		return; /* the core is logging from a signal handler */
	if (level < MPX_L_ALERT)
		level = MPX_L_ALERT;
	if (level > MPX_L_DBG)
		level = MPX_L_DBG;
	lname = log_level_info[level - MPX_L_ALERT].name;
	syslog_level = log_level_info[level - MPX_L_ALERT].syslog_level;
	facility = get_debug_facility ? get_debug_facility(MPX_MOD, sizeof(MPX_MOD) - 1) : 0;
	if (&dprint_crit != NULL)
		dprint_crit++;
	if (&_ksr_slog_func != NULL && _ksr_slog_func != NULL) {
		struct mpx_logdata d;
		memset(&d, 0, sizeof d);
		d.v_facility = syslog_level | facility;
		d.v_level = level;
		d.v_lname = lname;
		d.v_fname = "mediaproxy.so";
		d.v_fline = 0;
		d.v_mname = MPX_MOD;
		d.v_func = func;
		d.v_locinfo = loc;
		_ksr_slog_func(&d, "%s", msg);
	} else {
		prefix = (&log_prefix_val != NULL) ? log_prefix_val : NULL;
		if (&log_stderr != NULL && log_stderr) {
			int color = (&log_color != NULL) && log_color && dprint_color && dprint_color_reset;
			if (color)
				dprint_color(level);
			/* the user's text always goes through "%s": no '%' of ours reaches printf */
			fprintf(stderr, "%2d(%d) %s: %.*s%s%s(): %s",
			        (&process_no != NULL) ? process_no : 0, my_pid ? my_pid() : 0, lname,
			        prefix ? prefix->len : 0, prefix ? prefix->s : "", loc, func, msg);
			if (color)
				dprint_color_reset();
		} else if (&_km_log_func != NULL && _km_log_func != NULL) {
			_km_log_func(syslog_level | facility, "%s: %.*s%s%s(): %s", lname,
			             prefix ? prefix->len : 0, prefix ? prefix->s : "", loc, func, msg);
		}
	}
	if (&dprint_crit != NULL)
		dprint_crit--;
}

/* ---- parsing and lumps ---- */

int mpx_parse_headers(struct sip_msg *msg)
{
	if (parse_headers == NULL)
		return -1;
	return parse_headers(msg, ~0ULL /* HDR_EOH_F */, 0) < 0 ? -1 : 0;
}

struct lump *mpx_cut_lump(struct sip_msg *msg, unsigned int offset, unsigned int len)
{
	if (offset > msg->len || len > msg->len - offset)
		return NULL;
	if (len == 0)
		return anchor_lump ? anchor_lump(msg, (int)offset, 0, 0) : NULL;
	return del_lump ? del_lump(msg, (int)offset, (int)len, 0) : NULL;
}

/* get_body() (core/parser/msg_parser.c) and build_req_buf_from_sip_req()'s copy of the
 * message up to msg->len (core/msg_translator.c), Kamailio 5.6.3 */
int mpx_body_region(struct sip_msg *msg, unsigned int at, unsigned int *start, unsigned int *end)
{
	char *b;

	if (get_body == NULL || msg->buf == NULL)
		return -1;
	b = get_body(msg);
	if (b == NULL || b < msg->buf || b > msg->buf + msg->len || msg->buf + at < b)
		return -1;
	*start = (unsigned int)(b - msg->buf);
	*end = msg->len;
	return 0;
}

long mpx_headers_end(struct sip_msg *msg)
{
	if (msg->eoh == NULL || msg->buf == NULL || msg->eoh < msg->buf ||
	    msg->eoh > msg->buf + msg->len)
		return -1;
	return (long)(msg->eoh - msg->buf);
}

static void *pkg_alloc(unsigned int size)
{
#ifdef MPX_SYS_MALLOC
	return malloc(size);
#else
	if (&_pkg_root == NULL || _pkg_root.xmalloc == NULL)
		return NULL;
#ifdef MPX_DBG_SR_MEMORY
	return _pkg_root.xmalloc(_pkg_root.mem_block, size, MPX_MOD ": mpx_shim.c", __func__,
	                         __LINE__, MPX_MOD);
#else
	return _pkg_root.xmalloc(_pkg_root.mem_block, size);
#endif
#endif
}

static void pkg_release(void *p)
{
#ifdef MPX_SYS_MALLOC
	free(p);
#else
	if (&_pkg_root == NULL || _pkg_root.xfree == NULL)
		return;
#ifdef MPX_DBG_SR_MEMORY
	_pkg_root.xfree(_pkg_root.mem_block, p, MPX_MOD ": mpx_shim.c", __func__, __LINE__,
	                MPX_MOD);
#else
	_pkg_root.xfree(_pkg_root.mem_block, p);
#endif
#endif
}

char *mpx_insert_copy_after(struct lump *after, const char *s, unsigned int len)
{
	char *p;
	if (insert_new_lump_after == NULL || after == NULL || len == 0)
		return NULL;
	p = pkg_alloc(len);
	if (p == NULL)
		return NULL;
	memcpy(p, s, len);
	if (insert_new_lump_after(after, p, (int)len, 0) == NULL) {
		pkg_release(p); /* the lump did not take it */
		return NULL;
	}
	return p;
}

int mpx_set_first_contact_uri(struct sip_msg *msg, char *uri, int len)
{
	return mpx_point_first_contact(msg->contact, uri, len);
}

/* ---- pseudo-variables ---- */

#define MPX_PV_VAL_NULL 1
#define MPX_PV_VAL_STR 4
#define MPX_PV_VAL_INT 8
#define MPX_PV_VAL_PKG 32
#define MPX_PV_VAL_SHM 64

void *mpx_pv_parse(const char *s, int len)
{
	str in;
	if (pv_cache_get == NULL || pv_locate_name == NULL || s == NULL || len <= 0)
		return NULL;
	in.s = (char *)s;
	in.len = len;
	/* the whole text must be one variable, not "$avp(x)junk" */
	if (pv_locate_name(&in) != len)
		return NULL;
	return pv_cache_get(&in);
}

int mpx_pv_get(struct sip_msg *msg, void *spec, char *out, int outlen, int *len, int *n)
{
	struct mpx_pv_value v;
	int rc;
	if (pv_get_spec_value == NULL || spec == NULL)
		return -1;
	memset(&v, 0, sizeof v);
	if (pv_get_spec_value(msg, spec, &v) != 0)
		return -1;
	if (v.flags & MPX_PV_VAL_NULL) {
		rc = 0;
	} else if (v.flags & MPX_PV_VAL_STR) {
		if (v.rs.len < 0 || v.rs.len > outlen || (v.rs.len > 0 && v.rs.s == NULL)) {
			rc = -1;
		} else {
			if (v.rs.len > 0)
				memcpy(out, v.rs.s, (size_t)v.rs.len);
			*len = v.rs.len;
			rc = 1;
		}
	} else if (v.flags & MPX_PV_VAL_INT) {
		*n = v.ri;
		rc = 2;
	} else {
		rc = 0;
	}
	if ((v.flags & (MPX_PV_VAL_PKG | MPX_PV_VAL_SHM)) && pv_value_destroy != NULL)
		pv_value_destroy(&v);
	return rc;
}

/* ---- script function parameters ---- */

int mpx_fixup_spve(void **param, int param_no)
{
	return fixup_spve_null ? fixup_spve_null(param, param_no) : -1;
}

int mpx_free_fixup_spve(void **param, int param_no)
{
	return fixup_free_spve_null ? fixup_free_spve_null(param, param_no) : 0;
}

int mpx_param_str(struct sip_msg *msg, void *param, char **s, int *len)
{
	str v;
	if (get_str_fparam == NULL || param == NULL)
		return -1;
	v.s = NULL;
	v.len = 0;
	if (get_str_fparam(&v, msg, param) != 0 || (v.len > 0 && v.s == NULL))
		return -1;
	*s = v.s;
	*len = v.len;
	return 0;
}

/* ---- dialog module ---- */

int mpx_load_dlg_api(struct dlg_binds *out)
{
	int (*load_dlg)(struct dlg_binds *);
	if (find_export == NULL)
		return -1;
	load_dlg = (int (*)(struct dlg_binds *))(void *)find_export("load_dlg", 0, 0);
	if (load_dlg == NULL)
		return -1;
	memset(out, 0, sizeof *out);
	return load_dlg(out) == -1 ? -1 : 0;
}

int mpx_bind_usrloc(struct mpx_usrloc_api *out)
{
	int (*bind)(struct mpx_usrloc_api *);
	if (find_export == NULL)
		return -1;
	bind = (int (*)(struct mpx_usrloc_api *))(void *)find_export("ul_bind_usrloc", 1, 0);
	if (bind == NULL)
		return -1;
	memset(out, 0, sizeof *out);
	return bind(out) < 0 ? -1 : 0;
}

int mpx_register_timer(mpx_timer_cb *f, void *param, unsigned int interval)
{
	if (register_timer == NULL)
		return -1;
	return register_timer(f, param, interval) < 0 ? -1 : 0;
}

int mpx_dlg_manage(struct sip_msg *msg)
{
	cmd_function f;
	if (find_export == NULL)
		return -1;
	f = find_export("dlg_manage", 0, 0);
	return f ? f(msg, NULL, NULL) : -1;
}

/* The RPC context handed to "dlg.end_dlg": its two parameters, and the fault it reports. */
struct mpx_rpc_ctx {
	unsigned int params[2];
	int next;
	int fault_code;
	char fault[128];
};

static void rpc_fault(void *ctx, int code, char *fmt, ...)
{
	struct mpx_rpc_ctx *c = ctx;
	va_list ap;
	c->fault_code = code ? code : 500;
	va_start(ap, fmt);
	vsnprintf(c->fault, sizeof c->fault, fmt, ap);
	va_end(ap);
}

/* what dlg.end_dlg never calls: replies, structures, delayed contexts */
static int rpc_send(void *c) { (void)c; return 0; }
static int rpc_ignore(void *c, char *fmt, ...) { (void)c; (void)fmt; return 0; }
static int rpc_struct_printf(void *c, char *n, char *f, ...) { (void)c; (void)n; (void)f; return 0; }

/* Hands out the integers for "d"/"u" conversions; anything else (the optional "*S" for extra
 * headers) is "no more parameters". Returns how many were read, as the core's scan does. */
static int rpc_scan(void *ctx, char *fmt, ...)
{
	struct mpx_rpc_ctx *c = ctx;
	va_list ap;
	int read = 0;
	va_start(ap, fmt);
	for (; *fmt; fmt++) {
		if (*fmt == '*' || *fmt == '.')
			continue;
		if ((*fmt != 'd' && *fmt != 'u') || c->next >= 2)
			break;
		*va_arg(ap, int *) = (int)c->params[c->next++];
		read++;
	}
	va_end(ap);
	return read;
}

static int rpc_capabilities(void *c) { (void)c; return 0; }
static void *rpc_delayed_new(void *c) { (void)c; return NULL; }
static void rpc_delayed_close(void *d) { (void)d; }

/* dialog.so's lock of a dialog's hash slot, by Call-ID (re-entrant within one process). It is
 * not in the dialog API: looked up in the library that holds load_dlg. */
typedef void (*mpx_dlg_slot_f)(str *callid);

static int dlg_slot_fns(mpx_dlg_slot_f *lock, mpx_dlg_slot_f *release)
{
	static int done;
	static mpx_dlg_slot_f l, r;
	if (!done) {
		Dl_info info;
		void *load = find_export ? (void *)find_export("load_dlg", 0, 0) : NULL;
		done = 1;
		if (load != NULL && dladdr(load, &info) != 0 && info.dli_fname != NULL) {
			void *h = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
			if (h != NULL) {
				l = (mpx_dlg_slot_f)dlsym(h, "dlg_hash_lock");
				r = (mpx_dlg_slot_f)dlsym(h, "dlg_hash_release");
				/* the core keeps dialog.so loaded; drop only our reference */
				dlclose(h);
			}
		}
	}
	*lock = l;
	*release = r;
	return l != NULL && r != NULL;
}

int mpx_dlg_end(unsigned int h_entry, unsigned int h_id, const char *callid, int callid_len,
		char *err, int errlen)
{
	static mpx_rpc_t rpc = {
		.fault = rpc_fault, .send = rpc_send, .add = rpc_ignore, .scan = rpc_scan,
		.rpl_printf = rpc_ignore, .struct_add = rpc_ignore, .array_add = rpc_ignore,
		.struct_scan = rpc_ignore, .struct_printf = rpc_struct_printf,
		.capabilities = rpc_capabilities, .delayed_ctx_new = rpc_delayed_new,
		.delayed_ctx_close = rpc_delayed_close,
	};
	mpx_rpc_export_t *e;
	struct mpx_rpc_ctx c;
	mpx_dlg_slot_f lock, release;
	str cid;
	int locked;
	if (find_rpc_export == NULL)
		return -1;
	e = find_rpc_export("dlg.end_dlg", 0);
	if (e == NULL || e->function == NULL)
		return -1;
	memset(&c, 0, sizeof c);
	c.params[0] = h_entry;
	c.params[1] = h_id;
	/* dlg.end_dlg sends a BYE to the caller, then one to the callee, and refuses the second
	 * once the dialog is no longer confirmed: the final reply to the first BYE, handled in a
	 * SIP worker, ends it. Holding the dialog's slot lock keeps that reply waiting until both
	 * BYEs are out. */
	cid.s = (char *)callid;
	cid.len = callid_len;
	locked = callid != NULL && callid_len > 0 && dlg_slot_fns(&lock, &release);
	if (locked)
		lock(&cid);
	e->function(&rpc, &c);
	if (locked)
		release(&cid);
	if (c.fault_code != 0 && err != NULL && errlen > 0)
		snprintf(err, (size_t)errlen, "%s", c.fault);
	return c.fault_code;
}

/* ---- processes ---- */

int mpx_register_procs(int n)
{
	return register_procs ? register_procs(n) : -1;
}

int mpx_fork_process(const char *desc)
{
	/* the core copies desc into its process table */
	return fork_process ? fork_process(MPX_PROC_NOCHLDINIT, (char *)desc, 1) : -1;
}

int mpx_init_child_rpc(void)
{
	return init_child ? init_child(MPX_PROC_RPC) : -1;
}

/* ---- our RPC commands' replies ---- */

void mpx_rpc_fault(mpx_rpc_t *rpc, void *ctx, int code, const char *msg)
{
	rpc->fault(ctx, code, "%s", msg);
}

int mpx_rpc_scan_str(mpx_rpc_t *rpc, void *ctx, char **out)
{
	*out = NULL;
	return rpc->scan(ctx, "*s", out) == 1 && *out != NULL ? 0 : -1;
}

/* One value, added to the reply itself (h NULL), to the struct h under `name`, or to the
 * array h (name NULL). kind: 's' string, 'd' int, 'f' double, 'b' bool. */
static int rpc_value(mpx_rpc_t *rpc, void *ctx, void *h, const char *name, char kind,
                     const char *s, int i, double f)
{
	char fmt[2] = { kind, 0 };
	if (h == NULL) {
		switch (kind) {
		case 's': return rpc->add(ctx, fmt, s);
		case 'f': return rpc->add(ctx, fmt, f);
		default: return rpc->add(ctx, fmt, i);
		}
	}
	if (name == NULL) {
		switch (kind) {
		case 's': return rpc->array_add(h, fmt, s);
		case 'f': return rpc->array_add(h, fmt, f);
		default: return rpc->array_add(h, fmt, i);
		}
	}
	switch (kind) {
	case 's': return rpc->struct_add(h, fmt, name, s);
	case 'f': return rpc->struct_add(h, fmt, name, f);
	default: return rpc->struct_add(h, fmt, name, i);
	}
}

int mpx_rpc_add_str(mpx_rpc_t *rpc, void *ctx, void *h, const char *name, const char *s)
{
	return rpc_value(rpc, ctx, h, name, 's', s, 0, 0) < 0 ? -1 : 0;
}

int mpx_rpc_add_int(mpx_rpc_t *rpc, void *ctx, void *h, const char *name, int v)
{
	return rpc_value(rpc, ctx, h, name, 'd', NULL, v, 0) < 0 ? -1 : 0;
}

int mpx_rpc_add_double(mpx_rpc_t *rpc, void *ctx, void *h, const char *name, double v)
{
	return rpc_value(rpc, ctx, h, name, 'f', NULL, 0, v) < 0 ? -1 : 0;
}

int mpx_rpc_add_bool(mpx_rpc_t *rpc, void *ctx, void *h, const char *name, int v)
{
	return rpc_value(rpc, ctx, h, name, 'b', NULL, v != 0, 0) < 0 ? -1 : 0;
}

void *mpx_rpc_add_node(mpx_rpc_t *rpc, void *ctx, void *h, const char *name, int array)
{
	void *node = NULL;
	const char *fmt = array ? "[" : "{";
	int r;
	if (h == NULL)
		r = rpc->add(ctx, (char *)fmt, &node);
	else if (name == NULL)
		r = rpc->array_add(h, (char *)fmt, &node);
	else
		r = rpc->struct_add(h, (char *)fmt, name, &node);
	return r < 0 ? NULL : node;
}

/* ---- counters ---- */

int mpx_counter_register(const char *group, const char *name, mpx_counter_cbk cbk, void *param,
		const char *doc)
{
	if (counter_register == NULL)
		return -1;
	return counter_register(NULL, group, name, MPX_CNT_F_NO_RESET, cbk, param, doc, 0) < 0 ? -1 : 0;
}

/* ---- event routes ---- */

#define MPX_EVENT_ROUTE (1 | 512) /* REQUEST_ROUTE | ONEVENT_ROUTE */

int mpx_event_route_lookup(const char *name)
{
	int idx;
	if (route_lookup == NULL || &event_rt == NULL)
		return -1;
	idx = route_lookup(&event_rt, (char *)name);
	return (idx >= 0 && event_rt.rlist != NULL && event_rt.rlist[idx] != NULL) ? idx : -1;
}

int mpx_run_event_route(int idx)
{
	struct sip_msg *fmsg;
	int backup;
	if (idx < 0 || &event_rt == NULL || &route_type == NULL || run_top_route == NULL
			|| faked_msg_init == NULL || faked_msg_next == NULL || event_rt.rlist[idx] == NULL)
		return -1;
	if (faked_msg_init() < 0)
		return -1;
	fmsg = faked_msg_next();
	if (fmsg == NULL)
		return -1;
	backup = route_type;
	route_type = MPX_EVENT_ROUTE;
	run_top_route(event_rt.rlist[idx], fmsg, NULL);
	route_type = backup;
	return 0;
}

/* ---- $mpx(name) ---- */

static mpx_pv_field_f field_source;

void mpx_pv_set_field_source(mpx_pv_field_f f)
{
	field_source = f;
}

int mpx_pv_parse_field_name(struct mpx_pv_spec *sp, str *in)
{
	if (sp == NULL || in == NULL || in->s == NULL || in->len <= 0)
		return -1;
	/* the name's text lives as long as the parsed script */
	sp->pvp.pvn.type = MPX_PV_NAME_INTSTR;
	sp->pvp.pvn.u.isname.type = MPX_AVP_NAME_STR;
	sp->pvp.pvn.u.isname.name.s = *in;
	return 0;
}

int mpx_pv_get_field(struct sip_msg *msg, struct mpx_pv_param *param, struct mpx_pv_value *res)
{
	const char *s = NULL;
	int slen = 0, n = 0, rc;
	str v;
	if (pv_get_null == NULL || pv_get_strval == NULL || pv_get_sintval == NULL)
		return -1;
	if (param == NULL || field_source == NULL)
		return pv_get_null(msg, param, res);
	rc = field_source(param->pvn.u.isname.name.s.s, param->pvn.u.isname.name.s.len, &s, &slen, &n);
	if (rc == 1 && s != NULL) {
		v.s = (char *)s;
		v.len = slen;
		return pv_get_strval(msg, param, res, &v);
	}
	if (rc == 2)
		return pv_get_sintval(msg, param, res, n);
	return pv_get_null(msg, param, res);
}
