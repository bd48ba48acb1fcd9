#!/usr/bin/python3
"""gen.py - turns runnel's protocol definitions into C.

Usage: gen.py --out DIR file.def...

Reads the .def files (format: docs/protocol-defs.md) and writes
DIR/proto_gen.h (one C struct per message and nested struct, PROTO_KEY_*
constants, extern descriptors) and DIR/proto_gen.c (the descriptor tables
codec.c interprets, and proto_api_find()).

Every problem in a definition is reported as "file:line: error: ..." and
the generator exits 1 without writing anything, so a half-written .def
never produces half-right tables. Errors in one file do not stop the others
from being checked. Python 3 standard library only.
"""

import os
import re
import sys

VMAX_LIMIT = 0x7FFF
FLEX_NONE = 0x7FFF

# Wire type -> (PT_ enum, C type, nullable?, default allowed?, (lo, hi) for int defaults)
PRIMS = {
    "bool": ("PT_BOOL", "bool", False, True, (0, 1)),
    "int8": ("PT_INT8", "int8_t", False, True, (-(1 << 7), (1 << 7) - 1)),
    "int16": ("PT_INT16", "int16_t", False, True, (-(1 << 15), (1 << 15) - 1)),
    "uint16": ("PT_UINT16", "uint16_t", False, True, (0, (1 << 16) - 1)),
    "int32": ("PT_INT32", "int32_t", False, True, (-(1 << 31), (1 << 31) - 1)),
    "uint32": ("PT_UINT32", "uint32_t", False, True, (0, (1 << 32) - 1)),
    "int64": ("PT_INT64", "int64_t", False, True, (-(1 << 63), (1 << 63) - 1)),
    "float64": ("PT_FLOAT64", "double", False, True, (-(1 << 53), 1 << 53)),
    "string": ("PT_STRING", "kstr", True, False, None),
    "bytes": ("PT_BYTES", "kbytes", True, False, None),
    "uuid": ("PT_UUID", "kuuid", False, False, None),
    "records": ("PT_RECORDS", "krecords", True, False, None),
}

C_KEYWORDS = set("""auto break case char const continue default do double else enum
extern float for goto if inline int long register restrict return short signed
sizeof static struct switch typedef union unsigned void volatile while bool true
false alignas alignof atomic complex imaginary noreturn static_assert
thread_local""".split())

NAME_RE = re.compile(r"^[A-Z][A-Za-z0-9]*$")


class DefError(Exception):
    def __init__(self, path, line, msg):
        super().__init__("%s:%d: error: %s" % (path, line, msg))


