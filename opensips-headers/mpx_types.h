/*
 * mediaproxy.so — declarations of the OpenSIPS host ABI that this module uses.
 *
 * Written for this project from the facts in the project's ABI notes (offsets checked with
 * offsetof/gdb against OpenSIPS 4.0.1 and 3.6.8, x86_64, default Makefile.conf flags). Only
 * what the module touches is declared; everything else is opaque padding. The layout is picked
 * by MPX_OPENSIPS_SERIES (40 = 4.0.x, 36 = 3.6.x), set by build.rs from `opensips -V`.
 * Every offset the module relies on is checked below with _Static_assert, and again in Rust.
 */
#ifndef MPX_TYPES_H
#define MPX_TYPES_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#ifndef MPX_OPENSIPS_SERIES
#error "MPX_OPENSIPS_SERIES must be 40 or 36"
#endif
#if MPX_OPENSIPS_SERIES != 40 && MPX_OPENSIPS_SERIES != 36
#error "unsupported MPX_OPENSIPS_SERIES"
#endif

/* ---- basic types ---------------------------------------------------------------------- */

typedef struct _str { char *s; int len; } str;                 /* 16 B, not NUL-terminated */

struct ip_addr {                                                 /* 24 B, all versions */
	unsigned int af;                                             /* AF_INET / AF_INET6 */
	unsigned int len;                                            /* 4 or 16 */
	union { unsigned long addrl[2]; unsigned int addr32[4];
	        unsigned short addr16[8]; unsigned char addr[16]; } u; /* network byte order */
};

union sockaddr_union {                                           /* 28 B */
	struct sockaddr s;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
};

struct socket_info;
struct lump;
struct hdr_field;
struct via_body;

struct receive_info {
	struct ip_addr src_ip;                                       /* 0 */
	struct ip_addr dst_ip;                                       /* 24 */
	unsigned short src_port;                                     /* 48, host order */
	unsigned short dst_port;                                     /* 50 */
	int proto;                                                   /* 52 */
	unsigned int proto_reserved1;                                /* 56 */
	unsigned int proto_reserved2;                                /* 60 */
	union sockaddr_union src_su;                                 /* 64 */
	const struct socket_info *bind_address;                      /* 96 */
#if MPX_OPENSIPS_SERIES == 40
	unsigned char real_ep[64];                                   /* 104: PROXY protocol endpoint */
#endif
};

struct msg_start {
	int type;                                                    /* SIP_REQUEST 1, SIP_REPLY 2 */
	int len;
	union {
		struct { str method; str uri; str version; int method_value; } request;
		struct { str version; str status; str reason; unsigned int statuscode; } reply;
	} u;
};

/* struct sip_msg: only the fields this module reads; the rest is padding. */
struct sip_msg {
	unsigned int id;                                             /* 0 */
	struct msg_start first_line;                                 /* 8 */
	struct via_body *via1;                                       /* 72 */
	struct via_body *via2;                                       /* 80 */
	struct hdr_field *headers;                                   /* 88 */
	struct hdr_field *last_header;                               /* 96 */
	unsigned long long parsed_flag;                              /* 104 */
	struct hdr_field *h_via1;                                    /* 112 */
	struct hdr_field *callid;                                    /* 120 */
	struct hdr_field *to;                                        /* 128 */
	struct hdr_field *cseq;                                      /* 136 */
	struct hdr_field *from;                                      /* 144 */
	struct hdr_field *contact;                                   /* 152 */
	unsigned char _hdrs_160[200 - 160];                          /* other header pointers */
	struct hdr_field *content_length;                            /* 200: parsed = the value */
	unsigned char _hdrs_208[472 - 208];                          /* other header pointers */
	struct mpx_sip_msg_body *body;                               /* 472: parts, when parsed */
	void *sdp_ops;                                               /* 480: SDP-ops body, not in buf */
	char *eoh;                                                   /* 488 */
	char *unparsed;                                              /* 496 */
	struct receive_info rcv;                                     /* 504 */
	char *buf;                                                   /* 672 (4.0) / 608 (3.6) */
	unsigned int len;                                            /* 680 / 616 */
	unsigned char _pad_len[1720 - 4];                            /* new_uri … */
	struct lump *add_rm;                                         /* 2400 / 2336 */
	struct lump *body_lumps;                                     /* 2408 / 2344 */
	void *reply_lump;                                            /* 2416 / 2352 */
	unsigned char _pad_lumps[64];                                /* add_to_branch … */
	unsigned int hash_index;                                     /* 2488 / 2424 */
	unsigned int flags;                                          /* 2492 / 2428 */
	unsigned int msg_flags;                                      /* 2496 / 2432 */
	unsigned char _pad_tail[60];                                 /* … time, msg_cb */
};

