#!/usr/bin/env python3
"""gen-bpe-tables.py - writes src/clip/bpe_tables.c, the Unicode and HTML data of
the CLIP tokenizer's text cleaning, from the behaviour of the Python functions
open_clip's SimpleTokenizer calls: html.unescape (all HTML 5 entities), str.isspace and
str.strip, regex's \\s and its [\\p{L}] / [\\p{N}] / [^\\s\\p{L}\\p{N}] classes under
IGNORECASE (pre-tokenisation), and str.lower (case mapping, final sigma).

Usage: python3 scripts/gen-bpe-tables.py > src/clip/bpe_tables.c
Needs the `regex` package.  Every table is measured from the functions
themselves, code point by code point, so the C code reproduces them exactly for
the Python and regex versions named in the output's header.
"""
import html
import html.entities
import sys
import unicodedata

import regex

MAX = 0x110000
SIGMA, SMALL_SIGMA, FINAL_SIGMA = '\u03a3', '\u03c3', '\u03c2'


def ranges(pred, start=0):
    """Maximal [lo, hi] runs of code points >= start where pred holds."""
    out, lo = [], None
    for cp in range(start, MAX):
        if pred(cp):
            if lo is None:
                lo = cp
        elif lo is not None:
            out.append((lo, cp - 1))
            lo = None
    if lo is not None:
        out.append((lo, MAX - 1))
    return out


def emit_rows(items, per_line):
    for i in range(0, len(items), per_line):
        print('    ' + ' '.join(items[i:i + per_line]))


