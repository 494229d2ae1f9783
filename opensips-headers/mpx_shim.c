/*
 * mediaproxy.so — C shim for the host's macros and inline functions. See mpx_shim.h.
 *
 * Every core symbol is declared weak: inside OpenSIPS (which exports its symbols with -E)
 * they resolve at dlopen time; in the crate's test binaries they stay NULL and are never
 * called (mpx_host_available() tells).
 */
#include <stdio.h>
#include <time.h>
#include <string.h>
#include "mpx_shim.h"

#define WEAK __attribute__((weak))

/* ---- core symbols (see the project's ABI notes, §6, §7, §11) ---- */
extern void dprint(int level, int facility, const char *module, const char *func,
                   char *stderr_fmt, char *syslog_fmt, char *format, ...) WEAK;
extern int dp_my_pid(void) WEAK;
extern int *log_level WEAK;
extern char *log_prefix WEAK;
extern int log_facility WEAK;
extern int route_type WEAK;
extern void *mem_block WEAK;
#ifdef MPX_DBG_MALLOC
extern void *(*gen_pkg_malloc)(void *blk, unsigned long size, const char *file,
                               const char *func, unsigned int line) WEAK;
extern void (*gen_pkg_free)(void *blk, void *p, const char *file, const char *func,
                            unsigned int line) WEAK;
#else
extern void *(*gen_pkg_malloc)(void *blk, unsigned long size) WEAK;
extern void (*gen_pkg_free)(void *blk, void *p) WEAK;
#endif
extern int parse_headers_aux(struct sip_msg *msg, unsigned long long flags, int next,
                             int sip_well_known_parse) WEAK;
extern struct lump *del_lump(struct sip_msg *msg, unsigned int offset, unsigned int len,
                             int type) WEAK;
extern struct lump *anchor_lump(struct sip_msg *msg, unsigned int offset, int type) WEAK;
extern struct lump *insert_new_lump_after(struct lump *after, char *s, unsigned int len,
                                          int type) WEAK;
extern struct lump *insert_new_lump_before(struct lump *before, char *s, unsigned int len,
                                           int type) WEAK;
extern int parse_contact(struct hdr_field *h) WEAK;
#include "mpx_contact.h"
extern int reactor_proc_init(char *name) WEAK;
extern int reactor_proc_add_fd(int fd, mpx_reactor_cb func, void *param) WEAK;
extern int reactor_proc_loop(void) WEAK;

typedef struct { str rs; int ri; int flags; } mpx_pv_value;
extern char *pv_parse_spec(const str *in, struct mpx_pv_spec *sp) WEAK;
extern int pv_get_spec_value(struct sip_msg *msg, struct mpx_pv_spec *sp, mpx_pv_value *v) WEAK;
extern cmd_function find_export(const char *name, int flags) WEAK;
extern int register_timer(char *label, mpx_timer_cb *f, void *param, unsigned int interval,
                          unsigned short flags) WEAK;

extern mi_response_t *init_mi_result_object(mi_item_t **obj_out) WEAK;
extern mi_response_t *init_mi_result_array(mi_item_t **arr_out) WEAK;
extern mi_response_t *init_mi_error_extra(int code, const char *msg, int msg_len,
                                          const char *details, int details_len) WEAK;
extern mi_item_t *add_mi_object(mi_item_t *to, char *name, int name_len) WEAK;
extern mi_item_t *add_mi_array(mi_item_t *to, char *name, int name_len) WEAK;
extern int add_mi_string(mi_item_t *to, char *name, int name_len, const char *value,
                         int value_len) WEAK;
extern int add_mi_number(mi_item_t *to, char *name, int name_len, double value) WEAK;
extern int add_mi_bool(mi_item_t *to, char *name, int name_len, int b) WEAK;
extern int add_mi_null(mi_item_t *to, char *name, int name_len) WEAK;
extern int get_mi_string_param(const mi_params_t *params, char *name, char **value,
                               int *value_len) WEAK;

extern int evi_publish_event(str name) WEAK;
extern int evi_probe_event(int id) WEAK;
extern void *evi_get_params(void) WEAK;
extern int evi_param_add(void *list, const str *name, const void *param, int flags) WEAK;
extern void evi_free_params(void *list) WEAK;
extern int evi_raise_event(int id, void *params) WEAK;

int mpx_host_available(void)
{
	return dprint != NULL && &log_level != NULL && parse_headers_aux != NULL;
}

