#!/usr/bin/env python3
"""Regenerates jinja_cases.json: small templates rendered by Python jinja2 configured exactly like Hugging Face
transformers' apply_chat_template (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols,
tojson = json.dumps(ensure_ascii=False, ...), raise_exception). test_jinja_cases.cpp checks that realizar's
interpreter gives byte-identical output, or fails where jinja2 fails.  Usage: python3 gen_jinja_cases.py"""
import json, os, sys
import jinja2, jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

def make_env():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: "26 Nov 2026"
    return env

CTX = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi <there> & 'you'"},
        {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nHello!", "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "C"}}}]},
        {"role": "tool", "content": "{\"temp\": 21.5}"},
        {"role": "user", "content": "  Ünïcødé — 你好 👋 \n"},
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Get weather",
               "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City"},
                                                              "unit": {"type": ["string", "null"], "enum": ["C", "F"]}},
                              "required": ["city"]}}}],
    "n": 7, "f": 2.5, "big": 12345678901, "neg": -3, "zero": 0, "t": True, "nul": None,
    "s": "Hello, World", "empty": "", "lst": [3, 1, 2], "words": ["b", "A", "c", "a"],
    "d": {"b": 1, "a": [1, 2], "c": {"x": None}},
}

CASES = [
    # --- output of values
    "{{ n }}|{{ f }}|{{ big }}|{{ neg }}|{{ t }}|{{ nul }}|{{ s }}|{{ lst }}|{{ d }}|{{ undefined_var }}|",
    "{{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1e15 }} {{ 1.5e-5 }} {{ 0.0001 }} {{ -0.0 }} {{ 3 / 2 }} {{ 4 / 2 }} {{ 1e300 * 1e300 }}",
    "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7.5 % 2 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 2.0 ** 3 }} {{ -n }} {{ +n }}",
    "{{ ('a', 1) }} {{ ('a',) }} {{ [] }} {{ {} }} {{ [none, true, false, 'it\\'s', \"q\\\"\"] }} {{ {'k': [1, {'z': 2.0}]} }}",
    "{{ 'a\\tb\\n' }}{{ '\\x41\\u00e9\\U0001F600' }}{{ 'back\\\\slash' }}{{ 'unknown \\d escape' }}{{ \"adj\" 'acent' }}",
    # --- whitespace control, trim_blocks, lstrip_blocks
    "  {% if t %}\n    yes\n  {% endif %}\nafter\n",
    "a  {%- if t -%}  b  {%- endif -%}  c",
    "{% for i in lst %}\n  {{ i }}\n{% endfor %}\n",
    "{% for i in lst +%}\n[{{ i }}]\n{%+ endfor %}\nend",
    "x {# comment #}\n y\n  {#- stripped -#}  z",
    "line1\n    {# indented comment #}\nline2",
    "{% raw %}{{ not parsed }}{% endraw %}\n{{ 'parsed' }}",
    "{{ 'a' }}\n{{ 'b' }}\n\n",
    "{%- for m in messages -%}\n  {{- m.role -}}\n{%- endfor -%}",
    "text\r\nwith crlf {{ 'x' }}\r\n",
    # --- if / elif / else, tests
    "{% if n > 10 %}big{% elif n > 5 %}mid{% else %}small{% endif %}",
    "{{ n is defined }}{{ nope is defined }}{{ nope is undefined }}{{ nul is none }}{{ s is string }}{{ n is number }}{{ f is float }}{{ n is integer }}{{ t is boolean }}",
    "{{ d is mapping }}{{ lst is iterable }}{{ s is iterable }}{{ lst is sequence }}{{ n is iterable }}{{ t is true }}{{ zero is false }}{{ 1 is true }}",
    "{{ n is odd }}{{ n is even }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(4) }}{{ n is eq 7 }}{{ n is equalto(7) }}{{ n is ne 7 }}{{ 3 is lt 4 }}{{ 3 is gt 4 }}{{ 3 is ge 3 }}{{ 3 is le 2 }}",
    "{{ 'b' is in ['a', 'b'] }}{{ s is lower }}{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ nul is sameas none }}{{ t is sameas true }}{{ 'upper' is filter }}{{ 'odd' is test }}{{ n is not none }}",
    # --- for loops
    "{% for x in lst %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}",
    "{% for x in lst %}[{{ loop.previtem }}|{{ loop.nextitem }}]{% endfor %}",
    "{% for x in lst if x > 1 %}{{ x }}:{{ loop.index }}/{{ loop.length }} {% else %}none{% endfor %}",
    "{% for x in [] %}{{ x }}{% else %}empty{% endfor %}{% for x in nope %}{{ x }}{% else %}undef-empty{% endfor %}",
    "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor %}",
    "{% for c in 'héllo' %}{{ c }}.{% endfor %}",
    "{% for x in lst %}{% if x == 1 %}{% continue %}{% endif %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %}|{% for x in [1,2,3] %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %}",
    "{% for x in lst %}{{ loop.cycle('odd', 'even') }}{% endfor %}{% for x in [1,1,2] %}{{ loop.changed(x) }}{% endfor %}",
    "{% for a in [1,2] %}{% for b in 'xy' %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ loop.index }}|{% endfor %}",
    "{% for a, b in [[1, 2], (3, 4)] %}{{ a + b }}{% endfor %}",
    "{% set x = 1 %}{% for i in lst %}{% set x = x + i %}{{ x }}{% endfor %}|{{ x }}",
    "{% for i in lst %}{% if i == 1 %}{% set inner = 'set' %}{% endif %}[{{ inner }}]{% endfor %}",
    # --- set, namespace, scoping
    "{% set a, b = [1, 2] %}{{ a }}{{ b }}{% set c = 1, 2 %}{{ c }}",
    "{% set ns = namespace(total=0, items=[]) %}{% for i in lst %}{% set ns.total = ns.total + i %}{% set ns.items = ns.items + [i * 2] %}{% endfor %}{{ ns.total }} {{ ns.items }}",
    "{% set ns = namespace() %}{% set ns.x = 'a' %}{{ ns.x }}{{ ns.missing is defined }}",
    "{% set block %}Hello {{ s }}!{% endset %}{{ block | upper }}|{% set b2 | trim %}   pad   {% endset %}[{{ b2 }}]",
    "{% if t %}{% set inside_if = 'visible' %}{% endif %}{{ inside_if }}",
    "{% with a = 1, b = n %}{{ a + b }}{% endwith %}{{ a is defined }}",
    # --- macros, call, filter blocks
    "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(name='C') }} {{ greet(punct='.', name='D') }}",
    "{% macro v() %}{{ varargs }}|{{ kwargs }}{% endmacro %}{{ v(1, 2, x=3) }}",
    "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold {{ n }}{% endcall %}",
    "{% macro each(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(x) each(lst) %}<{{ x }}>{% endcall %}",
    "{% macro fact(k) %}{% if k <= 1 %}1{% else %}{{ k * (fact(k - 1) | int) }}{% endif %}{% endmacro %}{{ fact(5) }}",
    "{% filter upper %}shout {{ s }}{% endfilter %}{% filter replace('a', 'o') | title %}banana split{% endfilter %}",
    "{%- macro json_type(spec) %}{%- if spec.type is string %}{{- spec.type }}{%- elif spec.type is iterable %}{{- spec.type | join('|') }}{%- endif %}{%- endmacro %}{% for k, v in tools[0].function.parameters.properties | items %}{{ k }}:{{ json_type(v) }} {% endfor %}",
    # --- expressions
    "{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}{{ 'a' < 'b' }}{{ [1, 2] < [1, 3] }}{{ 1 == 1.0 }}{{ 'a' ~ 1 ~ none ~ true }}{{ 'ab' in 'cabd' }}{{ 3 not in lst }}{{ 'a' in d }}{{ 'zz' not in d }}",
    "{{ t and 'yes' }}|{{ zero and 'yes' }}|{{ zero or 'fallback' }}|{{ s or 'x' }}|{{ not t }}|{{ not nope }}|{{ nope or 'dflt' }}",
    "{{ 'yes' if t else 'no' }}{{ 'yes' if zero else 'no' }}[{{ 'only' if zero }}]{{ 'a' if zero else 'b' if t else 'c' }}",
    "{{ lst[0] }}{{ lst[-1] }}{{ lst[1:] }}{{ lst[:-1] }}{{ lst[::-1] }}{{ lst[::2] }}{{ s[0] }}{{ s[-5:] }}{{ s[::-1] }}{{ s[2:100] }}{{ lst[10:] }}[{{ lst[10] }}]",
    "{{ d.b }}{{ d['b'] }}{{ d.a[1] }}{{ d.c.x }}[{{ d.zz }}]{{ d.get('b') }}{{ d.get('zz', 'dv') }}{{ d.get('zz') }}{{ messages[0].role }}{{ messages[1]['content'] }}",
    "{{ [1, 2] + [3] }}{{ 'ab' * 3 }}{{ [0] * 3 }}{{ 3 * 'x' }}{{ (1, 2) + (3,) }}",
    "{{ {'a': 1, 'b': n}['b'] }}{{ [1, 2, 3,][1] }}{{ {'a': 1,} }}",
    # --- string methods
    "{{ '  pad  '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ '  l'.lstrip() }}|{{ 'r  '.rstrip() }}|{{ '\\n\\nabc\\n'.lstrip('\\n') }}|{{ ' \\u00a0 uni \\u3000'.strip() }}",
    "{{ 'a,b,,c'.split(',') }}{{ 'a b  c '.split() }}{{ 'a,b,c'.split(',', 1) }}{{ 'a,b,c'.rsplit(',', 1) }}{{ ' a b c '.split(None, 1) }}{{ ' a b c '.rsplit(None, 1) }}",
    "{{ s.startswith('Hell') }}{{ s.endswith('ld') }}{{ s.startswith(('x', 'H')) }}{{ s.lower() }}{{ s.upper() }}{{ 'hello wORLD x2y'.title() }}{{ 'hELLO'.capitalize() }}",
    "{{ s.replace('l', 'L') }}{{ s.replace('l', 'L', 1) }}{{ s.find('o') }}{{ s.rfind('o') }}{{ s.find('zz') }}{{ s.count('l') }}{{ '-'.join(['a', 'b']) }}{{ 'é-x'.find('x') }}",
    "{{ '{} and {}'.format(1, 'two') }}|{{ '{0}{1}{0}'.format('a', 'b') }}|{{ '{name}!'.format(name='Bob') }}|{{ '{:>5}|{:<4}|{:^7}|{:.2f}|{:05d}'.format('r', 'l', 'c', 3.14159, 42) }}",
    "{{ 'abc'.isalpha() }}{{ '123'.isdigit() }}{{ 'a1'.isalnum() }}{{ '  '.isspace() }}{{ 'abc'.islower() }}{{ 'ABC'.isupper() }}{{ 'x'.ljust(3, '.') }}{{ 'x'.rjust(3) }}{{ 'x'.center(5, '*') }}{{ '42'.zfill(5) }}",
    "{{ 'a\\nb\\r\\nc'.splitlines() }}{{ 'prefix_x'.removeprefix('prefix_') }}{{ 'x.txt'.removesuffix('.txt') }}{{ 'a=b=c'.partition('=') }}",
    "{{ messages[2].content.split('</think>')[-1].lstrip('\\n') }}|{{ messages[2].content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}",
    # --- filters
    "{{ '  x  ' | trim }}|{{ 'xxyxx' | trim('x') }}|{{ lst | length }}|{{ s | length }}|{{ 'héllo' | length }}|{{ d | length }}|{{ lst | count }}|{{ nope | length }}",
    "{{ lst | first }}{{ lst | last }}{{ s | first }}{{ lst | sort }}{{ lst | sort(reverse=true) }}{{ words | sort }}{{ words | sort(case_sensitive=true) }}{{ lst | reverse | list }}{{ s | reverse }}",
    "{{ words | unique | list }}{{ words | unique(case_sensitive=true) | list }}{{ lst | min }}{{ lst | max }}{{ words | max }}{{ lst | sum }}{{ [1.5, 2] | sum }}{{ lst | sum(start=10) }}",
    "{{ lst | join(', ') }}|{{ lst | join }}|{{ messages | map(attribute='role') | join(',') }}|{{ words | map('upper') | list }}|{{ messages | map(attribute='nope', default='?') | list }}",
    "{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | list | length }}|{{ messages | rejectattr('role', 'in', ['user', 'system']) | map(attribute='role') | list }}|{{ messages | selectattr('tool_calls') | list | length }}|{{ messages | selectattr('tool_calls', 'defined') | map(attribute='role') | first }}",
    "{{ lst | select('odd') | list }}{{ lst | reject('odd') | list }}{{ [0, 1, '', 'a', none] | select | list }}{{ ['a', 'code_interpreter', 'b'] | reject('equalto', 'code_interpreter') | join(', ') }}",
    "{{ d | items | list }}|{{ d | dictsort }}|{{ {'b': 2, 'A': 1, 'c': 0} | dictsort(by='value') }}|{{ nope | items | list }}|{{ d | list }}|{{ s | list }}",
    "{{ nope | default('dflt') }}|{{ '' | default('dflt') }}|{{ '' | default('dflt', true) }}|{{ nul | d('x') }}|{{ n | default(5) }}|{{ nope | d }}",
    "{{ s | lower }}{{ s | upper }}{{ 'hello wORLD-foo(bar' | title }}{{ 'hELLO world' | capitalize }}{{ s | replace('o', '0') }}{{ 'aaa' | replace('a', 'b', 2) }}",
    "{{ '42' | int }}{{ '3.7' | int }}{{ 'x' | int }}{{ 'x' | int(5) }}{{ 3.9 | int }}{{ '0x1A' | int(0, 16) }}{{ '2.5' | float }}{{ 'abc' | float }}{{ 3 | float }}{{ true | int }}",
    "{{ -5 | abs }}{{ neg | abs }}{{ -2.5 | abs }}{{ 2.5 | round }}{{ 3.5 | round }}{{ 2.567 | round(2) }}{{ 2.561 | round(2, 'floor') }}{{ 2.561 | round(1, 'ceil') }}{{ 7 | round }}",
    "{{ n | string }}{{ lst | string }}{{ nul | string }}{{ t | string }}{{ n | string | length }}{{ 5 ~ '' }}",
    "{{ lst | batch(2) | list }}{{ lst | batch(2, 0) | list }}{{ [1,2,3,4,5] | slice(2) | list }}{{ '<b>x</b> & y' | e }}{{ '<i>' | escape }}{{ '<p>hi <b>there</b></p>' | striptags }}{{ 'x' | safe }}",
    "{{ 'a\\nb\\n\\nc' | indent }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(2, blank=true) }}|{{ 'a\\nb' | indent('> ') }}",
    "{{ 'hello world foo bar' | wordcount }}{{ 'one, two-three' | wordcount }}|{{ 'hello world this is long' | truncate(10) }}|{{ 'hello world this is long' | truncate(10, true) }}|{{ 'hello world' | truncate(9, false, '..', 0) }}|{{ 'abc' | center(7) }}",
    "{{ '%s is %d years (%.2f%%)' | format('Tom', 30, 12.345) }}|{{ '%-5s|%5s|%03d|%x' % ('ab', 'cd', 7, 255) }}|{{ '%(a)s-%(b)s' % {'a': 1, 'b': 2} }}",
    "{{ [{'n': 'b', 'v': 2}, {'n': 'a', 'v': 1}] | sort(attribute='n') | map(attribute='v') | list }}{{ [{'n': 'b'}, {'n': 'a'}] | map(attribute='n') | min }}",
    "{% for g, items in [{'k': 'x', 'v': 1}, {'k': 'y', 'v': 2}, {'k': 'x', 'v': 3}] | groupby('k') %}{{ g }}:{{ items | map(attribute='v') | list }};{% endfor %}",
    "[{{ messages[0] | attr('role') }}]{{ d | attr('items') is defined }}{{ namespace(x=1) | attr('x') }}",
    # --- tojson (HF semantics)
    "{{ tools | tojson }}",
    "{{ tools[0] | tojson(indent=4) }}",
    "{{ d | tojson(indent=2, sort_keys=true) }}|{{ d | tojson(separators=(',', ':')) }}|{{ 'héllo \"q\" \\n 👋' | tojson }}|{{ 'héllo 👋' | tojson(ensure_ascii=true) }}",
    "{{ [1.0, 2.5e-7, 1e22, -0.0, true, none, 'a/b<c>&'] | tojson }}|{{ {} | tojson }}|{{ [] | tojson(indent=2) }}|{{ {'a': []} | tojson(indent=2) }}|{{ 'x' | tojson }}|{{ 12 | tojson }}",
    "{{ messages[2].tool_calls[0].function.arguments | tojson }}|{{ messages[2] | tojson }}",
    # --- globals
    "{{ range(3) | list }}{{ range(1, 4) | list }}{{ range(10, 0, -3) | list }}{% for i in range(2) %}{{ i }}{% endfor %}",
    "{{ dict(a=1, b='x') }}{{ namespace(a=1).a }}{% set j = joiner(', ') %}{% for x in lst %}{{ j() }}{{ x }}{% endfor %}",
    "{{ strftime_now('%d %b %Y') }}",
    # --- attribute/item semantics and None
    "[{{ nul.attr }}][{{ nul[0] }}][{{ lst.nope }}][{{ s.nope }}]{{ d.items is defined }}{{ d['items'] is defined }}",
    # --- errors (jinja2 raises)
    "{{ raise_exception('custom failure message') }}",
    "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}",
    "{{ nope.attr }}",
    "{{ d.zz.yy }}",
    "{{ nope() }}",
    "{{ nope + 1 }}",
    "{{ 'a' + 1 }}",
    "{{ nul + 'a' }}",
    "{{ 1 < 'a' }}",
    "{{ 1 / 0 }}",
    "{{ 1 // 0 }}",
    "{{ lst.append(4) }}",
    "{{ d.update({}) }}",
    "{{ range(200000) | length }}",
    "{{ 1 in nul }}",
    "{{ 1 in 'abc' }}",
    "{% for x in n %}{% endfor %}",
    "{% for %}",
    "{% if t %}unclosed",
    "{% for x in lst %}unclosed",
    "{{ x | nofilter }}",
    "{{ x is notest }}",
    "{% unknowntag %}",
    "{{ 'unclosed }}",
    "{{ 1 + }}",
    "{% endif %}",
    "{{ lst | tojson(indent=nope2) }}x{{ nope3 | tojson }}",
    "{% set a, b = [1, 2, 3] %}",
    "{% macro m() %}x{% endmacro %}{{ m(1, 2) }}|{{ m(k=1) }}",
    # --- found by differential fuzzing against jinja2
    "{{ 'abc' % 2 }}",
    "[{{ '' % lst }}][{{ 'x' % d }}][{{ '%s' % d }}][{{ nope | truncate(3) | default('D') }}][{{ nope | first }}][{{ nope | last }}]",
    "{{ t | indent(2) }}",
    "{{ nope | int }}",
    "{{ (s is odd) }}",
    "{{ lst | truncate(5) }}|{{ 2.5 | truncate(5) }}",
]

