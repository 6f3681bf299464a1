// ambit_native: the few socket operations Node cannot do itself.
//
// - SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST: where a REDIRECTed connection was going.
// - SO_MARK, IP_TRANSPARENT, IP_FREEBIND, SO_REUSEPORT on an existing fd.
// - Creating sockets (and listeners) inside another network namespace. setns()
//   is per thread, so the calling (JS) thread enters the target netns, creates
//   the socket, and returns to its own netns before any JS runs again. A socket
//   keeps the netns it was created in for its whole life.
//
// Errors are thrown as Error objects shaped like Node's system errors:
// { code: 'EPERM', errno: 1, syscall: 'setns', message }.
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

// From linux/netfilter_ipv4.h and linux/netfilter_ipv6/ip6_tables.h; defined here
// because those headers clash with glibc's netinet/in.h.
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif
#ifndef IPV6_TRANSPARENT
#define IPV6_TRANSPARENT 75
#endif
#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif

// ---------------------------------------------------------------- errors

static const char *errno_name(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char *n = strerrorname_np(err);
  if (n != NULL) return n;
#endif
  switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EBADF: return "EBADF";
    case EINVAL: return "EINVAL";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case ENOTSOCK: return "ENOTSOCK";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    default: return "EUNKNOWN";
  }
}

// Throws { code, errno, syscall } for a failed system call. `what` names the
// call and its subject, e.g. "setns(/run/netns/pod)".
static void throw_errno(napi_env env, int err, const char *syscall, const char *what) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s: %s (%s)", what, strerror(err), errno_name(err));
  napi_value code, message, error, num, sys;
  napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_create_int32(env, -err, &num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys);
  napi_set_named_property(env, error, "errno", num);
  napi_set_named_property(env, error, "syscall", sys);
  napi_throw(env, error);
}

static void throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
}

// ---------------------------------------------------------------- argument helpers

static bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  for (size_t i = argc; i < want; i++) napi_get_undefined(env, &argv[i]);
  return true;
}

static bool is_type(napi_env env, napi_value v, napi_valuetype t) {
  napi_valuetype got;
  return napi_typeof(env, v, &got) == napi_ok && got == t;
}

static bool get_int(napi_env env, napi_value v, const char *name, int32_t *out) {
  if (!is_type(env, v, napi_number)) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a number", name);
    throw_type(env, msg);
    return false;
  }
  napi_get_value_int32(env, v, out);
  return true;
}

static bool get_uint(napi_env env, napi_value v, const char *name, uint32_t *out) {
  if (!is_type(env, v, napi_number)) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a number", name);
    throw_type(env, msg);
    return false;
  }
  napi_get_value_uint32(env, v, out);
  return true;
}

static bool get_bool(napi_env env, napi_value v, bool *out) {
  if (is_type(env, v, napi_undefined) || is_type(env, v, napi_null)) {
    *out = false;
    return true;
  }
  napi_value b;
  napi_coerce_to_bool(env, v, &b);
  napi_get_value_bool(env, b, out);
  return true;
}

// Optional property of an options object. Returns false if absent.
static bool get_prop(napi_env env, napi_value obj, const char *key, napi_value *out) {
  if (!is_type(env, obj, napi_object)) return false;
  bool has = false;
  napi_has_named_property(env, obj, key, &has);
  if (!has) return false;
  napi_get_named_property(env, obj, key, out);
  return !is_type(env, *out, napi_undefined);
}

static napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

static napi_value int_value(napi_env env, int64_t n) {
  napi_value v;
  napi_create_int64(env, n, &v);
  return v;
}

// ---------------------------------------------------------------- socket options

static int sock_domain(int fd) {
  int domain = 0;
  socklen_t len = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0) return -1;
  return domain;
}

static napi_value set_int_opt(napi_env env, napi_callback_info info, int level, int opt,
                              const char *what) {
  napi_value argv[2];
  int32_t fd;
  uint32_t val;
  if (!get_args(env, info, 2, argv) || !get_int(env, argv[0], "fd", &fd)) return NULL;
  if (is_type(env, argv[1], napi_number)) {
    if (!get_uint(env, argv[1], "value", &val)) return NULL;
  } else {
    bool on;
    get_bool(env, argv[1], &on);
    val = on ? 1 : 0;
  }
  int v = (int)val;
  if (setsockopt(fd, level, opt, &v, sizeof v) < 0) {
    throw_errno(env, errno, "setsockopt", what);
    return NULL;
  }
  return undefined(env);
}

static napi_value get_int_opt(napi_env env, napi_callback_info info, int level, int opt,
                              const char *what) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], "fd", &fd)) return NULL;
  int v = 0;
  socklen_t len = sizeof v;
  if (getsockopt(fd, level, opt, &v, &len) < 0) {
    throw_errno(env, errno, "getsockopt", what);
    return NULL;
  }
  return int_value(env, (uint32_t)v);
}