/* ---- logging ---- */

int mpx_log_enabled(int level)
{
	if (&log_level == NULL || log_level == NULL)
		return 0;
	return *log_level >= level;
}

static const char *level_text(int level)
{
	switch (level) {
	case MPX_L_ALERT: return "ALERT";
	case MPX_L_CRIT: return "CRITICAL";
	case MPX_L_ERR: return "ERROR";
	case MPX_L_WARN: return "WARNING";
	case MPX_L_NOTICE: return "NOTICE";
	case MPX_L_INFO: return "INFO";
	default: return "DBG";
	}
}

void mpx_log(int level, const char *func, const char *msg)
{
	char tbuf[32];
	char stderr_fmt[64];
	char syslog_fmt[64];
	time_t now;
	const char *prefix;

	if (dprint == NULL || !mpx_log_enabled(level))
		return;
	/* what the core's dp_time() does, in a buffer of our own: "Nov 21 13:04:47" */
	now = time(NULL);
	if (ctime_r(&now, tbuf) == NULL)
		strcpy(tbuf, "??? ??? ?? ??:??:?? ????");
	tbuf[19] = '\0';
	/* the user's text always goes through a constant "%s": no '%' of ours reaches printf */
	strcpy(stderr_fmt, "%s [%d] %s");
	strcat(stderr_fmt, level_text(level));
	strcat(stderr_fmt, ":mediaproxy:%s: %s");
	strcpy(syslog_fmt, "%s");
	strcat(syslog_fmt, level_text(level));
	strcat(syslog_fmt, ":mediaproxy:%s: %s");
	prefix = (&log_prefix != NULL && log_prefix != NULL) ? log_prefix : "";
	dprint(level, (&log_facility != NULL) ? log_facility : 0, "mediaproxy", func,
	       stderr_fmt, syslog_fmt, "%s", tbuf + 4, dp_my_pid ? dp_my_pid() : 0, prefix, func,
	       msg);
}

/* ---- pkg memory ---- */

void *mpx_pkg_malloc(unsigned long size)
{
	if (&gen_pkg_malloc == NULL || gen_pkg_malloc == NULL)
		return NULL;
#ifdef MPX_DBG_MALLOC
	return gen_pkg_malloc(mem_block, size, "mediaproxy", "mpx_pkg_malloc", 0);
#else
	return gen_pkg_malloc(mem_block, size);
#endif
}

void mpx_pkg_free(void *p)
{
	if (p == NULL || &gen_pkg_free == NULL || gen_pkg_free == NULL)
		return;
#ifdef MPX_DBG_MALLOC
	gen_pkg_free(mem_block, p, "mediaproxy", "mpx_pkg_free", 0);
#else
	gen_pkg_free(mem_block, p);
#endif
}

/* ---- parsing and lumps ---- */

int mpx_parse_headers(struct sip_msg *msg, unsigned long long flags)
{
	if (parse_headers_aux == NULL)
		return -1;
	return parse_headers_aux(msg, flags, 0, 1);
}

struct lump *mpx_del_lump(struct sip_msg *msg, unsigned int offset, unsigned int len)
{
	if (del_lump == NULL || offset > msg->len || offset + len > msg->len)
		return NULL;
	return del_lump(msg, offset, len, 0);
}

struct lump *mpx_anchor_lump(struct sip_msg *msg, unsigned int offset)
{
	if (anchor_lump == NULL || offset > msg->len)
		return NULL;
	return anchor_lump(msg, offset, 0);
}

struct lump *mpx_insert_new_lump_after(struct lump *after, char *s, unsigned int len)
{
	if (insert_new_lump_after == NULL)
		return NULL;
	return insert_new_lump_after(after, s, len, 0);
}

struct lump *mpx_insert_new_lump_before(struct lump *before, char *s, unsigned int len)
{
	if (insert_new_lump_before == NULL)
		return NULL;
	return insert_new_lump_before(before, s, len, 0);
}

/* get_body() (parser/msg_parser.h) without the SDP-ops body (refused before any edit) and
 * the part lookup of prep_reassemble_body_parts()/reassemble_body_parts() (msg_translator.c),
 * both the same in OpenSIPS 4.0.1 and 3.6.8 */
