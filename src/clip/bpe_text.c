/* bpe_text.c - cleaning and pre-tokenising text exactly as open_clip's
 * SimpleTokenizer does before BPE, with ftfy.fix_text taken as the identity
 * (as the reference vectors were made):
 *
 *   html.unescape(html.unescape(text)).strip(), then runs of regex \s become
 *   one space, .strip(), .lower(); pieces are found with
 *   <start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|
 *   [^\s\p{L}\p{N}]+ (regex module, IGNORECASE).
 *
 * Every Unicode property comes from the tables of bpe_tables.c, measured from
 * Python and regex themselves. */
#include "clip/bpe_text.h"

#include <string.h>

#include "clip/bpe_tables.h"

#define CP_REPLACEMENT 0xFFFDu
#define CP_MAX 0x10FFFFu
#define ENTITY_NAME_MAX 32 /* html's pattern reads names of 1..32 characters */

/* Whether cp lies in one of n sorted, disjoint ranges. */
static int in_ranges(const am_bpe_range *r, size_t n, uint32_t cp) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid].lo)
            hi = mid;
        else if (cp > r[mid].hi)
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

/* The pre-tokenisation class of a code point (AM_BPE_OTHER, ...). */
static int char_class(uint32_t cp) {
    if (cp < 128) {
        if ((cp | 32) >= 'a' && (cp | 32) <= 'z') return AM_BPE_LETTER;
        if (cp >= '0' && cp <= '9') return AM_BPE_NUMBER;
        if (cp == ' ' || (cp >= '\t' && cp <= '\r')) return AM_BPE_SPACE;
        return AM_BPE_OTHER;
    }
    size_t lo = 0, hi = am_bpe_classes_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < am_bpe_classes[mid].lo)
            hi = mid;
        else if (cp > am_bpe_classes[mid].hi)
            lo = mid + 1;
        else
            return am_bpe_classes[mid].cls;
    }
    return AM_BPE_OTHER;
}

/* Python's str.isspace (what str.strip removes). */
static int is_space_py(uint32_t cp) {
    if (cp < 128) return cp == ' ' || (cp >= '\t' && cp <= '\r') || (cp >= 0x1C && cp <= 0x1F);
    return in_ranges(am_bpe_space_py, am_bpe_space_py_count, cp);
}

/* regex's \s. */
static int is_space_regex(uint32_t cp) {
    if (cp < 128) return cp == ' ' || (cp >= '\t' && cp <= '\r');
    return in_ranges(am_bpe_space_regex, am_bpe_space_regex_count, cp);
}

/* The one-code-point lower case of cp (U+0130 and capital sigma aside). */
static uint32_t lower_simple(uint32_t cp) {
    if (cp < 128) return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    size_t lo = 0, hi = am_bpe_lower_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const am_bpe_case_run *r = &am_bpe_lower[mid];
        if (cp < r->lo)
            hi = mid;
        else if (cp > r->hi)
            lo = mid + 1;
        else
            return (cp - r->lo) % (uint32_t)r->stride == 0 ? (uint32_t)((int32_t)cp + r->delta)
                                                           : cp;
    }
    return cp;
}

/* ---------------------------------------------------------------------- */
/* UTF-8                                                                   */
/* ---------------------------------------------------------------------- */

size_t am_bpe_utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
    const unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len = 0;
    uint32_t v = 0;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        v = c & 0x0F;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        v = c & 0x07;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    }
    if (len == 0 || len > n) return 0;
    for (size_t j = 1; j < len; j++) {
        const unsigned b = s[j];
        if (b < (j == 1 ? lo : 0x80) || b > (j == 1 ? hi : 0xBF)) return 0;
        v = v << 6 | (b & 0x3F);
    }
    *cp = v;
    return len;
}

/* Decodes UTF-8; each byte that starts no valid sequence becomes a raw-byte
 * pseudo code point, as Python's surrogateescape decoding would keep it. */
static size_t decode_utf8(const unsigned char *s, size_t n, uint32_t *out) {
    size_t i = 0, k = 0;
    while (i < n) {
        uint32_t cp;
        const size_t len = am_bpe_utf8_next(s + i, n - i, &cp);
        out[k++] = len ? cp : AM_BPE_RAW_BYTE + s[i];
        i += len ? len : 1;
    }
    return k;
}

size_t am_bpe_encode_utf8(uint32_t cp, unsigned char *out) {
    if (cp >= AM_BPE_RAW_BYTE) {
        out[0] = (unsigned char)(cp - AM_BPE_RAW_BYTE);
        return 1;
    }
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | cp >> 18);
    out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---------------------------------------------------------------------- */
/* HTML character references (Python's html.unescape)                     */
/* ---------------------------------------------------------------------- */

