/*
 * mediaproxy.so — declarations of the Kamailio (SER family) host ABI that this module uses.
 *
 * Written for this project; only what the module touches is declared, everything else is
 * opaque padding. Every offset relied on was measured with offsetof() in a throw-away program
 * compiled against Kamailio 5.6.3's own headers (tag 5.6.3) with the C defines of Debian 12's
 * build (`make printcdefs`: USE_TCP, USE_TLS, USE_SCTP, TLS_HOOKS, USE_RAW_SOCKS, SHM_MMAP,
 * PKG_MALLOC, Q_MALLOC, F_MALLOC, TLSF_MALLOC, DBG_SR_MEMORY, USE_FUTEX, FAST_LOCK,
 * ADAPTIVE_WAIT, ..., x86_64), whose SER_COMPILE_FLAGS equals `kamailio -v`'s flags line of
 * Debian's kamailio 5.6.3-2. The offsets are checked below with _Static_assert, and again in
 * Rust. MPX_KAMAILIO_SERIES (56 = 5.6.x) is set by build.rs from `kamailio -v`.
 */
#ifndef MPX_KAM_TYPES_H
#define MPX_KAM_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifndef MPX_KAMAILIO_SERIES
#error "MPX_KAMAILIO_SERIES must be 56"
#endif
#if MPX_KAMAILIO_SERIES != 56
#error "unsupported MPX_KAMAILIO_SERIES"
#endif

/* ---- basic types ---------------------------------------------------------------------- */

typedef struct _str { char *s; int len; } str;                 /* 16 B, not NUL-terminated */

/* struct ip_addr (24 B): family, length (4 or 16), the address in network byte order in a
 * union that also holds it as longs (hence 8-byte aligned) */
struct ip_addr { unsigned int af, len; union { unsigned long addrl[2]; unsigned char addr[16]; } u; };

struct receive_info {                                            /* 208 B */
	struct ip_addr src_ip;                                       /* 0 */
	struct ip_addr dst_ip;                                       /* 24 */
	unsigned short src_port;                                     /* 48, host order */
	unsigned short dst_port;                                     /* 50 */
	unsigned char _rest[208 - 52];  /* proto_reserved1/2, src_su (sockaddr_storage), bind_address, rflags, proto */
};

struct lump;
struct hdr_field;

/* a parsed header (parser/hf.h, struct hdr_field, 64 B): only its parsed body is used, for
 * Contact a contact_body_t (parser/contact/parse_contact.h) whose first contact_t
 * (parser/contact/contact.h) starts with its display name and URI */
struct mpx_hdr_field { unsigned char _type_name_body_len[48]; void *parsed; void *next; };
struct mpx_contact { str name, uri; };
struct mpx_contact_body { unsigned char star; struct mpx_contact *contacts; };

struct msg_start {                                               /* 64 B */
	short type;                                                  /* SIP_REQUEST 1, SIP_REPLY 2 */
	short flags;
	int len;
	union {                                                      /* request: 3 str + method id */
		struct { str version, status, reason; unsigned int statuscode; } reply;
	} u;
};

/* struct sip_msg: only the fields this module reads; the rest is padding. */
struct sip_msg {
	unsigned char _head[32];                /* 0: id, pid, tval, fwd/rpl send flags */
	struct msg_start first_line;            /* 32 */
	unsigned char _hdrs[184 - 96];          /* 96: via1 ... from */
	struct hdr_field *contact;              /* 184: its parsed form, struct mpx_hdr_field */
	unsigned char _hdrs2[496 - 192];        /* maxforwards ... body */
	char *eoh;                              /* 496: end of the header section */
	char *unparsed;                         /* 504 */
	struct receive_info rcv;                /* 512 */
	char *buf;                              /* 720 */
	unsigned int len;                       /* 728 */
	unsigned char _mid[1644 - 732];         /* new_uri ... hash_index */
	unsigned int msg_flags;                 /* 1644: FL_* */
	unsigned char _tail[2008 - 1648];       /* flags, xflags, ... ldv */
};

/* ---- module interface (MODULE_INTERFACE_VER 4) ------------------------------------------ */

typedef int (*cmd_function)(struct sip_msg *, char *, char *);
typedef int (*fixup_function)(void **param, int param_no);
typedef int (*free_fixup_function)(void **param, int param_no);