int mpx_body_region(struct sip_msg *msg, unsigned int at, unsigned int *start, unsigned int *end)
{
	unsigned int hdrs, s, len;
	long ct;
	struct mpx_sip_msg_body *b;
	struct mpx_body_part *p;
	char *ps;

	if (msg->buf == NULL || msg->unparsed == NULL || msg->unparsed < msg->buf ||
	    msg->unparsed > msg->buf + msg->len)
		return -1;
	hdrs = (unsigned int)(msg->unparsed - msg->buf);
	if (hdrs + 2 <= msg->len && msg->unparsed[0] == '\r' && msg->unparsed[1] == '\n')
		s = hdrs + 2;
	else if (hdrs + 1 <= msg->len && (msg->unparsed[0] == '\n' || msg->unparsed[0] == '\r'))
		s = hdrs + 1;
	else
		return -1;
	len = msg->len - s;
	if (msg->content_length) {
		ct = (long)((struct mpx_hdr_field *)msg->content_length)->parsed;
		if (ct < 0)
			return -1;
		if ((unsigned long)ct < len)
			len = (unsigned int)ct;
	} else if (msg->rcv.proto != 1 /* PROTO_UDP */) {
		return -1;
	}
	if (msg->body == NULL) {
		*start = s;
		*end = s + len;
		return 0;
	}
	b = msg->body;
	if (b->part_count != b->updated_part_count)
		return -2;
	for (p = &b->first; p; p = p->next) {
		if (p->flags & (MPX_BODY_PART_NEW | MPX_BODY_PART_DELETED))
			return -2;
		ps = p->body.s ? p->body.s : p->headers.s + p->headers.len + 2;
		if (ps < msg->buf || p->body.len < 0 ||
		    ps + p->body.len > msg->buf + msg->len)
			continue;
		if (msg->buf + at >= ps && msg->buf + at <= ps + p->body.len) {
			*start = (unsigned int)(ps - msg->buf);
			*end = *start + (unsigned int)p->body.len;
			return 0;
		}
	}
	return -3;
}

long mpx_headers_end(struct sip_msg *msg)
{
	if (msg->eoh == NULL || msg->buf == NULL || msg->eoh < msg->buf ||
	    msg->eoh > msg->buf + msg->len)
		return -1;
	return (long)(msg->eoh - msg->buf);
}

int mpx_set_first_contact_uri(struct sip_msg *msg, char *uri, int len)
{
	return mpx_point_first_contact(msg->contact, uri, len);
}

/* ---- pseudo-variables ---- */

#define MPX_PV_VAL_NULL 1
#define MPX_PV_VAL_STR 4
#define MPX_PV_VAL_INT 8

int mpx_pv_parse(const char *s, int len, struct mpx_pv_spec *out)
{
	str in;
	if (pv_parse_spec == NULL)
		return -1;
	in.s = (char *)s;
	in.len = len;
	memset(out, 0, sizeof *out);
	return pv_parse_spec(&in, out) == NULL ? -1 : 0;
}

int mpx_pv_get(struct sip_msg *msg, struct mpx_pv_spec *spec, char **s, int *len, int *n)
{
	mpx_pv_value v;
	if (pv_get_spec_value == NULL)
		return -1;
	memset(&v, 0, sizeof v);
	if (pv_get_spec_value(msg, spec, &v) != 0)
		return -1;
	if (v.flags & MPX_PV_VAL_NULL)
		return 0;
	if (v.flags & MPX_PV_VAL_STR) {
		*s = v.rs.s;
		*len = v.rs.len;
		return 1;
	}
	if (v.flags & MPX_PV_VAL_INT) {
		*n = v.ri;
		return 2;
	}
	return 0;
}

/* ---- dialog API ---- */

int mpx_load_dlg_api(struct dlg_binds *out)
{
	int (*load_dlg)(struct dlg_binds *);
	if (find_export == NULL)
		return -1;
	load_dlg = (int (*)(struct dlg_binds *))(void *)find_export("load_dlg", 0);
	if (load_dlg == NULL)
		return -1;
	memset(out, 0, sizeof *out);
	return load_dlg(out) == -1 ? -1 : 0;
}

/* ---- tm API ---- */

int mpx_load_tm_api(struct tm_binds *out)
{
	int (*load_tm)(struct tm_binds *);
	if (find_export == NULL)
		return -1;
	load_tm = (int (*)(struct tm_binds *))(void *)find_export("load_tm", 0);
	if (load_tm == NULL)
		return -1;
	memset(out, 0, sizeof *out);
	return load_tm(out) == -1 ? -1 : 0;
}