def main():
    env = make_env()
    out = []
    for src in CASES:
        case = {"template": src}
        try:
            case["expected"] = env.from_string(src).render(**CTX)
        except Exception as e:  # noqa: BLE001 - any jinja2 failure is an expected failure for us
            case["error"] = f"{type(e).__name__}: {e}"
        out.append(case)
    doc = {"generator": f"jinja2 {jinja2.__version__} ImmutableSandboxedEnvironment(trim_blocks, lstrip_blocks, loopcontrols), HF tojson",
           "context": CTX, "strftime_now": "26 Nov 2026", "cases": out}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jinja_cases.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{len(out)} cases -> {path}", file=sys.stderr)

if __name__ == "__main__":
    main()


# ------------------------------------------------------------------------------------------------------------
# Real templates (../shared/data/chat-templates) with richer conversations than the golden file: tools, tool
# calls, tool results, reasoning, extra variables. Written to template_cases.json.
TOOLS = CTX["tools"]
SIMPLE_TOOLS = [
    {"type": "function", "function": {"name": "search", "description": "Search the web",
     "parameters": {"type": "object", "properties": {"query": {"type": "string", "description": "What to look for"},
                                                     "limit": {"type": "integer", "description": "Max results"},
                                                     "tags": {"type": "array", "items": {"type": "string"}, "description": "Tags"}},
                    "required": ["query"]}}},
    {"type": "function", "function": {"name": "now", "description": "Current time", "parameters": {"type": "object", "properties": {}}}},
]
CONVERSATIONS = {
    "tools_call_and_result": {
        "messages": [
            {"role": "system", "content": "You are a weather bot."},
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call12345", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "C"}}}]},
            {"role": "tool", "tool_call_id": "call12345", "content": "{\"temp\": 21.5}"},
            {"role": "assistant", "content": "It is 21.5 °C in Paris."},
            {"role": "user", "content": "Thanks!"},
        ],
        "tools": TOOLS,
    },
    "tools_only": {
        "messages": [{"role": "user", "content": "What can you do?"}],
        "tools": SIMPLE_TOOLS,
    },
    "simple_tool_call": {
        "messages": [
            {"role": "user", "content": "Search cats"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "k3j4h5g6f", "type": "function", "function": {"name": "search", "arguments": {"query": "cats", "limit": 3}}}]},
            {"role": "tool", "tool_call_id": "k3j4h5g6f", "content": "Cats are great."},
        ],
        "tools": SIMPLE_TOOLS,
    },
    "reasoning_history": {
        "messages": [
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "<think>\nadd them\n</think>\n\n4"},
            {"role": "user", "content": "3+3?"},
        ],
    },
    "no_thinking": {
        "messages": [{"role": "system", "content": "Be terse. /no_think"}, {"role": "user", "content": "Hi"}],
        "enable_thinking": False,
    },
    "multi_system_and_tools_results": {
        "messages": [
            {"role": "user", "content": "Look up two cities."},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "abcdefghi", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Rome\"}"}},
                {"id": "jklmnopqr", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}}]},
            {"role": "tool", "tool_call_id": "abcdefghi", "content": "sunny"},
            {"role": "tool", "tool_call_id": "jklmnopqr", "content": "snow"},
        ],
        "tools": TOOLS,
    },
}

def gen_template_cases(env):
    tdir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "data", "chat-templates")
    out = []
    for name in sorted(os.listdir(tdir)):
        src = open(os.path.join(tdir, name), encoding="utf-8").read()
        for conv, ctx in CONVERSATIONS.items():
            for agp in (True, False):
                case = {"template": name, "conversation": conv, "add_generation_prompt": agp}
                kwargs = dict(ctx, bos_token="<s>", eos_token="</s>", add_generation_prompt=agp)
                try:
                    case["expected"] = env.from_string(src).render(**kwargs)
                except Exception as e:  # noqa: BLE001
                    case["error"] = f"{type(e).__name__}: {e}"
                out.append(case)
    return out

def main_templates():
    env = make_env()
    cases = gen_template_cases(env)
    doc = {"generator": f"jinja2 {jinja2.__version__} like HF apply_chat_template; bos_token=<s>, eos_token=</s>",
           "strftime_now": "26 Nov 2026", "conversations": CONVERSATIONS, "cases": cases}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "template_cases.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{len(cases)} template cases -> {path}", file=sys.stderr)

if __name__ == "__main__":
    main_templates()