typedef struct cmd_export_ {                                     /* 48 B */
	char *name;
	cmd_function function;
	int param_no;
	fixup_function fixup;
	free_fixup_function free_fixup;
	unsigned int flags;                                          /* route types */
} cmd_export_t;

typedef unsigned int modparam_t;
typedef struct param_export_ {                                   /* 24 B */
	char *name;
	modparam_t type;
	void *param_pointer;
} param_export_t;

struct module_exports {                                          /* 80 B */
	char *name;                                                  /* 0 */
	unsigned int dlflags;                                        /* 8 */
	cmd_export_t *cmds;                                          /* 16 */
	param_export_t *params;                                      /* 24 */
	void *rpc_methods;                                           /* 32 */
	void *pv_items;                                              /* 40 */
	int (*response_f)(struct sip_msg *);                         /* 48 */
	int (*init_mod_f)(void);                                     /* 56 */
	int (*init_child_f)(int rank);                               /* 64 */
	void (*destroy_mod_f)(void);                                 /* 72 */
};

/* ---- dialog module API (modules/dialog/dlg_load.h, dlg_cb.h, dlg_hash.h) ------------------- */

struct dlg_cell;
struct dlg_cb_params {                                           /* 40 B */
	struct sip_msg *req;                                         /* 0: request, or NULL */
	struct sip_msg *rpl;                                         /* 8: reply, NULL or FAKED_REPLY (-1) */
	unsigned int direction;                                      /* 16 */
	void *dlg_data;                                              /* 24 */
	void **param;                                                /* 32: the registered parameter */
};
typedef void (mpx_dialog_cb)(struct dlg_cell *dlg, int type, struct dlg_cb_params *params);
typedef void (mpx_param_free_cb)(void *param);

struct dlg_binds {                                               /* 72 B */
	int (*register_dlgcb)(struct dlg_cell *dlg, int types, mpx_dialog_cb f, void *param,
	                      mpx_param_free_cb ff);                 /* 0 */
	int (*terminate_dlg)(struct dlg_cell *dlg, str *hdrs);       /* 8 */
	void *_vars[5];                                              /* 16: set/get dialog variables */
	struct dlg_cell *(*get_dlg)(struct sip_msg *msg);            /* 56: takes a reference */
	void (*release_dlg)(struct dlg_cell *dlg);                   /* 64 */
};

/* usrloc's API (usrloc_api_t, 184 B in 5.6): the fields natping reads */
typedef int (mpx_get_all_ucontacts)(void *buf, int len, unsigned int flags,
                                    unsigned int part_idx, unsigned int part_max, int options);
struct mpx_usrloc_api {
	int use_domain, db_mode;                                     /* 0, 4 */
	unsigned int nat_flag;                                       /* 8: usrloc's nat_bflag, a mask */
	void *_register_udomain, *_get_udomain;                      /* 16, 24 */
	mpx_get_all_ucontacts *get_all_ucontacts;                    /* 32 */
	void *_rest[18];                                             /* 40 .. 184 */
};
/* get_all_ucontacts packs, per contact: int len + contact, int len + received,
 * struct socket_info *, unsigned int cflags, int len + path, int len + ruid, unsigned int
 * aorhash; an int 0 ends the list when it fits. struct socket_info starts with the socket's
 * file descriptor. */

/* the fields of struct dlg_cell this module reads */
struct mpx_dlg_cell_head {
	volatile int ref;                                            /* 0 */
	void *next, *prev;                                           /* 8, 16 */
	unsigned int h_id, h_entry, state;                           /* 24, 28, 32 */
	unsigned char _pad36[120 - 36];
	str callid;                                                  /* 120 */
	str from_uri;                                                /* 136 */
	str to_uri;                                                  /* 152 */
	str req_uri;                                                 /* 168 */
	str tag[2];                                                  /* 184: caller's From tag, callee's To tag */
};

enum mpx_dlgcb_types {
	MPX_DLGCB_FAILED = 4, MPX_DLGCB_CONFIRMED = 16, MPX_DLGCB_REQ_WITHIN = 32,
	MPX_DLGCB_TERMINATED = 64, MPX_DLGCB_EXPIRED = 128, MPX_DLGCB_RESPONSE_FWDED = 512,
	MPX_DLGCB_RESPONSE_WITHIN = 1024, MPX_DLGCB_DESTROY = 8192
};

/* ---- used by the shim only (not exposed to Rust) ------------------------------------------ */

