/*
 * The hunt's scanner: finds the values of chosen fields in a chunk of JSON lines without
 * building the records (detection/hunt.py, docs/detection.md "How matching works").
 *
 * A Scanner is made from field paths (tuples of keys; arrays on the way are walked), each
 * in a group (the paths whose values one screen of the index tests). scan(chunk) checks
 * that each line of the chunk holds one JSON object and returns (lines, sets): per path the
 * distinct non-empty strings found there that are not known clean, or None when there are
 * none. A value is known clean when learn(group, values) said so (a bounded table), or when
 * the group's mode and the index's Bloom filter of keys show it can match nothing (a plain
 * address or name looked up as the index's screen would: surely_clean). rows(chunk, hot)
 * gives the lines holding hot values. scan returns None when the chunk is not for this fast
 * path: a line that is not one JSON object, a path holding something other than strings,
 * arrays of them or null, a key with escapes on a path, a value that is not UTF-8. The
 * caller then reads the chunk the slow way, which decides what such lines are; so the
 * scanner only ever has to say "I cannot", never how a line is wrong.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define MAX_DEPTH 64
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define PENDING 32
#define NOT_HERE (-1) /* not for the fast path */
#define FAILED (-2)   /* a Python error is set */

typedef struct Node {
    char *key;
    Py_ssize_t klen;
    int column; /* >= 0 where a path ends */
    int nchildren;
    struct Node *children;
    uint64_t lengths; /* bit n: a child's key is n bytes long (63: 63 or more) */
} Node;

/* A value known clean: its hash (0: an empty slot), its bytes in the scanner's arena, and
   its first bytes in the slot itself, so that most lookups read one cache line. */
#define HEAD 16
typedef struct {
    uint64_t hash;
    uint32_t off;
    uint32_t len;
    unsigned char head[HEAD];
} Known;

typedef struct {
    Known *slots;
    size_t cap; /* a power of two */
    size_t used;
} KnownTable;

#define MAX_ARENA ((size_t)1 << 30)

/* A Bloom filter of indicator keys (bytes): says "surely not held" or "maybe held". */
typedef struct {
    PyObject_HEAD
    uint64_t *bits;
    uint64_t mask; /* the number of bits - 1 (a power of two - 1) */
    Py_ssize_t count;
} Bloom;

#define BLOOM_K 8

/* How a group's values that are not known may be found clean without Python: */
enum {
    PRE_NONE = 0,   /* they may not: every one goes to the index's screen */
    PRE_IP = 1,     /* addresses: a canonical dotted quad is looked up, anything else plain
                       is no address */
    PRE_HOST = 2,   /* hosts: a canonical dotted quad is looked up, a name by each suffix */
    PRE_DOMAIN = 3, /* names: each suffix looked up */
};

typedef struct {
    PyObject_HEAD
    Node root;
    int ncolumns;
    int ngroups;
    int *group_of;      /* per column: the group whose known values it shares */
    KnownTable *known;  /* per group */
    char *arena;
    size_t arena_len;
    size_t arena_cap;
    size_t nknown;
    size_t max_known;
    char *buf;          /* unescaped values */
    Py_ssize_t bufcap;
    unsigned char *modes; /* per group: PRE_* */
    Bloom *bloom;         /* the index's keys, or NULL */
    int ranges;           /* the index holds address blocks: quads go to its screen */
} Scanner;

typedef struct {
    const unsigned char *end; /* the line's newline */
    int failed;               /* a Python error is set */
    Scanner *sc;
    PyObject **sets;   /* scan: per column a set, or None while it has nothing */
    PyObject **hot;    /* rows: a set of bytes (or NULL) per column */
    int line_hot;
    /* scan: values of the line whose lookups wait for their slots, fetched meanwhile */
    int npending;
    struct {
        const char *text;
        Py_ssize_t len;
        uint64_t hash;
        int column;
    } pending[PENDING];
} State;

/* Bytes that end the plain run of a string: the quote, the backslash, control characters. */
static unsigned char special[256];
static unsigned char is_digit[256];
static unsigned char is_hex[256];

/* ------------------------------------------------------------------ field paths */

static void
free_node(Node *n)
{
    for (int i = 0; i < n->nchildren; i++) {
        free_node(&n->children[i]);
    }
    PyMem_Free(n->children);
    PyMem_Free(n->key);
    n->children = NULL;
    n->key = NULL;
    n->nchildren = 0;
    n->lengths = 0;
}