/* ---- usrloc API and timers (natping) ---- */

int mpx_bind_usrloc(struct mpx_usrloc_api *out)
{
	int (*bind)(struct mpx_usrloc_api *);
	if (find_export == NULL)
		return -1;
	bind = (int (*)(struct mpx_usrloc_api *))(void *)find_export("ul_bind_usrloc", 0);
	if (bind == NULL)
		return -1;
	memset(out, 0, sizeof *out);
	return bind(out) < 0 ? -1 : 0;
}

#define MPX_TIMER_FLAG_DELAY_ON_DELAY (1 << 2)

int mpx_register_timer(const char *label, mpx_timer_cb *f, void *param, unsigned int interval)
{
	if (register_timer == NULL)
		return -1;
	return register_timer((char *)label, f, param, interval, MPX_TIMER_FLAG_DELAY_ON_DELAY) < 0
		? -1 : 0;
}

/* ---- MI ---- */

mi_response_t *mpx_mi_result_object(mi_item_t **out)
{
	return init_mi_result_object ? init_mi_result_object(out) : NULL;
}

mi_response_t *mpx_mi_result_array(mi_item_t **out)
{
	return init_mi_result_array ? init_mi_result_array(out) : NULL;
}

mi_response_t *mpx_mi_error(int code, const char *msg, int len)
{
	return init_mi_error_extra ? init_mi_error_extra(code, msg, len, NULL, 0) : NULL;
}

mi_item_t *mpx_mi_add_object(mi_item_t *to, const char *name, int nlen)
{
	return add_mi_object ? add_mi_object(to, (char *)name, nlen) : NULL;
}

mi_item_t *mpx_mi_add_array(mi_item_t *to, const char *name, int nlen)
{
	return add_mi_array ? add_mi_array(to, (char *)name, nlen) : NULL;
}

int mpx_mi_add_string(mi_item_t *to, const char *name, int nlen, const char *v, int vlen)
{
	return add_mi_string ? add_mi_string(to, (char *)name, nlen, v, vlen) : -1;
}

int mpx_mi_add_number(mi_item_t *to, const char *name, int nlen, double v)
{
	return add_mi_number ? add_mi_number(to, (char *)name, nlen, v) : -1;
}

int mpx_mi_add_bool(mi_item_t *to, const char *name, int nlen, int v)
{
	return add_mi_bool ? add_mi_bool(to, (char *)name, nlen, v) : -1;
}

int mpx_mi_add_null(mi_item_t *to, const char *name, int nlen)
{
	return add_mi_null ? add_mi_null(to, (char *)name, nlen) : -1;
}

int mpx_mi_string_param(const mi_params_t *params, const char *name, char **s, int *len)
{
	if (get_mi_string_param == NULL)
		return -1;
	return get_mi_string_param(params, (char *)name, s, len) == 0 ? 0 : -1;
}

/* ---- events ---- */

#define MPX_EVI_INT_VAL 1
#define MPX_EVI_STR_VAL 2

int mpx_evi_publish(const char *name, int len)
{
	str s;
	if (evi_publish_event == NULL)
		return -1;
	s.s = (char *)name;
	s.len = len;
	return evi_publish_event(s);
}

int mpx_evi_probe(int id)
{
	return (evi_probe_event && id >= 0) ? evi_probe_event(id) : 0;
}

void *mpx_evi_params(void)
{
	return evi_get_params ? evi_get_params() : NULL;
}

int mpx_evi_add_str(void *list, const str *name, const str *value)
{
	return evi_param_add ? evi_param_add(list, name, value, MPX_EVI_STR_VAL) : -1;
}

int mpx_evi_add_int(void *list, const str *name, int value)
{
	return evi_param_add ? evi_param_add(list, name, &value, MPX_EVI_INT_VAL) : -1;
}

int mpx_evi_raise(int id, void *list)
{
	/* a list from evi_get_params() carries EVI_FREE_LIST: the core frees it after raising */
	if (evi_raise_event && list)
		return evi_raise_event(id, list);
	if (evi_free_params && list)
		evi_free_params(list);
	return -1;
}

/* ---- reactor ---- */

int mpx_reactor_init(char *name)
{
	return reactor_proc_init ? reactor_proc_init(name) : -1;
}

int mpx_reactor_add_fd(int fd, mpx_reactor_cb cb, void *param)
{
	return reactor_proc_add_fd ? reactor_proc_add_fd(fd, cb, param) : -1;
}