/* pkg memory: the core's allocator table (mem/memapi.h, sr_pkg_api_t, 128 B) */
#ifdef MPX_DBG_SR_MEMORY
typedef void *(*mpx_malloc_f)(void *mbp, size_t size, const char *file, const char *func,
                              unsigned int line, const char *mname);
typedef void (*mpx_free_f)(void *mbp, void *p, const char *file, const char *func,
                           unsigned int line, const char *mname);
#else
typedef void *(*mpx_malloc_f)(void *mbp, size_t size);
typedef void (*mpx_free_f)(void *mbp, void *p);
#endif
struct mpx_pkg_api {
	char *mname;                                                 /* 0 */
	char *mem_pool;                                              /* 8 */
	void *mem_block;                                             /* 16 */
	mpx_malloc_f xmalloc;                                        /* 24 */
	void *xmallocxz, *xrealloc, *xreallocxf;                     /* 32 .. 56 */
	mpx_free_f xfree;                                            /* 56 */
	void *_rest[8];                                              /* 64 .. 128 */
};

/* pseudo-variable values (pvar.h, pv_value_t) */
struct mpx_pv_value { str rs; int ri; int flags; };              /* 24 B */

/* structured logging record (dprint.h, ksr_logdata_t) */
struct mpx_logdata {                                             /* 64 B */
	int v_facility;                                              /* 0 */
	int v_level;                                                 /* 4 */
	char *v_lname;                                               /* 8 */
	const char *v_fname;                                         /* 16 */
	int v_fline;                                                 /* 24 */
	const char *v_mname;                                         /* 32 */
	const char *v_func;                                          /* 40 */
	const char *v_locinfo;                                       /* 48 */
	int v_pid;                                                   /* 56 */
	int v_pidx;                                                  /* 60 */
};
struct mpx_log_level_info { char *name; int syslog_level; };     /* 16 B */

/* RPC (rpc.h): the callbacks an RPC function calls, and an exported RPC */
typedef struct mpx_rpc {                                         /* 96 B */
	void (*fault)(void *ctx, int code, char *fmt, ...);          /* 0 */
	int (*send)(void *ctx);                                      /* 8 */
	int (*add)(void *ctx, char *fmt, ...);                       /* 16 */
	int (*scan)(void *ctx, char *fmt, ...);                      /* 24 */
	int (*rpl_printf)(void *ctx, char *fmt, ...);                /* 32 */
	int (*struct_add)(void *ctx, char *fmt, ...);                /* 40 */
	int (*array_add)(void *ctx, char *fmt, ...);                 /* 48 */
	int (*struct_scan)(void *ctx, char *fmt, ...);               /* 56 */
	int (*struct_printf)(void *ctx, char *name, char *fmt, ...); /* 64 */
	int (*capabilities)(void *ctx);                              /* 72 */
	void *(*delayed_ctx_new)(void *ctx);                         /* 80 */
	void (*delayed_ctx_close)(void *dctx);                       /* 88 */
} mpx_rpc_t;
typedef struct mpx_rpc_export {                                  /* 32 B */
	const char *name;
	void (*function)(mpx_rpc_t *rpc, void *ctx);                 /* 8 */
	const char **doc_str;
	unsigned int flags;
} mpx_rpc_export_t;

/* counters (counters.h): a handle is a counter's id; a counter with a read callback has no
 * per-process values, the callback gives its value */
struct mpx_counter_handle { unsigned short id; };               /* 2 B, passed by value */
typedef long (*mpx_counter_cbk)(struct mpx_counter_handle h, void *param);

/* pseudo-variables (pvar.h): pv_name_t, pv_index_t, pv_param_t, pv_spec_t, pv_export_t; a
 * name parsed as text is PV_NAME_INTSTR with an AVP_NAME_STR int_str */