def main():
    flags = regex.IGNORECASE
    letter = regex.compile(r'[\p{L}]', flags)
    number = regex.compile(r'[\p{N}]', flags)
    other = regex.compile(r'[^\s\p{L}\p{N}]', flags)
    space_re = regex.compile(r'\s')

    def token_class(cp):
        c = chr(cp)
        if letter.match(c):
            return 1
        if number.match(c):
            return 2
        if other.match(c):
            return 0
        return 3  # matched by no alternative: skipped like white space

    classes = [token_class(cp) for cp in range(MAX)]
    for cp in range(128):  # the C code classifies ASCII itself; check it agrees
        c = chr(cp)
        want = 1 if c.isalpha() else 2 if c.isdigit() else 3 if c in ' \t\n\v\f\r' else 0
        assert classes[cp] == want, hex(cp)
    class_ranges = []
    for cls in (1, 2, 3):
        class_ranges += [(lo, hi, cls) for lo, hi in ranges(lambda cp: classes[cp] == cls, 128)]
    class_ranges.sort()

    # Lower-case mapping: single code points; U+0130 is the one expansion.
    lower = {}
    for cp in range(128, MAX):
        low = chr(cp).lower()
        if len(low) != 1:
            assert cp == 0x130 and low == 'i\u0307', hex(cp)
            continue
        if ord(low) != cp:
            lower[cp] = ord(low)
    for cp in range(128):
        assert chr(cp).lower() == (chr(cp + 32) if 'A' <= chr(cp) <= 'Z' else chr(cp))
    runs, done = [], set()
    for cp in sorted(lower):
        if cp in done:
            continue
        # The longer of a stride-1 run and a stride-2 run whose gaps map to
        # nothing, so that the runs' ranges never overlap.
        delta, best = lower[cp] - cp, (cp, 1, 1)
        for stride in (1, 2):
            end = cp
            while end + stride in lower and lower[end + stride] - (end + stride) == delta \
                    and all(end + k not in lower for k in range(1, stride)):
                end += stride
            if (end - cp) // stride + 1 > best[2]:
                best = (end, stride, (end - cp) // stride + 1)
        end, stride, _ = best
        runs.append((cp, end, stride, delta))
        done.update(range(cp, end + 1, stride))
    runs.sort()
    assert all(a[1] < b[0] for a, b in zip(runs, runs[1:]))
    check = {}
    for lo, hi, stride, delta in runs:
        for cp in range(lo, hi + 1, stride):
            assert cp not in check
            check[cp] = cp + delta
    assert check == lower

    # Final sigma context (Python's handle_capital_sigma): which code points
    # are case-ignorable, and which others are cased, measured through lower().
    case_ignorable, cased = set(), set()
    for cp in range(MAX):
        c = chr(cp)
        before = ('A' + c + SIGMA).lower()[-1] == FINAL_SIGMA  # ignorable or cased
        after = ('A' + SIGMA + c).lower()[1] == FINAL_SIGMA    # ignorable or not cased
        if before and after:
            case_ignorable.add(cp)
        elif before:
            cased.add(cp)
    assert SMALL_SIGMA == chr(0x3a3).lower()

    # Entities: every named reference of HTML 5 (html.entities.html5); the
    # "legacy" ones also match without the semicolon.
    entities = []
    for key in (k for k in html.entities.html5 if k.endswith(';')):
        name, value = key[:-1], html.entities.html5[key]
        assert 1 <= len(value) <= 2 and name.isascii(), key
        legacy = name in html.entities.html5
        assert not legacy or html.entities.html5[name] == value
        entities.append((name, ord(value[0]), ord(value[1]) if len(value) > 1 else 0, int(legacy)))
    entities.sort(key=lambda e: e[0].encode())  # strcmp order of the names
    assert {k for k in html.entities.html5 if not k.endswith(';')} == {
        n for n, _, _, leg in entities if leg}

    invalid = html._invalid_charrefs
    assert all(len(v) == 1 for v in invalid.values())
    rule = {cp for cp in range(MAX) if 1 <= cp <= 8 or cp == 0xb or 0xe <= cp <= 0x1f
            or 0x7f <= cp <= 0x9f or 0xfdd0 <= cp <= 0xfdef or (cp & 0xfffe) == 0xfffe}
    assert rule == set(html._invalid_codepoints)

    space_py = ranges(lambda cp: chr(cp).isspace())
    space_rx = ranges(lambda cp: bool(space_re.match(chr(cp))))

    print('/* bpe_tables.c - Unicode and HTML data of the CLIP tokenizer\'s text cleaning.')
    print(' * GENERATED by scripts/gen-bpe-tables.py from Python %s (Unicode %s case'
          % (sys.version.split()[0], unicodedata.unidata_version))
    print(' * mappings, html.entities) and regex %s (pre-tokenisation classes); do not' %
          regex.__version__)
    print(' * edit by hand. */')
    print('#include "clip/bpe_tables.h"')
    print()

    def emit_ranges(cname, rs, doc):
        print('/* %s */' % doc)
        print('const am_bpe_range %s[] = {' % cname)
        emit_rows(['{0x%05x, 0x%05x},' % r for r in rs], 4)
        print('};')
        print('const size_t %s_count = %d;' % (cname, len(rs)))
        print()

    print('/* Non-ASCII code points that are letters (1), numbers (2) or matched by no')
    print(' * alternative of the pre-tokenisation pattern (3); all others are "other". */')
    print('const am_bpe_class_range am_bpe_classes[] = {')
    emit_rows(['{0x%05x, 0x%05x, %d},' % r for r in class_ranges], 4)
    print('};')
    print('const size_t am_bpe_classes_count = %d;' % len(class_ranges))
    print()
    print('/* Lower-case mapping of non-ASCII code points: cp in [lo, hi] with')
    print(' * (cp - lo) %% stride == 0 becomes cp + delta. */')
    print('const am_bpe_case_run am_bpe_lower[] = {')
    emit_rows(['{0x%05x, 0x%05x, %d, %d},' % r for r in runs], 4)
    print('};')
    print('const size_t am_bpe_lower_count = %d;' % len(runs))
    print()
    emit_ranges('am_bpe_case_ignorable', ranges(lambda cp: cp in case_ignorable),
                'Case-ignorable code points (skipped around a capital sigma).')
    emit_ranges('am_bpe_cased', ranges(lambda cp: cp in cased),
                'Cased code points among the others (final sigma context).')
    emit_ranges('am_bpe_space_py', space_py, 'White space of Python\'s str.isspace / str.strip.')
    emit_ranges('am_bpe_space_regex', space_rx, 'White space of regex\'s \\s.')
    print('/* The named character references of HTML 5, sorted by name (strcmp order). */')
    print('const am_bpe_entity am_bpe_entities[] = {')
    emit_rows(['{"%s", 0x%05x, 0x%04x, %d},' % e for e in entities], 3)
    print('};')
    print('const size_t am_bpe_entities_count = %d;' % len(entities))
    print('const size_t am_bpe_legacy_name_max = %d;' % max(len(n) for n, _, _, leg in entities if leg))
    print()
    print('/* Numeric references the HTML 5 parser replaces (&#128; is the euro sign). */')
    print('const am_bpe_charref am_bpe_invalid_charrefs[] = {')
    emit_rows(['{0x%02x, 0x%04x},' % (k, ord(v)) for k, v in sorted(invalid.items())], 6)
    print('};')
    print('const size_t am_bpe_invalid_charrefs_count = %d;' % len(invalid))


if __name__ == '__main__':
    main()