/* Whether n bytes are equal: short runs compared inline (no call), as keys and values are. */
static inline uint64_t
load8(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

static inline int
same(const unsigned char *a, const unsigned char *b, Py_ssize_t n)
{
    if (n >= 8 && n <= 16) { /* two loads that overlap when n < 16 */
        return load8(a) == load8(b) && load8(a + n - 8) == load8(b + n - 8);
    }
    if (n > 16) {
        return memcmp(a, b, (size_t)n) == 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (a[i] != b[i]) {
            return 0;
        }
    }
    return 1;
}

static inline uint64_t
length_bit(Py_ssize_t len)
{
    return (uint64_t)1 << (len < 63 ? len : 63);
}

static Node *
child_of(const Node *n, const unsigned char *key, Py_ssize_t len)
{
    for (int i = 0; i < n->nchildren; i++) {
        Node *c = &n->children[i];
        if (c->klen == len && same((const unsigned char *)c->key, key, len)) {
            return c;
        }
    }
    return NULL;
}

static Node *
add_child(Node *n, const char *key, Py_ssize_t len)
{
    Node *grown = PyMem_Realloc(n->children, sizeof(Node) * (size_t)(n->nchildren + 1));
    if (grown == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    n->children = grown;
    Node *c = &n->children[n->nchildren];
    memset(c, 0, sizeof(Node));
    c->column = -1;
    c->key = PyMem_Malloc((size_t)len + 1);
    if (c->key == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(c->key, key, (size_t)len);
    c->key[len] = '\0';
    c->klen = len;
    n->nchildren++;
    n->lengths |= length_bit(len);
    return c;
}

/* ------------------------------------------------------------------ values known clean */

static inline uint64_t
hash_bytes(const unsigned char *p, Py_ssize_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (uint64_t)n;
    uint64_t w = 0;
    if (n >= 8) {
        const unsigned char *last = p + n - 8; /* the tail: the last 8 bytes, overlapping */
        while (p < last) {
            uint64_t x;
            memcpy(&x, p, 8);
            h = (h ^ x) * 0xFF51AFD7ED558CCDULL;
            h ^= h >> 32;
            p += 8;
        }
        memcpy(&w, last, 8);
    }
    else {
        for (Py_ssize_t i = 0; i < n; i++) {
            w |= (uint64_t)p[i] << (8 * i);
        }
    }
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ULL;
    h ^= h >> 29;
    return h | 1; /* 0 marks an empty slot */
}

static int
known(const Scanner *sc, int group, uint64_t h, const char *v, Py_ssize_t n)
{
    const KnownTable *t = &sc->known[group];
    if (t->cap == 0) {
        return 0;
    }
    size_t j = (size_t)h & (t->cap - 1);
    for (;;) {
        const Known *k = &t->slots[j];
        if (k->hash == 0) {
            return 0;
        }
        if (k->hash == h && k->len == (uint32_t)n) {
            const unsigned char *u = (const unsigned char *)v;
            if (n <= HEAD ? same(k->head, u, n)
                          : same(k->head, u, HEAD) &&
                                same((const unsigned char *)sc->arena + k->off + HEAD, u + HEAD,
                                     n - HEAD)) {
                return 1;
            }
        }
        j = (j + 1) & (t->cap - 1);
    }
}

static void
forget_all(Scanner *sc)
{
    for (int g = 0; g < sc->ngroups; g++) {
        KnownTable *t = &sc->known[g];
        PyMem_Free(t->slots);
        t->slots = NULL;
        t->cap = 0;
        t->used = 0;
    }
    sc->arena_len = 0;
    sc->nknown = 0;
}

static int
grow_known(KnownTable *t)
{
    size_t cap = t->cap ? t->cap * 2 : 1024;
    Known *slots = PyMem_Calloc(cap, sizeof(Known));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < t->cap; i++) {
        Known *k = &t->slots[i];
        if (k->hash != 0) {
            size_t j = (size_t)k->hash & (cap - 1);
            while (slots[j].hash != 0) {
                j = (j + 1) & (cap - 1);
            }
            slots[j] = *k;
        }
    }
    PyMem_Free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

/* Record a value as known clean for a group of paths. */
static int
learn_one(Scanner *sc, int group, const char *v, Py_ssize_t n)
{
    uint64_t h = hash_bytes((const unsigned char *)v, n);
    if (known(sc, group, h, v, n)) {
        return 0;
    }
    if (sc->nknown >= sc->max_known || (size_t)n > MAX_ARENA - sc->arena_len) {
        forget_all(sc); /* bounded: start again, as a cache does */
        if ((size_t)n > MAX_ARENA) {
            return 0;
        }
    }
    KnownTable *t = &sc->known[group];
    if ((t->used + 1) * 2 > t->cap && grow_known(t) < 0) {
        return -1;
    }
    if (sc->arena_len + (size_t)n > sc->arena_cap) {
        size_t cap = sc->arena_cap ? sc->arena_cap : 1 << 16;
        while (cap < sc->arena_len + (size_t)n) {
            cap *= 2;
        }
        char *arena = PyMem_Realloc(sc->arena, cap);
        if (arena == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        sc->arena = arena;
        sc->arena_cap = cap;
    }
    memcpy(sc->arena + sc->arena_len, v, (size_t)n);
    size_t j = (size_t)h & (t->cap - 1);
    while (t->slots[j].hash != 0) {
        j = (j + 1) & (t->cap - 1);
    }
    t->slots[j].hash = h;
    t->slots[j].off = (uint32_t)sc->arena_len;
    t->slots[j].len = (uint32_t)n;
    memcpy(t->slots[j].head, v, (size_t)(n < HEAD ? n : HEAD));
    sc->arena_len += (size_t)n;
    t->used++;
    sc->nknown++;
    return 0;
}

/* ------------------------------------------------------------------ JSON
 *
 * Each reader takes the position of what it reads and returns the position after it, or
 * NULL when the line is not for the fast path (with s->failed set when a Python error is).
 * Every line ends with its newline, which stops every run of bytes, so no reader looks past
 * the line but the vector loads, which only load whole within it.
 */

static inline const unsigned char *
skip_ws(const unsigned char *p)
{
    while (*p <= ' ' && (*p == ' ' || *p == '\t' || *p == '\r')) {
        p++;
    }
    return p;
}

/* The first byte from p that is special (the line's newline is). */
static inline const unsigned char *
plain_run(const unsigned char *p, const unsigned char *end)
{
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    const __m128i control = _mm_set1_epi8(0x1F);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                                 _mm_cmpeq_epi8(_mm_min_epu8(v, control), v));
        unsigned int mask = (unsigned int)_mm_movemask_epi8(m);
        if (mask) {
            return p + __builtin_ctz(mask);
        }
        p += 16;
    }
#endif
    while (!special[*p]) {
        p++;
    }
    return p;
}

/* The first byte from p that is not a digit. */
static inline const unsigned char *
digits(const unsigned char *p, const unsigned char *end)
{
#ifdef __SSE2__
    if (end - p >= 16) {
        __m128i t = _mm_sub_epi8(_mm_loadu_si128((const __m128i *)p), _mm_set1_epi8('0'));
        __m128i d = _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(9)), t);
        unsigned int mask = ~(unsigned int)_mm_movemask_epi8(d) & 0xFFFF;
        if (mask) {
            return p + __builtin_ctz(mask);
        }
        p += 16;
    }
#endif
    while (is_digit[*p]) {
        p++;
    }
    return p;
}

/* The closing quote of a string holding escapes, from its first special byte; NULL when
   an escape is not JSON's or the string does not end on the line. */