/* The entity called name[0..len) (ASCII), or NULL. */
static const am_bpe_entity *find_entity(const char *name, size_t len) {
    size_t lo = 0, hi = am_bpe_entities_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *e = am_bpe_entities[mid].name;
        int c = strncmp(name, e, len);
        if (c == 0 && e[len] != 0) c = -1; /* name is a proper prefix of e */
        if (c < 0)
            hi = mid;
        else if (c > 0)
            lo = mid + 1;
        else
            return &am_bpe_entities[mid];
    }
    return NULL;
}

/* What the numeric reference &#num; becomes: sets *cp and returns 1, or
 * returns 0 when it becomes nothing. */
static int numeric_reference(uint32_t num, uint32_t *cp) {
    for (size_t i = 0; i < am_bpe_invalid_charrefs_count; i++)
        if (am_bpe_invalid_charrefs[i].number == num) {
            *cp = am_bpe_invalid_charrefs[i].cp;
            return 1;
        }
    if ((num >= 0xD800 && num <= 0xDFFF) || num > CP_MAX) {
        *cp = CP_REPLACEMENT;
        return 1;
    }
    if ((num >= 0x1 && num <= 0x8) || num == 0xB || (num >= 0xE && num <= 0x1F) ||
        (num >= 0x7F && num <= 0x9F) || (num >= 0xFDD0 && num <= 0xFDEF) ||
        (num & 0xFFFE) == 0xFFFE)
        return 0;
    *cp = num;
    return 1;
}

static int hex_digit(uint32_t c) {
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if ((c | 32) >= 'a' && (c | 32) <= 'f') return (int)((c | 32) - 'a' + 10);
    return -1;
}

/* Characters html's pattern allows in a reference name. */
static int name_char(uint32_t c) {
    return c != '\t' && c != '\n' && c != '\f' && c != ' ' && c != '<' && c != '&' && c != '#' &&
           c != ';';
}

/*
 * The reference starting at s[0] == '&' (n code points available): returns
 * how many code points it replaces (0 when it is not one: the '&' stays) and
 * puts what replaces them (none, one or two code points) in out[0..*n_out).
 * A named reference that matches only through a legacy prefix ("&ampx")
 * replaces just '&' and the prefix; the rest stays as text.
 */
static size_t reference_at(const uint32_t *s, size_t n, uint32_t out[2], size_t *n_out) {
    if (n > 1 && s[1] == '#') {
        size_t j = 2;
        uint32_t base = 10;
        if (j + 1 < n && (s[j] == 'x' || s[j] == 'X') && hex_digit(s[j + 1]) >= 0) {
            base = 16;
            j++;
        } else if (!(j < n && s[j] >= '0' && s[j] <= '9')) {
            return 0;
        }
        uint32_t num = 0; /* saturates just above U+10FFFF */
        for (; j < n; j++) {
            int d = hex_digit(s[j]);
            if (d < 0 || (uint32_t)d >= base) break;
            num = num * base + (uint32_t)d;
            if (num > CP_MAX) num = CP_MAX + 1;
        }
        if (j < n && s[j] == ';') j++;
        *n_out = (size_t)numeric_reference(num, &out[0]);
        return j;
    }
    char name[ENTITY_NAME_MAX + 1];
    size_t len = 0, ascii = 0; /* name length; length of its ASCII prefix */
    while (1 + len < n && len < ENTITY_NAME_MAX && name_char(s[1 + len])) {
        if (ascii == len && s[1 + len] < 128) name[ascii++] = (char)s[1 + len];
        len++;
    }
    if (len == 0) return 0;
    const am_bpe_entity *e = NULL;
    size_t used = 0;
    if (ascii == len && 1 + len < n && s[1 + len] == ';' && (e = find_entity(name, len))) {
        used = len + 2;
    } else {
        for (size_t x = ascii < am_bpe_legacy_name_max ? ascii : am_bpe_legacy_name_max; x >= 2;
             x--) {
            const am_bpe_entity *p = find_entity(name, x);
            if (p && p->legacy) {
                e = p;
                used = 1 + x;
                break;
            }
        }
    }
    if (!e) return 0;
    out[0] = e->cp;
    out[1] = e->cp2;
    *n_out = e->cp2 ? 2 : 1;
    return used;
}

/* html.unescape in place; returns the new length (never longer: a reference
 * of k code points becomes at most min(k, 2)). */
static size_t html_unescape(uint32_t *s, size_t n) {
    size_t i = 0, o = 0;
    while (i < n) {
        uint32_t rep[2];
        size_t n_rep = 0, used = s[i] == '&' ? reference_at(s + i, n - i, rep, &n_rep) : 0;
        if (used) {
            for (size_t k = 0; k < n_rep; k++)
                s[o++] = rep[k];
            i += used;
        } else {
            s[o++] = s[i++];
        }
    }
    return o;
}