/* ---- a body parsed into parts (parser/parse_body.h, the same in 3.6 and 4.0) --------- */

enum mpx_body_part_flags { MPX_BODY_PART_NEW = 1, MPX_BODY_PART_DELETED = 2 };
struct mpx_body_part {
	int mime;                                                    /* 0 */
	str mime_s;                                                  /* 8 */
	unsigned int flags;                                          /* 24: SIP_BODY_PART_FLAG_* */
	str body;                                                    /* 32 */
	str headers;                                                 /* 48 */
	void *parsed;                                                /* 64 */
	void *free_parsed_f, *clone_parsed_f, *dump_f;               /* 72 */
	str dump;                                                    /* 96 */
	struct mpx_body_part *next;                                  /* 112 */
};
struct mpx_sip_msg_body {
	unsigned char part_count;                                    /* 0 */
	unsigned char updated_part_count;                            /* 1 */
	unsigned char flags;                                         /* 2 */
	str body;                                                    /* 8 */
	str boundary;                                                /* 24 */
	struct mpx_body_part first;                                  /* 40 */
};

/* ---- parsed Contact (the same in 3.6 and 4.0) ----------------------------------------- */

/* struct hdr_field: only `parsed` is used (its first Contact's URI, see mpx_shim.h) */
struct mpx_hdr_field {
	int type;                                                    /* 0: hdr_types_t */
	str name;                                                    /* 8 */
	str body;                                                    /* 24 */
	int len;                                                     /* 40 */
	void *parsed;                                                /* 48 */
	struct hdr_field *next;                                      /* 56 */
	struct hdr_field *sibling;                                   /* 64 */
};
/* the head of contact_t (parser/contact/contact.h) */
struct mpx_contact { str name; str uri; };
/* contact_body_t (parser/contact/parse_contact.h) */
struct mpx_contact_body { unsigned char star; struct mpx_contact *contacts; };

/* ---- module interface tables (identical layouts in 3.6 and 4.0) ------------------------ */

typedef int (*cmd_function)(struct sip_msg *, void *, void *, void *, void *, void *, void *,
                            void *, void *);
typedef int (*fixup_function)(void **param);
typedef int (*free_fixup_function)(void **param);

struct cmd_param {
	int flags;
	fixup_function fixup;
	free_fixup_function free_fixup;
};

#define MPX_MAX_CMD_PARAMS 8
typedef struct cmd_export_ {
	const char *name;
	cmd_function function;
	struct cmd_param params[MPX_MAX_CMD_PARAMS + 1];
	int flags;
} cmd_export_t;

typedef unsigned int modparam_t;
typedef struct param_export_ {
	const char *name;
	modparam_t type;
	void *param_pointer;
} param_export_t;

typedef struct proc_export_ {
	const char *name;
	int (*pre_fork_function)(void);
	int (*post_fork_function)(void);
	void (*function)(int rank);
	unsigned int no;
	unsigned int flags;
} proc_export_t;

typedef struct module_dependency {
	int mod_type;                                                /* enum module_type */
	char *mod_name;
	unsigned int type;                                           /* DEP_* */
} module_dependency_t;

typedef struct modparam_dependency {
	char *script_param;
	module_dependency_t *(*get_deps_f)(const param_export_t *param);
} modparam_dependency_t;

#define MPX_MAX_MOD_DEPS 10
/* dep_export_t with room for exactly one (terminating) modparam dependency */
typedef struct dep_export_ {
	module_dependency_t md[MPX_MAX_MOD_DEPS];
	modparam_dependency_t mpd[1];
} dep_export_t;