static const unsigned char *
escaped_rest(const unsigned char *p, const unsigned char *end)
{
    for (;;) {
        if (*p == '"') {
            return p;
        }
        if (*p != '\\' || p >= end) { /* a control character, or the line's end */
            return NULL;
        }
        unsigned char c = p[1];
        if (c == 'u') {
            if (end - p < 6 || !is_hex[p[2]] || !is_hex[p[3]] || !is_hex[p[4]] ||
                !is_hex[p[5]]) {
                return NULL;
            }
            p += 6;
        }
        else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' ||
                 c == 'r' || c == 't') {
            p += 2;
        }
        else {
            return NULL;
        }
        p = plain_run(p, end);
    }
}

/* The closing quote of a string whose text starts at p; *esc: whether it holds escapes. */
static inline const unsigned char *
string_end(const unsigned char *p, const unsigned char *end, int *esc)
{
    p = plain_run(p, end);
    if (*p == '"') {
        *esc = 0;
        return p;
    }
    *esc = 1;
    return escaped_rest(p, end);
}

static inline const unsigned char *
number(const unsigned char *p, const unsigned char *end)
{
    if (*p == '-') {
        p++;
    }
    if (*p == '0') {
        p++;
    }
    else if (is_digit[*p]) {
        p = digits(p, end);
    }
    else {
        return NULL;
    }
    if (*p == '.') {
        p++;
        if (!is_digit[*p]) {
            return NULL;
        }
        p = digits(p, end);
    }
    if ((*p | 0x20) == 'e') {
        p++;
        if (*p == '+' || *p == '-') {
            p++;
        }
        if (!is_digit[*p]) {
            return NULL;
        }
        p = digits(p, end);
    }
    return p;
}

static inline const unsigned char *
literal(const unsigned char *p, const unsigned char *end, const char *word, Py_ssize_t n)
{
    if (end - p < n || memcmp(p, word, (size_t)n) != 0) {
        return NULL;
    }
    return p + n;
}

static inline unsigned int
hex4(const unsigned char *p)
{
    unsigned int v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        v = v * 16 + (c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10));
    }
    return v;
}

/* The text of an escaped string (checked by scan_string) into the scanner's buffer. */
static int
unescape(Scanner *sc, const unsigned char *p, Py_ssize_t n, Py_ssize_t *outlen)
{
    if (sc->bufcap < n) {
        char *buf = PyMem_Realloc(sc->buf, (size_t)n);
        if (buf == NULL) {
            PyErr_NoMemory();
            return FAILED;
        }
        sc->buf = buf;
        sc->bufcap = n;
    }
    /* Never longer than the escaped text: six bytes per \u escape give at most three. */
    unsigned char *o = (unsigned char *)sc->buf;
    const unsigned char *end = p + n;
    while (p < end) {
        if (*p != '\\') {
            *o++ = *p++;
            continue;
        }
        unsigned char c = p[1];
        if (c != 'u') {
            switch (c) {
            case 'b': *o++ = '\b'; break;
            case 'f': *o++ = '\f'; break;
            case 'n': *o++ = '\n'; break;
            case 'r': *o++ = '\r'; break;
            case 't': *o++ = '\t'; break;
            default: *o++ = c; /* " \ / */
            }
            p += 2;
            continue;
        }
        unsigned int cp = hex4(p + 2);
        p += 6;
        if (cp >= 0xDC00 && cp < 0xE000) {
            return NOT_HERE; /* a lone low surrogate */
        }
        if (cp >= 0xD800 && cp < 0xDC00) {
            if (end - p < 6 || p[0] != '\\' || p[1] != 'u') {
                return NOT_HERE;
            }
            unsigned int lo = hex4(p + 2);
            if (lo < 0xDC00 || lo >= 0xE000) {
                return NOT_HERE;
            }
            p += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (cp < 0x80) {
            *o++ = (unsigned char)cp;
        }
        else if (cp < 0x800) {
            *o++ = (unsigned char)(0xC0 | (cp >> 6));
            *o++ = (unsigned char)(0x80 | (cp & 0x3F));
        }
        else if (cp < 0x10000) {
            *o++ = (unsigned char)(0xE0 | (cp >> 12));
            *o++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            *o++ = (unsigned char)(0x80 | (cp & 0x3F));
        }
        else {
            *o++ = (unsigned char)(0xF0 | (cp >> 18));
            *o++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
            *o++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            *o++ = (unsigned char)(0x80 | (cp & 0x3F));
        }
    }
    *outlen = (Py_ssize_t)(o - (unsigned char *)sc->buf);
    return 0;
}

/* ------------------------------------------------------------------ the index's keys */

static inline uint64_t
mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 33;
    return h;
}

static inline int
bloom_maybe(const Bloom *b, const unsigned char *p, Py_ssize_t n)
{
    uint64_t h1 = hash_bytes(p, n);
    uint64_t h2 = mix(h1) | 1;
    for (int i = 0; i < BLOOM_K; i++) {
        uint64_t bit = (h1 + (uint64_t)i * h2) & b->mask;
        if (!((b->bits[bit >> 6] >> (bit & 63)) & 1)) {
            return 0;
        }
    }
    return 1;
}

static inline void
bloom_set(Bloom *b, const unsigned char *p, Py_ssize_t n)
{
    uint64_t h1 = hash_bytes(p, n);
    uint64_t h2 = mix(h1) | 1;
    for (int i = 0; i < BLOOM_K; i++) {
        uint64_t bit = (h1 + (uint64_t)i * h2) & b->mask;
        b->bits[bit >> 6] |= (uint64_t)1 << (bit & 63);
    }
}

/* Bytes a plain value holds: lower-case letters, digits, dot, dash, underscore. Such a
   value is its own normal form for the index (no case, no spaces, brackets, colon, zone). */
static unsigned char plain[256];

/* Whether the text is a dotted quad as the index writes addresses: four numbers of 0-255
   without leading zeros. */