/* ---------------------------------------------------------------------- */
/* White space and case                                                    */
/* ---------------------------------------------------------------------- */

/* str.strip in place; returns the new length. */
static size_t strip(uint32_t *s, size_t n) {
    size_t lo = 0;
    while (lo < n && is_space_py(s[lo]))
        lo++;
    while (n > lo && is_space_py(s[n - 1]))
        n--;
    memmove(s, s + lo, (n - lo) * sizeof *s);
    return n - lo;
}

/* re.sub(r'\s+', ' ', s) in place; returns the new length. */
static size_t collapse_spaces(uint32_t *s, size_t n) {
    size_t i = 0, o = 0;
    while (i < n) {
        if (is_space_regex(s[i])) {
            s[o++] = ' ';
            while (i < n && is_space_regex(s[i]))
                i++;
        } else {
            s[o++] = s[i++];
        }
    }
    return o;
}

/* Python's Final_Sigma test for the capital sigma at s[i]: a cased letter
 * before it and none after it, skipping case-ignorable code points. */
static int final_sigma(const uint32_t *s, size_t n, size_t i) {
    size_t j = i;
    while (j > 0 && in_ranges(am_bpe_case_ignorable, am_bpe_case_ignorable_count, s[j - 1]))
        j--;
    if (j == 0 || !in_ranges(am_bpe_cased, am_bpe_cased_count, s[j - 1])) return 0;
    size_t k = i + 1;
    while (k < n && in_ranges(am_bpe_case_ignorable, am_bpe_case_ignorable_count, s[k]))
        k++;
    return k == n || !in_ranges(am_bpe_cased, am_bpe_cased_count, s[k]);
}

/* str.lower from s into out; returns the length written (U+0130 becomes two
 * code points, so out needs room for n plus their count). */
static size_t lower_text(const uint32_t *s, size_t n, uint32_t *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (c == 0x130) {
            out[o++] = 'i';
            out[o++] = 0x307;
        } else if (c == 0x3A3) {
            out[o++] = final_sigma(s, n, i) ? 0x3C2 : 0x3C3;
        } else {
            out[o++] = lower_simple(c);
        }
    }
    return o;
}

size_t am_bpe_clean_text(const char *text, size_t size, uint32_t *work, uint32_t *out) {
    size_t n = decode_utf8((const unsigned char *)text, size, work);
    n = html_unescape(work, n);
    n = html_unescape(work, n);
    n = strip(work, n);
    n = collapse_spaces(work, n);
    n = strip(work, n);
    return lower_text(work, n, out);
}

/* ---------------------------------------------------------------------- */
/* Pre-tokenisation                                                        */
/* ---------------------------------------------------------------------- */

/* Whether s (n code points) starts with the ASCII literal `lit`, compared as
 * regex's IGNORECASE does on lower-case text, where U+017F (long s) matches
 * 's': 0 no, 1 exactly, 2 through a long s. */
static int starts_with(const uint32_t *s, size_t n, const char *lit) {
    int how = 1;
    for (size_t i = 0; lit[i]; i++) {
        if (i >= n) return 0;
        if (s[i] == 0x17F && lit[i] == 's')
            how = 2;
        else if (s[i] != (unsigned char)lit[i])
            return 0;
    }
    return how;
}

int am_bpe_next_piece(const uint32_t *cps, size_t n, size_t *pos, size_t *begin, size_t *end) {
    static const char *const contractions[] = {"s", "t", "re", "ve", "m", "ll", "d"};
    size_t p = *pos;
    while (p < n) {
        const uint32_t c = cps[p];
        size_t e = 0;
        int kind = AM_BPE_PIECE_TEXT;
        int how;
        if (c == '<' && (how = starts_with(cps + p, n - p, "<start_of_text>"))) {
            /* The pattern takes "<ſtart_of_text>" whole, but only the exact
             * literal is the special token: the other is BPE'd as text. */
            e = p + 15;
            kind = how == 1 ? AM_BPE_PIECE_START : AM_BPE_PIECE_TEXT;
        } else if (c == '<' && starts_with(cps + p, n - p, "<end_of_text>")) {
            e = p + 13;
            kind = AM_BPE_PIECE_END;
        } else if (c == '\'') {
            for (size_t k = 0; k < sizeof contractions / sizeof *contractions && !e; k++)
                if (starts_with(cps + p + 1, n - p - 1, contractions[k]))
                    e = p + 1 + strlen(contractions[k]);
        }
        if (!e) {
            const int cls = char_class(c);
            if (cls == AM_BPE_SPACE) {
                p++;
                continue;
            }
            e = p + 1;
            if (cls != AM_BPE_NUMBER)
                while (e < n && char_class(cps[e]) == cls)
                    e++;
        }
        *begin = p;
        *end = e;
        *pos = e;
        return kind;
    }
    *pos = n;
    return -1;
}