struct module_exports {
	const char *name;                                            /* 0 */
	int type;                                                    /* 8: MOD_TYPE_DEFAULT = 1 */
	const char *version;                                         /* 16 */
	const char *compile_flags;                                   /* 24 */
	const char *scm_type;                                        /* 32 */
	const char *scm_rev;                                         /* 40 */
	unsigned int dlflags;                                        /* 48 */
	int (*load_f)(void);                                         /* 56 */
	const dep_export_t *deps;                                    /* 64 */
	const cmd_export_t *cmds;                                    /* 72 */
	const void *acmds;                                           /* 80 */
	const param_export_t *params;                                /* 88 */
	const void *stats;                                           /* 96 */
	const void *mi_cmds;                                         /* 104 */
	const void *items;                                           /* 112 */
	const void *trans;                                           /* 120 */
	const proc_export_t *procs;                                  /* 128 */
	int (*preinit_f)(void);                                      /* 136 */
	int (*init_f)(void);                                         /* 144 */
	int (*response_f)(struct sip_msg *);                         /* 152 */
	void (*destroy_f)(void);                                     /* 160 */
	int (*init_child_f)(int rank);                               /* 168 */
	int (*reload_ack_f)(void);                                   /* 176 */
};

/* ---- pseudo-variables (pv_spec_t is 112 B in 3.6 and 4.0; opaque here) ---------------- */

struct mpx_pv_spec { unsigned long long opaque[14]; };

/* ---- dialog module API (struct dlg_binds, identical in 3.6.8 and 4.0.1) ----------------- */

struct dlg_cell;
struct dlg_cb_params {
	struct sip_msg *msg;                                         /* may be FAKED_REPLY (-1) or NULL */
	unsigned int direction;
	int dst_leg;
	unsigned int is_active;
	void *dlg_data;
	void **param;
};
typedef void (mpx_dialog_cb)(struct dlg_cell *dlg, int type, struct dlg_cb_params *params);
typedef void (mpx_param_free_cb)(void *param);

struct dlg_binds {
	int (*register_dlgcb)(struct dlg_cell *dlg, int cb_types, mpx_dialog_cb f, void *param,
	                      mpx_param_free_cb ff);                 /* 0 */
	int (*create_dlg)(struct sip_msg *req, int flags);           /* 8 */
	struct dlg_cell *(*get_dlg)(void);                           /* 16 */
	void *_profiles_values[7];                                   /* 24 .. 80 */
	int (*terminate_dlg)(const str *callid, unsigned int h_entry, unsigned int h_id,
	                     const str *reason);                     /* 80 */
	void *_match_to_mod_flag[5];                                 /* 88 .. 128 */
	void (*dlg_ref)(struct dlg_cell *dlg, unsigned int cnt);     /* 128 */
	void (*dlg_unref)(struct dlg_cell *dlg, unsigned int cnt);   /* 136 */
	void *_get_direction;                                        /* 144 */
	str *(*get_dlg_did)(struct dlg_cell *dlg);                   /* 152 */
	void *_by_did_ids[2];                                        /* 160 .. 176 */
	struct dlg_cell *(*get_dlg_by_callid)(const str *callid, int active_only); /* 176 */
	void *_rest[11];                                             /* 184 .. 272 */
};

/* ---- tm API (struct tm_binds, identical in 3.6.8 and 4.0.1): register_tmcb only ---------- */

struct tmcb_params {
	struct sip_msg *req;                                         /* 0 */
	struct sip_msg *rpl;                                         /* 8: may be FAKED_REPLY (-1) */
	int code;                                                    /* 16 */
	void **param;                                                /* 24 */
	void *extra1, *extra2;                                       /* 32, 40 */
};
typedef void (mpx_tm_cb)(void *t, int type, struct tmcb_params *params);
struct tm_binds {
	int (*register_tmcb)(struct sip_msg *msg, void *t, int types, mpx_tm_cb f, void *param,
	                     void (*release)(void *param));          /* 0 */
	void *_rest[45];                                             /* 8 .. 368 */
};
#define MPX_TMCB_RESPONSE_FWDED 8
/* dialog states (struct dlg_cell.state) */
#define MPX_DLG_STATE_EARLY 2