static int
canonical_quad(const unsigned char *v, Py_ssize_t n)
{
    const unsigned char *end = v + n;
    for (int part = 0; part < 4; part++) {
        if (v >= end || !is_digit[*v]) {
            return 0;
        }
        unsigned int x = 0;
        const unsigned char *start = v;
        while (v < end && is_digit[*v] && v - start < 4) {
            x = x * 10 + (unsigned)(*v - '0');
            v++;
        }
        Py_ssize_t len = v - start;
        if (len > 3 || x > 255 || (len > 1 && *start == '0')) {
            return 0;
        }
        if (part < 3) {
            if (v >= end || *v != '.') {
                return 0;
            }
            v++;
        }
    }
    return v == end;
}

/* Whether a value not known clean surely matches no indicator, by the group's mode and
   the index's keys: the screen's own rules for plain values (detection/index.py). */
static int
surely_clean(const Scanner *sc, int mode, const unsigned char *v, Py_ssize_t n)
{
    const Bloom *b = sc->bloom;
    if (mode == PRE_NONE || b == NULL || n == 0 || v[n - 1] == '.') {
        return 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!plain[v[i]]) {
            return 0;
        }
    }
    if (mode != PRE_DOMAIN && canonical_quad(v, n)) {
        return !sc->ranges && !bloom_maybe(b, v, n);
    }
    if (mode == PRE_IP) {
        return 1; /* plain and no dotted quad: no address */
    }
    /* A name: it and every suffix after one of its dots (a host's URL host is the name). */
    const unsigned char *p = v;
    const unsigned char *end = v + n;
    while (p < end) {
        if (bloom_maybe(b, p, end - p)) {
            return 0;
        }
        const unsigned char *dot = memchr(p, '.', (size_t)(end - p));
        if (dot == NULL) {
            break;
        }
        p = dot + 1;
    }
    return 1;
}

/* A value of a path that is not known clean: added to the path's set. */
static int
keep(State *s, int column, const char *text, Py_ssize_t n, uint64_t h)
{
    Scanner *sc = s->sc;
    int group = sc->group_of[column];
    if (known(sc, group, h, text, n)) {
        return 0;
    }
    if (surely_clean(sc, sc->modes[group], (const unsigned char *)text, n)) {
        return learn_one(sc, group, text, n) < 0 ? FAILED : 0;
    }
    PyObject *str = PyUnicode_DecodeUTF8(text, n, NULL);
    if (str == NULL) {
        if (PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
            PyErr_Clear();
            return NOT_HERE;
        }
        return FAILED;
    }
    if (s->sets[column] == Py_None) {
        PyObject *set = PySet_New(NULL);
        if (set == NULL) {
            Py_DECREF(str);
            return FAILED;
        }
        Py_DECREF(Py_None);
        s->sets[column] = set;
    }
    int rc = PySet_Add(s->sets[column], str);
    Py_DECREF(str);
    return rc < 0 ? FAILED : 0;
}

/* A string found on a path: kept (scan) or checked against the path's hot values (rows). */
static int
take(State *s, int column, const unsigned char *v, Py_ssize_t n, int esc)
{
    if (n == 0) {
        return 0; /* empty values are never observed */
    }
    Scanner *sc = s->sc;
    if (s->hot != NULL) {
        PyObject *hot = s->hot[column];
        if (hot == NULL || s->line_hot) {
            return 0;
        }
        const char *text = (const char *)v;
        if (esc) {
            int rc = unescape(sc, v, n, &n);
            if (rc) {
                return rc;
            }
            text = sc->buf;
        }
        PyObject *b = PyBytes_FromStringAndSize(text, n);
        if (b == NULL) {
            return FAILED;
        }
        int found = PySet_Contains(hot, b);
        Py_DECREF(b);
        if (found < 0) {
            return FAILED;
        }
        s->line_hot = found;
        return 0;
    }
    const char *text = (const char *)v;
    if (esc) {
        int rc = unescape(sc, v, n, &n);
        if (rc) {
            return rc;
        }
        text = sc->buf; /* overwritten by the next escaped value: looked up at once */
    }
    uint64_t h = hash_bytes((const unsigned char *)text, n);
    if (!esc && s->npending < PENDING) {
        /* The slot is most often not in the cache: fetch it while the line is parsed. */
        const KnownTable *t = &sc->known[sc->group_of[column]];
        if (t->cap) {
            __builtin_prefetch(&t->slots[(size_t)h & (t->cap - 1)]);
        }
        s->pending[s->npending].text = text;
        s->pending[s->npending].len = n;
        s->pending[s->npending].hash = h;
        s->pending[s->npending].column = column;
        s->npending++;
        return 0;
    }
    return keep(s, column, text, n, h);
}

/* The values of the line that wait for their lookups. */
static int
settle(State *s)
{
    for (int i = 0; i < s->npending; i++) {
        int rc = keep(s, s->pending[i].column, s->pending[i].text, s->pending[i].len,
                      s->pending[i].hash);
        if (rc) {
            return rc;
        }
    }
    s->npending = 0;
    return 0;
}

static const unsigned char *parse_value(State *s, const unsigned char *p, const Node *node,
                                        int depth);

/* After a member or an element at *pp: 1 when a comma leads on (*pp at the next one), 0 when
   the closer ends the container (*pp past it); otherwise 0 with *pp NULL. */
static inline int
next_item(const unsigned char **pp, unsigned char closer)
{
    const unsigned char *p = skip_ws(*pp);
    if (*p == ',') {
        *pp = skip_ws(p + 1);
        return 1;
    }
    *pp = *p == closer ? p + 1 : NULL;
    return 0;
}

static const unsigned char *
parse_object(State *s, const unsigned char *p, const Node *node, int depth)
{
    if (UNLIKELY(depth > MAX_DEPTH)) {
        return NULL;
    }
    const unsigned char *end = s->end;
    const int lookup = node != NULL && node->nchildren;
    p = skip_ws(p + 1);
    if (*p == '}') {
        return p + 1;
    }
    for (;;) {
        if (UNLIKELY(*p != '"')) {
            return NULL;
        }
        int esc;
        const unsigned char *q = string_end(p + 1, end, &esc);
        if (UNLIKELY(q == NULL)) {
            return NULL;
        }
        const Node *child = NULL;
        if (lookup) {
            if (esc) {
                return NULL;
            }
            if (node->lengths & length_bit(q - p - 1)) {
                child = child_of(node, p + 1, q - p - 1);
            }
        }
        p = skip_ws(q + 1);
        if (UNLIKELY(*p != ':')) {
            return NULL;
        }
        p = skip_ws(p + 1);
        /* The common values off every path, read here. */
        if (child == NULL && *p == '"') {
            p = string_end(p + 1, end, &esc);
            p = p ? p + 1 : NULL;
        }
        else if (child == NULL && (is_digit[*p] || *p == '-')) {
            p = number(p, end);
        }
        else {
            p = parse_value(s, p, child, depth);
        }
        if (UNLIKELY(p == NULL) || !next_item(&p, '}')) {
            return p;
        }
    }
}