// Family-aware option: IPv4 sockets use the SOL_IP option, IPv6 sockets the
// SOL_IPV6 one (which the kernel treats as the same flag for v4-mapped traffic).
static int set_family_opt(int fd, int v4opt, int v6opt, int on) {
  int domain = sock_domain(fd);
  if (domain < 0) return -1;
  if (domain == AF_INET6) return setsockopt(fd, SOL_IPV6, v6opt, &on, sizeof on);
  return setsockopt(fd, SOL_IP, v4opt, &on, sizeof on);
}

static napi_value family_opt(napi_env env, napi_callback_info info, int v4opt, int v6opt,
                             const char *what) {
  napi_value argv[2];
  int32_t fd;
  bool on;
  if (!get_args(env, info, 2, argv) || !get_int(env, argv[0], "fd", &fd)) return NULL;
  get_bool(env, argv[1], &on);
  if (set_family_opt(fd, v4opt, v6opt, on ? 1 : 0) < 0) {
    throw_errno(env, errno, "setsockopt", what);
    return NULL;
  }
  return undefined(env);
}

static napi_value SetMark(napi_env env, napi_callback_info info) {
  return set_int_opt(env, info, SOL_SOCKET, SO_MARK, "setsockopt(SO_MARK)");
}
static napi_value GetMark(napi_env env, napi_callback_info info) {
  return get_int_opt(env, info, SOL_SOCKET, SO_MARK, "getsockopt(SO_MARK)");
}
static napi_value SetReusePort(napi_env env, napi_callback_info info) {
  return set_int_opt(env, info, SOL_SOCKET, SO_REUSEPORT, "setsockopt(SO_REUSEPORT)");
}
static napi_value SetTransparent(napi_env env, napi_callback_info info) {
  return family_opt(env, info, IP_TRANSPARENT, IPV6_TRANSPARENT, "setsockopt(IP_TRANSPARENT)");
}
static napi_value SetFreebind(napi_env env, napi_callback_info info) {
  return family_opt(env, info, IP_FREEBIND, IPV6_FREEBIND, "setsockopt(IP_FREEBIND)");
}
static napi_value GetTransparent(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], "fd", &fd)) return NULL;
  int domain = sock_domain(fd);
  int v = 0;
  socklen_t len = sizeof v;
  int rc = domain == AF_INET6 ? getsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &v, &len)
                              : getsockopt(fd, SOL_IP, IP_TRANSPARENT, &v, &len);
  if (domain < 0 || rc < 0) {
    throw_errno(env, errno, "getsockopt", "getsockopt(IP_TRANSPARENT)");
    return NULL;
  }
  napi_value b;
  napi_get_boolean(env, v != 0, &b);
  return b;
}

// ---------------------------------------------------------------- original destination

static napi_value addr_object(napi_env env, const struct sockaddr_storage *ss) {
  char buf[INET6_ADDRSTRLEN];
  int port, family;
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    port = ntohs(a->sin6_port);
    family = 6;
  } else {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    port = ntohs(a->sin_port);
    family = 4;
  }
  napi_value obj, address;
  napi_create_object(env, &obj);
  napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &address);
  napi_set_named_property(env, obj, "address", address);
  napi_set_named_property(env, obj, "port", int_value(env, port));
  napi_set_named_property(env, obj, "family", int_value(env, family));
  return obj;
}

static napi_value GetOriginalDst(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], "fd", &fd)) return NULL;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len = sizeof ss;
  int domain = sock_domain(fd);
  if (domain < 0) {
    throw_errno(env, errno, "getsockopt", "getsockopt(SO_DOMAIN)");
    return NULL;
  }
  int rc = -1;
  if (domain == AF_INET6) {
    rc = getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &len);
    // A dual-stack socket carrying IPv4 traffic was NATed by the IPv4 table.
    if (rc < 0) {
      len = sizeof ss;
      rc = getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &ss, &len);
    }
  } else {
    rc = getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &ss, &len);
  }
  if (rc < 0) {
    throw_errno(env, errno, "getsockopt", "getsockopt(SO_ORIGINAL_DST)");
    return NULL;
  }
  return addr_object(env, &ss);
}

// ---------------------------------------------------------------- network namespaces

// The target netns: a path (opened here, closed by the caller) or an fd owned by
// JS. null/undefined means "stay in the current netns".
typedef struct {
  int fd;
  bool owned;
  char label[256];
} ns_ref;