/* ---- usrloc API (usrloc_api_t, identical in 3.6.8 and 4.0.1): the fields natping reads -- */

typedef int (mpx_get_all_ucontacts)(void *buf, int len, unsigned int flags,
                                    unsigned int part_idx, unsigned int part_max,
                                    int pack_coords);
struct mpx_usrloc_api {
	int use_domain;                                              /* 0 */
	int cluster_mode;                                            /* 4 */
	void *_have_mem_storage;                                     /* 8 */
	void *_tags_in_use;                                          /* 16 */
	unsigned int nat_flag;                                       /* 24: usrloc's nat_bflag, a mask */
	unsigned char _pad28[256 - 28];
	mpx_get_all_ucontacts *get_all_ucontacts;                    /* 256 */
	void *_rest[1];                                              /* 264 .. 272 */
};
/* get_all_ucontacts packs, per contact: int len + contact, int len + received, int len + path,
 * struct socket_info *, unsigned int cflags, struct proxy_l next_hop (64 bytes); an int 0 ends
 * the list when it fits. struct socket_info starts with the socket's file descriptor. */
#define MPX_UL_NEXT_HOP_SIZE 64

/* the fields of struct dlg_cell this module reads (same offsets in 3.6.8 and 4.0.1) */
struct mpx_dlg_cell_head {
	unsigned char _pad0[24];
	unsigned int h_id;                                           /* 24 */
	unsigned int h_entry;                                        /* 28 */
	unsigned int state;                                          /* 32 */
	unsigned char _pad36[160 - 36];
	str callid;                                                  /* 160 */
	str from_uri;                                                /* 176 */
	str to_uri;                                                  /* 192 */
	void *legs;                                                  /* 208: struct dlg_leg[], 1272 B each */
	unsigned char legs_no[4];                                    /* 216 */
};
#define MPX_DLG_LEG_SIZE 1272
#define MPX_DLG_LEG_TAG_OFFSET 8
/* the leg's SDP (str, full body) as received from it, and the one waiting for the 200 OK */
#define MPX_DLG_LEG_IN_SDP_OFFSET 152
#define MPX_DLG_LEG_TMP_IN_SDP_OFFSET 184

enum mpx_dlgcb_types {
	MPX_DLGCB_FAILED = 4, MPX_DLGCB_CONFIRMED = 8, MPX_DLGCB_REQ_WITHIN = 16,
	MPX_DLGCB_TERMINATED = 32, MPX_DLGCB_EXPIRED = 64, MPX_DLGCB_EARLY = 128,
	MPX_DLGCB_RESPONSE_FWDED = 256, MPX_DLGCB_RESPONSE_WITHIN = 512, MPX_DLGCB_DESTROY = 2048
};

/* ---- MI (mi_export_t differs: 20 params per recipe and aliases in 4.0, 10 in 3.6) -------- */

typedef struct mpx_mi_item mi_item_t;                       /* cJSON, opaque here */
typedef struct mpx_mi_item mi_response_t;
typedef struct mpx_mi_params mi_params_t;
typedef mi_response_t *(mpx_mi_cmd_f)(const mi_params_t *params, void *async_hdl);
#if MPX_OPENSIPS_SERIES == 40
#define MPX_MI_PARAMS 20
#else
#define MPX_MI_PARAMS 10
#endif
#define MPX_MI_RECIPES 48
typedef struct mi_recipe_ {
	mpx_mi_cmd_f *cmd;
	char *params[MPX_MI_PARAMS];
} mi_recipe_t;
typedef struct mi_export_ {
	char *name;
	char *help;
	unsigned int flags;
	int (*init_f)(void);
	mi_recipe_t recipes[MPX_MI_RECIPES];
#if MPX_OPENSIPS_SERIES == 40
	const char *aliases[4];
#endif
} mi_export_t;

/* ---- the parsed script (route_struct.h, route.h; identical in 3.6 and 4.0) ---------------- */

struct mpx_expr;
typedef struct mpx_action_elem {
	int type;                                                    /* NUMBER_ST, STR_ST, ... */
	union { long number; void *data; str s; } u;
} mpx_action_elem_t;                                             /* 24 B */