static const unsigned char *
parse_array(State *s, const unsigned char *p, const Node *node, int depth)
{
    if (UNLIKELY(depth > MAX_DEPTH)) {
        return NULL;
    }
    p = skip_ws(p + 1);
    if (*p == ']') {
        return p + 1;
    }
    for (;;) {
        p = parse_value(s, p, node, depth); /* arrays are walked: the same path */
        if (UNLIKELY(p == NULL) || !next_item(&p, ']')) {
            return p;
        }
    }
}

/* A value on a path (node), or off every path (node NULL: only checked). */
static const unsigned char *
parse_value(State *s, const unsigned char *p, const Node *node, int depth)
{
    switch (*p) {
    case '"': {
        int esc;
        const unsigned char *q = string_end(p + 1, s->end, &esc);
        if (q == NULL) {
            return NULL;
        }
        if (node != NULL) {
            if (node->column < 0) {
                return NULL; /* a string where the path goes on */
            }
            int rc = take(s, node->column, p + 1, q - p - 1, esc);
            if (rc) {
                s->failed = rc == FAILED;
                return NULL;
            }
        }
        return q + 1;
    }
    case '{':
        if (node != NULL && node->column >= 0) {
            return NULL;
        }
        return parse_object(s, p, node, depth + 1);
    case '[':
        return parse_array(s, p, node, depth + 1);
    case 'n':
        return literal(p, s->end, "null", 4);
    case 't':
        return node != NULL ? NULL : literal(p, s->end, "true", 4);
    case 'f':
        return node != NULL ? NULL : literal(p, s->end, "false", 5);
    default:
        return node != NULL ? NULL : number(p, s->end);
    }
}

/* (line index, start, end) of a hot line, appended to rows. */
static int
add_row(PyObject *rows, Py_ssize_t index, Py_ssize_t start, Py_ssize_t end)
{
    PyObject *row = Py_BuildValue("(nnn)", index, start, end);
    if (row == NULL) {
        return -1;
    }
    int rc = PyList_Append(rows, row);
    Py_DECREF(row);
    return rc;
}

/* Every line of the chunk as one object; the number of lines, NOT_HERE or FAILED. In rows
   mode (s->hot), (index, start, end) of each hot line is appended to rows. */
static Py_ssize_t
walk_lines(State *s, const char *data, Py_ssize_t size, PyObject *rows)
{
    if (size == 0) {
        return 0;
    }
    if (data[size - 1] != '\n') {
        return NOT_HERE; /* whole lines only: each line's newline ends every run */
    }
    const unsigned char *p = (const unsigned char *)data;
    const unsigned char *end = p + size;
    Py_ssize_t lines = 0;
    while (p < end) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        const unsigned char *line_start = p;
        s->end = nl;
        s->line_hot = 0;
        p = skip_ws(p);
        if (*p != '{') {
            return NOT_HERE;
        }
        p = parse_object(s, p, &s->sc->root, 1);
        if (p == NULL) {
            return s->failed ? FAILED : NOT_HERE;
        }
        if (skip_ws(p) != nl) {
            return NOT_HERE;
        }
        if (s->npending) {
            int rc = settle(s);
            if (rc) {
                return rc;
            }
        }
        if (rows != NULL && s->line_hot) {
            const unsigned char *start = (const unsigned char *)data;
            if (add_row(rows, lines, line_start - start, nl - start) < 0) {
                return FAILED;
            }
        }
        lines++;
        p = nl + 1;
    }
    return lines;
}

/* ------------------------------------------------------------------ the Bloom type */

static void
Bloom_dealloc(Bloom *self)
{
    PyMem_Free(self->bits);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
Bloom_init(Bloom *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"expected", NULL};
    Py_ssize_t expected;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "n:Bloom", kwlist, &expected)) {
        return -1;
    }
    /* 12 bits a key and 8 probes: about 0.3 % of absent keys say "maybe". */
    uint64_t nbits = 1024;
    while (nbits < (uint64_t)(expected > 0 ? expected : 0) * 12) {
        nbits *= 2;
    }
    uint64_t *bits = PyMem_Calloc((size_t)(nbits / 64), sizeof(uint64_t));
    if (bits == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    PyMem_Free(self->bits);
    self->bits = bits;
    self->mask = nbits - 1;
    self->count = 0;
    return 0;
}

/* The UTF-8 bytes of a key: bytes, or str (str only, when asked). */
static int
key_bytes(PyObject *item, const char **v, Py_ssize_t *n, int str_only)
{
    if (PyBytes_Check(item) && !str_only) {
        *v = PyBytes_AS_STRING(item);
        *n = PyBytes_GET_SIZE(item);
        return 0;
    }
    if (PyUnicode_Check(item)) {
        *v = PyUnicode_AsUTF8AndSize(item, n);
        return *v == NULL ? -1 : 0;
    }
    PyErr_SetString(PyExc_TypeError, str_only ? "values are str" : "keys are bytes or str");
    return -1;
}