int mpx_reactor_loop(void)
{
	return reactor_proc_loop ? reactor_proc_loop() : -1;
}

/* ---- process information ---- */

int mpx_my_pid(void)
{
	return dp_my_pid ? dp_my_pid() : 0;
}

int mpx_route_type(void)
{
	return (&route_type != NULL) ? route_type : 0;
}

/* ---- number literals for our string parameters ---- */

extern struct mpx_script_routes *sroutes WEAK;

static int numbers_in_actions(struct mpx_action *a, const cmd_export_t *first,
                              const cmd_export_t *end, int depth);

/* The actions an expression calls (`if (f(3))`, `!f(3)`, `f(3) && g()`). */
static int numbers_in_expr(struct mpx_expr *e, const cmd_export_t *first,
                           const cmd_export_t *end, int depth)
{
	int n, m;

	if (e == NULL || depth > 64)
		return 0;
	if (e->type == MPX_ELEM_T)
		return e->left.type == MPX_ACTION_O ?
			numbers_in_actions(e->right.v.data, first, end, depth + 1) : 0;
	if (e->type != MPX_EXP_T)
		return 0;
	n = numbers_in_expr(e->left.v.expr, first, end, depth + 1);
	if (n < 0)
		return n;
	m = numbers_in_expr(e->right.v.expr, first, end, depth + 1);
	return m < 0 ? m : n + m;
}

/* One call of ours: each number literal given for a string parameter becomes its text. */
static int numbers_in_call(struct mpx_action *a, const cmd_export_t *cmd)
{
	int i, n = 0, len;
	char text[24], *s;

	for (i = 0; i < MPX_MAX_CMD_PARAMS && cmd->params[i].flags; i++) {
		mpx_action_elem_t *el = &a->elem[i + 1];
		if (el->type != MPX_NUMBER_ST || !(cmd->params[i].flags & MPX_CMD_PARAM_STR))
			continue;
		len = snprintf(text, sizeof text, "%ld", el->u.number);
		if (len <= 0 || (size_t)len >= sizeof text || (s = mpx_pkg_malloc(len + 1)) == NULL)
			return -1;
		memcpy(s, text, len + 1);
		el->type = MPX_STR_ST;
		el->u.s.s = s;
		el->u.s.len = len;
		n++;
	}
	return n;
}

/* The same walk as the core's is_mod_func_used(): each action, the blocks and expressions
 * in its first three elements, then the next action. */
static int numbers_in_actions(struct mpx_action *a, const cmd_export_t *first,
                              const cmd_export_t *end, int depth)
{
	int i, n = 0, m;

	if (depth > 64)
		return 0;
	for (; a != NULL; a = a->next) {
		if (a->type == MPX_CMD_T) {
			const cmd_export_t *cmd = a->elem[0].u.data;
			if (cmd >= first && cmd < end) {
				if ((m = numbers_in_call(a, cmd)) < 0)
					return m;
				n += m;
			}
		}
		for (i = 0; i < 3; i++) {
			m = 0;
			if (a->elem[i].type == MPX_ACTIONS_ST)
				m = numbers_in_actions(a->elem[i].u.data, first, end, depth + 1);
			else if (a->elem[i].type == MPX_EXPR_ST)
				m = numbers_in_expr(a->elem[i].u.data, first, end, depth + 1);
			if (m < 0)
				return m;
			n += m;
		}
	}
	return n;
}

int mpx_script_numbers_as_text(const cmd_export_t *cmds, int count)
{
	struct mpx_script_routes *r;
	const cmd_export_t *end = cmds + count;
	int i, n = 0, m;

	if (&sroutes == NULL || (r = sroutes) == NULL)
		return 0;
#define MPX_WALK(route) do { \
		if ((m = numbers_in_actions((route).a, cmds, end, 0)) < 0) return m; \
		n += m; \
	} while (0)
	for (i = 0; i < MPX_RT_NO; i++) {
		MPX_WALK(r->request[i]);
		MPX_WALK(r->onreply[i]);
		MPX_WALK(r->failure[i]);
		MPX_WALK(r->branch[i]);
		MPX_WALK(r->timer[i]);
		MPX_WALK(r->event[i]);
	}
	MPX_WALK(r->local);
	MPX_WALK(r->error);
	MPX_WALK(r->startup);
#undef MPX_WALK
	return n;
}