#define MPX_MAX_ACTION_ELEMS 9
struct mpx_action {
	int type;                                                    /* CMD_T, IF_T, ... */
	mpx_action_elem_t elem[MPX_MAX_ACTION_ELEMS];                /* 8 */
	int line;                                                    /* 224 */
	char *file;                                                  /* 232 */
	struct mpx_action *next;                                     /* 240 */
};

struct mpx_operand { int type; union { struct mpx_expr *expr; void *data; str s; } v; };
struct mpx_expr {
	int type;                                                    /* EXP_T or ELEM_T */
	int op;
	struct mpx_operand left;                                     /* 8 */
	struct mpx_operand right;                                    /* 32 */
};

struct mpx_script_route { char *name; struct mpx_action *a; };
struct mpx_script_timer_route { char *name; unsigned int interval; struct mpx_action *a; };
#define MPX_RT_NO 100
struct mpx_script_routes {
	struct mpx_script_route request[MPX_RT_NO];
	struct mpx_script_route onreply[MPX_RT_NO];
	struct mpx_script_route failure[MPX_RT_NO];
	struct mpx_script_route branch[MPX_RT_NO];
	struct mpx_script_route local;
	struct mpx_script_route error;
	struct mpx_script_route startup;
	struct mpx_script_timer_route timer[MPX_RT_NO];
	struct mpx_script_route event[MPX_RT_NO];
	unsigned int version;
};

/* ---- the rtp_relay module's engine interface (modules/rtp_relay/rtp_relay.h and
 * rtp_relay_common.h, identical in 3.6.8 and 4.0.1) -------------------------------------- */

#define MPX_RTP_RELAY_ALL_BRANCHES (-1)
/* what the framework hands an engine for one offer, answer or delete */
struct mpx_rtp_relay_session {
	struct sip_msg *msg;                                         /* 0: may be the core's dummy */
	int branch;                                                  /* 8: RTP_RELAY_ALL_BRANCHES -1 */
	str *callid;                                                 /* 16 */
	str *from_tag;                                               /* 24 */
	str *to_tag;                                                 /* 32 */
	str *body;                                                   /* 40: the SDP to use, or NULL */
};
/* the engine's per-session state kept by the framework (node in shm, freed by it) */
struct mpx_rtp_relay_server {
	int set;                                                     /* 0 */
	str node;                                                    /* 8 */
};
#define MPX_RTP_COPY_MAX_STREAMS 32
struct mpx_rtp_relay_stream { int leg; int medianum; int label; };
struct mpx_rtp_relay_streams {
	int count;
	struct mpx_rtp_relay_stream streams[MPX_RTP_COPY_MAX_STREAMS];
};
typedef int (mpx_rtp_relay_oa_f)(struct mpx_rtp_relay_session *sess,
                                 struct mpx_rtp_relay_server *server, str *body, str *ip,
                                 str *type, str *in_iface, str *out_iface, str *global_flags,
                                 str *flags, str *extra_flags);
struct mpx_rtp_relay_funcs {
	mpx_rtp_relay_oa_f *offer;                                   /* 0 */
	mpx_rtp_relay_oa_f *answer;                                  /* 8 */
	int (*delete_)(struct mpx_rtp_relay_session *sess, struct mpx_rtp_relay_server *server,
	               str *flags, str *extra);                      /* 16 */
	int (*copy_offer)(struct mpx_rtp_relay_session *sess, struct mpx_rtp_relay_server *server,
	                  void **ctx, str *flags, unsigned int copy_flags, unsigned int streams,
	                  str *ret, struct mpx_rtp_relay_streams *streams_map); /* 24 */
	int (*copy_answer)(struct mpx_rtp_relay_session *sess, struct mpx_rtp_relay_server *server,
	                   void *ctx, str *flags, str *body);        /* 32 */
	int (*copy_delete)(struct mpx_rtp_relay_session *sess, struct mpx_rtp_relay_server *server,
	                   void *ctx, str *flags);                   /* 40 */
	int (*copy_serialize)(void *ctx, void *bin_packet);          /* 48 */
	int (*copy_deserialize)(void **ctx, void *bin_packet);       /* 56 */
	void (*copy_release)(void **ctx);                            /* 64 */
};
/* filled by the framework when an engine registers */
struct mpx_rtp_relay_hooks {
	str *(*get_sdp)(struct mpx_rtp_relay_session *sess, int type);
	int (*get_dlg_ids)(str *callid, unsigned int *h_entry, unsigned int *h_id);
};
#define MPX_RTP_COPY_MODE_SIPREC (1 << 0)
#define MPX_RTP_COPY_MODE_DISABLE (1 << 1)
#define MPX_RTP_COPY_LEG_CALLER (1 << 2)
#define MPX_RTP_COPY_LEG_CALLEE (1 << 3)