/* each(ctx, text, n) for every key of an iterable; -1 with an error set. */
static int
each_key(PyObject *keys, int str_only, int (*each)(void *, const char *, Py_ssize_t),
         void *ctx)
{
    PyObject *it = PyObject_GetIter(keys);
    if (it == NULL) {
        return -1;
    }
    PyObject *item;
    while ((item = PyIter_Next(it)) != NULL) {
        const char *v;
        Py_ssize_t n;
        int rc = key_bytes(item, &v, &n, str_only);
        if (rc == 0) {
            rc = each(ctx, v, n);
        }
        Py_DECREF(item);
        if (rc < 0) {
            Py_DECREF(it);
            return -1;
        }
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? -1 : 0;
}

static int
bloom_add_one(void *ctx, const char *v, Py_ssize_t n)
{
    Bloom *b = ctx;
    bloom_set(b, (const unsigned char *)v, n);
    b->count++;
    return 0;
}

static PyObject *
Bloom_add(Bloom *self, PyObject *keys)
{
    if (self->bits == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the filter was not made with its size");
        return NULL;
    }
    if (each_key(keys, 0, bloom_add_one, self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static int
Bloom_contains(Bloom *self, PyObject *key)
{
    const char *v;
    Py_ssize_t n;
    if (self->bits == NULL) {
        return 0;
    }
    if (key_bytes(key, &v, &n, 0) < 0) {
        return -1;
    }
    return bloom_maybe(self, (const unsigned char *)v, n);
}

static PyObject *
Bloom_get_nbytes(Bloom *self, void *Py_UNUSED(closure))
{
    return PyLong_FromUnsignedLongLong(self->bits == NULL ? 0 : (self->mask + 1) / 8);
}

static PyObject *
Bloom_get_count(Bloom *self, void *Py_UNUSED(closure))
{
    return PyLong_FromSsize_t(self->count);
}

static PyMethodDef Bloom_methods[] = {
    {"add", (PyCFunction)Bloom_add, METH_O, "add(keys): hold these keys (bytes or str)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Bloom_getset[] = {
    {"nbytes", (getter)Bloom_get_nbytes, NULL, "the size of the bit array", NULL},
    {"count", (getter)Bloom_get_count, NULL, "how many keys were added", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods Bloom_as_sequence = {
    .sq_contains = (objobjproc)Bloom_contains,
};

static PyTypeObject BloomType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "shieldwall.detection._scan.Bloom",
    .tp_doc = "Bloom(expected): a Bloom filter of keys; `key in bloom` is False only for "
              "keys never added.",
    .tp_basicsize = sizeof(Bloom),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Bloom_init,
    .tp_dealloc = (destructor)Bloom_dealloc,
    .tp_methods = Bloom_methods,
    .tp_getset = Bloom_getset,
    .tp_as_sequence = &Bloom_as_sequence,
};

/* ------------------------------------------------------------------ the type */

static void
release(Scanner *self)
{
    free_node(&self->root);
    self->root.column = -1;
    if (self->known != NULL) {
        forget_all(self);
        PyMem_Free(self->known);
        self->known = NULL;
    }
    PyMem_Free(self->group_of);
    self->group_of = NULL;
    PyMem_Free(self->modes);
    self->modes = NULL;
    Py_CLEAR(self->bloom);
    self->ranges = 0;
    PyMem_Free(self->arena);
    self->arena = NULL;
    self->arena_cap = 0;
    self->ncolumns = 0;
    self->ngroups = 0;
}

static void
Scanner_dealloc(Scanner *self)
{
    release(self);
    PyMem_Free(self->buf);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
Scanner_init(Scanner *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"paths", "groups", "max_known", "modes", "bloom", "ranges", NULL};
    PyObject *paths, *groups = Py_None, *modes = Py_None, *bloom = Py_None;
    Py_ssize_t max_known = 2000000;
    int ranges = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|OnOOp:Scanner", kwlist, &paths, &groups,
                                     &max_known, &modes, &bloom, &ranges)) {
        return -1;
    }
    if (bloom != Py_None && !PyObject_TypeCheck(bloom, &BloomType)) {
        PyErr_SetString(PyExc_TypeError, "bloom is a Bloom or None");
        return -1;
    }
    release(self);
    if (bloom != Py_None) {
        Py_INCREF(bloom);
        self->bloom = (Bloom *)bloom;
    }
    self->ranges = ranges;
    PyObject *seq = PySequence_Fast(paths, "paths must be a sequence of tuples of keys");
    if (seq == NULL) {
        return -1;
    }
    PyObject *gseq = NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    self->group_of = PyMem_Calloc((size_t)(n ? n : 1), sizeof(int));
    if (self->group_of == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    int ngroups = 0;
    if (groups == Py_None) {
        for (Py_ssize_t i = 0; i < n; i++) {
            self->group_of[i] = (int)i;
        }
        ngroups = (int)n;
    }
    else {
        gseq = PySequence_Fast(groups, "groups must be a sequence of ints, one per path");
        if (gseq == NULL) {
            goto fail;
        }
        if (PySequence_Fast_GET_SIZE(gseq) != n) {
            PyErr_SetString(PyExc_ValueError, "groups: one per path");
            goto fail;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            long g = PyLong_AsLong(PySequence_Fast_GET_ITEM(gseq, i));
            if (g == -1 && PyErr_Occurred()) {
                goto fail;
            }
            if (g < 0 || g >= n) {
                PyErr_SetString(PyExc_ValueError, "a group is a number from 0 to paths - 1");
                goto fail;
            }
            self->group_of[i] = (int)g;
            if (g + 1 > ngroups) {
                ngroups = (int)g + 1;
            }
        }
    }
    self->known = PyMem_Calloc((size_t)(ngroups ? ngroups : 1), sizeof(KnownTable));
    if (self->known == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    self->ngroups = ngroups;
    self->max_known = max_known > 0 ? (size_t)max_known : 1;
    self->modes = PyMem_Calloc((size_t)(ngroups ? ngroups : 1), 1);
    if (self->modes == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    if (modes != Py_None) {
        PyObject *mseq = PySequence_Fast(modes, "modes must be a sequence of ints, one per group");
        if (mseq == NULL) {
            goto fail;
        }
        if (PySequence_Fast_GET_SIZE(mseq) != ngroups) {
            Py_DECREF(mseq);
            PyErr_SetString(PyExc_ValueError, "modes: one per group");
            goto fail;
        }
        for (int g = 0; g < ngroups; g++) {
            long m = PyLong_AsLong(PySequence_Fast_GET_ITEM(mseq, g));
            if (m < PRE_NONE || m > PRE_DOMAIN) {
                Py_DECREF(mseq);
                if (!PyErr_Occurred()) {
                    PyErr_SetString(PyExc_ValueError, "a mode is 0 (none), 1 (ip), 2 (host) or 3 (domain)");
                }
                goto fail;
            }
            self->modes[g] = (unsigned char)m;
        }
        Py_DECREF(mseq);
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *path = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyTuple_Check(path) || PyTuple_GET_SIZE(path) == 0) {
            PyErr_SetString(PyExc_TypeError, "each path is a non-empty tuple of keys");
            goto fail;
        }
        Node *cur = &self->root;
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(path); k++) {
            Py_ssize_t klen;
            const char *key = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(path, k), &klen);
            if (key == NULL) {
                goto fail;
            }
            Node *next = child_of(cur, (const unsigned char *)key, klen);
            if (next == NULL) {
                next = add_child(cur, key, klen);
                if (next == NULL) {
                    goto fail;
                }
            }
            cur = next;
        }
        if (cur->column >= 0) {
            PyErr_SetString(PyExc_ValueError, "a path is given twice");
            goto fail;
        }
        cur->column = (int)i;
    }
    self->ncolumns = (int)n;
    Py_XDECREF(gseq);
    Py_DECREF(seq);
    return 0;
fail:
    Py_XDECREF(gseq);
    Py_DECREF(seq);
    release(self);
    return -1;
}

static int
ready(Scanner *self)
{
    if (self->group_of == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the scanner was not made with its paths");
        return -1;
    }
    return 0;
}

/* A chunk: bytes or any object with a contiguous buffer (a memoryview of a mapped file). */
static int
chunk_of(PyObject *arg, Py_buffer *view)
{
    return PyObject_GetBuffer(arg, view, PyBUF_SIMPLE);
}

static PyObject *
Scanner_scan(Scanner *self, PyObject *chunk)
{
    if (ready(self) < 0) {
        return NULL;
    }
    Py_buffer view;
    if (chunk_of(chunk, &view) < 0) {
        return NULL;
    }
    /* A set per column, made when the column has a value to give. */
    PyObject *sets = PyList_New(self->ncolumns);
    if (sets == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    for (int i = 0; i < self->ncolumns; i++) {
        Py_INCREF(Py_None);
        PyList_SET_ITEM(sets, i, Py_None);
    }
    State s = {0};
    s.sc = self;
    s.sets = ((PyListObject *)sets)->ob_item;
    Py_ssize_t lines = walk_lines(&s, view.buf, view.len, NULL);
    PyBuffer_Release(&view);
    if (lines == FAILED) {
        Py_DECREF(sets);
        return NULL;
    }
    if (lines == NOT_HERE) {
        Py_DECREF(sets);
        Py_RETURN_NONE;
    }
    int any = 0;
    for (int i = 0; i < self->ncolumns; i++) {
        any |= PyList_GET_ITEM(sets, i) != Py_None;
    }
    if (!any) { /* the common case once the values are known: nothing to screen */
        Py_DECREF(sets);
        return Py_BuildValue("(nO)", lines, Py_None);
    }
    return Py_BuildValue("(nN)", lines, sets);
}

static int
by_start(const void *a, const void *b)
{
    Py_ssize_t x = *(const Py_ssize_t *)a, y = *(const Py_ssize_t *)b;
    return (x > y) - (x < y);
}

/* rows() of a chunk without escapes: each hot value is found where it stands in quotes
   (a JSON string written as is). A line where it stands under some other field is given
   too, and matches nothing when observed in full. */
static int
quoted_rows(const char *data, Py_ssize_t size, PyObject **hot, int ncolumns, PyObject *rows)
{
    Py_ssize_t *at = NULL;
    Py_ssize_t nat = 0, capat = 0;
    int rc = -1;
    for (int c = 0; c < ncolumns; c++) {
        if (hot[c] == NULL) {
            continue;
        }
        int dup = 0; /* the paths of a group share their set of values */
        for (int d = 0; d < c; d++) {
            dup |= hot[d] == hot[c];
        }
        if (dup) {
            continue;
        }
        PyObject *it = PyObject_GetIter(hot[c]);
        if (it == NULL) {
            goto out;
        }
        PyObject *value;
        while ((value = PyIter_Next(it)) != NULL) {
            if (!PyBytes_Check(value) || PyBytes_GET_SIZE(value) == 0) {
                Py_DECREF(value);
                continue;
            }
            const char *v = PyBytes_AS_STRING(value);
            Py_ssize_t n = PyBytes_GET_SIZE(value);
            const char *p = data + 1;
            const char *end = data + size;
            while (end - p > n) {
                const char *hit = memmem(p, (size_t)(end - p), v, (size_t)n);
                if (hit == NULL) {
                    break;
                }
                if (hit[-1] == '"' && hit + n < end && hit[n] == '"') {
                    if (nat == capat) {
                        Py_ssize_t cap = capat ? capat * 2 : 16;
                        Py_ssize_t *grown = PyMem_Realloc(at, sizeof(Py_ssize_t) * (size_t)cap);
                        if (grown == NULL) {
                            Py_DECREF(value);
                            Py_DECREF(it);
                            PyErr_NoMemory();
                            goto out;
                        }
                        at = grown;
                        capat = cap;
                    }
                    at[nat++] = hit - data;
                }
                p = hit + n;
            }
            Py_DECREF(value);
        }
        Py_DECREF(it);
        if (PyErr_Occurred()) {
            goto out;
        }
    }
    qsort(at, (size_t)nat, sizeof(Py_ssize_t), by_start);
    /* Line indexes and bounds, counting newlines from one hit to the next. */
    Py_ssize_t index = 0, last = -1;
    const char *counted = data;
    for (Py_ssize_t i = 0; i < nat; i++) {
        const char *hit = data + at[i];
        const char *nl;
        while ((nl = memchr(counted, '\n', (size_t)(hit - counted))) != NULL) {
            index++;
            counted = nl + 1;
        }
        if (index == last) {
            continue;
        }
        last = index;
        const char *stop = memchr(hit, '\n', (size_t)(data + size - hit));
        if (add_row(rows, index, counted - data, (stop ? stop : data + size) - data) < 0) {
            goto out;
        }
    }
    rc = 0;
out:
    PyMem_Free(at);
    return rc;
}

static PyObject *
Scanner_rows(Scanner *self, PyObject *args)
{
    PyObject *chunk, *hot;
    if (!PyArg_ParseTuple(args, "OO:rows", &chunk, &hot)) {
        return NULL;
    }
    if (ready(self) < 0) {
        return NULL;
    }
    PyObject *seq = PySequence_Fast(hot, "hot values are a sequence, one item per path");
    if (seq == NULL) {
        return NULL;
    }
    if (PySequence_Fast_GET_SIZE(seq) != self->ncolumns) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "hot values: one item per path");
        return NULL;
    }
    PyObject **items = PySequence_Fast_ITEMS(seq);
    PyObject **by_column = PyMem_Calloc((size_t)(self->ncolumns ? self->ncolumns : 1),
                                        sizeof(PyObject *));
    if (by_column == NULL) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    for (int i = 0; i < self->ncolumns; i++) {
        if (items[i] != Py_None) {
            if (!PyAnySet_Check(items[i])) {
                PyErr_SetString(PyExc_TypeError, "hot values of a path are a set of bytes");
                PyMem_Free(by_column);
                Py_DECREF(seq);
                return NULL;
            }
            by_column[i] = items[i];
        }
    }
    PyObject *rows = PyList_New(0);
    if (rows == NULL) {
        PyMem_Free(by_column);
        Py_DECREF(seq);
        return NULL;
    }
    Py_buffer view;
    if (chunk_of(chunk, &view) < 0) {
        Py_DECREF(rows);
        PyMem_Free(by_column);
        Py_DECREF(seq);
        return NULL;
    }
    if (memchr(view.buf, '\\', (size_t)view.len) == NULL) {
        int rc = quoted_rows(view.buf, view.len, by_column, self->ncolumns, rows);
        PyBuffer_Release(&view);
        PyMem_Free(by_column);
        Py_DECREF(seq);
        if (rc < 0) {
            Py_CLEAR(rows);
        }
        return rows;
    }
    State s = {0};
    s.sc = self;
    s.hot = by_column;
    Py_ssize_t lines = walk_lines(&s, view.buf, view.len, rows);
    PyBuffer_Release(&view);
    PyMem_Free(by_column);
    Py_DECREF(seq);
    if (lines == FAILED) {
        Py_DECREF(rows);
        return NULL;
    }
    if (lines == NOT_HERE) {
        Py_DECREF(rows);
        Py_RETURN_NONE;
    }
    return rows;
}

typedef struct {
    Scanner *sc;
    int group;
} Learning;

static int
learn_each(void *ctx, const char *v, Py_ssize_t n)
{
    Learning *l = ctx;
    return learn_one(l->sc, l->group, v, n);
}

static PyObject *
Scanner_learn(Scanner *self, PyObject *args)
{
    Learning l = {self, 0};
    PyObject *values;
    if (!PyArg_ParseTuple(args, "iO:learn", &l.group, &values) || ready(self) < 0) {
        return NULL;
    }
    if (l.group < 0 || l.group >= self->ngroups) {
        PyErr_SetString(PyExc_ValueError, "no such group");
        return NULL;
    }
    if (each_key(values, 1, learn_each, &l) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Scanner_forget(Scanner *self, PyObject *Py_UNUSED(ignored))
{
    if (self->known != NULL) {
        forget_all(self);
    }
    Py_RETURN_NONE;
}

static PyObject *
Scanner_get_known(Scanner *self, void *Py_UNUSED(closure))
{
    return PyLong_FromSize_t(self->nknown);
}

static PyGetSetDef Scanner_getset[] = {
    {"known", (getter)Scanner_get_known, NULL, "how many values are known clean", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef Scanner_methods[] = {
    {"scan", (PyCFunction)Scanner_scan, METH_O,
     "scan(chunk) -> (lines, [per path a set of str, or None], or None when no path has "
     "one) or None when the chunk is not "
     "one JSON object per line with strings (or arrays of them, or null) on the paths."},
    {"rows", (PyCFunction)Scanner_rows, METH_VARARGS,
     "rows(chunk, hot) -> (index, start, end) of the lines of a chunk scan() took that hold, "
     "on some path, one of its hot values (hot: per path a set of UTF-8 bytes, or None); in "
     "a chunk without escapes, the lines where such a value stands in quotes."},
    {"learn", (PyCFunction)Scanner_learn, METH_VARARGS,
     "learn(group, values): these str values are known clean for the group's paths; scan "
     "leaves them out (at most max_known in all: past that, all are forgotten)."},
    {"forget", (PyCFunction)Scanner_forget, METH_NOARGS, "forget(): no value is known clean."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "shieldwall.detection._scan.Scanner",
    .tp_doc = "Scanner(paths, groups=None, max_known=2000000): the values of these field paths "
              "in chunks of JSON lines; paths of a group share the values known clean.",
    .tp_basicsize = sizeof(Scanner),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Scanner_init,
    .tp_dealloc = (destructor)Scanner_dealloc,
    .tp_methods = Scanner_methods,
    .tp_getset = Scanner_getset,
};

static struct PyModuleDef scan_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "shieldwall.detection._scan",
    .m_doc = "The hunt's scanner of JSON lines (see Scanner).",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__scan(void)
{
    for (int c = 0; c < 256; c++) {
        special[c] = (c == '"' || c == '\\' || c < 0x20);
        is_digit[c] = (c >= '0' && c <= '9');
        is_hex[c] = is_digit[c] || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        plain[c] = is_digit[c] || (c >= 'a' && c <= 'z') || c == '.' || c == '-' || c == '_';
    }
    if (PyType_Ready(&ScannerType) < 0 || PyType_Ready(&BloomType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&scan_module);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddType(m, &ScannerType) < 0 || PyModule_AddType(m, &BloomType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