static bool get_ns(napi_env env, napi_value v, ns_ref *ns) {
  ns->fd = -1;
  ns->owned = false;
  ns->label[0] = 0;
  if (is_type(env, v, napi_undefined) || is_type(env, v, napi_null)) return true;
  if (is_type(env, v, napi_number)) {
    napi_get_value_int32(env, v, &ns->fd);
    snprintf(ns->label, sizeof ns->label, "fd %d", ns->fd);
    return true;
  }
  if (!is_type(env, v, napi_string)) {
    throw_type(env, "netns must be a path string, an fd number, or null");
    return false;
  }
  size_t n = 0;
  napi_get_value_string_utf8(env, v, ns->label, sizeof ns->label, &n);
  ns->fd = open(ns->label, O_RDONLY | O_CLOEXEC);
  if (ns->fd < 0) {
    char what[300];
    snprintf(what, sizeof what, "open(%s)", ns->label);
    throw_errno(env, errno, "open", what);
    return false;
  }
  ns->owned = true;
  return true;
}

static void release_ns(ns_ref *ns) {
  if (ns->owned && ns->fd >= 0) close(ns->fd);
  ns->fd = -1;
}

// Enters `ns` on this thread; *home receives an fd of the thread's own netns.
static bool enter_ns(napi_env env, ns_ref *ns, int *home) {
  *home = -1;
  if (ns->fd < 0) return true;
  char self[64];
  snprintf(self, sizeof self, "/proc/self/task/%ld/ns/net", (long)syscall(SYS_gettid));
  *home = open(self, O_RDONLY | O_CLOEXEC);
  if (*home < 0) {
    throw_errno(env, errno, "open", "open(/proc/self/task/<tid>/ns/net)");
    return false;
  }
  if (setns(ns->fd, CLONE_NEWNET) < 0) {
    int err = errno;
    close(*home);
    *home = -1;
    char what[300];
    snprintf(what, sizeof what, "setns(%s)", ns->label);
    throw_errno(env, err, "setns", what);
    return false;
  }
  return true;
}

// Returns to the thread's own netns. Failing here would leave the JS thread
// (and every socket it later creates) in the pod's netns, so it is fatal.
static void leave_ns(int home) {
  if (home < 0) return;
  if (setns(home, CLONE_NEWNET) < 0) {
    napi_fatal_error("ambit_native", NAPI_AUTO_LENGTH,
                     "cannot return to the original network namespace", NAPI_AUTO_LENGTH);
  }
  close(home);
}

typedef struct {
  int family;  // AF_INET / AF_INET6
  uint32_t mark;
  bool has_mark, transparent, freebind, reuse_port, v6only;
} sock_opts;

// socket() plus options, in the current netns. Returns fd or -1 with errno and
// *failed naming the call.
static int make_socket(const sock_opts *o, const char **failed) {
  int fd = socket(o->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_TCP);
  if (fd < 0) {
    *failed = "socket()";
    return -1;
  }
  int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) {
    *failed = "setsockopt(TCP_NODELAY)";
    goto fail;
  }
  if (o->has_mark) {
    int m = (int)o->mark;
    if (setsockopt(fd, SOL_SOCKET, SO_MARK, &m, sizeof m) < 0) {
      *failed = "setsockopt(SO_MARK)";
      goto fail;
    }
  }
  if (o->transparent && set_family_opt(fd, IP_TRANSPARENT, IPV6_TRANSPARENT, 1) < 0) {
    *failed = "setsockopt(IP_TRANSPARENT)";
    goto fail;
  }
  if (o->freebind && set_family_opt(fd, IP_FREEBIND, IPV6_FREEBIND, 1) < 0) {
    *failed = "setsockopt(IP_FREEBIND)";
    goto fail;
  }
  if (o->reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
    *failed = "setsockopt(SO_REUSEPORT)";
    goto fail;
  }
  if (o->family == AF_INET6) {
    int v6only = o->v6only ? 1 : 0;
    if (setsockopt(fd, SOL_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) < 0) {
      *failed = "setsockopt(IPV6_V6ONLY)";
      goto fail;
    }
  }
  return fd;
fail: {
  int err = errno;
  close(fd);
  errno = err;
  return -1;
}
}

static bool get_family(napi_env env, napi_value v, int *family) {
  int32_t f = 4;
  if (!is_type(env, v, napi_undefined) && !get_int(env, v, "family", &f)) return false;
  if (f != 4 && f != 6) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "family must be 4 or 6");
    return false;
  }
  *family = f == 6 ? AF_INET6 : AF_INET;
  return true;
}

static bool get_sock_opts(napi_env env, napi_value obj, sock_opts *o) {
  napi_value v;
  if (get_prop(env, obj, "mark", &v)) {
    if (!get_uint(env, v, "mark", &o->mark)) return false;
    o->has_mark = true;
  }
  if (get_prop(env, obj, "transparent", &v)) get_bool(env, v, &o->transparent);
  if (get_prop(env, obj, "freebind", &v)) get_bool(env, v, &o->freebind);
  if (get_prop(env, obj, "reusePort", &v)) get_bool(env, v, &o->reuse_port);
  if (get_prop(env, obj, "ipv6Only", &v)) get_bool(env, v, &o->v6only);
  return true;
}