/* ---- constants ------------------------------------------------------------------------- */

enum mpx_route_flags {
	MPX_REQUEST_ROUTE = 1, MPX_FAILURE_ROUTE = 2, MPX_ONREPLY_ROUTE = 4, MPX_BRANCH_ROUTE = 8,
	MPX_ERROR_ROUTE = 16, MPX_LOCAL_ROUTE = 32, MPX_STARTUP_ROUTE = 64, MPX_TIMER_ROUTE = 128,
	MPX_EVENT_ROUTE = 256
};
enum mpx_cmd_param_flags {
	MPX_CMD_PARAM_INT = 1, MPX_CMD_PARAM_STR = 2, MPX_CMD_PARAM_VAR = 4, MPX_CMD_PARAM_REGEX = 8,
	MPX_CMD_PARAM_OPT = 16, MPX_CMD_PARAM_FIX_NULL = 32, MPX_CMD_PARAM_NO_EXPAND = 64,
	MPX_CMD_PARAM_STATIC = 128
};
enum mpx_action_type { MPX_IF_T = 6, MPX_CMD_T = 7 };
enum mpx_elem_subtype { MPX_NUMBER_ST = 3, MPX_EXPR_ST = 7, MPX_ACTIONS_ST = 8, MPX_STR_ST = 12 };
enum mpx_expr_type { MPX_EXP_T = 1, MPX_ELEM_T = 2 };
enum mpx_operand_type { MPX_ACTION_O = 2 };
enum mpx_param_types { MPX_STR_PARAM = 1, MPX_INT_PARAM = 2 };
enum mpx_proc_flags { MPX_PROC_FLAG_INITCHILD = 1, MPX_PROC_FLAG_HAS_IPC = 2,
	MPX_PROC_FLAG_NEEDS_SCRIPT = 4 };
enum mpx_dep_flags { MPX_DEP_SILENT = 1, MPX_DEP_WARN = 2, MPX_DEP_ABORT = 4 };
enum mpx_module_type { MPX_MOD_TYPE_NULL = 0, MPX_MOD_TYPE_DEFAULT = 1 };
enum mpx_msg_type { MPX_SIP_REQUEST = 1, MPX_SIP_REPLY = 2 };
enum mpx_log_level {
	MPX_L_ALERT = -3, MPX_L_CRIT = -2, MPX_L_ERR = -1, MPX_L_WARN = 1, MPX_L_NOTICE = 2,
	MPX_L_INFO = 3, MPX_L_DBG = 4
};
enum mpx_child_rank { MPX_PROC_MAIN = 0, MPX_PROC_TIMER = -1, MPX_PROC_MODULE = -2,
	MPX_PROC_TCP_MAIN = -4 };
enum mpx_msg_flags { MPX_FL_SDP_IP_AFS = 8, MPX_FL_SDP_PORT_AFS = 16, MPX_FL_SHM_CLONE = 32,
	MPX_FL_USE_MEDIA_PROXY = 2048 };
/* hdr_flags_t bits for parse_headers */
enum mpx_hdr_flags { MPX_HDR_VIA1_F = 2, MPX_HDR_TO_F = 8, MPX_HDR_FROM_F = 16, MPX_HDR_CSEQ_F = 32,
	MPX_HDR_CALLID_F = 64, MPX_HDR_CONTACT_F = 128 };
/* HDR_EOH_F is all bits set: pass ~0ULL */