struct mpx_pv_name {                                             /* 40 B */
	int type;                                                    /* 0 */
	void *nfree;                                                 /* 8 */
	union {
		struct { int type; union { int n; str s; void *re; } name; } isname; /* 16, name 24 */
		void *dname;
	} u;
};
struct mpx_pv_param {                                            /* 56 B */
	struct mpx_pv_name pvn;                                      /* 0 */
	struct { int type; union { int ival; void *dval; } u; } pvi; /* 40 */
};
struct mpx_pv_spec {                                             /* 88 B */
	int type;                                                    /* 0 */
	void *getf, *setf;                                           /* 8, 16 */
	struct mpx_pv_param pvp;                                     /* 24 */
	void *trans;                                                 /* 80 */
};
typedef int (*mpx_pv_getf)(struct sip_msg *, struct mpx_pv_param *, struct mpx_pv_value *);
typedef int (*mpx_pv_parse_name_f)(struct mpx_pv_spec *, str *);
struct mpx_pv_export {                                           /* 72 B */
	str name;                                                    /* 0 */
	int type;                                                    /* 16: PVT_OTHER */
	mpx_pv_getf getf;                                            /* 24 */
	void *setf;                                                  /* 32 */
	mpx_pv_parse_name_f parse_name;                              /* 40 */
	void *parse_index, *init_param;                              /* 48, 56 */
	int iparam;                                                  /* 64 */
};

/* ---- constants ------------------------------------------------------------------------- */

enum mpx_route_flags {
	MPX_REQUEST_ROUTE = 1, MPX_FAILURE_ROUTE = 2, MPX_TM_ONREPLY_ROUTE = 4, MPX_BRANCH_ROUTE = 8,
	MPX_ONSEND_ROUTE = 16, MPX_ERROR_ROUTE = 32, MPX_LOCAL_ROUTE = 64,
	MPX_CORE_ONREPLY_ROUTE = 128, MPX_BRANCH_FAILURE_ROUTE = 256,
	MPX_ONREPLY_ROUTE = 4 | 128
};
enum mpx_pv_consts { MPX_PVT_OTHER = 22, MPX_PV_NAME_INTSTR = 0, MPX_AVP_NAME_STR = 1 };
enum mpx_counter_flags { MPX_CNT_F_NO_RESET = 1 };
enum mpx_param_types { MPX_PARAM_STRING = 1, MPX_PARAM_INT = 2 };
enum mpx_msg_type { MPX_SIP_REQUEST = 1, MPX_SIP_REPLY = 2 };
enum mpx_log_level {
	MPX_L_ALERT = -5, MPX_L_BUG = -4, MPX_L_CRIT2 = -3, MPX_L_CRIT = -2, MPX_L_ERR = -1,
	MPX_L_WARN = 0, MPX_L_NOTICE = 1, MPX_L_INFO = 2, MPX_L_DBG = 3
};
enum mpx_child_rank { MPX_PROC_MAIN = 0, MPX_PROC_TIMER = -1, MPX_PROC_RPC = -2,
	MPX_PROC_INIT = -127, MPX_PROC_NOCHLDINIT = -128 };
/* msg_flags: FL_* of parser/msg_parser.h; FL_USE_MEDIA_PROXY is the bit Kamailio's own
 * mediaproxy module uses for the same purpose (the two cannot be loaded together: same name) */
enum mpx_msg_flags { MPX_FL_SDP_IP_AFS = 4, MPX_FL_SDP_PORT_AFS = 8, MPX_FL_SHM_CLONE = 16,
	MPX_FL_USE_MEDIA_PROXY = 1 << 30 };

/* ---- layout checks: one per struct, every offset relied on (Kamailio 5.6.3, x86_64) ---- */
#define MPX_AT(t, f) offsetof(t, f)
_Static_assert(sizeof(struct sip_msg) == 2008 && MPX_AT(struct sip_msg, first_line) == 32
	&& MPX_AT(struct sip_msg, contact) == 184
	&& MPX_AT(struct sip_msg, eoh) == 496 && MPX_AT(struct sip_msg, unparsed) == 504
	&& MPX_AT(struct sip_msg, first_line.u.reply.statuscode) == 88
	&& MPX_AT(struct sip_msg, rcv) == 512 && MPX_AT(struct sip_msg, rcv.src_port) == 560
	&& MPX_AT(struct sip_msg, buf) == 720 && MPX_AT(struct sip_msg, len) == 728
	&& MPX_AT(struct sip_msg, msg_flags) == 1644, "struct sip_msg");
_Static_assert(sizeof(struct mpx_hdr_field) == 64 && MPX_AT(struct mpx_hdr_field, parsed) == 48
	&& MPX_AT(struct mpx_contact, uri) == 16 && MPX_AT(struct mpx_contact_body, contacts) == 8
	&& sizeof(struct mpx_contact_body) == 16, "struct hdr_field, contact_t, contact_body_t");