// socketInNetns(netns, family, {mark, transparent, freebind}) -> fd
static napi_value SocketInNetns(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  sock_opts o = {0};
  if (!get_family(env, argv[1], &o.family) || !get_sock_opts(env, argv[2], &o)) return NULL;
  ns_ref ns;
  if (!get_ns(env, argv[0], &ns)) return NULL;
  int home;
  if (!enter_ns(env, &ns, &home)) {
    release_ns(&ns);
    return NULL;
  }
  const char *failed = NULL;
  int fd = make_socket(&o, &failed);
  int err = errno;
  leave_ns(home);
  release_ns(&ns);
  if (fd < 0) {
    throw_errno(env, err, failed, failed);
    return NULL;
  }
  return int_value(env, fd);
}

static bool make_addr(int family, const char *addr, uint32_t port, struct sockaddr_storage *ss,
                      socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  if (family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    *len = sizeof *a;
    return inet_pton(AF_INET6, addr, &a->sin6_addr) == 1;
  }
  struct sockaddr_in *a = (struct sockaddr_in *)ss;
  a->sin_family = AF_INET;
  a->sin_port = htons((uint16_t)port);
  *len = sizeof *a;
  return inet_pton(AF_INET, addr, &a->sin_addr) == 1;
}

// listenInNetns(netns, {family, address, port, backlog, reusePort, transparent,
// freebind, mark, ipv6Only}) -> fd of a listening socket.
static napi_value ListenInNetns(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  napi_value opts = argv[1];
  if (!is_type(env, opts, napi_object)) {
    throw_type(env, "options must be an object");
    return NULL;
  }
  sock_opts o = {0};
  napi_value v;
  napi_value fam;
  napi_get_undefined(env, &fam);
  get_prop(env, opts, "family", &fam);
  if (!get_family(env, fam, &o.family) || !get_sock_opts(env, opts, &o)) return NULL;

  char addr[INET6_ADDRSTRLEN + 1] = {0};
  if (get_prop(env, opts, "address", &v)) {
    if (!is_type(env, v, napi_string)) {
      throw_type(env, "address must be a string");
      return NULL;
    }
    size_t n;
    napi_get_value_string_utf8(env, v, addr, sizeof addr, &n);
  } else {
    strcpy(addr, o.family == AF_INET6 ? "::" : "0.0.0.0");
  }
  uint32_t port = 0, backlog = 511;
  if (get_prop(env, opts, "port", &v) && !get_uint(env, v, "port", &port)) return NULL;
  if (get_prop(env, opts, "backlog", &v) && !get_uint(env, v, "backlog", &backlog)) return NULL;
  if (port > 65535) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "port must be 0..65535");
    return NULL;
  }

  struct sockaddr_storage ss;
  socklen_t sslen;
  if (!make_addr(o.family, addr, port, &ss, &sslen)) {
    char msg[128];
    snprintf(msg, sizeof msg, "address %s is not an IPv%d literal", addr,
             o.family == AF_INET6 ? 6 : 4);
    napi_throw_error(env, "ERR_INVALID_IP_ADDRESS", msg);
    return NULL;
  }

  ns_ref ns;
  if (!get_ns(env, argv[0], &ns)) return NULL;
  int home;
  if (!enter_ns(env, &ns, &home)) {
    release_ns(&ns);
    return NULL;
  }
  const char *failed = NULL;
  int one = 1;
  int fd = make_socket(&o, &failed);
  if (fd >= 0) {
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
      failed = "setsockopt(SO_REUSEADDR)";
    else if (bind(fd, (struct sockaddr *)&ss, sslen) < 0)
      failed = "bind()";
    else if (listen(fd, (int)backlog) < 0)
      failed = "listen()";
  }
  int err = errno;
  if (fd >= 0 && failed != NULL) {
    close(fd);
    fd = -1;
  }
  leave_ns(home);
  if (fd < 0) {
    char what[512];
    snprintf(what, sizeof what, "%s %s port %u in netns %s", failed, addr, port,
             ns.label[0] ? ns.label : "(current)");
    release_ns(&ns);
    throw_errno(env, err, failed, what);
    return NULL;
  }
  release_ns(&ns);
  return int_value(env, fd);
}

// ---------------------------------------------------------------- module

#define FN(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      FN("getOriginalDst", GetOriginalDst), FN("setMark", SetMark),
      FN("getMark", GetMark),               FN("setTransparent", SetTransparent),
      FN("getTransparent", GetTransparent), FN("setFreebind", SetFreebind),
      FN("setReusePort", SetReusePort),     FN("socketInNetns", SocketInNetns),
      FN("listenInNetns", ListenInNetns),
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