/* ---- layout checks --------------------------------------------------------------------- */
#define MPX_CHECK(t, f, off) _Static_assert(offsetof(t, f) == (off), #t "." #f)
MPX_CHECK(struct sip_msg, first_line, 8);
MPX_CHECK(struct sip_msg, first_line.u.request.method_value, 64);
MPX_CHECK(struct sip_msg, via1, 72);
MPX_CHECK(struct sip_msg, parsed_flag, 104);
MPX_CHECK(struct sip_msg, callid, 120);
MPX_CHECK(struct sip_msg, contact, 152);
MPX_CHECK(struct sip_msg, content_length, 200);
MPX_CHECK(struct sip_msg, body, 472);
MPX_CHECK(struct sip_msg, unparsed, 496);
MPX_CHECK(struct mpx_body_part, flags, 24);
MPX_CHECK(struct mpx_body_part, body, 32);
MPX_CHECK(struct mpx_body_part, headers, 48);
MPX_CHECK(struct mpx_body_part, dump, 96);
MPX_CHECK(struct mpx_body_part, next, 112);
_Static_assert(sizeof(struct mpx_body_part) == 120, "sizeof(struct body_part)");
MPX_CHECK(struct mpx_sip_msg_body, body, 8);
MPX_CHECK(struct mpx_sip_msg_body, first, 40);
_Static_assert(sizeof(struct mpx_sip_msg_body) == 160, "sizeof(struct sip_msg_body)");
MPX_CHECK(struct sip_msg, sdp_ops, 480);
MPX_CHECK(struct sip_msg, eoh, 488);
MPX_CHECK(struct sip_msg, rcv, 504);
MPX_CHECK(struct sip_msg, rcv.src_port, 552);
MPX_CHECK(struct sip_msg, rcv.proto, 556);
MPX_CHECK(struct sip_msg, rcv.src_su, 568);
MPX_CHECK(struct sip_msg, rcv.bind_address, 600);
#if MPX_OPENSIPS_SERIES == 40
MPX_CHECK(struct sip_msg, buf, 672);
MPX_CHECK(struct sip_msg, len, 680);
MPX_CHECK(struct sip_msg, add_rm, 2400);
MPX_CHECK(struct sip_msg, hash_index, 2488);
MPX_CHECK(struct sip_msg, msg_flags, 2496);
_Static_assert(sizeof(struct sip_msg) == 2560, "sizeof(struct sip_msg)");
#else
MPX_CHECK(struct sip_msg, buf, 608);
MPX_CHECK(struct sip_msg, len, 616);
MPX_CHECK(struct sip_msg, add_rm, 2336);
MPX_CHECK(struct sip_msg, hash_index, 2424);
MPX_CHECK(struct sip_msg, msg_flags, 2432);
_Static_assert(sizeof(struct sip_msg) == 2496, "sizeof(struct sip_msg)");
#endif
_Static_assert(sizeof(struct module_exports) == 184, "sizeof(struct module_exports)");
_Static_assert(sizeof(cmd_export_t) == 240, "sizeof(cmd_export_t)");
_Static_assert(sizeof(param_export_t) == 24, "sizeof(param_export_t)");
_Static_assert(sizeof(proc_export_t) == 40, "sizeof(proc_export_t)");
_Static_assert(offsetof(dep_export_t, mpd) == 240, "dep_export_t.mpd");
_Static_assert(sizeof(struct ip_addr) == 24, "sizeof(struct ip_addr)");
_Static_assert(sizeof(struct dlg_binds) == 272, "sizeof(struct dlg_binds)");
_Static_assert(offsetof(struct dlg_binds, terminate_dlg) == 80, "dlg_binds.terminate_dlg");
_Static_assert(offsetof(struct dlg_binds, get_dlg_did) == 152, "dlg_binds.get_dlg_did");
_Static_assert(offsetof(struct dlg_binds, dlg_unref) == 136, "dlg_binds.dlg_unref");
_Static_assert(offsetof(struct dlg_binds, get_dlg_by_callid) == 176, "dlg_binds.get_dlg_by_callid");
_Static_assert(offsetof(struct mpx_dlg_cell_head, callid) == 160, "dlg_cell.callid");
_Static_assert(offsetof(struct mpx_dlg_cell_head, legs_no) == 216, "dlg_cell.legs_no");
_Static_assert(sizeof(struct mpx_pv_spec) == 112, "pv_spec_t");
_Static_assert(sizeof(struct tm_binds) == 368, "sizeof(struct tm_binds)");
_Static_assert(sizeof(struct tmcb_params) == 48, "sizeof(struct tmcb_params)");
_Static_assert(offsetof(struct tmcb_params, param) == 24, "tmcb_params.param");
_Static_assert(sizeof(struct mpx_usrloc_api) == 272, "sizeof(usrloc_api_t)");
_Static_assert(offsetof(struct mpx_usrloc_api, nat_flag) == 24, "usrloc_api_t.nat_flag");
_Static_assert(offsetof(struct mpx_usrloc_api, get_all_ucontacts) == 256,
               "usrloc_api_t.get_all_ucontacts");