def snake(name):
    """ProduceRequest -> produce_request, ISRNodes -> isr_nodes."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


class Struct:
    def __init__(self, name, cname, path, line):
        self.name = name
        self.cname = cname
        self.path = path
        self.line = line
        self.fields = []


class Field:
    def __init__(self, name, path, line):
        self.name = name
        self.cname = snake(name)
        self.path = path
        self.line = line
        self.prim = None      # primitive type name, or None for a struct
        self.struct = None    # Struct for struct and []struct fields
        self.array = False
        self.vmin = self.vmax = 0
        self.null = None      # (lo, hi) or None
        self.tag = None
        self.default = None   # int or None


class Message:
    def __init__(self, name, path, line):
        self.name = name
        self.cname = snake(name)
        self.path = path
        self.line = line
        self.vmin = self.vmax = 0
        self.flex = FLEX_NONE
        self.body = Struct(name, self.cname, path, line)
        self.structs = {}     # nested struct name -> Struct
        self.api = None


class Api:
    def __init__(self, key, name, path, line):
        self.key = key
        self.name = name
        self.path = path
        self.line = line
        self.request = None
        self.response = None


# ------------------------------------------------------------------ parsing

def parse_int(text, err, what):
    try:
        return int(text, 0)
    except ValueError:
        raise err("%s: not an integer: '%s'" % (what, text))


def parse_range(text, err, what, lo_default_hi):
    """'A+', 'A-B' or 'A' (an optional leading 'v'); A+ ends at lo_default_hi."""
    m = re.match(r"^v?(\d+)(\+|-(\d+))?$", text)
    if not m:
        raise err("%s: expected vA+, vA-B or vA, got '%s'" % (what, text))
    lo = int(m.group(1))
    if m.group(2) == "+":
        hi = lo_default_hi
    elif m.group(3) is not None:
        hi = int(m.group(3))
    else:
        hi = lo
    if lo > VMAX_LIMIT or hi > VMAX_LIMIT:
        raise err("%s: version out of range in '%s'" % (what, text))
    if hi < lo:
        raise err("%s: empty range '%s'" % (what, text))
    return lo, hi


class Parser:
    """Parses one .def file into an Api with its two messages."""

    def __init__(self, path):
        self.path = path
        self.api = None
        self.msg = None
        # Open structs by indentation level (index 0 = the message body, whose
        # fields are at level 1): (Struct or None for a reused one, vmin,
        # vmax, the Field that opened it or None).
        self.stack = []

    def err(self, line, msg):
        return DefError(self.path, line, msg)

    def run(self, text):
        for no, raw in enumerate(text.split("\n"), 1):
            self.line(no, raw)
        self.close_levels(0)
        if self.api is None:
            raise self.err(1, "no 'api KEY Name' line")
        for kind in ("request", "response"):
            if getattr(self.api, kind) is None:
                raise self.err(self.api.line, "api %s has no %s%s message"
                               % (self.api.name, self.api.name, kind.capitalize()))
        return self.api

    def line(self, no, raw):
        text = raw.split("#", 1)[0].rstrip()
        if not text.strip():
            return
        lead = text[: len(text) - len(text.lstrip())]
        if "\t" in lead:
            raise self.err(no, "tab in indentation (use two spaces per level)")
        if len(lead) % 2:
            raise self.err(no, "indentation of %d spaces is not a multiple of two" % len(lead))
        level = len(lead) // 2
        words = text.split()
        if level == 0:
            self.close_levels(0)
            if words[0] == "api":
                self.api_line(no, words)
            elif words[0] == "message":
                self.message_line(no, words)
            else:
                raise self.err(no, "expected 'api' or 'message' at column 0, got '%s'" % words[0])
            return
        if self.msg is None:
            raise self.err(no, "field outside a message")
        self.field_line(no, level, words)

    def api_line(self, no, words):
        if self.api is not None:
            raise self.err(no, "second 'api' line (one API per file; first at line %d)" % self.api.line)
        if len(words) != 3:
            raise self.err(no, "expected 'api KEY Name'")
        key = parse_int(words[1], lambda m: self.err(no, m), "api key")
        if not 0 <= key <= VMAX_LIMIT:
            raise self.err(no, "api key %d out of range" % key)
        if not NAME_RE.match(words[2]):
            raise self.err(no, "api name '%s' must be CamelCase" % words[2])
        self.api = Api(key, words[2], self.path, no)

    def message_line(self, no, words):
        if self.api is None:
            raise self.err(no, "'message' before the 'api' line")
        if len(words) < 2:
            raise self.err(no, "expected 'message NameRequest versions=A-B flex=F+'")
        name = words[1]
        kind = None
        for k in ("request", "response"):
            if name == self.api.name + k.capitalize():
                kind = k
        if kind is None:
            raise self.err(no, "message '%s' must be %sRequest or %sResponse"
                           % (name, self.api.name, self.api.name))
        if getattr(self.api, kind) is not None:
            raise self.err(no, "second %s message (first at line %d)" % (name, getattr(self.api, kind).line))
        msg = Message(name, self.path, no)
        msg.api = self.api
        seen = set()
        e = lambda m: self.err(no, m)
        for w in words[2:]:
            k, eq, v = w.partition("=")
            if not eq or k in seen or k not in ("versions", "flex"):
                raise self.err(no, "unexpected '%s' (expected versions=A-B flex=F+|none, once each)" % w)
            seen.add(k)
            if k == "versions":
                if v.endswith("+"):
                    raise self.err(no, "versions=%s: a message needs an upper bound (A-B)" % v)
                msg.vmin, msg.vmax = parse_range(v, e, "versions", None)
            elif v == "none":
                msg.flex = FLEX_NONE
            else:
                m = re.match(r"^(\d+)\+$", v)
                if not m:
                    raise self.err(no, "flex=%s: expected flex=F+ or flex=none" % v)
                msg.flex = int(m.group(1))
        if seen != {"versions", "flex"}:
            raise self.err(no, "message needs both versions= and flex=")
        if msg.flex != FLEX_NONE and not msg.vmin <= msg.flex <= msg.vmax:
            raise self.err(no, "flex=%d+ is outside versions=%d-%d (write flex=none if no version is flexible)"
                           % (msg.flex, msg.vmin, msg.vmax))
        setattr(self.api, kind, msg)
        self.msg = msg
        self.stack = [(msg.body, msg.vmin, msg.vmax, None)]

    def close_levels(self, level):
        """Closes the structs opened deeper than `level`; each new one needs fields."""
        for st, _, _, f in self.stack[level:]:
            if f is not None and not st.fields:
                raise self.err(f.line, "struct %s of field %s has no fields (indent them under it, "
                               "or define %s earlier in this message)" % (st.name, f.name, st.name))
        del self.stack[level:]

    def field_line(self, no, level, words):
        if level > len(self.stack):
            raise self.err(no, "unexpected indentation (level %d; the line above opens no struct)" % level)
        self.close_levels(level)
        parent, pmin, pmax, pf = self.stack[level - 1]
        if parent is None:
            raise self.err(no, "struct %s of field %s was defined at line %d; a reuse takes no fields"
                           % (pf.struct.name, pf.name, pf.struct.line))
        f = self.parse_field(no, words, parent, pmin, pmax)
        parent.fields.append(f)
        if f.struct is not None:
            if f.struct.line == no:
                # A new struct: its fields follow one level deeper.
                self.stack.append((f.struct, f.vmin, f.vmax, f))
            else:
                self.stack.append((None, f.vmin, f.vmax, f))

    def parse_field(self, no, words, parent, pmin, pmax):
        e = lambda m: self.err(no, m)
        if len(words) < 2:
            raise e("expected 'FieldName TYPE [VERSIONS] [null=..] [tag=N] [default=X]'")
        name, typ = words[0], words[1]
        if not NAME_RE.match(name):
            raise e("field name '%s' must be CamelCase (letters and digits)" % name)
        f = Field(name, self.path, no)
        if f.cname in C_KEYWORDS:
            raise e("field name '%s' maps to '%s', reserved in C or by the codec" % (name, f.cname))
        for g in parent.fields:
            if g.cname == f.cname:
                raise e("field %s repeats %s (line %d) in %s" % (name, g.name, g.line, parent.name))
        self.parse_type(no, f, typ)
        f.vmin, f.vmax = pmin, pmax
        seen = set()
        for w in words[2:]:
            k, eq, v = w.partition("=")
            if not eq:
                if "versions" in seen:
                    raise e("second version range '%s'" % w)
                seen.add("versions")
                m = re.match(r"^v?(\d+)\+$", w)
                if m and int(m.group(1)) > pmax:
                    raise e("versions %s start after the enclosing versions %d-%d" % (w, pmin, pmax))
                f.vmin, f.vmax = parse_range(w, e, "versions", pmax)
                if not (pmin <= f.vmin and f.vmax <= pmax):
                    raise e("versions %s are outside the enclosing versions %d-%d" % (w, pmin, pmax))
                continue
            if k in seen or k not in ("null", "tag", "default"):
                raise e("unexpected '%s' (expected null=, tag=, default= once each)" % w)
            seen.add(k)
            if k == "null":
                f.null = parse_range(v, e, "null", VMAX_LIMIT)
            elif k == "tag":
                f.tag = parse_int(v, e, "tag")
                if not 0 <= f.tag <= 0x7FFFFFFF:
                    raise e("tag=%s out of range" % v)
            else:
                f.default = self.parse_default(e, f, v)
        self.check_field(e, f, parent)
        return f

    def parse_type(self, no, f, typ):
        e = lambda m: self.err(no, m)
        base = typ
        if typ.startswith("[]"):
            f.array = True
            base = typ[2:]
        if base in PRIMS:
            f.prim = base
            if f.array and base == "records":
                raise e("[]records is not a type")
            return
        if not NAME_RE.match(base):
            raise e("unknown type '%s' (primitives: %s; or a CamelCase struct name)" % (typ, " ".join(PRIMS)))
        st = self.msg.structs.get(base)
        if st is not None and any(s is st for s, _, _, _ in self.stack):
            raise e("struct %s is used inside its own definition" % base)
        if st is None:
            cname = "%s_%s" % (self.msg.cname, snake(base))
            st = Struct(base, cname, self.path, no)
            self.msg.structs[base] = st
        f.struct = st

    def parse_default(self, e, f, v):
        if f.array or f.struct is not None or not PRIMS[f.prim][3]:
            raise e("default= is only for numbers and bools (field %s is %s)"
                    % (f.name, "an array" if f.array else f.prim or "a struct"))
        if f.prim == "bool":
            if v not in ("true", "false"):
                raise e("default=%s: a bool default is true or false" % v)
            return 1 if v == "true" else 0
        d = parse_int(v, e, "default")
        lo, hi = PRIMS[f.prim][4]
        if not lo <= d <= hi:
            raise e("default=%s does not fit %s" % (v, f.prim))
        return d

    def check_field(self, e, f, parent):
        msg = self.msg
        if f.null is not None:
            if f.struct is not None and not f.array:
                raise e("null= on a single struct is not supported (nullable structs need a presence byte)")
            if not f.array and not PRIMS[f.prim][2]:
                raise e("null= on a %s field (only strings, bytes, records and arrays are nullable)" % f.prim)
            lo, hi = max(f.null[0], f.vmin), min(f.null[1], f.vmax)
            if lo > hi:
                raise e("null= versions do not overlap the field's versions %d-%d" % (f.vmin, f.vmax))
            f.null = (lo, hi)
        if f.tag is not None:
            if msg.flex == FLEX_NONE or f.vmin < msg.flex:
                raise e("tagged field %s exists in v%d, which is not flexible (flex=%s)"
                        % (f.name, f.vmin, "none" if msg.flex == FLEX_NONE else "%d+" % msg.flex))
            for g in parent.fields:
                if g.tag == f.tag:
                    raise e("tag=%d repeats the tag of %s (line %d)" % (f.tag, g.name, g.line))


# --------------------------------------------------------------- validation

def check_all(apis):
    errors = []
    by_key = {}
    cnames = {}
    for api in apis:
        other = by_key.get(api.key)
        if other is not None:
            errors.append("%s:%d: error: api key %d already defined by %s (%s:%d)"
                          % (api.path, api.line, api.key, other.name, other.path, other.line))
            continue
        by_key[api.key] = api
        for msg in (api.request, api.response):
            for st in [msg.body] + list(msg.structs.values()):
                prev = cnames.get(st.cname)
                if prev is not None:
                    errors.append("%s:%d: error: C name %s of %s clashes with %s (%s:%d)"
                                  % (st.path, st.line, st.cname, st.name, prev.name, prev.path, prev.line))
                cnames[st.cname] = st
    return errors


# ----------------------------------------------------------------- emitting

def ctype(f):
    if f.struct is not None:
        return "struct " + f.struct.cname
    return PRIMS[f.prim][1]


def vers(lo, hi):
    return "v%d+" % lo if hi >= VMAX_LIMIT else ("v%d" % lo if lo == hi else "v%d-%d" % (lo, hi))


def field_comment(f, msg):
    parts = [vers(f.vmin, f.vmax) if f.vmax != msg.vmax else "v%d+" % f.vmin]
    if f.null:
        parts.append("null " + (vers(f.null[0], f.null[1]) if f.null[1] != msg.vmax else "v%d+" % f.null[0]))
    if f.tag is not None:
        parts.append("tag %d" % f.tag)
    if f.default is not None:
        parts.append("default %d" % f.default)
    return ", ".join(parts)


def post_order(msg):
    """Structs of a message, children before parents, each once."""
    out, seen = [], set()

    def visit(st):
        if st.cname in seen:
            return
        seen.add(st.cname)
        for f in st.fields:
            if f.struct is not None:
                visit(f.struct)
        out.append(st)
    visit(msg.body)
    return out


def emit_struct_h(st, msg, out):
    out.append("struct %s {" % st.cname)
    if not st.fields:
        out.append("\tchar unused_; /* no fields in any version */")
    for f in st.fields:
        t = ctype(f)
        if f.array:
            decl = "struct { int32_t count; %s *items; } %s;" % (t, f.cname)
        else:
            decl = "%s %s;" % (t, f.cname)
        out.append("\t%-48s /* %s */" % (decl, field_comment(f, msg)))
    out.append("};")


def c_int(v):
    if v == -(1 << 63):
        return "INT64_MIN"
    return "%dLL" % v


def emit_fields_c(st, out):
    if not st.fields:
        return "NULL"
    name = "proto_f_" + st.cname
    out.append("static const struct proto_field %s[] = {" % name)
    for f in st.fields:
        pt = "PT_STRUCT" if f.struct is not None else PRIMS[f.prim][0]
        nl = f.null if f.null else (-1, -1)
        tag = f.tag if f.tag is not None else -1
        tv = (f.vmin, f.vmax) if f.tag is not None else (-1, -1)
        out.append("\t{ .name = \"%s\", .type = %s, .array = %s, .vmin = %d, .vmax = %d,"
                   % (f.cname, pt, "true" if f.array else "false", f.vmin, f.vmax))
        out.append("\t  .null_min = %d, .null_max = %d, .tag = %d, .tag_vmin = %d, .tag_vmax = %d,"
                   % (nl[0], nl[1], tag, tv[0], tv[1]))
        out.append("\t  .offset = offsetof(struct %s, %s), .def_int = %s, .sub = %s },"
                   % (st.cname, f.cname, c_int(f.default or 0),
                      "&proto_" + f.struct.cname if f.struct is not None else "NULL"))
    out.append("};")
    return name


def emit(apis, sources):
    h, c = [], []
    banner = "/* Generated by src/protocol/gen.py from %s. Do not edit. */" % " ".join(sources)
    h += [banner, "#ifndef RUNNEL_PROTO_GEN_H", "#define RUNNEL_PROTO_GEN_H",
          '#include "protocol/codec.h"', ""]
    for api in apis:
        h.append("#define PROTO_KEY_%s %d" % (snake(api.name).upper(), api.key))
    h.append("")
    c += [banner, "#include <stddef.h>", "#include <stdint.h>", '#include "proto_gen.h"', ""]
    for api in apis:
        for msg in (api.request, api.response):
            h.append("/* ---- %s (api %d %s, versions %d-%d, flexible %s; %s) ---- */"
                     % (msg.name, api.key, api.name, msg.vmin, msg.vmax,
                        "none" if msg.flex == FLEX_NONE else "%d+" % msg.flex, os.path.basename(msg.path)))
            for st in post_order(msg):
                emit_struct_h(st, msg, h)
                fields = emit_fields_c(st, c)
                body = "{ .name = \"%s\", .size = sizeof(struct %s), .nfields = %d, .fields = %s }" % (
                    st.name, st.cname, len(st.fields), fields)
                if st is msg.body:
                    c.append("const struct proto_msg proto_%s = {" % msg.cname)
                    c.append("\t.name = \"%s\", .api_key = %d, .vmin = %d, .vmax = %d, .flex_min = %d,"
                             % (msg.name, api.key, msg.vmin, msg.vmax, msg.flex))
                    c.append("\t.body = %s," % body)
                    c.append("};")
                else:
                    c.append("const struct proto_struct proto_%s = %s;" % (st.cname, body))
                    h.append("extern const struct proto_struct proto_%s;" % st.cname)
                    h.append("")
                c.append("")
            h.append("extern const struct proto_msg proto_%s;" % msg.cname)
            h.append("")
    c.append("static const struct proto_api proto_apis[] = {")
    for api in apis:
        c.append("\t{ %d, \"%s\", &proto_%s, &proto_%s }," % (api.key, api.name, api.request.cname,
                                                            api.response.cname))
    c.append("};")
    c += ["",
          "const struct proto_api *proto_api_find(int16_t key)",
          "{",
          "\tfor (size_t i = 0; i < sizeof(proto_apis) / sizeof(proto_apis[0]); i++)",
          "\t\tif (proto_apis[i].key == key)",
          "\t\t\treturn &proto_apis[i];",
          "\treturn NULL;",
          "}"]
    if not apis:
        # An empty initializer list is not C17; keep the table well-formed.
        i = c.index("static const struct proto_api proto_apis[] = {")
        c.insert(i + 1, "\t{ -1, \"\", NULL, NULL },")
    h += ["#endif"]
    return "\n".join(h) + "\n", "\n".join(c) + "\n"


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def main(argv):
    args = argv[1:]
    out = None
    files = []
    while args:
        a = args.pop(0)
        if a == "--out" and args:
            out = args.pop(0)
        elif a.startswith("-"):
            sys.stderr.write("usage: gen.py --out DIR file.def...\n")
            return 2
        else:
            files.append(a)
    if out is None:
        sys.stderr.write("usage: gen.py --out DIR file.def...\n")
        return 2
    apis, errors = [], []
    for path in files:
        try:
            with open(path) as fh:
                text = fh.read()
            apis.append(Parser(path).run(text))
        except DefError as ex:
            errors.append(str(ex))
        except (OSError, UnicodeDecodeError) as ex:
            errors.append("%s: error: %s" % (path, ex))
    errors += check_all(apis)
    if errors:
        for m in errors:
            sys.stderr.write(m + "\n")
        sys.stderr.write("gen.py: %d error(s); nothing written\n" % len(errors))
        return 1
    apis.sort(key=lambda a: a.key)
    h, c = emit(apis, [os.path.basename(p) for p in files])
    os.makedirs(out, exist_ok=True)
    write_atomic(os.path.join(out, "proto_gen.h"), h)
    write_atomic(os.path.join(out, "proto_gen.c"), c)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