_Static_assert(sizeof(struct msg_start) == 64 && sizeof(struct ip_addr) == 24
	&& sizeof(struct receive_info) == 208, "struct msg_start, ip_addr, receive_info");
_Static_assert(sizeof(struct module_exports) == 80 && MPX_AT(struct module_exports, cmds) == 16
	&& MPX_AT(struct module_exports, params) == 24
	&& MPX_AT(struct module_exports, init_mod_f) == 56
	&& MPX_AT(struct module_exports, destroy_mod_f) == 72, "struct module_exports");
_Static_assert(sizeof(cmd_export_t) == 48 && MPX_AT(cmd_export_t, param_no) == 16
	&& MPX_AT(cmd_export_t, fixup) == 24 && MPX_AT(cmd_export_t, flags) == 40
	&& sizeof(param_export_t) == 24 && MPX_AT(param_export_t, param_pointer) == 16,
	"cmd_export_t, param_export_t");
_Static_assert(sizeof(struct dlg_cb_params) == 40 && MPX_AT(struct dlg_cb_params, rpl) == 8
	&& MPX_AT(struct dlg_cb_params, param) == 32 && sizeof(struct dlg_binds) == 72
	&& MPX_AT(struct dlg_binds, terminate_dlg) == 8 && MPX_AT(struct dlg_binds, get_dlg) == 56
	&& MPX_AT(struct dlg_binds, release_dlg) == 64, "struct dlg_cb_params, dlg_binds");
_Static_assert(sizeof(struct mpx_usrloc_api) == 184 && MPX_AT(struct mpx_usrloc_api, nat_flag) == 8
	&& MPX_AT(struct mpx_usrloc_api, get_all_ucontacts) == 32, "usrloc_api_t");
_Static_assert(MPX_AT(struct mpx_dlg_cell_head, h_id) == 24
	&& MPX_AT(struct mpx_dlg_cell_head, h_entry) == 28
	&& MPX_AT(struct mpx_dlg_cell_head, callid) == 120
	&& MPX_AT(struct mpx_dlg_cell_head, tag[1]) == 200, "struct dlg_cell");
_Static_assert(sizeof(struct mpx_pkg_api) == 128 && MPX_AT(struct mpx_pkg_api, mem_block) == 16
	&& MPX_AT(struct mpx_pkg_api, xmalloc) == 24 && MPX_AT(struct mpx_pkg_api, xfree) == 56,
	"sr_pkg_api_t");
_Static_assert(sizeof(struct mpx_pv_value) == 24 && MPX_AT(struct mpx_pv_value, flags) == 20
	&& sizeof(struct mpx_logdata) == 64 && MPX_AT(struct mpx_logdata, v_locinfo) == 48
	&& MPX_AT(struct mpx_logdata, v_pidx) == 60 && sizeof(struct mpx_log_level_info) == 16,
	"pv_value_t, ksr_logdata_t, struct log_level_info");
_Static_assert(sizeof(mpx_rpc_t) == 96 && MPX_AT(mpx_rpc_t, scan) == 24
	&& MPX_AT(mpx_rpc_t, capabilities) == 72 && MPX_AT(mpx_rpc_t, delayed_ctx_close) == 88
	&& sizeof(mpx_rpc_export_t) == 32 && MPX_AT(mpx_rpc_export_t, function) == 8,
	"rpc_t, rpc_export_t");
_Static_assert(sizeof(struct mpx_counter_handle) == 2 && sizeof(struct mpx_pv_name) == 40
	&& MPX_AT(struct mpx_pv_name, u.isname.name) == 24 && sizeof(struct mpx_pv_param) == 56
	&& MPX_AT(struct mpx_pv_param, pvi) == 40 && sizeof(struct mpx_pv_spec) == 88
	&& MPX_AT(struct mpx_pv_spec, pvp) == 24 && MPX_AT(struct mpx_pv_spec, trans) == 80
	&& sizeof(struct mpx_pv_export) == 72 && MPX_AT(struct mpx_pv_export, type) == 16
	&& MPX_AT(struct mpx_pv_export, getf) == 24 && MPX_AT(struct mpx_pv_export, parse_name) == 40
	&& MPX_AT(struct mpx_pv_export, iparam) == 64,
	"counter_handle_t, pv_name_t, pv_param_t, pv_spec_t, pv_export_t");

#endif /* MPX_KAM_TYPES_H */