#if MPX_OPENSIPS_SERIES == 40
_Static_assert(sizeof(mi_export_t) == 8128, "sizeof(mi_export_t)");
#else
_Static_assert(sizeof(mi_export_t) == 4256, "sizeof(mi_export_t)");
#endif
_Static_assert(sizeof(struct mpx_hdr_field) == 72, "sizeof(struct hdr_field)");
MPX_CHECK(struct mpx_hdr_field, parsed, 48);
MPX_CHECK(struct mpx_contact, uri, 16);
MPX_CHECK(struct mpx_contact_body, contacts, 8);
/* rtp_relay (checked with offsetof against the 3.6.8 and 4.0.1 sources) */
MPX_CHECK(struct mpx_rtp_relay_session, branch, 8);
MPX_CHECK(struct mpx_rtp_relay_session, callid, 16);
MPX_CHECK(struct mpx_rtp_relay_session, body, 40);
_Static_assert(sizeof(struct mpx_rtp_relay_session) == 48, "sizeof(struct rtp_relay_session)");
MPX_CHECK(struct mpx_rtp_relay_server, node, 8);
_Static_assert(sizeof(struct mpx_rtp_relay_server) == 24, "sizeof(struct rtp_relay_server)");
MPX_CHECK(struct mpx_rtp_relay_funcs, delete_, 16);
MPX_CHECK(struct mpx_rtp_relay_funcs, copy_offer, 24);
MPX_CHECK(struct mpx_rtp_relay_funcs, copy_answer, 32);
MPX_CHECK(struct mpx_rtp_relay_funcs, copy_delete, 40);
MPX_CHECK(struct mpx_rtp_relay_funcs, copy_serialize, 48);
MPX_CHECK(struct mpx_rtp_relay_funcs, copy_deserialize, 56);
MPX_CHECK(struct mpx_rtp_relay_stream, medianum, 4);
MPX_CHECK(struct mpx_rtp_relay_stream, label, 8);
_Static_assert(sizeof(struct mpx_rtp_relay_stream) == 12, "sizeof(struct rtp_relay_stream)");
MPX_CHECK(struct mpx_rtp_relay_funcs, copy_release, 64);
_Static_assert(sizeof(struct mpx_rtp_relay_funcs) == 72, "sizeof(struct rtp_relay_funcs)");
_Static_assert(sizeof(struct mpx_rtp_relay_hooks) == 16, "sizeof(struct rtp_relay_hooks)");
MPX_CHECK(struct mpx_rtp_relay_streams, streams, 4);
_Static_assert(sizeof(struct mpx_rtp_relay_streams) == 388, "sizeof(struct rtp_relay_streams)");

_Static_assert(sizeof(mpx_action_elem_t) == 24, "sizeof(action_elem_t)");
_Static_assert(sizeof(struct mpx_action) == 248, "sizeof(struct action)");
MPX_CHECK(struct mpx_action, next, 240);
_Static_assert(sizeof(struct mpx_expr) == 56, "sizeof(struct expr)");
MPX_CHECK(struct mpx_expr, right.v, 40);
MPX_CHECK(struct mpx_script_routes, timer, 4 * 1600 + 3 * 16);
MPX_CHECK(struct mpx_script_routes, version, 4 * 1600 + 3 * 16 + 2400 + 1600);

#endif /* MPX_TYPES_H */
